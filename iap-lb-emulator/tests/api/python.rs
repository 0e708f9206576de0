//! Google's own client library against the emulator: google-auth (Python) fetches a
//! metadata-server ID token through `GCE_METADATA_HOST`, exchanges a minted key file for an ID
//! token through `token_uri`, verifies both at the emulator's certs URL, verifies a Firebase ID
//! token at the securetoken URL and an IAP assertion at gstatic's PEM map, as IAP's official
//! `validate_jwt.py` sample does; then its `compute_engine.Credentials` with IAP's scopes gets
//! an access token (`?scopes=a,b`), which IAP accepts (item 2).
//!
//! Needs Python with `tools/python-requirements.txt` (`just python-deps` makes `.venv`). The
//! interpreter is `$FORTRESS_PYTHON`, else `<workspace>/.venv/bin/python`, else `python3`. A
//! missing library fails the test with that instruction rather than skipping it. Settings reach
//! the child process through its own environment, never this process's.

use std::path::PathBuf;

use crate::helpers::{self, Echo, GATEWAY_SA, plain_client};
use iap_lb_emulator::blueprint::UpstreamAddr;

fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("FORTRESS_PYTHON") {
        return p.into();
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    if venv.exists() {
        venv
    } else {
        "python3".into()
    }
}

#[tokio::test]
async fn google_auth_gets_and_verifies_id_tokens_from_the_emulator() {
    let (_echo, echo_addr) = Echo::start().await;
    let mut config = helpers::config();
    config.upstreams.push((
        "smoothie-service".into(),
        UpstreamAddr::parse(&echo_addr.to_string()).expect("addr"),
    ));
    let emulator = helpers::spawn_with(config).await;
    // An IAP assertion as a service receives it: the gateway's pass through the load balancer.
    let client_id = helpers::topology()
        .iap()
        .oauth2_client_id()
        .as_str()
        .to_string();
    let pass = plain_client()
        .get(emulator.http_url(&format!(
            "/computeMetadata/v1/instance/service-accounts/default/identity?audience={client_id}"
        )))
        .header("Metadata-Flavor", "Google")
        .send()
        .await
        .expect("metadata")
        .text()
        .await
        .expect("token");
    let seen: serde_json::Value = emulator
        .client_builder()
        .expect("ca")
        .build()
        .expect("client")
        .get(format!("https://{}/smoothie", helpers::DOMAIN))
        .bearer_auth(pass)
        .send()
        .await
        .expect("through the load balancer")
        .json()
        .await
        .expect("echo");
    let assertion = seen["headers"]["x-goog-iap-jwt-assertion"]
        .as_str()
        .expect("assertion")
        .to_string();
    let backend_audience = helpers::topology()
        .service("smoothie-service")
        .expect("smoothie")
        .iap_audience()
        .as_str()
        .to_string();
    let key_file = plain_client()
        .get(emulator.http_url(&format!("/_emulator/service-accounts/{GATEWAY_SA}/key")))
        .send()
        .await
        .expect("mint")
        .text()
        .await
        .expect("key file");
    let dir = std::env::temp_dir().join(format!("iap-lb-emulator-py-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let key_path = dir.join("key.json");
    let token_path = dir.join("access-token");
    std::fs::write(&key_path, key_file).expect("write key file");

    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop/google_auth.py");
    let output = tokio::process::Command::new(python())
        .arg(&script)
        .env("GCE_METADATA_HOST", emulator.metadata_host())
        .env("GCE_METADATA_IP", emulator.metadata_host())
        .env("EMULATOR", emulator.http_url(""))
        .env("KEY_FILE", &key_path)
        .env("ACCESS_TOKEN_FILE", &token_path)
        .env("AUDIENCE", "https://smoothie.example")
        .env("EXPECTED_EMAIL", GATEWAY_SA)
        .env("IAP_ASSERTION", &assertion)
        .env("IAP_AUDIENCE", &backend_audience)
        .env_remove("HTTP_PROXY")
        .env_remove("HTTPS_PROXY")
        .env_remove("http_proxy")
        .env_remove("https_proxy")
        .output()
        .await
        .expect("python runs");
    let access_token = std::fs::read_to_string(&token_path).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "google-auth interop failed (install with `just python-deps`)\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("metadata: ok"), "{stdout}");
    assert!(stdout.contains("key file: ok"), "{stdout}");
    assert!(stdout.contains("firebase: ok"), "{stdout}");
    assert!(stdout.contains("iap: ok"), "{stdout}");
    assert!(stdout.contains("access token: ok"), "{stdout}");

    // The access token google-auth got passes IAP as the default account.
    let resp = emulator
        .client_builder()
        .expect("ca")
        .build()
        .expect("client")
        .get(format!("https://{}/smoothie", helpers::DOMAIN))
        .bearer_auth(access_token.trim())
        .send()
        .await
        .expect("through the load balancer");
    assert_eq!(resp.status(), reqwest::StatusCode::OK);
    let seen: serde_json::Value = resp.json().await.expect("echo");
    assert_eq!(
        seen["headers"]["x-goog-authenticated-user-email"],
        format!("accounts.google.com:{GATEWAY_SA}").as_str()
    );
}
