//! Git sources read from local repositories with gitoxide: a `repoURL` maps to a local
//! clone (the repository under test by its remote URL, or any `file://` URL), a
//! `targetRevision` resolves to a commit as Argo CD's repo server resolves it (HEAD, branch,
//! tag, full or abbreviated SHA), and a path's files are read from that commit — committed
//! content only, like a real repo server.

use std::path::{Path, PathBuf};

/// `repoURL` → local repository.
#[derive(Clone, Debug, Default)]
pub struct Repositories {
    entries: Vec<(String, PathBuf)>,
}

/// A git URL reduced to host/path (scheme, user, `.git` and case dropped), so
/// `git@github.com:Org/Repo.git` and `https://github.com/org/repo` name the same repository.
pub fn normalize_url(url: &str) -> String {
    let mut u = url.trim().to_ascii_lowercase();
    for scheme in ["https://", "http://", "ssh://", "git://", "git+ssh://"] {
        if let Some(rest) = u.strip_prefix(scheme) {
            u = rest.to_string();
            break;
        }
    }
    if let Some((user, rest)) = u.split_once('@')
        && !user.contains('/')
    {
        u = rest.to_string();
    }
    // scp-like host:path
    if let Some((host, path)) = u.split_once(':')
        && !host.contains('/')
        && !path.starts_with("//")
        && path.parse::<u16>().is_err()
        && !path
            .split('/')
            .next()
            .unwrap_or("")
            .chars()
            .all(|c| c.is_ascii_digit())
    {
        u = format!("{host}/{path}");
    }
    u.trim_end_matches('/').trim_end_matches(".git").to_string()
}

/// A file of a source: its path relative to the source's path, and its content.
pub struct SourceFile {
    pub path: String,
    pub content: Vec<u8>,
}

impl Repositories {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `other`'s repositories (a URL already here keeps its repository).
    pub fn extend(&mut self, other: &Repositories) {
        for (url, local) in &other.entries {
            if !self.entries.iter().any(|(u, _)| u == url) {
                self.entries.push((url.clone(), local.clone()));
            }
        }
    }

    /// Serves `url` from the repository at `local`.
    pub fn add(&mut self, url: &str, local: impl Into<PathBuf>) {
        self.entries.push((normalize_url(url), local.into()));
    }

    /// Serves the repository containing `dir` under the URLs of its remotes (`origin` and any
    /// other), so Applications naming the platform's real repository read this checkout.
    /// Returns the URLs added.
    pub fn add_checkout(&mut self, dir: &Path) -> Result<Vec<String>, String> {
        let repo =
            gix::discover(dir).map_err(|e| format!("{} is not in a git repository: {e}", dir.display()))?;
        let root = repo
            .workdir()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| repo.path().to_path_buf());
        let mut urls = Vec::new();
        for name in repo.remote_names() {
            if let Ok(remote) = repo.find_remote(name.as_ref() as &gix::bstr::BStr)
                && let Some(url) = remote.url(gix::remote::Direction::Fetch)
            {
                let url = url.to_bstring().to_string();
                self.add(&url, &root);
                urls.push(url);
            }
        }
        Ok(urls)
    }

    /// The local repository for a `repoURL`.
    pub fn local(&self, url: &str) -> Result<PathBuf, String> {
        if let Some(p) = url.strip_prefix("file://") {
            return Ok(PathBuf::from(p));
        }
        let n = normalize_url(url);
        self.entries
            .iter()
            .find(|(u, _)| *u == n)
            .map(|(_, p)| p.clone())
            .ok_or_else(|| {
                format!(
                    "repository not found: {url} is not served by the hubspoke sim (it serves {}file:// URLs and the repositories it was given)",
                    if self.entries.is_empty() {
                        String::new()
                    } else {
                        format!(
                            "{}, ",
                            self.entries.iter().map(|(u, _)| u.as_str()).collect::<Vec<_>>().join(", ")
                        )
                    }
                )
            })
    }

    /// Resolves `revision` (empty means HEAD) to a full commit SHA.
    pub fn resolve(&self, url: &str, revision: &str) -> Result<String, String> {
        let path = self.local(url)?;
        resolve_in(&path, revision)
    }

    /// The manifest files under `dir` at `sha` (`.yaml`, `.yml`, `.json`), recursing if asked.
    pub fn files(&self, url: &str, sha: &str, dir: &str, recurse: bool) -> Result<Vec<SourceFile>, String> {
        let path = self.local(url)?;
        files_in(&path, sha, dir, recurse)
    }
}

