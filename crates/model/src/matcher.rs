//! Label matchers (`=`, `!=`, `=~`, `!~`) with Prometheus's regex semantics.
//!
//! Prometheus compiles every matcher regex as `^(?s:<re>)$` with Go's RE2 syntax, where the
//! Perl classes `\d \w \s \b` are ASCII-only. [`FastRegex`] reproduces that on top of the
//! `regex` crate and skips the regex engine entirely for the shapes that dominate real
//! queries: a literal, an alternation of literals, `.*`, `.+`, and a literal prefix,
//! suffix or infix around `.*`.

use std::fmt;

use regex::Regex;
use regex_syntax::hir::{Class, Hir, HirKind, Literal, Repetition};

use crate::names::write_label_name;
use crate::quote::write_go_quoted;

/// The comparison a [`Matcher`] makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MatchOp {
    /// `=`: the value equals the text.
    Equal,
    /// `!=`: the value differs from the text.
    NotEqual,
    /// `=~`: the value matches the regex, fully anchored.
    RegexMatch,
    /// `!~`: the value does not match the regex, fully anchored.
    RegexNoMatch,
}

impl MatchOp {
    /// The operator as written in PromQL.
    pub fn as_str(self) -> &'static str {
        match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::RegexMatch => "=~",
            MatchOp::RegexNoMatch => "!~",
        }
    }
}

impl fmt::Display for MatchOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A regex that failed to compile.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("error parsing regexp: {message}")]
pub struct RegexError {
    /// The pattern as given.
    pub pattern: String,
    /// What is wrong with it.
    pub message: String,
}

/// A matcher on one label: `name op "value"`.
///
/// A missing label matches as the empty string, as in Prometheus.
///
/// ```
/// use narthex_model::{MatchOp, Matcher};
/// let m = Matcher::new(MatchOp::RegexMatch, "job", "api|web").unwrap();
/// assert!(m.matches("web"));
/// assert!(!m.matches("webserver")); // fully anchored
/// assert_eq!(m.to_string(), r#"job=~"api|web""#);
/// ```
#[derive(Clone)]
pub struct Matcher {
    op: MatchOp,
    name: String,
    value: String,
    re: Option<FastRegex>,
}

impl Matcher {
    /// A matcher; fails only when a regex operator is given an invalid pattern.
    pub fn new(
        op: MatchOp,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<Self, RegexError> {
        let value = value.into();
        let re = match op {
            MatchOp::RegexMatch | MatchOp::RegexNoMatch => Some(FastRegex::new(&value)?),
            _ => None,
        };
        Ok(Matcher {
            op,
            name: name.into(),
            value,
            re,
        })
    }

    /// The operator.
    pub fn op(&self) -> MatchOp {
        self.op
    }

    /// The label name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The text or pattern as written.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// Whether a label value (the empty string for a missing label) satisfies the matcher.
    #[inline]
    pub fn matches(&self, v: &str) -> bool {
        match (&self.op, &self.re) {
            (MatchOp::Equal, _) => v == self.value,
            (MatchOp::NotEqual, _) => v != self.value,
            (MatchOp::RegexMatch, Some(re)) => re.is_match(v),
            (MatchOp::RegexNoMatch, Some(re)) => !re.is_match(v),
            (_, None) => false,
        }
    }

    /// Whether the matcher accepts the empty string, that is, series without the label.
    pub fn matches_empty(&self) -> bool {
        self.matches("")
    }

    /// For `=` the one value, and for `=~` over an alternation of literals every value,
    /// that can match; `None` when the set is unbounded. Storage engines use this to look
    /// postings up directly instead of scanning label values.
    pub fn set_matches(&self) -> Option<Vec<&str>> {
        match (self.op, &self.re) {
            (MatchOp::Equal, _) => Some(vec![self.value.as_str()]),
            (MatchOp::RegexMatch, Some(re)) => re.set_matches(),
            _ => None,
        }
    }

    /// The regex, for `=~` and `!~` matchers.
    pub fn regex(&self) -> Option<&FastRegex> {
        self.re.as_ref()
    }
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.op == other.op && self.name == other.name && self.value == other.value
    }
}

impl Eq for Matcher {}

impl std::hash::Hash for Matcher {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.op.hash(state);
        self.name.hash(state);
        self.value.hash(state);
    }
}

