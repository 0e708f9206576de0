//! [`Gateway`]: the typed [`Config`], the shared state, and the request steps in ESPv2's filter
//! order.
//!
//! ESPv2 turns the service config into an ordered Envoy filter chain
//! (`src/go/configgenerator/filter_generator.go`: path matching first, the router last). The
//! same order here, one concern per step, first to last. The steps were one tower layer each
//! (style.md section 5); they are now plain functions called in order by one handler, because
//! each `from_fn` layer cost a boxed future, a `Next` and a route clone per request on the hot
//! path (`bench/README.md`). The order and its reasons are unchanged:
//!
//! 1. **sanitize**: drops every client header carrying the generated-header prefix
//!    (`x-apigateway-*`, item 67). First, so no later step, and no backend, can mistake a
//!    client's `X-Apigateway-Api-Userinfo` for one the gateway set (Envoy's `jwt_authn` also
//!    sanitizes its payload header before verifying).
//! 2. **route**: normalises the path and finds the operation; 404 / 405 are answered here,
//!    before authentication, as ESPv2's deny routes carry no JWT requirement. It hands the
//!    match to the later steps, so the table is searched once.
//! 3. **authenticate**: the route's JWT providers (401/403 with `WWW-Authenticate`), then its
//!    API key; on success adds `X-Apigateway-Api-Userinfo`. Before backend auth, because
//!    ESPv2 mints no backend token for a request it will refuse (and a refused request must not
//!    cost a metadata call).
//! 4. **backend auth**: the ID token for the route's audience; moves the client's
//!    `Authorization` to `X-Forwarded-Authorization` (removing any client copy first) and sets
//!    `Authorization: Bearer <ID token>` (items 65-66). Last of the checks, right before the
//!    proxy, so the backend token exists only on requests that will be sent.
//! 5. **proxy** (the handler, "router last"): path translation, deadline, streaming.
//!
//! [`serve`] puts the Cloud Run contract layers (request id, trace context, access log) around
//! all of this through `cloud_run::serve`.

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use google_tokens::JwksClientOptions;
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderName, Method, Uri, header};
use tokio::net::TcpListener;

use crate::api_config::ApiConfig;
use crate::authn::Authenticator;
use crate::backend_token::{AudienceToken, BackendTokens, MetadataHost};
use crate::connector::{self, ProxyClient};
use crate::error::GatewayError;
use crate::outbound::{Outbound, OutboundError};
use crate::path_translation;
use crate::proxy;
use crate::route_table::{BackendAuth, KeyLocation, Lookup};
use crate::template::normalize_path;

/// API Gateway's request size limit (peers.md section 1: 32 MB).
pub const API_GATEWAY_MAX_REQUEST_BYTES: u64 = 32 * 1024 * 1024;

/// The prefix of headers the gateway generates (ESPv2 `--generated_header_prefix`, item 67).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderPrefix(String);

impl HeaderPrefix {
    /// API Gateway runs ESPv2 with `x-apigateway-` (item 67).
    pub const API_GATEWAY: &'static str = "x-apigateway-";
    /// Plain ESPv2 / Cloud Endpoints: `X-Endpoint-` (item 67).
    pub const ENDPOINTS: &'static str = "x-endpoint-";

    pub fn parse(prefix: &str) -> Result<Self, String> {
        let lower = prefix.to_ascii_lowercase();
        if lower.is_empty() || HeaderName::try_from(format!("{lower}api-userinfo")).is_err() {
            return Err(format!(
                "generated header prefix {prefix:?}: expected header-name characters, like x-apigateway-"
            ));
        }
        Ok(Self(lower))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `<prefix>api-userinfo`: `X-Apigateway-Api-Userinfo` with the default prefix.
    pub fn userinfo(&self) -> HeaderName {
        HeaderName::try_from(format!("{}api-userinfo", self.0))
            .unwrap_or_else(|_| HeaderName::from_static("x-apigateway-api-userinfo"))
    }
}

/// How API keys are judged. API Gateway asks Service Control, which the shim cannot; so it
/// either accepts any present key or checks a given list. Both are logged at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiKeyCheck {
    /// Any key present is accepted.
    PresenceOnly,
    /// Only these keys; others get ESPv2's 400 `API key not valid`.
    AllowList(Vec<String>),
}

