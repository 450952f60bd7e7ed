//! The policy controller side of the stand-in: loading policies and exceptions, the
//! webhook configurations Kyverno keeps (`pkg/controllers/webhook`,
//! `pkg/controllers/generic/webhook`), and the policies' status.

use std::collections::{BTreeMap, BTreeSet};

use hubspoke_kyverno::policy::{self, Policy, RuleKind};
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use kube::ResourceExt;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::ApiResource;
use serde_json::{Value, json};

use super::{
    Engine, InstallError, MUTATING_CONFIGURATION, WEBHOOK_CONFIGURATION, apply, cluster_policies,
    exceptions_api, kube_err, other, policies,
};

/// The policy validating webhook configuration.
pub const POLICY_CONFIGURATION: &str = "kyverno-policy-validating-webhook-cfg";
/// The PolicyException validating webhook configuration.
pub const EXCEPTION_CONFIGURATION: &str = "kyverno-exception-validating-webhook-cfg";

impl Engine {
    /// Re-reads every policy and exception, registers the webhooks for what they match,
    /// writes statuses.
    pub(super) async fn reload(&self) -> Result<(), InstallError> {
        let mut loaded = BTreeMap::new();
        let mut objects = Vec::new();
        for ar in [cluster_policies(), policies()] {
            let api: Api<DynamicObject> = Api::all_with(self.client.clone(), &ar);
            for obj in api.list(&Default::default()).await.map_err(kube_err)?.items {
                let v = serde_json::to_value(&obj).map_err(|e| other(e.to_string()))?;
                let key = match obj.namespace() {
                    Some(ns) => format!("{ns}/{}", obj.name_any()),
                    None => obj.name_any(),
                };
                loaded.insert(key, policy::load(&v));
                objects.push((ar.clone(), v));
            }
        }
        *self.policies.write().expect("policy lock") = loaded;
        self.mark_cleanup_policies().await?;
        self.reload_exceptions().await?;
        self.register_webhooks().await?;
        for (ar, obj) in objects {
            self.write_status(&ar, &obj).await?;
        }
        Ok(())
    }

    /// Cleanup policies are not run: each says so in a `Ready=False` condition (never a
    /// silent skip).
    async fn mark_cleanup_policies(&self) -> Result<(), InstallError> {
        for ar in super::cleanup_policies() {
            let api: Api<DynamicObject> = Api::all_with(self.client.clone(), &ar);
            let list = match api.list(&Default::default()).await {
                Ok(l) => l.items,
                Err(kube::Error::Api(s)) if s.code == 404 => continue,
                Err(e) => return Err(kube_err(e)),
            };
            for obj in list {
                let message = format!(
                    "Not Ready: {} {} is a cleanup policy, which the hubspoke sim Kyverno stand-in does not run: nothing is deleted on sim",
                    ar.kind,
                    obj.name_any()
                );
                let done = obj
                    .data
                    .pointer("/status/conditions/0/message")
                    .and_then(Value::as_str)
                    == Some(message.as_str());
                if done {
                    continue;
                }
                let status = json!({"status": {"conditions": [{"type": "Ready", "status": "False", "reason": "Failed",
                    "message": message, "lastTransitionTime": crate::meta::now_rfc3339()}]}});
                let namespaced: Api<DynamicObject> = match obj.namespace() {
                    Some(ns) => Api::namespaced_with(self.client.clone(), &ns, &ar),
                    None => Api::all_with(self.client.clone(), &ar),
                };
                match namespaced
                    .patch_status(&obj.name_any(), &PatchParams::default(), &Patch::Merge(&status))
                    .await
                {
                    Ok(_) => {}
                    Err(kube::Error::Api(s)) if s.code == 404 => {}
                    Err(e) => return Err(kube_err(e)),
                }
            }
        }
        Ok(())
    }

