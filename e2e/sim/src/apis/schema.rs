//! Structural schemas: one walker for built-in types (OpenAPI definitions generated from
//! k8s-openapi) and custom resources (a CRD's `openAPIV3Schema`).
//!
//! The walker validates, prunes unknown fields, applies `default`s, and answers the list and
//! map semantics (`x-kubernetes-list-type`, `x-kubernetes-patch-merge-key`, ...) that
//! strategic merge patch and server-side apply need.

use std::sync::LazyLock;

use serde_json::{Map, Value};

use crate::apimachinery::status::Cause;

static EMPTY_DEFS: LazyLock<Map<String, Value>> = LazyLock::new(Map::new);

pub const REF_PREFIX: &str = "#/components/schemas/";

/// A position in a schema, with the definitions its `$ref`s point into.
#[derive(Clone, Copy)]
pub struct Node<'a> {
    pub v: &'a Value,
    pub defs: &'a Map<String, Value>,
}

/// How a list merges (`x-kubernetes-list-type`).
#[derive(Clone, Debug, PartialEq)]
pub enum ListType {
    Atomic,
    Set,
    Map(Vec<String>),
}

impl<'a> Node<'a> {
    pub fn new(v: &'a Value, defs: &'a Map<String, Value>) -> Self {
        Node { v, defs }
    }

    /// A schema without shared definitions (a CRD schema).
    pub fn standalone(v: &'a Value) -> Self {
        Node { v, defs: &EMPTY_DEFS }
    }

    fn ref_target(&self) -> Option<&'a Value> {
        let r = self
            .v
            .get("$ref")
            .or_else(|| self.v.get("allOf")?.get(0)?.get("$ref"))?
            .as_str()?;
        self.defs.get(r.strip_prefix(REF_PREFIX)?)
    }

    /// Follows `$ref` (directly or through a one-element `allOf`).
    pub fn resolve(self) -> Node<'a> {
        let mut cur = self;
        for _ in 0..8 {
            match cur.ref_target() {
                Some(t) => cur = Node { v: t, defs: cur.defs },
                None => break,
            }
        }
        cur
    }

    fn ext(&self, key: &str) -> Option<&'a Value> {
        self.v.get(key).or_else(|| self.resolve().v.get(key))
    }

    pub fn type_name(&self) -> Option<&'a str> {
        self.resolve().v.get("type").and_then(Value::as_str)
    }

    pub fn definition_name(&self) -> Option<&'a str> {
        let r = self
            .v
            .get("$ref")
            .or_else(|| self.v.get("allOf")?.get(0)?.get("$ref"))?
            .as_str()?;
        r.strip_prefix(REF_PREFIX)
    }

    pub fn property(&self, name: &str) -> Option<Node<'a>> {
        let r = self.resolve();
        r.v.get("properties")?.get(name).map(|v| Node { v, defs: r.defs })
    }

    pub fn has_properties(&self) -> bool {
        self.resolve()
            .v
            .get("properties")
            .and_then(Value::as_object)
            .is_some_and(|m| !m.is_empty())
    }

    pub fn items(&self) -> Option<Node<'a>> {
        let r = self.resolve();
        r.v.get("items").map(|v| Node { v, defs: r.defs })
    }

    /// The schema of map values (`additionalProperties`), if this is a map.
    pub fn additional(&self) -> Option<Node<'a>> {
        let r = self.resolve();
        match r.v.get("additionalProperties") {
            Some(v @ Value::Object(_)) => Some(Node { v, defs: r.defs }),
            _ => None,
        }
    }

    pub fn flag(&self, key: &str) -> bool {
        self.ext(key).and_then(Value::as_bool).unwrap_or(false)
    }

    pub fn preserves_unknown(&self) -> bool {
        self.flag("x-kubernetes-preserve-unknown-fields")
    }

    pub fn int_or_string(&self) -> bool {
        self.flag("x-kubernetes-int-or-string")
    }

    pub fn embedded_resource(&self) -> bool {
        self.flag("x-kubernetes-embedded-resource")
    }

    pub fn list_type(&self) -> ListType {
        match self.ext("x-kubernetes-list-type").and_then(Value::as_str) {
            Some("set") => ListType::Set,
            Some("map") => ListType::Map(
                self.ext("x-kubernetes-list-map-keys")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(|k| k.as_str().map(str::to_string)).collect())
                    .unwrap_or_default(),
            ),
            _ => ListType::Atomic,
        }
    }

    pub fn map_atomic(&self) -> bool {
        matches!(
            self.ext("x-kubernetes-map-type").and_then(Value::as_str),
            Some("atomic")
        )
    }

    /// The strategic-merge key of a list, if its patch strategy is `merge`.
    pub fn patch_merge_key(&self) -> Option<&'a str> {
        self.ext("x-kubernetes-patch-merge-key").and_then(Value::as_str)
    }

    pub fn patch_strategy(&self) -> Option<&'a str> {
        self.ext("x-kubernetes-patch-strategy").and_then(Value::as_str)
    }

    /// Whether this object node is a struct with fixed fields (as opposed to a free map).
    pub fn is_struct(&self) -> bool {
        self.has_properties() || (self.additional().is_none() && !self.preserves_unknown())
    }
}

