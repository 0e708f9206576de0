//! The JWT-bearer exchange at oauth2.googleapis.com/token with keys minted by the emulator.

use axum::http::StatusCode;
use google_tokens::{
    GoogleIdClaims, Jwks, KeySet, Policy, ServiceAccountJwtClaims, SigningKey, forge, verify,
};
use serde_json::{Value, json};

use crate::helpers::{GATEWAY_SA, ROGUE_SA, TestApp};

const TOKEN_URL: &str = "https://oauth2.googleapis.com/token";
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// A key file for `email`, minted through the admin route.
pub async fn key_file(app: &TestApp, email: &str) -> Value {
    let resp = app
        .get(
            "127.0.0.1:1",
            &format!("/_emulator/service-accounts/{email}/key"),
        )
        .await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text());
    resp.json()
}

pub fn signer(key_file: &Value) -> SigningKey {
    SigningKey::from_pkcs8_pem(
        key_file["private_key"].as_str().expect("private_key"),
        key_file["private_key_id"].as_str().map(str::to_owned),
    )
    .expect("key")
}

fn assertion(email: &str, target_audience: Option<&str>) -> ServiceAccountJwtClaims {
    let mut claims = ServiceAccountJwtClaims::new(email, TOKEN_URL, google_tokens::now_unix());
    claims.target_audience = target_audience.map(str::to_owned);
    claims
}

async fn exchange(app: &TestApp, assertion: &str) -> crate::helpers::Resp {
    app.post_form(
        "oauth2.googleapis.com",
        "/token",
        &format!(
            "grant_type={}&assertion={assertion}",
            JWT_BEARER.replace(':', "%3A")
        ),
    )
    .await
}

fn oauth_error(resp: &crate::helpers::Resp, error: &str, description: &str) {
    assert_eq!(resp.status, StatusCode::BAD_REQUEST, "{}", resp.text());
    assert_eq!(
        resp.json(),
        json!({"error": error, "error_description": description})
    );
}

#[tokio::test]
async fn a_minted_key_file_has_googles_fields_and_points_token_uri_at_the_emulator() {
    let app = TestApp::new();
    let file = key_file(&app, GATEWAY_SA).await;
    assert_eq!(file["type"], "service_account");
    assert_eq!(file["client_email"], GATEWAY_SA);
    assert_eq!(
        file["client_id"],
        app.state
            .accounts
            .resolve(GATEWAY_SA)
            .expect("sa")
            .unique_id
    );
    assert_eq!(
        file["token_uri"],
        "http://127.0.0.1:1/oauth2.googleapis.com/token"
    );
    assert_eq!(
        file["client_x509_cert_url"],
        format!(
            "https://www.googleapis.com/robot/v1/metadata/x509/{}",
            GATEWAY_SA.replace('@', "%40")
        )
    );
    assert!(
        file["private_key"]
            .as_str()
            .expect("pem")
            .starts_with("-----BEGIN PRIVATE KEY-----")
    );
    // Published at once under the account's robot URL.
    let jwks: Jwks = serde_json::from_slice(
        &app.get(
            "www.googleapis.com",
            &format!("/service_accounts/v1/jwk/{GATEWAY_SA}"),
        )
        .await
        .body,
    )
    .expect("jwks");
    assert_eq!(jwks.keys[0].kid.as_deref(), file["private_key_id"].as_str());

    let google = app
        .get(
            "127.0.0.1:1",
            &format!("/_emulator/service-accounts/{GATEWAY_SA}/key?token_uri=google"),
        )
        .await
        .json();
    assert_eq!(google["token_uri"], TOKEN_URL);
}

