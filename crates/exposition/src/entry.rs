//! What the parsers yield: one [`Entry`] per line, borrowing the input and
//! the parser's scratch space.

use ember_model::{Exemplar, Label, Labels, MetricType, ModelError, METRIC_NAME};

use crate::lex::{Bufs, Pair, Str};

/// One parsed line. Strings borrow from the input where they could be used
/// as written, and from the parser's scratch buffer where escapes were
/// resolved or `le`/`quantile` values normalised; either way they live until
/// the next call to `next`.
#[derive(Debug, Clone, Copy)]
pub enum Entry<'p> {
    /// A sample.
    Series(Series<'p>),
    /// `# HELP metric text`, with escapes resolved.
    Help {
        /// The metric family name.
        metric: &'p str,
        /// The help text.
        text: &'p str,
    },
    /// `# TYPE metric type`.
    Type {
        /// The metric family name.
        metric: &'p str,
        /// The type (`untyped` in the text format is [`MetricType::Unknown`]).
        metric_type: MetricType,
    },
    /// `# UNIT metric unit` (OpenMetrics only).
    Unit {
        /// The metric family name.
        metric: &'p str,
        /// The unit, possibly empty.
        unit: &'p str,
    },
    /// Any other comment line (text format only), `#` included, newline
    /// excluded. The text format does not require comments to be UTF-8.
    Comment(&'p [u8]),
}

/// One sample: metric name, labels, value, timestamps and exemplar.
///
/// The labels are kept as parsed (input order, metric name separate);
/// [`Series::to_labels`] builds the sorted [`Labels`] set when it is
/// needed, and [`Series::series_bytes`] gives the raw `name{labels}` text,
/// which is what a scrape cache keys on to skip that work entirely for
/// series it has seen before.
#[derive(Debug, Clone, Copy)]
pub struct Series<'p> {
    pub(crate) raw: &'p [u8],
    pub(crate) name: &'p str,
    pub(crate) labels: &'p [Pair<'p>],
    pub(crate) scratch: &'p str,
    /// The sample value; NaN is always Prometheus' normal NaN, never the
    /// stale marker.
    pub value: f64,
    /// The sample timestamp in milliseconds, if the line had one.
    pub timestamp: Option<i64>,
    /// The start (created) timestamp in milliseconds, from the family's
    /// matching `_created` line (OpenMetrics counters, summaries and
    /// histograms only).
    pub start_timestamp: Option<i64>,
    /// The exemplar (OpenMetrics only).
    pub exemplar: Option<ExemplarRef<'p>>,
}

impl<'p> Series<'p> {
    /// The metric name, escapes resolved.
    pub fn metric_name(&self) -> &'p str {
        self.name
    }

    /// The series part of the line as written: the metric name and label
    /// set, up to and including the closing brace. Two lines of one scrape
    /// have equal bytes here exactly when they are written identically.
    pub fn series_bytes(&self) -> &'p [u8] {
        self.raw
    }

    /// The labels other than the metric name, in input order, escapes
    /// resolved and `le`/`quantile` normalised.
    pub fn labels(&self) -> LabelIter<'p> {
        LabelIter {
            inner: self.labels.iter(),
            scratch: self.scratch,
        }
    }

    /// The full label set, `__name__` included. Labels with empty values are
    /// dropped; a label given twice is an error, as in Prometheus' scrape.
    pub fn to_labels(&self) -> Result<Labels, ModelError> {
        Labels::from_pairs(
            std::iter::once((METRIC_NAME, self.name))
                .chain(self.labels().map(|l| (l.name, l.value))),
        )
    }
}

/// An exemplar of a [`Series`].
#[derive(Debug, Clone, Copy)]
pub struct ExemplarRef<'p> {
    pub(crate) labels: &'p [Pair<'p>],
    pub(crate) scratch: &'p str,
    /// The exemplar value.
    pub value: f64,
    /// The exemplar timestamp in milliseconds, if given.
    pub timestamp: Option<i64>,
}

impl<'p> ExemplarRef<'p> {
    /// The exemplar's labels, in input order.
    pub fn labels(&self) -> LabelIter<'p> {
        LabelIter {
            inner: self.labels.iter(),
            scratch: self.scratch,
        }
    }

    /// An owned [`Exemplar`].
    pub fn to_exemplar(&self) -> Result<Exemplar, ModelError> {
        Ok(Exemplar {
            labels: Labels::from_pairs(self.labels().map(|l| (l.name, l.value)))?,
            value: self.value,
            t: self.timestamp,
        })
    }
}

/// Iterator over parsed labels.
#[derive(Debug, Clone)]
pub struct LabelIter<'p> {
    inner: std::slice::Iter<'p, Pair<'p>>,
    scratch: &'p str,
}

impl<'p> Iterator for LabelIter<'p> {
    type Item = Label<'p>;

    #[inline]
    fn next(&mut self) -> Option<Label<'p>> {
        let (n, v) = self.inner.next()?;
        Some(Label {
            name: n.get(self.scratch),
            value: v.get(self.scratch),
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl ExactSizeIterator for LabelIter<'_> {}

/// A parsed line before its strings are resolved against the scratch
/// buffer.
pub(crate) enum Raw<'a> {
    Series {
        raw: &'a [u8],
        name: Str<'a>,
        value: f64,
        timestamp: Option<i64>,
        start_timestamp: Option<i64>,
        exemplar: Option<(f64, Option<i64>)>,
    },
    Help(Str<'a>, Str<'a>),
    Type(Str<'a>, MetricType),
    Unit(Str<'a>, Str<'a>),
    Comment(&'a [u8]),
}

impl<'a> Raw<'a> {
    /// Resolves the strings of a parsed line.
    pub(crate) fn resolve<'p>(self, bufs: &'p Bufs<'a>) -> Entry<'p>
    where
        'a: 'p,
    {
        let s = bufs.scratch.as_str();
        match self {
            Raw::Series {
                raw,
                name,
                value,
                timestamp,
                start_timestamp,
                exemplar,
            } => Entry::Series(Series {
                raw,
                name: name.get(s),
                labels: &bufs.labels,
                scratch: s,
                value,
                timestamp,
                start_timestamp,
                exemplar: exemplar.map(|(value, timestamp)| ExemplarRef {
                    labels: &bufs.ex_labels,
                    scratch: s,
                    value,
                    timestamp,
                }),
            }),
            Raw::Help(m, t) => Entry::Help {
                metric: m.get(s),
                text: t.get(s),
            },
            Raw::Type(m, metric_type) => Entry::Type {
                metric: m.get(s),
                metric_type,
            },
            Raw::Unit(m, u) => Entry::Unit {
                metric: m.get(s),
                unit: u.get(s),
            },
            Raw::Comment(c) => Entry::Comment(c),
        }
    }
}
