//! Cluster definitions: `release/<env>/clusters/*.yaml` in the platform's format.
//!
//! A definition is the helm values of the platform's cluster-registration chart: what a
//! cluster is (name, type, cloud vendor, environment), where its platform and tenant
//! configuration live (repository, revision, path), the features it enables (`enable_*`
//! labels, `"true"`/`"false"`) and how Argo CD reaches it (`cluster_authentication`).
//!
//! Validation is strict: everything the chart and the ApplicationSets rely on is checked,
//! unknown fields are rejected with a did-you-mean, and every error names the file, the
//! line and column, the field, the bad value and the fix.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::yaml::{self, Node, Pos, Value};

/// What a cluster is in the hub/spoke platform.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClusterType {
    /// Runs Argo CD and manages the spokes.
    Hub,
    /// Managed by the hub.
    Spoke,
    /// Runs its own Argo CD and manages only itself.
    Standalone,
}

impl ClusterType {
    pub const ALL: [&str; 3] = ["hub", "spoke", "standalone"];

    pub fn as_str(self) -> &'static str {
        match self {
            ClusterType::Hub => "hub",
            ClusterType::Spoke => "spoke",
            ClusterType::Standalone => "standalone",
        }
    }
}

impl fmt::Display for ClusterType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The cloud vendors the platform has addons for (`addons/*/<vendor>/`).
pub const CLOUD_VENDORS: [&str; 4] = ["aws", "azure", "google", "kind"];

/// How Argo CD reaches the cluster: the cluster Secret's `server` and `config`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct ClusterAuthentication {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// Argo CD's cluster config (`bearerToken`, `tlsClientConfig`, `awsAuthConfig`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<serde_json::Value>,
}

impl ClusterAuthentication {
    pub fn is_empty(&self) -> bool {
        self.server.is_none() && self.config.is_none()
    }
}

/// One cluster definition.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct ClusterDefinition {
    pub enabled: bool,
    pub cluster_name: String,
    pub cloud_vendor: String,
    pub environment: String,
    pub tenant_repository: String,
    pub tenant_revision: String,
    pub tenant_path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant_cost_center: Option<String>,
    pub platform_repository: String,
    pub platform_revision: String,
    pub platform_path: String,
    pub cluster_type: ClusterType,
    pub tenant: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub cluster_authentication: ClusterAuthentication,
    /// The file it was read from (not part of the format).
    #[serde(skip)]
    pub file: PathBuf,
}

impl ClusterDefinition {
    /// Is the feature `enable_<name>` switched on?
    pub fn enables(&self, feature: &str) -> bool {
        self.labels.get(&format!("enable_{feature}")).map(String::as_str) == Some("true")
    }

    /// The definition in the platform's file format.
    pub fn to_yaml(&self) -> String {
        serde_saphyr::to_string(self).unwrap_or_default()
    }
}

/// An error in a cluster definition, with its place and its fix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DefinitionError {
    pub file: PathBuf,
    pub line: u64,
    pub column: u64,
    /// The field at fault (`cluster_type`, `labels.enable_kyverno`, ...), empty for the file.
    pub field: String,
    /// What is wrong, with the value, and what to do.
    pub message: String,
}

impl fmt::Display for DefinitionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: ", self.file.display())?;
        } else {
            write!(f, "{}:{}:{}: ", self.file.display(), self.line, self.column)?;
        }
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for DefinitionError {}

/// All errors of a set of definitions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefinitionErrors(pub Vec<DefinitionError>);

