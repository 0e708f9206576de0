//! The local certificate authority and the one leaf certificate the HTTPS listener serves.
//!
//! Google's boxes are reached over HTTPS in production, so clients must see valid TLS for
//! `accounts.google.com`, `*.a.run.app`, the load balancer's domain and the rest. A fresh CA
//! (P-256, rcgen) is made at every start and signs one leaf whose subject alternative names
//! cover every emulated host; clients trust exactly that CA (reqwest `tls_certs_only`), never
//! the system roots, so nothing here can vouch for a real Google host. The CA's private key
//! never leaves memory; only its certificate is written (`<state dir>/ca.pem`).

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::ServerConfig;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::host::GOOGLE_HOSTS;

/// Why the CA or the leaf could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("TLS server configuration failed: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The CA certificate (PEM, for clients) and the server configuration presenting the leaf.
pub struct LocalCa {
    ca_pem: String,
    server_config: Arc<ServerConfig>,
    names: Vec<String>,
}

impl std::fmt::Debug for LocalCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalCa")
            .field("names", &self.names)
            .finish_non_exhaustive()
    }
}

impl LocalCa {
    /// A new CA and a leaf for `domain`, the run.app wildcards (`*.a.run.app` for legacy hosts,
    /// `*.REGION.run.app` for deterministic ones, `*.run.app`), every Google host and the
    /// loopback names.
    pub fn generate(domain: &str, region: &str) -> Result<Self, TlsError> {
        let ca_key = KeyPair::generate()?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.distinguished_name.push(
            DnType::CommonName,
            "fortress iap-lb-emulator local CA (do not trust outside tests)",
        );
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca_params.self_signed(&ca_key)?;
        let ca_pem = ca_cert.pem();
        let issuer = Issuer::new(ca_params, ca_key);

        let mut names: Vec<String> = vec![
            domain.to_string(),
            "*.a.run.app".into(),
            format!("*.{region}.run.app"),
            "*.run.app".into(),
        ];
        names.extend(GOOGLE_HOSTS.iter().map(|h| h.to_string()));
        names.extend(["localhost".into(), "127.0.0.1".into(), "::1".into()]);

        let leaf_key = KeyPair::generate()?;
        let mut leaf_params = CertificateParams::new(names.clone())?;
        leaf_params
            .distinguished_name
            .push(DnType::CommonName, domain);
        leaf_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        leaf_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let leaf = leaf_params.signed_by(&leaf_key, &issuer)?;

        let chain = vec![
            CertificateDer::from(leaf.der().to_vec()),
            CertificateDer::from(ca_cert.der().to_vec()),
        ];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut server_config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(chain, key)?;
        server_config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];

        Ok(Self {
            ca_pem,
            server_config: Arc::new(server_config),
            names,
        })
    }

    /// The CA certificate in PEM: what clients trust.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The names the leaf certificate covers.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    pub fn server_config(&self) -> Arc<ServerConfig> {
        self.server_config.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_leaf_covers_the_domain_run_app_and_every_google_host() {
        let ca = LocalCa::generate("api.myawesomeapp.com", "us-central1").expect("ca");
        assert!(ca.ca_pem().starts_with("-----BEGIN CERTIFICATE-----"));
        for name in [
            "api.myawesomeapp.com",
            "*.a.run.app",
            "*.us-central1.run.app",
            "*.run.app",
            "metadata.google.internal",
            "accounts.google.com",
            "www.googleapis.com",
            "oauth2.googleapis.com",
            "www.gstatic.com",
            "identitytoolkit.googleapis.com",
            "securetoken.googleapis.com",
            "localhost",
        ] {
            assert!(ca.names().iter().any(|n| n == name), "{name}");
        }
        assert_eq!(
            ca.server_config().alpn_protocols,
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        );
    }
}
