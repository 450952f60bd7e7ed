//! AppProjects as Argo CD 3.2 enforces them (pkg/apis/application/v1alpha1/app_project_types.go,
//! types.go `isResourceInList`, util/argo/argo.go `ValidatePermissions`, util/glob,
//! util/git `NormalizeGitURL`):
//! - `sourceRepos`: globs with `/` as separator (`*` stays within a path segment, `**`
//!   crosses them), `!` negation; any denying pattern that does not match refuses;
//! - `destinations`: `server`, `name` and `namespace` globs with `!` negation, matched
//!   against the resolved cluster's server and name;
//! - cluster-scoped kinds are denied unless `clusterResourceWhitelist` names them;
//!   namespaced kinds are allowed unless `namespaceResourceWhitelist` is set (an empty list
//!   allows none); blacklists deny; group and kind are `filepath.Match` patterns;
//! - `sourceNamespaces`: Applications outside Argo CD's namespace must match one (globs, or
//!   `/regexp/`).
//!
//! Roles, sync windows, signature keys, project-scoped clusters and repositories and global
//! projects are not enforced; [`Project::unsupported`] says which of them a project uses.

use serde_json::Value;

/// A group/kind pattern pair of a resource list.
#[derive(Clone, Debug, PartialEq, Eq)]
struct GroupKind {
    group: String,
    kind: String,
}

/// One entry of `spec.destinations`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Destination {
    server: String,
    name: String,
    namespace: String,
}

/// An AppProject's spec, as far as the stand-in enforces it.
#[derive(Clone, Debug, Default)]
pub struct Project {
    pub name: String,
    source_repos: Vec<String>,
    destinations: Vec<Destination>,
    /// None when the list is absent (a difference for the namespace whitelist).
    cluster_whitelist: Option<Vec<GroupKind>>,
    cluster_blacklist: Option<Vec<GroupKind>>,
    namespace_whitelist: Option<Vec<GroupKind>>,
    namespace_blacklist: Option<Vec<GroupKind>>,
    source_namespaces: Vec<String>,
    sync_windows: bool,
    signature_keys: bool,
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect()
}

fn group_kinds(v: Option<&Value>) -> Option<Vec<GroupKind>> {
    let list = v?.as_array()?;
    Some(
        list.iter()
            .map(|gk| GroupKind {
                group: gk.get("group").and_then(Value::as_str).unwrap_or("").into(),
                kind: gk.get("kind").and_then(Value::as_str).unwrap_or("").into(),
            })
            .collect(),
    )
}

fn non_empty_list(v: Option<&Value>) -> bool {
    v.and_then(Value::as_array).is_some_and(|a| !a.is_empty())
}