impl fmt::Display for DefinitionErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        writeln!(
            f,
            "{n} error{} in the cluster definitions:",
            if n == 1 { "" } else { "s" }
        )?;
        for e in &self.0 {
            writeln!(f, "  {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for DefinitionErrors {}

/// The fields of a definition, in the platform's order.
const FIELDS: [&str; 16] = [
    "enabled",
    "cluster_name",
    "cloud_vendor",
    "environment",
    "tenant_repository",
    "tenant_revision",
    "tenant_path",
    "tenant_cost_center",
    "platform_repository",
    "platform_revision",
    "platform_path",
    "cluster_type",
    "tenant",
    "labels",
    "annotations",
    "cluster_authentication",
];

/// Labels the registration chart sets itself; a definition must not set them too.
const RESERVED_LABELS: [&str; 7] = [
    "argocd.argoproj.io/secret-type",
    "enable_core",
    "enable_argocd",
    "cluster_name",
    "cluster_type",
    "cloud_vendor",
    "environment",
];

/// Annotations the registration chart sets itself.
const RESERVED_ANNOTATIONS: [&str; 8] = [
    "cloud_vendor",
    "platform_path",
    "platform_repository",
    "platform_revision",
    "tenant_repository",
    "tenant_revision",
    "tenant_path",
    "tenant",
];

/// Argo CD's ClusterConfig fields (pkg/apis/application/v1alpha1/types.go).
const CONFIG_FIELDS: [&str; 8] = [
    "username",
    "password",
    "bearerToken",
    "tlsClientConfig",
    "awsAuthConfig",
    "execProviderConfig",
    "disableCompression",
    "proxyUrl",
];
const TLS_FIELDS: [&str; 5] = ["insecure", "serverName", "certData", "keyData", "caData"];
const AWS_FIELDS: [&str; 3] = ["clusterName", "roleARN", "profile"];
const EXEC_FIELDS: [&str; 6] = [
    "command",
    "args",
    "env",
    "apiVersion",
    "installHint",
    "provideClusterInfo",
];

/// The closest candidate to `word`, if close enough to be a likely typo.
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| {
            // a swapped or missing letter in a short word scores low on Jaro-Winkler alone
            let close = strsim::osa_distance(word, c) <= 1;
            (strsim::jaro_winkler(word, c) + if close { 1.0 } else { 0.0 }, c)
        })
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

struct Checker<'a> {
    file: &'a Path,
    errors: Vec<DefinitionError>,
}

