//! Writer → reader round trips, the planner against a brute-force filter
//! (on disk and in memory), and a hand-derived byte layout.

use std::collections::BTreeSet;
use std::io::Cursor;

use ember_index::{
    label_names_for_matchers, label_values_for_matchers, postings_for_matchers, ChunkMeta,
    IndexError, IndexReader, IndexWriter, MemPostings, PostingsSource, RoaringBitmap,
};
use ember_model::{Labels, MatchOp, Matcher};
use proptest::prelude::*;

/// Writes `series` (sorted, unique) with their chunks to memory.
fn write_index(series: &[(Labels, Vec<ChunkMeta>)]) -> (Vec<u8>, Vec<u32>) {
    let mut symbols = BTreeSet::new();
    for (l, _) in series {
        for lb in l.iter() {
            symbols.insert(lb.name.to_string());
            symbols.insert(lb.value.to_string());
        }
    }
    let mut w = IndexWriter::new(Cursor::new(Vec::new())).unwrap();
    for s in &symbols {
        w.add_symbol(s).unwrap();
    }
    let ids = series
        .iter()
        .map(|(l, c)| w.add_series(l, c).unwrap())
        .collect();
    (w.finish().unwrap().into_inner(), ids)
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied()).unwrap()
}

/// The series (by position) every matcher accepts.
fn brute_force(series: &[Labels], ms: &[Matcher]) -> Vec<usize> {
    if ms.is_empty() {
        return Vec::new();
    }
    (0..series.len())
        .filter(|&i| ms.iter().all(|m| m.matches_labels(&series[i])))
        .collect()
}

fn mem_postings(series: &[Labels]) -> MemPostings {
    let mut p = MemPostings::new();
    for (i, l) in series.iter().enumerate() {
        p.add(i as u32, l);
    }
    p
}

/// Checks the planner and the label APIs of `ix` against brute force;
/// `ids[i]` is the ID of `series[i]` in `ix`.
fn check_planner(ix: &dyn PostingsSource, series: &[Labels], ids: &[u32], ms: &[Matcher]) {
    let want: RoaringBitmap = brute_force(series, ms)
        .into_iter()
        .map(|i| ids[i])
        .collect();
    let got = postings_for_matchers(ix, ms).unwrap();
    assert_eq!(got, want, "postings for {ms:?}");

    let selected: Vec<&Labels> = if ms.is_empty() {
        series.iter().collect()
    } else {
        brute_force(series, ms)
            .into_iter()
            .map(|i| &series[i])
            .collect()
    };
    let names: BTreeSet<String> = selected
        .iter()
        .flat_map(|l| l.iter().map(|x| x.name.to_string()))
        .collect();
    let got = label_names_for_matchers(ix, ms).unwrap();
    assert_eq!(
        got,
        names.into_iter().collect::<Vec<_>>(),
        "names for {ms:?}"
    );

    for name in ["a", "b", "c", "__name__", "missing"] {
        let values: BTreeSet<String> = selected
            .iter()
            .filter_map(|l| l.get(name).map(str::to_string))
            .collect();
        let got = label_values_for_matchers(ix, name, ms).unwrap();
        assert_eq!(
            got,
            values.into_iter().collect::<Vec<_>>(),
            "values of {name} for {ms:?}"
        );
    }
}

const NAMES: [&str; 4] = ["__name__", "a", "b", "c"];
const VALUES: [&str; 12] = [
    "", "x", "y", "xy", "yx", "z", "foo", "foo1", "foobar", "1", "10", "2",
];

fn label_set() -> impl Strategy<Value = Labels> {
    proptest::collection::vec(proptest::sample::select(&VALUES[..]), NAMES.len())
        .prop_map(|vs| Labels::from_pairs(NAMES.iter().copied().zip(vs)).unwrap())
}

