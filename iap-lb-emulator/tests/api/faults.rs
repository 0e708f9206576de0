//! Mutations scenarios need: key rotation, failing key endpoints, slow services.

use std::time::Duration;

use google_tokens::{Alg, GoogleIdClaims, Jwks, KeySet, Policy, verify};
use iap_lb_emulator::Issuer;
use iap_lb_emulator::blueprint::{Ingress, Member, UpstreamAddr};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{self, Echo, plain_client, spawn};

async fn google_jwks(emulator: &iap_lb_emulator::RunningEmulator) -> reqwest::Response {
    plain_client()
        .get(emulator.prefixed_url("www.googleapis.com", "/oauth2/v3/certs"))
        .send()
        .await
        .expect("send")
}

async fn identity(emulator: &iap_lb_emulator::RunningEmulator) -> String {
    plain_client()
        .get(emulator.http_url(
            "/computeMetadata/v1/instance/service-accounts/default/identity?audience=aud",
        ))
        .header("Metadata-Flavor", "Google")
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("token")
}

async fn verifies(emulator: &iap_lb_emulator::RunningEmulator, token: &str) -> bool {
    let jwks: Jwks = google_jwks(emulator).await.json().await.expect("jwks");
    let keys = KeySet::from_jwks(Alg::Rs256, &jwks).expect("keys");
    verify::<GoogleIdClaims>(
        token,
        &keys,
        &Policy::google_id_token(vec!["aud".into()]),
        google_tokens::now_unix(),
    )
    .is_ok()
}

#[tokio::test]
async fn a_rotation_signs_with_a_new_key_and_keeps_or_retires_the_old_one() {
    let emulator = spawn().await;
    let before = identity(&emulator).await;
    let old_kid = google_tokens::jwt::split(&before).expect("jwt").header.kid;

    let new_kid = emulator
        .rotate_keys(Issuer::Google, false)
        .await
        .expect("rotate");
    let after = identity(&emulator).await;
    assert_eq!(
        google_tokens::jwt::split(&after)
            .expect("jwt")
            .header
            .kid
            .as_deref(),
        Some(new_kid.as_str())
    );
    assert!(
        verifies(&emulator, &before).await,
        "old key still published"
    );
    assert!(verifies(&emulator, &after).await);

    let resp = plain_client()
        .post(emulator.http_url("/_emulator/keys/google/rotate?retire=true"))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["kids"].as_array().map(Vec::len), Some(1));
    assert!(!verifies(&emulator, &before).await, "retired");
    assert!(!verifies(&emulator, &after).await, "retired");
    assert_ne!(old_kid.as_deref(), body["signingKid"].as_str());
}

#[tokio::test]
async fn a_key_endpoint_can_be_made_to_fail_and_healed() {
    let emulator = spawn().await;
    let resp = plain_client()
        .put(emulator.http_url("/_emulator/keys/google/fault"))
        .json(&json!({"status": 503}))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        google_jwks(&emulator).await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    // Only that issuer's endpoints.
    let iap = plain_client()
        .get(emulator.prefixed_url("www.gstatic.com", "/iap/verify/public_key-jwk"))
        .send()
        .await
        .expect("send");
    assert_eq!(iap.status(), StatusCode::OK);

    emulator.set_key_fault(Issuer::Iap, Some(StatusCode::INTERNAL_SERVER_ERROR));
    let iap = plain_client()
        .get(emulator.prefixed_url("www.gstatic.com", "/iap/verify/public_key"))
        .send()
        .await
        .expect("send");
    assert_eq!(iap.status(), StatusCode::INTERNAL_SERVER_ERROR);

    let resp = plain_client()
        .delete(emulator.http_url("/_emulator/keys/google/fault"))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(google_jwks(&emulator).await.status(), StatusCode::OK);
    let bad = plain_client()
        .put(emulator.http_url("/_emulator/keys/moon/fault"))
        .json(&json!({"status": 503}))
        .send()
        .await
        .expect("send");
    assert_eq!(bad.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_slow_service_times_out_with_504_and_recovers() {
    let (_echo, addr) = Echo::start().await;
    let mut config = helpers::config();
    config.request_timeout = Duration::from_millis(400);
    config.upstreams.push((
        "smoothie-service".into(),
        UpstreamAddr::parse(&addr.to_string()).expect("addr"),
    ));
    let emulator = helpers::spawn_with(config).await;
    assert!(emulator.set_ingress("smoothie-service", Ingress::All));
    assert!(emulator.add_invoker("smoothie-service", Member::AllUsers));
    let client = emulator
        .client_builder()
        .expect("ca")
        .build()
        .expect("client");
    let host = helpers::topology()
        .service("smoothie-service")
        .expect("smoothie")
        .run_app_host()
        .expect("host")
        .as_str()
        .to_string();
    let url = format!("https://{host}/smoothie");

    let resp = plain_client()
        .put(emulator.http_url("/_emulator/services/smoothie-service/delay"))
        .json(&json!({"millis": 1000}))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::OK);
    let started = std::time::Instant::now();
    let resp = client.get(&url).send().await.expect("send");
    assert_eq!(resp.status(), StatusCode::GATEWAY_TIMEOUT);
    assert!(started.elapsed() >= Duration::from_millis(400));

    assert!(emulator.set_service_delay("smoothie-service", Duration::from_millis(50)));
    assert_eq!(
        client.get(&url).send().await.expect("send").status(),
        StatusCode::OK
    );
}
