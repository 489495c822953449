//! The lexer: PromQL text to tokens that are spans into the input.
//!
//! It follows the states of Prometheus's lexer (statements, inside braces, inside
//! brackets) and produces its error messages. A token never owns text: strings are
//! unescaped by the parser only when their value is needed, and keywords are recognised
//! without allocating.

use crate::strings::go_quote_rune;

/// What a token is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tok {
    Eof,
    /// A lexer error; the message is in [`Lexer::error`].
    Error,
    Ident,
    MetricIdent,
    Number,
    Duration,
    String,
    LParen,
    RParen,
    LBrace,
    RBrace,
    LBracket,
    RBracket,
    Comma,
    Colon,
    At,
    Eql,
    EqlRegex,
    NeqRegex,
    Neq,
    EqlC,
    Lss,
    Lte,
    Gtr,
    Gte,
    TrimUpper,
    TrimLower,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    // Keyword operators.
    LAnd,
    LOr,
    LUnless,
    Atan2,
    // Aggregators.
    Sum,
    Avg,
    Count,
    Min,
    Max,
    Group,
    Stddev,
    Stdvar,
    Topk,
    Bottomk,
    Quantile,
    CountValues,
    Limitk,
    LimitRatio,
    // Keywords.
    Offset,
    By,
    Without,
    On,
    Ignoring,
    GroupLeft,
    GroupRight,
    Bool,
    Start,
    End,
    Step,
    Range,
    Anchored,
    Smoothed,
}

impl Tok {
    /// Aggregation keywords.
    pub(crate) fn is_aggregator(self) -> bool {
        matches!(
            self,
            Tok::Sum
                | Tok::Avg
                | Tok::Count
                | Tok::Min
                | Tok::Max
                | Tok::Group
                | Tok::Stddev
                | Tok::Stdvar
                | Tok::Topk
                | Tok::Bottomk
                | Tok::Quantile
                | Tok::CountValues
                | Tok::Limitk
                | Tok::LimitRatio
        )
    }

    /// Keywords that are neither operators nor aggregators.
    pub(crate) fn is_keyword(self) -> bool {
        matches!(
            self,
            Tok::Offset
                | Tok::By
                | Tok::Without
                | Tok::On
                | Tok::Ignoring
                | Tok::GroupLeft
                | Tok::GroupRight
                | Tok::Bool
                | Tok::Start
                | Tok::End
                | Tok::Step
                | Tok::Range
                | Tok::Anchored
                | Tok::Smoothed
        )
    }

    /// Operators, as Prometheus's lexer classifies them.
    pub(crate) fn is_operator(self) -> bool {
        matches!(
            self,
            Tok::Add
                | Tok::Sub
                | Tok::Mul
                | Tok::Div
                | Tok::Mod
                | Tok::Pow
                | Tok::EqlC
                | Tok::Neq
                | Tok::Lss
                | Tok::Lte
                | Tok::Gtr
                | Tok::Gte
                | Tok::TrimUpper
                | Tok::TrimLower
                | Tok::EqlRegex
                | Tok::NeqRegex
                | Tok::LAnd
                | Tok::LOr
                | Tok::LUnless
                | Tok::Atan2
                | Tok::At
        )
    }

    /// Tokens that can name a metric in expression position (Prometheus's
    /// `metric_identifier`).
    pub(crate) fn is_metric_identifier(self) -> bool {
        matches!(
            self,
            Tok::Ident
                | Tok::MetricIdent
                | Tok::By
                | Tok::Without
                | Tok::LAnd
                | Tok::LOr
                | Tok::LUnless
                | Tok::Offset
                | Tok::Start
                | Tok::End
                | Tok::Step
                | Tok::Range
                | Tok::Anchored
                | Tok::Smoothed
        ) || self.is_aggregator()
    }

    /// Tokens that can be a label name in a grouping list (Prometheus's `maybe_label`).
    pub(crate) fn is_label_like(self) -> bool {
        matches!(self, Tok::Ident | Tok::MetricIdent | Tok::Atan2)
            || self.is_metric_identifier()
            || self.is_keyword()
    }

