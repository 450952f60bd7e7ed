//! Validate rules (`pkg/engine/handlers/validation/validate_resource.go`): pattern,
//! anyPattern, deny and foreach (elements, elementScope, nested loops), with the messages
//! Kyverno's engine writes.

use serde_json::Value;

use crate::conditions::{Vars, evaluate_conditions, substitute, substitute_str};
use crate::context::Context;
use crate::engine::{Request, RuleResult, Status, join_non_empty, properties};
use crate::exceptions::Exception;
use crate::pattern::match_pattern;
use crate::policy::Rule;
use crate::pss::{self, PssOutcome};

/// One level of validation: the rule itself, or a foreach entry for one element.
struct Validator<'r> {
    rule: &'r Rule,
    /// The foreach entry's `context` (the rule's own is loaded by the engine).
    context: &'r Value,
    conditions: &'r Value,
    pattern: Option<&'r Value>,
    any_pattern: Option<&'r Value>,
    deny: Option<&'r Value>,
    foreach: Option<&'r Value>,
    nesting: usize,
    /// The element patterns apply to (elementScope), instead of the request's object.
    element: Option<Value>,
}

/// Runs a validate rule in its context; None when it gives no response (a pattern on a
/// DELETE, a foreach that applied to no element).
pub fn run(rule: &Rule, ctx: &Context, req: &Request, exceptions: &[Exception]) -> Option<RuleResult> {
    let v = &rule.body;
    if let Some(ps) = v.get("podSecurity") {
        return pod_security(rule, ps, req, exceptions);
    }
    if let Some(c) = v.get("cel") {
        return Some(cel(rule, c, req));
    }
    let validator = Validator {
        rule,
        context: &Value::Null,
        conditions: &rule.preconditions,
        pattern: v.get("pattern"),
        any_pattern: v.get("anyPattern"),
        deny: v.get("deny"),
        foreach: v.get("foreach"),
        nesting: 0,
        element: None,
    };
    let (status, message) = validator.validate(ctx, req)?;
    Some(RuleResult {
        rule: rule.name.clone(),
        kind: rule.kind,
        status,
        message,
        action: rule.action,
        properties: properties(rule),
    })
}

/// A podSecurity rule (`validate_pss.go`): no response on DELETE; an exception without
/// `podSecurity` skips the rule, the others' controls are exempted after evaluation.
fn pod_security(rule: &Rule, ps: &Value, req: &Request, exceptions: &[Exception]) -> Option<RuleResult> {
    if req.operation() == "DELETE" {
        return None;
    }
    let mut props = properties(rule);
    let result = |status, message: String, props| RuleResult {
        rule: rule.name.clone(),
        kind: rule.kind,
        status,
        message,
        action: rule.action,
        properties: props,
    };
    if let Some(e) = exceptions.iter().find(|e| e.pod_security.is_null()) {
        props.insert("exceptions".into(), e.name.clone());
        return Some(result(
            Status::Skip,
            format!("rule is skipped due to policy exception {}", e.key()),
            props,
        ));
    }
    let excludes: Vec<Value> = exceptions
        .iter()
        .flat_map(|e| e.pod_security.as_array().cloned().unwrap_or_default())
        .collect();
    Some(
        match pss::evaluate_with_exceptions(&rule.name, ps, req.object(), &excludes) {
            Ok(PssOutcome::Pass { message }) => result(Status::Pass, message, props),
            Ok(PssOutcome::Fail {
                message, properties, ..
            }) => {
                props.extend(properties);
                result(Status::Fail, message, props)
            }
            Ok(PssOutcome::Exempted) => {
                let keys: Vec<String> = exceptions.iter().map(Exception::key).collect();
                let names: Vec<&str> = exceptions.iter().map(|e| e.name.as_str()).collect();
                props.insert("exceptions".into(), names.join(","));
                result(
                    Status::Skip,
                    format!("rule is skipped due to policy exceptions {}", keys.join(", ")),
                    props,
                )
            }
            Err(e) => result(Status::Error, e, props),
        },
    )
}

