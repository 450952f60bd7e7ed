//! The Kyverno stand-in against the emulator: its install surface, admission decisions for
//! a table of policies and resources, the denial text, PolicyReports and policy status.

use crate::common;

use common::{cluster, settle};
use hubspoke_sim::standins::kyverno::{KyvernoOptions, KyvernoStandIn, WEBHOOK_CONFIGURATION};
use kube::api::{Api, DynamicObject, ListParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};

pub(crate) fn ar(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

pub(crate) fn cpol_api(client: &Client) -> Api<DynamicObject> {
    Api::all_with(
        client.clone(),
        &ar("kyverno.io", "v1", "ClusterPolicy", "clusterpolicies"),
    )
}

fn ready_status(o: Option<&DynamicObject>) -> Option<(String, String, String)> {
    let c = o?
        .data
        .pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready")?
        .clone();
    Some((
        c["status"].as_str()?.to_string(),
        c["reason"].as_str()?.to_string(),
        c["message"].as_str()?.to_string(),
    ))
}

/// Creates a ClusterPolicy and waits until the stand-in reports it Ready (or not).
pub(crate) async fn cluster_policy(client: &Client, policy: Value) -> (String, String, String) {
    let api = cpol_api(client);
    let mut obj: DynamicObject = serde_json::from_value(policy).unwrap();
    obj.types = Some(kube::core::TypeMeta {
        api_version: "kyverno.io/v1".into(),
        kind: "ClusterPolicy".into(),
    });
    let name = obj.name_any();
    api.create(&PostParams::default(), &obj).await.unwrap();
    settle(&api, &name, |o: Option<&DynamicObject>| ready_status(o).is_some()).await;
    ready_status(api.get(&name).await.ok().as_ref()).unwrap()
}

fn enforce(name: &str, rules: Value) -> Value {
    json!({"metadata": {"name": name}, "spec": {"validationFailureAction": "Enforce", "background": true, "rules": rules}})
}

fn pods_rule(name: &str, validate: Value) -> Value {
    json!({"name": name, "match": {"any": [{"resources": {"kinds": ["Pod"]}}]}, "validate": validate})
}

async fn start(name: &str) -> (hubspoke_sim::SimCluster, Client, KyvernoStandIn) {
    let (c, client) = cluster(name).await;
    let k = KyvernoStandIn::install(client.clone(), KyvernoOptions::default())
        .await
        .unwrap();
    (c, client, k)
}

/// Creates `obj` (server-side dry run) in `ns`: Ok, or the API error message.
pub(crate) async fn try_create(client: &Client, ns: &str, obj: Value) -> Result<(), String> {
    let gvk = {
        let av = obj["apiVersion"].as_str().unwrap();
        let (g, v) = av.split_once('/').unwrap_or(("", av));
        GroupVersionKind::gvk(g, v, obj["kind"].as_str().unwrap())
    };
    let (ar, _) = kube::discovery::pinned_kind(client, &gvk).await.unwrap();
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &ar);
    let obj: DynamicObject = serde_json::from_value(obj).unwrap();
    match api
        .create(
            &PostParams {
                dry_run: true,
                ..Default::default()
            },
            &obj,
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) => Err(s.message),
        Err(e) => Err(e.to_string()),
    }
}

pub(crate) fn pod(name: &str, labels: Value, spec: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels}, "spec": spec})
}

pub(crate) fn containers(images: &[&str]) -> Value {
    json!(
        images
            .iter()
            .enumerate()
            .map(|(i, im)| json!({"name": format!("c{i}"), "image": im}))
            .collect::<Vec<_>>()
    )
}

