//! `validate.podSecurity`: the Pod Security Standards checks as Kyverno v1.15.2 runs them
//! (`pkg/engine/handlers/validation/validate_pss.go`, `pkg/pss/evaluate.go`) with Kyverno's
//! fork of `k8s.io/pod-security-admission` (github.com/kyverno/pod-security-admission
//! c9a58987cebb, `policy/check_*.go`, called with `WithFieldErrors()`): the 17 checks with
//! their versions, ForbiddenReasons, ForbiddenDetails and field errors; the pod taken out of
//! a Pod, a pod controller or a CronJob; `exclude[]` and PolicyExceptions' `podSecurity`
//! entries; the rule's message and the report properties; the policy webhook's checks of the
//! excludes.
//!
//! Where Kyverno's output depends on Go map iteration it is random; this module picks one
//! order and says which: annotations are visited in key order, and the checks that survive
//! an exclusion keep the fork's check order (Kyverno rebuilds them from a map,
//! `evaluate.go:131-134`).
//!
//! The pod is read from JSON the way Go unmarshals it into `corev1.Pod`: a missing or `null`
//! field is nil. Values of the wrong JSON type (which the API server's schema rejects before
//! Kyverno sees them) count as unset here, where Go would fail to unmarshal.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use crate::pattern::wildcard_match;

// ---- versions and levels ----

/// A Pod Security Standards version: `v1.N`, or `latest` (newer than every `v1.N`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    Latest,
    V(u32, u32),
}

impl Version {
    /// `api.Version.Older`: latest is never older; everything is older than latest.
    fn older(self, other: Version) -> bool {
        match (self, other) {
            (Version::Latest, _) => false,
            (_, Version::Latest) => true,
            (Version::V(a, b), Version::V(c, d)) => (a, b) < (c, d),
        }
    }

    fn label(self) -> String {
        match self {
            Version::Latest => "latest".into(),
            Version::V(a, b) => format!("v{a}.{b}"),
        }
    }
}

/// Kyverno's `pss.ParseVersion` (evaluate.go:197-215): `""` and `latest` are the latest
/// version, anything else goes through `api.ParseVersion` (`^v1\.([0-9]|[1-9][0-9]*)$`).
pub fn parse_version(version: &str) -> Result<Version, String> {
    if version.is_empty() || version == "latest" {
        return Ok(Version::Latest);
    }
    let bad = || r#"must be "latest" or "v1.x""#.to_string();
    let minor = version.strip_prefix("v1.").ok_or_else(bad)?;
    let canonical = minor == "0" || (!minor.starts_with('0') && !minor.is_empty());
    if !canonical || !minor.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    minor.parse::<u32>().map(|m| Version::V(1, m)).map_err(|_| bad())
}

// ---- field errors and check results ----

/// The two apimachinery error types the checks produce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorType {
    Required,
    Forbidden,
}

impl ErrorType {
    fn text(self) -> &'static str {
        match self {
            ErrorType::Required => "Required value",
            ErrorType::Forbidden => "Forbidden",
        }
    }
}

/// A field error's bad value, with the Go type the fork gives it. `Str("")` is "no value"
/// (apimachinery's `field.Required`/`field.Forbidden` set `""`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BadValue {
    Str(String),
    Bool(bool),
    Int(i64),
    List(Vec<String>),
}

impl BadValue {
    fn none() -> Self {
        BadValue::Str(String::new())
    }

    /// Go's `%+v` of the value.
    fn go_print(&self) -> String {
        match self {
            BadValue::Str(s) => s.clone(),
            BadValue::Bool(b) => b.to_string(),
            BadValue::Int(i) => i.to_string(),
            BadValue::List(l) => format!("[{}]", l.join(" ")),
        }
    }

    /// `extractBadValues` (evaluate.go:140-159).
    fn as_strings(&self) -> Vec<String> {
        match self {
            BadValue::Str(s) if s.is_empty() => vec![],
            BadValue::Str(s) => vec![s.clone()],
            BadValue::Bool(b) => vec![b.to_string()],
            BadValue::Int(i) => vec![i.to_string()],
            BadValue::List(l) => l.clone(),
        }
    }
}

/// One `field.Error` of a check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    pub error_type: ErrorType,
    pub field: String,
    pub bad_value: BadValue,
}

impl FieldError {
    fn required(field: String) -> Self {
        FieldError {
            error_type: ErrorType::Required,
            field,
            bad_value: BadValue::none(),
        }
    }

    fn forbidden(field: String, bad_value: BadValue) -> Self {
        FieldError {
            error_type: ErrorType::Forbidden,
            field,
            bad_value,
        }
    }

    /// The error as `FormatChecksPrint` writes it (evaluate.go:307-338): a Forbidden error
    /// with a value names the values, anything else is `err.Error()` (`<field>: <type>`).
    pub fn print(&self) -> String {
        let has_value = !matches!(&self.bad_value, BadValue::Str(s) if s.is_empty());
        if self.error_type == ErrorType::Forbidden && has_value {
            format!(
                "{} is forbidden, forbidden values found: {}",
                self.field,
                self.bad_value.go_print()
            )
        } else {
            format!("{}: {}", self.field, self.error_type.text())
        }
    }
}

/// A failed check (`pssutils.PSSCheckResult`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckResult {
    /// The check ID, e.g. `capabilities_restricted`.
    pub id: &'static str,
    /// The minimum version of the check version that ran, e.g. `v1.25`.
    pub check_version: String,
    pub forbidden_reason: String,
    /// PSA's sentence; not in Kyverno's message, but Kyverno reads container names from it.
    pub forbidden_detail: String,
    pub errors: Vec<FieldError>,
    /// Image references of the containers named in the detail (set on failures only).
    pub images: Option<Vec<String>>,
}

/// Concatenates `(Forbidden reason: <reason>, field error list: [<e1>, <e2>])` per check,
/// with no separator (`pss.FormatChecksPrint`).
pub fn format_checks(checks: &[CheckResult]) -> String {
    checks
        .iter()
        .map(|c| {
            let errs: Vec<String> = c.errors.iter().map(FieldError::print).collect();
            format!(
                "(Forbidden reason: {}, field error list: [{}])",
                c.forbidden_reason,
                errs.join(", ")
            )
        })
        .collect()
}

// ---- helpers shared by the checks ----

/// A field as Go's unmarshalling sees it: missing and `null` are nil.
fn get<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    let mut cur = v;
    for key in path {
        cur = cur.get(*key)?;
    }
    (!cur.is_null()).then_some(cur)
}

fn get_str<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    get(v, path).and_then(Value::as_str).unwrap_or("")
}

fn is_true(v: &Value, path: &[&str]) -> bool {
    get(v, path).and_then(Value::as_bool) == Some(true)
}

fn list<'a>(v: &'a Value, path: &[&str]) -> &'a [Value] {
    get(v, path)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn strings(v: &Value, path: &[&str]) -> Vec<String> {
    list(v, path)
        .iter()
        .map(|s| s.as_str().unwrap_or("").to_string())
        .collect()
}

/// `joinQuote`: `"a", "b"`.
fn join_quote<S: AsRef<str>>(items: &[S]) -> String {
    if items.is_empty() {
        return String::new();
    }
    let inner: Vec<&str> = items.iter().map(AsRef::as_ref).collect();
    format!("\"{}\"", inner.join("\", \""))
}

fn pluralize<'a>(singular: &'a str, plural: &'a str, count: usize) -> &'a str {
    if count == 1 { singular } else { plural }
}

/// Go's `%q` of a string (`strconv.Quote`), for the printable-ASCII-and-control cases.
fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `Violations`: what to name in the detail, and the field errors.
#[derive(Default)]
struct Violations {
    data: Vec<String>,
    errs: Vec<FieldError>,
}

impl Violations {
    fn add(&mut self, data: impl Into<String>, errs: impl IntoIterator<Item = FieldError>) {
        self.data.push(data.into());
        self.errs.extend(errs);
    }

    fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    fn len(&self) -> usize {
        self.data.len()
    }
}

/// A container with its field path (`spec.containers[0]`), in `visitContainers` order:
/// init containers, containers, ephemeral containers.
struct Container<'a> {
    value: &'a Value,
    path: String,
}

impl Container<'_> {
    fn name(&self) -> &str {
        get_str(self.value, &["name"])
    }

    fn sc(&self, path: &[&str]) -> Option<&Value> {
        let mut full = vec!["securityContext"];
        full.extend_from_slice(path);
        get(self.value, &full)
    }

    fn field(&self, rest: &str) -> String {
        format!("{}.{rest}", self.path)
    }
}

fn containers(spec: &Value) -> Vec<Container<'_>> {
    let mut out = Vec::new();
    for kind in ["initContainers", "containers", "ephemeralContainers"] {
        for (i, c) in list(spec, &[kind]).iter().enumerate() {
            out.push(Container {
                value: c,
                path: format!("spec.{kind}[{i}]"),
            });
        }
    }
    out
}

fn windows_pod(spec: &Value) -> bool {
    get_str(spec, &["os", "name"]) == "windows"
}

/// What a check function returns when the pod fails it: (reason, detail, errors).
type Failure = (String, String, Vec<FieldError>);
type CheckFn = fn(&Value, &Value) -> Option<Failure>;

fn containers_phrase(names: &[String]) -> String {
    format!(
        "{} {}",
        pluralize("container", "containers", names.len()),
        join_quote(names)
    )
}

// ---- the checks (policy/check_*.go) ----

fn allow_privilege_escalation_1_8(_meta: &Value, spec: &Value) -> Option<Failure> {
    let mut bad = Violations::default();
    for c in containers(spec) {
        let path = c.field("securityContext.allowPrivilegeEscalation");
        if get(c.value, &["securityContext"]).is_none() {
            bad.add(c.name(), [FieldError::required(path)]);
        } else {
            match c.sc(&["allowPrivilegeEscalation"]).and_then(Value::as_bool) {
                None => bad.add(
                    c.name(),
                    [FieldError::forbidden(path, BadValue::Str("nil".into()))],
                ),
                Some(true) => bad.add(c.name(), [FieldError::forbidden(path, BadValue::Bool(true))]),
                Some(false) => {}
            }
        }
    }
    (!bad.is_empty()).then(|| {
        let detail = format!(
            "{} must set securityContext.allowPrivilegeEscalation=false",
            containers_phrase(&bad.data)
        );
        ("allowPrivilegeEscalation != false".into(), detail, bad.errs)
    })
}

fn allow_privilege_escalation_1_25(meta: &Value, spec: &Value) -> Option<Failure> {
    if windows_pod(spec) {
        return None;
    }
    allow_privilege_escalation_1_8(meta, spec)
}

fn app_armor_profile_1_0(meta: &Value, spec: &Value) -> Option<Failure> {
    let allowed_type = |t: &str| t == "RuntimeDefault" || t == "Localhost";
    let mut setters = Violations::default();
    let mut bad_values = BTreeSet::new();
    if get(spec, &["securityContext", "appArmorProfile"]).is_some() {
        let t = get_str(spec, &["securityContext", "appArmorProfile", "type"]);
        if !allowed_type(t) {
            let err = FieldError::forbidden(
                "spec.securityContext.appArmorProfile.type".into(),
                BadValue::Str(t.into()),
            );
            setters.add("pod", [err]);
            bad_values.insert(t.to_string());
        }
    }
    let mut bad_containers = Vec::new();
    let mut errs = Vec::new();
    for c in containers(spec) {
        if c.sc(&["appArmorProfile"]).is_some() {
            let t = c
                .sc(&["appArmorProfile", "type"])
                .and_then(Value::as_str)
                .unwrap_or("");
            if !allowed_type(t) {
                bad_containers.push(c.name().to_string());
                errs.push(FieldError::forbidden(
                    c.field("securityContext.appArmorProfile.type"),
                    BadValue::Str(t.into()),
                ));
                bad_values.insert(t.to_string());
            }
        }
    }
    if !bad_containers.is_empty() {
        setters.add(containers_phrase(&bad_containers), errs);
    }
    let mut annotations = Violations::default();
    if let Some(map) = get(meta, &["annotations"]).and_then(Value::as_object) {
        let mut keys: Vec<&String> = map.keys().collect();
        keys.sort();
        for k in keys {
            let v = map[k].as_str().unwrap_or("");
            let allowed = v.is_empty() || v == "runtime/default" || v.starts_with("localhost/");
            if k.starts_with("container.apparmor.security.beta.kubernetes.io/") && !allowed {
                let err =
                    FieldError::forbidden(format!("metadata.annotations[{k}]"), BadValue::Str(v.into()));
                annotations.add(format!("{k}={}", go_quote(v)), [err]);
            }
        }
    }
    let mut bad_value_list: Vec<String> = bad_values.into_iter().collect();
    if !annotations.is_empty() {
        let mut data = annotations.data.clone();
        data.sort();
        bad_value_list.extend(data);
        setters.add(
            pluralize("annotation", "annotations", annotations.len()),
            annotations.errs,
        );
    }
    (!setters.is_empty()).then(|| {
        let reason = pluralize(
            "forbidden AppArmor profile",
            "forbidden AppArmor profiles",
            bad_value_list.len(),
        );
        let detail = format!(
            "{} must not set AppArmor profile type to {}",
            setters.data.join(" and "),
            join_quote(&bad_value_list)
        );
        (reason.into(), detail, setters.errs)
    })
}

