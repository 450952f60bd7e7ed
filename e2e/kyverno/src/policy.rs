//! kyverno.io/v1 ClusterPolicy and Policy: loading (with the checks Kyverno makes before it
//! serves a policy), auto-generated rules for pod controllers, match/exclude, and the
//! evaluation of validate rules with the messages Kyverno's engine writes.

use serde_json::{Value, json};

use super::conditions::{evaluate_conditions, substitute, substitute_str};
use super::pattern::{Anchor, match_pattern, parse_anchor, wildcard_match};

/// What a failing rule does to the request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Enforce,
    Audit,
}

/// A validate rule, ready to evaluate.
#[derive(Clone, Debug)]
pub struct Rule {
    pub name: String,
    pub match_: Value,
    pub exclude: Value,
    pub preconditions: Value,
    pub validate: Value,
    pub action: Action,
}

/// A loaded policy.
#[derive(Clone, Debug)]
pub struct Policy {
    pub name: String,
    /// Set for a namespaced Policy.
    pub namespace: Option<String>,
    pub rules: Vec<Rule>,
    /// `spec.failurePolicy`: Fail (default) or Ignore.
    pub fail_closed: bool,
    pub annotations: Value,
    /// The auto-generated rules (for the policy's status).
    pub autogen: Vec<Value>,
    pub counts: (usize, usize, usize, usize),
}

impl Policy {
    /// The name reports use: `name` or `namespace/name`.
    pub fn key(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{ns}/{}", self.name),
            None => self.name.clone(),
        }
    }
}

fn action_of(v: Option<&Value>) -> Option<Action> {
    match v?.as_str()?.to_ascii_lowercase().as_str() {
        "enforce" => Some(Action::Enforce),
        "audit" => Some(Action::Audit),
        _ => None,
    }
}

