//! Request and response plumbing: parsed requests, content negotiation, response bodies.

use std::collections::HashMap;
use std::convert::Infallible;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use serde_json::Value;

use crate::apimachinery::status::ApiError;

pub type Body = BoxBody<Bytes, Infallible>;

/// The largest request body kube-apiserver accepts (3 MiB).
pub const MAX_BODY: usize = 3 * 1024 * 1024;

pub use crate::auth::authn::User;

/// A request with its body read and its query parsed.
pub struct Request {
    pub method: Method,
    pub path: String,
    pub query: Query,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub user: User,
}

impl Request {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    pub fn content_type(&self) -> &str {
        self.header("content-type").split(';').next().unwrap_or("").trim()
    }

    pub fn user_agent(&self) -> &str {
        self.header("user-agent")
    }
}

/// Query parameters (the first value of each).
#[derive(Default, Debug, Clone)]
pub struct Query(HashMap<String, Vec<String>>);

impl Query {
    pub fn parse(q: Option<&str>) -> Self {
        let mut m: HashMap<String, Vec<String>> = HashMap::new();
        if let Some(q) = q {
            for (k, v) in form_urlencoded::parse(q.as_bytes()) {
                m.entry(k.into_owned()).or_default().push(v.into_owned());
            }
        }
        Query(m)
    }

    pub fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).and_then(|v| v.first()).map(String::as_str)
    }

    pub fn all(&self, k: &str) -> &[String] {
        self.0.get(k).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn str(&self, k: &str) -> &str {
        self.get(k).unwrap_or("")
    }

    pub fn flag(&self, k: &str) -> Result<bool, ApiError> {
        match self.get(k) {
            None | Some("") => Ok(false),
            Some("true") | Some("1") | Some("True") => Ok(true),
            Some("false") | Some("0") | Some("False") => Ok(false),
            Some(v) => Err(ApiError::bad_request(format!(
                "invalid boolean value {v:?} for parameter {k:?}"
            ))),
        }
    }

    pub fn int(&self, k: &str) -> Result<Option<i64>, ApiError> {
        match self.get(k) {
            None | Some("") => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| {
                ApiError::bad_request(format!("strconv.ParseInt: parsing {v:?}: invalid syntax"))
            }),
        }
    }

    /// `dryRun=All` (the only value kube-apiserver accepts).
    pub fn dry_run(&self) -> Result<bool, ApiError> {
        let v = self.all("dryRun");
        if v.is_empty() {
            return Ok(false);
        }
        for d in v {
            if d != "All" {
                return Err(ApiError::invalid(
                    "meta.k8s.io",
                    "CreateOptions",
                    "",
                    vec![crate::apimachinery::status::Cause::not_supported(
                        "dryRun",
                        &Value::String(d.clone()),
                        &["All".to_string()],
                    )],
                ));
            }
        }
        Ok(true)
    }
}

/// What the client asked to get back.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Accept {
    /// `as=Table` in meta.k8s.io/v1 or v1beta1 (the version).
    pub table: Option<String>,
    /// `as=PartialObjectMetadata` / `PartialObjectMetadataList` (the version).
    pub partial_metadata: Option<String>,
    /// `as=APIGroupDiscoveryList` in apidiscovery.k8s.io (v2 or v2beta1).
    pub aggregated_discovery: Option<String>,
    pub yaml: bool,
    /// Plain JSON (or */*) is acceptable.
    pub json: bool,
}

impl Accept {
    pub fn parse(header: &str) -> Self {
        let mut a = Accept::default();
        if header.trim().is_empty() {
            a.json = true;
            return a;
        }
        for item in header.split(',') {
            let mut parts = item.split(';').map(str::trim);
            let media = parts.next().unwrap_or("").to_ascii_lowercase();
            let mut params: HashMap<String, String> = HashMap::new();
            for p in parts {
                if let Some((k, v)) = p.split_once('=') {
                    params.insert(k.trim().to_string(), v.trim().to_string());
                }
            }
            let as_ = params.get("as").map(String::as_str);
            let g = params.get("g").map(String::as_str);
            let v = params.get("v").cloned().unwrap_or_default();
            match (media.as_str(), as_, g) {
                ("application/json", Some("Table"), Some("meta.k8s.io"))
                    if (v == "v1" || v == "v1beta1") && a.table.is_none() =>
                {
                    a.table = Some(v);
                }
                (
                    "application/json",
                    Some("PartialObjectMetadata" | "PartialObjectMetadataList"),
                    Some("meta.k8s.io"),
                ) if (v == "v1" || v == "v1beta1") && a.partial_metadata.is_none() => {
                    a.partial_metadata = Some(v);
                }
                ("application/json", Some("APIGroupDiscoveryList"), Some("apidiscovery.k8s.io"))
                    if (v == "v2" || v == "v2beta1") && a.aggregated_discovery.is_none() =>
                {
                    a.aggregated_discovery = Some(v);
                }
                ("application/json" | "*/*" | "application/*", None, _) => a.json = true,
                ("application/yaml", None, _) if !a.json => {
                    a.yaml = true;
                }
                _ => {}
            }
        }
        a
    }

