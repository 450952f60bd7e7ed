//! Per-instance certificate authority and serving certificate.
//!
//! Every emulated cluster gets its own CA (like a kubeadm cluster's `ca.crt`) and a serving
//! certificate signed by it, valid for the loopback address and the in-cluster service
//! names, so clients verify the server exactly as they verify a real API server.
//!
//! The other way round, `ClientConfigs` holds the client configurations a cluster trusts
//! its webhooks with, one per `caBundle`, and `Connections` the connections it keeps open
//! to them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Once};

use base64::Engine;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType, ExtendedKeyUsagePurpose,
    IsCa, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// The CA and serving certificate of one emulated cluster.
pub struct ClusterPki {
    /// PEM of the cluster CA certificate (what kubeconfig `certificate-authority-data` holds).
    pub ca_pem: String,
    /// PEM of the CA's private key (PKCS#8).
    pub ca_key_pem: String,
    /// PEM of the serving certificate.
    pub cert_pem: String,
    /// PEM of the serving certificate's private key (PKCS#8).
    pub key_pem: String,
    /// rustls server configuration presenting the serving certificate (HTTP/2 and HTTP/1.1).
    pub server_config: Arc<rustls::ServerConfig>,
}

/// Installs aws-lc-rs as the process-wide rustls provider, once.
///
/// kube-rs and our server must agree on one provider; installing it explicitly avoids the
/// "no process-level CryptoProvider" panic when several providers could be linked.
pub fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Another component may have installed the same provider first; that is fine.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    });
}

fn validity(params: &mut CertificateParams, days: i64) {
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + time::Duration::days(days);
}

impl ClusterPki {
    /// Creates a CA named after the cluster and a serving certificate for `hosts`
    /// (DNS names or IP addresses).
    pub fn generate(cluster: &str, hosts: &[String]) -> Result<Self, rcgen::Error> {
        install_crypto_provider();
        let mut ca_params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, format!("{cluster}-ca"));
        ca_params.distinguished_name = dn;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
        ];
        validity(&mut ca_params, 3650);
        let ca_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let ca_key_pem = ca_key.serialize_pem();
        let ca = CertifiedIssuer::self_signed(ca_params, ca_key)?;
        Self::issue(ca.pem(), ca_key_pem, &ca, "kube-apiserver", hosts)
    }

    /// A serving certificate for `hosts` (common name `cn`) from an existing CA, given as
    /// the PEM of its certificate and key (what a component that keeps its CA in a Secret
    /// does at each start).
    pub fn from_ca(ca_pem: &str, ca_key_pem: &str, cn: &str, hosts: &[String]) -> Result<Self, rcgen::Error> {
        install_crypto_provider();
        let key = KeyPair::from_pem(ca_key_pem)?;
        let issuer = rcgen::Issuer::from_ca_cert_pem(ca_pem, key)?;
        Self::issue(ca_pem.to_string(), ca_key_pem.to_string(), &issuer, cn, hosts)
    }

    fn issue<S: rcgen::SigningKey>(
        ca_pem: String,
        ca_key_pem: String,
        ca: &rcgen::Issuer<'_, S>,
        cn: &str,
        hosts: &[String],
    ) -> Result<Self, rcgen::Error> {
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, cn);
        params.distinguished_name = dn;
        params.subject_alt_names = hosts
            .iter()
            .map(|h| match h.parse::<std::net::IpAddr>() {
                Ok(ip) => Ok(SanType::IpAddress(ip)),
                Err(_) => h.clone().try_into().map(SanType::DnsName),
            })
            .collect::<Result<_, _>>()?;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        validity(&mut params, 365);
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let cert = params.signed_by(&key, ca)?;

        let chain: Vec<CertificateDer<'static>> = vec![cert.der().clone()];
        let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let mut config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(chain, key_der)
            .map_err(|e| rcgen::Error::PemError(e.to_string()))?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(ClusterPki {
            ca_pem,
            ca_key_pem,
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            server_config: Arc::new(config),
        })
    }
}

/// TLS client configurations by caBundle, so each bundle is parsed once: what a cluster
/// calls its admission webhooks with (kube-apiserver's webhook client manager).
#[derive(Default)]
pub(crate) struct ClientConfigs {
    configs: Mutex<HashMap<String, Arc<rustls::ClientConfig>>>,
}

impl ClientConfigs {
    pub(crate) fn config(&self, ca_bundle_b64: &str) -> Result<Arc<rustls::ClientConfig>, String> {
        let mut g = self.configs.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = g.get(ca_bundle_b64) {
            return Ok(c.clone());
        }
        let pem = base64::engine::general_purpose::STANDARD
            .decode(ca_bundle_b64.trim())
            .map_err(|e| format!("caBundle is not base64: {e}"))?;
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.map_err(|e| format!("caBundle holds no valid PEM certificate: {e}"))?;
            roots
                .add(cert)
                .map_err(|e| format!("caBundle certificate rejected: {e}"))?;
        }
        if roots.is_empty() {
            return Err("caBundle holds no certificate".into());
        }
        let cfg = Arc::new(
            rustls::ClientConfig::builder()
                .with_root_certificates(roots)
                .with_no_client_auth(),
        );
        g.insert(ca_bundle_b64.to_string(), cfg.clone());
        Ok(cfg)
    }
}

/// An HTTP/1.1 connection to a webhook server, ready for a request.
pub(crate) type Sender = hyper::client::conn::http1::SendRequest<http_body_util::Full<bytes::Bytes>>;

/// Idle HTTP/1.1 connections to webhook servers, by address, TLS server name and CA (Go's
/// transport keeps connections alive between calls; a new TLS connection per call would
/// cost every admission a handshake).
#[derive(Default)]
pub struct Connections {
    idle: Mutex<HashMap<(std::net::SocketAddr, String, String), Vec<Sender>>>,
}

impl Connections {
    pub(crate) fn take(&self, key: &(std::net::SocketAddr, String, String)) -> Option<Sender> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let list = idle.get_mut(key)?;
        while let Some(s) = list.pop() {
            if !s.is_closed() && s.is_ready() {
                return Some(s);
            }
        }
        None
    }

    pub(crate) fn give_back(&self, key: (std::net::SocketAddr, String, String), sender: Sender) {
        if sender.is_closed() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let list = idle.entry(key).or_default();
        // as many idle connections as Go's MaxIdleConnsPerHost (2) would keep... a few more
        // for the emulator's concurrent tests
        if list.len() < 8 {
            list.push(sender);
        }
    }
}