    /// Reads the PolicyExceptions Kyverno would use: none unless `--enablePolicyException`
    /// and `--exceptionNamespace` are both set; only that namespace's, or every
    /// namespace's with `*`.
    pub(super) async fn reload_exceptions(&self) -> Result<(), InstallError> {
        let Some(ns) = self.opts.exception_namespace() else {
            self.exceptions.write().expect("exception lock").clear();
            return Ok(());
        };
        let ar = exceptions_api();
        let api: Api<DynamicObject> = if ns == "*" {
            Api::all_with(self.client.clone(), &ar)
        } else {
            Api::namespaced_with(self.client.clone(), ns, &ar)
        };
        let list = match api.list(&Default::default()).await {
            Ok(l) => l.items,
            // the CRD is not installed (yet)
            Err(kube::Error::Api(s)) if s.code == 404 => vec![],
            Err(e) => return Err(kube_err(e)),
        };
        let loaded = list
            .iter()
            .filter_map(|o| serde_json::to_value(o).ok())
            .filter_map(|v| hubspoke_kyverno::exceptions::load(&v).ok())
            .collect();
        *self.exceptions.write().expect("exception lock") = loaded;
        Ok(())
    }

    /// The webhook rules for the kinds the loaded policies' rules of `kind` match.
    async fn webhook_rules(&self, fail_closed: bool, kind: RuleKind) -> Vec<Value> {
        // (group, version, kind) selectors with the operations of their rule
        let selectors: Vec<(String, String, String, BTreeSet<String>)> = {
            let policies = self.policies.read().expect("policy lock");
            policies
                .values()
                .filter_map(|p| p.as_ref().ok())
                .filter(|p| p.fail_closed == fail_closed && p.admission)
                .flat_map(|p| p.rules.iter())
                .filter(|r| r.kind == kind)
                .flat_map(|r| {
                    let mut ks = Vec::new();
                    for f in std::iter::once(&r.match_)
                        .chain(
                            r.match_
                                .get("any")
                                .and_then(Value::as_array)
                                .into_iter()
                                .flatten(),
                        )
                        .chain(
                            r.match_
                                .get("all")
                                .and_then(Value::as_array)
                                .into_iter()
                                .flatten(),
                        )
                    {
                        let ops: BTreeSet<String> = match f
                            .pointer("/resources/operations")
                            .and_then(Value::as_array)
                            .filter(|o| !o.is_empty())
                        {
                            Some(o) => o.iter().filter_map(|x| x.as_str().map(str::to_string)).collect(),
                            None if kind == RuleKind::Mutate => {
                                ["CREATE", "UPDATE"].map(String::from).into_iter().collect()
                            }
                            None => ["CREATE", "UPDATE", "DELETE", "CONNECT"]
                                .map(String::from)
                                .into_iter()
                                .collect(),
                        };
                        for k in f
                            .pointer("/resources/kinds")
                            .and_then(Value::as_array)
                            .into_iter()
                            .flatten()
                        {
                            let (g, v, kind, _) = policy::parse_kind_selector(k.as_str().unwrap_or(""));
                            ks.push((g, v, kind, ops.clone()));
                        }
                    }
                    ks
                })
                .collect()
        };
        if selectors.is_empty() {
            return vec![];
        }
        let all_ops = || -> Vec<&str> {
            match kind {
                RuleKind::Mutate => vec!["CREATE", "UPDATE"],
                RuleKind::Validate => vec!["CREATE", "UPDATE", "DELETE", "CONNECT"],
            }
        };
        let Ok(discovery) = kube::discovery::Discovery::new(self.client.clone()).run().await else {
            return vec![
                json!({"apiGroups": ["*"], "apiVersions": ["*"], "resources": ["*/*"], "operations": all_ops(), "scope": "*"}),
            ];
        };
        // (group, version, operations) -> resources
        let mut by_gv: BTreeMap<(String, String, Vec<String>), BTreeSet<String>> = BTreeMap::new();
        for group in discovery.groups() {
            for (ar, _caps) in group.recommended_resources() {
                let mut ops = BTreeSet::new();
                for (g, v, k, o) in &selectors {
                    if hubspoke_kyverno::pattern::wildcard_match(g, &ar.group)
                        && hubspoke_kyverno::pattern::wildcard_match(v, &ar.version)
                        && hubspoke_kyverno::pattern::wildcard_match(k, &ar.kind)
                    {
                        ops.extend(o.iter().cloned());
                    }
                }
                if ops.is_empty() {
                    continue;
                }
                let entry = by_gv
                    .entry((ar.group.clone(), ar.version.clone(), ops.into_iter().collect()))
                    .or_default();
                entry.insert(ar.plural.clone());
                // Kyverno adds pods/ephemeralcontainers wherever pods are
                if ar.group.is_empty() && ar.plural == "pods" {
                    entry.insert("pods/ephemeralcontainers".into());
                }
            }
        }
        by_gv
            .into_iter()
            .map(|((g, v, ops), rs)| {
                json!({
                    "apiGroups": [g], "apiVersions": [v], "resources": rs.into_iter().collect::<Vec<_>>(),
                    "operations": ops, "scope": "*",
                })
            })
            .collect()
    }