#[tokio::test]
async fn install_presents_the_kyverno_surface() {
    use hubspoke_sim::standins::workload::{WorkloadOptions, WorkloadStandIn};
    use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::Service;
    let (c, client) = cluster("k-surface").await;
    let _w = WorkloadStandIn::run(client.clone(), WorkloadOptions::default())
        .await
        .unwrap();
    let _k = KyvernoStandIn::install(client.clone(), KyvernoOptions::default())
        .await
        .unwrap();
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), "kyverno");
    let mut names = Vec::new();
    for d in deploys.list(&ListParams::default()).await.unwrap().items {
        let name = d.name_any();
        settle(&deploys, &name, |d: Option<&Deployment>| {
            d.and_then(|d| d.status.as_ref())
                .is_some_and(|s| s.available_replicas == Some(1))
        })
        .await;
        names.push(name);
    }
    names.sort();
    assert_eq!(
        names,
        [
            "kyverno-admission-controller",
            "kyverno-background-controller",
            "kyverno-cleanup-controller",
            "kyverno-reports-controller"
        ]
    );
    let svc = Api::<Service>::namespaced(client.clone(), "kyverno")
        .get("kyverno-svc")
        .await
        .unwrap();
    assert_eq!(svc.spec.unwrap().ports.unwrap()[0].port, 443);
    let cfg = Api::<ValidatingWebhookConfiguration>::all(client.clone())
        .get(WEBHOOK_CONFIGURATION)
        .await
        .unwrap();
    let hooks: Vec<String> = cfg.webhooks.unwrap().into_iter().map(|w| w.name).collect();
    assert_eq!(
        hooks,
        ["validate.kyverno.svc-fail", "validate.kyverno.svc-ignore"]
    );
    // the CRDs with Kyverno's names, as discovery shows them
    let discovery = kube::discovery::Discovery::new(client.clone())
        .run()
        .await
        .unwrap();
    let mut found = Vec::new();
    for g in discovery.groups() {
        for v in g.versions() {
            for (ar, _) in g.versioned_resources(v) {
                if ar.group == "kyverno.io" || ar.group == "wgpolicyk8s.io" {
                    found.push(format!("{}/{} {}", ar.group, ar.version, ar.kind));
                }
            }
        }
    }
    found.sort();
    assert_eq!(
        found,
        [
            "kyverno.io/v1 ClusterPolicy",
            "kyverno.io/v1 Policy",
            "kyverno.io/v2 CleanupPolicy",
            "kyverno.io/v2 ClusterCleanupPolicy",
            "kyverno.io/v2 PolicyException",
            "kyverno.io/v2beta1 CleanupPolicy",
            "kyverno.io/v2beta1 ClusterCleanupPolicy",
            "kyverno.io/v2beta1 PolicyException",
            "wgpolicyk8s.io/v1alpha2 ClusterPolicyReport",
            "wgpolicyk8s.io/v1alpha2 PolicyReport"
        ]
    );
    drop(c);
}

const LATEST_DENIAL: &str = "admission webhook \"validate.kyverno.svc-fail\" denied the request: \n\nresource Pod/default/bad was blocked due to the following policies \n\ndisallow-latest-tag:\n  validate-image-tag: 'validation error: Using a mutable image tag e.g. ''latest''\n    is not allowed. rule validate-image-tag failed at path /spec/containers/0/image/'\n";

#[tokio::test]
async fn enforce_denials_carry_kyvernos_message_verbatim() {
    let (_c, client, _k) = start("k-denial").await;
    let ready = cluster_policy(
        &client,
        enforce(
            "disallow-latest-tag",
            json!([pods_rule(
                "validate-image-tag",
                json!({
                    "message": "Using a mutable image tag e.g. 'latest' is not allowed.",
                    "pattern": {"spec": {"containers": [{"image": "!*:latest"}]}},
                })
            )]),
        ),
    )
    .await;
    assert_eq!(ready, ("True".into(), "Succeeded".into(), "Ready".into()));
    let err = try_create(
        &client,
        "default",
        pod(
            "bad",
            json!({}),
            json!({"containers": containers(&["nginx:latest"])}),
        ),
    )
    .await
    .unwrap_err();
    assert_eq!(err, LATEST_DENIAL);
    try_create(
        &client,
        "default",
        pod(
            "good",
            json!({}),
            json!({"containers": containers(&["nginx:1.27"])}),
        ),
    )
    .await
    .unwrap();
    // autogen: the Deployment is judged by its pod template
    let deploy = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {
        "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": containers(&["nginx:latest"])}},
    }});
    let err = try_create(&client, "default", deploy).await.unwrap_err();
    assert_eq!(
        err,
        // yaml.v2 wraps the message past 80 columns
        "admission webhook \"validate.kyverno.svc-fail\" denied the request: \n\nresource Deployment/default/web was blocked due to the following policies \n\ndisallow-latest-tag:\n  autogen-validate-image-tag: 'validation error: Using a mutable image tag e.g. ''latest''\n    is not allowed. rule autogen-validate-image-tag failed at path /spec/template/spec/containers/0/image/'\n"
    );
}

/// (policy rules, resource, namespace, expected: None = admitted, Some(text) = denied with
/// a message containing text)
struct Case {
    name: &'static str,
    validate: Value,
    resource: Value,
    ns: &'static str,
    denied: Option<&'static str>,
}

