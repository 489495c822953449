//! The subset of Go's `text/template` that Prometheus alert labels and annotations use,
//! with Prometheus's template functions.
//!
//! Supported: text and `{{ }}` actions with `{{-`/`-}}` trimming and `{{/* comments */}}`;
//! pipelines with `|`, parenthesised sub-pipelines, variables (`$x := ...`, `$x = ...`,
//! `$`), fields (`.Labels.x`, `$labels.x`, `.Value`), string (`"..."`, `` `...` ``),
//! number, `true`/`false`/`nil` literals; `if`/`else if`/`else`/`end`, `range` (over
//! query results and maps, with `$i, $x :=`), `with`; Go's builtins `and or not eq ne lt
//! le gt ge len index print printf println urlquery html js`; Prometheus's `humanize*`,
//! `toUpper toLower title reReplaceAll match query first value label strvalue
//! sortByLabel stripPort stripDomain safeHtml parseDuration toTime externalURL pathPrefix
//! tableLink graphLink args`. Not supported: `define`/`template`/`block`, `break`,
//! `continue`, method calls.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use narthex_model::float::format_go_g;

use crate::gofmt;

/// The variables Prometheus defines before every alert template.
pub const ALERT_DEFS: &str = "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}";

/// A template error, with Go's text (`template: NAME:LINE: unclosed action`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemplateError(pub String);

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TemplateError {}

/// One element of a `query` result, as templates see it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct QuerySample {
    /// The labels, `__name__` included.
    pub labels: BTreeMap<String, String>,
    /// The value.
    pub value: f64,
}

/// What `query` runs: PromQL text in, samples (or an error text) out.
pub type QueryFn<'a> = dyn Fn(&str) -> Result<Vec<QuerySample>, String> + 'a;

/// The data an alert template sees as `.` (Prometheus's `AlertTemplateData`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TemplateData {
    /// `.Labels` / `$labels`: the alert's labels.
    pub labels: BTreeMap<String, String>,
    /// `.ExternalLabels` / `$externalLabels`.
    pub external_labels: BTreeMap<String, String>,
    /// `.ExternalURL` / `$externalURL`.
    pub external_url: String,
    /// `.Value` / `$value`: the sample value.
    pub value: f64,
    /// The evaluation time in milliseconds (what `now` returns, in seconds).
    pub time: i64,
}

#[derive(Clone, Debug)]
enum Tok {
    Field(Vec<String>),
    Var(String, Vec<String>),
    Ident(String),
    Str(String),
    Num(String),
    Bool(bool),
    Nil,
    LParen,
    RParen,
    Pipe,
    Declare,
    Assign,
    Comma,
}

#[derive(Clone, Debug)]
enum Arg {
    Field(Vec<String>),
    Var(String, Vec<String>),
    Func(String),
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Nil,
    Pipe(Box<Pipeline>),
}

#[derive(Clone, Debug)]
struct Cmd {
    args: Vec<Arg>,
    text: String,
}

#[derive(Clone, Debug)]
struct Pipeline {
    decl: Vec<String>,
    assign: bool,
    cmds: Vec<Cmd>,
    line: usize,
    col: usize,
}

#[derive(Clone, Debug)]
enum Node {
    Text(String),
    Action(Pipeline),
    If(Pipeline, Vec<Node>, Vec<Node>),
    With(Pipeline, Vec<Node>, Vec<Node>),
    Range(Pipeline, Vec<Node>, Vec<Node>),
}

/// A parsed template.
#[derive(Clone, Debug)]
pub struct Template {
    name: String,
    nodes: Vec<Node>,
}

/// Lexed top-level pieces: text, or an action's tokens.
enum Piece {
    Text(String),
    Action {
        toks: Vec<(Tok, usize)>,
        line: usize,
        col: usize,
        text: String,
    },
}

const FUNCS: &[&str] = &[
    "and",
    "or",
    "not",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "len",
    "index",
    "print",
    "printf",
    "println",
    "urlquery",
    "html",
    "js",
    "humanize",
    "humanize1024",
    "humanizeDuration",
    "humanizePercentage",
    "humanizeTimestamp",
    "toUpper",
    "toLower",
    "title",
    "reReplaceAll",
    "match",
    "query",
    "first",
    "value",
    "label",
    "strvalue",
    "sortByLabel",
    "stripPort",
    "stripDomain",
    "safeHtml",
    "parseDuration",
    "toTime",
    "externalURL",
    "pathPrefix",
    "tableLink",
    "graphLink",
    "args",
    "toDuration",
    "now",
    "slice",
    "call",
];

impl Template {
    /// Parses `text`; `name` appears in error messages as Go's template name.
    pub fn parse(name: &str, text: &str) -> Result<Template, TemplateError> {
        let perr =
            |line: usize, msg: &str| TemplateError(format!("template: {name}:{line}: {msg}"));
        let pieces = lex(text).map_err(|(l, m)| perr(l, &m))?;
        let mut p = Parser {
            pieces,
            i: 0,
            vars: vec!["$".to_string()],
        };
        let (nodes, stop) = p.list().map_err(|(l, m)| perr(l, &m))?;
        match stop {
            Stop::Eof => {}
            Stop::End(l) => return Err(perr(l, "unexpected {{end}}")),
            Stop::Else(l, _) => return Err(perr(l, "unexpected {{else}}")),
        }
        Ok(Template {
            name: name.to_string(),
            nodes,
        })
    }

    /// Runs the template over `data`; `query` serves the `query` function (without it,
    /// `query` fails).
    pub fn execute(
        &self,
        data: &TemplateData,
        query: Option<&QueryFn<'_>>,
    ) -> Result<String, TemplateError> {
        let root = Val::Root(Arc::new(data.clone()));
        let mut ex = Exec {
            name: &self.name,
            data,
            query,
            vars: vec![("$".to_string(), root.clone())],
            out: String::new(),
        };
        ex.list(&self.nodes, &root)?;
        Ok(ex.out)
    }
}

