//! X.509 as cert-manager's `pkg/util/pki` does it: the CSR a Certificate's spec asks for
//! (`GenerateCSR`), the certificate an issuer makes of a CertificateRequest
//! (`CertificateTemplateFromCertificateRequest`, `SignCertificate`, `SignCSRTemplate`,
//! `ParseSingleCertificateChain`), what the Secret's annotations say of a certificate
//! (`AnnotationsForCertificate`), when it is renewed (`RenewalTime`) and whether a request
//! or a certificate still matches a spec (`RequestMatchesSpec`, `FuzzyX509AltNamesMatchSpec`).
//!
//! rcgen builds and signs; x509-parser reads. Where rcgen cannot say what Go's x509 says the
//! module docs of the stand-in list the difference.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType, DnValue,
    ExtendedKeyUsagePurpose, IsCa, KeyUsagePurpose, SanType,
};
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;

use super::der;
use super::keys::PrivateKey;
use super::spec::{CertSpec, RequestSpec};

const OID_EXT_KEY_USAGE: &[u64] = &[2, 5, 29, 37];
const OID_NAME_CONSTRAINTS: &[u64] = &[2, 5, 29, 30];
const OID_AIA: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 1, 1];

const CN: &[u64] = &[2, 5, 4, 3];
const SERIAL_NUMBER: &[u64] = &[2, 5, 4, 5];
const COUNTRY: &[u64] = &[2, 5, 4, 6];
const LOCALITY: &[u64] = &[2, 5, 4, 7];
const PROVINCE: &[u64] = &[2, 5, 4, 8];
const STREET: &[u64] = &[2, 5, 4, 9];
const ORGANIZATION: &[u64] = &[2, 5, 4, 10];
const ORGANIZATIONAL_UNIT: &[u64] = &[2, 5, 4, 11];
const POSTAL_CODE: &[u64] = &[2, 5, 4, 17];
const DOMAIN_COMPONENT: &[u64] = &[0, 9, 2342, 19200300, 100, 1, 25];
const UID: &[u64] = &[0, 9, 2342, 19200300, 100, 1, 1];

/// Go's `x509.KeyUsage` bits, in bit order, with cert-manager's names for them.
const KEY_USAGES: &[(&str, u16)] = &[
    ("digital signature", 1),
    ("content commitment", 1 << 1),
    ("key encipherment", 1 << 2),
    ("data encipherment", 1 << 3),
    ("key agreement", 1 << 4),
    ("cert sign", 1 << 5),
    ("crl sign", 1 << 6),
    ("encipher only", 1 << 7),
    ("decipher only", 1 << 8),
];

/// cert-manager's extended key usages and their OIDs (`s/mime` is email protection).
const EXT_KEY_USAGES: &[(&str, &[u64])] = &[
    ("any", &[2, 5, 29, 37, 0]),
    ("server auth", &[1, 3, 6, 1, 5, 5, 7, 3, 1]),
    ("client auth", &[1, 3, 6, 1, 5, 5, 7, 3, 2]),
    ("code signing", &[1, 3, 6, 1, 5, 5, 7, 3, 3]),
    ("email protection", &[1, 3, 6, 1, 5, 5, 7, 3, 4]),
    ("s/mime", &[1, 3, 6, 1, 5, 5, 7, 3, 4]),
    ("ipsec end system", &[1, 3, 6, 1, 5, 5, 7, 3, 5]),
    ("ipsec tunnel", &[1, 3, 6, 1, 5, 5, 7, 3, 6]),
    ("ipsec user", &[1, 3, 6, 1, 5, 5, 7, 3, 7]),
    ("timestamping", &[1, 3, 6, 1, 5, 5, 7, 3, 8]),
    ("ocsp signing", &[1, 3, 6, 1, 5, 5, 7, 3, 9]),
    ("microsoft sgc", &[1, 3, 6, 1, 4, 1, 311, 10, 3, 3]),
    ("netscape sgc", &[2, 16, 840, 1, 113730, 4, 1]),
];

/// Key usage bits and extended key usages, as `KeyUsagesForCertificateOrCertificateRequest`
/// derives them from `usages` (default: digital signature, key encipherment) and `isCA`
/// (adds cert sign).
pub fn key_usages(usages: &[String], is_ca: bool) -> Result<(u16, Vec<Vec<u64>>), String> {
    let mut ku = if is_ca { 1 << 5 } else { 0 };
    let mut eku = Vec::new();
    let mut unknown = Vec::new();
    let defaults = ["digital signature".to_string(), "key encipherment".to_string()];
    let usages = if usages.is_empty() { &defaults[..] } else { usages };
    for u in usages {
        if u == "signing" {
            ku |= 1;
        } else if let Some((_, bit)) = KEY_USAGES.iter().find(|(n, _)| n == u) {
            ku |= bit;
        } else if let Some((_, oid)) = EXT_KEY_USAGES.iter().find(|(n, _)| n == u) {
            eku.push(oid.to_vec());
        } else {
            unknown.push(u.as_str());
        }
    }
    if !unknown.is_empty() {
        return Err(format!("unknown key usages: [{}]", unknown.join(" ")));
    }
    Ok((ku, eku))
}

fn ku_names(bits: u16) -> Vec<&'static str> {
    KEY_USAGES
        .iter()
        .filter(|(_, b)| bits & b != 0)
        .map(|(n, _)| *n)
        .collect()
}

fn eku_names(oids: &[Vec<u64>]) -> Vec<String> {
    oids.iter()
        .map(|o| {
            EXT_KEY_USAGES
                .iter()
                .find(|(n, oid)| *oid == o.as_slice() && *n != "s/mime")
                .map(|(n, _)| n.to_string())
                .unwrap_or_else(|| "unknown".into())
        })
        .collect()
}

/// `printKeyUsage`: `[ 'a', 'b' ]`.
fn print_usages<S: AsRef<str>>(names: &[S]) -> String {
    let inner: Vec<String> = names.iter().map(|n| format!(" '{}'", n.as_ref())).collect();
    if inner.is_empty() {
        "[]".into()
    } else {
        format!("[{} ]", inner.join(","))
    }
}

