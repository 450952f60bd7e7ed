//! sprig's crypto functions: `bcrypt`, `htpasswd`, `derivePassword`, `genPrivateKey`, the
//! certificate builders (`genCA`, `genSelfSignedCert`, `genSignedCert`, their `WithKey`
//! forms, `buildCustomCert`), `encryptAES`/`decryptAES` and `randBytes`.
//!
//! Keys and certificates come from rcgen (aws-lc-rs); keys print in the PEM forms Go's
//! sprig writes (`RSA PRIVATE KEY` as PKCS#1, `EC PRIVATE KEY` as SEC 1 with the curve,
//! `PRIVATE KEY` as PKCS#8 for Ed25519).

use std::any::Any;
use std::net::IpAddr;
use std::sync::Arc;

use base64::Engine;
use rand::{Rng, RngCore};

use crate::FuncMap;
use crate::gofmt;
use crate::value::{Arg, FuncResult, Function, GoObject, ParamType, Value};

// ---- small DER and PEM helpers ----

/// One DER element: tag, content, and what follows it.
fn der_read(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *b.first()?;
    let first = *b.get(1)?;
    let (len, hdr) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for i in 0..n {
            len = (len << 8) | usize::from(*b.get(2 + i)?);
        }
        (len, 2 + n)
    };
    let end = hdr.checked_add(len)?;
    if end > b.len() {
        return None;
    }
    Some((tag, &b[hdr..end], &b[end..]))
}

/// The elements inside a constructed DER value.
fn der_items(mut content: &[u8]) -> Option<Vec<(u8, &[u8])>> {
    let mut out = Vec::new();
    while !content.is_empty() {
        let (t, c, rest) = der_read(content)?;
        out.push((t, c));
        content = rest;
    }
    Some(out)
}

fn der_write(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = content.len();
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes: Vec<u8> = n.to_be_bytes().iter().copied().skip_while(|&b| b == 0).collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];

/// Go's `pem.EncodeToMemory`: 64-column base64 between BEGIN and END lines.
fn pem_encode(kind: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut s = format!("-----BEGIN {kind}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        s.push_str(&String::from_utf8_lossy(chunk));
        s.push('\n');
    }
    s.push_str(&format!("-----END {kind}-----\n"));
    s
}

/// Go's base64 `StdEncoding.DecodeString`: padding required, `\r` and `\n` skipped,
/// trailing bits not checked; errors name the input byte Go's decoder stops at.
fn b64_decode(s: &str) -> Result<Vec<u8>, String> {
    let src = s.as_bytes();
    let corrupt = |i: usize| format!("illegal base64 data at input byte {i}");
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let skip_newlines = |mut si: usize| {
        while si < src.len() && (src[si] == b'\n' || src[si] == b'\r') {
            si += 1;
        }
        si
    };
    let mut out = Vec::with_capacity(src.len() / 4 * 3);
    let mut si = 0;
    loop {
        let mut quantum = [0u32; 4];
        let mut j = 0;
        let mut end = false;
        let mut trailing: Option<usize> = None;
        while j < 4 {
            if si == src.len() {
                if j == 0 {
                    return Ok(out);
                }
                return Err(corrupt(si - j));
            }
            let c = src[si];
            si += 1;
            if let Some(v) = value(c) {
                quantum[j] = v;
                j += 1;
                continue;
            }
            if c == b'\n' || c == b'\r' {
                continue;
            }
            if c != b'=' || j < 2 {
                return Err(corrupt(si - 1));
            }
            if j == 2 {
                si = skip_newlines(si);
                if si == src.len() {
                    return Err(corrupt(src.len()));
                }
                if src[si] != b'=' {
                    return Err(corrupt(si - 1));
                }
                si += 1;
            }
            si = skip_newlines(si);
            if si < src.len() {
                trailing = Some(si);
            }
            end = true;
            break;
        }
        let n = (quantum[0] << 18) | (quantum[1] << 12) | (quantum[2] << 6) | quantum[3];
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..j.saturating_sub(1)]);
        if let Some(i) = trailing {
            return Err(corrupt(i));
        }
        if end {
            return Ok(out);
        }
    }
}

/// Go's `pem.Decode`, simplified: the type and bytes of the first well-formed block.
fn pem_decode(s: &str) -> Option<(String, Vec<u8>)> {
    let mut rest = s;
    while let Some(i) = rest.find("-----BEGIN ") {
        let after = &rest[i + 11..];
        let j = after.find("-----")?;
        let kind = &after[..j];
        let body_start = &after[j + 5..];
        let end_marker = format!("-----END {kind}-----");
        if kind.contains('\n') {
            rest = after;
            continue;
        }
        if let Some(k) = body_start.find(&end_marker) {
            let body: String = body_start[..k]
                .lines()
                .filter(|l| !l.contains(':'))
                .collect::<Vec<_>>()
                .join("");
            let body: String = body.chars().filter(|c| !c.is_whitespace()).collect();
            if let Ok(der) = base64::engine::general_purpose::STANDARD.decode(body.as_bytes()) {
                return Some((kind.to_string(), der));
            }
        }
        rest = after;
    }
    None
}

// ---- keys ----

/// A private key as sprig holds one: something rcgen can sign with, or (DSA) one it
/// cannot.
enum PrivKey {
    Signing(rcgen::KeyPair),
    Dsa,
}

/// PKCS#8's inner private key, if `der` is a PKCS#8 `PrivateKeyInfo`.
fn pkcs8_inner(der: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let (0x30, content, _) = der_read(der)? else {
        return None;
    };
    let items = der_items(content)?;
    match items.as_slice() {
        [(0x02, _), (0x30, alg), (0x04, key), ..] => {
            let alg_items = der_items(alg)?;
            let params = alg_items.get(1).map(|(_, p)| p.to_vec()).unwrap_or_default();
            Some((key.to_vec(), params))
        }
        _ => None,
    }
}

