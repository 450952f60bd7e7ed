//! Helpers shared by the emulator's integration tests.
#![allow(dead_code)]

pub mod argocd;
pub mod webhook;

use std::time::Duration;

use hubspoke_sim::SimCluster;
use kube::Client;
use kube::core::Status;

/// Starts a cluster and a kube-rs client for it, built from its kubeconfig like a user's.
pub async fn cluster(name: &str) -> (SimCluster, Client) {
    let c = SimCluster::start(name).await.expect("cluster starts");
    let client = client_for(&c).await;
    (c, client)
}

pub async fn client_for(c: &SimCluster) -> Client {
    let kc = kube::config::Kubeconfig::from_yaml(&c.kubeconfig_yaml()).expect("kubeconfig parses");
    let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .expect("kubeconfig loads");
    Client::try_from(cfg).expect("client builds")
}

/// A client without kube-rs' default retries of 429/503/504, to see exactly what the
/// server answered.
pub async fn client_without_retries(c: &SimCluster) -> Client {
    let kc = kube::config::Kubeconfig::from_yaml(&c.kubeconfig_yaml()).expect("kubeconfig parses");
    let mut cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .expect("kubeconfig loads");
    cfg.default_retry = false;
    Client::try_from(cfg).expect("client builds")
}

/// A client for the same cluster that authenticates with `token` instead of the admin's
/// (without retries, so injected 429/503 show as they are).
pub async fn client_with_token(c: &SimCluster, token: &str) -> Client {
    let yaml = c.kubeconfig_yaml().replace(c.admin_token(), token);
    let kc = kube::config::Kubeconfig::from_yaml(&yaml).expect("kubeconfig parses");
    let mut cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .expect("kubeconfig loads");
    cfg.default_retry = false;
    Client::try_from(cfg).expect("client builds")
}

/// The API error of a failed call (fails the test if the call did not fail that way).
pub fn api_error<T: std::fmt::Debug>(r: Result<T, kube::Error>) -> Box<Status> {
    match r {
        Err(kube::Error::Api(s)) => s,
        other => panic!("expected an API error, got {other:?}"),
    }
}

/// How long a test waits for the emulator's controllers to act.
pub const WAIT: Duration = Duration::from_secs(10);

/// Waits (watch-driven) until `cond` holds for the named object, failing after [`WAIT`].
pub async fn settle<K>(api: &kube::Api<K>, name: &str, cond: impl kube::runtime::wait::Condition<K>)
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + 'static,
{
    tokio::time::timeout(
        WAIT,
        kube::runtime::wait::await_condition(api.clone(), name, cond),
    )
    .await
    .unwrap_or_else(|_| panic!("{name} did not reach the condition within {WAIT:?}"))
    .expect("watch for the condition");
}

/// Creates ServiceAccount `name` in `ns` and returns a bound token for it.
pub async fn service_account_token(admin: &Client, ns: &str, name: &str) -> String {
    use k8s_openapi::api::core::v1::ServiceAccount;
    let sas: kube::Api<ServiceAccount> = kube::Api::namespaced(admin.clone(), ns);
    let sa = serde_json::from_value(serde_json::json!({"metadata": {"name": name}}))
        .expect("valid ServiceAccount");
    sas.create(&Default::default(), &sa)
        .await
        .expect("ServiceAccount created");
    let tr = serde_json::from_value(serde_json::json!({"spec": {}})).expect("valid TokenRequest");
    sas.create_token_request(name, &Default::default(), &tr)
        .await
        .expect("token issued")
        .status
        .expect("token in status")
        .token
}

/// Asserts that the next event of a watch is 410 Expired for `rv`.
pub async fn expect_expired<K: std::fmt::Debug>(
    stream: &mut (impl futures::Stream<Item = kube::Result<kube::api::WatchEvent<K>>> + Unpin),
    rv: &str,
) {
    use futures::TryStreamExt;
    match tokio::time::timeout(WAIT, stream.try_next())
        .await
        .expect("an event")
        .expect("no transport error")
    {
        Some(kube::api::WatchEvent::Error(e)) => {
            assert_eq!((e.code, e.reason.as_str()), (410, "Expired"));
            assert!(
                e.message
                    .starts_with(&format!("too old resource version: {rv} (")),
                "{}",
                e.message
            );
        }
        other => panic!("expected 410 Expired, got {other:?}"),
    }
}

/// The resourceVersion a list of `api` answers with now (where a watch can start).
pub async fn list_rv<K>(api: &kube::Api<K>) -> String
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    api.list(&Default::default())
        .await
        .expect("list")
        .metadata
        .resource_version
        .expect("list has a resourceVersion")
}

/// Server-side applies each object (any kind the cluster serves), as `manager`; CRDs are
/// waited for until Established, so objects after them may be of their kinds.
pub async fn apply_all(client: &Client, manager: &str, objects: &[serde_json::Value]) {
    use kube::api::{Api, DynamicObject, Patch, PatchParams};
    for obj in objects {
        let av = obj["apiVersion"].as_str().expect("apiVersion");
        let (g, v) = av.split_once('/').unwrap_or(("", av));
        let gvk = kube::core::GroupVersionKind::gvk(g, v, obj["kind"].as_str().expect("kind"));
        let (ar, caps) = kube::discovery::pinned_kind(client, &gvk)
            .await
            .unwrap_or_else(|e| panic!("discovering {gvk:?}: {e}"));
        let name = obj["metadata"]["name"].as_str().expect("name");
        let api: Api<DynamicObject> = match (caps.scope, obj["metadata"]["namespace"].as_str()) {
            (kube::discovery::Scope::Namespaced, Some(ns)) => Api::namespaced_with(client.clone(), ns, &ar),
            (kube::discovery::Scope::Namespaced, None) => Api::default_namespaced_with(client.clone(), &ar),
            (kube::discovery::Scope::Cluster, _) => Api::all_with(client.clone(), &ar),
        };
        api.patch(name, &PatchParams::apply(manager).force(), &Patch::Apply(obj))
            .await
            .unwrap_or_else(|e| panic!("applying {} {name}: {e}", gvk.kind));
        if gvk.kind == "CustomResourceDefinition" {
            let crds: Api<
                k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
            > = Api::all(client.clone());
            settle(&crds, name, kube::runtime::wait::conditions::is_crd_established()).await;
        }
    }
}

/// Polls `check` until it gives a value, failing after 30 s with the last state it saw.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match check().await {
            Ok(v) => return v,
            Err(last) if tokio::time::Instant::now() >= deadline => {
                panic!("{what} did not happen within 30s; last: {last}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// GET over plain HTTP/1.1 and parse the JSON body.
pub async fn http_get_json(url: &str) -> serde_json::Value {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').unwrap();
    let mut tcp = tokio::net::TcpStream::connect(host).await.unwrap();
    tcp.write_all(format!("GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut buf = Vec::new();
    tcp.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let json = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        // one chunk: size line, data, terminator
        body.split("\r\n").nth(1).unwrap_or("").to_string()
    } else {
        body.to_string()
    };
    serde_json::from_str(&json).unwrap()
}