/// Whether values at this node are granular maps/structs (merged key by key).
pub fn is_object_like(node: Option<Node<'_>>) -> bool {
    match node {
        None => true,
        Some(n) => n.type_name() == Some("object") || n.has_properties() || n.additional().is_some(),
    }
}

/// What the walker does with type errors: built-in types fail JSON decoding (400), custom
/// resources fail schema validation (422 with causes).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Builtin,
    Custom,
}

/// The result of checking one object against its schema.
pub struct Checker {
    pub mode: Mode,
    /// Field errors (422 Invalid).
    pub causes: Vec<Cause>,
    /// The first JSON decoding error of a built-in type (400 BadRequest).
    pub decode_error: Option<String>,
    /// Paths of fields that were not in the schema and were dropped.
    pub unknown: Vec<String>,
    /// Apply schema `default`s to missing fields.
    pub apply_defaults: bool,
    /// Check `required` (off for the status of objects written through the main resource).
    pub check_required: bool,
}

fn join(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_string()
    } else {
        format!("{path}.{field}")
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn go_type(node: &Node<'_>) -> String {
    let r = node.resolve();
    if let Some(def) = node.definition_name() {
        let mut parts = def.rsplit('.');
        let name = parts.next().unwrap_or(def);
        let pkg = parts.next().unwrap_or("");
        return format!("{pkg}.{name}");
    }
    match (
        r.v.get("type").and_then(Value::as_str),
        r.v.get("format").and_then(Value::as_str),
    ) {
        (Some("integer"), Some(f)) => f.to_string(),
        (Some("integer"), None) => "int64".into(),
        (Some("number"), _) => "float64".into(),
        (Some("boolean"), _) => "bool".into(),
        (Some("string"), _) => "string".into(),
        (Some("array"), _) => format!(
            "[]{}",
            node.items()
                .map(|i| go_type(&i))
                .unwrap_or_else(|| "interface {}".into())
        ),
        (Some("object"), _) => "map[string]interface {}".into(),
        _ => "interface {}".into(),
    }
}

fn go_json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

impl Checker {
    pub fn new(mode: Mode) -> Self {
        Checker {
            mode,
            causes: Vec::new(),
            decode_error: None,
            unknown: Vec::new(),
            apply_defaults: mode == Mode::Custom,
            check_required: true,
        }
    }

    fn type_error(&mut self, value: &Value, node: &Node<'_>, path: &str, parent_struct: &str, want: &str) {
        match self.mode {
            Mode::Builtin => {
                if self.decode_error.is_none() {
                    self.decode_error = Some(format!(
                        "json: cannot unmarshal {} into Go struct field {}.{} of type {}",
                        go_json_kind(value),
                        parent_struct,
                        path,
                        go_type(node)
                    ));
                }
            }
            Mode::Custom => {
                let actual = json_type(value);
                self.causes.push(Cause::type_invalid(
                    path,
                    &Value::String(actual.into()),
                    format!("{path} in body must be of type {want}: {actual:?}"),
                ));
            }
        }
    }

    /// Walks `value` against `node`. `parent_struct` names the Go struct holding the field,
    /// for decode errors of built-in types.
    pub fn walk(&mut self, value: &mut Value, node: Node<'_>, path: &str, parent_struct: &str) {
        let r = node.resolve();
        if value.is_null() {
            // Go decoding leaves null fields unset; structural schemas reject null unless nullable.
            if self.mode == Mode::Custom && !r.flag("nullable") && r.v.get("type").is_some() {
                let want = r.v.get("type").and_then(Value::as_str).unwrap_or("object");
                self.type_error(value, &node, path, parent_struct, want);
            }
            return;
        }
        if r.int_or_string() || node.int_or_string() {
            if !(value.is_string()
                || value.is_i64()
                || value.is_u64()
                || (value.is_number() && self.mode == Mode::Builtin))
            {
                match self.mode {
                    Mode::Builtin => self.type_error(value, &node, path, parent_struct, "string"),
                    Mode::Custom => self.causes.push(Cause::type_invalid(
                        path,
                        &Value::String(json_type(value).into()),
                        format!(
                            "{path} in body must be of type integer,string: {:?}",
                            json_type(value)
                        ),
                    )),
                }
            }
            return;
        }
        let ty = r.v.get("type").and_then(Value::as_str);
        match ty {
            Some("object") | None if value.is_object() => {
                self.walk_object(value, node, path, parent_struct);
            }
            Some("object") => self.type_error(value, &node, path, parent_struct, "object"),
            Some("array") => {
                let Some(items) = value.as_array_mut() else {
                    return self.type_error(value, &node, path, parent_struct, "array");
                };
                if let Some(item_schema) = node.items() {
                    for (i, item) in items.iter_mut().enumerate() {
                        self.walk(item, item_schema, &format!("{path}[{i}]"), parent_struct);
                    }
                }
                self.check_array(value, &node, path);
            }
            Some("string") => {
                if !value.is_string() {
                    return self.type_error(value, &node, path, parent_struct, "string");
                }
                self.check_scalar(value, &node, path);
            }
            Some("integer") => {
                let ok = value.is_i64()
                    || value.is_u64()
                    || value
                        .as_f64()
                        .is_some_and(|f| f.fract() == 0.0 && self.mode == Mode::Custom);
                if !ok {
                    return self.type_error(value, &node, path, parent_struct, "integer");
                }
                self.check_scalar(value, &node, path);
            }
            Some("number") => {
                if !value.is_number() {
                    return self.type_error(value, &node, path, parent_struct, "number");
                }
                self.check_scalar(value, &node, path);
            }
            Some("boolean") => {
                if !value.is_boolean() {
                    return self.type_error(value, &node, path, parent_struct, "boolean");
                }
                self.check_scalar(value, &node, path);
            }
            _ => {}
        }
    }

    fn walk_object(&mut self, value: &mut Value, node: Node<'_>, path: &str, parent_struct: &str) {
        let r = node.resolve();
        let struct_name = node
            .definition_name()
            .map(|d| d.rsplit('.').next().unwrap_or(d).to_string())
            .unwrap_or_else(|| parent_struct.to_string());
        let props = r.v.get("properties").and_then(Value::as_object);
        let additional = node.additional();
        let preserve = r.preserves_unknown() || node.preserves_unknown();
        let embedded = r.embedded_resource() || node.embedded_resource();
        let map = value.as_object_mut().expect("checked object");

        // defaults for missing properties
        if self.apply_defaults
            && let Some(props) = props
        {
            for (k, p) in props {
                if !map.contains_key(k)
                    && let Some(d) = p.get("default")
                {
                    map.insert(k.clone(), d.clone());
                }
            }
        }

        let keys: Vec<String> = map.keys().cloned().collect();
        for k in keys {
            let child_path = join(path, &k);
            if let Some(p) = props.and_then(|p| p.get(&k)) {
                let child = Node { v: p, defs: r.defs };
                let v = map.get_mut(&k).expect("key listed");
                self.walk(v, child, &child_path, &struct_name);
            } else if let Some(a) = additional {
                let v = map.get_mut(&k).expect("key listed");
                self.walk(v, a, &child_path, &struct_name);
            } else if embedded && matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
                // embedded resources keep their type meta and metadata
            } else if preserve
                || (props.is_none()
                    && additional.is_none()
                    && (r.v.get("type").is_none() || self.mode == Mode::Builtin))
            {
                // free-form: untyped, or an opaque built-in type (FieldsV1, RawExtension, JSON)
            } else if r.v.get("additionalProperties").and_then(Value::as_bool) == Some(true) {
            } else {
                self.unknown.push(child_path);
                map.remove(&k);
            }
        }

        if self.check_required
            && let Some(req) = r.v.get("required").and_then(Value::as_array)
        {
            for f in req.iter().filter_map(Value::as_str) {
                // type and object meta are checked apart from the schema (CRDs such as
                // Argo CD's list them as required at the root)
                let meta = path.is_empty() && matches!(f, "metadata" | "apiVersion" | "kind");
                if !meta && !map.contains_key(f) {
                    self.causes.push(Cause::required(join(path, f)));
                }
            }
        }
        if self.mode == Mode::Custom {
            let n = map.len() as u64;
            if let Some(max) = r.v.get("maxProperties").and_then(Value::as_u64)
                && n > max
            {
                self.causes.push(Cause::new(
                    "FieldValueTooMany",
                    path,
                    format!("Too many: {n}: must have at most {max} items"),
                ));
            }
            if let Some(min) = r.v.get("minProperties").and_then(Value::as_u64)
                && n < min
            {
                self.causes.push(Cause::invalid(
                    path,
                    &Value::from(n),
                    format!("{path} in body should have at least {min} properties"),
                ));
            }
        }
    }

    fn check_array(&mut self, value: &Value, node: &Node<'_>, path: &str) {
        if self.mode != Mode::Custom {
            return;
        }
        let r = node.resolve();
        let n = value.as_array().map(Vec::len).unwrap_or(0) as u64;
        if let Some(max) = r.v.get("maxItems").and_then(Value::as_u64)
            && n > max
        {
            self.causes.push(Cause::new(
                "FieldValueTooMany",
                path,
                format!("Too many: {n}: must have at most {max} items"),
            ));
        }
        if let Some(min) = r.v.get("minItems").and_then(Value::as_u64)
            && n < min
        {
            self.causes.push(Cause::invalid(
                path,
                value,
                format!("{path} in body should have at least {min} items"),
            ));
        }
        let items = value.as_array().expect("array");
        match node.list_type() {
            ListType::Set => {
                for (i, a) in items.iter().enumerate() {
                    if items[..i].contains(a) {
                        self.causes.push(Cause::new(
                            "FieldValueDuplicate",
                            format!("{path}[{i}]"),
                            format!("Duplicate value: {a}"),
                        ));
                    }
                }
            }
            ListType::Map(keys) => {
                for (i, a) in items.iter().enumerate() {
                    let ka: Vec<Option<&Value>> = keys.iter().map(|k| a.get(k)).collect();
                    if items[..i]
                        .iter()
                        .any(|b| keys.iter().map(|k| b.get(k)).collect::<Vec<_>>() == ka)
                    {
                        let shown: Vec<String> = keys
                            .iter()
                            .zip(&ka)
                            .map(|(k, v)| {
                                format!(
                                    "\"{k}\":{}",
                                    v.map(Value::to_string).unwrap_or_else(|| "null".into())
                                )
                            })
                            .collect();
                        self.causes.push(Cause::new(
                            "FieldValueDuplicate",
                            format!("{path}[{i}]"),
                            format!(
                                "Duplicate value: map[string]interface {{}}{{{}}}",
                                shown.join(", ")
                            ),
                        ));
                    }
                }
            }
            ListType::Atomic => {}
        }
    }

    fn check_scalar(&mut self, value: &Value, node: &Node<'_>, path: &str) {
        if self.mode != Mode::Custom {
            return;
        }
        let r = node.resolve();
        if let Some(en) = r.v.get("enum").and_then(Value::as_array)
            && !en.contains(value)
        {
            let supported: Vec<String> = en
                .iter()
                .map(|v| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()))
                .collect();
            self.causes.push(Cause::not_supported(path, value, &supported));
        }
        if let Some(s) = value.as_str() {
            let len = s.chars().count() as u64;
            if let Some(max) = r.v.get("maxLength").and_then(Value::as_u64)
                && len > max
            {
                self.causes.push(Cause::new(
                    "FieldValueTooLong",
                    path,
                    format!("Too long: may not be more than {max} bytes"),
                ));
            }
            if let Some(min) = r.v.get("minLength").and_then(Value::as_u64)
                && len < min
            {
                self.causes.push(Cause::invalid(
                    path,
                    value,
                    format!("{path} in body should be at least {min} chars long"),
                ));
            }
            if let Some(p) = r.v.get("pattern").and_then(Value::as_str) {
                match regex_lite::Regex::new(p) {
                    Ok(re) if !re.is_match(s) => {
                        self.causes.push(Cause::invalid(
                            path,
                            value,
                            format!("{path} in body should match '{p}'"),
                        ));
                    }
                    _ => {}
                }
            }
        }
        if let Some(f) = value.as_f64() {
            let excl_min =
                r.v.get("exclusiveMinimum")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
            let excl_max =
                r.v.get("exclusiveMaximum")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
            if let Some(min) = r.v.get("minimum").and_then(Value::as_f64) {
                let bad = if excl_min { f <= min } else { f < min };
                if bad {
                    let rel = if excl_min {
                        "greater than"
                    } else {
                        "greater than or equal to"
                    };
                    self.causes.push(Cause::invalid(
                        path,
                        value,
                        format!("{path} in body should be {rel} {}", fmt_num(min)),
                    ));
                }
            }
            if let Some(max) = r.v.get("maximum").and_then(Value::as_f64) {
                let bad = if excl_max { f >= max } else { f > max };
                if bad {
                    let rel = if excl_max {
                        "less than"
                    } else {
                        "less than or equal to"
                    };
                    self.causes.push(Cause::invalid(
                        path,
                        value,
                        format!("{path} in body should be {rel} {}", fmt_num(max)),
                    ));
                }
            }
        }
    }
}

