//! The load balancer and IAP on the topology's domain (items 1-33, 55): URL map, every IAP
//! refusal with Google's text, the headers the backend gets, the hooks, and the hand-over to
//! Cloud Run as load-balancer traffic.

use std::path::PathBuf;

use google_tokens::{
    Alg, GoogleIdClaims, IapClaims, Jwks, KeySet, Policy, ServiceAccountJwtClaims, SigningKey,
    forge, verify,
};
use iap_lb_emulator::blueprint::{Member, Topology, UpstreamAddr};
use iap_lb_emulator::{Config, KeySource, RunningEmulator};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{self, DOMAIN, Echo, GATEWAY_SA, ROGUE_SA, plain_client};

const CLIENT_ID: &str = "987654321-abcdefghijklmnop.apps.googleusercontent.com";
const IAP_AGENT: &str = "service-123456789012@gcp-sa-iap.iam.gserviceaccount.com";

struct Fortress {
    emulator: RunningEmulator,
    echo: Echo,
    client: reqwest::Client,
    /// The accounts.google.com key, read from the key directory: lets tests sign what Google
    /// never would (expired, no email).
    google_key: SigningKey,
    _keys: TempDir,
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn fortress_with(topology: Topology, edit: impl FnOnce(&mut Config)) -> Fortress {
    let (echo, addr) = Echo::start().await;
    let dir = std::env::temp_dir().join(format!("iap-lb-keys-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(dir.join("google")).expect("mkdir");
    let google_key = SigningKey::generate_rsa(Some("google-test-key".into())).expect("key");
    std::fs::write(
        dir.join("google/google-test-key.pem"),
        google_key.to_pkcs8_pem(),
    )
    .expect("write key");
    let mut config = Config::new(topology);
    config
        .extra_service_accounts
        .push(iap_lb_emulator::ServiceAccount::new(ROGUE_SA));
    config.keys = KeySource::Directory(dir.clone());
    for service in ["smoothie-service", "coffee-service"] {
        config.upstreams.push((
            service.into(),
            UpstreamAddr::parse(&addr.to_string()).expect("addr"),
        ));
    }
    edit(&mut config);
    let emulator = helpers::spawn_with(config).await;
    let client = emulator
        .client_builder()
        .expect("ca")
        .build()
        .expect("client");
    Fortress {
        emulator,
        echo,
        client,
        google_key,
        _keys: TempDir(dir),
    }
}

async fn fortress() -> Fortress {
    fortress_with(helpers::topology(), |_| {}).await
}

impl Fortress {
    fn url(&self, path: &str) -> String {
        format!("https://{DOMAIN}{path}")
    }

    async fn metadata_token(&self, account: &str, audience: &str) -> String {
        plain_client()
            .get(self.emulator.http_url(&format!(
                "/computeMetadata/v1/instance/service-accounts/{account}/identity?audience={audience}"
            )))
            .header("Metadata-Flavor", "Google")
            .send()
            .await
            .expect("metadata")
            .text()
            .await
            .expect("token")
    }

    /// The gateway's pass: its ID token for IAP's client.
    async fn gateway_token(&self) -> String {
        self.metadata_token(GATEWAY_SA, CLIENT_ID).await
    }

    async fn get(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut req = self.client.get(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.expect("send")
    }

    async fn iap_keys(&self) -> KeySet {
        let jwks: Jwks = self
            .client
            .get("https://www.gstatic.com/iap/verify/public_key-jwk")
            .send()
            .await
            .expect("send")
            .json()
            .await
            .expect("jwks");
        KeySet::from_jwks(Alg::Es256, &jwks).expect("keys")
    }

    fn backend_audience(&self, service: &str) -> String {
        helpers::topology()
            .service(service)
            .expect("service")
            .iap_audience()
            .as_str()
            .to_string()
    }
}

/// Asserts an IAP-generated refusal with exactly `text`, and that no backend saw anything.
async fn assert_iap(resp: reqwest::Response, status: u16, text: &str, echo: &Echo) {
    assert_eq!(resp.status().as_u16(), status);
    assert_eq!(resp.headers()["x-goog-iap-generated-response"], "true");
    assert_eq!(resp.headers()["content-type"], "text/html; charset=UTF-8");
    assert_eq!(resp.headers()["server"], "Google Frontend");
    assert_eq!(resp.text().await.expect("body"), text);
    assert_eq!(echo.count(), 0, "the backend saw nothing");
}

#[tokio::test]
async fn no_credential_is_a_302_to_google_sign_in_with_empty_token() {
    let f = fortress().await;
    let resp = f.get("/smoothie", None).await;
    let location = resp.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_string();
    assert!(
        location.starts_with(&format!(
            "https://accounts.google.com/o/oauth2/v2/auth?client_id={CLIENT_ID}&response_type=code&scope=openid+email"
        )),
        "{location}"
    );
    assert!(
        resp.headers()["set-cookie"]
            .to_str()
            .expect("ascii")
            .starts_with("GCP_IAP_XSRF_NONCE_")
    );
    assert_iap(resp, 302, "Invalid IAP credentials: empty token", &f.echo).await;
}

#[tokio::test]
async fn an_ajax_request_without_credential_gets_401_instead() {
    let f = fortress().await;
    let resp = f
        .client
        .get(f.url("/smoothie"))
        .header("X-Requested-With", "XMLHttpRequest")
        .send()
        .await
        .expect("send");
    assert_iap(resp, 401, "Invalid IAP credentials: empty token", &f.echo).await;
}

#[tokio::test]
async fn a_bearer_that_is_not_a_jwt_cannot_be_parsed() {
    let f = fortress().await;
    let resp = f.get("/smoothie", Some("not-a-jwt")).await;
    assert_iap(
        resp,
        401,
        "Invalid IAP credentials: Unable to parse JWT",
        &f.echo,
    )
    .await;
}

#[tokio::test]
async fn forged_tokens_have_an_invalid_signature() {
    let f = fortress().await;
    let now = google_tokens::now_unix();
    let claims = GoogleIdClaims::for_service_account(GATEWAY_SA, "1", CLIENT_ID, now);
    let stranger = SigningKey::generate_rsa(Some("google-test-key".into())).expect("key");
    let genuine = f.gateway_token().await;
    let cases = [
        forge::alg_none(&claims),
        stranger.sign(&claims).expect("sign"),
        forge::tamper_payload(&genuine, |c| c["email"] = "admin@corp.com".into()),
        forge::hs256_with_public_key(&claims, "google-test-key", b"public key bytes"),
    ];
    for token in cases {
        let resp = f.get("/smoothie", Some(&token)).await;
        assert_iap(
            resp,
            401,
            "Invalid IAP credentials: JWT signature is invalid",
            &f.echo,
        )
        .await;
    }
}

#[tokio::test]
async fn an_expired_id_token_gets_the_openid_connect_sentence() {
    let f = fortress().await;
    let now = google_tokens::now_unix();
    let mut claims = GoogleIdClaims::for_service_account(GATEWAY_SA, "1", CLIENT_ID, now - 7200);
    claims.exp = now - 3600;
    let resp = f
        .get(
            "/smoothie",
            Some(&f.google_key.sign(&claims).expect("sign")),
        )
        .await;
    assert_iap(
        resp,
        401,
        "OpenID Connect token expired: JWT has expired",
        &f.echo,
    )
    .await;
}

#[tokio::test]
async fn a_token_for_another_audience_is_refused() {
    let f = fortress().await;
    let run_app_audience = f
        .metadata_token(GATEWAY_SA, "https://smoothie.example")
        .await;
    let resp = f.get("/smoothie", Some(&run_app_audience)).await;
    assert_iap(
        resp,
        401,
        "Invalid IAP credentials: Invalid bearer token. Invalid JWT audience.",
        &f.echo,
    )
    .await;
}

#[tokio::test]
async fn an_id_token_without_email_is_refused() {
    let f = fortress().await;
    let mut claims =
        GoogleIdClaims::for_service_account(GATEWAY_SA, "1", CLIENT_ID, google_tokens::now_unix());
    claims.email = None;
    claims.email_verified = None;
    let resp = f
        .get(
            "/smoothie",
            Some(&f.google_key.sign(&claims).expect("sign")),
        )
        .await;
    assert_iap(
        resp,
        401,
        "Invalid IAP credentials: JWT 'email' claim isn't a string",
        &f.echo,
    )
    .await;
}

#[tokio::test]
async fn a_valid_token_for_a_principal_without_access_is_403() {
    let f = fortress().await;
    let rogue = f.metadata_token(ROGUE_SA, CLIENT_ID).await;
    let resp = f.get("/smoothie", Some(&rogue)).await;
    assert_iap(resp, 403, "You don't have access", &f.echo).await;
}

#[tokio::test]
async fn the_gateway_passes_and_the_backend_sees_iaps_headers_only() {
    let f = fortress().await;
    let token = f.gateway_token().await;
    let resp = f
        .client
        .get(f.url("/smoothie/recipes?x=1"))
        .bearer_auth(&token)
        .header(
            "X-Goog-Authenticated-User-Email",
            "accounts.google.com:admin@corp.com",
        )
        .header("X-Goog-Iap-Jwt-Assertion", "forged")
        .header("X-Goog-Something-Else", "dropped")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::OK);
    let seen: Value = resp.json().await.expect("echo");
    assert_eq!(seen["uri"], "/smoothie/recipes?x=1");
    let headers = &seen["headers"];
    let unique_id = iap_lb_emulator::service_accounts::derived_unique_id(GATEWAY_SA);
    assert_eq!(
        headers["x-goog-authenticated-user-email"],
        format!("accounts.google.com:{GATEWAY_SA}")
    );
    assert_eq!(
        headers["x-goog-authenticated-user-id"],
        format!("accounts.google.com:{unique_id}")
    );
    assert!(headers.get("x-goog-something-else").is_none());
    let assertion = headers["x-goog-iap-jwt-assertion"]
        .as_str()
        .expect("assertion");
    assert_eq!(
        google_tokens::jwt::split(assertion)
            .expect("jwt")
            .header
            .alg,
        "ES256"
    );
    let claims: IapClaims = verify(
        assertion,
        &f.iap_keys().await,
        &Policy::iap_assertion(&f.backend_audience("smoothie-service")),
        google_tokens::now_unix(),
    )
    .expect("IAP's assertion verifies at gstatic");
    assert_eq!(claims.email, GATEWAY_SA);
    assert_eq!(claims.sub, format!("accounts.google.com:{unique_id}"));
    assert_eq!(claims.exp - claims.iat, 600);
    // IAP called Cloud Run as its agent; Cloud Run stripped that token's signature.
    assert!(
        headers["x-serverless-authorization"]
            .as_str()
            .expect("x-serverless-authorization")
            .ends_with(".SIGNATURE_REMOVED_BY_GOOGLE")
    );
    assert_eq!(headers["host"], DOMAIN);
}

#[tokio::test]
async fn proxy_authorization_leaves_authorization_to_the_app() {
    let f = fortress().await;
    let token = f.gateway_token().await;
    let resp = f
        .client
        .get(f.url("/coffee"))
        .header("Proxy-Authorization", format!("Bearer {token}"))
        .header("Authorization", "Bearer apps-own")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::OK);
    let seen: Value = resp.json().await.expect("echo");
    assert_eq!(seen["headers"]["authorization"], "Bearer apps-own");
    assert!(seen["headers"].get("proxy-authorization").is_none());
}

#[tokio::test]
async fn the_url_map_routes_exact_wildcard_and_default_with_each_backends_audience() {
    let f = fortress().await;
    let token = f.gateway_token().await;
    let keys = f.iap_keys().await;
    let cases = [
        ("/coffee", "coffee-service"),
        ("/coffee/beans/1?roast=dark", "coffee-service"),
        ("/smoothie", "smoothie-service"),
        // No rule matches: the URL map's default service.
        ("/tea", "smoothie-service"),
        // Paths are case-sensitive (item 57).
        ("/COFFEE", "smoothie-service"),
    ];
    for (path, service) in cases {
        let resp = f.get(path, Some(&token)).await;
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        let seen: Value = resp.json().await.expect("echo");
        let assertion = seen["headers"]["x-goog-iap-jwt-assertion"]
            .as_str()
            .expect("assertion");
        verify::<IapClaims>(
            assertion,
            &keys,
            &Policy::iap_assertion(&f.backend_audience(service)),
            google_tokens::now_unix(),
        )
        .unwrap_or_else(|e| panic!("{path} should reach {service}: {e}"));
    }
}

#[tokio::test]
async fn a_service_account_jwt_for_the_resource_url_or_a_wildcard_passes() {
    let f = fortress().await;
    let key_file: Value = plain_client()
        .get(
            f.emulator
                .http_url(&format!("/_emulator/service-accounts/{GATEWAY_SA}/key")),
        )
        .send()
        .await
        .expect("mint")
        .json()
        .await
        .expect("key file");
    let key = SigningKey::from_pkcs8_pem(
        key_file["private_key"].as_str().expect("pem"),
        key_file["private_key_id"].as_str().map(str::to_owned),
    )
    .expect("key");
    let now = google_tokens::now_unix();
    for (aud, want) in [
        (format!("https://{DOMAIN}/smoothie"), 200),
        (format!("https://{DOMAIN}/*"), 200),
        (format!("https://{DOMAIN}/coffee"), 401),
        (CLIENT_ID.to_string(), 401),
    ] {
        let jwt = key
            .sign(&ServiceAccountJwtClaims::new(GATEWAY_SA, &aud, now))
            .expect("sign");
        let resp = f.get("/smoothie", Some(&jwt)).await;
        assert_eq!(resp.status().as_u16(), want, "aud {aud}");
    }
}

#[tokio::test]
async fn programmatic_clients_extend_the_accepted_audiences() {
    let other = "111111111-zzzzzzzzzzzzzzzz.apps.googleusercontent.com";
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fixtures/fortress.yaml"
    ))
    .expect("fixture")
    .replace(
        "programmaticClients: []",
        &format!("programmaticClients: [\"{other}\"]"),
    );
    let topology = Topology::from_yaml_str(&text, "fortress-programmatic.yaml").expect("topology");
    let f = fortress_with(topology, |_| {}).await;
    let token = f.metadata_token(GATEWAY_SA, other).await;
    assert_eq!(
        f.get("/smoothie", Some(&token)).await.status(),
        StatusCode::OK
    );
    let stranger = f
        .metadata_token(GATEWAY_SA, "222-y.apps.googleusercontent.com")
        .await;
    assert_eq!(
        f.get("/smoothie", Some(&stranger)).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_pass_seen_before_is_checked_again_against_the_current_keys() {
    let f = fortress().await;
    let token = f.gateway_token().await;
    for _ in 0..2 {
        assert_eq!(
            f.get("/smoothie", Some(&token)).await.status(),
            StatusCode::OK
        );
    }
    // The same header, once its key is retired, fails as any token of an unknown key does.
    f.emulator
        .rotate_keys(iap_lb_emulator::Issuer::Google, true)
        .await
        .expect("rotate");
    let resp = f.get("/smoothie", Some(&token)).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(resp.headers()["x-goog-iap-generated-response"], "true");
    assert_eq!(
        resp.text().await.expect("body"),
        "Invalid IAP credentials: JWT signature is invalid"
    );
    assert_eq!(f.echo.count(), 2, "only the two passes reached the service");
}

#[tokio::test]
async fn removing_the_gateway_from_iap_access_closes_the_front_door() {
    let f = fortress().await;
    let token = f.gateway_token().await;
    let gateway = Member::parse(&format!("serviceAccount:{GATEWAY_SA}")).expect("member");
    assert!(f.emulator.remove_iap_accessor("coffee-service", &gateway));
    let resp = f.get("/coffee", Some(&token)).await;
    assert_iap(resp, 403, "You don't have access", &f.echo).await;
    assert_eq!(
        f.get("/smoothie", Some(&token)).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn cloud_run_refuses_after_iap_when_iaps_agent_is_not_an_invoker() {
    let f = fortress().await;
    let agent = Member::parse(&format!("serviceAccount:{IAP_AGENT}")).expect("member");
    assert!(f.emulator.remove_invoker("smoothie-service", &agent));
    let resp = f.get("/smoothie", Some(&f.gateway_token().await)).await;
    // item 39: sign-in succeeds, then Cloud Run's own 403 page.
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(
        resp.headers()
            .get("x-goog-iap-generated-response")
            .is_none()
    );
    assert!(
        resp.text()
            .await
            .expect("body")
            .contains("<h1>Error: Forbidden</h1>")
    );
}

#[tokio::test]
async fn ingress_internal_refuses_even_the_load_balancer() {
    let f = fortress().await;
    assert!(f.emulator.set_ingress(
        "smoothie-service",
        iap_lb_emulator::blueprint::Ingress::Internal
    ));
    let resp = f.get("/smoothie", Some(&f.gateway_token().await)).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert_eq!(f.echo.count(), 0);
}

#[tokio::test]
async fn gcp_iap_mode_identity_answers_even_without_access() {
    let f = fortress().await;
    let rogue = f.metadata_token(ROGUE_SA, CLIENT_ID).await;
    let resp = f.get("/smoothie?gcp-iap-mode=IDENTITY", Some(&rogue)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["x-goog-iap-generated-response"], "true");
    let body: Value = resp.json().await.expect("json");
    assert_eq!(
        body,
        json!({
            "email": format!("accounts.google.com:{ROGUE_SA}"),
            "sub": format!(
                "accounts.google.com:{}",
                iap_lb_emulator::service_accounts::derived_unique_id(ROGUE_SA)
            ),
        })
    );
    assert_eq!(f.echo.count(), 0);
}

#[tokio::test]
async fn secure_token_test_passes_each_broken_assertion() {
    let f = fortress().await;
    let token = f.gateway_token().await;
    let keys = f.iap_keys().await;
    let policy = Policy::iap_assertion(&f.backend_audience("smoothie-service"));
    let now = google_tokens::now_unix();
    for (kind, valid) in [
        ("NOT_SET", true),
        ("FUTURE_ISSUE", false),
        ("PAST_EXPIRATION", false),
        ("ISSUER", false),
        ("AUDIENCE", false),
        ("SIGNATURE", false),
    ] {
        let resp = f
            .get(
                &format!(
                    "/smoothie?gcp-iap-mode=SECURE_TOKEN_TEST&iap-secure-token-test-type={kind}"
                ),
                Some(&token),
            )
            .await;
        assert_eq!(resp.status(), StatusCode::OK, "{kind}");
        let seen: Value = resp.json().await.expect("echo");
        let assertion = seen["headers"]["x-goog-iap-jwt-assertion"]
            .as_str()
            .expect("assertion");
        assert_eq!(
            verify::<IapClaims>(assertion, &keys, &policy, now).is_ok(),
            valid,
            "{kind}"
        );
    }
}

#[tokio::test]
async fn options_skips_iap_only_with_allow_http_options() {
    let f = fortress().await;
    let resp = f
        .client
        .request(reqwest::Method::OPTIONS, f.url("/smoothie"))
        .send()
        .await
        .expect("send");
    assert_eq!(
        resp.status(),
        StatusCode::FOUND,
        "IAP applies to OPTIONS by default"
    );

    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fixtures/fortress.yaml"
    ))
    .expect("fixture")
    .replace("allowHttpOptions: false", "allowHttpOptions: true");
    let topology = Topology::from_yaml_str(&text, "fortress-options.yaml").expect("topology");
    let f = fortress_with(topology, |_| {}).await;
    let resp = f
        .client
        .request(reqwest::Method::OPTIONS, f.url("/smoothie"))
        .header(
            "X-Goog-Authenticated-User-Email",
            "accounts.google.com:admin@corp.com",
        )
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::OK);
    let seen: Value = resp.json().await.expect("echo");
    assert!(
        seen["headers"]
            .get("x-goog-authenticated-user-email")
            .is_none()
    );
    assert_eq!(
        f.get("/smoothie", None).await.status(),
        StatusCode::FOUND,
        "other methods still need credentials"
    );
}

fn location(resp: &reqwest::Response) -> String {
    resp.headers()["location"]
        .to_str()
        .expect("ascii location")
        .to_string()
}

fn query_param(url: &str, name: &str) -> String {
    let query = url.split_once('?').map(|(_, q)| q).unwrap_or("");
    iap_lb_emulator::form::get(&iap_lb_emulator::form::parse(query.as_bytes()), name)
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn the_browser_flow_signs_in_a_test_user_and_sets_iaps_cookies() {
    let f = fortress_with(helpers::topology(), |c| {
        c.test_users = vec!["alice@example.com".into()];
    })
    .await;
    let target = f.url("/smoothie/menu?size=large");

    // 1. IAP sends the browser to Google's sign-in.
    let first = f.client.get(&target).send().await.expect("send");
    assert_eq!(first.status(), StatusCode::FOUND);
    let sign_in = location(&first);

    // 2. The emulated sign-in page offers the test identity, never a service account.
    let page = f.client.get(&sign_in).send().await.expect("send");
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.expect("html");
    assert!(html.contains("alice@example.com"), "{html}");
    assert!(!html.contains(GATEWAY_SA));

    let form = |email: &str| {
        vec![
            ("client_id", query_param(&sign_in, "client_id")),
            ("redirect_uri", query_param(&sign_in, "redirect_uri")),
            ("state", query_param(&sign_in, "state")),
            ("email", email.to_string()),
        ]
    };
    let refused = f
        .client
        .post("https://accounts.google.com/o/oauth2/v2/auth")
        .form(&form(GATEWAY_SA))
        .send()
        .await
        .expect("send");
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);

    // 3. Choosing alice: a code for IAP's handleRedirect.
    let chosen = f
        .client
        .post("https://accounts.google.com/o/oauth2/v2/auth")
        .form(&form("alice@example.com"))
        .send()
        .await
        .expect("send");
    assert_eq!(chosen.status(), StatusCode::FOUND);
    let callback = location(&chosen);
    assert!(
        callback.starts_with(&format!(
            "https://iap.googleapis.com/v1/oauth/clientIds/{CLIENT_ID}:handleRedirect?state="
        )),
        "{callback}"
    );

    // 4. IAP's callback: a ticket for the app's own host.
    let handled = f.client.get(&callback).send().await.expect("send");
    assert_eq!(handled.status(), StatusCode::FOUND);
    let authenticate = location(&handled);
    assert!(
        authenticate.starts_with(&f.url("/_gcp_iap/authenticate?ticket=")),
        "{authenticate}"
    );
    let replayed = f.client.get(&callback).send().await.expect("send");
    assert_eq!(
        replayed.status(),
        StatusCode::BAD_REQUEST,
        "codes are one-time"
    );

    // 5. The cookies, then back to the target.
    let landed = f.client.get(&authenticate).send().await.expect("send");
    assert_eq!(landed.status(), StatusCode::FOUND);
    assert_eq!(location(&landed), target);
    let cookies: Vec<String> = landed
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().expect("ascii").to_string())
        .collect();
    let session = cookies
        .iter()
        .find(|c| c.starts_with("__Host-GCP_IAP_AUTH_TOKEN_"))
        .expect("session cookie");
    assert!(
        session.contains("Secure") && session.contains("Path=/") && !session.contains("Domain")
    );
    assert!(cookies.iter().any(|c| c.starts_with("GCP_IAP_UID=")));
    let cookie = session.split(';').next().expect("pair").to_string();
    let replayed = f.client.get(&authenticate).send().await.expect("send");
    assert_eq!(
        replayed.status(),
        StatusCode::UNAUTHORIZED,
        "tickets are one-time"
    );

