//! The platform repository Argo CD clones: its credentials (a token from the environment,
//! written into Argo CD's repository Secret, never logged) and the check that it answers
//! before any cluster is built.

use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};

/// The environment variable holding a token that can read the platform repository (a
/// GitHub personal access token, `GITHUB_TOKEN` in Actions, a GitLab deploy token, ...).
pub const TOKEN_ENV: &str = "HUBSPOKE_REPOSITORY_TOKEN";
/// The user name sent with the token (default [`DEFAULT_USERNAME`]).
pub const USERNAME_ENV: &str = "HUBSPOKE_REPOSITORY_USERNAME";
/// What GitHub expects with a token (any non-empty name works there).
pub const DEFAULT_USERNAME: &str = "x-access-token";
/// The name of Argo CD's repository Secret hubspoke writes on the hub.
pub const REPOSITORY_SECRET: &str = "hubspoke-repository";

/// HTTPS credentials for the platform repository. The token is not printed by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    token: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("token", &"<redacted>")
            .finish()
    }
}

impl Credentials {
    pub fn new(username: impl Into<String>, token: impl Into<String>) -> Self {
        Credentials {
            username: username.into(),
            token: token.into(),
        }
    }

    /// From `HUBSPOKE_REPOSITORY_TOKEN` (and `HUBSPOKE_REPOSITORY_USERNAME`); None when the
    /// token is unset or empty.
    pub fn from_env() -> Option<Credentials> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Option<Credentials> {
        let token = get(TOKEN_ENV)
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())?;
        let username = get(USERNAME_ENV)
            .map(|u| u.trim().to_string())
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| DEFAULT_USERNAME.to_string());
        Some(Credentials { username, token })
    }

    pub fn token(&self) -> &str {
        &self.token
    }

    /// `Authorization: Basic ...`, as git sends it (and as Argo CD does with the Secret).
    fn authorization(&self) -> String {
        let pair = format!("{}:{}", self.username, self.token);
        format!(
            "Authorization: Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        )
    }
}

/// Argo CD's declarative repository: a Secret in Argo CD's namespace labelled
/// `argocd.argoproj.io/secret-type: repository`, with `type: git`, `url`, `username` and
/// `password` (the token). Every Application whose repoURL is `url` clones with it.
pub fn repository_secret(namespace: &str, url: &str, creds: &Credentials) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": REPOSITORY_SECRET,
            "namespace": namespace,
            "labels": {
                "argocd.argoproj.io/secret-type": "repository",
                "app.kubernetes.io/managed-by": "hubspoke",
            },
        },
        "type": "Opaque",
        "stringData": {
            "type": "git",
            "url": url,
            "username": creds.username,
            "password": creds.token,
        },
    })
}

/// The URL with any password in it replaced (for messages).
pub fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((userinfo, host)) if userinfo.contains(':') => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}{path}")
        }
        _ => url.to_string(),
    }
}

/// Refuses a URL carrying a password: it would reach the Application, logs and reports.
pub fn check_url(url: &str) -> Result<(), String> {
    if redacted(url) != url {
        return Err(format!(
            "--repository {}: the URL carries a password, which would reach every Application and the logs; pass the URL without it and put the token in {TOKEN_ENV}",
            redacted(url)
        ));
    }
    Ok(())
}

/// `git ls-remote <url> HEAD` as the hub's Argo CD would reach the repository: with only
/// these credentials (sent as an `http.extraHeader` through `GIT_CONFIG_*` variables, so
/// the token is on no command line; no credential helper, no prompt).
pub fn ls_remote_command(url: &str, creds: Option<&Credentials>) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new("git");
    cmd.args(["ls-remote", url, "HEAD"])
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env_remove("GIT_ASKPASS")
        .env_remove("SSH_ASKPASS")
        .env("GIT_CONFIG_KEY_0", "credential.helper")
        .env("GIT_CONFIG_VALUE_0", "");
    match creds {
        Some(c) => cmd
            .env("GIT_CONFIG_COUNT", "2")
            .env("GIT_CONFIG_KEY_1", "http.extraHeader")
            .env("GIT_CONFIG_VALUE_1", c.authorization()),
        None => cmd.env("GIT_CONFIG_COUNT", "1"),
    };
    cmd
}

