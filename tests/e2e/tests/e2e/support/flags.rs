//! A binary's `--help` and the docs' flag tables, read and compared, so that docs and flags
//! cannot drift apart.
//!
//! The docs: `docs/configuration.md` (the server flags every binary takes, and sections naming
//! one binary, e.g. `logs-demo`) and `docs/backends/{journald,kubernetes,loki}.md` (one
//! backend's flags). A flag table is a Markdown table whose header has a `flag` column and an
//! `env` column (and usually `default`); its rows read like
//!
//! ```text
//! | `--port` | `FAAS_LOGS_PORT` | `8080` | port to listen on |
//! | `--basic-auth[=true\|false]` | `basic_auth` | `false` | … |
//! | — | `RUST_LOG` | `info` | a variable without a flag |
//! ```
//!
//! The `--help` output is clap's long help: one entry per option (`      --port <PORT>`) and its
//! description on the lines after, ending in `[env: FAAS_LOGS_PORT=] [default: 8080]`.

use std::collections::BTreeMap;
use std::path::Path;

use crate::support::binaries::Binary;

/// One option of a `--help` output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HelpOption {
    /// The long flag, with its dashes: `--port`.
    pub flag: String,
    /// The variable it reads (`[env: NAME=]`).
    pub env: Option<String>,
    /// Its default (`[default: VALUE]`).
    pub default: Option<String>,
    /// Its description, `[env: …]` and `[default: …]` included.
    pub description: String,
}

/// Reads the options of a clap long help (`--help`) output.
pub fn parse_help(help: &str) -> Vec<HelpOption> {
    let mut entries: Vec<(String, String)> = Vec::new();
    for line in help.lines() {
        let trimmed = line.trim_start();
        let indented = line.len() > trimmed.len();
        let head = trimmed
            .strip_prefix('-')
            .filter(|_| indented)
            .and_then(|rest| {
                // `-h, --help` or `--port <PORT>`.
                let rest = rest.split_once(", -").map_or(rest, |(_, long)| long);
                rest.strip_prefix('-')
            });
        match head {
            Some(long) => {
                let flag: String = long
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                    .collect();
                entries.push((format!("--{flag}"), String::new()));
            }
            None => {
                if let Some((_, description)) = entries.last_mut()
                    && indented
                {
                    description.push(' ');
                    description.push_str(trimmed);
                }
            }
        }
    }
    entries
        .into_iter()
        .map(|(flag, description)| HelpOption {
            flag,
            env: bracketed(&description, "[env: ")
                .map(|e| e.split('=').next().unwrap_or_default().to_owned()),
            default: bracketed(&description, "[default: ").map(str::to_owned),
            description,
        })
        .collect()
}

/// The text between `open` and the next `]` in `text`.
fn bracketed<'a>(text: &'a str, open: &str) -> Option<&'a str> {
    let start = text.find(open)? + open.len();
    let len = text[start..].find(']')?;
    Some(&text[start..start + len])
}

/// One row of a flag table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocFlag {
    /// `file:line`, for messages.
    pub at: String,
    /// The heading the table is under.
    pub section: String,
    /// The flag the row documents (`--port`), or `None` for a variable without a flag.
    pub flag: Option<String>,
    /// The variable it documents (the `env` column's code span).
    pub env: Option<String>,
    /// The `default` column's code span; `None` when it says `none`, `unset` or other prose.
    pub default: Option<String>,
    /// Every `--flag` the row mentions, in any column.
    pub mentioned_flags: Vec<String>,
}

/// What one Markdown file documents: flag table rows and `FAAS_LOGS_*` mentions, each under its
/// section heading.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Documented {
    /// The rows of every flag table.
    pub rows: Vec<DocFlag>,
    /// (section, `file:line`, variable) for every `FAAS_LOGS_*` name anywhere in the text,
    /// wildcards (`FAAS_LOGS_KUBE_*`) left out.
    pub env_mentions: Vec<(String, String, String)>,
}

