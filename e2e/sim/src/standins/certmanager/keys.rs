//! Private keys as cert-manager generates, stores, encodes and compares them
//! (`pkg/util/pki/generate.go`, `parse.go`, `match.go`): RSA (2048 bits by default), ECDSA
//! (P-256 by default, P-384, P-521) and Ed25519, held as Go's `MarshalPKCS8PrivateKey`
//! writes them and written as `spec.privateKey.encoding` asks (PKCS1: `RSA PRIVATE KEY` /
//! `EC PRIVATE KEY` with the curve; Ed25519 is always PKCS#8).

use rcgen::KeyPair;
use rustls::pki_types::PrivatePkcs8KeyDer;

use super::der;

const RSA_ENCRYPTION: &[u64] = &[1, 2, 840, 113549, 1, 1, 1];
const EC_PUBLIC_KEY: &[u64] = &[1, 2, 840, 10045, 2, 1];
const ED25519: &[u64] = &[1, 3, 101, 112];
const P256: &[u64] = &[1, 2, 840, 10045, 3, 1, 7];
const P384: &[u64] = &[1, 3, 132, 0, 34];
const P521: &[u64] = &[1, 3, 132, 0, 35];

/// cert-manager's bounds on RSA key sizes (`MinRSAKeySize`, `MaxRSAKeySize`).
pub const MIN_RSA_KEY_SIZE: i64 = 2048;
pub const MAX_RSA_KEY_SIZE: i64 = 8192;

/// A key's type and size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    /// RSA, by modulus bits.
    Rsa(usize),
    /// ECDSA, by curve bits (256, 384, 521).
    Ecdsa(usize),
    Ed25519,
}

/// `spec.privateKey.encoding`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Encoding {
    #[default]
    Pkcs1,
    Pkcs8,
}

/// What `spec.privateKey` asks for (cert-manager's defaults applied where it applies them).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct KeySpec {
    /// `RSA`, `ECDSA`, `Ed25519` or empty (RSA).
    pub algorithm: String,
    /// 0: the algorithm's default.
    pub size: i64,
    pub encoding: Encoding,
    /// `rotationPolicy` Never (the default is Always since cert-manager 1.18).
    pub rotation_never: bool,
}

/// A private key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrivateKey {
    kind: KeyKind,
    /// PKCS#8 as Go's `MarshalPKCS8PrivateKey` writes it.
    pkcs8: Vec<u8>,
    /// The private part: PKCS#1 for RSA, the scalar for ECDSA, the seed for Ed25519.
    private: Vec<u8>,
    /// The subjectPublicKey bits (RSAPublicKey, EC point, Ed25519 key).
    public: Vec<u8>,
}

fn curve_oid(bits: usize) -> &'static [u64] {
    match bits {
        384 => P384,
        521 => P521,
        _ => P256,
    }
}

fn curve_bits(arcs: &[u64]) -> Option<usize> {
    match arcs {
        a if a == P256 => Some(256),
        a if a == P384 => Some(384),
        a if a == P521 => Some(521),
        _ => None,
    }
}

/// Bits of a DER INTEGER's magnitude.
fn integer_bits(content: &[u8]) -> usize {
    let trimmed: &[u8] = {
        let i = content.iter().position(|&b| b != 0).unwrap_or(content.len());
        &content[i..]
    };
    match trimmed.first() {
        Some(&b) => trimmed.len() * 8 - b.leading_zeros() as usize,
        None => 0,
    }
}

fn pkcs8(alg: Vec<u8>, private: Vec<u8>) -> Vec<u8> {
    der::seq(&[
        der::write(der::INTEGER, &[0]),
        alg,
        der::write(der::OCTET_STRING, &private),
    ])
}

fn ec_alg(bits: usize) -> Vec<u8> {
    der::seq(&[der::oid(EC_PUBLIC_KEY), der::oid(curve_oid(bits))])
}

