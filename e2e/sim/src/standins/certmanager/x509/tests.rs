use std::sync::Arc;

use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use serde_json::json;

use super::super::keys::{KeySpec, PrivateKey};
use super::*;

fn spec(v: serde_json::Value) -> CertSpec {
    CertSpec::from_object(&json!({ "spec": v })).unwrap()
}

fn key(alg: &str, size: i64) -> PrivateKey {
    PrivateKey::generate(&KeySpec {
        algorithm: alg.into(),
        size,
        ..Default::default()
    })
    .unwrap()
}

/// The request the request manager makes for `spec`, and its parsed CSR.
fn request(spec: &CertSpec, key: &PrivateKey) -> (RequestSpec, Csr) {
    let pem = build_csr(spec, key).unwrap();
    let req = RequestSpec {
        duration: spec.duration.clone(),
        issuer_ref: spec.issuer_ref.clone(),
        request: String::new(),
        is_ca: spec.is_ca,
        usages: spec.usages.clone(),
    };
    (req, Csr::from_pem(pem.as_bytes()).unwrap())
}

fn issue_self_signed(spec: &CertSpec, key: &PrivateKey) -> Issued {
    let (req, csr) = request(spec, key);
    sign(
        &req,
        &csr,
        Signer::SelfSigned {
            key,
            crl_distribution_points: vec![],
        },
        NOW,
    )
    .unwrap()
}

fn issue_by_ca(spec: &CertSpec, key: &PrivateKey, ca: &Issued, ca_key: &PrivateKey) -> Issued {
    let (req, csr) = request(spec, key);
    let mut chain = chain_from_pem(ca.certificate.as_bytes()).unwrap();
    if !ca.ca.is_empty() {
        chain.extend(chain_from_pem(ca.ca.as_bytes()).unwrap());
    }
    sign(
        &req,
        &csr,
        Signer::Ca {
            chain,
            key: ca_key,
            crl_distribution_points: vec![],
            ocsp_servers: vec![],
            issuing_certificate_urls: vec![],
        },
        NOW,
    )
    .unwrap()
}

const NOW: i64 = 1_790_000_000;

fn ders(pem: &str) -> Vec<CertificateDer<'static>> {
    der::pem_blocks(pem.as_bytes(), "CERTIFICATE")
        .into_iter()
        .map(CertificateDer::from)
        .collect()
}

/// Verifies `chain` (leaf first) for `host` as a TLS client trusting only `ca`.
fn verify(chain: &str, ca: &str, host: &str) -> Result<(), rustls::Error> {
    crate::tls::install_crypto_provider();
    let mut roots = rustls::RootCertStore::empty();
    for c in ders(ca) {
        roots.add(c).unwrap();
    }
    let verifier = rustls::client::WebPkiServerVerifier::builder(Arc::new(roots))
        .build()
        .unwrap();
    let certs = ders(chain);
    verifier
        .verify_server_cert(
            &certs[0],
            &certs[1..],
            &ServerName::try_from(host.to_string()).unwrap(),
            &[],
            UnixTime::since_unix_epoch(Duration::from_secs(NOW as u64 + 60)),
        )
        .map(|_| ())
}

