//! What `helm template` (Helm 3.17) does with a chart's rendered files: NOTES.txt set
//! aside, every file split into YAML documents, each document's head (`apiVersion`,
//! `kind`, `metadata.name`, `metadata.annotations`) read, hooks (`helm.sh/hook`) told from
//! plain manifests, both sorted by kind in Helm's install order, and the whole printed with
//! `# Source:` headers, CRDs first and hooks last, exactly as Helm prints it.
//!
//! The rules come from Helm's `pkg/action/action.go` (`renderResources`),
//! `pkg/releaseutil` (`SplitManifests`, `SortManifests`, the kind orders) and
//! `cmd/helm/template.go` (printing, `--skip-tests`, `--no-hooks`, `--show-only`).
//!
//! A document's head is read as Helm reads it (sigs.k8s.io/yaml: YAML to JSON, then JSON
//! into Helm's `SimpleHead`), including the scalar conversions into string fields and the
//! JSON type errors; the YAML syntax errors themselves are serde-saphyr's, worded
//! differently from Go's yaml.v2 (only the `YAML parse error on <file>: error converting
//! YAML to JSON: ` prefix is Helm's).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::{self, MapAccess, SeqAccess, Visitor};

/// Helm's `releaseutil.InstallOrder`: kinds installed first come first; other kinds go
/// after all of these, sorted by name.
pub const INSTALL_ORDER: &[&str] = &[
    "PriorityClass",
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "SecretList",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleList",
    "ClusterRoleBinding",
    "ClusterRoleBindingList",
    "Role",
    "RoleList",
    "RoleBinding",
    "RoleBindingList",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
];

/// Helm's `releaseutil.UninstallOrder`.
pub const UNINSTALL_ORDER: &[&str] = &[
    "APIService",
    "Ingress",
    "IngressClass",
    "Service",
    "CronJob",
    "Job",
    "StatefulSet",
    "HorizontalPodAutoscaler",
    "Deployment",
    "ReplicaSet",
    "ReplicationController",
    "Pod",
    "DaemonSet",
    "RoleBindingList",
    "RoleBinding",
    "RoleList",
    "Role",
    "ClusterRoleBindingList",
    "ClusterRoleBinding",
    "ClusterRoleList",
    "ClusterRole",
    "CustomResourceDefinition",
    "PersistentVolumeClaim",
    "PersistentVolume",
    "StorageClass",
    "ConfigMap",
    "SecretList",
    "Secret",
    "ServiceAccount",
    "PodDisruptionBudget",
    "PodSecurityPolicy",
    "LimitRange",
    "ResourceQuota",
    "NetworkPolicy",
    "Namespace",
    "PriorityClass",
];

/// The hook annotation (`helm.sh/hook`).
pub const HOOK_ANNOTATION: &str = "helm.sh/hook";
/// The hook weight annotation (`helm.sh/hook-weight`).
pub const HOOK_WEIGHT_ANNOTATION: &str = "helm.sh/hook-weight";
/// The hook delete policy annotation (`helm.sh/hook-delete-policy`).
pub const HOOK_DELETE_ANNOTATION: &str = "helm.sh/hook-delete-policy";

/// The hook events Helm knows (`test-success` is Helm 2's name for `test`).
const HOOK_EVENTS: &[(&str, &str)] = &[
    ("pre-install", "pre-install"),
    ("post-install", "post-install"),
    ("pre-delete", "pre-delete"),
    ("post-delete", "post-delete"),
    ("pre-upgrade", "pre-upgrade"),
    ("post-upgrade", "post-upgrade"),
    ("pre-rollback", "pre-rollback"),
    ("post-rollback", "post-rollback"),
    ("test", "test"),
    ("test-success", "test"),
];

/// A document's head as Helm reads it (`releaseutil.SimpleHead`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Head {
    pub api_version: String,
    pub kind: String,
    /// `None` without a `metadata` mapping (absent or null).
    pub metadata: Option<HeadMetadata>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HeadMetadata {
    pub name: String,
    /// `None` without an `annotations` mapping (absent or null).
    pub annotations: Option<BTreeMap<String, String>>,
}

impl Head {
    pub fn name(&self) -> &str {
        self.metadata.as_ref().map_or("", |m| m.name.as_str())
    }
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.metadata
            .as_ref()?
            .annotations
            .as_ref()?
            .get(key)
            .map(String::as_str)
    }
}

/// A hook's events and policies (Helm's `release.Hook`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HookInfo {
    /// The events, lowercased (`pre-install`, ..., `test`), in the annotation's order.
    pub events: Vec<String>,
    /// `helm.sh/hook-weight` as Go's `strconv.Atoi` reads it, 0 when it does not parse.
    pub weight: i64,
    /// `helm.sh/hook-delete-policy`'s entries, trimmed and lowercased, not validated.
    pub delete_policies: Vec<String>,
}

/// One YAML document of a rendered template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    /// The template it came from, `chart/templates/x.yaml`.
    pub path: String,
    /// The document, trimmed, without its `---` separator.
    pub content: String,
    pub head: Head,
    /// `Some` for a hook.
    pub hook: Option<HookInfo>,
}

