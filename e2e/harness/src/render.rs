//! `hubspoke render template`: a plain Go template rendered by hubspoke-render, printed as
//! Go's text/template prints it, so the engine can be compared from outside.

use std::path::Path;

use hubspoke_render::{MissingKey, Options, Template, Value};

/// What `render template` printed and how it ends.
#[derive(Debug, PartialEq, Eq)]
pub enum Rendered {
    Output(String),
    /// Go's error text (parse or execution); the command prints `ERROR: <text>`, exit 3.
    GoError(String),
}

/// Renders `file` with the JSON in `data` as dot (numbers are float64, as encoding/json
/// decodes them). With `sprig`, sprig's functions are registered as Helm registers them.
pub fn render_template(
    file: &Path,
    data: &Path,
    missingkey: &str,
    sprig: bool,
) -> Result<Rendered, crate::Error> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| crate::Error::input(format!("{}: cannot read the template: {e}", file.display())))?;
    let raw = std::fs::read_to_string(data)
        .map_err(|e| crate::Error::input(format!("{}: cannot read the data: {e}", data.display())))?;
    let json: serde_json::Value = serde_json::from_str(&raw).map_err(|e| {
        crate::Error::input(format!(
            "{}: not JSON ({e}); the data must be a JSON document",
            data.display()
        ))
    })?;
    let Some(missing_key) = MissingKey::parse(missingkey) else {
        return Err(crate::Error::input(format!(
            "--missingkey={missingkey}: expected default, invalid, zero or error"
        )));
    };
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut t = Template::new(&name);
    if sprig {
        t = t.funcs(hubspoke_render::sprig::funcs());
    }
    if let Err(e) = t.add_parse(&name, &text) {
        return Ok(Rendered::GoError(e.to_string()));
    }
    match t.execute(&Value::from(json), &Options { missing_key }) {
        Ok(out) => Ok(Rendered::Output(out)),
        Err(e) => Ok(Rendered::GoError(e.to_string())),
    }
}

/// `hubspoke helm template`'s inputs, as `helm template`'s flags.
#[derive(Clone, Debug, Default)]
pub struct HelmTemplate {
    /// A chart directory, a packaged chart (.tgz), `oci://host/path/chart`, or a chart name
    /// in `repo`.
    pub chart: String,
    /// The release name (default `release-name`, as `helm template`).
    pub name: Option<String>,
    pub namespace: Option<String>,
    /// An HTTP(S) chart repository holding `chart`.
    pub repo: Option<String>,
    /// An exact version or a semver constraint (default: the newest).
    pub version: Option<String>,
    pub values_files: Vec<std::path::PathBuf>,
    pub set: hubspoke_render::strvals::SetOptions,
    pub kube_version: Option<String>,
    pub api_versions: Vec<String>,
    pub include_crds: bool,
    pub skip_tests: bool,
    pub no_hooks: bool,
    pub show_only: Vec<String>,
    pub skip_schema_validation: bool,
    /// Only the cache: never the network.
    pub offline: bool,
    /// A PEM file of CAs for an HTTPS repository or registry.
    pub ca_file: Option<std::path::PathBuf>,
}

fn chart_ref(h: &HelmTemplate) -> hubspoke_render::source::ChartRef {
    use hubspoke_render::source::ChartRef;
    let version = h.version.clone().unwrap_or_default();
    if let Some(repo) = &h.repo {
        return ChartRef::new(repo.trim_end_matches('/'), &h.chart, version);
    }
    if let Some(rest) = h.chart.strip_prefix("oci://") {
        let (base, name) = rest.rsplit_once('/').unwrap_or(("", rest));
        return ChartRef::new(format!("oci://{base}"), name, version);
    }
    ChartRef::new("", &h.chart, version)
}

/// The chart's files from wherever `chart` names (through the cache for repositories).
pub async fn fetch(h: &HelmTemplate) -> Result<hubspoke_render::source::FetchedChart, crate::Error> {
    use hubspoke_render::source::{FetchOptions, fetch_chart};
    let r = chart_ref(h);
    let mut opts = if r.repo_url.is_empty() {
        FetchOptions::default()
    } else {
        FetchOptions::from_env(&r.repo_url).map_err(|e| crate::Error::input(e.to_string()))?
    };
    opts.offline = h.offline;
    if let Some(ca) = &h.ca_file {
        opts = opts
            .with_ca_file(ca)
            .map_err(|e| crate::Error::input(e.to_string()))?;
    }
    fetch_chart(&r, &opts).await.map_err(source_error)
}