impl Project {
    /// Reads an AppProject object.
    pub fn from_object(obj: &Value) -> Project {
        let spec = obj.get("spec");
        let field = |k: &str| spec.and_then(|s| s.get(k));
        Project {
            name: obj
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .into(),
            source_repos: strings(field("sourceRepos")),
            destinations: field("destinations")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|d| {
                    let s = |k: &str| d.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                    Destination {
                        server: s("server"),
                        name: s("name"),
                        namespace: s("namespace"),
                    }
                })
                .collect(),
            cluster_whitelist: group_kinds(field("clusterResourceWhitelist")),
            cluster_blacklist: group_kinds(field("clusterResourceBlacklist")),
            namespace_whitelist: group_kinds(field("namespaceResourceWhitelist")),
            namespace_blacklist: group_kinds(field("namespaceResourceBlacklist")),
            source_namespaces: strings(field("sourceNamespaces")),
            sync_windows: non_empty_list(field("syncWindows")),
            signature_keys: non_empty_list(field("signatureKeys")),
        }
    }

    /// IsSourcePermitted: the repository URL, normalized, against `sourceRepos`.
    pub fn is_source_permitted(&self, repo_url: &str) -> bool {
        let src = normalize_git_url(repo_url);
        let mut any = false;
        for pattern in &self.source_repos {
            let normalized = match pattern.strip_prefix('!') {
                Some(p) => format!("!{}", normalize_git_url(p)),
                None => normalize_git_url(pattern),
            };
            if glob_match_negatable(&normalized, &src, &['/']) {
                any = true;
            } else if normalized.starts_with('!') {
                return false;
            }
        }
        any
    }

    /// IsDestinationPermitted (isDestinationMatched) for the resolved cluster.
    pub fn is_destination_permitted(&self, server: &str, name: &str, namespace: &str) -> bool {
        let mut any = false;
        for item in &self.destinations {
            let name_matched = !name.is_empty() && glob_match_negatable(&item.name, name, &[]);
            let server_matched = !server.is_empty() && glob_match_negatable(&item.server, server, &[]);
            let ns_matched = glob_match_negatable(&item.namespace, namespace, &[]);
            let matched = (server_matched || name_matched) && ns_matched;
            // Go's precedence: `a || b && c` is `a || (b && c)`
            if matched {
                any = true;
            } else if (!name_matched && item.name.starts_with('!'))
                || (!server_matched && item.server.starts_with('!') && ns_matched)
                || (!ns_matched && item.namespace.starts_with('!') && server_matched)
            {
                return false;
            }
        }
        any
    }

    /// IsGroupKindPermitted.
    pub fn is_group_kind_permitted(&self, group: &str, kind: &str, namespaced: bool) -> bool {
        let in_list = |list: &Option<Vec<GroupKind>>| {
            list.as_ref().is_some_and(|l| {
                l.iter()
                    .any(|gk| path_match(&gk.kind, kind) && path_match(&gk.group, group))
            })
        };
        if namespaced {
            let white = match &self.namespace_whitelist {
                None => true,
                Some(l) => !l.is_empty() && in_list(&self.namespace_whitelist),
            };
            return white && !in_list(&self.namespace_blacklist);
        }
        in_list(&self.cluster_whitelist) && !in_list(&self.cluster_blacklist)
    }

    /// IsAppNamespacePermitted: Applications in Argo CD's namespace always are.
    pub fn is_app_namespace_permitted(&self, app_namespace: &str, controller_namespace: &str) -> bool {
        if app_namespace.is_empty() || app_namespace == controller_namespace {
            return true;
        }
        self.source_namespaces.iter().any(|p| {
            (p.len() >= 2
                && p.starts_with('/')
                && p.ends_with('/')
                && regex_lite::Regex::new(&p[1..p.len() - 1]).is_ok_and(|r| r.is_match(app_namespace)))
                || glob_match(p, app_namespace, &[])
        })
    }

    /// The project features the stand-in does not enforce, for a warning condition.
    pub fn unsupported(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.sync_windows {
            out.push("syncWindows");
        }
        if self.signature_keys {
            out.push("signatureKeys");
        }
        out
    }
}

/// The condition an Application gets when its project uses features the sim does not
/// enforce. Argo CD's warning conditions are the types ending in `Warning`.
pub const UNSUPPORTED_CONDITION: &str = "UnsupportedFeatureWarning";

/// The message of [`UNSUPPORTED_CONDITION`] for a project.
pub fn unsupported_message(project: &Project) -> Option<String> {
    let features = project.unsupported();
    if features.is_empty() {
        return None;
    }
    Some(format!(
        "project '{}' sets {}, which the hubspoke sim does not enforce: syncs run as if they were not set",
        project.name,
        features.join(" and ")
    ))
}

/// util/git NormalizeGitURL: lower case, `user@host:path` as `host/path`-style SSH URLs,
/// no `.git` suffix.
pub fn normalize_git_url(repo: &str) -> String {
    let mut repo = repo.trim().to_lowercase();
    if is_ssh_url(&repo) && !repo.starts_with("ssh://") {
        repo = format!("ssh://{}", repo.replacen(':', "/", 1));
    }
    let repo = repo.strip_suffix(".git").unwrap_or(&repo).to_string();
    repo.strip_prefix("ssh://").unwrap_or(&repo).to_string()
}

