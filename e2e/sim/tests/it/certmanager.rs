//! The cert-manager stand-in against the emulator: a selfSigned ClusterIssuer issues a CA,
//! a ca Issuer signs a Service's certificate with it, every object carries the conditions
//! cert-manager v1.21 writes, the Secret is what cert-manager applies and its chain verifies;
//! unsupported and missing issuers, a CA issuer without its Secret, reissuance after the
//! Secret is deleted or the spec changes.

use crate::common;

use std::sync::Arc;

use common::{cluster, settle};
use hubspoke_sim::standins::argocd::health::{Health, assess};
use hubspoke_sim::standins::certmanager::{CERT_MANAGER_VERSION, CertManagerOptions, CertManagerStandIn};
use k8s_openapi::api::core::v1::{Namespace, Secret, Service};
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::{Client, ResourceExt};
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use serde_json::{Value, json};

fn ar(kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("cert-manager.io", "v1", kind), plural)
}

fn certs(c: &Client, ns: &str) -> Api<DynamicObject> {
    Api::namespaced_with(c.clone(), ns, &ar("Certificate", "certificates"))
}

fn requests(c: &Client, ns: &str) -> Api<DynamicObject> {
    Api::namespaced_with(c.clone(), ns, &ar("CertificateRequest", "certificaterequests"))
}

fn issuers(c: &Client, ns: &str) -> Api<DynamicObject> {
    Api::namespaced_with(c.clone(), ns, &ar("Issuer", "issuers"))
}

fn cluster_issuers(c: &Client) -> Api<DynamicObject> {
    Api::all_with(c.clone(), &ar("ClusterIssuer", "clusterissuers"))
}

async fn start(name: &str) -> (hubspoke_sim::SimCluster, Client, CertManagerStandIn) {
    let (c, client) = cluster(name).await;
    let cm = CertManagerStandIn::install(client.clone(), CertManagerOptions::default())
        .await
        .unwrap();
    for ns in ["cert-manager", "shop"] {
        let n: Namespace = serde_json::from_value(json!({"metadata": {"name": ns}})).unwrap();
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &n)
            .await
            .unwrap();
    }
    (c, client, cm)
}

async fn create(api: &Api<DynamicObject>, kind: &str, obj: Value) -> String {
    let mut o: DynamicObject = serde_json::from_value(obj).unwrap();
    o.types = Some(kube::core::TypeMeta {
        api_version: "cert-manager.io/v1".into(),
        kind: kind.into(),
    });
    let name = o.name_any();
    api.create(&PostParams::default(), &o).await.unwrap();
    name
}

fn as_json(o: &DynamicObject) -> Value {
    serde_json::to_value(o).unwrap()
}

/// A condition's (status, reason, message), message "" when absent.
fn cond(o: &Value, kind: &str) -> Option<(String, String, String)> {
    let c = o
        .pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)?;
    let s = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    Some((s("status"), s("reason"), s("message")))
}

fn triple(status: &str, reason: &str, message: &str) -> Option<(String, String, String)> {
    Some((status.into(), reason.into(), message.into()))
}

/// Waits until the object's `kind` condition has `status`, then returns the object.
async fn wait_condition(api: &Api<DynamicObject>, name: &str, kind: &str, status: &str) -> Value {
    let (k, s) = (kind.to_string(), status.to_string());
    settle(api, name, move |o: Option<&DynamicObject>| {
        o.and_then(|o| cond(&as_json(o), &k)).is_some_and(|c| c.0 == s)
    })
    .await;
    as_json(&api.get(name).await.unwrap())
}

fn ready_message(o: &Value) -> String {
    cond(o, "Ready").map(|c| c.2).unwrap_or_default()
}

const READY: &str = "Certificate is up to date and has not expired";

fn secret_text(s: &Secret, key: &str) -> String {
    String::from_utf8(s.data.as_ref().unwrap()[key].0.clone()).unwrap()
}

/// Verifies `chain` (leaf first) for `host` as a TLS client trusting only `ca`.
fn verify(chain: &str, ca: &str, host: &str) -> Result<(), rustls::Error> {
    hubspoke_sim::tls::install_crypto_provider();
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let verifier = rustls::client::WebPkiServerVerifier::builder(Arc::new(roots))
        .build()
        .unwrap();
    let certs: Vec<CertificateDer> = CertificateDer::pem_slice_iter(chain.as_bytes())
        .map(Result::unwrap)
        .collect();
    verifier
        .verify_server_cert(
            &certs[0],
            &certs[1..],
            &ServerName::try_from(host.to_string()).unwrap(),
            &[],
            UnixTime::now(),
        )
        .map(|_| ())
}

fn time(o: &Value, field: &str) -> i64 {
    let s = o["status"][field]
        .as_str()
        .unwrap_or_else(|| panic!("status.{field} in {o}"));
    s.parse::<jiff::Timestamp>().unwrap().as_second()
}

