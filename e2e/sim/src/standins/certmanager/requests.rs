//! The CertificateRequest controllers: the approver (`certificaterequests/approver`), and
//! the `Sync` every issuer type's request controller runs (`certificaterequests/sync.go`)
//! with the selfSigned and CA signers (`certificaterequests/selfsigned`, `.../ca`), their
//! reporter's conditions (`certificaterequests/util/reporter.go`) and texts.
//!
//! The approver approves requests for cert-manager.io issuers only: cert-manager's approver
//! approves every request, but its webhook lets it approve only the signers its RBAC names,
//! which the chart limits to cert-manager.io issuers.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::{Api, DynamicObject};
use serde_json::{Value, json};

use super::issuers::{issuer_type, resource_namespace, secret_not_found};
use super::keys::PrivateKey;
use super::spec::RequestSpec;
use super::x509::{self, Csr, Signer, chain_from_pem};
use super::{
    Ctx, Result, certificate_requests, cluster_issuers, condition, conditions, has_condition, issuers,
    not_found, now, patch_status, secret_data, set_condition, str_at,
};

pub const APPROVED_MESSAGE: &str = "Certificate request has been approved by cert-manager.io";
pub const READY_MESSAGE: &str = "Certificate fetched from issuer successfully";
const PRIVATE_KEY_ANNOTATION: &str = "cert-manager.io/private-key-secret-name";

/// The reason of the Ready condition, if any.
fn ready_reason(conds: &[Value]) -> &str {
    condition(conds, "Ready")
        .and_then(|c| c["reason"].as_str())
        .unwrap_or("")
}

/// What a signer decided.
enum Outcome {
    /// `reporter.Pending`: Ready False, reason Pending.
    Pending(String),
    /// `reporter.Failed`: Ready False, reason Failed, with a failure time.
    Failed(String),
    Issued(x509::Issued),
    /// Left to a controller the stand-in does not run.
    Ignored,
}

fn pending(message: &str, err: Option<String>) -> Outcome {
    Outcome::Pending(match err {
        Some(e) => format!("{message}: {e}"),
        None => message.to_string(),
    })
}

async fn get_secret(ctx: &Ctx, ns: &str, name: &str) -> std::result::Result<Option<Value>, kube::Error> {
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
    match api.get(name).await {
        Ok(s) => Ok(Some(serde_json::to_value(s).unwrap_or(Value::Null))),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(None),
        Err(e) => Err(e),
    }
}

/// `SelfSigned.Sign`: the request's own key (named by its annotation) signs it.
async fn sign_self_signed(ctx: &Ctx, cr: &Value, spec: &RequestSpec, issuer: &Value) -> Result<Outcome> {
    let ns = str_at(cr, "/metadata/namespace");
    let secret_name = cr
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(PRIVATE_KEY_ANNOTATION))
        .and_then(Value::as_str)
        .unwrap_or("");
    if secret_name.is_empty() {
        return Ok(Outcome::Failed(format!(
            "Annotation \"{PRIVATE_KEY_ANNOTATION}\" missing or reference empty: secret name missing"
        )));
    }
    let Some(secret) = get_secret(ctx, ns, secret_name).await? else {
        return Ok(pending(
            &format!("Referenced secret {ns}/{secret_name} not found"),
            Some(secret_not_found(secret_name)),
        ));
    };
    let key = match secret_data(&secret, "tls.key") {
        None => Err(format!("no data for \"tls.key\" in secret '{ns}/{secret_name}'")),
        Some(pem) => PrivateKey::from_pem(&pem),
    };
    let key = match key {
        Ok(k) => k,
        Err(e) => {
            return Ok(pending(
                &format!(
                    "Failed to get key \"{secret_name}\" referenced in annotation \"{PRIVATE_KEY_ANNOTATION}\""
                ),
                Some(e),
            ));
        }
    };
    let csr = match csr_of(spec) {
        Ok(c) => c,
        Err(e) => {
            return Ok(Outcome::Failed(format!(
                "Error generating certificate template: {e}"
            )));
        }
    };
    let crl = strings(issuer.pointer("/spec/selfSigned/crlDistributionPoints"));
    Ok(
        match x509::sign(
            spec,
            &csr,
            Signer::SelfSigned {
                key: &key,
                crl_distribution_points: crl,
            },
            now(),
        ) {
            Ok(issued) => Outcome::Issued(issued),
            Err(e) => Outcome::Failed(e.message),
        },
    )
}

