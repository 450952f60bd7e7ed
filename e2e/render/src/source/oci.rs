//! OCI registries (`oci://host/path`, the chart at `host/path/NAME:VERSION`), as Helm 3.17
//! pulls and pushes charts: the distribution API, Helm's media types, the bearer-token
//! handshake (`401` + `WWW-Authenticate: Bearer realm=...,service=...,scope=...` → the token
//! endpoint, anonymously or with basic credentials) and basic auth. Tags carry `_` for `+`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use http::{Method, StatusCode, header};
use serde_json::{Value as Json, json};

use super::http::{HttpClient, Response, auth_header, origin, refused};
use super::{
    ChartRef, Credentials, ErrorKind, FetchOptions, Location, Resolved, SourceError, archive, choose_version,
    sha256_hex, version,
};

pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.cncf.helm.config.v1+json";
pub const CHART_LAYER_MEDIA_TYPE: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";
pub const LEGACY_CHART_LAYER_MEDIA_TYPE: &str = "application/tar+gzip";
pub const PROV_LAYER_MEDIA_TYPE: &str = "application/vnd.cncf.helm.chart.provenance.v1.prov";
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";

/// A parsed `oci://` location.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OciRef {
    /// `host[:port]`
    pub registry: String,
    /// `path/name`
    pub repository: String,
}

impl OciRef {
    /// `oci://host[:port][/path]` and a chart name.
    pub fn parse(repo_url: &str, name: &str) -> Result<OciRef, String> {
        let rest = repo_url
            .strip_prefix("oci://")
            .ok_or_else(|| format!("{repo_url:?} is not an oci:// URL"))?
            .trim_end_matches('/');
        let (registry, path) = match rest.split_once('/') {
            Some((r, p)) => (r, p),
            None => (rest, ""),
        };
        if registry.is_empty() {
            return Err(format!("{repo_url:?} names no registry host"));
        }
        let repository = if path.is_empty() {
            name.to_string()
        } else {
            format!("{path}/{name}")
        };
        let valid =
            |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-' | '/');
        if !repository.chars().all(valid) || repository.contains("//") || repository.starts_with('/') {
            return Err(format!(
                "{repo_url}/{name} is not a valid OCI repository name (lowercase letters, digits, '.', '_', '-', '/')"
            ));
        }
        Ok(OciRef {
            registry: registry.to_string(),
            repository,
        })
    }

    fn base(&self, plain_http: bool) -> String {
        format!(
            "{}://{}",
            if plain_http { "http" } else { "https" },
            self.registry
        )
    }
}

/// A version as a tag (`+` is not allowed in tags).
pub fn version_to_tag(v: &str) -> String {
    v.replace('+', "_")
}

/// A parsed `WWW-Authenticate` challenge.
#[derive(Debug, PartialEq, Eq)]
struct Challenge {
    scheme: String,
    params: HashMap<String, String>,
}

fn parse_challenge(h: &str) -> Challenge {
    let h = h.trim();
    let (scheme, rest) = h.split_once(' ').unwrap_or((h, ""));
    let mut params = HashMap::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=')).collect();
        if key.is_empty() || chars.next().is_none() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        if let Some(n) = chars.next() {
                            value.push(n);
                        }
                    }
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            value = std::iter::from_fn(|| chars.next_if(|c| *c != ','))
                .collect::<String>()
                .trim()
                .to_string();
        }
        params.insert(key.trim().to_ascii_lowercase(), value);
    }
    Challenge {
        scheme: scheme.to_ascii_lowercase(),
        params,
    }
}

fn query_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A session with one registry: the client, the credentials and the tokens it got.
pub(crate) struct Session {
    client: HttpClient,
    creds: Credentials,
    base: String,
    tokens: Mutex<HashMap<String, String>>,
    basic_wanted: Mutex<bool>,
}

/// Why a registry request failed.
pub(crate) enum Failure {
    Network(String),
    Refused(StatusCode, String),
}

impl Session {
    pub(crate) fn new(reference: &OciRef, opts: &FetchOptions) -> Result<Session, SourceError> {
        Ok(Session {
            client: HttpClient::new(opts.ca.as_deref(), &opts.credentials)?,
            creds: opts.credentials.clone(),
            base: reference.base(opts.plain_http),
            tokens: Mutex::new(HashMap::new()),
            basic_wanted: Mutex::new(false),
        })
    }

