//! kube-rs against the emulator: every behaviour a client relies on, with the status
//! codes, reasons and messages kube-apiserver returns.

use crate::common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{WAIT, api_error, client_for, cluster, settle};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, Secret, Service};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::core::{ApiResource, GroupVersionKind};
use kube::runtime::{WatchStreamExt, conditions, watcher};
use serde_json::{Value, json};

fn cm(name: &str, labels: &[(&str, &str)]) -> ConfigMap {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": labels.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>()},
        "data": {"k": name},
    }))
    .unwrap()
}

async fn ns(client: &kube::Client, name: &str) {
    let api: Api<Namespace> = Api::all(client.clone());
    api.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": name}})).unwrap(),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn discovery_version_and_health() {
    let (_c, client) = cluster("disco").await;
    let v = client.apiserver_version().await.unwrap();
    assert_eq!((v.major.as_str(), v.minor.as_str()), ("1", "33"));
    assert_eq!(v.git_version, hubspoke_sim::KUBE_VERSION);
    let d = kube::Discovery::new(client.clone()).run().await.unwrap();
    let apps = d.get("apps").expect("apps group");
    let (ar, caps) = apps.recommended_kind("Deployment").expect("Deployment served");
    assert_eq!(ar.plural, "deployments");
    assert_eq!(caps.scope, kube::discovery::Scope::Namespaced);
    assert!(
        caps.subresources
            .iter()
            .any(|(r, _)| r.plural == "deployments/status" || r.plural == "status"),
        "{:?}",
        caps.subresources
    );
    for group in [
        "",
        "apps",
        "batch",
        "rbac.authorization.k8s.io",
        "apiextensions.k8s.io",
        "admissionregistration.k8s.io",
        "coordination.k8s.io",
    ] {
        assert!(d.has_group(group), "group {group:?} missing");
    }
    for path in ["/healthz", "/livez", "/readyz"] {
        let text = client
            .request_text(http::Request::get(path).body(vec![]).unwrap())
            .await
            .unwrap();
        assert_eq!(text, "ok");
    }
    let verbose = client
        .request_text(http::Request::get("/readyz?verbose").body(vec![]).unwrap())
        .await
        .unwrap();
    assert!(verbose.ends_with("readyz check passed\n"), "{verbose}");
}