/// `CA.Sign`: the keypair in the issuer's Secret signs the request.
async fn sign_ca(ctx: &Ctx, spec: &RequestSpec, issuer: &Value) -> Result<Outcome> {
    let ns = resource_namespace(ctx, issuer);
    let name = str_at(issuer, "/spec/ca/secretName");
    let Some(secret) = get_secret(ctx, &ns, name).await? else {
        return Ok(pending(
            &format!("Referenced secret {ns}/{name} not found"),
            Some(secret_not_found(name)),
        ));
    };
    // SecretTLSKeyPairAndCA: the key, the tls.crt chain, then ca.crt
    let keypair = (|| {
        let key = secret_data(&secret, "tls.key")
            .ok_or_else(|| format!("no private key data for \"tls.key\" in secret '{ns}/{name}'"))?;
        let key = PrivateKey::from_pem(&key)?;
        let crt = secret_data(&secret, "tls.crt")
            .ok_or_else(|| format!("no certificate data for \"tls.crt\" in secret '{ns}/{name}'"))?;
        let mut chain = chain_from_pem(&crt)?;
        if let Some(ca) = secret_data(&secret, "ca.crt").filter(|c| !c.is_empty()) {
            chain.push(x509::CertInfo::from_pem(&ca)?);
        }
        Ok::<_, String>((key, chain))
    })();
    let (key, chain) = match keypair {
        Ok(k) => k,
        Err(e) => {
            return Ok(pending(
                &format!("Failed to parse signing CA keypair from secret {ns}/{name}"),
                Some(e),
            ));
        }
    };
    let csr = match csr_of(spec) {
        Ok(c) => c,
        Err(e) => {
            return Ok(Outcome::Failed(format!(
                "Error generating certificate template: {e}"
            )));
        }
    };
    let ca = &issuer["spec"]["ca"];
    Ok(
        match x509::sign(
            spec,
            &csr,
            Signer::Ca {
                chain,
                key: &key,
                crl_distribution_points: strings(ca.get("crlDistributionPoints")),
                ocsp_servers: strings(ca.get("ocspServers")),
                issuing_certificate_urls: strings(ca.get("issuingCertificateURLs")),
            },
            now(),
        ) {
            Ok(issued) => Outcome::Issued(issued),
            Err(e) => Outcome::Failed(e.message),
        },
    )
}

