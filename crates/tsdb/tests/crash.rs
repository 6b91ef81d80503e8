//! Crash tests of the live TSDB ([`ember_tsdb::Db`]).
//!
//! `sigkill_loses_no_acknowledged_commit`: a child process (this test
//! binary re-executed, running [`crash_child_writer`] because
//! `EMBER_CRASH_CHILD` names a data directory) opens the database and
//! commits batches continuously, printing after each commit returns the
//! highest acknowledged timestamp. The parent SIGKILLs it after a random
//! delay, reopens the database (no repair step) and checks that every
//! acknowledged sample is there with its value. Many rounds run on the same
//! directory, so replay of WALs left by earlier kills is exercised too.
//!
//! `sigkill_during_compaction_loses_nothing`: the same with a one-minute
//! chunk range and a child that compacts every few commits, so kills land
//! in head block writes, head truncations, WAL checkpoints and leveled
//! compactions as well.
//!
//! `sigkill_with_out_of_order_samples_loses_nothing`: the same with
//! compaction and an out-of-order window, and one more series that gets,
//! in each commit, a sample at the commit's time and then one half a step
//! older (out of order): kills land in WBL writes, out-of-order chunk
//! writes and out-of-order compactions too.
//!
//! `torn_wal_tail_is_repaired_on_open`: damage at the end of the newest WAL
//! segment after a clean write; the database opens, keeps what precedes the
//! damage, and reports it.
#![cfg(unix)]

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ember_model::{labels, Labels, Matcher, Sample};
use ember_storage::{Appendable, Queryable, SeriesRef, ValueType};
use ember_tsdb::{CompactorOptions, Db, DbOptions};

const CHILD_ENV: &str = "EMBER_CRASH_CHILD";
/// Set (to anything) for the child to compact as it writes.
const COMPACT_ENV: &str = "EMBER_CRASH_COMPACT";
/// Set (to anything) for the child to write out-of-order samples too.
const OOO_ENV: &str = "EMBER_CRASH_OOO";
/// The child compacts after this many commits.
const COMPACT_EVERY: i64 = 20;
const SERIES: u64 = 20;
const STEP: i64 = 1000;

fn series_labels(s: u64) -> Labels {
    labels!("__name__" => "crash_test", "series" => s.to_string().as_str())
}

/// The value of series `s` at `t`.
fn value(s: u64, t: i64) -> f64 {
    (s as f64) * 1e6 + (t / STEP) as f64 * 0.5
}

/// Options with a one-minute chunk range (so the head is compactable
/// after 90 one-second commits) when `compact` is set.
fn options(compact: bool, ooo: bool) -> DbOptions {
    let mut o = DbOptions::default();
    if compact {
        o.head.chunk_range = 60_000;
        o.compactor = CompactorOptions::new(60_000, 60_000 * 27);
    }
    if ooo {
        o.head.out_of_order_time_window = 10 * 60_000;
        o.head.out_of_order_cap_max = 4;
    }
    o
}

/// The series with out-of-order samples.
fn late_labels() -> Labels {
    labels!("__name__" => "crash_late")
}

/// Reads the samples of the out-of-order series.
fn read_late(db: &Db) -> Vec<(i64, f64)> {
    let q = db.querier(i64::MIN, i64::MAX).expect("querier");
    let mut set = q
        .select(true, None, &[Matcher::equal("__name__", "crash_late")])
        .expect("select");
    let mut out = Vec::new();
    while let Some(s) = set.next() {
        let s = s.expect("series");
        let mut it = s.iter();
        while it.next() == ValueType::Float {
            out.push(it.at());
        }
        assert!(it.error().is_none(), "read error: {:?}", it.error());
    }
    out
}

/// Reads all samples of every test series: `samples[s]` is `(t, v)` in
/// time order.
fn read_all(db: &Db) -> Vec<Vec<(i64, f64)>> {
    let mut out = vec![Vec::new(); SERIES as usize];
    let q = db.querier(i64::MIN, i64::MAX).expect("querier");
    let mut set = q
        .select(true, None, &[Matcher::equal("__name__", "crash_test")])
        .expect("select");
    while let Some(s) = set.next() {
        let s = s.expect("series");
        let idx: usize = s
            .labels()
            .get("series")
            .and_then(|v| v.parse().ok())
            .expect("series label");
        let mut it = s.iter();
        while it.next() == ValueType::Float {
            out[idx].push(it.at());
        }
        assert!(it.error().is_none(), "read error: {:?}", it.error());
    }
    out
}

