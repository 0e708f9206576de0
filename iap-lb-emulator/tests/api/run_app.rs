//! The Cloud Run front end on run.app hosts (items 41-47, 53): ingress, invoker IAM, the
//! headers the service sees, and that a refused request never reaches the service.

use iap_lb_emulator::blueprint::{self, Ingress, Member, UpstreamAddr};
use iap_lb_emulator::{Config, IngressRefusal, RunningEmulator};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{self, Echo, GATEWAY_SA, plain_client};

const IAP_AGENT: &str = "service-123456789012@gcp-sa-iap.iam.gserviceaccount.com";

struct Stack {
    emulator: RunningEmulator,
    echo: Echo,
    client: reqwest::Client,
    host: String,
}

async fn stack_with(edit: impl FnOnce(&mut Config)) -> Stack {
    let (echo, addr) = Echo::start().await;
    let mut config = helpers::config();
    for service in ["smoothie-service", "coffee-service"] {
        config.upstreams.push((
            service.into(),
            UpstreamAddr::parse(&addr.to_string()).expect("addr"),
        ));
    }
    edit(&mut config);
    let host = config
        .topology
        .service("smoothie-service")
        .expect("smoothie")
        .run_app_host()
        .expect("legacy host")
        .as_str()
        .to_string();
    let emulator = helpers::spawn_with(config).await;
    let client = emulator
        .client_builder()
        .expect("ca")
        .build()
        .expect("client");
    Stack {
        emulator,
        echo,
        client,
        host,
    }
}

async fn stack() -> Stack {
    stack_with(|_| {}).await
}

impl Stack {
    fn url(&self, path: &str) -> String {
        format!("https://{}{path}", self.host)
    }

