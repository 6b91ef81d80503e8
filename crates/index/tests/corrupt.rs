//! Corrupt and truncated index bytes give errors, never panics.

use std::io::Cursor;

use ember_index::{fuzz_read, ChunkMeta, IndexError, IndexReader, IndexWriter};
use ember_model::Labels;
use proptest::prelude::*;

/// A small index touching every section: 40 series, three label names,
/// values crossing the reader's 32-entry sampling, chunks.
fn sample_index() -> Vec<u8> {
    let mut sets: Vec<Labels> = (0..40)
        .map(|i| {
            Labels::from_pairs([
                (
                    "__name__",
                    if i % 3 == 0 {
                        "up"
                    } else {
                        "http_requests_total"
                    },
                ),
                ("i", &format!("{i:02}")),
                ("job", ["api", "db", "web"][i % 3]),
            ])
            .unwrap()
        })
        .collect();
    sets.sort();
    let mut symbols: Vec<String> = sets
        .iter()
        .flat_map(|l| {
            l.iter()
                .flat_map(|x| [x.name.to_string(), x.value.to_string()])
        })
        .collect();
    symbols.sort();
    symbols.dedup();
    let mut w = IndexWriter::new(Cursor::new(Vec::new())).unwrap();
    for s in &symbols {
        w.add_symbol(s).unwrap();
    }
    for (i, l) in sets.iter().enumerate() {
        let i = i as i64;
        let chunks: Vec<ChunkMeta> = (0..(i % 4))
            .map(|k| ChunkMeta {
                min_time: 1000 * (i + 10 * k),
                max_time: 1000 * (i + 10 * k) + 500,
                chunk_ref: (i as u64) << 10 | k as u64,
            })
            .collect();
        w.add_series(l, &chunks).unwrap();
    }
    w.finish().unwrap().into_inner()
}

#[test]
fn sample_index_is_fully_readable() {
    let data = sample_index();
    IndexReader::new(data.clone()).unwrap();
    fuzz_read(&data);
    // Rewriting every checksum of an intact index changes nothing.
    let mut same = data.clone();
    for (start, end) in crc_spans(&data) {
        let crc = crc32c::crc32c(&same[start..end]).to_be_bytes();
        same[end..end + 4].copy_from_slice(&crc);
    }
    assert_eq!(same, data);
}

#[test]
fn header_and_toc_errors_are_specific() {
    let data = sample_index();
    let mut bad = data.clone();
    bad[0] = 0;
    assert!(matches!(
        IndexReader::new(bad),
        Err(IndexError::BadMagic(_))
    ));
    let mut bad = data.clone();
    bad[4] = 1;
    assert!(matches!(
        IndexReader::new(bad),
        Err(IndexError::UnsupportedVersion(1))
    ));
    let mut bad = data.clone();
    let n = bad.len();
    bad[n - 10] ^= 1;
    assert!(matches!(
        IndexReader::new(bad),
        Err(IndexError::Checksum { section: "TOC", .. })
    ));
    let mut bad = data.clone();
    bad[12] ^= 0x40; // inside the first symbol
    assert!(matches!(
        IndexReader::new(bad),
        Err(IndexError::Checksum {
            section: "symbol table",
            ..
        })
    ));
    assert!(matches!(
        IndexReader::new(Vec::new()),
        Err(IndexError::Corrupt { .. })
    ));
}

#[test]
fn corrupt_series_entry_is_caught_by_its_checksum() {
    let data = sample_index();
    let r = IndexReader::new(data.clone()).unwrap();
    let id = r.all_postings_list().unwrap().get(3).unwrap();
    let mut bad = data;
    bad[id as usize * 16 + 2] ^= 0x01;
    let r = IndexReader::new(bad).unwrap();
    assert!(matches!(
        r.series(id),
        Err(IndexError::Checksum {
            section: "series entry",
            ..
        })
    ));
}

fn be32(d: &[u8], at: usize) -> usize {
    u32::from_be_bytes(d[at..at + 4].try_into().unwrap()) as usize
}

fn uvarint(d: &[u8], at: &mut usize) -> usize {
    let (mut v, mut shift) = (0usize, 0);
    loop {
        let b = d[*at];
        *at += 1;
        v |= usize::from(b & 0x7f) << shift;
        if b < 0x80 {
            return v;
        }
        shift += 7;
    }
}

