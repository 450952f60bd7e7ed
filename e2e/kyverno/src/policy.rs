//! kyverno.io/v1 ClusterPolicy and Policy: loading (with the checks Kyverno makes before it
//! serves a policy), auto-generated rules for pod controllers, match/exclude, and the
//! evaluation of validate rules with the messages Kyverno's engine writes.

use serde_json::{Value, json};

use super::pattern::{Anchor, parse_anchor, wildcard_match};

/// What a failing rule does to the request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Enforce,
    Audit,
}

/// What a rule does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleKind {
    Validate,
    Mutate,
}

/// A rule (validate or mutate), ready to evaluate.
#[derive(Clone, Debug)]
pub struct Rule {
    pub name: String,
    pub kind: RuleKind,
    pub match_: Value,
    pub exclude: Value,
    pub preconditions: Value,
    /// `context` entries.
    pub context: Value,
    /// The rule's `validate` or `mutate` block.
    pub body: Value,
    /// `validate.failureAction`, else the policy's `validationFailureAction`.
    pub action: Action,
    /// `validate.failureActionOverrides`, else the policy's
    /// `validationFailureActionOverrides`.
    pub overrides: Value,
    /// `validate.allowExistingViolations` (default true).
    pub allow_existing: bool,
    /// `reportProperties`, copied into report results.
    pub properties: Value,
    /// `celPreconditions`.
    pub cel_preconditions: Value,
}

impl Rule {
    /// The action for a request in `namespace` (labels `ns_labels`): the first override
    /// whose namespaces (wildcards) and namespaceSelector match decides, as Kyverno's
    /// `GetValidationFailureAction` reads them.
    pub fn action_in(&self, namespace: &str, ns_labels: &Value) -> Action {
        for o in self.overrides.as_array().into_iter().flatten() {
            let Some(action) = action_of(o.get("action")) else {
                continue;
            };
            let nss: Vec<&str> = o
                .get("namespaces")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let ns_ok = nss.iter().any(|p| wildcard_match(p, namespace));
            let sel_ok = o
                .get("namespaceSelector")
                .is_some_and(|sel| labels_match(sel, ns_labels));
            if (nss.is_empty() || ns_ok)
                && (o.get("namespaceSelector").is_none() || sel_ok)
                && (!nss.is_empty() || o.get("namespaceSelector").is_some())
            {
                return action;
            }
        }
        self.action
    }
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
    /// `spec.background` (default true): scanned in the background, reported as
    /// `background scan`.
    pub background: bool,
    /// `spec.admission` (default true).
    pub admission: bool,
    /// `spec.applyRules: One`: mutation stops after the first rule that applied.
    pub apply_one: bool,
    /// `spec.emitWarning`.
    pub emit_warning: bool,
}

impl Policy {
    /// The name reports use: `name` or `namespace/name`.
    pub fn key(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{ns}/{}", self.name),
            None => self.name.clone(),
        }
    }

    /// Does the policy hold mutate rules (served by the mutating webhook)?
    pub fn mutates(&self) -> bool {
        self.rules.iter().any(|r| r.kind == RuleKind::Mutate)
    }

    /// Does the policy hold validate rules?
    pub fn validates(&self) -> bool {
        self.rules.iter().any(|r| r.kind == RuleKind::Validate)
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

/// Variables a background scan cannot resolve (no admission request behind it).
const ADMISSION_ONLY_VARIABLES: &[&str] = &[
    "request.userInfo",
    "request.roles",
    "request.clusterRoles",
    "serviceAccountName",
    "serviceAccountNamespace",
];

/// The `{{ }}` variables of every string in `v`.
fn variables_in(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => {
            let mut rest = s.as_str();
            while let Some(i) = rest.find("{{") {
                let Some(j) = rest[i..].find("}}") else { break };
                out.push(rest[i..i + j + 2].to_string());
                rest = &rest[i + j + 2..];
            }
        }
        Value::Array(a) => a.iter().for_each(|x| variables_in(x, out)),
        Value::Object(m) => m.iter().for_each(|(k, x)| {
            variables_in(&Value::String(k.clone()), out);
            variables_in(x, out)
        }),
        _ => {}
    }
}

