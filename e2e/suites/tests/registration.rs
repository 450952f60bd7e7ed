//! The registration suite, one test per check (see the crate's documentation for HUBSPOKE_ENV).

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_secrets() {
    hubspoke_suites::check("registration/cluster-secrets").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spokes_reachable() {
    hubspoke_suites::check("registration/spokes-reachable").await;
}