/// Checks a pattern the way Kyverno's policy validation does.
fn check_pattern(p: &Value, path: &str) -> Result<(), (String, String)> {
    match p {
        Value::Object(m) => {
            for (k, v) in m {
                if let Some((kind, _)) = parse_anchor(k) {
                    if kind == Anchor::AddIfNotPresent {
                        return Err((format!("{path}/{k}"), format!("unsupported anchor {k}")));
                    }
                    if kind == Anchor::Existence {
                        match v {
                            Value::Array(a) if a.is_empty() => {
                                return Err((
                                    format!("{path}/{k}"),
                                    "existence anchor: should have at least one value".into(),
                                ));
                            }
                            Value::Array(_) => {}
                            _ => {
                                return Err((
                                    format!("{path}/{k}"),
                                    "existence anchor should have value of type list".into(),
                                ));
                            }
                        }
                    }
                }
                check_pattern(v, &format!("{path}/{k}"))?;
            }
            Ok(())
        }
        Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                check_pattern(v, &format!("{path}{i}/"))?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

const OPERATORS: &[&str] = &[
    "equal",
    "equals",
    "notequal",
    "notequals",
    "in",
    "anyin",
    "allin",
    "notin",
    "anynotin",
    "allnotin",
    "greaterthan",
    "greaterthanorequals",
    "lessthan",
    "lessthanorequals",
    "durationgreaterthan",
    "durationgreaterthanorequals",
    "durationlessthan",
    "durationlessthanorequals",
];

fn check_conditions(c: &Value, path: &str) -> Result<(), String> {
    let lists: Vec<(&str, &Value)> = match c {
        Value::Array(_) => vec![("", c)],
        Value::Object(m) => m.iter().map(|(k, v)| (k.as_str(), v)).collect(),
        Value::Null => vec![],
        _ => return Err(format!("{path}: conditions must be an object with any/all")),
    };
    for (block, list) in lists {
        for (i, cond) in list.as_array().into_iter().flatten().enumerate() {
            let op = cond.get("operator").and_then(Value::as_str).unwrap_or("");
            if !OPERATORS.contains(&op.to_ascii_lowercase().as_str()) {
                let at = if block.is_empty() {
                    format!("{path}[{i}]")
                } else {
                    format!("{path}.{block}[{i}]")
                };
                return Err(format!("{at}.operator: Unsupported value: {op:?}"));
            }
        }
    }
    Ok(())
}

/// Loads a ClusterPolicy or Policy; the error says why Kyverno would not serve it.
pub fn load(obj: &Value) -> Result<Policy, String> {
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let namespace = obj
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .map(str::to_string);
    let spec = obj.get("spec").cloned().unwrap_or(json!({}));
    let default_action = action_of(spec.get("validationFailureAction")).unwrap_or(Action::Audit);
    let raw_rules = spec
        .get("rules")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if raw_rules.is_empty() {
        return Err("spec.rules: a policy must have at least one rule".into());
    }
    let mut counts = (0, 0, 0, 0);
    for (i, r) in raw_rules.iter().enumerate() {
        let rname = r.get("name").and_then(Value::as_str).unwrap_or("");
        if rname.is_empty() {
            return Err(format!("spec.rules[{i}].name: Required value"));
        }
        let m = r.get("match").cloned().unwrap_or(json!({}));
        let has_kinds = |f: &Value| {
            f.pointer("/resources/kinds")
                .and_then(Value::as_array)
                .is_some_and(|k| !k.is_empty())
        };
        let ok = has_kinds(&m)
            || ["any", "all"].iter().any(|b| {
                m.get(*b)
                    .and_then(Value::as_array)
                    .is_some_and(|fs| !fs.is_empty() && fs.iter().all(has_kinds))
            });
        if !ok {
            return Err(format!(
                "path: spec.rules[{i}].match.resources.kinds: Required value: at least one kind is required"
            ));
        }
        if r.get("mutate").is_some() {
            counts.2 += 1;
        }
        if r.get("generate").is_some() {
            counts.1 += 1;
        }
        if r.get("verifyImages").is_some() {
            counts.3 += 1;
        }
        let Some(v) = r.get("validate") else { continue };
        counts.0 += 1;
        let elements = ["pattern", "anyPattern", "deny", "foreach", "cel", "podSecurity"]
            .iter()
            .filter(|k| v.get(**k).is_some())
            .count();
        if elements == 0 {
            return Err(format!(
                "path: spec.rules[{i}].validate..: one of pattern, anyPattern, deny, foreach, cel must be specified"
            ));
        }
        if elements > 1 {
            return Err(format!(
                "path: spec.rules[{i}].validate..: only one of pattern, anyPattern, deny, foreach, cel can be specified"
            ));
        }
        if let Some(p) = v.get("pattern") {
            if !p.is_object() {
                return Err(format!(
                    "path: spec.rules[{i}].validate.pattern: pattern must be an object"
                ));
            }
            check_pattern(p, "/")
                .map_err(|(at, e)| format!("path: spec.rules[{i}].validate.pattern.{at}.: {e}"))?;
        }
        if let Some(ap) = v.get("anyPattern") {
            let Value::Array(list) = ap else {
                return Err(format!(
                    "path: spec.rules[{i}].validate.anyPattern.: failed to deserialize anyPattern, expect array"
                ));
            };
            for (j, p) in list.iter().enumerate() {
                check_pattern(p, "/").map_err(|(at, e)| {
                    format!("path: spec.rules[{i}].validate.anyPattern[{j}].{at}.: {e}")
                })?;
            }
        }
        if let Some(d) = v.get("deny") {
            check_conditions(
                d.get("conditions").unwrap_or(&Value::Null),
                &format!("spec.rules[{i}].validate.deny.conditions"),
            )?;
        }
        if let Some(p) = r.get("preconditions") {
            check_conditions(p, &format!("spec.rules[{i}].preconditions"))?;
        }
        for key in ["foreach", "cel", "podSecurity"] {
            if v.get(key).is_some() {
                return Err(format!(
                    "path: spec.rules[{i}].validate.{key}: validate.{key} is not supported by the hubspoke sim Kyverno stand-in (use pattern, anyPattern or deny)"
                ));
            }
        }
    }
    let annotations = obj.pointer("/metadata/annotations").cloned().unwrap_or(json!({}));
    let mut rules_json: Vec<Value> = raw_rules.clone();
    let autogen = autogen_rules(
        &raw_rules,
        annotations.get("pod-policies.kyverno.io/autogen-controllers"),
    );
    rules_json.extend(autogen.iter().cloned());
    let rules = rules_json
        .iter()
        .filter(|r| r.get("validate").is_some())
        .map(|r| Rule {
            name: r["name"].as_str().unwrap_or("").to_string(),
            match_: r.get("match").cloned().unwrap_or(json!({})),
            exclude: r.get("exclude").cloned().unwrap_or(Value::Null),
            preconditions: r.get("preconditions").cloned().unwrap_or(Value::Null),
            validate: r["validate"].clone(),
            action: action_of(r.pointer("/validate/failureAction")).unwrap_or(default_action),
        })
        .collect();
    Ok(Policy {
        name,
        namespace,
        rules,
        fail_closed: spec.get("failurePolicy").and_then(Value::as_str) != Some("Ignore"),
        annotations,
        autogen,
        counts,
    })
}

// ---- autogen ----

const CONTROLLERS: &[&str] = &[
    "DaemonSet",
    "Deployment",
    "Job",
    "StatefulSet",
    "ReplicaSet",
    "ReplicationController",
];

fn gvk_of(kind: &str) -> String {
    match kind {
        "DaemonSet" | "Deployment" | "StatefulSet" | "ReplicaSet" => format!("apps/v1/{kind}"),
        "Job" | "CronJob" => format!("batch/v1/{kind}"),
        "ReplicationController" | "Pod" => format!("v1/{kind}"),
        other => other.to_string(),
    }
}

fn descriptions(filter: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    if let Some(r) = filter.get("resources") {
        out.push(r);
    }
    for b in ["any", "all"] {
        for f in filter.get(b).and_then(Value::as_array).into_iter().flatten() {
            if let Some(r) = f.get("resources") {
                out.push(r);
            }
        }
    }
    out
}

fn kinds(desc: &Value) -> Vec<String> {
    desc.get("kinds")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|k| k.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

fn kind_name(selector: &str) -> String {
    parse_kind_selector(selector).2
}

/// Kyverno's CanAutoGen: rules that only match Pods by kind (no names, selectors or
/// annotations) are applied to pod controllers too.
fn can_autogen(rules: &[Value]) -> bool {
    let mut needed = false;
    for r in rules {
        if r.get("generate").is_some() {
            return false;
        }
        let mut subjects = descriptions(r.get("match").unwrap_or(&Value::Null));
        if let Some(ex) = r.get("exclude") {
            subjects.extend(descriptions(ex));
        }
        for d in subjects {
            let ks = kinds(d);
            let only_pod = !(ks.len() > 1 && ks.iter().any(|k| kind_name(k) == "Pod"));
            if d.get("name").is_some()
                || d.get("names").is_some()
                || d.get("selector").is_some()
                || d.get("annotations").is_some()
                || !only_pod
            {
                return false;
            }
            needed |= ks.iter().any(|k| {
                let n = kind_name(k);
                n == "Pod" || CONTROLLERS.contains(&n.as_str()) || n == "CronJob"
            });
        }
    }
    needed
}

fn replace_kinds(filter: &Value, kinds_to: &[&str]) -> Value {
    let mut f = filter.clone();
    let set = |d: &mut Value| {
        if d.pointer("/resources/kinds").is_some() {
            d["resources"]["kinds"] = json!(kinds_to.iter().map(|k| gvk_of(k)).collect::<Vec<_>>());
        }
    };
    if let Some(any) = f
        .get_mut("any")
        .and_then(Value::as_array_mut)
        .filter(|a| !a.is_empty())
    {
        for d in any.iter_mut() {
            if d.pointer("/resources/kinds")
                .and_then(Value::as_array)
                .is_some_and(|k| k.iter().any(|k| kind_name(k.as_str().unwrap_or("")) == "Pod"))
            {
                set(d);
            }
        }
    } else if let Some(all) = f
        .get_mut("all")
        .and_then(Value::as_array_mut)
        .filter(|a| !a.is_empty())
    {
        for d in all.iter_mut() {
            if d.pointer("/resources/kinds")
                .and_then(Value::as_array)
                .is_some_and(|k| k.iter().any(|k| kind_name(k.as_str().unwrap_or("")) == "Pod"))
            {
                set(d);
            }
        }
    } else {
        set(&mut f);
    }
    f
}

fn wrap_patterns(validate: &Value, tpl_key: &str) -> Value {
    let mut v = json!({});
    for k in [
        "message",
        "failureAction",
        "failureActionOverrides",
        "allowExistingViolations",
    ] {
        if let Some(x) = validate.get(k) {
            v[k] = x.clone();
        }
    }
    if let Some(p) = validate.get("pattern") {
        v["pattern"] = json!({"spec": {tpl_key: p}});
    } else if let Some(d) = validate.get("deny") {
        v["deny"] = d.clone();
    } else if let Some(Value::Array(aps)) = validate.get("anyPattern") {
        v["anyPattern"] = json!(
            aps.iter()
                .map(|p| json!({"spec": {tpl_key: p}}))
                .collect::<Vec<_>>()
        );
    }
    v
}

/// Rewrites `request.object.spec` and `request.object.metadata` references for the pod
/// template of a controller, as Kyverno's autogen does on the rule's JSON text.
fn shift_references(rule: &Value, cron: bool) -> Value {
    let (spec, meta) = if cron {
        (
            "spec.jobTemplate.spec.template.spec",
            "spec.jobTemplate.spec.template.metadata",
        )
    } else {
        ("spec.template.spec", "spec.template.metadata")
    };
    let mut text = rule.to_string();
    for obj in ["request.object", "request.oldObject"] {
        text = text
            .replace(&format!("{obj}.spec"), &format!("{obj}.{spec}"))
            .replace(&format!("{obj}.metadata"), &format!("{obj}.{meta}"));
    }
    serde_json::from_str(&text).unwrap_or_else(|_| rule.clone())
}

fn autogen_name(prefix: &str, name: &str) -> String {
    let mut n = format!("{prefix}-{name}");
    n.truncate(63);
    n
}

fn autogen_rules(rules: &[Value], controllers: Option<&Value>) -> Vec<Value> {
    let wanted: Vec<String> = match controllers.and_then(Value::as_str) {
        Some("none") => return vec![],
        Some(list) => list.split(',').map(|s| s.trim().to_string()).collect(),
        None => CONTROLLERS
            .iter()
            .chain(["CronJob"].iter())
            .map(|s| s.to_string())
            .collect(),
    };
    if !can_autogen(rules) {
        return vec![];
    }
    let pod_controllers: Vec<&str> = CONTROLLERS
        .iter()
        .copied()
        .filter(|c| wanted.iter().any(|w| w == c))
        .collect();
    let mut out = Vec::new();
    for r in rules {
        let Some(v) = r.get("validate") else { continue };
        let match_kinds: Vec<String> = descriptions(r.get("match").unwrap_or(&Value::Null))
            .iter()
            .flat_map(|d| kinds(d))
            .collect();
        if !match_kinds.iter().any(|k| kind_name(k) == "Pod") {
            continue;
        }
        let build = |prefix: &str, kinds_to: &[&str], tpl_key: &str, cron: bool| -> Value {
            let mut g = json!({
                "name": autogen_name(prefix, r["name"].as_str().unwrap_or("")),
                "match": replace_kinds(r.get("match").unwrap_or(&json!({})), kinds_to),
                "validate": wrap_patterns(v, tpl_key),
            });
            if let Some(ex) = r.get("exclude") {
                g["exclude"] = replace_kinds(ex, kinds_to);
            }
            if let Some(p) = r.get("preconditions") {
                g["preconditions"] = p.clone();
            }
            shift_references(&g, cron)
        };
        if !pod_controllers.is_empty() {
            let g = build("autogen", &pod_controllers, "template", false);
            let cron = wanted.iter().any(|w| w == "CronJob");
            out.push(g.clone());
            if cron {
                // the CronJob rule wraps the controller rule's pattern once more
                let mut c = build("autogen-cronjob", &["CronJob"], "jobTemplate", true);
                c["validate"] = wrap_patterns(&g["validate"], "jobTemplate");
                out.push(c);
            }
        } else if wanted.iter().any(|w| w == "CronJob") {
            let inner = wrap_patterns(v, "template");
            let mut c = build("autogen-cronjob", &["CronJob"], "jobTemplate", true);
            c["validate"] = wrap_patterns(&inner, "jobTemplate");
            out.push(c);
        }
    }
    out
}

// ---- matching ----

/// Kyverno's kind selector: `Kind`, `Version/Kind`, `Group/Version/Kind`, with an optional
/// subresource; returns (group, version, kind, subresource).
pub fn parse_kind_selector(input: &str) -> (String, String, String, String) {
    let mut parts: Vec<&str> = input.split('/').collect();
    let last = parts.pop().unwrap_or("");
    parts.extend(last.split('.'));
    let is_version = |s: &str| {
        s == "*"
            || regex_lite::Regex::new(r"^v\d+((alpha|beta)\d+)?$")
                .map(|r| r.is_match(s))
                .unwrap_or(false)
    };
    let s = |x: &str| x.to_string();
    match parts.as_slice() {
        [k] => (s("*"), s("*"), s(k), s("")),
        ["*", "*"] => (s("*"), s("*"), s("*"), s("*")),
        ["*", sub] if sub.to_lowercase() == *sub => (s("*"), s("*"), s("*"), s(sub)),
        [v, k] if is_version(v) => (s("*"), s(v), s(k), s("")),
        [k, sub] => (s("*"), s("*"), s(k), s(sub)),
        [v, k, sub] if is_version(v) => (s("*"), s(v), s(k), s(sub)),
        [g, v, k] => (s(g), s(v), s(k), s("")),
        [g, v, k, sub] => (s(g), s(v), s(k), s(sub)),
        _ => (s(""), s(""), s(""), s("")),
    }
}

/// What a request is about.
pub struct Subject<'a> {
    pub group: &'a str,
    pub version: &'a str,
    pub kind: &'a str,
    pub subresource: &'a str,
    pub operation: &'a str,
    pub object: &'a Value,
    pub namespace_labels: &'a Value,
    pub username: &'a str,
    pub groups: &'a [String],
}

/// Do `matchExpressions` (In, NotIn, Exists, DoesNotExist) hold for labels read by `get`?
fn match_expressions_hold<'a>(selector: &Value, get: impl Fn(&str) -> Option<&'a str>) -> bool {
    selector
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .all(|e| {
            let key = e["key"].as_str().unwrap_or("");
            let vals: Vec<&str> = e["values"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let have = get(key);
            match e["operator"].as_str().unwrap_or("") {
                "In" => have.is_some_and(|v| vals.contains(&v)),
                "NotIn" => have.is_none_or(|v| !vals.contains(&v)),
                "Exists" => have.is_some(),
                "DoesNotExist" => have.is_none(),
                _ => false,
            }
        })
}

fn labels_match(selector: &Value, labels: &Value) -> bool {
    let get = |k: &str| labels.get(k).and_then(Value::as_str);
    let ml_ok = selector
        .get("matchLabels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .all(|(k, v)| {
            // wildcards in selectors are expanded against the resource's labels
            if super::pattern::contains_wildcard(k)
                || v.as_str().is_some_and(super::pattern::contains_wildcard)
            {
                labels.as_object().into_iter().flatten().any(|(lk, lv)| {
                    wildcard_match(k, lk)
                        && wildcard_match(v.as_str().unwrap_or(""), lv.as_str().unwrap_or(""))
                })
            } else {
                get(k) == v.as_str()
            }
        });
    let me_ok = match_expressions_hold(selector, get);
    ml_ok && me_ok
}

fn resource_description_matches(d: &Value, user: &Value, s: &Subject) -> bool {
    if let Some(ops) = d.get("operations").and_then(Value::as_array)
        && !ops.is_empty()
        && !ops.iter().any(|o| o == s.operation)
    {
        return false;
    }
    let ks = kinds(d);
    if !ks.is_empty()
        && !ks.iter().any(|k| {
            let (g, v, kind, sub) = parse_kind_selector(k);
            wildcard_match(&g, s.group)
                && wildcard_match(&v, s.version)
                && wildcard_match(&kind, s.kind)
                && (wildcard_match(&sub, s.subresource)
                    || (s.kind == "Pod" && s.group.is_empty() && s.subresource == "ephemeralcontainers"))
        })
    {
        return false;
    }
    let meta = |f: &str| {
        s.object
            .pointer(&format!("/metadata/{f}"))
            .and_then(Value::as_str)
            .unwrap_or("")
    };
    let mut name = meta("name");
    if name.is_empty() {
        name = meta("generateName");
    }
    if let Some(n) = d.get("name").and_then(Value::as_str)
        && !wildcard_match(n, name)
    {
        return false;
    }
    if let Some(ns) = d.get("names").and_then(Value::as_array)
        && !ns.is_empty()
        && !ns.iter().any(|n| wildcard_match(n.as_str().unwrap_or(""), name))
    {
        return false;
    }
    if let Some(nss) = d.get("namespaces").and_then(Value::as_array)
        && !nss.is_empty()
    {
        let ns = if s.kind == "Namespace" {
            meta("name")
        } else {
            meta("namespace")
        };
        if !nss.iter().any(|p| wildcard_match(p.as_str().unwrap_or(""), ns)) {
            return false;
        }
    }
    if let Some(ann) = d.get("annotations").and_then(Value::as_object) {
        let have = s
            .object
            .pointer("/metadata/annotations")
            .cloned()
            .unwrap_or(json!({}));
        let ok = ann.iter().all(|(k, v)| {
            have.as_object().into_iter().flatten().any(|(hk, hv)| {
                wildcard_match(k, hk) && wildcard_match(v.as_str().unwrap_or(""), hv.as_str().unwrap_or(""))
            })
        });
        if !ok {
            return false;
        }
    }
    if let Some(sel) = d.get("selector")
        && !labels_match(sel, s.object.pointer("/metadata/labels").unwrap_or(&json!({})))
    {
        return false;
    }
    if let Some(sel) = d.get("namespaceSelector")
        && (s.kind == "Namespace" || !labels_match(sel, s.namespace_labels))
    {
        return false;
    }
    // user info
    if let Some(subjects) = user.get("subjects").and_then(Value::as_array)
        && !subjects.is_empty()
    {
        let ok = subjects.iter().any(|sub| {
            let name = sub["name"].as_str().unwrap_or("");
            match sub["kind"].as_str().unwrap_or("") {
                "User" => name == s.username,
                "Group" => s.groups.iter().any(|g| g == name),
                "ServiceAccount" => {
                    let ns = sub["namespace"].as_str().unwrap_or("");
                    s.username == format!("system:serviceaccount:{ns}:{name}")
                }
                _ => false,
            }
        });
        if !ok {
            return false;
        }
    }
    true
}

fn filter_matches(f: &Value, s: &Subject) -> bool {
    let d = f.get("resources").cloned().unwrap_or(json!({}));
    let user = json!({"subjects": f.get("subjects"), "roles": f.get("roles"), "clusterRoles": f.get("clusterRoles")});
    let empty_desc = d.as_object().is_none_or(|m| m.is_empty());
    let empty_user =
        f.get("subjects").is_none() && f.get("roles").is_none() && f.get("clusterRoles").is_none();
    if empty_desc && empty_user {
        return false;
    }
    resource_description_matches(&d, &user, s)
}

/// Does the rule apply to the request (match, and not excluded)?
pub fn rule_applies(rule: &Rule, policy_ns: Option<&str>, s: &Subject) -> bool {
    if let Some(ns) = policy_ns
        && s.object
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("")
            != ns
    {
        return false;
    }
    let m = &rule.match_;
    let matched = if let Some(any) = m.get("any").and_then(Value::as_array).filter(|a| !a.is_empty()) {
        any.iter().any(|f| filter_matches(f, s))
    } else if let Some(all) = m.get("all").and_then(Value::as_array).filter(|a| !a.is_empty()) {
        all.iter().all(|f| filter_matches(f, s))
    } else {
        filter_matches(m, s)
    };
    if !matched {
        return false;
    }
    let ex = &rule.exclude;
    if ex.is_null() || ex.as_object().is_some_and(|m| m.is_empty()) {
        return true;
    }
    let excluded = if let Some(any) = ex.get("any").and_then(Value::as_array).filter(|a| !a.is_empty()) {
        any.iter().any(|f| filter_matches(f, s))
    } else if let Some(all) = ex.get("all").and_then(Value::as_array).filter(|a| !a.is_empty()) {
        all.iter().all(|f| filter_matches(f, s))
    } else {
        filter_matches(ex, s)
    };
    !excluded
}

// ---- evaluation ----

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Pass,
    Fail,
    Skip,
    Error,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Skip => "skip",
            Status::Error => "error",
        }
    }
}

