//! Imports inside each product crate run one way: no module imports a module that imports it
//! back, directly or through others. Read from the sources: a module's imports are the
//! `crate::<module>` paths in its code (comments and its `#[cfg(test)] mod` left out), counted
//! between the crate's top-level modules (a file under `src/<module>/` belongs to `<module>`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module → the other top-level modules of the same crate it names.
type Imports = BTreeMap<String, BTreeSet<String>>;

/// The imports between the top-level modules of the crate whose sources are in `src`. The
/// crate root (`lib.rs`, `main.rs`) and `src/bin/` are left out: they declare and wire the
/// modules.
fn imports(src: &Path) -> Imports {
    let mut files = Vec::new();
    collect_rs(src, &mut files);
    let mut code_of: BTreeMap<String, String> = BTreeMap::new();
    for file in files {
        let Ok(rel) = file.strip_prefix(src) else {
            continue;
        };
        let mut parts = rel.components().map(|c| c.as_os_str().to_string_lossy());
        let Some(first) = parts.next() else { continue };
        let module = first.trim_end_matches(".rs").to_owned();
        if matches!(module.as_str(), "lib" | "main" | "bin") {
            continue;
        }
        let text =
            std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let code = code_of.entry(module).or_default();
        code.push_str(&without_tests_and_comments(&text));
        code.push('\n');
    }
    let modules: BTreeSet<String> = code_of.keys().cloned().collect();
    code_of
        .iter()
        .map(|(module, code)| {
            let named = crate_paths(code)
                .into_iter()
                .filter(|m| m != module && modules.contains(m))
                .collect();
            (module.clone(), named)
        })
        .collect()
}

fn collect_rs(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_rs(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `text` without `//` comments (doc comments name modules in links without importing them)
/// and from its first `#[cfg(test)]` that introduces a `mod` on.
fn without_tests_and_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if line.trim() == "#[cfg(test)]" {
            let next = lines
                .clone()
                .find(|l| !l.trim_start().starts_with("#["))
                .unwrap_or_default();
            if next.trim_start().starts_with("mod ") {
                break;
            }
        }
        let code = line.find("//").map_or(line, |at| &line[..at]);
        out.push_str(code);
        out.push('\n');
    }
    out
}

/// The first segment of every `crate::…` path in `code`, including each item of a
/// `crate::{a::X, b}` group.
fn crate_paths(code: &str) -> BTreeSet<String> {
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut found = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        let after = &code[at + "crate::".len()..];
        if let Some(group) = after.strip_prefix('{') {
            let mut depth = 1usize;
            let mut item_start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    ',' if depth == 1 => item_start = true,
                    c if c.is_whitespace() => {}
                    _ if item_start && depth == 1 => {
                        item_start = false;
                        let name = ident(&group[i..]);
                        if !name.is_empty() {
                            found.insert(name);
                        }
                    }
                    _ => {}
                }
            }
        } else {
            let name = ident(after);
            if !name.is_empty() {
                found.insert(name);
            }
        }
    }
    found
}

/// Every cycle of `imports`, each once, as `a → b → … → a`.
fn cycles(imports: &Imports) -> Vec<String> {
    fn walk(imports: &Imports, start: &str, path: &mut Vec<String>, out: &mut BTreeSet<String>) {
        let Some(last) = path.last().cloned() else {
            return;
        };
        for next in imports.get(&last).into_iter().flatten() {
            if next == start {
                out.insert(format!("{} → {start}", path.join(" → ")));
            } else if next.as_str() > start && !path.contains(next) {
                path.push(next.clone());
                walk(imports, start, path, out);
                path.pop();
            }
        }
    }
    let mut out = BTreeSet::new();
    for start in imports.keys() {
        walk(imports, start, &mut vec![start.clone()], &mut out);
    }
    out.into_iter().collect()
}

#[test]
fn no_module_of_a_product_crate_imports_a_module_that_imports_it_back() {
    let crates = crate::support::workspace_root().join("crates");
    let mut problems = Vec::new();
    let mut checked = 0;
    let entries = std::fs::read_dir(&crates).unwrap_or_else(|e| panic!("{e}"));
    for entry in entries.flatten() {
        let src = entry.path().join("src");
        if !src.is_dir() {
            continue;
        }
        let imports = imports(&src);
        assert!(
            imports.values().any(|named| !named.is_empty()),
            "{}: no imports between modules found; the reader is broken",
            src.display()
        );
        checked += 1;
        let name = entry.file_name().to_string_lossy().into_owned();
        problems.extend(cycles(&imports).into_iter().map(|c| format!("{name}: {c}")));
    }
    assert_eq!(checked, 4, "logs-api and the three backends");
    assert!(
        problems.is_empty(),
        "imports that come back:\n  {}",
        problems.join("\n  ")
    );
}

/// The reader and the cycle finder themselves, on a crate made up for it: the check above
/// can fail.
#[test]
fn the_check_finds_circles_and_ignores_comments_and_tests() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let src = dir.path();
    let write = |name: &str, text: &str| {
        let path = src.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{e}"));
        }
        std::fs::write(path, text).unwrap_or_else(|e| panic!("{e}"));
    };
    write("lib.rs", "mod a; mod b; mod c; mod d;\nuse crate::a::A;\n");
    write("a.rs", "use crate::{b::B, d};\n/// See [`crate::c::C`].\n");
    write("b.rs", "pub(crate) fn f() -> crate::c::C { todo!() }\n");
    write("c/mod.rs", "mod inner;\n");
    write("c/inner.rs", "use crate::a::A; // back to a\n");
    write(
        "d.rs",
        "pub fn d() {}\n#[cfg(test)]\n#[allow(dead_code)]\nmod tests {\n    use crate::a::A;\n}\n",
    );
    let found = imports(src);
    assert_eq!(found["a"], BTreeSet::from(["b".to_owned(), "d".to_owned()]));
    assert_eq!(found["b"], BTreeSet::from(["c".to_owned()]));
    assert_eq!(found["c"], BTreeSet::from(["a".to_owned()]));
    assert!(
        found["d"].is_empty(),
        "a test module's imports do not count"
    );
    assert!(!found.contains_key("lib"));
    assert_eq!(cycles(&found), vec!["a → b → c → a".to_owned()]);
}
