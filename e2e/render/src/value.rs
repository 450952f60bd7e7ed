//! Go-like values: what a template sees as data.

use std::any::Any;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, RwLock, RwLockReadGuard};

/// A value as Go's text/template sees it. Maps have string keys and range in sorted key
/// order as Go's maps do; data decoded from JSON or YAML holds `Float` numbers (float64),
/// `Nil`, `Bool`, `String`, `Slice` (`[]interface {}`) and `Map` (`map[string]interface {}`).
#[derive(Clone)]
pub enum Value {
    /// A nil `interface {}`.
    Nil,
    Bool(bool),
    /// Go's `int`.
    Int(i64),
    /// Go's `int64`.
    Int64(i64),
    /// Go's `uint8` (`byte`): what `index` yields on a string.
    Uint8(u8),
    /// Go's `float64`.
    Float(f64),
    String(String),
    /// `[]interface {}`; shared, so reaching into data never copies it.
    Slice(Arc<Vec<Value>>),
    /// `map[string]interface {}`: a reference, as Go's maps are, so sprig's `set`,
    /// `unset` and `merge` change it for every holder.
    Map(GoMap),
    /// A Go function value (for `call`).
    Func(Function),
    /// A Go struct or pointer with fields and methods (`time.Time`, `*semver.Version`,
    /// sprig's certificates, Helm's `.Files` and `.Capabilities`).
    Object(Arc<dyn GoObject>),
}

/// Go's `map[string]interface {}`: shared and mutable through every clone, ranged in
/// sorted key order. Never hold a [`GoMap::read`] guard while changing the same map.
#[derive(Clone, Default)]
pub struct GoMap(Arc<RwLock<BTreeMap<String, Value>>>);

impl GoMap {
    pub fn new(m: BTreeMap<String, Value>) -> GoMap {
        GoMap(Arc::new(RwLock::new(m)))
    }
    /// A read guard over the entries.
    pub fn read(&self) -> RwLockReadGuard<'_, BTreeMap<String, Value>> {
        self.0.read().unwrap_or_else(|e| e.into_inner())
    }
    pub fn get(&self, k: &str) -> Option<Value> {
        self.read().get(k).cloned()
    }
    pub fn contains_key(&self, k: &str) -> bool {
        self.read().contains_key(k)
    }
    pub fn len(&self) -> usize {
        self.read().len()
    }
    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }
    /// Sets `k` (Go's `m[k] = v`) for every holder of the map.
    pub fn insert(&self, k: impl Into<String>, v: Value) -> Option<Value> {
        self.0
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(k.into(), v)
    }
    /// Deletes `k` (Go's `delete(m, k)`) for every holder of the map.
    pub fn remove(&self, k: &str) -> Option<Value> {
        self.0.write().unwrap_or_else(|e| e.into_inner()).remove(k)
    }
    /// A copy of the entries, in key order.
    pub fn entries(&self) -> Vec<(String, Value)> {
        self.read().iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }
    pub fn keys(&self) -> Vec<String> {
        self.read().keys().cloned().collect()
    }
    /// A copy of the map (shallow: nested maps stay shared).
    pub fn to_btree(&self) -> BTreeMap<String, Value> {
        self.read().clone()
    }
    /// Whether both are the same Go map.
    pub fn ptr_eq(&self, other: &GoMap) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl PartialEq for GoMap {
    fn eq(&self, other: &GoMap) -> bool {
        self.ptr_eq(other) || *self.read() == *other.read()
    }
}

impl fmt::Debug for GoMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.read().iter()).finish()
    }
}

/// A Go struct (or pointer to one) as a template sees it: exported fields, methods, and
/// how fmt and encoding/json print it.
pub trait GoObject: Send + Sync {
    /// Go's type name as `%T` prints it (`time.Time`, `*semver.Version`).
    fn type_name(&self) -> String;
    /// An exported field.
    fn field(&self, _name: &str) -> Option<Value> {
        None
    }
    /// A method bound to this receiver; a template calls it as `.Method arg...`.
    fn method(&self, _name: &str) -> Option<Function> {
        None
    }
    /// fmt's `%v` (the `String()` method where the type has one).
    fn format_v(&self) -> String;
    /// encoding/json's marshalling.
    fn to_json(&self) -> Result<serde_json::Value, String>;
    fn as_any(&self) -> &dyn Any;
    /// For a Go map type with methods (Helm's `.Files`): its entries, so `range`, `len`,
    /// `index` and truthiness treat it as the map it is.
    fn map_entries(&self) -> Option<Vec<(String, Value)>> {
        None
    }
}

