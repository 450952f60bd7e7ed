//! Helm sources as the repo server renders them (`helmTemplate`): the chart from a git
//! path, an HTTP repository or an OCI registry; value files resolved against the app's
//! directory or a `$ref` source (`ignoreMissingValueFiles`), `values`/`valuesObject` as one
//! more values file, `parameters`/`fileParameters` as `--set`/`--set-string`/`--set-file`
//! with Argo CD's substitutions; the release name, namespace, Kubernetes version and API
//! versions as Argo CD passes them; `helm template --include-crds` (unless `skipCrds`)
//! rendered by hubspoke-render and split into objects as Argo CD splits helm's output.
//! Missing dependencies of a git chart are fetched first, as Argo CD runs
//! `helm dependency build` when `helm template` reports them.

use std::collections::BTreeMap;
use std::sync::Arc;

use hubspoke_render::source::{ArgoRepository, ChartRef, FetchOptions, fetch_chart};
use hubspoke_render::{GoMap, Value as GoValue};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Client;
use kube::api::{Api, ListParams};
use serde_json::Value;

use super::{Content, Request, Tree, clean_path, split_yaml, str_at, unknown};
use crate::standins::argocd::repo::SourceFile;

/// Where charts come from, with the credentials Argo CD would use.
pub struct HelmAccess {
    hub: Client,
    namespace: String,
    /// The chart cache; None: `$HUBSPOKE_CACHE_DIR` or the user's cache directory.
    cache_dir: Option<std::path::PathBuf>,
    /// Where uses of hubspoke's chart renditions are recorded; None: renditions are off
    /// (an unfetchable chart is an error, as in Argo CD).
    renditions: Option<Arc<crate::standins::charts::Renditions>>,
}

/// What a Helm source renders from.
pub struct Input<'a> {
    pub source: &'a Value,
    /// The chart's files, relative to the chart root.
    pub files: Vec<SourceFile>,
    /// The chart's directory in its git repository (`""` for fetched charts).
    pub app_dir: &'a str,
    /// The git commit the chart comes from.
    pub tree: Option<&'a Tree>,
    pub refs: &'a BTreeMap<String, (String, String, Arc<Tree>)>,
    pub env: &'a [(String, String)],
    pub request: &'a Request<'a>,
}

/// Whether a chart version names one version (rather than a range to resolve).
/// Argo CD's `versions.IsVersion` is Masterminds' `NewVersion` succeeding: an optional `v`,
/// one to three numbers, an optional pre-release and build.
fn is_exact_version(v: &str) -> bool {
    let v = v.trim();
    let v = v.strip_prefix('v').unwrap_or(v);
    let core_end = v.find(['-', '+']).unwrap_or(v.len());
    let (core, rest) = v.split_at(core_end);
    let parts: Vec<&str> = core.split('.').collect();
    let ident = |s: &str| {
        !s.is_empty()
            && s.split('.')
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
    };
    let rest_ok = match rest.split_once('+') {
        Some((pre, build)) => (pre.is_empty() || ident(pre.trim_start_matches('-'))) && ident(build),
        None => rest.is_empty() || ident(&rest[1..]),
    };
    !core.is_empty()
        && (1..=3).contains(&parts.len())
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        && rest_ok
}

/// How Argo CD words a failure to resolve a chart's version range
/// (`newHelmClientResolveRevision`: the index's entries, or the registry's tags, then
/// `versions.MaxVersion`); other errors keep the sim's own wording, which names chart,
/// version, repository and the fix.
fn argo_resolution_error(reference: &ChartRef, e: &hubspoke_render::source::SourceError) -> String {
    use hubspoke_render::source::ErrorKind;
    let requested = reference.version.trim();
    if is_exact_version(requested) || requested.is_empty() {
        return e.message().to_string();
    }
    let oci = reference.repo_url.starts_with("oci://");
    match e.kind() {
        ErrorKind::VersionNotFound if hubspoke_render::source::is_constraint(requested) => format!(
            "invalid revision: version matching constraint not found in {} tags",
            e.available().len()
        ),
        // neither a version nor a constraint: Masterminds' NewConstraint error
        ErrorKind::VersionNotFound => {
            format!(
                "invalid revision: failed to determine semver constraint: improper constraint: {requested}"
            )
        }
        ErrorKind::ChartNotFound if !oci => format!("chart '{}' not found in index", reference.name),
        _ => e.message().to_string(),
    }
}