/// `^(ssh://)?([^/:]*?)@[^@]+$`
fn is_ssh_url(url: &str) -> bool {
    let rest = url.strip_prefix("ssh://").unwrap_or(url);
    match rest.rfind('@') {
        Some(at) => {
            !rest[..at].contains(['/', ':']) && !rest[at + 1..].is_empty() && !rest[at + 1..].contains('@')
        }
        None => false,
    }
}

/// app_project_types.go globMatch: `!pattern` negates, `*` matches everything.
fn glob_match_negatable(pattern: &str, text: &str, separators: &[char]) -> bool {
    if let Some(p) = pattern.strip_prefix('!') {
        return !glob_match(p, text, separators);
    }
    pattern == "*" || glob_match(pattern, text, separators)
}

/// A compiled gobwas/glob pattern.
#[derive(Clone, Debug, PartialEq)]
enum Node {
    Text(Vec<char>),
    /// `*`: any run of non-separators.
    Any,
    /// `**`: any run.
    Super,
    /// `?`: one non-separator.
    Single,
    /// `[abc]`, `[!abc]`: one character (separators included).
    List(Vec<char>, bool),
    /// `[a-z]`, `[!a-z]`.
    Range(char, char, bool),
    /// `{a,b}`.
    AnyOf(Vec<Vec<Node>>),
}

/// util/glob.Match (gobwas/glob v0.2.3): a pattern that does not compile matches nothing.
pub fn glob_match(pattern: &str, text: &str, separators: &[char]) -> bool {
    let Ok(nodes) = compile_glob(pattern) else {
        return false;
    };
    let text: Vec<char> = text.chars().collect();
    let budget = std::cell::Cell::new(1_000_000usize);
    match_nodes(&nodes, &text, 0, separators, &budget, &mut |p| p == text.len())
}

fn compile_glob(pattern: &str) -> Result<Vec<Node>, String> {
    // the lexer: text runs end at the special characters, `,` and `}` only inside `{}`
    let chars: Vec<char> = pattern.chars().collect();
    // a stack of open alternatives: (the nodes before `{`, the finished alternatives)
    let mut stack: Vec<(Vec<Node>, Vec<Vec<Node>>)> = Vec::new();
    let mut cur: Vec<Node> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let in_terms = !stack.is_empty();
        match c {
            '{' => {
                stack.push((std::mem::take(&mut cur), Vec::new()));
                i += 1;
            }
            ',' if in_terms => {
                let top = stack.last_mut().expect("in terms");
                top.1.push(std::mem::take(&mut cur));
                i += 1;
            }
            '}' if in_terms => {
                let (before, mut alts) = stack.pop().expect("in terms");
                alts.push(std::mem::take(&mut cur));
                cur = before;
                cur.push(Node::AnyOf(alts));
                i += 1;
            }
            '?' => {
                cur.push(Node::Single);
                i += 1;
            }
            '*' => {
                if chars.get(i + 1) == Some(&'*') {
                    cur.push(Node::Super);
                    i += 2;
                } else {
                    cur.push(Node::Any);
                    i += 1;
                }
            }
            '[' => {
                i += 1;
                let (node, next) = lex_range(&chars, i)?;
                cur.push(node);
                i = next;
            }
            _ => {
                let mut text = Vec::new();
                let mut escaped = false;
                while i < chars.len() {
                    let r = chars[i];
                    if !escaped {
                        if r == '\\' {
                            escaped = true;
                            i += 1;
                            continue;
                        }
                        let breaks = matches!(r, '?' | '*' | '[' | '{')
                            || (!stack.is_empty() && matches!(r, '}' | ','));
                        if breaks {
                            break;
                        }
                    }
                    escaped = false;
                    text.push(r);
                    i += 1;
                }
                if !text.is_empty() {
                    cur.push(Node::Text(text));
                }
            }
        }
    }
    // alternatives left open at the end stay as they are
    while let Some((before, mut alts)) = stack.pop() {
        alts.push(std::mem::take(&mut cur));
        cur = before;
        cur.push(Node::AnyOf(alts));
    }
    Ok(cur)
}

