//! smoothie-service: parse the configuration, bind `0.0.0.0:$PORT`, serve until SIGTERM, drain.
//! The steps, exit codes and log lines are the chassis' ([`iap_service::main`]).

use std::process::ExitCode;

fn main() -> ExitCode {
    iap_service::main::<smoothie_service::SmoothieService>()
}
