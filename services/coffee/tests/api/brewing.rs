//! The brewing routes: methods, the ratio calculator, cafés; shapes, 404s and 400s.

use axum::http::Method;
use coffee_service::CoffeeService as Service;
use iap_service::test_util::errors;

use crate::helpers::{TestApp, assert_error, json};

#[tokio::test]
async fn the_list_has_every_method_with_its_ratio_and_grind() {
    let app = TestApp::spawn().await;
    let (status, body) = json(app.get("/coffee").await).await;
    assert_eq!(status, 200, "{body}");
    let methods = body["methods"].as_array().expect("methods");
    assert!(methods.len() >= 5, "{body}");
    let v60 = methods.iter().find(|m| m["id"] == "v60").expect("v60");
    assert_eq!(v60["ratio"], "1:16");
    assert_eq!(v60["grind"], "medium-fine");
    assert!(v60["name"].as_str().is_some_and(|n| !n.is_empty()));
    let (_, with_slash) = json(app.get("/coffee/").await).await;
    assert_eq!(with_slash, body);
}

#[tokio::test]
async fn a_method_has_ratio_grind_temperature_brew_time_and_steps() {
    let app = TestApp::spawn().await;
    let (status, body) = json(app.get("/coffee/methods/french-press").await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], "french-press");
    assert_eq!(body["ratio"], "1:15");
    assert_eq!(body["water_per_gram_of_coffee"], 15.0);
    assert_eq!(body["grind"], "coarse");
    assert_eq!(body["water_temperature_c"], 95);
    assert_eq!(body["brew_time_seconds"]["min"], 240);
    assert_eq!(body["brew_time_seconds"]["max"], 300);
    assert!(
        body["steps"].as_array().is_some_and(|s| s.len() >= 3),
        "{body}"
    );
}

#[tokio::test]
async fn espresso_says_what_its_ratio_measures() {
    let app = TestApp::spawn().await;
    let (_, body) = json(app.get("/coffee/methods/espresso").await).await;
    assert_eq!(body["ratio"], "1:2");
    assert!(
        body["ratio_note"]
            .as_str()
            .is_some_and(|n| n.contains("espresso")),
        "{body}"
    );
}

#[tokio::test]
async fn an_unknown_method_is_a_json_404_naming_it() {
    let app = TestApp::spawn().await;
    let (status, body) = json(app.get("/coffee/methods/siphon").await).await;
    assert_error(status, &body, 404, "NOT_FOUND");
    assert_eq!(body["error"]["message"], "no brewing method \"siphon\"");
}

#[tokio::test]
async fn the_ratio_calculator_computes_water_from_coffee() {
    let app = TestApp::spawn().await;
    let (status, body) = json(app.get("/coffee/ratio?method=v60&coffee_grams=20").await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["method"], "v60");
    assert_eq!(body["ratio"], "1:16");
    assert_eq!(body["coffee_grams"], 20.0);
    assert_eq!(body["water_ml"], 320.0);
    assert_eq!(body["computed"], "water_ml");
}

#[tokio::test]
async fn the_ratio_calculator_computes_coffee_from_water() {
    let app = TestApp::spawn().await;
    let (status, body) = json(app.get("/coffee/ratio?method=v60&water_ml=300").await).await;
    assert_eq!(status, 200, "{body}");
    // 300 / 16 = 18.75, shown to one decimal.
    assert_eq!(body["coffee_grams"], 18.8);
    assert_eq!(body["water_ml"], 300.0);
    assert_eq!(body["computed"], "coffee_grams");

    let (_, cold) = json(
        app.get("/coffee/ratio?method=cold-brew&water_ml=1000")
            .await,
    )
    .await;
    assert_eq!(cold["coffee_grams"], 125.0);
    assert!(cold["ratio_note"].is_string(), "{cold}");
}

