//! A stand-in for `www.gstatic.com/iap/verify/public_key-jwk` for benchmarks and manual runs.
//!
//! Binds 127.0.0.1:0, serves one fresh P-256 key as IAP's JWKS, and prints one JSON line:
//! `{"jwk_url": ..., "audience": ..., "assertion": ...}` with a valid 10-minute assertion for
//! `accounts.google.com:my-gateway-sa@...`. Runs until killed. Usage:
//! `cargo run -p google-tokens --example iap_key_server -- [AUDIENCE]`.

use axum::routing::get;
use google_tokens::{IapClaims, Jwks, SigningKey};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    google_tokens::install_crypto_provider();
    let audience = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "/projects/123456789012/global/backendServices/1".into());
    let key = SigningKey::generate_ec(None)?;
    let jwks = Jwks {
        keys: vec![key.public_jwk()],
    };
    let assertion = key.sign(&IapClaims::new(
        &audience,
        "my-gateway-sa@my-project.iam.gserviceaccount.com",
        "112233445566778899000",
        google_tokens::now_unix(),
    ))?;
    let app = axum::Router::new().route(
        "/iap/verify/public_key-jwk",
        get(move || async move {
            (
                [(axum::http::header::CACHE_CONTROL, "public, max-age=3600")],
                axum::Json(jwks),
            )
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    println!(
        "{}",
        serde_json::json!({
            "jwk_url": format!("http://{addr}/iap/verify/public_key-jwk"),
            "audience": audience,
            "assertion": assertion,
        })
    );
    axum::serve(listener, app).await?;
    Ok(())
}
