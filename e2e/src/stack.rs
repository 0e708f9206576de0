//! The whole fortress in one process: smoothie-service and coffee-service, the emulator (every
//! Google box: load balancer, IAP, Cloud Run front end, metadata server, OIDC and Firebase), and
//! the gateway shim, each on `127.0.0.1` (random ports unless told otherwise), wired exactly as
//! production is wired:
//!
//! ```text
//! client --Firebase ID token--> gateway-shim --Google ID token (aud = IAP client)-->
//!   emulator: load balancer + IAP --> Cloud Run front end --> smoothie | coffee (in-process)
//! ```
//!
//! Start order, and why:
//!
//! 1. the issuers' keys (shared per process, [`IssuerKeys`]) and the emulator's listeners are
//!    made first, because the services must be told where IAP's keys are published (the
//!    emulator's host-prefix URL `http://127.0.0.1:PORT/www.gstatic.com/iap/verify/public_key-jwk`)
//!    before anything else starts;
//! 2. the services, each with its IAP audience from the topology and the recording layer around
//!    it ([`Recorder`]);
//! 3. the emulator, with the services' addresses as its upstreams and the keys from a key
//!    directory that is removed once they are read;
//! 4. the gateway shim in local mode: every outbound host to the emulator's HTTPS listener,
//!    only the emulator's CA trusted, the metadata server on the emulator's HTTP listener.
//!
//! [`Fortress::start`] returns once the emulator answers its health check: from then on every
//! listener accepts. Nothing waits on a timer.
//!
//! [`Fortress::shutdown`] stops everything and waits for the drains. Dropping a [`Fortress`]
//! stops the services and the gateway (their handles trigger a graceful shutdown) but not the
//! emulator, whose listeners live until the process ends: call `shutdown` for a stack that does
//! not live as long as the process.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use blueprint::{Topology, UpstreamAddr};
use cloud_run::LoopbackServer;
use iap_lb_emulator::{Config as EmulatorConfig, Emulator, Listeners, RunningEmulator};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::edit::{self, Edit};
use crate::keys::IssuerKeys;
use crate::recorder::{Recorder, Records, Seen};

/// The workspace root (`e2e/..`), where `fixtures/` and `target/` live.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Listening ports; `0` picks a free one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ports {
    pub gateway: u16,
    /// The emulator's plain HTTP listener: metadata server, `/_emulator/...`, host prefixes.
    pub emulator_http: u16,
    /// The emulator's HTTPS listener: the load balancer's domain, run.app hosts, Google hosts.
    pub emulator_https: u16,
}

impl Ports {
    /// Every port random: for tests.
    pub const RANDOM: Ports = Ports {
        gateway: 0,
        emulator_http: 0,
        emulator_https: 0,
    };
}

/// What to start: the two documents (text, so scenarios can vary them) and local knobs.
#[derive(Debug, Clone)]
pub struct StackConfig {
    /// `fortress.yaml` text and the name used in messages (its directory resolves relative
    /// paths).
    pub topology: (String, String),
    /// `openapi.yaml` text and its name.
    pub openapi: (String, String),
    pub ports: Ports,
    /// Where the emulator writes `ca.pem` (`None`: kept in memory only).
    pub state_dir: Option<PathBuf>,
    /// Scratch space for the emulator's key directory (removed after start).
    pub scratch_dir: PathBuf,
    /// Service accounts of the project beyond the topology's, e.g. a rogue one that holds no
    /// role anywhere.
    pub extra_service_accounts: Vec<String>,
}