#[tokio::test]
async fn aggregated_discovery_document() {
    let (_c, client) = cluster("aggdisco").await;
    let req = http::Request::get("/apis")
        .header(
            "accept",
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json",
        )
        .body(vec![])
        .unwrap();
    let doc: Value = client.request(req).await.unwrap();
    assert_eq!(doc["kind"], "APIGroupDiscoveryList");
    assert_eq!(doc["apiVersion"], "apidiscovery.k8s.io/v2");
    let apps = doc["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["metadata"]["name"] == "apps")
        .unwrap();
    let deploy = apps["versions"][0]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["resource"] == "deployments")
        .unwrap();
    assert_eq!(deploy["scope"], "Namespaced");
    assert_eq!(deploy["shortNames"], json!(["deploy"]));
    assert_eq!(
        deploy["responseKind"],
        json!({"group": "apps", "version": "v1", "kind": "Deployment"})
    );
    let subs: Vec<&str> = deploy["subresources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["subresource"].as_str().unwrap())
        .collect();
    assert_eq!(subs, vec!["scale", "status"]);
}

#[tokio::test]
async fn requests_without_a_valid_token_are_unauthorized() {
    let (c, _client) = cluster("authn").await;
    let yaml = c.kubeconfig_yaml().replace(c.admin_token(), "not-the-token");
    let kc = kube::config::Kubeconfig::from_yaml(&yaml).unwrap();
    let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    let bad = kube::Client::try_from(cfg).unwrap();
    let e = api_error(
        Api::<ConfigMap>::default_namespaced(bad)
            .list(&ListParams::default())
            .await,
    );
    assert_eq!(
        (e.code, e.reason.as_str(), e.message.as_str()),
        (401, "Unauthorized", "Unauthorized")
    );
}

#[tokio::test]
async fn create_get_update_delete_with_real_errors() {
    let (_c, client) = cluster("crud").await;
    let api: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let created = api.create(&PostParams::default(), &cm("a", &[])).await.unwrap();
    let md = &created.metadata;
    assert!(md.uid.is_some() && md.creation_timestamp.is_some());
    let rv: u64 = md.resource_version.as_deref().unwrap().parse().unwrap();

    let e = api_error(api.create(&PostParams::default(), &cm("a", &[])).await);
    assert_eq!((e.code, e.reason.as_str()), (409, "AlreadyExists"));
    assert_eq!(e.message, "configmaps \"a\" already exists");

    let e = api_error(api.get("missing").await);
    assert_eq!(
        (e.code, e.reason.as_str(), e.message.as_str()),
        (404, "NotFound", "configmaps \"missing\" not found")
    );
    let e = api_error(
        Api::<Deployment>::default_namespaced(client.clone())
            .get("missing")
            .await,
    );
    assert_eq!(e.message, "deployments.apps \"missing\" not found");

    // update with the current resourceVersion succeeds and bumps it
    let mut cur = api.get("a").await.unwrap();
    cur.data.as_mut().unwrap().insert("k".into(), "v2".into());
    let updated = api.replace("a", &PostParams::default(), &cur).await.unwrap();
    let rv2: u64 = updated
        .metadata
        .resource_version
        .as_deref()
        .unwrap()
        .parse()
        .unwrap();
    assert!(rv2 > rv);
    // the same (now stale) object again: 409 Conflict with the real message
    let e = api_error(api.replace("a", &PostParams::default(), &cur).await);
    assert_eq!((e.code, e.reason.as_str()), (409, "Conflict"));
    assert_eq!(
        e.message,
        "Operation cannot be fulfilled on configmaps \"a\": the object has been modified; please apply your changes to the latest version and try again"
    );

    // a no-op update does not bump the resourceVersion
    let again = api.replace("a", &PostParams::default(), &updated).await.unwrap();
    assert_eq!(again.metadata.resource_version, updated.metadata.resource_version);

    // generateName
    let mut g = cm("", &[]);
    g.metadata.name = None;
    g.metadata.generate_name = Some("gen-".into());
    let made = api.create(&PostParams::default(), &g).await.unwrap();
    let name = made.metadata.name.unwrap();
    assert!(name.starts_with("gen-") && name.len() == 9, "{name}");

    // no name at all: 422 Invalid
    let mut nameless = cm("", &[]);
    nameless.metadata.name = None;
    let e = api_error(api.create(&PostParams::default(), &nameless).await);
    assert_eq!((e.code, e.reason.as_str()), (422, "Invalid"));
    assert_eq!(
        e.message,
        "ConfigMap \"\" is invalid: metadata.name: Required value: name or generateName is required"
    );

    // an invalid name
    let e = api_error(api.create(&PostParams::default(), &cm("Bad_Name", &[])).await);
    assert_eq!(e.code, 422);
    assert!(e.message.starts_with("ConfigMap \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain"), "{}", e.message);

    // delete answers with a Status for configmaps, then NotFound
    let r = api.delete("a", &DeleteParams::default()).await.unwrap();
    let status = r.right().expect("configmaps answer deletes with a Status");
    assert_eq!(status.details.unwrap().name, "a");
    let e = api_error(api.delete("a", &DeleteParams::default()).await);
    assert_eq!(e.code, 404);
}

#[tokio::test]
async fn dry_run_writes_nothing() {
    let (_c, client) = cluster("dryrun").await;
    let api: Api<ConfigMap> = Api::default_namespaced(client);
    let pp = PostParams {
        dry_run: true,
        ..Default::default()
    };
    let out = api.create(&pp, &cm("d", &[])).await.unwrap();
    assert_eq!(out.metadata.name.as_deref(), Some("d"));
    assert!(api.get_opt("d").await.unwrap().is_none());
    api.create(&PostParams::default(), &cm("d", &[])).await.unwrap();
    let dp = DeleteParams {
        dry_run: true,
        ..Default::default()
    };
    api.delete("d", &dp).await.unwrap();
    assert!(api.get_opt("d").await.unwrap().is_some());
    let pp = PatchParams {
        dry_run: true,
        ..Default::default()
    };
    api.patch("d", &pp, &Patch::Merge(json!({"data": {"k": "changed"}})))
        .await
        .unwrap();
    assert_eq!(api.get("d").await.unwrap().data.unwrap()["k"], "d");
}

#[tokio::test]
async fn label_and_field_selectors() {
    let (_c, client) = cluster("selectors").await;
    let api: Api<ConfigMap> = Api::default_namespaced(client.clone());
    for (n, labels) in [
        ("web", vec![("app", "web"), ("tier", "front")]),
        ("db", vec![("app", "db"), ("tier", "back")]),
        ("cache", vec![("app", "cache")]),
    ] {
        api.create(&PostParams::default(), &cm(n, &labels)).await.unwrap();
    }
    let names = |l: kube::core::ObjectList<ConfigMap>| -> Vec<String> {
        let mut v: Vec<String> = l.items.into_iter().map(|c| c.metadata.name.unwrap()).collect();
        v.sort();
        v
    };
    for (sel, want) in [
        ("app=web", vec!["web"]),
        ("app==db", vec!["db"]),
        ("app!=web", vec!["cache", "db", "kube-root-ca.crt"]),
        ("app in (web,db)", vec!["db", "web"]),
        ("app notin (web,db)", vec!["cache", "kube-root-ca.crt"]),
        ("tier", vec!["db", "web"]),
        ("!tier", vec!["cache", "kube-root-ca.crt"]),
        ("app,tier=back", vec!["db"]),
    ] {
        let got = names(api.list(&ListParams::default().labels(sel)).await.unwrap());
        assert_eq!(got, want, "selector {sel}");
    }
    let got = names(
        api.list(&ListParams::default().fields("metadata.name=db"))
            .await
            .unwrap(),
    );
    assert_eq!(got, vec!["db"]);
    let got = names(
        api.list(&ListParams::default().fields("metadata.name!=db,metadata.namespace=default"))
            .await
            .unwrap(),
    );
    assert_eq!(got, vec!["cache", "kube-root-ca.crt", "web"]);
    let e = api_error(api.list(&ListParams::default().fields("spec.nope=x")).await);
    assert_eq!(
        (e.code, e.message.as_str()),
        (400, "field label not supported: spec.nope")
    );
    let e = api_error(api.list(&ListParams::default().labels("app in web")).await);
    assert_eq!(e.code, 400);
    // all namespaces
    let all: Api<ConfigMap> = Api::all(client);
    assert_eq!(
        all.list(&ListParams::default().labels("app"))
            .await
            .unwrap()
            .items
            .len(),
        3
    );
}

#[tokio::test]
async fn pagination_with_limit_and_continue() {
    let (c, client) = cluster("paging").await;
    let api: Api<ConfigMap> = Api::default_namespaced(client.clone());
    for i in 0..7 {
        api.create(&PostParams::default(), &cm(&format!("cm-{i}"), &[]))
            .await
            .unwrap();
    }
    let first = api.list(&ListParams::default().limit(3)).await.unwrap();
    assert_eq!(first.items.len(), 3);
    // 7 + the namespace's kube-root-ca.crt
    assert_eq!(first.metadata.remaining_item_count, Some(5));
    let token = first.metadata.continue_.clone().expect("continue token");
    // objects created after the first page do not appear in later pages (consistent list)
    api.create(&PostParams::default(), &cm("cm-late", &[]))
        .await
        .unwrap();
    let mut names: Vec<String> = first
        .items
        .into_iter()
        .map(|c| c.metadata.name.unwrap())
        .collect();
    let mut next = Some(token.clone());
    while let Some(t) = next {
        let page = api
            .list(&ListParams::default().limit(3).continue_token(&t))
            .await
            .unwrap();
        names.extend(page.items.into_iter().map(|c| c.metadata.name.unwrap()));
        next = page.metadata.continue_.filter(|s| !s.is_empty());
    }
    let mut want: Vec<String> = (0..7).map(|i| format!("cm-{i}")).collect();
    want.push("kube-root-ca.crt".into());
    assert_eq!(names, want);
    // after compaction the old token is too old: 410 Expired
    c.compact();
    let e = api_error(
        api.list(&ListParams::default().limit(3).continue_token(&token))
            .await,
    );
    assert_eq!((e.code, e.reason.as_str()), (410, "Expired"));
    assert!(
        e.message
            .starts_with("The provided continue parameter is too old"),
        "{}",
        e.message
    );
}

#[tokio::test]
async fn deployment_defaulting_generation_and_status_subresource() {
    let (_c, client) = cluster("deploy").await;
    let api: Api<Deployment> = Api::default_namespaced(client.clone());
    let d: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "nginx:1.27", "ports": [{"containerPort": 80}]}]}},
        },
        "status": {"replicas": 99},
    }))
    .unwrap();
    let created = api.create(&PostParams::default(), &d).await.unwrap();
    let spec = created.spec.as_ref().unwrap();
    assert_eq!(spec.replicas, Some(1));
    assert_eq!(spec.revision_history_limit, Some(10));
    assert_eq!(spec.progress_deadline_seconds, Some(600));
    let strategy = spec.strategy.as_ref().unwrap();
    assert_eq!(strategy.type_.as_deref(), Some("RollingUpdate"));
    let pod = spec.template.spec.as_ref().unwrap();
    assert_eq!(pod.restart_policy.as_deref(), Some("Always"));
    assert_eq!(pod.dns_policy.as_deref(), Some("ClusterFirst"));
    assert_eq!(pod.scheduler_name.as_deref(), Some("default-scheduler"));
    assert_eq!(pod.termination_grace_period_seconds, Some(30));
    let c0 = &pod.containers[0];
    assert_eq!(c0.image_pull_policy.as_deref(), Some("IfNotPresent"));
    assert_eq!(
        c0.termination_message_path.as_deref(),
        Some("/dev/termination-log")
    );
    assert_eq!(c0.ports.as_ref().unwrap()[0].protocol.as_deref(), Some("TCP"));
    assert!(
        created.status.is_none() || created.status.as_ref().unwrap().replicas.is_none(),
        "status is not writable on create"
    );
    assert_eq!(created.metadata.generation, Some(1));
    assert!(
        created
            .metadata
            .managed_fields
            .as_ref()
            .is_some_and(|m| !m.is_empty())
    );

    // status writes go through /status and do not bump generation
    let st = api
        .patch_status(
            "web",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"status": {"replicas": 1, "observedGeneration": 1}, "spec": {"replicas": 7}}),
            ),
        )
        .await
        .unwrap();
    assert_eq!(st.status.as_ref().unwrap().replicas, Some(1));
    assert_eq!(
        st.spec.as_ref().unwrap().replicas,
        Some(1),
        "/status ignores spec"
    );
    assert_eq!(st.metadata.generation, Some(1));
    // spec writes through the main resource bump generation and ignore status
    let sp = api
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 3}, "status": {"replicas": 42}})),
        )
        .await
        .unwrap();
    assert_eq!(sp.metadata.generation, Some(2));
    assert_eq!(
        sp.status.as_ref().unwrap().replicas,
        Some(1),
        "main resource ignores status"
    );
    // labels do not bump generation
    let lp = api
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"x": "y"}}})),
        )
        .await
        .unwrap();
    assert_eq!(lp.metadata.generation, Some(2));

    // scale subresource
    let scale = api.get_scale("web").await.unwrap();
    assert_eq!(scale.spec.unwrap().replicas, Some(3));
    assert_eq!(scale.status.unwrap().selector.as_deref(), Some("app=web"));
    api.patch_scale(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 5}})),
    )
    .await
    .unwrap();
    assert_eq!(api.get("web").await.unwrap().spec.unwrap().replicas, Some(5));

    // validation: selector must match the template
    let mut bad = d.clone();
    bad.metadata.name = Some("bad".into());
    bad.spec.as_mut().unwrap().selector.match_labels =
        Some(BTreeMap::from([("app".to_string(), "other".to_string())]));
    let e = api_error(api.create(&PostParams::default(), &bad).await);
    assert_eq!(e.code, 422);
    assert_eq!(
        e.message,
        "Deployment.apps \"bad\" is invalid: spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"web\"}: `selector` does not match template `labels`"
    );
    // type errors of built-in types are decoding errors (400)
    let e = api_error(
        api.patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": "three"}})),
        )
        .await,
    );
    assert_eq!((e.code, e.reason.as_str()), (400, "BadRequest"));
    assert!(
        e.message.contains(
            "cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32"
        ),
        "{}",
        e.message
    );
}

