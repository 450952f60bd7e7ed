//! `x509_decode` (`functions.go:1201-1262`): a PEM `CERTIFICATE` or `CERTIFICATE REQUEST`
//! decoded into what Kyverno returns, Go's `encoding/json` of `*x509.Certificate` /
//! `*x509.CertificateRequest` (Go 1.24, Kyverno 1.15's toolchain) read back into a
//! `map[string]any`: every exported field, byte slices as base64, times in RFC 3339, object
//! identifiers as arrays of numbers (`Policies` as dotted strings), `IPAddresses` as
//! strings, `URIs` as `url.URL` objects, all numbers as JSON numbers (float64 in Go, so a
//! serial number above 2^53 is rounded as Go rounds it), and `PublicKey` replaced by
//! Kyverno's `{N: <decimal string>, E: <number>}`. Only RSA keys are accepted
//! (`certificate should use rsa algorithm`).
//!
//! x509-parser checks the DER structure; the fields are then read as Go's `crypto/x509`
//! (`parser.go`, `x509.go`) reads them, with its error texts (`x509: ...`), which Kyverno
//! returns unwrapped. Known differences from Go:
//! - a certificate x509-parser rejects fails with `x509: malformed certificate`, a request
//!   with `asn1: syntax error: data truncated` (truncated) or `asn1: structure error:
//!   malformed certificate request`, where Go may name the part that failed (or, for exotic
//!   encodings it tolerates, give no error);
//! - validity times are x509-parser's reading (a `UTCTime` without seconds, which Go accepts,
//!   may be rejected);
//! - ECDSA points are checked for form and length but not for being on the curve, DSA
//!   keys not at all (Go would reject a malformed one before Kyverno's RSA check);
//! - in a CSR, attribute values are read as `encoding/asn1` reads `any` values for the
//!   common types (strings, integers, OIDs, octet and bit strings, times); Go's `asn1`
//!   errors have generic texts here.

use base64::Engine;
use serde_json::{Map, Value};
use x509_parser::certificate::X509CertificateParser;
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::nom::Parser;
use x509_parser::num_bigint::BigUint;
use x509_parser::prelude::FromDer;
use x509_parser::time::ASN1Time;

use super::{GoTime, arg_str, num};

/// `x509_decode(string)`.
pub(super) fn jp_x509_decode(a: &[Value]) -> Result<Value, String> {
    let input = arg_str("x509_decode", a, 0)?;
    let Some((kind, der)) = pem_decode(input.as_bytes()) else {
        return Err("failed to decode PEM block".into());
    };
    match kind {
        b"CERTIFICATE" => certificate(&der),
        b"CERTIFICATE REQUEST" => certificate_request(&der),
        _ => Err("PEM block neither contains a CERTIFICATE or CERTIFICATE REQUEST".into()),
    }
}

// ---------------------------------------------------------------------------------------
// PEM (Go's `encoding/pem.Decode`)

/// The first PEM block Go's `pem.Decode` finds: its type and decoded bytes. Blocks whose
/// END line does not match or whose base64 is bad are skipped, as Go skips them.
fn pem_decode(data: &[u8]) -> Option<(&[u8], Vec<u8>)> {
    const START: &[u8] = b"\n-----BEGIN ";
    const END: &[u8] = b"\n-----END ";
    const EOL: &[u8] = b"-----";
    let mut rest = data;
    loop {
        if rest.starts_with(&START[1..]) {
            rest = &rest[START.len() - 1..];
        } else if let Some(i) = find(rest, START) {
            rest = &rest[i + START.len()..];
        } else {
            return None;
        }
        let (type_line, next) = get_line(rest);
        rest = next;
        let Some(kind) = type_line.strip_suffix(EOL) else {
            continue;
        };
        let mut headers = false;
        loop {
            if rest.is_empty() {
                return None;
            }
            let (line, next) = get_line(rest);
            if !line.contains(&b':') {
                break;
            }
            headers = true;
            rest = next;
        }
        // without headers the END line may follow at once, with no newline before it
        let (end, trailer_at) = if !headers && rest.starts_with(&END[1..]) {
            (0, END.len() - 1)
        } else {
            match find(rest, END) {
                Some(i) => (i, i + END.len()),
                None => continue,
            }
        };
        let trailer = &rest[trailer_at..];
        let trailer_len = kind.len() + EOL.len();
        if trailer.len() < trailer_len {
            continue;
        }
        let (trailer, rest_of_line) = trailer.split_at(trailer_len);
        if !trailer.starts_with(kind) || !trailer.ends_with(EOL) || !get_line(rest_of_line).0.is_empty() {
            continue;
        }
        let body: Vec<u8> = rest[..end]
            .iter()
            .copied()
            .filter(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
            .collect();
        if let Ok(bytes) = go_base64().decode(&body) {
            return Some((kind, bytes));
        }
    }
}

/// Go's `base64.StdEncoding`: padding required, non-zero trailing bits tolerated.
fn go_base64() -> base64::engine::GeneralPurpose {
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(DecodePaddingMode::RequireCanonical),
    )
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// `pem.getLine`: the line without its end of line and trailing spaces/tabs, and the rest.
fn get_line(data: &[u8]) -> (&[u8], &[u8]) {
    let (mut line, rest) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &data[data.len()..]),
    };
    if data.len() > line.len() && line.last() == Some(&b'\r') {
        line = &line[..line.len() - 1];
    }
    while let Some((&last, init)) = line.split_last() {
        if last != b' ' && last != b'\t' {
            break;
        }
        line = init;
    }
    (line, rest)
}

// ---------------------------------------------------------------------------------------
// DER reading, as Go's `cryptobyte` reads it

const BOOLEAN: u8 = 0x01;
const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;
const OCTET_STRING: u8 = 0x04;
const NULL: u8 = 0x05;
const OID: u8 = 0x06;
const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;

/// A cursor over DER elements (`cryptobyte.String`).
#[derive(Clone, Copy)]
struct Der<'a>(&'a [u8]);

impl<'a> Der<'a> {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn peek(&self, tag: u8) -> bool {
        self.0.first() == Some(&tag)
    }

    /// The next element: its tag, header length and bytes (DER lengths only, low tags).
    fn element(&mut self) -> Option<(u8, usize, &'a [u8])> {
        let d = self.0;
        let (&tag, &len_byte) = (d.first()?, d.get(1)?);
        if tag & 0x1f == 0x1f {
            return None;
        }
        let (header, len) = if len_byte & 0x80 == 0 {
            (2, len_byte as usize)
        } else {
            let n = (len_byte & 0x7f) as usize;
            if n == 0 || n > 4 || d.len() < 2 + n {
                return None;
            }
            let len = d[2..2 + n].iter().fold(0u32, |l, &b| (l << 8) | b as u32);
            // the short form or fewer length bytes would have done
            if len < 128 || len >> ((n - 1) * 8) == 0 {
                return None;
            }
            (2 + n, len as usize)
        };
        let total = header.checked_add(len)?;
        if d.len() < total {
            return None;
        }
        self.0 = &d[total..];
        Some((tag, header, &d[..total]))
    }

    fn any(&mut self) -> Option<(u8, &'a [u8])> {
        self.element().map(|(tag, header, all)| (tag, &all[header..]))
    }

    /// The contents of the next element, which must have `tag`.
    fn read(&mut self, tag: u8) -> Option<&'a [u8]> {
        match self.any()? {
            (t, content) if t == tag => Some(content),
            _ => None,
        }
    }

    fn oid(&mut self) -> Option<Vec<i64>> {
        parse_oid(self.read(OID)?)
    }

    fn boolean(&mut self) -> Option<bool> {
        match self.read(BOOLEAN)? {
            [0] => Some(false),
            [0xff] => Some(true),
            _ => None,
        }
    }

    /// An INTEGER that fits in an int64 (`ReadASN1Integer` into an `int`).
    fn int64(&mut self, tag: u8) -> Option<i64> {
        let c = self.read(tag)?;
        if !valid_integer(c) || c.len() > 8 {
            return None;
        }
        let init = if c[0] & 0x80 != 0 { -1i64 } else { 0 };
        Some(c.iter().fold(init, |v, &b| (v << 8) | b as i64))
    }

    fn bit_string(&mut self) -> Option<Bits<'a>> {
        bits(self.read(BIT_STRING)?)
    }
}

/// `ReadASN1BitString` of a BIT STRING's contents: at most 7 padding bits, all zero.
fn bits(c: &[u8]) -> Option<Bits<'_>> {
    let (&pad, bytes) = c.split_first()?;
    if pad > 7 || (bytes.is_empty() && pad != 0) || bytes.last().is_some_and(|&l| l & ((1u8 << pad) - 1) != 0)
    {
        return None;
    }
    Some(Bits {
        bytes,
        len: bytes.len() * 8 - pad as usize,
    })
}

/// `checkASN1Integer`: non-empty and minimally encoded.
fn valid_integer(c: &[u8]) -> bool {
    match c {
        [] => false,
        [0, b, ..] if b & 0x80 == 0 => false,
        [0xff, b, ..] if b & 0x80 != 0 => false,
        _ => true,
    }
}

/// `ReadASN1ObjectIdentifier`: components below 2^31.
fn parse_oid(mut c: &[u8]) -> Option<Vec<i64>> {
    fn base128(c: &mut &[u8]) -> Option<i64> {
        let mut v: i64 = 0;
        for i in 0..5 {
            let (&b, rest) = c.split_first()?;
            if v >= 1 << (31 - 7) || (i == 0 && b == 0x80) {
                return None;
            }
            *c = rest;
            v = (v << 7) | (b & 0x7f) as i64;
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }
    if c.is_empty() {
        return None;
    }
    let first = base128(&mut c)?;
    let mut out = if first < 80 {
        vec![first / 40, first % 40]
    } else {
        vec![2, first - 80]
    };
    while !c.is_empty() {
        out.push(base128(&mut c)?);
    }
    Some(out)
}

/// An `asn1.BitString`.
struct Bits<'a> {
    bytes: &'a [u8],
    len: usize,
}

impl Bits<'_> {
    fn at(&self, i: usize) -> bool {
        i < self.len && self.bytes[i / 8] >> (7 - i % 8) & 1 == 1
    }

    /// `RightAlign`: the bits shifted so that any padding is at the start.
    fn right_align(&self) -> Vec<u8> {
        let shift = 8 - self.len % 8;
        if shift == 8 || self.bytes.is_empty() {
            return self.bytes.to_vec();
        }
        let mut out = vec![self.bytes[0] >> shift];
        for w in self.bytes.windows(2) {
            out.push((w[0] << (8 - shift)) | (w[1] >> shift));
        }
        out
    }
}

