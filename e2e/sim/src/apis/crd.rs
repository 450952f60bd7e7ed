//! CustomResourceDefinitions: validation, and the served type a CRD defines.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::apimachinery::status::Cause;
use crate::apimachinery::validation::is_dns1123_label;
use crate::apis::types::{Column, ResourceType, ScaleSpec, VersionInfo};

/// The finalizer kube-apiserver puts on every CRD so its objects are deleted with it.
pub const CLEANUP_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";

fn str_at<'a>(v: &'a Value, p: &str) -> &'a str {
    v.pointer(p).and_then(Value::as_str).unwrap_or("")
}

/// apiextensions validation of a CRD (`old` on update).
pub fn validate(crd: &Value, old: Option<&Value>) -> Vec<Cause> {
    let mut out = Vec::new();
    let group = str_at(crd, "/spec/group");
    let plural = str_at(crd, "/spec/names/plural");
    let kind = str_at(crd, "/spec/names/kind");
    let name = crate::apimachinery::meta::name(crd);
    if !group.is_empty() && !plural.is_empty() && name != format!("{plural}.{group}") {
        out.push(Cause::invalid(
            "metadata.name",
            &json!(name),
            "must be spec.names.plural+\".\"+spec.group",
        ));
    }
    if group.is_empty() {
        out.push(Cause::required("spec.group"));
    } else if !group.contains('.') {
        out.push(Cause::invalid(
            "spec.group",
            &json!(group),
            "should be a domain with at least one dot",
        ));
    }
    if plural.is_empty() {
        out.push(Cause::required("spec.names.plural"));
    } else if !is_dns1123_label(plural) {
        out.extend(crate::apimachinery::validation::name_causes(
            "spec.names.plural",
            plural,
            crate::apimachinery::validation::NameRule::Label,
        ));
    }
    if kind.is_empty() {
        out.push(Cause::required("spec.names.kind"));
    }
    let singular = str_at(crd, "/spec/names/singular");
    if !singular.is_empty() && !is_dns1123_label(singular) {
        out.extend(crate::apimachinery::validation::name_causes(
            "spec.names.singular",
            singular,
            crate::apimachinery::validation::NameRule::Label,
        ));
    }
    match str_at(crd, "/spec/scope") {
        "Namespaced" | "Cluster" => {}
        "" => out.push(Cause::required("spec.scope")),
        other => out.push(Cause::not_supported(
            "spec.scope",
            &json!(other),
            &["Cluster".into(), "Namespaced".into()],
        )),
    }
    let versions: Vec<&Value> = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .collect();
    if versions
        .iter()
        .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
        .count()
        != 1
    {
        out.push(Cause::new(
            "FieldValueInvalid",
            "spec.versions",
            "Invalid value: []apiextensions.CustomResourceDefinitionVersion{...}: must have exactly one version marked as storage version",
        ));
    }
    for (i, v) in versions.iter().enumerate() {
        if v.pointer("/schema/openAPIV3Schema").is_none() {
            out.push(Cause::new(
                "FieldValueRequired",
                format!("spec.versions[{i}].schema.openAPIV3Schema"),
                "Required value: schemas are required",
            ));
        } else if let Some(t) = v.pointer("/schema/openAPIV3Schema/type").and_then(Value::as_str)
            && t != "object"
        {
            out.push(Cause::invalid(
                format!("spec.versions[{i}].schema.openAPIV3Schema.type"),
                &json!(t),
                "must be object at the root",
            ));
        }
        let vname = v.get("name").and_then(Value::as_str).unwrap_or("");
        if !is_dns1123_label(vname) {
            out.extend(crate::apimachinery::validation::name_causes(
                &format!("spec.versions[{i}].name"),
                vname,
                crate::apimachinery::validation::NameRule::Label,
            ));
        }
    }
    if let Some(old) = old {
        let old_scope = str_at(old, "/spec/scope");
        let new_scope = str_at(crd, "/spec/scope");
        if !old_scope.is_empty() && old_scope != new_scope {
            out.push(Cause::invalid(
                "spec.scope",
                &json!(new_scope),
                "field is immutable",
            ));
        }
        if str_at(old, "/spec/group") != group {
            out.push(Cause::invalid("spec.group", &json!(group), "field is immutable"));
        }
    }
    out
}

