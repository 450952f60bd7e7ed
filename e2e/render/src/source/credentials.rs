//! Repository credentials: from the environment or from Argo CD repository Secrets.
//!
//! Environment (the per-repository form wins over the general one):
//! - `HUBSPOKE_HELM_REPO_<KEY>_USERNAME` / `_PASSWORD` (basic auth), `_TOKEN` (bearer),
//!   `_CA_FILE` (PEM), where KEY is the repository URL without its scheme, upper-cased, every
//!   character other than A-Z and 0-9 turned into `_` (`https://charts.example.com/stable` →
//!   `CHARTS_EXAMPLE_COM_STABLE`, `oci://ghcr.io/acme` → `GHCR_IO_ACME`);
//! - `HUBSPOKE_HELM_REPO_USERNAME` / `_PASSWORD` / `_TOKEN` / `_CA_FILE` for every repository;
//! - `..._PLAIN_HTTP=true` talks plain HTTP to an OCI registry (Helm's `--plain-http`).

use std::collections::BTreeMap;
use std::fmt;

use super::{ErrorKind, SourceError};

/// Credentials for one repository. Debug output never shows the secrets.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    pub username: Option<String>,
    pub password: Option<String>,
    /// A bearer token (sent as `Authorization: Bearer ...`).
    pub token: Option<String>,
    /// A client certificate and key (PEM) for mutual TLS.
    pub client_cert: Option<Vec<u8>>,
    pub client_key: Option<Vec<u8>>,
    /// Where they came from, for error messages (never a secret).
    pub origin: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("client_cert", &self.client_cert.as_ref().map(|_| "<pem>"))
            .field("client_key", &self.client_key.as_ref().map(|_| "<redacted>"))
            .field("origin", &self.origin)
            .finish()
    }
}

/// The general environment prefix.
pub const ENV_PREFIX: &str = "HUBSPOKE_HELM_REPO";