    /// The full URL of a registry path.
    pub(crate) fn full(&self, path_or_url: &str) -> String {
        if path_or_url.contains("://") {
            path_or_url.to_string()
        } else {
            format!("{}{path_or_url}", self.base)
        }
    }

    fn auth_for(&self, scope: &str) -> Option<String> {
        if let Some(t) = self.tokens.lock().ok().and_then(|t| t.get(scope).cloned()) {
            return Some(format!("Bearer {t}"));
        }
        if self.basic_wanted.lock().is_ok_and(|b| *b) {
            return auth_header(&self.creds);
        }
        None
    }

    /// A request to the registry (path under the host, or an absolute URL it gave), answering
    /// its authentication challenge once.
    pub(crate) async fn request(
        &self,
        method: Method,
        path_or_url: &str,
        headers: &[(header::HeaderName, String)],
        body: &[u8],
        scope: &str,
    ) -> Result<Response, Failure> {
        let url = if path_or_url.contains("://") {
            path_or_url.to_string()
        } else {
            format!("{}{path_or_url}", self.base)
        };
        for attempt in 0..2 {
            let mut hs = headers.to_vec();
            if origin(&url) == origin(&self.base)
                && let Some(a) = self.auth_for(scope)
            {
                hs.push((header::AUTHORIZATION, a));
            }
            let resp = self
                .client
                .send(method.clone(), &url, &hs, body.to_vec())
                .await
                .map_err(Failure::Network)?;
            if resp.status != StatusCode::UNAUTHORIZED || attempt == 1 {
                return Ok(resp);
            }
            let Some(ch) = resp.header(header::WWW_AUTHENTICATE).map(parse_challenge) else {
                return Ok(resp);
            };
            match ch.scheme.as_str() {
                "bearer" => {
                    let token = self.token(&ch, scope).await?;
                    if let Ok(mut t) = self.tokens.lock() {
                        t.insert(scope.to_string(), token);
                    }
                }
                "basic" if !self.creds.is_empty() => {
                    if let Ok(mut b) = self.basic_wanted.lock() {
                        *b = true;
                    }
                }
                _ => return Ok(resp),
            }
        }
        Err(Failure::Network("authentication did not settle".into()))
    }

    /// The token endpoint: `realm?service=...&scope=...`, with basic credentials when there
    /// are some; a token given by the user is used as it is.
    async fn token(&self, ch: &Challenge, scope: &str) -> Result<String, Failure> {
        if let Some(t) = &self.creds.token {
            return Ok(t.clone());
        }
        let realm = ch.params.get("realm").cloned().unwrap_or_default();
        if realm.is_empty() {
            return Err(Failure::Network(
                "the registry's bearer challenge has no realm".into(),
            ));
        }
        let mut url = realm.clone();
        let mut sep = if realm.contains('?') { '&' } else { '?' };
        if let Some(s) = ch.params.get("service") {
            url.push_str(&format!("{sep}service={}", query_escape(s)));
            sep = '&';
        }
        let want_scope = ch
            .params
            .get("scope")
            .cloned()
            .unwrap_or_else(|| scope.to_string());
        for s in want_scope.split(' ').filter(|s| !s.is_empty()) {
            url.push_str(&format!("{sep}scope={}", query_escape(s)));
            sep = '&';
        }
        let auth = auth_header(&self.creds);
        let resp = self
            .client
            .get(&url, auth.as_deref(), &origin(&realm), &[])
            .await
            .map_err(Failure::Network)?;
        if resp.status == StatusCode::UNAUTHORIZED || resp.status == StatusCode::FORBIDDEN {
            return Err(Failure::Refused(resp.status, url));
        }
        if !resp.status.is_success() {
            return Err(Failure::Network(format!(
                "the token endpoint {realm} answered HTTP {}",
                resp.status
            )));
        }
        let doc: Json = serde_json::from_slice(&resp.body)
            .map_err(|e| Failure::Network(format!("the token endpoint {realm} answered no JSON: {e}")))?;
        doc.get("token")
            .or_else(|| doc.get("access_token"))
            .and_then(|t| t.as_str())
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .ok_or_else(|| Failure::Network(format!("the token endpoint {realm} gave no token")))
    }
}