impl Checker<'_> {
    fn error(&mut self, pos: Pos, field: &str, message: impl Into<String>) {
        self.errors.push(DefinitionError {
            file: self.file.to_path_buf(),
            line: pos.line,
            column: pos.column,
            field: field.to_string(),
            message: message.into(),
        });
    }

    /// A string field; a number or boolean where a string belongs gets "quote it".
    fn string(&mut self, node: &Node, field: &str) -> Option<String> {
        match &node.value {
            Value::Str(s) if s.trim().is_empty() => {
                self.error(node.pos, field, format!("is empty; set {field} to a value"));
                None
            }
            Value::Str(s) => Some(s.clone()),
            Value::Bool(_) | Value::Int(_) | Value::Float(_) => {
                self.error(
                    node.pos,
                    field,
                    format!(
                        "{} is {} but must be a string; quote it: {field}: \"{}\"",
                        node.shown(),
                        node.kind(),
                        node.shown()
                    ),
                );
                None
            }
            Value::Null => {
                self.error(node.pos, field, format!("is empty; set {field} to a value"));
                None
            }
            _ => {
                self.error(
                    node.pos,
                    field,
                    format!("is {} but must be a string", node.kind()),
                );
                None
            }
        }
    }

    /// A string field whose value `problem` judges; `message(value, problem)` says what is
    /// wrong and the fix.
    fn checked(
        &mut self,
        node: &Node,
        field: &str,
        problem: impl Fn(&str) -> Option<String>,
        message: impl Fn(&str, &str) -> String,
    ) -> Option<String> {
        let v = self.string(node, field)?;
        match problem(&v) {
            None => Some(v),
            Some(p) => {
                self.error(node.pos, field, message(&v, &p));
                None
            }
        }
    }

    fn repository(&mut self, node: &Node, field: &str) -> Option<String> {
        self.checked(node, field, |v| repository_problem(v).map(String::from), |v, p| {
            format!("{v:?} is not a git repository URL: {p}; use the HTTPS clone URL, e.g. https://github.com/org/platform.git")
        })
    }

    fn revision(&mut self, node: &Node, field: &str) -> Option<String> {
        self.checked(
            node,
            field,
            |v| revision_problem(v).map(String::from),
            |v, p| format!("{v:?} is not a git revision: {p}; use a branch, tag or commit SHA, e.g. main"),
        )
    }

    fn path(&mut self, node: &Node, field: &str) -> Option<String> {
        let problem = |p: &str| {
            if p.starts_with('/') {
                Some("it is absolute".to_string())
            } else if p.split('/').any(|c| c == "..") {
                Some("it leaves the repository (..)".to_string())
            } else if p.contains(char::is_whitespace) {
                Some("it contains whitespace".to_string())
            } else {
                None
            }
        };
        self.checked(node, field, problem, |v, p| {
            format!(
                "{v:?} is not a path inside the repository: {p}; use a relative path such as release/hub-kind"
            )
        })
        .map(|p| p.trim_end_matches('/').to_string())
    }

    /// A string that becomes a Kubernetes label value.
    fn label_value_field(&mut self, node: &Node, field: &str) -> Option<String> {
        self.checked(node, field, label_value_problem, |v, p| {
            format!("{v:?} cannot be a Kubernetes label value ({p}), and the cluster Secret carries it as one; use letters, digits, '-', '_' or '.'")
        })
    }

    fn unknown_keys(&mut self, map: &[(yaml::Key, Node)], prefix: &str, known: &[&str]) {
        for (k, _) in map {
            if known.contains(&k.name.as_str()) {
                continue;
            }
            let field = if prefix.is_empty() {
                k.name.clone()
            } else {
                format!("{prefix}.{}", k.name)
            };
            let hint = match did_you_mean(&k.name, known.iter().copied()) {
                Some(s) => format!("did you mean {s}?"),
                None => format!("the known fields are {}", known.join(", ")),
            };
            self.error(k.pos, &field, format!("unknown field; {hint}"));
        }
    }

    fn string_map(
        &mut self,
        node: &Node,
        field: &str,
        check: impl Fn(&str, &str) -> Option<String>,
    ) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let Some(map) = (match &node.value {
            Value::Null => return out,
            Value::Map(m) => Some(m),
            _ => None,
        }) else {
            self.error(
                node.pos,
                field,
                format!("is {} but must be a mapping of names to strings", node.kind()),
            );
            return out;
        };
        for (k, v) in map {
            let f = format!("{field}.{}", k.name);
            if let Some(problem) = qualified_name_problem(&k.name) {
                self.error(
                    k.pos,
                    &f,
                    format!(
                        "{:?} is not a valid Kubernetes {} key: {problem}",
                        k.name,
                        field.trim_end_matches('s')
                    ),
                );
                continue;
            }
            let Some(s) = self.string(v, &f) else { continue };
            if let Some(msg) = check(&k.name, &s) {
                self.error(v.pos, &f, msg);
                continue;
            }
            out.insert(k.name.clone(), s);
        }
        out
    }

    fn authentication(&mut self, node: &Node) -> ClusterAuthentication {
        const F: &str = "cluster_authentication";
        let mut auth = ClusterAuthentication::default();
        let map = match &node.value {
            Value::Null => return auth,
            Value::Map(m) => m,
            _ => {
                self.error(
                    node.pos,
                    F,
                    format!(
                        "is {} but must be a mapping with server and config, or {{}}",
                        node.kind()
                    ),
                );
                return auth;
            }
        };
        self.unknown_keys(map, F, &["server", "config"]);
        for (k, v) in map {
            match k.name.as_str() {
                "server" => {
                    let f = "cluster_authentication.server";
                    if let Some(s) = self.string(v, f) {
                        if let Some(problem) = server_problem(&s) {
                            self.error(
                                v.pos,
                                f,
                                format!(
                                    "{s:?} is not an API server URL: {problem}; use https://<host>[:port], e.g. https://10.0.0.1:6443"
                                ),
                            );
                        } else {
                            auth.server = Some(s);
                        }
                    }
                }
                "config" if self.cluster_config(v) => auth.config = Some(v.to_json()),
                _ => {}
            }
        }
        auth
    }

    /// Argo CD's ClusterConfig; credentials must not be committed.
    fn cluster_config(&mut self, node: &Node) -> bool {
        const F: &str = "cluster_authentication.config";
        let before = self.errors.len();
        let Some(map) = node.as_map() else {
            self.error(
                node.pos,
                F,
                format!(
                    "is {} but must be a mapping (Argo CD's cluster config)",
                    node.kind()
                ),
            );
            return false;
        };
        self.unknown_keys(map, F, &CONFIG_FIELDS);
        for (k, v) in map {
            let f = format!("{F}.{}", k.name);
            match k.name.as_str() {
                "bearerToken" | "password" => self.error(
                    k.pos,
                    &f,
                    "is a credential and must not be committed in a cluster definition; leave it out (hubspoke registers the cluster with a token at run time) or use awsAuthConfig / execProviderConfig",
                ),
                "tlsClientConfig" => match v.as_map() {
                    Some(m) => {
                        self.unknown_keys(m, &f, &TLS_FIELDS);
                        for (k2, v2) in m {
                            if k2.name == "keyData" {
                                self.error(
                                    k2.pos,
                                    &format!("{f}.keyData"),
                                    "is a private key and must not be committed in a cluster definition; leave it out",
                                );
                            } else if k2.name == "insecure" {
                                if !matches!(v2.value, Value::Bool(_)) {
                                    self.error(
                                        v2.pos,
                                        &format!("{f}.insecure"),
                                        format!("{} is {} but must be true or false (unquoted)", v2.shown(), v2.kind()),
                                    );
                                }
                            } else if TLS_FIELDS.contains(&k2.name.as_str()) {
                                self.string(v2, &format!("{f}.{}", k2.name));
                            }
                        }
                    }
                    None => self.error(v.pos, &f, format!("is {} but must be a mapping", v.kind())),
                },
                "awsAuthConfig" => match v.as_map() {
                    Some(m) => {
                        self.unknown_keys(m, &f, &AWS_FIELDS);
                        for (k2, v2) in m {
                            let f2 = format!("{f}.{}", k2.name);
                            if k2.name == "roleARN" {
                                if let Some(arn) = self.string(v2, &f2)
                                    && !arn.starts_with("arn:aws")
                                {
                                    self.error(
                                        v2.pos,
                                        &f2,
                                        format!("{arn:?} is not an IAM role ARN; use arn:aws:iam::<account>:role/<name>"),
                                    );
                                }
                            } else if AWS_FIELDS.contains(&k2.name.as_str()) {
                                self.string(v2, &f2);
                            }
                        }
                    }
                    None => self.error(v.pos, &f, format!("is {} but must be a mapping", v.kind())),
                },
                "execProviderConfig" => match v.as_map() {
                    Some(m) => self.unknown_keys(m, &f, &EXEC_FIELDS),
                    None => self.error(v.pos, &f, format!("is {} but must be a mapping", v.kind())),
                },
                _ => {}
            }
        }
        self.errors.len() == before
    }
}

