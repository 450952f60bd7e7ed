//! External tools (kind, docker, helm): running them, and the preflight that checks they
//! are installed and new enough before anything is created.

use crate::error::{Error, Result};

/// What a tool printed and how it ended.
#[derive(Debug, Clone)]
pub struct Output {
    pub success: bool,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// A tool the kind provider needs.
#[derive(Debug, Clone, Copy)]
pub struct Tool {
    pub name: &'static str,
    pub version_args: &'static [&'static str],
    pub minimum: (u64, u64, u64),
    /// Why only `minimum` itself will do (None: it or any newer version).
    pub exactly: Option<&'static str>,
    pub install: &'static str,
}

/// The kind release the node image pinned in `kind/*.yaml` is built for (the workflow
/// installs the same one). kind lists the images of each release in its release notes and
/// guarantees them only with that release, so the preflight wants exactly this one.
pub const KIND_VERSION: &str = "v0.29.0";

pub const KIND: Tool = Tool {
    name: "kind",
    version_args: &["version"],
    minimum: (0, 29, 0),
    exactly: Some(
        "the node image pinned in kind/*.yaml is built for kind v0.29.0, and kind guarantees a node image only with the release it was built for",
    ),
    install: "install kind v0.29.0: https://kind.sigs.k8s.io/docs/user/quick-start/#installation (or: go install sigs.k8s.io/kind@v0.29.0)",
};

pub const DOCKER: Tool = Tool {
    name: "docker",
    version_args: &["version", "--format", "{{.Server.Version}}"],
    minimum: (20, 10, 0),
    exactly: None,
    install: "install Docker Engine 20.10 or newer and start it: https://docs.docker.com/engine/install/",
};

pub const HELM: Tool = Tool {
    name: "helm",
    version_args: &["version", "--short"],
    minimum: (3, 8, 0),
    exactly: None,
    install: "install helm v3.8.0 or newer: https://helm.sh/docs/intro/install/",
};

/// Runs `program args` and collects its output; a missing program is an error that says
/// how to install it.
pub async fn run(program: &str, args: &[String]) -> Result<Output> {
    tracing::debug!(program, ?args, "running");
    let out = tokio::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                let hint = [KIND, DOCKER, HELM]
                    .iter()
                    .find(|t| t.name == program)
                    .map(|t| t.install)
                    .unwrap_or("install it");
                Error::env(format!("{program} is not installed (not found on PATH); {hint}"))
            } else {
                Error::env(format!("cannot run {program}: {e}"))
            }
        })?;
    Ok(Output {
        success: out.status.success(),
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// The first `[v]X.Y[.Z]` in `text`.
pub fn parse_version(text: &str) -> Option<(u64, u64, u64)> {
    text.split(|c: char| c.is_whitespace() || c == '+' || c == '-')
        .map(|w| w.trim_start_matches('v'))
        .find_map(|w| {
            let mut parts = w.split('.');
            let major = parts.next()?.parse().ok()?;
            let minor = parts.next()?.parse().ok()?;
            let patch = parts.next().map(|p| p.parse().ok()).unwrap_or(Some(0))?;
            Some((major, minor, patch))
        })
}

fn show((a, b, c): (u64, u64, u64)) -> String {
    format!("{a}.{b}.{c}")
}

/// Checks each tool answers its version command with a version at least its minimum;
/// returns the versions found. Every problem is reported, not just the first.
pub async fn preflight(tools: &[Tool]) -> Result<Vec<(&'static str, String)>> {
    let results = futures::future::join_all(tools.iter().map(|t| async move {
        let args: Vec<String> = t.version_args.iter().map(|s| s.to_string()).collect();
        (t, run(t.name, &args).await)
    }))
    .await;
    let mut found = Vec::new();
    let mut problems = Vec::new();
    for (t, r) in results {
        match r {
            Err(e) => problems.push(e.message),
            Ok(out) if !out.success => {
                let why = out.stderr.trim();
                let why = if t.name == "docker" && why.contains("Cannot connect to the Docker daemon") {
                    format!("docker is installed but its daemon does not answer ({why}); start Docker")
                } else {
                    format!(
                        "`{} {}` failed: {why}; {}",
                        t.name,
                        t.version_args.join(" "),
                        t.install
                    )
                };
                problems.push(why);
            }
            Ok(out) => match parse_version(&out.stdout) {
                Some(v) if v == t.minimum || (v > t.minimum && t.exactly.is_none()) => {
                    found.push((t.name, show(v)))
                }
                Some(v) => problems.push(match t.exactly {
                    Some(why) => format!("{} {} does not match: {why}; {}", t.name, show(v), t.install),
                    None => format!(
                        "{} {} is too old (at least {} is needed); {}",
                        t.name,
                        show(v),
                        show(t.minimum),
                        t.install
                    ),
                }),
                None => problems.push(format!(
                    "cannot tell the version of {} from {:?}; {}",
                    t.name,
                    out.stdout.trim(),
                    t.install
                )),
            },
        }
    }
    if problems.is_empty() {
        Ok(found)
    } else {
        Err(Error::env(format!(
            "preflight failed:\n  {}",
            problems.join("\n  ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::parse_version;

    #[test]
    fn versions() {
        assert_eq!(
            parse_version("kind v0.29.0 go1.24.2 linux/amd64"),
            Some((0, 29, 0))
        );
        assert_eq!(parse_version("v3.17.3+ge4da497"), Some((3, 17, 3)));
        assert_eq!(parse_version("28.2.2\n"), Some((28, 2, 2)));
        assert_eq!(parse_version("nothing here"), None);
    }

    #[test]
    fn the_kind_pin_is_the_preflight_minimum() {
        assert_eq!(parse_version(super::KIND_VERSION), Some(super::KIND.minimum));
    }
}