fn failure(chart: &ChartRef, opts: &FetchOptions, what: &str, f: Failure) -> SourceError {
    match f {
        Failure::Refused(status, url) => refused(chart, &opts.credentials, &url, status),
        Failure::Network(cause) => {
            let cache = match &opts.cache {
                Some(c) => format!("it is not in the chart cache ({})", c.dir().display()),
                None => "no chart cache is configured".to_string(),
            };
            SourceError::new(
                ErrorKind::Unreachable,
                format!(
                    "cannot reach OCI registry {} for {} ({what}: {cause}) and {cache}; check the URL and the network (--plain-http for a registry without TLS), then run once with network access: {}",
                    chart.repo_url,
                    chart.describe(),
                    chart.pull_command()
                ),
            )
        }
    }
}

fn check_status(
    chart: &ChartRef,
    opts: &FetchOptions,
    url: &str,
    resp: &Response,
) -> Result<(), SourceError> {
    if resp.status.is_success() {
        return Ok(());
    }
    if resp.status == StatusCode::UNAUTHORIZED || resp.status == StatusCode::FORBIDDEN {
        return Err(refused(chart, &opts.credentials, url, resp.status));
    }
    if resp.status.is_server_error() {
        return Err(failure(
            chart,
            opts,
            url,
            Failure::Network(format!("HTTP {}", resp.status)),
        ));
    }
    Err(SourceError::new(
        ErrorKind::InvalidRepository,
        format!(
            "OCI registry {} answered HTTP {} for {url} ({}): {}",
            chart.repo_url,
            resp.status,
            chart.describe(),
            String::from_utf8_lossy(&resp.body).trim()
        ),
    ))
}

/// The chart versions tagged in the repository, newest first (Helm's `Tags`: only tags that are
/// strict semver once `_` is read as `+`). `None` when the repository does not exist.
async fn tags(
    session: &Session,
    r: &OciRef,
    chart: &ChartRef,
    opts: &FetchOptions,
) -> Result<Option<Vec<String>>, SourceError> {
    let scope = format!("repository:{}:pull", r.repository);
    let mut path = format!("/v2/{}/tags/list", r.repository);
    let mut all = Vec::new();
    for _ in 0..1000 {
        let resp = session
            .request(Method::GET, &path, &[], &[], &scope)
            .await
            .map_err(|f| failure(chart, opts, &session.full(&path), f))?;
        if resp.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        check_status(chart, opts, &session.full(&path), &resp)?;
        let doc: Json = serde_json::from_slice(&resp.body).unwrap_or(Json::Null);
        for t in doc
            .get("tags")
            .and_then(|t| t.as_array())
            .map(Vec::as_slice)
            .unwrap_or(&[])
        {
            if let Some(t) = t.as_str() {
                all.push(t.to_string());
            }
        }
        // pagination: Link: </v2/...?n=..&last=..>; rel="next"
        match resp
            .header(header::LINK)
            .and_then(|l| l.split(';').next())
            .map(|l| l.trim().trim_matches(['<', '>']).to_string())
        {
            Some(next) if !next.is_empty() => path = next,
            _ => break,
        }
    }
    let mut versions: Vec<String> = all
        .iter()
        .map(|t| t.replace('_', "+"))
        .filter(|v| version::Version::parse_strict(v).is_some())
        .collect();
    version::sort_descending(&mut versions);
    versions.dedup();
    Ok(Some(versions))
}

fn chart_not_found(chart: &ChartRef, r: &OciRef) -> SourceError {
    SourceError::new(
        ErrorKind::ChartNotFound,
        format!(
            "chart {:?} is not in OCI registry {} (no repository {}/{}); check the chart name and the repository URL",
            chart.name, chart.repo_url, r.registry, r.repository
        ),
    )
}

/// Where a chart's package blob is.
pub(crate) struct Download {
    session: Session,
    reference: OciRef,
    digest: String,
    size: Option<u64>,
    opts: FetchOptions,
}

