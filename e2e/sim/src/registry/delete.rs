//! Deletion, as kube-apiserver's generic store does it: preconditions, propagation policy
//! (the orphan and foregroundDeletion finalizers), graceful deletion while finalizers
//! remain, and the namespace's `spec.finalizers`.

use serde_json::{Value, json};

use crate::apimachinery::meta;
use crate::apimachinery::status::{ApiError, ApiResult};
use crate::registry::generic::has_spec_finalizers;
use crate::registry::rest::{storage_key, with_type_meta};
use crate::state::{State, Target};
use crate::storage::store::{WriteError, object_key};

/// Whether any object names `uid` as an owner.
pub fn has_dependents(state: &State, uid: &str) -> bool {
    !uid.is_empty() && !state.store.dependents_of(uid).is_empty()
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
        if needs_update && !crate::registry::delete::has_dependents(state, meta::uid(&cur)) && !graceful_ns {
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
