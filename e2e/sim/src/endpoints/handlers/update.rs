//! PUT of an object, its status, its scale, or a namespace's finalizers.

use http::Response;
use serde_json::json;

use crate::apimachinery::meta;
use crate::apimachinery::status::{ApiError, ApiResult};
use crate::encoding::http::{Accept, Body, Request, decode_body};
use crate::encoding::protobuf::proto_definition;
use crate::endpoints::handlers::response::{respond, with_warnings};
use crate::registry::generic::admitted_write;
use crate::registry::rest::{WriteOpts, storage_key};
use crate::state::{State, Target};
use crate::storage::store::object_key;

pub(super) async fn update(
    state: &State,
    req: &Request,
    accept: &Accept,
    target: &Target,
) -> ApiResult<Response<Body>> {
    let opts = WriteOpts::from_request(req)?;
    let mut body = decode_body(req, proto_definition(&target.rt))?;
    let gr = target.rt.group_resource();
    let key = object_key(target.ns(), target.name());
    let storage = storage_key(&target.rt);
    if target.subresource.as_deref() == Some("scale") {
        return crate::endpoints::handlers::scale::update_scale(
            state, &req.user, target, body, &opts, accept,
        )
        .await;
    }
    let body_name = meta::name(&body).to_string();
    if !body_name.is_empty() && body_name != target.name() {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({})",
            target.name()
        )));
    }
    let Some(old) = state.store.get(&storage, &key) else {
        return Err(ApiError::not_found(&gr, target.name()));
    };
    let requested_rv = meta::resource_version(&body).to_string();
    if !requested_rv.is_empty() && requested_rv != meta::resource_version(&old) {
        return Err(ApiError::modified(&gr, target.name()));
    }
    if target.subresource.as_deref() == Some("finalize") {
        // namespaces/finalize: only spec.finalizers changes
        let mut merged = (*old).clone();
        let fins = body
            .get("spec")
            .and_then(|s| s.get("finalizers"))
            .cloned()
            .unwrap_or(json!([]));
        meta::set_path(&mut merged, "spec.finalizers", fins);
        body = merged;
        let t = Target {
            subresource: None,
            ..target.clone()
        };
        let w = admitted_write(
            state,
            &req.user,
            &t,
            Some(&old),
            body,
            &opts,
            crate::registry::managed::Operation::Update,
        )
        .await?;
        return Ok(with_warnings(
            respond(req, accept, target, 200, &w.object),
            &w.warnings,
        ));
    }
    let w = admitted_write(
        state,
        &req.user,
        target,
        Some(&old),
        body,
        &opts,
        crate::registry::managed::Operation::Update,
    )
    .await?;
    Ok(with_warnings(
        respond(req, accept, target, 200, &w.object),
        &w.warnings,
    ))
}
