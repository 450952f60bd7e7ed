//! Chart directories: read as Helm's `LoadDir` does — files in lexical order, symbolic links
//! followed, `.helmignore` honoured (plus the default rule `templates/.?*`), irregular files
//! and files over the size limit rejected, a UTF-8 BOM dropped.

use std::path::Path;

use super::archive::{MAX_DECOMPRESSED_FILE_SIZE, go_quote};
use super::{ErrorKind, SourceError};

/// Go's `filepath.ErrBadPattern` text.
pub const BAD_PATTERN: &str = "syntax error in pattern";

/// Go's `filepath.Match` on `/`-separated names (Unix rules: `\` escapes).
pub fn glob_match(pattern: &str, name: &str) -> Result<bool, &'static str> {
    let mut pattern = pattern.as_bytes();
    let mut name = name.as_bytes();
    'pattern: while !pattern.is_empty() {
        let (star, chunk, rest) = scan_chunk(pattern);
        pattern = rest;
        if star && chunk.is_empty() {
            return Ok(!name.contains(&b'/'));
        }
        let r = match_chunk(chunk, name)?;
        if let Some(t) = r
            && (t.is_empty() || !pattern.is_empty())
        {
            name = t;
            continue;
        }
        if star {
            let mut i = 0;
            while i < name.len() && name[i] != b'/' {
                if let Some(t) = match_chunk(chunk, &name[i + 1..])? {
                    if pattern.is_empty() && !t.is_empty() {
                        i += 1;
                        continue;
                    }
                    name = t;
                    continue 'pattern;
                }
                i += 1;
            }
        }
        while !pattern.is_empty() {
            let (_, chunk, rest) = scan_chunk(pattern);
            pattern = rest;
            match_chunk(chunk, b"")?;
        }
        return Ok(false);
    }
    Ok(name.is_empty())
}

fn scan_chunk(mut pattern: &[u8]) -> (bool, &[u8], &[u8]) {
    let mut star = false;
    while let Some(b'*') = pattern.first() {
        pattern = &pattern[1..];
        star = true;
    }
    let mut in_range = false;
    let mut i = 0;
    while i < pattern.len() {
        match pattern[i] {
            b'\\' if i + 1 < pattern.len() => i += 1,
            b'[' => in_range = true,
            b']' => in_range = false,
            b'*' if !in_range => break,
            _ => {}
        }
        i += 1;
    }
    (star, &pattern[..i], &pattern[i..])
}

/// Decodes one UTF-8 rune as Go does: (rune, width), U+FFFD width 1 when invalid.
fn decode_rune(s: &[u8]) -> (u32, usize) {
    let n = match s.first() {
        None => return (0xFFFD, 0),
        Some(b) if *b < 0x80 => return (*b as u32, 1),
        Some(b) if *b >= 0xF0 => 4,
        Some(b) if *b >= 0xE0 => 3,
        Some(_) => 2,
    };
    match s
        .get(..n)
        .and_then(|p| std::str::from_utf8(p).ok())
        .and_then(|p| p.chars().next())
    {
        Some(c) => (c as u32, n),
        None => (0xFFFD, 1),
    }
}

fn get_esc(mut chunk: &[u8]) -> Result<(u32, &[u8]), &'static str> {
    match chunk.first() {
        None | Some(b'-') | Some(b']') => return Err(BAD_PATTERN),
        Some(b'\\') => {
            chunk = &chunk[1..];
            if chunk.is_empty() {
                return Err(BAD_PATTERN);
            }
        }
        _ => {}
    }
    let (r, n) = decode_rune(chunk);
    if r == 0xFFFD && n == 1 {
        return Err(BAD_PATTERN);
    }
    let rest = &chunk[n..];
    if rest.is_empty() {
        return Err(BAD_PATTERN);
    }
    Ok((r, rest))
}

