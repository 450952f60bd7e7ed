//! Helm's `--set` family (Helm 3.17's `pkg/strvals`): `--set`, `--set-string`,
//! `--set-json`, `--set-file` and `--set-literal` lines parsed into a values map with Helm's
//! rules and error texts, and Argo CD's `helm.parameters` / `helm.fileParameters` turned
//! into those flags as Argo CD's repo server passes them (v3.2.0).
//!
//! A set line is `name1=value1,name2=value2`: dotted names nest maps (`a.b=c`), `name[i]`
//! indexes lists (`a[0].b=c`, `a[1][2]=x`), `{x,y}` is a list value, a backslash escapes
//! the next character (`a\.b=c`, `a=b\,c`). Plain `--set` values are typed (`true`,
//! `false`, `null` case-insensitively, integers without a leading zero as int64);
//! `--set-string` keeps strings. A `null` value is stored as nil: it is Helm's values
//! coalescing, not this parser, that then deletes the key from the chart's defaults.
//!
//! The parsers write into a [`GoMap`], a shared map, as Helm's parsers write into the map
//! they are given: on an error the map holds what was set before it.

use std::sync::Arc;

use crate::{GoMap, Value, gofmt};

/// The largest list index a set line may use (Helm's `strvals.MaxIndex`).
pub const MAX_INDEX: i64 = 65536;
/// The deepest `a.b.c` nesting a set line may use (Helm's `strvals.MaxNestedNameLevel`).
pub const MAX_NESTED_NAME_LEVEL: usize = 30;

/// Reads a `--set-file` value: given the path (the value's text), returns the value.
pub type FileReader<'a> = dyn FnMut(&str) -> Result<Value, String> + 'a;

/// Parses a `--set` line into a new map.
pub fn parse(s: &str) -> Result<GoMap, String> {
    let m = GoMap::default();
    parse_into(s, &m)?;
    Ok(m)
}

/// Parses a `--set-string` line into a new map.
pub fn parse_string(s: &str) -> Result<GoMap, String> {
    let m = GoMap::default();
    parse_into_string(s, &m)?;
    Ok(m)
}

/// Parses a `--set` line into `dest` (Helm's `ParseInto`): typed values, existing keys
/// overwritten.
pub fn parse_into(s: &str, dest: &GoMap) -> Result<(), String> {
    Parser::new(s, Mode::Typed { force_string: false }).run(dest)
}

/// Parses a `--set-string` line into `dest` (Helm's `ParseIntoString`): every value a
/// string.
pub fn parse_into_string(s: &str, dest: &GoMap) -> Result<(), String> {
    Parser::new(s, Mode::Typed { force_string: true }).run(dest)
}

/// Parses a `--set-json` line into `dest` (Helm's `ParseJSON`): each value is one JSON
/// value (decoded as Go's encoding/json decodes into `interface {}`: numbers are float64);
/// an empty value is null.
pub fn parse_json(s: &str, dest: &GoMap) -> Result<(), String> {
    Parser::new(s, Mode::Json).run(dest)
}

/// Parses a `--set-file` line into a new map (Helm's `ParseFile`): each value is a path
/// given to `reader`, whose result is stored.
pub fn parse_file(s: &str, reader: &mut FileReader<'_>) -> Result<GoMap, String> {
    let m = GoMap::default();
    parse_into_file(s, &m, reader)?;
    Ok(m)
}

/// Parses a `--set-file` line into `dest` (Helm's `ParseIntoFile`).
pub fn parse_into_file(s: &str, dest: &GoMap, reader: &mut FileReader<'_>) -> Result<(), String> {
    Parser::new(s, Mode::File(reader)).run(dest)
}

/// Parses a `--set-literal` line into a new map (Helm's `ParseLiteral`): one `name=value`,
/// the value taken verbatim up to the end (commas and backslashes included).
pub fn parse_literal(s: &str) -> Result<GoMap, String> {
    let m = GoMap::default();
    parse_literal_into(s, &m)?;
    Ok(m)
}

/// Parses a `--set-literal` line into `dest` (Helm's `ParseLiteralInto`).
pub fn parse_literal_into(s: &str, dest: &GoMap) -> Result<(), String> {
    Parser::new(s, Mode::Literal).run(dest)
}

/// The `--set*` flags of one Helm command line, each list in the order given.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SetOptions {
    /// `--set-json`
    pub json_values: Vec<String>,
    /// `--set`
    pub values: Vec<String>,
    /// `--set-string`
    pub string_values: Vec<String>,
    /// `--set-file`
    pub file_values: Vec<String>,
    /// `--set-literal`
    pub literal_values: Vec<String>,
}

/// Applies the `--set*` flags to `base` (the values files already merged into it) as
/// Helm's `values.Options.MergeValues` does: all `--set-json`, then `--set`, then
/// `--set-string`, then `--set-file` (each path read by `read_file`, its content stored as
/// a string), then `--set-literal`, whatever their order on the command line; errors worded
/// as Helm's.
pub fn merge_set_options(
    opts: &SetOptions,
    base: &GoMap,
    read_file: &mut dyn FnMut(&str) -> Result<String, String>,
) -> Result<(), String> {
    for v in &opts.json_values {
        // Helm drops the parser's error here and names the flag's value instead.
        if parse_json(v, base).is_err() {
            return Err(format!("failed parsing --set-json data {v}"));
        }
    }
    for v in &opts.values {
        parse_into(v, base).map_err(|e| format!("failed parsing --set data: {e}"))?;
    }
    for v in &opts.string_values {
        parse_into_string(v, base).map_err(|e| format!("failed parsing --set-string data: {e}"))?;
    }
    for v in &opts.file_values {
        let mut reader = |p: &str| read_file(p).map(Value::String);
        parse_into_file(v, base, &mut reader).map_err(|e| format!("failed parsing --set-file data: {e}"))?;
    }
    for v in &opts.literal_values {
        parse_literal_into(v, base).map_err(|e| format!("failed parsing --set-literal data: {e}"))?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Argo CD

/// One entry of an Application's `spec.source.helm.parameters`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ArgoHelmParameter {
    pub name: String,
    pub value: String,
    pub force_string: bool,
}

/// One entry of an Application's `spec.source.helm.fileParameters`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ArgoHelmFileParameter {
    pub name: String,
    pub path: String,
}