#[tokio::test]
async fn strict_field_validation() {
    let (_c, client) = cluster("strict").await;
    let body = serde_json::to_vec(
        &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "s"}, "bogus": 1}),
    )
    .unwrap();
    let post = |q: &str| {
        http::Request::post(format!("/api/v1/namespaces/default/configmaps{q}"))
            .header("content-type", "application/json")
            .body(body.clone())
            .unwrap()
    };
    let e = api_error(client.request::<ConfigMap>(post("?fieldValidation=Strict")).await);
    assert_eq!(
        (e.code, e.message.as_str()),
        (
            400,
            "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: strict decoding error: unknown field \"bogus\""
        )
    );
    // a strict patch reports the patched object, as kube-apiserver does
    let api: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let pre = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "p"}});
    api.create(&PostParams::default(), &serde_json::from_value(pre).unwrap())
        .await
        .unwrap();
    let patch = http::Request::patch("/api/v1/namespaces/default/configmaps/p?fieldValidation=Strict")
        .header("content-type", "application/merge-patch+json")
        .body(br#"{"bogus":2}"#.to_vec())
        .unwrap();
    let e = api_error(client.request::<ConfigMap>(patch).await);
    assert_eq!((e.code, e.reason.as_str()), (422, "Invalid"));
    assert!(
        e.message
            .starts_with(" \"\" is invalid: patch: Invalid value: \"{"),
        "{}",
        e.message
    );
    assert!(
        e.message
            .ends_with("\": strict decoding error: unknown field \"bogus\""),
        "{}",
        e.message
    );
    // server-side apply cannot type unknown fields at all
    let cfg = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "p"}, "bogus": 3});
    let e = api_error(
        api.patch("p", &PatchParams::apply("m"), &Patch::Apply(&cfg))
            .await,
    );
    assert_eq!(
        (e.code, e.message.as_str()),
        (
            400,
            "failed to create typed patch object (default/p; v1, Kind=ConfigMap): .bogus: field not declared in schema"
        )
    );
    // the default (Warn) drops the field and succeeds
    client.request::<ConfigMap>(post("")).await.unwrap();
    let stored = Api::<ConfigMap>::default_namespaced(client.clone())
        .get("s")
        .await
        .unwrap();
    assert!(serde_json::to_value(&stored).unwrap().get("bogus").is_none());
    let e = api_error(client.request::<ConfigMap>(post("?fieldValidation=Loose")).await);
    assert_eq!(
        e.message,
        "fieldValidation parameter unsupported: Loose. Valid values are Ignore, Warn, Strict"
    );
}