fn rcgen_key_usages(bits: u16) -> Vec<KeyUsagePurpose> {
    use KeyUsagePurpose::*;
    [
        DigitalSignature,
        ContentCommitment,
        KeyEncipherment,
        DataEncipherment,
        KeyAgreement,
        KeyCertSign,
        CrlSign,
        EncipherOnly,
        DecipherOnly,
    ]
    .into_iter()
    .zip(KEY_USAGES)
    .filter(|(_, (_, b))| bits & b != 0)
    .map(|(p, _)| p)
    .collect()
}

fn rcgen_ext_key_usage(oid: &[u64]) -> ExtendedKeyUsagePurpose {
    use ExtendedKeyUsagePurpose::*;
    match EXT_KEY_USAGES.iter().find(|(_, o)| *o == oid).map(|(n, _)| *n) {
        Some("any") => Any,
        Some("server auth") => ServerAuth,
        Some("client auth") => ClientAuth,
        Some("code signing") => CodeSigning,
        Some("email protection") => EmailProtection,
        Some("timestamping") => TimeStamping,
        Some("ocsp signing") => OcspSigning,
        _ => Other(oid.to_vec()),
    }
}

/// A distinguished-name value as Go's `encoding/asn1` encodes a string: PrintableString when
/// every character allows it, else UTF8String.
fn dn_value(s: &str) -> DnValue {
    let printable = s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b" '()+,-./:=?".contains(&b));
    match rcgen::string::PrintableString::try_from(s) {
        Ok(p) if printable => DnValue::PrintableString(p),
        _ => DnValue::Utf8String(s.to_string()),
    }
}

fn dn_type(oid: &[u64]) -> DnType {
    DnType::from_oid(oid)
}

/// One attribute of a subject: its OID and string value.
pub type Attribute = (Vec<u64>, String);

/// The subject a spec asks for, flattened in encoding order. rcgen holds one value per
/// attribute type, so only the first of several organizations (etc.) is encoded.
pub fn spec_subject(spec: &CertSpec) -> Result<Vec<Attribute>, String> {
    if !spec.literal_subject.is_empty() {
        return literal_subject(&spec.literal_subject);
    }
    let s = spec.subject();
    let mut out = Vec::new();
    let mut add = |oid: &[u64], values: &[String]| {
        if let Some(v) = values.first() {
            out.push((oid.to_vec(), v.clone()));
        }
    };
    // pkix.Name.ToRDNSequence's order
    add(COUNTRY, &s.countries);
    add(PROVINCE, &s.provinces);
    add(LOCALITY, &s.localities);
    add(STREET, &s.street_addresses);
    add(POSTAL_CODE, &s.postal_codes);
    add(ORGANIZATION, &s.organizations);
    add(ORGANIZATIONAL_UNIT, &s.organizational_units);
    if !spec.common_name.is_empty() {
        out.push((CN.to_vec(), spec.common_name.clone()));
    }
    if !s.serial_number.is_empty() {
        out.push((SERIAL_NUMBER.to_vec(), s.serial_number.clone()));
    }
    Ok(out)
}

/// `UnmarshalSubjectStringToRDNSequence`: an RFC 4514 string, most significant RDN last,
/// attribute types by cert-manager's names or dotted OIDs.
pub fn literal_subject(s: &str) -> Result<Vec<Attribute>, String> {
    let mut rdns: Vec<Vec<Attribute>> = Vec::new();
    let mut current: Vec<Attribute> = Vec::new();
    let mut token = String::new();
    let mut attr_type: Option<String> = None;
    let mut chars = s.chars().peekable();
    let finish_atv = |attr_type: &mut Option<String>, token: &mut String, current: &mut Vec<Attribute>| {
        let t = attr_type
            .take()
            .ok_or_else(|| format!("DN ended with incomplete type, value pair: {s:?}"))?;
        let t = t.trim();
        let oid = match t {
            "C" => COUNTRY.to_vec(),
            "O" => ORGANIZATION.to_vec(),
            "OU" => ORGANIZATIONAL_UNIT.to_vec(),
            "CN" => CN.to_vec(),
            "SERIALNUMBER" => SERIAL_NUMBER.to_vec(),
            "L" => LOCALITY.to_vec(),
            "ST" => PROVINCE.to_vec(),
            "STREET" => STREET.to_vec(),
            "DC" => DOMAIN_COMPONENT.to_vec(),
            "UID" => UID.to_vec(),
            other => der::parse_dotted(other)
                .ok_or_else(|| format!("invalid attribute type {other:?} in literalSubject {s:?}"))?,
        };
        current.push((oid, token.trim().to_string()));
        token.clear();
        Ok::<(), String>(())
    };
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let a = chars
                    .next()
                    .ok_or_else(|| format!("got corrupted escaped character in {s:?}"))?;
                if a.is_ascii_hexdigit() && chars.peek().is_some_and(char::is_ascii_hexdigit) {
                    let b = chars.next().unwrap_or('0');
                    let byte = u8::from_str_radix(&format!("{a}{b}"), 16).unwrap_or(0);
                    token.push(byte as char);
                } else {
                    token.push(a);
                }
            }
            '=' if attr_type.is_none() => {
                attr_type = Some(std::mem::take(&mut token));
            }
            '+' => finish_atv(&mut attr_type, &mut token, &mut current)?,
            ',' | ';' => {
                finish_atv(&mut attr_type, &mut token, &mut current)?;
                rdns.push(std::mem::take(&mut current));
            }
            c => token.push(c),
        }
    }
    if attr_type.is_some() || !token.trim().is_empty() {
        finish_atv(&mut attr_type, &mut token, &mut current)?;
    }
    if !current.is_empty() {
        rdns.push(current);
    }
    Ok(rdns.into_iter().rev().flatten().collect())
}

fn distinguished_name(attrs: &[Attribute]) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    for (oid, v) in attrs {
        dn.push(dn_type(oid), dn_value(v));
    }
    dn
}

fn ia5(s: &str, what: &str) -> Result<rcgen::string::Ia5String, String> {
    rcgen::string::Ia5String::try_from(s.to_string())
        .map_err(|_| format!("x509: {what} {s:?} cannot be encoded as an IA5String"))
}