/// What x509-parser reads of `leaf` names `ca` as its issuer (by subject and key
/// identifier), and the CA's key verifies the leaf's signature.
fn signed_by(leaf_pem: &str, ca_pem: &str) -> Result<(), String> {
    use aws_lc_rs::signature as sig;
    let (leaf_der, ca_der) = (ders(leaf_pem).remove(0), ders(ca_pem).remove(0));
    let (_, leaf) = x509_parser::parse_x509_certificate(&leaf_der).unwrap();
    let (_, ca) = x509_parser::parse_x509_certificate(&ca_der).unwrap();
    if leaf.issuer().as_raw() != ca.subject().as_raw() {
        return Err(format!("issuer {} is not {}", leaf.issuer(), ca.subject()));
    }
    let ski = ca.iter_extensions().find_map(|e| match e.parsed_extension() {
        ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0.to_vec()),
        _ => None,
    });
    let aki = leaf.iter_extensions().find_map(|e| match e.parsed_extension() {
        ParsedExtension::AuthorityKeyIdentifier(a) => a.key_identifier.as_ref().map(|k| k.0.to_vec()),
        _ => None,
    });
    if ski.is_none() || aki != ski {
        return Err(format!("authority key id {aki:?} is not the CA's {ski:?}"));
    }
    let alg: &dyn sig::VerificationAlgorithm =
        match leaf.signature_algorithm.algorithm.to_id_string().as_str() {
            "1.2.840.10045.4.3.2" => &sig::ECDSA_P256_SHA256_ASN1,
            "1.2.840.10045.4.3.3" => &sig::ECDSA_P384_SHA384_ASN1,
            "1.2.840.113549.1.1.11" => &sig::RSA_PKCS1_2048_8192_SHA256,
            "1.2.840.113549.1.1.13" => &sig::RSA_PKCS1_2048_8192_SHA512,
            other => return Err(format!("unexpected signature algorithm {other}")),
        };
    sig::UnparsedPublicKey::new(alg, ca.public_key().subject_public_key.data.as_ref())
        .verify(leaf.tbs_certificate.as_ref(), leaf.signature_value.data.as_ref())
        .map_err(|_| "bad signature".to_string())
}

#[test]
fn a_csr_carries_the_subject_sans_and_usages_of_the_spec() {
    let s = spec(json!({
        "secretName": "web", "issuerRef": {"name": "ca"}, "commonName": "web.shop.svc",
        "dnsNames": ["web.shop.svc", "web.shop.svc.cluster.local"], "ipAddresses": ["10.0.0.7", "fd00::7"],
        "uris": ["spiffe://cluster.local/ns/shop/sa/web"], "emailAddresses": ["ops@example.com"],
        "subject": {"organizations": ["Shop"], "countries": ["GB"]},
        "usages": ["server auth", "client auth"],
    }));
    let (_, csr) = request(&s, &key("ECDSA", 0));
    assert_eq!(csr.subject.common_name(), "web.shop.svc");
    assert_eq!(csr.alt_names.dns, s.dns_names);
    assert_eq!(csr.alt_names.ips, parse_ips(&s.ip_addresses).unwrap());
    assert_eq!(csr.alt_names.uris, s.uris);
    assert_eq!(csr.alt_names.emails, s.email_addresses);
    // Go's pkix order: C before O before CN
    let oids: Vec<Vec<u64>> = csr.subject.attributes.iter().map(|(o, _, _)| o.clone()).collect();
    assert_eq!(oids, vec![COUNTRY.to_vec(), ORGANIZATION.to_vec(), CN.to_vec()]);
    // usages given without key usages: no key usage bits, two extended usages
    assert_eq!(csr.key_usage, None);
    assert_eq!(
        csr.ext_key_usage,
        Some(vec![
            vec![1, 3, 6, 1, 5, 5, 7, 3, 1],
            vec![1, 3, 6, 1, 5, 5, 7, 3, 2]
        ])
    );
    assert_eq!(
        csr.basic_constraints, None,
        "no basic constraints in the CSR by default"
    );
    let empty = spec(json!({"secretName": "x", "issuerRef": {"name": "i"}}));
    assert_eq!(
        build_csr(&empty, &key("ECDSA", 0)).unwrap_err(),
        "at least one of commonName (from the commonName field or from a literalSubject), dnsNames, emailSANs, ipAddresses, otherNames, or uriSANs must be set"
    );
}

