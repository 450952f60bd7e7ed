//! The Certificate controllers (`pkg/controller/certificates/*`), run in cert-manager's
//! order on each change of a Certificate, of a CertificateRequest or Secret it owns, or of
//! the Secret it names: trigger, key manager, request manager, issuing, readiness, revision
//! manager. Each reads the Certificate afresh and writes what its cert-manager namesake
//! writes, under that controller's field manager; the policy checks and their texts are
//! `internal/controller/certificates/policies`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use super::keys::PrivateKey;
use super::spec::{CertSpec, IssuerRef, RequestSpec};
use super::x509::{self, CertInfo, Csr, go_list};
use super::{
    Ctx, ReconcileError, Result, certificate_requests, certificates, condition, conditions, generation,
    has_condition, now, patch_status, secret_data, set_condition, str_at,
};

const NEXT_KEY_LABEL: &str = "cert-manager.io/next-private-key";
const FAO_LABEL: &str = "controller.cert-manager.io/fao";
const REVISION_ANNOTATION: &str = "cert-manager.io/certificate-revision";
const PRIVATE_KEY_ANNOTATION: &str = "cert-manager.io/private-key-secret-name";
const CERTIFICATE_NAME_ANNOTATION: &str = "cert-manager.io/certificate-name";
const ISSUER_NAME: &str = "cert-manager.io/issuer-name";
const ISSUER_KIND: &str = "cert-manager.io/issuer-kind";
const ISSUER_GROUP: &str = "cert-manager.io/issuer-group";
const ISSUING_MANAGER: &str = "cert-manager-certificates-issuing";
const READY_MESSAGE: &str = "Certificate is up to date and has not expired";
/// `--certificate-request-maximum-backoff-duration`.
const MAX_BACKOFF: Duration = Duration::from_secs(32 * 3600);
/// Annotation prefixes not copied to requests (`--copied-annotation-prefixes` default).
const NOT_COPIED: &[&str] = &["kubectl.kubernetes.io/", "fluxcd.io/", "argocd.argoproj.io/"];

/// One Certificate and what the controllers read with it.
struct Cert {
    obj: Value,
    spec: CertSpec,
    name: String,
    ns: String,
    uid: String,
}

impl Cert {
    fn new(obj: Value) -> std::result::Result<Cert, String> {
        let spec = CertSpec::from_object(&obj)?;
        Ok(Cert {
            name: str_at(&obj, "/metadata/name").to_string(),
            ns: str_at(&obj, "/metadata/namespace").to_string(),
            uid: str_at(&obj, "/metadata/uid").to_string(),
            spec,
            obj,
        })
    }

    fn conditions(&self) -> Vec<Value> {
        conditions(&self.obj)
    }

    fn issuing(&self) -> bool {
        has_condition(&self.conditions(), "Issuing", "True")
    }

    fn revision(&self) -> Option<i64> {
        self.obj.pointer("/status/revision").and_then(Value::as_i64)
    }

    fn next_key_name(&self) -> Option<String> {
        self.obj
            .pointer("/status/nextPrivateKeySecretName")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    }

    fn generation(&self) -> Option<i64> {
        Some(generation(&self.obj))
    }

    fn owner_ref(&self) -> Value {
        json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "name": self.name, "uid": self.uid,
            "controller": true, "blockOwnerDeletion": true})
    }
}

fn controlled_by(obj: &Value, uid: &str) -> bool {
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|r| r["uid"] == uid && r["controller"] == true)
}

fn annotation<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    obj.pointer("/metadata/annotations")
        .and_then(|a| a.get(key))
        .and_then(Value::as_str)
}

fn request_revision(cr: &Value) -> Option<i64> {
    annotation(cr, REVISION_ANNOTATION).and_then(|r| r.parse().ok())
}

/// The API of the controllers, for one namespace.
struct Apis {
    certs: Api<DynamicObject>,
    requests: Api<DynamicObject>,
    secrets: Api<Secret>,
}

impl Apis {
    fn new(ctx: &Ctx, ns: &str) -> Apis {
        Apis {
            certs: Api::namespaced_with(ctx.client.clone(), ns, &certificates()),
            requests: Api::namespaced_with(ctx.client.clone(), ns, &certificate_requests()),
            secrets: Api::namespaced(ctx.client.clone(), ns),
        }
    }

    async fn secret(&self, name: &str) -> Result<Option<Value>> {
        Ok(self
            .secrets
            .get_opt(name)
            .await?
            .map(|s| serde_json::to_value(s).unwrap_or(Value::Null)))
    }

    /// The Certificate's requests (controlled by it).
    async fn requests_of(&self, cert: &Cert) -> Result<Vec<Value>> {
        Ok(self
            .requests
            .list(&ListParams::default())
            .await?
            .items
            .into_iter()
            .map(|r| serde_json::to_value(r).unwrap_or(Value::Null))
            .filter(|r| controlled_by(r, &cert.uid))
            .collect())
    }

    /// The Certificate's next private key Secrets.
    async fn next_keys_of(&self, cert: &Cert) -> Result<Vec<Value>> {
        Ok(self
            .secrets
            .list(&ListParams::default().labels(&format!("{NEXT_KEY_LABEL}=true")))
            .await?
            .items
            .into_iter()
            .map(|s| serde_json::to_value(s).unwrap_or(Value::Null))
            .filter(|s| controlled_by(s, &cert.uid))
            .collect())
    }