/// `IPAddressesFromStrings`.
pub fn parse_ips(ips: &[String]) -> Result<Vec<IpAddr>, String> {
    ips.iter()
        .map(|s| {
            s.parse::<IpAddr>()
                .map_err(|_| format!("failed to parse IP address {s:?}"))
        })
        .collect()
}

/// An IP as Go's `net.IP.String` prints it (IPv4-mapped addresses as IPv4).
pub fn ip_string(ip: &IpAddr) -> String {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => v6.to_string(),
        },
        v4 => v4.to_string(),
    }
}

fn cidr(s: &str) -> Result<Vec<u8>, String> {
    let (addr, bits) = s
        .split_once('/')
        .ok_or_else(|| format!("invalid CIDR address: {s}"))?;
    let ip: IpAddr = addr.parse().map_err(|_| format!("invalid CIDR address: {s}"))?;
    let bits: u32 = bits.parse().map_err(|_| format!("invalid CIDR address: {s}"))?;
    let len = if ip.is_ipv4() { 4 } else { 16 };
    if bits > len * 8 {
        return Err(format!("invalid CIDR address: {s}"));
    }
    let mut out = match ip {
        IpAddr::V4(v) => v.octets().to_vec(),
        IpAddr::V6(v) => v.octets().to_vec(),
    };
    let mask: Vec<u8> = (0..len)
        .map(|i| {
            let b = bits.saturating_sub(i * 8).min(8);
            if b == 0 { 0 } else { 0xffu8 << (8 - b) }
        })
        .collect();
    for (o, m) in out.iter_mut().zip(&mask) {
        *o &= m;
    }
    out.extend(mask);
    Ok(out)
}

/// The NameConstraints extension value for `spec.nameConstraints` (as `MarshalNameConstraints`).
fn name_constraints_value(nc: &super::spec::NameConstraints) -> Result<Option<Vec<u8>>, String> {
    let subtrees = |item: &super::spec::NameConstraintItem| -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        for d in &item.dns_domains {
            out.push(der::seq(&[der::write(0x82, d.as_bytes())]));
        }
        for r in &item.ip_ranges {
            out.push(der::seq(&[der::write(0x87, &cidr(r)?)]));
        }
        for e in &item.email_addresses {
            out.push(der::seq(&[der::write(0x81, e.as_bytes())]));
        }
        for u in &item.uri_domains {
            out.push(der::seq(&[der::write(0x86, u.as_bytes())]));
        }
        Ok(out.concat())
    };
    let mut parts = Vec::new();
    if let Some(p) = &nc.permitted {
        let s = subtrees(p)?;
        if !s.is_empty() {
            parts.push(der::write(0xa0, &s));
        }
    }
    if let Some(e) = &nc.excluded {
        let s = subtrees(e)?;
        if !s.is_empty() {
            parts.push(der::write(0xa1, &s));
        }
    }
    Ok(if parts.is_empty() {
        None
    } else {
        Some(der::seq(&parts))
    })
}

fn other_name_san(oid: &str, value: &str) -> Result<SanType, String> {
    let arcs = der::parse_dotted(oid).ok_or_else(|| format!("invalid object identifier {oid:?}"))?;
    Ok(SanType::OtherName((
        arcs,
        rcgen::OtherNameValue::Utf8String(value.to_string()),
    )))
}

/// The PEM CSR `GenerateCSR` makes for a Certificate, signed with `key`.
pub fn build_csr(spec: &CertSpec, key: &PrivateKey) -> Result<String, String> {
    let subject = spec_subject(spec)?;
    let common_name = subject
        .iter()
        .rev()
        .find(|(o, _)| o == CN)
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let mut params = CertificateParams::default();
    params.distinguished_name = distinguished_name(&subject);
    for e in &spec.email_addresses {
        params
            .subject_alt_names
            .push(SanType::Rfc822Name(ia5(e, "email address")?));
    }
    for d in &spec.dns_names {
        params
            .subject_alt_names
            .push(SanType::DnsName(ia5(d, "DNS name")?));
    }
    for u in &spec.uris {
        params.subject_alt_names.push(SanType::URI(ia5(u, "URI")?));
    }
    for ip in parse_ips(&spec.ip_addresses)? {
        params.subject_alt_names.push(SanType::IpAddress(ip));
    }
    for o in spec.other_names.iter().flatten() {
        params
            .subject_alt_names
            .push(other_name_san(&o.oid, &o.utf8_value)?);
    }
    if common_name.is_empty() && params.subject_alt_names.is_empty() {
        return Err("at least one of commonName (from the commonName field or from a literalSubject), dnsNames, emailSANs, ipAddresses, otherNames, or uriSANs must be set".into());
    }
    if spec.encode_usages_in_request.unwrap_or(true) {
        let (ku, eku) =
            key_usages(&spec.usages, spec.is_ca).map_err(|e| format!("failed to build key usages: {e}"))?;
        params.key_usages = rcgen_key_usages(ku);
        params.extended_key_usages = eku.iter().map(|o| rcgen_ext_key_usage(o)).collect();
    }
    if let Some(nc) = &spec.name_constraints
        && let Some(value) = name_constraints_value(nc)?
    {
        let mut ext = CustomExtension::from_oid_content(OID_NAME_CONSTRAINTS, value);
        ext.set_criticality(nc.critical);
        params.custom_extensions.push(ext);
    }
    let kp = key.key_pair()?;
    let csr = params
        .serialize_request(&kp)
        .map_err(|e| format!("error creating x509 certificate request: {e}"))?;
    Ok(der::pem("CERTIFICATE REQUEST", csr.der()))
}

/// A subject alternative name as read back.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AltNames {
    pub dns: Vec<String>,
    pub emails: Vec<String>,
    pub ips: Vec<IpAddr>,
    pub uris: Vec<String>,
    /// (dotted OID, UTF-8 value)
    pub other_names: Vec<(String, String)>,
    /// In order, ready for rcgen.
    pub sans: Vec<SanType>,
}

