//! Authentication, ServiceAccount tokens and RBAC through kube-rs, with the 401/403
//! messages a real API server gives.

use crate::common;

use base64::Engine;
use common::{api_error, client_with_token, cluster, settle};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::authentication::v1::{SelfSubjectReview, TokenRequest};
use k8s_openapi::api::authorization::v1::{SelfSubjectAccessReview, SelfSubjectRulesReview};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::runtime::conditions;
use serde_json::{Value, json};

async fn setup_namespace(client: &kube::Client, ns: &str) {
    let api: Api<Namespace> = Api::all(client.clone());
    api.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": ns}})).unwrap(),
    )
    .await
    .unwrap();
}

async fn service_account(client: &kube::Client, ns: &str, name: &str) -> ServiceAccount {
    let api: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
    api.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": name}})).unwrap(),
    )
    .await
    .unwrap()
}

async fn token_for(client: &kube::Client, ns: &str, name: &str, body: Value) -> TokenRequest {
    let api: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
    let tr: TokenRequest = serde_json::from_value(body).unwrap();
    api.create_token_request(name, &PostParams::default(), &tr)
        .await
        .unwrap()
}

fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

async fn create_in<K>(client: &kube::Client, ns: &str, obj: Value) -> K
where
    K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + serde::Serialize,
{
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    api.create(&PostParams::default(), &serde_json::from_value(obj).unwrap())
        .await
        .unwrap()
}