fn source_error(e: hubspoke_render::source::SourceError) -> crate::Error {
    use hubspoke_render::source::ErrorKind;
    match e.kind() {
        ErrorKind::Unreachable => crate::Error::env(e.to_string()),
        _ => crate::Error::input(e.to_string()),
    }
}

/// Reads a values file (`-f`) as Helm does (YAML, numbers float64).
fn read_values_file(path: &std::path::Path) -> Result<hubspoke_render::GoMap, crate::Error> {
    let data =
        std::fs::read(path).map_err(|e| crate::Error::input(format!("open {}: {e}", path.display())))?;
    hubspoke_render::chart::values::parse_values_file(&path.display().to_string(), &data)
        .map_err(crate::Error::input)
}

/// What `helm template` prints for the chart, or its error (`Error: ...` is the caller's).
pub async fn helm_template(h: &HelmTemplate) -> Result<String, crate::Error> {
    use hubspoke_render::chart::engine::{Capabilities, ReleaseOptions};
    use hubspoke_render::chart::install::{RenderOptions, render_chart};
    use hubspoke_render::release::{CrdFile, TemplateOptions, helm_template_output};

    let fetched = fetch(h).await?;
    let chart = hubspoke_render::source::load_chart(fetched.files).map_err(crate::Error::input)?;
    // -f files merged in order, then the --set family (pkg/cli/values MergeValues)
    let mut base = std::collections::BTreeMap::new();
    for f in &h.values_files {
        let m = read_values_file(f)?;
        base = hubspoke_render::chart::values::merge_maps(&base, &m.to_btree());
    }
    let values = hubspoke_render::GoMap::new(base);
    let mut read = |p: &str| std::fs::read_to_string(p).map_err(|e| format!("open {p}: {e}"));
    hubspoke_render::strvals::merge_set_options(&h.set, &values, &mut read).map_err(crate::Error::input)?;
    let mut caps = Capabilities::default();
    if let Some(kv) = &h.kube_version {
        caps.kube_version = hubspoke_render::chart::engine::parse_kube_version(kv)
            .map_err(|e| crate::Error::input(format!("invalid kube version '{kv}': {e}")))?;
    }
    caps.api_versions.extend(h.api_versions.iter().cloned());
    let mut release = ReleaseOptions::default();
    if let Some(n) = &h.name {
        release.name = n.clone();
    }
    if let Some(ns) = &h.namespace {
        release.namespace = ns.clone();
    }
    let opts = RenderOptions {
        release,
        capabilities: caps,
        skip_schema_validation: h.skip_schema_validation,
        ..RenderOptions::default()
    };
    let rendered = render_chart(chart, &values, &opts).map_err(crate::Error::input)?;
    let crds: Vec<CrdFile> = rendered
        .crds
        .into_iter()
        .map(|(path, content)| CrdFile { path, content })
        .collect();
    let topts = TemplateOptions {
        include_crds: h.include_crds,
        skip_tests: h.skip_tests,
        no_hooks: h.no_hooks,
        show_only: h.show_only.clone(),
    };
    helm_template_output(&rendered.templates, &crds, &topts).map_err(crate::Error::input)
}

/// `hubspoke charts pull`: fetches the chart into the cache (for later offline runs) and
/// returns its name, version and digest.
pub async fn charts_pull(h: &HelmTemplate) -> Result<String, crate::Error> {
    if h.repo.is_none() && !h.chart.starts_with("oci://") {
        return Err(crate::Error::input(format!(
            "{}: charts pull needs a repository: --repo URL (HTTP) or an oci:// reference",
            h.chart
        )));
    }
    let f = fetch(h).await?;
    Ok(format!("{} {} sha256:{}", f.name, f.version, f.digest))
}

/// `hubspoke charts import FILE.tgz --repo URL`: a packaged chart into the cache under the
/// repository it belongs to.
pub fn charts_import(tgz: &std::path::Path, repo: &str) -> Result<String, crate::Error> {
    let cache = hubspoke_render::source::cache::Cache::from_env().map_err(source_error)?;
    let f = cache.import(tgz, repo).map_err(source_error)?;
    Ok(format!(
        "{} {} sha256:{} -> {}",
        f.name,
        f.version,
        f.digest,
        cache.chart_path(repo, &f.name, &f.version).display()
    ))
}