    async fn delete_request(&self, name: &str) -> Result<()> {
        match self.requests.delete(name, &DeleteParams::default()).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn delete_secret(&self, name: &str) -> Result<()> {
        match self.secrets.delete(name, &DeleteParams::default()).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn reread(&self, cert: &Cert) -> Result<Option<Cert>> {
        match self.certs.get_opt(&cert.name).await? {
            Some(o) => Ok(Some(Cert::new(serde_json::to_value(o).unwrap_or(Value::Null))?)),
            None => Ok(None),
        }
    }
}

/// `policies.Input`: the Secret and the requests of the current and next revisions.
struct Input {
    secret: Option<Value>,
    current: Option<Value>,
    next: Option<Value>,
}

async fn gather(apis: &Apis, cert: &Cert) -> Result<Input> {
    let secret = apis.secret(&cert.spec.secret_name).await?;
    let requests = apis.requests_of(cert).await?;
    let of = |rev: i64, which: &str| -> Result<Option<Value>> {
        let found: Vec<&Value> = requests
            .iter()
            .filter(|r| request_revision(r) == Some(rev))
            .collect();
        if found.len() > 1 {
            return Err(ReconcileError(format!(
                "multiple CertificateRequests were found for the '{which}' revision {rev}, issuance is skipped until there are no more duplicates"
            )));
        }
        Ok(found.first().map(|r| (*r).clone()))
    };
    let current = match cert.revision() {
        Some(r) => of(r, "current")?,
        None => None,
    };
    let next = of(cert.revision().unwrap_or(0) + 1, "next")?;
    Ok(Input {
        secret,
        current,
        next,
    })
}

type Violation = (&'static str, String);

fn request_spec(cr: &Value) -> std::result::Result<(RequestSpec, Csr), String> {
    let spec = RequestSpec::from_object(cr)?;
    let csr = Csr::from_pem(&spec.csr_pem()?)?;
    Ok((spec, csr))
}

/// The checks the trigger and readiness chains share, in cert-manager's order.
fn common_checks(cert: &Cert, input: &Input) -> std::result::Result<CertInfo, Violation> {
    let Some(secret) = &input.secret else {
        return Err((
            "DoesNotExist",
            "Issuing certificate as Secret does not exist".into(),
        ));
    };
    if secret.get("data").is_none_or(Value::is_null) {
        return Err((
            "MissingData",
            "Issuing certificate as Secret does not contain any data".into(),
        ));
    }
    let key_pem = secret_data(secret, "tls.key").unwrap_or_default();
    let cert_pem = secret_data(secret, "tls.crt").unwrap_or_default();
    if key_pem.is_empty() {
        return Err((
            "MissingData",
            "Issuing certificate as Secret does not contain a private key".into(),
        ));
    }
    if cert_pem.is_empty() {
        return Err((
            "MissingData",
            "Issuing certificate as Secret does not contain a certificate".into(),
        ));
    }
    let invalid_key = |e: String| {
        (
            "InvalidKeyPair",
            format!("Issuing certificate as Secret contains invalid private key data: {e}"),
        )
    };
    let key = PrivateKey::from_pem(&key_pem).map_err(invalid_key)?;
    let info = CertInfo::from_pem(&cert_pem).map_err(|e| {
        (
            "InvalidCertificate",
            format!("Issuing certificate as Secret contains an invalid certificate: {e}"),
        )
    })?;
    if info.public_key != key.public_key() {
        return Err((
            "InvalidKeyPair",
            "Issuing certificate as Secret contains a private key that does not match the certificate".into(),
        ));
    }
    // note Go's precedence: (any annotation && name differs) || kind differs || group differs
    let (name, kind, group) = (
        annotation(secret, ISSUER_NAME),
        annotation(secret, ISSUER_KIND),
        annotation(secret, ISSUER_GROUP),
    );
    let any = name.is_some() || kind.is_some() || group.is_some();
    let (name, kind, group) = (name.unwrap_or(""), kind.unwrap_or(""), group.unwrap_or(""));
    let annotated = IssuerRef {
        name: cert.spec.issuer_ref.name.clone(),
        kind: kind.into(),
        group: group.into(),
    };
    if (any && name != cert.spec.issuer_ref.name) || !annotated.same_as(&cert.spec.issuer_ref) {
        return Err((
            "IncorrectIssuer",
            format!(
                "Issuing certificate as Secret was previously issued by {:?}",
                IssuerRef::display(name, kind, group)
            ),
        ));
    }
    if let Some(owner) = annotation(secret, CERTIFICATE_NAME_ANNOTATION)
        && owner != cert.name
    {
        return Err((
            "IncorrectCertificate",
            format!(
                "Secret was issued for {owner:?}. If this message is not transient, you might have two conflicting Certificates pointing to the same secret."
            ),
        ));
    }
    let violations = key.violations(&cert.spec.key_spec());
    if !violations.is_empty() {
        return Err((
            "SecretMismatch",
            format!(
                "Existing private key is not up to date for spec: {}",
                go_list(&violations)
            ),
        ));
    }
    match &input.current {
        Some(cr) => {
            let (req, csr) = match request_spec(cr) {
                Ok(x) => x,
                Err(e) => {
                    return Err((
                        "InvalidCertificateRequest",
                        format!("Failed to decode current CertificateRequest: {e}"),
                    ));
                }
            };
            if csr.public_key != key.public_key() {
                return Err((
                    "SecretMismatch",
                    "Secret contains a private key that does not match the current CertificateRequest".into(),
                ));
            }
            let violations = x509::request_violations(&csr, &req, &cert.spec);
            if !violations.is_empty() {
                return Err((
                    "RequestChanged",
                    format!(
                        "Fields on existing CertificateRequest resource not up to date: {}",
                        go_list(&violations)
                    ),
                ));
            }
        }
        None => {
            let violations = x509::fuzzy_violations(&info, &cert.spec);
            if !violations.is_empty() {
                return Err((
                    "SecretMismatch",
                    format!(
                        "Issuing certificate as Existing issued Secret is not up to date for spec: {}",
                        go_list(&violations)
                    ),
                ));
            }
        }
    }
    Ok(info)
}

fn renewal_of(cert: &Cert, info: &CertInfo) -> Option<i64> {
    x509::renewal_time(
        info.not_before,
        info.not_after,
        cert.spec.renew_before(),
        cert.spec.renew_before_percentage,
        cert.spec.renewal_disabled(),
    )
}

/// `NewTriggerPolicyChain`.
fn trigger_chain(cert: &Cert, input: &Input, now: i64) -> Option<Violation> {
    let info = match common_checks(cert, input) {
        Ok(i) => i,
        Err(v) => return Some(v),
    };
    if cert.spec.renewal_disabled() {
        return None;
    }
    let renew_at = renewal_of(cert, &info)?;
    if renew_at > now {
        return None;
    }
    let scheduled = cert
        .obj
        .pointer("/status/renewalTime")
        .and_then(Value::as_str)
        .and_then(x509::parse_time)
        .map(x509::go_time_string)
        .unwrap_or_else(|| "<nil>".into());
    Some((
        "Renewing",
        format!("Renewing certificate as renewal was scheduled at {scheduled}"),
    ))
}

/// `NewReadinessPolicyChain`.
fn readiness_chain(cert: &Cert, input: &Input, now: i64) -> std::result::Result<CertInfo, Violation> {
    let info = common_checks(cert, input)?;
    if now > info.not_after {
        return Err((
            "Expired",
            format!("Certificate expired on {}", x509::rfc1123(info.not_after)),
        ));
    }
    Ok(info)
}

/// `CertificateOwnsSecret`: of several Certificates naming one Secret, the oldest (or the
/// one the Secret names) owns it.
async fn owns_secret(apis: &Apis, cert: &Cert, input: &Input) -> Result<bool> {
    let all = apis.certs.list(&ListParams::default()).await?.items;
    let mut same: Vec<(String, String)> = all
        .iter()
        .filter(|c| {
            c.data.pointer("/spec/secretName").and_then(Value::as_str) == Some(cert.spec.secret_name.as_str())
        })
        .map(|c| {
            let created = c
                .metadata
                .creation_timestamp
                .as_ref()
                .map(|t| t.0.as_second())
                .unwrap_or(0);
            (format!("{created:020}"), c.name_any())
        })
        .collect();
    if same.is_empty() {
        return Ok(false);
    }
    if same.len() == 1 {
        return Ok(same[0].1 == cert.name);
    }
    same.sort();
    let names: Vec<String> = same.into_iter().map(|(_, n)| n).collect();
    let mut owner = names[0].clone();
    if let Some(a) = input
        .secret
        .as_ref()
        .and_then(|s| annotation(s, CERTIFICATE_NAME_ANNOTATION))
        && names.iter().any(|n| n == a)
    {
        owner = a.to_string();
    }
    Ok(owner == cert.name)
}

/// What one pass asks for: the earliest time to look again.
#[derive(Default)]
struct Schedule(Option<Duration>);

impl Schedule {
    fn at(&mut self, d: Duration) {
        self.0 = Some(self.0.map_or(d, |x| x.min(d)));
    }
}

/// The trigger controller: sets Issuing when the Secret needs (re)issuing.
async fn trigger(ctx: &Ctx, apis: &Apis, cert: &Cert, schedule: &mut Schedule) -> Result<bool> {
    if cert.issuing() {
        return Ok(false);
    }
    let input = gather(apis, cert).await?;
    if !owns_secret(apis, cert, &input).await? {
        tracing::debug!(certificate = %cert.name, "cert-manager stand-in: another Certificate owns the Secret; skipping trigger");
        schedule.at(Duration::from_secs(180));
        return Ok(false);
    }
    let now = now();
    // shouldBackoffReissuingOnFailure
    if let Some(failed_at) = cert
        .obj
        .pointer("/status/lastFailureTime")
        .and_then(Value::as_str)
        .and_then(x509::parse_time)
    {
        let next_differs = match &input.next {
            Some(cr) => match request_spec(cr) {
                Ok((req, csr)) => !x509::request_violations(&csr, &req, &cert.spec).is_empty(),
                Err(_) => true,
            },
            None => false,
        };
        if !next_differs && !ctx.opts.failure_backoff.is_zero() {
            let attempts = cert
                .obj
                .pointer("/status/failedIssuanceAttempts")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            let initial = ctx.opts.failure_backoff;
            let delay = if attempts <= 1 {
                initial
            } else {
                initial
                    .checked_mul(1u32.checked_shl((attempts - 1) as u32).unwrap_or(u32::MAX))
                    .unwrap_or(MAX_BACKOFF)
                    .min(MAX_BACKOFF)
                    .max(initial)
            };
            let since = Duration::from_secs((now - failed_at).max(0) as u64);
            if since < delay {
                schedule.at(delay - since);
                return Ok(false);
            }
        }
    }
    if let Some(at) = cert
        .obj
        .pointer("/status/renewalTime")
        .and_then(Value::as_str)
        .and_then(x509::parse_time)
        && at > now
    {
        schedule.at(Duration::from_secs((at - now) as u64));
    }
    let Some((reason, message)) = trigger_chain(cert, &input, now) else {
        return Ok(false);
    };
    let mut conds = cert.conditions();
    set_condition(&mut conds, "Issuing", "True", reason, &message, cert.generation());
    patch_status(
        &apis.certs,
        &cert.obj,
        "certificates-trigger",
        json!({"conditions": conds}),
    )
    .await?;
    Ok(true)
}

async fn set_next_key_name(apis: &Apis, cert: &Cert, name: Option<&str>) -> Result<bool> {
    if cert.next_key_name().as_deref() == name {
        return Ok(false);
    }
    patch_status(
        &apis.certs,
        &cert.obj,
        "certificates-key-manager",
        json!({"nextPrivateKeySecretName": name}),
    )
    .await?;
    Ok(true)
}

/// Stores `key` in a new next private key Secret (named as the status says, else
/// `<certificate>-` and a random suffix) and records its name.
async fn store_next_key(apis: &Apis, cert: &Cert, key: &PrivateKey) -> Result<bool> {
    let b64 = base64::engine::general_purpose::STANDARD.encode(key.to_pem(super::keys::Encoding::Pkcs8));
    let mut metadata = json!({
        "namespace": cert.ns,
        "ownerReferences": [cert.owner_ref()],
        "labels": {NEXT_KEY_LABEL: "true", FAO_LABEL: "true"},
    });
    match cert.next_key_name() {
        Some(n) => metadata["name"] = json!(n),
        None => metadata["generateName"] = json!(format!("{}-", cert.name)),
    }
    let secret: Secret = serde_json::from_value(json!({"metadata": metadata, "data": {"tls.key": b64}}))
        .map_err(|e| ReconcileError(e.to_string()))?;
    let pp = PostParams {
        field_manager: Some("cert-manager-certificates-key-manager".into()),
        ..Default::default()
    };
    let created = match apis.secrets.create(&pp, &secret).await {
        Ok(s) => s,
        Err(kube::Error::Api(s)) if s.code == 409 && cert.next_key_name().is_some() => {
            apis.secrets
                .get(&cert.next_key_name().unwrap_or_default())
                .await?
        }
        Err(e) => return Err(e.into()),
    };
    set_next_key_name(apis, cert, Some(&created.name_any())).await
}

/// The key manager: keeps exactly one next private key Secret while Issuing.
async fn key_manager(apis: &Apis, cert: &Cert) -> Result<bool> {
    let secrets = apis.next_keys_of(cert).await?;
    if !cert.issuing() {
        for s in &secrets {
            apis.delete_secret(str_at(s, "/metadata/name")).await?;
        }
        return set_next_key_name(apis, cert, None).await;
    }
    let spec = cert.spec.key_spec();
    match secrets.as_slice() {
        [] => {
            let key = if spec.rotation_never {
                let existing = apis.secret(&cert.spec.secret_name).await?;
                let reusable = existing
                    .as_ref()
                    .and_then(|s| secret_data(s, "tls.key"))
                    .filter(|k| !k.is_empty())
                    .and_then(|k| PrivateKey::from_pem(&k).ok());
                match reusable {
                    Some(k) if k.violations(&spec).is_empty() => k,
                    Some(k) => {
                        tracing::warn!(
                            certificate = %cert.name,
                            "cert-manager stand-in: User intervention required: existing private key in Secret {:?} does not match requirements on Certificate resource, mismatching fields: {}, but cert-manager cannot create new private key as the Certificate's .spec.privateKey.rotationPolicy is unset or set to Never.",
                            cert.spec.secret_name,
                            go_list(&k.violations(&spec))
                        );
                        return Ok(false);
                    }
                    None => generate(&spec).await?,
                }
            } else {
                generate(&spec).await?
            };
            store_next_key(apis, cert, &key).await
        }
        [one] => {
            let name = str_at(one, "/metadata/name");
            match cert.next_key_name() {
                None => set_next_key_name(apis, cert, Some(name)).await,
                Some(n) if n != name => {
                    apis.delete_secret(name).await?;
                    Ok(true)
                }
                Some(_) => {
                    let usable = secret_data(one, "tls.key")
                        .filter(|k| !k.is_empty())
                        .and_then(|k| PrivateKey::from_pem(&k).ok())
                        .is_some_and(|k| k.violations(&spec).is_empty());
                    if !usable {
                        apis.delete_secret(name).await?;
                        return Ok(true);
                    }
                    Ok(false)
                }
            }
        }
        many => {
            let keep = cert.next_key_name().unwrap_or_default();
            for s in many {
                let name = str_at(s, "/metadata/name");
                if name != keep {
                    apis.delete_secret(name).await?;
                }
            }
            Ok(true)
        }
    }
}

/// Key generation is CPU work: off the runtime's threads.
async fn generate(spec: &super::keys::KeySpec) -> Result<PrivateKey> {
    let spec = spec.clone();
    tokio::task::spawn_blocking(move || PrivateKey::generate(&spec))
        .await
        .map_err(|e| ReconcileError(e.to_string()))?
        .map_err(ReconcileError)
}

/// The next private key, when its Secret holds one the spec accepts.
async fn next_key(apis: &Apis, cert: &Cert) -> Result<Option<(String, PrivateKey)>> {
    let Some(name) = cert.next_key_name() else {
        return Ok(None);
    };
    let Some(secret) = apis.secret(&name).await? else {
        return Ok(None);
    };
    Ok(secret_data(&secret, "tls.key")
        .filter(|k| !k.is_empty())
        .and_then(|k| PrivateKey::from_pem(&k).ok())
        .map(|k| (name, k)))
}

/// `ComputeSecureUniqueDeterministicNameFromData(name, 233)` and the revision.
fn request_name(cert: &str, revision: i64) -> String {
    const MAX: usize = 233;
    let base = if cert.len() <= MAX {
        cert.to_string()
    } else {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, cert.as_bytes());
        let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        let cut = &cert[..MAX - 64 - 1];
        let end = cut
            .rfind(|c: char| c.is_ascii_alphanumeric())
            .map_or(0, |i| i + 1);
        if end == 0 {
            hex
        } else {
            format!("{}-{hex}", &cut[..end])
        }
    };
    format!("{base}-{revision}")
}

/// The request manager: one CertificateRequest for the next revision, matching the spec
/// and the next private key.
async fn request_manager(apis: &Apis, cert: &Cert) -> Result<bool> {
    if !cert.issuing() {
        return Ok(false);
    }
    let Some((key_secret, key)) = next_key(apis, cert).await? else {
        return Ok(false);
    };
    let next = cert.revision().unwrap_or(0) + 1;
    let issuing_since = condition(&cert.conditions(), "Issuing")
        .and_then(|c| c["lastTransitionTime"].as_str())
        .and_then(x509::parse_time);
    let mut wrote = false;
    let mut matching = Vec::new();
    for cr in apis.requests_of(cert).await? {
        let name = str_at(&cr, "/metadata/name").to_string();
        let Some(rev) = request_revision(&cr) else {
            apis.delete_request(&name).await?;
            wrote = true;
            continue;
        };
        if rev != next {
            continue;
        }
        let fits = match request_spec(&cr) {
            Ok((req, csr)) => {
                x509::request_violations(&csr, &req, &cert.spec).is_empty()
                    && csr.public_key == key.public_key()
            }
            Err(_) => false,
        };
        let conds = conditions(&cr);
        let failed_before = condition(&conds, "Ready")
            .is_some_and(|c| c["status"] == "False" && c["reason"] == "Failed")
            && cr
                .pointer("/status/failureTime")
                .and_then(Value::as_str)
                .and_then(x509::parse_time)
                .zip(issuing_since)
                .is_some_and(|(failed, since)| failed < since);
        if !fits || failed_before {
            apis.delete_request(&name).await?;
            wrote = true;
            continue;
        }
        matching.push(cr);
    }
    if !matching.is_empty() {
        if matching.len() > 1 {
            tracing::warn!(certificate = %cert.name, "cert-manager stand-in: Multiple matching CertificateRequest resources exist, delete one of them.");
        }
        return Ok(wrote);
    }
    let csr = match x509::build_csr(&cert.spec, &key) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(certificate = %cert.name, error = %e, "cert-manager stand-in: Failed to generate CSR - will not retry");
            return Ok(wrote);
        }
    };
    let mut annotations: BTreeMap<String, String> = cert
        .obj
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter(|(k, _)| !NOT_COPIED.iter().any(|p| k.starts_with(p)))
        .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
        .collect();
    annotations.insert(REVISION_ANNOTATION.into(), next.to_string());
    annotations.insert(PRIVATE_KEY_ANNOTATION.into(), key_secret);
    annotations.insert(CERTIFICATE_NAME_ANNOTATION.into(), cert.name.clone());
    let mut spec = json!({
        "issuerRef": cert.spec.issuer_ref.to_json(),
        "request": base64::engine::general_purpose::STANDARD.encode(csr.as_bytes()),
    });
    if let Some(d) = &cert.spec.duration {
        spec["duration"] = json!(d);
    }
    if cert.spec.is_ca {
        spec["isCA"] = json!(true);
    }
    if !cert.spec.usages.is_empty() {
        spec["usages"] = json!(cert.spec.usages);
    }
    let mut metadata = json!({
        "name": request_name(&cert.name, next),
        "namespace": cert.ns,
        "annotations": annotations,
        "ownerReferences": [cert.owner_ref()],
    });
    if let Some(labels) = cert.obj.pointer("/metadata/labels").filter(|l| l.is_object()) {
        metadata["labels"] = labels.clone();
    }
    let cr: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "cert-manager.io/v1", "kind": "CertificateRequest", "metadata": metadata, "spec": spec,
    }))
    .map_err(|e| ReconcileError(e.to_string()))?;
    let pp = PostParams {
        field_manager: Some("cert-manager-certificates-request-manager".into()),
        ..Default::default()
    };
    match apis.requests.create(&pp, &cr).await {
        Ok(_) => Ok(true),
        // a request of this revision exists already (the watch will bring it)
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(wrote),
        Err(e) => Err(e.into()),
    }
}

