//! Chart sources end to end, offline and on loopback only: packaged archives and chart
//! directories, a static HTTP(S) chart repository served by the test (basic auth, a custom CA
//! made with rcgen), Debian's `docker-registry` (distribution 2.8) for OCI with no auth,
//! htpasswd basic auth and token auth (a token server in the test), and the cache (a second
//! fetch works with the servers stopped). Every error is asserted with its exact text.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use hubspoke_render::source::archive::{read_archive, read_archive_file, write_archive};
use hubspoke_render::source::dir::read_dir;
use hubspoke_render::source::{
    ArgoRepository, Cache, ChartRef, Credentials, ErrorKind, FetchOptions, fetch_chart, oci, sha256_hex,
};
use hubspoke_render::testing::{Registry, StaticServer, registry_binary};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

// ---------------------------------------------------------------------------------------
// helpers

fn chart_files(name: &str, version: &str) -> Vec<(String, Vec<u8>)> {
    vec![
        (
            "Chart.yaml".into(),
            format!(
                "apiVersion: v2\nname: {name}\nversion: {version}\ndescription: a test chart\nmaintainers:\n- name: Ann\n  email: ann@example.com\n"
            )
            .into_bytes(),
        ),
        ("values.yaml".into(), b"replicas: 1\n".to_vec()),
        ("templates/deploy.yaml".into(), b"kind: Deployment\n".to_vec()),
    ]
}

fn package(name: &str, version: &str) -> Vec<u8> {
    write_archive(name, &chart_files(name, version)).unwrap()
}

fn names(files: &[(String, Vec<u8>)]) -> Vec<&str> {
    files.iter().map(|(n, _)| n.as_str()).collect()
}

/// A gzipped tar with raw entry names (no validation), as a hostile or odd packager would write.
fn raw_tgz(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let gz = flate2::write::GzEncoder::new(&mut out, flate2::Compression::default());
        let mut b = tar::Builder::new(gz);
        for (name, data) in entries {
            let mut h = tar::Header::new_old();
            {
                let raw = h.as_old_mut();
                raw.name = [0; 100];
                raw.name[..name.len()].copy_from_slice(name.as_bytes());
            }
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_entry_type(if name.ends_with('/') {
                tar::EntryType::Directory
            } else {
                tar::EntryType::Regular
            });
            h.set_cksum();
            b.append(&h, *data).unwrap();
        }
        b.into_inner().unwrap().finish().unwrap();
    }
    out
}

fn options(cache: &Path) -> FetchOptions {
    FetchOptions {
        cache: Some(Cache::new(cache)),
        ..FetchOptions::default()
    }
}

/// A repository of charts `web` (1.0.0, 1.2.0, 2.0.0-rc.1) and `db` (0.1.0) under `/charts`,
/// with relative and absolute URLs; `tamper` replaces web 1.0.0's package after indexing.
fn repository(base_for_absolute: &str, tamper: bool) -> HashMap<String, Vec<u8>> {
    let mut files = HashMap::new();
    let mut index = String::from("apiVersion: v1\nentries:\n  web:\n");
    for v in ["1.0.0", "1.2.0", "2.0.0-rc.1"] {
        let tgz = package("web", v);
        let url = if v == "1.2.0" {
            format!("{base_for_absolute}/charts/pkgs/web-{v}.tgz")
        } else {
            format!("pkgs/web-{v}.tgz")
        };
        index.push_str(&format!(
            "  - apiVersion: v2\n    name: web\n    version: {v}\n    urls: [\"{url}\"]\n    digest: {}\n    created: \"2024-01-01T00:00:00Z\"\n",
            sha256_hex(&tgz)
        ));
        let body = if tamper && v == "1.0.0" {
            package("web", "1.0.0-tampered")
        } else {
            tgz
        };
        files.insert(format!("/charts/pkgs/web-{v}.tgz"), body);
    }
    let db = package("db", "0.1.0");
    index.push_str(&format!(
        "  db:\n  - name: db\n    version: 0.1.0\n    urls: [pkgs/db-0.1.0.tgz]\n    digest: {}\n",
        sha256_hex(&db)
    ));
    files.insert("/charts/pkgs/db-0.1.0.tgz".into(), db);
    files.insert("/charts/index.yaml".into(), index.into_bytes());
    files
}

fn tls_material() -> (String, Arc<rustls::ServerConfig>) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "hubspoke test CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let leaf_params = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
        )
        .unwrap();
    (ca_cert.pem(), Arc::new(config))
}

// ---------------------------------------------------------------------------------------
// archives and directories