fn read_alt_names(names: &[GeneralName]) -> AltNames {
    let mut out = AltNames::default();
    for n in names {
        match n {
            GeneralName::DNSName(d) => {
                out.dns.push(d.to_string());
                if let Ok(s) = ia5(d, "DNS name") {
                    out.sans.push(SanType::DnsName(s));
                }
            }
            GeneralName::RFC822Name(e) => {
                out.emails.push(e.to_string());
                if let Ok(s) = ia5(e, "email address") {
                    out.sans.push(SanType::Rfc822Name(s));
                }
            }
            GeneralName::URI(u) => {
                out.uris.push(u.to_string());
                if let Ok(s) = ia5(u, "URI") {
                    out.sans.push(SanType::URI(s));
                }
            }
            GeneralName::IPAddress(b) => {
                let ip = match b.len() {
                    4 => Some(IpAddr::from(<[u8; 4]>::try_from(*b).unwrap_or_default())),
                    16 => Some(IpAddr::from(<[u8; 16]>::try_from(*b).unwrap_or_default())),
                    _ => None,
                };
                if let Some(ip) = ip {
                    out.ips.push(ip);
                    out.sans.push(SanType::IpAddress(ip));
                }
            }
            GeneralName::OtherName(oid, value) => {
                let dotted = oid.to_id_string();
                // [0] EXPLICIT UTF8String
                let v = der::read(value)
                    .filter(|(t, _, _)| *t == der::UTF8_STRING)
                    .and_then(|(_, c, _)| std::str::from_utf8(c).ok())
                    .map(str::to_string);
                if let Some(v) = v {
                    if let Ok(san) = other_name_san(&dotted, &v) {
                        out.sans.push(san);
                    }
                    out.other_names.push((dotted, v));
                }
            }
            _ => {}
        }
    }
    out
}

fn read_subject(name: &x509_parser::x509::X509Name) -> Vec<(Vec<u64>, u8, String)> {
    name.iter_attributes()
        .map(|a| {
            let oid: Vec<u64> = a.attr_type().iter().map(|i| i.collect()).unwrap_or_default();
            let tag = a.attr_value().header.tag().0 as u8;
            (oid, tag, a.as_str().unwrap_or("").to_string())
        })
        .collect()
}

/// A subject as Go's `pkix.Name` reads it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Name {
    /// (OID, ASN.1 string tag, value) in order.
    pub attributes: Vec<(Vec<u64>, u8, String)>,
}

impl Name {
    fn values(&self, oid: &[u64]) -> Vec<String> {
        self.attributes
            .iter()
            .filter(|(o, _, _)| o == oid)
            .map(|(_, _, v)| v.clone())
            .collect()
    }

    /// The last CN, as `FillFromRDNSequence` keeps it.
    pub fn common_name(&self) -> String {
        self.values(CN).pop().unwrap_or_default()
    }

    fn serial_number(&self) -> String {
        self.values(SERIAL_NUMBER).pop().unwrap_or_default()
    }

    fn flat(&self) -> Vec<Attribute> {
        self.attributes
            .iter()
            .map(|(o, _, v)| (o.clone(), v.clone()))
            .collect()
    }

    /// The same subject for rcgen, keeping each value's string type.
    fn to_rcgen(&self) -> DistinguishedName {
        let mut dn = DistinguishedName::new();
        for (oid, tag, v) in &self.attributes {
            let value = match *tag {
                0x13 => rcgen::string::PrintableString::try_from(v.as_str())
                    .map(DnValue::PrintableString)
                    .unwrap_or_else(|_| DnValue::Utf8String(v.clone())),
                0x16 => rcgen::string::Ia5String::try_from(v.as_str())
                    .map(DnValue::Ia5String)
                    .unwrap_or_else(|_| DnValue::Utf8String(v.clone())),
                _ => DnValue::Utf8String(v.clone()),
            };
            dn.push(dn_type(oid), value);
        }
        dn
    }
}

/// A parsed certificate signing request.
#[derive(Clone, Debug)]
pub struct Csr {
    pub subject: Name,
    pub alt_names: AltNames,
    /// The subjectPublicKey bits.
    pub public_key: Vec<u8>,
    spki: Vec<u8>,
    basic_constraints: Option<bool>,
    key_usage: Option<u16>,
    ext_key_usage: Option<Vec<Vec<u64>>>,
    name_constraints: Option<(Vec<u8>, bool)>,
}

fn ku_bits(ku: &x509_parser::extensions::KeyUsage) -> u16 {
    [
        ku.digital_signature(),
        ku.non_repudiation(),
        ku.key_encipherment(),
        ku.data_encipherment(),
        ku.key_agreement(),
        ku.key_cert_sign(),
        ku.crl_sign(),
        ku.encipher_only(),
        ku.decipher_only(),
    ]
    .iter()
    .zip(KEY_USAGES)
    .filter(|(set, _)| **set)
    .fold(0, |acc, (_, (_, b))| acc | b)
}

/// The OIDs of an ExtKeyUsage extension value, in order.
fn eku_oids(value: &[u8]) -> Vec<Vec<u64>> {
    der::read(value)
        .and_then(|(_, c, _)| der::items(c))
        .unwrap_or_default()
        .into_iter()
        .filter(|(t, _)| *t == der::OID)
        .map(|(_, c)| der::oid_arcs(c))
        .collect()
}

