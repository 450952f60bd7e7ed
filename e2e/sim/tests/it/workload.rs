//! The workload stand-in against the emulator: Deployments reach the status the real
//! controllers write.

use crate::common;

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

fn pods_labelled(client: &kube::Client, selector: &str) -> impl std::future::Future<Output = Vec<Pod>> {
    let api: Api<Pod> = Api::default_namespaced(client.clone());
    let lp = ListParams::default().labels(selector);
    async move {
        let mut pods = api.list(&lp).await.unwrap().items;
        pods.sort_by_key(|p| p.metadata.name.clone());
        pods
    }
}

fn name_of(p: &Pod) -> &str {
    p.metadata.name.as_deref().unwrap_or("")
}

#[tokio::test]
async fn statefulset_pods_come_up_in_order_and_roll_from_the_highest_ordinal() {
    use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet};
    let (_c, client, _w) = start("w-sts", WorkloadOptions::default()).await;
    let sets: Api<StatefulSet> = Api::default_namespaced(client.clone());
    // watch pod creations to see the order
    let mut events = Box::pin(kube::runtime::watcher(
        Api::<Pod>::default_namespaced(client.clone()),
        kube::runtime::watcher::Config::default().labels("app=db"),
    ));
    let sts: StatefulSet = serde_json::from_value(json!({
        "metadata": {"name": "db"},
        "spec": {
            "replicas": 3, "serviceName": "db",
            "selector": {"matchLabels": {"app": "db"}},
            "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [{"name": "pg", "image": "postgres:17"}]}},
            "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}],
        },
    }))
    .unwrap();
    sets.create(&PostParams::default(), &sts).await.unwrap();
    let ready_sts = |d: Option<&StatefulSet>| {
        d.and_then(|d| d.status.as_ref()).is_some_and(|s| {
            s.ready_replicas == Some(3)
                && s.updated_replicas == Some(3)
                && s.current_revision == s.update_revision
        })
    };
    settle(&sets, "db", ready_sts).await;
    // every pod was created only after the one before it was Ready
    let mut created = Vec::new();
    let mut ready_at_creation = Vec::new();
    let mut ready = std::collections::BTreeSet::new();
    while created.len() < 3 {
        let ev = tokio::time::timeout(common::WAIT, futures::StreamExt::next(&mut events))
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let objs: Vec<Pod> = match ev {
            kube::runtime::watcher::Event::Apply(p) | kube::runtime::watcher::Event::InitApply(p) => vec![p],
            _ => vec![],
        };
        for p in objs {
            let n = name_of(&p).to_string();
            if !created.contains(&n) {
                ready_at_creation.push(ready.clone());
                created.push(n.clone());
            }
            let is_ready = p
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
            if is_ready {
                ready.insert(n);
            }
        }
    }
    assert_eq!(created, ["db-0", "db-1", "db-2"]);
    assert!(ready_at_creation[1].contains("db-0") && ready_at_creation[2].contains("db-1"));
    let s = sets.get("db").await.unwrap().status.unwrap();
    let rev1 = s.update_revision.clone().unwrap();
    assert!(rev1.starts_with("db-"), "{rev1}");
    assert_eq!(
        (
            s.replicas,
            s.ready_replicas,
            s.current_replicas,
            s.available_replicas,
            s.collision_count
        ),
        (3, Some(3), Some(3), Some(3), Some(0))
    );
    let pods = pods_labelled(&client, "app=db").await;
    for (i, p) in pods.iter().enumerate() {
        let labels = p.metadata.labels.as_ref().unwrap();
        assert_eq!(labels["statefulset.kubernetes.io/pod-name"], format!("db-{i}"));
        assert_eq!(labels["apps.kubernetes.io/pod-index"], i.to_string());
        assert_eq!(labels["controller-revision-hash"], rev1);
        let spec = p.spec.as_ref().unwrap();
        assert_eq!(
            (spec.hostname.as_deref(), spec.subdomain.as_deref()),
            (Some(format!("db-{i}").as_str()), Some("db"))
        );
        let claim = spec.volumes.as_ref().unwrap()[0]
            .persistent_volume_claim
            .as_ref()
            .unwrap();
        assert_eq!(claim.claim_name, format!("data-db-{i}"));
    }
    // a template change replaces the pods from the highest ordinal, with a new revision
    sets.patch(
        "db",
        &PatchParams::default(),
        &Patch::Strategic(
            json!({"spec": {"template": {"spec": {"containers": [{"name": "pg", "image": "postgres:18"}]}}}}),
        ),
    )
    .await
    .unwrap();
    settle(&sets, "db", move |d: Option<&StatefulSet>| {
        ready_sts(d)
            && d.and_then(|d| d.status.as_ref())
                .is_some_and(|s| s.update_revision.as_deref() != Some(rev1.as_str()))
    })
    .await;
    let images: Vec<String> = pods_labelled(&client, "app=db")
        .await
        .iter()
        .map(|p| p.spec.as_ref().unwrap().containers[0].image.clone().unwrap())
        .collect();
    assert_eq!(images, ["postgres:18"; 3]);
    let revisions = Api::<ControllerRevision>::default_namespaced(client.clone())
        .list(&ListParams::default())
        .await
        .unwrap()
        .items;
    let mut numbers: Vec<i64> = revisions.iter().map(|r| r.revision).collect();
    numbers.sort();
    assert_eq!(numbers, [1, 2]);
    // scale down removes the highest ordinals
    sets.patch(
        "db",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 1}})),
    )
    .await
    .unwrap();
    settle(&sets, "db", |d: Option<&StatefulSet>| {
        d.and_then(|d| d.status.as_ref()).is_some_and(|s| s.replicas == 1)
    })
    .await;
    let names: Vec<String> = pods_labelled(&client, "app=db")
        .await
        .iter()
        .map(|p| name_of(p).to_string())
        .collect();
    assert_eq!(names, ["db-0"]);
}

