//! Kyverno CLI test files (`cli.kyverno.io/v1alpha1` `Test`, `kyverno-test.yaml`): what
//! `kyverno test` reads (policies, resources, exceptions, expected results per rule), and
//! the comparison it makes (`cmd/cli/kubectl-kyverno/commands/test`), so that results
//! obtained elsewhere (the sim's live admission) can be checked against a platform's own
//! test files.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// One expected result: a rule of a policy on a resource.
#[derive(Clone, Debug, PartialEq)]
pub struct Expectation {
    /// As written (`name`, or `namespace/name` for a namespaced Policy).
    pub policy: String,
    pub rule: String,
    /// `pass`, `fail`, `skip`, `warn` or `error`.
    pub result: String,
    pub kind: String,
    /// `name` or `namespace/name`.
    pub resource: String,
    /// The resource as mutated (from `patchedResources`), when the file gives it.
    pub patched: Option<Value>,
}

/// A loaded test file.
#[derive(Clone, Debug)]
pub struct TestFile {
    pub path: PathBuf,
    pub name: String,
    pub policies: Vec<Value>,
    pub resources: Vec<Value>,
    pub exceptions: Vec<Value>,
    pub expectations: Vec<Expectation>,
}

/// Every YAML document of a file (a list document counts as its items).
fn documents(path: &Path) -> Result<Vec<Value>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let docs: Vec<Value> =
        serde_saphyr::from_multiple(&text).map_err(|e| format!("{}: invalid YAML: {e}", path.display()))?;
    let mut out = Vec::new();
    for d in docs {
        match d {
            Value::Null => {}
            Value::Object(ref m) if m.get("kind").and_then(Value::as_str) == Some("List") => {
                out.extend(
                    m.get("items")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default(),
                );
            }
            other => out.push(other),
        }
    }
    Ok(out)
}

fn strings(v: &Value, field: &str) -> Vec<String> {
    v.get(field)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect()
}

/// Reads a `kyverno-test.yaml` and the files it names (relative to it).
pub fn load(path: &Path) -> Result<TestFile, String> {
    let docs = documents(path)?;
    let test = docs
        .into_iter()
        .next()
        .ok_or_else(|| format!("{}: empty test file", path.display()))?;
    let at = |field: &str| format!("{}: {field}", path.display());
    if let Some(api) = test.get("apiVersion").and_then(Value::as_str)
        && api != "cli.kyverno.io/v1alpha1"
    {
        return Err(format!(
            "{}: unsupported apiVersion {api} (want cli.kyverno.io/v1alpha1)",
            at("apiVersion")
        ));
    }
    if let Some(kind) = test.get("kind").and_then(Value::as_str)
        && kind != "Test"
    {
        return Err(format!("{}: unsupported kind {kind} (want Test)", at("kind")));
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let read_all = |field: &str| -> Result<Vec<Value>, String> {
        let mut out = Vec::new();
        for f in strings(&test, field) {
            out.extend(documents(&dir.join(&f)).map_err(|e| format!("{}: {e}", at(field)))?);
        }
        Ok(out)
    };
    let name = test
        .pointer("/metadata/name")
        .or_else(|| test.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let mut expectations = Vec::new();
    for (i, r) in test
        .get("results")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let field = |f: &str| -> Result<String, String> {
            r.get(f)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| {
                    format!(
                        "{}: required (the expected {f})",
                        at(&format!("results[{i}].{f}"))
                    )
                })
        };
        let (policy, result, kind) = (field("policy")?, field("result")?, field("kind")?);
        if !["pass", "fail", "skip", "warn", "error"].contains(&result.as_str()) {
            return Err(format!(
                "{}: {result:?} is not a result (pass, fail, skip, warn or error)",
                at(&format!("results[{i}].result"))
            ));
        }
        let patched = match r.get("patchedResources").and_then(Value::as_str) {
            Some(f) => Some(
                documents(&dir.join(f))
                    .map_err(|e| format!("{}: {e}", at(&format!("results[{i}].patchedResources"))))?,
            ),
            None => None,
        };
        let mut resources = strings(r, "resources");
        for spec in r
            .get("resourceSpecs")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let s = |f: &str| spec.get(f).and_then(Value::as_str).unwrap_or("");
            resources.push(if s("namespace").is_empty() {
                s("name").to_string()
            } else {
                format!("{}/{}", s("namespace"), s("name"))
            });
        }
        if resources.is_empty() {
            return Err(format!(
                "{}: no resources (name or namespace/name)",
                at(&format!("results[{i}].resources"))
            ));
        }
        for resource in resources {
            // the patched resource of this one, among the file's documents
            let patched = patched.as_ref().and_then(|docs| {
                let (ns, name) = resource
                    .rsplit_once('/')
                    .map_or(("", resource.as_str()), |(n, m)| (n, m));
                docs.iter()
                    .find(|d| {
                        d.pointer("/metadata/name").and_then(Value::as_str) == Some(name)
                            && (ns.is_empty()
                                || d.pointer("/metadata/namespace").and_then(Value::as_str) == Some(ns))
                    })
                    .cloned()
            });
            expectations.push(Expectation {
                policy: policy.clone(),
                rule: r.get("rule").and_then(Value::as_str).unwrap_or("").to_string(),
                result: result.clone(),
                kind: kind.clone(),
                resource,
                patched,
            });
        }
    }
    Ok(TestFile {
        path: path.to_path_buf(),
        name,
        policies: read_all("policies")?,
        resources: read_all("resources")?,
        exceptions: read_all("exceptions")?,
        expectations,
    })
}