async fn create_cluster<K>(client: &kube::Client, obj: Value) -> K
where
    K: kube::Resource<DynamicType = (), Scope = k8s_openapi::ClusterResourceScope>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + serde::Serialize,
{
    let api: Api<K> = Api::all(client.clone());
    api.create(&PostParams::default(), &serde_json::from_value(obj).unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn token_request_issues_a_bound_token_with_real_claims() {
    let (c, admin) = cluster("tokens").await;
    setup_namespace(&admin, "team").await;
    let sa = service_account(&admin, "team", "bot").await;
    let tr = token_for(&admin, "team", "bot", json!({"spec": {}})).await;
    let status = tr.status.unwrap();
    let cl = claims(&status.token);
    assert_eq!(cl["iss"], "https://kubernetes.default.svc.cluster.local");
    assert_eq!(cl["sub"], "system:serviceaccount:team:bot");
    assert_eq!(cl["aud"], json!(["https://kubernetes.default.svc.cluster.local"]));
    assert_eq!(cl["kubernetes.io"]["namespace"], "team");
    assert_eq!(
        cl["kubernetes.io"]["serviceaccount"]["uid"].as_str(),
        sa.metadata.uid.as_deref()
    );
    assert_eq!(cl["exp"].as_i64().unwrap() - cl["iat"].as_i64().unwrap(), 3600);
    assert_eq!(tr.spec.expiration_seconds, Some(3600));

    // the token authenticates as the ServiceAccount
    let bot = client_with_token(&c, &status.token).await;
    let me: SelfSubjectReview = Api::all(bot.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({})).unwrap(),
        )
        .await
        .unwrap();
    let info = me.status.unwrap().user_info.unwrap();
    assert_eq!(info.username.as_deref(), Some("system:serviceaccount:team:bot"));
    assert_eq!(
        info.groups.unwrap(),
        vec![
            "system:serviceaccounts",
            "system:serviceaccounts:team",
            "system:authenticated"
        ]
    );

    // too short a lifetime is invalid
    let api: Api<ServiceAccount> = Api::namespaced(admin.clone(), "team");
    let short: TokenRequest = serde_json::from_value(json!({"spec": {"expirationSeconds": 60}})).unwrap();
    let e = api_error(
        api.create_token_request("bot", &PostParams::default(), &short)
            .await,
    );
    assert_eq!(e.code, 422);
    assert!(
        e.message.ends_with(
            "spec.expirationSeconds: Invalid value: 60: may not specify a duration less than 10 minutes"
        ),
        "{}",
        e.message
    );
    let e = api_error(
        api.create_token_request("nobody", &PostParams::default(), &short)
            .await,
    );
    assert_eq!(
        (e.code, e.message.as_str()),
        (404, "serviceaccounts \"nobody\" not found")
    );

    // deleting the ServiceAccount revokes its tokens
    api.delete("bot", &DeleteParams::default()).await.unwrap();
    let e = api_error(
        Api::<ConfigMap>::namespaced(bot, "team")
            .list(&ListParams::default())
            .await,
    );
    assert_eq!(
        (e.code, e.reason.as_str(), e.message.as_str()),
        (401, "Unauthorized", "Unauthorized")
    );
}

#[tokio::test]
async fn unauthenticated_requests_get_401_everywhere() {
    let (c, _admin) = cluster("anon").await;
    for token in ["garbage", "a.b.c"] {
        let client = client_with_token(&c, token).await;
        let e = api_error(
            client
                .request_text(http::Request::get("/healthz").body(vec![]).unwrap())
                .await,
        );
        assert_eq!((e.code, e.reason.as_str()), (401, "Unauthorized"));
        let e = api_error(Api::<Namespace>::all(client).list(&ListParams::default()).await);
        assert_eq!(e.code, 401);
    }
}

#[tokio::test]
async fn a_token_webhook_authenticates_tokens_the_cluster_does_not_know() {
    // as EKS's aws-iam-authenticator: a token it maps to an IAM identity and its groups
    let (c, admin) = cluster("webhook").await;
    let token = "k8s-aws-v1.aHR0cHM6Ly9zdHMuZXUtd2VzdC0yLmFtYXpvbmF3cy5jb20v";
    let client = client_with_token(&c, token).await;
    let e = api_error(
        Api::<Namespace>::all(client.clone())
            .list(&ListParams::default())
            .await,
    );
    assert_eq!(e.code, 401);
    c.set_token_webhook(std::sync::Arc::new(move |t: &str| {
        (t == token).then(|| hubspoke_sim::auth::User {
            name: "arn:aws:iam::123456789012:role/hubspoke-argocd-spoke-spoke".into(),
            uid: "aws-iam-authenticator:123456789012:AROAEXAMPLE".into(),
            groups: vec!["system:authenticated".into()],
            extra: Default::default(),
        })
    }));
    let who = Api::<SelfSubjectReview>::all(client.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({})).unwrap(),
        )
        .await
        .unwrap();
    let info = who.status.unwrap().user_info.unwrap();
    assert_eq!(
        info.username.as_deref(),
        Some("arn:aws:iam::123456789012:role/hubspoke-argocd-spoke-spoke")
    );
    // authenticated but not authorized until an access policy (a binding) says so
    let e = api_error(
        Api::<Namespace>::all(client.clone())
            .list(&ListParams::default())
            .await,
    );
    assert_eq!(e.code, 403);
    // TokenReview asks the same authenticators
    let review: k8s_openapi::api::authentication::v1::TokenReview = Api::all(admin.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"spec": {"token": token}})).unwrap(),
        )
        .await
        .unwrap();
    let status = review.status.unwrap();
    assert_eq!(status.authenticated, Some(true));
    assert_eq!(
        status.user.unwrap().username.as_deref(),
        Some("arn:aws:iam::123456789012:role/hubspoke-argocd-spoke-spoke")
    );
    // a token it does not know is still refused
    let other = client_with_token(&c, "k8s-aws-v1.b3RoZXI").await;
    let e = api_error(Api::<Namespace>::all(other).list(&ListParams::default()).await);
    assert_eq!(e.code, 401);
}