/// Kyverno's checks of a validate block (`pkg/policy/validate`), for a rule or a foreach
/// entry (`in_foreach`).
fn check_validate(v: &Value, i: usize, in_foreach: bool) -> Result<(), String> {
    let keys: &[&str] = if in_foreach {
        &["pattern", "anyPattern", "deny", "foreach"]
    } else {
        &[
            "pattern",
            "anyPattern",
            "deny",
            "foreach",
            "cel",
            "podSecurity",
            "manifests",
            "assert",
        ]
    };
    let elements = keys.iter().filter(|k| v.get(**k).is_some()).count();
    let at = format!("path: spec.rules[{i}].validate..");
    if in_foreach {
        if elements == 0 {
            return Err(format!(
                "{at}: one of pattern, anyPattern, deny, or a nested foreach must be specified"
            ));
        }
        if elements > 1 {
            return Err(format!(
                "{at}: only one of pattern, anyPattern, deny, or a nested foreach can be specified"
            ));
        }
    } else {
        if elements == 0 {
            return Err(format!(
                "{at}: one of pattern, anyPattern, deny, foreach, cel must be specified"
            ));
        }
        if elements > 1 {
            return Err(format!(
                "{at}: only one of pattern, anyPattern, deny, foreach, cel can be specified"
            ));
        }
    }
    if let Some(p) = v.get("pattern") {
        if !p.is_object() && !in_foreach {
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
            check_pattern(p, "/")
                .map_err(|(at, e)| format!("path: spec.rules[{i}].validate.anyPattern[{j}].{at}.: {e}"))?;
        }
    }
    if let Some(d) = v.get("deny") {
        check_conditions(
            d.get("conditions").unwrap_or(&Value::Null),
            &format!("spec.rules[{i}].validate.deny.conditions"),
        )?;
    }
    if let Some(ps) = v.get("podSecurity").filter(|_| !in_foreach) {
        crate::pss::check_policy(ps, &format!("spec.rules[{i}]"))?;
    }
    if let Some(list) = v.get("foreach") {
        for fe in list.as_array().into_iter().flatten() {
            if fe.get("list").and_then(Value::as_str).is_none_or(str::is_empty) {
                return Err(format!("{at}: foreach.list is required"));
            }
            check_validate(fe, i, true)?;
        }
    }
    Ok(())
}

/// Kyverno's checks of a mutate block (`pkg/policy/mutate/validate.go`).
fn check_mutate(m: &Value, i: usize) -> Result<(), String> {
    let smp = m.get("patchStrategicMerge").is_some();
    let json = m.get("patchesJson6902").is_some();
    if let Some(list) = m.get("foreach") {
        if smp || json {
            return Err(format!(
                "path: spec.rules[{i}].mutate.foreach.: only one of `foreach`, `patchStrategicMerge`, or `patchesJson6902` is allowed"
            ));
        }
        for (j, fe) in list.as_array().into_iter().flatten().enumerate() {
            let (fsmp, fjson) = (
                fe.get("patchStrategicMerge").is_some(),
                fe.get("patchesJson6902").is_some(),
            );
            if fe.get("foreach").is_some() {
                if fsmp || fjson || fe.get("context").is_some() || fe.get("preconditions").is_some() {
                    return Err(format!(
                        "path: spec.rules[{i}].mutate.foreach[{j}].: a nested foreach cannot contain other declarations"
                    ));
                }
                check_mutate(&json!({"foreach": fe["foreach"]}), i)?;
            } else if fsmp && fjson {
                return Err(format!(
                    "path: spec.rules[{i}].mutate.foreach[{j}].: only one of `patchStrategicMerge` or `patchesJson6902` is allowed"
                ));
            }
        }
    } else if smp && json {
        return Err(format!(
            "path: spec.rules[{i}].mutate.foreach.: only one of `patchStrategicMerge` or `patchesJson6902` is allowed"
        ));
    }
    if let Some(Value::String(text)) = m.get("patchesJson6902") {
        let ops: Value = serde_saphyr::from_str(text).unwrap_or(Value::Null);
        for op in ops.as_array().into_iter().flatten() {
            let path = op.get("path").and_then(Value::as_str).unwrap_or("");
            if path.contains("{{") {
                return Err(String::new()); // replaced by the caller
            }
            if !path.starts_with('/') {
                return Err(format!(
                    "path must begin with a forward slash: spec.rules[{i}]: {path}"
                ));
            }
            let kind = op.get("op").and_then(Value::as_str).unwrap_or("");
            if !["add", "remove", "replace", "move", "copy", "test"].contains(&kind) {
                return Err(format!("unexpected kind: spec.rules[{i}]: {kind}"));
            }
        }
    }
    Ok(())
}