#[tokio::test]
async fn daemonsets_run_one_pod_on_each_matching_node() {
    use k8s_openapi::api::apps::v1::DaemonSet;
    let opts = WorkloadOptions {
        nodes: 3,
        ..Default::default()
    };
    let (_c, client, _w) = start("w-ds", opts).await;
    let sets: Api<DaemonSet> = Api::default_namespaced(client.clone());
    let ds: DaemonSet = serde_json::from_value(json!({
        "metadata": {"name": "agent"},
        "spec": {
            "selector": {"matchLabels": {"app": "agent"}},
            "template": {"metadata": {"labels": {"app": "agent"}}, "spec": {"containers": [{"name": "a", "image": "busybox:1.37"}]}},
        },
    }))
    .unwrap();
    sets.create(&PostParams::default(), &ds).await.unwrap();
    let settled = |n: i32| {
        move |d: Option<&DaemonSet>| {
            d.and_then(|d| d.status.as_ref()).is_some_and(|s| {
                s.desired_number_scheduled == n
                    && s.number_ready == n
                    && s.updated_number_scheduled == Some(n)
                    && s.current_number_scheduled == n
            })
        }
    };
    settle(&sets, "agent", settled(3)).await;
    let s = sets.get("agent").await.unwrap().status.unwrap();
    assert_eq!(
        (
            s.number_available,
            s.number_unavailable,
            s.number_misscheduled,
            s.observed_generation
        ),
        (Some(3), None, 0, Some(1))
    );
    let pods = pods_labelled(&client, "app=agent").await;
    let mut nodes: Vec<String> = pods
        .iter()
        .map(|p| p.spec.as_ref().unwrap().node_name.clone().unwrap())
        .collect();
    nodes.sort();
    assert_eq!(nodes, ["sim-worker-1", "sim-worker-2", "sim-worker-3"]);
    for p in &pods {
        let spec = p.spec.as_ref().unwrap();
        let term = &spec
            .affinity
            .as_ref()
            .unwrap()
            .node_affinity
            .as_ref()
            .unwrap()
            .required_during_scheduling_ignored_during_execution
            .as_ref()
            .unwrap()
            .node_selector_terms[0];
        let field = &term.match_fields.as_ref().unwrap()[0];
        assert_eq!(field.key, "metadata.name");
        assert_eq!(
            field.values.as_ref().unwrap()[0],
            *spec.node_name.as_ref().unwrap()
        );
        assert!(
            spec.tolerations
                .as_ref()
                .unwrap()
                .iter()
                .any(|t| t.key.as_deref() == Some("node.kubernetes.io/unreachable"))
        );
        let labels = p.metadata.labels.as_ref().unwrap();
        assert_eq!(labels["pod-template-generation"], "1");
        assert!(labels.contains_key("controller-revision-hash"));
    }
    // a node selector no node matches leaves nothing to run
    sets.patch(
        "agent",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"template": {"spec": {"nodeSelector": {"kubernetes.io/hostname": "sim-worker-2"}}}}})),
    )
    .await
    .unwrap();
    settle(&sets, "agent", settled(1)).await;
    let pods = pods_labelled(&client, "app=agent").await;
    assert_eq!(pods.len(), 1);
    assert_eq!(
        pods[0].spec.as_ref().unwrap().node_name.as_deref(),
        Some("sim-worker-2")
    );
    assert_eq!(
        pods[0].metadata.labels.as_ref().unwrap()["pod-template-generation"],
        "2"
    );
}