impl Manifest {
    pub fn kind(&self) -> &str {
        &self.head.kind
    }
    pub fn name(&self) -> &str {
        self.head.name()
    }
    pub fn is_test_hook(&self) -> bool {
        self.hook
            .as_ref()
            .is_some_and(|h| h.events.iter().any(|e| e == "test"))
    }
}

/// A CRD file from a chart's (or a dependency's) `crds/` directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrdFile {
    /// The path as Helm prints it, `chart/crds/x.yaml`, `chart/charts/sub/crds/y.yaml`.
    pub path: String,
    /// The file's content, printed as is.
    pub content: String,
}

/// The rendered release: what Helm's `renderResources` returns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Release {
    /// The plain manifests, sorted by kind in install order.
    pub manifests: Vec<Manifest>,
    /// The hooks, sorted by kind in install order (not by weight).
    pub hooks: Vec<Manifest>,
    /// `rel.Manifest`: the CRDs (when included) and the manifests, with their headers.
    pub manifest_text: String,
}

/// `helm template`'s flags that change what it prints.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TemplateOptions {
    /// `--include-crds`
    pub include_crds: bool,
    /// `--skip-tests`
    pub skip_tests: bool,
    /// `--no-hooks`
    pub no_hooks: bool,
    /// `--show-only` (each a path or glob, `templates/x.yaml`, relative to the chart).
    pub show_only: Vec<String>,
}

/// Whether a file is set aside as notes (Helm: every rendered file ending in NOTES.txt).
pub fn is_notes_file(path: &str) -> bool {
    path.ends_with("NOTES.txt")
}

/// Whether a chart file is a CRD Helm installs (`crds/` and `.yaml`, `.yml` or `.json`,
/// any case), its path relative to its chart.
pub fn is_crd_file(name: &str) -> bool {
    if !name.starts_with("crds/") {
        return false;
    }
    let base = name.rsplit('/').next().unwrap_or(name);
    match base.rfind('.') {
        Some(i) => {
            let ext = &base[i..];
            ext.eq_ignore_ascii_case(".yaml")
                || ext.eq_ignore_ascii_case(".yml")
                || ext.eq_ignore_ascii_case(".json")
        }
        None => false,
    }
}

/// The hooks run for `event` (`pre-install`, `post-install`, `test`, ...) in the order Helm's
/// `execHook` runs them: by weight, then by name, otherwise in the (kind) order given; a
/// hook listing the event twice runs twice.
pub fn hooks_for_event<'a>(hooks: &'a [Manifest], event: &str) -> Vec<&'a Manifest> {
    let mut out: Vec<&Manifest> = Vec::new();
    for h in hooks {
        if let Some(info) = &h.hook {
            for e in &info.events {
                if e == event {
                    out.push(h);
                }
            }
        }
    }
    out.sort_by(|a, b| {
        let wa = a.hook.as_ref().map_or(0, |h| h.weight);
        let wb = b.hook.as_ref().map_or(0, |h| h.weight);
        wa.cmp(&wb).then_with(|| a.name().cmp(b.name()))
    });
    out
}

impl HookInfo {
    /// The delete policies Helm applies: `before-hook-creation` when none is given.
    pub fn effective_delete_policies(&self) -> Vec<String> {
        if self.delete_policies.is_empty() {
            vec!["before-hook-creation".to_string()]
        } else {
            self.delete_policies.clone()
        }
    }
}

/// The release notes Helm keeps (not printed by `helm template`): the top chart's
/// `templates/NOTES.txt` as rendered, or with `sub_notes` every rendered NOTES.txt joined
/// by newlines (Helm takes those in Go's random map order; here in path order).
pub fn release_notes(files: &BTreeMap<String, String>, chart_name: &str, sub_notes: bool) -> String {
    let top = format!("{chart_name}/templates/NOTES.txt");
    let mut notes = String::new();
    for (k, v) in files {
        if is_notes_file(k) && (sub_notes || *k == top) {
            if !notes.is_empty() {
                notes.push('\n');
            }
            notes.push_str(v);
        }
    }
    notes
}

// ---------------------------------------------------------------------------------------
// Splitting

fn is_re_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0c')
}

/// The byte ranges of the matches of Helm's separator regexp `(?:^|\s*\n)---\s*`, as
/// Go's leftmost-first `FindAllStringIndex` finds them.
fn separator_matches(s: &str) -> Vec<(usize, usize)> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut from = 0;
    while from <= b.len() {
        let mut found = None;
        let mut i = from;
        while i <= b.len() {
            if i == 0 && b.starts_with(b"---") {
                found = Some((0, 3));
                break;
            }
            // `\s*\n---`: the whitespace run from i must end with a newline followed by ---
            let mut j = i;
            while j < b.len() && is_re_space(b[j]) {
                j += 1;
            }
            if j > i && b[j - 1] == b'\n' && b[j..].starts_with(b"---") {
                found = Some((i, j + 3));
                break;
            }
            // no match starts anywhere inside this whitespace run
            i = if j > i { j } else { i + 1 };
        }
        let Some((start, mut end)) = found else {
            break;
        };
        while end < b.len() && is_re_space(b[end]) {
            end += 1;
        }
        out.push((start, end));
        from = end;
    }
    out
}

