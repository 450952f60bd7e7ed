//! Authentication: the admin token and ServiceAccount tokens (signed JWTs, as
//! kube-apiserver's service account token issuer makes them).
//!
//! Bound tokens (TokenRequest) carry `iss`, `sub`, `aud`, `exp`, `iat`, `nbf`, `jti` and
//! the `kubernetes.io` claim; legacy tokens (Secrets of type
//! `kubernetes.io/service-account-token`) carry the `kubernetes.io/serviceaccount/*` claims
//! and never expire. Either is rejected once its ServiceAccount (or Secret, or bound object)
//! is gone or was replaced.

use std::collections::BTreeMap;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use serde_json::{Value, json};

use crate::apimachinery::meta;
use crate::storage::store::{Store, object_key};

/// The issuer (and default API audience) of bound tokens.
pub const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";
/// The issuer of legacy Secret-based tokens.
pub const LEGACY_ISSUER: &str = "kubernetes/serviceaccount";

/// A token webhook: the user a bearer token stands for, if it knows it.
pub type TokenWebhook = std::sync::Arc<dyn Fn(&str) -> Option<User> + Send + Sync>;

/// Who a request is from.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct User {
    pub name: String,
    pub uid: String,
    pub groups: Vec<String>,
    pub extra: BTreeMap<String, Vec<String>>,
}

impl User {
    pub fn admin() -> Self {
        User {
            name: "kubernetes-admin".into(),
            uid: String::new(),
            groups: vec!["system:masters".into(), "system:authenticated".into()],
            extra: BTreeMap::new(),
        }
    }

    /// The identity of a ServiceAccount.
    pub fn service_account(namespace: &str, name: &str, uid: &str) -> Self {
        User {
            name: format!("system:serviceaccount:{namespace}:{name}"),
            uid: uid.to_string(),
            groups: vec![
                "system:serviceaccounts".into(),
                format!("system:serviceaccounts:{namespace}"),
                "system:authenticated".into(),
            ],
            extra: BTreeMap::new(),
        }
    }

    /// `(namespace, name)` if this is a ServiceAccount.
    pub fn as_service_account(&self) -> Option<(&str, &str)> {
        let rest = self.name.strip_prefix("system:serviceaccount:")?;
        rest.split_once(':')
    }

    pub fn is_admin(&self) -> bool {
        self.groups.iter().any(|g| g == "system:masters")
    }
}

/// Signs and verifies this cluster's ServiceAccount tokens (ES256).
pub struct TokenSigner {
    key: EcdsaKeyPair,
    kid: String,
    /// Claims of tokens whose signature was checked. Only the signature check is cached:
    /// expiry and the existence of the ServiceAccount, Secret or bound object are checked
    /// on every request, so revocation is immediate.
    verified: std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<Value>>>,
}

/// How many verified tokens are remembered before the cache starts over.
const VERIFIED_CACHE: usize = 4096;

impl TokenSigner {
    pub fn generate() -> Self {
        let key = EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING)
            .expect("P-256 key generation");
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, key.public_key().as_ref());
        TokenSigner {
            key,
            kid: B64URL.encode(digest.as_ref()),
            verified: Default::default(),
        }
    }

    pub fn sign(&self, claims: &Value) -> String {
        let header = json!({"alg": "ES256", "kid": self.kid});
        let signing_input = format!(
            "{}.{}",
            B64URL.encode(serde_json::to_vec(&header).unwrap_or_default()),
            B64URL.encode(serde_json::to_vec(claims).unwrap_or_default())
        );
        let sig = self
            .key
            .sign(&SystemRandom::new(), signing_input.as_bytes())
            .expect("ECDSA signing");
        format!("{signing_input}.{}", B64URL.encode(sig.as_ref()))
    }

    /// The claims of a token this signer made, if the signature holds.
    pub fn verify(&self, token: &str) -> Option<std::sync::Arc<Value>> {
        // keyed by the whole token: a known signature with another payload is a forgery
        let key = token;
        let mut cache = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = cache.get(key) {
            return Some(c.clone());
        }
        drop(cache);
        let claims = std::sync::Arc::new(self.verify_signature(token)?);
        cache = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= VERIFIED_CACHE {
            cache.clear();
        }
        cache.insert(key.to_string(), claims.clone());
        Some(claims)
    }

    fn verify_signature(&self, token: &str) -> Option<Value> {
        let mut parts = token.split('.');
        let (h, c, s) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let header: Value = serde_json::from_slice(&B64URL.decode(h).ok()?).ok()?;
        if header.get("alg")?.as_str()? != "ES256" {
            return None;
        }
        let sig = B64URL.decode(s).ok()?;
        let public = signature::UnparsedPublicKey::new(
            &signature::ECDSA_P256_SHA256_FIXED,
            self.key.public_key().as_ref(),
        );
        public.verify(format!("{h}.{c}").as_bytes(), &sig).ok()?;
        serde_json::from_slice(&B64URL.decode(c).ok()?).ok()
    }
}

