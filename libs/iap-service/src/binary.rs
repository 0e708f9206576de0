//! The thin `main` every sample service runs: parse the configuration, bind `0.0.0.0:$PORT`,
//! serve until SIGTERM, drain. Each failure before serving has its own exit status (sysexits.h),
//! so Cloud Run's logs and a test can tell a bad setting from a broken binary.

use std::process::ExitCode;

use crate::{AppState, Config, SampleService, StartError};

/// `EX_USAGE` from sysexits.h: the configuration is wrong.
pub const EX_USAGE: u8 = 64;
/// `EX_SOFTWARE`: the binary itself is broken (bad embedded data).
pub const EX_SOFTWARE: u8 = 70;
/// `EX_UNAVAILABLE`: a needed resource is missing (port taken, no CA bundle).
pub const EX_UNAVAILABLE: u8 = 69;

/// The whole body of a service's `main`: [`run_main`] on the runtime that fits the CPUs the
/// container may use ([`cloud_run::runtime`]: current-thread on Cloud Run's 1-vCPU instances).
pub fn main<S: SampleService>() -> ExitCode {
    match cloud_run::runtime() {
        Ok(runtime) => runtime.block_on(run_main::<S>()),
        Err(err) => {
            eprintln!("{}: cannot start the async runtime: {err}", S::NAME);
            ExitCode::from(EX_SOFTWARE)
        }
    }
}

/// Runs service `S` as a Cloud Run container until SIGTERM, on the caller's runtime.
pub async fn run_main<S: SampleService>() -> ExitCode {
    let name = S::NAME;
    // Flags and IAP_* first, so --help works without any environment.
    let config = match Config::try_parse_from::<S, _, _>(std::env::args_os()) {
        Ok(config) => config,
        // --help and --version print to stdout and exit 0.
        Err(err) if !err.use_stderr() => err.exit(),
        Err(err) => {
            let _ = err.print();
            return ExitCode::from(EX_USAGE);
        }
    };
    let contract = match cloud_run::Contract::from_env() {
        Ok(contract) => contract,
        Err(err) => {
            eprintln!("{name}: bad configuration: {err}");
            return ExitCode::from(EX_USAGE);
        }
    };
    if let Err(err) = cloud_run::init_logging(&contract) {
        eprintln!("{name}: cannot start logging: {err}");
        return ExitCode::from(EX_SOFTWARE);
    }
    let settings = match config.settings() {
        Ok(settings) => settings,
        Err(err) => {
            tracing::error!(error = %err, "bad configuration");
            eprintln!("{name}: bad configuration: {err}");
            return ExitCode::from(EX_USAGE);
        }
    };
    google_tokens::install_crypto_provider();

    let state = match AppState::<S>::new(settings) {
        Ok(state) => state,
        Err(err) => {
            tracing::error!(error = %err, "cannot start");
            return ExitCode::from(match err {
                StartError::Data { .. } => EX_SOFTWARE,
                _ => EX_UNAVAILABLE,
            });
        }
    };
    let listener = match tokio::net::TcpListener::bind(contract.listen_addr()).await {
        Ok(listener) => listener,
        Err(err) => {
            tracing::error!(address = %contract.listen_addr(), error = %err, "cannot bind");
            return ExitCode::from(EX_UNAVAILABLE);
        }
    };
    if let Ok(address) = listener.local_addr() {
        tracing::info!(
            %address,
            service = contract.service().unwrap_or(name),
            revision = contract.revision().unwrap_or("local"),
            "{name} bound"
        );
    }
    match crate::serve(listener, state, cloud_run::shutdown_signal()).await {
        Ok(drain) => {
            tracing::info!(?drain, "{name} stopped");
            ExitCode::SUCCESS
        }
        Err(err) => {
            tracing::error!(error = %err, "server failed");
            ExitCode::FAILURE
        }
    }
}
