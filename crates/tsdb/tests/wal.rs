//! The WAL: page layout, round trips across pages and segments, torn and
//! corrupted tails and their repair, arbitrary input, checkpoints and
//! failed writes.

use std::fs;
use std::path::{Path, PathBuf};

use ember_model::{labels, Histogram, Labels, MetricType, Span};
use ember_tsdb::tombstones::Interval;
use ember_tsdb::wal::record::{
    self, Decoder, Record, RefExemplar, RefHistogramSample, RefMetadata, RefSample, RefSeries,
    RefTombstone,
};
use ember_tsdb::wal::{
    segment_name, Compression, Reader, ReplayStats, SegmentRange, Wal, WalError, WalOptions,
    PAGE_SIZE,
};
use proptest::prelude::*;

mod common;
use common::copy_dir;

const PAGE: u64 = PAGE_SIZE as u64;

fn opts(pages: u64, compression: Compression) -> WalOptions {
    WalOptions {
        segment_size: pages * PAGE,
        compression,
    }
}

/// Deterministic record bytes: compressible when `i` is even.
fn rec(i: usize, len: usize) -> Vec<u8> {
    if i.is_multiple_of(2) {
        (0..len).map(|j| ((i + j / 64) % 251) as u8 + 1).collect()
    } else {
        let mut x = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }
}

fn replay(dir: &Path, o: WalOptions) -> (Vec<Vec<u8>>, ReplayStats, Wal) {
    let wal = Wal::open(dir, o).unwrap();
    let mut got = Vec::new();
    let stats = wal
        .replay(|r| {
            got.push(r.to_vec());
            Ok(())
        })
        .unwrap();
    (got, stats, wal)
}

/// Records read, and the error that stopped the reader early, if any.
type ReadResult = Result<Vec<Vec<u8>>, (Vec<Vec<u8>>, WalError)>;

fn read_all(ranges: &[SegmentRange]) -> ReadResult {
    let mut r = Reader::open(ranges).unwrap();
    let mut out = Vec::new();
    loop {
        match r.next_record() {
            Ok(Some(rec)) => out.push(rec.to_vec()),
            Ok(None) => return Ok(out),
            Err(e) => return Err((out, e)),
        }
    }
}

/// Every record of a segment with its start and end offset.
fn spans(dir: &Path, seg: u32) -> Vec<(u64, u64)> {
    let mut r = Reader::open_segment(dir, seg);
    let mut out = Vec::new();
    while r.next_record().unwrap().is_some() {
        out.push((r.record_start(), r.offset()));
    }
    out
}

#[test]
fn page_layout_matches_prometheus_format() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), opts(3, Compression::None)).unwrap();
    let a = rec(1, 10);
    let b = rec(3, 40_000);
    // Leaves 3 bytes in page 1: fewer than a header, so the page is padded.
    let c = rec(5, PAGE_SIZE - (7 + 7256) - 7 - 3);
    // Larger than the rest of segment 0 (one page): goes to segment 1.
    let d = rec(7, 40_000);
    let empty: Vec<u8> = Vec::new();
    wal.log(&[&a, &b]).unwrap();
    wal.log(&[&c]).unwrap();
    wal.log(&[&d, &empty]).unwrap();
    wal.close().unwrap();

    let s0 = fs::read(segment_name(dir.path(), 0)).unwrap();
    let s1 = fs::read(segment_name(dir.path(), 1)).unwrap();
    assert_eq!(
        s0.len(),
        2 * PAGE_SIZE,
        "the empty third page is not written"
    );
    assert_eq!(s1.len(), 2 * PAGE_SIZE, "closing pads the last page");

    let header = |typ: u8, data: &[u8]| {
        let mut h = vec![typ];
        h.extend_from_slice(&(data.len() as u16).to_be_bytes());
        h.extend_from_slice(&crc32c::crc32c(data).to_be_bytes());
        h
    };
    // a: one full fragment.
    assert_eq!(s0[..7], header(1, &a)[..]);
    assert_eq!(s0[7..17], a[..]);
    // b: first fragment fills page 0, last fragment opens page 1.
    let first = PAGE_SIZE - 17 - 7;
    assert_eq!(first, 32_744);
    assert_eq!(s0[17..24], header(2, &b[..first])[..]);
    assert_eq!(s0[24..PAGE_SIZE], b[..first]);
    let p1 = PAGE_SIZE;
    assert_eq!(s0[p1..p1 + 7], header(4, &b[first..])[..]);
    assert_eq!(s0[p1 + 7..p1 + 7 + 7256], b[first..]);
    // c: full, then three bytes of padding.
    let at = p1 + 7 + 7256;
    assert_eq!(s0[at..at + 7], header(1, &c)[..]);
    assert_eq!(s0[at + 7..at + 7 + c.len()], c[..]);
    assert_eq!(at + 7 + c.len(), 2 * PAGE_SIZE - 3);
    assert_eq!(s0[2 * PAGE_SIZE - 3..], [0, 0, 0]);
    // d: whole page of first fragment in segment 1, then the last.
    assert_eq!(s1[..7], header(2, &d[..PAGE_SIZE - 7])[..]);
    assert_eq!(
        s1[PAGE_SIZE..PAGE_SIZE + 7],
        header(4, &d[PAGE_SIZE - 7..])[..]
    );
    let at = PAGE_SIZE + 7 + (40_000 - (PAGE_SIZE - 7));
    // The empty record: a full fragment of no bytes (CRC of nothing is 0).
    assert_eq!(s1[at..at + 7], [1, 0, 0, 0, 0, 0, 0]);
    assert!(s1[at + 7..].iter().all(|&x| x == 0));

    // Snappy: flag bit 3, data is the snappy block.
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), opts(4, Compression::Snappy)).unwrap();
    let compressible = vec![b'x'; 1000];
    let incompressible = rec(9, 40);
    wal.log(&[&compressible, &incompressible]).unwrap();
    wal.close().unwrap();
    let s0 = fs::read(segment_name(dir.path(), 0)).unwrap();
    assert_eq!(s0[0], 0x09);
    let len = u16::from_be_bytes([s0[1], s0[2]]) as usize;
    let data = &s0[7..7 + len];
    assert_eq!(
        snap::raw::Decoder::new().decompress_vec(data).unwrap(),
        compressible
    );
    assert_eq!(s0[7 + len], 0x01, "incompressible records are stored as is");
    let (got, _, _) = replay(dir.path(), opts(4, Compression::Snappy));
    assert_eq!(got, [compressible, incompressible]);
}

