//! LogQL log queries as far as the simulator models them: a stream selector
//! (`{name="v", name!="v", name=~"re", name!~"re"}`) and a pipeline of line filters
//! (`|= "text"`, `!= "text"`, `|~ "re"`, `!~ "re"`) and label filters
//! (`| name = "v"`, `!=`, `=~`, `!~`, one matcher per stage) on the stream labels, the
//! structured metadata and nothing parsed. Parsers (`| json`), formatting stages, `or` chains
//! and numeric comparisons are refused with a `simulator:` message rather than misread.
//!
//! Errors read like Loki's (`logqlmodel.ParseError`): `parse error at line 1, col N: syntax
//! error: …` from the grammar, `parse error : <why>` for a bad label regex (caught while the
//! query is parsed) and `parse error : stage '<line filters>' : <why>` for a bad line-filter
//! regex (caught when the pipeline is built, after the selector was accepted).

use std::collections::BTreeMap;

use regex::Regex;

use crate::re2;

type Labels = BTreeMap<String, String>;

/// A label matcher's operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    Eq,
    Ne,
    Re,
    NotRe,
}

impl Op {
    pub(crate) fn text(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Re => "=~",
            Op::NotRe => "!~",
        }
    }
}

/// `name op "value"`, a regex compiled as Prometheus does (anchored, RE2).
#[derive(Clone, Debug)]
pub(crate) struct Matcher {
    pub(crate) name: String,
    pub(crate) op: Op,
    pub(crate) value: String,
    re: Option<Regex>,
}

impl Matcher {
    fn new(name: String, op: Op, value: String) -> Result<Matcher, String> {
        let re = match op {
            Op::Re | Op::NotRe => {
                Some(re2::compile(&value, true).map_err(|e| format!("parse error : {e}"))?)
            }
            Op::Eq | Op::Ne => None,
        };
        Ok(Matcher {
            name,
            op,
            value,
            re,
        })
    }

    /// Whether `value` (empty for a missing label) passes.
    pub(crate) fn matches_value(&self, value: &str) -> bool {
        match (self.op, &self.re) {
            (Op::Eq, _) => value == self.value,
            (Op::Ne, _) => value != self.value,
            (Op::Re, Some(re)) => re.is_match(value),
            (Op::NotRe, Some(re)) => !re.is_match(value),
            (Op::Re | Op::NotRe, None) => false,
        }
    }

    /// Whether the stream with `labels` passes.
    pub(crate) fn matches(&self, labels: &Labels) -> bool {
        self.matches_value(labels.get(&self.name).map_or("", String::as_str))
    }

    /// A matcher that also selects streams without the label (Loki's "empty-compatible").
    fn empty_compatible(&self) -> bool {
        self.matches_value("")
    }
}

/// A line filter's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LineOp {
    Contains,
    NotContains,
    Matches,
    NotMatches,
}

impl LineOp {
    fn text(self) -> &'static str {
        match self {
            LineOp::Contains => "|=",
            LineOp::NotContains => "!=",
            LineOp::Matches => "|~",
            LineOp::NotMatches => "!~",
        }
    }
}

/// One pipeline stage.
#[derive(Clone, Debug)]
enum Stage {
    Line { op: LineOp, value: String },
    Label(Matcher),
}

/// A parsed log query.
#[derive(Clone, Debug)]
pub(crate) struct Query {
    pub(crate) matchers: Vec<Matcher>,
    stages: Vec<Stage>,
}

/// A query's pipeline, ready to run: line-filter regexes compiled.
pub(crate) struct Pipeline<'q> {
    stages: Vec<(&'q Stage, Option<Regex>)>,
}

impl Query {
    /// Whether the query is a stream selector only.
    pub(crate) fn is_selector(&self) -> bool {
        self.stages.is_empty()
    }

