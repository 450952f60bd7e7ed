//! Detection latency and API requests per wait: `hubspoke::expect::eventually` (a watch)
//! against a polling waiter at 5 s and at 50 ms, as bats scripts and chainsaw-style tools
//! wait. Figures are printed, not asserted.
//!
//! `cargo bench -p hubspoke --bench waits` — one embedded cluster; each sample starts a
//! waiter for "ConfigMap probe has state ready", flips the state after a random delay (so
//! the flip falls anywhere in a polling period) and measures from the moment the flip is
//! sent to the moment the waiter returns; requests are counted on the waiter's own client.
//! `HUBSPOKE_BENCH_SAMPLES` sets the samples per waiter (the 5 s poller takes a third).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hubspoke::expect::{Verdict, eventually, expect};
use hubspoke_sim::SimCluster;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::json;

/// A client whose requests are counted.
async fn counted_client(c: &SimCluster, counter: Arc<AtomicU64>) -> kube::Client {
    let kc = kube::config::Kubeconfig::from_yaml(&c.kubeconfig_yaml()).unwrap();
    let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    let count = tower::util::MapRequestLayer::new(move |req| {
        counter.fetch_add(1, Ordering::Relaxed);
        req
    });
    kube::client::ClientBuilder::try_from(cfg)
        .unwrap()
        .with_layer(&count)
        .build()
}

#[derive(Clone, Copy)]
enum Waiter {
    Watch,
    Poll(Duration),
}

impl Waiter {
    fn name(&self) -> String {
        match self {
            Waiter::Watch => "watch (expect::eventually)".into(),
            Waiter::Poll(d) if d.as_secs() >= 1 => format!("poll every {} s", d.as_secs()),
            Waiter::Poll(d) => format!("poll every {} ms", d.as_millis()),
        }
    }

    /// The span the flip is spread over: one polling period (a second for the watch).
    fn period(&self) -> Duration {
        match self {
            Waiter::Watch => Duration::from_secs(1),
            Waiter::Poll(d) => *d,
        }
    }

    async fn wait(self, api: Api<ConfigMap>) {
        let ready =
            |c: &ConfigMap| c.data.as_ref().and_then(|d| d.get("state")).map(String::as_str) == Some("ready");
        match self {
            Waiter::Watch => {
                let e = expect("configmap probe ready", move |cms: &[ConfigMap]| {
                    match cms.iter().find(|c| c.metadata.name.as_deref() == Some("probe")) {
                        Some(c) if ready(c) => Verdict::Pass,
                        _ => Verdict::Pending("not ready".into()),
                    }
                });
                eventually(api, Duration::from_secs(60), e.as_ref())
                    .await
                    .unwrap();
            }
            Waiter::Poll(every) => loop {
                if api.get("probe").await.is_ok_and(|c| ready(&c)) {
                    return;
                }
                tokio::time::sleep(every).await;
            },
        }
    }
}

/// xorshift: spreads the flips without a dependency.
struct Rng(u64);

impl Rng {
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let samples: usize = std::env::var("HUBSPOKE_BENCH_SAMPLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let cluster = SimCluster::start("bench-waits").await.unwrap();
    let writer: Api<ConfigMap> = Api::namespaced(cluster.client().await.unwrap(), "default");
    writer
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "probe"}, "data": {"state": "idle"}}))
                .unwrap(),
        )
        .await
        .unwrap();
    let set = |state: &'static str| {
        let w = writer.clone();
        async move {
            w.patch(
                "probe",
                &PatchParams::default(),
                &Patch::Merge(json!({"data": {"state": state}})),
            )
            .await
            .unwrap();
        }
    };
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    println!("detection latency: state flip sent -> waiter returns; requests made by the waiter per wait");
    println!(
        "{:<28} {:>7} {:>11} {:>11} {:>11} {:>14}",
        "waiter", "samples", "p50", "p99", "max", "requests/wait"
    );
    for waiter in [
        Waiter::Watch,
        Waiter::Poll(Duration::from_millis(50)),
        Waiter::Poll(Duration::from_secs(5)),
    ] {
        let n = match waiter {
            Waiter::Poll(d) if d.as_secs() >= 1 => samples.div_ceil(3),
            _ => samples,
        };
        let counter = Arc::new(AtomicU64::new(0));
        let api: Api<ConfigMap> = Api::namespaced(counted_client(&cluster, counter.clone()).await, "default");
        let mut latencies = Vec::with_capacity(n);
        let mut requests = 0u64;
        for _ in 0..n {
            set("idle").await;
            let before = counter.load(Ordering::Relaxed);
            let waiting = tokio::spawn(waiter.wait(api.clone()));
            // the waiter is up (listed, or polled once) well within 200 ms here; then the flip
            // lands anywhere in one period
            let delay = Duration::from_millis(200) + waiter.period().mul_f64(rng.unit());
            tokio::time::sleep(delay).await;
            let flipped = Instant::now();
            set("ready").await;
            waiting.await.unwrap();
            latencies.push(flipped.elapsed());
            requests += counter.load(Ordering::Relaxed) - before;
        }
        latencies.sort();
        println!(
            "{:<28} {:>7} {:>11} {:>11} {:>11} {:>14.1}",
            waiter.name(),
            n,
            ms(percentile(&latencies, 0.5)),
            ms(percentile(&latencies, 0.99)),
            ms(*latencies.last().unwrap()),
            requests as f64 / n as f64
        );
    }
}