#[test]
fn zstd_records_are_read() {
    // Prometheus 3's --storage.tsdb.wal-compression-type=zstd: flag bit 4.
    let dir = tempfile::tempdir().unwrap();
    let records: Vec<Vec<u8>> = (0..5).map(|i| rec(2 * i, 20_000 + i * 9000)).collect();
    let mut seg = Vec::new();
    let mut page_left = PAGE_SIZE;
    for r in &records {
        let z =
            ruzstd::encoding::compress_to_vec(&r[..], ruzstd::encoding::CompressionLevel::Fastest);
        let mut rest = &z[..];
        let mut first = true;
        loop {
            if page_left < 7 {
                seg.extend(std::iter::repeat_n(0u8, page_left));
                page_left = PAGE_SIZE;
            }
            let n = rest.len().min(page_left - 7);
            let (part, tail) = rest.split_at(n);
            let typ = match (first, tail.is_empty()) {
                (true, true) => 1,
                (true, false) => 2,
                (false, true) => 4,
                (false, false) => 3,
            };
            seg.push(typ | 0x10);
            seg.extend_from_slice(&(n as u16).to_be_bytes());
            seg.extend_from_slice(&crc32c::crc32c(part).to_be_bytes());
            seg.extend_from_slice(part);
            page_left -= 7 + n;
            rest = tail;
            first = false;
            if rest.is_empty() {
                break;
            }
        }
    }
    fs::write(segment_name(dir.path(), 0), &seg).unwrap();
    assert_eq!(read_all(&[SegmentRange::all(dir.path())]).unwrap(), records);
    let (got, stats, _) = replay(dir.path(), WalOptions::default());
    assert_eq!(got, records);
    assert_eq!(stats.corruption, None);
}

/// `len` pseudo-random bytes from `seed`.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn batches_strategy() -> impl Strategy<Value = Vec<Vec<usize>>> {
    let len = prop_oneof![
        4 => 0usize..200,
        3 => 200usize..40_000,
        1 => 40_000usize..150_000,
    ];
    prop::collection::vec(prop::collection::vec(len, 1..5), 1..25)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    /// Random records, batched, across pages and (small) segments, with
    /// and without compression, read back identically by the reader and
    /// by replay; segments never exceed their size unless one record does.
    #[test]
    fn roundtrip(batches in batches_strategy(), pages in 2u64..6, snappy in any::<bool>()) {
        let compression = if snappy { Compression::Snappy } else { Compression::None };
        let o = opts(pages, compression);
        let dir = tempfile::tempdir().unwrap();
        let wal = Wal::open(dir.path(), o).unwrap();
        let mut want = Vec::new();
        let mut i = 0;
        for b in &batches {
            let recs: Vec<Vec<u8>> = b.iter().map(|&l| { i += 1; rec(i, l) }).collect();
            wal.log(&recs).unwrap();
            want.extend(recs);
        }
        // Readable while open (last page not padded yet).
        prop_assert_eq!(read_all(&[SegmentRange::all(dir.path())]).unwrap(), want.clone());
        wal.close().unwrap();
        for s in fs::read_dir(dir.path()).unwrap() {
            let s = s.unwrap();
            let len = s.metadata().unwrap().len();
            prop_assert_eq!(len % PAGE, 0);
            if len > pages * PAGE {
                // Only a segment holding one oversized record may be larger.
                let seg: u32 = s.file_name().to_str().unwrap().parse().unwrap();
                prop_assert_eq!(spans(dir.path(), seg).len(), 1);
            }
        }
        let (got, stats, wal) = replay(dir.path(), o);
        prop_assert_eq!(stats.corruption, None);
        prop_assert_eq!(stats.records as usize, want.len());
        prop_assert_eq!(got, want);
        prop_assert_eq!(wal.metrics().corruptions_total, 0);
    }
}

/// A small WAL whose last segment ends with a record spanning two pages
/// and a few small records.
fn small_wal(dir: &Path) -> Vec<Vec<u8>> {
    let wal = Wal::open(dir, opts(2, Compression::None)).unwrap();
    let mut want = Vec::new();
    let mut push = |r: Vec<u8>| {
        wal.log(&[&r]).unwrap();
        want.push(r);
    };
    push(rec(1, 30_000));
    push(rec(3, 30_000));
    push(rec(17, 40_000)); // segment 1, spanning its two pages
    push(rec(5, 3_000));
    push(rec(7, 200));
    push(rec(9, 5));
    push(rec(11, 900));
    push(rec(13, 0));
    push(rec(15, 1_500));
    wal.close().unwrap();
    assert_eq!(ember_tsdb::wal::segments(dir).unwrap(), Some((0, 1)));
    want
}

