//! Errors: where parsing stopped and why.

use ember_model::go_quote;
use thiserror::Error;

/// A parse failure, with the 1-based line and column (in characters) of the
/// byte where the parser gave up.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("line {line}, column {column}: {kind}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// 1-based column, counted in UTF-8 characters from the line start.
    pub column: usize,
    /// What went wrong.
    pub kind: ParseErrorKind,
}

/// The reasons a parse can fail.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseErrorKind {
    /// A token other than the one the grammar allows here.
    #[error("expected {expected}, found {found}")]
    Unexpected {
        /// What the grammar allows at this point.
        expected: &'static str,
        /// A short rendering of what was there instead.
        found: String,
    },
    /// A sample value that is not a float (Go `strconv.ParseFloat` syntax,
    /// without hex floats or `_` separators).
    #[error("invalid {what} {text:?}")]
    InvalidNumber {
        /// Which number: "value", "timestamp", "exemplar value", ...
        what: &'static str,
        /// The text that failed to parse.
        text: String,
    },
    /// A NaN or infinite timestamp (OpenMetrics).
    #[error("invalid {what} {text:?}: must be finite")]
    NonFiniteTimestamp {
        /// "timestamp" or "exemplar timestamp".
        what: &'static str,
        /// The text as written.
        text: String,
    },
    /// A `# TYPE` line naming a type the format does not have.
    #[error("invalid metric type {0:?}")]
    InvalidMetricType(String),
    /// Bytes that are not UTF-8 where text is required.
    #[error("invalid UTF-8 in {0}")]
    InvalidUtf8(&'static str),
    /// An OpenMetrics `# UNIT` whose unit is not a `_`-separated suffix of
    /// the metric name.
    #[error("unit {unit:?} not a suffix of metric {metric:?}")]
    UnitNotSuffix {
        /// The unit.
        unit: String,
        /// The metric family name.
        metric: String,
    },
    /// A series with labels but no metric name (`{a="b"} 1`).
    #[error("metric name not set")]
    MetricNameNotSet,
    /// A quoted metric name inside braces after the name was already given.
    #[error("metric name already set")]
    MetricNameAlreadySet,
    /// OpenMetrics input that stops before `# EOF`.
    #[error("data does not end with # EOF")]
    MissingEof,
    /// Anything after OpenMetrics' `# EOF` line.
    #[error("unexpected data after # EOF")]
    DataAfterEof,
    /// A stricter check of `check_metrics` (the client library text parser
    /// that `promtool check metrics` uses) failed.
    #[error("text format parsing error: {0}")]
    Check(String),
}

/// Converts a byte offset into a [`ParseError`] position.
pub(crate) fn error_at(input: &[u8], pos: usize, kind: ParseErrorKind) -> ParseError {
    let pos = pos.min(input.len());
    let before = &input[..pos];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    // Count characters: every byte that is not a UTF-8 continuation byte.
    let column = before[line_start..]
        .iter()
        .filter(|&&b| b & 0xC0 != 0x80)
        .count()
        + 1;
    ParseError { line, column, kind }
}

/// A short printable rendering of the bytes at `pos`, for "found ..." in
/// error messages.
pub(crate) fn describe(input: &[u8], pos: usize) -> String {
    match input.get(pos) {
        None => "end of input".to_string(),
        Some(b'\n') => "end of line".to_string(),
        Some(_) => {
            let rest = &input[pos..];
            // The token: a run of blanks, or up to the next blank or line
            // end; at most 24 bytes.
            let is_blank = |b: &u8| matches!(b, b' ' | b'\t');
            let first_blank = is_blank(&rest[0]);
            let end = rest
                .iter()
                .position(|b| *b == b'\n' || is_blank(b) != first_blank)
                .unwrap_or(rest.len())
                .min(24);
            go_quote(&String::from_utf8_lossy(&rest[..end]))
        }
    }
}

/// Builds an [`ParseErrorKind::Unexpected`] error at `pos`.
pub(crate) fn unexpected(input: &[u8], pos: usize, expected: &'static str) -> ParseError {
    error_at(
        input,
        pos,
        ParseErrorKind::Unexpected {
            expected,
            found: describe(input, pos),
        },
    )
}

/// Builds an [`ParseErrorKind::InvalidNumber`] error for the token `a..e`,
/// reported at its start.
pub(crate) fn invalid_number(input: &[u8], a: usize, e: usize, what: &'static str) -> ParseError {
    error_at(
        input,
        a,
        ParseErrorKind::InvalidNumber {
            what,
            text: String::from_utf8_lossy(&input[a..e]).into_owned(),
        },
    )
}

/// Builds an [`ParseErrorKind::InvalidMetricType`] error for the type
/// `text` of a TYPE line, reported at `pos`, where it starts.
pub(crate) fn invalid_metric_type(input: &[u8], pos: usize, text: &[u8]) -> ParseError {
    error_at(
        input,
        pos,
        ParseErrorKind::InvalidMetricType(String::from_utf8_lossy(text).into_owned()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_and_count_chars() {
        let input = "ab\nçd x".as_bytes();
        let e = error_at(input, 6, ParseErrorKind::MissingEof);
        assert_eq!((e.line, e.column), (2, 3));
        let e = error_at(input, 0, ParseErrorKind::MissingEof);
        assert_eq!((e.line, e.column), (1, 1));
        assert_eq!(
            e.to_string(),
            "line 1, column 1: data does not end with # EOF"
        );
        assert_eq!(describe(b"a\tb c\n", 1), "\"\\t\"");
        assert_eq!(describe(b"a\tb c\n", 2), "\"b\"");
        assert_eq!(describe(b"a\n", 1), "end of line");
        assert_eq!(describe(b"a", 1), "end of input");
    }
}