#[test]
fn archives_are_read_as_helm_reads_them() {
    let tgz = package("web", "1.0.0");
    assert_eq!(tgz, package("web", "1.0.0"), "packaging is deterministic");
    let files = read_archive(&tgz).unwrap();
    assert_eq!(
        names(&files),
        ["Chart.yaml", "values.yaml", "templates/deploy.yaml"]
    );
    assert_eq!(files[1].1, b"replicas: 1\n");

    // any top directory is stripped; a BOM is dropped; Windows separators; directories skipped
    let odd = raw_tgz(&[
        ("anything/", b""),
        ("anything/Chart.yaml", b"\xEF\xBB\xBFname: x\nversion: 1.0.0\n"),
        ("anything\\templates\\a.yaml", b"a: 1"),
        ("anything/./b//c.txt", b"c"),
    ]);
    let files = read_archive(&odd).unwrap();
    assert_eq!(names(&files), ["Chart.yaml", "templates/a.yaml", "b/c.txt"]);
    assert_eq!(files[0].1, b"name: x\nversion: 1.0.0\n");

    let err = |entries: &[(&str, &[u8])]| read_archive(&raw_tgz(entries)).unwrap_err();
    assert_eq!(
        err(&[("c//etc/passwd", b"x")]),
        "chart illegally contains absolute paths"
    );
    assert_eq!(
        err(&[("c/../../etc/passwd", b"x")]),
        "chart illegally references parent directory"
    );
    assert_eq!(
        err(&[("c\\..\\..\\x", b"x")]),
        "chart illegally references parent directory"
    );
    assert_eq!(
        err(&[("c/..", b"x")]),
        "chart illegally references parent directory"
    );
    assert_eq!(
        err(&[("Chart.yaml", b"x")]),
        "chart illegally contains content outside the base directory: \"Chart.yaml\""
    );
    assert_eq!(
        err(&[("Chart.yaml/values.yaml", b"x")]),
        "chart yaml not in base directory"
    );
    assert_eq!(
        err(&[("c\\c:\\windows", b"x")]),
        "chart contains illegally named files"
    );
    assert_eq!(err(&[("c/", b"")]), "no files in chart archive");
    let big = vec![0u8; 5 * 1024 * 1024 + 1];
    assert_eq!(
        err(&[("c/Chart.yaml", b"name: c"), ("c/big.bin", &big)]),
        "decompressed chart file \"c/big.bin\" is larger than the maximum file size 5242880"
    );
    assert_eq!(
        read_archive(b"not gzip at all").unwrap_err(),
        "gzip: invalid header"
    );
    assert_eq!(
        read_archive_file("values.yaml", b"a: 1\n").unwrap_err(),
        "file 'values.yaml' seems to be a YAML file, but expected a gzipped archive"
    );
    assert_eq!(
        read_archive_file("web.tgz", b"hello").unwrap_err(),
        "file 'web.tgz' does not appear to be a gzipped archive; got 'text/plain; charset=utf-8'"
    );
}

#[test]
fn directories_honour_helmignore() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("web");
    let w = |p: &str, body: &str| {
        let f = d.join(p);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, body).unwrap();
    };
    w("Chart.yaml", "apiVersion: v2\nname: web\nversion: 1.0.0\n");
    w("values.yaml", "\u{FEFF}replicas: 1\n");
    w(".helmignore", "# editor files\n*.bak\nsecrets/\n/ROOT.md\n");
    w("templates/a.yaml", "a");
    w("templates/.hidden", "h");
    w("notes.bak", "b");
    w("secrets/key", "k");
    w("docs/ROOT.md", "kept: the rule is anchored at the root");
    w("ROOT.md", "ignored");
    std::os::unix::fs::symlink(d.join("values.yaml"), d.join("link.yaml")).unwrap();
    let files = read_dir(&d).unwrap();
    assert_eq!(
        names(&files),
        [
            ".helmignore",
            "Chart.yaml",
            "docs/ROOT.md",
            "link.yaml",
            "templates/a.yaml",
            "values.yaml"
        ]
    );
    assert_eq!(files[5].1, b"replicas: 1\n", "BOM dropped");
    assert_eq!(files[3].1, b"replicas: 1\n", "symbolic link followed");

    w(".helmignore", "a/**/b\n");
    let e = read_dir(&d).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}: double-star (**) syntax is not supported; fix the rule",
            d.join(".helmignore").display()
        )
    );
}

#[tokio::test]
async fn local_charts_fetch_like_remote_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let tgz_path = tmp.path().join("web-1.0.0.tgz");
    let tgz = package("web", "1.0.0");
    std::fs::write(&tgz_path, &tgz).unwrap();
    let opts = FetchOptions::default();
    let got = fetch_chart(&ChartRef::new("", tgz_path.to_str().unwrap(), ""), &opts)
        .await
        .unwrap();
    assert_eq!((got.name.as_str(), got.version.as_str()), ("web", "1.0.0"));
    assert_eq!(got.digest, sha256_hex(&tgz));
    let by_dir = fetch_chart(
        &ChartRef::new(tmp.path().to_str().unwrap(), "web-1.0.0.tgz", "1.x"),
        &opts,
    )
    .await
    .unwrap();
    assert_eq!(by_dir.files, got.files);

    let dir = tmp.path().join("src");
    for (p, d) in chart_files("web", "1.0.0") {
        std::fs::create_dir_all(dir.join(&p).parent().unwrap()).unwrap();
        std::fs::write(dir.join(&p), d).unwrap();
    }
    let from_dir = fetch_chart(&ChartRef::new("", dir.to_str().unwrap(), ""), &opts)
        .await
        .unwrap();
    assert_eq!(
        from_dir.digest,
        sha256_hex(&tgz),
        "a directory's digest is that of its package"
    );

    let e = fetch_chart(&ChartRef::new("", tgz_path.to_str().unwrap(), "2.x"), &opts)
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "chart {} is version 1.0.0 of \"web\", which does not match the requested version \"2.x\"; change the requested version or the chart",
            tgz_path.display()
        )
    );
}

