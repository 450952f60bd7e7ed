//! The parts of cert-manager.io/v1 objects the stand-in reads (`pkg/apis/certmanager/v1`),
//! with cert-manager's defaults where the controllers apply them.

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::keys::{Encoding, KeySpec};

/// `cmmeta.IssuerReference`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct IssuerRef {
    pub name: String,
    pub kind: String,
    pub group: String,
}

impl IssuerRef {
    /// `Issuer` when empty, as `apiutil.IssuerKind` reads it.
    pub fn kind_or_default(&self) -> &str {
        if self.kind.is_empty() {
            "Issuer"
        } else {
            &self.kind
        }
    }

    /// `cert-manager.io` when empty.
    pub fn group_or_default(&self) -> &str {
        if self.group.is_empty() {
            "cert-manager.io"
        } else {
            &self.group
        }
    }

    /// The same issuer, with kinds and groups defaulted as cert-manager compares them.
    pub fn same_as(&self, other: &IssuerRef) -> bool {
        self.name == other.name
            && self.kind_or_default() == other.kind_or_default()
            && self.group_or_default() == other.group_or_default()
    }

    /// `Kind.group/name`, as `formatIssuerRef` prints it.
    pub fn display(name: &str, kind: &str, group: &str) -> String {
        let group = if group.is_empty() {
            "cert-manager.io"
        } else {
            group
        };
        let kind = if kind.is_empty() { "Issuer" } else { kind };
        format!("{kind}.{group}/{name}")
    }

    /// The reference as cert-manager serializes it (kind and group omitted when empty).
    pub fn to_json(&self) -> Value {
        let mut v = serde_json::json!({"name": self.name});
        if !self.kind.is_empty() {
            v["kind"] = Value::from(self.kind.clone());
        }
        if !self.group.is_empty() {
            v["group"] = Value::from(self.group.clone());
        }
        v
    }
}

/// `X509Subject`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default, rename_all = "camelCase")]
pub struct Subject {
    pub organizations: Vec<String>,
    pub countries: Vec<String>,
    pub organizational_units: Vec<String>,
    pub localities: Vec<String>,
    pub provinces: Vec<String>,
    pub street_addresses: Vec<String>,
    pub postal_codes: Vec<String>,
    pub serial_number: String,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default, rename_all = "camelCase")]
pub struct OtherName {
    pub oid: String,
    pub utf8_value: String,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct SecretTemplate {
    pub annotations: std::collections::BTreeMap<String, String>,
    pub labels: std::collections::BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default, rename_all = "camelCase")]
pub struct PrivateKeyField {
    pub algorithm: String,
    pub size: i64,
    pub encoding: String,
    pub rotation_policy: String,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default, rename_all = "camelCase")]
pub struct NameConstraintItem {
    pub dns_domains: Vec<String>,
    pub ip_ranges: Vec<String>,
    pub email_addresses: Vec<String>,
    pub uri_domains: Vec<String>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct NameConstraints {
    pub critical: bool,
    pub permitted: Option<NameConstraintItem>,
    pub excluded: Option<NameConstraintItem>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Renewal {
    pub policy: String,
    pub windows: Vec<Value>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default, rename_all = "camelCase")]
pub struct OutputFormat {
    #[serde(rename = "type")]
    pub kind: String,
}

/// `CertificateSpec`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct CertSpec {
    pub subject: Option<Subject>,
    pub literal_subject: String,
    pub common_name: String,
    pub duration: Option<String>,
    pub renew_before: Option<String>,
    pub renew_before_percentage: Option<i64>,
    pub renewal: Option<Renewal>,
    #[serde(rename = "dnsNames")]
    pub dns_names: Vec<String>,
    pub ip_addresses: Vec<String>,
    pub uris: Vec<String>,
    pub other_names: Option<Vec<OtherName>>,
    pub email_addresses: Vec<String>,
    pub secret_name: String,
    pub secret_template: Option<SecretTemplate>,
    pub keystores: Option<Value>,
    pub issuer_ref: IssuerRef,
    #[serde(rename = "isCA")]
    pub is_ca: bool,
    pub usages: Vec<String>,
    pub private_key: Option<PrivateKeyField>,
    pub signature_algorithm: String,
    pub encode_usages_in_request: Option<bool>,
    pub revision_history_limit: Option<i64>,
    pub additional_output_formats: Vec<OutputFormat>,
    pub name_constraints: Option<NameConstraints>,
}

/// Drops nulls (the API server prunes them from non-nullable fields; a hand-written object
/// may still carry some through a merge patch).
fn without_nulls(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, x)| !x.is_null())
                .map(|(k, x)| (k.clone(), without_nulls(x)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

/// A Go duration (`metav1.Duration`), or why it is not one.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    match hubspoke_kyverno::pattern::parse_duration(s) {
        Some(ns) if ns >= 0 => Ok(Duration::from_nanos(ns.min(u64::MAX as i128) as u64)),
        Some(_) => Ok(Duration::ZERO),
        None => Err(format!("invalid duration {s:?}")),
    }
}

