//! `iap-lb-emulator`: parse the command line, bind, serve, wait for SIGTERM or Ctrl-C, drain.
//!
//! Until `libs/blueprint` lands the project is given by flags; then `--topology` replaces them.
//! A bad setting exits with status 64 (EX_USAGE) and a message naming the field.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use iap_lb_emulator::{
    ApiKeys, Config, EmailPrivacy, Emulator, Firebase, KeySource, Listeners, Project,
    ServiceAccount, StartError,
};

/// Plays every Google box between fortress's gateway and its services.
#[derive(Debug, Parser)]
#[command(name = "iap-lb-emulator", version)]
struct Cli {
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
    #[arg(long, default_value = "my-project")]
    project_id: String,
    #[arg(long, default_value_t = 123456789012)]
    project_number: u64,
    #[arg(long, default_value = "us-central1")]
    region: String,
    /// The load balancer's domain.
    #[arg(long, default_value = "api.myawesomeapp.com")]
    domain: String,
    /// The metadata server's default service account.
    #[arg(
        long,
        default_value = "my-gateway-sa@my-project.iam.gserviceaccount.com"
    )]
    default_service_account: String,
    /// Further service accounts (repeatable).
    #[arg(long = "service-account")]
    service_accounts: Vec<String>,
    /// Firebase project id (default: the project id).
    #[arg(long)]
    firebase_project_id: Option<String>,
    /// Accepted Firebase API keys (repeatable). None given: any non-empty key (relaxed).
    #[arg(long = "firebase-api-key")]
    firebase_api_keys: Vec<String>,
    /// Turn email-enumeration protection off (relaxed; older projects' behaviour).
    #[arg(long)]
    legacy_email_errors: bool,
    /// max-age of the key endpoints' Cache-Control, in seconds.
    #[arg(long, default_value_t = 3600)]
    key_cache_max_age: u64,
}

impl Cli {
    fn config(&self) -> Config {
        Config {
            project: Project {
                id: self.project_id.clone(),
                number: self.project_number,
                region: self.region.clone(),
            },
            domain: self.domain.clone(),
            default_service_account: ServiceAccount::new(&self.default_service_account),
            other_service_accounts: self
                .service_accounts
                .iter()
                .map(ServiceAccount::new)
                .collect(),
            firebase: Firebase {
                project_id: self
                    .firebase_project_id
                    .clone()
                    .unwrap_or_else(|| self.project_id.clone()),
                project_number: self.project_number,
                api_keys: if self.firebase_api_keys.is_empty() {
                    ApiKeys::AnyNonEmpty
                } else {
                    ApiKeys::Only(self.firebase_api_keys.clone())
                },
                email_privacy: if self.legacy_email_errors {
                    EmailPrivacy::Legacy
                } else {
                    EmailPrivacy::EnumerationProtection
                },
            },
            keys: match &self.key_dir {
                Some(dir) => KeySource::Directory(dir.clone()),
                None => KeySource::Generate,
            },
            state_dir: self.state_dir.clone(),
            key_cache_max_age: Duration::from_secs(self.key_cache_max_age),
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let cli = Cli::parse();
    let listeners = match Listeners::bind(cli.http_listen, cli.https_listen) {
        Ok(l) => l,
        Err(err) => {
            tracing::error!(error = %err, http = %cli.http_listen, https = %cli.https_listen, "cannot bind");
            return ExitCode::from(71);
        }
    };
    let running = match Emulator::start_with(cli.config(), listeners).await {
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
    shutdown_signal().await;
    match running.shutdown().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, "shutdown failed");
            ExitCode::FAILURE
        }
    }
}
