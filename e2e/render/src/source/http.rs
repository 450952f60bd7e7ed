//! HTTP(S) chart repositories: `index.yaml` (Helm's repo/index.go: entries, versions sorted
//! by semver, newest first, invalid entries skipped, chart URLs relative to the repository or
//! absolute, digests), version selection, download with the digest checked against the index.
//! Also the HTTP client the OCI registry code uses: hyper-util's client over rustls with the
//! aws-lc-rs provider, the system's roots or a given CA, basic or bearer auth.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::{
    ChartRef, Credentials, ErrorKind, FetchOptions, Location, Resolved, SourceError, choose_version,
    list_some, sha256_hex, version,
};

/// The largest response body read (an index or a package).
const MAX_BODY: usize = 256 * 1024 * 1024;
/// One request's time limit.
const TIMEOUT: Duration = Duration::from_secs(120);

/// An HTTP(S) client for one repository.
#[derive(Clone)]
pub(crate) struct HttpClient {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
}

/// A response, body read.
pub(crate) struct Response {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
}

impl Response {
    pub(crate) fn header(&self, name: header::HeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

fn tls_error(e: impl std::fmt::Display) -> SourceError {
    SourceError::new(ErrorKind::InvalidReference, format!("TLS setup: {e}"))
}

impl HttpClient {
    /// A client trusting `ca` (PEM) if given, else the system's roots; presenting a client
    /// certificate when the credentials carry one.
    pub(crate) fn new(ca: Option<&[u8]>, creds: &Credentials) -> Result<HttpClient, SourceError> {
        let mut roots = rustls::RootCertStore::empty();
        match ca {
            Some(pem) => {
                for cert in CertificateDer::pem_slice_iter(pem) {
                    let cert =
                        cert.map_err(|e| tls_error(format!("the CA certificates are not valid PEM: {e}")))?;
                    roots
                        .add(cert)
                        .map_err(|e| tls_error(format!("a CA certificate is not usable: {e}")))?;
                }
                if roots.is_empty() {
                    return Err(tls_error(
                        "the CA file holds no certificate (expected PEM CERTIFICATE blocks)",
                    ));
                }
            }
            None => {
                for cert in rustls_native_certs::load_native_certs().certs {
                    let _ = roots.add(cert);
                }
            }
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(tls_error)?
            .with_root_certificates(roots);
        let config = match (&creds.client_cert, &creds.client_key) {
            (Some(cert), Some(key)) => {
                let certs = CertificateDer::pem_slice_iter(cert)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| tls_error(format!("the client certificate is not valid PEM: {e}")))?;
                let key = PrivateKeyDer::from_pem_slice(key)
                    .map_err(|e| tls_error(format!("the client key is not valid PEM: {e}")))?;
                builder.with_client_auth_cert(certs, key).map_err(tls_error)?
            }
            _ => builder.with_no_client_auth(),
        };
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(config)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .build();
        Ok(HttpClient {
            client: Client::builder(TokioExecutor::new()).build(https),
        })
    }

    /// One request (no redirects).
    pub(crate) async fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(header::HeaderName, String)],
        body: Vec<u8>,
    ) -> Result<Response, String> {
        let mut req = http::Request::builder().method(method).uri(url).header(
            header::USER_AGENT,
            concat!("hubspoke-render/", env!("CARGO_PKG_VERSION")),
        );
        for (k, v) in headers {
            let v = HeaderValue::from_str(v).map_err(|_| format!("invalid value for header {k}"))?;
            req = req.header(k, v);
        }
        let req = req
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| format!("invalid request for {url}: {e}"))?;
        let fut = async {
            let resp = self
                .client
                .request(req)
                .await
                .map_err(|e| describe_client_error(&e))?;
            let (parts, body) = resp.into_parts();
            let body = Limited::new(body, MAX_BODY)
                .collect()
                .await
                .map_err(|e| format!("reading the response: {e}"))?
                .to_bytes()
                .to_vec();
            Ok(Response {
                status: parts.status,
                headers: parts.headers,
                body,
            })
        };
        match tokio::time::timeout(TIMEOUT, fut).await {
            Ok(r) => r,
            Err(_) => Err(format!("no answer within {}s", TIMEOUT.as_secs())),
        }
    }

    /// A GET following redirects (up to 10, as Go's client does); `auth` is sent only to
    /// `auth_origin` (scheme://host:port).
    pub(crate) async fn get(
        &self,
        url: &str,
        auth: Option<&str>,
        auth_origin: &str,
        extra: &[(header::HeaderName, String)],
    ) -> Result<Response, String> {
        let mut url = url.to_string();
        for _ in 0..=10 {
            let mut headers = extra.to_vec();
            if let Some(a) = auth
                && origin(&url) == auth_origin
            {
                headers.push((header::AUTHORIZATION, a.to_string()));
            }
            let resp = self.send(Method::GET, &url, &headers, Vec::new()).await?;
            if resp.status.is_redirection()
                && let Some(loc) = resp.header(header::LOCATION)
            {
                url = resolve_reference_plain(&url, loc);
                continue;
            }
            return Ok(resp);
        }
        Err("stopped after 10 redirects".into())
    }
}

