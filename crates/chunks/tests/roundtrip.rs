//! Property tests: the XOR codec round-trips bit for bit, a reopen is
//! invisible in the bytes, and arbitrary input never panics the decoder.

use ember_chunks::{fuzz_decode, XorChunk, XorIter};
use proptest::collection::{btree_set, vec};
use proptest::prelude::*;
use proptest::sample::{select, Index};

const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

/// Strictly increasing timestamps: either any sorted set of `i64` (huge
/// and negative gaps) or scrape-like runs with jitter and occasional jumps.
fn timestamps() -> impl Strategy<Value = Vec<i64>> {
    let sorted = btree_set(any::<i64>(), 0..200).prop_map(|s| s.into_iter().collect());
    let delta = prop_oneof![
        4 => Just(15_000i64),
        4 => 14_991i64..=15_009,
        2 => 1i64..1_000,
        1 => 1i64..(1 << 40),
        1 => 1i64..=i64::MAX,
    ];
    let runs = (any::<i64>(), vec(delta, 0..300)).prop_map(|(start, deltas)| {
        let mut t = start;
        let mut out = vec![t];
        for d in deltas {
            match t.checked_add(d) {
                Some(next) => {
                    t = next;
                    out.push(t);
                }
                None => break,
            }
        }
        out
    });
    prop_oneof![sorted, runs]
}

/// Values as bit patterns: any payload, the special values, and a small
/// pool so that repeats and shared windows are common.
fn value() -> impl Strategy<Value = u64> {
    let specials = select(vec![
        STALE_NAN,
        f64::NAN.to_bits(),
        (-f64::NAN).to_bits(),
        0x7ff8_0000_0000_0001,
        0xfff0_0000_0000_0001,
        (-0.0f64).to_bits(),
        0.0f64.to_bits(),
        f64::INFINITY.to_bits(),
        f64::NEG_INFINITY.to_bits(),
        1,
        u64::MAX,
    ]);
    prop_oneof![
        3 => any::<u64>(),
        2 => specials,
        3 => (0u32..64).prop_map(|x| (f64::from(x) * 0.25).to_bits()),
        2 => (0u32..1_000_000).prop_map(|x| f64::from(x).to_bits()),
    ]
}

fn samples() -> impl Strategy<Value = Vec<(i64, u64)>> {
    timestamps().prop_flat_map(|ts| {
        let n = ts.len();
        (Just(ts), vec(value(), n)).prop_map(|(ts, vs)| ts.into_iter().zip(vs).collect())
    })
}

fn encode(samples: &[(i64, u64)]) -> XorChunk {
    let mut c = XorChunk::new();
    for &(t, v) in samples {
        c.append(t, f64::from_bits(v)).unwrap();
    }
    c
}

fn decode(data: &[u8]) -> Vec<(i64, u64)> {
    XorIter::new(data)
        .unwrap()
        .map(|s| {
            let (t, v) = s.unwrap();
            (t, v.to_bits())
        })
        .collect()
}

proptest! {
    #[test]
    fn round_trips_bit_exactly(samples in samples()) {
        let c = encode(&samples);
        prop_assert_eq!(c.num_samples(), samples.len());
        prop_assert_eq!(decode(c.bytes()), samples);
    }

    #[test]
    fn round_trips_across_a_reopen(samples in samples(), split in any::<Index>()) {
        let split = split.index(samples.len() + 1);
        let first = encode(&samples[..split]);
        let mut c = XorChunk::reopen(first.bytes().to_vec()).unwrap();
        prop_assert_eq!(c.num_samples(), split);
        for &(t, v) in &samples[split..] {
            c.append(t, f64::from_bits(v)).unwrap();
        }
        prop_assert_eq!(&decode(c.bytes()), &samples);
        let direct = encode(&samples);
        prop_assert_eq!(c.bytes(), direct.bytes());
    }

    #[test]
    fn seek_finds_the_first_sample_at_or_after(samples in samples(), target in any::<i64>(), pick in any::<Index>()) {
        let c = encode(&samples);
        // An arbitrary target, and one that hits a sample exactly.
        let mut targets = vec![target];
        if !samples.is_empty() {
            targets.push(samples[pick.index(samples.len())].0);
        }
        for target in targets {
            let want = samples.iter().find(|s| s.0 >= target).copied();
            let got = c.iter().seek(target).unwrap().map(|(t, v)| (t, v.to_bits()));
            prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in vec(any::<u8>(), 0..600)) {
        fuzz_decode(&data);
    }

    #[test]
    fn damaged_chunks_never_panic(
        samples in samples(),
        flips in vec((any::<Index>(), 0u8..8), 0..4),
        cut in any::<Index>(),
        count in any::<Option<u16>>(),
    ) {
        let mut data = encode(&samples).into_bytes();
        for (at, bit) in flips {
            let i = at.index(data.len());
            data[i] ^= 1 << bit;
        }
        data.truncate(cut.index(data.len() + 1));
        if let (Some(count), Some(header)) = (count, data.first_chunk_mut::<2>()) {
            *header = count.to_be_bytes();
        }
        fuzz_decode(&data);
    }
}
