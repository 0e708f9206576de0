//! Local mode: every outbound host goes to one address, so `fixtures/openapi.yaml` is used
//! unchanged. Here a wiremock server stands in for the emulator (plain HTTP, so the spec's
//! https address is rewritten to http for this test only; TLS trust is the emulator's job).

use gateway_shim::{Outbound, ServiceName};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;

#[tokio::test]
async fn every_host_in_the_spec_reaches_the_emulator_address() {
    let fakes = Fakes::start().await;
    let emulator = MockServer::start().await;
    // The emulator routes by Host header: the backend host and the key host both arrive here.
    Mock::given(method("GET"))
        .and(path("/smoothie"))
        .and(header("host", "api.myawesomeapp.com"))
        .respond_with(ResponseTemplate::new(200).set_body_string("smoothies"))
        .mount(&emulator)
        .await;
    let map: google_tokens::PemMap = [(
        fakes.firebase_key.kid().to_owned(),
        fakes
            .firebase_key
            .certificate_pem("securetoken")
            .expect("cert"),
    )]
    .into_iter()
    .collect();
    Mock::given(method("GET"))
        .and(path(X509_PATH))
        .and(header("host", "www.googleapis.com"))
        .respond_with(ResponseTemplate::new(200).set_body_json(&map))
        .mount(&emulator)
        .await;
    fakes.serve_identity_tokens().await;

    let fixture = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fixtures/openapi.yaml"
    ))
    .expect("fixture");
    // Plain HTTP stand-in: only the scheme changes, never a host.
    let spec = fixture
        .replace("address: https://", "address: http://")
        .replace(
            "x-google-jwks_uri: \"https://",
            "x-google-jwks_uri: \"http://",
        );
    let mut config = fakes.config(&spec);
    config.outbound = Outbound::Emulator {
        address: emulator.address().to_owned(),
        ca_pem: test_ca_pem(),
    };
    let _ = ServiceName::parse(SERVICE);
    let running = Running::start(config).await;
    let resp = running
        .get(
            "/smoothie",
            &[(
                "authorization",
                &format!("Bearer {}", fakes.firebase_token()),
            )],
        )
        .await;
    assert_eq!(
        parts(resp).await,
        (200, "text/plain".into(), "smoothies".into())
    );
}