fn fmt_num(f: f64) -> String {
    if f.fract() == 0.0 {
        format!("{}", f as i64)
    } else {
        f.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(schema: Value, mut v: Value) -> Vec<String> {
        let mut c = Checker::new(Mode::Custom);
        c.walk(&mut v, Node::standalone(&schema), "spec", "Widget");
        c.causes.iter().map(Cause::render).collect()
    }

    #[test]
    fn nullable_and_null() {
        let s = json!({"type": "object", "properties": {"a": {"type": "string", "nullable": true}, "b": {"type": "string"}}});
        assert!(check(s.clone(), json!({"a": null})).is_empty());
        assert_eq!(
            check(s, json!({"b": null})),
            vec!["spec.b: Invalid value: \"null\": spec.b in body must be of type string: \"null\""]
        );
    }

    #[test]
    fn lengths_and_counts() {
        let s = json!({"type": "object", "properties": {
            "s": {"type": "string", "maxLength": 3, "minLength": 2},
            "l": {"type": "array", "items": {"type": "integer"}, "maxItems": 2, "minItems": 1},
            "n": {"type": "number", "minimum": 0, "exclusiveMinimum": true},
        }});
        assert_eq!(
            check(s.clone(), json!({"s": "long", "l": [1, 2, 3], "n": 0})),
            vec![
                "spec.s: Too long: may not be more than 3 bytes",
                "spec.l: Too many: 3: must have at most 2 items",
                "spec.n: Invalid value: 0: spec.n in body should be greater than 0",
            ]
        );
        assert_eq!(
            check(s.clone(), json!({"s": "x"})),
            vec!["spec.s: Invalid value: \"x\": spec.s in body should be at least 2 chars long"]
        );
        assert_eq!(
            check(s, json!({"l": []})),
            vec!["spec.l: Invalid value: []interface {}{}: spec.l in body should have at least 1 items"]
        );
    }

    #[test]
    fn unknown_fields_are_pruned_unless_preserved() {
        let s = json!({"type": "object", "properties": {"known": {"type": "string"}, "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}});
        let mut v = json!({"known": "x", "extra": 1, "free": {"any": {"thing": 1}}});
        let mut c = Checker::new(Mode::Custom);
        c.walk(&mut v, Node::standalone(&s), "spec", "Widget");
        assert_eq!(c.unknown, vec!["spec.extra"]);
        assert_eq!(v, json!({"known": "x", "free": {"any": {"thing": 1}}}));
    }
}