#[tokio::test]
async fn a_ca_chain_is_issued_as_cert_manager_issues_it() {
    let (_c, client, _cm) = start("cm-chain").await;
    let shop_certs = certs(&client, "shop");
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "shop");

    // selfSigned ClusterIssuer: Ready, IsReady, no message
    create(
        &cluster_issuers(&client),
        "ClusterIssuer",
        json!({"metadata": {"name": "selfsigned"}, "spec": {"selfSigned": {}}}),
    )
    .await;
    let ss = wait_condition(&cluster_issuers(&client), "selfsigned", "Ready", "True").await;
    let c = &ss["status"]["conditions"][0];
    assert_eq!(
        (
            c["reason"].as_str(),
            c.get("message"),
            c["observedGeneration"].as_i64()
        ),
        (Some("IsReady"), None, Some(1))
    );
    assert!(c["lastTransitionTime"].is_string());

    // the CA Issuer first: not Ready until its Secret exists
    create(
        &issuers(&client, "shop"),
        "Issuer",
        json!({"metadata": {"name": "shop-ca"}, "spec": {"ca": {"secretName": "shop-ca"}}}),
    )
    .await;
    let iss = wait_condition(&issuers(&client, "shop"), "shop-ca", "Ready", "False").await;
    assert_eq!(
        cond(&iss, "Ready"),
        triple(
            "False",
            "ErrGetKeyPair",
            "Error getting keypair for CA issuer: secrets \"shop-ca\" not found"
        )
    );

    // the CA, self-signed
    create(
        &shop_certs,
        "Certificate",
        json!({"metadata": {"name": "shop-ca"}, "spec": {
            "isCA": true, "commonName": "shop-ca", "secretName": "shop-ca",
            "privateKey": {"algorithm": "ECDSA", "size": 256},
            "issuerRef": {"name": "selfsigned", "kind": "ClusterIssuer", "group": "cert-manager.io"},
        }}),
    )
    .await;
    let ca = wait_condition(&shop_certs, "shop-ca", "Ready", "True").await;
    assert_eq!(cond(&ca, "Ready"), triple("True", "Ready", READY));
    assert!(
        cond(&ca, "Issuing").is_none(),
        "no Issuing condition once issued: {ca}"
    );
    assert_eq!(ca["status"]["revision"], 1);
    let (nb, na, renew) = (
        time(&ca, "notBefore"),
        time(&ca, "notAfter"),
        time(&ca, "renewalTime"),
    );
    assert_eq!(na - nb, 90 * 24 * 3600, "the default duration");
    assert_eq!(renew, na - 30 * 24 * 3600, "renewed two thirds through");
    let ca_secret = secrets.get("shop-ca").await.unwrap();
    assert_eq!(
        secret_text(&ca_secret, "ca.crt"),
        secret_text(&ca_secret, "tls.crt"),
        "a self-signed certificate is its own CA"
    );
    assert!(secret_text(&ca_secret, "tls.key").starts_with("-----BEGIN EC PRIVATE KEY-----\n"));

    // the Issuer verifies the CA once the Secret exists
    let iss = wait_condition(&issuers(&client, "shop"), "shop-ca", "Ready", "True").await;
    assert_eq!(
        cond(&iss, "Ready"),
        triple("True", "KeyPairVerified", "Signing CA verified")
    );

    // a Service and its certificate
    let svc: Service = serde_json::from_value(json!({"metadata": {"name": "web"},
        "spec": {"ports": [{"port": 443, "targetPort": 8443}], "selector": {"app": "web"}}}))
    .unwrap();
    Api::<Service>::namespaced(client.clone(), "shop")
        .create(&PostParams::default(), &svc)
        .await
        .unwrap();
    let names = ["web", "web.shop", "web.shop.svc", "web.shop.svc.cluster.local"];
    create(
        &shop_certs,
        "Certificate",
        json!({"metadata": {"name": "web", "annotations": {"team": "shop", "kubectl.kubernetes.io/last-applied-configuration": "{}"}},
            "spec": {
            "secretName": "web-tls", "dnsNames": names,
            "usages": ["digital signature", "key encipherment", "server auth"],
            "issuerRef": {"name": "shop-ca", "kind": "Issuer"},
            "secretTemplate": {"labels": {"app": "web"}, "annotations": {"reflector/allowed": "true"}},
        }}),
    )
    .await;
    let web = wait_condition(&shop_certs, "web", "Ready", "True").await;
    assert_eq!(cond(&web, "Ready"), triple("True", "Ready", READY));
    assert_eq!(web["status"]["revision"], 1);
    // the key manager then drops the temporary key
    settle(&shop_certs, "web", |o: Option<&DynamicObject>| {
        o.is_some_and(|o| {
            as_json(o)["status"]
                .get("nextPrivateKeySecretName")
                .is_none_or(Value::is_null)
        })
    })
    .await;

    let tls = secrets.get("web-tls").await.unwrap();
    assert_eq!(tls.type_.as_deref(), Some("kubernetes.io/tls"));
    let annotations = tls.metadata.annotations.clone().unwrap();
    let want: std::collections::BTreeMap<String, String> = [
        (
            "cert-manager.io/alt-names",
            "web,web.shop,web.shop.svc,web.shop.svc.cluster.local",
        ),
        ("cert-manager.io/certificate-name", "web"),
        ("cert-manager.io/common-name", ""),
        ("cert-manager.io/ip-sans", ""),
        ("cert-manager.io/issuer-group", ""),
        ("cert-manager.io/issuer-kind", "Issuer"),
        ("cert-manager.io/issuer-name", "shop-ca"),
        ("cert-manager.io/uri-sans", ""),
        ("reflector/allowed", "true"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(annotations, want);
    let labels = tls.metadata.labels.clone().unwrap();
    assert_eq!(
        labels.get("controller.cert-manager.io/fao").map(String::as_str),
        Some("true")
    );
    assert_eq!(labels.get("app").map(String::as_str), Some("web"));
    assert!(
        tls.metadata
            .managed_fields
            .iter()
            .flatten()
            .any(
                |m| m.manager.as_deref() == Some("cert-manager-certificates-issuing")
                    && m.operation.as_deref() == Some("Apply")
            ),
        "applied by the issuing controller"
    );
    assert!(
        secret_text(&tls, "tls.key").starts_with("-----BEGIN RSA PRIVATE KEY-----\n"),
        "RSA, PKCS#1 by default"
    );
    let (chain, ca_crt) = (secret_text(&tls, "tls.crt"), secret_text(&tls, "ca.crt"));
    assert_eq!(
        ca_crt,
        secret_text(&ca_secret, "tls.crt"),
        "ca.crt is the CA's certificate"
    );
    assert_eq!(
        CertificateDer::pem_slice_iter(chain.as_bytes()).count(),
        1,
        "the leaf alone"
    );
    for host in names {
        verify(&chain, &ca_crt, host).unwrap_or_else(|e| panic!("{host}: {e}"));
    }
    assert!(verify(&chain, &ca_crt, "api.shop.svc").is_err());

    // its request, approved and issued
    let cr = as_json(&requests(&client, "shop").get("web-1").await.unwrap());
    assert_eq!(
        cond(&cr, "Approved"),
        triple(
            "True",
            "cert-manager.io",
            "Certificate request has been approved by cert-manager.io"
        )
    );
    assert_eq!(
        cond(&cr, "Ready"),
        triple("True", "Issued", "Certificate fetched from issuer successfully")
    );
    assert_eq!(
        cr["metadata"]["annotations"]["cert-manager.io/certificate-revision"],
        "1"
    );
    assert_eq!(
        cr["metadata"]["annotations"]["cert-manager.io/certificate-name"],
        "web"
    );
    assert_eq!(
        cr["metadata"]["annotations"]["team"], "shop",
        "the Certificate's annotations are copied"
    );
    assert!(
        cr["metadata"]["annotations"]
            .get("kubectl.kubernetes.io/last-applied-configuration")
            .is_none()
    );
    assert_eq!(cr["metadata"]["ownerReferences"][0]["name"], "web");
    assert_eq!(
        cr["spec"]["issuerRef"],
        json!({"name": "shop-ca", "kind": "Issuer"})
    );
    assert_eq!(
        cr["spec"]["usages"],
        json!(["digital signature", "key encipherment", "server auth"])
    );
    // and its Secret
    let left: Vec<String> = secrets
        .list(&kube::api::ListParams::default().labels("cert-manager.io/next-private-key=true"))
        .await
        .unwrap()
        .items
        .iter()
        .map(|s| s.name_any())
        .collect();
    assert!(left.is_empty(), "{left:?}");

    // Argo CD reads them as Healthy
    for (o, message) in [(&web, READY), (&iss, "Signing CA verified"), (&ss, "")] {
        let h = assess(o).unwrap();
        assert_eq!((h.status, h.message.as_str()), (Health::Healthy, message));
    }

    // deleting the Secret reissues it: revision 2, a new key, the old request collected
    secrets.delete("web-tls", &DeleteParams::default()).await.unwrap();
    settle(&shop_certs, "web", |o: Option<&DynamicObject>| {
        o.is_some_and(|o| {
            let v = as_json(o);
            v["status"]["revision"] == 2 && cond(&v, "Ready").is_some_and(|c| c.0 == "True")
        })
    })
    .await;
    let again = secrets.get("web-tls").await.unwrap();
    assert_ne!(
        secret_text(&again, "tls.key"),
        secret_text(&tls, "tls.key"),
        "rotationPolicy Always"
    );
    verify(&secret_text(&again, "tls.crt"), &ca_crt, "web.shop.svc").unwrap();
    let reqs = requests(&client, "shop");
    settle(&reqs, "web-1", |o: Option<&DynamicObject>| o.is_none()).await;
    assert!(reqs.get_opt("web-2").await.unwrap().is_some());

    // a new DNS name reissues too
    certs(&client, "shop")
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"dnsNames": ["web.shop.svc", "www.shop.example"]}})),
        )
        .await
        .unwrap();
    settle(&shop_certs, "web", |o: Option<&DynamicObject>| {
        o.is_some_and(|o| {
            let v = as_json(o);
            v["status"]["revision"] == 3 && cond(&v, "Ready").is_some_and(|c| c.0 == "True")
        })
    })
    .await;
    let third = secrets.get("web-tls").await.unwrap();
    assert_eq!(
        third.metadata.annotations.as_ref().unwrap()["cert-manager.io/alt-names"],
        "web.shop.svc,www.shop.example"
    );
    verify(&secret_text(&third, "tls.crt"), &ca_crt, "www.shop.example").unwrap();

    // a changed secretTemplate is applied to the Secret without reissuing
    certs(&client, "shop")
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"secretTemplate": {"labels": {"app": "web", "tier": "edge"}, "annotations": null}}})),
        )
        .await
        .unwrap();
    settle(&secrets, "web-tls", |o: Option<&Secret>| {
        o.is_some_and(|s| {
            s.metadata
                .labels
                .as_ref()
                .is_some_and(|l| l.get("tier").map(String::as_str) == Some("edge"))
                && s.metadata
                    .annotations
                    .as_ref()
                    .is_some_and(|a| !a.contains_key("reflector/allowed"))
        })
    })
    .await;
    let fourth = secrets.get("web-tls").await.unwrap();
    assert_eq!(
        secret_text(&fourth, "tls.crt"),
        secret_text(&third, "tls.crt"),
        "not reissued"
    );
    assert_eq!(shop_certs.get("web").await.unwrap().data["status"]["revision"], 3);
}

