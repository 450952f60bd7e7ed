//! The health checks Argo CD 3.2 ships as Lua (`resource_customizations/<group>/<Kind>/
//! health.lua` in argo-cd), written here in Rust for the kinds hub/spoke platforms deploy.
//! Their statuses and messages are the scripts'; where a script fails on an object (indexing
//! a nil, concatenating a nil), the error is the text gopher-lua gives at that line, since
//! Argo CD reports it as the resource's health.
//!
//! Written here: apiextensions.k8s.io CustomResourceDefinition, batch CronJob, policy
//! PodDisruptionBudget, cert-manager.io Certificate / Issuer / ClusterIssuer,
//! external-secrets.io ExternalSecret / ClusterExternalSecret / SecretStore /
//! ClusterSecretStore / PushSecret, kyverno.io Policy (3.2 ships none for ClusterPolicy),
//! karpenter.sh NodePool and karpenter.k8s.aws EC2NodeClass (none for NodeClaim).
//! argoproj.io Application has none: Argo CD 1.8 removed it, and the docs' "Argo CD App"
//! section restores it with a custom check in `argocd-cm`.
//!
//! Shipped by 3.2 but not written here (their kinds get no health in the sim): among those
//! platforms commonly run, monitoring.coreos.com Prometheus, keda.sh ScaledObject,
//! postgresql.cnpg.io Cluster, bitnami.com SealedSecret, gateway.networking.k8s.io Gateway /
//! HTTPRoute / GRPCRoute, argoproj.io ApplicationSet / Rollout / AnalysisRun / Experiment /
//! CronWorkflow / EventBus, the Flux toolkit kinds (HelmRelease, Kustomization,
//! GitRepository, HelmRepository, OCIRepository, Bucket, HelmChart, ImagePolicy,
//! ImageRepository, ImageUpdateAutomation, Receiver), grafana.integreatly.org Grafana /
//! GrafanaDashboard / GrafanaDatasource / GrafanaFolder, opentelemetry.io
//! OpenTelemetryCollector, snapshot.storage.k8s.io VolumeSnapshot(Content),
//! operators.coreos.com Subscription, the Cluster API kinds, the Crossplane wildcards
//! (`_.crossplane.io/_`, `_.upbound.io/_`) and many operator-specific kinds.

use serde_json::Value;

use super::health::{Assessment, Health};

/// A built-in check: the health, or the error text Argo CD reports.
pub type Check = fn(&Value) -> Result<Assessment, String>;

/// The built-in Lua check Argo CD 3.2 has for a group and kind.
pub fn builtin(group: &str, kind: &str) -> Option<Check> {
    Some(match (group, kind) {
        ("apiextensions.k8s.io", "CustomResourceDefinition") => crd,
        ("batch", "CronJob") => cron_job,
        ("policy", "PodDisruptionBudget") => pdb,
        ("cert-manager.io", "Certificate") => certificate,
        ("cert-manager.io", "Issuer") => |o| ready(o, "Initializing issuer", None),
        ("cert-manager.io", "ClusterIssuer") => |o| ready(o, "Initializing ClusterIssuer", None),
        ("external-secrets.io", "ExternalSecret") => |o| ready(o, "Waiting for ExternalSecret", None),
        ("external-secrets.io", "SecretStore") => |o| ready(o, "Waiting for SecretStore", None),
        ("external-secrets.io", "ClusterSecretStore") => |o| ready(o, "Waiting for ClusterSecretStore", None),
        ("external-secrets.io", "PushSecret") => |o| ready(o, "Waiting for PushSecret", None),
        ("external-secrets.io", "ClusterExternalSecret") => cluster_external_secret,
        ("kyverno.io", "Policy") => kyverno_policy,
        ("karpenter.sh", "NodePool") => |o| ready(o, "Waiting for NodePool to be ready", None),
        ("karpenter.k8s.aws", "EC2NodeClass") => |o| {
            ready(
                o,
                "Waiting for EC2NodeClass to be ready",
                Some("EC2NodeClass is ready"),
            )
        },
        _ => return None,
    })
}

