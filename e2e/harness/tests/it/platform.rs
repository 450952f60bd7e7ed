//! The platform content of release/hub-kind converges on sim: Kyverno and the policies on
//! the spokes that enable it, tenant workloads where their file names place them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use hubspoke::environment::ProviderKind;
use hubspoke::progress::Progress;
use hubspoke::up::{UpOptions, up};
use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;
use kube::api::DynamicObject;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn status(a: &DynamicObject, p: &str) -> String {
    a.data
        .pointer(p)
        .and_then(|v| v.as_str())
        .unwrap_or("-")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn release_hub_kind_converges_on_sim() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = UpOptions::new(ProviderKind::Sim, &repo_root());
    opts.state_dir = dir.path().join("sim");
    let env = up(&opts, &Progress::plain())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let sha = env.revision.clone().unwrap().sha.unwrap();

    let want = [
        "bootstrap",
        "system-kyverno-policies-spoke-a",
        "system-kyverno-spoke-a",
        "tenant-echo-spoke-a",
        "tenant-podinfo-spoke-a",
        "tenant-podinfo-spoke-b",
    ];
    let apps = hubspoke::bootstrap::applications(&env.hub.client);
    let converged = hubspoke::kube_util::wait_all(
        apps,
        Duration::from_secs(90),
        "the platform's Applications",
        move |apps| {
            let mut names: Vec<String> = apps
                .iter()
                .map(|a| a.metadata.name.clone().unwrap_or_default())
                .collect();
            names.sort();
            if names != want {
                return Err(format!("Applications {names:?}"));
            }
            let pending: Vec<String> = apps
                .iter()
                .filter(|a| {
                    status(a, "/status/sync/status") != "Synced"
                        || status(a, "/status/health/status") != "Healthy"
                })
                .map(|a| {
                    format!(
                        "{}: {}",
                        a.metadata.name.clone().unwrap_or_default(),
                        hubspoke::bootstrap::describe_app(&a.data)
                    )
                })
                .collect();
            if pending.is_empty() {
                Ok(())
            } else {
                Err(pending.join("; "))
            }
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    // every Application deployed the revision under test (charts aside)
    for a in &converged {
        let name = a.metadata.name.clone().unwrap();
        if name.starts_with("system-kyverno-spoke") {
            assert_eq!(status(a, "/status/sync/revision"), "3.5.2");
        } else {
            assert_eq!(status(a, "/status/sync/revision"), sha, "{name}");
        }
    }

    // the project they are in, read through the typed API: Argo CD's `default`, open to all
    let default = Api::<hubspoke::argocd::AppProject>::namespaced(env.hub.client.clone(), "argocd")
        .get("default")
        .await
        .unwrap();
    assert_eq!(default.spec.source_repos, ["*"]);
    assert_eq!(
        default.spec.destinations,
        [hubspoke::argocd::Destination {
            server: Some("*".into()),
            namespace: Some("*".into()),
            name: None
        }]
    );
    assert_eq!(default.spec.cluster_resource_whitelist.len(), 1);

    let tracking = hubspoke::argocd::Tracking::read(&env.hub.client, "argocd")
        .await
        .unwrap();
    assert_eq!(tracking.describe(), "annotation argocd.argoproj.io/tracking-id");
    let spoke_a = &env.cluster("spoke-a").unwrap().client;
    let spoke_b = &env.cluster("spoke-b").unwrap().client;
    // workloads land where their files place them, and only there
    for (client, spoke, name) in [
        (spoke_a, "spoke-a", "podinfo"),
        (spoke_a, "spoke-a", "echo"),
        (spoke_b, "spoke-b", "podinfo"),
    ] {
        let d = Api::<Deployment>::namespaced(client.clone(), name)
            .get(name)
            .await
            .unwrap();
        // Argo CD's tracking (the chart's: by annotation) names the Application that
        // deployed it
        assert_eq!(
            d.metadata.annotations.as_ref().unwrap()["argocd.argoproj.io/tracking-id"],
            format!("tenant-{name}-{spoke}:apps/Deployment:{name}/{name}")
        );
        assert_eq!(
            tracking.application_of(&d),
            Some(format!("tenant-{name}-{spoke}"))
        );
        let available = d
            .status
            .unwrap()
            .conditions
            .unwrap()
            .into_iter()
            .any(|c| c.type_ == "Available" && c.status == "True");
        assert!(available, "{spoke}: {name} is not Available");
    }
    assert!(
        Api::<Deployment>::namespaced(spoke_b.clone(), "echo")
            .get_opt("echo")
            .await
            .unwrap()
            .is_none()
    );
    // Kyverno and its policies only where enable_kyverno is "true"
    let policies = |c: &kube::Client| Api::<hubspoke::kyverno::ClusterPolicy>::all(c.clone());
    let mut names: Vec<String> = policies(spoke_a)
        .list(&Default::default())
        .await
        .unwrap()
        .into_iter()
        .filter_map(|p| p.metadata.name)
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "deny-default-namespace",
            "deny-latest-image",
            "require-resource-limits"
        ]
    );
    assert!(
        policies(spoke_b).list(&Default::default()).await.is_err(),
        "spoke-b has Kyverno's CRDs"
    );

    // the Kyverno probes: Enforce policies deny their violating probe naming policy and
    // rule, admit the compliant one; Audit admits both
    let ns: k8s_openapi::api::core::v1::Namespace = serde_saphyr::from_str(
        &std::fs::read_to_string(repo_root().join("fixtures/kyverno-probes/namespace.yaml")).unwrap(),
    )
    .unwrap();
    Api::<k8s_openapi::api::core::v1::Namespace>::all(spoke_a.clone())
        .create(&Default::default(), &ns)
        .await
        .unwrap();
    let dry = kube::api::PostParams {
        dry_run: true,
        ..Default::default()
    };
    let mut seen = 0;
    for policy in [
        "deny-default-namespace",
        "deny-latest-image",
        "require-resource-limits",
    ] {
        for probe in ["violating", "compliant"] {
            let file = repo_root().join(format!("fixtures/kyverno-probes/{policy}/{probe}.yaml"));
            let pod: k8s_openapi::api::core::v1::Pod =
                serde_saphyr::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
            let labels = pod.metadata.labels.clone().unwrap();
            assert_eq!(labels["hubspoke.io/policy"], policy);
            let ns = pod.metadata.namespace.clone().unwrap();
            let result = Api::<k8s_openapi::api::core::v1::Pod>::namespaced(spoke_a.clone(), &ns)
                .create(&dry, &pod)
                .await;
            match labels["hubspoke.io/expect"].as_str() {
                "denied" => {
                    let err = result.expect_err(&format!("{} was admitted", file.display()));
                    let msg = err.to_string();
                    assert!(msg.contains("was blocked due to the following policies"), "{msg}");
                    assert!(msg.contains(&format!("\n\n{policy}:\n  ")), "{msg}");
                }
                _ => {
                    result.unwrap_or_else(|e| panic!("{} was denied: {e}", file.display()));
                }
            }
            seen += 1;
        }
    }
    assert_eq!(seen, 6);
}