/// `failIssueCertificate`: Issuing False with the request's reason, a failure recorded.
async fn fail_issuance(apis: &Apis, cert: &Cert, cond: &Value) -> Result<bool> {
    let attempts = cert
        .obj
        .pointer("/status/failedIssuanceAttempts")
        .and_then(Value::as_i64)
        .unwrap_or(0)
        + 1;
    let mut conds = cert.conditions();
    set_condition(
        &mut conds,
        "Issuing",
        "False",
        cond["reason"].as_str().unwrap_or(""),
        &format!(
            "The certificate request has failed to complete and will be retried: {}",
            cond["message"].as_str().unwrap_or("")
        ),
        cert.generation(),
    );
    patch_status(
        &apis.certs,
        &cert.obj,
        "certificates-issuing",
        json!({"lastFailureTime": x509::rfc3339(now()), "failedIssuanceAttempts": attempts, "conditions": conds}),
    )
    .await?;
    Ok(true)
}

/// The Secret's data, labels and annotations as the issuing controller applies them.
struct SecretData {
    key_pem: Vec<u8>,
    cert_pem: Vec<u8>,
    ca_pem: Vec<u8>,
    certificate_name: String,
    issuer: Option<(String, String, String)>,
}

/// The Secret cert-manager applies for `data` (`SecretsManager.UpdateData`).
fn secret_apply(ctx: &Ctx, cert: &Cert, data: &SecretData, existing_type: Option<&str>) -> Value {
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let mut d = serde_json::Map::new();
    for f in &cert.spec.additional_output_formats {
        match f.kind.as_str() {
            "DER" => {
                if let Some((_, der, _)) = super::der::pem_decode(&data.key_pem) {
                    d.insert("key.der".into(), json!(b64(&der)));
                }
            }
            "CombinedPEM" => {
                let mut combined = data.key_pem.clone();
                combined.push(b'\n');
                combined.extend_from_slice(&data.cert_pem);
                d.insert("tls-combined.pem".into(), json!(b64(&combined)));
            }
            _ => {}
        }
    }
    d.insert("tls.key".into(), json!(b64(&data.key_pem)));
    d.insert("tls.crt".into(), json!(b64(&data.cert_pem)));
    if !data.ca_pem.is_empty() {
        d.insert("ca.crt".into(), json!(b64(&data.ca_pem)));
    }
    let template = cert.spec.secret_template.clone().unwrap_or_default();
    let mut labels: BTreeMap<String, String> = template.labels;
    let mut annotations: BTreeMap<String, String> = template.annotations;
    if let Ok(info) = CertInfo::from_pem(&data.cert_pem) {
        annotations.extend(x509::certificate_annotations(&info));
    }
    if !data.certificate_name.is_empty() {
        annotations.insert(CERTIFICATE_NAME_ANNOTATION.into(), data.certificate_name.clone());
    }
    if let Some((name, kind, group)) = &data.issuer {
        annotations.insert(ISSUER_NAME.into(), name.clone());
        annotations.insert(ISSUER_KIND.into(), kind.clone());
        annotations.insert(ISSUER_GROUP.into(), group.clone());
    }
    labels.insert(FAO_LABEL.into(), "true".into());
    let mut metadata = json!({
        "name": cert.spec.secret_name, "namespace": cert.ns, "labels": labels, "annotations": annotations,
    });
    if ctx.opts.secret_owner_references {
        metadata["ownerReferences"] = json!([cert.owner_ref()]);
    }
    json!({
        "apiVersion": "v1", "kind": "Secret", "metadata": metadata,
        "type": existing_type.unwrap_or("kubernetes.io/tls"), "data": d,
    })
}