const CAPABILITIES_ALLOWED_1_0: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

fn capabilities_baseline_1_0(_meta: &Value, spec: &Value) -> Option<Failure> {
    let mut bad = Violations::default();
    let mut non_default = BTreeSet::new();
    for c in containers(spec) {
        let Some(caps) = c.sc(&["capabilities"]) else {
            continue;
        };
        let forbidden: BTreeSet<String> = strings(caps, &["add"])
            .into_iter()
            .filter(|cap| !CAPABILITIES_ALLOWED_1_0.contains(&cap.as_str()))
            .collect();
        if !forbidden.is_empty() {
            non_default.extend(forbidden.iter().cloned());
            let err = FieldError::forbidden(
                c.field("securityContext.capabilities.add"),
                BadValue::List(forbidden.into_iter().collect()),
            );
            bad.add(c.name(), [err]);
        }
    }
    (!bad.is_empty()).then(|| {
        let caps: Vec<String> = non_default.into_iter().collect();
        let detail = format!(
            "{} must not include {} in securityContext.capabilities.add",
            containers_phrase(&bad.data),
            join_quote(&caps)
        );
        ("non-default capabilities".into(), detail, bad.errs)
    })
}

fn capabilities_restricted_1_22(_meta: &Value, spec: &Value) -> Option<Failure> {
    let mut forbidden_caps = BTreeSet::new();
    let mut missing_drop = Violations::default();
    let mut adding = Violations::default();
    for c in containers(spec) {
        let drop_path = c.field("securityContext.capabilities.drop");
        let Some(caps) = c.sc(&["capabilities"]) else {
            missing_drop.add(c.name(), [FieldError::required(drop_path)]);
            continue;
        };
        let drop = strings(caps, &["drop"]);
        if !drop.iter().any(|d| d == "ALL") {
            if drop.is_empty() {
                missing_drop.add(c.name(), [FieldError::required(drop_path)]);
            } else {
                let values: BTreeSet<String> = drop.into_iter().collect();
                let err = FieldError::forbidden(drop_path, BadValue::List(values.into_iter().collect()));
                missing_drop.add(c.name(), [err]);
            }
        }
        let added: BTreeSet<String> = strings(caps, &["add"])
            .into_iter()
            .filter(|a| a != "NET_BIND_SERVICE")
            .collect();
        if !added.is_empty() {
            forbidden_caps.extend(added.iter().cloned());
            let err = FieldError::forbidden(
                c.field("securityContext.capabilities.add"),
                BadValue::List(added.into_iter().collect()),
            );
            adding.add(c.name(), [err]);
        }
    }
    let mut details = Vec::new();
    if !missing_drop.is_empty() {
        details.push(format!(
            r#"{} must set securityContext.capabilities.drop=["ALL"]"#,
            containers_phrase(&missing_drop.data)
        ));
    }
    if !adding.is_empty() {
        let caps: Vec<String> = forbidden_caps.into_iter().collect();
        details.push(format!(
            "{} must not include {} in securityContext.capabilities.add",
            containers_phrase(&adding.data),
            join_quote(&caps)
        ));
    }
    (!details.is_empty()).then(|| {
        let mut errs = missing_drop.errs;
        errs.extend(adding.errs);
        ("unrestricted capabilities".into(), details.join("; "), errs)
    })
}

fn capabilities_restricted_1_25(meta: &Value, spec: &Value) -> Option<Failure> {
    if windows_pod(spec) {
        return None;
    }
    capabilities_restricted_1_22(meta, spec)
}

fn host_namespaces_1_0(_meta: &Value, spec: &Value) -> Option<Failure> {
    let mut bad = Violations::default();
    for key in ["hostNetwork", "hostPID", "hostIPC"] {
        if is_true(spec, &[key]) {
            bad.add(
                format!("{key}=true"),
                [FieldError::forbidden(format!("spec.{key}"), BadValue::Bool(true))],
            );
        }
    }
    (!bad.is_empty()).then(|| ("host namespaces".into(), bad.data.join(", "), bad.errs))
}

fn host_path_volumes_1_0(_meta: &Value, spec: &Value) -> Option<Failure> {
    let mut bad = Violations::default();
    for (i, v) in list(spec, &["volumes"]).iter().enumerate() {
        if get(v, &["hostPath"]).is_some() {
            let err = FieldError::forbidden(
                format!("spec.volumes[{i}].hostPath"),
                BadValue::Str(get_str(v, &["hostPath", "path"]).into()),
            );
            bad.add(get_str(v, &["name"]), [err]);
        }
    }
    (!bad.is_empty()).then(|| {
        let detail = format!(
            "{} {}",
            pluralize("volume", "volumes", bad.len()),
            join_quote(&bad.data)
        );
        ("hostPath volumes".into(), detail, bad.errs)
    })
}

fn host_ports_1_0(_meta: &Value, spec: &Value) -> Option<Failure> {
    let mut bad = Violations::default();
    let mut ports = BTreeSet::new();
    for c in containers(spec) {
        let mut errs = Vec::new();
        for (i, p) in list(c.value, &["ports"]).iter().enumerate() {
            let host_port = get(p, &["hostPort"]).and_then(Value::as_i64).unwrap_or(0);
            if host_port != 0 {
                ports.insert(host_port.to_string());
                errs.push(FieldError::forbidden(
                    c.field(&format!("ports[{i}].hostPort")),
                    BadValue::Int(host_port),
                ));
            }
        }
        if !errs.is_empty() {
            bad.add(c.name(), errs);
        }
    }
    (!bad.is_empty()).then(|| {
        let ports: Vec<String> = ports.into_iter().collect();
        let detail = format!(
            "{} {} {} {}",
            containers_phrase(&bad.data),
            pluralize("uses", "use", bad.len()),
            pluralize("hostPort", "hostPorts", ports.len()),
            ports.join(", ")
        );
        ("hostPort".into(), detail, bad.errs)
    })
}

fn privileged_1_0(_meta: &Value, spec: &Value) -> Option<Failure> {
    let mut bad = Violations::default();
    for c in containers(spec) {
        if c.sc(&["privileged"]).and_then(Value::as_bool) == Some(true) {
            let err = FieldError::forbidden(c.field("securityContext.privileged"), BadValue::Bool(true));
            bad.add(c.name(), [err]);
        }
    }
    (!bad.is_empty()).then(|| {
        let detail = format!(
            "{} must not set securityContext.privileged=true",
            containers_phrase(&bad.data)
        );
        ("privileged".into(), detail, bad.errs)
    })
}

fn proc_mount_1_0(_meta: &Value, spec: &Value) -> Option<Failure> {
    // relaxPolicyForUserNamespacePods is never switched on by Kyverno: no user-namespace relaxation.
    let mut bad = Violations::default();
    let mut types = BTreeSet::new();
    for c in containers(spec) {
        let Some(pm) = c.sc(&["procMount"]) else { continue };
        let pm = pm.as_str().unwrap_or("");
        if pm != "Default" {
            let err = FieldError::forbidden(c.field("securityContext.procMount"), BadValue::Str(pm.into()));
            bad.add(c.name(), [err]);
            types.insert(pm.to_string());
        }
    }
    (!bad.is_empty()).then(|| {
        let types: Vec<String> = types.into_iter().collect();
        let detail = format!(
            "{} must not set securityContext.procMount to {}",
            containers_phrase(&bad.data),
            join_quote(&types)
        );
        ("procMount".into(), detail, bad.errs)
    })
}

/// Volume sources the restricted level allows (any one present allows the volume).
const ALLOWED_VOLUME_SOURCES: &[&str] = &[
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
];

/// Restricted volume sources, in the order the fork tests them.
const RESTRICTED_VOLUME_SOURCES: &[&str] = &[
    "hostPath",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "gitRepo",
    "nfs",
    "iscsi",
    "glusterfs",
    "rbd",
    "flexVolume",
    "cinder",
    "cephfs",
    "flocker",
    "fc",
    "azureFile",
    "vsphereVolume",
    "quobyte",
    "azureDisk",
    "photonPersistentDisk",
    "portworxVolume",
    "scaleIO",
    "storageos",
];

fn restricted_volumes_1_0(_meta: &Value, spec: &Value) -> Option<Failure> {
    let mut bad = Violations::default();
    let mut types = BTreeSet::new();
    for (i, v) in list(spec, &["volumes"]).iter().enumerate() {
        if ALLOWED_VOLUME_SOURCES.iter().any(|k| get(v, &[k]).is_some()) {
            continue;
        }
        let kind = RESTRICTED_VOLUME_SOURCES
            .iter()
            .find(|k| get(v, &[k]).is_some())
            .copied()
            .unwrap_or("unknown");
        types.insert(kind);
        let err = FieldError::forbidden(format!("spec.volumes[{i}].{kind}"), BadValue::none());
        bad.add(get_str(v, &["name"]), [err]);
    }
    (!bad.is_empty()).then(|| {
        let types: Vec<&str> = types.into_iter().collect();
        let detail = format!(
            "{} {} {} {} {}",
            pluralize("volume", "volumes", bad.len()),
            join_quote(&bad.data),
            pluralize("uses", "use", bad.len()),
            pluralize("restricted volume type", "restricted volume types", types.len()),
            join_quote(&types)
        );
        ("restricted volume types".into(), detail, bad.errs)
    })
}

fn run_as_non_root_1_0(_meta: &Value, spec: &Value) -> Option<Failure> {
    let mut setters = Violations::default();
    let mut pod_non_root = false;
    match get(spec, &["securityContext", "runAsNonRoot"]).and_then(Value::as_bool) {
        Some(false) => setters.add(
            "pod",
            [FieldError::forbidden(
                "spec.securityContext.runAsNonRoot".into(),
                BadValue::Bool(false),
            )],
        ),
        Some(true) => pod_non_root = true,
        None => {}
    }
    let mut explicit = Vec::new();
    let mut explicit_errs = Vec::new();
    let mut implicit = Violations::default();
    for c in containers(spec) {
        match c.sc(&["runAsNonRoot"]).and_then(Value::as_bool) {
            Some(false) => {
                explicit.push(c.name().to_string());
                explicit_errs.push(FieldError::forbidden(
                    c.field("securityContext.runAsNonRoot"),
                    BadValue::Bool(false),
                ));
            }
            Some(true) => {}
            None if !pod_non_root => {
                implicit.add(
                    c.name(),
                    [FieldError::required(c.field("securityContext.runAsNonRoot"))],
                );
            }
            None => {}
        }
    }
    if !explicit.is_empty() {
        setters.add(containers_phrase(&explicit), explicit_errs);
    }
    if setters.is_empty() && implicit.is_empty() {
        return None;
    }
    let mut details = Vec::new();
    let mut errs = Vec::new();
    if !setters.is_empty() {
        details.push(format!(
            "{} must not set securityContext.runAsNonRoot=false",
            setters.data.join(" and ")
        ));
        errs.extend(setters.errs);
    }
    if !implicit.is_empty() {
        details.push(format!(
            "pod or {} must set securityContext.runAsNonRoot=true",
            containers_phrase(&implicit.data)
        ));
        errs.extend(implicit.errs);
    }
    Some(("runAsNonRoot != true".into(), details.join("\n"), errs))
}

fn run_as_user_1_23(_meta: &Value, spec: &Value) -> Option<Failure> {
    let mut setters = Violations::default();
    if get(spec, &["securityContext", "runAsUser"]).and_then(Value::as_i64) == Some(0) {
        setters.add(
            "pod",
            [FieldError::forbidden(
                "spec.securityContext.runAsUser".into(),
                BadValue::Int(0),
            )],
        );
    }
    let mut explicit = Vec::new();
    let mut errs = Vec::new();
    for c in containers(spec) {
        if c.sc(&["runAsUser"]).and_then(Value::as_i64) == Some(0) {
            explicit.push(c.name().to_string());
            errs.push(FieldError::forbidden(
                c.field("securityContext.runAsUser"),
                BadValue::Int(0),
            ));
        }
    }
    if !explicit.is_empty() {
        setters.add(containers_phrase(&explicit), errs);
    }
    (!setters.is_empty()).then(|| {
        let detail = format!("{} must not set runAsUser=0", setters.data.join(" and "));
        ("runAsUser=0".into(), detail, setters.errs)
    })
}

const SELINUX_TYPES_1_0: &[&str] = &["", "container_t", "container_init_t", "container_kvm_t"];
const SELINUX_TYPES_1_31: &[&str] = &[
    "",
    "container_t",
    "container_init_t",
    "container_kvm_t",
    "container_engine_t",
];

