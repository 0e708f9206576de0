//! The access line: Cloud Logging's `httpRequest`, severity by status, the request's trace, no secrets.

use axum::{
    Router,
    body::Body,
    http::{Request, StatusCode},
    routing::get,
};
use serde_json::{Value, json};
use tower::ServiceExt as _;

use crate::capture::{Captured, keys};

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

fn app() -> Router {
    cloud_run::apply_layers(
        Router::new()
            .route(
                "/smoothie",
                get(|| async {
                    tracing::info!("blending");
                    "banana"
                }),
            )
            .route(
                "/broken",
                get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "oops") }),
            ),
    )
}

async fn call(logs: &Captured, request: Request<Body>) -> StatusCode {
    let _default = tracing::subscriber::set_default(logs.subscriber(Some("my-project")));
    app()
        .oneshot(request)
        .await
        .expect("the router is infallible")
        .status()
}

fn access_lines(logs: &Captured) -> Vec<Value> {
    logs.lines_from("cloud_run::access_log")
}

#[tokio::test]
async fn the_access_line_carries_http_request_and_the_trace() {
    let logs = Captured::default();
    let request = Request::get("/smoothie?size=large")
        .header("host", "smoothie.example")
        .header("user-agent", "curl/8.5.0")
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-for", "203.0.113.9, 198.51.100.7")
        .header(
            "x-cloud-trace-context",
            format!("{TRACE}/67667974448284343;o=1"),
        )
        .header("x-request-id", "req-42")
        .body(Body::from("hello"))
        .expect("a request");
    assert_eq!(call(&logs, request).await, StatusCode::OK);

    let [line] = &access_lines(&logs)[..] else {
        panic!("one access line: {}", logs.text())
    };
    assert_eq!(line["severity"], "INFO");
    assert_eq!(line["message"], "GET /smoothie 200");
    assert_eq!(
        line["logging.googleapis.com/trace"],
        format!("projects/my-project/traces/{TRACE}")
    );
    assert_eq!(line["logging.googleapis.com/spanId"], "00f067aa0ba902b7");
    assert_eq!(line["logging.googleapis.com/trace_sampled"], true);
    assert_eq!(line["request_id"], "req-42");

    let http = &line["httpRequest"];
    assert_eq!(
        keys(http),
        [
            "latency",
            "protocol",
            "remoteIp",
            "requestMethod",
            "requestSize",
            "requestUrl",
            "responseSize",
            "status",
            "userAgent"
        ]
    );
    assert_eq!(http["requestMethod"], "GET");
    assert_eq!(
        http["requestUrl"],
        "https://smoothie.example/smoothie?size=REDACTED"
    );
    assert_eq!(http["status"], 200);
    assert_eq!(http["userAgent"], "curl/8.5.0");
    // Cloud Run appends the peer it saw: only the right-most entry is trustworthy.
    assert_eq!(http["remoteIp"], "198.51.100.7");
    assert_eq!(http["protocol"], "HTTP/1.1");
    assert_eq!(http["requestSize"], "5");
    assert_eq!(http["responseSize"], "6");
    let latency = http["latency"].as_str().expect("latency is a string");
    let seconds = latency.strip_suffix('s').expect("latency ends in s");
    assert!(seconds.parse::<f64>().is_ok(), "{latency}");
}

#[tokio::test]
async fn lines_logged_by_a_handler_carry_the_request_trace_and_id() {
    let logs = Captured::default();
    let request = Request::get("/smoothie")
        .header("traceparent", format!("00-{TRACE}-00f067aa0ba902b7-00"))
        .header("x-request-id", "req-7")
        .body(Body::empty())
        .expect("a request");
    call(&logs, request).await;

    let [line] = &logs.lines_from("contract::access_log")[..] else {
        panic!("one handler line: {}", logs.text())
    };
    assert_eq!(line["message"], "blending");
    assert_eq!(
        line["logging.googleapis.com/trace"],
        format!("projects/my-project/traces/{TRACE}")
    );
    assert_eq!(line["logging.googleapis.com/spanId"], "00f067aa0ba902b7");
    assert_eq!(line["logging.googleapis.com/trace_sampled"], false);
    assert_eq!(line["request_id"], "req-7");
}