/// What Argo CD's repo server knows of an Application when it renders it: the build
/// environment its `Envsubst` reads (`newEnv`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ArgoBuildEnv {
    pub app_name: String,
    /// The destination namespace.
    pub namespace: String,
    pub project_name: String,
    /// The resolved revision (a commit SHA for Git, the chart version for Helm repos).
    pub revision: String,
    pub source_repo_url: String,
    pub source_path: String,
    pub source_target_revision: String,
}

impl ArgoBuildEnv {
    /// The variables, as Argo CD lists them (`ARGOCD_APP_REVISION_SHORT` is the first 7
    /// bytes of the revision, `_SHORT_8` the first 8).
    pub fn vars(&self) -> Vec<(String, String)> {
        let short = |n: usize| {
            let mut end = n.min(self.revision.len());
            while !self.revision.is_char_boundary(end) {
                end -= 1;
            }
            self.revision[..end].to_string()
        };
        [
            ("ARGOCD_APP_NAME", self.app_name.clone()),
            ("ARGOCD_APP_NAMESPACE", self.namespace.clone()),
            ("ARGOCD_APP_PROJECT_NAME", self.project_name.clone()),
            ("ARGOCD_APP_REVISION", self.revision.clone()),
            ("ARGOCD_APP_REVISION_SHORT", short(7)),
            ("ARGOCD_APP_REVISION_SHORT_8", short(8)),
            ("ARGOCD_APP_SOURCE_REPO_URL", self.source_repo_url.clone()),
            ("ARGOCD_APP_SOURCE_PATH", self.source_path.clone()),
            (
                "ARGOCD_APP_SOURCE_TARGET_REVISION",
                self.source_target_revision.clone(),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }
}

/// Argo CD's `Envsubst` (Go's `os.Expand` over the build environment, `$$` kept as `$`):
/// `$NAME` and `${NAME}` become the variable's value, unknown names become empty.
pub fn argocd_envsubst(s: &str, env: &[(String, String)]) -> String {
    let lookup = |name: &str| -> String {
        if name == "$" {
            return "$".into();
        }
        // Argo CD builds a map from the list: the last entry of a name wins.
        env.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    go_os_expand(s, lookup)
}

/// Go's `os.Expand`.
fn go_os_expand(s: &str, mut mapping: impl FnMut(&str) -> String) -> String {
    let b = s.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    let mut j = 0;
    let mut touched = false;
    while j < b.len() {
        if b[j] == b'$' && j + 1 < b.len() {
            touched = true;
            out.push_str(&s[i..j]);
            let (name, w) = shell_name(&s[j + 1..]);
            if name.is_empty() && w > 0 {
                // bad syntax: the characters are dropped
            } else if name.is_empty() {
                out.push('$');
            } else {
                out.push_str(&mapping(name));
            }
            j += w;
            i = j + 1;
        }
        j += 1;
    }
    if !touched {
        return s.to_string();
    }
    out.push_str(s.get(i..).unwrap_or(""));
    out
}

fn is_shell_special(c: u8) -> bool {
    matches!(c, b'*' | b'#' | b'$' | b'@' | b'!' | b'?' | b'-' | b'0'..=b'9')
}

/// Go's `os.getShellName`: the name after a `$` and how many bytes it spans.
fn shell_name(s: &str) -> (&str, usize) {
    let b = s.as_bytes();
    if b[0] == b'{' {
        if b.len() > 2 && is_shell_special(b[1]) && b[2] == b'}' {
            return (&s[1..2], 3);
        }
        for (i, &c) in b.iter().enumerate().skip(1) {
            if c == b'}' {
                if i == 1 {
                    return ("", 2);
                }
                return (&s[1..i], i + 1);
            }
        }
        return ("", 1);
    }
    if is_shell_special(b[0]) {
        return (&s[0..1], 1);
    }
    let n = b
        .iter()
        .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
        .count();
    (&s[..n], n)
}

/// Argo CD's `cleanSetParameters`: a value in braces (a Helm list) is passed as is,
/// otherwise each comma not already preceded by a backslash is escaped.
pub fn argocd_clean_set_parameter(val: &str) -> String {
    if val.starts_with('{') && val.ends_with('}') {
        return val.to_string();
    }
    let mut out = String::with_capacity(val.len());
    let mut prev = '\0';
    for c in val.chars() {
        if c == ',' && prev != '\\' {
            out.push_str("\\,");
        } else {
            out.push(c);
        }
        prev = c;
    }
    out
}

/// The Helm flags Argo CD's repo server passes for an Application's parameters, as
/// [`SetOptions`] (`--set`, `--set-string`, `--set-file` arguments).
///
/// Argo CD collects `parameters` into two maps by name (`forceString` ones into the
/// `--set-string` map), so a later parameter of the same name replaces an earlier one;
/// the values go through [`argocd_envsubst`]; file parameters' paths go through
/// `resolve_path` (Argo CD substitutes the environment and resolves them against the
/// app's directory; a `$ref/...` path names another source) and are collected by name too.
/// Each becomes `name=` + [`argocd_clean_set_parameter`] of the value. Argo CD iterates
/// its Go maps in random order; here each list is in name order (only names that
/// overlap, `a` and `a.b`, could tell the difference).
pub fn argocd_set_options(
    parameters: &[ArgoHelmParameter],
    file_parameters: &[ArgoHelmFileParameter],
    env: &[(String, String)],
    resolve_path: &mut dyn FnMut(&str) -> Result<String, String>,
) -> Result<SetOptions, String> {
    use std::collections::BTreeMap;
    let mut set = BTreeMap::new();
    let mut set_string = BTreeMap::new();
    for p in parameters {
        if p.force_string {
            set_string.insert(p.name.clone(), p.value.clone());
        } else {
            set.insert(p.name.clone(), p.value.clone());
        }
    }
    let mut set_file = BTreeMap::new();
    for p in file_parameters {
        set_file.insert(p.name.clone(), resolve_path(&p.path)?);
    }
    let arg =
        |k: &String, v: &String| format!("{k}={}", argocd_clean_set_parameter(&argocd_envsubst(v, env)));
    Ok(SetOptions {
        values: set.iter().map(|(k, v)| arg(k, v)).collect(),
        string_values: set_string.iter().map(|(k, v)| arg(k, v)).collect(),
        file_values: set_file
            .iter()
            .map(|(k, v)| format!("{k}={}", argocd_clean_set_parameter(v)))
            .collect(),
        ..SetOptions::default()
    })
}

/// Applies an Application's Helm parameters to `base` (the values files and
/// `helm.values`/`valuesObject` already merged into it) as Argo CD's `helm template`
/// call would: [`argocd_set_options`], then Helm's [`merge_set_options`]. `resolve_path`
/// turns a file parameter's path into the path given to `--set-file`; `read_file` reads it.
pub fn apply_argocd_parameters(
    base: &GoMap,
    parameters: &[ArgoHelmParameter],
    file_parameters: &[ArgoHelmFileParameter],
    env: &[(String, String)],
    resolve_path: &mut dyn FnMut(&str) -> Result<String, String>,
    read_file: &mut dyn FnMut(&str) -> Result<String, String>,
) -> Result<(), String> {
    let opts = argocd_set_options(parameters, file_parameters, env, resolve_path)?;
    merge_set_options(&opts, base, read_file)
}

// ---------------------------------------------------------------------------------------
// The parser

enum Mode<'r, 'a> {
    Typed { force_string: bool },
    File(&'r mut FileReader<'a>),
    Json,
    Literal,
}

/// Why a parse step stopped.
enum Stop {
    /// The input ended (Go's `io.EOF`): the end of a well-formed line.
    Eof,
    /// The value is not a `{...}` list (Go's `ErrNotList`), internal.
    NotList,
    Msg(String),
    /// A failed Go type assertion: Go panics and the nearest `key` call recovers it.
    Panic(String),
}

impl Stop {
    fn text(&self) -> String {
        match self {
            Stop::Eof => "EOF".into(),
            Stop::NotList => "not a list".into(),
            Stop::Msg(s) => s.clone(),
            Stop::Panic(s) => format!("unable to parse key: {s}"),
        }
    }
}

type Step = Result<(), Stop>;

fn conversion_panic(v: &Value, want: &str) -> Stop {
    let have = match v {
        Value::Nil => "nil".to_string(),
        v => v.type_name(),
    };
    Stop::Panic(format!(
        "interface conversion: interface {{}} is {have}, not {want}"
    ))
}

const SLICE_TYPE: &str = "[]interface {}";
const MAP_TYPE: &str = "map[string]interface {}";

struct Parser<'s, 'r, 'a> {
    s: &'s str,
    pos: usize,
    prev: usize,
    mode: Mode<'r, 'a>,
}

impl<'s, 'r, 'a> Parser<'s, 'r, 'a> {
    fn new(s: &'s str, mode: Mode<'r, 'a>) -> Self {
        Parser {
            s,
            pos: 0,
            prev: 0,
            mode,
        }
    }

    fn literal(&self) -> bool {
        matches!(self.mode, Mode::Literal)
    }

    fn run(mut self, data: &GoMap) -> Result<(), String> {
        loop {
            match self.key(data, 0) {
                Ok(()) => continue,
                Err(Stop::Eof) => return Ok(()),
                Err(e) => return Err(e.text()),
            }
        }
    }

    fn read_rune(&mut self) -> Option<char> {
        let c = self.s.get(self.pos..)?.chars().next()?;
        self.prev = self.pos;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn unread_rune(&mut self) {
        self.pos = self.prev;
    }

    /// Reads up to one of `stop` (consumed and returned, `None` at the end of input); a
    /// backslash takes the next character literally except in literal mode.
    fn runes_until(&mut self, stop: &[char]) -> (String, Option<char>) {
        let literal = self.literal();
        let mut v = String::new();
        loop {
            let Some(r) = self.read_rune() else {
                return (v, None);
            };
            if stop.contains(&r) {
                return (v, Some(r));
            }
            if r == '\\' && !literal {
                let Some(next) = self.read_rune() else {
                    return (v, None);
                };
                v.push(next);
            } else {
                v.push(r);
            }
        }
    }

    fn read_value(&mut self, rs: &str) -> Result<Value, Stop> {
        match &mut self.mode {
            Mode::Typed { force_string } => Ok(typed_val(rs, *force_string)),
            Mode::File(reader) => reader(rs).map_err(Stop::Msg),
            // Helm never calls the reader of these parsers
            Mode::Json | Mode::Literal => Ok(Value::String(rs.to_string())),
        }
    }

    /// Helm's `parser.key`: one `name...=value` (or the rest of a nested name) into `data`.
    fn key(&mut self, data: &GoMap, level: usize) -> Step {
        let r = stacker::maybe_grow(64 * 1024, 1024 * 1024, || self.key_body(data, level));
        match r {
            Err(Stop::Panic(m)) => Err(Stop::Msg(format!("unable to parse key: {m}"))),
            r => r,
        }
    }

    fn key_body(&mut self, data: &GoMap, mut level: usize) -> Step {
        let stop: &[char] = if self.literal() {
            &['=', '[', '.']
        } else {
            &['=', '[', ',', '.']
        };
        let (k, last) = self.runes_until(stop);
        match last {
            None => {
                if k.is_empty() {
                    Err(Stop::Eof)
                } else {
                    Err(Stop::Msg(format!("key {} has no value", gofmt::quote(&k, false))))
                }
            }
            Some('[') => {
                let i = self
                    .key_index()
                    .map_err(|e| Stop::Msg(format!("error parsing index: {e}")))?;
                let list = match data.get(&k) {
                    None => Vec::new(),
                    Some(Value::Slice(l)) => (*l).clone(),
                    Some(v) => return Err(conversion_panic(&v, SLICE_TYPE)),
                };
                let (list, err) = self.list_item(list, i, level);
                if let Err(Stop::Panic(_)) = err {
                    return err;
                }
                set(data, &k, Value::Slice(Arc::new(list)));
                err
            }
            Some('=') => match self.mode {
                Mode::Json => {
                    if self.empty_val() {
                        set(data, &k, Value::Nil);
                        return Ok(());
                    }
                    let (v, n) = decode_json(&self.s[self.pos..]).map_err(Stop::Msg)?;
                    set(data, &k, v);
                    self.pos += n;
                    self.empty_val();
                    Ok(())
                }
                Mode::Literal => {
                    let value = self.literal_val();
                    set(data, &k, Value::String(value));
                    Ok(())
                }
                _ => match self.val_list() {
                    Ok(vl) => {
                        set(data, &k, Value::Slice(Arc::new(vl)));
                        Ok(())
                    }
                    Err(Stop::Eof) => {
                        set(data, &k, Value::from(""));
                        Err(Stop::Eof)
                    }
                    Err(Stop::NotList) => {
                        let rs = self.val();
                        match self.read_value(&rs) {
                            Ok(v) => {
                                set(data, &k, v);
                                Ok(())
                            }
                            Err(e) => {
                                set(data, &k, Value::Nil);
                                Err(e)
                            }
                        }
                    }
                    Err(e) => Err(e),
                },
            },
            Some(',') => {
                set(data, &k, Value::from(""));
                Err(Stop::Msg(format!(
                    "key {} has no value (cannot end with ,)",
                    gofmt::quote(&k, false)
                )))
            }
            Some(_) => {
                // '.'
                level += 1;
                if level > MAX_NESTED_NAME_LEVEL {
                    return Err(Stop::Msg(format!(
                        "value name nested level is greater than maximum supported nested level of {MAX_NESTED_NAME_LEVEL}"
                    )));
                }
                let inner = match data.get(&k) {
                    None => GoMap::default(),
                    Some(Value::Map(m)) => m,
                    Some(v) => return Err(conversion_panic(&v, MAP_TYPE)),
                };
                let e = self.key(&inner, level);
                if e.is_ok() && inner.is_empty() {
                    return Err(Stop::Msg(format!(
                        "key map {} has no value",
                        gofmt::quote(&k, false)
                    )));
                }
                if !inner.is_empty() {
                    set(data, &k, Value::Map(inner));
                }
                e
            }
        }
    }

    /// The index inside `[...]` (the `[` already read), as Go's `strconv.Atoi` reads it.
    fn key_index(&mut self) -> Result<i64, String> {
        let (v, last) = self.runes_until(&[']']);
        if last.is_none() {
            return Err("EOF".into());
        }
        go_atoi(&v)
    }

    /// Helm's `parser.listItem`: what follows `name[i]` (the `]` read), into `list`.
    /// Returns the list (changed or not) and how the step ended, as Go does.
    fn list_item(&mut self, list: Vec<Value>, i: i64, level: usize) -> (Vec<Value>, Step) {
        stacker::maybe_grow(64 * 1024, 1024 * 1024, || self.list_item_body(list, i, level))
    }

    fn list_item_body(&mut self, mut list: Vec<Value>, i: i64, level: usize) -> (Vec<Value>, Step) {
        if i < 0 {
            return (list, Err(Stop::Msg(format!("negative {i} index not allowed"))));
        }
        let (k, last) = self.runes_until(&['[', '.', '=']);
        if !k.is_empty() {
            return (
                list,
                Err(Stop::Msg(format!(
                    "unexpected data at end of array index: {}",
                    quote_runes(&k)
                ))),
            );
        }
        let Some(last) = last else {
            return (list, Err(Stop::Eof));
        };
        // `i` fits in usize here: it is non-negative and at most i64::MAX
        let iu = usize::try_from(i).unwrap_or(usize::MAX);
        match last {
            '=' => match self.mode {
                Mode::Json => {
                    if self.empty_val() {
                        return set_index(list, i, Value::Nil);
                    }
                    let (v, n) = match decode_json(&self.s[self.pos..]) {
                        Ok(x) => x,
                        Err(e) => return (list, Err(Stop::Msg(e))),
                    };
                    let (list, r) = set_index(list, i, v);
                    if r.is_err() {
                        return (list, r);
                    }
                    self.pos += n;
                    self.empty_val();
                    (list, Ok(()))
                }
                Mode::Literal => {
                    let value = self.literal_val();
                    set_index(list, i, Value::String(value))
                }
                _ => match self.val_list() {
                    Ok(vl) => set_index(list, i, Value::Slice(Arc::new(vl))),
                    Err(Stop::Eof) => set_index(list, i, Value::from("")),
                    Err(Stop::NotList) => {
                        let rs = self.val();
                        match self.read_value(&rs) {
                            Ok(v) => set_index(list, i, v),
                            Err(e) => (list, Err(e)),
                        }
                    }
                    Err(e) => (list, Err(e)),
                },
            },
            '[' => {
                let next = match self.key_index() {
                    Ok(n) => n,
                    Err(e) => return (list, Err(Stop::Msg(format!("error parsing index: {e}")))),
                };
                let current = match list.get(iu) {
                    None | Some(Value::Nil) => Vec::new(),
                    Some(Value::Slice(l)) => (**l).clone(),
                    Some(v) => {
                        let p = conversion_panic(v, SLICE_TYPE);
                        return (list, Err(p));
                    }
                };
                let (list2, r) = self.list_item(current, next, level);
                if r.is_err() {
                    return (list, r);
                }
                set_index(list, i, Value::Slice(Arc::new(list2)))
            }
            '.' => {
                let inner = match list.get(iu) {
                    None => GoMap::default(),
                    Some(Value::Map(m)) => m.clone(),
                    Some(_) => {
                        // indexes given out of order: the element becomes an empty map
                        let m = GoMap::default();
                        list[iu] = Value::Map(m.clone());
                        m
                    }
                };
                if let Err(e) = self.key(&inner, level) {
                    return (list, Err(e));
                }
                set_index(list, i, Value::Map(inner))
            }
            other => (
                Vec::new(),
                Err(Stop::Msg(format!(
                    "parse error: unexpected token {}",
                    other as u32
                ))),
            ),
        }
    }

    /// Skips blanks and one comma; true when the value is empty (a comma or the end
    /// follows), false (nothing but the blanks consumed) otherwise.
    fn empty_val(&mut self) -> bool {
        loop {
            let Some(r) = self.read_rune() else {
                return true;
            };
            if r == ',' {
                return true;
            }
            if !r.is_whitespace() {
                self.unread_rune();
                return false;
            }
        }
    }

    fn val(&mut self) -> String {
        self.runes_until(&[',']).0
    }

    /// A literal value: everything up to the end of the line.
    fn literal_val(&mut self) -> String {
        let v = self.s[self.pos..].to_string();
        self.pos = self.s.len();
        v
    }

    /// A `{a,b}` list value, or `NotList` (nothing consumed) or `Eof`.
    fn val_list(&mut self) -> Result<Vec<Value>, Stop> {
        let Some(r) = self.read_rune() else {
            return Err(Stop::Eof);
        };
        if r != '{' {
            self.unread_rune();
            return Err(Stop::NotList);
        }
        let mut list = Vec::new();
        loop {
            let (rs, last) = self.runes_until(&[',', '}']);
            match last {
                None => return Err(Stop::Msg("list must terminate with '}'".into())),
                Some('}') => {
                    if let Some(r) = self.read_rune()
                        && r != ','
                    {
                        self.unread_rune();
                    }
                    let v = self.read_value(&rs)?;
                    list.push(v);
                    return Ok(list);
                }
                Some(_) => {
                    let v = self.read_value(&rs)?;
                    list.push(v);
                }
            }
        }
    }
}

fn set(data: &GoMap, key: &str, val: Value) {
    if key.is_empty() {
        return;
    }
    data.insert(key, val);
}

/// Helm's `setIndex`: `list[index] = val`, growing the list with nils.
fn set_index(mut list: Vec<Value>, index: i64, val: Value) -> (Vec<Value>, Step) {
    if index < 0 {
        return (
            list,
            Err(Stop::Msg(format!("negative {index} index not allowed"))),
        );
    }
    if index > MAX_INDEX {
        return (
            list,
            Err(Stop::Msg(format!(
                "index of {index} is greater than maximum supported index of {MAX_INDEX}"
            ))),
        );
    }
    let i = index as usize;
    if list.len() <= i {
        list.resize(i + 1, Value::Nil);
    }
    list[i] = val;
    (list, Ok(()))
}

/// fmt's `%q` of a `[]rune`: each rune quoted, in brackets.
fn quote_runes(s: &str) -> String {
    let parts: Vec<String> = s
        .chars()
        .map(|c| match c {
            '"' => "'\"'".to_string(),
            '\'' => "'\\''".to_string(),
            c => {
                let q = gofmt::quote(&c.to_string(), false);
                format!("'{}'", &q[1..q.len() - 1])
            }
        })
        .collect();
    format!("[{}]", parts.join(" "))
}

/// Go's `strings.EqualFold` against an ASCII lowercase word (the folds that reach ASCII
/// letters: `ſ` is `s`, the Kelvin sign is `k`).
fn equal_fold_ascii(s: &str, word: &str) -> bool {
    let mut a = s.chars();
    for w in word.chars() {
        let Some(c) = a.next() else {
            return false;
        };
        let c = match c {
            'ſ' => 's',
            '\u{212A}' => 'k',
            c => c.to_ascii_lowercase(),
        };
        if c != w {
            return false;
        }
    }
    a.next().is_none()
}

/// Helm's `typedVal`: what a `--set` value becomes.
fn typed_val(val: &str, force_string: bool) -> Value {
    if force_string {
        return Value::from(val);
    }
    if equal_fold_ascii(val, "true") {
        return Value::Bool(true);
    }
    if equal_fold_ascii(val, "false") {
        return Value::Bool(false);
    }
    if equal_fold_ascii(val, "null") {
        return Value::Nil;
    }
    if val == "0" {
        return Value::Int64(0);
    }
    if !val.is_empty()
        && !val.starts_with('0')
        && let Ok(i) = parse_int10(val)
    {
        return Value::Int64(i);
    }
    Value::from(val)
}

enum IntErr {
    Syntax,
    Range,
}

/// Go's `strconv.ParseInt(s, 10, 64)`: an optional sign and decimal digits.
fn parse_int10(s: &str) -> Result<i64, IntErr> {
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(IntErr::Syntax);
    }
    let mut n: i128 = 0;
    for b in digits.bytes() {
        n = n * 10 + i128::from(b - b'0');
        if n > i128::from(i64::MAX) + 1 {
            return Err(IntErr::Range);
        }
    }
    let n = if neg { -n } else { n };
    i64::try_from(n).map_err(|_| IntErr::Range)
}

/// Go's `strconv.Atoi`, with its error texts.
fn go_atoi(s: &str) -> Result<i64, String> {
    parse_int10(s).map_err(|e| {
        let why = match e {
            IntErr::Syntax => "invalid syntax",
            IntErr::Range => "value out of range",
        };
        format!("strconv.Atoi: parsing {}: {why}", gofmt::quote(s, false))
    })
}

// ---------------------------------------------------------------------------------------
// One JSON value, as Go's json.Decoder reads it from the rest of a --set-json line

/// Decodes the JSON value at the start of `s` as `json.NewDecoder(..).Decode(&v)` does
/// into an `interface {}`: returns the value and the bytes it spans (the decoder's
/// `InputOffset`), or Go's error text. Like Go's decoder, a value may be followed by
/// anything (`1b` is the number 1, `b` left over).
pub fn decode_json(s: &str) -> Result<(Value, usize), String> {
    let mut d = JsonDec {
        b: s.as_bytes(),
        p: 0,
        depth: 0,
    };
    d.skip_ws();
    if d.p >= d.b.len() {
        return Err("EOF".into());
    }
    match d.value() {
        Ok(v) => {
            let end = d.p;
            d.check_numbers(&v)?;
            Ok((v.into_value(), end))
        }
        Err(JErr::Eof) => Err("unexpected EOF".into()),
        Err(JErr::Syntax(m)) => Err(m),
    }
}

enum JErr {
    Eof,
    Syntax(String),
}

/// A decoded value; numbers kept as their text until the syntax is known good (Go reports
/// a syntax error anywhere before a number it cannot convert).
enum JVal {
    Null,
    Bool(bool),
    Num(String),
    Str(String),
    Arr(Vec<JVal>),
    Obj(Vec<(String, JVal)>),
}

impl JVal {
    fn into_value(self) -> Value {
        match self {
            JVal::Null => Value::Nil,
            JVal::Bool(b) => Value::Bool(b),
            JVal::Num(n) => Value::Float(n.parse::<f64>().unwrap_or(f64::NAN)),
            JVal::Str(s) => Value::String(s),
            JVal::Arr(a) => Value::slice(a.into_iter().map(JVal::into_value)),
            JVal::Obj(o) => {
                let m = GoMap::default();
                for (k, v) in o {
                    m.insert(k, v.into_value());
                }
                Value::Map(m)
            }
        }
    }
}

fn json_quote_char(c: u8) -> String {
    match c {
        b'\'' => "'\\''".into(),
        b'"' => "'\"'".into(),
        c => {
            let q = gofmt::quote(&char::from(c).to_string(), false);
            format!("'{}'", &q[1..q.len() - 1])
        }
    }
}

struct JsonDec<'a> {
    b: &'a [u8],
    p: usize,
    depth: usize,
}

impl JsonDec<'_> {
    fn syntax(c: u8, ctx: &str) -> JErr {
        JErr::Syntax(format!("invalid character {} {ctx}", json_quote_char(c)))
    }

