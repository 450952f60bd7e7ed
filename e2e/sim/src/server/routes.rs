//! Routing: which part of the API server answers a path (health, version, discovery,
//! OpenAPI, the fault endpoint, resource URLs), and what a resource URL addresses.

use std::sync::Arc;

use http::{Method, Response, StatusCode};
use serde_json::{Value, json};

use crate::apimachinery::status::ApiError;
use crate::apis::types::ResourceType;
use crate::encoding::http::{Accept, Body, Request, error_response, json_response, text_response};
use crate::state::{State, Target};

pub(super) async fn route(state: &Arc<State>, req: Request) -> Response<Body> {
    let accept = Accept::parse(req.header("accept"));
    let path = req.path.clone();
    let segs: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let get = req.method == Method::GET || req.method == Method::HEAD;
    match segs.as_slice() {
        ["healthz" | "livez" | "readyz", rest @ ..] if get => health(&req, segs[0], rest),
        ["version"] if get => json_response(200, &version_doc(state)),
        ["api"] if get => {
            crate::discovery::groups::core_versions(&state.registry(), &state.address, &req, &accept)
        }
        ["apis"] if get => crate::discovery::groups::groups(&state.registry(), &req, &accept),
        ["openapi", "v3", rest @ ..] if get => {
            crate::discovery::openapi::serve_v3(&state.openapi, state.openapi_source(), &req, rest)
        }
        ["openapi", "v2"] if get => crate::discovery::openapi::serve_v2(state.openapi_source(), &req),
        ["hubspoke", "faults"] => faults_endpoint(state, &req),
        ["api", "v1", rest @ ..] => resource_route(state, req, &accept, "", "v1", rest).await,
        ["apis", group] if get => crate::discovery::groups::group(&state.registry(), group),
        ["apis", group, version, rest @ ..] => {
            let (g, v) = (group.to_string(), version.to_string());
            resource_route(state, req, &accept, &g, &v, rest).await
        }
        _ => error_response(&ApiError::no_route()),
    }
}

/// `/hubspoke/faults`: GET lists the active request faults, POST applies a
/// [`crate::faults::Command`]. Admins only (system:masters).
fn faults_endpoint(state: &State, req: &Request) -> Response<Body> {
    if !req.user.is_admin() {
        return error_response(&ApiError::new(
            403,
            "Forbidden",
            format!(
                "forbidden: User {:?} cannot use the fault injection endpoint (system:masters only)",
                req.user.name
            ),
            Some(json!({})),
        ));
    }
    match req.method {
        Method::GET => json_response(200, &json!({"faults": state.faults.active()})),
        Method::POST => {
            let cmd: crate::faults::Command = match serde_json::from_slice(&req.body) {
                Ok(c) => c,
                Err(e) => {
                    return error_response(&ApiError::bad_request(format!("invalid fault command: {e}")));
                }
            };
            match state.faults.apply(cmd) {
                Ok(()) => json_response(
                    200,
                    &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}),
                ),
                Err(e) => error_response(&ApiError::bad_request(e)),
            }
        }
        _ => error_response(&ApiError::method_not_allowed()),
    }
}

fn health(req: &Request, kind: &str, rest: &[&str]) -> Response<Body> {
    if !rest.is_empty() && rest != ["ping"] && rest != ["etcd"] && rest != ["log"] {
        return text_response(StatusCode::NOT_FOUND, "404 page not found\n");
    }
    if req.query.get("verbose").is_some() {
        let checks = [
            "ping",
            "log",
            "etcd",
            "poststarthook/start-apiextensions-controllers",
            "poststarthook/crd-informer-synced",
        ];
        let mut out = String::new();
        for c in checks {
            out.push_str(&format!("[+]{c} ok\n"));
        }
        out.push_str(&format!("{kind} check passed\n"));
        return text_response(StatusCode::OK, out);
    }
    text_response(StatusCode::OK, "ok")
}

