//! Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`), decoded to
//! JSON with the field table in `builtin/protobuf.json` (see tools/gen-protobuf-fields.py).
//!
//! A body is the magic `k8s\0` followed by a `runtime.Unknown` whose `raw` field holds the
//! object's message.

use std::collections::HashMap;
use std::sync::LazyLock;

use base64::Engine;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::apis::types::ResourceType;

#[derive(Deserialize)]
struct Field {
    n: u32,
    json: String,
    kind: String,
    repeated: bool,
    #[serde(rename = "type")]
    ty: Option<String>,
}

static TABLE: LazyLock<HashMap<String, HashMap<u32, Field>>> = LazyLock::new(|| {
    let raw: HashMap<String, Vec<Field>> =
        serde_json::from_str(include_str!("../apis/builtin/protobuf.json")).expect("protobuf.json is valid");
    raw.into_iter()
        .map(|(k, v)| (k, v.into_iter().map(|f| (f.n, f)).collect()))
        .collect()
});

pub const MAGIC: &[u8] = b"k8s\x00";

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn done(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut v: u64 = 0;
        for shift in (0..70).step_by(7) {
            let b = *self.buf.get(self.pos).ok_or("unexpected end of protobuf data")?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("protobuf varint too long".into())
    }

    fn bytes(&mut self) -> Result<&'a [u8], String> {
        let len = self.varint()? as usize;
        let end = self
            .pos
            .checked_add(len)
            .filter(|e| *e <= self.buf.len())
            .ok_or("protobuf length out of range")?;
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn fixed(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.pos + n;
        if end > self.buf.len() {
            return Err("unexpected end of protobuf data".into());
        }
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn skip(&mut self, wire: u64) -> Result<(), String> {
        match wire {
            0 => self.varint().map(|_| ()),
            1 => self.fixed(8).map(|_| ()),
            2 => self.bytes().map(|_| ()),
            5 => self.fixed(4).map(|_| ()),
            w => Err(format!("unsupported protobuf wire type {w}")),
        }
    }
}

fn rfc3339(seconds: i64, nanos: i64, micro: bool) -> Value {
    match jiff::Timestamp::new(seconds, nanos as i32) {
        Ok(t) if micro => json!(t.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()),
        Ok(t) => json!(t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()),
        Err(_) => Value::Null,
    }
}

fn go_duration(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".into();
    }
    let neg = nanos < 0;
    let mut n = nanos.unsigned_abs();
    let h = n / 3_600_000_000_000;
    n %= 3_600_000_000_000;
    let m = n / 60_000_000_000;
    n %= 60_000_000_000;
    let s = n as f64 / 1e9;
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if h > 0 {
        out.push_str(&format!("{h}h{m}m"));
    } else if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    out.push_str(&format!("{}s", s));
    out
}

fn scalar(kind: &str, wire: u64, r: &mut Reader<'_>) -> Result<Value, String> {
    Ok(match (kind, wire) {
        ("string", 2) => json!(String::from_utf8_lossy(r.bytes()?)),
        ("bytes", 2) => json!(base64::engine::general_purpose::STANDARD.encode(r.bytes()?)),
        ("bool", 0) => json!(r.varint()? != 0),
        ("int32", 0) => json!(r.varint()? as i64 as i32),
        ("int64", 0) => json!(r.varint()? as i64),
        ("uint32", 0) | ("uint64", 0) => json!(r.varint()?),
        ("double", 1) => json!(f64::from_le_bytes(r.fixed(8)?.try_into().expect("8 bytes"))),
        ("float", 5) => json!(f32::from_le_bytes(r.fixed(4)?.try_into().expect("4 bytes"))),
        (k, w) => return Err(format!("protobuf field of kind {k} has wire type {w}")),
    })
}

fn raw_json(bytes: &[u8]) -> Value {
    if bytes.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(bytes).unwrap_or_else(|_| json!(String::from_utf8_lossy(bytes)))
}