/// The PEM block Go's sprig writes for a key (`pemBlockForKey`).
fn key_pem(kp: &rcgen::KeyPair) -> String {
    let der = kp.serialize_der();
    let alg = kp.algorithm();
    if alg == &rcgen::PKCS_ED25519 {
        // PKCS#8 v1 with just the seed, as Go's MarshalPKCS8PrivateKey
        let seed = pkcs8_inner(&der)
            .and_then(|(inner, _)| der_read(&inner).map(|(_, c, _)| c.to_vec()))
            .unwrap_or_default();
        let alg_id = der_write(0x30, &der_write(0x06, OID_ED25519));
        let body = [
            der_write(0x02, &[0]),
            alg_id,
            der_write(0x04, &der_write(0x04, &seed)),
        ]
        .concat();
        return pem_encode("PRIVATE KEY", &der_write(0x30, &body));
    }
    if alg == &rcgen::PKCS_ECDSA_P256_SHA256 || alg == &rcgen::PKCS_ECDSA_P384_SHA384 {
        let (oid, size): (&[u8], usize) = if alg == &rcgen::PKCS_ECDSA_P256_SHA256 {
            (OID_P256, 32)
        } else {
            (OID_P384, 48)
        };
        let sec1 = pkcs8_inner(&der).map(|(k, _)| k).unwrap_or(der.clone());
        let d = der_read(&sec1)
            .and_then(|(_, c, _)| der_items(c))
            .and_then(|items| items.iter().find(|(t, _)| *t == 0x04).map(|(_, d)| d.to_vec()))
            .unwrap_or_default();
        let mut padded = vec![0u8; size.saturating_sub(d.len())];
        padded.extend(d);
        let public = rcgen::PublicKeyData::der_bytes(kp).to_vec();
        let mut bits = vec![0u8];
        bits.extend(public);
        let body = [
            der_write(0x02, &[1]),
            der_write(0x04, &padded),
            der_write(0xa0, &der_write(0x06, oid)),
            der_write(0xa1, &der_write(0x03, &bits)),
        ]
        .concat();
        return pem_encode("EC PRIVATE KEY", &der_write(0x30, &body));
    }
    // RSA: PKCS#1
    let pkcs1 = pkcs8_inner(&der).map(|(k, _)| k).unwrap_or(der);
    pem_encode("RSA PRIVATE KEY", &pkcs1)
}

/// sprig's `parsePrivateKeyPEM`, with its error texts.
fn parse_private_key_pem(s: &str) -> Result<PrivKey, String> {
    let (kind, der) = pem_decode(s).ok_or("no PEM data in input")?;
    let load = |what: &str| {
        rcgen::KeyPair::try_from(der.as_slice())
            .map(PrivKey::Signing)
            .map_err(|_| format!("{what}: x509: malformed private key"))
    };
    if kind == "PRIVATE KEY" {
        return load("decoding PEM as PKCS#8");
    }
    let Some(prefix) = kind.strip_suffix(" PRIVATE KEY") else {
        return Err(format!("no private key data in PEM block of type {kind}"));
    };
    match prefix {
        "RSA" => load("parsing RSA private key from PEM"),
        "EC" => load("parsing EC private key from PEM"),
        "DSA" => match der_read(&der) {
            Some((0x30, _, _)) => Ok(PrivKey::Dsa),
            _ => Err("parsing DSA private key from PEM: asn1: syntax error: sequence truncated".into()),
        },
        _ => Err(format!("invalid private key type {kind}")),
    }
}

/// A DER INTEGER of an unsigned big-endian magnitude.
fn der_uint(bytes: &[u8]) -> Vec<u8> {
    let trimmed: Vec<u8> = bytes.iter().copied().skip_while(|&b| b == 0).collect();
    let mut content = Vec::with_capacity(trimmed.len() + 1);
    if trimmed.first().is_none_or(|&b| b & 0x80 != 0) {
        content.push(0);
    }
    content.extend(trimmed);
    der_write(0x02, &content)
}

/// A DSA key with L = 2048 and N = 256 (Go's `dsa.L2048N256`), as sprig's `DSA PRIVATE
/// KEY` block: version, P, Q, G, Y, X.
#[allow(unsafe_code)]
fn generate_dsa_pem() -> Result<String, String> {
    use aws_lc_sys as sys;
    struct Owned(*mut sys::DSA);
    impl Drop for Owned {
        fn drop(&mut self) {
            // SAFETY: the pointer came from DSA_new and is freed once, here
            unsafe { sys::DSA_free(self.0) }
        }
    }
    /// The magnitude of a BIGNUM owned by a live DSA.
    unsafe fn bn_bytes(bn: *const sys::BIGNUM) -> Vec<u8> {
        if bn.is_null() {
            return Vec::new();
        }
        // SAFETY: bn is a valid BIGNUM of the caller's live DSA; the buffer holds
        // BN_num_bytes bytes, which BN_bn2bin writes
        unsafe {
            let n = sys::BN_num_bytes(bn) as usize;
            let mut out = vec![0u8; n];
            sys::BN_bn2bin(bn, out.as_mut_ptr());
            out
        }
    }
    // SAFETY: plain calls into aws-lc on a DSA this function owns; out-pointers are locals
    unsafe {
        let dsa = Owned(sys::DSA_new());
        if dsa.0.is_null() {
            return Err("failed to generate dsa params: out of memory".into());
        }
        let ok = sys::DSA_generate_parameters_ex(
            dsa.0,
            2048,
            std::ptr::null(),
            0,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        );
        if ok != 1 {
            return Err("failed to generate dsa params: parameter generation failed".into());
        }
        if sys::DSA_generate_key(dsa.0) != 1 {
            return Err("failed to generate private key: key generation failed".into());
        }
        let (mut p, mut q, mut g) = (std::ptr::null(), std::ptr::null(), std::ptr::null());
        sys::DSA_get0_pqg(dsa.0, &mut p, &mut q, &mut g);
        let (mut y, mut x) = (std::ptr::null(), std::ptr::null());
        sys::DSA_get0_key(dsa.0, &mut y, &mut x);
        let body = [
            der_write(0x02, &[0]),
            der_uint(&bn_bytes(p)),
            der_uint(&bn_bytes(q)),
            der_uint(&bn_bytes(g)),
            der_uint(&bn_bytes(y)),
            der_uint(&bn_bytes(x)),
        ]
        .concat();
        Ok(pem_encode("DSA PRIVATE KEY", &der_write(0x30, &body)))
    }
}