#[tokio::test]
async fn a_request_without_trace_headers_is_logged_under_a_new_trace() {
    let logs = Captured::default();
    call(
        &logs,
        Request::get("/smoothie")
            .body(Body::empty())
            .expect("a request"),
    )
    .await;
    let lines = logs.lines();
    let traces: Vec<&Value> = lines
        .iter()
        .map(|l| &l["logging.googleapis.com/trace"])
        .collect();
    assert_eq!(traces.len(), 2, "handler line and access line");
    assert_eq!(traces[0], traces[1], "both lines share the new trace");
    let trace = traces[0].as_str().expect("a trace");
    assert!(trace.starts_with("projects/my-project/traces/"), "{trace}");
    assert_eq!(lines[1]["logging.googleapis.com/trace_sampled"], false);
    assert!(lines[1].get("logging.googleapis.com/spanId").is_none());
}

#[tokio::test]
async fn severity_follows_the_status_class() {
    let logs = Captured::default();
    for path in ["/smoothie", "/nowhere", "/broken"] {
        call(
            &logs,
            Request::get(path).body(Body::empty()).expect("a request"),
        )
        .await;
    }
    let seen: Vec<(Value, Value)> = access_lines(&logs)
        .iter()
        .map(|l| (l["httpRequest"]["status"].clone(), l["severity"].clone()))
        .collect();
    assert_eq!(
        seen,
        [
            (json!(200), json!("INFO")),
            (json!(404), json!("WARNING")),
            (json!(500), json!("ERROR")),
        ]
    );
}

#[tokio::test]
async fn at_warn_only_refused_and_failed_requests_are_logged_and_they_keep_their_trace() {
    let logs = Captured::default();
    let _default = tracing::subscriber::set_default(logs.subscriber_at(Some("my-project"), "warn"));
    for path in ["/smoothie", "/nowhere", "/broken"] {
        let request = Request::get(path)
            .header("x-cloud-trace-context", format!("{TRACE}/1;o=1"))
            .body(Body::empty())
            .expect("a request");
        app()
            .oneshot(request)
            .await
            .expect("the router is infallible");
    }
    let lines = access_lines(&logs);
    let seen: Vec<(Value, Value, Value)> = lines
        .iter()
        .map(|l| {
            (
                l["httpRequest"]["requestUrl"].clone(),
                l["severity"].clone(),
                l["logging.googleapis.com/trace"].clone(),
            )
        })
        .collect();
    let trace = json!(format!("projects/my-project/traces/{TRACE}"));
    assert_eq!(
        seen,
        [
            (json!("/nowhere"), json!("WARNING"), trace.clone()),
            (json!("/broken"), json!("ERROR"), trace),
        ]
    );
    // Neither the 200's access line nor its handler's INFO line was written.
    assert_eq!(logs.lines().len(), 2, "{:?}", logs.lines());
}

#[tokio::test]
async fn credentials_in_headers_never_reach_the_logs() {
    let logs = Captured::default();
    let request = Request::get("/smoothie")
        .header("authorization", "Bearer SECRET-AUTHORIZATION")
        .header("cookie", "session=SECRET-COOKIE")
        .header("x-goog-iap-jwt-assertion", "SECRET-IAP-ASSERTION")
        .header("x-serverless-authorization", "Bearer SECRET-SERVERLESS")
        .header("x-forwarded-authorization", "Bearer SECRET-FORWARDED")
        .body(Body::empty())
        .expect("a request");
    assert_eq!(call(&logs, request).await, StatusCode::OK);
    let text = logs.text();
    assert!(!access_lines(&logs).is_empty());
    assert!(!text.contains("SECRET"), "{text}");
}

#[tokio::test]
async fn credentials_in_the_query_never_reach_the_logs() {
    let logs = Captured::default();
    let request =
        Request::get("/smoothie?access_token=SECRET-JWT&key=SECRET-API-KEY&city=Lisbon&flag")
            .body(Body::empty())
            .expect("a request");
    assert_eq!(call(&logs, request).await, StatusCode::OK);
    let text = logs.text();
    let [line] = &access_lines(&logs)[..] else {
        panic!("one access line: {text}")
    };
    assert_eq!(
        line["httpRequest"]["requestUrl"],
        "/smoothie?access_token=REDACTED&key=REDACTED&city=REDACTED&flag"
    );
    assert!(!text.contains("SECRET"), "{text}");
}

#[tokio::test]
async fn a_request_without_host_logs_its_path_as_the_url() {
    let logs = Captured::default();
    call(
        &logs,
        Request::get("/smoothie?x=1")
            .body(Body::empty())
            .expect("a request"),
    )
    .await;
    let [line] = &access_lines(&logs)[..] else {
        panic!("one access line")
    };
    assert_eq!(line["httpRequest"]["requestUrl"], "/smoothie?x=REDACTED");
    // Neither X-Forwarded-For nor a socket peer: the address is unknown, not invented.
    assert!(line["httpRequest"].get("remoteIp").is_none());
    assert!(line["httpRequest"].get("userAgent").is_none());
}
