//! The CustomResourceDefinitions the stand-in installs: kyverno.io/v1 ClusterPolicy and
//! Policy, kyverno.io/v2 PolicyException, CleanupPolicy and ClusterCleanupPolicy,
//! wgpolicyk8s.io/v1alpha2 PolicyReport and ClusterPolicyReport. Names, short names,
//! categories and printer columns are Kyverno's; the schemas are written from Kyverno's
//! documentation (the parts of a rule the stand-in evaluates are typed, the open-ended
//! parts — patterns, conditions, mutations — keep unknown fields as Kyverno's own do).

use serde_json::{Value, json};

fn open() -> Value {
    json!({"x-kubernetes-preserve-unknown-fields": true})
}

fn strings() -> Value {
    json!({"type": "array", "items": {"type": "string"}})
}

fn label_selector() -> Value {
    json!({"type": "object", "x-kubernetes-map-type": "atomic", "properties": {
        "matchLabels": {"type": "object", "additionalProperties": {"type": "string"}},
        "matchExpressions": {"type": "array", "items": {"type": "object", "required": ["key", "operator"], "properties": {
            "key": {"type": "string"}, "operator": {"type": "string"}, "values": strings(),
        }}},
    }})
}

fn resource_filter() -> Value {
    json!({"type": "object", "properties": {
        "resources": {"type": "object", "properties": {
            "kinds": strings(), "name": {"type": "string"}, "names": strings(), "namespaces": strings(),
            "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
            "selector": label_selector(), "namespaceSelector": label_selector(),
            "operations": {"type": "array", "items": {"type": "string", "enum": ["CREATE", "CONNECT", "UPDATE", "DELETE"]}},
        }},
        "subjects": {"type": "array", "items": {"type": "object", "required": ["kind", "name"], "properties": {
            "apiGroup": {"type": "string"}, "kind": {"type": "string"}, "name": {"type": "string"}, "namespace": {"type": "string"},
        }}},
        "roles": strings(), "clusterRoles": strings(),
    }})
}

fn match_block() -> Value {
    let mut m = resource_filter();
    m["properties"]["any"] = json!({"type": "array", "items": resource_filter()});
    m["properties"]["all"] = json!({"type": "array", "items": resource_filter()});
    m
}

fn validate() -> Value {
    json!({"type": "object", "properties": {
        "message": {"type": "string"},
        "failureAction": {"type": "string", "enum": ["Audit", "Enforce"]},
        "failureActionOverrides": {"type": "array", "items": open()},
        "allowExistingViolations": {"type": "boolean", "default": true},
        "pattern": open(),
        "anyPattern": open(),
        "deny": {"type": "object", "properties": {"conditions": open()}},
        "foreach": {"type": "array", "items": open()},
        "cel": open(),
        "podSecurity": open(),
        "manifests": open(),
        "assert": open(),
    }})
}

fn rule() -> Value {
    json!({"type": "object", "required": ["name"], "properties": {
        "name": {"type": "string", "maxLength": 63},
        "match": match_block(),
        "exclude": match_block(),
        "preconditions": open(),
        "celPreconditions": {"type": "array", "items": open()},
        "context": {"type": "array", "items": open()},
        "skipBackgroundRequests": {"type": "boolean", "default": true},
        "reportProperties": {"type": "object", "additionalProperties": {"type": "string"}},
        "validate": validate(),
        "mutate": open(),
        "generate": open(),
        "verifyImages": {"type": "array", "items": open()},
    }})
}

fn policy_spec() -> Value {
    json!({"type": "object", "required": ["rules"], "properties": {
        "admission": {"type": "boolean", "default": true},
        "background": {"type": "boolean", "default": true},
        "failurePolicy": {"type": "string", "enum": ["Ignore", "Fail"]},
        "validationFailureAction": {"type": "string", "default": "Audit", "enum": ["audit", "enforce", "Audit", "Enforce"]},
        "validationFailureActionOverrides": {"type": "array", "items": open()},
        "emitWarning": {"type": "boolean", "default": false},
        "webhookTimeoutSeconds": {"type": "integer", "format": "int32"},
        "webhookConfiguration": open(),
        "generateExisting": {"type": "boolean"},
        "mutateExistingOnPolicyUpdate": {"type": "boolean"},
        "useServerSideApply": {"type": "boolean"},
        "applyRules": {"type": "string", "enum": ["All", "One"]},
        "rules": {"type": "array", "items": rule()},
    }})
}

