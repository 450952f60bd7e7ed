//! OpenAPI documents: `/openapi/v3` (root and one document per group version) and
//! `/openapi/v2`. Built on first request and rebuilt when the served types change.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};

use http::{Response, StatusCode};
use serde_json::{Map, Value, json};

use crate::apimachinery::status::ApiError;
use crate::apis::schema::REF_PREFIX;
use crate::apis::types::{Registry, ResourceType};
use crate::encoding::http::{Body, Request, error_response, full};

struct Doc {
    hash: String,
    body: bytes::Bytes,
}

struct Docs {
    revision: u64,
    /// "api/v1", "apis/apps/v1", ... -> document
    group_versions: BTreeMap<String, Doc>,
}

/// What the documents are built from: a cluster's served types and its version.
#[derive(Clone, Copy)]
pub struct Source<'a> {
    pub registry: &'a RwLock<Registry>,
    pub git_version: &'a str,
}

impl Source<'_> {
    fn registry(&self) -> RwLockReadGuard<'_, Registry> {
        self.registry.read().unwrap_or_else(|e| e.into_inner())
    }
}

/// Cached documents of one server.
#[derive(Default)]
pub struct Cache {
    docs: Mutex<Option<Arc<Docs>>>,
}

impl Cache {
    pub fn invalidate(&self) {
        *self.docs.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    fn get(&self, source: Source<'_>) -> Arc<Docs> {
        let rev = source.registry().revision;
        let mut g = self.docs.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(d) = g.as_ref()
            && d.revision == rev
        {
            return d.clone();
        }
        let d = Arc::new(build(source, rev));
        *g = Some(d.clone());
        d
    }
}

fn reversed_group(group: &str) -> String {
    let mut parts: Vec<&str> = group.split('.').collect();
    parts.reverse();
    parts.join(".")
}

/// The component name of a type's schema.
pub fn component_name(rt: &ResourceType, version: &str) -> String {
    match &rt.builtin {
        Some(b) => b.definition.clone(),
        None => format!("{}.{}.{}", reversed_group(&rt.group), version, rt.kind),
    }
}

const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";
const LIST_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta";
const STATUS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Status";
const DELETE_OPTIONS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions";

fn r(name: &str) -> Value {
    json!({"$ref": format!("{REF_PREFIX}{name}")})
}

fn custom_schema(rt: &ResourceType, version: &str) -> Value {
    let mut s = rt
        .version(version)
        .and_then(|v| v.schema.as_deref().cloned())
        .unwrap_or(json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}));
    if let Some(m) = s.as_object_mut() {
        let props = m.entry("properties").or_insert(json!({}));
        if let Some(p) = props.as_object_mut() {
            p.insert("apiVersion".into(), json!({"description": "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources", "type": "string"}));
            p.insert("kind".into(), json!({"description": "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds", "type": "string"}));
            p.insert("metadata".into(), json!({"allOf": [r(OBJECT_META)], "description": "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"}));
        }
        m.insert(
            "x-kubernetes-group-version-kind".into(),
            json!([{"group": rt.group, "version": version, "kind": rt.kind}]),
        );
    }
    s
}

fn list_schema(rt: &ResourceType, version: &str, item: &str) -> Value {
    json!({
        "description": format!("{} is a list of {}", rt.list_kind, rt.kind),
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": {"type": "string"},
            "items": {"type": "array", "items": r(item)},
            "kind": {"type": "string"},
            "metadata": {"allOf": [r(LIST_META)]},
        },
        "x-kubernetes-group-version-kind": [{"group": rt.group, "version": version, "kind": rt.list_kind}],
    })
}

fn param(name: &str, desc: &str) -> Value {
    json!({"name": name, "in": "query", "description": desc, "schema": {"type": "string", "uniqueItems": true}})
}

fn write_params(patch: bool) -> Vec<Value> {
    let mut v = vec![
        param(
            "dryRun",
            "When present, indicates that modifications should not be persisted. An invalid or unrecognized dryRun directive will result in an error response and no further processing of the request. Valid values are: - All: all dry run stages will be processed",
        ),
        param(
            "fieldManager",
            "fieldManager is a name associated with the actor or entity that is making these changes. The value must be less than or 128 characters long, and only contain printable characters, as defined by https://golang.org/pkg/unicode/#IsPrint.",
        ),
        param(
            "fieldValidation",
            "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore - Warn - Strict",
        ),
    ];
    if patch {
        v.push(json!({"name": "force", "in": "query", "description": "Force is going to \"force\" Apply requests. It means user will re-acquire conflicting fields owned by other people. Force flag must be unset for non-apply patch requests.", "schema": {"type": "boolean", "uniqueItems": true}}));
    }
    v
}

