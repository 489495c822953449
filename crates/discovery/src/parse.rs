//! The target group file format shared by file and HTTP discovery:
//! `[{"targets": ["host:port", ...], "labels": {"name": "value"}}, ...]`.

use std::collections::BTreeMap;

use narthex_model::{Labels, TargetGroup};
use serde::Deserialize;

/// Why a list of target groups could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The JSON text is malformed or has the wrong shape (serde_json's message).
    #[error("{0}")]
    Json(String),
    /// The YAML text is malformed or has the wrong shape (serde-saphyr's message).
    #[error("{0}")]
    Yaml(String),
    /// A list element is `null`, Prometheus's text.
    #[error("nil target group item found")]
    NilGroup,
    /// A label name is not valid, Prometheus's text.
    #[error("{0:?} is not a valid label name")]
    InvalidLabelName(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    #[serde(default)]
    targets: Option<Vec<String>>,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
}

/// Parses a JSON list of target groups as Prometheus's file and HTTP discovery do: unknown
/// fields are errors, `null` elements are errors, a `null` document is no groups. Sources
/// are left empty and no `__meta_*` label is added.
pub fn parse_groups_json(text: &[u8]) -> Result<Vec<TargetGroup>, ParseError> {
    let raw: Option<Vec<Option<RawGroup>>> =
        serde_json::from_slice(text).map_err(|e| ParseError::Json(e.to_string()))?;
    convert(raw)
}

/// Parses a YAML list of target groups, strictly (unknown fields are errors) as
/// Prometheus's file discovery does. An empty document is no groups.
pub fn parse_groups_yaml(text: &str) -> Result<Vec<TargetGroup>, ParseError> {
    let raw: Option<Vec<Option<RawGroup>>> =
        serde_saphyr::from_str(text).map_err(|e| ParseError::Yaml(e.to_string()))?;
    convert(raw)
}

fn convert(raw: Option<Vec<Option<RawGroup>>>) -> Result<Vec<TargetGroup>, ParseError> {
    let mut out = Vec::new();
    for g in raw.unwrap_or_default() {
        let g = g.ok_or(ParseError::NilGroup)?;
        let labels = g.labels.unwrap_or_default();
        if labels.contains_key("") {
            return Err(ParseError::InvalidLabelName(String::new()));
        }
        out.push(TargetGroup {
            targets: g
                .targets
                .unwrap_or_default()
                .into_iter()
                .map(|t| Labels::from_pairs([("__address__", t)]))
                .collect(),
            labels: Labels::from_pairs(labels),
            source: String::new(),
        });
    }
    Ok(out)
}

/// `labels` with `name` set to `value`.
pub(crate) fn with_label(labels: &Labels, name: &str, value: &str) -> Labels {
    let mut b = labels.builder();
    b.set(name, value);
    b.build()
}
