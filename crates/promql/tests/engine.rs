//! The engine's API: results, errors, limits, cancellation, and inputs
//! that must not make it panic.

use std::sync::Arc;
use std::time::Duration;

use ember_model::{labels, FloatHistogram, Sample, Span, Value};
use ember_promql::{
    CancelToken, Engine, EngineOptions, PointValue, QueryError, QueryParams, QueryValue,
};
use ember_storage::{Appendable, MemStorage, SeriesRef};

/// A storage with `metric{i="0".."n"}`, one sample per `step_ms` from 0
/// to `samples` steps, value = step.
fn storage(series: usize, samples: i64, step_ms: i64) -> MemStorage {
    let st = MemStorage::new();
    {
        let mut app = st.appender();
        for i in 0..series {
            let l = labels!("__name__" => "metric", "i" => &i.to_string());
            for s in 0..samples {
                app.append(SeriesRef(0), &l, Sample::float(s * step_ms, s as f64))
                    .unwrap();
            }
        }
        app.commit().unwrap();
    }
    st
}

fn engine() -> Engine {
    Engine::new(EngineOptions::for_tests())
}

#[test]
fn instant_vector_scalar_string_matrix() {
    let st = storage(2, 10, 60_000);
    let e = engine();
    let out = e.instant_query(&st, "metric", 120_000).unwrap();
    let QueryValue::Vector(v) = out.value else {
        panic!("not a vector")
    };
    assert_eq!(v.len(), 2);
    assert!(v
        .iter()
        .all(|s| s.t == 120_000 && s.value == PointValue::Float(2.0)));

    let out = e.instant_query(&st, "1 + 2", 0).unwrap();
    assert_eq!(out.value, QueryValue::Scalar { t: 0, v: 3.0 });

    let out = e.instant_query(&st, "\"hi\"", 5).unwrap();
    assert_eq!(
        out.value,
        QueryValue::String {
            t: 5,
            s: "hi".into()
        }
    );

    let out = e.instant_query(&st, "metric[2m]", 120_000).unwrap();
    let QueryValue::Matrix(m) = out.value else {
        panic!("not a matrix")
    };
    assert_eq!(m.len(), 2);
    assert_eq!(m[0].floats, vec![(60_000, 1.0), (120_000, 2.0)]);
    assert!(m[0].labels < m[1].labels);
}

#[test]
fn range_query_is_sorted_and_stepped() {
    let st = storage(3, 10, 60_000);
    let out = engine()
        .range_query(&st, "metric * 2", 0, 180_000, 60_000)
        .unwrap();
    let QueryValue::Matrix(m) = out.value else {
        panic!("not a matrix")
    };
    assert_eq!(m.len(), 3);
    assert!(m.windows(2).all(|w| w[0].labels < w[1].labels));
    assert_eq!(
        m[0].floats,
        vec![(0, 0.0), (60_000, 2.0), (120_000, 4.0), (180_000, 6.0)]
    );
    assert_eq!(m[0].labels, labels!("i" => "0"));
}

#[test]
fn errors_have_prometheus_messages() {
    let st = storage(1, 2, 60_000);
    let e = engine();
    let err = e.instant_query(&st, "sum(", 0).unwrap_err();
    assert!(matches!(err, QueryError::Parse(_)));
    assert!(err.to_string().contains("parse error"));

    let err = e
        .range_query(&st, "metric[5m]", 0, 60_000, 60_000)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid expression type \"range vector\" for range query, must be Scalar or instant Vector"
    );
    let err = e.range_query(&st, "metric", 0, 60_000, 0).unwrap_err();
    assert!(matches!(err, QueryError::BadRequest(_)));

    let err = e.instant_query(&st, "metric[step()]", 0).unwrap_err();
    assert_eq!(err.to_string(), "7:13: duration must be greater than 0");

    let no_at = Engine::new(EngineOptions {
        enable_at_modifier: false,
        enable_negative_offset: false,
        ..EngineOptions::for_tests()
    });
    let err = no_at.instant_query(&st, "metric @ 10", 0).unwrap_err();
    assert_eq!(err.to_string(), "@ modifier is disabled");
    let err = no_at
        .instant_query(&st, "metric offset -1m", 0)
        .unwrap_err();
    assert_eq!(err.to_string(), "negative offset is disabled");
}