#[tokio::test]
async fn keys_are_minted_only_for_the_projects_accounts() {
    let app = TestApp::new();
    let resp = app
        .get(
            "127.0.0.1:1",
            "/_emulator/service-accounts/evil@other.iam.gserviceaccount.com/key",
        )
        .await;
    assert_eq!(resp.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_signed_assertion_with_target_audience_returns_a_google_id_token_for_it() {
    let app = TestApp::new();
    let key = signer(&key_file(&app, GATEWAY_SA).await);
    let jwt = key
        .sign(&assertion(
            GATEWAY_SA,
            Some("https://iap.example/client-id"),
        ))
        .expect("sign");
    let resp = exchange(&app, &jwt).await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text());
    let body = resp.json();
    assert_eq!(
        body.as_object().map(|o| o.len()),
        Some(1),
        "only id_token: {body}"
    );
    let jwks: Jwks =
        serde_json::from_slice(&app.get("www.googleapis.com", "/oauth2/v3/certs").await.body)
            .expect("jwks");
    let claims: GoogleIdClaims = verify(
        body["id_token"].as_str().expect("id_token"),
        &KeySet::from_jwks(google_tokens::Alg::Rs256, &jwks).expect("keys"),
        &Policy::google_id_token(vec!["https://iap.example/client-id".into()]).requiring_email(),
        google_tokens::now_unix(),
    )
    .expect("a Google ID token");
    assert_eq!(claims.email.as_deref(), Some(GATEWAY_SA));
}

#[tokio::test]
async fn an_assertion_without_sub_as_google_auth_signs_it_is_accepted() {
    let app = TestApp::new();
    let key = signer(&key_file(&app, GATEWAY_SA).await);
    let now = google_tokens::now_unix();
    // google-auth's IDTokenCredentials: iat, exp, iss, aud, target_audience; no sub.
    let claims = json!({
        "iat": now, "exp": now + 3600, "iss": GATEWAY_SA, "aud": TOKEN_URL, "target_audience": "a"
    });
    let resp = exchange(&app, &key.sign(&claims).expect("sign")).await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text());
}

#[tokio::test]
async fn an_assertion_for_a_scope_returns_an_access_token() {
    let app = TestApp::new();
    let key = signer(&key_file(&app, GATEWAY_SA).await);
    let mut claims = assertion(GATEWAY_SA, None);
    claims.extra.insert(
        "scope".into(),
        "https://www.googleapis.com/auth/cloud-platform".into(),
    );
    let resp = exchange(&app, &key.sign(&claims).expect("sign")).await;
    assert_eq!(resp.status, StatusCode::OK);
    let body = resp.json();
    assert!(
        body["access_token"]
            .as_str()
            .expect("token")
            .starts_with("ya29.")
    );
    assert_eq!(body["token_type"], "Bearer");

    let resp = exchange(&app, &key.sign(&assertion(GATEWAY_SA, None)).expect("sign")).await;
    oauth_error(
        &resp,
        "invalid_scope",
        "Empty or missing scope not allowed.",
    );
}

#[tokio::test]
async fn a_wrong_grant_type_is_unsupported() {
    let app = TestApp::new();
    let resp = app
        .post_form("oauth2.googleapis.com", "/token", "grant_type=password")
        .await;
    oauth_error(
        &resp,
        "unsupported_grant_type",
        "Invalid grant_type: password",
    );
    let resp = app.post_form("oauth2.googleapis.com", "/token", "").await;
    oauth_error(&resp, "unsupported_grant_type", "Invalid grant_type: ");
}

#[tokio::test]
async fn an_assertion_from_an_unknown_account_is_not_found() {
    let app = TestApp::new();
    let key = SigningKey::generate_rsa(None).expect("key");
    let jwt = key
        .sign(&assertion(
            "ghost@my-project.iam.gserviceaccount.com",
            Some("a"),
        ))
        .expect("sign");
    oauth_error(
        &exchange(&app, &jwt).await,
        "invalid_grant",
        "Invalid grant: account not found",
    );
}