#[test]
fn self_signed_ca_then_leaf_chain_verifies_to_the_ca() {
    let ca_key = key("ECDSA", 0);
    let ca_spec = spec(
        json!({"secretName": "root", "issuerRef": {"name": "ss", "kind": "ClusterIssuer"},
        "isCA": true, "commonName": "platform-root", "duration": "87600h"}),
    );
    let ca = issue_self_signed(&ca_spec, &ca_key);
    assert_eq!(ca.certificate, ca.ca, "a self-signed certificate is its own CA");
    let root = CertInfo::from_pem(ca.certificate.as_bytes()).unwrap();
    assert!(root.is_ca);
    assert_eq!(root.subject.common_name(), "platform-root");
    assert_eq!((root.not_before, root.not_after), (NOW, NOW + 87600 * 3600));

    for (alg, size) in [("RSA", 2048), ("ECDSA", 384), ("Ed25519", 0)] {
        let leaf_key = key(alg, size);
        let leaf_spec = spec(json!({"secretName": "web", "issuerRef": {"name": "platform-ca"},
            "dnsNames": ["web.shop.svc", "web.shop.svc.cluster.local"],
            "usages": ["digital signature", "key encipherment", "server auth"]}));
        let leaf = issue_by_ca(&leaf_spec, &leaf_key, &ca, &ca_key);
        assert_eq!(leaf.ca, ca.certificate, "ca.crt is the root");
        assert_eq!(
            ders(&leaf.certificate).len(),
            1,
            "the self-signed root is left out of the chain"
        );
        let info = CertInfo::from_pem(leaf.certificate.as_bytes()).unwrap();
        assert!(!info.is_ca);
        assert_eq!(
            info.public_key,
            leaf_key.public_key(),
            "{alg}: the certificate holds the key"
        );
        assert_eq!(info.subject.common_name(), "");
        assert_eq!(
            info.not_after - info.not_before,
            90 * 24 * 3600,
            "default duration"
        );
        signed_by(&leaf.certificate, &leaf.ca).unwrap_or_else(|e| panic!("{alg}: {e}"));
        verify(&leaf.certificate, &leaf.ca, "web.shop.svc").unwrap_or_else(|e| panic!("{alg}: {e}"));
        verify(&leaf.certificate, &leaf.ca, "web.shop.svc.cluster.local").unwrap();
        assert!(
            verify(&leaf.certificate, &leaf.ca, "other.shop.svc").is_err(),
            "only its names"
        );
    }
    // not trusted by another root
    let other = issue_self_signed(&ca_spec, &key("ECDSA", 0));
    let leaf_key = key("ECDSA", 0);
    let leaf = issue_by_ca(
        &spec(
            json!({"secretName": "w", "issuerRef": {"name": "c"}, "dnsNames": ["a.test"], "usages": ["server auth"]}),
        ),
        &leaf_key,
        &ca,
        &ca_key,
    );
    assert!(verify(&leaf.certificate, &other.certificate, "a.test").is_err());
    assert!(signed_by(&leaf.certificate, &other.certificate).is_err());
}

#[test]
fn an_intermediate_ca_goes_into_the_chain_and_the_root_into_ca_crt() {
    let root_key = key("RSA", 4096);
    let root = issue_self_signed(
        &spec(json!({"secretName": "r", "issuerRef": {"name": "ss"}, "isCA": true, "commonName": "root"})),
        &root_key,
    );
    // an RSA 4096 signer signs with SHA-512 (SignCertificate's choice)
    let root_der = ders(&root.certificate);
    let (_, root_cert) = x509_parser::parse_x509_certificate(&root_der[0]).unwrap();
    assert_eq!(
        root_cert.signature_algorithm.algorithm.to_id_string(),
        "1.2.840.113549.1.1.13"
    );
    let mid_key = key("ECDSA", 0);
    let mid = issue_by_ca(
        &spec(
            json!({"secretName": "m", "issuerRef": {"name": "root-ca"}, "isCA": true, "commonName": "intermediate"}),
        ),
        &mid_key,
        &root,
        &root_key,
    );
    assert_eq!(ders(&mid.certificate).len(), 1);
    signed_by(&mid.certificate, &root.certificate).unwrap();
    let leaf = issue_by_ca(
        &spec(
            json!({"secretName": "l", "issuerRef": {"name": "mid-ca"}, "dnsNames": ["api.test"], "usages": ["server auth"]}),
        ),
        &key("ECDSA", 0),
        &mid,
        &mid_key,
    );
    assert_eq!(ders(&leaf.certificate).len(), 2, "leaf, then the intermediate");
    assert_eq!(leaf.ca, root.certificate);
    verify(&leaf.certificate, &leaf.ca, "api.test").unwrap();
}

