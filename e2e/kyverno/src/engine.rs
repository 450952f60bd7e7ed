//! Running a policy on a request, as Kyverno's engine does for each rule
//! (`pkg/engine/engine.go` `invokeRuleHandler`): match and exclude, the rule's context,
//! preconditions, PolicyExceptions, then the rule's handler (validate or mutate).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::conditions::evaluate_conditions;
use crate::context::{Cluster, Context};
use crate::exceptions::Exception;
use crate::policy::{Action, Policy, Rule, RuleKind, Subject, rule_applies};

/// A rule's outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Pass,
    Fail,
    Skip,
    Error,
    Warn,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Skip => "skip",
            Status::Error => "error",
            Status::Warn => "warn",
        }
    }
}

/// The outcome of one rule.
#[derive(Clone, Debug)]
pub struct RuleResult {
    pub rule: String,
    pub kind: RuleKind,
    pub status: Status,
    pub message: String,
    /// What a failure does (for this request's namespace, overrides applied).
    pub action: Action,
    /// Report properties (`reportProperties`, `exceptions`, podSecurity's).
    pub properties: BTreeMap<String, String>,
}

/// A request as the engine sees it.
pub struct Request<'a> {
    /// The AdmissionRequest (`kind`, `operation`, `namespace`, `userInfo`, `object`,
    /// `oldObject`, `subResource`, ...). A background scan passes operation `CREATE`,
    /// the object, and no userInfo.
    pub admission: &'a Value,
    /// Labels of the request's namespace (for namespaceSelectors).
    pub namespace_labels: &'a Value,
    /// The request's Namespace object when the caller has it (CEL's `namespaceObject`);
    /// None: read through `cluster` when a rule needs it.
    pub namespace_object: Option<&'a Value>,
    /// Where context entries read from.
    pub cluster: &'a dyn Cluster,
    /// The PolicyExceptions in force.
    pub exceptions: &'a [Exception],
}

impl Request<'_> {
    /// A string field of the admission request (`""` when absent).
    pub fn str_at(&self, p: &str) -> &str {
        self.str(p)
    }

    fn str(&self, p: &str) -> &str {
        self.admission.pointer(p).and_then(Value::as_str).unwrap_or("")
    }

    pub fn operation(&self) -> &str {
        self.str("/operation")
    }

    /// The object rules look at: the new one, or the old one on DELETE.
    pub fn object(&self) -> &Value {
        let key = if self.operation() == "DELETE" {
            "oldObject"
        } else {
            "object"
        };
        self.admission.get(key).unwrap_or(&Value::Null)
    }

    pub fn namespace(&self) -> &str {
        let ns = self.str("/namespace");
        if !ns.is_empty() {
            return ns;
        }
        let obj = self.object();
        if obj.get("kind").and_then(Value::as_str) == Some("Namespace") {
            return obj
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("");
        }
        obj.pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    fn groups(&self) -> Vec<String> {
        self.admission
            .pointer("/userInfo/groups")
            .and_then(Value::as_array)
            .map(|g| g.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
            .unwrap_or_default()
    }

    /// The request with another object and operation (the old object "created", for
    /// `allowExistingViolations`).
    fn with_object(&self, object: &Value, operation: &str) -> Value {
        let mut a = self.admission.clone();
        a["operation"] = json!(operation);
        a["object"] = object.clone();
        if let Some(m) = a.as_object_mut() {
            m.remove("oldObject");
        }
        a
    }
}

/// Runs `f` with the request's match subject.
pub(crate) fn with_subject<T>(req: &Request, object: &Value, f: impl FnOnce(&Subject) -> T) -> T {
    let groups = req.groups();
    let subject = Subject {
        group: req.str("/kind/group"),
        version: req.str("/kind/version"),
        kind: req.str("/kind/kind"),
        subresource: req.str("/subResource"),
        operation: req.operation(),
        object,
        namespace_labels: req.namespace_labels,
        username: req.str("/userInfo/username"),
        groups: &groups,
    };
    f(&subject)
}

/// What happens to a rule before its handler: None when it does not apply, a result when
/// the context, preconditions or an exception decide, else the context to run it in.
pub(crate) fn prepare<'a>(
    policy: &Policy,
    rule: &Rule,
    req: &Request<'a>,
    object: &Value,
    ctx: &Context<'a>,
) -> Result<Option<(Context<'a>, Vec<Exception>)>, RuleResult> {
    let applies = with_subject(req, object, |s| {
        rule_applies(rule, policy.namespace.as_deref(), s)
    });
    if !applies {
        return Ok(None);
    }
    let result = |status, message: String| RuleResult {
        rule: rule.name.clone(),
        kind: rule.kind,
        status,
        message,
        action: rule.action_in(req.namespace(), req.namespace_labels),
        properties: properties(rule),
    };
    let rule_ctx = ctx.fork();
    rule_ctx.add_entries(&rule.context);
    if !rule.preconditions.is_null() {
        match evaluate_conditions(&rule_ctx, &rule.preconditions) {
            Ok((true, _)) => {}
            Ok((false, msg)) => {
                let msg = join_non_empty(&["preconditions not met", &msg], "; ");
                return Err(result(Status::Skip, msg));
            }
            Err(e) => {
                return Err(result(
                    Status::Error,
                    format!("failed to evaluate preconditions: {e}"),
                ));
            }
        }
    }
    let candidates: Vec<&Exception> = req
        .exceptions
        .iter()
        .filter(|e| e.covers(&policy.key(), &rule.name))
        .collect();
    let matched = crate::exceptions::matching(&candidates, req, &rule_ctx);
    // podSecurity rules apply their exceptions' controls themselves
    if !matched.is_empty() && rule.body.get("podSecurity").is_none() {
        let keys: Vec<String> = matched.iter().map(|e| e.key()).collect();
        let mut r = result(
            Status::Skip,
            format!("rule is skipped due to policy exceptions{}", keys.join(", ")),
        );
        r.properties.insert(
            "exceptions".into(),
            matched
                .iter()
                .map(|e| e.name.as_str())
                .collect::<Vec<_>>()
                .join(","),
        );
        return Err(r);
    }
    let matched = matched.into_iter().cloned().collect();
    Ok(Some((rule_ctx, matched)))
}