    /// The fixed text of punctuation tokens, as Prometheus names them in messages.
    fn punctuation(self) -> Option<&'static str> {
        Some(match self {
            Tok::LParen => "(",
            Tok::RParen => ")",
            Tok::LBrace => "{",
            Tok::RBrace => "}",
            Tok::LBracket => "[",
            Tok::RBracket => "]",
            Tok::Comma => ",",
            Tok::Colon => ":",
            Tok::Eql => "=",
            _ => return None,
        })
    }
}

/// A token: its kind and the byte range it covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Token {
    pub(crate) kind: Tok,
    pub(crate) start: usize,
    pub(crate) end: usize,
}

impl Token {
    /// The token's text.
    pub(crate) fn text<'a>(&self, src: &'a str) -> &'a str {
        &src[self.start..self.end]
    }

    /// How Prometheus describes the token in "unexpected ..." messages.
    pub(crate) fn describe(&self, src: &str) -> String {
        let text = self.text(src);
        match self.kind {
            Tok::Eof | Tok::Error => "end of input".to_string(),
            Tok::Ident => format!("identifier {}", narthex_model::go_quote(text)),
            Tok::MetricIdent => format!("metric identifier {}", narthex_model::go_quote(text)),
            Tok::Number => format!("number {}", quote_truncated(text)),
            Tok::Duration => format!("duration {}", quote_truncated(text)),
            Tok::String => format!("string {}", quote_truncated(text)),
            k if k.is_operator() => format!("<op:{text}>"),
            k if k.is_aggregator() => format!("<aggr:{text}>"),
            k if k.is_keyword() => format!("<{text}>"),
            k => narthex_model::go_quote(k.punctuation().unwrap_or(text)),
        }
    }
}

/// Go's `%.10q...` for long values and `%q` for short ones, as Prometheus's `Item.String`.
fn quote_truncated(text: &str) -> String {
    if text.len() > 10 {
        let cut: String = text.chars().take(10).collect();
        format!("{}...", narthex_model::go_quote(&cut))
    } else {
        narthex_model::go_quote(text)
    }
}

/// Which kind of text the lexer is inside.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Statements,
    Braces,
}

/// The lexer. It produces one token per call and keeps Prometheus's bracket state.
pub(crate) struct Lexer<'a> {
    src: &'a str,
    bytes: &'a [u8],
    pos: usize,
    mode: Mode,
    paren_depth: i32,
    bracket_open: bool,
    got_colon: bool,
    /// The message and start of the lexer error, once one has happened.
    pub(crate) error: Option<(String, usize)>,
}

pub(crate) fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

fn is_alpha(b: u8) -> bool {
    b == b'_' || b.is_ascii_alphabetic()
}

fn is_alnum(b: u8) -> bool {
    is_alpha(b) || b.is_ascii_digit()
}

/// Looks a word up among the keywords, ignoring ASCII case, without allocating.
fn keyword(word: &[u8]) -> Option<Tok> {
    if word.len() > 12 || word.len() < 2 {
        return None;
    }
    let mut buf = [0u8; 12];
    let lower = &mut buf[..word.len()];
    lower.copy_from_slice(word);
    lower.make_ascii_lowercase();
    Some(match &*lower {
        b"and" => Tok::LAnd,
        b"or" => Tok::LOr,
        b"unless" => Tok::LUnless,
        b"atan2" => Tok::Atan2,
        b"sum" => Tok::Sum,
        b"avg" => Tok::Avg,
        b"count" => Tok::Count,
        b"min" => Tok::Min,
        b"max" => Tok::Max,
        b"group" => Tok::Group,
        b"stddev" => Tok::Stddev,
        b"stdvar" => Tok::Stdvar,
        b"topk" => Tok::Topk,
        b"bottomk" => Tok::Bottomk,
        b"quantile" => Tok::Quantile,
        b"count_values" => Tok::CountValues,
        b"limitk" => Tok::Limitk,
        b"limit_ratio" => Tok::LimitRatio,
        b"offset" => Tok::Offset,
        b"by" => Tok::By,
        b"without" => Tok::Without,
        b"on" => Tok::On,
        b"ignoring" => Tok::Ignoring,
        b"group_left" => Tok::GroupLeft,
        b"group_right" => Tok::GroupRight,
        b"bool" => Tok::Bool,
        b"start" => Tok::Start,
        b"end" => Tok::End,
        b"step" => Tok::Step,
        b"range" => Tok::Range,
        b"anchored" => Tok::Anchored,
        b"smoothed" => Tok::Smoothed,
        b"inf" | b"nan" => Tok::Number,
        _ => return None,
    })
}

