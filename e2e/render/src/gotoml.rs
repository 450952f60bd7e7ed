//! TOML as Helm 3.17's toToml and fromToml see it (BurntSushi/toml v1.4.0).

use crate::value::Value;

/// `toml.NewEncoder(w).Encode(v)`: the TOML text, or the encoder's error text.
pub fn marshal(_v: &Value) -> Result<String, String> {
    Err("toml: not implemented".into())
}

/// `toml.Unmarshal(data, &m)` with `m` a `map[string]interface {}`.
pub fn unmarshal_into_map(_s: &str) -> Result<Value, (Value, String)> {
    Err((Value::Map(Default::default()), "toml: not implemented".into()))
}