/// SEC 1 ECPrivateKey; with the curve OID as `MarshalECPrivateKey` writes it, without it
/// inside PKCS#8.
fn sec1(bits: usize, scalar: &[u8], public: &[u8], with_curve: bool) -> Vec<u8> {
    let size = bits.div_ceil(8);
    let mut padded = vec![0u8; size.saturating_sub(scalar.len())];
    padded.extend_from_slice(scalar);
    let mut parts = vec![
        der::write(der::INTEGER, &[1]),
        der::write(der::OCTET_STRING, &padded),
    ];
    if with_curve {
        parts.push(der::write(0xa0, &der::oid(curve_oid(bits))));
    }
    let mut bits_content = vec![0u8];
    bits_content.extend_from_slice(public);
    parts.push(der::write(0xa1, &der::write(der::BIT_STRING, &bits_content)));
    der::seq(&parts)
}

fn bad(what: &str) -> String {
    format!("error parsing {what} private key: malformed")
}

/// What a PKCS#8 container holds: kind, and the private part (PKCS#1, EC scalar or seed).
fn open_pkcs8(pkcs8: &[u8]) -> Result<(KeyKind, Vec<u8>), String> {
    let err = || "error parsing pkcs#8 private key: malformed".to_string();
    let (tag, content, _) = der::read(pkcs8).ok_or_else(err)?;
    let items = der::items(content)
        .filter(|_| tag == der::SEQUENCE)
        .ok_or_else(err)?;
    let [
        (der::INTEGER, _),
        (der::SEQUENCE, alg),
        (der::OCTET_STRING, private),
        ..,
    ] = items.as_slice()
    else {
        return Err(err());
    };
    let alg = der::items(alg).ok_or_else(err)?;
    let algorithm = match alg.first() {
        Some((der::OID, o)) => der::oid_arcs(o),
        _ => return Err(err()),
    };
    if algorithm == RSA_ENCRYPTION {
        let rsa = der::read(private)
            .and_then(|(_, c, _)| der::items(c))
            .ok_or_else(|| bad("rsa"))?;
        let bits = match rsa.get(1) {
            Some((der::INTEGER, m)) => integer_bits(m),
            _ => return Err(bad("rsa")),
        };
        Ok((KeyKind::Rsa(bits), private.to_vec()))
    } else if algorithm == EC_PUBLIC_KEY {
        let bits = match alg.get(1) {
            Some((der::OID, c)) => curve_bits(&der::oid_arcs(c)),
            _ => None,
        }
        .ok_or_else(|| "error parsing pkcs#8 private key: x509: unsupported elliptic curve".to_string())?;
        let ec = der::read(private)
            .and_then(|(_, c, _)| der::items(c))
            .ok_or_else(|| bad("ecdsa"))?;
        let scalar = match ec.get(1) {
            Some((der::OCTET_STRING, s)) => s.to_vec(),
            _ => return Err(bad("ecdsa")),
        };
        Ok((KeyKind::Ecdsa(bits), scalar))
    } else if algorithm == ED25519 {
        let seed = match der::read(private) {
            Some((der::OCTET_STRING, s, _)) if s.len() == 32 => s.to_vec(),
            _ => return Err("error parsing pkcs#8 private key: x509: invalid Ed25519 private key".into()),
        };
        Ok((KeyKind::Ed25519, seed))
    } else {
        Err(format!(
            "error parsing pkcs#8 private key: x509: PKCS#8 wrapping contained private key with unknown algorithm: {}",
            algorithm.iter().map(u64::to_string).collect::<Vec<_>>().join(".")
        ))
    }
}

impl PrivateKey {
    /// Builds the canonical form from a PKCS#8 container, checking the key loads.
    fn from_pkcs8(container: &[u8]) -> Result<PrivateKey, String> {
        let (kind, private) = open_pkcs8(container)?;
        let kp = load(kind, container)?;
        let public = kp.public_key_raw().to_vec();
        let pkcs8 = match kind {
            KeyKind::Rsa(_) => pkcs8(
                der::seq(&[der::oid(RSA_ENCRYPTION), der::write(der::NULL, &[])]),
                private.clone(),
            ),
            KeyKind::Ecdsa(bits) => pkcs8(ec_alg(bits), sec1(bits, &private, &public, false)),
            KeyKind::Ed25519 => pkcs8(
                der::seq(&[der::oid(ED25519)]),
                der::write(der::OCTET_STRING, &private),
            ),
        };
        Ok(PrivateKey {
            kind,
            pkcs8,
            private,
            public,
        })
    }