fn csr_of(spec: &RequestSpec) -> std::result::Result<Csr, String> {
    Csr::from_pem(&spec.csr_pem()?)
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

/// The issuer a request names: Ok(None) when it does not exist; Err for a kind cert-manager
/// rejects (it retries such requests without writing them).
async fn get_issuer(ctx: &Ctx, ns: &str, spec: &RequestSpec) -> Result<Option<Value>> {
    let api: Api<DynamicObject> = match spec.issuer_ref.kind.as_str() {
        "" | "Issuer" => Api::namespaced_with(ctx.client.clone(), ns, &issuers()),
        "ClusterIssuer" => Api::all_with(ctx.client.clone(), &cluster_issuers()),
        other => {
            return Err(format!(
                "invalid value {other:?} for issuerRef.kind. Must be empty, \"Issuer\" or \"ClusterIssuer\""
            )
            .into());
        }
    };
    let got = api.get(&spec.issuer_ref.name).await;
    if not_found(&got) {
        return Ok(None);
    }
    Ok(Some(serde_json::to_value(got?).unwrap_or(Value::Null)))
}

async fn reconcile(ctx: Arc<Ctx>, cached: Value) -> Result<Option<Duration>> {
    let name = str_at(&cached, "/metadata/name").to_string();
    let ns = str_at(&cached, "/metadata/namespace").to_string();
    let api: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), &ns, &certificate_requests());
    // the stored version: a request is signed once, and writes name the version they read
    let Some(cr) = api.get_opt(&name).await? else {
        return Ok(None);
    };
    let mut cr = serde_json::to_value(cr).unwrap_or(Value::Null);
    let spec = match RequestSpec::from_object(&cr) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(request = %name, error = %e, "cert-manager stand-in: unreadable CertificateRequest");
            return Ok(None);
        }
    };
    if !matches!(spec.issuer_ref.group.as_str(), "" | "cert-manager.io") {
        return Ok(None);
    }
    let mut conds = conditions(&cr);

    // the approver
    let decided = has_condition(&conds, "Approved", "True")
        || has_condition(&conds, "Denied", "True")
        || matches!(ready_reason(&conds), "Failed" | "Issued");
    if !decided {
        set_condition(
            &mut conds,
            "Approved",
            "True",
            "cert-manager.io",
            APPROVED_MESSAGE,
            None,
        );
        cr = patch_status(
            &api,
            &cr,
            "certificaterequests-approver",
            json!({"conditions": conds}),
        )
        .await?;
    }

    // the issuer's request controller
    let before = conds.clone();
    let mut status = json!({});
    let failure_time = cr
        .pointer("/status/failureTime")
        .cloned()
        .filter(|t| !t.is_null());
    let mut controller = "certificaterequests-issuer-selfsigned".to_string();
    if has_condition(&conds, "Denied", "True") {
        set_condition(
            &mut conds,
            "Ready",
            "False",
            "Denied",
            "The CertificateRequest was denied by an approval controller",
            None,
        );
        if failure_time.is_none() {
            status["failureTime"] = json!(x509::rfc3339(now()));
        }
    } else if has_condition(&conds, "InvalidRequest", "True")
        || !has_condition(&conds, "Approved", "True")
        || matches!(ready_reason(&conds), "Failed" | "Issued")
    {
        return Ok(None);
    } else {
        let outcome = match get_issuer(&ctx, &ns, &spec).await? {
            None => {
                let kind = spec.issuer_ref.kind_or_default();
                pending(
                    &format!("Referenced {kind:?} not found"),
                    Some(format!(
                        "{}.cert-manager.io \"{}\" not found",
                        kind.to_lowercase(),
                        spec.issuer_ref.name
                    )),
                )
            }
            Some(issuer) => match issuer_type(&issuer) {
                Err(e) => pending("Missing issuer type", Some(e)),
                Ok(kind) => {
                    controller = format!("certificaterequests-issuer-{kind}");
                    if !has_condition(&conditions(&issuer), "Ready", "True") {
                        pending("Referenced issuer does not have a Ready status condition", None)
                    } else if cr
                        .pointer("/status/certificate")
                        .and_then(Value::as_str)
                        .is_some_and(|c| !c.is_empty())
                    {
                        return Ok(None);
                    } else {
                        match kind {
                            "selfsigned" => sign_self_signed(&ctx, &cr, &spec, &issuer).await?,
                            "ca" => sign_ca(&ctx, &spec, &issuer).await?,
                            _ => Outcome::Ignored,
                        }
                    }
                }
            },
        };
        match outcome {
            Outcome::Ignored => return Ok(None),
            Outcome::Pending(message) => {
                set_condition(&mut conds, "Ready", "False", "Pending", &message, None)
            }
            Outcome::Failed(message) => {
                if failure_time.is_none() {
                    status["failureTime"] = json!(x509::rfc3339(now()));
                }
                set_condition(&mut conds, "Ready", "False", "Failed", &message, None);
            }
            Outcome::Issued(issued) => {
                let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
                status["certificate"] = json!(b64(&issued.certificate));
                if !issued.ca.is_empty() {
                    status["ca"] = json!(b64(&issued.ca));
                }
                set_condition(&mut conds, "Ready", "True", "Issued", READY_MESSAGE, None);
            }
        }
    }
    if conds != before || status.as_object().is_some_and(|m| !m.is_empty()) {
        status["conditions"] = json!(conds);
        patch_status(&api, &cr, &controller, status).await?;
    }
    Ok(None)
}

/// The request controllers; a change to an issuer wakes the requests naming it, as each
/// issuer type's controller does.
pub async fn run(ctx: Arc<Ctx>) {
    let cr_ar = certificate_requests();
    let client = ctx.client.clone();
    super::run_controller(
        ctx,
        cr_ar.clone(),
        None,
        move |c, store| {
            let mut c = c;
            for (ar, cluster) in [(issuers(), false), (cluster_issuers(), true)] {
                let store = store.clone();
                let cr_ar = cr_ar.clone();
                let api: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
                c = c.watches_with(
                    api,
                    ar,
                    kube::runtime::watcher::Config::default(),
                    move |issuer| {
                        let name = issuer.name_any();
                        let ns = issuer.namespace();
                        store
                            .state()
                            .into_iter()
                            .filter(|r| {
                                let kind = r
                                    .data
                                    .pointer("/spec/issuerRef/kind")
                                    .and_then(Value::as_str)
                                    .unwrap_or("");
                                r.data.pointer("/spec/issuerRef/name").and_then(Value::as_str)
                                    == Some(name.as_str())
                                    && if cluster {
                                        kind == "ClusterIssuer"
                                    } else {
                                        matches!(kind, "" | "Issuer") && r.namespace() == ns
                                    }
                            })
                            .map(|r| super::object_ref(&r, &cr_ar))
                            .collect::<Vec<_>>()
                    },
                );
            }
            c
        },
        "CertificateRequest",
        reconcile,
    )
    .await
}