/// Splits a Markdown table row into its cells; `\|` is a pipe inside a cell.
fn cells(row: &str) -> Vec<String> {
    let inner = row.trim().trim_start_matches('|');
    let inner = inner.strip_suffix('|').unwrap_or(inner);
    let mut cells = Vec::new();
    let mut cell = String::new();
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                chars.next();
                cell.push('|');
            }
            '|' => cells.push(std::mem::take(&mut cell)),
            c => cell.push(c),
        }
    }
    cells.push(cell);
    cells.into_iter().map(|c| c.trim().to_owned()).collect()
}

fn is_separator(row: &str) -> bool {
    let cells = cells(row);
    row.trim_start().starts_with('|')
        && cells
            .iter()
            .all(|c| !c.is_empty() && c.chars().all(|ch| matches!(ch, '-' | ':' | ' ')))
}

/// The first code span (`` `x` ``) of `text`.
fn code_span(text: &str) -> Option<String> {
    let start = text.find('`')? + 1;
    let len = text[start..].find('`')?;
    Some(text[start..start + len].to_owned())
}

/// Every `--long-flag` token in `text`.
fn flag_tokens(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(at) = text[i..].find("--") {
        let start = i + at;
        let before_ok =
            start == 0 || !(bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'-');
        let name: String = text[start + 2..]
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')
            .collect();
        let name = name.trim_end_matches('-');
        if before_ok && name.starts_with(|c: char| c.is_ascii_lowercase()) {
            found.push(format!("--{name}"));
        }
        i = start + 2 + name.len();
    }
    found
}

/// Every `FAAS_LOGS_*` name in `text`, wildcards (`FAAS_LOGS_KUBE_*`) left out.
fn env_tokens(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut i = 0;
    while let Some(at) = text[i..].find("FAAS_LOGS_") {
        let start = i + at;
        let name: String = text[start..]
            .chars()
            .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
            .collect();
        let end = start + name.len();
        let wildcard = text[end..].starts_with('*') || name.ends_with('_');
        if !wildcard {
            found.push(name.clone());
        }
        i = end;
    }
    found
}

/// Reads the flag tables and `FAAS_LOGS_*` mentions of Markdown `text` from file `file`.
///
/// # Errors
/// A flag table without a code span in a row's `env` column where its `flag` column names a
/// flag would be unreadable: such a row is an error, so is a table whose rows have fewer cells
/// than its header.
pub fn parse_doc(file: &str, text: &str) -> Result<Documented, String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut documented = Documented::default();
    let mut section = String::new();
    let mut in_code_block = false;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let at = format!("{file}:{}", i + 1);
        if line.trim_start().starts_with("```") {
            in_code_block = !in_code_block;
        } else if !in_code_block && line.starts_with('#') {
            section = line.trim_start_matches('#').trim().to_owned();
        }
        for env in env_tokens(line) {
            documented
                .env_mentions
                .push((section.clone(), at.clone(), env));
        }
        let table_start = !in_code_block
            && line.trim_start().starts_with('|')
            && lines.get(i + 1).is_some_and(|next| is_separator(next));
        if !table_start {
            i += 1;
            continue;
        }
        let header: Vec<String> = cells(line).iter().map(|c| c.to_lowercase()).collect();
        let column = |names: &[&str]| header.iter().position(|h| names.contains(&h.as_str()));
        let flag_col = column(&["flag", "flags", "option"]);
        let env_col = column(&["env", "environment", "variable", "env var"]);
        let default_col = column(&["default"]);
        i += 2;
        while i < lines.len() && lines[i].trim_start().starts_with('|') {
            let row_text = lines[i];
            let at = format!("{file}:{}", i + 1);
            for env in env_tokens(row_text) {
                documented
                    .env_mentions
                    .push((section.clone(), at.clone(), env));
            }
            if let (Some(flag_col), Some(env_col)) = (flag_col, env_col) {
                let row = cells(row_text);
                if row.len() < header.len() {
                    return Err(format!(
                        "{at}: {} cells, the header has {}",
                        row.len(),
                        header.len()
                    ));
                }
                let flag = flag_tokens(&row[flag_col]).into_iter().next();
                let env = code_span(&row[env_col]);
                if flag.is_some() && env.is_none() && !row[env_col].trim().is_empty() {
                    return Err(format!(
                        "{at}: the env column {:?} has no `NAME`",
                        row[env_col]
                    ));
                }
                documented.rows.push(DocFlag {
                    at: at.clone(),
                    section: section.clone(),
                    flag,
                    env,
                    default: default_col.and_then(|c| code_span(&row[c])),
                    mentioned_flags: row.iter().flat_map(|c| flag_tokens(c)).collect(),
                });
            }
            i += 1;
        }
    }
    Ok(documented)
}