impl Csr {
    /// Reads a PEM CSR as `DecodeX509CertificateRequestBytes` does (the first PEM block).
    pub fn from_pem(data: &[u8]) -> Result<Csr, String> {
        let (_, body, _) = der::pem_decode(data).ok_or_else(|| {
            "error decoding certificate request PEM block: no PEM data was found in given input".to_string()
        })?;
        let (_, csr) = x509_parser::certification_request::X509CertificationRequest::from_der(&body)
            .map_err(|e| format!("x509: malformed certificate request: {e}"))?;
        let info = &csr.certification_request_info;
        let mut out = Csr {
            subject: Name {
                attributes: read_subject(&info.subject),
            },
            alt_names: AltNames::default(),
            public_key: info.subject_pki.subject_public_key.data.to_vec(),
            spki: info.subject_pki.raw.to_vec(),
            basic_constraints: None,
            key_usage: None,
            ext_key_usage: None,
            name_constraints: None,
        };
        for attr in info.attributes() {
            let x509_parser::cri_attributes::ParsedCriAttribute::ExtensionRequest(req) =
                attr.parsed_attribute()
            else {
                continue;
            };
            for ext in &req.extensions {
                let oid: Vec<u64> = ext.oid.iter().map(|i| i.collect()).unwrap_or_default();
                match ext.parsed_extension() {
                    ParsedExtension::SubjectAlternativeName(san) => {
                        out.alt_names = read_alt_names(&san.general_names);
                    }
                    ParsedExtension::KeyUsage(ku) => out.key_usage = Some(ku_bits(ku)),
                    ParsedExtension::BasicConstraints(bc) => out.basic_constraints = Some(bc.ca),
                    _ if oid == OID_EXT_KEY_USAGE => out.ext_key_usage = Some(eku_oids(ext.value)),
                    _ if oid == OID_NAME_CONSTRAINTS => {
                        out.name_constraints = Some((ext.value.to_vec(), ext.critical));
                    }
                    _ => {}
                }
            }
        }
        verify_csr_signature(&csr).map_err(|e| format!("x509: {e}"))?;
        Ok(out)
    }
}

/// `CheckSignature` on a CSR: its signature over the request info with its own key.
fn verify_csr_signature(
    csr: &x509_parser::certification_request::X509CertificationRequest,
) -> Result<(), String> {
    use aws_lc_rs::signature as sig;
    let info = &csr.certification_request_info;
    let alg: Vec<u64> = csr
        .signature_algorithm
        .algorithm
        .iter()
        .map(|i| i.collect())
        .unwrap_or_default();
    let key = info.subject_pki.subject_public_key.data.as_ref();
    let curve: Option<Vec<u64>> = info
        .subject_pki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.as_oid().ok())
        .and_then(|o| o.iter().map(|i| i.collect()));
    let p = |arcs: &[u64]| curve.as_deref() == Some(arcs);
    let verifier: &dyn sig::VerificationAlgorithm = match alg.as_slice() {
        [1, 2, 840, 113549, 1, 1, 11] => &sig::RSA_PKCS1_2048_8192_SHA256,
        [1, 2, 840, 113549, 1, 1, 12] => &sig::RSA_PKCS1_2048_8192_SHA384,
        [1, 2, 840, 113549, 1, 1, 13] => &sig::RSA_PKCS1_2048_8192_SHA512,
        [1, 2, 840, 10045, 4, 3, 2] if p(&[1, 2, 840, 10045, 3, 1, 7]) => &sig::ECDSA_P256_SHA256_ASN1,
        [1, 2, 840, 10045, 4, 3, 3] if p(&[1, 3, 132, 0, 34]) => &sig::ECDSA_P384_SHA384_ASN1,
        [1, 2, 840, 10045, 4, 3, 4] if p(&[1, 3, 132, 0, 35]) => &sig::ECDSA_P521_SHA512_ASN1,
        [1, 2, 840, 10045, 4, 3, 2] if p(&[1, 3, 132, 0, 34]) => &sig::ECDSA_P384_SHA256_ASN1,
        [1, 2, 840, 10045, 4, 3, 3] if p(&[1, 2, 840, 10045, 3, 1, 7]) => &sig::ECDSA_P256_SHA384_ASN1,
        [1, 3, 101, 112] => &sig::ED25519,
        _ => return Err("cannot verify signature: algorithm unimplemented".into()),
    };
    sig::UnparsedPublicKey::new(verifier, key)
        .verify(info.raw, csr.signature_value.data.as_ref())
        .map_err(|_| "signature verification failure".to_string())
}

/// A parsed certificate, as far as the controllers look at one.
#[derive(Clone, Debug)]
pub struct CertInfo {
    pub der: Vec<u8>,
    pub not_before: i64,
    pub not_after: i64,
    pub subject: Name,
    pub alt_names: AltNames,
    pub public_key: Vec<u8>,
    pub is_ca: bool,
    raw_subject: Vec<u8>,
    raw_issuer: Vec<u8>,
    subject_key_id: Option<Vec<u8>>,
}

impl CertInfo {
    pub fn from_der(der: &[u8]) -> Result<CertInfo, String> {
        let (_, c) = x509_parser::parse_x509_certificate(der)
            .map_err(|e| format!("error parsing X.509 certificate: {e}"))?;
        let tbs = &c.tbs_certificate;
        let mut alt = AltNames::default();
        let mut is_ca = false;
        let mut ski = None;
        for ext in tbs.extensions() {
            match ext.parsed_extension() {
                ParsedExtension::SubjectAlternativeName(san) => alt = read_alt_names(&san.general_names),
                ParsedExtension::BasicConstraints(bc) => is_ca = bc.ca,
                ParsedExtension::SubjectKeyIdentifier(id) => ski = Some(id.0.to_vec()),
                _ => {}
            }
        }
        Ok(CertInfo {
            der: der.to_vec(),
            not_before: tbs.validity.not_before.timestamp(),
            not_after: tbs.validity.not_after.timestamp(),
            subject: Name {
                attributes: read_subject(&tbs.subject),
            },
            alt_names: alt,
            public_key: tbs.subject_pki.subject_public_key.data.to_vec(),
            is_ca,
            raw_subject: tbs.subject.as_raw().to_vec(),
            raw_issuer: tbs.issuer.as_raw().to_vec(),
            subject_key_id: ski,
        })
    }

    /// The first certificate of a PEM bundle (`DecodeX509CertificateBytes`).
    pub fn from_pem(data: &[u8]) -> Result<CertInfo, String> {
        chain_from_pem(data)?
            .into_iter()
            .next()
            .ok_or_else(|| "error decoding certificate PEM block: no valid certificates found".into())
    }

    fn self_issued(&self) -> bool {
        self.raw_subject == self.raw_issuer
    }
}

