//! The repo server: what Argo CD's `argocd-repo-server` does for the application controller
//! (`GenerateManifest`): a source's content is fetched (a git commit, a Helm chart from an
//! HTTP repository or an OCI registry, an OCI artifact), its type decided (explicit
//! `helm`/`kustomize`/`directory`, else discovered: `Chart.yaml`, a kustomization, plain
//! manifests), and the manifests generated — `helm template` through hubspoke-render,
//! `kustomize build` through kubectl's kustomize after Argo CD's `kustomize edit` changes,
//! directories parsed — with the texts Argo CD v3.2 reports when a step fails.
//!
//! Generated manifests are cached by everything that decides them (the source, the
//! resolved revisions of it and of its `ref` sources, the app's name and namespace, the
//! destination's version and API versions), as Argo CD caches them per revision: a
//! reconcile of an unchanged Application reads no git tree and renders no chart.

pub mod directory;
mod helm;
mod kustomize;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use super::repo::{Repositories, SourceFile};

/// How many generated manifest sets and git trees are kept.
const MANIFEST_CACHE: usize = 512;
const TREE_CACHE: usize = 16;

/// A `ref` source of a multi-source Application (`$<ref>` in value files).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefTarget {
    pub repo_url: String,
    pub target_revision: String,
    pub chart: String,
}

/// What the controller asks for one source.
pub struct Request<'a> {
    /// The Application's name as Argo CD's `InstanceName` gives it (`<ns>_<name>` outside
    /// Argo CD's namespace).
    pub app_name: String,
    pub project: String,
    /// The destination namespace.
    pub namespace: String,
    pub source: &'a Value,
    pub multi_source: bool,
    /// `$<ref>` → the source it names.
    pub refs: &'a BTreeMap<String, RefTarget>,
    /// The destination's version as Argo CD passes it (`1.32.0`) and its API versions
    /// (`group/version` and `group/version/Kind`).
    pub kube_version: String,
    pub api_versions: Vec<String>,
    /// `kustomize.buildOptions` from `argocd-cm`.
    pub kustomize_build_options: String,
}

/// What one source generated.
#[derive(Clone, Debug)]
pub struct Generated {
    /// The resolved revision: a commit SHA, a chart version, an OCI digest.
    pub revision: String,
    pub objects: Vec<Value>,
    /// `Helm`, `Kustomize` or `Directory`; empty for a source that only provides values.
    pub source_type: &'static str,
}

/// The files of one commit, by path.
pub struct Tree {
    pub files: BTreeMap<String, Vec<u8>>,
    /// The commit written out once, for the builds that run tools on files (kustomize);
    /// removed with the tree.
    checkout: std::sync::OnceLock<Result<std::path::PathBuf, String>>,
}

