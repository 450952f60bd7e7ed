//! The workload stand-in against the emulator: Deployments reach the status the real
//! controllers write.

mod common;

use common::{cluster, settle};
use hubspoke_sim::standins::workload::{WorkloadOptions, WorkloadStandIn};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

fn deployment(name: &str, replicas: i64, image: &str, extra_spec: Value) -> Deployment {
    let mut d = json!({
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "main", "image": image}]}},
        },
    });
    for (k, v) in extra_spec.as_object().into_iter().flatten() {
        d["spec"][k] = v.clone();
    }
    serde_json::from_value(d).unwrap()
}

fn cond<'a>(d: &'a Deployment, t: &str) -> Option<&'a k8s_openapi::api::apps::v1::DeploymentCondition> {
    d.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == t)
}

fn rolled_out(d: Option<&Deployment>) -> bool {
    d.and_then(|d| cond(d, "Progressing"))
        .is_some_and(|c| c.reason.as_deref() == Some("NewReplicaSetAvailable"))
        && d.is_some_and(|d| d.status.as_ref().and_then(|s| s.observed_generation) == d.metadata.generation)
}

async fn start(
    name: &str,
    opts: WorkloadOptions,
) -> (hubspoke_sim::SimCluster, kube::Client, WorkloadStandIn) {
    let (c, client) = cluster(name).await;
    let standin = WorkloadStandIn::run(client.clone(), opts).await.unwrap();
    (c, client, standin)
}

#[tokio::test]
async fn a_deployment_becomes_available_with_the_real_status() {
    let (_c, client, _w) = start("w-available", WorkloadOptions::default()).await;
    let deploys: Api<Deployment> = Api::default_namespaced(client.clone());
    deploys
        .create(
            &PostParams::default(),
            &deployment("web", 2, "nginx:1.27", json!({})),
        )
        .await
        .unwrap();
    settle(&deploys, "web", rolled_out).await;
    let d = deploys.get("web").await.unwrap();
    let s = d.status.clone().unwrap();
    assert_eq!(
        (
            s.observed_generation,
            s.replicas,
            s.updated_replicas,
            s.ready_replicas,
            s.available_replicas
        ),
        (Some(1), Some(2), Some(2), Some(2), Some(2))
    );
    assert_eq!(s.unavailable_replicas, None);
    let available = cond(&d, "Available").unwrap();
    assert_eq!(
        (
            available.status.as_str(),
            available.reason.as_deref(),
            available.message.as_deref()
        ),
        (
            "True",
            Some("MinimumReplicasAvailable"),
            Some("Deployment has minimum availability.")
        )
    );
    let rss: Api<ReplicaSet> = Api::default_namespaced(client.clone());
    let rs = rss
        .list(&ListParams::default().labels("app=web"))
        .await
        .unwrap()
        .items;
    assert_eq!(rs.len(), 1);
    let rs = &rs[0];
    let rs_name = rs.metadata.name.clone().unwrap();
    let hash = rs.metadata.labels.as_ref().unwrap()["pod-template-hash"].clone();
    assert_eq!(rs_name, format!("web-{hash}"));
    assert_eq!(
        rs.metadata.annotations.as_ref().unwrap()["deployment.kubernetes.io/revision"],
        "1"
    );
    let progressing = cond(&d, "Progressing").unwrap();
    assert_eq!(
        progressing.message.as_deref(),
        Some(format!("ReplicaSet \"{rs_name}\" has successfully progressed.").as_str())
    );
    let pods: Vec<Pod> = Api::<Pod>::default_namespaced(client.clone())
        .list(&ListParams::default().labels("app=web"))
        .await
        .unwrap()
        .items;
    assert_eq!(pods.len(), 2);
    for p in &pods {
        assert!(
            p.metadata
                .name
                .as_ref()
                .unwrap()
                .starts_with(&format!("{rs_name}-"))
        );
        assert!(
            p.spec
                .as_ref()
                .unwrap()
                .node_name
                .as_ref()
                .unwrap()
                .starts_with("sim-worker-")
        );
        let st = p.status.as_ref().unwrap();
        assert_eq!(st.phase.as_deref(), Some("Running"));
        let cs = &st.container_statuses.as_ref().unwrap()[0];
        assert!(cs.ready && cs.state.as_ref().unwrap().running.is_some());
        let owner = &p.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.name.as_str(), owner.controller),
            ("ReplicaSet", rs_name.as_str(), Some(true))
        );
    }
}