/// The stack did not start. Each variant names the component.
#[derive(Debug, thiserror::Error)]
pub enum StackError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Edit(#[from] edit::EditError),
    #[error("topology: {0}")]
    Topology(#[from] blueprint::BlueprintError),
    #[error(transparent)]
    Keys(#[from] crate::keys::KeyDirError),
    #[error("{service}: {reason}")]
    Service { service: String, reason: String },
    #[error("emulator: {0}")]
    Emulator(String),
    #[error("gateway: {0}")]
    Gateway(String),
    #[error("listening on 127.0.0.1:{port}: {source}")]
    Listen { port: u16, source: std::io::Error },
    #[error("client: {0}")]
    Client(String),
    #[error("containers: {0}")]
    Containers(#[from] crate::containers::ContainerError),
}

/// The loopback address that plays a VM in the project's VPC network in-process: the emulator
/// counts direct run.app requests from it as internal traffic (`Config::internal_callers`), and
/// [`Fortress::vpc_client`] sends from it. Nothing listens on it. (The container runtime uses
/// the host's address on the internal network instead, `ContainerStack::vpc_address`.)
pub const VPC_ADDRESS: std::net::Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

/// The rogue account every stack knows: a service account of the project holding no role.
pub fn rogue_service_account(topology: &Topology) -> String {
    format!(
        "rogue-sa@{}.iam.gserviceaccount.com",
        topology.project().id().as_str()
    )
}

impl StackConfig {
    /// `fixtures/fortress.yaml` and `fixtures/openapi.yaml` as shipped, random ports.
    pub fn from_fixtures() -> Result<Self, StackError> {
        let root = workspace_root();
        let read = |name: &str| {
            let path = root.join("fixtures").join(name);
            std::fs::read_to_string(&path)
                .map(|text| (text, path.to_string_lossy().into_owned()))
                .map_err(|source| StackError::Read { path, source })
        };
        Ok(Self {
            topology: read("fortress.yaml")?,
            openapi: read("openapi.yaml")?,
            ports: Ports::RANDOM,
            state_dir: None,
            scratch_dir: root.join("target").join("e2e"),
            extra_service_accounts: Vec::new(),
        })
    }

    /// The same documents with `edits` applied to fortress.yaml and openapi.yaml.
    pub fn with_edits(
        mut self,
        topology_edits: &[Edit],
        openapi_edits: &[Edit],
    ) -> Result<Self, StackError> {
        if !topology_edits.is_empty() {
            let (text, name) = &self.topology;
            self.topology.0 = edit::apply(name, text, topology_edits)?;
        }
        if !openapi_edits.is_empty() {
            let (text, name) = &self.openapi;
            self.openapi.0 = edit::apply(name, text, openapi_edits)?;
        }
        Ok(self)
    }
}

/// One sample service, started in-process.
#[derive(Debug)]
pub struct RunningService {
    pub name: String,
    pub server: LoopbackServer,
    /// What the service received.
    pub recorder: Recorder,
}

/// Which runtime a stack runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Runtime {
    /// Every component a library in this process, on 127.0.0.1.
    #[default]
    InProcess,
    /// Every component in its own container (`crate::containers`).
    Containers,
}

/// The components themselves, in whichever runtime.
#[derive(Debug)]
pub enum Backend {
    InProcess {
        emulator: RunningEmulator,
        gateway: gateway_shim::Gateway,
    },
    Containers(Box<crate::containers::ContainerStack>),
}

/// A started fortress. Every address is on 127.0.0.1.
#[derive(Debug)]
pub struct Fortress {
    pub topology: Arc<Topology>,
    pub backend: Backend,
    pub gateway_addr: SocketAddr,
    /// The emulator's plain HTTP listener (metadata server, `/_emulator/...`).
    pub emulator_http: SocketAddr,
    /// The emulator's HTTPS listener (every emulated host).
    pub emulator_https: SocketAddr,
    /// The emulator's CA (PEM).
    pub ca_pem: String,
    /// The services, in-process only.
    pub services: Vec<RunningService>,
    /// What each service received, by service name (in either runtime).
    pub records: Vec<(String, Records)>,
    pub keys: Arc<IssuerKeys>,
    /// Reaches every emulated host by name (domain, run.app hosts, Google hosts) with only the
    /// emulator's CA trusted; never follows redirects; no proxy.
    pub client: reqwest::Client,
    /// The same, sending as a caller inside the project's VPC network: from [`VPC_ADDRESS`]
    /// in-process; in containers to the emulator's internal address, so from the host's
    /// address on the internal network (`ContainerStack::vpc_address`).
    pub vpc_client: reqwest::Client,
    /// From [`Fortress::start`] to ready.
    pub started_in: Duration,
    gateway_stop: Option<oneshot::Sender<()>>,
    gateway_task: Option<JoinHandle<()>>,
}

impl Fortress {
    /// Starts everything in `runtime` and returns once every listener accepts.
    pub async fn start_in(runtime: Runtime, config: StackConfig) -> Result<Self, StackError> {
        match runtime {
            Runtime::InProcess => Self::start(config).await,
            Runtime::Containers => Self::start_containers(config).await,
        }
    }

    /// Every component in its own container (`crate::containers`); ready when each is.
    pub async fn start_containers(config: StackConfig) -> Result<Self, StackError> {
        let begun = Instant::now();
        iap_lb_emulator::install_crypto_providers();
        let (topology_text, topology_name) = &config.topology;
        let topology = Arc::new(Topology::from_yaml_str(topology_text, topology_name)?);
        let keys = IssuerKeys::shared().await?;
        let mut service_accounts = vec![rogue_service_account(&topology)];
        service_accounts.extend(config.extra_service_accounts.iter().cloned());
        let stack =
            crate::containers::ContainerStack::start(crate::containers::stack::ContainerSpec {
                topology: &topology,
                topology_text,
                openapi_text: &config.openapi.0,
                keys: &keys,
                service_accounts,
            })
            .await?;
        let client = emulated_hosts_client(
            &topology,
            stack.emulator_http,
            stack.emulator_https,
            &stack.ca_pem,
        )
        .map_err(|e| StackError::Client(e.to_string()))?;
        let vpc_client = emulated_hosts_client(
            &topology,
            SocketAddr::new(stack.emulator_internal, crate::containers::stack::PORT),
            SocketAddr::new(
                stack.emulator_internal,
                crate::containers::stack::HTTPS_PORT,
            ),
            &stack.ca_pem,
        )
        .map_err(|e| StackError::Client(e.to_string()))?;
        let records_client = reqwest::Client::builder()
            .no_proxy()
            .tls_certs_only([])
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| StackError::Client(e.to_string()))?;
        let records = stack
            .recorders
            .iter()
            .map(|(name, addr)| {
                (
                    name.clone(),
                    Records::Proxy {
                        addr: *addr,
                        client: records_client.clone(),
                    },
                )
            })
            .collect();
        Ok(Self {
            topology,
            gateway_addr: stack.gateway_addr,
            emulator_http: stack.emulator_http,
            emulator_https: stack.emulator_https,
            ca_pem: stack.ca_pem.clone(),
            backend: Backend::Containers(Box::new(stack)),
            services: Vec::new(),
            records,
            keys,
            vpc_client,
            client,
            started_in: begun.elapsed(),
            gateway_stop: None,
            gateway_task: None,
        })
    }

    /// Starts everything in-process and returns once every listener accepts.
    pub async fn start(config: StackConfig) -> Result<Self, StackError> {
        let begun = Instant::now();
        iap_lb_emulator::install_crypto_providers();
        let (topology_text, topology_name) = &config.topology;
        let topology = Arc::new(Topology::from_yaml_str(topology_text, topology_name)?);
        let keys = IssuerKeys::shared().await?;

        // 1. The emulator's listeners first: the services need its key URL.
        let listeners = Listeners::bind(
            SocketAddr::from((Ipv4Addr::LOCALHOST, config.ports.emulator_http)),
            SocketAddr::from((Ipv4Addr::LOCALHOST, config.ports.emulator_https)),
        )
        .map_err(|e| StackError::Emulator(format!("binding listeners: {e}")))?;
        let http_addr = listeners
            .http
            .local_addr()
            .map_err(|e| StackError::Emulator(e.to_string()))?;
        let jwk_url = iap_assertion::Url::parse(&format!(
            "http://{http_addr}/www.gstatic.com/iap/verify/public_key-jwk"
        ))
        .map_err(|e| StackError::Emulator(e.to_string()))?;

        // 2. The services, behind their recorders.
        let mut services = Vec::new();
        for service in topology.services() {
            let name = service.name().as_str().to_string();
            let fail = |reason: String| StackError::Service {
                service: name.clone(),
                reason,
            };
            let audience = iap_assertion::IapAudience::parse(service.iap_audience().as_str())
                .map_err(|e| fail(e.to_string()))?;
            let recorder = Recorder::default();
            let app = match name.as_str() {
                "smoothie-service" => {
                    let settings = smoothie_service::Settings::enforce(audience, jwk_url.clone());
                    smoothie_service::app(
                        smoothie_service::AppState::new(settings)
                            .map_err(|e| fail(e.to_string()))?,
                    )
                }
                "coffee-service" => {
                    let settings = coffee_service::Settings::enforce(audience, jwk_url.clone());
                    coffee_service::app(
                        coffee_service::AppState::new(settings).map_err(|e| fail(e.to_string()))?,
                    )
                }
                other => {
                    return Err(fail(format!(
                        "the in-process stack knows smoothie-service and coffee-service, not {other:?}"
                    )));
                }
            };
            let server = LoopbackServer::start(recorder.wrap(app))
                .await
                .map_err(|e| fail(e.to_string()))?;
            services.push(RunningService {
                name,
                server,
                recorder,
            });
        }

        // 3. The emulator, keys from a directory that exists only while they are read.
        let mut emulator_config = EmulatorConfig::new(topology.clone());
        let key_dir = config
            .scratch_dir
            .join(format!("keys-{}", uuid::Uuid::new_v4().simple()));
        keys.write_key_dir(&key_dir)?;
        emulator_config.keys = iap_lb_emulator::KeySource::Directory(key_dir.clone());
        emulator_config.state_dir = config.state_dir.clone();
        emulator_config.internal_callers = vec![std::net::IpAddr::V4(VPC_ADDRESS)];
        for s in &services {
            let addr = UpstreamAddr::parse(&s.server.addr().to_string())
                .map_err(|e| StackError::Emulator(e.to_string()))?;
            emulator_config.upstreams.push((s.name.clone(), addr));
        }
        let mut extras = vec![rogue_service_account(&topology)];
        extras.extend(config.extra_service_accounts.iter().cloned());
        emulator_config.extra_service_accounts = extras
            .into_iter()
            .map(iap_lb_emulator::ServiceAccount::new)
            .collect();
        let started = Emulator::start_with(emulator_config, listeners).await;
        let _ = std::fs::remove_dir_all(&key_dir);
        let emulator = started.map_err(|e| StackError::Emulator(e.to_string()))?;

        // 4. The gateway shim in local mode.
        let service_name = gateway_shim::ServiceName::parse(topology.gateway().managed_service())
            .map_err(StackError::Gateway)?;
        let (openapi_text, openapi_name) = &config.openapi;
        let api = gateway_shim::ApiConfig::from_text(openapi_text, openapi_name, &service_name)
            .map_err(|e| StackError::Gateway(e.to_string()))?;
        let gateway = gateway_shim::Gateway::new(gateway_shim::Config {
            api,
            outbound: gateway_shim::Outbound::Emulator {
                address: emulator.https_addr,
                ca_pem: emulator.ca_pem.clone(),
            },
            metadata_host: gateway_shim::MetadataHost::parse(&emulator.metadata_host())
                .map_err(StackError::Gateway)?,
            generated_header_prefix: gateway_shim::HeaderPrefix::parse(
                gateway_shim::HeaderPrefix::API_GATEWAY,
            )
            .map_err(StackError::Gateway)?,
            api_keys: gateway_shim::ApiKeyCheck::PresenceOnly,
            max_request_bytes: gateway_shim::API_GATEWAY_MAX_REQUEST_BYTES,
            jwks: google_tokens::JwksClientOptions::google_defaults(),
        })
        .map_err(|e| StackError::Gateway(e.to_string()))?;
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, config.ports.gateway))
            .await
            .map_err(|source| StackError::Listen {
                port: config.ports.gateway,
                source,
            })?;
        let gateway_addr = listener.local_addr().map_err(|source| StackError::Listen {
            port: config.ports.gateway,
            source,
        })?;
        let (gateway_stop, stopped) = oneshot::channel::<()>();
        let serving = gateway.clone();
        let gateway_task = tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.await;
            };
            if let Err(e) = gateway_shim::serve(listener, serving, shutdown).await {
                tracing::error!(error = %e, "gateway-shim stopped with an error");
            }
        });

        let client = emulator
            .client_builder()
            .and_then(reqwest::ClientBuilder::build)
            .map_err(|e| StackError::Client(e.to_string()))?;
        let vpc_client = emulator
            .client_builder()
            .and_then(|b| b.local_address(std::net::IpAddr::V4(VPC_ADDRESS)).build())
            .map_err(|e| StackError::Client(e.to_string()))?;

        // Ready: the emulator answers (the other listeners were bound before it started).
        let health = client
            .get(emulator.http_url("/_emulator/health"))
            .send()
            .await
            .map_err(|e| StackError::Emulator(format!("health check: {e}")))?;
        if !health.status().is_success() {
            return Err(StackError::Emulator(format!(
                "health check answered {}",
                health.status()
            )));
        }

        Ok(Self {
            topology,
            emulator_http: emulator.http_addr,
            emulator_https: emulator.https_addr,
            ca_pem: emulator.ca_pem.clone(),
            backend: Backend::InProcess { emulator, gateway },
            gateway_addr,
            records: services
                .iter()
                .map(|s| (s.name.clone(), Records::InProcess(s.recorder.clone())))
                .collect(),
            services,
            keys,
            client,
            vpc_client,
            started_in: begun.elapsed(),
            gateway_stop: Some(gateway_stop),
            gateway_task: Some(gateway_task),
        })
    }

    /// `http://127.0.0.1:PORT` of the gateway (API Gateway's `https://...gateway.dev` locally).
    pub fn gateway_url(&self) -> String {
        format!("http://{}", self.gateway_addr)
    }

    /// `https://DOMAIN` (reached through [`Fortress::client`]'s name mapping).
    pub fn load_balancer_url(&self) -> String {
        format!("https://{}", self.topology.domain().as_str())
    }

    /// `http://127.0.0.1:PORT` of the emulator's plain listener.
    pub fn emulator_url(&self) -> String {
        format!("http://{}", self.emulator_http)
    }

    /// `http://127.0.0.1:PORT/PATH` on the emulator's plain listener.
    pub fn emulator_http_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.emulator_http)
    }

    /// The in-process emulator, if this stack runs in-process.
    pub fn in_process_emulator(&self) -> Option<&RunningEmulator> {
        match &self.backend {
            Backend::InProcess { emulator, .. } => Some(emulator),
            Backend::Containers(_) => None,
        }
    }

    /// The container stack, if this stack runs in containers.
    pub fn containers(&self) -> Option<&crate::containers::ContainerStack> {
        match &self.backend {
            Backend::Containers(stack) => Some(stack),
            Backend::InProcess { .. } => None,
        }
    }

    /// Changes the emulated project: directly in-process, through the emulator's admin API
    /// (`/_emulator/...`) in containers.
    pub async fn change(&self, change: Change) -> Result<(), String> {
        if let Some(emulator) = self.in_process_emulator() {
            let found = match change {
                Change::Ingress(service, ingress) => emulator.set_ingress(&service, ingress),
                Change::AddInvoker(service, m) => emulator.add_invoker(&service, m),
                Change::RemoveInvoker(service, m) => emulator.remove_invoker(&service, &m),
                Change::AddIapAccessor(service, m) => emulator.add_iap_accessor(&service, m),
                Change::RemoveIapAccessor(service, m) => emulator.remove_iap_accessor(&service, &m),
                Change::Delay(service, delay) => emulator.set_service_delay(&service, delay),
                Change::Rotate(issuer, retire) => {
                    return emulator
                        .rotate_keys(issuer, retire)
                        .await
                        .map(drop)
                        .map_err(|e| e.to_string());
                }
                Change::KeyFault(issuer, status) => {
                    emulator.set_key_fault(issuer, Some(status));
                    true
                }
            };
            return found
                .then_some(())
                .ok_or_else(|| "the topology has no such service".to_string());
        }
        let (method, path, body) = change.admin_request();
        let url = self.emulator_http_url(&path);
        let response = self
            .client
            .request(method, &url)
            .json(&body)
            .send()
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let text = response.text().await.unwrap_or_default();
        Err(format!("{url} answered {status}: {}", text.trim()))
    }

    /// The run.app URL of `service` (the legacy `NAME-HASH-REGIONCODE.a.run.app` form, which
    /// `gcloud run services describe` prints).
    pub fn run_app_url(&self, service: &str) -> Option<String> {
        let s = self.topology.service(service)?;
        Some(
            s.run_app_url()
                .unwrap_or_else(|_| s.deterministic_run_app_host().url()),
        )
    }

    /// A service started in this stack (in-process only).
    pub fn service(&self, name: &str) -> Option<&RunningService> {
        self.services.iter().find(|s| s.name == name)
    }

    /// The names of the services whose requests are recorded.
    pub fn recorded_services(&self) -> impl Iterator<Item = &str> {
        self.records.iter().map(|(name, _)| name.as_str())
    }

    /// What `service` received with probe id `probe`, in either runtime.
    pub async fn seen(&self, service: &str, probe: &str) -> Result<Vec<Seen>, String> {
        let (_, records) = self
            .records
            .iter()
            .find(|(name, _)| name == service)
            .ok_or_else(|| format!("the fortress runs no service {service:?}"))?;
        records.seen(probe).await
    }

    /// Stops every component and waits for the gateway and the emulator to drain.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.gateway_stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.gateway_task.take() {
            let _ = task.await;
        }
        for s in std::mem::take(&mut self.services) {
            let _ = s.server.shutdown().await;
        }
        match self.backend {
            Backend::InProcess { emulator, .. } => {
                let _ = emulator.shutdown().await;
            }
            Backend::Containers(stack) => (*stack).shutdown().await,
        }
    }
}

