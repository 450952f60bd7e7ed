//! Helpers shared by the emulator's integration tests.
#![allow(dead_code)]

use hubspoke_sim::SimCluster;
use kube::Client;
use kube::core::Status;

/// Starts a cluster and a kube-rs client for it, built from its kubeconfig like a user's.
pub async fn cluster(name: &str) -> (SimCluster, Client) {
    let c = SimCluster::start(name).await.expect("cluster starts");
    let client = client_for(&c).await;
    (c, client)
}

pub async fn client_for(c: &SimCluster) -> Client {
    let kc = kube::config::Kubeconfig::from_yaml(&c.kubeconfig_yaml()).expect("kubeconfig parses");
    let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .expect("kubeconfig loads");
    Client::try_from(cfg).expect("client builds")
}

/// The API error of a failed call (fails the test if the call did not fail that way).
pub fn api_error<T: std::fmt::Debug>(r: Result<T, kube::Error>) -> Box<Status> {
    match r {
        Err(kube::Error::Api(s)) => s,
        other => panic!("expected an API error, got {other:?}"),
    }
}
