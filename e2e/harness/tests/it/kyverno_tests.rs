//! The Kyverno CLI test files of fixtures/kyverno-tests run against the sim's Kyverno: every
//! result the files expect is the one the stand-in's live admission reports.

use std::path::{Path, PathBuf};

use hubspoke::kyverno_tests::{self, Outcome};
use hubspoke_kyverno::clitest;
use hubspoke_sim::SimCluster;
use hubspoke_sim::standins::kyverno::{KyvernoOptions, KyvernoStandIn};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/kyverno-tests")
}

async fn kyverno(name: &str) -> (SimCluster, kube::Client, KyvernoStandIn) {
    let c = SimCluster::start(name).await.unwrap();
    let client = c.client().await.unwrap();
    // the chart's policyExceptions feature, with exceptions read from Kyverno's namespace
    let opts = KyvernoOptions {
        enable_policy_exception: true,
        exception_namespace: "kyverno".into(),
        ..KyvernoOptions::default()
    };
    let k = KyvernoStandIn::install(client.clone(), opts).await.unwrap();
    (c, client, k)
}

fn describe(o: &Outcome) -> String {
    let e = &o.expectation;
    format!(
        "{} {} {} {}/{}: {}",
        e.kind, e.resource, e.result, e.policy, e.rule, o.detail
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_result_the_test_files_expect_is_the_live_admission_result() {
    let (_c, client, _k) = kyverno("kyverno-tests").await;
    let all = kyverno_tests::run_all(&client, &root()).await.unwrap();
    let names: Vec<&str> = all.iter().map(|(t, _)| t.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "disallow-latest-tag",
            "mutate-psa-labels",
            "pod-security-baseline",
            "require-probes",
            "restrict-service-type"
        ]
    );
    let mut failed = Vec::new();
    let mut count = 0;
    for (t, outcomes) in &all {
        assert!(!outcomes.is_empty(), "{}", t.path.display());
        for o in outcomes {
            count += 1;
            if !o.ok {
                failed.push(format!("{}: {}", t.path.display(), describe(o)));
            }
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
    assert_eq!(count, 13);
    // the run left nothing behind: policies, exceptions, resources and namespaces it made
    let cpols: kube::Api<kube::api::DynamicObject> = kube::Api::all_with(
        client.clone(),
        &kube::core::ApiResource::from_gvk_with_plural(
            &kube::core::GroupVersionKind::gvk("kyverno.io", "v1", "ClusterPolicy"),
            "clusterpolicies",
        ),
    );
    assert!(cpols.list(&Default::default()).await.unwrap().items.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_expectation_is_reported_as_kyverno_test_words_it() {
    let dir = tempfile::tempdir().unwrap();
    let src = root().join("restrict-service-type");
    for f in ["policy.yaml", "resources.yaml", "kyverno-test.yaml"] {
        std::fs::copy(src.join(f), dir.path().join(f)).unwrap();
    }
    let test_file = dir.path().join("kyverno-test.yaml");
    let text = std::fs::read_to_string(&test_file).unwrap();
    // expect the LoadBalancer Service to pass
    std::fs::write(&test_file, text.replacen("result: fail", "result: pass", 1)).unwrap();
    let (_c, client, _k) = kyverno("kyverno-tests-wrong").await;
    let test = clitest::load(&test_file).unwrap();
    let outcomes = kyverno_tests::run(&client, &test).await.unwrap();
    let wrong: Vec<String> = outcomes.iter().filter(|o| !o.ok).map(describe).collect();
    assert_eq!(
        wrong,
        [
            "Service services/public pass restrict-service-type/no-loadbalancer: Want pass, got fail: Service public may not be of type LoadBalancer"
        ]
    );
}