    fn skip_ws(&mut self) {
        while let Some(&c) = self.b.get(self.p) {
            if matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
                self.p += 1;
            } else {
                break;
            }
        }
    }

    fn next(&mut self) -> Result<u8, JErr> {
        let c = *self.b.get(self.p).ok_or(JErr::Eof)?;
        self.p += 1;
        Ok(c)
    }

    fn peek(&self) -> Result<u8, JErr> {
        self.b.get(self.p).copied().ok_or(JErr::Eof)
    }

    fn value(&mut self) -> Result<JVal, JErr> {
        stacker::maybe_grow(64 * 1024, 1024 * 1024, || self.value_body())
    }

    fn value_body(&mut self) -> Result<JVal, JErr> {
        self.skip_ws();
        let c = self.next()?;
        match c {
            b'{' | b'[' => {
                self.depth += 1;
                if self.depth > 10000 {
                    return Err(Self::syntax(c, "exceeded max depth"));
                }
                let v = if c == b'{' { self.object()? } else { self.array()? };
                self.depth -= 1;
                Ok(v)
            }
            b'"' => Ok(JVal::Str(self.string()?)),
            b'-' | b'0'..=b'9' => self.number(c),
            b't' => self.literal("true", JVal::Bool(true)),
            b'f' => self.literal("false", JVal::Bool(false)),
            b'n' => self.literal("null", JVal::Null),
            c => Err(Self::syntax(c, "looking for beginning of value")),
        }
    }

    fn literal(&mut self, word: &str, v: JVal) -> Result<JVal, JErr> {
        for &w in &word.as_bytes()[1..] {
            let c = self.next()?;
            if c != w {
                return Err(Self::syntax(
                    c,
                    &format!("in literal {word} (expecting {})", json_quote_char(w)),
                ));
            }
        }
        Ok(v)
    }

    fn object(&mut self) -> Result<JVal, JErr> {
        let mut out = Vec::new();
        self.skip_ws();
        if self.peek()? == b'}' {
            self.p += 1;
            return Ok(JVal::Obj(out));
        }
        loop {
            self.skip_ws();
            let c = self.next()?;
            if c != b'"' {
                return Err(Self::syntax(c, "looking for beginning of object key string"));
            }
            let k = self.string()?;
            self.skip_ws();
            let c = self.next()?;
            if c != b':' {
                return Err(Self::syntax(c, "after object key"));
            }
            let v = self.value()?;
            out.push((k, v));
            self.skip_ws();
            match self.next()? {
                b',' => continue,
                b'}' => return Ok(JVal::Obj(out)),
                c => return Err(Self::syntax(c, "after object key:value pair")),
            }
        }
    }

    fn array(&mut self) -> Result<JVal, JErr> {
        let mut out = Vec::new();
        self.skip_ws();
        if self.peek()? == b']' {
            self.p += 1;
            return Ok(JVal::Arr(out));
        }
        loop {
            out.push(self.value()?);
            self.skip_ws();
            match self.next()? {
                b',' => continue,
                b']' => return Ok(JVal::Arr(out)),
                c => return Err(Self::syntax(c, "after array element")),
            }
        }
    }

    fn hex4(&self, at: usize) -> Option<u32> {
        let h = self.b.get(at..at + 4)?;
        let s = std::str::from_utf8(h).ok()?;
        if !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        u32::from_str_radix(s, 16).ok()
    }

    /// A string's body (the opening quote read), unescaped as Go does (a lone surrogate
    /// becomes U+FFFD).
    fn string(&mut self) -> Result<String, JErr> {
        let start = self.p;
        // first the syntax, as Go's scanner checks it
        loop {
            let c = self.next()?;
            match c {
                b'"' => break,
                b'\\' => {
                    let e = self.next()?;
                    match e {
                        b'b' | b'f' | b'n' | b'r' | b't' | b'\\' | b'/' | b'"' => {}
                        b'u' => {
                            for _ in 0..4 {
                                let h = self.next()?;
                                if !h.is_ascii_hexdigit() {
                                    return Err(Self::syntax(h, "in \\u hexadecimal character escape"));
                                }
                            }
                        }
                        e => return Err(Self::syntax(e, "in string escape code")),
                    }
                }
                c if c < 0x20 => return Err(Self::syntax(c, "in string literal")),
                _ => {}
            }
        }
        let end = self.p - 1;
        let raw = &self.b[start..end];
        let mut out = String::new();
        let mut i = 0;
        while i < raw.len() {
            if raw[i] != b'\\' {
                // copy the run up to the next escape (valid UTF-8: the input is a str)
                let j = raw[i..]
                    .iter()
                    .position(|&b| b == b'\\')
                    .map_or(raw.len(), |p| i + p);
                out.push_str(&String::from_utf8_lossy(&raw[i..j]));
                i = j;
                continue;
            }
            let e = raw[i + 1];
            i += 2;
            match e {
                b'b' => out.push('\u{8}'),
                b'f' => out.push('\u{c}'),
                b'n' => out.push('\n'),
                b'r' => out.push('\r'),
                b't' => out.push('\t'),
                b'u' => {
                    let r = self.hex4(start + i).unwrap_or(0xFFFD);
                    i += 4;
                    if (0xD800..0xE000).contains(&r) {
                        let pair = if raw.get(i) == Some(&b'\\') && raw.get(i + 1) == Some(&b'u') {
                            self.hex4(start + i + 2)
                        } else {
                            None
                        };
                        if (0xD800..0xDC00).contains(&r)
                            && let Some(r2) = pair
                            && (0xDC00..0xE000).contains(&r2)
                        {
                            let c = 0x10000 + ((r - 0xD800) << 10) + (r2 - 0xDC00);
                            out.push(char::from_u32(c).unwrap_or('\u{FFFD}'));
                            i += 6;
                        } else {
                            out.push('\u{FFFD}');
                        }
                    } else {
                        out.push(char::from_u32(r).unwrap_or('\u{FFFD}'));
                    }
                }
                e => out.push(char::from(e)),
            }
        }
        Ok(out)
    }

    fn number(&mut self, first: u8) -> Result<JVal, JErr> {
        let start = self.p - 1;
        let digits = |d: &mut Self| {
            while matches!(d.b.get(d.p), Some(b'0'..=b'9')) {
                d.p += 1;
            }
        };
        let mut c = first;
        if c == b'-' {
            c = self.next()?;
            if !c.is_ascii_digit() {
                return Err(Self::syntax(c, "in numeric literal"));
            }
        }
        if c != b'0' {
            digits(self);
        }
        if self.b.get(self.p) == Some(&b'.') {
            self.p += 1;
            let c = self.next()?;
            if !c.is_ascii_digit() {
                return Err(Self::syntax(c, "after decimal point in numeric literal"));
            }
            digits(self);
        }
        if matches!(self.b.get(self.p), Some(b'e' | b'E')) {
            self.p += 1;
            let mut c = self.next()?;
            if c == b'+' || c == b'-' {
                c = self.next()?;
            }
            if !c.is_ascii_digit() {
                return Err(Self::syntax(c, "in exponent of numeric literal"));
            }
            digits(self);
        }
        let text = String::from_utf8_lossy(&self.b[start..self.p]).into_owned();
        Ok(JVal::Num(text))
    }

    /// Go converts numbers to float64 after the syntax check: the first one out of range
    /// is the error.
    fn check_numbers(&self, v: &JVal) -> Result<(), String> {
        match v {
            JVal::Num(n) => match n.parse::<f64>() {
                Ok(f) if f.is_finite() => Ok(()),
                _ => Err(format!(
                    "json: cannot unmarshal number {n} into Go value of type float64"
                )),
            },
            JVal::Arr(a) => a.iter().try_for_each(|x| self.check_numbers(x)),
            JVal::Obj(o) => o.iter().try_for_each(|(_, x)| self.check_numbers(x)),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atoi_errors() {
        assert_eq!(go_atoi("12"), Ok(12));
        assert_eq!(go_atoi("+12"), Ok(12));
        assert_eq!(go_atoi("-12"), Ok(-12));
        assert_eq!(go_atoi("-9223372036854775808"), Ok(i64::MIN));
        assert_eq!(
            go_atoi("9223372036854775808"),
            Err("strconv.Atoi: parsing \"9223372036854775808\": value out of range".into())
        );
        assert_eq!(
            go_atoi(""),
            Err("strconv.Atoi: parsing \"\": invalid syntax".into())
        );
        assert_eq!(
            go_atoi("-"),
            Err("strconv.Atoi: parsing \"-\": invalid syntax".into())
        );
        assert_eq!(
            go_atoi("1_0"),
            Err("strconv.Atoi: parsing \"1_0\": invalid syntax".into())
        );
    }

    #[test]
    fn os_expand() {
        let env = vec![
            ("A".to_string(), "x".to_string()),
            ("A".to_string(), "y".to_string()),
        ];
        assert_eq!(argocd_envsubst("$A-${A}", &env), "y-y");
        assert_eq!(argocd_envsubst("$$A", &env), "$A");
        assert_eq!(argocd_envsubst("a$", &env), "a$");
        assert_eq!(argocd_envsubst("${}b", &env), "b");
        assert_eq!(argocd_envsubst("${b", &env), "b");
        assert_eq!(argocd_envsubst("$B.c", &env), ".c");
        assert_eq!(argocd_envsubst("$ x", &env), "$ x");
        assert_eq!(argocd_envsubst("no dollar", &env), "no dollar");
        assert_eq!(argocd_envsubst("é$A", &env), "éy");
    }

    #[test]
    fn build_env() {
        let env = ArgoBuildEnv {
            app_name: "app".into(),
            revision: "0123456789abcdef".into(),
            ..Default::default()
        }
        .vars();
        assert_eq!(
            argocd_envsubst(
                "$ARGOCD_APP_REVISION_SHORT/${ARGOCD_APP_REVISION_SHORT_8}/$ARGOCD_APP_NAME",
                &env
            ),
            "0123456/01234567/app"
        );
        let short = ArgoBuildEnv {
            revision: "1.2.3".into(),
            ..Default::default()
        }
        .vars();
        assert_eq!(argocd_envsubst("$ARGOCD_APP_REVISION_SHORT", &short), "1.2.3");
    }

    #[test]
    fn clean_set_parameter() {
        assert_eq!(argocd_clean_set_parameter("a,b"), "a\\,b");
        assert_eq!(argocd_clean_set_parameter("a\\,b"), "a\\,b");
        assert_eq!(argocd_clean_set_parameter("{a,b}"), "{a,b}");
        assert_eq!(argocd_clean_set_parameter("{a,b"), "{a\\,b");
    }

    #[test]
    fn json_values() {
        let d = |s: &str| decode_json(s).map(|(v, n)| (format!("{v:?}"), n));
        assert_eq!(d("1b"), Ok(("Float(1.0)".into(), 1)));
        assert_eq!(d(" true,x"), Ok(("Bool(true)".into(), 5)));
        assert_eq!(
            d("\"a\\u00e9\\ud83d\\ude00\\ud800x\""),
            Ok(("String(\"aé😀\u{fffd}x\")".into(), 28))
        );
        assert_eq!(
            d("[1,]"),
            Err("invalid character ']' looking for beginning of value".into())
        );
        assert_eq!(
            d("{\"a\" 1}"),
            Err("invalid character '1' after object key".into())
        );
        assert_eq!(
            d("{\"a\":1 1}"),
            Err("invalid character '1' after object key:value pair".into())
        );
        assert_eq!(
            d("[1 2]"),
            Err("invalid character '2' after array element".into())
        );
        assert_eq!(
            d("{1}"),
            Err("invalid character '1' looking for beginning of object key string".into())
        );
        assert_eq!(
            d("tx"),
            Err("invalid character 'x' in literal true (expecting 'r')".into())
        );
        assert_eq!(d("-x"), Err("invalid character 'x' in numeric literal".into()));
        assert_eq!(
            d("1.x"),
            Err("invalid character 'x' after decimal point in numeric literal".into())
        );
        assert_eq!(
            d("1e+x"),
            Err("invalid character 'x' in exponent of numeric literal".into())
        );
        assert_eq!(
            d("1ex"),
            Err("invalid character 'x' in exponent of numeric literal".into())
        );
        assert_eq!(d("[01]"), Err("invalid character '1' after array element".into()));
        assert_eq!(d("1."), Err("unexpected EOF".into()));
        assert_eq!(
            d("\"\\x\""),
            Err("invalid character 'x' in string escape code".into())
        );
        assert_eq!(d("[1,2"), Err("unexpected EOF".into()));
        assert_eq!(
            d("é"),
            Err("invalid character 'Ã' looking for beginning of value".into())
        );
        assert_eq!(
            d("[1e400]"),
            Err("json: cannot unmarshal number 1e400 into Go value of type float64".into())
        );
        assert_eq!(d("01"), Ok(("Float(0.0)".into(), 1)));
        let deep = "[".repeat(10001);
        assert_eq!(d(&deep), Err("invalid character '[' exceeded max depth".into()));
    }

    #[test]
    fn quote_runes_like_fmt() {
        assert_eq!(quote_runes("ab"), "['a' 'b']");
        assert_eq!(quote_runes("'\""), "['\\'' '\"']");
        assert_eq!(quote_runes("\n"), "['\\n']");
    }
}