fn policy_status() -> Value {
    json!({"type": "object", "properties": {
        "ready": {"type": "boolean"},
        "conditions": {"type": "array", "items": {"type": "object", "required": ["lastTransitionTime", "message", "reason", "status", "type"], "properties": {
            "lastTransitionTime": {"type": "string", "format": "date-time"},
            "message": {"type": "string", "maxLength": 32768},
            "observedGeneration": {"type": "integer", "format": "int64", "minimum": 0},
            "reason": {"type": "string", "maxLength": 1024, "minLength": 1},
            "status": {"type": "string", "enum": ["True", "False", "Unknown"]},
            "type": {"type": "string", "maxLength": 316},
        }}},
        "autogen": {"type": "object", "properties": {"rules": {"type": "array", "items": open()}}},
        "rulecount": {"type": "object", "required": ["generate", "mutate", "validate", "verifyimages"], "properties": {
            "generate": {"type": "integer"}, "mutate": {"type": "integer"}, "validate": {"type": "integer"}, "verifyimages": {"type": "integer"},
        }},
        "validatingadmissionpolicy": {"type": "object", "required": ["generated", "message"], "properties": {
            "generated": {"type": "boolean"}, "message": {"type": "string"},
        }},
    }})
}

fn policy_crd(kind: &str, plural: &str, singular: &str, short: &str, scope: &str) -> Value {
    let ready = ".status.conditions[?(@.type == \"Ready\")]";
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{plural}.kyverno.io"), "labels": {
            "app.kubernetes.io/component": "crds", "app.kubernetes.io/instance": "kyverno", "app.kubernetes.io/part-of": "kyverno",
        }},
        "spec": {
            "group": "kyverno.io",
            "names": {"kind": kind, "listKind": format!("{kind}List"), "plural": plural, "singular": singular, "shortNames": [short], "categories": ["kyverno"]},
            "scope": scope,
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}},
                "additionalPrinterColumns": [
                    {"name": "ADMISSION", "type": "boolean", "jsonPath": ".spec.admission"},
                    {"name": "BACKGROUND", "type": "boolean", "jsonPath": ".spec.background"},
                    {"name": "READY", "type": "string", "jsonPath": format!("{ready}.status")},
                    {"name": "AGE", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                    {"name": "FAILURE POLICY", "type": "string", "jsonPath": ".spec.failurePolicy", "priority": 1},
                    {"name": "VALIDATE", "type": "integer", "jsonPath": ".status.rulecount.validate", "priority": 1},
                    {"name": "MUTATE", "type": "integer", "jsonPath": ".status.rulecount.mutate", "priority": 1},
                    {"name": "GENERATE", "type": "integer", "jsonPath": ".status.rulecount.generate", "priority": 1},
                    {"name": "VERIFY IMAGES", "type": "integer", "jsonPath": ".status.rulecount.verifyimages", "priority": 1},
                    {"name": "MESSAGE", "type": "string", "jsonPath": format!("{ready}.message"), "priority": 1},
                ],
                "schema": {"openAPIV3Schema": {"type": "object", "required": ["spec"], "properties": {
                    "apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"},
                    "spec": policy_spec(),
                    "status": policy_status(),
                }}},
            }],
        },
    })
}

fn report_result(object_ref: &Value) -> Value {
    json!({"type": "object", "required": ["policy"], "properties": {
        "category": {"type": "string"},
        "message": {"type": "string"},
        "policy": {"type": "string"},
        "properties": {"type": "object", "additionalProperties": {"type": "string"}},
        "resourceSelector": label_selector(),
        "resources": {"type": "array", "items": object_ref.clone()},
        "result": {"type": "string", "enum": ["pass", "fail", "warn", "error", "skip"]},
        "rule": {"type": "string"},
        "scored": {"type": "boolean"},
        "severity": {"type": "string", "enum": ["critical", "high", "low", "medium", "info"]},
        "source": {"type": "string"},
        "timestamp": {"type": "object", "required": ["nanos", "seconds"], "properties": {
            "nanos": {"type": "integer", "format": "int32"}, "seconds": {"type": "integer", "format": "int64"},
        }},
    }})
}

fn report_crd(kind: &str, plural: &str, singular: &str, short: &str, scope: &str) -> Value {
    let object_ref = json!({"type": "object", "x-kubernetes-map-type": "atomic", "properties": {
        "apiVersion": {"type": "string"}, "fieldPath": {"type": "string"}, "kind": {"type": "string"}, "name": {"type": "string"},
        "namespace": {"type": "string"}, "resourceVersion": {"type": "string"}, "uid": {"type": "string"},
    }});
    let mut columns = vec![
        json!({"name": "Kind", "type": "string", "jsonPath": ".scope.kind", "priority": 1}),
        json!({"name": "Name", "type": "string", "jsonPath": ".scope.name", "priority": 1}),
    ];
    for (n, p) in [
        ("Pass", "pass"),
        ("Fail", "fail"),
        ("Warn", "warn"),
        ("Error", "error"),
        ("Skip", "skip"),
    ] {
        columns.push(json!({"name": n, "type": "integer", "jsonPath": format!(".summary.{p}")}));
    }
    columns.push(json!({"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}));
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{plural}.wgpolicyk8s.io"), "labels": {
            "app.kubernetes.io/component": "crds", "app.kubernetes.io/instance": "kyverno", "app.kubernetes.io/part-of": "kyverno",
        }},
        "spec": {
            "group": "wgpolicyk8s.io",
            "names": {"kind": kind, "listKind": format!("{kind}List"), "plural": plural, "singular": singular, "shortNames": [short]},
            "scope": scope,
            "versions": [{
                "name": "v1alpha2", "served": true, "storage": true,
                "additionalPrinterColumns": columns,
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"},
                    "scope": object_ref.clone(),
                    "scopeSelector": label_selector(),
                    "summary": {"type": "object", "properties": {
                        "error": {"type": "integer"}, "fail": {"type": "integer"}, "pass": {"type": "integer"}, "skip": {"type": "integer"}, "warn": {"type": "integer"},
                    }},
                    "results": {"type": "array", "items": report_result(&object_ref)},
                }}},
            }],
        },
    })
}