#[tokio::test]
async fn jobs_complete_with_the_real_conditions() {
    use k8s_openapi::api::batch::v1::Job;
    let (_c, client, _w) = start("w-job", WorkloadOptions::default()).await;
    let jobs: Api<Job> = Api::default_namespaced(client.clone());
    let job: Job = serde_json::from_value(json!({
        "metadata": {"name": "migrate"},
        "spec": {"completions": 3, "parallelism": 2, "template": {"spec": {
            "restartPolicy": "Never", "containers": [{"name": "m", "image": "busybox:1.37"}],
        }}},
    }))
    .unwrap();
    jobs.create(&PostParams::default(), &job).await.unwrap();
    let complete = |j: Option<&Job>| {
        j.and_then(|j| j.status.as_ref())
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Complete" && c.status == "True"))
    };
    settle(&jobs, "migrate", complete).await;
    let s = jobs.get("migrate").await.unwrap().status.unwrap();
    assert_eq!(
        (s.succeeded, s.active, s.ready, s.terminating),
        (Some(3), None, Some(0), Some(0))
    );
    assert!(s.completion_time.is_some() && s.start_time.is_some());
    let conds: Vec<(String, Option<String>, Option<String>)> = s
        .conditions
        .unwrap()
        .into_iter()
        .map(|c| (c.type_, c.reason, c.message))
        .collect();
    let msg = Some("Reached expected number of succeeded pods".to_string());
    assert_eq!(
        conds,
        [
            (
                "SuccessCriteriaMet".to_string(),
                Some("CompletionsReached".to_string()),
                msg.clone()
            ),
            (
                "Complete".to_string(),
                Some("CompletionsReached".to_string()),
                msg
            ),
        ]
    );
    let pods = pods_labelled(&client, "job-name=migrate").await;
    assert_eq!(pods.len(), 3);
    for p in &pods {
        let st = p.status.as_ref().unwrap();
        assert_eq!(st.phase.as_deref(), Some("Succeeded"));
        let term = st.container_statuses.as_ref().unwrap()[0]
            .state
            .as_ref()
            .unwrap()
            .terminated
            .clone()
            .unwrap();
        assert_eq!((term.exit_code, term.reason.as_deref()), (0, Some("Completed")));
    }
    // a job that cannot pull its image fails at its active deadline
    let stuck: Job = serde_json::from_value(json!({
        "metadata": {"name": "stuck"},
        "spec": {"activeDeadlineSeconds": 1, "template": {"spec": {
            "restartPolicy": "Never", "containers": [{"name": "m", "image": "registry.example.invalid/m:1"}],
        }}},
    }))
    .unwrap();
    jobs.create(&PostParams::default(), &stuck).await.unwrap();
    settle(&jobs, "stuck", |j: Option<&Job>| {
        j.and_then(|j| j.status.as_ref())
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| {
                cs.iter().any(|c| {
                    c.type_ == "Failed"
                        && c.reason.as_deref() == Some("DeadlineExceeded")
                        && c.message.as_deref() == Some("Job was active longer than specified deadline")
                })
            })
    })
    .await;
}