// ---------------------------------------------------------------------------------------
// Go's JSON of the values

fn b64(bytes: &[u8]) -> Value {
    Value::from(base64::engine::general_purpose::STANDARD.encode(bytes))
}

fn opt_b64(bytes: Option<&[u8]>) -> Value {
    bytes.map_or(Value::Null, b64)
}

/// A Go integer after the round trip through `map[string]any` (float64).
fn int(i: i64) -> Value {
    num(i as f64).unwrap_or(Value::Null)
}

fn oid_json(oid: &[i64]) -> Value {
    Value::Array(oid.iter().map(|&c| Value::from(c)).collect())
}

/// A nil slice is `null`.
fn list(items: Vec<Value>) -> Value {
    if items.is_empty() {
        Value::Null
    } else {
        Value::Array(items)
    }
}

fn strings(items: &[String]) -> Value {
    list(items.iter().map(|s| Value::from(s.as_str())).collect())
}

/// A Go string from bytes as the JSON encoder writes it: each byte of invalid UTF-8
/// becomes U+FFFD.
fn go_string(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        out.extend(chunk.invalid().iter().map(|_| '\u{fffd}'));
    }
    out
}

/// `net.IP.String()` of a 4- or 16-byte address.
fn ip_string(ip: &[u8]) -> String {
    match ip.len() {
        4 => std::net::Ipv4Addr::new(ip[0], ip[1], ip[2], ip[3]).to_string(),
        16 if ip[..10].iter().all(|&b| b == 0) && ip[10] == 0xff && ip[11] == 0xff => {
            std::net::Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]).to_string()
        }
        16 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(ip);
            std::net::Ipv6Addr::from(a).to_string()
        }
        _ => String::new(),
    }
}

/// A time as `time.Time.MarshalJSON` writes it (whole seconds, the time's own offset).
fn time_json(t: &ASN1Time) -> Value {
    let dt = t.to_datetime();
    Value::from(
        GoTime {
            sec: dt.unix_timestamp(),
            nsec: 0,
            offset: dt.offset().whole_seconds(),
        }
        .rfc3339(),
    )
}

/// A `pkix.Name` filled by `FillFromRDNSequence` from attribute type/value pairs (RDN
/// sets flattened; a value that is not a string only goes to `Names`).
fn name_json(attrs: &[(Vec<i64>, Value)]) -> Value {
    let mut lists: [Vec<Value>; 7] = Default::default();
    let (mut serial, mut cn) = (String::new(), String::new());
    let mut names = Vec::new();
    for (oid, value) in attrs {
        names.push(atv_json(oid, value.clone()));
        let (Some(s), [2, 5, 4, t]) = (value.as_str(), oid.as_slice()) else {
            continue;
        };
        let slot = match t {
            3 => {
                cn = s.to_string();
                continue;
            }
            5 => {
                serial = s.to_string();
                continue;
            }
            6 => 0,
            10 => 1,
            11 => 2,
            7 => 3,
            8 => 4,
            9 => 5,
            17 => 6,
            _ => continue,
        };
        lists[slot].push(Value::from(s));
    }
    let mut m = Map::new();
    let [country, org, ou, locality, province, street, postal] = lists;
    m.insert("Country".into(), list(country));
    m.insert("Organization".into(), list(org));
    m.insert("OrganizationalUnit".into(), list(ou));
    m.insert("Locality".into(), list(locality));
    m.insert("Province".into(), list(province));
    m.insert("StreetAddress".into(), list(street));
    m.insert("PostalCode".into(), list(postal));
    m.insert("SerialNumber".into(), Value::from(serial));
    m.insert("CommonName".into(), Value::from(cn));
    m.insert("Names".into(), list(names));
    m.insert("ExtraNames".into(), Value::Null);
    Value::Object(m)
}

fn atv_json(oid: &[i64], value: Value) -> Value {
    let mut m = Map::new();
    m.insert("Type".into(), oid_json(oid));
    m.insert("Value".into(), value);
    Value::Object(m)
}

/// A `pkix.Extension`.
fn extension_json(e: &Extension) -> Value {
    let mut m = Map::new();
    m.insert("Id".into(), oid_json(&e.id));
    m.insert("Critical".into(), Value::Bool(e.critical));
    m.insert("Value".into(), b64(&e.value));
    Value::Object(m)
}

/// Kyverno's `PublicKey{N string; E int}`.
fn public_key_json(key: &RsaKey) -> Value {
    let mut m = Map::new();
    m.insert("N".into(), Value::from(key.n.to_string()));
    m.insert("E".into(), int(key.e));
    Value::Object(m)
}

// ---------------------------------------------------------------------------------------
// Algorithms and keys

/// Go's `PublicKeyAlgorithm`.
const RSA: i64 = 1;

fn public_key_algorithm(oid: &[i64]) -> i64 {
    match oid {
        [1, 2, 840, 113549, 1, 1, 1] => RSA,
        [1, 2, 840, 10040, 4, 1] => 2,
        [1, 2, 840, 10045, 2, 1] => 3,
        [1, 3, 101, 112] => 4,
        _ => 0,
    }
}

/// An `AlgorithmIdentifier` (`parseAI`): the OID and the parameters' whole element.
fn parse_ai(content: &[u8]) -> Result<(Vec<i64>, Option<&[u8]>), String> {
    let mut d = Der(content);
    let oid = d.oid().ok_or("x509: malformed OID")?;
    if d.is_empty() {
        return Ok((oid, None));
    }
    let params = d
        .element()
        .map(|(_, _, all)| all)
        .ok_or("x509: malformed parameters")?;
    Ok((oid, Some(params)))
}

/// `getSignatureAlgorithmFromAI`: Go's `SignatureAlgorithm` number, 0 when unknown.
fn signature_algorithm(oid: &[i64], params: Option<&[u8]>) -> i64 {
    let rsa = |n: i64| [1, 2, 840, 113549, 1, 1, n];
    match oid {
        o if o == rsa(2) => 1,
        o if o == rsa(4) => 2,
        o if o == rsa(5) => 3,
        [1, 3, 14, 3, 2, 29] => 3,
        o if o == rsa(11) => 4,
        o if o == rsa(12) => 5,
        o if o == rsa(13) => 6,
        [1, 2, 840, 10040, 4, 3] => 7,
        [2, 16, 840, 1, 101, 3, 4, 3, 2] => 8,
        [1, 2, 840, 10045, 4, 1] => 9,
        [1, 2, 840, 10045, 4, 3, 2] => 10,
        [1, 2, 840, 10045, 4, 3, 3] => 11,
        [1, 2, 840, 10045, 4, 3, 4] => 12,
        o if o == rsa(10) => pss_algorithm(params).unwrap_or(0),
        // the parameters must be absent (RFC 8410)
        [1, 3, 101, 112] if params.is_none() => 16,
        _ => 0,
    }
}

/// RSA-PSS: SHA-256/384/512 with MGF1 over the same hash, the hash's length as salt and
/// the default trailer, else unknown.
fn pss_algorithm(params: Option<&[u8]>) -> Option<i64> {
    let null_or_absent = |p: Option<&[u8]>| p.is_none_or(|p| p == [NULL, 0]);
    let mut d = Der(Der(params?).read(SEQUENCE)?);
    let (hash_oid, hash_params) = parse_ai(Der(d.read(0xa0)?).read(SEQUENCE)?).ok()?;
    let mgf = Der(d.read(0xa1)?).read(SEQUENCE)?;
    let (mgf_oid, mgf_params) = parse_ai(mgf).ok()?;
    let (mgf_hash, mgf_hash_params) = parse_ai(Der(mgf_params?).read(SEQUENCE)?).ok()?;
    let salt = Der(d.read(0xa2)?).int64(INTEGER)?;
    let trailer = if d.peek(0xa3) {
        Der(d.read(0xa3)?).int64(INTEGER)?
    } else {
        1
    };
    if !null_or_absent(hash_params)
        || mgf_oid != [1, 2, 840, 113549, 1, 1, 8]
        || mgf_hash != hash_oid
        || !null_or_absent(mgf_hash_params)
        || trailer != 1
    {
        return None;
    }
    match (hash_oid.as_slice(), salt) {
        ([2, 16, 840, 1, 101, 3, 4, 2, 1], 32) => Some(13),
        ([2, 16, 840, 1, 101, 3, 4, 2, 2], 48) => Some(14),
        ([2, 16, 840, 1, 101, 3, 4, 2, 3], 64) => Some(15),
        _ => None,
    }
}

struct RsaKey {
    n: BigUint,
    e: i64,
}

/// A SubjectPublicKeyInfo as `ParseCertificate` checks it (`parsePublicKey`), then as
/// Kyverno reads an RSA one (`x509.ParsePKCS1PublicKey` of the key's bits). Returns the
/// algorithm number and, for RSA, the key.
fn public_key(spki: &[u8]) -> Result<(i64, Option<RsaKey>), String> {
    let mut d = Der(Der(spki).read(SEQUENCE).ok_or("x509: malformed spki")?);
    let ai = d
        .read(SEQUENCE)
        .ok_or("x509: malformed public key algorithm identifier")?;
    let (oid, params) = parse_ai(ai)?;
    let algo = public_key_algorithm(&oid);
    let bits = d.bit_string().ok_or("x509: malformed subjectPublicKey")?;
    let key = bits.right_align();
    match algo {
        RSA => {
            if params != Some(&[NULL, 0]) {
                return Err("x509: RSA key missing NULL parameters".into());
            }
            let mut k = Der(Der(&key).read(SEQUENCE).ok_or("x509: invalid RSA public key")?);
            let n = k
                .read(INTEGER)
                .filter(|n| valid_integer(n))
                .ok_or("x509: invalid RSA modulus")?;
            let e = k.int64(INTEGER).ok_or("x509: invalid RSA public exponent")?;
            if n[0] & 0x80 != 0 || n.iter().all(|&b| b == 0) {
                return Err("x509: RSA modulus is not a positive number".into());
            }
            if e <= 0 {
                return Err("x509: RSA public exponent is not a positive number".into());
            }
            // Kyverno's second reading: nothing after the key, an exponent below 2^31
            let mut whole = Der(bits.bytes);
            if whole.read(SEQUENCE).is_none() || !whole.is_empty() || e > i32::MAX as i64 {
                return Err("failed to parse subject public key info".into());
            }
            let n = BigUint::from_bytes_be(n);
            Ok((algo, Some(RsaKey { n, e })))
        }
        3 => {
            let curve = params
                .and_then(|p| Der(p).oid())
                .ok_or("x509: invalid ECDSA parameters")?;
            let size = match curve.as_slice() {
                [1, 3, 132, 0, 33] => 28,
                [1, 2, 840, 10045, 3, 1, 7] => 32,
                [1, 3, 132, 0, 34] => 48,
                [1, 3, 132, 0, 35] => 66,
                _ => return Err("x509: unsupported elliptic curve".into()),
            };
            if key.len() != 1 + 2 * size || key[0] != 4 {
                return Err("x509: failed to unmarshal elliptic curve point".into());
            }
            Ok((algo, None))
        }
        4 => {
            if params.is_some() {
                return Err("x509: Ed25519 key encoded with illegal parameters".into());
            }
            if key.len() != 32 {
                return Err("x509: wrong Ed25519 public key size".into());
            }
            Ok((algo, None))
        }
        _ => Ok((algo, None)),
    }
}

