//! The argoproj.io CRDs the stand-in installs: Application (`app`, `apps`), ApplicationSet
//! (`appset`, `appsets`) and AppProject (`appproj`, `appprojs`), with Argo CD's names, scope,
//! printer columns and subresources (Applications and AppProjects have none, so the
//! controller writes their status with the object; ApplicationSets have `status`). The
//! schemas are written from Argo CD's documentation: the fields the stand-in reads are typed,
//! the rest keeps unknown fields, as generator and template blocks are open-ended.

use serde_json::{Value, json};

fn open() -> Value {
    json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true})
}

fn strings() -> Value {
    json!({"type": "array", "items": {"type": "string"}})
}

fn source() -> Value {
    json!({"type": "object", "required": ["repoURL"], "properties": {
        "repoURL": {"type": "string"},
        "path": {"type": "string"},
        "targetRevision": {"type": "string"},
        "chart": {"type": "string"},
        "ref": {"type": "string"},
        "name": {"type": "string"},
        "directory": {"type": "object", "properties": {
            "recurse": {"type": "boolean"},
            "include": {"type": "string"},
            "exclude": {"type": "string"},
            "jsonnet": open(),
        }},
        "helm": open(),
        "kustomize": open(),
        "plugin": open(),
    }})
}

fn destination() -> Value {
    json!({"type": "object", "properties": {
        "server": {"type": "string"}, "name": {"type": "string"}, "namespace": {"type": "string"},
    }})
}

fn sync_policy() -> Value {
    json!({"type": "object", "properties": {
        "automated": {"type": "object", "properties": {
            "prune": {"type": "boolean"}, "selfHeal": {"type": "boolean"}, "allowEmpty": {"type": "boolean"}, "enabled": {"type": "boolean"},
        }},
        "syncOptions": strings(),
        "retry": {"type": "object", "properties": {
            "limit": {"type": "integer", "format": "int64"},
            "refresh": {"type": "boolean"},
            "backoff": {"type": "object", "properties": {
                "duration": {"type": "string"}, "factor": {"type": "integer", "format": "int64"}, "maxDuration": {"type": "string"},
            }},
        }},
        "managedNamespaceMetadata": open(),
    }})
}

fn application_spec() -> Value {
    json!({"type": "object", "required": ["destination", "project"], "properties": {
        "project": {"type": "string"},
        "destination": destination(),
        "source": source(),
        "sources": {"type": "array", "items": source()},
        "syncPolicy": sync_policy(),
        "ignoreDifferences": {"type": "array", "items": open()},
        "info": {"type": "array", "items": open()},
        "revisionHistoryLimit": {"type": "integer", "format": "int64"},
        "sourceHydrator": open(),
    }})
}

fn crd(
    kind: &str,
    plural: &str,
    singular: &str,
    shorts: &[&str],
    columns: Value,
    schema: Value,
    status: bool,
) -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{plural}.argoproj.io"), "labels": {
            "app.kubernetes.io/name": format!("{plural}.argoproj.io"), "app.kubernetes.io/part-of": "argocd",
        }},
        "spec": {
            "group": "argoproj.io",
            "names": {"kind": kind, "listKind": format!("{kind}List"), "plural": plural, "singular": singular, "shortNames": shorts},
            "scope": "Namespaced",
            "versions": [{
                "name": "v1alpha1", "served": true, "storage": true,
                "additionalPrinterColumns": columns,
                "schema": {"openAPIV3Schema": schema},
                "subresources": if status { json!({"status": {}}) } else { json!({}) },
            }],
        },
    })
}

fn application() -> Value {
    let columns = json!([
        {"jsonPath": ".status.sync.status", "name": "Sync Status", "type": "string"},
        {"jsonPath": ".status.health.status", "name": "Health Status", "type": "string"},
        {"jsonPath": ".status.sync.revision", "name": "Revision", "priority": 10, "type": "string"},
        {"jsonPath": ".spec.project", "name": "Project", "priority": 10, "type": "string"},
    ]);
    let schema = json!({"type": "object", "required": ["metadata", "spec"], "properties": {
        "apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"},
        "spec": application_spec(),
        "status": open(),
        "operation": open(),
    }});
    crd(
        "Application",
        "applications",
        "application",
        &["app", "apps"],
        columns,
        schema,
        false,
    )
}

fn application_set() -> Value {
    let schema = json!({"type": "object", "required": ["metadata", "spec"], "properties": {
        "apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"},
        "spec": {"type": "object", "required": ["generators", "template"], "properties": {
            "generators": {"type": "array", "items": open()},
            "template": open(),
            "templatePatch": {"type": "string"},
            "goTemplate": {"type": "boolean"},
            "goTemplateOptions": strings(),
            "syncPolicy": {"type": "object", "properties": {
                "applicationsSync": {"type": "string", "enum": ["create-only", "create-update", "create-delete", "sync"]},
                "preserveResourcesOnDeletion": {"type": "boolean"},
            }},
            "strategy": open(),
            "preservedFields": open(),
            "ignoreApplicationDifferences": {"type": "array", "items": open()},
        }},
        "status": open(),
    }});
    crd(
        "ApplicationSet",
        "applicationsets",
        "applicationset",
        &["appset", "appsets"],
        json!([]),
        schema,
        true,
    )
}

fn app_project() -> Value {
    let schema = json!({"type": "object", "required": ["metadata", "spec"], "properties": {
        "apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"},
        "spec": {"type": "object", "properties": {
            "description": {"type": "string"},
            "sourceRepos": strings(),
            "destinations": {"type": "array", "items": destination()},
            "clusterResourceWhitelist": {"type": "array", "items": open()},
            "clusterResourceBlacklist": {"type": "array", "items": open()},
            "namespaceResourceWhitelist": {"type": "array", "items": open()},
            "namespaceResourceBlacklist": {"type": "array", "items": open()},
            "sourceNamespaces": strings(),
            "roles": {"type": "array", "items": open()},
            "syncWindows": {"type": "array", "items": open()},
            "orphanedResources": open(),
            "signatureKeys": {"type": "array", "items": open()},
        }},
        "status": open(),
    }});
    crd(
        "AppProject",
        "appprojects",
        "appproject",
        &["appproj", "appprojs"],
        json!([]),
        schema,
        false,
    )
}

/// The three CRDs, in install order.
pub fn all() -> Vec<Value> {
    vec![application(), application_set(), app_project()]
}
