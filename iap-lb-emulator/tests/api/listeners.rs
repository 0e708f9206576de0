//! Host routing and TLS on real sockets: every host is reached by name over HTTPS with the local
//! CA, the host-prefix convention works on plain HTTP, unknown hosts get a clear 404.

use reqwest::{Method, StatusCode};

use crate::helpers::{self, DOMAIN, plain_client, spawn};

#[tokio::test]
async fn every_emulated_host_is_reached_by_name_over_https_with_the_local_ca() {
    let emulator = spawn().await;
    let topology = helpers::topology();
    let smoothie = topology.service("smoothie-service").expect("smoothie");
    let run_app = smoothie.run_app_host().expect("host").as_str();
    let deterministic = smoothie.deterministic_run_app_host().as_str();
    let client = emulator
        .client_builder()
        .expect("ca")
        .resolve("localhost", emulator.https_addr)
        .build()
        .expect("client");
    let (get, post) = (Method::GET, Method::POST);
    let cases = [
        (
            &get,
            "accounts.google.com",
            "/.well-known/openid-configuration",
            StatusCode::OK,
        ),
        (
            &get,
            "www.googleapis.com",
            "/oauth2/v3/certs",
            StatusCode::OK,
        ),
        (
            &get,
            "www.gstatic.com",
            "/iap/verify/public_key-jwk",
            StatusCode::OK,
        ),
        (&get, "localhost", "/_emulator/health", StatusCode::OK),
        // Reached, then refused for what they are: no grant, no API key.
        (
            &post,
            "oauth2.googleapis.com",
            "/token",
            StatusCode::BAD_REQUEST,
        ),
        (
            &post,
            "identitytoolkit.googleapis.com",
            "/v1/accounts:signUp",
            StatusCode::FORBIDDEN,
        ),
        (
            &post,
            "securetoken.googleapis.com",
            "/v1/token",
            StatusCode::FORBIDDEN,
        ),
        // The back door: Cloud Run's ingress refusal.
        (&get, run_app, "/smoothie", StatusCode::NOT_FOUND),
        (&get, deterministic, "/smoothie", StatusCode::NOT_FOUND),
        // The front door without a pass: IAP's redirect to sign-in.
        (&get, DOMAIN, "/smoothie", StatusCode::FOUND),
    ];
    for (method, host, path, want) in cases {
        let url = format!("https://{host}{path}");
        let resp = client
            .request(method.clone(), &url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        assert_eq!(resp.status(), want, "{url}");
    }
    emulator.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn the_metadata_server_is_reached_by_name_over_plain_http() {
    let emulator = spawn().await;
    let client = emulator
        .client_builder()
        .expect("ca")
        .build()
        .expect("client");
    let resp = client
        .get("http://metadata.google.internal/computeMetadata/v1/project/project-id")
        .header("Metadata-Flavor", "Google")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.text().await.expect("body"), helpers::PROJECT_ID);
}

#[tokio::test]
async fn a_client_that_does_not_trust_the_local_ca_cannot_connect() {
    let emulator = spawn().await;
    let client = reqwest::Client::builder()
        .no_proxy()
        .tls_certs_only([])
        .resolve("accounts.google.com", emulator.https_addr)
        .build()
        .expect("client");
    let err = client
        .get("https://accounts.google.com/.well-known/openid-configuration")
        .send()
        .await
        .expect_err("untrusted CA");
    assert!(err.is_connect(), "{err:?}");
}

#[tokio::test]
async fn the_ca_certificate_is_written_to_the_state_directory() {
    let dir = std::env::temp_dir().join(format!("iap-lb-emulator-state-{}", uuid::Uuid::new_v4()));
    let mut config = helpers::config();
    config.state_dir = Some(dir.clone());
    let emulator = helpers::spawn_with(config).await;
    let written = std::fs::read_to_string(dir.join("ca.pem")).expect("ca.pem");
    assert_eq!(written, emulator.ca_pem);
    assert_eq!(
        emulator.ca_path.as_deref(),
        Some(dir.join("ca.pem").as_path())
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn host_prefixed_urls_on_localhost_reach_the_named_box() {
    let emulator = spawn().await;
    let resp = plain_client()
        .get(emulator.prefixed_url("www.gstatic.com", "/iap/verify/public_key-jwk"))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::OK);
    let jwks: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(jwks["keys"][0]["alg"], "ES256");

    // The query survives the prefix being stripped.
    let resp = plain_client()
        .get(emulator.prefixed_url(
            "metadata.google.internal",
            "/computeMetadata/v1/instance/service-accounts/default/identity?audience=https://x.example",
        ))
        .header("Metadata-Flavor", "Google")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_unknown_host_gets_a_404_that_names_it() {
    let emulator = spawn().await;
    let resp = plain_client()
        .get(emulator.http_url("/"))
        .header("Host", "evil.example.com")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let body = resp.text().await.expect("body");
    assert!(body.contains("\"evil.example.com\""), "{body}");
    assert!(body.contains("www.gstatic.com"), "{body}");
}

#[tokio::test]
async fn an_unknown_path_on_the_emulator_host_lists_what_exists() {
    let emulator = spawn().await;
    let resp = plain_client()
        .get(emulator.http_url("/nothing-here"))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert!(
        resp.text()
            .await
            .expect("body")
            .contains("/_emulator/health")
    );
}

#[tokio::test]
async fn a_bad_configuration_names_the_field_and_binds_nothing() {
    let mut config = helpers::config();
    config.extra_service_accounts[0].email = "not-an-email".into();
    let err = iap_lb_emulator::Emulator::start(config)
        .await
        .expect_err("rejected");
    assert!(
        err.to_string().contains("extra_service_accounts[0].email"),
        "{err}"
    );
}

#[tokio::test]
async fn the_topology_route_shows_what_is_played_and_derived() {
    let emulator = spawn().await;
    let topology: serde_json::Value = plain_client()
        .get(emulator.http_url("/_emulator/topology"))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(topology["domain"], DOMAIN);
    assert_eq!(topology["project"]["number"], "123456789012");
    let smoothie = &topology["services"][0];
    assert_eq!(smoothie["name"], "smoothie-service");
    assert_eq!(smoothie["ingress"], "internal-and-cloud-load-balancing");
    assert!(
        smoothie["iapAudience"]
            .as_str()
            .expect("audience")
            .starts_with("/projects/123456789012/global/backendServices/")
    );
    assert!(
        topology["serviceAccounts"]
            .as_array()
            .expect("accounts")
            .contains(&helpers::ROGUE_SA.into())
    );
}

/// Starts the binary on a copy of the fixture (as `bad.yaml`) with `from` replaced by `to`;
/// returns its exit code and what it logged.
async fn start_on_changed_fixture(from: &str, to: &str) -> (Option<i32>, String) {
    let dir = std::env::temp_dir().join(format!("iap-lb-emulator-bad-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let fixture = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fixtures/fortress.yaml"
    ))
    .expect("fixture");
    assert!(
        fixture.contains(from),
        "the fixture no longer holds {from:?}"
    );
    let bad = dir.join("bad.yaml");
    std::fs::write(&bad, fixture.replacen(from, to, 1)).expect("write");
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_iap-lb-emulator"))
        .arg("--topology")
        .arg(&bad)
        .args([
            "--http-listen",
            "127.0.0.1:0",
            "--https-listen",
            "127.0.0.1:0",
        ])
        .output()
        .await
        .expect("runs");
    let _ = std::fs::remove_dir_all(&dir);
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

#[tokio::test]
async fn the_binary_refuses_a_bad_topology_naming_file_and_field() {
    let (code, logged) = start_on_changed_fixture(
        "ingress: internal-and-cloud-load-balancing",
        "ingress: public",
    )
    .await;
    assert_eq!(code, Some(64), "{logged}");
    assert!(logged.contains("bad.yaml"), "{logged}");
    assert!(logged.contains("services[0].ingress"), "{logged}");
}

#[tokio::test]
async fn the_binary_refuses_a_bad_custom_audience_naming_file_line_and_field() {
    let (code, logged) = start_on_changed_fixture(
        "  - name: coffee-service\n",
        "  - name: coffee-service\n    customAudiences: [\"my audience\"]\n",
    )
    .await;
    assert_eq!(code, Some(64), "{logged}");
    assert!(logged.contains("bad.yaml:"), "{logged}");
    assert!(
        logged.contains("services[1].customAudiences[0]: expected a custom audience"),
        "{logged}"
    );
}

#[tokio::test]
async fn the_binary_documents_its_iap_flags() {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_iap-lb-emulator"))
        .arg("--help")
        .output()
        .await
        .expect("runs");
    assert_eq!(output.status.code(), Some(0));
    let help = String::from_utf8_lossy(&output.stdout);
    for flag in [
        "--iap-access-tokens <IAP_ACCESS_TOKENS>",
        "[possible values: accept, refuse]",
        "--test-user <TEST_USERS>",
        "local.testUsers",
    ] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
}