impl Drop for Tree {
    fn drop(&mut self) {
        if let Some(Ok(dir)) = self.checkout.get() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

impl Tree {
    pub fn new(files: BTreeMap<String, Vec<u8>>) -> Tree {
        Tree {
            files,
            checkout: std::sync::OnceLock::new(),
        }
    }

    /// The commit's files in a directory of their own, written on first use (a commit never
    /// changes; nothing may write into it: a build that edits files works on a linked copy,
    /// see [`Tree::link_into`]).
    pub fn checkout(&self) -> Result<&std::path::Path, String> {
        self.checkout
            .get_or_init(|| {
                let dir = std::env::temp_dir().join(format!(
                    "hubspoke-checkout-{}-{}",
                    std::process::id(),
                    uuid::Uuid::new_v4()
                ));
                let written = self.files.iter().try_for_each(|(path, content)| {
                    let p = dir.join(path);
                    if let Some(parent) = p.parent() {
                        std::fs::create_dir_all(parent)?;
                    }
                    std::fs::write(&p, content)
                });
                match written {
                    Ok(()) => Ok(dir),
                    Err(e) => {
                        let _ = std::fs::remove_dir_all(&dir);
                        Err(format!("writing the checkout: {e}"))
                    }
                }
            })
            .as_ref()
            .map(|p| p.as_path())
            .map_err(Clone::clone)
    }

    /// Fills `dir` with the commit's files as hard links to [`Tree::checkout`]'s (copies
    /// where links cannot be made): cheap, and safe as long as a file to change is
    /// replaced (written elsewhere and renamed over), never written in place.
    pub fn link_into(&self, dir: &std::path::Path) -> Result<(), String> {
        let from = self.checkout()?;
        for path in self.files.keys() {
            let (src, dest) = (from.join(path), dir.join(path));
            if let Some(parent) = dest.parent() {
                std::fs::create_dir_all(parent).map_err(|e| format!("writing the checkout: {e}"))?;
            }
            if std::fs::hard_link(&src, &dest).is_err() {
                std::fs::copy(&src, &dest).map_err(|e| format!("writing the checkout: {e}"))?;
            }
        }
        Ok(())
    }

    /// The files under `dir` (relative to it), all of them when `recurse`, else only those
    /// directly in it.
    pub fn under(&self, dir: &str, recurse: bool) -> Vec<SourceFile> {
        let prefix = dir_prefix(dir);
        self.files
            .range(prefix.clone()..)
            .take_while(|(p, _)| p.starts_with(&prefix))
            .filter(|(p, _)| recurse || !p[prefix.len()..].contains('/'))
            .map(|(p, c)| SourceFile {
                path: p[prefix.len()..].to_string(),
                content: c.clone(),
            })
            .collect()
    }

    /// Whether `dir` is a directory of the commit (the root always is).
    pub fn is_dir(&self, dir: &str) -> bool {
        let prefix = dir_prefix(dir);
        prefix.is_empty()
            || self
                .files
                .range(prefix.clone()..)
                .next()
                .is_some_and(|(p, _)| p.starts_with(&prefix))
    }
}

/// `a/b` → `a/b/`; the root (`""`, `.`, `/`, `./`) → `""`.
fn dir_prefix(dir: &str) -> String {
    let clean = clean_path(dir);
    if clean.is_empty() {
        String::new()
    } else {
        format!("{clean}/")
    }
}

/// Go's `path.Clean` for repository-relative paths, without the leading `/`; `""` for the
/// root. `..` above the root stays as `..` so callers can refuse it.
pub fn clean_path(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    parts.join("/")
}

/// The repo server's state: the repositories it serves, and its caches.
pub struct RepoServer {
    repos: Arc<Repositories>,
    trees: Mutex<Vec<(String, Arc<Tree>)>>,
    manifests: Mutex<HashMap<String, Generated>>,
    /// Chart repository access: credentials and CAs from Argo CD's repository Secrets.
    pub(crate) helm: helm::HelmAccess,
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// gRPC's rendering of an error the repo server returns without a status.
pub fn unknown(e: impl std::fmt::Display) -> String {
    format!("rpc error: code = Unknown desc = {e}")
}

impl RepoServer {
    pub fn new(
        repos: Arc<Repositories>,
        hub: kube::Client,
        namespace: &str,
        chart_cache: Option<std::path::PathBuf>,
        renditions: Option<Arc<crate::standins::charts::Renditions>>,
    ) -> RepoServer {
        RepoServer {
            repos,
            trees: Mutex::new(Vec::new()),
            manifests: Mutex::new(HashMap::new()),
            helm: helm::HelmAccess::new(hub, namespace, chart_cache, renditions),
        }
    }

    pub fn repositories(&self) -> &Repositories {
        &self.repos
    }

    /// The files of a commit (cached: a commit never changes).
    pub async fn tree(&self, url: &str, sha: &str) -> Result<Arc<Tree>, String> {
        let key = format!("{}@{sha}", super::repo::normalize_url(url));
        if let Some((_, t)) = self
            .trees
            .lock()
            .expect("tree cache")
            .iter()
            .find(|(k, _)| *k == key)
        {
            return Ok(t.clone());
        }
        let repos = self.repos.clone();
        let (url, sha2) = (url.to_string(), sha.to_string());
        let tree = tokio::task::spawn_blocking(move || repos.tree(&url, &sha2))
            .await
            .map_err(|e| e.to_string())??;
        let tree = Arc::new(Tree::new(
            tree.1.into_iter().map(|f| (f.path, f.content)).collect(),
        ));
        let mut trees = self.trees.lock().expect("tree cache");
        if trees.len() >= TREE_CACHE {
            trees.remove(0);
        }
        trees.push((key, tree.clone()));
        Ok(tree)
    }

    /// Resolves a git revision as the repo server does, with its error texts.
    pub async fn resolve_git(&self, url: &str, revision: &str) -> Result<String, String> {
        let repos = self.repos.clone();
        let (u, r) = (url.to_string(), revision.to_string());
        tokio::task::spawn_blocking(move || repos.resolve(&u, &r))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| {
                if e.starts_with("unable to resolve") {
                    format!(
                        "rpc error: code = Internal desc = unable to resolve git revision {revision}: {e}"
                    )
                } else {
                    unknown(e)
                }
            })
    }

    /// Argo CD's `GenerateManifest` for one source.
    pub async fn generate(&self, q: &Request<'_>) -> Result<Generated, String> {
        let src = q.source;
        let repo_url = str_at(src, "/repoURL");
        let path = str_at(src, "/path");
        let chart = str_at(src, "/chart");
        let target = str_at(src, "/targetRevision");
        let is_oci = repo_url.starts_with("oci://");
        let is_ref = !str_at(src, "/ref").is_empty();
        // a source that only provides value files
        if q.multi_source && path.is_empty() && !is_oci && chart.is_empty() && is_ref {
            let revision = self.resolve_git(repo_url, target).await?;
            return Ok(Generated {
                revision,
                objects: Vec::new(),
                source_type: "",
            });
        }
        // the revision first (an exact chart version is taken as is, as Argo CD takes it),
        // so an unchanged source is served from the cache without fetching anything
        let is_chart = is_oci || !chart.is_empty();
        let (revision, fetched) = if is_chart {
            match helm::HelmAccess::exact_revision(target) {
                Some(v) => (v, None),
                None => {
                    let c = self.fetch_chart_source(repo_url, chart, target, is_oci).await?;
                    (c.revision().to_string(), Some(c))
                }
            }
        } else {
            (self.resolve_git(repo_url, target).await?, None)
        };
        // multi-source sources without path and chart generate nothing
        if q.multi_source && path.is_empty() && chart.is_empty() {
            return Ok(Generated {
                revision,
                objects: Vec::new(),
                source_type: "",
            });
        }
        let refs = self.resolve_refs(q).await?;
        let key = serde_json::to_string(&json!([
            src,
            revision,
            refs.iter()
                .map(|(k, (url, sha, _))| json!([k, url, sha]))
                .collect::<Vec<_>>(),
            q.app_name,
            q.namespace,
            q.project,
            q.kube_version,
            q.api_versions,
            q.kustomize_build_options,
        ]))
        .unwrap_or_default();
        if let Some(hit) = self.manifests.lock().expect("manifest cache").get(&key) {
            return Ok(hit.clone());
        }
        let content = match fetched {
            Some(c) => c,
            None if is_chart => {
                self.fetch_chart_source(repo_url, chart, &revision, is_oci)
                    .await?
            }
            None => Content::Git {
                tree: self.tree(repo_url, &revision).await.map_err(unknown)?,
                sha: revision.clone(),
            },
        };
        let generated = self.generate_uncached(q, content, &refs).await?;
        let mut cache = self.manifests.lock().expect("manifest cache");
        if cache.len() >= MANIFEST_CACHE {
            cache.clear();
        }
        cache.insert(key, generated.clone());
        Ok(generated)
    }

    async fn fetch_chart_source(
        &self,
        repo_url: &str,
        chart: &str,
        version: &str,
        oci: bool,
    ) -> Result<Content, String> {
        if oci {
            self.helm.fetch_oci_artifact(repo_url, version).await
        } else {
            self.helm.fetch_repo_chart(repo_url, chart, version).await
        }
    }

    /// The `ref` sources this source's value files and file parameters name, checked and
    /// resolved as `runManifestGenAsync` does: `$ref` → (repository URL, commit, tree).
    async fn resolve_refs(
        &self,
        q: &Request<'_>,
    ) -> Result<BTreeMap<String, (String, String, Arc<Tree>)>, String> {
        let mut out: BTreeMap<String, (String, String, Arc<Tree>)> = BTreeMap::new();
        if !q.multi_source || q.source.get("helm").is_none() {
            return Ok(out);
        }
        let mut candidates: Vec<String> = q
            .source
            .pointer("/helm/valueFiles")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        candidates.extend(
            q.source
                .pointer("/helm/fileParameters")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|p| p.get("path").and_then(Value::as_str).map(str::to_string)),
        );
        let own_url = super::repo::normalize_url(str_at(q.source, "/repoURL"));
        // normalised URL → (ref, target revision, sha)
        let mut by_repo: BTreeMap<String, (String, String, String)> = BTreeMap::new();
        for file in candidates {
            if !file.starts_with('$') {
                continue;
            }
            let var = file.split('/').next().unwrap_or("").to_string();
            let Some(target) = q.refs.get(&var) else {
                if q.refs.is_empty() {
                    return Err(unknown(format!(
                        "source referenced {var:?}, but no source has a 'ref' field defined"
                    )));
                }
                let keys: Vec<&str> = q.refs.keys().map(String::as_str).collect();
                return Err(unknown(format!(
                    "source referenced {var:?}, which is not one of the available sources ({})",
                    keys.join(", ")
                )));
            };
            if !target.chart.is_empty() {
                return Err(unknown(
                    "source has a 'chart' field defined, but Helm charts are not yet not supported for 'ref' sources",
                ));
            }
            let norm = super::repo::normalize_url(&target.repo_url);
            if let Some((key, rev, _)) = by_repo.get(&norm) {
                if *rev != target.target_revision {
                    return Err(unknown(format!(
                        "cannot reference multiple revisions for the same repository ({var} references {:?} while {key} references {rev:?})",
                        target.target_revision
                    )));
                }
                continue;
            }
            let sha = self
                .resolve_git(&target.repo_url, &target.target_revision)
                .await
                .map_err(|_| unknown(format!("failed to get git client for repo {}", target.repo_url)))?;
            if norm == own_url
                && str_at(q.source, "/chart").is_empty()
                && !str_at(q.source, "/repoURL").starts_with("oci://")
            {
                let own = self
                    .resolve_git(str_at(q.source, "/repoURL"), str_at(q.source, "/targetRevision"))
                    .await?;
                if own != sha {
                    return Err(unknown(format!(
                        "cannot reference a different revision of the same repository ({var} references {:?} which resolves to {sha:?} while the application references {:?} which resolves to {own:?})",
                        target.target_revision,
                        str_at(q.source, "/targetRevision")
                    )));
                }
            }
            by_repo.insert(norm, (var.clone(), target.target_revision.clone(), sha.clone()));
            let tree = self.tree(&target.repo_url, &sha).await.map_err(unknown)?;
            out.insert(var, (target.repo_url.clone(), sha, tree));
        }
        Ok(out)
    }

    async fn generate_uncached(
        &self,
        q: &Request<'_>,
        content: Content,
        refs: &BTreeMap<String, (String, String, Arc<Tree>)>,
    ) -> Result<Generated, String> {
        let revision = content.revision().to_string();
        let path = str_at(q.source, "/path");
        // the app's directory and its files (repository-relative for git)
        let (app_dir, files, tree): (String, Vec<SourceFile>, Option<Arc<Tree>>) = match &content {
            Content::Git { tree, .. } => {
                let clean = clean_path(path);
                if path.starts_with('/') {
                    return Err(unknown(format!("{path}: app path is absolute")));
                }
                if clean == ".." || clean.starts_with("../") {
                    return Err(unknown(format!("{path}: app path outside root")));
                }
                if !tree.is_dir(&clean) {
                    let what = if tree.files.contains_key(&clean) {
                        "app path is not a directory"
                    } else {
                        "app path does not exist"
                    };
                    return Err(unknown(format!("{path}: {what}")));
                }
                (clean.clone(), tree.under(&clean, true), Some(tree.clone()))
            }
            Content::Chart { files, .. } => {
                let clean = clean_path(path);
                let files: Vec<SourceFile> = if content.is_oci() && !clean.is_empty() {
                    let prefix = format!("{clean}/");
                    files
                        .iter()
                        .filter_map(|(p, c)| {
                            p.strip_prefix(&prefix).map(|rest| SourceFile {
                                path: rest.to_string(),
                                content: c.clone(),
                            })
                        })
                        .collect()
                } else {
                    files
                        .iter()
                        .map(|(p, c)| SourceFile {
                            path: p.clone(),
                            content: c.clone(),
                        })
                        .collect()
                };
                if content.is_oci() && files.is_empty() {
                    return Err(unknown(format!("{path}: app path does not exist")));
                }
                (String::new(), files, None)
            }
        };
        let mut source = q.source.clone();
        merge_source_parameters(&mut source, &files, &q.app_name)?;
        let env = build_env(q, &revision);
        let source_type = source_type(&source, &files)?;
        let objects = match source_type {
            "Helm" => {
                let input = helm::Input {
                    source: &source,
                    files,
                    app_dir: &app_dir,
                    tree: tree.as_deref(),
                    refs,
                    env: &env,
                    request: q,
                };
                self.helm.template(input).await?
            }
            "Kustomize" => {
                let Some(tree) = tree else {
                    return Err(unknown(
                        "the hubspoke sim builds kustomizations from git sources only; this OCI artifact holds one",
                    ));
                };
                let tree = tree.clone();
                let (source, app_dir, build_options) =
                    (source.clone(), app_dir.clone(), q.kustomize_build_options.clone());
                let env = env.clone();
                tokio::task::spawn_blocking(move || {
                    kustomize::build(&tree, &app_dir, &source, &env, &build_options)
                })
                .await
                .map_err(|e| e.to_string())?
                .map_err(unknown)?
            }
            _ => {
                let recurse = source
                    .pointer("/directory/recurse")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                let include = str_at(&source, "/directory/include");
                let exclude = str_at(&source, "/directory/exclude");
                // Argo CD's manifestFile pattern: .yaml, .yml, .json (and .jsonnet)
                let files: Vec<SourceFile> = files
                    .into_iter()
                    .filter(|f| recurse || !f.path.contains('/'))
                    .filter(|f| {
                        [".yaml", ".yml", ".json", ".jsonnet"]
                            .iter()
                            .any(|x| f.path.ends_with(x))
                    })
                    .collect();
                if files.iter().any(|f| f.path.ends_with(".jsonnet")) {
                    return Err(unknown(format!(
                        "{path}: holds jsonnet files, which the hubspoke sim does not evaluate (it reads YAML and JSON manifests); render them to YAML or exclude them with directory.exclude"
                    )));
                }
                directory::objects(&files, include, exclude).map_err(unknown)?
            }
        };
        Ok(Generated {
            revision,
            objects: expand_lists(objects)?,
            source_type,
        })
    }
}

/// A source's fetched content.
pub enum Content {
    Git {
        sha: String,
        tree: Arc<Tree>,
    },
    /// A chart (its files relative to the chart root) or an OCI artifact.
    Chart {
        revision: String,
        files: Vec<(String, Vec<u8>)>,
        oci: bool,
    },
}

impl Content {
    fn revision(&self) -> &str {
        match self {
            Content::Git { sha, .. } => sha,
            Content::Chart { revision, .. } => revision,
        }
    }

