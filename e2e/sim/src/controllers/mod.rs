//! The control-plane loops a real cluster runs beside the API server, driven by the store's
//! event log: CRD establishing and cleanup (apiextensions-apiserver), namespace deletion,
//! garbage collection, the ServiceAccount, root CA and legacy token controllers, and
//! ClusterRole aggregation (kube-controller-manager).
//!
//! They write through [`crate::registry`] as the cluster's own components (no admission
//! webhooks), as kube-controller-manager's clients would through the API.

mod client;
mod clusterroles;
mod crd;
mod gc;
mod namespace;
mod serviceaccounts;

use std::sync::Arc;

use crate::apimachinery::meta;
use crate::controllers::clusterroles::aggregate_cluster_roles;
use crate::controllers::crd::{CRD_STORAGE, reconcile_crd};
use crate::controllers::gc::{gc_dangling, gc_deleting_owner, gc_owner_gone, gc_sweep};
use crate::controllers::namespace::reconcile_namespaces;
use crate::controllers::serviceaccounts::{
    ROOT_CA, ensure_namespace_objects, reconcile_token_secret, service_account_gone,
};
use crate::state::State;
use crate::storage::store::{Event, EventType, ReadError};

pub fn spawn(state: Arc<State>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut notify = state.store.subscribe();
        let mut cursor = state.store.current_rv();
        reconcile_all(&state);
        loop {
            match state.store.all_events_after(cursor) {
                Ok((events, now)) => {
                    for e in &events {
                        handle(&state, e);
                    }
                    cursor = now;
                }
                Err(ReadError::TooOld(..)) | Err(ReadError::TooLarge(..)) => {
                    cursor = state.store.current_rv();
                    reconcile_all(&state);
                }
            }
            reconcile_namespaces(&state);
            tokio::select! {
                r = notify.changed() => if r.is_err() { return },
                _ = state.shutdown.cancelled() => return,
            }
        }
    })
}

fn reconcile_all(state: &State) {
    let (_, crds) = state.store.snapshot(CRD_STORAGE);
    for (_, crd) in crds.iter() {
        reconcile_crd(state, crd);
    }
    let (_, namespaces) = state.store.snapshot("/namespaces");
    for ns in namespaces.values() {
        ensure_namespace_objects(state, meta::name(ns));
    }
    let (_, secrets) = state.store.snapshot("/secrets");
    for s in secrets.values() {
        reconcile_token_secret(state, s);
    }
    aggregate_cluster_roles(state);
    gc_sweep(state);
}

fn handle(state: &State, e: &Event) {
    if &*e.storage == CRD_STORAGE {
        match e.kind {
            EventType::Deleted => {
                if let Some(rt) = crate::apis::crd::resource_type(&e.object) {
                    state.registry_mut().remove(&rt.group, &rt.plural);
                    state.openapi.invalidate();
                }
            }
            _ => {
                if let Some(cur) = state.store.get(CRD_STORAGE, &e.key) {
                    reconcile_crd(state, &cur);
                }
            }
        }
    }
    match (&*e.storage, e.kind) {
        ("/namespaces", EventType::Added | EventType::Modified) => ensure_namespace_objects(state, &e.key),
        ("/configmaps", EventType::Modified | EventType::Deleted) if meta::name(&e.object) == ROOT_CA => {
            ensure_namespace_objects(state, meta::namespace(&e.object))
        }
        ("/secrets", EventType::Added | EventType::Modified) => {
            if let Some(cur) = state.store.get(&e.storage, &e.key) {
                reconcile_token_secret(state, &cur);
            }
        }
        ("/serviceaccounts", EventType::Deleted) => service_account_gone(state, &e.object),
        ("/serviceaccounts", EventType::Added) => {
            // token Secrets created before their ServiceAccount
            let (_, secrets) = state.store.snapshot("/secrets");
            let prefix = format!("{}/", meta::namespace(&e.object));
            for (_, s) in secrets
                .range(prefix.clone()..)
                .take_while(|(k, _)| k.starts_with(&prefix))
            {
                reconcile_token_secret(state, s);
            }
        }
        ("rbac.authorization.k8s.io/clusterroles", _) => aggregate_cluster_roles(state),
        _ => {}
    }
    match e.kind {
        EventType::Deleted => {
            gc_owner_gone(state, meta::uid(&e.object));
            // an owner waiting in foreground deletion may be free to go now
            for owner in meta::owner_uids(&e.object) {
                if let Some((s, o)) = state.store.by_uid(&owner)
                    && meta::deletion_timestamp(&o).is_some()
                {
                    gc_deleting_owner(state, &s, &o);
                }
            }
        }
        EventType::Modified if meta::deletion_timestamp(&e.object).is_some() => {
            if let Some(cur) = state.store.get(&e.storage, &e.key) {
                gc_deleting_owner(state, &e.storage, &cur);
            }
        }
        EventType::Added if !meta::owner_uids(&e.object).is_empty() => {
            gc_dangling(state, &e.storage, &e.object)
        }
        _ => {}
    }
}
