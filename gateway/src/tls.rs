//! TLS (rustls, ring provider) for the public listener.

use std::sync::Arc;
use std::time::SystemTime;

use arc_swap::ArcSwap;
use tokio_rustls::rustls::crypto::CryptoProvider;
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;

use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

use crate::config::TlsConfig;

/// The public listener's TLS: an acceptor whose certificate can be replaced while it runs.
///
/// rustls asks a resolver for the certificate at each handshake; ours hands out the current one
/// from an `ArcSwap`, so a renewed certificate applies to new connections at once and existing
/// connections keep theirs. A file that does not load (half-written, wrong key) is refused and
/// the current certificate stays.
pub struct ReloadableTls {
    pub acceptor: TlsAcceptor,
    resolver: Arc<Resolver>,
    cfg: TlsConfig,
    stamp: std::sync::Mutex<Option<(SystemTime, SystemTime)>>,
}

#[derive(Debug)]
struct Resolver {
    current: ArcSwap<CertifiedKey>,
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(tokio_rustls::rustls::crypto::ring::default_provider())
}

fn modified(cfg: &TlsConfig) -> Option<(SystemTime, SystemTime)> {
    let m = |p: &str| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    Some((m(&cfg.cert_path)?, m(&cfg.key_path)?))
}

impl ReloadableTls {
    /// Loads the certificate; errors name the configuration key.
    pub fn new(cfg: &TlsConfig) -> Result<ReloadableTls, String> {
        let stamp = modified(cfg);
        let key = certified_key(cfg)?;
        let resolver = Arc::new(Resolver {
            current: ArcSwap::from_pointee(key),
        });
        let mut sc = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("gateway.tls: {e}"))?
            .with_no_client_auth()
            .with_cert_resolver(resolver.clone());
        // HTTP/2 first, HTTP/1.1 for older merchant software.
        sc.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(ReloadableTls {
            acceptor: TlsAcceptor::from(Arc::new(sc)),
            resolver,
            cfg: cfg.clone(),
            stamp: std::sync::Mutex::new(stamp),
        })
    }

    /// Reloads when the files changed since the last load (or when `force`, on SIGHUP).
    /// `Ok(true)`: a new certificate is in use.
    pub fn reload(&self, force: bool) -> Result<bool, String> {
        let now = modified(&self.cfg);
        let mut stamp = self
            .stamp
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !force && now == *stamp {
            return Ok(false);
        }
        let key = certified_key(&self.cfg)?;
        self.resolver.current.store(Arc::new(key));
        *stamp = now;
        Ok(true)
    }

    pub fn interval(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.cfg.reload_interval_ms.max(100))
    }
}

/// Loads the PEM certificate chain and private key and checks they belong together; errors
/// name the configuration key.
fn certified_key(cfg: &TlsConfig) -> Result<CertifiedKey, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cfg.cert_path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("gateway.tls.cert_path: cannot read {}: {e}", cfg.cert_path))?;
    if certs.is_empty() {
        return Err(format!(
            "gateway.tls.cert_path: no certificate in {}",
            cfg.cert_path
        ));
    }
    let key = PrivateKeyDer::from_pem_file(&cfg.key_path).map_err(|e| {
        format!(
            "gateway.tls.key_path: cannot read a private key from {}: {e}",
            cfg.key_path
        )
    })?;
    let signing = provider()
        .key_provider
        .load_private_key(key)
        .map_err(|e| format!("gateway.tls.key_path: unusable private key: {e}"))?;
    let ck = CertifiedKey::new(certs, signing);
    ck.keys_match()
        .map_err(|e| format!("gateway.tls: certificate and key do not match: {e}"))?;
    Ok(ck)
}
