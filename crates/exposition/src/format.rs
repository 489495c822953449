//! Exposition formats, content types, and negotiation from an `Accept` header.

use crate::openmetrics::OpenMetricsParser;
use crate::protobuf::ProtobufParser;
use crate::text::TextParser;
use crate::{ParseOptions, Parser};

/// An exposition format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// Prometheus text format 0.0.4.
    PrometheusText,
    /// OpenMetrics 1.0 text.
    OpenMetrics,
    /// Length-delimited `io.prometheus.client.MetricFamily` protobuf messages.
    Protobuf,
}

impl Format {
    /// The `Content-Type` a server sends with this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::PrometheusText => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Format::Protobuf => {
                "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"
            }
        }
    }

    /// The format of a scrape response from its `Content-Type`, as Prometheus picks its
    /// parser. `None` for an empty, unknown or malformed type (Prometheus then falls back
    /// to the scrape config's `fallback_scrape_protocol`, or fails the scrape).
    ///
    /// ```
    /// use narthex_exposition::Format;
    /// assert_eq!(Format::from_content_type("text/plain; version=0.0.4"), Some(Format::PrometheusText));
    /// assert_eq!(
    ///     Format::from_content_type("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    ///     Some(Format::OpenMetrics)
    /// );
    /// assert_eq!(Format::from_content_type("application/json"), None);
    /// ```
    pub fn from_content_type(content_type: &str) -> Option<Format> {
        let media = MediaRange::parse(content_type)?;
        match media.essence.as_str() {
            "text/plain" => Some(Format::PrometheusText),
            "application/openmetrics-text" => Some(Format::OpenMetrics),
            "application/vnd.google.protobuf"
                if media.param("proto") == Some("io.prometheus.client.MetricFamily")
                    && media.param("encoding").is_none_or(|e| e == "delimited") =>
            {
                Some(Format::Protobuf)
            }
            _ => None,
        }
    }

    /// A parser for `input` in this format.
    pub fn parser<'a>(self, input: &'a [u8], options: ParseOptions) -> Box<dyn Parser + 'a> {
        match self {
            Format::PrometheusText => Box::new(TextParser::new(input, options)),
            Format::OpenMetrics => Box::new(OpenMetricsParser::new(input, options)),
            Format::Protobuf => Box::new(ProtobufParser::new(input, options)),
        }
    }
}

/// One entry of an `Accept` or `Content-Type` header.
struct MediaRange {
    essence: String,
    params: Vec<(String, String)>,
    q: f32,
}

impl MediaRange {
    fn parse(s: &str) -> Option<MediaRange> {
        let mut parts = s.split(';');
        let essence = parts.next()?.trim().to_ascii_lowercase();
        if essence.is_empty() || !essence.contains('/') {
            return None;
        }
        let mut params = Vec::new();
        let mut q = 1.0;
        for p in parts {
            let Some((k, v)) = p.split_once('=') else {
                continue;
            };
            let k = k.trim().to_ascii_lowercase();
            let v = v.trim().trim_matches('"').to_string();
            if k == "q" {
                q = v.parse().unwrap_or(0.0);
            } else {
                params.push((k, v));
            }
        }
        Some(MediaRange { essence, params, q })
    }

    fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The format to answer a request with, from its `Accept` header, as Prometheus's Go
/// libraries negotiate it (`expfmt.NegotiateIncludingOpenMetrics`): the acceptable type
/// with the highest `q` wins, ties going to the earlier entry; protobuf only in its
/// delimited encoding; the text format when nothing matches.
///
/// ```
/// use narthex_exposition::{Format, negotiate};
/// assert_eq!(negotiate("application/openmetrics-text; version=1.0.0"), Format::OpenMetrics);
/// assert_eq!(negotiate("text/plain;q=0.5,application/openmetrics-text;q=0.9"), Format::OpenMetrics);
/// assert_eq!(negotiate(""), Format::PrometheusText);
/// ```
pub fn negotiate(accept: &str) -> Format {
    let mut ranges: Vec<MediaRange> = accept.split(',').filter_map(MediaRange::parse).collect();
    // A stable sort keeps header order among equal q values.
    ranges.sort_by(|a, b| b.q.partial_cmp(&a.q).unwrap_or(std::cmp::Ordering::Equal));
    for r in &ranges {
        if r.q <= 0.0 {
            continue;
        }
        match r.essence.as_str() {
            "application/vnd.google.protobuf"
                if r.param("proto") == Some("io.prometheus.client.MetricFamily")
                    && r.param("encoding") == Some("delimited") =>
            {
                return Format::Protobuf;
            }
            "text/plain" => return Format::PrometheusText,
            "application/openmetrics-text"
                if r.param("version")
                    .is_none_or(|v| v == "1.0.0" || v == "0.0.1") =>
            {
                return Format::OpenMetrics;
            }
            _ => {}
        }
    }
    Format::PrometheusText
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation() {
        let proto = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited";
        assert_eq!(negotiate(proto), Format::Protobuf);
        assert_eq!(
            negotiate(&format!("{proto};q=0.1,text/plain;q=0.2")),
            Format::PrometheusText
        );
        assert_eq!(
            negotiate(
                "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=text"
            ),
            Format::PrometheusText
        );
        assert_eq!(
            negotiate("application/openmetrics-text;version=2.0.0"),
            Format::PrometheusText
        );
        assert_eq!(negotiate("*/*"), Format::PrometheusText);
        assert_eq!(
            negotiate("application/openmetrics-text;q=0"),
            Format::PrometheusText
        );
    }

    #[test]
    fn content_types_round_trip() {
        for f in [
            Format::PrometheusText,
            Format::OpenMetrics,
            Format::Protobuf,
        ] {
            assert_eq!(Format::from_content_type(f.content_type()), Some(f));
            assert_eq!(negotiate(f.content_type()), f);
        }
        assert_eq!(Format::from_content_type(""), None);
    }
}
