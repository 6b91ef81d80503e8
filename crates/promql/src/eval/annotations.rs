//! Warnings and infos gathered during evaluation, worded as Prometheus'
//! `util/annotations` words them.
//!
//! Like Prometheus, annotations are de-duplicated by their text without the
//! position; when the same text is added twice the later one's position is
//! kept. Two kinds merge instead: the forced-monotonicity info of
//! `histogram_quantile` (which reports the range of buckets, times and
//! samples involved) and the start-time overlap warning (which counts).

use std::collections::HashMap;

use ember_model::go_quote;

use super::format::format_g;
use crate::PosRange;

/// Warning or info.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Warning,
    Info,
}

/// Extra state of the annotations that merge.
#[derive(Debug, Clone)]
enum Extra {
    None,
    Monotonicity {
        min_ts: i64,
        max_ts: i64,
        min_bucket: f64,
        max_bucket: f64,
        max_diff: f64,
        count: usize,
    },
    Overlap {
        count: usize,
    },
}

/// One annotation.
#[derive(Debug, Clone)]
pub(crate) struct Annotation {
    kind: Kind,
    /// The text without position (the de-duplication key).
    text: String,
    pos: PosRange,
    extra: Extra,
}

impl Annotation {
    fn new(kind: Kind, text: String, pos: PosRange) -> Annotation {
        Annotation {
            kind,
            text,
            pos,
            extra: Extra::None,
        }
    }

    fn warn(text: String, pos: PosRange) -> Annotation {
        Annotation::new(Kind::Warning, format!("PromQL warning: {text}"), pos)
    }

    fn info(text: String, pos: PosRange) -> Annotation {
        Annotation::new(Kind::Info, format!("PromQL info: {text}"), pos)
    }

    /// The final text with the position in `query`.
    fn render(&self, query: &str) -> String {
        let at = if query.is_empty() {
            "unknown position".to_string()
        } else if self.pos.start > query.len() {
            "invalid position".to_string()
        } else {
            let (l, c) = self.pos.line_col(query);
            format!("{l}:{c}")
        };
        match &self.extra {
            Extra::None => format!("{} ({at})", self.text),
            Extra::Monotonicity {
                min_ts,
                max_ts,
                min_bucket,
                max_bucket,
                max_diff,
                count,
            } => format!(
                "{}, from buckets {} to {}, with a max diff of {}, over {} samples from {} to {} ({at})",
                self.text,
                format_g(*min_bucket, None),
                format_g(*max_bucket, None),
                format_g(*max_diff, Some(2)),
                count + 1,
                // Go's integer division truncates.
                rfc3339(min_ts / 1000),
                rfc3339(max_ts / 1000),
            ),
            Extra::Overlap { count } if *count > 1 => {
                format!("{} ({count} occurrences) ({at})", self.text)
            }
            Extra::Overlap { .. } => format!("{} ({at})", self.text),
        }
    }

    /// Merges `prev` (same text) into this newer annotation.
    fn merged_with(mut self, prev: &Annotation) -> Annotation {
        match (&mut self.extra, &prev.extra) {
            (
                Extra::Monotonicity {
                    min_ts,
                    max_ts,
                    min_bucket,
                    max_bucket,
                    max_diff,
                    count,
                },
                Extra::Monotonicity {
                    min_ts: pmin_ts,
                    max_ts: pmax_ts,
                    min_bucket: pmin_b,
                    max_bucket: pmax_b,
                    max_diff: pdiff,
                    count: pcount,
                },
            ) => {
                // Prometheus keeps the previous one and folds the new one in.
                *min_ts = (*min_ts).min(*pmin_ts);
                *max_ts = (*max_ts).max(*pmax_ts);
                *min_bucket = min_bucket.min(*pmin_b);
                *max_bucket = max_bucket.max(*pmax_b);
                *max_diff = max_diff.max(*pdiff);
                *count += pcount + 1;
                self.pos = prev.pos;
            }
            (Extra::Overlap { count }, Extra::Overlap { count: pcount }) => {
                *count += pcount;
                self.pos = prev.pos;
            }
            _ => {}
        }
        self
    }
}

/// Seconds since the epoch as `2006-01-02T15:04:05Z`.
fn rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = super::functions::civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// A set of annotations.
#[derive(Debug, Default)]
pub(crate) struct Annotations {
    items: Vec<Annotation>,
    index: HashMap<String, usize>,
}

impl Annotations {
    /// Adds `a`, merging it with an earlier one of the same text.
    pub fn add(&mut self, a: Annotation) {
        match self.index.get(&a.text) {
            Some(&i) => {
                let merged = a.merged_with(&self.items[i]);
                self.items[i] = merged;
            }
            None => {
                self.index.insert(a.text.clone(), self.items.len());
                self.items.push(a);
            }
        }
    }

    /// The warnings and infos as Prometheus prints them.
    pub fn render(&self, query: &str) -> (Vec<String>, Vec<String>) {
        let mut warnings = Vec::new();
        let mut infos = Vec::new();
        for a in &self.items {
            match a.kind {
                Kind::Warning => warnings.push(a.render(query)),
                Kind::Info => infos.push(a.render(query)),
            }
        }
        (warnings, infos)
    }
}

fn q(s: &str) -> String {
    go_quote(s)
}

/// Adds ` for metric name "x"` when there is a name.
fn with_metric_name(text: String, metric: &str) -> String {
    if metric.is_empty() {
        text
    } else {
        format!("{text} for metric name {}", q(metric))
    }
}

/// A quantile outside [0, 1].
pub(crate) fn invalid_quantile(v: f64, pos: PosRange) -> Annotation {
    Annotation::warn(
        format!(
            "quantile value should be between 0 and 1, got {}",
            format_g(v, None)
        ),
        pos,
    )
}

