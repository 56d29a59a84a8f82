//! A request's `regexp` (the Rust `regex` crate's syntax) as a LogQL line filter (Go's RE2
//! syntax, `|~ "…"`) that Loki can run.
//!
//! The two dialects differ: Go's `\d`, `\w`, `\s` and `\b` are ASCII while Rust's are Unicode,
//! Go has no `\<`, no class set operations (`[a&&b]`), no `\p{Alphabetic}`, at most 1,000
//! repetitions, and its Unicode tables may be of another Unicode version. Handing the pattern
//! over as it is would make Loki drop lines the provider's own filter keeps. So the pattern is
//! parsed with the `regex` crate's own parser (`regex-syntax`), whose high-level form has every
//! flag, class and case fold already resolved to code points, and written out again in a
//! syntax both read the same way:
//!
//! - literals as themselves or `\x{…}`; classes as explicit code point ranges
//!   (`[\x{41}-\x{5a}…]`) when they have at most [`MAX_CLASS_RANGES`] ranges (or their
//!   complement has), so no table or case fold of Go's is involved;
//! - `\A`, `(?m:^)` and ASCII word boundaries as themselves;
//! - where Go cannot say the same thing, something that matches **more**: a large class
//!   (Unicode `\w`, `\pL`) becomes "any character", an end anchor (`$`, `\z`; the provider
//!   trims a line's `\n` or `\r\n`, Loki does not) or a Unicode word boundary is dropped, a
//!   repetition beyond Go's limit loses its upper bound, a class or literal with U+FFFD (which
//!   stands for bytes that were not UTF-8) becomes "any character".
//!
//! The result is a **superset** filter: Loki drops only lines the provider's filter would drop
//! too, and the provider then applies the `regex` crate's pattern itself to what Loki returns,
//! so the answer is exactly the in-process one. [`Translation::exact`] says when Loki's filter
//! is already exactly the provider's (nothing was widened), which lets `tail` trust Loki's
//! count.

use regex_syntax::hir::{Class, Hir, HirKind, Look};

/// The most code point ranges a class is written out with; larger ones become "any character"
/// (a Unicode `\w` has about 770 ranges: kilobytes of query for little narrowing).
pub(crate) const MAX_CLASS_RANGES: usize = 32;

/// The longest RE2 pattern sent to Loki (before URL encoding); longer ones are not pushed.
pub(crate) const MAX_PATTERN_LEN: usize = 4096;

/// Go's limit on a counted repetition, also on the product of nested ones (`repeatIsValid`).
const GO_MAX_REPEAT: u32 = 1000;

/// A pattern for Loki's `|~`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Translation {
    /// The RE2 pattern: it matches every line the Rust pattern matches.
    pub(crate) pattern: String,
    /// It matches exactly those lines.
    pub(crate) exact: bool,
}

/// The RE2 filter for the Rust `pattern`, or `None` when there is nothing useful to push (it
/// would keep every line, or be too long) or the pattern does not parse.
pub(crate) fn translate(pattern: &str) -> Option<Translation> {
    // The regex crate's defaults, as `Filter::compile_regexp` builds with them.
    let hir = regex_syntax::ParserBuilder::new()
        .build()
        .parse(pattern)
        .ok()?;
    let frag = emit(&hir, GO_MAX_REPEAT);
    if frag.matches_empty_anywhere || frag.text.len() > MAX_PATTERN_LEN {
        return None;
    }
    Some(Translation {
        pattern: frag.text,
        exact: frag.exact,
    })
}

/// A piece of the RE2 pattern.
struct Frag {
    text: String,
    /// Matches exactly what the Rust piece matches (else: more).
    exact: bool,
    /// Can be repeated without parentheses.
    atom: bool,
    /// Matches the empty string with no condition, so a pattern made of it alone keeps every
    /// line.
    matches_empty_anywhere: bool,
}

impl Frag {
    fn new(text: impl Into<String>, exact: bool) -> Frag {
        Frag {
            text: text.into(),
            exact,
            atom: true,
            matches_empty_anywhere: false,
        }
    }

