//! The verbs: get, list, create, update, patch, delete, deletecollection (watch is in
//! `watch.rs`), with kube-apiserver's rules for metadata, status, generation and deletion.

use std::sync::Arc;

use base64::Engine;
use http::{Method, Response};
use serde_json::{Map, Value, json};

use crate::apimachinery::meta;
use crate::apimachinery::selector::{FieldSelector, LabelSelector};
use crate::apimachinery::status::{ApiError, ApiResult, Cause, GroupResource};
use crate::apis::schema::{Checker, Mode, Node};
use crate::apis::types::ResourceType;
use crate::http::{Accept, Body, Request, decode_body, object_response};
use crate::server::{State, Target};
use crate::storage::store::{WriteError, object_key};

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
            (&Method::POST, false) => crate::reviews::review(state, req, accept, &target),
            _ => Err(ApiError::method_not_allowed()),
        };
    }
    match (target.subresource.as_deref(), &req.method) {
        (Some("log"), &Method::GET) => return crate::pods::log(state, req, &target),
        (Some("binding"), &Method::POST) => return crate::pods::bind(state, req, accept, &target),
        (Some("log" | "binding"), _) => return Err(ApiError::method_not_allowed()),
        _ => {}
    }
    if target.subresource.as_deref() == Some("token") {
        return match req.method {
            Method::POST => crate::reviews::token_request(state, req, accept, &target),
            _ => Err(ApiError::method_not_allowed()),
        };
    }
    match req.method {
        Method::GET | Method::HEAD if watch => crate::watch::serve(state, req, accept, target),
        Method::GET | Method::HEAD if has_name => get(state, req, accept, &target),
        Method::GET | Method::HEAD => list(state, req, accept, &target),
        Method::POST if !has_name => {
            if target.rt.namespaced && target.namespace.is_none() {
                return Err(ApiError::method_not_allowed());
            }
            create(state, req, accept, &target).await
        }
        Method::PUT if has_name => update(state, req, accept, &target).await,
        Method::PATCH if has_name => crate::patch::patch(state, req, accept, &target).await,
        Method::DELETE if has_name && target.subresource.is_none() => {
            delete(state, req, accept, &target).await
        }
        Method::DELETE if !has_name => delete_collection(state, req, accept, &target).await,
        _ => Err(ApiError::method_not_allowed()),
    }
}

/// How unknown fields are treated (`fieldValidation`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldValidation {
    Ignore,
    Warn,
    Strict,
}

impl FieldValidation {
    pub fn parse(v: Option<&str>) -> ApiResult<Self> {
        match v.unwrap_or("") {
            "" | "Warn" => Ok(FieldValidation::Warn),
            "Ignore" => Ok(FieldValidation::Ignore),
            "Strict" => Ok(FieldValidation::Strict),
            other => Err(ApiError::bad_request(format!(
                "fieldValidation parameter unsupported: {other}. Valid values are Ignore, Warn, Strict"
            ))),
        }
    }
}

/// What kind of request a write comes from: it decides how strict-validation failures are
/// reported, as kube-apiserver's handlers differ there.
#[derive(Clone, Debug, Default)]
pub enum Origin {
    /// POST/PUT with a full object.
    #[default]
    Body,
    /// A merge, JSON or strategic patch; the value shown in the error (the patched object
    /// for JSON patches, the patch for strategic merge patches).
    Patch(String),
}

/// Options shared by every write.
#[derive(Clone, Debug)]
pub struct WriteOpts {
    pub dry_run: bool,
    pub field_manager: String,
    pub validation: FieldValidation,
    pub force: bool,
    pub origin: Origin,
}

impl WriteOpts {
    pub fn from_request(req: &Request) -> ApiResult<Self> {
        let manager = match req.query.get("fieldManager") {
            Some(m) if !m.is_empty() => {
                if m.len() > 128 {
                    return Err(ApiError::invalid(
                        "meta.k8s.io",
                        "PatchOptions",
                        "",
                        vec![Cause::new(
                            "FieldValueTooLong",
                            "fieldManager",
                            "Too long: may not be more than 128 bytes",
                        )],
                    ));
                }
                m.to_string()
            }
            _ => manager_from_user_agent(req.user_agent()),
        };
        Ok(WriteOpts {
            dry_run: req.query.dry_run()?,
            field_manager: manager,
            validation: FieldValidation::parse(req.query.get("fieldValidation"))?,
            force: req.query.flag("force")?,
            origin: Origin::Body,
        })
    }

    /// Options of the emulator's own controllers.
    pub fn internal(manager: &str) -> Self {
        WriteOpts {
            dry_run: false,
            field_manager: manager.into(),
            validation: FieldValidation::Ignore,
            force: false,
            origin: Origin::Body,
        }
    }
}

/// The default field manager: the User-Agent up to its first '/', as kube-apiserver derives it.
pub fn manager_from_user_agent(ua: &str) -> String {
    let m = ua.split('/').next().unwrap_or("").trim();
    let m: String = m.chars().take(128).collect();
    if m.is_empty() { "unknown".into() } else { m }
}

/// A write's result: the object and the warnings to return.
pub struct Written {
    pub object: Value,
    pub warnings: Vec<String>,
    /// The object was created (201) rather than updated (200).
    pub created: bool,
}

