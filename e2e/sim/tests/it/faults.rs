//! Injected faults, as clients see them.

use crate::common;

use std::time::{Duration, Instant};

use common::{WAIT, api_error, client_with_token, client_without_retries, cluster};
use futures::StreamExt;
use hubspoke_sim::faults::{Effect, RequestFault, Scope};
use k8s_openapi::api::core::v1::{ConfigMap, ServiceAccount};
use kube::api::{Api, ListParams, PostParams, WatchParams};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::json;

fn cm(name: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}})).unwrap()
}

fn fault(effect: Effect, scope: Scope, count: Option<u64>) -> RequestFault {
    RequestFault {
        effect,
        scope,
        count,
        fraction: None,
    }
}

#[tokio::test]
async fn server_errors_and_throttling_look_like_a_real_server() {
    let (c, retrying) = cluster("f-5xx").await;
    // kube-rs retries 503 by default: a couple of failures are invisible to its users
    c.faults().inject(fault(
        Effect::Fail { code: 503 },
        Scope::all().verb("list").resource("configmaps"),
        Some(2),
    ));
    Api::<ConfigMap>::default_namespaced(retrying)
        .list(&ListParams::default())
        .await
        .unwrap();
    assert!(c.faults().active().is_empty(), "both failures were answered");
    // without retries, the answers themselves
    let client = client_without_retries(&c).await;
    let api: Api<ConfigMap> = Api::default_namespaced(client.clone());
    c.faults().inject(fault(
        Effect::Fail { code: 503 },
        Scope::all().verb("list").resource("configmaps"),
        Some(2),
    ));
    for _ in 0..2 {
        let e = api_error(api.list(&ListParams::default()).await);
        assert_eq!(
            (e.code, e.reason.as_str(), e.message.as_str()),
            (
                503,
                "ServiceUnavailable",
                "the server is currently unable to handle the request"
            )
        );
    }
    api.list(&ListParams::default()).await.unwrap();
    // other verbs and resources were never affected
    c.faults().inject(fault(
        Effect::Fail { code: 500 },
        Scope::all().resource("secrets"),
        Some(1),
    ));
    api.create(&PostParams::default(), &cm("fine")).await.unwrap();
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::default_namespaced(client.clone());
    let e = api_error(secrets.list(&ListParams::default()).await);
    assert_eq!((e.code, e.reason.as_str()), (500, "InternalError"));
    assert!(
        e.message.starts_with("Internal error occurred: "),
        "{}",
        e.message
    );

    // 429 with Retry-After, as API Priority and Fairness answers
    c.faults().inject(fault(
        Effect::Throttle {
            retry_after_seconds: 2,
        },
        Scope::all(),
        Some(1),
    ));
    let resp = client
        .send(
            http::Request::get("/api/v1/namespaces/default/configmaps")
                .body(vec![].into())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "2");
    c.faults().inject(fault(
        Effect::Throttle {
            retry_after_seconds: 1,
        },
        Scope::all(),
        Some(1),
    ));
    let e = api_error(api.get("fine").await);
    assert_eq!(
        (e.code, e.reason.as_str(), e.message.as_str()),
        (
            429,
            "TooManyRequests",
            "Too many requests, please try again later."
        )
    );
    assert_eq!(e.details.unwrap().retry_after_seconds, 1);
    assert!(c.faults().active().is_empty(), "counted faults are used up");
}

#[tokio::test]
async fn latency_and_user_scoped_faults() {
    let (c, admin) = cluster("f-latency").await;
    let token = common::service_account_token(&admin, "default", "bot").await;
    let bot = client_with_token(&c, &token).await;
    c.faults().inject(fault(
        Effect::Fail { code: 503 },
        Scope::all().user("system:serviceaccount:default:bot"),
        None,
    ));
    let e = api_error(
        Api::<ConfigMap>::default_namespaced(bot.clone())
            .list(&ListParams::default())
            .await,
    );
    assert_eq!(e.code, 503);
    Api::<ConfigMap>::default_namespaced(admin.clone())
        .list(&ListParams::default())
        .await
        .unwrap();
    c.faults().clear();
    c.faults().inject(fault(
        Effect::Latency { millis: 300 },
        Scope::all().verb("get"),
        Some(1),
    ));
    let started = Instant::now();
    Api::<ServiceAccount>::default_namespaced(admin.clone())
        .get("bot")
        .await
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "the request was held back"
    );
    // revocation
    Api::<ConfigMap>::default_namespaced(bot.clone())
        .list(&ListParams::default())
        .await
        .unwrap_err();
    c.revoke_token(&token);
    let e = api_error(
        Api::<ConfigMap>::default_namespaced(bot)
            .list(&ListParams::default())
            .await,
    );
    assert_eq!(e.code, 401);
}

