//! TOML as Helm 3.17's toToml and fromToml see it: BurntSushi/toml v1.4.0's encoder
//! (sorted keys, values before sub-tables, tables indented two spaces a level, arrays of
//! tables, inline tables inside arrays, its error texts) and a decoder into
//! `map[string]interface {}` (integers int64, floats float64).
//!
//! Where v1.4.0 differs from Debian's v1.2.0 (the oracle's): infinities are written
//! `inf`/`-inf` (1.2.0: `+inf`/`-inf`), a top-level scalar or plain array is written as a
//! bare value (1.2.0: "toml: top-level values must be Go maps or structs").
//!
//! The decoder reads documents with toml_edit; its error texts are toml_edit's (prefixed
//! `toml: line N: `), not BurntSushi's. Datetimes decode to a `time.Time` ([`TomlTime`])
//! printed, encoded to JSON and to TOML as Go prints BurntSushi's values.

use std::any::Any;
use std::sync::Arc;

use crate::gojson::format_float;
use crate::value::{GoMap, GoObject, Value};

/// Which of TOML's four datetime forms (BurntSushi marks the local ones with named
/// locations: `datetime-local`, `date-local`, `time-local`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TomlTimeKind {
    /// With an offset (minutes east of UTC; `Z` is UTC).
    Offset {
        minutes: i32,
        utc: bool,
    },
    LocalDatetime,
    LocalDate,
    LocalTime,
}

/// A TOML datetime as BurntSushi/toml decodes it: a Go `time.Time`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TomlTime {
    pub year: i32,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub nanosecond: u32,
    pub kind: TomlTimeKind,
}

