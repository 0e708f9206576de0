//! coffee-service: parse the configuration, bind `0.0.0.0:$PORT`, serve until SIGTERM, drain.
//! The steps, exit codes and log lines are the chassis' ([`iap_service::run_main`]).

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    iap_service::run_main::<coffee_service::CoffeeService>().await
}
