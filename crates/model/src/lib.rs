//! Ember's data model: the values every other crate passes around.
//!
//! A series is identified by its [`Labels`], an immutable sorted set stored
//! in one shared buffer: cloning is a reference-count increment, hashing and
//! equality work on the compact bytes, and ordering follows Prometheus
//! (label by label, name then value). There is no global string interner;
//! components that intern (the head, the index) own their tables.
//!
//! [`Matcher`]s select series with Prometheus' semantics: a missing label
//! matches as the empty string, regexes are fully anchored with `.` matching
//! newlines, and Go's ASCII-only Perl classes are kept. Common regex shapes
//! (`.*`, `.+`, literal alternations, literal prefixes) are recognised so the
//! index can answer them without running a regex over every value.
//!
//! Time is `i64` milliseconds since the epoch. Durations use Prometheus'
//! syntax ([`parse_duration`], [`format_duration`]). A [`Sample`] holds a
//! float or a native histogram ([`Histogram`], [`FloatHistogram`]) and an
//! optional start (created) timestamp; [`Metadata`] carries type, unit and
//! help. The crate does no I/O.
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::print_stdout,
        clippy::print_stderr
    )
)]

mod duration;
mod error;
mod labels;
mod matcher;
mod metadata;
mod sample;

pub use duration::{format_duration, parse_duration};
pub use error::ModelError;
pub use labels::{
    go_quote, is_valid_legacy_label_name, is_valid_legacy_metric_name, Label, Labels,
    LabelsBuilder, LabelsIter, METRIC_NAME,
};
pub use matcher::{matches_all, MatchOp, Matcher};
pub use metadata::{Metadata, MetricType};
pub use sample::{
    is_stale_nan, stale_nan, CounterResetHint, Exemplar, FloatHistogram, Histogram, Sample, Span,
    Timestamp, Value, STALE_NAN_BITS,
};
