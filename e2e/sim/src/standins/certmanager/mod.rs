//! The cert-manager stand-in: cert-manager's controller (v1.21.1) for the issuers platforms
//! bootstrap with, talking to its cluster only through a kube-rs client.
//!
//! [`CertManagerStandIn::install`] optionally installs the cert-manager.io/v1 CRDs
//! (Certificate, CertificateRequest, Issuer, ClusterIssuer) and runs, as kube-runtime
//! controllers, what cert-manager's controller runs for them:
//! - `issuers` / `clusterissuers`: `selfSigned` and `ca` issuers become Ready with
//!   cert-manager's conditions (reason `IsReady`; `KeyPairVerified` "Signing CA verified",
//!   or `ErrGetKeyPair` / `ErrInvalidKeyPair` for a CA Secret that is missing, unreadable or
//!   not a CA); `acme`, `vault` and `venafi` issuers are reported not Ready with reason
//!   `UnsupportedIssuerType`, since the stand-in never issues from them;
//! - the Certificate controllers, run in cert-manager's order on each change: trigger (the
//!   Issuing condition and its reasons), key manager (the next private key in a temporary
//!   Secret, `rotationPolicy`), request manager (one CertificateRequest per revision, named
//!   `<certificate>-<revision>`), issuing (the `kubernetes.io/tls` Secret applied with
//!   cert-manager's annotations, labels, `secretTemplate` and additional output formats;
//!   `status.revision`), readiness (Ready, notBefore, notAfter, renewalTime) and revision
//!   manager (`revisionHistoryLimit`);
//! - the CertificateRequest controllers: the approver, and the selfSigned and CA signers
//!   (Pending while the issuer is missing or not Ready, Failed with the issuer's reason).
//!
//! Not done (cert-manager does them): ACME, Vault and Venafi issuance, keystores (JKS and
//! PKCS#12), renewal windows (`spec.renewal.windows`; RenewBefore and Disabled are), ACME
//! renewal information, temporary certificates, ingress and gateway shims, the webhook's
//! validation and the requester identity it writes into requests (the webhook and the
//! cainjector themselves run when pods of their images do: [`webhook`]), Events,
//! and CertificateSigningRequests. rcgen holds one value per subject attribute type, so
//! only the first of several organizations (and so on) is encoded, multi-valued RDNs of a
//! `literalSubject` are flattened, certificates carry a subject key identifier whether or
//! not they are CAs, and `spec.signatureAlgorithm` is not applied (it only signs the CSR;
//! the issued certificate is signed as the issuer's key requires, as cert-manager does). RSA
//! keys are generated with 2048, 3072, 4096 or 8192 bits.

mod certificates;
mod crds;
mod der;
mod issuers;
pub mod keys;
mod requests;
pub mod spec;
pub mod webhook;
pub mod x509;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::ApiResource;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use serde_json::{Value, json};

pub use super::InstallError;
use super::api_resource;

/// The cert-manager release the stand-in behaves as.
pub const CERT_MANAGER_VERSION: &str = "v1.21.1";
/// The image of cert-manager's controller (a pod of it starts the stand-in).
pub const CONTROLLER_IMAGE: &str = "quay.io/jetstack/cert-manager-controller";
const MANAGER: &str = "cert-manager";

pub(crate) fn certificates() -> ApiResource {
    api_resource("cert-manager.io", "v1", "Certificate", "certificates")
}

pub(crate) fn certificate_requests() -> ApiResource {
    api_resource(
        "cert-manager.io",
        "v1",
        "CertificateRequest",
        "certificaterequests",
    )
}

pub(crate) fn issuers() -> ApiResource {
    api_resource("cert-manager.io", "v1", "Issuer", "issuers")
}

pub(crate) fn cluster_issuers() -> ApiResource {
    api_resource("cert-manager.io", "v1", "ClusterIssuer", "clusterissuers")
}

/// How the stand-in installs itself and behaves.
#[derive(Clone, Debug)]
pub struct CertManagerOptions {
    /// Install the cert-manager.io CRDs (false when a chart installs the real ones).
    pub install_crds: bool,
    /// `--cluster-resource-namespace`: where ClusterIssuers' Secrets live (the chart passes
    /// the release namespace, `cert-manager` by default).
    pub cluster_resource_namespace: String,
    /// `--enable-certificate-owner-ref`: Secrets are owned by their Certificate (off by
    /// default, as in the chart).
    pub secret_owner_references: bool,
    /// `--certificate-request-minimum-backoff-duration` (1h): how long after a failed
    /// issuance the next one starts, doubling per failure up to 32h.
    pub failure_backoff: Duration,
}