#[tokio::test]
async fn pods_are_bound_through_the_binding_subresource_and_unschedulable_pods_say_why() {
    let (_c, client, _w) = start("w-sched", WorkloadOptions::default()).await;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let pod = |name: &str, selector: Value| -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name},
            "spec": {"nodeSelector": selector, "containers": [{"name": "c", "image": "nginx:1.27"}]},
        }))
        .unwrap()
    };
    pods.create(
        &PostParams::default(),
        &pod("bare", json!({"kubernetes.io/os": "linux"})),
    )
    .await
    .unwrap();
    pods.create(
        &PostParams::default(),
        &pod("nowhere", json!({"disktype": "ssd"})),
    )
    .await
    .unwrap();
    settle(&pods, "bare", |p: Option<&Pod>| {
        p.and_then(|p| p.status.as_ref())
            .is_some_and(|s| s.phase.as_deref() == Some("Running"))
    })
    .await;
    let bare = pods.get("bare").await.unwrap();
    let node = bare.spec.as_ref().unwrap().node_name.clone().unwrap();
    let node_ip = Api::<k8s_openapi::api::core::v1::Node>::all(client.clone())
        .get(&node)
        .await
        .unwrap()
        .status
        .unwrap()
        .addresses
        .unwrap()[0]
        .address
        .clone();
    assert_eq!(bare.status.unwrap().host_ip, Some(node_ip));
    settle(&pods, "nowhere", |p: Option<&Pod>| {
        p.and_then(|p| p.status.as_ref())
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.reason.as_deref() == Some("Unschedulable")))
    })
    .await;
    let c = pods
        .get("nowhere")
        .await
        .unwrap()
        .status
        .unwrap()
        .conditions
        .unwrap();
    assert_eq!(
        c[0].message.as_deref(),
        Some(
            "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling."
        )
    );
    // binding an already bound pod is a conflict, as in kube-apiserver
    let binding = json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "bare"}, "target": {"kind": "Node", "name": "sim-worker-1"}});
    let err = common::client_without_retries(&_c)
        .await
        .request::<Value>(
            http::Request::post("/api/v1/namespaces/default/pods/bare/binding")
                .header("content-type", "application/json")
                .body(serde_json::to_vec(&binding).unwrap())
                .unwrap(),
        )
        .await;
    let e = common::api_error(err);
    assert_eq!(e.code, 409);
    assert_eq!(
        e.message,
        format!(
            "Operation cannot be fulfilled on pods/binding \"bare\": pod bare is already assigned to node \"{node}\""
        )
    );
}

