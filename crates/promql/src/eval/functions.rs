//! Instant-vector and scalar functions, evaluated at one step.

use std::cmp::Ordering;

use ember_model::{Labels, MatchOp, METRIC_NAME};

use super::annotations;
use super::engine::{drop_metadata_labels, Ctx, Step};
use super::hash::FastMap;
use super::math::{go_max, go_min};
use super::plan::Node;
use super::quantile::{self, Bucket};
use super::types::{Sample, Vector};
use super::QueryError;

/// State a function call keeps across steps.
#[derive(Default)]
pub(crate) struct CallCache {
    /// Bucket series' labels without `le`.
    without_le: FastMap<Labels, Labels>,
}

/// The labels `absent` and `absent_over_time` give their result: the
/// equality matchers of a selector argument, except for labels matched
/// more than once and the metric name.
pub(crate) fn absent_labels(arg: &Node) -> Labels {
    let matchers = match arg.unwrapped() {
        Node::VectorSelector(s) => &s.matchers,
        Node::MatrixSelector { sel, .. } => &sel.matchers,
        _ => return Labels::empty(),
    };
    let mut b = Labels::empty().to_builder();
    let mut has: Vec<&str> = Vec::new();
    for m in matchers {
        if m.name() == METRIC_NAME {
            continue;
        }
        if m.op() == MatchOp::Equal && !has.contains(&m.name()) {
            b.set(m.name(), m.value());
            has.push(m.name());
        } else {
            b.del(m.name());
        }
    }
    b.build().unwrap_or_default()
}

/// Applies `f` to every float sample, dropping the metric name.
fn simple(ctx: &Ctx<'_>, v: &Vector, out: &mut Vector, f: impl Fn(f64) -> f64) {
    for s in v {
        if s.h.is_some() {
            continue;
        }
        out.push(Sample {
            labels: if ctx.delayed_name_removal {
                s.labels.clone()
            } else {
                drop_metadata_labels(&s.labels)
            },
            t: s.t,
            f: f(s.f),
            h: None,
            drop_name: true,
        });
    }
}

/// A scalar output.
fn scalar(out: &mut Vector, v: f64) {
    out.push(Sample::float(Labels::empty(), v));
}

/// The scalar value of operand `i` at this step.
fn scalar_arg(step: &Step<'_>, i: usize) -> f64 {
    step.vectors
        .get(i)
        .and_then(|v| v.first())
        .map_or(0.0, |s| s.f)
}