    fn is_oci(&self) -> bool {
        matches!(self, Content::Chart { oci: true, .. })
    }
}

/// The build environment (`newEnv`): what `$ARGOCD_APP_*` expand to.
fn build_env(q: &Request<'_>, revision: &str) -> Vec<(String, String)> {
    hubspoke_render::strvals::ArgoBuildEnv {
        app_name: q.app_name.clone(),
        namespace: q.namespace.clone(),
        project_name: q.project.clone(),
        revision: revision.to_string(),
        source_repo_url: str_at(q.source, "/repoURL").to_string(),
        source_path: str_at(q.source, "/path").to_string(),
        source_target_revision: str_at(q.source, "/targetRevision").to_string(),
    }
    .vars()
}

/// `.argocd-source.yaml` and `.argocd-source-<app>.yaml` in the app's directory, merged into
/// the source as JSON merge patches; only the tools' settings can change.
fn merge_source_parameters(source: &mut Value, files: &[SourceFile], app_name: &str) -> Result<(), String> {
    let names = [
        ".argocd-source.yaml".to_string(),
        format!(".argocd-source-{app_name}.yaml"),
    ];
    let mut merged = source.clone();
    for name in &names {
        let Some(f) = files.iter().find(|f| f.path == *name) else {
            continue;
        };
        let patch: Value = serde_saphyr::from_str(&String::from_utf8_lossy(&f.content)).map_err(|e| {
            unknown(format!(
                "error getting app source type: error while parsing source parameters: {name}: {e}"
            ))
        })?;
        json_merge_patch(&mut merged, &patch);
    }
    for keep in ["chart", "path", "repoURL", "targetRevision"] {
        match source.get(keep) {
            Some(v) => merged[keep] = v.clone(),
            None => {
                if let Some(m) = merged.as_object_mut() {
                    m.remove(keep);
                }
            }
        }
    }
    *source = merged;
    Ok(())
}

/// RFC 7386 merge patch.
pub fn json_merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    let t = target.as_object_mut().expect("object");
    for (k, v) in p {
        if v.is_null() {
            t.remove(k);
        } else {
            json_merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

/// The source's type: the one tool it configures (`ExplicitType`), else what its directory
/// holds (`discovery.AppType`: a `Chart.yaml` or a kustomization at its root).
fn source_type(source: &Value, files: &[SourceFile]) -> Result<&'static str, String> {
    let mut explicit = Vec::new();
    for (field, name) in [
        ("kustomize", "Kustomize"),
        ("helm", "Helm"),
        ("directory", "Directory"),
        ("plugin", "Plugin"),
    ] {
        if source.get(field).is_some_and(|v| !v.is_null()) {
            explicit.push(name);
        }
    }
    if explicit.len() > 1 {
        return Err(unknown(format!(
            "error getting app source type: multiple application sources defined: {}",
            explicit.join(",")
        )));
    }
    match explicit.first() {
        Some(&"Plugin") => {
            return Err(unknown(
                "error getting app source type: the source configures a config management plugin, which the hubspoke sim does not run (it renders Helm charts, kustomizations and plain manifests)",
            ));
        }
        Some(t) => return Ok(t),
        None => {}
    }
    // Argo CD walks the directory in lexical order and the last match at the root wins
    let mut found = "Directory";
    let mut root: Vec<&str> = files
        .iter()
        .map(|f| f.path.as_str())
        .filter(|p| !p.contains('/'))
        .collect();
    root.sort();
    for name in root {
        if name.ends_with("Chart.yaml") {
            found = "Helm";
        }
        if kustomize::is_kustomization(name) {
            found = "Kustomize";
        }
    }
    Ok(found)
}

/// `List` kinds expanded into their items and `items: null` lists dropped, as
/// `GenerateManifests` does for every tool's output.
fn expand_lists(objects: Vec<Value>) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    for obj in objects {
        let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
        let is_list = kind.ends_with("List") && obj.get("items").is_some_and(Value::is_array);
        let null_list = obj.get("spec").is_none()
            && obj.get("status").is_none()
            && obj.get("items").is_some_and(Value::is_null);
        if is_list {
            out.extend(obj["items"].as_array().cloned().unwrap_or_default());
        } else if !null_list {
            out.push(obj);
        }
    }
    Ok(out)
}

/// Splits `helm template`/`kustomize build` output into objects as Argo CD's `SplitYAML`
/// does (empty documents skipped).
pub fn split_yaml(text: &str, what: &str) -> Result<Vec<Value>, String> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(text)
        .map_err(|e| format!("failed to unmarshal manifest: {what}: {e}"))?;
    Ok(docs
        .into_iter()
        .filter(|d| !(d.is_null() || d.as_object().is_some_and(|m| m.is_empty())))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(path: &str) -> SourceFile {
        SourceFile {
            path: path.into(),
            content: Vec::new(),
        }
    }

    #[test]
    fn paths_clean_like_go() {
        assert_eq!(clean_path("./a//b/../c/"), "a/c");
        assert_eq!(clean_path("."), "");
        assert_eq!(clean_path("/x"), "x");
        assert_eq!(clean_path("../x"), "../x");
        assert_eq!(clean_path("a/../../x"), "../x");
    }

    #[test]
    fn trees_list_directories() {
        let tree = Tree::new(
            [("a/b/c.yaml", ""), ("a/d.yaml", ""), ("ab.yaml", "")]
                .into_iter()
                .map(|(p, c)| (p.to_string(), c.as_bytes().to_vec()))
                .collect(),
        );
        let names = |v: Vec<SourceFile>| v.into_iter().map(|f| f.path).collect::<Vec<_>>();
        assert_eq!(names(tree.under("a", true)), ["b/c.yaml", "d.yaml"]);
        assert_eq!(names(tree.under("./a/", false)), ["d.yaml"]);
        assert!(tree.is_dir("a/b") && tree.is_dir(".") && !tree.is_dir("a/d.yaml") && !tree.is_dir("x"));
    }

    #[test]
    fn types_are_explicit_or_discovered() {
        let none = json!({});
        assert_eq!(
            source_type(&none, &[f("Chart.yaml"), f("templates/a.yaml")]).unwrap(),
            "Helm"
        );
        assert_eq!(
            source_type(&none, &[f("Chart.yaml"), f("kustomization.yaml")]).unwrap(),
            "Kustomize"
        );
        assert_eq!(
            source_type(&none, &[f("sub/Chart.yaml"), f("a.yaml")]).unwrap(),
            "Directory"
        );
        assert_eq!(source_type(&json!({"helm": {}}), &[f("a.yaml")]).unwrap(), "Helm");
        assert_eq!(
            source_type(&json!({"helm": {}, "kustomize": {}}), &[]).unwrap_err(),
            "rpc error: code = Unknown desc = error getting app source type: multiple application sources defined: Kustomize,Helm"
        );
        assert!(
            source_type(&json!({"plugin": {"name": "x"}}), &[])
                .unwrap_err()
                .contains("does not run")
        );
    }

    #[test]
    fn source_parameter_files_change_tool_settings_only() {
        let mut src = json!({"repoURL": "u", "path": "p", "helm": {"valueFiles": ["a.yaml"]}});
        let files = vec![
            SourceFile {
                path: ".argocd-source.yaml".into(),
                content: b"helm:\n  valueFiles: [b.yaml]\npath: elsewhere\n".to_vec(),
            },
            SourceFile {
                path: ".argocd-source-app.yaml".into(),
                content: b"helm:\n  releaseName: r\n".to_vec(),
            },
        ];
        merge_source_parameters(&mut src, &files, "app").unwrap();
        assert_eq!(
            src,
            json!({"repoURL": "u", "path": "p", "helm": {"valueFiles": ["b.yaml"], "releaseName": "r"}})
        );
    }

    #[test]
    fn lists_expand_and_null_lists_vanish() {
        let objs = vec![
            json!({"apiVersion": "v1", "kind": "ConfigMapList", "items": [{"kind": "ConfigMap"}]}),
            json!({"apiVersion": "v1", "kind": "ConfigMapList", "items": null}),
            json!({"apiVersion": "v1", "kind": "Secret"}),
        ];
        let out = expand_lists(objs).unwrap();
        assert_eq!(
            out,
            vec![
                json!({"kind": "ConfigMap"}),
                json!({"apiVersion": "v1", "kind": "Secret"})
            ]
        );
    }
}
