//! Content negotiation: the scrape `Accept` header, and choosing a parser
//! from a response's `Content-Type` the way Prometheus' `textparse.New`
//! does.

use thiserror::Error;

/// An exposition format this crate parses and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// The Prometheus text format (`text/plain; version=0.0.4`).
    PrometheusText,
    /// OpenMetrics 1.0 text (`application/openmetrics-text`).
    OpenMetrics,
}

impl Format {
    /// The `Content-Type` to send when serving this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::PrometheusText => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// A scrape protocol Prometheus can ask for (its `scrape_protocols`
/// setting).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScrapeProtocol {
    /// `PrometheusProto`: delimited protobuf (not parsed by this crate yet).
    PrometheusProto,
    /// `PrometheusText0.0.4`
    PrometheusText0_0_4,
    /// `PrometheusText1.0.0`: the text format with UTF-8 names.
    PrometheusText1_0_0,
    /// `OpenMetricsText0.0.1`
    OpenMetricsText0_0_1,
    /// `OpenMetricsText1.0.0`
    OpenMetricsText1_0_0,
}

impl ScrapeProtocol {
    /// The media type and version parameters Prometheus sends for it.
    pub fn media_type(self) -> &'static str {
        match self {
            ScrapeProtocol::PrometheusProto => {
                "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited"
            }
            ScrapeProtocol::PrometheusText0_0_4 => "text/plain;version=0.0.4",
            ScrapeProtocol::PrometheusText1_0_0 => "text/plain;version=1.0.0",
            ScrapeProtocol::OpenMetricsText0_0_1 => "application/openmetrics-text;version=0.0.1",
            ScrapeProtocol::OpenMetricsText1_0_0 => "application/openmetrics-text;version=1.0.0",
        }
    }
}

/// Prometheus 3's default `scrape_protocols`, in order of preference.
pub const DEFAULT_SCRAPE_PROTOCOLS: [ScrapeProtocol; 4] = [
    ScrapeProtocol::OpenMetricsText1_0_0,
    ScrapeProtocol::OpenMetricsText0_0_1,
    ScrapeProtocol::PrometheusText1_0_0,
    ScrapeProtocol::PrometheusText0_0_4,
];

/// The `Accept` header Prometheus 3 sends by default: [`accept_header`] of
/// [`DEFAULT_SCRAPE_PROTOCOLS`] with the `allow-utf-8` escaping scheme.
pub const DEFAULT_ACCEPT_HEADER: &str =
    "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,\
application/openmetrics-text;version=0.0.1;q=0.5,\
text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,\
text/plain;version=0.0.4;q=0.3,\
*/*;q=0.2";

/// The `Accept` header for `protocols` in order of preference, as
/// Prometheus builds it: q-values from 0.6 down, the escaping parameter on
/// the 1.0.0 text protocols (`allow-utf-8`, `underscores`, `dots` or
/// `values`), and a final `*/*`.
pub fn accept_header(protocols: &[ScrapeProtocol], escaping: &str) -> String {
    // Prometheus starts at (number of known protocols + 1).
    let mut weight = 6usize;
    let mut out = String::new();
    for &p in protocols {
        out.push_str(p.media_type());
        if matches!(
            p,
            ScrapeProtocol::PrometheusText1_0_0 | ScrapeProtocol::OpenMetricsText1_0_0
        ) {
            out.push_str(";escaping=");
            out.push_str(escaping);
        }
        out.push_str(&format!(";q=0.{weight},"));
        weight = weight.saturating_sub(1);
    }
    out.push_str(&format!("*/*;q=0.{weight}"));
    out
}

/// Why a `Content-Type` could not be used as is.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ContentTypeError {
    /// The header was missing or empty.
    #[error("non-compliant scrape target sending blank Content-Type")]
    Blank,
    /// The header is not a valid media type (RFC 2045 syntax, parameters
    /// included; a parameter given twice is invalid).
    #[error("cannot parse Content-Type {content_type:?}: {reason}")]
    Invalid {
        /// The header value.
        content_type: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A valid media type that is not an exposition format.
    #[error("received unsupported Content-Type {0:?}")]
    Unsupported(String),
    /// The protobuf exposition format, which this crate does not parse yet.
    #[error("the protobuf exposition format ({0:?}) is not supported yet")]
    Protobuf(String),
}

