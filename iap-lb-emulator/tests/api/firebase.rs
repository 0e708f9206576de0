//! Firebase Auth at identitytoolkit and securetoken (items 80-83): shapes, error envelopes,
//! RS256 tokens verifiable at the securetoken key URLs.

use axum::http::StatusCode;
use google_tokens::claims::FIREBASE_CUSTOM_TOKEN_AUDIENCE;
use google_tokens::{
    Alg, FirebaseClaims, FirebaseCustomTokenClaims, KeySet, PemMap, Policy, forge, verify,
};
use iap_lb_emulator::{ApiKeys, EmailPrivacy};
use serde_json::{Value, json};

use crate::helpers::{API_KEY, GATEWAY_SA, PROJECT_ID, PROJECT_NUMBER, Resp, TestApp};
use crate::oauth2::{key_file, signer};

const IDT: &str = "identitytoolkit.googleapis.com";

async fn call(app: &TestApp, method: &str, body: Value) -> Resp {
    app.post_json(IDT, &format!("/v1/accounts:{method}?key={API_KEY}"), body)
        .await
}

/// Identity Toolkit's 400 envelope (item 82; firebase-tools `BadRequestError`).
fn assert_error(resp: &Resp, message: &str) {
    assert_eq!(resp.status, StatusCode::BAD_REQUEST, "{}", resp.text());
    assert_eq!(
        resp.json(),
        json!({"error": {
            "code": 400,
            "message": message,
            "errors": [{"message": message, "reason": "invalid", "domain": "global"}]
        }})
    );
}

async fn verify_firebase(app: &TestApp, token: &str) -> FirebaseClaims {
    let map: PemMap = serde_json::from_slice(
        &app.get(
            "www.googleapis.com",
            "/robot/v1/metadata/x509/securetoken@system.gserviceaccount.com",
        )
        .await
        .body,
    )
    .expect("x509 map");
    let keys = KeySet::from_pem_map(Alg::Rs256, &map).expect("keys");
    let header = google_tokens::jwt::split(token).expect("jwt").header;
    assert_eq!(header.alg, "RS256", "never unsigned");
    verify(
        token,
        &keys,
        &Policy::firebase_id_token(PROJECT_ID),
        google_tokens::now_unix(),
    )
    .expect("a valid Firebase ID token")
}

async fn sign_up(app: &TestApp, email: &str, password: &str) -> Value {
    let resp = call(
        app,
        "signUp",
        json!({"email": email, "password": password, "returnSecureToken": true}),
    )
    .await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text());
    resp.json()
}

#[tokio::test]
async fn sign_up_returns_googles_shape_and_a_verifiable_rs256_token() {
    let app = TestApp::new();
    let body = sign_up(&app, "Alice@Example.com", "secret1").await;
    assert_eq!(body["kind"], "identitytoolkit#SignupNewUserResponse");
    assert_eq!(body["email"], "alice@example.com");
    assert_eq!(body["expiresIn"], "3600");
    assert!(body["refreshToken"].as_str().is_some_and(|t| !t.is_empty()));
    let claims = verify_firebase(&app, body["idToken"].as_str().expect("idToken")).await;
    assert_eq!(
        claims.iss,
        format!("https://securetoken.google.com/{PROJECT_ID}")
    );
    assert_eq!(claims.aud, PROJECT_ID);
    assert_eq!(claims.sub, body["localId"].as_str().expect("localId"));
    assert_eq!(claims.user_id, claims.sub);
    assert_eq!(claims.email.as_deref(), Some("alice@example.com"));
    assert_eq!(claims.firebase.sign_in_provider, "password");
    assert_eq!(
        claims.firebase.identities["email"],
        json!(["alice@example.com"])
    );
    assert_eq!(claims.exp - claims.iat, 3600);
}

#[tokio::test]
async fn signing_up_twice_is_email_exists_even_with_enumeration_protection() {
    let app = TestApp::new();
    sign_up(&app, "alice@example.com", "secret1").await;
    let resp = call(
        &app,
        "signUp",
        json!({"email": "ALICE@example.com", "password": "other-secret"}),
    )
    .await;
    assert_error(&resp, "EMAIL_EXISTS");
}

