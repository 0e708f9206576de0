//! The caching key client against a local key server on a random loopback port: max-age
//! caching, bounded refetch on unknown kids, key rotation, stale keys on failure, single flight.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use google_tokens::{
    Alg, GoogleIdClaims, Jwks, JwksClient, JwksClientOptions, KeyFormat, PemMap, Policy,
    SigningKey, TokenVerifier, VerifyError,
};
use std::sync::Mutex;

const AUD: &str = "987654321-abcdefghijklmnop.apps.googleusercontent.com";

/// What the key server publishes, and how; tests change it between calls.
struct KeyServer {
    keys: Mutex<Vec<Arc<SigningKey>>>,
    cache_control: Mutex<String>,
    failing: AtomicBool,
    hits: AtomicU64,
}

async fn jwks(State(s): State<Arc<KeyServer>>) -> impl IntoResponse {
    s.hits.fetch_add(1, Ordering::SeqCst);
    if s.failing.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, "down").into_response();
    }
    let body = Jwks {
        keys: s
            .keys
            .lock()
            .expect("lock")
            .iter()
            .map(|k| k.public_jwk())
            .collect(),
    };
    let cc = s.cache_control.lock().expect("lock").clone();
    ([(header::CACHE_CONTROL, cc)], axum::Json(body)).into_response()
}

async fn pem(State(s): State<Arc<KeyServer>>) -> impl IntoResponse {
    s.hits.fetch_add(1, Ordering::SeqCst);
    let map: PemMap = s
        .keys
        .lock()
        .expect("lock")
        .iter()
        .map(|k| {
            (
                k.kid().to_string(),
                k.certificate_pem("test").expect("cert"),
            )
        })
        .collect();
    axum::Json(map)
}

async fn start(first_key: Arc<SigningKey>, cache_control: &str) -> (Arc<KeyServer>, String) {
    let state = Arc::new(KeyServer {
        keys: Mutex::new(vec![first_key]),
        cache_control: Mutex::new(cache_control.into()),
        failing: AtomicBool::new(false),
        hits: AtomicU64::new(0),
    });
    let app = axum::Router::new()
        .route("/oauth2/v3/certs", get(jwks))
        .route("/oauth2/v1/certs", get(pem))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (state, format!("http://{addr}"))
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .tls_certs_only(Vec::<reqwest::Certificate>::new())
        .build()
        .expect("client")
}

fn options(min_refetch: Duration) -> JwksClientOptions {
    JwksClientOptions {
        default_max_age: Duration::from_secs(300),
        min_refetch_interval: min_refetch,
        request_timeout: Duration::from_secs(5),
    }
}

fn verifier(base: &str, min_refetch: Duration) -> TokenVerifier {
    let client = JwksClient::new(
        http(),
        format!("{base}/oauth2/v3/certs"),
        KeyFormat::Jwks,
        Alg::Rs256,
        options(min_refetch),
    );
    TokenVerifier::new(Arc::new(client), Policy::google_id_token(vec![AUD.into()]))
}

fn token(key: &SigningKey) -> String {
    let now = google_tokens::now_unix();
    key.sign(&GoogleIdClaims::for_service_account(
        "sa@p.iam.gserviceaccount.com",
        "1",
        AUD,
        now,
    ))
    .expect("sign")
}