/// Helm's `SplitManifests`: the documents of a file, in order, each trimmed, empty ones
/// dropped. The separator is Helm's regexp, not YAML's: `---` at the start of any line
/// (`----` and `---x` included), eating the blanks around it; a `---` line right after
/// another separator's blanks stays in the next document.
pub fn split_manifests(big: &str) -> Vec<String> {
    let s = big.trim();
    let mut docs: Vec<&str> = Vec::new();
    if s.is_empty() {
        return Vec::new();
    }
    let mut beg = 0;
    let mut end = 0;
    for (ms, me) in separator_matches(s) {
        end = ms;
        if me != 0 {
            docs.push(&s[beg..end]);
        }
        beg = me;
    }
    if end != s.len() {
        docs.push(&s[beg..]);
    }
    docs.into_iter()
        .filter(|d| !d.is_empty())
        .map(|d| d.trim().to_string())
        .collect()
}

// ---------------------------------------------------------------------------------------
// Sorting

/// Sorts `items` by kind as Helm's `sortManifestsByKind` does with `ordering`: stable,
/// listed kinds in the list's order, then unlisted kinds sorted by name.
pub fn sort_by_kind<T>(items: &mut [T], kind: impl Fn(&T) -> &str, ordering: &[&str]) {
    items.sort_by_cached_key(|t| {
        let k = kind(t);
        match ordering.iter().position(|o| *o == k) {
            Some(p) => (0, p, String::new()),
            None => (1, 0, k.to_string()),
        }
    });
}

/// Helm's `SortManifests`: every file (in path order; partials `_*` and blank files
/// skipped) split into documents, each document's head read, hooks and plain manifests
/// each sorted by kind with `ordering`. Returns `(hooks, manifests)`. A document with an
/// unknown hook event is dropped. An unreadable head stops everything with
/// `YAML parse error on <path>: ...`.
pub fn sort_manifests(
    files: &BTreeMap<String, String>,
    ordering: &[&str],
) -> Result<(Vec<Manifest>, Vec<Manifest>), String> {
    let mut hooks = Vec::new();
    let mut generic = Vec::new();
    for (path, content) in files {
        let base = path.rsplit('/').next().unwrap_or(path);
        if base.starts_with('_') || content.trim().is_empty() {
            continue;
        }
        for doc in split_manifests(content) {
            let head = read_head(&doc).map_err(|e| format!("YAML parse error on {path}: {e}"))?;
            let hook_types = head.annotation(HOOK_ANNOTATION).map(str::to_string);
            let Some(hook_types) = hook_types else {
                generic.push(Manifest {
                    path: path.clone(),
                    content: doc,
                    head,
                    hook: None,
                });
                continue;
            };
            let mut events = Vec::new();
            let mut unknown = false;
            for t in hook_types.split(',') {
                let t = go_to_lower(t.trim());
                match HOOK_EVENTS.iter().find(|(n, _)| *n == t) {
                    Some((_, e)) => events.push(e.to_string()),
                    None => {
                        unknown = true;
                        break;
                    }
                }
            }
            if unknown {
                // Helm logs "skipping unknown hook" and leaves the document out entirely
                continue;
            }
            let weight = head
                .annotation(HOOK_WEIGHT_ANNOTATION)
                .and_then(go_atoi)
                .unwrap_or(0);
            let delete_policies = head
                .annotation(HOOK_DELETE_ANNOTATION)
                .map(|d| d.split(',').map(|p| go_to_lower(p.trim())).collect())
                .unwrap_or_default();
            hooks.push(Manifest {
                path: path.clone(),
                content: doc,
                head,
                hook: Some(HookInfo {
                    events,
                    weight,
                    delete_policies,
                }),
            });
        }
    }
    sort_by_kind(&mut hooks, |m| m.kind(), ordering);
    sort_by_kind(&mut generic, |m| m.kind(), ordering);
    Ok((hooks, generic))
}

/// Go's `strings.ToLower`: each character's simple lowercase (no final-sigma rule; `İ`
/// becomes `i`).
fn go_to_lower(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\u{130}' => 'i',
            c => c.to_lowercase().next().unwrap_or(c),
        })
        .collect()
}

/// Go's `strconv.Atoi` (64-bit), `None` where it fails.
fn go_atoi(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<i64>().ok()
}

