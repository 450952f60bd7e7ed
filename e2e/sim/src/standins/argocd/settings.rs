//! The hub's `argocd-cm` as Argo CD 3.2's settings manager reads it (util/settings), read
//! once per reconcile: the tracking settings ([`super::tracking`]) and the resource
//! overrides (`GetResourceOverrides`):
//! - `resource.customizations`: YAML, a map from `<group>/<Kind>` (or `Kind` for the core
//!   group; `*` wildcards allowed, quoted when the key starts with one) to
//!   `health.lua`, `health.lua.useOpenLibs`, `actions`, `ignoreDifferences` and
//!   `ignoreResourceUpdates` (YAML held in strings) and `knownTypeFields`;
//! - split keys `resource.customizations.<type>.<group>_<Kind>` (or `.<Kind>`; `all` means
//!   `*/*`) with the types `health`, `useOpenLibs`, `actions`, `ignoreDifferences`,
//!   `ignoreResourceUpdates`, `knownTypeFields`, laid over the YAML form field by field.
//!
//! Any bad entry (an unknown type, a group kind with two `_`, a `useOpenLibs` that is no Go
//! boolean, YAML that does not parse) fails the whole read as in Argo CD, whose comparison
//! then reports sync and health `Unknown` (the error only reaches its log).
//!
//! Not here: `resource.compareoptions` and the `/status` ignore rules Argo CD adds from it
//! (the diff's concern).

use std::collections::BTreeMap;

use serde_json::Value;

use super::tracking::Settings as TrackingSettings;

/// What one reconcile needs from `argocd-cm`.
#[derive(Clone, Debug)]
pub struct Settings {
    pub tracking: TrackingSettings,
    /// The resource overrides, or why Argo CD could not load them.
    pub overrides: Result<ResourceOverrides, String>,
    /// `resource.compareoptions` as written (YAML), read by the diff
    /// ([`super::ignore::overrides_from`]).
    pub compare_options: Option<String>,
}

impl Default for Settings {
    /// Argo CD's settings without an `argocd-cm`.
    fn default() -> Self {
        Settings {
            tracking: TrackingSettings::default(),
            overrides: Ok(ResourceOverrides::default()),
            compare_options: None,
        }
    }
}

impl Settings {
    pub fn from_config_map(data: Option<&BTreeMap<String, String>>) -> Settings {
        Settings {
            tracking: TrackingSettings::from_config_map(data),
            overrides: ResourceOverrides::from_config_map(data),
            compare_options: data.and_then(|d| d.get("resource.compareoptions")).cloned(),
        }
    }
}

/// `ignoreDifferences` / `ignoreResourceUpdates` of one override (OverrideIgnoreDiff).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IgnoreDiff {
    pub json_pointers: Vec<String>,
    pub jq_path_expressions: Vec<String>,
    pub managed_fields_managers: Vec<String>,
}

/// One entry of the resource overrides (ResourceOverride).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ResourceOverride {
    pub health_lua: String,
    pub use_open_libs: bool,
    pub actions: String,
    pub ignore_differences: IgnoreDiff,
    pub ignore_resource_updates: IgnoreDiff,
    /// As written: a list of `{group, kind, field, type}`.
    pub known_type_fields: Vec<Value>,
}

/// The resource overrides by key: `<group>/<Kind>`, `Kind` for the core group, or a glob.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ResourceOverrides(pub BTreeMap<String, ResourceOverride>);

impl ResourceOverrides {
    /// GetResourceOverrides without the compare options' additions.
    pub fn from_config_map(data: Option<&BTreeMap<String, String>>) -> Result<ResourceOverrides, String> {
        let mut out = BTreeMap::new();
        let Some(data) = data else {
            return Ok(ResourceOverrides(out));
        };
        if let Some(yaml) = data.get("resource.customizations").filter(|v| !v.is_empty()) {
            out = parse_customizations(yaml)?;
        }
        for (k, v) in data {
            if !k.starts_with("resource.customizations") {
                continue;
            }
            let parts: Vec<&str> = k.splitn(4, '.').collect();
            if parts.len() < 4 {
                continue;
            }
            let mut key = override_key(parts[3])?;
            if key == "all" {
                key = "*/*".into();
            }
            let entry = out.entry(key).or_default();
            match parts[2] {
                "health" => entry.health_lua = v.clone(),
                "useOpenLibs" => entry.use_open_libs = parse_bool(v)?,
                "actions" => entry.actions = v.clone(),
                "ignoreDifferences" => entry.ignore_differences = parse_ignore_diff(v)?,
                "ignoreResourceUpdates" => entry.ignore_resource_updates = parse_ignore_diff(v)?,
                "knownTypeFields" => entry.known_type_fields = parse_list(v)?,
                other => return Err(format!("resource customization type {other} not supported")),
            }
        }
        Ok(ResourceOverrides(out))
    }

