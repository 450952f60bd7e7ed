//! Chart.yaml (pkg/chart/metadata.go, dependency.go): decoding with Go's type errors and
//! Helm's validation.

use crate::value::{GoMap, Value};

/// A maintainer entry.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Maintainer {
    pub name: String,
    pub email: String,
    pub url: String,
}

/// A dependency in Chart.yaml (or requirements.yaml for apiVersion v1).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Dependency {
    pub name: String,
    pub version: String,
    pub repository: String,
    pub condition: String,
    pub tags: Vec<String>,
    pub enabled: bool,
    pub import_values: Vec<Value>,
    pub alias: String,
}

/// Chart.yaml's fields, as Helm's `chart.Metadata`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Metadata {
    pub name: String,
    pub home: String,
    pub sources: Vec<String>,
    pub version: String,
    pub description: String,
    pub keywords: Vec<String>,
    pub maintainers: Vec<Option<Maintainer>>,
    pub icon: String,
    pub api_version: String,
    pub condition: String,
    pub tags: String,
    pub app_version: String,
    pub deprecated: bool,
    pub annotations: Option<Vec<(String, String)>>,
    pub kube_version: String,
    pub dependencies: Vec<Option<Dependency>>,
    pub r#type: String,
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Nil => "null",
        Value::Bool(_) => "bool",
        Value::Int(_) | Value::Int64(_) | Value::Uint8(_) | Value::Float(_) => "number",
        Value::String(_) => "string",
        Value::Slice(_) => "array",
        Value::Map(_) | Value::Object(_) | Value::Func(_) => "object",
    }
}

/// encoding/json's error for a field of the wrong type (as sigs.k8s.io/yaml wraps it).
fn type_err(v: &Value, strukt: &str, field: &str, go_type: &str) -> String {
    format!(
        "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {} into Go struct field {strukt}.{field} of type {go_type}",
        json_type(v)
    )
}

struct Fields<'a> {
    m: &'a GoMap,
    strukt: &'a str,
    prefix: &'a str,
}

impl Fields<'_> {
    /// encoding/json matches keys case-insensitively after an exact match fails.
    fn get(&self, key: &str) -> Option<Value> {
        if let Some(v) = self.m.get(key) {
            return Some(v);
        }
        let lower = key.to_lowercase();
        self.m
            .entries()
            .into_iter()
            .find(|(k, _)| k.to_lowercase() == lower)
            .map(|(_, v)| v)
    }
    fn path(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.prefix)
        }
    }
    fn string(&self, key: &str) -> Result<String, String> {
        match self.get(key) {
            None | Some(Value::Nil) => Ok(String::new()),
            Some(Value::String(s)) => Ok(s),
            Some(v) => Err(type_err(&v, self.strukt, &self.path(key), "string")),
        }
    }
    fn boolean(&self, key: &str) -> Result<bool, String> {
        match self.get(key) {
            None | Some(Value::Nil) => Ok(false),
            Some(Value::Bool(b)) => Ok(b),
            Some(v) => Err(type_err(&v, self.strukt, &self.path(key), "bool")),
        }
    }
    fn strings(&self, key: &str) -> Result<Vec<String>, String> {
        match self.get(key) {
            None | Some(Value::Nil) => Ok(Vec::new()),
            Some(Value::Slice(items)) => items
                .iter()
                .map(|e| match e {
                    Value::String(s) => Ok(s.clone()),
                    Value::Nil => Ok(String::new()),
                    v => Err(type_err(v, self.strukt, &self.path(key), "string")),
                })
                .collect(),
            Some(v) => Err(type_err(&v, self.strukt, &self.path(key), "[]string")),
        }
    }
}

impl Metadata {
    /// Decodes Chart.yaml's data (already YAML-decoded to a map).
    pub fn from_value(v: &Value) -> Result<Metadata, String> {
        let m = match v {
            Value::Map(m) => m.clone(),
            Value::Nil => GoMap::default(),
            v => {
                return Err(format!(
                    "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {} into Go value of type chart.Metadata",
                    json_type(v)
                ));
            }
        };
        let f = Fields {
            m: &m,
            strukt: "Metadata",
            prefix: "",
        };
        let mut md = Metadata {
            name: f.string("name")?,
            home: f.string("home")?,
            sources: f.strings("sources")?,
            version: f.string("version")?,
            description: f.string("description")?,
            keywords: f.strings("keywords")?,
            icon: f.string("icon")?,
            api_version: f.string("apiVersion")?,
            condition: f.string("condition")?,
            tags: f.string("tags")?,
            app_version: f.string("appVersion")?,
            deprecated: f.boolean("deprecated")?,
            kube_version: f.string("kubeVersion")?,
            r#type: f.string("type")?,
            ..Metadata::default()
        };
        match f.get("annotations") {
            None | Some(Value::Nil) => {}
            Some(Value::Map(a)) => {
                let mut out = Vec::new();
                for (k, v) in a.entries() {
                    match v {
                        Value::String(s) => out.push((k, s)),
                        Value::Nil => out.push((k, String::new())),
                        v => return Err(type_err(&v, "Metadata", "annotations", "string")),
                    }
                }
                md.annotations = Some(out);
            }
            Some(v) => return Err(type_err(&v, "Metadata", "annotations", "map[string]string")),
        }
        match f.get("maintainers") {
            None | Some(Value::Nil) => {}
            Some(Value::Slice(items)) => {
                for e in items.iter() {
                    md.maintainers.push(match e {
                        Value::Nil => None,
                        Value::Map(mm) => {
                            let g = Fields {
                                m: mm,
                                strukt: "Metadata",
                                prefix: "maintainers",
                            };
                            Some(Maintainer {
                                name: g.string("name")?,
                                email: g.string("email")?,
                                url: g.string("url")?,
                            })
                        }
                        v => return Err(type_err(v, "Metadata", "maintainers", "chart.Maintainer")),
                    });
                }
            }
            Some(v) => return Err(type_err(&v, "Metadata", "maintainers", "[]*chart.Maintainer")),
        }
        md.dependencies = decode_dependencies(f.get("dependencies"), "Metadata")?;
        Ok(md)
    }