#[tokio::test]
async fn issuers_the_sim_does_not_issue_from_and_missing_issuers() {
    let (_c, client, _cm) = start("cm-unsupported").await;
    let shop_certs = certs(&client, "shop");

    create(
        &issuers(&client, "shop"),
        "Issuer",
        json!({"metadata": {"name": "letsencrypt"}, "spec": {"acme": {
            "server": "https://acme-v02.api.letsencrypt.org/directory", "email": "ops@example.com",
            "privateKeySecretRef": {"name": "letsencrypt-account"},
            "solvers": [{"http01": {"ingress": {"ingressClassName": "nginx"}}}],
        }}}),
    )
    .await;
    let acme = wait_condition(&issuers(&client, "shop"), "letsencrypt", "Ready", "False").await;
    let message = format!(
        "the hubspoke sim does not issue certificates from acme issuers (its cert-manager {CERT_MANAGER_VERSION} stand-in issues from selfSigned and ca issuers only)"
    );
    assert_eq!(
        cond(&acme, "Ready"),
        triple("False", "UnsupportedIssuerType", &message)
    );
    let h = assess(&acme).unwrap();
    assert_eq!((h.status, h.message), (Health::Degraded, message));

    // a Certificate of the acme issuer waits on an issuer that is not Ready
    create(
        &shop_certs,
        "Certificate",
        json!({"metadata": {"name": "public"}, "spec": {"secretName": "public-tls", "dnsNames": ["shop.example.com"],
            "issuerRef": {"name": "letsencrypt"}}}),
    )
    .await;
    let reqs = requests(&client, "shop");
    settle(&reqs, "public-1", |o: Option<&DynamicObject>| {
        o.and_then(|o| cond(&as_json(o), "Ready"))
            .is_some_and(|c| c.1 == "Pending")
    })
    .await;
    let cr = as_json(&reqs.get("public-1").await.unwrap());
    assert_eq!(
        cond(&cr, "Ready"),
        triple(
            "False",
            "Pending",
            "Referenced issuer does not have a Ready status condition"
        )
    );

    // a Certificate of an issuer that does not exist
    create(
        &shop_certs,
        "Certificate",
        json!({"metadata": {"name": "orphan"}, "spec": {"secretName": "orphan-tls", "commonName": "orphan.shop.svc",
            "issuerRef": {"name": "missing"}}}),
    )
    .await;
    settle(&reqs, "orphan-1", |o: Option<&DynamicObject>| {
        o.and_then(|o| cond(&as_json(o), "Ready"))
            .is_some_and(|c| c.1 == "Pending")
    })
    .await;
    let cr = as_json(&reqs.get("orphan-1").await.unwrap());
    assert_eq!(
        cond(&cr, "Ready"),
        triple(
            "False",
            "Pending",
            "Referenced \"Issuer\" not found: issuer.cert-manager.io \"missing\" not found"
        )
    );
    assert_eq!(cond(&cr, "Approved").unwrap().0, "True");
    let orphan = as_json(&shop_certs.get("orphan").await.unwrap());
    let waiting = "Issuing certificate as Secret does not exist";
    assert_eq!(cond(&orphan, "Issuing"), triple("True", "DoesNotExist", waiting));
    settle(&shop_certs, "orphan", |o: Option<&DynamicObject>| {
        o.and_then(|o| cond(&as_json(o), "Ready")).is_some()
    })
    .await;
    let orphan = as_json(&shop_certs.get("orphan").await.unwrap());
    assert_eq!(cond(&orphan, "Ready"), triple("False", "DoesNotExist", waiting));
    assert!(orphan["status"]["nextPrivateKeySecretName"].is_string());
    let h = assess(&orphan).unwrap();
    assert_eq!((h.status, h.message.as_str()), (Health::Progressing, waiting));

    // the issuer appears: the waiting request is signed
    create(
        &issuers(&client, "shop"),
        "Issuer",
        json!({"metadata": {"name": "missing"}, "spec": {"selfSigned": {}}}),
    )
    .await;
    let orphan = wait_condition(&shop_certs, "orphan", "Ready", "True").await;
    assert_eq!(ready_message(&orphan), READY);
    let tls = Api::<Secret>::namespaced(client.clone(), "shop")
        .get("orphan-tls")
        .await
        .unwrap();
    assert_eq!(
        tls.metadata.annotations.unwrap()["cert-manager.io/common-name"],
        "orphan.shop.svc"
    );
}

