//! The recipe routes: shapes, computed nutrition, 404s and 400s.

use axum::http::Method;
use iap_service::test_util::errors;
use smoothie_service::SmoothieService as Service;

use crate::helpers::{TestApp, assert_error, json};

fn close(a: f64, b: f64, tolerance: f64) -> bool {
    (a - b).abs() <= tolerance
}

#[tokio::test]
async fn the_list_has_every_recipe_with_its_id_name_and_tags() {
    let app = TestApp::spawn().await;
    let (status, body) = json(app.get("/smoothie").await).await;
    assert_eq!(status, 200, "{body}");
    let recipes = body["recipes"].as_array().expect("recipes array");
    assert!(recipes.len() >= 6, "{body}");
    for r in recipes {
        assert!(r["id"].as_str().is_some_and(|s| !s.is_empty()), "{r}");
        assert!(r["name"].as_str().is_some_and(|s| !s.is_empty()), "{r}");
        assert!(r["tags"].is_array(), "{r}");
        assert!(r.get("ingredients").is_none(), "the list is a summary: {r}");
    }
    assert!(recipes.iter().any(|r| r["id"] == "green-machine"));
}

#[tokio::test]
async fn the_list_is_served_with_a_trailing_slash_too() {
    let app = TestApp::spawn().await;
    let (status, with_slash) = json(app.get("/smoothie/").await).await;
    assert_eq!(status, 200);
    let (_, without) = json(app.get("/smoothie").await).await;
    assert_eq!(with_slash, without);
}

#[tokio::test]
async fn a_recipe_lists_ingredients_with_amounts_and_nutrition_per_serving() {
    let app = TestApp::spawn().await;
    let (status, body) = json(app.get("/smoothie/recipes/strawberry-banana").await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], "strawberry-banana");
    assert_eq!(body["servings"], 2);
    let ingredients = body["ingredients"].as_array().expect("ingredients");
    assert_eq!(ingredients.len(), 5);
    let banana = ingredients
        .iter()
        .find(|i| i["id"] == "banana")
        .expect("banana");
    assert_eq!(banana["amount"], 120.0);
    assert_eq!(banana["unit"], "g");
    // 89 kcal per 100 g, 120 g.
    assert_eq!(banana["nutrition"]["kcal"], 106.8);
    let milk = ingredients
        .iter()
        .find(|i| i["id"] == "whole-milk")
        .expect("milk");
    assert_eq!(milk["unit"], "ml");

    // Per serving is the total over the servings, and the total is the sum of the portions.
    let sum: f64 = ingredients
        .iter()
        .map(|i| i["nutrition"]["kcal"].as_f64().expect("kcal"))
        .sum();
    let total = body["nutrition_total"]["kcal"].as_f64().expect("total");
    let per_serving = body["nutrition_per_serving"]["kcal"]
        .as_f64()
        .expect("per serving");
    assert!(close(sum, total, 0.3), "{sum} vs {total}");
    assert!(
        close(per_serving * 2.0, total, 0.2),
        "{per_serving} vs {total}"
    );
    for field in [
        "kcal",
        "protein_g",
        "carbs_g",
        "sugar_g",
        "fat_g",
        "fiber_g",
    ] {
        assert!(body["nutrition_per_serving"][field].is_number(), "{field}");
    }
}

#[tokio::test]
async fn an_unknown_recipe_is_a_json_404_naming_it() {
    let app = TestApp::spawn().await;
    let (status, body) = json(app.get("/smoothie/recipes/x").await).await;
    assert_error(status, &body, 404, "NOT_FOUND");
    assert_eq!(body["error"]["message"], "no recipe \"x\"");
}

#[tokio::test]
async fn search_finds_recipes_by_ingredient_ignoring_case() {
    let app = TestApp::spawn().await;
    let (status, lower) = json(app.get("/smoothie/search?ingredient=banana").await).await;
    assert_eq!(status, 200, "{lower}");
    let (_, upper) = json(app.get("/smoothie/search?ingredient=BaNaNa").await).await;
    assert_eq!(lower["recipes"], upper["recipes"]);
    let ids: Vec<&str> = lower["recipes"]
        .as_array()
        .expect("recipes")
        .iter()
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert!(ids.contains(&"green-machine"), "{ids:?}");
    assert!(!ids.contains(&"apple-ginger-glow"), "{ids:?}");
    assert_eq!(lower["ingredient"], "banana");
}