fn op(
    action: &str,
    rt: &ResourceType,
    version: &str,
    id: String,
    schema_ref: &str,
    params: Vec<Value>,
    body: Option<Vec<&str>>,
) -> Value {
    let kind = &rt.kind;
    let mut o = Map::new();
    o.insert(
        "tags".into(),
        json!([format!(
            "{}_{}",
            if rt.group.is_empty() {
                "core"
            } else {
                rt.group.split('.').next().unwrap_or("")
            },
            version
        )]),
    );
    o.insert("description".into(), json!(format!("{action} {kind}")));
    o.insert("operationId".into(), json!(id));
    if !params.is_empty() {
        o.insert("parameters".into(), Value::Array(params));
    }
    if let Some(types) = body {
        let mut content = Map::new();
        for t in types {
            let schema = if t.contains("patch") {
                r("io.k8s.apimachinery.pkg.apis.meta.v1.Patch")
            } else {
                r(schema_ref)
            };
            content.insert(t.into(), json!({"schema": schema}));
        }
        o.insert(
            "requestBody".into(),
            json!({"content": content, "required": true}),
        );
    }
    let ok = json!({"description": "OK", "content": {"application/json": {"schema": r(schema_ref)}, "application/yaml": {"schema": r(schema_ref)}}});
    o.insert(
        "responses".into(),
        json!({"200": ok, "401": {"description": "Unauthorized"}}),
    );
    o.insert("x-kubernetes-action".into(), json!(action));
    o.insert(
        "x-kubernetes-group-version-kind".into(),
        json!({"group": rt.group, "version": version, "kind": kind}),
    );
    Value::Object(o)
}

fn paths_for(rt: &ResourceType, version: &str, base: &str, paths: &mut Map<String, Value>) {
    let comp = component_name(rt, version);
    let list_comp = format!("{comp}List");
    let prefix = if rt.namespaced {
        format!("{base}/namespaces/{{namespace}}/{}", rt.plural)
    } else {
        format!("{base}/{}", rt.plural)
    };
    let id = |verb: &str, suffix: &str| -> String {
        let ns = if rt.namespaced { "Namespaced" } else { "" };
        format!(
            "{verb}{}{}{ns}{}{suffix}",
            if rt.group.is_empty() { "Core" } else { "" },
            version.to_uppercase(),
            rt.kind
        )
    };
    let patch_types = vec![
        "application/json-patch+json",
        "application/merge-patch+json",
        "application/strategic-merge-patch+json",
        "application/apply-patch+yaml",
    ];
    let patch_types = if rt.is_custom() {
        patch_types
            .into_iter()
            .filter(|t| !t.contains("strategic"))
            .collect()
    } else {
        patch_types
    };
    let mut collection = Map::new();
    collection.insert(
        "get".into(),
        op("list", rt, version, id("list", ""), &list_comp, vec![], None),
    );
    collection.insert(
        "post".into(),
        op(
            "post",
            rt,
            version,
            id("create", ""),
            &comp,
            write_params(false),
            Some(vec!["*/*"]),
        ),
    );
    collection.insert(
        "delete".into(),
        op(
            "deletecollection",
            rt,
            version,
            id("deleteCollection", ""),
            STATUS,
            vec![],
            Some(vec!["*/*"]),
        ),
    );
    paths.insert(prefix.clone(), Value::Object(collection));
    let mut item = Map::new();
    item.insert(
        "get".into(),
        op("get", rt, version, id("read", ""), &comp, vec![], None),
    );
    item.insert(
        "put".into(),
        op(
            "put",
            rt,
            version,
            id("replace", ""),
            &comp,
            write_params(false),
            Some(vec!["*/*"]),
        ),
    );
    item.insert(
        "patch".into(),
        op(
            "patch",
            rt,
            version,
            id("patch", ""),
            &comp,
            write_params(true),
            Some(patch_types.clone()),
        ),
    );
    item.insert(
        "delete".into(),
        op(
            "delete",
            rt,
            version,
            id("delete", ""),
            STATUS,
            vec![],
            Some(vec!["*/*"]),
        ),
    );
    paths.insert(format!("{prefix}/{{name}}"), Value::Object(item));
    let v = rt.version(version);
    if v.is_some_and(|v| v.status) {
        let mut st = Map::new();
        st.insert(
            "get".into(),
            op("get", rt, version, id("read", "Status"), &comp, vec![], None),
        );
        st.insert(
            "put".into(),
            op(
                "put",
                rt,
                version,
                id("replace", "Status"),
                &comp,
                write_params(false),
                Some(vec!["*/*"]),
            ),
        );
        st.insert(
            "patch".into(),
            op(
                "patch",
                rt,
                version,
                id("patch", "Status"),
                &comp,
                write_params(true),
                Some(patch_types.clone()),
            ),
        );
        paths.insert(format!("{prefix}/{{name}}/status"), Value::Object(st));
    }
    if v.is_some_and(|v| v.scale.is_some()) {
        let scale = "io.k8s.api.autoscaling.v1.Scale";
        let mut sc = Map::new();
        sc.insert("get".into(), json!({"operationId": id("read", "Scale"), "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": r(scale)}}}}, "x-kubernetes-action": "get", "x-kubernetes-group-version-kind": {"group": "autoscaling", "version": "v1", "kind": "Scale"}}));
        sc.insert("put".into(), json!({"operationId": id("replace", "Scale"), "parameters": write_params(false), "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": r(scale)}}}}, "x-kubernetes-action": "put", "x-kubernetes-group-version-kind": {"group": "autoscaling", "version": "v1", "kind": "Scale"}}));
        sc.insert("patch".into(), json!({"operationId": id("patch", "Scale"), "parameters": write_params(true), "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": r(scale)}}}}, "x-kubernetes-action": "patch", "x-kubernetes-group-version-kind": {"group": "autoscaling", "version": "v1", "kind": "Scale"}}));
        paths.insert(format!("{prefix}/{{name}}/scale"), Value::Object(sc));
    }
    if rt.namespaced {
        let mut all = Map::new();
        all.insert(
            "get".into(),
            op(
                "list",
                rt,
                version,
                format!("list{}ForAllNamespaces", rt.kind),
                &list_comp,
                vec![],
                None,
            ),
        );
        paths.insert(format!("{base}/{}", rt.plural), Value::Object(all));
    }
}