async fn apply_secret(ctx: &Ctx, apis: &Apis, cert: &Cert, data: &SecretData) -> Result<()> {
    let existing = apis.secret(&cert.spec.secret_name).await?;
    let existing_type = existing
        .as_ref()
        .and_then(|s| s["type"].as_str())
        .map(str::to_string);
    let obj = secret_apply(ctx, cert, data, existing_type.as_deref());
    apis.secrets
        .patch(
            &cert.spec.secret_name,
            &PatchParams::apply(ISSUING_MANAGER).force(),
            &Patch::Apply(&obj),
        )
        .await
        .map_err(|e| {
            ReconcileError(format!(
                "failed to apply secret {}/{}: {e}",
                cert.ns, cert.spec.secret_name
            ))
        })?;
    Ok(())
}

/// The keys under `f:metadata` / `f:<field>` the issuing controller's apply owns.
fn applied_keys(secret: &Value, field: &str) -> BTreeSet<String> {
    secret
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|m| m["manager"] == ISSUING_MANAGER && m["operation"] == "Apply")
        .filter_map(|m| {
            m.pointer(&format!("/fieldsV1/f:metadata/f:{field}"))
                .and_then(Value::as_object)
        })
        .flat_map(|o| o.keys().filter_map(|k| k.strip_prefix("f:").map(str::to_string)))
        .collect()
}

