//! Kyverno's policies (fields as in api/kyverno/v1) and the policy reports it writes
//! (wgpolicyk8s.io/v1alpha2, as in api/policyreport/v1alpha2) as typed APIs: `hubspoke
//! validate` checks manifests against them, the suites read policy status and report
//! results through them.

use std::borrow::Cow;
use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

use kube::CustomResource;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The spec of a ClusterPolicy (cluster-wide) and, through [`NamespacedPolicySpec`], of a
/// Policy (namespaced).
#[derive(CustomResource, Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[kube(
    group = "kyverno.io",
    version = "v1",
    kind = "ClusterPolicy",
    schema = "disabled",
    status = "Value"
)]
#[serde(rename_all = "camelCase")]
pub struct PolicySpec {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<Rule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub background: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admission: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_failure_action: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub validation_failure_action_overrides: Vec<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_policy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_timeout_seconds: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emit_warning: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apply_rules: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_validation: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_server_side_apply: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mutate_existing_on_policy_update: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generate_existing: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_configuration: Option<Value>,
}

/// A rule: what it matches and what it does.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    pub name: String,
    #[serde(rename = "match")]
    pub match_: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preconditions: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cel_preconditions: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validate: Option<Validation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mutate: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generate: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify_images: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_background_requests: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_properties: Option<Value>,
}

/// A validate rule.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Validation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_action: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failure_action_overrides: Vec<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_existing_violations: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifests: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub foreach: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub any_pattern: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deny: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_security: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cel: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assert: Option<Value>,
}

/// A Policy's spec: the same as a ClusterPolicy's, for a namespaced policy.
#[derive(CustomResource, Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[kube(
    group = "kyverno.io",
    version = "v1",
    kind = "Policy",
    namespaced,
    schema = "disabled",
    status = "Value"
)]
#[serde(transparent)]
pub struct NamespacedPolicySpec(pub PolicySpec);

impl std::ops::Deref for NamespacedPolicySpec {
    type Target = PolicySpec;
    fn deref(&self) -> &PolicySpec {
        &self.0
    }
}

/// A policy report's outcome counts.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct PolicyReportSummary {
    #[serde(default)]
    pub pass: i64,
    #[serde(default)]
    pub fail: i64,
    #[serde(default)]
    pub warn: i64,
    #[serde(default)]
    pub error: i64,
    #[serde(default)]
    pub skip: i64,
}

/// When a result was produced (`metav1.Timestamp`).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct Timestamp {
    #[serde(default)]
    pub seconds: i64,
    #[serde(default)]
    pub nanos: i32,
}

/// One policy rule's outcome for the report's resources.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PolicyReportResult {
    #[serde(default)]
    pub source: String,
    pub policy: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub rule: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<ObjectReference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_selector: Option<LabelSelector>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// pass, fail, warn, error or skip.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub result: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub scored: bool,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub properties: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub category: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub severity: String,
}

macro_rules! policy_report {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $plural:literal, $scope:ty) => {
        $(#[$doc])*
        #[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
        #[serde(rename_all = "camelCase")]
        pub struct $name {
            #[serde(default = "report_api_version")]
            pub api_version: String,
            #[serde(default = $kind)]
            pub kind: String,
            #[serde(default)]
            pub metadata: ObjectMeta,
            /// The resource the report is about (Kyverno writes one report per resource).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub scope: Option<ObjectReference>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub scope_selector: Option<LabelSelector>,
            #[serde(default)]
            pub summary: PolicyReportSummary,
            #[serde(default, skip_serializing_if = "Vec::is_empty")]
            pub results: Vec<PolicyReportResult>,
        }

        impl kube::Resource for $name {
            type DynamicType = ();
            type Scope = $scope;

            fn kind(_: &()) -> Cow<'_, str> {
                Cow::Borrowed(stringify!($name))
            }
            fn group(_: &()) -> Cow<'_, str> {
                Cow::Borrowed(REPORT_GROUP)
            }
            fn version(_: &()) -> Cow<'_, str> {
                Cow::Borrowed(REPORT_VERSION)
            }
            fn plural(_: &()) -> Cow<'_, str> {
                Cow::Borrowed($plural)
            }
            fn meta(&self) -> &ObjectMeta {
                &self.metadata
            }
            fn meta_mut(&mut self) -> &mut ObjectMeta {
                &mut self.metadata
            }
        }

        impl $name {
            /// The results of `policy` (every rule).
            pub fn results_of<'a>(&'a self, policy: &'a str) -> impl Iterator<Item = &'a PolicyReportResult> + 'a {
                self.results.iter().filter(move |r| r.policy == policy)
            }
        }
    };
}

const REPORT_GROUP: &str = "wgpolicyk8s.io";
const REPORT_VERSION: &str = "v1alpha2";

fn report_api_version() -> String {
    format!("{REPORT_GROUP}/{REPORT_VERSION}")
}

fn policy_report_kind() -> String {
    "PolicyReport".into()
}

fn cluster_policy_report_kind() -> String {
    "ClusterPolicyReport".into()
}

policy_report!(
    /// A namespaced policy report (the wg-policy prototype's PolicyReport, v1alpha2).
    PolicyReport,
    "policy_report_kind",
    "policyreports",
    k8s_openapi::NamespaceResourceScope
);
policy_report!(
    /// A cluster-wide policy report.
    ClusterPolicyReport,
    "cluster_policy_report_kind",
    "clusterpolicyreports",
    k8s_openapi::ClusterResourceScope
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_as_kyverno_writes_it_reads_typed() {
        let r: PolicyReport = serde_json::from_value(serde_json::json!({
            "apiVersion": "wgpolicyk8s.io/v1alpha2", "kind": "PolicyReport",
            "metadata": {"name": "6f3c", "namespace": "probes"},
            "scope": {"apiVersion": "v1", "kind": "Pod", "name": "no-limits", "namespace": "probes"},
            "summary": {"pass": 0, "fail": 1, "warn": 0, "error": 0, "skip": 0},
            "results": [{"source": "kyverno", "policy": "require-limits", "rule": "require-container-limits",
                "result": "fail", "message": "validation error: CPU and memory limits are required.",
                "scored": true, "timestamp": {"seconds": 1764000000, "nanos": 0},
                "properties": {"process": "admission review"}}]
        }))
        .unwrap();
        assert_eq!(r.summary.fail, 1);
        let rs: Vec<_> = r.results_of("require-limits").collect();
        assert_eq!(rs.len(), 1);
        assert_eq!(rs[0].rule, "require-container-limits");
        assert_eq!(r.scope.as_ref().unwrap().name.as_deref(), Some("no-limits"));
        assert_eq!(
            <PolicyReport as kube::Resource>::url_path(&(), Some("probes")),
            "/apis/wgpolicyk8s.io/v1alpha2/namespaces/probes/policyreports"
        );
        let back = serde_json::to_value(&r).unwrap();
        assert_eq!(back["kind"], "PolicyReport");
        assert_eq!(back["apiVersion"], "wgpolicyk8s.io/v1alpha2");
        let c: ClusterPolicyReport =
            serde_json::from_value(serde_json::json!({"metadata": {"name": "x"}})).unwrap();
        assert_eq!(serde_json::to_value(&c).unwrap()["kind"], "ClusterPolicyReport");
    }
}