fn matcher() -> impl Strategy<Value = Matcher> {
    const PATTERNS: [&str; 16] = [
        "", "x", "x|y", "foo|zzz", "x|", "fo.*", "x.*", "1.*", ".*", ".+", "f.*1", "(x|y)+",
        ".*o.*", "[xy]", "foo.+", "z|q|1",
    ];
    let names = proptest::sample::select(vec!["__name__", "a", "b", "c", "missing"]);
    (
        names,
        0..4u8,
        proptest::sample::select(&VALUES[..]),
        proptest::sample::select(&PATTERNS[..]),
    )
        .prop_map(|(name, op, value, pattern)| match op {
            0 => Matcher::equal(name, value),
            1 => Matcher::new(MatchOp::NotEqual, name, value).unwrap(),
            2 => Matcher::new(MatchOp::Regex, name, pattern).unwrap(),
            _ => Matcher::new(MatchOp::NotRegex, name, pattern).unwrap(),
        })
}

/// Chunk metadata valid for the writer: ordered times, references that
/// never decrease across the file.
fn with_chunks(sets: Vec<Labels>, lens: Vec<u8>) -> Vec<(Labels, Vec<ChunkMeta>)> {
    let mut next_ref = 8u64;
    sets.into_iter()
        .zip(lens.into_iter().chain(std::iter::repeat(1)))
        .map(|(l, n)| {
            let mut t = -5_000i64 + i64::from(n) * 997;
            let chunks = (0..n % 5)
                .map(|k| {
                    let c = ChunkMeta {
                        min_time: t,
                        max_time: t + i64::from(k) * 120_000,
                        chunk_ref: next_ref,
                    };
                    t = c.max_time + 1 + i64::from(n);
                    next_ref += 1 + 1000 * u64::from(k);
                    c
                })
                .collect();
            (l, chunks)
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    #[test]
    fn round_trip_and_planner(
        sets in proptest::collection::btree_set(label_set(), 0..40),
        lens in proptest::collection::vec(any::<u8>(), 40),
        queries in proptest::collection::vec(proptest::collection::vec(matcher(), 0..4), 12),
    ) {
        let series = with_chunks(sets.into_iter().collect(), lens);
        let (bytes, ids) = write_index(&series);
        let r = IndexReader::new(bytes).unwrap();
        let sets: Vec<Labels> = series.iter().map(|(l, _)| l.clone()).collect();

        for (i, (l, chunks)) in series.iter().enumerate() {
            let (got_l, got_c) = r.series(ids[i]).unwrap();
            prop_assert_eq!(&got_l, l);
            prop_assert_eq!(&got_c, chunks);
        }
        let all: Vec<u32> = r.all_postings_list().unwrap().iter().collect();
        prop_assert_eq!(&all, &ids);
        let symbols: BTreeSet<&str> = sets.iter().flat_map(|l| l.iter().flat_map(|x| [x.name, x.value])).collect();
        let got: Vec<&str> = r.symbols().map(Result::unwrap).collect();
        prop_assert_eq!(got, symbols.into_iter().collect::<Vec<_>>());
        for name in NAMES {
            let values: BTreeSet<&str> = sets.iter().filter_map(|l| l.get(name)).collect();
            prop_assert_eq!(r.label_values(name).unwrap(), values.iter().map(|v| v.to_string()).collect::<Vec<_>>());
            for v in VALUES {
                let want: Vec<u32> = (0..sets.len()).filter(|&i| !v.is_empty() && sets[i].get(name) == Some(v)).map(|i| ids[i]).collect();
                let got: Vec<u32> = r.postings(name, v).unwrap().iter().collect();
                prop_assert_eq!(got, want);
                let from: Vec<&str> = r.label_values_from(name, v).unwrap().map(Result::unwrap).collect();
                prop_assert_eq!(from, values.range(v..).copied().collect::<Vec<_>>());
            }
        }

        let mem = mem_postings(&sets);
        let dense: Vec<u32> = (0..sets.len() as u32).collect();
        for ms in &queries {
            check_planner(&r, &sets, &ids, ms);
            check_planner(&mem, &sets, &dense, ms);
        }
    }
}

/// Every matcher shape the planner distinguishes, on a fixed data set.
#[test]
fn planner_matcher_shapes() {
    let sets: Vec<Labels> = [
        vec![("__name__", "up"), ("job", "api"), ("i", "1")],
        vec![("__name__", "up"), ("job", "web"), ("i", "10")],
        vec![("__name__", "up"), ("job", "db")],
        vec![("__name__", "down"), ("i", "2")],
        vec![("__name__", "down"), ("job", "api"), ("i", "20")],
    ]
    .iter()
    .map(|p| labels(p))
    .collect::<BTreeSet<_>>()
    .into_iter()
    .collect();
    let (bytes, ids) = write_index(&sets.iter().map(|l| (l.clone(), vec![])).collect::<Vec<_>>());
    let r = IndexReader::new(bytes).unwrap();
    let mem = mem_postings(&sets);
    let dense: Vec<u32> = (0..sets.len() as u32).collect();
    let m = |op, n: &str, v: &str| Matcher::new(op, n, v).unwrap();
    use MatchOp::*;
    let cases: Vec<Vec<Matcher>> = vec![
        vec![m(Equal, "job", "api")],
        vec![m(Equal, "job", "api"), m(Equal, "__name__", "up")],
        vec![m(Equal, "job", "api"), m(NotEqual, "i", "1")],
        vec![m(Regex, "job", "api|db")],
        vec![m(Regex, "i", "1.*")],
        vec![m(Regex, "i", ".*")],
        vec![m(Regex, "i", ".+")],
        vec![m(Regex, "i", "")],
        vec![m(NotEqual, "i", "")],
        vec![m(Equal, "i", "")],
        vec![m(Equal, "i", ""), m(Equal, "__name__", "up")],
        vec![m(Regex, "job", ".*"), m(Equal, "__name__", "down")],
        vec![m(NotRegex, "job", "api")],
        vec![m(NotRegex, "job", ".*")],
        vec![m(NotRegex, "job", ".+")],
        vec![m(NotRegex, "i", "1.*")],
        vec![m(Regex, "i", "[12]0?")],
        vec![m(NotRegex, "i", "[12]")],
        vec![m(Regex, "job", "api|"), m(NotEqual, "__name__", "up")],
        vec![m(Equal, "nope", "")],
        vec![m(Equal, "nope", "x")],
        vec![m(NotEqual, "nope", "x")],
        vec![m(Equal, "", "")],
        vec![m(Regex, "job", "w.*"), m(Regex, "job", ".*b")],
        vec![
            m(Regex, "i", ".+"),
            m(NotRegex, "i", "2.*"),
            m(Equal, "job", "api"),
        ],
        vec![],
    ];
    for ms in &cases {
        check_planner(&r, &sets, &ids, ms);
        check_planner(&mem, &sets, &dense, ms);
    }
}

/// Enough symbols and values to cross the reader's 32-entry sampling.
#[test]
fn many_values_cross_sample_boundaries() {
    let sets: BTreeSet<Labels> = (0..700)
        .map(|i| {
            labels(&[
                ("i", &format!("{i}")),
                ("mod", &format!("m{}", i % 97)),
                ("z", "const"),
            ])
        })
        .collect();
    let sets: Vec<Labels> = sets.into_iter().collect();
    let series: Vec<_> = sets.iter().map(|l| (l.clone(), vec![])).collect();
    let (bytes, ids) = write_index(&series);
    let r = IndexReader::new(bytes).unwrap();
    for (i, l) in sets.iter().enumerate() {
        assert_eq!(r.series(ids[i]).unwrap().0, *l);
        let v = l.get("i").unwrap();
        assert_eq!(
            r.postings("i", v).unwrap().iter().collect::<Vec<_>>(),
            [ids[i]]
        );
    }
    assert!(r.postings("i", "00").unwrap().is_empty());
    assert!(r.postings("i", "99999").unwrap().is_empty());
    assert!(r.postings("i", "").unwrap().is_empty());
    let symbols: Vec<&str> = r.symbols().map(Result::unwrap).collect();
    for (k, s) in symbols.iter().enumerate() {
        assert_eq!(r.symbol(k as u32).unwrap(), *s);
    }
    assert!(r.symbol(symbols.len() as u32).is_err());
    let mem = mem_postings(&sets);
    let dense: Vec<u32> = (0..sets.len() as u32).collect();
    for re in [
        "1.*",
        "6.*",
        "69.*",
        "7.*",
        "m1.*",
        "99.*",
        "[0-9]+5",
        "1|22|333|4444",
    ] {
        for name in ["i", "mod"] {
            for ms in [
                vec![Matcher::new(MatchOp::Regex, name, re).unwrap()],
                vec![Matcher::new(MatchOp::NotRegex, name, re).unwrap()],
                vec![
                    Matcher::new(MatchOp::Regex, name, re).unwrap(),
                    Matcher::equal("mod", "m3"),
                ],
            ] {
                check_planner(&r, &sets, &ids, &ms);
                check_planner(&mem, &sets, &dense, &ms);
            }
        }
    }
    // A large matched set takes the per-name probing path for label names.
    let ms = [Matcher::new(MatchOp::Regex, "i", ".+").unwrap()];
    check_planner(&r, &sets, &ids, &ms);
}

/// A tiny index whose every byte is derived by hand from the format
/// description (tsdb/docs/format/index.md) and Prometheus 2.x's writer.
#[test]
fn known_bytes_of_a_tiny_index() {
    fn crc(b: &[u8]) -> [u8; 4] {
        crc32c::crc32c(b).to_be_bytes()
    }
    let mut want: Vec<u8> = Vec::new();
    // 0: magic, version 2.
    want.extend([0xBA, 0xAA, 0xD7, 0x00, 0x02]);
    // 5: symbol table: len 8 (count + entries), count 2, "a", "x", CRC.
    let sym_body = [0, 0, 0, 2, 1, b'a', 1, b'x'];
    want.extend([0, 0, 0, 8]);
    want.extend(sym_body);
    want.extend(crc(&sym_body));
    assert_eq!(want.len(), 21);
    // 21: series section; padding to 32, so the series ID is 2.
    want.extend([0; 11]);
    // Labels: 1 pair (name ref 0 "a", value ref 1 "x"); 1 chunk with
    // mint 1 (zig-zag 2), maxt - mint 4, ref 8.
    let series_body = [1, 0, 1, 1, 2, 4, 8];
    want.push(7);
    want.extend(series_body);
    want.extend(crc(&series_body));
    assert_eq!(want.len(), 44);
    // 44: label index for "a": 1 name, 1 entry, value ref 1.
    let li_body = [0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1];
    want.extend([0, 0, 0, 12]);
    want.extend(li_body);
    want.extend(crc(&li_body));
    assert_eq!(want.len(), 64);
    // 64: postings: the all-series list, then a="x"; each holds series 2.
    let p_body = [0, 0, 0, 1, 0, 0, 0, 2];
    for _ in 0..2 {
        want.extend([0, 0, 0, 8]);
        want.extend(p_body);
        want.extend(crc(&p_body));
    }
    assert_eq!(want.len(), 96);
    // 96: label offset table: 1 entry (n=1, "a", offset 44).
    let lot_body = [0, 0, 0, 1, 1, 1, b'a', 44];
    want.extend([0, 0, 0, 8]);
    want.extend(lot_body);
    want.extend(crc(&lot_body));
    assert_eq!(want.len(), 112);
    // 112: postings offset table: ("", "") → 64, ("a", "x") → 80.
    let pot_body = [0, 0, 0, 2, 2, 0, 0, 64, 2, 1, b'a', 1, b'x', 80];
    want.extend([0, 0, 0, 14]);
    want.extend(pot_body);
    want.extend(crc(&pot_body));
    assert_eq!(want.len(), 134);
    // 134: TOC: symbols, series, label indices, label offset table,
    // postings, postings offset table; CRC.
    let mut toc = Vec::new();
    for off in [5u64, 21, 44, 96, 64, 112] {
        toc.extend(off.to_be_bytes());
    }
    let toc_crc = crc(&toc);
    want.extend(&toc);
    want.extend(toc_crc);

    let l = labels(&[("a", "x")]);
    let chunk = ChunkMeta {
        min_time: 1,
        max_time: 5,
        chunk_ref: 8,
    };
    let mut w = IndexWriter::new(Cursor::new(Vec::new())).unwrap();
    w.add_symbol("a").unwrap();
    w.add_symbol("x").unwrap();
    assert_eq!(w.add_series(&l, &[chunk]).unwrap(), 2);
    let got = w.finish().unwrap().into_inner();
    assert_eq!(got, want);

    let r = IndexReader::new(got).unwrap();
    assert_eq!(r.series(2).unwrap(), (l, vec![chunk]));
    assert_eq!(
        r.postings("a", "x").unwrap().iter().collect::<Vec<_>>(),
        [2]
    );
    assert_eq!(r.label_names().unwrap(), ["a"]);
}

#[test]
fn empty_index_round_trips() {
    let w = IndexWriter::new(Cursor::new(Vec::new())).unwrap();
    let r = IndexReader::new(w.finish().unwrap().into_inner()).unwrap();
    assert_eq!(r.symbols().count(), 0);
    assert!(r.all_postings_list().unwrap().is_empty());
    assert!(r.label_names().unwrap().is_empty());
    let ms = [Matcher::new(MatchOp::NotEqual, "a", "b").unwrap()];
    assert!(postings_for_matchers(&r, &ms).unwrap().is_empty());
    assert!(r.series(0).is_err());
}

#[test]
fn writer_refuses_bad_input_and_stays_usable() {
    let mut w = IndexWriter::new(Cursor::new(Vec::new())).unwrap();
    w.add_symbol("b").unwrap();
    assert!(matches!(
        w.add_symbol("a"),
        Err(IndexError::InvalidInput(_))
    ));
    assert!(matches!(
        w.add_symbol("b"),
        Err(IndexError::InvalidInput(_))
    ));
    w.add_symbol("c").unwrap();
    let bc = labels(&[("b", "c")]);
    let cb = labels(&[("c", "b")]);
    let c = |min_time, max_time, chunk_ref| ChunkMeta {
        min_time,
        max_time,
        chunk_ref,
    };
    // Unknown symbol, bad chunk ranges and order: refused, nothing written.
    assert!(w.add_series(&labels(&[("a", "b")]), &[]).is_err());
    assert!(w.add_series(&bc, &[c(5, 4, 0)]).is_err());
    assert!(w.add_series(&bc, &[c(0, 4, 0), c(4, 8, 1)]).is_err());
    assert!(w.add_series(&bc, &[c(0, 4, 9), c(5, 8, 1)]).is_err());
    let id = w.add_series(&bc, &[c(0, 4, 10), c(5, 8, 20)]).unwrap();
    assert!(matches!(
        w.add_series(&bc, &[]),
        Err(IndexError::InvalidInput(_))
    ));
    // Chunk references may not go backwards across series either.
    assert!(w.add_series(&cb, &[c(0, 1, 19)]).is_err());
    let id2 = w.add_series(&cb, &[c(0, 1, 20)]).unwrap();
    assert!(matches!(
        w.add_symbol("d"),
        Err(IndexError::InvalidInput(_))
    ));
    let r = IndexReader::new(w.finish().unwrap().into_inner()).unwrap();
    assert_eq!(r.series(id).unwrap().1, [c(0, 4, 10), c(5, 8, 20)]);
    assert_eq!(r.series(id2).unwrap().0, cb);
    // Past the series section: an error.
    assert!(r.series(id2 + 1).is_err());
    assert!(r.series(u32::MAX).is_err());
}

#[test]
fn file_round_trip() {
    let dir = std::env::temp_dir().join(format!("ember-index-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("index");
    let sets: Vec<Labels> = (0..50)
        .map(|i| labels(&[("__name__", "m"), ("i", &format!("{i:03}"))]))
        .collect();
    let mut w = IndexWriter::create(&path).unwrap();
    let mut symbols: Vec<String> = vec!["__name__".into(), "i".into(), "m".into()];
    symbols.extend((0..50).map(|i| format!("{i:03}")));
    symbols.sort();
    for s in &symbols {
        w.add_symbol(s).unwrap();
    }
    let ids: Vec<u32> = sets.iter().map(|l| w.add_series(l, &[]).unwrap()).collect();
    w.finish().unwrap();
    let r = IndexReader::open(&path).unwrap();
    assert_eq!(r.size() as u64, std::fs::metadata(&path).unwrap().len());
    let ms = [Matcher::new(MatchOp::Regex, "i", "01.*").unwrap()];
    let got: Vec<u32> = postings_for_matchers(&r, &ms).unwrap().iter().collect();
    assert_eq!(got, ids[10..20]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn readers_are_shareable_across_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<IndexReader>();
    send_sync::<MemPostings>();
    send_sync::<ember_index::SeriesOrdinals>();
}
