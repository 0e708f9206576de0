//! Routing extras: CORS preflights (allowCors), x-google-allow: all, X-HTTP-Method-Override,
//! basePath.

use crate::helpers::*;

fn spec(backend: &str, keys: &str, extra_top: &str) -> String {
    format!(
        r#"
swagger: "2.0"
info: {{title: t, version: "1"}}
basePath: /v1
{extra_top}
x-google-backend:
  address: {backend}
  jwt_audience: {IAP_AUD}
securityDefinitions:
  firebase:
    type: oauth2
    x-google-issuer: "{FIREBASE_ISSUER}"
    x-google-jwks_uri: "{keys}{X509_PATH}"
    x-google-audiences: "{PROJECT}"
security: [{{firebase: []}}]
paths:
  /shelves:
    get: {{operationId: listShelves}}
    post: {{operationId: createShelf}}
"#
    )
}

async fn start(extra_top: &str) -> (Fakes, Running) {
    let fakes = Fakes::start().await;
    fakes.serve_identity_tokens().await;
    fakes.backend_ok().await;
    let text = spec(&fakes.backend.uri(), &fakes.keys.uri(), extra_top);
    let running = Running::start(fakes.config(&text)).await;
    (fakes, running)
}

#[tokio::test]
async fn with_allow_cors_preflights_reach_the_backend_without_a_token() {
    let (fakes, running) =
        start("x-google-endpoints:\n  - name: t.endpoints.p.cloud.goog\n    allowCors: true").await;
    let resp = running
        .client
        .request(reqwest::Method::OPTIONS, running.url("/v1/shelves"))
        .header("origin", "https://app.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    let reqs = backend_requests(&fakes).await;
    let req = reqs.first().expect("preflight forwarded");
    assert_eq!(req.method.as_str(), "OPTIONS");
    // The backend token still rides along (ESPv2 clones the operation's backend rule).
    assert!(header_of(req, "authorization").is_some_and(|a| a.starts_with("Bearer ")));
}

#[tokio::test]
async fn without_allow_cors_a_preflight_is_405() {
    let (_fakes, running) = start("").await;
    let resp = running
        .client
        .request(reqwest::Method::OPTIONS, running.url("/v1/shelves"))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 405);
}

#[tokio::test]
async fn with_allow_all_unknown_paths_under_base_path_go_to_the_default_backend() {
    let (fakes, running) = start("x-google-allow: all").await;
    assert_eq!(
        running.get("/v1/anything/else?x=1", &[]).await.status(),
        200
    );
    // Known operations still need their token.
    assert_eq!(running.get("/v1/shelves", &[]).await.status(), 401);
    // Outside basePath: nothing matches.
    assert_eq!(running.get("/other", &[]).await.status(), 404);
    let reqs = backend_requests(&fakes).await;
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].url.path(), "/v1/anything/else");
}

#[tokio::test]
async fn paths_outside_base_path_are_not_defined() {
    let (_fakes, running) = start("").await;
    assert_eq!(running.get("/shelves", &[]).await.status(), 404);
}

#[tokio::test]
async fn x_http_method_override_chooses_the_route() {
    let (_fakes, running) = start("").await;
    // DELETE is not defined; overriding a GET to DELETE gets the 405, as ESPv2 recomputes the
    // route with the overridden method (item 73).
    let resp = running
        .get("/v1/shelves", &[("x-http-method-override", "DELETE")])
        .await;
    let (status, _, body) = parts(resp).await;
    assert_eq!(status, 405);
    assert!(body.contains("\\\"/v1/shelves\\\""), "{body}");
}
