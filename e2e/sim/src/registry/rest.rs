//! How a write is checked, defaulted and stamped before it is stored, as kube-apiserver's
//! `rest.BeforeCreate` / `BeforeUpdate` and the type strategies do it: type meta,
//! namespace, system metadata, generateName, the status split, defaults, schema and type
//! validation, generation and managed fields.

use serde_json::{Map, Value, json};

use crate::apimachinery::meta;
use crate::apimachinery::status::{ApiError, ApiResult, Cause};
use crate::apis::schema::{Checker, Mode, Node};
use crate::apis::types::ResourceType;
use crate::state::Target;

/// How unknown fields are treated (`fieldValidation`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldValidation {
    Ignore,
    Warn,
    Strict,
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

/// A write that passed defaulting, validation and metadata handling, not stored yet.
pub struct Prepared {
    pub object: Value,
    pub warnings: Vec<String>,
}

/// Checks, defaults, validates and stamps a write.
///
/// `old` is the stored object (None for create). `new` is the requested full object.
pub fn prepare(
    target: &Target,
    old: Option<&Value>,
    mut new: Value,
    opts: &WriteOpts,
    operation: crate::registry::managed::Operation,
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
    crate::registry::managed::track(
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