fn repository_problem(url: &str) -> Option<&'static str> {
    let Some(rest) = url.strip_prefix("https://") else {
        return Some(if url.starts_with("http://") {
            "plain http is not allowed"
        } else if url.starts_with("git@") || url.starts_with("ssh://") {
            "SSH URLs need a key the harness does not have"
        } else {
            "it must start with https://"
        });
    };
    if url.contains(char::is_whitespace) {
        return Some("it contains whitespace");
    }
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    if host.is_empty() || !host.contains('.') && !host.starts_with("localhost") {
        return Some("it has no host");
    }
    if path.trim_matches('/').is_empty() {
        return Some("it has no repository path");
    }
    if url.contains('?') || url.contains('#') {
        return Some("it has a query or fragment");
    }
    None
}

fn revision_problem(rev: &str) -> Option<&'static str> {
    if rev.contains(char::is_whitespace) {
        Some("it contains whitespace")
    } else if rev.contains("..") {
        Some("it contains '..'")
    } else if rev.contains(['~', '^', ':', '?', '*', '[', '\\']) {
        Some("it contains a character git forbids in ref names (~ ^ : ? * [ \\)")
    } else if rev.starts_with('-') || rev.starts_with('/') || rev.ends_with('/') || rev.ends_with(".lock") {
        Some("git forbids this form of ref name")
    } else {
        None
    }
}

fn server_problem(url: &str) -> Option<&'static str> {
    let Some(rest) = url.strip_prefix("https://") else {
        return Some("it must start with https://");
    };
    let host = rest.split('/').next().unwrap_or("");
    if host.is_empty() {
        Some("it has no host")
    } else if url.contains(char::is_whitespace) {
        Some("it contains whitespace")
    } else {
        None
    }
}

/// Why `v` is not a valid label value (k8s.io/apimachinery validation.IsValidLabelValue).
pub fn label_value_problem(v: &str) -> Option<String> {
    if v.len() > 63 {
        return Some(format!("{} characters, at most 63 allowed", v.len()));
    }
    if v.is_empty() {
        return None;
    }
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if !v.chars().all(ok_char) {
        return Some("only letters, digits, '-', '_' and '.' are allowed".into());
    }
    if !v.starts_with(|c: char| c.is_ascii_alphanumeric())
        || !v.ends_with(|c: char| c.is_ascii_alphanumeric())
    {
        return Some("it must start and end with a letter or digit".into());
    }
    None
}