// ---------------------------------------------------------------------------------------
// HTTP(S) repositories

#[tokio::test]
async fn http_repository_selects_versions_and_the_cache_works_offline() {
    let server = StaticServer::start(|b| repository(b, false), None, None).await;
    let repo = server.url("/charts");
    let tmp = tempfile::tempdir().unwrap();
    let opts = options(tmp.path());
    let fetch = |name: &'static str, v: &'static str| {
        let (repo, opts) = (repo.clone(), opts.clone());
        async move { fetch_chart(&ChartRef::new(repo, name, v), &opts).await }
    };

    let got = fetch("web", "^1.0").await.unwrap();
    assert_eq!(
        got.version, "1.2.0",
        "the newest match; its URL is absolute in the index"
    );
    assert_eq!(got.digest, sha256_hex(&package("web", "1.2.0")));
    assert_eq!(
        names(&got.files),
        ["Chart.yaml", "values.yaml", "templates/deploy.yaml"]
    );
    assert_eq!(
        fetch("web", "").await.unwrap().version,
        "1.2.0",
        "no version: the newest release"
    );
    assert_eq!(fetch("web", "2.0.0-rc.1").await.unwrap().version, "2.0.0-rc.1");
    assert_eq!(fetch("db", "0.1.0").await.unwrap().version, "0.1.0");

    let before = server.hits();
    assert_eq!(fetch("web", "1.2.0").await.unwrap().digest, got.digest);
    assert_eq!(server.hits(), before, "a cached exact version asks nothing");
    server.stop().await;

    // the repository is gone: the cache answers a constraint too
    assert_eq!(fetch("web", "^1.0").await.unwrap(), got);
    let offline = FetchOptions {
        offline: true,
        ..opts.clone()
    };
    assert_eq!(
        fetch_chart(&ChartRef::new(&repo, "web", ">=1.1 <2"), &offline)
            .await
            .unwrap(),
        got
    );

    let e = fetch_chart(&ChartRef::new(&repo, "web", "1.0.0"), &offline)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotCached);
    assert_eq!(
        e.to_string(),
        format!(
            "chart \"web\" version \"1.0.0\" from repository {repo} is not in the chart cache ({}) (cached versions: 2.0.0-rc.1, 1.2.0) and network access is off; run once with network access: hubspoke charts pull {repo} web --version '1.0.0'",
            tmp.path().display()
        )
    );
    let e = fetch("web", "1.0.0").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unreachable);
    assert_eq!(
        e.to_string(),
        format!(
            "cannot reach chart repository {repo} for chart \"web\" version \"1.0.0\" (GET {repo}/index.yaml: client error (Connect): tcp connect error: Connection refused (os error 111)) and it is not in the chart cache ({}); check the URL and the network, then run once with network access: hubspoke charts pull {repo} web --version '1.0.0'",
            tmp.path().display()
        )
    );
}

