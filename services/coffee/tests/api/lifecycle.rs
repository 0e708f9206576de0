//! The process lifecycle: graceful shutdown (a request in flight when shutdown starts still gets
//! its answer) and start-up failures (exit codes and messages).
//!
//! The request is held in flight without a slow route in the service: the IAP key server is
//! gated, so the first request waits inside the IAP check (fetching keys) until the test lets
//! the key server answer. Synchronisation is by events (the key server saw the fetch; the port
//! refuses connections), never by sleeping a fixed time.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::process::Stdio;
use std::time::Duration;

use crate::helpers::{AUDIENCE, KeyServer, TestApp, http_client, json};

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

#[tokio::test]
async fn a_request_in_flight_when_shutdown_starts_completes_in_process() {
    let mut app = TestApp::spawn_enforcing(true).await;
    let keys = app.keys.take().expect("key server");
    let url = app.url("/coffee/methods/v60");
    let assertion = app.assertion();
    let client = app.http.clone();
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

    app.server.stop_accepting().await;
    wait_for_port(app.server.addr(), false).await;
    keys.release.add_permits(1);

    let response = in_flight.await.expect("task").expect("response");
    let (status, body) = json(response).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], "v60");
    let drain = app.server.shutdown().await.expect("server task");
    assert_eq!(drain, cloud_run::Drain::Complete);
}

fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    listener.local_addr().expect("addr").port()
}

fn binary() -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_coffee-service"));
    // Only what the test sets: nothing from the developer's shell leaks in.
    command
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

#[tokio::test]
async fn the_binary_finishes_a_request_in_flight_after_sigterm_and_exits_0() {
    google_tokens::install_crypto_provider();
    let key = google_tokens::SigningKey::generate_ec(None).expect("key");
    let keys = KeyServer::start(&[&key], true).await;
    let port = free_port();
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut child = binary()
        .env("PORT", port.to_string())
        .env("IAP_AUDIENCE", AUDIENCE)
        .env("IAP_JWK_URL", keys.url.as_str())
        .spawn()
        .expect("spawn coffee-service");
    let pid = child.id().expect("pid").to_string();

    wait_for_port(addr, true).await;
    let assertion = key
        .sign(&google_tokens::IapClaims::new(
            AUDIENCE,
            crate::helpers::EMAIL,
            crate::helpers::USER_ID,
            google_tokens::now_unix(),
        ))
        .expect("sign");
    let client = http_client();
    let in_flight = tokio::spawn(async move {
        client
            .get(format!("http://{addr}/coffee"))
            .header("x-goog-iap-jwt-assertion", assertion)
            .send()
            .await
    });
    tokio::time::timeout(EVENT_TIMEOUT, keys.hit.notified())
        .await
        .expect("the request reached the IAP check");

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
    assert!(body["methods"].as_array().is_some_and(|r| !r.is_empty()));

    // Cloud Run sends SIGKILL 10 s after SIGTERM; the process must be gone well before.
    let exit = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("exited within Cloud Run's 10 s")
        .expect("wait");
    assert_eq!(exit.code(), Some(0), "{exit:?}");
}

#[tokio::test]
async fn the_binary_exits_64_naming_a_missing_audience() {
    let output = binary()
        .env("PORT", free_port().to_string())
        .output()
        .await
        .expect("run coffee-service");
    assert_eq!(output.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("IAP_AUDIENCE"), "{stderr}");
}

#[tokio::test]
async fn the_binary_exits_64_on_a_malformed_audience_or_port() {
    for (name, value) in [
        ("IAP_AUDIENCE", "coffee-service-backend"),
        ("PORT", "http"),
        ("IAP_ASSERTION_CHECK", "off"),
    ] {
        let output = binary()
            .env("IAP_AUDIENCE", AUDIENCE)
            .env(name, value)
            .output()
            .await
            .expect("run coffee-service");
        assert_eq!(output.status.code(), Some(64), "{name}={value}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.trim().is_empty(), "{name}={value}: no message");
    }
}

#[tokio::test]
async fn the_binary_refuses_to_start_without_a_ca_bundle_for_googles_key_url() {
    // What a FROM scratch image without /etc/ssl/certs would see: no roots anywhere. The check
    // must fail at start (EX_UNAVAILABLE), not with a 503 on the first request.
    let empty = std::env::temp_dir().join(format!("no-roots-{}.pem", std::process::id()));
    std::fs::write(&empty, b"").expect("write empty bundle");
    let output = binary()
        .env("PORT", free_port().to_string())
        .env("IAP_AUDIENCE", AUDIENCE)
        .env("SSL_CERT_FILE", &empty)
        .env("SSL_CERT_DIR", "/nonexistent-fortress-cert-dir")
        .stdout(Stdio::piped())
        .output()
        .await
        .expect("run coffee-service");
    let _ = std::fs::remove_file(&empty);
    assert_eq!(output.status.code(), Some(69));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("CA bundle"), "{stdout}");
}
