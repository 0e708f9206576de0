//! The proxy path's HTTP client: a [`http1_pool::Pool`] of hyper HTTP/1.1 connections over a
//! connector of our own, in the same two modes as [`Outbound`].
//!
//! Why not reqwest, which JWKS, discovery and metadata-server calls still use
//! ([`Outbound::client`]): perf on `bench/gateway.sh` put reqwest's own layers (redirect and
//! retry wrappers, a second URL parse per response with `url` and IDNA) at 9-12 % of the
//! gateway's CPU per proxied request. Why not hyper-util's pooled client, which reqwest runs
//! underneath and this used next: callgrind put its pool at 11 % of the gateway's instructions
//! per proxied request (`tools/bench/instructions.sh`); `libs/http1-pool` does what the proxy
//! needs of a pool and no more, as it does for `iap-lb-emulator/src/upstream.rs`.
//!
//! The connector keeps what reqwest did for each mode:
//! - **Names**: DNS ([`Outbound::Direct`]) or every name to the emulator's address
//!   ([`Outbound::Emulator`]). An IP literal is not resolved, and an explicit port in the URL
//!   wins over the resolved one (hyper-util's `HttpConnector`, which reqwest used too), so
//!   `http://127.0.0.1:PORT` reaches its own server in emulator mode. A name that does not
//!   resolve leaves a [`DnsFailure`] in the error's source chain: Envoy's `no healthy upstream`.
//! - **TLS** for `https` (tokio-rustls on aws-lc-rs, the workspace's only provider): SNI is the
//!   URL's host, ALPN offers `http/1.1` only; trust is the platform's roots, a PEM bundle, or only
//!   the emulator's CA. A handshake failure is a [`TlsFailure`] in the source chain.
//! - **Connect timeout**: Envoy's 20 s ([`CONNECT_TIMEOUT`], ESPv2 `--cluster_connect_timeout`)
//!   bounds TCP connect and TLS handshake together, as reqwest's `connect_timeout` did; it fails
//!   as an `io::Error` of kind `TimedOut`. `TCP_NODELAY` is set.
//!
//! The client ([`ProxyClient::request`]): HTTP/1.1 only, connections pooled per scheme and
//! authority (idle 60 s, at most [`MAX_IDLE_PER_BACKEND`] idle per backend; reuse is what keeps
//! the hop cheap), no redirects (a backend's 302 is the answer), no proxy from the environment,
//! and ESPv2's one retry on connect failure (`reset,connect-failure,refused-stream`, item 73):
//! a connect that fails for any reason but a name that does not resolve is made once more, and
//! the request the pool gave back unsent (body unread) goes over it, so no copy of it is kept
//! for a retry that almost never happens; beyond that, the pool's resend of a request that a
//! stale pooled connection refused unsent. The request goes in origin form; `Host` is set
//! from the URI, replacing any the request carried, with the port only when not the scheme's
//! default, as reqwest did; no
//! `Accept: */*` is added (Envoy adds no header of its own either).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderValue, Request, Response, Uri, header};
use http_body_util::combinators::UnsyncBoxBody;
use http1_pool::{Pool, PooledBody, SendError};
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use rustls_pki_types::pem::PemObject;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tower::ServiceExt as _;

use crate::outbound::{CONNECT_TIMEOUT, DnsFailure, Outbound, OutboundError, TlsRoots};

/// Any error, boxed: request bodies and connector failures.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A request body on its way to a backend (axum's body under the size limit, or empty).
pub type ProxyBody = UnsyncBoxBody<Bytes, BoxError>;

/// Where a pooled connection goes: a backend's scheme and authority.
pub type BackendKey = (Scheme, Authority);

/// A backend's response body, streaming; its connection returns to the pool at the end.
pub type BackendBody = PooledBody<BackendKey, ProxyBody>;

/// Why a proxied request got no response: the connector failed (nothing was sent), or the
/// exchange did.
pub type ProxyError = SendError<ConnectFailure, ProxyBody>;

/// A proxied request that got no response: why, and whether the connect was retried (Envoy's
/// message says so).
#[derive(Debug)]
pub struct ProxyFailure {
    pub error: ProxyError,
    pub retried: bool,
}

