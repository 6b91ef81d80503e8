//! Encoders for both formats, as Prometheus' `expfmt` writes them (for
//! `/federate` and for programs exposing their own metrics).

use ember_model::{
    is_valid_legacy_label_name, is_valid_legacy_metric_name, Exemplar, Label, Labels, MetricType,
    METRIC_NAME,
};

use crate::content_type::Format;
use crate::float::{push_om_float, push_text_float};

/// Writes exposition text line by line into a `String`.
///
/// The encoder writes what it is given: family names on HELP/TYPE/UNIT
/// lines and full sample names (`foo_total`, `foo_bucket`) on sample lines,
/// so the caller decides the naming the format wants (OpenMetrics counter
/// families are named without `_total`). Names that are not legacy
/// Prometheus names are quoted (`{"my.metric",a="b"}`). Floats are written
/// like Go's `strconv.FormatFloat(v, 'g', -1, 64)` (`1e+06`, `+Inf`,
/// `NaN`); OpenMetrics adds `.0` to integral values and writes timestamps as
/// float seconds. The text format has no units and no exemplars; they are
/// left out.
#[derive(Debug, Clone)]
pub struct Encoder {
    format: Format,
    out: String,
}

impl Encoder {
    /// An encoder for `format`.
    pub fn new(format: Format) -> Self {
        Encoder {
            format,
            out: String::new(),
        }
    }

    /// `# HELP family text`.
    pub fn help(&mut self, family: &str, text: &str) {
        self.out.push_str("# HELP ");
        self.name(family);
        self.out.push(' ');
        let om = self.format == Format::OpenMetrics;
        for c in text.chars() {
            match c {
                '\\' => self.out.push_str("\\\\"),
                '\n' => self.out.push_str("\\n"),
                '"' if om => self.out.push_str("\\\""),
                c => self.out.push(c),
            }
        }
        self.out.push('\n');
    }

    /// `# TYPE family type`. The text format writes gauge histograms as
    /// `histogram`, info and stateset as `gauge` and unknown as `untyped`.
    pub fn metric_type(&mut self, family: &str, metric_type: MetricType) {
        self.out.push_str("# TYPE ");
        self.name(family);
        self.out.push(' ');
        let t = match (self.format, metric_type) {
            (Format::OpenMetrics, t) => t.as_str(),
            (Format::PrometheusText, MetricType::Unknown) => "untyped",
            (Format::PrometheusText, MetricType::GaugeHistogram) => "histogram",
            (Format::PrometheusText, MetricType::Info | MetricType::Stateset) => "gauge",
            (Format::PrometheusText, t) => t.as_str(),
        };
        self.out.push_str(t);
        self.out.push('\n');
    }

    /// `# UNIT family unit` (OpenMetrics only).
    pub fn unit(&mut self, family: &str, unit: &str) {
        if self.format == Format::OpenMetrics {
            self.out.push_str("# UNIT ");
            self.name(family);
            self.out.push(' ');
            self.escaped(unit);
            self.out.push('\n');
        }
    }

