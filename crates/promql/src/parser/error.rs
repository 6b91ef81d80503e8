//! The parser's error type.

use thiserror::Error;

use super::ast::PosRange;

/// Why a query was rejected: a syntax error, an invalid literal, or a type
/// error. Displays as Prometheus does: `1:5: parse error: <message>`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{}: parse error: {message}", self.position())]
pub struct ParseError {
    /// Byte offsets of the offending part of the query.
    pub pos: PosRange,
    /// 1-based line of `pos.start`; 0 for an empty query.
    pub line: usize,
    /// 1-based column (in bytes) of `pos.start`; 0 for an empty query.
    pub col: usize,
    /// What is wrong, in Prometheus' words where it has them.
    pub message: String,
}

impl ParseError {
    /// An error at `pos` in `query`.
    pub(crate) fn new(query: &str, pos: PosRange, message: impl Into<String>) -> Self {
        let (line, col) = if query.is_empty() {
            (0, 0)
        } else {
            pos.line_col(query)
        };
        ParseError {
            pos,
            line,
            col,
            message: message.into(),
        }
    }

    /// `line:col`, or `unknown position` for an empty query.
    fn position(&self) -> String {
        if self.line == 0 {
            "unknown position".to_string()
        } else {
            format!("{}:{}", self.line, self.col)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display() {
        let e = ParseError::new(
            "foo +\n  bar baz",
            PosRange::new(12, 15),
            "unexpected identifier \"baz\"",
        );
        assert_eq!((e.line, e.col), (2, 7));
        assert_eq!(
            e.to_string(),
            "2:7: parse error: unexpected identifier \"baz\""
        );
        let e = ParseError::new("", PosRange::new(0, 0), "no expression found in input");
        assert_eq!(
            e.to_string(),
            "unknown position: parse error: no expression found in input"
        );
    }
}