/// Decodes one message of type `name` into its JSON form.
pub fn decode_message(buf: &[u8], name: &str) -> Result<Value, String> {
    // types whose JSON form is not their protobuf structure
    match name {
        "io.k8s.apimachinery.pkg.apis.meta.v1.Time" | "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime" => {
            if buf.is_empty() {
                return Ok(Value::Null);
            }
            let m = decode_fields(buf, name)?;
            let s = m.get("seconds").and_then(Value::as_i64).unwrap_or(0);
            let n = m.get("nanos").and_then(Value::as_i64).unwrap_or(0);
            return Ok(rfc3339(s, n, name.ends_with("MicroTime")));
        }
        "io.k8s.apimachinery.pkg.util.intstr.IntOrString" => {
            let m = decode_fields(buf, name)?;
            return Ok(if m.get("type").and_then(Value::as_i64) == Some(1) {
                m.get("strVal").cloned().unwrap_or(json!(""))
            } else {
                m.get("intVal").cloned().unwrap_or(json!(0))
            });
        }
        "io.k8s.apimachinery.pkg.api.resource.Quantity" => {
            let m = decode_fields(buf, name)?;
            return Ok(m.get("string").cloned().unwrap_or(json!("0")));
        }
        "io.k8s.apimachinery.pkg.runtime.RawExtension"
        | "io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1"
        | "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSON" => {
            let mut r = Reader { buf, pos: 0 };
            let mut raw: &[u8] = &[];
            while !r.done() {
                let key = r.varint()?;
                if key >> 3 == 1 && key & 7 == 2 {
                    raw = r.bytes()?;
                } else {
                    r.skip(key & 7)?;
                }
            }
            return Ok(raw_json(raw));
        }
        "io.k8s.apimachinery.pkg.apis.meta.v1.Duration" => {
            let mut r = Reader { buf, pos: 0 };
            let mut d = 0i64;
            while !r.done() {
                let key = r.varint()?;
                if key >> 3 == 1 && key & 7 == 0 {
                    d = r.varint()? as i64;
                } else {
                    r.skip(key & 7)?;
                }
            }
            return Ok(json!(go_duration(d)));
        }
        _ => {}
    }
    let m = decode_fields(buf, name)?;
    if name.ends_with("apiextensions.v1.JSONSchemaPropsOrBool") {
        return Ok(m
            .get("schema")
            .cloned()
            .unwrap_or_else(|| m.get("allows").cloned().unwrap_or(json!(false))));
    }
    if name.ends_with("apiextensions.v1.JSONSchemaPropsOrArray") {
        return Ok(m
            .get("schema")
            .cloned()
            .unwrap_or_else(|| m.get("JSONSchemas").cloned().unwrap_or(json!([]))));
    }
    if name.ends_with("apiextensions.v1.JSONSchemaPropsOrStringArray") {
        return Ok(m
            .get("schema")
            .cloned()
            .unwrap_or_else(|| m.get("property").cloned().unwrap_or(json!([]))));
    }
    Ok(Value::Object(m))
}