fn table() -> Vec<Case> {
    let labels_pattern =
        json!({"message": "label 'team' is required", "pattern": {"metadata": {"labels": {"team": "?*"}}}});
    let limits = json!({"message": "memory limit up to 1Gi", "pattern": {"spec": {"containers": [{"resources": {"limits": {"memory": "<=1Gi"}}}]}}});
    let replicas_range = json!({"message": "priority 1-10", "pattern": {"spec": {"priority": "1-10"}}});
    let pull_always_if_latest = json!({"message": "latest must pull Always", "pattern": {"spec": {"containers": [{"(image)": "*:latest", "imagePullPolicy": "Always"}]}}});
    let equality = json!({"message": "hostNetwork must be false if set", "pattern": {"spec": {"=(hostNetwork)": false}}});
    let negation = json!({"message": "hostPath volumes are forbidden", "pattern": {"spec": {"=(volumes)": [{"X(hostPath)": "null"}]}}});
    let global = json!({"message": "busybox pods must run as non-root", "pattern": {"spec": {"containers": [{"<(image)": "busybox:*"}], "securityContext": {"runAsNonRoot": true}}}});
    let existence = json!({"message": "one container must come from the internal registry", "pattern": {"spec": {"^(containers)": [{"image": "registry.internal/*"}]}}});
    let alternatives = json!({"message": "pull policy", "pattern": {"spec": {"containers": [{"imagePullPolicy": "Always | IfNotPresent"}]}}});
    let any_pattern = json!({"message": "run as non-root somewhere", "anyPattern": [
        {"spec": {"securityContext": {"runAsNonRoot": true}}},
        {"spec": {"containers": [{"securityContext": {"runAsNonRoot": true}}]}},
    ]});
    let deny_default = json!({"message": "workloads in {{ request.object.metadata.namespace }} are not allowed", "deny": {"conditions": {"any": [
        {"key": "{{ request.object.metadata.namespace }}", "operator": "Equals", "value": "default"},
    ]}}});
    let deny_sets = json!({"message": "registry not allowed", "deny": {"conditions": {"all": [
        {"key": "{{ request.object.spec.containers[].image }}", "operator": "AnyNotIn", "value": ["registry.internal/*"]},
        {"key": "{{ request.operation }}", "operator": "AnyIn", "value": ["CREATE", "UPDATE"]},
    ]}}});
    let p = |labels: Value, spec: Value| pod("p", labels, spec);
    let c = |images: &[&str]| json!({"containers": containers(images)});
    vec![
        Case {
            name: "wildcard ?* allowed",
            validate: labels_pattern.clone(),
            resource: p(json!({"team": "a"}), c(&["nginx:1"])),
            ns: "apps",
            denied: None,
        },
        Case {
            name: "wildcard ?* denied",
            validate: labels_pattern,
            resource: p(json!({}), c(&["nginx:1"])),
            ns: "apps",
            denied: Some(
                "'validation error: label ''team'' is required. rule check failed at path /metadata/labels/team/'",
            ),
        },
        Case {
            name: "quantity <= allowed",
            validate: limits.clone(),
            resource: p(
                json!({}),
                json!({"containers": [{"name": "a", "image": "x:1", "resources": {"limits": {"memory": "512Mi"}}}]}),
            ),
            ns: "apps",
            denied: None,
        },
        Case {
            name: "quantity <= denied",
            validate: limits,
            resource: p(
                json!({}),
                json!({"containers": [{"name": "a", "image": "x:1", "resources": {"limits": {"memory": "2Gi"}}}]}),
            ),
            ns: "apps",
            denied: Some("rule check failed at path /spec/containers/0/resources/limits/memory/"),
        },
        Case {
            name: "range allowed",
            validate: replicas_range.clone(),
            resource: p(
                json!({}),
                json!({"priority": 5, "containers": containers(&["x:1"])}),
            ),
            ns: "apps",
            denied: None,
        },
        Case {
            name: "range denied",
            validate: replicas_range,
            resource: p(
                json!({}),
                json!({"priority": 50, "containers": containers(&["x:1"])}),
            ),
            ns: "apps",
            denied: Some("rule check failed at path /spec/priority/"),
        },
        Case {
            name: "conditional anchor holds",
            validate: pull_always_if_latest.clone(),
            resource: p(
                json!({}),
                json!({"containers": [{"name": "a", "image": "x:latest", "imagePullPolicy": "Always"}, {"name": "b", "image": "y:1", "imagePullPolicy": "Never"}]}),
            ),
            ns: "apps",
            denied: None,
        },
        Case {
            name: "conditional anchor violated",
            validate: pull_always_if_latest,
            resource: p(
                json!({}),
                json!({"containers": [{"name": "a", "image": "x:latest", "imagePullPolicy": "IfNotPresent"}]}),
            ),
            ns: "apps",
            denied: Some("rule check failed at path /spec/containers/0/imagePullPolicy/"),
        },
        Case {
            name: "equality anchor absent",
            validate: equality.clone(),
            resource: p(json!({}), c(&["x:1"])),
            ns: "apps",
            denied: None,
        },
        Case {
            name: "equality anchor violated",
            validate: equality,
            resource: p(
                json!({}),
                json!({"hostNetwork": true, "containers": containers(&["x:1"])}),
            ),
            ns: "apps",
            denied: Some("rule check failed at path /spec/hostNetwork/"),
        },
        Case {
            name: "negation anchor absent",
            validate: negation.clone(),
            resource: p(
                json!({}),
                json!({"volumes": [{"name": "v", "emptyDir": {}}], "containers": containers(&["x:1"])}),
            ),
            ns: "apps",
            denied: None,
        },
        Case {
            name: "negation anchor violated",
            validate: negation,
            resource: p(
                json!({}),
                json!({"volumes": [{"name": "v", "hostPath": {"path": "/etc"}}], "containers": containers(&["x:1"])}),
            ),
            ns: "apps",
            denied: Some("rule check failed at path /spec/volumes/0/hostPath/"),
        },
        Case {
            name: "global anchor not triggered",
            validate: global.clone(),
            resource: p(json!({}), c(&["nginx:1"])),
            ns: "apps",
            denied: None,
        },
        Case {
            name: "global anchor violated",
            validate: global,
            resource: p(json!({}), c(&["nginx:1", "busybox:1.37"])),
            ns: "apps",
            denied: Some("rule check failed at path /spec/securityContext/"),
        },
        Case {
            name: "existence anchor holds",
            validate: existence.clone(),
            resource: p(json!({}), c(&["nginx:1", "registry.internal/app:1"])),
            ns: "apps",
            denied: None,
        },
        Case {
            name: "existence anchor violated",
            validate: existence,
            resource: p(json!({}), c(&["nginx:1"])),
            ns: "apps",
            denied: Some("rule check failed at path /spec/containers/"),
        },
        Case {
            name: "alternatives allowed",
            validate: alternatives.clone(),
            resource: p(
                json!({}),
                json!({"containers": [{"name": "a", "image": "x:1", "imagePullPolicy": "IfNotPresent"}]}),
            ),
            ns: "apps",
            denied: None,
        },
        Case {
            name: "alternatives denied",
            validate: alternatives,
            resource: p(
                json!({}),
                json!({"containers": [{"name": "a", "image": "x:1", "imagePullPolicy": "Never"}]}),
            ),
            ns: "apps",
            denied: Some("rule check failed at path /spec/containers/0/imagePullPolicy/"),
        },
        Case {
            name: "anyPattern second holds",
            validate: any_pattern.clone(),
            resource: p(
                json!({}),
                json!({"containers": [{"name": "a", "image": "x:1", "securityContext": {"runAsNonRoot": true}}]}),
            ),
            ns: "apps",
            denied: None,
        },
        Case {
            name: "anyPattern none holds",
            validate: any_pattern,
            resource: p(json!({}), c(&["x:1"])),
            ns: "apps",
            denied: Some(
                "validation error: run as non-root somewhere. rule check[0] failed at path /spec/securityContext/runAsNonRoot/ rule check[1] failed at path /spec/containers/0/securityContext/",
            ),
        },
        Case {
            name: "deny in default",
            validate: deny_default.clone(),
            resource: p(json!({}), c(&["x:1"])),
            ns: "default",
            denied: Some("check: workloads in default are not allowed\n"),
        },
        Case {
            name: "deny elsewhere passes",
            validate: deny_default,
            resource: p(json!({}), c(&["x:1"])),
            ns: "apps",
            denied: None,
        },
        Case {
            name: "deny AnyNotIn denied",
            validate: deny_sets.clone(),
            resource: p(json!({}), c(&["registry.internal/a:1", "docker.io/b:1"])),
            ns: "apps",
            denied: Some("check: registry not allowed\n"),
        },
        Case {
            name: "deny AnyNotIn allowed",
            validate: deny_sets,
            resource: p(json!({}), c(&["registry.internal/a:1"])),
            ns: "apps",
            denied: None,
        },
    ]
}

