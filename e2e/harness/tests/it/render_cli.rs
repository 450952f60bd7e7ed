//! `hubspoke render template`: Go's output, or `ERROR: <Go's text>` and exit code 3.

use std::path::Path;
use std::process::{Command, Output};

fn run(dir: &Path, template: &str, data: &str, extra: &[&str]) -> Output {
    std::fs::write(dir.join("t.tmpl"), template).unwrap();
    std::fs::write(dir.join("data.json"), data).unwrap();
    Command::new(env!("CARGO_BIN_EXE_hubspoke"))
        .args(["render", "template"])
        .arg(dir.join("t.tmpl"))
        .arg(dir.join("data.json"))
        .args(extra)
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn prints_the_output_with_go_semantics() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        dir.path(),
        "{{range $k, $v := .}}{{$k}}={{$v}};{{end}} {{.missing}} {{.b.c}}",
        r#"{"b": {"c": 1.5}, "a": 2}"#,
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "a=2;b=map[c:1.5]; <no value> 1.5");
}

#[test]
fn go_errors_print_error_and_exit_3() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), "x{{.a.b}}", r#"{"a": 1}"#, &[]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        text(&out.stdout),
        "ERROR: template: t.tmpl:1:5: executing \"t.tmpl\" at <.a.b>: can't evaluate field b in type interface {}\n"
    );
    let out = run(dir.path(), "{{if}}", "{}", &[]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        text(&out.stdout),
        "ERROR: template: t.tmpl:1: missing value for if\n"
    );
    let out = run(dir.path(), "{{.x.y}}", "{}", &["--missingkey", "error"]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        text(&out.stdout),
        "ERROR: template: t.tmpl:1:4: executing \"t.tmpl\" at <.x.y>: map has no entry for key \"x\"\n"
    );
}

#[test]
fn bad_input_names_the_file_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), "{{.}}", "{not json", &[]);
    assert_eq!(out.status.code(), Some(3));
    let err = text(&out.stderr);
    assert!(err.contains("data.json: not JSON"), "{err}");
    assert!(err.contains("the data must be a JSON document"), "{err}");
    let out = run(dir.path(), "{{.}}", "{}", &["--missingkey", "sometimes"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(text(&out.stderr).contains("--missingkey=sometimes: expected default, invalid, zero or error"));
}

fn chart_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../render/tests/charts/platform")
}

fn hubspoke(args: &[&str], cache: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hubspoke"))
        .args(args)
        .env("HUBSPOKE_CACHE_DIR", cache)
        .output()
        .unwrap()
}