/// Everything the gateway needs, parsed (style.md section 3: no `Default`, no bool switches).
#[derive(Debug, Clone)]
pub struct Config {
    /// The checked `openapi.yaml` (see [`ApiConfig::load`]).
    pub api: ApiConfig,
    /// Where outbound calls go: DNS, or all to the emulator.
    pub outbound: Outbound,
    /// `GCE_METADATA_HOST` or `metadata.google.internal`.
    pub metadata_host: MetadataHost,
    pub generated_header_prefix: HeaderPrefix,
    pub api_keys: ApiKeyCheck,
    /// Largest request body forwarded ([`API_GATEWAY_MAX_REQUEST_BYTES`]).
    pub max_request_bytes: u64,
    /// JWKS cache tuning; `JwksClientOptions::google_defaults()` is ESPv2's 5 minutes (item 68).
    pub jwks: JwksClientOptions,
}

/// The gateway could not be built.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Outbound(#[from] OutboundError),
}

struct Shared {
    api: ApiConfig,
    /// Per route (same index as the table): its backend token entry.
    route_tokens: Vec<Option<Arc<AudienceToken>>>,
    /// Per route: `scheme://authority/` parsed once. Host parsing (and its IDNA mapping) was
    /// most of the per-request URL parse; a request now only adds the path and query.
    base_urls: Vec<Option<BackendBase>>,
    authn: Authenticator,
    tokens: BackendTokens,
    /// The proxy's client (hyper-util's); JWKS and tokens use reqwest ([`crate::connector`]).
    proxy_client: ProxyClient,
    prefix: HeaderPrefix,
    userinfo: HeaderName,
    api_keys: ApiKeyCheck,
    max_request_bytes: u64,
}

/// A built gateway: clone-cheap, serve with [`Gateway::router`] or [`serve`].
#[derive(Clone)]
pub struct Gateway {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("routes", &self.shared.api.routes().routes().len())
            .finish_non_exhaustive()
    }
}

/// The route a request matched, for the steps after routing.
#[derive(Debug)]
struct Matched {
    index: usize,
    bindings: Vec<(String, String)>,
    normalized_path: String,
}

impl Gateway {
    /// Builds clients and caches. No IO happens here: keys and tokens are fetched on first use.
    pub fn new(config: Config) -> Result<Self, StartError> {
        let client = config.outbound.client()?;
        let proxy_client = connector::proxy_client(&config.outbound)?;
        let tokens = BackendTokens::new(client.clone(), config.metadata_host.clone());
        let route_tokens = config
            .api
            .routes()
            .routes()
            .iter()
            .map(|r| match &r.backend.auth {
                BackendAuth::IdToken { jwt_audience } => Some(tokens.entry(jwt_audience)),
                BackendAuth::Disabled => None,
            })
            .collect();
        let base_urls = config
            .api
            .routes()
            .routes()
            .iter()
            .map(|r| {
                let b = &r.backend;
                BackendBase::parse(&format!("{}://{}/", b.scheme.as_str(), b.authority))
            })
            .collect();
        let authn =
            Authenticator::new(config.api.providers().values(), client.clone(), config.jwks);
        for note in config.api.relaxations() {
            tracing::warn!(relaxation = %note, "differs from API Gateway");
        }
        if let ApiKeyCheck::PresenceOnly = config.api_keys
            && config
                .api
                .routes()
                .routes()
                .iter()
                .any(|r| r.api_key.is_some())
        {
            tracing::warn!("API keys are accepted when present; none is checked");
        }
        let userinfo = config.generated_header_prefix.userinfo();
        Ok(Self {
            shared: Arc::new(Shared {
                api: config.api,
                route_tokens,
                base_urls,
                authn,
                tokens,
                proxy_client,
                prefix: config.generated_header_prefix,
                userinfo,
                api_keys: config.api_keys,
                max_request_bytes: config.max_request_bytes,
            }),
        })
    }

    pub fn api(&self) -> &ApiConfig {
        &self.shared.api
    }

    /// Metadata-server requests made so far.
    pub fn metadata_fetches(&self) -> u64 {
        self.shared.tokens.fetch_count()
    }

    /// JWKS requests made so far for provider `id`.
    pub fn jwks_fetches(&self, id: &str) -> u64 {
        self.shared
            .authn
            .provider(id)
            .map_or(0, crate::authn::Provider::fetch_count)
    }

    /// Verified JWTs provider `id` holds in its cache now.
    pub fn cached_jwts(&self, id: &str) -> usize {
        self.shared
            .authn
            .provider(id)
            .map_or(0, crate::authn::Provider::cached_tokens)
    }