#[tokio::test]
async fn patch_types_and_server_side_apply() {
    let (_c, client) = cluster("patches").await;
    let api: Api<Deployment> = Api::default_namespaced(client.clone());
    let d = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "app"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "app"}},
            "template": {"metadata": {"labels": {"app": "app"}}, "spec": {"containers": [
                {"name": "main", "image": "app:1", "env": [{"name": "A", "value": "1"}]},
                {"name": "side", "image": "side:1"},
            ]}},
        },
    });
    api.patch("app", &PatchParams::apply("alice"), &Patch::Apply(&d))
        .await
        .unwrap();

    // strategic merge: containers merge by name, env by name
    let smp = json!({"spec": {"template": {"spec": {"containers": [{"name": "main", "env": [{"name": "B", "value": "2"}]}]}}}});
    let out = api
        .patch("app", &PatchParams::default(), &Patch::Strategic(smp))
        .await
        .unwrap();
    let cs = out.spec.unwrap().template.spec.unwrap().containers;
    assert_eq!(cs.len(), 2);
    let env: Vec<String> = cs[0]
        .env
        .as_ref()
        .unwrap()
        .iter()
        .map(|e| e.name.clone())
        .collect();
    assert_eq!(env, vec!["A", "B"]);
    // JSON merge patch: lists are replaced
    let out = api
        .patch(
            "app",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {"note": "x"}}})),
        )
        .await
        .unwrap();
    assert_eq!(out.metadata.annotations.unwrap()["note"], "x");
    // JSON patch, with a failing test op
    let jp: json_patch::Patch =
        serde_json::from_value(json!([{"op": "replace", "path": "/spec/replicas", "value": 4}])).unwrap();
    let out = api
        .patch("app", &PatchParams::default(), &Patch::<()>::Json(jp))
        .await
        .unwrap();
    assert_eq!(out.spec.unwrap().replicas, Some(4));
    let jp: json_patch::Patch =
        serde_json::from_value(json!([{"op": "test", "path": "/spec/replicas", "value": 9}])).unwrap();
    let e = api_error(
        api.patch("app", &PatchParams::default(), &Patch::<()>::Json(jp))
            .await,
    );
    assert_eq!((e.code, e.reason.as_str()), (422, "Invalid"));

    // alice applied replicas; someone else changed it with an update; alice re-applying
    // her own value now conflicts with that manager
    let e = api_error(
        api.patch("app", &PatchParams::apply("alice"), &Patch::Apply(&d))
            .await,
    );
    assert_eq!((e.code, e.reason.as_str()), (409, "Conflict"));
    assert!(
        e.message
            .starts_with("Apply failed with 1 conflict: conflict with \"")
            && e.message.ends_with("using apps/v1: .spec.replicas"),
        "{}",
        e.message
    );
    // bob applies a different value: conflict with alice (an Apply manager: no "using")
    let bob = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "app"}, "spec": {"template": {"spec": {"containers": [{"name": "main", "image": "app:2"}]}}}});
    let e = api_error(
        api.patch("app", &PatchParams::apply("bob"), &Patch::Apply(&bob))
            .await,
    );
    assert_eq!(
        e.message,
        "Apply failed with 1 conflict: conflict with \"alice\": .spec.template.spec.containers[name=\"main\"].image"
    );
    // forced, bob takes the field over
    let out = api
        .patch("app", &PatchParams::apply("bob").force(), &Patch::Apply(&bob))
        .await
        .unwrap();
    assert_eq!(
        out.spec
            .as_ref()
            .unwrap()
            .template
            .spec
            .as_ref()
            .unwrap()
            .containers[0]
            .image
            .as_deref(),
        Some("app:2")
    );
    let mf = out.metadata.managed_fields.unwrap();
    let bob_entry = mf.iter().find(|m| m.manager.as_deref() == Some("bob")).unwrap();
    assert_eq!(bob_entry.operation.as_deref(), Some("Apply"));
    let alice_entry =
        serde_json::to_value(mf.iter().find(|m| m.manager.as_deref() == Some("alice")).unwrap()).unwrap();
    let main =
        &alice_entry["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"main\"}"];
    assert!(
        main.get("f:env").is_some() && main.get("f:image").is_none(),
        "alice lost only the image: {alice_entry}"
    );

    // alice stops applying the sidecar: apply removes what only she owned
    let mut d2 = d.clone();
    d2["spec"]["template"]["spec"]["containers"] =
        json!([{"name": "main", "image": "app:1", "env": [{"name": "A", "value": "1"}]}]);
    d2["spec"].as_object_mut().unwrap().remove("replicas");
    let out = api
        .patch("app", &PatchParams::apply("alice").force(), &Patch::Apply(&d2))
        .await
        .unwrap();
    let names: Vec<String> = out
        .spec
        .unwrap()
        .template
        .spec
        .unwrap()
        .containers
        .iter()
        .map(|c| c.name.clone())
        .collect();
    assert_eq!(names, vec!["main"]);

    // apply creates, and needs a field manager
    let raw: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let cfg =
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "applied"}, "data": {"a": "1"}});
    raw.patch("applied", &PatchParams::apply("mgr"), &Patch::Apply(&cfg))
        .await
        .unwrap();
    assert_eq!(raw.get("applied").await.unwrap().data.unwrap()["a"], "1");
    let e = api_error(
        raw.patch("applied", &PatchParams::default(), &Patch::Apply(&cfg))
            .await,
    );
    assert_eq!(e.code, 422);
    assert!(
        e.message
            .contains("fieldManager: Required value: is required for apply patch"),
        "{}",
        e.message
    );
    // patches on a missing object
    let e = api_error(
        raw.patch(
            "nope",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {}})),
        )
        .await,
    );
    assert_eq!(e.code, 404);
}

