//! The shape of a log line: Cloud Logging's special fields, exactly.

use serde_json::{Value, json};
use time::{OffsetDateTime, format_description::well_known::Rfc3339};

use crate::capture::{Captured, keys};

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

fn only_line(logs: &Captured) -> Value {
    let mut lines = logs.lines();
    assert_eq!(lines.len(), 1, "{lines:#?}");
    lines.remove(0)
}

#[test]
fn a_line_inside_a_request_span_carries_the_special_fields() {
    let logs = Captured::default();
    tracing::subscriber::with_default(logs.subscriber(Some("my-project")), || {
        let span = tracing::info_span!(
            "request",
            request_id = "req-1",
            trace_id = TRACE,
            span_id = "00f067aa0ba902b7",
            trace_sampled = true
        );
        let _entered = span.enter();
        tracing::warn!(user = "alice", attempts = 3u64, "token refused");
    });

    let line = only_line(&logs);
    assert_eq!(
        keys(&line),
        [
            "attempts",
            "logging.googleapis.com/sourceLocation",
            "logging.googleapis.com/spanId",
            "logging.googleapis.com/trace",
            "logging.googleapis.com/trace_sampled",
            "message",
            "request_id",
            "severity",
            "time",
            "user",
        ]
    );
    assert_eq!(line["severity"], "WARNING");
    assert_eq!(line["message"], "token refused");
    assert_eq!(
        line["logging.googleapis.com/trace"],
        format!("projects/my-project/traces/{TRACE}")
    );
    assert_eq!(line["logging.googleapis.com/spanId"], "00f067aa0ba902b7");
    assert_eq!(line["logging.googleapis.com/trace_sampled"], true);
    assert_eq!(line["request_id"], "req-1");
    assert_eq!(line["user"], "alice");
    assert_eq!(line["attempts"], 3);

    let source = &line["logging.googleapis.com/sourceLocation"];
    assert_eq!(keys(source), ["file", "function", "line"]);
    assert_eq!(source["function"], "contract::logging");
    assert!(
        source["file"]
            .as_str()
            .is_some_and(|f| f.ends_with("logging.rs"))
    );
    assert!(
        source["line"]
            .as_str()
            .is_some_and(|l| l.parse::<u32>().is_ok())
    );

    let time = line["time"].as_str().expect("time is a string");
    let parsed = OffsetDateTime::parse(time, &Rfc3339).expect("time is RFC 3339");
    assert_eq!(parsed.offset(), time::UtcOffset::UTC);
}

#[test]
fn the_trace_is_a_bare_id_when_no_project_is_known() {
    let logs = Captured::default();
    tracing::subscriber::with_default(logs.subscriber(None), || {
        tracing::info!(trace_id = TRACE, "hello");
    });
    let line = only_line(&logs);
    assert_eq!(line["logging.googleapis.com/trace"], TRACE);
    assert!(line.get("trace_id").is_none());
    assert!(line.get("logging.googleapis.com/spanId").is_none());
}

#[test]
fn a_line_outside_any_request_has_no_trace_fields() {
    let logs = Captured::default();
    tracing::subscriber::with_default(logs.subscriber(Some("my-project")), || {
        tracing::info!("listening");
    });
    let line = only_line(&logs);
    assert_eq!(
        keys(&line),
        [
            "logging.googleapis.com/sourceLocation",
            "message",
            "severity",
            "time"
        ]
    );
}

#[test]
fn tracing_levels_map_to_cloud_logging_severities() {
    let logs = Captured::default();
    tracing::subscriber::with_default(logs.subscriber(None), || {
        tracing::trace!("t");
        tracing::debug!("d");
        tracing::info!("i");
        tracing::warn!("w");
        tracing::error!("e");
    });
    let severities: Vec<Value> = logs.lines().iter().map(|l| l["severity"].clone()).collect();
    assert_eq!(
        severities,
        [
            json!("DEBUG"),
            json!("DEBUG"),
            json!("INFO"),
            json!("WARNING"),
            json!("ERROR")
        ]
    );
}

#[test]
fn http_request_fields_are_nested_under_http_request() {
    let logs = Captured::default();
    tracing::subscriber::with_default(logs.subscriber(None), || {
        tracing::info!(
            httpRequest.requestMethod = "GET",
            httpRequest.status = 200u16,
            "served"
        );
    });
    let line = only_line(&logs);
    assert_eq!(
        line["httpRequest"],
        json!({"requestMethod": "GET", "status": 200})
    );
    assert!(line.get("httpRequest.status").is_none());
}

#[test]
fn event_fields_override_span_fields_and_inner_spans_override_outer_ones() {
    let logs = Captured::default();
    tracing::subscriber::with_default(logs.subscriber(None), || {
        let outer = tracing::info_span!(
            "outer",
            who = "outer",
            kept = "outer",
            late = tracing::field::Empty
        );
        let _outer = outer.enter();
        let inner = tracing::info_span!("inner", who = "inner", kept2 = 2u64);
        let _inner = inner.enter();
        outer.record("late", "recorded");
        tracing::info!(kept2 = "event", "x");
    });
    let line = only_line(&logs);
    assert_eq!(line["who"], "inner");
    assert_eq!(line["kept"], "outer");
    assert_eq!(line["kept2"], "event");
    assert_eq!(line["late"], "recorded");
}

#[test]
fn fields_cannot_replace_the_special_keys() {
    let logs = Captured::default();
    tracing::subscriber::with_default(logs.subscriber(None), || {
        tracing::info!(severity = "EMERGENCY", time = "yesterday", "x");
    });
    let line = only_line(&logs);
    assert_eq!(line["severity"], "INFO");
    assert_ne!(line["time"], "yesterday");
}

#[test]
fn errors_are_logged_with_their_causes() {
    #[derive(Debug, thiserror::Error)]
    #[error("cannot fetch keys")]
    struct Outer(#[source] std::io::Error);

    let logs = Captured::default();
    tracing::subscriber::with_default(logs.subscriber(None), || {
        let error = Outer(std::io::Error::other("connection refused"));
        tracing::error!(error = &error as &dyn std::error::Error, "refresh failed");
    });
    assert_eq!(
        only_line(&logs)["error"],
        "cannot fetch keys: connection refused"
    );
}