pub fn with_warnings(mut resp: Response<Body>, warnings: &[String]) -> Response<Body> {
    for w in warnings {
        let v = format!("299 - {}", serde_json::to_string(w).unwrap_or_default());
        if let Ok(h) = http::HeaderValue::from_str(&v) {
            resp.headers_mut().append("warning", h);
        }
    }
    resp
}

/// Answers with one object, as a Table / PartialObjectMetadata if that was asked for.
fn respond(req: &Request, accept: &Accept, target: &Target, code: u16, obj: &Value) -> Response<Body> {
    let obj = output_object(accept, target, obj, req.query.str("includeObject"));
    object_response(code, &obj, accept)
}

/// Applies `as=PartialObjectMetadata` / `as=Table` (with `includeObject`) to one object.
pub fn output_object(accept: &Accept, target: &Target, obj: &Value, include_object: &str) -> Value {
    if let Some(v) = &accept.table {
        return crate::table::table(
            &target.rt,
            &target.version,
            std::slice::from_ref(obj),
            v,
            "",
            None,
            include_object,
        );
    }
    if let Some(v) = &accept.partial_metadata {
        return json!({
            "kind": "PartialObjectMetadata",
            "apiVersion": format!("meta.k8s.io/{v}"),
            "metadata": obj.get("metadata").cloned().unwrap_or(json!({})),
        });
    }
    obj.clone()
}

/// The protobuf message of a built-in type's request bodies (custom resources have none).
pub fn proto_definition(rt: &ResourceType) -> Option<&str> {
    rt.builtin.as_ref().map(|b| b.definition.as_str())
}

pub fn storage_key(rt: &ResourceType) -> String {
    rt.storage_key()
}

/// Sets apiVersion and kind for the version being served.
pub fn with_type_meta(obj: &Value, rt: &ResourceType, version: &str) -> Value {
    let mut out = Map::new();
    out.insert("apiVersion".into(), json!(rt.api_version(version)));
    out.insert("kind".into(), json!(rt.kind));
    if let Some(m) = obj.as_object() {
        for (k, v) in m {
            if k != "apiVersion" && k != "kind" {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    Value::Object(out)
}

fn get(state: &State, req: &Request, accept: &Accept, target: &Target) -> ApiResult<Response<Body>> {
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
            &crate::scale::to_scale(&target.rt, &target.version, &obj)?,
            accept,
        ));
    }
    Ok(respond(req, accept, target, 200, &obj))
}

#[derive(serde::Serialize, serde::Deserialize)]
struct ContinueToken {
    v: String,
    rv: u64,
    start: String,
}

fn encode_continue(rv: u64, after_key: &str) -> String {
    let t = ContinueToken {
        v: "meta.k8s.io/v1".into(),
        rv,
        start: format!("{after_key}\u{0}"),
    };
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(&t).unwrap_or_default())
}

fn decode_continue(token: &str) -> ApiResult<ContinueToken> {
    let bad = || {
        ApiError::bad_request(
            "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)",
        )
    };
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.trim_end_matches('='))
        .map_err(|_| {
            ApiError::bad_request("continue key is not valid: illegal base64 data at input byte 0")
        })?;
    let t: ContinueToken = serde_json::from_slice(&raw).map_err(|_| bad())?;
    if t.v != "meta.k8s.io/v1" {
        return Err(bad());
    }
    Ok(t)
}

pub const CONTINUE_EXPIRED: &str = "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.";

pub fn too_large_rv(requested: u64, current: u64) -> ApiError {
    let mut e = ApiError::new(
        504,
        "Timeout",
        format!("Too large resource version: {requested}, current: {current}"),
        Some(
            json!({"causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}], "retryAfterSeconds": 1}),
        ),
    );
    e.retry_after = Some(1);
    e
}

pub fn parse_rv(v: &str) -> ApiResult<u64> {
    v.parse::<u64>().map_err(|_| {
        ApiError::bad_request(format!(
            "invalid resource version: strconv.ParseUint: parsing {v:?}: invalid syntax"
        ))
    })
}

/// The selectors of a list or watch request.
pub struct Selectors {
    pub labels: LabelSelector,
    pub fields: FieldSelector,
}

impl Selectors {
    pub fn from_request(req: &Request, target: &Target) -> ApiResult<Self> {
        let supported = target.rt.supported_field_selectors(&target.version);
        let supported: Vec<&str> = supported.iter().map(String::as_str).collect();
        Ok(Selectors {
            labels: LabelSelector::parse(req.query.str("labelSelector"))?,
            fields: FieldSelector::parse(req.query.str("fieldSelector"), &supported)?,
        })
    }

    pub fn matches(&self, obj: &Value) -> bool {
        self.labels.matches(obj) && self.fields.matches(obj)
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty() && self.fields.is_empty()
    }
}

/// The objects of a table in the request's scope, in key order, after `start_after`.
/// Keys are `namespace/name`, so a namespace is a contiguous range.
fn scope_range<'a>(
    table: &'a crate::storage::store::Table,
    target: &Target,
    start_after: Option<&str>,
) -> Box<dyn Iterator<Item = (&'a String, &'a Arc<Value>)> + 'a> {
    use std::ops::Bound;
    let prefix = match &target.namespace {
        Some(ns) if target.rt.namespaced => Some(format!("{ns}/")),
        _ => None,
    };
    let lower = match (start_after, &prefix) {
        (Some(k), _) => Bound::Excluded(k.to_string()),
        (None, Some(p)) => Bound::Included(p.clone()),
        (None, None) => Bound::Unbounded,
    };
    let range = table.range::<_, String>((lower, Bound::Unbounded));
    match prefix {
        Some(p) => Box::new(range.take_while(move |(k, _)| k.starts_with(&p))),
        None => Box::new(range),
    }
}

