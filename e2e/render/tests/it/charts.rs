//! Charts written for these tests (tests/charts/*), rendered by hubspoke-render and, for
//! the engine's part (templates, include/tpl/required, .Files, .Chart, .Capabilities),
//! compared with Go's text/template and sprig running Helm's engine logic
//! (tools/gotmpl-oracle chart mode). Dependencies and values are Rust's, checked against
//! expectations written from Helm's source.

use crate::common;

use std::path::Path;

use hubspoke_render::Value;
use hubspoke_render::chart::engine::{self, EngineOptions};
use hubspoke_render::chart::install::{self, RenderOptions};
use hubspoke_render::chart::{Chart, File};

/// A chart directory's files, as hubspoke-render's directory source reads them.
fn read_dir(root: &Path) -> Vec<File> {
    hubspoke_render::source::dir::read_dir(root)
        .expect("chart dir")
        .into_iter()
        .map(|(n, d)| File::new(n, d))
        .collect()
}

fn load(name: &str) -> Chart {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/charts")
        .join(name);
    Chart::load_files(read_dir(&dir), &|_| Err("no archives here".to_string())).expect("load chart")
}

/// Go-tagged JSON for the oracle: ints and int64s keep their kinds.
fn tagged(v: &Value) -> serde_json::Value {
    match v {
        Value::Nil => serde_json::Value::Null,
        Value::Bool(b) => (*b).into(),
        Value::Int(i) => serde_json::json!({"$int": i}),
        Value::Int64(i) => serde_json::json!({"$int64": i}),
        Value::Uint8(u) => (*u).into(),
        Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(serde_json::Value::Number)
            .unwrap_or_default(),
        Value::String(s) => s.clone().into(),
        Value::Slice(s) => s.iter().map(tagged).collect(),
        Value::Map(m) => {
            serde_json::Value::Object(m.entries().into_iter().map(|(k, v)| (k, tagged(&v))).collect())
        }
        Value::Object(_) | Value::Func(_) => serde_json::Value::Null,
    }
}

fn scope(c: &Chart) -> serde_json::Value {
    use base64::Engine as _;
    let md = &c.metadata;
    serde_json::json!({
        "name": md.name,
        "library": c.is_library(),
        "metadata": {
            "name": md.name, "version": md.version, "appVersion": md.app_version, "description": md.description,
            "apiVersion": md.api_version, "kubeVersion": md.kube_version, "type": md.r#type,
            "annotations": md.annotations.as_ref().map(|a| a.iter().cloned().collect::<std::collections::BTreeMap<_, _>>()),
        },
        "files": c.files.iter().map(|f| (f.name.clone(), base64::engine::general_purpose::STANDARD.encode(&f.data).into())).collect::<serde_json::Map<_, _>>(),
        "templates": c.templates.iter().map(|f| (f.name.clone(), String::from_utf8_lossy(&f.data).into_owned().into())).collect::<serde_json::Map<_, _>>(),
        "subcharts": c.dependencies.iter().map(scope).collect::<Vec<_>>(),
    })
}

/// Renders with the engine and with the oracle; both must give the same outputs or errors.
fn compare_with_go(
    chart: Chart,
    values: &hubspoke_render::GoMap,
    opts: &RenderOptions,
) -> Result<String, String> {
    let p = install::prepare(chart, values, opts).expect("prepare");
    let ours = engine::render(&p.chart, &p.top, &EngineOptions::default()).map(|m| {
        m.iter()
            .map(|(k, v)| format!("--- {k}\n{v}\n"))
            .collect::<String>()
    });
    let Some(bin) = common::build_oracle() else {
        println!("note: `go` is not installed; the chart was not compared with Go");
        return ours;
    };
    let rel = &opts.release;
    let case = serde_json::json!({
        "name": "chart",
        "chart": {
            "root": scope(&p.chart),
            "values": tagged(&p.top.get("Values").unwrap_or(Value::Nil)),
            "release": {"Name": rel.name, "Namespace": rel.namespace, "IsUpgrade": rel.is_upgrade, "IsInstall": rel.is_install, "Revision": rel.revision, "Service": "Helm"},
            "kubeVersion": opts.capabilities.kube_version,
            "apiVersions": opts.capabilities.api_versions,
        }
    });
    let go = common::run_oracle_json(&bin, &[case]).remove(0);
    assert_eq!(ours, go, "hubspoke-render and Go differ");
    ours
}

