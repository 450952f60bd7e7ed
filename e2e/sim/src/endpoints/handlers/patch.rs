//! PATCH: JSON merge patch (RFC 7386), JSON patch (RFC 6902), strategic merge patch, and
//! server-side apply.

use http::Response;
use serde_json::{Map, Value, json};

use crate::apimachinery::meta;
use crate::apimachinery::status::{ApiError, ApiResult, Cause};
use crate::apis::schema::Node;
use crate::encoding::http::{Accept, Body, Request, decode_body, object_response};
use crate::endpoints::handlers::response::with_warnings;
use crate::registry::generic::admitted_write;
use crate::registry::managed::Operation;
use crate::registry::rest::{Origin, WriteOpts, with_type_meta};
use crate::state::{State, Target};
use crate::storage::store::object_key;

const APPLY: &str = "application/apply-patch+yaml";
const SMP: &str = "application/strategic-merge-patch+json";
const MERGE: &str = "application/merge-patch+json";
const JSON_PATCH: &str = "application/json-patch+json";

fn patch_options_invalid(cause: Cause) -> ApiError {
    ApiError::invalid("meta.k8s.io", "PatchOptions", "", vec![cause])
}

pub async fn patch(
    state: &State,
    req: &Request,
    accept: &Accept,
    target: &Target,
) -> ApiResult<Response<Body>> {
    let ct = req.content_type().to_string();
    let mut opts = WriteOpts::from_request(req)?;
    let is_apply = ct == APPLY;
    if !matches!(ct.as_str(), APPLY | SMP | MERGE | JSON_PATCH) || (ct == SMP && target.rt.is_custom()) {
        return Err(ApiError::unsupported_patch());
    }
    if is_apply && req.query.get("fieldManager").is_none_or(str::is_empty) {
        return Err(patch_options_invalid(Cause::new(
            "FieldValueRequired",
            "fieldManager",
            "Required value: is required for apply patch",
        )));
    }
    if !is_apply && req.query.get("force").is_some() {
        return Err(patch_options_invalid(Cause::forbidden(
            "force",
            "may not be specified for non-apply patch",
        )));
    }
    let body = decode_body(req, None)?;
    let rt = &target.rt;
    let gr = rt.group_resource();
    let storage = rt.storage_key();
    let key = object_key(target.ns(), target.name());

    if target.subresource.as_deref() == Some("scale") {
        let live = state
            .store
            .get(&storage, &key)
            .ok_or_else(|| ApiError::not_found(&gr, target.name()))?;
        let scale = crate::endpoints::handlers::scale::to_scale(
            rt,
            &target.version,
            &with_type_meta(&live, rt, &target.version),
        )?;
        let patched = apply_patch(&ct, &scale, &body, None)?;
        return crate::endpoints::handlers::scale::update_scale(
            state, &req.user, target, patched, &opts, accept,
        )
        .await;
    }

    if is_apply {
        check_applied(target, &body)?;
        // structured-merge-diff cannot type an applied configuration with unknown fields
        let mut probe = body.clone();
        if let Ok((unknown, _)) = crate::registry::rest::walk_schema(rt, &target.version, &mut probe, false)
            && let Some(f) = unknown.first()
        {
            return Err(ApiError::bad_request(format!(
                "failed to create typed patch object ({}/{}; {}, Kind={}): .{f}: field not declared in schema",
                target.ns(),
                target.name(),
                target.api_version(),
                rt.kind
            )));
        }
    }

    for _attempt in 0..16 {
        let live = state.store.get(&storage, &key);
        let now = meta::now_rfc3339();
        let (new, old) = match (&live, is_apply) {
            (None, false) => return Err(ApiError::not_found(&gr, target.name())),
            (None, true) => {
                if target.subresource.is_some() {
                    return Err(ApiError::not_found(&gr, target.name()));
                }
                let mut applied = body.clone();
                crate::registry::rest::check_type_meta(target, &mut applied)?;
                let merged = crate::registry::managed::apply(
                    rt,
                    &target.version,
                    None,
                    &applied,
                    &opts.field_manager,
                    opts.force,
                    None,
                    &now,
                )?;
                (merged, None)
            }
            (Some(live), true) => {
                let live_typed = with_type_meta(live, rt, &target.version);
                let merged = crate::registry::managed::apply(
                    rt,
                    &target.version,
                    Some(&live_typed),
                    &body,
                    &opts.field_manager,
                    opts.force,
                    target.subresource.as_deref(),
                    &now,
                )?;
                (merged, Some(live.clone()))
            }
            (Some(live), false) => {
                let live_typed = with_type_meta(live, rt, &target.version);
                let defs = crate::apis::builtin::definitions();
                let root = rt
                    .builtin
                    .as_ref()
                    .and_then(|b| defs.defs.get(&b.definition))
                    .map(|d| Node::new(d, &defs.defs));
                let patched = apply_patch(&ct, &live_typed, &body, root)?;
                // strict-validation errors of patches show the patched object (JSON and
                // merge patches) or the patch (strategic merge), as kube-apiserver does
                opts.origin = Origin::Patch(if ct == SMP {
                    go_value_string(&body)
                } else {
                    serde_json::to_string(&patched).unwrap_or_default()
                });
                let want_rv = meta::resource_version(&patched);
                if !want_rv.is_empty() && want_rv != meta::resource_version(live) {
                    return Err(ApiError::modified(&gr, target.name()));
                }
                (patched, Some(live.clone()))
            }
        };
        let op = if is_apply {
            Operation::Apply
        } else {
            Operation::Update
        };
        let result = admitted_write(state, &req.user, target, old.as_deref(), new, &opts, op).await;
        match result {
            Err(e)
                if e.code == 409
                    && e.reason == "Conflict"
                    && e.message.contains("the object has been modified") =>
            {
                continue;
            }
            Err(e) if e.code == 409 && e.reason == "AlreadyExists" && is_apply => continue,
            Err(e) => return Err(e),
            Ok(w) => {
                let code = if w.created { 201 } else { 200 };
                let out = if let Some(v) = &accept.table {
                    crate::encoding::table::table(
                        rt,
                        &target.version,
                        std::slice::from_ref(&w.object),
                        v,
                        "",
                        None,
                        "",
                    )
                } else {
                    w.object
                };
                return Ok(with_warnings(object_response(code, &out, accept), &w.warnings));
            }
        }
    }
    Err(ApiError::modified(&gr, target.name()))
}

