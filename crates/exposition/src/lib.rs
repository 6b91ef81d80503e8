//! The Prometheus text format and OpenMetrics: parsing scrapes, writing
//! expositions, negotiating which one, and `promtool check metrics`.
//!
//! **Parsing** is the scrape hot path, so the parsers are pull-based and
//! zero-copy. [`TextParser`] (text format 0.0.4) and [`OpenMetricsParser`]
//! (OpenMetrics 1.0), or the [`Parser`] that wraps either, walk a byte slice
//! and hand out one [`Entry`] per call to `next`: a [`Series`], a HELP,
//! TYPE or UNIT line, or a comment. Entries borrow the input; the only
//! copying happens when a string has to change (an escape resolved, an `le`
//! or `quantile` value normalised), and then it goes to a scratch buffer the
//! parser reuses from line to line, so a steady scrape allocates nothing per
//! sample. A [`Series`] keeps its labels unsorted, as written, and exposes
//! the raw `name{labels}` bytes ([`Series::series_bytes`]) so that a scrape
//! cache can recognise a known series without building its label set;
//! [`Series::to_labels`] builds the sorted [`ember_model::Labels`] when
//! needed. The whole input is checked for UTF-8 once, up front; names and
//! values are then sliced out as `&str` without re-validation.
//!
//! The grammar is Prometheus 3's, leniencies and quirks included, because
//! what Prometheus scrapes Ember must scrape: the text format takes blanks
//! around label syntax, a missing comma between labels, trailing commas,
//! comments anywhere and quoted UTF-8 names (`{"my.metric","a.b"="c"}`);
//! OpenMetrics insists on single spaces and a final `# EOF`, takes
//! exemplars, and reads float-second timestamps. Both normalise `le` and
//! `quantile` values to OpenMetrics float syntax (`"1"` becomes `"1.0"`),
//! and NaN values are always Prometheus' normal NaN. In OpenMetrics the
//! `_created` line of a counter, summary or histogram becomes the start
//! timestamp of the family's matching series (found with one lookahead scan
//! per family section rather than Prometheus' per-series peek), and
//! [`ParserOptions::skip_created_series`] drops those lines from the output.
//! Errors are [`ParseError`]s with a 1-based line and column; no input makes
//! a parser panic or loop.
//!
//! ```
//! use ember_exposition::{Entry, Format, Parser, ParserOptions};
//!
//! let body = b"# TYPE http_requests_total counter\nhttp_requests_total{code=\"200\"} 1027\n";
//! let mut p = Parser::new(body, Format::PrometheusText, ParserOptions::default());
//! while let Some(entry) = p.next()? {
//!     if let Entry::Series(s) = entry {
//!         assert_eq!(s.series_bytes(), br#"http_requests_total{code="200"}"#);
//!         assert_eq!(s.to_labels()?.to_string(), r#"{__name__="http_requests_total", code="200"}"#);
//!         assert_eq!(s.value, 1027.0);
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Where Ember knowingly differs from Prometheus, it is in what no
//! well-formed exposition depends on: an error is reported on the line that
//! has it (Prometheus sometimes only on the call after); a NUL byte inside a
//! comment is comment text (Prometheus may stop reading there); exemplar
//! label escapes are resolved (Prometheus keeps them raw); the
//! start-timestamp lookahead does not notice unparsable lines other than
//! `_created` ones (the parse then fails at them anyway). The
//! type-and-unit-labels feature (`__type__`/`__unit__`) and the protobuf
//! format are not implemented.
//!
//! **Negotiation**: [`DEFAULT_ACCEPT_HEADER`] is the `Accept` header
//! Prometheus 3 scrapes with, and [`format_for_content_type`] picks the
//! parser from a response's `Content-Type` with Prometheus' fallback rules.
//!
//! **Encoding**: [`Encoder`] writes either format line by line, and
//! [`encode`] writes whole [`Family`] values, with Go's float formatting
//! (`1e+06`, `+Inf`), the formats' escaping and quoting rules, and
//! OpenMetrics' `# EOF`.
//!
//! **Checking**: [`check_metrics`] is `promtool check metrics`: the input
//! must pass the scrape parser and the stricter parser of the Go client
//! library that promtool reads with, and promlint's findings come back as
//! [`LintProblem`]s.
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

mod content_type;
mod encode;
mod entry;
mod error;
mod float;
mod lex;
mod lint;
mod openmetrics;
mod seen;
#[cfg(test)]
mod testutil;
mod text;

pub use content_type::{
    accept_header, format_for_content_type, ContentTypeError, Format, FormatChoice, ScrapeProtocol,
    DEFAULT_ACCEPT_HEADER, DEFAULT_SCRAPE_PROTOCOLS,
};
pub use encode::{encode, Encoder, Family, FamilySample};
pub use entry::{Entry, ExemplarRef, LabelIter, Series};
pub use error::{ParseError, ParseErrorKind};
pub use lint::{check_metrics, LintProblem};
pub use openmetrics::{OpenMetricsParser, ParserOptions};
pub use text::TextParser;

/// A parser for either format, chosen at run time (for instance from
/// [`format_for_content_type`]).
pub enum Parser<'a> {
    /// The text format.
    Text(TextParser<'a>),
    /// OpenMetrics.
    OpenMetrics(Box<OpenMetricsParser<'a>>),
}

impl<'a> Parser<'a> {
    /// A parser for `input` in `format`; `options` apply to OpenMetrics.
    pub fn new(input: &'a [u8], format: Format, options: ParserOptions) -> Self {
        match format {
            Format::PrometheusText => Parser::Text(TextParser::new(input)),
            Format::OpenMetrics => {
                Parser::OpenMetrics(Box::new(OpenMetricsParser::new(input, options)))
            }
        }
    }

    /// The next entry; `Ok(None)` at the end. After an error the parser is
    /// finished.
    // A lending iterator: entries borrow the parser, so this cannot be
    // `Iterator::next`.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<Entry<'_>>, ParseError> {
        match self {
            Parser::Text(p) => p.next(),
            Parser::OpenMetrics(p) => p.next(),
        }
    }
}

/// Runs both parsers (OpenMetrics with and without `_created` series), the
/// label and exemplar builders and [`check_metrics`] over `data` to the end;
/// the fuzz target's body.
#[doc(hidden)]
pub fn fuzz_parse(data: &[u8]) {
    let skip = ParserOptions {
        skip_created_series: true,
    };
    for (format, options) in [
        (Format::PrometheusText, ParserOptions::default()),
        (Format::OpenMetrics, ParserOptions::default()),
        (Format::OpenMetrics, skip),
    ] {
        let mut p = Parser::new(data, format, options);
        while let Ok(Some(entry)) = p.next() {
            if let Entry::Series(s) = entry {
                let _ = s.to_labels();
                if let Some(e) = s.exemplar {
                    let _ = e.to_exemplar();
                }
            }
        }
    }
    let _ = check_metrics(data);
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = format_for_content_type(s, Some(Format::PrometheusText));
    }
}