    // 6. Signed in but not an accessor: IAM is checked on every request.
    let resp = f
        .client
        .get(&target)
        .header("Cookie", &cookie)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);

    // A person never matches a service account's binding, and vice versa.
    let alice = Member::parse("user:alice@example.com").expect("member");
    assert!(f.emulator.add_iap_accessor("smoothie-service", alice));
    let resp = f
        .client
        .get(&target)
        .header("Cookie", &cookie)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::OK);
    let seen: Value = resp.json().await.expect("echo");
    assert_eq!(
        seen["headers"]["x-goog-authenticated-user-email"],
        "accounts.google.com:alice@example.com"
    );

    // 7. CLEAR_LOGIN_COOKIE ends the session.
    let cleared = f
        .client
        .get(f.url("/?gcp-iap-mode=CLEAR_LOGIN_COOKIE"))
        .header("Cookie", &cookie)
        .send()
        .await
        .expect("send");
    assert_eq!(cleared.status(), StatusCode::FOUND);
    assert!(
        cleared
            .headers()
            .get_all("set-cookie")
            .iter()
            .any(|v| v.to_str().expect("ascii").contains("Max-Age=0"))
    );
    let after = f
        .client
        .get(&target)
        .header("Cookie", &cookie)
        .send()
        .await
        .expect("send");
    assert_eq!(after.status(), StatusCode::FOUND, "back to sign-in");
}