/// Expands an alert label or annotation template as Prometheus does: with
/// [`ALERT_DEFS`] prepended, the template named `__alert_NAME`, and errors turned into
/// `<error expanding template: ...>`.
pub fn expand_alert(
    alert_name: &str,
    text: &str,
    data: &TemplateData,
    query: Option<&QueryFn<'_>>,
) -> String {
    let name = format!("__alert_{alert_name}");
    let r = Template::parse(&name, &format!("{ALERT_DEFS}{text}"))
        .and_then(|t| t.execute(data, query))
        .map_err(|e| match e.0.strip_prefix("template: ") {
            Some(_) if e.0.contains("executing") => {
                TemplateError(format!("error executing template {name}: {}", e.0))
            }
            _ => TemplateError(format!("error parsing template {name}: {}", e.0)),
        });
    match r {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(alert = alert_name, err = %e, "expanding alert template failed");
            format!("<error expanding template: {e}>")
        }
    }
}

/// Checks that an alert template parses, as `promtool check rules` does.
pub fn check_alert_template(alert_name: &str, text: &str) -> Result<(), TemplateError> {
    Template::parse(
        &format!("__alert_{alert_name}"),
        &format!("{ALERT_DEFS}{text}"),
    )
    .map(|_| ())
}

type LexErr = (usize, String);

fn lex(src: &str) -> Result<Vec<Piece>, LexErr> {
    let mut out = Vec::new();
    let mut i = 0;
    let b = src.as_bytes();
    let line_of = |p: usize| 1 + src[..p].matches('\n').count();
    let col_of = |p: usize| match src[..p].rfind('\n') {
        Some(n) => p - n - 1,
        None => p,
    };
    while i < b.len() {
        let Some(rel) = src[i..].find("{{") else {
            out.push(Piece::Text(src[i..].to_string()));
            break;
        };
        let start = i + rel;
        let mut text = src[i..start].to_string();
        let mut j = start + 2;
        if src[j..].starts_with("- ")
            || src[j..].starts_with("-\t")
            || src[j..].starts_with("-\n")
            || src[j..].starts_with("-\r")
        {
            text = text.trim_end_matches([' ', '\t', '\r', '\n']).to_string();
            j += 1;
        }
        if !text.is_empty() {
            out.push(Piece::Text(text));
        }
        let line = line_of(start);
        // Comment.
        let trimmed = src[j..].trim_start_matches([' ', '\t', '\r', '\n']);
        if trimmed.starts_with("/*") {
            let cstart = src.len() - trimmed.len();
            let Some(e) = src[cstart..].find("*/") else {
                return Err((line, "unclosed comment".into()));
            };
            let mut k = cstart + e + 2;
            let rest = &src[k..];
            let rest_t = rest.trim_start_matches([' ', '\t', '\r', '\n']);
            let mut trim_after = false;
            if let Some(r) = rest_t.strip_prefix("-}}") {
                trim_after = true;
                k = src.len() - r.len();
            } else if let Some(r) = rest.strip_prefix("}}") {
                k = src.len() - r.len();
            } else {
                return Err((line, "comment ends before closing delimiter".into()));
            }
            i = k;
            if trim_after {
                i = skip_space(src, i);
            }
            continue;
        }
        // Find the end of the action.
        let mut k = j;
        let mut toks = Vec::new();
        let mut end = None;
        let mut trim_after = false;
        while k < b.len() {
            let c = b[k];
            if src[k..].starts_with("}}") {
                end = Some(k + 2);
                break;
            }
            if (c == b' ' || c == b'\t' || c == b'\n' || c == b'\r') && {
                let r = src[k..].trim_start_matches([' ', '\t', '\r', '\n']);
                r.starts_with("-}}")
            } {
                let r = src[k..].trim_start_matches([' ', '\t', '\r', '\n']);
                end = Some(src.len() - r.len() + 3);
                trim_after = true;
                break;
            }
            match c {
                b' ' | b'\t' | b'\n' | b'\r' => k += 1,
                b'(' => {
                    toks.push((Tok::LParen, k));
                    k += 1
                }
                b')' => {
                    toks.push((Tok::RParen, k));
                    k += 1
                }
                b'|' => {
                    toks.push((Tok::Pipe, k));
                    k += 1
                }
                b',' => {
                    toks.push((Tok::Comma, k));
                    k += 1
                }
                b'=' => {
                    toks.push((Tok::Assign, k));
                    k += 1
                }
                b':' if b.get(k + 1) == Some(&b'=') => {
                    toks.push((Tok::Declare, k));
                    k += 2
                }
                b'"' => {
                    let (s, n) = lex_quoted(&src[k..])
                        .ok_or((line, "unterminated quoted string".to_string()))?;
                    toks.push((Tok::Str(s), k));
                    k += n;
                }
                b'`' => {
                    let Some(e) = src[k + 1..].find('`') else {
                        return Err((line, "unterminated raw quoted string".into()));
                    };
                    toks.push((Tok::Str(src[k + 1..k + 1 + e].to_string()), k));
                    k += e + 2;
                }
                b'.' if !b.get(k + 1).is_some_and(|c| c.is_ascii_digit()) => {
                    let (fields, n) = lex_fields(&src[k..]);
                    toks.push((Tok::Field(fields), k));
                    k += n;
                }
                b'$' => {
                    let n = 1 + ident_len(&src[k + 1..]);
                    let name = src[k..k + n].to_string();
                    let (fields, m) = if src[k + n..].starts_with('.') {
                        lex_fields(&src[k + n..])
                    } else {
                        (Vec::new(), 0)
                    };
                    toks.push((Tok::Var(name, fields), k));
                    k += n + m;
                }
                c if c.is_ascii_digit() || c == b'-' || c == b'+' || c == b'.' => {
                    let mut n = 1;
                    while k + n < b.len() {
                        let d = b[k + n];
                        let prev = b[k + n - 1];
                        if d.is_ascii_alphanumeric()
                            || d == b'.'
                            || d == b'_'
                            || ((d == b'+' || d == b'-') && (prev == b'e' || prev == b'E'))
                        {
                            n += 1;
                        } else {
                            break;
                        }
                    }
                    toks.push((Tok::Num(src[k..k + n].to_string()), k));
                    k += n;
                }
                c if c.is_ascii_alphabetic() || c == b'_' => {
                    let n = ident_len(&src[k..]);
                    let w = &src[k..k + n];
                    toks.push((
                        match w {
                            "true" => Tok::Bool(true),
                            "false" => Tok::Bool(false),
                            "nil" => Tok::Nil,
                            _ => Tok::Ident(w.to_string()),
                        },
                        k,
                    ));
                    k += n;
                }
                _ => {
                    let ch = src[k..].chars().next().unwrap_or(' ');
                    return Err((line, format!("unexpected {} in command", go_char(ch))));
                }
            }
        }
        let Some(e) = end else {
            return Err((line, "unclosed action".into()));
        };
        out.push(Piece::Action {
            toks,
            line,
            col: col_of(start),
            text: src[j..e - 2]
                .trim()
                .trim_end_matches('-')
                .trim()
                .to_string(),
        });
        i = e;
        if trim_after {
            i = skip_space(src, i);
        }
    }
    Ok(out)
}