fn list(state: &State, req: &Request, accept: &Accept, target: &Target) -> ApiResult<Response<Body>> {
    let sel = Selectors::from_request(req, target)?;
    let limit = req.query.int("limit")?.filter(|l| *l > 0).map(|l| l as usize);
    let storage = storage_key(&target.rt);
    let rv_param = req.query.str("resourceVersion");
    let rv_match = req.query.str("resourceVersionMatch");
    let cont = req.query.str("continue");

    let (rv, table, start_after) = if !cont.is_empty() {
        if !rv_param.is_empty() {
            return Err(ApiError::bad_request(
                "specifying resource version is not allowed when using continue",
            ));
        }
        let t = decode_continue(cont)?;
        let table = state
            .store
            .snapshot_at(&storage, t.rv)
            .map_err(|_| ApiError::expired(CONTINUE_EXPIRED))?;
        (t.rv, table, Some(t.start.trim_end_matches('\u{0}').to_string()))
    } else {
        match (rv_param, rv_match) {
            ("", "") | ("0", "") | ("0", "NotOlderThan") | (_, "") | (_, "NotOlderThan") => {
                if !rv_param.is_empty() && rv_param != "0" {
                    let want = parse_rv(rv_param)?;
                    let cur = state.store.current_rv();
                    if want > cur {
                        return Err(too_large_rv(want, cur));
                    }
                }
                let (rv, t) = state.store.snapshot(&storage);
                (rv, t, None)
            }
            (v, "Exact") => {
                let want = parse_rv(v)?;
                let t = state.store.snapshot_at(&storage, want).map_err(|e| match e {
                    crate::storage::store::ReadError::TooOld(r, oldest) => {
                        ApiError::expired(format!("too old resource version: {r} ({oldest})"))
                    }
                    crate::storage::store::ReadError::TooLarge(r, c) => too_large_rv(r, c),
                })?;
                (want, t, None)
            }
            (_, other) => {
                return Err(ApiError::bad_request(format!(
                    "resourceVersionMatch: Unsupported value: {other:?}: supported values: \"Exact\", \"NotOlderThan\""
                )));
            }
        }
    };

    let mut items = Vec::new();
    let mut last_key = None;
    let mut remaining = 0usize;
    let mut more = false;
    let iter = scope_range(&table, target, start_after.as_deref());
    for (k, v) in iter {
        if !sel.matches(v) {
            continue;
        }
        if let Some(l) = limit
            && items.len() >= l
        {
            more = true;
            remaining += 1;
            continue;
        }
        items.push(v.clone());
        last_key = Some(k.clone());
    }
    let mut md = Map::new();
    md.insert("resourceVersion".into(), json!(rv.to_string()));
    if more && let Some(k) = &last_key {
        md.insert("continue".into(), json!(encode_continue(rv, k)));
        if sel.is_empty() {
            md.insert("remainingItemCount".into(), json!(remaining));
        }
    }
    if let Some(v) = &accept.table {
        let objs: Vec<Value> = items
            .iter()
            .map(|o| with_type_meta(o, &target.rt, &target.version))
            .collect();
        let t = crate::table::table(
            &target.rt,
            &target.version,
            &objs,
            v,
            &rv.to_string(),
            Some(Value::Object(md)),
            req.query.str("includeObject"),
        );
        return Ok(object_response(200, &t, accept));
    }
    let items: Vec<Value> = if let Some(v) = &accept.partial_metadata {
        items
            .iter()
            .map(|o| json!({"kind": "PartialObjectMetadata", "apiVersion": format!("meta.k8s.io/{v}"), "metadata": o.get("metadata").cloned().unwrap_or(json!({}))}))
            .collect()
    } else if target.rt.is_custom() {
        items
            .iter()
            .map(|o| with_type_meta(o, &target.rt, &target.version))
            .collect()
    } else {
        items.iter().map(|o| (**o).clone()).collect()
    };
    let (kind, api_version) = match &accept.partial_metadata {
        Some(v) => (
            "PartialObjectMetadataList".to_string(),
            format!("meta.k8s.io/{v}"),
        ),
        None => (target.rt.list_kind.clone(), target.api_version()),
    };
    let mut out = Map::new();
    out.insert("kind".into(), json!(kind));
    out.insert("apiVersion".into(), json!(api_version));
    out.insert("metadata".into(), Value::Object(md));
    out.insert("items".into(), Value::Array(items));
    Ok(object_response(200, &Value::Object(out), accept))
}