/// `ensureSecretData`: after issuance, re-applies the Secret when its labels, annotations or
/// output formats drifted from what the Certificate asks (the post-issuance policy chain).
async fn ensure_secret_data(ctx: &Ctx, apis: &Apis, cert: &Cert) -> Result<bool> {
    let Some(secret) = apis.secret(&cert.spec.secret_name).await? else {
        return Ok(false);
    };
    let (Some(key_pem), Some(cert_pem)) = (secret_data(&secret, "tls.key"), secret_data(&secret, "tls.crt"))
    else {
        return Ok(false);
    };
    if key_pem.is_empty() || cert_pem.is_empty() || CertInfo::from_pem(&cert_pem).is_err() {
        return Ok(false);
    }
    let issuer = match (
        annotation(&secret, ISSUER_NAME),
        annotation(&secret, ISSUER_KIND),
        annotation(&secret, ISSUER_GROUP),
    ) {
        (None, None, None) => None,
        (n, k, g) => Some((
            n.unwrap_or("").to_string(),
            k.unwrap_or("").to_string(),
            g.unwrap_or("").to_string(),
        )),
    };
    let data = SecretData {
        key_pem,
        cert_pem,
        ca_pem: secret_data(&secret, "ca.crt").unwrap_or_default(),
        certificate_name: annotation(&secret, CERTIFICATE_NAME_ANNOTATION)
            .unwrap_or("")
            .to_string(),
        issuer,
    };
    let want = secret_apply(ctx, cert, &data, secret["type"].as_str());
    let drifted = ["labels", "annotations"].iter().any(|field| {
        let want_map = want["metadata"][field].as_object().cloned().unwrap_or_default();
        let have = secret["metadata"][field].as_object().cloned().unwrap_or_default();
        want_map.iter().any(|(k, v)| have.get(k) != Some(v))
            || applied_keys(&secret, field)
                .iter()
                .any(|k| !want_map.contains_key(k))
    }) || ["key.der", "tls-combined.pem"]
        .iter()
        .any(|k| want["data"].get(*k).is_some() != secret["data"].get(*k).is_some())
        || (ctx.opts.secret_owner_references && !controlled_by(&secret, &cert.uid));
    if !drifted {
        return Ok(false);
    }
    apply_secret(ctx, apis, cert, &data).await?;
    Ok(true)
}