/// Helm's `renderResources` after the engine ran: NOTES.txt files set aside, the rest
/// sorted, and `rel.Manifest` built (the CRDs first when `include_crds`, each file as is
/// under its `# Source:` header, then each manifest). On a head that does not read, the
/// error as Helm returns it.
pub fn render_resources(
    files: &BTreeMap<String, String>,
    crds: &[CrdFile],
    include_crds: bool,
) -> Result<Release, String> {
    let files: BTreeMap<String, String> = files
        .iter()
        .filter(|(k, _)| !is_notes_file(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let (hooks, manifests) = sort_manifests(&files, INSTALL_ORDER)?;
    let mut text = String::new();
    if include_crds {
        for c in crds {
            text.push_str(&format!("---\n# Source: {}\n{}\n", c.path, c.content));
        }
    }
    for m in &manifests {
        text.push_str(&format!("---\n# Source: {}\n{}\n", m.path, m.content));
    }
    Ok(Release {
        manifests,
        hooks,
        manifest_text: text,
    })
}

/// Exactly what `helm template` prints to stdout for the chart's rendered `files`
/// (`chart/templates/x.yaml` → text, partials and NOTES.txt included or not, they are
/// left out) and its CRD files (in Helm's order: the chart's own, then each dependency's),
/// or its error text (without the `Error: ` prefix the CLI adds).
pub fn helm_template_output(
    files: &BTreeMap<String, String>,
    crds: &[CrdFile],
    opts: &TemplateOptions,
) -> Result<String, String> {
    let rel = render_resources(files, crds, opts.include_crds)
        .map_err(|e| format!("{e}\n\nUse --debug flag to render out invalid YAML"))?;
    let mut out = String::new();
    out.push_str(rel.manifest_text.trim());
    out.push('\n');
    if !opts.no_hooks {
        for h in &rel.hooks {
            if opts.skip_tests && h.is_test_hook() {
                continue;
            }
            out.push_str(&format!("---\n# Source: {}\n{}\n", h.path, h.content));
        }
    }
    if opts.show_only.is_empty() {
        return Ok(out);
    }
    // --show-only: the printed text split again, each pattern matched in turn against
    // each document's `# Source:` path without its chart directory
    let docs = split_manifests(&out);
    let mut shown = String::new();
    for f in &opts.show_only {
        let f = f.replace(std::path::MAIN_SEPARATOR, "/");
        let mut missing = true;
        for doc in &docs {
            let Some(name) = source_name(doc) else {
                continue;
            };
            if !glob_match(&f, name).unwrap_or(false) {
                continue;
            }
            shown.push_str(&format!("---\n{doc}\n"));
            missing = false;
        }
        if missing {
            return Err(format!("could not find template {f} in chart"));
        }
    }
    Ok(shown)
}

/// The first match of Helm's `# Source: [^/]+/(.+)` in a document: the path after the
/// chart's directory.
fn source_name(doc: &str) -> Option<&str> {
    const P: &str = "# Source: ";
    let mut from = 0;
    while let Some(i) = doc[from..].find(P) {
        let start = from + i + P.len();
        let rest = &doc[start..];
        // `[^/]+` greedy, then `/`, then `.+` (no newline), at least one character each
        if let Some(slash) = rest.find('/')
            && slash > 0
        {
            let after = &rest[slash + 1..];
            let line = after.split('\n').next().unwrap_or("");
            if !line.is_empty() {
                return Some(line);
            }
        }
        from = from + i + 1;
    }
    None
}

/// Go's `filepath.ErrBadPattern`: a malformed `--show-only` pattern (which Helm treats as
/// matching nothing).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadPattern;

impl std::fmt::Display for BadPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("syntax error in pattern")
    }
}

impl std::error::Error for BadPattern {}

/// Go's `path/filepath.Match` (with `/` separators): `*`, `?`, `[...]` classes with
/// ranges and `^` negation, `\` escapes.
pub fn glob_match(pattern: &str, name: &str) -> Result<bool, BadPattern> {
    let mut pattern: Vec<char> = pattern.chars().collect();
    let mut name: Vec<char> = name.chars().collect();
    'pattern: while !pattern.is_empty() {
        let (star, chunk, rest) = scan_chunk(&pattern);
        let (chunk, rest) = (chunk.to_vec(), rest.to_vec());
        pattern = rest;
        if star && chunk.is_empty() {
            // a trailing star matches the rest of the name if it holds no separator
            return Ok(!name.contains(&'/'));
        }
        let (t, ok) = match_chunk(&chunk, &name)?;
        // the chunk matches here if the rest matches or this is the last chunk
        if ok && (t.is_empty() || !pattern.is_empty()) {
            name = t.to_vec();
            continue;
        }
        if star {
            // look for a match skipping i+1 bytes; cannot skip a separator
            let mut i = 0;
            while i < name.len() && name[i] != '/' {
                let (t, ok) = match_chunk(&chunk, &name[i + 1..])?;
                if ok {
                    // on the last chunk the whole name must be consumed
                    if pattern.is_empty() && !t.is_empty() {
                        i += 1;
                        continue;
                    }
                    name = t.to_vec();
                    continue 'pattern;
                }
                i += 1;
            }
        }
        // Go checks the rest of the pattern for syntax errors before failing
        while !pattern.is_empty() {
            let (_, chunk, rest) = scan_chunk(&pattern);
            let (chunk, rest) = (chunk.to_vec(), rest.to_vec());
            pattern = rest;
            match_chunk(&chunk, &[])?;
        }
        return Ok(false);
    }
    Ok(name.is_empty())
}

fn scan_chunk(pattern: &[char]) -> (bool, &[char], &[char]) {
    let mut p = pattern;
    let mut star = false;
    while p.first() == Some(&'*') {
        p = &p[1..];
        star = true;
    }
    let mut inrange = false;
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            '\\' if i + 1 < p.len() => i += 1,
            '[' => inrange = true,
            ']' => inrange = false,
            '*' if !inrange => break,
            _ => {}
        }
        i += 1;
    }
    (star, &p[..i], &p[i..])
}