impl Repositories {
    /// Every directory and file path of the commit (for the git generators).
    pub fn tree(&self, url: &str, sha: &str) -> Result<(Vec<String>, Vec<SourceFile>), String> {
        let path = self.local(url)?;
        let repo = open(&path)?;
        let id = gix::ObjectId::from_hex(sha.as_bytes()).map_err(|e| format!("invalid commit {sha}: {e}"))?;
        let tree = repo
            .find_object(id)
            .map_err(|e| e.to_string())?
            .peel_to_commit()
            .map_err(|e| e.to_string())?
            .tree()
            .map_err(|e| e.to_string())?;
        let mut dirs = Vec::new();
        let mut files = Vec::new();
        walk_all(&tree, "", &mut dirs, &mut files)?;
        Ok((dirs, files))
    }
}

fn walk_all(
    tree: &gix::Tree<'_>,
    prefix: &str,
    dirs: &mut Vec<String>,
    files: &mut Vec<SourceFile>,
) -> Result<(), String> {
    for entry in tree.iter() {
        let entry = entry.map_err(|e| e.to_string())?;
        let name = entry.filename().to_string();
        let rel = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        if entry.mode().is_tree() {
            dirs.push(rel.clone());
            let sub = entry
                .object()
                .map_err(|e| e.to_string())?
                .peel_to_tree()
                .map_err(|e| e.to_string())?;
            walk_all(&sub, &rel, dirs, files)?;
        } else if entry.mode().is_blob() {
            let blob = entry.object().map_err(|e| e.to_string())?;
            files.push(SourceFile {
                path: rel,
                content: blob.data.clone(),
            });
        }
    }
    Ok(())
}

fn open(path: &Path) -> Result<gix::Repository, String> {
    gix::open(path).map_err(|e| format!("failed to open repository {}: {e}", path.display()))
}

fn resolve_in(path: &Path, revision: &str) -> Result<String, String> {
    let repo = open(path)?;
    let rev = if revision.is_empty() { "HEAD" } else { revision };
    // branches and tags as the remote has them, then anything git rev-parse understands
    let candidates = [
        format!("refs/heads/{rev}"),
        format!("refs/tags/{rev}"),
        format!("refs/remotes/origin/{rev}"),
        rev.to_string(),
    ];
    for c in &candidates {
        if let Ok(id) = repo.rev_parse_single(c.as_str())
            && let Ok(obj) = id.object()
            && let Ok(commit) = obj.peel_to_commit()
        {
            return Ok(commit.id.to_string());
        }
    }
    Err(format!(
        "unable to resolve '{rev}' to a commit SHA: revision not found"
    ))
}

fn files_in(path: &Path, sha: &str, dir: &str, recurse: bool) -> Result<Vec<SourceFile>, String> {
    let repo = open(path)?;
    let id = gix::ObjectId::from_hex(sha.as_bytes()).map_err(|e| format!("invalid commit {sha}: {e}"))?;
    let commit = repo
        .find_object(id)
        .map_err(|e| format!("commit {sha} not found: {e}"))?
        .peel_to_commit()
        .map_err(|e| format!("commit {sha} not found: {e}"))?;
    let root = commit.tree().map_err(|e| e.to_string())?;
    let dir = dir.trim_matches('/');
    let tree = if dir.is_empty() || dir == "." {
        root
    } else {
        let entry = root
            .lookup_entry_by_path(dir)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("{dir}: app path does not exist"))?;
        if !entry.mode().is_tree() {
            return Err(format!("{dir}: app path is not a directory"));
        }
        entry
            .object()
            .map_err(|e| e.to_string())?
            .peel_to_tree()
            .map_err(|e| e.to_string())?
    };
    let mut out = Vec::new();
    walk(&tree, "", recurse, &mut out)?;
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

fn walk(tree: &gix::Tree<'_>, prefix: &str, recurse: bool, out: &mut Vec<SourceFile>) -> Result<(), String> {
    for entry in tree.iter() {
        let entry = entry.map_err(|e| e.to_string())?;
        let name = entry.filename().to_string();
        let rel = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        let mode = entry.mode();
        if mode.is_tree() {
            if recurse {
                let sub = entry
                    .object()
                    .map_err(|e| e.to_string())?
                    .peel_to_tree()
                    .map_err(|e| e.to_string())?;
                walk(&sub, &rel, recurse, out)?;
            }
        } else if mode.is_blob() && [".yaml", ".yml", ".json"].iter().any(|x| name.ends_with(x)) {
            let blob = entry.object().map_err(|e| e.to_string())?;
            out.push(SourceFile {
                path: rel,
                content: blob.data.clone(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_normalize_to_host_and_path() {
        for u in [
            "https://github.com/Org/Repo.git",
            "https://github.com/org/repo",
            "git@github.com:org/repo.git",
            "ssh://git@github.com/org/repo",
            "https://github.com/org/repo/",
        ] {
            assert_eq!(normalize_url(u), "github.com/org/repo", "{u}");
        }
        assert_eq!(
            normalize_url("https://git.example.com:8443/a/b.git"),
            "git.example.com:8443/a/b"
        );
    }
}
