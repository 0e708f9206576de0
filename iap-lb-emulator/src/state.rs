//! The state every host module shares: configuration, keys, accounts, Firebase users and the
//! addresses the emulator listens on.
//!
//! Built once at start, before the listeners accept, and shared behind an `Arc`. Mutable parts
//! (key rings, minted service-account keys, Firebase users) hold `std::sync` locks that are never
//! held across an `.await` (style.md section 7).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use blueprint::Topology;
use google_tokens::Policy;

use crate::config::Config;
use crate::firebase::FirebaseUsers;
use crate::keys::{Issuer, KeyStore};
use crate::service_accounts::ServiceAccounts;
use crate::services::Services;

/// Which listener a request arrived on: part of its [`Connection`], and a request extension
/// for the boxes served by a router (the admin surface reads it).
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

/// The connection a request came in on, as the listener accepted it. The dispatcher hands it to
/// the load balancer and the run.app front end as an argument (no request extension to insert
/// and look up on the hot path); routers get it as `ConnectInfo<SocketAddr>` and [`Scheme`]
/// extensions. Both are `None` for a request that came through no socket (tests driving the
/// router); the hot path then takes HTTPS and no peer address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Connection {
    pub peer: Option<SocketAddr>,
    pub scheme: Option<Scheme>,
}

impl Connection {
    /// The connection recorded in `extensions` (`ConnectInfo`, [`Scheme`]), where a router
    /// put it.
    pub fn of(extensions: &axum::http::Extensions) -> Self {
        Self {
            peer: extensions
                .get::<axum::extract::ConnectInfo<SocketAddr>>()
                .map(|c| c.0),
            scheme: extensions.get::<Scheme>().copied(),
        }
    }

    /// Records this connection in `extensions`, for a box served by a router.
    pub fn insert_into(self, extensions: &mut axum::http::Extensions) {
        if let Some(peer) = self.peer {
            extensions.insert(axum::extract::ConnectInfo(peer));
        }
        if let Some(scheme) = self.scheme {
            extensions.insert(scheme);
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
    /// Bearer headers seen on the hot path (`crate::credentials`).
    pub credentials: crate::credentials::SeenCredentials,
    /// The rules each Google ID token check applies, built once from the topology.
    pub policies: TokenPolicies,
    /// Key endpoints made to fail on purpose: issuer → status they answer with.
    pub key_faults: std::sync::RwLock<std::collections::HashMap<Issuer, axum::http::StatusCode>>,
    /// Unix seconds at start (`instance_creation_timestamp` of `format=full` tokens).
    pub started_at: u64,
}

pub type AppState = Arc<Shared>;

/// What IAP and Cloud Run's invoker check accept of a Google ID token. Both follow from the
/// topology alone, which does not change while the emulator runs, so they are built at start
/// rather than per request (each is a handful of owned strings).
#[derive(Debug)]
pub struct TokenPolicies {
    /// IAP: audience the OAuth client or a programmatic client, `email` required (item 16).
    pub iap: Policy,
    /// Cloud Run, by service name: audience one of the service's run.app URLs or custom
    /// audiences (item 46).
    invoker: BTreeMap<String, Policy>,
}

impl TokenPolicies {
    pub fn from_topology(topology: &Topology) -> Self {
        let client_ids = topology.iap().allowed_audiences();
        Self {
            iap: Policy::google_id_token(client_ids.map(|c| c.as_str().to_string()).collect())
                .requiring_email(),
            invoker: topology
                .services()
                .iter()
                .map(|s| {
                    let policy = Policy::google_id_token(s.invoker_audiences().to_vec());
                    (s.name().as_str().to_string(), policy)
                })
                .collect(),
        }
    }

    /// The invoker check's policy of the service `name`.
    pub fn invoker(&self, name: &str) -> Option<&Policy> {
        self.invoker.get(name)
    }
}

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
        let policies = TokenPolicies::from_topology(&config.topology);
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
            credentials: Default::default(),
            policies,
            started_at: google_tokens::now_unix(),
        }))
    }
}