/// The type a CRD serves.
pub fn resource_type(crd: &Value) -> Option<ResourceType> {
    let spec = crd.get("spec")?;
    let names = spec.get("names")?;
    let group = spec.get("group")?.as_str()?.to_string();
    let kind = names.get("kind")?.as_str()?.to_string();
    let plural = names.get("plural")?.as_str()?.to_string();
    let strs = |v: Option<&Value>| -> Vec<String> {
        v.and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect()
    };
    let mut versions = Vec::new();
    for v in spec.get("versions")?.as_array()? {
        let name = v.get("name")?.as_str()?.to_string();
        let subs = v.get("subresources");
        let scale = subs.and_then(|s| s.get("scale")).map(|s| ScaleSpec {
            spec_replicas_path: s
                .get("specReplicasPath")
                .and_then(Value::as_str)
                .unwrap_or(".spec.replicas")
                .to_string(),
            status_replicas_path: s
                .get("statusReplicasPath")
                .and_then(Value::as_str)
                .unwrap_or(".status.replicas")
                .to_string(),
            label_selector_path: s
                .get("labelSelectorPath")
                .and_then(Value::as_str)
                .map(str::to_string),
        });
        let columns = v
            .get("additionalPrinterColumns")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|c| Column {
                name: c.get("name").and_then(Value::as_str).unwrap_or("").to_string(),
                type_: c
                    .get("type")
                    .and_then(Value::as_str)
                    .unwrap_or("string")
                    .to_string(),
                format: c.get("format").and_then(Value::as_str).unwrap_or("").to_string(),
                description: c
                    .get("description")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                priority: c.get("priority").and_then(Value::as_i64).unwrap_or(0),
                json_path: c
                    .get("jsonPath")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            })
            .collect();
        let deprecated = v.get("deprecated").and_then(Value::as_bool).unwrap_or(false);
        let deprecation_warning = deprecated.then(|| {
            v.get("deprecationWarning")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| format!("{group}/{name} {kind} is deprecated"))
        });
        versions.push(VersionInfo {
            served: v.get("served").and_then(Value::as_bool).unwrap_or(false),
            storage: v.get("storage").and_then(Value::as_bool).unwrap_or(false),
            schema: v.pointer("/schema/openAPIV3Schema").cloned().map(Arc::new),
            status: subs.and_then(|s| s.get("status")).is_some(),
            scale,
            columns,
            selectable_fields: v
                .get("selectableFields")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|f| f.get("jsonPath")?.as_str().map(str::to_string))
                .collect(),
            deprecation_warning,
            name,
        });
    }
    versions.sort_by_key(|v| std::cmp::Reverse(crate::apis::types::version_priority(&v.name)));
    Some(ResourceType {
        group,
        list_kind: names
            .get("listKind")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| format!("{kind}List")),
        singular: names
            .get("singular")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| kind.to_lowercase()),
        kind,
        plural,
        short_names: strs(names.get("shortNames")),
        categories: strs(names.get("categories")),
        namespaced: spec.get("scope").and_then(Value::as_str) == Some("Namespaced"),
        versions,
        builtin: None,
    })
}

/// The status the CRD controllers give an accepted CRD.
pub fn established_status(crd: &Value, now: &str) -> Value {
    let names = crd.pointer("/spec/names").cloned().unwrap_or(json!({}));
    let storage: Vec<String> = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
        .filter_map(|v| v.get("name").and_then(Value::as_str).map(str::to_string))
        .collect();
    let mut stored: Vec<String> = crd
        .pointer("/status/storedVersions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    for s in storage {
        if !stored.contains(&s) {
            stored.push(s);
        }
    }
    let keep_time = |t: &str| -> String {
        crd.pointer("/status/conditions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|c| {
                c.get("type").and_then(Value::as_str) == Some(t)
                    && c.get("status").and_then(Value::as_str) == Some("True")
            })
            .and_then(|c| c.get("lastTransitionTime").and_then(Value::as_str))
            .unwrap_or(now)
            .to_string()
    };
    json!({
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "lastTransitionTime": keep_time("NamesAccepted"), "reason": "NoConflicts", "message": "no conflicts found"},
            {"type": "Established", "status": "True", "lastTransitionTime": keep_time("Established"), "reason": "InitialNamesAccepted", "message": "the initial names have been accepted"},
        ],
        "acceptedNames": names,
        "storedVersions": stored,
    })
}
