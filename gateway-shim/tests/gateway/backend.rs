//! Backend calls (items 62-67, 72-73): ID tokens, header moves, path translation, deadline,
//! upstream errors, streaming, limits, hop-by-hop headers.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;

async fn started() -> (Fakes, Running) {
    let fakes = Fakes::start().await;
    fakes.serve_identity_tokens().await;
    fakes.backend_ok().await;
    let running = Running::start(fakes.standard_config()).await;
    (fakes, running)
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[tokio::test]
async fn authorization_becomes_the_backend_token_and_the_original_moves_aside() {
    let (fakes, running) = started().await;
    let client_token = fakes.firebase_token();
    let resp = running
        .get(
            "/smoothie",
            &[
                ("authorization", &bearer(&client_token)),
                ("x-forwarded-authorization", "Bearer spoofed"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 200);
    let reqs = backend_requests(&fakes).await;
    let req = reqs.first().expect("request");
    assert_eq!(
        header_of(req, "x-forwarded-authorization"),
        Some(bearer(&client_token))
    );
    assert_eq!(
        req.headers
            .get_all("x-forwarded-authorization")
            .iter()
            .count(),
        1
    );
    let auth = header_of(req, "authorization").expect("authorization");
    let backend_token = auth.strip_prefix("Bearer ").expect("bearer");
    let claims: google_tokens::GoogleIdClaims = google_tokens::verify(
        backend_token,
        &google_tokens::KeySet::from_signing_keys(google_tokens::Alg::Rs256, [&*fakes.sa_key])
            .expect("keys"),
        &google_tokens::Policy::google_id_token(vec![IAP_AUD.into()]),
        google_tokens::now_unix(),
    )
    .expect("a Google ID token for IAP's client id");
    assert_eq!(claims.email.as_deref(), Some(GATEWAY_SA));
    // The backend's Host, not the client's.
    assert_eq!(
        header_of(req, "host"),
        Some(fakes.backend.address().to_string())
    );
}

#[tokio::test]
async fn the_metadata_request_is_espv2s() {
    let (fakes, running) = started().await;
    running
        .get(
            "/smoothie",
            &[("authorization", &bearer(&fakes.firebase_token()))],
        )
        .await;
    let reqs = fakes.metadata.received_requests().await.unwrap_or_default();
    let req = reqs.first().expect("metadata request");
    assert_eq!(req.url.path(), IDENTITY_PATH);
    // Audience appended as is, not URL-encoded (item 65).
    assert_eq!(
        req.url.query(),
        Some(format!("format=standard&audience={IAP_AUD}").as_str())
    );
    assert_eq!(header_of(req, "metadata-flavor").as_deref(), Some("Google"));
}

#[tokio::test]
async fn disable_auth_passes_the_clients_authorization_untouched() {
    let (fakes, running) = started().await;
    let token = fakes.firebase_token();
    let resp = running
        .get("/direct", &[("authorization", &bearer(&token))])
        .await;
    assert_eq!(resp.status(), 200);
    let reqs = backend_requests(&fakes).await;
    let req = reqs.first().expect("request");
    assert_eq!(header_of(req, "authorization"), Some(bearer(&token)));
    assert!(header_of(req, "x-forwarded-authorization").is_none());
    assert_eq!(running.gateway.metadata_fetches(), 0);
}

#[tokio::test]
async fn backend_tokens_are_cached_per_audience() {
    let (fakes, running) = started().await;
    for p in ["/open", "/open", "/users/u/items/i", "/users/u/items/j"] {
        assert_eq!(running.get(p, &[]).await.status(), 200);
    }
    assert_eq!(running.gateway.metadata_fetches(), 2);
    let _ = fakes;
}

#[tokio::test]
async fn a_hundred_parallel_requests_make_one_metadata_fetch_per_audience() {
    let fakes = Fakes::start().await;
    // A slow metadata server makes the requests overlap.
    let key = fakes.sa_key.clone();
    Mock::given(method("GET"))
        .and(path(IDENTITY_PATH))
        .respond_with(move |req: &wiremock::Request| {
            let aud = req
                .url
                .query_pairs()
                .find(|(k, _)| k == "audience")
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default();
            let claims = google_tokens::GoogleIdClaims::for_service_account(
                GATEWAY_SA,
                "1",
                &aud,
                google_tokens::now_unix(),
            );
            ResponseTemplate::new(200)
                .set_body_string(key.sign(&claims).expect("sign"))
                .set_delay(Duration::from_millis(300))
        })
        .mount(&fakes.metadata)
        .await;
    fakes.backend_ok().await;
    let running = Running::start(fakes.standard_config()).await;
    let calls = (0..100).map(|i| {
        let p = if i % 2 == 0 {
            "/open"
        } else {
            "/users/a/items/b"
        };
        running.get(p, &[])
    });
    let responses = join_all(calls).await;
    assert!(responses.iter().all(|r| r.status() == 200));
    assert_eq!(running.gateway.metadata_fetches(), 2);
    assert_eq!(
        fakes
            .metadata
            .received_requests()
            .await
            .unwrap_or_default()
            .len(),
        2
    );
}

#[tokio::test]
async fn no_backend_token_is_a_500_naming_the_audience() {
    let fakes = Fakes::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&fakes.metadata)
        .await;
    fakes.backend_ok().await;
    let running = Running::start(fakes.standard_config()).await;
    let (status, ct, body) = parts(running.get("/open", &[]).await).await;
    assert_eq!((status, ct.as_str()), (500, "application/json"));
    assert_eq!(
        body,
        format!(r#"{{"code":500,"message":"Token not found for audience: {IAP_AUD}"}}"#)
    );
    // Within the 2 s retry pause, no second fetch.
    let _ = running.get("/open", &[]).await;
    assert_eq!(running.gateway.metadata_fetches(), 1);
    assert!(backend_requests(&fakes).await.is_empty());
}

#[tokio::test]
async fn a_slow_backend_gets_504_at_the_deadline() {
    let fakes = Fakes::start().await;
    fakes.serve_identity_tokens().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(5)))
        .mount(&fakes.backend)
        .await;
    let running = Running::start(fakes.standard_config()).await;
    // Warm the token cache so the clock measures the backend only.
    let started = Instant::now();
    let (status, ct, body) = parts(running.get("/slow", &[]).await).await;
    let took = started.elapsed();
    assert_eq!((status, ct.as_str()), (504, "application/json"));
    assert_eq!(body, r#"{"code":504,"message":"upstream request timeout"}"#);
    assert!(took >= Duration::from_millis(500), "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
}

#[tokio::test]
async fn a_refused_connection_is_envoys_503_after_one_retry() {
    let fakes = Fakes::start().await;
    fakes.serve_identity_tokens().await;
    // A port nothing listens on.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    let spec = standard_spec(&format!("http://{dead}"), &fakes.keys.uri());
    let running = Running::start(fakes.config(&spec)).await;
    let (status, ct, body) = parts(running.get("/open", &[]).await).await;
    assert_eq!((status, ct.as_str()), (503, "application/json"));
    assert_eq!(
        body,
        r#"{"code":503,"message":"upstream connect error or disconnect/reset before headers. retried and the latest reset reason: remote connection failure, transport failure reason: delayed connect error: 111"}"#
    );
}

#[tokio::test]
async fn a_request_with_a_body_is_retried_on_connect_failure_too() {
    // Nothing of it was sent when the connect failed, so it goes again whole, as Envoy's retry
    // policy (item 73) retries any request.
    let fakes = Fakes::start().await;
    fakes.serve_identity_tokens().await;
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    let spec = standard_spec(&format!("http://{dead}"), &fakes.keys.uri());
    let running = Running::start(fakes.config(&spec)).await;
    let resp = running
        .client
        .post(running.url("/upload"))
        .body("a body the backend never sees")
        .send()
        .await
        .expect("send");
    let (status, _, body) = parts(resp).await;
    assert_eq!(status, 503);
    assert_eq!(
        body,
        r#"{"code":503,"message":"upstream connect error or disconnect/reset before headers. retried and the latest reset reason: remote connection failure, transport failure reason: delayed connect error: 111"}"#
    );
}

#[tokio::test]
async fn an_unresolvable_backend_is_no_healthy_upstream() {
    let fakes = Fakes::start().await;
    fakes.serve_identity_tokens().await;
    let spec = standard_spec("http://backend.invalid", &fakes.keys.uri());
    let running = Running::start(fakes.config(&spec)).await;
    let (status, _, body) = parts(running.get("/open", &[]).await).await;
    assert_eq!(status, 503);
    assert_eq!(body, r#"{"code":503,"message":"no healthy upstream"}"#);
}

#[tokio::test]
async fn paths_are_translated_as_the_spec_says() {
    let (fakes, running) = started().await;
    // Top level, APPEND_PATH_TO_ADDRESS, address without a path: unchanged.
    running.get("/open?q=1", &[]).await;
    // Operation level, CONSTANT_ADDRESS (the default there): variables to the query.
    running.get("/users/alice/items/42?sort=asc", &[]).await;
    running.get("/users/alice/items/42", &[]).await;
    // APPEND_PATH_TO_ADDRESS on an address with a path... /slow's address has none; and
    // normalisation: `//open/./` reaches the backend as `/open/`.
    running.get("//open/./", &[]).await;
    let seen: Vec<String> = backend_requests(&fakes)
        .await
        .iter()
        .map(|r| match r.url.query() {
            Some(q) => format!("{}?{q}", r.url.path()),
            None => r.url.path().to_owned(),
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            "/open?q=1",
            "/getItem?sort=asc&uid=alice&item=42",
            "/getItem?uid=alice&item=42",
            "/open/",
        ]
    );
}

#[tokio::test]
async fn hop_by_hop_headers_do_not_cross_the_gateway() {
    let fakes = Fakes::start().await;
    fakes.serve_identity_tokens().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("x-backend-private", "1")
                .insert_header("connection", "x-backend-private")
                .insert_header("x-visible", "yes")
                .set_body_string("ok"),
        )
        .mount(&fakes.backend)
        .await;
    let running = Running::start(fakes.standard_config()).await;
    let resp = running
        .get(
            "/open",
            &[
                ("connection", "x-client-secret"),
                ("x-client-secret", "s3cret"),
                ("proxy-authorization", "Basic abc"),
                ("x-kept", "1"),
            ],
        )
        .await;
    assert_eq!(
        resp.headers().get("x-visible").map(|v| v.as_bytes()),
        Some(&b"yes"[..])
    );
    assert!(resp.headers().get("x-backend-private").is_none());
    let reqs = backend_requests(&fakes).await;
    let req = reqs.first().expect("request");
    assert!(header_of(req, "x-client-secret").is_none());
    assert!(header_of(req, "proxy-authorization").is_none());
    assert_eq!(header_of(req, "x-kept").as_deref(), Some("1"));
}

#[tokio::test]
async fn bodies_stream_both_ways() {
    let fakes = Fakes::start().await;
    fakes.serve_identity_tokens().await;
    let big = vec![b'x'; 3 * 1024 * 1024];
    Mock::given(method("POST"))
        .and(path("/upload"))
        .respond_with(ResponseTemplate::new(201).set_body_bytes(vec![b'y'; 5 * 1024 * 1024]))
        .mount(&fakes.backend)
        .await;
    let running = Running::start(fakes.standard_config()).await;
    // A chunked request body (no Content-Length).
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        big.chunks(64 * 1024).map(|c| Ok(c.to_vec())).collect();
    let resp = running
        .client
        .post(running.url("/upload"))
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 201);
    assert_eq!(resp.bytes().await.expect("body").len(), 5 * 1024 * 1024);
    let reqs = backend_requests(&fakes).await;
    assert_eq!(reqs.first().map(|r| r.body.len()), Some(big.len()));
}

#[tokio::test]
async fn a_backends_content_length_reaches_the_client_unchunked() {
    let fakes = Fakes::start().await;
    fakes.serve_identity_tokens().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_string("twelve bytes"))
        .mount(&fakes.backend)
        .await;
    let running = Running::start(fakes.standard_config()).await;
    let resp = running.get("/open", &[]).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers().get("content-length").map(|v| v.as_bytes()),
        Some(&b"12"[..])
    );
    assert!(resp.headers().get("transfer-encoding").is_none());
    assert_eq!(resp.text().await.expect("body"), "twelve bytes");
}

