//! The ServiceAccount controller (each namespace's `default`), the root CA publisher
//! (`kube-root-ca.crt`) and the legacy token controller (token Secrets).

use serde_json::{Value, json};

use crate::apimachinery::meta;
use crate::controllers::client::{delete, write};
use crate::state::State;
use crate::storage::store::object_key;

const SA_TOKEN_TYPE: &str = "kubernetes.io/service-account-token";
const SA_NAME_ANNOTATION: &str = "kubernetes.io/service-account.name";
const SA_UID_ANNOTATION: &str = "kubernetes.io/service-account.uid";
pub(super) const ROOT_CA: &str = "kube-root-ca.crt";
const ROOT_CA_DESCRIPTION: &str = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.";

/// The `default` ServiceAccount (serviceaccount controller) and the `kube-root-ca.crt`
/// ConfigMap (root-ca-cert-publisher) of a namespace.
fn create(state: &State, plural: &str, ns: &str, obj: Value) {
    if let Err(e) =
        crate::registry::generic::create_internal(state, "", plural, Some(ns), obj, "kube-controller-manager")
        && e.code != 409
    {
        tracing::debug!(cluster = %state.name, namespace = ns, error = %e, "controller create failed; will retry on the next event");
    }
}

pub(super) fn ensure_namespace_objects(state: &State, ns: &str) {
    match state.store.get("/namespaces", ns) {
        Some(n) if meta::deletion_timestamp(&n).is_none() => {}
        _ => return,
    }
    let manager = "kube-controller-manager";
    if state
        .store
        .get("/serviceaccounts", &object_key(ns, "default"))
        .is_none()
    {
        let sa = json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": ns}});
        create(state, "serviceaccounts", ns, sa);
    }
    let data = json!({"ca.crt": state.ca_pem});
    match state.store.get("/configmaps", &object_key(ns, ROOT_CA)) {
        None => {
            let cm = json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": ROOT_CA, "namespace": ns, "annotations": {"kubernetes.io/description": ROOT_CA_DESCRIPTION}},
                "data": data,
            });
            create(state, "configmaps", ns, cm);
        }
        Some(cm) if cm.get("data") != Some(&data) => {
            let mut new = (*cm).clone();
            new["data"] = data;
            write(state, "/configmaps", &cm, new, manager, None);
        }
        Some(_) => {}
    }
}

/// The legacy token controller: fills token Secrets of existing ServiceAccounts, deletes
/// those whose ServiceAccount is gone.
pub(super) fn reconcile_token_secret(state: &State, secret: &Value) {
    if secret.get("type").and_then(Value::as_str) != Some(SA_TOKEN_TYPE)
        || meta::deletion_timestamp(secret).is_some()
    {
        return;
    }
    let ns = meta::namespace(secret);
    let Some(sa_name) = meta::meta(secret)
        .and_then(|m| m.get("annotations"))
        .and_then(|a| a.get(SA_NAME_ANNOTATION))
        .and_then(Value::as_str)
    else {
        return;
    };
    let Some(sa) = state.store.get("/serviceaccounts", &object_key(ns, sa_name)) else {
        delete(state, "/secrets", secret);
        return;
    };
    let recorded_uid = meta::meta(secret)
        .and_then(|m| m.get("annotations"))
        .and_then(|a| a.get(SA_UID_ANNOTATION))
        .and_then(Value::as_str);
    if recorded_uid.is_some_and(|u| u != meta::uid(&sa)) {
        delete(state, "/secrets", secret);
        return;
    }
    if secret.pointer("/data/token").is_some() && recorded_uid.is_some() {
        return;
    }
    use base64::Engine;
    let b64 = |s: &str| json!(base64::engine::general_purpose::STANDARD.encode(s));
    let token = state
        .signer
        .sign(&crate::auth::authn::legacy_claims(&sa, meta::name(secret)));
    let mut new = secret.clone();
    let md = meta::meta_mut(&mut new);
    let ann = md.entry("annotations").or_insert_with(|| json!({}));
    ann[SA_UID_ANNOTATION] = json!(meta::uid(&sa));
    let data = new
        .as_object_mut()
        .expect("object")
        .entry("data")
        .or_insert_with(|| json!({}));
    data["token"] = b64(&token);
    data["ca.crt"] = b64(&state.ca_pem);
    data["namespace"] = b64(ns);
    write(state, "/secrets", secret, new, "kube-controller-manager", None);
}

/// A deleted ServiceAccount takes its legacy token Secrets along.
pub(super) fn service_account_gone(state: &State, sa: &Value) {
    let ns = meta::namespace(sa);
    let (_, secrets) = state.store.snapshot("/secrets");
    let prefix = format!("{ns}/");
    for (_, s) in secrets
        .range(prefix.clone()..)
        .take_while(|(k, _)| k.starts_with(&prefix))
    {
        let ann = meta::meta(s).and_then(|m| m.get("annotations"));
        if s.get("type").and_then(Value::as_str) == Some(SA_TOKEN_TYPE)
            && ann
                .and_then(|a| a.get(SA_NAME_ANNOTATION))
                .and_then(Value::as_str)
                == Some(meta::name(sa))
        {
            delete(state, "/secrets", s);
        }
    }
    // the serviceaccount controller brings `default` back
    if meta::name(sa) == "default" {
        ensure_namespace_objects(state, ns);
    }
}
