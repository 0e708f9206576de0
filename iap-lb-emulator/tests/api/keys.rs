//! Key endpoints and discovery: both of Google's formats for every issuer, the same kids in
//! each, Google's Cache-Control (items 22, 78, 79, 80).

use axum::http::StatusCode;
use google_tokens::{Alg, Jwks, KeySet, PemMap};

use crate::helpers::TestApp;

const CACHE: &str = "public, max-age=3600, must-revalidate, no-transform";
const SECURETOKEN: &str = "securetoken@system.gserviceaccount.com";

fn kids(jwks: &Jwks) -> Vec<String> {
    let mut k: Vec<_> = jwks.keys.iter().filter_map(|k| k.kid.clone()).collect();
    k.sort();
    k
}

fn map_kids(map: &PemMap) -> Vec<String> {
    map.keys().cloned().collect()
}

#[tokio::test]
async fn google_keys_are_published_as_jwks_and_as_an_x509_map_with_the_same_kids() {
    let app = TestApp::new();
    let jwks_resp = app.get("www.googleapis.com", "/oauth2/v3/certs").await;
    assert_eq!(jwks_resp.status, StatusCode::OK);
    assert_eq!(jwks_resp.header("cache-control"), CACHE);
    assert_eq!(
        jwks_resp.header("content-type"),
        "application/json; charset=UTF-8"
    );
    let jwks: Jwks = serde_json::from_slice(&jwks_resp.body).expect("jwks");
    // item 78: RSA keys with kid, n, e, alg RS256, use sig.
    let jwk = &jwks.keys[0];
    assert_eq!(
        (jwk.kty.as_str(), jwk.alg.as_deref(), jwk.key_use.as_deref()),
        ("RSA", Some("RS256"), Some("sig"))
    );
    assert!(jwk.n.is_some() && jwk.e.is_some());

    let pem_resp = app.get("www.googleapis.com", "/oauth2/v1/certs").await;
    assert_eq!(pem_resp.header("cache-control"), CACHE);
    let pem: PemMap = serde_json::from_slice(&pem_resp.body).expect("pem map");
    assert_eq!(map_kids(&pem), kids(&jwks));
    assert!(
        pem.values()
            .all(|v| v.starts_with("-----BEGIN CERTIFICATE-----"))
    );
    KeySet::from_pem_map(Alg::Rs256, &pem).expect("certificates parse");
    // Stable between fetches: clients may compare.
    assert_eq!(
        app.get("www.googleapis.com", "/oauth2/v1/certs").await.body,
        pem_resp.body
    );
}

#[tokio::test]
async fn iap_keys_are_es256_p256_in_both_gstatic_formats() {
    let app = TestApp::new();
    let jwks_resp = app
        .get("www.gstatic.com", "/iap/verify/public_key-jwk")
        .await;
    assert_eq!(jwks_resp.status, StatusCode::OK);
    assert_eq!(jwks_resp.header("cache-control"), CACHE);
    let jwks: Jwks = serde_json::from_slice(&jwks_resp.body).expect("jwks");
    let jwk = &jwks.keys[0];
    assert_eq!(
        (jwk.kty.as_str(), jwk.alg.as_deref(), jwk.crv.as_deref()),
        ("EC", Some("ES256"), Some("P-256"))
    );
    KeySet::from_jwks(Alg::Es256, &jwks).expect("usable");

    let pem: PemMap = serde_json::from_slice(
        &app.get("www.gstatic.com", "/iap/verify/public_key")
            .await
            .body,
    )
    .expect("pem map");
    assert_eq!(map_kids(&pem), kids(&jwks));
    // item 22: a bare PEM public key per kid, not a certificate.
    assert!(
        pem.values()
            .all(|v| v.starts_with("-----BEGIN PUBLIC KEY-----"))
    );
    KeySet::from_pem_map(Alg::Es256, &pem).expect("usable");
}

#[tokio::test]
async fn securetoken_keys_are_served_at_all_three_urls_and_differ_from_googles() {
    let app = TestApp::new();
    let jwks: Jwks = serde_json::from_slice(
        &app.get(
            "www.googleapis.com",
            &format!("/service_accounts/v1/jwk/{SECURETOKEN}"),
        )
        .await
        .body,
    )
    .expect("jwks");
    for path in [
        format!("/robot/v1/metadata/x509/{SECURETOKEN}"),
        format!("/service_accounts/v1/metadata/x509/{SECURETOKEN}"),
        // Clients may percent-encode the @.
        "/robot/v1/metadata/x509/securetoken%40system.gserviceaccount.com".to_string(),
    ] {
        let resp = app.get("www.googleapis.com", &path).await;
        assert_eq!(resp.status, StatusCode::OK, "{path}");
        assert_eq!(resp.header("cache-control"), CACHE);
        let map: PemMap = serde_json::from_slice(&resp.body).expect("map");
        assert_eq!(map_kids(&map), kids(&jwks), "{path}");
    }
    let google: Jwks =
        serde_json::from_slice(&app.get("www.googleapis.com", "/oauth2/v3/certs").await.body)
            .expect("jwks");
    assert_ne!(kids(&google), kids(&jwks));
}

#[tokio::test]
async fn keys_of_an_unknown_account_are_404_and_a_known_one_starts_empty() {
    let app = TestApp::new();
    let resp = app
        .get(
            "www.googleapis.com",
            "/robot/v1/metadata/x509/nobody@x.iam.gserviceaccount.com",
        )
        .await;
    assert_eq!(resp.status, StatusCode::NOT_FOUND);
    let resp = app
        .get(
            "www.googleapis.com",
            "/service_accounts/v1/jwk/rogue-sa@my-project.iam.gserviceaccount.com",
        )
        .await;
    assert_eq!(resp.status, StatusCode::OK);
    assert_eq!(resp.json(), serde_json::json!({"keys": []}));
}

#[tokio::test]
async fn the_discovery_document_carries_googles_values() {
    let app = TestApp::new();
    let resp = app
        .get("accounts.google.com", "/.well-known/openid-configuration")
        .await;
    assert_eq!(resp.status, StatusCode::OK);
    let doc = resp.json();
    // item 79, the fields clients use.
    assert_eq!(doc["issuer"], "https://accounts.google.com");
    assert_eq!(
        doc["jwks_uri"],
        "https://www.googleapis.com/oauth2/v3/certs"
    );
    assert_eq!(doc["token_endpoint"], "https://oauth2.googleapis.com/token");
    assert_eq!(
        doc["authorization_endpoint"],
        "https://accounts.google.com/o/oauth2/v2/auth"
    );
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        serde_json::json!(["RS256"])
    );
    assert!(
        doc["grant_types_supported"]
            .as_array()
            .expect("array")
            .contains(&"urn:ietf:params:oauth:grant-type:jwt-bearer".into())
    );
}

#[tokio::test]
async fn unknown_paths_on_google_hosts_get_the_gfe_404_page() {
    let app = TestApp::new();
    let resp = app.get("www.gstatic.com", "/iap/verify/other").await;
    assert_eq!(resp.status, StatusCode::NOT_FOUND);
    assert!(resp.text().contains("<h1>Error: Page not found</h1>"));
}
