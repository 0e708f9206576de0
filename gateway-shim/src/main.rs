//! gateway-shim's binary: parse, bind, serve, wait (style.md section 3). Exit 64 on bad
//! configuration, 1 if serving fails.
//!
//! The runtime fits the CPUs the process may use (`cloud_run::runtime`, which says why).

use std::process::ExitCode;

/// mimalloc, not glibc's malloc: a proxied request allocates and frees many small objects
/// (headers, futures, buffers), where glibc spent 14 % of the gateway's CPU (`_int_malloc`,
/// `malloc_consolidate`, `unlink_chunk`; perf on `bench/gateway.sh`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;
use gateway_shim::Gateway;
use gateway_shim::cli::Cli;

fn main() -> ExitCode {
    match cloud_run::runtime() {
        Ok(runtime) => runtime.block_on(run()),
        Err(e) => {
            eprintln!("gateway-shim: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> ExitCode {
    google_tokens::install_crypto_provider();
    let contract = match cloud_run::Contract::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("gateway-shim: {e}");
            return ExitCode::from(64);
        }
    };
    let cli = Cli::parse();
    let print_routes = cli.print_routes;
    let config = match cli.into_config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("gateway-shim: {e}");
            return ExitCode::from(64);
        }
    };
    if print_routes {
        print!("{}", config.api.routes());
        return ExitCode::SUCCESS;
    }
    if let Err(e) = cloud_run::init_logging(&contract) {
        eprintln!("gateway-shim: {e}");
        return ExitCode::from(64);
    }
    let gateway = match Gateway::new(config) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("gateway-shim: {e}");
            return ExitCode::from(64);
        }
    };
    for line in gateway.api().routes().to_string().lines() {
        tracing::info!(route = %line, "route");
    }
    let listener = match tokio::net::TcpListener::bind(contract.listen_addr()).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!(
                "gateway-shim: cannot listen on {}: {e}",
                contract.listen_addr()
            );
            return ExitCode::FAILURE;
        }
    };
    match gateway_shim::serve(listener, gateway, cloud_run::shutdown_signal()).await {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gateway-shim: {e}");
            ExitCode::FAILURE
        }
    }
}