pub(crate) fn properties(rule: &Rule) -> BTreeMap<String, String> {
    rule.properties
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| {
            (
                k.clone(),
                v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()),
            )
        })
        .collect()
}

pub(crate) fn join_non_empty(parts: &[&str], sep: &str) -> String {
    parts
        .iter()
        .filter(|p| !p.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(sep)
}

/// The validate rules of `policy` on the request, in rule order (autogen rules last).
pub fn validate(policy: &Policy, req: &Request) -> Vec<RuleResult> {
    let base = Context::new(req.admission.clone(), req.cluster);
    let mut out = Vec::new();
    for rule in policy.rules.iter().filter(|r| r.kind == RuleKind::Validate) {
        let ctx = match prepare(policy, rule, req, req.object(), &base) {
            Ok(None) => continue,
            Err(r) => {
                out.push(r);
                continue;
            }
            Ok(Some(prepared)) => prepared,
        };
        let action = rule.action_in(req.namespace(), req.namespace_labels);
        let Some(mut r) = crate::validate::run(rule, &ctx.0, req, &ctx.1) else {
            continue;
        };
        // an UPDATE that leaves a pre-existing violation in place is not blocked
        if action == Action::Enforce
            && rule.allow_existing
            && req.operation() == "UPDATE"
            && r.status == Status::Fail
            && let Some(old) = req.admission.get("oldObject").filter(|o| !o.is_null())
        {
            let old_admission = req.with_object(old, "CREATE");
            let old_req = Request {
                admission: &old_admission,
                ..*req
            };
            let old_base = Context::new(old_admission.clone(), req.cluster);
            if let Ok(Some((old_ctx, old_ex))) = prepare(policy, rule, &old_req, old, &old_base)
                && crate::validate::run(rule, &old_ctx, &old_req, &old_ex)
                    .is_some_and(|o| o.status == Status::Fail)
            {
                r.status = Status::Skip;
                r.message = "skipping the rule evaluation as pre-existing violations are allowed".into();
            }
        }
        r.action = action;
        out.push(r);
    }
    out
}