// ---------------------------------------------------------------------------------------
// Names

/// `parseName` (certificates): attribute values must be one of the string types.
fn parse_name(raw: &[u8]) -> Result<Vec<(Vec<i64>, Value)>, String> {
    let invalid = |what: &str| format!("x509: invalid RDNSequence{what}");
    let mut rdns = Der(Der(raw).read(SEQUENCE).ok_or_else(|| invalid(""))?);
    let mut out = Vec::new();
    while !rdns.is_empty() {
        let mut set = Der(rdns.read(SET).ok_or_else(|| invalid(""))?);
        while !set.is_empty() {
            let mut atv = Der(set.read(SEQUENCE).ok_or_else(|| invalid(": invalid attribute"))?);
            let oid = atv.oid().ok_or_else(|| invalid(": invalid attribute type"))?;
            let (tag, value) = atv.any().ok_or_else(|| invalid(": invalid attribute value"))?;
            let value =
                asn1_string(tag, value).map_err(|e| invalid(&format!(": invalid attribute value: {e}")))?;
            out.push((oid, Value::from(value)));
        }
    }
    Ok(out)
}

/// `parseASN1String`.
fn asn1_string(tag: u8, value: &[u8]) -> Result<String, String> {
    match tag {
        // T61String
        0x14 => Ok(go_string(value)),
        0x13 => {
            if value.iter().all(|&b| is_printable(b)) {
                Ok(go_string(value))
            } else {
                Err("invalid PrintableString".into())
            }
        }
        0x0c => std::str::from_utf8(value)
            .map(str::to_string)
            .map_err(|_| "invalid UTF-8 string".into()),
        0x1e => bmp_string(value).ok_or_else(|| "invalid BMPString".into()),
        0x16 => {
            if value.is_ascii() {
                Ok(go_string(value))
            } else {
                Err("invalid IA5String".into())
            }
        }
        0x12 => {
            if value.iter().all(|&b| b.is_ascii_digit() || b == b' ') {
                Ok(go_string(value))
            } else {
                Err("invalid NumericString".into())
            }
        }
        _ => Err(format!("unsupported string type: {tag}")),
    }
}

/// The PrintableString set, with the `*` and `&` Go tolerates.
fn is_printable(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(b, b'\''..=b')' | b'+'..=b'/' | b' ' | b':' | b'=' | b'?' | b'*' | b'&')
}