impl Default for CertManagerOptions {
    fn default() -> Self {
        CertManagerOptions {
            install_crds: true,
            cluster_resource_namespace: "cert-manager".into(),
            secret_owner_references: false,
            failure_backoff: Duration::from_secs(3600),
        }
    }
}

/// What the controllers share.
pub(crate) struct Ctx {
    pub client: Client,
    pub opts: CertManagerOptions,
}

/// The running stand-in; dropping it stops the controllers.
pub struct CertManagerStandIn {
    tasks: crate::tasks::Tasks,
}

impl CertManagerStandIn {
    /// Installs the CRDs when asked to and starts the controllers.
    pub async fn install(
        client: Client,
        opts: CertManagerOptions,
    ) -> std::result::Result<Self, InstallError> {
        crate::tls::install_crypto_provider();
        if opts.install_crds {
            super::install_crds(&client, MANAGER, crds::all(), "cert-manager").await?;
        }
        let ctx = Arc::new(Ctx { client, opts });
        let mut tasks = crate::tasks::Tasks::new();
        tasks.spawn(issuers::run(ctx.clone(), issuers()));
        tasks.spawn(issuers::run(ctx.clone(), cluster_issuers()));
        tasks.spawn(certificates::run(ctx.clone()));
        tasks.spawn(requests::run(ctx));
        Ok(CertManagerStandIn { tasks })
    }

    /// Stops the controllers, waiting for them (at most `grace`).
    pub async fn shutdown(self, grace: Duration) -> bool {
        self.tasks.shutdown(grace).await
    }
}

/// The cert-manager CRDs the stand-in installs (for a chart's manifests).
pub fn crd_manifests() -> Vec<Value> {
    crds::all()
}

/// Why a reconcile failed (it is retried).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct ReconcileError(pub String);

impl From<kube::Error> for ReconcileError {
    fn from(e: kube::Error) -> Self {
        ReconcileError(e.to_string())
    }
}

impl From<String> for ReconcileError {
    fn from(e: String) -> Self {
        ReconcileError(e)
    }
}

pub(crate) type Result<T> = std::result::Result<T, ReconcileError>;

/// Now, in unix seconds.
pub(crate) fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// `PatchParams` naming the writer as cert-manager's controllers name themselves
/// (`cert-manager-<controller>`).
pub(crate) fn as_controller(controller: &str) -> PatchParams {
    PatchParams {
        field_manager: Some(format!("cert-manager-{controller}")),
        ..Default::default()
    }
}

/// Merge-patches `status` of `obj` (replacing the lists it names), on the condition that
/// `obj` is still the stored version, as cert-manager's UpdateStatus is; returns the
/// updated object.
pub(crate) async fn patch_status(
    api: &Api<DynamicObject>,
    obj: &Value,
    controller: &str,
    status: Value,
) -> std::result::Result<Value, kube::Error> {
    let patch = json!({
        "metadata": {"resourceVersion": str_at(obj, "/metadata/resourceVersion")},
        "status": status,
    });
    let updated = api
        .patch_status(
            str_at(obj, "/metadata/name"),
            &as_controller(controller),
            &Patch::Merge(patch),
        )
        .await?;
    Ok(serde_json::to_value(updated).unwrap_or(Value::Null))
}

/// `status.conditions` of an object.
pub(crate) fn conditions(obj: &Value) -> Vec<Value> {
    obj.pointer("/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// The condition of `kind` with `status`, if any.
pub(crate) fn condition<'a>(conds: &'a [Value], kind: &str) -> Option<&'a Value> {
    conds.iter().find(|c| c["type"] == kind)
}

pub(crate) fn has_condition(conds: &[Value], kind: &str, status: &str) -> bool {
    condition(conds, kind).is_some_and(|c| c["status"] == status)
}

