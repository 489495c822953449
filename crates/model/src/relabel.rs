//! Relabelling: Prometheus's `relabel_configs`, applied to a label set.
//!
//! A [`RelabelConfig`] is one rule. [`process`] applies a list of rules in order and
//! returns the resulting label set, or `None` when a `keep`, `drop`, `keepequal` or
//! `dropequal` rule discarded it. The semantics are those of Prometheus's
//! `model/relabel` package:
//!
//! - the source value is the values of `source_labels` (missing labels read as `""`)
//!   joined by `separator`;
//! - regexes are fully anchored (`^(?s:...)$`) and read with Go's RE2 syntax, like label
//!   matchers ([`FastRegex`]);
//! - `replace` expands `target_label` and `replacement` with Go's `Regexp.Expand` rules
//!   (`$1`, `${1}`, `$name`, `${name}`, `$$`; `$1x` names the group `1x`, so it expands
//!   to nothing); no match means no change, an invalid expanded target name means no
//!   change, and an empty expanded value deletes the target label;
//! - `hashmod` takes the MD5 of the source value, reads its last 8 bytes as a big-endian
//!   `u64` and writes that modulo `modulus`.
//!
//! ```
//! use narthex_model::labels;
//! use narthex_model::relabel::{process, Action, RelabelConfig, Regex};
//!
//! let rules = [
//!     RelabelConfig {
//!         source_labels: vec!["__address__".into()],
//!         regex: Regex::new(r"([^:]+):\d+").unwrap(),
//!         target_label: "host".into(),
//!         ..RelabelConfig::default()
//!     },
//!     RelabelConfig {
//!         regex: Regex::new("__.*").unwrap(),
//!         action: Action::LabelDrop,
//!         ..RelabelConfig::default()
//!     },
//! ];
//! for rule in &rules {
//!     rule.validate().unwrap();
//! }
//! let out = process(&labels! { "__address__" => "db1:9100", "job" => "node" }, &rules);
//! assert_eq!(out, Some(labels! { "host" => "db1", "job" => "node" }));
//! ```
//!
//! # Label name validation
//!
//! Prometheus 3.x validates names with the UTF-8 scheme by default: any non-empty name is
//! valid. [`process`] and [`RelabelConfig::validate`] do the same; [`process_with`],
//! [`process_builder`] and [`RelabelConfig::validate_with`] take the scheme, for scrape
//! configurations that ask for the legacy one.
//!
//! # Differences from Prometheus
//!
//! Only where Prometheus would misbehave on a configuration its own validation rejects:
//! a `hashmod` rule with modulus 0 (Prometheus panics) leaves the labels unchanged, and a
//! rule that would create a label with an empty name (an empty `target_label`, or a
//! `labelmap` replacement that expands to nothing) does nothing. `keepequal`/`dropequal`
//! treat the regex as unchanged when its pattern is `(.*)` (Prometheus compares the
//! compiled regex's identity, so only an omitted `regex` passes).

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use md5::{Digest, Md5};

use crate::labels::{Labels, LabelsBuilder};
use crate::matcher::{FastRegex, RegexError, translate_go_regex};
use crate::names::NameValidation;
use crate::quote::go_quote;

/// What a relabelling rule does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// Matches the regex against the source value and writes the expanded `replacement`
    /// to the expanded `target_label`.
    #[default]
    Replace,
    /// Drops the label set unless the regex matches the source value.
    Keep,
    /// Drops the label set if the regex matches the source value.
    Drop,
    /// Drops the label set unless the source value equals the `target_label`'s value.
    KeepEqual,
    /// Drops the label set if the source value equals the `target_label`'s value.
    DropEqual,
    /// Writes the MD5 of the source value modulo `modulus` to `target_label`.
    HashMod,
    /// Copies every label whose name matches the regex to the name the `replacement`
    /// expands to.
    LabelMap,
    /// Removes every label whose name matches the regex.
    LabelDrop,
    /// Removes every label whose name does not match the regex.
    LabelKeep,
    /// Writes the source value in lower case to `target_label`.
    Lowercase,
    /// Writes the source value in upper case to `target_label`.
    Uppercase,
}

