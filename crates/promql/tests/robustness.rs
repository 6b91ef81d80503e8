//! Random well-typed queries over awkward data (NaN, infinities, stale
//! markers, histograms, duplicate-looking series) must never panic the
//! engine: they either give a result or an error.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use ember_model::{labels, stale_nan, FloatHistogram, Sample, Span, Value};
use ember_promql::{Engine, EngineOptions, ValueType, FUNCTIONS};
use ember_storage::{Appendable, MemStorage, SeriesRef};

/// A small deterministic generator (xorshift).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, v: &[&'a str]) -> &'a str {
        v[self.below(v.len())]
    }
}

fn storage() -> MemStorage {
    let st = MemStorage::new();
    {
        let mut app = st.appender();
        let values = [
            1.0,
            -2.5,
            f64::NAN,
            f64::INFINITY,
            0.0,
            1e308,
            stale_nan(),
            7.0,
        ];
        for (i, name) in ["a_total", "b", "c_bucket"].iter().enumerate() {
            for j in 0..3 {
                let le = ["0.5", "1", "+Inf"][j];
                let l =
                    labels!("__name__" => *name, "job" => "x", "le" => le, "i" => &j.to_string());
                for k in 0..40i64 {
                    let v = values[((k as usize) * (i + 1) + j) % values.len()] + k as f64;
                    if (k + j as i64) % 7 == 3 {
                        continue;
                    }
                    app.append(SeriesRef(0), &l, Sample::float(k * 15_000 + j as i64, v))
                        .unwrap();
                }
            }
        }
        let h = FloatHistogram {
            schema: 0,
            count: 4.0,
            sum: 3.0,
            positive_spans: vec![Span {
                offset: 0,
                length: 2,
            }],
            positive_buckets: vec![1.0, 3.0],
            ..Default::default()
        };
        let hl = labels!("__name__" => "b", "job" => "y");
        for k in 0..40i64 {
            app.append(
                SeriesRef(0),
                &hl,
                Sample {
                    t: k * 15_000,
                    value: Value::FloatHistogram(Arc::new(h.clone())),
                    start: Some(k * 15_000 - 1000),
                },
            )
            .unwrap();
        }
        app.commit().unwrap();
    }
    st
}

const SELECTORS: [&str; 7] = [
    "a_total",
    "b",
    "c_bucket",
    "{job=\"x\"}",
    "{__name__=~\"a.*|b\"}",
    "nope",
    "b{job=\"y\"}",
];
const NUMBERS: [&str; 9] = ["1", "0", "-1", "0.5", "NaN", "Inf", "-Inf", "1e20", "3"];
const RANGES: [&str; 5] = ["1m", "5m", "30s", "1ms", "10m"];
const MODIFIERS: [&str; 7] = [
    "",
    "",
    " offset 1m",
    " offset -2m",
    " @ 300",
    " @ start()",
    " @ end()",
];
const BINOPS: [&str; 13] = [
    "+", "-", "*", "/", "%", "^", "atan2", "==", "!=", ">", "<", ">=", "<=",
];
const AGGS: [&str; 8] = [
    "sum", "avg", "min", "max", "count", "stddev", "stdvar", "group",
];