    /// One sample line. `labels` are written in the order given and must
    /// not include `__name__`; the timestamp is in milliseconds.
    pub fn sample<'l>(
        &mut self,
        name: &str,
        labels: impl IntoIterator<Item = Label<'l>>,
        value: f64,
        timestamp: Option<i64>,
        exemplar: Option<&Exemplar>,
    ) {
        self.name_and_labels(name, labels, true);
        self.out.push(' ');
        self.float(value);
        if let Some(t) = timestamp {
            self.out.push(' ');
            self.timestamp(t);
        }
        if let (Format::OpenMetrics, Some(e)) = (self.format, exemplar) {
            self.out.push_str(" # ");
            self.name_and_labels("", e.labels.iter(), false);
            self.out.push(' ');
            self.float(e.value);
            if let Some(t) = e.t {
                self.out.push(' ');
                self.timestamp(t);
            }
        }
        self.out.push('\n');
    }

    /// One sample line for a full label set: the name comes from
    /// `__name__`, the other labels follow in order.
    pub fn series(
        &mut self,
        labels: &Labels,
        value: f64,
        timestamp: Option<i64>,
        exemplar: Option<&Exemplar>,
    ) {
        let name = labels.metric_name().unwrap_or_default();
        self.sample(
            name,
            labels.iter().filter(|l| l.name != METRIC_NAME),
            value,
            timestamp,
            exemplar,
        );
    }

    /// The text so far, leaving the encoder empty (for streaming a large
    /// response in chunks).
    pub fn take(&mut self) -> String {
        std::mem::take(&mut self.out)
    }

    /// The rest of the text; OpenMetrics gets its closing `# EOF`.
    pub fn finish(mut self) -> String {
        if self.format == Format::OpenMetrics {
            self.out.push_str("# EOF\n");
        }
        self.out
    }

    fn float(&mut self, v: f64) {
        match self.format {
            Format::PrometheusText => push_text_float(&mut self.out, v),
            Format::OpenMetrics => push_om_float(&mut self.out, v),
        }
    }

    fn timestamp(&mut self, ms: i64) {
        match self.format {
            Format::PrometheusText => self.out.push_str(&ms.to_string()),
            Format::OpenMetrics => push_om_float(&mut self.out, ms as f64 / 1000.0),
        }
    }

    /// A name on a metadata line.
    fn name(&mut self, name: &str) {
        if is_valid_legacy_metric_name(name) {
            self.out.push_str(name);
        } else {
            self.quoted(name);
        }
    }

    fn quoted(&mut self, s: &str) {
        self.out.push('"');
        self.escaped(s);
        self.out.push('"');
    }

    /// Label value escaping: backslash, newline, double quote.
    fn escaped(&mut self, s: &str) {
        let mut rest = s;
        while let Some(i) = rest.find(['\\', '\n', '"']) {
            self.out.push_str(&rest[..i]);
            self.out.push_str(match rest.as_bytes()[i] {
                b'\\' => "\\\\",
                b'\n' => "\\n",
                _ => "\\\"",
            });
            rest = &rest[i + 1..];
        }
        self.out.push_str(rest);
    }

    fn name_and_labels<'l>(
        &mut self,
        name: &str,
        labels: impl IntoIterator<Item = Label<'l>>,
        omit_empty: bool,
    ) {
        let mut sep = '{';
        if is_valid_legacy_metric_name(name) {
            self.out.push_str(name);
        } else if !name.is_empty() {
            self.out.push('{');
            self.quoted(name);
            sep = ',';
        }
        for l in labels {
            self.out.push(sep);
            sep = ',';
            if is_valid_legacy_label_name(l.name) {
                self.out.push_str(l.name);
            } else {
                self.quoted(l.name);
            }
            self.out.push_str("=\"");
            self.escaped(l.value);
            self.out.push('"');
        }
        if sep == ',' {
            self.out.push('}');
        } else if !omit_empty {
            self.out.push_str("{}");
        }
    }
}

/// One sample of a [`Family`].
#[derive(Debug, Clone, PartialEq)]
pub struct FamilySample {
    /// The series, `__name__` included (e.g. `foo_bucket` with `le`).
    pub labels: Labels,
    /// The value.
    pub value: f64,
    /// Timestamp in milliseconds.
    pub timestamp: Option<i64>,
    /// An exemplar (written in OpenMetrics only).
    pub exemplar: Option<Exemplar>,
}

/// A metric family: metadata and samples, written together.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    /// The family name on HELP/TYPE/UNIT lines.
    pub name: String,
    /// The type.
    pub metric_type: MetricType,
    /// Help text, if any.
    pub help: Option<String>,
    /// Unit, if any (OpenMetrics only).
    pub unit: Option<String>,
    /// The samples, in the order to write them.
    pub samples: Vec<FamilySample>,
}

