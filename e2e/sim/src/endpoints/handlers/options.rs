//! Request options as kube-apiserver's handlers parse them: the write options of
//! CreateOptions, UpdateOptions and PatchOptions (dryRun, fieldManager, fieldValidation,
//! force) from the query, and DeleteOptions from the body or the query. The options
//! themselves belong to the registry, which also takes them from the cluster's own
//! components; parsing them from a request is the endpoints' part.

use serde_json::{Value, json};

use crate::apimachinery::status::{ApiError, ApiResult, Cause};
use crate::encoding::http::{Request, decode_body};
use crate::registry::delete::DeleteOpts;
use crate::registry::rest::{FieldValidation, Origin, WriteOpts};

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
}

/// The default field manager: the User-Agent up to its first '/', as kube-apiserver derives it.
fn manager_from_user_agent(ua: &str) -> String {
    let m = ua.split('/').next().unwrap_or("").trim();
    let m: String = m.chars().take(128).collect();
    if m.is_empty() { "unknown".into() } else { m }
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
}
