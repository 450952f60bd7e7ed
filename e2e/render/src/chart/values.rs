//! Helm's values: coalescing chart defaults with user values (pkg/chartutil/coalesce.go),
//! tables and paths (values.go), merging value files (pkg/cli/values), deep copies.
//!
//! Values are [`Value`] maps ([`GoMap`]): shared references as Go's maps are, so the
//! aliasing Helm's coalescing relies on (and the copies it makes to avoid it) behave the
//! same here.

use std::collections::BTreeMap;

use crate::value::{GoMap, Value};

/// The key of the values shared with every subchart.
pub const GLOBAL_KEY: &str = "global";

/// A warning Helm logs while coalescing (it never fails on these).
pub type Warn<'a> = &'a mut dyn FnMut(String);

/// `copystructure.Copy`: a deep copy of maps and slices.
pub fn deep_copy(v: &Value) -> Value {
    match v {
        Value::Map(m) => Value::Map(deep_copy_map(m)),
        Value::Slice(s) => Value::slice(s.iter().map(deep_copy)),
        v => v.clone(),
    }
}

/// A deep copy of a map.
pub fn deep_copy_map(m: &GoMap) -> GoMap {
    GoMap::new(m.entries().into_iter().map(|(k, v)| (k, deep_copy(&v))).collect())
}

fn as_table(v: &Value) -> Option<GoMap> {
    match v {
        Value::Map(m) => Some(m.clone()),
        _ => None,
    }
}

fn is_table(v: &Value) -> bool {
    matches!(v, Value::Map(_))
}

fn concat_prefix(a: &str, b: &str) -> String {
    if a.is_empty() {
        b.to_string()
    } else {
        format!("{a}.{b}")
    }
}

/// The chart data coalescing needs: its name, its default values and its subcharts.
pub trait ValuesChart {
    fn chart_name(&self) -> &str;
    fn default_values(&self) -> &GoMap;
    fn subcharts(&self) -> Vec<&Self>;
}

/// `chartutil.CoalesceValues`: the user's values (copied) over the chart's defaults, the
/// subcharts' defaults under their names, globals passed down.
pub fn coalesce_values<C: ValuesChart>(chart: &C, vals: &GoMap, warn: Warn) -> Result<GoMap, String> {
    let copy = deep_copy_map(vals);
    coalesce(chart, &copy, "", false, warn)?;
    Ok(copy)
}

/// `chartutil.MergeValues`: as [`coalesce_values`], but a null in the user's values does
/// not delete the default.
pub fn merge_values<C: ValuesChart>(chart: &C, vals: &GoMap, warn: Warn) -> Result<GoMap, String> {
    let copy = deep_copy_map(vals);
    coalesce(chart, &copy, "", true, warn)?;
    Ok(copy)
}

fn coalesce<C: ValuesChart>(
    chart: &C,
    dest: &GoMap,
    prefix: &str,
    merge: bool,
    warn: Warn,
) -> Result<(), String> {
    coalesce_chart_values(chart, dest, prefix, merge, warn);
    coalesce_deps(chart, dest, prefix, merge, warn)
}

fn coalesce_deps<C: ValuesChart>(
    chart: &C,
    dest: &GoMap,
    prefix: &str,
    merge: bool,
    warn: Warn,
) -> Result<(), String> {
    for sub in chart.subcharts() {
        let name = sub.chart_name();
        let dv = match dest.get(name) {
            None => {
                let m = GoMap::default();
                dest.insert(name, Value::Map(m.clone()));
                m
            }
            Some(Value::Map(m)) => m,
            // Go prints the value with %t
            Some(c) => {
                return Err(format!(
                    "type mismatch on {name}: {}",
                    crate::gofmt::sprintf("%t", &[c])
                ));
            }
        };
        let sub_prefix = concat_prefix(prefix, chart.chart_name());
        coalesce_globals(&dv, dest, &sub_prefix, warn);
        coalesce(sub, &dv, &sub_prefix, merge, warn)?;
        dest.insert(name, Value::Map(dv));
    }
    Ok(())
}

/// Copies the parent's globals into the subchart's values (the subchart's own globals
/// win for scalars; tables are coalesced).
fn coalesce_globals(dest: &GoMap, src: &GoMap, prefix: &str, warn: Warn) {
    let dg = match dest.get(GLOBAL_KEY) {
        None => GoMap::default(),
        Some(Value::Map(m)) => m,
        Some(_) => {
            warn(format!(
                "warning: skipping globals because destination {GLOBAL_KEY} is not a table."
            ));
            return;
        }
    };
    let sg = match src.get(GLOBAL_KEY) {
        None => GoMap::default(),
        Some(Value::Map(m)) => m,
        Some(_) => {
            warn(format!(
                "warning: skipping globals because source {GLOBAL_KEY} is not a table."
            ));
            return;
        }
    };
    for (key, val) in sg.entries() {
        if let Value::Map(vm) = &val {
            // a shallow copy, as Helm's copyMap
            let vv = GoMap::new(vm.to_btree());
            match dg.get(&key) {
                None => {
                    dg.insert(key, Value::Map(vv));
                }
                Some(Value::Map(destv)) => {
                    let sub_prefix = concat_prefix(prefix, &key);
                    coalesce_tables_full_key(&vv, &destv, &sub_prefix, true, warn);
                    dg.insert(key, Value::Map(vv));
                }
                Some(_) => warn(format!(
                    "Conflict: cannot merge map onto non-map for {}. Skipping.",
                    crate::gofmt::quote(&key, false)
                )),
            }
        } else if dg.get(&key).is_some_and(|d| is_table(&d)) {
            warn(format!("key {key} is table. Skipping"));
        } else {
            dg.insert(key, val);
        }
    }
    dest.insert(GLOBAL_KEY, Value::Map(dg));
}