/// Non-pointer `omitempty` number/bool fields of the Go types: protobuf always carries them,
/// but a zero means "unset" (the API server's JSON never shows it). Pointer fields, where a
/// zero is meaningful (`replicas: 0`, `suspend: false`), are not listed.
const ZERO_MEANS_UNSET: &[(&str, &str)] = &[
    ("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", "generation"),
    ("io.k8s.api.core.v1.ContainerPort", "hostPort"),
    ("io.k8s.api.core.v1.ServicePort", "nodePort"),
    ("io.k8s.api.core.v1.ServiceSpec", "publishNotReadyAddresses"),
    ("io.k8s.api.core.v1.ServiceSpec", "healthCheckNodePort"),
    ("io.k8s.api.core.v1.Container", "stdin"),
    ("io.k8s.api.core.v1.Container", "stdinOnce"),
    ("io.k8s.api.core.v1.Container", "tty"),
    ("io.k8s.api.core.v1.PodSpec", "hostNetwork"),
    ("io.k8s.api.core.v1.PodSpec", "hostPID"),
    ("io.k8s.api.core.v1.PodSpec", "hostIPC"),
    ("io.k8s.api.core.v1.VolumeMount", "readOnly"),
    ("io.k8s.api.core.v1.Probe", "initialDelaySeconds"),
    ("io.k8s.api.core.v1.Probe", "timeoutSeconds"),
    ("io.k8s.api.core.v1.Probe", "periodSeconds"),
    ("io.k8s.api.core.v1.Probe", "successThreshold"),
    ("io.k8s.api.core.v1.Probe", "failureThreshold"),
    ("io.k8s.api.apps.v1.DeploymentSpec", "minReadySeconds"),
    ("io.k8s.api.apps.v1.DeploymentSpec", "paused"),
    ("io.k8s.api.apps.v1.ReplicaSetSpec", "minReadySeconds"),
    ("io.k8s.api.apps.v1.DaemonSetSpec", "minReadySeconds"),
    ("io.k8s.api.apps.v1.StatefulSetSpec", "minReadySeconds"),
    ("io.k8s.api.core.v1.ReplicationControllerSpec", "minReadySeconds"),
    ("io.k8s.api.core.v1.Secret", "immutable"),
];

fn decode_fields(buf: &[u8], name: &str) -> Result<Map<String, Value>, String> {
    let mut out = decode_wire(buf, name)?;
    // Go decodes into structs whose omitempty fields vanish when empty
    out.retain(|k, v| match v {
        Value::String(s) => !s.is_empty(),
        Value::Null => false,
        Value::Bool(false) => !ZERO_MEANS_UNSET.contains(&(name, k.as_str())),
        Value::Number(n) if n.as_f64() == Some(0.0) => !ZERO_MEANS_UNSET.contains(&(name, k.as_str())),
        _ => true,
    });
    Ok(out)
}

fn decode_wire(buf: &[u8], name: &str) -> Result<Map<String, Value>, String> {
    let fields = TABLE
        .get(name)
        .ok_or_else(|| format!("no protobuf definition for {name}"))?;
    let mut out = Map::new();
    let mut r = Reader { buf, pos: 0 };
    while !r.done() {
        let key = r.varint()?;
        let (num, wire) = ((key >> 3) as u32, key & 7);
        let Some(f) = fields.get(&num) else {
            r.skip(wire)?;
            continue;
        };
        let value = match f.kind.as_str() {
            "message" => {
                let body = r.bytes()?;
                decode_message(body, f.ty.as_deref().unwrap_or(""))?
            }
            "map" => {
                let entry = r.bytes()?;
                let mut er = Reader { buf: entry, pos: 0 };
                let (mut k, mut v) = (String::new(), Value::Null);
                while !er.done() {
                    let ek = er.varint()?;
                    match ((ek >> 3) as u32, ek & 7) {
                        (1, 2) => k = String::from_utf8_lossy(er.bytes()?).into_owned(),
                        (2, w) => {
                            v = match f.ty.as_deref() {
                                Some("string") | Some("bytes") => {
                                    scalar(f.ty.as_deref().unwrap_or("string"), w, &mut er)?
                                }
                                Some(msg) => decode_message(er.bytes()?, msg)?,
                                None => return Err(format!("map field {} has no value type", f.json)),
                            }
                        }
                        (_, w) => er.skip(w)?,
                    }
                }
                if v.is_null() {
                    v = match f.ty.as_deref() {
                        Some("string") | Some("bytes") => json!(""),
                        _ => json!({}),
                    };
                }
                let map = out.entry(f.json.clone()).or_insert_with(|| json!({}));
                if let Some(m) = map.as_object_mut() {
                    m.insert(k, v);
                }
                continue;
            }
            kind if f.repeated && wire == 2 && kind != "string" && kind != "bytes" => {
                // packed repeated scalars
                let body = r.bytes()?;
                let mut pr = Reader { buf: body, pos: 0 };
                let wire_of = match kind {
                    "double" => 1,
                    "float" => 5,
                    _ => 0,
                };
                let arr = out.entry(f.json.clone()).or_insert_with(|| json!([]));
                while !pr.done() {
                    let v = scalar(kind, wire_of, &mut pr)?;
                    if let Some(a) = arr.as_array_mut() {
                        a.push(v);
                    }
                }
                continue;
            }
            kind => scalar(kind, wire, &mut r)?,
        };
        if f.repeated {
            let arr = out.entry(f.json.clone()).or_insert_with(|| json!([]));
            if let Some(a) = arr.as_array_mut() {
                a.push(value);
            }
        } else {
            out.insert(f.json.clone(), value);
        }
    }
    Ok(out)
}