#[tokio::test]
async fn a_table_of_policies_and_resources() {
    use k8s_openapi::api::core::v1::Namespace;
    let (_c, client, _k) = start("k-table").await;
    let nss: Api<Namespace> = Api::all(client.clone());
    nss.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "apps"}})).unwrap(),
    )
    .await
    .unwrap();
    let mut failures = Vec::new();
    for (i, case) in table().into_iter().enumerate() {
        // each case's policy only matches its own pod, so the policies do not interfere
        let name = format!("case-{i}");
        let pod_name = format!("p{i}");
        let rule = json!({"name": "check", "match": {"any": [{"resources": {"kinds": ["Pod"], "names": [pod_name]}}]}, "validate": case.validate});
        cluster_policy(&client, enforce(&name, json!([rule]))).await;
        let mut resource = case.resource.clone();
        resource["metadata"]["name"] = json!(pod_name);
        let got = try_create(&client, case.ns, resource).await;
        match (&got, case.denied) {
            (Ok(()), None) => {}
            // messages as one line: yaml.v2's wrapping is tested elsewhere
            (Err(msg), Some(want))
                if msg.replace("\n    ", " ").contains(want)
                    && msg.contains(&format!("\n{name}:\n  check: ")) => {}
            _ => failures.push(format!("{}: expected {:?}, got {got:?}", case.name, case.denied)),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn match_and_exclude_select_what_a_rule_applies_to() {
    use k8s_openapi::api::core::v1::Namespace;
    let (_c, client, _k) = start("k-match").await;
    for (ns, labels) in [
        ("team-a", json!({"env": "prod"})),
        ("team-b", json!({"env": "dev"})),
        ("sandbox", json!({})),
    ] {
        Api::<Namespace>::all(client.clone())
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({"metadata": {"name": ns, "labels": labels}})).unwrap(),
            )
            .await
            .unwrap();
    }
    let rule = json!({
        "name": "no-bare",
        "match": {"any": [
            {"resources": {"kinds": ["v1/Pod"], "namespaces": ["team-*"], "operations": ["CREATE"]}},
            {"resources": {"kinds": ["apps/v1/Deployment"], "names": ["critical-*"], "namespaceSelector": {"matchLabels": {"env": "prod"}}}},
        ]},
        "exclude": {"any": [{"resources": {"selector": {"matchLabels": {"exempt": "true"}}}}]},
        "validate": {"message": "denied", "deny": {}},
    });
    cluster_policy(&client, enforce("scoped", json!([rule]))).await;
    let bare = |labels: Value| pod("p", labels, json!({"containers": containers(&["x:1"])}));
    let deploy = |name: &str| {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name}, "spec": {
        "selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": containers(&["x:1"])}}}})
    };
    assert!(
        try_create(&client, "team-a", bare(json!({}))).await.is_err(),
        "pods in team-* are matched"
    );
    assert!(
        try_create(&client, "sandbox", bare(json!({}))).await.is_ok(),
        "other namespaces are not"
    );
    assert!(
        try_create(&client, "team-a", bare(json!({"exempt": "true"})))
            .await
            .is_ok(),
        "excluded by selector"
    );
    assert!(
        try_create(&client, "team-a", deploy("critical-db"))
            .await
            .is_err(),
        "name and namespaceSelector match"
    );
    assert!(
        try_create(&client, "team-b", deploy("critical-db")).await.is_ok(),
        "namespace labels do not match"
    );
    assert!(
        try_create(&client, "team-a", deploy("web")).await.is_ok(),
        "name does not match"
    );
}

