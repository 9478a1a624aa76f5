//! TLS for HTTPS checks (keepalived's SSL_GET), with rustls and its `ring`
//! provider. By default, as keepalived, the server's certificate is not
//! verified (the handshake's signatures still are): a check proves the
//! server answers TLS, not who it is. With `tls_verify` the chain is
//! verified against `ca_file` (else the system bundle) and the name against
//! `sni` (else the target's address).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use super::Deadline;
use crate::health::spec::TlsSpec;

/// Where Debian keeps the system's CA bundle.
const SYSTEM_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// What a client configuration depends on: verification and the CA file.
type ConfigKey = (bool, Option<PathBuf>);

/// Client configurations, built once per key and shared.
#[derive(Default)]
pub struct TlsClients {
    configs: Mutex<HashMap<ConfigKey, Arc<ClientConfig>>>,
}

impl TlsClients {
    fn config(&self, spec: &TlsSpec) -> Result<Arc<ClientConfig>, String> {
        let key = (spec.verify, spec.ca_file.clone());
        let mut configs = self.configs.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = configs.get(&key) {
            return Ok(Arc::clone(c));
        }
        let config = Arc::new(build(spec)?);
        configs.insert(key, Arc::clone(&config));
        Ok(config)
    }

    /// The TLS handshake over `tcp`, within the deadline.
    pub async fn connect(
        &self,
        tcp: TcpStream,
        target: SocketAddr,
        spec: &TlsSpec,
        deadline: Deadline,
    ) -> Result<TlsStream<TcpStream>, String> {
        let config = self.config(spec)?;
        let name = match &spec.sni {
            Some(sni) => {
                ServerName::try_from(sni.clone()).map_err(|e| format!("sni {sni:?}: {e}"))?
            }
            // An address sends no SNI; with verification it is the name
            // the certificate must carry.
            None => ServerName::IpAddress(target.ip().into()),
        };
        deadline
            .run(
                "TLS handshake",
                TlsConnector::from(config).connect(name, tcp),
            )
            .await
    }
}

/// *ring*'s provider: rustls now prefers aws-lc-rs for its post-quantum
/// key exchange, which a health check does not need, and ring builds
/// without cmake or a long C build.
#[allow(deprecated)]
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn build(spec: &TlsSpec) -> Result<ClientConfig, String> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?;
    let config = if spec.verify {
        let file = spec.ca_file.as_deref().unwrap_or(Path::new(SYSTEM_BUNDLE));
        builder
            .with_root_certificates(roots(file)?)
            .with_no_client_auth()
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider())))
            .with_no_client_auth()
    };
    Ok(config)
}

fn roots(file: &Path) -> Result<RootCertStore, String> {
    let bad = |e: &dyn std::fmt::Display| format!("ca_file {}: {e}", file.display());
    let mut store = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(file).map_err(|e| bad(&e))? {
        store.add(cert.map_err(|e| bad(&e))?).map_err(|e| bad(&e))?;
    }
    if store.is_empty() {
        return Err(bad(&"no certificates in it"));
    }
    Ok(store)
}

/// Accepts any certificate, but still checks that the server holds the
/// key it presents (the handshake signatures).
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
