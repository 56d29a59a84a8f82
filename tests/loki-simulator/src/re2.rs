//! Regular expressions as Loki reads them: Go's `regexp/syntax` (RE2) with the `Perl` flags,
//! which is what LogQL's line filters (`|~`, `!~`) and label matchers (`=~`, `!~`) are compiled
//! with. Go's dialect differs from the Rust `regex` crate's in places, so a pattern is parsed
//! here by Go's grammar (its error texts included) and rewritten into an equivalent `regex`
//! pattern, which then does the matching (both are linear-time automata):
//!
//! - `\d`, `\s`, `\w`, `\b`, `\B` are ASCII-only in Go (`\s` without `\v`); Rust's are Unicode.
//! - Go takes an escaped punctuation character as itself (`\<` is `<`, where Rust 1.10+ reads a
//!   word boundary), knows `\Q…\E`, octal `\123` and `\C` (refused), and no `\u`, `\e`, `\Z`.
//! - In a Go class, `&&`, `--` and `~~` are plain characters, not set operations.
//! - Go allows at most 1,000 repetitions, also as the product of nested counted repetitions,
//!   and only the flags `i`, `m`, `s`, `U`.
//! - A `{` that does not start a valid repetition is a literal in Go.
//!
//! Unicode classes (`\pL`, `\p{Greek}`) are general categories and scripts, as in Go; Rust's
//! other properties (`\p{Alphabetic}`, `\p{sc=…}`) are refused, as Go refuses them.

use regex::Regex;

/// One of Go's error codes (`regexp/syntax.ErrorCode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Code {
    InvalidCharRange,
    InvalidEscape,
    InvalidNamedCapture,
    InvalidPerlOp,
    InvalidRepeatOp,
    InvalidRepeatSize,
    MissingBracket,
    MissingParen,
    MissingRepeatArgument,
    TrailingBackslash,
    UnexpectedParen,
    Large,
}

impl Code {
    fn text(self) -> &'static str {
        match self {
            Code::InvalidCharRange => "invalid character class range",
            Code::InvalidEscape => "invalid escape sequence",
            Code::InvalidNamedCapture => "invalid named capture",
            Code::InvalidPerlOp => "invalid or unsupported Perl syntax",
            Code::InvalidRepeatOp => "invalid nested repetition operator",
            Code::InvalidRepeatSize => "invalid repeat count",
            Code::MissingBracket => "missing closing ]",
            Code::MissingParen => "missing closing )",
            Code::MissingRepeatArgument => "missing argument to repetition operator",
            Code::TrailingBackslash => "trailing backslash at end of expression",
            Code::UnexpectedParen => "unexpected )",
            Code::Large => "expression too large",
        }
    }
}

/// Go's `*syntax.Error` as text: ``error parsing regexp: <code>: `<expr>` ``.
fn error(code: Code, expr: &str) -> String {
    format!("error parsing regexp: {}: `{expr}`", code.text())
}

/// Go's limit on one counted repetition and on the product of nested ones.
const MAX_REPEAT: u32 = 1000;

/// A parsed piece of a Go pattern, kept as the Rust syntax that means the same.
#[derive(Debug)]
enum Node {
    /// One literal character.
    Lit(char),
    /// One Rust atom that matches one character (a class, `.`), or asserts (`^`, `\b`).
    Atom(String),
    /// A flag change for the rest of the enclosing group: `(?i)`.
    Flags(String),
    /// `(?flags:a|b)` or `(a|b)`: alternatives of concatenations.
    Group {
        flags: String,
        alternatives: Vec<Vec<Node>>,
    },
    /// `sub*`, `sub{2,5}?`; `counted` for the `{…}` forms (Go's `OpRepeat`).
    Repeat {
        sub: Box<Node>,
        min: u32,
        max: Option<u32>,
        lazy: bool,
        counted: bool,
    },
}