impl<'a> Lexer<'a> {
    pub(crate) fn new(src: &'a str) -> Self {
        Lexer {
            src,
            bytes: src.as_bytes(),
            pos: 0,
            mode: Mode::Statements,
            paren_depth: 0,
            bracket_open: false,
            got_colon: false,
            error: None,
        }
    }

    fn peek_byte(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    /// The character at the current position (`None` at the end).
    fn peek_char(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn accept(&mut self, set: &[u8]) -> bool {
        match self.peek_byte() {
            Some(b) if set.contains(&b) => {
                self.pos += 1;
                true
            }
            _ => false,
        }
    }

    fn accept_run(&mut self, pred: impl Fn(u8) -> bool) {
        while let Some(b) = self.peek_byte() {
            if !pred(b) {
                break;
            }
            self.pos += 1;
        }
    }

    fn fail(&mut self, start: usize, msg: String) -> Token {
        self.error = Some((msg, start));
        let len = self.bytes.len();
        self.pos = len;
        Token {
            kind: Tok::Error,
            start,
            end: len,
        }
    }

    fn tok(&self, kind: Tok, start: usize) -> Token {
        Token {
            kind,
            start,
            end: self.pos,
        }
    }

    /// Skips whitespace and `#` comments.
    fn skip_trivia(&mut self) {
        loop {
            match self.peek_byte() {
                Some(b) if is_space(b) => self.pos += 1,
                Some(b'#') => {
                    while let Some(b) = self.peek_byte() {
                        if b == b'\n' {
                            break;
                        }
                        self.pos += 1;
                    }
                }
                _ => return,
            }
        }
    }

    /// The next token. After an error, every call returns [`Tok::Error`]'s end of input.
    pub(crate) fn next_token(&mut self) -> Token {
        if self.error.is_some() {
            let len = self.bytes.len();
            return Token {
                kind: Tok::Eof,
                start: len,
                end: len,
            };
        }
        self.skip_trivia();
        match self.mode {
            Mode::Statements => self.statements(),
            Mode::Braces => self.braces(),
        }
    }

    fn statements(&mut self) -> Token {
        let start = self.pos;
        let Some(c) = self.peek_char() else {
            if self.paren_depth != 0 {
                return self.fail(start, "unclosed left parenthesis".into());
            }
            if self.bracket_open {
                return self.fail(start, "unclosed left bracket".into());
            }
            return self.tok(Tok::Eof, start);
        };
        self.pos += c.len_utf8();
        let single = |k| k;
        let kind = match c {
            ',' => single(Tok::Comma),
            '*' => Tok::Mul,
            '/' => Tok::Div,
            '%' => Tok::Mod,
            '+' => Tok::Add,
            '-' => Tok::Sub,
            '^' => Tok::Pow,
            '=' => match self.peek_char() {
                Some('=') => {
                    self.pos += 1;
                    Tok::EqlC
                }
                Some('~') => {
                    return self.fail(start, "unexpected character after '=': '~'".into());
                }
                _ => Tok::Eql,
            },
            '!' => match self.peek_char() {
                Some('=') => {
                    self.pos += 1;
                    Tok::Neq
                }
                other => {
                    let msg = format!(
                        "unexpected character after '!': {}",
                        go_quote_rune(other.unwrap_or('\u{fffd}'))
                    );
                    return self.fail(start, msg);
                }
            },
            '<' => {
                if self.accept(b"=") {
                    Tok::Lte
                } else if self.accept(b"/") {
                    Tok::TrimUpper
                } else {
                    Tok::Lss
                }
            }
            '>' => {
                if self.accept(b"=") {
                    Tok::Gte
                } else if self.accept(b"/") {
                    Tok::TrimLower
                } else {
                    Tok::Gtr
                }
            }
            '0'..='9' => {
                self.pos = start;
                return self.number_or_duration(start);
            }
            '.' if self.peek_byte().is_some_and(|b| b.is_ascii_digit()) => {
                self.pos = start;
                return self.number_or_duration(start);
            }
            '"' | '\'' => return self.string(start, c as u8),
            '`' => return self.raw_string(start),
            ':' if self.bracket_open => {
                if self.got_colon {
                    return self.fail(start, "unexpected colon ':'".into());
                }
                self.got_colon = true;
                Tok::Colon
            }
            c if c.is_ascii() && (is_alpha(c as u8) || c == ':') => {
                let colon_ok = !self.bracket_open;
                self.accept_run(|b| is_alnum(b) || (colon_ok && b == b':'));
                let word = &self.bytes[start..self.pos];
                return match keyword(word) {
                    Some(k) => self.tok(k, start),
                    None if word.contains(&b':') => self.tok(Tok::MetricIdent, start),
                    None => self.tok(Tok::Ident, start),
                };
            }
            '(' => {
                self.paren_depth += 1;
                Tok::LParen
            }
            ')' => {
                self.paren_depth -= 1;
                if self.paren_depth < 0 {
                    // Prometheus reports it after the parenthesis it has just emitted.
                    return self.fail(self.pos, "unexpected right parenthesis ')'".into());
                }
                Tok::RParen
            }
            '{' => {
                self.mode = Mode::Braces;
                Tok::LBrace
            }
            '[' => {
                if self.bracket_open {
                    return self.fail(start, "unexpected left bracket '['".into());
                }
                self.bracket_open = true;
                self.got_colon = false;
                Tok::LBracket
            }
            ']' => {
                if !self.bracket_open {
                    return self.fail(start, "unexpected right bracket ']'".into());
                }
                self.bracket_open = false;
                Tok::RBracket
            }
            '@' => Tok::At,
            other => {
                let msg = format!("unexpected character: {}", go_quote_rune(other));
                return self.fail(start, msg);
            }
        };
        self.tok(kind, start)
    }

    fn braces(&mut self) -> Token {
        let start = self.pos;
        let Some(c) = self.peek_char() else {
            return self.fail(start, "unexpected end of input inside braces".into());
        };
        self.pos += c.len_utf8();
        let kind = match c {
            c if c.is_ascii() && is_alpha(c as u8) => {
                self.accept_run(is_alnum);
                Tok::Ident
            }
            ',' => Tok::Comma,
            '"' | '\'' => return self.string(start, c as u8),
            '`' => return self.raw_string(start),
            '=' => {
                if self.accept(b"~") {
                    Tok::EqlRegex
                } else {
                    Tok::Eql
                }
            }
            '!' => match self.peek_char() {
                Some('~') => {
                    self.pos += 1;
                    Tok::NeqRegex
                }
                Some('=') => {
                    self.pos += 1;
                    Tok::Neq
                }
                other => {
                    let msg = format!(
                        "unexpected character after '!' inside braces: {}",
                        go_quote_rune(other.unwrap_or('\u{fffd}'))
                    );
                    return self.fail(start, msg);
                }
            },
            '{' => return self.fail(start, "unexpected left brace '{'".into()),
            '}' => {
                self.mode = Mode::Statements;
                Tok::RBrace
            }
            other => {
                let msg = format!(
                    "unexpected character inside braces: {}",
                    go_quote_rune(other)
                );
                return self.fail(start, msg);
            }
        };
        self.tok(kind, start)
    }

    /// Prometheus's `scanNumber` followed, when it fails, by `acceptRemainingDuration`.
    fn number_or_duration(&mut self, start: usize) -> Token {
        let mut hex = false;
        if self.accept(b"0") && self.accept(b"xX") {
            self.accept(b"_");
            hex = true;
        }
        let digit = move |b: u8| {
            b == b'_'
                || if hex {
                    b.is_ascii_hexdigit()
                } else {
                    b.is_ascii_digit()
                }
        };
        self.accept_run(digit);
        if self.accept(b".") {
            self.accept_run(digit);
        }
        if self.accept(b"eE") {
            self.accept(b"+-");
            self.accept_run(|b| b.is_ascii_digit());
        }
        match self.peek_byte() {
            Some(b) if is_alnum(b) => {}
            _ => return self.tok(Tok::Number, start),
        }
        if self.remaining_duration() {
            return self.tok(Tok::Duration, start);
        }
        let msg = format!(
            "bad number or duration syntax: {}",
            narthex_model::go_quote(&self.src[start..self.pos])
        );
        self.fail(start, msg)
    }

    fn remaining_duration(&mut self) -> bool {
        if !self.accept(b"smhdwy") {
            return false;
        }
        self.accept(b"s");
        while self.accept(b"0123456789") {
            self.accept_run(|b| b.is_ascii_digit());
            if !self.accept(b"smhdw") {
                return false;
            }
            self.accept(b"s");
        }
        match self.peek_char() {
            Some(c) if c.is_ascii() && is_alnum(c as u8) => {
                self.pos += 1;
                false
            }
            _ => true,
        }
    }

    fn string(&mut self, start: usize, quote: u8) -> Token {
        loop {
            let Some(c) = self.peek_char() else {
                return self.fail(start, "unterminated quoted string".into());
            };
            self.pos += c.len_utf8();
            match c {
                '\\' => {
                    if let Err(msg) = self.escape(quote) {
                        return self.fail(start, msg);
                    }
                }
                '\n' => return self.fail(start, "unterminated quoted string".into()),
                c if c as u32 == quote as u32 => return self.tok(Tok::String, start),
                _ => {}
            }
        }
    }

    /// Validates one escape sequence, as Prometheus's `lexEscape`.
    fn escape(&mut self, quote: u8) -> Result<(), String> {
        let Some(c) = self.peek_char() else {
            return Err("escape sequence not terminated".into());
        };
        self.pos += c.len_utf8();
        let (mut n, base, max) = match c {
            'a' | 'b' | 'f' | 'n' | 'r' | 't' | 'v' | '\\' => return Ok(()),
            c if c as u32 == quote as u32 => return Ok(()),
            '0'..='7' => {
                self.pos -= 1;
                (3, 8, 255)
            }
            'x' => (2, 16, 255),
            'u' => (4, 16, 0x10ffff),
            'U' => (8, 16, 0x10ffff),
            other => {
                return Err(format!(
                    "unknown escape sequence {}",
                    crate::strings::go_sharp_u(other)
                ));
            }
        };
        let mut x: u32 = 0;
        while n > 0 {
            let Some(ch) = self.peek_char() else {
                return Err("escape sequence not terminated".into());
            };
            self.pos += ch.len_utf8();
            let d = ch.to_digit(16).unwrap_or(u32::MAX);
            if d >= base {
                return Err(format!(
                    "illegal character {} in escape sequence",
                    crate::strings::go_sharp_u(ch)
                ));
            }
            x = x * base + d;
            n -= 1;
        }
        if x > max || (0xD800..0xE000).contains(&x) {
            return Err("escape sequence is an invalid Unicode code point".into());
        }
        Ok(())
    }

    fn raw_string(&mut self, start: usize) -> Token {
        match self.src[self.pos..].find('`') {
            Some(i) => {
                self.pos += i + 1;
                self.tok(Tok::String, start)
            }
            None => self.fail(start, "unterminated raw string".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<Tok> {
        let mut l = Lexer::new(src);
        let mut out = Vec::new();
        loop {
            let t = l.next_token();
            out.push(t.kind);
            if matches!(t.kind, Tok::Eof | Tok::Error) {
                return out;
            }
        }
    }

    #[test]
    fn tokens() {
        use Tok::*;
        assert_eq!(
            kinds(r#"sum by (a) (rate(x{a=~"b"}[5m:1m])) # c"#),
            vec![
                Sum, By, LParen, Ident, RParen, LParen, Ident, LParen, Ident, LBrace, Ident,
                EqlRegex, String, RBrace, LBracket, Duration, Colon, Duration, RBracket, RParen,
                RParen, Eof
            ]
        );
        assert_eq!(
            kinds("a:b NaN Inf 0x1f 1e3"),
            vec![MetricIdent, Number, Number, Number, Number, Eof]
        );
    }

    #[test]
    fn errors() {
        let mut l = Lexer::new("0deadbeef");
        assert_eq!(l.next_token().kind, Tok::Error);
        assert_eq!(
            l.error.as_ref().unwrap().0,
            r#"bad number or duration syntax: "0de""#
        );
    }
}