#[test]
fn too_many_samples() {
    // 11000 samples in one window, over the test limit of 10000.
    let st = storage(1, 11_000, 1000);
    let e = engine();
    let err = e
        .instant_query(&st, "count_over_time(metric[3h])", 11_000_000)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "query processing would load too many samples into memory in query execution"
    );
    // The engine is unaffected: a smaller query works.
    let out = e
        .instant_query(&st, "count_over_time(metric[1m])", 11_000_000)
        .unwrap();
    let QueryValue::Vector(v) = out.value else {
        panic!("not a vector")
    };
    assert_eq!(v[0].value, PointValue::Float(59.0));
    // Many steps of many series.
    let st = storage(200, 100, 60_000);
    let err = e
        .range_query(&st, "metric", 0, 6_000_000, 60_000)
        .unwrap_err();
    assert!(matches!(err, QueryError::TooManySamples(_)));
}

#[test]
fn cancellation_and_timeout() {
    let st = storage(10, 100, 60_000);
    let e = engine();
    let cancel = CancelToken::new();
    cancel.cancel();
    let p = QueryParams {
        cancel: Some(cancel),
        ..QueryParams::range("rate(metric[5m])", 0, 6_000_000, 60_000)
    };
    let err = e.query(&st, &p).unwrap_err();
    assert_eq!(
        err.to_string(),
        "query was canceled in expression evaluation"
    );

    let slow = Engine::new(EngineOptions {
        timeout: Duration::ZERO,
        ..EngineOptions::for_tests()
    });
    let err = slow.instant_query(&st, "metric", 0).unwrap_err();
    assert_eq!(err.to_string(), "query timed out in expression evaluation");
}

#[test]
fn lookback_override() {
    let st = storage(1, 1, 60_000);
    let e = engine();
    let p = QueryParams {
        lookback_delta: Some(Duration::from_secs(30)),
        ..QueryParams::instant("metric", 40_000)
    };
    let QueryValue::Vector(v) = e.query(&st, &p).unwrap().value else {
        panic!("not a vector")
    };
    assert!(v.is_empty());
    let QueryValue::Vector(v) = e.instant_query(&st, "metric", 40_000).unwrap().value else {
        panic!("not a vector")
    };
    assert_eq!(v.len(), 1);
}

#[test]
fn histograms_do_not_break_float_queries() {
    let st = MemStorage::new();
    let mut app = st.appender();
    let h = FloatHistogram {
        schema: 0,
        count: 3.0,
        sum: 5.0,
        positive_spans: vec![Span {
            offset: 0,
            length: 2,
        }],
        positive_buckets: vec![1.0, 2.0],
        ..Default::default()
    };
    let hl = labels!("__name__" => "h");
    let fl = labels!("__name__" => "h", "kind" => "float");
    for t in 0..10 {
        app.append(
            SeriesRef(0),
            &hl,
            Sample {
                t: t * 60_000,
                value: Value::FloatHistogram(Arc::new(h.clone())),
                start: None,
            },
        )
        .unwrap();
        app.append(SeriesRef(0), &fl, Sample::float(t * 60_000, t as f64))
            .unwrap();
    }
    app.commit().unwrap();
    drop(app);
    let e = engine();
    for q in [
        "h",
        "rate(h[5m])",
        "sum(h)",
        "avg(h)",
        "h + 1",
        "h * h",
        "-h",
        "topk(1, h)",
        "quantile(0.5, h)",
        "histogram_quantile(0.5, h)",
        "sum_over_time(h[5m])",
        "irate(h[5m])",
        "changes(h[10m])",
        "resets(h[10m])",
        "count_values(\"x\", h)",
        "h[5m]",
        "max_over_time(h[5m:1m])",
        "sort(h)",
        "label_replace(h, \"a\", \"$1\", \"kind\", \"(.*)\")",
        "h == h",
        "timestamp(h)",
        "last_over_time(h[5m])",
    ] {
        let r = e.instant_query(&st, q, 540_000);
        assert!(r.is_ok(), "{q}: {r:?}");
        let r = e.range_query(&st, q.trim_end_matches("[5m]"), 0, 540_000, 60_000);
        let _ = r;
    }
    // Plain selection returns the histogram.
    let QueryValue::Vector(v) = e.instant_query(&st, "h{kind=\"\"}", 0).unwrap().value else {
        panic!("not a vector")
    };
    assert!(matches!(v[0].value, PointValue::Histogram(_)));
}