/// The checksummed byte ranges of a valid index the reader looks at: the
/// TOC, the symbol table, the postings offset table, every postings list
/// and every series entry. The CRC follows each range.
fn crc_spans(d: &[u8]) -> Vec<(usize, usize)> {
    let toc = d.len() - 52;
    let mut spans = vec![(toc, toc + 48)];
    let at =
        |i: usize| u64::from_be_bytes(d[toc + 8 * i..toc + 8 * i + 8].try_into().unwrap()) as usize;
    let framed = |off: usize| (off + 4, off + 4 + be32(d, off));
    spans.push(framed(at(0)));
    let table = framed(at(5));
    spans.push(table);
    let mut pos = table.0 + 4;
    let mut lists = Vec::new();
    for _ in 0..be32(d, table.0) {
        uvarint(d, &mut pos);
        for _ in 0..2 {
            let n = uvarint(d, &mut pos);
            pos += n;
        }
        lists.push(uvarint(d, &mut pos));
    }
    let all = framed(lists[0]);
    for id in (all.0 + 4..all.1).step_by(4).map(|i| be32(d, i)) {
        let mut pos = id * 16;
        let len = uvarint(d, &mut pos);
        spans.push((pos, pos + len));
    }
    spans.extend(lists.into_iter().map(framed));
    spans
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn flipped_bytes_never_panic(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6)
    ) {
        let mut data = sample_index();
        for (at, byte) in flips {
            let i = at.index(data.len());
            data[i] = byte;
        }
        fuzz_read(&data);
    }

    /// Flips bytes and then fixes every checksum, so the decoders (not
    /// only the CRC checks) meet the damage.
    #[test]
    fn flipped_bytes_behind_valid_checksums_never_panic(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6)
    ) {
        let mut data = sample_index();
        let spans = crc_spans(&data);
        for (at, byte) in flips {
            let i = at.index(data.len());
            data[i] = byte;
        }
        for (start, end) in spans {
            let crc = crc32c::crc32c(&data[start..end]).to_be_bytes();
            data[end..end + 4].copy_from_slice(&crc);
        }
        fuzz_read(&data);
    }

    #[test]
    fn truncation_never_panics_and_fails_to_open(cut in any::<prop::sample::Index>()) {
        let data = sample_index();
        let n = cut.index(data.len());
        fuzz_read(&data[..n]);
        prop_assert!(IndexReader::new(data[..n].to_vec()).is_err());
    }

    #[test]
    fn arbitrary_bytes_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..400)) {
        // A valid header makes the reader look further.
        let mut data = vec![0xBA, 0xAA, 0xD7, 0x00, 0x02];
        data.extend(tail);
        fuzz_read(&data);
    }
}

/// Unsorted postings behind a valid checksum: caught when converted.
#[test]
fn unsorted_postings_are_an_error() {
    let data = sample_index();
    let r = IndexReader::new(data.clone()).unwrap();
    let p = r.postings("job", "api").unwrap();
    assert!(p.len() >= 3);
    let second = p.get(1).unwrap();
    // Find the list in the file and make its middle ID jump past the end.
    let needle: Vec<u8> = p.iter().flat_map(u32::to_be_bytes).collect();
    // `__name__="up"` holds the same series; its list comes first.
    let at = data
        .windows(needle.len())
        .rposition(|w| w == needle)
        .unwrap();
    let mut bad = data.clone();
    bad[at + 4..at + 8].copy_from_slice(&(u32::MAX - 1).to_be_bytes());
    let crc = crc32c::crc32c(&bad[at - 4..at + needle.len()]).to_be_bytes();
    bad[at + needle.len()..at + needle.len() + 4].copy_from_slice(&crc);
    let r = IndexReader::new(bad).unwrap();
    let p = r.postings("job", "api").unwrap();
    assert_eq!(p.get(1), Some(u32::MAX - 1));
    assert_ne!(p.get(1), Some(second));
    assert!(p.to_bitmap().is_err());
    let ms = [ember_model::Matcher::equal("job", "api")];
    assert!(ember_index::postings_for_matchers(&r, &ms).is_err());
    let ms = [ember_model::Matcher::new(ember_model::MatchOp::Regex, "job", "api|db").unwrap()];
    assert!(ember_index::postings_for_matchers(&r, &ms).is_err());
}
