//! The IAP assertion check in front of every route, and whoami: the checks every sample service
//! passes (`iap_service::test_util::iap`), run against coffee-service's routes.

use coffee_service::CoffeeService as Service;
use iap_service::test_util::iap;

const EVERY_ROUTE: &[&str] = &[
    "/coffee",
    "/coffee/",
    "/coffee/methods/v60",
    "/coffee/ratio?method=v60&coffee_grams=20",
    "/coffee/cafes?city=Lisbon",
    "/coffee/whoami",
    "/coffee/no-such-route",
];

#[tokio::test]
async fn every_route_refuses_a_request_without_an_assertion() {
    iap::every_route_refuses_a_request_without_an_assertion::<Service>(EVERY_ROUTE).await;
}

#[tokio::test]
async fn forged_identity_headers_without_an_assertion_are_refused() {
    iap::forged_identity_headers_without_an_assertion_are_refused::<Service>("/coffee/whoami")
        .await;
}

#[tokio::test]
async fn invalid_assertions_are_refused_naming_the_rule() {
    iap::invalid_assertions_are_refused_naming_the_rule::<Service>("/coffee").await;
}

#[tokio::test]
async fn a_valid_assertion_is_served() {
    iap::a_valid_assertion_is_served::<Service>("/coffee").await;
}

#[tokio::test]
async fn whoami_returns_the_verified_identity() {
    iap::whoami_returns_the_verified_identity::<Service>("/coffee/whoami").await;
}

#[tokio::test]
async fn whoami_ignores_forged_identity_headers_next_to_a_valid_assertion() {
    iap::whoami_ignores_forged_identity_headers_next_to_a_valid_assertion::<Service>(
        "/coffee/whoami",
    )
    .await;
}

#[tokio::test]
async fn with_the_check_disabled_requests_are_served_and_the_identity_is_unverified() {
    iap::with_the_check_disabled_requests_are_served_and_the_identity_is_unverified::<Service>(
        "/coffee/methods/v60",
        "/coffee/whoami",
    )
    .await;
}