#[tokio::test]
async fn watchers_recover_from_closed_watches_and_410() {
    let (c, client) = cluster("f-watch").await;
    let api: Api<ConfigMap> = Api::default_namespaced(client.clone());
    api.create(&PostParams::default(), &cm("first")).await.unwrap();

    // a raw watch simply ends when the server closes it
    let rv = common::list_rv(&api).await;
    let mut raw = api
        .watch(&WatchParams::default().timeout(60), &rv)
        .await
        .unwrap()
        .boxed();
    c.faults().close_watches();
    let end = tokio::time::timeout(WAIT, raw.next()).await.unwrap();
    assert!(end.is_none(), "the stream ended: {end:?}");

    // a kube-runtime watcher re-watches and keeps delivering; a 410 comes out of it as an
    // error item, after which it lists again
    let mut names = std::pin::pin!(watcher(api.clone(), watcher::Config::default()).applied_objects());
    let mut seen = std::collections::BTreeSet::new();
    let mut errors = Vec::new();
    let mut until =
        async |name: &str, seen: &mut std::collections::BTreeSet<String>, errors: &mut Vec<String>| {
            while !seen.contains(name) {
                match tokio::time::timeout(WAIT, names.next())
                    .await
                    .expect("watcher delivers")
                    .expect("stream goes on")
                {
                    Ok(o) => {
                        seen.insert(o.metadata.name.unwrap());
                    }
                    Err(e) => errors.push(e.to_string()),
                }
            }
        };
    until("first", &mut seen, &mut errors).await;
    c.faults().close_watches();
    api.create(&PostParams::default(), &cm("after-close"))
        .await
        .unwrap();
    until("after-close", &mut seen, &mut errors).await;
    assert!(errors.is_empty(), "a closed watch is not an error: {errors:?}");
    c.faults()
        .expire_next_watches(Scope::all().verb("watch").resource("configmaps"), 1);
    c.faults().close_watches();
    api.create(&PostParams::default(), &cm("after-410"))
        .await
        .unwrap();
    until("after-410", &mut seen, &mut errors).await;
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("too old resource version"), "{errors:?}");
}

#[tokio::test]
async fn forced_410_on_a_raw_watch() {
    let (c, client) = cluster("f-410").await;
    let api: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let rv = common::list_rv(&api).await;
    c.faults().expire_next_watches(Scope::all(), 1);
    let mut s = api.watch(&WatchParams::default(), &rv).await.unwrap().boxed();
    common::expect_expired(&mut s, &rv).await;
}

#[tokio::test]
async fn an_outage_closes_the_port_and_the_server_comes_back_with_its_state() {
    let (c, client) = cluster("f-outage").await;
    let api: Api<ConfigMap> = Api::default_namespaced(client.clone());
    api.create(&PostParams::default(), &cm("kept")).await.unwrap();
    let port = c.address().port();
    c.faults().unreachable_for(Duration::from_millis(800));
    // the port refuses connections during the outage
    let deadline = Instant::now() + WAIT;
    loop {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            break;
        }
        assert!(Instant::now() < deadline, "the port never closed");
        tokio::task::yield_now().await;
    }
    let fresh = common::client_for(&c).await;
    assert!(
        Api::<ConfigMap>::default_namespaced(fresh.clone())
            .get("kept")
            .await
            .is_err()
    );
    // and serves again on the same port, with the same objects
    let deadline = Instant::now() + WAIT;
    let back = loop {
        match Api::<ConfigMap>::default_namespaced(fresh.clone())
            .get("kept")
            .await
        {
            Ok(o) => break o,
            Err(_) if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(50)).await,
            Err(e) => panic!("the server did not come back: {e}"),
        }
    };
    assert_eq!(back.metadata.name.as_deref(), Some("kept"));
    assert_eq!(c.address().port(), port);
}

#[tokio::test]
async fn the_admin_endpoint_drives_faults() {
    let (c, _) = cluster("f-endpoint").await;
    let client = client_without_retries(&c).await;
    let post = |body: serde_json::Value| {
        http::Request::post("/hubspoke/faults")
            .header("content-type", "application/json")
            .body(serde_json::to_vec(&body).unwrap())
            .unwrap()
    };
    let ok: serde_json::Value = client
        .request(post(
            json!({"action": "fail", "code": 503, "count": 1, "scope": {"resource": "configmaps"}}),
        ))
        .await
        .unwrap();
    assert_eq!(ok["status"], "Success");
    let listed: serde_json::Value = client
        .request(http::Request::get("/hubspoke/faults").body(vec![]).unwrap())
        .await
        .unwrap();
    assert_eq!(listed["faults"][0]["count"], 1);
    assert_eq!(listed["faults"][0]["action"], "fail");
    let e = api_error(
        Api::<ConfigMap>::default_namespaced(client.clone())
            .list(&ListParams::default())
            .await,
    );
    assert_eq!(e.code, 503);
    let e = api_error(
        client
            .request::<serde_json::Value>(post(json!({"action": "fail", "code": 418})))
            .await,
    );
    assert_eq!(
        (e.code, e.message.as_str()),
        (400, "code: Unsupported value: 418: supported values: 500, 503")
    );
    let e = api_error(
        client
            .request::<serde_json::Value>(post(json!({"action": "meltdown"})))
            .await,
    );
    assert!(
        e.message
            .starts_with("invalid fault command: unknown variant `meltdown`"),
        "{}",
        e.message
    );
    // not for ServiceAccounts
    let token = common::service_account_token(&client, "default", "bot").await;
    let bot = client_with_token(&c, &token).await;
    let e = api_error(
        bot.request::<serde_json::Value>(post(json!({"action": "clear"})))
            .await,
    );
    assert_eq!(e.code, 403);
}