/// A BMPString (UTF-16BE, an optional terminating NUL dropped).
fn bmp_string(value: &[u8]) -> Option<String> {
    if !value.len().is_multiple_of(2) {
        return None;
    }
    let value = value.strip_suffix(&[0, 0]).unwrap_or(value);
    let units: Vec<u16> = value
        .chunks(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect();
    Some(String::from_utf16_lossy(&units))
}

// ---------------------------------------------------------------------------------------
// Certificates

/// The signature's bits as Go reads them (`x509: malformed signature` if their padding is
/// not zero).
fn signature_bits<'a>(sig: &'a x509_parser::asn1_rs::BitString<'_>) -> Result<Bits<'a>, String> {
    let unused = sig.unused_bits as usize;
    let data: &[u8] = &sig.data;
    let valid = unused <= 7
        && !(data.is_empty() && unused != 0)
        && data.last().is_none_or(|&l| l & ((1u8 << unused) - 1) == 0);
    if !valid {
        return Err("x509: malformed signature".into());
    }
    Ok(Bits {
        bytes: data,
        len: data.len() * 8 - unused,
    })
}

struct Extension {
    id: Vec<i64>,
    critical: bool,
    value: Vec<u8>,
}

/// `x509.ParseCertificate`, then Kyverno's RSA check and conversion.
fn certificate(der: &[u8]) -> Result<Value, String> {
    let (rest, cert) = X509CertificateParser::new()
        .with_deep_parse_extensions(false)
        .parse(der)
        .map_err(|_| "x509: malformed certificate".to_string())?;
    if !rest.is_empty() {
        return Err("x509: trailing data".into());
    }
    let tbs = &cert.tbs_certificate;
    let version = tbs.version.0 as i64 + 1;
    if version > 3 {
        return Err("x509: invalid version".into());
    }
    let serial = tbs.raw_serial();
    if !valid_integer(serial) {
        return Err("x509: malformed serial number".into());
    }
    if serial[0] & 0x80 != 0 {
        return Err("x509: negative serial number".into());
    }

    // the signature algorithm inside and outside the signed part must be the same bytes
    let mut outer = Der(Der(cert.as_raw())
        .read(SEQUENCE)
        .ok_or("x509: malformed certificate")?);
    let _ = outer.element();
    let outer_ai = outer
        .read(SEQUENCE)
        .ok_or("x509: malformed algorithm identifier")?;
    let mut inner = Der(Der(tbs.as_ref())
        .read(SEQUENCE)
        .ok_or("x509: malformed tbs certificate")?);
    if inner.peek(0xa0) {
        let _ = inner.element();
    }
    let _ = inner.element();
    let inner_ai = inner
        .read(SEQUENCE)
        .ok_or("x509: malformed signature algorithm identifier")?;
    if inner_ai != outer_ai {
        return Err("x509: inner and outer signature algorithm identifiers don't match".into());
    }
    let (sig_oid, sig_params) = parse_ai(outer_ai)?;

    let issuer = parse_name(tbs.issuer.as_raw())?;
    let subject = parse_name(tbs.subject.as_raw())?;
    let (algo, key) = public_key(tbs.subject_pki.raw)?;

    let mut ext = Extensions::default();
    let mut seen = std::collections::HashSet::new();
    if version == 3 {
        for e in tbs.extensions() {
            let id = parse_oid(e.oid.as_bytes()).ok_or("x509: malformed extension OID field")?;
            if !seen.insert(id.clone()) {
                return Err("x509: certificate contains duplicate extensions".into());
            }
            ext.list.push(Extension {
                id,
                critical: e.critical,
                value: e.value.to_vec(),
            });
        }
        ext.process()?;
    }
    let signature = signature_bits(&cert.signature_value)?;

    // Kyverno (functions.go:1231-1241)
    if algo != RSA {
        return Err("certificate should use rsa algorithm".into());
    }
    let Some(key) = key else {
        return Err("failed to parse subject public key info".into());
    };

    let mut m = Map::new();
    m.insert("Raw".into(), b64(cert.as_raw()));
    m.insert("RawTBSCertificate".into(), b64(tbs.as_ref()));
    m.insert("RawSubjectPublicKeyInfo".into(), b64(tbs.subject_pki.raw));
    m.insert("RawSubject".into(), b64(tbs.subject.as_raw()));
    m.insert("RawIssuer".into(), b64(tbs.issuer.as_raw()));
    m.insert("Signature".into(), b64(&signature.right_align()));
    m.insert(
        "SignatureAlgorithm".into(),
        int(signature_algorithm(&sig_oid, sig_params)),
    );
    m.insert("PublicKeyAlgorithm".into(), int(algo));
    m.insert("PublicKey".into(), public_key_json(&key));
    m.insert("Version".into(), int(version));
    // big.Int's JSON is its decimal digits; Go reads them back as a float64
    let serial = BigUint::from_bytes_be(serial).to_string();
    m.insert(
        "SerialNumber".into(),
        num(serial.parse::<f64>().unwrap_or(f64::INFINITY))?,
    );
    m.insert("Issuer".into(), name_json(&issuer));
    m.insert("Subject".into(), name_json(&subject));
    m.insert("NotBefore".into(), time_json(&tbs.validity.not_before));
    m.insert("NotAfter".into(), time_json(&tbs.validity.not_after));
    ext.insert_into(&mut m);
    Ok(Value::Object(m))
}

/// The fields `processExtensions` fills.
#[derive(Default)]
struct Extensions {
    list: Vec<Extension>,
    key_usage: i64,
    unhandled_critical: Vec<Vec<i64>>,
    ext_key_usage: Vec<i64>,
    unknown_ext_key_usage: Vec<Vec<i64>>,
    basic_constraints_valid: bool,
    is_ca: bool,
    max_path_len: i64,
    subject_key_id: Option<Vec<u8>>,
    authority_key_id: Option<Vec<u8>>,
    ocsp_server: Vec<String>,
    issuing_certificate_url: Vec<String>,
    san: San,
    permitted_critical: bool,
    permitted: Constraints,
    excluded: Constraints,
    crl_distribution_points: Vec<String>,
    /// `None` without the certificatePolicies extension (`PolicyIdentifiers` is then nil,
    /// with it an empty list at least)
    policies: Option<Vec<Vec<u8>>>,
    inhibit_any_policy: Option<i64>,
    inhibit_policy_mapping: Option<i64>,
    require_explicit_policy: Option<i64>,
    policy_mappings: Vec<(Vec<u8>, Vec<u8>)>,
}

/// The subject alternative names.
#[derive(Default)]
struct San {
    dns: Vec<String>,
    email: Vec<String>,
    ip: Vec<Vec<u8>>,
    uri: Vec<Value>,
}

impl San {
    fn is_empty(&self) -> bool {
        self.dns.is_empty() && self.email.is_empty() && self.ip.is_empty() && self.uri.is_empty()
    }

    fn insert_into(&self, m: &mut Map<String, Value>) {
        m.insert("DNSNames".into(), strings(&self.dns));
        m.insert("EmailAddresses".into(), strings(&self.email));
        m.insert(
            "IPAddresses".into(),
            list(self.ip.iter().map(|ip| Value::from(ip_string(ip))).collect()),
        );
        m.insert("URIs".into(), list(self.uri.clone()));
    }
}

/// One side of the name constraints.
#[derive(Default)]
struct Constraints {
    dns: Vec<String>,
    ip: Vec<(Vec<u8>, Vec<u8>)>,
    email: Vec<String>,
    uri: Vec<String>,
}

impl Constraints {
    fn ip_json(&self) -> Value {
        list(
            self.ip
                .iter()
                .map(|(ip, mask)| {
                    let mut m = Map::new();
                    m.insert("IP".into(), Value::from(ip_string(ip)));
                    m.insert("Mask".into(), b64(mask));
                    Value::Object(m)
                })
                .collect(),
        )
    }
}

impl Extensions {
    /// `processExtensions` (Go 1.24 `parser.go`).
    fn process(&mut self) -> Result<(), String> {
        let list = std::mem::take(&mut self.list);
        for e in &list {
            let mut unhandled = false;
            let mut val = Der(&e.value);
            match e.id.as_slice() {
                [2, 5, 29, 15] => {
                    let bits = val.bit_string().ok_or("x509: invalid key usage")?;
                    self.key_usage = (0..9).filter(|&i| bits.at(i)).map(|i| 1 << i).sum();
                }
                [2, 5, 29, 19] => {
                    let err = "x509: invalid basic constraints";
                    let mut d = Der(val.read(SEQUENCE).ok_or(err)?);
                    self.is_ca = if d.peek(BOOLEAN) {
                        d.boolean().ok_or(err)?
                    } else {
                        false
                    };
                    self.max_path_len = if d.peek(INTEGER) {
                        d.int64(INTEGER).ok_or(err)?
                    } else {
                        -1
                    };
                    self.basic_constraints_valid = true;
                }
                [2, 5, 29, 17] => {
                    self.san = parse_san(&e.value)?;
                    unhandled = self.san.is_empty();
                }
                [2, 5, 29, 30] => unhandled = self.name_constraints(e)?,
                [2, 5, 29, 31] => self.crl_distribution_points(val)?,
                [2, 5, 29, 35] => {
                    if e.critical {
                        return Err("x509: authority key identifier incorrectly marked critical".into());
                    }
                    let err = "x509: invalid authority key identifier";
                    let mut akid = Der(val.read(SEQUENCE).ok_or(err)?);
                    if akid.peek(0x80) {
                        self.authority_key_id = Some(akid.read(0x80).ok_or(err)?.to_vec());
                    }
                }
                [2, 5, 29, 36] => {
                    let err = "x509: invalid policy constraints extension";
                    let mut d = Der(val.read(SEQUENCE).ok_or(err)?);
                    if d.peek(0x80) {
                        self.require_explicit_policy = Some(d.int64(0x80).ok_or(err)?);
                    }
                    if d.peek(0x81) {
                        self.inhibit_policy_mapping = Some(d.int64(0x81).ok_or(err)?);
                    }
                }
                [2, 5, 29, 37] => {
                    let err = "x509: invalid extended key usages";
                    let mut d = Der(val.read(SEQUENCE).ok_or(err)?);
                    self.ext_key_usage.clear();
                    self.unknown_ext_key_usage.clear();
                    while !d.is_empty() {
                        let oid = d.oid().ok_or(err)?;
                        match ext_key_usage(&oid) {
                            Some(u) => self.ext_key_usage.push(u),
                            None => self.unknown_ext_key_usage.push(oid),
                        }
                    }
                }
                [2, 5, 29, 14] => {
                    if e.critical {
                        return Err("x509: subject key identifier incorrectly marked critical".into());
                    }
                    let skid = val
                        .read(OCTET_STRING)
                        .ok_or("x509: invalid subject key identifier")?;
                    self.subject_key_id = Some(skid.to_vec());
                }
                [2, 5, 29, 32] => {
                    let err = "x509: invalid certificate policies";
                    let mut d = Der(val.read(SEQUENCE).ok_or(err)?);
                    let mut policies: Vec<Vec<u8>> = Vec::new();
                    while !d.is_empty() {
                        let oid = Der(d.read(SEQUENCE).ok_or(err)?).read(OID).ok_or(err)?;
                        if policies.iter().any(|p| p == oid) || !valid_oid_der(oid) {
                            return Err(err.into());
                        }
                        policies.push(oid.to_vec());
                    }
                    self.policies = Some(policies);
                }
                [2, 5, 29, 33] => {
                    let err = "x509: invalid policy mappings extension";
                    let mut d = Der(val.read(SEQUENCE).ok_or(err)?);
                    while !d.is_empty() {
                        let mut s = Der(d.read(SEQUENCE).ok_or(err)?);
                        let issuer = s.read(OID).ok_or(err)?;
                        let subject = s.read(OID).ok_or(err)?;
                        self.policy_mappings.push((issuer.to_vec(), subject.to_vec()));
                    }
                }
                [2, 5, 29, 54] => {
                    let v = val
                        .int64(INTEGER)
                        .ok_or("x509: invalid inhibit any policy extension")?;
                    self.inhibit_any_policy = Some(v);
                }
                [2, 5, 29, _] => unhandled = true,
                [1, 3, 6, 1, 5, 5, 7, 1, 1] => self.authority_info_access(e)?,
                _ => unhandled = true,
            }
            if e.critical && unhandled {
                self.unhandled_critical.push(e.id.clone());
            }
        }
        self.list = list;
        Ok(())
    }

    fn crl_distribution_points(&mut self, mut val: Der<'_>) -> Result<(), String> {
        let mut points = Der(val
            .read(SEQUENCE)
            .ok_or("x509: invalid CRL distribution points")?);
        let err = "x509: invalid CRL distribution point";
        while !points.is_empty() {
            let mut dp = Der(points.read(SEQUENCE).ok_or(err)?);
            if !dp.peek(0xa0) {
                continue;
            }
            let mut name = Der(Der(dp.read(0xa0).ok_or(err)?).read(0xa0).ok_or(err)?);
            while name.peek(0x86) {
                let uri = name.read(0x86).ok_or(err)?;
                self.crl_distribution_points.push(go_string(uri));
            }
        }
        Ok(())
    }

    fn authority_info_access(&mut self, e: &Extension) -> Result<(), String> {
        if e.critical {
            return Err("x509: authority info access incorrectly marked critical".into());
        }
        let err = "x509: invalid authority info access";
        let mut val = Der(Der(&e.value).read(SEQUENCE).ok_or(err)?);
        while !val.is_empty() {
            let mut aia = Der(val.read(SEQUENCE).ok_or(err)?);
            let method = aia.oid().ok_or(err)?;
            if !aia.peek(0x86) {
                continue;
            }
            let location = go_string(aia.read(0x86).ok_or(err)?);
            match method.as_slice() {
                [1, 3, 6, 1, 5, 5, 7, 48, 1] => self.ocsp_server.push(location),
                [1, 3, 6, 1, 5, 5, 7, 48, 2] => self.issuing_certificate_url.push(location),
                _ => {}
            }
        }
        Ok(())
    }

    /// `parseNameConstraintsExtension`: whether a constraint of another kind was seen.
    fn name_constraints(&mut self, e: &Extension) -> Result<bool, String> {
        let invalid = "x509: invalid NameConstraints extension";
        let mut outer = Der(&e.value);
        let mut top = Der(outer.read(SEQUENCE).ok_or(invalid)?);
        if !outer.is_empty() {
            return Err(invalid.into());
        }
        let permitted = if top.peek(0xa0) {
            Some(top.read(0xa0).ok_or(invalid)?)
        } else {
            None
        };
        let excluded = if top.peek(0xa1) {
            Some(top.read(0xa1).ok_or(invalid)?)
        } else {
            None
        };
        if !top.is_empty() {
            return Err(invalid.into());
        }
        if permitted.unwrap_or_default().is_empty() && excluded.unwrap_or_default().is_empty() {
            return Err("x509: empty name constraints extension".into());
        }
        let mut unhandled = false;
        self.permitted = constraints(permitted.unwrap_or_default(), &mut unhandled)?;
        self.excluded = constraints(excluded.unwrap_or_default(), &mut unhandled)?;
        self.permitted_critical = e.critical;
        Ok(unhandled)
    }

    fn insert_into(self, m: &mut Map<String, Value>) {
        let oid_list = |l: &[Vec<i64>]| list(l.iter().map(|o| oid_json(o)).collect());
        m.insert("KeyUsage".into(), int(self.key_usage));
        m.insert(
            "Extensions".into(),
            list(self.list.iter().map(extension_json).collect()),
        );
        m.insert("ExtraExtensions".into(), Value::Null);
        m.insert(
            "UnhandledCriticalExtensions".into(),
            oid_list(&self.unhandled_critical),
        );
        m.insert(
            "ExtKeyUsage".into(),
            list(self.ext_key_usage.iter().map(|&u| int(u)).collect()),
        );
        m.insert("UnknownExtKeyUsage".into(), oid_list(&self.unknown_ext_key_usage));
        m.insert(
            "BasicConstraintsValid".into(),
            Value::Bool(self.basic_constraints_valid),
        );
        m.insert("IsCA".into(), Value::Bool(self.is_ca));
        let max_path_len = if self.basic_constraints_valid {
            self.max_path_len
        } else {
            0
        };
        m.insert("MaxPathLen".into(), int(max_path_len));
        m.insert(
            "MaxPathLenZero".into(),
            Value::Bool(self.basic_constraints_valid && max_path_len == 0),
        );
        m.insert("SubjectKeyId".into(), opt_b64(self.subject_key_id.as_deref()));
        m.insert("AuthorityKeyId".into(), opt_b64(self.authority_key_id.as_deref()));
        m.insert("OCSPServer".into(), strings(&self.ocsp_server));
        m.insert(
            "IssuingCertificateURL".into(),
            strings(&self.issuing_certificate_url),
        );
        self.san.insert_into(m);
        m.insert(
            "PermittedDNSDomainsCritical".into(),
            Value::Bool(self.permitted_critical),
        );
        m.insert("PermittedDNSDomains".into(), strings(&self.permitted.dns));
        m.insert("ExcludedDNSDomains".into(), strings(&self.excluded.dns));
        m.insert("PermittedIPRanges".into(), self.permitted.ip_json());
        m.insert("ExcludedIPRanges".into(), self.excluded.ip_json());
        m.insert("PermittedEmailAddresses".into(), strings(&self.permitted.email));
        m.insert("ExcludedEmailAddresses".into(), strings(&self.excluded.email));
        m.insert("PermittedURIDomains".into(), strings(&self.permitted.uri));
        m.insert("ExcludedURIDomains".into(), strings(&self.excluded.uri));
        m.insert(
            "CRLDistributionPoints".into(),
            strings(&self.crl_distribution_points),
        );
        let (identifiers, policies) = match &self.policies {
            None => (Value::Null, Value::Null),
            Some(p) => (
                // only the identifiers whose components fit in 31 bits
                Value::Array(
                    p.iter()
                        .filter_map(|o| parse_oid(o))
                        .map(|o| oid_json(&o))
                        .collect(),
                ),
                list(p.iter().map(|o| Value::from(oid_text(o))).collect()),
            ),
        };
        m.insert("PolicyIdentifiers".into(), identifiers);
        m.insert("Policies".into(), policies);
        let (iap, iap_zero) = opt_int(self.inhibit_any_policy);
        m.insert("InhibitAnyPolicy".into(), iap);
        m.insert("InhibitAnyPolicyZero".into(), iap_zero);
        let (ipm, ipm_zero) = opt_int(self.inhibit_policy_mapping);
        m.insert("InhibitPolicyMapping".into(), ipm);
        m.insert("InhibitPolicyMappingZero".into(), ipm_zero);
        let (rep, rep_zero) = opt_int(self.require_explicit_policy);
        m.insert("RequireExplicitPolicy".into(), rep);
        m.insert("RequireExplicitPolicyZero".into(), rep_zero);
        m.insert(
            "PolicyMappings".into(),
            list(
                self.policy_mappings
                    .iter()
                    .map(|(issuer, subject)| {
                        let mut pm = Map::new();
                        pm.insert("IssuerDomainPolicy".into(), Value::from(oid_text(issuer)));
                        pm.insert("SubjectDomainPolicy".into(), Value::from(oid_text(subject)));
                        Value::Object(pm)
                    })
                    .collect(),
            ),
        );
    }
}

/// An int field and its `...Zero` companion (set when the extension says 0).
fn opt_int(v: Option<i64>) -> (Value, Value) {
    (int(v.unwrap_or(0)), Value::Bool(v == Some(0)))
}

/// `extKeyUsageFromOID`: Go's `ExtKeyUsage` numbers.
fn ext_key_usage(oid: &[i64]) -> Option<i64> {
    Some(match oid {
        [2, 5, 29, 37, 0] => 0,
        [1, 3, 6, 1, 5, 5, 7, 3, n @ 1..=9] => *n,
        [1, 3, 6, 1, 4, 1, 311, 10, 3, 3] => 10,
        [2, 16, 840, 1, 113730, 4, 1] => 11,
        [1, 3, 6, 1, 4, 1, 311, 2, 1, 22] => 12,
        [1, 3, 6, 1, 4, 1, 311, 61, 1, 1] => 13,
        _ => return None,
    })
}

/// `newOIDFromDER`'s check: base-128 components, minimally encoded, the last complete.
fn valid_oid_der(der: &[u8]) -> bool {
    if der.is_empty() || der[der.len() - 1] & 0x80 != 0 {
        return false;
    }
    let mut start = true;
    for &b in der {
        if start && b == 0x80 {
            return false;
        }
        start = b & 0x80 == 0;
    }
    true
}

/// `x509.OID.String()` (its JSON text): dotted decimal of any size.
fn oid_text(der: &[u8]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut v = BigUint::default();
    for &b in der {
        v = (v << 7u32) + BigUint::from(b & 0x7f);
        if b & 0x80 == 0 {
            if parts.is_empty() {
                let (first, second) = if v < BigUint::from(80u32) {
                    let small: u32 = v.to_u32_digits().first().copied().unwrap_or(0);
                    (small / 40, BigUint::from(small % 40))
                } else {
                    (2, v.clone() - BigUint::from(80u32))
                };
                parts.push(first.to_string());
                parts.push(second.to_string());
            } else {
                parts.push(v.to_string());
            }
            v = BigUint::default();
        }
    }
    parts.join(".")
}

/// The subtrees of one side of a NameConstraints extension.
fn constraints(subtrees: &[u8], unhandled: &mut bool) -> Result<Constraints, String> {
    let invalid = "x509: invalid NameConstraints extension";
    let mut out = Constraints::default();
    let mut subtrees = Der(subtrees);
    while !subtrees.is_empty() {
        let mut seq = Der(subtrees.read(SEQUENCE).ok_or(invalid)?);
        let (tag, value) = seq.any().ok_or(invalid)?;
        let text = go_string(value);
        let ia5 = || {
            if value.is_ascii() {
                Ok(())
            } else {
                Err(format!(
                    "x509: invalid constraint value: x509: {} cannot be encoded as an IA5String",
                    go_quote(&text)
                ))
            }
        };
        match tag {
            0x82 => {
                ia5()?;
                if !valid_domain(text.strip_prefix('.').unwrap_or(&text)) {
                    return Err(format!(
                        "x509: failed to parse dnsName constraint {}",
                        go_quote(&text)
                    ));
                }
                out.dns.push(text);
            }
            0x87 => {
                let (ip, mask) = match value.len() {
                    8 => value.split_at(4),
                    32 => value.split_at(16),
                    l => return Err(format!("x509: IP constraint contained value of length {l}")),
                };
                if !valid_ip_mask(mask) {
                    let hex: String = mask.iter().map(|b| format!("{b:02x}")).collect();
                    return Err(format!("x509: IP constraint contained invalid mask {hex}"));
                }
                out.ip.push((ip.to_vec(), mask.to_vec()));
            }
            0x81 => {
                ia5()?;
                let ok = if text.contains('@') {
                    valid_mailbox(&text)
                } else {
                    valid_domain(text.strip_prefix('.').unwrap_or(&text))
                };
                if !ok {
                    return Err(format!(
                        "x509: failed to parse rfc822Name constraint {}",
                        go_quote(&text)
                    ));
                }
                out.email.push(text);
            }
            0x86 => {
                ia5()?;
                if text.parse::<std::net::IpAddr>().is_ok() {
                    return Err(format!(
                        "x509: failed to parse URI constraint {}: cannot be IP address",
                        go_quote(&text)
                    ));
                }
                if !valid_domain(text.strip_prefix('.').unwrap_or(&text)) {
                    return Err(format!(
                        "x509: failed to parse URI constraint {}",
                        go_quote(&text)
                    ));
                }
                out.uri.push(text);
            }
            _ => *unhandled = true,
        }
    }
    Ok(out)
}

/// `isValidIPMask`: ones then zeros.
fn valid_ip_mask(mask: &[u8]) -> bool {
    let mut seen_zero = false;
    for &b in mask {
        if seen_zero {
            if b != 0 {
                return false;
            }
            continue;
        }
        match b {
            0x00 | 0x80 | 0xc0 | 0xe0 | 0xf0 | 0xf8 | 0xfc | 0xfe => seen_zero = true,
            0xff => {}
            _ => return false,
        }
    }
    true
}

/// `domainToReverseLabels(d)` succeeds: non-empty labels of printable ASCII, no trailing dot.
fn valid_domain(d: &str) -> bool {
    d.is_empty()
        || d.split('.')
            .all(|l| !l.is_empty() && l.bytes().all(|c| (33..=126).contains(&c)))
}

/// `parseRFC2821Mailbox` succeeds (simplified: a non-empty local part, a valid domain).
fn valid_mailbox(s: &str) -> bool {
    match s.rsplit_once('@') {
        Some((local, domain)) => !local.is_empty() && !domain.is_empty() && valid_domain(domain),
        None => false,
    }
}

/// `parseSANExtension`.
fn parse_san(value: &[u8]) -> Result<San, String> {
    let mut der = Der(Der(value)
        .read(SEQUENCE)
        .ok_or("x509: invalid subject alternative names")?);
    let mut san = San::default();
    while !der.is_empty() {
        let (tag, data) = der.any().ok_or("x509: invalid subject alternative name")?;
        match tag ^ 0x80 {
            1 => {
                if !data.is_ascii() {
                    return Err("x509: SAN rfc822Name is malformed".into());
                }
                san.email.push(go_string(data));
            }
            2 => {
                if !data.is_ascii() {
                    return Err("x509: SAN dNSName is malformed".into());
                }
                san.dns.push(go_string(data));
            }
            6 => {
                if !data.is_ascii() {
                    return Err("x509: SAN uniformResourceIdentifier is malformed".into());
                }
                let text = go_string(data);
                let url = go_url::parse(&text)
                    .map_err(|e| format!("x509: cannot parse URI {}: {e}", go_quote(&text)))?;
                if !url.host.is_empty() && !valid_domain(&url.host) {
                    return Err(format!(
                        "x509: cannot parse URI {}: invalid domain",
                        go_quote(&text)
                    ));
                }
                san.uri.push(url.to_json());
            }
            7 => match data.len() {
                4 | 16 => san.ip.push(data.to_vec()),
                l => return Err(format!("x509: cannot parse IP address of length {l}")),
            },
            _ => {}
        }
    }
    Ok(san)
}

/// `strconv.Quote` of an ASCII string.
fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\x7f' => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

// ---------------------------------------------------------------------------------------
// Certificate requests

/// `x509.ParseCertificateRequest`, then Kyverno's RSA check and conversion.
fn certificate_request(der: &[u8]) -> Result<Value, String> {
    let (rest, csr) = X509CertificationRequest::from_der(der).map_err(|_| csr_error(der))?;
    if !rest.is_empty() {
        return Err("asn1: syntax error: trailing data".into());
    }
    let info = &csr.certification_request_info;
    let mut outer = Der(Der(csr.as_raw())
        .read(SEQUENCE)
        .ok_or("asn1: syntax error: data truncated")?);
    let _ = outer.element();
    let (sig_oid, sig_params) = parse_ai(outer.read(SEQUENCE).unwrap_or_default())?;
    let (algo, key) = public_key(info.subject_pki.raw)?;
    let subject = asn1_name(info.subject.as_raw())?;

    // the [0] attributes after version, subject and key
    let mut tbs = Der(Der(info.raw).read(SEQUENCE).unwrap_or_default());
    for _ in 0..3 {
        let _ = tbs.element();
    }
    let mut raw_attributes = Vec::new();
    let mut attrs = Der(tbs.read(0xa0).unwrap_or_default());
    while let Some((_, _, all)) = attrs.element() {
        raw_attributes.push(all);
    }
    let attributes: Vec<Value> = raw_attributes.iter().filter_map(|a| attribute(a)).collect();
    let extensions = csr_extensions(&raw_attributes)?;
    let mut san = San::default();
    for e in &extensions {
        if e.id == [2, 5, 29, 17] {
            san = parse_san(&e.value)?;
        }
    }

    // Kyverno (functions.go:1246-1256)
    if algo != RSA {
        return Err("certificate should use rsa algorithm".into());
    }
    let Some(key) = key else {
        return Err("failed to parse subject public key info".into());
    };
    let signature = signature_bits(&csr.signature_value)?;

    let mut m = Map::new();
    m.insert("Raw".into(), b64(csr.as_raw()));
    m.insert("RawTBSCertificateRequest".into(), b64(info.raw));
    m.insert("RawSubjectPublicKeyInfo".into(), b64(info.subject_pki.raw));
    m.insert("RawSubject".into(), b64(info.subject.as_raw()));
    m.insert("Version".into(), int(info.version.0 as i64));
    m.insert("Signature".into(), b64(&signature.right_align()));
    m.insert(
        "SignatureAlgorithm".into(),
        int(signature_algorithm(&sig_oid, sig_params)),
    );
    m.insert("PublicKeyAlgorithm".into(), int(algo));
    m.insert("PublicKey".into(), public_key_json(&key));
    m.insert("Subject".into(), name_json(&subject));
    m.insert("Attributes".into(), list(attributes));
    m.insert(
        "Extensions".into(),
        list(extensions.iter().map(extension_json).collect()),
    );
    m.insert("ExtraExtensions".into(), Value::Null);
    san.insert_into(&mut m);
    Ok(Value::Object(m))
}

/// `encoding/asn1`'s error for a request x509-parser rejects: Go's text for an empty or
/// truncated one, else a generic one (Go's names the first field that failed).
fn csr_error(der: &[u8]) -> String {
    if der.is_empty() {
        "asn1: syntax error: sequence truncated".into()
    } else if der[0] == SEQUENCE && Der(der).element().is_none() {
        "asn1: syntax error: data truncated".into()
    } else {
        "asn1: structure error: malformed certificate request".into()
    }
}

/// A Name read by `encoding/asn1` into a `pkix.RDNSequence` (values of any type).
fn asn1_name(raw: &[u8]) -> Result<Vec<(Vec<i64>, Value)>, String> {
    let bad = || "asn1: structure error: invalid subject".to_string();
    let mut rdns = Der(Der(raw).read(SEQUENCE).ok_or_else(bad)?);
    let mut out = Vec::new();
    while !rdns.is_empty() {
        let mut set = Der(rdns.read(SET).ok_or_else(bad)?);
        while !set.is_empty() {
            let mut atv = Der(set.read(SEQUENCE).ok_or_else(bad)?);
            let oid = atv.oid().ok_or_else(bad)?;
            let value = asn1_any(&mut atv).ok_or_else(bad)?;
            out.push((oid, value));
        }
    }
    Ok(out)
}

/// An element read by `encoding/asn1` into an `any`, as JSON: strings, int64, BitString,
/// ObjectIdentifier, times, `[]byte`; other types (booleans, constructed values) `nil`.
fn asn1_any(d: &mut Der<'_>) -> Option<Value> {
    let (tag, value) = d.any()?;
    Some(match tag {
        0x13 | 0x12 | 0x16 | 0x14 | 0x0c | 0x1e => Value::from(asn1_string(tag, value).ok()?),
        INTEGER => {
            if !valid_integer(value) || value.len() > 8 {
                return None;
            }
            let init = if value[0] & 0x80 != 0 { -1i64 } else { 0 };
            int(value.iter().fold(init, |v, &b| (v << 8) | b as i64))
        }
        BIT_STRING => {
            let bits = bits(value)?;
            let mut m = Map::new();
            m.insert("Bytes".into(), b64(bits.bytes));
            m.insert("BitLength".into(), int(bits.len as i64));
            Value::Object(m)
        }
        OID => oid_json(&parse_oid(value)?),
        OCTET_STRING => b64(value),
        // parseUTCTime / parseGeneralizedTime (without their check that the time
        // formats back to the same text)
        0x17 => {
            let text = std::str::from_utf8(value).ok()?;
            let t = super::go_time_parse("0601021504Z0700", text)
                .or_else(|_| super::go_time_parse("060102150405Z0700", text))
                .ok()?;
            let (y, mo, d, h, mi, s, _) = t.civil();
            let t = if y >= 2050 {
                GoTime {
                    sec: super::days_from_civil(y - 100, mo, d) * 86_400 + h * 3600 + mi * 60 + s
                        - t.offset as i64,
                    ..t
                }
            } else {
                t
            };
            Value::from(t.rfc3339())
        }
        0x18 => {
            let text = std::str::from_utf8(value).ok()?;
            let t = super::go_time_parse("20060102150405.999999999Z0700", text).ok()?;
            Value::from(t.rfc3339())
        }
        _ => Value::Null,
    })
}

/// A `pkix.AttributeTypeAndValueSET` (`parseRawAttributes`), or `None` when the attribute
/// does not have that shape (Go skips it).
fn attribute(raw: &[u8]) -> Option<Value> {
    let mut attr = Der(Der(raw).read(SEQUENCE)?);
    let oid = attr.oid()?;
    let mut set = Der(attr.read(SET)?);
    let mut values = Vec::new();
    while !set.is_empty() {
        let mut seq = Der(set.read(SEQUENCE)?);
        let mut atvs = Vec::new();
        while !seq.is_empty() {
            let mut atv = Der(seq.read(SEQUENCE)?);
            let t = atv.oid()?;
            atvs.push(atv_json(&t, asn1_any(&mut atv)?));
        }
        values.push(Value::Array(atvs));
    }
    let mut m = Map::new();
    m.insert("Type".into(), oid_json(&oid));
    m.insert("Value".into(), Value::Array(values));
    Some(Value::Object(m))
}

/// `parseCSRExtensions`: the extensions of the extensionRequest attributes.
fn csr_extensions(raw_attributes: &[&[u8]]) -> Result<Vec<Extension>, String> {
    let mut out: Vec<Extension> = Vec::new();
    for raw in raw_attributes {
        let Some(mut attr) = Der(raw).read(SEQUENCE).map(Der) else {
            continue;
        };
        let (Some(id), Some(first)) = (attr.oid(), attr.read(SET).and_then(|s| Der(s).element())) else {
            continue;
        };
        if id != [1, 2, 840, 113549, 1, 9, 14] {
            continue;
        }
        let bad = || "asn1: structure error: invalid extension request".to_string();
        let mut list = Der(Der(first.2).read(SEQUENCE).ok_or_else(bad)?);
        let mut found = Vec::new();
        while !list.is_empty() {
            let mut e = Der(list.read(SEQUENCE).ok_or_else(bad)?);
            let id = e.oid().ok_or_else(bad)?;
            let critical = if e.peek(BOOLEAN) {
                e.boolean().ok_or_else(bad)?
            } else {
                false
            };
            let value = e.read(OCTET_STRING).ok_or_else(bad)?.to_vec();
            found.push(Extension { id, critical, value });
        }
        for e in found {
            if out.iter().any(|o| o.id == e.id) {
                return Err("x509: certificate request contains duplicate requested extensions".into());
            }
            out.push(e);
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// URLs

/// Go's `net/url.Parse` and the JSON of a `*url.URL`, for SAN URIs.
mod go_url {
    use serde_json::{Map, Value};

    use super::go_quote;

    #[derive(Default)]
    pub(super) struct Url {
        scheme: String,
        opaque: String,
        user: bool,
        pub(super) host: String,
        path: String,
        raw_path: String,
        omit_host: bool,
        force_query: bool,
        raw_query: String,
        fragment: String,
        raw_fragment: String,
    }

    impl Url {
        pub(super) fn to_json(&self) -> Value {
            let mut m = Map::new();
            m.insert("Scheme".into(), Value::from(self.scheme.as_str()));
            m.insert("Opaque".into(), Value::from(self.opaque.as_str()));
            // Userinfo has only unexported fields
            m.insert(
                "User".into(),
                if self.user {
                    Value::Object(Map::new())
                } else {
                    Value::Null
                },
            );
            m.insert("Host".into(), Value::from(self.host.as_str()));
            m.insert("Path".into(), Value::from(self.path.as_str()));
            m.insert("RawPath".into(), Value::from(self.raw_path.as_str()));
            m.insert("OmitHost".into(), Value::Bool(self.omit_host));
            m.insert("ForceQuery".into(), Value::Bool(self.force_query));
            m.insert("RawQuery".into(), Value::from(self.raw_query.as_str()));
            m.insert("Fragment".into(), Value::from(self.fragment.as_str()));
            m.insert("RawFragment".into(), Value::from(self.raw_fragment.as_str()));
            Value::Object(m)
        }
    }

    #[derive(Clone, Copy, PartialEq)]
    enum Mode {
        Path,
        Host,
        Zone,
        UserPassword,
        Fragment,
    }

    /// `url.Parse`, its error as `url.Error` prints it.
    pub(super) fn parse(raw: &str) -> Result<Url, String> {
        let (u, frag) = raw.split_once('#').unwrap_or((raw, ""));
        let mut url = parse_no_fragment(u).map_err(|e| format!("parse {}: {e}", go_quote(u)))?;
        if frag.is_empty() {
            return Ok(url);
        }
        let f = unescape(frag, Mode::Fragment).map_err(|e| format!("parse {}: {e}", go_quote(raw)))?;
        url.raw_fragment = if escape(&f, Mode::Fragment) == frag {
            String::new()
        } else {
            frag.into()
        };
        url.fragment = f;
        Ok(url)
    }

    fn parse_no_fragment(raw: &str) -> Result<Url, String> {
        if raw.bytes().any(|b| b < b' ' || b == 0x7f) {
            return Err("net/url: invalid control character in URL".into());
        }
        let mut url = Url::default();
        if raw == "*" {
            url.path = "*".into();
            return Ok(url);
        }
        let (scheme, rest) = scheme(raw)?;
        url.scheme = scheme.to_ascii_lowercase();
        let mut rest = rest;
        if rest.ends_with('?') && rest.matches('?').count() == 1 {
            url.force_query = true;
            rest = &rest[..rest.len() - 1];
        } else if let Some((r, q)) = rest.split_once('?') {
            rest = r;
            url.raw_query = q.into();
        }
        if !rest.starts_with('/') {
            if !url.scheme.is_empty() {
                url.opaque = rest.into();
                return Ok(url);
            }
            if rest.split('/').next().is_some_and(|seg| seg.contains(':')) {
                return Err("first path segment in URL cannot contain colon".into());
            }
        }
        if (!url.scheme.is_empty() || !rest.starts_with("///")) && rest.starts_with("//") {
            let authority = &rest[2..];
            let (authority, path) = match authority.find('/') {
                Some(i) => (&authority[..i], &authority[i..]),
                None => (authority, ""),
            };
            let (user, host) = parse_authority(authority)?;
            url.user = user;
            url.host = host;
            rest = path;
        } else if !url.scheme.is_empty() && rest.starts_with('/') {
            url.omit_host = true;
        }
        let path = unescape(rest, Mode::Path)?;
        url.raw_path = if escape(&path, Mode::Path) == rest {
            String::new()
        } else {
            rest.into()
        };
        url.path = path;
        Ok(url)
    }

    fn scheme(raw: &str) -> Result<(&str, &str), String> {
        for (i, c) in raw.bytes().enumerate() {
            match c {
                b'a'..=b'z' | b'A'..=b'Z' => {}
                b'0'..=b'9' | b'+' | b'-' | b'.' if i > 0 => {}
                b':' if i == 0 => return Err("missing protocol scheme".into()),
                b':' => return Ok((&raw[..i], &raw[i + 1..])),
                _ => return Ok(("", raw)),
            }
        }
        Ok(("", raw))
    }

    fn parse_authority(authority: &str) -> Result<(bool, String), String> {
        let at = authority.rfind('@');
        let host = parse_host(at.map_or(authority, |i| &authority[i + 1..]))?;
        let Some(i) = at else {
            return Ok((false, host));
        };
        let userinfo = &authority[..i];
        let valid = userinfo.bytes().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(
                    c,
                    b'-' | b'.'
                        | b'_'
                        | b':'
                        | b'~'
                        | b'!'
                        | b'$'
                        | b'&'
                        | b'\''
                        | b'('
                        | b')'
                        | b'*'
                        | b'+'
                        | b','
                        | b';'
                        | b'='
                        | b'%'
                        | b'@'
                )
        });
        if !valid {
            return Err("net/url: invalid userinfo".into());
        }
        for part in userinfo.splitn(2, ':') {
            unescape(part, Mode::UserPassword)?;
        }
        Ok((true, host))
    }

    fn parse_host(host: &str) -> Result<String, String> {
        let port_ok =
            |p: &str| p.is_empty() || (p.starts_with(':') && p[1..].bytes().all(|b| b.is_ascii_digit()));
        if host.starts_with('[') {
            let Some(i) = host.rfind(']') else {
                return Err("missing ']' in host".into());
            };
            let port = &host[i + 1..];
            if !port_ok(port) {
                return Err(format!("invalid port {} after host", go_quote(port)));
            }
            if let Some(zone) = host[..i].find("%25") {
                return Ok(unescape(&host[..zone], Mode::Host)?
                    + &unescape(&host[zone..i], Mode::Zone)?
                    + &unescape(&host[i..], Mode::Host)?);
            }
        } else if let Some(i) = host.rfind(':') {
            let port = &host[i..];
            if !port_ok(port) {
                return Err(format!("invalid port {} after host", go_quote(port)));
            }
        }
        unescape(host, Mode::Host)
    }

    fn should_escape(c: u8, mode: Mode) -> bool {
        if c.is_ascii_alphanumeric() {
            return false;
        }
        if matches!(mode, Mode::Host | Mode::Zone)
            && matches!(
                c,
                b'!' | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b':'
                    | b'['
                    | b']'
                    | b'<'
                    | b'>'
                    | b'"'
            )
        {
            return false;
        }
        match c {
            b'-' | b'_' | b'.' | b'~' => return false,
            b'$' | b'&' | b'+' | b',' | b'/' | b':' | b';' | b'=' | b'?' | b'@' => match mode {
                Mode::Path => return c == b'?',
                Mode::UserPassword => return matches!(c, b'@' | b'/' | b'?' | b':'),
                Mode::Fragment => return false,
                _ => {}
            },
            _ => {}
        }
        !(mode == Mode::Fragment && matches!(c, b'!' | b'(' | b')' | b'*'))
    }

    fn unhex(c: u8) -> u8 {
        (c as char).to_digit(16).unwrap_or(0) as u8
    }

    /// `unescape`, with `invalid URL escape "%zz"` and `invalid character " " in host name`.
    fn unescape(s: &str, mode: Mode) -> Result<String, String> {
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'%' => {
                    if i + 2 >= b.len() || !b[i + 1].is_ascii_hexdigit() || !b[i + 2].is_ascii_hexdigit() {
                        let bad = super::go_string(&b[i..(i + 3).min(b.len())]);
                        return Err(format!("invalid URL escape {}", go_quote(&bad)));
                    }
                    let v = (unhex(b[i + 1]) << 4) | unhex(b[i + 2]);
                    let esc = &s[i..i + 3];
                    if (mode == Mode::Host && unhex(b[i + 1]) < 8 && esc != "%25")
                        || (mode == Mode::Zone && esc != "%25" && v != b' ' && should_escape(v, Mode::Host))
                    {
                        return Err(format!("invalid URL escape {}", go_quote(esc)));
                    }
                    i += 3;
                }
                c => {
                    if matches!(mode, Mode::Host | Mode::Zone) && c < 0x80 && should_escape(c, mode) {
                        return Err(format!(
                            "invalid character {} in host name",
                            go_quote(&s[i..i + 1])
                        ));
                    }
                    i += 1;
                }
            }
        }
        let mut out = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' {
                out.push((unhex(b[i + 1]) << 4) | unhex(b[i + 2]));
                i += 3;
            } else {
                out.push(b[i]);
                i += 1;
            }
        }
        Ok(super::go_string(&out))
    }

    fn escape(s: &str, mode: Mode) -> String {
        let mut out = String::with_capacity(s.len());
        for &c in s.as_bytes() {
            if should_escape(c, mode) {
                out.push_str(&format!("%{c:02X}"));
            } else {
                out.push(c as char);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    //! Expected values: Kyverno v1.15.2 `pkg/engine/jmespath/functions_test.go`
    //! (`Test_x509Decode`: its two certificates, its CSR and their decoded JSON, in
    //! `testdata/x509/kyverno-*`) and Kyverno's error texts (`functions.go:1223-1259`). The
    //! `openssl-*` certificates were made with OpenSSL for these tests; their expected JSON is
    //! what Kyverno's `jpX509Decode` gives on Go 1.19's `crypto/x509` (the Go at hand), with
    //! the fields Go 1.24 added (`Policies`, `PolicyMappings`, `InhibitAnyPolicy`...) filled
    //! as Go 1.24's `parser.go` fills them. URL values are Go 1.19's `url.Parse` as JSON.
    use serde_json::{Value, json};

    const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/functions/testdata/x509/");

    fn data(name: &str) -> String {
        std::fs::read_to_string(format!("{DATA}{name}")).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    fn q(ctx: &Value, expr: &str) -> Result<Value, String> {
        crate::conditions::query(ctx, expr)
    }

    /// `x509_decode` of a PEM passed in the document.
    fn decode(pem: &str) -> Result<Value, String> {
        q(&json!({ "pem": pem }), "x509_decode(pem)")
    }

    fn decode_err(pem: &str) -> String {
        match decode(pem) {
            Ok(v) => panic!("expected an error, got {v}"),
            Err(e) => e
                .strip_prefix("JMESPath query failed: ")
                .unwrap_or(&e)
                .to_string(),
        }
    }

    /// Every field Go writes, compared one by one (numbers as float64, as Go reads them
    /// back), and no other field.
    fn assert_fields(got: &Value, want_json: &str) {
        let want: Value = serde_json::from_str(want_json).unwrap();
        let (got, want) = (got.as_object().unwrap(), want.as_object().unwrap());
        for (field, w) in want {
            let g = got.get(field).unwrap_or(&Value::Null);
            assert!(
                got.contains_key(field) && super::super::json_eq(g, w),
                "field {field}: got {g}, want {w}"
            );
        }
        let extra: Vec<&String> = got.keys().filter(|k| !want.contains_key(*k)).collect();
        assert!(extra.is_empty(), "fields Go does not write: {extra:?}");
    }

    #[test]
    fn kyverno_certificates() {
        let b64 = data("kyverno-cert-1.b64");
        let got = q(&json!(null), &format!("x509_decode(base64_decode('{b64}'))")).unwrap();
        assert_fields(&got, &data("kyverno-cert-1.json"));
        // a PEM in a raw string literal, with its newlines, as Kyverno's test writes it
        let pem = data("kyverno-cert-1.pem");
        let got = q(&json!(null), &format!("x509_decode('{pem}')")).unwrap();
        assert_fields(&got, &data("kyverno-cert-1.json"));
        let got = decode(pem.trim_end()).unwrap();
        assert_fields(&got, &data("kyverno-cert-1.json"));

        // a serial number of 20 bytes, country/organization lists, no common name
        let got = decode(&data("kyverno-cert-2.pem")).unwrap();
        assert_fields(&got, &data("kyverno-cert-2.json"));
        assert_eq!(got["SerialNumber"], json!(5.2008995541932624e47));
        assert_eq!(got["Subject"]["Country"], json!(["xx"]));
        assert_eq!(got["KeyUsage"], json!(96));
    }

    #[test]
    fn kyverno_certificate_request() {
        let got = decode(&data("kyverno-csr.pem")).unwrap();
        assert_fields(&got, &data("kyverno-csr.json"));
        assert_eq!(got["Subject"]["CommonName"], json!("example.digicert.com"));
        assert_eq!(got["Version"], json!(0));
        assert_eq!(got["SignatureAlgorithm"], json!(3));
    }

    #[test]
    fn certificates_with_many_extensions() {
        // SANs of each kind (IPv4 and IPv6, e-mail, URIs with user, port, escapes, query),
        // key usages, known and unknown extended key usages, AIA, CRL distribution point,
        // certificate policies, key identifiers and an unknown critical extension
        let got = decode(&data("openssl-leaf.pem")).unwrap();
        assert_fields(&got, &data("openssl-leaf.json"));
        assert_eq!(got["IPAddresses"], json!(["10.0.0.1", "2001:db8::1"]));
        assert_eq!(got["ExtKeyUsage"], json!([1, 2]));
        assert_eq!(got["UnknownExtKeyUsage"], json!([[1, 2, 3, 4, 5]]));
        assert_eq!(got["UnhandledCriticalExtensions"], json!([[1, 2, 3, 4, 5, 6]]));
        assert_eq!(got["Policies"], json!(["2.23.140.1.2.1", "1.3.6.1.4.1.99999.1"]));
        assert_eq!(got["URIs"][1]["Host"], json!("example.com:8443"));
        assert_eq!(got["URIs"][1]["Path"], json!("/a b/c"));
        assert_eq!(got["URIs"][1]["User"], json!({}));
        assert_eq!(got["MaxPathLen"], json!(-1));

        // a CA with a path length of 0 and name constraints of each kind
        let got = decode(&data("openssl-ca.pem")).unwrap();
        assert_fields(&got, &data("openssl-ca.json"));
        assert_eq!(got["MaxPathLenZero"], json!(true));
        assert_eq!(
            got["PermittedIPRanges"],
            json!([{"IP": "10.0.0.0", "Mask": "/wAAAA=="}])
        );
        assert_eq!(got["SerialNumber"], json!(4660));
    }

    #[test]
    fn certificate_request_with_extensions() {
        // the extensionRequest attribute as `encoding/asn1` reads it: a critical extension's
        // value is a BOOLEAN, which it leaves nil
        let got = decode(&data("openssl-csr.pem")).unwrap();
        assert_fields(&got, &data("openssl-csr.json"));
        assert_eq!(
            got["Attributes"][0]["Value"][0][1],
            json!({"Type": [2, 5, 29, 15], "Value": null})
        );
        assert_eq!(got["DNSNames"], json!(["csr.example.com"]));
        assert_eq!(got["IPAddresses"], json!(["192.168.1.1"]));
    }

    #[test]
    fn only_rsa_keys() {
        for name in [
            "openssl-ecdsa.pem",
            "openssl-ecdsa-csr.pem",
            "openssl-ed25519.pem",
        ] {
            assert_eq!(
                decode_err(&data(name)),
                "certificate should use rsa algorithm",
                "{name}"
            );
        }
    }

    #[test]
    fn bad_input() {
        let garbage = "failed to decode PEM block";
        assert_eq!(decode_err("xyz"), garbage);
        assert_eq!(decode_err(""), garbage);
        // base64 of a PEM is not a PEM
        assert_eq!(decode_err(&data("kyverno-cert-1.b64")), garbage);
        // bad base64 in the block, an END line of another type: no block
        assert_eq!(
            decode_err("-----BEGIN CERTIFICATE-----\nMII*\n-----END CERTIFICATE-----\n"),
            garbage
        );
        let pem = data("kyverno-cert-2.pem");
        assert_eq!(decode_err(&pem.replace("END CERTIFICATE", "END CERT")), garbage);
        assert_eq!(
            decode_err("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"),
            "PEM block neither contains a CERTIFICATE or CERTIFICATE REQUEST"
        );
        // a block of the right type that is no certificate: Go's x509 error
        assert_eq!(
            decode_err("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
            "x509: malformed certificate"
        );
        // go-jmespath's type check comes first
        assert_eq!(
            q(&json!({"n": 1}), "x509_decode(n)").unwrap_err(),
            "JMESPath query failed: Invalid type for: 1, expected: []jmespath.JpType{\"string\"}"
        );
    }

    /// The DER bytes of a PEM file, changed by `f`, back in a PEM block of the same type.
    fn tampered(name: &str, f: impl Fn(&mut Vec<u8>)) -> String {
        use base64::Engine;
        let engine = base64::engine::general_purpose::STANDARD;
        let pem = data(name);
        let begin = pem.lines().next().unwrap().to_string();
        let end = begin.replace("BEGIN", "END");
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let mut der = engine.decode(body).unwrap();
        f(&mut der);
        format!("{begin}\n{}\n{end}\n", engine.encode(der))
    }

    #[test]
    fn go_parse_errors() {
        // texts of Go's crypto/x509 (parser.go), which Kyverno returns as they are
        assert_eq!(
            decode_err(&tampered("kyverno-cert-1.pem", |d| d.push(0))),
            "x509: trailing data"
        );
        assert_eq!(
            decode_err(&tampered("kyverno-cert-1.pem", |d| d.truncate(d.len() - 10))),
            "x509: malformed certificate"
        );
        // Go 1.23+ refuses negative serial numbers (GODEBUG x509negativeserial unset)
        let negative = tampered("kyverno-cert-1.pem", |d| {
            let serial = [0xa0, 0x03, 0x02, 0x01, 0x02, 0x02, 0x01, 0x00];
            let at = d.windows(8).position(|w| w == serial).unwrap();
            d[at + 7] = 0x80;
        });
        assert_eq!(decode_err(&negative), "x509: negative serial number");
        // sha256WithRSAEncryption (…01 0b) outside, sha512WithRSAEncryption (…01 0d) inside
        let mismatch = tampered("kyverno-cert-1.pem", |d| {
            let oid = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b];
            let at = d.windows(9).position(|w| w == oid).unwrap();
            d[at + 8] = 0x0d;
        });
        assert_eq!(
            decode_err(&mismatch),
            "x509: inner and outer signature algorithm identifiers don't match"
        );
        // and encoding/asn1's, which parses requests
        let trailing = tampered("kyverno-csr.pem", |d| d.push(0));
        assert_eq!(decode_err(&trailing), "asn1: syntax error: trailing data");
        let truncated = tampered("kyverno-csr.pem", |d| d.truncate(d.len() - 10));
        assert_eq!(decode_err(&truncated), "asn1: syntax error: data truncated");
        let empty = "-----BEGIN CERTIFICATE REQUEST-----\n-----END CERTIFICATE REQUEST-----\n";
        assert_eq!(decode_err(empty), "asn1: syntax error: sequence truncated");
    }

    #[test]
    fn pem_as_go_reads_it() {
        let pem = data("kyverno-cert-2.pem");
        let want = decode(&pem).unwrap();
        // text around the block, CRLF line ends, headers, spaces in the base64
        let framed = format!("leading text\n{}trailing text\n", pem.replace('\n', "\r\n"));
        assert_eq!(decode(&framed).unwrap(), want);
        let with_headers = pem.replacen("-----\n", "-----\nProc-Type: 4,ENCRYPTED\n\n", 1);
        assert_eq!(decode(&with_headers).unwrap(), want);
        assert_eq!(decode(&pem.replace("\nMII", "\n  MII")).unwrap(), want);
        // a bad block first: Go goes on to the next one
        let two = format!("-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n{pem}");
        assert_eq!(decode(&two).unwrap(), want);
    }

    #[test]
    fn through_variable_substitution() {
        let ctx = json!({"request": {"operation": "CREATE", "object": {
            "data": {"cert": data("kyverno-cert-1.pem"), "bad": "xyz"},
        }}});
        let sub = |s: &str| crate::conditions::substitute_str(&ctx, s);
        assert_eq!(
            sub("{{ x509_decode(request.object.data.cert).Subject.CommonName }}").unwrap(),
            json!("*.kyverno.svc")
        );
        assert_eq!(
            sub("expires {{ x509_decode(request.object.data.cert).NotAfter }}").unwrap(),
            json!("expires 2023-01-11T14:26:43Z")
        );
        assert_eq!(
            sub("{{ x509_decode(request.object.data.cert).IsCA }}").unwrap(),
            json!(true)
        );
        let pem = data("kyverno-cert-2.pem");
        assert_eq!(
            sub(&format!("{{{{ x509_decode('{pem}').Issuer.Organization[0] }}}}")).unwrap(),
            json!("x")
        );
        assert_eq!(
            sub("{{ x509_decode(request.object.data.bad) }}").unwrap_err(),
            "failed to resolve x509_decode(request.object.data.bad) at path : JMESPath query failed: failed to decode PEM block"
        );
    }

    #[test]
    fn go_formatting() {
        assert_eq!(
            super::ip_string(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3]),
            "10.1.2.3"
        );
        assert_eq!(
            super::ip_string(&[0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1]),
            "2001:db8::1:0:0:1"
        );
        // components of any size, as x509.OID prints them
        assert_eq!(super::oid_text(&[0x2a, 0x03]), "1.2.3");
        assert_eq!(super::oid_text(&[0x81, 0x00, 0x01]), "2.48.1");
        assert_eq!(
            super::oid_text(&[0x2a, 0x82, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00]),
            "1.2.18446744073709551616"
        );
        assert_eq!(super::go_string(b"a\xe2\x82b"), "a\u{fffd}\u{fffd}b");
    }

    #[test]
    fn urls_as_go_parses_them() {
        let parse = |s: &str| super::go_url::parse(s).map(|u| u.to_json());
        let url = |fields: Value| {
            let mut base = json!({"Scheme": "", "Opaque": "", "User": null, "Host": "", "Path": "",
                "RawPath": "", "OmitHost": false, "ForceQuery": false, "RawQuery": "",
                "Fragment": "", "RawFragment": ""});
            for (k, v) in fields.as_object().unwrap() {
                base[k] = v.clone();
            }
            base
        };
        assert_eq!(
            parse("spiffe://cluster.local/ns/a%2Fb/sa/x").unwrap(),
            url(
                json!({"Scheme": "spiffe", "Host": "cluster.local", "Path": "/ns/a/b/sa/x",
                "RawPath": "/ns/a%2Fb/sa/x"})
            )
        );
        assert_eq!(
            parse("mailto:a@b").unwrap(),
            url(json!({"Scheme": "mailto", "Opaque": "a@b"}))
        );
        assert_eq!(
            parse("urn:x:y?q#f%21").unwrap(),
            url(
                json!({"Scheme": "urn", "Opaque": "x:y", "RawQuery": "q", "Fragment": "f!",
                "RawFragment": "f%21"})
            )
        );
        assert_eq!(
            parse("http://u:p@h:80/p?q=1#f").unwrap(),
            url(json!({"Scheme": "http", "User": {}, "Host": "h:80", "Path": "/p",
                "RawQuery": "q=1", "Fragment": "f"}))
        );
        assert_eq!(
            parse("http:///p").unwrap(),
            url(json!({"Scheme": "http", "Path": "/p"}))
        );
        assert_eq!(
            parse("http://[::1").unwrap_err(),
            "parse \"http://[::1\": missing ']' in host"
        );
        assert_eq!(
            parse("http://h ost/").unwrap_err(),
            "parse \"http://h ost/\": invalid character \" \" in host name"
        );
        assert_eq!(
            parse("https://example.com/%zz").unwrap_err(),
            "parse \"https://example.com/%zz\": invalid URL escape \"%zz\""
        );
    }
}