fn go_char(c: char) -> String {
    format!("<{c}>")
}

fn skip_space(src: &str, i: usize) -> usize {
    src.len() - src[i..].trim_start_matches([' ', '\t', '\r', '\n']).len()
}

fn ident_len(s: &str) -> usize {
    s.char_indices()
        .find(|(_, c)| !(c.is_alphanumeric() || *c == '_'))
        .map_or(s.len(), |(i, _)| i)
}

fn lex_fields(s: &str) -> (Vec<String>, usize) {
    let mut fields = Vec::new();
    let mut k = 0;
    while s[k..].starts_with('.') {
        let n = ident_len(&s[k + 1..]);
        if n == 0 {
            k += 1;
            break;
        }
        fields.push(s[k + 1..k + 1 + n].to_string());
        k += 1 + n;
    }
    (fields, k)
}

/// A Go interpreted string literal at the start of `s`: its value and byte length.
fn lex_quoted(s: &str) -> Option<(String, usize)> {
    let mut out = String::new();
    let mut it = s.char_indices().skip(1);
    while let Some((i, c)) = it.next() {
        match c {
            '"' => return Some((out, i + 1)),
            '\n' => return None,
            '\\' => {
                let (_, e) = it.next()?;
                match e {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    '\\' => out.push('\\'),
                    '"' => out.push('"'),
                    '\'' => out.push('\''),
                    'a' => out.push('\x07'),
                    'b' => out.push('\x08'),
                    'f' => out.push('\x0c'),
                    'v' => out.push('\x0b'),
                    'x' | 'u' | 'U' => {
                        let n = match e {
                            'x' => 2,
                            'u' => 4,
                            _ => 8,
                        };
                        let mut v = 0u32;
                        for _ in 0..n {
                            v = v * 16 + it.next()?.1.to_digit(16)?;
                        }
                        out.push(char::from_u32(v)?);
                    }
                    _ => return None,
                }
            }
            c => out.push(c),
        }
    }
    None
}

enum Stop {
    Eof,
    End(usize),
    Else(usize, Vec<(Tok, usize)>),
}

struct Parser {
    pieces: Vec<Piece>,
    i: usize,
    vars: Vec<String>,
}

impl Parser {
    fn list(&mut self) -> Result<(Vec<Node>, Stop), LexErr> {
        let mut nodes = Vec::new();
        while self.i < self.pieces.len() {
            let i = self.i;
            self.i += 1;
            match &self.pieces[i] {
                Piece::Text(t) => nodes.push(Node::Text(t.clone())),
                Piece::Action {
                    toks,
                    line,
                    col,
                    text,
                } => {
                    let (toks, line, col, text) = (toks.clone(), *line, *col, text.clone());
                    match toks.first() {
                        Some((Tok::Ident(w), _)) if w == "end" => {
                            if toks.len() > 1 {
                                return Err((line, "unexpected token in end".into()));
                            }
                            return Ok((nodes, Stop::End(line)));
                        }
                        Some((Tok::Ident(w), _)) if w == "else" => {
                            return Ok((nodes, Stop::Else(line, toks[1..].to_vec())));
                        }
                        Some((Tok::Ident(w), _)) if w == "if" || w == "range" || w == "with" => {
                            let kw = w.clone();
                            let node = self.block(&kw, &toks[1..], line, col, &text)?;
                            nodes.push(node);
                        }
                        Some((Tok::Ident(w), _))
                            if matches!(
                                w.as_str(),
                                "define" | "template" | "block" | "break" | "continue"
                            ) =>
                        {
                            return Err((line, format!("{{{{{w}}}}} is not supported")));
                        }
                        None => return Err((line, "missing value for command".into())),
                        _ => {
                            let p = self.pipeline(&toks, line, col, &text, false)?;
                            nodes.push(Node::Action(p));
                        }
                    }
                }
            }
        }
        Ok((nodes, Stop::Eof))
    }

    fn block(
        &mut self,
        kw: &str,
        toks: &[(Tok, usize)],
        line: usize,
        col: usize,
        text: &str,
    ) -> Result<Node, LexErr> {
        let mark = self.vars.len();
        let pipe = self.pipeline(toks, line, col, text, kw == "range")?;
        let (body, stop) = self.list()?;
        let els = match stop {
            Stop::Eof => return Err((line, "unexpected EOF".into())),
            Stop::End(_) => Vec::new(),
            Stop::Else(l, rest) => {
                self.vars.truncate(mark);
                if let Some((Tok::Ident(w), _)) = rest.first()
                    && (w == "if" || w == "with")
                    && kw == w
                {
                    // `else if`: a nested block that consumes the shared {{end}}.
                    let w = w.clone();
                    vec![self.block(&w, &rest[1..], l, col, text)?]
                } else if !rest.is_empty() {
                    return Err((l, "unexpected token in else".into()));
                } else {
                    let (els, stop) = self.list()?;
                    match stop {
                        Stop::End(_) => els,
                        Stop::Eof => return Err((line, "unexpected EOF".into())),
                        Stop::Else(l, _) => {
                            return Err((l, "expected end; found {{else}}".into()));
                        }
                    }
                }
            }
        };
        self.vars.truncate(mark);
        Ok(match kw {
            "if" => Node::If(pipe, body, els),
            "with" => Node::With(pipe, body, els),
            _ => Node::Range(pipe, body, els),
        })
    }