impl fmt::Display for Matcher {
    /// Prometheus's `Matcher.String()`: `name="value"` with Go quoting, the name quoted
    /// when it is not a legacy identifier.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::with_capacity(self.name.len() + self.value.len() + 6);
        write_label_name(&mut s, &self.name);
        s.push_str(self.op.as_str());
        write_go_quoted(&mut s, &self.value);
        f.write_str(&s)
    }
}

impl fmt::Debug for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// How a [`FastRegex`] decides a match.
#[derive(Clone, Debug)]
enum Strategy {
    /// Exactly this string.
    Literal(String),
    /// Any of these strings (sorted, deduplicated), with a mask of their lengths (bit
    /// `min(len, 63)`) so most non-matching values are rejected without a comparison.
    Set(Vec<String>, u64),
    /// Any string (`.*`).
    Any,
    /// Any non-empty string (`.+`).
    NonEmpty,
    /// Starts with the literal (`lit.*`).
    Prefix(String),
    /// Ends with the literal (`.*lit`).
    Suffix(String),
    /// Contains the literal (`.*lit.*`).
    Contains(String),
    /// Everything else: the compiled, anchored regex.
    Regex(Regex),
}

/// A Prometheus matcher regex: anchored at both ends, `.` matching newlines, RE2's ASCII
/// Perl classes, with fast paths for common shapes.
#[derive(Clone, Debug)]
pub struct FastRegex {
    pattern: String,
    strategy: Strategy,
}

impl FastRegex {
    /// Compiles `pattern` with Prometheus's semantics.
    pub fn new(pattern: &str) -> Result<Self, RegexError> {
        let err = |message: String| RegexError {
            pattern: pattern.to_string(),
            message,
        };
        // The commonest shapes, a literal or an alternation of literals (`a|b|c` from
        // dashboard variables), need no parsing at all.
        if !pattern.contains([
            '\\', '.', '+', '*', '?', '(', ')', '[', ']', '{', '}', '^', '$',
        ]) {
            let mut set: Vec<String> = pattern.split('|').map(str::to_string).collect();
            let strategy = if set.len() == 1 {
                Strategy::Literal(set.remove(0))
            } else {
                set.sort();
                set.dedup();
                let lens = set.iter().fold(0u64, |m, l| m | 1u64 << l.len().min(63));
                Strategy::Set(set, lens)
            };
            return Ok(FastRegex {
                pattern: pattern.to_string(),
                strategy,
            });
        }
        if let Some(re) = compiled_cache(|c| c.get(pattern).cloned()) {
            return Ok(re);
        }
        let translated = translate_go_regex(pattern).map_err(err)?;
        let anchored = format!("^(?s:{translated})$");
        // Parse the pattern on its own, as Prometheus does before anchoring it: inside
        // `(?s:...)` an unbalanced `a)|(b` would parse, and the anchors would then apply
        // to only one alternative.
        let hir = regex_syntax::ParserBuilder::new()
            .dot_matches_new_line(true)
            .build()
            .parse(&translated)
            .map_err(|e| err(last_line(&e.to_string())))?;
        let strategy = match analyze(&hir) {
            Some(s) => s,
            None => {
                Strategy::Regex(Regex::new(&anchored).map_err(|e| err(last_line(&e.to_string())))?)
            }
        };
        let re = FastRegex {
            pattern: pattern.to_string(),
            strategy,
        };
        compiled_cache(|c| {
            if c.len() >= 512 {
                c.clear();
            }
            c.insert(pattern.to_string(), re.clone());
        });
        Ok(re)
    }

    /// The pattern as given (without the anchors Prometheus adds).
    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    /// Whether the whole of `s` matches.
    #[inline]
    pub fn is_match(&self, s: &str) -> bool {
        match &self.strategy {
            Strategy::Literal(l) => s == l,
            Strategy::Set(set, lens) => {
                if lens & (1u64 << s.len().min(63)) == 0 {
                    return false;
                }
                if set.len() <= 8 {
                    set.iter().any(|l| l == s)
                } else {
                    set.binary_search_by(|l| l.as_str().cmp(s)).is_ok()
                }
            }
            Strategy::Any => true,
            Strategy::NonEmpty => !s.is_empty(),
            Strategy::Prefix(p) => s.starts_with(p.as_str()),
            Strategy::Suffix(p) => s.ends_with(p.as_str()),
            Strategy::Contains(p) => s.contains(p.as_str()),
            Strategy::Regex(re) => re.is_match(s),
        }
    }