/// Checks a ClusterPolicy or Policy as Kyverno's policy validation webhook does: the error
/// is the message it denies the request with. (Where Kyverno prints the whole rule with
/// Go's `%#v`, the message names the rule instead.)
pub fn check(obj: &Value) -> Result<(), String> {
    let namespaced = obj
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .is_some_and(|n| !n.is_empty())
        || obj.get("kind").and_then(Value::as_str) == Some("Policy");
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    if name.len() > 63 {
        return Err("name: Too long: may not be more than 63 bytes".into());
    }
    let spec = obj.get("spec").cloned().unwrap_or(json!({}));
    if namespaced && spec.get("validationFailureActionOverrides").is_some() {
        return Err("spec.validationFailureActionOverrides: Forbidden: Use of validationFailureActionOverrides is supported only with ClusterPolicy".into());
    }
    let background = spec.get("background").and_then(Value::as_bool).unwrap_or(true);
    let admission = spec.get("admission").and_then(Value::as_bool).unwrap_or(true);
    if !background && !admission {
        return Err("disabling both admission and background processing is not allowed".into());
    }
    if let Some(t) = spec.get("webhookTimeoutSeconds").and_then(Value::as_i64)
        && !(1..=30).contains(&t)
    {
        return Err(format!(
            "spec.webhookTimeoutSeconds: Invalid value: {t}: the timeout value must be between 1 and 30 seconds"
        ));
    }
    if obj.pointer("/metadata/annotations/pod-policies.kyverno.io~1autogen-controllers")
        == Some(&json!("all"))
    {
        return Err("metadata.annotations: Forbidden: Autogen annotation does not support 'all' anymore, remove the annotation or set it to a valid value".into());
    }
    let raw_rules = spec
        .get("rules")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if raw_rules.is_empty() {
        return Err("spec.rules: a policy must have at least one rule".into());
    }
    let mut seen = std::collections::BTreeSet::new();
    for (i, r) in raw_rules.iter().enumerate() {
        let rname = r.get("name").and_then(Value::as_str).unwrap_or("");
        if rname.is_empty() {
            return Err(format!("spec.rules[{i}].name: Required value"));
        }
        if !seen.insert(rname) {
            return Err(format!(
                "spec.rules[{i}].name: Invalid value: {rname:?}: Duplicate rule name: '{rname}'"
            ));
        }
        let ops = ["mutate", "validate", "generate", "verifyImages"]
            .iter()
            .filter(|k| r.get(**k).is_some())
            .count();
        if ops == 0 {
            return Err(format!(
                "spec.rules[{i}]: Invalid value: rule '{rname}': No operation defined in the rule '{rname}'.(supported operations: mutate,validate,generate,verifyImages)"
            ));
        }
        if ops > 1 {
            return Err(format!(
                "spec.rules[{i}]: Invalid value: rule '{rname}': Multiple operations defined in the rule '{rname}', only one operation (mutate,validate,generate,verifyImages) is allowed per rule"
            ));
        }
        if !admission && r.get("mutate").is_some() {
            return Err("disabling admission processing is only allowed with validation policies".into());
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
        for (section, block) in [("match", r.get("match")), ("exclude", r.get("exclude"))] {
            let mut vars = Vec::new();
            variables_in(block.unwrap_or(&Value::Null), &mut vars);
            if !vars.is_empty() {
                return Err(format!(
                    "policy contains invalid variables: rule \"{rname}\" should not have variables in {section} section"
                ));
            }
        }
        if background {
            let mut vars = Vec::new();
            variables_in(r, &mut vars);
            if let Some(v) = vars.iter().find(|v| {
                let inner = v.trim_start_matches("{{").trim_end_matches("}}").trim();
                ADMISSION_ONLY_VARIABLES.iter().any(|p| inner.starts_with(p))
            }) {
                return Err(format!(
                    "only select variables are allowed in background mode. Set spec.background=false to disable background mode for this policy rule: variable {v} is not allowed "
                ));
            }
        }
        for (j, c) in r
            .get("context")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let cname = c.get("name").and_then(Value::as_str).unwrap_or("");
            let at = format!("path: spec.rules[{i}]");
            if cname.is_empty() {
                return Err(format!("{at}: a name is required for context entries"));
            }
            for reserved in [
                "images",
                "request",
                "serviceAccountName",
                "serviceAccountNamespace",
                "element",
                "elementIndex",
            ] {
                if cname == reserved || cname.starts_with(&format!("{reserved}.")) {
                    return Err(format!(
                        "{at}: entry name {cname} is invalid as it conflicts with a pre-defined variable {reserved}"
                    ));
                }
            }
            let kinds = [
                "configMap",
                "apiCall",
                "imageRegistry",
                "variable",
                "globalReference",
            ]
            .iter()
            .filter(|k| c.get(**k).is_some())
            .count();
            if kinds != 1 {
                return Err(format!(
                    "{at}: exactly one of configMap or apiCall or imageRegistry or variable is required for context entries"
                ));
            }
            if let Some(v) = c.get("variable")
                && v.get("value").is_none()
                && v.get("jmesPath").is_none()
            {
                return Err(format!(
                    "{at}: a variable must define a value or a jmesPath expression"
                ));
            }
            if let Some(v) = c.get("variable")
                && v.get("default").is_some()
                && v.get("jmesPath").is_none()
            {
                return Err(format!(
                    "{at}: a variable must define a default value only when a jmesPath expression is defined"
                ));
            }
            if let Some(cm) = c.get("configMap") {
                if cm.get("name").and_then(Value::as_str).is_none_or(str::is_empty) {
                    return Err(format!("{at}: a name is required for configMap context entry"));
                }
                if cm
                    .get("namespace")
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
                {
                    return Err(format!(
                        "{at}: a namespace is required for configMap context entry"
                    ));
                }
            }
            if c.pointer("/apiCall/service").is_some() && c.pointer("/apiCall/urlPath").is_some() {
                return Err(format!("{at}: a URLPath cannot be used for service API calls"));
            }
            let _ = j;
        }
        if let Some(v) = r.get("validate") {
            check_validate(v, i, false)?;
            if v.get("cel").is_some() && r.get("context").is_some() {
                return Err(format!(
                    "path: spec.rules[{i}]: context variables are not supported for CEL expressions in validate rules"
                ));
            }
        }
        crate::cel::check_policy(r, i)?;
        if let Some(m) = r.get("mutate") {
            check_mutate(m, i).map_err(|e| {
                if e.is_empty() {
                    format!(
                        "policy contains invalid variables: rule \"{rname}\" should not have variables in patchesJSON6902 path section"
                    )
                } else {
                    e
                }
            })?;
        }
        if let Some(p) = r.get("preconditions") {
            check_conditions(p, &format!("spec.rules[{i}].preconditions"))?;
        }
    }
    Ok(())
}