fn h(status: Health, message: impl Into<String>) -> Result<Assessment, String> {
    Ok(Assessment {
        status,
        message: message.into(),
    })
}

/// A string field as a script reads it into a message: nil is no message.
fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// `obj.status.conditions` as `ipairs` walks it (nothing when absent or not a list).
fn conditions(obj: &Value) -> &[Value] {
    obj.pointer("/status/conditions")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn is(c: &Value, key: &str, want: &str) -> bool {
    c.get(key).and_then(Value::as_str) == Some(want)
}

/// `"<prefix>" .. condition.<key>` at a script line: gopher-lua fails on a nil.
fn concat(prefix: &str, c: &Value, key: &str, line: u32) -> Result<String, String> {
    match c.get(key) {
        Some(Value::String(s)) => Ok(format!("{prefix}{s}")),
        Some(Value::Number(n)) => Ok(format!("{prefix}{n}")),
        other => Err(format!(
            "<string>:{line}: cannot perform concat operation between string and {}",
            lua_type(other)
        )),
    }
}

fn lua_type(v: Option<&Value>) -> &'static str {
    match v {
        None | Some(Value::Null) => "nil",
        Some(Value::Bool(_)) => "boolean",
        Some(Value::Number(_)) => "number",
        Some(Value::String(_)) => "string",
        Some(_) => "table",
    }
}

/// The common shape: the first `Ready` condition decides (False: Degraded, True: Healthy,
/// each with its message unless the script fixes one), else Progressing with `waiting`.
fn ready(obj: &Value, waiting: &str, healthy: Option<&str>) -> Result<Assessment, String> {
    for c in conditions(obj) {
        if is(c, "type", "Ready") && is(c, "status", "False") {
            return h(Health::Degraded, text(c, "message"));
        }
        if is(c, "type", "Ready") && is(c, "status", "True") {
            return h(Health::Healthy, healthy.unwrap_or(text(c, "message")));
        }
    }
    h(Health::Progressing, waiting)
}

/// cert-manager.io/Certificate: an `Issuing` condition first, then `Ready`.
fn certificate(obj: &Value) -> Result<Assessment, String> {
    if let Some(c) = conditions(obj)
        .iter()
        .find(|c| is(c, "type", "Issuing") && is(c, "status", "True"))
    {
        return h(Health::Progressing, text(c, "message"));
    }
    ready(obj, "Waiting for certificate", None)
}

/// external-secrets.io/ClusterExternalSecret: the last condition decides.
fn cluster_external_secret(obj: &Value) -> Result<Assessment, String> {
    if let Some(cs) = obj.pointer("/status/conditions").filter(|c| !c.is_null()) {
        let last = cs.as_array().and_then(|a| a.last());
        let Some(last) = last.filter(|l| l.is_object()) else {
            return Err(format!(
                "<string>:6: attempt to index a non-table object({}) with key 'type'",
                lua_type(last)
            ));
        };
        if is(last, "type", "Ready") && is(last, "status", "True") {
            return h(Health::Healthy, text(last, "message"));
        }
        if (is(last, "type", "PartiallyReady") || is(last, "type", "NotReady")) && is(last, "status", "True")
        {
            return h(Health::Degraded, text(last, "message"));
        }
    }
    h(Health::Progressing, "Waiting for ClusterExternalSecret")
}

/// kyverno.io/Policy: Ready only with reason Succeeded and message Ready.
fn kyverno_policy(obj: &Value) -> Result<Assessment, String> {
    let ready = conditions(obj).iter().any(|c| {
        is(c, "type", "Ready")
            && is(c, "status", "True")
            && is(c, "reason", "Succeeded")
            && is(c, "message", "Ready")
    });
    if ready {
        h(Health::Healthy, "Policy is ready")
    } else {
        h(Health::Progressing, "Waiting for Policy to be ready")
    }
}