#[tokio::test]
async fn search_matches_ingredient_names_too() {
    let app = TestApp::spawn().await;
    let (status, body) = json(app.get("/smoothie/search?ingredient=Baby%20Spinach").await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["recipes"].as_array().map(Vec::len), Some(2), "{body}");
}

#[tokio::test]
async fn search_with_no_match_is_an_empty_list() {
    let app = TestApp::spawn().await;
    let (status, body) = json(app.get("/smoothie/search?ingredient=dragonfruit").await).await;
    assert_eq!(status, 200);
    assert_eq!(body["recipes"], serde_json::json!([]));
}

#[tokio::test]
async fn search_without_an_ingredient_is_a_400() {
    let app = TestApp::spawn().await;
    let long = format!("/smoothie/search?ingredient={}", "a".repeat(65));
    for path in [
        "/smoothie/search",
        "/smoothie/search?ingredient=",
        "/smoothie/search?ingredient=%20%20",
        "/smoothie/search?fruit=banana",
        "/smoothie/search?ingredient=a&ingredient=b",
        long.as_str(),
    ] {
        let (status, body) = json(app.get(path).await).await;
        assert_error(status, &body, 400, "INVALID_ARGUMENT");
    }
}

#[tokio::test]
async fn nutrition_is_computed_for_the_requested_servings() {
    let app = TestApp::spawn().await;
    let (status, one) = json(
        app.get("/smoothie/recipes/green-machine/nutrition?servings=1")
            .await,
    )
    .await;
    assert_eq!(status, 200, "{one}");
    let (_, four) = json(
        app.get("/smoothie/recipes/green-machine/nutrition?servings=4")
            .await,
    )
    .await;
    assert_eq!(four["servings"], 4);
    assert_eq!(four["recipe"], "green-machine");
    assert_eq!(four["recipe_servings"], 2);
    let kcal = |v: &serde_json::Value| v["nutrition"]["kcal"].as_f64().expect("kcal");
    assert!(close(kcal(&four), 4.0 * kcal(&one), 0.3), "{four} vs {one}");

    // One serving matches the recipe's own per-serving figure.
    let (_, recipe) = json(app.get("/smoothie/recipes/green-machine").await).await;
    assert_eq!(one["nutrition"], recipe["nutrition_per_serving"]);
}

#[tokio::test]
async fn nutrition_defaults_to_one_serving() {
    let app = TestApp::spawn().await;
    let (status, body) = json(app.get("/smoothie/recipes/berry-blast/nutrition").await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["servings"], 1);
}

#[tokio::test]
async fn nutrition_refuses_servings_that_are_not_a_whole_number_from_1_to_100() {
    let app = TestApp::spawn().await;
    for servings in [
        "0",
        "-1",
        "101",
        "1.5",
        "abc",
        "",
        "1e2",
        "%2B3",
        "4294967297",
    ] {
        let path = format!("/smoothie/recipes/berry-blast/nutrition?servings={servings}");
        let (status, body) = json(app.get(&path).await).await;
        assert_error(status, &body, 400, "INVALID_ARGUMENT");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("servings")),
            "{body}"
        );
    }
    let (status, _) = json(
        app.get("/smoothie/recipes/berry-blast/nutrition?servings=100")
            .await,
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn nutrition_of_an_unknown_recipe_is_a_404() {
    let app = TestApp::spawn().await;
    let (status, body) = json(app.get("/smoothie/recipes/nope/nutrition?servings=2").await).await;
    assert_error(status, &body, 404, "NOT_FOUND");
    assert_eq!(body["error"]["message"], "no recipe \"nope\"");
}

#[tokio::test]
async fn unknown_paths_are_json_404s() {
    errors::unknown_paths_are_json_404s::<Service>(&[
        "/",
        "/smoothie/recipes",
        "/smoothie/recipes/green-machine/extra",
        "/smoothie/healthz",
        "/coffee",
        "/smoothies",
    ])
    .await;
}

#[tokio::test]
async fn another_method_on_a_known_path_is_a_json_405() {
    errors::another_method_on_a_known_path_is_a_json_405::<Service>(Method::POST, "/smoothie")
        .await;
}

#[tokio::test]
async fn responses_carry_a_request_id() {
    let app = TestApp::spawn().await;
    let response = app.get("/smoothie").await;
    assert!(response.headers().contains_key("x-request-id"));
}

#[test]
fn no_route_ends_in_z_because_cloud_run_reserves_those_paths() {
    for route in smoothie_service::ROUTES {
        assert!(!route.ends_with('z'), "{route}");
        assert!(route.starts_with(smoothie_service::PREFIX), "{route}");
    }
}
