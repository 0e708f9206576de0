//! The metadata server's rules and values (google-behaviour items 74-77), without sockets.

use axum::body::Body;
use axum::http::{Method, StatusCode};
use google_tokens::{GoogleIdClaims, Jwks, KeySet, Policy, verify};

use crate::helpers::{GATEWAY_SA, PROJECT_ID, PROJECT_NUMBER, ROGUE_SA, TestApp, request};

const IDENTITY: &str = "/computeMetadata/v1/instance/service-accounts/default/identity";

async fn google_keys(app: &TestApp) -> KeySet {
    let jwks: Jwks =
        serde_json::from_slice(&app.get("www.googleapis.com", "/oauth2/v3/certs").await.body)
            .expect("jwks");
    KeySet::from_jwks(google_tokens::Alg::Rs256, &jwks).expect("keys")
}

#[tokio::test]
async fn a_request_without_metadata_flavor_gets_googles_403_sentence() {
    let app = TestApp::new();
    let path = "/computeMetadata/v1/project/project-id";
    let resp = app.get("metadata.google.internal", path).await;
    assert_eq!(resp.status, StatusCode::FORBIDDEN);
    assert_eq!(resp.header("metadata-flavor"), "Google");
    assert_eq!(resp.header("content-type"), "text/html; charset=UTF-8");
    // item 74, verbatim.
    assert!(
        resp.text().contains(
            "Your client does not have permission to get URL <code>/computeMetadata/v1/project/project-id</code> from this server. Missing Metadata-Flavor:Google header."
        ),
        "{}",
        resp.text()
    );
}

#[tokio::test]
async fn a_wrong_flavor_value_is_refused_too_even_on_unknown_paths() {
    let app = TestApp::new();
    for path in [
        "/computeMetadata/v1/project/project-id",
        "/computeMetadata/v1/nope",
    ] {
        let resp = app
            .send(
                request(Method::GET, "metadata.google.internal", path)
                    .header("Metadata-Flavor", "google")
                    .body(Body::empty())
                    .expect("req"),
            )
            .await;
        assert_eq!(resp.status, StatusCode::FORBIDDEN, "{path}");
    }
}

#[tokio::test]
async fn a_request_with_x_forwarded_for_is_refused() {
    let app = TestApp::new();
    let resp = app
        .send(
            request(Method::GET, "metadata.google.internal", IDENTITY)
                .header("Metadata-Flavor", "Google")
                .header("X-Forwarded-For", "10.0.0.1")
                .body(Body::empty())
                .expect("req"),
        )
        .await;
    assert_eq!(resp.status, StatusCode::FORBIDDEN);
    assert_eq!(resp.header("metadata-flavor"), "Google");
    assert!(!resp.text().contains("eyJ"), "no token in a refusal");
}

#[tokio::test]
async fn the_root_ping_answers_200_with_the_flavor_header_on_every_address() {
    let app = TestApp::new();
    for host in [
        "metadata.google.internal",
        "169.254.169.254",
        "127.0.0.1:8080",
    ] {
        let resp = app
            .send(
                request(Method::GET, host, "/")
                    .header("Metadata-Flavor", "Google")
                    .body(Body::empty())
                    .expect("req"),
            )
            .await;
        assert_eq!(resp.status, StatusCode::OK, "{host}");
        assert_eq!(resp.header("metadata-flavor"), "Google", "{host}");
        let resp = app.get(host, "/").await;
        assert_eq!(resp.status, StatusCode::OK, "{host} without the header");
        assert_eq!(resp.header("metadata-flavor"), "Google");
    }
}

#[tokio::test]
async fn computemetadata_is_served_directly_on_localhost_for_gce_metadata_host() {
    let app = TestApp::new();
    let resp = app
        .send(
            request(
                Method::GET,
                "127.0.0.1:41234",
                "/computeMetadata/v1/project/numeric-project-id",
            )
            .header("Metadata-Flavor", "Google")
            .body(Body::empty())
            .expect("req"),
        )
        .await;
    assert_eq!(resp.status, StatusCode::OK);
    assert_eq!(resp.text(), PROJECT_NUMBER.to_string());
}

#[tokio::test]
async fn project_and_region_values_are_the_topologys() {
    let app = TestApp::new();
    let cases = [
        (
            "/computeMetadata/v1/project/project-id",
            PROJECT_ID.to_string(),
        ),
        (
            "/computeMetadata/v1/project/numeric-project-id",
            PROJECT_NUMBER.to_string(),
        ),
        (
            "/computeMetadata/v1/instance/region",
            format!("projects/{PROJECT_NUMBER}/regions/us-central1"),
        ),
        (
            "/computeMetadata/v1/instance/service-accounts/default/email",
            GATEWAY_SA.to_string(),
        ),
    ];
    for (path, want) in cases {
        let resp = app.metadata(path).await;
        assert_eq!(resp.status, StatusCode::OK, "{path}");
        assert_eq!(resp.text(), want, "{path}");
        assert_eq!(resp.header("metadata-flavor"), "Google");
    }
}

