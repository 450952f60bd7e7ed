//! Dependencies (pkg/chartutil/dependencies.go): which subcharts are enabled (conditions,
//! tags, aliases) and the values they export to their parent (import-values).

use crate::value::{GoMap, Value};

use super::Chart;
use super::values::{self, Warn};

/// A parsed version (Masterminds semver's NewVersion), for Chart.yaml validation.
pub(crate) fn parse_version(v: &str) -> Option<crate::sprig::semver::Version> {
    crate::sprig::semver::Version::parse(v).ok()
}

/// `chartutil.IsCompatibleRange`: whether `version` satisfies `constraint`; an invalid
/// version or constraint does not.
pub fn is_compatible_range(constraint: &str, version: &str) -> bool {
    let Ok(v) = crate::sprig::semver::Version::parse(version) else {
        return false;
    };
    let Ok(c) = crate::sprig::semver::Constraints::parse(constraint) else {
        return false;
    };
    c.check(&v)
}

/// `ProcessDependenciesWithMerge`: drops disabled subcharts (conditions, tags), applies
/// aliases, then imports the values subcharts export.
pub fn process_dependencies(chart: &mut Chart, vals: &GoMap, warn: Warn) -> Result<(), String> {
    process_dependency_enabled(chart, vals, "", warn)?;
    process_dependency_import_values(chart, warn)
}

fn process_dependency_enabled(c: &mut Chart, v: &GoMap, path: &str, warn: Warn) -> Result<(), String> {
    if c.metadata.dependencies.is_empty() {
        return Ok(());
    }
    let existing = std::mem::take(&mut c.dependencies);
    let mut chart_deps: Vec<Chart> = Vec::new();
    // subcharts no dependency entry names (or whose version is out of its range) stay
    'outer: for e in &existing {
        for req in c.metadata.deps() {
            if e.name() == req.name && is_compatible_range(&req.version, &e.metadata.version) {
                continue 'outer;
            }
        }
        chart_deps.push(e.clone());
    }
    for req in c.metadata.dependencies.iter_mut().flatten() {
        // getAliasDependency: the first subchart of that name within the range, renamed
        if let Some(sub) = existing
            .iter()
            .find(|s| s.name() == req.name && is_compatible_range(&req.version, &s.metadata.version))
        {
            let mut sub = sub.clone();
            if !req.alias.is_empty() {
                sub.metadata.name = req.alias.clone();
            }
            chart_deps.push(sub);
        }
        if !req.alias.is_empty() {
            req.name = req.alias.clone();
        }
    }
    c.dependencies = chart_deps;
    for d in c.metadata.dependencies.iter_mut().flatten() {
        d.enabled = true;
    }
    let cvals = values::coalesce_values(c, v, warn)?;
    process_dependency_tags(c, &cvals, warn);
    process_dependency_conditions(c, &cvals, path, warn);
    let removed: Vec<String> = c
        .metadata
        .deps()
        .filter(|d| !d.enabled)
        .map(|d| d.name.clone())
        .collect();
    c.dependencies.retain(|d| !removed.contains(&d.metadata.name));
    c.metadata
        .dependencies
        .retain(|d| d.as_ref().is_none_or(|d| !removed.contains(&d.name)));
    for t in c.dependencies.iter_mut() {
        let sub = format!("{path}{}.", t.metadata.name);
        process_dependency_enabled(t, &cvals, &sub, warn)?;
    }
    Ok(())
}

fn process_dependency_tags(c: &mut Chart, cvals: &GoMap, warn: Warn) {
    let Some(vt) = values::table(cvals, "tags") else {
        return;
    };
    for r in c.metadata.dependencies.iter_mut().flatten() {
        let (mut has_true, mut has_false) = (false, false);
        for k in &r.tags {
            if let Some(b) = vt.get(k) {
                match b {
                    Value::Bool(true) => has_true = true,
                    Value::Bool(false) => has_false = true,
                    _ => warn(format!(
                        "Warning: Tag '{k}' for chart {} returned non-bool value",
                        r.name
                    )),
                }
            }
        }
        r.enabled = has_true || !has_false;
    }
}

fn process_dependency_conditions(c: &mut Chart, cvals: &GoMap, cpath: &str, warn: Warn) {
    for r in c.metadata.dependencies.iter_mut().flatten() {
        for cond in r.condition.trim().split(',') {
            if cond.is_empty() {
                continue;
            }
            let full = format!("{cpath}{cond}");
            match values::path_value(cvals, &full) {
                Some(Value::Bool(b)) => {
                    r.enabled = b;
                    break;
                }
                Some(_) => warn(format!(
                    "Warning: Condition path '{cond}' for chart {} returned non-bool value",
                    r.name
                )),
                None => {}
            }
        }
    }
}

fn path_to_map(path: &str, data: GoMap) -> GoMap {
    if path == "." {
        return data;
    }
    let mut cur = data;
    for p in path.split('.').rev() {
        cur = GoMap::new([(p.to_string(), Value::Map(cur))].into_iter().collect());
    }
    cur
}

fn process_import_values(c: &mut Chart, warn: Warn) -> Result<(), String> {
    if c.metadata.dependencies.is_empty() {
        return Ok(());
    }
    let cvals = values::merge_values(c, &GoMap::default(), warn)?;
    let b = GoMap::default();
    for r in c.metadata.dependencies.iter_mut().flatten() {
        let mut out = Vec::new();
        for riv in &r.import_values {
            match riv {
                Value::Map(iv) => {
                    let child = iv
                        .get("child")
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default();
                    let parent = iv
                        .get("parent")
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default();
                    out.push(Value::map([
                        ("child", Value::from(child.as_str())),
                        ("parent", Value::from(parent.as_str())),
                    ]));
                    match values::table(&cvals, &format!("{}.{child}", r.name)) {
                        Some(vv) => values::merge_tables(&b, &path_to_map(&parent, vv), warn),
                        None => warn(format!(
                            "Warning: ImportValues missing table from chart {}: no table named {}",
                            r.name,
                            crate::gofmt::quote(child.rsplit('.').next().unwrap_or(""), false)
                        )),
                    }
                }
                Value::String(iv) => {
                    let child = format!("exports.{iv}");
                    out.push(Value::map([
                        ("child", Value::from(child.as_str())),
                        ("parent", Value::from(".")),
                    ]));
                    match values::table(&cvals, &format!("{}.{child}", r.name)) {
                        Some(vm) => values::merge_tables(&b, &vm, warn),
                        None => warn(format!(
                            "Warning: ImportValues missing table: no table named {iv}"
                        )),
                    }
                }
                _ => {}
            }
        }
        r.import_values = out;
    }
    let cvals = values::deep_copy_map(&cvals);
    values::merge_tables(&cvals, &b, warn);
    c.values = cvals;
    Ok(())
}

fn process_dependency_import_values(c: &mut Chart, warn: Warn) -> Result<(), String> {
    for d in c.dependencies.iter_mut() {
        process_dependency_import_values(d, warn)?;
    }
    process_import_values(c, warn)
}