fn check_applied(target: &Target, body: &Value) -> ApiResult<()> {
    if !body.is_object() {
        return Err(ApiError::bad_request(
            "error decoding YAML: the applied configuration is not an object",
        ));
    }
    let av = body.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = body.get("kind").and_then(Value::as_str).unwrap_or("");
    if av.is_empty() || kind.is_empty() {
        return Err(ApiError::bad_request(format!(
            "Object 'Kind' is missing in '{}'",
            serde_json::to_string(body).unwrap_or_default()
        )));
    }
    let name = meta::name(body);
    if !name.is_empty() && name != target.name() {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({name}) does not match the name on the URL ({})",
            target.name()
        )));
    }
    Ok(())
}

/// Applies a non-apply patch document to `doc`.
pub fn apply_patch(
    content_type: &str,
    doc: &Value,
    patch: &Value,
    schema: Option<Node<'_>>,
) -> ApiResult<Value> {
    match content_type {
        MERGE => {
            if !patch.is_object() {
                return Err(ApiError::bad_request(
                    "json: cannot unmarshal array into Go value of type map[string]interface {}",
                ));
            }
            let mut out = doc.clone();
            json_patch::merge(&mut out, patch);
            Ok(out)
        }
        JSON_PATCH => {
            let ops: json_patch::Patch = serde_json::from_value(patch.clone()).map_err(|e| {
                ApiError::bad_request(format!(
                    "the server rejected our request due to an error in our request: {e}"
                ))
            })?;
            let mut out = doc.clone();
            json_patch::patch(&mut out, &ops).map_err(|e| {
                ApiError::new(
                    422,
                    "Invalid",
                    "the server rejected our request due to an error in our request",
                    Some(json!({"causes": [{"message": e.to_string()}]})),
                )
            })?;
            Ok(out)
        }
        SMP => {
            let Some(p) = patch.as_object() else {
                return Err(ApiError::bad_request(
                    "json: cannot unmarshal array into Go value of type map[string]interface {}",
                ));
            };
            let Some(d) = doc.as_object() else {
                return Ok(patch.clone());
            };
            match strategic_merge_map(d, p, schema)? {
                Some(m) => Ok(Value::Object(m)),
                None => Ok(json!({})),
            }
        }
        _ => Err(ApiError::unsupported_patch()),
    }
}

fn smp_err(msg: impl Into<String>) -> ApiError {
    ApiError::bad_request(msg)
}