/// Calls instant function `name` at one step.
pub(crate) fn call_instant(
    name: &str,
    step: &Step<'_>,
    args: &[Node],
    ctx: &Ctx<'_>,
    cache: &mut CallCache,
    out: &mut Vector,
) -> Result<(), QueryError> {
    let empty = Vec::new();
    let v0 = step.vectors.first().unwrap_or(&empty);
    match name {
        "abs" => simple(ctx, v0, out, f64::abs),
        "ceil" => simple(ctx, v0, out, f64::ceil),
        "floor" => simple(ctx, v0, out, f64::floor),
        "exp" => simple(ctx, v0, out, f64::exp),
        "sqrt" => simple(ctx, v0, out, f64::sqrt),
        "ln" => simple(ctx, v0, out, f64::ln),
        "log2" => simple(ctx, v0, out, f64::log2),
        "log10" => simple(ctx, v0, out, f64::log10),
        "sin" => simple(ctx, v0, out, f64::sin),
        "cos" => simple(ctx, v0, out, f64::cos),
        "tan" => simple(ctx, v0, out, f64::tan),
        "asin" => simple(ctx, v0, out, f64::asin),
        "acos" => simple(ctx, v0, out, f64::acos),
        "atan" => simple(ctx, v0, out, f64::atan),
        "sinh" => simple(ctx, v0, out, f64::sinh),
        "cosh" => simple(ctx, v0, out, f64::cosh),
        "tanh" => simple(ctx, v0, out, f64::tanh),
        "asinh" => simple(ctx, v0, out, f64::asinh),
        "acosh" => simple(ctx, v0, out, f64::acosh),
        "atanh" => simple(ctx, v0, out, f64::atanh),
        "rad" => simple(ctx, v0, out, |v| v * std::f64::consts::PI / 180.0),
        "deg" => simple(ctx, v0, out, |v| v * 180.0 / std::f64::consts::PI),
        "sgn" => simple(ctx, v0, out, |v| {
            if v < 0.0 {
                -1.0
            } else if v > 0.0 {
                1.0
            } else {
                v
            }
        }),
        "pi" => scalar(out, std::f64::consts::PI),
        "time" => scalar(out, step.ts as f64 / 1000.0),
        "vector" => scalar(out, scalar_arg(step, 0)),
        "min_of" => scalar(out, go_min(scalar_arg(step, 0), scalar_arg(step, 1))),
        "max_of" => scalar(out, go_max(scalar_arg(step, 0), scalar_arg(step, 1))),
        "scalar" => {
            let mut it = v0.iter().filter(|s| s.h.is_none());
            let v = match (it.next(), it.next()) {
                (Some(s), None) => s.f,
                _ => f64::NAN,
            };
            scalar(out, v);
        }
        "clamp" => clamp(ctx, v0, scalar_arg(step, 1), scalar_arg(step, 2), out),
        "clamp_min" => clamp(ctx, v0, scalar_arg(step, 1), f64::INFINITY, out),
        "clamp_max" => clamp(ctx, v0, f64::NEG_INFINITY, scalar_arg(step, 1), out),
        "round" => {
            let to_nearest = if args.len() >= 2 {
                scalar_arg(step, 1)
            } else {
                1.0
            };
            let inv = 1.0 / to_nearest;
            simple(ctx, v0, out, |f| (f * inv + 0.5).floor() / inv);
        }
        "timestamp" => {
            for s in v0 {
                out.push(Sample {
                    labels: if ctx.delayed_name_removal {
                        s.labels.clone()
                    } else {
                        drop_metadata_labels(&s.labels)
                    },
                    t: s.t,
                    f: s.t as f64 / 1000.0,
                    h: None,
                    drop_name: true,
                });
            }
        }
        // Without a selector argument there are no start timestamps.
        "start_timestamp" => {}
        "absent" => {
            if v0.is_empty() {
                out.push(Sample::float(absent_labels(&args[0]), 1.0));
            }
        }
        "sort" | "sort_desc" => {
            // NaN goes last in both directions.
            let desc = name == "sort_desc";
            let mut v: Vector = v0.iter().filter(|s| s.h.is_none()).cloned().collect();
            v.sort_by(|a, b| match (a.f.is_nan(), b.f.is_nan()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                _ if desc => b.f.partial_cmp(&a.f).unwrap_or(Ordering::Equal),
                _ => a.f.partial_cmp(&b.f).unwrap_or(Ordering::Equal),
            });
            out.extend(v);
        }
        "sort_by_label" | "sort_by_label_desc" => {
            let names: Vec<String> = (1..args.len())
                .map(|i| super::call::string_arg(args, i))
                .collect();
            let mut v: Vector = v0.clone();
            let desc = name == "sort_by_label_desc";
            v.sort_by(|a, b| {
                for n in &names {
                    let x = a.labels.get(n).unwrap_or("");
                    let y = b.labels.get(n).unwrap_or("");
                    if x == y {
                        continue;
                    }
                    let o = natural_cmp(x, y);
                    return if desc { o.reverse() } else { o };
                }
                let o = a.labels.cmp(&b.labels);
                if desc {
                    o.reverse()
                } else {
                    o
                }
            });
            out.extend(v);
        }
        "days_in_month" | "day_of_month" | "day_of_week" | "day_of_year" | "hour" | "minute"
        | "month" | "year" => date_function(name, step, args, ctx, out),
        "histogram_quantile" => {
            let q = scalar_arg(step, 0);
            if step.vectors.first().is_none_or(Vec::is_empty) {
                return Ok(());
            }
            if q.is_nan() || !(0.0..=1.0).contains(&q) {
                ctx.annotate(annotations::invalid_quantile(q, args[0].pos()));
            }
            let groups =
                classic_histograms(step.vectors.get(1).unwrap_or(&empty), &args[1], ctx, cache);
            for (labels, mut buckets) in groups {
                let r = quantile::bucket_quantile(q, &mut buckets);
                if r.forced_monotonic {
                    let metric = if ctx.delayed_name_removal {
                        labels.metric_name().unwrap_or("").to_string()
                    } else {
                        String::new()
                    };
                    ctx.annotate(annotations::forced_monotonicity(
                        &metric,
                        args[1].pos(),
                        step.ts,
                        r.min_bucket,
                        r.max_bucket,
                        r.max_diff,
                    ));
                }
                out.push(dropped(ctx, labels, r.value));
            }
        }
        "histogram_quantiles" => {
            let label = super::call::string_arg(args, 1);
            let qs: Vec<f64> = (2..args.len()).map(|i| scalar_arg(step, i)).collect();
            for (i, q) in qs.iter().enumerate() {
                if q.is_nan() || !(0.0..=1.0).contains(q) {
                    ctx.annotate(annotations::invalid_quantile(*q, args[i + 2].pos()));
                }
            }
            let groups = classic_histograms(v0, &args[0], ctx, cache);
            for q in qs {
                for (labels, buckets) in &groups {
                    let mut buckets = buckets.clone();
                    let r = quantile::bucket_quantile(q, &mut buckets);
                    if r.forced_monotonic {
                        let metric = if ctx.delayed_name_removal {
                            labels.metric_name().unwrap_or("").to_string()
                        } else {
                            String::new()
                        };
                        ctx.annotate(annotations::forced_monotonicity(
                            &metric,
                            args[0].pos(),
                            step.ts,
                            r.min_bucket,
                            r.max_bucket,
                            r.max_diff,
                        ));
                    }
                    let mut b = labels.to_builder();
                    b.set(label.as_str(), super::format::format_openmetrics(q));
                    let with_q = b.build().unwrap_or_else(|_| labels.clone());
                    out.push(dropped(ctx, with_q, r.value));
                }
            }
        }
        "histogram_fraction" => {
            if step.vectors.len() < 3 || step.vectors[0].is_empty() || step.vectors[1].is_empty() {
                return Ok(());
            }
            let lower = scalar_arg(step, 0);
            let upper = scalar_arg(step, 1);
            let groups = classic_histograms(&step.vectors[2], &args[2], ctx, cache);
            for (labels, mut buckets) in groups {
                let v = quantile::bucket_fraction(lower, upper, &mut buckets);
                out.push(dropped(ctx, labels, v));
            }
        }
        // Native histogram functions: floats are ignored.
        "histogram_avg" | "histogram_count" | "histogram_sum" | "histogram_stddev"
        | "histogram_stdvar" => {}
        _ => {
            return Err(QueryError::Evaluation(format!(
                "function {name:?} is not supported"
            )))
        }
    }
    Ok(())
}

