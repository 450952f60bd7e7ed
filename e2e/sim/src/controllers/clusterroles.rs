//! The clusterrole-aggregation controller.

use serde_json::{Value, json};

use crate::apimachinery::meta;
use crate::controllers::client::write;
use crate::state::State;

/// The clusterrole-aggregation controller: a ClusterRole with an aggregationRule gets the
/// rules of every ClusterRole its selectors match.
pub(super) fn aggregate_cluster_roles(state: &State) {
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