#[tokio::test]
async fn http_repository_errors_name_chart_version_repository_and_fix() {
    let server = StaticServer::start(|b| repository(b, true), None, None).await;
    let repo = server.url("/charts");
    let tmp = tempfile::tempdir().unwrap();
    let opts = options(tmp.path());
    let err = |name: &'static str, v: &'static str| {
        let (repo, opts) = (repo.clone(), opts.clone());
        async move {
            fetch_chart(&ChartRef::new(repo, name, v), &opts)
                .await
                .unwrap_err()
        }
    };

    let e = err("nginx", "1.0.0").await;
    assert_eq!(e.kind(), ErrorKind::ChartNotFound);
    assert_eq!(
        e.to_string(),
        format!(
            "chart \"nginx\" is not in the index of chart repository {repo} (it lists db, web); check the chart name and the repository URL"
        )
    );
    let e = err("web", ">=3").await;
    assert_eq!(e.kind(), ErrorKind::VersionNotFound);
    assert_eq!(
        e.to_string(),
        format!(
            "chart \"web\" in repository {repo}: no version matches \">=3\"; available (newest first): 2.0.0-rc.1, 1.2.0, 1.0.0; set the chart's version to one of them or widen the constraint"
        )
    );
    let e = err("web", "latest").await;
    assert_eq!(
        e.to_string(),
        format!(
            "chart \"web\" in repository {repo}: \"latest\" is neither one of its versions nor a valid semver constraint; available (newest first): 2.0.0-rc.1, 1.2.0, 1.0.0; set the chart's version to one of them or widen the constraint"
        )
    );
    let e = err("web", "1.0.0").await;
    assert_eq!(e.kind(), ErrorKind::DigestMismatch);
    assert_eq!(
        e.to_string(),
        format!(
            "chart \"web\" version \"1.0.0\" downloaded from {repo}/pkgs/web-1.0.0.tgz has sha256 {}, but the index of {repo} says {}: the package or the index was changed after publishing; nothing was cached — ask the repository's owner to re-index it (helm repo index)",
            sha256_hex(&package("web", "1.0.0-tampered")),
            sha256_hex(&package("web", "1.0.0"))
        )
    );
    assert!(Cache::new(tmp.path()).versions(&repo, "web").unwrap().is_empty());

    let e = fetch_chart(&ChartRef::new(server.url("/nothing"), "web", ""), &opts)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidRepository);
    assert_eq!(
        e.to_string(),
        format!(
            "chart repository {0} answered HTTP 404 Not Found for {0}/index.yaml (chart \"web\"); check the repository URL",
            server.url("/nothing")
        )
    );
}

#[tokio::test]
async fn http_repository_with_basic_auth_and_argocd_secret() {
    use base64::Engine;
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("helm:s3cret")
    );
    let server = StaticServer::start(|b| repository(b, false), Some(basic), None).await;
    let repo = server.url("/charts");
    let key = hubspoke_render::source::credentials::env_key(&repo);
    assert_eq!(key, format!("127_0_0_1_{}_CHARTS", server.addr.port()));
    let tmp = tempfile::tempdir().unwrap();
    let chart = ChartRef::new(&repo, "web", "1.2.0");

    let e = fetch_chart(&chart, &options(tmp.path())).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized);
    let advice = format!(
        "set HUBSPOKE_HELM_REPO_{key}_USERNAME and HUBSPOKE_HELM_REPO_{key}_PASSWORD (or HUBSPOKE_HELM_REPO_{key}_TOKEN for a bearer token; HUBSPOKE_HELM_REPO_USERNAME/_PASSWORD/_TOKEN apply to every repository), or give an Argo CD repository Secret for {repo}"
    );
    assert_eq!(
        e.to_string(),
        format!(
            "chart repository {repo} refused access to {repo}/index.yaml (HTTP 401 Unauthorized) for chart \"web\" version \"1.2.0\": no credentials were given; {advice}"
        )
    );

    let vars: BTreeMap<String, String> = [
        (format!("HUBSPOKE_HELM_REPO_{key}_USERNAME"), "helm".to_string()),
        (
            format!("HUBSPOKE_HELM_REPO_{key}_PASSWORD"),
            "wrong-password".to_string(),
        ),
        ("HUBSPOKE_HELM_REPO_USERNAME".to_string(), "helm".to_string()),
        ("HUBSPOKE_HELM_REPO_PASSWORD".to_string(), "s3cret".to_string()),
    ]
    .into();
    let lookup = |k: &str| vars.get(k).cloned();
    let opts = FetchOptions {
        credentials: Credentials::from_env_with(&repo, &lookup),
        ..options(tmp.path())
    };
    let e = fetch_chart(&chart, &opts).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "chart repository {repo} refused access to {repo}/index.yaml (HTTP 401 Unauthorized) for chart \"web\" version \"1.2.0\": the credentials from HUBSPOKE_HELM_REPO_{key}_USERNAME, HUBSPOKE_HELM_REPO_{key}_PASSWORD (username \"helm\") were refused; check them, or {advice}"
        )
    );
    assert!(
        !e.to_string().contains("wrong-password"),
        "a secret is never printed"
    );

    // the general variables, when no per-repository ones are set
    let general = |k: &str| {
        if k.contains(&key) {
            None
        } else {
            vars.get(k).cloned()
        }
    };
    let opts = FetchOptions {
        credentials: Credentials::from_env_with(&repo, &general),
        ..options(tmp.path())
    };
    assert_eq!(fetch_chart(&chart, &opts).await.unwrap().version, "1.2.0");

    // Argo CD Secrets: a repo-creds template for every repository under the server
    let secret = |kind: &str, url: &str, password: &str| {
        let data: BTreeMap<String, Vec<u8>> = [
            ("type", "helm"),
            ("url", url),
            ("username", "helm"),
            ("password", password),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
        .collect();
        ArgoRepository::from_secret("charts", kind, &data).unwrap()
    };
    let secrets = [
        secret("repo-creds", &server.url(""), "s3cret"),
        secret("repository", &server.url("/other"), "wrong"),
    ];
    let tmp2 = tempfile::tempdir().unwrap();
    let opts = FetchOptions {
        cache: Some(Cache::new(tmp2.path())),
        ..FetchOptions::from_argocd(&repo, &secrets, &BTreeMap::new()).unwrap()
    };
    assert_eq!(opts.credentials.origin, "Argo CD Secret charts");
    assert_eq!(
        fetch_chart(&ChartRef::new(&repo, "web", "~1.0"), &opts)
            .await
            .unwrap()
            .version,
        "1.0.0"
    );
}

