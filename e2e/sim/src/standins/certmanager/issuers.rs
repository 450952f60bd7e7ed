//! The `issuers` and `clusterissuers` controllers (`pkg/controller/issuers`,
//! `pkg/controller/clusterissuers`): each issuer's `Setup`, which writes its Ready condition.
//! selfSigned is Ready at once (`pkg/issuer/selfsigned/setup.go`); ca is Ready once its
//! Secret holds a CA certificate and a private key (`pkg/issuer/ca/setup.go`). The Secrets of
//! ClusterIssuers live in the cluster resource namespace.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::{Api, DynamicObject};
use kube::core::ApiResource;
use serde_json::{Value, json};

use super::keys::PrivateKey;
use super::x509::chain_from_pem;
use super::{
    Ctx, Result, conditions, generation, not_found, patch_status, secret_data, set_condition, str_at,
};

/// The issuer types in the order `NameForIssuer` looks for them.
const TYPES: &[(&str, &str)] = &[
    ("acme", "acme"),
    ("ca", "ca"),
    ("vault", "vault"),
    ("selfSigned", "selfsigned"),
    ("venafi", "venafi"),
];

/// An issuer's type as `apiutil.NameForIssuer` names it (`acme`, `ca`, `vault`,
/// `selfsigned`, `venafi`), or the error it gives for none.
pub fn issuer_type(issuer: &Value) -> std::result::Result<&'static str, String> {
    let spec = &issuer["spec"];
    TYPES
        .iter()
        .find(|(field, _)| spec.get(*field).is_some_and(|v| !v.is_null()))
        .map(|(_, name)| *name)
        .ok_or_else(|| {
            format!(
                "no issuer specified for Issuer '{}/{}'",
                str_at(issuer, "/metadata/namespace"),
                str_at(issuer, "/metadata/name")
            )
        })
}

/// The namespace an issuer's Secrets live in (`IssuerOptions.ResourceNamespace`).
pub fn resource_namespace(ctx: &Ctx, issuer: &Value) -> String {
    match issuer.pointer("/metadata/namespace").and_then(Value::as_str) {
        Some(ns) if !ns.is_empty() => ns.to_string(),
        _ => ctx.opts.cluster_resource_namespace.clone(),
    }
}

/// cert-manager's text for a Secret the API does not have.
pub fn secret_not_found(name: &str) -> String {
    format!("secrets \"{name}\" not found")
}

/// Reads a CA keypair Secret as `kube.SecretTLSCert` / `SecretTLSKey` do (certificate
/// first); Err is the error text after "Error getting keypair for CA issuer: " and whether
/// the certificate is a CA.
async fn check_ca_secret(ctx: &Ctx, ns: &str, name: &str) -> std::result::Result<bool, String> {
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
    let got = api.get(name).await;
    if not_found(&got) {
        return Err(secret_not_found(name));
    }
    let secret = serde_json::to_value(got.map_err(|e| e.to_string())?).unwrap_or(Value::Null);
    let crt = secret_data(&secret, "tls.crt")
        .ok_or_else(|| format!("no data for \"tls.crt\" in secret '{ns}/{name}'"))?;
    let chain = chain_from_pem(&crt)?;
    let key = secret_data(&secret, "tls.key")
        .ok_or_else(|| format!("no data for \"tls.key\" in secret '{ns}/{name}'"))?;
    PrivateKey::from_pem(&key)?;
    Ok(chain[0].is_ca)
}

/// One issuer's `Setup`; writes its status when it changed. Errors are retried, as
/// cert-manager requeues an issuer whose Setup failed.
async fn reconcile(ctx: Arc<Ctx>, ar: ApiResource, issuer: Value) -> Result<Option<Duration>> {
    let name = str_at(&issuer, "/metadata/name").to_string();
    let kind = ar.kind.to_lowercase();
    let api: Api<DynamicObject> = match issuer.pointer("/metadata/namespace").and_then(Value::as_str) {
        Some(ns) => Api::namespaced_with(ctx.client.clone(), ns, &ar),
        None => Api::all_with(ctx.client.clone(), &ar),
    };
    let before = conditions(&issuer);
    let mut conds = before.clone();
    let generation = Some(generation(&issuer));
    let mut retry = None;
    match issuer_type(&issuer) {
        Err(e) => {
            // IssuerFor fails before Setup: nothing is written
            tracing::info!(issuer = %name, "cert-manager stand-in: could not get issuer type: {e}");
            return Ok(None);
        }
        Ok("selfsigned") => set_condition(&mut conds, "Ready", "True", "IsReady", "", generation),
        Ok("ca") => {
            let ns = resource_namespace(&ctx, &issuer);
            let secret = str_at(&issuer, "/spec/ca/secretName");
            match check_ca_secret(&ctx, &ns, secret).await {
                Ok(true) => set_condition(
                    &mut conds,
                    "Ready",
                    "True",
                    "KeyPairVerified",
                    "Signing CA verified",
                    generation,
                ),
                Ok(false) => set_condition(
                    &mut conds,
                    "Ready",
                    "False",
                    "ErrInvalidKeyPair",
                    "Error getting keypair for CA issuer: certificate is not a CA",
                    generation,
                ),
                Err(e) => {
                    set_condition(
                        &mut conds,
                        "Ready",
                        "False",
                        "ErrGetKeyPair",
                        &format!("Error getting keypair for CA issuer: {e}"),
                        generation,
                    );
                    // Setup returned an error: the issuer is retried (and a Secret change
                    // wakes it sooner)
                    retry = Some(Duration::from_secs(30));
                }
            }
        }
        Ok(other) => set_condition(
            &mut conds,
            "Ready",
            "False",
            "UnsupportedIssuerType",
            &format!(
                "the hubspoke sim does not issue certificates from {other} issuers (its cert-manager {} stand-in issues from selfSigned and ca issuers only)",
                super::CERT_MANAGER_VERSION
            ),
            generation,
        ),
    }
    if conds != before {
        patch_status(&api, &issuer, &format!("{kind}s"), json!({"conditions": conds})).await?;
    }
    Ok(retry)
}

/// The controller for Issuers or ClusterIssuers; a change to a Secret wakes the ca issuers
/// that read it.
pub async fn run(ctx: Arc<Ctx>, ar: ApiResource) {
    let cluster_ns = ctx.opts.cluster_resource_namespace.clone();
    let watched = ar.clone();
    let ctx2 = ctx.clone();
    let reconcile_ar = ar.clone();
    super::run_controller(
        ctx,
        ar.clone(),
        None,
        move |c, store| {
            super::watch_secrets(&ctx2, c, store, watched, move |secret, issuer| {
                let ns = issuer.namespace().unwrap_or_else(|| cluster_ns.clone());
                let data = &issuer.data;
                secret.metadata.namespace.as_deref() == Some(ns.as_str())
                    && data.pointer("/spec/ca/secretName").and_then(Value::as_str)
                        == secret.metadata.name.as_deref()
            })
        },
        "issuer",
        move |ctx, obj| reconcile(ctx, reconcile_ar.clone(), obj),
    )
    .await
}
