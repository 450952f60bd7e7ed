//! Helm charts: loading (pkg/chart/loader), values (pkg/chartutil), dependencies and
//! rendering (pkg/engine), as Helm 3.17 does them.

pub mod deps;
pub mod engine;
mod glob;
pub mod install;
pub mod metadata;
pub mod schema;
pub mod values;

use std::collections::BTreeMap;

pub use metadata::{Dependency, Maintainer, Metadata};

use crate::value::{GoMap, Value};

/// A file of a chart: its path relative to the chart's root and its bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct File {
    pub name: String,
    pub data: Vec<u8>,
}

impl File {
    pub fn new(name: impl Into<String>, data: impl Into<Vec<u8>>) -> File {
        File {
            name: name.into(),
            data: data.into(),
        }
    }
}

/// A loaded chart and its subcharts.
#[derive(Clone, Debug)]
pub struct Chart {
    pub metadata: Metadata,
    /// values.yaml, decoded as Helm decodes it (numbers are float64).
    pub values: GoMap,
    /// values.schema.json.
    pub schema: Option<Vec<u8>>,
    /// Files under templates/.
    pub templates: Vec<File>,
    /// Every other file (crds/, README, files read through `.Files`).
    pub files: Vec<File>,
    /// Subcharts from charts/ (directories and .tgz).
    pub dependencies: Vec<Chart>,
}

impl values::ValuesChart for Chart {
    fn chart_name(&self) -> &str {
        &self.metadata.name
    }
    fn default_values(&self) -> &GoMap {
        &self.values
    }
    fn subcharts(&self) -> Vec<&Chart> {
        self.dependencies.iter().collect()
    }
}

/// Reads a packaged chart (.tgz) into its files, for subcharts shipped as archives.
pub type ArchiveReader = dyn Fn(&[u8]) -> Result<Vec<File>, String>;

impl Chart {
    pub fn name(&self) -> &str {
        &self.metadata.name
    }

    /// Whether this is a library chart (only its partials are rendered).
    pub fn is_library(&self) -> bool {
        self.metadata.r#type.eq_ignore_ascii_case("library")
    }

    /// The CRD files (crds/*.yaml|yml|json) of this chart, not its subcharts'.
    pub fn crds(&self) -> impl Iterator<Item = &File> {
        self.files.iter().filter(|f| {
            f.name.starts_with("crds/")
                && [".yaml", ".yml", ".json"].iter().any(|e| {
                    let ext = std::path::Path::new(&f.name)
                        .extension()
                        .map(|x| format!(".{}", x.to_string_lossy()))
                        .unwrap_or_default();
                    ext.eq_ignore_ascii_case(e)
                })
        })
    }

    /// Loads a chart from its files (pkg/chart/loader `LoadFiles`); subcharts in charts/
    /// as directories or archives (read with `archive`).
    pub fn load_files(files: Vec<File>, archive: &ArchiveReader) -> Result<Chart, String> {
        let mut metadata: Option<Metadata> = None;
        for f in &files {
            if f.name == "Chart.yaml" {
                let v = read_yaml(&f.data).map_err(|e| format!("cannot load Chart.yaml: {e}"))?;
                let mut md = Metadata::from_value(&v).map_err(|e| format!("cannot load Chart.yaml: {e}"))?;
                if md.api_version.is_empty() {
                    md.api_version = "v1".into();
                }
                metadata = Some(md);
            }
        }
        let mut chart = Chart {
            metadata: Metadata::default(),
            values: GoMap::default(),
            schema: None,
            templates: Vec::new(),
            files: Vec::new(),
            dependencies: Vec::new(),
        };
        let mut subcharts: BTreeMap<String, Vec<File>> = BTreeMap::new();
        for f in files {
            match f.name.as_str() {
                "Chart.yaml" => {}
                "Chart.lock" | "requirements.lock" => {
                    read_yaml(&f.data).map_err(|e| format!("cannot load {}: {e}", f.name))?;
                    if f.name == "requirements.lock"
                        && metadata.as_ref().is_some_and(|m| m.api_version == "v1")
                    {
                        chart.files.push(f);
                    }
                }
                "values.yaml" => {
                    let v = read_yaml(&f.data).map_err(|e| format!("cannot load values.yaml: {e}"))?;
                    chart.values = match v {
                        Value::Map(m) => m,
                        Value::Nil => GoMap::default(),
                        v => {
                            return Err(format!(
                                "cannot load values.yaml: error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
                                if matches!(v, Value::Slice(_)) {
                                    "array"
                                } else if matches!(v, Value::String(_)) {
                                    "string"
                                } else {
                                    "number"
                                }
                            ));
                        }
                    };
                }
                "values.schema.json" => chart.schema = Some(f.data),
                "requirements.yaml" => {
                    let md = metadata.get_or_insert_with(Metadata::default);
                    let v = read_yaml(&f.data).map_err(|e| format!("cannot load requirements.yaml: {e}"))?;
                    if let Value::Map(m) = &v {
                        md.dependencies = metadata::decode_dependencies(m.get("dependencies"), "Metadata")
                            .map_err(|e| format!("cannot load requirements.yaml: {e}"))?;
                    }
                    if md.api_version == "v1" {
                        chart.files.push(f);
                    }
                }
                n if n.starts_with("templates/") => chart.templates.push(f),
                n if n.starts_with("charts/") => {
                    if n.ends_with(".prov") {
                        chart.files.push(f);
                        continue;
                    }
                    let rest = &n["charts/".len()..];
                    let cname = rest.split('/').next().unwrap_or("").to_string();
                    subcharts.entry(cname).or_default().push(File::new(rest, f.data));
                }
                _ => chart.files.push(f),
            }
        }
        let Some(mut md) = metadata else {
            return Err("Chart.yaml file is missing".into());
        };
        md.validate()?;
        chart.metadata = md;
        for (n, files) in subcharts {
            if n.starts_with('_') || n.starts_with('.') {
                continue;
            }
            let sub = if n.ends_with(".tgz") {
                let file = &files[0];
                if file.name != n {
                    return Err(format!(
                        "error unpacking subchart tar in {}: expected {n}, got {}",
                        chart.name(),
                        file.name
                    ));
                }
                archive(&file.data).and_then(|fs| Chart::load_files(fs, archive))
            } else {
                let buf: Vec<File> = files
                    .into_iter()
                    .filter_map(|f| {
                        let (_, rest) = f.name.split_once('/')?;
                        Some(File::new(rest, f.data))
                    })
                    .collect();
                Chart::load_files(buf, archive)
            };
            match sub {
                Ok(c) => chart.dependencies.push(c),
                Err(e) => return Err(format!("error unpacking subchart {n} in {}: {e}", chart.name())),
            }
        }
        Ok(chart)
    }
}

/// A YAML file of a chart, decoded as Helm decodes it (sigs.k8s.io/yaml: numbers float64).
fn read_yaml(data: &[u8]) -> Result<Value, String> {
    crate::goyaml::unmarshal(&String::from_utf8_lossy(data))
}

/// Whether `v` is a valid semantic version (Masterminds semver's NewVersion).
pub(crate) fn semver_valid(v: &str) -> bool {
    deps::parse_version(v).is_some()
}
