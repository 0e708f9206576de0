//! Authentication as ESPv2 answers it (items 67-72): exact statuses, bodies and headers.

use google_tokens::forge;
use google_tokens::now_unix;
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

/// 401 with ESPv2's body and `WWW-Authenticate: Bearer realm="<url>", error="invalid_token"`.
async fn assert_rejected(running: &Running, token: &str, status: u16, message: &str) {
    let resp = running
        .get(
            "/smoothie",
            &[("authorization", &format!("Bearer {token}"))],
        )
        .await;
    let www = resp
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let (got_status, ct, body) = parts(resp).await;
    assert_eq!(got_status, status, "{body}");
    assert_eq!(ct, "application/json");
    assert_eq!(
        body,
        format!(r#"{{"code":{status},"message":"{message}"}}"#)
    );
    assert_eq!(
        www,
        format!(
            "Bearer realm=\"http://{}/smoothie\", error=\"invalid_token\"",
            running.server.addr()
        )
    );
}

#[tokio::test]
async fn a_request_without_a_token_gets_jwt_is_missing() {
    let (fakes, running) = started().await;
    let resp = running.get("/smoothie?x=1", &[]).await;
    let www = resp.headers().get("www-authenticate").cloned();
    let (status, ct, body) = parts(resp).await;
    assert_eq!(status, 401);
    assert_eq!(ct, "application/json");
    assert_eq!(body, r#"{"code":401,"message":"Jwt is missing"}"#);
    // No `error=` for a missing token; the realm is the original URL with its query.
    assert_eq!(
        www.and_then(|v| v.to_str().ok().map(str::to_owned)),
        Some(format!(
            "Bearer realm=\"http://{}/smoothie?x=1\"",
            running.server.addr()
        ))
    );
    assert!(backend_requests(&fakes).await.is_empty());
    assert_eq!(running.gateway.metadata_fetches(), 0);
}

#[tokio::test]
async fn a_valid_firebase_token_reaches_the_backend() {
    let (fakes, running) = started().await;
    let resp = running
        .get(
            "/smoothie",
            &[(
                "authorization",
                &format!("Bearer {}", fakes.firebase_token()),
            )],
        )
        .await;
    assert_eq!(parts(resp).await, (200, "text/plain".into(), "ok".into()));
}

#[tokio::test]
async fn token_failures_have_espv2_messages() {
    let (fakes, running) = started().await;
    let key = &fakes.firebase_key;

    let mut expired = fakes.firebase_claims();
    expired.iat = now_unix() - 7200;
    expired.auth_time = expired.iat;
    expired.exp = now_unix() - 3600;
    assert_rejected(
        &running,
        &key.sign(&expired).expect("sign"),
        401,
        "Jwt is expired",
    )
    .await;

    let mut future = fakes.firebase_claims();
    future
        .extra
        .insert("nbf".into(), (now_unix() + 3600).into());
    assert_rejected(
        &running,
        &key.sign(&future).expect("sign"),
        401,
        "Jwt not yet valid",
    )
    .await;

    let tampered = forge::tamper_payload(&fakes.firebase_token(), |p| {
        p["user_id"] = "uid-admin".into();
    });
    assert_rejected(&running, &tampered, 401, "Jwt verification fails").await;

    let mut wrong_aud = fakes.firebase_claims();
    wrong_aud.aud = "someone-else".into();
    assert_rejected(
        &running,
        &key.sign(&wrong_aud).expect("sign"),
        403,
        "Audiences in Jwt are not allowed",
    )
    .await;

    let mut wrong_iss = fakes.firebase_claims();
    wrong_iss.iss = "https://securetoken.google.com/other-project".into();
    assert_rejected(
        &running,
        &key.sign(&wrong_iss).expect("sign"),
        401,
        "Jwt issuer is not configured",
    )
    .await;

    let stranger = google_tokens::SigningKey::generate_rsa(None).expect("key");
    assert_rejected(
        &running,
        &stranger.sign(&fakes.firebase_claims()).expect("sign"),
        401,
        "Jwks doesn't have key to match kid or alg from Jwt",
    )
    .await;

    assert_rejected(
        &running,
        &forge::alg_none(&fakes.firebase_claims()),
        401,
        "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections",
    )
    .await;

    let none_signed =
        forge::signed_with_header(key, "none", Some(key.kid()), &fakes.firebase_claims());
    assert_rejected(
        &running,
        &none_signed,
        401,
        "Jwt header [alg] is not supported",
    )
    .await;

    let public_pem = key.public_key_pem().expect("pem");
    let hs =
        forge::hs256_with_public_key(&fakes.firebase_claims(), key.kid(), public_pem.as_bytes());
    assert_rejected(
        &running,
        &hs,
        401,
        "Jwks doesn't have key to match kid or alg from Jwt",
    )
    .await;

    assert_rejected(
        &running,
        "not-a-jwt",
        401,
        "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections",
    )
    .await;
    assert!(backend_requests(&fakes).await.is_empty());
}

#[tokio::test]
async fn an_unreachable_key_server_gives_jwks_remote_fetch_is_failed() {
    let fakes = Fakes::start().await;
    fakes.backend_ok().await;
    let spec = standard_spec(&fakes.backend.uri(), "http://127.0.0.1:9");
    let running = Running::start(fakes.config(&spec)).await;
    assert_rejected(
        &running,
        &fakes.firebase_token(),
        401,
        "Jwks remote fetch is failed",
    )
    .await;
}

#[tokio::test]
async fn keys_are_fetched_once_and_cached() {
    let (fakes, running) = started().await;
    for _ in 0..5 {
        let resp = running
            .get(
                "/smoothie",
                &[(
                    "authorization",
                    &format!("Bearer {}", fakes.firebase_token()),
                )],
            )
            .await;
        assert_eq!(resp.status(), 200);
    }
    assert_eq!(running.gateway.jwks_fetches("firebase"), 1);
}

#[tokio::test]
async fn a_cached_token_stops_passing_once_its_key_is_retired() {
    let fakes = Fakes::start().await;
    fakes.serve_identity_tokens().await;
    fakes.backend_ok().await;
    let mut config = fakes.standard_config();
    // Keys go stale at once, so every request sees the key set as published now (as one does
    // after ESPv2's 5 minutes).
    config.jwks.default_max_age = std::time::Duration::ZERO;
    let running = Running::start(config).await;
    let token = fakes.firebase_token();
    let bearer = format!("Bearer {token}");
    for _ in 0..2 {
        let resp = running
            .get("/smoothie", &[("authorization", &bearer)])
            .await;
        assert_eq!(resp.status(), 200);
    }
    assert_eq!(running.gateway.cached_jwts("firebase"), 1);

    // Firebase retires the key: its map now holds only a new one.
    let new_key = google_tokens::SigningKey::generate_rsa(None).expect("key");
    let map: google_tokens::PemMap = [(
        new_key.kid().to_owned(),
        new_key
            .certificate_pem("securetoken.system.gserviceaccount.com")
            .expect("cert"),
    )]
    .into_iter()
    .collect();
    fakes.keys.reset().await;
    Mock::given(method("GET"))
        .and(path(X509_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(&map))
        .mount(&fakes.keys)
        .await;

    assert_rejected(
        &running,
        &token,
        401,
        "Jwks doesn't have key to match kid or alg from Jwt",
    )
    .await;
    assert_eq!(running.gateway.cached_jwts("firebase"), 0);
}

#[tokio::test]
async fn the_default_audience_is_https_service_name_when_x_google_audiences_is_absent() {
    let (fakes, running) = started().await;
    let ok = fakes.google_token(&format!("https://{SERVICE}"));
    let resp = running
        .get("/google", &[("authorization", &format!("Bearer {ok}"))])
        .await;
    assert_eq!(resp.status(), 200);
    let wrong = fakes.google_token(IAP_AUD);
    let resp = running
        .get("/google", &[("authorization", &format!("Bearer {wrong}"))])
        .await;
    assert_eq!(
        parts(resp).await,
        (
            403,
            "application/json".into(),
            r#"{"code":403,"message":"Audiences in Jwt are not allowed"}"#.into()
        )
    );
}

#[tokio::test]
async fn tokens_are_also_read_from_the_iap_header_and_access_token() {
    let (fakes, running) = started().await;
    let token = fakes.firebase_token();
    let resp = running
        .get("/smoothie", &[("x-goog-iap-jwt-assertion", &token)])
        .await;
    assert_eq!(resp.status(), 200);
    let resp = running
        .get(&format!("/smoothie?access_token={token}"), &[])
        .await;
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn a_good_token_next_to_a_bad_one_is_refused() {
    let (fakes, running) = started().await;
    let resp = running
        .get(
            "/smoothie?access_token=x.y.z",
            &[(
                "authorization",
                &format!("Bearer {}", fakes.firebase_token()),
            )],
        )
        .await;
    assert_eq!(resp.status(), 401);
}

#[tokio::test]
async fn with_several_providers_any_one_authenticates() {
    let (fakes, running) = started().await;
    for token in [
        fakes.firebase_token(),
        fakes.google_token(&format!("https://{SERVICE}")),
    ] {
        let resp = running
            .get("/either", &[("authorization", &format!("Bearer {token}"))])
            .await;
        assert_eq!(resp.status(), 200);
    }
}

#[tokio::test]
async fn userinfo_carries_the_verified_payload_and_client_copies_are_dropped() {
    let (fakes, running) = started().await;
    let token = fakes.firebase_token();
    // The second request is answered from the verified-token cache: the same header.
    for _ in 0..2 {
        let resp = running
            .get(
                "/smoothie",
                &[
                    ("authorization", &format!("Bearer {token}")),
                    ("x-apigateway-api-userinfo", "eyJzdWIiOiJhZG1pbiJ9"),
                    ("x-apigateway-api-consumer-type", "PROJECT"),
                ],
            )
            .await;
        assert_eq!(resp.status(), 200);
    }
    let reqs = backend_requests(&fakes).await;
    assert_eq!(reqs.len(), 2);
    // Byte-identical to the token's middle segment: base64url, unpadded (item 67).
    let middle = token.split('.').nth(1).expect("payload");
    assert!(!middle.ends_with('='));
    for req in &reqs {
        let userinfo: Vec<_> = req
            .headers
            .get_all("x-apigateway-api-userinfo")
            .iter()
            .map(|v| v.to_str().unwrap_or("").to_owned())
            .collect();
        assert_eq!(userinfo, vec![middle.to_owned()]);
        assert!(header_of(req, "x-apigateway-api-consumer-type").is_none());
    }
}

#[tokio::test]
async fn unknown_paths_get_404_and_unknown_methods_405_before_authentication() {
    let (fakes, running) = started().await;
    let (status, ct, body) = parts(running.get("/nope", &[]).await).await;
    assert_eq!((status, ct.as_str()), (404, "application/json"));
    assert_eq!(
        body,
        r#"{"code":404,"message":"The current request is not defined by this API."}"#
    );
    // Case-sensitive (item 73).
    assert_eq!(running.get("/Smoothie", &[]).await.status(), 404);
    let resp = running
        .client
        .post(running.url("/smoothie/recipes/7"))
        .send()
        .await
        .expect("send");
    let (status, _, body) = parts(resp).await;
    assert_eq!(status, 405);
    assert_eq!(
        body,
        r#"{"code":405,"message":"The current request is matched to the defined url template \"/smoothie/recipes/{id}\" but its http method is not allowed"}"#
    );
    assert!(backend_requests(&fakes).await.is_empty());
}

#[tokio::test]
async fn api_keys_are_required_where_the_spec_says() {
    let (fakes, running) = started().await;
    let (status, _, body) = parts(running.get("/keyed", &[]).await).await;
    assert_eq!(status, 401);
    assert_eq!(
        body,
        r#"{"code":401,"message":"UNAUTHENTICATED: Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API."}"#
    );
    for (path, headers) in [
        ("/keyed?key=k1", vec![]),
        ("/keyed?api_key=k1", vec![]),
        ("/keyed", vec![("x-api-key", "k1")]),
    ] {
        assert_eq!(running.get(path, &headers).await.status(), 200, "{path}");
    }

    let mut config = fakes.standard_config();
    config.api_keys = gateway_shim::ApiKeyCheck::AllowList(vec!["good".into()]);
    let strict = Running::start(config).await;
    let (status, _, body) = parts(strict.get("/keyed?key=bad", &[]).await).await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        r#"{"code":400,"message":"INVALID_ARGUMENT: API key not valid. Please pass a valid API key."}"#
    );
    assert_eq!(strict.get("/keyed?key=good", &[]).await.status(), 200);
}

#[tokio::test]
async fn a_key_server_serving_jwks_where_a_pem_map_was_guessed_still_works() {
    let fakes = Fakes::start().await;
    fakes.serve_identity_tokens().await;
    fakes.backend_ok().await;
    // Same x509-looking path, but a JWKS body.
    Mock::given(method("GET"))
        .and(path("/alt/x509/keys"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(google_tokens::Jwks {
                keys: vec![fakes.firebase_key.public_jwk()],
            }),
        )
        .mount(&fakes.keys)
        .await;
    let spec =
        standard_spec(&fakes.backend.uri(), &fakes.keys.uri()).replace(X509_PATH, "/alt/x509/keys");
    let running = Running::start(fakes.config(&spec)).await;
    let resp = running
        .get(
            "/smoothie",
            &[(
                "authorization",
                &format!("Bearer {}", fakes.firebase_token()),
            )],
        )
        .await;
    assert_eq!(resp.status(), 200);
}
