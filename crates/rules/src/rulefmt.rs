//! Rule files (Prometheus's `model/rulefmt`): YAML into [`RuleGroups`], with Prometheus's
//! validation and error texts.

use std::collections::BTreeMap;
use std::path::Path;

use narthex_model::{NameValidation, go_quote, parse_duration};
use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::error::{Error, ErrorKind};

type S<T> = Spanned<T>;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawFile {
    groups: Option<Vec<S<RawGroup>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    name: Option<S<String>>,
    interval: Option<S<String>>,
    query_offset: Option<S<String>>,
    limit: Option<i64>,
    labels: Option<BTreeMap<String, String>>,
    rules: Option<Vec<S<RawRule>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    record: Option<S<String>>,
    alert: Option<S<String>>,
    expr: Option<S<String>>,
    #[serde(rename = "for")]
    for_: Option<S<String>>,
    keep_firing_for: Option<S<String>>,
    labels: Option<BTreeMap<String, String>>,
    annotations: Option<BTreeMap<String, String>>,
}

/// How rule files are validated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ParseOptions {
    /// Which metric and label names are valid (Prometheus 3.x's default is UTF-8;
    /// `promtool` 2.x checks legacy names).
    pub name_validation: NameValidation,
}

/// The contents of one rule file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RuleGroups {
    /// The groups, in file order.
    pub groups: Vec<RuleGroup>,
}

/// One group of rules as written in a file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RuleGroup {
    /// The group's name, unique within its file.
    pub name: String,
    /// Evaluation interval in milliseconds (`None`: the global default).
    pub interval: Option<i64>,
    /// How far back in time rules are evaluated, in milliseconds (`None`: the global
    /// default).
    pub query_offset: Option<i64>,
    /// Most series a recording rule, or alerts an alerting rule, may produce (0: no limit).
    pub limit: i64,
    /// Labels added to every rule of the group (rule labels win).
    pub labels: Vec<(String, String)>,
    /// The rules, in evaluation order.
    pub rules: Vec<RuleDef>,
    /// 1-based line of the group in its file (0 when unknown).
    pub line: u32,
}

/// One rule as written in a file: recording (`record`) or alerting (`alert`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RuleDef {
    /// The metric name a recording rule writes.
    pub record: Option<String>,
    /// The name of an alerting rule.
    pub alert: Option<String>,
    /// The PromQL expression.
    pub expr: String,
    /// How long an alert stays pending before it fires, in milliseconds.
    pub for_: i64,
    /// How long an alert keeps firing after its condition cleared, in milliseconds.
    pub keep_firing_for: i64,
    /// Labels to add or overwrite (templates for alerting rules), sorted by name.
    pub labels: Vec<(String, String)>,
    /// Annotations of an alerting rule (templates), sorted by name.
    pub annotations: Vec<(String, String)>,
    /// 1-based line of the rule in its file (0 when unknown).
    pub line: u32,
}

fn pos<T>(s: &S<T>) -> (u32, u32) {
    let l = s.referenced;
    (l.line() as u32, l.column() as u32)
}

/// Parses and validates the text of a rule file. Errors carry no file name.
pub fn parse(yaml: &str, opts: &ParseOptions) -> Result<RuleGroups, Vec<Error>> {
    let raw: RawFile = if yaml.trim().is_empty() {
        RawFile::default()
    } else {
        match serde_saphyr::from_str::<Option<RawFile>>(yaml) {
            Ok(r) => r.unwrap_or_default(),
            Err(e) => return Err(vec![yaml_error(yaml, e)]),
        }
    };
    let mut errs = Vec::new();
    let mut out = RuleGroups::default();
    let mut seen = std::collections::HashSet::new();
    for g in raw.groups.unwrap_or_default() {
        let (gl, gc) = pos(&g);
        let g = g.value;
        let name = g.name.as_ref().map(|n| n.value.clone()).unwrap_or_default();
        if name.is_empty() {
            errs.push(Error::new(
                ErrorKind::Invalid,
                gl,
                gc,
                format!("{gl}:{gc}: Groupname must not be empty"),
            ));
        }
        if !seen.insert(name.clone()) {
            let mut e = Error::new(
                ErrorKind::Invalid,
                gl,
                gc,
                format!("{gl}:{gc}: groupname: \"{name}\" is repeated in the same file"),
            );
            e.group = Some(name.clone());
            errs.push(e);
        }
        let mut dur = |d: &Option<S<String>>| -> Option<i64> {
            let d = d.as_ref()?;
            match parse_duration(&d.value) {
                Ok(v) => Some(v),
                Err(e) => {
                    let (l, c) = pos(d);
                    errs.push(Error::new(
                        ErrorKind::Schema,
                        l,
                        c,
                        duration_text(&d.value, e),
                    ));
                    None
                }
            }
        };
        let interval = dur(&g.interval);
        let query_offset = dur(&g.query_offset);
        let mut labels: Vec<(String, String)> = g.labels.unwrap_or_default().into_iter().collect();
        labels.sort();
        for (k, _) in &labels {
            if !opts.name_validation.is_valid_label_name(k) || k == "__name__" {
                let mut e = Error::new(
                    ErrorKind::Invalid,
                    gl,
                    gc,
                    format!("invalid label name: {k}"),
                );
                e.group = Some(name.clone());
                errs.push(e);
            }
        }
        let mut group = RuleGroup {
            name: name.clone(),
            interval,
            query_offset,
            limit: g.limit.unwrap_or(0),
            labels,
            rules: Vec::new(),
            line: gl,
        };
        for (i, r) in g.rules.unwrap_or_default().into_iter().enumerate() {
            let (rl, _) = pos(&r);
            let (def, rerrs) = rule(r.value, rl, opts, &mut errs);
            for (msg, l, c, text_pos) in rerrs {
                let rule_name = def.alert.clone().or(def.record.clone()).unwrap_or_default();
                let prefix = text_pos.unwrap_or_default();
                let mut e = Error::new(
                    ErrorKind::Invalid,
                    l,
                    c,
                    format!(
                        "{prefix}group {}, rule {}, {}: {msg}",
                        go_quote(&name),
                        i + 1,
                        go_quote(&rule_name)
                    ),
                );
                e.group = Some(name.clone());
                e.rule = Some(i + 1);
                errs.push(e);
            }
            group.rules.push(def);
        }
        out.groups.push(group);
    }
    if errs.is_empty() { Ok(out) } else { Err(errs) }
}