impl Node {
    fn emit(&self, out: &mut String) {
        match self {
            Node::Lit(c) => push_literal(out, *c),
            Node::Atom(a) => out.push_str(a),
            Node::Flags(f) => {
                out.push_str("(?");
                out.push_str(f);
                out.push(')');
            }
            Node::Group {
                flags,
                alternatives,
            } => {
                out.push_str("(?");
                out.push_str(flags);
                out.push(':');
                emit_alternatives(out, alternatives);
                out.push(')');
            }
            Node::Repeat {
                sub,
                min,
                max,
                lazy,
                ..
            } => {
                out.push_str("(?:");
                sub.emit(out);
                out.push(')');
                out.push('{');
                out.push_str(&min.to_string());
                out.push(',');
                if let Some(max) = max {
                    out.push_str(&max.to_string());
                }
                out.push('}');
                if *lazy {
                    out.push('?');
                }
            }
        }
    }

    /// Go's `repeatIsValid`: no more than `n` copies of the innermost thing.
    fn repeat_is_valid(&self, mut n: u32) -> bool {
        match self {
            Node::Repeat {
                sub,
                min,
                max,
                counted,
                ..
            } => {
                if *counted {
                    let m = max.unwrap_or(*min);
                    if *max == Some(0) {
                        return true;
                    }
                    if m > n {
                        return false;
                    }
                    if let Some(left) = n.checked_div(m) {
                        n = left;
                    }
                }
                sub.repeat_is_valid(n)
            }
            Node::Group { alternatives, .. } => alternatives
                .iter()
                .flatten()
                .all(|node| node.repeat_is_valid(n)),
            Node::Lit(_) | Node::Atom(_) | Node::Flags(_) => true,
        }
    }
}

fn emit_alternatives(out: &mut String, alternatives: &[Vec<Node>]) {
    for (i, concat) in alternatives.iter().enumerate() {
        if i > 0 {
            out.push('|');
        }
        for node in concat {
            node.emit(out);
        }
    }
}

/// A character as a Rust pattern literal: letters and digits as they are, anything else as a
/// `\x{…}` escape (valid inside and outside classes, whatever the flags).
fn push_literal(out: &mut String, c: char) {
    if c.is_alphanumeric() {
        out.push(c);
    } else {
        out.push_str(&format!("\\x{{{:x}}}", u32::from(c)));
    }
}

/// An open group while parsing.
struct Frame {
    flags: String,
    alternatives: Vec<Vec<Node>>,
    current: Vec<Node>,
}

/// The Rust pattern equivalent to the Go pattern `pattern`, or Go's error text.
///
/// # Errors
/// Go's `error parsing regexp: …` message for a pattern Go refuses.
pub fn translate(pattern: &str) -> Result<String, String> {
    Parser {
        whole: pattern,
        stack: Vec::new(),
        top: Frame {
            flags: String::new(),
            alternatives: Vec::new(),
            current: Vec::new(),
        },
    }
    .parse()
}

/// Compiles a Go pattern as Loki does: unanchored for a line filter; for a label matcher
/// (`anchored`), matching the whole value, with `.` matching a newline (Prometheus compiles
/// label regexes with `DotNL` and `^(?:…)$`).
///
/// # Errors
/// Go's error text.
pub fn compile(pattern: &str, anchored: bool) -> Result<Regex, String> {
    let translated = translate(pattern)?;
    let rust = if anchored {
        format!("^(?s:{translated})$")
    } else {
        translated
    };
    regex::RegexBuilder::new(&rust)
        .size_limit(64 << 20)
        .nest_limit(2000)
        .build()
        .map_err(|e| match e {
            regex::Error::CompiledTooBig(_) => error(Code::Large, pattern),
            other => format!("simulator: the rewritten pattern {rust:?} failed: {other}"),
        })
}

struct Parser<'a> {
    whole: &'a str,
    stack: Vec<Frame>,
    top: Frame,
}

