//! Renditions of upstream charts, written here: what the sim's repo server renders in place
//! of a chart it can neither fetch (offline) nor read from the chart cache, for the charts
//! whose images the sim runs. A rendition is an ordinary chart (templates rendered by the
//! Helm engine, with the Application's values) holding what the sim runs of the real one,
//! named and labelled as the real chart names them; its use is never silent: every use is
//! recorded in [`Renditions`] and the Argo CD stand-in's owner reports it (the harness
//! prints it after the bootstrap, with how to cache the real chart).
//!
//! Renditions:
//! - `kyverno` of `https://kyverno.github.io/kyverno/`, versions 3.5.0 to 3.5.2 (Kyverno
//!   v1.15.0 to v1.15.2): the CRDs of the kinds the Kyverno stand-in serves, the admission
//!   controller (its image runs the stand-in, behind `<fullname>-svc`) and the background,
//!   cleanup and reports controllers (simulated containers), their Services and
//!   ServiceAccounts. Not rendered: RBAC, the config ConfigMaps, hooks, network policies.

use std::collections::BTreeSet;
use std::sync::Mutex;

use hubspoke_render::source::{FetchedChart, select_version};

/// A chart hubspoke has a rendition of.
struct Known {
    repo_url: &'static str,
    name: &'static str,
    /// `(chart version, appVersion)` of the releases the rendition stands for.
    versions: &'static [(&'static str, &'static str)],
    /// What the rendition holds, for the notice.
    holds: &'static str,
    files: fn() -> Vec<(String, Vec<u8>)>,
}

const KNOWN: &[Known] = &[Known {
    repo_url: "https://kyverno.github.io/kyverno",
    name: "kyverno",
    versions: &[("3.5.0", "v1.15.0"), ("3.5.1", "v1.15.1"), ("3.5.2", "v1.15.2")],
    holds: "Kyverno's CRDs, its controllers' Deployments, Services and ServiceAccounts; the admission controller's image runs the Kyverno stand-in",
    files: kyverno_files,
}];

fn kyverno_files() -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = [
        ("Chart.yaml", include_str!("kyverno/Chart.yaml")),
        ("values.yaml", include_str!("kyverno/values.yaml")),
        (
            "templates/_helpers.tpl",
            include_str!("kyverno/templates/_helpers.tpl"),
        ),
        (
            "templates/admission-controller.yaml",
            include_str!("kyverno/templates/admission-controller.yaml"),
        ),
        (
            "templates/controllers.yaml",
            include_str!("kyverno/templates/controllers.yaml"),
        ),
    ]
    .into_iter()
    .map(|(p, t)| (p.to_string(), t.as_bytes().to_vec()))
    .collect();
    // the CRDs the stand-in serves, one file each as the real chart has them
    for crd in super::kyverno::crd_manifests() {
        let name = crd
            .pointer("/metadata/name")
            .and_then(|n| n.as_str())
            .unwrap_or("crd");
        let text = hubspoke_render::helmdata::to_yaml(&hubspoke_render::Value::from(crd.clone()));
        files.push((format!("crds/{name}.yaml"), text.into_bytes()));
    }
    files
}