/// A change to the emulated project.
#[derive(Debug, Clone)]
pub enum Change {
    Ingress(String, blueprint::Ingress),
    AddInvoker(String, blueprint::Member),
    RemoveInvoker(String, blueprint::Member),
    AddIapAccessor(String, blueprint::Member),
    RemoveIapAccessor(String, blueprint::Member),
    Delay(String, Duration),
    Rotate(iap_lb_emulator::Issuer, bool),
    KeyFault(iap_lb_emulator::Issuer, http::StatusCode),
}

impl Change {
    /// The emulator admin API request that makes this change.
    fn admin_request(&self) -> (reqwest::Method, String, serde_json::Value) {
        use serde_json::json;
        let svc = |s: &str, what: &str| format!("/_emulator/services/{s}/{what}");
        match self {
            Self::Ingress(s, i) => (
                reqwest::Method::PUT,
                svc(s, "ingress"),
                json!({"ingress": i.as_gcloud()}),
            ),
            Self::AddInvoker(s, m) => (
                reqwest::Method::POST,
                svc(s, "invokers"),
                json!({"add": m.to_string()}),
            ),
            Self::RemoveInvoker(s, m) => (
                reqwest::Method::POST,
                svc(s, "invokers"),
                json!({"remove": m.to_string()}),
            ),
            Self::AddIapAccessor(s, m) => (
                reqwest::Method::POST,
                svc(s, "iap-accessors"),
                json!({"add": m.to_string()}),
            ),
            Self::RemoveIapAccessor(s, m) => (
                reqwest::Method::POST,
                svc(s, "iap-accessors"),
                json!({"remove": m.to_string()}),
            ),
            Self::Delay(s, d) => (
                reqwest::Method::PUT,
                svc(s, "delay"),
                json!({"millis": u64::try_from(d.as_millis()).unwrap_or(u64::MAX)}),
            ),
            Self::Rotate(issuer, retire) => (
                reqwest::Method::POST,
                format!("/_emulator/keys/{}/rotate?retire={retire}", issuer.as_str()),
                json!({}),
            ),
            Self::KeyFault(issuer, status) => (
                reqwest::Method::PUT,
                format!("/_emulator/keys/{}/fault", issuer.as_str()),
                json!({"status": status.as_u16()}),
            ),
        }
    }
}

/// A client that reaches every emulated host by name at the emulator's addresses (the metadata
/// server at `http`, everything else at `https`), trusting only `ca_pem`.
pub fn emulated_hosts_client(
    topology: &Topology,
    http: SocketAddr,
    https: SocketAddr,
    ca_pem: &str,
) -> Result<reqwest::Client, reqwest::Error> {
    let ca = reqwest::Certificate::from_pem(ca_pem.as_bytes())?;
    let mut builder = reqwest::Client::builder()
        .no_proxy()
        .tls_certs_only([ca])
        .redirect(reqwest::redirect::Policy::none());
    for host in iap_lb_emulator::host::GOOGLE_HOSTS {
        let addr = if host == iap_lb_emulator::host::METADATA_HOST {
            http
        } else {
            https
        };
        builder = builder.resolve(host, addr);
    }
    for service in topology.services() {
        let legacy = service.run_app_host().ok().map(|h| h.as_str().to_string());
        for host in legacy
            .into_iter()
            .chain([service.deterministic_run_app_host().as_str().to_string()])
        {
            builder = builder.resolve(&host, https);
        }
    }
    builder.resolve(topology.domain().as_str(), https).build()
}