fn match_chunk<'a>(mut chunk: &[u8], mut s: &'a [u8]) -> Result<Option<&'a [u8]>, &'static str> {
    let mut failed = false;
    while !chunk.is_empty() {
        if !failed && s.is_empty() {
            failed = true;
        }
        match chunk[0] {
            b'[' => {
                let mut r = 0u32;
                if !failed {
                    let (c, n) = decode_rune(s);
                    r = c;
                    s = &s[n..];
                }
                chunk = &chunk[1..];
                let mut negated = false;
                if chunk.first() == Some(&b'^') {
                    negated = true;
                    chunk = &chunk[1..];
                }
                let mut matched = false;
                let mut nrange = 0;
                loop {
                    if chunk.first() == Some(&b']') && nrange > 0 {
                        chunk = &chunk[1..];
                        break;
                    }
                    let (lo, rest) = get_esc(chunk)?;
                    chunk = rest;
                    let mut hi = lo;
                    if chunk[0] == b'-' {
                        let (h, rest) = get_esc(&chunk[1..])?;
                        hi = h;
                        chunk = rest;
                    }
                    if lo <= r && r <= hi {
                        matched = true;
                    }
                    nrange += 1;
                }
                if matched == negated {
                    failed = true;
                }
            }
            b'?' => {
                if !failed {
                    if s[0] == b'/' {
                        failed = true;
                    }
                    let (_, n) = decode_rune(s);
                    s = &s[n..];
                }
                chunk = &chunk[1..];
            }
            c => {
                let c = if c == b'\\' {
                    chunk = &chunk[1..];
                    match chunk.first() {
                        Some(c) => *c,
                        None => return Err(BAD_PATTERN),
                    }
                } else {
                    c
                };
                if !failed {
                    if c != s[0] {
                        failed = true;
                    }
                    s = &s[1..];
                }
                chunk = &chunk[1..];
            }
        }
    }
    Ok(if failed { None } else { Some(s) })
}

#[derive(Clone, Debug)]
enum Anchor {
    /// `/x`: the whole path from the chart root
    Root,
    /// `a/b`: the whole path
    Path,
    /// `x`: the base name only
    Base,
}

#[derive(Clone, Debug)]
struct Rule {
    raw: String,
    pattern: String,
    negate: bool,
    must_dir: bool,
    anchor: Anchor,
}

impl Rule {
    fn matches(&self, path: &str) -> bool {
        let target = match self.anchor {
            Anchor::Root | Anchor::Path => path,
            Anchor::Base => go_base(path),
        };
        glob_match(&self.pattern, target).unwrap_or(false)
    }
}

/// Go's `filepath.Base` on `/` paths.
fn go_base(p: &str) -> &str {
    if p.is_empty() {
        return ".";
    }
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        return "/";
    }
    match t.rfind('/') {
        Some(i) => &t[i + 1..],
        None => t,
    }
}

/// `.helmignore` rules (Helm's pkg/ignore).
#[derive(Clone, Debug, Default)]
pub struct IgnoreRules {
    rules: Vec<Rule>,
}

impl IgnoreRules {
    /// Parses a `.helmignore`: one rule a line, `#` comments, blank lines skipped, a BOM on the
    /// first line dropped. A rule with `**` or a malformed glob is an error.
    pub fn parse(text: &[u8]) -> Result<IgnoreRules, String> {
        let text = text.strip_prefix(&[0xEF, 0xBB, 0xBF][..]).unwrap_or(text);
        let mut r = IgnoreRules::default();
        for line in text.split(|b| *b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            r.add(&String::from_utf8_lossy(line))?;
        }
        Ok(r)
    }