#[tokio::test]
async fn https_repository_with_a_custom_ca() {
    let (ca_pem, tls) = tls_material();
    let server = StaticServer::start(|b| repository(b, false), None, Some(tls)).await;
    let repo = server.url("/charts");
    let tmp = tempfile::tempdir().unwrap();
    let ca_file = tmp.path().join("ca.pem");
    std::fs::write(&ca_file, &ca_pem).unwrap();
    let chart = ChartRef::new(&repo, "web", "^1");

    let e = fetch_chart(&chart, &options(&tmp.path().join("cache")))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unreachable);
    assert!(
        e.to_string().contains("invalid peer certificate: UnknownIssuer"),
        "{e}"
    );

    let opts = options(&tmp.path().join("cache")).with_ca_file(&ca_file).unwrap();
    let got = fetch_chart(&chart, &opts).await.unwrap();
    assert_eq!(got.version, "1.2.0");

    let bad = FetchOptions {
        ca: Some(b"no certificate here".to_vec()),
        ..opts.clone()
    };
    let e = fetch_chart(&ChartRef::new(&repo, "db", ""), &bad)
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "TLS setup: the CA file holds no certificate (expected PEM CERTIFICATE blocks)"
    );
}

#[test]
fn cache_import_and_corruption() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = Cache::new(tmp.path().join("cache"));
    let tgz_path = tmp.path().join("web-1.0.0.tgz");
    std::fs::write(&tgz_path, package("web", "1.0.0")).unwrap();
    let repo = "https://charts.example.com/stable";
    let imported = cache.import(&tgz_path, repo).unwrap();
    assert_eq!(
        (imported.name.as_str(), imported.version.as_str()),
        ("web", "1.0.0")
    );
    assert_eq!(cache.versions(repo, "web").unwrap(), ["1.0.0"]);
    assert_eq!(
        cache.versions(&format!("{repo}/"), "web").unwrap(),
        ["1.0.0"],
        "a trailing slash is the same repository"
    );
    assert_eq!(cache.read(repo, "web", "1.0.0").unwrap(), imported);

    let path = cache.chart_path(repo, "web", "1.0.0");
    std::fs::write(&path, package("web", "1.0.0-edited")).unwrap();
    let e = cache.read(repo, "web", "1.0.0").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::DigestMismatch);
    assert_eq!(
        e.to_string(),
        format!(
            "cached chart {0} has sha256 {1} but {0}.sha256 records {2}: the cache is corrupt or was edited; delete {0} and fetch it again (hubspoke charts pull {repo} web --version '1.0.0')",
            path.display(),
            sha256_hex(&package("web", "1.0.0-edited")),
            imported.digest
        )
    );
}

// ---------------------------------------------------------------------------------------
// OCI registries: Debian's docker-registry (distribution 2.8)

fn plain(cache: &Path) -> FetchOptions {
    FetchOptions {
        plain_http: true,
        ..options(cache)
    }
}

const CREATED: Option<&str> = Some("2024-01-01T00:00:00Z");