#[test]
fn usages_and_basic_constraints_follow_the_request() {
    let k = key("ECDSA", 0);
    let s = spec(
        json!({"secretName": "c", "issuerRef": {"name": "i"}, "commonName": "client",
        "usages": ["digital signature", "client auth"]}),
    );
    let issued = issue_self_signed(&s, &k);
    let issued_der = ders(&issued.certificate);
    let (_, c) = x509_parser::parse_x509_certificate(&issued_der[0]).unwrap();
    let ku = c.key_usage().unwrap().unwrap().value;
    assert!(ku.digital_signature() && !ku.key_encipherment() && !ku.key_cert_sign());
    let eku = c.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.client_auth && !eku.server_auth);
    let bc = c.basic_constraints().unwrap().unwrap();
    assert!(
        bc.critical && !bc.value.ca,
        "CA:FALSE, as Go always writes basic constraints"
    );
    // a CSR whose usages differ from the request's
    let (mut req, csr) = request(&s, &k);
    req.usages = vec!["digital signature".into(), "key encipherment".into()];
    let e = sign(
        &req,
        &csr,
        Signer::SelfSigned {
            key: &k,
            crl_distribution_points: vec![],
        },
        NOW,
    )
    .unwrap_err();
    assert_eq!(
        e.message,
        "Error generating certificate template: encoded CSR error: the KeyUsages [ 'digital signature' ] do not match the expected KeyUsages [ 'digital signature', 'key encipherment' ]"
    );
    // a CSR signed by another key
    let other = key("ECDSA", 0);
    let (req, csr) = request(&s, &k);
    let e = sign(
        &req,
        &csr,
        Signer::SelfSigned {
            key: &other,
            crl_distribution_points: vec![],
        },
        NOW,
    )
    .unwrap_err();
    assert_eq!(
        e.message,
        "Error generating certificate template: CSR not signed by referenced private key"
    );
    // a CA key that is not the CA certificate's
    let ca_key = key("ECDSA", 0);
    let ca = issue_self_signed(
        &spec(json!({"secretName": "r", "issuerRef": {"name": "ss"}, "isCA": true, "commonName": "root"})),
        &ca_key,
    );
    let e = sign(
        &req,
        &csr,
        Signer::Ca {
            chain: chain_from_pem(ca.certificate.as_bytes()).unwrap(),
            key: &other,
            crl_distribution_points: vec![],
            ocsp_servers: vec![],
            issuing_certificate_urls: vec![],
        },
        NOW,
    )
    .unwrap_err();
    assert_eq!(
        e.message,
        "Error signing certificate: error creating x509 certificate: x509: provided PrivateKey doesn't match parent's PublicKey"
    );
}

#[test]
fn renewal_time_is_two_thirds_through_or_renew_before() {
    let day = 24 * 3600;
    let (nb, na) = (NOW, NOW + 90 * day);
    assert_eq!(renewal_time(nb, na, None, None, false), Some(na - 30 * day));
    let rb = Some(Duration::from_secs(15 * day as u64));
    assert_eq!(renewal_time(nb, na, rb, None, false), Some(na - 15 * day));
    // renewBefore not shorter than the lifetime: the default
    let long = Some(Duration::from_secs(90 * day as u64));
    assert_eq!(renewal_time(nb, na, long, None, false), Some(na - 30 * day));
    assert_eq!(
        renewal_time(nb, na, None, Some(25), false),
        Some(na - 90 * day / 4)
    );
    assert_eq!(renewal_time(nb, na, None, Some(100), false), Some(na - 30 * day));
    assert_eq!(renewal_time(nb, na, None, None, true), None);
    // a third of an odd number of seconds is truncated to the second
    assert_eq!(renewal_time(0, 100, None, None, false), Some(66));
}