/// The test files under `root` (`kyverno-test.yaml`, any depth), sorted.
pub fn find(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n == "kyverno-test.yaml") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Does a rule response named `rule` answer an expectation for `want` (`autogen-` and
/// `autogen-cronjob-` rules count, as in `lookupRuleResponses`)?
pub fn rule_matches(want: &str, rule: &str) -> bool {
    rule == want || rule == format!("autogen-{want}") || rule == format!("autogen-cronjob-{want}")
}

/// Does a policy key (`name` or `namespace/name`) answer the expectation's policy (only the
/// part after the last `/` is compared)?
pub fn policy_matches(want: &str, key: &str) -> bool {
    let last = |s: &str| s.rsplit('/').next().unwrap_or("").to_string();
    last(want) == last(key)
}

/// Is every field of `expected` in `actual` with the same value (lists element by element)?
/// A live resource carries what the API server adds (uid, defaults, status); the expected
/// patched resource is compared as a subset of it.
pub fn contains(actual: &Value, expected: &Value) -> bool {
    match (actual, expected) {
        (Value::Object(a), Value::Object(e)) => e.iter().all(|(k, ev)| match a.get(k) {
            Some(av) => contains(av, ev),
            None => {
                ev.is_null()
                    || ev.as_object().is_some_and(|m| m.is_empty())
                    || ev.as_array().is_some_and(|l| l.is_empty())
            }
        }),
        (Value::Array(a), Value::Array(e)) => {
            a.len() == e.len() && a.iter().zip(e).all(|(x, y)| contains(x, y))
        }
        (Value::Number(a), Value::Number(e)) => a.as_f64() == e.as_f64(),
        _ => actual == expected,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_test_file_and_its_files_load_with_clear_errors() {
        let dir = tempfile_dir();
        std::fs::write(
            dir.join("policy.yaml"),
            "apiVersion: kyverno.io/v1\nkind: ClusterPolicy\nmetadata:\n  name: p\nspec: {rules: []}\n",
        )
        .unwrap();
        std::fs::write(dir.join("resources.yaml"), "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: b\n  namespace: web\n").unwrap();
        std::fs::write(
            dir.join("kyverno-test.yaml"),
            "apiVersion: cli.kyverno.io/v1alpha1\nkind: Test\nmetadata:\n  name: t\npolicies: [policy.yaml]\nresources: [resources.yaml]\nresults:\n- policy: p\n  rule: r\n  kind: Pod\n  result: fail\n  resources: [a, web/b]\n",
        )
        .unwrap();
        let t = load(&dir.join("kyverno-test.yaml")).unwrap();
        assert_eq!(
            (t.name.as_str(), t.policies.len(), t.resources.len()),
            ("t", 1, 2)
        );
        assert_eq!(
            t.expectations
                .iter()
                .map(|e| e.resource.as_str())
                .collect::<Vec<_>>(),
            ["a", "web/b"]
        );
        std::fs::write(
            dir.join("kyverno-test.yaml"),
            "apiVersion: cli.kyverno.io/v1alpha1\nkind: Test\npolicies: [policy.yaml]\nresults:\n- policy: p\n  rule: r\n  kind: Pod\n  result: failed\n  resources: [a]\n",
        )
        .unwrap();
        assert_eq!(
            load(&dir.join("kyverno-test.yaml")).unwrap_err(),
            format!(
                "{}: results[0].result: \"failed\" is not a result (pass, fail, skip, warn or error)",
                dir.join("kyverno-test.yaml").display()
            )
        );
        assert!(rule_matches("check", "autogen-cronjob-check"));
        assert!(policy_matches("ns/p", "p"));
        assert!(contains(
            &json!({"metadata": {"name": "a", "uid": "1", "labels": {"x": "y"}}, "spec": {"n": 1}}),
            &json!({"metadata": {"labels": {"x": "y"}}, "spec": {"n": 1.0}})
        ));
        assert!(!contains(
            &json!({"spec": {"l": [1, 2]}}),
            &json!({"spec": {"l": [1]}})
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn tempfile_dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!("hubspoke-kyverno-clitest-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}