    /// Adds Helm's default rule: dotfiles in `templates/` are ignored.
    pub fn add_defaults(&mut self) {
        let _ = self.add("templates/.?*");
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The rules as written (negation and trailing slash kept).
    pub fn raw(&self) -> Vec<&str> {
        self.rules.iter().map(|r| r.raw.as_str()).collect()
    }

    fn add(&mut self, rule: &str) -> Result<(), String> {
        let rule = rule.trim();
        if rule.is_empty() || rule.starts_with('#') {
            return Ok(());
        }
        if rule.contains("**") {
            return Err("double-star (**) syntax is not supported".into());
        }
        glob_match(rule, "abc").map_err(str::to_string)?;
        let raw = rule.to_string();
        let mut p = rule;
        let negate = p.starts_with('!');
        if negate {
            p = &p[1..];
        }
        let must_dir = p.ends_with('/');
        if must_dir {
            p = &p[..p.len() - 1];
        }
        let (anchor, pattern) = if let Some(stripped) = p.strip_prefix('/') {
            (Anchor::Root, stripped)
        } else if p.contains('/') {
            (Anchor::Path, p)
        } else {
            (Anchor::Base, p)
        };
        self.rules.push(Rule {
            raw,
            pattern: pattern.to_string(),
            negate,
            must_dir,
            anchor,
        });
        Ok(())
    }

    /// Whether `path` (relative to the chart root, `/`-separated) is ignored: rules in order,
    /// the first match decides; a negated rule ignores everything it does not match.
    pub fn ignore(&self, path: &str, is_dir: bool) -> bool {
        if path.is_empty() || path == "." || path == "./" {
            return false;
        }
        for r in &self.rules {
            if r.negate {
                if r.must_dir && !is_dir {
                    return true;
                }
                if !r.matches(path) {
                    return true;
                }
                continue;
            }
            if r.must_dir && !is_dir {
                continue;
            }
            if r.matches(path) {
                return true;
            }
        }
        false
    }
}

fn io_err(msg: String) -> SourceError {
    SourceError::new(ErrorKind::Io, msg)
}

/// Reads a chart directory's files (Helm's `LoadDir`).
pub fn read_dir(dir: &Path) -> Result<Vec<(String, Vec<u8>)>, SourceError> {
    let top =
        std::path::absolute(dir).map_err(|e| io_err(format!("chart directory {}: {e}", dir.display())))?;
    let mut rules = IgnoreRules::default();
    let ignore_file = top.join(".helmignore");
    if ignore_file.exists() {
        let text = std::fs::read(&ignore_file)
            .map_err(|e| io_err(format!("cannot read {}: {e}", ignore_file.display())))?;
        rules = IgnoreRules::parse(&text).map_err(|e| {
            SourceError::new(
                ErrorKind::InvalidChart,
                format!("{}: {e}; fix the rule", ignore_file.display()),
            )
        })?;
    }
    rules.add_defaults();
    let mut files = Vec::new();
    walk(&top, "", &rules, &mut files, 0)?;
    Ok(files)
}

fn walk(
    path: &Path,
    rel: &str,
    rules: &IgnoreRules,
    files: &mut Vec<(String, Vec<u8>)>,
    depth: usize,
) -> Result<(), SourceError> {
    if depth > 64 {
        return Err(SourceError::new(
            ErrorKind::InvalidChart,
            format!("{}: too deeply nested (a symbolic link loop?)", path.display()),
        ));
    }
    // symbolic links are followed, to files and directories alike
    let meta = std::fs::metadata(path).map_err(|e| {
        let what = if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
            "error evaluating symlink"
        } else {
            "cannot read"
        };
        io_err(format!("{what} {}: {e}", path.display()))
    })?;
    if meta.is_dir() {
        if !rel.is_empty() && rules.ignore(rel, true) {
            return Ok(());
        }
        let mut names: Vec<String> = std::fs::read_dir(path)
            .map_err(|e| io_err(format!("cannot read directory {}: {e}", path.display())))?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        for name in names {
            let child_rel = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            walk(&path.join(&name), &child_rel, rules, files, depth + 1)?;
        }
        return Ok(());
    }
    if rules.ignore(rel, false) {
        return Ok(());
    }
    if !meta.is_file() {
        return Err(SourceError::new(
            ErrorKind::InvalidChart,
            format!(
                "cannot load irregular file {} as it has file mode type bits set",
                path.display()
            ),
        ));
    }
    if meta.len() > MAX_DECOMPRESSED_FILE_SIZE {
        let base = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        return Err(SourceError::new(
            ErrorKind::InvalidChart,
            format!(
                "chart file {} is larger than the maximum file size {MAX_DECOMPRESSED_FILE_SIZE}",
                go_quote(&base)
            ),
        ));
    }
    let data = std::fs::read(path).map_err(|e| io_err(format!("error reading {rel}: {e}")))?;
    let data = match data.strip_prefix(&[0xEF, 0xBB, 0xBF][..]) {
        Some(d) => d.to_vec(),
        None => data,
    };
    files.push((rel.to_string(), data));
    Ok(())
}

