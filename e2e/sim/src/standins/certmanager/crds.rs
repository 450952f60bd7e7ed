//! The cert-manager.io/v1 CustomResourceDefinitions the stand-in installs when asked to:
//! Certificate, CertificateRequest, Issuer and ClusterIssuer, with cert-manager's names,
//! short names, categories, printer columns and status subresource. The schemas are
//! structural and follow `deploy/crds` of the pinned release for what the stand-in reads
//! (typed, with the enums); the acme, vault and venafi issuer configurations and the
//! keystores keep unknown fields, since the stand-in only reports that it does not issue
//! from them.

use serde_json::{Value, json};

use super::CERT_MANAGER_VERSION;

fn open() -> Value {
    json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true})
}

fn string() -> Value {
    json!({"type": "string"})
}

fn strings() -> Value {
    json!({"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "atomic"})
}

fn string_map() -> Value {
    json!({"type": "object", "additionalProperties": {"type": "string"}})
}

fn issuer_ref() -> Value {
    json!({"type": "object", "required": ["name"], "properties": {
        "group": string(), "kind": string(), "name": string(),
    }})
}

fn usages() -> Value {
    json!({"type": "array", "x-kubernetes-list-type": "atomic", "items": {"type": "string", "enum": [
        "signing", "digital signature", "content commitment", "key encipherment", "key agreement",
        "data encipherment", "cert sign", "crl sign", "encipher only", "decipher only", "any",
        "server auth", "client auth", "code signing", "email protection", "s/mime",
        "ipsec end system", "ipsec tunnel", "ipsec user", "timestamping", "ocsp signing",
        "microsoft sgc", "netscape sgc",
    ]}})
}

fn conditions(observed_generation: bool) -> Value {
    let mut item = json!({"type": "object", "required": ["status", "type"], "properties": {
        "lastTransitionTime": {"type": "string", "format": "date-time"},
        "message": string(),
        "reason": string(),
        "status": {"type": "string", "enum": ["True", "False", "Unknown"]},
        "type": string(),
    }});
    if observed_generation {
        item["properties"]["observedGeneration"] = json!({"type": "integer", "format": "int64"});
    }
    json!({"type": "array", "items": item, "x-kubernetes-list-map-keys": ["type"], "x-kubernetes-list-type": "map"})
}

fn name_constraint_item() -> Value {
    json!({"type": "object", "properties": {
        "dnsDomains": strings(), "emailAddresses": strings(), "ipRanges": strings(), "uriDomains": strings(),
    }})
}

fn certificate_spec() -> Value {
    json!({"type": "object", "required": ["issuerRef", "secretName"], "properties": {
        "additionalOutputFormats": {"type": "array", "x-kubernetes-list-type": "atomic", "items": {
            "type": "object", "required": ["type"], "properties": {"type": {"type": "string", "enum": ["DER", "CombinedPEM"]}},
        }},
        "commonName": string(),
        "dnsNames": strings(),
        "duration": string(),
        "emailAddresses": strings(),
        "encodeUsagesInRequest": {"type": "boolean"},
        "ipAddresses": strings(),
        "isCA": {"type": "boolean"},
        "issuerRef": issuer_ref(),
        "keystores": open(),
        "literalSubject": string(),
        "nameConstraints": {"type": "object", "properties": {
            "critical": {"type": "boolean"}, "excluded": name_constraint_item(), "permitted": name_constraint_item(),
        }},
        "otherNames": {"type": "array", "x-kubernetes-list-type": "atomic", "items": {"type": "object", "properties": {
            "oid": string(), "utf8Value": string(),
        }}},
        "privateKey": {"type": "object", "properties": {
            "algorithm": {"type": "string", "enum": ["RSA", "ECDSA", "Ed25519"]},
            "encoding": {"type": "string", "enum": ["PKCS1", "PKCS8"]},
            "rotationPolicy": {"type": "string", "enum": ["Never", "Always"]},
            "size": {"type": "integer"},
        }},
        "renewBefore": string(),
        "renewBeforePercentage": {"type": "integer", "format": "int32"},
        "renewal": {"type": "object", "properties": {
            "policy": {"type": "string", "enum": ["RenewBefore", "Disabled"]},
            "windows": {"type": "array", "x-kubernetes-list-type": "atomic", "items": {
                "type": "object", "required": ["cron", "windowDuration"], "properties": {
                    "cron": {"type": "string", "minLength": 1},
                    "timezone": {"type": "string", "minLength": 1},
                    "windowDuration": {"type": "string", "pattern": "^([0-9]+(\\.[0-9]+)?(s|m|h))+$"},
                },
            }},
        }},
        "revisionHistoryLimit": {"type": "integer", "format": "int32"},
        "secretName": string(),
        "secretTemplate": {"type": "object", "properties": {"annotations": string_map(), "labels": string_map()}},
        "signatureAlgorithm": {"type": "string", "enum": [
            "SHA256WithRSA", "SHA384WithRSA", "SHA512WithRSA", "ECDSAWithSHA256", "ECDSAWithSHA384",
            "ECDSAWithSHA512", "PureEd25519",
        ]},
        "subject": {"type": "object", "properties": {
            "countries": strings(), "localities": strings(), "organizationalUnits": strings(),
            "organizations": strings(), "postalCodes": strings(), "provinces": strings(),
            "serialNumber": string(), "streetAddresses": strings(),
        }},
        "uris": strings(),
        "usages": usages(),
    }})
}

fn certificate_status() -> Value {
    let time = json!({"type": "string", "format": "date-time"});
    json!({"type": "object", "properties": {
        "acme": open(),
        "conditions": conditions(true),
        "failedIssuanceAttempts": {"type": "integer"},
        "lastFailureTime": time,
        "nextPrivateKeySecretName": string(),
        "notAfter": time,
        "notBefore": time,
        "renewalTime": time,
        "revision": {"type": "integer"},
    }})
}

fn request_spec() -> Value {
    json!({"type": "object", "required": ["issuerRef", "request"], "properties": {
        "duration": string(),
        "extra": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
        "groups": strings(),
        "isCA": {"type": "boolean"},
        "issuerRef": issuer_ref(),
        "request": {"type": "string", "format": "byte"},
        "uid": string(),
        "usages": usages(),
        "username": string(),
    }})
}

fn request_status() -> Value {
    json!({"type": "object", "properties": {
        "ca": {"type": "string", "format": "byte"},
        "certificate": {"type": "string", "format": "byte"},
        "conditions": conditions(false),
        "failureTime": {"type": "string", "format": "date-time"},
    }})
}

fn issuer_spec() -> Value {
    json!({"type": "object", "properties": {
        "acme": open(),
        "ca": {"type": "object", "required": ["secretName"], "properties": {
            "crlDistributionPoints": strings(), "issuingCertificateURLs": strings(),
            "ocspServers": strings(), "secretName": string(),
        }},
        "selfSigned": {"type": "object", "properties": {"crlDistributionPoints": strings()}},
        "vault": open(),
        "venafi": open(),
    }})
}

fn issuer_status() -> Value {
    json!({"type": "object", "properties": {
        "acme": {"type": "object", "properties": {
            "lastPrivateKeyHash": string(), "lastRegisteredEmail": string(), "uri": string(),
        }},
        "conditions": conditions(true),
    }})
}

fn age() -> Value {
    json!({"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"})
}

fn column(name: &str, path: &str, priority: Option<i64>) -> Value {
    let mut c = json!({"name": name, "type": "string", "jsonPath": path});
    if let Some(p) = priority {
        c["priority"] = json!(p);
    }
    c
}

#[allow(clippy::too_many_arguments)]
fn crd(
    kind: &str,
    plural: &str,
    short: &[&str],
    scope: &str,
    columns: Vec<Value>,
    spec: Value,
    status: Value,
    spec_required: bool,
) -> Value {
    let mut schema = json!({"type": "object", "properties": {
        "apiVersion": string(), "kind": string(), "metadata": {"type": "object"},
        "spec": spec, "status": status,
    }});
    if spec_required {
        schema["required"] = json!(["spec"]);
    }
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{plural}.cert-manager.io"), "labels": {
            "app": "cert-manager", "app.kubernetes.io/name": "cert-manager", "app.kubernetes.io/instance": "cert-manager",
            "app.kubernetes.io/component": "crds", "app.kubernetes.io/version": CERT_MANAGER_VERSION,
        }},
        "spec": {
            "group": "cert-manager.io",
            "names": {
                "kind": kind, "listKind": format!("{kind}List"), "plural": plural,
                "singular": kind.to_lowercase(), "shortNames": short, "categories": ["cert-manager"],
            },
            "scope": scope,
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}},
                "additionalPrinterColumns": columns,
                "schema": {"openAPIV3Schema": schema},
            }],
        },
    })
}