/// How many of the records survive the bytes after `cut` of the last
/// segment being lost: those that end before it.
fn survivors(before: usize, spans: &[(u64, u64)], cut: u64) -> usize {
    before + spans.iter().filter(|s| s.1 <= cut).count()
}

#[test]
fn torn_last_page_at_every_offset() {
    let base = tempfile::tempdir().unwrap();
    let src = base.path().join("src");
    let want = small_wal(&src);
    let seg1 = segment_name(&src, 1);
    let orig = fs::read(&seg1).unwrap();
    let sp = spans(&src, 1);
    let before = want.len() - sp.len();
    let last_page = orig.len() - PAGE_SIZE;
    let data_end = sp.last().unwrap().1 as usize;
    assert!(data_end > last_page);
    let cuts: Vec<usize> = (last_page..=data_end + 16)
        .chain((data_end + 16..=orig.len()).step_by(997))
        .chain([orig.len()])
        .collect();
    let scratch = base.path().join("cut");
    fs::create_dir_all(&scratch).unwrap();
    let mut repaired = 0;
    for (k, &cut) in cuts.iter().enumerate() {
        let expect = survivors(before, &sp, cut as u64);
        fs::copy(segment_name(&src, 0), segment_name(&scratch, 0)).unwrap();
        fs::write(segment_name(&scratch, 1), &orig[..cut]).unwrap();
        let got = match read_all(&[SegmentRange::all(&scratch)]) {
            Ok(v) => v,
            Err((v, e)) => {
                assert!(e.as_corruption().is_some(), "cut {cut}: {e}");
                v
            }
        };
        assert_eq!(got.len(), expect, "cut at {cut}");
        assert_eq!(got[..], want[..expect]);

        // The full replay and repair on a sample of the offsets.
        let boundary = sp
            .iter()
            .any(|&(s, e)| cut.abs_diff(s as usize) < 9 || cut.abs_diff(e as usize) < 9);
        if k % 37 == 0 || boundary {
            let dir = base.path().join(format!("r{cut}"));
            fs::create_dir_all(&dir).unwrap();
            fs::copy(segment_name(&scratch, 0), segment_name(&dir, 0)).unwrap();
            fs::copy(segment_name(&scratch, 1), segment_name(&dir, 1)).unwrap();
            let o = opts(2, Compression::None);
            let (got, stats, wal) = replay(&dir, o);
            assert_eq!(got[..], want[..expect], "replay, cut at {cut}");
            if stats.corruption.is_some() {
                repaired += 1;
                assert_eq!(wal.metrics().corruptions_total, 1);
            }
            wal.log(&[b"after repair".as_slice()]).unwrap();
            drop(wal);
            let (again, stats, _) = replay(&dir, o);
            assert_eq!(
                stats.corruption, None,
                "cut at {cut}: repaired WAL is clean"
            );
            assert_eq!(again.len(), expect + 1);
            assert_eq!(again[..expect], want[..expect]);
            assert_eq!(again[expect], b"after repair");
            fs::remove_dir_all(&dir).unwrap();
        }
    }
    assert!(repaired > 10, "repaired {repaired}");
}

/// Flipping any byte of a record's header or data loses exactly that
/// record and everything after it; padding bytes that are not zero too.
#[test]
fn flipped_bytes_lose_exactly_the_damaged_record_and_after() {
    let base = tempfile::tempdir().unwrap();
    let src = base.path().join("src");
    let want = small_wal(&src);
    let o = opts(2, Compression::None);
    let mut cases = Vec::new();
    let mut index = 0;
    for seg in 0..2u32 {
        for (start, end) in spans(&src, seg) {
            // Length, CRC and a data byte (when there is one) of the first
            // fragment, and the last data byte of the record.
            for at in [start + 1, start + 2, start + 4, start + 7, end - 1] {
                if at < end {
                    cases.push((seg, at, index));
                }
            }
            index += 1;
        }
    }
    // A non-zero byte in the padding at the end of segment 1.
    let last = spans(&src, 1).last().unwrap().1;
    cases.push((1, last + 3, want.len()));
    for (n, &(seg, at, expect)) in cases.iter().enumerate() {
        let dir = base.path().join(format!("f{n}"));
        copy_dir(&src, &dir);
        let path = segment_name(&dir, seg);
        let mut bytes = fs::read(&path).unwrap();
        bytes[at as usize] ^= 0x5a;
        fs::write(&path, &bytes).unwrap();
        let (got, stats, wal) = replay(&dir, o);
        assert_eq!(got[..], want[..expect], "flip at {seg}:{at}");
        let c = stats.corruption.expect("corruption detected");
        assert_eq!(c.segment, seg);
        assert_eq!(wal.metrics().corruptions_total, 1);
        drop(wal);
        let (again, stats, _) = replay(&dir, o);
        assert_eq!(stats.corruption, None);
        assert_eq!(again[..], want[..expect]);
        if seg == 0 {
            assert!(
                !segment_name(&dir, 1).exists()
                    || fs::metadata(segment_name(&dir, 1)).unwrap().len() < PAGE
            );
        }
    }
}