/// Whether Argo CD treats a Helm repository URL as an OCI registry (`IsHelmOciRepo`: no
/// scheme, `registry.example.com/charts`).
pub fn is_helm_oci_repo(url: &str) -> bool {
    !url.is_empty() && !url.contains("://")
}

impl HelmAccess {
    pub fn new(
        hub: Client,
        namespace: &str,
        cache_dir: Option<std::path::PathBuf>,
        renditions: Option<Arc<crate::standins::charts::Renditions>>,
    ) -> HelmAccess {
        HelmAccess {
            hub,
            namespace: namespace.to_string(),
            cache_dir,
            renditions,
        }
    }

    /// Fetch options for a repository: the credentials of the Argo CD repository Secret
    /// that applies (a `repository` Secret with that URL, else the longest `repo-creds`
    /// prefix) and the CA `argocd-tls-certs-cm` holds for its host; without a Secret, the
    /// `HUBSPOKE_HELM_REPO_*` environment (as `hubspoke charts pull` uses it).
    async fn options(&self, repo_url: &str) -> Result<FetchOptions, String> {
        let secrets: Api<Secret> = Api::namespaced(self.hub.clone(), &self.namespace);
        let mut repos = Vec::new();
        for kind in ["repository", "repo-creds"] {
            let list = secrets
                .list(&ListParams::default().labels(&format!("argocd.argoproj.io/secret-type={kind}")))
                .await
                .map_err(|e| format!("listing Argo CD's repository Secrets: {e}"))?;
            for s in list.items {
                let data: BTreeMap<String, Vec<u8>> = s
                    .data
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k, v.0))
                    .collect();
                let name = s.metadata.name.unwrap_or_default();
                if let Ok(r) = ArgoRepository::from_secret(&name, kind, &data) {
                    repos.push(r);
                }
            }
        }
        let cms: Api<ConfigMap> = Api::namespaced(self.hub.clone(), &self.namespace);
        let certs: BTreeMap<String, String> = cms
            .get_opt("argocd-tls-certs-cm")
            .await
            .ok()
            .flatten()
            .and_then(|c| c.data)
            .unwrap_or_default();
        let from_secret = ArgoRepository::credentials_for(repo_url, &repos).is_some();
        let mut opts = if from_secret {
            FetchOptions::from_argocd(repo_url, &repos, &certs).map_err(|e| e.message().to_string())?
        } else {
            let mut o = FetchOptions::from_env(repo_url).map_err(|e| e.message().to_string())?;
            if let Some(ca) = hubspoke_render::source::credentials::argocd_ca_for(repo_url, &certs) {
                o.ca = Some(ca);
            }
            o
        };
        if let Some(dir) = &self.cache_dir {
            opts.cache = Some(hubspoke_render::source::Cache::new(dir));
        }
        Ok(opts)
    }

    /// Fetches `reference` with the options for the repository `lookup_url` (the source's
    /// `repoURL`, by which Argo CD finds the repository Secret).
    async fn fetch(
        &self,
        reference: &ChartRef,
        lookup_url: &str,
    ) -> Result<hubspoke_render::source::FetchedChart, String> {
        use hubspoke_render::source::ErrorKind;
        let opts = self.options(lookup_url).await.map_err(unknown)?;
        match fetch_chart(reference, &opts).await {
            Ok(c) => Ok(c),
            // neither fetchable nor cached: hubspoke's rendition of the chart, if it has one
            // (and renditions are on), said loudly
            Err(e) if matches!(e.kind(), ErrorKind::NotCached | ErrorKind::Unreachable) => {
                let rendition = self.renditions.as_ref().and_then(|r| {
                    let (chart, holds) = crate::standins::charts::rendition(
                        &reference.repo_url,
                        &reference.name,
                        &reference.version,
                    )?;
                    Some((r, chart, holds))
                });
                let Some((record, chart, holds)) = rendition else {
                    return Err(unknown(e.message()));
                };
                let notice = format!(
                    "chart {} {} from {}: rendered from hubspoke's rendition of it ({holds}), as the real chart could not be fetched: {}",
                    reference.name,
                    chart.version,
                    reference.repo_url,
                    e.message()
                );
                if record.record(notice.clone()) {
                    tracing::warn!("{notice}");
                }
                Ok(chart)
            }
            Err(e) => Err(unknown(argo_resolution_error(reference, &e))),
        }
    }

    /// The revision a chart source resolves to without fetching it, when its
    /// `targetRevision` is an exact version (Argo CD takes such a version as is).
    pub fn exact_revision(target: &str) -> Option<String> {
        is_exact_version(target).then(|| target.trim().to_string())
    }

    /// A chart of a Helm repository (`repoURL` + `chart` + `targetRevision`): HTTP(S), or an
    /// OCI registry named without a scheme.
    pub async fn fetch_repo_chart(
        &self,
        repo_url: &str,
        chart: &str,
        version: &str,
    ) -> Result<Content, String> {
        let repo = if is_helm_oci_repo(repo_url) {
            format!("oci://{}", repo_url.trim_end_matches('/'))
        } else {
            repo_url.to_string()
        };
        let fetched = self.fetch(&ChartRef::new(repo, chart, version), repo_url).await?;
        Ok(Content::Chart {
            revision: fetched.version,
            files: fetched.files,
            oci: false,
        })
    }

    /// An OCI source (`oci://registry/path/name` at a tag): Argo CD extracts the artifact and
    /// renders its `path`; a Helm chart artifact's files land at the root. The sim reads
    /// Helm chart artifacts.
    pub async fn fetch_oci_artifact(&self, repo_url: &str, tag: &str) -> Result<Content, String> {
        let trimmed = repo_url.trim_end_matches('/');
        let Some((repo, name)) = trimmed.rsplit_once('/').filter(|(r, _)| *r != "oci:/") else {
            return Err(unknown(format!(
                "failed to resolve revision {tag:?}: invalid OCI reference {repo_url:?}: name the repository as oci://registry/path"
            )));
        };
        let fetched = self
            .fetch(&ChartRef::new(repo, name, tag), repo_url)
            .await
            .map_err(|e| format!("failed to resolve revision {tag:?}: {e}"))?;
        Ok(Content::Chart {
            revision: fetched.version,
            files: fetched.files,
            oci: true,
        })
    }

    /// `helm template` of the source, as Argo CD runs it.
    pub async fn template(&self, input: Input<'_>) -> Result<Vec<Value>, String> {
        let q = input.request;
        let helm = input.source.get("helm").cloned().unwrap_or(Value::Null);
        let bool_at = |p: &str| helm.pointer(p).and_then(Value::as_bool).unwrap_or(false);
        // the release: Argo CD's app name (without its namespace), unless set
        let app_name = q.app_name.rsplit_once('_').map(|(_, n)| n).unwrap_or(&q.app_name);
        let release = Some(str_at(&helm, "/releaseName"))
            .filter(|s| !s.is_empty())
            .unwrap_or(app_name)
            .to_string();
        let namespace = Some(str_at(&helm, "/namespace"))
            .filter(|s| !s.is_empty())
            .unwrap_or(&q.namespace)
            .to_string();
        let raw_kube = Some(str_at(&helm, "/kubeVersion"))
            .filter(|s| !s.is_empty())
            .unwrap_or(&q.kube_version)
            .to_string();
        let kube_version = if raw_kube.is_empty() {
            String::new()
        } else {
            parse_generic_version(&raw_kube)
                .map_err(|e| unknown(format!("could not parse kubernetes version {raw_kube}: {e}")))?
        };
        let api_versions: Vec<String> = match helm.get("apiVersions").and_then(Value::as_array) {
            Some(a) if !a.is_empty() => a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect(),
            _ => q.api_versions.clone(),
        };

        // value files, then values/valuesObject as one more file
        let value_files: Vec<String> = helm
            .get("valueFiles")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        let mut resolved = Vec::new();
        for raw in &value_files {
            let file = self.resolve_file(&input, raw).map_err(|e| {
                unknown(format!(
                    "error resolving helm value files: error resolving value file path: {e}"
                ))
            })?;
            if file.data.is_none() && bool_at("/ignoreMissingValueFiles") {
                continue;
            }
            resolved.push(file);
        }
        let extra = values_yaml(&helm);

        let parameters: Vec<hubspoke_render::strvals::ArgoHelmParameter> = helm
            .get("parameters")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|p| hubspoke_render::strvals::ArgoHelmParameter {
                name: str_at(p, "/name").to_string(),
                value: str_at(p, "/value").to_string(),
                force_string: p.get("forceString").and_then(Value::as_bool).unwrap_or(false),
            })
            .collect();
        let file_parameters: Vec<hubspoke_render::strvals::ArgoHelmFileParameter> = helm
            .get("fileParameters")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|p| hubspoke_render::strvals::ArgoHelmFileParameter {
                name: str_at(p, "/name").to_string(),
                path: str_at(p, "/path").to_string(),
            })
            .collect();
        // file parameters are resolved while Argo CD collects the flags, then read by helm
        let mut file_data: BTreeMap<String, Option<Vec<u8>>> = BTreeMap::new();
        let mut resolve_error = None;
        let set_options = {
            let mut resolve_path = |raw: &str| -> Result<String, String> {
                match self.resolve_file(&input, raw) {
                    Ok(f) => {
                        file_data.insert(f.shown.clone(), f.data);
                        Ok(f.shown)
                    }
                    Err(e) => {
                        resolve_error = Some(e.clone());
                        Err(e)
                    }
                }
            };
            hubspoke_render::strvals::argocd_set_options(
                &parameters,
                &file_parameters,
                input.env,
                &mut resolve_path,
            )
        };
        let set_options = match set_options {
            Ok(o) => o,
            Err(e) => {
                let e = resolve_error.unwrap_or(e);
                return Err(unknown(format!("error resolving set-file path: {e}")));
            }
        };

        let mut command = format!("helm template . --name-template {release}");
        if !namespace.is_empty() {
            command.push_str(&format!(" --namespace {namespace}"));
        }
        if !kube_version.is_empty() {
            command.push_str(&format!(" --kube-version {kube_version}"));
        }
        for (flag, list) in [
            ("--set", &set_options.values),
            ("--set-string", &set_options.string_values),
            ("--set-file", &set_options.file_values),
        ] {
            for v in list.iter() {
                command.push_str(&format!(" {flag} {v}"));
            }
        }
        for f in &resolved {
            command.push_str(&format!(" --values {}", f.shown));
        }
        if !extra.is_empty() {
            command.push_str(" --values <temp file with values from source.helm.values/valuesObject>");
        }
        if !api_versions.is_empty() {
            command.push_str(" <api versions removed>");
        }
        if !bool_at("/skipCrds") {
            command.push_str(" --include-crds");
        }
        if bool_at("/skipSchemaValidation") {
            command.push_str(" --skip-schema-validation");
        }
        if bool_at("/skipTests") {
            command.push_str(" --skip-tests");
        }
        let failed = |msg: String| {
            unknown(format!(
                "failed to get command args to log: `{command}` failed exit status 1: Error: {msg}"
            ))
        };

        // helm's values: -f files in order (extra last), then the --set family
        let mut base = BTreeMap::new();
        for f in &resolved {
            let Some(data) = &f.data else {
                return Err(failed(format!("open {}: no such file or directory", f.shown)));
            };
            let m = hubspoke_render::chart::values::parse_values_file(&f.shown, data).map_err(&failed)?;
            base = hubspoke_render::chart::values::merge_maps(&base, &m.to_btree());
        }
        if !extra.is_empty() {
            let m = hubspoke_render::chart::values::parse_values_file(
                "<temp file with values from source.helm.values/valuesObject>",
                extra.as_bytes(),
            )
            .map_err(&failed)?;
            base = hubspoke_render::chart::values::merge_maps(&base, &m.to_btree());
        }
        let values = GoMap::new(base);
        let mut read_file = |p: &str| -> Result<String, String> {
            match file_data.get(p) {
                Some(Some(d)) => Ok(String::from_utf8_lossy(d).into_owned()),
                _ => Err(format!("open {p}: no such file or directory")),
            }
        };
        hubspoke_render::strvals::merge_set_options(&set_options, &values, &mut read_file)
            .map_err(&failed)?;

        // the chart: fetched charts are complete; a git chart may need its dependencies
        let mut files: Vec<(String, Vec<u8>)> = input
            .files
            .iter()
            .map(|f| (f.path.clone(), f.content.clone()))
            .collect();
        if input.tree.is_some() {
            files = hubspoke_render::source::dir::filter_ignored(files).map_err(&failed)?;
        }
        let mut chart = hubspoke_render::source::load_chart(files.clone()).map_err(&failed)?;
        let missing = missing_dependencies(&chart);
        if !missing.is_empty() {
            files = self
                .dependency_build(&input, files, &chart, &missing)
                .await
                .map_err(|e| {
                    unknown(format!(
                        "`helm dependency build` failed exit status 1: Error: {e}"
                    ))
                })?;
            chart = hubspoke_render::source::load_chart(files).map_err(&failed)?;
        }

        use hubspoke_render::chart::engine::{Capabilities, ReleaseOptions};
        use hubspoke_render::chart::install::{RenderOptions, render_chart};
        use hubspoke_render::release::{CrdFile, TemplateOptions, helm_template_output};
        let mut caps = Capabilities::default();
        if !kube_version.is_empty() {
            caps.kube_version = hubspoke_render::chart::engine::parse_kube_version(&kube_version)
                .map_err(|e| failed(format!("invalid kube version '{kube_version}': {e}")))?;
        }
        for v in &api_versions {
            if !caps.api_versions.contains(v) {
                caps.api_versions.push(v.clone());
            }
        }
        let release_opts = ReleaseOptions {
            name: release,
            namespace: if namespace.is_empty() {
                "default".into()
            } else {
                namespace
            },
            ..ReleaseOptions::default()
        };
        let opts = RenderOptions {
            release: release_opts,
            capabilities: caps,
            skip_schema_validation: bool_at("/skipSchemaValidation"),
            ..RenderOptions::default()
        };
        let rendered = tokio::task::spawn_blocking(move || render_chart(chart, &values, &opts))
            .await
            .map_err(|e| unknown(e.to_string()))?
            .map_err(&failed)?;
        let crds: Vec<CrdFile> = rendered
            .crds
            .into_iter()
            .map(|(path, content)| CrdFile { path, content })
            .collect();
        let topts = TemplateOptions {
            include_crds: !bool_at("/skipCrds"),
            skip_tests: bool_at("/skipTests"),
            no_hooks: false,
            show_only: Vec::new(),
        };
        let out = helm_template_output(&rendered.templates, &crds, &topts).map_err(&failed)?;
        split_yaml(&out, "helm template").map_err(unknown)
    }

    /// Resolves a value file or file parameter path as `getResolvedValueFiles` does: `$ref/…`
    /// in the named source's repository, a URL (not fetched by the sim), else relative to the
    /// app's directory (absolute paths from the repository root), never outside the root.
    fn resolve_file(&self, input: &Input<'_>, raw: &str) -> Result<ResolvedFile, String> {
        let env = input.env;
        if raw.starts_with('$') {
            let var = raw.split('/').next().unwrap_or("");
            if let Some((url, _, tree)) = input.refs.get(var) {
                let rest = &raw[var.len()..];
                let sub = hubspoke_render::strvals::argocd_envsubst(rest, env);
                let path = clean_path(&sub);
                if path.is_empty() {
                    return Err("internal error: failed to resolve path. Check logs for more details".into());
                }
                if path == ".." || path.starts_with("../") {
                    return Err(format!("file '{sub}' resolved to outside repository root"));
                }
                let _ = url;
                return Ok(ResolvedFile {
                    shown: format!("<path to cached source>/{path}"),
                    data: tree.files.get(&path).cloned(),
                });
            }
        }
        let value = hubspoke_render::strvals::argocd_envsubst(raw, env);
        if let Some((scheme, _)) = value.split_once("://")
            && !scheme.is_empty()
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        {
            if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https") {
                return Err(format!(
                    "{value}: remote value files are not fetched by the hubspoke sim (it runs offline); put the file in a repository and name it by path or $ref"
                ));
            }
            return Err(format!("the URL scheme '{scheme}' is not allowed"));
        }
        let joined = if value.starts_with('/') {
            clean_path(&value)
        } else {
            clean_path(&format!("{}/{value}", input.app_dir))
        };
        if joined == ".." || joined.starts_with("../") {
            return Err(format!("file '{value}' resolved to outside repository root"));
        }
        if joined.is_empty() {
            return Err("internal error: failed to resolve path. Check logs for more details".into());
        }
        let data = match input.tree {
            Some(tree) => tree.files.get(&joined).cloned(),
            None => input
                .files
                .iter()
                .find(|f| f.path == joined)
                .map(|f| f.content.clone()),
        };
        Ok(ResolvedFile {
            shown: format!("<path to cached source>/{joined}"),
            data,
        })
    }

    /// `helm dependency build` for a git chart: each dependency missing from `charts/` is
    /// fetched (a `file://` path from the same commit, else from its repository) and added
    /// under `charts/<name>/`.
    async fn dependency_build(
        &self,
        input: &Input<'_>,
        mut files: Vec<(String, Vec<u8>)>,
        chart: &hubspoke_render::chart::Chart,
        missing: &[String],
    ) -> Result<Vec<(String, Vec<u8>)>, String> {
        for dep in chart.metadata.dependencies.iter().flatten() {
            if !missing.contains(&dep.name) {
                continue;
            }
            let repo = dep.repository.trim();
            let dep_files: Vec<(String, Vec<u8>)> = if let Some(rel) = repo.strip_prefix("file://") {
                let Some(tree) = input.tree else {
                    return Err(format!("directory {rel} not found"));
                };
                let dir = clean_path(&format!("{}/{rel}", input.app_dir));
                if dir == ".." || dir.starts_with("../") || !tree.is_dir(&dir) {
                    return Err(format!("directory {rel} not found"));
                }
                let under: Vec<(String, Vec<u8>)> = tree
                    .under(&dir, true)
                    .into_iter()
                    .map(|f| (f.path, f.content))
                    .collect();
                hubspoke_render::source::dir::filter_ignored(under)?
            } else if repo.is_empty() || repo.starts_with('@') || repo.starts_with("alias:") {
                return Err(format!(
                    "no repository definition for {repo}. Please add the missing repos via 'helm repo add'"
                ));
            } else {
                self.fetch(&ChartRef::new(repo, &dep.name, &dep.version), repo)
                    .await
                    .map_err(|e| {
                        e.trim_start_matches("rpc error: code = Unknown desc = ")
                            .to_string()
                    })?
                    .files
            };
            files.retain(|(p, _)| !p.starts_with(&format!("charts/{}/", dep.name)));
            files.extend(
                dep_files
                    .into_iter()
                    .map(|(p, d)| (format!("charts/{}/{p}", dep.name), d)),
            );
        }
        Ok(files)
    }
}

