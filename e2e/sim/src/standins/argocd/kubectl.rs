//! What gitops-engine's kubectl resource operations do to one object (pkg/utils/kube/resource_ops.go
//! with k8s.io/kubectl's apply, replace and create), and the messages they print:
//! - client-side `kubectl apply` (the default): a missing object is created with the
//!   `kubectl.kubernetes.io/last-applied-configuration` annotation; an existing one gets a
//!   three-way merge patch (deletions from the last applied configuration, changes against the
//!   live object) or nothing ("unchanged"); `--validate` is the `fieldValidation` the server
//!   enforces (Strict, or Ignore with `Validate=false`);
//! - `--server-side` (ServerSideApply=true): an apply patch as the manager, conflicts forced;
//! - `kubectl replace` / `kubectl create` (Replace=true); Namespaces and CRDs are updated in
//!   place instead of replaced;
//! - `--dry-run=client`: nothing is sent; only reading the live object can fail.
//!
//! Differences: patches are JSON merge patches for every kind (kubectl uses strategic merge
//! patches for built-in kinds); a list is sent whole when the live one does not already hold
//! every desired field, which leaves what others added to a list's items only when nothing in
//! the list changed.

use kube::Client;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::ApiResource;
use serde_json::{Map, Value};

pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Where an object lives and how it is named in kubectl's output.
pub struct Target<'a> {
    pub ar: &'a ApiResource,
    pub namespaced: bool,
    pub namespace: &'a str,
    pub name: &'a str,
    /// `deployment.apps/web`
    pub printed: String,
}

impl Target<'_> {
    fn api(&self, client: &Client) -> Api<DynamicObject> {
        if self.namespaced {
            Api::namespaced_with(client.clone(), self.namespace, self.ar)
        } else {
            Api::all_with(client.clone(), self.ar)
        }
    }

    /// The collection URL with query parameters kube's PostParams cannot carry.
    fn collection_url(&self, query: &str) -> String {
        let ns = self.namespaced.then_some(self.namespace);
        format!(
            "{}?{query}",
            <DynamicObject as kube::Resource>::url_path(self.ar, ns)
        )
    }
}

fn api_message(e: kube::Error) -> String {
    match e {
        kube::Error::Api(s) => s.message,
        other => other.to_string(),
    }
}

/// Go's `json.Marshal` of an object (sorted keys, `<`, `>` and `&` escaped) with the newline
/// kubectl's encoder ends it with.
fn go_json(v: &Value) -> String {
    // Go sorts map keys; serde_json keeps insertion order when preserve_order is on
    fn sorted(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                Value::Object(keys.into_iter().map(|k| (k.clone(), sorted(&m[k]))).collect())
            }
            Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    let s = serde_json::to_string(&sorted(v)).unwrap_or_default();
    let s = s
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029");
    format!("{s}\n")
}

/// GetModifiedConfiguration: the object with the annotation holding itself (without that
/// annotation).
pub fn with_last_applied(obj: &Value) -> Value {
    let mut bare = obj.clone();
    if let Some(a) = bare
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    {
        a.remove(LAST_APPLIED);
        if a.is_empty()
            && let Some(m) = bare.get_mut("metadata").and_then(Value::as_object_mut)
        {
            m.remove("annotations");
        }
    }
    let mut out = obj.clone();
    let text = go_json(&bare);
    let meta = out
        .as_object_mut()
        .map(|o| o.entry("metadata").or_insert_with(|| Value::Object(Map::new())));
    if let Some(Value::Object(m)) = meta {
        let ann = m
            .entry("annotations")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(a) = ann.as_object_mut() {
            a.insert(LAST_APPLIED.into(), Value::String(text));
        }
    }
    out
}

/// The three-way merge patch of kubectl apply: what `modified` changes against `current`,
/// and what it dropped since `original` (the last applied configuration).
pub fn three_way(
    original: Option<&Map<String, Value>>,
    modified: &Map<String, Value>,
    current: &Map<String, Value>,
) -> Map<String, Value> {
    let mut patch = Map::new();
    if let Some(o) = original {
        for k in o.keys() {
            if !modified.contains_key(k) {
                patch.insert(k.clone(), Value::Null);
            }
        }
    }
    for (k, mv) in modified {
        let ov = original.and_then(|o| o.get(k)).and_then(Value::as_object);
        match (mv, current.get(k)) {
            (Value::Object(mm), Some(Value::Object(cm))) => {
                let sub = three_way(ov, mm, cm);
                if !sub.is_empty() {
                    patch.insert(k.clone(), Value::Object(sub));
                }
            }
            (Value::Array(_), Some(c @ Value::Array(_))) => {
                if !super::diff::contains(mv, c) {
                    patch.insert(k.clone(), mv.clone());
                }
            }
            (_, Some(c)) if c == mv => {}
            _ => {
                patch.insert(k.clone(), mv.clone());
            }
        }
    }
    patch
}

