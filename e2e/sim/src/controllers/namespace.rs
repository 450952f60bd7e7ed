//! The namespace controller: a terminating namespace's content is deleted, its conditions
//! report what remains, and the namespace goes when it is empty.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde_json::{Value, json};

use crate::apimachinery::meta;
use crate::controllers::client::{delete, write};
use crate::state::State;

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

pub(super) fn reconcile_namespaces(state: &State) {
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