#[tokio::test]
async fn pod_logs_say_the_pod_is_simulated() {
    let (c, client, _w) = start("w-logs", WorkloadOptions::default()).await;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "two"},
        "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}, {"name": "side", "image": "registry.example.invalid/s:1"}]},
    }))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    settle(&pods, "two", |p: Option<&Pod>| {
        p.and_then(|p| p.status.as_ref())
            .is_some_and(|s| s.container_statuses.is_some())
    })
    .await;
    let logs = |container: Option<&str>| {
        let pods = pods.clone();
        let lp = kube::api::LogParams {
            container: container.map(str::to_string),
            ..Default::default()
        };
        async move { pods.logs("two", &lp).await }
    };
    let err = common::api_error(logs(None).await);
    assert_eq!(
        (err.code, err.message.as_str()),
        (
            400,
            "a container name must be specified for pod two, choose one of: [app side]"
        )
    );
    let err = common::api_error(logs(Some("nope")).await);
    assert_eq!(err.message, "container nope is not valid for pod two");
    let err = common::api_error(logs(Some("side")).await);
    assert!(
        err.message
            .starts_with("container \"side\" in pod \"two\" is waiting to start: "),
        "{}",
        err.message
    );
    // a pod whose containers run
    let one: Pod = serde_json::from_value(json!({
        "metadata": {"name": "one"},
        "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]},
    }))
    .unwrap();
    pods.create(&PostParams::default(), &one).await.unwrap();
    settle(&pods, "one", |p: Option<&Pod>| {
        p.and_then(|p| p.status.as_ref())
            .is_some_and(|s| s.phase.as_deref() == Some("Running"))
    })
    .await;
    let text = pods.logs("one", &Default::default()).await.unwrap();
    assert_eq!(
        text,
        "hubspoke sim: container \"app\" of pod default/one is simulated; no process runs in it, so it has no logs\n"
    );
    // kubectl logs reads the same endpoint
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    c.write_kubeconfig(&kc).unwrap();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&kc)
            .args(["logs", "one"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), text);
}

#[tokio::test]
async fn recreate_deployments_stop_old_pods_before_starting_new_ones() {
    use std::collections::BTreeMap;
    let (_c, client, _w) = start("w-recreate", WorkloadOptions::default()).await;
    let deploys: Api<Deployment> = Api::default_namespaced(client.clone());
    deploys
        .create(
            &PostParams::default(),
            &deployment("rc", 2, "nginx:1.27", json!({"strategy": {"type": "Recreate"}})),
        )
        .await
        .unwrap();
    settle(&deploys, "rc", rolled_out).await;
    let mut events = Box::pin(kube::runtime::watcher(
        Api::<Pod>::default_namespaced(client.clone()),
        kube::runtime::watcher::Config::default().labels("app=rc"),
    ));
    let patch =
        json!({"spec": {"template": {"spec": {"containers": [{"name": "main", "image": "nginx:1.28"}]}}}});
    deploys
        .patch("rc", &PatchParams::default(), &Patch::Strategic(patch))
        .await
        .unwrap();
    // follow the pods until only new ones run, checking old and new never overlap
    let mut live: BTreeMap<String, String> = BTreeMap::new();
    let deadline = tokio::time::Instant::now() + common::WAIT;
    loop {
        let ev = tokio::time::timeout_at(deadline, futures::StreamExt::next(&mut events))
            .await
            .expect("rollout finished in time")
            .unwrap()
            .unwrap();
        let (pod, gone) = match ev {
            kube::runtime::watcher::Event::Apply(p) | kube::runtime::watcher::Event::InitApply(p) => {
                let gone = p.metadata.deletion_timestamp.is_some();
                (p, gone)
            }
            kube::runtime::watcher::Event::Delete(p) => (p, true),
            _ => continue,
        };
        let image = pod.spec.as_ref().unwrap().containers[0].image.clone().unwrap();
        if gone {
            live.remove(name_of(&pod));
        } else {
            live.insert(name_of(&pod).to_string(), image);
        }
        let images: std::collections::BTreeSet<&String> = live.values().collect();
        assert!(images.len() <= 1, "old and new pods ran together: {live:?}");
        if live.len() == 2 && images.iter().all(|i| *i == "nginx:1.28") {
            break;
        }
    }
    settle(&deploys, "rc", rolled_out).await;
}