#[test]
fn zeroed_pages_and_segments() {
    let base = tempfile::tempdir().unwrap();
    let src = base.path().join("src");
    let o = opts(4, Compression::None);
    let wal = Wal::open(&src, o).unwrap();
    let want: Vec<Vec<u8>> = (0..24).map(|i| rec(2 * i + 1, 9_000)).collect();
    for r in &want {
        wal.log(&[r]).unwrap();
    }
    wal.close().unwrap();
    assert_eq!(ember_tsdb::wal::segments(&src).unwrap(), Some((0, 1)));
    let count_before = |seg: u32, offset: u64| {
        let before = if seg == 1 { spans(&src, 0).len() } else { 0 };
        before + spans(&src, seg).iter().filter(|s| s.1 <= offset).count()
    };
    let cases: Vec<(&str, u32, u64, Option<u64>, usize)> = vec![
        // Whole last segment zeroed: reads as empty; nothing after it.
        ("last segment", 1, 0, None, count_before(1, 0)),
        // A page in the middle of the last segment.
        (
            "middle page",
            1,
            PAGE,
            Some(2 * PAGE),
            count_before(1, PAGE),
        ),
        // The tail of the last segment from inside a record.
        ("tail", 1, PAGE + 100, None, count_before(1, PAGE + 100)),
        // A whole segment that is not the last.
        ("first segment", 0, 0, None, 0),
    ];
    for (name, seg, from, to, expect) in cases {
        let dir = base.path().join(name.replace(' ', "_"));
        copy_dir(&src, &dir);
        let path = segment_name(&dir, seg);
        let mut bytes = fs::read(&path).unwrap();
        let to = to.unwrap_or(bytes.len() as u64) as usize;
        bytes[from as usize..to].fill(0);
        fs::write(&path, &bytes).unwrap();
        let (got, stats, _) = replay(&dir, o);
        assert_eq!(got.len(), expect, "{name}");
        assert_eq!(got[..], want[..expect], "{name}");
        if name != "last segment" {
            assert!(stats.corruption.is_some(), "{name}");
        }
        let (again, stats, _) = replay(&dir, o);
        assert_eq!(stats.corruption, None, "{name}");
        assert_eq!(again.len(), expect, "{name}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Any change to any byte: no panic, the records read are a prefix of
    /// the originals (a flip in a flag bit may alter the damaged record
    /// itself), every record wholly before the damage is kept, and after
    /// the repair the WAL replays cleanly to the same records.
    #[test]
    fn any_flip_keeps_a_prefix(pos in any::<prop::sample::Index>(), mask in 1u8..=255, snappy in any::<bool>()) {
        let base = tempfile::tempdir().unwrap();
        let compression = if snappy { Compression::Snappy } else { Compression::None };
        let o = opts(2, compression);
        let wal = Wal::open(base.path(), o).unwrap();
        let want: Vec<Vec<u8>> = (0..12).map(|i| rec(i, [10, 3000, 25_000][i % 3])).collect();
        for r in &want {
            wal.log(&[r]).unwrap();
        }
        wal.close().unwrap();
        let (first, last) = ember_tsdb::wal::segments(base.path()).unwrap().unwrap();
        let mut files: Vec<(u32, Vec<u8>)> = (first..=last)
            .map(|s| (s, fs::read(segment_name(base.path(), s)).unwrap()))
            .collect();
        let total: usize = files.iter().map(|f| f.1.len()).sum();
        let mut at = pos.index(total);
        let mut damaged_seg = 0;
        let mut intact = 0;
        for (s, bytes) in files.iter_mut() {
            if at < bytes.len() {
                damaged_seg = *s;
                intact += spans(base.path(), *s).iter().filter(|sp| sp.1 as usize <= at).count();
                bytes[at] ^= mask;
                break;
            }
            intact += spans(base.path(), *s).len();
            at -= bytes.len();
        }
        for (s, bytes) in &files {
            fs::write(segment_name(base.path(), *s), bytes).unwrap();
        }
        let (got, stats, wal) = replay(base.path(), o);
        // A flip in a header's flag bits can alter the damaged record, and
        // one that turns padding into a header can add an empty record:
        // what is before the damage is always intact.
        let exact = got.iter().zip(&want).take_while(|(a, b)| a == b).count();
        prop_assert!(exact >= intact, "lost intact records: {exact} < {intact}");
        prop_assert!(got.len() <= want.len() + 1);
        if let Some(c) = &stats.corruption {
            prop_assert_eq!(c.segment, damaged_seg);
        }
        drop(wal);
        let (again, stats, _) = replay(base.path(), o);
        prop_assert_eq!(stats.corruption, None);
        prop_assert_eq!(again, got);
    }

    /// Arbitrary bytes as segments: the reader and the replay never panic,
    /// and a repaired WAL replays cleanly.
    #[test]
    fn arbitrary_segments(
        segs in prop::collection::vec((any::<u64>(), 0usize..70_000, prop::collection::vec(any::<u8>(), 0..64)), 1..4),
    ) {
        let dir = tempfile::tempdir().unwrap();
        for (i, (seed, len, head)) in segs.iter().enumerate() {
            // Random bytes (fast to make), led by proptest-chosen ones.
            let mut bytes = head.clone();
            bytes.extend(noise(*seed, *len));
            fs::write(segment_name(dir.path(), i as u32), bytes).unwrap();
        }
        let read = read_all(&[SegmentRange::all(dir.path())]);
        let n = match &read { Ok(v) => v.len(), Err((v, _)) => v.len() };
        let o = WalOptions::default();
        let (got, _, wal) = replay(dir.path(), o);
        prop_assert_eq!(got.len(), n);
        drop(wal);
        let (again, stats, _) = replay(dir.path(), o);
        prop_assert_eq!(stats.corruption, None);
        prop_assert_eq!(again, got);
    }

    /// Well-formed fragment headers with random types, flags, lengths and
    /// contents (so that the checks past the CRC are reached): no panic.
    #[test]
    fn arbitrary_fragments(frags in prop::collection::vec((0u8..=255, any::<u64>(), 0usize..9000), 0..40)) {
        let dir = tempfile::tempdir().unwrap();
        let mut seg = Vec::new();
        for (typ, seed, len) in &frags {
            // Compressible data half the time, so that snappy and zstd
            // decoders see plausible input.
            let data = if seed % 2 == 0 { vec![(*seed >> 8) as u8; *len] } else { noise(*seed, *len) };
            let data = &data;
            let room = PAGE_SIZE - seg.len() % PAGE_SIZE;
            if room < 7 + data.len() {
                seg.extend(std::iter::repeat_n(0u8, room));
            }
            seg.push(*typ);
            seg.extend_from_slice(&(data.len() as u16).to_be_bytes());
            seg.extend_from_slice(&crc32c::crc32c(data).to_be_bytes());
            seg.extend_from_slice(data);
        }
        fs::write(segment_name(dir.path(), 0), &seg).unwrap();
        let _ = read_all(&[SegmentRange::all(dir.path())]);
        let (got, _, wal) = replay(dir.path(), WalOptions::default());
        drop(wal);
        let (again, stats, _) = replay(dir.path(), WalOptions::default());
        prop_assert_eq!(stats.corruption, None);
        prop_assert_eq!(again, got);
    }

    /// Arbitrary record payloads: decoding never panics.
    #[test]
    fn arbitrary_records_decode_without_panic(t in 0u8..16, body in prop::collection::vec(any::<u8>(), 0..400)) {
        let mut r = vec![t];
        r.extend_from_slice(&body);
        let _ = Decoder::new().decode(&r);
    }
}

#[test]
fn undecodable_record_is_corruption_and_is_repaired() {
    let dir = tempfile::tempdir().unwrap();
    let o = WalOptions::default();
    let wal = Wal::open(dir.path(), o).unwrap();
    let mut good = Vec::new();
    record::encode_series(
        &[RefSeries {
            series_ref: 1,
            labels: labels!("__name__" => "up"),
        }],
        &mut good,
    );
    let bad = vec![2u8, 1, 2, 3]; // a Samples record cut short
    wal.log(&[&good, &bad, &good]).unwrap();
    wal.close().unwrap();
    let decode_all = |dir: &Path| {
        let wal = Wal::open(dir, o).unwrap();
        let mut dec = Decoder::new();
        let mut n = 0;
        let stats = wal
            .replay(|r| {
                dec.decode(r)?;
                n += 1;
                Ok(())
            })
            .unwrap();
        (n, stats)
    };
    let (n, stats) = decode_all(dir.path());
    assert_eq!(n, 1);
    let c = stats.corruption.unwrap();
    assert!(c.message.contains("decode samples"), "{c}");
    let (n, stats) = decode_all(dir.path());
    assert_eq!((n, stats.corruption), (1, None));

    // Other handler errors abort without repair.
    let wal = Wal::open(dir.path(), o).unwrap();
    let err = wal
        .replay(|_| Err(WalError::aborted("head is full")))
        .unwrap_err();
    assert!(matches!(err, WalError::Aborted(_)), "{err}");
}

fn series(r: u64) -> RefSeries {
    RefSeries {
        series_ref: r,
        labels: Labels::from_pairs([("__name__", "m".to_string()), ("i", r.to_string())]).unwrap(),
    }
}

fn hist(schema: i32) -> Histogram {
    Histogram {
        schema,
        count: 3,
        sum: 1.5,
        positive_spans: vec![Span {
            offset: 0,
            length: 2,
        }],
        positive_buckets: vec![1, 1],
        custom_values: if schema == -53 {
            vec![1.0, 2.0]
        } else {
            vec![]
        },
        ..Default::default()
    }
}

/// Logs, per "minute" t in 0..n: series on first use, samples of all
/// series, sometimes exemplars, histograms, metadata and tombstones.
fn log_history(wal: &Wal, n: i64, nseries: u64) {
    for t in 0..n {
        let mut recs = Vec::new();
        if t == 0 {
            let mut b = Vec::new();
            record::encode_series(&(1..=nseries).map(series).collect::<Vec<_>>(), &mut b);
            recs.push(b);
        }
        let mut b = Vec::new();
        let samples: Vec<_> = (1..=nseries)
            .map(|r| RefSample {
                series_ref: r,
                t: t * 1000,
                v: (t as f64) + r as f64 / 100.0,
                st: 0,
            })
            .collect();
        record::encode_samples(&samples, &mut b);
        recs.push(b);
        if t % 10 == 0 {
            let mut b = Vec::new();
            record::encode_exemplars(
                &[RefExemplar {
                    series_ref: 1,
                    t: t * 1000,
                    v: 1.0,
                    labels: Labels::from_pairs([("trace_id", t.to_string())]).unwrap(),
                }],
                &mut b,
            );
            recs.push(b);
            let mut b = Vec::new();
            record::encode_metadata(
                &[RefMetadata {
                    series_ref: 2,
                    metric_type: MetricType::Counter,
                    unit: String::new(),
                    help: format!("help at {t}"),
                }],
                &mut b,
            );
            recs.push(b);
            let hs = [
                RefHistogramSample {
                    series_ref: 3,
                    t: t * 1000,
                    st: 0,
                    h: hist(1),
                },
                RefHistogramSample {
                    series_ref: 4,
                    t: t * 1000,
                    st: 0,
                    h: hist(-53),
                },
            ];
            let mut b = Vec::new();
            assert!(record::encode_histogram_samples(&hs, &mut b));
            recs.push(b);
            let mut b = Vec::new();
            assert!(record::encode_custom_buckets_histogram_samples(&hs, &mut b));
            recs.push(b);
            let mut b = Vec::new();
            record::encode_tombstones(
                &[
                    RefTombstone {
                        series_ref: 5,
                        interval: Interval::new(t * 1000, t * 1000 + 500),
                    },
                    RefTombstone {
                        series_ref: 6,
                        interval: Interval::new(t * 1000, t * 1000 + 500),
                    },
                ],
                &mut b,
            );
            recs.push(b);
            recs.push(vec![200, 1, 2, 3]); // a record type from the future
        }
        wal.log(&recs).unwrap();
    }
}

#[derive(Default, Debug)]
struct Seen {
    series: Vec<u64>,
    samples: Vec<(u64, i64)>,
    exemplars: Vec<i64>,
    metadata: Vec<(u64, String)>,
    histograms: Vec<(u64, i64)>,
    tombstones: Vec<(u64, i64)>,
    unknown: u64,
}

impl Seen {
    /// Notes what `rec` holds; hands back a record of a kind not noted.
    fn note(&mut self, rec: Record) -> Result<(), Record> {
        match rec {
            Record::Series(v) => self.series.extend(v.iter().map(|s| s.series_ref)),
            Record::Samples(v) => self.samples.extend(v.iter().map(|s| (s.series_ref, s.t))),
            Record::Exemplars(v) => self.exemplars.extend(v.iter().map(|e| e.t)),
            Record::Metadata(v) => self
                .metadata
                .extend(v.into_iter().map(|m| (m.series_ref, m.help))),
            Record::HistogramSamples(v) => self
                .histograms
                .extend(v.iter().map(|h| (h.series_ref, h.t))),
            Record::Tombstones(v) => self
                .tombstones
                .extend(v.iter().map(|t| (t.series_ref, t.interval.mint))),
            other => return Err(other),
        }
        Ok(())
    }
}

fn replay_decoded(dir: &Path, o: WalOptions) -> (Seen, ReplayStats) {
    let wal = Wal::open(dir, o).unwrap();
    let mut dec = Decoder::new();
    let mut seen = Seen::default();
    let stats = wal
        .replay(|r| {
            match seen.note(dec.decode(r)?) {
                Ok(()) => {}
                Err(Record::Unknown(_)) => seen.unknown += 1,
                Err(other) => panic!("unexpected {other:?}"),
            }
            Ok(())
        })
        .unwrap();
    (seen, stats)
}

#[test]
fn checkpoint_keeps_what_is_needed_and_replay_reads_it_first() {
    let dir = tempfile::tempdir().unwrap();
    let o = opts(1, Compression::Snappy);
    let wal = Wal::open(dir.path(), o).unwrap();
    wal.replay(|_| Ok(())).unwrap();
    log_history(&wal, 300, 64);
    let (first, last) = wal.segment_range().unwrap().unwrap();
    assert!(last - first >= 4, "{first}..{last}");
    // Keep even series; drop data before t=100s.
    let mint = 100_000;
    let out = wal
        .truncate_with_checkpoint(mint, |r| r % 2 == 0)
        .unwrap()
        .expect("checkpointed");
    assert_eq!(out.first, first);
    // The last segment is never checkpointed; two thirds of the rest are.
    assert_eq!(out.last, first + (last - 1 - first) * 2 / 3);
    assert_eq!((out.stats.dropped_series, out.stats.total_series), (32, 64));
    assert!(out.stats.dropped_samples > 0);
    let cp = ember_tsdb::wal::checkpoint_dir(dir.path(), out.last);
    assert!(cp.is_dir());
    assert_eq!(
        ember_tsdb::wal::segments(dir.path()).unwrap().unwrap().0,
        out.last + 1
    );

    // The checkpoint alone.
    let mut dec = Decoder::new();
    let mut r = Reader::open(&[SegmentRange::all(&cp)]).unwrap();
    let mut seen = Seen::default();
    while let Some(rec) = r.next_record().unwrap() {
        if let Err(other) = seen.note(dec.decode(rec).unwrap()) {
            panic!("unexpected in checkpoint: {other:?}");
        }
    }
    let even: Vec<u64> = (1..=32).map(|i| 2 * i).collect();
    assert_eq!(seen.series, even);
    assert!(!seen.samples.is_empty());
    assert!(seen.samples.iter().all(|&(_, t)| t >= mint));
    assert!(seen.exemplars.iter().all(|&t| t >= mint));
    assert!(seen.histograms.iter().all(|&(_, t)| t >= mint));
    assert!(
        seen.histograms.iter().any(|&(r, _)| r == 4),
        "custom buckets kept"
    );
    assert!(!seen.tombstones.is_empty());
    assert!(
        seen.tombstones.iter().all(|&(r, _)| r == 6),
        "only of kept series"
    );
    assert_eq!(seen.metadata.len(), 1, "latest metadata only");
    assert_eq!(seen.metadata[0].0, 2);
    drop(wal);

    // Replay: checkpoint, then the segments after it, in time order.
    let (seen, stats) = replay_decoded(dir.path(), o);
    assert_eq!(stats.checkpoint, Some(out.last));
    assert_eq!(stats.corruption, None);
    assert_eq!(seen.series, even);
    let ts: Vec<i64> = seen
        .samples
        .iter()
        .filter(|s| s.0 == 2)
        .map(|s| s.1)
        .collect();
    assert!(ts.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(*ts.last().unwrap(), 299_000);
    assert!(
        seen.unknown > 0,
        "future records after the checkpoint are skipped"
    );

    // A second checkpoint merges the first and deletes it.
    let wal = Wal::open(dir.path(), o).unwrap();
    wal.replay(|_| Ok(())).unwrap();
    log_history(&wal, 200, 64);
    let out2 = wal
        .truncate_with_checkpoint(150_000, |r| r % 4 == 0)
        .unwrap()
        .expect("checkpointed");
    assert!(out2.last > out.last);
    assert!(!cp.exists(), "older checkpoint deleted");
    assert_eq!(wal.metrics().checkpoint_creations_total, 1);
    drop(wal);
    let (seen, stats) = replay_decoded(dir.path(), o);
    assert_eq!(stats.checkpoint, Some(out2.last));
    // Series 4 and 8 from the old checkpoint, then all 8 again (t == 0).
    assert_eq!(seen.series[..2], [4, 8]);
}

#[test]
fn leftover_temporary_checkpoint_and_damaged_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let o = opts(1, Compression::None);
    let wal = Wal::open(dir.path(), o).unwrap();
    log_history(&wal, 200, 64);
    let out = wal.truncate_with_checkpoint(0, |_| true).unwrap().unwrap();
    drop(wal);
    // A crash while writing the next checkpoint left its .tmp directory.
    let tmp = dir.path().join("checkpoint.00000099.tmp");
    fs::create_dir_all(&tmp).unwrap();
    fs::write(tmp.join("00000000"), b"junk").unwrap();
    let (seen, stats) = replay_decoded(dir.path(), o);
    assert!(!tmp.exists());
    assert_eq!(stats.checkpoint, Some(out.last));
    assert_eq!(seen.samples.len(), 200 * 64);

    // A damaged checkpoint is an error, not a repair.
    let cp = ember_tsdb::wal::checkpoint_dir(dir.path(), out.last);
    let seg = segment_name(&cp, 0);
    let mut b = fs::read(&seg).unwrap();
    b[20] ^= 1;
    fs::write(&seg, &b).unwrap();
    let wal = Wal::open(dir.path(), o).unwrap();
    let err = wal.replay(|_| Ok(())).unwrap_err();
    assert!(err.as_corruption().is_some(), "{err}");
    assert_eq!(wal.metrics().corruptions_total, 1);
}

#[test]
fn open_writes_after_checkpoint_even_without_segments() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("checkpoint.00000007")).unwrap();
    let wal = Wal::open(dir.path(), WalOptions::default()).unwrap();
    assert_eq!(wal.position().unwrap(), (8, 0));
    assert_eq!(wal.metrics().current_segment, 8);
}

