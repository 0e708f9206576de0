//! `x-request-id`: echoed when well-formed, generated when absent or malformed, seen by the handler.

use axum::{
    Extension, Router,
    body::Body,
    http::{HeaderMap, HeaderValue, Request},
    routing::get,
};
use cloud_run::RequestId;
use tower::ServiceExt as _;

/// Returns `(id in the response header, id the handler saw as extension, id the handler saw as header)`.
async fn ids(incoming: Option<HeaderValue>) -> (String, String, String) {
    let app = cloud_run::apply_layers(Router::new().route(
        "/",
        get(
            |Extension(id): Extension<RequestId>, headers: HeaderMap| async move {
                let header = headers
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("<none>")
                    .to_owned();
                format!("{id} {header}")
            },
        ),
    ));
    let mut request = Request::get("/");
    if let Some(value) = incoming {
        request = request.header("x-request-id", value);
    }
    let response = app
        .oneshot(request.body(Body::empty()).expect("a request"))
        .await
        .expect("the router is infallible");
    let echoed = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("every response has an x-request-id")
        .to_owned();
    let body = axum::body::to_bytes(response.into_body(), 1024)
        .await
        .expect("a body");
    let body = String::from_utf8(body.to_vec()).expect("UTF-8");
    let (extension, header) = body.split_once(' ').expect("two ids");
    (echoed, extension.to_owned(), header.to_owned())
}

fn is_uuid(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok_and(|u| u.get_version_num() == 4)
}

#[tokio::test]
async fn a_well_formed_request_id_is_echoed_and_seen_by_the_handler() {
    let (echoed, extension, header) = ids(Some(HeaderValue::from_static("req-42"))).await;
    assert_eq!(
        (echoed.as_str(), extension.as_str(), header.as_str()),
        ("req-42", "req-42", "req-42")
    );
}

#[tokio::test]
async fn a_missing_request_id_is_generated_as_a_uuid() {
    let (echoed, extension, header) = ids(None).await;
    assert!(is_uuid(&echoed), "{echoed}");
    assert_eq!(extension, echoed);
    assert_eq!(header, echoed);
}

#[tokio::test]
async fn an_oversized_request_id_is_replaced() {
    let long = "a".repeat(RequestId::MAX_LEN + 1);
    let (echoed, extension, header) = ids(Some(HeaderValue::from_str(&long).expect("ASCII"))).await;
    assert!(is_uuid(&echoed), "{echoed}");
    assert_eq!((extension, header), (echoed.clone(), echoed));
}

#[tokio::test]
async fn a_non_ascii_request_id_is_replaced() {
    let (echoed, extension, _) = ids(Some(
        HeaderValue::from_bytes("caf\u{e9}".as_bytes()).expect("opaque bytes"),
    ))
    .await;
    assert!(is_uuid(&echoed), "{echoed}");
    assert_eq!(extension, echoed);
}

#[tokio::test]
async fn a_request_id_with_spaces_is_replaced() {
    let (echoed, _, _) = ids(Some(HeaderValue::from_static("two words"))).await;
    assert!(is_uuid(&echoed), "{echoed}");
}