    /// Whether any representation we can produce was asked for.
    pub fn acceptable(&self) -> bool {
        self.json
            || self.yaml
            || self.table.is_some()
            || self.partial_metadata.is_some()
            || self.aggregated_discovery.is_some()
    }
}

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).map_err(|e| match e {}).boxed()
}

/// A JSON (or YAML, if that is what the client asked for) response.
pub fn object_response(code: u16, v: &Value, accept: &Accept) -> Response<Body> {
    if accept.yaml && !accept.json {
        let text = serde_saphyr::to_string(v).unwrap_or_default();
        return Response::builder()
            .status(code)
            .header(header::CONTENT_TYPE, "application/yaml")
            .body(full(text))
            .expect("valid response");
    }
    json_response(code, v)
}

pub fn json_response(code: u16, v: &Value) -> Response<Body> {
    let body = serde_json::to_vec(v).unwrap_or_default();
    Response::builder()
        .status(code)
        .header(header::CONTENT_TYPE, "application/json")
        .header("audit-id", uuid::Uuid::new_v4().to_string())
        .body(full(body))
        .expect("valid response")
}

pub fn error_response(e: &ApiError) -> Response<Body> {
    let mut r = json_response(e.code, &e.to_status());
    if let Some(s) = e.retry_after {
        r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(s));
    }
    if e.code == 401 {
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"kubernetes\""),
        );
    }
    r
}

pub fn text_response(code: StatusCode, text: impl Into<String>) -> Response<Body> {
    Response::builder()
        .status(code)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .body(full(text.into()))
        .expect("valid response")
}

/// Decodes a request body (JSON, YAML, or Kubernetes protobuf of the OpenAPI definition
/// `proto`) into a JSON value.
pub fn decode_body(req: &Request, proto: Option<&str>) -> Result<Value, ApiError> {
    if req.body.is_empty() {
        return Err(ApiError::bad_request("the body of the request was empty"));
    }
    let ct = req.content_type();
    match ct {
        ""
        | "application/json"
        | "application/merge-patch+json"
        | "application/json-patch+json"
        | "application/strategic-merge-patch+json"
        | "*/*" => serde_json::from_slice(&req.body).or_else(|e| {
            if ct.is_empty() {
                decode_yaml(&req.body)
            } else {
                Err(ApiError::bad_request(format!("error decoding JSON: {e}")))
            }
        }),
        "application/yaml" | "application/apply-patch+yaml" => decode_yaml(&req.body),
        "application/vnd.kubernetes.protobuf" => match proto {
            Some(def) => crate::encoding::protobuf::decode_envelope(&req.body, def)
                .map_err(|e| ApiError::bad_request(format!("error decoding protobuf: {e}"))),
            None => Err(ApiError::unsupported_media_type(&[
                "application/json",
                "application/yaml",
            ])),
        },
        _ => Err(ApiError::unsupported_media_type(&[
            "application/json",
            "application/yaml",
        ])),
    }
}

fn decode_yaml(body: &[u8]) -> Result<Value, ApiError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::bad_request("error decoding YAML: the body is not valid UTF-8"))?;
    if let Ok(v) = serde_json::from_str::<Value>(text) {
        return Ok(v);
    }
    serde_saphyr::from_str::<Value>(text)
        .map_err(|e| ApiError::bad_request(format!("error converting YAML to JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubectl_table_accept() {
        let a = Accept::parse(
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json",
        );
        assert_eq!(a.table.as_deref(), Some("v1"));
        assert!(a.json);
    }

    #[test]
    fn aggregated_discovery_accept() {
        let a = Accept::parse(
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json",
        );
        assert_eq!(a.aggregated_discovery.as_deref(), Some("v2"));
        let b = Accept::parse("application/vnd.kubernetes.protobuf");
        assert!(!b.acceptable());
    }
}
