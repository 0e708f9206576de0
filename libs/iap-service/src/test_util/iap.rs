//! The IAP assertion check in front of every route, and whoami: what every sample service
//! passes, written once. Each service's `tests/api/iap.rs` calls these with its own paths.

use google_tokens::{IapClaims, SigningKey, forge};
use iap_assertion::IAP_ASSERTION_HEADER;
use serde_json::Value;

use super::{AUDIENCE, EMAIL, TestApp, USER_ID, json};
use crate::SampleService;

/// Client-sent identity headers IAP would strip: forgeries when IAP is bypassed (item 21).
const FORGED: [(&str, &str); 2] = [
    (
        "x-goog-authenticated-user-email",
        "accounts.google.com:admin@corp.com",
    ),
    ("x-goog-authenticated-user-id", "accounts.google.com:1"),
];

/// GET `path` with `headers` and nothing else: the status and JSON body.
async fn get_with_headers<S>(
    app: &TestApp<S>,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, Value) {
    let mut request = app.http.get(app.url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    json(request.send().await.expect("request")).await
}

/// Each of `routes` (unknown ones included) answers 401 `missing_iap_assertion` without one.
pub async fn every_route_refuses_a_request_without_an_assertion<S: SampleService>(routes: &[&str]) {
    let app = TestApp::<S>::spawn().await;
    for path in routes {
        let (status, body) = json(app.get_with(path, None).await).await;
        assert_eq!(status, 401, "{path}: {body}");
        assert_eq!(body["error"]["status"], "UNAUTHENTICATED");
        assert_eq!(body["error"]["reason"], "missing_iap_assertion", "{path}");
    }
}

/// `whoami` with `x-goog-authenticated-user-*` but no assertion is a 401.
pub async fn forged_identity_headers_without_an_assertion_are_refused<S: SampleService>(
    whoami: &str,
) {
    let app = TestApp::<S>::spawn().await;
    let (status, body) = get_with_headers(&app, whoami, &FORGED).await;
    assert_eq!(status, 401, "{body}");
}

/// Each kind of bad assertion sent to `path` is a 401 naming the rule it broke, and the token
/// is never echoed.
pub async fn invalid_assertions_are_refused_naming_the_rule<S: SampleService>(path: &str) {
    let app = TestApp::<S>::spawn().await;
    let good = IapClaims::new(AUDIENCE, EMAIL, USER_ID, google_tokens::now_unix());
    let mut other_backend = good.clone();
    other_backend.aud = "/projects/123456789012/global/backendServices/1".into();
    let mut expired = good.clone();
    expired.iat -= 700;
    expired.exp -= 700;
    let stranger = SigningKey::generate_ec(None).expect("key");
    let public = app.key.public_key_pem().expect("pem");

    let cases = [
        // An assertion IAP minted for another backend must not open this one.
        (
            app.key.sign(&other_backend).expect("sign"),
            "wrong_audience",
        ),
        (app.key.sign(&expired).expect("sign"), "expired"),
        (stranger.sign(&good).expect("sign"), "unknown_kid"),
        (forge::alg_none(&good), "alg_not_allowed"),
        (
            forge::hs256_with_public_key(&good, app.key.kid(), public.as_bytes()),
            "alg_not_allowed",
        ),
        (
            forge::tamper_payload(&app.key.sign(&good).expect("sign"), |p| {
                p["email"] = "admin@corp.com".into()
            }),
            "bad_signature",
        ),
        ("garbage".to_string(), "malformed"),
    ];
    for (token, rule) in cases {
        let (status, body) = json(app.get_with(path, Some(&token)).await).await;
        assert_eq!(status, 401, "{rule}: {body}");
        assert_eq!(body["error"]["reason"], "invalid_iap_assertion", "{body}");
        assert_eq!(body["error"]["rule"], rule, "{body}");
        assert!(
            !body.to_string().contains(&token),
            "the token is echoed: {body}"
        );
    }
}

/// `path` with a valid assertion is a 200.
pub async fn a_valid_assertion_is_served<S: SampleService>(path: &str) {
    let app = TestApp::<S>::spawn().await;
    let (status, body) = json(app.get(path).await).await;
    assert_eq!(status, 200, "{body}");
}

/// `whoami` answers the claims of the verified assertion.
pub async fn whoami_returns_the_verified_identity<S: SampleService>(whoami: &str) {
    let app = TestApp::<S>::spawn().await;
    let (status, body) = json(app.get(whoami).await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["verified"], true);
    assert_eq!(body["email"], EMAIL);
    assert_eq!(body["user_id"], USER_ID);
    assert_eq!(body["sub"], format!("accounts.google.com:{USER_ID}"));
    assert_eq!(body["audience"], AUDIENCE);
    assert!(body["expires_at"].as_u64() > body["issued_at"].as_u64());
}

/// `whoami` answers the assertion's identity, not the `x-goog-authenticated-user-*` beside it.
pub async fn whoami_ignores_forged_identity_headers_next_to_a_valid_assertion<S: SampleService>(
    whoami: &str,
) {
    let app = TestApp::<S>::spawn().await;
    let assertion = app.assertion();
    let [email, id] = FORGED;
    let headers = [(IAP_ASSERTION_HEADER, assertion.as_str()), email, id];
    let (status, body) = get_with_headers(&app, whoami, &headers).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["email"], EMAIL);
    assert_eq!(body["user_id"], USER_ID);
}

/// With `IAP_ASSERTION_CHECK=disabled`, `path` is served without an assertion and `whoami`
/// says `"verified": false` and shows no email, forged headers or not.
pub async fn with_the_check_disabled_requests_are_served_and_the_identity_is_unverified<
    S: SampleService,
>(
    path: &str,
    whoami: &str,
) {
    let app = TestApp::<S>::spawn_disabled().await;
    let (status, body) = json(app.get_with(path, None).await).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = get_with_headers(&app, whoami, &FORGED).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["verified"], false, "{body}");
    assert!(
        body.get("email").is_none(),
        "an unverified email was shown: {body}"
    );
}
