//! Admission webhooks through the real protocol, against a test webhook server.

use crate::common;

use common::webhook::{Webhook, configuration};
use common::{api_error, cluster};
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::core::v1::{Endpoints, Namespace, Pod, Service};
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::{Value, json};

fn pod(name: &str, labels: Value) -> Pod {
    serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}, "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]}})).unwrap()
}

async fn validating(client: &kube::Client, cfg: Value) {
    Api::<ValidatingWebhookConfiguration>::all(client.clone())
        .create(&PostParams::default(), &serde_json::from_value(cfg).unwrap())
        .await
        .unwrap();
}

#[tokio::test]
async fn validating_webhook_by_url_denies_with_the_real_message() {
    let (_c, client) = cluster("adm-url").await;
    let hook = Webhook::start(&["127.0.0.1"]).await;
    validating(
        &client,
        configuration(
            "ValidatingWebhookConfiguration",
            "pods.validate.test",
            json!({"url": hook.url("/validate"), "caBundle": hook.ca_bundle}),
            json!({}),
        ),
    )
    .await;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let e = api_error(pods.create(&PostParams::default(), &pod("bare", json!({}))).await);
    assert_eq!((e.code, e.reason.as_str()), (403, "Forbidden"));
    assert_eq!(
        e.message,
        "admission webhook \"pods.validate.test\" denied the request: pod has no team label"
    );
    assert!(pods.get_opt("bare").await.unwrap().is_none());
    pods.create(&PostParams::default(), &pod("ok", json!({"team": "a"})))
        .await
        .unwrap();

    // what the webhook was sent
    let reqs = hook.requests();
    let r = &reqs[0]["request"];
    assert_eq!(reqs[0]["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(r["operation"], "CREATE");
    assert_eq!(r["kind"], json!({"group": "", "version": "v1", "kind": "Pod"}));
    assert_eq!(
        r["resource"],
        json!({"group": "", "version": "v1", "resource": "pods"})
    );
    assert_eq!(
        (r["name"].as_str(), r["namespace"].as_str()),
        (Some("bare"), Some("default"))
    );
    assert_eq!(r["userInfo"]["username"], "kubernetes-admin");
    assert_eq!(r["dryRun"], false);
    assert_eq!(
        r["object"]["spec"]["restartPolicy"], "Always",
        "webhooks see the defaulted object"
    );

    // dry-run creates reach the webhook with dryRun=true and store nothing
    let dry = PostParams {
        dry_run: true,
        ..Default::default()
    };
    pods.create(&dry, &pod("dry", json!({"team": "a"})))
        .await
        .unwrap();
    assert_eq!(hook.requests().last().unwrap()["request"]["dryRun"], true);
    assert!(pods.get_opt("dry").await.unwrap().is_none());
}

#[tokio::test]
async fn webhook_by_service_through_endpoints() {
    let (_c, client) = cluster("adm-svc").await;
    let hook = Webhook::start(&["webhook.hooks.svc"]).await;
    Api::<Namespace>::all(client.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "hooks"}})).unwrap(),
        )
        .await
        .unwrap();
    Api::<Service>::namespaced(client.clone(), "hooks")
        .create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"name": "webhook"}, "spec": {"ports": [{"port": 443, "targetPort": 8443}]}})).unwrap())
        .await
        .unwrap();
    Api::<Endpoints>::namespaced(client.clone(), "hooks")
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "metadata": {"name": "webhook"},
                "subsets": [{"addresses": [{"ip": "127.0.0.1"}], "ports": [{"port": hook.port}]}],
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    validating(
        &client,
        configuration(
            "ValidatingWebhookConfiguration",
            "svc.validate.test",
            json!({"service": {"namespace": "hooks", "name": "webhook", "path": "/validate"}, "caBundle": hook.ca_bundle}),
            json!({}),
        ),
    )
    .await;
    let e = api_error(
        Api::<Pod>::default_namespaced(client.clone())
            .create(&PostParams::default(), &pod("x", json!({})))
            .await,
    );
    assert_eq!(
        e.message,
        "admission webhook \"svc.validate.test\" denied the request: pod has no team label"
    );
    assert_eq!(hook.requests().len(), 1);
}