/// Checks apiVersion/kind of a request body and fills them in when absent.
pub fn check_type_meta(target: &Target, obj: &mut Value) -> ApiResult<()> {
    let Some(m) = obj.as_object_mut() else {
        return Err(ApiError::bad_request(format!(
            "Object '{}' is missing in '{}'",
            "Kind",
            serde_json::to_string(obj).unwrap_or_default()
        )));
    };
    let want_av = target.api_version();
    match m.get("apiVersion").and_then(Value::as_str) {
        None | Some("") => {
            m.insert("apiVersion".into(), json!(want_av));
        }
        Some(av) if av != want_av => {
            let group_ok = target
                .rt
                .versions
                .iter()
                .any(|v| target.rt.api_version(&v.name) == av);
            if !group_ok {
                return Err(ApiError::bad_request(format!(
                    "the API version in the data ({av}) does not match the expected API version ({want_av})"
                )));
            }
            m.insert("apiVersion".into(), json!(want_av));
        }
        _ => {}
    }
    match m.get("kind").and_then(Value::as_str) {
        None | Some("") => {
            m.insert("kind".into(), json!(target.rt.kind));
        }
        Some(k) if k != target.rt.kind => {
            return Err(ApiError::bad_request(format!(
                "{k} in version \"{}\" cannot be handled as a {}: no kind \"{k}\" is registered for version \"{want_av}\"",
                target.version, target.rt.kind
            )));
        }
        _ => {}
    }
    Ok(())
}

fn check_namespace(target: &Target, obj: &mut Value) -> ApiResult<()> {
    let body_ns = meta::namespace(obj).to_string();
    if target.rt.namespaced {
        let url_ns = target.ns();
        if !body_ns.is_empty() && body_ns != url_ns {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        meta::meta_mut(obj).insert("namespace".into(), json!(url_ns));
    } else if !body_ns.is_empty() {
        meta::meta_mut(obj).remove("namespace");
    }
    Ok(())
}

/// Namespace existence and termination checks for creating namespaced objects.
pub fn check_namespace_accepts(state: &State, target: &Target, name: &str) -> ApiResult<()> {
    if !target.rt.namespaced {
        return Ok(());
    }
    let ns = target.ns();
    match state.store.get("/namespaces", ns) {
        None => Err(ApiError::not_found(&GroupResource::new("", "namespaces"), ns)),
        Some(n) if meta::deletion_timestamp(&n).is_some() => {
            let mut e = ApiError::forbidden(
                &target.rt.group_resource(),
                name,
                &format!("unable to create new content in namespace {ns} because it is being terminated"),
            );
            if let Some(Value::Object(d)) = e.details.as_deref_mut() {
                d.insert(
                    "causes".into(),
                    json!([{"reason": "NamespaceTerminating", "message": format!("namespace {ns} is being terminated"), "field": "metadata.namespace"}]),
                );
            }
            Err(e)
        }
        Some(_) => Ok(()),
    }
}

const GENERATE_CHARS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

fn generate_suffix() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..5)
        .map(|_| GENERATE_CHARS[rng.random_range(0..GENERATE_CHARS.len())] as char)
        .collect()
}

/// Walks `obj` with its type's schema: prunes unknown fields (returned), applies custom
/// resource defaults, and returns field errors; decoding errors of built-in types fail.
pub fn walk_schema(
    rt: &ResourceType,
    version: &str,
    obj: &mut Value,
    check_required: bool,
) -> ApiResult<(Vec<String>, Vec<Cause>)> {
    let defs = crate::apis::builtin::definitions();
    let mut unknown = Vec::new();
    let mut causes = Vec::new();
    match &rt.builtin {
        Some(b) => {
            let root = defs.defs.get(&b.definition).map(|d| Node::new(d, &defs.defs));
            if let Some(root) = root {
                let mut c = Checker::new(Mode::Builtin);
                c.check_required = check_required;
                let mut body = obj.clone();
                c.walk(&mut body, root, "", &rt.kind);
                if let Some(e) = c.decode_error {
                    return Err(ApiError::bad_request(format!(
                        "{} in version \"{version}\" cannot be handled as a {}: {e}",
                        rt.kind, rt.kind
                    )));
                }
                unknown = c.unknown;
                causes = c.causes;
                *obj = body;
            }
        }
        None => {
            let schema = rt.version(version).and_then(|v| v.schema.clone());
            let m = obj.as_object_mut().expect("objects are JSON objects");
            let metadata = m.remove("metadata");
            let api_version = m.remove("apiVersion");
            let kind = m.remove("kind");
            if let Some(s) = &schema {
                let mut c = Checker::new(Mode::Custom);
                c.check_required = check_required;
                c.walk(obj, Node::standalone(s), "", &rt.kind);
                unknown = c.unknown;
                causes = c.causes;
            }
            let m = obj.as_object_mut().expect("objects are JSON objects");
            let mut out = Map::new();
            if let Some(v) = api_version {
                out.insert("apiVersion".into(), v);
            }
            if let Some(v) = kind {
                out.insert("kind".into(), v);
            }
            if let Some(mut md) = metadata {
                if let Some(d) = defs.defs.get("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta") {
                    let mut c = Checker::new(Mode::Builtin);
                    c.walk(&mut md, Node::new(d, &defs.defs), "metadata", "ObjectMeta");
                    if let Some(e) = c.decode_error {
                        return Err(ApiError::bad_request(format!(
                            "{} in version \"{version}\" cannot be handled as a {}: {e}",
                            rt.kind, rt.kind
                        )));
                    }
                    unknown.extend(c.unknown);
                }
                out.insert("metadata".into(), md);
            }
            for (k, v) in std::mem::take(m) {
                out.insert(k, v);
            }
            *obj = Value::Object(out);
        }
    }
    Ok((unknown, causes))
}

