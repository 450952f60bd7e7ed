//! Where charts come from: packaged archives (`.tgz`), chart directories (with
//! `.helmignore`), HTTP(S) chart repositories (`index.yaml`) and OCI registries, with a local
//! cache so that a second run needs no network. Each source yields the chart's files as
//! `(path relative to the chart root, data)`, as Helm 3.17's loader sees them.
//!
//! ```no_run
//! # async fn f() -> Result<(), hubspoke_render::source::SourceError> {
//! use hubspoke_render::source::{fetch_chart, ChartRef, FetchOptions};
//! let chart = ChartRef::new("https://charts.example.com/stable", "nginx", "^1.2");
//! let fetched = fetch_chart(&chart, &FetchOptions::from_env(&chart.repo_url)?).await?;
//! println!("{} {} sha256:{}", fetched.name, fetched.version, fetched.digest);
//! # Ok(()) }
//! ```

pub mod archive;
pub mod cache;
pub mod credentials;
pub mod dir;
pub mod http;
pub mod oci;
mod version;

use std::fmt;
use std::path::{Path, PathBuf};

pub use cache::Cache;
pub use credentials::{ArgoRepository, Credentials};

/// What went wrong, for callers that react to a kind of failure; the message says the rest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// A packaged chart or chart directory is malformed or unsafe.
    InvalidChart,
    /// The chart is not in the repository.
    ChartNotFound,
    /// No version of the chart matches the requested version or constraint.
    VersionNotFound,
    /// The repository could not be reached (network, TLS, HTTP errors other than 401/403).
    Unreachable,
    /// Offline and the chart is not in the cache.
    NotCached,
    /// The repository refused the credentials (HTTP 401 or 403).
    Unauthorized,
    /// A download or a cached file does not have the digest it should have.
    DigestMismatch,
    /// The repository answered something that is not a valid index or manifest.
    InvalidRepository,
    /// A bad chart reference or option.
    InvalidReference,
    /// Reading or writing local files failed.
    Io,
}

/// A chart source error: its message names the chart, version and repository and the fix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceError {
    kind: ErrorKind,
    message: String,
    /// For [`ErrorKind::VersionNotFound`]: the versions the repository has (newest first).
    available: Vec<String>,
}

impl SourceError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> SourceError {
        SourceError {
            kind,
            message: message.into(),
            available: Vec::new(),
        }
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The versions the repository has, when no version matched (newest first): callers that
    /// word the error as another tool does (Argo CD counts them) need them.
    pub fn available(&self) -> &[String] {
        &self.available
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SourceError {}

/// Which chart to fetch. `repo_url` is `https://...`/`http://...` (a chart repository with an
/// `index.yaml`), `oci://host/path` (an OCI registry; the chart is `host/path/name`), or a
/// local path: then `name` is a packaged chart (`.tgz`) or a chart directory under it (an
/// empty `repo_url` takes `name` as the path itself). `version` is an exact version or a
/// Masterminds semver constraint; empty means the newest release.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChartRef {
    pub repo_url: String,
    pub name: String,
    pub version: String,
}

impl ChartRef {
    pub fn new(repo_url: impl Into<String>, name: impl Into<String>, version: impl Into<String>) -> ChartRef {
        ChartRef {
            repo_url: repo_url.into(),
            name: name.into(),
            version: version.into(),
        }
    }

    /// `chart "NAME" version "V"` (or without the version when none was asked for).
    pub(crate) fn describe(&self) -> String {
        if self.version.trim().is_empty() {
            format!("chart {:?}", self.name)
        } else {
            format!("chart {:?} version {:?}", self.name, self.version)
        }
    }

    /// The command that puts this chart into the cache while the network is there.
    pub fn pull_command(&self) -> String {
        let mut s = format!("hubspoke charts pull {} {}", self.repo_url, self.name);
        if !self.version.trim().is_empty() {
            s.push_str(&format!(" --version '{}'", self.version));
        }
        s
    }

    pub(crate) fn is_oci(&self) -> bool {
        self.repo_url.starts_with("oci://")
    }