/// The issuing controller: once the next revision's request is issued, writes the Secret
/// and completes the issuance; a failed or denied request fails it.
async fn issuing(ctx: &Ctx, apis: &Apis, cert: &Cert) -> Result<bool> {
    if !cert.issuing() {
        return ensure_secret_data(ctx, apis, cert).await;
    }
    let Some((_, key)) = next_key(apis, cert).await? else {
        return Ok(false);
    };
    if !key.violations(&cert.spec.key_spec()).is_empty() {
        return Ok(false);
    }
    let next = cert.revision().unwrap_or(0) + 1;
    let requests: Vec<Value> = apis
        .requests_of(cert)
        .await?
        .into_iter()
        .filter(|r| request_revision(r) == Some(next))
        .collect();
    let [cr] = requests.as_slice() else {
        return Ok(false);
    };
    let (req, csr) = request_spec(cr).map_err(ReconcileError)?;
    if !x509::request_violations(&csr, &req, &cert.spec).is_empty() {
        return Ok(false);
    }
    let conds = conditions(cr);
    let cert_conds = cert.conditions();
    let Some(issuing) = condition(&cert_conds, "Issuing") else {
        return Ok(false);
    };
    let ready = condition(&conds, "Ready");
    let failed_at = cr
        .pointer("/status/failureTime")
        .and_then(Value::as_str)
        .and_then(x509::parse_time);
    let issuing_since = issuing["lastTransitionTime"].as_str().and_then(x509::parse_time);
    if let (Some(f), Some(s)) = (failed_at, issuing_since)
        && f < s
        && ready.is_some_and(|r| r["reason"] == "Failed")
    {
        return Ok(false);
    }
    for kind in ["Denied", "InvalidRequest"] {
        if let Some(c) = condition(&conds, kind).filter(|c| c["status"] == "True") {
            return fail_issuance(apis, cert, c).await;
        }
    }
    let Some(ready) = ready else {
        return Ok(false);
    };
    if ready["reason"] == "Failed" {
        return fail_issuance(apis, cert, ready).await;
    }
    if csr.public_key != key.public_key() {
        return Ok(false);
    }
    if ready["reason"] != "Issued" {
        return Ok(false);
    }
    let b64 = |p: &str| {
        cr.pointer(p)
            .and_then(Value::as_str)
            .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
            .unwrap_or_default()
    };
    let (cert_pem, ca_pem) = (b64("/status/certificate"), b64("/status/ca"));
    let invalid = |message: String| json!({"type": "Ready", "status": "False", "reason": "InvalidCertificate", "message": message});
    let info = match CertInfo::from_pem(&cert_pem) {
        Ok(i) => i,
        Err(e) => {
            return fail_issuance(
                apis,
                cert,
                &invalid(format!(
                    "Issuer returned an invalid certificate: failed to decode: {e}"
                )),
            )
            .await;
        }
    };
    if info.public_key != csr.public_key {
        return fail_issuance(apis, cert, &invalid("Issuer returned a certificate with a public key that does not match the CSR. This usually indicates a misconfigured issuer.".into())).await;
    }
    if now() > info.not_after {
        return fail_issuance(apis, cert, &invalid(format!(
            "Issuer returned an already expired certificate (notAfter: {}). This usually indicates an expired CA certificate in the issuer.",
            x509::rfc3339(info.not_after)
        )))
        .await;
    }
    let data = SecretData {
        key_pem: key.to_pem(cert.spec.key_spec().encoding).into_bytes(),
        cert_pem,
        ca_pem,
        certificate_name: cert.name.clone(),
        issuer: Some((
            req.issuer_ref.name.clone(),
            req.issuer_ref.kind.clone(),
            req.issuer_ref.group.clone(),
        )),
    };
    apply_secret(ctx, apis, cert, &data).await?;
    let mut conds = cert.conditions();
    conds.retain(|c| c["type"] != "Issuing");
    patch_status(
        &apis.certs,
        &cert.obj,
        "certificates-issuing",
        json!({"revision": next, "conditions": conds, "failedIssuanceAttempts": null, "lastFailureTime": null}),
    )
    .await?;
    Ok(true)
}