/// Every certificate of a PEM bundle, each PEM block parsed as one (`decodeMultipleCerts`).
pub fn chain_from_pem(mut data: &[u8]) -> Result<Vec<CertInfo>, String> {
    let mut out = Vec::new();
    while let Some((_, body, rest)) = der::pem_decode(data) {
        out.push(CertInfo::from_der(&body)?);
        data = rest;
    }
    if out.is_empty() {
        return Err("error decoding certificate PEM block: no valid certificates found".into());
    }
    Ok(out)
}

/// Who signs a request.
pub enum Signer<'a> {
    /// The request's own key (`pkg/controller/certificaterequests/selfsigned`).
    SelfSigned {
        key: &'a PrivateKey,
        crl_distribution_points: Vec<String>,
    },
    /// A CA keypair from a Secret (`pkg/controller/certificaterequests/ca`): `tls.crt`'s
    /// chain then `ca.crt`.
    Ca {
        chain: Vec<CertInfo>,
        key: &'a PrivateKey,
        crl_distribution_points: Vec<String>,
        ocsp_servers: Vec<String>,
        issuing_certificate_urls: Vec<String>,
    },
}

/// Why signing failed: the reason and message cert-manager's issuer writes (the Ready
/// condition is `Failed`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignError {
    pub reason: &'static str,
    pub message: String,
}

/// What an issuer returns: `status.certificate` and `status.ca`, PEM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issued {
    pub certificate: String,
    pub ca: String,
}

/// `CertificateTemplateFromCertificateRequest` checks on a CSR: the usages and basic
/// constraints it encodes must be those of the request's spec.
fn template(req: &RequestSpec, csr: &Csr, now: i64) -> Result<CertificateParams, String> {
    let (ku, eku) = key_usages(&req.usages, req.is_ca)?;
    if let Some(ca) = csr.basic_constraints
        && ca != req.is_ca
    {
        return Err(format!(
            "encoded CSR error: IsCA {ca} does not match expected value {}",
            req.is_ca
        ));
    }
    if csr.key_usage.is_some() || csr.ext_key_usage.is_some() {
        let have = csr.key_usage.unwrap_or(0);
        if have != ku {
            return Err(format!(
                "encoded CSR error: the KeyUsages {} do not match the expected KeyUsages {}",
                print_usages(&ku_names(have)),
                print_usages(&ku_names(ku))
            ));
        }
        let have = csr.ext_key_usage.clone().unwrap_or_default();
        if have != eku {
            return Err(format!(
                "encoded CSR error: the ExtKeyUsages {} do not match the expected ExtKeyUsages {}",
                print_usages(&eku_names(&have)),
                print_usages(&eku_names(&eku))
            ));
        }
    }
    let mut params = CertificateParams::default();
    let start = time::OffsetDateTime::from_unix_timestamp(now).map_err(|e| e.to_string())?;
    params.not_before = start;
    params.not_after = start + time::Duration::try_from(req.duration()).unwrap_or(time::Duration::ZERO);
    let mut serial = [0u8; 16];
    rand::Rng::fill(&mut rand::rng(), &mut serial);
    serial[0] &= 0x7f;
    params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
    params.distinguished_name = csr.subject.to_rcgen();
    params.subject_alt_names = csr.alt_names.sans.clone();
    params.is_ca = if req.is_ca {
        IsCa::Ca(BasicConstraints::Unconstrained)
    } else {
        IsCa::ExplicitNoCa
    };
    params.key_usages = rcgen_key_usages(ku);
    params.extended_key_usages = eku.iter().map(|o| rcgen_ext_key_usage(o)).collect();
    if let Some((value, critical)) = &csr.name_constraints {
        let mut ext = CustomExtension::from_oid_content(OID_NAME_CONSTRAINTS, value.clone());
        ext.set_criticality(*critical);
        params.custom_extensions.push(ext);
    }
    Ok(params)
}

fn crl_points(urls: &[String]) -> Vec<rcgen::CrlDistributionPoint> {
    urls.iter()
        .map(|u| rcgen::CrlDistributionPoint {
            uris: vec![u.clone()],
        })
        .collect()
}

/// The AuthorityInfoAccess extension for OCSP servers and issuing certificate URLs.
fn aia(ocsp: &[String], issuers: &[String]) -> Option<CustomExtension> {
    let mut descriptions = Vec::new();
    for (method, urls) in [
        (&[1u64, 3, 6, 1, 5, 5, 7, 48, 1][..], ocsp),
        (&[1, 3, 6, 1, 5, 5, 7, 48, 2][..], issuers),
    ] {
        for u in urls {
            descriptions.push(der::seq(&[der::oid(method), der::write(0x86, u.as_bytes())]));
        }
    }
    if descriptions.is_empty() {
        return None;
    }
    Some(CustomExtension::from_oid_content(
        OID_AIA,
        der::seq(&descriptions),
    ))
}

fn signing_error(message: &str, e: impl std::fmt::Display) -> SignError {
    SignError {
        reason: "Failed",
        message: format!("{message}: {e}"),
    }
}

