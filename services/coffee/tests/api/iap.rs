//! The IAP assertion check in front of every route, and whoami.

use google_tokens::{IapClaims, SigningKey, forge};

use crate::helpers::{AUDIENCE, EMAIL, TestApp, USER_ID, json};

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
    let app = TestApp::spawn().await;
    for path in EVERY_ROUTE {
        let (status, body) = json(app.get_with(path, None).await).await;
        assert_eq!(status, 401, "{path}: {body}");
        assert_eq!(body["error"]["status"], "UNAUTHENTICATED");
        assert_eq!(body["error"]["reason"], "missing_iap_assertion", "{path}");
    }
}

#[tokio::test]
async fn invalid_assertions_are_refused_naming_the_rule() {
    let app = TestApp::spawn().await;
    let good = IapClaims::new(AUDIENCE, EMAIL, USER_ID, google_tokens::now_unix());
    let mut smoothie_backend = good.clone();
    smoothie_backend.aud = "/projects/123456789012/global/backendServices/1".into();
    let mut expired = good.clone();
    expired.iat -= 700;
    expired.exp -= 700;
    let stranger = SigningKey::generate_ec(None).expect("key");
    let public = app.key.public_key_pem().expect("pem");

    let cases = [
        // An assertion IAP minted for another backend must not open this one.
        (
            app.key.sign(&smoothie_backend).expect("sign"),
            "wrong_audience",
        ),
        (app.key.sign(&expired).expect("sign"), "expired"),
        (stranger.sign(&good).expect("sign"), "unknown_kid"),
        (forge::alg_none(&good), "alg_not_allowed"),
        (
            forge::hs256_with_public_key(&good, app.key.kid(), public.as_bytes()),
            "alg_not_allowed",
        ),
        (
            forge::tamper_payload(&app.key.sign(&good).expect("sign"), |p| {
                p["email"] = "admin@corp.com".into()
            }),
            "bad_signature",
        ),
    ];
    for (token, rule) in cases {
        let (status, body) = json(app.get_with("/coffee", Some(&token)).await).await;
        assert_eq!(status, 401, "{rule}: {body}");
        assert_eq!(body["error"]["reason"], "invalid_iap_assertion", "{body}");
        assert_eq!(body["error"]["rule"], rule, "{body}");
        assert!(
            !body.to_string().contains(&token),
            "the token is echoed: {body}"
        );
    }
}

#[tokio::test]
async fn a_valid_assertion_is_served() {
    let app = TestApp::spawn().await;
    let (status, body) = json(app.get("/coffee").await).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn whoami_returns_the_verified_identity() {
    let app = TestApp::spawn().await;
    let (status, body) = json(app.get("/coffee/whoami").await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["verified"], true);
    assert_eq!(body["email"], EMAIL);
    assert_eq!(body["user_id"], USER_ID);
    assert_eq!(body["audience"], AUDIENCE);
}

#[tokio::test]
async fn whoami_ignores_forged_identity_headers_next_to_a_valid_assertion() {
    let app = TestApp::spawn().await;
    let response = app
        .http
        .get(app.url("/coffee/whoami"))
        .header("x-goog-iap-jwt-assertion", app.assertion())
        .header(
            "x-goog-authenticated-user-email",
            "accounts.google.com:admin@corp.com",
        )
        .header("x-goog-authenticated-user-id", "accounts.google.com:1")
        .send()
        .await
        .expect("request");
    let (status, body) = json(response).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["email"], EMAIL);
    assert_eq!(body["user_id"], USER_ID);
}

#[tokio::test]
async fn with_the_check_disabled_requests_are_served_and_the_identity_is_unverified() {
    let app = TestApp::spawn_disabled().await;
    let (status, _) = json(app.get_with("/coffee/methods/v60", None).await).await;
    assert_eq!(status, 200);
    let response = app
        .http
        .get(app.url("/coffee/whoami"))
        .header(
            "x-goog-authenticated-user-email",
            "accounts.google.com:admin@corp.com",
        )
        .send()
        .await
        .expect("request");
    let (status, body) = json(response).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["verified"], false, "{body}");
    assert!(
        body.get("email").is_none(),
        "an unverified email was shown: {body}"
    );
}
