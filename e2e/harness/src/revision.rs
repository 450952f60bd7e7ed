//! The revision under test: which commit of the platform repository the bootstrap deploys.
//!
//! By default the current branch (or, with `--use-commit`, HEAD's SHA) of the checkout the
//! command runs in; `--revision` names one explicitly. The repository URL comes from the
//! cluster definitions (`platform_repository`) unless overridden.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revision {
    /// The platform repository URL every Application uses.
    pub repository: String,
    /// The revision Applications target (a branch, tag or SHA).
    pub revision: String,
    /// The commit it resolved to in the local checkout, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha: Option<String>,
    /// The local checkout (the sim serves the repository from it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkout: Option<PathBuf>,
}

/// How to choose the revision.
#[derive(Clone, Debug, Default)]
pub struct RevisionChoice {
    /// `--revision`
    pub revision: Option<String>,
    /// `--use-commit`: HEAD's SHA instead of the branch name.
    pub use_commit: bool,
    /// `--repository`: instead of the definitions' platform_repository.
    pub repository: Option<String>,
}

fn git(dir: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .map_err(|e| {
            format!("cannot run git ({e}); install git (Debian: apt-get install git) or pass --revision")
        })?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The top of the git checkout containing `dir`.
pub fn checkout_root(dir: &Path) -> Option<PathBuf> {
    git(dir, &["rev-parse", "--show-toplevel"])
        .ok()
        .map(PathBuf::from)
}

/// The URLs of the checkout's remotes.
pub fn remote_urls(dir: &Path) -> Vec<String> {
    git(dir, &["remote"])
        .unwrap_or_default()
        .lines()
        .filter_map(|r| git(dir, &["remote", "get-url", r]).ok())
        .collect()
}

impl Revision {
    /// Resolves the revision under test in the checkout at `dir` for `repository`.
    pub fn choose(dir: &Path, repository: &str, choice: &RevisionChoice) -> Result<Revision, String> {
        let repository = choice
            .repository
            .clone()
            .unwrap_or_else(|| repository.to_string());
        let checkout = checkout_root(dir);
        let Some(root) = checkout else {
            return match &choice.revision {
                Some(r) => Ok(Revision {
                    repository,
                    revision: r.clone(),
                    sha: None,
                    checkout: None,
                }),
                None => Err(format!(
                    "{} is not inside a git checkout, so the revision under test cannot be taken from the current branch; run from the platform checkout or pass --revision <branch|tag|sha>",
                    dir.display()
                )),
            };
        };
        let revision = match &choice.revision {
            Some(r) => r.clone(),
            None if choice.use_commit => git(&root, &["rev-parse", "HEAD"])
                .map_err(|e| format!("cannot read HEAD in {}: {e}; make a commit first", root.display()))?,
            None => {
                let branch = git(&root, &["rev-parse", "--abbrev-ref", "HEAD"]).map_err(|e| {
                    format!(
                        "cannot read the current branch in {}: {e}; make a commit first",
                        root.display()
                    )
                })?;
                if branch == "HEAD" {
                    // detached (as CI checks out pull requests): the commit is the revision
                    git(&root, &["rev-parse", "HEAD"]).map_err(|e| format!("cannot read HEAD: {e}"))?
                } else {
                    branch
                }
            }
        };
        let sha = git(
            &root,
            &[
                "rev-parse",
                "--verify",
                "--quiet",
                &format!("{revision}^{{commit}}"),
            ],
        )
        .ok();
        Ok(Revision {
            repository,
            revision,
            sha,
            checkout: Some(root),
        })
    }

    /// Commits on the branch under test that its upstream does not have (a real Argo CD
    /// cannot fetch them), or why that cannot be told. A revision that is no local branch
    /// (a commit SHA, a tag) is checked against the remote-tracking branches instead: a
    /// commit none of them contains was probably never pushed.
    pub fn unpushed(&self) -> Option<String> {
        let root = self.checkout.as_ref()?;
        let is_branch = git(
            root,
            &[
                "show-ref",
                "--verify",
                "--quiet",
                &format!("refs/heads/{}", self.revision),
            ],
        )
        .is_ok();
        if !is_branch {
            let sha = self.sha.as_ref()?;
            let short = &sha[..sha.len().min(12)];
            let what = if sha.starts_with(&self.revision) {
                format!("commit {short}")
            } else {
                format!("{} (commit {short})", self.revision)
            };
            return match git(root, &["branch", "--remotes", "--contains", sha]) {
                Ok(branches) if !branches.trim().is_empty() => None,
                Ok(_) => Some(format!(
                    "{what} is on no remote-tracking branch of {}; if it was not pushed, push a branch that contains it (git push origin <branch>) so Argo CD can fetch it",
                    root.display()
                )),
                Err(e) => Some(format!(
                    "cannot tell whether {what} was pushed ({e}); push a branch that contains it so Argo CD can fetch it"
                )),
            };
        }
        match git(
            root,
            &[
                "rev-list",
                "--count",
                &format!("{}@{{upstream}}..{}", self.revision, self.revision),
            ],
        ) {
            Ok(n) if n == "0" => None,
            Ok(n) => Some(format!(
                "{} has {n} commit(s) its upstream does not have; push them, or Argo CD deploys the older state",
                self.revision
            )),
            Err(_) => Some(format!(
                "{} has no upstream branch; push it (git push -u origin {}) so Argo CD can fetch it",
                self.revision, self.revision
            )),
        }
    }
}