/// Matches `chunk` against the start of `s`: the rest of `s` and whether it matched; `Err`
/// for a malformed chunk (Go's `ErrBadPattern`).
fn match_chunk<'a>(chunk: &[char], s: &'a [char]) -> Result<(&'a [char], bool), BadPattern> {
    let mut chunk = chunk;
    let mut s = s;
    let mut failed = false;
    while !chunk.is_empty() {
        if !failed && s.is_empty() {
            failed = true;
        }
        match chunk[0] {
            '[' => {
                let r = if failed { '\0' } else { s[0] };
                if !failed {
                    s = &s[1..];
                }
                chunk = &chunk[1..];
                let negated = chunk.first() == Some(&'^');
                if negated {
                    chunk = &chunk[1..];
                }
                let mut matched = false;
                let mut nrange = 0;
                loop {
                    if !chunk.is_empty() && chunk[0] == ']' && nrange > 0 {
                        chunk = &chunk[1..];
                        break;
                    }
                    let (lo, rest) = get_esc(chunk)?;
                    chunk = rest;
                    let mut hi = lo;
                    if chunk.first() == Some(&'-') {
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
            '?' => {
                if !failed {
                    if s[0] == '/' {
                        failed = true;
                    }
                    s = &s[1..];
                }
                chunk = &chunk[1..];
            }
            '\\' => {
                chunk = &chunk[1..];
                if chunk.is_empty() {
                    return Err(BadPattern);
                }
                if !failed {
                    if chunk[0] != s[0] {
                        failed = true;
                    }
                    s = &s[1..];
                }
                chunk = &chunk[1..];
            }
            c => {
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
    if failed {
        return Ok((&[], false));
    }
    Ok((s, true))
}

fn get_esc(chunk: &[char]) -> Result<(char, &[char]), BadPattern> {
    if chunk.is_empty() || chunk[0] == '-' || chunk[0] == ']' {
        return Err(BadPattern);
    }
    let mut chunk = chunk;
    if chunk[0] == '\\' {
        chunk = &chunk[1..];
        if chunk.is_empty() {
            return Err(BadPattern);
        }
    }
    let r = chunk[0];
    chunk = &chunk[1..];
    if chunk.is_empty() {
        return Err(BadPattern);
    }
    Ok((r, chunk))
}

// ---------------------------------------------------------------------------------------
// Reading a document's head as sigs.k8s.io/yaml reads it into Helm's SimpleHead

/// A YAML node as Go's yaml.v2 decodes it into `interface {}`.
#[derive(Clone, Debug, PartialEq)]
enum Y {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Seq(Vec<Y>),
    Map(Vec<(String, Y)>),
}

struct YVisitor;

impl<'de> Visitor<'de> for YVisitor {
    type Value = Y;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Y, E> {
        Ok(Y::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Y, E> {
        Ok(Y::Int(i128::from(v)))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Y, E> {
        Ok(Y::Int(i128::from(v)))
    }
    fn visit_i128<E>(self, v: i128) -> Result<Y, E> {
        Ok(Y::Int(v))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Y, E> {
        i128::try_from(v)
            .map(Y::Int)
            .map_err(|_| E::custom("integer out of range"))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Y, E> {
        Ok(Y::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Y, E> {
        Ok(Y::Str(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Y, E> {
        Ok(Y::Str(v))
    }
    fn visit_bytes<E>(self, v: &[u8]) -> Result<Y, E> {
        Ok(Y::Str(String::from_utf8_lossy(v).into_owned()))
    }
    fn visit_none<E>(self) -> Result<Y, E> {
        Ok(Y::Null)
    }
    fn visit_unit<E>(self) -> Result<Y, E> {
        Ok(Y::Null)
    }
    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Y, D::Error> {
        Y::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Y, A::Error> {
        let mut v = Vec::new();
        while let Some(x) = a.next_element::<Y>()? {
            v.push(x);
        }
        Ok(Y::Seq(v))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Y, A::Error> {
        let mut v: Vec<(String, Y)> = Vec::new();
        while let Some((k, x)) = a.next_entry::<Y, Y>()? {
            let k = match k {
                Y::Str(s) => s,
                Y::Int(i) => i.to_string(),
                Y::Bool(b) => b.to_string(),
                Y::Float(f) => match format_float32_g(f).as_str() {
                    "+Inf" => ".inf".to_string(),
                    "-Inf" => "-.inf".to_string(),
                    "NaN" => ".nan".to_string(),
                    s => s.to_string(),
                },
                other => {
                    return Err(de::Error::custom(format!("unsupported map key: {other:?}")));
                }
            };
            // a later duplicate replaces the earlier (Go maps)
            if let Some(e) = v.iter_mut().find(|(ek, _)| *ek == k) {
                e.1 = x;
            } else {
                v.push((k, x));
            }
        }
        Ok(Y::Map(v))
    }
}

impl<'de> Deserialize<'de> for Y {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Y, D::Error> {
        d.deserialize_any(YVisitor)
    }
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 32)`: the shortest float32 digits, in `%e`
/// form (two exponent digits at least) when the exponent is below -4 or 6 and above.
fn format_float32_g(f: f64) -> String {
    let x = f as f32;
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    if x == 0.0 {
        return if x.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    // Rust's `{:e}` gives the shortest round-tripping digits: d.ddddde<exp>
    let e = format!("{:e}", x.abs());
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    let sign = if x < 0.0 { "-" } else { "" };
    let eprec = 6;
    if exp < -4 || exp >= eprec {
        let mut m = digits[..1].to_string();
        if digits.len() > 1 {
            m.push('.');
            m.push_str(&digits[1..]);
        }
        let (es, ea) = if exp < 0 { ('-', -exp) } else { ('+', exp) };
        return format!("{sign}{m}e{es}{ea:02}");
    }
    let point = exp + 1; // digits before the decimal point
    let s = if point <= 0 {
        format!("0.{}{}", "0".repeat((-point) as usize), digits)
    } else if point as usize >= digits.len() {
        format!("{}{}", digits, "0".repeat(point as usize - digits.len()))
    } else {
        format!("{}.{}", &digits[..point as usize], &digits[point as usize..])
    };
    format!("{sign}{s}")
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)` for the non-finite values json refuses.
fn non_finite_text(f: f64) -> &'static str {
    if f.is_nan() {
        "NaN"
    } else if f > 0.0 {
        "+Inf"
    } else {
        "-Inf"
    }
}

/// What a scalar becomes in a Go `string` field (sigs.k8s.io/yaml converts scalars for
/// string targets before JSON): `None` for a sequence or mapping.
fn scalar_for_string(y: &Y) -> Option<Option<String>> {
    match y {
        Y::Null => Some(None),
        Y::Bool(b) => Some(Some(b.to_string())),
        Y::Int(i) => Some(Some(i.to_string())),
        Y::Float(f) => Some(Some(format_float32_g(*f))),
        Y::Str(s) => Some(Some(s.clone())),
        Y::Seq(_) | Y::Map(_) => None,
    }
}

fn json_kind(y: &Y) -> &'static str {
    match y {
        Y::Null => "null",
        Y::Bool(_) => "bool",
        Y::Int(_) | Y::Float(_) => "number",
        Y::Str(_) => "string",
        Y::Seq(_) => "array",
        Y::Map(_) => "object",
    }
}

const META_TYPE: &str = "struct { Name string \"json:\\\"name\\\"\"; Annotations map[string]string \"json:\\\"annotations\\\"\" }";

/// Where the JSON value would fail to marshal (a NaN or infinity outside a string field):
/// the first in JSON's order (map keys sorted).
fn first_non_finite(y: &Y) -> Option<f64> {
    match y {
        Y::Float(f) if !f.is_finite() => Some(*f),
        Y::Seq(v) => v.iter().find_map(first_non_finite),
        Y::Map(m) => {
            let mut m: Vec<&(String, Y)> = m.iter().collect();
            m.sort_by(|a, b| a.0.cmp(&b.0));
            m.into_iter().find_map(|(_, v)| first_non_finite(v))
        }
        _ => None,
    }
}

/// Go's encoding/json field lookup: the exact name, else a case-insensitive match.
fn field_of<'f>(key: &str, fields: &[&'f str]) -> Option<&'f str> {
    fields
        .iter()
        .find(|f| **f == key)
        .or_else(|| fields.iter().find(|f| key.to_lowercase() == f.to_lowercase()))
        .copied()
}

/// The entries of a mapping in JSON's order (keys sorted by bytes).
fn sorted(m: &[(String, Y)]) -> Vec<&(String, Y)> {
    let mut v: Vec<&(String, Y)> = m.iter().collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

struct HeadReader {
    err: Option<String>,
}

impl HeadReader {
    fn fail(&mut self, value: &Y, strukt: &str, field: &str, ty: &str) {
        if self.err.is_none() {
            self.err = Some(format!(
                "json: cannot unmarshal {} into Go struct field {strukt}.{field} of type {ty}",
                json_kind(value)
            ));
        }
    }

    /// The non-NaN scalar conversions happened in YAML-to-JSON; here what's left is
    /// JSON's decoding into the typed fields.
    fn string_field(&mut self, target: &mut String, y: &Y, strukt: &str, field: &str) {
        match scalar_for_string(y) {
            Some(Some(s)) => *target = s,
            Some(None) => {}
            None => self.fail(y, strukt, field, "string"),
        }
    }

    fn head(&mut self, m: &[(String, Y)]) -> Head {
        let mut h = Head::default();
        for (k, v) in sorted(m) {
            match field_of(k, &["apiVersion", "kind", "metadata"]) {
                Some("apiVersion") => self.string_field(&mut h.api_version, v, "SimpleHead", "apiVersion"),
                Some("kind") => self.string_field(&mut h.kind, v, "SimpleHead", "kind"),
                Some(_) => match v {
                    Y::Null => h.metadata = None,
                    Y::Map(mm) => {
                        let meta = h.metadata.get_or_insert_with(HeadMetadata::default);
                        self.metadata(meta, mm);
                    }
                    other => self.fail(other, "SimpleHead", "metadata", META_TYPE),
                },
                None => {}
            }
        }
        h
    }

    fn metadata(&mut self, meta: &mut HeadMetadata, m: &[(String, Y)]) {
        // the metadata struct is anonymous: Go names it "" in the error
        for (k, v) in sorted(m) {
            match field_of(k, &["name", "annotations"]) {
                Some("name") => self.string_field(&mut meta.name, v, "", "metadata.name"),
                Some(_) => match v {
                    Y::Null => meta.annotations = None,
                    Y::Map(am) => {
                        let ann = meta.annotations.get_or_insert_with(BTreeMap::new);
                        for (ak, av) in sorted(am) {
                            match scalar_for_string(av) {
                                Some(s) => {
                                    ann.insert(ak.clone(), s.unwrap_or_default());
                                }
                                None => self.fail(av, "", "metadata.annotations", "string"),
                            }
                        }
                    }
                    other => self.fail(other, "", "metadata.annotations", "map[string]string"),
                },
                None => {}
            }
        }
    }
}

/// NaN and infinities only survive YAML-to-JSON where they land in a string field (they
/// become "NaN", "+Inf", "-Inf"); anywhere else json.Marshal refuses them. The first
/// refused one in JSON's order (keys sorted) is the error.
fn check_marshal(y: &Y) -> Result<(), String> {
    // a string target converts a scalar; a sequence or mapping keeps its floats
    fn in_string(v: &Y) -> Option<f64> {
        match v {
            Y::Seq(_) | Y::Map(_) => first_non_finite(v),
            _ => None,
        }
    }
    fn in_annotations(v: &Y) -> Option<f64> {
        match v {
            Y::Map(am) => sorted(am).into_iter().find_map(|(_, av)| in_string(av)),
            other => first_non_finite(other),
        }
    }
    fn in_metadata(v: &Y) -> Option<f64> {
        match v {
            Y::Map(mm) => {
                sorted(mm)
                    .into_iter()
                    .find_map(|(mk, mv)| match field_of(mk, &["name", "annotations"]) {
                        Some("name") => in_string(mv),
                        Some(_) => in_annotations(mv),
                        None => first_non_finite(mv),
                    })
            }
            other => first_non_finite(other),
        }
    }
    let bad =
        match y {
            Y::Map(m) => sorted(m).into_iter().find_map(|(k, v)| {
                match field_of(k, &["apiVersion", "kind", "metadata"]) {
                    Some("apiVersion") | Some("kind") => in_string(v),
                    Some(_) => in_metadata(v),
                    None => first_non_finite(v),
                }
            }),
            other => first_non_finite(other),
        };
    match bad {
        Some(f) => Err(format!("json: unsupported value: {}", non_finite_text(f))),
        None => Ok(()),
    }
}

/// The text up to the end of the first YAML document: before the first document marker
/// (`...` or `---` at the start of a line, then a blank or the end of the line) that
/// follows content. yaml.v2 stops there; what follows is never parsed.
fn first_document(doc: &str) -> &str {
    let mut seen_content = false;
    let mut pos = 0;
    for line in doc.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        let marker = |m: &str| {
            body.strip_prefix(m)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t']))
        };
        if marker("...") || marker("---") {
            if seen_content {
                return &doc[..pos];
            }
        } else {
            let t = body.trim_start_matches([' ', '\t']);
            let directive = pos == 0 && t.starts_with('%');
            if !(t.is_empty() || t.starts_with('#') || directive) {
                seen_content = true;
            }
        }
        pos += line.len();
    }
    doc
}

fn saphyr_options() -> serde_saphyr::Options {
    let mut o = serde_saphyr::Options::default();
    o.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::LastWins;
    o.legacy_octal_numbers = true;
    o.with_snippet = false;
    o.non_finite_float_policy = serde_saphyr::NonFiniteFloatPolicy::PassThrough;
    o.budget = None;
    o
}

/// The byte offset of a 1-based line and column (characters) in `s`.
fn offset_of(s: &str, line: u64, column: u64) -> Option<usize> {
    let mut pos = 0;
    for (i, l) in s.split_inclusive('\n').enumerate() {
        if i as u64 + 1 == line {
            let col = usize::try_from(column.saturating_sub(1)).ok()?;
            return Some(pos + l.char_indices().nth(col).map_or(l.len(), |(o, _)| o));
        }
        pos += l.len();
    }
    None
}

/// Parses the first YAML document as yaml.v2 does: after the root node, the document may
/// end without a marker and what follows is never looked at.
fn parse_yaml(doc: &str) -> Result<Y, String> {
    let mut doc = first_document(doc);
    // yaml.v2 does not skip a `...` before the first document's content
    let first = doc
        .lines()
        .map(|l| l.trim_end_matches([' ', '\t', '\r']))
        .enumerate()
        .find(|(_, l)| !l.trim_start_matches([' ', '\t']).is_empty() && !l.trim_start().starts_with('#'));
    if let Some((i, l)) = first
        && (l == "..." || l.starts_with("... ") || l.starts_with("...\t"))
    {
        return Err(if i == 0 {
            "yaml: did not find expected node content".to_string()
        } else {
            format!("yaml: line {i}: did not find expected node content")
        });
    }
    for _ in 0..8 {
        match serde_saphyr::from_str_multiple_with_options::<Y, Vec<Y>>(doc, saphyr_options()) {
            Ok(v) => return Ok(v.into_iter().next().unwrap_or(Y::Null)),
            Err(e) => {
                let text = e.to_string();
                if text.starts_with("did not find expected <document start>")
                    && let Some(loc) = e.location()
                    && let Some(off) = offset_of(doc, loc.line(), loc.column())
                    && off < doc.len()
                {
                    // content after the root node: yaml.v2 ends the document before it
                    doc = &doc[..off];
                    continue;
                }
                let mut err = yaml_v2_error(&text, e.location());
                // serde-saphyr reports a missing separator inside `[a: b ...` as the
                // implicit flow mapping's; libyaml as the flow sequence's
                if err.ends_with("did not find expected ',' or '}'")
                    && let Some(loc) = e.location()
                    && let Some(off) = offset_of(doc, loc.line(), loc.column())
                    && innermost_bracket(&doc[..off]) == Some('[')
                {
                    err = format!("{}']'", &err[..err.len() - 3]);
                }
                return Err(err);
            }
        }
    }
    Err("yaml: unknown problem parsing YAML content".into())
}

/// The innermost flow bracket still open at the end of `s` (quoted scalars and comments
/// skipped, roughly as a scanner would).
fn innermost_bracket(s: &str) -> Option<char> {
    let mut stack = Vec::new();
    let mut chars = s.chars().peekable();
    let mut prev = '\n';
    while let Some(c) = chars.next() {
        match c {
            '[' | '{' => stack.push(c),
            ']' | '}' => {
                stack.pop();
            }
            '#' if prev == ' ' || prev == '\t' || prev == '\n' => {
                while chars.peek().is_some_and(|&n| n != '\n') {
                    chars.next();
                }
            }
            '"' => {
                while let Some(n) = chars.next() {
                    if n == '\\' {
                        chars.next();
                    } else if n == '"' {
                        break;
                    }
                }
            }
            '\'' if matches!(prev, ' ' | '[' | '{' | ',' | ':' | '\n') => {
                for n in chars.by_ref() {
                    if n == '\'' {
                        break;
                    }
                }
            }
            _ => {}
        }
        prev = c;
    }
    stack.pop()
}

/// serde-saphyr's error worded as yaml.v2 words its errors where the problem is the same
/// (`yaml: line N: <problem>`); other problems keep serde-saphyr's words.
fn yaml_v2_error(text: &str, loc: Option<serde_saphyr::Location>) -> String {
    let msg = match text.rfind(" at line ") {
        Some(i) => &text[..i],
        None => text,
    };
    let msg = match msg.strip_prefix("while ") {
        Some(rest) => rest.split_once(", ").map_or(msg, |(_, p)| p),
        None => msg,
    };
    let mut line = loc.map_or(0, |l| l.line());
    // the same problems in libyaml's words, where they differ (found by comparing both
    // over random documents)
    let msg = match msg {
        // reported where the key's line ends, not where it starts
        "simple key expected ':'" => {
            line += 1;
            "could not find expected ':'"
        }
        "unexpected EOF while parsing a block sequence" => "did not find expected node content",
        "unclosed quote" => "found unexpected end of stream",
        "found a tab" => "found a tab character that violates indentation",
        m => m,
    };
    // yaml.v2 prints libyaml's 0-based line for parser errors and the 1-based line for
    // scanner errors, and no line at all when the 0-based line is 0
    let parser_error =
        msg.starts_with("did not find expected") || msg.starts_with("found undefined tag handle");
    let line = if parser_error {
        line.saturating_sub(1)
    } else if line <= 1 {
        0
    } else {
        line
    };
    if line == 0 {
        format!("yaml: {msg}")
    } else {
        format!("yaml: line {line}: {msg}")
    }
}

/// Reads a document's head as Helm's `yaml.Unmarshal(doc, &SimpleHead{})` does, with its
/// error texts (`error converting YAML to JSON: ...`, `error unmarshaling JSON: ...`).
pub fn read_head(doc: &str) -> Result<Head, String> {
    let y = parse_yaml(doc).map_err(|e| format!("error converting YAML to JSON: {e}"))?;
    check_marshal(&y).map_err(|e| format!("error converting YAML to JSON: {e}"))?;
    let unmarshal = |e: String| format!("error unmarshaling JSON: while decoding JSON: {e}");
    match &y {
        Y::Null => Ok(Head::default()),
        Y::Map(m) => {
            let mut r = HeadReader { err: None };
            let h = r.head(m);
            match r.err {
                Some(e) => Err(unmarshal(e)),
                None => Ok(h),
            }
        }
        other => Err(unmarshal(format!(
            "json: cannot unmarshal {} into Go value of type releaseutil.SimpleHead",
            json_kind(other)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float32_g() {
        assert_eq!(format_float32_g(1.0), "1");
        assert_eq!(format_float32_g(1.5), "1.5");
        assert_eq!(format_float32_g(0.1), "0.1");
        assert_eq!(format_float32_g(100000.0), "100000");
        assert_eq!(format_float32_g(1000000.0), "1e+06");
        assert_eq!(format_float32_g(1234567.0), "1.234567e+06");
        assert_eq!(format_float32_g(0.0001), "0.0001");
        assert_eq!(format_float32_g(0.00001), "1e-05");
        assert_eq!(format_float32_g(-2.5), "-2.5");
        assert_eq!(format_float32_g(f64::INFINITY), "+Inf");
    }

    #[test]
    fn separator_regexp() {
        assert_eq!(separator_matches("a\n---\nb"), vec![(1, 6)]);
        assert_eq!(separator_matches("---\na"), vec![(0, 4)]);
        assert_eq!(separator_matches("a  \n \n---  \n\nb"), vec![(1, 13)]);
        assert_eq!(separator_matches("a---b"), vec![]);
    }
}