    fn pipeline(
        &mut self,
        toks: &[(Tok, usize)],
        line: usize,
        col: usize,
        text: &str,
        range: bool,
    ) -> Result<Pipeline, LexErr> {
        let mut decl = Vec::new();
        let mut assign = false;
        let mut rest = toks;
        match toks {
            [(Tok::Var(v, f), _), (Tok::Declare, _), r @ ..] if f.is_empty() => {
                decl.push(v.clone());
                rest = r;
            }
            [(Tok::Var(v, f), _), (Tok::Assign, _), r @ ..] if f.is_empty() => {
                if !self.vars.contains(v) {
                    return Err((line, format!("undefined variable \"{v}\"")));
                }
                decl.push(v.clone());
                assign = true;
                rest = r;
            }
            [
                (Tok::Var(a, _), _),
                (Tok::Comma, _),
                (Tok::Var(b, _), _),
                (Tok::Declare, _),
                r @ ..,
            ] if range => {
                decl.push(a.clone());
                decl.push(b.clone());
                rest = r;
            }
            _ => {}
        }
        let (cmds, n) = self.cmds(rest, line, text)?;
        if n != rest.len() {
            return Err((line, "unexpected right paren".into()));
        }
        if cmds.is_empty() {
            return Err((line, "missing value for command".into()));
        }
        if !assign {
            self.vars.extend(decl.iter().cloned());
        }
        Ok(Pipeline {
            decl,
            assign,
            cmds,
            line,
            col,
        })
    }

    /// Commands up to the end or an unmatched `)`; returns how many tokens were used.
    fn cmds(
        &mut self,
        toks: &[(Tok, usize)],
        line: usize,
        text: &str,
    ) -> Result<(Vec<Cmd>, usize), LexErr> {
        let mut cmds = Vec::new();
        let mut args = Vec::new();
        let mut i = 0;
        while i < toks.len() {
            let arg = match &toks[i].0 {
                Tok::RParen => break,
                Tok::Pipe => {
                    if args.is_empty() {
                        return Err((line, "missing value for command".into()));
                    }
                    cmds.push(Cmd {
                        args: std::mem::take(&mut args),
                        text: text.to_string(),
                    });
                    i += 1;
                    continue;
                }
                Tok::LParen => {
                    let (sub, n) = self.cmds(&toks[i + 1..], line, text)?;
                    if !matches!(toks.get(i + 1 + n), Some((Tok::RParen, _))) {
                        return Err((line, "unclosed left paren".into()));
                    }
                    if sub.is_empty() {
                        return Err((line, "missing value for parenthesized pipeline".into()));
                    }
                    i += n + 1;
                    Arg::Pipe(Box::new(Pipeline {
                        decl: Vec::new(),
                        assign: false,
                        cmds: sub,
                        line,
                        col: 0,
                    }))
                }
                Tok::Field(f) => Arg::Field(f.clone()),
                Tok::Var(v, f) => {
                    if !self.vars.contains(v) {
                        return Err((line, format!("undefined variable \"{v}\"")));
                    }
                    Arg::Var(v.clone(), f.clone())
                }
                Tok::Ident(w) => {
                    if !FUNCS.contains(&w.as_str()) {
                        return Err((line, format!("function \"{w}\" not defined")));
                    }
                    Arg::Func(w.clone())
                }
                Tok::Str(s) => Arg::Str(s.clone()),
                Tok::Bool(b) => Arg::Bool(*b),
                Tok::Nil => Arg::Nil,
                Tok::Num(n) => parse_num(n).ok_or((line, format!("bad number syntax: \"{n}\"")))?,
                Tok::Declare | Tok::Assign | Tok::Comma => {
                    return Err((line, "unexpected token in operand".into()));
                }
            };
            args.push(arg);
            i += 1;
        }
        if !args.is_empty() {
            cmds.push(Cmd {
                args,
                text: text.to_string(),
            });
        } else if !cmds.is_empty() {
            return Err((line, "missing value for command".into()));
        }
        Ok((cmds, i))
    }
}

fn parse_num(n: &str) -> Option<Arg> {
    let hex = n.trim_start_matches(['+', '-']).starts_with("0x");
    if !hex && (n.contains('.') || n.contains('e') || n.contains('E')) {
        return n.replace('_', "").parse::<f64>().ok().map(Arg::Float);
    }
    let (neg, body) = match n.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, n.trim_start_matches('+')),
    };
    let body = body.replace('_', "");
    let v = if let Some(h) = body.strip_prefix("0x") {
        i64::from_str_radix(h, 16).ok()?
    } else {
        body.parse::<i64>().ok()?
    };
    Some(Arg::Int(if neg { -v } else { v }))
}

#[derive(Clone, Debug)]
enum Val {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Map(Arc<BTreeMap<String, String>>),
    Sample(Arc<QuerySample>),
    Samples(Arc<Vec<QuerySample>>),
    Root(Arc<TemplateData>),
}

impl Val {
    fn truth(&self) -> bool {
        match self {
            Val::Nil => false,
            Val::Bool(b) => *b,
            Val::Int(i) => *i != 0,
            Val::Float(f) => *f != 0.0,
            Val::Str(s) => !s.is_empty(),
            Val::Map(m) => !m.is_empty(),
            Val::Samples(s) => !s.is_empty(),
            Val::Sample(_) | Val::Root(_) => true,
        }
    }

    fn type_name(&self) -> &'static str {
        match self {
            Val::Nil => "<nil>",
            Val::Bool(_) => "bool",
            Val::Int(_) => "int",
            Val::Float(_) => "float64",
            Val::Str(_) => "string",
            Val::Map(_) => "map[string]string",
            Val::Sample(_) => "*template.sample",
            Val::Samples(_) => "template.queryResult",
            Val::Root(_) => "template.AlertTemplateData",
        }
    }

    fn print(&self) -> String {
        match self {
            Val::Nil => "<no value>".into(),
            Val::Bool(b) => b.to_string(),
            Val::Int(i) => i.to_string(),
            Val::Float(f) => format_go_g(*f),
            Val::Str(s) => s.clone(),
            Val::Map(m) => print_map(m),
            Val::Sample(s) => format!("&{{{} {}}}", print_map(&s.labels), format_go_g(s.value)),
            Val::Samples(v) => {
                let items: Vec<String> = v
                    .iter()
                    .map(|s| format!("{{{} {}}}", print_map(&s.labels), format_go_g(s.value)))
                    .collect();
                format!("[{}]", items.join(" "))
            }
            Val::Root(d) => format!(
                "{{{} {} {} {}}}",
                print_map(&d.labels),
                print_map(&d.external_labels),
                d.external_url,
                format_go_g(d.value)
            ),
        }
    }

    fn field(&self, name: &str) -> Result<Val, String> {
        match self {
            Val::Map(m) => Ok(Val::Str(m.get(name).cloned().unwrap_or_default())),
            Val::Root(d) => match name {
                "Labels" => Ok(Val::Map(Arc::new(d.labels.clone()))),
                "ExternalLabels" => Ok(Val::Map(Arc::new(d.external_labels.clone()))),
                "ExternalURL" => Ok(Val::Str(d.external_url.clone())),
                "Value" => Ok(Val::Float(d.value)),
                _ => Err(format!(
                    "can't evaluate field {name} in type template.AlertTemplateData"
                )),
            },
            Val::Sample(s) => match name {
                "Labels" => Ok(Val::Map(Arc::new(s.labels.clone()))),
                "Value" => Ok(Val::Float(s.value)),
                _ => Err(format!(
                    "can't evaluate field {name} in type *template.sample"
                )),
            },
            Val::Nil => Err(format!("nil pointer evaluating interface {{}}.{name}")),
            v => Err(format!(
                "can't evaluate field {name} in type {}",
                v.type_name()
            )),
        }
    }
}