/// Claims of a bound token for a ServiceAccount.
pub fn bound_claims(
    sa: &Value,
    audiences: &[String],
    expiration_seconds: i64,
    bound: Option<&Value>,
) -> Value {
    let now = jiff::Timestamp::now().as_second();
    let ns = meta::namespace(sa);
    let mut k8s = json!({
        "namespace": ns,
        "serviceaccount": {"name": meta::name(sa), "uid": meta::uid(sa)},
    });
    if let Some(b) = bound {
        let kind = b.get("kind").and_then(Value::as_str).unwrap_or("").to_lowercase();
        k8s[kind] = json!({"name": b.get("name"), "uid": b.get("uid")});
    }
    json!({
        "aud": audiences,
        "exp": now + expiration_seconds,
        "iat": now,
        "iss": ISSUER,
        "jti": uuid::Uuid::new_v4().to_string(),
        "kubernetes.io": k8s,
        "nbf": now,
        "sub": format!("system:serviceaccount:{ns}:{}", meta::name(sa)),
    })
}

/// Claims of a legacy token stored in `secret`.
pub fn legacy_claims(sa: &Value, secret_name: &str) -> Value {
    let ns = meta::namespace(sa);
    json!({
        "iss": LEGACY_ISSUER,
        "kubernetes.io/serviceaccount/namespace": ns,
        "kubernetes.io/serviceaccount/secret.name": secret_name,
        "kubernetes.io/serviceaccount/service-account.name": meta::name(sa),
        "kubernetes.io/serviceaccount/service-account.uid": meta::uid(sa),
        "sub": format!("system:serviceaccount:{ns}:{}", meta::name(sa)),
    })
}

fn str_claim<'a>(c: &'a Value, path: &str) -> Option<&'a str> {
    c.pointer(path).and_then(Value::as_str)
}