    /// The gateway as an axum router, without the Cloud Run layers (tests: `oneshot`). Every
    /// path goes to [`Gateway::service`].
    pub fn router(&self) -> Router {
        Router::new().fallback_service(self.service())
    }

    /// The gateway as one tower service, what [`serve`] serves: one handler runs the five
    /// steps in order (see the module docs for why each sits where it does). They were one
    /// `middleware::from_fn` layer each; as plain function calls they cost no boxed future,
    /// `Next` or extension map per step, and with no router in front a request is not routed
    /// to the only handler there is (bench/README.md).
    pub fn service(&self) -> GatewayService {
        GatewayService {
            shared: Arc::clone(&self.shared),
        }
    }
}

/// [`Gateway::service`]: every request through [`handle`].
#[derive(Clone)]
pub struct GatewayService {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for GatewayService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayService").finish_non_exhaustive()
    }
}

impl tower::Service<Request> for GatewayService {
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future =
        std::pin::Pin<Box<dyn Future<Output = Result<Response, std::convert::Infallible>> + Send>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let shared = Arc::clone(&self.shared);
        Box::pin(async move { Ok(handle(&shared, req).await) })
    }
}

/// Serves `gateway` on `listener` under the Cloud Run contract until `shutdown` completes.
pub async fn serve<F>(
    listener: TcpListener,
    gateway: Gateway,
    shutdown: F,
) -> Result<cloud_run::Drain, cloud_run::ServeError>
where
    F: Future<Output = ()> + Send + 'static,
{
    // The binary's runtime (`cloud_run::runtime`) keeps a timer armed, so a request's deadline
    // timer never wakes tokio's driver.
    cloud_run::serve(listener, gateway.service(), shutdown).await
}

/// Steps 1-5 for one request; the first step that answers ends it.
async fn handle(s: &Shared, mut req: Request) -> Response {
    sanitize(s, &mut req);
    let matched = match route(s, &req) {
        Ok(m) => m,
        Err(e) => return e.into_response(),
    };
    if let Err(response) = authenticate(s, &mut req, matched.index).await {
        return *response;
    }
    if let Err(e) = backend_auth(s, &mut req, matched.index).await {
        return e.into_response();
    }
    proxy_request(s, req, matched).await
}

/// Step 1: client copies of generated headers never get past the gateway.
fn sanitize(s: &Shared, req: &mut Request) {
    let prefix = s.prefix.as_str();
    // Nothing to drop on almost every request: look before collecting.
    if !req.headers().keys().any(|k| k.as_str().starts_with(prefix)) {
        return;
    }
    let generated: Vec<HeaderName> = req
        .headers()
        .keys()
        .filter(|k| k.as_str().starts_with(prefix))
        .cloned()
        .collect();
    for name in generated {
        tracing::debug!(header = %name, "dropped a client copy of a generated header");
        req.headers_mut().remove(name);
    }
}

/// A constant, so the lookup does not parse the name on every request.
static X_HTTP_METHOD_OVERRIDE: HeaderName = HeaderName::from_static("x-http-method-override");

/// Step 2: path normalisation and route lookup.
fn route(s: &Shared, req: &Request) -> Result<Matched, GatewayError> {
    if req
        .uri()
        .path_and_query()
        // A byte search: `contains('#')` went through the char searcher (~300 instructions).
        .is_some_and(|pq| pq.as_str().as_bytes().contains(&b'#'))
    {
        return Err(GatewayError::FragmentInPath);
    }
    let normalized_path = normalize_path(req.uri().path());
    // ESPv2 honours X-HTTP-Method-Override when choosing the route (item 73).
    let overridden = req
        .headers()
        .get(&X_HTTP_METHOD_OVERRIDE)
        .and_then(|v| Method::from_bytes(v.as_bytes()).ok());
    let method = overridden.as_ref().unwrap_or(req.method());
    match s.api.routes().lookup(method, &normalized_path) {
        Lookup::NotFound => Err(GatewayError::NotFound),
        Lookup::MethodNotAllowed { template } => Err(GatewayError::MethodNotAllowed { template }),
        Lookup::Found {
            index, bindings, ..
        } => Ok(Matched {
            index,
            bindings,
            normalized_path,
        }),
    }
}

