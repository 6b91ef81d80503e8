//! Postings-for-matchers latency on 1M series, in memory (`MemPostings`)
//! and on disk (`IndexReader`), with the label shapes and matcher cases of
//! Prometheus' `BenchmarkQuerier` (`tsdb/querier_bench_test.go`), scaled
//! from 5M to 1M series: for n in 0..10 and i in 0..20_000, five series
//! `{i, n, j="foo"}`, `{i, n, j="bar"}`, `{i, n="0_<n>", j="bar"}`,
//! `{i, n="1_<n>", j="bar"}`, `{i, n="2_<n>", j="foo"}`, every value but
//! `j`'s carrying a 40-byte suffix.

use std::collections::BTreeSet;
use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use criterion::Criterion;
use ember_index::{postings_for_matchers, IndexReader, IndexWriter, MemPostings, PostingsSource};
use ember_model::{Labels, MatchOp, Matcher};

const SUFFIX: &str = "aaaaaaaaaabbbbbbbbbbccccccccccdddddddddd";

fn series() -> Vec<Labels> {
    let mut out = Vec::with_capacity(1_000_000);
    for n in 0..10 {
        for i in 0..20_000 {
            let i = format!("{i}{SUFFIX}");
            for (nv, j) in [
                (format!("{n}{SUFFIX}"), "foo"),
                (format!("{n}{SUFFIX}"), "bar"),
                (format!("0_{n}{SUFFIX}"), "bar"),
                (format!("1_{n}{SUFFIX}"), "bar"),
                (format!("2_{n}{SUFFIX}"), "foo"),
            ] {
                out.push(Labels::from_pairs([("i", i.as_str()), ("n", &nv), ("j", j)]).unwrap());
            }
        }
    }
    out.sort();
    out
}

fn cases() -> Vec<(&'static str, Vec<Matcher>)> {
    let m = |op, name: &str, v: &str| Matcher::new(op, name, v).unwrap();
    let s = |v: &str| format!("{v}{SUFFIX}");
    use MatchOp::*;
    let n1 = m(Equal, "n", &s("1"));
    let nx = m(Equal, "n", &s("X"));
    let jfoo = m(Equal, "j", "foo");
    let jnotfoo = m(NotEqual, "j", "foo");
    let istar = m(Regex, "i", ".*");
    let iplus = m(Regex, "i", ".+");
    let inotempty = m(NotEqual, "i", "");
    vec![
        (r#"n="1""#, vec![n1.clone()]),
        (r#"n="X""#, vec![nx.clone()]),
        (r#"n="1",j="foo""#, vec![n1.clone(), jfoo.clone()]),
        (r#"j="foo",n="1""#, vec![jfoo.clone(), n1.clone()]),
        (r#"n="1",j!="foo""#, vec![n1.clone(), jnotfoo]),
        (r#"j=~"foo|bar""#, vec![m(Regex, "j", "foo|bar")]),
        (
            r#"i=~"(1|2|3|4|5|6|20|55)""#,
            vec![m(Regex, "i", "(1|2|3|4|5|6|20|55)")],
        ),
        (r#"i=~"X|Y|Z""#, vec![m(Regex, "i", "X|Y|Z")]),
        (r#"i=~".*""#, vec![istar.clone()]),
        (r#"i=~"1.*""#, vec![m(Regex, "i", "1.*")]),
        (r#"i=~".*1""#, vec![m(Regex, "i", ".*1")]),
        (r#"i=~".+""#, vec![iplus.clone()]),
        (r#"i=~"""#, vec![m(Regex, "i", "")]),
        (r#"i!="""#, vec![inotempty.clone()]),
        (
            r#"n="1",i=~".*",j="foo""#,
            vec![n1.clone(), istar, jfoo.clone()],
        ),
        (r#"n="1",i!="""#, vec![n1.clone(), inotempty]),
        (r#"n="1",i!~".*""#, vec![n1.clone(), m(NotRegex, "i", ".*")]),
        (
            r#"n="1",i=~".+",i!~".*2.*",j="foo""#,
            vec![n1, iplus, m(NotRegex, "i", ".*2.*"), jfoo],
        ),
    ]
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn bench(c: &mut Criterion) {
    let sets = series();
    let mut mem = MemPostings::new();
    for (id, l) in sets.iter().enumerate() {
        mem.add(id as u32, l);
    }

    let dir =
        TempDir(std::env::temp_dir().join(format!("ember-index-bench-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).unwrap();
    let path = dir.0.join("index");
    let symbols: BTreeSet<&str> = sets
        .iter()
        .flat_map(|l| l.iter().flat_map(|x| [x.name, x.value]))
        .collect();
    let mut w = IndexWriter::create(&path).unwrap();
    for s in symbols {
        w.add_symbol(s).unwrap();
    }
    for l in &sets {
        w.add_series(l, &[]).unwrap();
    }
    w.finish().unwrap();
    drop(sets);
    let disk = IndexReader::open(&path).unwrap();

    let sources: [(&str, &dyn PostingsSource); 2] = [("mem", &mem), ("disk", &disk)];
    for (kind, ix) in sources {
        let mut g = c.benchmark_group(format!("postings_for_matchers/{kind}"));
        for (name, ms) in cases() {
            g.bench_function(name, |b| {
                b.iter(|| black_box(postings_for_matchers(ix, &ms).unwrap().len()))
            });
        }
        g.finish();
    }
}

// What `criterion_group!`/`criterion_main!` expand to, minus the
// undocumented public function the lints reject.
fn main() {
    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_millis(600))
        .configure_from_args();
    bench(&mut c);
    c.final_summary();
}