fn describe_client_error(e: &hyper_util::client::legacy::Error) -> String {
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    msg
}

/// The `Authorization` header for the credentials, if any: a bearer token, or basic auth when
/// both a username and a password are set.
pub(crate) fn auth_header(creds: &Credentials) -> Option<String> {
    use base64::Engine;
    if let Some(t) = &creds.token {
        return Some(format!("Bearer {t}"));
    }
    // Helm sends basic auth only with both a username and a password
    match (creds.username.as_deref(), creds.password.as_deref()) {
        (Some(u), Some(p)) if !u.is_empty() && !p.is_empty() => Some(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
        )),
        _ => None,
    }
}

/// `scheme://authority` of a URL.
pub(crate) fn origin(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            format!(
                "{}://{}",
                scheme.to_ascii_lowercase(),
                rest[..end].to_ascii_lowercase()
            )
        }
        None => String::new(),
    }
}

fn has_scheme(s: &str) -> bool {
    match s.find(':') {
        Some(i) if i > 0 => {
            let scheme = &s[..i];
            scheme.as_bytes()[0].is_ascii_alphabetic()
                && scheme
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        }
        _ => false,
    }
}

fn remove_dot_segments(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    let segs: Vec<&str> = path.split('/').collect();
    for (i, seg) in segs.iter().enumerate() {
        let last = i + 1 == segs.len();
        match *seg {
            "." => {
                if last {
                    out.push("");
                }
            }
            ".." => {
                if out.len() > 1 {
                    out.pop();
                }
                if last {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    let joined = out.join("/");
    if joined.starts_with('/') {
        joined
    } else {
        format!("/{joined}")
    }
}

/// RFC 3986 resolution of `reference` against `base` (Go's `URL.ResolveReference`).
fn resolve_reference_plain(base: &str, reference: &str) -> String {
    if has_scheme(reference) {
        return reference.to_string();
    }
    let org = origin(base);
    let scheme = base.split_once("://").map_or("", |(s, _)| s);
    if let Some(rest) = reference.strip_prefix("//") {
        return format!("{scheme}://{rest}");
    }
    let base_path_query = &base[org.len().min(base.len())..];
    let base_path = base_path_query.split(['?', '#']).next().unwrap_or("");
    let (ref_path, ref_query) = match reference.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (reference, None),
    };
    let ref_path = ref_path.split('#').next().unwrap_or("");
    let path = if ref_path.is_empty() {
        base_path.to_string()
    } else if ref_path.starts_with('/') {
        remove_dot_segments(ref_path)
    } else {
        let dir = match base_path.rfind('/') {
            Some(i) => &base_path[..=i],
            None => "/",
        };
        remove_dot_segments(&format!("{dir}{ref_path}"))
    };
    match ref_query {
        Some(q) => format!("{org}{path}?{q}"),
        None => format!("{org}{path}"),
    }
}

/// Helm's `ResolveReferenceURL`: a chart URL from the index, relative to the repository URL
/// (as a directory) or absolute; the repository URL's query string is kept.
pub fn resolve_chart_url(repo_url: &str, chart_url: &str) -> String {
    if has_scheme(chart_url) {
        return chart_url.to_string();
    }
    let (base, query) = match repo_url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (repo_url, None),
    };
    let base = format!("{}/", base.trim_end_matches('/'));
    let resolved = resolve_reference_plain(&base, chart_url);
    let resolved = resolved.split('?').next().unwrap_or("").to_string();
    match query {
        Some(q) => format!("{resolved}?{q}"),
        None => resolved,
    }
}

/// One chart version in an index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexEntry {
    pub version: String,
    pub urls: Vec<String>,
    pub digest: String,
}

/// A repository index: chart name → versions, newest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Index {
    pub api_version: String,
    pub entries: std::collections::BTreeMap<String, Vec<IndexEntry>>,
}