/// Schema validation, pruning and (for custom resources) defaulting.
/// Returns the warnings for dropped fields, or an error.
pub fn check_schema(
    rt: &ResourceType,
    version: &str,
    obj: &mut Value,
    validation: FieldValidation,
    origin: &Origin,
    check_required: bool,
) -> ApiResult<Vec<String>> {
    let (unknown, mut causes) = walk_schema(rt, version, obj, check_required)?;
    if !causes.is_empty() {
        // kube-openapi walks properties in Go map order; sorted is the stable equivalent
        causes.sort_by(|a, b| a.field.cmp(&b.field));
        return Err(ApiError::invalid(&rt.group, &rt.kind, meta::name(obj), causes));
    }
    let mut warnings = Vec::new();
    if !unknown.is_empty() {
        match validation {
            FieldValidation::Strict => {
                let list: Vec<String> = unknown.iter().map(|f| format!("unknown field \"{f}\"")).collect();
                let strict = format!("strict decoding error: {}", list.join(", "));
                return Err(match origin {
                    Origin::Body => ApiError::bad_request(format!(
                        "{} in version \"{version}\" cannot be handled as a {}: {strict}",
                        rt.kind, rt.kind
                    )),
                    Origin::Patch(value) => ApiError::invalid(
                        "",
                        "",
                        "",
                        vec![Cause::invalid("patch", &Value::String(value.clone()), strict)],
                    ),
                });
            }
            FieldValidation::Warn => {
                warnings.extend(unknown.iter().map(|f| format!("unknown field \"{f}\"")))
            }
            FieldValidation::Ignore => {}
        }
    }
    Ok(warnings)
}

/// The parts of an object that bump `metadata.generation` when they change.
fn generation_relevant(rt: &ResourceType, version: &str, obj: &Value) -> Value {
    let mut o = obj.clone();
    if let Some(m) = o.as_object_mut() {
        m.remove("metadata");
        m.remove("apiVersion");
        m.remove("kind");
        if rt.builtin.is_some() || rt.has_status(version) {
            m.remove("status");
        }
    }
    o
}

/// Equality ignoring what a no-op write would change anyway.
fn same_content(a: &Value, b: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("resourceVersion");
            m.remove("managedFields");
        }
        v
    };
    strip(a) == strip(b) && managed_fields_equal_ignoring_time(a, b)
}

fn managed_fields_equal_ignoring_time(a: &Value, b: &Value) -> bool {
    let strip = |v: &Value| -> Value {
        let mut mf = v
            .get("metadata")
            .and_then(|m| m.get("managedFields"))
            .cloned()
            .unwrap_or(Value::Null);
        if let Some(arr) = mf.as_array_mut() {
            for e in arr {
                if let Some(m) = e.as_object_mut() {
                    m.remove("time");
                }
            }
        }
        mf
    };
    strip(a) == strip(b)
}

/// A write that passed defaulting, validation and metadata handling, not stored yet.
pub struct Prepared {
    pub object: Value,
    pub warnings: Vec<String>,
}

/// The write pipeline shared by create, update, patch and the emulator's own controllers
/// (which are not subject to admission webhooks).
pub fn finish_write(
    state: &State,
    target: &Target,
    old: Option<&Value>,
    new: Value,
    opts: &WriteOpts,
    operation: crate::managed::Operation,
) -> ApiResult<Written> {
    let p = prepare(target, old, new, opts, operation)?;
    commit(state, target, old, p, opts)
}

/// A client's write: prepared, then through mutating and validating admission webhooks,
/// then stored.
pub async fn admitted_write(
    state: &State,
    user: &crate::auth::authn::User,
    target: &Target,
    old: Option<&Value>,
    new: Value,
    opts: &WriteOpts,
    operation: crate::managed::Operation,
) -> ApiResult<Written> {
    let mut p = prepare(target, old, new, opts, operation)?;
    if crate::admission::any_configured(state) {
        let operation_kind = if old.is_none() {
            crate::admission::Operation::Create
        } else {
            crate::admission::Operation::Update
        };
        let review = |object| crate::admission::Review {
            target,
            operation: operation_kind,
            object: Some(object),
            old_object: old,
            user,
            dry_run: opts.dry_run,
            field_manager: &opts.field_manager,
        };
        let mut warnings = Vec::new();
        let candidate = p.object.clone();
        let mutated = crate::admission::mutate(state, &review(&candidate), &mut warnings).await?;
        if let Some(mutated) = mutated {
            // a mutated object is defaulted and validated again
            let keep = std::mem::take(&mut p.warnings);
            p = prepare(target, old, mutated, opts, operation)?;
            p.warnings.splice(0..0, keep);
        }
        let fin = p.object.clone();
        crate::admission::validate(state, &review(&fin), &mut warnings).await?;
        p.warnings.extend(warnings);
    }
    commit(state, target, old, p, opts)
}

