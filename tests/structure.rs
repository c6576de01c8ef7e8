//! The library's modules import one another without a circle: between the top-level modules of `src/` (a file or a
//! folder each), and between the files and folders of any one folder. An edge `a -> b` is a path in `a`'s code
//! outside `#[cfg(test)]` (a `use`, or a path such as `crate::x::y` or `super::y` in the code) that names `b` or an
//! item `b` defines; an item a module re-exports with `pub use` counts as the defining module's. A folder's own
//! `mod.rs` (or `x.rs` beside `x/`), which declares its files, is left out of the comparison of its files. The
//! binary (`main.rs`, `cli/`) is left out. Run `cargo test --test tests structure` to check.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module by its path from the crate root (`["model", "config"]`).
type Module = Vec<String>;

/// The library's modules and their files.
fn modules(src: &Path) -> BTreeMap<Module, PathBuf> {
    let mut out = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().and_then(|e| e.to_str()) != Some("rs") {
                continue;
            }
            let rel = path
                .strip_prefix(src)
                .expect("under src")
                .with_extension("");
            let mut parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if parts == ["main"] || parts[0] == "cli" {
                continue;
            }
            if parts == ["lib"] || parts.last().map(String::as_str) == Some("mod") {
                parts.pop();
            }
            out.insert(parts, path);
        }
    }
    out
}

/// The code without comments, string and character literals, and `#[cfg(test)]` items.
fn code(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        let word_before = i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_');
        if b[i..].starts_with(b"//") {
            i = text[i..].find('\n').map_or(b.len(), |n| i + n);
        } else if b[i..].starts_with(b"/*") {
            i = text[i + 2..].find("*/").map_or(b.len(), |n| i + 2 + n + 2);
        } else if !word_before && b[i] == b'r' && raw_string_hashes(&b[i + 1..]).is_some() {
            let hashes = raw_string_hashes(&b[i + 1..]).unwrap_or(0);
            let close = format!("\"{}", "#".repeat(hashes));
            let start = i + 2 + hashes;
            i = text[start..]
                .find(&close)
                .map_or(b.len(), |n| start + n + close.len());
            out.push_str("\"\"");
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if b[i] == b'\'' && char_literal_len(&b[i..]).is_some() {
            i += char_literal_len(&b[i..]).unwrap_or(1);
            out.push_str("' '");
        } else {
            let c = text[i..].chars().next().expect("char");
            out.push(c);
            i += c.len_utf8();
        }
    }
    without_test_items(&out)
}

/// The `#`s of a raw string whose `r` stands before `b` (`r"`, `r#"`), or None (a raw identifier, a name).
fn raw_string_hashes(b: &[u8]) -> Option<usize> {
    let hashes = b.iter().take_while(|&&c| c == b'#').count();
    (b.get(hashes) == Some(&b'"')).then_some(hashes)
}

/// The length of a character literal at the start of `b` (`'a'`, `'\n'`, `'\''`, `'\u{1F600}'`), or None for a
/// lifetime.
fn char_literal_len(b: &[u8]) -> Option<usize> {
    if b.get(1) == Some(&b'\\') {
        let close = if b.get(2) == Some(&b'u') {
            b.iter().position(|&c| c == b'}')? + 1
        } else {
            3
        };
        return (b.get(close) == Some(&b'\'')).then_some(close + 1);
    }
    let s = std::str::from_utf8(b).ok()?;
    let mut chars = s.chars();
    chars.next();
    let c = chars.next()?;
    (chars.next() == Some('\'')).then_some(2 + c.len_utf8())
}

/// `text` without the items marked `#[cfg(test)]` (up to their `;` or their closing brace).
fn without_test_items(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let after = &rest[at..];
        let semi = after.find(';');
        let brace = after.find('{');
        let end = match (semi, brace) {
            (Some(s), Some(b)) if s < b => s + 1,
            (_, Some(b)) => {
                let mut depth = 0;
                let mut end = after.len();
                for (i, c) in after[b..].char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                end = b + i + 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                end
            }
            (Some(s), None) => s + 1,
            (None, None) => after.len(),
        };
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// The paths a `use` tree names: `a::{b, c::{d, self}}` gives `a::b`, `a::c::d` and `a::c`.
fn use_paths(tree: &str) -> Vec<String> {
    // `x as y` keeps `x`; `@` stands for ` as ` once the spaces are gone.
    let tree = tree.split_whitespace().collect::<Vec<_>>().join(" ");
    let tree: String = tree.replace(" as ", "@").replace(' ', "");
    let Some(open) = tree.find('{') else {
        let path = tree.split('@').next().unwrap_or(&tree);
        return vec![path.trim_end_matches("::").to_string()];
    };
    let prefix = &tree[..open];
    let inner = &tree[open + 1..tree.len().saturating_sub(1)];
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .filter(|p| !p.is_empty())
        .flat_map(|p| match p {
            "self" => vec![prefix.trim_end_matches("::").to_string()],
            _ => use_paths(&format!("{prefix}{p}")),
        })
        .collect()
}

/// Every `use` tree of `code`, and whether it is a re-export (`pub use`, `pub(...) use`).
fn use_trees(code: &str) -> Vec<(bool, String)> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(at) = find_word(rest, "use") {
        let before = rest[..at].trim_end();
        let public = before.ends_with("pub")
            || before.ends_with(')')
                && before
                    .rfind('(')
                    .is_some_and(|open| before[..open].trim_end().ends_with("pub"));
        let after = &rest[at + 3..];
        let end = after.find(';').unwrap_or(after.len());
        out.push((public, after[..end].to_string()));
        rest = &after[end..];
    }
    out
}