fn go_base_ok(name: &str) -> bool {
    !name.is_empty() && !name.contains('/') && name != "." && name != ".."
}

impl Index {
    /// Parses an index.yaml (or its JSON form) as Helm's `loadIndex`: invalid entries are
    /// skipped, versions sorted newest first; an index without apiVersion is an error.
    pub fn parse(data: &[u8]) -> Result<Index, String> {
        if data.is_empty() {
            return Err("empty index.yaml file".into());
        }
        let doc: serde_json::Value = match serde_json::from_slice(data) {
            Ok(v) => v,
            Err(_) => {
                let text =
                    std::str::from_utf8(data).map_err(|_| "index.yaml is not UTF-8 text".to_string())?;
                let mut budget = serde_saphyr::Budget::default();
                budget.max_events = 100_000_000;
                budget.max_nodes = 100_000_000;
                budget.max_total_scalar_bytes = MAX_BODY;
                let mut opts = serde_saphyr::Options::default();
                opts.budget = Some(budget);
                serde_saphyr::from_str_with_options(text, opts).map_err(|e| e.to_string())?
            }
        };
        let mut index = Index {
            api_version: doc
                .get("apiVersion")
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_string(),
            ..Index::default()
        };
        if let Some(entries) = doc.get("entries").and_then(|e| e.as_object()) {
            for (name, versions) in entries {
                let mut list = Vec::new();
                for cv in versions.as_array().map(Vec::as_slice).unwrap_or(&[]) {
                    let Some(cv) = cv.as_object() else { continue };
                    let s = |k: &str| {
                        cv.get(k)
                            .and_then(|v| v.as_str())
                            .unwrap_or("")
                            .trim()
                            .to_string()
                    };
                    let (n, v, t) = (s("name"), s("version"), s("type"));
                    if !go_base_ok(&n)
                        || version::Version::parse(&v).is_none()
                        || !matches!(t.as_str(), "" | "application" | "library")
                    {
                        continue;
                    }
                    let urls = cv
                        .get("urls")
                        .and_then(|u| u.as_array())
                        .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
                        .unwrap_or_default();
                    list.push(IndexEntry {
                        version: v,
                        urls,
                        digest: s("digest"),
                    });
                }
                let mut order: Vec<String> = list.iter().map(|e| e.version.clone()).collect();
                version::sort_descending(&mut order);
                let mut sorted = Vec::with_capacity(list.len());
                for v in order {
                    if let Some(i) = list.iter().position(|e| e.version == v) {
                        sorted.push(list.swap_remove(i));
                    }
                }
                index.entries.insert(name.clone(), sorted);
            }
        }
        if index.api_version.is_empty() {
            return Err("no API version specified".into());
        }
        Ok(index)
    }
}

