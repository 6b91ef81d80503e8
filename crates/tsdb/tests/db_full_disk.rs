//! The live TSDB on a full disk: a small tmpfs is mounted (the tests run
//! as root, locally and in CI; without the permission the test prints a
//! note and passes), the database is filled with samples, the rest of the
//! space with a filler file, and then:
//!
//! * commits fail with an error (no panic) and are not applied;
//! * a compaction fails cleanly: no block appears, nothing temporary is
//!   left, the head keeps its data;
//! * after the filler is removed, appends and compaction work again;
//! * after reopening, every acknowledged sample is there.
#![cfg(target_os = "linux")]

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use ember_model::{labels, Labels, Matcher, Sample};
use ember_storage::{Appendable, Queryable, SeriesRef, ValueType};
use ember_tsdb::{Block, CompactorOptions, Db, DbOptions};

const SERIES: u64 = 50;
const STEP: i64 = 1000;

fn series_labels(s: u64) -> Labels {
    labels!("__name__" => "full_disk", "series" => s.to_string().as_str(), "pad" => "x".repeat(64).as_str())
}

fn value(s: u64, t: i64) -> f64 {
    (s * 1_000_003) as f64 + (t / STEP) as f64 * 0.25
}

/// A tmpfs mounted on a temporary directory, unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Tmpfs { dir }),
            Ok(o) => {
                println!(
                    "note: cannot mount a tmpfs ({}); full-disk test skipped",
                    String::from_utf8_lossy(&o.stderr).trim()
                );
                None
            }
            Err(e) => {
                println!("note: cannot run mount ({e}); full-disk test skipped");
                None
            }
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(self.dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            // Lazily, so the mount point can still go away.
            let _ = Command::new("umount")
                .arg("-l")
                .arg(self.dir.path())
                .status();
        }
    }
}

/// One-minute chunk ranges; head chunks written to disk in buffers of
/// `chunk_buffer` bytes.
fn options(chunk_buffer: usize) -> DbOptions {
    let mut o = DbOptions::default();
    o.head.chunk_range = 60_000;
    o.head.chunk_write_buffer_size = chunk_buffer;
    o.compactor = CompactorOptions::new(60_000, 60_000 * 27);
    o
}

/// Commits one sample of every series at `t`.
fn commit_at(db: &Db, refs: &mut [SeriesRef], t: i64) -> Result<(), String> {
    let mut app = db.appender();
    for s in 0..SERIES {
        let r = app
            .append(
                refs[s as usize],
                &series_labels(s),
                Sample::float(t, value(s, t)),
            )
            .map_err(|e| format!("append: {e}"))?;
        refs[s as usize] = r;
    }
    app.commit().map_err(|e| format!("commit: {e}"))
}

/// Every sample of every test series, in time order.
fn read_all(db: &Db) -> Vec<Vec<(i64, f64)>> {
    let mut out = vec![Vec::new(); SERIES as usize];
    let q = db.querier(i64::MIN, i64::MAX).unwrap();
    let mut set = q
        .select(true, None, &[Matcher::equal("__name__", "full_disk")])
        .unwrap();
    while let Some(s) = set.next() {
        let s = s.unwrap();
        let i: usize = s.labels().get("series").unwrap().parse().unwrap();
        let mut it = s.iter();
        while it.next() == ValueType::Float {
            out[i].push(it.at());
        }
        assert!(it.error().is_none(), "{:?}", it.error());
    }
    out
}

/// Every sample up to `acked` is there with its value, and nothing else
/// but possibly later samples.
fn check(db: &Db, acked: i64) {
    for (s, samples) in read_all(db).iter().enumerate() {
        assert!(
            samples.len() as i64 > acked / STEP,
            "series {s}: {} samples, acknowledged up to {acked}",
            samples.len()
        );
        for (i, &(t, v)) in samples.iter().enumerate() {
            assert_eq!(t, i as i64 * STEP, "series {s}");
            assert_eq!(v, value(s as u64, t), "series {s} at {t}");
        }
    }
}

/// Fills the file system of `dir` with `<dir>/filler`.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut f = File::create(&path).unwrap();
    for size in [1 << 16, 1 << 12, 1 << 9] {
        let buf = vec![0xAA_u8; size];
        while f.write_all(&buf).is_ok() {}
    }
    let _ = f.sync_all();
    path
}