fn validation(validate: bool) -> &'static str {
    if validate { "Strict" } else { "Ignore" }
}

/// Client-side `kubectl apply`. Returns kubectl's output (with its warning when the live
/// object lacks the last-applied annotation) or the error Argo CD keeps.
pub async fn apply(
    client: &Client,
    t: &Target<'_>,
    obj: &Value,
    live: Option<&Value>,
    dry_run: bool,
    validate: bool,
    manager: &str,
) -> Result<String, String> {
    let modified = with_last_applied(obj);
    let Some(live) = live else {
        if dry_run {
            return Ok(format!("{} created (dry run)", t.printed));
        }
        let body = serde_json::to_vec(&modified).map_err(|e| e.to_string())?;
        let query = format!(
            "fieldManager={}&fieldValidation={}",
            form_urlencoded::byte_serialize(manager.as_bytes()).collect::<String>(),
            validation(validate)
        );
        let req = http::Request::post(t.collection_url(&query))
            .header("content-type", "application/json")
            .body(body)
            .map_err(|e| e.to_string())?;
        client.request::<DynamicObject>(req).await.map_err(api_message)?;
        return Ok(format!("{} created", t.printed));
    };
    if dry_run {
        return Ok(format!("{} configured (dry run)", t.printed));
    }
    let mut out = Vec::new();
    let original: Option<Value> = live
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(LAST_APPLIED))
        .and_then(Value::as_str)
        .and_then(|s| serde_json::from_str(s).ok());
    let warning = original.is_none().then(|| {
        // gitops-engine builds ApplyOptions itself: kubectl's command name is empty there
        format!(
            "Warning: resource {}/{} is missing the {LAST_APPLIED} annotation which is required by  apply.  apply should only be used on resources created declaratively by either  create --save-config or  apply. The missing annotation will be patched automatically.",
            t.ar.plural, t.name
        )
    });
    let empty = Map::new();
    let patch = three_way(
        original.as_ref().and_then(Value::as_object),
        modified.as_object().unwrap_or(&empty),
        live.as_object().unwrap_or(&empty),
    );
    if patch.is_empty() {
        out.push(format!("{} unchanged", t.printed));
    } else {
        let mut pp = PatchParams {
            field_manager: Some(manager.to_string()),
            ..Default::default()
        };
        pp = pp.validation(if validate {
            kube::api::ValidationDirective::Strict
        } else {
            kube::api::ValidationDirective::Ignore
        });
        t.api(client)
            .patch(t.name, &pp, &Patch::Merge(Value::Object(patch)))
            .await
            .map_err(api_message)?;
        out.push(format!("{} configured", t.printed));
    }
    out.extend(warning);
    Ok(out.join(". "))
}

/// `kubectl apply --server-side --force-conflicts`.
pub async fn server_side_apply(
    client: &Client,
    t: &Target<'_>,
    obj: &Value,
    validate: bool,
    manager: &str,
) -> Result<String, String> {
    let pp = PatchParams::apply(manager).force().validation(if validate {
        kube::api::ValidationDirective::Strict
    } else {
        kube::api::ValidationDirective::Ignore
    });
    t.api(client)
        .patch(t.name, &pp, &Patch::Apply(obj))
        .await
        .map_err(api_message)?;
    Ok(format!("{} serverside-applied", t.printed))
}

