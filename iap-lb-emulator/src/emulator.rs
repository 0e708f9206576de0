//! Starting and stopping the emulator in-process: [`Emulator::start`] and [`RunningEmulator`].
//!
//! The library takes bound listeners (or binds `127.0.0.1:0`) so tests and the in-process e2e
//! harness run it on random ports without a subprocess (style.md section 3). Start order, and
//! why:
//!
//! 1. crypto providers installed (aws-lc-rs for rustls and jsonwebtoken; crates.md pitfall 1);
//! 2. the configuration validated, and every relaxed setting logged as a warning;
//! 3. keys generated or read on a blocking thread (RSA generation, file reads; style.md
//!    section 7);
//! 4. the local CA made and `ca.pem` written to the state directory;
//! 5. both listeners served from one `axum_server` control, so one call drains both.
//!
//! Nothing is served before step 5, so a client never sees a half-configured emulator.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum_server::Handle;
use axum_server::tls_rustls::RustlsConfig;
use tokio::task::JoinHandle;

use crate::config::{Config, ConfigError};
use crate::dispatch::Listener;
use crate::host::{GOOGLE_HOSTS, METADATA_HOST};
use crate::keys::{Issuer, KeyStore, KeysError};
use crate::state::{Addrs, AppState, Scheme, Shared};
use crate::tls::{LocalCa, TlsError};

/// File name of the CA certificate in the state directory.
pub const CA_FILE: &str = "ca.pem";

/// How long in-flight requests get to finish at shutdown (under Cloud Run's 10 s, item 51).
pub const DRAIN_GRACE: Duration = Duration::from_secs(5);

/// The two bound sockets the emulator serves: plain HTTP and HTTPS.
#[derive(Debug)]
pub struct Listeners {
    pub http: TcpListener,
    pub https: TcpListener,
}

impl Listeners {
    /// Binds both addresses.
    pub fn bind(http: SocketAddr, https: SocketAddr) -> io::Result<Self> {
        Ok(Self {
            http: TcpListener::bind(http)?,
            https: TcpListener::bind(https)?,
        })
    }

    /// `127.0.0.1:0` twice: random free ports, for tests and the in-process stack.
    pub fn loopback() -> io::Result<Self> {
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        Self::bind(any, any)
    }
}

/// Why the emulator did not start. Each variant names what to fix.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("listener: {0}")]
    Listen(io::Error),
    #[error(transparent)]
    Keys(#[from] KeysError),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("state directory {path}: {source}")]
    StateDir { path: PathBuf, source: io::Error },
    #[error("key loading task failed: {0}")]
    Task(String),
    #[error("upstream HTTP client: {0}")]
    Client(String),
}

/// The entry point.
pub struct Emulator;

impl Emulator {
    /// Starts on `127.0.0.1:0` for both listeners.
    pub async fn start(config: Config) -> Result<RunningEmulator, StartError> {
        let listeners = Listeners::loopback().map_err(StartError::Listen)?;
        Self::start_with(config, listeners).await
    }

    /// Starts on listeners the caller bound.
    pub async fn start_with(
        config: Config,
        listeners: Listeners,
    ) -> Result<RunningEmulator, StartError> {
        install_crypto_providers();
        config.validate()?;
        for relaxed in config.relaxations() {
            tracing::warn!(setting = %relaxed, "relaxed setting in force");
        }
        // Not a relaxation (the newest docs say IAP accepts them), but unconfirmed (item 2).
        tracing::info!(
            iap_access_tokens = ?config.iap_access_tokens,
            load_balancer = ?config.topology.load_balancer_scope(),
            "iap: OAuth access tokens and load-balancer scope"
        );
        let addrs = Addrs {
            http: listeners.http.local_addr().map_err(StartError::Listen)?,
            https: listeners.https.local_addr().map_err(StartError::Listen)?,
        };

        let source = config.keys.clone();
        let keys = tokio::task::spawn_blocking(move || KeyStore::load(&source))
            .await
            .map_err(|e| StartError::Task(e.to_string()))??;
        for ring in [&keys.google, &keys.securetoken, &keys.iap] {
            tracing::info!(ring = ring.name(), alg = %ring.alg(), kids = ?ring.kids(), "signing keys ready");
        }

        let ca = LocalCa::generate(config.domain(), config.region())?;
        let ca_path = match &config.state_dir {
            Some(dir) => Some(write_ca(dir, ca.ca_pem()).await?),
            None => None,
        };

        let domain = config.domain().to_string();
        let state: AppState =
            Shared::new(config, keys, addrs).map_err(|e| StartError::Client(e.to_string()))?;
        let dispatch = crate::dispatch::Dispatch::new(state.clone());

        let http_handle: Handle<SocketAddr> = Handle::new();
        let https_handle: Handle<SocketAddr> = Handle::with_control(http_handle.control());
        let http_server = axum_server::from_tcp(listeners.http)
            .map_err(StartError::Listen)?
            .handle(http_handle.clone());
        let https_server = axum_server::tls_rustls::from_tcp_rustls(
            listeners.https,
            RustlsConfig::from_config(ca.server_config()),
        )
        .map_err(StartError::Listen)?
        .handle(https_handle);
        let http_app = Listener::new(Arc::clone(&dispatch), Scheme::Http);
        let https_app = Listener::new(dispatch, Scheme::Https);
        let http_task = tokio::spawn(http_server.serve(http_app));
        let https_task = tokio::spawn(https_server.serve(https_app));

        tracing::info!(
            http = %addrs.http,
            https = %addrs.https,
            ca = ?ca_path,
            domain = %domain,
            "iap-lb-emulator listening"
        );
        Ok(RunningEmulator {
            http_addr: addrs.http,
            https_addr: addrs.https,
            ca_pem: ca.ca_pem().to_string(),
            ca_path,
            domain,
            handle: http_handle,
            tasks: vec![http_task, https_task],
            state,
        })
    }
}