/// Writes whole families: HELP, TYPE, UNIT, then the samples; OpenMetrics
/// output ends with `# EOF`.
pub fn encode(families: &[Family], format: Format) -> String {
    let mut e = Encoder::new(format);
    for f in families {
        if let Some(h) = &f.help {
            e.help(&f.name, h);
        }
        e.metric_type(&f.name, f.metric_type);
        if let Some(u) = &f.unit {
            e.unit(&f.name, u);
        }
        for s in &f.samples {
            e.series(&s.labels, s.value, s.timestamp, s.exemplar.as_ref());
        }
    }
    e.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ember_model::labels;

    #[test]
    fn text_like_expfmt() {
        let mut e = Encoder::new(Format::PrometheusText);
        e.help("http_requests_total", "Requests.\nWith \\ and \"quotes\".");
        e.metric_type("http_requests_total", MetricType::Counter);
        e.unit("http_requests_total", "requests");
        let l =
            labels!("__name__" => "http_requests_total", "code" => "200", "path" => "a\"b\\c\nd");
        e.series(&l, 1027.0, Some(1395066363000), None);
        e.sample("x", [], 1e6, None, None);
        e.sample("x", [], -0.0, None, None);
        e.sample("x", [], 0.001, None, None);
        e.sample("x", [], f64::NAN, None, None);
        e.sample("x", [], f64::NEG_INFINITY, None, None);
        e.sample(
            "my.metric",
            [Label {
                name: "a.b",
                value: "c",
            }],
            1.5,
            None,
            None,
        );
        e.sample("my.metric", [], 2.0, None, None);
        e.metric_type("g", MetricType::GaugeHistogram);
        e.metric_type("i", MetricType::Info);
        e.metric_type("u", MetricType::Unknown);
        let mut out = e.take();
        e.sample("y", [], 1.0, None, None);
        out.push_str(&e.finish());
        assert_eq!(
            out,
            "# HELP http_requests_total Requests.\\nWith \\\\ and \"quotes\".\n\
             # TYPE http_requests_total counter\n\
             http_requests_total{code=\"200\",path=\"a\\\"b\\\\c\\nd\"} 1027 1395066363000\n\
             x 1e+06\nx 0\nx 0.001\nx NaN\nx -Inf\n\
             {\"my.metric\",\"a.b\"=\"c\"} 1.5\n{\"my.metric\"} 2\n\
             # TYPE g histogram\n# TYPE i gauge\n# TYPE u untyped\ny 1\n"
        );
    }

    #[test]
    fn openmetrics_like_expfmt() {
        let mut e = Encoder::new(Format::OpenMetrics);
        e.help("foo", "Say \"hi\"");
        e.metric_type("foo", MetricType::Counter);
        e.unit("foo_seconds", "seconds");
        let ex = Exemplar {
            labels: labels!("trace_id" => "abc"),
            value: 1.0,
            t: Some(1520879607789),
        };
        e.sample("foo_total", [], 17.0, Some(1520879607789), Some(&ex));
        e.sample("foo_created", [], 1520872607.123, None, None);
        let bare = Exemplar {
            labels: Labels::empty(),
            value: 0.5,
            t: None,
        };
        e.sample(
            "foo_total",
            [Label {
                name: "a",
                value: "b",
            }],
            0.0,
            None,
            Some(&bare),
        );
        assert_eq!(
            e.finish(),
            "# HELP foo Say \\\"hi\\\"\n# TYPE foo counter\n# UNIT foo_seconds seconds\n\
             foo_total 17.0 1.520879607789e+09 # {trace_id=\"abc\"} 1.0 1.520879607789e+09\n\
             foo_created 1.520872607123e+09\n\
             foo_total{a=\"b\"} 0.0 # {} 0.5\n# EOF\n"
        );
    }

    #[test]
    fn families() {
        let f = Family {
            name: "temp_celsius".into(),
            metric_type: MetricType::Gauge,
            help: Some("Temperature.".into()),
            unit: Some("celsius".into()),
            samples: vec![FamilySample {
                labels: labels!("__name__" => "temp_celsius", "room" => "a"),
                value: 21.5,
                timestamp: None,
                exemplar: None,
            }],
        };
        assert_eq!(
            encode(std::slice::from_ref(&f), Format::PrometheusText),
            "# HELP temp_celsius Temperature.\n# TYPE temp_celsius gauge\ntemp_celsius{room=\"a\"} 21.5\n"
        );
        assert_eq!(
            encode(&[f], Format::OpenMetrics),
            "# HELP temp_celsius Temperature.\n# TYPE temp_celsius gauge\n# UNIT temp_celsius celsius\n\
             temp_celsius{room=\"a\"} 21.5\n# EOF\n"
        );
    }
}