/// `kubectl replace` (or an update for Namespaces and CRDs), `kubectl create` when missing.
pub async fn replace(
    client: &Client,
    t: &Target<'_>,
    obj: &Value,
    live: Option<&Value>,
    dry_run: bool,
    manager: &str,
) -> Result<String, String> {
    let kind = obj["kind"].as_str().unwrap_or("");
    let group = obj["apiVersion"]
        .as_str()
        .and_then(|a| a.rsplit_once('/'))
        .map(|(g, _)| g)
        .unwrap_or("");
    let pp = PostParams {
        dry_run: false,
        field_manager: Some(manager.to_string()),
    };
    let Some(live) = live else {
        if dry_run {
            return Ok(format!("{} created (dry run)", t.printed));
        }
        let o: DynamicObject = serde_json::from_value(obj.clone()).map_err(|e| e.to_string())?;
        t.api(client).create(&pp, &o).await.map_err(api_message)?;
        return Ok(format!("{} created", t.printed));
    };
    let in_place = (kind == "Namespace" && group.is_empty())
        || (kind == "CustomResourceDefinition" && group == "apiextensions.k8s.io");
    if in_place {
        let mut update = obj.clone();
        update["metadata"]["resourceVersion"] = live
            .pointer("/metadata/resourceVersion")
            .cloned()
            .unwrap_or(Value::Null);
        if dry_run {
            return Ok(format!("{kind}/{} updated", t.name));
        }
        let o: DynamicObject = serde_json::from_value(update).map_err(|e| e.to_string())?;
        return match t.api(client).replace(t.name, &pp, &o).await {
            Ok(_) => Ok(format!("{kind}/{} updated", t.name)),
            Err(e) => Err(format!("error when updating: {}", api_message(e))),
        };
    }
    if dry_run {
        return Ok(format!("{} replaced (dry run)", t.printed));
    }
    let o: DynamicObject = serde_json::from_value(obj.clone()).map_err(|e| e.to_string())?;
    t.api(client)
        .replace(t.name, &pp, &o)
        .await
        .map_err(api_message)?;
    Ok(format!("{} replaced", t.printed))
}

/// kubectl's error when the kind has no REST mapping (its CRD is not installed): the
/// manifest file is a temporary file in /dev/shm.
pub fn no_mapping(name: &str, namespace: &str, kind: &str, api_version: &str) -> String {
    let file = format!("/dev/shm/{}", rand::random::<u32>());
    format!(
        "resource mapping not found for name: {name:?} namespace: {namespace:?} from {file:?}: no matches for kind {kind:?} in version {api_version:?}\nensure CRDs are installed first"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_last_applied_configuration_is_the_object_without_itself() {
        let obj = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "annotations": {"a": "<b>&"}}, "data": {"k": "v"}});
        let m = with_last_applied(&obj);
        let text = m["metadata"]["annotations"][LAST_APPLIED].as_str().unwrap();
        assert_eq!(
            text,
            "{\"apiVersion\":\"v1\",\"data\":{\"k\":\"v\"},\"kind\":\"ConfigMap\",\"metadata\":{\"annotations\":{\"a\":\"\\u003cb\\u003e\\u0026\"},\"name\":\"c\"}}\n"
        );
        // applying the modified object again does not nest the annotation
        assert_eq!(with_last_applied(&m), m);
    }

    #[test]
    fn three_way_patches_change_and_delete_only_what_the_configuration_did() {
        let original =
            json!({"metadata": {"labels": {"a": "1", "gone": "x"}}, "data": {"k": "v", "old": "o"}});
        let modified = json!({"metadata": {"labels": {"a": "2"}}, "data": {"k": "v"}, "spec": {"list": [{"name": "c", "image": "i"}]}});
        let current = json!({"metadata": {"labels": {"a": "1", "gone": "x", "theirs": "t"}}, "data": {"k": "v", "old": "o", "theirs": "t"},
            "spec": {"list": [{"name": "c", "image": "i", "imagePullPolicy": "Always"}]}});
        let p = three_way(
            original.as_object(),
            modified.as_object().unwrap(),
            current.as_object().unwrap(),
        );
        assert_eq!(
            Value::Object(p),
            json!({"metadata": {"labels": {"a": "2", "gone": null}}, "data": {"old": null}})
        );
        // no original: nothing is deleted
        let p = three_way(None, modified.as_object().unwrap(), current.as_object().unwrap());
        assert_eq!(Value::Object(p), json!({"metadata": {"labels": {"a": "2"}}}));
        // a list that lost a desired field is sent whole
        let current = json!({"spec": {"list": [{"name": "c", "image": "other"}]}});
        let p = three_way(
            None,
            &Map::from_iter([("spec".to_string(), modified["spec"].clone())]),
            current.as_object().unwrap(),
        );
        assert_eq!(
            Value::Object(p),
            json!({"spec": {"list": [{"name": "c", "image": "i"}]}})
        );
    }
}
