//! `iap-lb-emulator`: parse the command line, bind, serve, wait for SIGTERM or Ctrl-C, drain.
//!
//! The project comes from the topology file (`--topology`, default `fixtures/fortress.yaml`); the
//! flags only set what has no production counterpart. A bad topology or setting exits with
//! status 64 (EX_USAGE) and a message naming the file and the field.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use iap_lb_emulator::blueprint::{Topology, UpstreamAddr};
use iap_lb_emulator::{
    ApiKeys, Config, EmailPrivacy, Emulator, IapAccessTokens, IngressRefusal, KeySource, Listeners,
    ServiceAccount, StartError,
};

/// Plays every Google box between fortress's gateway and its services.
#[derive(Debug, Parser)]
#[command(name = "iap-lb-emulator", version)]
struct Cli {
    /// The topology file: project, domain, services, IAP, gateway, Firebase.
    #[arg(
        long,
        env = "FORTRESS_TOPOLOGY",
        default_value = "fixtures/fortress.yaml"
    )]
    topology: PathBuf,
    /// Plain HTTP listener (metadata server, host-prefixed routes).
    #[arg(long, env = "IAP_LB_EMULATOR_HTTP", default_value = "127.0.0.1:8080")]
    http_listen: SocketAddr,
    /// HTTPS listener (every host by name, local CA).
    #[arg(long, env = "IAP_LB_EMULATOR_HTTPS", default_value = "127.0.0.1:8443")]
    https_listen: SocketAddr,
    /// Directory where ca.pem is written.
    #[arg(long, env = "IAP_LB_EMULATOR_STATE_DIR")]
    state_dir: Option<PathBuf>,
    /// Directory of PKCS#8 PEM keys: google/, securetoken/, iap/ (kid = file stem).
    #[arg(long, env = "IAP_LB_EMULATOR_KEY_DIR")]
    key_dir: Option<PathBuf>,
    /// A service account beyond the topology's (repeatable), e.g. for attack scenarios.
    #[arg(long = "service-account")]
    service_accounts: Vec<String>,
    /// Where a service listens, NAME=HOST:PORT (repeatable; overrides local.upstreams).
    #[arg(long = "upstream", value_parser = parse_upstream)]
    upstreams: Vec<(String, UpstreamAddr)>,
    /// Accept only these Firebase API keys (repeatable). Default: any non-empty key (relaxed).
    #[arg(long = "firebase-api-key")]
    firebase_api_keys: Vec<String>,
    /// Accept only the topology's firebase.webApiKey.
    #[arg(long, conflicts_with = "firebase_api_keys")]
    check_web_api_key: bool,
    /// Turn email-enumeration protection off (relaxed; older projects' behaviour).
    #[arg(long)]
    legacy_email_errors: bool,
    /// max-age of the key endpoints' Cache-Control, in seconds.
    #[arg(long, default_value_t = 3600)]
    key_cache_max_age: u64,
    /// Status of Cloud Run's ingress refusal: 404 (Google's observed answer) or 403.
    #[arg(long, default_value = "404", value_parser = ["404", "403"])]
    ingress_refusal: String,
    /// Whether IAP accepts OAuth access tokens with the openid and userinfo.email scopes:
    /// accept (the newest Google documentation; default) or refuse (older documentation).
    #[arg(long, default_value = "accept", value_parser = ["accept", "refuse"])]
    iap_access_tokens: String,
    /// A peer address whose direct run.app requests count as internal traffic (repeatable).
    #[arg(long = "internal-caller")]
    internal_callers: Vec<std::net::IpAddr>,
    /// A person the emulated Google sign-in page offers for IAP's browser flow (repeatable), on
    /// top of the topology's local.testUsers.
    #[arg(long = "test-user")]
    test_users: Vec<String>,
    /// Seconds a service may take before Cloud Run's 504.
    #[arg(long, default_value_t = 300)]
    request_timeout: u64,
}

