//! What `helm template` does before printing (pkg/action/install.go, client-only):
//! dependencies processed, the chart's kubeVersion checked, values coalesced and validated
//! against the schemas, templates rendered, CRDs gathered.

use std::collections::BTreeMap;

use crate::value::GoMap;

use super::engine::{self, Capabilities, EngineOptions, ReleaseOptions};
use super::{Chart, deps, values};

/// How to render a chart.
#[derive(Clone, Debug, Default)]
pub struct RenderOptions {
    pub release: ReleaseOptions,
    pub capabilities: Capabilities,
    pub engine: EngineOptions,
    /// `--skip-schema-validation`.
    pub skip_schema_validation: bool,
}

/// A rendered chart: each template's output and the CRDs (crds/ of the chart and its
/// enabled subcharts) with their paths.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RenderedChart {
    /// Output per template path (`chart/templates/x.yaml`), partials left out, NOTES.txt
    /// included (callers drop it as Helm does).
    pub templates: BTreeMap<String, String>,
    /// (path, content) of each CRD file, in Helm's order.
    pub crds: Vec<(String, String)>,
    /// The warnings Helm would log while coalescing values.
    pub warnings: Vec<String>,
}

/// A chart ready to render: dependencies processed (disabled subcharts dropped, aliases
/// applied, imported values merged) and the render values (`.Values` coalesced and
/// validated, `.Release`, `.Capabilities`, `.Chart`).
#[derive(Clone, Debug)]
pub struct PreparedChart {
    pub chart: Chart,
    pub top: GoMap,
    pub warnings: Vec<String>,
}

/// Everything `helm template` does before the engine runs.
pub fn prepare(mut chart: Chart, user_values: &GoMap, opts: &RenderOptions) -> Result<PreparedChart, String> {
    let mut warnings = Vec::new();
    let mut warn = |w: String| warnings.push(w);
    deps::process_dependencies(&mut chart, user_values, &mut warn)?;
    if !chart.metadata.kube_version.is_empty()
        && !deps::is_compatible_range(&chart.metadata.kube_version, &opts.capabilities.kube_version)
    {
        return Err(format!(
            "chart requires kubeVersion: {} which is incompatible with Kubernetes {}",
            chart.metadata.kube_version, opts.capabilities.kube_version
        ));
    }
    let vals = values::coalesce_values(&chart, user_values, &mut warn)?;
    if !opts.skip_schema_validation {
        super::schema::validate_against_schema(&chart, &vals).map_err(|e| {
            format!("values don't meet the specifications of the schema(s) in the following chart(s):\n{e}")
        })?;
    }
    let top = engine::render_values(&chart, vals, &opts.release, &opts.capabilities);
    Ok(PreparedChart { chart, top, warnings })
}

/// Renders `chart` with the user's values (`-f`, `--set` ... already merged).
pub fn render_chart(
    chart: Chart,
    user_values: &GoMap,
    opts: &RenderOptions,
) -> Result<RenderedChart, String> {
    let p = prepare(chart, user_values, opts)?;
    let templates = engine::render(&p.chart, &p.top, &opts.engine)?;
    let mut crds = Vec::new();
    collect_crds(&p.chart, p.chart.name(), &mut crds);
    Ok(RenderedChart {
        templates,
        crds,
        warnings: p.warnings,
    })
}

/// `Chart.CRDObjects`: this chart's CRDs, then its subcharts' (recursively).
fn collect_crds(c: &Chart, full_path: &str, out: &mut Vec<(String, String)>) {
    for f in c.crds() {
        out.push((
            format!("{full_path}/{}", f.name),
            String::from_utf8_lossy(&f.data).into_owned(),
        ));
    }
    for d in &c.dependencies {
        collect_crds(d, &format!("{full_path}/charts/{}", d.name()), out);
    }
}
