//! The generic store every create and update goes through, as kube-apiserver's
//! `registry/generic/registry.Store`: prepared writes through admission into storage,
//! no-op writes, dry runs, and the delete that follows the last finalizer.

use serde_json::{Value, json};

use crate::apimachinery::meta;
use crate::apimachinery::status::{ApiError, ApiResult, GroupResource};
use crate::apis::types::ResourceType;
use crate::registry::rest::{Prepared, WriteOpts, prepare, storage_key, with_type_meta};
use crate::state::{State, Target};
use crate::storage::store::{WriteError, object_key};

/// A write's result: the object and the warnings to return.
pub struct Written {
    pub object: Value,
    pub warnings: Vec<String>,
    /// The object was created (201) rather than updated (200).
    pub created: bool,
}

/// The write pipeline shared by create, update, patch and the emulator's own controllers
/// (which are not subject to admission webhooks).
pub fn finish_write(
    state: &State,
    target: &Target,
    old: Option<&Value>,
    new: Value,
    opts: &WriteOpts,
    operation: crate::registry::managed::Operation,
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
    operation: crate::registry::managed::Operation,
) -> ApiResult<Written> {
    let mut p = prepare(target, old, new, opts, operation)?;
    if crate::admission::webhook::any_configured(state) {
        let operation_kind = if old.is_none() {
            crate::admission::webhook::Operation::Create
        } else {
            crate::admission::webhook::Operation::Update
        };
        let review = |object| crate::admission::webhook::Review {
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
        let mutated = crate::admission::webhook::mutate(state, &review(&candidate), &mut warnings).await?;
        if let Some(mutated) = mutated {
            // a mutated object is defaulted and validated again
            let keep = std::mem::take(&mut p.warnings);
            p = prepare(target, old, mutated, opts, operation)?;
            p.warnings.splice(0..0, keep);
        }
        let fin = p.object.clone();
        crate::admission::webhook::validate(state, &review(&fin), &mut warnings).await?;
        p.warnings.extend(warnings);
    }
    commit(state, target, old, p, opts)
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
        crate::registry::managed::Operation::Update,
    )
}

/// Objects are stored with the type meta of the storage version.
fn strip_type_meta_for_storage(rt: &ResourceType, obj: Value) -> Value {
    with_type_meta(&obj, rt, &rt.storage_version().name)
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
