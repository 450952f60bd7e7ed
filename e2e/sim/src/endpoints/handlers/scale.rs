//! The scale subresource (autoscaling/v1 Scale) of workloads and custom resources.

use http::Response;
use serde_json::{Value, json};

use crate::apimachinery::meta;
use crate::apimachinery::status::{ApiError, ApiResult};
use crate::apis::types::ResourceType;
use crate::encoding::http::{Accept, Body, object_response};
use crate::endpoints::handlers::response::with_warnings;
use crate::registry::generic::admitted_write;
use crate::registry::rest::{WriteOpts, with_type_meta};
use crate::state::{State, Target};
use crate::storage::store::object_key;

fn selector_string(sel: &Value) -> String {
    let mut parts: Vec<String> = sel
        .get("matchLabels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
        .collect();
    for e in sel
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = e.get("key").and_then(Value::as_str).unwrap_or("");
        let vals: Vec<&str> = e
            .get("values")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        match e.get("operator").and_then(Value::as_str).unwrap_or("") {
            "In" => parts.push(format!("{key} in ({})", vals.join(","))),
            "NotIn" => parts.push(format!("{key} notin ({})", vals.join(","))),
            "Exists" => parts.push(key.to_string()),
            "DoesNotExist" => parts.push(format!("!{key}")),
            _ => {}
        }
    }
    parts.sort();
    parts.join(",")
}

/// The Scale view of an object.
pub fn to_scale(rt: &ResourceType, version: &str, obj: &Value) -> ApiResult<Value> {
    let spec = rt
        .version(version)
        .and_then(|v| v.scale.clone())
        .ok_or_else(ApiError::no_route)?;
    let replicas = meta::at_path(obj, &spec.spec_replicas_path)
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let status_replicas = meta::at_path(obj, &spec.status_replicas_path)
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let selector = if rt.builtin.is_some() {
        obj.pointer("/spec/selector")
            .map(selector_string)
            .unwrap_or_default()
    } else {
        spec.label_selector_path
            .as_deref()
            .and_then(|p| meta::at_path(obj, p))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let md = meta::meta(obj).cloned().unwrap_or_default();
    let mut m = serde_json::Map::new();
    for k in ["name", "namespace", "uid", "resourceVersion", "creationTimestamp"] {
        if let Some(v) = md.get(k) {
            m.insert(k.into(), v.clone());
        }
    }
    let mut status = json!({"replicas": status_replicas});
    if !selector.is_empty() {
        status["selector"] = json!(selector);
    }
    Ok(json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": m,
        "spec": {"replicas": replicas},
        "status": status,
    }))
}

/// Writes a Scale back to its object (PUT or PATCH on /scale).
pub async fn update_scale(
    state: &State,
    user: &crate::auth::authn::User,
    target: &Target,
    scale: Value,
    opts: &WriteOpts,
    accept: &Accept,
) -> ApiResult<Response<Body>> {
    let rt = &target.rt;
    let gr = rt.group_resource();
    let key = object_key(target.ns(), target.name());
    let old = state
        .store
        .get(&rt.storage_key(), &key)
        .ok_or_else(|| ApiError::not_found(&gr, target.name()))?;
    let spec = rt
        .version(&target.version)
        .and_then(|v| v.scale.clone())
        .ok_or_else(ApiError::no_route)?;
    let rv = meta::resource_version(&scale);
    if !rv.is_empty() && rv != meta::resource_version(&old) {
        return Err(ApiError::modified(&gr, target.name()));
    }
    let replicas = scale.pointer("/spec/replicas").cloned().unwrap_or(json!(0));
    if replicas.as_i64().is_none_or(|r| r < 0) {
        return Err(ApiError::invalid(
            "autoscaling",
            "Scale",
            target.name(),
            vec![crate::apimachinery::status::Cause::invalid(
                "spec.replicas",
                &replicas,
                "must be greater than or equal to 0",
            )],
        ));
    }
    let mut new = with_type_meta(&old, rt, &target.version);
    meta::set_path(&mut new, &spec.spec_replicas_path, replicas);
    let main = Target {
        subresource: None,
        ..target.clone()
    };
    let w = admitted_write(
        state,
        user,
        &main,
        Some(&old),
        new,
        opts,
        crate::registry::managed::Operation::Update,
    )
    .await?;
    let out = to_scale(rt, &target.version, &w.object)?;
    Ok(with_warnings(object_response(200, &out, accept), &w.warnings))
}