#[tokio::test]
async fn a_ca_issuer_checks_its_secret() {
    let (_c, client, _cm) = start("cm-ca-secret").await;
    // a ClusterIssuer's Secret lives in the cluster resource namespace
    create(
        &cluster_issuers(&client),
        "ClusterIssuer",
        json!({"metadata": {"name": "root"}, "spec": {"selfSigned": {}}}),
    )
    .await;
    let cm_certs = certs(&client, "cert-manager");
    create(
        &cm_certs,
        "Certificate",
        json!({"metadata": {"name": "leaf"}, "spec": {"secretName": "leaf", "commonName": "leaf",
            "privateKey": {"algorithm": "Ed25519"}, "issuerRef": {"name": "root", "kind": "ClusterIssuer"}}}),
    )
    .await;
    wait_condition(&cm_certs, "leaf", "Ready", "True").await;
    create(
        &cluster_issuers(&client),
        "ClusterIssuer",
        json!({"metadata": {"name": "not-a-ca"}, "spec": {"ca": {"secretName": "leaf"}}}),
    )
    .await;
    let iss = wait_condition(&cluster_issuers(&client), "not-a-ca", "Ready", "False").await;
    assert_eq!(iss["status"]["conditions"].as_array().unwrap().len(), 1);
    assert_eq!(
        cond(&iss, "Ready"),
        triple(
            "False",
            "ErrInvalidKeyPair",
            "Error getting keypair for CA issuer: certificate is not a CA"
        )
    );
    // a CA there signs for every namespace through a ClusterIssuer
    create(
        &cm_certs,
        "Certificate",
        json!({"metadata": {"name": "platform-ca"}, "spec": {"secretName": "platform-ca", "commonName": "platform-ca",
            "isCA": true, "privateKey": {"algorithm": "RSA", "size": 3072, "encoding": "PKCS8"},
            "issuerRef": {"name": "root", "kind": "ClusterIssuer"}}}),
    )
    .await;
    create(
        &cluster_issuers(&client),
        "ClusterIssuer",
        json!({"metadata": {"name": "platform"}, "spec": {"ca": {"secretName": "platform-ca"}}}),
    )
    .await;
    let platform = wait_condition(&cluster_issuers(&client), "platform", "Ready", "True").await;
    assert_eq!(
        cond(&platform, "Ready"),
        triple("True", "KeyPairVerified", "Signing CA verified")
    );
    let ca_secret = Api::<Secret>::namespaced(client.clone(), "cert-manager")
        .get("platform-ca")
        .await
        .unwrap();
    assert!(
        secret_text(&ca_secret, "tls.key").starts_with("-----BEGIN PRIVATE KEY-----\n"),
        "PKCS#8 as asked"
    );
    let shop_certs = certs(&client, "shop");
    create(
        &shop_certs,
        "Certificate",
        json!({"metadata": {"name": "api"}, "spec": {"secretName": "api-tls", "dnsNames": ["api.shop.svc"],
            "ipAddresses": ["10.96.0.10"], "usages": ["server auth", "client auth", "digital signature"],
            "privateKey": {"algorithm": "ECDSA", "size": 384},
            "issuerRef": {"name": "platform", "kind": "ClusterIssuer", "group": "cert-manager.io"}}}),
    )
    .await;
    wait_condition(&shop_certs, "api", "Ready", "True").await;
    let api_tls = Api::<Secret>::namespaced(client.clone(), "shop")
        .get("api-tls")
        .await
        .unwrap();
    let a = api_tls.metadata.annotations.clone().unwrap();
    assert_eq!(
        (
            a["cert-manager.io/ip-sans"].as_str(),
            a["cert-manager.io/issuer-kind"].as_str(),
            a["cert-manager.io/issuer-group"].as_str()
        ),
        ("10.96.0.10", "ClusterIssuer", "cert-manager.io")
    );
    assert!(secret_text(&api_tls, "tls.key").starts_with("-----BEGIN EC PRIVATE KEY-----\n"));
    verify(
        &secret_text(&api_tls, "tls.crt"),
        &secret_text(&api_tls, "ca.crt"),
        "api.shop.svc",
    )
    .unwrap();
    assert_eq!(
        secret_text(&api_tls, "ca.crt"),
        secret_text(&ca_secret, "tls.crt")
    );

    // a CA Secret whose key is not the certificate's: the request fails, the Certificate
    // records the failure and backs off
    let cm_secrets = Api::<Secret>::namespaced(client.clone(), "cert-manager");
    let leaf = cm_secrets.get("leaf").await.unwrap();
    let mixed: Secret = serde_json::from_value(
        json!({"metadata": {"name": "mixed"}, "type": "kubernetes.io/tls", "stringData": {
            "tls.crt": secret_text(&ca_secret, "tls.crt"), "tls.key": secret_text(&leaf, "tls.key"),
        }}),
    )
    .unwrap();
    cm_secrets.create(&PostParams::default(), &mixed).await.unwrap();
    create(
        &cluster_issuers(&client),
        "ClusterIssuer",
        json!({"metadata": {"name": "mixed"}, "spec": {"ca": {"secretName": "mixed"}}}),
    )
    .await;
    wait_condition(&cluster_issuers(&client), "mixed", "Ready", "True").await;
    create(
        &shop_certs,
        "Certificate",
        json!({"metadata": {"name": "broken"}, "spec": {"secretName": "broken-tls", "dnsNames": ["broken.shop.svc"],
            "issuerRef": {"name": "mixed", "kind": "ClusterIssuer"}}}),
    )
    .await;
    let broken = wait_condition(&shop_certs, "broken", "Issuing", "False").await;
    let signing = "Error signing certificate: error creating x509 certificate: x509: provided PrivateKey doesn't match parent's PublicKey";
    assert_eq!(
        cond(&broken, "Issuing"),
        triple(
            "False",
            "Failed",
            &format!("The certificate request has failed to complete and will be retried: {signing}")
        )
    );
    assert_eq!(broken["status"]["failedIssuanceAttempts"], 1);
    assert!(broken["status"]["lastFailureTime"].is_string());
    let cr = as_json(&requests(&client, "shop").get("broken-1").await.unwrap());
    assert_eq!(cond(&cr, "Ready"), triple("False", "Failed", signing));
    assert!(cr["status"]["failureTime"].is_string());
    let h = assess(&broken).unwrap();
    assert_eq!(
        (h.status, h.message.as_str()),
        (Health::Degraded, "Issuing certificate as Secret does not exist")
    );

    // a Secret without a certificate
    let bad: Secret =
        serde_json::from_value(json!({"metadata": {"name": "empty-ca"}, "stringData": {"tls.key": "x"}}))
            .unwrap();
    Api::<Secret>::namespaced(client.clone(), "cert-manager")
        .create(&PostParams::default(), &bad)
        .await
        .unwrap();
    create(
        &cluster_issuers(&client),
        "ClusterIssuer",
        json!({"metadata": {"name": "empty"}, "spec": {"ca": {"secretName": "empty-ca"}}}),
    )
    .await;
    let iss = wait_condition(&cluster_issuers(&client), "empty", "Ready", "False").await;
    assert_eq!(
        cond(&iss, "Ready"),
        triple(
            "False",
            "ErrGetKeyPair",
            "Error getting keypair for CA issuer: no data for \"tls.crt\" in secret 'cert-manager/empty-ca'"
        )
    );
}