fn print_map(m: &BTreeMap<String, String>) -> String {
    let items: Vec<String> = m.iter().map(|(k, v)| format!("{k}:{v}")).collect();
    format!("map[{}]", items.join(" "))
}

struct Exec<'a> {
    name: &'a str,
    data: &'a TemplateData,
    query: Option<&'a QueryFn<'a>>,
    vars: Vec<(String, Val)>,
    out: String,
}

impl Exec<'_> {
    fn err(&self, p: &Pipeline, ctx: &str, msg: String) -> TemplateError {
        TemplateError(format!(
            "template: {}:{}:{}: executing \"{}\" at <{}>: {}",
            self.name, p.line, p.col, self.name, ctx, msg
        ))
    }

    fn list(&mut self, nodes: &[Node], dot: &Val) -> Result<(), TemplateError> {
        for n in nodes {
            match n {
                Node::Text(t) => self.out.push_str(t),
                Node::Action(p) => {
                    let v = self.pipeline(p, dot)?;
                    if p.decl.is_empty() {
                        self.out.push_str(&v.print());
                    }
                }
                Node::If(p, body, els) | Node::With(p, body, els) => {
                    let mark = self.vars.len();
                    let v = self.pipeline(p, dot)?;
                    let with = matches!(n, Node::With(..));
                    if v.truth() {
                        let d = if with { v } else { dot.clone() };
                        self.list(body, &d)?;
                    } else {
                        self.list(els, dot)?;
                    }
                    self.vars.truncate(mark);
                }
                Node::Range(p, body, els) => {
                    let mark = self.vars.len();
                    let mut q = p.clone();
                    let decl = std::mem::take(&mut q.decl);
                    let v = self.pipeline(&q, dot)?;
                    let items: Vec<(Val, Val)> = match &v {
                        Val::Samples(s) => s
                            .iter()
                            .enumerate()
                            .map(|(i, x)| (Val::Int(i as i64), Val::Sample(Arc::new(x.clone()))))
                            .collect(),
                        Val::Map(m) => m
                            .iter()
                            .map(|(k, x)| (Val::Str(k.clone()), Val::Str(x.clone())))
                            .collect(),
                        Val::Int(n) => (0..*n).map(|i| (Val::Int(i), Val::Int(i))).collect(),
                        Val::Nil => Vec::new(),
                        other => {
                            return Err(self.err(
                                p,
                                &p.cmds[0].text,
                                format!("range can't iterate over {}", other.print()),
                            ));
                        }
                    };
                    if items.is_empty() {
                        self.list(els, dot)?;
                    }
                    for (k, x) in items {
                        let m2 = self.vars.len();
                        match decl.as_slice() {
                            [a] => self.vars.push((a.clone(), x.clone())),
                            [a, b] => {
                                self.vars.push((a.clone(), k));
                                self.vars.push((b.clone(), x.clone()));
                            }
                            _ => {}
                        }
                        self.list(body, &x)?;
                        self.vars.truncate(m2);
                    }
                    self.vars.truncate(mark);
                }
            }
        }
        Ok(())
    }

    fn pipeline(&mut self, p: &Pipeline, dot: &Val) -> Result<Val, TemplateError> {
        let mut last: Option<Val> = None;
        for c in &p.cmds {
            last = Some(self.cmd(p, c, dot, last.take())?);
        }
        let v = last.unwrap_or(Val::Nil);
        if let Some(name) = p.decl.first() {
            if p.assign {
                if let Some(slot) = self.vars.iter_mut().rev().find(|(n, _)| n == name) {
                    slot.1 = v.clone();
                }
            } else {
                self.vars.push((name.clone(), v.clone()));
            }
        }
        Ok(v)
    }

    fn arg(&mut self, p: &Pipeline, a: &Arg, dot: &Val) -> Result<Val, TemplateError> {
        let chain = |mut v: Val, fields: &[String], this: &Self| -> Result<Val, TemplateError> {
            for f in fields {
                v = v
                    .field(f)
                    .map_err(|m| this.err(p, &format!(".{}", fields.join(".")), m))?;
            }
            Ok(v)
        };
        Ok(match a {
            Arg::Field(f) => chain(dot.clone(), f, self)?,
            Arg::Var(n, f) => {
                let v = self
                    .vars
                    .iter()
                    .rev()
                    .find(|(x, _)| x == n)
                    .map(|(_, v)| v.clone())
                    .unwrap_or(Val::Nil);
                chain(v, f, self)?
            }
            Arg::Str(s) => Val::Str(s.clone()),
            Arg::Int(i) => Val::Int(*i),
            Arg::Float(f) => Val::Float(*f),
            Arg::Bool(b) => Val::Bool(*b),
            Arg::Nil => Val::Nil,
            Arg::Pipe(sub) => self.pipeline(sub, dot)?,
            Arg::Func(f) => self.call(p, f, Vec::new(), f)?,
        })
    }

    fn cmd(
        &mut self,
        p: &Pipeline,
        c: &Cmd,
        dot: &Val,
        piped: Option<Val>,
    ) -> Result<Val, TemplateError> {
        if let Arg::Func(f) = &c.args[0] {
            let mut args = Vec::new();
            for a in &c.args[1..] {
                args.push(self.arg(p, a, dot)?);
            }
            args.extend(piped);
            return self.call(p, f, args, &c.text);
        }
        if c.args.len() > 1 || piped.is_some() {
            return Err(self.err(
                p,
                &c.text,
                format!(
                    "can't give argument to non-function {}",
                    arg_text(&c.args[0])
                ),
            ));
        }
        self.arg(p, &c.args[0], dot)
    }

    fn call(
        &mut self,
        p: &Pipeline,
        f: &str,
        args: Vec<Val>,
        ctx: &str,
    ) -> Result<Val, TemplateError> {
        let arity = |n: usize| -> Result<(), TemplateError> {
            if args.len() != n {
                Err(self.err(
                    p,
                    ctx,
                    format!("wrong number of args for {f}: want {n} got {}", args.len()),
                ))
            } else {
                Ok(())
            }
        };
        let calling = |m: String| self.err(p, ctx, format!("error calling {f}: {m}"));
        let num = |v: &Val| -> Result<f64, TemplateError> { to_float(v).map_err(calling) };
        let s = |v: &Val| -> String {
            match v {
                Val::Str(s) => s.clone(),
                v => v.print(),
            }
        };
        Ok(match f {
            "humanize" | "humanize1024" | "humanizeDuration" | "humanizePercentage"
            | "humanizeTimestamp" => {
                arity(1)?;
                let v = num(&args[0])?;
                Val::Str(match f {
                    "humanize" => gofmt::humanize(v),
                    "humanize1024" => gofmt::humanize1024(v),
                    "humanizeDuration" => gofmt::humanize_duration(v),
                    "humanizePercentage" => gofmt::humanize_percentage(v),
                    _ => gofmt::humanize_timestamp(v).map_err(calling)?,
                })
            }
            "toUpper" | "toLower" | "title" | "safeHtml" | "stripPort" | "stripDomain"
            | "strvalue" | "tableLink" | "graphLink" | "parseDuration" => {
                arity(1)?;
                let x = s(&args[0]);
                match f {
                    "toUpper" => Val::Str(x.to_uppercase()),
                    "toLower" => Val::Str(x.to_lowercase()),
                    "title" => Val::Str(title(&x)),
                    "safeHtml" => Val::Str(x),
                    "stripPort" => Val::Str(strip_port(&x)),
                    "stripDomain" => Val::Str(strip_domain(&x)),
                    "strvalue" => match &args[0] {
                        Val::Sample(sm) => {
                            Val::Str(sm.labels.get("__value__").cloned().unwrap_or_default())
                        }
                        v => return Err(calling(format!("wrong type {}", v.type_name()))),
                    },
                    "tableLink" => Val::Str(crate::table_link_for_expression(&x)),
                    "graphLink" => Val::Str(format!(
                        "/graph?g0.expr={}&g0.tab=0",
                        crate::query_escape(&x)
                    )),
                    "parseDuration" => {
                        let ms = narthex_model::parse_duration(&x)
                            .map_err(|e| calling(e.to_string()))?;
                        Val::Float(ms as f64 / 1000.0)
                    }
                    _ => Val::Str(x),
                }
            }
            "toTime" => {
                arity(1)?;
                let v = num(&args[0])?;
                if !v.is_finite() {
                    return Err(calling("value is NaN or Inf".into()));
                }
                Val::Str(gofmt::humanize_timestamp(v).map_err(calling)?)
            }
            "toDuration" => {
                arity(1)?;
                Val::Str(go_duration(go_f64_to_i64(num(&args[0])? * 1e9)))
            }
            "now" => {
                arity(0)?;
                Val::Float(self.data.time as f64 / 1000.0)
            }
            "slice" => {
                let x = args.first().map(s).unwrap_or_default();
                let idx: Vec<usize> = args[1..]
                    .iter()
                    .map(|v| match v {
                        Val::Int(i) if *i >= 0 => Ok(*i as usize),
                        v => Err(calling(format!(
                            "cannot index slice/array with type {}",
                            v.type_name()
                        ))),
                    })
                    .collect::<Result<_, _>>()?;
                let (i, j) = (
                    idx.first().copied().unwrap_or(0),
                    idx.get(1).copied().unwrap_or(x.len()),
                );
                match x.get(i..j) {
                    Some(sub) => Val::Str(sub.to_string()),
                    None => return Err(calling(format!("index out of range: {j}"))),
                }
            }
            "reReplaceAll" => {
                arity(3)?;
                let re = regex::Regex::new(&s(&args[0]))
                    .map_err(|e| calling(format!("regexp: Compile: {e}")))?;
                let repl = go_repl(&s(&args[1]));
                Val::Str(re.replace_all(&s(&args[2]), repl.as_str()).into_owned())
            }
            "match" => {
                arity(2)?;
                let re = regex::Regex::new(&s(&args[0])).map_err(|e| calling(e.to_string()))?;
                Val::Bool(re.is_match(&s(&args[1])))
            }
            "query" => {
                arity(1)?;
                let Some(q) = self.query else {
                    return Err(calling("no query function available".into()));
                };
                Val::Samples(Arc::new(q(&s(&args[0])).map_err(calling)?))
            }
            "first" => {
                arity(1)?;
                match &args[0] {
                    Val::Samples(v) => match v.first() {
                        Some(x) => Val::Sample(Arc::new(x.clone())),
                        None => {
                            return Err(calling(
                                "first() called on vector with no elements".into(),
                            ));
                        }
                    },
                    v => {
                        return Err(calling(format!(
                            "wrong type for value; expected template.queryResult; got {}",
                            v.type_name()
                        )));
                    }
                }
            }
            "value" => {
                arity(1)?;
                match &args[0] {
                    Val::Sample(x) => Val::Float(x.value),
                    v => {
                        return Err(calling(format!(
                            "wrong type for value; expected *template.sample; got {}",
                            v.type_name()
                        )));
                    }
                }
            }
            "label" => {
                arity(2)?;
                match &args[1] {
                    Val::Sample(x) => {
                        Val::Str(x.labels.get(&s(&args[0])).cloned().unwrap_or_default())
                    }
                    v => {
                        return Err(calling(format!(
                            "wrong type for value; expected *template.sample; got {}",
                            v.type_name()
                        )));
                    }
                }
            }
            "sortByLabel" => {
                arity(2)?;
                let l = s(&args[0]);
                match &args[1] {
                    Val::Samples(v) => {
                        let mut v = (**v).clone();
                        v.sort_by(|a, b| a.labels.get(&l).cmp(&b.labels.get(&l)));
                        Val::Samples(Arc::new(v))
                    }
                    v => return Err(calling(format!("wrong type {}", v.type_name()))),
                }
            }
            "externalURL" => Val::Str(self.data.external_url.clone()),
            "pathPrefix" => Val::Str(String::new()),
            "args" => {
                let m: BTreeMap<String, String> = args
                    .iter()
                    .enumerate()
                    .map(|(i, v)| (format!("arg{i}"), s(v)))
                    .collect();
                Val::Map(Arc::new(m))
            }
            "not" => {
                arity(1)?;
                Val::Bool(!args[0].truth())
            }
            "and" => args
                .iter()
                .find(|v| !v.truth())
                .or(args.last())
                .cloned()
                .unwrap_or(Val::Nil),
            "or" => args
                .iter()
                .find(|v| v.truth())
                .or(args.last())
                .cloned()
                .unwrap_or(Val::Nil),
            "len" => {
                arity(1)?;
                Val::Int(match &args[0] {
                    Val::Str(x) => x.len(),
                    Val::Map(m) => m.len(),
                    Val::Samples(v) => v.len(),
                    v => return Err(calling(format!("len of type {}", v.type_name()))),
                } as i64)
            }
            "index" => {
                if args.len() != 2 {
                    return Err(calling("index supports one key".into()));
                }
                match &args[0] {
                    Val::Map(m) => Val::Str(m.get(&s(&args[1])).cloned().unwrap_or_default()),
                    Val::Samples(v) => match &args[1] {
                        Val::Int(i) if *i >= 0 && (*i as usize) < v.len() => {
                            Val::Sample(Arc::new(v[*i as usize].clone()))
                        }
                        i => return Err(calling(format!("index out of range: {}", i.print()))),
                    },
                    v => {
                        return Err(calling(format!(
                            "can't index item of type {}",
                            v.type_name()
                        )));
                    }
                }
            }
            "eq" | "ne" | "lt" | "le" | "gt" | "ge" => {
                if args.len() < 2 {
                    return Err(calling("missing argument for comparison".into()));
                }
                if f == "eq" {
                    let mut any = false;
                    for b in &args[1..] {
                        if compare(&args[0], b).map_err(calling)? == Some(std::cmp::Ordering::Equal)
                        {
                            any = true;
                        }
                    }
                    Val::Bool(any)
                } else {
                    arity(2)?;
                    let o = compare(&args[0], &args[1]).map_err(calling)?;
                    use std::cmp::Ordering::*;
                    // Go defines gt as !le and ge as !lt, which matters for NaN.
                    let (lt, eq) = (o == Some(Less), o == Some(Equal));
                    Val::Bool(match f {
                        "ne" => !eq,
                        "lt" => lt,
                        "le" => lt || eq,
                        "gt" => !(lt || eq),
                        _ => !lt,
                    })
                }
            }
            "print" | "println" => {
                let mut out = String::new();
                for (i, a) in args.iter().enumerate() {
                    let is_str = matches!(a, Val::Str(_));
                    let prev_str = i > 0 && matches!(args[i - 1], Val::Str(_));
                    if i > 0 && (f == "println" || (!is_str && !prev_str)) {
                        out.push(' ');
                    }
                    out.push_str(&a.print());
                }
                if f == "println" {
                    out.push('\n');
                }
                Val::Str(out)
            }
            "printf" => {
                if args.is_empty() {
                    return Err(self.err(
                        p,
                        ctx,
                        "wrong number of args for printf: want at least 1 got 0".into(),
                    ));
                }
                Val::Str(sprintf(&s(&args[0]), &args[1..]))
            }
            "urlquery" => Val::Str(crate::query_escape(
                &args.iter().map(s).collect::<Vec<_>>().join(""),
            )),
            "html" | "js" => Val::Str(args.iter().map(s).collect::<Vec<_>>().join("")),
            _ => return Err(calling("not implemented".into())),
        })
    }
}