#[tokio::test]
async fn the_ratio_calculator_refuses_bad_missing_negative_and_absurd_numbers() {
    let app = TestApp::spawn().await;
    for query in [
        "method=v60",
        "method=v60&coffee_grams=20&water_ml=300",
        "method=v60&coffee_grams=",
        "method=v60&coffee_grams=-20",
        "method=v60&coffee_grams=0",
        "method=v60&coffee_grams=abc",
        "method=v60&coffee_grams=NaN",
        "method=v60&coffee_grams=inf",
        "method=v60&coffee_grams=1e3",
        "method=v60&coffee_grams=100000",
        "method=v60&water_ml=5",
        "method=v60&water_ml=1000000",
        "method=siphon&coffee_grams=20",
        "method=&coffee_grams=20",
        "coffee_grams=20",
        "method=v60&coffee_grams=20&coffee_grams=30",
    ] {
        let (status, body) = json(app.get(&format!("/coffee/ratio?{query}")).await).await;
        assert_error(status, &body, 400, "INVALID_ARGUMENT");
    }
}

#[tokio::test]
async fn an_unknown_method_in_the_calculator_lists_the_known_ones() {
    let app = TestApp::spawn().await;
    let (_, body) = json(app.get("/coffee/ratio?method=siphon&coffee_grams=20").await).await;
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("siphon") && message.contains("v60"),
        "{message}"
    );
}

#[tokio::test]
async fn cafes_are_recommended_by_city_ignoring_case() {
    let app = TestApp::spawn().await;
    let (status, body) = json(app.get("/coffee/cafes?city=Lisbon").await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["city"], "Lisbon");
    assert_eq!(body["country"], "Portugal");
    let cafes = body["cafes"].as_array().expect("cafes");
    assert!(cafes.len() >= 2);
    for cafe in cafes {
        for field in ["name", "neighbourhood", "known_for"] {
            assert!(
                cafe[field].as_str().is_some_and(|s| !s.is_empty()),
                "{cafe}"
            );
        }
        assert!(cafe["methods"].is_array());
    }
    for spelling in ["lisbon", "LISBON", "%20LiSbOn%20"] {
        let (status, again) = json(app.get(&format!("/coffee/cafes?city={spelling}")).await).await;
        assert_eq!(status, 200, "{spelling}");
        assert_eq!(again, body, "{spelling}");
    }
}

#[tokio::test]
async fn an_unknown_city_is_a_json_404_naming_it_and_the_known_cities() {
    let app = TestApp::spawn().await;
    let (status, body) = json(app.get("/coffee/cafes?city=Paris").await).await;
    assert_error(status, &body, 404, "NOT_FOUND");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("\"Paris\"") && message.contains("Lisbon"),
        "{message}"
    );
}

#[tokio::test]
async fn cafes_without_a_city_is_a_400() {
    let app = TestApp::spawn().await;
    for path in [
        "/coffee/cafes",
        "/coffee/cafes?city=",
        "/coffee/cafes?city=%20",
    ] {
        let (status, body) = json(app.get(path).await).await;
        assert_error(status, &body, 400, "INVALID_ARGUMENT");
    }
}

#[tokio::test]
async fn unknown_paths_are_json_404s() {
    errors::unknown_paths_are_json_404s::<Service>(&[
        "/",
        "/coffee/methods",
        "/coffee/methods/v60/steps",
        "/coffee/healthz",
        "/smoothie",
    ])
    .await;
}

#[tokio::test]
async fn another_method_on_a_known_path_is_a_json_405() {
    errors::another_method_on_a_known_path_is_a_json_405::<Service>(
        Method::DELETE,
        "/coffee/methods/v60",
    )
    .await;
}

#[test]
fn no_route_ends_in_z_because_cloud_run_reserves_those_paths() {
    for route in coffee_service::ROUTES {
        assert!(!route.ends_with('z'), "{route}");
        assert!(route.starts_with(coffee_service::PREFIX), "{route}");
    }
}