fn new_rsa_key(bits: rcgen::RsaKeySize) -> Result<rcgen::KeyPair, String> {
    rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, bits)
        .map_err(|e| format!("error generating rsa key: {e}"))
}

// ---- certificates ----

/// sprig's `certificate` struct: `Cert` and `Key` PEM strings.
struct CertObj {
    cert: String,
    key: String,
}

const CERT_TYPE: &str = "sprig.certificate";

fn cert_value(cert: String, key: String) -> Value {
    Value::Object(Arc::new(CertObj { cert, key }))
}

impl GoObject for CertObj {
    fn type_name(&self) -> String {
        CERT_TYPE.into()
    }
    fn field(&self, name: &str) -> Option<Value> {
        match name {
            "Cert" => Some(Value::String(self.cert.clone())),
            "Key" => Some(Value::String(self.key.clone())),
            _ => None,
        }
    }
    fn format_v(&self) -> String {
        format!("{{{} {}}}", self.cert, self.key)
    }
    fn to_json(&self) -> Result<serde_json::Value, String> {
        Ok(serde_json::json!({"Cert": self.cert, "Key": self.key}))
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// sprig's `getNetIPs` over a `[]interface {}` argument.
fn net_ips(v: &Value) -> Result<Vec<IpAddr>, String> {
    let Value::Slice(items) = v else {
        return Ok(Vec::new());
    };
    items
        .iter()
        .map(|ip| match ip {
            Value::String(s) => s.parse::<IpAddr>().map_err(|_| format!("error parsing ip: {s}")),
            other => Err(format!(
                "error parsing ip: {} is not a string",
                gofmt::format_v(other)
            )),
        })
        .collect()
}

fn dns_names(v: &Value) -> Result<Vec<String>, String> {
    let Value::Slice(items) = v else {
        return Ok(Vec::new());
    };
    items
        .iter()
        .map(|d| match d {
            Value::String(s) => Ok(s.clone()),
            other => Err(format!(
                "error processing alternate dns name: {} is not a string",
                gofmt::format_v(other)
            )),
        })
        .collect()
}

/// sprig's base template: the CN, SANs, validity from now for `days` days (Go's wrapping
/// Duration arithmetic), digital signature and key encipherment for server and client auth.
fn base_params(cn: &str, ips: &Value, dns: &Value, days: i64) -> Result<rcgen::CertificateParams, String> {
    let ips = net_ips(ips)?;
    let dns = dns_names(dns)?;
    let mut p = rcgen::CertificateParams::default();
    let mut serial = [0u8; 16];
    rand::rng().fill_bytes(&mut serial);
    serial[0] &= 0x7f;
    p.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, cn);
    p.distinguished_name = dn;
    for ip in ips {
        p.subject_alt_names.push(rcgen::SanType::IpAddress(ip));
    }
    for d in dns {
        let name = rcgen::string::Ia5String::try_from(d.clone()).map_err(|_| {
            format!(
                "error creating certificate: x509: {} cannot be encoded as an IA5String",
                gofmt::quote(&d, false)
            )
        })?;
        p.subject_alt_names.push(rcgen::SanType::DnsName(name));
    }
    let now = time::OffsetDateTime::now_utc();
    let valid_ns = 86_400_000_000_000i64.wrapping_mul(days);
    p.not_before = now;
    p.not_after = now
        .checked_add(time::Duration::nanoseconds(valid_ns))
        .unwrap_or(now);
    p.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyEncipherment,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    p.extended_key_usages = vec![
        rcgen::ExtendedKeyUsagePurpose::ServerAuth,
        rcgen::ExtendedKeyUsagePurpose::ClientAuth,
    ];
    p.is_ca = rcgen::IsCa::ExplicitNoCa;
    Ok(p)
}

/// The key as a certificate signer: Go's DSA keys are no `crypto.Signer`.
fn signing(key: &PrivKey) -> Result<&rcgen::KeyPair, String> {
    match key {
        PrivKey::Signing(k) => Ok(k),
        PrivKey::Dsa => Err(
            "error creating certificate: x509: certificate private key does not implement crypto.Signer"
                .into(),
        ),
    }
}

/// The key as the certified (subject) key: Go cannot put a DSA public key in a certificate.
fn subject_key(key: &PrivKey) -> Result<&rcgen::KeyPair, String> {
    match key {
        PrivKey::Signing(k) => Ok(k),
        PrivKey::Dsa => {
            Err("error creating certificate: x509: unsupported public key type: *dsa.PublicKey".into())
        }
    }
}

fn self_signed(p: rcgen::CertificateParams, key: &PrivKey) -> FuncResult {
    let kp = signing(key)?;
    let cert = p
        .self_signed(kp)
        .map_err(|e| format!("error creating certificate: {e}"))?;
    Ok(Arg::Value(cert_value(cert.pem(), key_pem(kp))))
}

fn gen_ca(cn: &str, days: i64, key: &PrivKey) -> FuncResult {
    let mut p = base_params(cn, &Value::Nil, &Value::Nil, days)?;
    p.key_usages.push(rcgen::KeyUsagePurpose::KeyCertSign);
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    self_signed(p, key)
}

fn ca_parts(ca: &Value) -> Option<(String, String)> {
    match ca {
        Value::Object(o) => o
            .as_any()
            .downcast_ref::<CertObj>()
            .map(|c| (c.cert.clone(), c.key.clone())),
        _ => None,
    }
}

fn gen_signed(cn: &str, ips: &Value, dns: &Value, days: i64, ca: &Value, key: &PrivKey) -> FuncResult {
    let (ca_cert, ca_key) = ca_parts(ca).unwrap_or_default();
    let Some((_, ca_der)) = pem_decode(&ca_cert) else {
        return Err("unable to decode certificate".into());
    };
    let ca_spki = match x509_parser::parse_x509_certificate(&ca_der) {
        Ok((_, c)) => c.public_key().raw.to_vec(),
        Err(_) => {
            return Err(
                "error parsing certificate: decodedSignerCert.Bytes: x509: malformed certificate".into(),
            );
        }
    };
    let signer = parse_private_key_pem(&ca_key).map_err(|e| format!("error parsing private key: {e}"))?;
    let mut p = base_params(cn, ips, dns, days)?;
    p.use_authority_key_identifier_extension = true;
    let signer = signing(&signer)?;
    let kp = subject_key(key)?;
    if rcgen::PublicKeyData::subject_public_key_info(signer) != ca_spki {
        return Err(
            "error creating certificate: x509: provided PrivateKey doesn't match parent's PublicKey".into(),
        );
    }
    let issuer = rcgen::Issuer::from_ca_cert_der(&ca_der.into(), signer)
        .map_err(|e| format!("error creating certificate: {e}"))?;
    let cert = p
        .signed_by(kp, &issuer)
        .map_err(|e| format!("error creating certificate: {e}"))?;
    Ok(Arg::Value(cert_value(cert.pem(), key_pem(kp))))
}

// ---- the other functions ----

const MASTER_PASSWORD_SEED: &str = "com.lyndir.masterpassword";

fn password_templates(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "maximum" => &["anoxxxxxxxxxxxxxxxxx", "axxxxxxxxxxxxxxxxxno"],
        "long" => &[
            "CvcvnoCvcvCvcv",
            "CvcvCvcvnoCvcv",
            "CvcvCvcvCvcvno",
            "CvccnoCvcvCvcv",
            "CvccCvcvnoCvcv",
            "CvccCvcvCvcvno",
            "CvcvnoCvccCvcv",
            "CvcvCvccnoCvcv",
            "CvcvCvccCvcvno",
            "CvcvnoCvcvCvcc",
            "CvcvCvcvnoCvcc",
            "CvcvCvcvCvccno",
            "CvccnoCvccCvcv",
            "CvccCvccnoCvcv",
            "CvccCvccCvcvno",
            "CvcvnoCvccCvcc",
            "CvcvCvccnoCvcc",
            "CvcvCvccCvccno",
            "CvccnoCvcvCvcc",
            "CvccCvcvnoCvcc",
            "CvccCvcvCvccno",
        ],
        "medium" => &["CvcnoCvc", "CvcCvcno"],
        "short" => &["Cvcn"],
        "basic" => &["aaanaaan", "aannaaan", "aaannaaa"],
        "pin" => &["nnnn"],
        _ => return None,
    })
}