    pub(crate) fn is_http(&self) -> bool {
        self.repo_url.starts_with("http://") || self.repo_url.starts_with("https://")
    }
}

/// How to fetch.
#[derive(Clone, Debug, Default)]
pub struct FetchOptions {
    /// Where fetched charts are kept; `None` fetches every time and keeps nothing.
    pub cache: Option<Cache>,
    /// Credentials for the repository (basic auth or a bearer token).
    pub credentials: Credentials,
    /// PEM certificates trusted for the repository instead of the system's roots.
    pub ca: Option<Vec<u8>>,
    /// Never use the network: only the cache answers.
    pub offline: bool,
    /// Talk plain HTTP to OCI registries (Helm's `--plain-http`).
    pub plain_http: bool,
}

impl FetchOptions {
    /// The default cache, credentials and CA from the environment for `repo_url` (see
    /// [`Credentials::from_env`]), online.
    pub fn from_env(repo_url: &str) -> Result<FetchOptions, SourceError> {
        let lookup = |k: &str| std::env::var(k).ok();
        let ca = match credentials::ca_file_from_env(repo_url, &lookup) {
            Some((var, path)) => Some(std::fs::read(&path).map_err(|e| {
                SourceError::new(
                    ErrorKind::Io,
                    format!(
                        "cannot read the CA file {path} named by {var}: {e}; fix the path or unset {var}"
                    ),
                )
            })?),
            None => None,
        };
        Ok(FetchOptions {
            cache: Some(Cache::from_env()?),
            credentials: Credentials::from_env(repo_url),
            ca,
            offline: false,
            plain_http: credentials::plain_http_from_env(repo_url, &lookup),
        })
    }

    /// The default cache, with the credentials of the Argo CD Secret that applies to
    /// `repo_url` (a `repository` Secret with that URL, else the longest `repo-creds` prefix)
    /// and the CA that `argocd-tls-certs-cm` holds for its host, as Argo CD would use them.
    pub fn from_argocd(
        repo_url: &str,
        secrets: &[ArgoRepository],
        tls_certs_cm: &std::collections::BTreeMap<String, String>,
    ) -> Result<FetchOptions, SourceError> {
        let secret = ArgoRepository::credentials_for(repo_url, secrets);
        Ok(FetchOptions {
            cache: Some(Cache::from_env()?),
            credentials: secret.map(|s| s.credentials.clone()).unwrap_or_default(),
            ca: credentials::argocd_ca_for(repo_url, tls_certs_cm),
            offline: false,
            plain_http: secret.is_some_and(|s| s.force_http),
        })
    }

    /// Trusts the certificates of a PEM file.
    pub fn with_ca_file(mut self, path: &Path) -> Result<FetchOptions, SourceError> {
        self.ca = Some(std::fs::read(path).map_err(|e| {
            SourceError::new(
                ErrorKind::Io,
                format!("cannot read the CA file {}: {e}", path.display()),
            )
        })?);
        Ok(self)
    }
}

/// A fetched chart: its name and version (from the repository, or Chart.yaml for local
/// charts), the sha256 of its package (hex; for a directory, of the package it would make),
/// and its files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchedChart {
    pub name: String,
    pub version: String,
    pub digest: String,
    pub files: Vec<(String, Vec<u8>)>,
}

/// Chooses among `versions` (any order) the one Helm picks for `requested`: an exact match,
/// else the newest satisfying it as a constraint (`""`: the newest release). None when none
/// does or the request is not a valid constraint.
pub fn select_version(versions: &[String], requested: &str) -> Option<String> {
    let mut sorted = versions.to_vec();
    version::sort_descending(&mut sorted);
    version::select(&sorted, requested).ok().map(str::to_string)
}

/// Whether `requested` is a Masterminds semver constraint (`^1.0`, `>=1.2 <2`, `1.x`, ...).
pub fn is_constraint(requested: &str) -> bool {
    version::Constraint::parse(requested.trim()).is_some()
}

/// Loads a chart from its files (`(path relative to the chart root, data)`, as the sources
/// yield them), reading packaged subcharts (`charts/*.tgz`) as Helm's loader does.
pub fn load_chart(files: Vec<(String, Vec<u8>)>) -> Result<crate::chart::Chart, String> {
    use crate::chart::{Chart, File};
    let archive = |data: &[u8]| -> Result<Vec<File>, String> {
        Ok(archive::read_archive(data)?
            .into_iter()
            .map(|(n, d)| File::new(n, d))
            .collect())
    };
    Chart::load_files(
        files.into_iter().map(|(n, d)| File::new(n, d)).collect(),
        &archive,
    )
}

