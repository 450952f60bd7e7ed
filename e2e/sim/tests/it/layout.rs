//! The API server's modules form layers, as Go makes kube-apiserver's packages do: no
//! module imports one that imports it back, and neither do the parts under `src/`
//! (apimachinery, apis, storage, auth, encoding, discovery, state, admission, registry,
//! endpoints, server, controllers, ...) taken as wholes.
//!
//! The check reads the sources: every `crate::`, `super::`, `self::` and child-module path
//! outside comments, strings and `#[cfg(test)]` items is a dependency. The stand-ins are
//! left out (they sit on top and may use any part), and so are tests, which may build
//! their fixtures with any part.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module path ("" for the crate root, "a::b") -> its source.
fn modules(src: &Path) -> BTreeMap<String, String> {
    fn walk(dir: &Path, src: &Path, out: &mut BTreeMap<String, String>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
            .map(|e| e.expect("directory entry").path())
            .collect();
        entries.sort();
        for p in entries {
            let rel = p.strip_prefix(src).expect("under src");
            if rel.starts_with("standins") {
                continue;
            }
            if p.is_dir() {
                walk(&p, src, out);
            } else if p.extension().is_some_and(|e| e == "rs") {
                let mut segs: Vec<String> = rel
                    .with_extension("")
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                if matches!(segs.last().map(String::as_str), Some("mod" | "lib")) {
                    segs.pop();
                }
                let source =
                    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()));
                out.insert(segs.join("::"), source);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(src, src, &mut out);
    out
}

/// The code of a source file with comments, string and char literals blanked out.
fn code_only(src: &str) -> String {
    let b: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < b.len() && b[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == '/' && b.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if b[i] == '*' && b.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
        } else if c == 'r' && (next == Some('"') || next == Some('#')) && !prev_is_ident(&b, i) {
            // raw string: r"..." or r#"..."#
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                if j >= b.len() {
                    break;
                }
                if b[j] == '"' && (0..hashes).all(|k| b.get(j + 1 + k) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            out.push_str("\"\"");
            i = j;
        } else if c == '"' {
            i += 1;
            while i < b.len() && b[i] != '"' {
                if b[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == '\'' {
            // a char literal ('x', '\n', '\u{..}') or a lifetime ('a)
            if next == Some('\\') {
                i += 2;
                while i < b.len() && b[i] != '\'' {
                    i += 1;
                }
                i += 1;
                out.push_str("' '");
            } else if b.get(i + 2) == Some(&'\'') {
                i += 3;
                out.push_str("' '");
            } else {
                out.push(c);
                i += 1;
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn prev_is_ident(b: &[char], i: usize) -> bool {
    i > 0 && (b[i - 1].is_alphanumeric() || b[i - 1] == '_')
}

/// The code without `#[cfg(test)]` items.
fn without_tests(code: &str) -> String {
    let mut out = String::new();
    let mut rest = code;
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let item = &rest[at..];
        let end = match (item.find(';'), item.find('{')) {
            (Some(semi), Some(brace)) if semi < brace => semi + 1,
            (Some(semi), None) => semi + 1,
            (_, Some(brace)) => {
                let mut depth = 0;
                let mut end = item.len();
                for (k, ch) in item[brace..].char_indices() {
                    match ch {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                end = brace + k + 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                end
            }
            (None, None) => item.len(),
        };
        rest = &item[end..];
    }
    out.push_str(rest);
    out
}

/// Every path in the code that starts with an identifier and `::`, with `use` groups
/// (`a::{b, c::{d}}`) expanded.
fn paths(code: &str) -> Vec<String> {
    fn expand(prefix: &str, group: &str, out: &mut Vec<String>) {
        let mut depth = 0;
        let mut cur = String::new();
        for ch in group.chars().chain(std::iter::once(',')) {
            match ch {
                '{' => {
                    depth += 1;
                    cur.push(ch);
                }
                '}' => {
                    depth -= 1;
                    cur.push(ch);
                }
                ',' if depth == 0 => {
                    let item = cur.trim();
                    if let Some((head, inner)) = item.split_once("::{") {
                        expand(
                            &format!("{prefix}::{}", head.trim()),
                            inner.strip_suffix('}').unwrap_or(inner),
                            out,
                        );
                    } else if !item.is_empty() {
                        let item = item.split(" as ").next().unwrap_or(item).trim();
                        out.push(format!("{prefix}::{item}"));
                    }
                    cur.clear();
                }
                _ => cur.push(ch),
            }
        }
    }
    let b = code.as_bytes();
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if !(b[i].is_ascii_alphabetic() || b[i] == b'_') || (i > 0 && (ident(b[i - 1]) || b[i - 1] == b':')) {
            i += 1;
            continue;
        }
        // a path: ident(::ident)* with an optional ::{group}
        let start = i;
        let mut j = i;
        loop {
            while j < b.len() && ident(b[j]) {
                j += 1;
            }
            let rest = &code[j..];
            let trimmed = rest.trim_start();
            if let Some(after) = trimmed.strip_prefix("::") {
                let after_t = after.trim_start();
                let k = j + (rest.len() - trimmed.len()) + 2 + (after.len() - after_t.len());
                if after_t.starts_with('{') {
                    let mut depth = 0;
                    let mut end = k;
                    for (n, ch) in code[k..].char_indices() {
                        match ch {
                            '{' => depth += 1,
                            '}' => {
                                depth -= 1;
                                if depth == 0 {
                                    end = k + n;
                                    break;
                                }
                            }
                            _ => {}
                        }
                    }
                    let head: String = code[start..j].split_whitespace().collect();
                    expand(&head, &code[k + 1..end], &mut out);
                    j = end + 1;
                    break;
                } else if after_t.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
                    j = k;
                    continue;
                }
            }
            if code[start..j].contains("::") {
                out.push(code[start..j].split_whitespace().collect());
            }
            break;
        }
        i = j.max(i + 1);
    }
    out
}

/// module -> (module it uses -> one path that shows it).
type Graph = BTreeMap<String, BTreeMap<String, String>>;

fn graph(modules: &BTreeMap<String, String>) -> Graph {
    let known: BTreeSet<&str> = modules.keys().map(String::as_str).collect();
    let mut g = Graph::new();
    for (m, source) in modules {
        let deps = g.entry(m.clone()).or_default();
        for p in paths(&without_tests(&code_only(source))) {
            let segs: Vec<&str> = p.split("::").map(str::trim).collect();
            let mut base: Vec<&str> = if m.is_empty() {
                vec![]
            } else {
                m.split("::").collect()
            };
            let rest: &[&str] = match segs[0] {
                "crate" => {
                    base.clear();
                    &segs[1..]
                }
                "self" => &segs[1..],
                "super" => {
                    let ups = segs.iter().take_while(|s| **s == "super").count();
                    base.truncate(base.len().saturating_sub(ups));
                    &segs[ups..]
                }
                _ => &segs[..],
            };
            let full: Vec<&str> = base
                .iter()
                .chain(rest)
                .copied()
                .filter(|s| *s != "self")
                .collect();
            // the longest module the path names
            let Some(target) = (0..=full.len())
                .rev()
                .map(|n| full[..n].join("::"))
                .find(|c| known.contains(c.as_str()))
            else {
                continue;
            };
            // a path inside the module itself, or whose first segment is no child module
            // (an extern crate, a local item)
            if target == *m {
                continue;
            }
            deps.entry(target).or_insert(p);
        }
    }
    g
}

/// The parts under `src/`: each top-level module with everything inside it.
fn parts(g: &Graph) -> Graph {
    let top = |m: &str| match m.split("::").next() {
        Some("") | None => "(crate root)".to_string(),
        Some(t) => t.to_string(),
    };
    let mut out = Graph::new();
    for (m, deps) in g {
        let entry = out.entry(top(m)).or_default();
        for (d, why) in deps {
            if top(d) != top(m) {
                entry.entry(top(d)).or_insert_with(|| format!("{m} uses {why}"));
            }
        }
    }
    out
}

/// Each circle of the graph, as its modules in order and what links each to the next.
fn cycles(g: &Graph) -> Vec<String> {
    // Tarjan's strongly connected components, then one circle through each
    struct T<'a> {
        g: &'a Graph,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        sccs: Vec<Vec<&'a str>>,
    }
    fn visit<'a>(t: &mut T<'a>, v: &'a str) {
        let n = t.index.len();
        t.index.insert(v, n);
        t.low.insert(v, n);
        t.stack.push(v);
        t.on.insert(v);
        for w in t.g.get(v).into_iter().flat_map(|d| d.keys()) {
            let w = w.as_str();
            if !t.index.contains_key(w) {
                visit(t, w);
                let lw = t.low[w];
                let lv = t.low.get_mut(v).expect("visited");
                *lv = (*lv).min(lw);
            } else if t.on.contains(w) {
                let iw = t.index[w];
                let lv = t.low.get_mut(v).expect("visited");
                *lv = (*lv).min(iw);
            }
        }
        if t.low[v] == t.index[v] {
            let mut scc = Vec::new();
            while let Some(w) = t.stack.pop() {
                t.on.remove(w);
                scc.push(w);
                if w == v {
                    break;
                }
            }
            t.sccs.push(scc);
        }
    }
    let mut t = T {
        g,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        sccs: Vec::new(),
    };
    for v in g.keys() {
        if !t.index.contains_key(v.as_str()) {
            visit(&mut t, v);
        }
    }
    let mut out = Vec::new();
    for scc in t.sccs.iter().filter(|s| s.len() > 1) {
        let members: BTreeSet<&str> = scc.iter().copied().collect();
        // the shortest way from the first member back to itself, inside the component
        let start = *members.iter().next().expect("non-empty");
        let mut prev: BTreeMap<&str, &str> = BTreeMap::new();
        let mut queue = std::collections::VecDeque::from([start]);
        let mut last = start;
        'search: while let Some(v) = queue.pop_front() {
            for d in g[v].keys().map(String::as_str).filter(|d| members.contains(d)) {
                if d == start {
                    last = v;
                    break 'search;
                }
                if !prev.contains_key(d) {
                    prev.insert(d, v);
                    queue.push_back(d);
                }
            }
        }
        let mut circle = vec![last];
        while *circle.last().expect("non-empty") != start {
            circle.push(prev[circle.last().expect("non-empty")]);
        }
        circle.reverse();
        circle.push(start);
        let text: String = circle
            .windows(2)
            .map(|w| format!("\n    {} -> {}   ({})", w[0], w[1], g[w[0]][w[1]]))
            .collect();
        let names: Vec<&str> = members.into_iter().collect();
        out.push(format!("{} modules: {}{text}", scc.len(), names.join(", ")));
    }
    out
}

fn src_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn modules_import_each_other_without_a_circle() {
    let g = graph(&modules(&src_dir()));
    let found = cycles(&g);
    assert!(
        found.is_empty(),
        "modules that import each other in a circle (move what both sides need into a module of its own):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_parts_under_src_form_layers() {
    let g = parts(&graph(&modules(&src_dir())));
    let found = cycles(&g);
    assert!(
        found.is_empty(),
        "parts of the API server that import each other in a circle:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_check_reads_the_sources() {
    let mods = modules(&src_dir());
    assert!(mods.len() > 40, "only {} modules found under src/", mods.len());
    assert!(!mods.keys().any(|m| m.starts_with("standins")));
    let g = graph(&mods);
    let uses = |a: &str, b: &str| g.get(a).is_some_and(|d| d.contains_key(b));
    // a `use` group, a plain path, a child module named from its parent
    assert!(uses("endpoints::handlers::list", "registry::rest"));
    assert!(uses("server::routes", "discovery::groups"));
    assert!(uses("endpoints::handlers", "endpoints::handlers::get"));
    // test modules are left out: authz's tests parse URLs with the endpoints
    assert!(!uses("auth::authz", "endpoints::request"));
    assert!(uses("endpoints::request", "auth::authz"));
}

#[test]
fn a_circle_is_found_and_shown() {
    let mods: BTreeMap<String, String> = [
        ("", "mod a; mod b; mod c;"),
        ("a", "use crate::b::{x, y::{z}};\n// crate::c in a comment is no use\nfn f() { let _ = \"crate::c\"; }"),
        ("b", "fn g() { crate::c::h() }"),
        ("c", "use super::a::A;\n#[cfg(test)]\nmod tests { use crate::b; }"),
        ("b::y", "pub fn z() {}"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let g = graph(&mods);
    assert_eq!(g["a"].keys().collect::<Vec<_>>(), ["b", "b::y"]);
    assert_eq!(g["c"].keys().collect::<Vec<_>>(), ["a"]);
    let found = cycles(&g);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].starts_with("3 modules: a, b, c"), "{}", found[0]);
    assert!(found[0].contains("a -> b   (crate::b::x)"), "{}", found[0]);
    assert!(found[0].contains("c -> a   (super::a::A)"), "{}", found[0]);
}
