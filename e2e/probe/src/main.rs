//! `fortress-probe`: the e2e container runtime's helper, a static binary alone in a
//! `FROM scratch` image (e2e/src/containers). Two modes:
//!
//! - `connect HOST:PORT [TIMEOUT_MS]` ([`connect`]): one TCP connect from a container on one of
//!   the stack's networks, for the scenarios that prove a service is invisible from the client
//!   side;
//! - `record PORT UPSTREAM ADMIN_PORT` ([`record`]): a recording reverse proxy that holds a
//!   service's host name on the internal network, so the harness can read what the service
//!   received, as the in-process stack's recording layer (e2e/src/recorder.rs) lets it.
//!
//! Exit status 2 for a usage error.

mod connect;
mod record;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.split_first() {
        Some((cmd, rest)) if cmd == "connect" => connect::run(rest),
        Some((cmd, rest)) if cmd == "record" => record::run(rest),
        _ => usage(),
    }
}

fn usage() -> ExitCode {
    eprintln!(
        "usage: fortress-probe connect HOST:PORT [TIMEOUT_MS]\n       \
         fortress-probe record PORT UPSTREAM_HOST:PORT ADMIN_PORT"
    );
    ExitCode::from(2)
}