/// Chooses the tag and reads its manifest.
pub(crate) async fn resolve(chart: &ChartRef, opts: &FetchOptions) -> Result<Resolved, SourceError> {
    let r = OciRef::parse(&chart.repo_url, &chart.name).map_err(|e| {
        SourceError::new(
            ErrorKind::InvalidReference,
            format!("{e}; fix the chart's repository URL or name"),
        )
    })?;
    let session = Session::new(&r, opts)?;
    let requested = chart.version.trim();
    let mut listed: Option<Vec<String>> = None;
    let chosen = if version::is_exact(requested) {
        requested.to_string()
    } else {
        let vs = tags(&session, &r, chart, opts)
            .await?
            .ok_or_else(|| chart_not_found(chart, &r))?;
        let v = choose_version(chart, &vs)?;
        listed = Some(vs);
        v
    };
    let scope = format!("repository:{}:pull", r.repository);
    let path = format!("/v2/{}/manifests/{}", r.repository, version_to_tag(&chosen));
    let accept = [(
        header::ACCEPT,
        format!("{MANIFEST_MEDIA_TYPE}, application/vnd.docker.distribution.manifest.v2+json"),
    )];
    let resp = session
        .request(Method::GET, &path, &accept, &[], &scope)
        .await
        .map_err(|f| failure(chart, opts, &session.full(&path), f))?;
    if resp.status == StatusCode::NOT_FOUND {
        let vs = match listed {
            Some(v) => Some(v),
            None => tags(&session, &r, chart, opts).await?,
        };
        return Err(match vs {
            None => chart_not_found(chart, &r),
            Some(vs) => super::no_matching_version(chart, &vs, false),
        });
    }
    check_status(chart, opts, &session.full(&path), &resp)?;
    let manifest: Json = serde_json::from_slice(&resp.body).map_err(|e| {
        SourceError::new(
            ErrorKind::InvalidRepository,
            format!(
                "the manifest of {}/{}:{chosen} is not JSON: {e}",
                r.registry, r.repository
            ),
        )
    })?;
    let config_type = manifest
        .pointer("/config/mediaType")
        .and_then(|m| m.as_str())
        .unwrap_or("");
    if config_type != CONFIG_MEDIA_TYPE {
        return Err(SourceError::new(
            ErrorKind::InvalidRepository,
            format!(
                "{}/{}:{chosen} is not a Helm chart: could not load config with mediatype {CONFIG_MEDIA_TYPE} (its config is {config_type:?}); check the repository URL and chart name",
                r.registry, r.repository
            ),
        ));
    }
    let layers = manifest
        .get("layers")
        .and_then(|l| l.as_array())
        .cloned()
        .unwrap_or_default();
    let layer = layers
        .iter()
        .find(|l| l.get("mediaType").and_then(|m| m.as_str()) == Some(CHART_LAYER_MEDIA_TYPE))
        .or_else(|| layers.iter().find(|l| l.get("mediaType").and_then(|m| m.as_str()) == Some(LEGACY_CHART_LAYER_MEDIA_TYPE)))
        .ok_or_else(|| {
            SourceError::new(
                ErrorKind::InvalidRepository,
                format!(
                    "{}/{}:{chosen}: manifest does not contain a layer with mediatype {CHART_LAYER_MEDIA_TYPE}",
                    r.registry, r.repository
                ),
            )
        })?;
    let digest = layer
        .get("digest")
        .and_then(|d| d.as_str())
        .unwrap_or("")
        .to_string();
    if !digest.starts_with("sha256:") {
        return Err(SourceError::new(
            ErrorKind::InvalidRepository,
            format!(
                "{}/{}:{chosen}: the chart layer's digest {digest:?} is not a sha256 digest",
                r.registry, r.repository
            ),
        ));
    }
    Ok(Resolved {
        version: chosen,
        location: Location::Oci(Box::new(Download {
            session,
            reference: r,
            digest,
            size: layer.get("size").and_then(|s| s.as_u64()),
            opts: opts.clone(),
        })),
    })
}

impl Download {
    /// Downloads the chart layer and checks its digest and size.
    pub(crate) async fn fetch(&self, chart: &ChartRef, version: &str) -> Result<Vec<u8>, SourceError> {
        let opts = &self.opts;
        let r = &self.reference;
        let scope = format!("repository:{}:pull", r.repository);
        let mut url = format!("/v2/{}/blobs/{}", r.repository, self.digest);
        let mut resp = None;
        for _ in 0..10 {
            let got = self
                .session
                .request(Method::GET, &url, &[], &[], &scope)
                .await
                .map_err(|f| failure(chart, opts, &self.session.full(&url), f))?;
            if got.status.is_redirection()
                && let Some(loc) = got.header(header::LOCATION)
            {
                url = if loc.contains("://") {
                    loc.to_string()
                } else {
                    format!("{}{loc}", self.session.base)
                };
                continue;
            }
            resp = Some(got);
            break;
        }
        let resp = resp.ok_or_else(|| {
            failure(
                chart,
                opts,
                &self.session.full(&url),
                Failure::Network("too many redirects".into()),
            )
        })?;
        check_status(chart, opts, &self.session.full(&url), &resp)?;
        let actual = sha256_hex(&resp.body);
        let expected = self.digest.trim_start_matches("sha256:");
        if actual != expected || self.size.is_some_and(|s| s != resp.body.len() as u64) {
            return Err(SourceError::new(
                ErrorKind::DigestMismatch,
                format!(
                    "chart {:?} version {version:?} from OCI registry {} has sha256 {actual} ({} bytes), but its manifest says {expected}{}: the blob was altered in the registry or on the way; nothing was cached — push the chart again",
                    chart.name,
                    chart.repo_url,
                    resp.body.len(),
                    self.size.map(|s| format!(" ({s} bytes)")).unwrap_or_default()
                ),
            ));
        }
        Ok(resp.body)
    }
}

