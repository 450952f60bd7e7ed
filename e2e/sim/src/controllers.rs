//! The control-plane loops a real cluster runs beside the API server: CRD establishing and
//! cleanup (apiextensions-apiserver), namespace deletion and garbage collection
//! (kube-controller-manager). They work on the store's event log.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde_json::{Value, json};

use crate::apimachinery::meta;
use crate::apis::crd::CLEANUP_FINALIZER;
use crate::registry::delete::{DeleteOpts, delete_object};
use crate::registry::generic::finish_write;
use crate::registry::managed::Operation;
use crate::registry::rest::{WriteOpts, with_type_meta};
use crate::state::{State, Target};
use crate::storage::store::{Event, EventType, ReadError, object_key};

const CRD_STORAGE: &str = "apiextensions.k8s.io/customresourcedefinitions";

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
fn write(state: &State, storage: &str, old: &Value, new: Value, manager: &str, sub: Option<&str>) {
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

fn delete(state: &State, storage: &str, obj: &Value) {
    let Some(t) = target_for(state, storage, obj, None) else {
        return;
    };
    if let Err(e) = delete_object(state, &t, meta::name(obj), &background())
        && e.code != 404
    {
        tracing::debug!(cluster = %state.name, error = %e, "controller delete failed");
    }
}

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

const SA_TOKEN_TYPE: &str = "kubernetes.io/service-account-token";
const SA_NAME_ANNOTATION: &str = "kubernetes.io/service-account.name";
const SA_UID_ANNOTATION: &str = "kubernetes.io/service-account.uid";
const ROOT_CA: &str = "kube-root-ca.crt";
const ROOT_CA_DESCRIPTION: &str = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.";

/// The `default` ServiceAccount (serviceaccount controller) and the `kube-root-ca.crt`
/// ConfigMap (root-ca-cert-publisher) of a namespace.
fn create(state: &State, plural: &str, ns: &str, obj: Value) {
    if let Err(e) =
        crate::registry::generic::create_internal(state, "", plural, Some(ns), obj, "kube-controller-manager")
        && e.code != 409
    {
        tracing::debug!(cluster = %state.name, namespace = ns, error = %e, "controller create failed; will retry on the next event");
    }
}

fn ensure_namespace_objects(state: &State, ns: &str) {
    match state.store.get("/namespaces", ns) {
        Some(n) if meta::deletion_timestamp(&n).is_none() => {}
        _ => return,
    }
    let manager = "kube-controller-manager";
    if state
        .store
        .get("/serviceaccounts", &object_key(ns, "default"))
        .is_none()
    {
        let sa = json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": ns}});
        create(state, "serviceaccounts", ns, sa);
    }
    let data = json!({"ca.crt": state.ca_pem});
    match state.store.get("/configmaps", &object_key(ns, ROOT_CA)) {
        None => {
            let cm = json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": ROOT_CA, "namespace": ns, "annotations": {"kubernetes.io/description": ROOT_CA_DESCRIPTION}},
                "data": data,
            });
            create(state, "configmaps", ns, cm);
        }
        Some(cm) if cm.get("data") != Some(&data) => {
            let mut new = (*cm).clone();
            new["data"] = data;
            write(state, "/configmaps", &cm, new, manager, None);
        }
        Some(_) => {}
    }
}

/// The legacy token controller: fills token Secrets of existing ServiceAccounts, deletes
/// those whose ServiceAccount is gone.
fn reconcile_token_secret(state: &State, secret: &Value) {
    if secret.get("type").and_then(Value::as_str) != Some(SA_TOKEN_TYPE)
        || meta::deletion_timestamp(secret).is_some()
    {
        return;
    }
    let ns = meta::namespace(secret);
    let Some(sa_name) = meta::meta(secret)
        .and_then(|m| m.get("annotations"))
        .and_then(|a| a.get(SA_NAME_ANNOTATION))
        .and_then(Value::as_str)
    else {
        return;
    };
    let Some(sa) = state.store.get("/serviceaccounts", &object_key(ns, sa_name)) else {
        delete(state, "/secrets", secret);
        return;
    };
    let recorded_uid = meta::meta(secret)
        .and_then(|m| m.get("annotations"))
        .and_then(|a| a.get(SA_UID_ANNOTATION))
        .and_then(Value::as_str);
    if recorded_uid.is_some_and(|u| u != meta::uid(&sa)) {
        delete(state, "/secrets", secret);
        return;
    }
    if secret.pointer("/data/token").is_some() && recorded_uid.is_some() {
        return;
    }
    use base64::Engine;
    let b64 = |s: &str| json!(base64::engine::general_purpose::STANDARD.encode(s));
    let token = state
        .signer
        .sign(&crate::auth::authn::legacy_claims(&sa, meta::name(secret)));
    let mut new = secret.clone();
    let md = meta::meta_mut(&mut new);
    let ann = md.entry("annotations").or_insert_with(|| json!({}));
    ann[SA_UID_ANNOTATION] = json!(meta::uid(&sa));
    let data = new
        .as_object_mut()
        .expect("object")
        .entry("data")
        .or_insert_with(|| json!({}));
    data["token"] = b64(&token);
    data["ca.crt"] = b64(&state.ca_pem);
    data["namespace"] = b64(ns);
    write(state, "/secrets", secret, new, "kube-controller-manager", None);
}