#[tokio::test]
async fn audit_results_become_policy_reports() {
    let (_c, client, _k) = start("k-audit").await;
    let audit = json!({"metadata": {"name": "require-limits", "annotations": {
        "policies.kyverno.io/category": "Best Practices", "policies.kyverno.io/severity": "medium",
    }}, "spec": {"validationFailureAction": "Audit", "rules": [pods_rule("check-limits", json!({
        "message": "CPU and memory limits are required.",
        "pattern": {"spec": {"containers": [{"resources": {"limits": {"memory": "?*", "cpu": "?*"}}}]}},
    }))]}});
    cluster_policy(&client, audit).await;
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::default_namespaced(client.clone());
    let p: k8s_openapi::api::core::v1::Pod = serde_json::from_value(pod(
        "nolimits",
        json!({}),
        json!({"containers": containers(&["nginx:1.27"])}),
    ))
    .unwrap();
    let created = pods
        .create(&PostParams::default(), &p)
        .await
        .expect("Audit does not block");
    let uid = created.uid().unwrap();
    let reports: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        "default",
        &ar("wgpolicyk8s.io", "v1alpha2", "PolicyReport", "policyreports"),
    );
    settle(&reports, &uid, |o: Option<&DynamicObject>| o.is_some()).await;
    let r = reports.get(&uid).await.unwrap();
    assert_eq!(r.labels()["app.kubernetes.io/managed-by"], "kyverno");
    assert_eq!(
        r.data["scope"],
        json!({"apiVersion": "v1", "kind": "Pod", "name": "nolimits", "namespace": "default", "uid": uid})
    );
    assert_eq!(
        r.data["summary"],
        json!({"pass": 0, "fail": 1, "warn": 0, "error": 0, "skip": 0})
    );
    let res = &r.data["results"][0];
    assert_eq!(
        (
            res["policy"].as_str(),
            res["rule"].as_str(),
            res["result"].as_str(),
            res["source"].as_str()
        ),
        (
            Some("require-limits"),
            Some("check-limits"),
            Some("fail"),
            Some("kyverno")
        )
    );
    assert_eq!(
        res["message"],
        "validation error: CPU and memory limits are required. rule check-limits failed at path /spec/containers/0/resources/limits/"
    );
    assert_eq!(
        (res["category"].as_str(), res["severity"].as_str()),
        (Some("Best Practices"), Some("medium"))
    );
    // the scope names the resource; results carry no resources of their own, and the
    // process is named by the policy's background setting (true here)
    assert_eq!(res.get("resources"), None);
    assert_eq!(res["properties"]["process"], "background scan");
    let owner = &r.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!((owner.kind.as_str(), owner.uid.as_str()), ("Pod", uid.as_str()));
}