/// (message, line, column, textual position prefix)
type RuleErr = (String, u32, u32, Option<String>);

fn rule(
    r: RawRule,
    line: u32,
    opts: &ParseOptions,
    errs: &mut Vec<Error>,
) -> (RuleDef, Vec<RuleErr>) {
    let mut out = Vec::new();
    let mut dur = |d: &Option<S<String>>| -> i64 {
        let Some(d) = d.as_ref() else { return 0 };
        match parse_duration(&d.value) {
            Ok(v) => v,
            Err(e) => {
                let (l, c) = pos(d);
                errs.push(Error::new(
                    ErrorKind::Schema,
                    l,
                    c,
                    duration_text(&d.value, e),
                ));
                0
            }
        }
    };
    let for_ = dur(&r.for_);
    let keep_firing_for = dur(&r.keep_firing_for);
    let val = |s: &Option<S<String>>| s.as_ref().map(|s| s.value.clone()).unwrap_or_default();
    let np = |s: &Option<S<String>>| s.as_ref().map(pos).unwrap_or((0, 0));
    let record = val(&r.record);
    let alert = val(&r.alert);
    let expr = val(&r.expr);
    let (rec_l, rec_c) = np(&r.record);
    let at = |p: (u32, u32)| Some(format!("{}:{}: ", p.0, p.1));
    let rec_at = at((rec_l, rec_c));
    if !record.is_empty() && !alert.is_empty() {
        let (al, ac) = np(&r.alert);
        out.push((
            "only one of 'record' and 'alert' must be set".into(),
            rec_l,
            rec_c,
            Some(format!("{rec_l}:{rec_c}: {al}:{ac}: ")),
        ));
    }
    if record.is_empty() && alert.is_empty() {
        // Both nodes are absent or empty; Prometheus 3.x prints both positions.
        let (al, ac) = np(&r.alert);
        out.push((
            "one of 'record' or 'alert' must be set".into(),
            line,
            0,
            Some(format!("{rec_l}:{rec_c}: {al}:{ac}: ")),
        ));
    }
    let (el, ec) = np(&r.expr);
    if expr.is_empty() {
        out.push((
            "field 'expr' must be set in rule".into(),
            if el == 0 { line } else { el },
            ec,
            at((el, ec)),
        ));
    } else if let Err(e) = narthex_promql_syntax::parse(&expr) {
        out.push((
            format!("could not parse expression: {e}"),
            el,
            ec,
            at((el, ec)),
        ));
    }
    let annotations: Vec<(String, String)> =
        r.annotations.unwrap_or_default().into_iter().collect();
    let labels: Vec<(String, String)> = r.labels.unwrap_or_default().into_iter().collect();
    if !record.is_empty() {
        let mut push = |m: String| out.push((m, rec_l, rec_c, rec_at.clone()));
        if !annotations.is_empty() {
            push("invalid field 'annotations' in recording rule".into());
        }
        if for_ != 0 {
            push("invalid field 'for' in recording rule".into());
        }
        if keep_firing_for != 0 {
            push("invalid field 'keep_firing_for' in recording rule".into());
        }
        if !opts.name_validation.is_valid_metric_name(&record) {
            push(format!("invalid recording rule name: {record}"));
        }
        if record.contains(['{', '}']) {
            push(format!(
                "braces present in the recording rule name; should it be in expr?: {record}"
            ));
        }
    }
    for (k, _) in &labels {
        if !opts.name_validation.is_valid_label_name(k) || k == "__name__" {
            out.push((format!("invalid label name: {k}"), line, 0, None));
        }
    }
    for (k, _) in &annotations {
        if !opts.name_validation.is_valid_label_name(k) {
            out.push((format!("invalid annotation name: {k}"), line, 0, None));
        }
    }
    let alert_name = &alert;
    for (what, set) in [("label", &labels), ("annotation", &annotations)] {
        for (k, v) in set {
            if let Err(e) = crate::template::check_alert_template(alert_name, v) {
                out.push((format!("{what} {}: {e}", go_quote(k)), line, 0, None));
            }
        }
    }
    let def = RuleDef {
        record: (!record.is_empty()).then_some(record),
        alert: (!alert.is_empty()).then_some(alert),
        expr,
        for_,
        keep_firing_for,
        labels,
        annotations,
        line,
    };
    (def, out)
}