/// Strategic merge of `patch` into `orig`. None means the map was deleted (`$patch: delete`).
pub fn strategic_merge_map(
    orig: &Map<String, Value>,
    patch: &Map<String, Value>,
    schema: Option<Node<'_>>,
) -> ApiResult<Option<Map<String, Value>>> {
    match patch.get("$patch").and_then(Value::as_str) {
        Some("replace") => {
            let mut p = patch.clone();
            p.remove("$patch");
            return Ok(Some(p));
        }
        Some("delete") => return Ok(None),
        Some("merge") | None => {}
        Some(other) => return Err(smp_err(format!("Unknown patch type: {other}"))),
    }
    let mut out = orig.clone();
    if let Some(keys) = patch.get("$retainKeys") {
        let keys: Vec<&str> = keys
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        out.retain(|k, _| keys.contains(&k.as_str()));
    }
    for (k, pv) in patch {
        if k == "$patch" || k == "$retainKeys" {
            continue;
        }
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(list)), Some(del)) = (out.get_mut(field), pv.as_array()) {
                list.retain(|x| !del.contains(x));
            }
            continue;
        }
        if k.starts_with("$setElementOrder/") {
            continue;
        }
        let child = schema.and_then(|s| s.property(k).or_else(|| s.additional()));
        if pv.is_null() {
            out.remove(k);
            continue;
        }
        let merged = match (out.get(k), pv) {
            (Some(Value::Object(o)), Value::Object(p))
                if child.is_none_or(|c| c.patch_strategy() != Some("replace")) =>
            {
                strategic_merge_map(o, p, child)?.map(Value::Object)
            }
            (None, Value::Object(p)) => {
                // a new map: drop directives inside it
                strategic_merge_map(&Map::new(), p, child)?.map(Value::Object)
            }
            (Some(Value::Array(o)), Value::Array(p))
                if child
                    .and_then(|c| c.patch_strategy())
                    .is_some_and(|s| s.contains("merge")) =>
            {
                Some(Value::Array(merge_list(o, p, child)?))
            }
            (None, Value::Array(p))
                if child
                    .and_then(|c| c.patch_strategy())
                    .is_some_and(|s| s.contains("merge")) =>
            {
                Some(Value::Array(merge_list(&[], p, child)?))
            }
            _ => Some(pv.clone()),
        };
        match merged {
            Some(v) => {
                out.insert(k.clone(), v);
            }
            None => {
                out.remove(k);
            }
        }
    }
    // $setElementOrder/<field>: order merged lists as the patch says
    for (k, order) in patch {
        let Some(field) = k.strip_prefix("$setElementOrder/") else {
            continue;
        };
        let child = schema.and_then(|s| s.property(field));
        let key = child.and_then(|c| c.patch_merge_key());
        if let (Some(Value::Array(list)), Some(order)) = (out.get_mut(field), order.as_array()) {
            let pos = |item: &Value| -> usize {
                order
                    .iter()
                    .position(|o| match key {
                        Some(mk) => o.get(mk).is_some() && o.get(mk) == item.get(mk),
                        None => o == item,
                    })
                    .unwrap_or(usize::MAX)
            };
            list.sort_by_key(|i| pos(i));
        }
    }
    Ok(Some(out))
}

fn merge_list(orig: &[Value], patch: &[Value], schema: Option<Node<'_>>) -> ApiResult<Vec<Value>> {
    let item_schema = schema.and_then(|s| s.items());
    let merge_key = schema.and_then(|s| s.patch_merge_key());
    // A list-level directive: [{"$patch": "replace"}, ...] replaces the whole list.
    if patch
        .iter()
        .any(|p| p.get("$patch").and_then(Value::as_str) == Some("replace"))
    {
        return Ok(patch
            .iter()
            .filter(|p| p.get("$patch").is_none())
            .cloned()
            .collect());
    }
    let mut out: Vec<Value> = orig.to_vec();
    match merge_key {
        Some(mk) => {
            for p in patch {
                let Some(pm) = p.as_object() else {
                    return Err(smp_err(format!(
                        "unable to find api field in struct for the merge key {mk:?}"
                    )));
                };
                let Some(kv) = pm.get(mk) else {
                    return Err(smp_err(format!(
                        "map: {} does not contain declared merge key: {mk}",
                        go_map(pm)
                    )));
                };
                let idx = out.iter().position(|o| o.get(mk) == Some(kv));
                match pm.get("$patch").and_then(Value::as_str) {
                    Some("delete") => {
                        out.retain(|o| o.get(mk) != Some(kv));
                    }
                    Some("replace") => {
                        let mut r = pm.clone();
                        r.remove("$patch");
                        match idx {
                            Some(i) => out[i] = Value::Object(r),
                            None => out.push(Value::Object(r)),
                        }
                    }
                    _ => match idx {
                        Some(i) => {
                            let base = out[i].as_object().cloned().unwrap_or_default();
                            if let Some(m) = strategic_merge_map(&base, pm, item_schema)? {
                                out[i] = Value::Object(m);
                            } else {
                                out.remove(i);
                            }
                        }
                        None => {
                            if let Some(m) = strategic_merge_map(&Map::new(), pm, item_schema)? {
                                out.push(Value::Object(m));
                            }
                        }
                    },
                }
            }
        }
        None => {
            for p in patch {
                if !out.contains(p) {
                    out.push(p.clone());
                }
            }
        }
    }
    Ok(out)
}