/// Why `k` is not a qualified name ([prefix/]name) as label and annotation keys need.
pub fn qualified_name_problem(k: &str) -> Option<String> {
    let (prefix, name) = match k.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, k),
    };
    if let Some(p) = prefix
        && (p.is_empty()
            || p.len() > 253
            || !p.split('.').all(|l| {
                !l.is_empty()
                    && l.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                    && !l.starts_with('-')
                    && !l.ends_with('-')
            }))
    {
        return Some("the prefix must be a DNS subdomain (lowercase, e.g. platform.local)".into());
    }
    if name.is_empty() || name.len() > 63 {
        return Some("the name must be 1 to 63 characters".into());
    }
    label_value_problem(name)
}

/// Why `n` is not a DNS-1123 label (lowercase alphanumerics and '-', at most 63).
pub fn dns_label_problem(n: &str) -> Option<&'static str> {
    if n.len() > 63 {
        Some("it is longer than 63 characters")
    } else if !n
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        Some("only lowercase letters, digits and '-' are allowed")
    } else if n.starts_with('-') || n.ends_with('-') {
        Some("it must start and end with a letter or digit")
    } else {
        None
    }
}

/// Parses and checks one definition. `file` is used in messages (and must be the file's
/// name: the registration chart reads `<tenant_path>/clusters/<cluster_name>.yaml`).
pub fn parse(file: &Path, text: &str) -> Result<ClusterDefinition, Vec<DefinitionError>> {
    let mut c = Checker {
        file,
        errors: Vec::new(),
    };
    let root = match yaml::parse(text) {
        Ok(n) => n,
        Err(e) => {
            let message = if e.message.starts_with("multiple YAML documents") {
                "the file holds more than one YAML document (---); keep one cluster definition per file"
                    .to_string()
            } else {
                format!(
                    "invalid YAML: {}; fix the syntax (an editor with YAML support shows it)",
                    e.message
                )
            };
            c.error(e.pos, "", message);
            return Err(c.errors);
        }
    };
    let Some(map) = root.as_map() else {
        let what = if root.value == Value::Null {
            "the file is empty".to_string()
        } else {
            format!("the file holds {} where a mapping belongs", root.kind())
        };
        c.error(
            root.pos,
            "",
            format!("{what}; a cluster definition is a mapping of fields (cluster_name, cluster_type, ...)"),
        );
        return Err(c.errors);
    };
    c.unknown_keys(map, "", &FIELDS);
    let get = |name: &str| map.iter().find(|(k, _)| k.name == name).map(|(_, v)| v);
    let end = Pos { line: 1, column: 1 };
    let required = |c: &mut Checker, name: &str| -> Option<&Node> {
        let n = get(name);
        if n.is_none() {
            let hint = match name {
                "enabled" => {
                    "add `enabled: true` (or false to keep the cluster out of the platform)".to_string()
                }
                "cluster_type" => "add `cluster_type: hub`, `spoke` or `standalone`".to_string(),
                _ => format!("add `{name}: <value>`"),
            };
            c.error(end, name, format!("is required but missing; {hint}"));
        }
        n
    };

    let enabled = required(&mut c, "enabled").and_then(|n| match n.value {
        Value::Bool(b) => Some(b),
        _ => {
            let fix = match n.as_str() {
                Some("true") | Some("false") => {
                    format!("remove the quotes: enabled: {}", n.as_str().unwrap_or(""))
                }
                _ => "set enabled: true or enabled: false".into(),
            };
            c.error(
                n.pos,
                "enabled",
                format!("{} is {} but must be true or false; {fix}", n.shown(), n.kind()),
            );
            None
        }
    });
    let cluster_name = required(&mut c, "cluster_name").and_then(|n| {
        let s = c.string(n, "cluster_name")?;
        if let Some(problem) = dns_label_problem(&s) {
            c.error(
                n.pos,
                "cluster_name",
                format!("{s:?} is not a valid cluster name: {problem}; it names the Secret cluster-<name> and a label, so use a DNS label such as spoke-a"),
            );
            return None;
        }
        let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        if !stem.is_empty() && stem != s {
            c.error(
                n.pos,
                "cluster_name",
                format!("{s:?} does not match the file name {stem}.yaml; the registration reads <tenant_path>/clusters/<cluster_name>.yaml, so rename the file to {s}.yaml or set cluster_name: {stem}"),
            );
            return None;
        }
        Some(s)
    });
    let cloud_vendor = required(&mut c, "cloud_vendor").and_then(|n| {
        let s = c.string(n, "cloud_vendor")?;
        if CLOUD_VENDORS.contains(&s.as_str()) {
            return Some(s);
        }
        let hint = did_you_mean(&s, CLOUD_VENDORS)
            .map(|d| format!("did you mean {d}? "))
            .unwrap_or_default();
        c.error(
            n.pos,
            "cloud_vendor",
            format!(
                "{s:?} is not a cloud vendor the platform has addons for; {hint}use one of {}",
                CLOUD_VENDORS.join(", ")
            ),
        );
        None
    });
    let environment = required(&mut c, "environment").and_then(|n| c.label_value_field(n, "environment"));
    let tenant_repository =
        required(&mut c, "tenant_repository").and_then(|n| c.repository(n, "tenant_repository"));
    let tenant_revision = required(&mut c, "tenant_revision").and_then(|n| c.revision(n, "tenant_revision"));
    let tenant_path = required(&mut c, "tenant_path").and_then(|n| c.path(n, "tenant_path"));
    let tenant_cost_center = get("tenant_cost_center").and_then(|n| c.string(n, "tenant_cost_center"));
    let platform_repository =
        required(&mut c, "platform_repository").and_then(|n| c.repository(n, "platform_repository"));
    let platform_revision =
        required(&mut c, "platform_revision").and_then(|n| c.revision(n, "platform_revision"));
    let platform_path = required(&mut c, "platform_path").and_then(|n| c.path(n, "platform_path"));
    let cluster_type = required(&mut c, "cluster_type").and_then(|n| {
        let s = c.string(n, "cluster_type")?;
        match s.as_str() {
            "hub" => Some(ClusterType::Hub),
            "spoke" => Some(ClusterType::Spoke),
            "standalone" => Some(ClusterType::Standalone),
            _ => {
                let hint = did_you_mean(&s, ClusterType::ALL)
                    .map(|d| format!("did you mean {d}? "))
                    .unwrap_or_default();
                c.error(
                    n.pos,
                    "cluster_type",
                    format!("{s:?} is not a cluster type; {hint}use hub, spoke or standalone"),
                );
                None
            }
        }
    });
    let tenant = required(&mut c, "tenant").and_then(|n| c.string(n, "tenant"));
    let labels = get("labels")
        .map(|n| {
            c.string_map(n, "labels", |k, v| {
                if RESERVED_LABELS.contains(&k) {
                    return Some(format!(
                        "is set by the registration itself from the definition; remove it from labels{}",
                        if FIELDS.contains(&k) {
                            format!(" and set the {k} field instead")
                        } else {
                            String::new()
                        }
                    ));
                }
                if k.starts_with("enable_") {
                    if v != "true" && v != "false" {
                        return Some(format!(
                            "{v:?} is not a feature switch; use \"true\" or \"false\""
                        ));
                    }
                } else if let Some(problem) = label_value_problem(v) {
                    return Some(format!("{v:?} is not a valid label value: {problem}"));
                }
                None
            })
        })
        .unwrap_or_default();
    // an unquoted true/false in labels is the classic mistake: give it its own fix
    c.errors
        .iter_mut()
        .filter(|e| e.field.starts_with("labels."))
        .for_each(|e| {
            if e.message.starts_with("true is a boolean") || e.message.starts_with("false is a boolean") {
                let v = if e.message.starts_with("true") {
                    "true"
                } else {
                    "false"
                };
                e.message = format!(
                    "{v} is a boolean but Kubernetes label values are strings; quote it: {}: \"{v}\"",
                    e.field.trim_start_matches("labels.")
                );
            }
        });
    let annotations = get("annotations")
        .map(|n| {
            c.string_map(n, "annotations", |k, _| {
                RESERVED_ANNOTATIONS.contains(&k).then(|| {
                    format!(
                        "is set by the registration itself from the {k} field; remove it from annotations"
                    )
                })
            })
        })
        .unwrap_or_default();
    let cluster_authentication = get("cluster_authentication")
        .map(|n| c.authentication(n))
        .unwrap_or_default();

    if let (Some(t), Some(n)) = (cluster_type, get("cluster_authentication"))
        && t != ClusterType::Spoke
        && cluster_authentication.server.is_some()
    {
        c.error(
            n.pos,
            "cluster_authentication.server",
            format!("is set on a {t} cluster, which Argo CD reaches in-cluster (https://kubernetes.default.svc); remove it"),
        );
    }

    if !c.errors.is_empty() {
        c.errors.sort_by_key(|e| (e.line, e.column));
        return Err(c.errors);
    }
    let (
        Some(enabled),
        Some(cluster_name),
        Some(cloud_vendor),
        Some(environment),
        Some(tenant_repository),
        Some(tenant_revision),
        Some(tenant_path),
        Some(platform_repository),
        Some(platform_revision),
        Some(platform_path),
        Some(cluster_type),
        Some(tenant),
    ) = (
        enabled,
        cluster_name,
        cloud_vendor,
        environment,
        tenant_repository,
        tenant_revision,
        tenant_path,
        platform_repository,
        platform_revision,
        platform_path,
        cluster_type,
        tenant,
    )
    else {
        // every None above recorded an error
        return Err(c.errors);
    };
    Ok(ClusterDefinition {
        enabled,
        cluster_name,
        cloud_vendor,
        environment,
        tenant_repository,
        tenant_revision,
        tenant_path,
        tenant_cost_center,
        platform_repository,
        platform_revision,
        platform_path,
        cluster_type,
        tenant,
        labels,
        annotations,
        cluster_authentication,
        file: file.to_path_buf(),
    })
}

