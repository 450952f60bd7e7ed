//! Discovery documents, in the legacy form (APIVersions, APIGroupList, APIGroup,
//! APIResourceList) and the aggregated form (apidiscovery.k8s.io/v2 APIGroupDiscoveryList).

use base64::Engine;
use http::Response;
use serde_json::{Map, Value, json};

use crate::apimachinery::status::ApiError;
use crate::apis::types::{Registry, ResourceType};
use crate::encoding::http::{Accept, Body, Request, error_response, json_response};

const VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];
const SUB_VERBS: &[&str] = &["get", "patch", "update"];

fn verbs(rt: &ResourceType) -> &'static [&'static str] {
    if rt.is_create_only() { &["create"] } else { VERBS }
}

fn is_pods(rt: &ResourceType) -> bool {
    rt.group.is_empty() && rt.plural == "pods"
}

fn is_service_accounts(rt: &ResourceType) -> bool {
    rt.group.is_empty() && rt.plural == "serviceaccounts"
}

/// `storageVersionHash`: base64 of the first 8 bytes of sha256("group/version/kind").
fn storage_version_hash(rt: &ResourceType) -> String {
    let sv = rt.storage_version();
    let d = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        format!("{}/{}/{}", rt.group, sv.name, rt.kind).as_bytes(),
    );
    base64::engine::general_purpose::STANDARD.encode(&d.as_ref()[..8])
}

fn legacy_resources(rt: &ResourceType, version: &str) -> Vec<Value> {
    let Some(v) = rt.version(version) else {
        return vec![];
    };
    let mut main = Map::new();
    main.insert("name".into(), json!(rt.plural));
    main.insert("singularName".into(), json!(rt.singular));
    main.insert("namespaced".into(), json!(rt.namespaced));
    main.insert("kind".into(), json!(rt.kind));
    main.insert("verbs".into(), json!(verbs(rt)));
    if !rt.short_names.is_empty() {
        main.insert("shortNames".into(), json!(rt.short_names));
    }
    if !rt.categories.is_empty() {
        main.insert("categories".into(), json!(rt.categories));
    }
    if !rt.is_create_only() {
        main.insert("storageVersionHash".into(), json!(storage_version_hash(rt)));
    }
    let mut out = vec![Value::Object(main)];
    if is_service_accounts(rt) {
        out.push(json!({
            "name": "serviceaccounts/token", "singularName": "", "namespaced": true,
            "group": "authentication.k8s.io", "version": "v1", "kind": "TokenRequest", "verbs": ["create"]
        }));
    }
    if is_pods(rt) {
        out.push(json!({"name": "pods/binding", "singularName": "", "namespaced": true, "kind": "Binding", "verbs": ["create"]}));
        out.push(json!({"name": "pods/log", "singularName": "", "namespaced": true, "kind": "Pod", "verbs": ["get"]}));
    }
    if rt.plural == "namespaces" && rt.group.is_empty() {
        out.push(json!({"name": "namespaces/finalize", "singularName": "", "namespaced": false, "kind": "Namespace", "verbs": ["update"]}));
    }
    if v.scale.is_some() {
        out.push(json!({
            "name": format!("{}/scale", rt.plural), "singularName": "", "namespaced": rt.namespaced,
            "group": "autoscaling", "version": "v1", "kind": "Scale", "verbs": SUB_VERBS
        }));
    }
    if v.status {
        out.push(json!({"name": format!("{}/status", rt.plural), "singularName": "", "namespaced": rt.namespaced, "kind": rt.kind, "verbs": SUB_VERBS}));
    }
    out
}

/// GET /api/v1 or /apis/<group>/<version>
pub fn resource_list(reg: &Registry, group: &str, version: &str) -> Response<Body> {
    let types = reg.in_group_version(group, version);
    if types.is_empty() {
        return error_response(&ApiError::no_route());
    }
    let mut resources: Vec<Value> = types.iter().flat_map(|t| legacy_resources(t, version)).collect();
    resources.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    let mut doc = Map::new();
    doc.insert("kind".into(), json!("APIResourceList"));
    if !group.is_empty() {
        doc.insert("apiVersion".into(), json!("v1"));
    }
    doc.insert("groupVersion".into(), json!(gv));
    doc.insert("resources".into(), Value::Array(resources));
    json_response(200, &Value::Object(doc))
}

fn group_doc(group: &str, versions: &[String]) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
        .collect();
    json!({"name": group, "versions": vs.clone(), "preferredVersion": vs[0]})
}

/// GET /apis/<group>
pub fn group(reg: &Registry, group: &str) -> Response<Body> {
    let groups = reg.groups();
    match groups.iter().find(|(g, _)| g == group && !g.is_empty()) {
        Some((g, vs)) => {
            let mut d = group_doc(g, vs);
            let m = d.as_object_mut().expect("object");
            let mut out = Map::new();
            out.insert("kind".into(), json!("APIGroup"));
            out.insert("apiVersion".into(), json!("v1"));
            out.append(m);
            json_response(200, &Value::Object(out))
        }
        None => error_response(&ApiError::no_route()),
    }
}

