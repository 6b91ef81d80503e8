//! The data directory lock across processes: a live holder blocks us, a
//! killed one does not.
//!
//! The child is this test binary itself, run with `--exact
//! lock_child_helper` and the directory in an environment variable: it
//! takes the lock, says so on stdout, and sleeps until killed.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ember_tsdb::lock::LOCK_FILENAME;
use ember_tsdb::DirLock;

const CHILD_DIR: &str = "EMBER_LOCK_TEST_CHILD_DIR";

/// Not a test of its own: the child process's body (a no-op unless run as
/// the child).
#[test]
fn lock_child_helper() {
    let Some(dir) = std::env::var_os(CHILD_DIR) else {
        return;
    };
    let lock = DirLock::acquire(&dir).unwrap();
    println!("child holds the lock");
    std::io::stdout().flush().unwrap();
    std::thread::sleep(Duration::from_secs(120));
    drop(lock);
}

/// Kills the child if the test fails half-way.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_holder(dir: &Path) -> KillOnDrop {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args([
            "--exact",
            "lock_child_helper",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let mut child = KillOnDrop(child);
    let mut lines = BufReader::new(out).lines();
    loop {
        match lines.next() {
            Some(Ok(l)) if l.contains("child holds the lock") => break,
            Some(Ok(_)) => continue,
            other => {
                let status = child.0.wait().unwrap();
                panic!("child ended before locking ({status}): {other:?}");
            }
        }
    }
    child
}

#[test]
fn a_live_process_blocks_us_and_a_killed_one_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut child = spawn_holder(&data);

    let e = DirLock::acquire(&data).unwrap_err();
    assert!(DirLock::is_conflict(&e), "{e}");
    let msg = e.to_string();
    let canonical = std::fs::canonicalize(&data).unwrap();
    assert!(
        msg.contains(&canonical.display().to_string()),
        "error does not name the directory: {msg}"
    );

    // SIGKILL: no clean-up runs in the child.
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    assert!(
        data.join(LOCK_FILENAME).exists(),
        "the stale lock file stays"
    );

    let lock = DirLock::acquire(&data).unwrap();
    assert!(
        lock.existed(),
        "a stale lock file means an unclean shutdown"
    );
    lock.release().unwrap();
    assert!(!data.join(LOCK_FILENAME).exists());
}

#[test]
fn two_handles_in_one_process_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let first = DirLock::acquire(dir.path()).unwrap();
    let e = DirLock::acquire(dir.path()).unwrap_err();
    assert!(DirLock::is_conflict(&e), "{e}");
    drop(first);
    DirLock::acquire(dir.path()).unwrap();
}