#[tokio::test]
async fn failure_policies_when_the_webhook_is_down() {
    let (_c, client) = cluster("adm-down").await;
    let hook = Webhook::start(&["127.0.0.1"]).await;
    let dead = hook.url("/validate");
    let ca = hook.ca_bundle.clone();
    drop(hook);
    let hook_cfg = |name: &str, url: &str, extra: Value| {
        configuration(
            "ValidatingWebhookConfiguration",
            name,
            json!({"url": url, "caBundle": ca}),
            extra,
        )
    };
    validating(
        &client,
        hook_cfg("ignore.test", &dead, json!({"failurePolicy": "Ignore"})),
    )
    .await;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    pods.create(&PostParams::default(), &pod("admitted", json!({})))
        .await
        .unwrap();

    // a server whose certificate the caBundle does not vouch for is not trusted
    let impostor = Webhook::start(&["127.0.0.1"]).await;
    validating(
        &client,
        hook_cfg("untrusted.test", &impostor.url("/validate"), json!({})),
    )
    .await;
    let e = api_error(
        pods.create(&PostParams::default(), &pod("impostor", json!({"team": "a"})))
            .await,
    );
    assert!(
        e.message.contains("failed calling webhook \"untrusted.test\"") && e.message.contains("tls"),
        "{}",
        e.message
    );
    assert!(impostor.requests().is_empty());
    let configs: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    configs
        .delete("untrusted.test", &DeleteParams::default())
        .await
        .unwrap();

    validating(
        &client,
        hook_cfg(
            "fail.test",
            &dead,
            json!({"failurePolicy": "Fail", "timeoutSeconds": 3}),
        ),
    )
    .await;
    let e = api_error(
        pods.create(&PostParams::default(), &pod("rejected", json!({})))
            .await,
    );
    assert_eq!((e.code, e.reason.as_str()), (500, "InternalError"));
    let prefix = format!(
        "Internal error occurred: failed calling webhook \"fail.test\": failed to call webhook: Post \"{dead}?timeout=3s\": dial tcp"
    );
    assert!(e.message.starts_with(&prefix), "{}", e.message);
}