/// The sha256 of `data`, lowercase hex.
pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(data);
    let mut s = String::with_capacity(64);
    for b in d.iter() {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// Fetches a chart from an HTTP(S) repository, an OCI registry or a local path, through the
/// cache when there is one.
pub async fn fetch_chart(chart: &ChartRef, opts: &FetchOptions) -> Result<FetchedChart, SourceError> {
    if chart.name.trim().is_empty() {
        return Err(SourceError::new(
            ErrorKind::InvalidReference,
            format!(
                "no chart name given for repository {:?}; name the chart to fetch",
                chart.repo_url
            ),
        ));
    }
    if !chart.is_oci() && !chart.is_http() {
        return fetch_local(chart);
    }
    let cached_versions = match &opts.cache {
        Some(c) => c.versions(&chart.repo_url, &chart.name)?,
        None => Vec::new(),
    };
    let requested = chart.version.trim();
    // an exact version already in the cache needs no network
    if let Some(cache) = &opts.cache
        && !requested.is_empty()
        && cached_versions.iter().any(|v| v == requested)
    {
        return cache.read(&chart.repo_url, &chart.name, requested);
    }
    if opts.offline {
        return from_cache_or(chart, opts, &cached_versions, || {
            not_cached(chart, opts, &cached_versions)
        });
    }
    let resolved = if chart.is_oci() {
        oci::resolve(chart, opts).await
    } else {
        http::resolve(chart, opts).await
    };
    let resolved = match resolved {
        Ok(r) => r,
        Err(e) if e.kind() == ErrorKind::Unreachable => {
            // the repository is down: a cached version that satisfies the request still does
            return from_cache_or(chart, opts, &cached_versions, || e);
        }
        Err(e) => return Err(e),
    };
    if let Some(cache) = &opts.cache
        && cached_versions.contains(&resolved.version)
    {
        return cache.read(&chart.repo_url, &chart.name, &resolved.version);
    }
    let tgz = resolved.download(chart, opts).await?;
    let digest = sha256_hex(&tgz);
    let files = archive::read_archive(&tgz).map_err(|e| {
        SourceError::new(
            ErrorKind::InvalidChart,
            format!(
                "{} from {} is not a valid chart package: {e}",
                chart.describe(),
                chart.repo_url
            ),
        )
    })?;
    if let Some(cache) = &opts.cache {
        cache.store(&chart.repo_url, &chart.name, &resolved.version, &tgz)?;
    }
    Ok(FetchedChart {
        name: chart.name.clone(),
        version: resolved.version,
        digest,
        files,
    })
}

fn from_cache_or(
    chart: &ChartRef,
    opts: &FetchOptions,
    cached: &[String],
    otherwise: impl FnOnce() -> SourceError,
) -> Result<FetchedChart, SourceError> {
    if let Some(cache) = &opts.cache
        && let Ok(v) = version::select(cached, &chart.version)
    {
        return cache.read(&chart.repo_url, &chart.name, v);
    }
    Err(otherwise())
}

fn not_cached(chart: &ChartRef, opts: &FetchOptions, cached: &[String]) -> SourceError {
    let place = match &opts.cache {
        Some(c) => format!("the chart cache ({})", c.dir().display()),
        None => "the chart cache (none configured)".to_string(),
    };
    let have = if cached.is_empty() {
        String::new()
    } else {
        format!(" (cached versions: {})", list_some(cached))
    };
    SourceError::new(
        ErrorKind::NotCached,
        format!(
            "{} from repository {} is not in {place}{have} and network access is off; run once with network access: {}",
            chart.describe(),
            chart.repo_url,
            chart.pull_command()
        ),
    )
}

/// The first few items, then how many more.
pub(crate) fn list_some(items: &[String]) -> String {
    const SHOWN: usize = 5;
    let mut s = items.iter().take(SHOWN).cloned().collect::<Vec<_>>().join(", ");
    if items.len() > SHOWN {
        s.push_str(&format!(" and {} more", items.len() - SHOWN));
    }
    s
}

/// A version chosen in a remote repository, ready to download.
pub(crate) struct Resolved {
    pub(crate) version: String,
    pub(crate) location: Location,
}

pub(crate) enum Location {
    Http(Box<http::Download>),
    Oci(Box<oci::Download>),
}

impl Resolved {
    async fn download(&self, chart: &ChartRef, opts: &FetchOptions) -> Result<Vec<u8>, SourceError> {
        match &self.location {
            Location::Http(d) => d.fetch(chart, opts, &self.version).await,
            Location::Oci(d) => d.fetch(chart, &self.version).await,
        }
    }
}

/// The error for a version request nothing satisfies, listing what there is.
pub(crate) fn no_matching_version(
    chart: &ChartRef,
    available: &[String],
    bad_constraint: bool,
) -> SourceError {
    let have = if available.is_empty() {
        "it has no versions".to_string()
    } else {
        format!("available (newest first): {}", list_some(available))
    };
    let why = if bad_constraint {
        format!(
            "{:?} is neither one of its versions nor a valid semver constraint",
            chart.version
        )
    } else if chart.version.trim().is_empty() {
        "it has no release version (only prereleases need an explicit version or a constraint such as >=0.0.0-0)".to_string()
    } else {
        format!("no version matches {:?}", chart.version)
    };
    SourceError {
        available: available.to_vec(),
        ..SourceError::new(
            ErrorKind::VersionNotFound,
            format!(
                "chart {:?} in repository {}: {why}; {have}; set the chart's version to one of them or widen the constraint",
                chart.name, chart.repo_url
            ),
        )
    }
}

/// Picks the version among `available` (newest first) or says why none fits.
pub(crate) fn choose_version(chart: &ChartRef, available: &[String]) -> Result<String, SourceError> {
    match version::select(available, &chart.version) {
        Ok(v) => Ok(v.to_string()),
        Err(version::SelectError::BadConstraint) => Err(no_matching_version(chart, available, true)),
        Err(version::SelectError::NoMatch) => Err(no_matching_version(chart, available, false)),
    }
}

fn fetch_local(chart: &ChartRef) -> Result<FetchedChart, SourceError> {
    let path: PathBuf = if chart.repo_url.is_empty() {
        PathBuf::from(&chart.name)
    } else {
        Path::new(chart.repo_url.strip_prefix("file://").unwrap_or(&chart.repo_url)).join(&chart.name)
    };
    let (files, digest) = if path.is_dir() {
        let files = dir::read_dir(&path)?;
        let meta = archive::chart_metadata(&files).map_err(|e| {
            SourceError::new(
                ErrorKind::InvalidChart,
                format!("chart directory {}: {e}", path.display()),
            )
        })?;
        let tgz = archive::write_archive(&meta.name, &files).map_err(|e| {
            SourceError::new(
                ErrorKind::InvalidChart,
                format!("chart directory {}: {e}", path.display()),
            )
        })?;
        (files, sha256_hex(&tgz))
    } else {
        let data = std::fs::read(&path).map_err(|e| {
            SourceError::new(
                ErrorKind::Io,
                format!("cannot read chart {}: {e}; give the path of a packaged chart (.tgz) or a chart directory", path.display()),
            )
        })?;
        let files = archive::read_archive_file(&path.to_string_lossy(), &data)
            .map_err(|e| SourceError::new(ErrorKind::InvalidChart, e))?;
        (files, sha256_hex(&data))
    };
    let meta = archive::chart_metadata(&files)
        .map_err(|e| SourceError::new(ErrorKind::InvalidChart, format!("chart {}: {e}", path.display())))?;
    let requested = chart.version.trim();
    if !requested.is_empty() {
        let one = [meta.version.clone()];
        if version::select(&one, requested).is_err() {
            return Err(SourceError::new(
                ErrorKind::VersionNotFound,
                format!(
                    "chart {} is version {} of {:?}, which does not match the requested version {:?}; change the requested version or the chart",
                    path.display(),
                    meta.version,
                    meta.name,
                    requested
                ),
            ));
        }
    }
    Ok(FetchedChart {
        name: meta.name,
        version: meta.version,
        digest,
        files,
    })
}