fn issuer_columns() -> Vec<Value> {
    vec![
        column(
            "Ready",
            r#".status.conditions[?(@.type == "Ready")].status"#,
            None,
        ),
        column(
            "Status",
            r#".status.conditions[?(@.type == "Ready")].message"#,
            Some(1),
        ),
        age(),
    ]
}

/// The four CRDs, in install order.
pub fn all() -> Vec<Value> {
    vec![
        crd(
            "Certificate",
            "certificates",
            &["cert", "certs"],
            "Namespaced",
            vec![
                column(
                    "Ready",
                    r#".status.conditions[?(@.type == "Ready")].status"#,
                    None,
                ),
                column("Secret", ".spec.secretName", None),
                column("Issuer", ".spec.issuerRef.name", Some(1)),
                column(
                    "Status",
                    r#".status.conditions[?(@.type == "Ready")].message"#,
                    Some(1),
                ),
                age(),
            ],
            certificate_spec(),
            certificate_status(),
            false,
        ),
        crd(
            "CertificateRequest",
            "certificaterequests",
            &["cr", "crs"],
            "Namespaced",
            vec![
                column(
                    "Approved",
                    r#".status.conditions[?(@.type == "Approved")].status"#,
                    None,
                ),
                column(
                    "Denied",
                    r#".status.conditions[?(@.type == "Denied")].status"#,
                    None,
                ),
                column(
                    "Ready",
                    r#".status.conditions[?(@.type == "Ready")].status"#,
                    None,
                ),
                column("Issuer", ".spec.issuerRef.name", None),
                column("Requester", ".spec.username", None),
                column(
                    "Status",
                    r#".status.conditions[?(@.type == "Ready")].message"#,
                    Some(1),
                ),
                age(),
            ],
            request_spec(),
            request_status(),
            false,
        ),
        crd(
            "Issuer",
            "issuers",
            &["iss"],
            "Namespaced",
            issuer_columns(),
            issuer_spec(),
            issuer_status(),
            true,
        ),
        crd(
            "ClusterIssuer",
            "clusterissuers",
            &["ciss"],
            "Cluster",
            issuer_columns(),
            issuer_spec(),
            issuer_status(),
            true,
        ),
    ]
}