impl Action {
    /// Every action, in the order Prometheus documents them.
    pub const ALL: [Action; 11] = [
        Action::Replace,
        Action::Keep,
        Action::Drop,
        Action::KeepEqual,
        Action::DropEqual,
        Action::HashMod,
        Action::LabelMap,
        Action::LabelDrop,
        Action::LabelKeep,
        Action::Lowercase,
        Action::Uppercase,
    ];

    /// Reads an action as written in a configuration file. Like Prometheus, the name is
    /// compared after lower-casing it, so `Replace` and `LABELDROP` are accepted.
    pub fn parse(s: &str) -> Option<Action> {
        let lower = go_to_lower(s);
        Action::ALL.into_iter().find(|a| a.as_str() == lower)
    }

    /// The action's name in configuration files (`"replace"`, `"labeldrop"`, ...).
    pub fn as_str(&self) -> &'static str {
        match self {
            Action::Replace => "replace",
            Action::Keep => "keep",
            Action::Drop => "drop",
            Action::KeepEqual => "keepequal",
            Action::DropEqual => "dropequal",
            Action::HashMod => "hashmod",
            Action::LabelMap => "labelmap",
            Action::LabelDrop => "labeldrop",
            Action::LabelKeep => "labelkeep",
            Action::Lowercase => "lowercase",
            Action::Uppercase => "uppercase",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Action {
    type Err = RelabelError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Action::parse(s).ok_or_else(|| RelabelError::UnknownAction(s.to_string()))
    }
}

/// A relabelling configuration Prometheus would reject. `Display` gives Prometheus's
/// message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RelabelError {
    /// The action name is not one Prometheus knows.
    #[error("unknown relabel action {}", go_quote(.0))]
    UnknownAction(String),
    /// The regex does not compile.
    #[error(transparent)]
    Regex(#[from] RegexError),
    /// A `hashmod` rule with `modulus` 0.
    #[error("relabel configuration for hashmod requires non-zero modulus")]
    ZeroModulus,
    /// The action needs a `target_label` and none is set.
    #[error("relabel configuration for {0} action requires 'target_label' value")]
    MissingTargetLabel(Action),
    /// The `target_label` is not a valid label name (or template of one) for the action.
    #[error("{} is invalid 'target_label' for {action} action", go_quote(.target_label))]
    InvalidTargetLabel {
        /// The target label as configured.
        target_label: String,
        /// The rule's action.
        action: Action,
    },
    /// `lowercase`, `uppercase`, `keepequal` and `dropequal` take no `replacement`.
    #[error("'replacement' can not be set for {0} action")]
    ReplacementNotAllowed(Action),
    /// The `labelmap` replacement is not a valid label name (or template of one).
    #[error("{} is invalid 'replacement' for {action} action", go_quote(.replacement))]
    InvalidReplacement {
        /// The replacement as configured.
        replacement: String,
        /// The rule's action.
        action: Action,
    },
    /// `keepequal` and `dropequal` take only `source_labels` and `target_label`.
    #[error("{0} action requires only 'source_labels' and `target_label`, and no other fields")]
    OnlySourceAndTarget(Action),
    /// `labeldrop` and `labelkeep` take only `regex`.
    #[error("{0} action requires only 'regex', and no other fields")]
    OnlyRegex(Action),
}

/// A relabelling regex: fully anchored as `^(?s:...)$`, with Go's RE2 syntax.
///
/// Matching goes through [`FastRegex`] (literal, alternation and `.*` shapes skip the regex
/// engine); expansion of `$1`-style templates uses capture groups.
///
/// ```
/// use narthex_model::relabel::Regex;
/// let re = Regex::new(r"(?P<host>[^:]+):(\d+)").unwrap();
/// assert!(re.is_match("db1:9100"));
/// assert!(!re.is_match("x db1:9100 y")); // anchored
/// assert_eq!(re.replace("db1:9100", "${host}-$2").as_deref(), Some("db1-9100"));
/// assert_eq!(re.replace("db1", "$1"), None); // no match
/// ```
#[derive(Clone, Debug)]
pub struct Regex {
    fast: FastRegex,
    captures: regex::Regex,
}

impl Regex {
    /// Compiles `pattern` (without anchors: they are added) with Prometheus's semantics.
    pub fn new(pattern: &str) -> Result<Regex, RelabelError> {
        let fast = FastRegex::new(pattern)?;
        let err = |message: String| RegexError {
            pattern: pattern.to_string(),
            message,
        };
        let translated = translate_go_regex(pattern).map_err(err)?;
        let captures = regex::Regex::new(&format!("^(?s:{translated})$")).map_err(|e| {
            let text = e.to_string();
            let line = text.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("");
            err(line.trim().trim_start_matches("error: ").to_string())
        })?;
        Ok(Regex { fast, captures })
    }