    /// Nothing: an empty match (also what a dropped assertion becomes).
    fn empty(exact: bool) -> Frag {
        Frag {
            text: String::new(),
            exact,
            atom: false,
            matches_empty_anywhere: true,
        }
    }

    /// Any one character, the superset of every class.
    fn any_char() -> Frag {
        Frag::new("(?s:.)", false)
    }

    /// The text as one repeatable unit.
    fn grouped(&self) -> String {
        if self.atom {
            self.text.clone()
        } else {
            format!("(?:{})", self.text)
        }
    }
}

/// Writes `c` so that Go reads it as that one character, inside a class or not: ASCII letters
/// and digits as they are, anything else as `\x{…}`.
fn push_char(out: &mut String, c: char) {
    if c.is_ascii_alphanumeric() {
        out.push(c);
    } else {
        use std::fmt::Write;
        let _ = write!(out, "\\x{{{:x}}}", u32::from(c));
    }
}

/// `hir` in RE2 syntax; `budget` is how many copies Go still allows below enclosing counted
/// repetitions.
fn emit(hir: &Hir, budget: u32) -> Frag {
    match hir.kind() {
        HirKind::Empty => Frag::empty(true),
        HirKind::Literal(literal) => {
            let Ok(text) = std::str::from_utf8(&literal.0) else {
                return Frag::any_char();
            };
            let mut out = String::new();
            let mut exact = true;
            let mut chars = 0;
            for c in text.chars() {
                chars += 1;
                if c == char::REPLACEMENT_CHARACTER {
                    out.push_str("(?s:.)");
                    exact = false;
                } else {
                    push_char(&mut out, c);
                }
            }
            Frag {
                atom: chars == 1,
                ..Frag::new(out, exact)
            }
        }
        HirKind::Class(Class::Unicode(class)) => {
            let ranges: Vec<(u32, u32)> = class
                .ranges()
                .iter()
                .map(|r| (u32::from(r.start()), u32::from(r.end())))
                .collect();
            class_frag(&ranges)
        }
        HirKind::Class(Class::Bytes(class)) => {
            // Only ASCII byte classes are possible in a pattern that must match UTF-8 text.
            let ranges: Vec<(u32, u32)> = class
                .ranges()
                .iter()
                .map(|r| (u32::from(r.start()), u32::from(r.end())))
                .collect();
            if ranges.iter().any(|(_, end)| *end > 0x7f) {
                return Frag::any_char();
            }
            class_frag(&ranges)
        }
        HirKind::Look(look) => match look {
            // True at the start of every line: alone, they keep every line.
            Look::Start => Frag {
                matches_empty_anywhere: true,
                ..Frag::new("\\A", true)
            },
            Look::StartLF => Frag {
                matches_empty_anywhere: true,
                ..Frag::new("(?m:^)", true)
            },
            Look::WordAscii => Frag::new("\\b", true),
            Look::WordAsciiNegate => Frag::new("\\B", true),
            // End anchors (the provider trims the line end Loki still has), Unicode and
            // half word boundaries, CRLF mode: Go has no equivalent; asserting nothing
            // matches more.
            _ => Frag::empty(false),
        },
        HirKind::Repetition(rep) => repetition(rep.min, rep.max, &rep.sub, budget),
        HirKind::Capture(capture) => {
            let sub = emit(&capture.sub, budget);
            Frag {
                text: sub.grouped(),
                atom: true,
                ..sub
            }
        }
        HirKind::Concat(subs) => {
            // Alternations come back parenthesized, so the parts simply follow one another.
            let mut out = Frag::empty(true);
            for sub in subs {
                let f = emit(sub, budget);
                out.text.push_str(&f.text);
                out.exact &= f.exact;
                out.matches_empty_anywhere &= f.matches_empty_anywhere;
            }
            out.atom = false;
            out
        }
        HirKind::Alternation(subs) => {
            let mut text = String::from("(?:");
            let mut exact = true;
            let mut empty = false;
            for (i, sub) in subs.iter().enumerate() {
                let f = emit(sub, budget);
                if i > 0 {
                    text.push('|');
                }
                text.push_str(&f.text);
                exact &= f.exact;
                empty |= f.matches_empty_anywhere;
            }
            text.push(')');
            Frag {
                text,
                exact,
                atom: true,
                matches_empty_anywhere: empty,
            }
        }
    }
}