    fn client_config(&self, path: &str) -> Value {
        match &self.opts.webhook_url {
            Some(url) => {
                json!({"url": format!("{}{path}", url.trim_end_matches('/')), "caBundle": self.ca_bundle})
            }
            None => {
                json!({"service": {"namespace": self.opts.namespace, "name": self.opts.service_name, "path": path, "port": 443}, "caBundle": self.ca_bundle})
            }
        }
    }

    fn namespace_selector(&self) -> Value {
        json!({"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["kube-system", self.opts.namespace]}]})
    }

    fn metadata(name: &str) -> Value {
        json!({"name": name, "labels": {"webhook.kyverno.io/managed-by": "kyverno"},
            "annotations": {"admissions.enforcer/disabled": "true"}})
    }

    /// The resource webhooks (validating and mutating, each an `-ignore` and a `-fail`
    /// webhook for the kinds policies match; a webhook without rules is left out of the
    /// mutating configuration), the policy validation webhook, and the exception
    /// validation webhook.
    pub(super) async fn register_webhooks(&self) -> Result<(), InstallError> {
        let mut validating = Vec::new();
        for (suffix, fail) in [("fail", true), ("ignore", false)] {
            validating.push(json!({
                "name": format!("validate.kyverno.svc-{suffix}"),
                "clientConfig": self.client_config(&format!("/validate/{suffix}")),
                "rules": self.webhook_rules(fail, RuleKind::Validate).await,
                "failurePolicy": if fail { "Fail" } else { "Ignore" },
                "matchPolicy": "Equivalent",
                "namespaceSelector": self.namespace_selector(),
                "objectSelector": {},
                "sideEffects": "NoneOnDryRun",
                "admissionReviewVersions": ["v1"],
                "timeoutSeconds": self.opts.timeout_seconds,
            }));
        }
        let mut cfg = json!({
            "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
            "metadata": Self::metadata(WEBHOOK_CONFIGURATION),
            "webhooks": validating,
        });
        let validating_api = Api::<ValidatingWebhookConfiguration>::all(self.client.clone());
        apply(&validating_api, cfg).await?;
        let mut mutating = Vec::new();
        for (suffix, fail) in [("ignore", false), ("fail", true)] {
            let rules = self.webhook_rules(fail, RuleKind::Mutate).await;
            if rules.is_empty() {
                continue;
            }
            mutating.push(json!({
                "name": format!("mutate.kyverno.svc-{suffix}"),
                "clientConfig": self.client_config(&format!("/mutate/{suffix}")),
                "rules": rules,
                "failurePolicy": if fail { "Fail" } else { "Ignore" },
                "matchPolicy": "Equivalent",
                "namespaceSelector": self.namespace_selector(),
                "objectSelector": {},
                "sideEffects": "NoneOnDryRun",
                "admissionReviewVersions": ["v1"],
                "timeoutSeconds": self.opts.timeout_seconds,
                "reinvocationPolicy": "IfNeeded",
            }));
        }
        cfg = json!({
            "apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
            "metadata": Self::metadata(MUTATING_CONFIGURATION),
            "webhooks": mutating,
        });
        apply(
            &Api::<MutatingWebhookConfiguration>::all(self.client.clone()),
            cfg,
        )
        .await?;
        cfg = json!({
            "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
            "metadata": Self::metadata(POLICY_CONFIGURATION),
            "webhooks": [{
                "name": "validate-policy.kyverno.svc",
                "clientConfig": self.client_config("/policyvalidate"),
                "rules": [{"apiGroups": ["kyverno.io"], "apiVersions": ["v1", "v2beta1"],
                    "resources": ["clusterpolicies", "policies"], "operations": ["CREATE", "UPDATE"], "scope": "*"}],
                "failurePolicy": "Fail",
                "matchPolicy": "Equivalent",
                "namespaceSelector": {},
                "objectSelector": {},
                "sideEffects": "None",
                "admissionReviewVersions": ["v1"],
                "timeoutSeconds": self.opts.timeout_seconds,
            }],
        });
        apply(&validating_api, cfg).await?;
        cfg = json!({
            "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
            "metadata": Self::metadata(EXCEPTION_CONFIGURATION),
            "webhooks": [{
                "name": format!("{}.{}.svc", self.opts.service_name, self.opts.namespace),
                "clientConfig": self.client_config("/exceptionvalidate"),
                "rules": [{"apiGroups": ["kyverno.io"], "apiVersions": ["v2alpha1", "v2beta1"],
                    "resources": ["policyexceptions"], "operations": ["CREATE", "UPDATE"], "scope": "*"}],
                "failurePolicy": "Fail",
                "matchPolicy": "Equivalent",
                "namespaceSelector": {},
                "objectSelector": {},
                "sideEffects": "None",
                "admissionReviewVersions": ["v1"],
                "timeoutSeconds": self.opts.timeout_seconds,
            }],
        });
        apply(&validating_api, cfg).await
    }

    /// Writes the status Kyverno writes: the Ready condition, rule counts, autogen rules.
    /// Kyverno's messages are `Ready` and `Not Ready`; a policy the stand-in cannot run is
    /// not Ready with the reason in the message.
    pub(super) async fn write_status(&self, ar: &ApiResource, obj: &Value) -> Result<(), InstallError> {
        let name = obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        let ns = obj.pointer("/metadata/namespace").and_then(Value::as_str);
        let key = match ns {
            Some(ns) => format!("{ns}/{name}"),
            None => name.to_string(),
        };
        let loaded = self.policies.read().expect("policy lock").get(&key).cloned();
        let Some(loaded) = loaded else { return Ok(()) };
        let (status, reason, message) = match &loaded {
            Ok(_) => ("True", "Succeeded", "Ready".to_string()),
            Err(e) => ("False", "Failed", format!("Not Ready: {e}")),
        };
        let previous = obj
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"))
            .cloned();
        let transition = match &previous {
            Some(p) if p["status"] == status => p["lastTransitionTime"].clone(),
            _ => json!(crate::meta::now_rfc3339()),
        };
        let (counts, autogen) = match &loaded {
            Ok(p) => (p.counts, p.autogen.clone()),
            Err(_) => ((0, 0, 0, 0), vec![]),
        };
        let mut new_status = json!({
            "conditions": [{"type": "Ready", "status": status, "reason": reason, "message": message, "lastTransitionTime": transition}],
            "autogen": {},
            "rulecount": {"validate": counts.0, "generate": counts.1, "mutate": counts.2, "verifyimages": counts.3},
            "validatingadmissionpolicy": {"generated": false, "message": ""},
        });
        if !autogen.is_empty() {
            new_status["autogen"]["rules"] = json!(autogen);
        }
        if obj.get("status") == Some(&new_status) {
            return Ok(());
        }
        let api: Api<DynamicObject> = match ns {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, ar),
            None => Api::all_with(self.client.clone(), ar),
        };
        let patch = json!({"status": new_status});
        match api
            .patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(e) => Err(kube_err(e)),
        }
    }

    /// The loaded policies that are served.
    pub(super) fn loaded(&self) -> Vec<Policy> {
        self.policies
            .read()
            .expect("policy lock")
            .values()
            .filter_map(|p| p.as_ref().ok())
            .cloned()
            .collect()
    }
}