/// The per-repository key of a URL (see the module doc).
pub fn env_key(repo_url: &str) -> String {
    let rest = repo_url
        .split_once("://")
        .map_or(repo_url, |(_, r)| r)
        .trim_end_matches('/');
    rest.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// The variable names that carry credentials for `repo_url`, per-repository first.
pub fn env_names(repo_url: &str) -> [String; 2] {
    [
        format!("{ENV_PREFIX}_{}", env_key(repo_url)),
        ENV_PREFIX.to_string(),
    ]
}

/// Whether `_PLAIN_HTTP` is `true` for the repository (per-repository, else general).
pub(crate) fn plain_http_from_env(repo_url: &str, lookup: &dyn Fn(&str) -> Option<String>) -> bool {
    env_names(repo_url)
        .into_iter()
        .find_map(|p| lookup(&format!("{p}_PLAIN_HTTP")).filter(|v| !v.is_empty()))
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true") || v.trim() == "1")
}

/// The CA file variable that applies, if any: (variable, path).
pub(crate) fn ca_file_from_env(
    repo_url: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Option<(String, String)> {
    env_names(repo_url).into_iter().find_map(|p| {
        let var = format!("{p}_CA_FILE");
        lookup(&var).filter(|v| !v.is_empty()).map(|v| (var, v))
    })
}

impl Credentials {
    /// Basic auth.
    pub fn basic(username: impl Into<String>, password: impl Into<String>) -> Credentials {
        Credentials {
            username: Some(username.into()),
            password: Some(password.into()),
            origin: "the given username and password".into(),
            ..Default::default()
        }
    }

    /// A bearer token.
    pub fn bearer(token: impl Into<String>) -> Credentials {
        Credentials {
            token: Some(token.into()),
            origin: "the given token".into(),
            ..Default::default()
        }
    }

    pub fn is_empty(&self) -> bool {
        self.username.is_none() && self.password.is_none() && self.token.is_none()
    }

    /// From the process environment (see the module doc).
    pub fn from_env(repo_url: &str) -> Credentials {
        Self::from_env_with(repo_url, &|k: &str| std::env::var(k).ok())
    }

    /// From variables given by `lookup`: the first prefix (per-repository, then general)
    /// with any of `_USERNAME`, `_PASSWORD`, `_TOKEN` set supplies all of them.
    pub fn from_env_with(repo_url: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Credentials {
        for prefix in env_names(repo_url) {
            let get = |s: &str| lookup(&format!("{prefix}_{s}")).filter(|v| !v.is_empty());
            let (u, p, t) = (get("USERNAME"), get("PASSWORD"), get("TOKEN"));
            if u.is_some() || p.is_some() || t.is_some() {
                let mut set = Vec::new();
                for (v, n) in [(&u, "USERNAME"), (&p, "PASSWORD"), (&t, "TOKEN")] {
                    if v.is_some() {
                        set.push(format!("{prefix}_{n}"));
                    }
                }
                return Credentials {
                    username: u,
                    password: p,
                    token: t,
                    origin: set.join(", "),
                    ..Default::default()
                };
            }
        }
        Credentials::default()
    }

    /// What to tell a user whose repository refused access: the variables to set.
    pub(crate) fn advice(&self, repo_url: &str) -> String {
        let [per_repo, general] = env_names(repo_url);
        let set = format!(
            "set {per_repo}_USERNAME and {per_repo}_PASSWORD (or {per_repo}_TOKEN for a bearer token; {general}_USERNAME/_PASSWORD/_TOKEN apply to every repository), or give an Argo CD repository Secret for {repo_url}"
        );
        if self.is_empty() {
            format!("no credentials were given; {set}")
        } else {
            let who = self
                .username
                .as_ref()
                .map(|u| format!(" (username {u:?})"))
                .unwrap_or_default();
            format!(
                "the credentials from {}{who} were refused; check them, or {set}",
                self.origin
            )
        }
    }
}

/// Which kind of Argo CD Secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgoSecretKind {
    /// `argocd.argoproj.io/secret-type: repository`: one repository, its URL exactly.
    Repository,
    /// `argocd.argoproj.io/secret-type: repo-creds`: a credential template for every
    /// repository whose URL starts with its URL.
    RepoCreds,
}

/// An Argo CD repository Secret, read from its data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArgoRepository {
    pub kind: ArgoSecretKind,
    pub url: String,
    /// `type: helm` (Argo CD's default type is git).
    pub helm: bool,
    pub enable_oci: bool,
    pub insecure: bool,
    /// `insecureOCIForceHttp`: talk plain HTTP to the OCI registry.
    pub force_http: bool,
    pub credentials: Credentials,
}

impl ArgoRepository {
    /// Reads a Secret: `secret_type` is the `argocd.argoproj.io/secret-type` label,
    /// `data` the Secret's data (decoded bytes) or stringData.
    pub fn from_secret(
        secret_name: &str,
        secret_type: &str,
        data: &BTreeMap<String, Vec<u8>>,
    ) -> Result<ArgoRepository, SourceError> {
        let kind = match secret_type {
            "repository" => ArgoSecretKind::Repository,
            "repo-creds" => ArgoSecretKind::RepoCreds,
            other => {
                return Err(SourceError::new(
                    ErrorKind::InvalidReference,
                    format!(
                        "Secret {secret_name} has argocd.argoproj.io/secret-type {other:?}; a chart repository Secret has \"repository\" or \"repo-creds\""
                    ),
                ));
            }
        };
        let text = |k: &str| -> Result<Option<String>, SourceError> {
            match data.get(k) {
                None => Ok(None),
                Some(v) => String::from_utf8(v.clone()).map(Some).map_err(|_| {
                    SourceError::new(
                        ErrorKind::InvalidReference,
                        format!("Secret {secret_name}: {k} is not UTF-8 text"),
                    )
                }),
            }
        };
        let url = text("url")?.filter(|u| !u.is_empty()).ok_or_else(|| {
            SourceError::new(
                ErrorKind::InvalidReference,
                format!("Secret {secret_name} has no url; add the repository URL"),
            )
        })?;
        let flag = |k: &str| -> Result<bool, SourceError> {
            Ok(text(k)?.is_some_and(|v| v.trim().eq_ignore_ascii_case("true")))
        };
        let typ = text("type")?.unwrap_or_default();
        let credentials = Credentials {
            username: text("username")?.filter(|s| !s.is_empty()),
            password: text("password")?.filter(|s| !s.is_empty()),
            token: text("bearerToken")?.filter(|s| !s.is_empty()),
            client_cert: data.get("tlsClientCertData").cloned(),
            client_key: data.get("tlsClientCertKey").cloned(),
            origin: format!("Argo CD Secret {secret_name}"),
        };
        Ok(ArgoRepository {
            kind,
            url,
            helm: typ == "helm",
            enable_oci: flag("enableOCI")?,
            insecure: flag("insecure")?,
            force_http: flag("insecureOCIForceHttp")?,
            credentials,
        })
    }

    /// The URL as the chart source sees it: `oci://` added for OCI Helm repositories, which
    /// Argo CD writes without a scheme.
    pub fn repo_url(&self) -> String {
        if self.enable_oci && !self.url.contains("://") {
            format!("oci://{}", self.url)
        } else {
            self.url.clone()
        }
    }

    /// The credentials that apply to `repo_url` as Argo CD picks them: a `repository` Secret
    /// with that URL, else the `repo-creds` Secret with the longest URL prefix.
    pub fn credentials_for<'a>(repo_url: &str, secrets: &'a [ArgoRepository]) -> Option<&'a ArgoRepository> {
        let norm = |u: &str| u.trim_start_matches("oci://").trim_end_matches('/').to_string();
        let want = norm(repo_url);
        secrets
            .iter()
            .find(|s| s.kind == ArgoSecretKind::Repository && norm(&s.url) == want)
            .or_else(|| {
                secrets
                    .iter()
                    .filter(|s| s.kind == ArgoSecretKind::RepoCreds && want.starts_with(&norm(&s.url)))
                    .max_by_key(|s| norm(&s.url).len())
            })
    }
}