    /// The pattern as given, without the anchors.
    pub fn as_str(&self) -> &str {
        self.fast.as_str()
    }

    /// Whether the whole of `s` matches.
    #[inline]
    pub fn is_match(&self, s: &str) -> bool {
        self.fast.is_match(s)
    }

    /// Expands `template` against the match of `s` (Go's `Regexp.ExpandString` rules), or
    /// `None` when `s` does not match.
    pub fn replace(&self, s: &str, template: &str) -> Option<String> {
        if !template.contains('$') {
            return self.is_match(s).then(|| template.to_string());
        }
        let caps = self.captures.captures(s)?;
        let mut out = String::with_capacity(template.len() + s.len());
        expand(&caps, template, &mut out);
        Some(out)
    }

    /// The names of the capture groups, group 0 (the whole match) first; unnamed groups
    /// are `None`.
    pub fn capture_names(&self) -> impl Iterator<Item = Option<&str>> {
        self.captures.capture_names()
    }
}

impl Default for Regex {
    /// `(.*)`, Prometheus's default relabelling regex.
    fn default() -> Self {
        Regex::new(DEFAULT_REGEX).expect("the default regex compiles")
    }
}

impl PartialEq for Regex {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Regex {}

impl fmt::Display for Regex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Regex {
    type Err = RelabelError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Regex::new(s)
    }
}

const DEFAULT_REGEX: &str = "(.*)";
const DEFAULT_SEPARATOR: &str = ";";
const DEFAULT_REPLACEMENT: &str = "$1";

/// One relabelling rule, as in a `relabel_configs` list.
///
/// [`RelabelConfig::default`] has Prometheus's defaults: separator `;`, regex `(.*)`,
/// replacement `$1`, action `replace`, modulus 0, no source or target labels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelabelConfig {
    /// The labels whose values, joined by `separator`, form the source value.
    pub source_labels: Vec<String>,
    /// Placed between the source label values.
    pub separator: String,
    /// Matched against the source value (or, for the label-name actions, each name).
    pub regex: Regex,
    /// For `hashmod`: the modulus of the hash.
    pub modulus: u64,
    /// The label written (`replace`, `hashmod`, `lowercase`, `uppercase`) or compared
    /// (`keepequal`, `dropequal`). For `replace` it may use `$1`-style references.
    pub target_label: String,
    /// For `replace` and `labelmap`: the template the new value or name expands from.
    pub replacement: String,
    /// What the rule does.
    pub action: Action,
}

impl Default for RelabelConfig {
    fn default() -> Self {
        RelabelConfig {
            source_labels: Vec::new(),
            separator: DEFAULT_SEPARATOR.to_string(),
            regex: Regex::default(),
            modulus: 0,
            target_label: String::new(),
            replacement: DEFAULT_REPLACEMENT.to_string(),
            action: Action::Replace,
        }
    }
}

