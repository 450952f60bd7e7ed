//! The git generator's path handling as Argo CD v3.2.0 does it (applicationset/generators/
//! git.go and the repo server's GetGitDirectories / GetGitFiles):
//! - directories: every directory of the checkout (hidden ones skipped, walked as
//!   `filepath.WalkDir` does) matched against each item's `path` with Go's `path.Match`;
//!   no normalisation, so `./apps/*` or `apps/*/` match nothing, as with Argo CD;
//! - files: each item's `path` is a pathspec given to `git ls-files --full-name -- <path>`:
//!   git normalises it (`./`, `//`, `..`), `*` and `?` match `/` too, and a path naming a
//!   directory (with or without a trailing slash) lists every file under it;
//! - parameters: `path`, `path.basename`, `path.basenameNormalized`, `path.filename`,
//!   `path.filenameNormalized`, `path[N]` (flat) or `path.segments` (goTemplate), under
//!   `pathParamPrefix` when set.

use std::collections::BTreeMap;

use super::params::{self, Param, Params};
use crate::standins::argocd::gotemplate::sanitize_name;

/// Go's `path.Match`: `*` any run of non-`/`, `?` one non-`/`, `[...]` / `[^...]` classes with
/// ranges, `\` escapes. A malformed pattern matches nothing (Argo CD logs and skips it).
pub fn go_path_match(pattern: &str, name: &str) -> bool {
    // a class after '[' (Go's matchChunk with getEsc); (matched, chars consumed through ']')
    fn class(p: &[char], c: char) -> Option<(bool, usize)> {
        fn esc(p: &[char]) -> Option<(char, usize)> {
            let first = *p.first()?;
            if first == '-' || first == ']' {
                return None;
            }
            let (ch, n) = if first == '\\' {
                (*p.get(1)?, 2)
            } else {
                (first, 1)
            };
            // a class must be closed
            if p.len() <= n {
                return None;
            }
            Some((ch, n))
        }
        let negated = p.first() == Some(&'^');
        let mut i = usize::from(negated);
        let mut matched = false;
        let mut ranges = 0;
        loop {
            if p.get(i) == Some(&']') && ranges > 0 {
                i += 1;
                break;
            }
            let (lo, n) = esc(&p[i..])?;
            i += n;
            let mut hi = lo;
            if p.get(i) == Some(&'-') {
                let (h, n) = esc(&p[i + 1..])?;
                hi = h;
                i += 1 + n;
            }
            if lo <= c && c <= hi {
                matched = true;
            }
            ranges += 1;
        }
        Some((matched != negated, i))
    }
    fn go(p: &[char], s: &[char]) -> Option<bool> {
        let Some(&pc) = p.first() else {
            return Some(s.is_empty());
        };
        match pc {
            '*' => {
                let rest = &p[1..];
                for i in 0..=s.len() {
                    if i > 0 && s[i - 1] == '/' {
                        break;
                    }
                    if go(rest, &s[i..])? {
                        return Some(true);
                    }
                }
                Some(false)
            }
            '?' => match s.first() {
                Some(c) if *c != '/' => go(&p[1..], &s[1..]),
                _ => Some(false),
            },
            '[' => {
                let c = *s.first()?;
                let (ok, n) = class(&p[1..], c)?;
                if ok { go(&p[1 + n..], &s[1..]) } else { Some(false) }
            }
            '\\' => {
                let lit = *p.get(1)?;
                if s.first() == Some(&lit) {
                    go(&p[2..], &s[1..])
                } else {
                    Some(false)
                }
            }
            c => {
                if s.first() == Some(&c) {
                    go(&p[1..], &s[1..])
                } else {
                    Some(false)
                }
            }
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let s: Vec<char> = name.chars().collect();
    go(&p, &s).unwrap_or(false)
}

/// git's wildmatch without WM_PATHNAME (how pathspecs glob by default): `*` and `**` match
/// anything, `/` included; `?` any one character; `[...]`, `[!...]`, `[^...]` with ranges
/// and `[:class:]`; `\` escapes.
pub fn wildmatch(pattern: &str, text: &str) -> bool {
    fn class_match(name: &str, c: char) -> bool {
        match name {
            "alnum" => c.is_ascii_alphanumeric(),
            "alpha" => c.is_ascii_alphabetic(),
            "blank" => c == ' ' || c == '\t',
            "cntrl" => c.is_ascii_control(),
            "digit" => c.is_ascii_digit(),
            "graph" => c.is_ascii_graphic(),
            "lower" => c.is_ascii_lowercase(),
            "print" => c.is_ascii_graphic() || c == ' ',
            "punct" => c.is_ascii_punctuation(),
            "space" => c.is_ascii_whitespace(),
            "upper" => c.is_ascii_uppercase(),
            "xdigit" => c.is_ascii_hexdigit(),
            _ => false,
        }
    }
    // a bracket expression after '['; (matched, chars consumed through ']')
    fn bracket(p: &[char], c: char) -> Option<(bool, usize)> {
        let mut i = 0;
        let negate = matches!(p.first(), Some('!') | Some('^'));
        if negate {
            i += 1;
        }
        let mut matched = false;
        let mut prev: Option<char> = None;
        let mut first = true;
        loop {
            let ch = *p.get(i)?;
            if ch == ']' && !first {
                i += 1;
                break;
            }
            first = false;
            if ch == '\\' {
                let lit = *p.get(i + 1)?;
                if lit == c {
                    matched = true;
                }
                prev = Some(lit);
                i += 2;
            } else if ch == '-' && prev.is_some() && p.get(i + 1).is_some_and(|x| *x != ']') {
                let mut hi = p[i + 1];
                i += 2;
                if hi == '\\' {
                    hi = *p.get(i)?;
                    i += 1;
                }
                if prev.is_some_and(|lo| lo <= c && c <= hi) {
                    matched = true;
                }
                prev = None;
            } else if ch == '[' && p.get(i + 1) == Some(&':') {
                let rest: String = p[i + 2..].iter().collect();
                let end = rest.find(":]")?;
                if class_match(&rest[..end], c) {
                    matched = true;
                }
                i += 2 + rest[..end].chars().count() + 2;
                prev = None;
            } else {
                if ch == c {
                    matched = true;
                }
                prev = Some(ch);
                i += 1;
            }
        }
        Some((matched != negate, i))
    }
    fn go(p: &[char], t: &[char]) -> bool {
        let Some(&pc) = p.first() else {
            return t.is_empty();
        };
        match pc {
            '*' => {
                let mut rest = p;
                while rest.first() == Some(&'*') {
                    rest = &rest[1..];
                }
                (0..=t.len()).any(|i| go(rest, &t[i..]))
            }
            '?' => !t.is_empty() && go(&p[1..], &t[1..]),
            '[' => match (t.first(), bracket(&p[1..], *t.first().unwrap_or(&'\0'))) {
                (Some(_), Some((true, n))) => go(&p[1 + n..], &t[1..]),
                _ => false,
            },
            '\\' => match p.get(1) {
                Some(lit) => t.first() == Some(lit) && go(&p[2..], &t[1..]),
                None => false,
            },
            c => t.first() == Some(&c) && go(&p[1..], &t[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    go(&p, &t)
}

/// git's pathspec normalisation (relative to the repository root): `./` and empty
/// components dropped, `..` removes the previous component, a trailing `/` kept. A path
/// leaving the repository is git's fatal error.
pub fn normalize_pathspec(pattern: &str, root: &str) -> Result<String, String> {
    let mut parts: Vec<&str> = Vec::new();
    let trailing = pattern.ends_with('/') && pattern.trim_matches('/') != ".";
    for seg in pattern.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(format!(
                        "fatal: {pattern}: '{pattern}' is outside repository at '{root}'"
                    ));
                }
            }
            s => parts.push(s),
        }
    }
    if pattern.starts_with('/') {
        return Err(format!(
            "fatal: {pattern}: '{pattern}' is outside repository at '{root}'"
        ));
    }
    let mut out = parts.join("/");
    if trailing && !out.is_empty() {
        out.push('/');
    }
    Ok(out)
}

/// Whether a normalised pathspec selects a file (dir.c's match_pathspec_item): the empty
/// pathspec matches everything, a literal match of the whole path or of a leading directory
/// matches, and a pathspec with glob characters is matched by wildmatch.
pub fn pathspec_matches(spec: &str, path: &str) -> bool {
    if spec.is_empty() {
        return true;
    }
    if let Some(rest) = path.strip_prefix(spec)
        && (rest.is_empty() || spec.ends_with('/') || rest.starts_with('/'))
    {
        return true;
    }
    spec.contains(['*', '?', '[', '\\']) && wildmatch(spec, path)
}

/// The directories `filepath.WalkDir` lists under the checkout, as GetGitDirectories
/// returns them: depth first, siblings by name, hidden directories (and what they hold)
/// left out.
pub fn walk_dirs(mut dirs: Vec<String>) -> Vec<String> {
    dirs.retain(|d| !d.split('/').any(|seg| seg.starts_with('.')));
    dirs.sort_by(|a, b| a.split('/').cmp(b.split('/')));
    dirs
}

/// `filterApps`: a directory is kept when an item includes it and none excludes it.
pub fn filter_dirs(items: &[(String, bool)], dirs: &[String]) -> Vec<String> {
    dirs.iter()
        .filter(|d| {
            let mut include = false;
            let mut exclude = false;
            for (pattern, excl) in items {
                if go_path_match(pattern, d) {
                    if *excl {
                        exclude = true;
                    } else {
                        include = true;
                    }
                }
            }
            include && !exclude
        })
        .cloned()
        .collect()
}

/// Go's `path.Base`.
fn base(p: &str) -> String {
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        return if p.is_empty() { ".".into() } else { "/".into() };
    }
    t.rsplit('/').next().unwrap_or(t).to_string()
}

/// Go's `path.Dir` for the repository-relative paths ls-files prints.
pub fn dir(p: &str) -> String {
    match p.rsplit_once('/') {
        Some((d, _)) if !d.is_empty() => d.to_string(),
        Some(_) => "/".into(),
        None => ".".into(),
    }
}

/// The path parameters of a directory, or of a file's directory (with the file's name).
pub fn path_params(path: &str, file: Option<&str>, go: bool, prefix: &str, out: &mut Params) {
    let basename = base(path);
    if go {
        let mut p = Params::new();
        p.insert("path".into(), Param::str(path));
        p.insert("basename".into(), Param::str(&basename));
        p.insert("basenameNormalized".into(), Param::str(sanitize_name(&basename)));
        if let Some(f) = file {
            let filename = base(f);
            p.insert("filenameNormalized".into(), Param::str(sanitize_name(&filename)));
            p.insert("filename".into(), Param::Str(filename));
        }
        p.insert(
            "segments".into(),
            Param::StrList(path.split('/').map(str::to_string).collect()),
        );
        if prefix.is_empty() {
            out.insert("path".into(), Param::Map(p));
        } else {
            out.insert(
                prefix.to_string(),
                Param::Map(Params::from([("path".to_string(), Param::Map(p))])),
            );
        }
    } else {
        let name = if prefix.is_empty() {
            "path".to_string()
        } else {
            format!("{prefix}.path")
        };
        out.insert(name.clone(), Param::str(path));
        out.insert(format!("{name}.basename"), Param::str(&basename));
        out.insert(
            format!("{name}.basenameNormalized"),
            Param::str(sanitize_name(&basename)),
        );
        if let Some(f) = file {
            let filename = base(f);
            out.insert(
                format!("{name}.filenameNormalized"),
                Param::str(sanitize_name(&filename)),
            );
            out.insert(format!("{name}.filename"), Param::Str(filename));
        }
        for (i, seg) in path.split('/').enumerate() {
            if !seg.is_empty() {
                out.insert(format!("{name}[{i}]"), Param::str(seg));
            }
        }
    }
}

/// `generateParamsFromGitFile`'s parsing: one object, or an array of objects, each a
/// parameter set (flattened in flat mode); Argo CD's texts for what is neither.
pub fn file_objects(content: &[u8], go: bool) -> Result<Vec<Params>, String> {
    use hubspoke_render::Value as GoValue;
    let text = String::from_utf8_lossy(content);
    let v = hubspoke_render::goyaml::unmarshal(&text).map_err(|e| format!("unable to parse file: {e}"))?;
    let kind = |v: &GoValue| match v {
        GoValue::Map(_) => "object",
        GoValue::Slice(_) => "array",
        GoValue::String(_) => "string",
        GoValue::Bool(_) => "bool",
        _ => "number",
    };
    let objects: Vec<Params> = match &v {
        GoValue::Nil => vec![Params::new()],
        GoValue::Map(_) => match Param::from_go(&v) {
            Param::Map(m) => vec![m],
            _ => vec![],
        },
        GoValue::Slice(items) => {
            let mut out = Vec::new();
            for item in items.iter() {
                match Param::from_go(item) {
                    Param::Map(m) => out.push(m),
                    Param::Null => out.push(Params::new()),
                    _ => {
                        return Err(format!(
                            "unable to parse file: error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
                            kind(item)
                        ));
                    }
                }
            }
            out
        }
        other => {
            return Err(format!(
                "unable to parse file: error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {} into Go value of type []map[string]interface {{}}",
                kind(other)
            ));
        }
    };
    Ok(objects
        .into_iter()
        .map(|o| {
            if go {
                o
            } else {
                params::flatten(&o)
                    .into_iter()
                    .map(|(k, v)| (k, Param::Str(v)))
                    .collect()
            }
        })
        .collect())
}

/// The files an include/exclude list selects (in path order, as Argo CD sorts them).
pub fn select_files<'a>(
    items: &[(String, bool)],
    files: &'a [crate::standins::argocd::repo::SourceFile],
    root: &str,
) -> Result<BTreeMap<String, &'a [u8]>, (String, String)> {
    let mut selected: BTreeMap<String, &[u8]> = BTreeMap::new();
    for exclude in [false, true] {
        for (pattern, _) in items.iter().filter(|(_, e)| *e == exclude) {
            // GetGitFiles lists "." for an empty path
            let raw = if pattern.is_empty() { "." } else { pattern.as_str() };
            let spec = normalize_pathspec(raw, root).map_err(|e| (raw.to_string(), e))?;
            for f in files.iter().filter(|f| pathspec_matches(&spec, &f.path)) {
                if exclude {
                    selected.remove(&f.path);
                } else {
                    selected.insert(f.path.clone(), &f.content);
                }
            }
        }
    }
    Ok(selected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_match_with_go_path_match() {
        assert!(go_path_match("apps/*", "apps/web"));
        assert!(!go_path_match("apps/*", "apps/web/x"));
        assert!(go_path_match("apps/w?b", "apps/web"));
        assert!(go_path_match("apps/[a-w]eb", "apps/web"));
        assert!(!go_path_match("apps/[^w]eb", "apps/web"));
        assert!(go_path_match("apps/\\*", "apps/*"));
        // no normalisation and no `**`, as in Argo CD
        assert!(!go_path_match("./apps/*", "apps/web"));
        assert!(!go_path_match("apps/*/", "apps/web"));
        assert!(!go_path_match("apps/**", "apps/web/x"));
        assert!(!go_path_match("apps/[", "apps/["));
        let dirs = walk_dirs(vec![
            "apps".into(),
            "apps/web".into(),
            "apps-old".into(),
            "apps/web/.cache".into(),
            ".github".into(),
            ".github/workflows".into(),
            "apps/api".into(),
        ]);
        assert_eq!(dirs, ["apps", "apps/api", "apps/web", "apps-old"]);
        let items = vec![("apps/*".to_string(), false), ("apps/api".to_string(), true)];
        assert_eq!(filter_dirs(&items, &dirs), ["apps/web"]);
    }

    // what `git ls-files --full-name -- <pathspec>` (git 2.47) lists in a repository with
    // workloads/config.json, workloads/a/config.json, workloads/a/b/config.json,
    // apps/web/x.yaml, apps/web/y.yml, top.yaml and .hidden/x/c.yaml
    #[test]
    fn file_paths_are_git_pathspecs() {
        let files = [
            ".hidden/x/c.yaml",
            "apps/web/x.yaml",
            "apps/web/y.yml",
            "top.yaml",
            "workloads/a/b/config.json",
            "workloads/a/config.json",
            "workloads/config.json",
        ];
        let ls = |pattern: &str| -> Vec<&str> {
            let spec = normalize_pathspec(pattern, "/repo").unwrap();
            files
                .iter()
                .copied()
                .filter(|f| pathspec_matches(&spec, f))
                .collect()
        };
        assert_eq!(
            ls("workloads/**/config.json"),
            ["workloads/a/b/config.json", "workloads/a/config.json"]
        );
        assert_eq!(
            ls("workloads/*/config.json"),
            ["workloads/a/b/config.json", "workloads/a/config.json"]
        );
        assert_eq!(
            ls("**/config.json"),
            [
                "workloads/a/b/config.json",
                "workloads/a/config.json",
                "workloads/config.json"
            ]
        );
        assert_eq!(ls("*.yaml"), [".hidden/x/c.yaml", "apps/web/x.yaml", "top.yaml"]);
        assert_eq!(ls("./apps/web/"), ["apps/web/x.yaml", "apps/web/y.yml"]);
        assert_eq!(ls("apps"), ["apps/web/x.yaml", "apps/web/y.yml"]);
        assert_eq!(ls("apps//web/*.yaml"), ["apps/web/x.yaml"]);
        assert_eq!(ls("apps/*/../web/x.yaml"), ["apps/web/x.yaml"]);
        assert_eq!(ls("apps?web/[[:alpha:]].yaml"), ["apps/web/x.yaml"]);
        assert_eq!(ls("apps/web/[!x].yaml"), Vec::<&str>::new());
        assert_eq!(ls("top.yaml/"), Vec::<&str>::new());
        assert_eq!(ls("workload"), Vec::<&str>::new());
        assert_eq!(ls(".").len(), files.len());
        assert_eq!(
            normalize_pathspec("../x", "/repo").unwrap_err(),
            "fatal: ../x: '../x' is outside repository at '/repo'"
        );
    }

    #[test]
    fn path_parameters_as_argo_cd_builds_them() {
        let mut flat = Params::new();
        path_params(
            "workloads/applications/web",
            Some("workloads/applications/web/Spoke_A.yaml"),
            false,
            "",
            &mut flat,
        );
        let got: Vec<(String, String)> = flat
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
            .collect();
        let want: Vec<(String, String)> = [
            ("path", "workloads/applications/web"),
            ("path.basename", "web"),
            ("path.basenameNormalized", "web"),
            ("path.filename", "Spoke_A.yaml"),
            ("path.filenameNormalized", "spoke-a.yaml"),
            ("path[0]", "workloads"),
            ("path[1]", "applications"),
            ("path[2]", "web"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(got, want);
        // goTemplate, with a prefix; a file at the top: its directory is "."
        let mut go = Params::new();
        path_params(".", Some("config.yaml"), true, "cfg", &mut go);
        assert_eq!(
            params::flatten(&go),
            [
                ("cfg.path.basename", "."),
                ("cfg.path.basenameNormalized", ""),
                ("cfg.path.filename", "config.yaml"),
                ("cfg.path.filenameNormalized", "config.yaml"),
                ("cfg.path.path", "."),
                ("cfg.path.segments", "[.]"),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
        );
    }

    #[test]
    fn files_hold_one_object_or_an_array_of_them() {
        let objs = file_objects(b"- name: a\n  n: 1\n  deep: {x: [1, true]}\n- ~\n", false).unwrap();
        assert_eq!(objs.len(), 2);
        assert_eq!(objs[0]["deep.x.0"], Param::str("1"));
        assert_eq!(objs[0]["deep.x.1"], Param::str("true"));
        assert!(objs[1].is_empty());
        let objs = file_objects(b"", true).unwrap();
        assert_eq!(objs, vec![Params::new()]);
        let objs = file_objects(b"{\"a\": {\"b\": 2}}", true).unwrap();
        assert_eq!(objs[0]["a"], Param::from_json(&serde_json::json!({"b": 2})));
        assert_eq!(
            file_objects(b"- a\n", true).unwrap_err(),
            "unable to parse file: error unmarshaling JSON: while decoding JSON: json: cannot unmarshal string into Go value of type map[string]interface {}"
        );
        assert_eq!(
            file_objects(b"just text\n", true).unwrap_err(),
            "unable to parse file: error unmarshaling JSON: while decoding JSON: json: cannot unmarshal string into Go value of type []map[string]interface {}"
        );
        assert!(
            file_objects(b"a: b\n c: d\n", true)
                .unwrap_err()
                .starts_with("unable to parse file: error converting YAML to JSON: yaml: line ")
        );
    }
}
