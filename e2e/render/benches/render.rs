//! Render throughput: parses and executes a chart-like template over chart-like values and
//! prints the rates (not asserted). `cargo bench -p hubspoke-render --bench render`;
//! HUBSPOKE_BENCH_ITERS sets the iterations.

use std::time::Instant;

use hubspoke_render::{Options, Template, Value};

const TEMPLATE: &str = r#"{{- define "labels" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/instance: {{ .release }}
{{- end -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ printf "%s-%s" .release .name }}
  labels:
    {{- template "labels" . }}
spec:
  replicas: {{ .replicas }}
  template:
    spec:
      containers:
      {{- range $i, $c := .containers }}
        - name: {{ $c.name }}
          image: "{{ $c.image }}:{{ $c.tag }}"
          {{- if $c.ports }}
          ports:
          {{- range $c.ports }}
            - containerPort: {{ . }}
          {{- end }}
          {{- end }}
          env:
          {{- range $k, $v := $.env }}
            - name: {{ $k }}
              value: {{ printf "%q" (print $v) }}
          {{- end }}
      {{- end }}
      {{- with .nodeSelector }}
      nodeSelector:
        {{- range $k, $v := . }}
        {{ $k }}: {{ $v }}
        {{- end }}
      {{- end }}
"#;

fn values() -> Value {
    let containers: Vec<serde_json::Value> = (0..4)
        .map(|i| serde_json::json!({"name": format!("c{i}"), "image": "registry/app", "tag": "1.2.3", "ports": [8080 + i, 9090]}))
        .collect();
    let env: serde_json::Map<String, serde_json::Value> = (0..10)
        .map(|i| (format!("VAR_{i}"), serde_json::json!(format!("value {i}"))))
        .collect();
    Value::from(serde_json::json!({
        "name": "web", "release": "prod", "replicas": 3, "containers": containers, "env": env,
        "nodeSelector": {"kubernetes.io/os": "linux", "tier": "frontend"}
    }))
}

fn main() {
    let iters: u32 = std::env::var("HUBSPOKE_BENCH_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000);
    let data = values();
    let opts = Options::default();

    let start = Instant::now();
    for _ in 0..iters {
        std::hint::black_box(Template::parse("deployment.yaml", TEMPLATE).expect("parse"));
    }
    let parse = start.elapsed();

    let t = Template::parse("deployment.yaml", TEMPLATE).expect("parse");
    let mut bytes = 0usize;
    let start = Instant::now();
    for _ in 0..iters {
        bytes += std::hint::black_box(t.execute(&data, &opts).expect("execute")).len();
    }
    let exec = start.elapsed();

    println!(
        "parse:   {iters} templates in {:.3}s: {:.0} templates/s",
        parse.as_secs_f64(),
        f64::from(iters) / parse.as_secs_f64()
    );
    println!(
        "execute: {iters} renders in {:.3}s: {:.0} renders/s, {:.1} MB/s of output",
        exec.as_secs_f64(),
        f64::from(iters) / exec.as_secs_f64(),
        bytes as f64 / exec.as_secs_f64() / 1e6
    );
}