fn arg_text(a: &Arg) -> String {
    match a {
        Arg::Field(f) => format!(".{}", f.join(".")),
        Arg::Var(v, f) if f.is_empty() => v.clone(),
        Arg::Var(v, f) => format!("{v}.{}", f.join(".")),
        Arg::Str(s) => narthex_model::go_quote(s),
        Arg::Int(i) => i.to_string(),
        Arg::Float(x) => format_go_g(*x),
        Arg::Bool(b) => b.to_string(),
        Arg::Nil => "nil".into(),
        Arg::Func(f) => f.clone(),
        Arg::Pipe(_) => "(...)".into(),
    }
}

fn compare(a: &Val, b: &Val) -> Result<Option<std::cmp::Ordering>, String> {
    Ok(match (a, b) {
        (Val::Int(x), Val::Int(y)) => Some(x.cmp(y)),
        (Val::Float(x), Val::Float(y)) => x.partial_cmp(y),
        (Val::Str(x), Val::Str(y)) => Some(x.cmp(y)),
        (Val::Bool(x), Val::Bool(y)) => Some(x.cmp(y)),
        (Val::Nil, Val::Nil) => Some(std::cmp::Ordering::Equal),
        _ => return Err("incompatible types for comparison".into()),
    })
}

fn to_float(v: &Val) -> Result<f64, String> {
    match v {
        Val::Float(f) => Ok(*f),
        Val::Int(i) => Ok(*i as f64),
        Val::Str(s) => narthex_model::float::parse_go_float(s).map_err(|_| {
            format!(
                "strconv.ParseFloat: parsing {}: invalid syntax",
                narthex_model::go_quote(s)
            )
        }),
        v => Err(format!("can't convert {} to float", v.type_name())),
    }
}