impl Parser<'_> {
    fn parse(mut self) -> Result<String, String> {
        let mut t = self.whole;
        // The text from the last repetition operator on, while the previous token was one
        // (Go names both operators of `a**` in its error).
        let mut last_repeat: Option<&str> = None;
        while let Some(c) = t.chars().next() {
            let mut repeat = None;
            match c {
                '(' => {
                    if t.starts_with("(?") {
                        t = self.perl_flags(t)?;
                    } else {
                        self.open(String::new());
                        t = &t[1..];
                    }
                }
                '|' => {
                    let concat = std::mem::take(&mut self.top.current);
                    self.top.alternatives.push(concat);
                    t = &t[1..];
                }
                ')' => {
                    self.close()?;
                    t = &t[1..];
                }
                '^' | '$' | '.' => {
                    self.top.current.push(Node::Atom(c.to_string()));
                    t = &t[1..];
                }
                '[' => {
                    let (class, rest) = parse_class(t)?;
                    self.top.current.push(Node::Atom(class));
                    t = rest;
                }
                '*' | '+' | '?' => {
                    let (min, max) = match c {
                        '*' => (0, None),
                        '+' => (1, None),
                        _ => (0, Some(1)),
                    };
                    let before = t;
                    t = self.repeat(before, &t[1..], last_repeat, min, max, false)?;
                    repeat = Some(before);
                }
                '{' => match parse_repeat(t) {
                    None => {
                        // Not a repetition: `{` is a literal.
                        self.top.current.push(Node::Lit('{'));
                        t = &t[1..];
                    }
                    Some((min, max, after)) => {
                        let text = &t[..t.len() - after.len()];
                        let limit = i64::from(MAX_REPEAT);
                        if min < 0 || min > limit || max > limit || (max >= 0 && min > max) {
                            return Err(error(Code::InvalidRepeatSize, text));
                        }
                        let min = u32::try_from(min).unwrap_or(MAX_REPEAT);
                        let max = u32::try_from(max).ok();
                        let before = t;
                        t = self.repeat(before, after, last_repeat, min, max, true)?;
                        repeat = Some(before);
                    }
                },
                '\\' => t = self.escape(t)?,
                c => {
                    self.top.current.push(Node::Lit(c));
                    t = &t[c.len_utf8()..];
                }
            }
            last_repeat = repeat;
        }
        if !self.stack.is_empty() {
            return Err(error(Code::MissingParen, self.whole));
        }
        let concat = std::mem::take(&mut self.top.current);
        self.top.alternatives.push(concat);
        let mut out = String::new();
        emit_alternatives(&mut out, &self.top.alternatives);
        Ok(out)
    }

    fn open(&mut self, flags: String) {
        let frame = std::mem::replace(
            &mut self.top,
            Frame {
                flags,
                alternatives: Vec::new(),
                current: Vec::new(),
            },
        );
        self.stack.push(frame);
    }

    fn close(&mut self) -> Result<(), String> {
        let Some(outer) = self.stack.pop() else {
            return Err(error(Code::UnexpectedParen, self.whole));
        };
        let mut inner = std::mem::replace(&mut self.top, outer);
        let concat = std::mem::take(&mut inner.current);
        inner.alternatives.push(concat);
        self.top.current.push(Node::Group {
            flags: inner.flags,
            alternatives: inner.alternatives,
        });
        Ok(())
    }

    /// Applies a repetition to the last item; `before` starts at the operator, `after`
    /// follows it (a `?` there makes it lazy). Returns the text after it.
    fn repeat<'b>(
        &mut self,
        before: &'b str,
        after: &'b str,
        last_repeat: Option<&'b str>,
        min: u32,
        max: Option<u32>,
        counted: bool,
    ) -> Result<&'b str, String> {
        let (after, lazy) = match after.strip_prefix('?') {
            Some(rest) => (rest, true),
            None => (after, false),
        };
        if let Some(last) = last_repeat {
            return Err(error(
                Code::InvalidRepeatOp,
                &last[..last.len() - after.len()],
            ));
        }
        let text = &before[..before.len() - after.len()];
        // Flag changes push nothing in Go: the repetition applies to what came before them.
        let flags_at = self
            .top
            .current
            .iter()
            .rposition(|n| !matches!(n, Node::Flags(_)));
        let Some(at) = flags_at else {
            return Err(error(Code::MissingRepeatArgument, text));
        };
        let sub = self.top.current.remove(at);
        let node = Node::Repeat {
            sub: Box::new(sub),
            min,
            max,
            lazy,
            counted,
        };
        if counted && (min >= 2 || max.is_some_and(|m| m >= 2)) && !node.repeat_is_valid(MAX_REPEAT)
        {
            return Err(error(Code::InvalidRepeatSize, text));
        }
        self.top.current.insert(at, node);
        Ok(after)
    }

    /// `(?flags)`, `(?flags:`, `(?P<name>`, `(?<name>`.
    fn perl_flags<'b>(&mut self, s: &'b str) -> Result<&'b str, String> {
        let named = if s.len() > 4 && s[2..].starts_with("P<") {
            Some(4)
        } else if s.len() > 3 && s[2..].starts_with('<') {
            Some(3)
        } else {
            None
        };
        if let Some(name_at) = named {
            let Some(end) = s.find('>') else {
                return Err(error(Code::InvalidNamedCapture, s));
            };
            let name = &s[name_at..end];
            if name.is_empty() || !name.chars().all(|c| c == '_' || c.is_ascii_alphanumeric()) {
                return Err(error(Code::InvalidNamedCapture, &s[..=end]));
            }
            self.open(String::new());
            return Ok(&s[end + 1..]);
        }
        let mut t = &s[2..];
        let mut set = String::new();
        let mut clear = String::new();
        let mut negated = false;
        let mut saw_flag = false;
        while let Some(c) = t.chars().next() {
            t = &t[c.len_utf8()..];
            match c {
                'i' | 'm' | 's' | 'U' => {
                    if negated {
                        clear.push(c);
                    } else {
                        set.push(c);
                    }
                    saw_flag = true;
                }
                '-' if !negated => {
                    negated = true;
                    saw_flag = false;
                }
                ':' | ')' if !negated || saw_flag => {
                    let mut flags = set;
                    if !clear.is_empty() {
                        flags.push('-');
                        flags.push_str(&clear);
                    }
                    if c == ':' {
                        self.open(flags);
                    } else if !flags.is_empty() {
                        self.top.current.push(Node::Flags(flags));
                    }
                    return Ok(t);
                }
                _ => break,
            }
        }
        Err(error(Code::InvalidPerlOp, &s[..s.len() - t.len()]))
    }

    /// An escape outside a class.
    fn escape<'b>(&mut self, t: &'b str) -> Result<&'b str, String> {
        let mut chars = t[1..].chars();
        match chars.next() {
            Some('A') => self.top.current.push(Node::Atom("\\A".into())),
            Some('z') => self.top.current.push(Node::Atom("\\z".into())),
            Some('b') => self.top.current.push(Node::Atom("(?-u:\\b)".into())),
            Some('B') => self.top.current.push(Node::Atom("(?-u:\\B)".into())),
            Some('C') => return Err(error(Code::InvalidEscape, &t[..2])),
            Some('Q') => {
                let body = &t[2..];
                let (literal, rest) = match body.find("\\E") {
                    Some(end) => (&body[..end], &body[end + 2..]),
                    None => (body, ""),
                };
                self.top.current.extend(literal.chars().map(Node::Lit));
                return Ok(rest);
            }
            Some('p' | 'P') => {
                let (class, rest) = unicode_class(t)?;
                self.top.current.push(Node::Atom(class));
                return Ok(rest);
            }
            Some(c) if let Some(class) = perl_class(c) => {
                self.top.current.push(Node::Atom(class));
            }
            _ => {
                let (c, rest) = parse_escape(t)?;
                self.top.current.push(Node::Lit(c));
                return Ok(rest);
            }
        }
        Ok(&t[2..])
    }
}