#[tokio::test]
async fn iaps_callback_refuses_a_forged_state() {
    let f = fortress_with(helpers::topology(), |c| {
        c.test_users = vec!["alice@example.com".into()];
    })
    .await;
    let forged_state = SigningKey::generate_ec(None)
        .expect("key")
        .sign(&json!({
            "iss": "https://cloud.google.com/iap",
            "aud": CLIENT_ID,
            "target_uri": "https://evil.example/",
            "iat": google_tokens::now_unix(),
            "exp": google_tokens::now_unix() + 60,
        }))
        .expect("sign");
    let resp = f
        .client
        .get(format!(
            "https://iap.googleapis.com/v1/oauth/clientIds/{CLIENT_ID}:handleRedirect?state={forged_state}&code=4/x"
        ))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn with_invoker_iam_disabled_iaps_agent_needs_no_invoker_role() {
    // item 39: the alternative to granting IAP's agent run.invoker is invokerIamDisabled.
    let topology = helpers::topology_edited(
        helpers::SMOOTHIE_ENTRY,
        &format!("{}    invokerIamDisabled: true\n", helpers::SMOOTHIE_ENTRY),
    );
    let f = fortress_with(topology, |_| {}).await;
    let agent = Member::parse(&format!("serviceAccount:{IAP_AGENT}")).expect("member");
    assert!(f.emulator.remove_invoker("smoothie-service", &agent));
    assert!(f.emulator.remove_invoker("coffee-service", &agent));
    let token = f.gateway_token().await;
    let resp = f.get("/smoothie", Some(&token)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let seen: Value = resp.json().await.expect("echo");
    assert!(
        seen["headers"]["x-goog-iap-jwt-assertion"].is_string(),
        "IAP still ran"
    );
    // coffee-service keeps its check: without the agent's role, Cloud Run's 403 after IAP.
    let resp = f.get("/coffee", Some(&token)).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(
        resp.headers()
            .get("x-goog-iap-generated-response")
            .is_none()
    );
}

#[tokio::test]
async fn a_regional_load_balancer_signs_for_the_regional_backend_service() {
    let topology =
        helpers::topology_edited("\niap:\n", "\nloadBalancer:\n  region: us-central1\niap:\n");
    let audience = topology
        .service("smoothie-service")
        .expect("smoothie")
        .iap_audience()
        .as_str()
        .to_string();
    let id = topology
        .service("smoothie-service")
        .expect("smoothie")
        .backend_service()
        .id();
    assert_eq!(
        audience,
        format!("/projects/123456789012/regions/us-central1/backendServices/{id}")
    );
    let f = fortress_with(topology, |_| {}).await;
    let resp = f.get("/smoothie", Some(&f.gateway_token().await)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let seen: Value = resp.json().await.expect("echo");
    let assertion = seen["headers"]["x-goog-iap-jwt-assertion"]
        .as_str()
        .expect("assertion");
    let claims: IapClaims = verify(
        assertion,
        &f.iap_keys().await,
        &Policy::iap_assertion(&audience),
        google_tokens::now_unix(),
    )
    .expect("the assertion verifies for the regional audience");
    assert_eq!(claims.aud, audience);
    assert!(
        verify::<IapClaims>(
            assertion,
            &f.iap_keys().await,
            &Policy::iap_assertion(&f.backend_audience("smoothie-service")),
            google_tokens::now_unix(),
        )
        .is_err(),
        "not the global audience"
    );
    let described: Value = plain_client()
        .get(f.emulator.http_url("/_emulator/topology"))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(
        described["loadBalancer"],
        json!({"scope": "regional", "region": "us-central1"})
    );
    assert_eq!(described["services"][0]["iapAudience"], audience.as_str());
    assert_eq!(described["iap"]["accessTokens"], "accepted");
}

#[tokio::test]
async fn the_sign_in_page_offers_the_topologys_test_users_without_configuration() {
    let f = fortress().await;
    let first = f.get("/smoothie", None).await;
    assert_eq!(first.status(), StatusCode::FOUND);
    let page = f.client.get(location(&first)).send().await.expect("send");
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.expect("html");
    // fixtures/fortress.yaml `local.testUsers`.
    assert!(
        html.contains("<button type=submit>alice@example.com</button>"),
        "{html}"
    );
}

/// Signs `email` in through the browser flow starting at `target`; returns the session cookie
/// (`name=value`) and where the flow landed.
async fn browser_sign_in(f: &Fortress, email: &str, target: &str) -> (String, String) {
    let first = f.client.get(target).send().await.expect("send");
    assert_eq!(first.status(), StatusCode::FOUND);
    browser_sign_in_from(f, email, &location(&first)).await
}

/// The browser flow from IAP's sign-in redirect `sign_in` on.
async fn browser_sign_in_from(f: &Fortress, email: &str, sign_in: &str) -> (String, String) {
    let form = vec![
        ("client_id", query_param(sign_in, "client_id")),
        ("redirect_uri", query_param(sign_in, "redirect_uri")),
        ("state", query_param(sign_in, "state")),
        ("email", email.to_string()),
    ];
    let chosen = f
        .client
        .post("https://accounts.google.com/o/oauth2/v2/auth")
        .form(&form)
        .send()
        .await
        .expect("send");
    assert_eq!(chosen.status(), StatusCode::FOUND);
    let handled = f.client.get(location(&chosen)).send().await.expect("send");
    assert_eq!(handled.status(), StatusCode::FOUND);
    let landed = f.client.get(location(&handled)).send().await.expect("send");
    assert_eq!(landed.status(), StatusCode::FOUND);
    let cookie = landed
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().expect("ascii"))
        .find(|c| c.starts_with("__Host-GCP_IAP_AUTH_TOKEN_"))
        .and_then(|c| c.split(';').next())
        .expect("session cookie")
        .to_string();
    (cookie, location(&landed))
}

/// The `target_uri` inside the sign-in redirect's signed state (item 36).
fn state_target(sign_in: &str) -> String {
    let state = query_param(sign_in, "state");
    let parts = google_tokens::jwt::split(&state).expect("state is a JWT");
    google_tokens::jwt::decode_payload(parts.payload_b64).expect("payload")["target_uri"]
        .as_str()
        .expect("target_uri")
        .to_string()
}

#[tokio::test]
async fn the_clear_login_cookie_path_ends_the_session_like_the_mode() {
    let f = fortress().await;
    let (cookie, _) = browser_sign_in(&f, "alice@example.com", &f.url("/smoothie")).await;
    let resp = f
        .client
        .get(f.url("/_gcp_iap/clear_login_cookie"))
        .header("Cookie", &cookie)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::FOUND);
    assert_eq!(location(&resp), format!("https://{DOMAIN}/"));
    assert_eq!(resp.headers()["x-goog-iap-generated-response"], "true");
    let cleared: Vec<&str> = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().expect("ascii"))
        .collect();
    assert_eq!(cleared.len(), 2, "{cleared:?}");
    assert!(cleared.iter().all(|c| c.contains("=; Path=/; Max-Age=0")));
    let cookie_name = cookie.split('=').next().expect("name");
    assert!(
        cleared
            .iter()
            .any(|c| c.starts_with(&format!("{cookie_name}=")))
    );
    assert!(cleared.iter().any(|c| c.starts_with("GCP_IAP_UID=")));
    let after = f
        .client
        .get(f.url("/smoothie"))
        .header("Cookie", &cookie)
        .send()
        .await
        .expect("send");
    assert_eq!(after.status(), StatusCode::FOUND, "back to sign-in");
    assert_eq!(f.echo.count(), 0);
}