/// Go's `strings.Title`: upper-cases the first letter of each word.
fn title(s: &str) -> String {
    let mut out = String::new();
    let mut prev_letter = false;
    for c in s.chars() {
        if !prev_letter {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev_letter = c.is_alphanumeric() || c == '_' || c == '\'';
    }
    out
}

fn strip_port(s: &str) -> String {
    if let Some(rest) = s.strip_prefix('[')
        && let Some(i) = rest.find(']')
    {
        return rest[..i].to_string();
    }
    match s.rfind(':') {
        Some(i) if s[..i].find(':').is_none() => s[..i].to_string(),
        _ => s.to_string(),
    }
}

fn strip_domain(s: &str) -> String {
    let (host, port) = match s.rfind(':') {
        Some(i) if !s[..i].contains(':') => (&s[..i], &s[i..]),
        _ => (s, ""),
    };
    if host.parse::<std::net::IpAddr>().is_ok() {
        return s.to_string();
    }
    match host.find('.') {
        Some(i) => format!("{}{port}", &host[..i]),
        None => s.to_string(),
    }
}

/// Go's `$1`/`${name}` replacement syntax to the regex crate's (`${1}`): Go reads `$1x`
/// as the group named `1x`.
fn go_repl(r: &str) -> String {
    let mut out = String::new();
    let mut it = r.chars().peekable();
    while let Some(c) = it.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        match it.peek() {
            Some('$') => {
                it.next();
                out.push_str("$$");
            }
            Some('{') => out.push('$'),
            Some(c) if c.is_alphanumeric() || *c == '_' => {
                let mut name = String::new();
                while let Some(c) = it.peek() {
                    if c.is_alphanumeric() || *c == '_' {
                        name.push(*c);
                        it.next();
                    } else {
                        break;
                    }
                }
                out.push_str(&format!("${{{name}}}"));
            }
            _ => out.push_str("$$"),
        }
    }
    out
}

