//! TLS (rustls, ring provider) for the public listener.

use std::sync::Arc;

use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

use crate::config::TlsConfig;
use crate::error::GatewayError;

/// Loads the PEM certificate chain and private key; errors name the configuration key.
pub fn acceptor(cfg: &TlsConfig) -> Result<TlsAcceptor, GatewayError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cfg.cert_path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| {
            GatewayError::Config(format!(
                "gateway.tls.cert_path: cannot read {}: {e}",
                cfg.cert_path
            ))
        })?;
    if certs.is_empty() {
        return Err(GatewayError::Config(format!(
            "gateway.tls.cert_path: no certificate in {}",
            cfg.cert_path
        )));
    }
    let key = PrivateKeyDer::from_pem_file(&cfg.key_path).map_err(|e| {
        GatewayError::Config(format!(
            "gateway.tls.key_path: cannot read a private key from {}: {e}",
            cfg.key_path
        ))
    })?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let mut sc = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| GatewayError::Config(format!("gateway.tls: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            GatewayError::Config(format!(
                "gateway.tls: certificate and key do not match: {e}"
            ))
        })?;
    // HTTP/2 first, HTTP/1.1 for older merchant software.
    sc.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(sc)))
}