    /// A new key for `spec`, as `GeneratePrivateKeyForCertificate` makes one (with its error
    /// texts for sizes it refuses).
    pub fn generate(spec: &KeySpec) -> Result<PrivateKey, String> {
        crate::tls::install_crypto_provider();
        let kp = match spec.algorithm.as_str() {
            "" | "RSA" => {
                let size = if spec.size > 0 {
                    spec.size
                } else {
                    MIN_RSA_KEY_SIZE
                };
                if size < MIN_RSA_KEY_SIZE {
                    return Err(format!(
                        "weak rsa key size specified: {size}. minimum key size: {MIN_RSA_KEY_SIZE}"
                    ));
                }
                if size > MAX_RSA_KEY_SIZE {
                    return Err(format!(
                        "rsa key size specified too big: {size}. maximum key size: {MAX_RSA_KEY_SIZE}"
                    ));
                }
                let rcgen_size = match size {
                    2048 => Some(rcgen::RsaKeySize::_2048),
                    3072 => Some(rcgen::RsaKeySize::_3072),
                    4096 => Some(rcgen::RsaKeySize::_4096),
                    _ => None,
                };
                match rcgen_size {
                    Some(s) => {
                        KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, s).map_err(|e| e.to_string())?
                    }
                    None if size == 8192 => {
                        use aws_lc_rs::encoding::AsDer;
                        let k = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa8192)
                            .map_err(|e| e.to_string())?;
                        let der: aws_lc_rs::encoding::Pkcs8V1Der = k.as_der().map_err(|e| e.to_string())?;
                        return PrivateKey::from_pkcs8(der.as_ref());
                    }
                    None => {
                        return Err(format!(
                            "the hubspoke sim generates RSA keys of 2048, 3072, 4096 or 8192 bits, not {size}"
                        ));
                    }
                }
            }
            "ECDSA" => {
                let alg = match spec.size {
                    0 | 256 => &rcgen::PKCS_ECDSA_P256_SHA256,
                    384 => &rcgen::PKCS_ECDSA_P384_SHA384,
                    521 => &rcgen::PKCS_ECDSA_P521_SHA512,
                    n => return Err(format!("unsupported ecdsa key size specified: {n}")),
                };
                KeyPair::generate_for(alg).map_err(|e| e.to_string())?
            }
            "Ed25519" => KeyPair::generate_for(&rcgen::PKCS_ED25519).map_err(|e| e.to_string())?,
            other => return Err(format!("unsupported private key algorithm specified: {other}")),
        };
        PrivateKey::from_pkcs8(&kp.serialize_der())
    }

    /// Reads a PEM private key as `DecodePrivateKeyBytes` does: the first PEM block, which
    /// must be `PRIVATE KEY`, `EC PRIVATE KEY` or `RSA PRIVATE KEY`.
    pub fn from_pem(data: &[u8]) -> Result<PrivateKey, String> {
        let Some((label, body, _)) = der::pem_decode(data) else {
            return Err("error decoding private key PEM block: no PEM data was found in given input".into());
        };
        match label.as_str() {
            "PRIVATE KEY" => PrivateKey::from_pkcs8(&body),
            "RSA PRIVATE KEY" => {
                let wrapped = pkcs8(
                    der::seq(&[der::oid(RSA_ENCRYPTION), der::write(der::NULL, &[])]),
                    body,
                );
                PrivateKey::from_pkcs8(&wrapped)
                    .map_err(|_| "error parsing rsa private key: malformed".to_string())
            }
            "EC PRIVATE KEY" => {
                let items = der::read(&body)
                    .and_then(|(_, c, _)| der::items(c))
                    .ok_or_else(|| bad("ecdsa"))?;
                let bits = items
                    .iter()
                    .find(|(t, _)| *t == 0xa0)
                    .and_then(|(_, c)| der::read(c))
                    .and_then(|(_, o, _)| curve_bits(&der::oid_arcs(o)))
                    .ok_or_else(|| {
                        "error parsing ecdsa private key: x509: unknown elliptic curve".to_string()
                    })?;
                PrivateKey::from_pkcs8(&pkcs8(ec_alg(bits), body))
            }
            other => Err(format!("unknown private key type: {other}")),
        }
    }

    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    /// The subjectPublicKey bits, for comparing with a certificate's or a CSR's.
    pub fn public_key(&self) -> &[u8] {
        &self.public
    }

    /// PEM in `encoding`, as `EncodePrivateKey` writes it.
    pub fn to_pem(&self, encoding: Encoding) -> String {
        match (encoding, self.kind) {
            (Encoding::Pkcs1, KeyKind::Rsa(_)) => der::pem("RSA PRIVATE KEY", &self.private),
            (Encoding::Pkcs1, KeyKind::Ecdsa(bits)) => {
                der::pem("EC PRIVATE KEY", &sec1(bits, &self.private, &self.public, true))
            }
            _ => der::pem("PRIVATE KEY", &self.pkcs8),
        }
    }

    /// The key, ready to sign with the algorithm `SignCertificate` picks for it (SHA-256 up
    /// to RSA 3071 bits, SHA-384 from 3072, SHA-512 from 4096; the curve's hash for ECDSA).
    pub fn key_pair(&self) -> Result<KeyPair, String> {
        load(self.kind, &self.pkcs8)
    }

    /// Which of `spec.privateKey`'s fields this key does not satisfy (`PrivateKeyMatchesSpec`).
    pub fn violations(&self, spec: &KeySpec) -> Vec<&'static str> {
        let size = |default: i64| if spec.size > 0 { spec.size } else { default };
        match (spec.algorithm.as_str(), self.kind) {
            ("" | "RSA", KeyKind::Rsa(bits)) => {
                if bits as i64 != size(MIN_RSA_KEY_SIZE) {
                    vec!["spec.privateKey.size"]
                } else {
                    vec![]
                }
            }
            ("ECDSA", KeyKind::Ecdsa(bits)) => {
                if bits as i64 != size(256) {
                    vec!["spec.privateKey.size"]
                } else {
                    vec![]
                }
            }
            ("Ed25519", KeyKind::Ed25519) => vec![],
            _ => vec!["spec.privateKey.algorithm"],
        }
    }
}