    /// The finite set of strings this regex matches, when it is a literal or an
    /// alternation of literals.
    pub fn set_matches(&self) -> Option<Vec<&str>> {
        match &self.strategy {
            Strategy::Literal(l) => Some(vec![l.as_str()]),
            Strategy::Set(s, _) => Some(s.iter().map(String::as_str).collect()),
            _ => None,
        }
    }

    /// A literal every match starts with, when one is known (used to narrow label-value
    /// scans).
    pub fn literal_prefix(&self) -> Option<&str> {
        match &self.strategy {
            Strategy::Literal(l) | Strategy::Prefix(l) => Some(l),
            _ => None,
        }
    }
}

/// Regexes compiled lately, by pattern: queries and dashboards repeat the same matchers,
/// and compiling a regex costs more than evaluating a small query. Bounded (cleared when
/// full); a compiled regex is shared, not copied, by its clones.
fn compiled_cache<T>(f: impl FnOnce(&mut std::collections::HashMap<String, FastRegex>) -> T) -> T {
    use std::sync::{Mutex, OnceLock};
    static CACHE: OnceLock<Mutex<std::collections::HashMap<String, FastRegex>>> = OnceLock::new();
    let mut c = CACHE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    f(&mut c)
}

fn last_line(s: &str) -> String {
    // regex-syntax errors are multi-line with a caret diagram; the last line is the message.
    s.lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or(s)
        .trim()
        .trim_start_matches("error: ")
        .to_string()
}

/// Rewrites RE2 syntax that the `regex` crate reads differently: the Perl classes become
/// their ASCII forms, `\b`/`\B` become ASCII word boundaries, and `\Q...\E` becomes escaped
/// literal text.
pub(crate) fn translate_go_regex(p: &str) -> Result<String, String> {
    let mut out = String::with_capacity(p.len() + 8);
    let mut chars = p.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(n) = chars.next() else {
            return Err("trailing backslash at end of expression: ``".to_string());
        };
        match n {
            'd' => out.push_str("[0-9]"),
            'D' => out.push_str("[^0-9]"),
            'w' => out.push_str("[0-9A-Za-z_]"),
            'W' => out.push_str("[^0-9A-Za-z_]"),
            's' => out.push_str("[\\t\\n\\x0C\\r ]"),
            'S' => out.push_str("[^\\t\\n\\x0C\\r ]"),
            'b' => out.push_str("(?-u:\\b)"),
            'B' => out.push_str("(?-u:\\B)"),
            'Q' => {
                let mut lit = String::new();
                loop {
                    match chars.next() {
                        None => break,
                        Some('\\') if chars.peek() == Some(&'E') => {
                            chars.next();
                            break;
                        }
                        Some(c) => lit.push(c),
                    }
                }
                out.push_str("(?:");
                out.push_str(&regex_syntax::escape(&lit));
                out.push(')');
            }
            'C' => return Err("invalid escape sequence: `\\C`".to_string()),
            n => {
                out.push('\\');
                out.push(n);
            }
        }
    }
    Ok(out)
}

/// Finds a fast strategy for the parsed regex, or `None` to use the regex engine.
fn analyze(hir: &Hir) -> Option<Strategy> {
    if let Some(l) = literal(hir) {
        return Some(Strategy::Literal(l));
    }
    if let Some(set) = literal_set(hir) {
        let lens = set.iter().fold(0u64, |m, l| m | 1u64 << l.len().min(63));
        return Some(Strategy::Set(set, lens));
    }
    if let Some(min) = dot_star(hir) {
        return Some(if min == 0 {
            Strategy::Any
        } else {
            Strategy::NonEmpty
        });
    }
    if let HirKind::Concat(parts) = hir.kind() {
        match parts.as_slice() {
            [a, b] => {
                if let (Some(l), Some(0)) = (literal(a), dot_star(b)) {
                    return Some(Strategy::Prefix(l));
                }
                if let (Some(0), Some(l)) = (dot_star(a), literal(b)) {
                    return Some(Strategy::Suffix(l));
                }
            }
            [a, b, c] => {
                if let (Some(0), Some(l), Some(0)) = (dot_star(a), literal(b), dot_star(c)) {
                    return Some(Strategy::Contains(l));
                }
            }
            _ => {}
        }
    }
    None
}