#[tokio::test]
async fn roles_are_namespaced_and_cluster_roles_cluster_wide() {
    let (c, admin) = cluster("rbac").await;
    setup_namespace(&admin, "team").await;
    setup_namespace(&admin, "other").await;
    service_account(&admin, "team", "bot").await;
    let token = token_for(&admin, "team", "bot", json!({"spec": {}}))
        .await
        .status
        .unwrap()
        .token;
    let bot = client_with_token(&c, &token).await;
    let team_cms: Api<ConfigMap> = Api::namespaced(bot.clone(), "team");
    let e = api_error(team_cms.list(&ListParams::default()).await);
    assert_eq!((e.code, e.reason.as_str()), (403, "Forbidden"));
    assert_eq!(
        e.message,
        "configmaps is forbidden: User \"system:serviceaccount:team:bot\" cannot list resource \"configmaps\" in API group \"\" in the namespace \"team\""
    );

    // a Role + RoleBinding in team: allowed there only
    let _: Role = create_in(&admin, "team", json!({"metadata": {"name": "cm-reader"}, "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"]}]})).await;
    let _: RoleBinding = create_in(
        &admin,
        "team",
        json!({
            "metadata": {"name": "bot-reads"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "cm-reader"},
            "subjects": [{"kind": "ServiceAccount", "name": "bot", "namespace": "team"}],
        }),
    )
    .await;
    let names: Vec<String> = team_cms
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|c| c.metadata.name.unwrap())
        .collect();
    assert_eq!(names, vec!["kube-root-ca.crt"]);
    let e = api_error(
        Api::<ConfigMap>::namespaced(bot.clone(), "other")
            .list(&ListParams::default())
            .await,
    );
    assert!(e.message.ends_with("in the namespace \"other\""), "{}", e.message);
    let e = api_error(
        team_cms
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({"metadata": {"name": "x"}})).unwrap(),
            )
            .await,
    );
    assert_eq!(
        e.message,
        "configmaps is forbidden: User \"system:serviceaccount:team:bot\" cannot create resource \"configmaps\" in API group \"\" in the namespace \"team\""
    );

    // a ClusterRoleBinding to view: reads everywhere (not secrets), writes nowhere
    let _: ClusterRoleBinding = create_cluster(
        &admin,
        json!({
            "metadata": {"name": "bot-views"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "ServiceAccount", "name": "bot", "namespace": "team"}],
        }),
    )
    .await;
    Api::<Deployment>::all(bot.clone())
        .list(&ListParams::default())
        .await
        .unwrap();
    Api::<ConfigMap>::namespaced(bot.clone(), "other")
        .list(&ListParams::default())
        .await
        .unwrap();
    let e = api_error(Api::<Secret>::namespaced(bot.clone(), "other").get("x").await);
    assert_eq!(
        e.message,
        "secrets \"x\" is forbidden: User \"system:serviceaccount:team:bot\" cannot get resource \"secrets\" in API group \"\" in the namespace \"other\""
    );
    let e = api_error(
        Api::<Namespace>::all(bot.clone())
            .delete("other", &DeleteParams::default())
            .await,
    );
    assert_eq!(
        e.message,
        "namespaces \"other\" is forbidden: User \"system:serviceaccount:team:bot\" cannot delete resource \"namespaces\" in API group \"\" at the cluster scope"
    );
    // a binding to a role that does not exist shows in the reason
    let _: RoleBinding = create_in(
        &admin,
        "other",
        json!({
            "metadata": {"name": "dangling"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "missing"},
            "subjects": [{"kind": "ServiceAccount", "name": "bot", "namespace": "team"}],
        }),
    )
    .await;
    let e = api_error(
        Api::<Secret>::namespaced(bot, "other")
            .list(&ListParams::default())
            .await,
    );
    assert!(
        e.message
            .ends_with(": RBAC: role.rbac.authorization.k8s.io \"missing\" not found"),
        "{}",
        e.message
    );
}

#[tokio::test]
async fn subresources_resource_names_groups_and_users() {
    let (c, admin) = cluster("rbac-fine").await;
    setup_namespace(&admin, "team").await;
    service_account(&admin, "team", "bot").await;
    let token = token_for(&admin, "team", "bot", json!({"spec": {}}))
        .await
        .status
        .unwrap()
        .token;
    let bot = client_with_token(&c, &token).await;
    let _: ClusterRole = create_cluster(
        &admin,
        json!({"metadata": {"name": "status-and-one-cm"}, "rules": [
            {"apiGroups": ["apps"], "resources": ["deployments/status"], "verbs": ["get"]},
            {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"], "resourceNames": ["allowed"]},
        ]}),
    )
    .await;
    // bound to the group of all ServiceAccounts in team
    let _: RoleBinding = create_in(&admin, "team", json!({
        "metadata": {"name": "sa-group"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "status-and-one-cm"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:serviceaccounts:team"}],
    }))
    .await;
    let deploys: Api<Deployment> = Api::namespaced(admin.clone(), "team");
    deploys
        .create(&PostParams::default(), &serde_json::from_value(json!({
            "metadata": {"name": "web"},
            "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]}}},
        })).unwrap())
        .await
        .unwrap();
    let bot_deploys: Api<Deployment> = Api::namespaced(bot.clone(), "team");
    bot_deploys.get_status("web").await.unwrap();
    let e = api_error(bot_deploys.get("web").await);
    assert_eq!(
        e.message,
        "deployments.apps \"web\" is forbidden: User \"system:serviceaccount:team:bot\" cannot get resource \"deployments\" in API group \"apps\" in the namespace \"team\""
    );
    let cms: Api<ConfigMap> = Api::namespaced(admin.clone(), "team");
    for n in ["allowed", "denied"] {
        cms.create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": n}})).unwrap(),
        )
        .await
        .unwrap();
    }
    let bot_cms: Api<ConfigMap> = Api::namespaced(bot.clone(), "team");
    bot_cms.get("allowed").await.unwrap();
    assert_eq!(api_error(bot_cms.get("denied").await).code, 403);
    // SelfSubjectAccessReview answers with the reason
    let ssar: SelfSubjectAccessReview = Api::all(bot.clone())
        .create(&PostParams::default(), &serde_json::from_value(json!({"spec": {"resourceAttributes": {
            "namespace": "team", "verb": "get", "group": "apps", "resource": "deployments", "subresource": "status", "name": "web"
        }}})).unwrap())
        .await
        .unwrap();
    let st = ssar.status.unwrap();
    assert!(st.allowed);
    assert_eq!(
        st.reason.as_deref(),
        Some(
            "RBAC: allowed by RoleBinding \"sa-group/team\" of ClusterRole \"status-and-one-cm\" to Group \"system:serviceaccounts:team\""
        )
    );
    let ssar: SelfSubjectAccessReview = Api::all(bot.clone())
        .create(&PostParams::default(), &serde_json::from_value(json!({"spec": {"resourceAttributes": {"namespace": "team", "verb": "delete", "resource": "configmaps"}}})).unwrap())
        .await
        .unwrap();
    assert!(!ssar.status.unwrap().allowed);
    let rules: SelfSubjectRulesReview = Api::all(bot)
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"spec": {"namespace": "team"}})).unwrap(),
        )
        .await
        .unwrap();
    let rr = rules.status.unwrap().resource_rules;
    assert!(
        rr.iter().any(|r| r
            .resources
            .as_ref()
            .is_some_and(|x| x.contains(&"deployments/status".to_string()))),
        "{rr:?}"
    );
}