#[tokio::test]
async fn sign_up_errors_come_in_firebase_order() {
    let app = TestApp::new();
    sign_up(&app, "taken@example.com", "secret1").await;
    let cases = [
        (json!({"email": "a@example.com"}), "MISSING_PASSWORD"),
        (json!({"password": "secret1"}), "MISSING_EMAIL"),
        (
            json!({"email": "not-an-email", "password": "secret1"}),
            "INVALID_EMAIL",
        ),
        // EMAIL_EXISTS is checked before the password's strength.
        (
            json!({"email": "taken@example.com", "password": "123"}),
            "EMAIL_EXISTS",
        ),
        (
            json!({"email": "b@example.com", "password": "12345"}),
            "WEAK_PASSWORD : Password should be at least 6 characters",
        ),
    ];
    for (body, message) in cases {
        assert_error(&call(&app, "signUp", body).await, message);
    }
}

#[tokio::test]
async fn an_empty_sign_up_makes_an_anonymous_user() {
    let app = TestApp::new();
    let resp = app
        .send(
            crate::helpers::request(
                axum::http::Method::POST,
                IDT,
                &format!("/v1/accounts:signUp?key={API_KEY}"),
            )
            .body(axum::body::Body::empty())
            .expect("req"),
        )
        .await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text());
    let body = resp.json();
    assert!(body.get("email").is_none());
    let claims = verify_firebase(&app, body["idToken"].as_str().expect("idToken")).await;
    assert_eq!(claims.firebase.sign_in_provider, "anonymous");
    // Set only for anonymous sign-in, as production does.
    assert_eq!(claims.extra["provider_id"], "anonymous");
}

#[tokio::test]
async fn a_call_without_an_api_key_is_permission_denied() {
    let app = TestApp::new();
    let resp = app
        .post_json(
            IDT,
            "/v1/accounts:signUp",
            json!({"email": "a@b.c", "password": "secret1"}),
        )
        .await;
    assert_eq!(resp.status, StatusCode::FORBIDDEN);
    // item 83: what production (and the Firebase emulator) answers.
    assert_eq!(
        resp.json(),
        json!({"error": {
            "code": 403,
            "message": "The request is missing a valid API key.",
            "errors": [{
                "message": "The request is missing a valid API key.",
                "reason": "forbidden",
                "domain": "global"
            }],
            "status": "PERMISSION_DENIED"
        }})
    );
}

#[tokio::test]
async fn with_configured_keys_a_foreign_key_is_not_valid_and_the_header_form_works() {
    let app = TestApp::with(|c| c.firebase_api_keys = ApiKeys::Only(vec!["good-key".into()]));
    let resp = app
        .post_json(IDT, "/v1/accounts:signUp?key=bad-key", json!({}))
        .await;
    assert_eq!(resp.status, StatusCode::BAD_REQUEST);
    assert_eq!(resp.json()["error"]["status"], "INVALID_ARGUMENT");
    assert_eq!(
        resp.json()["error"]["message"],
        "API key not valid. Please pass a valid API key."
    );
    let resp = app
        .send(
            crate::helpers::request(axum::http::Method::POST, IDT, "/v1/accounts:signUp")
                .header("X-Goog-Api-Key", "good-key")
                .body(axum::body::Body::from("{}"))
                .expect("req"),
        )
        .await;
    assert_eq!(resp.status, StatusCode::OK);
}

#[tokio::test]
async fn sign_in_with_password_returns_a_fresh_session() {
    let app = TestApp::new();
    let up = sign_up(&app, "alice@example.com", "secret1").await;
    let resp = call(
        &app,
        "signInWithPassword",
        json!({"email": "alice@example.com", "password": "secret1", "returnSecureToken": true}),
    )
    .await;
    assert_eq!(resp.status, StatusCode::OK);
    let body = resp.json();
    assert_eq!(body["kind"], "identitytoolkit#VerifyPasswordResponse");
    assert_eq!(body["registered"], true);
    assert_eq!(body["localId"], up["localId"]);
    assert_eq!(body["email"], "alice@example.com");
    assert_eq!(body["expiresIn"], "3600");
    assert_ne!(body["refreshToken"], up["refreshToken"]);
    verify_firebase(&app, body["idToken"].as_str().expect("idToken")).await;
}