/// Go's `%+v` of a decoded JSON value (`map[a:1 b:[x y]]`).
fn go_value_string(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .iter()
                .map(|k| format!("{k}:{}", go_value_string(&m[*k])))
                .collect();
            format!("map[{}]", parts.join(" "))
        }
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(go_value_string).collect::<Vec<_>>().join(" ")
        ),
        Value::String(s) => s.clone(),
        Value::Null => "<nil>".into(),
        other => other.to_string(),
    }
}

fn go_map(m: &Map<String, Value>) -> String {
    let parts: Vec<String> = m
        .iter()
        .map(|(k, v)| {
            format!(
                "{k}:{}",
                v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())
            )
        })
        .collect();
    format!("map[{}]", parts.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod_spec_schema() -> std::sync::Arc<crate::apis::builtin::Definitions> {
        crate::apis::builtin::definitions()
    }

    #[test]
    fn strategic_merge_merges_containers_by_name() {
        let defs = pod_spec_schema();
        let node = Node::new(&defs.defs["io.k8s.api.core.v1.PodSpec"], &defs.defs);
        let orig = json!({"containers": [{"name": "a", "image": "a:1", "env": [{"name": "X", "value": "1"}]}, {"name": "b", "image": "b:1"}]});
        let patch = json!({
            "containers": [{"name": "a", "image": "a:2", "env": [{"name": "Y", "value": "2"}]}, {"name": "b", "$patch": "delete"}],
        });
        let out = apply_patch(SMP, &orig, &patch, Some(node)).unwrap();
        assert_eq!(
            out,
            json!({"containers": [{"name": "a", "image": "a:2", "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]}]})
        );
    }

    #[test]
    fn strategic_merge_directives() {
        let defs = pod_spec_schema();
        let node = Node::new(&defs.defs["io.k8s.api.core.v1.PodSpec"], &defs.defs);
        let orig = json!({"containers": [{"name": "a"}, {"name": "b"}], "nodeSelector": {"x": "1"}});
        let patch = json!({
            "$setElementOrder/containers": [{"name": "b"}, {"name": "a"}],
            "containers": [{"name": "b", "image": "b:2"}],
            "nodeSelector": null,
        });
        let out = apply_patch(SMP, &orig, &patch, Some(node)).unwrap();
        assert_eq!(
            out,
            json!({"containers": [{"name": "b", "image": "b:2"}, {"name": "a"}]})
        );
        // args is atomic: replaced
        let orig = json!({"containers": [{"name": "a", "args": ["1", "2"]}]});
        let patch = json!({"containers": [{"name": "a", "args": ["3"]}]});
        let out = apply_patch(SMP, &orig, &patch, Some(node)).unwrap();
        assert_eq!(out["containers"][0]["args"], json!(["3"]));
    }

    #[test]
    fn merge_and_json_patch() {
        let doc = json!({"a": {"b": 1, "c": 2}});
        assert_eq!(
            apply_patch(MERGE, &doc, &json!({"a": {"b": null, "d": 3}}), None).unwrap(),
            json!({"a": {"c": 2, "d": 3}})
        );
        let out = apply_patch(
            JSON_PATCH,
            &doc,
            &json!([{"op": "replace", "path": "/a/b", "value": 5}]),
            None,
        )
        .unwrap();
        assert_eq!(out["a"]["b"], 5);
        let e = apply_patch(
            JSON_PATCH,
            &doc,
            &json!([{"op": "test", "path": "/a/b", "value": 9}]),
            None,
        )
        .unwrap_err();
        assert_eq!(e.code, 422);
    }
}