/// cert-manager's default certificate duration (`DefaultCertificateDuration`, 90 days).
pub const DEFAULT_DURATION: Duration = Duration::from_secs(90 * 24 * 3600);

impl CertSpec {
    /// Reads `spec` of a Certificate.
    pub fn from_object(obj: &Value) -> Result<CertSpec, String> {
        let spec = obj.get("spec").map(without_nulls).unwrap_or(Value::Null);
        let spec: CertSpec = serde_json::from_value(spec).map_err(|e| format!("reading spec: {e}"))?;
        for d in [&spec.duration, &spec.renew_before].into_iter().flatten() {
            parse_duration(d)?;
        }
        Ok(spec)
    }

    pub fn key_spec(&self) -> KeySpec {
        let pk = self.private_key.clone().unwrap_or_default();
        KeySpec {
            algorithm: pk.algorithm,
            size: pk.size,
            encoding: if pk.encoding == "PKCS8" {
                Encoding::Pkcs8
            } else {
                Encoding::Pkcs1
            },
            rotation_never: pk.rotation_policy == "Never",
        }
    }

    /// `spec.duration`, defaulted (`apiutil.DefaultCertDuration`).
    pub fn duration(&self) -> Duration {
        self.duration
            .as_deref()
            .and_then(|d| parse_duration(d).ok())
            .unwrap_or(DEFAULT_DURATION)
    }

    pub fn renew_before(&self) -> Option<Duration> {
        self.renew_before.as_deref().and_then(|d| parse_duration(d).ok())
    }

    pub fn subject(&self) -> Subject {
        self.subject.clone().unwrap_or_default()
    }

    /// `spec.renewal.policy: Disabled`.
    pub fn renewal_disabled(&self) -> bool {
        self.renewal.as_ref().is_some_and(|r| r.policy == "Disabled")
    }
}

/// `CertificateRequestSpec`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct RequestSpec {
    pub duration: Option<String>,
    pub issuer_ref: IssuerRef,
    /// Base64 of the PEM CSR.
    pub request: String,
    #[serde(rename = "isCA")]
    pub is_ca: bool,
    pub usages: Vec<String>,
}

impl RequestSpec {
    pub fn from_object(obj: &Value) -> Result<RequestSpec, String> {
        let spec = obj.get("spec").map(without_nulls).unwrap_or(Value::Null);
        serde_json::from_value(spec).map_err(|e| format!("reading spec: {e}"))
    }

    pub fn duration(&self) -> Duration {
        self.duration
            .as_deref()
            .and_then(|d| parse_duration(d).ok())
            .unwrap_or(DEFAULT_DURATION)
    }

    /// The CSR's PEM bytes.
    pub fn csr_pem(&self) -> Result<Vec<u8>, String> {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .decode(self.request.as_bytes())
            .map_err(|e| format!("decoding spec.request: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_a_certificate_spec_with_defaults() {
        let s = CertSpec::from_object(&json!({"spec": {
            "secretName": "web-tls", "dnsNames": ["a.example.com"], "isCA": true,
            "issuerRef": {"name": "ca", "kind": "ClusterIssuer"},
            "privateKey": {"algorithm": "ECDSA", "size": 384, "encoding": "PKCS8", "rotationPolicy": "Never"},
            "duration": "2160h", "renewBefore": "360h", "commonName": null,
        }}))
        .unwrap();
        assert_eq!(s.dns_names, vec!["a.example.com"]);
        assert!(s.is_ca);
        assert_eq!(s.issuer_ref.group_or_default(), "cert-manager.io");
        assert_eq!(s.duration(), Duration::from_secs(2160 * 3600));
        assert_eq!(s.renew_before(), Some(Duration::from_secs(360 * 3600)));
        let k = s.key_spec();
        assert_eq!(
            (k.algorithm.as_str(), k.size, k.encoding, k.rotation_never),
            ("ECDSA", 384, Encoding::Pkcs8, true)
        );
        let d =
            CertSpec::from_object(&json!({"spec": {"secretName": "x", "issuerRef": {"name": "i"}}})).unwrap();
        assert_eq!(d.duration(), DEFAULT_DURATION);
        assert_eq!(d.key_spec(), KeySpec::default());
        assert_eq!(
            CertSpec::from_object(&json!({"spec": {"duration": "90d"}})).unwrap_err(),
            "invalid duration \"90d\""
        );
        assert_eq!(IssuerRef::display("ca", "", ""), "Issuer.cert-manager.io/ca");
    }
}