/// The readiness controller: the Ready condition and the certificate's times.
async fn readiness(apis: &Apis, cert: &Cert, schedule: &mut Schedule) -> Result<bool> {
    let input = gather(apis, cert).await?;
    let now = now();
    let mut conds = cert.conditions();
    let verdict = readiness_chain(cert, &input, now);
    match &verdict {
        Ok(_) => set_condition(
            &mut conds,
            "Ready",
            "True",
            "Ready",
            READY_MESSAGE,
            cert.generation(),
        ),
        Err((reason, message)) => {
            set_condition(&mut conds, "Ready", "False", reason, message, cert.generation())
        }
    }
    let parsed = input
        .secret
        .as_ref()
        .filter(|s| s.get("data").is_some_and(|d| !d.is_null()))
        .and_then(|s| secret_data(s, "tls.crt"))
        .and_then(|pem| CertInfo::from_pem(&pem).ok());
    let (not_before, not_after, renewal) = match &parsed {
        Some(info) => {
            let renewal = renewal_of(cert, info);
            if now < info.not_after {
                schedule.at(Duration::from_secs((info.not_after - now + 1) as u64));
            }
            (
                json!(x509::rfc3339(info.not_before)),
                json!(x509::rfc3339(info.not_after)),
                renewal.map_or(Value::Null, |r| json!(x509::rfc3339(r))),
            )
        }
        None => (Value::Null, Value::Null, Value::Null),
    };
    let status = cert.obj.get("status").cloned().unwrap_or(json!({}));
    let field = |k: &str| status.get(k).cloned().unwrap_or(Value::Null);
    let changed = conds != cert.conditions()
        || field("notBefore") != not_before
        || field("notAfter") != not_after
        || field("renewalTime") != renewal;
    if !changed {
        return Ok(false);
    }
    patch_status(
        &apis.certs,
        &cert.obj,
        "certificates-readiness",
        json!({"conditions": conds, "notBefore": not_before, "notAfter": not_after, "renewalTime": renewal}),
    )
    .await?;
    Ok(true)
}

/// The revision manager: keeps `revisionHistoryLimit` (default 1) requests once Ready.
async fn revision_manager(apis: &Apis, cert: &Cert) -> Result<()> {
    if !has_condition(&cert.conditions(), "Ready", "True") {
        return Ok(());
    }
    let requests = apis.requests_of(cert).await?;
    let limit = cert.spec.revision_history_limit.unwrap_or(1).max(0) as usize;
    if limit >= requests.len() {
        return Ok(());
    }
    let mut revisions: Vec<(i64, String)> = requests
        .iter()
        .filter_map(|r| Some((request_revision(r)?, str_at(r, "/metadata/name").to_string())))
        .collect();
    revisions.sort();
    let remove = revisions.len().saturating_sub(limit);
    for (_, name) in revisions.into_iter().take(remove) {
        apis.delete_request(&name).await?;
    }
    Ok(())
}

async fn reconcile(ctx: Arc<Ctx>, obj: Value) -> Result<Option<Duration>> {
    if obj
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|t| !t.is_null())
    {
        return Ok(None);
    }
    let apis = Apis::new(&ctx, str_at(&obj, "/metadata/namespace"));
    // the stored version: every step writes on the condition that it read the latest
    let Some(fresh) = apis.certs.get_opt(str_at(&obj, "/metadata/name")).await? else {
        return Ok(None);
    };
    let mut cert = match Cert::new(serde_json::to_value(fresh).unwrap_or(Value::Null)) {
        Ok(c) => c,
        Err(e) => {
            // cert-manager's webhook would have refused it; wait for a change
            tracing::warn!(certificate = %str_at(&obj, "/metadata/name"), error = %e, "cert-manager stand-in: unreadable Certificate");
            return Ok(None);
        }
    };
    let mut schedule = Schedule::default();
    macro_rules! step {
        ($e:expr) => {
            if $e {
                match apis.reread(&cert).await? {
                    Some(c) => cert = c,
                    None => return Ok(None),
                }
            }
        };
    }
    step!(trigger(&ctx, &apis, &cert, &mut schedule).await?);
    step!(key_manager(&apis, &cert).await?);
    step!(request_manager(&apis, &cert).await?);
    step!(issuing(&ctx, &apis, &cert).await?);
    step!(readiness(&apis, &cert, &mut schedule).await?);
    revision_manager(&apis, &cert).await?;
    Ok(schedule.0)
}

