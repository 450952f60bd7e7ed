//! Comparison of desired manifests with live objects. A live object is in sync when every
//! field the manifest sets has that value live; fields the manifest does not set (server
//! defaults, status, metadata the server owns) do not count, and quantities compare by value
//! (`0.5` equals `500m`, as the API server canonicalizes them). Both sides are normalized by
//! the Application's ignoreDifferences first ([`super::ignore::Normalizer::normalize_pair`]).

use serde_json::Value;

use hubspoke_kyverno::pattern::parse_quantity;

/// Fields of metadata a manifest may carry but the server owns.
const SERVER_METADATA: &[&str] = &[
    "creationTimestamp",
    "resourceVersion",
    "uid",
    "generation",
    "managedFields",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
];

fn empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::String(s) => s.is_empty(),
        _ => false,
    }
}

fn scalar_eq(desired: &Value, live: &Value) -> bool {
    match (desired, live) {
        (Value::String(a), Value::String(b)) => {
            a == b || matches!((parse_quantity(a), parse_quantity(b)), (Some(x), Some(y)) if x == y)
        }
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (Value::Number(a), Value::String(b)) | (Value::String(b), Value::Number(a)) => {
            b.parse::<f64>().ok() == a.as_f64()
        }
        (a, b) => a == b,
    }
}

/// Does `live` carry every field `desired` sets?
pub fn satisfies(desired: &Value, live: &Value) -> bool {
    subset(desired, live, 0)
}

/// Does the live value (a field's, not an object's) carry every field the desired one sets?
pub fn contains(desired: &Value, live: &Value) -> bool {
    subset(desired, live, 2)
}

fn subset(desired: &Value, live: &Value, depth: usize) -> bool {
    match desired {
        Value::Object(dm) => {
            let Value::Object(lm) = live else {
                return empty(desired) && live.is_null();
            };
            dm.iter().all(|(k, dv)| {
                if depth == 0 && k == "status" {
                    return true;
                }
                if depth == 1 && SERVER_METADATA.contains(&k.as_str()) {
                    return true;
                }
                match lm.get(k) {
                    Some(lv) => subset(dv, lv, depth + 1),
                    None => empty(dv),
                }
            })
        }
        Value::Array(da) => {
            let Value::Array(la) = live else {
                return da.is_empty() && live.is_null();
            };
            da.len() == la.len() && da.iter().zip(la).all(|(d, l)| subset(d, l, depth + 1))
        }
        Value::Null => true,
        scalar => scalar_eq(scalar, live),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_do_not_count_but_drift_does() {
        let desired = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "c", "image": "nginx:1.27", "resources": {"limits": {"cpu": "0.5"}}}]}}}});
        let mut live = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "uid": "u", "labels": {"app": "web"}},
            "spec": {"replicas": 2, "revisionHistoryLimit": 10, "template": {"spec": {"containers": [{"name": "c", "image": "nginx:1.27",
                "imagePullPolicy": "IfNotPresent", "resources": {"limits": {"cpu": "500m"}}}], "restartPolicy": "Always"}}},
            "status": {"replicas": 2}});
        assert!(satisfies(&desired, &live));
        live["spec"]["replicas"] = json!(5);
        assert!(!satisfies(&desired, &live));
        live["spec"]["replicas"] = json!(2);
        live["metadata"]["labels"] = json!({});
        assert!(!satisfies(&desired, &live));
    }
}