/// The position of `word` standing alone in `text`.
fn find_word(text: &str, word: &str) -> Option<usize> {
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut from = 0;
    while let Some(n) = text[from..].find(word) {
        let at = from + n;
        let before = text[..at].chars().next_back().is_none_or(|c| !ident(c));
        let after = text[at + word.len()..]
            .chars()
            .next()
            .is_none_or(|c| !ident(c));
        if before && after {
            return Some(at);
        }
        from = at + word.len();
    }
    None
}

/// Paths written in code outside `use`: `a::b::c`, not preceded by `::`.
fn code_paths(code: &str) -> Vec<String> {
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    let chars: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let starts = ident(chars[i])
            && (i == 0 || !(ident(chars[i - 1]) || chars[i - 1] == ':'))
            && !chars[i].is_ascii_digit();
        if !starts {
            i += 1;
            continue;
        }
        let mut j = i;
        let mut path = String::new();
        loop {
            let s = j;
            while j < chars.len() && ident(chars[j]) {
                j += 1;
            }
            path.extend(&chars[s..j]);
            if j + 2 < chars.len() && chars[j] == ':' && chars[j + 1] == ':' && ident(chars[j + 2])
            {
                path.push_str("::");
                j += 2;
            } else {
                break;
            }
        }
        if path.contains("::") {
            out.push(path);
        }
        i = j.max(i + 1);
    }
    out
}

/// The module-path graph of the library: each module to the modules whose items its code names.
struct Graph {
    modules: BTreeMap<Module, PathBuf>,
    reexports: BTreeMap<(Module, String), (Module, String)>,
}

impl Graph {
    fn new(src: &Path) -> Self {
        let modules = modules(src);
        let mut graph = Graph {
            modules,
            reexports: BTreeMap::new(),
        };
        let mut reexports = BTreeMap::new();
        for (m, file) in &graph.modules {
            let code = code(&std::fs::read_to_string(file).expect("read"));
            for (public, tree) in use_trees(&code) {
                if !public {
                    continue;
                }
                for path in use_paths(&tree) {
                    let name = path.rsplit("::").next().unwrap_or(&path).to_string();
                    if name == "*" || name == "self" {
                        continue;
                    }
                    reexports.insert((m.clone(), name), (m.clone(), path));
                }
            }
        }
        graph.reexports = reexports;
        graph
    }

    /// The module that defines what `path`, written in module `m`, names (None for other crates).
    fn owner(&self, m: &Module, path: &str, depth: usize) -> Option<Module> {
        let segs: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
        let first = *segs.first()?;
        let (mut cur, mut rest): (Module, &[&str]) = match first {
            "crate" => (Vec::new(), &segs[1..]),
            "super" | "self" => {
                let mut cur = m.clone();
                let mut n = 0;
                while n < segs.len() && matches!(segs[n], "super" | "self") {
                    if segs[n] == "super" {
                        cur.pop();
                    }
                    n += 1;
                }
                (cur, &segs[n..])
            }
            _ => {
                let mut child = m.clone();
                child.push(first.to_string());
                if !self.modules.contains_key(&child) {
                    return None;
                }
                (m.clone(), &segs[..])
            }
        };
        while let Some((s, tail)) = rest.split_first() {
            let mut next = cur.clone();
            next.push(s.to_string());
            if !self.modules.contains_key(&next) {
                break;
            }
            cur = next;
            rest = tail;
        }
        if let Some(item) = rest.first()
            && depth < 8
            && &cur != m
            && let Some((from, target)) = self.reexports.get(&(cur.clone(), item.to_string()))
            && let Some(owner) = self.owner(from, target, depth + 1)
        {
            return Some(owner);
        }
        Some(cur)
    }