/// Makes aws-lc-rs the process-wide provider for rustls and jsonwebtoken; harmless when one is
/// already installed (crates.md pitfall 1).
pub fn install_crypto_providers() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    google_tokens::install_crypto_provider();
}

async fn write_ca(dir: &std::path::Path, pem: &str) -> Result<PathBuf, StartError> {
    let err = |source| StartError::StateDir {
        path: dir.to_path_buf(),
        source,
    };
    tokio::fs::create_dir_all(dir).await.map_err(err)?;
    let path = dir.join(CA_FILE);
    tokio::fs::write(&path, pem).await.map_err(err)?;
    Ok(path)
}

/// A started emulator: its addresses, its CA, and the way to stop it.
pub struct RunningEmulator {
    /// Plain HTTP: the metadata server and the host-prefixed routes.
    pub http_addr: SocketAddr,
    /// HTTPS with the local CA: every host by name.
    pub https_addr: SocketAddr,
    /// The CA certificate (PEM) clients trust.
    pub ca_pem: String,
    /// Where `ca.pem` was written, when a state directory was configured.
    pub ca_path: Option<PathBuf>,
    domain: String,
    handle: Handle<SocketAddr>,
    tasks: Vec<JoinHandle<io::Result<()>>>,
    state: AppState,
}

impl std::fmt::Debug for RunningEmulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningEmulator")
            .field("http_addr", &self.http_addr)
            .field("https_addr", &self.https_addr)
            .field("ca_path", &self.ca_path)
            .finish_non_exhaustive()
    }
}