#[tokio::test]
async fn argo_cds_redis_secret_job_runs_its_program_to_completion() {
    use k8s_openapi::api::batch::v1::Job;
    use k8s_openapi::api::core::v1::Secret;
    let (_c, client, _w) = start("w-argocd-job", WorkloadOptions::default()).await;
    let jobs: Api<Job> = Api::default_namespaced(client.clone());
    let secrets: Api<Secret> = Api::default_namespaced(client.clone());
    let complete = |j: Option<&Job>| {
        j.and_then(|j| j.status.as_ref())
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Complete" && c.status == "True"))
    };
    // the argo-cd chart's pre-install hook: the argocd image, `argocd admin redis-initial-password`
    let job = |name: &str| -> Job {
        serde_json::from_value(json!({
            "metadata": {"name": name},
            "spec": {"template": {"spec": {"restartPolicy": "OnFailure", "containers": [{
                "name": "secret-init", "image": "quay.io/argoproj/argocd:v3.2.0",
                "command": ["argocd", "admin", "redis-initial-password"],
            }]}}},
        }))
        .unwrap()
    };
    jobs.create(&PostParams::default(), &job("redis-secret-init"))
        .await
        .unwrap();
    settle(&jobs, "redis-secret-init", complete).await;
    let auth = secrets.get("argocd-redis").await.unwrap().data.unwrap()["auth"]
        .0
        .clone();
    assert_eq!(auth.len(), 16);
    assert!(auth.iter().all(u8::is_ascii_alphanumeric), "{auth:?}");
    // run again (an upgrade's hook): the password stays
    jobs.create(&PostParams::default(), &job("redis-secret-init-2"))
        .await
        .unwrap();
    settle(&jobs, "redis-secret-init-2", complete).await;
    assert_eq!(
        secrets.get("argocd-redis").await.unwrap().data.unwrap()["auth"].0,
        auth
    );
}

/// A container whose environment references a Secret or ConfigMap (key) that is missing,
/// without `optional: true`, is not created: CreateContainerConfigError with the
/// kubelet's text, the pod Pending, until the reference resolves.
#[tokio::test]
async fn a_missing_secret_or_key_is_a_create_container_config_error_until_it_exists() {
    use k8s_openapi::api::core::v1::Secret;
    let (_c, client, _w) = start("w-config", WorkloadOptions::default()).await;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "redis-client"},
        "spec": {"containers": [{"name": "main", "image": "nginx:1.27", "env": [
            {"name": "REDIS_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "argocd-redis", "key": "auth"}}},
            {"name": "REDIS_USERNAME", "valueFrom": {"secretKeyRef": {"name": "argocd-redis", "key": "redis-username", "optional": true}}},
            {"name": "LOG_FORMAT", "valueFrom": {"configMapKeyRef": {"name": "argocd-cmd-params-cm", "key": "log.format", "optional": true}}},
        ]}]},
    }))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    let waiting = |want: &'static str| {
        let pods = pods.clone();
        async move {
            common::eventually(want, || async {
                let p = pods.get("redis-client").await.map_err(|e| e.to_string())?;
                let s = p.status.unwrap_or_default();
                let w = s
                    .container_statuses
                    .unwrap_or_default()
                    .first()
                    .and_then(|c| c.state.clone())
                    .and_then(|st| st.waiting);
                match w {
                    Some(w) if w.message.as_deref() == Some(want) => {
                        assert_eq!(w.reason.as_deref(), Some("CreateContainerConfigError"));
                        assert_eq!(s.phase.as_deref(), Some("Pending"));
                        Ok(())
                    }
                    other => Err(format!("{other:?}")),
                }
            })
            .await
        }
    };
    waiting("secret \"argocd-redis\" not found").await;
    // the Secret without the key
    let secrets: Api<Secret> = Api::default_namespaced(client.clone());
    let secret: Secret =
        serde_json::from_value(json!({"metadata": {"name": "argocd-redis"}, "stringData": {"other": "x"}}))
            .unwrap();
    secrets.create(&PostParams::default(), &secret).await.unwrap();
    waiting("couldn't find key auth in Secret default/argocd-redis").await;
    // with the key the container starts (the optional references may stay missing)
    secrets
        .patch(
            "argocd-redis",
            &PatchParams::default(),
            &Patch::Merge(json!({"stringData": {"auth": "s3cret"}})),
        )
        .await
        .unwrap();
    common::eventually("the pod running", || async {
        let p = pods.get("redis-client").await.map_err(|e| e.to_string())?;
        match p.status.and_then(|s| s.phase) {
            Some(phase) if phase == "Running" => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
}