    /// Every module's edges.
    fn edges(&self) -> BTreeMap<Module, BTreeSet<Module>> {
        let mut edges = BTreeMap::new();
        for (m, file) in &self.modules {
            let code = code(&std::fs::read_to_string(file).expect("read"));
            let mut paths: Vec<String> = use_trees(&code)
                .into_iter()
                .flat_map(|(_, tree)| use_paths(&tree))
                .collect();
            paths.extend(code_paths(&code));
            let targets: BTreeSet<Module> = paths
                .iter()
                .filter_map(|p| self.owner(m, p, 0))
                .filter(|t| t != m)
                .collect();
            edges.insert(m.clone(), targets);
        }
        edges
    }
}

/// The circles of `edges` (strongly connected sets of more than one node), each as lines `a -> b, c`.
fn circles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    fn reach(edges: &BTreeMap<String, BTreeSet<String>>, from: &str) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from.to_string()];
        while let Some(n) = stack.pop() {
            for next in edges.get(&n).into_iter().flatten() {
                if seen.insert(next.clone()) {
                    stack.push(next.clone());
                }
            }
        }
        seen
    }
    let reached: BTreeMap<&String, BTreeSet<String>> =
        edges.keys().map(|n| (n, reach(edges, n))).collect();
    let mut done = BTreeSet::new();
    let mut out = Vec::new();
    for (n, from_n) in &reached {
        if done.contains(*n) || !from_n.contains(*n) {
            continue;
        }
        let circle: BTreeSet<&String> = reached
            .iter()
            .filter(|(m, from_m)| from_n.contains(**m) && from_m.contains(*n))
            .map(|(m, _)| *m)
            .collect();
        let lines: Vec<String> = circle
            .iter()
            .map(|a| {
                let to: Vec<&str> = edges[*a]
                    .iter()
                    .filter(|b| circle.contains(b))
                    .map(String::as_str)
                    .collect();
                format!("  {a} -> {}", to.join(", "))
            })
            .collect();
        out.push(lines.join("\n"));
        done.extend(circle.into_iter().cloned());
    }
    out
}

#[test]
fn no_import_circles() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = Graph::new(&src);
    let edges = graph.edges();
    let name = |m: &[String]| {
        if m.is_empty() {
            "crate".to_string()
        } else {
            m.join("::")
        }
    };
    let mut found = Vec::new();
    // Every folder (the crate root included): its files and folders, each folder taken as one node.
    let parents: BTreeSet<Module> = graph
        .modules
        .keys()
        .filter(|m| !m.is_empty())
        .map(|m| m[..m.len() - 1].to_vec())
        .collect();
    for parent in parents {
        let child = |m: &Module| -> Option<String> {
            (m.len() > parent.len() && m.starts_with(&parent)).then(|| name(&m[..=parent.len()]))
        };
        let mut level: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (a, targets) in &edges {
            let Some(ca) = child(a) else { continue };
            let entry = level.entry(ca.clone()).or_default();
            for cb in targets.iter().filter_map(child) {
                if cb != ca {
                    entry.insert(cb);
                }
            }
        }
        for circle in circles(&level) {
            found.push(format!("in {}:\n{circle}", name(&parent)));
        }
    }
    assert!(found.is_empty(), "import circles:\n{}", found.join("\n"));
}

#[test]
fn the_checker_sees_paths_and_skips_tests_and_strings() {
    let code = code(
        "use super::a::{B, c::{self, D}};\n// use crate::x;\nlet s = \"crate::y::z\";\n\
         fn f() { crate::memory::human(1) }\n#[cfg(test)]\nmod tests { use crate::w; }\n",
    );
    let trees = use_trees(&code);
    assert_eq!(trees.len(), 1, "{code}");
    assert_eq!(
        use_paths(&trees[0].1),
        ["super::a::B", "super::a::c", "super::a::c::D"]
    );
    assert_eq!(code_paths(&code), ["super::a", "crate::memory::human"]);
}

/// Every file or folder under `src/`, `tests/`, `benches/` or `docs/` that the README's map or docs/architecture.md
/// names in backticks exists: the map says where things live, so a move must update it.
#[test]
fn the_maps_name_files_that_exist() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut missing = Vec::new();
    for doc in ["README.md", "docs/architecture.md"] {
        let text = std::fs::read_to_string(root.join(doc)).expect("read the map");
        for (i, quoted) in text.split('`').enumerate() {
            let named = i % 2 == 1
                && ["src/", "tests/", "benches/", "docs/"]
                    .iter()
                    .any(|p| quoted.starts_with(p))
                && !quoted.contains(['<', '*', ' ']);
            if named && !root.join(quoted).exists() {
                missing.push(format!("{doc}: `{quoted}`"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "named but not there:\n{}",
        missing.join("\n")
    );
}