fn collect_refs(v: &Value, out: &mut VecDeque<String>) {
    match v {
        Value::Object(m) => {
            for (k, c) in m {
                if k == "$ref"
                    && let Some(s) = c.as_str().and_then(|s| s.strip_prefix(REF_PREFIX))
                {
                    out.push_back(s.to_string());
                }
                collect_refs(c, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|c| collect_refs(c, out)),
        _ => {}
    }
}

fn gv_document(source: Source<'_>, group: &str, version: &str) -> Value {
    let defs = crate::apis::builtin::definitions();
    let types = source.registry().in_group_version(group, version);
    let base = if group.is_empty() {
        format!("/api/{version}")
    } else {
        format!("/apis/{group}/{version}")
    };
    let mut paths = Map::new();
    let mut schemas: BTreeMap<String, Value> = BTreeMap::new();
    for rt in &types {
        paths_for(rt, version, &base, &mut paths);
        let comp = component_name(rt, version);
        if rt.is_custom() {
            schemas.insert(comp.clone(), custom_schema(rt, version));
        } else if let Some(d) = defs.defs.get(&comp) {
            schemas.insert(comp.clone(), d.clone());
        }
        schemas.insert(format!("{comp}List"), list_schema(rt, version, &comp));
    }
    // the transitive closure of referenced definitions
    let mut queue = VecDeque::new();
    for s in schemas.values() {
        collect_refs(s, &mut queue);
    }
    for extra in [
        STATUS,
        DELETE_OPTIONS,
        OBJECT_META,
        LIST_META,
        "io.k8s.apimachinery.pkg.apis.meta.v1.Patch",
        "io.k8s.api.autoscaling.v1.Scale",
    ] {
        queue.push_back(extra.to_string());
    }
    let mut seen: HashSet<String> = schemas.keys().cloned().collect();
    while let Some(name) = queue.pop_front() {
        if !seen.insert(name.clone()) {
            continue;
        }
        if let Some(d) = defs.defs.get(&name) {
            collect_refs(d, &mut queue);
            schemas.insert(name, d.clone());
        }
    }
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": source.git_version},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"BearerToken": {"type": "apiKey", "description": "Bearer Token authentication", "name": "authorization", "in": "header"}},
        },
    })
}

