//! # hubspoke-render
//!
//! Go's `text/template` in Rust, with Go's semantics and error texts, differential-tested
//! against Go itself (`tools/gotmpl-oracle`). Sprig, Helm charts and chart repositories
//! come later in this crate.
//!
//! ```
//! use hubspoke_render::{Template, Options, Value};
//! let t = Template::parse("t", "{{range $k, $v := .}}{{$k}}={{$v}} {{end}}").unwrap();
//! let data = Value::from(serde_json::json!({"b": 2, "a": 1}));
//! assert_eq!(t.execute(&data, &Options::default()).unwrap(), "a=1 b=2 ");
//! ```
//!
//! See README.md for what is implemented and how Go versions differ.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, OnceLock};

mod builtins;
pub mod chart;
mod exec;
pub mod gofmt;
pub mod gojson;
pub mod gotoml;
pub mod goyaml;
pub mod helmdata;
mod lex;
mod parse;
pub mod release;
pub mod source;
pub mod sprig;
pub mod strvals;
#[cfg(feature = "testing")]
pub mod testing;
pub mod value;

pub use exec::CallContext;
pub use helmdata::{argocd_yaml_funcs, helm_data_funcs};
pub use parse::ParseError;
pub use value::{Arg, FuncMap, FuncResult, Function, GoMap, GoObject, ParamType, Value};

/// What a missing map key yields (Go's `Option("missingkey=...")`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MissingKey {
    /// `missingkey=default` / `invalid`: the invalid value, printed `<no value>`.
    #[default]
    Invalid,
    /// `missingkey=zero`: the zero value of the map's element type.
    Zero,
    /// `missingkey=error`: execution stops with an error.
    Error,
}

impl MissingKey {
    /// Parses the option value as Go does (`default`, `invalid`, `zero`, `error`).
    pub fn parse(s: &str) -> Option<MissingKey> {
        match s {
            "default" | "invalid" => Some(MissingKey::Invalid),
            "zero" => Some(MissingKey::Zero),
            "error" => Some(MissingKey::Error),
            _ => None,
        }
    }
}

/// Execution options.
#[derive(Clone, Debug, Default)]
pub struct Options {
    pub missing_key: MissingKey,
}

/// An execution error, texted as Go's
/// (`template: NAME:LINE:COL: executing "NAME" at <NODE>: ...`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecError(pub String);

impl fmt::Display for ExecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for ExecError {}

pub(crate) fn builtin_map() -> &'static FuncMap {
    static B: OnceLock<FuncMap> = OnceLock::new();
    B.get_or_init(builtins::builtins)
}

/// A set of named templates, as Go's `*template.Template` and its associated templates.
#[derive(Clone)]
pub struct Template {
    name: String,
    funcs: FuncMap,
    trees: BTreeMap<String, Arc<parse::Tree>>,
}

impl fmt::Debug for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Template")
            .field("name", &self.name)
            .field("templates", &self.trees.keys())
            .finish()
    }
}

impl Template {
    /// An empty template set named `name` (Go's `template.New(name)`).
    pub fn new(name: &str) -> Template {
        Template {
            name: name.to_string(),
            funcs: FuncMap::new(),
            trees: BTreeMap::new(),
        }
    }

    /// Parses `text` as the template `name` (Go's `template.New(name).Parse(text)`).
    pub fn parse(name: &str, text: &str) -> Result<Template, ParseError> {
        let mut t = Template::new(name);
        t.add_parse(name, text)?;
        Ok(t)
    }

    /// Adds functions (Go's `Funcs`); they must be added before the texts using them are
    /// parsed. An entry overrides a builtin of the same name.
    pub fn funcs(mut self, funcs: FuncMap) -> Template {
        self.funcs.extend(funcs);
        self
    }

    /// The name of the set's main template.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the set defines template `name`.
    pub fn has_template(&self, name: &str) -> bool {
        self.trees.contains_key(name)
    }