/// A class given as sorted, disjoint ranges of code points.
fn class_frag(ranges: &[(u32, u32)]) -> Frag {
    // Go reads a class of one character as a literal, and a literal may be searched for as
    // bytes (by Go's prefix scan, by Loki's `|=` rewrite): U+FFFD as bytes would miss the
    // invalid bytes it stands for. In a larger class it is matched as a character, which is
    // what Go makes of an invalid byte.
    let fffd = u32::from(char::REPLACEMENT_CHARACTER);
    if ranges == [(fffd, fffd)] {
        return Frag::any_char();
    }
    if ranges.is_empty() {
        // A class of nothing (`[a&&b]`); Go has no `[]`.
        return Frag::new("[^\\x{0}-\\x{10ffff}]", true);
    }
    let complement = complement(ranges);
    if complement.is_empty() {
        return Frag::new("(?s:.)", true);
    }
    // The shorter of the set and its complement (`.` is `[^\x{a}]`).
    let (set, negated) = if complement.len() < ranges.len() && complement.len() <= MAX_CLASS_RANGES
    {
        (complement.as_slice(), true)
    } else if ranges.len() <= MAX_CLASS_RANGES {
        (ranges, false)
    } else if complement.len() <= MAX_CLASS_RANGES {
        (complement.as_slice(), true)
    } else {
        return Frag::any_char();
    };
    let mut out = String::from(if negated { "[^" } else { "[" });
    for (start, end) in set {
        let (Some(s), Some(e)) = (char::from_u32(*start), char::from_u32(*end)) else {
            return Frag::any_char();
        };
        push_char(&mut out, s);
        if e != s {
            out.push('-');
            push_char(&mut out, e);
        }
    }
    out.push(']');
    Frag::new(out, true)
}

/// The code points (Unicode scalar values) not in `ranges`.
fn complement(ranges: &[(u32, u32)]) -> Vec<(u32, u32)> {
    const MAX: u32 = 0x10_FFFF;
    let (surrogate_start, surrogate_end) = (0xD800, 0xDFFF);
    let mut gaps = Vec::new();
    let mut next = 0u32;
    let mut push = |start: u32, end: u32| {
        // Surrogates are no characters: a gap of only surrogates is no gap.
        let start = if (surrogate_start..=surrogate_end).contains(&start) {
            surrogate_end + 1
        } else {
            start
        };
        let end = if (surrogate_start..=surrogate_end).contains(&end) {
            surrogate_start - 1
        } else {
            end
        };
        if start <= end {
            gaps.push((start, end));
        }
    };
    for (start, end) in ranges {
        if *start > next {
            push(next, start - 1);
        }
        next = end.saturating_add(1);
    }
    if next <= MAX {
        push(next, MAX);
    }
    gaps
}

