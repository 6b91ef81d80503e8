//! Metric metadata: type, unit, help.

use std::fmt;
use std::str::FromStr;

use crate::ModelError;

/// A metric family's type, as in the exposition formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MetricType {
    /// `unknown` (text format `untyped`).
    #[default]
    Unknown,
    /// `counter`
    Counter,
    /// `gauge`
    Gauge,
    /// `histogram`
    Histogram,
    /// `gaugehistogram`
    GaugeHistogram,
    /// `summary`
    Summary,
    /// `info`
    Info,
    /// `stateset`
    Stateset,
}

impl MetricType {
    /// The name as OpenMetrics and the HTTP API spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Unknown => "unknown",
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::GaugeHistogram => "gaugehistogram",
            MetricType::Summary => "summary",
            MetricType::Info => "info",
            MetricType::Stateset => "stateset",
        }
    }

    /// The byte Prometheus' WAL uses for this type.
    pub fn wal_byte(self) -> u8 {
        match self {
            MetricType::Unknown => 0,
            MetricType::Counter => 1,
            MetricType::Gauge => 2,
            MetricType::Histogram => 3,
            MetricType::GaugeHistogram => 4,
            MetricType::Summary => 5,
            MetricType::Info => 6,
            MetricType::Stateset => 7,
        }
    }

    /// The type for a WAL byte; unknown bytes give `Unknown`.
    pub fn from_wal_byte(b: u8) -> Self {
        match b {
            1 => MetricType::Counter,
            2 => MetricType::Gauge,
            3 => MetricType::Histogram,
            4 => MetricType::GaugeHistogram,
            5 => MetricType::Summary,
            6 => MetricType::Info,
            7 => MetricType::Stateset,
            _ => MetricType::Unknown,
        }
    }
}

impl fmt::Display for MetricType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MetricType {
    type Err = ModelError;

    /// Accepts the OpenMetrics names and the text format's `untyped`.
    fn from_str(s: &str) -> Result<Self, ModelError> {
        Ok(match s {
            "unknown" | "untyped" => MetricType::Unknown,
            "counter" => MetricType::Counter,
            "gauge" => MetricType::Gauge,
            "histogram" => MetricType::Histogram,
            "gaugehistogram" => MetricType::GaugeHistogram,
            "summary" => MetricType::Summary,
            "info" => MetricType::Info,
            "stateset" => MetricType::Stateset,
            _ => return Err(ModelError::UnknownMetricType(s.to_string())),
        })
    }
}

/// What is known about a metric family beyond its samples.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Metadata {
    /// The type.
    pub metric_type: MetricType,
    /// The unit, empty when not given.
    pub unit: String,
    /// The help text, empty when not given.
    pub help: String,
}