fn template_chars(c: u8) -> &'static [u8] {
    match c {
        b'V' => b"AEIOU",
        b'C' => b"BCDFGHJKLMNPQRSTVWXYZ",
        b'v' => b"aeiou",
        b'c' => b"bcdfghjklmnpqrstvwxyz",
        b'A' => b"AEIOUBCDFGHJKLMNPQRSTVWXYZ",
        b'a' => b"AEIOUaeiouBCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz",
        b'n' => b"0123456789",
        b'o' => b"@&%?,=[]_:-+*$#!'^~;()/.",
        _ => b"AEIOUaeiouBCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz0123456789!@#$%^&*()",
    }
}

/// sprig's `derivePassword` (the Master Password algorithm): scrypt of the password salted
/// with the user, HMAC-SHA256 of the site and counter, characters from a template.
fn derive_password(counter: u32, kind: &str, password: &str, user: &str, site: &str) -> String {
    use hmac::{KeyInit, Mac};
    let Some(templates) = password_templates(kind) else {
        return format!("cannot find password template {kind}");
    };
    let mut salt = MASTER_PASSWORD_SEED.as_bytes().to_vec();
    salt.extend((user.len() as u32).to_be_bytes());
    salt.extend(user.as_bytes());
    let mut key = [0u8; 64];
    let params = match scrypt::Params::new(15, 8, 2) {
        Ok(p) => p,
        Err(e) => return format!("failed to derive password: {e}"),
    };
    if let Err(e) = scrypt::scrypt(password.as_bytes(), &salt, &params, &mut key) {
        return format!("failed to derive password: {e}");
    }
    let mut msg = MASTER_PASSWORD_SEED.as_bytes().to_vec();
    msg.extend((site.len() as u32).to_be_bytes());
    msg.extend(site.as_bytes());
    msg.extend(counter.to_be_bytes());
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key) else {
        return "failed to derive password".into();
    };
    mac.update(&msg);
    let seed = mac.finalize().into_bytes();
    let template = templates[usize::from(seed[0]) % templates.len()].as_bytes();
    template
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            let chars = template_chars(c);
            char::from(chars[usize::from(seed[i + 1]) % chars.len()])
        })
        .collect()
}