#[tokio::test]
async fn the_identity_token_is_a_raw_rs256_jwt_for_the_audience_verifiable_at_googles_certs() {
    let app = TestApp::new();
    let resp = app
        .metadata(&format!(
            "{IDENTITY}?audience=https://smoothie.example&format=standard"
        ))
        .await;
    assert_eq!(resp.status, StatusCode::OK);
    assert!(resp.header("content-type").starts_with("text/plain"));
    assert_eq!(resp.header("metadata-flavor"), "Google");
    let token = resp.text();
    let header = google_tokens::jwt::split(&token).expect("jwt").header;
    assert_eq!(header.alg, "RS256");
    let claims: GoogleIdClaims = verify(
        &token,
        &google_keys(&app).await,
        &Policy::google_id_token(vec!["https://smoothie.example".into()]).requiring_email(),
        google_tokens::now_unix(),
    )
    .expect("verifies");
    let account = app.state.accounts.resolve("default").expect("default");
    // item 77: azp = sub = the numeric unique id; email verified; one hour; no google claim.
    assert_eq!(claims.iss, "https://accounts.google.com");
    assert_eq!(claims.sub, account.unique_id);
    assert_eq!(claims.azp, account.unique_id);
    assert_eq!(claims.email.as_deref(), Some(GATEWAY_SA));
    assert_eq!(claims.email_verified, Some(true));
    assert_eq!(claims.exp - claims.iat, 3600);
    assert!(claims.google.is_none());
}

#[tokio::test]
async fn format_full_adds_the_google_compute_engine_claim() {
    let app = TestApp::new();
    let token = app
        .metadata(&format!("{IDENTITY}?audience=aud&format=full"))
        .await
        .text();
    let claims: GoogleIdClaims = verify(
        &token,
        &google_keys(&app).await,
        &Policy::google_id_token(vec!["aud".into()]),
        google_tokens::now_unix(),
    )
    .expect("verifies");
    let ce = &claims.google.expect("google claim")["compute_engine"];
    assert_eq!(ce["project_id"], PROJECT_ID);
    assert_eq!(
        ce["project_number"], PROJECT_NUMBER,
        "a JSON number (item 77)"
    );
}

#[tokio::test]
async fn identity_needs_a_non_empty_audience_and_a_known_format() {
    let app = TestApp::new();
    for query in ["", "?audience=", "?audience=a&format=compact"] {
        let resp = app.metadata(&format!("{IDENTITY}{query}")).await;
        assert_eq!(resp.status, StatusCode::BAD_REQUEST, "{query}");
    }
}

#[tokio::test]
async fn other_accounts_are_served_by_email_and_unknown_ones_are_404() {
    let app = TestApp::new();
    let base = "/computeMetadata/v1/instance/service-accounts";
    let resp = app.metadata(&format!("{base}/{ROGUE_SA}/email")).await;
    assert_eq!(resp.text(), ROGUE_SA);
    let token = app
        .metadata(&format!("{base}/{ROGUE_SA}/identity?audience=a"))
        .await
        .text();
    let claims: GoogleIdClaims = verify(
        &token,
        &google_keys(&app).await,
        &Policy::google_id_token(vec!["a".into()]),
        google_tokens::now_unix(),
    )
    .expect("verifies");
    assert_eq!(claims.sub, "104242424242424242424");
    let resp = app
        .metadata(&format!(
            "{base}/nobody@my-project.iam.gserviceaccount.com/email"
        ))
        .await;
    assert_eq!(resp.status, StatusCode::NOT_FOUND);
    assert_eq!(resp.header("metadata-flavor"), "Google");
}

#[tokio::test]
async fn the_access_token_is_json_with_exactly_application_json() {
    let app = TestApp::new();
    let resp = app
        .metadata("/computeMetadata/v1/instance/service-accounts/default/token")
        .await;
    assert_eq!(resp.status, StatusCode::OK);
    // item 76: google-auth parses JSON only for exactly this content type.
    assert_eq!(resp.header("content-type"), "application/json");
    let body = resp.json();
    assert!(
        body["access_token"]
            .as_str()
            .expect("token")
            .starts_with("ya29.")
    );
    assert_eq!(body["expires_in"], 3599);
    assert_eq!(body["token_type"], "Bearer");
}

#[tokio::test]
async fn the_recursive_account_view_has_aliases_email_and_scopes() {
    let app = TestApp::new();
    let resp = app
        .metadata("/computeMetadata/v1/instance/service-accounts/default/?recursive=true")
        .await;
    assert_eq!(resp.status, StatusCode::OK);
    let body = resp.json();
    assert_eq!(body["email"], GATEWAY_SA);
    assert_eq!(body["aliases"], serde_json::json!(["default"]));
    assert_eq!(
        body["scopes"],
        serde_json::json!(["https://www.googleapis.com/auth/cloud-platform"])
    );
    let listing = app
        .metadata("/computeMetadata/v1/instance/service-accounts/")
        .await
        .text();
    assert!(listing.starts_with("default/\n"), "{listing}");
    assert!(listing.contains(&format!("{ROGUE_SA}/\n")), "{listing}");
}