/// The child: commits batches forever (until killed), one timestamp per
/// batch, all series; prints `ack <t>` after each commit returns.
#[test]
fn crash_child_writer() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return; // Not the child: nothing to do.
    };
    let compact = std::env::var_os(COMPACT_ENV).is_some();
    let ooo = std::env::var_os(OOO_ENV).is_some();
    let db = Db::open(&dir, options(compact, ooo)).expect("child open");
    // Continue after what is there.
    let mut t = read_all(&db)
        .iter()
        .filter_map(|s| s.last().map(|x| x.0))
        .max()
        .map_or(0, |t| t + STEP);
    let stdout = std::io::stdout();
    let mut refs = vec![SeriesRef(0); SERIES as usize];
    loop {
        let mut app = db.appender();
        for s in 0..SERIES {
            refs[s as usize] = app
                .append(
                    refs[s as usize],
                    &series_labels(s),
                    Sample::float(t, value(s, t)),
                )
                .expect("append");
        }
        if ooo {
            // In order, then half a step older: out of order.
            for t in [t, t - STEP / 2] {
                app.append(SeriesRef(0), &late_labels(), Sample::float(t, t as f64))
                    .expect("append out of order");
            }
        }
        app.commit().expect("commit");
        drop(app);
        let mut out = stdout.lock();
        writeln!(out, "ack {t}").expect("stdout");
        out.flush().expect("flush");
        t += STEP;
        if compact && (t / STEP) % COMPACT_EVERY == 0 {
            db.compact().expect("compact");
        }
    }
}

/// xorshift64*.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

fn check(
    dir: &Path,
    (compact, ooo): (bool, bool),
    (acked, all_acked): (Option<i64>, &[i64]),
    round: usize,
    seed: u64,
) -> i64 {
    let db = Db::open(dir, options(compact, ooo))
        .unwrap_or_else(|e| panic!("round {round} (seed {seed}): reopen failed: {e}"));
    let all = read_all(&db);
    let mut newest = i64::MIN;
    for (s, samples) in all.iter().enumerate() {
        // Every acknowledged sample, in order, with its value.
        if let Some(acked) = acked {
            let want = (acked / STEP + 1) as usize;
            assert!(
                samples.len() >= want,
                "round {round} (seed {seed}): series {s} has {} samples, {want} acknowledged",
                samples.len()
            );
        }
        for (i, &(t, v)) in samples.iter().enumerate() {
            assert_eq!(
                t,
                i as i64 * STEP,
                "round {round} (seed {seed}): series {s}"
            );
            assert_eq!(
                v,
                value(s as u64, t),
                "round {round} (seed {seed}): series {s} t {t}"
            );
        }
        if let Some(&(t, _)) = samples.last() {
            newest = newest.max(t);
        }
    }
    if ooo {
        // Every acknowledged commit's two samples, in order, each with its
        // value. (A commit that did not return may have left only its
        // in-order sample: its out-of-order one goes to the WBL after the
        // WAL, as in Prometheus; the next child goes on after it.)
        let late = read_late(&db);
        assert!(
            late.windows(2).all(|w| w[0].0 < w[1].0),
            "round {round} (seed {seed}): out-of-order series not sorted"
        );
        for &(t, v) in &late {
            assert_eq!(v, t as f64, "round {round} (seed {seed}): t {t}");
        }
        let have: std::collections::HashSet<i64> = late.iter().map(|x| x.0).collect();
        for &a in all_acked {
            for t in [a, a - STEP / 2] {
                assert!(
                    have.contains(&t),
                    "round {round} (seed {seed}): acknowledged out-of-order series sample {t} missing"
                );
            }
        }
    }
    db.close().expect("close");
    newest
}

#[test]
fn sigkill_loses_no_acknowledged_commit() {
    if std::env::var_os(CHILD_ENV).is_none() {
        kill_rounds(false, false);
    }
}

#[test]
fn sigkill_during_compaction_loses_nothing() {
    if std::env::var_os(CHILD_ENV).is_none() {
        kill_rounds(true, false);
    }
}

#[test]
fn sigkill_with_out_of_order_samples_loses_nothing() {
    if std::env::var_os(CHILD_ENV).is_none() {
        kill_rounds(true, true);
    }
}