#[test]
fn the_platform_chart_renders_as_helms_engine_does() {
    let opts = RenderOptions::default();
    let out = compare_with_go(load("platform"), &hubspoke_render::GoMap::default(), &opts).expect("render");
    println!("{out}");
    // what the dependencies did (Rust's part, from Helm's dependencies.go)
    assert!(out.contains("--- platform/charts/registry/templates/deployment.yaml"));
    assert!(
        out.contains("--- platform/charts/policies/templates/policy.yaml"),
        "tag security: true keeps policies"
    );
    assert!(
        !out.contains("platform/charts/audit/"),
        "audit.enabled: false drops the aliased copy"
    );
    assert!(
        !out.contains("NeverRendered"),
        "a library chart renders only partials"
    );
    assert!(
        out.contains("imported: \"5000\""),
        "import-values exports.defaults"
    );
    assert!(
        out.contains("region: eu-west-2"),
        "the subchart's own globals stay"
    );
    assert!(
        out.contains("cluster: hub"),
        "the parent's globals win in the subchart"
    );
    assert!(
        out.contains("replicas: 2"),
        "parent values override the subchart's defaults"
    );
}

/// The workload chart with its subchart packaged as charts/sidecar-1.2.0.tgz (built here).
fn workload_with_packaged_subchart() -> Vec<File> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/charts/workload");
    let mut files = read_dir(&dir);
    let sub = vec![
        ("Chart.yaml".to_string(), b"apiVersion: v2\nname: sidecar\nversion: 1.2.0\n".to_vec()),
        ("values.yaml".to_string(), b"mode: fast\nport: 15001\n".to_vec()),
        (
            "values.schema.json".to_string(),
            br#"{"type": "object", "properties": {"mode": {"enum": ["fast", "safe"]}, "port": {"type": "integer"}}}"#.to_vec(),
        ),
        (
            "templates/cm.yaml".to_string(),
            b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-sidecar\ndata:\n  mode: {{ .Values.mode | quote }}\n  port: {{ .Values.port | quote }}\n  parent: {{ .Chart.IsRoot | quote }}\n".to_vec(),
        ),
    ];
    let tgz = hubspoke_render::source::archive::write_archive("sidecar", &sub).expect("package");
    files.push(File::new("charts/sidecar-1.2.0.tgz", tgz));
    files
}

fn load_workload() -> Chart {
    let archive = |data: &[u8]| -> Result<Vec<File>, String> {
        Ok(hubspoke_render::source::archive::read_archive(data)?
            .into_iter()
            .map(|(n, d)| File::new(n, d))
            .collect())
    };
    Chart::load_files(workload_with_packaged_subchart(), &archive).expect("load")
}

#[test]
fn a_packaged_subchart_and_hooks_render_as_helms_engine_does() {
    let values = hubspoke_render::GoMap::default();
    hubspoke_render::strvals::parse_into("sidecar.mode=fast", &values).unwrap();
    let out = compare_with_go(load_workload(), &values, &RenderOptions::default()).expect("render");
    assert!(
        out.contains("--- workload/charts/sidecar/templates/cm.yaml"),
        "{out}"
    );
    assert!(
        out.contains("mode: \"fast\""),
        "--set reaches the packaged subchart: {out}"
    );
    assert!(out.contains("port: \"15001\""), "{out}");
    assert!(
        out.contains("\"helm.sh/hook\": pre-install,pre-upgrade"),
        "hooks render with their annotations"
    );
}

fn schema_error(set: &str) -> String {
    let values = hubspoke_render::GoMap::default();
    hubspoke_render::strvals::parse_into(set, &values).unwrap();
    install::render_chart(load_workload(), &values, &RenderOptions::default()).unwrap_err()
}

#[test]
fn schema_violations_are_reported_as_helm_reports_them() {
    assert_eq!(
        schema_error("replicas=0"),
        "values don't meet the specifications of the schema(s) in the following chart(s):\nworkload:\n- replicas: Must be greater than or equal to 1\n"
    );
    assert_eq!(
        schema_error("image=ab"),
        "values don't meet the specifications of the schema(s) in the following chart(s):\nworkload:\n- image: String length must be greater than or equal to 3\n"
    );
    assert_eq!(
        schema_error("image=null"),
        "values don't meet the specifications of the schema(s) in the following chart(s):\nworkload:\n- (root): image is required\n"
    );
    // a subchart's schema validates its own table
    assert_eq!(
        schema_error("sidecar.mode=slow"),
        "values don't meet the specifications of the schema(s) in the following chart(s):\nsidecar:\n- mode: mode must be one of the following: \"fast\", \"safe\"\n"
    );
    // the schema can be skipped, as with --skip-schema-validation
    let values = hubspoke_render::GoMap::default();
    hubspoke_render::strvals::parse_into("replicas=0", &values).unwrap();
    let opts = RenderOptions {
        skip_schema_validation: true,
        ..RenderOptions::default()
    };
    assert!(install::render_chart(load_workload(), &values, &opts).is_ok());
}

#[test]
fn required_and_fail_end_the_render_as_helm_does() {
    let values = hubspoke_render::GoMap::default();
    hubspoke_render::strvals::parse_into("image=", &values).unwrap();
    let opts = RenderOptions {
        skip_schema_validation: true,
        ..RenderOptions::default()
    };
    let err = compare_with_go(load_workload(), &values, &opts).unwrap_err();
    assert_eq!(
        err,
        "execution error at (workload/templates/deployment.yaml:11:20): image is required"
    );
}