#[tokio::test]
async fn the_identity_path_answers_any_authenticated_caller_and_never_the_backend() {
    let f = fortress().await;
    let rogue = f.metadata_token(ROGUE_SA, CLIENT_ID).await;
    let resp = f.get("/_gcp_iap/identity", Some(&rogue)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["x-goog-iap-generated-response"], "true");
    assert_eq!(
        resp.headers()["content-type"],
        "application/json; charset=UTF-8"
    );
    let body: Value = resp.json().await.expect("json");
    assert_eq!(
        body["email"],
        format!("accounts.google.com:{ROGUE_SA}").as_str()
    );
    assert_eq!(
        body["sub"],
        format!(
            "accounts.google.com:{}",
            iap_lb_emulator::service_accounts::derived_unique_id(ROGUE_SA)
        )
        .as_str()
    );
    let anonymous = f.get("/_gcp_iap/identity", None).await;
    assert_eq!(
        state_target(&location(&anonymous)),
        f.url("/_gcp_iap/identity")
    );
    assert_iap(
        anonymous,
        302,
        "Invalid IAP credentials: empty token",
        &f.echo,
    )
    .await;
    let garbage = f.get("/_gcp_iap/identity", Some("garbage")).await;
    assert_iap(
        garbage,
        401,
        "Invalid IAP credentials: Unable to parse JWT",
        &f.echo,
    )
    .await;
}

