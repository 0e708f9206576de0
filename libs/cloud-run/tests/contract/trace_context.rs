//! The `TraceContext` a handler gets, whatever trace headers arrived.

use axum::{Extension, Router, body::Body, http::Request, routing::get};
use cloud_run::TraceContext;
use tower::ServiceExt as _;

async fn seen(headers: &[(&str, &str)]) -> String {
    let app = cloud_run::apply_layers(Router::new().route(
        "/",
        get(|Extension(trace): Extension<TraceContext>| async move {
            format!(
                "{} {} {}",
                trace.trace_id,
                trace.span_id.map_or("-".to_owned(), |s| s.to_string()),
                trace.sampled
            )
        }),
    ));
    let mut request = Request::get("/");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = app
        .oneshot(request.body(Body::empty()).expect("a request"))
        .await
        .expect("the router is infallible");
    let body = axum::body::to_bytes(response.into_body(), 1024)
        .await
        .expect("a body");
    String::from_utf8(body.to_vec()).expect("UTF-8")
}

#[tokio::test]
async fn handlers_see_the_legacy_header_as_a_trace_context() {
    assert_eq!(
        seen(&[(
            "x-cloud-trace-context",
            "4bf92f3577b34da6a3ce929d0e0e4736/67667974448284343;o=1"
        )])
        .await,
        "4bf92f3577b34da6a3ce929d0e0e4736 00f067aa0ba902b7 true"
    );
}

#[tokio::test]
async fn handlers_see_traceparent_when_both_headers_are_valid() {
    assert_eq!(
        seen(&[
            (
                "traceparent",
                "00-11111111111111111111111111111111-2222222222222222-00"
            ),
            (
                "x-cloud-trace-context",
                "33333333333333333333333333333333/4;o=1"
            ),
        ])
        .await,
        "11111111111111111111111111111111 2222222222222222 false"
    );
}

#[tokio::test]
async fn handlers_get_a_new_unsampled_root_when_headers_are_absent_or_invalid() {
    for headers in [
        &[][..],
        &[
            ("traceparent", "junk"),
            ("x-cloud-trace-context", "junk/1;o=1"),
        ][..],
    ] {
        let seen = seen(headers).await;
        let parts: Vec<&str> = seen.split(' ').collect();
        assert_eq!(parts.len(), 3, "{seen}");
        assert_eq!(parts[0].len(), 32, "{seen}");
        assert_eq!(&parts[1..], ["-", "false"], "{seen}");
    }
}