#[tokio::test]
async fn finalizers_hold_deletion() {
    let (_c, client) = cluster("finalizers").await;
    let api: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let mut o = cm("held", &[]);
    o.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    api.create(&PostParams::default(), &o).await.unwrap();
    let r = api.delete("held", &DeleteParams::default()).await.unwrap();
    let still = r.left().expect("a held object is returned, not a Status");
    assert!(still.metadata.deletion_timestamp.is_some());
    let got = api.get("held").await.unwrap();
    assert!(got.metadata.deletion_timestamp.is_some());
    // no new finalizers while deleting
    let e = api_error(
        api.patch(
            "held",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": ["example.com/hold", "example.com/more"]}})),
        )
        .await,
    );
    assert_eq!(e.code, 403);
    api.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    assert!(api.get_opt("held").await.unwrap().is_none());
}

fn owned_cm(name: &str, owner: &ConfigMap) -> ConfigMap {
    serde_json::from_value(json!({
        "metadata": {"name": name, "ownerReferences": [{
            "apiVersion": "v1", "kind": "ConfigMap", "name": owner.metadata.name, "uid": owner.metadata.uid, "blockOwnerDeletion": true,
        }]},
    }))
    .unwrap()
}

#[tokio::test]
async fn garbage_collection_by_owner_references() {
    let (_c, client) = cluster("gc").await;
    let api: Api<ConfigMap> = Api::default_namespaced(client.clone());
    // background (default)
    let owner = api
        .create(&PostParams::default(), &cm("owner", &[]))
        .await
        .unwrap();
    api.create(&PostParams::default(), &owned_cm("dep", &owner))
        .await
        .unwrap();
    api.delete("owner", &DeleteParams::background()).await.unwrap();
    settle(&api, "dep", conditions::is_deleted("")).await;

    // foreground: the owner stays (with the finalizer) until its dependents are gone
    let owner = api.create(&PostParams::default(), &cm("fg", &[])).await.unwrap();
    let mut dep = owned_cm("fg-dep", &owner);
    dep.metadata.finalizers = Some(vec!["example.com/slow".into()]);
    api.create(&PostParams::default(), &dep).await.unwrap();
    let r = api.delete("fg", &DeleteParams::foreground()).await.unwrap();
    let held = r.left().expect("foreground deletion returns the object");
    assert!(
        held.metadata
            .finalizers
            .unwrap()
            .contains(&"foregroundDeletion".to_string())
    );
    tokio::time::timeout(WAIT, async {
        loop {
            if api
                .get("fg-dep")
                .await
                .unwrap()
                .metadata
                .deletion_timestamp
                .is_some()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap();
    assert!(
        api.get_opt("fg").await.unwrap().is_some(),
        "owner waits for its dependent"
    );
    api.patch(
        "fg-dep",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    settle(&api, "fg", conditions::is_deleted("")).await;

    // orphan: the dependent stays, without the owner reference
    let owner = api
        .create(&PostParams::default(), &cm("orph", &[]))
        .await
        .unwrap();
    api.create(&PostParams::default(), &owned_cm("orph-dep", &owner))
        .await
        .unwrap();
    api.delete("orph", &DeleteParams::orphan()).await.unwrap();
    settle(&api, "orph", conditions::is_deleted("")).await;
    let dep = api.get("orph-dep").await.unwrap();
    assert!(dep.metadata.owner_references.unwrap_or_default().is_empty());
}

#[tokio::test]
async fn namespace_deletion_empties_and_removes_the_namespace() {
    let (_c, client) = cluster("nsdel").await;
    ns(&client, "doomed").await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "doomed");
    cms.create(&PostParams::default(), &cm("one", &[])).await.unwrap();
    let mut held = cm("held", &[]);
    held.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    cms.create(&PostParams::default(), &held).await.unwrap();
    let nss: Api<Namespace> = Api::all(client.clone());
    let r = nss.delete("doomed", &DeleteParams::default()).await.unwrap();
    let n = r.left().expect("namespace deletion returns the namespace");
    assert_eq!(n.status.unwrap().phase.as_deref(), Some("Terminating"));
    // new content is refused
    let e = api_error(cms.create(&PostParams::default(), &cm("late", &[])).await);
    assert_eq!((e.code, e.reason.as_str()), (403, "Forbidden"));
    assert_eq!(
        e.message,
        "configmaps \"late\" is forbidden: unable to create new content in namespace doomed because it is being terminated"
    );
    // the held object keeps the namespace around, visible in its conditions
    tokio::time::timeout(WAIT, async {
        loop {
            let n = nss.get("doomed").await.unwrap();
            let conds = n.status.and_then(|s| s.conditions).unwrap_or_default();
            if let Some(c) = conds.iter().find(|c| c.type_ == "NamespaceFinalizersRemaining" && c.status == "True") {
                assert_eq!(c.message.as_deref(), Some("Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances"));
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap();
    cms.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    settle(&nss, "doomed", conditions::is_deleted("")).await;
    // creating in a missing namespace
    let e = api_error(cms.create(&PostParams::default(), &cm("x", &[])).await);
    assert_eq!(
        (e.code, e.message.as_str()),
        (404, "namespaces \"doomed\" not found")
    );
}

fn widget_crd() -> CustomResourceDefinition {
    serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"]},
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}},
                "additionalPrinterColumns": [{"name": "Size", "type": "integer", "jsonPath": ".spec.size"}],
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    // as Argo CD's CRDs do: metadata is checked apart from the schema
                    "required": ["metadata", "spec"],
                    "properties": {
                        "spec": {
                            "type": "object",
                            "required": ["size"],
                            "properties": {
                                "size": {"type": "integer", "minimum": 1, "maximum": 10},
                                "color": {"type": "string", "enum": ["red", "blue"], "default": "red"},
                                "name": {"type": "string", "pattern": "^[a-z]+$"},
                                "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                            },
                        },
                        "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}},
                    },
                }},
            }],
        },
    }))
    .unwrap()
}