/// Go's ASCII Perl classes, as the inside of a Rust class (`\D` as a nested negated class).
fn perl_class(c: char) -> Option<String> {
    let (set, negated) = match c {
        'd' => ("0-9", false),
        'D' => ("0-9", true),
        's' => ("\\t\\n\\x{c}\\r ", false),
        'S' => ("\\t\\n\\x{c}\\r ", true),
        'w' => ("0-9A-Za-z_", false),
        'W' => ("0-9A-Za-z_", true),
        _ => return None,
    };
    Some(if negated {
        format!("[^{set}]")
    } else {
        format!("[{set}]")
    })
}

/// Go's `parseEscape`: one escaped character at the start of `s` (which starts with `\`).
fn parse_escape(s: &str) -> Result<(char, &str), String> {
    let t = &s[1..];
    let Some(c) = t.chars().next() else {
        return Err(error(Code::TrailingBackslash, ""));
    };
    let mut rest = &t[c.len_utf8()..];
    let bad = |rest: &str| error(Code::InvalidEscape, &s[..s.len() - rest.len()]);
    let octal = |b: u8| (b'0'..=b'7').contains(&b);
    match c {
        c if c.is_ascii() && !c.is_ascii_alphanumeric() => Ok((c, rest)),
        '1'..='7' if !rest.bytes().next().is_some_and(octal) => Err(bad(rest)),
        '0'..='7' => {
            let mut value = u32::from(c) - u32::from('0');
            for _ in 1..3 {
                match rest.bytes().next() {
                    Some(b) if octal(b) => {
                        value = value * 8 + u32::from(b - b'0');
                        rest = &rest[1..];
                    }
                    _ => break,
                }
            }
            char::from_u32(value)
                .map(|c| (c, rest))
                .ok_or_else(|| bad(rest))
        }
        'x' => {
            if let Some(body) = rest.strip_prefix('{') {
                let Some(end) = body.find('}') else {
                    return Err(bad(""));
                };
                let hex = &body[..end];
                let value = (!hex.is_empty() && hex.chars().all(|h| h.is_ascii_hexdigit()))
                    .then(|| u32::from_str_radix(hex, 16).ok())
                    .flatten()
                    .and_then(char::from_u32);
                let after = &body[end + 1..];
                return value.map(|c| (c, after)).ok_or_else(|| bad(after));
            }
            let hex: String = rest.chars().take(2).collect();
            let after = &rest[hex.len().min(rest.len())..];
            if hex.len() == 2 && hex.chars().all(|h| h.is_ascii_hexdigit()) {
                let value = u32::from_str_radix(&hex, 16).map_err(|_| bad(after))?;
                return char::from_u32(value)
                    .map(|c| (c, after))
                    .ok_or_else(|| bad(after));
            }
            Err(bad(after))
        }
        'a' => Ok(('\u{7}', rest)),
        'f' => Ok(('\u{c}', rest)),
        'n' => Ok(('\n', rest)),
        'r' => Ok(('\r', rest)),
        't' => Ok(('\t', rest)),
        'v' => Ok(('\u{b}', rest)),
        _ => Err(bad(rest)),
    }
}