/// The warnings Kyverno's policy webhook gives for a policy it accepts: lowercase failure
/// actions and the deprecated `In`/`NotIn` operators.
pub fn warnings(obj: &Value) -> Vec<String> {
    let mut out = Vec::new();
    if matches!(
        obj.pointer("/spec/validationFailureAction")
            .and_then(Value::as_str),
        Some("enforce" | "audit")
    ) {
        out.push(
            "Validation failure actions enforce/audit are deprecated, use Enforce/Audit instead.".to_string(),
        );
    }
    fn operators(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let Some(op @ ("In" | "NotIn")) = m.get("operator").and_then(Value::as_str) {
                    let instead = if op == "In" {
                        r#"["AllIn" "AnyIn"]"#
                    } else {
                        r#"["AllNotIn" "AnyNotIn"]"#
                    };
                    let w = format!(
                        "Operator {op} has been deprecated and will be removed soon. Use these instead: {instead}"
                    );
                    if !out.contains(&w) {
                        out.push(w);
                    }
                }
                m.values().for_each(|x| operators(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| operators(x, out)),
            _ => {}
        }
    }
    for r in obj
        .pointer("/spec/rules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        for k in ["preconditions", "validate", "mutate"] {
            if let Some(x) = r.get(k) {
                operators(x, &mut out);
            }
        }
    }
    out
}