#[tokio::test]
async fn forged_and_foreign_assertions_have_an_invalid_signature() {
    let app = TestApp::new();
    let minted = signer(&key_file(&app, GATEWAY_SA).await);
    // Signed by a key the account never had, under the real kid.
    let stranger = SigningKey::generate_rsa(Some(minted.kid().into())).expect("key");
    let foreign = stranger
        .sign(&assertion(GATEWAY_SA, Some("a")))
        .expect("sign");
    let unsigned = forge::alg_none(&assertion(GATEWAY_SA, Some("a")));
    let tampered = forge::tamper_payload(
        &minted
            .sign(&assertion(GATEWAY_SA, Some("a")))
            .expect("sign"),
        |c| c["target_audience"] = "b".into(),
    );
    // The other account has no key at all.
    let keyless = minted.sign(&assertion(ROGUE_SA, Some("a"))).expect("sign");
    for jwt in [
        foreign,
        unsigned,
        tampered,
        keyless,
        "not-a-jwt".to_string(),
    ] {
        oauth_error(
            &exchange(&app, &jwt).await,
            "invalid_grant",
            "Invalid JWT Signature.",
        );
    }
}

#[tokio::test]
async fn an_expired_or_overlong_assertion_is_refused_with_the_short_lived_sentence() {
    let app = TestApp::new();
    let key = signer(&key_file(&app, GATEWAY_SA).await);
    let now = google_tokens::now_unix();
    let mut expired = assertion(GATEWAY_SA, Some("a"));
    expired.iat = now - 7200;
    expired.exp = now - 3600;
    let mut overlong = assertion(GATEWAY_SA, Some("a"));
    overlong.exp = overlong.iat + 7200;
    for claims in [expired, overlong] {
        oauth_error(
            &exchange(&app, &key.sign(&claims).expect("sign")).await,
            "invalid_grant",
            "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable \
             timeframe. Check your iat and exp values and use a clock with skew to account for \
             clock differences between systems.",
        );
    }
}

#[tokio::test]
async fn an_assertion_for_another_audience_is_refused() {
    let app = TestApp::new();
    let key = signer(&key_file(&app, GATEWAY_SA).await);
    let mut claims = assertion(GATEWAY_SA, Some("a"));
    claims.aud = "https://evil.example/token".into();
    let resp = exchange(&app, &key.sign(&claims).expect("sign")).await;
    assert_eq!(resp.status, StatusCode::BAD_REQUEST);
    assert_eq!(resp.json()["error"], "invalid_grant");
}

#[tokio::test]
async fn the_legacy_token_path_on_www_googleapis_com_works_too() {
    let app = TestApp::new();
    let key = signer(&key_file(&app, GATEWAY_SA).await);
    let jwt = key.sign(&assertion(GATEWAY_SA, Some("a"))).expect("sign");
    let resp = app
        .post_form(
            "www.googleapis.com",
            "/oauth2/v4/token",
            &format!("grant_type={JWT_BEARER}&assertion={jwt}"),
        )
        .await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text());
}

#[tokio::test]
async fn an_access_token_from_the_token_endpoint_with_iaps_scopes_authenticates_at_iap() {
    let app = TestApp::new();
    let key = signer(&key_file(&app, GATEWAY_SA).await);
    let mut claims = assertion(GATEWAY_SA, None);
    claims.extra.insert(
        "scope".into(),
        "openid https://www.googleapis.com/auth/userinfo.email".into(),
    );
    let resp = exchange(&app, &key.sign(&claims).expect("sign")).await;
    assert_eq!(resp.status, StatusCode::OK);
    let token = resp.json()["access_token"]
        .as_str()
        .expect("token")
        .to_string();
    // item 2, then item 33: IAP knows who the token stands for.
    let resp = app
        .send(
            crate::helpers::request(
                axum::http::Method::GET,
                crate::helpers::DOMAIN,
                "/smoothie?gcp-iap-mode=IDENTITY",
            )
            .header("Authorization", format!("Bearer {token}"))
            .body(axum::body::Body::empty())
            .expect("req"),
        )
        .await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text());
    assert_eq!(
        resp.json()["email"],
        format!("accounts.google.com:{GATEWAY_SA}").as_str()
    );
}
