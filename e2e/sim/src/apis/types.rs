//! The API types a cluster serves (its registry): built-in types and those registered by CRDs.

use std::sync::Arc;

use serde_json::Value;

use crate::apimachinery::validation::NameRule;

/// A column of `kubectl get` output (`metav1.TableColumnDefinition` plus where its value is).
#[derive(Clone, Debug, PartialEq)]
pub struct Column {
    pub name: String,
    pub type_: String,
    pub format: String,
    pub description: String,
    pub priority: i64,
    /// For CRD columns: the JSONPath of the value.
    pub json_path: String,
}

/// The scale subresource of a CRD version (or a built-in workload).
#[derive(Clone, Debug, PartialEq)]
pub struct ScaleSpec {
    pub spec_replicas_path: String,
    pub status_replicas_path: String,
    pub label_selector_path: Option<String>,
}

/// One served version of a type.
#[derive(Clone, Debug)]
pub struct VersionInfo {
    pub name: String,
    pub served: bool,
    pub storage: bool,
    /// A CRD version's `openAPIV3Schema`; built-in types use the shared definitions instead.
    pub schema: Option<Arc<Value>>,
    pub status: bool,
    pub scale: Option<ScaleSpec>,
    pub columns: Vec<Column>,
    pub selectable_fields: Vec<String>,
    pub deprecation_warning: Option<String>,
}

/// Facts about a built-in type that the generic machinery needs.
#[derive(Clone, Debug)]
pub struct BuiltinMeta {
    /// The OpenAPI definition name of the type, e.g. `io.k8s.api.apps.v1.Deployment`.
    pub definition: String,
    pub name_rule: NameRule,
    /// Whether `metadata.generation` is maintained.
    pub generation: bool,
    /// Whether DELETE answers with the deleted object rather than a Status.
    pub return_deleted: bool,
    /// Fields usable in `fieldSelector` beyond metadata.name / metadata.namespace.
    pub field_selectors: &'static [&'static str],
    /// Only `create` is served and nothing is stored (reviews).
    pub create_only: bool,
}

#[derive(Clone, Debug)]
pub struct ResourceType {
    pub group: String,
    pub kind: String,
    pub list_kind: String,
    pub plural: String,
    pub singular: String,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub namespaced: bool,
    pub versions: Vec<VersionInfo>,
    pub builtin: Option<BuiltinMeta>,
}

impl ResourceType {
    /// The storage key of this type: all versions share one storage.
    pub fn storage_key(&self) -> String {
        format!("{}/{}", self.group, self.plural)
    }

    pub fn group_resource(&self) -> crate::apimachinery::status::GroupResource {
        crate::apimachinery::status::GroupResource::new(&self.group, &self.plural)
    }

    pub fn api_version(&self, version: &str) -> String {
        if self.group.is_empty() {
            version.to_string()
        } else {
            format!("{}/{}", self.group, version)
        }
    }

    pub fn version(&self, name: &str) -> Option<&VersionInfo> {
        self.versions.iter().find(|v| v.name == name && v.served)
    }

    pub fn storage_version(&self) -> &VersionInfo {
        self.versions
            .iter()
            .find(|v| v.storage)
            .unwrap_or(&self.versions[0])
    }

    pub fn is_create_only(&self) -> bool {
        self.builtin.as_ref().is_some_and(|b| b.create_only)
    }

    pub fn is_custom(&self) -> bool {
        self.builtin.is_none()
    }

    pub fn tracks_generation(&self) -> bool {
        self.builtin.as_ref().map(|b| b.generation).unwrap_or(true)
    }

    pub fn has_status(&self, version: &str) -> bool {
        self.versions
            .iter()
            .find(|v| v.name == version)
            .is_some_and(|v| v.status)
    }

    pub fn name_rule(&self) -> NameRule {
        self.builtin
            .as_ref()
            .map(|b| b.name_rule)
            .unwrap_or(NameRule::Subdomain)
    }

    pub fn supported_field_selectors(&self, version: &str) -> Vec<String> {
        let mut v = vec!["metadata.name".to_string(), "metadata.namespace".to_string()];
        if let Some(b) = &self.builtin {
            v.extend(b.field_selectors.iter().map(|s| s.to_string()));
        } else if let Some(ver) = self.version(version) {
            v.extend(
                ver.selectable_fields
                    .iter()
                    .map(|s| s.trim_start_matches('.').to_string()),
            );
        }
        v
    }
}

/// All types of one cluster, in discovery order.
#[derive(Clone, Default)]
pub struct Registry {
    types: Vec<Arc<ResourceType>>,
    /// Bumped on every change, so discovery and OpenAPI documents can be cached by it.
    pub revision: u64,
}

