//! The state every host module shares: configuration, keys, accounts, Firebase users and the
//! addresses the emulator listens on.
//!
//! Built once at start, before the listeners accept, and shared behind an `Arc`. Mutable parts
//! (key rings, minted service-account keys, Firebase users) hold `std::sync` locks that are never
//! held across an `.await` (style.md section 7).

use std::net::SocketAddr;
use std::sync::Arc;

use crate::config::Config;
use crate::firebase::FirebaseUsers;
use crate::keys::{Issuer, KeyStore};
use crate::service_accounts::ServiceAccounts;
use crate::services::Services;

/// Which listener a request arrived on; inserted as a request extension by each listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// The bound addresses of both listeners.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Addrs {
    pub http: SocketAddr,
    pub https: SocketAddr,
}

/// Everything the handlers read.
#[derive(Debug)]
pub struct Shared {
    pub config: Config,
    pub keys: KeyStore,
    pub accounts: ServiceAccounts,
    pub users: FirebaseUsers,
    pub addrs: Addrs,
    /// Ingress and invokers of each Cloud Run service, mutable at run time.
    pub services: Services,
    /// The client that forwards to service upstreams.
    pub upstream_client: crate::upstream::UpstreamClient,
    /// IAP's browser flow: codes, tickets, sessions.
    pub sign_ins: crate::browser::SignIns,
    /// Every OAuth access token issued, with its owner, scopes and expiry (item 2).
    pub access_tokens: crate::access_tokens::AccessTokens,
    /// IAP's service-agent ID tokens toward Cloud Run, by audience (items 27, 39).
    pub agent_tokens: crate::agent_tokens::AgentTokens,
    /// IAP's signed headers of the current second, by backend and principal (items 22-24).
    pub assertions: crate::assertions::Assertions,
    /// Signatures of Google-signed ID tokens already verified (IAP's and Cloud Run's checks see
    /// the same tokens on every request); claims are still checked each time.
    pub signatures: google_tokens::SignatureCache,
    /// Key endpoints made to fail on purpose: issuer → status they answer with.
    pub key_faults: std::sync::RwLock<std::collections::HashMap<Issuer, axum::http::StatusCode>>,
    /// Unix seconds at start (`instance_creation_timestamp` of `format=full` tokens).
    pub started_at: u64,
}

pub type AppState = Arc<Shared>;

impl Shared {
    /// The status `issuer`'s key endpoints are made to answer with, if any.
    pub fn key_fault(&self, issuer: Issuer) -> Option<axum::http::StatusCode> {
        match self.key_faults.read() {
            Ok(faults) => faults.get(&issuer).copied(),
            Err(poisoned) => poisoned.into_inner().get(&issuer).copied(),
        }
    }

    /// Makes `issuer`'s key endpoints answer `status`, or heals them with `None`.
    pub fn set_key_fault(&self, issuer: Issuer, status: Option<axum::http::StatusCode>) {
        let mut faults = match self.key_faults.write() {
            Ok(faults) => faults,
            Err(poisoned) => poisoned.into_inner(),
        };
        match status {
            Some(status) => faults.insert(issuer, status),
            None => faults.remove(&issuer),
        };
        tracing::info!(ring = issuer.as_str(), status = ?status.map(|s| s.as_u16()), "mutation: key endpoint fault");
    }
}

impl Shared {
    /// The state for `config` with `keys`, as served on `addrs`. No users, no minted keys.
    pub fn new(config: Config, keys: KeyStore, addrs: Addrs) -> Result<AppState, reqwest::Error> {
        let accounts = ServiceAccounts::new(&config.service_accounts());
        let services = Services::from_topology(&config.topology);
        Ok(Arc::new(Self {
            config,
            keys,
            accounts,
            users: FirebaseUsers::default(),
            addrs,
            services,
            upstream_client: crate::upstream::client(),
            key_faults: Default::default(),
            sign_ins: Default::default(),
            access_tokens: Default::default(),
            agent_tokens: Default::default(),
            assertions: Default::default(),
            signatures: Default::default(),
            started_at: google_tokens::now_unix(),
        }))
    }
}