#[tokio::test]
async fn bodies_over_the_limit_get_413() {
    let fakes = Fakes::start().await;
    fakes.serve_identity_tokens().await;
    fakes.backend_ok().await;
    let mut config = fakes.standard_config();
    config.max_request_bytes = 1024;
    let running = Running::start(config).await;
    let (status, _, body) = parts(
        running
            .client
            .post(running.url("/upload"))
            .body(vec![0u8; 2048])
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(status, 413);
    assert_eq!(body, r#"{"code":413,"message":"Payload Too Large"}"#);
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..4).map(|_| Ok(vec![0u8; 1024])).collect();
    let resp = running
        .client
        .post(running.url("/upload"))
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 413);
}

#[tokio::test]
async fn connections_to_the_backend_are_reused() {
    use std::collections::HashSet;
    use std::net::SocketAddr;
    use std::sync::{Arc, Mutex};

    use axum::extract::ConnectInfo;

    let fakes = Fakes::start().await;
    fakes.serve_identity_tokens().await;
    // A backend that records the client port of each request: one port, one connection.
    let peers: Arc<Mutex<HashSet<SocketAddr>>> = Arc::default();
    let seen = peers.clone();
    let app = axum::Router::new().fallback(move |ConnectInfo(peer): ConnectInfo<SocketAddr>| {
        let seen = seen.clone();
        async move {
            seen.lock().expect("lock").insert(peer);
            "ok"
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await;
    });
    let spec = standard_spec(&format!("http://{addr}"), &fakes.keys.uri());
    let running = Running::start(fakes.config(&spec)).await;
    for _ in 0..20 {
        assert_eq!(running.get("/open", &[]).await.status(), 200);
    }
    assert_eq!(peers.lock().expect("lock").len(), 1);
}

#[tokio::test]
async fn a_backend_token_is_refreshed_a_minute_before_it_expires() {
    let fakes = Fakes::start().await;
    // Tokens that live 62 s: the gateway must fetch a new one 1-2 s later (whole seconds).
    let key = fakes.sa_key.clone();
    Mock::given(method("GET"))
        .and(path(IDENTITY_PATH))
        .respond_with(move |req: &wiremock::Request| {
            let aud = req
                .url
                .query_pairs()
                .find(|(k, _)| k == "audience")
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default();
            let mut claims = google_tokens::GoogleIdClaims::for_service_account(
                GATEWAY_SA,
                "1",
                &aud,
                google_tokens::now_unix(),
            );
            claims.exp = claims.iat + 62;
            ResponseTemplate::new(200).set_body_string(key.sign(&claims).expect("sign"))
        })
        .mount(&fakes.metadata)
        .await;
    fakes.backend_ok().await;
    let running = Running::start(fakes.standard_config()).await;
    assert_eq!(running.get("/open", &[]).await.status(), 200);
    assert_eq!(running.get("/open", &[]).await.status(), 200);
    assert_eq!(running.gateway.metadata_fetches(), 1);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(running.get("/open", &[]).await.status(), 200);
    assert_eq!(running.gateway.metadata_fetches(), 2);
}

#[tokio::test]
async fn a_spoofed_x_forwarded_authorization_is_dropped_even_without_authorization() {
    let (fakes, running) = started().await;
    let token = fakes.firebase_token();
    let resp = running
        .get(
            &format!("/smoothie?access_token={token}"),
            &[("x-forwarded-authorization", "Bearer spoofed")],
        )
        .await;
    assert_eq!(resp.status(), 200);
    let reqs = backend_requests(&fakes).await;
    let req = reqs.first().expect("request");
    // Stricter than ESPv2, which removes it only when it moves an Authorization header.
    assert!(header_of(req, "x-forwarded-authorization").is_none());
    assert!(header_of(req, "authorization").is_some_and(|a| a.starts_with("Bearer ")));
}

#[tokio::test]
async fn a_body_still_streaming_at_the_deadline_is_cut_off() {
    use axum::body::Body;

    let fakes = Fakes::start().await;
    fakes.serve_identity_tokens().await;
    // Headers at once, then one chunk every 200 ms for 2 s: past /slow's 0.5 s deadline.
    let app = axum::Router::new().fallback(|| async {
        let chunks = futures_util::stream::unfold(0u32, |i| async move {
            if i >= 10 {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            Some((
                Ok::<_, std::io::Error>(bytes::Bytes::from_static(b"chunk\n")),
                i + 1,
            ))
        });
        Body::from_stream(chunks)
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let spec = standard_spec(&format!("http://{addr}"), &fakes.keys.uri());
    let running = Running::start(fakes.config(&spec)).await;
    let started = Instant::now();
    let resp = running.get("/slow", &[]).await;
    // The head arrived in time, so the status is the backend's...
    assert_eq!(resp.status(), 200);
    // ...but the body is reset at the deadline, as Envoy resets the stream.
    let body = resp.bytes().await;
    assert!(body.is_err(), "expected a cut-off body, got {body:?}");
    assert!(started.elapsed() < Duration::from_millis(1500));
}