/// sprig's `bcrypt`: cost 10, `$2a$`; Go's current x/crypto (Helm's) refuses passwords over
/// 72 bytes.
fn bcrypt_hash(input: &str) -> String {
    if input.len() > 72 {
        return "failed to encrypt string with bcrypt: bcrypt: password length exceeds 72 bytes".into();
    }
    match bcrypt::hash_with_result(input, 10) {
        Ok(h) => h.format_for_version(bcrypt::Version::TwoA),
        Err(e) => format!("failed to encrypt string with bcrypt: {e}"),
    }
}

fn aes_key(password: &str) -> aes::Aes256 {
    use aes::cipher::KeyInit;
    let mut key = [0u8; 32];
    let p = password.as_bytes();
    let n = p.len().min(32);
    key[..n].copy_from_slice(&p[..n]);
    aes::Aes256::new(&key.into())
}

/// sprig's `encryptAES`: AES-256-CBC (the password zero-padded or cut to 32 bytes), PKCS#7
/// padding, a random IV in front, base64.
fn encrypt_aes(password: &str, plaintext: &str) -> String {
    use aes::cipher::BlockCipherEncrypt;
    if plaintext.is_empty() {
        return String::new();
    }
    let cipher = aes_key(password);
    let mut content = plaintext.as_bytes().to_vec();
    let pad = 16 - content.len() % 16;
    content.extend(std::iter::repeat_n(pad as u8, pad));
    let mut iv = [0u8; 16];
    rand::rng().fill_bytes(&mut iv);
    let mut out = iv.to_vec();
    let mut prev = iv;
    for chunk in content.chunks(16) {
        let mut block = aes::Block::default();
        for (i, b) in block.iter_mut().enumerate() {
            *b = chunk[i] ^ prev[i];
        }
        cipher.encrypt_block(&mut block);
        prev.copy_from_slice(&block);
        out.extend_from_slice(&block);
    }
    base64::engine::general_purpose::STANDARD.encode(out)
}

/// sprig's `decryptAES`, with the runtime errors Go's slicing gives on short input.
fn decrypt_aes(password: &str, crypt64: &str) -> Result<String, String> {
    use aes::cipher::BlockCipherDecrypt;
    if crypt64.is_empty() {
        return Ok(String::new());
    }
    let crypt = b64_decode(crypt64)?;
    // Go slices [:16] within the decoded buffer's capacity, then [16:] within its length
    let cap = crypt64.len() / 4 * 3;
    if crypt.len() < 16 {
        return Err(if cap < 16 {
            format!("runtime error: slice bounds out of range [:16] with capacity {cap}")
        } else {
            format!("runtime error: slice bounds out of range [16:{}]", crypt.len())
        });
    }
    let (iv, body) = crypt.split_at(16);
    if body.len() % 16 != 0 {
        return Err("crypto/cipher: input not full blocks".into());
    }
    let cipher = aes_key(password);
    let mut out = Vec::with_capacity(body.len());
    let mut prev = [0u8; 16];
    prev.copy_from_slice(iv);
    for chunk in body.chunks(16) {
        let mut block = aes::Block::default();
        block.copy_from_slice(chunk);
        cipher.decrypt_block(&mut block);
        for (i, b) in block.iter().enumerate() {
            out.push(b ^ prev[i]);
        }
        prev.copy_from_slice(chunk);
    }
    let Some(&last) = out.last() else {
        return Err("runtime error: index out of range [-1]".into());
    };
    let keep = out.len() as i64 - i64::from(last);
    if keep < 0 {
        return Err(format!("runtime error: slice bounds out of range [:{keep}]"));
    }
    out.truncate(keep as usize);
    Ok(String::from_utf8_lossy(&out).into_owned())
}

// ---- registration ----

fn s(a: &[Arg], i: usize) -> String {
    match a.get(i).map(Arg::value) {
        Some(Value::String(s)) => s,
        _ => String::new(),
    }
}

fn n(a: &[Arg], i: usize) -> i64 {
    match a.get(i).map(Arg::value) {
        Some(Value::Int(n) | Value::Int64(n)) => n,
        _ => 0,
    }
}

fn v(a: &[Arg], i: usize) -> Value {
    a.get(i).map(Arg::value).unwrap_or(Value::Nil)
}

fn string_result(x: String) -> FuncResult {
    Ok(Arg::Value(Value::String(x)))
}