fn parse_upstream(s: &str) -> Result<(String, UpstreamAddr), String> {
    let (name, addr) = s
        .split_once('=')
        .ok_or_else(|| format!("expected NAME=HOST:PORT, found {s:?}"))?;
    let addr = UpstreamAddr::parse(addr).map_err(|e| e.to_string())?;
    Ok((name.to_string(), addr))
}

impl Cli {
    fn config(&self, topology: Topology) -> Config {
        let web_api_key = topology.firebase().web_api_key().to_string();
        let mut config = Config::new(topology);
        config.extra_service_accounts = self
            .service_accounts
            .iter()
            .map(ServiceAccount::new)
            .collect();
        config.upstreams = self.upstreams.clone();
        config.firebase_api_keys = if self.check_web_api_key {
            ApiKeys::Only(vec![web_api_key])
        } else if self.firebase_api_keys.is_empty() {
            ApiKeys::AnyNonEmpty
        } else {
            ApiKeys::Only(self.firebase_api_keys.clone())
        };
        config.email_privacy = if self.legacy_email_errors {
            EmailPrivacy::Legacy
        } else {
            EmailPrivacy::EnumerationProtection
        };
        config.keys = match &self.key_dir {
            Some(dir) => KeySource::Directory(dir.clone()),
            None => KeySource::Generate,
        };
        config.state_dir = self.state_dir.clone();
        config.key_cache_max_age = Duration::from_secs(self.key_cache_max_age);
        config.ingress_refusal = if self.ingress_refusal == "403" {
            IngressRefusal::Forbidden
        } else {
            IngressRefusal::NotFound
        };
        config.iap_access_tokens = if self.iap_access_tokens == "refuse" {
            IapAccessTokens::Refused
        } else {
            IapAccessTokens::Accepted
        };
        config.internal_callers = self.internal_callers.clone();
        config.request_timeout = Duration::from_secs(self.request_timeout);
        for user in &self.test_users {
            if !config
                .test_users
                .iter()
                .any(|u| u.eq_ignore_ascii_case(user))
            {
                config.test_users.push(user.clone());
            }
        }
        config
    }
}

/// mimalloc, not glibc's malloc: every proxied request allocates and frees many small objects
/// (headers, futures, buffers); glibc's allocator was 14 % of gateway-shim's CPU on the same
/// kind of work (perf on `gateway-shim/bench/gateway.sh`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    match cloud_run::runtime() {
        Ok(runtime) => runtime.block_on(run()),
        Err(err) => {
            eprintln!("iap-lb-emulator: cannot start the async runtime: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> ExitCode {
    // Cloud Logging JSON on stdout, RUST_LOG filter: the same lines as every fortress binary.
    let contract = match cloud_run::Contract::from_env() {
        Ok(contract) => contract,
        Err(err) => {
            eprintln!("iap-lb-emulator: {err}");
            return ExitCode::from(64);
        }
    };
    if let Err(err) = cloud_run::init_logging(&contract) {
        eprintln!("iap-lb-emulator: {err}");
        return ExitCode::from(70);
    }
    let cli = Cli::parse();
    let topology = match Topology::load(&cli.topology) {
        Ok(topology) => topology,
        Err(err) => {
            // The message names the file, the line, the field and what was expected.
            tracing::error!(error = %err, "bad topology");
            return ExitCode::from(64);
        }
    };
    let listeners = match Listeners::bind(cli.http_listen, cli.https_listen) {
        Ok(l) => l,
        Err(err) => {
            tracing::error!(error = %err, http = %cli.http_listen, https = %cli.https_listen, "cannot bind");
            return ExitCode::from(71);
        }
    };
    let running = match Emulator::start_with(cli.config(topology), listeners).await {
        Ok(running) => running,
        Err(err @ StartError::Config(_)) => {
            tracing::error!(error = %err, "bad configuration");
            return ExitCode::from(64);
        }
        Err(err) => {
            tracing::error!(error = %err, "cannot start");
            return ExitCode::from(70);
        }
    };
    cloud_run::shutdown_signal().await;
    match running.shutdown().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, "shutdown failed");
            ExitCode::FAILURE
        }
    }
}