/// Checks the repository answers `git ls-remote` within `within`; the error names the URL,
/// what git said and the fix. The token never appears in it.
pub async fn check_answers(url: &str, creds: Option<&Credentials>, within: Duration) -> Result<(), String> {
    check_url(url)?;
    let shown = redacted(url);
    let fix = match creds {
        None => format!(
            "pass --repository with the URL of the repository under test (e.g. https://github.com/<owner>/<repo>.git); if it is private, set {TOKEN_ENV} to a token that can read it"
        ),
        Some(_) => format!(
            "pass --repository with the URL of the repository under test (e.g. https://github.com/<owner>/<repo>.git), and check that the token in {TOKEN_ENV} can read it"
        ),
    };
    let out = match tokio::time::timeout(within, ls_remote_command(url, creds).output()).await {
        Err(_) => {
            return Err(format!(
                "the platform repository {shown} does not answer: `git ls-remote` got no answer within {within:?}; the hub's Argo CD clones every Application from it: {fix}"
            ));
        }
        Ok(Err(e)) => {
            return Err(format!(
                "cannot run git to check the platform repository {shown} ({e}); install git (Debian: apt-get install git)"
            ));
        }
        Ok(Ok(out)) => out,
    };
    if out.status.success() {
        return Ok(());
    }
    let mut said = String::from_utf8_lossy(&out.stderr).trim().to_string();
    if let Some(c) = creds
        && !c.token.is_empty()
    {
        said = said.replace(&c.token, "***");
    }
    let said = said.lines().last().unwrap_or_default().to_string();
    Err(format!(
        "the platform repository {shown} does not answer (`git ls-remote`: {said}); the hub's Argo CD clones every Application from it: {fix}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_come_from_the_environment_and_never_print_the_token() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
        };
        assert_eq!(Credentials::from_lookup(env(&[])), None);
        assert_eq!(Credentials::from_lookup(env(&[(TOKEN_ENV, " ")])), None);
        let c = Credentials::from_lookup(env(&[(TOKEN_ENV, "ghs_abc")])).unwrap();
        assert_eq!((c.username.as_str(), c.token()), ("x-access-token", "ghs_abc"));
        let c = Credentials::from_lookup(env(&[(TOKEN_ENV, "t"), (USERNAME_ENV, "oauth2")])).unwrap();
        assert_eq!(c.username, "oauth2");
        assert_eq!(
            format!("{c:?}"),
            r#"Credentials { username: "oauth2", token: "<redacted>" }"#
        );
    }

    #[test]
    fn the_token_reaches_git_in_a_header_variable_not_its_arguments() {
        let c = Credentials::new("x-access-token", "ghs_abc");
        let cmd = ls_remote_command("https://example.com/p.git", Some(&c));
        let std = cmd.as_std();
        let args: Vec<String> = std.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        assert_eq!(args, ["ls-remote", "https://example.com/p.git", "HEAD"]);
        let envs: std::collections::BTreeMap<String, Option<String>> = std
            .get_envs()
            .map(|(k, v)| {
                (
                    k.to_string_lossy().into_owned(),
                    v.map(|v| v.to_string_lossy().into_owned()),
                )
            })
            .collect();
        // base64("x-access-token:ghs_abc")
        assert_eq!(
            envs["GIT_CONFIG_VALUE_1"].as_deref(),
            Some("Authorization: Basic eC1hY2Nlc3MtdG9rZW46Z2hzX2FiYw==")
        );
        assert_eq!(envs["GIT_CONFIG_KEY_1"].as_deref(), Some("http.extraHeader"));
        assert_eq!(envs["GIT_CONFIG_COUNT"].as_deref(), Some("2"));
        assert_eq!(envs["GIT_TERMINAL_PROMPT"].as_deref(), Some("0"));
    }

    #[test]
    fn urls_with_passwords_are_refused_without_showing_them() {
        assert_eq!(
            redacted("https://github.com/a/b.git"),
            "https://github.com/a/b.git"
        );
        assert_eq!(
            redacted("https://me@github.com/a/b.git"),
            "https://me@github.com/a/b.git"
        );
        assert_eq!(
            redacted("https://me:ghp_secret@github.com/a/b.git"),
            "https://me:***@github.com/a/b.git"
        );
        let err = check_url("https://me:ghp_secret@github.com/a/b.git").unwrap_err();
        assert!(!err.contains("ghp_secret"), "{err}");
        assert_eq!(
            err,
            "--repository https://me:***@github.com/a/b.git: the URL carries a password, which would reach every Application and the logs; pass the URL without it and put the token in HUBSPOKE_REPOSITORY_TOKEN"
        );
    }

    #[test]
    fn the_secret_is_argo_cds_declarative_repository() {
        let s = repository_secret(
            "argocd",
            "https://github.com/a/b.git",
            &Credentials::new("u", "t"),
        );
        assert_eq!(
            s["metadata"]["labels"]["argocd.argoproj.io/secret-type"],
            "repository"
        );
        assert_eq!(
            s["stringData"],
            json!({"type": "git", "url": "https://github.com/a/b.git", "username": "u", "password": "t"})
        );
    }
}