fn gen(r: &mut Rng, t: ValueType, depth: usize) -> String {
    let leaf = depth == 0 || r.below(3) == 0;
    match t {
        ValueType::Scalar => {
            if leaf {
                return r.pick(&NUMBERS).to_string();
            }
            match r.below(4) {
                0 => format!("scalar({})", gen(r, ValueType::Vector, depth - 1)),
                1 => "time()".to_string(),
                2 => format!(
                    "({} {} {})",
                    gen(r, ValueType::Scalar, depth - 1),
                    r.pick(&["+", "*", "/", "-"]),
                    gen(r, ValueType::Scalar, depth - 1)
                ),
                _ => r.pick(&NUMBERS).to_string(),
            }
        }
        ValueType::String => "\"v\"".to_string(),
        ValueType::Matrix => {
            if leaf || r.below(2) == 0 {
                let extended = ["", "", "", " anchored", " smoothed"][r.below(5)];
                format!(
                    "{}[{}]{}{}",
                    r.pick(&SELECTORS),
                    r.pick(&RANGES),
                    r.pick(&MODIFIERS),
                    extended
                )
            } else {
                format!(
                    "({})[{}:{}]{}",
                    gen(r, ValueType::Vector, depth - 1),
                    r.pick(&RANGES),
                    r.pick(&["", "1m", "7s"]),
                    r.pick(&MODIFIERS)
                )
            }
        }
        ValueType::Vector => {
            if leaf {
                return format!("{}{}", r.pick(&SELECTORS), r.pick(&MODIFIERS));
            }
            match r.below(6) {
                0 => {
                    let f = &FUNCTIONS[r.below(FUNCTIONS.len())];
                    if f.return_type != ValueType::Vector {
                        return gen(r, ValueType::Vector, depth - 1);
                    }
                    let n = f.min_args() + r.below(2).min(f.max_args().unwrap_or(9) - f.min_args());
                    let args: Vec<String> = (0..n)
                        .map(|i| match f.arg_type(i) {
                            Some(ValueType::String) => {
                                format!("\"{}\"", r.pick(&["job", "i", "le", "x"]))
                            }
                            Some(at) => gen(r, at, depth - 1),
                            None => String::new(),
                        })
                        .collect();
                    format!("{}({})", f.name, args.join(", "))
                }
                1 => {
                    let m = r.pick(&[
                        "",
                        " on(job)",
                        " ignoring(i)",
                        " on(job) group_left",
                        " ignoring(le) group_right(i)",
                        " on(i) fill(0)",
                    ]);
                    let op = r.pick(&BINOPS);
                    let b = if op.len() <= 2 && "==!=><=".contains(op) && r.below(2) == 0 {
                        " bool"
                    } else {
                        ""
                    };
                    format!(
                        "({} {op}{b}{m} {})",
                        gen(r, ValueType::Vector, depth - 1),
                        gen(r, ValueType::Vector, depth - 1)
                    )
                }
                2 => format!(
                    "({} {} {})",
                    gen(r, ValueType::Vector, depth - 1),
                    r.pick(&["and", "or", "unless", "and on(job)"]),
                    gen(r, ValueType::Vector, depth - 1)
                ),
                3 => format!(
                    "{} {}({})",
                    r.pick(&AGGS),
                    r.pick(&["", "by (job)", "without (i)", "by (__name__)"]),
                    gen(r, ValueType::Vector, depth - 1)
                ),
                4 => format!(
                    "{}({}, {})",
                    r.pick(&["topk", "bottomk", "quantile", "limitk", "limit_ratio"]),
                    gen(r, ValueType::Scalar, depth - 1),
                    gen(r, ValueType::Vector, depth - 1)
                ),
                _ => format!(
                    "({} {} {})",
                    gen(r, ValueType::Vector, depth - 1),
                    r.pick(&BINOPS),
                    gen(r, ValueType::Scalar, depth - 1)
                ),
            }
        }
    }
}

#[test]
fn random_queries_never_panic() {
    let st = storage();
    let engine = Engine::new(EngineOptions::for_tests());
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    let mut evaluated = 0;
    let n: usize = std::env::var("ROBUST_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1500);
    if let Some(seed) = std::env::var("ROBUST_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        r = Rng(seed);
    }
    for _ in 0..n {
        let q = gen(&mut r, ValueType::Vector, 4);
        let res = catch_unwind(AssertUnwindSafe(|| {
            let a = engine.instant_query(&st, &q, 300_000).is_ok();
            let b = engine.range_query(&st, &q, 0, 600_000, 45_000).is_ok();
            a || b
        }));
        match res {
            Ok(ok) => evaluated += usize::from(ok),
            Err(_) => panic!("panicked on {q}"),
        }
    }
    // Most generated queries are valid and evaluate.
    println!("{evaluated} of {n} queries evaluated");
    assert!(evaluated > n / 3, "only {evaluated} queries evaluated");
}