#[test]
fn missing_segment_after_checkpoint_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let o = opts(1, Compression::None);
    let wal = Wal::open(dir.path(), o).unwrap();
    log_history(&wal, 200, 64);
    let out = wal.truncate_with_checkpoint(0, |_| true).unwrap().unwrap();
    drop(wal);
    fs::remove_file(segment_name(dir.path(), out.last + 1)).unwrap();
    let wal = Wal::open(dir.path(), o).unwrap();
    let err = wal.replay(|_| Ok(())).unwrap_err();
    assert!(err.to_string().contains("missing"), "{err}");
    drop(wal);
    // A gap in the middle of the segments.
    fs::remove_file(segment_name(dir.path(), out.last + 3)).unwrap();
    assert!(Wal::open(dir.path(), o).is_err());
}

#[test]
fn replay_must_come_first_and_close_is_final() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), WalOptions::default()).unwrap();
    wal.log(&[b"x"]).unwrap();
    assert!(matches!(
        wal.replay(|_| Ok(())),
        Err(WalError::InvalidInput(_))
    ));
    wal.close().unwrap();
    wal.close().unwrap();
    assert!(matches!(wal.log(&[b"y"]), Err(WalError::Closed)));
    assert!(Wal::open(
        dir.path(),
        WalOptions {
            segment_size: 1000,
            ..Default::default()
        }
    )
    .is_err());
}