/// The connector's failure, its cause in the source chain ([`DnsFailure`], [`TlsFailure`], an
/// `io::Error`).
#[derive(Debug, thiserror::Error)]
#[error("connect failed")]
pub struct ConnectFailure(#[source] pub BoxError);

impl ConnectFailure {
    /// The name did not resolve: Envoy has no host to retry on.
    fn is_dns(&self) -> bool {
        let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(&*self.0);
        while let Some(e) = cur {
            if e.is::<DnsFailure>() {
                return true;
            }
            cur = e.source();
        }
        false
    }
}

/// The pooled client every proxied request goes through.
#[derive(Debug, Clone)]
pub struct ProxyClient {
    pool: Pool<BackendKey, ProxyBody>,
    connector: BackendConnector,
}

/// How long an idle pooled connection is kept (as the reqwest client had it).
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// How many idle connections are kept per backend (hyper-util's pool kept any number; this
/// bounds what a burst leaves open).
pub const MAX_IDLE_PER_BACKEND: usize = 128;

/// Builds the proxy client for `outbound`.
pub fn proxy_client(outbound: &Outbound) -> Result<ProxyClient, OutboundError> {
    let (resolver, roots) = match outbound {
        Outbound::Direct { roots } => (Resolver::System, roots.clone()),
        Outbound::Emulator { address, ca_pem } => {
            (Resolver::AllTo(*address), TlsRoots::Pem(ca_pem.clone()))
        }
    };
    let mut http = HttpConnector::new_with_resolver(resolver);
    http.enforce_http(false);
    http.set_nodelay(true);
    let connector = BackendConnector {
        http,
        tls: TlsConnector::from(Arc::new(tls_config(&roots)?)),
    };
    Ok(ProxyClient {
        pool: Pool::new(MAX_IDLE_PER_BACKEND, POOL_IDLE_TIMEOUT),
        connector,
    })
}

impl ProxyClient {
    /// Sends `request`, whose URI is absolute (scheme and authority say where to connect), and
    /// returns the backend's response head with its body still streaming. A failed connect is
    /// retried once (see the module documentation), unless the name did not resolve.
    pub async fn request(
        &self,
        mut request: Request<ProxyBody>,
    ) -> Result<Response<BackendBody>, ProxyFailure> {
        let uri = std::mem::take(request.uri_mut());
        let (Some(scheme), Some(authority)) = (uri.scheme().cloned(), uri.authority().cloned())
        else {
            let reason = io::Error::new(io::ErrorKind::InvalidInput, "the URI is not absolute");
            let error = ConnectFailure(Box::new(reason));
            return Err(ProxyFailure {
                error: SendError::Connect {
                    error,
                    request: Box::new(request),
                },
                retried: false,
            });
        };
        // `Host` is the backend's, whatever the request carried (ESPv2 rewrites it to the
        // address host): replaced in place, or removed when the authority makes no valid one.
        match host_header(&scheme, &authority) {
            Some(host) => {
                request.headers_mut().insert(header::HOST, host);
            }
            None => {
                request.headers_mut().remove(header::HOST);
            }
        }
        // Origin form on the wire: the connection already says where the request goes.
        *request.uri_mut() = Uri::from(
            uri.path_and_query()
                .cloned()
                .unwrap_or_else(|| PathAndQuery::from_static("/")),
        );
        let key = (scheme, authority);
        let connect = || {
            let connector = self.connector.clone();
            let uri = uri.clone();
            async move { connector.oneshot(uri).await.map_err(ConnectFailure) }
        };
        match self.pool.send(&key, request, connect).await {
            Ok(response) => Ok(response),
            Err(SendError::Connect { error, request }) if !error.is_dns() => self
                .pool
                .send(&key, *request, connect)
                .await
                .map_err(|error| ProxyFailure {
                    error,
                    retried: true,
                }),
            Err(error) => Err(ProxyFailure {
                error,
                retried: false,
            }),
        }
    }
}

/// `Host` for a backend: its host, and its port only when not the scheme's default. Read off
/// the authority's text (no port parsing, no formatting: this runs on every request).
fn host_header(scheme: &Scheme, authority: &Authority) -> Option<HeaderValue> {
    let text = authority.as_str();
    if text.contains('@') {
        // Credentials in the URL never go into Host.
        let host = authority.host();
        return match authority.port() {
            Some(port) if !is_default_port(scheme, port.as_str()) => {
                HeaderValue::try_from(format!("{host}:{port}")).ok()
            }
            _ => HeaderValue::from_str(host).ok(),
        };
    }
    let host = match text.rsplit_once(':') {
        Some((host, port)) if is_default_port(scheme, port) => host,
        _ => text,
    };
    HeaderValue::from_str(host).ok()
}

fn is_default_port(scheme: &Scheme, port: &str) -> bool {
    port == if *scheme == Scheme::HTTPS {
        "443"
    } else {
        "80"
    }
}

/// rustls on aws-lc-rs, trusting `roots`, offering HTTP/1.1 only.
fn tls_config(roots: &TlsRoots) -> Result<ClientConfig, OutboundError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| OutboundError::Client(e.to_string()))?;
    let mut config = match roots {
        TlsRoots::Platform => {
            use rustls_platform_verifier::BuilderVerifierExt as _;
            builder
                .with_platform_verifier()
                .map_err(|e| OutboundError::Client(e.to_string()))?
                .with_no_client_auth()
        }
        TlsRoots::Pem(pem) => builder
            .with_root_certificates(root_store(pem)?)
            .with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

fn root_store(pem: &str) -> Result<rustls::RootCertStore, OutboundError> {
    let mut store = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::CertificateDer::pem_slice_iter(pem.as_bytes()) {
        let cert = cert.map_err(|e| OutboundError::BadCa(e.to_string()))?;
        store
            .add(cert)
            .map_err(|e| OutboundError::BadCa(e.to_string()))?;
    }
    if store.is_empty() {
        return Err(OutboundError::BadCa("no certificate found".into()));
    }
    Ok(store)
}

/// Names to addresses: the OS resolver, or everything to the emulator.
#[derive(Debug, Clone)]
enum Resolver {
    System,
    AllTo(SocketAddr),
}

type Resolving =
    Pin<Box<dyn Future<Output = Result<std::vec::IntoIter<SocketAddr>, DnsFailure>> + Send>>;

impl tower::Service<Name> for Resolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = DnsFailure;
    type Future = Resolving;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), DnsFailure>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Resolving {
        match *self {
            Resolver::AllTo(addr) => Box::pin(std::future::ready(Ok(vec![addr].into_iter()))),
            Resolver::System => {
                let host = name.as_str().to_owned();
                Box::pin(async move { crate::outbound::lookup(host).await.map(Vec::into_iter) })
            }
        }
    }
}