/// Signs a request as the selfSigned or CA issuer does; `now` is the issuance time (unix
/// seconds), the certificate's notBefore.
pub fn sign(req: &RequestSpec, csr: &Csr, signer: Signer, now: i64) -> Result<Issued, SignError> {
    crate::tls::install_crypto_provider();
    let mut params =
        template(req, csr, now).map_err(|e| signing_error("Error generating certificate template", e))?;
    let subject_key = rcgen::SubjectPublicKeyInfo::from_der(&csr.spki)
        .map_err(|e| signing_error("Error generating certificate template", e))?;
    match signer {
        Signer::SelfSigned {
            key,
            crl_distribution_points,
        } => {
            if key.public_key() != csr.public_key.as_slice() {
                return Err(signing_error(
                    "Error generating certificate template",
                    "CSR not signed by referenced private key",
                ));
            }
            params.crl_distribution_points = crl_points(&crl_distribution_points);
            let kp = key
                .key_pair()
                .map_err(|e| signing_error("Error signing certificate", e))?;
            let cert = params
                .self_signed(&kp)
                .map_err(|e| signing_error("Error signing certificate", e))?;
            let pem = der::pem("CERTIFICATE", cert.der());
            Ok(Issued {
                certificate: pem.clone(),
                ca: pem,
            })
        }
        Signer::Ca {
            chain,
            key,
            crl_distribution_points,
            ocsp_servers,
            issuing_certificate_urls,
        } => {
            let Some(parent) = chain.first() else {
                return Err(signing_error(
                    "Error signing certificate",
                    "no CA certificates given to sign CSR template",
                ));
            };
            if parent.public_key != key.public_key() {
                return Err(signing_error(
                    "Error signing certificate",
                    "error creating x509 certificate: x509: provided PrivateKey doesn't match parent's PublicKey",
                ));
            }
            params.crl_distribution_points = crl_points(&crl_distribution_points);
            params
                .custom_extensions
                .extend(aia(&ocsp_servers, &issuing_certificate_urls));
            // Go names the parent's key as the authority when the parent has an identifier
            params.use_authority_key_identifier_extension = parent.subject_key_id.is_some();
            let kp = key
                .key_pair()
                .map_err(|e| signing_error("Error signing certificate", e))?;
            let issuer = rcgen::Issuer::from_ca_cert_der(&parent.der.clone().into(), kp)
                .map_err(|e| signing_error("Error signing certificate", e))?;
            let cert = params
                .signed_by(&subject_key, &issuer)
                .map_err(|e| signing_error("Error signing certificate", e))?;
            let leaf =
                CertInfo::from_der(cert.der()).map_err(|e| signing_error("Error signing certificate", e))?;
            let mut all = chain;
            all.push(leaf);
            bundle(all).map_err(|e| signing_error("Error signing certificate", e))
        }
    }
}

/// `ParseSingleCertificateChain`: the certificates as one chain from the leaf up; the chain
/// PEM (without a self-signed root) and the CA (the top of the chain).
fn bundle(certs: Vec<CertInfo>) -> Result<Issued, String> {
    let mut unique: Vec<CertInfo> = Vec::new();
    for c in certs {
        if !unique.iter().any(|u| u.der == c.der) {
            unique.push(c);
        }
    }
    // the leaf issues nothing in the set
    let leaf_at = unique
        .iter()
        .position(|c| {
            !unique
                .iter()
                .any(|o| o.der != c.der && !o.self_issued() && o.raw_issuer == c.raw_subject)
        })
        .ok_or("certificate chain is malformed or broken")?;
    let mut path = vec![unique.remove(leaf_at)];
    loop {
        let last = path.last().expect("path has the leaf");
        if last.self_issued() {
            break;
        }
        match unique.iter().position(|c| c.raw_subject == last.raw_issuer) {
            Some(i) => path.push(unique.remove(i)),
            None => break,
        }
    }
    if !unique.is_empty() {
        return Err("certificate chain is malformed or broken".into());
    }
    let root = path.last().expect("path has the leaf");
    let ca = der::pem("CERTIFICATE", &root.der);
    if path.len() == 1 {
        return Ok(Issued {
            certificate: ca.clone(),
            ca: if root.self_issued() { ca } else { String::new() },
        });
    }
    let chain: String = path
        .iter()
        .filter(|c| !c.self_issued())
        .map(|c| der::pem("CERTIFICATE", &c.der))
        .collect();
    Ok(Issued {
        certificate: chain,
        ca,
    })
}