#[tokio::test]
async fn enumeration_protection_hides_which_of_email_and_password_was_wrong() {
    let app = TestApp::new();
    sign_up(&app, "alice@example.com", "secret1").await;
    for body in [
        json!({"email": "alice@example.com", "password": "wrong-one"}),
        json!({"email": "nobody@example.com", "password": "secret1"}),
    ] {
        assert_error(
            &call(&app, "signInWithPassword", body).await,
            "INVALID_LOGIN_CREDENTIALS",
        );
    }
    assert_error(
        &call(&app, "signInWithPassword", json!({"password": "x"})).await,
        "MISSING_EMAIL",
    );
    assert_error(
        &call(
            &app,
            "signInWithPassword",
            json!({"email": "", "password": "x"}),
        )
        .await,
        "INVALID_EMAIL",
    );
    assert_error(
        &call(&app, "signInWithPassword", json!({"email": "a@b.c"})).await,
        "MISSING_PASSWORD",
    );
}

#[tokio::test]
async fn without_protection_the_legacy_codes_tell_them_apart() {
    let app = TestApp::with(|c| c.email_privacy = EmailPrivacy::Legacy);
    sign_up(&app, "alice@example.com", "secret1").await;
    assert_error(
        &call(
            &app,
            "signInWithPassword",
            json!({"email": "alice@example.com", "password": "nope"}),
        )
        .await,
        "INVALID_PASSWORD",
    );
    assert_error(
        &call(
            &app,
            "signInWithPassword",
            json!({"email": "bob@example.com", "password": "nope"}),
        )
        .await,
        "EMAIL_NOT_FOUND",
    );
}

#[tokio::test]
async fn a_refresh_returns_googles_shape_and_keeps_auth_time() {
    let app = TestApp::new();
    let up = sign_up(&app, "alice@example.com", "secret1").await;
    let first = verify_firebase(&app, up["idToken"].as_str().expect("idToken")).await;
    let refresh_token = up["refreshToken"].as_str().expect("refreshToken");
    let resp = app
        .post_form(
            "securetoken.googleapis.com",
            &format!("/v1/token?key={API_KEY}"),
            &format!("grant_type=refresh_token&refresh_token={refresh_token}"),
        )
        .await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text());
    let body = resp.json();
    assert_eq!(body["expires_in"], "3600");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["refresh_token"], refresh_token);
    assert_eq!(body["user_id"], up["localId"]);
    // item 82: the project number, as a string, not the id.
    assert_eq!(body["project_id"], PROJECT_NUMBER.to_string());
    assert_eq!(body["access_token"], body["id_token"]);
    let refreshed = verify_firebase(&app, body["id_token"].as_str().expect("id_token")).await;
    assert_eq!(refreshed.auth_time, first.auth_time);
    assert_eq!(refreshed.sub, first.sub);
}

