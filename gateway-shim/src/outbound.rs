//! Where the gateway's outbound traffic goes, and the reqwest client for everything but the
//! proxy path: JWKS and discovery URLs, the metadata server. Backends are reached through
//! [`crate::connector`] (hyper-util's pooled client), which keeps the same two modes and
//! settings; reqwest's own layers were too costly per proxied request.
//!
//! Two modes, chosen once in [`Outbound`]:
//! - **Direct** (production, a self-hosted gateway on Cloud Run): names resolve through DNS;
//!   TLS trusts the platform's roots, or a given PEM bundle (a `FROM scratch` image has no
//!   system roots: crates.md, reqwest pitfall).
//! - **Emulator** (local): **every** host name resolves to the emulator's address, whether it
//!   appears in the spec or not (a custom `reqwest::dns::Resolve`, so a JWKS URL found by OpenID
//!   discovery goes there too), and TLS trusts only the emulator's CA. `fixtures/openapi.yaml`
//!   is used unchanged: `https://api.myawesomeapp.com` reaches the emulator with SNI and Host
//!   `api.myawesomeapp.com`. When a URL carries an explicit port the URL's port wins (hyper's
//!   connector), so `http://127.0.0.1:PORT` addresses in tests still reach their own servers.
//!
//! Common settings: no redirects are followed (a backend's 302 is the answer), no retries of
//! reqwest's own (the proxy retries as ESPv2 does), no proxy from
//! the environment (`HTTP_PROXY` must not reroute backend traffic), HTTP/1.1 with a connection
//! pool (reuse is what keeps the hop cheap), `TCP_NODELAY`, and Envoy's 20 s connect timeout
//! (ESPv2 `--cluster_connect_timeout`), which the route deadline bounds anyway.

use std::net::SocketAddr;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Connect timeout (ESPv2's `--cluster_connect_timeout` default).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

/// Where outbound traffic goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outbound {
    /// DNS and the given trust roots.
    Direct { roots: TlsRoots },
    /// Every name to `address`; TLS trusts only `ca_pem`.
    Emulator { address: SocketAddr, ca_pem: String },
}

/// Which CAs a direct client trusts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsRoots {
    /// The platform verifier (needs a CA bundle in the image).
    Platform,
    /// Only these PEM certificates.
    Pem(String),
}

/// The client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    #[error("the CA PEM holds no usable certificate: {0}")]
    BadCa(String),
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

/// A name that did not resolve. Found in a request error's source chain, it means Envoy would
/// have had no host for the cluster: `no healthy upstream`.
#[derive(Debug, thiserror::Error)]
#[error("cannot resolve {name}: {reason}")]
pub struct DnsFailure {
    pub name: String,
    pub reason: String,
}

/// DNS through the OS resolver, failures marked as [`DnsFailure`].
#[derive(Debug)]
struct SystemDns;

impl Resolve for SystemDns {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            match lookup(host).await {
                Ok(addrs) => Ok(Box::new(addrs.into_iter()) as Addrs),
                Err(e) => Err(Box::new(e) as Box<dyn std::error::Error + Send + Sync>),
            }
        })
    }
}

/// `host` through the OS resolver (port 0: the connector sets the URL's). No address is a
/// failure too. Shared by reqwest's resolver and the proxy's ([`crate::connector`]).
pub(crate) async fn lookup(host: String) -> Result<Vec<SocketAddr>, DnsFailure> {
    let looked_up = tokio::net::lookup_host((host.as_str(), 0))
        .await
        .map(|a| a.collect::<Vec<SocketAddr>>());
    match looked_up {
        Ok(addrs) => {
            if addrs.is_empty() {
                return Err(DnsFailure {
                    name: host,
                    reason: "no addresses".into(),
                });
            }
            Ok(addrs)
        }
        Err(e) => Err(DnsFailure {
            name: host,
            reason: e.to_string(),
        }),
    }
}

/// Every name to one address.
#[derive(Debug)]
struct AllTo(SocketAddr);

impl Resolve for AllTo {
    fn resolve(&self, _name: Name) -> Resolving {
        let addr = self.0;
        Box::pin(async move { Ok(Box::new(std::iter::once(addr)) as Addrs) })
    }
}

impl Outbound {
    /// Builds the reqwest client for this mode (JWKS, discovery, metadata server).
    pub fn client(&self) -> Result<reqwest::Client, OutboundError> {
        let builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            // Retries are the proxy's decision (ESPv2's one retry on connect failure).
            .retry(reqwest::retry::never())
            .no_proxy()
            .http1_only()
            .tcp_nodelay(true)
            .connect_timeout(CONNECT_TIMEOUT)
            .pool_idle_timeout(Duration::from_secs(60));
        // The proxy's client (crate::connector) mirrors these settings.
        let builder = match self {
            Outbound::Direct { roots } => {
                let b = builder.dns_resolver(SystemDns);
                match roots {
                    TlsRoots::Platform => b,
                    TlsRoots::Pem(pem) => b.tls_certs_only(parse_certs(pem)?),
                }
            }
            Outbound::Emulator { address, ca_pem } => builder
                .dns_resolver(AllTo(*address))
                .tls_certs_only(parse_certs(ca_pem)?),
        };
        builder
            .build()
            .map_err(|e| OutboundError::Client(e.to_string()))
    }
}

fn parse_certs(pem: &str) -> Result<Vec<reqwest::Certificate>, OutboundError> {
    let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes())
        .map_err(|e| OutboundError::BadCa(e.to_string()))?;
    if certs.is_empty() {
        return Err(OutboundError::BadCa("no certificate found".into()));
    }
    Ok(certs)
}