#[test]
fn helm_template_prints_what_helm_template_prints() {
    let dir = tempfile::tempdir().unwrap();
    let values = dir.path().join("values.yaml");
    std::fs::write(&values, "registry:\n  replicas: 5\naudit:\n  enabled: true\n").unwrap();
    let chart = chart_dir();
    let out = hubspoke(
        &[
            "helm",
            "template",
            chart.to_str().unwrap(),
            "--name",
            "hub",
            "-n",
            "platform",
            "-f",
            values.to_str().unwrap(),
            "--set",
            "global.clusterName=east",
            "--include-crds",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    let sources: Vec<&str> = s.lines().filter(|l| l.starts_with("# Source: ")).collect();
    // CRDs first, then by kind in Helm's install order (ConfigMaps before Deployments,
    // unknown kinds last), NOTES.txt and empty documents left out
    assert_eq!(
        sources.first(),
        Some(&"# Source: platform/crds/widgets.yaml"),
        "{s}"
    );
    let pos = |p: &str| {
        sources
            .iter()
            .position(|l| l.ends_with(p))
            .unwrap_or_else(|| panic!("{p} missing:\n{s}"))
    };
    assert!(pos("templates/configmap.yaml") < pos("charts/registry/templates/deployment.yaml"));
    assert!(pos("charts/registry/templates/deployment.yaml") < pos("charts/policies/templates/policy.yaml"));
    assert!(
        pos("charts/audit/templates/policy.yaml") > 0,
        "audit.enabled from -f enables the aliased chart"
    );
    assert!(!s.contains("NOTES"), "{s}");
    assert!(
        s.contains("# Source: platform/templates/empty.yaml\nkind: Audit\n"),
        "{s}"
    );
    assert!(!s.contains("feature-karpenter"), "{s}");
    assert!(s.contains("  replicas: 5\n"), "-f values reach the subchart");
    assert!(
        s.contains("cluster: east"),
        "--set global.clusterName reaches the subchart"
    );
    assert!(s.contains("name: hub-platform"), "--name is the release name");
    assert!(s.contains("namespace: platform"), "-n is the release namespace");
    assert!(
        s.starts_with("---\n# Source: platform/crds/widgets.yaml\n"),
        "{s}"
    );
}

#[test]
fn helm_template_errors_name_what_to_fix() {
    let dir = tempfile::tempdir().unwrap();
    let out = hubspoke(&["helm", "template", "/nonexistent/chart"], dir.path());
    assert_eq!(out.status.code(), Some(3));
    assert!(
        text(&out.stderr).contains("cannot read chart /nonexistent/chart"),
        "{}",
        text(&out.stderr)
    );
    // a chart whose kubeVersion range excludes the Kubernetes version asked for
    let chart = chart_dir();
    let out = hubspoke(
        &[
            "helm",
            "template",
            chart.to_str().unwrap(),
            "--kube-version",
            "1.20",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        text(&out.stderr),
        "error: chart requires kubeVersion: >= 1.25.0-0 which is incompatible with Kubernetes v1.20.0\n"
    );
    // --set syntax errors as Helm words them
    let out = hubspoke(
        &["helm", "template", chart.to_str().unwrap(), "--set", "a"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        text(&out.stderr),
        "error: failed parsing --set data: key \"a\" has no value\n"
    );
}

#[test]
fn an_imported_chart_renders_offline_from_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let files = vec![
        ("Chart.yaml".to_string(), b"apiVersion: v2\nname: addon\nversion: 1.2.3\n".to_vec()),
        ("values.yaml".to_string(), b"greeting: hello\n".to_vec()),
        (
            "templates/cm.yaml".to_string(),
            b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  greeting: {{ .Values.greeting }}\n".to_vec(),
        ),
    ];
    let tgz = hubspoke_render::source::archive::write_archive("addon", &files).unwrap();
    let pkg = dir.path().join("addon-1.2.3.tgz");
    std::fs::write(&pkg, tgz).unwrap();
    let repo = "https://charts.example.invalid/stable";
    let out = hubspoke(
        &["charts", "import", pkg.to_str().unwrap(), "--repo", repo],
        &cache,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("addon 1.2.3 sha256:"),
        "{}",
        text(&out.stdout)
    );
    // the repository does not exist: only the cache can answer, with --offline or without
    for extra in [&["--offline"][..], &[][..]] {
        let mut args = vec![
            "helm",
            "template",
            "addon",
            "--repo",
            repo,
            "--version",
            "^1.2",
            "--name",
            "x",
        ];
        args.extend_from_slice(extra);
        let out = hubspoke(&args, &cache);
        assert!(out.status.success(), "{:?}: {}", extra, text(&out.stderr));
        assert_eq!(
            text(&out.stdout),
            "---\n# Source: addon/templates/cm.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  greeting: hello\n"
        );
    }
    // a version the cache lacks, offline: the error names the pull command to run
    let out = hubspoke(
        &[
            "helm",
            "template",
            "addon",
            "--repo",
            repo,
            "--version",
            "2.0.0",
            "--offline",
        ],
        &cache,
    );
    assert_ne!(out.status.code(), Some(0));
    let err = text(&out.stderr);
    assert!(
        err.contains("hubspoke charts pull https://charts.example.invalid/stable addon --version '2.0.0'"),
        "{err}"
    );
}