#[tokio::test]
async fn refresh_errors_come_in_firebase_order() {
    let app = TestApp::new();
    let path = format!("/v1/token?key={API_KEY}");
    let cases = [
        ("", "MISSING_GRANT_TYPE"),
        ("grant_type=authorization_code", "INVALID_GRANT_TYPE"),
        ("grant_type=refresh_token", "MISSING_REFRESH_TOKEN"),
        (
            "grant_type=refresh_token&refresh_token=made-up",
            "INVALID_REFRESH_TOKEN",
        ),
    ];
    for (form, message) in cases {
        assert_error(
            &app.post_form("securetoken.googleapis.com", &path, form)
                .await,
            message,
        );
    }
    let resp = app
        .post_form(
            "securetoken.googleapis.com",
            "/v1/token",
            "grant_type=refresh_token",
        )
        .await;
    assert_eq!(resp.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_refresh_accepts_a_json_body_too() {
    let app = TestApp::new();
    let up = sign_up(&app, "alice@example.com", "secret1").await;
    let resp = app
        .post_json(
            "securetoken.googleapis.com",
            &format!("/v1/token?key={API_KEY}"),
            json!({"grantType": "refresh_token", "refreshToken": up["refreshToken"]}),
        )
        .await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text());
}

fn custom_token_claims(uid: &str) -> FirebaseCustomTokenClaims {
    FirebaseCustomTokenClaims::new(GATEWAY_SA, uid, google_tokens::now_unix())
}

#[tokio::test]
async fn a_custom_token_signed_by_a_project_service_account_signs_in() {
    let app = TestApp::new();
    let key = signer(&key_file(&app, GATEWAY_SA).await);
    let mut claims = custom_token_claims("uid-bob");
    claims.claims = Some(serde_json::Map::from_iter([(
        "role".into(),
        json!("admin"),
    )]));
    let token = key.sign(&claims).expect("sign");
    let resp = call(
        &app,
        "signInWithCustomToken",
        json!({"token": token, "returnSecureToken": true}),
    )
    .await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text());
    let body = resp.json();
    assert_eq!(body["kind"], "identitytoolkit#VerifyCustomTokenResponse");
    assert_eq!(body["isNewUser"], true);
    assert_eq!(body["expiresIn"], "3600");
    let id = verify_firebase(&app, body["idToken"].as_str().expect("idToken")).await;
    assert_eq!(id.sub, "uid-bob");
    assert_eq!(id.firebase.sign_in_provider, "custom");
    // Custom claims sit at the top level (item 81).
    assert_eq!(id.extra["role"], "admin");

    let again = call(&app, "signInWithCustomToken", json!({"token": token})).await;
    assert_eq!(again.json()["isNewUser"], false);
}

#[tokio::test]
async fn unsigned_forged_or_misaddressed_custom_tokens_are_refused() {
    let app = TestApp::new();
    let key = signer(&key_file(&app, GATEWAY_SA).await);
    let stranger = google_tokens::SigningKey::generate_rsa(Some(key.kid().into())).expect("key");
    let mut wrong_aud = custom_token_claims("u");
    wrong_aud.aud = PROJECT_ID.into();
    let cases = [
        forge::alg_none(&custom_token_claims("u")),
        stranger.sign(&custom_token_claims("u")).expect("sign"),
        key.sign(&wrong_aud).expect("sign"),
    ];
    for token in cases {
        assert_error(
            &call(&app, "signInWithCustomToken", json!({"token": token})).await,
            "INVALID_CUSTOM_TOKEN",
        );
    }
    assert_error(
        &call(&app, "signInWithCustomToken", json!({"token": "garbage"})).await,
        "INVALID_CUSTOM_TOKEN : Invalid assertion format",
    );
    assert_error(
        &call(&app, "signInWithCustomToken", json!({})).await,
        "MISSING_CUSTOM_TOKEN",
    );
    let mut forbidden = custom_token_claims("u");
    forbidden.claims = Some(serde_json::Map::from_iter([("firebase".into(), json!({}))]));
    assert_error(
        &call(
            &app,
            "signInWithCustomToken",
            json!({"token": key.sign(&forbidden).expect("sign")}),
        )
        .await,
        "FORBIDDEN_CLAIM : firebase",
    );
    assert_eq!(FIREBASE_CUSTOM_TOKEN_AUDIENCE, custom_token_claims("u").aud);
}

#[tokio::test]
async fn unknown_identitytoolkit_methods_are_404_in_googles_envelope() {
    let app = TestApp::new();
    let resp = call(&app, "lookup", json!({})).await;
    assert_eq!(resp.status, StatusCode::NOT_FOUND);
    assert_eq!(resp.json()["error"]["status"], "NOT_FOUND");
}

#[tokio::test]
async fn the_host_prefix_form_reaches_identity_toolkit() {
    let app = TestApp::new();
    let resp = app
        .post_json(
            "127.0.0.1:9099",
            &format!("/identitytoolkit.googleapis.com/v1/accounts:signUp?key={API_KEY}"),
            json!({"email": "alice@example.com", "password": "secret1"}),
        )
        .await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text());
}