/// The outcome of [`format_for_content_type`] when a parser can run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatChoice {
    /// The parser to use.
    pub format: Format,
    /// Set when the fallback was used; worth logging, as Prometheus does.
    pub warning: Option<ContentTypeError>,
}

/// Chooses a parser from a response's `Content-Type`, as Prometheus does:
/// `application/openmetrics-text` (any version or charset) is OpenMetrics,
/// `text/plain` is the text format, protobuf is recognised but not
/// supported; a blank, unparsable or unknown media type uses `fallback`
/// (Prometheus' `fallback_scrape_protocol`) with a warning, or is an error
/// when there is none.
pub fn format_for_content_type(
    content_type: &str,
    fallback: Option<Format>,
) -> Result<FormatChoice, ContentTypeError> {
    let problem = if content_type.trim().is_empty() {
        ContentTypeError::Blank
    } else {
        match parse_media_type(content_type) {
            Err(reason) => ContentTypeError::Invalid {
                content_type: content_type.to_string(),
                reason,
            },
            Ok(mt) => match mt.as_str() {
                "application/openmetrics-text" => {
                    return Ok(FormatChoice {
                        format: Format::OpenMetrics,
                        warning: None,
                    })
                }
                "text/plain" => {
                    return Ok(FormatChoice {
                        format: Format::PrometheusText,
                        warning: None,
                    })
                }
                "application/vnd.google.protobuf" => {
                    return Err(ContentTypeError::Protobuf(content_type.to_string()))
                }
                _ => ContentTypeError::Unsupported(content_type.to_string()),
            },
        }
    };
    match fallback {
        Some(format) => Ok(FormatChoice {
            format,
            warning: Some(problem),
        }),
        None => Err(problem),
    }
}

/// RFC 2045 `tspecials`, which a token may not contain.
fn is_token_char(c: char) -> bool {
    c.is_ascii() && !c.is_ascii_control() && c != ' ' && !"()<>@,;:\\\"/[]?=".contains(c)
}

/// Splits a token off the front of `s`.
fn token(s: &str) -> (&str, &str) {
    let end = s.find(|c: char| !is_token_char(c)).unwrap_or(s.len());
    s.split_at(end)
}