#[test]
fn concurrent_batches_stay_whole() {
    let dir = tempfile::tempdir().unwrap();
    let o = opts(4, Compression::Snappy);
    let wal = Wal::open(dir.path(), o).unwrap();
    std::thread::scope(|s| {
        for th in 0..4u8 {
            let wal = &wal;
            s.spawn(move || {
                for i in 0..200u32 {
                    let a = [&[th][..], &i.to_be_bytes(), &[b'a'; 3000]].concat();
                    let b = [&[th][..], &i.to_be_bytes(), &[b'b'; 10]].concat();
                    wal.log(&[a, b]).unwrap();
                }
            });
        }
    });
    wal.close().unwrap();
    let (got, _, _) = replay(dir.path(), o);
    assert_eq!(got.len(), 1600);
    for pair in got.chunks(2) {
        assert_eq!(pair[0][..5], pair[1][..5]);
        assert_eq!((pair[0][5], pair[1][5]), (b'a', b'b'));
    }
    for th in 0..4u8 {
        let mine: Vec<&Vec<u8>> = got.iter().filter(|r| r[0] == th && r[5] == b'a').collect();
        assert_eq!(mine.len(), 200);
        assert!(mine.windows(2).all(|w| w[0][1..5] < w[1][1..5]));
    }
}

