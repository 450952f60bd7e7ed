//! Throughput and start-up figures of the emulator, printed (not asserted).
//!
//! `cargo bench -p hubspoke-sim` — one instance, kube-rs clients in the same process (so the
//! figures include client cost, as a test suite would see them). Target: >= 5,000 small
//! requests/s per instance on a 2-core machine.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use hubspoke_sim::SimCluster;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use serde_json::json;

const CONCURRENCY: usize = 32;
const RUN: Duration = Duration::from_secs(3);

async fn client(c: &SimCluster) -> kube::Client {
    let kc = kube::config::Kubeconfig::from_yaml(&c.kubeconfig_yaml()).unwrap();
    let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    kube::Client::try_from(cfg).unwrap()
}

fn cm(name: &str) -> ConfigMap {
    serde_json::from_value(
        json!({"metadata": {"name": name, "labels": {"bench": "yes"}}, "data": {"k": "v"}}),
    )
    .unwrap()
}

/// Runs `op` from CONCURRENCY tasks for RUN; returns requests per second.
async fn throughput<F, Fut>(op: F) -> f64
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let op = Arc::new(op);
    let counter = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + RUN;
    let started = Instant::now();
    let tasks: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let (op, counter) = (op.clone(), counter.clone());
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    let n = counter.fetch_add(1, Ordering::Relaxed);
                    op(n).await;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    counter.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    // start-up time per instance
    let mut times = Vec::new();
    let mut keep = Vec::new();
    for i in 0..20 {
        let t = Instant::now();
        keep.push(SimCluster::start(&format!("startup-{i}")).await.unwrap());
        times.push(t.elapsed());
    }
    times.sort();
    let t = Instant::now();
    let fifty = futures::future::try_join_all((0..50).map(|i| SimCluster::start_owned(format!("fifty-{i}"))))
        .await
        .unwrap();
    let fifty_time = t.elapsed();
    drop(fifty);
    drop(keep);
    println!(
        "start-up per instance: median {:?}, max {:?} (20 sequential)",
        times[10], times[19]
    );
    println!("start-up of 50 instances concurrently: {fifty_time:?}");

    let c = SimCluster::start("bench").await.unwrap();
    let client = client(&c).await;
    let api: Api<ConfigMap> = Api::default_namespaced(client.clone());
    for i in 0..10 {
        api.create(&PostParams::default(), &cm(&format!("seed-{i}")))
            .await
            .unwrap();
    }
    // warm up connections
    for _ in 0..100 {
        api.get("seed-0").await.unwrap();
    }

    let a = api.clone();
    let get = throughput(move |_| {
        let a = a.clone();
        async move {
            a.get("seed-0").await.unwrap();
        }
    })
    .await;
    let a = api.clone();
    let create = throughput(move |n| {
        let a = a.clone();
        async move {
            a.create(&PostParams::default(), &cm(&format!("c-{n}")))
                .await
                .unwrap();
        }
    })
    .await;
    let small: Api<ConfigMap> = Api::namespaced(client.clone(), "kube-public");
    for i in 0..10 {
        small
            .create(&PostParams::default(), &cm(&format!("l-{i}")))
            .await
            .unwrap();
    }
    let a = small.clone();
    let list = throughput(move |_| {
        let a = a.clone();
        async move {
            a.list(&ListParams::default()).await.unwrap();
        }
    })
    .await;
    let a = api.clone();
    let patch = throughput(move |n| {
        let a = a.clone();
        async move {
            a.patch(
                "seed-1",
                &PatchParams::default(),
                &Patch::Merge(json!({"data": {"n": n.to_string()}})),
            )
            .await
            .unwrap();
        }
    })
    .await;
    // the same get as a ServiceAccount whose access comes from RBAC
    let sas: Api<k8s_openapi::api::core::v1::ServiceAccount> = Api::default_namespaced(client.clone());
    sas.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "bench"}})).unwrap(),
    )
    .await
    .unwrap();
    let rbs: Api<k8s_openapi::api::rbac::v1::RoleBinding> = Api::default_namespaced(client.clone());
    rbs.create(
        &PostParams::default(),
        &serde_json::from_value(json!({
            "metadata": {"name": "bench-edit"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
            "subjects": [{"kind": "ServiceAccount", "name": "bench", "namespace": "default"}],
        }))
        .unwrap(),
    )
    .await
    .unwrap();
    let tr: k8s_openapi::api::authentication::v1::TokenRequest =
        serde_json::from_value(json!({"spec": {}})).unwrap();
    let token = sas
        .create_token_request("bench", &PostParams::default(), &tr)
        .await
        .unwrap()
        .status
        .unwrap()
        .token;
    let yaml = c.kubeconfig_yaml().replace(c.admin_token(), &token);
    let cfg = kube::Config::from_custom_kubeconfig(
        kube::config::Kubeconfig::from_yaml(&yaml).unwrap(),
        &Default::default(),
    )
    .await
    .unwrap();
    let sa_api: Api<ConfigMap> = Api::default_namespaced(kube::Client::try_from(cfg).unwrap());
    for _ in 0..100 {
        sa_api.get("seed-0").await.unwrap();
    }
    // admin and ServiceAccount runs alternate, so drift on the machine hits both alike
    let mut admin_runs = Vec::new();
    let mut sa_runs = Vec::new();
    for _ in 0..3 {
        for (runs, api) in [(&mut admin_runs, api.clone()), (&mut sa_runs, sa_api.clone())] {
            runs.push(
                throughput(move |_| {
                    let a = api.clone();
                    async move {
                        a.get("seed-0").await.unwrap();
                    }
                })
                .await,
            );
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (admin_get, sa_get) = (median(&mut admin_runs), median(&mut sa_runs));
    println!("get    (1 small object):          {get:>8.0} req/s");
    println!(
        "get    admin vs ServiceAccount (RBAC), median of 3 alternating runs: {admin_get:.0} vs {sa_get:.0} req/s ({:+.0}%)",
        (sa_get / admin_get - 1.0) * 100.0
    );
    println!("create (small configmap):         {create:>8.0} req/s");
    println!("list   (namespace of 10 objects): {list:>8.0} req/s");
    println!("patch  (merge patch, one object): {patch:>8.0} req/s");

    // watch fan-out: W watchers, U updates; time until every watcher saw every update
    const WATCHERS: usize = 100;
    const UPDATES: usize = 500;
    let wapi: Api<ConfigMap> = Api::namespaced(client.clone(), "kube-node-lease");
    wapi.create(&PostParams::default(), &cm("fan")).await.unwrap();
    let rv = wapi.get("fan").await.unwrap().metadata.resource_version.unwrap();
    let mut watchers = Vec::new();
    for _ in 0..WATCHERS {
        let w = wapi.clone();
        let rv = rv.clone();
        let stream = w
            .watch(&WatchParams::default().timeout(120), &rv)
            .await
            .unwrap()
            .boxed();
        watchers.push(tokio::spawn(async move {
            let mut stream = stream;
            let mut seen = 0;
            while seen < UPDATES {
                match stream.next().await {
                    Some(Ok(WatchEvent::Modified(_))) => seen += 1,
                    Some(Ok(_)) => {}
                    other => panic!("watch ended: {other:?}"),
                }
            }
        }));
    }
    let t = Instant::now();
    for n in 0..UPDATES {
        wapi.patch(
            "fan",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"n": n.to_string()}})),
        )
        .await
        .unwrap();
    }
    for w in watchers {
        w.await.unwrap();
    }
    let took = t.elapsed();
    println!(
        "watch fan-out: {WATCHERS} watchers x {UPDATES} updates delivered in {took:?} ({:.0} events/s)",
        (WATCHERS * UPDATES) as f64 / took.as_secs_f64()
    );
}
