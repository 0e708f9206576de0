//! Tokens minted here verify with independent implementations: Google's google-auth library and
//! PyJWT, fetching keys from a local key server in both of Google's formats.
//!
//! Needs Python with `tools/python-requirements.txt` (`just python-deps` makes `.venv`). The
//! interpreter is `$FORTRESS_PYTHON`, else `<workspace>/.venv/bin/python`, else `python3`. A
//! missing library fails the test with that instruction rather than skipping it.

use std::path::PathBuf;
use std::sync::Arc;

use axum::routing::get;
use google_tokens::{FirebaseClaims, GoogleIdClaims, Jwks, PemMap, SigningKey, forge};

const CLIENT_ID: &str = "987654321-abcdefghijklmnop.apps.googleusercontent.com";

fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("FORTRESS_PYTHON") {
        return p.into();
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
    if venv.exists() {
        venv
    } else {
        "python3".into()
    }
}

#[tokio::test]
async fn google_auth_and_pyjwt_accept_our_id_and_firebase_tokens() {
    let google = Arc::new(SigningKey::generate_rsa(None).expect("key"));
    let securetoken = Arc::new(SigningKey::generate_rsa(None).expect("key"));

    let jwks = Jwks {
        keys: vec![google.public_jwk()],
    };
    let mut x509 = PemMap::new();
    x509.insert(
        securetoken.kid().into(),
        securetoken
            .certificate_pem("securetoken.system.gserviceaccount.com")
            .expect("cert"),
    );
    let app = axum::Router::new()
        .route(
            "/oauth2/v3/certs",
            get(move || async move { axum::Json(jwks) }),
        )
        .route(
            "/robot/v1/metadata/x509/securetoken@system.gserviceaccount.com",
            get(move || async move { axum::Json(x509) }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });

    let now = google_tokens::now_unix();
    let id = google
        .sign(&GoogleIdClaims::for_service_account(
            "my-gateway-sa@my-project.iam.gserviceaccount.com",
            "112233445566778899000",
            CLIENT_ID,
            now,
        ))
        .expect("sign");
    let tampered = forge::tamper_payload(&id, |c| c["email"] = "admin@corp.com".into());
    let firebase = securetoken
        .sign(&FirebaseClaims::for_password_user(
            "my-project",
            "uid-alice",
            "alice@example.com",
            now,
        ))
        .expect("sign");

    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/interop/verify_with_google_libraries.py");
    let python = python();
    let output = tokio::process::Command::new(&python)
        .arg(&script)
        .args(["--jwks-url", &format!("{base}/oauth2/v3/certs")])
        .args([
            "--x509-url",
            &format!("{base}/robot/v1/metadata/x509/securetoken@system.gserviceaccount.com"),
        ])
        .args(["--id-token", &id, "--id-audience", CLIENT_ID])
        .args([
            "--firebase-token",
            &firebase,
            "--firebase-project",
            "my-project",
        ])
        .args(["--tampered-id-token", &tampered])
        .env("NO_PROXY", "*")
        .output()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {}: {e}; run `just python-deps`",
                python.display()
            )
        });
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("ModuleNotFoundError"),
        "Python libraries missing for {}: run `just python-deps`\n{stderr}",
        python.display()
    );
    assert!(
        output.status.success(),
        "python verification failed:\n{stderr}"
    );
    let report: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("python prints JSON");
    assert_eq!(
        report["google_auth_id_token_jwks"]["email"],
        "my-gateway-sa@my-project.iam.gserviceaccount.com"
    );
    assert_eq!(
        report["google_auth_id_token_jwks"]["iss"],
        "https://accounts.google.com"
    );
    assert_eq!(report["google_auth_firebase_x509"]["user_id"], "uid-alice");
    assert_eq!(
        report["pyjwt_id_token_jwks"]["sub"],
        "112233445566778899000"
    );
    assert_eq!(report["pyjwt_firebase_x509"]["sub"], "uid-alice");
    assert_eq!(
        report["tampered_rejected_by"],
        serde_json::json!(["google-auth", "pyjwt"])
    );
}