/// Go's `csv.Writer` line for one record, without its newline (`JoinWithEscapeCSV`).
pub fn csv_join<S: AsRef<str>>(values: &[S]) -> String {
    values
        .iter()
        .map(|v| {
            let v = v.as_ref();
            let quote = !v.is_empty()
                && (v == r"\."
                    || v.contains([',', '"', '\r', '\n'])
                    || v.chars().next().is_some_and(char::is_whitespace));
            if quote {
                format!("\"{}\"", v.replace('"', "\"\""))
            } else {
                v.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The annotations cert-manager puts on a Secret for its certificate
/// (`AnnotationsForCertificate`).
pub fn certificate_annotations(c: &CertInfo) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut csv = |key: &str, values: Vec<String>, keep_empty: bool| {
        if !values.is_empty() || keep_empty {
            out.insert(format!("cert-manager.io/{key}"), csv_join(&values));
        }
    };
    let s = &c.subject;
    csv("subject-organizations", s.values(ORGANIZATION), false);
    csv(
        "subject-organizationalunits",
        s.values(ORGANIZATIONAL_UNIT),
        false,
    );
    csv("subject-countries", s.values(COUNTRY), false);
    csv("subject-provinces", s.values(PROVINCE), false);
    csv("subject-localities", s.values(LOCALITY), false);
    csv("subject-postalcodes", s.values(POSTAL_CODE), false);
    csv("subject-streetaddresses", s.values(STREET), false);
    csv("email-sans", c.alt_names.emails.clone(), false);
    csv("alt-names", c.alt_names.dns.clone(), true);
    csv("ip-sans", c.alt_names.ips.iter().map(ip_string).collect(), true);
    csv("uri-sans", c.alt_names.uris.clone(), true);
    out.insert("cert-manager.io/common-name".into(), s.common_name());
    let serial = s.serial_number();
    if !serial.is_empty() {
        out.insert("cert-manager.io/subject-serialnumber".into(), serial);
    }
    out
}

/// `RenewalTime` without renewal windows: `renewBefore` if shorter than the lifetime, else
/// `renewBeforePercentage` in (0, 100), else a third of the lifetime, before notAfter;
/// truncated to the second. None when renewal is disabled.
pub fn renewal_time(
    not_before: i64,
    not_after: i64,
    renew_before: Option<Duration>,
    percentage: Option<i64>,
    disabled: bool,
) -> Option<i64> {
    if disabled {
        return None;
    }
    let lifetime = (not_after - not_before) as i128 * 1_000_000_000;
    let before: i128 = match (renew_before.map(|d| d.as_nanos() as i128), percentage) {
        (Some(rb), _) if rb > 0 && rb < lifetime => rb,
        (_, Some(p)) if p > 0 && p < 100 => (lifetime as f64 * p as f64 / 100.0) as i128,
        _ => lifetime / 3,
    };
    let at = not_after as i128 * 1_000_000_000 - before;
    Some(at.div_euclid(1_000_000_000) as i64)
}

fn equal_unsorted<T: Ord + Clone>(a: &[T], b: &[T]) -> bool {
    let (mut a, mut b) = (a.to_vec(), b.to_vec());
    a.sort();
    b.sort();
    a == b
}

fn spec_ips(spec: &CertSpec) -> Vec<IpAddr> {
    spec.ip_addresses.iter().filter_map(|s| s.parse().ok()).collect()
}

/// `RequestMatchesSpec`: which of the spec's fields the request does not carry.
pub fn request_violations(csr: &Csr, req: &RequestSpec, spec: &CertSpec) -> Vec<&'static str> {
    let mut v = Vec::new();
    let alt = &csr.alt_names;
    if !equal_unsorted(&alt.ips, &spec_ips(spec)) {
        v.push("spec.ipAddresses");
    }
    if !equal_unsorted(&alt.uris, &spec.uris) {
        v.push("spec.uris");
    }
    if !equal_unsorted(&alt.emails, &spec.email_addresses) {
        v.push("spec.emailAddresses");
    }
    if !equal_unsorted(&alt.dns, &spec.dns_names) {
        v.push("spec.dnsNames");
    }
    if let Some(others) = &spec.other_names {
        let want: Vec<(String, String)> = others
            .iter()
            .map(|o| (o.oid.clone(), o.utf8_value.clone()))
            .collect();
        if !equal_unsorted(&alt.other_names, &want) {
            v.push("spec.otherNames");
        }
    }
    if spec.literal_subject.is_empty() {
        // what the stand-in can encode of the spec's subject (first values only)
        let want = spec_subject(spec).unwrap_or_default();
        let want_of = |oid: &[u64]| -> Vec<String> {
            want.iter()
                .filter(|(o, _)| o == oid)
                .map(|(_, x)| x.clone())
                .collect()
        };
        let s = &csr.subject;
        if s.common_name() != spec.common_name {
            v.push("spec.commonName");
        }
        if s.serial_number() != spec.subject().serial_number {
            v.push("spec.subject.serialNumber");
        }
        for (oid, field) in [
            (ORGANIZATION, "spec.subject.organizations"),
            (COUNTRY, "spec.subject.countries"),
            (LOCALITY, "spec.subject.localities"),
            (ORGANIZATIONAL_UNIT, "spec.subject.organizationalUnits"),
            (POSTAL_CODE, "spec.subject.postCodes"),
            (PROVINCE, "spec.subject.provinces"),
            (STREET, "spec.subject.streetAddresses"),
        ] {
            if !equal_unsorted(&s.values(oid), &want_of(oid)) {
                v.push(field);
            }
        }
    } else if literal_subject(&spec.literal_subject).ok() != Some(csr.subject.flat()) {
        v.push("spec.literalSubject");
    }
    if req.is_ca != spec.is_ca {
        v.push("spec.isCA");
    }
    if !equal_unsorted(&req.usages, &spec.usages) {
        v.push("spec.usages");
    }
    if let (Some(a), Some(b)) = (&req.duration, &spec.duration)
        && super::spec::parse_duration(a).ok() != super::spec::parse_duration(b).ok()
    {
        v.push("spec.duration");
    }
    if !req.issuer_ref.same_as(&spec.issuer_ref) {
        v.push("spec.issuerRef");
    }
    v
}

/// `FuzzyX509AltNamesMatchSpec`: the issued certificate against the spec, when the request
/// that issued it is gone.
pub fn fuzzy_violations(c: &CertInfo, spec: &CertSpec) -> Vec<&'static str> {
    use std::collections::BTreeSet;
    let mut v = Vec::new();
    let mut expected: BTreeSet<&str> = spec.dns_names.iter().map(String::as_str).collect();
    if !spec.common_name.is_empty() {
        expected.insert(&spec.common_name);
    }
    let cn = c.subject.common_name();
    let mut all: BTreeSet<&str> = c.alt_names.dns.iter().map(String::as_str).collect();
    if !cn.is_empty() {
        all.insert(&cn);
    }
    if all != expected {
        if (!spec.common_name.is_empty() && !all.contains(spec.common_name.as_str()))
            || (!cn.is_empty() && !expected.contains(cn.as_str()))
        {
            v.push("spec.commonName");
        }
        if !spec.dns_names.iter().all(|d| all.contains(d.as_str()))
            || !c.alt_names.dns.iter().all(|d| expected.contains(d.as_str()))
        {
            v.push("spec.dnsNames");
        }
    }
    if !equal_unsorted(&c.alt_names.ips, &spec_ips(spec)) {
        v.push("spec.ipAddresses");
    }
    if !equal_unsorted(&c.alt_names.uris, &spec.uris) {
        v.push("spec.uris");
    }
    if !equal_unsorted(&c.alt_names.emails, &spec.email_addresses) {
        v.push("spec.emailAddresses");
    }
    v
}

/// Go's `%v` of a string slice: `[a b]`.
pub fn go_list<S: AsRef<str>>(items: &[S]) -> String {
    format!(
        "[{}]",
        items.iter().map(|s| s.as_ref()).collect::<Vec<_>>().join(" ")
    )
}

fn ts(secs: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_second(secs).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
}

/// `metav1.Time` in JSON: RFC 3339, UTC, seconds.
pub fn rfc3339(secs: i64) -> String {
    ts(secs).strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Go's `time.Time.String()` of a UTC time with whole seconds.
pub fn go_time_string(secs: i64) -> String {
    ts(secs).strftime("%Y-%m-%d %H:%M:%S +0000 UTC").to_string()
}

/// Go's `time.RFC1123` of a UTC time.
pub fn rfc1123(secs: i64) -> String {
    ts(secs).strftime("%a, %d %b %Y %H:%M:%S UTC").to_string()
}

/// Reads a `metav1.Time`.
pub fn parse_time(s: &str) -> Option<i64> {
    s.parse::<jiff::Timestamp>().ok().map(|t| t.as_second())
}

#[cfg(test)]
mod tests;
