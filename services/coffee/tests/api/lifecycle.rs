//! The process lifecycle: graceful shutdown (a request in flight when shutdown starts still gets
//! its answer) and start-up failures (exit codes and messages). The checks are every sample
//! service's (`iap_service::test_util::lifecycle`), run against coffee-service in-process and
//! against its binary.

use coffee_service::CoffeeService as Service;
use iap_service::test_util::lifecycle;

const BINARY: &str = env!("CARGO_BIN_EXE_coffee-service");

#[tokio::test]
async fn a_request_in_flight_when_shutdown_starts_completes_in_process() {
    lifecycle::a_request_in_flight_when_shutdown_starts_completes_in_process::<Service>(
        "/coffee/methods/v60",
        |body| assert_eq!(body["id"], "v60"),
    )
    .await;
}

#[tokio::test]
async fn the_binary_finishes_a_request_in_flight_after_sigterm_and_exits_0() {
    lifecycle::the_binary_finishes_a_request_in_flight_after_sigterm_and_exits_0::<Service>(
        BINARY,
        "/coffee",
        |body| assert!(body["methods"].as_array().is_some_and(|r| !r.is_empty())),
    )
    .await;
}

#[tokio::test]
async fn the_binary_exits_64_naming_a_missing_audience() {
    lifecycle::the_binary_exits_64_naming_a_missing_audience::<Service>(BINARY).await;
}

#[tokio::test]
async fn the_binary_exits_64_on_a_malformed_audience_or_port() {
    lifecycle::the_binary_exits_64_on_a_malformed_audience_or_port::<Service>(BINARY).await;
}

#[tokio::test]
async fn the_binary_refuses_to_start_without_a_ca_bundle_for_googles_key_url() {
    lifecycle::the_binary_refuses_to_start_without_a_ca_bundle_for_googles_key_url::<Service>(
        BINARY,
    )
    .await;
}