/// Why the stand-in cannot run a policy Kyverno would accept (its Ready condition says so;
/// Kyverno itself would run it).
fn unsupported(raw_rules: &[Value]) -> Option<String> {
    for r in raw_rules {
        let name = r.get("name").and_then(Value::as_str).unwrap_or("");
        let what = if r.get("generate").is_some() {
            Some("a generate rule")
        } else if r.get("verifyImages").is_some() {
            Some("a verifyImages rule")
        } else if r.pointer("/mutate/targets").is_some() {
            Some("a mutate rule with targets (mutate existing resources)")
        } else if r.pointer("/validate/manifests").is_some() {
            Some("a validate.manifests rule")
        } else if r.pointer("/validate/assert").is_some() {
            Some("a validate.assert rule")
        } else {
            None
        };
        if let Some(what) = what {
            return Some(format!(
                "rule {name} is {what}, which the hubspoke sim Kyverno stand-in does not run: the policy is not enforced on sim"
            ));
        }
    }
    None
}

/// Loads a ClusterPolicy or Policy; the error says why it is not served (Kyverno's policy
/// webhook text, or what the stand-in cannot run).
pub fn load(obj: &Value) -> Result<Policy, String> {
    check(obj)?;
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
    let policy_overrides = spec
        .get("validationFailureActionOverrides")
        .cloned()
        .unwrap_or(Value::Null);
    let raw_rules = spec
        .get("rules")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if let Some(why) = unsupported(&raw_rules) {
        return Err(why);
    }
    let mut counts = (0, 0, 0, 0);
    for r in &raw_rules {
        if r.get("validate").is_some() {
            counts.0 += 1;
        }
        if r.get("generate").is_some() {
            counts.1 += 1;
        }
        if r.get("mutate").is_some() {
            counts.2 += 1;
        }
        if r.get("verifyImages").is_some() {
            counts.3 += 1;
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
        .filter_map(|r| {
            let (kind, body) = if let Some(v) = r.get("validate") {
                (RuleKind::Validate, v.clone())
            } else {
                (RuleKind::Mutate, r.get("mutate")?.clone())
            };
            let rule_overrides = body
                .get("failureActionOverrides")
                .filter(|o| o.as_array().is_some_and(|a| !a.is_empty()));
            Some(Rule {
                name: r["name"].as_str().unwrap_or("").to_string(),
                kind,
                match_: r.get("match").cloned().unwrap_or(json!({})),
                exclude: r.get("exclude").cloned().unwrap_or(Value::Null),
                preconditions: r.get("preconditions").cloned().unwrap_or(Value::Null),
                context: r.get("context").cloned().unwrap_or(Value::Null),
                action: action_of(body.get("failureAction")).unwrap_or(default_action),
                overrides: rule_overrides.cloned().unwrap_or(policy_overrides.clone()),
                allow_existing: body
                    .get("allowExistingViolations")
                    .and_then(Value::as_bool)
                    .unwrap_or(true),
                properties: r.get("reportProperties").cloned().unwrap_or(Value::Null),
                cel_preconditions: r.get("celPreconditions").cloned().unwrap_or(Value::Null),
                body,
            })
        })
        .collect();
    Ok(Policy {
        name,
        namespace,
        rules,
        fail_closed: spec
            .pointer("/webhookConfiguration/failurePolicy")
            .or_else(|| spec.get("failurePolicy"))
            .and_then(Value::as_str)
            != Some("Ignore"),
        annotations,
        autogen,
        counts,
        background: spec.get("background").and_then(Value::as_bool).unwrap_or(true),
        admission: spec.get("admission").and_then(Value::as_bool).unwrap_or(true),
        apply_one: spec.get("applyRules").and_then(Value::as_str) == Some("One"),
        emit_warning: spec.get("emitWarning").and_then(Value::as_bool).unwrap_or(false),
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
        if let Some(m) = r.get("mutate") {
            let json6902 = |x: &Value| x.get("patchesJson6902").is_some_and(|p| p != "");
            if json6902(m)
                || m.get("foreach")
                    .and_then(Value::as_array)
                    .is_some_and(|fs| fs.iter().any(json6902))
            {
                return false;
            }
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

/// The rule body for a pod controller (Kyverno's `generateRule`): patterns and strategic
/// merge patches wrapped in `spec.<tpl_key>`, the other forms copied.
fn wrap_body(rule: &Value, tpl_key: &str) -> Option<(&'static str, Value)> {
    let wrap = |p: &Value| json!({"spec": {tpl_key: p}});
    if let Some(m) = rule.get("mutate") {
        if let Some(p) = m.get("patchStrategicMerge") {
            return Some(("mutate", json!({"patchStrategicMerge": wrap(p)})));
        }
        if let Some(Value::Array(list)) = m.get("foreach") {
            let entries: Vec<Value> = list
                .iter()
                .map(|fe| {
                    let mut e = json!({"list": fe.get("list")});
                    for k in ["context", "preconditions"] {
                        if let Some(x) = fe.get(k) {
                            e[k] = x.clone();
                        }
                    }
                    e["patchStrategicMerge"] = wrap(fe.get("patchStrategicMerge").unwrap_or(&Value::Null));
                    e
                })
                .collect();
            return Some(("mutate", json!({"foreach": entries})));
        }
        return None;
    }
    let validate = rule.get("validate")?;
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
        v["pattern"] = wrap(p);
    } else if let Some(d) = validate.get("deny") {
        v["deny"] = d.clone();
    } else if let Some(ps) = validate.get("podSecurity") {
        v["podSecurity"] = ps.clone();
    } else if let Some(Value::Array(aps)) = validate.get("anyPattern") {
        v["anyPattern"] = json!(aps.iter().map(wrap).collect::<Vec<_>>());
    } else if let Some(fe) = validate.get("foreach") {
        v["foreach"] = fe.clone();
    } else if validate.get("cel").is_some() {
        return Some(("validate", validate.clone()));
    } else {
        return None;
    }
    Some(("validate", v))
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
    // CEL expressions name `object` and `oldObject`: Kyverno replaces those instead
    // (plain byte replacement, in this order, as `updateFields` does)
    if rule.pointer("/validate/cel").is_some() {
        text = rule.to_string();
        for obj in ["object", "oldObject"] {
            text = text
                .replace(&format!("{obj}.spec"), &format!("{obj}.{spec}"))
                .replace(&format!("{obj}.metadata"), &format!("{obj}.{meta}"));
        }
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
        let match_kinds: Vec<String> = descriptions(r.get("match").unwrap_or(&Value::Null))
            .iter()
            .flat_map(|d| kinds(d))
            .collect();
        if !match_kinds.iter().any(|k| kind_name(k) == "Pod") {
            continue;
        }
        let build = |prefix: &str, kinds_to: &[&str], tpl_key: &str, cron: bool| -> Option<Value> {
            let (key, body) = wrap_body(r, tpl_key)?;
            let mut g = r.clone();
            if let Some(m) = g.as_object_mut() {
                m.remove("validate");
                m.remove("mutate");
            }
            g["name"] = json!(autogen_name(prefix, r["name"].as_str().unwrap_or("")));
            g["match"] = replace_kinds(r.get("match").unwrap_or(&json!({})), kinds_to);
            g[key] = body;
            if let Some(ex) = r.get("exclude") {
                g["exclude"] = replace_kinds(ex, kinds_to);
            }
            Some(shift_references(&g, cron))
        };
        let wrapped = r.pointer("/validate/pattern").is_some()
            || r.pointer("/validate/anyPattern").is_some()
            || r.get("mutate").is_some();
        let cron_of = |g: &Value| -> Option<Value> {
            // the CronJob rule wraps the controller rule's patterns once more
            let mut c = build("autogen-cronjob", &["CronJob"], "jobTemplate", true)?;
            if wrapped {
                let (key, body) = wrap_body(g, "jobTemplate")?;
                c[key] = body;
            }
            Some(c)
        };
        let wants_cron = wanted.iter().any(|w| w == "CronJob");
        if !pod_controllers.is_empty() {
            let Some(g) = build("autogen", &pod_controllers, "template", false) else {
                continue;
            };
            out.push(g.clone());
            if wants_cron && let Some(c) = cron_of(&g) {
                out.push(c);
            }
        } else if wants_cron {
            let mut inner = r.clone();
            if let Some((key, body)) = wrap_body(r, "template") {
                inner[key] = body;
                if let Some(c) = cron_of(&inner) {
                    out.push(c);
                }
            }
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
    // `^v\d+((alpha|beta)\d+)?$`
    let is_version = |s: &str| {
        if s == "*" {
            return true;
        }
        let Some(rest) = s.strip_prefix('v') else {
            return false;
        };
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            return false;
        }
        let tail = &rest[digits..];
        tail.is_empty()
            || ["alpha", "beta"].iter().any(|p| {
                tail.strip_prefix(p)
                    .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
            })
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
    if !block_matches(&rule.match_, s) {
        return false;
    }
    let ex = &rule.exclude;
    if ex.is_null() || ex.as_object().is_some_and(|m| m.is_empty()) {
        return true;
    }
    !block_matches(ex, s)
}

/// Does a `match` (or `exclude`) block hold for the request: `any`, `all`, or the older
/// single `resources`/`subjects` form?
pub fn block_matches(m: &Value, s: &Subject) -> bool {
    if let Some(any) = m.get("any").and_then(Value::as_array).filter(|a| !a.is_empty()) {
        any.iter().any(|f| filter_matches(f, s))
    } else if let Some(all) = m.get("all").and_then(Value::as_array).filter(|a| !a.is_empty()) {
        all.iter().all(|f| filter_matches(f, s))
    } else {
        filter_matches(m, s)
    }
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
            auto.body["pattern"],
            json!({"spec": {"template": {"spec": {"containers": [{"image": "!*:latest"}]}}}})
        );
        assert_eq!(
            auto.body["message"],
            "no {{ request.object.spec.template.metadata.name }}"
        );
        assert_eq!(
            p.rules[2].body["pattern"],
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