impl RelabelConfig {
    /// Checks the rule as Prometheus does when loading a configuration, with the UTF-8
    /// name validation scheme (Prometheus 3.x's default).
    pub fn validate(&self) -> Result<(), RelabelError> {
        self.validate_with(NameValidation::Utf8)
    }

    /// Checks the rule as Prometheus does, with the given name validation scheme.
    ///
    /// The checks and their order are Prometheus's, so the first failure reported is the
    /// one Prometheus reports.
    pub fn validate_with(&self, validation: NameValidation) -> Result<(), RelabelError> {
        use Action::*;
        let action = self.action;
        let target = self.target_label.as_str();
        let valid_name = |s: &str| validation.is_valid_label_name(s);
        let valid_template = |s: &str| match validation {
            NameValidation::Utf8 => !s.is_empty(),
            NameValidation::Legacy => legacy_template_re().is_match(s),
        };
        let invalid_target = || RelabelError::InvalidTargetLabel {
            target_label: target.to_string(),
            action,
        };

        if action == HashMod && self.modulus == 0 {
            return Err(RelabelError::ZeroModulus);
        }
        let writes = matches!(
            action,
            Replace | HashMod | Lowercase | Uppercase | KeepEqual | DropEqual
        );
        if writes && target.is_empty() {
            return Err(RelabelError::MissingTargetLabel(action));
        }
        if action == Replace {
            let ok = if target.contains('$') {
                valid_template(target)
            } else {
                valid_name(target)
            };
            if !ok {
                return Err(invalid_target());
            }
        }
        let simple = matches!(action, Lowercase | Uppercase | KeepEqual | DropEqual);
        if simple && !valid_name(target) {
            return Err(invalid_target());
        }
        if simple && self.replacement != DEFAULT_REPLACEMENT {
            return Err(RelabelError::ReplacementNotAllowed(action));
        }
        if action == LabelMap && !valid_template(&self.replacement) {
            return Err(RelabelError::InvalidReplacement {
                replacement: self.replacement.clone(),
                action,
            });
        }
        if action == HashMod && !valid_name(target) {
            return Err(invalid_target());
        }
        let default_rest = self.modulus == 0
            && self.separator == DEFAULT_SEPARATOR
            && self.replacement == DEFAULT_REPLACEMENT;
        if matches!(action, KeepEqual | DropEqual)
            && !(default_rest && self.regex.as_str() == DEFAULT_REGEX)
        {
            return Err(RelabelError::OnlySourceAndTarget(action));
        }
        if matches!(action, LabelDrop | LabelKeep)
            && !(default_rest && self.source_labels.is_empty() && target.is_empty())
        {
            return Err(RelabelError::OnlyRegex(action));
        }
        Ok(())
    }
}

/// Applies `configs` to `labels` in order, validating target names with the UTF-8 scheme.
///
/// Returns `None` when a `keep`, `drop`, `keepequal` or `dropequal` rule dropped the label
/// set. Like Prometheus's `relabel.Process`, a set that merely ends up empty is returned
/// as `Some` of the empty set; callers that need labels (a scrape target, a series) treat
/// an empty result as dropped themselves.
pub fn process(labels: &Labels, configs: &[RelabelConfig]) -> Option<Labels> {
    process_with(labels, configs, NameValidation::Utf8)
}

/// [`process`] with the given name validation scheme for expanded target label names.
pub fn process_with(
    labels: &Labels,
    configs: &[RelabelConfig],
    validation: NameValidation,
) -> Option<Labels> {
    let mut lb = LabelsBuilder::from(labels.clone());
    process_builder(&mut lb, configs, validation).then(|| lb.build())
}

/// Applies `configs` in order to the labels in `lb`, which the rules change in place
/// (Prometheus's `relabel.ProcessBuilder`). Returns `false` when a rule dropped the set;
/// `lb` then holds whatever the rules before it produced.
pub fn process_builder(
    lb: &mut LabelsBuilder,
    configs: &[RelabelConfig],
    validation: NameValidation,
) -> bool {
    configs.iter().all(|cfg| relabel(cfg, lb, validation))
}