    /// The override under exactly this key (`lua.GetConfigMapKey`).
    pub fn get(&self, key: &str) -> Option<&ResourceOverride> {
        self.0.get(key)
    }
}

/// `<group>/<Kind>` for a group and kind, `Kind` for the core group (GetConfigMapKey).
pub fn config_map_key(group: &str, kind: &str) -> String {
    if group.is_empty() {
        kind.to_string()
    } else {
        format!("{group}/{kind}")
    }
}

/// convertToOverrideKey: `<group>_<kind>` or `<kind>`.
fn override_key(group_kind: &str) -> Result<String, String> {
    let parts: Vec<&str> = group_kind.split('_').collect();
    match parts.as_slice() {
        [g, k] => Ok(format!("{g}/{k}")),
        [_] if !group_kind.is_empty() => Ok(group_kind.to_string()),
        _ => Err(format!(
            "group kind should be in format `resource.customizations.<type>.<group_kind>` or resource.customizations.<type>.<kind>`, got group kind: '{group_kind}'"
        )),
    }
}

/// strconv.ParseBool.
fn parse_bool(v: &str) -> Result<bool, String> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!("strconv.ParseBool: parsing {v:?}: invalid syntax")),
    }
}

fn yaml(text: &str) -> Result<Value, String> {
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    serde_saphyr::from_str::<Value>(text).map_err(|e| e.to_string())
}

fn string_list(v: Option<&Value>, what: &str) -> Result<Vec<String>, String> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| match i {
                Value::String(s) => Ok(s.clone()),
                other => Err(format!("{what}: expected a string, got {other}")),
            })
            .collect(),
        Some(other) => Err(format!("{what}: expected a list, got {other}")),
    }
}

/// An OverrideIgnoreDiff from its YAML.
fn parse_ignore_diff(text: &str) -> Result<IgnoreDiff, String> {
    let v = yaml(text)?;
    if !(v.is_object() || v.is_null()) {
        return Err(format!("ignore differences: expected a mapping, got {v}"));
    }
    Ok(IgnoreDiff {
        json_pointers: string_list(v.get("jsonPointers"), "jsonPointers")?,
        jq_path_expressions: string_list(v.get("jqPathExpressions"), "jqPathExpressions")?,
        managed_fields_managers: string_list(v.get("managedFieldsManagers"), "managedFieldsManagers")?,
    })
}

fn parse_list(text: &str) -> Result<Vec<Value>, String> {
    match yaml(text)? {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => Ok(items),
        other => Err(format!("knownTypeFields: expected a list, got {other}")),
    }
}

