//! What a handler answers with: the object as asked for (Table, PartialObjectMetadata) and
//! the warnings of the write, as kube-apiserver's `transformResponseObject` and warning
//! headers.

use http::Response;
use serde_json::{Value, json};

use crate::encoding::http::{Accept, Body, Request, object_response};
use crate::state::Target;

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
pub(super) fn respond(
    req: &Request,
    accept: &Accept,
    target: &Target,
    code: u16,
    obj: &Value,
) -> Response<Body> {
    let obj = output_object(accept, target, obj, req.query.str("includeObject"));
    object_response(code, &obj, accept)
}

/// Applies `as=PartialObjectMetadata` / `as=Table` (with `includeObject`) to one object.
pub fn output_object(accept: &Accept, target: &Target, obj: &Value, include_object: &str) -> Value {
    if let Some(v) = &accept.table {
        return crate::encoding::table::table(
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
