//! The existing provider: adopt running clusters from kubeconfig contexts (here emulated
//! clusters; helm is the fake on PATH, the test plays what its chart installs).

use crate::common;

use common::{World, text};

/// One kubeconfig with a context per cluster, named as a user's would be.
fn write_kubeconfig(world: &World) -> std::path::PathBuf {
    let (mut clusters, mut users, mut contexts) = (vec![], vec![], vec![]);
    for c in &world.clusters {
        let k = c.kubeconfig();
        clusters.extend(k["clusters"].as_array().unwrap().clone());
        users.extend(k["users"].as_array().unwrap().clone());
        contexts.extend(k["contexts"].as_array().unwrap().clone());
    }
    let merged = serde_json::json!({"apiVersion": "v1", "kind": "Config", "clusters": clusters,
        "users": users, "contexts": contexts, "current-context": "sim-hub"});
    let path = world.path("kubeconfig");
    std::fs::write(&path, serde_json::to_string(&merged).unwrap()).unwrap();
    path
}

/// `hubspoke up --env existing` with this state directory and kubeconfig.
fn up_existing<'a>(state: &'a std::path::Path, kc: &'a std::path::Path) -> [&'a str; 7] {
    [
        "up",
        "--env",
        "existing",
        "--state-dir",
        state.to_str().unwrap(),
        "--kubeconfig",
        kc.to_str().unwrap(),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn existing_clusters_are_adopted_registered_and_deregistered() {
    let world = World::new(&["hub", "spoke-a", "spoke-b"]).await;
    let kc = write_kubeconfig(&world);
    let before = std::fs::read(&kc).unwrap();
    let state = world.path("state");
    let base = up_existing(&state, &kc);
    let up = [
        &base[..],
        &[
            "--hub-context",
            "sim-hub",
            "--spoke",
            "spoke-a=sim-spoke-a",
            "--spoke",
            "spoke-b=sim-spoke-b",
            "--timeout",
            "30",
        ],
    ]
    .concat();
    let out = world.hubspoke(&up, &[]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s: serde_json::Value =
        serde_json::from_slice(&std::fs::read(state.join("state.json")).unwrap()).unwrap();
    assert_eq!(s["provider"], "existing");
    // the user's kubeconfig is referenced, not copied
    assert_eq!(s["clusters"][1]["kubeconfig"], kc.to_str().unwrap());
    assert_eq!(s["clusters"][1]["context"], "sim-spoke-a");
    assert_eq!(s["clusters"][1]["server_from_hub"], world.clusters[1].url());

    let hub = world.clusters[0].client().await.unwrap();
    let secrets: kube::Api<k8s_openapi::api::core::v1::Secret> = kube::Api::namespaced(hub, "argocd");
    assert!(secrets.get_opt("cluster-spoke-a").await.unwrap().is_some());

    let out = world
        .hubspoke(
            &[
                "down",
                "--env",
                "existing",
                "--state-dir",
                state.to_str().unwrap(),
            ],
            &[],
        )
        .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    // what hubspoke registered is gone; the clusters, Argo CD and the kubeconfig stay
    assert!(secrets.get_opt("cluster-spoke-a").await.unwrap().is_none());
    assert!(secrets.get_opt("cluster-spoke-b").await.unwrap().is_none());
    let spoke = world.clusters[1].client().await.unwrap();
    let sa: kube::Api<k8s_openapi::api::core::v1::ServiceAccount> =
        kube::Api::namespaced(spoke.clone(), "kube-system");
    assert!(sa.get_opt("argocd-manager").await.unwrap().is_none());
    spoke.apiserver_version().await.unwrap();
    assert_eq!(std::fs::read(&kc).unwrap(), before);
    assert!(!state.join("state.json").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contexts_that_do_not_fit_the_definitions_are_named() {
    let world = World::new(&["hub", "spoke-a"]).await;
    let kc = write_kubeconfig(&world);
    let state = world.path("state");
    let base = up_existing(&state, &kc);
    let last = |o: &std::process::Output| text(&o.stderr).lines().last().unwrap_or_default().to_string();

    let out = world
        .hubspoke(
            &[
                &base[..],
                &["--hub-context", "sim-hub", "--spoke", "spoke-a=sim-spoke-a"],
            ]
            .concat(),
            &[],
        )
        .await;
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        last(&out),
        "error: spoke spoke-b has no context; name it with --spoke spoke-b=<context> (or under spokes: in the config file)"
    );

    let args = [
        &base[..],
        &[
            "--hub-context",
            "prod-hub",
            "--spoke",
            "spoke-a=sim-spoke-a",
            "--spoke",
            "spoke-b=sim-spoke-a",
        ],
    ]
    .concat();
    let out = world.hubspoke(&args, &[]).await;
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        last(&out),
        format!(
            "error: {}: no context \"prod-hub\" (or its cluster has no server); contexts: sim-hub, sim-spoke-a",
            std::fs::canonicalize(&kc).unwrap().display()
        )
    );

    let args = [&base[..], &["--hub-context", "sim-hub", "--spoke", "spoke-a"]].concat();
    let out = world.hubspoke(&args, &[]).await;
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        last(&out),
        "error: --spoke \"spoke-a\": expected NAME=CONTEXT, e.g. --spoke spoke-a=kind-spoke-a"
    );

    let cfg = world.path("existing.yaml");
    std::fs::write(
        &cfg,
        "hub:\n  context: sim-hub\nspokes:\n  spoke-a:\n    contxt: sim-spoke-a\n",
    )
    .unwrap();
    let out = world
        .hubspoke(
            &[
                "up",
                "--env",
                "existing",
                "--existing-config",
                cfg.to_str().unwrap(),
            ],
            &[],
        )
        .await;
    assert_eq!(out.status.code(), Some(3));
    let msg = last(&out);
    assert_eq!(
        msg,
        format!(
            "error: {}:5:5: unknown field `contxt`, expected one of context, server_from_hub; the file holds kubeconfig (optional), hub: {{context}} and spokes: {{<name>: {{context, server_from_hub}}}}",
            cfg.display()
        )
    );
}