#[tokio::test]
async fn invalid_policies_are_refused_and_unsupported_ones_are_not_ready() {
    let (_c, client, _k) = start("k-invalid").await;
    // Kyverno's policy validation webhook refuses what its checks reject
    let bad = enforce(
        "bad-anchor",
        json!([pods_rule(
            "r",
            json!({"pattern": {"spec": {"+(hostNetwork)": false}}})
        )]),
    );
    let mut obj: DynamicObject = serde_json::from_value(bad).unwrap();
    obj.types = Some(kube::core::TypeMeta {
        api_version: "kyverno.io/v1".into(),
        kind: "ClusterPolicy".into(),
    });
    let err = cpol_api(&client)
        .create(&PostParams::default(), &obj)
        .await
        .unwrap_err();
    match err {
        kube::Error::Api(s) => assert_eq!(
            s.message,
            "admission webhook \"validate-policy.kyverno.svc\" denied the request: path: spec.rules[0].validate.pattern.//spec/+(hostNetwork).: unsupported anchor +(hostNetwork)"
        ),
        other => panic!("{other}"),
    }
    // a rule type the stand-in does not run: accepted (Kyverno would run it) but not Ready,
    // saying why, and nothing of it is enforced
    let generate = json!({"metadata": {"name": "netpol"}, "spec": {"rules": [
        {"name": "default-deny", "match": {"any": [{"resources": {"kinds": ["Namespace"]}}]},
         "generate": {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "name": "deny", "namespace": "{{request.object.metadata.name}}", "data": {"spec": {}}}},
        {"name": "no-host-network", "match": {"any": [{"resources": {"kinds": ["Pod"]}}]},
         "validate": {"failureAction": "Enforce", "pattern": {"spec": {"=(hostNetwork)": false}}}},
    ]}});
    let status = cluster_policy(&client, generate).await;
    assert_eq!(
        status,
        (
            "False".into(),
            "Failed".into(),
            "Not Ready: rule default-deny is a generate rule, which the hubspoke sim Kyverno stand-in does not run: the policy is not enforced on sim".into()
        )
    );
    try_create(
        &client,
        "default",
        pod(
            "p",
            json!({}),
            json!({"hostNetwork": true, "containers": containers(&["x:1"])}),
        ),
    )
    .await
    .unwrap();
    // cleanup policies are not run either, and say so
    let ccleanpol: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &ar(
            "kyverno.io",
            "v2",
            "ClusterCleanupPolicy",
            "clustercleanuppolicies",
        ),
    );
    let cleanup: DynamicObject = serde_json::from_value(json!({"apiVersion": "kyverno.io/v2", "kind": "ClusterCleanupPolicy",
        "metadata": {"name": "old-jobs"}, "spec": {"schedule": "*/5 * * * *", "match": {"any": [{"resources": {"kinds": ["Job"]}}]}}}))
    .unwrap();
    ccleanpol.create(&PostParams::default(), &cleanup).await.unwrap();
    settle(&ccleanpol, "old-jobs", |o: Option<&DynamicObject>| {
        ready_status(o).is_some()
    })
    .await;
    assert_eq!(
        ready_status(ccleanpol.get("old-jobs").await.ok().as_ref()).unwrap(),
        (
            "False".into(),
            "Failed".into(),
            "Not Ready: ClusterCleanupPolicy old-jobs is a cleanup policy, which the hubspoke sim Kyverno stand-in does not run: nothing is deleted on sim".into()
        )
    );
}

