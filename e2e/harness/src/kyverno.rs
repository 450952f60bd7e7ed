//! Kyverno's policies as typed APIs (fields as in api/kyverno/v1): `hubspoke validate`
//! checks manifests against them, the suites read policy status through them.

use kube::CustomResource;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The spec of a ClusterPolicy (cluster-wide) and a Policy (namespaced).
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