/// `\pL`, `\p{Name}`, `\P{^Name}` at the start of `s`, as a Rust class, and the rest.
fn unicode_class(s: &str) -> Result<(String, &str), String> {
    let mut negated = s[1..].starts_with('P');
    let t = &s[2..];
    let (seq, mut name, rest) = if let Some(body) = t.strip_prefix('{') {
        let Some(end) = body.find('}') else {
            return Err(error(Code::InvalidCharRange, s));
        };
        (&s[..3 + end + 1], &body[..end], &body[end + 1..])
    } else {
        let Some(c) = t.chars().next() else {
            return Err(error(Code::InvalidCharRange, s));
        };
        let len = 2 + c.len_utf8();
        (&s[..len], &s[2..len], &s[len..])
    };
    if let Some(n) = name.strip_prefix('^') {
        negated = !negated;
        name = n;
    }
    let canonical: String = name
        .chars()
        .filter(|c| !matches!(c, '_' | '-' | ' '))
        .flat_map(char::to_lowercase)
        .collect();
    let property = match canonical.as_str() {
        "any" => Some("Any".to_owned()),
        "assigned" => Some("Assigned".to_owned()),
        "ascii" => Some("ASCII".to_owned()),
        _ => ["gc", "sc"]
            .into_iter()
            .map(|kind| format!("{kind}={name}"))
            .find(|p| Regex::new(&format!("\\p{{{p}}}")).is_ok()),
    };
    let Some(property) = property.filter(|_| !name.is_empty() && !name.contains(['=', ':'])) else {
        return Err(error(Code::InvalidCharRange, seq));
    };
    let p = if negated { 'P' } else { 'p' };
    Ok((format!("\\{p}{{{property}}}"), rest))
}