fn version_doc(state: &State) -> Value {
    let v = state.config.git_version.trim_start_matches('v');
    let mut parts = v.split(['.', '+', '-']);
    let major = parts.next().unwrap_or("1");
    let minor = parts.next().unwrap_or("0");
    json!({
        "major": major,
        "minor": minor,
        "emulationMajor": major,
        "emulationMinor": minor,
        "minCompatibilityMajor": major,
        "minCompatibilityMinor": minor,
        "gitVersion": state.config.git_version,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-08-01T00:00:00Z",
        "goVersion": "go1.24.5",
        "compiler": "gc",
        "platform": "linux/amd64"
    })
}

fn parse_target(state: &State, group: &str, version: &str, segs: &[&str]) -> Result<Target, ApiError> {
    let reg = state.registry();
    let lookup = |plural: &str| reg.lookup(group, version, plural);
    let target = |rt: Arc<ResourceType>, ns: Option<&str>, name: Option<&str>, sub: Option<&str>| Target {
        rt,
        version: version.to_string(),
        namespace: ns.map(str::to_string),
        name: name.map(str::to_string),
        subresource: sub.map(str::to_string),
    };
    let t = match segs {
        ["namespaces", ns, plural, rest @ ..]
            if group.is_empty() || lookup(plural).is_some_and(|t| t.namespaced) =>
        {
            match lookup(plural) {
                Some(rt) if rt.namespaced => match rest {
                    [] => target(rt, Some(ns), None, None),
                    [name] => target(rt, Some(ns), Some(name), None),
                    [name, sub] => target(rt, Some(ns), Some(name), Some(sub)),
                    _ => return Err(ApiError::no_route()),
                },
                // /api/v1/namespaces/<name>/status|finalize
                _ if group.is_empty() && rest.is_empty() && matches!(*plural, "status" | "finalize") => {
                    let rt = lookup("namespaces").ok_or_else(ApiError::no_route)?;
                    target(rt, None, Some(ns), Some(plural))
                }
                _ => return Err(ApiError::no_route()),
            }
        }
        [plural] => target(lookup(plural).ok_or_else(ApiError::no_route)?, None, None, None),
        [plural, name] => {
            let rt = lookup(plural).ok_or_else(ApiError::no_route)?;
            if rt.namespaced {
                return Err(ApiError::no_route());
            }
            target(rt, None, Some(name), None)
        }
        [plural, name, sub] => {
            let rt = lookup(plural).ok_or_else(ApiError::no_route)?;
            if rt.namespaced {
                return Err(ApiError::no_route());
            }
            target(rt, None, Some(name), Some(sub))
        }
        _ => return Err(ApiError::no_route()),
    };
    if let Some(sub) = &t.subresource {
        let v = t.rt.version(version).ok_or_else(ApiError::no_route)?;
        let ok = match sub.as_str() {
            "status" => v.status,
            "scale" => v.scale.is_some(),
            "finalize" => t.rt.plural == "namespaces" && t.rt.group.is_empty(),
            "token" => t.rt.plural == "serviceaccounts" && t.rt.group.is_empty(),
            "log" | "binding" => t.rt.plural == "pods" && t.rt.group.is_empty(),
            _ => false,
        };
        if !ok {
            return Err(ApiError::no_route());
        }
    }
    Ok(t)
}

async fn resource_route(
    state: &Arc<State>,
    req: Request,
    accept: &Accept,
    group: &str,
    version: &str,
    segs: &[&str],
) -> Response<Body> {
    if segs.is_empty() {
        return if req.method == Method::GET {
            crate::discovery::groups::resource_list(&state.registry(), group, version)
        } else {
            error_response(&ApiError::method_not_allowed())
        };
    }
    // legacy /watch/ prefix
    let (segs, legacy_watch) = match segs {
        ["watch", rest @ ..] => (rest, true),
        _ => (segs, false),
    };
    let target = match parse_target(state, group, version, segs) {
        Ok(t) => t,
        Err(e) => return error_response(&e),
    };
    if !accept.acceptable() {
        return error_response(&ApiError::not_acceptable(&[
            "application/json",
            "application/yaml",
            "application/vnd.kubernetes.protobuf",
        ]));
    }
    let result = crate::endpoints::handlers::dispatch(state, &req, accept, target, legacy_watch).await;
    match result {
        Ok(r) => r,
        Err(e) => error_response(&e),
    }
}