/// apiextensions.k8s.io/CustomResourceDefinition.
fn crd(obj: &Value) -> Result<Assessment, String> {
    if obj
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|t| !t.is_null())
    {
        return h(Health::Progressing, "CRD is terminating");
    }
    let status = obj.get("status").filter(|s| !s.is_null());
    let Some(status) = status.filter(|s| s.is_object()) else {
        return Err(format!(
            "<string>:10: attempt to index a non-table object({}) with key 'conditions'",
            lua_type(status)
        ));
    };
    let cs: &[Value] = match status.get("conditions") {
        None | Some(Value::Null) => return h(Health::Progressing, "Status conditions not found"),
        Some(Value::Array(a)) => a,
        Some(_) => &[],
    };
    if cs.is_empty() {
        return h(Health::Progressing, "Status conditions not found");
    }
    let mut established = false;
    for c in cs {
        if is(c, "type", "Terminating") && is(c, "status", "True") {
            return h(
                Health::Progressing,
                concat("CRD is terminating: ", c, "message", 30)?,
            );
        }
        if is(c, "type", "NamesAccepted") && is(c, "status", "False") {
            return h(
                Health::Degraded,
                concat("CRD names have not been accepted: ", c, "message", 37)?,
            );
        }
        if is(c, "type", "NonStructuralSchema") && is(c, "status", "True") {
            return h(
                Health::Degraded,
                concat("Schema violations found: ", c, "message", 44)?,
            );
        }
        if is(c, "type", "Established") && is(c, "status", "True") {
            established = true;
        }
    }
    if !established {
        return h(Health::Degraded, "CRD is not established");
    }
    h(Health::Healthy, "CRD is healthy")
}

/// policy/PodDisruptionBudget: every condition is looked at; a False one (other than
/// InsufficientPods) is Degraded at once, the last other one sets Healthy.
fn pdb(obj: &Value) -> Result<Assessment, String> {
    let mut out = Assessment {
        status: Health::Progressing,
        message: "Waiting for status".into(),
    };
    for c in conditions(obj) {
        if is(c, "status", "False") && !is(c, "reason", "InsufficientPods") {
            return h(
                Health::Degraded,
                concat("PodDisruptionBudget has ", c, "reason", 14)?,
            );
        }
        out = Assessment {
            status: Health::Healthy,
            message: concat("PodDisruptionBudget has ", c, "reason", 18)?,
        };
    }
    Ok(out)
}