/// Go's `parseRepeat`: `{n}`, `{n,}`, `{n,m}` at the start of `s` as (min, max, rest), max `-1`
/// for no bound and min `-1` for a number that is too big. `None` when `s` does not have that
/// form (the `{` is then a literal).
fn parse_repeat(s: &str) -> Option<(i64, i64, &str)> {
    let s = s.strip_prefix('{')?;
    let (mut min, s) = parse_int(s)?;
    let (max, s) = if let Some(s) = s.strip_prefix(',') {
        if let Some(rest) = s.strip_prefix('}') {
            return Some((min, -1, rest));
        }
        let (max, s) = parse_int(s)?;
        if max < 0 {
            min = -1;
        }
        (max, s)
    } else {
        (min, s)
    };
    let rest = s.strip_prefix('}')?;
    Some((min, max, rest))
}

/// A decimal integer without leading zeros; `-1` when it is too big (Go stops at 10^8).
fn parse_int(s: &str) -> Option<(i64, &str)> {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || (digits >= 2 && s.starts_with('0')) {
        return None;
    }
    let value = s[..digits]
        .parse::<i64>()
        .ok()
        .filter(|v| *v < 100_000_000)
        .unwrap_or(-1);
    Some((value, &s[digits..]))
}

/// A Go class `[...]` at the start of `s`, as a Rust class, and the rest.
fn parse_class(s: &str) -> Result<(String, &str), String> {
    let mut t = &s[1..];
    let mut out = String::from("[");
    if let Some(rest) = t.strip_prefix('^') {
        out.push('^');
        t = rest;
    }
    let mut first = true;
    loop {
        if t.is_empty() {
            return Err(error(Code::MissingBracket, s));
        }
        if t.starts_with(']') && !first {
            t = &t[1..];
            break;
        }
        first = false;
        if t.starts_with("[:")
            && let Some(end) = t[2..].find(":]")
        {
            let name = &t[..end + 4];
            let inner = &t[2..end + 2];
            let known = [
                "alnum", "alpha", "ascii", "blank", "cntrl", "digit", "graph", "lower", "print",
                "punct", "space", "upper", "word", "xdigit",
            ];
            if !known.contains(&inner.trim_start_matches('^')) {
                return Err(error(Code::InvalidCharRange, name));
            }
            out.push_str(name);
            t = &t[end + 4..];
            continue;
        }
        if t.starts_with("\\p") || t.starts_with("\\P") {
            let (class, rest) = unicode_class(t)?;
            out.push_str(&class);
            t = rest;
            continue;
        }
        if let Some(c) = t[1..].chars().next().filter(|_| t.starts_with('\\'))
            && let Some(class) = perl_class(c)
        {
            out.push_str(&class);
            t = &t[2..];
            continue;
        }
        let range = t;
        let (lo, rest) = class_char(t, s)?;
        t = rest;
        let mut hi = lo;
        if t.len() >= 2 && t.starts_with('-') && !t[1..].starts_with(']') {
            let (h, rest) = class_char(&t[1..], s)?;
            t = rest;
            hi = h;
            if hi < lo {
                return Err(error(
                    Code::InvalidCharRange,
                    &range[..range.len() - t.len()],
                ));
            }
        }
        push_literal(&mut out, lo);
        if hi != lo {
            out.push('-');
            push_literal(&mut out, hi);
        }
    }
    out.push(']');
    Ok((out, t))
}

