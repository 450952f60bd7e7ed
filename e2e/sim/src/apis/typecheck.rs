//! Type-specific validation of built-in types (the rules beyond the schema), with
//! kube-apiserver's field paths and messages.

use serde_json::{Value, json};

use crate::apimachinery::selector::LabelSelector;
use crate::apimachinery::status::Cause;
use crate::apis::types::ResourceType;

fn go_string_map(m: Option<&Value>) -> String {
    let mut parts: Vec<String> = m
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{:?}:{:?}", k, v.as_str().unwrap_or("")))
        .collect();
    parts.sort();
    format!("map[string]string{{{}}}", parts.join(", "))
}

fn go_label_selector(sel: &Value) -> String {
    let ml = sel.get("matchLabels");
    let me = if sel
        .get("matchExpressions")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty())
    {
        "[]v1.LabelSelectorRequirement{...}".to_string()
    } else {
        "[]v1.LabelSelectorRequirement(nil)".to_string()
    };
    let ml = if ml.is_some() {
        go_string_map(ml)
    } else {
        "map[string]string(nil)".into()
    };
    format!("v1.LabelSelector{{MatchLabels:{ml}, MatchExpressions:{me}}}")
}

fn selector_causes(kind_lower: &str, spec: &Value, old_spec: Option<&Value>) -> Vec<Cause> {
    let mut out = Vec::new();
    let Some(sel) = spec.get("selector") else {
        return out; // the schema reports the missing selector
    };
    let parsed = LabelSelector::from_label_selector(sel);
    match parsed {
        Err(e) => out.push(Cause::invalid("spec.selector", sel, e)),
        Ok(s) if s.is_empty() => {
            out.push(Cause::new(
                "FieldValueInvalid",
                "spec.selector",
                format!(
                    "Invalid value: {}: empty selector is invalid for {kind_lower}",
                    go_label_selector(sel)
                ),
            ));
        }
        Ok(s) => {
            let labels = spec.pointer("/template/metadata/labels");
            let map = labels
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| Some((k.as_str(), v.as_str()?)))
                        .collect()
                })
                .unwrap_or_default();
            if spec.get("template").is_some() && !s.matches_map(&map) {
                out.push(Cause::new(
                    "FieldValueInvalid",
                    "spec.template.metadata.labels",
                    format!(
                        "Invalid value: {}: `selector` does not match template `labels`",
                        go_string_map(labels)
                    ),
                ));
            }
        }
    }
    if let Some(old_sel) = old_spec.and_then(|o| o.get("selector"))
        && old_sel != sel
    {
        out.push(Cause::new(
            "FieldValueInvalid",
            "spec.selector",
            format!("Invalid value: {}: field is immutable", go_label_selector(sel)),
        ));
    }
    out
}

fn containers_causes(prefix: &str, pod_spec: &Value) -> Vec<Cause> {
    let mut out = Vec::new();
    for k in ["initContainers", "containers"] {
        let mut seen = Vec::new();
        for (i, c) in pod_spec
            .get(k)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let path = format!("{prefix}.{k}[{i}]");
            if c.get("image").and_then(Value::as_str).unwrap_or("").is_empty() {
                out.push(Cause::required(format!("{path}.image")));
            }
            if let Some(n) = c.get("name").and_then(Value::as_str) {
                if seen.contains(&n) {
                    out.push(Cause::new(
                        "FieldValueDuplicate",
                        format!("{path}.name"),
                        format!("Duplicate value: {n:?}"),
                    ));
                }
                seen.push(n);
            }
        }
    }
    out
}

fn restart_policy_causes(path: &str, pod_spec: &Value, allowed: &[&str]) -> Vec<Cause> {
    let rp = pod_spec
        .get("restartPolicy")
        .and_then(Value::as_str)
        .unwrap_or("");
    if allowed.contains(&rp) {
        return vec![];
    }
    let supported: Vec<String> = allowed.iter().map(|s| s.to_string()).collect();
    vec![Cause::not_supported(
        format!("{path}.restartPolicy"),
        &json!(rp),
        &supported,
    )]
}