    /// Builds the pipeline, as Loki does when it runs the query: a line-filter regex Go refuses
    /// is an error naming the stage (consecutive line filters form one stage).
    pub(crate) fn pipeline(&self) -> Result<Pipeline<'_>, String> {
        let mut stages = Vec::with_capacity(self.stages.len());
        for (i, stage) in self.stages.iter().enumerate() {
            let re =
                match stage {
                    Stage::Line {
                        op: LineOp::Matches | LineOp::NotMatches,
                        value,
                    } => Some(re2::compile(value, false).map_err(|e| {
                        format!("parse error : stage '{}' : {e}", self.line_stage(i))
                    })?),
                    _ => None,
                };
            stages.push((stage, re));
        }
        Ok(Pipeline { stages })
    }

    /// The text of the run of line filters around stage `i`, as Loki prints a stage.
    fn line_stage(&self, i: usize) -> String {
        let is_line = |s: &Stage| matches!(s, Stage::Line { .. });
        let first = self.stages[..i]
            .iter()
            .rposition(|s| !is_line(s))
            .map_or(0, |p| p + 1);
        let last = self.stages[i..]
            .iter()
            .position(|s| !is_line(s))
            .map_or(self.stages.len(), |p| i + p);
        let mut text = String::new();
        for stage in &self.stages[first..last] {
            if let Stage::Line { op, value } = stage {
                if !text.is_empty() {
                    text.push(' ');
                }
                text.push_str(op.text());
                text.push(' ');
                crate::push_quoted(&mut text, value);
            }
        }
        text
    }
}

impl Pipeline<'_> {
    /// Whether a line with these stream labels and structured metadata passes every stage.
    pub(crate) fn keeps(&self, labels: &Labels, metadata: &Labels, line: &str) -> bool {
        self.stages.iter().all(|(stage, re)| match (stage, re) {
            (Stage::Line { op, value }, re) => {
                let hit = match re {
                    Some(re) => re.is_match(line),
                    None => line.contains(value.as_str()),
                };
                hit == matches!(op, LineOp::Contains | LineOp::Matches)
            }
            (Stage::Label(m), _) => m.matches_value(label_value(labels, metadata, &m.name)),
        })
    }

    /// Whether the pipeline keeps every line.
    pub(crate) fn is_empty(&self) -> bool {
        self.stages.is_empty()
    }
}

/// A label as Loki's pipeline sees it: the stream label; else structured metadata, which is
/// renamed `<name>_extracted` when the stream has a label of that name.
pub(crate) fn label_value<'a>(labels: &'a Labels, metadata: &'a Labels, name: &str) -> &'a str {
    if let Some(v) = labels.get(name) {
        return v;
    }
    if let Some(v) = metadata.get(name) {
        return v;
    }
    name.strip_suffix(EXTRACTED)
        .filter(|base| labels.contains_key(*base))
        .and_then(|base| metadata.get(base))
        .map_or("", String::as_str)
}

/// The suffix Loki gives structured metadata (and parsed labels) named like a stream label.
pub(crate) const EXTRACTED: &str = "_extracted";

const EMPTY_MATCHERS: &str = "parse error : queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~\".*\" does not meet this requirement, but app=~\".+\" will";

/// Loki's answer to a label-values `query` that is more than a selector.
pub(crate) const ONLY_MATCHERS: &str = "only label matchers are supported";

fn syntax_error(col: usize, what: &str) -> String {
    format!("parse error at line 1, col {col}: syntax error: {what}")
}