/// A write that fails in a segment the batch itself created (here: the
/// disk is full there) takes the whole batch back, across the segment
/// boundary; later writes go on.
#[test]
fn failed_write_in_new_segment_is_taken_back() {
    if !Path::new("/dev/full").exists() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let o = opts(2, Compression::None);
    let wal = Wal::open(dir.path(), o).unwrap();
    let a = rec(1, 30_000);
    wal.log(&[&a]).unwrap();
    std::os::unix::fs::symlink("/dev/full", segment_name(dir.path(), 1)).unwrap();
    let b = rec(3, 20_000);
    let c = rec(5, 60_000); // does not fit in segment 0
    let err = wal.log(&[&b, &c]).unwrap_err();
    assert!(matches!(err, WalError::Io { .. }), "{err}");
    assert_eq!(wal.metrics().writes_failed_total, 1);
    assert!(
        fs::symlink_metadata(segment_name(dir.path(), 1)).is_err(),
        "the segment the batch created is removed"
    );
    assert_eq!(
        read_all(&[SegmentRange::all(dir.path())]).unwrap(),
        std::slice::from_ref(&a)
    );
    let d = rec(7, 70_000);
    wal.log(&[&d]).unwrap();
    wal.close().unwrap();
    let (got, stats, _) = replay(dir.path(), o);
    assert_eq!(stats.corruption, None);
    assert_eq!(got, [a, d]);
}