/// Returns the field errors of `obj` (`old` is the stored object on updates).
pub fn validate(rt: &ResourceType, obj: &Value, old: Option<&Value>) -> Vec<Cause> {
    let mut out = Vec::new();
    let spec = obj.get("spec").cloned().unwrap_or(json!({}));
    let old_spec = old.and_then(|o| o.get("spec"));
    match (rt.group.as_str(), rt.kind.as_str()) {
        ("apps", kind @ ("Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet")) => {
            out.extend(selector_causes(&kind.to_lowercase(), &spec, old_spec));
            if let Some(ps) = spec.pointer("/template/spec") {
                out.extend(containers_causes("spec.template.spec", ps));
                out.extend(restart_policy_causes("spec.template.spec", ps, &["Always"]));
            }
            if let Some(r) = spec.get("replicas").and_then(Value::as_i64)
                && r < 0
            {
                out.push(Cause::invalid(
                    "spec.replicas",
                    &json!(r),
                    "must be greater than or equal to 0",
                ));
            }
        }
        ("", "Pod") => {
            out.extend(containers_causes("spec", &spec));
        }
        ("batch", "Job") => {
            if let Some(ps) = spec.pointer("/template/spec") {
                out.extend(containers_causes("spec.template.spec", ps));
                out.extend(restart_policy_causes(
                    "spec.template.spec",
                    ps,
                    &["OnFailure", "Never"],
                ));
            }
            if let (Some(o), Some(n)) = (old_spec.and_then(|s| s.get("selector")), spec.get("selector"))
                && o != n
            {
                out.push(Cause::new(
                    "FieldValueInvalid",
                    "spec.selector",
                    format!("Invalid value: {}: field is immutable", go_label_selector(n)),
                ));
            }
        }
        ("", "Service") => {
            let ty = spec.get("type").and_then(Value::as_str).unwrap_or("ClusterIP");
            let ports = spec.get("ports").and_then(Value::as_array);
            if ty != "ExternalName"
                && ports.is_none_or(|p| p.is_empty())
                && spec.get("clusterIP").and_then(Value::as_str) != Some("None")
            {
                out.push(Cause::required("spec.ports"));
            }
            if let Some(ports) = ports
                && ports.len() > 1
            {
                for (i, p) in ports.iter().enumerate() {
                    if p.get("name").and_then(Value::as_str).unwrap_or("").is_empty() {
                        out.push(Cause::required(format!("spec.ports[{i}].name")));
                    }
                }
            }
            if let (Some(o), Some(n)) = (old_spec.and_then(|s| s.get("clusterIP")), spec.get("clusterIP"))
                && o != n
                && o.as_str() != Some("")
            {
                out.push(Cause::invalid("spec.clusterIPs[0]", n, "may not change once set"));
            }
        }
        ("", "ConfigMap" | "Secret") => {
            if let Some(old) = old
                && old.get("immutable").and_then(Value::as_bool) == Some(true)
            {
                for f in ["data", "binaryData", "stringData"] {
                    if old.get(f) != obj.get(f) && (f != "stringData") {
                        out.push(Cause::forbidden(f, "field is immutable when `immutable` is set"));
                    }
                }
                if obj.get("immutable").and_then(Value::as_bool) != Some(true) {
                    out.push(Cause::forbidden(
                        "immutable",
                        "field is immutable when `immutable` is set",
                    ));
                }
            }
            if rt.kind == "Secret"
                && let Some(old) = old
                && old.get("type") != obj.get("type")
            {
                out.push(Cause::invalid(
                    "type",
                    obj.get("type").unwrap_or(&Value::Null),
                    "field is immutable",
                ));
            }
        }
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => {
            if let Some(old) = old
                && old.get("roleRef") != obj.get("roleRef")
            {
                out.push(Cause::new(
                    "FieldValueInvalid",
                    "roleRef",
                    "Invalid value: v1.RoleRef{...}: cannot change roleRef".to_string(),
                ));
            }
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            out.extend(crate::apis::crd::validate(obj, old))
        }
        _ => {}
    }
    out
}
