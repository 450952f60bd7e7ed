//! How the controllers read and write objects: at the storage version, as the cluster's
//! own components, through the registry without admission.

use serde_json::Value;

use crate::apimachinery::meta;
use crate::registry::delete::{DeleteOpts, delete_object};
use crate::registry::generic::finish_write;
use crate::registry::managed::Operation;
use crate::registry::rest::{WriteOpts, with_type_meta};
use crate::state::{State, Target};

fn background() -> DeleteOpts {
    DeleteOpts {
        propagation: Some("Background".into()),
        precondition_uid: None,
        precondition_rv: None,
        dry_run: false,
        orphan_dependents: None,
    }
}

/// The target of an object in a storage, at its storage version.
fn target_for(state: &State, storage: &str, obj: &Value, sub: Option<&str>) -> Option<Target> {
    let (group, plural) = storage.split_once('/')?;
    let rt = state.registry().by_group_resource(group, plural)?;
    let ns = meta::namespace(obj);
    Some(Target {
        version: rt.storage_version().name.clone(),
        namespace: (!ns.is_empty()).then(|| ns.to_string()),
        name: Some(meta::name(obj).to_string()),
        subresource: sub.map(str::to_string),
        rt,
    })
}

/// Writes `new` over `old` as one of the cluster's controllers.
pub(super) fn write(state: &State, storage: &str, old: &Value, new: Value, manager: &str, sub: Option<&str>) {
    let Some(t) = target_for(state, storage, old, sub) else {
        return;
    };
    let new = with_type_meta(&new, &t.rt, &t.version);
    if let Err(e) = finish_write(
        state,
        &t,
        Some(old),
        new,
        &WriteOpts::internal(manager),
        Operation::Update,
    ) {
        tracing::debug!(cluster = %state.name, error = %e, "controller write failed; will retry on the next event");
    }
}

pub(super) fn delete(state: &State, storage: &str, obj: &Value) {
    let Some(t) = target_for(state, storage, obj, None) else {
        return;
    };
    if let Err(e) = delete_object(state, &t, meta::name(obj), &background())
        && e.code != 404
    {
        tracing::debug!(cluster = %state.name, error = %e, "controller delete failed");
    }
}
