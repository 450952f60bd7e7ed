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

/// Waits (90 s at most) until the hub's Applications are exactly `want` (sorted), each
/// Synced and Healthy; returns them, or fails with what was last seen.
async fn converged(env: &hubspoke::environment::Environment, want: &[&'static str]) -> Vec<DynamicObject> {
    let want = want.to_vec();
    let apps = hubspoke::bootstrap::applications(&env.hub.client);
    hubspoke::kube_util::wait_all(
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
    .unwrap_or_else(|e| panic!("{e}"))
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

    const WANT: [&str; 6] = [
        "bootstrap",
        "system-kyverno-policies-spoke-a",
        "system-kyverno-spoke-a",
        "tenant-echo-spoke-a",
        "tenant-podinfo-spoke-a",
        "tenant-podinfo-spoke-b",
    ];
    let converged = converged(&env, &WANT).await;
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

/// A chart written here: a ConfigMap named after the release with the chart's name and
/// version and the `message` value.
fn banner_chart(name: &str, version: &str) -> Vec<u8> {
    let files = vec![
        (
            "Chart.yaml".to_string(),
            format!("apiVersion: v2\nname: {name}\nversion: {version}\n").into_bytes(),
        ),
        ("values.yaml".to_string(), b"message: unset\n".to_vec()),
        (
            "templates/configmap.yaml".to_string(),
            b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  chart: {{ .Chart.Name }}-{{ .Chart.Version }}\n  message: {{ .Values.message | quote }}\n".to_vec(),
        ),
    ];
    hubspoke_render::source::archive::write_archive(name, &files).unwrap()
}

/// A chart repository on loopback serving `banner` at `versions` under `/charts`.
async fn banner_repository(versions: &[&str]) -> hubspoke_render::testing::StaticServer {
    use hubspoke_render::testing::{StaticServer, repository_files};
    let packages: Vec<(&str, &str, Vec<u8>)> = versions
        .iter()
        .map(|v| ("banner", *v, banner_chart("banner", v)))
        .collect();
    StaticServer::start(|_| repository_files("/charts", &packages), None, None).await
}

/// A catalog entry (helm-addons/<name>.yaml) for chart `name` from `repo` on the clusters
/// that enable Kyverno.
fn catalog_entry(name: &str, repo: &str, version: &str) -> String {
    format!(
        "## written by the test: a chart from a repository on loopback\nname: {name}\nfeature: kyverno\nnamespace: {name}\nrepo_url: {repo}\nchart: {name}\nversion: \"{version}\"\n"
    )
}

/// The test platform (fixtures/platform, written for these tests) converges on sim: the
/// bootstrap overlay with its patches, the catalog's matrix with a templated selector,
/// multi-source Helm addons whose value files come from a `ref` source (charts from this
/// repository, from a chart repository and from an OCI registry, both on loopback), charts
/// running cert-manager's and Argo CD's images (the hub's Argo CD managing itself, with a
/// Lua health check of its own), tenant workloads with kustomize options in a restricted
/// project.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_test_platform_converges_on_sim() {
    use hubspoke_render::testing::{Registry, registry_binary};
    use k8s_openapi::api::core::v1::Namespace;
    // the platform's catalog of charts from repositories gains two entries, from a chart
    // repository and an OCI registry started here
    let charts = banner_repository(&["1.0.0", "1.1.0", "2.0.0"]).await;
    // (without Debian's docker-registry, and unless CI requires it, the OCI entry is left out)
    let registry = match registry_binary() {
        Some(bin) => Some(Registry::start(&bin, "").await),
        None => None,
    };
    let plain = hubspoke_render::source::FetchOptions {
        plain_http: true,
        ..Default::default()
    };
    if let Some(r) = &registry {
        hubspoke_render::source::oci::push(&banner_chart("ledger", "0.3.0"), &r.url("/charts"), &plain, None)
            .await
            .unwrap();
    }
    let charts_url = charts.url("/charts");
    let registry_repo = registry.as_ref().map(|r| format!("{}/charts", r.addr));
    let repo = platform_copy(|p| {
        let entry = catalog_entry;
        std::fs::write(
            p.join("helm-addons/banner.yaml"),
            entry("banner", &charts_url, "^1.0"),
        )
        .unwrap();
        if let Some(r) = &registry_repo {
            std::fs::write(p.join("helm-addons/ledger.yaml"), entry("ledger", r, "0.3.0")).unwrap();
        }
        std::fs::create_dir_all(p.join("config/banner")).unwrap();
        std::fs::write(
            p.join("config/banner/all.yaml"),
            "message: from the tenant repository\n",
        )
        .unwrap();
    });
    let dir = tempfile::tempdir().unwrap();
    let mut opts = UpOptions::new(ProviderKind::Sim, repo.path());
    opts.state_dir = dir.path().join("sim");
    opts.release = repo.path().join("fixtures/platform");
    let env = up(&opts, &Progress::plain())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // the registry speaks plain HTTP: Argo CD reads it so when its repository Secret says so
    if let Some(url) = &registry_repo {
        Api::<k8s_openapi::api::core::v1::Secret>::namespaced(env.hub.client.clone(), "argocd")
            .create(
                &Default::default(),
                &serde_json::from_value(serde_json::json!({
                    "metadata": {"name": "repo-ledger", "labels": {"argocd.argoproj.io/secret-type": "repository"}},
                    "stringData": {"url": url, "type": "helm", "enableOCI": "true", "insecureOCIForceHttp": "true"},
                }))
                .unwrap(),
            )
            .await
            .unwrap();
    }

    let mut want = vec![
        "bootstrap",
        "platform",
        "registration-hub",
        "registration-spoke-a",
        "registration-spoke-b",
        "system-argocd-hub",
        "system-banner-spoke-a",
        "system-cert-manager-spoke-a",
        "system-cert-manager-spoke-b",
        "system-kyverno-spoke-a",
        "tenant-web-spoke-a",
        "tenant-web-spoke-b",
    ];
    if registry.is_some() {
        want.push("system-ledger-spoke-a");
        want.sort();
    }
    let converged = converged(&env, &want).await;
    let apps = hubspoke::bootstrap::applications(&env.hub.client);
    let app = |name: &str| {
        converged
            .iter()
            .find(|a| a.metadata.name.as_deref() == Some(name))
            .unwrap()
            .clone()
    };

    // the overlay's JSON 6902 patch labelled the platform Application; its strategic merge
    // patch described the tenants' project
    let platform = app("platform");
    assert_eq!(
        platform.metadata.labels.clone().unwrap()["platform.test/overlay"],
        "release"
    );
    // the bootstrap Application set the hub's definition and the revision under test as
    // the installer does, and the platform's sources (three, each at that revision) pass
    // it on to the registration and the catalog's generators
    let revision = env.revision.clone().unwrap().revision;
    let sources = platform.data["spec"]["sources"].as_array().unwrap();
    assert_eq!(sources.len(), 3, "{:#}", platform.data["spec"]);
    assert!(
        sources.iter().all(|s| s["targetRevision"] == revision.as_str()),
        "{sources:#?}"
    );
    let sets = Api::<DynamicObject>::namespaced_with(
        env.hub.client.clone(),
        "argocd",
        &kube::core::ApiResource {
            group: "argoproj.io".into(),
            version: "v1alpha1".into(),
            api_version: "argoproj.io/v1alpha1".into(),
            kind: "ApplicationSet".into(),
            plural: "applicationsets".into(),
        },
    );
    let registration = sets.get("system-registration").await.unwrap();
    assert_eq!(
        registration.data["spec"]["generators"][0]["git"]["values"]["override_platform"],
        revision.as_str()
    );
    let addons = sets.get("system-addons").await.unwrap();
    assert_eq!(
        addons.data["spec"]["generators"][0]["matrix"]["generators"][0]["git"]["revision"],
        revision.as_str()
    );
    let system = app("system-cert-manager-spoke-a");
    let labels = system.metadata.labels.clone().unwrap();
    assert_eq!(labels["platform.test/catalog"], "platform");

    // the platform's registration chart manages the cluster Secrets hubspoke wrote: its
    // labels and annotations (the revision under test, from the overrides), the
    // credentials left as they were (the spokes' Applications above synced with them)
    let secret = Api::<k8s_openapi::api::core::v1::Secret>::namespaced(env.hub.client.clone(), "argocd")
        .get("cluster-spoke-a")
        .await
        .unwrap();
    let annotations = secret.metadata.annotations.clone().unwrap();
    assert_eq!(
        annotations["argocd.argoproj.io/tracking-id"],
        "registration-spoke-a:/Secret:argocd/cluster-spoke-a"
    );
    assert_eq!(annotations["platform_revision"], revision);
    let data = secret.data.clone().unwrap();
    let config: serde_json::Value = serde_json::from_slice(&data["config"].0).unwrap();
    assert!(
        config["bearerToken"].as_str().is_some_and(|t| !t.is_empty()),
        "{config:#}"
    );
    assert_eq!(secret.metadata.labels.clone().unwrap()["enable_kyverno"], "true");
    let tenants = Api::<hubspoke::argocd::AppProject>::namespaced(env.hub.client.clone(), "argocd")
        .get("tenants")
        .await
        .unwrap();
    assert_eq!(
        serde_json::to_value(&tenants).unwrap()["spec"]["description"],
        "tenant workloads (release overlay)"
    );
    // two sources: the chart, then the ref source of its value files
    assert_eq!(
        system.data["spec"]["sources"][1]["ref"], "values",
        "{:#}",
        system.data["spec"]
    );

    let spoke_a = &env.cluster("spoke-a").unwrap().client;
    let spoke_b = &env.cluster("spoke-b").unwrap().client;
    // value files: spoke-a's own names its certificate; spoke-b has none (ignored when
    // missing) and gets the chart's default from valuesObject's cluster name
    let certificates = |c: &kube::Client| {
        Api::<DynamicObject>::namespaced_with(
            c.clone(),
            "cert-manager",
            &kube::core::ApiResource {
                group: "cert-manager.io".into(),
                version: "v1".into(),
                api_version: "cert-manager.io/v1".into(),
                kind: "Certificate".into(),
                plural: "certificates".into(),
            },
        )
    };
    let on_a = certificates(spoke_a).get("cluster").await.unwrap();
    assert_eq!(on_a.data["spec"]["commonName"], "spoke-a.platform.test");
    let on_b = certificates(spoke_b).get("cluster").await.unwrap();
    assert_eq!(on_b.data["spec"]["commonName"], "spoke-b.platform.test");
    // issued by the cert-manager image's stand-in, through the CA issuer
    let ready = |c: &DynamicObject| {
        c.data["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    };
    assert!(ready(&on_a), "{:#}", on_a.data["status"]);
    // the namespace Argo CD created carries the managed metadata
    let ns = Api::<Namespace>::all(spoke_a.clone())
        .get("cert-manager")
        .await
        .unwrap();
    assert_eq!(
        ns.metadata.labels.unwrap()["platform.test/feature"],
        "cert-manager"
    );
    // no cert-manager where the label is off
    assert!(!want_contains(&converged, "system-cert-manager-hub"));

    // a chart from its repository (offline: hubspoke's rendition of it), whose admission
    // controller image runs Kyverno: its webhook registered on the spoke
    // (multi-source: one revision per source)
    let kyverno = app("system-kyverno-spoke-a");
    assert_eq!(
        kyverno.data.pointer("/status/sync/revisions/0"),
        Some(&serde_json::json!("3.5.2")),
        "{:#}",
        kyverno.data["status"]["sync"]
    );
    assert!(
        env.notices()
            .iter()
            .any(|n| n.starts_with("chart kyverno 3.5.2 from https://kyverno.github.io/kyverno/")),
        "{:?}",
        env.notices()
    );
    let webhooks: Api<k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration> =
        Api::all(spoke_a.clone());
    hubspoke::kube_util::wait_all(webhooks, Duration::from_secs(20), "Kyverno's webhook", |w| {
        w.iter()
            .any(|w| w.metadata.name.as_deref() == Some("kyverno-resource-validating-webhook-cfg"))
            .then_some(())
            .ok_or("not registered".to_string())
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));

    // charts from the loopback chart repository (the constraint resolved to the newest 1.x)
    // and the OCI registry, with their value files from the tenant repository
    let from_repositories = [
        ("banner", "1.1.0", "banner-1.1.0", "from the tenant repository"),
        ("ledger", "0.3.0", "ledger-0.3.0", "unset"),
    ];
    for (name, revision, chart, message) in &from_repositories[..if registry.is_some() { 2 } else { 1 }] {
        let a = app(&format!("system-{name}-spoke-a"));
        assert_eq!(
            a.data.pointer("/status/sync/revisions/0"),
            Some(&serde_json::json!(*revision)),
            "{:#}",
            a.data["status"]["sync"]
        );
        let cm = Api::<k8s_openapi::api::core::v1::ConfigMap>::namespaced(spoke_a.clone(), name)
            .get(name)
            .await
            .unwrap()
            .data
            .unwrap();
        assert_eq!((cm["chart"].as_str(), cm["message"].as_str()), (*chart, *message));
    }
    assert!(
        !env.notices()
            .iter()
            .any(|n| n.contains("banner") || n.contains("ledger")),
        "{:?}",
        env.notices()
    );
    drop((charts, registry));

    // a credential rotated in the cluster stays rotated, and its Application Synced
    // (ignoreDifferences on the Secret's token, respected in syncs)
    let secrets = Api::<k8s_openapi::api::core::v1::Secret>::namespaced(spoke_a.clone(), "cert-manager");
    secrets
        .patch(
            "rotated-credentials",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(serde_json::json!({"stringData": {"token": "rotated"}})),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let token = secrets.get("rotated-credentials").await.unwrap().data.unwrap()["token"]
        .0
        .clone();
    assert_eq!(token, b"rotated");
    let system = Api::<DynamicObject>::namespaced_with(
        env.hub.client.clone(),
        "argocd",
        &kube::core::ApiResource::from_gvk_with_plural(
            &kube::core::GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Application"),
            "applications",
        ),
    )
    .get("system-cert-manager-spoke-a")
    .await
    .unwrap();
    assert_eq!(status(&system, "/status/sync/status"), "Synced");

    // tenant workloads: the file's prefix and image, the cluster's label
    let web = Api::<Deployment>::namespaced(spoke_a.clone(), "web")
        .get("a-web")
        .await
        .unwrap();
    assert_eq!(
        web.metadata.labels.as_ref().unwrap()["platform.test/cluster"],
        "spoke-a"
    );
    assert_eq!(
        web.spec.unwrap().template.spec.unwrap().containers[0]
            .image
            .as_deref(),
        Some("ghcr.io/example/web:1.4.2")
    );

    // the hub's Argo CD manages itself: its argocd-cm is the platform's, whose Lua check
    // now judges Certificates
    let message = hubspoke::kube_util::wait_all(
        apps,
        Duration::from_secs(30),
        "the platform's Lua health check",
        |apps| {
            let a = apps
                .iter()
                .find(|a| a.metadata.name.as_deref() == Some("system-cert-manager-spoke-b"))
                .ok_or("no system-cert-manager-spoke-b")?;
            let cert = a.data["status"]["resources"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|r| r["kind"] == "Certificate" && r["name"] == "cluster")
                .cloned()
                .unwrap_or_default();
            match cert["health"]["message"].as_str() {
                Some("issued, as the platform checks it") => Ok(()),
                other => Err(format!("the Certificate's health message is {other:?}")),
            }
        },
    )
    .await;
    message.unwrap_or_else(|e| panic!("{e}"));
}

fn want_contains(apps: &[DynamicObject], name: &str) -> bool {
    apps.iter().any(|a| a.metadata.name.as_deref() == Some(name))
}

/// A copy of the test platform in a git repository of its own (at `fixtures/platform`, as
/// in this one), changed by `change` and committed on `main`: the revision under test of a
/// variant.
fn platform_copy(change: impl FnOnce(&Path)) -> tempfile::TempDir {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let p = e.unwrap().path();
            let dest = to.join(p.file_name().unwrap());
            if p.is_dir() {
                copy(&p, &dest);
            } else {
                std::fs::copy(&p, &dest).unwrap();
            }
        }
    }
    let repo = tempfile::tempdir().unwrap();
    let platform = repo.path().join("fixtures/platform");
    copy(&repo_root().join("fixtures/platform"), &platform);
    // what hubspoke deploys to check each registration
    copy(
        &repo_root().join("fixtures/probe"),
        &repo.path().join("fixtures/probe"),
    );
    change(&platform);
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .current_dir(repo.path())
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
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    git(&["init", "-q"]);
    git(&["add", "."]);
    git(&["commit", "-qm", "a variant of the test platform"]);
    repo
}

/// The string at `pointer` of the object [`argo_object`] waits for.
async fn argo_says(repo: &Path, plural: &str, name: &str, pointer: &str) -> String {
    let o = argo_object(repo, plural, name, pointer).await;
    o.pointer(pointer)
        .and_then(|m| m.as_str())
        .unwrap_or_default()
        .to_string()
}

/// Brings the variant up on sim and waits until the hub's Argo CD object (`plural`:
/// applications or applicationsets) has a string at `pointer`; returns the object.
async fn argo_object(repo: &Path, plural: &str, name: &str, pointer: &str) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = UpOptions::new(ProviderKind::Sim, repo);
    opts.state_dir = dir.path().join("sim");
    opts.release = repo.join("fixtures/platform");
    let env = up(&opts, &Progress::plain())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let ar = kube::core::ApiResource {
        group: "argoproj.io".into(),
        version: "v1alpha1".into(),
        api_version: "argoproj.io/v1alpha1".into(),
        kind: if plural == "applications" {
            "Application"
        } else {
            "ApplicationSet"
        }
        .into(),
        plural: plural.into(),
    };
    let api: Api<DynamicObject> = Api::namespaced_with(env.hub.client.clone(), "argocd", &ar);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let o = api.get_opt(name).await.unwrap();
        if let Some(o) = &o
            && o.data.pointer(pointer).is_some_and(|m| m.is_string())
        {
            return o.data.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{plural}/{name}: nothing at {pointer} within 30 s; status: {:#}",
            o.map(|o| o.data["status"].clone()).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chart_value_that_went_missing_is_helms_error_in_a_comparison_error() {
    let repo = platform_copy(|p| std::fs::remove_file(p.join("config/cert-manager/all.yaml")).unwrap());
    let msg = argo_says(
        repo.path(),
        "applications",
        "system-cert-manager-spoke-a",
        "/status/conditions/0/message",
    )
    .await;
    println!("{msg}");
    assert!(msg.starts_with("Failed to load target state: failed to generate manifest for source 1 of 2: rpc error: code = Unknown desc = "), "{msg}");
    assert!(
        msg.ends_with("execution error at (cert-manager/templates/issuers.yaml:13:11): issuer.name is set in config/cert-manager/all.yaml"),
        "{msg}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_resource_the_project_denies_fails_the_sync_with_argo_cds_message() {
    let repo = platform_copy(|p| {
        std::fs::write(
            p.join("workloads/web/base/quota.yaml"),
            "apiVersion: v1\nkind: ResourceQuota\nmetadata:\n  name: web\nspec:\n  hard:\n    pods: \"10\"\n",
        )
        .unwrap();
        let k = p.join("workloads/web/base/kustomization.yaml");
        let text = std::fs::read_to_string(&k).unwrap();
        std::fs::write(
            &k,
            text.replace("  - service.yaml\n", "  - service.yaml\n  - quota.yaml\n"),
        )
        .unwrap();
    });
    let app = argo_object(
        repo.path(),
        "applications",
        "tenant-web-spoke-a",
        "/status/operationState/message",
    )
    .await;
    let op = &app["status"]["operationState"];
    assert!(
        op["message"]
            .as_str()
            .unwrap()
            .starts_with("one or more synchronization tasks are not valid"),
        "{op:#}"
    );
    let quota = op["syncResult"]["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["kind"] == "ResourceQuota")
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        quota["message"],
        "resource :ResourceQuota is not permitted in project tenants"
    );
    assert_eq!(quota["status"], "SyncFailed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overlay_patch_without_its_target_fails_the_bootstrap_with_kustomizes_error() {
    let repo = platform_copy(|p| {
        let k = p.join("kustomize/overlays/release/kustomization.yaml");
        let text = std::fs::read_to_string(&k).unwrap();
        std::fs::write(&k, text.replace("name: tenants", "name: tenant")).unwrap();
    });
    let msg = argo_says(
        repo.path(),
        "applications",
        "bootstrap",
        "/status/conditions/0/message",
    )
    .await;
    println!("{msg}");
    assert!(msg.starts_with("Failed to load target state: failed to generate manifest for source 1 of 1: rpc error: code = Unknown desc = "), "{msg}");
    assert!(
        msg.ends_with("`kustomize build fixtures/platform/kustomize/overlays/release` failed exit status 1: Error: no resource matches strategic merge patch \"AppProject.v1alpha1.argoproj.io/tenant.argocd\": no matches for Id AppProject.v1alpha1.argoproj.io/tenant.argocd; failed to find unique target for patch AppProject.v1alpha1.argoproj.io/tenant.argocd"),
        "{msg}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catalog_entry_without_its_feature_is_the_application_sets_error() {
    let repo = platform_copy(|p| {
        let f = p.join("addons/cert-manager.yaml");
        let text = std::fs::read_to_string(&f).unwrap();
        std::fs::write(&f, text.replace("feature: cert_manager\n", "")).unwrap();
    });
    let msg = argo_says(
        repo.path(),
        "applicationsets",
        "system-addons",
        "/status/conditions/0/message",
    )
    .await;
    println!("{msg}");
    assert_eq!(
        msg,
        "failed to get params for second generator in the matrix generator: child generator returned an error on parameter generation: failed to replace parameters in generator: failed to execute go template enable_{{ .feature }}: template: :1:10: executing \"\" at <.feature>: map has no entry for key \"feature\""
    );
}

/// A catalog entry whose version range the chart repository cannot satisfy: Argo CD's
/// resolution error (`versions.MaxVersion` over the index's entries).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chart_version_the_repository_lacks_is_argo_cds_error() {
    let charts = banner_repository(&["1.0.0", "1.1.0"]).await;
    let url = charts.url("/charts");
    let repo = platform_copy(|p| {
        std::fs::write(
            p.join("helm-addons/banner.yaml"),
            catalog_entry("banner", &url, "^3.0"),
        )
        .unwrap()
    });
    let msg = argo_says(
        repo.path(),
        "applications",
        "system-banner-spoke-a",
        "/status/conditions/0/message",
    )
    .await;
    assert_eq!(
        msg,
        "Failed to load target state: failed to generate manifest for source 1 of 2: rpc error: code = Unknown desc = invalid revision: version matching constraint not found in 2 tags"
    );
}
