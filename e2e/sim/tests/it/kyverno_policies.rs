//! The Kyverno stand-in running the policies platforms ship (written here after common
//! public policy-library patterns): mutation before validation, foreach, CEL, podSecurity,
//! PolicyExceptions behind Kyverno's flags, background scans of what existed before a
//! policy.

use std::time::Duration;

use crate::common::{cluster, settle};
use crate::kyverno::{ar, cluster_policy, containers, pod, try_create};
use hubspoke_sim::standins::kyverno::{KyvernoOptions, KyvernoStandIn, MUTATING_CONFIGURATION};
use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};

async fn start(name: &str, opts: KyvernoOptions) -> (hubspoke_sim::SimCluster, Client, KyvernoStandIn) {
    let (c, client) = cluster(name).await;
    let k = KyvernoStandIn::install(client.clone(), opts).await.unwrap();
    (c, client, k)
}

async fn create_ns(client: &Client, name: &str, labels: Value) -> Namespace {
    let nss: Api<Namespace> = Api::all(client.clone());
    nss.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}})).unwrap(),
    )
    .await
    .unwrap()
}

/// The report of the object with `uid` once `cond` holds for it.
async fn report(client: &Client, ns: Option<&str>, uid: &str, cond: impl Fn(&Value) -> bool) -> Value {
    let api: Api<DynamicObject> = match ns {
        Some(ns) => Api::namespaced_with(
            client.clone(),
            ns,
            &ar("wgpolicyk8s.io", "v1alpha2", "PolicyReport", "policyreports"),
        ),
        None => Api::all_with(
            client.clone(),
            &ar(
                "wgpolicyk8s.io",
                "v1alpha2",
                "ClusterPolicyReport",
                "clusterpolicyreports",
            ),
        ),
    };
    settle(&api, uid, |o: Option<&DynamicObject>| {
        o.is_some_and(|o| cond(&serde_json::to_value(o).unwrap()))
    })
    .await;
    serde_json::to_value(api.get(uid).await.unwrap()).unwrap()
}