fn se_linux_options(spec: &Value, allowed: &[&str]) -> Option<Failure> {
    let mut bad_types = BTreeSet::new();
    let (mut set_user, mut set_role) = (false, false);
    // The errors of one seLinuxOptions object, under `prefix` (`spec` or a container path).
    let mut check = |opts: &Value, prefix: &str, errs: &mut Vec<FieldError>| {
        let mut valid = true;
        let t = get_str(opts, &["type"]);
        if !allowed.contains(&t) {
            valid = false;
            bad_types.insert(t.to_string());
            errs.push(FieldError::forbidden(
                format!("{prefix}.securityContext.seLinuxOptions.type"),
                BadValue::Str(t.into()),
            ));
        }
        for (key, flag) in [("user", &mut set_user), ("role", &mut set_role)] {
            let v = get_str(opts, &[key]);
            if !v.is_empty() {
                valid = false;
                *flag = true;
                errs.push(FieldError::forbidden(
                    format!("{prefix}.securityContext.seLinuxOptions.{key}"),
                    BadValue::Str(v.into()),
                ));
            }
        }
        valid
    };
    let mut setters = Violations::default();
    if let Some(opts) = get(spec, &["securityContext", "seLinuxOptions"]) {
        let mut pod_errs = Vec::new();
        if !check(opts, "spec", &mut pod_errs) {
            setters.add("pod", pod_errs);
        }
    }
    let mut bad_containers = Vec::new();
    let mut container_errs = Vec::new();
    for c in containers(spec) {
        let Some(opts) = c.sc(&["seLinuxOptions"]) else {
            continue;
        };
        if !check(opts, &c.path, &mut container_errs) {
            bad_containers.push(c.name().to_string());
        }
    }
    if !bad_containers.is_empty() {
        setters.add(containers_phrase(&bad_containers), container_errs);
    }
    (!setters.is_empty()).then(|| {
        let mut bad_data = Vec::new();
        if !bad_types.is_empty() {
            let types: Vec<String> = bad_types.into_iter().collect();
            bad_data.push(format!(
                "{} {}",
                pluralize("type", "types", types.len()),
                join_quote(&types)
            ));
        }
        if set_user {
            bad_data.push("user may not be set".to_string());
        }
        if set_role {
            bad_data.push("role may not be set".to_string());
        }
        let detail = format!(
            "{} set forbidden securityContext.seLinuxOptions: {}",
            setters.data.join(" and "),
            bad_data.join("; ")
        );
        ("seLinuxOptions".into(), detail, setters.errs)
    })
}

fn se_linux_options_1_0(_meta: &Value, spec: &Value) -> Option<Failure> {
    se_linux_options(spec, SELINUX_TYPES_1_0)
}

fn se_linux_options_1_31(_meta: &Value, spec: &Value) -> Option<Failure> {
    se_linux_options(spec, SELINUX_TYPES_1_31)
}

fn valid_seccomp(t: &str) -> bool {
    t == "Localhost" || t == "RuntimeDefault"
}

/// Before v1.19 the baseline seccomp check reads the alpha annotations.
fn seccomp_profile_baseline_1_0(meta: &Value, spec: &Value) -> Option<Failure> {
    let valid = |v: &str| v == "runtime/default" || v == "docker/default" || v.starts_with("localhost/");
    let annotations = get(meta, &["annotations"]);
    // forbidden value → errors; Kyverno ranges over a Go map here, this keeps key order.
    let mut found: BTreeMap<String, Vec<FieldError>> = BTreeMap::new();
    let mut test = |key: &str| {
        if let Some(v) = annotations.and_then(|a| a.get(key)) {
            let v = v.as_str().unwrap_or("");
            if !valid(v) {
                let err =
                    FieldError::forbidden(format!("metadata.annotations[{key}]"), BadValue::Str(v.into()));
                found
                    .entry(format!("{key}={}", go_quote(v)))
                    .or_default()
                    .push(err);
            }
        }
    };
    test("seccomp.security.alpha.kubernetes.io/pod");
    for c in containers(spec) {
        test(&format!(
            "container.seccomp.security.alpha.kubernetes.io/{}",
            c.name()
        ));
    }
    if found.is_empty() {
        return None;
    }
    let mut setters = Violations::default();
    for (value, errs) in found {
        setters.add(value, errs);
    }
    let detail = format!(
        "forbidden {} {}",
        pluralize("annotation", "annotations", setters.len()),
        setters.data.join(", ")
    );
    Some(("seccompProfile".into(), detail, setters.errs))
}

/// The explicitly bad seccomp types: pod first, then the containers (shared by both levels).
/// Returns the setters, the bad values, and whether the pod sets a valid profile.
fn seccomp_bad_setters(spec: &Value) -> (Violations, BTreeSet<String>, bool) {
    let mut setters = Violations::default();
    let mut bad_values = BTreeSet::new();
    let mut pod_set = false;
    if get(spec, &["securityContext", "seccompProfile"]).is_some() {
        let t = get_str(spec, &["securityContext", "seccompProfile", "type"]);
        if valid_seccomp(t) {
            pod_set = true;
        } else {
            let err = FieldError::forbidden(
                "spec.securityContext.seccompProfile.type".into(),
                BadValue::Str(t.into()),
            );
            setters.add("pod", [err]);
            bad_values.insert(t.to_string());
        }
    }
    let mut explicit = Vec::new();
    let mut errs = Vec::new();
    for c in containers(spec) {
        if c.sc(&["seccompProfile"]).is_some() {
            let t = c
                .sc(&["seccompProfile", "type"])
                .and_then(Value::as_str)
                .unwrap_or("");
            if !valid_seccomp(t) {
                explicit.push(c.name().to_string());
                errs.push(FieldError::forbidden(
                    c.field("securityContext.seccompProfile.type"),
                    BadValue::Str(t.into()),
                ));
                bad_values.insert(t.to_string());
            }
        }
    }
    if !explicit.is_empty() {
        setters.add(containers_phrase(&explicit), errs);
    }
    (setters, bad_values, pod_set)
}

fn seccomp_setters_failure(setters: Violations, bad_values: BTreeSet<String>) -> Failure {
    let values: Vec<String> = bad_values.into_iter().collect();
    let detail = format!(
        "{} must not set securityContext.seccompProfile.type to {}",
        setters.data.join(" and "),
        join_quote(&values)
    );
    ("seccompProfile".into(), detail, setters.errs)
}

fn seccomp_profile_baseline_1_19(_meta: &Value, spec: &Value) -> Option<Failure> {
    let (setters, bad_values, _) = seccomp_bad_setters(spec);
    (!setters.is_empty()).then(|| seccomp_setters_failure(setters, bad_values))
}

fn seccomp_profile_restricted_1_19(_meta: &Value, spec: &Value) -> Option<Failure> {
    let (setters, bad_values, pod_set) = seccomp_bad_setters(spec);
    if !setters.is_empty() {
        return Some(seccomp_setters_failure(setters, bad_values));
    }
    let mut implicit = Violations::default();
    if !pod_set {
        for c in containers(spec) {
            if c.sc(&["seccompProfile"]).is_none() {
                let err = FieldError::required(c.field("securityContext.seccompProfile.type"));
                implicit.add(c.name(), [err]);
            }
        }
    }
    (!implicit.is_empty()).then(|| {
        let detail = format!(
            r#"pod or {} must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost""#,
            containers_phrase(&implicit.data)
        );
        ("seccompProfile".into(), detail, implicit.errs)
    })
}

fn seccomp_profile_restricted_1_25(meta: &Value, spec: &Value) -> Option<Failure> {
    if windows_pod(spec) {
        return None;
    }
    seccomp_profile_restricted_1_19(meta, spec)
}

const SYSCTLS_1_0: &[&str] = &[
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_unprivileged_port_start",
];
const SYSCTLS_1_27: &[&str] = &["net.ipv4.ip_local_reserved_ports"];
const SYSCTLS_1_29: &[&str] = &[
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
];
const SYSCTLS_1_32: &[&str] = &["net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"];

fn sysctls(spec: &Value, allowed: &[&[&str]]) -> Option<Failure> {
    let mut bad = Violations::default();
    for (i, s) in list(spec, &["securityContext", "sysctls"]).iter().enumerate() {
        let name = get_str(s, &["name"]);
        if !allowed.iter().any(|set| set.contains(&name)) {
            let err = FieldError::forbidden(
                format!("spec.securityContext.sysctls[{i}].name"),
                BadValue::Str(name.into()),
            );
            bad.add(name, [err]);
        }
    }
    (!bad.is_empty()).then(|| ("forbidden sysctls".into(), bad.data.join(", "), bad.errs))
}

fn sysctls_1_0(_meta: &Value, spec: &Value) -> Option<Failure> {
    sysctls(spec, &[SYSCTLS_1_0])
}

fn sysctls_1_27(_meta: &Value, spec: &Value) -> Option<Failure> {
    sysctls(spec, &[SYSCTLS_1_0, SYSCTLS_1_27])
}

fn sysctls_1_29(_meta: &Value, spec: &Value) -> Option<Failure> {
    sysctls(spec, &[SYSCTLS_1_0, SYSCTLS_1_27, SYSCTLS_1_29])
}

fn sysctls_1_32(_meta: &Value, spec: &Value) -> Option<Failure> {
    sysctls(spec, &[SYSCTLS_1_0, SYSCTLS_1_27, SYSCTLS_1_29, SYSCTLS_1_32])
}

fn windows_host_process_1_0(_meta: &Value, spec: &Value) -> Option<Failure> {
    let mut bad_containers = Vec::new();
    let mut errs = Vec::new();
    for c in containers(spec) {
        if c.sc(&["windowsOptions", "hostProcess"]).and_then(Value::as_bool) == Some(true) {
            bad_containers.push(c.name().to_string());
            errs.push(FieldError::forbidden(
                c.field("securityContext.windowsOptions.hostProcess"),
                BadValue::Bool(true),
            ));
        }
    }
    let mut setters = Violations::default();
    if is_true(spec, &["securityContext", "windowsOptions", "hostProcess"]) {
        let err = FieldError::forbidden(
            "spec.securityContext.windowsOptions.hostProcess".into(),
            BadValue::Bool(true),
        );
        setters.add("pod", [err]);
    }
    if !bad_containers.is_empty() {
        setters.add(containers_phrase(&bad_containers), errs);
    }
    (!setters.is_empty()).then(|| {
        let detail = format!(
            "{} must not set securityContext.windowsOptions.hostProcess=true",
            setters.data.join(" and ")
        );
        ("hostProcess".into(), detail, setters.errs)
    })
}

// ---- the check registry ----

struct Check {
    id: &'static str,
    baseline: bool,
    /// (minimum version v1.N, check), oldest first.
    versions: &'static [(u32, CheckFn)],
}

/// `policy.DefaultChecks()`: the fork's checks in `addCheck` (file) order.
const CHECKS: &[Check] = &[
    Check {
        id: "allowPrivilegeEscalation",
        baseline: false,
        versions: &[
            (8, allow_privilege_escalation_1_8),
            (25, allow_privilege_escalation_1_25),
        ],
    },
    Check {
        id: "appArmorProfile",
        baseline: true,
        versions: &[(0, app_armor_profile_1_0)],
    },
    Check {
        id: "capabilities_baseline",
        baseline: true,
        versions: &[(0, capabilities_baseline_1_0)],
    },
    Check {
        id: "capabilities_restricted",
        baseline: false,
        versions: &[
            (22, capabilities_restricted_1_22),
            (25, capabilities_restricted_1_25),
        ],
    },
    Check {
        id: "hostNamespaces",
        baseline: true,
        versions: &[(0, host_namespaces_1_0)],
    },
    Check {
        id: "hostPathVolumes",
        baseline: true,
        versions: &[(0, host_path_volumes_1_0)],
    },
    Check {
        id: "hostPorts",
        baseline: true,
        versions: &[(0, host_ports_1_0)],
    },
    Check {
        id: "privileged",
        baseline: true,
        versions: &[(0, privileged_1_0)],
    },
    Check {
        id: "procMount",
        baseline: true,
        versions: &[(0, proc_mount_1_0)],
    },
    Check {
        id: "restrictedVolumes",
        baseline: false,
        versions: &[(0, restricted_volumes_1_0)],
    },
    Check {
        id: "runAsNonRoot",
        baseline: false,
        versions: &[(0, run_as_non_root_1_0)],
    },
    Check {
        id: "runAsUser",
        baseline: false,
        versions: &[(23, run_as_user_1_23)],
    },
    Check {
        id: "seLinuxOptions",
        baseline: true,
        versions: &[(0, se_linux_options_1_0), (31, se_linux_options_1_31)],
    },
    Check {
        id: "seccompProfile_baseline",
        baseline: true,
        versions: &[
            (0, seccomp_profile_baseline_1_0),
            (19, seccomp_profile_baseline_1_19),
        ],
    },
    Check {
        id: "seccompProfile_restricted",
        baseline: false,
        versions: &[
            (19, seccomp_profile_restricted_1_19),
            (25, seccomp_profile_restricted_1_25),
        ],
    },
    Check {
        id: "sysctls",
        baseline: true,
        versions: &[
            (0, sysctls_1_0),
            (27, sysctls_1_27),
            (29, sysctls_1_29),
            (32, sysctls_1_32),
        ],
    },
    Check {
        id: "windowsHostProcess",
        baseline: true,
        versions: &[(0, windows_host_process_1_0)],
    },
];

