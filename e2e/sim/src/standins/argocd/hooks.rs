//! Which manifests are hooks, of which types, in which wave and with which delete policies,
//! as gitops-engine decides (`pkg/sync/hook`, `pkg/sync/syncwaves`): Argo CD's annotations
//! first, else Helm's (`helm.sh/hook` pre-/post-install and -upgrade map to PreSync and
//! PostSync; a Helm hook of any other type, a test for instance, is a hook that never runs;
//! `crd-install` is not a hook), so charts rendered by the repo server keep their hooks.

use serde_json::Value;

const HOOK: &str = "argocd.argoproj.io/hook";
const HOOK_DELETE_POLICY: &str = "argocd.argoproj.io/hook-delete-policy";
const SYNC_WAVE: &str = "argocd.argoproj.io/sync-wave";
const HELM_HOOK: &str = "helm.sh/hook";
const HELM_WEIGHT: &str = "helm.sh/hook-weight";
const HELM_DELETE_POLICY: &str = "helm.sh/hook-delete-policy";

const ARGO_TYPES: [&str; 7] = [
    "PreSync",
    "Sync",
    "PostSync",
    "SyncFail",
    "PostDelete",
    "PreDelete",
    "Skip",
];

fn annotation<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    obj.pointer("/metadata/annotations")
        .and_then(|a| a.get(key))
        .and_then(Value::as_str)
}

/// `GetAnnotationCSVs`: the comma-separated values, trimmed, empty ones dropped.
fn csv(obj: &Value, key: &str) -> Vec<String> {
    annotation(obj, key)
        .map(|v| {
            v.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// What a manifest is to a sync.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Role {
    /// Compared and applied.
    Resource,
    /// `argocd.argoproj.io/hook: Skip` alone: neither applied nor compared.
    Skipped,
    /// A hook of these types (possibly none: then it never runs).
    Hook(Vec<String>),
}

/// gitops-engine's `hook.IsHook`, `hook.Skip` and `hook.Types`.
pub fn role(obj: &Value) -> Role {
    if annotation(obj, HOOK).is_some() {
        let types: Vec<String> = csv(obj, HOOK)
            .into_iter()
            .filter(|t| ARGO_TYPES.contains(&t.as_str()))
            .collect();
        if types.iter().any(|t| t == "Skip") && types.len() == 1 {
            return Role::Skipped;
        }
        return Role::Hook(types);
    }
    match annotation(obj, HELM_HOOK) {
        Some(v) if v != "crd-install" => Role::Hook(
            csv(obj, HELM_HOOK)
                .iter()
                .filter_map(|t| match t.as_str() {
                    "pre-install" | "pre-upgrade" => Some("PreSync".to_string()),
                    "post-install" | "post-upgrade" => Some("PostSync".to_string()),
                    _ => None,
                })
                .collect(),
        ),
        _ => Role::Resource,
    }
}

/// Go's `strconv.Atoi` (no surrounding spaces, an optional sign).
fn atoi(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `syncwaves.Wave`: the sync-wave annotation, else Helm's hook weight, else 0.
pub fn wave(obj: &Value) -> i64 {
    annotation(obj, SYNC_WAVE)
        .and_then(atoi)
        .or_else(|| annotation(obj, HELM_WEIGHT).and_then(atoi))
        .unwrap_or(0)
}

/// `hook.DeletePolicies`: Argo CD's, then Helm's mapped; BeforeHookCreation when none.
pub fn delete_policies(obj: &Value) -> Vec<String> {
    let mut out: Vec<String> = csv(obj, HOOK_DELETE_POLICY)
        .into_iter()
        .filter(|p| matches!(p.as_str(), "HookSucceeded" | "HookFailed" | "BeforeHookCreation"))
        .collect();
    for p in csv(obj, HELM_DELETE_POLICY) {
        match p.as_str() {
            "before-hook-creation" => out.push("BeforeHookCreation".into()),
            "hook-succeeded" => out.push("HookSucceeded".into()),
            "hook-failed" => out.push("HookFailed".into()),
            _ => {}
        }
    }
    if out.is_empty() {
        out.push("BeforeHookCreation".into());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(annotations: Value) -> Value {
        json!({"metadata": {"annotations": annotations}})
    }

    #[test]
    fn argo_annotations_win_and_helm_maps() {
        assert_eq!(role(&obj(json!({}))), Role::Resource);
        assert_eq!(role(&obj(json!({HOOK: "Skip"}))), Role::Skipped);
        assert_eq!(
            role(&obj(json!({HOOK: "PreSync, Skip"}))),
            Role::Hook(vec!["PreSync".into(), "Skip".into()])
        );
        assert_eq!(
            role(&obj(json!({HOOK: "PostSync", HELM_HOOK: "pre-install"}))),
            Role::Hook(vec!["PostSync".into()])
        );
        assert_eq!(
            role(&obj(json!({HELM_HOOK: "pre-install,post-upgrade"}))),
            Role::Hook(vec!["PreSync".into(), "PostSync".into()])
        );
        assert_eq!(role(&obj(json!({HELM_HOOK: "test"}))), Role::Hook(vec![]));
        assert_eq!(role(&obj(json!({HELM_HOOK: "crd-install"}))), Role::Resource);
    }

    #[test]
    fn waves_and_policies() {
        assert_eq!(wave(&obj(json!({SYNC_WAVE: "-2", HELM_WEIGHT: "5"}))), -2);
        assert_eq!(wave(&obj(json!({SYNC_WAVE: " 1", HELM_WEIGHT: "5"}))), 5);
        assert_eq!(wave(&obj(json!({}))), 0);
        assert_eq!(delete_policies(&obj(json!({}))), ["BeforeHookCreation"]);
        assert_eq!(
            delete_policies(&obj(
                json!({HELM_DELETE_POLICY: "hook-succeeded,before-hook-creation"})
            )),
            ["HookSucceeded", "BeforeHookCreation"]
        );
    }
}