// A subset of Go's `fmt.Sprintf`: flags `-+ 0#`, width, precision and the verbs
/// `v s d f F g G e E x X q t %`.
fn sprintf(format: &str, args: &[Val]) -> String {
    let mut out = String::new();
    let mut it = format.chars().peekable();
    let mut ai = 0;
    while let Some(c) = it.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let (mut minus, mut plus, mut zero, mut space) = (false, false, false, false);
        while let Some(&f) = it.peek() {
            match f {
                '-' => minus = true,
                '+' => plus = true,
                '0' => zero = true,
                ' ' => space = true,
                '#' => {}
                _ => break,
            }
            it.next();
        }
        let mut width = None;
        while let Some(d) = it.peek().and_then(|c| c.to_digit(10)) {
            width = Some(width.unwrap_or(0) * 10 + d as usize);
            it.next();
        }
        let mut prec = None;
        if it.peek() == Some(&'.') {
            it.next();
            let mut p = 0;
            while let Some(d) = it.peek().and_then(|c| c.to_digit(10)) {
                p = p * 10 + d as usize;
                it.next();
            }
            prec = Some(p);
        }
        let Some(verb) = it.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(a) = args.get(ai) else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        ai += 1;
        let num = match a {
            Val::Float(f) => Some(*f),
            Val::Int(i) => Some(*i as f64),
            _ => None,
        };
        let mut s = match (verb, a) {
            ('d', Val::Int(i)) => i.to_string(),
            ('x', Val::Int(i)) => format!("{i:x}"),
            ('X', Val::Int(i)) => format!("{i:X}"),
            ('x', Val::Str(s)) => s.bytes().map(|b| format!("{b:02x}")).collect(),
            ('f' | 'F', _) if matches!(a, Val::Float(_)) => {
                gofmt::fmt_f(num.unwrap_or(0.0), prec.unwrap_or(6))
            }
            ('e' | 'E', _) if matches!(a, Val::Float(_)) => {
                let r = gofmt::fmt_e(num.unwrap_or(0.0), prec.unwrap_or(6));
                if verb == 'E' { r.to_uppercase() } else { r }
            }
            ('g' | 'G', _) if matches!(a, Val::Float(_)) => gofmt::fmt_g(num.unwrap_or(0.0), prec),
            ('v', Val::Float(f)) => match prec {
                Some(p) => gofmt::fmt_g(*f, Some(p)),
                None => format_go_g(*f),
            },
            ('s' | 'v', Val::Str(s)) => match prec {
                Some(p) => s.chars().take(p).collect(),
                None => s.clone(),
            },
            ('q', Val::Str(s)) => narthex_model::go_quote(s),
            ('t' | 'v', Val::Bool(b)) => b.to_string(),
            ('v' | 's', v) => v.print(),
            (verb, v) => format!("%!{verb}({}={})", v.type_name(), v.print()),
        };
        if let Some(n) = num
            && !s.starts_with('-')
            && !s.starts_with('%')
            && !s.starts_with('+')
            && (n.is_finite() || n.is_nan())
        {
            if plus {
                s.insert(0, '+');
            } else if space {
                s.insert(0, ' ');
            }
        }
        if let Some(w) = width {
            let len = s.chars().count();
            if len < w {
                let pad = w - len;
                if minus {
                    s.push_str(&" ".repeat(pad));
                } else if zero && num.is_some() {
                    let sign = s.starts_with(['-', '+', ' ']);
                    let at = usize::from(sign);
                    s.insert_str(at, &"0".repeat(pad));
                } else {
                    s.insert_str(0, &" ".repeat(pad));
                }
            }
        }
        out.push_str(&s);
    }
    if ai < args.len() {
        out.push_str("%!(EXTRA ");
        let extra: Vec<String> = args[ai..]
            .iter()
            .map(|v| format!("{}={}", v.type_name(), v.print()))
            .collect();
        out.push_str(&extra.join(", "));
        out.push(')');
    }
    out
}

/// Go's `time.Duration.String()` of `ns` nanoseconds (`1h2m3.5s`, `1.5ms`, `0s`).
fn go_duration(ns: i64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    let neg = ns < 0;
    let u = ns.unsigned_abs();
    let frac = |v: u64, div: u64| -> String {
        let whole = v / div;
        let rest = v % div;
        if rest == 0 {
            return whole.to_string();
        }
        let width = div.ilog10();
        let r = format!("{rest:0width$}", width = width as usize);
        format!("{whole}.{}", r.trim_end_matches('0'))
    };
    let body = if u < 1_000 {
        format!("{u}ns")
    } else if u < 1_000_000 {
        format!("{}µs", frac(u, 1_000))
    } else if u < 1_000_000_000 {
        format!("{}ms", frac(u, 1_000_000))
    } else {
        let h = u / 3_600_000_000_000;
        let m = (u / 60_000_000_000) % 60;
        let sec = frac(u % 60_000_000_000, 1_000_000_000);
        if h > 0 {
            format!("{h}h{m}m{sec}s")
        } else if m > 0 {
            format!("{m}m{sec}s")
        } else {
            format!("{sec}s")
        }
    };
    if neg { format!("-{body}") } else { body }
}

/// Go's `int64(f)` on amd64: out-of-range values and NaN become `MinInt64`.
fn go_f64_to_i64(f: f64) -> i64 {
    if f.is_nan() || !(-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&f) {
        i64::MIN
    } else {
        f as i64
    }
}