/// The check IDs in the fork's order.
pub fn check_ids() -> Vec<&'static str> {
    CHECKS.iter().map(|c| c.id).collect()
}

/// `evaluatePSS` (evaluate.go:24-49): every check runs unless the level is `baseline` and the
/// check is a restricted one, so `restricted` runs both capabilities and both seccomp checks
/// (no `OverrideCheckIDs`) and `privileged` runs everything. The version run is the newest
/// whose minimum version is not newer than `version`, and the oldest one when all are newer.
pub fn run_checks(level: &str, version: Version, metadata: &Value, spec: &Value) -> Vec<CheckResult> {
    let mut out = Vec::new();
    for check in CHECKS {
        if level == "baseline" && !check.baseline {
            continue;
        }
        let mut selected = check.versions[0];
        for next in &check.versions[1..] {
            let next_v = Version::V(1, next.0);
            if !version.older(next_v) && Version::V(1, selected.0).older(next_v) {
                selected = *next;
            }
        }
        if let Some((reason, detail, errors)) = (selected.1)(metadata, spec) {
            out.push(CheckResult {
                id: check.id,
                check_version: Version::V(1, selected.0).label(),
                forbidden_reason: reason,
                forbidden_detail: detail,
                errors,
                images: None,
            });
        }
    }
    out
}

// ---- controls (pkg/pss/utils/mapping.go) ----

/// `PSS_control_name_to_ids`.
pub fn control_ids(control_name: &str) -> &'static [&'static str] {
    match control_name {
        "Capabilities" => &["capabilities_baseline", "capabilities_restricted"],
        "Seccomp" => &["seccompProfile_baseline", "seccompProfile_restricted"],
        "Privileged Containers" => &["privileged"],
        "Host Ports" => &["hostPorts"],
        "/proc Mount Type" => &["procMount"],
        "HostProcess" => &["windowsHostProcess"],
        "SELinux" => &["seLinuxOptions"],
        "Host Namespaces" => &["hostNamespaces"],
        "HostPath Volumes" => &["hostPathVolumes"],
        "Sysctls" => &["sysctls"],
        "AppArmor" => &["appArmorProfile"],
        "Privilege Escalation" => &["allowPrivilegeEscalation"],
        "Running as Non-root" => &["runAsNonRoot"],
        "Running as Non-root user" => &["runAsUser"],
        "Volume Types" => &["restrictedVolumes"],
        _ => &[],
    }
}

const CONTROL_NAMES: &[&str] = &[
    "Capabilities",
    "Seccomp",
    "Privileged Containers",
    "Host Ports",
    "/proc Mount Type",
    "HostProcess",
    "SELinux",
    "Host Namespaces",
    "HostPath Volumes",
    "Sysctls",
    "AppArmor",
    "Privilege Escalation",
    "Running as Non-root",
    "Running as Non-root user",
    "Volume Types",
];

/// `PSSControlIDToName`: the control a check ID belongs to ("" for none).
pub fn control_name(id: &str) -> &'static str {
    CONTROL_NAMES
        .iter()
        .find(|n| control_ids(n).contains(&id))
        .copied()
        .unwrap_or("")
}

// ---- exclusions (evaluate.go:51-293) ----

/// One `exclude[]` entry (`kyvernov1.PodSecurityStandard`).
struct Exclude {
    control_name: String,
    images: Vec<String>,
    restricted_field: String,
    values: Vec<String>,
}

fn parse_exclude(v: &Value) -> Exclude {
    Exclude {
        control_name: get_str(v, &["controlName"]).to_string(),
        images: strings(v, &["images"]),
        restricted_field: get_str(v, &["restrictedField"]).to_string(),
        values: strings(v, &["values"]),
    }
}

/// Every run of digits replaced by `*` (`regexIndex.ReplaceAllString(field, "*")`).
fn star_indexes(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut in_digits = false;
    for c in field.chars() {
        if c.is_ascii_digit() {
            if !in_digits {
                out.push('*');
            }
            in_digits = true;
        } else {
            out.push(c);
            in_digits = false;
        }
    }
    out
}

/// `parseField`: the starred field and, for a container field, (container list, index).
fn parse_field(field: &str) -> (String, Option<(String, usize)>) {
    let words: Vec<&str> = field
        .split(|c: char| !c.is_ascii_alphabetic())
        .filter(|w| !w.is_empty())
        .collect();
    let first_index = field
        .split(|c: char| !c.is_ascii_digit())
        .find(|d| !d.is_empty())
        .and_then(|d| d.parse::<usize>().ok());
    let container = match (words.get(1), first_index) {
        (Some(kind @ (&"containers" | &"initContainers" | &"ephemeralContainers")), Some(i)) => {
            Some((kind.to_string(), i))
        }
        _ => None,
    };
    (star_indexes(field), container)
}

fn container_name(pod: &Pod, kind: &str, index: usize) -> String {
    list(&pod.spec, &[kind])
        .get(index)
        .map(|c| get_str(c, &["name"]).to_string())
        .unwrap_or_default()
}

/// A pod as the checks see it: metadata and spec.
#[derive(Clone, Debug)]
struct Pod {
    meta: Value,
    spec: Value,
}

/// `GetPodWithMatchingContainers`: without images, a copy of the pod whose only container is
/// `{name: fake}` (so only pod-level errors remain); with images, a pod holding only the
/// containers whose image matches one of them (and nothing else of the spec or metadata).
fn exclusion_pod(exclude: &Exclude, pod: &Pod) -> (Pod, bool) {
    if exclude.images.is_empty() {
        let mut spec = pod.spec.clone();
        if !spec.is_object() {
            spec = json!({});
        }
        let obj = spec.as_object_mut().expect("an object");
        obj.insert("containers".into(), json!([{"name": "fake"}]));
        obj.remove("initContainers");
        obj.remove("ephemeralContainers");
        return (
            Pod {
                meta: pod.meta.clone(),
                spec,
            },
            false,
        );
    }
    let mut meta = Map::new();
    for key in ["name", "namespace"] {
        if let Some(v) = get(&pod.meta, &[key]) {
            meta.insert(key.into(), v.clone());
        }
    }
    let mut spec = Map::new();
    for kind in ["containers", "initContainers", "ephemeralContainers"] {
        let matching: Vec<Value> = list(&pod.spec, &[kind])
            .iter()
            .filter(|c| {
                let image = get_str(c, &["image"]);
                exclude.images.iter().any(|p| wildcard_match(p, image))
            })
            .cloned()
            .collect();
        if !matching.is_empty() {
            spec.insert(kind.into(), Value::Array(matching));
        }
    }
    (
        Pod {
            meta: Value::Object(meta),
            spec: Value::Object(spec),
        },
        true,
    )
}

/// `exemptExclusions`: each error of the exclusion run that passes `restrictedField` and
/// `values` removes the first error of the same check with the same starred field (and, for
/// container-level exclusions, the same container name), the way Go's `remove` does it (the
/// last error takes its place). Checks left without errors are dropped.
fn exempt(
    mut checks: Vec<CheckResult>,
    exclude_results: &[CheckResult],
    exclude: &Exclude,
    pod: &Pod,
    matching: &Pod,
    container_level: bool,
) -> Vec<CheckResult> {
    let ids = control_ids(&exclude.control_name);
    for ex in exclude_results.iter().filter(|r| ids.contains(&r.id)) {
        for ex_err in &ex.errors {
            let (ex_field, ex_container) = if container_level {
                let (field, container) = parse_field(&ex_err.field);
                let name = container.map(|(kind, i)| container_name(matching, &kind, i));
                (field, name.unwrap_or_default())
            } else {
                (star_indexes(&ex_err.field), String::new())
            };
            if !(exclude.restricted_field.is_empty() || ex_field == exclude.restricted_field) {
                continue;
            }
            let values_ok = exclude.values.is_empty()
                || ex_err
                    .bad_value
                    .as_strings()
                    .iter()
                    .all(|bv| exclude.values.iter().any(|p| wildcard_match(p, bv)));
            if !values_ok {
                continue;
            }
            let Some(pos) = checks.iter().position(|c| c.id == ex.id) else {
                continue;
            };
            let default = &mut checks[pos];
            let hit = default.errors.iter().position(|d| {
                if container_level {
                    let (field, container) = parse_field(&d.field);
                    match container {
                        Some((kind, i)) => field == ex_field && container_name(pod, &kind, i) == ex_container,
                        None => field == ex_field,
                    }
                } else {
                    star_indexes(&d.field) == ex_field
                }
            });
            if let Some(idx) = hit {
                default.errors.swap_remove(idx);
            }
            if default.errors.is_empty() {
                checks.remove(pos);
            }
        }
    }
    checks
}

/// `ApplyPodSecurityExclusion`: the excludes one after the other, each re-running the checks
/// on its exclusion pod.
fn apply_exclusions(
    level: &str,
    version: Version,
    excludes: &[Value],
    mut checks: Vec<CheckResult>,
    pod: &Pod,
) -> Vec<CheckResult> {
    for raw in excludes {
        let exclude = parse_exclude(raw);
        let (ex_pod, container_level) = exclusion_pod(&exclude, pod);
        let results = run_checks(level, version, &ex_pod.meta, &ex_pod.spec);
        checks = exempt(checks, &results, &exclude, pod, &ex_pod, container_level);
    }
    checks
}

// ---- the rule (validate_pss.go) ----

/// `getSpec` (validate_pss.go:296-341). The CronJob's metadata is `spec.jobTemplate.metadata`
/// (the Job's, not the pod template's), as in Kyverno.
fn pod_of(resource: &Value) -> Result<(Pod, &str), String> {
    let kind = get_str(resource, &["kind"]);
    let (meta, spec) = match kind {
        "DaemonSet" | "Deployment" | "Job" | "StatefulSet" | "ReplicaSet" | "ReplicationController" => (
            get(resource, &["spec", "template", "metadata"]),
            get(resource, &["spec", "template", "spec"]),
        ),
        "CronJob" => (
            get(resource, &["spec", "jobTemplate", "metadata"]),
            get(resource, &["spec", "jobTemplate", "spec", "template", "spec"]),
        ),
        "Pod" => (get(resource, &["metadata"]), get(resource, &["spec"])),
        _ => return Err("Error while getting new resource: could not find correct resource type".into()),
    };
    let pod = Pod {
        meta: meta.cloned().unwrap_or_else(|| json!({})),
        spec: spec.cloned().unwrap_or_else(|| json!({})),
    };
    Ok((pod, kind))
}

/// `convertChecks` (validate_pss.go:219-240): `spec` → `spec.template.spec` for the pod
/// controllers, → `spec.jobTemplate.spec.template.spec` for CronJobs, then for every kind
/// (Pods included) `metadata` → `spec.template.metadata`; plain substring replacements.
fn convert_checks(checks: &mut [CheckResult], kind: &str) {
    let spec_to = match kind {
        "DaemonSet" | "Deployment" | "Job" | "StatefulSet" | "ReplicaSet" | "ReplicationController" => {
            Some("spec.template.spec")
        }
        "CronJob" => Some("spec.jobTemplate.spec.template.spec"),
        _ => None,
    };
    for check in checks.iter_mut() {
        for err in &mut check.errors {
            if let Some(to) = spec_to {
                err.field = err.field.replace("spec", to);
            }
            err.field = err.field.replace("metadata", "spec.template.metadata");
        }
    }
}

/// The image reference Kyverno's image info prints (`ImageInfo.String()`, with the chart's
/// `defaultRegistry: docker.io` and `enableDefaultRegistryMutation: true`): registry added
/// when the first path component is not a host, `:latest` when there is neither tag nor
/// digest, the tag dropped when there is a digest.
pub fn image_reference(image: &str) -> String {
    let first = image.split('/').next().unwrap_or("");
    let is_host = image.contains('/')
        && (first.contains('.')
            || first.contains(':')
            || first == "localhost"
            || first.to_lowercase() != first);
    let full = if is_host {
        image.to_string()
    } else {
        format!("docker.io/{image}")
    };
    let (name, digest) = match full.split_once('@') {
        Some((n, d)) => (n.to_string(), Some(d.to_string())),
        None => (full, None),
    };
    let slash = name.rfind('/').map_or(0, |i| i + 1);
    let (repo, tag) = match name[slash..].rfind(':') {
        Some(i) => (name[..slash + i].to_string(), name[slash + i + 1..].to_string()),
        None => (name.clone(), String::new()),
    };
    match digest {
        Some(d) => format!("{repo}@{d}"),
        None if tag.is_empty() => format!("{repo}:latest"),
        None => format!("{repo}:{tag}"),
    }
}