/// Sets `version:` and `appVersion:` of a Chart.yaml to a release's.
fn stamp(chart_yaml: &[u8], version: &str, app_version: &str) -> Vec<u8> {
    String::from_utf8_lossy(chart_yaml)
        .lines()
        .map(|l| {
            if l.starts_with("version:") {
                format!("version: {version}")
            } else if l.starts_with("appVersion:") {
                format!("appVersion: {app_version}")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        .into_bytes()
}

/// The rendition of `name` from `repo_url` for the requested version (exact or a
/// constraint, chosen as Helm chooses), if hubspoke has one: the chart and what to say
/// about it.
pub fn rendition(repo_url: &str, name: &str, requested: &str) -> Option<(FetchedChart, &'static str)> {
    let known = KNOWN
        .iter()
        .find(|k| k.name == name && k.repo_url == repo_url.trim_end_matches('/'))?;
    let versions: Vec<String> = known.versions.iter().map(|(v, _)| v.to_string()).collect();
    let version = select_version(&versions, requested)?;
    let app_version = known.versions.iter().find(|(v, _)| *v == version)?.1;
    let files: Vec<(String, Vec<u8>)> = (known.files)()
        .into_iter()
        .map(|(p, data)| {
            let data = if p == "Chart.yaml" {
                stamp(&data, &version, app_version)
            } else {
                data
            };
            (p, data)
        })
        .collect();
    let digest = hubspoke_render::source::sha256_hex(
        &files
            .iter()
            .flat_map(|(p, d)| [p.as_bytes(), d].concat())
            .collect::<Vec<u8>>(),
    );
    Some((
        FetchedChart {
            name: name.to_string(),
            version,
            digest,
            files,
        },
        known.holds,
    ))
}

/// The renditions used so far, as notices (one per chart, version and repository).
#[derive(Debug, Default)]
pub struct Renditions {
    used: Mutex<BTreeSet<String>>,
}

impl Renditions {
    /// Records a use; true the first time this notice is recorded.
    pub fn record(&self, notice: String) -> bool {
        self.used.lock().expect("renditions lock").insert(notice)
    }

    /// Every notice recorded.
    pub fn notices(&self) -> Vec<String> {
        self.used
            .lock()
            .expect("renditions lock")
            .iter()
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_known_charts_and_releases_have_renditions() {
        let (c, holds) = rendition("https://kyverno.github.io/kyverno/", "kyverno", "3.5.1").unwrap();
        assert_eq!(c.version, "3.5.1");
        assert!(holds.contains("Kyverno stand-in"));
        let chart_yaml = &c.files.iter().find(|(p, _)| p == "Chart.yaml").unwrap().1;
        let text = String::from_utf8_lossy(chart_yaml);
        assert!(text.contains("\nversion: 3.5.1\n"), "{text}");
        assert!(text.contains("\nappVersion: v1.15.1"), "{text}");
        assert!(
            c.files
                .iter()
                .any(|(p, _)| p == "crds/clusterpolicies.kyverno.io.yaml")
        );
        // a constraint picks the newest release satisfying it, as Helm does
        assert_eq!(
            rendition("https://kyverno.github.io/kyverno", "kyverno", "~3.5")
                .unwrap()
                .0
                .version,
            "3.5.2"
        );
        // other releases, charts and repositories have none
        assert!(rendition("https://kyverno.github.io/kyverno/", "kyverno", "3.4.0").is_none());
        assert!(rendition("https://kyverno.github.io/kyverno/", "kyverno", ">=4").is_none());
        assert!(rendition("https://kyverno.github.io/kyverno/", "kyverno-policies", "3.5.2").is_none());
        assert!(rendition("https://example.com/charts", "kyverno", "3.5.2").is_none());
    }

    #[test]
    fn the_kyverno_rendition_renders_as_the_real_chart_names_things() {
        let (c, _) = rendition("https://kyverno.github.io/kyverno/", "kyverno", "3.5.2").unwrap();
        use hubspoke_render::chart::engine::ReleaseOptions;
        use hubspoke_render::chart::install::{RenderOptions, render_chart};
        use hubspoke_render::release::{CrdFile, TemplateOptions, helm_template_output};
        let chart = hubspoke_render::source::load_chart(c.files).unwrap();
        let opts = RenderOptions {
            release: ReleaseOptions {
                name: "kyverno".into(),
                namespace: "kyverno-system".into(),
                ..ReleaseOptions::default()
            },
            ..RenderOptions::default()
        };
        let rendered = render_chart(chart, &hubspoke_render::GoMap::default(), &opts).unwrap();
        let crds: Vec<CrdFile> = rendered
            .crds
            .into_iter()
            .map(|(path, content)| CrdFile { path, content })
            .collect();
        let topts = TemplateOptions {
            include_crds: true,
            skip_tests: false,
            no_hooks: false,
            show_only: Vec::new(),
        };
        let out = helm_template_output(&rendered.templates, &crds, &topts).unwrap();
        for want in [
            "name: kyverno-admission-controller",
            "name: kyverno-svc\n",
            "name: kyverno-svc-metrics",
            "image: \"reg.kyverno.io/kyverno/kyverno:v1.15.2\"",
            "- --caSecretName=kyverno-svc.kyverno-system.svc.kyverno-tls-ca",
            "value: kyverno-svc\n",
            "helm.sh/chart: kyverno-3.5.2",
            "app.kubernetes.io/part-of: kyverno\n",
            "name: kyverno-reports-controller",
            "name: clusterpolicies.kyverno.io",
        ] {
            assert!(out.contains(want), "{want:?} not in\n{out}");
        }
        // replicas left to the API server's default, as the chart leaves them
        assert!(out.contains("  replicas: \n"), "{out}");
    }
}