/// Runs at least 50 rounds of write, SIGKILL, reopen and check (more while
/// under 15 s).
fn kill_rounds(compact: bool, ooo: bool) {
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
        | 1;
    println!("crash test (compact: {compact}) seed {seed}");
    let mut rng = Rng(seed);
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("data");
    let exe = std::env::current_exe().expect("current_exe");
    let start = Instant::now();
    let mut acked_total: Option<i64> = None;
    let mut all_acked: Vec<i64> = Vec::new();
    let min_rounds = 50;
    let mut rounds = 0;
    while rounds < min_rounds || (start.elapsed() < Duration::from_secs(15) && rounds < 200) {
        let mut cmd = Command::new(&exe);
        cmd.args([
            "crash_child_writer",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &dir);
        for (var, on) in [(COMPACT_ENV, compact), (OOO_ENV, ooo)] {
            if on {
                cmd.env(var, "1");
            } else {
                cmd.env_remove(var);
            }
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn child");
        let stdout = child.stdout.take().expect("child stdout");
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(t) = line
                    .strip_prefix("ack ")
                    .and_then(|t| t.parse::<i64>().ok())
                {
                    if tx.send(t).is_err() {
                        break;
                    }
                }
            }
        });
        let delay = Duration::from_millis(20 + rng.next() % 181);
        std::thread::sleep(delay);
        child.kill().expect("SIGKILL child");
        let status = child.wait().expect("wait child");
        // Killed by us, not dead of a panic (which would hide failures).
        assert_eq!(
            status.signal(),
            Some(9),
            "round {rounds} (seed {seed}): child did not die of SIGKILL: {status}"
        );
        reader.join().expect("reader thread");
        // Only lines fully read count: each was printed after its commit.
        for t in rx.try_iter() {
            acked_total = Some(acked_total.map_or(t, |a: i64| a.max(t)));
            all_acked.push(t);
        }
        let newest = check(
            &dir,
            (compact, ooo),
            (acked_total, &all_acked),
            rounds,
            seed,
        );
        if let Some(a) = acked_total {
            assert!(
                newest >= a,
                "round {rounds} (seed {seed}): newest {newest} < acked {a}"
            );
        }
        rounds += 1;
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "crash test too slow: {rounds} rounds in {:?}",
            start.elapsed()
        );
    }
    if compact {
        let db = Db::open(&dir, options(true, ooo)).expect("open");
        let blocks = db.blocks();
        let from_ooo = blocks
            .blocks()
            .iter()
            .filter(|b| {
                b.meta()
                    .compaction
                    .hints
                    .iter()
                    .any(|h| h == "from-out-of-order")
            })
            .count();
        println!(
            "crash test (compact): {} blocks at the end, {from_ooo} of out-of-order samples",
            blocks.blocks().len()
        );
        assert!(
            !db.blocks().blocks().is_empty(),
            "the child never compacted ({rounds} rounds, acked {acked_total:?}, head [{}, {}])",
            db.head().min_time(),
            db.head().max_time()
        );
    }
    println!(
        "crash test (compact: {compact}): {rounds} SIGKILL rounds, {} commits acknowledged, {:?}",
        acked_total.map_or(0, |a| a / STEP + 1),
        start.elapsed()
    );
    assert!(acked_total.is_some(), "no commit was ever acknowledged");
}

#[test]
fn torn_wal_tail_is_repaired_on_open() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let db = Db::open(dir, DbOptions::default()).expect("open");
    for t in (0..200).map(|i| i * STEP) {
        let mut app = db.appender();
        for s in 0..SERIES {
            app.append(
                SeriesRef(0),
                &series_labels(s),
                Sample::float(t, value(s, t)),
            )
            .expect("append");
        }
        app.commit().expect("commit");
    }
    db.close().expect("close");

    // The newest non-empty segment.
    let wal = dir.join("wal");
    let mut segs: Vec<_> = std::fs::read_dir(&wal)
        .expect("read wal")
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .chars()
                .all(|c| c.is_ascii_digit())
        })
        .filter(|e| e.metadata().map(|m| m.len() > 0).unwrap_or(false))
        .map(|e| e.path())
        .collect();
    segs.sort();
    let seg = segs.last().expect("a WAL segment with data").clone();
    let mut bytes = std::fs::read(&seg).expect("read segment");
    let len = bytes.len();
    assert!(len > 4096, "segment too small: {len}");
    // Flip bytes in the last 1000 bytes of written data and tear the tail.
    let data_end = bytes.iter().rposition(|&b| b != 0).expect("data") + 1;
    for b in &mut bytes[data_end - 1000..data_end - 900] {
        *b ^= 0xA5;
    }
    bytes.truncate(data_end - 300);
    std::fs::write(&seg, &bytes).expect("write segment");

    let db = Db::open(dir, DbOptions::default()).expect("open after damage");
    let report = db.head().replay_report();
    assert!(
        report.wal_corruption.is_some(),
        "corruption not reported: {report:?}"
    );
    let all = read_all(&db);
    let n0 = all[0].len();
    assert!(n0 > 0 && n0 < 200, "series 0 has {n0} samples");
    for (s, samples) in all.iter().enumerate() {
        // A whole prefix of commits survived, every value right.
        assert!(
            samples.len() + 1 >= n0 && samples.len() <= n0 + 1,
            "series {s}"
        );
        for (i, &(t, v)) in samples.iter().enumerate() {
            assert_eq!(t, i as i64 * STEP);
            assert_eq!(v, value(s as u64, t));
        }
    }
    // Still writable after the repair, and the repair holds on reopen.
    let mut app = db.appender();
    app.append(
        SeriesRef(0),
        &series_labels(0),
        Sample::float(1_000_000, 1.0),
    )
    .expect("append after repair");
    app.commit().expect("commit after repair");
    drop(app);
    db.close().expect("close");
    let db = Db::open(dir, DbOptions::default()).expect("reopen");
    assert_eq!(read_all(&db)[0].len(), n0 + 1);
}