/// A deleted ServiceAccount takes its legacy token Secrets along.
fn service_account_gone(state: &State, sa: &Value) {
    let ns = meta::namespace(sa);
    let (_, secrets) = state.store.snapshot("/secrets");
    let prefix = format!("{ns}/");
    for (_, s) in secrets
        .range(prefix.clone()..)
        .take_while(|(k, _)| k.starts_with(&prefix))
    {
        let ann = meta::meta(s).and_then(|m| m.get("annotations"));
        if s.get("type").and_then(Value::as_str) == Some(SA_TOKEN_TYPE)
            && ann
                .and_then(|a| a.get(SA_NAME_ANNOTATION))
                .and_then(Value::as_str)
                == Some(meta::name(sa))
        {
            delete(state, "/secrets", s);
        }
    }
    // the serviceaccount controller brings `default` back
    if meta::name(sa) == "default" {
        ensure_namespace_objects(state, ns);
    }
}

/// The clusterrole-aggregation controller: a ClusterRole with an aggregationRule gets the
/// rules of every ClusterRole its selectors match.
fn aggregate_cluster_roles(state: &State) {
    let storage = "rbac.authorization.k8s.io/clusterroles";
    let (_, roles) = state.store.snapshot(storage);
    for role in roles.values() {
        let Some(selectors) = role
            .pointer("/aggregationRule/clusterRoleSelectors")
            .and_then(Value::as_array)
        else {
            continue;
        };
        let selectors: Vec<crate::apimachinery::selector::LabelSelector> = selectors
            .iter()
            .filter_map(|s| crate::apimachinery::selector::LabelSelector::from_label_selector(s).ok())
            .collect();
        let mut rules: Vec<Value> = Vec::new();
        for other in roles.values() {
            if meta::name(other) == meta::name(role)
                || !selectors.iter().any(|s| !s.is_empty() && s.matches(other))
            {
                continue;
            }
            for r in other.get("rules").and_then(Value::as_array).into_iter().flatten() {
                if !rules.contains(r) {
                    rules.push(r.clone());
                }
            }
        }
        let current = role.get("rules").cloned().unwrap_or(json!([]));
        if current != Value::Array(rules.clone()) {
            let mut new = (**role).clone();
            new["rules"] = Value::Array(rules);
            write(
                state,
                storage,
                role,
                new,
                "clusterrole-aggregation-controller",
                None,
            );
        }
    }
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

fn reconcile_crd(state: &State, crd: &Value) {
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

fn namespaced_storages(state: &State) -> HashSet<String> {
    state
        .registry()
        .types()
        .iter()
        .filter(|t| t.namespaced)
        .map(|t| t.storage_key())
        .collect()
}

fn condition(t: &str, status: &str, reason: &str, message: &str, now: &str) -> Value {
    json!({"type": t, "status": status, "lastTransitionTime": now, "reason": reason, "message": message})
}

fn reconcile_namespaces(state: &State) {
    let (_, namespaces) = state.store.snapshot("/namespaces");
    let terminating: Vec<Arc<Value>> = namespaces
        .values()
        .filter(|n| meta::deletion_timestamp(n).is_some())
        .cloned()
        .collect();
    if terminating.is_empty() {
        return;
    }
    let namespaced = namespaced_storages(state);
    for ns in terminating {
        let name = meta::name(&ns).to_string();
        let (_, tables) = state.store.all_tables();
        let mut remaining: Vec<(String, usize)> = Vec::new();
        let mut finalizers: HashMap<String, usize> = HashMap::new();
        for (storage, table) in &tables {
            if !namespaced.contains(&**storage) {
                continue;
            }
            let prefix = format!("{name}/");
            let mut count = 0;
            for (_, o) in table
                .range(prefix.clone()..)
                .take_while(|(k, _)| k.starts_with(&prefix))
            {
                count += 1;
                for f in meta::finalizers(o) {
                    *finalizers.entry(f).or_default() += 1;
                }
                if meta::deletion_timestamp(o).is_none() {
                    delete(state, storage, o);
                }
            }
            if count > 0 {
                let (group, plural) = storage.split_once('/').unwrap_or(("", storage));
                let gr = if group.is_empty() {
                    plural.to_string()
                } else {
                    format!("{plural}.{group}")
                };
                remaining.push((gr, count));
            }
        }
        let Some(cur) = state.store.get("/namespaces", &name) else {
            continue;
        };
        if remaining.is_empty() {
            let fins: Vec<Value> = cur
                .pointer("/spec/finalizers")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|f| f.as_str() != Some("kubernetes"))
                .cloned()
                .collect();
            if cur
                .pointer("/spec/finalizers")
                .and_then(Value::as_array)
                .map(Vec::len)
                .unwrap_or(0)
                != fins.len()
            {
                let mut new = (*cur).clone();
                meta::set_path(&mut new, "spec.finalizers", Value::Array(fins));
                write(state, "/namespaces", &cur, new, "kube-controller-manager", None);
            }
            continue;
        }
        remaining.sort();
        let now = meta::now_rfc3339();
        let rem_msg: Vec<String> = remaining
            .iter()
            .map(|(gr, n)| format!("{gr} has {n} resource instances"))
            .collect();
        let mut fin_list: Vec<(String, usize)> = finalizers.into_iter().collect();
        fin_list.sort();
        let fin_msg: Vec<String> = fin_list
            .iter()
            .map(|(f, n)| format!("{f} in {n} resource instances"))
            .collect();
        let mut conds = vec![
            condition(
                "NamespaceDeletionDiscoveryFailure",
                "False",
                "ResourcesDiscovered",
                "All resources successfully discovered",
                &now,
            ),
            condition(
                "NamespaceDeletionGroupVersionParsingFailure",
                "False",
                "ParsedGroupVersions",
                "All legacy kube types successfully parsed",
                &now,
            ),
            condition(
                "NamespaceDeletionContentFailure",
                "False",
                "ContentDeleted",
                "All content successfully deleted, may be waiting on finalization",
                &now,
            ),
            condition(
                "NamespaceContentRemaining",
                "True",
                "SomeResourcesRemain",
                &format!("Some resources are remaining: {}", rem_msg.join(", ")),
                &now,
            ),
        ];
        if fin_msg.is_empty() {
            conds.push(condition(
                "NamespaceFinalizersRemaining",
                "False",
                "ContentHasNoFinalizers",
                "All content-preserving finalizers finished",
                &now,
            ));
        } else {
            conds.push(condition(
                "NamespaceFinalizersRemaining",
                "True",
                "SomeFinalizersRemain",
                &format!(
                    "Some content in the namespace has finalizers remaining: {}",
                    fin_msg.join(", ")
                ),
                &now,
            ));
        }
        let strip = |v: &Value| -> Value {
            let mut v = v.clone();
            for c in v.as_array_mut().into_iter().flatten() {
                if let Some(m) = c.as_object_mut() {
                    m.remove("lastTransitionTime");
                }
            }
            v
        };
        let old_conds = cur.pointer("/status/conditions").cloned().unwrap_or(json!([]));
        if strip(&old_conds) != strip(&Value::Array(conds.clone())) {
            let mut new = (*cur).clone();
            meta::set_path(&mut new, "status.conditions", Value::Array(conds));
            write(
                state,
                "/namespaces",
                &cur,
                new,
                "kube-controller-manager",
                Some("status"),
            );
        }
    }
}

/// An owner is gone: delete dependents that have no owner left, or drop the dangling
/// reference from those that still have one.
fn gc_owner_gone(state: &State, uid: &str) {
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
fn gc_deleting_owner(state: &State, storage: &str, owner: &Value) {
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
fn gc_dangling(state: &State, storage: &str, obj: &Value) {
    let owners = meta::owner_uids(obj);
    if !owners.is_empty() && owners.iter().all(|u| !state.store.uid_exists(u)) {
        delete(state, storage, obj);
    }
}

/// Full pass: dependents of vanished owners, and owners waiting for foreground/orphan.
fn gc_sweep(state: &State) {
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
