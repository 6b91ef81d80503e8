//! Random families, encoded in each format and parsed back, give the same
//! entries.

use ember_exposition::{encode, Entry, Family, FamilySample, Format, Parser, ParserOptions};
use ember_model::{Exemplar, Labels, MetricType, METRIC_NAME};
use proptest::prelude::*;

/// Label pairs in input order.
type Pairs = Vec<(String, String)>;

/// What a parsed entry must equal.
#[derive(Debug, Clone, PartialEq)]
enum Owned {
    Help(String, String),
    Type(String, MetricType),
    Unit(String, String),
    Series {
        name: String,
        labels: Pairs,
        value: Value,
        timestamp: Option<i64>,
        exemplar: Option<(Pairs, Value, Option<i64>)>,
    },
}

/// A float compared with NaN equal to NaN.
#[derive(Debug, Clone, Copy)]
struct Value(f64);

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        (self.0.is_nan() && other.0.is_nan()) || self.0 == other.0
    }
}

fn pairs(l: &Labels) -> Vec<(String, String)> {
    l.iter()
        .filter(|l| l.name != METRIC_NAME)
        .map(|l| (l.name.to_string(), l.value.to_string()))
        .collect()
}

fn parse(input: &str, format: Format) -> Vec<Owned> {
    let mut p = Parser::new(input.as_bytes(), format, ParserOptions::default());
    let mut out = Vec::new();
    loop {
        let e = match p.next() {
            Ok(Some(e)) => e,
            Ok(None) => return out,
            Err(e) => panic!("{e}\n{input}"),
        };
        out.push(match e {
            Entry::Help { metric, text } => Owned::Help(metric.into(), text.into()),
            Entry::Type {
                metric,
                metric_type,
            } => Owned::Type(metric.into(), metric_type),
            Entry::Unit { metric, unit } => Owned::Unit(metric.into(), unit.into()),
            Entry::Comment(c) => panic!("unexpected comment {c:?}"),
            Entry::Series(s) => Owned::Series {
                name: s.metric_name().into(),
                labels: s
                    .labels()
                    .map(|l| (l.name.into(), l.value.into()))
                    .collect(),
                value: Value(s.value),
                timestamp: s.timestamp,
                exemplar: s.exemplar.map(|e| {
                    (
                        e.labels()
                            .map(|l| (l.name.into(), l.value.into()))
                            .collect(),
                        Value(e.value),
                        e.timestamp,
                    )
                }),
            },
        });
    }
}

/// The entries `families` should parse back to.
fn expected(families: &[Family], format: Format) -> Vec<Owned> {
    let om = format == Format::OpenMetrics;
    let mut out = Vec::new();
    for f in families {
        if let Some(h) = &f.help {
            // The text format cannot carry help that is only blanks.
            let h = if !om && h.chars().all(|c| c == ' ' || c == '\t') {
                ""
            } else {
                h
            };
            out.push(Owned::Help(f.name.clone(), h.to_string()));
        }
        let t = match (om, f.metric_type) {
            (false, MetricType::GaugeHistogram) => MetricType::Histogram,
            (false, MetricType::Info | MetricType::Stateset) => MetricType::Gauge,
            (_, t) => t,
        };
        out.push(Owned::Type(f.name.clone(), t));
        if let (true, Some(u)) = (om, &f.unit) {
            out.push(Owned::Unit(f.name.clone(), u.clone()));
        }
        for s in &f.samples {
            out.push(Owned::Series {
                name: s.labels.metric_name().unwrap_or_default().to_string(),
                labels: pairs(&s.labels),
                value: Value(s.value),
                timestamp: s.timestamp,
                exemplar: s
                    .exemplar
                    .as_ref()
                    .filter(|_| om)
                    .map(|e| (pairs(&e.labels), Value(e.value), e.t)),
            });
        }
    }
    out
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-zA-Z_:][a-zA-Z0-9_:]{0,12}",
        1 => "[a-z.é \"\\\\\n{}=,#]{1,10}",
    ]
    .prop_filter("reserved suffix", |n| !n.ends_with("_created"))
}

fn label_name() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-zA-Z_][a-zA-Z0-9_]{0,8}",
        1 => "[a-z.é \"\\\\\n{}=,]{1,8}",
    ]
    .prop_filter("reserved", |n| {
        !matches!(n.as_str(), "le" | "quantile" | "__name__")
    })
}

fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>(),
        (-1000i64..1000).prop_map(|v| v as f64),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(f64::NAN),
        Just(1e6),
        Just(0.001),
    ]
}

fn help() -> impl Strategy<Value = Option<String>> {
    proptest::option::of("[ -~\t\né€\\\\\"]{0,20}")
}

struct Shape {
    metric_type: MetricType,
    /// Sample name suffixes, and the extra float label each carries.
    samples: &'static [(&'static str, &'static str)],
}