/// batch/CronJob.
fn cron_job(obj: &Value) -> Result<Assessment, String> {
    let spec = obj.get("spec").filter(|s| !s.is_null());
    let Some(spec) = spec.filter(|s| s.is_object()) else {
        return Err(format!(
            "<string>:3: attempt to index a non-table object({}) with key 'suspend'",
            lua_type(spec)
        ));
    };
    if spec.get("suspend") == Some(&Value::Bool(true)) {
        return h(Health::Healthy, "CronJob is Suspended");
    }
    let Some(status) = obj.get("status").filter(|s| !s.is_null()) else {
        return h(Health::Progressing, "Waiting for CronJob");
    };
    let field = |k: &str| status.get(k).filter(|v| !v.is_null());
    let Some(scheduled) = field("lastScheduleTime") else {
        return h(Health::Healthy, "CronJob has not been scheduled yet");
    };
    let Some(succeeded) = field("lastSuccessfulTime") else {
        return h(
            Health::Healthy,
            "The Cronjob never completed succesfully. It may not be healthy",
        );
    };
    if field("active")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty())
    {
        return h(
            Health::Healthy,
            "The job is running. Its last execution may not have been successful",
        );
    }
    // RFC 3339 times compare as strings, as the script compares them
    if let (Some(s), Some(t)) = (succeeded.as_str(), scheduled.as_str())
        && s < t
    {
        return h(
            Health::Degraded,
            "CronJob has not completed its last execution successfully",
        );
    }
    h(
        Health::Healthy,
        "CronJob has completed its last execution successfully",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Runs the check for `apiVersion`/`kind` on an object with these fields.
    fn check(api_version: &str, kind: &str, fields: Value) -> Result<(Health, String), String> {
        let group = api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
        let mut obj =
            json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": "x", "namespace": "ns"}});
        for (k, v) in fields.as_object().unwrap() {
            obj[k] = v.clone();
        }
        let f = builtin(group, kind).unwrap_or_else(|| panic!("no check for {group}/{kind}"));
        f(&obj).map(|a| (a.status, a.message))
    }

    fn conds(cs: Value) -> Value {
        json!({"status": {"conditions": cs}})
    }

    fn ok(status: Health, message: &str) -> Result<(Health, String), String> {
        Ok((status, message.to_string()))
    }

    // Each case restates the facts of a file under resource_customizations/<group>/<Kind>/
    // testdata in argo-cd v3.2.0 and expects what its health_test.yaml expects.

    #[test]
    fn cert_manager() {
        let v = "cert-manager.io/v1";
        assert_eq!(
            check(v, "Certificate", json!({})),
            ok(Health::Progressing, "Waiting for certificate")
        );
        // progressing_issuing / progressing_issuing_last: Issuing wins wherever it is
        let issuing = json!({"type": "Issuing", "status": "True", "reason": "DoesNotExist", "message": "Issuing certificate as Secret does not exist"});
        let not_ready = json!({"type": "Ready", "status": "False", "reason": "DoesNotExist", "message": "Issuing certificate as Secret does not exist"});
        assert_eq!(
            check(
                v,
                "Certificate",
                conds(json!([issuing.clone(), not_ready.clone()]))
            ),
            ok(
                Health::Progressing,
                "Issuing certificate as Secret does not exist"
            )
        );
        assert_eq!(
            check(v, "Certificate", conds(json!([not_ready, issuing]))),
            ok(
                Health::Progressing,
                "Issuing certificate as Secret does not exist"
            )
        );
        let invalid = "Resource validation failed: spec.acme.config: Required value: no ACME solver configuration specified for domain \"cd.apps.argoproj.io\"";
        assert_eq!(
            check(
                v,
                "Certificate",
                conds(
                    json!([{"type": "Ready", "status": "False", "reason": "ErrorIssuerConfig", "message": invalid}])
                )
            ),
            ok(Health::Degraded, invalid)
        );
        assert_eq!(
            check(
                v,
                "Certificate",
                conds(
                    json!([{"type": "Ready", "status": "True", "reason": "CertIssued", "message": "Certificate issued successfully"}])
                )
            ),
            ok(Health::Healthy, "Certificate issued successfully")
        );
        assert_eq!(
            check(
                v,
                "Certificate",
                conds(
                    json!([{"type": "Ready", "status": "True", "message": "Certificate renewed successfully"}])
                )
            ),
            ok(Health::Healthy, "Certificate renewed successfully")
        );
        for (kind, waiting) in [
            ("Issuer", "Initializing issuer"),
            ("ClusterIssuer", "Initializing ClusterIssuer"),
        ] {
            assert_eq!(check(v, kind, json!({})), ok(Health::Progressing, waiting));
            assert_eq!(
                check(
                    v,
                    kind,
                    conds(
                        json!([{"type": "Ready", "status": "True", "reason": "ACMEAccountRegistered", "message": "The ACME account was registered with the ACME server"}])
                    )
                ),
                ok(
                    Health::Healthy,
                    "The ACME account was registered with the ACME server"
                )
            );
            assert_eq!(
                check(
                    v,
                    kind,
                    conds(
                        json!([{"type": "Ready", "status": "False", "reason": "ErrRegisterACMEAccount", "message": "Failed to verify ACME account: acme: : 404 page not found\n"}])
                    )
                ),
                ok(
                    Health::Degraded,
                    "Failed to verify ACME account: acme: : 404 page not found\n"
                )
            );
        }
    }

    #[test]
    fn external_secrets() {
        let v = "external-secrets.io/v1beta1";
        assert_eq!(
            check(v, "ExternalSecret", json!({})),
            ok(Health::Progressing, "Waiting for ExternalSecret")
        );
        let degraded = "could not get secret data from provider: key \"secret/sa/example\" from ExternalSecret \"test-degraded\"";
        assert_eq!(
            check(
                v,
                "ExternalSecret",
                conds(
                    json!([{"type": "Ready", "status": "False", "reason": "SecretSyncedError", "message": degraded}])
                )
            ),
            ok(Health::Degraded, degraded)
        );
        assert_eq!(
            check(
                v,
                "ExternalSecret",
                conds(
                    json!([{"type": "Ready", "status": "True", "reason": "SecretSynced", "message": "Secret was synced"}])
                )
            ),
            ok(Health::Healthy, "Secret was synced")
        );
        for kind in ["SecretStore", "ClusterSecretStore"] {
            assert_eq!(
                check(
                    v,
                    kind,
                    conds(
                        json!([{"type": "Ready", "status": "False", "reason": "InvalidProviderConfig", "message": "unable to validate store"}])
                    )
                ),
                ok(Health::Degraded, "unable to validate store")
            );
            assert_eq!(
                check(
                    v,
                    kind,
                    conds(
                        json!([{"type": "Ready", "status": "True", "reason": "Valid", "message": "store validated"}])
                    )
                ),
                ok(Health::Healthy, "store validated")
            );
            assert_eq!(
                check(v, kind, json!({})),
                ok(Health::Progressing, &format!("Waiting for {kind}"))
            );
        }
        assert_eq!(
            check(v, "PushSecret", json!({})),
            ok(Health::Progressing, "Waiting for PushSecret")
        );
        let push = "set secret failed: could not write remote ref test to target secretstore my-store: Error making API request.";
        assert_eq!(
            check(
                v,
                "PushSecret",
                conds(json!([{"type": "Ready", "status": "False", "reason": "Errored", "message": push}]))
            ),
            ok(Health::Degraded, push)
        );
        assert_eq!(
            check(
                v,
                "PushSecret",
                conds(
                    json!([{"type": "Ready", "status": "True", "reason": "Synced", "message": "PushSecret synced successfully"}])
                )
            ),
            ok(Health::Healthy, "PushSecret synced successfully")
        );
    }

    #[test]
    fn cluster_external_secrets_look_at_the_last_condition() {
        let v = "external-secrets.io/v1beta1";
        let k = "ClusterExternalSecret";
        assert_eq!(
            check(v, k, json!({})),
            ok(Health::Progressing, "Waiting for ClusterExternalSecret")
        );
        let failed =
            json!({"type": "PartiallyReady", "status": "True", "message": "one or more namespaces failed"});
        assert_eq!(
            check(v, k, conds(json!([failed.clone()]))),
            ok(Health::Degraded, "one or more namespaces failed")
        );
        assert_eq!(
            check(
                v,
                k,
                conds(
                    json!([{"type": "NotReady", "status": "True", "message": "one or more namespaces failed"}])
                )
            ),
            ok(Health::Degraded, "one or more namespaces failed")
        );
        // healthy.yaml: PartiallyReady, then a Ready without message
        assert_eq!(
            check(
                v,
                k,
                conds(json!([failed.clone(), {"type": "Ready", "status": "True"}]))
            ),
            ok(Health::Healthy, "")
        );
        assert_eq!(
            check(v, k, conds(json!([{"type": "Ready", "status": "True"}, failed]))),
            ok(Health::Degraded, "one or more namespaces failed")
        );
        // the script indexes conditions[#conditions], nil for an empty list
        assert_eq!(
            check(v, k, conds(json!([]))),
            Err("<string>:6: attempt to index a non-table object(nil) with key 'type'".into())
        );
    }

    #[test]
    fn kyverno_and_karpenter() {
        let policy = |c: Value| check("kyverno.io/v1", "Policy", conds(c));
        assert_eq!(
            policy(json!([{"type": "Ready", "status": "True", "reason": "Succeeded", "message": "Ready"}])),
            ok(Health::Healthy, "Policy is ready")
        );
        assert_eq!(
            policy(json!([{"type": "Ready", "status": "False", "reason": "Failed", "message": "not ready"}])),
            ok(Health::Progressing, "Waiting for Policy to be ready")
        );
        assert!(builtin("kyverno.io", "ClusterPolicy").is_none());
        let pool = |c: Value| check("karpenter.sh/v1", "NodePool", conds(c));
        assert_eq!(
            pool(
                json!([{"type": "ValidationSucceeded", "status": "True"}, {"type": "Ready", "status": "False", "reason": "NodeClassNotReady", "message": "NodePool is not ready"}])
            ),
            ok(Health::Degraded, "NodePool is not ready")
        );
        assert_eq!(
            pool(
                json!([{"type": "Ready", "status": "True", "reason": "Ready", "message": "NodePool is ready"}])
            ),
            ok(Health::Healthy, "NodePool is ready")
        );
        assert_eq!(
            pool(json!([])),
            ok(Health::Progressing, "Waiting for NodePool to be ready")
        );
        let class = |c: Value| check("karpenter.k8s.aws/v1", "EC2NodeClass", conds(c));
        assert_eq!(
            class(
                json!([{"type": "Ready", "status": "False", "reason": "SubnetsNotFound", "message": "EC2NodeClass is not ready"}])
            ),
            ok(Health::Degraded, "EC2NodeClass is not ready")
        );
        // the healthy message is the script's, not the condition's
        assert_eq!(
            class(json!([{"type": "Ready", "status": "True", "reason": "Ready", "message": ""}])),
            ok(Health::Healthy, "EC2NodeClass is ready")
        );
        assert!(builtin("karpenter.sh", "NodeClaim").is_none());
        assert!(builtin("argoproj.io", "Application").is_none());
    }

    #[test]
    fn custom_resource_definitions() {
        let v = "apiextensions.k8s.io/v1";
        let k = "CustomResourceDefinition";
        let established = json!({"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted"});
        let names_ok = json!({"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found"});
        assert_eq!(
            check(v, k, conds(json!([names_ok.clone(), established.clone()]))),
            ok(Health::Healthy, "CRD is healthy")
        );
        assert_eq!(
            check(
                v,
                k,
                conds(
                    json!([{"type": "NamesAccepted", "status": "False", "reason": "InitialNamesNotAccepted", "message": "the initial names have not been accepted"}])
                )
            ),
            ok(
                Health::Degraded,
                "CRD names have not been accepted: the initial names have not been accepted"
            )
        );
        assert_eq!(
            check(
                v,
                k,
                conds(
                    json!([established.clone(), {"type": "NonStructuralSchema", "status": "True", "reason": "Violations", "message": "spec.preserveUnknownFields: Invalid value: true: must be false"}])
                )
            ),
            ok(
                Health::Degraded,
                "Schema violations found: spec.preserveUnknownFields: Invalid value: true: must be false"
            )
        );
        assert_eq!(
            check(v, k, conds(json!([names_ok]))),
            ok(Health::Degraded, "CRD is not established")
        );
        assert_eq!(
            check(
                v,
                k,
                conds(
                    json!([established, {"type": "Terminating", "status": "True", "reason": "InstanceDeletionInProgress", "message": "user has deleted the CRD"}])
                )
            ),
            ok(
                Health::Progressing,
                "CRD is terminating: user has deleted the CRD"
            )
        );
        assert_eq!(
            check(
                v,
                k,
                json!({"metadata": {"name": "x", "deletionTimestamp": "2024-12-10T10:00:00Z"}})
            ),
            ok(Health::Progressing, "CRD is terminating")
        );
        assert_eq!(
            check(v, k, json!({"status": {}})),
            ok(Health::Progressing, "Status conditions not found")
        );
        assert_eq!(
            check(v, k, conds(json!([]))),
            ok(Health::Progressing, "Status conditions not found")
        );
        assert_eq!(
            check(v, k, json!({})),
            Err("<string>:10: attempt to index a non-table object(nil) with key 'conditions'".into())
        );
        assert_eq!(
            check(v, k, conds(json!([{"type": "Terminating", "status": "True"}]))),
            Err("<string>:30: cannot perform concat operation between string and nil".into())
        );
    }

    #[test]
    fn pod_disruption_budgets_and_cron_jobs() {
        let pdb = |s: Value| check("policy/v1", "PodDisruptionBudget", s);
        assert_eq!(
            pdb(conds(
                json!([{"type": "DisruptionAllowed", "status": "True", "reason": "SufficientPods"}])
            )),
            ok(Health::Healthy, "PodDisruptionBudget has SufficientPods")
        );
        assert_eq!(pdb(json!({})), ok(Health::Progressing, "Waiting for status"));
        assert_eq!(
            pdb(conds(
                json!([{"type": "DisruptionAllowed", "status": "False", "reason": "SyncFailed"}])
            )),
            ok(Health::Degraded, "PodDisruptionBudget has SyncFailed")
        );
        assert_eq!(
            pdb(conds(
                json!([{"type": "DisruptionAllowed", "status": "False", "reason": "InsufficientPods"}])
            )),
            ok(Health::Healthy, "PodDisruptionBudget has InsufficientPods")
        );
        let cron = |spec: Value, status: Value| {
            let mut fields = json!({"spec": spec});
            if !status.is_null() {
                fields["status"] = status;
            }
            check("batch/v1", "CronJob", fields)
        };
        let spec = json!({"schedule": "* * * * *"});
        assert_eq!(
            cron(
                spec.clone(),
                json!({"lastScheduleTime": "2024-01-01T10:00:00Z", "lastSuccessfulTime": "2024-01-01T10:00:05Z"})
            ),
            ok(
                Health::Healthy,
                "CronJob has completed its last execution successfully"
            )
        );
        assert_eq!(
            cron(spec.clone(), json!({})),
            ok(Health::Healthy, "CronJob has not been scheduled yet")
        );
        assert_eq!(
            cron(
                spec.clone(),
                json!({"lastScheduleTime": "2024-01-01T11:00:00Z", "lastSuccessfulTime": "2024-01-01T10:00:05Z"})
            ),
            ok(
                Health::Degraded,
                "CronJob has not completed its last execution successfully"
            )
        );
        assert_eq!(
            cron(spec.clone(), json!({"lastScheduleTime": "2024-01-01T11:00:00Z"})),
            ok(
                Health::Healthy,
                "The Cronjob never completed succesfully. It may not be healthy"
            )
        );
        assert_eq!(
            cron(
                spec.clone(),
                json!({"active": [{"name": "j"}], "lastScheduleTime": "2024-01-01T11:00:00Z", "lastSuccessfulTime": "2024-01-01T10:00:05Z"})
            ),
            ok(
                Health::Healthy,
                "The job is running. Its last execution may not have been successful"
            )
        );
        assert_eq!(
            cron(
                json!({"suspend": true}),
                json!({"lastScheduleTime": "2024-01-01T11:00:00Z"})
            ),
            ok(Health::Healthy, "CronJob is Suspended")
        );
        assert_eq!(
            cron(spec, Value::Null),
            ok(Health::Progressing, "Waiting for CronJob")
        );
    }
}