/// The text of a literal (or a capture group around one, or the empty regex).
fn literal(hir: &Hir) -> Option<String> {
    match hir.kind() {
        HirKind::Empty => Some(String::new()),
        HirKind::Literal(Literal(bytes)) => String::from_utf8(bytes.to_vec()).ok(),
        HirKind::Capture(c) => literal(&c.sub),
        HirKind::Concat(parts) => {
            let mut s = String::new();
            for p in parts {
                s.push_str(&literal(p)?);
            }
            Some(s)
        }
        _ => None,
    }
}

/// The alternatives of an alternation of literals, sorted and deduplicated.
fn literal_set(hir: &Hir) -> Option<Vec<String>> {
    let mut out = Vec::new();
    collect_alternatives(hir, &mut out)?;
    out.sort();
    out.dedup();
    Some(out)
}

fn collect_alternatives(hir: &Hir, out: &mut Vec<String>) -> Option<()> {
    match hir.kind() {
        HirKind::Alternation(alts) => {
            for a in alts {
                collect_alternatives(a, out)?;
            }
            Some(())
        }
        HirKind::Capture(c) => collect_alternatives(&c.sub, out),
        // regex-syntax folds `a|b` into the class `[ab]`; small classes are sets too.
        HirKind::Class(Class::Unicode(cls)) => {
            let mut n = 0u32;
            for r in cls.iter() {
                n += r.end() as u32 - r.start() as u32 + 1;
                if n > 16 {
                    return None;
                }
            }
            for r in cls.iter() {
                for c in r.start()..=r.end() {
                    out.push(c.to_string());
                }
            }
            Some(())
        }
        _ => {
            out.push(literal(hir)?);
            Some(())
        }
    }
}

/// `Some(min)` when the regex is `.*` (min 0) or `.+` (min 1) with `.` matching anything.
fn dot_star(hir: &Hir) -> Option<u32> {
    match hir.kind() {
        HirKind::Repetition(Repetition {
            min,
            max: None,
            sub,
            ..
        }) if *min <= 1 => {
            if is_any_char(sub) {
                Some(*min)
            } else {
                None
            }
        }
        HirKind::Capture(c) => dot_star(&c.sub),
        _ => None,
    }
}