#[tokio::test]
async fn keys_are_cached_for_the_max_age_the_server_sends() {
    let key = Arc::new(SigningKey::generate_rsa(None).expect("key"));
    let (server, base) = start(key.clone(), "public, max-age=3600").await;
    let v = verifier(&base, Duration::from_secs(30));
    for _ in 0..5 {
        v.verify::<GoogleIdClaims>(&token(&key))
            .await
            .expect("verifies");
    }
    assert_eq!(server.hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn keys_are_refetched_when_max_age_is_zero() {
    let key = Arc::new(SigningKey::generate_rsa(None).expect("key"));
    let (server, base) = start(key.clone(), "max-age=0").await;
    let v = verifier(&base, Duration::from_secs(30));
    for _ in 0..3 {
        v.verify::<GoogleIdClaims>(&token(&key))
            .await
            .expect("verifies");
    }
    assert_eq!(server.hits.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_rotated_key_is_found_by_refetching_on_its_unknown_kid() {
    let old = Arc::new(SigningKey::generate_rsa(None).expect("key"));
    let (server, base) = start(old.clone(), "max-age=3600").await;
    let v = verifier(&base, Duration::ZERO);
    v.verify::<GoogleIdClaims>(&token(&old))
        .await
        .expect("old key verifies");
    let new = Arc::new(SigningKey::generate_rsa(None).expect("key"));
    server.keys.lock().expect("lock").push(new.clone());
    v.verify::<GoogleIdClaims>(&token(&new))
        .await
        .expect("new key verifies");
    assert_eq!(server.hits.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn unknown_kids_refetch_at_most_once_per_interval() {
    let key = Arc::new(SigningKey::generate_rsa(None).expect("key"));
    let (server, base) = start(key.clone(), "max-age=3600").await;
    let v = verifier(&base, Duration::from_secs(3600));
    v.verify::<GoogleIdClaims>(&token(&key))
        .await
        .expect("verifies");
    for _ in 0..10 {
        let stranger = SigningKey::generate_ec(None).expect("key");
        let forged = google_tokens::forge::signed_with_header(
            &SigningKey::generate_rsa(Some(stranger.kid().into())).expect("key"),
            "RS256",
            Some(stranger.kid()),
            &serde_json::json!({}),
        );
        let err = v.verify::<GoogleIdClaims>(&forged).await.err();
        assert!(matches!(err, Some(VerifyError::UnknownKid(_))), "{err:?}");
    }
    // The first fetch, then no refetch within the interval even though the kid was unknown
    // (the first unknown kid came right after the first fetch).
    assert_eq!(server.hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn cached_keys_keep_serving_when_the_key_endpoint_fails() {
    let key = Arc::new(SigningKey::generate_rsa(None).expect("key"));
    let (server, base) = start(key.clone(), "max-age=0").await;
    let v = verifier(&base, Duration::ZERO);
    v.verify::<GoogleIdClaims>(&token(&key))
        .await
        .expect("verifies");
    server.failing.store(true, Ordering::SeqCst);
    v.verify::<GoogleIdClaims>(&token(&key))
        .await
        .expect("stale keys still verify");
    assert_eq!(server.hits.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_cold_cache_with_a_failing_endpoint_is_keys_unavailable() {
    let key = Arc::new(SigningKey::generate_rsa(None).expect("key"));
    let (server, base) = start(key.clone(), "max-age=0").await;
    server.failing.store(true, Ordering::SeqCst);
    let v = verifier(&base, Duration::ZERO);
    let err = v.verify::<GoogleIdClaims>(&token(&key)).await.err();
    assert!(
        matches!(&err, Some(VerifyError::KeysUnavailable(m)) if m.contains("503")),
        "{err:?}"
    );
}

#[tokio::test]
async fn alg_none_costs_no_key_fetch() {
    let key = Arc::new(SigningKey::generate_rsa(None).expect("key"));
    let (server, base) = start(key.clone(), "max-age=0").await;
    let v = verifier(&base, Duration::ZERO);
    let forged = google_tokens::forge::alg_none(&serde_json::json!({"aud": AUD}));
    assert!(matches!(
        v.verify::<GoogleIdClaims>(&forged).await,
        Err(VerifyError::AlgNotAllowed { .. })
    ));
    assert_eq!(server.hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn concurrent_cold_misses_share_one_fetch() {
    let key = Arc::new(SigningKey::generate_rsa(None).expect("key"));
    let (server, base) = start(key.clone(), "max-age=3600").await;
    let v = Arc::new(verifier(&base, Duration::from_secs(30)));
    let t = token(&key);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let v = v.clone();
        let t = t.clone();
        tasks.spawn(async move { v.verify::<GoogleIdClaims>(&t).await.map(|_| ()) });
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("task").expect("verifies");
    }
    assert_eq!(server.hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn the_x509_pem_map_format_is_fetched_and_verified() {
    let key = Arc::new(SigningKey::generate_rsa(None).expect("key"));
    let (server, base) = start(key.clone(), "max-age=3600").await;
    let client = JwksClient::new(
        http(),
        format!("{base}/oauth2/v1/certs"),
        KeyFormat::PemMap,
        Alg::Rs256,
        options(Duration::from_secs(30)),
    );
    let v = TokenVerifier::new(Arc::new(client), Policy::google_id_token(vec![AUD.into()]));
    v.verify::<GoogleIdClaims>(&token(&key))
        .await
        .expect("verifies");
    assert_eq!(server.hits.load(Ordering::SeqCst), 1);
}