/// The definitions of one release (`release/<env>/clusters/`): one hub, its spokes.
#[derive(Clone, Debug)]
pub struct Definitions {
    /// The clusters directory they were read from.
    pub dir: PathBuf,
    /// All definitions, hub first, then by name.
    pub clusters: Vec<ClusterDefinition>,
}

impl Definitions {
    pub fn hub(&self) -> &ClusterDefinition {
        // load() guarantees exactly one hub
        self.clusters
            .iter()
            .find(|c| c.cluster_type == ClusterType::Hub)
            .unwrap_or(&self.clusters[0])
    }

    /// The enabled spokes, by name.
    pub fn spokes(&self) -> impl Iterator<Item = &ClusterDefinition> {
        self.clusters
            .iter()
            .filter(|c| c.cluster_type == ClusterType::Spoke && c.enabled)
    }

    pub fn get(&self, name: &str) -> Option<&ClusterDefinition> {
        self.clusters.iter().find(|c| c.cluster_name == name)
    }

    /// Reads every `*.yaml`/`*.yml` in `dir` and checks each file and the set (exactly one
    /// enabled hub, unique names). `dir` is a clusters directory or a release directory
    /// holding `clusters/`.
    pub fn load(dir: &Path) -> Result<Definitions, DefinitionErrors> {
        let dir = if dir.join("clusters").is_dir() {
            dir.join("clusters")
        } else {
            dir.to_path_buf()
        };
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) => {
                return Err(DefinitionErrors(vec![DefinitionError {
                    file: dir.clone(),
                    line: 0,
                    column: 0,
                    field: String::new(),
                    message: format!(
                        "cannot read the cluster definitions directory: {e}; pass a release directory such as release/hub-kind (with clusters/*.yaml)"
                    ),
                }]));
            }
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
            .collect();
        files.sort();
        let mut texts = Vec::new();
        let mut errors = Vec::new();
        for f in &files {
            match std::fs::read(f) {
                Ok(bytes) => match String::from_utf8(bytes) {
                    Ok(t) => texts.push((f.clone(), t)),
                    Err(e) => errors.push(DefinitionError {
                        file: f.clone(),
                        line: 1,
                        column: 1,
                        field: String::new(),
                        message: format!("is not UTF-8 text ({e}); save it as UTF-8"),
                    }),
                },
                Err(e) => errors.push(DefinitionError {
                    file: f.clone(),
                    line: 0,
                    column: 0,
                    field: String::new(),
                    message: format!("cannot be read: {e}"),
                }),
            }
        }
        let refs: Vec<(&Path, &str)> = texts.iter().map(|(p, t)| (p.as_path(), t.as_str())).collect();
        match Self::from_texts(&dir, &refs) {
            Ok(d) if errors.is_empty() => Ok(d),
            Ok(_) => Err(DefinitionErrors(errors)),
            Err(DefinitionErrors(more)) => {
                errors.extend(more);
                Err(DefinitionErrors(errors))
            }
        }
    }

    /// Checks a set of definitions given as (file, text).
    pub fn from_texts(dir: &Path, files: &[(&Path, &str)]) -> Result<Definitions, DefinitionErrors> {
        let mut errors = Vec::new();
        let mut clusters = Vec::new();
        for (file, text) in files {
            match parse(file, text) {
                Ok(d) => clusters.push(d),
                Err(e) => errors.extend(e),
            }
        }
        if files.is_empty() {
            errors.push(DefinitionError {
                file: dir.to_path_buf(),
                line: 0,
                column: 0,
                field: String::new(),
                message: "holds no cluster definitions (*.yaml); add one file per cluster, e.g. hub.yaml"
                    .into(),
            });
        }
        if !errors.is_empty() {
            return Err(DefinitionErrors(errors));
        }
        let texts: BTreeMap<&Path, &str> = files.iter().copied().collect();
        let at = |c: &ClusterDefinition, field: &str| -> (u64, u64) {
            texts
                .get(c.file.as_path())
                .and_then(|t| yaml::parse(t).ok())
                .and_then(|n| {
                    n.as_map().and_then(|m| {
                        m.iter()
                            .find(|(k, _)| k.name == field)
                            .map(|(_, v)| (v.pos.line, v.pos.column))
                    })
                })
                .unwrap_or((1, 1))
        };
        let mut seen: BTreeMap<&str, &Path> = BTreeMap::new();
        for c in &clusters {
            if let Some(first) = seen.insert(&c.cluster_name, &c.file) {
                let (line, column) = at(c, "cluster_name");
                errors.push(DefinitionError {
                    file: c.file.clone(),
                    line,
                    column,
                    field: "cluster_name".into(),
                    message: format!(
                        "{:?} is also the name in {}; every cluster needs its own name",
                        c.cluster_name,
                        first.display()
                    ),
                });
            }
        }
        let hubs: Vec<&ClusterDefinition> = clusters
            .iter()
            .filter(|c| c.cluster_type == ClusterType::Hub && c.enabled)
            .collect();
        match hubs.len() {
            1 => {}
            0 => errors.push(DefinitionError {
                file: dir.to_path_buf(),
                line: 0,
                column: 0,
                field: "cluster_type".into(),
                message: "no enabled definition has cluster_type: hub; exactly one cluster must be the hub"
                    .into(),
            }),
            _ => {
                for h in &hubs[1..] {
                    let (line, column) = at(h, "cluster_type");
                    errors.push(DefinitionError {
                        file: h.file.clone(),
                        line,
                        column,
                        field: "cluster_type".into(),
                        message: format!(
                            "\"hub\" here and in {}: exactly one cluster must be the hub; make this one a spoke or disable it",
                            hubs[0].file.display()
                        ),
                    });
                }
            }
        }
        if !errors.is_empty() {
            return Err(DefinitionErrors(errors));
        }
        clusters.sort_by(|a, b| {
            (a.cluster_type != ClusterType::Hub, &a.cluster_name)
                .cmp(&(b.cluster_type != ClusterType::Hub, &b.cluster_name))
        });
        Ok(Definitions {
            dir: dir.to_path_buf(),
            clusters,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn did_you_mean_finds_typos() {
        assert_eq!(did_you_mean("cluster_nmae", FIELDS), Some("cluster_name"));
        assert_eq!(did_you_mean("hbu", ClusterType::ALL), Some("hub"));
        assert_eq!(did_you_mean("zzzzzz", ClusterType::ALL), None);
    }

    #[test]
    fn label_values() {
        assert_eq!(label_value_problem("release"), None);
        assert!(label_value_problem("has space").is_some());
        assert!(label_value_problem("-x").is_some());
        assert_eq!(qualified_name_problem("platform.local/tenant"), None);
        assert!(qualified_name_problem("Platform.Local/x").is_some());
    }
}