/// The Certificate controllers; their requests and next private key Secrets (owned) and the
/// Secret each names wake them.
pub async fn run(ctx: Arc<Ctx>) {
    let ar = certificates();
    let ctx2 = ctx.clone();
    let watched = ar.clone();
    super::run_controller(
        ctx,
        ar,
        Some(certificate_requests()),
        move |c, store| {
            super::watch_secrets(&ctx2, c, store, watched, |secret, cert| {
                let same_ns = secret.metadata.namespace == cert.metadata.namespace;
                let named = cert.data.pointer("/spec/secretName").and_then(Value::as_str)
                    == secret.metadata.name.as_deref();
                let owned = secret
                    .metadata
                    .owner_references
                    .iter()
                    .flatten()
                    .any(|r| Some(&r.uid) == cert.metadata.uid.as_ref());
                same_ns && (named || owned)
            })
        },
        "Certificate",
        reconcile,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_names_are_the_certificate_and_revision() {
        assert_eq!(request_name("web", 1), "web-1");
        let long = "a".repeat(240);
        let n = request_name(&long, 2);
        assert!(n.ends_with("-2"));
        assert_eq!(n.len(), 168 + 1 + 64 + 2);
    }

    fn cert(spec: Value, status: Value) -> Cert {
        Cert::new(
            json!({"metadata": {"name": "web", "namespace": "shop", "uid": "u1", "generation": 1},
            "spec": spec, "status": status}),
        )
        .unwrap()
    }

    #[test]
    fn the_chains_name_what_is_wrong_with_the_secret() {
        let c = cert(
            json!({"secretName": "web-tls", "issuerRef": {"name": "ca"}, "dnsNames": ["a.test"]}),
            json!({}),
        );
        let none = Input {
            secret: None,
            current: None,
            next: None,
        };
        assert_eq!(
            trigger_chain(&c, &none, 0),
            Some((
                "DoesNotExist",
                "Issuing certificate as Secret does not exist".to_string()
            ))
        );
        let empty = Input {
            secret: Some(json!({"metadata": {"name": "web-tls"}})),
            current: None,
            next: None,
        };
        assert_eq!(
            readiness_chain(&c, &empty, 0).unwrap_err(),
            (
                "MissingData",
                "Issuing certificate as Secret does not contain any data".to_string()
            )
        );
        let no_key = Input {
            secret: Some(json!({"metadata": {"name": "web-tls"}, "data": {"tls.crt": "eA=="}})),
            current: None,
            next: None,
        };
        assert_eq!(
            trigger_chain(&c, &no_key, 0).unwrap().1,
            "Issuing certificate as Secret does not contain a private key"
        );
    }

    /// A Secret and its request as the controllers leave them for `c`, issued `at`.
    fn issued(c: &Cert, at: i64, annotations: Value) -> (Value, Value) {
        let key = PrivateKey::generate(&c.spec.key_spec()).unwrap();
        let csr = x509::build_csr(&c.spec, &key).unwrap();
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        let cr = json!({"metadata": {"name": "web-1", "annotations": {REVISION_ANNOTATION: "1"}},
            "spec": {"issuerRef": c.spec.issuer_ref.to_json(), "request": b64(csr.as_bytes())}});
        let (req, parsed) = request_spec(&cr).unwrap();
        let out = x509::sign(
            &req,
            &parsed,
            x509::Signer::SelfSigned {
                key: &key,
                crl_distribution_points: vec![],
            },
            at,
        )
        .unwrap();
        let secret = json!({"metadata": {"name": "web-tls", "annotations": annotations},
            "data": {"tls.key": b64(key.to_pem(Default::default()).as_bytes()), "tls.crt": b64(out.certificate.as_bytes())}});
        (secret, cr)
    }

    #[test]
    fn a_valid_secret_passes_until_renewal_and_expiry() {
        let c = cert(
            json!({"secretName": "web-tls", "issuerRef": {"name": "ss", "kind": "ClusterIssuer"}, "dnsNames": ["a.test"], "duration": "2160h"}),
            json!({"revision": 1, "renewalTime": "2026-10-21T14:13:20Z"}),
        );
        let at = 1_790_000_000;
        let ours = json!({ISSUER_NAME: "ss", ISSUER_KIND: "ClusterIssuer", ISSUER_GROUP: "", CERTIFICATE_NAME_ANNOTATION: "web"});
        let (secret, cr) = issued(&c, at, ours);
        let input = Input {
            secret: Some(secret.clone()),
            current: Some(cr.clone()),
            next: None,
        };
        assert_eq!(trigger_chain(&c, &input, at + 10), None);
        assert!(readiness_chain(&c, &input, at + 10).is_ok());
        // 2/3 through the 90 days
        let renew = at + 60 * 24 * 3600;
        assert_eq!(trigger_chain(&c, &input, renew - 1), None);
        assert_eq!(
            trigger_chain(&c, &input, renew),
            Some((
                "Renewing",
                "Renewing certificate as renewal was scheduled at 2026-10-21 14:13:20 +0000 UTC".to_string()
            ))
        );
        let expiry = at + 90 * 24 * 3600;
        assert_eq!(
            readiness_chain(&c, &input, expiry + 1).unwrap_err(),
            (
                "Expired",
                format!("Certificate expired on {}", x509::rfc1123(expiry))
            )
        );
        // renewal disabled: never due
        let mut disabled = cert(
            json!({"secretName": "web-tls", "issuerRef": {"name": "ss", "kind": "ClusterIssuer"}, "dnsNames": ["a.test"],
                "duration": "2160h", "renewal": {"policy": "Disabled"}}),
            json!({"revision": 1}),
        );
        disabled.uid = c.uid.clone();
        assert_eq!(trigger_chain(&disabled, &input, renew + 10), None);
        // a spec change is seen against the current request
        let changed = cert(
            json!({"secretName": "web-tls", "issuerRef": {"name": "ss", "kind": "ClusterIssuer"}, "dnsNames": ["a.test", "b.test"], "duration": "2160h"}),
            json!({"revision": 1}),
        );
        assert_eq!(
            trigger_chain(&changed, &input, at),
            Some((
                "RequestChanged",
                "Fields on existing CertificateRequest resource not up to date: [spec.dnsNames]".to_string()
            ))
        );
        // and, without it, against the certificate
        let no_request = Input {
            secret: Some(secret),
            current: None,
            next: None,
        };
        assert_eq!(
            trigger_chain(&changed, &no_request, at),
            Some((
                "SecretMismatch",
                "Issuing certificate as Existing issued Secret is not up to date for spec: [spec.dnsNames]"
                    .to_string()
            ))
        );
    }

    #[test]
    fn secrets_of_other_issuers_keys_or_certificates_are_reissued() {
        let c = cert(
            json!({"secretName": "web-tls", "issuerRef": {"name": "ss", "kind": "ClusterIssuer"}, "dnsNames": ["a.test"]}),
            json!({}),
        );
        let at = 1_790_000_000;
        // no annotations at all: Go's precedence still compares kinds, and Issuer is not ClusterIssuer
        let (bare, _) = issued(&c, at, json!({}));
        let input = Input {
            secret: Some(bare),
            current: None,
            next: None,
        };
        assert_eq!(
            trigger_chain(&c, &input, at),
            Some((
                "IncorrectIssuer",
                "Issuing certificate as Secret was previously issued by \"Issuer.cert-manager.io/\""
                    .to_string()
            ))
        );
        let (other, _) = issued(
            &c,
            at,
            json!({ISSUER_NAME: "ss", ISSUER_KIND: "ClusterIssuer", CERTIFICATE_NAME_ANNOTATION: "api"}),
        );
        let input = Input {
            secret: Some(other.clone()),
            current: None,
            next: None,
        };
        assert_eq!(
            trigger_chain(&c, &input, at).unwrap(),
            ("IncorrectCertificate", "Secret was issued for \"api\". If this message is not transient, you might have two conflicting Certificates pointing to the same secret.".to_string())
        );
        // a key that is not the certificate's
        let (mut swapped, _) = issued(&c, at, json!({ISSUER_NAME: "ss", ISSUER_KIND: "ClusterIssuer"}));
        swapped["data"]["tls.key"] = other["data"]["tls.key"].clone();
        let input = Input {
            secret: Some(swapped),
            current: None,
            next: None,
        };
        assert_eq!(
            trigger_chain(&c, &input, at).unwrap(),
            (
                "InvalidKeyPair",
                "Issuing certificate as Secret contains a private key that does not match the certificate"
                    .to_string()
            )
        );
        // a key the spec no longer asks for
        let ecdsa = cert(
            json!({"secretName": "web-tls", "issuerRef": {"name": "ss", "kind": "ClusterIssuer"}, "dnsNames": ["a.test"],
                "privateKey": {"algorithm": "ECDSA"}}),
            json!({}),
        );
        let input = Input {
            secret: Some(other),
            current: None,
            next: None,
        };
        let mut ours = input.secret.clone().unwrap();
        ours["metadata"]["annotations"][CERTIFICATE_NAME_ANNOTATION] = json!("web");
        let input = Input {
            secret: Some(ours),
            ..input
        };
        assert_eq!(
            trigger_chain(&ecdsa, &input, at).unwrap(),
            (
                "SecretMismatch",
                "Existing private key is not up to date for spec: [spec.privateKey.algorithm]".to_string()
            )
        );
    }
}