/// Go's `mime.ParseMediaType`, reduced to what the choice needs: the
/// lower-cased media type, after checking the parameters' syntax
/// (`; key=token` or `; key="quoted"`, keys unique, a trailing `;` allowed).
fn parse_media_type(v: &str) -> Result<String, &'static str> {
    let (base, mut rest) = v.split_once(';').map_or((v, ""), |(a, b)| (a, b));
    let base = base.trim();
    let (typ, after) = token(base);
    if typ.is_empty() {
        return Err("no media type");
    }
    if !after.is_empty() {
        let Some(sub) = after.strip_prefix('/') else {
            return Err("expected slash after first token");
        };
        let (subtype, after) = token(sub);
        if subtype.is_empty() {
            return Err("expected token after slash");
        }
        if !after.is_empty() {
            return Err("unexpected content after media subtype");
        }
    }
    let mut seen: Vec<String> = Vec::new();
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            break;
        }
        let (key, after) = token(rest);
        let Some(after) = after.strip_prefix('=') else {
            return Err("invalid media parameter");
        };
        if key.is_empty() {
            return Err("invalid media parameter");
        }
        let after = if let Some(q) = after.strip_prefix('"') {
            let mut escaped = false;
            let mut close = None;
            for (i, c) in q.char_indices() {
                match c {
                    _ if escaped => escaped = false,
                    '\\' => escaped = true,
                    '"' => {
                        close = Some(i);
                        break;
                    }
                    _ => {}
                }
            }
            let Some(i) = close else {
                return Err("invalid media parameter");
            };
            &q[i + 1..]
        } else {
            let (value, after) = token(after);
            if value.is_empty() {
                return Err("invalid media parameter");
            }
            after
        };
        let key = key.to_ascii_lowercase();
        if seen.contains(&key) {
            return Err("duplicate parameter name");
        }
        seen.push(key);
        let after = after.trim_start();
        rest = match after.strip_prefix(';') {
            Some(r) => r,
            None if after.is_empty() => after,
            None => return Err("invalid media parameter"),
        };
    }
    Ok(base.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_accept_header_matches_prometheus() {
        assert_eq!(
            accept_header(&DEFAULT_SCRAPE_PROTOCOLS, "allow-utf-8"),
            DEFAULT_ACCEPT_HEADER
        );
        assert_eq!(
            accept_header(&[ScrapeProtocol::PrometheusText0_0_4], "allow-utf-8"),
            "text/plain;version=0.0.4;q=0.6,*/*;q=0.5"
        );
        assert_eq!(
            accept_header(&[ScrapeProtocol::PrometheusProto, ScrapeProtocol::OpenMetricsText1_0_0], "underscores"),
            "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.6,\
             application/openmetrics-text;version=1.0.0;escaping=underscores;q=0.5,*/*;q=0.4"
        );
    }

    fn choose(ct: &str, fallback: Option<Format>) -> Result<FormatChoice, ContentTypeError> {
        format_for_content_type(ct, fallback)
    }

    #[test]
    fn content_types_like_prometheus_interface_test() {
        let om = Some(Format::OpenMetrics);
        let text = Some(Format::PrometheusText);
        // Recognised types, parameters ignored.
        for ct in [
            "application/openmetrics-text",
            "application/openmetrics-text; charset=utf-8",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            "application/openmetrics-text;version=0.0.1",
            "Application/OpenMetrics-Text; Version=1.0.0",
        ] {
            assert_eq!(
                choose(ct, None).unwrap().format,
                Format::OpenMetrics,
                "{ct}"
            );
        }
        for ct in [
            "text/plain",
            "text/plain; version=0.0.4",
            "text/plain;version=1.0.0;escaping=allow-utf-8",
        ] {
            let c = choose(ct, om).unwrap();
            assert_eq!(c.format, Format::PrometheusText, "{ct}");
            assert_eq!(c.warning, None);
        }
        assert!(matches!(
            choose("application/vnd.google.protobuf", text),
            Err(ContentTypeError::Protobuf(_))
        ));
        // Blank: fallback or error.
        assert_eq!(choose("", None), Err(ContentTypeError::Blank));
        let c = choose("", text).unwrap();
        assert_eq!(
            (c.format, c.warning),
            (Format::PrometheusText, Some(ContentTypeError::Blank))
        );
        // Unparsable media types.
        for (ct, reason) in [
            ("invalid/", "expected token after slash"),
            (
                "invalid/invalid/invalid",
                "unexpected content after media subtype",
            ),
            ("/", "no media type"),
            (
                "application/openmetrics-text; charset=UTF-8; charset=utf-8",
                "duplicate parameter name",
            ),
            ("text/plain; version", "invalid media parameter"),
        ] {
            let want = ContentTypeError::Invalid {
                content_type: ct.to_string(),
                reason,
            };
            assert_eq!(choose(ct, None), Err(want.clone()), "{ct}");
            let c = choose(ct, om).unwrap();
            assert_eq!(
                (c.format, c.warning),
                (Format::OpenMetrics, Some(want)),
                "{ct}"
            );
        }
        // Valid but unknown.
        assert_eq!(
            choose("text/html", None),
            Err(ContentTypeError::Unsupported("text/html".into()))
        );
        assert_eq!(
            choose("text/html", text).unwrap().format,
            Format::PrometheusText
        );
        // Trailing semicolons and quoted values are fine.
        assert_eq!(
            choose("text/plain;", None).unwrap().format,
            Format::PrometheusText
        );
        assert_eq!(
            choose("application/openmetrics-text; version=\"1.0.0\"", None)
                .unwrap()
                .format,
            Format::OpenMetrics
        );
        assert_eq!(
            Format::OpenMetrics.content_type(),
            "application/openmetrics-text; version=1.0.0; charset=utf-8"
        );
        assert_eq!(
            choose(Format::PrometheusText.content_type(), None)
                .unwrap()
                .format,
            Format::PrometheusText
        );
    }
}