fn block_dir_names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.len() >= 26 && n != "chunks_head")
        .collect();
    v.sort();
    v
}

#[test]
fn full_disk_fails_cleanly_and_recovers() {
    // The disk fills up between chunk ranges or right at the start of
    // one (so head chunks are written while it is full), with head chunks
    // buffered as by default or written one by one.
    for (fill_at, chunk_buffer) in [(100, 4 << 20), (119, 4 << 20), (100, 1), (119, 1)] {
        println!("disk full at {fill_at} s, head chunk buffer {chunk_buffer} bytes");
        full_disk_round(fill_at * STEP, chunk_buffer);
    }
}

fn full_disk_round(fill_at: i64, chunk_buffer: usize) {
    let Some(fs_) = Tmpfs::mount("12m") else {
        return;
    };
    let data = fs_.path().join("data");
    let db = Db::open(&data, options(chunk_buffer)).unwrap();
    let mut refs = vec![SeriesRef(0); SERIES as usize];

    // The head spans more than 1.5 chunk ranges.
    let mut t = 0;
    while t < fill_at {
        commit_at(&db, &mut refs, t).unwrap();
        t += STEP;
    }
    let mut acked = t - STEP;

    let filler = fill(fs_.path());
    // Appends fail sooner or later (the WAL's page buffer and the head
    // chunk buffer absorb a little), with an error and no panic.
    let mut error = None;
    for _ in 0..10_000 {
        match commit_at(&db, &mut refs, t) {
            Ok(()) => {
                acked = t;
                t += STEP;
            }
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    let error = error.expect("commits never failed on a full disk");
    println!(
        "commit on a full disk, after {} more: {error}",
        (acked - fill_at) / STEP + 1
    );
    assert!(error.contains("No space left on device"), "{error}");
    // A failed commit is not applied; a later one fails the same way.
    check(&db, acked);
    assert!(commit_at(&db, &mut refs, t).is_err());

    // Compaction fails cleanly: no new block, no temporary directory.
    let blocks_before = block_dir_names(&data);
    let err = db.compact().unwrap_err();
    println!("compaction on a full disk: {err}");
    assert_eq!(block_dir_names(&data), blocks_before);
    assert!(db.blocks().blocks().is_empty());
    check(&db, acked);

    // Space is back: appends work again, head chunks are written (and
    // read back) across two more chunk ranges, and compaction works.
    fs::remove_file(&filler).unwrap();
    let until = t + 150 * STEP;
    while t < until {
        commit_at(&db, &mut refs, t).unwrap();
        acked = t;
        t += STEP;
    }
    check(&db, acked);
    let report = db.compact().unwrap();
    assert!(!report.head_blocks.is_empty(), "{report:?}");
    for name in block_dir_names(&data) {
        Block::open(data.join(&name)).unwrap().verify().unwrap();
    }
    for _ in 0..10 {
        commit_at(&db, &mut refs, t).unwrap();
        acked = t;
        t += STEP;
    }
    check(&db, acked);
    db.close().unwrap();

    let db = Db::open(&data, options(chunk_buffer)).unwrap();
    check(&db, acked);
    assert!(!db.blocks().blocks().is_empty());
    db.close().unwrap();
}

/// A compaction interrupted on a full disk by a crash leaves a temporary
/// block directory; the next open removes it.
#[test]
fn leftover_tmp_block_is_removed_at_open() {
    let Some(fs_) = Tmpfs::mount("8m") else {
        return;
    };
    let data = fs_.path().join("data");
    let db = Db::open(&data, options(4 << 20)).unwrap();
    db.close().unwrap();
    let tmp = data.join(format!("{}.tmp-for-creation", ulid_like()));
    fs::create_dir_all(tmp.join("chunks")).unwrap();
    let filler = fill(fs_.path());
    let db = Db::open(&data, options(4 << 20)).unwrap();
    assert!(!tmp.exists());
    db.close().unwrap();
    fs::remove_file(filler).unwrap();
}

/// A syntactically valid ULID string.
fn ulid_like() -> &'static str {
    "01HZZZZZZZZZZZZZZZZZZZZZZZ"
}
