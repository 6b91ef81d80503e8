use thiserror::Error;

/// Errors from building or parsing model values.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ModelError {
    /// A label name was empty.
    #[error("empty label name")]
    EmptyLabelName,
    /// The same label name appeared twice in one label set.
    #[error("duplicate label name {0:?}")]
    DuplicateLabelName(String),
    /// A label set is larger than the compact encoding allows.
    #[error("label set too large: {0} bytes")]
    LabelsTooLarge(usize),
    /// A duration string did not parse.
    #[error("not a valid duration string: {0:?}")]
    InvalidDuration(String),
    /// A duration does not fit in 64-bit milliseconds.
    #[error("duration out of range: {0:?}")]
    DurationOutOfRange(String),
    /// A regular expression in a matcher did not compile.
    #[error("invalid regular expression {pattern:?}: {message}")]
    InvalidRegex {
        /// The pattern as given.
        pattern: String,
        /// Why it was rejected.
        message: String,
    },
    /// An unknown metric type name.
    #[error("unknown metric type {0:?}")]
    UnknownMetricType(String),
}