#[tokio::test]
async fn do_session_refresh_signs_in_comes_back_and_then_closes_itself() {
    let f = fortress().await;
    let popup = f.url("/_gcp_iap/do_session_refresh");
    let first = f.client.get(&popup).send().await.expect("send");
    // A popup is never AJAX: the redirect even with X-Requested-With.
    let ajax = f
        .client
        .get(&popup)
        .header("X-Requested-With", "XMLHttpRequest")
        .send()
        .await
        .expect("send");
    assert_eq!(ajax.status(), StatusCode::FOUND);
    let sign_in = location(&first);
    assert_eq!(state_target(&sign_in), popup);
    assert_iap(first, 302, "Invalid IAP credentials: empty token", &f.echo).await;

    let (cookie, landed) = browser_sign_in_from(&f, "alice@example.com", &sign_in).await;
    assert_eq!(landed, popup, "the flow comes back to the popup");
    let resp = f
        .client
        .get(&popup)
        .header("Cookie", &cookie)
        .send()
        .await
        .expect("send");
    assert_iap(
        resp,
        200,
        iap_lb_emulator::hosts::lb::SESSION_REFRESHED_PAGE,
        &f.echo,
    )
    .await;
}

#[tokio::test]
async fn the_session_refresher_answers_a_live_session_and_401s_ajax_without_one() {
    let f = fortress().await;
    let (cookie, _) = browser_sign_in(&f, "alice@example.com", &f.url("/smoothie")).await;
    for path in [
        "/_gcp_iap/session_refresher",
        "/smoothie/menu?gcp-iap-mode=SESSION_REFRESHER",
    ] {
        let live = f
            .client
            .get(f.url(path))
            .header("Cookie", &cookie)
            .send()
            .await
            .expect("send");
        assert_iap(
            live,
            200,
            iap_lb_emulator::hosts::lb::SESSION_REFRESHER_PAGE,
            &f.echo,
        )
        .await;
        let ajax = f
            .client
            .get(f.url(path))
            .header("X-Requested-With", "XMLHttpRequest")
            .send()
            .await
            .expect("send");
        assert!(ajax.headers().get("location").is_none());
        assert_iap(ajax, 401, "Invalid IAP credentials: empty token", &f.echo).await;
    }
    let browser = f
        .client
        .get(f.url("/smoothie/menu?x=1&gcp-iap-mode=SESSION_REFRESHER"))
        .send()
        .await
        .expect("send");
    assert_eq!(
        state_target(&location(&browser)),
        f.url("/smoothie/menu?x=1")
    );
    assert_iap(
        browser,
        302,
        "Invalid IAP credentials: empty token",
        &f.echo,
    )
    .await;
}