/// The order kube-apiserver lists its built-in groups in `/apis`.
pub const GROUP_ORDER: &[&str] = &[
    "",
    "apiregistration.k8s.io",
    "apps",
    "events.k8s.io",
    "authentication.k8s.io",
    "authorization.k8s.io",
    "autoscaling",
    "batch",
    "certificates.k8s.io",
    "networking.k8s.io",
    "policy",
    "rbac.authorization.k8s.io",
    "storage.k8s.io",
    "admissionregistration.k8s.io",
    "apiextensions.k8s.io",
    "scheduling.k8s.io",
    "coordination.k8s.io",
    "node.k8s.io",
    "discovery.k8s.io",
    "flowcontrol.apiserver.k8s.io",
];

impl Registry {
    /// A registry serving `types` (the built-in ones: [`crate::apis::builtin::registry`]).
    pub fn new(types: Vec<Arc<ResourceType>>) -> Self {
        Registry { types, revision: 1 }
    }

    pub fn types(&self) -> &[Arc<ResourceType>] {
        &self.types
    }

    /// The type served at `/apis/<group>/<version>/<plural>`.
    pub fn lookup(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceType>> {
        self.types
            .iter()
            .find(|t| t.group == group && t.plural == plural && t.version(version).is_some())
            .cloned()
    }

    pub fn by_group_resource(&self, group: &str, plural: &str) -> Option<Arc<ResourceType>> {
        self.types
            .iter()
            .find(|t| t.group == group && t.plural == plural)
            .cloned()
    }

    pub fn by_kind(&self, group: &str, kind: &str) -> Option<Arc<ResourceType>> {
        self.types
            .iter()
            .find(|t| t.group == group && t.kind == kind)
            .cloned()
    }

    /// Registers or replaces a custom type (keyed by group and plural).
    pub fn upsert(&mut self, rt: ResourceType) {
        let rt = Arc::new(rt);
        match self
            .types
            .iter_mut()
            .find(|t| t.group == rt.group && t.plural == rt.plural)
        {
            Some(slot) => *slot = rt,
            None => self.types.push(rt),
        }
        self.revision += 1;
    }

    pub fn remove(&mut self, group: &str, plural: &str) -> Option<Arc<ResourceType>> {
        let idx = self
            .types
            .iter()
            .position(|t| t.group == group && t.plural == plural && t.is_custom())?;
        self.revision += 1;
        Some(self.types.remove(idx))
    }

    /// Group names in discovery order with their served versions (preferred first).
    pub fn groups(&self) -> Vec<(String, Vec<String>)> {
        let mut groups: Vec<(String, Vec<String>)> = Vec::new();
        for t in &self.types {
            let entry = match groups.iter_mut().find(|(g, _)| *g == t.group) {
                Some(e) => e,
                None => {
                    groups.push((t.group.clone(), Vec::new()));
                    groups.last_mut().expect("just pushed")
                }
            };
            for v in t.versions.iter().filter(|v| v.served) {
                if !entry.1.contains(&v.name) {
                    entry.1.push(v.name.clone());
                }
            }
        }
        for (_, versions) in groups.iter_mut() {
            versions.sort_by_key(|v| std::cmp::Reverse(version_priority(v)));
        }
        groups.sort_by_key(|(g, _)| {
            GROUP_ORDER
                .iter()
                .position(|x| x == g)
                .unwrap_or(GROUP_ORDER.len())
        });
        groups
    }

    /// The types served in one group version.
    pub fn in_group_version(&self, group: &str, version: &str) -> Vec<Arc<ResourceType>> {
        self.types
            .iter()
            .filter(|t| t.group == group && t.version(version).is_some())
            .cloned()
            .collect()
    }
}

/// Kubernetes version priority: GA > beta > alpha, higher numbers first (`v2 > v1 > v1beta2`).
pub fn version_priority(v: &str) -> (u8, u32, u32) {
    let Some(rest) = v.strip_prefix('v') else {
        return (0, 0, 0);
    };
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let Ok(major) = digits.parse::<u32>() else {
        return (0, 0, 0);
    };
    let tail = &rest[digits.len()..];
    if tail.is_empty() {
        return (3, major, 0);
    }
    let (level, num) = if let Some(n) = tail.strip_prefix("beta") {
        (2, n)
    } else if let Some(n) = tail.strip_prefix("alpha") {
        (1, n)
    } else {
        return (0, 0, 0);
    };
    match num.parse::<u32>() {
        Ok(minor) => (level, major, minor),
        Err(_) => (0, 0, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kube_version_ordering() {
        let mut v = vec!["v1beta1", "v1", "v2alpha1", "v2", "v1alpha1", "foo", "v1beta2"];
        v.sort_by(|a, b| version_priority(b).cmp(&version_priority(a)).then(a.cmp(b)));
        assert_eq!(
            v,
            vec!["v2", "v1", "v1beta2", "v1beta1", "v2alpha1", "v1alpha1", "foo"]
        );
    }
}