#[test]
fn extreme_times_do_not_panic() {
    let st = storage(2, 5, 60_000);
    let e = engine();
    for q in [
        "metric offset 292y",
        "metric offset -292y",
        "metric @ 9223372036.854",
        "metric @ -9223372036.854",
        "rate(metric[292y])",
        "rate(metric[5m] @ 9223372036)",
        "sum_over_time(metric[1y:1ms])[1s:1ms]",
        "max_over_time(metric[1m:1m] offset -292y)",
        "metric[1y:10d] @ -9223372036.854",
        "timestamp(metric @ 9223372036.854)",
    ] {
        let _ = e.instant_query(&st, q, i64::MAX);
        let _ = e.instant_query(&st, q, i64::MIN);
        let _ = e.instant_query(&st, q, 0);
        let _ = e.range_query(&st, q, i64::MIN, i64::MAX, i64::MAX);
        let _ = e.range_query(&st, q, i64::MAX - 10, i64::MAX, 1);
    }
}

#[test]
fn deep_expressions_do_not_overflow_the_stack() {
    let st = storage(2, 5, 60_000);
    let e = engine();
    let sum = vec!["metric"; 500].join(" + ");
    let nested = format!("{}metric{}", "abs(".repeat(60), ")".repeat(60));
    let sq = format!(
        "{}metric{}",
        "max_over_time((".repeat(30),
        ")[5m:1m])".repeat(30)
    );
    for q in [sum, nested, sq] {
        let r = e.range_query(&st, &q, 0, 240_000, 60_000);
        assert!(
            r.is_ok() || matches!(r, Err(ember_promql::QueryError::Parse(_))),
            "{r:?}"
        );
    }
}

/// Prometheus turns `@` into an offset relative to the evaluation start
/// and recomputes it for a subquery only when the subquery starts at a
/// different time than its parent. When it does not, the subquery's own
/// offset stays subtracted: here `foo @ 100` is read at 70s, as
/// Prometheus reads it.
#[test]
fn at_offset_inside_subquery_starting_with_parent() {
    let st = MemStorage::new();
    {
        let mut app = st.appender();
        let l = labels!("__name__" => "foo");
        for i in 0..=20 {
            app.append(SeriesRef(0), &l, Sample::float(i * 10_000, i as f64))
                .unwrap();
        }
        app.commit().unwrap();
    }
    let e = engine();
    let value = |q: &str, t: i64| match e.instant_query(&st, q, t).unwrap().value {
        QueryValue::Vector(v) => v.first().map(|s| s.value.clone()),
        other => panic!("{other:?}"),
    };
    let q = "last_over_time((foo @ 100)[1m:1m] offset -30s)";
    assert_eq!(value(q, 60_000), Some(PointValue::Float(7.0)));
    // A subquery starting after its parent recomputes the offset.
    assert_eq!(value(q, 90_000), Some(PointValue::Float(10.0)));
    // Aggregation parameters are not prepared: `@ end()` there has no
    // effect, so k is -5 at the first step and the series is left out.
    let out = e
        .range_query(
            &st,
            "topk(scalar(foo @ end()) - 5, foo)",
            0,
            200_000,
            100_000,
        )
        .unwrap();
    let QueryValue::Matrix(m) = out.value else {
        panic!("not a matrix")
    };
    assert_eq!(m[0].floats, vec![(100_000, 10.0), (200_000, 20.0)]);
}