/// Parses a log query the way LogQL's lexer and grammar read it.
///
/// # Errors
/// Loki's parse error text, or a `simulator:` message for LogQL the simulator does not model.
pub(crate) fn parse_query(q: &str) -> Result<Query, String> {
    let mut p = Reader {
        chars: q.chars().collect(),
        i: 0,
    };
    p.skip_ws();
    if p.peek() != Some('{') {
        return Err(p.unexpected(""));
    }
    p.i += 1;
    let mut matchers = Vec::new();
    loop {
        p.skip_ws();
        let name = p.identifier()?;
        p.skip_ws();
        let op = p.matcher_op()?;
        p.skip_ws();
        let value = p.string()?;
        matchers.push(Matcher::new(name, op, value)?);
        p.skip_ws();
        match p.peek() {
            Some(',') => p.i += 1,
            Some('}') => {
                p.i += 1;
                break;
            }
            _ => return Err(p.unexpected(", expecting } or ,")),
        }
    }
    let mut stages = Vec::new();
    loop {
        p.skip_ws();
        let Some(c) = p.peek() else { break };
        let line_op = match (c, p.peek_at(1)) {
            ('|', Some('=')) => Some(LineOp::Contains),
            ('!', Some('=')) => Some(LineOp::NotContains),
            ('|', Some('~')) => Some(LineOp::Matches),
            ('!', Some('~')) => Some(LineOp::NotMatches),
            ('|' | '!', Some('>')) => {
                return Err("simulator: pattern line filters are not simulated".to_owned());
            }
            _ => None,
        };
        if let Some(op) = line_op {
            p.i += 2;
            p.skip_ws();
            if p.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
                return Err(format!(
                    "simulator: only string line filters are simulated, not {:?}",
                    p.rest()
                ));
            }
            let value = p.string()?;
            p.skip_ws();
            if p.rest().starts_with("or ") || p.rest().starts_with("or\"") {
                return Err("simulator: `or` line filters are not simulated".to_owned());
            }
            stages.push(Stage::Line { op, value });
            continue;
        }
        if c != '|' {
            return Err(p.unexpected(""));
        }
        p.i += 1;
        p.skip_ws();
        let begin = p.i;
        let name = p.identifier()?;
        p.skip_ws();
        let op = match (p.peek(), p.peek_at(1)) {
            (Some('='), Some('~')) | (Some('!'), Some('~' | '=')) => Some(p.matcher_op()?),
            (Some('='), Some('=')) | (Some('>' | '<'), _) => None,
            (Some('='), _) => Some(p.matcher_op()?),
            _ => None,
        };
        let Some(op) = op else {
            let stage: String = p.chars[begin..].iter().collect();
            return Err(format!(
                "simulator: only `| label op \"value\"` stages are simulated, not {stage:?}"
            ));
        };
        p.skip_ws();
        if p.peek() != Some('"') && p.peek() != Some('`') {
            return Err(format!(
                "simulator: only string label filters are simulated, not {:?}",
                p.rest()
            ));
        }
        let value = p.string()?;
        p.skip_ws();
        let rest = p.rest();
        if rest.starts_with(',') || rest.starts_with("and") || rest.starts_with("or") {
            return Err("simulator: combined label filters are not simulated".to_owned());
        }
        stages.push(Stage::Label(Matcher::new(name, op, value)?));
    }
    if matchers.iter().all(Matcher::empty_compatible) {
        return Err(EMPTY_MATCHERS.to_owned());
    }
    Ok(Query { matchers, stages })
}

/// A stream selector and nothing else (tail, series).
///
/// # Errors
/// Loki's parse error, or a `simulator:` message for a pipeline.
pub(crate) fn parse_selector(q: &str) -> Result<Vec<Matcher>, String> {
    let query = parse_query(q)?;
    if !query.is_selector() {
        return Err(format!(
            "simulator: only stream selectors are simulated here, not the pipeline of {q:?}"
        ));
    }
    Ok(query.matchers)
}

struct Reader {
    chars: Vec<char>,
    i: usize,
}

