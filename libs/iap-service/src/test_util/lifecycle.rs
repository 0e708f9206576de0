//! The process lifecycle every sample service passes, written once: graceful shutdown (a request
//! in flight when shutdown starts still gets its answer), in-process and as the real binary after
//! SIGTERM, and start-up failures (exit codes and messages). Each service's `tests/api` calls
//! these with its binary (`env!("CARGO_BIN_EXE_<name>")`) and a request it answers.
//!
//! The request is held in flight without a slow route in the service: the IAP key server is
//! gated, so the first request waits inside the IAP check (fetching keys) until the test lets
//! the key server answer. Synchronisation is by events (the key server saw the fetch; the port
//! refuses connections), never by sleeping a fixed time.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::task::JoinHandle;

use super::{AUDIENCE, KeyServer, TestApp, http_client, iap_assertion, json};
use crate::SampleService;

/// Bounded wait for an event that should come quickly.
const EVENT_TIMEOUT: Duration = Duration::from_secs(15);

/// Polls `addr` until a connection is `wanted` (true: accepted; false: refused), at most
/// `EVENT_TIMEOUT`.
async fn wait_for_port(addr: SocketAddr, wanted: bool) {
    let deadline = tokio::time::Instant::now() + EVENT_TIMEOUT;
    loop {
        let connected = tokio::net::TcpStream::connect(addr).await.is_ok();
        if connected == wanted {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{addr} never became {}",
            if wanted { "reachable" } else { "refused" }
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Sends a GET of `url` with `assertion` and returns once it waits inside the IAP check, for
/// keys from the gated `keys`: the request is in flight until the test releases them.
async fn hold_in_flight(
    client: reqwest::Client,
    url: String,
    assertion: String,
    keys: &KeyServer,
) -> JoinHandle<reqwest::Result<reqwest::Response>> {
    let in_flight = tokio::spawn(async move {
        client
            .get(url)
            .header("x-goog-iap-jwt-assertion", assertion)
            .send()
            .await
    });
    tokio::time::timeout(EVENT_TIMEOUT, keys.hit.notified())
        .await
        .expect("the request reached the IAP check");
    in_flight
}

/// Service `S` in-process: a GET of `path` reaches the IAP check, shutdown starts, the port
/// refuses connections, and the request still gets its 200, whose body `check` inspects; the
/// drain completes.
pub async fn a_request_in_flight_when_shutdown_starts_completes_in_process<S: SampleService>(
    path: &str,
    check: impl FnOnce(&Value),
) {
    let mut app = TestApp::<S>::spawn_enforcing(true).await;
    let keys = app.keys.take().expect("key server");
    let in_flight = hold_in_flight(app.http.clone(), app.url(path), app.assertion(), &keys).await;

    app.server.stop_accepting().await;
    wait_for_port(app.server.addr(), false).await;
    keys.release.add_permits(1);

    let response = in_flight.await.expect("task").expect("response");
    let (status, body) = json(response).await;
    assert_eq!(status, 200, "{body}");
    check(&body);
    let drain = app.server.shutdown().await.expect("server task");
    assert_eq!(drain, cloud_run::Drain::Complete);
}

fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    listener.local_addr().expect("addr").port()
}

fn command(binary: &str) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(binary);
    // Only what the test sets: nothing from the developer's shell leaks in.
    command
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// Service `S`'s `binary`: a GET of `path` reaches the IAP check, SIGTERM arrives, the port
/// refuses connections, and the request still gets its 200 (`check` inspects the body); the
/// process exits 0 within Cloud Run's 10 s.
pub async fn the_binary_finishes_a_request_in_flight_after_sigterm_and_exits_0<S: SampleService>(
    binary: &str,
    path: &str,
    check: impl FnOnce(&Value),
) {
    google_tokens::install_crypto_provider();
    let key = google_tokens::SigningKey::generate_ec(None).expect("key");
    let keys = KeyServer::start(&[&key], true).await;
    let port = free_port();
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut child = command(binary)
        .env("PORT", port.to_string())
        .env("IAP_AUDIENCE", AUDIENCE)
        .env("IAP_JWK_URL", keys.url.as_str())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", S::NAME));
    let pid = child.id().expect("pid").to_string();

    wait_for_port(addr, true).await;
    let url = format!("http://{addr}{path}");
    let in_flight = hold_in_flight(http_client(), url, iap_assertion(&key), &keys).await;

    // SIGTERM as Cloud Run sends it (kill(1): the workspace forbids the unsafe libc call).
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("run kill");
    assert!(status.success());
    // The server has stopped accepting: shutdown began with the request still in flight.
    wait_for_port(addr, false).await;
    keys.release.add_permits(1);

    let response = in_flight.await.expect("task").expect("response");
    let (status, body) = json(response).await;
    assert_eq!(status, 200, "{body}");
    check(&body);

    // Cloud Run sends SIGKILL 10 s after SIGTERM; the process must be gone well before.
    let exit = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("exited within Cloud Run's 10 s")
        .expect("wait");
    assert_eq!(exit.code(), Some(0), "{exit:?}");
}

/// Service `S`'s `binary`, enforcing by default, exits 64 naming `IAP_AUDIENCE` when it is unset.
pub async fn the_binary_exits_64_naming_a_missing_audience<S: SampleService>(binary: &str) {
    let output = command(binary)
        .env("PORT", free_port().to_string())
        .output()
        .await
        .unwrap_or_else(|e| panic!("run {}: {e}", S::NAME));
    assert_eq!(output.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("IAP_AUDIENCE"), "{stderr}");
}

/// Service `S`'s `binary` exits 64 with a message for a malformed audience (the service's
/// name, as a first deploy might set it), port or check mode.
pub async fn the_binary_exits_64_on_a_malformed_audience_or_port<S: SampleService>(binary: &str) {
    let backend_name = format!("{}-backend", S::NAME);
    for (name, value) in [
        ("IAP_AUDIENCE", backend_name.as_str()),
        ("PORT", "http"),
        ("IAP_ASSERTION_CHECK", "off"),
    ] {
        let output = command(binary)
            .env("IAP_AUDIENCE", AUDIENCE)
            .env(name, value)
            .output()
            .await
            .unwrap_or_else(|e| panic!("run {}: {e}", S::NAME));
        assert_eq!(output.status.code(), Some(64), "{name}={value}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.trim().is_empty(), "{name}={value}: no message");
    }
}

/// Service `S`'s `binary`, with no CA roots anywhere, exits 69 at start naming the CA bundle.
pub async fn the_binary_refuses_to_start_without_a_ca_bundle_for_googles_key_url<
    S: SampleService,
>(
    binary: &str,
) {
    // What a FROM scratch image without /etc/ssl/certs would see: no roots anywhere. The check
    // must fail at start (EX_UNAVAILABLE), not with a 503 on the first request.
    let empty =
        std::env::temp_dir().join(format!("no-roots-{}-{}.pem", S::NAME, std::process::id()));
    std::fs::write(&empty, b"").expect("write empty bundle");
    let output = command(binary)
        .env("PORT", free_port().to_string())
        .env("IAP_AUDIENCE", AUDIENCE)
        .env("SSL_CERT_FILE", &empty)
        .env("SSL_CERT_DIR", "/nonexistent-fortress-cert-dir")
        .stdout(Stdio::piped())
        .output()
        .await
        .unwrap_or_else(|e| panic!("run {}: {e}", S::NAME));
    let _ = std::fs::remove_file(&empty);
    assert_eq!(output.status.code(), Some(69));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("CA bundle"), "{stdout}");
}
