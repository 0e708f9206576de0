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
use crate::keys::KeyStore;
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
    pub upstream_client: reqwest::Client,
    /// Unix seconds at start (`instance_creation_timestamp` of `format=full` tokens).
    pub started_at: u64,
}

pub type AppState = Arc<Shared>;

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
            upstream_client: crate::upstream::client()?,
            started_at: google_tokens::now_unix(),
        }))
    }
}