#[test]
fn secret_annotations_as_cert_manager_writes_them() {
    let s = spec(
        json!({"secretName": "w", "issuerRef": {"name": "i"}, "commonName": "web",
        "dnsNames": ["a.test", "b.test"], "ipAddresses": ["10.0.0.1"], "uris": ["spiffe://x/y"],
        "subject": {"organizations": ["Acme, Inc."]}}),
    );
    let issued = issue_self_signed(&s, &key("ECDSA", 0));
    let info = CertInfo::from_pem(issued.certificate.as_bytes()).unwrap();
    let a = certificate_annotations(&info);
    let want: BTreeMap<String, String> = [
        ("cert-manager.io/common-name", "web"),
        ("cert-manager.io/alt-names", "a.test,b.test"),
        ("cert-manager.io/ip-sans", "10.0.0.1"),
        ("cert-manager.io/uri-sans", "spiffe://x/y"),
        ("cert-manager.io/subject-organizations", "\"Acme, Inc.\""),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(a, want);
    assert_eq!(csv_join(&["a\"b", " lead", ""]), "\"a\"\"b\",\" lead\",");
}

#[test]
fn request_and_certificate_matching_name_the_changed_fields() {
    let k = key("ECDSA", 0);
    let s = spec(
        json!({"secretName": "w", "issuerRef": {"name": "i"}, "commonName": "web", "dnsNames": ["a.test"]}),
    );
    let (req, csr) = request(&s, &k);
    assert!(request_violations(&csr, &req, &s).is_empty());
    let mut changed = s.clone();
    changed.dns_names.push("b.test".into());
    changed.issuer_ref.kind = "ClusterIssuer".into();
    assert_eq!(
        request_violations(&csr, &req, &changed),
        vec!["spec.dnsNames", "spec.issuerRef"]
    );
    let mut defaulted = s.clone();
    defaulted.issuer_ref.kind = "Issuer".into();
    defaulted.issuer_ref.group = "cert-manager.io".into();
    assert!(
        request_violations(&csr, &req, &defaulted).is_empty(),
        "defaults compare equal"
    );
    let info = CertInfo::from_pem(issue_self_signed(&s, &k).certificate.as_bytes()).unwrap();
    assert!(fuzzy_violations(&info, &s).is_empty());
    assert_eq!(fuzzy_violations(&info, &changed), vec!["spec.dnsNames"]);
    // the common name counts as a DNS name
    let mut cn_only = s.clone();
    cn_only.dns_names = vec!["web".into(), "a.test".into()];
    assert!(fuzzy_violations(&info, &cn_only).is_empty());
}

#[test]
fn literal_subjects_read_most_significant_last() {
    let attrs = literal_subject("CN=foo,OU=ops+O=Acme,DC=example,DC=com").unwrap();
    let names: Vec<(Vec<u64>, &str)> = attrs.iter().map(|(o, v)| (o.clone(), v.as_str())).collect();
    assert_eq!(
        names,
        vec![
            (DOMAIN_COMPONENT.to_vec(), "com"),
            (DOMAIN_COMPONENT.to_vec(), "example"),
            (ORGANIZATIONAL_UNIT.to_vec(), "ops"),
            (ORGANIZATION.to_vec(), "Acme"),
            (CN.to_vec(), "foo"),
        ]
    );
    assert_eq!(
        literal_subject(r"CN=a\,b").unwrap(),
        vec![(CN.to_vec(), "a,b".to_string())]
    );
    assert!(
        literal_subject("cn=lower").is_err(),
        "cert-manager's names are upper case"
    );
}

#[test]
fn go_time_formats() {
    assert_eq!(rfc3339(NOW), "2026-09-21T14:13:20Z");
    assert_eq!(go_time_string(NOW), "2026-09-21 14:13:20 +0000 UTC");
    assert_eq!(rfc1123(NOW), "Mon, 21 Sep 2026 14:13:20 UTC");
    assert_eq!(parse_time("2026-09-21T14:13:20Z"), Some(NOW));
    assert_eq!(
        go_list(&["spec.dnsNames", "spec.isCA"]),
        "[spec.dnsNames spec.isCA]"
    );
}