impl RunningEmulator {
    /// `http://127.0.0.1:PORT{path}`.
    pub fn http_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.http_addr)
    }

    /// The host-prefix form of a Google URL: `http://127.0.0.1:PORT/<host><path>`.
    pub fn prefixed_url(&self, host: &str, path: &str) -> String {
        format!("http://{}/{host}{path}", self.http_addr)
    }

    /// The value for `GCE_METADATA_HOST` (and `GCE_METADATA_IP`): `127.0.0.1:PORT`.
    pub fn metadata_host(&self) -> String {
        self.http_addr.to_string()
    }

    /// The load balancer's domain.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// A reqwest client builder that reaches every emulated host by its real name: Google's
    /// HTTPS hosts, the domain and every service's run.app hosts map to the HTTPS listener, `metadata.google.internal` to the
    /// HTTP one; only the local CA is trusted; no proxy; redirects are not followed (IAP's 302
    /// is an answer, not a detour).
    pub fn client_builder(&self) -> Result<reqwest::ClientBuilder, reqwest::Error> {
        let ca = reqwest::Certificate::from_pem(self.ca_pem.as_bytes())?;
        let mut builder = reqwest::Client::builder()
            .no_proxy()
            .tls_certs_only([ca])
            .redirect(reqwest::redirect::Policy::none());
        for host in GOOGLE_HOSTS {
            let addr = if host == METADATA_HOST {
                self.http_addr
            } else {
                self.https_addr
            };
            builder = builder.resolve(host, addr);
        }
        for service in self.state.config.topology.services() {
            let legacy = service.run_app_host().ok().map(|h| h.as_str());
            for host in legacy
                .into_iter()
                .chain([service.deterministic_run_app_host().as_str()])
            {
                builder = builder.resolve(host, self.https_addr);
            }
        }
        Ok(builder.resolve(&self.domain, self.https_addr))
    }

    /// Emails of the service accounts the emulator plays.
    pub fn service_accounts(&self) -> Vec<String> {
        self.state.accounts.emails().map(str::to_owned).collect()
    }

    /// Changes `service`'s ingress at run time; `false` when there is no such service.
    pub fn set_ingress(&self, service: &str, ingress: blueprint::Ingress) -> bool {
        self.state.services.set_ingress(service, ingress)
    }

    /// Grants `roles/run.invoker` on `service` to `member`; `false` when there is no such service.
    pub fn add_invoker(&self, service: &str, member: blueprint::Member) -> bool {
        self.state.services.add_invoker(service, member)
    }

    /// Revokes `roles/run.invoker` on `service` from `member`; `false` when there is no such
    /// service.
    pub fn remove_invoker(&self, service: &str, member: &blueprint::Member) -> bool {
        self.state.services.remove_invoker(service, member)
    }

    /// Grants `roles/iap.httpsResourceAccessor` on `service`'s backend service to `member`;
    /// `false` when there is no such service.
    pub fn add_iap_accessor(&self, service: &str, member: blueprint::Member) -> bool {
        self.state.services.add_iap_accessor(service, member)
    }

    /// Revokes `roles/iap.httpsResourceAccessor` on `service`'s backend service from `member`;
    /// `false` when there is no such service.
    pub fn remove_iap_accessor(&self, service: &str, member: &blueprint::Member) -> bool {
        self.state.services.remove_iap_accessor(service, member)
    }

    /// A Google OAuth access token for the person `email` with `scopes` (what `gcloud auth
    /// print-access-token` gives a signed-in user), remembered like every token the emulator
    /// issues so IAP can accept it (item 2). Valid for 3599 s.
    pub fn issue_access_token(&self, email: &str, scopes: &[&str]) -> String {
        let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
        issue_access_token(&self.state, email, &scopes)
    }

    /// Ends every IAP browser session, as a sign-out from Google does (item 36): cookies stop
    /// authenticating, AJAX requests get 401 and the refresh flow (item 19) starts. Returns how
    /// many sessions ended.
    pub fn end_browser_sessions(&self) -> usize {
        let ended = self.state.sign_ins.close_all_sessions();
        tracing::info!(ended, "mutation: IAP browser sessions ended");
        ended
    }

    /// Turns `service`'s Cloud Run invoker check on or off (`invokerIamDisabled`, items 39, 45);
    /// `false` when there is no such service.
    pub fn set_invoker_iam(&self, service: &str, check: blueprint::InvokerIamCheck) -> bool {
        self.state.services.set_invoker_iam(service, check)
    }

    /// Makes `service` take `delay` longer to answer (zero heals it); `false` when there is no
    /// such service.
    pub fn set_service_delay(&self, service: &str, delay: Duration) -> bool {
        self.state.services.set_delay(service, delay)
    }

    /// Makes a fresh key the signer of `issuer`'s ring; the old keys stay published unless
    /// `retire`. Returns the new kid.
    pub async fn rotate_keys(&self, issuer: Issuer, retire: bool) -> Result<String, StartError> {
        let state = self.state.clone();
        tokio::task::spawn_blocking(move || state.keys.rotate(issuer, retire))
            .await
            .map_err(|e| StartError::Task(e.to_string()))?
            .map_err(StartError::Keys)
    }

    /// Makes `issuer`'s key endpoints answer `status` (`None` heals them).
    pub fn set_key_fault(&self, issuer: Issuer, status: Option<axum::http::StatusCode>) {
        self.state.set_key_fault(issuer, status);
    }

    /// Stops accepting, lets in-flight requests finish for up to [`DRAIN_GRACE`], and waits
    /// for both listeners.
    pub async fn shutdown(self) -> io::Result<()> {
        self.handle.graceful_shutdown(Some(DRAIN_GRACE));
        let mut result = Ok(());
        for task in self.tasks {
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => result = result.and(Err(e)),
                Err(e) => result = result.and(Err(io::Error::other(e.to_string()))),
            }
        }
        tracing::info!("iap-lb-emulator stopped");
        result
    }
}

/// An access token for `email` (a person, or one of the project's service accounts) with
/// `scopes`; shared by [`RunningEmulator::issue_access_token`] and the admin route.
pub(crate) fn issue_access_token(state: &AppState, email: &str, scopes: &[String]) -> String {
    let email = email.to_ascii_lowercase();
    // A service account keeps its own unique id; a person gets the id the sign-in page gives.
    let user_id = match state.accounts.resolve(&email) {
        Some(account) => account.unique_id.clone(),
        None => crate::service_accounts::derived_unique_id(&email),
    };
    let kind = crate::services::PrincipalKind::of(&email, &state.accounts);
    state
        .access_tokens
        .issue(crate::access_tokens::AccessGrant {
            email,
            user_id,
            kind,
            scopes: scopes.to_vec(),
        })
}