/// The docs that document `binary`'s flags, relative to the workspace root: the server flags,
/// and its backend's page.
pub fn docs_of(binary: Binary) -> Vec<&'static str> {
    let mut docs = vec!["docs/configuration.md"];
    match binary {
        Binary::Journald => docs.push("docs/backends/journald.md"),
        Binary::Kubernetes => docs.push("docs/backends/kubernetes.md"),
        Binary::Loki => docs.push("docs/backends/loki.md"),
        Binary::Demo => {}
    }
    docs
}

/// Whether a section of `docs/configuration.md` is about `binary`: one whose heading names a
/// binary is about that one only; the others (the server flags) are about every binary.
fn section_applies(section: &str, binary: Binary) -> bool {
    let named: Vec<Binary> = Binary::ALL
        .iter()
        .copied()
        .filter(|b| section.contains(b.name()))
        .collect();
    named.is_empty() || named.contains(&binary)
}

/// Every disagreement between `binary`'s `--help` and its docs (`docs_of`, read under `root`):
/// a documented flag or variable `--help` lacks, a flag whose variable or default differs, a
/// `FAAS_LOGS_*` variable the docs name that the binary does not read, and a flag of `--help`
/// no flag table documents. Empty when they agree.
///
/// # Errors
/// A doc that cannot be read or parsed.
///
/// `hidden` names flags and variables the binary reads but `--help` does not show (old names
/// kept for compatibility, `hide = true`): the docs may mention them. The caller proves each
/// is read.
pub fn drift(
    binary: Binary,
    help: &str,
    root: &Path,
    hidden: &[&str],
) -> Result<Vec<String>, String> {
    let options = parse_help(help);
    let by_flag: BTreeMap<&str, &HelpOption> =
        options.iter().map(|o| (o.flag.as_str(), o)).collect();
    let help_envs: Vec<&str> = options.iter().filter_map(|o| o.env.as_deref()).collect();
    let name = binary.name();
    let mut problems = Vec::new();
    let mut documented_flags = Vec::new();
    for doc in docs_of(binary) {
        let text = std::fs::read_to_string(root.join(doc)).map_err(|e| format!("{doc}: {e}"))?;
        let parsed = parse_doc(doc, &text)?;
        for row in parsed
            .rows
            .iter()
            .filter(|r| section_applies(&r.section, binary))
        {
            let at = &row.at;
            match &row.flag {
                Some(flag) => {
                    documented_flags.push(flag.clone());
                    let Some(option) = by_flag.get(flag.as_str()) else {
                        problems.push(format!(
                            "{at}: {flag} is documented, `{name} --help` has no such flag"
                        ));
                        continue;
                    };
                    if option.env != row.env {
                        problems.push(format!(
                            "{at}: {flag} reads {:?} say the docs, {:?} says `{name} --help`",
                            row.env, option.env
                        ));
                    }
                    let help_default = option.default.as_ref().map(|d| d.replace(' ', ","));
                    let doc_default = row.default.as_ref().map(|d| d.replace(", ", ","));
                    // A default applied by the program rather than by clap (an `Option` flag
                    // with a hidden alias, say) is said in the description: "default 1s".
                    let said = match (&option.default, &row.default) {
                        (None, Some(d)) => option.description.contains(&format!("default {d}")),
                        _ => false,
                    };
                    if help_default != doc_default && !said {
                        problems.push(format!(
                            "{at}: {flag} defaults to {:?} say the docs, {:?} says `{name} --help`",
                            row.default, option.default
                        ));
                    }
                }
                None => {
                    if let Some(env) = &row.env
                        && !help.contains(env.as_str())
                    {
                        problems.push(format!(
                            "{at}: {env} is documented, `{name} --help` never mentions it"
                        ));
                    }
                }
            }
            for mentioned in &row.mentioned_flags {
                if !by_flag.contains_key(mentioned.as_str())
                    && !hidden.contains(&mentioned.as_str())
                {
                    problems.push(format!(
                        "{at}: the table mentions {mentioned}, `{name} --help` has no such flag"
                    ));
                }
            }
        }
        for (section, at, env) in &parsed.env_mentions {
            if section_applies(section, binary)
                && !help_envs.contains(&env.as_str())
                && !hidden.contains(&env.as_str())
            {
                problems.push(format!(
                    "{at}: {env} is named, `{name}` reads no such variable (`--help`)"
                ));
            }
        }
    }
    for option in &options {
        let builtin = ["--help", "--version"].contains(&option.flag.as_str());
        if !builtin && !documented_flags.contains(&option.flag) {
            problems.push(format!(
                "{} of `{name} --help` is in no flag table of {}",
                option.flag,
                docs_of(binary).join(", ")
            ));
        }
    }
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HELP: &str = "\
Usage: logs-x [OPTIONS]

Options:
      --port <PORT>
          Port to listen on [env: FAAS_LOGS_PORT=] [default: 8080]
      --basic-auth [<BASIC_AUTH>]
          Require basic auth (OpenFaaS' `basic_auth=true`) [env: basic_auth=] [default: false] [possible values: true, false]
      --journal-dir <JOURNAL_DIRS>
          Journal directories
          to read [env: FAAS_LOGS_JOURNALD_JOURNAL_DIR=/set/here] [default: /var/log/journal /run/log/journal]
      --tls-key <TLS_KEY>
          PEM private key for --tls-cert [env: FAAS_LOGS_TLS_KEY=]
  -h, --help
          Print help
";

    #[test]
    fn help_options_with_their_variables_and_defaults() {
        let options = parse_help(HELP);
        let flags: Vec<&str> = options.iter().map(|o| o.flag.as_str()).collect();
        assert_eq!(
            flags,
            [
                "--port",
                "--basic-auth",
                "--journal-dir",
                "--tls-key",
                "--help"
            ]
        );
        assert_eq!(options[0].env.as_deref(), Some("FAAS_LOGS_PORT"));
        assert_eq!(options[0].default.as_deref(), Some("8080"));
        assert_eq!(options[1].env.as_deref(), Some("basic_auth"));
        // A value set in the environment shows after the `=`; the name is what counts.
        assert_eq!(
            options[2].env.as_deref(),
            Some("FAAS_LOGS_JOURNALD_JOURNAL_DIR")
        );
        assert_eq!(
            options[2].default.as_deref(),
            Some("/var/log/journal /run/log/journal")
        );
        assert_eq!(options[3].default, None);
        assert_eq!(options[4].env, None);
    }

    const DOC: &str = "\
# Config

| flag | env | default | meaning |
|---|---|---|---|
| `--port` | `FAAS_LOGS_PORT` | `8080` | port; see `--tls-key` |
| `--basic-auth[=true\\|false]` | `basic_auth` | `false` | auth |
| — | `RUST_LOG` | `info` | log filter |
| `--tls-key` | `FAAS_LOGS_TLS_KEY` | none | key |

Set `FAAS_LOGS_PORT=8082`; every `FAAS_LOGS_KUBE_*` variable is a flag.

```sh
# not a heading
FAAS_LOGS_IN_CODE=1
```

## `logs-demo` (sample)

| query | ours | journalctl |
|---|---|---|
| `--lines=100` | 1 ms | 40 ms |

| Flag | Env | Default | Meaning |
|:--|:--|--:|---|
| `--interval` | `FAAS_LOGS_DEMO_INTERVAL` | `1s` | tick |
";

    #[test]
    fn flag_tables_rows_sections_and_mentions() {
        let doc = parse_doc("c.md", DOC).unwrap_or_else(|e| panic!("{e}"));
        type Row<'a> = (Option<&'a str>, Option<&'a str>, Option<&'a str>, &'a str);
        let rows: Vec<Row<'_>> = doc
            .rows
            .iter()
            .map(|r| {
                (
                    r.flag.as_deref(),
                    r.env.as_deref(),
                    r.default.as_deref(),
                    r.section.as_str(),
                )
            })
            .collect();
        assert_eq!(
            rows,
            [
                (
                    Some("--port"),
                    Some("FAAS_LOGS_PORT"),
                    Some("8080"),
                    "Config"
                ),
                (
                    Some("--basic-auth"),
                    Some("basic_auth"),
                    Some("false"),
                    "Config"
                ),
                (None, Some("RUST_LOG"), Some("info"), "Config"),
                (Some("--tls-key"), Some("FAAS_LOGS_TLS_KEY"), None, "Config"),
                (
                    Some("--interval"),
                    Some("FAAS_LOGS_DEMO_INTERVAL"),
                    Some("1s"),
                    "`logs-demo` (sample)"
                ),
            ]
        );
        assert_eq!(doc.rows[0].mentioned_flags, ["--port", "--tls-key"]);
        assert_eq!(doc.rows[0].at, "c.md:5");
        // The benchmark table (no flag and env columns) documents no flag.
        assert!(
            !doc.rows
                .iter()
                .any(|r| r.mentioned_flags.contains(&"--lines".to_owned()))
        );
        let envs: Vec<&str> = doc
            .env_mentions
            .iter()
            .map(|(_, _, e)| e.as_str())
            .collect();
        assert_eq!(
            envs,
            [
                "FAAS_LOGS_PORT",
                "FAAS_LOGS_TLS_KEY",
                "FAAS_LOGS_PORT",
                "FAAS_LOGS_IN_CODE",
                "FAAS_LOGS_DEMO_INTERVAL"
            ]
        );
        assert!(section_applies("Config", Binary::Loki));
        assert!(section_applies("`logs-demo` (sample)", Binary::Demo));
        assert!(!section_applies("`logs-demo` (sample)", Binary::Journald));
    }

    #[test]
    fn a_flag_row_without_a_variable_name_is_an_error() {
        let doc = "| flag | env |\n|---|---|\n| `--port` | port env |\n";
        let err = parse_doc("d.md", doc).err().unwrap_or_default();
        assert!(err.starts_with("d.md:3"), "{err}");
        let doc = "| flag | env | default |\n|---|---|---|\n| `--port` | `P` |\n";
        assert!(parse_doc("d.md", doc).is_err(), "a short row");
    }

    #[test]
    fn tokens() {
        assert_eq!(
            flag_tokens("`--a-b`, --c=1, x--y, --Upper, ---, `--d[=true\\|false]`"),
            ["--a-b", "--c", "--d"]
        );
        assert_eq!(
            env_tokens("FAAS_LOGS_A, `FAAS_LOGS_KUBE_*`, FAAS_LOGS_B_2=x, FAAS_LOGS_"),
            ["FAAS_LOGS_A", "FAAS_LOGS_B_2"]
        );
    }
}
