//! Backfill behaviour: promtool's contract, errors with line numbers,
//! nothing left behind on failure, and the same blocks whatever the piece
//! size and memory budget.

use std::fmt::Write as _;
use std::path::Path;

use ember_model::{MatchOp, Matcher};
use ember_tsdb::backfill::{
    backfill_openmetrics, backfill_openmetrics_file, BackfillObserver, BackfillOptions,
    BackfillSummary, Progress,
};
use ember_tsdb::{dump_samples, open_blocks, TsdbError, WrittenBlock};

const H: i64 = 3_600_000;

fn dump(dir: &Path) -> String {
    let blocks = open_blocks(dir).unwrap();
    assert!(blocks.failed().is_empty());
    let q = blocks.merge_querier(i64::MIN, i64::MAX);
    let mut out = Vec::new();
    let m = Matcher::new(MatchOp::Regex, "__name__", ".*").unwrap();
    dump_samples(&q, &[m], &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|r| {
            r.map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn backfill(
    input: &str,
    opts: &BackfillOptions,
) -> (tempfile::TempDir, Result<BackfillSummary, TsdbError>) {
    let dir = tempfile::tempdir().unwrap();
    let res = backfill_openmetrics(input.as_bytes(), dir.path(), opts, &mut ());
    (dir, res)
}

/// Realistic input: a few families, jittered 15s scrapes over `hours`,
/// series starting and stopping, special values.
fn dataset(hours: i64) -> String {
    let mut s = String::new();
    let steps = hours * 240;
    s.push_str("# HELP reqs Requests.\n# TYPE reqs counter\n");
    for host in 0..4 {
        for code in ["200", "500"] {
            for i in 0..steps {
                if host == 3 && i < steps / 3 {
                    continue;
                }
                let t = 1_763_769_600_000 + i * 15_000 + (i * 7 + host) % 9 + 1;
                let v = (i * (host + 1)) as f64 * 1.5;
                writeln!(
                    s,
                    "reqs_total{{code=\"{code}\",host=\"h{host}\"}} {v} {}.{:03}",
                    t / 1000,
                    t % 1000
                )
                .unwrap();
            }
        }
    }
    s.push_str("# TYPE temp_celsius gauge\n# UNIT temp_celsius celsius\n");
    for i in 0..steps {
        let t = 1_763_769_600_000 + i * 15_000 + 3;
        let v = match i % 50 {
            0 => "NaN".to_string(),
            1 => "+Inf".to_string(),
            2 => "-0".to_string(),
            _ => format!("{}", 20.0 + (i as f64).sin()),
        };
        writeln!(s, "temp_celsius {v} {}.{:03}", t / 1000, t % 1000).unwrap();
    }
    s.push_str("# EOF\n");
    s
}

#[test]
fn blocks_per_two_hour_range() {
    let input = "# TYPE a gauge\n\
                 a{x=\"1\"} 1 0.001\n\
                 a{x=\"1\"} 2 7199.999\n\
                 a{x=\"1\"} 3 7200\n\
                 a{x=\"2\"} 1e6 7201\n\
                 # EOF\n";
    let (dir, res) = backfill(input, &BackfillOptions::default());
    let s = res.unwrap();
    assert_eq!(s.blocks.len(), 2);
    assert_eq!(s.passes, 1);
    assert_eq!(s.input_samples, 4);
    let ranges: Vec<(i64, i64)> = s
        .blocks
        .iter()
        .map(|b| (b.meta.min_time, b.meta.max_time))
        .collect();
    assert_eq!(ranges, [(1, 2 * H), (2 * H, 2 * H + 1000 + 1)]);
    assert_eq!(s.blocks[1].meta.stats.num_series, 2);
    assert_eq!(
        dump(dir.path()),
        "{__name__=\"a\", x=\"1\"} 1 1\n\
         {__name__=\"a\", x=\"1\"} 2 7199999\n\
         {__name__=\"a\", x=\"1\"} 3 7200000\n\
         {__name__=\"a\", x=\"2\"} 1e+06 7201000\n"
    );
    let names = entries(dir.path());
    assert_eq!(names.len(), 2);
    assert!(names.iter().all(|n| n.len() == 26), "{names:?}");
}

#[test]
fn larger_block_durations() {
    let input = dataset(7);
    let opts = BackfillOptions {
        max_block_duration: 7 * H,
        ..BackfillOptions::default()
    };
    let (_dir, res) = backfill(&input, &opts);
    let s = res.unwrap();
    assert_eq!(s.block_duration, 6 * H);
    assert_eq!(s.blocks.len(), 2);
    assert!(s
        .blocks
        .iter()
        .all(|b| b.meta.max_time - b.meta.min_time <= 6 * H));
}

#[test]
fn same_blocks_whatever_the_piece_size_and_budget() {
    let input = dataset(5);
    let (base_dir, base) = backfill(&input, &BackfillOptions::default());
    let base = base.unwrap();
    assert_eq!(base.blocks.len(), 3);
    let base_dump = dump(base_dir.path());
    for (read_size, budget, threads) in [
        (1, u64::MAX, 1),
        (4096, 10_000, 3),
        (100_000, 1, 2),
        (333, 7_000, 4),
    ] {
        let opts = BackfillOptions {
            read_size,
            max_samples_in_memory: budget,
            parse_threads: threads,
            ..BackfillOptions::default()
        };
        let (dir, res) = backfill(&input, &opts);
        let s = res.unwrap();
        if budget < 10_000 {
            assert!(s.passes > 1, "{budget}: {} passes", s.passes);
        }
        let stats = |s: &BackfillSummary| -> Vec<_> {
            s.blocks
                .iter()
                .map(|b| {
                    (
                        b.meta.min_time,
                        b.meta.max_time,
                        b.meta.stats.clone(),
                        b.size,
                    )
                })
                .collect()
        };
        assert_eq!(
            stats(&s),
            stats(&base),
            "read_size {read_size}, budget {budget}"
        );
        assert_eq!(dump(dir.path()), base_dump);
    }
}

#[test]
fn errors_name_the_line_and_leave_nothing() {
    let ok = "# TYPE a gauge\na 1 1\na 2 2\n";
    // A sample error before a syntax error in the same piece wins.
    let (_dir, res) = backfill(
        "a 1 1\na 2 1\n# TYPE x bad\n# EOF\n",
        &BackfillOptions {
            samples_per_commit: 1,
            ..BackfillOptions::default()
        },
    );
    let e = res.unwrap_err().to_string();
    assert!(e.starts_with("line 2: add sample: duplicate sample"), "{e}");
    let cases = [
        (
            format!("{ok}a 3\n# EOF\n"),
            4,
            "expected timestamp for series {__name__=\"a\"}, got none",
        ),
        (format!("{ok}a{{b=\"1\"}} x 3\n# EOF\n"), 4, "invalid"),
        (format!("{ok}a 3 3\n"), 5, "EOF"),
        (format!("{ok}# EOF\na 3 3\n"), 5, "after # EOF"),
        (
            format!("{ok}a{{b=\"1\",b=\"2\"}} 3 3\n# EOF\n"),
            4,
            "duplicate label name",
        ),
    ];
    for (input, line, text) in &cases {
        for read_size in [1, 7, 1 << 20] {
            let opts = BackfillOptions {
                read_size,
                ..BackfillOptions::default()
            };
            let (dir, res) = backfill(input, &opts);
            let e = res.unwrap_err();
            match &e {
                TsdbError::Parse { line: l, .. } => assert_eq!(l, line, "{e} for {input:?}"),
                other => panic!("not a parse error: {other}"),
            }
            assert!(e.to_string().contains(text), "{e} for {input:?}");
            assert!(entries(dir.path()).is_empty(), "{input:?}");
        }
    }
}

#[test]
fn out_of_order_and_duplicates_follow_the_head() {
    // Within one transaction, older samples and repeats are dropped.
    let input = "a 1 5\na 2 4\na 3 6\na 4 6\n# EOF\n";
    let (dir, res) = backfill(input, &BackfillOptions::default());
    res.unwrap();
    assert_eq!(
        dump(dir.path()),
        "{__name__=\"a\"} 1 5000\n{__name__=\"a\"} 3 6000\n"
    );

    // Across transactions they are errors, except an exact repeat.
    let small = BackfillOptions {
        samples_per_commit: 1,
        ..BackfillOptions::default()
    };
    let (_dir, res) = backfill("a 1 5\na 1 5\na 3 6\n# EOF\n", &small);
    assert_eq!(res.unwrap().blocks[0].meta.stats.num_samples, 2);
    let (dir, res) = backfill("a 1 5\na 3 6\na 2 4\n# EOF\n", &small);
    let e = res.unwrap_err().to_string();
    assert_eq!(e, "line 3: add sample: out of order sample for series {__name__=\"a\"}: timestamp 4000 is before 6000");
    assert!(entries(dir.path()).is_empty());
    let (_dir, res) = backfill("a 1 5\na 2 5\n# EOF\n", &small);
    let e = res.unwrap_err().to_string();
    assert!(
        e.starts_with("line 2: add sample: duplicate sample for timestamp 5000"),
        "{e}"
    );
}

#[test]
fn failure_in_a_later_pass_removes_earlier_blocks() {
    // Three ranges built one per pass; the last one has an out of order
    // sample across transactions.
    let input = "a 1 1\nb 1 7201\nc 1 14402\nc 2 14403\nc 0 14401\n# EOF\n";
    let opts = BackfillOptions {
        max_samples_in_memory: 1,
        samples_per_commit: 1,
        ..BackfillOptions::default()
    };
    struct Seen(Vec<WrittenBlock>);
    impl BackfillObserver for Seen {
        fn block_written(&mut self, b: &WrittenBlock) {
            self.0.push(b.clone());
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let mut seen = Seen(Vec::new());
    let e = backfill_openmetrics(input.as_bytes(), dir.path(), &opts, &mut seen).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("line 5: add sample: out of order"),
        "{e}"
    );
    assert_eq!(seen.0.len(), 2, "blocks of earlier passes were written");
    assert!(entries(dir.path()).is_empty(), "{:?}", entries(dir.path()));
}

#[test]
fn empty_input_and_negative_timestamps() {
    let (dir, res) = backfill("# EOF\n", &BackfillOptions::default());
    let s = res.unwrap();
    assert!(s.blocks.is_empty() && s.input_samples == 0);
    assert!(entries(dir.path()).is_empty());

    // As promtool: the first range starts at the minimum rounded towards
    // zero, so a sample before it is ignored.
    let (dir, res) = backfill(
        "a -1 -0.001\na 1 0.001\na 2 7300\n# EOF\n",
        &BackfillOptions::default(),
    );
    let s = res.unwrap();
    assert_eq!(s.ignored_samples, 1);
    assert_eq!(s.blocks.len(), 2);
    assert_eq!(
        dump(dir.path()),
        "{__name__=\"a\"} 1 1\n{__name__=\"a\"} 2 7300000\n"
    );
}

#[test]
fn file_input_reports_progress() {
    let input = dataset(3);
    let src = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(src.path(), &input).unwrap();
    let out = tempfile::tempdir().unwrap();
    struct P(Vec<Progress>, usize);
    impl BackfillObserver for P {
        fn progress(&mut self, p: &Progress) {
            self.0.push(*p);
        }
        fn block_written(&mut self, _: &WrittenBlock) {
            self.1 += 1;
        }
    }
    let mut p = P(Vec::new(), 0);
    let opts = BackfillOptions {
        read_size: 8192,
        ..BackfillOptions::default()
    };
    let s = backfill_openmetrics_file(src.path(), out.path(), &opts, &mut p).unwrap();
    assert_eq!(p.1, s.blocks.len());
    let last = p.0.last().unwrap();
    assert_eq!(
        (last.pass, last.passes, last.bytes_done),
        (1, Some(1), input.len() as u64)
    );
    assert!(p.0.len() > 10);
    assert!(p.0.windows(2).all(|w| w[0].bytes_done <= w[1].bytes_done));

    let e = backfill_openmetrics_file(&out.path().join("missing.om"), out.path(), &opts, &mut ())
        .unwrap_err();
    assert!(e.to_string().contains("missing.om"), "{e}");
}