fn aggregated_resource(rt: &ResourceType, version: &str) -> Option<Value> {
    let v = rt.version(version)?;
    let mut r = Map::new();
    r.insert("resource".into(), json!(rt.plural));
    r.insert(
        "responseKind".into(),
        json!({"group": rt.group, "version": version, "kind": rt.kind}),
    );
    r.insert(
        "scope".into(),
        json!(if rt.namespaced { "Namespaced" } else { "Cluster" }),
    );
    r.insert("singularResource".into(), json!(rt.singular));
    r.insert("verbs".into(), json!(verbs(rt)));
    if !rt.short_names.is_empty() {
        r.insert("shortNames".into(), json!(rt.short_names));
    }
    if !rt.categories.is_empty() {
        r.insert("categories".into(), json!(rt.categories));
    }
    let mut subs = Vec::new();
    if is_service_accounts(rt) {
        subs.push(json!({"subresource": "token", "responseKind": {"group": "authentication.k8s.io", "version": "v1", "kind": "TokenRequest"}, "verbs": ["create"]}));
    }
    if is_pods(rt) {
        subs.push(json!({"subresource": "binding", "responseKind": {"group": "", "version": "v1", "kind": "Binding"}, "verbs": ["create"]}));
        subs.push(json!({"subresource": "log", "responseKind": {"group": "", "version": "v1", "kind": "Pod"}, "verbs": ["get"]}));
    }
    if rt.plural == "namespaces" && rt.group.is_empty() {
        subs.push(json!({"subresource": "finalize", "responseKind": {"group": "", "version": "v1", "kind": "Namespace"}, "verbs": ["update"]}));
    }
    if v.scale.is_some() {
        subs.push(json!({"subresource": "scale", "responseKind": {"group": "autoscaling", "version": "v1", "kind": "Scale"}, "verbs": SUB_VERBS}));
    }
    if v.status {
        subs.push(json!({"subresource": "status", "responseKind": {"group": rt.group, "version": version, "kind": rt.kind}, "verbs": SUB_VERBS}));
    }
    if !subs.is_empty() {
        r.insert("subresources".into(), Value::Array(subs));
    }
    Some(Value::Object(r))
}

fn aggregated_group(reg: &Registry, group: &str, versions: &[String]) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| {
            let mut types = reg.in_group_version(group, v);
            types.sort_by(|a, b| a.plural.cmp(&b.plural));
            let resources: Vec<Value> = types.iter().filter_map(|t| aggregated_resource(t, v)).collect();
            json!({"version": v, "resources": resources, "freshness": "Current"})
        })
        .collect();
    let mut metadata = Map::new();
    if !group.is_empty() {
        metadata.insert("name".into(), json!(group));
    }
    metadata.insert("creationTimestamp".into(), Value::Null);
    json!({"metadata": metadata, "versions": vs})
}

fn aggregated_response(req: &Request, version: &str, items: Vec<Value>) -> Response<Body> {
    let doc = json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": format!("apidiscovery.k8s.io/{version}"),
        "metadata": {},
        "items": items,
    });
    let body = serde_json::to_vec(&doc).unwrap_or_default();
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &body);
    let etag: String = digest.as_ref().iter().map(|b| format!("{b:02X}")).collect();
    let etag = format!("\"{etag}\"");
    let builder = Response::builder()
        .header(http::header::ETAG, &etag)
        .header(http::header::VARY, "Accept");
    if req.header("if-none-match") == etag {
        return builder
            .status(304)
            .body(crate::encoding::http::full(Vec::new()))
            .expect("valid response");
    }
    builder
        .status(200)
        .header(
            http::header::CONTENT_TYPE,
            format!("application/json;g=apidiscovery.k8s.io;v={version};as=APIGroupDiscoveryList"),
        )
        .body(crate::encoding::http::full(body))
        .expect("valid response")
}

/// GET /api
pub fn core_versions(reg: &Registry, address: &str, req: &Request, accept: &Accept) -> Response<Body> {
    if let Some(v) = &accept.aggregated_discovery {
        let item = aggregated_group(reg, "", &["v1".to_string()]);
        return aggregated_response(req, v, vec![item]);
    }
    json_response(
        200,
        &json!({
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": address}],
        }),
    )
}

/// GET /apis
pub fn groups(reg: &Registry, req: &Request, accept: &Accept) -> Response<Body> {
    let groups: Vec<(String, Vec<String>)> =
        reg.groups().into_iter().filter(|(g, _)| !g.is_empty()).collect();
    if let Some(v) = &accept.aggregated_discovery {
        let items = groups
            .iter()
            .map(|(g, vs)| aggregated_group(reg, g, vs))
            .collect();
        return aggregated_response(req, v, items);
    }
    let list: Vec<Value> = groups.iter().map(|(g, vs)| group_doc(g, vs)).collect();
    json_response(
        200,
        &json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": list}),
    )
}