/// Where a chart version's package is.
pub(crate) struct Download {
    url: String,
    digest: String,
    auth: Option<String>,
    auth_origin: String,
    client: HttpClient,
}

fn unreachable(chart: &ChartRef, opts: &FetchOptions, url: &str, cause: &str) -> SourceError {
    let cache = match &opts.cache {
        Some(c) => format!("it is not in the chart cache ({})", c.dir().display()),
        None => "no chart cache is configured".to_string(),
    };
    SourceError::new(
        ErrorKind::Unreachable,
        format!(
            "cannot reach chart repository {} for {} (GET {url}: {cause}) and {cache}; check the URL and the network, then run once with network access: {}",
            chart.repo_url,
            chart.describe(),
            chart.pull_command()
        ),
    )
}

pub(crate) fn refused(chart: &ChartRef, creds: &Credentials, url: &str, status: StatusCode) -> SourceError {
    SourceError::new(
        ErrorKind::Unauthorized,
        format!(
            "chart repository {} refused access to {url} (HTTP {status}) for {}: {}",
            chart.repo_url,
            chart.describe(),
            creds.advice(&chart.repo_url)
        ),
    )
}

fn status_error(chart: &ChartRef, opts: &FetchOptions, url: &str, status: StatusCode) -> SourceError {
    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        return refused(chart, &opts.credentials, url, status);
    }
    if status.is_server_error() {
        return unreachable(chart, opts, url, &format!("HTTP {status}"));
    }
    SourceError::new(
        ErrorKind::InvalidRepository,
        format!(
            "chart repository {} answered HTTP {status} for {url} ({}); check the repository URL",
            chart.repo_url,
            chart.describe()
        ),
    )
}

/// Reads the index and chooses the version.
pub(crate) async fn resolve(chart: &ChartRef, opts: &FetchOptions) -> Result<Resolved, SourceError> {
    let client = HttpClient::new(opts.ca.as_deref(), &opts.credentials)?;
    let auth = auth_header(&opts.credentials);
    let repo_origin = origin(&chart.repo_url);
    let index_url = resolve_chart_url(&chart.repo_url, "index.yaml");
    let resp = client
        .get(&index_url, auth.as_deref(), &repo_origin, &[])
        .await
        .map_err(|e| unreachable(chart, opts, &index_url, &e))?;
    if !resp.status.is_success() {
        return Err(status_error(chart, opts, &index_url, resp.status));
    }
    let index = Index::parse(&resp.body).map_err(|e| {
        SourceError::new(
            ErrorKind::InvalidRepository,
            format!(
                "{:?} is not a valid chart repository: its index {index_url} cannot be loaded: {e}; check the repository URL",
                chart.repo_url
            ),
        )
    })?;
    let Some(versions) = index.entries.get(&chart.name) else {
        let names: Vec<String> = index.entries.keys().cloned().collect();
        let listed = if names.is_empty() {
            "it lists no charts".to_string()
        } else {
            format!("it lists {}", list_some(&names))
        };
        return Err(SourceError::new(
            ErrorKind::ChartNotFound,
            format!(
                "chart {:?} is not in the index of chart repository {} ({listed}); check the chart name and the repository URL",
                chart.name, chart.repo_url
            ),
        ));
    };
    let available: Vec<String> = versions.iter().map(|e| e.version.clone()).collect();
    let chosen = choose_version(chart, &available)?;
    let entry = versions
        .iter()
        .find(|e| e.version == chosen)
        .cloned()
        .unwrap_or_else(|| IndexEntry {
            version: chosen.clone(),
            urls: Vec::new(),
            digest: String::new(),
        });
    let Some(first) = entry.urls.first() else {
        return Err(SourceError::new(
            ErrorKind::InvalidRepository,
            format!(
                "chart {:?} version {:?} has no downloadable URLs in the index of {}; the repository's index is broken",
                chart.name, chosen, chart.repo_url
            ),
        ));
    };
    let url = resolve_chart_url(&chart.repo_url, first);
    Ok(Resolved {
        version: chosen,
        location: Location::Http(Box::new(Download {
            url,
            digest: entry.digest,
            auth,
            auth_origin: repo_origin,
            client,
        })),
    })
}