/// A resolved value file: how it is named in messages, and its content (None: missing).
struct ResolvedFile {
    shown: String,
    data: Option<Vec<u8>>,
}

/// `ValuesYAML`: `valuesObject` as YAML when set, else the `values` string.
fn values_yaml(helm: &Value) -> String {
    match helm.get("valuesObject") {
        Some(v) if !v.is_null() => {
            let go = GoValue::from(v.clone());
            hubspoke_render::goyaml::marshal(&go).unwrap_or_default()
        }
        _ => str_at(helm, "/values").to_string(),
    }
}

/// The dependencies Chart.yaml lists that `charts/` does not hold (Helm's
/// `CheckDependencies`, by chart name).
fn missing_dependencies(chart: &hubspoke_render::chart::Chart) -> Vec<String> {
    let present: Vec<&str> = chart
        .dependencies
        .iter()
        .map(|c| c.metadata.name.as_str())
        .collect();
    chart
        .metadata
        .dependencies
        .iter()
        .flatten()
        .filter(|d| !present.contains(&d.name.as_str()))
        .map(|d| d.name.clone())
        .collect()
}

/// k8s.io/apimachinery's `ParseGeneric(v).String()`: `v1.32.0` → `1.32.0`, `1.32` →
/// `1.32.0`; anything else is an error.
pub fn parse_generic_version(v: &str) -> Result<String, String> {
    let s = v.trim();
    let s = s.strip_prefix('v').unwrap_or(s);
    let (core, extra) = match s.find(['-', '+']) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, ""),
    };
    let parts: Vec<&str> = core.split('.').collect();
    if parts.len() < 2
        || parts.len() > 3
        || parts
            .iter()
            .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(format!("could not parse {v:?} as version"));
    }
    let n = |p: &str| p.trim_start_matches('0').parse::<u64>().unwrap_or(0);
    let patch = parts.get(2).map(|p| n(p)).unwrap_or(0);
    Ok(format!("{}.{}.{patch}{extra}", n(parts[0]), n(parts[1])))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oci_repos_and_versions() {
        assert!(is_helm_oci_repo("ghcr.io/org/charts"));
        assert!(!is_helm_oci_repo("https://charts.example.com"));
        assert!(is_exact_version("1.2.3") && is_exact_version("v1.21.0"));
        assert!(!is_exact_version("^1.2") && !is_exact_version("1.x") && !is_exact_version(""));
        assert_eq!(parse_generic_version("v1.32.0").unwrap(), "1.32.0");
        assert_eq!(parse_generic_version("1.29").unwrap(), "1.29.0");
        assert!(parse_generic_version("latest").is_err());
    }

    #[test]
    fn unresolvable_ranges_read_as_argo_cds_errors() {
        use hubspoke_render::source::{ErrorKind, SourceError};
        let r = |v: &str| ChartRef::new("https://charts.example.com", "web", v);
        let e = SourceError::new(ErrorKind::VersionNotFound, "the sim's text");
        assert_eq!(
            argo_resolution_error(&r("stable"), &e),
            "invalid revision: failed to determine semver constraint: improper constraint: stable"
        );
        assert_eq!(
            argo_resolution_error(&r("^2.0"), &SourceError::new(ErrorKind::ChartNotFound, "x")),
            "chart 'web' not found in index"
        );
        // an exact version is Argo CD's to pass on as is: the sim's own text stays
        assert_eq!(argo_resolution_error(&r("2.0.0"), &e), "the sim's text");
    }

    #[test]
    fn values_object_wins_over_values() {
        assert_eq!(values_yaml(&serde_json::json!({"values": "a: 1\n"})), "a: 1\n");
        assert_eq!(
            values_yaml(&serde_json::json!({"values": "a: 1\n", "valuesObject": {"b": {"c": [1, "x"]}}})),
            "b:\n  c:\n  - 1\n  - x\n"
        );
    }
}