/// Checks, defaults, validates and stamps a write.
///
/// `old` is the stored object (None for create). `new` is the requested full object.
pub fn prepare(
    target: &Target,
    old: Option<&Value>,
    mut new: Value,
    opts: &WriteOpts,
    operation: crate::managed::Operation,
) -> ApiResult<Prepared> {
    let rt = &target.rt;
    let version = target.version.as_str();
    let gr = rt.group_resource();
    let sub = target.subresource.as_deref();
    check_type_meta(target, &mut new)?;
    check_namespace(target, &mut new)?;

    if let Some(old) = old {
        // The URL names the object; the body may not rename it.
        let body_name = meta::name(&new).to_string();
        if !body_name.is_empty() && body_name != meta::name(old) {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({})",
                meta::name(old)
            )));
        }
        // Status subresource split: the main resource keeps the stored status, /status keeps
        // everything but status (and labels/annotations, which status writers may not change).
        let status_split = rt.has_status(version) || rt.builtin.is_some();
        if sub == Some("status") {
            let status = new.get("status").cloned();
            let mut merged = old.clone();
            match status {
                Some(s) => {
                    merged.as_object_mut().expect("object").insert("status".into(), s);
                }
                None => {
                    merged.as_object_mut().expect("object").remove("status");
                }
            }
            new = with_type_meta(&merged, rt, version);
        } else if status_split && rt.has_status(version) && sub != Some("binding") {
            let m = new.as_object_mut().expect("object");
            match old.get("status") {
                Some(s) => {
                    m.insert("status".into(), s.clone());
                }
                None => {
                    m.remove("status");
                }
            }
        }
        // System fields come from the stored object.
        let om = meta::meta(old).cloned().unwrap_or_default();
        let nm = meta::meta_mut(&mut new);
        for f in [
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
            "name",
            "namespace",
        ] {
            match om.get(f) {
                Some(v) => {
                    nm.insert(f.into(), v.clone());
                }
                None => {
                    nm.remove(f);
                }
            }
        }
        nm.remove("selfLink");
        // Finalizers cannot be added to an object that is being deleted.
        if om.get("deletionTimestamp").is_some() {
            let old_f = meta::finalizers(old);
            let new_f = meta::finalizers(&new);
            if let Some(added) = new_f.iter().find(|f| !old_f.contains(f)) {
                return Err(ApiError::forbidden(
                    &gr,
                    meta::name(old),
                    &format!(
                        "no new finalizers can be added if the object is being deleted, found new finalizers []string{{{added:?}}}"
                    ),
                ));
            }
        }
    } else {
        let nm = meta::meta_mut(&mut new);
        if nm
            .get("resourceVersion")
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty())
        {
            return Err(ApiError::internal(
                "resourceVersion should not be set on objects to be created",
            ));
        }
        for f in [
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
            "selfLink",
            "resourceVersion",
        ] {
            nm.remove(f);
        }
        let name = nm.get("name").and_then(Value::as_str).unwrap_or("").to_string();
        if name.is_empty() {
            let prefix = nm
                .get("generateName")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            if prefix.is_empty() {
                return Err(ApiError::invalid(
                    &rt.group,
                    &rt.kind,
                    "",
                    vec![Cause::new(
                        "FieldValueRequired",
                        "metadata.name",
                        "Required value: name or generateName is required",
                    )],
                ));
            }
            nm.insert("name".into(), json!(format!("{prefix}{}", generate_suffix())));
        }
        if rt.has_status(version) || (rt.builtin.is_some() && rt.versions[0].status) {
            new.as_object_mut().expect("object").remove("status");
        }
        meta::meta_mut(&mut new).insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
    }

    // Defaults, schema, type-specific rules.
    crate::apis::defaults::apply(rt, &mut new, old);
    let check_required = true;
    let mut warnings = check_schema(
        rt,
        version,
        &mut new,
        opts.validation,
        &opts.origin,
        check_required,
    )?;
    let name = meta::name(&new).to_string();
    let mut causes = crate::apimachinery::validation::name_causes("metadata.name", &name, rt.name_rule());
    causes.extend(crate::apimachinery::validation::metadata_causes(&new));
    causes.extend(crate::apis::typecheck::validate(rt, &new, old));
    if !causes.is_empty() {
        return Err(ApiError::invalid(&rt.group, &rt.kind, &name, causes));
    }
    if let Some(w) = rt.version(version).and_then(|v| v.deprecation_warning.clone()) {
        warnings.push(w);
    }

    // System metadata.
    let now = meta::now_rfc3339();
    match old {
        None => {
            let nm = meta::meta_mut(&mut new);
            nm.insert("creationTimestamp".into(), json!(now));
            if rt.tracks_generation() {
                nm.insert("generation".into(), json!(1));
            }
        }
        Some(old) => {
            if rt.tracks_generation() {
                let g = meta::generation(old).max(1);
                let bump = generation_relevant(rt, version, old) != generation_relevant(rt, version, &new);
                meta::meta_mut(&mut new).insert("generation".into(), json!(if bump { g + 1 } else { g }));
            }
        }
    }
    crate::managed::track(
        rt,
        version,
        old,
        &mut new,
        &opts.field_manager,
        operation,
        sub,
        &now,
    )?;
    Ok(Prepared {
        object: new,
        warnings,
    })
}

