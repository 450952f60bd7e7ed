//! Helpers of the Argo CD stand-in's tests: git repositories, waiting for Applications.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use base64::Engine as _;
use hubspoke_sim::SimCluster;
use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::{Api, DynamicObject, PostParams};
use serde_json::{Value, json};

/// Runs git in `dir` (as a test user, `main` as the default branch); its trimmed stdout.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args([
            "-c",
            "user.name=test",
            "-c",
            "user.email=test@example.com",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Writes `content` to `path` under `dir`, creating directories.
pub fn write(dir: &Path, path: &str, content: &str) {
    let p = dir.join(path);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, content).unwrap();
}

/// Polls the Application until `cond` holds; fails after 20 s with its last status.
pub async fn wait_app(
    apps: &Api<DynamicObject>,
    name: &str,
    what: &str,
    cond: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let app = serde_json::to_value(apps.get(name).await.unwrap()).unwrap();
        if cond(&app) {
            return app;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name}: {what} not reached; last status: {:#}",
            app["status"]
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Polls `check` every 50 ms until it holds; fails with `what` after 20 s.
pub async fn eventually<F, Fut>(what: &str, check: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Synced and Healthy.
pub fn synced_healthy(app: &Value) -> bool {
    app.pointer("/status/sync/status") == Some(&json!("Synced"))
        && app.pointer("/status/health/status") == Some(&json!("Healthy"))
}

/// Registers `cluster` with the hub's Argo CD as `name` (Secret `cluster-<name>`), through a
/// cluster-admin ServiceAccount token, as `argocd cluster add` does.
pub async fn register(hub: &Client, spoke: &Client, cluster: &SimCluster, name: &str) {
    let token = super::service_account_token(spoke, "kube-system", "argocd-manager").await;
    let crb: k8s_openapi::api::rbac::v1::ClusterRoleBinding = serde_json::from_value(json!({
        "metadata": {"name": "argocd-manager"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"kind": "ServiceAccount", "name": "argocd-manager", "namespace": "kube-system"}],
    }))
    .unwrap();
    Api::<k8s_openapi::api::rbac::v1::ClusterRoleBinding>::all(spoke.clone())
        .create(&PostParams::default(), &crb)
        .await
        .unwrap();
    let config = json!({"bearerToken": token, "tlsClientConfig": {
        "insecure": false, "caData": base64::engine::general_purpose::STANDARD.encode(cluster.ca_pem()),
    }});
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": format!("cluster-{name}"), "namespace": "argocd",
            "labels": {"argocd.argoproj.io/secret-type": "cluster"}},
        "stringData": {"name": name, "server": cluster.url(), "config": config.to_string()},
    }))
    .unwrap();
    Api::<Secret>::namespaced(hub.clone(), "argocd")
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
}
