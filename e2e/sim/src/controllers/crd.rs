//! The apiextensions-apiserver controllers: a CustomResourceDefinition is established and
//! served, and on deletion its instances go before the CRD does.

use serde_json::{Value, json};

use crate::apimachinery::meta;
use crate::apis::crd::CLEANUP_FINALIZER;
use crate::controllers::client::{delete, write};
use crate::state::State;

pub(super) const CRD_STORAGE: &str = "apiextensions.k8s.io/customresourcedefinitions";

pub(super) fn reconcile_crd(state: &State, crd: &Value) {
    let Some(rt) = crate::apis::crd::resource_type(crd) else {
        return;
    };
    let storage = rt.storage_key();
    if meta::deletion_timestamp(crd).is_some() {
        // delete every instance, then let the CRD go
        let (_, objs) = state.store.snapshot(&storage);
        for (_, o) in objs.iter() {
            if meta::deletion_timestamp(o).is_none() {
                delete(state, &storage, o);
            }
        }
        let remaining = state.store.snapshot(&storage).1.len();
        if remaining == 0 {
            let mut new = crd.clone();
            let fins: Vec<String> = meta::finalizers(crd)
                .into_iter()
                .filter(|f| f != CLEANUP_FINALIZER)
                .collect();
            meta::set_finalizers(&mut new, fins);
            write(state, CRD_STORAGE, crd, new, "kube-apiserver", None);
        } else {
            let mut new = crd.clone();
            let mut status = crd.get("status").cloned().unwrap_or(json!({}));
            let conds = status
                .as_object_mut()
                .map(|s| s.entry("conditions").or_insert(json!([])))
                .and_then(Value::as_array_mut);
            if let Some(conds) = conds
                && !conds
                    .iter()
                    .any(|c| c.get("type").and_then(Value::as_str) == Some("Terminating"))
            {
                conds.push(json!({"type": "Terminating", "status": "True", "lastTransitionTime": meta::now_rfc3339(), "reason": "InstanceDeletionInProgress", "message": "CustomResource deletion is in progress"}));
                new["status"] = status;
                write(state, CRD_STORAGE, crd, new, "kube-apiserver", Some("status"));
            }
        }
        return;
    }
    let changed = state
        .registry()
        .by_group_resource(&rt.group, &rt.plural)
        .is_none_or(|cur| {
            cur.versions
                .iter()
                .map(|v| (&v.name, v.served, v.storage, &v.schema, v.status))
                .collect::<Vec<_>>()
                != rt
                    .versions
                    .iter()
                    .map(|v| (&v.name, v.served, v.storage, &v.schema, v.status))
                    .collect::<Vec<_>>()
                || cur.short_names != rt.short_names
                || cur.kind != rt.kind
                || cur.namespaced != rt.namespaced
                || cur.categories != rt.categories
                || cur.versions.iter().map(|v| &v.columns).collect::<Vec<_>>()
                    != rt.versions.iter().map(|v| &v.columns).collect::<Vec<_>>()
        });
    if changed {
        state.registry_mut().upsert(rt);
        state.openapi.invalidate();
    }
    let status = crate::apis::crd::established_status(crd, &meta::now_rfc3339());
    if crd.get("status") != Some(&status) {
        let mut new = crd.clone();
        new["status"] = status;
        write(state, CRD_STORAGE, crd, new, "kube-apiserver", Some("status"));
    }
}