    /// An ID token for `account` from the metadata server, for `audience`.
    async fn token(&self, account: &str, audience: &str) -> String {
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

    async fn invoker_token(&self) -> String {
        self.token(IAP_AGENT, &format!("https://{}", self.host))
            .await
    }

    fn open_ingress(&self) {
        assert!(self.emulator.set_ingress("smoothie-service", Ingress::All));
    }
}

#[tokio::test]
async fn the_back_door_is_closed_by_ingress_even_for_a_valid_invoker() {
    let s = stack().await;
    let token = s.invoker_token().await;
    let resp = s
        .client
        .get(s.url("/smoothie"))
        .bearer_auth(token)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let body = resp.text().await.expect("body");
    assert!(body.contains("<title>404 Page not found</title>"), "{body}");
    assert!(body.contains("The requested URL was not found on this server."));
    assert_eq!(s.echo.count(), 0, "the service saw nothing");
}

#[tokio::test]
async fn the_ingress_refusal_status_is_configurable() {
    let s = stack_with(|c| c.ingress_refusal = IngressRefusal::Forbidden).await;
    let resp = s.client.get(s.url("/smoothie")).send().await.expect("send");
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(s.echo.count(), 0);
}

#[tokio::test]
async fn with_ingress_all_no_credential_is_403_naming_the_path() {
    let s = stack().await;
    s.open_ingress();
    let resp = s
        .client
        .get(s.url("/smoothie?x=1"))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let body = resp.text().await.expect("body");
    assert!(
        body.contains(
            "<h1>Error: Forbidden</h1>\n<h2>Your client does not have permission to get URL <code>/smoothie</code> from this server.</h2>"
        ),
        "{body}"
    );
    assert_eq!(s.echo.count(), 0);
}

#[tokio::test]
async fn an_invalid_token_is_401_with_www_authenticate() {
    let s = stack().await;
    s.open_ingress();
    let wrong_audience = s.token(IAP_AGENT, "https://elsewhere.example").await;
    for token in ["garbage".to_string(), wrong_audience] {
        let resp = s
            .client
            .get(s.url("/smoothie"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            resp.headers()["www-authenticate"],
            "Bearer error=\"invalid_token\""
        );
        let body = resp.text().await.expect("body");
        assert!(
            body.contains(
                "<h1>Error: Unauthorized</h1>\n<h2>Your client does not have permission to the requested URL</h2>"
            ),
            "{body}"
        );
    }
    assert_eq!(s.echo.count(), 0);
}

#[tokio::test]
async fn a_credential_seen_before_is_checked_again_each_time() {
    let s = stack().await;
    s.open_ingress();
    let token = s.invoker_token().await;
    let send = |path: &'static str| s.client.get(s.url(path)).bearer_auth(&token).send();
    assert_eq!(
        send("/smoothie").await.expect("send").status(),
        StatusCode::OK
    );
    // The same header again, with the signature removed as the first time.
    let resp = send("/smoothie").await.expect("send");
    assert_eq!(resp.status(), StatusCode::OK);
    let seen: Value = resp.json().await.expect("echo");
    let (signed_part, _) = token.rsplit_once('.').expect("jwt");
    assert_eq!(
        seen["headers"]["authorization"],
        format!("Bearer {signed_part}.SIGNATURE_REMOVED_BY_GOOGLE")
    );
    // The principal loses the role: the remembered credential is refused.
    assert!(s.emulator.remove_invoker(
        "smoothie-service",
        &Member::parse(&format!("serviceAccount:{IAP_AGENT}")).expect("member")
    ));
    assert_eq!(
        send("/smoothie").await.expect("send").status(),
        StatusCode::FORBIDDEN
    );
    // The key that signed it is retired: the same header is now an invalid token.
    s.emulator.add_invoker(
        "smoothie-service",
        Member::parse(&format!("serviceAccount:{IAP_AGENT}")).expect("member"),
    );
    assert_eq!(
        send("/smoothie").await.expect("send").status(),
        StatusCode::OK
    );
    s.emulator
        .rotate_keys(iap_lb_emulator::Issuer::Google, true)
        .await
        .expect("rotate");
    assert_eq!(
        send("/smoothie").await.expect("send").status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(s.echo.count(), 3);
}

#[tokio::test]
async fn a_valid_token_without_run_invoker_is_403_not_401() {
    let s = stack().await;
    s.open_ingress();
    // The gateway's account is deliberately not an invoker (fortress.yaml).
    let token = s.token(GATEWAY_SA, &format!("https://{}", s.host)).await;
    let resp = s
        .client
        .get(s.url("/smoothie"))
        .bearer_auth(token)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(s.echo.count(), 0);
}

#[tokio::test]
async fn an_invoker_reaches_the_service_which_sees_forwarding_headers_and_no_signature() {
    let s = stack().await;
    s.open_ingress();
    let token = s.invoker_token().await;
    let resp = s
        .client
        .get(s.url("/smoothie/recipes?page=2"))
        .bearer_auth(&token)
        .header("X-Forwarded-For", "203.0.113.9")
        .header(
            "X-Cloud-Trace-Context",
            "105445aa7843bc8bf206b12000100000/1;o=1",
        )
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::OK);
    let seen: Value = resp.json().await.expect("echo");
    assert_eq!(seen["uri"], "/smoothie/recipes?page=2");
    let headers = &seen["headers"];
    assert_eq!(headers["host"], s.host);
    // Appended, never replaced: only the right-most entry is trustworthy (item 53).
    assert_eq!(headers["x-forwarded-for"], "203.0.113.9, 127.0.0.1");
    assert_eq!(headers["x-forwarded-proto"], "https");
    let trace = headers["x-cloud-trace-context"].as_str().expect("trace");
    assert!(
        trace.starts_with("105445aa7843bc8bf206b12000100000/"),
        "{trace}"
    );
    // The credential arrives without its signature: the service cannot replay it.
    let forwarded = headers["authorization"].as_str().expect("authorization");
    let (signed_part, _) = token.rsplit_once('.').expect("jwt");
    assert_eq!(
        forwarded,
        format!("Bearer {signed_part}.SIGNATURE_REMOVED_BY_GOOGLE")
    );
}

#[tokio::test]
async fn x_serverless_authorization_wins_and_authorization_passes_untouched() {
    let s = stack().await;
    s.open_ingress();
    let token = s.invoker_token().await;
    let resp = s
        .client
        .get(s.url("/smoothie"))
        .header("Authorization", "Bearer the-apps-own-token")
        .header("X-Serverless-Authorization", format!("Bearer {token}"))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::OK);
    let seen: Value = resp.json().await.expect("echo");
    assert_eq!(
        seen["headers"]["authorization"],
        "Bearer the-apps-own-token"
    );
    assert!(
        seen["headers"]["x-serverless-authorization"]
            .as_str()
            .expect("forwarded")
            .ends_with(".SIGNATURE_REMOVED_BY_GOOGLE")
    );
}

#[tokio::test]
async fn all_users_as_invoker_makes_the_service_public() {
    let s = stack().await;
    s.open_ingress();
    assert!(s.emulator.add_invoker("smoothie-service", Member::AllUsers));
    let resp = s.client.get(s.url("/smoothie")).send().await.expect("send");
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        s.emulator
            .remove_invoker("smoothie-service", &Member::AllUsers)
    );
    let resp = s.client.get(s.url("/smoothie")).send().await.expect("send");
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_declared_internal_caller_passes_internal_ingress_and_others_do_not() {
    let internal =
        stack_with(|c| c.internal_callers = vec!["127.0.0.1".parse().expect("ip")]).await;
    assert!(
        internal
            .emulator
            .set_ingress("smoothie-service", Ingress::Internal)
    );
    let token = internal.invoker_token().await;
    let resp = internal
        .client
        .get(internal.url("/smoothie"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::OK);

    let outsider = stack().await;
    assert!(
        outsider
            .emulator
            .set_ingress("smoothie-service", Ingress::Internal)
    );
    let token = outsider.invoker_token().await;
    let resp = outsider
        .client
        .get(outsider.url("/smoothie"))
        .bearer_auth(&token)
        // No header makes a request internal.
        .header("X-Forwarded-For", "10.0.0.1")
        .header("Via", "1.1 google")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn reserved_paths_never_reach_the_service() {
    let s = stack().await;
    s.open_ingress();
    let token = s.invoker_token().await;
    for path in ["/healthz", "/_ah/warmup", "/eventlog"] {
        let resp = s
            .client
            .get(s.url(path))
            .bearer_auth(&token)
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{path}");
    }
    assert_eq!(s.echo.count(), 0);
}

#[tokio::test]
async fn the_deterministic_host_is_the_same_service_and_an_unknown_host_is_404() {
    let s = stack().await;
    s.open_ingress();
    let deterministic = "smoothie-service-123456789012.us-central1.run.app";
    let token = s
        .token(IAP_AGENT, &format!("https://{deterministic}"))
        .await;
    let resp = s
        .client
        .get(format!("https://{deterministic}/smoothie"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::OK);

    let stranger = "tea-service-abcdefghij-uc.a.run.app";
    let client = s
        .emulator
        .client_builder()
        .expect("ca")
        .resolve(stranger, s.emulator.https_addr)
        .build()
        .expect("client");
    let resp = client
        .get(format!("https://{stranger}/"))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_service_without_an_upstream_is_a_clear_503() {
    let s = stack_with(|c| c.upstreams.retain(|(name, _)| name != "coffee-service")).await;
    assert!(s.emulator.set_ingress("coffee-service", Ingress::All));
    assert!(s.emulator.add_invoker("coffee-service", Member::AllUsers));
    let host = helpers::topology()
        .service("coffee-service")
        .expect("coffee")
        .run_app_host()
        .expect("host")
        .as_str()
        .to_string();
    let resp = s
        .client
        .get(format!("https://{host}/coffee"))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(resp.text().await.expect("body").contains("coffee-service"));
}

#[tokio::test]
async fn the_admin_routes_mutate_ingress_and_invokers() {
    let s = stack().await;
    let admin = plain_client();
    let resp = admin
        .put(
            s.emulator
                .http_url("/_emulator/services/smoothie-service/ingress"),
        )
        .json(&json!({"ingress": "all"}))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.json::<Value>().await.expect("json")["ingress"], "all");
    let resp = admin
        .post(
            s.emulator
                .http_url("/_emulator/services/smoothie-service/invokers"),
        )
        .json(&json!({"add": "allUsers"}))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = s.client.get(s.url("/smoothie")).send().await.expect("send");
    assert_eq!(resp.status(), StatusCode::OK);

    let resp = admin
        .put(
            s.emulator
                .http_url("/_emulator/services/smoothie-service/ingress"),
        )
        .json(&json!({"ingress": "public"}))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let resp = admin
        .put(
            s.emulator
                .http_url("/_emulator/services/tea-service/ingress"),
        )
        .json(&json!({"ingress": "all"}))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

/// The stack over the fixture with `extra` added to smoothie-service's entry.
async fn stack_with_smoothie(extra: &str) -> Stack {
    let topology = helpers::topology_edited(
        helpers::SMOOTHIE_ENTRY,
        &format!("{}    {extra}\n", helpers::SMOOTHIE_ENTRY),
    );
    stack_with(|c| c.topology = std::sync::Arc::new(topology)).await
}

#[tokio::test]
async fn a_token_for_a_custom_audience_passes_the_invoker_check() {
    let s = stack_with_smoothie("customAudiences: [\"https://smoothie.myawesomeapp.com\"]").await;
    s.open_ingress();
    let token = s
        .token(IAP_AGENT, "https://smoothie.myawesomeapp.com")
        .await;
    let resp = s
        .client
        .get(s.url("/smoothie"))
        .bearer_auth(token)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(s.echo.count(), 1);

    // Another service's custom audience, or none at all, is still a bad audience: 401.
    let other = s.token(IAP_AGENT, "https://coffee.myawesomeapp.com").await;
    let resp = s
        .client
        .get(s.url("/smoothie"))
        .bearer_auth(other)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        resp.headers()["www-authenticate"],
        "Bearer error=\"invalid_token\""
    );
    assert!(
        resp.text()
            .await
            .expect("body")
            .contains("<h2>Your client does not have permission to the requested URL</h2>")
    );
    assert_eq!(s.echo.count(), 1, "the refused request never arrived");
}

#[tokio::test]
async fn a_custom_audience_does_not_make_a_non_invoker_an_invoker() {
    let s = stack_with_smoothie("customAudiences: [\"https://smoothie.myawesomeapp.com\"]").await;
    s.open_ingress();
    let token = s
        .token(GATEWAY_SA, "https://smoothie.myawesomeapp.com")
        .await;
    let resp = s
        .client
        .get(s.url("/smoothie"))
        .bearer_auth(token)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(resp.text().await.expect("body").contains(
        "<h2>Your client does not have permission to get URL <code>/smoothie</code> from this server.</h2>"
    ));
    assert_eq!(s.echo.count(), 0);
}

#[tokio::test]
async fn invoker_iam_disabled_admits_anyone_ingress_admits() {
    let s = stack_with_smoothie("invokerIamDisabled: true").await;
    // Ingress still applies: the back door stays shut.
    let resp = s.client.get(s.url("/smoothie")).send().await.expect("send");
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert_eq!(s.echo.count(), 0);

    s.open_ingress();
    let resp = s.client.get(s.url("/smoothie")).send().await.expect("send");
    assert_eq!(resp.status(), StatusCode::OK, "no credential needed");
    // No token is verified: the app's own Authorization reaches it untouched.
    let resp = s
        .client
        .get(s.url("/smoothie"))
        .bearer_auth("app-token")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::OK);
    let seen: Value = resp.json().await.expect("echo");
    assert_eq!(seen["headers"]["authorization"], "Bearer app-token");

    // The other service still checks.
    let coffee = s.emulator.set_ingress("coffee-service", Ingress::All);
    assert!(coffee);
    let coffee_host = helpers::topology()
        .service("coffee-service")
        .expect("coffee")
        .run_app_host()
        .expect("host")
        .as_str()
        .to_string();
    let resp = s
        .client
        .get(format!("https://{coffee_host}/coffee"))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn invoker_iam_disabled_is_listed_as_a_relaxation_at_start() {
    let s = stack_with_smoothie("invokerIamDisabled: true").await;
    let topology: Value = plain_client()
        .get(s.emulator.http_url("/_emulator/topology"))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let relaxations = topology["relaxations"].as_array().expect("list");
    assert!(
        relaxations.iter().any(|r| r
            == "services.smoothie-service.invokerIamDisabled: Cloud Run's run.invoker check is \
                off; ingress still applies (topology setting, as in production)"),
        "{relaxations:?}"
    );
    assert_eq!(topology["services"][0]["invokerIamDisabled"], true);
    assert_eq!(topology["services"][1]["invokerIamDisabled"], false);
}

#[tokio::test]
async fn the_invoker_check_is_switched_at_run_time_through_the_admin_route() {
    let s = stack().await;
    s.open_ingress();
    let admin = plain_client();
    let url = s
        .emulator
        .http_url("/_emulator/services/smoothie-service/invoker-iam");
    let resp = admin
        .put(&url)
        .json(&json!({"invokerIamDisabled": true}))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.json::<Value>().await.expect("json")["invokerIamDisabled"],
        true
    );
    let resp = s.client.get(s.url("/smoothie")).send().await.expect("send");
    assert_eq!(resp.status(), StatusCode::OK);

    assert!(
        s.emulator
            .set_invoker_iam("smoothie-service", blueprint::InvokerIamCheck::Enabled)
    );
    let resp = s.client.get(s.url("/smoothie")).send().await.expect("send");
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);

    let resp = admin
        .put(&url)
        .json(&json!({"invokerIamDisabled": "yes"}))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        resp.text().await.expect("body"),
        "expected {\"invokerIamDisabled\": true|false}\n"
    );
}