/// `sub{min,max}` within Go's limits, or a wider repetition where Go's limits do not reach.
fn repetition(min: u32, max: Option<u32>, sub: &Hir, budget: u32) -> Frag {
    let (suffix, inner, exact) = match (min, max) {
        (0, None) => ("*".to_owned(), budget, true),
        (1, None) => ("+".to_owned(), budget, true),
        (0, Some(1)) => ("?".to_owned(), budget, true),
        (_, Some(0)) => return Frag::empty(true),
        _ => {
            let most = max.unwrap_or(min);
            if most <= budget {
                let suffix = match max {
                    Some(max) if max == min => format!("{{{min}}}"),
                    Some(max) => format!("{{{min},{max}}}"),
                    None => format!("{{{min},}}"),
                };
                (suffix, budget / most.max(1), true)
            } else {
                // More than Go allows here: at least `least` copies, with no upper bound, is
                // a superset (`least` never exceeds `min`).
                match min.min(budget) {
                    0 => ("*".to_owned(), budget, false),
                    1 => ("+".to_owned(), budget, false),
                    least => (format!("{{{least},}}"), budget / least, false),
                }
            }
        }
    };
    let sub = emit(sub, inner);
    let empty = min == 0 || sub.matches_empty_anywhere;
    if sub.text.is_empty() {
        // Repeating an empty match (or a dropped assertion) is an empty match.
        return Frag::empty(sub.exact && exact);
    }
    Frag {
        text: format!("{}{suffix}", sub.grouped()),
        exact: exact && sub.exact,
        atom: false,
        matches_empty_anywhere: empty,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t(pattern: &str) -> Option<(String, bool)> {
        translate(pattern).map(|t| (t.pattern, t.exact))
    }

    /// Loki's reading of an RE2 pattern: the simulator's implementation of Go's parser.
    fn go(pattern: &str) -> regex::Regex {
        loki_simulator::re2::compile(pattern, false)
            .unwrap_or_else(|e| panic!("Go refuses {pattern:?}: {e}"))
    }

    #[test]
    fn plain_patterns_stay_exact() {
        assert_eq!(t("a.c"), Some(("a[^\\x{a}]c".into(), true)));
        assert_eq!(t("^INFO plain"), Some(("\\AINFO\\x{20}plain".into(), true)));
        assert_eq!(t("a|bc"), Some(("(?:a|bc)".into(), true)));
        assert_eq!(t("(?i)ab"), Some(("[Aa][Bb]".into(), true)));
        assert_eq!(t("x{2,5}y+"), Some(("x{2,5}y+".into(), true)));
        assert_eq!(t("(ab)*c"), Some(("(?:ab)*c".into(), true)));
        assert_eq!(
            t("(?-u:\\w\\b)"),
            Some(("[0-9A-Z\\x{5f}a-z]\\b".into(), true))
        );
        // Case folding is resolved here, so Go's own (Kelvin sign, long s) is not involved.
        assert_eq!(t("(?i)k"), Some(("[Kk\\x{212a}]".into(), true)));
    }

    #[test]
    fn what_go_reads_differently_is_widened() {
        // Unicode \d has more than 32 ranges: any character.
        assert_eq!(
            t(r"\d+% done"),
            Some(("(?s:.)+\\x{25}\\x{20}done".into(), false))
        );
        assert_eq!(t("ü\\w+"), Some(("\\x{fc}(?s:.)+".into(), false)));
        assert_eq!(t("plain$"), Some(("plain".into(), false)));
        assert_eq!(t("\\bword\\b"), Some(("word".into(), false)));
        assert_eq!(t("a{2000}"), Some(("a{1000,}".into(), false)));
        // Go counts nested repetitions together: 20 × 100 is over 1,000.
        assert_eq!(t("(?:a{100}){20}"), Some(("(?:a{50,}){20}".into(), false)));
        assert_eq!(t("\u{fffd}x"), Some(("(?s:.)x".into(), false)));
    }

    #[test]
    fn nothing_is_pushed_when_every_line_would_match() {
        for p in ["", ".*", "a*", "$", "\\b", "(?:x?)|y", "(?s:.)*"] {
            assert_eq!(t(p), None, "{p:?}");
        }
        // A pattern longer than Loki needs to see.
        let long = "(?i)abcdefghijklmnopqrstuvwxyz".repeat(40);
        assert_eq!(t(&long), None);
    }

    #[test]
    fn dialect_differences_are_resolved_on_our_side() {
        for (rust, matching, other) in [
            (r"\d", "٣", "x"),
            (r"^\w+$", "été", "a b"),
            (r"\s", "\u{a0}", "x"),
            (r"[a&&b]", "", "&"),
            (r"[\w--\d]", "é", "3"),
            (r"\<a", "a", "<a"),
            (r"\p{Greek}", "α", "a"),
            (r"(?i)straße", "STRASSE", "x"),
            (r"\x{1F600}", "😀", "x"),
        ] {
            let rust_re = regex::Regex::new(rust).unwrap();
            let Some(tr) = translate(rust) else { continue };
            let go_re = go(&tr.pattern);
            for line in [matching, other] {
                if rust_re.is_match(line) {
                    assert!(go_re.is_match(line), "{rust} → {}: {line:?}", tr.pattern);
                }
                if tr.exact {
                    assert_eq!(
                        rust_re.is_match(line),
                        go_re.is_match(line),
                        "{rust}: {line:?}"
                    );
                }
            }
        }
    }

    /// Pieces of Rust patterns, dialect traps included.
    fn pattern() -> impl Strategy<Value = String> {
        let atom = prop_oneof![
            Just("a".to_owned()),
            Just("é".to_owned()),
            Just(".".to_owned()),
            Just(r"\d".to_owned()),
            Just(r"\w".to_owned()),
            Just(r"\s".to_owned()),
            Just(r"\S".to_owned()),
            Just(r"\b".to_owned()),
            Just(r"\B".to_owned()),
            Just(r"\<".to_owned()),
            Just(r"\>".to_owned()),
            Just("^".to_owned()),
            Just("$".to_owned()),
            Just(r"\pL".to_owned()),
            Just(r"\p{Greek}".to_owned()),
            Just(r"[a-cé]".to_owned()),
            Just(r"[^a\n]".to_owned()),
            Just(r"[\w&&[^\d]]".to_owned()),
            Just(r"(?-u:\w)".to_owned()),
            Just("(?i)k".to_owned()),
            Just("(?i:ß)".to_owned()),
            Just("(?m:^)".to_owned()),
            Just("(?s:.)".to_owned()),
            Just(r"\u{FFFD}".to_owned()),
            Just("[[:digit:]]".to_owned()),
            Just(r"\x20".to_owned()),
            Just(r"\.".to_owned()),
        ];
        atom.prop_recursive(3, 12, 3, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 1..4).prop_map(|v| v.concat()),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("(?:{a}|{b})")),
                (inner.clone(), 0u32..4, proptest::option::of(0u32..6)).prop_map(
                    |(a, min, max)| match max {
                        Some(max) if max >= min => format!("(?:{a}){{{min},{max}}}"),
                        _ => format!("(?:{a}){{{min},}}"),
                    }
                ),
                inner.prop_map(|a| format!("(?:{a})*?")),
            ]
        })
    }

    fn line() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![
                Just('a'),
                Just('b'),
                Just('c'),
                Just('k'),
                Just('K'),
                Just('\u{212a}'),
                Just('é'),
                Just('α'),
                Just('٣'),
                Just('3'),
                Just(' '),
                Just('\u{a0}'),
                Just('\n'),
                Just('<'),
                Just('_'),
                Just('ß'),
                Just('\u{fffd}'),
            ],
            0..10,
        )
        .prop_map(|v| v.into_iter().collect())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Go accepts every translation, and it matches every line the Rust pattern matches;
        /// an exact one matches no other line.
        #[test]
        fn the_translation_is_a_superset_go_accepts(p in pattern(), lines in proptest::collection::vec(line(), 1..8)) {
            let Ok(rust) = regex::Regex::new(&p) else { return Ok(()) };
            let Some(tr) = translate(&p) else {
                // Not pushed: Loki keeps every line, which is a superset too.
                return Ok(());
            };
            let go = go(&tr.pattern);
            for line in &lines {
                if rust.is_match(line) {
                    prop_assert!(go.is_match(line), "{} → {}: {:?}", p, tr.pattern, line);
                }
                if tr.exact {
                    prop_assert_eq!(rust.is_match(line), go.is_match(line), "{} → {}: {:?}", p, tr.pattern, line);
                }
            }
        }
    }
}