impl TomlTime {
    fn frac(&self) -> String {
        if self.nanosecond == 0 {
            return String::new();
        }
        let s = format!(".{:09}", self.nanosecond);
        s.trim_end_matches('0').to_string()
    }
    fn offset_minutes(&self) -> i32 {
        match self.kind {
            TomlTimeKind::Offset { minutes, .. } => minutes,
            _ => 0,
        }
    }
    fn numeric_offset(&self, colon: bool) -> String {
        let m = self.offset_minutes();
        let sign = if m < 0 { '-' } else { '+' };
        let a = m.unsigned_abs();
        if colon {
            format!("{sign}{:02}:{:02}", a / 60, a % 60)
        } else {
            format!("{sign}{:02}{:02}", a / 60, a % 60)
        }
    }
    fn date(&self) -> String {
        format!("{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
    fn clock(&self) -> String {
        format!(
            "{:02}:{:02}:{:02}{}",
            self.hour,
            self.minute,
            self.second,
            self.frac()
        )
    }
    /// time.RFC3339Nano, as encoding/json writes a `time.Time`.
    pub fn rfc3339_nano(&self) -> String {
        let zone = match self.kind {
            TomlTimeKind::Offset { minutes, .. } if minutes != 0 => self.numeric_offset(true),
            _ => "Z".to_string(),
        };
        format!("{}T{}{zone}", self.date(), self.clock())
    }
    /// How BurntSushi's encoder writes it.
    pub fn toml(&self) -> String {
        match self.kind {
            TomlTimeKind::LocalDatetime => format!("{}T{}", self.date(), self.clock()),
            TomlTimeKind::LocalDate => self.date(),
            TomlTimeKind::LocalTime => self.clock(),
            TomlTimeKind::Offset { .. } => self.rfc3339_nano(),
        }
    }
}

impl GoObject for TomlTime {
    fn type_name(&self) -> String {
        "time.Time".into()
    }
    /// time.Time's String: `2006-01-02 15:04:05.999999999 -0700 MST`.
    fn format_v(&self) -> String {
        let zone = match self.kind {
            TomlTimeKind::Offset { utc: true, .. } => "UTC".to_string(),
            TomlTimeKind::Offset { .. } => self.numeric_offset(false),
            TomlTimeKind::LocalDatetime => "datetime-local".into(),
            TomlTimeKind::LocalDate => "date-local".into(),
            TomlTimeKind::LocalTime => "time-local".into(),
        };
        format!(
            "{} {} {} {zone}",
            self.date(),
            self.clock(),
            self.numeric_offset(false)
        )
    }
    fn to_json(&self) -> Result<serde_json::Value, String> {
        Ok(serde_json::Value::String(self.rfc3339_nano()))
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

fn toml_time(v: &Value) -> Option<&TomlTime> {
    match v {
        Value::Object(o) => o.as_any().downcast_ref::<TomlTime>(),
        _ => None,
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum TType {
    Integer,
    Float,
    String,
    Bool,
    Array,
    Hash,
    ArrayHash,
}

const ERR_NIL_ELEMENT: &str = "toml: cannot encode array with nil element";
const ERR_NO_KEY: &str = "toml: top-level values must be Go maps or structs";

fn object_value(v: &Value) -> Result<Value, String> {
    match v {
        Value::Object(_) if toml_time(v).is_some() => Ok(v.clone()),
        Value::Object(o) => Ok(Value::from(o.to_json()?)),
        v => Ok(v.clone()),
    }
}

/// `tomlTypeOfGo` (None for nil).
fn ttype(v: &Value) -> Result<Option<TType>, String> {
    crate::gojson::deep(|| ttype_inner(v))
}

fn ttype_inner(v: &Value) -> Result<Option<TType>, String> {
    Ok(Some(match v {
        Value::Nil => return Ok(None),
        Value::Bool(_) => TType::Bool,
        Value::Int(_) | Value::Int64(_) | Value::Uint8(_) => TType::Integer,
        Value::Float(_) => TType::Float,
        Value::String(_) => TType::String,
        Value::Slice(items) => {
            if is_table_array(items)? {
                TType::ArrayHash
            } else {
                TType::Array
            }
        }
        Value::Object(_) if toml_time(v).is_some() => TType::String,
        Value::Map(_) | Value::Object(_) => TType::Hash,
        Value::Func(_) => return Err("unsupported type: func".into()),
    }))
}

fn is_table_array(items: &[Value]) -> Result<bool, String> {
    if items.is_empty() {
        return Ok(false);
    }
    let mut all = true;
    for e in items {
        match ttype(e)? {
            None => return Err(ERR_NIL_ELEMENT.into()),
            Some(t) => {
                if t != TType::Hash {
                    all = false;
                }
            }
        }
    }
    Ok(all)
}

fn is_table(t: Option<TType>) -> bool {
    matches!(t, Some(TType::Hash | TType::ArrayHash))
}

fn bare(k: &str) -> bool {
    k.chars()
        .all(|r| r.is_ascii_alphanumeric() || r == '_' || r == '-')
}

fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn maybe_quoted(k: &str) -> String {
    if k.is_empty() {
        "\"\"".into()
    } else if bare(k) {
        k.to_string()
    } else {
        quote(k)
    }
}

fn key_string(key: &[String]) -> String {
    key.iter().map(|k| maybe_quoted(k)).collect::<Vec<_>>().join(".")
}

struct Enc {
    out: String,
    written: bool,
}

impl Enc {
    fn wf(&mut self, s: &str) {
        self.out.push_str(s);
        self.written = true;
    }
    fn newline(&mut self) {
        if self.written {
            self.wf("\n");
        }
    }
    fn indent(key: &[String]) -> String {
        "  ".repeat(key.len().saturating_sub(1))
    }

    fn encode(&mut self, key: &[String], v: &Value) -> Result<(), String> {
        crate::gojson::deep(|| self.encode_inner(key, v))
    }

    fn encode_inner(&mut self, key: &[String], v: &Value) -> Result<(), String> {
        let v = object_value(v)?;
        match &v {
            Value::Nil => Ok(()),
            Value::Bool(_)
            | Value::Int(_)
            | Value::Int64(_)
            | Value::Uint8(_)
            | Value::Float(_)
            | Value::String(_) => self.write_key_value(key, &v, false),
            Value::Slice(items) => {
                if ttype(&v)? == Some(TType::ArrayHash) {
                    self.array_of_tables(key, items)
                } else {
                    self.write_key_value(key, &v, false)
                }
            }
            Value::Map(m) => self.table(key, m),
            Value::Func(_) => Err(format!("unsupported type for key '{}': func", key_string(key))),
            Value::Object(_) => self.write_key_value(key, &v, false),
        }
    }

    fn write_key_value(&mut self, key: &[String], v: &Value, inline: bool) -> Result<(), String> {
        let Some(last) = key.last() else {
            return self.element(v);
        };
        let head = format!("{}{} = ", Self::indent(key), maybe_quoted(last));
        self.wf(&head);
        self.element(v)?;
        if !inline {
            self.newline();
        }
        Ok(())
    }

    fn element(&mut self, v: &Value) -> Result<(), String> {
        crate::gojson::deep(|| self.element_inner(v))
    }

    fn element_inner(&mut self, v: &Value) -> Result<(), String> {
        let v = object_value(v)?;
        match &v {
            Value::String(s) => self.wf(&quote(s)),
            Value::Bool(b) => self.wf(if *b { "true" } else { "false" }),
            Value::Int(i) | Value::Int64(i) => self.wf(&i.to_string()),
            Value::Uint8(u) => self.wf(&u.to_string()),
            Value::Float(f) => {
                let s = if f.is_nan() {
                    "nan".to_string()
                } else if f.is_infinite() {
                    if *f < 0.0 { "-inf" } else { "inf" }.to_string()
                } else {
                    let s = format_float(*f, 'f', false);
                    if s.contains('.') { s } else { s + ".0" }
                };
                self.wf(&s)
            }
            Value::Slice(items) => {
                self.wf("[");
                for (i, e) in items.iter().enumerate() {
                    self.element(e)?;
                    if i + 1 != items.len() {
                        self.wf(", ");
                    }
                }
                self.wf("]");
            }
            Value::Map(m) => self.map(&[], m, true)?,
            Value::Func(f) => {
                return Err(format!(
                    "unexpected type: {}",
                    f.type_name().replace("interface {}", "any")
                ));
            }
            Value::Nil => return Err("reflect: call of reflect.Value.Type on zero Value".into()),
            Value::Object(_) => {
                if let Some(t) = toml_time(&v) {
                    self.wf(&t.toml());
                }
            }
        }
        Ok(())
    }

    fn array_of_tables(&mut self, key: &[String], items: &[Value]) -> Result<(), String> {
        if key.is_empty() {
            return Err(ERR_NO_KEY.into());
        }
        for item in items {
            let item = object_value(item)?;
            let Value::Map(m) = &item else { continue };
            self.newline();
            let head = format!("{}[[{}]]", Self::indent(key), key_string(key));
            self.wf(&head);
            self.newline();
            self.map(key, m, false)?;
        }
        Ok(())
    }

    fn table(&mut self, key: &[String], m: &GoMap) -> Result<(), String> {
        if key.len() == 1 {
            self.newline();
        }
        if !key.is_empty() {
            let head = format!("{}[{}]", Self::indent(key), key_string(key));
            self.wf(&head);
            self.newline();
        }
        self.map(key, m, false)
    }

    fn map(&mut self, key: &[String], m: &GoMap, inline: bool) -> Result<(), String> {
        let entries = m.entries();
        let mut direct = Vec::new();
        let mut sub = Vec::new();
        for (k, v) in &entries {
            if is_table(ttype(&object_value(v)?)?) {
                sub.push((k, v));
            } else {
                direct.push((k, v));
            }
        }
        if inline {
            self.wf("{");
        }
        let trail = !sub.is_empty();
        for (list, trail_c) in [(&direct, trail), (&sub, false)] {
            for (i, (k, v)) in list.iter().enumerate() {
                if matches!(v, Value::Nil) {
                    continue;
                }
                let mut kk = key.to_vec();
                kk.push((*k).clone());
                if inline {
                    self.write_key_value(&[(*k).clone()], v, true)?;
                    if trail_c || i + 1 != list.len() {
                        self.wf(", ");
                    }
                } else {
                    self.encode(&kk, v)?;
                }
            }
        }
        if inline {
            self.wf("}");
        }
        Ok(())
    }
}

/// `toml.NewEncoder(w).Encode(v)` (v1.4.0): the TOML text, or the encoder's error text.
pub fn marshal(v: &Value) -> Result<String, String> {
    let mut e = Enc {
        out: String::new(),
        written: false,
    };
    if matches!(v, Value::Nil) {
        // reflect.ValueOf(nil): the encoder's marshaler check panics on the zero Value
        return Err("reflect: call of reflect.Value.Type on zero Value".into());
    }
    e.encode(&[], v)?;
    Ok(e.out)
}

fn from_item(item: &toml_edit::Item) -> Value {
    match item {
        toml_edit::Item::None => Value::Nil,
        toml_edit::Item::Value(v) => from_value(v),
        toml_edit::Item::Table(t) => Value::map(
            t.iter()
                .map(|(k, v)| (k.to_string(), from_item(v)))
                .collect::<Vec<_>>(),
        ),
        toml_edit::Item::ArrayOfTables(a) => Value::slice(
            a.iter()
                .map(|t| {
                    Value::map(
                        t.iter()
                            .map(|(k, v)| (k.to_string(), from_item(v)))
                            .collect::<Vec<_>>(),
                    )
                })
                .collect::<Vec<_>>(),
        ),
    }
}

fn from_value(v: &toml_edit::Value) -> Value {
    match v {
        toml_edit::Value::String(s) => Value::String(s.value().clone()),
        toml_edit::Value::Integer(i) => Value::Int64(*i.value()),
        toml_edit::Value::Float(f) => Value::Float(*f.value()),
        toml_edit::Value::Boolean(b) => Value::Bool(*b.value()),
        toml_edit::Value::Datetime(d) => from_datetime(d.value()),
        toml_edit::Value::Array(a) => Value::slice(a.iter().map(from_value).collect::<Vec<_>>()),
        toml_edit::Value::InlineTable(t) => Value::map(
            t.iter()
                .map(|(k, v)| (k.to_string(), from_value(v)))
                .collect::<Vec<_>>(),
        ),
    }
}

fn from_datetime(d: &toml_edit::Datetime) -> Value {
    let (year, month, day) = d
        .date
        .map_or((0, 1, 1), |x| (x.year as i32, x.month as u32, x.day as u32));
    let (hour, minute, second, nanosecond) = d.time.map_or((0, 0, 0, 0), |t| {
        (
            t.hour as u32,
            t.minute as u32,
            t.second.unwrap_or(0) as u32,
            t.nanosecond.unwrap_or(0),
        )
    });
    let kind = match (d.date.is_some(), d.time.is_some(), d.offset) {
        (_, _, Some(toml_edit::Offset::Z)) => TomlTimeKind::Offset {
            minutes: 0,
            utc: true,
        },
        (_, _, Some(toml_edit::Offset::Custom { minutes })) => TomlTimeKind::Offset {
            minutes: minutes as i32,
            utc: false,
        },
        (true, true, None) => TomlTimeKind::LocalDatetime,
        (true, false, None) => TomlTimeKind::LocalDate,
        _ => TomlTimeKind::LocalTime,
    };
    Value::Object(Arc::new(TomlTime {
        year,
        month,
        day,
        hour,
        minute,
        second,
        nanosecond,
        kind,
    }))
}

/// `toml.Unmarshal(data, &m)` with `m` a `map[string]interface {}`: the table, or an
/// empty map and the error text.
pub fn unmarshal_into_map(s: &str) -> Result<Value, (Value, String)> {
    match s.parse::<toml_edit::DocumentMut>() {
        Ok(doc) => Ok(from_item(doc.as_item())),
        Err(e) => {
            let msg = e.message().trim().to_string();
            let line = e
                .span()
                .map(|r| s[..r.start.min(s.len())].matches('\n').count() + 1)
                .unwrap_or(1);
            Err((Value::Map(GoMap::default()), format!("toml: line {line}: {msg}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(j: serde_json::Value) -> Value {
        Value::from(j)
    }

    #[test]
    fn encodes_as_burntsushi() {
        let d = v(
            serde_json::json!({"title": "x", "n": 1.0, "f": 2.5, "owner": {"name": "a b", "dob": [1, 2]}, "servers": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2", "deep": {"k": true}}], "z": {"y": {"x": {}}}}),
        );
        assert_eq!(
            marshal(&d).unwrap(),
            "f = 2.5\nn = 1.0\ntitle = \"x\"\n\n[owner]\n  dob = [1.0, 2.0]\n  name = \"a b\"\n\n[[servers]]\n  ip = \"10.0.0.1\"\n\n[[servers]]\n  ip = \"10.0.0.2\"\n  [servers.deep]\n    k = true\n\n[z]\n  [z.y]\n    [z.y.x]\n"
        );
        assert_eq!(
            marshal(&v(serde_json::json!({"a": [1, null]}))).unwrap_err(),
            ERR_NIL_ELEMENT
        );
        assert_eq!(marshal(&Value::from("x")).unwrap(), "\"x\"");
    }

    #[test]
    fn decodes() {
        let m = unmarshal_into_map("a = 1\nb = [1.5, \"x\"]\n[t]\nk = true\n[[arr]]\nq = 2\n").unwrap();
        assert_eq!(
            crate::gojson::marshal(&m).unwrap(),
            r#"{"a":1,"arr":[{"q":2}],"b":[1.5,"x"],"t":{"k":true}}"#
        );
        assert!(matches!(m, Value::Map(ref g) if g.get("a") == Some(Value::Int64(1))));
        assert!(unmarshal_into_map("a = ").is_err());
    }
}