#[tokio::test]
async fn custom_resource_definitions() {
    let (_c, client) = cluster("crds").await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.create(&PostParams::default(), &widget_crd()).await.unwrap();
    settle(&crds, "widgets.example.com", conditions::is_crd_established()).await;
    let crd = crds.get("widgets.example.com").await.unwrap();
    let status = crd.status.unwrap();
    let names_accepted = status
        .conditions
        .as_ref()
        .unwrap()
        .iter()
        .find(|c| c.type_ == "NamesAccepted")
        .unwrap();
    assert_eq!(
        (names_accepted.status.as_str(), names_accepted.reason.as_deref()),
        ("True", Some("NoConflicts"))
    );
    assert_eq!(status.stored_versions, Some(vec!["v1".to_string()]));
    assert!(
        crd.metadata
            .finalizers
            .unwrap()
            .contains(&"customresourcecleanup.apiextensions.k8s.io".to_string())
    );

    let d = kube::Discovery::new(client.clone()).run().await.unwrap();
    let (ar, _) = d.get("example.com").unwrap().recommended_kind("Widget").unwrap();
    assert_eq!(ar.plural, "widgets");

    let gvk = GroupVersionKind::gvk("example.com", "v1", "Widget");
    let ar = ApiResource::from_gvk_with_plural(&gvk, "widgets");
    let widgets: Api<DynamicObject> = Api::default_namespaced_with(client.clone(), &ar);
    let w = |name: &str, spec: Value| -> DynamicObject {
        serde_json::from_value(json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": name}, "spec": spec})).unwrap()
    };
    let made = widgets
        .create(
            &PostParams::default(),
            &w("w1", json!({"size": 3, "unknown": 1, "extra": {"free": true}})),
        )
        .await
        .unwrap();
    assert_eq!(made.data["spec"]["color"], "red", "schema default applied");
    assert!(
        made.data["spec"].get("unknown").is_none(),
        "unknown fields pruned"
    );
    assert_eq!(
        made.data["spec"]["extra"]["free"], true,
        "preserved unknown fields kept"
    );
    assert_eq!(made.metadata.generation, Some(1));

    let e = api_error(
        widgets
            .create(&PostParams::default(), &w("w2", json!({"size": "string"})))
            .await,
    );
    assert_eq!((e.code, e.reason.as_str()), (422, "Invalid"));
    assert_eq!(
        e.message,
        "Widget.example.com \"w2\" is invalid: spec.size: Invalid value: \"string\": spec.size in body must be of type integer: \"string\""
    );
    let e = api_error(widgets.create(&PostParams::default(), &w("w3", json!({}))).await);
    assert_eq!(
        e.message,
        "Widget.example.com \"w3\" is invalid: spec.size: Required value"
    );
    let e = api_error(
        widgets
            .create(
                &PostParams::default(),
                &w("w4", json!({"size": 11, "color": "green", "name": "A1"})),
            )
            .await,
    );
    assert_eq!(
        e.message,
        "Widget.example.com \"w4\" is invalid: [spec.color: Unsupported value: \"green\": supported values: \"red\", \"blue\", spec.name: Invalid value: \"A1\": spec.name in body should match '^[a-z]+$', spec.size: Invalid value: 11: spec.size in body should be less than or equal to 10]"
    );
    // status subresource: spec changes bump generation, status does not
    let p = widgets
        .patch(
            "w1",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"size": 4}})),
        )
        .await
        .unwrap();
    assert_eq!(p.metadata.generation, Some(2));
    let p = widgets
        .patch_status(
            "w1",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"ready": true}})),
        )
        .await
        .unwrap();
    assert_eq!(
        (p.metadata.generation, &p.data["status"]["ready"]),
        (Some(2), &json!(true))
    );
    // strategic merge patch is not supported for custom resources
    let e = api_error(
        widgets
            .patch(
                "w1",
                &PatchParams::default(),
                &Patch::Strategic(json!({"spec": {"size": 5}})),
            )
            .await,
    );
    assert_eq!((e.code, e.reason.as_str()), (415, "UnsupportedMediaType"));

    // deleting the CRD deletes its objects and its API
    crds.delete("widgets.example.com", &DeleteParams::default())
        .await
        .unwrap();
    settle(&crds, "widgets.example.com", conditions::is_deleted("")).await;
    let e = api_error(widgets.list(&ListParams::default()).await);
    assert_eq!(e.code, 404);
}

