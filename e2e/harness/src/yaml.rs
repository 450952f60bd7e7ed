//! YAML read with positions: every node keeps the line and column it came from, so errors
//! about *valid YAML with a wrong value* can point at the value (`file:line:col`).

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// A position in a YAML file (1-based).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: u64,
    pub column: u64,
}

/// One YAML node and where it starts.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub value: Value,
    pub pos: Pos,
}

/// The value of a node. Scalars keep YAML's typing: `true` is a [`Value::Bool`], `"true"`
/// a [`Value::Str`] (the distinction matters for Kubernetes labels, which are strings).
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    /// Keys with their positions, in file order.
    Map(Vec<(Key, Node)>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Key {
    pub name: String,
    pub pos: Pos,
}

/// A YAML syntax error with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    pub pos: Pos,
    pub message: String,
}

impl Node {
    /// What kind of value this is, for messages ("a string", "a mapping", ...).
    pub fn kind(&self) -> &'static str {
        match self.value {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "a number",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    /// The node as it was written, for messages: strings quoted, scalars as YAML shows them.
    pub fn shown(&self) -> String {
        match &self.value {
            Value::Null => "null".into(),
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => f.to_string(),
            Value::Str(s) => format!("{s:?}"),
            Value::Seq(_) => "a list".into(),
            Value::Map(_) => "a mapping".into(),
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[(Key, Node)]> {
        match &self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The node as JSON (for free-form parts such as Argo CD's cluster config).
    pub fn to_json(&self) -> serde_json::Value {
        match &self.value {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => (*b).into(),
            Value::Int(i) => i64::try_from(*i)
                .map(Into::into)
                .unwrap_or_else(|_| serde_json::Value::String(i.to_string())),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            Value::Str(s) => s.clone().into(),
            Value::Seq(items) => items.iter().map(Node::to_json).collect(),
            Value::Map(m) => m.iter().map(|(k, v)| (k.name.clone(), v.to_json())).collect(),
        }
    }
}

fn pos(l: &serde_saphyr::Location) -> Pos {
    Pos {
        line: l.line(),
        column: l.column(),
    }
}

struct Raw(Value);

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Raw;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any YAML value")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Raw, E> {
                Ok(Raw(Value::Null))
            }
            fn visit_none<E: de::Error>(self) -> Result<Raw, E> {
                Ok(Raw(Value::Null))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Raw, D::Error> {
                Raw::deserialize(d)
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Raw, E> {
                Ok(Raw(Value::Bool(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Raw, E> {
                Ok(Raw(Value::Int(v.into())))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Raw, E> {
                Ok(Raw(Value::Int(v.into())))
            }
            fn visit_i128<E: de::Error>(self, v: i128) -> Result<Raw, E> {
                Ok(Raw(Value::Int(v)))
            }
            fn visit_u128<E: de::Error>(self, v: u128) -> Result<Raw, E> {
                Ok(Raw(i128::try_from(v)
                    .map(Value::Int)
                    .unwrap_or(Value::Float(v as f64))))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Raw, E> {
                Ok(Raw(Value::Float(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Raw, E> {
                Ok(Raw(Value::Str(v.into())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Raw, E> {
                Ok(Raw(Value::Str(v)))
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Raw, E> {
                Ok(Raw(Value::Str(String::from_utf8_lossy(v).into_owned())))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Raw, A::Error> {
                let mut items = Vec::new();
                while let Some(Spanned::<Raw> {
                    value, referenced, ..
                }) = a.next_element()?
                {
                    items.push(Node {
                        value: value.0,
                        pos: pos(&referenced),
                    });
                }
                Ok(Raw(Value::Seq(items)))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Raw, A::Error> {
                let mut entries = Vec::new();
                while let Some(k) = a.next_key::<Spanned<KeyText>>()? {
                    let v: Spanned<Raw> = a.next_value()?;
                    entries.push((
                        Key {
                            name: k.value.0,
                            pos: pos(&k.referenced),
                        },
                        Node {
                            value: v.value.0,
                            pos: pos(&v.referenced),
                        },
                    ));
                }
                Ok(Raw(Value::Map(entries)))
            }
        }
        d.deserialize_any(V)
    }
}

/// A mapping key as text, whatever scalar it was written as (`1:` or `true:` are keys too).
struct KeyText(String);

impl<'de> Deserialize<'de> for KeyText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Raw::deserialize(d)?;
        Ok(KeyText(match raw.0 {
            Value::Str(s) => s,
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => f.to_string(),
            Value::Null => "null".into(),
            Value::Seq(_) | Value::Map(_) => {
                return Err(de::Error::custom("a mapping key must be a scalar"));
            }
        }))
    }
}

/// Parses one YAML document. Empty input is a [`Value::Null`] node at 1:1.
pub fn parse(text: &str) -> Result<Node, SyntaxError> {
    match serde_saphyr::from_str::<Spanned<Raw>>(text) {
        Ok(s) => Ok(Node {
            value: s.value.0,
            pos: pos(&s.referenced),
        }),
        Err(e) => Err(syntax_error(&e)),
    }
}

/// Parses a stream of YAML documents (`---` separated); empty documents are skipped.
pub fn parse_all(text: &str) -> Result<Vec<Node>, SyntaxError> {
    match serde_saphyr::from_multiple::<Spanned<Raw>>(text) {
        Ok(docs) => Ok(docs
            .into_iter()
            .map(|s| Node {
                value: s.value.0,
                pos: pos(&s.referenced),
            })
            .filter(|n| n.value != Value::Null)
            .collect()),
        Err(e) => Err(syntax_error(&e)),
    }
}

/// The position and the one-line message of a serde-saphyr error (without the source
/// snippet and the repeated position its Display adds).
pub fn syntax_error(e: &serde_saphyr::Error) -> SyntaxError {
    let p = e
        .location()
        .map(|l| pos(&l))
        .unwrap_or(Pos { line: 1, column: 1 });
    // the crate's Display adds a source snippet after the first line; keep the message only
    let full = e.to_string();
    let first = full.lines().next().unwrap_or("invalid YAML");
    let message = first
        .strip_prefix("error: ")
        .unwrap_or(first)
        .split_once(": ")
        .filter(|(loc, _)| loc.starts_with("line "))
        .map(|(_, m)| m)
        .unwrap_or(first)
        .to_string();
    SyntaxError { pos: p, message }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_types_and_positions() {
        let n = parse("enabled: true\nname: \"true\"\nlabels:\n  a: 1\n  b: ~\n").unwrap();
        let m = n.as_map().unwrap();
        assert_eq!(m[0].0.name, "enabled");
        assert_eq!(m[0].1.value, Value::Bool(true));
        assert_eq!(m[0].1.pos, Pos { line: 1, column: 10 });
        assert_eq!(m[1].1.value, Value::Str("true".into()));
        let labels = m[2].1.as_map().unwrap();
        assert_eq!(labels[0].0.pos, Pos { line: 4, column: 3 });
        assert_eq!(labels[0].1.value, Value::Int(1));
        assert_eq!(labels[1].1.value, Value::Null);
    }

    #[test]
    fn syntax_errors_have_positions() {
        let e = parse("a: [1\n").unwrap_err();
        assert_eq!(e.pos, Pos { line: 1, column: 4 });
        assert_eq!(e.message, "unclosed bracket '['");
        let e = parse("a: 1\na: 2\n").unwrap_err();
        assert_eq!(e.pos, Pos { line: 2, column: 1 });
        assert!(e.message.starts_with("duplicate mapping key: a"), "{}", e.message);
    }

    #[test]
    fn streams() {
        let docs = parse_all("a: 1\n---\n---\nb: 2\n").unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1].pos.line, 4);
        assert_eq!(parse("").unwrap().value, Value::Null);
    }
}
