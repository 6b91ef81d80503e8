//! Test helpers: parse everything and render entries as compact strings.

use ember_model::go_quote;

use crate::float::push_go_float;
use crate::{Entry, Format, LabelIter, ParseError, Parser, ParserOptions};

fn labels(out: &mut String, it: LabelIter<'_>, always: bool) {
    if it.len() == 0 && !always {
        return;
    }
    out.push('{');
    for (i, l) in it.enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(l.name);
        out.push('=');
        out.push_str(&go_quote(l.value));
    }
    out.push('}');
}

/// One entry as a line: `name{a="b"} 1.5 @ts st=ST # {ex} 1 @ts`,
/// `HELP m "text"`, `TYPE m counter`, `UNIT m "u"`, `COMMENT "..."`.
pub(crate) fn render(e: &Entry<'_>) -> String {
    match e {
        Entry::Series(s) => {
            let mut out = s.metric_name().to_string();
            labels(&mut out, s.labels(), false);
            out.push(' ');
            push_go_float(&mut out, s.value);
            if let Some(t) = s.timestamp {
                out.push_str(&format!(" @{t}"));
            }
            if let Some(st) = s.start_timestamp {
                out.push_str(&format!(" st={st}"));
            }
            if let Some(ex) = &s.exemplar {
                out.push_str(" # ");
                labels(&mut out, ex.labels(), true);
                out.push(' ');
                push_go_float(&mut out, ex.value);
                if let Some(t) = ex.timestamp {
                    out.push_str(&format!(" @{t}"));
                }
            }
            out
        }
        Entry::Help { metric, text } => format!("HELP {metric} {}", go_quote(text)),
        Entry::Type {
            metric,
            metric_type,
        } => format!("TYPE {metric} {metric_type}"),
        Entry::Unit { metric, unit } => format!("UNIT {metric} {}", go_quote(unit)),
        Entry::Comment(c) => format!("COMMENT {}", go_quote(&String::from_utf8_lossy(c))),
    }
}

/// Parses all of `input`; the rendered entries, or the first error.
pub(crate) fn parse_all(
    input: &[u8],
    format: Format,
    options: ParserOptions,
) -> Result<Vec<String>, ParseError> {
    let mut p = Parser::new(input, format, options);
    let mut out = Vec::new();
    while let Some(e) = p.next()? {
        out.push(render(&e));
    }
    Ok(out)
}

/// The text format, all entries.
pub(crate) fn text(input: &str) -> Vec<String> {
    match parse_all(
        input.as_bytes(),
        Format::PrometheusText,
        ParserOptions::default(),
    ) {
        Ok(v) => v,
        Err(e) => panic!("{input:?}: {e}"),
    }
}

/// The text format's error.
pub(crate) fn text_err(input: &[u8]) -> ParseError {
    match parse_all(input, Format::PrometheusText, ParserOptions::default()) {
        Ok(v) => panic!("{:?} parsed: {v:?}", String::from_utf8_lossy(input)),
        Err(e) => e,
    }
}

/// OpenMetrics with `_created` series skipped (as Prometheus' tests run).
pub(crate) fn om(input: &str) -> Vec<String> {
    let skip = ParserOptions {
        skip_created_series: true,
    };
    match parse_all(input.as_bytes(), Format::OpenMetrics, skip) {
        Ok(v) => v,
        Err(e) => panic!("{input:?}: {e}"),
    }
}

/// OpenMetrics' error.
pub(crate) fn om_err(input: &[u8]) -> ParseError {
    match parse_all(input, Format::OpenMetrics, ParserOptions::default()) {
        Ok(v) => panic!("{:?} parsed: {v:?}", String::from_utf8_lossy(input)),
        Err(e) => e,
    }
}
