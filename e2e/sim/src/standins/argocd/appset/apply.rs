//! How the ApplicationSet controller writes an Application over the live one
//! (applicationset/utils/createOrUpdate.go and createOrUpdateInCluster, v3.2.0): the
//! ignored differences, the preserved annotations and labels, and the JSON merge patch
//! controller-runtime's `MergeFrom` sends.

use serde_json::{Map, Value, json};

/// `ignoreApplicationDifferences` (applicationset/utils/createOrUpdate.go): the fields its
/// rules name (all Applications, or the one a rule's `name` says) are taken out of both the
/// live and the generated Application before the update, so the update leaves their live
/// values alone. Here: the generated Application gets the live values (or loses the field
/// where the live one has none), and is then written whole.
pub fn keep_ignored(spec: &Value, app_name: &str, live: &Value, app: &mut Value) -> Result<(), String> {
    for rule in spec
        .get("ignoreApplicationDifferences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = rule.get("name").and_then(Value::as_str).unwrap_or("");
        if !name.is_empty() && name != app_name {
            continue;
        }
        if rule
            .get("jqPathExpressions")
            .and_then(Value::as_array)
            .is_some_and(|e| !e.is_empty())
        {
            return Err(
                "failed to apply ignore differences: jqPathExpressions are not evaluated by the hubspoke sim; name the fields with jsonPointers"
                    .into(),
            );
        }
        for p in rule
            .get("jsonPointers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            match live.pointer(p) {
                Some(v) => set_pointer(app, p, v.clone()),
                None => remove_pointer(app, p),
            }
        }
    }
    Ok(())
}

fn unescape(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

/// Sets the value at a JSON pointer, creating the objects on the way.
fn set_pointer(doc: &mut Value, pointer: &str, value: Value) {
    let tokens: Vec<String> = pointer.split('/').skip(1).map(unescape).collect();
    let Some((last, parents)) = tokens.split_last() else {
        *doc = value;
        return;
    };
    let mut at = doc;
    for t in parents {
        if !at.is_object() && !at.is_array() {
            *at = json!({});
        }
        let next = match at {
            Value::Array(a) => t.parse::<usize>().ok().and_then(|i| a.get_mut(i)),
            Value::Object(m) => Some(m.entry(t.clone()).or_insert(json!({}))),
            _ => None,
        };
        let Some(next) = next else {
            return;
        };
        at = next;
    }
    match at {
        Value::Array(a) => {
            if let Some(x) = last.parse::<usize>().ok().and_then(|i| a.get_mut(i)) {
                *x = value;
            }
        }
        Value::Object(m) => {
            m.insert(last.clone(), value);
        }
        other => *other = json!({last.clone(): value}),
    }
}

/// Removes the value at a JSON pointer, if there is one.
fn remove_pointer(doc: &mut Value, pointer: &str) {
    let tokens: Vec<String> = pointer.split('/').skip(1).map(unescape).collect();
    let Some((last, parents)) = tokens.split_last() else {
        return;
    };
    let mut at = doc;
    for t in parents {
        at = match at {
            Value::Object(m) => match m.get_mut(t) {
                Some(x) => x,
                None => return,
            },
            Value::Array(a) => match t.parse::<usize>().ok().and_then(|i| a.get_mut(i)) {
                Some(x) => x,
                None => return,
            },
            _ => return,
        };
    }
    match at {
        Value::Object(m) => {
            m.remove(last);
        }
        Value::Array(a) => {
            if let Some(i) = last.parse::<usize>().ok().filter(|i| *i < a.len()) {
                a.remove(i);
            }
        }
        _ => {}
    }
}

/// The JSON merge patch (RFC 7386) turning `from` into `to`: changed fields set, fields
/// `to` lacks nulled, objects compared key by key, anything else replaced whole.
pub fn merge_diff(from: &Value, to: &Value) -> Value {
    match (from, to) {
        (Value::Object(f), Value::Object(t)) => {
            let mut out = Map::new();
            for k in f.keys().filter(|k| !t.contains_key(*k)) {
                out.insert(k.clone(), Value::Null);
            }
            for (k, tv) in t {
                match f.get(k) {
                    Some(fv) if fv == tv => {}
                    Some(fv) if fv.is_object() && tv.is_object() => {
                        out.insert(k.clone(), merge_diff(fv, tv));
                    }
                    _ => {
                        out.insert(k.clone(), tv.clone());
                    }
                }
            }
            Value::Object(out)
        }
        _ => to.clone(),
    }
}

/// The annotations every ApplicationSet keeps on its Applications (defaultPreservedAnnotations)
const PRESERVED_ANNOTATIONS: [&str; 2] = ["notified.notifications.argoproj.io", "argocd.argoproj.io/refresh"];

/// Annotations and labels the live Application keeps although the template lacks them: the
/// default ones and the set's `preservedFields`.
pub fn preserve_fields(spec: &Value, live: &Value, app: &mut Value) {
    let listed = |kind: &str| -> Vec<String> {
        spec.pointer(&format!("/preservedFields/{kind}"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect()
    };
    let mut annotations = listed("annotations");
    annotations.extend(PRESERVED_ANNOTATIONS.iter().map(|s| s.to_string()));
    for (field, keys) in [("annotations", annotations), ("labels", listed("labels"))] {
        for k in keys {
            if let Some(v) = live
                .pointer(&format!("/metadata/{field}"))
                .and_then(|m| m.get(&k))
            {
                app["metadata"][field][&k] = v.clone();
            }
        }
    }
}