/// One character of a class (possibly escaped).
fn class_char<'a>(t: &'a str, whole: &str) -> Result<(char, &'a str), String> {
    if t.starts_with('\\') {
        return parse_escape(t);
    }
    match t.chars().next() {
        Some(c) => Ok((c, &t[c.len_utf8()..])),
        None => Err(error(Code::MissingBracket, whole)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn is_match(pattern: &str, line: &str) -> bool {
        compile(pattern, false)
            .unwrap_or_else(|e| panic!("{pattern}: {e}"))
            .is_match(line)
    }

    #[test]
    fn perl_classes_and_boundaries_are_ascii() {
        assert!(is_match(r"\d", "3"));
        assert!(!is_match(r"\d", "٣"), "Go's \\d is [0-9]");
        assert!(!is_match(r"^\w+$", "é"), "Go's \\w is ASCII");
        assert!(!is_match(r"\s", "\u{b}"), "Go's \\s has no \\v");
        assert!(!is_match(r"\s", "\u{a0}"));
        assert!(
            !is_match(r"\bé", "é"),
            "é is no word character for Go's \\b"
        );
        assert!(is_match(r"\ba\b", "é a é"));
    }

    #[test]
    fn escapes_follow_go() {
        assert!(is_match(r"\<a\>", "<a>"), "escaped punctuation is itself");
        assert!(is_match(r"\Qa.b\E", "a.b"));
        assert!(!is_match(r"\Qa.b\E", "axb"));
        assert!(is_match(r"\101", "A"), "octal");
        assert!(is_match(r"\x41\x{1F600}", "A😀"));
        assert!(is_match(r"a{,5}", "a{,5}"), "not a repetition: literal");
        assert!(is_match("[a&&b]", "&"), "no set operations in Go classes");
        assert!(is_match("[]a]", "]"));
        assert!(is_match(r"(?i)K", "\u{212a}"));
        assert!(is_match(r"[[:^digit:]x]", "y"));
        assert!(is_match(r"\pL\p{Greek}\P{L}", "aα1"));
        assert!(is_match(r"(?P<n>a)(?<m>b)", "ab"));
        assert!(is_match(r"a(?i)b*", "aBB"));
        assert!(is_match("(?i)a|b", "B"), "flags hold across | as in Go");
    }

    #[test]
    fn errors_are_gos() {
        for (pattern, want) in [
            ("(", "error parsing regexp: missing closing ): `(`"),
            ("a)", "error parsing regexp: unexpected ): `a)`"),
            ("a[b", "error parsing regexp: missing closing ]: `[b`"),
            (
                "*a",
                "error parsing regexp: missing argument to repetition operator: `*`",
            ),
            (
                "a**",
                "error parsing regexp: invalid nested repetition operator: `**`",
            ),
            (
                "a{1001}",
                "error parsing regexp: invalid repeat count: `{1001}`",
            ),
            (
                "(a{100}){20}",
                "error parsing regexp: invalid repeat count: `{20}`",
            ),
            (
                "a{2,1}",
                "error parsing regexp: invalid repeat count: `{2,1}`",
            ),
            (
                r"\u0041",
                "error parsing regexp: invalid escape sequence: `\\u`",
            ),
            (
                r"\C",
                "error parsing regexp: invalid escape sequence: `\\C`",
            ),
            (
                r"\8",
                "error parsing regexp: invalid escape sequence: `\\8`",
            ),
            (
                r"\p{Letterz}",
                "error parsing regexp: invalid character class range: `\\p{Letterz}`",
            ),
            (
                r"\p{sc=Greek}",
                "error parsing regexp: invalid character class range: `\\p{sc=Greek}`",
            ),
            (
                "[z-a]",
                "error parsing regexp: invalid character class range: `z-a`",
            ),
            (
                "[[:foo:]]",
                "error parsing regexp: invalid character class range: `[:foo:]`",
            ),
            (
                "(?x)a",
                "error parsing regexp: invalid or unsupported Perl syntax: `(?x`",
            ),
            (
                "(?i-)a",
                "error parsing regexp: invalid or unsupported Perl syntax: `(?i-)`",
            ),
            (
                "(?P<a-b>x)",
                "error parsing regexp: invalid named capture: `(?P<a-b>`",
            ),
            (
                "a\\",
                "error parsing regexp: trailing backslash at end of expression: ``",
            ),
        ] {
            assert_eq!(
                compile(pattern, false).map(|_| ()).unwrap_err(),
                want,
                "{pattern}"
            );
        }
    }

    #[test]
    fn label_matchers_are_anchored() {
        let re = compile("info|warn", true).unwrap();
        assert!(re.is_match("info") && !re.is_match("information"));
        let re = compile("a.b", true).unwrap();
        assert!(re.is_match("a\nb"), "DotNL for label regexes");
        assert!(compile("", true).unwrap().is_match(""));
    }
}
