//! `fortress-probe connect HOST:PORT [TIMEOUT_MS]`: one TCP connect from wherever this runs
//! (a container on one of the e2e container runtime's networks), printed as one JSON line:
//!
//! ```text
//! {"target":"smoothie-service:8080","result":"unresolved","millis":3,"error":"..."}
//! ```
//!
//! `result` is `connected`, `refused`, `timeout`, `unresolved` or `error`. Exit status 0 once a
//! result is printed (whatever it is), 2 for a usage error. Standard library only (no runtime):
//! the isolation scenarios start one of these per target.

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Runs `connect` with its arguments (after the word `connect`).
pub fn run(args: &[String]) -> ExitCode {
    let (target, timeout) = match args {
        [target] => (target.clone(), 1500),
        [target, ms] => match ms.parse::<u64>() {
            Ok(ms) => (target.clone(), ms),
            Err(_) => return crate::usage(),
        },
        _ => return crate::usage(),
    };
    let started = Instant::now();
    let (result, error) = connect(&target, Duration::from_millis(timeout));
    println!(
        "{{\"target\":{},\"result\":\"{result}\",\"millis\":{},\"error\":{}}}",
        quote(&target),
        started.elapsed().as_millis(),
        quote(&error)
    );
    ExitCode::SUCCESS
}

/// Resolves and connects, the whole within `timeout` (Docker's DNS on an internal network
/// waits ~10 s on its unreachable upstream servers before answering that a name is unknown).
fn connect(target: &str, timeout: Duration) -> (&'static str, String) {
    let started = Instant::now();
    let (tx, rx) = std::sync::mpsc::channel();
    let name = target.to_string();
    std::thread::spawn(move || {
        let _ = tx.send(
            name.to_socket_addrs()
                .map(Iterator::collect::<Vec<SocketAddr>>),
        );
    });
    let addrs = match rx.recv_timeout(timeout) {
        Ok(Ok(a)) => a,
        Ok(Err(e)) => return ("unresolved", e.to_string()),
        Err(_) => return ("timeout", "name resolution timed out".into()),
    };
    let timeout = timeout
        .saturating_sub(started.elapsed())
        .max(Duration::from_millis(1));
    let Some(addr) = addrs.first() else {
        return ("unresolved", "no address".into());
    };
    match TcpStream::connect_timeout(addr, timeout) {
        Ok(_) => ("connected", String::new()),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => ("refused", e.to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => ("timeout", e.to_string()),
        Err(e) => ("error", e.to_string()),
    }
}

/// A JSON string literal.
fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_json() {
        assert_eq!(quote("a\"b\\c\n"), "\"a\\\"b\\\\c\\u000a\"");
    }

    #[test]
    fn unresolvable_names_say_so() {
        let (result, _) = connect("no-such-host.invalid:1", Duration::from_millis(200));
        assert_eq!(result, "unresolved");
    }

    #[test]
    fn a_closed_port_is_refused() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listener");
        let addr = listener.local_addr().expect("listener");
        drop(listener);
        let (result, _) = connect(&addr.to_string(), Duration::from_millis(500));
        assert_eq!(result, "refused");
    }
}