/// What a push did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushResult {
    /// `host/path/name:tag`
    pub reference: String,
    /// The manifest's digest (`sha256:...`).
    pub manifest_digest: String,
    /// The chart layer's digest (`sha256:...`).
    pub chart_digest: String,
}

/// Chart.yaml's fields in the order of Helm's `chart.Metadata` (the config blob is its JSON).
const METADATA_FIELDS: &[&str] = &[
    "name",
    "home",
    "sources",
    "version",
    "description",
    "keywords",
    "maintainers",
    "icon",
    "apiVersion",
    "condition",
    "tags",
    "appVersion",
    "deprecated",
    "annotations",
    "kubeVersion",
    "dependencies",
    "type",
];

fn is_empty_json(v: &Json) -> bool {
    match v {
        Json::Null => true,
        Json::Bool(b) => !b,
        Json::String(s) => s.is_empty(),
        Json::Array(a) => a.is_empty(),
        Json::Object(o) => o.is_empty(),
        Json::Number(_) => false,
    }
}

fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = ((secs / 86400) as i64, secs % 86400);
    // civil-from-days (Howard Hinnant's algorithm)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Pushes a packaged chart as `helm push PACKAGE oci://host/path` does: the chart layer, the
/// config (Chart.yaml as JSON), a manifest with the OCI annotations, tagged with the chart's
/// version (`+` as `_`). `created` is the creation annotation (default: now).
pub async fn push(
    tgz: &[u8],
    repo_url: &str,
    opts: &FetchOptions,
    created: Option<&str>,
) -> Result<PushResult, SourceError> {
    let files = archive::read_archive(tgz).map_err(|e| {
        SourceError::new(
            ErrorKind::InvalidChart,
            format!("the package to push is not a valid chart: {e}"),
        )
    })?;
    let meta = archive::chart_metadata(&files)
        .map_err(|e| SourceError::new(ErrorKind::InvalidChart, format!("the package to push: {e}")))?;
    let chart_yaml = files
        .iter()
        .find(|(n, _)| n == "Chart.yaml")
        .map(|(_, d)| d.as_slice())
        .unwrap_or(&[]);
    let doc: Json =
        serde_saphyr::from_str(std::str::from_utf8(chart_yaml).unwrap_or("")).unwrap_or(Json::Null);
    let mut config = serde_json::Map::new();
    for f in METADATA_FIELDS {
        if let Some(v) = doc.get(*f)
            && !is_empty_json(v)
        {
            config.insert(f.to_string(), v.clone());
        }
    }
    let config = serde_json::to_vec(&Json::Object(config)).unwrap_or_default();
    let chart = ChartRef::new(repo_url, &meta.name, &meta.version);
    let r = OciRef::parse(repo_url, &meta.name).map_err(|e| {
        SourceError::new(
            ErrorKind::InvalidReference,
            format!("{e}; fix the repository URL"),
        )
    })?;
    let session = Session::new(&r, opts)?;
    let scope = format!("repository:{}:pull,push", r.repository);
    let mut annotations: BTreeMap<String, String> = BTreeMap::new();
    let s = |k: &str| doc.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string();
    for (key, value) in [
        ("org.opencontainers.image.description", s("description")),
        ("org.opencontainers.image.title", meta.name.clone()),
        ("org.opencontainers.image.version", meta.version.clone()),
        ("org.opencontainers.image.url", s("home")),
        (
            "org.opencontainers.image.created",
            created.map(str::to_string).unwrap_or_else(now_rfc3339),
        ),
        (
            "org.opencontainers.image.source",
            doc.pointer("/sources/0")
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_string(),
        ),
    ] {
        if !value.trim().is_empty() {
            annotations.insert(key.to_string(), value);
        }
    }
    if let Some(ms) = doc
        .get("maintainers")
        .and_then(|m| m.as_array())
        .filter(|m| !m.is_empty())
    {
        let authors: Vec<String> = ms
            .iter()
            .map(|m| {
                let name = m.get("name").and_then(|v| v.as_str()).unwrap_or("");
                match m.get("email").and_then(|v| v.as_str()).filter(|e| !e.is_empty()) {
                    Some(e) => format!("{name} ({e})"),
                    None => name.to_string(),
                }
            })
            .collect();
        let joined = authors.join(", ");
        if !joined.trim().is_empty() {
            annotations.insert("org.opencontainers.image.authors".into(), joined);
        }
    }
    if let Some(extra) = doc.get("annotations").and_then(|a| a.as_object()) {
        for (k, v) in extra {
            let immutable = [
                "org.opencontainers.image.version",
                "org.opencontainers.image.title",
            ];
            if let Some(v) = v.as_str()
                && !immutable.contains(&k.as_str())
            {
                annotations.insert(k.clone(), v.to_string());
            }
        }
    }
    let chart_digest = format!("sha256:{}", sha256_hex(tgz));
    let config_digest = format!("sha256:{}", sha256_hex(&config));
    for (digest, data) in [(&config_digest, &config[..]), (&chart_digest, tgz)] {
        upload_blob(&session, &r, &chart, opts, &scope, digest, data).await?;
    }
    let manifest = json!({
        "schemaVersion": 2,
        "config": {"mediaType": CONFIG_MEDIA_TYPE, "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": CHART_LAYER_MEDIA_TYPE, "digest": chart_digest, "size": tgz.len()}],
        "annotations": annotations,
    });
    let body = serde_json::to_vec(&manifest).unwrap_or_default();
    let tag = version_to_tag(&meta.version);
    let path = format!("/v2/{}/manifests/{tag}", r.repository);
    let resp = session
        .request(
            Method::PUT,
            &path,
            &[(header::CONTENT_TYPE, MANIFEST_MEDIA_TYPE.to_string())],
            &body,
            &scope,
        )
        .await
        .map_err(|f| failure(&chart, opts, &session.full(&path), f))?;
    check_status(&chart, opts, &session.full(&path), &resp)?;
    Ok(PushResult {
        reference: format!("{}/{}:{tag}", r.registry, r.repository),
        manifest_digest: format!("sha256:{}", sha256_hex(&body)),
        chart_digest,
    })
}

