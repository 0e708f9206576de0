//! Graceful, bounded shutdown: stop accepting, finish what is in flight, give up after the grace.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::{Router, routing::get};
use cloud_run::{Drain, LoopbackServer, ServeOptions};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, oneshot};

fn client() -> reqwest::Client {
    // No proxy from the environment may reroute loopback traffic; no system CA store is needed for
    // plain HTTP (crates.md pitfall 2).
    reqwest::Client::builder()
        .no_proxy()
        .tls_certs_only(Vec::<reqwest::Certificate>::new())
        .build()
        .expect("a client")
}

/// A route whose handler says when it has started and then waits until released (or forever).
struct InFlight {
    started: Arc<Notify>,
    release: Arc<Notify>,
}

impl InFlight {
    fn new() -> Self {
        Self {
            started: Arc::new(Notify::new()),
            release: Arc::new(Notify::new()),
        }
    }

    fn app(&self) -> Router {
        let (started, release) = (Arc::clone(&self.started), Arc::clone(&self.release));
        Router::new()
            .route(
                "/slow",
                get(move || async move {
                    // `notify_one` keeps a permit if the test is not waiting yet.
                    started.notify_one();
                    release.notified().await;
                    "finished"
                }),
            )
            .route("/fast", get(|| async { "fast" }))
    }
}

#[tokio::test]
async fn an_in_flight_request_completes_after_shutdown_while_new_connections_are_refused() {
    let slow = InFlight::new();
    let mut server = LoopbackServer::start(slow.app()).await.expect("bound");
    let addr = server.addr();

    let request = tokio::spawn(client().get(server.url("/slow")).send());
    slow.started.notified().await;

    server.stop_accepting().await;
    let refused = TcpStream::connect(addr).await.expect_err("listener closed");
    assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);

    slow.release.notify_one();
    let response = request
        .await
        .expect("the request task")
        .expect("the in-flight request is answered");
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.expect("a body"), "finished");

    assert_eq!(server.shutdown().await.expect("served"), Drain::Complete);
}

#[tokio::test]
async fn the_grace_period_bounds_the_drain() {
    let stuck = InFlight::new();
    let mut server = LoopbackServer::start(stuck.app()).await.expect("bound");
    let request = tokio::spawn(client().get(server.url("/slow")).send());
    stuck.started.notified().await;

    // From here the clock only moves when every task is idle, and then straight to the next timer:
    // the drain's deadline. The handler is never released.
    tokio::time::pause();
    let begun = tokio::time::Instant::now();
    server.stop_accepting().await;
    let drain = server.shutdown().await.expect("served");

    assert_eq!(drain, Drain::GraceExpired { dropped: 1 });
    assert!(begun.elapsed() >= ServeOptions::CLOUD_RUN_DRAIN_GRACE);
    assert_eq!(ServeOptions::CLOUD_RUN_DRAIN_GRACE, Duration::from_secs(9));
    let dropped = request.await.expect("the request task");
    assert!(
        dropped.is_err(),
        "the dropped request has no response: {dropped:?}"
    );
}

#[tokio::test]
async fn a_configured_grace_replaces_the_default() {
    let stuck = InFlight::new();
    let options = ServeOptions::cloud_run().with_drain_grace(Duration::from_millis(20));
    let mut server = LoopbackServer::start_with(stuck.app(), options)
        .await
        .expect("bound");
    let request = tokio::spawn(client().get(server.url("/slow")).send());
    stuck.started.notified().await;

    server.stop_accepting().await;
    assert_eq!(
        server.shutdown().await.expect("served"),
        Drain::GraceExpired { dropped: 1 }
    );
    assert!(request.await.expect("the request task").is_err());
}

#[tokio::test]
async fn idle_keep_alive_connections_do_not_hold_up_shutdown() {
    let server = LoopbackServer::start(InFlight::new().app())
        .await
        .expect("bound");
    let client = client();
    // The client keeps this connection open in its pool after the response.
    let response = client
        .get(server.url("/fast"))
        .send()
        .await
        .expect("served");
    assert_eq!(response.text().await.expect("a body"), "fast");

    tokio::time::pause();
    let begun = tokio::time::Instant::now();
    assert_eq!(server.shutdown().await.expect("served"), Drain::Complete);
    assert!(begun.elapsed() < ServeOptions::CLOUD_RUN_DRAIN_GRACE);
}

#[tokio::test]
async fn serve_returns_when_its_shutdown_future_completes() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bound");
    let addr = listener.local_addr().expect("an address");
    let (trigger, triggered) = oneshot::channel::<()>();
    let server = tokio::spawn(cloud_run::serve(
        listener,
        InFlight::new().app(),
        async move {
            let _ = triggered.await;
        },
    ));

    let response = client()
        .get(format!("http://{addr}/fast"))
        .send()
        .await
        .expect("served");
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("x-request-id"));

    trigger.send(()).expect("the server is waiting");
    let drain = server.await.expect("the server task").expect("served");
    assert_eq!(drain, Drain::Complete);
}

#[tokio::test]
async fn the_access_line_of_a_served_request_names_the_peer_and_sizes() {
    let logs = crate::capture::Captured::default();
    let _default = tracing::subscriber::set_default(logs.subscriber(None));
    let server = LoopbackServer::start(InFlight::new().app())
        .await
        .expect("bound");
    let url = server.url("/fast");
    let response = client()
        .post(&url)
        .body("12345")
        .send()
        .await
        .expect("served");
    assert_eq!(response.status(), 405);
    server.shutdown().await.expect("served");

    let [line] = &logs.lines_from("cloud_run::access_log")[..] else {
        panic!("one access line: {}", logs.text())
    };
    let http = &line["httpRequest"];
    assert_eq!(http["requestMethod"], "POST");
    assert_eq!(http["remoteIp"], "127.0.0.1");
    assert_eq!(http["protocol"], "HTTP/1.1");
    assert_eq!(http["requestSize"], "5");
    assert_eq!(http["requestUrl"], server_url_placeholder(http));
}

/// The URL uses the `Host` header reqwest sent, `127.0.0.1:<port>`.
fn server_url_placeholder(http: &serde_json::Value) -> serde_json::Value {
    let url = http["requestUrl"].as_str().unwrap_or_default();
    assert!(
        url.starts_with("http://127.0.0.1:") && url.ends_with("/fast"),
        "{url}"
    );
    http["requestUrl"].clone()
}
