//! Mutate rules (`pkg/engine/handlers/mutation`, `pkg/engine/mutate`): patchStrategicMerge,
//! patchesJson6902 and foreach (elements, order, nested loops), each rule applied to the
//! output of the one before, with the messages Kyverno's engine writes.

use serde_json::Value;

use crate::conditions::{Vars, evaluate_conditions, substitute};
use crate::context::Context;
use crate::engine::{Request, RuleResult, Status, prepare, properties};
use crate::patch;
use crate::policy::{Policy, Rule, RuleKind};
use crate::validate::evaluate_list;

/// The mutate rules of `policy` on the request: their results and the object as they left
/// it.
pub fn run(policy: &Policy, req: &Request) -> (Vec<RuleResult>, Value) {
    let base = Context::new(req.admission.clone(), req.cluster);
    let mut object = req.object().clone();
    let mut out = Vec::new();
    for rule in policy.rules.iter().filter(|r| r.kind == RuleKind::Mutate) {
        base.set_object(&object);
        let ctx = match prepare(policy, rule, req, &object, &base) {
            Ok(None) => continue,
            Err(r) => {
                out.push(r);
                continue;
            }
            Ok(Some((ctx, _))) => ctx,
        };
        let (status, patched, message) = match rule.body.get("foreach") {
            Some(list) => mutate_foreach(rule, list, &ctx, &object, 0),
            None => mutate_once(&rule.body, &ctx, &object),
        };
        let message = if status == Status::Pass {
            object = patched;
            success_message(&object)
        } else {
            message
        };
        out.push(RuleResult {
            rule: rule.name.clone(),
            kind: rule.kind,
            status,
            message,
            action: rule.action,
            properties: properties(rule),
        });
        if policy.apply_one && status == Status::Pass {
            break;
        }
    }
    (out, object)
}

/// `mutated Kind/name in namespace ns` (Kyverno's `buildSuccessMessage`).
fn success_message(object: &Value) -> String {
    let s = |p: &str| object.pointer(p).and_then(Value::as_str).unwrap_or("");
    if object.is_null() {
        return "mutated resource".into();
    }
    let (kind, name, ns) = (s("/kind"), s("/metadata/name"), s("/metadata/namespace"));
    if ns.is_empty() {
        format!("mutated {kind}/{name}")
    } else {
        format!("mutated {kind}/{name} in namespace {ns}")
    }
}

type Outcome = (Status, Value, String);

/// One patch (a rule's, or a foreach entry's for one element) on `object`.
fn mutate_once(body: &Value, ctx: &dyn Vars, object: &Value) -> Outcome {
    let error = |m: String| (Status::Error, Value::Null, m);
    let mut patches = serde_json::Map::new();
    for k in ["patchStrategicMerge", "patchesJson6902"] {
        if let Some(p) = body.get(k) {
            patches.insert(k.into(), p.clone());
        }
    }
    let patches = match substitute(ctx, &Value::Object(patches)) {
        Ok(p) => p,
        Err(e) => return error(format!("variable substitution failed: {e}")),
    };
    let patched = if let Some(smp) = patches.get("patchStrategicMerge") {
        patch::strategic_merge(object, smp)
    } else if let Some(Value::String(ops)) = patches.get("patchesJson6902").filter(|p| p != &"") {
        patch::json6902(object, ops)
    } else {
        return error("empty mutate rule".into());
    };
    match patched {
        Err(e) => error(format!("failed to patch resource: {e}")),
        Ok(p) if &p == object => (Status::Skip, object.clone(), "no patches applied".into()),
        Ok(p) => (Status::Pass, p, "resource patched".into()),
    }
}

fn mutate_foreach(rule: &Rule, list: &Value, ctx: &Context, object: &Value, nesting: usize) -> Outcome {
    let mut applied = 0;
    let mut current = object.clone();
    for fe in list.as_array().into_iter().flatten() {
        let expr = fe.get("list").and_then(Value::as_str).unwrap_or("");
        let elements = match evaluate_list(ctx, expr) {
            Ok(e) => e,
            Err(e) => {
                // Kyverno appends the error twice (message and NewErrorResponse)
                return (
                    Status::Error,
                    Value::Null,
                    format!("failed to evaluate list {expr}: {e}: {e}"),
                );
            }
        };
        let (status, patched, message) = mutate_elements(rule, fe, &elements, ctx, &current, nesting);
        if status == Status::Error {
            return (
                Status::Error,
                Value::Null,
                format!("failed to mutate elements: {message}"),
            );
        }
        if status != Status::Skip {
            applied += 1;
            if status == Status::Pass {
                current = patched;
            }
            ctx.set_object(&current);
        }
    }
    let message = format!("{applied} elements processed");
    if applied == 0 {
        (Status::Skip, current, message)
    } else {
        (Status::Pass, current, message)
    }
}

fn mutate_elements(
    rule: &Rule,
    fe: &Value,
    elements: &[Value],
    ctx: &Context,
    object: &Value,
    nesting: usize,
) -> Outcome {
    let mut patched = object.clone();
    // kustomize's merge reverses the order of patches: strategic merges run last to
    // first unless `order` says otherwise
    let reverse = match fe.get("order").and_then(Value::as_str) {
        Some(o) => o == "Descending",
        None => fe.get("patchStrategicMerge").is_some(),
    };
    let mut order: Vec<usize> = (0..elements.len()).collect();
    if reverse {
        order.reverse();
    }
    for index in order {
        let element = &elements[index];
        if element.is_null() {
            continue;
        }
        let ectx = ctx.fork();
        ectx.add_element(element, index, nesting);
        ectx.add_entries(fe.get("context").unwrap_or(&Value::Null));
        if let Some(pre) = fe.get("preconditions") {
            match evaluate_conditions(&ectx, pre) {
                Ok((true, _)) => {}
                Ok((false, _)) => continue,
                Err(e) => {
                    return (
                        Status::Error,
                        Value::Null,
                        format!("failed to evaluate mutate.foreach[{index}].preconditions: {e}"),
                    );
                }
            }
        }
        let resp = match fe.get("foreach") {
            Some(nested) => mutate_foreach(rule, nested, &ectx, &patched, nesting + 1),
            None => mutate_once(fe, &ectx, &patched),
        };
        match resp.0 {
            Status::Fail | Status::Error => return resp,
            Status::Pass => patched = resp.1,
            _ => {}
        }
    }
    if &patched != object {
        (Status::Pass, patched, String::new())
    } else {
        (Status::Skip, patched, "no patches applied".into())
    }
}
