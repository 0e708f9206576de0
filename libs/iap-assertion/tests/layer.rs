//! The layer in front of a tiny router, driven with `oneshot` (no server socket), verifying
//! against a JWKS served by a local key server on a random loopback port.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use google_tokens::{IapClaims, Jwks, SigningKey, forge};
use http::{Request, StatusCode, header};
use iap_assertion::{IapAudience, IapCheck, IapLayer, Identity, KeyServerTls};
use serde_json::Value;
use tower::ServiceExt;

const AUDIENCE: &str = "/projects/123456789012/global/backendServices/4242424242424242";
const OTHER_AUDIENCE: &str = "/projects/123456789012/global/backendServices/999";
const EMAIL: &str = "my-gateway-sa@my-project.iam.gserviceaccount.com";
const USER_ID: &str = "112233445566778899";

struct Fixture {
    key: Arc<SigningKey>,
    app: Router,
}

/// Serves `keys` as a JWKS on 127.0.0.1:0 and returns its URL.
async fn jwks_server(keys: Vec<Arc<SigningKey>>) -> reqwest::Url {
    let jwks = Jwks {
        keys: keys.iter().map(|k| k.public_jwk()).collect(),
    };
    let app = Router::new().route(
        "/iap/verify/public_key-jwk",
        get(move || {
            let jwks = jwks.clone();
            async move { axum::Json(jwks) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    reqwest::Url::parse(&format!("http://{addr}/iap/verify/public_key-jwk")).expect("url")
}

/// A handler that answers the identity it was given, and echoes whether the unsigned identity
/// headers reached it.
fn router(layer: IapLayer) -> Router {
    Router::new()
        .route(
            "/whoami",
            get(|identity: Identity, headers: http::HeaderMap| async move {
                axum::Json(serde_json::json!({
                    "identity": identity,
                    "saw_user_email_header": headers.contains_key("x-goog-authenticated-user-email"),
                    "saw_user_id_header": headers.contains_key("x-goog-authenticated-user-id"),
                }))
            }),
        )
        .layer(layer)
}

async fn enforcing() -> Fixture {
    google_tokens::install_crypto_provider();
    let key = Arc::new(SigningKey::generate_ec(None).expect("key"));
    let url = jwks_server(vec![key.clone()]).await;
    let layer = IapLayer::new(
        IapCheck::Enforce {
            audience: IapAudience::parse(AUDIENCE).expect("audience"),
            jwk_url: url,
        },
        KeyServerTls::Only(vec![]),
    )
    .expect("layer");
    Fixture {
        key,
        app: router(layer),
    }
}

fn claims() -> IapClaims {
    IapClaims::new(AUDIENCE, EMAIL, USER_ID, google_tokens::now_unix())
}

async fn call(
    app: &Router,
    assertion: Option<&str>,
    extra: &[(&str, &str)],
) -> (StatusCode, Value) {
    let mut request = Request::get("/whoami");
    if let Some(token) = assertion {
        request = request.header("x-goog-iap-jwt-assertion", token);
    }
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).expect("request"))
        .await
        .expect("infallible");
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(content_type, "application/json", "status {status}");
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body");
    (status, serde_json::from_slice(&body).expect("json body"))
}

/// 401 with the reason and rule named, and the token nowhere in the body.
async fn check_rejected(app: &Router, token: Option<&str>, reason: &str, rule: &str) {
    let (status, body) = call(app, token, &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"]["code"], 401, "{body}");
    assert_eq!(body["error"]["status"], "UNAUTHENTICATED", "{body}");
    assert_eq!(body["error"]["reason"], reason, "{body}");
    assert_eq!(body["error"]["rule"], rule, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
    if let Some(token) = token.filter(|t| !t.is_empty()) {
        let text = body.to_string();
        for segment in token.split('.').filter(|s| s.len() > 8) {
            assert!(!text.contains(segment), "body echoes the token: {text}");
        }
    }
}

#[tokio::test]
async fn a_request_without_an_assertion_is_refused_as_missing() {
    let f = enforcing().await;
    check_rejected(&f.app, None, "missing_iap_assertion", "missing").await;
}

#[tokio::test]
async fn an_empty_assertion_counts_as_missing() {
    let f = enforcing().await;
    check_rejected(&f.app, Some(""), "missing_iap_assertion", "missing").await;
}

#[tokio::test]
async fn a_valid_assertion_passes_with_the_verified_identity() {
    let f = enforcing().await;
    let token = f.key.sign(&claims()).expect("sign");
    let (status, body) = call(&f.app, Some(&token), &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let id = &body["identity"];
    assert_eq!(id["verified"], true);
    assert_eq!(id["email"], EMAIL);
    assert_eq!(id["user_id"], USER_ID);
    assert_eq!(id["sub"], format!("accounts.google.com:{USER_ID}"));
    assert_eq!(id["audience"], AUDIENCE);
    assert!(id["issued_at"].as_u64().is_some_and(|iat| iat > 0));
    assert_eq!(
        id["expires_at"]
            .as_u64()
            .zip(id["issued_at"].as_u64())
            .map(|(e, i)| e - i),
        Some(600)
    );
}

#[tokio::test]
async fn the_hosted_domain_is_passed_on_when_present() {
    let f = enforcing().await;
    let mut c = claims();
    c.hd = Some("example.com".into());
    let token = f.key.sign(&c).expect("sign");
    let (status, body) = call(&f.app, Some(&token), &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["identity"]["hosted_domain"], "example.com");
}

#[tokio::test]
async fn forged_identity_headers_never_reach_the_handler_nor_change_the_identity() {
    let f = enforcing().await;
    let token = f.key.sign(&claims()).expect("sign");
    let (status, body) = call(
        &f.app,
        Some(&token),
        &[
            (
                "x-goog-authenticated-user-email",
                "accounts.google.com:admin@corp.com",
            ),
            ("x-goog-authenticated-user-id", "accounts.google.com:1"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["identity"]["email"], EMAIL);
    assert_eq!(body["saw_user_email_header"], false);
    assert_eq!(body["saw_user_id_header"], false);
}

#[tokio::test]
async fn forged_identity_headers_alone_do_not_authenticate() {
    let f = enforcing().await;
    let (status, body) = call(
        &f.app,
        None,
        &[(
            "x-goog-authenticated-user-email",
            "accounts.google.com:admin@corp.com",
        )],
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"]["reason"], "missing_iap_assertion");
}

#[tokio::test]
async fn an_expired_assertion_is_refused_as_expired() {
    let f = enforcing().await;
    let mut c = claims();
    // Issued 11 minutes ago: expired one minute ago, beyond the 30 s leeway.
    c.iat -= 660;
    c.exp -= 660;
    let token = f.key.sign(&c).expect("sign");
    check_rejected(&f.app, Some(&token), "invalid_iap_assertion", "expired").await;
}

#[tokio::test]
async fn an_assertion_for_another_backend_is_refused_as_wrong_audience() {
    let f = enforcing().await;
    let mut c = claims();
    c.aud = OTHER_AUDIENCE.into();
    let token = f.key.sign(&c).expect("sign");
    check_rejected(
        &f.app,
        Some(&token),
        "invalid_iap_assertion",
        "wrong_audience",
    )
    .await;
}

#[tokio::test]
async fn an_assertion_from_another_issuer_is_refused_as_wrong_issuer() {
    let f = enforcing().await;
    let mut c = claims();
    c.iss = "https://accounts.google.com".into();
    let token = f.key.sign(&c).expect("sign");
    check_rejected(
        &f.app,
        Some(&token),
        "invalid_iap_assertion",
        "wrong_issuer",
    )
    .await;
}

#[tokio::test]
async fn an_assertion_living_longer_than_ten_minutes_is_refused() {
    let f = enforcing().await;
    let mut c = claims();
    c.exp = c.iat + 3600;
    let token = f.key.sign(&c).expect("sign");
    check_rejected(
        &f.app,
        Some(&token),
        "invalid_iap_assertion",
        "lifetime_too_long",
    )
    .await;
}

#[tokio::test]
async fn an_assertion_signed_by_an_unpublished_key_is_refused_as_unknown_kid() {
    let f = enforcing().await;
    let stranger = SigningKey::generate_ec(Some("not-published".into())).expect("key");
    let token = stranger.sign(&claims()).expect("sign");
    check_rejected(&f.app, Some(&token), "invalid_iap_assertion", "unknown_kid").await;
}

#[tokio::test]
async fn an_assertion_claiming_a_published_kid_but_signed_elsewhere_is_a_bad_signature() {
    let f = enforcing().await;
    let impostor = SigningKey::generate_ec(Some(f.key.kid().into())).expect("key");
    let token = impostor.sign(&claims()).expect("sign");
    check_rejected(
        &f.app,
        Some(&token),
        "invalid_iap_assertion",
        "bad_signature",
    )
    .await;
}

#[tokio::test]
async fn an_unsigned_alg_none_assertion_is_refused_as_alg_not_allowed() {
    let f = enforcing().await;
    let token = forge::alg_none(&claims());
    check_rejected(
        &f.app,
        Some(&token),
        "invalid_iap_assertion",
        "alg_not_allowed",
    )
    .await;
}

#[tokio::test]
async fn an_hs256_assertion_keyed_with_the_public_key_is_refused_as_alg_not_allowed() {
    let f = enforcing().await;
    let public = f.key.public_key_pem().expect("pem");
    let token = forge::hs256_with_public_key(&claims(), f.key.kid(), public.as_bytes());
    check_rejected(
        &f.app,
        Some(&token),
        "invalid_iap_assertion",
        "alg_not_allowed",
    )
    .await;
}

#[tokio::test]
async fn an_rs256_assertion_is_refused_as_alg_not_allowed() {
    let f = enforcing().await;
    let rsa = SigningKey::generate_rsa(Some(f.key.kid().into())).expect("key");
    let token = rsa.sign(&claims()).expect("sign");
    check_rejected(
        &f.app,
        Some(&token),
        "invalid_iap_assertion",
        "alg_not_allowed",
    )
    .await;
}

#[tokio::test]
async fn a_payload_edited_after_signing_is_a_bad_signature() {
    let f = enforcing().await;
    let token = f.key.sign(&claims()).expect("sign");
    let tampered = forge::tamper_payload(&token, |p| p["email"] = "admin@corp.com".into());
    check_rejected(
        &f.app,
        Some(&tampered),
        "invalid_iap_assertion",
        "bad_signature",
    )
    .await;
}

#[tokio::test]
async fn an_assertion_without_a_kid_is_refused_as_missing_kid() {
    let f = enforcing().await;
    let token = forge::signed_with_header(&f.key, "ES256", None, &claims());
    check_rejected(&f.app, Some(&token), "invalid_iap_assertion", "missing_kid").await;
}

#[tokio::test]
async fn garbage_is_refused_as_malformed() {
    let f = enforcing().await;
    check_rejected(
        &f.app,
        Some("not-a-jwt"),
        "invalid_iap_assertion",
        "malformed",
    )
    .await;
}

#[tokio::test]
async fn a_non_ascii_assertion_header_is_refused_as_malformed() {
    let f = enforcing().await;
    let request = Request::get("/whoami")
        .header(
            "x-goog-iap-jwt-assertion",
            http::HeaderValue::from_bytes(b"ey\xffJ.x.y").expect("opaque bytes are a valid value"),
        )
        .body(Body::empty())
        .expect("request");
    let response = f.app.clone().oneshot(request).await.expect("infallible");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn two_assertion_headers_are_refused_even_if_one_is_valid() {
    let f = enforcing().await;
    let token = f.key.sign(&claims()).expect("sign");
    let request = Request::get("/whoami")
        .header("x-goog-iap-jwt-assertion", token.as_str())
        .header("x-goog-iap-jwt-assertion", token.as_str())
        .body(Body::empty())
        .expect("request");
    let response = f.app.clone().oneshot(request).await.expect("infallible");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_refusal_names_the_iap_challenge() {
    let f = enforcing().await;
    let response = f
        .app
        .clone()
        .oneshot(
            Request::get("/whoami")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("infallible");
    assert_eq!(
        response
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok()),
        Some("IAP realm=\"x-goog-iap-jwt-assertion\"")
    );
}

#[tokio::test]
async fn an_unreachable_key_server_fails_closed_with_503() {
    google_tokens::install_crypto_provider();
    // Bind then drop: the port is closed when the layer tries it.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    let layer = IapLayer::new(
        IapCheck::Enforce {
            audience: IapAudience::parse(AUDIENCE).expect("audience"),
            jwk_url: reqwest::Url::parse(&format!("http://{closed}/keys")).expect("url"),
        },
        KeyServerTls::Only(vec![]),
    )
    .expect("layer");
    let app = router(layer);
    let key = SigningKey::generate_ec(None).expect("key");
    let token = key.sign(&claims()).expect("sign");
    let (status, body) = call(&app, Some(&token), &[]).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["reason"], "iap_keys_unavailable");
}

#[tokio::test]
async fn disabled_mode_passes_requests_through_marked_unverified() {
    let layer = IapLayer::new(IapCheck::Disabled, KeyServerTls::Only(vec![])).expect("layer");
    assert!(!layer.is_enforced());
    let app = router(layer);
    let (status, body) = call(
        &app,
        None,
        &[(
            "x-goog-authenticated-user-email",
            "accounts.google.com:admin@corp.com",
        )],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["identity"]["verified"], false);
    assert!(body["identity"].get("email").is_none(), "{body}");
    assert_eq!(body["saw_user_email_header"], false);
}

#[tokio::test]
async fn a_handler_without_the_layer_gets_500_not_an_anonymous_identity() {
    let app = Router::new().route("/whoami", get(|id: Identity| async move { axum::Json(id) }));
    let (status, body) = call(&app, None, &[]).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
}