/// Applies a chart's `.helmignore` (and Helm's default rules) to files already in memory —
/// a chart read from a git commit rather than a directory on disk — as [`read_dir`] applies
/// them while walking: a file is dropped when it or any directory above it is ignored.
/// Paths are relative to the chart root, `/`-separated; the result is in path order.
pub fn filter_ignored(files: Vec<(String, Vec<u8>)>) -> Result<Vec<(String, Vec<u8>)>, String> {
    let mut rules = match files.iter().find(|(p, _)| p == ".helmignore") {
        Some((_, text)) => IgnoreRules::parse(text).map_err(|e| format!(".helmignore: {e}; fix the rule"))?,
        None => IgnoreRules::default(),
    };
    rules.add_defaults();
    let mut out: Vec<(String, Vec<u8>)> = files
        .into_iter()
        .filter(|(path, _)| {
            let parts: Vec<&str> = path.split('/').collect();
            let dir_ignored = (1..parts.len()).any(|n| rules.ignore(&parts[..n].join("/"), true));
            !dir_ignored && !rules.ignore(path, false)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_counts_rules() {
        let r =
            IgnoreRules::parse(b"#ignore\n\n\t#ignore\nfoo\nbar/*\nbaz/bar/foo.txt\n\none/more\n").unwrap();
        assert_eq!(r.raw(), ["foo", "bar/*", "baz/bar/foo.txt", "one/more"]);
        for bad in ["foo/**/bar", "[z-"] {
            assert!(IgnoreRules::parse(bad.as_bytes()).is_err(), "{bad}");
        }
        assert_eq!(IgnoreRules::parse(b"[z-").unwrap_err(), BAD_PATTERN);
        let mut d = IgnoreRules::default();
        d.add_defaults();
        assert_eq!(d.len(), 1);
        assert_eq!(IgnoreRules::parse(b"\xEF\xBB\xBFfoo\r\n").unwrap().raw(), ["foo"]);
    }

    #[test]
    fn helm_ignore_table() {
        // Helm's pkg/ignore TestIgnore: (pattern, path, is a directory, ignored)
        let dirs = ["cargo", "cargo/", "mast/", ".", "./", ""];
        let cases: &[(&str, &str, bool)] = &[
            ("helm.txt", "helm.txt", true),
            ("helm.*", "helm.txt", true),
            ("helm.*", "rudder.txt", false),
            ("*.txt", "tiller.txt", true),
            ("*.txt", "cargo/a.txt", true),
            ("cargo/*.txt", "cargo/a.txt", true),
            ("cargo/*.*", "cargo/a.txt", true),
            ("cargo/*.txt", "mast/a.txt", false),
            ("ru[c-e]?er.txt", "rudder.txt", true),
            ("templates/.?*", "templates/.dotfile", true),
            (".*", ".", false),
            (".*", "./", false),
            (".*", ".joonix", true),
            (".*", "helm.txt", false),
            (".*", "", false),
            ("cargo/", "cargo", true),
            ("cargo/", "cargo/", true),
            ("cargo/", "mast/", false),
            ("helm.txt/", "helm.txt", false),
            ("!helm.txt", "helm.txt", false),
            ("!helm.txt", "tiller.txt", true),
            ("!*.txt", "cargo", true),
            ("!cargo/", "mast/", true),
            ("/a.txt", "a.txt", true),
            ("/a.txt", "cargo/a.txt", false),
            ("/cargo/a.txt", "cargo/a.txt", true),
        ];
        for (pattern, path, want) in cases {
            let r = IgnoreRules::parse(pattern.as_bytes()).unwrap();
            let is_dir = dirs.contains(path);
            assert_eq!(r.ignore(path, is_dir), *want, "{pattern} on {path}");
        }
    }

    #[test]
    fn glob_like_go() {
        // Go's path/filepath match tests
        let cases: &[(&str, &str, Result<bool, &str>)] = &[
            ("abc", "abc", Ok(true)),
            ("*", "abc", Ok(true)),
            ("*c", "abc", Ok(true)),
            ("a*", "a", Ok(true)),
            ("a*", "abc", Ok(true)),
            ("a*", "ab/c", Ok(false)),
            ("a*/b", "abc/b", Ok(true)),
            ("a*/b", "a/c/b", Ok(false)),
            ("a*b*c*d*e*/f", "axbxcxdxe/f", Ok(true)),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/f", Ok(true)),
            ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", Ok(false)),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", Ok(false)),
            ("a*b?c*x", "abxbbxdbxebxczzx", Ok(true)),
            ("a*b?c*x", "abxbbxdbxebxczzy", Ok(false)),
            ("ab[c]", "abc", Ok(true)),
            ("ab[b-d]", "abc", Ok(true)),
            ("ab[e-g]", "abc", Ok(false)),
            ("ab[^c]", "abc", Ok(false)),
            ("ab[^b-d]", "abc", Ok(false)),
            ("ab[^e-g]", "abc", Ok(true)),
            ("a\\*b", "a*b", Ok(true)),
            ("a\\*b", "ab", Ok(false)),
            ("a?b", "a☺b", Ok(true)),
            ("a[^a]b", "a☺b", Ok(true)),
            ("a???b", "a☺b", Ok(false)),
            ("a[^a][^a][^a]b", "a☺b", Ok(false)),
            ("[a-ζ]*", "α", Ok(true)),
            ("*[a-ζ]", "A", Ok(false)),
            ("a?b", "a/b", Ok(false)),
            ("a*b", "a/b", Ok(false)),
            ("[\\]a]", "]", Ok(true)),
            ("[\\-]", "-", Ok(true)),
            ("[x\\-]", "x", Ok(true)),
            ("[x\\-]", "-", Ok(true)),
            ("[x\\-]", "z", Ok(false)),
            ("[\\-x]", "x", Ok(true)),
            ("[\\-x]", "-", Ok(true)),
            ("[\\-x]", "a", Ok(false)),
            ("[]a]", "]", Err(BAD_PATTERN)),
            ("[-]", "-", Err(BAD_PATTERN)),
            ("[x-]", "x", Err(BAD_PATTERN)),
            ("[x-]", "-", Err(BAD_PATTERN)),
            ("[x-]", "z", Err(BAD_PATTERN)),
            ("[-x]", "x", Err(BAD_PATTERN)),
            ("[-x]", "-", Err(BAD_PATTERN)),
            ("[-x]", "a", Err(BAD_PATTERN)),
            ("\\", "a", Err(BAD_PATTERN)),
            ("[a-b-c]", "a", Err(BAD_PATTERN)),
            ("[", "a", Err(BAD_PATTERN)),
            ("[^", "a", Err(BAD_PATTERN)),
            ("[^bc", "a", Err(BAD_PATTERN)),
            ("a[", "a", Err(BAD_PATTERN)),
            ("a[", "ab", Err(BAD_PATTERN)),
            ("a[", "x", Err(BAD_PATTERN)),
            ("a/b[", "x", Err(BAD_PATTERN)),
            ("*x", "xxx", Ok(true)),
        ];
        for (p, n, want) in cases {
            assert_eq!(glob_match(p, n), *want, "{p} on {n}");
        }
    }

    #[test]
    fn in_memory_files_honour_helmignore() {
        let files = vec![
            (".helmignore".to_string(), b"*.md\nsecrets/\n".to_vec()),
            ("Chart.yaml".to_string(), b"name: x".to_vec()),
            ("README.md".to_string(), Vec::new()),
            ("secrets/key.yaml".to_string(), Vec::new()),
            ("templates/a.yaml".to_string(), Vec::new()),
        ];
        let kept: Vec<String> = filter_ignored(files)
            .unwrap()
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        assert_eq!(kept, [".helmignore", "Chart.yaml", "templates/a.yaml"]);
    }
}
