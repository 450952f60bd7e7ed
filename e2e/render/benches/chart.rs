//! A large chart (written here: 120 templates in a parent and three subcharts, helpers
//! included everywhere, sprig in every file) rendered cold (parsed) and warm (the parsed
//! set reused), with the figures printed, not asserted. Target: a warm render under 50 ms
//! on a 2-core machine. `cargo bench -p hubspoke-render --bench chart`;
//! HUBSPOKE_BENCH_ITERS sets the warm iterations.

use std::time::Instant;

use hubspoke_render::GoMap;
use hubspoke_render::chart::install::{RenderOptions, render_chart};
use hubspoke_render::chart::{Chart, File};

const HELPERS: &str = r#"{{- define "NAME.fullname" -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- define "NAME.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}
"#;

const TEMPLATE: &str = r#"{{- $fullName := include "NAME.fullname" . -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $fullName }}-IDX
  labels:
    {{- include "NAME.labels" . | nindent 4 }}
spec:
  replicas: {{ .Values.replicas | default 1 }}
  template:
    metadata:
      annotations:
        checksum/config: {{ printf "%v" .Values.config | sha256sum }}
    spec:
      containers:
      {{- range $i, $c := .Values.containers }}
        - name: {{ $c.name | lower }}
          image: {{ printf "%s:%s" $c.image ($c.tag | default $.Chart.AppVersion) | quote }}
          {{- if $c.ports }}
          ports:
          {{- range $c.ports }}
            - containerPort: {{ . }}
          {{- end }}
          {{- end }}
          env:
          {{- range $k, $v := $.Values.env }}
            - name: {{ $k | upper }}
              value: {{ tpl (toString $v) $ | quote }}
          {{- end }}
      {{- end }}
      {{- with .Values.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
"#;

fn chart_files(name: &str, templates: usize, subcharts: &[&str]) -> Vec<File> {
    let mut files = vec![
        File::new(
            "Chart.yaml",
            format!("apiVersion: v2\nname: {name}\nversion: 1.0.0\nappVersion: \"3.1\"\n"),
        ),
        File::new(
            "values.yaml",
            "replicas: 2\ncommonLabels:\n  team: platform\nconfig:\n  a: 1\n  b: [x, y]\nenv:\n  LOG: info\n  RELEASE: '{{ .Release.Name }}'\ncontainers:\n  - name: App\n    image: registry/app\n    ports: [8080, 9090]\n  - name: Sidecar\n    image: registry/side\n    tag: '1.0'\nnodeSelector:\n  kubernetes.io/os: linux\n",
        ),
        File::new("templates/_helpers.tpl", HELPERS.replace("NAME", name)),
    ];
    for i in 0..templates {
        files.push(File::new(
            format!("templates/t{i:03}.yaml"),
            TEMPLATE.replace("NAME", name).replace("IDX", &i.to_string()),
        ));
    }
    for sub in subcharts {
        for f in chart_files(sub, templates / 3, &[]) {
            files.push(File::new(format!("charts/{sub}/{}", f.name), f.data));
        }
    }
    files
}

fn main() {
    let iters: usize = std::env::var("HUBSPOKE_BENCH_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let files = chart_files("platform", 60, &["addons", "policies", "registry"]);
    let templates = files.iter().filter(|f| f.name.contains("templates/t")).count();
    let opts = RenderOptions::default();
    let values = GoMap::default();

    let t0 = Instant::now();
    let chart = Chart::load_files(files.clone(), &|_| Err("no archives".into())).expect("load");
    let load = t0.elapsed();
    let t1 = Instant::now();
    let out = render_chart(chart.clone(), &values, &opts).expect("render");
    let cold = t1.elapsed();
    let bytes: usize = out.templates.values().map(String::len).sum();

    let mut times = Vec::with_capacity(iters);
    for _ in 0..iters {
        let t = Instant::now();
        let o = render_chart(chart.clone(), &values, &opts).expect("render");
        times.push(t.elapsed());
        assert_eq!(o.templates.len(), out.templates.len());
    }
    times.sort();
    let p50 = times[times.len() / 2];
    let max = times[times.len() - 1];
    println!(
        "large chart: {templates} templates (parent + 3 subcharts), {} KiB out; load {:.1} ms, cold render {:.1} ms, warm render p50 {:.1} ms, max {:.1} ms over {iters} (target: warm < 50 ms)",
        bytes / 1024,
        load.as_secs_f64() * 1e3,
        cold.as_secs_f64() * 1e3,
        p50.as_secs_f64() * 1e3,
        max.as_secs_f64() * 1e3,
    );
}