/// The `resource.customizations` YAML (ResourceOverride's UnmarshalJSON).
fn parse_customizations(text: &str) -> Result<BTreeMap<String, ResourceOverride>, String> {
    let v = yaml(text)?;
    let entries = match v {
        Value::Null => return Ok(BTreeMap::new()),
        Value::Object(m) => m,
        other => {
            return Err(format!(
                "resource.customizations: expected a mapping, got {other}"
            ));
        }
    };
    let mut out = BTreeMap::new();
    for (key, raw) in entries {
        let text_field = |name: &str| -> Result<String, String> {
            match raw.get(name) {
                None | Some(Value::Null) => Ok(String::new()),
                Some(Value::String(s)) => Ok(s.clone()),
                Some(other) => Err(format!(
                    "resource.customizations {key:?}: {name} must be a string, got {other}"
                )),
            }
        };
        if !(raw.is_object() || raw.is_null()) {
            return Err(format!(
                "resource.customizations {key:?}: expected a mapping, got {raw}"
            ));
        }
        let use_open_libs = match raw.get("health.lua.useOpenLibs") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                return Err(format!(
                    "resource.customizations {key:?}: health.lua.useOpenLibs must be a boolean, got {other}"
                ));
            }
        };
        let known_type_fields = match raw.get("knownTypeFields") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items.clone(),
            Some(other) => {
                return Err(format!(
                    "resource.customizations {key:?}: knownTypeFields must be a list, got {other}"
                ));
            }
        };
        let entry = ResourceOverride {
            health_lua: text_field("health.lua")?,
            use_open_libs,
            actions: text_field("actions")?,
            ignore_differences: parse_ignore_diff(&text_field("ignoreDifferences")?)?,
            ignore_resource_updates: parse_ignore_diff(&text_field("ignoreResourceUpdates")?)?,
            known_type_fields,
        };
        out.insert(key, entry);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cm(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn overrides(pairs: &[(&str, &str)]) -> Result<ResourceOverrides, String> {
        ResourceOverrides::from_config_map(Some(&cm(pairs)))
    }

    #[test]
    fn split_keys_name_group_and_kind() {
        let o = overrides(&[
            (
                "resource.customizations.health.cert-manager.io_Certificate",
                "return {}",
            ),
            (
                "resource.customizations.useOpenLibs.cert-manager.io_Certificate",
                "true",
            ),
            ("resource.customizations.health.ConfigMap", "return nil"),
            (
                "resource.customizations.ignoreDifferences.all",
                "jsonPointers:\n- /spec/replicas\nmanagedFieldsManagers: [kube-controller-manager]",
            ),
            (
                "resource.customizations.knownTypeFields.apps_Deployment",
                "- field: spec.template.spec\n  type: core/v1/PodSpec",
            ),
            ("application.instanceLabelKey", "x"),
        ])
        .unwrap();
        let cert = o.get("cert-manager.io/Certificate").unwrap();
        assert_eq!(
            (cert.health_lua.as_str(), cert.use_open_libs),
            ("return {}", true)
        );
        assert_eq!(o.get("ConfigMap").unwrap().health_lua, "return nil");
        let all = o.get("*/*").unwrap();
        assert_eq!(all.ignore_differences.json_pointers, ["/spec/replicas"]);
        assert_eq!(
            all.ignore_differences.managed_fields_managers,
            ["kube-controller-manager"]
        );
        assert_eq!(o.get("apps/Deployment").unwrap().known_type_fields.len(), 1);
        assert_eq!(o.0.len(), 4);
    }

    #[test]
    fn the_yaml_form_and_split_keys_merge_field_by_field() {
        let yaml = "\"*.aws.crossplane.io/*\":\n  health.lua: |\n    return {status=\"Healthy\"}\n  health.lua.useOpenLibs: true\napps/Deployment:\n  health.lua: old\n  ignoreDifferences: |\n    jsonPointers:\n    - /spec/replicas\n";
        let o = overrides(&[
            ("resource.customizations", yaml),
            ("resource.customizations.health.apps_Deployment", "new"),
        ])
        .unwrap();
        let w = o.get("*.aws.crossplane.io/*").unwrap();
        assert!(w.use_open_libs);
        assert_eq!(w.health_lua, "return {status=\"Healthy\"}\n");
        let d = o.get("apps/Deployment").unwrap();
        assert_eq!(d.health_lua, "new");
        assert_eq!(d.ignore_differences.json_pointers, ["/spec/replicas"]);
    }

    #[test]
    fn bad_entries_fail_the_whole_read_as_argo_cds_do() {
        assert_eq!(
            overrides(&[("resource.customizations.color.apps_Deployment", "red")]),
            Err("resource customization type color not supported".into())
        );
        assert_eq!(
            overrides(&[("resource.customizations.health.a_b_c", "x")]).unwrap_err(),
            "group kind should be in format `resource.customizations.<type>.<group_kind>` or resource.customizations.<type>.<kind>`, got group kind: 'a_b_c'"
        );
        assert_eq!(
            overrides(&[("resource.customizations.useOpenLibs.Pod", "yes")]),
            Err("strconv.ParseBool: parsing \"yes\": invalid syntax".into())
        );
        assert!(overrides(&[("resource.customizations", "a: [")]).is_err());
        assert!(overrides(&[("resource.customizations", "Pod:\n  health.lua: 5\n")]).is_err());
        // keys with fewer than four parts are skipped; so is the YAML key when empty
        assert_eq!(
            overrides(&[
                ("resource.customizations.health", "x"),
                ("resource.customizations", "")
            ]),
            Ok(ResourceOverrides::default())
        );
        let s = Settings::from_config_map(Some(&cm(&[("resource.customizations.x.Pod", "1")])));
        assert!(s.overrides.is_err());
        assert_eq!(s.tracking, TrackingSettings::default());
    }
}
