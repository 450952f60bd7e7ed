//! The garbage collector: dependents of deleted owners, foreground and orphan deletion,
//! dangling owner references.

use serde_json::Value;

use crate::apimachinery::meta;
use crate::controllers::client::{delete, write};
use crate::state::State;

/// An owner is gone: delete dependents that have no owner left, or drop the dangling
/// reference from those that still have one.
pub(super) fn gc_owner_gone(state: &State, uid: &str) {
    if uid.is_empty() {
        return;
    }
    for (storage, o) in state.store.dependents_of(uid) {
        let owners = meta::owner_uids(&o);
        if owners.iter().all(|u| !state.store.uid_exists(u)) {
            if meta::deletion_timestamp(&o).is_none() {
                delete(state, &storage, &o);
            }
        } else {
            let mut new = (*o).clone();
            remove_owner_ref(&mut new, uid);
            write(state, &storage, &o, new, "kube-controller-manager", None);
        }
    }
}

fn remove_owner_ref(obj: &mut Value, uid: &str) {
    let md = meta::meta_mut(obj);
    if let Some(refs) = md.get_mut("ownerReferences").and_then(Value::as_array_mut) {
        refs.retain(|r| r.get("uid").and_then(Value::as_str) != Some(uid));
        if refs.is_empty() {
            md.remove("ownerReferences");
        }
    }
}

/// An owner being deleted with the `orphan` or `foregroundDeletion` finalizer.
pub(super) fn gc_deleting_owner(state: &State, storage: &str, owner: &Value) {
    let fins = meta::finalizers(owner);
    let uid = meta::uid(owner).to_string();
    let orphan = fins.iter().any(|f| f == "orphan");
    let foreground = fins.iter().any(|f| f == "foregroundDeletion");
    if !orphan && !foreground {
        return;
    }
    let dependents = state.store.dependents_of(&uid);
    if orphan {
        for (s, d) in &dependents {
            let mut new = (**d).clone();
            remove_owner_ref(&mut new, &uid);
            write(state, s, d, new, "kube-controller-manager", None);
        }
        let mut new = owner.clone();
        meta::set_finalizers(
            &mut new,
            fins.iter().filter(|f| *f != "orphan").cloned().collect(),
        );
        write(state, storage, owner, new, "kube-controller-manager", None);
        return;
    }
    // foreground: dependents go first, then the owner
    if dependents.is_empty() {
        let mut new = owner.clone();
        meta::set_finalizers(
            &mut new,
            fins.iter()
                .filter(|f| *f != "foregroundDeletion")
                .cloned()
                .collect(),
        );
        write(state, storage, owner, new, "kube-controller-manager", None);
    } else {
        for (s, d) in &dependents {
            if meta::deletion_timestamp(d).is_none() {
                delete(state, s, d);
            }
        }
    }
}

/// A new object whose owners do not exist is garbage.
pub(super) fn gc_dangling(state: &State, storage: &str, obj: &Value) {
    let owners = meta::owner_uids(obj);
    if !owners.is_empty() && owners.iter().all(|u| !state.store.uid_exists(u)) {
        delete(state, storage, obj);
    }
}

/// Full pass: dependents of vanished owners, and owners waiting for foreground/orphan.
pub(super) fn gc_sweep(state: &State) {
    let (_, tables) = state.store.all_tables();
    for (storage, table) in &tables {
        for o in table.values() {
            let owners = meta::owner_uids(o);
            if !owners.is_empty()
                && owners.iter().all(|u| !state.store.uid_exists(u))
                && meta::deletion_timestamp(o).is_none()
            {
                delete(state, storage, o);
            }
            if meta::deletion_timestamp(o).is_some() {
                gc_deleting_owner(state, storage, o);
            }
        }
    }
}