/// The URL a `WWW-Authenticate` realm names: Envoy's `buildOriginalUri` (scheme from
/// `X-Forwarded-Proto`, the Host, and the path with query, cut at 256 bytes).
fn original_uri(req: &Request) -> String {
    let proto = req
        .headers()
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("http");
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()))
        .unwrap_or("");
    let pq = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
    let mut cut = pq.len().min(256);
    while !pq.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{proto}://{host}{}", &pq[..cut])
}

/// Step 3: JWT, then API key. `Err` is the refusal to send (boxed: it is the rare path).
async fn authenticate(s: &Shared, req: &mut Request, index: usize) -> Result<(), Box<Response>> {
    let refuse = |e: GatewayError| Err(Box::new(e.into_response()));
    let Some(route) = s.api.routes().routes().get(index) else {
        return refuse(GatewayError::NotFound);
    };
    if !route.jwt_providers.is_empty() {
        let query = req.uri().query();
        match s
            .authn
            .authenticate(&route.jwt_providers, req.headers(), query)
            .await
        {
            Ok(payloads) => {
                for v in payloads {
                    req.headers_mut().append(s.userinfo.clone(), v);
                }
            }
            Err(status) => {
                return refuse(GatewayError::Jwt {
                    status,
                    realm: original_uri(req),
                });
            }
        }
    }
    if let Some(locations) = &route.api_key {
        let key = locations.iter().find_map(|loc| match loc {
            KeyLocation::Query(name) => req.uri().query().and_then(|q| {
                q.split('&').find_map(|pair| {
                    let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                    (crate::authn::percent_decode(k) == *name)
                        .then(|| crate::authn::percent_decode(v))
                })
            }),
            KeyLocation::Header(h) => req
                .headers()
                .get(h)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        });
        match (key, &s.api_keys) {
            (None, _) => return refuse(GatewayError::ApiKeyMissing),
            (Some(k), ApiKeyCheck::AllowList(allowed)) if !allowed.contains(&k) => {
                return refuse(GatewayError::ApiKeyInvalid);
            }
            _ => {}
        }
    }
    Ok(())
}

/// Step 4: the backend's ID token.
async fn backend_auth(s: &Shared, req: &mut Request, index: usize) -> Result<(), GatewayError> {
    if let Some(Some(entry)) = s.route_tokens.get(index) {
        let Ok(token) = s.tokens.header(entry).await else {
            return Err(GatewayError::BackendTokenUnavailable {
                audience: entry.audience().to_owned(),
            });
        };
        const XFA: HeaderName = HeaderName::from_static("x-forwarded-authorization");
        let headers = req.headers_mut();
        // A client's own X-Forwarded-Authorization never reaches the backend (item 66).
        headers.remove(&XFA);
        if let Some(original) = headers.remove(header::AUTHORIZATION) {
            headers.insert(XFA, original);
        }
        headers.insert(header::AUTHORIZATION, token);
    }
    Ok(())
}

/// A backend address without its path, ready to take a request's path and query.
#[derive(Debug)]
struct BackendBase {
    /// As `url` normalised them (lowercase, IDNA, no default port): what reqwest sent.
    scheme: Scheme,
    authority: Authority,
    /// `scheme://authority/`, for the rare path and query that `url` would change.
    url: reqwest::Url,
}

impl BackendBase {
    fn parse(base: &str) -> Option<Self> {
        let url = reqwest::Url::parse(base).ok()?;
        let scheme: Scheme = url.scheme().parse().ok()?;
        let authority = Authority::try_from(url.authority()).ok()?;
        Some(Self {
            scheme,
            authority,
            url,
        })
    }
}

/// `base` with `path_and_query`: the URI of the URL `Url::parse` would make of the whole
/// string (percent-encoding, dot segments, `\` as `/`), without the `url` crate when the path
/// and query are already in the form it would give them, which is the common case.
fn backend_uri(base: &BackendBase, path_and_query: String) -> Option<Uri> {
    let path_and_query = if url_keeps(&path_and_query) {
        PathAndQuery::try_from(path_and_query).ok()?
    } else {
        let mut url = base.url.clone();
        let (path, query) = match path_and_query.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (path_and_query.as_str(), None),
        };
        url.set_path(path);
        url.set_query(query);
        match url.query() {
            Some(q) => PathAndQuery::try_from(format!("{}?{q}", url.path())).ok()?,
            None => PathAndQuery::try_from(url.path()).ok()?,
        }
    };
    let mut parts = http::uri::Parts::default();
    parts.scheme = Some(base.scheme.clone());
    parts.authority = Some(base.authority.clone());
    parts.path_and_query = Some(path_and_query);
    Uri::from_parts(parts).ok()
}

