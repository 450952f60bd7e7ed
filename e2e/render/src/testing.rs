//! Test servers for chart sources, shared by this crate's tests and the sim's: a static
//! HTTP(S) server (a chart repository's `index.yaml` and packages, with optional required
//! credentials) and Debian's `docker-registry` (distribution 2.8) as an OCI registry on a
//! free loopback port. Behind the `testing` feature; nothing here is used by the engine.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

/// A static HTTP(S) server: path → body, an optional required Authorization header, counting
/// requests. Dropping it stops it (listener and open connections).
pub struct StaticServer {
    pub addr: SocketAddr,
    hits: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
    scheme: &'static str,
}

impl StaticServer {
    /// Starts on a free port; `make` gets the server's base URL and returns the files.
    pub async fn start(
        make: impl FnOnce(&str) -> HashMap<String, Vec<u8>>,
        auth: Option<String>,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> StaticServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let scheme = if tls.is_some() { "https" } else { "http" };
        let files = Arc::new(make(&format!("{scheme}://{addr}")));
        let h = hits.clone();
        let task = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let files = files.clone();
                let auth = auth.clone();
                let hits = h.clone();
                let acceptor = acceptor.clone();
                conns.spawn(async move {
                    let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        hits.fetch_add(1, Ordering::SeqCst);
                        let files = files.clone();
                        let auth = auth.clone();
                        async move {
                            let given = req.headers().get("authorization").and_then(|v| v.to_str().ok());
                            if let Some(want) = &auth
                                && given != Some(want.as_str())
                            {
                                return Ok::<_, std::convert::Infallible>(
                                    hyper::Response::builder()
                                        .status(401)
                                        .header("www-authenticate", "Basic realm=\"charts\"")
                                        .body(Full::new(Bytes::new()))
                                        .unwrap(),
                                );
                            }
                            Ok(match files.get(req.uri().path()) {
                                Some(b) => hyper::Response::new(Full::new(Bytes::from(b.clone()))),
                                None => hyper::Response::builder()
                                    .status(404)
                                    .body(Full::new(Bytes::new()))
                                    .unwrap(),
                            })
                        }
                    });
                    let http = hyper::server::conn::http1::Builder::new();
                    match acceptor {
                        Some(a) => {
                            if let Ok(s) = a.accept(stream).await {
                                let _ = http.serve_connection(TokioIo::new(s), svc).await;
                            }
                        }
                        None => {
                            let _ = http.serve_connection(TokioIo::new(stream), svc).await;
                        }
                    }
                });
            }
        });
        StaticServer {
            addr,
            hits,
            task,
            scheme,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}://{}{path}", self.scheme, self.addr)
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    pub async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

/// The registry binary, or None (with a note) on a machine without it, unless
/// HUBSPOKE_RENDER_REQUIRE_REGISTRY is set.
pub fn registry_binary() -> Option<PathBuf> {
    let found = ["/usr/bin/docker-registry", "/usr/local/bin/docker-registry"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file());
    if found.is_none() {
        if std::env::var_os("HUBSPOKE_RENDER_REQUIRE_REGISTRY").is_some() {
            panic!(
                "docker-registry is required (HUBSPOKE_RENDER_REQUIRE_REGISTRY is set): apt-get install -y docker-registry"
            );
        }
        eprintln!(
            "note: docker-registry is not installed (apt-get install -y docker-registry); OCI test skipped"
        );
    }
    found
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("the test registry starts")
        .local_addr()
        .expect("the test registry starts")
        .port()
}

/// A registry on a free loopback port with a temporary config (`auth` is the YAML of its
/// `auth:` section, `DIR` standing for its directory), stopped on drop.
pub struct Registry {
    child: std::process::Child,
    pub addr: String,
    _dir: tempfile::TempDir,
}

impl Registry {
    pub async fn start(bin: &Path, auth: &str) -> Registry {
        let dir = tempfile::tempdir().expect("the test registry starts");
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let auth = auth.replace("DIR", &dir.path().display().to_string());
        let config = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}/data\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n  secret: hubspoke-test\n{auth}",
            dir.path().display()
        );
        let cfg = dir.path().join("config.yml");
        std::fs::write(&cfg, config).expect("the test registry starts");
        let child = std::process::Command::new(bin)
            .arg("serve")
            .arg(&cfg)
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("registry.log")).expect("the test registry starts"))
            .spawn()
            .expect("the test registry starts");
        let mut reg = Registry {
            child,
            addr,
            _dir: dir,
        };
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(&reg.addr).await.is_ok() {
                return reg;
            }
            if let Ok(Some(status)) = reg.child.try_wait() {
                let log = std::fs::read_to_string(reg._dir.path().join("registry.log")).unwrap_or_default();
                panic!("docker-registry exited: {status}\n{log}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("docker-registry did not listen on {}", reg.addr);
    }

    pub fn url(&self, path: &str) -> String {
        format!("oci://{}{path}", self.addr)
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A chart repository's files under `prefix` (e.g. `/charts`): each package at
/// `<prefix>/<name>-<version>.tgz` and an `index.yaml` listing them with relative URLs and
/// digests, as `helm repo index` writes it.
pub fn repository_files(prefix: &str, packages: &[(&str, &str, Vec<u8>)]) -> HashMap<String, Vec<u8>> {
    let mut files = HashMap::new();
    let mut by_name: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
    for (name, version, tgz) in packages {
        by_name.entry(name).or_default().push(format!(
            "  - apiVersion: v2\n    name: {name}\n    version: {version}\n    urls: [\"{name}-{version}.tgz\"]\n    digest: {}\n    created: \"2024-01-01T00:00:00Z\"\n",
            crate::source::sha256_hex(tgz)
        ));
        files.insert(format!("{prefix}/{name}-{version}.tgz"), tgz.clone());
    }
    let mut index = String::from("apiVersion: v1\nentries:\n");
    for (name, entries) in by_name {
        index.push_str(&format!("  {name}:\n"));
        for e in entries {
            index.push_str(&e);
        }
    }
    files.insert(format!("{prefix}/index.yaml"), index.into_bytes());
    files
}