    /// Helm's `Metadata.Validate` (which also sanitizes the strings).
    pub fn validate(&mut self) -> Result<(), String> {
        for s in [
            &mut self.name,
            &mut self.description,
            &mut self.home,
            &mut self.icon,
            &mut self.condition,
            &mut self.tags,
            &mut self.app_version,
            &mut self.kube_version,
        ] {
            *s = sanitize(s);
        }
        for s in self.sources.iter_mut().chain(self.keywords.iter_mut()) {
            *s = sanitize(s);
        }
        if self.api_version.is_empty() {
            return Err("validation: chart.metadata.apiVersion is required".into());
        }
        if self.name.is_empty() {
            return Err("validation: chart.metadata.name is required".into());
        }
        if self.name.contains('/') || self.name == "." || self.name == ".." {
            return Err(format!(
                "validation: chart.metadata.name {} is invalid",
                crate::gofmt::quote(&self.name, false)
            ));
        }
        if self.version.is_empty() {
            return Err("validation: chart.metadata.version is required".into());
        }
        if !super::semver_valid(&self.version) {
            return Err(format!(
                "validation: chart.metadata.version {} is invalid",
                crate::gofmt::quote(&self.version, false)
            ));
        }
        if !matches!(self.r#type.as_str(), "" | "application" | "library") {
            return Err("validation: chart.metadata.type must be application or library".into());
        }
        for m in self.maintainers.iter_mut() {
            match m {
                None => return Err("validation: maintainers must not contain empty or null nodes".into()),
                Some(m) => {
                    m.name = sanitize(&m.name);
                    m.email = sanitize(&m.email);
                    m.url = sanitize(&m.url);
                }
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for d in self.dependencies.iter_mut() {
            let Some(d) = d else {
                return Err("validation: dependencies must not contain empty or null nodes".into());
            };
            d.name = sanitize(&d.name);
            d.version = sanitize(&d.version);
            d.repository = sanitize(&d.repository);
            d.condition = sanitize(&d.condition);
            for t in d.tags.iter_mut() {
                *t = sanitize(t);
            }
            if !d.alias.is_empty()
                && !d
                    .alias
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return Err(format!(
                    "validation: dependency {} has disallowed characters in the alias",
                    crate::gofmt::quote(&d.name, false)
                ));
            }
            let key = if d.alias.is_empty() {
                d.name.clone()
            } else {
                d.alias.clone()
            };
            if !seen.insert(key.clone()) {
                return Err(format!(
                    "validation: more than one dependency with name or alias {}",
                    crate::gofmt::quote(&key, false)
                ));
            }
        }
        Ok(())
    }

    /// The dependencies present (null entries are rejected by validation).
    pub fn deps(&self) -> impl Iterator<Item = &Dependency> {
        self.dependencies.iter().flatten()
    }
}

/// Decodes a `dependencies:` list (Chart.yaml or requirements.yaml).
pub(crate) fn decode_dependencies(v: Option<Value>, strukt: &str) -> Result<Vec<Option<Dependency>>, String> {
    let mut out = Vec::new();
    match v {
        None | Some(Value::Nil) => {}
        Some(Value::Slice(items)) => {
            for e in items.iter() {
                out.push(match e {
                    Value::Nil => None,
                    Value::Map(mm) => {
                        let g = Fields {
                            m: mm,
                            strukt,
                            prefix: "dependencies",
                        };
                        let import_values = match g.get("import-values") {
                            None | Some(Value::Nil) => Vec::new(),
                            Some(Value::Slice(iv)) => iv.to_vec(),
                            Some(v) => {
                                return Err(type_err(
                                    &v,
                                    strukt,
                                    "dependencies.import-values",
                                    "[]interface {}",
                                ));
                            }
                        };
                        Some(Dependency {
                            name: g.string("name")?,
                            version: g.string("version")?,
                            repository: g.string("repository")?,
                            condition: g.string("condition")?,
                            tags: g.strings("tags")?,
                            enabled: g.boolean("enabled")?,
                            import_values,
                            alias: g.string("alias")?,
                        })
                    }
                    v => return Err(type_err(v, strukt, "dependencies", "chart.Dependency")),
                });
            }
        }
        Some(v) => return Err(type_err(&v, strukt, "dependencies", "[]*chart.Dependency")),
    }
    Ok(out)
}

/// Helm's `sanitizeString`: whitespace becomes a space, unprintable characters go.
fn sanitize(s: &str) -> String {
    s.chars()
        .filter_map(|c| {
            if c.is_whitespace() {
                Some(' ')
            } else if c.is_control() {
                None
            } else {
                Some(c)
            }
        })
        .collect()
}
