//! The fakes `bench/gateway.sh` runs beside the gateway: a backend answering `ok`, a key server
//! with a JWKS, and a metadata server minting real Google ID tokens. Writes the spec for the
//! gateway to the path given as the first argument, then prints one JSON line with the ports
//! and a Firebase-shaped client token, and serves until killed.
//!
//! Not a test and not shipped: an example, so it may use the test-only forgers' crate features.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State};
use axum::routing::get;
use google_tokens::{FirebaseClaims, GoogleIdClaims, Jwks, SigningKey, now_unix};

const PROJECT: &str = "bench-project";

async fn listen(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

#[derive(serde::Deserialize)]
struct Identity {
    audience: String,
}

async fn identity(State(key): State<Arc<SigningKey>>, Query(q): Query<Identity>) -> String {
    let claims = GoogleIdClaims::for_service_account(
        "bench-gateway@bench-project.iam.gserviceaccount.com",
        "1000",
        &q.audience,
        now_unix(),
    );
    key.sign(&claims).expect("sign")
}

#[tokio::main]
async fn main() {
    google_tokens::install_crypto_provider();
    let spec_path = std::env::args()
        .nth(1)
        .expect("usage: bench_fakes SPEC_OUT");
    let client_key = Arc::new(SigningKey::generate_rsa(None).expect("key"));
    let sa_key = Arc::new(SigningKey::generate_rsa(None).expect("key"));

    let backend = listen(Router::new().fallback(|| async { "ok" })).await;
    let jwks = Jwks {
        keys: vec![client_key.public_jwk()],
    };
    let keys =
        listen(Router::new().route("/keys", get(move || async move { axum::Json(jwks) }))).await;
    let metadata = listen(
        Router::new()
            .route(
                "/computeMetadata/v1/instance/service-accounts/default/identity",
                get(identity),
            )
            .with_state(sa_key),
    )
    .await;

    let spec = format!(
        r#"swagger: "2.0"
info: {{title: bench, version: "1"}}
x-google-backend:
  address: http://{backend}
  jwt_audience: bench-iap-client-id
securityDefinitions:
  firebase:
    type: oauth2
    flow: implicit
    authorizationUrl: ""
    x-google-issuer: https://securetoken.google.com/{PROJECT}
    x-google-jwks_uri: http://{keys}/keys
    x-google-audiences: {PROJECT}
security: [{{firebase: []}}]
paths:
  /bench:
    get: {{operationId: bench}}
  /open:
    get: {{operationId: open, security: []}}
"#
    );
    std::fs::write(&spec_path, spec).expect("write spec");
    let mut claims =
        FirebaseClaims::for_password_user(PROJECT, "bench-user", "b@example.com", now_unix());
    claims.exp = now_unix() + 3600;
    let token = client_key.sign(&claims).expect("sign");
    println!(
        "{}",
        serde_json::json!({
            "backend": backend.to_string(),
            "metadata": metadata.to_string(),
            "token": token,
        })
    );
    std::future::pending::<()>().await;
}
