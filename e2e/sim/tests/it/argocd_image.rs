//! Argo CD's image runs the Argo CD stand-in: a hub that installs Argo CD from a chart's
//! workloads (no stand-in installed directly) gets a working Argo CD, one program per
//! component, which stops with its pod.

use std::time::Duration;

use hubspoke_sim::standins::argocd::{Repositories, serve_repositories};
use hubspoke_sim::standins::workload::{WorkloadOptions, WorkloadStandIn};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::ApiResource;
use serde_json::{Value, json};

use crate::common;
use common::argocd::{git, synced_healthy, wait_app, write};

const IMAGE: &str = "quay.io/argoproj/argocd:v3.2.0";
const REPO: &str = "https://git.example.com/platform/argocd-image.git";

/// The chart's shape for one component: its workload running `args` of Argo CD's image.
fn workload(kind: &str, name: &str, args: &[&str], port: Option<(&str, u16)>) -> Value {
    let labels = json!({"app.kubernetes.io/name": name, "app.kubernetes.io/instance": "argocd"});
    let mut container = json!({"name": name.trim_start_matches("argocd-"), "image": IMAGE, "args": args,
        "env": [{"name": "NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}]});
    if let Some((port_name, port)) = port {
        container["ports"] = json!([{"name": port_name, "containerPort": port, "protocol": "TCP"}]);
    }
    let mut spec = json!({"replicas": 1, "selector": {"matchLabels": labels},
        "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}}});
    if kind == "StatefulSet" {
        spec["serviceName"] = json!(name);
    }
    json!({"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name, "namespace": "argocd"}, "spec": spec})
}

fn ar(kind: &str, plural: &str) -> ApiResource {
    ApiResource {
        group: "argoproj.io".into(),
        version: "v1alpha1".into(),
        api_version: "argoproj.io/v1alpha1".into(),
        kind: kind.into(),
        plural: plural.into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn argo_cds_image_runs_its_controllers_and_server_until_their_pods_go() {
    let (_c, client) = common::cluster("argocd-image").await;
    let _w = WorkloadStandIn::run(client.clone(), WorkloadOptions::default())
        .await
        .unwrap();
    // the platform repository, served by the process's git hosting
    let repo = tempfile::tempdir().unwrap();
    git(repo.path(), &["init", "-q"]);
    write(
        repo.path(),
        "apps/web/config.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-config\ndata:\n  greeting: hello\n",
    );
    git(repo.path(), &["add", "."]);
    git(repo.path(), &["commit", "-qm", "web"]);
    let mut repos = Repositories::new();
    repos.add(REPO, repo.path());
    serve_repositories(&repos);

    // what the argo-cd chart installs: CRDs, the namespace and the components' workloads
    common::apply_all(&client, "helm", &hubspoke_sim::standins::argocd::crd_manifests()).await;
    common::apply_all(
        &client,
        "helm",
        &[
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "argocd"}}),
            workload(
                "Deployment",
                "argocd-server",
                &[
                    "/usr/local/bin/argocd-server",
                    "--port=8080",
                    "--metrics-port=8083",
                ],
                Some(("server", 8080)),
            ),
            workload(
                "StatefulSet",
                "argocd-application-controller",
                &[
                    "/usr/local/bin/argocd-application-controller",
                    "--metrics-port=8082",
                ],
                None,
            ),
            workload(
                "Deployment",
                "argocd-applicationset-controller",
                &[
                    "/usr/local/bin/argocd-applicationset-controller",
                    "--metrics-addr=:8080",
                ],
                None,
            ),
            // simulated: the sim's controller does the repo server's work in-process
            workload(
                "Deployment",
                "argocd-repo-server",
                &["/usr/local/bin/argocd-repo-server", "--port=8081"],
                None,
            ),
        ],
    )
    .await;

    // the server creates the default project, as argocd-server does at start
    let projects: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), "argocd", &ar("AppProject", "appprojects"));
    common::eventually("the default AppProject", || async {
        projects
            .get_opt("default")
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| "not created".to_string())
    })
    .await;

    // the ApplicationSet controller renders the Application, the application controller syncs it
    let sets: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), "argocd", &ar("ApplicationSet", "applicationsets"));
    let set: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
        "metadata": {"name": "apps", "namespace": "argocd"},
        "spec": {
            "goTemplate": true,
            "generators": [{"list": {"elements": [{"app": "web"}]}}],
            "template": {
                "metadata": {"name": "{{ .app }}"},
                "spec": {
                    "project": "default",
                    "source": {"repoURL": REPO, "targetRevision": "main", "path": "apps/{{ .app }}"},
                    "destination": {"server": "https://kubernetes.default.svc", "namespace": "{{ .app }}"},
                    "syncPolicy": {"automated": {}, "syncOptions": ["CreateNamespace=true"]},
                },
            },
        },
    }))
    .unwrap();
    sets.create(&Default::default(), &set).await.unwrap();
    let apps: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), "argocd", &ar("Application", "applications"));
    common::eventually("the ApplicationSet's Application", || async {
        apps.get_opt("web")
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| "not generated".to_string())
    })
    .await;
    wait_app(&apps, "web", "Synced and Healthy", synced_healthy).await;
    let cm = Api::<ConfigMap>::namespaced(client.clone(), "web")
        .get("web-config")
        .await
        .unwrap();
    assert_eq!(cm.data.unwrap()["greeting"], "hello");

    // each component runs in its own pod, on the pod's address; the server answers there
    let pods: Api<Pod> = Api::namespaced(client.clone(), "argocd");
    let server = pods
        .list(&ListParams::default().labels("app.kubernetes.io/name=argocd-server"))
        .await
        .unwrap()
        .items
        .remove(0);
    let ip = server.status.unwrap().pod_ip.unwrap();
    assert!(ip.starts_with("127."), "{ip}");
    let clusters = common::http_get_json(&format!("http://{ip}:8080/api/v1/clusters")).await;
    assert!(
        clusters["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["server"] == "https://kubernetes.default.svc"),
        "{clusters}"
    );

    // the application controller stops with its pod: a new Application gets no status
    Api::<StatefulSet>::namespaced(client.clone(), "argocd")
        .patch(
            "argocd-application-controller",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 0}})),
        )
        .await
        .unwrap();
    common::eventually("the controller's pod to go", || async {
        let left = pods
            .list(&ListParams::default().labels("app.kubernetes.io/name=argocd-application-controller"))
            .await
            .map_err(|e| e.to_string())?
            .items
            .len();
        if left == 0 {
            Ok(())
        } else {
            Err(format!("{left} left"))
        }
    })
    .await;
    sets.patch(
        "apps",
        &PatchParams::default(),
        &Patch::Merge(
            json!({"spec": {"generators": [{"list": {"elements": [{"app": "web"}, {"app": "api"}]}}]}}),
        ),
    )
    .await
    .unwrap();
    common::eventually("the second Application", || async {
        apps.get_opt("api")
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| "not generated".to_string())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let api = serde_json::to_value(apps.get("api").await.unwrap()).unwrap();
    assert!(
        api.pointer("/status/sync/status").is_none(),
        "no controller runs, yet: {:#}",
        api["status"]
    );
}