#[tokio::test]
async fn watches_stream_changes_and_expire_after_compaction() {
    let (c, client) = cluster("watch").await;
    let api: Api<ConfigMap> = Api::default_namespaced(client.clone());
    api.create(&PostParams::default(), &cm("pre", &[("app", "w")]))
        .await
        .unwrap();
    let list = api.list(&ListParams::default()).await.unwrap();
    let rv = list.metadata.resource_version.unwrap();

    let mut stream = api
        .watch(&WatchParams::default().labels("app=w").timeout(30), &rv)
        .await
        .unwrap()
        .boxed();
    api.create(&PostParams::default(), &cm("w1", &[("app", "w")]))
        .await
        .unwrap();
    api.create(&PostParams::default(), &cm("other", &[("app", "x")]))
        .await
        .unwrap();
    api.patch(
        "w1",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"k": "v"}})),
    )
    .await
    .unwrap();
    // leaving the selector is seen as a deletion
    api.patch(
        "w1",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"app": "gone"}}})),
    )
    .await
    .unwrap();
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let ev = tokio::time::timeout(WAIT, stream.try_next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        seen.push(match ev {
            WatchEvent::Added(o) => format!("ADDED {}", o.metadata.name.unwrap()),
            WatchEvent::Modified(o) => format!("MODIFIED {}", o.metadata.name.unwrap()),
            WatchEvent::Deleted(o) => format!("DELETED {}", o.metadata.name.unwrap()),
            other => format!("{other:?}"),
        });
    }
    assert_eq!(seen, vec!["ADDED w1", "MODIFIED w1", "DELETED w1"]);

    // a watch from a compacted resourceVersion gets 410 Expired
    c.compact();
    let mut old = api.watch(&WatchParams::default(), &rv).await.unwrap().boxed();
    common::expect_expired(&mut old, &rv).await;
}