/// Lexes and parses a character class after `[` as gobwas/glob does (`fetchRange`,
/// `parserRange`); returns it and the index after `]`.
fn lex_range(chars: &[char], mut i: usize) -> Result<(Node, usize), String> {
    let (mut not, mut seen_not, mut want_hi, mut want_close) = (false, false, false, false);
    let (mut lo, mut hi, mut text): (Option<char>, Option<char>, Option<Vec<char>>) = (None, None, None);
    loop {
        let Some(&r) = chars.get(i) else {
            return Err("unexpected end of input".into());
        };
        i += 1;
        if want_close {
            if r != ']' {
                return Err("expected close range character".into());
            }
            break;
        }
        if want_hi {
            hi = Some(r);
            want_close = true;
            continue;
        }
        if !seen_not && r == '!' {
            not = true;
            seen_not = true;
            continue;
        }
        if chars.get(i) == Some(&'-') {
            i += 1;
            lo = Some(r);
            want_hi = true;
            continue;
        }
        // text up to `]`, with escapes
        i -= 1;
        let mut t = Vec::new();
        let mut escaped = false;
        while let Some(&c) = chars.get(i) {
            if !escaped {
                if c == '\\' {
                    escaped = true;
                    i += 1;
                    continue;
                }
                if c == ']' {
                    break;
                }
            }
            escaped = false;
            t.push(c);
            i += 1;
        }
        if !t.is_empty() {
            text = Some(t);
        }
        want_close = true;
    }
    if let (Some(l), Some(h)) = (lo, hi)
        && h < l
    {
        return Err(format!("hi character '{h}' should be greater than lo '{l}'"));
    }
    let is_range = lo.is_some_and(|c| c != '\0') && hi.is_some_and(|c| c != '\0');
    match (text, is_range) {
        (Some(t), false) => Ok((Node::List(t, not), i)),
        (None, true) => Ok((
            Node::Range(lo.unwrap_or_default(), hi.unwrap_or_default(), not),
            i,
        )),
        _ => Err("could not parse range".into()),
    }
}

/// Matches `nodes` against `text` from `pos`, then calls `k` with where the match ended
/// (continuation style, so `{a,b}` and `*` backtrack). `budget` bounds the steps of
/// pathological patterns.
fn match_nodes(
    nodes: &[Node],
    text: &[char],
    pos: usize,
    seps: &[char],
    budget: &std::cell::Cell<usize>,
    k: &mut dyn FnMut(usize) -> bool,
) -> bool {
    if budget.get() == 0 {
        return false;
    }
    budget.set(budget.get() - 1);
    let Some((first, rest)) = nodes.split_first() else {
        return k(pos);
    };
    match first {
        Node::Text(t) => {
            let end = pos + t.len();
            end <= text.len() && text[pos..end] == t[..] && match_nodes(rest, text, end, seps, budget, k)
        }
        Node::Single => {
            pos < text.len()
                && !seps.contains(&text[pos])
                && match_nodes(rest, text, pos + 1, seps, budget, k)
        }
        Node::List(l, not) => {
            pos < text.len()
                && l.contains(&text[pos]) != *not
                && match_nodes(rest, text, pos + 1, seps, budget, k)
        }
        Node::Range(lo, hi, not) => {
            pos < text.len()
                && (*lo <= text[pos] && text[pos] <= *hi) != *not
                && match_nodes(rest, text, pos + 1, seps, budget, k)
        }
        Node::Any | Node::Super => {
            let mut end = pos;
            loop {
                if match_nodes(rest, text, end, seps, budget, k) {
                    return true;
                }
                if end >= text.len() || (*first == Node::Any && seps.contains(&text[end])) {
                    return false;
                }
                end += 1;
            }
        }
        Node::AnyOf(alts) => alts.iter().any(|alt| {
            match_nodes(alt, text, pos, seps, budget, &mut |p| {
                match_nodes(rest, text, p, seps, budget, &mut *k)
            })
        }),
    }
}