/// Applies one rule; `false` means the label set is dropped.
fn relabel(cfg: &RelabelConfig, lb: &mut LabelsBuilder, validation: NameValidation) -> bool {
    let val = source_value(cfg, lb);
    match cfg.action {
        Action::Drop => return !cfg.regex.is_match(&val),
        Action::Keep => return cfg.regex.is_match(&val),
        Action::DropEqual => return lb.get(&cfg.target_label).unwrap_or("") != val,
        Action::KeepEqual => return lb.get(&cfg.target_label).unwrap_or("") == val,
        Action::Replace => replace(cfg, lb, &val, validation),
        Action::Lowercase => set_named(lb, &cfg.target_label, &go_to_lower(&val)),
        Action::Uppercase => set_named(lb, &cfg.target_label, &go_to_upper(&val)),
        Action::HashMod => {
            if cfg.modulus != 0 {
                let digest = Md5::digest(val.as_bytes());
                let mut last = [0u8; 8];
                last.copy_from_slice(&digest[8..16]);
                let m = u64::from_be_bytes(last) % cfg.modulus;
                set_named(lb, &cfg.target_label, &m.to_string());
            }
        }
        Action::LabelMap => {
            // The rules see the labels as they were before this rule, as Prometheus's
            // `Builder.Range` does.
            let snapshot = lb.build();
            for l in snapshot.iter() {
                if let Some(name) = cfg.regex.replace(&l.name, &cfg.replacement) {
                    set_named(lb, &name, &l.value);
                }
            }
        }
        Action::LabelDrop => {
            lb.retain(|name| !cfg.regex.is_match(name));
        }
        Action::LabelKeep => {
            lb.retain(|name| cfg.regex.is_match(name));
        }
    }
    true
}

/// The source label values joined by the separator.
fn source_value(cfg: &RelabelConfig, lb: &LabelsBuilder) -> String {
    let mut val = String::new();
    for (i, name) in cfg.source_labels.iter().enumerate() {
        if i > 0 {
            val.push_str(&cfg.separator);
        }
        val.push_str(lb.get(name).unwrap_or(""));
    }
    val
}

fn replace(cfg: &RelabelConfig, lb: &mut LabelsBuilder, val: &str, validation: NameValidation) {
    let (target, value) = if cfg.target_label.contains('$') || cfg.replacement.contains('$') {
        let Some(caps) = cfg.regex.captures.captures(val) else {
            return;
        };
        let mut target = String::new();
        expand(&caps, &cfg.target_label, &mut target);
        let mut value = String::new();
        expand(&caps, &cfg.replacement, &mut value);
        (target, value)
    } else {
        if !cfg.regex.is_match(val) {
            return;
        }
        (cfg.target_label.clone(), cfg.replacement.clone())
    };
    if !validation.is_valid_label_name(&target) {
        return;
    }
    // `set` deletes the label when the value is empty.
    lb.set(&target, &value);
}

/// Sets a label unless its name is empty (which Prometheus's validation rules out).
fn set_named(lb: &mut LabelsBuilder, name: &str, value: &str) {
    if !name.is_empty() {
        lb.set(name, value);
    }
}

/// Appends `template` with `$` references replaced by the groups of `caps`, following
/// Go's `Regexp.Expand`: `$$` is a dollar sign; `$name` takes the longest run of letters,
/// digits and underscores; `${name}` is delimited; a name made only of digits (without a
/// leading zero, below 10^8) is a group number, anything else a group name; a missing or
/// unmatched group expands to nothing; a malformed reference leaves the `$` as text.
fn expand(caps: &regex::Captures<'_>, template: &str, out: &mut String) {
    let mut t = template;
    while let Some(i) = t.find('$') {
        out.push_str(&t[..i]);
        t = &t[i + 1..];
        if let Some(rest) = t.strip_prefix('$') {
            out.push('$');
            t = rest;
            continue;
        }
        let Some((name, num, rest)) = extract_reference(t) else {
            out.push('$');
            continue;
        };
        t = rest;
        let group = match num {
            Some(n) => caps.get(n),
            None => caps.name(name),
        };
        if let Some(m) = group {
            out.push_str(m.as_str());
        }
    }
    out.push_str(t);
}

