//! Opening a connection to the carrier: DNS, TCP (connect timeout, `TCP_NODELAY`, keep-alive
//! probes), then TLS for `https://` (Mozilla's roots, plus `gateway.upstream_ca_file`'s).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};

/// A connection to the carrier, plain or TLS.
pub(super) enum Io {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for Io {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Io {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_flush(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Dials the carrier.
pub(super) struct Dialer {
    /// `host:port`, as resolved.
    authority: String,
    tls: Option<(tokio_rustls::TlsConnector, ServerName<'static>)>,
    connect_timeout: Duration,
}

impl Dialer {
    /// `host` without brackets, `tls` for `https://`; `extra_roots` are added to Mozilla's.
    pub(super) fn new(
        host: &str,
        port: u16,
        tls: bool,
        extra_roots: Option<Vec<CertificateDer<'static>>>,
        connect_timeout: Duration,
    ) -> Result<Dialer, String> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let authority = if bare.contains(':') {
            format!("[{bare}]:{port}")
        } else {
            format!("{bare}:{port}")
        };
        let tls = if tls {
            let mut roots = rustls::RootCertStore::empty();
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            for cert in extra_roots.unwrap_or_default() {
                roots
                    .add(cert)
                    .map_err(|e| format!("gateway.upstream_ca_file: {e}"))?;
            }
            // ring provider: no process-wide default is assumed.
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| format!("gateway.upstream_url: TLS: {e}"))?
                .with_root_certificates(roots)
                .with_no_client_auth();
            cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
            let name = ServerName::try_from(bare.to_owned())
                .map_err(|e| format!("gateway.upstream_url: TLS server name {bare}: {e}"))?;
            Some((tokio_rustls::TlsConnector::from(Arc::new(cfg)), name))
        } else {
            None
        };
        Ok(Dialer {
            authority,
            tls,
            connect_timeout,
        })
    }

    pub(super) async fn dial(&self) -> Result<Io, String> {
        let addrs = tokio::time::timeout(
            self.connect_timeout,
            tokio::net::lookup_host(self.authority.as_str()),
        )
        .await
        .map_err(|_| format!("connect: resolving {} timed out", self.authority))?
        .map_err(|e| format!("connect: resolving {}: {e}", self.authority))?;
        let mut last = format!("connect: {} resolves to no address", self.authority);
        for addr in addrs {
            match tokio::time::timeout(self.connect_timeout, TcpStream::connect(addr)).await {
                Ok(Ok(tcp)) => return self.wrap(tcp).await,
                Ok(Err(e)) => last = format!("connect: {addr}: {e}"),
                Err(_) => last = format!("connect: {addr}: timed out"),
            }
        }
        Err(last)
    }

    async fn wrap(&self, tcp: TcpStream) -> Result<Io, String> {
        // Small JSON exchanges: Nagle would add tens of milliseconds per call.
        tcp.set_nodelay(true)
            .map_err(|e| format!("connect: TCP_NODELAY: {e}"))?;
        // Probes find a carrier that vanished without closing (NAT, load balancer restart).
        let probes = socket2::TcpKeepalive::new().with_time(Duration::from_secs(60));
        socket2::SockRef::from(&tcp)
            .set_tcp_keepalive(&probes)
            .map_err(|e| format!("connect: keep-alive: {e}"))?;
        match &self.tls {
            None => Ok(Io::Plain(tcp)),
            Some((connector, name)) => connector
                .connect(name.clone(), tcp)
                .await
                .map(|s| Io::Tls(Box::new(s)))
                .map_err(|e| format!("connect: TLS: {e}")),
        }
    }
}