fn is_any_char(hir: &Hir) -> bool {
    match hir.kind() {
        HirKind::Class(Class::Unicode(cls)) => {
            let r: Vec<_> = cls.iter().collect();
            r.len() == 1 && r[0].start() == '\0' && r[0].end() == char::MAX
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strategy(p: &str) -> String {
        let re = FastRegex::new(p).unwrap();
        format!("{:?}", re.strategy)
            .split('(')
            .next()
            .unwrap()
            .to_string()
    }

    #[test]
    fn picks_fast_paths() {
        assert_eq!(strategy("foo"), "Literal");
        assert_eq!(strategy(""), "Literal");
        assert_eq!(strategy("foo|bar|baz"), "Set");
        assert_eq!(strategy("(a|b)"), "Set");
        assert_eq!(strategy(".*"), "Any");
        assert_eq!(strategy(".+"), "NonEmpty");
        assert_eq!(strategy("foo.*"), "Prefix");
        assert_eq!(strategy(".*foo"), "Suffix");
        assert_eq!(strategy(".*foo.*"), "Contains");
        assert_eq!(strategy("fo+"), "Regex");
        assert_eq!(strategy("(?i)foo"), "Regex");
    }

    #[test]
    fn fast_paths_agree_with_the_regex_engine() {
        let patterns = [
            "foo",
            "",
            "foo|bar|baz",
            "(a|b)",
            ".*",
            ".+",
            "foo.*",
            ".*foo",
            ".*foo.*",
            "a|",
            "[ab]",
            "x(a|b)",
            "(foo)",
        ];
        let inputs = [
            "", "foo", "bar", "baz", "a", "b", "ab", "xa", "foofoo", "afoo", "\n", "x\nfoo",
        ];
        for p in patterns {
            let fast = FastRegex::new(p).unwrap();
            let slow = Regex::new(&format!("^(?s:{})$", translate_go_regex(p).unwrap())).unwrap();
            for i in inputs {
                assert_eq!(
                    fast.is_match(i),
                    slow.is_match(i),
                    "pattern {p:?} input {i:?}"
                );
            }
        }
    }

    #[test]
    fn anchored_and_dot_matches_newline() {
        let m = Matcher::new(MatchOp::RegexMatch, "a", "b.c").unwrap();
        assert!(m.matches("b\nc"));
        assert!(!m.matches("xb\nc"));
        assert!(!m.matches("b\ncx"));
    }

    #[test]
    fn perl_classes_are_ascii() {
        let d = FastRegex::new(r"\d+").unwrap();
        assert!(d.is_match("0123"));
        assert!(!d.is_match("٣"), "Arabic-Indic digit is not \\d in RE2");
        let w = FastRegex::new(r"\w+").unwrap();
        assert!(!w.is_match("é"));
        let s = FastRegex::new(r"a\sb").unwrap();
        assert!(s.is_match("a\tb"));
        assert!(!s.is_match("a\u{a0}b"));
        assert!(!s.is_match("a\u{b}b"), "RE2's \\s has no vertical tab");
        let cls = FastRegex::new(r"[\d.]+").unwrap();
        assert!(cls.is_match("1.5"));
        let b = FastRegex::new(r".*\bfoo\b.*").unwrap();
        assert!(b.is_match("a foo b"));
        assert!(!b.is_match("afoo"));
        let q = FastRegex::new(r"\Qa.b\E").unwrap();
        assert!(q.is_match("a.b") && !q.is_match("axb"));
        assert!(FastRegex::new(r"\\d").unwrap().is_match(r"\d"));
    }

    #[test]
    fn missing_label_matches_as_empty() {
        assert!(
            Matcher::new(MatchOp::NotEqual, "a", "x")
                .unwrap()
                .matches_empty()
        );
        assert!(
            Matcher::new(MatchOp::RegexMatch, "a", ".*")
                .unwrap()
                .matches_empty()
        );
        assert!(
            !Matcher::new(MatchOp::RegexMatch, "a", ".+")
                .unwrap()
                .matches_empty()
        );
        assert!(
            Matcher::new(MatchOp::RegexNoMatch, "a", ".+")
                .unwrap()
                .matches_empty()
        );
    }

    #[test]
    fn set_matches_for_postings() {
        let m = Matcher::new(MatchOp::RegexMatch, "a", "x|y|x").unwrap();
        assert_eq!(m.set_matches(), Some(vec!["x", "y"]));
        assert_eq!(
            Matcher::new(MatchOp::Equal, "a", "z")
                .unwrap()
                .set_matches(),
            Some(vec!["z"])
        );
        assert_eq!(
            Matcher::new(MatchOp::RegexMatch, "a", "x.*")
                .unwrap()
                .set_matches(),
            None
        );
    }

    #[test]
    fn invalid_regex_is_an_error() {
        let e = Matcher::new(MatchOp::RegexMatch, "a", "(").unwrap_err();
        assert!(e.to_string().starts_with("error parsing regexp"), "{e}");
        assert!(Matcher::new(MatchOp::RegexMatch, "a", "\\").is_err());
        // Unbalanced parentheses must not escape the anchoring group.
        assert!(FastRegex::new("a)|(b").is_err());
        assert!(FastRegex::new("a)(?:b").is_err());
    }

    #[test]
    fn display_like_prometheus() {
        let m = Matcher::new(MatchOp::NotEqual, "a.b", "x\"y").unwrap();
        assert_eq!(m.to_string(), r#""a.b"!="x\"y""#);
    }

    proptest::proptest! {
        /// Whatever shortcut a pattern takes, it matches exactly what the anchored regex does.
        #[test]
        fn any_pattern_agrees_with_the_regex_engine(
            pattern in "[ab|.*+()é-]{0,8}",
            inputs in proptest::collection::vec("[ab|é-]{0,4}", 1..8),
        ) {
            let Ok(fast) = FastRegex::new(&pattern) else { return Ok(()) };
            let Ok(slow) = Regex::new(&format!("^(?s:{})$", translate_go_regex(&pattern).unwrap())) else { return Ok(()) };
            for i in inputs {
                proptest::prop_assert_eq!(fast.is_match(&i), slow.is_match(&i), "pattern {:?} input {:?}", pattern, i);
            }
        }
    }
}