/// A float sample whose name is dropped at the end of the query.
fn dropped(ctx: &Ctx<'_>, labels: Labels, f: f64) -> Sample {
    Sample {
        labels: if ctx.delayed_name_removal {
            labels
        } else {
            drop_metadata_labels(&labels)
        },
        t: 0,
        f,
        h: None,
        drop_name: true,
    }
}

/// Groups the classic histogram buckets of `v` by their labels without
/// `le`, in order of first appearance. Native histograms are skipped.
fn classic_histograms(
    v: &Vector,
    arg: &Node,
    ctx: &Ctx<'_>,
    cache: &mut CallCache,
) -> Vec<(Labels, Vec<Bucket>)> {
    let mut index: FastMap<Labels, usize> = FastMap::default();
    let mut groups: Vec<(Labels, Vec<Bucket>)> = Vec::new();
    for s in v {
        if s.h.is_some() {
            continue;
        }
        let le = s.labels.get("le").unwrap_or("");
        let Some(upper) = parse_go_float(le) else {
            let metric = if ctx.delayed_name_removal {
                s.labels.metric_name().unwrap_or("")
            } else {
                ""
            };
            ctx.annotate(annotations::bad_bucket_label(metric, le, arg.pos()));
            continue;
        };
        let key = cache
            .without_le
            .entry(s.labels.clone())
            .or_insert_with(|| s.labels.retain(|n| n != "le"))
            .clone();
        let i = *index.entry(key.clone()).or_insert_with(|| {
            groups.push((key, Vec::new()));
            groups.len() - 1
        });
        groups[i].1.push(Bucket { upper, count: s.f });
    }
    groups
}