fn kubectl(kubeconfig: &std::path::Path, args: &[&str], stdin: Option<&str>) -> std::process::Output {
    use std::io::Write;
    let mut child = std::process::Command::new("kubectl")
        .env("KUBECONFIG", kubeconfig)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("kubectl runs");
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_shows_ready_policies_and_prints_the_denial() {
    let (c, client, _k) = start("k-kubectl").await;
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    c.write_kubeconfig(&kc).unwrap();
    let policy = r#"
apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata:
  name: disallow-latest-tag
spec:
  validationFailureAction: Enforce
  background: true
  rules:
    - name: validate-image-tag
      match:
        any:
          - resources:
              kinds: [Pod]
      validate:
        message: "Using a mutable image tag e.g. 'latest' is not allowed."
        pattern:
          spec:
            containers:
              - image: "!*:latest"
"#;
    let kc2 = kc.clone();
    let out = tokio::task::spawn_blocking(move || kubectl(&kc2, &["apply", "-f", "-"], Some(policy)))
        .await
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    settle(
        &cpol_api(&client),
        "disallow-latest-tag",
        |o: Option<&DynamicObject>| ready_status(o).is_some_and(|s| s.0 == "True"),
    )
    .await;
    let kc2 = kc.clone();
    let out = tokio::task::spawn_blocking(move || kubectl(&kc2, &["get", "cpol"], None))
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(
        lines[0],
        ["NAME", "ADMISSION", "BACKGROUND", "READY", "AGE"],
        "{text}"
    );
    assert_eq!(
        lines[1][..4],
        ["disallow-latest-tag", "true", "true", "True"],
        "{text}"
    );
    let bad = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: bad\nspec:\n  containers:\n    - name: web\n      image: nginx:latest\n";
    let kc2 = kc.clone();
    let out = tokio::task::spawn_blocking(move || kubectl(&kc2, &["apply", "-f", "-"], Some(bad)))
        .await
        .unwrap();
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!("Error from server: error when creating \"STDIN\": {LATEST_DENIAL}")
    );
}

#[tokio::test]
async fn a_namespaced_policy_applies_only_in_its_namespace() {
    use k8s_openapi::api::core::v1::Namespace;
    let (_c, client, _k) = start("k-policy").await;
    for ns in ["team-a", "team-b"] {
        Api::<Namespace>::all(client.clone())
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({"metadata": {"name": ns}})).unwrap(),
            )
            .await
            .unwrap();
    }
    let pols: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        "team-a",
        &ar("kyverno.io", "v1", "Policy", "policies"),
    );
    let mut obj: DynamicObject = serde_json::from_value(json!({
        "metadata": {"name": "require-team", "namespace": "team-a"},
        "spec": {"validationFailureAction": "Enforce", "rules": [pods_rule("team-label", json!({
            "message": "label team is required", "pattern": {"metadata": {"labels": {"team": "?*"}}},
        }))]},
    }))
    .unwrap();
    obj.types = Some(kube::core::TypeMeta {
        api_version: "kyverno.io/v1".into(),
        kind: "Policy".into(),
    });
    pols.create(&PostParams::default(), &obj).await.unwrap();
    settle(&pols, "require-team", |o: Option<&DynamicObject>| {
        ready_status(o).is_some_and(|s| s.0 == "True")
    })
    .await;
    let unlabelled = pod("p", json!({}), json!({"containers": containers(&["x:1"])}));
    let err = try_create(&client, "team-a", unlabelled.clone())
        .await
        .unwrap_err();
    assert!(
        err.contains("\n\nrequire-team:\n  team-label: 'validation error: label team is required."),
        "{err}"
    );
    try_create(&client, "team-b", unlabelled).await.unwrap();
}

/// The admission controller's Deployment and Service as a chart installs them, in a
/// namespace of the chart user's choosing.
fn admission_controller_objects(ns: &str, image: &str) -> Vec<Value> {
    let selector = json!({"app.kubernetes.io/component": "admission-controller", "app.kubernetes.io/instance": "kyverno", "app.kubernetes.io/part-of": "kyverno"});
    vec![
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "kyverno-admission-controller", "namespace": ns},
        "spec": {"replicas": 1, "selector": {"matchLabels": selector},
            "template": {"metadata": {"labels": selector}, "spec": {"containers": [{
                "name": "kyverno", "image": image,
                "args": ["--servicePort=443", "--webhookServerPort=9443", "--autoUpdateWebhooks=true"],
                "env": [
                    {"name": "KYVERNO_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                    {"name": "KYVERNO_SVC", "value": "kyverno-svc"},
                ],
                "ports": [{"name": "https", "containerPort": 9443, "protocol": "TCP"}, {"name": "metrics-port", "containerPort": 8000, "protocol": "TCP"}],
            }]}}}}),
        json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "kyverno-svc", "namespace": ns},
            "spec": {"ports": [{"name": "https", "port": 443, "targetPort": "https", "protocol": "TCP"}], "selector": selector}}),
    ]
}