/// The four CRDs, in install order.
/// A kyverno.io CRD (chart labels, category `kyverno`) of `(kind, plural, singular, short
/// name)` with the given versions.
fn kyverno_v2_crd(names: (&str, &str, &str, &str), scope: &str, versions: [Value; 2]) -> Value {
    let (kind, plural, singular, short) = names;
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{plural}.kyverno.io"), "labels": {
            "app.kubernetes.io/component": "crds", "app.kubernetes.io/instance": "kyverno", "app.kubernetes.io/part-of": "kyverno",
        }},
        "spec": {
            "group": "kyverno.io",
            "names": {"kind": kind, "listKind": format!("{kind}List"), "plural": plural, "singular": singular, "shortNames": [short], "categories": ["kyverno"]},
            "scope": scope,
            "versions": versions,
        },
    })
}

/// `policyexceptions.kyverno.io`: v2 (storage) and v2beta1 (served), namespaced, short
/// name `polex`; `spec.exceptions` and `spec.match` required.
fn exception_crd() -> Value {
    let version = |name: &str, storage: bool| {
        json!({
            "name": name, "served": true, "storage": storage,
            "additionalPrinterColumns": [{"name": "AGE", "type": "date", "jsonPath": ".metadata.creationTimestamp"}],
            "schema": {"openAPIV3Schema": {"type": "object", "required": ["spec"], "properties": {
                "apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"},
                "spec": {"type": "object", "required": ["exceptions", "match"], "properties": {
                    "background": {"type": "boolean"},
                    "conditions": open(),
                    "exceptions": {"type": "array", "items": {"type": "object", "required": ["policyName", "ruleNames"], "properties": {
                        "policyName": {"type": "string"}, "ruleNames": strings(),
                    }}},
                    "match": open(),
                    "podSecurity": {"type": "array", "items": open()},
                }},
            }}},
        })
    };
    kyverno_v2_crd(
        ("PolicyException", "policyexceptions", "policyexception", "polex"),
        "Namespaced",
        [version("v2", true), version("v2beta1", false)],
    )
}

/// `cleanuppolicies.kyverno.io` / `clustercleanuppolicies.kyverno.io` (v2 storage, v2beta1
/// served): the stand-in does not run them, and says so in their status.
fn cleanup_crd(kind: &str, plural: &str, singular: &str, short: &str, scope: &str) -> Value {
    let version = |name: &str, storage: bool| {
        json!({
            "name": name, "served": true, "storage": storage,
            "subresources": {"status": {}},
            "additionalPrinterColumns": [
                {"name": "Schedule", "type": "string", "jsonPath": ".spec.schedule"},
                {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
            ],
            "schema": {"openAPIV3Schema": {"type": "object", "required": ["spec"], "properties": {
                "apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"},
                "spec": open(),
                "status": open(),
            }}},
        })
    };
    kyverno_v2_crd(
        (kind, plural, singular, short),
        scope,
        [version("v2", true), version("v2beta1", false)],
    )
}

pub fn all() -> Vec<Value> {
    vec![
        exception_crd(),
        cleanup_crd(
            "CleanupPolicy",
            "cleanuppolicies",
            "cleanuppolicy",
            "cleanpol",
            "Namespaced",
        ),
        cleanup_crd(
            "ClusterCleanupPolicy",
            "clustercleanuppolicies",
            "clustercleanuppolicy",
            "ccleanpol",
            "Cluster",
        ),
        policy_crd(
            "ClusterPolicy",
            "clusterpolicies",
            "clusterpolicy",
            "cpol",
            "Cluster",
        ),
        policy_crd("Policy", "policies", "policy", "pol", "Namespaced"),
        report_crd(
            "PolicyReport",
            "policyreports",
            "policyreport",
            "polr",
            "Namespaced",
        ),
        report_crd(
            "ClusterPolicyReport",
            "clusterpolicyreports",
            "clusterpolicyreport",
            "cpolr",
            "Cluster",
        ),
    ]
}