/// A CEL rule (`validate_cel.go`): `object`, `oldObject`, `request` and the request's
/// Namespace as `namespaceObject`, read from the cluster.
fn cel(rule: &Rule, c: &Value, req: &Request) -> RuleResult {
    let null = Value::Null;
    let delete = req.operation() == "DELETE";
    let object = if delete {
        &null
    } else {
        req.admission.get("object").unwrap_or(&null)
    };
    let old = req.admission.get("oldObject").unwrap_or(&null);
    let ns = req.str_at("/namespace");
    let is_namespace = req.str_at("/kind/kind") == "Namespace";
    let namespace_object = if ns.is_empty() || is_namespace {
        Value::Null
    } else if let Some(n) = req.namespace_object {
        n.clone()
    } else {
        req.cluster
            .raw("GET", &format!("/api/v1/namespaces/{ns}"), None)
            .unwrap_or(Value::Null)
    };
    let input = crate::cel::CelInput {
        object,
        old_object: old,
        request: req.admission,
        namespace_object: &namespace_object,
    };
    let message = rule.body.get("message").and_then(Value::as_str).unwrap_or("");
    let preconditions = Some(&rule.cel_preconditions).filter(|p| !p.is_null());
    let (status, message) = match crate::cel::evaluate(&rule.name, message, c, preconditions, &input) {
        crate::cel::CelOutcome::Pass(m) => (Status::Pass, m),
        crate::cel::CelOutcome::Fail(m) => (Status::Fail, m),
        crate::cel::CelOutcome::Skip(m) => (Status::Skip, m),
    };
    RuleResult {
        rule: rule.name.clone(),
        kind: rule.kind,
        status,
        message,
        action: rule.action,
        properties: properties(rule),
    }
}

type Outcome = Option<(Status, String)>;