#[tokio::test]
async fn kyvernos_image_runs_the_stand_in_behind_the_charts_service_until_its_pod_goes() {
    use hubspoke_sim::standins::workload::{WorkloadOptions, WorkloadStandIn};
    use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::Pod;
    use k8s_openapi::api::discovery::v1::EndpointSlice;

    let (_c, client) = cluster("kyverno-image").await;
    let _w = WorkloadStandIn::run(client.clone(), WorkloadOptions::default())
        .await
        .unwrap();
    common::apply_all(&client, "helm", &hubspoke_sim::standins::kyverno::crd_manifests()).await;
    common::apply_all(
        &client,
        "helm",
        &admission_controller_objects("kyverno-system", "ghcr.io/kyverno/kyverno:v1.15.2"),
    )
    .await;

    // Kyverno registers its webhook for the chart's Service, in the chart's namespace
    let configs: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    let cfg = common::eventually("the webhook registration", || async {
        configs
            .get_opt(WEBHOOK_CONFIGURATION)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| "not registered".to_string())
    })
    .await;
    let service = serde_json::to_value(&cfg.webhooks.unwrap()[0].client_config.service).unwrap();
    assert_eq!(
        service,
        json!({"namespace": "kyverno-system", "name": "kyverno-svc", "path": "/validate/fail", "port": 443})
    );
    // the pod listens on an address of its own, which the Service's EndpointSlice lists
    let pods: Api<Pod> = Api::namespaced(client.clone(), "kyverno-system");
    // (the pod's status, with its IP, may be written just after the program starts)
    let running = common::eventually("the pod's IP", || async {
        let list = pods
            .list(&ListParams::default())
            .await
            .map_err(|e| e.to_string())?;
        list.items
            .into_iter()
            .find(|p| p.status.as_ref().is_some_and(|s| s.pod_ip.is_some()))
            .ok_or_else(|| "no pod IP yet".to_string())
    })
    .await;
    let ip = running.status.clone().unwrap().pod_ip.unwrap();
    assert!(ip.starts_with("127."), "{ip}");
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), "kyverno-system");
    let slice = slices
        .list(&ListParams::default().labels("kubernetes.io/service-name=kyverno-svc"))
        .await
        .unwrap()
        .items
        .remove(0);
    let slice = serde_json::to_value(&slice).unwrap();
    assert_eq!(
        slice["ports"],
        json!([{"name": "https", "port": 9443, "protocol": "TCP"}])
    );
    assert_eq!(slice["endpoints"][0]["addresses"], json!([ip]));
    assert_eq!(
        slice["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"],
        "endpointslice-controller.k8s.io"
    );

    // policies load and are enforced through the Service
    let (status, _, _) = cluster_policy(
        &client,
        enforce(
            "require-team",
            json!([pods_rule("team-label", json!({"message": "label team is required", "pattern": {"metadata": {"labels": {"team": "?*"}}}}))]),
        ),
    )
    .await;
    assert_eq!(status, "True");
    let unlabelled = pod(
        "web",
        json!({}),
        json!({"containers": containers(&["nginx:1.27"])}),
    );
    let err = common::eventually("the denial", || async {
        match try_create(&client, "default", unlabelled.clone()).await {
            Err(e) => Ok(e),
            Ok(()) => Err("admitted".to_string()),
        }
    })
    .await;
    assert!(err.contains("validation error: label team is required"), "{err}");

    // a restarted pod serves again, with a new certificate in Kyverno's Secrets
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(client.clone(), "kyverno-system");
    let ca = secrets
        .get("kyverno-svc.kyverno-system.svc.kyverno-tls-ca")
        .await
        .unwrap();
    assert_eq!(ca.type_.as_deref(), Some("kubernetes.io/tls"));
    assert_eq!(ca.labels()["cert.kyverno.io/managed-by"], "kyverno");
    secrets
        .get("kyverno-svc.kyverno-system.svc.kyverno-tls-pair")
        .await
        .unwrap();
    pods.delete(&running.name_any(), &Default::default())
        .await
        .unwrap();
    let err = common::eventually("the denial from the new pod", || async {
        let fresh = pods
            .list(&ListParams::default())
            .await
            .map_err(|e| e.to_string())?
            .items;
        if !fresh
            .iter()
            .any(|p| p.uid() != running.uid() && p.status.as_ref().and_then(|s| s.pod_ip.as_ref()).is_some())
        {
            return Err("no new pod yet".into());
        }
        match try_create(&client, "default", unlabelled.clone()).await {
            Err(e) if e.contains("validation error") => Ok(e),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    assert!(err.contains("label team is required"), "{err}");
    // the new pod kept the CA (the caBundle Kyverno registered still verifies it)
    let ca_after = secrets
        .get("kyverno-svc.kyverno-system.svc.kyverno-tls-ca")
        .await
        .unwrap();
    assert_eq!(ca_after.data, ca.data);

    // scaled to 0, Kyverno removes its webhook configurations as it stops: nothing blocks
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "kyverno-system");
    deployments
        .patch(
            "kyverno-admission-controller",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(json!({"spec": {"replicas": 0}})),
        )
        .await
        .unwrap();
    common::eventually("the webhook removal", || async {
        match configs.get_opt(WEBHOOK_CONFIGURATION).await {
            Ok(None) => Ok(()),
            other => Err(format!("{:?}", other.map(|c| c.map(|c| c.name_any())))),
        }
    })
    .await;
    try_create(&client, "default", unlabelled).await.unwrap();
}