/// Stores a prepared write (unless it changes nothing, or is a dry run).
pub fn commit(
    state: &State,
    target: &Target,
    old: Option<&Value>,
    prepared: Prepared,
    opts: &WriteOpts,
) -> ApiResult<Written> {
    let rt = &target.rt;
    let version = target.version.as_str();
    let gr = rt.group_resource();
    let Prepared {
        object: new,
        warnings,
    } = prepared;
    let name = meta::name(&new).to_string();
    if let Some(old) = old
        && same_content(old, &new)
    {
        return Ok(Written {
            object: old.clone(),
            warnings,
            created: false,
        });
    }
    if opts.dry_run {
        return Ok(Written {
            object: new,
            warnings,
            created: old.is_none(),
        });
    }

    let storage = storage_key(rt);
    let key = object_key(meta::namespace(&new), &name);
    match old {
        None => {
            check_namespace_accepts(state, target, &name)?;
            let stored = state
                .store
                .create(&storage, &key, strip_type_meta_for_storage(rt, new))
                .map_err(|e| match e {
                    WriteError::Exists => ApiError::already_exists(&gr, &name),
                    _ => ApiError::internal("storage create failed"),
                })?;
            Ok(Written {
                object: with_type_meta(&stored, rt, version),
                warnings,
                created: true,
            })
        }
        Some(old) => {
            let expected = meta::resource_version(old).to_string();
            let pending_delete = meta::deletion_timestamp(&new).is_some()
                && meta::finalizers(&new).is_empty()
                && !has_spec_finalizers(rt, &new);
            let stored = state
                .store
                .update(
                    &storage,
                    &key,
                    strip_type_meta_for_storage(rt, new),
                    Some(&expected),
                )
                .map_err(|e| match e {
                    WriteError::Conflict => ApiError::modified(&gr, &name),
                    WriteError::Missing => ApiError::not_found(&gr, &name),
                    WriteError::Exists => ApiError::internal("unexpected"),
                })?;
            if pending_delete {
                // the last finalizer is gone: the object goes (if nobody changed it meanwhile,
                // in which case that writer's update decides)
                let _ = state
                    .store
                    .delete(&storage, &key, Some(meta::resource_version(&stored)));
            }
            Ok(Written {
                object: with_type_meta(&stored, rt, version),
                warnings,
                created: false,
            })
        }
    }
}

/// Creates an object as one of the cluster's own components (bootstrap, controllers).
pub fn create_internal(
    state: &State,
    group: &str,
    plural: &str,
    namespace: Option<&str>,
    obj: Value,
    manager: &str,
) -> ApiResult<Written> {
    let rt = state
        .registry()
        .by_group_resource(group, plural)
        .ok_or_else(ApiError::no_route)?;
    let t = Target {
        version: rt.storage_version().name.clone(),
        namespace: namespace.map(str::to_string),
        name: None,
        subresource: None,
        rt,
    };
    finish_write(
        state,
        &t,
        None,
        obj,
        &WriteOpts::internal(manager),
        crate::managed::Operation::Update,
    )
}

/// Objects are stored with the type meta of the storage version.
fn strip_type_meta_for_storage(rt: &ResourceType, obj: Value) -> Value {
    with_type_meta(&obj, rt, &rt.storage_version().name)
}

/// Namespaces also wait for `spec.finalizers` (the namespace controller's `kubernetes`).
pub fn has_spec_finalizers(rt: &ResourceType, obj: &Value) -> bool {
    rt.group.is_empty()
        && rt.plural == "namespaces"
        && obj
            .get("spec")
            .and_then(|s| s.get("finalizers"))
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty())
}

async fn create(state: &State, req: &Request, accept: &Accept, target: &Target) -> ApiResult<Response<Body>> {
    let opts = WriteOpts::from_request(req)?;
    let body = decode_body(req, proto_definition(&target.rt))?;
    let w = admitted_write(
        state,
        &req.user,
        target,
        None,
        body,
        &opts,
        crate::managed::Operation::Update,
    )
    .await?;
    Ok(with_warnings(
        respond(req, accept, target, 201, &w.object),
        &w.warnings,
    ))
}

async fn update(state: &State, req: &Request, accept: &Accept, target: &Target) -> ApiResult<Response<Body>> {
    let opts = WriteOpts::from_request(req)?;
    let mut body = decode_body(req, proto_definition(&target.rt))?;
    let gr = target.rt.group_resource();
    let key = object_key(target.ns(), target.name());
    let storage = storage_key(&target.rt);
    if target.subresource.as_deref() == Some("scale") {
        return crate::scale::update_scale(state, &req.user, target, body, &opts, accept).await;
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
            crate::managed::Operation::Update,
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
        crate::managed::Operation::Update,
    )
    .await?;
    Ok(with_warnings(
        respond(req, accept, target, 200, &w.object),
        &w.warnings,
    ))
}

/// DeleteOptions from the body or the query.
pub struct DeleteOpts {
    pub propagation: Option<String>,
    pub precondition_uid: Option<String>,
    pub precondition_rv: Option<String>,
    pub dry_run: bool,
    pub orphan_dependents: Option<bool>,
}

