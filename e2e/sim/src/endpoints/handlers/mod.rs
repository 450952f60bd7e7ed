//! The verbs of resource URLs: which handler answers a request (get, list, watch, create,
//! update, patch, delete, deletecollection, and the subresources and create-only APIs), as
//! kube-apiserver's endpoint installer wires them. Each handler parses the request and
//! answers over HTTP; the write rules they share are in [`crate::registry`].

pub(crate) mod create;
pub(crate) mod delete;
pub(crate) mod get;
pub(crate) mod list;
pub(crate) mod options;
pub(crate) mod patch;
pub(crate) mod pods;
pub(crate) mod response;
pub(crate) mod reviews;
pub(crate) mod scale;
pub(crate) mod update;
pub(crate) mod watch;

use std::sync::Arc;

use http::{Method, Response};

use crate::apimachinery::status::{ApiError, ApiResult};
use crate::encoding::http::{Accept, Body, Request};
use crate::state::{State, Target};

pub async fn dispatch(
    state: &Arc<State>,
    req: &Request,
    accept: &Accept,
    target: Target,
    legacy_watch: bool,
) -> ApiResult<Response<Body>> {
    let watch = legacy_watch || req.query.flag("watch")?;
    let has_name = target.name.is_some();
    if target.rt.is_create_only() {
        return match (&req.method, has_name) {
            (&Method::POST, false) => reviews::review(state, req, accept, &target),
            _ => Err(ApiError::method_not_allowed()),
        };
    }
    match (target.subresource.as_deref(), &req.method) {
        (Some("log"), &Method::GET) => return pods::log(state, req, &target),
        (Some("binding"), &Method::POST) => {
            return pods::bind(state, req, accept, &target);
        }
        (Some("log" | "binding"), _) => return Err(ApiError::method_not_allowed()),
        _ => {}
    }
    if target.subresource.as_deref() == Some("token") {
        return match req.method {
            Method::POST => reviews::token_request(state, req, accept, &target),
            _ => Err(ApiError::method_not_allowed()),
        };
    }
    match req.method {
        Method::GET | Method::HEAD if watch => watch::serve(state, req, accept, target),
        Method::GET | Method::HEAD if has_name => get::get(state, req, accept, &target),
        Method::GET | Method::HEAD => list::list(state, req, accept, &target),
        Method::POST if !has_name => {
            if target.rt.namespaced && target.namespace.is_none() {
                return Err(ApiError::method_not_allowed());
            }
            create::create(state, req, accept, &target).await
        }
        Method::PUT if has_name => update::update(state, req, accept, &target).await,
        Method::PATCH if has_name => patch::patch(state, req, accept, &target).await,
        Method::DELETE if has_name && target.subresource.is_none() => {
            delete::delete(state, req, accept, &target).await
        }
        Method::DELETE if !has_name => delete::delete_collection(state, req, accept, &target).await,
        _ => Err(ApiError::method_not_allowed()),
    }
}