fn coalesce_chart_values<C: ValuesChart>(chart: &C, v: &GoMap, prefix: &str, merge: bool, warn: Warn) {
    let sub_prefix = concat_prefix(prefix, chart.chart_name());
    let vc = deep_copy_map(chart.default_values());
    for (key, val) in vc.entries() {
        match v.get(&key) {
            Some(value) => {
                if matches!(value, Value::Nil) && !merge {
                    v.remove(&key);
                } else if let Value::Map(dest) = &value {
                    match &val {
                        Value::Map(src) => coalesce_tables_full_key(
                            dest,
                            src,
                            &concat_prefix(&sub_prefix, &key),
                            merge,
                            warn,
                        ),
                        Value::Nil => {}
                        _ => warn(format!(
                            "warning: skipped value for {sub_prefix}.{key}: Not a table."
                        )),
                    }
                }
            }
            None => {
                v.insert(key, val);
            }
        }
    }
}

/// `chartutil.CoalesceTables`: `src`'s entries into `dst` where `dst` lacks them; a null
/// in `dst` deletes the key.
pub fn coalesce_tables(dst: &GoMap, src: &GoMap, warn: Warn) {
    coalesce_tables_full_key(dst, src, "", false, warn)
}

/// `chartutil.MergeTables`: as [`coalesce_tables`], keeping nulls.
pub fn merge_tables(dst: &GoMap, src: &GoMap, warn: Warn) {
    coalesce_tables_full_key(dst, src, "", true, warn)
}

fn coalesce_tables_full_key(dst: &GoMap, src: &GoMap, prefix: &str, merge: bool, warn: Warn) {
    if dst.ptr_eq(src) {
        return;
    }
    for (key, val) in src.entries() {
        let full = concat_prefix(prefix, &key);
        match dst.get(&key) {
            Some(Value::Nil) if !merge => {
                dst.remove(&key);
            }
            None => {
                dst.insert(key, val);
            }
            Some(dv) => {
                if let Value::Map(vm) = &val {
                    if let Value::Map(dm) = &dv {
                        coalesce_tables_full_key(dm, vm, &full, merge, warn);
                    } else {
                        warn(format!(
                            "warning: cannot overwrite table with non table for {full} ({})",
                            crate::gofmt::format_v(&val)
                        ));
                    }
                } else if is_table(&dv) && !matches!(val, Value::Nil) {
                    warn(format!(
                        "warning: destination for {full} is a table. Ignoring non-table value ({})",
                        crate::gofmt::format_v(&val)
                    ));
                }
            }
        }
    }
}

/// `Values.Table`: the table at a dotted path.
pub fn table(v: &GoMap, name: &str) -> Option<GoMap> {
    let mut t = v.clone();
    for n in name.split('.') {
        t = as_table(&t.get(n)?)?;
    }
    Some(t)
}

/// `Values.PathValue`: the non-table value at a dotted path.
pub fn path_value(v: &GoMap, path: &str) -> Option<Value> {
    if path.is_empty() {
        return None;
    }
    let parts: Vec<&str> = path.split('.').collect();
    let (key, parent) = parts.split_last()?;
    let t = if parent.is_empty() {
        v.clone()
    } else {
        table(v, &parent.join("."))?
    };
    match t.get(key) {
        Some(x) if !is_table(&x) => Some(x),
        _ => None,
    }
}

/// pkg/cli/values `mergeMaps`: `b` over `a`, recursing into maps present in both.
pub fn merge_maps(a: &BTreeMap<String, Value>, b: &BTreeMap<String, Value>) -> BTreeMap<String, Value> {
    let mut out = a.clone();
    for (k, v) in b {
        if let (Value::Map(vm), Some(Value::Map(bv))) = (v, out.get(k)) {
            let merged = merge_maps(&bv.to_btree(), &vm.to_btree());
            out.insert(k.clone(), Value::Map(GoMap::new(merged)));
            continue;
        }
        out.insert(k.clone(), v.clone());
    }
    out
}

/// A deep copy with nulls removed (`trimNilValues`).
pub fn trim_nil_values(vals: &GoMap) -> GoMap {
    let out = deep_copy_map(vals);
    for (k, v) in out.entries() {
        match v {
            Value::Nil => {
                out.remove(&k);
            }
            Value::Map(m) => {
                out.insert(k, Value::Map(trim_nil_values(&m)));
            }
            _ => {}
        }
    }
    out
}

/// Reads a values file (`helm template -f NAME`) as Helm's `ReadValues` does: YAML through
/// sigs.k8s.io/yaml (numbers are float64), an empty file is an empty table, anything but a
/// table is an error naming the file.
pub fn parse_values_file(name: &str, data: &[u8]) -> Result<GoMap, String> {
    match crate::goyaml::unmarshal(&String::from_utf8_lossy(data)) {
        Ok(Value::Map(m)) => Ok(m),
        Ok(Value::Nil) => Ok(GoMap::default()),
        Ok(_) => Err(format!(
            "failed to parse {name}: error unmarshaling JSON: while decoding JSON: json: cannot unmarshal non-object into Go value of type map[string]interface {{}}"
        )),
        Err(e) => Err(format!("failed to parse {name}: {e}")),
    }
}