#[tokio::test]
async fn oci_push_pull_constraints_and_cache() {
    let Some(bin) = registry_binary() else { return };
    let mut reg = Registry::start(&bin, "").await;
    let repo = reg.url("/charts");
    let tmp = tempfile::tempdir().unwrap();
    let opts = plain(tmp.path());
    for v in ["1.0.0", "1.2.0", "1.3.0+build.1", "2.0.0-rc.1"] {
        let pushed = oci::push(&package("web", v), &repo, &opts, CREATED)
            .await
            .unwrap();
        assert_eq!(
            pushed.reference,
            format!("{}/charts/web:{}", reg.addr, v.replace('+', "_"))
        );
        assert_eq!(
            pushed.chart_digest,
            format!("sha256:{}", sha256_hex(&package("web", v)))
        );
    }
    let fetch = |name: &'static str, v: &'static str| {
        let (repo, opts) = (repo.clone(), opts.clone());
        async move { fetch_chart(&ChartRef::new(repo, name, v), &opts).await }
    };
    let exact = fetch("web", "1.0.0").await.unwrap();
    assert_eq!(exact.digest, sha256_hex(&package("web", "1.0.0")));
    assert_eq!(
        names(&exact.files),
        ["Chart.yaml", "values.yaml", "templates/deploy.yaml"]
    );
    let newest = fetch("web", "^1.0").await.unwrap();
    assert_eq!(
        newest.version, "1.3.0+build.1",
        "the tag 1.3.0_build.1 read back as a version"
    );
    assert_eq!(fetch("web", "").await.unwrap().version, "1.3.0+build.1");
    assert_eq!(fetch("web", "2.0.0-rc.1").await.unwrap().version, "2.0.0-rc.1");

    let e = fetch("nope", "").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ChartNotFound);
    assert_eq!(
        e.to_string(),
        format!(
            "chart \"nope\" is not in OCI registry {repo} (no repository {}/charts/nope); check the chart name and the repository URL",
            reg.addr
        )
    );
    let e = fetch("web", "9.9.9").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::VersionNotFound);
    assert_eq!(
        e.to_string(),
        format!(
            "chart \"web\" in repository {repo}: no version matches \"9.9.9\"; available (newest first): 2.0.0-rc.1, 1.3.0+build.1, 1.2.0, 1.0.0; set the chart's version to one of them or widen the constraint"
        )
    );
    let e = fetch("web", ">=3").await.unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "chart \"web\" in repository {repo}: no version matches \">=3\"; available (newest first): 2.0.0-rc.1, 1.3.0+build.1, 1.2.0, 1.0.0; set the chart's version to one of them or widen the constraint"
        )
    );

    reg.stop();
    assert_eq!(
        fetch("web", "^1.0").await.unwrap(),
        newest,
        "the registry is gone: the cache answers"
    );
    let offline = FetchOptions {
        offline: true,
        ..opts.clone()
    };
    assert_eq!(
        fetch_chart(&ChartRef::new(&repo, "web", "1.0.0"), &offline)
            .await
            .unwrap(),
        exact
    );
    let e = fetch("web", "1.2.0").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unreachable);
    assert_eq!(
        e.to_string(),
        format!(
            "cannot reach OCI registry {repo} for chart \"web\" version \"1.2.0\" (http://{}/v2/charts/web/manifests/1.2.0: client error (Connect): tcp connect error: Connection refused (os error 111)) and it is not in the chart cache ({}); check the URL and the network (--plain-http for a registry without TLS), then run once with network access: hubspoke charts pull {repo} web --version '1.2.0'",
            reg.addr,
            tmp.path().display()
        )
    );
}

/// htpasswd for helm / s3cret (bcrypt, cost 4).
const HTPASSWD: &str = "helm:$2b$04$iz80513uPPZMemcChuex7eX6xTqwplU6pPryyvr/MD69zW9Qma9y6\n";

#[tokio::test]
async fn oci_basic_auth() {
    let Some(bin) = registry_binary() else { return };
    let pw_dir = tempfile::tempdir().unwrap();
    let htpasswd = pw_dir.path().join("htpasswd");
    std::fs::write(&htpasswd, HTPASSWD).unwrap();
    let reg = Registry::start(
        &bin,
        &format!(
            "auth:\n  htpasswd:\n    realm: basic-realm\n    path: {}\n",
            htpasswd.display()
        ),
    )
    .await;
    let repo = reg.url("/team");
    let tmp = tempfile::tempdir().unwrap();
    let key = hubspoke_render::source::credentials::env_key(&repo);

    let e = oci::push(&package("web", "1.0.0"), &repo, &plain(tmp.path()), CREATED)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized);
    assert_eq!(
        e.to_string(),
        format!(
            "chart repository {repo} refused access to http://{}/v2/team/web/blobs/uploads/ (HTTP 401 Unauthorized) for chart \"web\" version \"1.0.0\": no credentials were given; set HUBSPOKE_HELM_REPO_{key}_USERNAME and HUBSPOKE_HELM_REPO_{key}_PASSWORD (or HUBSPOKE_HELM_REPO_{key}_TOKEN for a bearer token; HUBSPOKE_HELM_REPO_USERNAME/_PASSWORD/_TOKEN apply to every repository), or give an Argo CD repository Secret for {repo}",
            reg.addr
        )
    );
    let authed = FetchOptions {
        credentials: Credentials::basic("helm", "s3cret"),
        ..plain(tmp.path())
    };
    oci::push(&package("web", "1.0.0"), &repo, &authed, CREATED)
        .await
        .unwrap();
    let got = fetch_chart(&ChartRef::new(&repo, "web", "~1"), &authed)
        .await
        .unwrap();
    assert_eq!(got.digest, sha256_hex(&package("web", "1.0.0")));

    // an Argo CD Secret for an OCI Helm repository: no scheme in its url, enableOCI, plain HTTP
    let registry_url = format!("{}/team", reg.addr);
    let data: BTreeMap<String, Vec<u8>> = [
        ("type", "helm"),
        ("url", registry_url.as_str()),
        ("enableOCI", "true"),
        ("insecureOCIForceHttp", "true"),
        ("username", "helm"),
        ("password", "s3cret"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
    .collect();
    let argo = ArgoRepository::from_secret("registry", "repository", &data).unwrap();
    assert_eq!(argo.repo_url(), repo);
    let from_argo = FetchOptions {
        cache: Some(Cache::new(tmp.path().join("argo"))),
        ..FetchOptions::from_argocd(&argo.repo_url(), std::slice::from_ref(&argo), &BTreeMap::new()).unwrap()
    };
    assert!(from_argo.plain_http);
    assert_eq!(
        fetch_chart(&ChartRef::new(&repo, "web", "1.0.0"), &from_argo)
            .await
            .unwrap(),
        got
    );

    let wrong = FetchOptions {
        credentials: Credentials::basic("helm", "nope"),
        ..plain(&tmp.path().join("other"))
    };
    let e = fetch_chart(&ChartRef::new(&repo, "web", "1.0.0"), &wrong)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized);
    assert!(
        e.to_string().contains(
            "the credentials from the given username and password (username \"helm\") were refused"
        ),
        "{e}"
    );
}