#[tokio::test]
async fn kube_runtime_watchers_list_watch_and_streaming_lists() {
    let (_c, client) = cluster("watchers").await;
    let api: Api<Pod> = Api::default_namespaced(client.clone());
    let pod = |n: &str| -> Pod {
        serde_json::from_value(json!({"metadata": {"name": n}, "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}})).unwrap()
    };
    api.create(&PostParams::default(), &pod("p0")).await.unwrap();
    let mut existing = vec!["p0".to_string()];
    for (cfg, n) in [
        (watcher::Config::default(), "p-list"),
        (watcher::Config::default().streaming_lists(), "p-stream"),
    ] {
        let mut objs = std::pin::pin!(watcher(api.clone(), cfg).applied_objects());
        // the initial state: every existing pod
        let mut initial = Vec::new();
        for _ in 0..existing.len() {
            let o = tokio::time::timeout(WAIT, objs.try_next())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            initial.push(o.metadata.name.unwrap());
        }
        initial.sort();
        existing.sort();
        assert_eq!(initial, existing);
        // then changes
        api.create(&PostParams::default(), &pod(n)).await.unwrap();
        let next = tokio::time::timeout(WAIT, objs.try_next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(next.metadata.name.as_deref(), Some(n));
        let spec = next.spec.unwrap();
        assert_eq!(
            spec.service_account_name.as_deref(),
            Some("default"),
            "pod admission defaults"
        );
        assert_eq!(next.status.unwrap().phase.as_deref(), Some("Pending"));
        existing.push(n.to_string());
    }
}

#[tokio::test]
async fn table_output_for_kubectl_get() {
    let (_c, client) = cluster("table").await;
    let api: Api<Service> = Api::default_namespaced(client.clone());
    let svc: Service = serde_json::from_value(
        json!({"metadata": {"name": "web"}, "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}),
    )
    .unwrap();
    let made = api.create(&PostParams::default(), &svc).await.unwrap();
    let spec = made.spec.unwrap();
    assert_eq!(spec.type_.as_deref(), Some("ClusterIP"));
    assert!(spec.cluster_ip.as_deref().unwrap().starts_with("10."));
    assert_eq!(
        spec.ports.unwrap()[0].target_port,
        Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(80))
    );
    let req = http::Request::get("/api/v1/namespaces/default/services")
        .header(
            "accept",
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
        )
        .body(vec![])
        .unwrap();
    let t: Value = client.request(req).await.unwrap();
    assert_eq!(t["kind"], "Table");
    let cols: Vec<&str> = t["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        cols,
        vec![
            "Name",
            "Type",
            "Cluster-IP",
            "External-IP",
            "Port(s)",
            "Age",
            "Selector"
        ]
    );
    let row = t["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["cells"][0] == "web")
        .unwrap();
    assert_eq!(row["cells"][1], "ClusterIP");
    assert_eq!(row["cells"][4], "80/TCP");
    assert_eq!(row["cells"][6], "app=web");
    assert_eq!(row["object"]["kind"], "PartialObjectMetadata");
}

#[tokio::test]
async fn secrets_and_immutability() {
    let (_c, client) = cluster("secrets").await;
    let api: Api<Secret> = Api::default_namespaced(client.clone());
    let s: Secret = serde_json::from_value(
        json!({"metadata": {"name": "s"}, "stringData": {"a": "b"}, "immutable": true}),
    )
    .unwrap();
    let made = api.create(&PostParams::default(), &s).await.unwrap();
    assert_eq!(made.type_.as_deref(), Some("Opaque"));
    // stringData is merged into data and not kept
    assert_eq!(made.data.as_ref().unwrap()["a"].0, b"b");
    assert!(made.string_data.is_none());
    let e = api_error(
        api.patch(
            "s",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"a": "Yw=="}})),
        )
        .await,
    );
    assert_eq!(e.code, 422);
    assert!(
        e.message
            .ends_with("data: Forbidden: field is immutable when `immutable` is set"),
        "{}",
        e.message
    );
}

#[tokio::test]
async fn fifty_clusters_in_one_process() {
    let names: Vec<String> = (0..50).map(|i| format!("many-{i}")).collect();
    let clusters = futures::future::try_join_all(names.iter().map(|n| hubspoke_sim::SimCluster::start(n)))
        .await
        .unwrap();
    let mut seen = std::collections::HashSet::new();
    for c in &clusters {
        assert!(seen.insert(c.url()), "each cluster has its own port");
        let client = client_for(c).await;
        let list = Api::<Namespace>::all(client)
            .list(&ListParams::default())
            .await
            .unwrap();
        assert_eq!(list.items.len(), 4, "{} serves its own namespaces", c.name());
    }
}

#[tokio::test]
async fn environment_writes_private_kubeconfigs() {
    let env = hubspoke_sim::SimEnvironment::start(2).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let paths = env.write_kubeconfigs(dir.path()).unwrap();
    let names: Vec<String> = paths
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        vec!["hub.kubeconfig", "spoke-a.kubeconfig", "spoke-b.kubeconfig"]
    );
    use std::os::unix::fs::PermissionsExt;
    for p in paths
        .iter()
        .chain(std::iter::once(&dir.path().join("kubeconfig")))
    {
        assert_eq!(
            std::fs::metadata(p).unwrap().permissions().mode() & 0o777,
            0o600,
            "{}",
            p.display()
        );
    }
    // each spoke is a separate API server
    let spoke = client_for(&env.spokes[1]).await;
    Api::<ConfigMap>::default_namespaced(spoke.clone())
        .create(&PostParams::default(), &cm("only-here", &[]))
        .await
        .unwrap();
    let hub = client_for(&env.hub).await;
    assert!(
        Api::<ConfigMap>::default_namespaced(hub)
            .get_opt("only-here")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn delete_collection_and_method_not_allowed() {
    let (_c, client) = cluster("delcoll").await;
    let api: Api<ConfigMap> = Api::default_namespaced(client.clone());
    for (n, l) in [("a", "x"), ("b", "x"), ("c", "y")] {
        api.create(&PostParams::default(), &cm(n, &[("grp", l)]))
            .await
            .unwrap();
    }
    let deleted = api
        .delete_collection(&DeleteParams::default(), &ListParams::default().labels("grp=x"))
        .await
        .unwrap();
    let names: Vec<String> = deleted
        .left()
        .unwrap()
        .items
        .into_iter()
        .map(|c| c.metadata.name.unwrap())
        .collect();
    assert_eq!(names, vec!["a", "b"]);
    let left: Vec<String> = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|c| c.metadata.name.unwrap())
        .collect();
    assert_eq!(left, vec!["c", "kube-root-ca.crt"]);
    // POST to an object URL is not a verb the server serves
    let req = http::Request::post("/api/v1/namespaces/default/configmaps/c")
        .header("content-type", "application/json")
        .body(b"{}".to_vec())
        .unwrap();
    let e = api_error(client.request::<Value>(req).await);
    assert_eq!((e.code, e.reason.as_str()), (405, "MethodNotAllowed"));
    assert_eq!(
        e.message,
        "the server does not allow this method on the requested resource"
    );
    // unknown resources and groups
    let e = api_error(
        client
            .request::<Value>(
                http::Request::get("/apis/nope.example.com/v1/things")
                    .body(vec![])
                    .unwrap(),
            )
            .await,
    );
    assert_eq!(
        (e.code, e.message.as_str()),
        (404, "the server could not find the requested resource")
    );
}

#[tokio::test]
async fn watch_bookmarks_and_timeouts() {
    let config = hubspoke_sim::ServerConfig {
        bookmark_interval: Duration::from_millis(100),
        ..Default::default()
    };
    let c = hubspoke_sim::SimCluster::start_with("bookmarks", config)
        .await
        .unwrap();
    let client = client_for(&c).await;
    let api: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let rv = common::list_rv(&api).await;
    let mut stream = api
        .watch(&WatchParams::default().timeout(30), &rv)
        .await
        .unwrap()
        .boxed();
    // a write elsewhere advances the resourceVersion without events for this watch
    Api::<Secret>::default_namespaced(client.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "s"}})).unwrap(),
        )
        .await
        .unwrap();
    let now: u64 = c.resource_version();
    match tokio::time::timeout(WAIT, stream.try_next())
        .await
        .unwrap()
        .unwrap()
        .unwrap()
    {
        WatchEvent::Bookmark(b) => assert_eq!(b.metadata.resource_version.parse::<u64>().unwrap(), now),
        other => panic!("expected a bookmark, got {other:?}"),
    }
    // timeoutSeconds ends the stream
    let mut short = api
        .watch(&WatchParams::default().timeout(1), &rv)
        .await
        .unwrap()
        .boxed();
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(ev) = short.next().await {
            ev.unwrap();
        }
    })
    .await;
    assert!(ended.is_ok(), "the watch closed after its timeout");
}

#[tokio::test]
async fn recreating_a_crd_does_not_bring_back_old_objects() {
    let (_c, client) = cluster("crd-recreate").await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let ar =
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("example.com", "v1", "Widget"), "widgets");
    let widgets: Api<DynamicObject> = Api::default_namespaced_with(client.clone(), &ar);
    crds.create(&PostParams::default(), &widget_crd()).await.unwrap();
    settle(&crds, "widgets.example.com", conditions::is_crd_established()).await;
    let w: DynamicObject = serde_json::from_value(json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "old"}, "spec": {"size": 1}})).unwrap();
    widgets.create(&PostParams::default(), &w).await.unwrap();
    crds.delete("widgets.example.com", &DeleteParams::default())
        .await
        .unwrap();
    settle(&crds, "widgets.example.com", conditions::is_deleted("")).await;
    crds.create(&PostParams::default(), &widget_crd()).await.unwrap();
    settle(&crds, "widgets.example.com", conditions::is_crd_established()).await;
    assert!(
        widgets
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
}
