//! YAML for charts until the Go-faithful codec lands: decoding as serde does.

use crate::value::Value;

pub(crate) fn unmarshal(data: &[u8]) -> Result<Value, String> {
    let text = String::from_utf8_lossy(data);
    if text.trim().is_empty() {
        return Ok(Value::Nil);
    }
    let v: serde_json::Value = serde_saphyr::from_str(&text).map_err(|e| e.to_string())?;
    Ok(Value::from(v))
}

pub(crate) fn to_yaml(v: &Value) -> String {
    let _ = v;
    String::new()
}