#[tokio::test]
async fn legacy_token_secrets_are_filled_and_revoked_with_the_secret() {
    let (c, admin) = cluster("legacy").await;
    setup_namespace(&admin, "argocd").await;
    service_account(&admin, "argocd", "argocd-manager").await;
    let secrets: Api<Secret> = Api::namespaced(admin.clone(), "argocd");
    secrets
        .create(&PostParams::default(), &serde_json::from_value(json!({
            "metadata": {"name": "argocd-manager-token", "annotations": {"kubernetes.io/service-account.name": "argocd-manager"}},
            "type": "kubernetes.io/service-account-token",
        })).unwrap())
        .await
        .unwrap();
    settle(&secrets, "argocd-manager-token", |s: Option<&Secret>| {
        s.and_then(|s| s.data.as_ref())
            .is_some_and(|d| d.contains_key("token"))
    })
    .await;
    let s = secrets.get("argocd-manager-token").await.unwrap();
    let data = s.data.unwrap();
    assert_eq!(String::from_utf8(data["ca.crt"].0.clone()).unwrap(), c.ca_pem());
    assert_eq!(String::from_utf8(data["namespace"].0.clone()).unwrap(), "argocd");
    let token = String::from_utf8(data["token"].0.clone()).unwrap();
    let cl = claims(&token);
    assert_eq!(cl["iss"], "kubernetes/serviceaccount");
    assert_eq!(
        cl["kubernetes.io/serviceaccount/secret.name"],
        "argocd-manager-token"
    );
    assert!(cl.get("exp").is_none(), "legacy tokens do not expire");
    assert!(
        s.metadata
            .annotations
            .unwrap()
            .contains_key("kubernetes.io/service-account.uid")
    );

    // a second client uses it (cluster-admin, as argocd cluster add binds it)
    let _: ClusterRoleBinding = create_cluster(&admin, json!({
        "metadata": {"name": "argocd-manager-role-binding"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"kind": "ServiceAccount", "name": "argocd-manager", "namespace": "argocd"}],
    }))
    .await;
    let remote = client_with_token(&c, &token).await;
    Api::<Namespace>::all(remote.clone())
        .list(&ListParams::default())
        .await
        .unwrap();
    // deleting the Secret revokes the token
    secrets
        .delete("argocd-manager-token", &DeleteParams::default())
        .await
        .unwrap();
    let e = api_error(Api::<Namespace>::all(remote).list(&ListParams::default()).await);
    assert_eq!(e.code, 401);
    // a token Secret for a ServiceAccount that does not exist is removed
    secrets
        .create(&PostParams::default(), &serde_json::from_value(json!({
            "metadata": {"name": "orphan-token", "annotations": {"kubernetes.io/service-account.name": "ghost"}},
            "type": "kubernetes.io/service-account-token",
        })).unwrap())
        .await
        .unwrap();
    settle(&secrets, "orphan-token", conditions::is_deleted("")).await;
}

