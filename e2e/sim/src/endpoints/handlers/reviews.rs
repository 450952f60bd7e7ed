//! Create-only APIs: TokenRequest (`serviceaccounts/<name>/token`), TokenReview,
//! SelfSubjectReview, SelfSubjectAccessReview, SelfSubjectRulesReview, SubjectAccessReview
//! and LocalSubjectAccessReview. Nothing is stored; the answer is in `status`.

use std::collections::BTreeMap;

use http::Response;
use serde_json::{Map, Value, json};

use crate::apimachinery::meta;
use crate::apimachinery::status::{ApiError, ApiResult, Cause};
use crate::auth::authn::{ISSUER, User, bound_claims};
use crate::auth::authz::{Attributes, authorize, grants};
use crate::encoding::http::{Accept, Body, Request, decode_body, object_response};
use crate::registry::rest::check_type_meta;
use crate::state::{State, Target};
use crate::storage::store::object_key;

fn user_info(u: &User) -> Value {
    let mut m = Map::new();
    m.insert("username".into(), json!(u.name));
    if !u.uid.is_empty() {
        m.insert("uid".into(), json!(u.uid));
    }
    m.insert("groups".into(), json!(u.groups));
    if !u.extra.is_empty() {
        m.insert("extra".into(), json!(u.extra));
    }
    Value::Object(m)
}

/// POST .../serviceaccounts/<name>/token
pub fn token_request(
    state: &State,
    req: &Request,
    accept: &Accept,
    target: &Target,
) -> ApiResult<Response<Body>> {
    let body = decode_body(req, Some("io.k8s.api.authentication.v1.TokenRequest"))?;
    let ns = target.ns();
    let name = target.name();
    let sa = state
        .store
        .get("/serviceaccounts", &object_key(ns, name))
        .ok_or_else(|| ApiError::not_found(&target.rt.group_resource(), name))?;
    let spec = body.get("spec").cloned().unwrap_or(json!({}));
    let expiration = spec
        .get("expirationSeconds")
        .and_then(Value::as_i64)
        .unwrap_or(3600);
    let invalid = |detail: &str| {
        ApiError::invalid(
            "authentication.k8s.io",
            "TokenRequest",
            name,
            vec![Cause::invalid(
                "spec.expirationSeconds",
                &json!(expiration),
                detail,
            )],
        )
    };
    if expiration < 600 {
        return Err(invalid("may not specify a duration less than 10 minutes"));
    }
    if expiration > 1 << 32 {
        return Err(invalid("may not specify a duration larger than 2^32 seconds"));
    }
    let audiences: Vec<String> = match spec.get("audiences").and_then(Value::as_array) {
        Some(a) if !a.is_empty() => a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect(),
        _ => vec![ISSUER.to_string()],
    };
    let bound = spec.get("boundObjectRef").filter(|b| b.is_object());
    if let Some(b) = bound {
        let kind = b.get("kind").and_then(Value::as_str).unwrap_or("");
        let storage = match kind {
            "Secret" => "/secrets",
            "Pod" => "/pods",
            other => {
                return Err(ApiError::bad_request(format!(
                    "cannot bind token for serviceaccount \"{name}\" to object of unsupported kind {other:?}"
                )));
            }
        };
        let bname = b.get("name").and_then(Value::as_str).unwrap_or("");
        let obj = state.store.get(storage, &object_key(ns, bname)).ok_or_else(|| {
            ApiError::not_found(
                &crate::apimachinery::status::GroupResource::new("", storage.trim_start_matches('/')),
                bname,
            )
        })?;
        if let Some(uid) = b.get("uid").and_then(Value::as_str)
            && uid != meta::uid(&obj)
        {
            return Err(ApiError::conflict(
                &crate::apimachinery::status::GroupResource::new("", storage.trim_start_matches('/')),
                bname,
                &format!(
                    "the UID in the bound object reference ({uid}) does not match the UID in record. The object might have been deleted and then recreated"
                ),
            ));
        }
    }
    let mut bound_with_uid = bound.cloned();
    if let Some(b) = bound_with_uid.as_mut()
        && b.get("uid").is_none()
    {
        let storage = if b.get("kind").and_then(Value::as_str) == Some("Pod") {
            "/pods"
        } else {
            "/secrets"
        };
        let bname = b.get("name").and_then(Value::as_str).unwrap_or("").to_string();
        if let Some(o) = state.store.get(storage, &object_key(ns, &bname)) {
            b["uid"] = json!(meta::uid(&o));
        }
    }
    let claims = bound_claims(&sa, &audiences, expiration, bound_with_uid.as_ref());
    let token = state.signer.sign(&claims);
    let exp = claims["exp"].as_i64().unwrap_or(0);
    let exp_ts = jiff::Timestamp::from_second(exp)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default();
    let mut out_spec = json!({"audiences": audiences, "expirationSeconds": expiration});
    if let Some(b) = bound {
        out_spec["boundObjectRef"] = b.clone();
    }
    let out = json!({
        "kind": "TokenRequest",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"name": name, "namespace": ns, "creationTimestamp": meta::now_rfc3339()},
        "spec": out_spec,
        "status": {"token": token, "expirationTimestamp": exp_ts},
    });
    Ok(object_response(201, &out, accept))
}