pub(super) fn register(m: &mut FuncMap) {
    use ParamType::{Int, Named, String as Str, Uint32};
    let list = Named("[]interface {}");
    let cert = Named(CERT_TYPE);
    let mut add =
        |name: &str, params: Vec<ParamType>, result: &str, err: bool, f: fn(&[Arg]) -> FuncResult| {
            m.insert(name.into(), Function::new(params, false, result, err, f));
        };
    add("bcrypt", vec![Str], "string", false, |a| {
        string_result(bcrypt_hash(&s(a, 0)))
    });
    add("htpasswd", vec![Str, Str], "string", false, |a| {
        let user = s(a, 0);
        if user.contains(':') {
            return string_result(format!("invalid username: {user}"));
        }
        string_result(format!("{user}:{}", bcrypt_hash(&s(a, 1))))
    });
    add(
        "derivePassword",
        vec![Uint32, Str, Str, Str, Str],
        "string",
        false,
        |a| {
            string_result(derive_password(
                n(a, 0) as u32,
                &s(a, 1),
                &s(a, 2),
                &s(a, 3),
                &s(a, 4),
            ))
        },
    );
    add("genPrivateKey", vec![Str], "string", false, |a| {
        let typ = s(a, 0);
        let key = match typ.as_str() {
            "" | "rsa" => rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_4096),
            "ecdsa" => rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256),
            "ed25519" => rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519),
            "dsa" => {
                return string_result(match generate_dsa_pem() {
                    Ok(pem) | Err(pem) => pem,
                });
            }
            _ => return string_result(format!("Unknown type {typ}")),
        };
        string_result(match key {
            Ok(k) => key_pem(&k),
            Err(e) => format!("failed to generate private key: {e}"),
        })
    });
    add("buildCustomCert", vec![Str, Str], CERT_TYPE, true, |a| {
        let cert = b64_decode(&s(a, 0)).map_err(|_| "unable to decode base64 certificate")?;
        let key = b64_decode(&s(a, 1)).map_err(|_| "unable to decode base64 private key")?;
        let cert_text = String::from_utf8_lossy(&cert).into_owned();
        let key_text = String::from_utf8_lossy(&key).into_owned();
        let Some((_, der)) = pem_decode(&cert_text) else {
            return Err("unable to decode certificate".into());
        };
        if x509_parser::parse_x509_certificate(&der).is_err() {
            return Err("error parsing certificate: decodedCert.Bytes: x509: malformed certificate".into());
        }
        parse_private_key_pem(&key_text).map_err(|e| format!("error parsing private key: {e}"))?;
        Ok(Arg::Value(cert_value(cert_text, key_text)))
    });
    add("genCA", vec![Str, Int], CERT_TYPE, true, |a| {
        let key = PrivKey::Signing(new_rsa_key(rcgen::RsaKeySize::_2048)?);
        gen_ca(&s(a, 0), n(a, 1), &key)
    });
    add("genCAWithKey", vec![Str, Int, Str], CERT_TYPE, true, |a| {
        let key = parse_private_key_pem(&s(a, 2)).map_err(|e| format!("parsing private key: {e}"))?;
        gen_ca(&s(a, 0), n(a, 1), &key)
    });
    add(
        "genSelfSignedCert",
        vec![Str, list, list, Int],
        CERT_TYPE,
        true,
        |a| {
            let key = PrivKey::Signing(new_rsa_key(rcgen::RsaKeySize::_2048)?);
            self_signed(base_params(&s(a, 0), &v(a, 1), &v(a, 2), n(a, 3))?, &key)
        },
    );
    add(
        "genSelfSignedCertWithKey",
        vec![Str, list, list, Int, Str],
        CERT_TYPE,
        true,
        |a| {
            let key = parse_private_key_pem(&s(a, 4)).map_err(|e| format!("parsing private key: {e}"))?;
            self_signed(base_params(&s(a, 0), &v(a, 1), &v(a, 2), n(a, 3))?, &key)
        },
    );
    add(
        "genSignedCert",
        vec![Str, list, list, Int, cert],
        CERT_TYPE,
        true,
        |a| {
            let key = PrivKey::Signing(new_rsa_key(rcgen::RsaKeySize::_2048)?);
            gen_signed(&s(a, 0), &v(a, 1), &v(a, 2), n(a, 3), &v(a, 4), &key)
        },
    );
    add(
        "genSignedCertWithKey",
        vec![Str, list, list, Int, cert, Str],
        CERT_TYPE,
        true,
        |a| {
            let key = parse_private_key_pem(&s(a, 5)).map_err(|e| format!("parsing private key: {e}"))?;
            gen_signed(&s(a, 0), &v(a, 1), &v(a, 2), n(a, 3), &v(a, 4), &key)
        },
    );
    add("encryptAES", vec![Str, Str], "string", true, |a| {
        string_result(encrypt_aes(&s(a, 0), &s(a, 1)))
    });
    add("decryptAES", vec![Str, Str], "string", true, |a| {
        string_result(decrypt_aes(&s(a, 0), &s(a, 1))?)
    });
    add("randBytes", vec![Int], "string", true, |a| {
        let count = n(a, 0);
        let Ok(count) = usize::try_from(count) else {
            return Err("runtime error: makeslice: len out of range".into());
        };
        if count > (1 << 48) {
            return Err("runtime error: makeslice: len out of range".into());
        }
        let mut buf = vec![0u8; count];
        rand::rng().fill(&mut buf[..]);
        string_result(base64::engine::general_purpose::STANDARD.encode(buf))
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Options, Template};
    use x509_parser::prelude::*;

    fn render(text: &str) -> Result<String, String> {
        let mut t = Template::new("t").funcs(crate::sprig::funcs());
        t.add_parse("t", text).map_err(|e| e.to_string())?;
        t.execute(&Value::Nil, &Options::default())
            .map_err(|e| e.to_string())
    }

    fn der_of(pem: &str) -> Vec<u8> {
        pem_decode(pem).expect("pem").1
    }

    #[test]
    fn aes_round_trip() {
        for text in ["x", "exactly sixteen!", "héllo wörld, a longer text over blocks"] {
            let c = encrypt_aes("secret", text);
            assert_eq!(decrypt_aes("secret", &c).unwrap(), text);
            assert_ne!(c, encrypt_aes("secret", text), "random IV");
            assert_eq!(b64_decode(&c).unwrap().len() % 16, 0);
        }
        let long_key = "k".repeat(40);
        assert_eq!(decrypt_aes(&long_key, &encrypt_aes(&long_key, "t")).unwrap(), "t");
        assert_eq!(
            render("{{encryptAES \"pw\" \"plain text\" | decryptAES \"pw\"}}").unwrap(),
            "plain text"
        );
    }

    #[test]
    fn bcrypt_verifies() {
        let h = bcrypt_hash("hunter2");
        assert!(h.starts_with("$2a$10$") && h.len() == 60, "{h}");
        assert!(bcrypt::verify("hunter2", &h).unwrap());
        let line = render("{{htpasswd \"bob\" \"pw\"}}").unwrap();
        let (user, hash) = line.split_once(':').unwrap();
        assert_eq!(user, "bob");
        assert!(bcrypt::verify("pw", hash).unwrap());
    }

    #[test]
    fn private_keys_in_go_pem_forms() {
        let ec = render("{{genPrivateKey \"ecdsa\"}}").unwrap();
        assert!(ec.starts_with("-----BEGIN EC PRIVATE KEY-----\n"), "{ec}");
        let der = der_of(&ec);
        let (_, content, _) = der_read(&der).unwrap();
        let items = der_items(content).unwrap();
        assert_eq!(items.len(), 4);
        assert_eq!(items[1].1.len(), 32);
        let ed = render("{{genPrivateKey \"ed25519\"}}").unwrap();
        assert!(ed.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        assert_eq!(der_of(&ed).len(), 48, "PKCS#8 v1 Ed25519 as Go writes it");
        // the keys load back as sprig's WithKey functions read them
        for k in [&ec, &ed] {
            assert!(matches!(parse_private_key_pem(k), Ok(PrivKey::Signing(_))));
        }
        assert_eq!(render("{{genPrivateKey \"foo\"}}").unwrap(), "Unknown type foo");
    }

    #[test]
    fn rsa_keys_are_pkcs1() {
        let kp = new_rsa_key(rcgen::RsaKeySize::_2048).unwrap();
        let pem = key_pem(&kp);
        assert!(pem.starts_with("-----BEGIN RSA PRIVATE KEY-----\n"));
        let der = der_of(&pem);
        let (_, content, _) = der_read(&der).unwrap();
        let items = der_items(content).unwrap();
        assert_eq!(
            items.len(),
            9,
            "RSAPrivateKey: version, n, e, d, p, q, dp, dq, qinv"
        );
        assert!(pem.lines().all(|l| l.len() <= 64));
        assert!(matches!(parse_private_key_pem(&pem), Ok(PrivKey::Signing(_))));
    }

    #[test]
    fn ca_self_signed_and_signed_certificates() {
        let out = render(
            "{{$ca := genCA \"my-ca\" 365}}{{$c := genSignedCert \"svc\" (list \"10.0.0.1\" \"::1\") (list \"svc.local\" \"b\") 30 $ca}}{{$ca.Cert}}|{{$ca.Key}}|{{$c.Cert}}|{{$c.Key}}",
        );
        let out = match out {
            Ok(o) => o,
            // `list` belongs to another group; build the lists by hand then
            Err(_) => {
                let mut m = crate::sprig::funcs();
                m.insert(
                    "list".into(),
                    Function::new(vec![ParamType::Any], true, "[]interface {}", false, |a| {
                        Ok(Arg::Value(Value::slice(a.iter().map(Arg::value))))
                    }),
                );
                let mut t = Template::new("t").funcs(m);
                t.add_parse(
                    "t",
                    "{{$ca := genCA \"my-ca\" 365}}{{$c := genSignedCert \"svc\" (list \"10.0.0.1\" \"::1\") (list \"svc.local\" \"b\") 30 $ca}}{{$ca.Cert}}|{{$ca.Key}}|{{$c.Cert}}|{{$c.Key}}",
                )
                .unwrap();
                t.execute(&Value::Nil, &Options::default()).unwrap()
            }
        };
        let parts: Vec<&str> = out.split('|').collect();
        assert_eq!(parts.len(), 4);
        assert!(parts[1].starts_with("-----BEGIN RSA PRIVATE KEY-----"));
        let ca_der = der_of(parts[0]);
        let (_, ca) = X509Certificate::from_der(&ca_der).unwrap();
        assert_eq!(ca.subject().to_string(), "CN=my-ca");
        assert_eq!(ca.issuer().to_string(), "CN=my-ca");
        assert!(ca.is_ca());
        let ku = ca.key_usage().unwrap().unwrap().value;
        assert!(ku.key_cert_sign() && ku.digital_signature() && ku.key_encipherment());
        let days = (ca.validity().not_after.timestamp() - ca.validity().not_before.timestamp()) / 86_400;
        assert_eq!(days, 365);
        assert!(ca.verify_signature(None).is_ok());
        match ca.public_key().parsed().unwrap() {
            x509_parser::public_key::PublicKey::RSA(k) => assert_eq!(k.key_size(), 2048),
            other => panic!("{other:?}"),
        }

        let c_der = der_of(parts[2]);
        let (_, c) = X509Certificate::from_der(&c_der).unwrap();
        assert_eq!(c.subject().to_string(), "CN=svc");
        assert_eq!(c.issuer().to_string(), "CN=my-ca");
        assert!(!c.is_ca());
        assert!(c.verify_signature(Some(ca.public_key())).is_ok());
        let san = c.subject_alternative_name().unwrap().unwrap().value;
        let names: Vec<String> = san.general_names.iter().map(|g| g.to_string()).collect();
        assert!(names.contains(&"DNSName(svc.local)".to_string()), "{names:?}");
        assert!(names.contains(&"IPAddress(0a:00:00:01)".to_string()), "{names:?}");
        let eku = c.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.server_auth && eku.client_auth);
        let days = (c.validity().not_after.timestamp() - c.validity().not_before.timestamp()) / 86_400;
        assert_eq!(days, 30);
        // the signed cert's key matches its certificate
        let kp = match parse_private_key_pem(parts[3]).unwrap() {
            PrivKey::Signing(k) => k,
            PrivKey::Dsa => panic!(),
        };
        assert_eq!(
            rcgen::PublicKeyData::subject_public_key_info(&kp),
            c.public_key().raw.to_vec()
        );
    }

    #[test]
    fn with_key_variants_keep_the_key() {
        let key = render("{{genPrivateKey \"ecdsa\"}}").unwrap();
        let mut m = crate::sprig::funcs();
        m.insert(
            "list".into(),
            Function::new(vec![ParamType::Any], true, "[]interface {}", false, |a| {
                Ok(Arg::Value(Value::slice(a.iter().map(Arg::value))))
            }),
        );
        let mut t = Template::new("t").funcs(m);
        t.add_parse(
            "t",
            "{{$ca := genCAWithKey \"ca\" 10 .}}{{$s := genSelfSignedCertWithKey \"self\" nil (list \"x.y\") 5 .}}{{$g := genSignedCertWithKey \"leaf\" nil nil 1 $ca .}}{{$ca.Key}}|{{$s.Key}}|{{$g.Key}}|{{$s.Cert}}|{{$g.Cert}}",
        )
        .unwrap();
        let out = t
            .execute(&Value::String(key.clone()), &Options::default())
            .unwrap();
        let parts: Vec<&str> = out.split('|').collect();
        assert_eq!(parts[0], key);
        assert_eq!(parts[1], key);
        assert_eq!(parts[2], key);
        let s_der = der_of(parts[3]);
        let (_, s) = X509Certificate::from_der(&s_der).unwrap();
        assert_eq!(s.subject().to_string(), "CN=self");
        assert!(s.verify_signature(None).is_ok());
        let g_der = der_of(parts[4]);
        let (_, g) = X509Certificate::from_der(&g_der).unwrap();
        assert_eq!(g.issuer().to_string(), "CN=ca");
    }

    #[test]
    fn build_custom_cert_round_trips() {
        let out = render("{{$c := genCA \"x\" 1}}{{$c.Cert | printf \"%s\"}}|{{$c.Key}}").unwrap();
        let (cert, key) = out.split_once('|').unwrap();
        let e = base64::engine::general_purpose::STANDARD;
        let f = crate::sprig::funcs().remove("buildCustomCert").unwrap();
        let r = f
            .call(&[
                Arg::Value(Value::String(e.encode(cert))),
                Arg::Value(Value::String(e.encode(key))),
            ])
            .unwrap();
        assert_eq!(r.value().type_name(), "sprig.certificate");
    }

    #[test]
    fn fast_functions_never_panic() {
        let pool = [
            Value::Nil,
            Value::Int(0),
            Value::Int(-1),
            Value::Int(7),
            Value::Int(i64::MAX),
            Value::Int(i64::MIN),
            Value::Int64(i64::MIN),
            Value::Float(f64::NAN),
            Value::String(String::new()),
            Value::String("x".into()),
            Value::String("é日\u{0}".into()),
            Value::String("AAAAAAAAAAAAAAAAAAAAAA==".into()),
            Value::String(">= 1.2, < 3 || 1 - 2".into()),
            Value::String("2006-01-02T15:04:05.999999999Z07:00 MST __2 002 .000".into()),
            Value::slice([Value::String("1.2.3.4".into()), Value::Int(1)]),
            Value::map([("a", Value::Int(1))]),
            super::super::dates::time_value(super::super::gotime::GoTime::from_unix(
                i64::MAX,
                super::super::gotime::Loc::utc(),
            )),
            super::super::dates::time_value(super::super::gotime::GoTime::zero()),
        ];
        let skip = [
            "bcrypt",
            "htpasswd",
            "derivePassword",
            "genPrivateKey",
            "genCA",
            "genCAWithKey",
            "genSelfSignedCert",
            "genSelfSignedCertWithKey",
            "genSignedCert",
            "genSignedCertWithKey",
            "getHostByName",
            "now",
            "uuidv4",
        ];
        let mut m = FuncMap::new();
        register(&mut m);
        crate::sprig::dates::register_for_tests(&mut m);
        super::super::semver::register(&mut m);
        super::super::random::register(&mut m);
        for (name, f) in &m {
            if skip.contains(&name.as_str()) {
                continue;
            }
            let mut idx = vec![0usize; f.params.len()];
            'all: loop {
                let args: Vec<Arg> = idx.iter().map(|&i| Arg::Value(pool[i].clone())).collect();
                let _ = f.call(&args);
                for i in idx.iter_mut() {
                    *i += 1;
                    if *i < pool.len() {
                        continue 'all;
                    }
                    *i = 0;
                }
                break;
            }
        }
    }

    #[test]
    fn dsa_keys_as_go_writes_them() {
        let pem = render("{{genPrivateKey \"dsa\"}}").unwrap();
        assert!(pem.starts_with("-----BEGIN DSA PRIVATE KEY-----\n"), "{pem}");
        let der = der_of(&pem);
        let (_, content, _) = der_read(&der).unwrap();
        let items = der_items(content).unwrap();
        assert_eq!(items.len(), 6);
        let mag = |i: usize| items[i].1.iter().skip_while(|&&b| b == 0).count();
        assert_eq!(mag(1), 256, "P is 2048 bits");
        assert_eq!(mag(2), 32, "Q is 256 bits");
        assert!(matches!(parse_private_key_pem(&pem), Ok(PrivKey::Dsa)));
    }

    #[test]
    fn rand_bytes() {
        let s = render("{{randBytes 24}}").unwrap();
        assert_eq!(b64_decode(&s).unwrap().len(), 24);
        assert_ne!(s, render("{{randBytes 24}}").unwrap());
    }
}