/// `SetCertificateCondition` / `SetIssuerCondition` / `SetCertificateRequestCondition`:
/// replaces or appends the condition; its lastTransitionTime changes only with its status.
/// `observed_generation` is written for Certificates and issuers, not for requests.
pub(crate) fn set_condition(
    conds: &mut Vec<Value>,
    kind: &str,
    status: &str,
    reason: &str,
    message: &str,
    observed_generation: Option<i64>,
) {
    let mut c = json!({"type": kind, "status": status, "lastTransitionTime": x509::rfc3339(now())});
    if !reason.is_empty() {
        c["reason"] = json!(reason);
    }
    if !message.is_empty() {
        c["message"] = json!(message);
    }
    if let Some(g) = observed_generation.filter(|g| *g != 0) {
        c["observedGeneration"] = json!(g);
    }
    match conds.iter_mut().find(|x| x["type"] == kind) {
        Some(existing) => {
            if existing["status"] == status {
                c["lastTransitionTime"] = existing["lastTransitionTime"].clone();
            }
            *existing = c;
        }
        None => conds.push(c),
    }
}

pub(crate) fn generation(obj: &Value) -> i64 {
    obj.pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

pub(crate) fn str_at<'a>(obj: &'a Value, pointer: &str) -> &'a str {
    obj.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// A Secret's data entry, decoded.
pub(crate) fn secret_data(secret: &Value, key: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let s = secret.pointer(&format!("/data/{}", key.replace('~', "~0").replace('/', "~1")))?;
    base64::engine::general_purpose::STANDARD.decode(s.as_str()?).ok()
}

/// `apierrors.IsNotFound`.
pub(crate) fn not_found<T>(r: &std::result::Result<T, kube::Error>) -> bool {
    matches!(r, Err(kube::Error::Api(s)) if s.code == 404)
}

/// Runs a controller over every object of `ar`: `reconcile` returns when to look again
/// (None: only on change). `extra` adds watches (issuers for requests, Secrets for
/// Certificates) through the controller's own store.
pub(crate) async fn run_controller<F, Fut>(
    ctx: Arc<Ctx>,
    ar: ApiResource,
    owns: Option<ApiResource>,
    extra: impl FnOnce(Controller<DynamicObject>, Store<DynamicObject>) -> Controller<DynamicObject>,
    what: &'static str,
    reconcile: F,
) where
    F: Fn(Arc<Ctx>, Value) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = Result<Option<Duration>>> + Send + 'static,
{
    let api: Api<DynamicObject> = Api::all_with(ctx.client.clone(), &ar);
    let mut controller = Controller::new_with(api, watcher::Config::default(), ar);
    if let Some(child) = owns {
        let children: Api<DynamicObject> = Api::all_with(ctx.client.clone(), &child);
        controller = controller.owns_with(children, child, watcher::Config::default());
    }
    let store = controller.store();
    let controller = extra(controller, store);
    controller
        .run(
            move |obj: Arc<DynamicObject>, ctx: Arc<Ctx>| {
                let reconcile = reconcile.clone();
                async move {
                    let v = serde_json::to_value(obj.as_ref()).unwrap_or(Value::Null);
                    reconcile(ctx, v).await.map(|after| match after {
                        Some(d) => Action::requeue(d),
                        None => Action::await_change(),
                    })
                }
            },
            move |_, e: &ReconcileError, _| {
                tracing::debug!(error = %e.0, "cert-manager stand-in: {what} reconcile failed; retrying");
                Action::requeue(Duration::from_secs(1))
            },
            ctx,
        )
        .for_each(|_| async {})
        .await
}

/// A watch on every Secret, mapped to objects of the controller's store by `map`.
pub(crate) fn watch_secrets(
    ctx: &Ctx,
    controller: Controller<DynamicObject>,
    store: Store<DynamicObject>,
    ar: ApiResource,
    map: impl Fn(&Secret, &DynamicObject) -> bool + Send + Sync + 'static,
) -> Controller<DynamicObject> {
    let secrets: Api<Secret> = Api::all(ctx.client.clone());
    controller.watches(secrets, watcher::Config::default(), move |secret: Secret| {
        store
            .state()
            .into_iter()
            .filter(|o| map(&secret, o))
            .map(|o| object_ref(&o, &ar))
            .collect::<Vec<_>>()
    })
}

pub(crate) fn object_ref(o: &DynamicObject, ar: &ApiResource) -> ObjectRef<DynamicObject> {
    let r = ObjectRef::new_with(o.metadata.name.as_deref().unwrap_or(""), ar.clone());
    match &o.metadata.namespace {
        Some(ns) => r.within(ns),
        None => r,
    }
}