async fn upload_blob(
    session: &Session,
    r: &OciRef,
    chart: &ChartRef,
    opts: &FetchOptions,
    scope: &str,
    digest: &str,
    data: &[u8],
) -> Result<(), SourceError> {
    let path = format!("/v2/{}/blobs/uploads/", r.repository);
    let resp = session
        .request(Method::POST, &path, &[], &[], scope)
        .await
        .map_err(|f| failure(chart, opts, &session.full(&path), f))?;
    check_status(chart, opts, &session.full(&path), &resp)?;
    let location = resp.header(header::LOCATION).unwrap_or("").to_string();
    if location.is_empty() {
        return Err(SourceError::new(
            ErrorKind::InvalidRepository,
            format!("OCI registry {} started an upload without a Location", r.registry),
        ));
    }
    let sep = if location.contains('?') { '&' } else { '?' };
    let put = format!("{location}{sep}digest={}", query_escape(digest));
    let resp = session
        .request(
            Method::PUT,
            &put,
            &[(header::CONTENT_TYPE, "application/octet-stream".to_string())],
            data,
            scope,
        )
        .await
        .map_err(|f| failure(chart, opts, &session.full(&put), f))?;
    check_status(chart, opts, &session.full(&put), &resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull,push""#,
        );
        assert_eq!(c.scheme, "bearer");
        assert_eq!(c.params["realm"], "https://auth.example.com/token");
        assert_eq!(c.params["scope"], "repository:a/b:pull,push");
        assert_eq!(parse_challenge(r#"Basic realm="Registry Realm""#).scheme, "basic");
    }

    #[test]
    fn references() {
        let r = OciRef::parse("oci://127.0.0.1:5000/charts/", "web").unwrap();
        assert_eq!(
            r,
            OciRef {
                registry: "127.0.0.1:5000".into(),
                repository: "charts/web".into()
            }
        );
        assert_eq!(OciRef::parse("oci://ghcr.io", "x").unwrap().repository, "x");
        assert!(OciRef::parse("oci://ghcr.io/A", "x").is_err());
        assert_eq!(version_to_tag("1.0.0+build.1"), "1.0.0_build.1");
        assert_eq!(now_rfc3339().len(), 20);
    }
}