/// `addImages` (validate_pss.go:242-294): container names are read out of the
/// ForbiddenDetail with `container(?:s)?\s*(.*?)\s*must` and mapped to image references
/// (containers, then init, then ephemeral containers); an unknown name stays as it is.
fn add_images(checks: &mut [CheckResult], pod: &Pod) {
    let re = regex_lite::Regex::new(r"container(?:s)?\s*(.*?)\s*must").expect("a valid regex");
    let mut infos: Vec<BTreeMap<String, String>> = Vec::new();
    for kind in ["containers", "initContainers", "ephemeralContainers"] {
        let mut m = BTreeMap::new();
        for c in list(&pod.spec, &[kind]) {
            m.insert(
                get_str(c, &["name"]).to_string(),
                image_reference(get_str(c, &["image"])),
            );
        }
        infos.push(m);
    }
    for check in checks.iter_mut() {
        let Some(caps) = re.captures(&check.forbidden_detail) else {
            continue;
        };
        let names = caps[1].replace(['"', ' '], "");
        let images = names
            .split(',')
            .map(|n| {
                infos
                    .iter()
                    .find_map(|m| m.get(n).cloned())
                    .unwrap_or_else(|| n.to_string())
            })
            .collect();
        check.images = Some(images);
    }
}

/// `addPodSecurityProperties` (pkg/utils/report/results.go:202-229).
fn properties(level: &str, version: &str, checks: &[CheckResult]) -> BTreeMap<String, String> {
    let controls: Vec<Value> = checks
        .iter()
        .map(|c| {
            let mut m = Map::new();
            m.insert("ID".into(), json!(c.id));
            m.insert("Name".into(), json!(control_name(c.id)));
            m.insert(
                "Images".into(),
                c.images.as_ref().map_or(Value::Null, |i| json!(i)),
            );
            Value::Object(m)
        })
        .collect();
    // Go's encoding/json escapes <, > and & (and U+2028/9) inside strings.
    let controls_json = Value::Array(controls)
        .to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029");
    let ids: Vec<&str> = checks.iter().map(|c| c.id).collect();
    BTreeMap::from([
        ("standard".to_string(), level.to_string()),
        ("version".to_string(), version.to_string()),
        ("controls".to_string(), ids.join(",")),
        ("controlsJSON".to_string(), controls_json),
    ])
}

/// The result of a podSecurity rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PssOutcome {
    /// `Validation rule '<rule>' passed.`
    Pass { message: String },
    /// `Validation rule '<rule>' failed. It violates PodSecurity "<level>:<version>": ...`,
    /// with the report properties `standard`, `version`, `controls`, `controlsJSON`.
    Fail {
        message: String,
        properties: BTreeMap<String, String>,
        checks: Vec<CheckResult>,
    },
    /// Every failing check was exempted by the PolicyExceptions' `podSecurity` entries: Kyverno
    /// reports `skip` with `rule is skipped due to policy exceptions <ns/name, ...>`.
    Exempted,
}

/// Evaluates a `validate.podSecurity` rule (`pod_security` is the rule's
/// `validate.podSecurity` object) against a Pod, a pod controller or a CronJob.
/// `Err` is the message of a rule `error` result (other kinds, a bad version).
/// DELETE requests are not evaluated by Kyverno (no rule response); that is the caller's part.
pub fn evaluate(rule_name: &str, pod_security: &Value, resource: &Value) -> Result<PssOutcome, String> {
    evaluate_with_exceptions(rule_name, pod_security, resource, &[])
}

/// [`evaluate`], then, for a failing pod, the `podSecurity` entries of the matched
/// PolicyExceptions applied as further excludes (validate_pss.go:119-139); `Exempted` when no
/// failing check is left. (A matched exception *without* `podSecurity` skips the rule before
/// any evaluation, with `rule is skipped due to policy exception <ns/name>`: the caller's part.)
pub fn evaluate_with_exceptions(
    rule_name: &str,
    pod_security: &Value,
    resource: &Value,
    exception_excludes: &[Value],
) -> Result<PssOutcome, String> {
    let level = get_str(pod_security, &["level"]);
    let version_str = get_str(pod_security, &["version"]);
    let (pod, kind) = pod_of(resource)?;
    let version =
        parse_version(version_str).map_err(|e| format!("failed to parse pod security api version: {e}"))?;
    let mut checks = run_checks(level, version, &pod.meta, &pod.spec);
    let excludes = list(pod_security, &["exclude"]);
    if !excludes.is_empty() {
        checks = apply_exclusions(level, version, excludes, checks, &pod);
    }
    if checks.is_empty() {
        return Ok(PssOutcome::Pass {
            message: format!("Validation rule '{rule_name}' passed."),
        });
    }
    if !exception_excludes.is_empty() {
        checks = apply_exclusions(level, version, exception_excludes, checks, &pod);
        if checks.is_empty() {
            return Ok(PssOutcome::Exempted);
        }
    }
    convert_checks(&mut checks, kind);
    add_images(&mut checks, &pod);
    let message = format!(
        r#"Validation rule '{rule_name}' failed. It violates PodSecurity "{level}:{version_str}": {}"#,
        format_checks(&checks)
    );
    let properties = properties(level, version_str, &checks);
    Ok(PssOutcome::Fail {
        message,
        properties,
        checks,
    })
}

// ---- the policy webhook (api/kyverno/v1 common_types.go:571-589, rule_types.go:430-451) ----

const CONTAINER_LEVEL_CONTROLS: &[&str] = &[
    "Capabilities",
    "Privileged Containers",
    "Host Ports",
    "/proc Mount Type",
    "Privilege Escalation",
];
const POD_LEVEL_CONTROLS: &[&str] = &["Host Namespaces", "HostPath Volumes", "Sysctls", "Volume Types"];
const RESTRICTED_CONTROLS: &[&str] = &[
    "Volume Types",
    "Privilege Escalation",
    "Running as Non-root",
    "Running as Non-root user",
    "Seccomp",
    "Capabilities",
];

/// `PodSecurityStandard.Validate` of one exclude at `path`.
fn standard_errors(e: &Exclude, path: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let name = e.control_name.as_str();
    let invalid = |detail: &str| format!("{path}.controlName: Invalid value: {}: {detail}", go_quote(name));
    if CONTAINER_LEVEL_CONTROLS.contains(&name) {
        if e.images.is_empty() {
            errs.push(invalid(
                "exclude.images must be specified for the container level control",
            ));
        }
    } else if POD_LEVEL_CONTROLS.contains(&name) && !e.images.is_empty() {
        errs.push(invalid(
            "exclude.images must not be specified for the pod level control",
        ));
    }
    if !e.restricted_field.is_empty() && e.values.is_empty() {
        errs.push(format!("{path}.values: Forbidden: values is required"));
    }
    if e.restricted_field.is_empty() && !e.values.is_empty() {
        errs.push(format!(
            "{path}.restrictedField: Forbidden: restrictedField is required"
        ));
    }
    errs
}

/// The field errors of `ValidatePSaControlNames` for one rule, as apimachinery prints them.
/// `rule_path` is the rule's path (`spec.rules[0]`): Kyverno puts the excludes at
/// `<rule>.podSecurity.exclude[j]` (no `validate.` in between). At level baseline the
/// restricted controls other than Seccomp and Capabilities are refused.
pub fn check_policy_errors(pod_security: &Value, rule_path: &str) -> Vec<String> {
    let level = get_str(pod_security, &["level"]);
    let mut errs = Vec::new();
    for (j, raw) in list(pod_security, &["exclude"]).iter().enumerate() {
        let e = parse_exclude(raw);
        let path = format!("{rule_path}.podSecurity.exclude[{j}]");
        errs.extend(standard_errors(&e, &path));
        let name = e.control_name.as_str();
        if level == "baseline"
            && RESTRICTED_CONTROLS.contains(&name)
            && !matches!(name, "Seccomp" | "Capabilities")
        {
            errs.push(format!(
                "{path}.controlName: Invalid value: {}: Invalid control name defined at the given level",
                go_quote(name)
            ));
        }
    }
    errs
}

/// The field errors of a PolicyException's `spec.podSecurity` list (`PolicyExceptionSpec.Validate`,
/// api/kyverno/v2/policy_exception_types.go:105-108), at `spec.podSecurity[i]`.
pub fn check_exception_errors(pod_security: &Value) -> Vec<String> {
    list(pod_security, &[])
        .iter()
        .enumerate()
        .flat_map(|(i, raw)| standard_errors(&parse_exclude(raw), &format!("spec.podSecurity[{i}]")))
        .collect()
}

/// Field errors as the aggregate Kyverno's webhooks return (`ErrorList.ToAggregate`): none is
/// `Ok`, one is its text, several are `[e1, e2]` without duplicates.
pub fn aggregate(errs: Vec<String>) -> Result<(), String> {
    let mut unique: Vec<String> = Vec::new();
    for e in errs {
        if !unique.contains(&e) {
            unique.push(e);
        }
    }
    match unique.len() {
        0 => Ok(()),
        1 => Err(unique.remove(0)),
        _ => Err(format!("[{}]", unique.join(", "))),
    }
}

