//! DELETE of one object and of a collection, with validating admission for each.

use http::Response;
use serde_json::{Map, Value, json};

use crate::apimachinery::meta;
use crate::apimachinery::status::ApiResult;
use crate::apis::types::ResourceType;
use crate::encoding::http::{Accept, Body, Request, object_response};
use crate::endpoints::handlers::list::{Selectors, scope_range};
use crate::endpoints::handlers::response::{respond, with_warnings};
use crate::registry::delete::{DeleteOpts, delete_object};
use crate::registry::rest::{storage_key, with_type_meta};
use crate::state::{State, Target};
use crate::storage::store::object_key;

fn delete_status(rt: &ResourceType, obj: &Value) -> Value {
    let mut d = Map::new();
    d.insert("name".into(), json!(meta::name(obj)));
    if !rt.group.is_empty() {
        d.insert("group".into(), json!(rt.group));
    }
    d.insert("kind".into(), json!(rt.plural));
    d.insert("uid".into(), json!(meta::uid(obj)));
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": d})
}

/// Validating admission for a DELETE of `name`.
async fn admit_delete(
    state: &State,
    req: &Request,
    target: &Target,
    name: &str,
    dry_run: bool,
) -> ApiResult<Vec<String>> {
    let mut warnings = Vec::new();
    if !crate::admission::webhook::any_configured(state) {
        return Ok(warnings);
    }
    let Some(cur) = state
        .store
        .get(&storage_key(&target.rt), &object_key(target.ns(), name))
    else {
        return Ok(warnings);
    };
    let cur = with_type_meta(&cur, &target.rt, &target.version);
    let t = Target {
        name: Some(name.to_string()),
        ..target.clone()
    };
    let review = crate::admission::webhook::Review {
        target: &t,
        operation: crate::admission::webhook::Operation::Delete,
        object: None,
        old_object: Some(&cur),
        user: &req.user,
        dry_run,
        field_manager: "",
    };
    crate::admission::webhook::validate(state, &review, &mut warnings).await?;
    Ok(warnings)
}

pub(super) async fn delete(
    state: &State,
    req: &Request,
    accept: &Accept,
    target: &Target,
) -> ApiResult<Response<Body>> {
    let opts = DeleteOpts::from_request(req)?;
    let warnings = admit_delete(state, req, target, target.name(), opts.dry_run).await?;
    let (obj, gone) = delete_object(state, target, target.name(), &opts)?;
    let return_obj = target
        .rt
        .builtin
        .as_ref()
        .map(|b| b.return_deleted)
        .unwrap_or(true);
    let code = if !gone && opts.orphan_dependents == Some(false) {
        202
    } else {
        200
    };
    if gone && !return_obj {
        return Ok(with_warnings(
            object_response(code, &delete_status(&target.rt, &obj), accept),
            &warnings,
        ));
    }
    Ok(with_warnings(respond(req, accept, target, code, &obj), &warnings))
}

pub(super) async fn delete_collection(
    state: &State,
    req: &Request,
    accept: &Accept,
    target: &Target,
) -> ApiResult<Response<Body>> {
    let opts = DeleteOpts::from_request(req)?;
    let sel = Selectors::from_request(req, target)?;
    let (_, table) = state.store.snapshot(&storage_key(&target.rt));
    let mut deleted = Vec::new();
    for (_, v) in scope_range(&table, target, None) {
        if !sel.matches(v) {
            continue;
        }
        let t = Target {
            namespace: Some(meta::namespace(v).to_string()).filter(|n| !n.is_empty()),
            ..target.clone()
        };
        match delete_object(state, &t, meta::name(v), &opts) {
            Ok((o, _)) => deleted.push(o),
            Err(e) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    let items: Vec<Value> = deleted;
    let list = json!({
        "kind": target.rt.list_kind,
        "apiVersion": target.api_version(),
        "metadata": {"resourceVersion": state.store.current_rv().to_string()},
        "items": items,
    });
    Ok(object_response(200, &list, accept))
}