#[tokio::test]
async fn rollout_on_template_change_and_scaling() {
    let (_c, client, _w) = start("w-rollout", WorkloadOptions::default()).await;
    let deploys: Api<Deployment> = Api::default_namespaced(client.clone());
    deploys
        .create(
            &PostParams::default(),
            &deployment("app", 2, "nginx:1.27", json!({})),
        )
        .await
        .unwrap();
    settle(&deploys, "app", rolled_out).await;
    let patch =
        json!({"spec": {"template": {"spec": {"containers": [{"name": "main", "image": "nginx:1.28"}]}}}});
    deploys
        .patch("app", &PatchParams::default(), &Patch::Strategic(patch))
        .await
        .unwrap();
    settle(&deploys, "app", rolled_out).await;
    let rss: Vec<ReplicaSet> = Api::<ReplicaSet>::default_namespaced(client.clone())
        .list(&ListParams::default().labels("app=app"))
        .await
        .unwrap()
        .items;
    assert_eq!(rss.len(), 2);
    let by_rev = |rev: &str| {
        rss.iter()
            .find(|r| r.metadata.annotations.as_ref().unwrap()["deployment.kubernetes.io/revision"] == rev)
            .unwrap()
    };
    assert_eq!(
        by_rev("1").spec.as_ref().unwrap().replicas,
        Some(0),
        "the old ReplicaSet is scaled down"
    );
    assert_eq!(by_rev("2").spec.as_ref().unwrap().replicas, Some(2));
    let images: Vec<String> = Api::<Pod>::default_namespaced(client.clone())
        .list(&ListParams::default().labels("app=app"))
        .await
        .unwrap()
        .items
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .map(|p| p.spec.as_ref().unwrap().containers[0].image.clone().unwrap())
        .collect();
    assert_eq!(images, vec!["nginx:1.28", "nginx:1.28"]);
    // scale up and down
    for n in [3, 1] {
        deploys
            .patch(
                "app",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"replicas": n}})),
            )
            .await
            .unwrap();
        settle(&deploys, "app", rolled_out).await;
        settle(&deploys, "app", move |d: Option<&Deployment>| {
            d.and_then(|d| d.status.as_ref())
                .is_some_and(|s| s.available_replicas == Some(n) && s.replicas == Some(n))
        })
        .await;
    }
}

#[tokio::test]
async fn images_from_invalid_registries_never_pull_and_the_deadline_passes() {
    let opts = WorkloadOptions {
        time_factor: 0.02,
        ..Default::default()
    };
    let (_c, client, _w) = start("w-invalid", opts).await;
    let deploys: Api<Deployment> = Api::default_namespaced(client.clone());
    let d = deployment(
        "broken",
        1,
        "registry.example.invalid/team/app:1.0",
        json!({"progressDeadlineSeconds": 60}),
    );
    deploys.create(&PostParams::default(), &d).await.unwrap();
    settle(&deploys, "broken", |d: Option<&Deployment>| {
        d.and_then(|d| cond(d, "Progressing"))
            .is_some_and(|c| c.reason.as_deref() == Some("ProgressDeadlineExceeded"))
    })
    .await;
    let d = deploys.get("broken").await.unwrap();
    let p = cond(&d, "Progressing").unwrap();
    assert_eq!(p.status, "False");
    assert!(
        p.message
            .as_deref()
            .unwrap()
            .ends_with("has timed out progressing."),
        "{p:?}"
    );
    assert_eq!(
        cond(&d, "Available").unwrap().reason.as_deref(),
        Some("MinimumReplicasUnavailable")
    );
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let pod = pods
        .list(&ListParams::default().labels("app=broken"))
        .await
        .unwrap()
        .items
        .remove(0);
    let waiting = pod.status.unwrap().container_statuses.unwrap()[0]
        .state
        .clone()
        .unwrap()
        .waiting
        .unwrap();
    assert!(
        matches!(
            waiting.reason.as_deref(),
            Some("ErrImagePull" | "ImagePullBackOff")
        ),
        "{waiting:?}"
    );
}
