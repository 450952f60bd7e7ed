//! The webhooks' TLS client configurations, one per `caBundle`, as kube-apiserver's webhook
//! client manager caches them. A cluster's [`crate::state::State`] holds one set.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::Engine;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// TLS client configurations by caBundle, so each bundle is parsed once.
#[derive(Default)]
pub struct Clients {
    configs: Mutex<HashMap<String, Arc<rustls::ClientConfig>>>,
}

impl Clients {
    pub(super) fn config(&self, ca_bundle_b64: &str) -> Result<Arc<rustls::ClientConfig>, String> {
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
