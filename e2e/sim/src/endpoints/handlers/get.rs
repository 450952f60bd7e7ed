//! GET of one object (and of its scale subresource).

use http::Response;

use crate::apimachinery::status::{ApiError, ApiResult};
use crate::encoding::http::{Accept, Body, Request, object_response};
use crate::endpoints::handlers::response::respond;
use crate::registry::rest::{storage_key, with_type_meta};
use crate::state::{State, Target};
use crate::storage::store::object_key;

pub(super) fn get(
    state: &State,
    req: &Request,
    accept: &Accept,
    target: &Target,
) -> ApiResult<Response<Body>> {
    let gr = target.rt.group_resource();
    let key = object_key(target.ns(), target.name());
    let obj = state
        .store
        .get(&storage_key(&target.rt), &key)
        .ok_or_else(|| ApiError::not_found(&gr, target.name()))?;
    let obj = with_type_meta(&obj, &target.rt, &target.version);
    if target.subresource.as_deref() == Some("scale") {
        return Ok(object_response(
            200,
            &crate::endpoints::handlers::scale::to_scale(&target.rt, &target.version, &obj)?,
            accept,
        ));
    }
    Ok(respond(req, accept, target, 200, &obj))
}