/// A cluster whose pods run (the workload stand-in, the kubelet running known images) with
/// cert-manager's CRDs and no cert-manager: its images bring it.
async fn with_workloads(
    name: &str,
) -> (
    hubspoke_sim::SimCluster,
    Client,
    hubspoke_sim::standins::workload::WorkloadStandIn,
) {
    use hubspoke_sim::standins::workload::{WorkloadOptions, WorkloadStandIn};
    let (c, client) = cluster(name).await;
    let w = WorkloadStandIn::run(client.clone(), WorkloadOptions::default())
        .await
        .unwrap();
    common::apply_all(
        &client,
        "helm",
        &hubspoke_sim::standins::certmanager::crd_manifests(),
    )
    .await;
    (c, client, w)
}

#[tokio::test]
async fn the_controller_image_runs_the_stand_in_with_its_containers_flags() {
    let (_c, client, _w) = with_workloads("cm-image").await;
    // the chart's controller, released into a namespace of the user's choosing: ClusterIssuers
    // read their Secrets from it (--cluster-resource-namespace=$(POD_NAMESPACE))
    let labels =
        json!({"app.kubernetes.io/name": "cert-manager", "app.kubernetes.io/component": "controller"});
    common::apply_all(
        &client,
        "helm",
        &[
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "platform-certs"}}),
            json!({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "cert-manager", "namespace": "platform-certs"},
                "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                    "template": {"metadata": {"labels": labels}, "spec": {"containers": [{
                        "name": "cert-manager-controller",
                        "image": format!("quay.io/jetstack/cert-manager-controller:{CERT_MANAGER_VERSION}"),
                        "args": ["--v=2", "--cluster-resource-namespace=$(POD_NAMESPACE)", "--leader-election-namespace=kube-system"],
                        "env": [{"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}],
                        "ports": [{"name": "http-metrics", "containerPort": 9402}],
                    }]}}}}),
        ],
    )
    .await;
    // its webhook, whose Fail configuration gets its CA from the cainjector
    let webhook_labels = json!({"app.kubernetes.io/name": "webhook"});
    let injector_labels = json!({"app.kubernetes.io/name": "cainjector"});
    common::apply_all(
        &client,
        "helm",
        &[
            json!({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "cert-manager-webhook", "namespace": "platform-certs"},
                "spec": {"replicas": 1, "selector": {"matchLabels": webhook_labels},
                    "template": {"metadata": {"labels": webhook_labels}, "spec": {"containers": [{
                        "name": "cert-manager-webhook",
                        "image": format!("quay.io/jetstack/cert-manager-webhook:{CERT_MANAGER_VERSION}"),
                        "args": ["--v=2", "--secure-port=10250", "--dynamic-serving-ca-secret-namespace=$(POD_NAMESPACE)",
                            "--dynamic-serving-ca-secret-name=cert-manager-webhook-ca",
                            "--dynamic-serving-dns-names=cert-manager-webhook,cert-manager-webhook.$(POD_NAMESPACE),cert-manager-webhook.$(POD_NAMESPACE).svc"],
                        "env": [{"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}],
                        "ports": [{"name": "https", "containerPort": 10250, "protocol": "TCP"}],
                    }]}}}}),
            json!({"apiVersion": "v1", "kind": "Service",
                "metadata": {"name": "cert-manager-webhook", "namespace": "platform-certs"},
                "spec": {"ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": "https"}], "selector": webhook_labels}}),
            json!({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "cert-manager-cainjector", "namespace": "platform-certs"},
                "spec": {"replicas": 1, "selector": {"matchLabels": injector_labels},
                    "template": {"metadata": {"labels": injector_labels}, "spec": {"containers": [{
                        "name": "cert-manager-cainjector",
                        "image": format!("quay.io/jetstack/cert-manager-cainjector:{CERT_MANAGER_VERSION}"),
                        "args": ["--v=2", "--leader-election-namespace=kube-system"],
                    }]}}}}),
            json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
                "metadata": {"name": "cert-manager-webhook", "annotations": {"cert-manager.io/inject-ca-from-secret": "platform-certs/cert-manager-webhook-ca"}},
                "webhooks": [{"name": "webhook.cert-manager.io",
                    "rules": [{"apiGroups": ["cert-manager.io"], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"], "resources": ["*/*"]}],
                    "admissionReviewVersions": ["v1"], "timeoutSeconds": 30, "failurePolicy": "Fail", "sideEffects": "None",
                    "clientConfig": {"service": {"name": "cert-manager-webhook", "namespace": "platform-certs", "path": "/validate"}}}]}),
        ],
    )
    .await;
    let configs: Api<k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration> =
        Api::all(client.clone());
    let bundle = common::eventually("the injected CA", || async {
        let c = configs
            .get("cert-manager-webhook")
            .await
            .map_err(|e| e.to_string())?;
        c.webhooks.unwrap_or_default()[0]
            .client_config
            .ca_bundle
            .clone()
            .ok_or_else(|| "no caBundle yet".to_string())
    })
    .await;
    let ca_secret: Secret = Api::namespaced(client.clone(), "platform-certs")
        .get("cert-manager-webhook-ca")
        .await
        .unwrap();
    assert_eq!(
        ca_secret.annotations()["cert-manager.io/allow-direct-injection"],
        "true"
    );
    assert_eq!(bundle.0, ca_secret.data.unwrap()["ca.crt"].0);
    create(
        &cluster_issuers(&client),
        "ClusterIssuer",
        json!({"metadata": {"name": "selfsigned"}, "spec": {"selfSigned": {}}}),
    )
    .await;
    wait_condition(&cluster_issuers(&client), "selfsigned", "Ready", "True").await;
    create(
        &certs(&client, "platform-certs"),
        "Certificate",
        json!({"metadata": {"name": "root-ca"}, "spec": {
            "isCA": true, "commonName": "root-ca", "secretName": "root-ca",
            "issuerRef": {"name": "selfsigned", "kind": "ClusterIssuer"},
        }}),
    )
    .await;
    wait_condition(&certs(&client, "platform-certs"), "root-ca", "Ready", "True").await;
    create(
        &cluster_issuers(&client),
        "ClusterIssuer",
        json!({"metadata": {"name": "platform-ca"}, "spec": {"ca": {"secretName": "root-ca"}}}),
    )
    .await;
    let ready = wait_condition(&cluster_issuers(&client), "platform-ca", "Ready", "True").await;
    assert_eq!(
        cond(&ready, "Ready"),
        triple("True", "KeyPairVerified", "Signing CA verified")
    );
}

/// Two replicas of the controller image: only the holder of the Lease
/// `kube-system/cert-manager-controller` works; when its pod goes it releases the Lease and
/// the other replica takes over (the flags shorten cert-manager's 60 s / 40 s / 15 s).
#[tokio::test]
async fn replicas_of_the_controller_elect_a_leader_through_its_lease() {
    use k8s_openapi::api::coordination::v1::Lease;
    use k8s_openapi::api::core::v1::Pod;
    let (_c, client, _w) = with_workloads("cm-leader").await;
    let labels = json!({"app.kubernetes.io/name": "cert-manager"});
    common::apply_all(
        &client,
        "helm",
        &[
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "cert-manager"}}),
            json!({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "cert-manager", "namespace": "cert-manager"},
                "spec": {"replicas": 2, "selector": {"matchLabels": labels},
                    "template": {"metadata": {"labels": labels}, "spec": {"containers": [{
                        "name": "cert-manager-controller",
                        "image": format!("quay.io/jetstack/cert-manager-controller:{CERT_MANAGER_VERSION}"),
                        "args": ["--v=2", "--cluster-resource-namespace=$(POD_NAMESPACE)",
                            "--leader-election-namespace=kube-system",
                            "--leader-election-lease-duration=4s", "--leader-election-renew-deadline=3s",
                            "--leader-election-retry-period=300ms"],
                        "env": [{"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}],
                    }]}}}}),
        ],
    )
    .await;
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-system");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "cert-manager");
    let running = || async {
        let mut names: Vec<String> = pods
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
            .filter_map(|p| p.metadata.name)
            .collect();
        names.sort();
        names
    };
    let first = common::eventually("a leader", || async {
        if running().await.len() != 2 {
            return Err("two replicas are not running yet".to_string());
        }
        let lease = leases
            .get_opt("cert-manager-controller")
            .await
            .map_err(|e| e.to_string())?
            .ok_or("no Lease yet")?;
        Ok(lease)
    })
    .await;
    let spec = first.spec.clone().unwrap();
    let holder = spec.holder_identity.clone().unwrap();
    let pods_now = running().await;
    let leader = holder
        .strip_suffix("-external-cert-manager-controller")
        .unwrap_or_else(|| panic!("holder {holder}"))
        .to_string();
    assert!(pods_now.contains(&leader), "{holder} among {pods_now:?}");
    assert_eq!(first.labels()["app.kubernetes.io/managed-by"], "cert-manager");
    assert_eq!(
        (spec.lease_duration_seconds, spec.lease_transitions),
        (Some(4), Some(0))
    );
    // the leader works
    create(
        &cluster_issuers(&client),
        "ClusterIssuer",
        json!({"metadata": {"name": "selfsigned"}, "spec": {"selfSigned": {}}}),
    )
    .await;
    wait_condition(&cluster_issuers(&client), "selfsigned", "Ready", "True").await;

    // its pod goes: the Lease is released and another replica takes it
    pods.delete(&leader, &DeleteParams::default()).await.unwrap();
    let next = common::eventually("a new leader", || async {
        let lease = leases
            .get("cert-manager-controller")
            .await
            .map_err(|e| e.to_string())?;
        let s = lease.spec.clone().unwrap_or_default();
        match s.holder_identity.as_deref() {
            Some(h) if !h.starts_with(&leader) => Ok(lease),
            other => Err(format!("held by {other:?}")),
        }
    })
    .await;
    assert_eq!(next.spec.clone().unwrap().lease_transitions, Some(1));
    // and works
    create(
        &certs(&client, "cert-manager"),
        "Certificate",
        json!({"metadata": {"name": "after-failover"}, "spec": {
            "commonName": "after-failover", "secretName": "after-failover",
            "issuerRef": {"name": "selfsigned", "kind": "ClusterIssuer"},
        }}),
    )
    .await;
    wait_condition(&certs(&client, "cert-manager"), "after-failover", "Ready", "True").await;
}