/// A `limit_ratio` ratio outside [-1, 1].
pub(crate) fn invalid_ratio(v: f64, to: f64, pos: PosRange) -> Annotation {
    Annotation::warn(
        format!(
            "ratio value should be between -1 and 1, got {}, capping to {}",
            format_g(v, None),
            format_g(to, None)
        ),
        pos,
    )
}

/// A classic histogram bucket whose `le` is not a number.
pub(crate) fn bad_bucket_label(metric: &str, label: &str, pos: PosRange) -> Annotation {
    Annotation::warn(
        with_metric_name(
            format!(
                "bucket label \"le\" is missing or has a malformed value of {}",
                q(label)
            ),
            metric,
        ),
        pos,
    )
}

/// Floats and histograms mixed where a function cannot handle that.
pub(crate) fn mixed_floats_histograms(metric: &str, pos: PosRange) -> Annotation {
    Annotation::warn(
        format!(
            "encountered a mix of histograms and floats for metric name {}",
            q(metric)
        ),
        pos,
    )
}

/// Floats and histograms mixed in an aggregation.
pub(crate) fn mixed_floats_histograms_agg(pos: PosRange) -> Annotation {
    Annotation::warn(
        "encountered a mix of histograms and floats for aggregation".to_string(),
        pos,
    )
}

/// `rate`/`increase` on a metric whose name does not look like a counter.
pub(crate) fn possible_non_counter(metric: &str, pos: PosRange) -> Annotation {
    Annotation::info(
        format!(
            "metric might not be a counter, name does not end in _total/_sum/_count/_bucket: {}",
            q(metric)
        ),
        pos,
    )
}

/// `rate`/`increase` on a metric whose `__type__` is not a counter.
pub(crate) fn possible_non_counter_label(metric: &str, typ: &str, pos: PosRange) -> Annotation {
    Annotation::info(
        format!(
            "metric might not be a counter, __type__ label is not set to \"counter\" or \"histogram\", got {}: {}",
            q(typ),
            q(metric)
        ),
        pos,
    )
}

/// `histogram_quantile` had to make bucket counts monotonic.
pub(crate) fn forced_monotonicity(
    metric: &str,
    pos: PosRange,
    ts: i64,
    min_bucket: f64,
    max_bucket: f64,
    max_diff: f64,
) -> Annotation {
    let mut a = Annotation::info(
        with_metric_name(
            "input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile)".to_string(),
            metric,
        ),
        pos,
    );
    a.extra = Extra::Monotonicity {
        min_ts: ts,
        max_ts: ts,
        min_bucket,
        max_bucket,
        max_diff,
        count: 0,
    };
    a
}

/// A binary operator on sample types it cannot combine.
pub(crate) fn incompatible_types_in_binop(
    lhs: &str,
    op: &str,
    rhs: &str,
    pos: PosRange,
) -> Annotation {
    Annotation::info(
        format!(
            "incompatible sample types encountered for binary operator {}: {lhs} {op} {rhs}",
            q(op)
        ),
        pos,
    )
}

/// An aggregation skipped a histogram.
pub(crate) fn histogram_ignored_in_aggregation(agg: &str, pos: PosRange) -> Annotation {
    Annotation::info(format!("ignored histogram in {agg} aggregation"), pos)
}

/// A range function skipped histograms in a mixed range.
pub(crate) fn histogram_ignored_in_mixed_range(metric: &str, pos: PosRange) -> Annotation {
    Annotation::info(
        format!(
            "ignored histograms in a range containing both floats and histograms for metric name {}",
            q(metric)
        ),
        pos,
    )
}

/// `sort` and friends in a range query.
pub(crate) fn sort_in_range_query(pos: PosRange) -> Annotation {
    Annotation::warn(
        "sort is ineffective for range queries since results are always ordered by labels"
            .to_string(),
        pos,
    )
}

/// A sample's start time lies before the previous sample.
pub(crate) fn start_time_overlap(metric: &str, pos: PosRange) -> Annotation {
    let mut a = Annotation::warn(
        format!(
            "sample has start time that overlaps with previous sample timestamp for metric {}",
            q(metric)
        ),
        pos,
    );
    a.extra = Extra::Overlap { count: 1 };
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dedup_keeps_latest_position() {
        let mut a = Annotations::default();
        a.add(invalid_quantile(2.0, PosRange::new(0, 1)));
        a.add(invalid_quantile(2.0, PosRange::new(4, 5)));
        a.add(sort_in_range_query(PosRange::new(2, 3)));
        let (w, i) = a.render("abcdef");
        assert!(i.is_empty());
        assert_eq!(
            w,
            [
                "PromQL warning: quantile value should be between 0 and 1, got 2 (1:5)",
                "PromQL warning: sort is ineffective for range queries since results are always ordered by labels (1:3)"
            ]
        );
    }

    #[test]
    fn monotonicity_merges() {
        let mut a = Annotations::default();
        a.add(forced_monotonicity(
            "",
            PosRange::new(0, 1),
            0,
            1.0,
            2.0,
            0.5,
        ));
        a.add(forced_monotonicity(
            "",
            PosRange::new(0, 1),
            60_000,
            0.5,
            1.0,
            3.0,
        ));
        let (_, i) = a.render("x");
        assert_eq!(i.len(), 1);
        assert!(i[0].ends_with(
            ", from buckets 0.5 to 2, with a max diff of 3, over 2 samples from 1970-01-01T00:00:00Z to 1970-01-01T00:01:00Z (1:1)"
        ));
    }
}