impl Reader {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.i).copied()
    }

    fn peek_at(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.i + ahead).copied()
    }

    fn rest(&self) -> String {
        self.chars[self.i.min(self.chars.len())..].iter().collect()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.i += 1;
        }
    }

    fn unexpected(&self, expecting: &str) -> String {
        let got = match self.peek() {
            None => "$end".to_owned(),
            Some(c) => c.to_string(),
        };
        syntax_error(self.i + 1, &format!("unexpected {got}{expecting}"))
    }

    fn identifier(&mut self) -> Result<String, String> {
        let begin = self.i;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            self.i += 1;
        }
        if begin == self.i || self.chars[begin].is_ascii_digit() {
            return Err(self.unexpected(", expecting IDENTIFIER"));
        }
        Ok(self.chars[begin..self.i].iter().collect())
    }

    fn matcher_op(&mut self) -> Result<Op, String> {
        let op = match (self.peek(), self.peek_at(1)) {
            (Some('='), Some('~')) => Op::Re,
            (Some('!'), Some('~')) => Op::NotRe,
            (Some('!'), Some('=')) => Op::Ne,
            (Some('='), _) => Op::Eq,
            _ => return Err(self.unexpected(", expecting = or != or =~ or !~")),
        };
        self.i += if op == Op::Eq { 1 } else { 2 };
        Ok(op)
    }

    /// A string literal: `"…"` with Go's escapes, or a raw `` `…` ``.
    fn string(&mut self) -> Result<String, String> {
        match self.peek() {
            Some('"') => {
                self.i += 1;
                let mut v = String::new();
                loop {
                    match self.peek() {
                        None | Some('\n') => {
                            return Err(syntax_error(self.i + 1, "literal not terminated"));
                        }
                        Some('"') => break,
                        Some('\\') => {
                            self.i += 1;
                            v.push(self.escape()?);
                            continue;
                        }
                        Some(c) if c.is_control() && c != '\t' => {
                            return Err(syntax_error(self.i + 1, "invalid syntax"));
                        }
                        Some(c) => v.push(c),
                    }
                    self.i += 1;
                }
                self.i += 1;
                Ok(v)
            }
            Some('`') => {
                self.i += 1;
                let begin = self.i;
                while self.peek().is_some_and(|c| c != '`') {
                    self.i += 1;
                }
                if self.peek().is_none() {
                    return Err(syntax_error(self.i + 1, "literal not terminated"));
                }
                self.i += 1;
                Ok(self.chars[begin..self.i - 1].iter().collect())
            }
            _ => Err(self.unexpected(", expecting STRING")),
        }
    }

    /// One escape of a Go double-quoted string (`strconv.Unquote`); the reader is just after
    /// the backslash, and ends after the escape.
    fn escape(&mut self) -> Result<char, String> {
        let invalid = |at: usize| syntax_error(at + 1, "invalid syntax");
        let Some(c) = self.peek() else {
            return Err(invalid(self.i));
        };
        let at = self.i;
        self.i += 1;
        let simple = match c {
            'a' => Some('\u{7}'),
            'b' => Some('\u{8}'),
            'f' => Some('\u{c}'),
            'n' => Some('\n'),
            'r' => Some('\r'),
            't' => Some('\t'),
            'v' => Some('\u{b}'),
            '\\' => Some('\\'),
            '"' => Some('"'),
            _ => None,
        };
        if let Some(s) = simple {
            return Ok(s);
        }
        let (digits, radix) = match c {
            'x' => (2, 16),
            'u' => (4, 16),
            'U' => (8, 16),
            '0'..='7' => {
                self.i -= 1;
                (3, 8)
            }
            _ => return Err(invalid(at)),
        };
        let text: String = self.chars.iter().skip(self.i).take(digits).collect();
        if text.chars().count() != digits {
            return Err(invalid(at));
        }
        let value = u32::from_str_radix(&text, radix).map_err(|_| invalid(at))?;
        if c == 'x' || radix == 8 {
            // A byte value; only ASCII makes a whole character on its own.
            if value > 0x7f {
                return Err(format!(
                    "simulator: byte escapes above \\x7f are not simulated ({text})"
                ));
            }
        }
        self.i += digits;
        char::from_u32(value).ok_or_else(|| invalid(at))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn selector_errors_read_like_loki() {
        assert_eq!(
            parse_query(r#"{faas_function="figlet""#).unwrap_err(),
            "parse error at line 1, col 24: syntax error: unexpected $end, expecting } or ,"
        );
        assert_eq!(parse_query(r#"{app=~".*"}"#).unwrap_err(), EMPTY_MATCHERS);
        assert_eq!(parse_query(r#"{app=~"x|"}"#).unwrap_err(), EMPTY_MATCHERS);
        assert!(parse_query(r#"{app=""}"#).is_err());
        assert_eq!(
            parse_query(r#"{app=~"("}"#).unwrap_err(),
            "parse error : error parsing regexp: missing closing ): `(`"
        );
        let q = parse_query(r#"{ a = "x\"y" , b!=`z`, c=~"a.+" }"#).unwrap();
        assert_eq!(q.matchers.len(), 3);
        assert_eq!(q.matchers[0].value, "x\"y");
        assert_eq!(q.matchers[1].op, Op::Ne);
        assert!(q.matchers[2].matches(&labels(&[("c", "abc")])));
        assert!(
            !q.matchers[2].matches(&labels(&[("c", "xabc")])),
            "anchored"
        );
    }

    #[test]
    fn strings_unquote_like_go() {
        let q = parse_query(r#"{a="\x41\u00e9\101\t\\"}"#).unwrap();
        assert_eq!(q.matchers[0].value, "AéA\t\\");
        assert!(
            parse_query(r#"{a="\q"}"#)
                .unwrap_err()
                .contains("invalid syntax")
        );
        assert!(
            parse_query("{a=\"x\ny\"}")
                .unwrap_err()
                .contains("literal not terminated")
        );
    }

    #[test]
    fn pipelines_filter_lines_and_labels() {
        let q = parse_query(
            r#"{app="a"} |= "b" != "c" |~ "d+" !~ "^x" | stream="stdout" | detected_level !~ "(?i:info|debug)""#,
        )
        .unwrap();
        let p = q.pipeline().unwrap();
        let out = labels(&[("app", "a"), ("stream", "stdout")]);
        let info = labels(&[("detected_level", "INFO")]);
        let none = Labels::new();
        assert!(p.keeps(&out, &none, "b dd"));
        assert!(!p.keeps(&out, &info, "b dd"), "detected_level is metadata");
        assert!(!p.keeps(&out, &none, "b dd c"));
        assert!(!p.keeps(&out, &none, "x b dd"));
        assert!(!p.keeps(&out, &none, "b"));
        let err = labels(&[("app", "a"), ("stream", "stderr")]);
        assert!(!p.keeps(&err, &none, "b dd"));
        // Metadata named like a stream label is `<name>_extracted`; the label wins.
        let meta = labels(&[("stream", "stdout")]);
        assert!(!p.keeps(&err, &meta, "b dd"));
        assert_eq!(label_value(&err, &meta, "stream_extracted"), "stdout");
        assert!(p.keeps(&labels(&[("app", "a")]), &meta, "b dd"));
    }

    #[test]
    fn bad_line_filter_regexes_name_their_stage() {
        let q = parse_query(r#"{app="a"} |= "x" |~ "(" | l="v" |= "y""#).unwrap();
        assert_eq!(
            q.pipeline().map(|_| ()).unwrap_err(),
            r#"parse error : stage '|= "x" |~ "("' : error parsing regexp: missing closing ): `(`"#
        );
        let q = parse_query(r#"{app="a"} |~ "a{1001}""#).unwrap();
        assert_eq!(
            q.pipeline().map(|_| ()).unwrap_err(),
            r#"parse error : stage '|~ "a{1001}"' : error parsing regexp: invalid repeat count: `{1001}`"#
        );
        assert_eq!(
            parse_query(r#"{app="a"} | detected_level=~"[""#).unwrap_err(),
            "parse error : error parsing regexp: missing closing ]: `[`"
        );
    }

    #[test]
    fn what_is_not_simulated_says_so() {
        for q in [
            r#"{app="a"} | json"#,
            r#"{app="a"} |= "x" or "y""#,
            r#"{app="a"} | a="x" or b="y""#,
            r#"{app="a"} | n > 5"#,
            r#"{app="a"} |> "<_> x""#,
            r#"{app="a"} |= ip("1.2.3.4")"#,
        ] {
            assert!(parse_query(q).unwrap_err().starts_with("simulator:"), "{q}");
        }
        assert!(
            parse_query(r#"{app="a"} |= "#)
                .unwrap_err()
                .contains("expecting STRING")
        );
    }
}