/// The outcome of one rule.
#[derive(Clone, Debug)]
pub struct RuleResult {
    pub rule: String,
    pub status: Status,
    pub message: String,
    pub action: Action,
}

fn substituted_message(ctx: &Value, msg: &str) -> Result<String, String> {
    match substitute_str(ctx, msg)? {
        Value::String(s) => Ok(s),
        _ => Ok("the produced message didn't resolve to a string, check your policy definition.".into()),
    }
}

/// Evaluates one validate rule against the request context (`{"request": ...}`); None when
/// the rule does not run (a pattern rule on a DELETE).
pub fn evaluate(rule: &Rule, ctx: &Value) -> Option<RuleResult> {
    let result = |status: Status, message: String| {
        Some(RuleResult {
            rule: rule.name.clone(),
            status,
            message,
            action: rule.action,
        })
    };
    if !rule.preconditions.is_null() {
        match evaluate_conditions(ctx, &rule.preconditions) {
            Ok((true, _)) => {}
            Ok((false, _)) => return result(Status::Skip, "preconditions not met".into()),
            Err(e) => return result(Status::Error, format!("failed to evaluate preconditions: {e}")),
        }
    }
    let v = &rule.validate;
    let message = v.get("message").and_then(Value::as_str).unwrap_or("");
    let name = &rule.name;
    if let Some(deny) = v.get("deny") {
        return match evaluate_conditions(ctx, deny.get("conditions").unwrap_or(&Value::Null)) {
            Err(_) => result(Status::Error, "failed to check deny conditions".into()),
            Ok((false, _)) => result(Status::Pass, format!("validation rule '{name}' passed.")),
            Ok((true, msg)) => {
                if message.is_empty() && msg.is_empty() {
                    return result(Status::Fail, format!("validation error: rule {name} failed"));
                }
                let joined = [message, msg.as_str()]
                    .iter()
                    .filter(|s| !s.is_empty())
                    .copied()
                    .collect::<Vec<_>>()
                    .join("; ");
                result(Status::Fail, substituted_message(ctx, &joined).unwrap_or(msg))
            }
        };
    }
    if ctx.pointer("/request/operation") == Some(&json!("DELETE")) {
        return None;
    }
    let object = ctx.pointer("/request/object").cloned().unwrap_or(Value::Null);
    let build_error = |err: &str, path: &str| -> String {
        if message.is_empty() {
            if !path.is_empty() {
                return format!("validation error: rule {name} failed at path {path}");
            }
            return format!("validation error: rule {name} execution error: {err}");
        }
        match substituted_message(ctx, message) {
            Err(_) => format!(
                "validation error: variables substitution error in rule {name} execution error: {err}"
            ),
            Ok(mut msg) => {
                if !msg.ends_with('.') {
                    msg.push('.');
                }
                if path.is_empty() {
                    format!("validation error: {msg} rule {name} execution error: {err}")
                } else {
                    format!("validation error: {msg} rule {name} failed at path {path}")
                }
            }
        }
    };
    if let Some(p) = v.get("pattern") {
        let p = match substitute(ctx, p) {
            Ok(p) => p,
            Err(e) => {
                return result(
                    Status::Error,
                    format!("variable substitution failed for rule {name}: {e}"),
                );
            }
        };
        return match match_pattern(&object, &p) {
            Ok(()) => result(Status::Pass, format!("validation rule '{name}' passed.")),
            Err(e) if e.skip => result(Status::Skip, e.message),
            Err(e) if e.path.is_empty() => result(Status::Error, build_error(&e.message, "")),
            Err(e) => result(Status::Fail, build_error(&e.message, &e.path)),
        };
    }
    if let Some(Value::Array(patterns)) = v.get("anyPattern") {
        let mut failed = Vec::new();
        let mut skipped = Vec::new();
        for (i, p) in patterns.iter().enumerate() {
            let p = substitute(ctx, p).unwrap_or_else(|_| p.clone());
            match match_pattern(&object, &p) {
                Ok(()) => {
                    return result(
                        Status::Pass,
                        format!("validation rule '{name}' anyPattern[{i}] passed."),
                    );
                }
                Err(e) if e.skip => skipped.push(format!("rule {name}[{i}] skipped: {}", e.message)),
                Err(e) if e.path.is_empty() => failed.push(format!("rule {name}[{i}] failed: {}", e.message)),
                Err(e) => failed.push(format!("rule {name}[{i}] failed at path {}", e.path)),
            }
        }
        if !skipped.is_empty() && failed.is_empty() {
            return result(Status::Skip, skipped.join(" "));
        }
        if !failed.is_empty() {
            let errs = failed.join(" ");
            let msg = if message.is_empty() {
                format!("validation error: {errs}")
            } else {
                match substituted_message(ctx, message) {
                    Err(_) => format!(
                        "validation error: variables substitution error in rule {name} execution error: {errs}"
                    ),
                    Ok(m) if m.ends_with('.') => format!("validation error: {m} {errs}"),
                    Ok(m) => format!("validation error: {m}. {errs}"),
                }
            };
            return result(Status::Fail, msg);
        }
    }
    result(Status::Pass, message.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_selectors() {
        let p = |s: &str| parse_kind_selector(s);
        assert_eq!(p("Pod"), ("*".into(), "*".into(), "Pod".into(), "".into()));
        assert_eq!(p("v1/Pod"), ("*".into(), "v1".into(), "Pod".into(), "".into()));
        assert_eq!(
            p("apps/v1/Deployment"),
            ("apps".into(), "v1".into(), "Deployment".into(), "".into())
        );
        assert_eq!(
            p("Pod/status"),
            ("*".into(), "*".into(), "Pod".into(), "status".into())
        );
        assert_eq!(
            p("networking.k8s.io/v1/Ingress"),
            (
                "networking.k8s.io".into(),
                "v1".into(),
                "Ingress".into(),
                "".into()
            )
        );
    }

    #[test]
    fn autogen_wraps_pod_rules_for_controllers() {
        let policy = json!({"metadata": {"name": "p"}, "spec": {"rules": [{
            "name": "no-latest",
            "match": {"any": [{"resources": {"kinds": ["Pod"]}}]},
            "validate": {"message": "no {{ request.object.metadata.name }}", "pattern": {"spec": {"containers": [{"image": "!*:latest"}]}}},
        }]}});
        let p = load(&policy).unwrap();
        let names: Vec<&str> = p.rules.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            names,
            ["no-latest", "autogen-no-latest", "autogen-cronjob-no-latest"]
        );
        let auto = &p.rules[1];
        assert_eq!(
            auto.match_["any"][0]["resources"]["kinds"],
            json!([
                "apps/v1/DaemonSet",
                "apps/v1/Deployment",
                "batch/v1/Job",
                "apps/v1/StatefulSet",
                "apps/v1/ReplicaSet",
                "v1/ReplicationController"
            ])
        );
        assert_eq!(
            auto.validate["pattern"],
            json!({"spec": {"template": {"spec": {"containers": [{"image": "!*:latest"}]}}}})
        );
        assert_eq!(
            auto.validate["message"],
            "no {{ request.object.spec.template.metadata.name }}"
        );
        assert_eq!(
            p.rules[2].validate["pattern"],
            json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"image": "!*:latest"}]}}}}}})
        );
        // a selector in the match turns autogen off
        let mut sel = policy.clone();
        sel["spec"]["rules"][0]["match"]["any"][0]["resources"]["selector"] =
            json!({"matchLabels": {"a": "b"}});
        assert_eq!(load(&sel).unwrap().rules.len(), 1);
    }

    #[test]
    fn load_errors() {
        let bad = json!({"metadata": {"name": "p"}, "spec": {"rules": [{
            "name": "r", "match": {"any": [{"resources": {"kinds": ["Pod"]}}]},
            "validate": {"pattern": {"spec": {"+(hostNetwork)": false}}},
        }]}});
        assert_eq!(
            load(&bad).unwrap_err(),
            "path: spec.rules[0].validate.pattern.//spec/+(hostNetwork).: unsupported anchor +(hostNetwork)"
        );
        let no_kinds = json!({"metadata": {"name": "p"}, "spec": {"rules": [{"name": "r", "match": {"any": [{"resources": {}}]}, "validate": {"deny": {}}}]}});
        assert!(
            load(&no_kinds)
                .unwrap_err()
                .contains("at least one kind is required")
        );
        let bad_op = json!({"metadata": {"name": "p"}, "spec": {"rules": [{"name": "r", "match": {"any": [{"resources": {"kinds": ["Pod"]}}]},
            "validate": {"deny": {"conditions": {"any": [{"key": "a", "operator": "Equalz", "value": "b"}]}}}}]}});
        assert_eq!(
            load(&bad_op).unwrap_err(),
            "spec.rules[0].validate.deny.conditions.any[0].operator: Unsupported value: \"Equalz\""
        );
    }
}
