//! LIST: selectors, resourceVersion semantics (NotOlderThan, Exact), pagination with
//! continue tokens, and Table / PartialObjectMetadata lists. The selectors and
//! resourceVersion rules are shared with watch and deletecollection.

use std::sync::Arc;

use base64::Engine;
use http::Response;
use serde_json::{Map, Value, json};

use crate::apimachinery::selector::{FieldSelector, LabelSelector};
use crate::apimachinery::status::{ApiError, ApiResult};
use crate::encoding::http::{Accept, Body, Request, object_response};
use crate::registry::rest::{storage_key, with_type_meta};
use crate::state::{State, Target};

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
pub(super) fn scope_range<'a>(
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

pub(super) fn list(
    state: &State,
    req: &Request,
    accept: &Accept,
    target: &Target,
) -> ApiResult<Response<Body>> {
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
        let t = crate::encoding::table::table(
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