impl Value {
    /// Go's type name as `%T` and error texts print it.
    pub fn type_name(&self) -> String {
        match self {
            Value::Nil => "<nil>".into(),
            Value::Bool(_) => "bool".into(),
            Value::Int(_) => "int".into(),
            Value::Int64(_) => "int64".into(),
            Value::Uint8(_) => "uint8".into(),
            Value::Float(_) => "float64".into(),
            Value::String(_) => "string".into(),
            Value::Slice(_) => "[]interface {}".into(),
            Value::Map(_) => "map[string]interface {}".into(),
            Value::Func(f) => f.type_name(),
            Value::Object(o) => o.type_name(),
        }
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// A map from `(key, value)` pairs.
    pub fn map<K: Into<String>>(pairs: impl IntoIterator<Item = (K, Value)>) -> Value {
        Value::Map(GoMap::new(
            pairs.into_iter().map(|(k, v)| (k.into(), v)).collect(),
        ))
    }

    /// A slice of the values.
    pub fn slice(items: impl IntoIterator<Item = Value>) -> Value {
        Value::Slice(Arc::new(items.into_iter().collect()))
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Nil => write!(f, "Nil"),
            Value::Bool(b) => write!(f, "Bool({b})"),
            Value::Int(i) => write!(f, "Int({i})"),
            Value::Int64(i) => write!(f, "Int64({i})"),
            Value::Uint8(u) => write!(f, "Uint8({u})"),
            Value::Float(x) => write!(f, "Float({x:?})"),
            Value::String(s) => write!(f, "String({s:?})"),
            Value::Slice(s) => f.debug_list().entries(s.iter()).finish(),
            Value::Map(m) => m.fmt(f),
            Value::Func(func) => write!(f, "Func({})", func.type_name()),
            Value::Object(o) => write!(f, "Object({}: {})", o.type_name(), o.format_v()),
        }
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Nil, Value::Nil) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Int(a), Value::Int(b)) | (Value::Int64(a), Value::Int64(b)) => a == b,
            (Value::Uint8(a), Value::Uint8(b)) => a == b,
            (Value::Float(a), Value::Float(b)) => a == b,
            (Value::String(a), Value::String(b)) => a == b,
            (Value::Slice(a), Value::Slice(b)) => Arc::ptr_eq(a, b) || a == b,
            (Value::Map(a), Value::Map(b)) => a == b,
            (Value::Func(a), Value::Func(b)) => Arc::ptr_eq(&a.call, &b.call),
            (Value::Object(a), Value::Object(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl From<&serde_json::Value> for Value {
    /// JSON numbers become float64, as `encoding/json` decodes them into `interface {}`.
    fn from(v: &serde_json::Value) -> Value {
        match v {
            serde_json::Value::Null => Value::Nil,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            serde_json::Value::String(s) => Value::String(s.clone()),
            serde_json::Value::Array(a) => Value::slice(a.iter().map(Value::from)),
            serde_json::Value::Object(o) => Value::map(o.iter().map(|(k, v)| (k.clone(), Value::from(v)))),
        }
    }
}

impl From<serde_json::Value> for Value {
    fn from(v: serde_json::Value) -> Value {
        Value::from(&v)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::String(s.to_string())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::String(s)
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}
impl From<i64> for Value {
    fn from(i: i64) -> Value {
        Value::Int(i)
    }
}
impl From<f64> for Value {
    fn from(f: f64) -> Value {
        Value::Float(f)
    }
}

/// The Go type of a function parameter, for the conversions and errors Go applies when a
/// template passes arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamType {
    /// `interface {}`: anything; a missing value arrives as `Nil`.
    Any,
    /// `reflect.Value`: anything, a missing value arrives as [`Arg::Missing`].
    Reflect,
    Int,
    Int64,
    Float,
    String,
    Bool,
    /// Go's `uint32`: an unsigned literal (truncated as reflect's SetUint does); the value
    /// arrives as `Int`.
    Uint32,
    /// A Go type by name (`time.Time`, `*semver.Version`, `[]interface {}`): a value whose
    /// [`Value::type_name`] is this. Pointer, slice and map types (`*...`, `[]...`,
    /// `map[...`) also take nil, as Go's nil-able kinds do.
    Named(&'static str),
    /// `map[string]interface {}` (sprig's dict functions): a missing value or `nil`
    /// arrives as `Nil`, Go's nil map.
    Map,
}

impl ParamType {
    /// Whether Go's type can be nil (pointers, slices, maps, interfaces).
    pub fn can_be_nil(self) -> bool {
        match self {
            ParamType::Any | ParamType::Reflect => true,
            ParamType::Named(n) => n.starts_with('*') || n.starts_with("[]") || n.starts_with("map["),
            _ => false,
        }
    }

    pub fn go_name(self) -> &'static str {
        match self {
            ParamType::Any => "interface {}",
            ParamType::Reflect => "reflect.Value",
            ParamType::Int => "int",
            ParamType::Int64 => "int64",
            ParamType::Float => "float64",
            ParamType::String => "string",
            ParamType::Bool => "bool",
            ParamType::Uint32 => "uint32",
            ParamType::Named(n) => n,
            ParamType::Map => "map[string]interface {}",
        }
    }
}

/// An argument as a function receives it.
#[derive(Clone, Debug)]
pub enum Arg {
    /// Go's invalid `reflect.Value` (a missing key, an untyped nil), only for
    /// [`ParamType::Reflect`] parameters.
    Missing,
    Value(Value),
    /// A value whose static type is `interface {}` (a map's or slice's element reached
    /// through a field), as a [`ParamType::Reflect`] parameter receives it. Go's `slice`
    /// tells it from a concrete value.
    Interface(Value),
}

impl Arg {
    /// The value, `Nil` for a missing one.
    pub fn value(&self) -> Value {
        match self {
            Arg::Missing => Value::Nil,
            Arg::Value(v) | Arg::Interface(v) => v.clone(),
        }
    }
}

/// What a function returns: a value (`Missing` for Go's invalid `reflect.Value`) or an
/// error text (Go's `error` result).
pub type FuncResult = Result<Arg, String>;

type Callable = dyn Fn(&[Arg]) -> FuncResult + Send + Sync;
type ContextCallable = dyn Fn(&crate::CallContext<'_>, &[Arg]) -> FuncResult + Send + Sync;

/// A Go function: its signature (parameters, whether the last is variadic, the result
/// type's name and whether it also returns an `error`) and the code.
#[derive(Clone)]
pub struct Function {
    pub params: Vec<ParamType>,
    pub variadic: bool,
    pub result: String,
    pub returns_error: bool,
    pub(crate) call: Arc<Callable>,
    pub(crate) ctx_call: Option<Arc<ContextCallable>>,
}

impl Function {
    /// A function of the given signature. With `variadic`, the last parameter type is the
    /// element type of the `...` parameter.
    pub fn new(
        params: Vec<ParamType>,
        variadic: bool,
        result: &str,
        returns_error: bool,
        f: impl Fn(&[Arg]) -> FuncResult + Send + Sync + 'static,
    ) -> Function {
        Function {
            params,
            variadic,
            result: result.to_string(),
            returns_error,
            call: Arc::new(f),
            ctx_call: None,
        }
    }

    /// A function that also sees the executing template set (for Helm's `include` and
    /// `tpl`). Called outside an execution (`call`), it fails.
    pub fn with_context(
        params: Vec<ParamType>,
        variadic: bool,
        result: &str,
        returns_error: bool,
        f: impl Fn(&crate::CallContext<'_>, &[Arg]) -> FuncResult + Send + Sync + 'static,
    ) -> Function {
        Function {
            params,
            variadic,
            result: result.to_string(),
            returns_error,
            call: Arc::new(|_| Err("this function needs an executing template".into())),
            ctx_call: Some(Arc::new(f)),
        }
    }

    pub fn call(&self, args: &[Arg]) -> FuncResult {
        (self.call)(args)
    }

    /// Go's type name, e.g. `func(int, ...string) (string, error)`.
    pub fn type_name(&self) -> String {
        let mut s = String::from("func(");
        for (i, p) in self.params.iter().enumerate() {
            if i > 0 {
                s.push_str(", ");
            }
            if self.variadic && i + 1 == self.params.len() {
                s.push_str("...");
            }
            s.push_str(p.go_name());
        }
        s.push(')');
        if self.returns_error {
            s.push_str(&format!(" ({}, error)", self.result));
        } else {
            s.push(' ');
            s.push_str(&self.result);
        }
        s
    }
}

/// Functions by name, as Go's `template.FuncMap`. As in Go, an entry overrides a builtin
/// of the same name (`and`, `or`, `eq`, `print`, ...).
pub type FuncMap = BTreeMap<String, Function>;
