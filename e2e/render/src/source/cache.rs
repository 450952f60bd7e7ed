//! The chart cache: packaged charts kept by repository URL, chart name and version, each
//! beside its sha256, checked on every read. With the chart in the cache, a fetch needs no
//! network.
//!
//! Layout: `DIR/<repository key>/<name>/<name>-<version>.tgz` and `....tgz.sha256`
//! (`sha256sum`'s format), and `DIR/<repository key>/repository` holding the URL. The key is
//! the URL made file-name safe plus a short hash of it, so that different URLs never share one.

use std::path::{Path, PathBuf};

use super::{ChartRef, ErrorKind, FetchedChart, SourceError, archive, sha256_hex, version};

/// The environment variable naming the cache directory.
pub const CACHE_DIR_ENV: &str = "HUBSPOKE_CACHE_DIR";

/// A chart cache rooted at a directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cache {
    dir: PathBuf,
}

fn io(what: String, e: std::io::Error) -> SourceError {
    SourceError::new(ErrorKind::Io, format!("{what}: {e}"))
}

/// The user's cache directory, as the platform defines it.
fn user_cache_dir() -> Option<PathBuf> {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    if cfg!(target_os = "macos") {
        return env("HOME").map(|h| h.join("Library/Caches"));
    }
    if cfg!(windows) {
        return env("LOCALAPPDATA");
    }
    env("XDG_CACHE_HOME")
        .filter(|p| p.is_absolute())
        .or_else(|| env("HOME").map(|h| h.join(".cache")))
}

/// Normalises a repository URL for keys: no trailing slash.
fn normalize(repo_url: &str) -> &str {
    repo_url.trim_end_matches('/')
}

fn check_component(what: &str, s: &str) -> Result<(), SourceError> {
    if s.is_empty() || s == "." || s == ".." || s.contains(['/', '\\', '\0']) {
        return Err(SourceError::new(
            ErrorKind::InvalidReference,
            format!("chart {what} {s:?} cannot be cached: it must be a plain name without path separators"),
        ));
    }
    Ok(())
}

