//! Registration end to end on sim: `up` builds hub + spokes in this process, installs the
//! Argo CD stand-in, registers the spokes and checks them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine;
use hubspoke::bootstrap::{self, BootstrapOptions};
use hubspoke::environment::{Environment, ProviderKind};
use hubspoke::progress::Progress;
use hubspoke::providers::sim::SimProvider;
use hubspoke::up::{UpOptions, up};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::Api;
use serde_json::Value;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

async fn up_sim(state: &Path) -> (Environment, UpOptions) {
    let mut opts = UpOptions::new(ProviderKind::Sim, &repo_root());
    opts.state_dir = state.join("sim");
    let env = up(&opts, &Progress::plain())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    (env, opts)
}

fn bootstrap_options(env: &Environment, opts: &UpOptions) -> BootstrapOptions {
    BootstrapOptions {
        revision: env.revision.clone().unwrap(),
        probe_path: opts.probe_path.clone(),
        timeout: opts.timeout,
        bootstrap_application: false,
        repository_credentials: None,
    }
}

fn strings(m: &Option<BTreeMap<String, String>>) -> BTreeMap<&str, &str> {
    m.iter()
        .flatten()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spokes_are_registered_as_the_platform_chart_registers_them() {
    let dir = tempfile::tempdir().unwrap();
    let (env, _) = up_sim(dir.path()).await;
    let revision = env.revision.clone().unwrap();
    assert_eq!(revision.repository, "https://github.com/hubspoke/hubspoke.git");

    let secrets: Api<Secret> = Api::namespaced(env.hub.client.clone(), "argocd");
    let spoke = env.cluster("spoke-a").unwrap();
    let s = secrets.get("cluster-spoke-a").await.unwrap();
    assert_eq!(s.type_.as_deref(), Some("Opaque"));
    assert_eq!(
        strings(&s.metadata.labels),
        BTreeMap::from([
            ("app.kubernetes.io/managed-by", "argocd"),
            ("argocd.argoproj.io/secret-type", "cluster"),
            ("cloud_vendor", "kind"),
            ("cluster_name", "spoke-a"),
            ("cluster_type", "spoke"),
            ("enable_core", "true"),
            ("enable_kyverno", "true"),
            ("enable_tenant_workloads", "true"),
            ("environment", "release"),
        ])
    );
    assert_eq!(
        strings(&s.metadata.annotations),
        BTreeMap::from([
            ("app.kubernetes.io/managed-by", "argocd"),
            ("cloud_vendor", "kind"),
            ("platform.local/tenant", "platform"),
            ("platform_path", "release/bootstrap"),
            ("platform_repository", "https://github.com/hubspoke/hubspoke.git"),
            // the revision under test overrides the definition's (main), as the chart's
            // revision_overrides do
            ("platform_revision", revision.revision.as_str()),
            ("tenant", "platform"),
            ("tenant_path", "release/hub-kind"),
            ("tenant_repository", "https://github.com/hubspoke/hubspoke.git"),
            ("tenant_revision", revision.revision.as_str()),
        ])
    );
    let data = s.data.clone().unwrap();
    let field = |k: &str| String::from_utf8(data[k].0.clone()).unwrap();
    assert_eq!(data.keys().collect::<Vec<_>>(), ["config", "name", "server"]);
    assert_eq!(field("name"), "spoke-a");
    assert_eq!(field("server"), spoke.server_from_hub);
    assert!(field("server").starts_with("https://127.0.0.1:"));
    let config: Value = serde_json::from_str(&field("config")).unwrap();
    // the token is the spoke's argocd-manager long-lived token
    let token_secret: Secret = Api::namespaced(spoke.client.clone(), "kube-system")
        .get("argocd-manager-long-lived-token")
        .await
        .unwrap();
    let token = String::from_utf8(token_secret.data.unwrap()["token"].0.clone()).unwrap();
    assert_eq!(config["bearerToken"], token.as_str());
    assert_eq!(config["tlsClientConfig"]["insecure"], false);
    let ca = base64::engine::general_purpose::STANDARD
        .decode(config["tlsClientConfig"]["caData"].as_str().unwrap())
        .unwrap();
    assert_eq!(Some(String::from_utf8(ca).unwrap()), spoke.ca_pem);
    // keys sorted, as helm's toJson writes them
    assert!(
        field("config").starts_with(r#"{"bearerToken":"#),
        "{}",
        field("config")
    );

    // the hub registers itself in-cluster, with enable_argocd
    let hub = secrets.get("cluster-hub").await.unwrap();
    let labels = strings(&hub.metadata.labels);
    assert_eq!(labels["enable_argocd"], "true");
    assert_eq!(labels["cluster_type"], "hub");
    let hub_data = hub.data.unwrap();
    assert_eq!(hub_data["server"].0, b"https://kubernetes.default.svc");
    assert!(!hub_data.contains_key("config"));
    // spoke-b carries its own feature switches
    let b = secrets.get("cluster-spoke-b").await.unwrap();
    assert_eq!(strings(&b.metadata.labels)["enable_kyverno"], "false");

    // a second client built only from that Secret reaches the spoke, as Argo CD would
    let from_secret = bootstrap::client_from_cluster_secret(&s, None).await.unwrap();
    let names: Vec<String> = Api::<Namespace>::all(from_secret)
        .list(&Default::default())
        .await
        .unwrap()
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .collect();
    assert!(names.contains(&"kube-system".to_string()), "{names:?}");
    // the probe Application was deleted and its finalizer pruned what it deployed
    assert!(!names.contains(&"hubspoke-probe".to_string()), "{names:?}");

    // the bootstrap Application targets the revision under test
    let apps = hubspoke::bootstrap::applications(&env.hub.client);
    let boot = apps.get("bootstrap").await.unwrap();
    assert_eq!(
        boot.data["spec"]["source"]["targetRevision"],
        revision.revision.as_str()
    );
    assert_eq!(boot.data["spec"]["source"]["path"], "release/bootstrap");
    assert!(apps.get_opt("hubspoke-probe-spoke-a").await.unwrap().is_none());

    // the state files: 0600, and enough for another process to rebuild the environment
    use std::os::unix::fs::PermissionsExt;
    for f in [
        "state.json",
        "hub.kubeconfig",
        "spoke-a.kubeconfig",
        "spoke-b.kubeconfig",
        "kubeconfig",
    ] {
        let mode = std::fs::metadata(env.state_dir.join(f))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{f}");
    }
    let state = std::fs::read_to_string(env.state_dir.join("state.json")).unwrap();
    assert!(!state.contains(&token), "state.json holds a spoke token");
    let again = Environment::load(ProviderKind::Sim, &env.state_dir)
        .await
        .unwrap();
    assert_eq!(
        again.clusters().map(|c| c.name.as_str()).collect::<Vec<_>>(),
        ["hub", "spoke-a", "spoke-b"]
    );
    assert_eq!(
        again.cluster("spoke-a").unwrap().server_from_hub,
        spoke.server_from_hub
    );
    again.hub.client.apiserver_version().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_fails_the_registration_check_naming_the_spoke() {
    let dir = tempfile::tempdir().unwrap();
    let (env, opts) = up_sim(dir.path()).await;
    let bopts = bootstrap_options(&env, &opts);
    bootstrap::check_registration(&env, &bopts).await.unwrap();

    let secret: Secret = Api::namespaced(env.hub.client.clone(), "argocd")
        .get("cluster-spoke-b")
        .await
        .unwrap();
    let config: Value = serde_json::from_slice(&secret.data.unwrap()["config"].0).unwrap();
    let token = config["bearerToken"].as_str().unwrap();
    SimProvider::cluster(&env, "spoke-b").unwrap().revoke_token(token);

    let err = bootstrap::check_registration(&env, &bopts).await.unwrap_err();
    assert_eq!(err.kind, hubspoke::ErrorKind::Check);
    assert_eq!(
        err.message,
        "registration check failed:\n  spoke spoke-b: the token in the hub's Secret argocd/cluster-spoke-b is rejected by the spoke (401 Unauthorized: revoked, or the ServiceAccount was deleted); register it again with `hubspoke up` (--reuse keeps the clusters)"
    );
    assert!(!err.message.contains(token));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spoke_the_hub_cannot_reach_fails_the_probe() {
    let dir = tempfile::tempdir().unwrap();
    let (mut env, opts) = up_sim(dir.path()).await;
    let mut bopts = bootstrap_options(&env, &opts);
    bopts.timeout = std::time::Duration::from_secs(5);
    // the hub is told a wrong address for spoke-a; the token check still goes to the
    // address this process reaches it at, so only the hub's view fails
    let secrets: Api<Secret> = Api::namespaced(env.hub.client.clone(), "argocd");
    let s = secrets.get("cluster-spoke-a").await.unwrap();
    let mut patched = serde_json::to_value(&s).unwrap();
    patched["data"]["server"] = base64::engine::general_purpose::STANDARD
        .encode("https://127.0.0.1:9")
        .into();
    patched["metadata"]["managedFields"] = Value::Null;
    secrets
        .replace(
            "cluster-spoke-a",
            &Default::default(),
            &serde_json::from_value(patched).unwrap(),
        )
        .await
        .unwrap();
    env.spokes
        .iter_mut()
        .find(|c| c.name == "spoke-a")
        .unwrap()
        .server_from_hub = "https://127.0.0.1:9".into();

    let err = bootstrap::check_registration(&env, &bopts).await.unwrap_err();
    assert!(
        err.message.starts_with(
            "registration check failed:\n  spoke spoke-a: the hub cannot deploy to it: the probe Application argocd/hubspoke-probe-spoke-a (deploying fixtures/probe to the spoke): not done after 5s; last seen: sync Unknown"
        ),
        "{}",
        err.message
    );
    assert!(!err.message.contains("spoke-b"), "{}", err.message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_spokes_are_copies_of_the_last_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = UpOptions::new(ProviderKind::Sim, &repo_root());
    opts.state_dir = dir.path().join("sim");
    opts.spokes = Some(4);
    let env = up(&opts, &Progress::plain())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        env.spokes.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        ["spoke-a", "spoke-b", "spoke-c", "spoke-d"]
    );
    let d = &env.cluster("spoke-d").unwrap().definition;
    assert_eq!(d.labels, env.cluster("spoke-b").unwrap().definition.labels);
    Api::<Secret>::namespaced(env.hub.client.clone(), "argocd")
        .get("cluster-spoke-d")
        .await
        .unwrap();

    opts.spokes = Some(1);
    opts.state_dir = dir.path().join("one");
    let env = up(&opts, &Progress::plain())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        env.spokes.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        ["spoke-a"]
    );
}