#[test]
fn histograms_of_unknown_schema_and_future_records_do_not_stop_replay() {
    let dir = tempfile::tempdir().unwrap();
    let o = WalOptions::default();
    let wal = Wal::open(dir.path(), o).unwrap();
    let hs = [
        RefHistogramSample {
            series_ref: 1,
            t: 1,
            st: 0,
            h: hist(30),
        },
        RefHistogramSample {
            series_ref: 1,
            t: 2,
            st: 0,
            h: hist(2),
        },
    ];
    let mut b = Vec::new();
    record::encode_histogram_samples(&hs, &mut b);
    wal.log(&[b, vec![14, 0, 0], vec![]]).unwrap();
    wal.close().unwrap();
    let wal = Wal::open(dir.path(), o).unwrap();
    let mut dec = Decoder::new();
    let mut hists = 0;
    let stats = wal
        .replay(|r| {
            if let Record::HistogramSamples(v) = dec.decode(r)? {
                hists += v.len();
            }
            Ok(())
        })
        .unwrap();
    assert_eq!((stats.records, hists), (3, 1));
    assert_eq!(dec.stats().skipped_histograms, 1);
    assert_eq!(dec.stats().unknown_records, 2);
}

#[test]
fn truncate_never_deletes_the_active_segment() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), opts(2, Compression::None)).unwrap();
    for i in 0..10 {
        wal.log(&[rec(i, 20_000)]).unwrap();
    }
    let (seg, _) = wal.position().unwrap();
    wal.truncate(u32::MAX).unwrap();
    assert_eq!(
        ember_tsdb::wal::segments(dir.path()).unwrap(),
        Some((seg, seg))
    );
    wal.log(&[b"still writing"]).unwrap();
    assert_eq!(wal.metrics().truncations_total, 1);
    let _ = Labels::empty();
    let _: PathBuf = dir.path().to_path_buf();
}

#[test]
fn manual_read_and_repair() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Wal>();
    let dir = tempfile::tempdir().unwrap();
    let o = opts(2, Compression::None);
    let want = {
        let wal = Wal::open(dir.path(), o).unwrap();
        let recs: Vec<Vec<u8>> = (0..6).map(|i| rec(i, 5000)).collect();
        wal.log(&recs).unwrap();
        recs
    };
    let wal = Wal::open(dir.path(), o).unwrap();
    // Read by hand; declare the fourth record bad.
    let mut r = Reader::open(&[SegmentRange::new(dir.path(), 0, 0)]).unwrap();
    let mut n = 0;
    let bad = loop {
        let rec = r.next_record().unwrap().unwrap().to_vec();
        assert_eq!(rec, want[n]);
        n += 1;
        if n == 4 {
            break r.corruption_at_last_record("rejected by the caller");
        }
    };
    assert_eq!(bad.offset, r.record_start());
    wal.repair(&bad).unwrap();
    assert_eq!(wal.position().unwrap(), (1, 0));
    drop(wal);
    let (got, stats, _) = replay(dir.path(), o);
    assert_eq!(stats.corruption, None);
    assert_eq!(got[..], want[..3]);
}