/// Whether the WHATWG URL parser (special scheme) leaves this path and query as they are: an
/// absolute path of unreserved characters, sub-delimiters, `:@/%` and no dot segment (`%2e`
/// counts as a dot), and a query of the same plus `?` but not `'`, which it encodes there.
/// Byte by byte, with no `char` searching: this runs on every proxied request.
fn url_keeps(path_and_query: &str) -> bool {
    let bytes = path_and_query.as_bytes();
    let (path, query) = match bytes.iter().position(|&b| b == b'?') {
        Some(i) => (&bytes[..i], &bytes[i + 1..]),
        None => (bytes, &[][..]),
    };
    path.first() == Some(&b'/')
        && path
            .iter()
            .all(|&b| URL_PLAIN[usize::from(b)] || b == b'\'')
        && query
            .iter()
            .all(|&b| URL_PLAIN[usize::from(b)] || b == b'?')
        && !path
            .split(|&b| b == b'/')
            .any(|seg| seg == b"." || seg == b"..")
        && !path
            .windows(3)
            .any(|w| w[0] == b'%' && w[1] == b'2' && (w[2] | 0x20) == b'e')
}

/// The bytes `url_keeps` lets through in a path and a query alike: unreserved characters,
/// sub-delimiters (but `'`) and `:@/%`, as a table.
static URL_PLAIN: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric();
        b += 1;
    }
    let others = b"-._~!$&()*+,;=:@/%";
    let mut i = 0;
    while i < others.len() {
        table[others[i] as usize] = true;
        i += 1;
    }
    table
};

/// Step 5: the proxy.
async fn proxy_request(s: &Shared, req: Request<Body>, m: Matched) -> Response {
    let Some(route) = s.api.routes().routes().get(m.index) else {
        return GatewayError::NotFound.into_response();
    };
    if let Some(len) = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        && len > s.max_request_bytes
    {
        return GatewayError::PayloadTooLarge.into_response();
    }
    let b = &route.backend;
    let path_and_query = path_translation::rewrite(
        b.path_translation,
        &b.path,
        &m.normalized_path,
        req.uri().query(),
        &m.bindings,
    );
    let uri = match s.base_urls.get(m.index) {
        Some(Some(base)) => backend_uri(base, path_and_query),
        // Every address parsed at start; this is only a fallback that parses it whole.
        _ => {
            let full = format!("{}://{}{}", b.scheme.as_str(), b.authority, path_and_query);
            match reqwest::Url::parse(&full) {
                Ok(url) => Uri::try_from(url.as_str()).ok(),
                Err(_) => return GatewayError::NoHealthyUpstream.into_response(),
            }
        }
    };
    // A URL that `http::Uri` refuses: reqwest failed such a request before sending it, which
    // the proxy reported as a termination.
    let Some(uri) = uri else {
        return GatewayError::UpstreamReset {
            detail: "reset reason: connection termination".into(),
        }
        .into_response();
    };
    proxy::forward(
        &s.proxy_client,
        req,
        proxy::Call {
            uri,
            deadline: b.deadline,
            max_request_bytes: s.max_request_bytes,
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_urls_are_what_parsing_the_whole_address_gives() {
        let cases = [
            "/",
            "",
            "/open?q=1",
            "/getItem?sort=asc&uid=alice&item=42",
            "/a%2Fb?x=%20y&z=%2",
            "/a b/ü?k=ö ä&e=",
            "/p?",
            "/p?a?b=c",
            "/a/./b/../c",
            "/a\\b",
            "/x:y@z;w?[]{}|^`",
            // Dot segments spelled with `%2e`, `'` (kept in a path, encoded in a query), `...`.
            "/a/%2e%2E/b/.%2e/c/%2e",
            "/it's?it's",
            "/a/.../b/..",
            "/a//b?c=d/e?f",
        ];
        for base in [
            "http://127.0.0.1:8080",
            "https://api.example.com",
            "https://[::1]:9",
        ] {
            let parsed = BackendBase::parse(&format!("{base}/")).expect("base");
            for pq in cases {
                let want = reqwest::Url::parse(&format!("{base}{pq}")).expect("url");
                let got = backend_uri(&parsed, pq.to_owned()).expect("uri");
                assert_eq!(got.to_string(), want.as_str(), "{base} + {pq}");
            }
        }
    }
}