fn attributes_from(spec: &Value, namespace_override: Option<&str>) -> Attributes {
    if let Some(r) = spec.get("resourceAttributes") {
        let s = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        Attributes {
            verb: s("verb"),
            resource_request: true,
            group: s("group"),
            version: s("version"),
            resource: s("resource"),
            subresource: s("subresource"),
            namespace: namespace_override
                .map(str::to_string)
                .unwrap_or_else(|| s("namespace")),
            name: s("name"),
            path: String::new(),
        }
    } else {
        let n = spec.get("nonResourceAttributes").cloned().unwrap_or(json!({}));
        Attributes {
            verb: n.get("verb").and_then(Value::as_str).unwrap_or("").to_string(),
            path: n.get("path").and_then(Value::as_str).unwrap_or("").to_string(),
            ..Default::default()
        }
    }
}

fn access_status(state: &State, user: &User, a: &Attributes) -> Value {
    let d = authorize(&state.store, user, a);
    let mut s = Map::new();
    s.insert("allowed".into(), json!(d.allowed));
    if !d.reason.is_empty() {
        s.insert("reason".into(), json!(d.reason));
    }
    Value::Object(s)
}

fn user_from_spec(spec: &Value) -> User {
    User {
        name: spec.get("user").and_then(Value::as_str).unwrap_or("").to_string(),
        uid: spec.get("uid").and_then(Value::as_str).unwrap_or("").to_string(),
        groups: spec
            .get("groups")
            .and_then(Value::as_array)
            .map(|g| g.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
            .unwrap_or_default(),
        extra: spec
            .get("extra")
            .and_then(|e| serde_json::from_value::<BTreeMap<String, Vec<String>>>(e.clone()).ok())
            .unwrap_or_default(),
    }
}

fn rules_status(state: &State, user: &User, namespace: &str) -> Value {
    if user.is_admin() {
        return json!({
            "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
            "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
            "incomplete": false,
        });
    }
    let (gs, errors) = grants(&state.store, user, namespace);
    let mut resource_rules = Vec::new();
    let mut non_resource_rules = Vec::new();
    for g in gs {
        for r in g.rules {
            if r.get("nonResourceURLs").is_some() {
                non_resource_rules
                    .push(json!({"verbs": r.get("verbs"), "nonResourceURLs": r.get("nonResourceURLs")}));
            } else {
                let mut rr = Map::new();
                for k in ["verbs", "apiGroups", "resources", "resourceNames"] {
                    if let Some(v) = r.get(k) {
                        rr.insert(k.into(), v.clone());
                    }
                }
                resource_rules.push(Value::Object(rr));
            }
        }
    }
    let mut s = json!({"resourceRules": resource_rules, "nonResourceRules": non_resource_rules, "incomplete": !errors.is_empty()});
    if !errors.is_empty() {
        s["evaluationError"] = json!(errors.join(", "));
    }
    s
}

/// POST on one of the review types.
pub fn review(state: &State, req: &Request, accept: &Accept, target: &Target) -> ApiResult<Response<Body>> {
    let rt = &target.rt;
    let def = rt.builtin.as_ref().map(|b| b.definition.as_str());
    let mut body = decode_body(req, def)?;
    check_type_meta(target, &mut body)?;
    let spec = body.get("spec").cloned().unwrap_or(json!({}));
    let status = match rt.kind.as_str() {
        "SelfSubjectReview" => json!({"userInfo": user_info(&req.user)}),
        "TokenReview" => {
            let token = spec.get("token").and_then(Value::as_str).unwrap_or("");
            let user = state.authenticate_token(token);
            match user {
                Some(u) => json!({"authenticated": true, "user": user_info(&u), "audiences": [ISSUER]}),
                None => json!({"authenticated": false, "user": {}, "error": "invalid bearer token"}),
            }
        }
        "SelfSubjectAccessReview" => access_status(state, &req.user, &attributes_from(&spec, None)),
        "SubjectAccessReview" => access_status(state, &user_from_spec(&spec), &attributes_from(&spec, None)),
        "LocalSubjectAccessReview" => {
            let ns = target.ns();
            let asked = spec
                .pointer("/resourceAttributes/namespace")
                .and_then(Value::as_str)
                .unwrap_or(ns);
            if asked != ns {
                return Err(ApiError::bad_request(format!(
                    "spec.resourceAttributes.namespace must match metadata.namespace: {asked:?} != {ns:?}"
                )));
            }
            access_status(state, &user_from_spec(&spec), &attributes_from(&spec, Some(ns)))
        }
        "SelfSubjectRulesReview" => {
            let ns = spec.get("namespace").and_then(Value::as_str).unwrap_or("");
            rules_status(state, &req.user, ns)
        }
        other => return Err(ApiError::internal(format!("no review handler for {other}"))),
    };
    let m = body.as_object_mut().expect("checked object");
    m.entry("metadata").or_insert(json!({"creationTimestamp": null}));
    m.insert("status".into(), status);
    Ok(object_response(201, &body, accept))
}