#[tokio::test]
async fn mutating_webhook_patches_are_applied_and_selectors_scope_webhooks() {
    let (_c, client) = cluster("adm-mutate").await;
    let hook = Webhook::start(&["127.0.0.1"]).await;
    Api::<MutatingWebhookConfiguration>::all(client.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(configuration(
                "MutatingWebhookConfiguration",
                "pods.mutate.test",
                json!({"url": hook.url("/mutate"), "caBundle": hook.ca_bundle}),
                json!({"objectSelector": {"matchLabels": {"mutate": "please"}}}),
            ))
            .unwrap(),
        )
        .await
        .unwrap();
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let p = pods
        .create(&PostParams::default(), &pod("m", json!({"mutate": "please"})))
        .await
        .unwrap();
    assert_eq!(p.metadata.labels.unwrap()["mutated"], "yes");
    // outside the objectSelector the webhook is not called
    let p = pods
        .create(&PostParams::default(), &pod("n", json!({})))
        .await
        .unwrap();
    assert!(!p.metadata.labels.unwrap_or_default().contains_key("mutated"));
    assert_eq!(hook.requests().len(), 1);
    // a validating webhook restricted by namespaceSelector to labelled namespaces
    validating(
        &client,
        configuration(
            "ValidatingWebhookConfiguration",
            "scoped.test",
            json!({"url": hook.url("/validate"), "caBundle": hook.ca_bundle}),
            json!({"namespaceSelector": {"matchLabels": {"policy": "on"}}}),
        ),
    )
    .await;
    pods.create(&PostParams::default(), &pod("free", json!({})))
        .await
        .unwrap();
    Api::<Namespace>::all(client.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "strict", "labels": {"policy": "on"}}}))
                .unwrap(),
        )
        .await
        .unwrap();
    let e = api_error(
        Api::<Pod>::namespaced(client.clone(), "strict")
            .create(&PostParams::default(), &pod("x", json!({})))
            .await,
    );
    assert_eq!(e.code, 403);
    // webhooks with side effects refuse dry runs
    validating(
        &client,
        configuration(
            "ValidatingWebhookConfiguration",
            "effects.test",
            json!({"url": hook.url("/validate"), "caBundle": hook.ca_bundle}),
            json!({"sideEffects": "Some"}),
        ),
    )
    .await;
    let dry = PostParams {
        dry_run: true,
        ..Default::default()
    };
    let e = api_error(pods.create(&dry, &pod("d", json!({"team": "a"}))).await);
    assert_eq!(
        (e.code, e.message.as_str()),
        (400, "admission webhook \"effects.test\" does not support dry run")
    );
    // deletes are reviewed too
    let delete_rule = json!({"rules": [{"operations": ["DELETE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}]});
    validating(
        &client,
        configuration(
            "ValidatingWebhookConfiguration",
            "deletes.test",
            json!({"url": hook.url("/validate"), "caBundle": hook.ca_bundle}),
            delete_rule,
        ),
    )
    .await;
    Api::<ValidatingWebhookConfiguration>::all(client.clone())
        .delete("effects.test", &DeleteParams::default())
        .await
        .unwrap();
    let before = hook.requests().len();
    pods.delete("free", &DeleteParams::default()).await.unwrap();
    let last = hook.requests()[before..]
        .iter()
        .find(|r| r["request"]["operation"] == "DELETE")
        .cloned()
        .unwrap();
    assert_eq!(last["request"]["oldObject"]["metadata"]["name"], "free");
    assert_eq!(last["request"]["object"], Value::Null);
}

#[tokio::test]
async fn match_policy_equivalent_covers_other_versions() {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
    let (_c, client) = cluster("adm-match").await;
    let hook = Webhook::start(&["127.0.0.1"]).await;
    let schema = json!({"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}});
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.create(&PostParams::default(), &serde_json::from_value(json!({
        "metadata": {"name": "gadgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced", "names": {"plural": "gadgets", "kind": "Gadget"}, "versions": [
            {"name": "v1", "served": true, "storage": true, "schema": schema},
            {"name": "v2", "served": true, "storage": false, "schema": schema},
        ]},
    })).unwrap())
    .await
    .unwrap();
    common::settle(
        &crds,
        "gadgets.example.com",
        kube::runtime::conditions::is_crd_established(),
    )
    .await;
    let rule = |policy: &str| json!({"matchPolicy": policy, "rules": [{"operations": ["CREATE"], "apiGroups": ["example.com"], "apiVersions": ["v1"], "resources": ["gadgets"]}]});
    validating(
        &client,
        configuration(
            "ValidatingWebhookConfiguration",
            "exact.test",
            json!({"url": hook.url("/validate"), "caBundle": hook.ca_bundle}),
            rule("Exact"),
        ),
    )
    .await;
    let v2 =
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("example.com", "v2", "Gadget"), "gadgets");
    let gadgets: Api<DynamicObject> = Api::default_namespaced_with(client.clone(), &v2);
    let g = |n: &str| -> DynamicObject {
        serde_json::from_value(
            json!({"apiVersion": "example.com/v2", "kind": "Gadget", "metadata": {"name": n}}),
        )
        .unwrap()
    };
    gadgets.create(&PostParams::default(), &g("exact")).await.unwrap();
    assert!(
        hook.requests().is_empty(),
        "an Exact rule for v1 ignores v2 requests"
    );
    validating(
        &client,
        configuration(
            "ValidatingWebhookConfiguration",
            "equivalent.test",
            json!({"url": hook.url("/validate"), "caBundle": hook.ca_bundle}),
            rule("Equivalent"),
        ),
    )
    .await;
    let e = api_error(gadgets.create(&PostParams::default(), &g("equivalent")).await);
    assert_eq!(
        e.message,
        "admission webhook \"equivalent.test\" denied the request: pod has no team label"
    );
}
