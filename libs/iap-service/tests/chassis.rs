//! The chassis around a service that is nothing but one route: what every sample service gets
//! without writing it (JSON 404 and 405 behind the IAP check, start-up errors named after the
//! service's data). The services' own tests run the same `test_util` checks, and the IAP and
//! lifecycle ones, against their real routes and binaries.

use std::sync::Arc;

use axum::http::Method;
use axum::routing::get;
use axum::{Json, Router};
use iap_service::test_util::{TestApp, errors, iap, json};
use iap_service::{AppState, DataError, SampleService, Settings};

/// A service with one route, `GET /tea`.
struct TeaService;

impl SampleService for TeaService {
    const NAME: &'static str = "tea-service";
    const ABOUT: &'static str = "Tea behind IAP, for Cloud Run";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DATA: &'static str = "tea menu data";
    type Data = &'static str;

    fn load() -> Result<&'static str, DataError> {
        Ok("sencha")
    }

    fn routes() -> Router<Arc<&'static str>> {
        Router::new().route(
            "/tea",
            get(
                |axum::extract::State(tea): axum::extract::State<Arc<&'static str>>| async move {
                    Json(serde_json::json!({ "tea": *tea }))
                },
            ),
        )
    }
}

/// The same service, with data that does not parse.
struct BrokenTeaService;

impl SampleService for BrokenTeaService {
    const NAME: &'static str = "tea-service";
    const ABOUT: &'static str = "Tea behind IAP, for Cloud Run";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DATA: &'static str = "tea menu data";
    type Data = ();

    fn load() -> Result<(), DataError> {
        Err(DataError::Invalid {
            file: "fixtures/data/tea.json",
            at: "teas[0].id".into(),
            problem: "empty".into(),
        })
    }

    fn routes() -> Router<Arc<()>> {
        Router::new()
    }
}

#[tokio::test]
async fn the_services_route_is_served_with_a_valid_assertion() {
    let app = TestApp::<TeaService>::spawn().await;
    let (status, body) = json(app.get("/tea").await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["tea"], "sencha");
}

#[tokio::test]
async fn unknown_paths_are_json_404s() {
    errors::unknown_paths_are_json_404s::<TeaService>(&["/", "/tea/", "/coffee"]).await;
}

#[tokio::test]
async fn another_method_on_a_known_path_is_a_json_405() {
    errors::another_method_on_a_known_path_is_a_json_405::<TeaService>(Method::POST, "/tea").await;
}

#[tokio::test]
async fn unknown_paths_are_behind_the_iap_check_too() {
    // Without an assertion, nothing tells the caller which paths exist.
    iap::every_route_refuses_a_request_without_an_assertion::<TeaService>(&["/tea", "/coffee"])
        .await;
}

#[test]
fn broken_data_is_a_start_error_named_after_the_services_data() {
    let err = AppState::<BrokenTeaService>::new(Settings::iap_disabled()).expect_err("broken");
    assert!(matches!(err, iap_service::StartError::Data { .. }));
    assert_eq!(
        err.to_string(),
        "tea menu data: fixtures/data/tea.json: teas[0].id: empty"
    );
}