impl Cache {
    /// A cache in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Cache {
        Cache { dir: dir.into() }
    }

    /// `$HUBSPOKE_CACHE_DIR`, or the user's cache directory + `hubspoke/charts`.
    pub fn from_env() -> Result<Cache, SourceError> {
        if let Some(d) = std::env::var_os(CACHE_DIR_ENV).filter(|v| !v.is_empty()) {
            return Ok(Cache::new(d));
        }
        match user_cache_dir() {
            Some(d) => Ok(Cache::new(d.join("hubspoke").join("charts"))),
            None => Err(SourceError::new(
                ErrorKind::Io,
                format!("no cache directory for charts: set {CACHE_DIR_ENV} (or HOME)"),
            )),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The directory of one repository's charts.
    pub fn repo_dir(&self, repo_url: &str) -> PathBuf {
        let url = normalize(repo_url);
        let readable: String = url
            .split_once("://")
            .map_or(url, |(_, rest)| rest)
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '-') {
                    c
                } else {
                    '_'
                }
            })
            .take(80)
            .collect();
        let hash = sha256_hex(url.as_bytes());
        self.dir.join(format!("{readable}-{}", &hash[..12]))
    }

    /// The path of a cached package.
    pub fn chart_path(&self, repo_url: &str, name: &str, version: &str) -> PathBuf {
        self.repo_dir(repo_url)
            .join(name)
            .join(format!("{name}-{version}.tgz"))
    }

    /// The cached versions of a chart, newest first.
    pub fn versions(&self, repo_url: &str, name: &str) -> Result<Vec<String>, SourceError> {
        if check_component("name", name).is_err() {
            return Ok(Vec::new());
        }
        let dir = self.repo_dir(repo_url).join(name);
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(format!("cannot read the chart cache {}", dir.display()), e)),
        };
        let prefix = format!("{name}-");
        let mut out: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let f = e.file_name().to_string_lossy().into_owned();
                let v = f.strip_prefix(&prefix)?.strip_suffix(".tgz")?.to_string();
                dir.join(format!("{f}.sha256")).is_file().then_some(v)
            })
            .collect();
        version::sort_descending(&mut out);
        Ok(out)
    }

    /// Reads a cached chart, checking its digest.
    pub fn read(&self, repo_url: &str, name: &str, version: &str) -> Result<FetchedChart, SourceError> {
        check_component("name", name)?;
        check_component("version", version)?;
        let path = self.chart_path(repo_url, name, version);
        let sum_path = PathBuf::from(format!("{}.sha256", path.display()));
        let data = std::fs::read(&path)
            .map_err(|e| io(format!("cannot read cached chart {}", path.display()), e))?;
        let sum = std::fs::read_to_string(&sum_path).map_err(|e| {
            io(
                format!("cannot read the digest of cached chart {}", sum_path.display()),
                e,
            )
        })?;
        let expected = sum.split_whitespace().next().unwrap_or("").to_ascii_lowercase();
        let actual = sha256_hex(&data);
        let refetch = ChartRef {
            repo_url: repo_url.to_string(),
            name: name.to_string(),
            version: version.to_string(),
        };
        if actual != expected {
            return Err(SourceError::new(
                ErrorKind::DigestMismatch,
                format!(
                    "cached chart {} has sha256 {actual} but {} records {expected}: the cache is corrupt or was edited; delete {} and fetch it again ({})",
                    path.display(),
                    sum_path.display(),
                    path.display(),
                    refetch.pull_command()
                ),
            ));
        }
        let files = archive::read_archive(&data).map_err(|e| {
            SourceError::new(
                ErrorKind::InvalidChart,
                format!(
                    "cached chart {} is not a valid chart package: {e}; delete it and fetch it again ({})",
                    path.display(),
                    refetch.pull_command()
                ),
            )
        })?;
        Ok(FetchedChart {
            name: name.to_string(),
            version: version.to_string(),
            digest: actual,
            files,
        })
    }

    /// Stores a package (atomically: a reader never sees half a file).
    pub fn store(
        &self,
        repo_url: &str,
        name: &str,
        version: &str,
        tgz: &[u8],
    ) -> Result<PathBuf, SourceError> {
        check_component("name", name)?;
        check_component("version", version)?;
        let path = self.chart_path(repo_url, name, version);
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        std::fs::create_dir_all(&dir)
            .map_err(|e| io(format!("cannot create the chart cache {}", dir.display()), e))?;
        let repo_file = self.repo_dir(repo_url).join("repository");
        if !repo_file.exists() {
            write_atomic(&repo_file, format!("{}\n", normalize(repo_url)).as_bytes())?;
        }
        let file_name = format!("{name}-{version}.tgz");
        write_atomic(&path, tgz)?;
        let sum_path = PathBuf::from(format!("{}.sha256", path.display()));
        write_atomic(
            &sum_path,
            format!("{}  {file_name}\n", sha256_hex(tgz)).as_bytes(),
        )?;
        Ok(path)
    }

    /// Puts a packaged chart into the cache under `repo_url`, by the name and version of its
    /// Chart.yaml (for charts that come from elsewhere: `hubspoke charts import`).
    pub fn import(&self, tgz_path: &Path, repo_url: &str) -> Result<FetchedChart, SourceError> {
        let data = std::fs::read(tgz_path)
            .map_err(|e| io(format!("cannot read chart {}", tgz_path.display()), e))?;
        let files = archive::read_archive_file(&tgz_path.to_string_lossy(), &data)
            .map_err(|e| SourceError::new(ErrorKind::InvalidChart, e))?;
        let meta = archive::chart_metadata(&files).map_err(|e| {
            SourceError::new(
                ErrorKind::InvalidChart,
                format!("chart {}: {e}", tgz_path.display()),
            )
        })?;
        self.store(repo_url, &meta.name, &meta.version, &data)?;
        Ok(FetchedChart {
            name: meta.name,
            version: meta.version,
            digest: sha256_hex(&data),
            files,
        })
    }
}

fn write_atomic(path: &Path, data: &[u8]) -> Result<(), SourceError> {
    let tmp = PathBuf::from(format!("{}.tmp{}", path.display(), std::process::id()));
    std::fs::write(&tmp, data).map_err(|e| io(format!("cannot write {}", tmp.display()), e))?;
    std::fs::rename(&tmp, path).map_err(|e| io(format!("cannot write {}", path.display()), e))
}