/// Go's `strconv.ParseFloat` for label values: decimal or hex floats,
/// `Inf`/`Infinity`/`NaN` in any case, `_` separators only after a base
/// prefix are not accepted here.
pub(crate) fn parse_go_float(s: &str) -> Option<f64> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let lower = body.to_ascii_lowercase();
    let v = match lower.as_str() {
        "inf" | "infinity" => f64::INFINITY,
        "nan" => f64::NAN,
        _ => {
            let ok = body
                .bytes()
                .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'));
            if body.is_empty() || !ok || !body.bytes().any(|c| c.is_ascii_digit()) {
                return None;
            }
            body.parse::<f64>().ok()?
        }
    };
    Some(if neg { -v } else { v })
}

/// `clamp` and friends.
fn clamp(ctx: &Ctx<'_>, v: &Vector, min: f64, max: f64, out: &mut Vector) {
    if max < min {
        return;
    }
    simple(ctx, v, out, |f| go_max(min, go_min(max, f)));
}

/// Natural order: runs of digits compare by numeric value.
pub(crate) fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i].is_ascii_digit() && b[j].is_ascii_digit() {
            let si = i;
            while i < a.len() && a[i].is_ascii_digit() {
                i += 1;
            }
            let sj = j;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            let na = trim_zeros(&a[si..i]);
            let nb = trim_zeros(&b[sj..j]);
            let o = na.len().cmp(&nb.len()).then_with(|| na.cmp(nb));
            if o != Ordering::Equal {
                return o;
            }
            let o = (i - si).cmp(&(j - sj));
            if o != Ordering::Equal {
                return o;
            }
        } else {
            let o = a[i].cmp(&b[j]);
            if o != Ordering::Equal {
                return o;
            }
            i += 1;
            j += 1;
        }
    }
    (a.len() - i).cmp(&(b.len() - j))
}

fn trim_zeros(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|&&c| c == b'0').count();
    &s[n..]
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

/// The date function `name` of a Unix time in seconds.
fn date_value(name: &str, secs: i64) -> f64 {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    match name {
        "day_of_month" => f64::from(d),
        "day_of_week" => (days + 4).rem_euclid(7) as f64,
        "day_of_year" => {
            let cum = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
            let leap = u32::from(is_leap(y) && m > 2);
            f64::from(cum[(m - 1) as usize] + d + leap)
        }
        "days_in_month" => {
            let n = match m {
                2 if is_leap(y) => 29,
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            };
            f64::from(n)
        }
        "hour" => (rem / 3600) as f64,
        "minute" => (rem / 60 % 60) as f64,
        "month" => f64::from(m),
        _ => y as f64,
    }
}

fn date_function(name: &str, step: &Step<'_>, args: &[Node], ctx: &Ctx<'_>, out: &mut Vector) {
    if args.is_empty() {
        scalar(out, date_value(name, step.ts.div_euclid(1000)));
        return;
    }
    for s in step.vectors.first().into_iter().flatten() {
        if s.h.is_some() {
            continue;
        }
        let secs = super::math::trunc_i64(s.f);
        out.push(Sample {
            labels: if ctx.delayed_name_removal {
                s.labels.clone()
            } else {
                drop_metadata_labels(&s.labels)
            },
            t: s.t,
            f: date_value(name, secs),
            h: None,
            drop_name: true,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(date_value("day_of_week", 0), 4.0);
        assert_eq!(date_value("day_of_year", 951_782_400), 60.0); // 2000-02-29
        assert_eq!(date_value("days_in_month", 951_782_400), 29.0);
        assert_eq!(date_value("hour", 3600 * 5 + 7), 5.0);
    }

    #[test]
    fn natural() {
        assert_eq!(natural_cmp("a2", "a10"), Ordering::Less);
        assert_eq!(natural_cmp("a10", "a10"), Ordering::Equal);
        assert_eq!(natural_cmp("b", "a10"), Ordering::Greater);
    }
}