/// Reads, parses and validates a rule file. Errors carry the file name.
pub fn parse_file(path: &Path, opts: &ParseOptions) -> Result<RuleGroups, Vec<Error>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| vec![Error::new(ErrorKind::Io, 0, 0, io_text(&e)).with_file(path)])?;
    parse(&text, opts).map_err(|es| es.into_iter().map(|e| e.with_file(path)).collect())
}

fn io_text(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "open: no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "open: permission denied".into(),
        _ => e.to_string(),
    }
}

/// Go's yaml.v3 type name for the struct whose expected keys are `expected`.
fn go_type_name(expected: &[&str]) -> &'static str {
    if expected.contains(&"record") {
        "rulefmt.RuleNode"
    } else if expected.contains(&"rules") {
        "rulefmt.RuleGroup"
    } else {
        "rulefmt.RuleGroups"
    }
}

fn yaml_error(src: &str, e: serde_saphyr::Error) -> Error {
    use serde_saphyr::Error as E;
    let e = e.without_snippet();
    let (line, column) = e
        .location()
        .map(|l| (l.line() as u32, l.column() as u32))
        .unwrap_or((0, 0));
    let text = e.to_string();
    let text = match text.rfind(" at line ") {
        Some(i) => text[..i].to_string(),
        None => text,
    };
    let unmarshal = |m: String| {
        Error::new(
            ErrorKind::Schema,
            line,
            column,
            format!("yaml: unmarshal errors:\n  line {line}: {m}"),
        )
    };
    match &e {
        E::SerdeUnknownField {
            field, expected, ..
        } => unmarshal(format!(
            "field {field} not found in type {}",
            go_type_name(expected)
        )),
        E::DuplicateMappingKey { key, .. } => {
            let key = key.clone().unwrap_or_default();
            let first = first_definition(src, &key, line, column);
            unmarshal(match first {
                Some(l) => format!("mapping key {} already defined at line {l}", go_quote(&key)),
                None => format!("mapping key {} already defined", go_quote(&key)),
            })
        }
        E::SerdeInvalidType { .. }
        | E::SerdeInvalidValue { .. }
        | E::SerdeInvalidLength { .. }
        | E::SerdeUnknownVariant { .. }
        | E::SerdeMissingField { .. }
        | E::InvalidScalar { .. }
        | E::NullIntoString { .. }
        | E::Message { .. } => unmarshal(text),
        _ => Error::new(
            ErrorKind::Syntax,
            line,
            column,
            format!("yaml: line {line}: {text}"),
        ),
    }
}

/// The line where `key` was first written at the same column, before `line`.
fn first_definition(src: &str, key: &str, line: u32, column: u32) -> Option<usize> {
    let col = (column as usize).saturating_sub(1);
    src.lines()
        .take((line as usize).saturating_sub(1))
        .enumerate()
        .filter(|(_, l)| {
            let rest: String = l.chars().skip(col).collect();
            let before: String = l.chars().take(col).collect();
            rest.strip_prefix(key)
                .is_some_and(|r| r.trim_start().starts_with(':'))
                && before.chars().all(|c| c == ' ' || c == '-')
        })
        .map(|(i, _)| i + 1)
        .last()
}

/// Prometheus's `model.Duration` error texts.
fn duration_text(s: &str, e: narthex_model::DurationError) -> String {
    match e {
        narthex_model::DurationError::Empty => e.to_string(),
        narthex_model::DurationError::OutOfRange => e.to_string(),
        _ => format!("not a valid duration string: {}", go_quote(s)),
    }
}