fn results_of<'a>(report: &'a Value, policy: &str) -> Vec<&'a Value> {
    report["results"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["policy"] == policy)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces_get_pod_security_labels_unless_they_set_their_own() {
    let (_c, client, _k) = start("kp-psa", KyvernoOptions::default()).await;
    // the shape of a platform's mutate-psa-labels policy: add-if-not-present labels
    let status = cluster_policy(
        &client,
        json!({"metadata": {"name": "mutate-psa-labels"}, "spec": {"rules": [{
            "name": "add-psa-labels",
            "match": {"any": [{"resources": {"kinds": ["Namespace"]}}]},
            "mutate": {"patchStrategicMerge": {"metadata": {"labels": {
                "+(pod-security.kubernetes.io/enforce)": "baseline",
                "+(pod-security.kubernetes.io/warn)": "restricted",
            }}}},
        }]}}),
    )
    .await;
    assert_eq!(status.0, "True");
    // Kyverno's mutating configuration: namespaces on CREATE and UPDATE, fail webhook
    let cfgs: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
    let cfg = serde_json::to_value(cfgs.get(MUTATING_CONFIGURATION).await.unwrap()).unwrap();
    let hooks = cfg["webhooks"].as_array().unwrap();
    assert_eq!(hooks.len(), 1, "{cfg}");
    assert_eq!(hooks[0]["name"], "mutate.kyverno.svc-fail");
    assert_eq!(hooks[0]["reinvocationPolicy"], "IfNeeded");
    assert_eq!(
        hooks[0]["rules"],
        json!([{"apiGroups": [""], "apiVersions": ["v1"], "resources": ["namespaces"], "operations": ["CREATE", "UPDATE"], "scope": "*"}])
    );
    let plain = create_ns(&client, "team-a", json!({})).await;
    let labels = plain.labels();
    assert_eq!(labels["pod-security.kubernetes.io/enforce"], "baseline");
    assert_eq!(labels["pod-security.kubernetes.io/warn"], "restricted");
    let own = create_ns(
        &client,
        "team-b",
        json!({"pod-security.kubernetes.io/enforce": "restricted"}),
    )
    .await;
    assert_eq!(own.labels()["pod-security.kubernetes.io/enforce"], "restricted");
    assert_eq!(own.labels()["pod-security.kubernetes.io/warn"], "restricted");
    // the mutation is reported on the namespace
    let uid = plain.uid().unwrap();
    let r = report(&client, None, &uid, |r| {
        !results_of(r, "mutate-psa-labels").is_empty()
    })
    .await;
    let res = results_of(&r, "mutate-psa-labels")[0];
    assert_eq!(
        (
            res["rule"].as_str(),
            res["result"].as_str(),
            res["message"].as_str()
        ),
        (
            Some("add-psa-labels"),
            Some("pass"),
            Some("mutated Namespace/team-a")
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutation_runs_before_validation_for_every_container() {
    let (_c, client, _k) = start("kp-foreach", KyvernoOptions::default()).await;
    // add allowPrivilegeEscalation: false to every container (foreach, element anchors) ...
    cluster_policy(
        &client,
        json!({"metadata": {"name": "default-security-context"}, "spec": {"rules": [{
            "name": "no-escalation",
            "match": {"any": [{"resources": {"kinds": ["Pod"]}}]},
            "mutate": {"foreach": [{"list": "request.object.spec.containers", "patchStrategicMerge": {"spec": {"containers": [{
                "(name)": "{{ element.name }}",
                "securityContext": {"+(allowPrivilegeEscalation)": false},
            }]}}}]},
        }]}}),
    )
    .await;
    // ... which an Enforce policy then requires, with probes, in every container
    cluster_policy(
        &client,
        json!({"metadata": {"name": "require-probes"}, "spec": {"rules": [{
            "name": "validate-probes",
            "match": {"any": [{"resources": {"kinds": ["Pod"]}}]},
            "validate": {"failureAction": "Enforce", "message": "Liveness probes and no escalation are required.",
                "foreach": [{"list": "request.object.spec.containers", "pattern": {
                    "livenessProbe": {"periodSeconds": ">0"},
                    "securityContext": {"allowPrivilegeEscalation": false},
                }}]},
        }]}}),
    )
    .await;
    let probe = json!({"httpGet": {"path": "/", "port": 80}, "periodSeconds": 5});
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let p: Pod = serde_json::from_value(pod(
        "web",
        json!({}),
        json!({"containers": [
            {"name": "app", "image": "nginx:1.27", "livenessProbe": probe},
            {"name": "sidecar", "image": "envoy:1.30", "livenessProbe": probe, "securityContext": {"allowPrivilegeEscalation": true}},
        ]}),
    ))
    .unwrap();
    // the sidecar keeps its own setting and is denied
    let err = pods.create(&PostParams::default(), &p).await.unwrap_err();
    let kube::Error::Api(s) = err else { panic!("{err}") };
    assert_eq!(
        s.message,
        "admission webhook \"validate.kyverno.svc-fail\" denied the request: \n\nresource Pod/default/web was blocked due to the following policies \n\nrequire-probes:\n  validate-probes: 'validation failure: validation error: Liveness probes and no escalation\n    are required. rule validate-probes failed at path /securityContext/allowPrivilegeEscalation/'\n"
    );
    let mut p = p;
    p.spec.as_mut().unwrap().containers[1].security_context = None;
    let created = pods.create(&PostParams::default(), &p).await.unwrap();
    for c in &created.spec.unwrap().containers {
        assert_eq!(
            c.security_context
                .as_ref()
                .and_then(|s| s.allow_privilege_escalation),
            Some(false),
            "{}",
            c.name
        );
    }
    // a container without a probe is denied whatever the mutation added
    let bare = pod(
        "bare",
        json!({}),
        json!({"containers": containers(&["nginx:1.27"])}),
    );
    let err = try_create(&client, "default", bare).await.unwrap_err();
    assert!(
        err.contains("rule validate-probes failed at path /livenessProbe/"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cel_and_pod_security_rules_are_enforced() {
    let (_c, client, _k) = start("kp-cel", KyvernoOptions::default()).await;
    cluster_policy(
        &client,
        json!({"metadata": {"name": "restrict-service-type"}, "spec": {"validationFailureAction": "Enforce", "rules": [{
            "name": "no-loadbalancer",
            "match": {"any": [{"resources": {"kinds": ["Service"]}}]},
            "validate": {"cel": {"expressions": [{
                "expression": "object.spec.type != 'LoadBalancer'",
                "messageExpression": "'Service ' + object.metadata.name + ' may not be of type LoadBalancer'",
            }]}},
        }]}}),
    )
    .await;
    let svc = |t: &str| json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}, "spec": {"type": t, "ports": [{"port": 80}]}});
    let err = try_create(&client, "default", svc("LoadBalancer"))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        "admission webhook \"validate.kyverno.svc-fail\" denied the request: \n\nresource Service/default/web was blocked due to the following policies \n\nrestrict-service-type:\n  no-loadbalancer: Service web may not be of type LoadBalancer\n"
    );
    try_create(&client, "default", svc("ClusterIP")).await.unwrap();
    cluster_policy(
        &client,
        json!({"metadata": {"name": "psa-baseline"}, "spec": {"validationFailureAction": "Enforce", "rules": [{
            "name": "baseline",
            "match": {"any": [{"resources": {"kinds": ["Pod"]}}]},
            "validate": {"podSecurity": {"level": "baseline", "version": "latest"}},
        }]}}),
    )
    .await;
    let privileged = pod(
        "priv",
        json!({}),
        json!({"containers": [{"name": "app", "image": "nginx:1.27", "securityContext": {"privileged": true}}]}),
    );
    let err = try_create(&client, "default", privileged).await.unwrap_err();
    assert_eq!(
        err,
        "admission webhook \"validate.kyverno.svc-fail\" denied the request: \n\nresource Pod/default/priv was blocked due to the following policies \n\npsa-baseline:\n  baseline: 'Validation rule ''baseline'' failed. It violates PodSecurity \"baseline:latest\":\n    (Forbidden reason: privileged, field error list: [spec.containers[0].securityContext.privileged\n    is forbidden, forbidden values found: true])'\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exceptions_apply_only_when_kyvernos_flags_enable_them() {
    let opts = KyvernoOptions {
        enable_policy_exception: true,
        exception_namespace: "kyverno".into(),
        ..KyvernoOptions::default()
    };
    let (_c, client, _k) = start("kp-polex", opts).await;
    create_ns(&client, "legacy", json!({})).await;
    cluster_policy(
        &client,
        json!({"metadata": {"name": "disallow-latest-tag"}, "spec": {"validationFailureAction": "Enforce", "rules": [{
            "name": "validate-image-tag",
            "match": {"any": [{"resources": {"kinds": ["Pod"]}}]},
            "validate": {"message": "no latest", "pattern": {"spec": {"containers": [{"image": "!*:latest"}]}}},
        }]}}),
    )
    .await;
    let latest = || {
        pod(
            "p",
            json!({}),
            json!({"containers": containers(&["nginx:latest"])}),
        )
    };
    assert!(try_create(&client, "legacy", latest()).await.is_err());
    let polex = |ns: &str| {
        json!({"apiVersion": "kyverno.io/v2", "kind": "PolicyException", "metadata": {"name": "legacy-latest", "namespace": ns},
            "spec": {"exceptions": [{"policyName": "disallow-latest-tag", "ruleNames": ["validate-image-tag"]}],
                "match": {"any": [{"resources": {"kinds": ["Pod"], "namespaces": ["legacy"]}}]}}})
    };
    let exceptions = |ns: &str| -> Api<DynamicObject> {
        Api::namespaced_with(
            client.clone(),
            ns,
            &ar("kyverno.io", "v2", "PolicyException", "policyexceptions"),
        )
    };
    // an exception outside --exceptionNamespace is not read
    create_ns(&client, "elsewhere", json!({})).await;
    exceptions("elsewhere")
        .create(
            &PostParams::default(),
            &serde_json::from_value(polex("elsewhere")).unwrap(),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(try_create(&client, "legacy", latest()).await.is_err());
    exceptions("kyverno")
        .create(
            &PostParams::default(),
            &serde_json::from_value(polex("kyverno")).unwrap(),
        )
        .await
        .unwrap();
    let mut admitted = false;
    for _ in 0..50 {
        if try_create(&client, "legacy", latest()).await.is_ok() {
            admitted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(admitted, "the exception in the kyverno namespace lets the pod in");
    // only in the namespace it matches
    assert!(try_create(&client, "default", latest()).await.is_err());
    // the skip is reported with the exception's name
    let pods: Api<Pod> = Api::namespaced(client.clone(), "legacy");
    let created = pods
        .create(&PostParams::default(), &serde_json::from_value(latest()).unwrap())
        .await
        .unwrap();
    let r = report(&client, Some("legacy"), &created.uid().unwrap(), |r| {
        !results_of(r, "disallow-latest-tag").is_empty()
    })
    .await;
    let res = results_of(&r, "disallow-latest-tag")[0];
    assert_eq!(res["result"], "skip");
    assert_eq!(
        res["message"],
        "rule is skipped due to policy exceptionskyverno/legacy-latest"
    );
    assert_eq!(res["properties"]["exceptions"], "legacy-latest");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_background_scan_reports_on_pods_that_existed_before_the_policy() {
    let (_c, client, _k) = start("kp-background", KyvernoOptions::default()).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let mut uids = Vec::new();
    for (name, image) in [("old-latest", "nginx:latest"), ("old-pinned", "nginx:1.27")] {
        let p = pods
            .create(
                &PostParams::default(),
                &serde_json::from_value(pod(name, json!({}), json!({"containers": containers(&[image])})))
                    .unwrap(),
            )
            .await
            .unwrap();
        uids.push(p.uid().unwrap());
    }
    // an Audit policy with background scanning arrives afterwards
    cluster_policy(
        &client,
        json!({"metadata": {"name": "disallow-latest-tag", "annotations": {"policies.kyverno.io/category": "Best Practices", "policies.kyverno.io/severity": "medium"}},
            "spec": {"background": true, "rules": [{
            "name": "validate-image-tag",
            "match": {"any": [{"resources": {"kinds": ["Pod"]}}]},
            "validate": {"message": "An image tag other than latest is required.", "pattern": {"spec": {"containers": [{"image": "!*:latest"}]}}},
        }]}}),
    )
    .await;
    let has = |r: &Value| !results_of(r, "disallow-latest-tag").is_empty();
    let r = report(&client, Some("default"), &uids[0], has).await;
    let res = results_of(&r, "disallow-latest-tag")[0];
    assert_eq!(
        (res["result"].as_str(), res["message"].as_str()),
        (
            Some("fail"),
            Some(
                "validation error: An image tag other than latest is required. rule validate-image-tag failed at path /spec/containers/0/image/"
            )
        )
    );
    assert_eq!(res["properties"]["process"], "background scan");
    assert_eq!(
        (res["category"].as_str(), res["severity"].as_str()),
        (Some("Best Practices"), Some("medium"))
    );
    assert_eq!(r["scope"]["name"], "old-latest");
    assert_eq!(r["summary"]["fail"], 1);
    let r = report(&client, Some("default"), &uids[1], has).await;
    assert_eq!(results_of(&r, "disallow-latest-tag")[0]["result"], "pass");
    // a change to the resource is rescanned: the label makes no difference to the result,
    // but the policy's removal drops its results
    pods.patch(
        "old-latest",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"touched": "yes"}}})),
    )
    .await
    .unwrap();
    let cpols = crate::kyverno::cpol_api(&client);
    cpols
        .delete("disallow-latest-tag", &Default::default())
        .await
        .unwrap();
    pods.patch(
        "old-latest",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"touched": "again"}}})),
    )
    .await
    .unwrap();
    let _ = report(&client, Some("default"), &uids[0], |r| !has(r)).await;
}