    /// The set under another main name (Go's `t.New(name)` sharing the definitions); the
    /// definitions are shared, so this is cheap.
    pub fn renamed(&self, name: &str) -> Template {
        Template {
            name: name.to_string(),
            funcs: self.funcs.clone(),
            trees: self.trees.clone(),
        }
    }

    /// The names of the defined templates.
    pub fn template_names(&self) -> impl Iterator<Item = &str> {
        self.trees.keys().map(String::as_str)
    }

    /// Parses `text` as the file `name` into this set (Go's `t.New(name).Parse(text)`):
    /// its top level becomes template `name`, its `define`s and `block`s join the set. As
    /// in Go, a template redefined by a later parse replaces the earlier one unless the new
    /// body is empty.
    pub fn add_parse(&mut self, name: &str, text: &str) -> Result<(), ParseError> {
        let funcs = &self.funcs;
        let has = |f: &str| funcs.contains_key(f) || builtin_map().contains_key(f);
        let trees = parse::parse(name, text, &has)?;
        for (n, tree) in trees {
            let keep_old = match self.trees.get(&n) {
                Some(_) => parse::is_empty_tree(&tree.root),
                None => false,
            };
            if !keep_old {
                self.trees.insert(n, Arc::new(tree));
            }
        }
        Ok(())
    }

    /// Parses `text` as template `name` into this set and executes that text's own top
    /// level with `data` (Go's `t.New(name).Parse(text)` then `Execute` on the result: an
    /// empty top level runs as empty even where the set keeps an earlier `name`). The outer
    /// error is the parse error; the inner one the execution's.
    pub fn add_parse_execute(
        &mut self,
        name: &str,
        text: &str,
        data: &Value,
        opts: &Options,
    ) -> Result<Result<String, ExecError>, ParseError> {
        let funcs = &self.funcs;
        let has = |f: &str| funcs.contains_key(f) || builtin_map().contains_key(f);
        let trees = parse::parse(name, text, &has)?;
        let mut top = None;
        for (n, tree) in trees {
            let tree = Arc::new(tree);
            if n == name {
                top = Some(tree.clone());
            }
            let keep_old = match self.trees.get(&n) {
                Some(_) => parse::is_empty_tree(&tree.root),
                None => false,
            };
            if !keep_old {
                self.trees.insert(n, tree);
            }
        }
        let Some(tree) = top else {
            return Ok(Ok(String::new()));
        };
        let dot = match data {
            Value::Nil => exec::Rv::Invalid,
            v => exec::Rv::V(v.clone(), false),
        };
        let mut st = exec::State::new(
            &self.name,
            &self.trees,
            &self.funcs,
            builtin_map(),
            opts,
            &tree,
            dot.clone(),
        );
        Ok(stacker::maybe_grow(256 * 1024, 4 * 1024 * 1024, || st.walk_root(&dot)).map(|()| st.out))
    }

    /// Executes the set's main template with `data` as dot.
    pub fn execute(&self, data: &Value, opts: &Options) -> Result<String, ExecError> {
        if !self.trees.contains_key(&self.name) {
            return Err(ExecError(format!(
                "template: {}: {} is an incomplete or empty template",
                self.name,
                gofmt::quote(&self.name, false)
            )));
        }
        self.execute_template(&self.name, data, opts)
    }

    /// Executes the template `name` (Go's `ExecuteTemplate`).
    pub fn execute_template(&self, name: &str, data: &Value, opts: &Options) -> Result<String, ExecError> {
        let Some(tree) = self.trees.get(name) else {
            return Err(ExecError(format!(
                "template: no template {} associated with template {}",
                gofmt::quote(name, false),
                gofmt::quote(&self.name, false)
            )));
        };
        let dot = match data {
            Value::Nil => exec::Rv::Invalid,
            v => exec::Rv::V(v.clone(), false),
        };
        let mut st = exec::State::new(
            &self.name,
            &self.trees,
            &self.funcs,
            builtin_map(),
            opts,
            tree,
            dot.clone(),
        );
        stacker::maybe_grow(256 * 1024, 4 * 1024 * 1024, || st.walk_root(&dot))?;
        Ok(st.out)
    }
}
