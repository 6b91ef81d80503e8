//! Prometheus itself reads our index: `promtool tsdb analyze` (2.42, the
//! Debian package CI installs) over a minimal block around a written
//! index. Skipped when promtool is not installed.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use ember_index::{ChunkMeta, IndexWriter};
use ember_model::Labels;

const PROMTOOL: &str = "/usr/bin/promtool";
const ULID: &str = "01BX5ZZKBKACTAV9WEVGEMMVRZ";

#[test]
fn promtool_analyzes_our_index() {
    if !Path::new(PROMTOOL).exists() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("ember-index-promtool-{}", std::process::id()));
    let block = dir.join(ULID);
    std::fs::create_dir_all(block.join("chunks")).unwrap();

    let mut sets: Vec<Labels> = (0..300)
        .map(|i| {
            Labels::from_pairs([
                (
                    "__name__",
                    ["up", "http_requests_total", "go_goroutines"][i % 3],
                ),
                ("instance", &format!("host-{:03}:9100", i / 3)),
                ("job", ["node", "api"][i % 2]),
            ])
            .unwrap()
        })
        .collect();
    sets.sort();
    let symbols: BTreeSet<&str> = sets
        .iter()
        .flat_map(|l| l.iter().flat_map(|x| [x.name, x.value]))
        .collect();
    let mut w = IndexWriter::create(block.join("index")).unwrap();
    for s in symbols {
        w.add_symbol(s).unwrap();
    }
    for (i, l) in sets.iter().enumerate() {
        let chunks = [
            ChunkMeta {
                min_time: 0,
                max_time: 3_599_000,
                chunk_ref: 8 + 64 * i as u64,
            },
            ChunkMeta {
                min_time: 3_600_000,
                max_time: 7_199_000,
                chunk_ref: 40 + 64 * i as u64,
            },
        ];
        w.add_series(l, &chunks).unwrap();
    }
    w.finish().unwrap();
    // A segment header only: analyze reads the index, not chunk data.
    std::fs::write(
        block.join("chunks/000001"),
        [0x85, 0xBD, 0x40, 0xDD, 1, 0, 0, 0],
    )
    .unwrap();
    let meta = format!(
        r#"{{"ulid":"{ULID}","minTime":0,"maxTime":7200000,"stats":{{"numSamples":0,"numSeries":300,"numChunks":600}},"compaction":{{"level":1,"sources":["{ULID}"]}},"version":1}}"#
    );
    std::fs::write(block.join("meta.json"), meta).unwrap();

    let out = Command::new(PROMTOOL)
        .args(["tsdb", "analyze", "--limit=3"])
        .arg(&dir)
        .arg(ULID)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(out.status.success(), "promtool failed: {stderr}\n{stdout}");
    assert!(stdout.contains("Series: 300"), "{stdout}");
    assert!(stdout.contains("Label names: 3"), "{stdout}");
    // 100 instances + 3 names + 2 jobs.
    assert!(
        stdout.contains("Postings (unique label pairs): 105"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Postings entries (total label pairs): 900"),
        "{stdout}"
    );
    assert!(stdout.contains("150 job=api"), "{stdout}");
    assert!(stdout.contains("100 instance"), "{stdout}");
}

/// We read an index written by Prometheus: a block made by `promtool tsdb
/// create-blocks-from openmetrics`, checked series by series and with the
/// planner against a brute-force filter.
#[test]
fn we_read_an_index_promtool_wrote() {
    use ember_index::{postings_for_matchers, IndexReader, PostingsSource};
    use ember_model::{MatchOp, Matcher};

    if !Path::new(PROMTOOL).exists() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("ember-index-promtool-in-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut om = String::from("# TYPE req counter\n");
    let mut want: Vec<Labels> = Vec::new();
    for i in 0..60 {
        let (code, path) = (["200", "404", "500"][i % 3], format!("/p{}", i % 20));
        let job = if i < 30 { "api" } else { "web" };
        om.push_str(&format!(
            "req_total{{code=\"{code}\",job=\"{job}\",path=\"{path}\"}} {i} 1000\n"
        ));
        want.push(
            Labels::from_pairs([
                ("__name__", "req_total"),
                ("code", code),
                ("job", job),
                ("path", path.as_str()),
            ])
            .unwrap(),
        );
    }
    om.push_str("# EOF\n");
    std::fs::write(dir.join("in.om"), om).unwrap();
    let out = Command::new(PROMTOOL)
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(dir.join("in.om"))
        .arg(dir.join("data"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let block = std::fs::read_dir(dir.join("data"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.join("index").exists())
        .unwrap();
    let original = std::fs::read(block.join("index")).unwrap();
    let r = IndexReader::open(block.join("index")).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();

    want.sort();
    want.dedup();
    let ids: Vec<u32> = r.all_postings_list().unwrap().iter().collect();
    let mut got = Vec::new();
    for &id in &ids {
        let (labels, chunks) = r.series(id).unwrap();
        assert_eq!(chunks.len(), 1);
        assert_eq!(
            (chunks[0].min_time, chunks[0].max_time),
            (1_000_000, 1_000_000)
        );
        got.push(labels);
    }
    assert_eq!(got, want);
    assert_eq!(
        r.label_names().unwrap(),
        ["__name__", "code", "job", "path"]
    );

    // Rewritten by us from what we read, the file is byte-identical.
    let mut w = IndexWriter::new(std::io::Cursor::new(Vec::new())).unwrap();
    for s in r.symbols() {
        w.add_symbol(s.unwrap()).unwrap();
    }
    for &id in &ids {
        let (labels, chunks) = r.series(id).unwrap();
        assert_eq!(w.add_series(&labels, &chunks).unwrap(), id);
    }
    assert!(
        w.finish().unwrap().into_inner() == original,
        "index bytes differ"
    );
    let m = |op, n: &str, v: &str| Matcher::new(op, n, v).unwrap();
    for ms in [
        vec![m(MatchOp::Equal, "code", "404")],
        vec![
            m(MatchOp::Regex, "path", "/p1.*"),
            m(MatchOp::NotEqual, "job", "web"),
        ],
        vec![
            m(MatchOp::Regex, "code", "200|500"),
            m(MatchOp::NotRegex, "path", ".*5"),
        ],
        vec![m(MatchOp::Equal, "nope", "")],
    ] {
        let expect: Vec<u32> = (0..got.len())
            .filter(|&i| ms.iter().all(|m| m.matches_labels(&got[i])))
            .map(|i| ids[i])
            .collect();
        let result: Vec<u32> = postings_for_matchers(&r, &ms).unwrap().iter().collect();
        assert_eq!(result, expect, "{ms:?}");
    }
}