/// Go's `path/filepath.Match` on Unix: `*`, `?` (not `/`), `[...]` / `[^...]` classes with
/// ranges, `\` escapes; a malformed pattern matches nothing (Argo CD ignores the error).
pub fn path_match(pattern: &str, name: &str) -> bool {
    // the rendering engine's filepath.Match (which .helmignore uses too)
    matches!(hubspoke_render::source::dir::glob_match(pattern, name), Ok(true))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn gobwas_globs() {
        // the gobwas/glob readme's examples
        assert!(glob_match("*.github.com", "api.github.com", &[]));
        assert!(glob_match("api.*.com", "api.github.com", &['.']));
        assert!(!glob_match("api.*.com", "api.gi.hub.com", &['.']));
        assert!(glob_match("api.**.com", "api.gi.hub.com", &['.']));
        assert!(glob_match("?at", "cat", &[]));
        assert!(!glob_match("?at", "fat", &['f']));
        assert!(!glob_match("?at", "at", &[]));
        assert!(glob_match("[abc]at", "bat", &[]));
        assert!(!glob_match("[abc]at", "fat", &[]));
        assert!(glob_match("[!abc]at", "fat", &[]));
        assert!(!glob_match("[!abc]at", "cat", &[]));
        assert!(glob_match("[a-c]at", "cat", &[]));
        assert!(glob_match("[!a-c]at", "fat", &[]));
        for t in ["cat", "bat", "fat", "rat"] {
            assert!(glob_match("{cat,bat,[fr]at}", t, &[]), "{t}");
        }
        assert!(!glob_match("{cat,bat,[fr]at}", "zat", &[]));
        // escapes, literal text, empty patterns
        assert!(glob_match("a\\*b", "a*b", &[]));
        assert!(!glob_match("a\\*b", "axb", &[]));
        assert!(glob_match("", "", &[]));
        assert!(!glob_match("", "x", &[]));
        assert!(glob_match("a,b}", "a,b}", &[]));
        // malformed patterns match nothing
        assert!(!glob_match("[abc", "a", &[]));
        assert!(!glob_match("[]", "", &[]));
        assert!(!glob_match("[z-a]", "b", &[]));
    }

    #[test]
    fn go_filepath_match() {
        assert!(path_match("*", "Deployment"));
        assert!(path_match("", ""));
        assert!(!path_match("", "apps"));
        assert!(path_match("*.k8s.io", "rbac.authorization.k8s.io"));
        assert!(path_match("Cluster*", "ClusterRole"));
        assert!(!path_match("Cluster*", "Role"));
        assert!(path_match("?ole", "Role"));
        assert!(path_match("[CR]ole", "Role"));
        assert!(path_match("[^C]ole", "Role"));
        assert!(!path_match("[^R]ole", "Role"));
        assert!(path_match("[a-z]*", "apps"));
        assert!(path_match("a\\*", "a*"));
        // malformed
        assert!(!path_match("[", "["));
        assert!(!path_match("a\\", "a"));
        assert!(!path_match("*[", "x"));
    }

    fn project(spec: Value) -> Project {
        Project::from_object(&json!({"metadata": {"name": "team"}, "spec": spec}))
    }

    #[test]
    fn source_repos_with_globs_and_negation() {
        let p = project(json!({"sourceRepos": ["https://github.com/example/*"]}));
        assert!(p.is_source_permitted("https://github.com/example/platform.git"));
        assert!(p.is_source_permitted("HTTPS://GitHub.com/Example/Platform"));
        assert!(!p.is_source_permitted("https://github.com/example/group/platform.git"));
        assert!(!p.is_source_permitted("https://github.com/other/platform.git"));
        let p = project(json!({"sourceRepos": ["https://github.com/example/**"]}));
        assert!(p.is_source_permitted("https://github.com/example/group/platform.git"));
        let p = project(json!({"sourceRepos": ["*", "!https://github.com/example/secret"]}));
        assert!(p.is_source_permitted("https://github.com/example/platform.git"));
        assert!(!p.is_source_permitted("https://github.com/example/secret.git"));
        let p = project(json!({"sourceRepos": ["git@github.com:example/*"]}));
        assert!(p.is_source_permitted("git@github.com:example/platform.git"));
        assert!(!project(json!({})).is_source_permitted("https://github.com/example/platform.git"));
    }

    #[test]
    fn destinations_with_globs_and_negation() {
        let p = project(json!({"destinations": [{"server": "https://10.0.0.*", "namespace": "team-*"}]}));
        assert!(p.is_destination_permitted("https://10.0.0.1", "spoke-a", "team-a"));
        assert!(!p.is_destination_permitted("https://10.0.0.1", "spoke-a", "kube-system"));
        assert!(!p.is_destination_permitted("https://10.0.1.1", "spoke-a", "team-a"));
        let p = project(json!({"destinations": [{"name": "spoke-*", "namespace": "*"}]}));
        assert!(p.is_destination_permitted("https://10.0.0.1", "spoke-a", "anything"));
        assert!(!p.is_destination_permitted("https://10.0.0.1", "hub", "anything"));
        let p = project(json!({"destinations": [
            {"server": "*", "namespace": "*"},
            {"server": "*", "namespace": "!kube-system"}]}));
        assert!(p.is_destination_permitted("https://x", "x", "web"));
        assert!(!p.is_destination_permitted("https://x", "x", "kube-system"));
        let p = project(json!({"destinations": [
            {"server": "*", "namespace": "*"},
            {"server": "!https://forbidden", "namespace": "*"}]}));
        assert!(!p.is_destination_permitted("https://forbidden", "x", "web"));
        assert!(p.is_destination_permitted("https://allowed", "x", "web"));
    }

    #[test]
    fn resource_lists_and_their_defaults() {
        // absent lists: namespaced allowed, cluster-scoped denied
        let p = project(json!({}));
        assert!(p.is_group_kind_permitted("apps", "Deployment", true));
        assert!(!p.is_group_kind_permitted("", "Namespace", false));
        // an empty namespace whitelist allows nothing
        let p = project(json!({"namespaceResourceWhitelist": []}));
        assert!(!p.is_group_kind_permitted("apps", "Deployment", true));
        let p = project(json!({
            "clusterResourceWhitelist": [{"group": "*", "kind": "*"}],
            "clusterResourceBlacklist": [{"group": "rbac.authorization.k8s.io", "kind": "Cluster*"}],
            "namespaceResourceWhitelist": [{"group": "", "kind": "*"}, {"group": "apps", "kind": "Deployment"}],
            "namespaceResourceBlacklist": [{"group": "", "kind": "Secret"}]}));
        assert!(p.is_group_kind_permitted("", "Namespace", false));
        assert!(!p.is_group_kind_permitted("rbac.authorization.k8s.io", "ClusterRole", false));
        assert!(p.is_group_kind_permitted("", "ConfigMap", true));
        assert!(!p.is_group_kind_permitted("", "Secret", true));
        assert!(p.is_group_kind_permitted("apps", "Deployment", true));
        assert!(!p.is_group_kind_permitted("apps", "StatefulSet", true));
    }

    #[test]
    fn source_namespaces_and_unsupported_features() {
        let p = project(json!({"sourceNamespaces": ["team-*", "/^ops-[0-9]+$/"],
            "syncWindows": [{"kind": "deny", "schedule": "* * * * *", "duration": "1h"}]}));
        assert!(p.is_app_namespace_permitted("argocd", "argocd"));
        assert!(p.is_app_namespace_permitted("team-a", "argocd"));
        assert!(p.is_app_namespace_permitted("ops-12", "argocd"));
        assert!(!p.is_app_namespace_permitted("ops-x", "argocd"));
        assert!(!p.is_app_namespace_permitted("other", "argocd"));
        assert_eq!(
            unsupported_message(&p).unwrap(),
            "project 'team' sets syncWindows, which the hubspoke sim does not enforce: syncs run as if they were not set"
        );
        assert!(unsupported_message(&project(json!({"syncWindows": []}))).is_none());
    }

    #[test]
    fn git_urls_normalize_as_argo_cds() {
        assert_eq!(
            normalize_git_url(" https://GitHub.com/Example/Repo.git "),
            "https://github.com/example/repo"
        );
        assert_eq!(
            normalize_git_url("git@github.com:example/repo.git"),
            "git@github.com/example/repo"
        );
        assert_eq!(
            normalize_git_url("ssh://git@github.com/example/repo"),
            "git@github.com/example/repo"
        );
    }
}
