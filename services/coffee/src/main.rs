//! coffee-service: parse the configuration, bind `0.0.0.0:$PORT`, serve until SIGTERM, drain.

use std::process::ExitCode;

use clap::Parser;
use coffee_service::{AppState, Config};

/// `EX_USAGE` from sysexits.h: the configuration is wrong.
const EX_USAGE: u8 = 64;
/// `EX_SOFTWARE`: the binary itself is broken (bad embedded data).
const EX_SOFTWARE: u8 = 70;
/// `EX_UNAVAILABLE`: a needed resource is missing (port taken, no CA bundle).
const EX_UNAVAILABLE: u8 = 69;

#[tokio::main]
async fn main() -> ExitCode {
    // Flags and IAP_* first, so --help works without any environment.
    let config = match Config::try_parse() {
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
            eprintln!("coffee-service: bad configuration: {err}");
            return ExitCode::from(EX_USAGE);
        }
    };
    if let Err(err) = cloud_run::init_logging(&contract) {
        eprintln!("coffee-service: cannot start logging: {err}");
        return ExitCode::from(EX_SOFTWARE);
    }
    let settings = match config.settings() {
        Ok(settings) => settings,
        Err(err) => {
            tracing::error!(error = %err, "bad configuration");
            eprintln!("coffee-service: bad configuration: {err}");
            return ExitCode::from(EX_USAGE);
        }
    };
    google_tokens::install_crypto_provider();

    let state = match AppState::new(settings) {
        Ok(state) => state,
        Err(err) => {
            tracing::error!(error = %err, "cannot start");
            return ExitCode::from(match err {
                coffee_service::StartError::Data(_) => EX_SOFTWARE,
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
            service = contract.service().unwrap_or("coffee-service"),
            revision = contract.revision().unwrap_or("local"),
            "coffee-service bound"
        );
    }
    match coffee_service::serve(listener, state, cloud_run::shutdown_signal()).await {
        Ok(drain) => {
            tracing::info!(?drain, "coffee-service stopped");
            ExitCode::SUCCESS
        }
        Err(err) => {
            tracing::error!(error = %err, "server failed");
            ExitCode::FAILURE
        }
    }
}