/// Reads the reference after a `$`: the name, its group number if it is one, and the text
/// after the reference.
fn extract_reference(s: &str) -> Option<(&str, Option<usize>, &str)> {
    let (brace, body) = match s.strip_prefix('{') {
        Some(b) => (true, b),
        None => (false, s),
    };
    let end = body
        .char_indices()
        .find(|&(_, c)| !is_go_name_char(c))
        .map_or(body.len(), |(i, _)| i);
    if end == 0 {
        return None;
    }
    let name = &body[..end];
    let rest = if brace {
        body[end..].strip_prefix('}')?
    } else {
        &body[end..]
    };
    let mut num = Some(0usize);
    for b in name.bytes() {
        num = match num {
            Some(n) if b.is_ascii_digit() && n < 100_000_000 => {
                Some(n * 10 + usize::from(b - b'0'))
            }
            _ => None,
        };
        if num.is_none() {
            break;
        }
    }
    if name.len() > 1 && name.starts_with('0') {
        num = None;
    }
    Some((name, num, rest))
}

/// Go's `unicode.IsLetter(c) || unicode.IsDigit(c) || c == '_'`.
fn is_go_name_char(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphanumeric() || c == '_';
    }
    static LETTER_OR_DIGIT: OnceLock<regex::Regex> = OnceLock::new();
    let re = LETTER_OR_DIGIT
        .get_or_init(|| regex::Regex::new(r"^[\p{L}\p{Nd}]$").expect("constant regex compiles"));
    let mut buf = [0u8; 4];
    re.is_match(c.encode_utf8(&mut buf))
}

/// Prometheus's check for a legacy label name that may contain `$1`/`${1}` references.
fn legacy_template_re() -> &'static regex::Regex {
    static RE: OnceLock<regex::Regex> = OnceLock::new();
    RE.get_or_init(|| {
        regex::Regex::new(
            r"^(?:(?:[a-zA-Z_]|\$(?:\{[0-9A-Za-z_]+\}|[0-9A-Za-z_]+))+[0-9A-Za-z_]*)+$",
        )
        .expect("constant regex compiles")
    })
}

/// Go's `strings.ToLower`: each character mapped on its own (no context-dependent final
/// sigma), to a single character.
fn go_to_lower(s: &str) -> String {
    if s.is_ascii() {
        return s.to_ascii_lowercase();
    }
    s.chars()
        .map(|c| {
            // Only U+0130 has a multi-character full lower-case mapping ("i\u{307}"); its
            // simple mapping, which Go uses, is the first of them.
            c.to_lowercase().next().unwrap_or(c)
        })
        .collect()
}

/// Go's `strings.ToUpper`: each character mapped by Unicode's simple upper-case mapping.
fn go_to_upper(s: &str) -> String {
    if s.is_ascii() {
        return s.to_ascii_uppercase();
    }
    s.chars()
        .map(|c| {
            let mut up = c.to_uppercase();
            match (up.next(), up.next()) {
                (Some(u), None) => u,
                // Characters whose full mapping expands (ß, ligatures, Greek with
                // ypogegrammeni, ...) have either no simple mapping or, for the Greek
                // letters with iota subscript, the title-case letter.
                _ => simple_upper_of_expanding(c),
            }
        })
        .collect()
}

fn simple_upper_of_expanding(c: char) -> char {
    let u = c as u32;
    let mapped = match u {
        0x1F80..=0x1F87 | 0x1F90..=0x1F97 | 0x1FA0..=0x1FA7 => u + 8,
        0x1FB3 | 0x1FC3 | 0x1FF3 => u + 9,
        _ => u,
    };
    char::from_u32(mapped).unwrap_or(c)
}