fn load(kind: KeyKind, pkcs8: &[u8]) -> Result<KeyPair, String> {
    crate::tls::install_crypto_provider();
    let alg = match kind {
        KeyKind::Rsa(bits) if bits >= 4096 => &rcgen::PKCS_RSA_SHA512,
        KeyKind::Rsa(bits) if bits >= 3072 => &rcgen::PKCS_RSA_SHA384,
        KeyKind::Rsa(_) => &rcgen::PKCS_RSA_SHA256,
        KeyKind::Ecdsa(384) => &rcgen::PKCS_ECDSA_P384_SHA384,
        KeyKind::Ecdsa(521) => &rcgen::PKCS_ECDSA_P521_SHA512,
        KeyKind::Ecdsa(_) => &rcgen::PKCS_ECDSA_P256_SHA256,
        KeyKind::Ed25519 => &rcgen::PKCS_ED25519,
    };
    let what = match kind {
        KeyKind::Rsa(_) => "rsa",
        KeyKind::Ecdsa(_) => "ecdsa",
        KeyKind::Ed25519 => "ed25519",
    };
    KeyPair::from_pkcs8_der_and_sign_algo(&PrivatePkcs8KeyDer::from(pkcs8), alg)
        .map_err(|e| format!("error parsing {what} private key: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(algorithm: &str, size: i64) -> KeySpec {
        KeySpec {
            algorithm: algorithm.into(),
            size,
            ..Default::default()
        }
    }

    #[test]
    fn defaults_and_sizes_as_cert_manager_generates_them() {
        assert_eq!(
            PrivateKey::generate(&spec("", 0)).unwrap().kind(),
            KeyKind::Rsa(2048)
        );
        assert_eq!(
            PrivateKey::generate(&spec("RSA", 3072)).unwrap().kind(),
            KeyKind::Rsa(3072)
        );
        assert_eq!(
            PrivateKey::generate(&spec("ECDSA", 0)).unwrap().kind(),
            KeyKind::Ecdsa(256)
        );
        assert_eq!(
            PrivateKey::generate(&spec("ECDSA", 384)).unwrap().kind(),
            KeyKind::Ecdsa(384)
        );
        assert_eq!(
            PrivateKey::generate(&spec("ECDSA", 521)).unwrap().kind(),
            KeyKind::Ecdsa(521)
        );
        assert_eq!(
            PrivateKey::generate(&spec("Ed25519", 0)).unwrap().kind(),
            KeyKind::Ed25519
        );
        assert_eq!(
            PrivateKey::generate(&spec("RSA", 1024)).unwrap_err(),
            "weak rsa key size specified: 1024. minimum key size: 2048"
        );
        assert_eq!(
            PrivateKey::generate(&spec("RSA", 16384)).unwrap_err(),
            "rsa key size specified too big: 16384. maximum key size: 8192"
        );
        assert_eq!(
            PrivateKey::generate(&spec("ECDSA", 224)).unwrap_err(),
            "unsupported ecdsa key size specified: 224"
        );
    }

    #[test]
    fn encodings_round_trip_with_go_pem_labels() {
        for (alg, size, pkcs1_label) in [
            ("RSA", 2048, "RSA PRIVATE KEY"),
            ("ECDSA", 256, "EC PRIVATE KEY"),
            ("ECDSA", 521, "EC PRIVATE KEY"),
            ("Ed25519", 0, "PRIVATE KEY"),
        ] {
            let k = PrivateKey::generate(&spec(alg, size)).unwrap();
            for (encoding, label) in [(Encoding::Pkcs1, pkcs1_label), (Encoding::Pkcs8, "PRIVATE KEY")] {
                let pem = k.to_pem(encoding);
                assert!(
                    pem.starts_with(&format!("-----BEGIN {label}-----\n")),
                    "{alg}: {pem}"
                );
                let back = PrivateKey::from_pem(pem.as_bytes()).unwrap();
                assert_eq!(back, k, "{alg} {encoding:?} round trip");
            }
        }
        // Go's PKCS#8 Ed25519: version 0, the bare OID, the seed (48 bytes)
        let ed = PrivateKey::generate(&spec("Ed25519", 0)).unwrap();
        let (_, body, _) = der::pem_decode(ed.to_pem(Encoding::Pkcs8).as_bytes()).unwrap();
        assert_eq!(body.len(), 48);
        // SEC 1 names its curve
        let ec = PrivateKey::generate(&spec("ECDSA", 384)).unwrap();
        let (_, body, _) = der::pem_decode(ec.to_pem(Encoding::Pkcs1).as_bytes()).unwrap();
        assert!(body.windows(7).any(|w| w == der::oid(P384).as_slice()));
    }

    #[test]
    fn violations_name_the_fields() {
        let rsa = PrivateKey::generate(&spec("", 0)).unwrap();
        assert!(rsa.violations(&spec("RSA", 2048)).is_empty());
        assert_eq!(rsa.violations(&spec("RSA", 4096)), vec!["spec.privateKey.size"]);
        assert_eq!(
            rsa.violations(&spec("ECDSA", 0)),
            vec!["spec.privateKey.algorithm"]
        );
        let ec = PrivateKey::generate(&spec("ECDSA", 0)).unwrap();
        assert!(ec.violations(&spec("ECDSA", 256)).is_empty());
        assert_eq!(ec.violations(&spec("ECDSA", 384)), vec!["spec.privateKey.size"]);
    }

    #[test]
    fn bad_pem_is_reported_as_cert_manager_reports_it() {
        assert_eq!(
            PrivateKey::from_pem(b"garbage").unwrap_err(),
            "error decoding private key PEM block: no PEM data was found in given input"
        );
        assert_eq!(
            PrivateKey::from_pem(der::pem("CERTIFICATE", &[1]).as_bytes()).unwrap_err(),
            "unknown private key type: CERTIFICATE"
        );
        assert!(PrivateKey::from_pem(der::pem("PRIVATE KEY", &[0x30, 0]).as_bytes()).is_err());
    }
}
