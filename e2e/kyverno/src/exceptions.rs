//! PolicyExceptions (`kyverno.io/v2`): which policy rules they lift, for which resources
//! (`pkg/engine/utils/exceptions.go`, `api/kyverno/v2/policy_exception_types.go`).

use serde_json::Value;

use crate::conditions::evaluate_conditions;
use crate::context::Context;
use crate::engine::{Request, with_subject};
use crate::pattern::wildcard_match;
use crate::policy::block_matches;

/// A loaded PolicyException.
#[derive(Clone, Debug)]
pub struct Exception {
    pub namespace: String,
    pub name: String,
    /// `spec.background` (default true): applies to background scans too.
    pub background: bool,
    match_: Value,
    conditions: Value,
    /// (policy key, rule name wildcards)
    exceptions: Vec<(String, Vec<String>)>,
    /// `spec.podSecurity`: controls lifted from podSecurity rules.
    pub pod_security: Value,
}

impl Exception {
    /// `namespace/name`, as Kyverno names matched exceptions in messages.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// Does it name this policy (`name` or `namespace/name`, exactly) and rule (wildcards)?
    pub fn covers(&self, policy_key: &str, rule: &str) -> bool {
        self.exceptions
            .iter()
            .any(|(p, rules)| p == policy_key && rules.iter().any(|r| wildcard_match(r, rule)))
    }

    fn matches(&self, req: &Request) -> bool {
        with_subject(req, req.object(), |s| block_matches(&self.match_, s))
    }
}

/// Loads a PolicyException, with the errors Kyverno's exception webhook gives.
pub fn load(obj: &Value) -> Result<Exception, String> {
    let spec = obj.get("spec").cloned().unwrap_or(Value::Null);
    let mut exceptions = Vec::new();
    for (i, e) in spec
        .get("exceptions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let policy = e.get("policyName").and_then(Value::as_str).unwrap_or("");
        if policy.is_empty() {
            return Err(format!(
                "spec.exceptions[{i}].policyName: Required value: An exception requires a policy name"
            ));
        }
        let rules: Vec<String> = e
            .get("ruleNames")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|r| r.as_str().map(str::to_string))
            .collect();
        if rules.is_empty() {
            return Err(format!(
                "spec.exceptions[{i}].ruleNames: Required value: An exception requires at least one rule name"
            ));
        }
        exceptions.push((policy.to_string(), rules));
    }
    let s = |p: &str| obj.pointer(p).and_then(Value::as_str).unwrap_or("").to_string();
    Ok(Exception {
        namespace: s("/metadata/namespace"),
        name: s("/metadata/name"),
        background: spec.get("background").and_then(Value::as_bool).unwrap_or(true),
        match_: spec.get("match").cloned().unwrap_or(Value::Null),
        conditions: spec.get("conditions").cloned().unwrap_or(Value::Null),
        exceptions,
        pod_security: spec.get("podSecurity").cloned().unwrap_or(Value::Null),
    })
}

/// The exceptions among `candidates` that apply to the request: match, then conditions; a
/// condition that cannot be evaluated voids them all (Kyverno's `MatchesException`).
/// Kyverno reads the namespace's labels from the cluster for this, and a cluster-scoped
/// resource has no namespace to read: no exception applies to it.
pub fn matching<'e>(candidates: &[&'e Exception], req: &Request, ctx: &Context) -> Vec<&'e Exception> {
    if candidates.is_empty() {
        return vec![];
    }
    let namespace = req
        .object()
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("");
    if namespace.is_empty() {
        return vec![];
    }
    let mut out = Vec::new();
    for e in candidates {
        if !e.matches(req) {
            continue;
        }
        if !e.conditions.is_null() {
            match evaluate_conditions(ctx, &e.conditions) {
                Err(_) => return vec![],
                Ok((false, _)) => continue,
                Ok((true, _)) => {}
            }
        }
        out.push(*e);
    }
    out
}