fn build(source: Source<'_>, revision: u64) -> Docs {
    let mut group_versions = BTreeMap::new();
    for (group, versions) in source.registry().groups() {
        for v in versions {
            let key = if group.is_empty() {
                format!("api/{v}")
            } else {
                format!("apis/{group}/{v}")
            };
            let doc = gv_document(source, &group, &v);
            let body = serde_json::to_vec(&doc).unwrap_or_default();
            let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA512, &body);
            let hash: String = digest.as_ref().iter().map(|b| format!("{b:02X}")).collect();
            group_versions.insert(
                key,
                Doc {
                    hash,
                    body: body.into(),
                },
            );
        }
    }
    Docs {
        revision,
        group_versions,
    }
}

fn accepts_json(req: &Request) -> bool {
    let a = req.header("accept");
    a.is_empty() || a.contains("application/json") || a.contains("*/*")
}

/// GET /openapi/v3[/<group version path>]
pub fn serve_v3(cache: &Cache, source: Source<'_>, req: &Request, rest: &[&str]) -> Response<Body> {
    if !accepts_json(req) {
        return error_response(&ApiError::not_acceptable(&["application/json"]));
    }
    let docs = cache.get(source);
    if rest.is_empty() {
        let mut paths = Map::new();
        for (k, d) in &docs.group_versions {
            paths.insert(
                k.clone(),
                json!({"serverRelativeURL": format!("/openapi/v3/{k}?hash={}", d.hash)}),
            );
        }
        let body = serde_json::to_vec(&json!({"paths": paths})).unwrap_or_default();
        return Response::builder()
            .status(200)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(full(body))
            .expect("valid response");
    }
    let key = rest.join("/");
    let Some(doc) = docs.group_versions.get(&key) else {
        return crate::encoding::http::text_response(StatusCode::NOT_FOUND, "404 page not found\n");
    };
    let etag = format!("\"{}\"", doc.hash);
    match req.query.get("hash") {
        Some(h) if h != doc.hash => Response::builder()
            .status(301)
            .header(
                http::header::LOCATION,
                format!("/openapi/v3/{key}?hash={}", doc.hash),
            )
            .body(full(Vec::new()))
            .expect("valid response"),
        Some(_) => Response::builder()
            .status(200)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::ETAG, &etag)
            .header(http::header::CACHE_CONTROL, "public, immutable")
            .header(http::header::EXPIRES, "Fri, 01 Jan 2100 00:00:00 GMT")
            .body(full(doc.body.clone()))
            .expect("valid response"),
        None => {
            if req.header("if-none-match") == etag {
                return Response::builder()
                    .status(304)
                    .header(http::header::ETAG, &etag)
                    .body(full(Vec::new()))
                    .expect("valid response");
            }
            Response::builder()
                .status(200)
                .header(http::header::CONTENT_TYPE, "application/json")
                .header(http::header::ETAG, &etag)
                .header(http::header::CACHE_CONTROL, "no-cache, private")
                .body(full(doc.body.clone()))
                .expect("valid response")
        }
    }
}

/// GET /openapi/v2 (JSON only; the protobuf form is not served).
pub fn serve_v2(source: Source<'_>, req: &Request) -> Response<Body> {
    if !accepts_json(req) {
        return error_response(&ApiError::not_acceptable(&["application/json"]));
    }
    let defs = crate::apis::builtin::definitions();
    let mut definitions: HashMap<String, Value> = HashMap::new();
    for (k, v) in &defs.defs {
        let text = serde_json::to_string(v)
            .unwrap_or_default()
            .replace(REF_PREFIX, "#/definitions/");
        definitions.insert(k.clone(), serde_json::from_str(&text).unwrap_or(Value::Null));
    }
    for rt in source.registry().types().iter().filter(|t| t.is_custom()) {
        for v in rt.versions.iter().filter(|v| v.served) {
            let text = serde_json::to_string(&custom_schema(rt, &v.name))
                .unwrap_or_default()
                .replace(REF_PREFIX, "#/definitions/");
            definitions.insert(
                component_name(rt, &v.name),
                serde_json::from_str(&text).unwrap_or(Value::Null),
            );
        }
    }
    let doc = json!({
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": source.git_version},
        "paths": {},
        "definitions": definitions,
        "securityDefinitions": {"BearerToken": {"description": "Bearer Token authentication", "type": "apiKey", "name": "authorization", "in": "header"}},
        "security": [{"BearerToken": []}],
    });
    crate::encoding::http::json_response(200, &doc)
}