impl Download {
    /// Downloads the package and checks it against the index's digest.
    pub(crate) async fn fetch(
        &self,
        chart: &ChartRef,
        opts: &FetchOptions,
        version: &str,
    ) -> Result<Vec<u8>, SourceError> {
        let resp = self
            .client
            .get(&self.url, self.auth.as_deref(), &self.auth_origin, &[])
            .await
            .map_err(|e| unreachable(chart, opts, &self.url, &e))?;
        if !resp.status.is_success() {
            return Err(status_error(chart, opts, &self.url, resp.status));
        }
        let expected = self.digest.trim_start_matches("sha256:").to_ascii_lowercase();
        let actual = sha256_hex(&resp.body);
        if !expected.is_empty() && actual != expected {
            return Err(SourceError::new(
                ErrorKind::DigestMismatch,
                format!(
                    "chart {:?} version {version:?} downloaded from {} has sha256 {actual}, but the index of {} says {expected}: the package or the index was changed after publishing; nothing was cached — ask the repository's owner to re-index it (helm repo index)",
                    chart.name, self.url, chart.repo_url
                ),
            ));
        }
        Ok(resp.body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chart_urls_like_helm() {
        for (base, r, want) in [
            (
                "http://localhost:8123/charts/",
                "nginx-0.2.0.tgz",
                "http://localhost:8123/charts/nginx-0.2.0.tgz",
            ),
            (
                "http://localhost:8123/charts",
                "nginx-0.2.0.tgz",
                "http://localhost:8123/charts/nginx-0.2.0.tgz",
            ),
            (
                "http://localhost:8123/charts?with=queryparameter",
                "nginx-0.2.0.tgz",
                "http://localhost:8123/charts/nginx-0.2.0.tgz?with=queryparameter",
            ),
            (
                "http://localhost:8123",
                "https://example.com/x.tgz",
                "https://example.com/x.tgz",
            ),
            (
                "http://localhost:8123/charts/",
                "/abs/x.tgz",
                "http://localhost:8123/abs/x.tgz",
            ),
            (
                "http://localhost:8123/a/b",
                "../x.tgz",
                "http://localhost:8123/a/x.tgz",
            ),
            ("https://h/r", "index.yaml", "https://h/r/index.yaml"),
        ] {
            assert_eq!(resolve_chart_url(base, r), want, "{base} + {r}");
        }
    }

    #[test]
    fn index_parsing_and_order() {
        let idx = Index::parse(
            b"apiVersion: v1\nentries:\n  a:\n  - name: a\n    version: 1.0.0\n    urls: [a-1.0.0.tgz]\n  - name: a\n    version: 1.10.0\n    urls: [a-1.10.0.tgz]\n    digest: abc\n  - name: a\n    version: not-semver\n  - name: a/b\n    version: 2.0.0\n  - name: a\n    version: 1.2.0\n    type: weird\n",
        )
        .unwrap();
        let vs: Vec<&str> = idx.entries["a"].iter().map(|e| e.version.as_str()).collect();
        assert_eq!(vs, ["1.10.0", "1.0.0"]);
        assert_eq!(
            Index::parse(b"entries: {}\n").unwrap_err(),
            "no API version specified"
        );
        assert_eq!(Index::parse(b"").unwrap_err(), "empty index.yaml file");
        assert!(Index::parse(br#"{"apiVersion":"v1","entries":{}}"#).is_ok());
    }
}