#[tokio::test]
async fn namespaces_get_a_default_service_account_and_the_root_ca() {
    let (c, admin) = cluster("nsdefaults").await;
    setup_namespace(&admin, "fresh").await;
    let cms: Api<ConfigMap> = Api::namespaced(admin.clone(), "fresh");
    settle(&cms, "kube-root-ca.crt", |o: Option<&ConfigMap>| o.is_some()).await;
    let ca = cms.get("kube-root-ca.crt").await.unwrap();
    assert_eq!(ca.data.unwrap()["ca.crt"], c.ca_pem());
    let sas: Api<ServiceAccount> = Api::namespaced(admin.clone(), "fresh");
    settle(&sas, "default", |o: Option<&ServiceAccount>| o.is_some()).await;
    // deleted, they come back
    cms.delete("kube-root-ca.crt", &DeleteParams::default())
        .await
        .unwrap();
    sas.delete("default", &DeleteParams::default()).await.unwrap();
    settle(&cms, "kube-root-ca.crt", |o: Option<&ConfigMap>| o.is_some()).await;
    settle(&sas, "default", |o: Option<&ServiceAccount>| o.is_some()).await;
}

#[tokio::test]
async fn impersonation_needs_permission() {
    let (c, admin) = cluster("impersonate").await;
    setup_namespace(&admin, "team").await;
    service_account(&admin, "team", "bot").await;
    // the admin acts as the bot
    let mut cfg = kube::Config::from_custom_kubeconfig(
        kube::config::Kubeconfig::from_yaml(&c.kubeconfig_yaml()).unwrap(),
        &Default::default(),
    )
    .await
    .unwrap();
    cfg.auth_info.impersonate = Some("system:serviceaccount:team:bot".into());
    let as_bot = kube::Client::try_from(cfg).unwrap();
    let e = api_error(
        Api::<ConfigMap>::namespaced(as_bot, "team")
            .list(&ListParams::default())
            .await,
    );
    assert!(
        e.message
            .contains("User \"system:serviceaccount:team:bot\" cannot list"),
        "{}",
        e.message
    );
    // the bot may not impersonate anyone
    let token = token_for(&admin, "team", "bot", json!({"spec": {}}))
        .await
        .status
        .unwrap()
        .token;
    let mut cfg = kube::Config::from_custom_kubeconfig(
        kube::config::Kubeconfig::from_yaml(&c.kubeconfig_yaml().replace(c.admin_token(), &token)).unwrap(),
        &Default::default(),
    )
    .await
    .unwrap();
    cfg.auth_info.impersonate = Some("alice".into());
    let e = api_error(
        Api::<ConfigMap>::namespaced(kube::Client::try_from(cfg).unwrap(), "team")
            .list(&ListParams::default())
            .await,
    );
    assert_eq!(
        e.message,
        "users \"alice\" is forbidden: User \"system:serviceaccount:team:bot\" cannot impersonate resource \"users\" in API group \"\" at the cluster scope"
    );
}

#[tokio::test]
async fn aggregated_roles_pick_up_labelled_roles() {
    let (_c, admin) = cluster("aggregate").await;
    let roles: Api<ClusterRole> = Api::all(admin.clone());
    let view = roles.get("view").await.unwrap();
    assert!(view.rules.unwrap_or_default().iter().any(|r| {
        r.resources
            .as_ref()
            .is_some_and(|x| x.contains(&"pods".to_string()))
    }));
    let _: ClusterRole = create_cluster(&admin, json!({
        "metadata": {"name": "widgets-view", "labels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"}},
        "rules": [{"apiGroups": ["example.com"], "resources": ["widgets"], "verbs": ["get", "list", "watch"]}],
    }))
    .await;
    let has_widget_rules = |r: Option<&ClusterRole>| {
        r.and_then(|r| r.rules.as_ref()).is_some_and(|rules| {
            rules.iter().any(|x| {
                x.api_groups
                    .as_ref()
                    .is_some_and(|g| g.iter().any(|g| g == "example.com"))
            })
        })
    };
    settle(&roles, "view", has_widget_rules).await;
    // edit aggregates view, admin aggregates edit
    settle(&roles, "admin", has_widget_rules).await;
}