/// [`check_policy_errors`] aggregated.
pub fn check_policy(pod_security: &Value, rule_path: &str) -> Result<(), String> {
    aggregate(check_policy_errors(pod_security, rule_path))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The failed check `id` of a pod at level restricted and `version`.
    fn check(id: &str, version: &str, meta: Value, spec: Value) -> Option<CheckResult> {
        let v = parse_version(version).unwrap();
        run_checks("restricted", v, &meta, &spec)
            .into_iter()
            .find(|c| c.id == id)
    }

    /// (reason, detail, printed field errors) of a failing check.
    fn failing(id: &str, version: &str, meta: Value, spec: Value) -> (String, String, Vec<String>) {
        let c = check(id, version, meta, spec).unwrap_or_else(|| panic!("{id} passed"));
        (
            c.forbidden_reason,
            c.forbidden_detail,
            c.errors.iter().map(FieldError::print).collect(),
        )
    }

    fn pod(spec: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": spec})
    }

    fn fail_message(out: PssOutcome) -> String {
        match out {
            PssOutcome::Fail { message, .. } => message,
            other => panic!("expected a failure, got {other:?}"),
        }
    }

    /// A container that passes every restricted check.
    fn good(name: &str) -> Value {
        json!({"name": name, "image": "nginx", "securityContext": {
            "allowPrivilegeEscalation": false, "runAsNonRoot": true,
            "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}})
    }

    // Kyverno conformance test events/clusterpolicy/message-exceeds-1024-characters
    // (policy.yaml, resource.yaml, event-assert.yaml at v1.15.2).
    #[test]
    fn conformance_restricted_latest_message() {
        let ps = json!({"level": "restricted", "version": "latest"});
        let resource = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "badpod01", "namespace": "default"},
            "spec": {"containers": [{"name": "container01", "image": "dummyimagename",
                "securityContext": {"allowPrivilegeEscalation": false, "runAsNonRoot": true,
                    "seccompProfile": {"type": "RuntimeDefault"}}}]}});
        let PssOutcome::Fail {
            message, properties, ..
        } = evaluate("restricted", &ps, &resource).unwrap()
        else {
            panic!("expected a failure")
        };
        assert_eq!(
            message,
            r#"Validation rule 'restricted' failed. It violates PodSecurity "restricted:latest": (Forbidden reason: unrestricted capabilities, field error list: [spec.containers[0].securityContext.capabilities.drop: Required value])"#
        );
        assert_eq!(properties["controls"], "capabilities_restricted");
        assert_eq!(
            properties["controlsJSON"],
            r#"[{"ID":"capabilities_restricted","Name":"Capabilities","Images":["docker.io/dummyimagename:latest"]}]"#
        );
        assert_eq!(properties["standard"], "restricted");
        assert_eq!(properties["version"], "latest");
    }

    // Kyverno conformance test reports/background/multiple-exceptions-with-pod-security
    // (pod.yaml, policy.yaml, exceptions.yaml, report-skip-assert.yaml, report-fail-assert.yaml).
    fn multiple_exceptions_pod() -> Value {
        let sc = |add: Value| {
            json!({"allowPrivilegeEscalation": false,
            "capabilities": {"add": add, "drop": ["ALL"]}, "privileged": false,
            "runAsNonRoot": true, "runAsUser": 10001, "seccompProfile": {"type": "RuntimeDefault"}})
        };
        pod(json!({
            "containers": [{"image": "alpine:latest", "name": "primary", "securityContext": {
                "allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]},
                "runAsNonRoot": true, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}}}],
            "initContainers": [
                {"image": "alpine:latest", "name": "init1", "securityContext": sc(json!(["NET_ADMIN", "NET_RAW"]))},
                {"image": "busybox:latest", "name": "init2", "securityContext": sc(json!(["SYS_TIME"]))}]}))
    }

    fn init_exception(image: &str, values: Value) -> Value {
        json!({"controlName": "Capabilities", "images": [image],
            "restrictedField": "spec.initContainers[*].securityContext.capabilities.add", "values": values})
    }

    #[test]
    fn conformance_baseline_exceptions() {
        let ps = json!({"level": "baseline", "version": "v1.29"});
        let init1 = init_exception("alpine:latest", json!(["NET_ADMIN", "NET_RAW"]));
        let init2 = init_exception("busybox:latest", json!(["SYS_TIME"]));
        let both = evaluate_with_exceptions(
            "baseline",
            &ps,
            &multiple_exceptions_pod(),
            &[init1, init2.clone()],
        );
        assert_eq!(both.unwrap(), PssOutcome::Exempted);

        let out = evaluate_with_exceptions("baseline", &ps, &multiple_exceptions_pod(), &[init2]).unwrap();
        let PssOutcome::Fail {
            message, properties, ..
        } = out
        else {
            panic!("expected a failure")
        };
        assert_eq!(
            message,
            r#"Validation rule 'baseline' failed. It violates PodSecurity "baseline:v1.29": (Forbidden reason: non-default capabilities, field error list: [spec.initContainers[0].securityContext.capabilities.add is forbidden, forbidden values found: [NET_ADMIN NET_RAW]])"#
        );
        let expected = BTreeMap::from([
            ("controls".to_string(), "capabilities_baseline".to_string()),
            (
                "controlsJSON".to_string(),
                r#"[{"ID":"capabilities_baseline","Name":"Capabilities","Images":["docker.io/alpine:latest","docker.io/busybox:latest"]}]"#
                    .to_string(),
            ),
            ("standard".to_string(), "baseline".to_string()),
            ("version".to_string(), "v1.29".to_string()),
        ]);
        assert_eq!(properties, expected);

        // Without exceptions both init containers fail.
        let msg = fail_message(evaluate("baseline", &ps, &multiple_exceptions_pod()).unwrap());
        assert!(msg.ends_with("[spec.initContainers[0].securityContext.capabilities.add is forbidden, forbidden values found: [NET_ADMIN NET_RAW], spec.initContainers[1].securityContext.capabilities.add is forbidden, forbidden values found: [SYS_TIME]])"), "{msg}");
    }

    #[test]
    fn pass_message_and_errors() {
        let ps = json!({"level": "restricted"});
        let out = evaluate("r1", &ps, &pod(json!({"containers": [good("a")]}))).unwrap();
        assert_eq!(
            out,
            PssOutcome::Pass {
                message: "Validation rule 'r1' passed.".into()
            }
        );

        let svc = json!({"kind": "Service", "spec": {}});
        assert_eq!(
            evaluate("r1", &ps, &svc).unwrap_err(),
            "Error while getting new resource: could not find correct resource type"
        );
        let bad = json!({"level": "baseline", "version": "1.29"});
        assert_eq!(
            evaluate("r1", &bad, &pod(json!({}))).unwrap_err(),
            r#"failed to parse pod security api version: must be "latest" or "v1.x""#
        );
        assert_eq!(
            parse_version("v1.05"),
            Err(r#"must be "latest" or "v1.x""#.into())
        );
        assert_eq!(parse_version(""), Ok(Version::Latest));
        assert_eq!(parse_version("v1.0"), Ok(Version::V(1, 0)));
    }

    // ---- the checks; expectations from the fork's policy/check_*_test.go ----

    #[test]
    fn allow_privilege_escalation() {
        // TestAllowPrivilegeEscalation_1_25 "multiple containers, enable field error list"
        let spec = json!({"containers": [{"name": "a"}, {"name": "b", "securityContext": {}},
            {"name": "c", "securityContext": {"allowPrivilegeEscalation": true}},
            {"name": "d", "securityContext": {"allowPrivilegeEscalation": false}}]});
        let (reason, detail, errs) = failing("allowPrivilegeEscalation", "latest", json!({}), spec);
        assert_eq!(reason, "allowPrivilegeEscalation != false");
        assert_eq!(
            detail,
            r#"containers "a", "b", "c" must set securityContext.allowPrivilegeEscalation=false"#
        );
        assert_eq!(
            errs,
            [
                "spec.containers[0].securityContext.allowPrivilegeEscalation: Required value",
                "spec.containers[1].securityContext.allowPrivilegeEscalation is forbidden, forbidden values found: nil",
                "spec.containers[2].securityContext.allowPrivilegeEscalation is forbidden, forbidden values found: true",
            ]
        );
        let ok =
            json!({"containers": [{"name": "d", "securityContext": {"allowPrivilegeEscalation": false}}]});
        assert!(check("allowPrivilegeEscalation", "latest", json!({}), ok).is_none());
    }

    #[test]
    fn app_armor_profile() {
        // TestCheckAppArmor_Forbidden "multiple containers, enable field error list"
        let meta = json!({"annotations": {
            "container.apparmor.security.beta.kubernetes.io/": "bogus",
            "container.apparmor.security.beta.kubernetes.io/a": "",
            "container.apparmor.security.beta.kubernetes.io/b": "runtime/default",
            "container.apparmor.security.beta.kubernetes.io/c": "localhost/",
            "container.apparmor.security.beta.kubernetes.io/d": "localhost/foo",
            "container.apparmor.security.beta.kubernetes.io/e": "unconfined",
            "container.apparmor.security.beta.kubernetes.io/f": "unknown"}});
        let (reason, detail, errs) = failing("appArmorProfile", "latest", meta, json!({}));
        assert_eq!(reason, "forbidden AppArmor profiles");
        assert_eq!(
            detail,
            r#"annotations must not set AppArmor profile type to "container.apparmor.security.beta.kubernetes.io/="bogus"", "container.apparmor.security.beta.kubernetes.io/e="unconfined"", "container.apparmor.security.beta.kubernetes.io/f="unknown"""#
        );
        assert_eq!(
            errs[1],
            "metadata.annotations[container.apparmor.security.beta.kubernetes.io/e] is forbidden, forbidden values found: unconfined"
        );
        // `pod must not set AppArmor profile type to "Unconfined"` (same test file).
        let spec = json!({"securityContext": {"appArmorProfile": {"type": "Unconfined"}}});
        let (reason, detail, errs) = failing("appArmorProfile", "latest", json!({}), spec);
        assert_eq!(reason, "forbidden AppArmor profile");
        assert_eq!(
            detail,
            r#"pod must not set AppArmor profile type to "Unconfined""#
        );
        assert_eq!(
            errs,
            ["spec.securityContext.appArmorProfile.type is forbidden, forbidden values found: Unconfined"]
        );
        let ok = json!({"containers": [{"name": "a", "securityContext": {"appArmorProfile": {"type": "Localhost"}}}]});
        assert!(check("appArmorProfile", "latest", json!({}), ok).is_none());
    }

    #[test]
    fn capabilities_baseline() {
        let spec = json!({"containers": [
            {"name": "a", "securityContext": {"capabilities": {"add": ["NET_RAW", "CHOWN", "NET_ADMIN"]}}},
            {"name": "b", "securityContext": {"capabilities": {"add": ["KILL"]}}}]});
        let (reason, detail, errs) = failing("capabilities_baseline", "latest", json!({}), spec);
        assert_eq!(reason, "non-default capabilities");
        assert_eq!(
            detail,
            r#"container "a" must not include "NET_ADMIN", "NET_RAW" in securityContext.capabilities.add"#
        );
        assert_eq!(
            errs,
            [
                "spec.containers[0].securityContext.capabilities.add is forbidden, forbidden values found: [NET_ADMIN NET_RAW]"
            ]
        );
        let ok =
            json!({"containers": [{"name": "b", "securityContext": {"capabilities": {"add": ["KILL"]}}}]});
        assert!(check("capabilities_baseline", "latest", json!({}), ok).is_none());
    }

    #[test]
    fn capabilities_restricted() {
        // TestCapabilitiesRestricted_1_25 "multiple containers, enable field error list"
        let spec = json!({"containers": [
            {"name": "a", "securityContext": {"capabilities": {"add": ["FOO", "BAR"]}}},
            {"name": "b", "securityContext": {"capabilities": {"add": ["BAR", "BAZ"]}}},
            {"name": "c", "securityContext": {"capabilities": {"add": ["NET_BIND_SERVICE", "CHOWN"], "drop": ["ALL", "FOO"]}}}]});
        let (reason, detail, errs) = failing("capabilities_restricted", "latest", json!({}), spec);
        assert_eq!(reason, "unrestricted capabilities");
        assert_eq!(
            detail,
            r#"containers "a", "b" must set securityContext.capabilities.drop=["ALL"]; containers "a", "b", "c" must not include "BAR", "BAZ", "CHOWN", "FOO" in securityContext.capabilities.add"#
        );
        assert_eq!(
            errs,
            [
                "spec.containers[0].securityContext.capabilities.drop: Required value",
                "spec.containers[1].securityContext.capabilities.drop: Required value",
                "spec.containers[0].securityContext.capabilities.add is forbidden, forbidden values found: [BAR FOO]",
                "spec.containers[1].securityContext.capabilities.add is forbidden, forbidden values found: [BAR BAZ]",
                "spec.containers[2].securityContext.capabilities.add is forbidden, forbidden values found: [CHOWN]",
            ]
        );
        // "container is not allowed on both Add and Drop": drop without ALL is Forbidden with its values.
        let spec = json!({"containers": [{"name": "a", "securityContext": {"capabilities": {"add": ["BAR", "BAZ"], "drop": ["FOO", "BAR"]}}}]});
        let (_, _, errs) = failing("capabilities_restricted", "latest", json!({}), spec);
        assert_eq!(
            errs[0],
            "spec.containers[0].securityContext.capabilities.drop is forbidden, forbidden values found: [BAR FOO]"
        );
        let ok = json!({"containers": [{"name": "a", "securityContext": {"capabilities": {"add": ["NET_BIND_SERVICE"], "drop": ["ALL"]}}}]});
        assert!(check("capabilities_restricted", "latest", json!({}), ok).is_none());
    }

    #[test]
    fn host_namespaces() {
        let spec = json!({"hostNetwork": true, "hostPID": false, "hostIPC": true});
        let (reason, detail, errs) = failing("hostNamespaces", "latest", json!({}), spec);
        assert_eq!(
            (reason.as_str(), detail.as_str()),
            ("host namespaces", "hostNetwork=true, hostIPC=true")
        );
        assert_eq!(
            errs,
            [
                "spec.hostNetwork is forbidden, forbidden values found: true",
                "spec.hostIPC is forbidden, forbidden values found: true",
            ]
        );
        assert!(check("hostNamespaces", "latest", json!({}), json!({"hostPID": false})).is_none());
    }

    #[test]
    fn host_path_volumes() {
        let spec = json!({"volumes": [{"name": "a", "emptyDir": {}}, {"name": "b", "hostPath": {"path": "/var/run"}}]});
        let (reason, detail, errs) = failing("hostPathVolumes", "latest", json!({}), spec);
        assert_eq!(
            (reason.as_str(), detail.as_str()),
            ("hostPath volumes", r#"volume "b""#)
        );
        assert_eq!(
            errs,
            ["spec.volumes[1].hostPath is forbidden, forbidden values found: /var/run"]
        );
        assert!(
            check(
                "hostPathVolumes",
                "latest",
                json!({}),
                json!({"volumes": [{"name": "a", "emptyDir": {}}]})
            )
            .is_none()
        );
    }

    #[test]
    fn host_ports() {
        // TestHostPort: `containers "b", "c" use hostPorts 10, 20, 30`
        let spec = json!({"containers": [
            {"name": "a", "ports": [{"containerPort": 80}]},
            {"name": "b", "ports": [{"hostPort": 0}, {"hostPort": 10}, {"hostPort": 20}]},
            {"name": "c", "ports": [{"hostPort": 30}]}]});
        let (reason, detail, errs) = failing("hostPorts", "latest", json!({}), spec);
        assert_eq!(
            (reason.as_str(), detail.as_str()),
            ("hostPort", r#"containers "b", "c" use hostPorts 10, 20, 30"#)
        );
        assert_eq!(
            errs,
            [
                "spec.containers[1].ports[1].hostPort is forbidden, forbidden values found: 10",
                "spec.containers[1].ports[2].hostPort is forbidden, forbidden values found: 20",
                "spec.containers[2].ports[0].hostPort is forbidden, forbidden values found: 30",
            ]
        );
        assert!(
            check(
                "hostPorts",
                "latest",
                json!({}),
                json!({"containers": [{"name": "a", "ports": [{"hostPort": 0}]}]})
            )
            .is_none()
        );
    }

    #[test]
    fn privileged() {
        let spec = json!({"initContainers": [{"name": "i", "securityContext": {"privileged": true}}],
            "containers": [{"name": "a", "securityContext": {"privileged": false}}]});
        let (reason, detail, errs) = failing("privileged", "latest", json!({}), spec);
        assert_eq!(
            (reason.as_str(), detail.as_str()),
            (
                "privileged",
                r#"container "i" must not set securityContext.privileged=true"#
            )
        );
        assert_eq!(
            errs,
            ["spec.initContainers[0].securityContext.privileged is forbidden, forbidden values found: true"]
        );
        assert!(
            check(
                "privileged",
                "latest",
                json!({}),
                json!({"containers": [{"name": "a", "securityContext": {"privileged": false}}]})
            )
            .is_none()
        );
    }

    #[test]
    fn proc_mount() {
        let spec = json!({"containers": [{"name": "a", "securityContext": {"procMount": "Unmasked"}},
            {"name": "b", "securityContext": {"procMount": "Default"}}]});
        let (reason, detail, errs) = failing("procMount", "latest", json!({}), spec);
        assert_eq!(
            (reason.as_str(), detail.as_str()),
            (
                "procMount",
                r#"container "a" must not set securityContext.procMount to "Unmasked""#
            )
        );
        assert_eq!(
            errs,
            ["spec.containers[0].securityContext.procMount is forbidden, forbidden values found: Unmasked"]
        );
        assert!(
            check(
                "procMount",
                "latest",
                json!({}),
                json!({"containers": [{"name": "b", "securityContext": {"procMount": "Default"}}]})
            )
            .is_none()
        );
    }

    #[test]
    fn restricted_volumes() {
        // TestRestrictedVolumes, shortened: Forbidden without a value, "unknown" for no source.
        let spec = json!({"volumes": [{"name": "a1", "emptyDir": {}}, {"name": "b1", "hostPath": {"path": "/"}},
            {"name": "b5", "nfs": {"server": "x", "path": "/"}}, {"name": "c1"},
            {"name": "d1", "hostPath": {"path": "/"}, "secret": {"secretName": "s"}}]});
        let (reason, detail, errs) = failing("restrictedVolumes", "latest", json!({}), spec);
        assert_eq!(reason, "restricted volume types");
        assert_eq!(
            detail,
            r#"volumes "b1", "b5", "c1" use restricted volume types "hostPath", "nfs", "unknown""#
        );
        assert_eq!(
            errs,
            [
                "spec.volumes[1].hostPath: Forbidden",
                "spec.volumes[2].nfs: Forbidden",
                "spec.volumes[3].unknown: Forbidden"
            ]
        );
        let ok = json!({"volumes": [{"name": "p", "persistentVolumeClaim": {"claimName": "c"}}]});
        assert!(check("restrictedVolumes", "latest", json!({}), ok).is_none());
    }

    #[test]
    fn run_as_non_root() {
        // TestRunAsNonRoot: pod false → "pod must not set ...=false" + the implicit containers.
        let spec = json!({"securityContext": {"runAsNonRoot": false},
            "containers": [{"name": "a"}, {"name": "b", "securityContext": {"runAsNonRoot": false}},
                {"name": "c", "securityContext": {"runAsNonRoot": true}}]});
        let (reason, detail, errs) = failing("runAsNonRoot", "latest", json!({}), spec);
        assert_eq!(reason, "runAsNonRoot != true");
        assert_eq!(
            detail,
            "pod and container \"b\" must not set securityContext.runAsNonRoot=false\npod or container \"a\" must set securityContext.runAsNonRoot=true"
        );
        assert_eq!(
            errs,
            [
                "spec.securityContext.runAsNonRoot is forbidden, forbidden values found: false",
                "spec.containers[1].securityContext.runAsNonRoot is forbidden, forbidden values found: false",
                "spec.containers[0].securityContext.runAsNonRoot: Required value",
            ]
        );
        let ok = json!({"securityContext": {"runAsNonRoot": true}, "containers": [{"name": "a"}]});
        assert!(check("runAsNonRoot", "latest", json!({}), ok).is_none());
    }

    #[test]
    fn run_as_user() {
        let spec = json!({"securityContext": {"runAsUser": 0},
            "containers": [{"name": "a", "securityContext": {"runAsUser": 0}}, {"name": "b", "securityContext": {"runAsUser": 1000}}]});
        let (reason, detail, errs) = failing("runAsUser", "latest", json!({}), spec);
        assert_eq!(
            (reason.as_str(), detail.as_str()),
            ("runAsUser=0", r#"pod and container "a" must not set runAsUser=0"#)
        );
        assert_eq!(
            errs,
            [
                "spec.securityContext.runAsUser is forbidden, forbidden values found: 0",
                "spec.containers[0].securityContext.runAsUser is forbidden, forbidden values found: 0",
            ]
        );
        assert!(
            check(
                "runAsUser",
                "latest",
                json!({}),
                json!({"securityContext": {"runAsUser": 1000}})
            )
            .is_none()
        );
    }

    #[test]
    fn se_linux_options() {
        // TestSELinuxOptions "invalid pod and containers" (v1.31+: container_engine_t allowed).
        let c = |name: &str, opts: Value| json!({"name": name, "securityContext": {"seLinuxOptions": opts}});
        let spec = json!({"securityContext": {"seLinuxOptions": {"type": "foo", "user": "bar", "role": "baz"}},
            "containers": [c("a", json!({"type": "container_t"})), c("d", json!({"type": "container_engine_t"})),
                c("e", json!({"type": "bar"})), c("f", json!({"user": "bar"})), c("g", json!({"role": "baz"}))]});
        let (reason, detail, errs) = failing("seLinuxOptions", "latest", json!({}), spec.clone());
        assert_eq!(reason, "seLinuxOptions");
        assert_eq!(
            detail,
            r#"pod and containers "e", "f", "g" set forbidden securityContext.seLinuxOptions: types "bar", "foo"; user may not be set; role may not be set"#
        );
        assert_eq!(
            errs,
            [
                "spec.securityContext.seLinuxOptions.type is forbidden, forbidden values found: foo",
                "spec.securityContext.seLinuxOptions.user is forbidden, forbidden values found: bar",
                "spec.securityContext.seLinuxOptions.role is forbidden, forbidden values found: baz",
                "spec.containers[2].securityContext.seLinuxOptions.type is forbidden, forbidden values found: bar",
                "spec.containers[3].securityContext.seLinuxOptions.user is forbidden, forbidden values found: bar",
                "spec.containers[4].securityContext.seLinuxOptions.role is forbidden, forbidden values found: baz",
            ]
        );
        let ok = json!({"containers": [c("a", json!({"type": "container_init_t"}))]});
        assert!(check("seLinuxOptions", "latest", json!({}), ok).is_none());
    }

    #[test]
    fn seccomp_profile_baseline() {
        // TestSeccompProfileBaseline_1_19 `containers "c", "d" must not set ... to "Unconfined"`
        let sp = |t: &str| json!({"seccompProfile": {"type": t}});
        let spec = json!({"containers": [{"name": "a"}, {"name": "b", "securityContext": sp("RuntimeDefault")},
            {"name": "c", "securityContext": sp("Unconfined")}, {"name": "d", "securityContext": sp("Unconfined")}]});
        let (reason, detail, errs) = failing("seccompProfile_baseline", "latest", json!({}), spec);
        assert_eq!(reason, "seccompProfile");
        assert_eq!(
            detail,
            r#"containers "c", "d" must not set securityContext.seccompProfile.type to "Unconfined""#
        );
        assert_eq!(
            errs[1],
            "spec.containers[3].securityContext.seccompProfile.type is forbidden, forbidden values found: Unconfined"
        );
        assert!(
            check(
                "seccompProfile_baseline",
                "latest",
                json!({}),
                json!({"containers": [{"name": "a"}]})
            )
            .is_none()
        );
    }

    #[test]
    fn seccomp_profile_restricted() {
        let spec = json!({"containers": [{"name": "a"}, {"name": "b", "securityContext": {"seccompProfile": {"type": "Localhost"}}}]});
        let (reason, detail, errs) = failing("seccompProfile_restricted", "latest", json!({}), spec);
        assert_eq!(reason, "seccompProfile");
        assert_eq!(
            detail,
            r#"pod or container "a" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost""#
        );
        assert_eq!(
            errs,
            ["spec.containers[0].securityContext.seccompProfile.type: Required value"]
        );
        let ok = json!({"securityContext": {"seccompProfile": {"type": "RuntimeDefault"}}, "containers": [{"name": "a"}]});
        assert!(check("seccompProfile_restricted", "latest", json!({}), ok).is_none());
        // Windows pods are exempt from v1.25 on.
        let win = json!({"os": {"name": "windows"}, "containers": [{"name": "a"}]});
        assert!(check("seccompProfile_restricted", "v1.25", json!({}), win.clone()).is_none());
        assert!(check("seccompProfile_restricted", "v1.24", json!({}), win).is_some());
    }

    #[test]
    fn sysctls_check() {
        // TestSysctls `a, b`
        let spec = json!({"securityContext": {"sysctls": [{"name": "a", "value": "1"}, {"name": "kernel.shm_rmid_forced", "value": "0"}, {"name": "b", "value": "1"}]}});
        let (reason, detail, errs) = failing("sysctls", "latest", json!({}), spec);
        assert_eq!((reason.as_str(), detail.as_str()), ("forbidden sysctls", "a, b"));
        assert_eq!(
            errs,
            [
                "spec.securityContext.sysctls[0].name is forbidden, forbidden values found: a",
                "spec.securityContext.sysctls[2].name is forbidden, forbidden values found: b",
            ]
        );
        let ok = json!({"securityContext": {"sysctls": [{"name": "net.ipv4.tcp_rmem", "value": "1"}]}});
        assert!(check("sysctls", "latest", json!({}), ok).is_none());
    }

    #[test]
    fn windows_host_process() {
        // TestWindowsHostProcess "host process, enable field error list"
        let hp = |v: Value| json!({"windowsOptions": {"hostProcess": v}});
        let spec = json!({"securityContext": hp(json!(true)), "containers": [
            {"name": "a"}, {"name": "b", "securityContext": {}}, {"name": "c", "securityContext": {"windowsOptions": {}}},
            {"name": "d", "securityContext": hp(json!(false))}, {"name": "e", "securityContext": hp(json!(true))},
            {"name": "f", "securityContext": hp(json!(true))}]});
        let (reason, detail, errs) = failing("windowsHostProcess", "latest", json!({}), spec);
        assert_eq!(reason, "hostProcess");
        assert_eq!(
            detail,
            r#"pod and containers "e", "f" must not set securityContext.windowsOptions.hostProcess=true"#
        );
        assert_eq!(
            errs,
            [
                "spec.securityContext.windowsOptions.hostProcess is forbidden, forbidden values found: true",
                "spec.containers[4].securityContext.windowsOptions.hostProcess is forbidden, forbidden values found: true",
                "spec.containers[5].securityContext.windowsOptions.hostProcess is forbidden, forbidden values found: true",
            ]
        );
        assert!(
            check(
                "windowsHostProcess",
                "latest",
                json!({}),
                json!({"containers": [{"name": "d", "securityContext": hp(json!(false))}]})
            )
            .is_none()
        );
    }

    // ---- levels and versions ----

    #[test]
    fn levels_select_checks() {
        let spec = json!({"hostNetwork": true, "containers": [{"name": "a"}]});
        let ids = |level: &str| -> Vec<&str> {
            run_checks(level, Version::Latest, &json!({}), &spec)
                .iter()
                .map(|c| c.id)
                .collect()
        };
        assert_eq!(ids("baseline"), ["hostNamespaces"]);
        let all = [
            "allowPrivilegeEscalation",
            "capabilities_restricted",
            "hostNamespaces",
            "runAsNonRoot",
            "seccompProfile_restricted",
        ];
        assert_eq!(ids("restricted"), all);
        // Kyverno's evaluatePSS skips checks only at baseline: privileged runs them all.
        assert_eq!(ids("privileged"), all);
        assert_eq!(check_ids().len(), 17);
    }

    #[test]
    fn version_selection() {
        // seLinuxOptions: container_engine_t is allowed from v1.31 on.
        let spec = json!({"containers": [{"name": "a", "securityContext": {"seLinuxOptions": {"type": "container_engine_t"}}}]});
        let c = check("seLinuxOptions", "v1.29", json!({}), spec.clone()).unwrap();
        assert_eq!(c.check_version, "v1.0");
        assert!(check("seLinuxOptions", "v1.31", json!({}), spec.clone()).is_none());
        assert!(check("seLinuxOptions", "latest", json!({}), spec).is_none());
        // sysctls: net.ipv4.ip_local_reserved_ports from v1.27.
        let spec = json!({"securityContext": {"sysctls": [{"name": "net.ipv4.ip_local_reserved_ports"}]}});
        assert!(check("sysctls", "v1.26", json!({}), spec.clone()).is_some());
        assert!(check("sysctls", "v1.27", json!({}), spec).is_none());
        // Before v1.19 the baseline seccomp check reads the alpha annotations
        // (TestSeccompProfileBaseline_1_0).
        let meta = json!({"annotations": {"container.seccomp.security.alpha.kubernetes.io/a": "unconfined",
            "container.seccomp.security.alpha.kubernetes.io/b": "unknown",
            "seccomp.security.alpha.kubernetes.io/pod": "unconfined"}});
        let spec = json!({"containers": [{"name": "a"}, {"name": "b"}]});
        let (_, detail, errs) = failing("seccompProfile_baseline", "v1.18", meta.clone(), spec.clone());
        assert_eq!(
            detail,
            r#"forbidden annotations container.seccomp.security.alpha.kubernetes.io/a="unconfined", container.seccomp.security.alpha.kubernetes.io/b="unknown", seccomp.security.alpha.kubernetes.io/pod="unconfined""#
        );
        assert_eq!(
            errs[0],
            "metadata.annotations[container.seccomp.security.alpha.kubernetes.io/a] is forbidden, forbidden values found: unconfined"
        );
        assert!(check("seccompProfile_baseline", "v1.19", meta, spec).is_none());
        // A check whose first version is newer than the policy's still runs its first version.
        let spec = json!({"containers": [{"name": "a", "securityContext": {"runAsUser": 0}}]});
        assert_eq!(
            check("runAsUser", "v1.19", json!({}), spec)
                .unwrap()
                .check_version,
            "v1.23"
        );
        // Windows exemption of allowPrivilegeEscalation from v1.25.
        let win = json!({"os": {"name": "windows"}, "containers": [{"name": "a"}]});
        assert_eq!(
            check("allowPrivilegeEscalation", "v1.24", json!({}), win.clone())
                .unwrap()
                .check_version,
            "v1.8"
        );
        assert!(check("allowPrivilegeEscalation", "v1.25", json!({}), win).is_none());
    }

    // ---- excludes ----

    #[test]
    fn pod_level_exclude() {
        let spec = json!({"hostNetwork": true, "hostPID": true, "containers": [good("a")]});
        let ps = json!({"level": "baseline", "exclude": [{"controlName": "Host Namespaces"}]});
        assert!(matches!(
            evaluate("r", &ps, &pod(spec.clone())).unwrap(),
            PssOutcome::Pass { .. }
        ));
        // restrictedField + values: only hostNetwork is exempted.
        let ps = json!({"level": "baseline", "version": "latest", "exclude": [
            {"controlName": "Host Namespaces", "restrictedField": "spec.hostNetwork", "values": ["true"]}]});
        assert_eq!(
            fail_message(evaluate("r", &ps, &pod(spec.clone())).unwrap()),
            r#"Validation rule 'r' failed. It violates PodSecurity "baseline:latest": (Forbidden reason: host namespaces, field error list: [spec.hostPID is forbidden, forbidden values found: true])"#
        );
        // values must match every bad value of the error.
        let ps = json!({"level": "baseline", "exclude": [
            {"controlName": "Host Namespaces", "restrictedField": "spec.hostNetwork", "values": ["false"]}]});
        let msg = fail_message(evaluate("r", &ps, &pod(spec)).unwrap());
        assert!(msg.contains("spec.hostNetwork is forbidden"), "{msg}");
        // A pod-level exclude does not reach container fields: the fake container has none set.
        let spec = json!({"containers": [{"name": "a", "securityContext": {"privileged": true}}]});
        let ps = json!({"level": "baseline", "exclude": [{"controlName": "Privileged Containers"}]});
        assert!(matches!(
            evaluate("r", &ps, &pod(spec)).unwrap(),
            PssOutcome::Fail { .. }
        ));
        // Sysctls with a wildcard value and a starred restrictedField.
        let spec =
            json!({"securityContext": {"sysctls": [{"name": "kernel.msgmax"}, {"name": "vm.swappiness"}]}});
        let ps = json!({"level": "baseline", "exclude": [{"controlName": "Sysctls",
            "restrictedField": "spec.securityContext.sysctls[*].name", "values": ["kernel.*"]}]});
        assert_eq!(
            fail_message(evaluate("r", &ps, &pod(spec)).unwrap()),
            r#"Validation rule 'r' failed. It violates PodSecurity "baseline:": (Forbidden reason: forbidden sysctls, field error list: [spec.securityContext.sysctls[1].name is forbidden, forbidden values found: vm.swappiness])"#
        );
    }

    #[test]
    fn container_level_exclude() {
        let spec = json!({"containers": [
            {"name": "a", "image": "ghcr.io/org/tool:1.0", "securityContext": {"capabilities": {"add": ["NET_ADMIN"]}}},
            {"name": "b", "image": "nginx", "securityContext": {"capabilities": {"add": ["SYS_ADMIN"]}}}]});
        let ps = json!({"level": "baseline", "version": "v1.29", "exclude": [
            {"controlName": "Capabilities", "images": ["ghcr.io/org/*"]}]});
        assert_eq!(
            fail_message(evaluate("r", &ps, &pod(spec.clone())).unwrap()),
            r#"Validation rule 'r' failed. It violates PodSecurity "baseline:v1.29": (Forbidden reason: non-default capabilities, field error list: [spec.containers[1].securityContext.capabilities.add is forbidden, forbidden values found: [SYS_ADMIN]])"#
        );
        let ps = json!({"level": "baseline", "exclude": [{"controlName": "Capabilities", "images": ["*"]}]});
        assert!(matches!(
            evaluate("r", &ps, &pod(spec.clone())).unwrap(),
            PssOutcome::Pass { .. }
        ));
        // restrictedField + values: SYS_ADMIN is not among the allowed values.
        let ps = json!({"level": "baseline", "exclude": [{"controlName": "Capabilities", "images": ["*"],
            "restrictedField": "spec.containers[*].securityContext.capabilities.add", "values": ["NET_*"]}]});
        let msg = fail_message(evaluate("r", &ps, &pod(spec)).unwrap());
        assert!(msg.ends_with("[spec.containers[1].securityContext.capabilities.add is forbidden, forbidden values found: [SYS_ADMIN]])"), "{msg}");
    }

    // ---- resources ----

    #[test]
    fn controller_paths_are_rewritten() {
        let template = json!({"metadata": {"annotations": {"container.apparmor.security.beta.kubernetes.io/a": "unconfined"}},
            "spec": {"containers": [{"name": "a", "image": "nginx:1.27", "securityContext": {"privileged": true}}]}});
        let deploy = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
            "spec": {"template": template}});
        let ps = json!({"level": "baseline", "version": "latest"});
        let PssOutcome::Fail {
            message, properties, ..
        } = evaluate("r", &ps, &deploy).unwrap()
        else {
            panic!()
        };
        assert_eq!(
            message,
            r#"Validation rule 'r' failed. It violates PodSecurity "baseline:latest": (Forbidden reason: forbidden AppArmor profile, field error list: [spec.template.metadata.annotations[container.apparmor.security.beta.kubernetes.io/a] is forbidden, forbidden values found: unconfined])(Forbidden reason: privileged, field error list: [spec.template.spec.containers[0].securityContext.privileged is forbidden, forbidden values found: true])"#
        );
        assert_eq!(properties["controls"], "appArmorProfile,privileged");
        assert_eq!(
            properties["controlsJSON"],
            r#"[{"ID":"appArmorProfile","Name":"AppArmor","Images":null},{"ID":"privileged","Name":"Privileged Containers","Images":["docker.io/nginx:1.27"]}]"#
        );
        // CronJob: the pod spec under jobTemplate, and metadata from spec.jobTemplate.metadata.
        let cron = json!({"kind": "CronJob", "spec": {"jobTemplate": {
            "metadata": {"annotations": {"container.apparmor.security.beta.kubernetes.io/a": "unconfined"}},
            "spec": {"template": {"spec": {"containers": [{"name": "a", "securityContext": {"privileged": true}}]}}}}}});
        let msg = fail_message(evaluate("r", &ps, &cron).unwrap());
        assert!(msg.contains("[spec.template.metadata.annotations[container.apparmor.security.beta.kubernetes.io/a] is forbidden"), "{msg}");
        assert!(
            msg.contains(
                "[spec.jobTemplate.spec.template.spec.containers[0].securityContext.privileged is forbidden"
            ),
            "{msg}"
        );
        // Pods too get `metadata` rewritten (convertChecks' last loop covers every kind).
        let p = json!({"kind": "Pod", "metadata": template["metadata"].clone(), "spec": {}});
        let msg = fail_message(evaluate("r", &ps, &p).unwrap());
        assert!(
            msg.contains("[spec.template.metadata.annotations[container.apparmor"),
            "{msg}"
        );
    }

    #[test]
    fn image_references() {
        assert_eq!(image_reference("nginx"), "docker.io/nginx:latest");
        assert_eq!(image_reference("alpine:latest"), "docker.io/alpine:latest");
        assert_eq!(image_reference("ghcr.io/org/app:v1"), "ghcr.io/org/app:v1");
        assert_eq!(image_reference("localhost:5000/app"), "localhost:5000/app:latest");
        assert_eq!(
            image_reference("org/app@sha256:abc"),
            "docker.io/org/app@sha256:abc"
        );
    }

    // ---- the policy webhook ----

    #[test]
    fn policy_checks() {
        let ps = json!({"level": "baseline", "exclude": [
            {"controlName": "Capabilities"},
            {"controlName": "Host Namespaces", "images": ["nginx"]},
            {"controlName": "Sysctls", "restrictedField": "spec.securityContext.sysctls[*].name"},
            {"controlName": "AppArmor", "values": ["x"]},
            {"controlName": "Running as Non-root"},
            {"controlName": "Seccomp"}]});
        assert_eq!(
            check_policy_errors(&ps, "spec.rules[0]"),
            [
                r#"spec.rules[0].podSecurity.exclude[0].controlName: Invalid value: "Capabilities": exclude.images must be specified for the container level control"#,
                r#"spec.rules[0].podSecurity.exclude[1].controlName: Invalid value: "Host Namespaces": exclude.images must not be specified for the pod level control"#,
                "spec.rules[0].podSecurity.exclude[2].values: Forbidden: values is required",
                "spec.rules[0].podSecurity.exclude[3].restrictedField: Forbidden: restrictedField is required",
                r#"spec.rules[0].podSecurity.exclude[4].controlName: Invalid value: "Running as Non-root": Invalid control name defined at the given level"#,
            ]
        );
        let one = json!({"level": "restricted", "exclude": [{"controlName": "Privilege Escalation"}]});
        assert_eq!(
            check_policy(&one, "spec.rules[1]").unwrap_err(),
            r#"spec.rules[1].podSecurity.exclude[0].controlName: Invalid value: "Privilege Escalation": exclude.images must be specified for the container level control"#
        );
        let two = json!({"level": "baseline", "exclude": [{"controlName": "Volume Types", "images": ["x"]}]});
        assert_eq!(
            check_policy(&two, "spec.rules[0]").unwrap_err(),
            r#"[spec.rules[0].podSecurity.exclude[0].controlName: Invalid value: "Volume Types": exclude.images must not be specified for the pod level control, spec.rules[0].podSecurity.exclude[0].controlName: Invalid value: "Volume Types": Invalid control name defined at the given level]"#
        );
        // Conformance policy-validation/cluster-policy/invalid-pod-security-rule (policy-1, policy-2).
        let proc_mount = |extra: Value| {
            let mut e = json!({"controlName": "/proc Mount Type", "images": ["nginx"]});
            e.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            json!({"level": "baseline", "version": "latest", "exclude": [e]})
        };
        let p1 = proc_mount(json!({"restrictedField": "spec.containers[*].securityContext.procMount"}));
        assert_eq!(
            check_policy(&p1, "spec.rules[0]").unwrap_err(),
            "spec.rules[0].podSecurity.exclude[0].values: Forbidden: values is required"
        );
        let p2 = proc_mount(json!({"values": ["bar"]}));
        assert_eq!(
            check_policy(&p2, "spec.rules[0]").unwrap_err(),
            "spec.rules[0].podSecurity.exclude[0].restrictedField: Forbidden: restrictedField is required"
        );
        // Conformance policy-validation/cluster-policy/invalid-pod-security-exceptions (exception-1).
        let ex1 = json!([{"controlName": "Capabilities"}, {"controlName": "Host Namespaces"},
            {"controlName": "HostPath Volumes"}, {"controlName": "Privilege Escalation"},
            {"controlName": "Running as Non-root"}, {"controlName": "Seccomp"}, {"controlName": "Volume Types"}]);
        assert_eq!(
            aggregate(check_exception_errors(&ex1)).unwrap_err(),
            r#"[spec.podSecurity[0].controlName: Invalid value: "Capabilities": exclude.images must be specified for the container level control, spec.podSecurity[3].controlName: Invalid value: "Privilege Escalation": exclude.images must be specified for the container level control]"#
        );
        let ok = json!({"level": "restricted", "exclude": [{"controlName": "Seccomp"}, {"controlName": "Capabilities", "images": ["*"]}]});
        assert_eq!(check_policy(&ok, "spec.rules[0]"), Ok(()));
    }
}