fn shapes(om: bool) -> Vec<Shape> {
    let mut v = vec![
        Shape {
            metric_type: MetricType::Gauge,
            samples: &[("", "")],
        },
        Shape {
            metric_type: MetricType::Unknown,
            samples: &[("", "")],
        },
        Shape {
            metric_type: MetricType::Counter,
            samples: if om { &[("_total", "")] } else { &[("", "")] },
        },
        Shape {
            metric_type: MetricType::Histogram,
            samples: &[("_bucket", "le"), ("_count", ""), ("_sum", "")],
        },
        Shape {
            metric_type: MetricType::Summary,
            samples: &[("", "quantile"), ("_count", ""), ("_sum", "")],
        },
    ];
    if om {
        v.push(Shape {
            metric_type: MetricType::GaugeHistogram,
            samples: &[("_bucket", "le"), ("_gcount", ""), ("_gsum", "")],
        });
        v.push(Shape {
            metric_type: MetricType::Info,
            samples: &[("_info", "")],
        });
        v.push(Shape {
            metric_type: MetricType::Stateset,
            samples: &[("", "")],
        });
    }
    v
}

fn om_float(f: f64) -> String {
    // What the encoder writes for le/quantile: the canonical form.
    let mut e = ember_exposition::Encoder::new(Format::OpenMetrics);
    e.sample("x", [], f, None, None);
    let s = e.finish();
    s["x ".len()..s.find('\n').unwrap_or(s.len())].to_string()
}

fn family(format: Format) -> impl Strategy<Value = Family> {
    let om = format == Format::OpenMetrics;
    let n_shapes = shapes(om).len();
    (
        name(),
        0..n_shapes,
        help(),
        proptest::option::of("[a-z]{1,6}"),
        proptest::collection::vec(
            (
                proptest::collection::btree_map(label_name(), "[ -~é\n\\\\\"\0]{1,12}", 0..4),
                prop_oneof![Just(f64::INFINITY), -10.0f64..10.0, Just(1.0), Just(0.5)],
                value(),
                proptest::option::of(0i64..4_000_000_000_000),
                proptest::option::of((
                    proptest::collection::btree_map(label_name(), "[ -~é\n\\\\\"]{1,8}", 0..3),
                    value(),
                    proptest::option::of(-1_000_000_000_000i64..4_000_000_000_000),
                )),
            ),
            1..5,
        ),
    )
        .prop_map(move |(name, shape, help, unit, samples)| {
            let shapes = shapes(om);
            let shape = &shapes[shape];
            let (name, unit) = match unit {
                Some(u) if om => (format!("{name}_{u}"), Some(u)),
                _ => (name, None),
            };
            let mut out = Vec::new();
            for (i, (labels, bound, value, timestamp, exemplar)) in samples.into_iter().enumerate()
            {
                let (suffix, extra) = shape.samples[i % shape.samples.len()];
                let mut all: Vec<(String, String)> = labels.into_iter().collect();
                all.push((METRIC_NAME.to_string(), format!("{name}{suffix}")));
                if !extra.is_empty() {
                    all.push((extra.to_string(), om_float(bound)));
                }
                out.push(FamilySample {
                    labels: Labels::from_pairs(all).unwrap(),
                    value,
                    timestamp,
                    exemplar: exemplar.map(|(l, v, t)| Exemplar {
                        labels: Labels::from_pairs(l).unwrap(),
                        value: v,
                        t,
                    }),
                });
            }
            Family {
                name,
                metric_type: shape.metric_type,
                help,
                unit,
                samples: out,
            }
        })
}

/// OpenMetrics timestamps travel as float seconds and Prometheus truncates
/// `seconds * 1000`, so a millisecond can be lost (as in Prometheus).
fn same_timestamp(om: bool, got: Option<i64>, want: Option<i64>) -> bool {
    match (got, want) {
        (Some(g), Some(w)) if om => (g - w).abs() <= 1,
        _ => got == want,
    }
}

fn check(families: &[Family], format: Format) -> Result<(), TestCaseError> {
    let om = format == Format::OpenMetrics;
    let text = encode(families, format);
    let got = parse(&text, format);
    let want = expected(families, format);
    prop_assert_eq!(got.len(), want.len(), "{}", text);
    for (g, w) in got.into_iter().zip(want) {
        match (g, w) {
            (
                Owned::Series {
                    name,
                    labels,
                    value,
                    timestamp,
                    exemplar,
                },
                Owned::Series {
                    name: wn,
                    labels: wl,
                    value: wv,
                    timestamp: wt,
                    exemplar: we,
                },
            ) => {
                prop_assert_eq!(name, wn, "{}", text);
                prop_assert_eq!(labels, wl, "{}", text);
                prop_assert_eq!(value, wv, "{}", text);
                prop_assert!(
                    same_timestamp(om, timestamp, wt),
                    "{:?} {:?}\n{}",
                    timestamp,
                    wt,
                    text
                );
                match (exemplar, we) {
                    (Some((gl, gv, gt)), Some((wl, wv, wt))) => {
                        prop_assert_eq!(gl, wl, "{}", text);
                        prop_assert_eq!(gv, wv, "{}", text);
                        prop_assert!(same_timestamp(om, gt, wt), "{:?} {:?}\n{}", gt, wt, text);
                    }
                    (g, w) => prop_assert_eq!(g, w, "{}", text),
                }
            }
            (g, w) => prop_assert_eq!(g, w, "{}", text),
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn text_round_trip(families in proptest::collection::vec(family(Format::PrometheusText), 1..5)) {
        check(&families, Format::PrometheusText)?;
    }

    #[test]
    fn openmetrics_round_trip(families in proptest::collection::vec(family(Format::OpenMetrics), 1..5)) {
        check(&families, Format::OpenMetrics)?;
    }
}