/// Validates a ServiceAccount token against the signer and the current objects.
pub fn validate_token(
    signer: &TokenSigner,
    store: &Store,
    revoked: &dyn Fn(&str) -> bool,
    token: &str,
) -> Option<User> {
    let claims = signer.verify(token)?;
    if revoked(token) {
        return None;
    }
    match claims.get("iss")?.as_str()? {
        ISSUER => {
            let now = jiff::Timestamp::now().as_second();
            if claims.get("exp")?.as_i64()? <= now
                || claims.get("nbf").and_then(Value::as_i64).unwrap_or(0) > now + 60
            {
                return None;
            }
            let aud = claims.get("aud")?.as_array()?;
            if !aud.iter().any(|a| a.as_str() == Some(ISSUER)) {
                return None;
            }
            let ns = str_claim(&claims, "/kubernetes.io/namespace")?;
            let name = str_claim(&claims, "/kubernetes.io/serviceaccount/name")?;
            let uid = str_claim(&claims, "/kubernetes.io/serviceaccount/uid")?;
            let sa = store.get("/serviceaccounts", &object_key(ns, name))?;
            if meta::uid(&sa) != uid || meta::deletion_timestamp(&sa).is_some() {
                return None;
            }
            // tokens bound to a Secret or Pod die with it
            for (storage, kind) in [("/secrets", "secret"), ("/pods", "pod")] {
                if let Some(b) = claims.pointer(&format!("/kubernetes.io/{kind}")) {
                    let bname = b.get("name")?.as_str()?;
                    let buid = b.get("uid")?.as_str()?;
                    let obj = store.get(storage, &object_key(ns, bname))?;
                    if meta::uid(&obj) != buid || meta::deletion_timestamp(&obj).is_some() {
                        return None;
                    }
                }
            }
            let mut user = User::service_account(ns, name, uid);
            if let Some(jti) = claims.get("jti").and_then(Value::as_str) {
                user.extra.insert(
                    "authentication.kubernetes.io/credential-id".into(),
                    vec![format!("JTI={jti}")],
                );
            }
            Some(user)
        }
        LEGACY_ISSUER => {
            let ns = str_claim(&claims, "/kubernetes.io~1serviceaccount~1namespace")?;
            let secret_name = str_claim(&claims, "/kubernetes.io~1serviceaccount~1secret.name")?;
            let name = str_claim(&claims, "/kubernetes.io~1serviceaccount~1service-account.name")?;
            let uid = str_claim(&claims, "/kubernetes.io~1serviceaccount~1service-account.uid")?;
            let secret = store.get("/secrets", &object_key(ns, secret_name))?;
            let stored = secret.pointer("/data/token").and_then(Value::as_str)?;
            let stored = base64::engine::general_purpose::STANDARD.decode(stored).ok()?;
            if stored != token.as_bytes() || meta::deletion_timestamp(&secret).is_some() {
                return None;
            }
            let sa = store.get("/serviceaccounts", &object_key(ns, name))?;
            if meta::uid(&sa) != uid {
                return None;
            }
            Some(User::service_account(ns, name, uid))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_with_sa() -> (Store, Value) {
        let store = Store::new(100);
        let sa = store
            .create(
                "/serviceaccounts",
                "ns/bot",
                json!({"metadata": {"name": "bot", "namespace": "ns", "uid": "u-1"}}),
            )
            .unwrap();
        (store, (*sa).clone())
    }

    #[test]
    fn bound_tokens_expire_and_need_the_api_audience() {
        let (store, sa) = store_with_sa();
        let signer = TokenSigner::generate();
        let none = |_: &str| false;
        let good = signer.sign(&bound_claims(&sa, &[ISSUER.to_string()], 3600, None));
        assert_eq!(
            validate_token(&signer, &store, &none, &good).unwrap().name,
            "system:serviceaccount:ns:bot"
        );
        let mut expired = bound_claims(&sa, &[ISSUER.to_string()], 3600, None);
        expired["exp"] = json!(jiff::Timestamp::now().as_second() - 1);
        assert!(validate_token(&signer, &store, &none, &signer.sign(&expired)).is_none());
        let other_audience = signer.sign(&bound_claims(&sa, &["vault".to_string()], 3600, None));
        assert!(validate_token(&signer, &store, &none, &other_audience).is_none());
        assert!(
            validate_token(&signer, &store, &|_| true, &good).is_none(),
            "revoked"
        );
        // a ServiceAccount recreated under the same name is another identity
        store.delete("/serviceaccounts", "ns/bot", None).unwrap();
        store
            .create(
                "/serviceaccounts",
                "ns/bot",
                json!({"metadata": {"name": "bot", "namespace": "ns", "uid": "u-2"}}),
            )
            .unwrap();
        assert!(validate_token(&signer, &store, &none, &good).is_none());
    }

    #[test]
    fn tokens_verify_only_with_their_signer() {
        let a = TokenSigner::generate();
        let b = TokenSigner::generate();
        let t = a.sign(&json!({"sub": "x"}));
        assert_eq!(a.verify(&t).unwrap()["sub"], "x");
        assert!(b.verify(&t).is_none());
        let mut tampered = t.clone();
        tampered.insert(t.find('.').unwrap() + 2, 'A');
        assert!(a.verify(&tampered).is_none());
        assert!(a.verify("not.a.jwt").is_none());
    }
}
