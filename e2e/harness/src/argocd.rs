//! Argo CD's objects as typed APIs (fields as in pkg/apis/application/v1alpha1/types.go):
//! `hubspoke validate` checks manifests against them, the suites read status through them.

use std::collections::BTreeMap;

use kube::CustomResource;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// An Application.
#[derive(CustomResource, Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[kube(
    group = "argoproj.io",
    version = "v1alpha1",
    kind = "Application",
    namespaced,
    schema = "disabled",
    status = "Value"
)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<ApplicationSource>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<ApplicationSource>,
    pub destination: Destination,
    pub project: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_policy: Option<SyncPolicy>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore_differences: Vec<Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub info: Vec<Info>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision_history_limit: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_hydrator: Option<Value>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationSource {
    #[serde(rename = "repoURL")]
    pub repo_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_revision: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart: Option<String>,
    #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
    pub ref_: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub helm: Option<Helm>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kustomize: Option<Kustomize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub directory: Option<Directory>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin: Option<Value>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Helm {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub value_files: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub file_parameters: Vec<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values_object: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pass_credentials: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore_missing_value_files: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_crds: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_schema_validation: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_tests: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kube_version: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub api_versions: Vec<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Kustomize {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_suffix: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub common_labels: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub common_annotations: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force_common_labels: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force_common_annotations: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replicas: Vec<Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub patches: Vec<Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_without_selector: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kube_version: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub api_versions: Vec<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Directory {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recurse: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jsonnet: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include: Option<String>,
}

/// An AppProject: what the Applications in it may deploy, from where, to where.
#[derive(CustomResource, Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[kube(
    group = "argoproj.io",
    version = "v1alpha1",
    kind = "AppProject",
    namespaced,
    schema = "disabled",
    status = "Value"
)]
#[serde(rename_all = "camelCase")]
pub struct AppProjectSpec {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_repos: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub destinations: Vec<Destination>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cluster_resource_whitelist: Vec<GroupKind>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cluster_resource_blacklist: Vec<GroupKind>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespace_resource_whitelist: Vec<GroupKind>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespace_resource_blacklist: Vec<GroupKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orphaned_resources: Option<Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sync_windows: Vec<Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signature_keys: Vec<Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_namespaces: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permit_only_project_scoped_clusters: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub destination_service_accounts: Vec<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_integrity: Option<Value>,
}

/// A group and kind (`metav1.GroupKind`; cluster restriction items may name a resource too).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct GroupKind {
    #[serde(default)]
    pub group: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Destination {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SyncPolicy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automated: Option<Automated>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sync_options: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<Retry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_namespace_metadata: Option<ManagedNamespaceMetadata>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Automated {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prune: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub self_heal: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_empty: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Retry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff: Option<Backoff>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh: Option<bool>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Backoff {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub factor: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_duration: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct ManagedNamespaceMetadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct Info {
    pub name: String,
    pub value: String,
}

/// An ApplicationSet.
#[derive(CustomResource, Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[kube(
    group = "argoproj.io",
    version = "v1alpha1",
    kind = "ApplicationSet",
    namespaced,
    schema = "disabled",
    status = "Value"
)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationSetSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub go_template: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub go_template_options: Vec<String>,
    pub generators: Vec<Generator>,
    pub template: ApplicationSetTemplate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_policy: Option<ApplicationSetSyncPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preserved_fields: Option<Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore_application_differences: Vec<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_patch: Option<String>,
}

/// One generator: exactly one of the kinds, and an optional selector.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Generator {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clusters: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scm_provider: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_decision_resource: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_request: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matrix: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<Value>,
}

impl Generator {
    /// The kinds this generator sets (a valid one sets exactly one).
    pub fn kinds(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        for (set, name) in [
            (self.list.is_some(), "list"),
            (self.clusters.is_some(), "clusters"),
            (self.git.is_some(), "git"),
            (self.scm_provider.is_some(), "scmProvider"),
            (
                self.cluster_decision_resource.is_some(),
                "clusterDecisionResource",
            ),
            (self.pull_request.is_some(), "pullRequest"),
            (self.matrix.is_some(), "matrix"),
            (self.merge.is_some(), "merge"),
            (self.plugin.is_some(), "plugin"),
        ] {
            if set {
                out.push(name);
            }
        }
        out
    }
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct ApplicationSetTemplate {
    pub metadata: TemplateMeta,
    pub spec: ApplicationSpec,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct TemplateMeta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub finalizers: Vec<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationSetSyncPolicy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preserve_resources_on_deletion: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applications_sync: Option<String>,
}

/// How the hub's Argo CD marks the objects an Application manages, read from its
/// `argocd-cm` (`application.resourceTrackingMethod`, `application.instanceLabelKey`,
/// `installationID`; Argo CD's defaults where unset: annotation tracking). Objects are
/// recognised exactly as Argo CD recognises them, for every method.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tracking(hubspoke_sim::standins::argocd::tracking::Settings);

impl Tracking {
    /// The tracking of the Argo CD in `namespace` on `hub`.
    pub async fn read(hub: &kube::Client, namespace: &str) -> Result<Tracking, String> {
        let cms: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
            kube::Api::namespaced(hub.clone(), namespace);
        let cm = cms.get_opt("argocd-cm").await.map_err(|e| {
            format!("reading the hub's ConfigMap {namespace}/argocd-cm (Argo CD's settings): {e}")
        })?;
        Ok(Tracking(
            hubspoke_sim::standins::argocd::tracking::Settings::from_config_map(
                cm.as_ref().and_then(|c| c.data.as_ref()),
            ),
        ))
    }

    /// Argo CD's defaults (no `argocd-cm`).
    pub fn argo_cd_default() -> Tracking {
        Tracking(Default::default())
    }

    /// The Application that tracks `obj` (an Application in Argo CD's own namespace: its
    /// name), or None.
    pub fn application_of<K: Serialize>(&self, obj: &K) -> Option<String> {
        let v = serde_json::to_value(obj).ok()?;
        let app = self.0.app_name(&v);
        self.0.is_tracked_by(&v, &app).then_some(app)
    }

    /// What marks an object, for messages: `annotation argocd.argoproj.io/tracking-id`.
    pub fn describe(&self) -> String {
        use hubspoke_sim::standins::argocd::tracking::{TRACKING_ANNOTATION, Tracking as M};
        match self.0.method {
            M::Label => format!("label {}", self.0.label_key),
            M::Annotation => format!("annotation {TRACKING_ANNOTATION}"),
            M::AnnotationAndLabel => format!(
                "annotation {TRACKING_ANNOTATION} (and label {})",
                self.0.label_key
            ),
        }
    }

    /// The mark `obj` carries under this method, verbatim (for messages and bundles).
    pub fn mark_of<K: kube::Resource>(&self, obj: &K) -> Option<String> {
        use hubspoke_sim::standins::argocd::tracking::{TRACKING_ANNOTATION, Tracking as M};
        let m = obj.meta();
        match self.0.method {
            M::Label => m.labels.as_ref()?.get(&self.0.label_key).cloned(),
            M::Annotation | M::AnnotationAndLabel => {
                m.annotations.as_ref()?.get(TRACKING_ANNOTATION).cloned()
            }
        }
    }
}