// The token server: a JWT signed with a key whose certificate the registry trusts (x5c).

fn b64url(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

/// An ECDSA signature from DER (SEQUENCE of two INTEGERs) to JOSE's fixed r||s.
fn der_to_jose(der: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 2; // SEQUENCE tag and (short) length
    for _ in 0..2 {
        assert_eq!(der[i], 0x02);
        let len = der[i + 1] as usize;
        let int = &der[i + 2..i + 2 + len];
        let int = &int[int.len().saturating_sub(32)..];
        out.extend(std::iter::repeat_n(0u8, 32 - int.len()));
        out.extend_from_slice(int);
        i += 2 + len;
    }
    out
}

struct TokenServer {
    server: StaticServerHandle,
    cert_pem: String,
    issued: Arc<Mutex<Vec<String>>>,
}

type StaticServerHandle = (SocketAddr, tokio::task::JoinHandle<()>);

impl TokenServer {
    /// Grants what a scope asks to helm/s3cret, pull only to anonymous callers, refuses others.
    async fn start(service: &'static str, issuer: &'static str) -> TokenServer {
        use base64::Engine;
        use rcgen::{CertificateParams, KeyPair, SigningKey};
        let key = Arc::new(KeyPair::generate().unwrap());
        let cert = CertificateParams::new(vec!["token-signer".to_string()])
            .unwrap()
            .self_signed(key.as_ref())
            .unwrap();
        let x5c = base64::engine::general_purpose::STANDARD.encode(cert.der());
        let good = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("helm:s3cret")
        );
        let issued = Arc::new(Mutex::new(Vec::new()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let log = issued.clone();
        let task = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (key, x5c, good, log) = (key.clone(), x5c.clone(), good.clone(), log.clone());
                conns.spawn(async move {
                    let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let (key, x5c, good, log) = (key.clone(), x5c.clone(), good.clone(), log.clone());
                        async move {
                            let auth = req
                                .headers()
                                .get("authorization")
                                .and_then(|v| v.to_str().ok())
                                .map(str::to_string);
                            let query = req.uri().query().unwrap_or("").to_string();
                            let (user, push_ok) = match auth {
                                None => ("", false),
                                Some(a) if a == good => ("helm", true),
                                Some(_) => {
                                    return Ok::<_, std::convert::Infallible>(
                                        hyper::Response::builder()
                                            .status(401)
                                            .body(Full::new(Bytes::new()))
                                            .unwrap(),
                                    );
                                }
                            };
                            let mut access = Vec::new();
                            for pair in query.split('&') {
                                let Some(scope) = pair.strip_prefix("scope=") else {
                                    continue;
                                };
                                let scope = scope.replace("%3A", ":").replace("%2F", "/").replace("%2C", ",");
                                let mut parts = scope.splitn(2, ':');
                                let typ = parts.next().unwrap_or("").to_string();
                                let rest = parts.next().unwrap_or("");
                                let (name, actions) = rest.rsplit_once(':').unwrap_or((rest, ""));
                                let actions: Vec<&str> = actions
                                    .split(',')
                                    .filter(|a| *a == "pull" || (push_ok && *a == "push"))
                                    .collect();
                                access
                                    .push(serde_json::json!({"type": typ, "name": name, "actions": actions}));
                            }
                            let now = std::time::SystemTime::now()
                                .duration_since(std::time::UNIX_EPOCH)
                                .unwrap()
                                .as_secs();
                            let header = serde_json::json!({"typ": "JWT", "alg": "ES256", "x5c": [x5c]});
                            let claims = serde_json::json!({
                                "iss": issuer, "sub": user, "aud": service, "exp": now + 300, "nbf": now - 10,
                                "iat": now - 10, "jti": format!("{now}-{}", access.len()), "access": access,
                            });
                            let signing_input = format!(
                                "{}.{}",
                                b64url(header.to_string().as_bytes()),
                                b64url(claims.to_string().as_bytes())
                            );
                            let sig = der_to_jose(&key.sign(signing_input.as_bytes()).unwrap());
                            let token = format!("{signing_input}.{}", b64url(&sig));
                            log.lock().unwrap().push(format!("{user}:{query}"));
                            let body = serde_json::json!({"token": token}).to_string();
                            Ok(hyper::Response::new(Full::new(Bytes::from(body))))
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        TokenServer {
            server: (addr, task),
            cert_pem: cert.pem(),
            issued,
        }
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.server.1.abort();
    }
}

#[tokio::test]
async fn oci_bearer_token_handshake() {
    let Some(bin) = registry_binary() else { return };
    let tokens = TokenServer::start("hubspoke-registry", "hubspoke-token-issuer").await;
    let bundle_dir = tempfile::tempdir().unwrap();
    let bundle = bundle_dir.path().join("token-signer.pem");
    std::fs::write(&bundle, &tokens.cert_pem).unwrap();
    let reg = Registry::start(
        &bin,
        &format!(
            "auth:\n  token:\n    realm: http://{}/token\n    service: hubspoke-registry\n    issuer: hubspoke-token-issuer\n    rootcertbundle: {}\n",
            tokens.server.0,
            bundle.display()
        ),
    )
    .await;
    let repo = reg.url("/charts");
    let tmp = tempfile::tempdir().unwrap();

    // anonymous callers get pull only: a push is refused after the handshake
    let e = oci::push(&package("web", "1.0.0"), &repo, &plain(tmp.path()), CREATED)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized);
    assert!(e.to_string().starts_with(&format!(
        "chart repository {repo} refused access to http://{}/v2/charts/web/blobs/uploads/ (HTTP 401 Unauthorized) for chart \"web\" version \"1.0.0\": no credentials were given; set HUBSPOKE_HELM_REPO_",
        reg.addr
    )), "{e}");

    let authed = FetchOptions {
        credentials: Credentials::basic("helm", "s3cret"),
        ..plain(tmp.path())
    };
    oci::push(&package("web", "1.0.0"), &repo, &authed, CREATED)
        .await
        .unwrap();
    oci::push(&package("web", "1.1.0"), &repo, &authed, CREATED)
        .await
        .unwrap();

    // anonymous pull through the handshake (tags listed for the constraint)
    let anon_cache = tmp.path().join("anon");
    let got = fetch_chart(&ChartRef::new(&repo, "web", "1.x"), &plain(&anon_cache))
        .await
        .unwrap();
    assert_eq!(got.version, "1.1.0");
    assert_eq!(got.digest, sha256_hex(&package("web", "1.1.0")));
    let issued = tokens.issued.lock().unwrap().clone();
    assert!(
        issued.contains(
            &"helm:service=hubspoke-registry&scope=repository%3Acharts%2Fweb%3Apull%2Cpush".to_string()
        ),
        "{issued:?}"
    );
    assert!(
        issued.contains(&":service=hubspoke-registry&scope=repository%3Acharts%2Fweb%3Apull".to_string()),
        "{issued:?}"
    );

    // wrong credentials: the token endpoint refuses them
    let wrong = FetchOptions {
        credentials: Credentials::basic("helm", "nope"),
        ..plain(&tmp.path().join("w"))
    };
    let e = fetch_chart(&ChartRef::new(&repo, "web", "1.0.0"), &wrong)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized);
    assert!(
        e.to_string().starts_with(&format!(
            "chart repository {repo} refused access to http://{}/token?service=hubspoke-registry&scope=repository%3Acharts%2Fweb%3Apull (HTTP 401 Unauthorized) for chart \"web\" version \"1.0.0\": the credentials from the given username and password (username \"helm\") were refused",
            tokens.server.0
        )),
        "{e}"
    );
    assert!(!e.to_string().contains("nope"));
}

#[tokio::test]
async fn http_repository_with_a_bearer_token() {
    let server = StaticServer::start(|b| repository(b, false), Some("Bearer t0ken".to_string()), None).await;
    let repo = server.url("/charts");
    let key = hubspoke_render::source::credentials::env_key(&repo);
    let vars: BTreeMap<String, String> =
        [(format!("HUBSPOKE_HELM_REPO_{key}_TOKEN"), "t0ken".to_string())].into();
    let lookup = |k: &str| vars.get(k).cloned();
    let tmp = tempfile::tempdir().unwrap();
    let opts = FetchOptions {
        credentials: Credentials::from_env_with(&repo, &lookup),
        ..options(tmp.path())
    };
    assert_eq!(
        fetch_chart(&ChartRef::new(&repo, "db", ""), &opts)
            .await
            .unwrap()
            .version,
        "0.1.0"
    );
    let wrong = FetchOptions {
        credentials: Credentials::bearer("stale"),
        ..options(tmp.path())
    };
    let e = fetch_chart(&ChartRef::new(&repo, "web", ""), &wrong)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized);
    assert!(
        e.to_string()
            .contains(": the credentials from the given token were refused; check them, or set "),
        "{e}"
    );
    assert!(!e.to_string().contains("stale"));
}
