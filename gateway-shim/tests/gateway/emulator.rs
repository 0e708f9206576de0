//! Against the real iap-lb-emulator: `fixtures/openapi.yaml` unchanged, every outbound host sent
//! to the emulator's HTTPS listener with only its CA trusted, the metadata server at its HTTP
//! listener (as `GCE_METADATA_HOST` would say). A Firebase user signs up with the emulator's
//! Identity Toolkit, and the gateway verifies that token with the keys the emulator publishes at
//! www.googleapis.com, exactly as API Gateway would with Google's.

use gateway_shim::{Outbound, ServiceName};
use iap_lb_emulator::{Config as EmulatorConfig, Emulator, RunningEmulator};

use crate::helpers::*;

async fn emulator() -> RunningEmulator {
    let topology = iap_lb_emulator::blueprint::Topology::load(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fixtures/fortress.yaml"
    ))
    .expect("fixtures/fortress.yaml");
    Emulator::start(EmulatorConfig::new(topology))
        .await
        .expect("emulator starts")
}

async fn gateway_for(emu: &RunningEmulator) -> Running {
    let fixture = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fixtures/openapi.yaml"
    ))
    .expect("fixture");
    let service = ServiceName::parse(SERVICE).expect("service");
    let fakes_free_config = gateway_shim::Config {
        api: gateway_shim::ApiConfig::from_text(&fixture, "fixtures/openapi.yaml", &service)
            .expect("fixture parses"),
        outbound: Outbound::Emulator {
            address: emu.https_addr,
            ca_pem: emu.ca_pem.clone(),
        },
        metadata_host: gateway_shim::MetadataHost::parse(&emu.metadata_host()).expect("host"),
        generated_header_prefix: gateway_shim::HeaderPrefix::parse(
            gateway_shim::HeaderPrefix::API_GATEWAY,
        )
        .expect("prefix"),
        api_keys: gateway_shim::ApiKeyCheck::PresenceOnly,
        max_request_bytes: gateway_shim::API_GATEWAY_MAX_REQUEST_BYTES,
        jwks: google_tokens::JwksClientOptions::google_defaults(),
    };
    Running::start(fakes_free_config).await
}

/// A Firebase ID token from the emulator's `accounts:signUp`.
async fn firebase_user(emu: &RunningEmulator) -> String {
    let client = emu
        .client_builder()
        .expect("builder")
        .build()
        .expect("client");
    let resp: serde_json::Value = client
        .post("https://identitytoolkit.googleapis.com/v1/accounts:signUp?key=test-key")
        .json(&serde_json::json!({
            "email": "alice@example.com",
            "password": "correct horse battery staple",
            "returnSecureToken": true
        }))
        .send()
        .await
        .expect("signUp")
        .json()
        .await
        .expect("json");
    resp["idToken"].as_str().expect("idToken").to_owned()
}

#[tokio::test]
async fn a_firebase_user_of_the_emulator_gets_through_the_gateway_to_the_load_balancer() {
    let emu = emulator().await;
    let running = gateway_for(&emu).await;
    let token = firebase_user(&emu).await;
    let resp = running
        .get(
            "/smoothie",
            &[("authorization", &format!("Bearer {token}"))],
        )
        .await;
    let (status, _, body) = parts(resp).await;
    println!("load balancer answered {status}: {body}");
    // Whatever the load balancer says, it is not one of the gateway's own replies: the token
    // verified with the emulator's securetoken keys (over TLS with its CA), the backend token
    // came from its metadata server, and the request reached https://api.myawesomeapp.com.
    assert!(
        !body.starts_with(&format!("{{\"code\":{status},")),
        "gateway answered itself: {status} {body}"
    );
    assert_eq!(running.gateway.metadata_fetches(), 1);
    assert_eq!(running.gateway.jwks_fetches("firebase"), 1);
}

#[tokio::test]
async fn the_gateway_refuses_a_token_the_emulator_did_not_sign() {
    let emu = emulator().await;
    let running = gateway_for(&emu).await;
    let stranger = google_tokens::SigningKey::generate_rsa(None).expect("key");
    let claims = google_tokens::FirebaseClaims::for_password_user(
        PROJECT,
        "uid-mallory",
        "mallory@example.com",
        google_tokens::now_unix(),
    );
    let resp = running
        .get(
            "/smoothie",
            &[(
                "authorization",
                &format!("Bearer {}", stranger.sign(&claims).expect("sign")),
            )],
        )
        .await;
    assert_eq!(
        parts(resp).await,
        (
            401,
            "application/json".into(),
            r#"{"code":401,"message":"Jwks doesn't have key to match kid or alg from Jwt"}"#.into()
        )
    );
    assert_eq!(running.gateway.metadata_fetches(), 0);
}

#[tokio::test]
async fn a_backend_certificate_that_does_not_verify_is_envoys_certificate_verify_failed() {
    let emu = emulator().await;
    let fakes = Fakes::start().await;
    fakes.serve_identity_tokens().await;
    // The emulator's TLS listener as a backend, while the gateway trusts only the test CA.
    let spec = standard_spec(&format!("https://{}", emu.https_addr), &fakes.keys.uri());
    let running = Running::start(fakes.config(&spec)).await;
    let (status, ct, body) = parts(running.get("/open", &[]).await).await;
    assert_eq!((status, ct.as_str()), (503, "application/json"));
    assert_eq!(
        body,
        r#"{"code":503,"message":"upstream connect error or disconnect/reset before headers. retried and the latest reset reason: remote connection failure, transport failure reason: TLS_error: CERTIFICATE_VERIFY_FAILED"}"#
    );
}