impl Validator<'_> {
    fn validate(&self, ctx: &Context, req: &Request) -> Outcome {
        ctx.add_entries(self.context);
        if !self.conditions.is_null() {
            match evaluate_conditions(ctx, self.conditions) {
                Ok((true, _)) => {}
                Ok((false, msg)) => {
                    return Some((
                        Status::Skip,
                        join_non_empty(&["preconditions not met", &msg], "; "),
                    ));
                }
                Err(e) => return Some((Status::Error, format!("failed to evaluate preconditions: {e}"))),
            }
        }
        if let Some(deny) = self.deny {
            return Some(self.validate_deny(ctx, deny));
        }
        if self.pattern.is_some() || self.any_pattern.is_some() {
            return self.validate_patterns(ctx, req);
        }
        if let Some(list) = self.foreach {
            return self.validate_foreach(ctx, req, list);
        }
        None
    }

    fn message(&self) -> &str {
        self.rule
            .body
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    fn validate_deny(&self, ctx: &Context, deny: &Value) -> (Status, String) {
        let name = &self.rule.name;
        match evaluate_conditions(ctx, deny.get("conditions").unwrap_or(&Value::Null)) {
            Err(e) => (Status::Error, format!("failed to check deny conditions: {e}")),
            Ok((false, _)) => (Status::Pass, format!("validation rule '{name}' passed.")),
            Ok((true, msg)) => {
                let message = self.message();
                if message.is_empty() && msg.is_empty() {
                    return (Status::Fail, format!("validation error: rule {name} failed"));
                }
                let joined = join_non_empty(&[message, &msg], "; ");
                let text = match substitute_str(ctx, &joined) {
                    Ok(Value::String(s)) => s,
                    Ok(_) => "the produced message didn't resolve to a string, check your policy definition."
                        .into(),
                    Err(_) => msg,
                };
                (Status::Fail, text)
            }
        }
    }

    fn validate_patterns(&self, ctx: &Context, req: &Request) -> Outcome {
        let name = &self.rule.name;
        let object = match &self.element {
            Some(e) => e.clone(),
            None => {
                if req.operation() == "DELETE" {
                    return None;
                }
                ctx.query("request.object").unwrap_or(Value::Null)
            }
        };
        let pattern = match self.pattern.map(|p| substitute(ctx, p)).transpose() {
            Ok(p) => p,
            Err(e) => return Some((Status::Error, format!("variable substitution failed: {e}"))),
        };
        let any_pattern = match self.any_pattern.map(|p| substitute(ctx, p)).transpose() {
            Ok(p) => p,
            Err(e) => return Some((Status::Error, format!("variable substitution failed: {e}"))),
        };
        let message = self.message();
        let substituted = |ctx: &dyn Vars| -> Result<String, String> {
            match substitute_str(ctx, message)? {
                Value::String(s) => Ok(s),
                _ => Ok(
                    "the produced message didn't resolve to a string, check your policy definition.".into(),
                ),
            }
        };
        let build_error = |err: &str, path: &str| -> String {
            if message.is_empty() {
                if !path.is_empty() {
                    return format!("validation error: rule {name} failed at path {path}");
                }
                return format!("validation error: rule {name} execution error: {err}");
            }
            match substituted(ctx) {
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
        if let Some(p) = &pattern {
            return Some(match match_pattern(&object, p) {
                Ok(()) => (Status::Pass, format!("validation rule '{name}' passed.")),
                Err(e) if e.skip => (Status::Skip, e.message),
                Err(e) if e.path.is_empty() => (Status::Error, build_error(&e.message, "")),
                Err(e) => (Status::Fail, build_error(&e.message, &e.path)),
            });
        }
        let Some(Value::Array(patterns)) = &any_pattern else {
            return Some((
                Status::Error,
                "failed to deserialize anyPattern, expected type array".into(),
            ));
        };
        let mut failed = Vec::new();
        let mut skipped = Vec::new();
        for (i, p) in patterns.iter().enumerate() {
            match match_pattern(&object, p) {
                Ok(()) => {
                    return Some((
                        Status::Pass,
                        format!("validation rule '{name}' anyPattern[{i}] passed."),
                    ));
                }
                Err(e) if e.skip => skipped.push(format!("rule {name}[{i}] skipped: {}", e.message)),
                Err(e) if e.path.is_empty() => failed.push(format!("rule {name}[{i}] failed: {}", e.message)),
                Err(e) => failed.push(format!("rule {name}[{i}] failed at path {}", e.path)),
            }
        }
        if !skipped.is_empty() && failed.is_empty() {
            return Some((Status::Skip, skipped.join(" ")));
        }
        let errs = failed.join(" ");
        let msg = if message.is_empty() {
            format!("validation error: {errs}")
        } else {
            match substituted(ctx) {
                Err(_) => format!(
                    "validation error: variables substitution error in rule {name} execution error: {errs}"
                ),
                Ok(m) if m.ends_with('.') => format!("validation error: {m} {errs}"),
                Ok(m) => format!("validation error: {m}. {errs}"),
            }
        };
        Some((Status::Fail, msg))
    }

    fn validate_foreach(&self, ctx: &Context, req: &Request, list: &Value) -> Outcome {
        let mut applied = 0;
        for fe in list.as_array().into_iter().flatten() {
            let expr = fe.get("list").and_then(Value::as_str).unwrap_or("");
            // a list that cannot be evaluated (e.g. an optional field) is skipped
            let Ok(elements) = evaluate_list(ctx, expr) else {
                continue;
            };
            let (status, message, count) = self.validate_elements(ctx, req, fe, &elements);
            if status != Status::Pass {
                return Some((status, message));
            }
            applied += count;
        }
        if applied == 0 {
            return None;
        }
        Some((Status::Pass, "rule passed".into()))
    }

    fn validate_elements(
        &self,
        ctx: &Context,
        req: &Request,
        fe: &Value,
        elements: &[Value],
    ) -> (Status, String, usize) {
        let mut applied = 0;
        let scope = fe.get("elementScope").and_then(Value::as_bool);
        for (index, element) in elements.iter().enumerate() {
            if element.is_null() {
                continue;
            }
            let element_ctx = ctx.fork();
            element_ctx.add_element(element, index, self.nesting);
            let scoped = match scope {
                Some(true) if !element.is_object() => {
                    return (
                        Status::Error,
                        format!(
                            "failed to process foreach: cannot use elementScope=true foreach rules for elements that are not maps, expected type=map got type={}",
                            go_type_name(element)
                        ),
                        applied,
                    );
                }
                Some(s) => s,
                None => element.is_object(),
            };
            let inner = Validator {
                rule: self.rule,
                context: fe.get("context").unwrap_or(&Value::Null),
                conditions: fe.get("preconditions").unwrap_or(&Value::Null),
                pattern: fe.get("pattern"),
                any_pattern: fe.get("anyPattern"),
                deny: fe.get("deny"),
                foreach: fe.get("foreach"),
                nesting: self.nesting + 1,
                element: scoped.then(|| element.clone()).or_else(|| self.element.clone()),
            };
            let Some((status, message)) = inner.validate(&element_ctx, req) else {
                continue;
            };
            match status {
                Status::Skip => continue,
                Status::Pass => applied += 1,
                Status::Error if index < elements.len() - 1 => continue,
                _ => return (status, format!("validation failure: {message}"), applied),
            }
        }
        (Status::Pass, String::new(), applied)
    }
}

/// A foreach `list` (a JMESPath expression without braces): a list gives its elements,
/// anything else (including null) is one element (Kyverno's `EvaluateList`).
pub fn evaluate_list(ctx: &dyn Vars, expr: &str) -> Result<Vec<Value>, String> {
    Ok(match ctx.query(expr)? {
        Value::Array(a) => a,
        other => vec![other],
    })
}

/// Go's `%T` of a decoded JSON value.
fn go_type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float64",
        Value::Number(_) => "int64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}