#[tokio::test]
async fn force_login_sends_even_a_valid_caller_to_sign_in_without_the_mode() {
    let f = fortress().await;
    let token = f.gateway_token().await;
    let resp = f
        .get(
            "/smoothie?size=large&gcp-iap-mode=FORCE_LOGIN",
            Some(&token),
        )
        .await;
    let sign_in = location(&resp);
    assert!(
        sign_in.starts_with(&format!(
            "https://accounts.google.com/o/oauth2/v2/auth?client_id={CLIENT_ID}&response_type=code"
        )),
        "{sign_in}"
    );
    assert_eq!(state_target(&sign_in), f.url("/smoothie?size=large"));
    assert!(
        resp.headers()["set-cookie"]
            .to_str()
            .expect("ascii")
            .starts_with("GCP_IAP_XSRF_NONCE_")
    );
    assert_iap(resp, 302, "Invalid IAP credentials: empty token", &f.echo).await;
    // Without the mode the same token passes.
    assert_eq!(
        f.get("/smoothie?size=large", Some(&token)).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn gcip_authenticate_says_identity_platform_is_not_emulated() {
    let f = fortress().await;
    let token = f.gateway_token().await;
    let resp = f.get("/_gcp_iap/gcip_authenticate", Some(&token)).await;
    assert_iap(
        resp,
        404,
        "Identity Platform (accessSettings.gcipSettings) is not configured for this resource; \
         iap-lb-emulator does not emulate Identity Platform sign-in",
        &f.echo,
    )
    .await;
}

#[tokio::test]
async fn unknown_gcp_iap_paths_are_iaps_and_never_reach_the_backend() {
    let f = fortress().await;
    let token = f.gateway_token().await;
    for path in ["/_gcp_iap/", "/_gcp_iap/whatever", "/_gcp_iap/identity/x"] {
        let resp = f.get(path, Some(&token)).await;
        assert_iap(resp, 404, "Not Found", &f.echo).await;
    }
}

const IAP_SCOPES: &str = "openid,https://www.googleapis.com/auth/userinfo.email";

impl Fortress {
    /// An access token for `account` from the metadata server, with `scopes` if given.
    async fn metadata_access_token(&self, account: &str, scopes: Option<&str>) -> String {
        let query = scopes.map_or(String::new(), |s| format!("?scopes={s}"));
        let body: Value = plain_client()
            .get(self.emulator.http_url(&format!(
                "/computeMetadata/v1/instance/service-accounts/{account}/token{query}"
            )))
            .header("Metadata-Flavor", "Google")
            .send()
            .await
            .expect("metadata")
            .json()
            .await
            .expect("json");
        body["access_token"].as_str().expect("token").to_string()
    }
}

#[tokio::test]
async fn an_access_token_with_openid_and_email_scopes_passes_iap_as_its_owner() {
    let f = fortress().await;
    let token = f.metadata_access_token(GATEWAY_SA, Some(IAP_SCOPES)).await;
    assert!(token.starts_with("ya29."));
    let resp = f.get("/smoothie", Some(&token)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let seen: Value = resp.json().await.expect("echo");
    assert_eq!(
        seen["headers"]["x-goog-authenticated-user-email"],
        format!("accounts.google.com:{GATEWAY_SA}").as_str()
    );
    let claims: IapClaims = verify(
        seen["headers"]["x-goog-iap-jwt-assertion"]
            .as_str()
            .expect("assertion"),
        &f.iap_keys().await,
        &Policy::iap_assertion(&f.backend_audience("smoothie-service")),
        google_tokens::now_unix(),
    )
    .expect("assertion");
    assert_eq!(claims.email, GATEWAY_SA);
}

#[tokio::test]
async fn an_access_token_without_iaps_scopes_is_refused() {
    let f = fortress().await;
    // The metadata server's default scope is cloud-platform only.
    for scopes in [
        None,
        Some("openid"),
        Some("https://www.googleapis.com/auth/userinfo.email"),
    ] {
        let token = f.metadata_access_token(GATEWAY_SA, scopes).await;
        let resp = f.get("/smoothie", Some(&token)).await;
        assert_iap(
            resp,
            401,
            "Invalid IAP credentials: Access token must carry the openid and \
             https://www.googleapis.com/auth/userinfo.email scopes",
            &f.echo,
        )
        .await;
    }
}

#[tokio::test]
async fn an_access_token_the_emulator_never_issued_is_refused() {
    let f = fortress().await;
    let resp = f.get("/smoothie", Some("ya29.a0forged-token")).await;
    assert_iap(
        resp,
        401,
        "Invalid IAP credentials: Unable to validate access token",
        &f.echo,
    )
    .await;
}

#[tokio::test]
async fn a_persons_access_token_is_iam_checked_like_an_id_token() {
    let f = fortress().await;
    let token = f.emulator.issue_access_token(
        "alice@example.com",
        &["openid", "https://www.googleapis.com/auth/userinfo.email"],
    );
    let resp = f.get("/smoothie", Some(&token)).await;
    assert_iap(resp, 403, "You don't have access", &f.echo).await;
    let alice = Member::parse("user:alice@example.com").expect("member");
    assert!(f.emulator.add_iap_accessor("smoothie-service", alice));
    let resp = f.get("/smoothie", Some(&token)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let seen: Value = resp.json().await.expect("echo");
    assert_eq!(
        seen["headers"]["x-goog-authenticated-user-email"],
        "accounts.google.com:alice@example.com"
    );
    // A rogue service account's token with the right scopes authenticates, then IAM refuses.
    let rogue = f.metadata_access_token(ROGUE_SA, Some(IAP_SCOPES)).await;
    let resp = f.get("/smoothie", Some(&rogue)).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn access_tokens_are_refused_when_configured_as_the_older_documentation_says() {
    let f = fortress_with(helpers::topology(), |c| {
        c.iap_access_tokens = iap_lb_emulator::IapAccessTokens::Refused;
    })
    .await;
    let token = f.metadata_access_token(GATEWAY_SA, Some(IAP_SCOPES)).await;
    let resp = f.get("/smoothie", Some(&token)).await;
    assert_iap(
        resp,
        401,
        "Invalid IAP credentials: Unable to parse JWT",
        &f.echo,
    )
    .await;
}

#[tokio::test]
async fn an_expired_access_token_is_refused() {
    let app = helpers::TestApp::new();
    let token = app.state.access_tokens.issue_for(
        iap_lb_emulator::access_tokens::AccessGrant {
            email: GATEWAY_SA.into(),
            user_id: "1".into(),
            kind: iap_lb_emulator::services::PrincipalKind::ServiceAccount,
            scopes: vec![
                "openid".into(),
                "https://www.googleapis.com/auth/userinfo.email".into(),
            ],
        },
        std::time::Duration::ZERO,
    );
    let resp = app
        .send(
            helpers::request(axum::http::Method::GET, DOMAIN, "/smoothie")
                .header("Authorization", format!("Bearer {token}"))
                .body(axum::body::Body::empty())
                .expect("req"),
        )
        .await;
    assert_eq!(resp.status, StatusCode::UNAUTHORIZED);
    assert_eq!(resp.header("x-goog-iap-generated-response"), "true");
    assert_eq!(
        resp.text(),
        "Invalid IAP credentials: Access token has expired"
    );
}

#[tokio::test]
async fn the_admin_route_issues_access_tokens_iap_accepts() {
    let f = fortress().await;
    let admin = plain_client();
    let url = f.emulator.http_url("/_emulator/access-tokens");
    let resp = admin
        .post(&url)
        .json(&json!({"email": GATEWAY_SA, "scopes": ["openid", "email"]}))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["expires_in"], 3599);
    assert_eq!(body["token_type"], "Bearer");
    let token = body["access_token"].as_str().expect("token");
    let resp = f.get("/smoothie", Some(token)).await;
    assert_eq!(resp.status(), StatusCode::OK);

    for bad in [
        json!({"email": "alice@example.com", "scopes": []}),
        json!({"email": "nobody", "scopes": ["openid"]}),
        json!({"scopes": ["openid"]}),
    ] {
        let resp = admin.post(&url).json(&bad).send().await.expect("send");
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
}

#[tokio::test]
async fn the_refresh_sample_flow_recovers_an_ended_session() {
    // item 19: AJAX gets 401 once the session is gone; the popup refreshes it.
    let f = fortress().await;
    let alice = Member::parse("user:alice@example.com").expect("member");
    assert!(f.emulator.add_iap_accessor("smoothie-service", alice));
    let (old, _) = browser_sign_in(&f, "alice@example.com", &f.url("/smoothie")).await;
    let poll = |cookie: String| {
        let req = f
            .client
            .get(f.url("/smoothie/favicon.ico"))
            .header("Cookie", cookie)
            .header("X-Requested-With", "XMLHttpRequest");
        async move { req.send().await.expect("send") }
    };
    assert_eq!(poll(old.clone()).await.status(), StatusCode::OK);

    let ended: Value = plain_client()
        .delete(f.emulator.http_url("/_emulator/browser-sessions"))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(ended, json!({"ended": 1}));
    let seen_before = f.echo.count();
    let resp = poll(old.clone()).await;
    assert_iap(
        resp,
        401,
        "Invalid IAP credentials: empty token",
        &Echo::default(),
    )
    .await;
    assert_eq!(f.echo.count(), seen_before);

    let popup = f
        .client
        .get(f.url("/_gcp_iap/do_session_refresh"))
        .header("Cookie", &old)
        .send()
        .await
        .expect("send");
    assert_eq!(popup.status(), StatusCode::FOUND);
    let (fresh, landed) = browser_sign_in_from(&f, "alice@example.com", &location(&popup)).await;
    assert_eq!(landed, f.url("/_gcp_iap/do_session_refresh"));
    assert_ne!(fresh, old);
    assert_eq!(poll(fresh).await.status(), StatusCode::OK);
    assert_eq!(f.emulator.end_browser_sessions(), 1);
}