/// Decodes a `k8s\0` envelope whose object is of type `definition`; returns the object
/// with apiVersion and kind from the envelope.
pub fn decode_envelope(body: &[u8], definition: &str) -> Result<Value, String> {
    let rest = body
        .strip_prefix(MAGIC)
        .ok_or("the body does not start with the Kubernetes protobuf magic number")?;
    let mut r = Reader { buf: rest, pos: 0 };
    let (mut api_version, mut kind, mut raw): (String, String, &[u8]) = (String::new(), String::new(), &[]);
    while !r.done() {
        let key = r.varint()?;
        match ((key >> 3) as u32, key & 7) {
            (1, 2) => {
                let tm = r.bytes()?;
                let mut tr = Reader { buf: tm, pos: 0 };
                while !tr.done() {
                    let k = tr.varint()?;
                    match ((k >> 3) as u32, k & 7) {
                        (1, 2) => api_version = String::from_utf8_lossy(tr.bytes()?).into_owned(),
                        (2, 2) => kind = String::from_utf8_lossy(tr.bytes()?).into_owned(),
                        (_, w) => tr.skip(w)?,
                    }
                }
            }
            (2, 2) => raw = r.bytes()?,
            (_, w) => r.skip(w)?,
        }
    }
    let mut obj = decode_message(raw, definition)?;
    if let Some(m) = obj.as_object_mut() {
        let mut out = Map::new();
        if !api_version.is_empty() {
            out.insert("apiVersion".into(), json!(api_version));
        }
        if !kind.is_empty() {
            out.insert("kind".into(), json!(kind));
        }
        out.append(m);
        obj = Value::Object(out);
    }
    Ok(obj)
}

/// The protobuf message of a built-in type's request bodies (custom resources have none).
pub fn proto_definition(rt: &ResourceType) -> Option<&str> {
    rt.builtin.as_ref().map(|b| b.definition.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_kubectl_configmap() {
        // `kubectl create cm foo --from-literal=a=b` as kubectl 1.33 sends it
        let body: &[u8] = &[
            0x6b, 0x38, 0x73, 0x00, 0x0a, 0x0f, 0x0a, 0x02, 0x76, 0x31, 0x12, 0x09, 0x43, 0x6f, 0x6e, 0x66,
            0x69, 0x67, 0x4d, 0x61, 0x70, 0x12, 0x1d, 0x0a, 0x13, 0x0a, 0x03, 0x66, 0x6f, 0x6f, 0x12, 0x00,
            0x1a, 0x00, 0x22, 0x00, 0x2a, 0x00, 0x32, 0x00, 0x38, 0x00, 0x42, 0x00, 0x12, 0x06, 0x0a, 0x01,
            0x61, 0x12, 0x01, 0x62, 0x1a, 0x00, 0x22, 0x00,
        ];
        let v = decode_envelope(body, "io.k8s.api.core.v1.ConfigMap").unwrap();
        assert_eq!(v["apiVersion"], "v1");
        assert_eq!(v["kind"], "ConfigMap");
        assert_eq!(v["metadata"]["name"], "foo");
        assert_eq!(v["metadata"], json!({"name": "foo"}));
        assert_eq!(v["data"], json!({"a": "b"}));
    }

    #[test]
    fn durations_print_like_go() {
        assert_eq!(go_duration(3_600_000_000_000), "1h0m0s");
        assert_eq!(go_duration(90_000_000_000), "1m30s");
        assert_eq!(go_duration(1_500_000_000), "1.5s");
    }
}