/// A TLS handshake with a backend failed (Envoy: `TLS_error`). Its source is rustls' reason.
#[derive(Debug, thiserror::Error)]
#[error("tls handshake failed")]
pub struct TlsFailure(#[source] pub io::Error);

/// TCP (through hyper-util's `HttpConnector` and our resolver), then TLS for `https`.
#[derive(Clone)]
pub struct BackendConnector {
    http: HttpConnector<Resolver>,
    tls: TlsConnector,
}

impl std::fmt::Debug for BackendConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackendConnector").finish_non_exhaustive()
    }
}

type Connecting = Pin<Box<dyn Future<Output = Result<BackendStream, BoxError>> + Send>>;

impl tower::Service<Uri> for BackendConnector {
    type Response = BackendStream;
    type Error = BoxError;
    type Future = Connecting;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.http.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, dst: Uri) -> Connecting {
        // SNI (or the IP checked against the certificate) is the URL's host, brackets off.
        let tls = (dst.scheme() == Some(&Scheme::HTTPS)).then(|| {
            let host = dst.host().unwrap_or_default();
            let host = host
                .strip_prefix('[')
                .and_then(|h| h.strip_suffix(']'))
                .unwrap_or(host);
            let name = ServerName::try_from(host.to_owned())
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e));
            (self.tls.clone(), name)
        });
        let tcp = self.http.call(dst);
        Box::pin(async move {
            let connect = async move {
                let tcp = tcp.await?;
                let Some((tls, name)) = tls else {
                    return Ok(BackendStream::Plain(tcp));
                };
                let name = name.map_err(TlsFailure)?;
                let stream = tls
                    .connect(name, tcp.into_inner())
                    .await
                    .map_err(TlsFailure)?;
                Ok(BackendStream::Tls(Box::new(TokioIo::new(stream))))
            };
            match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
                Ok(result) => result,
                Err(_) => Err(
                    Box::new(io::Error::new(io::ErrorKind::TimedOut, "connect timeout"))
                        as BoxError,
                ),
            }
        })
    }
}

/// A connection to a backend: plain TCP or TLS over it.
#[derive(Debug)]
pub enum BackendStream {
    Plain(TokioIo<TcpStream>),
    /// Boxed: rustls' state is over a kilobyte, and the stream lives in the pool.
    Tls(Box<TokioIo<TlsStream<TcpStream>>>),
}

impl Read for BackendStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            BackendStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            BackendStream::Tls(s) => Pin::new(&mut **s).poll_read(cx, buf),
        }
    }
}

impl Write for BackendStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            BackendStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            BackendStream::Tls(s) => Pin::new(&mut **s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            BackendStream::Plain(s) => Pin::new(s).poll_flush(cx),
            BackendStream::Tls(s) => Pin::new(&mut **s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            BackendStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            BackendStream::Tls(s) => Pin::new(&mut **s).poll_shutdown(cx),
        }
    }

    // hyper writes headers and body in one vectored write when the stream supports it.
    fn is_write_vectored(&self) -> bool {
        match self {
            BackendStream::Plain(s) => s.is_write_vectored(),
            BackendStream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            BackendStream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            BackendStream::Tls(s) => Pin::new(&mut **s).poll_write_vectored(cx, bufs),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_the_port_only_when_not_the_schemes_default() {
        let cases = [
            (Scheme::HTTP, "backend.example", "backend.example"),
            (Scheme::HTTP, "backend.example:80", "backend.example"),
            (Scheme::HTTPS, "backend.example:443", "backend.example"),
            (Scheme::HTTP, "127.0.0.1:8080", "127.0.0.1:8080"),
            (Scheme::HTTPS, "backend.example:80", "backend.example:80"),
            (Scheme::HTTPS, "[::1]:8443", "[::1]:8443"),
            (Scheme::HTTPS, "[::1]:443", "[::1]"),
            (Scheme::HTTPS, "[::1]", "[::1]"),
            (
                Scheme::HTTP,
                "user:secret@backend.example:8080",
                "backend.example:8080",
            ),
            (
                Scheme::HTTP,
                "user:secret@backend.example:80",
                "backend.example",
            ),
        ];
        for (scheme, authority, want) in cases {
            let authority = Authority::from_static(authority);
            let host = host_header(&scheme, &authority).expect("a header value");
            assert_eq!(host, want, "{scheme}://{authority}");
        }
    }
}