impl DeleteOpts {
    pub fn from_request(req: &Request) -> ApiResult<Self> {
        let body: Value = if req.body.is_empty() {
            json!({})
        } else {
            decode_body(req, Some("io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions"))?
        };
        let propagation = body
            .get("propagationPolicy")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| req.query.get("propagationPolicy").map(str::to_string));
        if let Some(p) = &propagation
            && !matches!(p.as_str(), "Orphan" | "Background" | "Foreground")
        {
            return Err(ApiError::invalid(
                "meta.k8s.io",
                "DeleteOptions",
                "",
                vec![Cause::not_supported(
                    "propagationPolicy",
                    &json!(p),
                    &[
                        "Foreground".into(),
                        "Background".into(),
                        "Orphan".into(),
                        "nil".into(),
                    ],
                )],
            ));
        }
        let dry_run = match body.get("dryRun").and_then(Value::as_array) {
            Some(a) => a.iter().any(|v| v == "All"),
            None => req.query.dry_run()?,
        };
        let orphan_dependents = body.get("orphanDependents").and_then(Value::as_bool).or(
            match req.query.get("orphanDependents") {
                Some("true") => Some(true),
                Some("false") => Some(false),
                _ => None,
            },
        );
        Ok(DeleteOpts {
            propagation,
            precondition_uid: body
                .pointer("/preconditions/uid")
                .and_then(Value::as_str)
                .map(str::to_string),
            precondition_rv: body
                .pointer("/preconditions/resourceVersion")
                .and_then(Value::as_str)
                .map(str::to_string),
            dry_run,
            orphan_dependents,
        })
    }

    fn policy(&self) -> &str {
        match (&self.propagation, self.orphan_dependents) {
            (Some(p), _) => p.as_str(),
            (None, Some(true)) => "Orphan",
            (None, Some(false)) => "Background",
            (None, None) => "Background",
        }
    }
}

/// Deletes one object. Returns (the response object, whether it is gone now).
pub fn delete_object(
    state: &State,
    target: &Target,
    name: &str,
    opts: &DeleteOpts,
) -> ApiResult<(Value, bool)> {
    let rt = &target.rt;
    let gr = rt.group_resource();
    let storage = storage_key(rt);
    let ns = target.ns().to_string();
    let key = object_key(&ns, name);
    for _attempt in 0..8 {
        let Some(cur) = state.store.get(&storage, &key) else {
            return Err(ApiError::not_found(&gr, name));
        };
        if let Some(uid) = &opts.precondition_uid
            && uid != meta::uid(&cur)
        {
            return Err(ApiError::conflict(
                &gr,
                name,
                &format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                    meta::uid(&cur)
                ),
            ));
        }
        if let Some(rv) = &opts.precondition_rv
            && rv != meta::resource_version(&cur)
        {
            return Err(ApiError::conflict(
                &gr,
                name,
                &format!(
                    "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                    meta::resource_version(&cur)
                ),
            ));
        }
        let mut fins = meta::finalizers(&cur);
        let policy = opts.policy();
        let graceful_ns = rt.group.is_empty() && rt.plural == "namespaces";
        let mut updated = (*cur).clone();
        let mut needs_update = false;
        match policy {
            "Orphan" if !fins.iter().any(|f| f == "orphan") => {
                fins.push("orphan".into());
                needs_update = true;
            }
            "Foreground" if !fins.iter().any(|f| f == "foregroundDeletion") => {
                fins.push("foregroundDeletion".into());
                needs_update = true;
            }
            _ => {}
        }
        // Orphan/foreground finalizers only matter if something depends on the object.
        if needs_update && !crate::controllers::has_dependents(state, meta::uid(&cur)) && !graceful_ns {
            fins.retain(|f| f != "orphan" && f != "foregroundDeletion");
            needs_update = !meta::finalizers(&cur).is_empty() || fins != meta::finalizers(&cur);
        }
        let graceful = !fins.is_empty() || (graceful_ns && has_spec_finalizers(rt, &cur));
        if !graceful {
            if opts.dry_run {
                return Ok((with_type_meta(&cur, rt, &target.version), true));
            }
            match state
                .store
                .delete(&storage, &key, Some(meta::resource_version(&cur)))
            {
                Ok(last) => return Ok((with_type_meta(&last, rt, &target.version), true)),
                Err(WriteError::Conflict) => continue,
                Err(_) => return Err(ApiError::not_found(&gr, name)),
            }
        }
        if meta::deletion_timestamp(&cur).is_none() {
            let nm = meta::meta_mut(&mut updated);
            nm.insert("deletionTimestamp".into(), json!(meta::now_rfc3339()));
            nm.insert("deletionGracePeriodSeconds".into(), json!(0));
            if rt.tracks_generation() && meta::generation(&cur) > 0 {
                nm.insert("generation".into(), json!(meta::generation(&cur) + 1));
            }
            if graceful_ns {
                meta::set_path(&mut updated, "status.phase", json!("Terminating"));
            }
            needs_update = true;
        }
        if !needs_update {
            return Ok((with_type_meta(&cur, rt, &target.version), false));
        }
        meta::set_finalizers(&mut updated, fins);
        if opts.dry_run {
            return Ok((with_type_meta(&updated, rt, &target.version), false));
        }
        match state
            .store
            .update(&storage, &key, updated, Some(meta::resource_version(&cur)))
        {
            Ok(stored) => return Ok((with_type_meta(&stored, rt, &target.version), false)),
            Err(WriteError::Conflict) => continue,
            Err(_) => return Err(ApiError::not_found(&gr, name)),
        }
    }
    Err(ApiError::modified(&gr, name))
}

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
    if !crate::admission::any_configured(state) {
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
    let review = crate::admission::Review {
        target: &t,
        operation: crate::admission::Operation::Delete,
        object: None,
        old_object: Some(&cur),
        user: &req.user,
        dry_run,
        field_manager: "",
    };
    crate::admission::validate(state, &review, &mut warnings).await?;
    Ok(warnings)
}

async fn delete(state: &State, req: &Request, accept: &Accept, target: &Target) -> ApiResult<Response<Body>> {
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

async fn delete_collection(
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