/// The CA certificates Argo CD trusts for a host: the `argocd-tls-certs-cm` ConfigMap's data is
/// keyed by server name, each value PEM.
pub fn argocd_ca_for(repo_url: &str, tls_certs_cm: &BTreeMap<String, String>) -> Option<Vec<u8>> {
    let rest = repo_url.split_once("://").map_or(repo_url, |(_, r)| r);
    let host_port = rest.split('/').next().unwrap_or("");
    let host = host_port.rsplit_once(':').map_or(host_port, |(h, _)| h);
    tls_certs_cm
        .get(host)
        .or_else(|| tls_certs_cm.get(host_port))
        .map(|v| v.as_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_forms() {
        assert_eq!(
            env_key("https://charts.example.com/stable/"),
            "CHARTS_EXAMPLE_COM_STABLE"
        );
        assert_eq!(env_key("oci://127.0.0.1:5000/acme"), "127_0_0_1_5000_ACME");
        let vars: BTreeMap<&str, &str> = [
            ("HUBSPOKE_HELM_REPO_USERNAME", "general"),
            ("HUBSPOKE_HELM_REPO_PASSWORD", "gp"),
            ("HUBSPOKE_HELM_REPO_CHARTS_EXAMPLE_COM_TOKEN", "tok"),
        ]
        .into();
        let lookup = |k: &str| vars.get(k).map(|v| v.to_string());
        let c = Credentials::from_env_with("https://charts.example.com", &lookup);
        assert_eq!(c.token.as_deref(), Some("tok"));
        assert_eq!(c.username, None);
        let c = Credentials::from_env_with("https://other.example.com", &lookup);
        assert_eq!(c.username.as_deref(), Some("general"));
        assert!(!format!("{c:?}").contains("gp"));
        let plain: BTreeMap<&str, &str> = [
            ("HUBSPOKE_HELM_REPO_127_0_0_1_5000_PLAIN_HTTP", "true"),
            ("HUBSPOKE_HELM_REPO_PLAIN_HTTP", "false"),
        ]
        .into();
        let lookup = |k: &str| plain.get(k).map(|v| v.to_string());
        assert!(plain_http_from_env("oci://127.0.0.1:5000", &lookup));
        assert!(!plain_http_from_env("oci://ghcr.io", &lookup));
    }

    #[test]
    fn argocd_secrets() {
        let mk = |pairs: &[(&str, &str)]| -> BTreeMap<String, Vec<u8>> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
                .collect()
        };
        let repo = ArgoRepository::from_secret(
            "r",
            "repository",
            &mk(&[
                ("type", "helm"),
                ("url", "https://charts.example.com/stable"),
                ("username", "u"),
                ("password", "p"),
            ]),
        )
        .unwrap();
        let creds = ArgoRepository::from_secret(
            "c",
            "repo-creds",
            &mk(&[
                ("type", "helm"),
                ("url", "registry.example.com"),
                ("enableOCI", "true"),
                ("password", "x"),
            ]),
        )
        .unwrap();
        let deeper = ArgoRepository::from_secret(
            "d",
            "repo-creds",
            &mk(&[
                ("type", "helm"),
                ("url", "registry.example.com/team"),
                ("enableOCI", "true"),
            ]),
        )
        .unwrap();
        assert!(repo.helm && !repo.enable_oci);
        assert_eq!(creds.repo_url(), "oci://registry.example.com");
        let all = [repo.clone(), creds.clone(), deeper.clone()];
        assert_eq!(
            ArgoRepository::credentials_for("https://charts.example.com/stable/", &all),
            Some(&repo)
        );
        assert_eq!(
            ArgoRepository::credentials_for("oci://registry.example.com/team/x", &all),
            Some(&deeper)
        );
        assert_eq!(
            ArgoRepository::credentials_for("oci://registry.example.com/other", &all),
            Some(&creds)
        );
        assert_eq!(ArgoRepository::credentials_for("https://nope", &all), None);
        assert!(ArgoRepository::from_secret("x", "cluster", &mk(&[])).is_err());
        assert!(
            ArgoRepository::from_secret("x", "repository", &mk(&[]))
                .unwrap_err()
                .message()
                .contains("has no url")
        );
        let cm: BTreeMap<String, String> = [("charts.example.com".to_string(), "PEM".to_string())].into();
        assert_eq!(
            argocd_ca_for("https://charts.example.com:8443/x", &cm),
            Some(b"PEM".to_vec())
        );
    }
}
