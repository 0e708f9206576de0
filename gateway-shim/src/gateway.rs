//! [`Gateway`]: the typed [`Config`], the shared state, and the layer stack in ESPv2's filter
//! order.
//!
//! ESPv2 turns the service config into an ordered Envoy filter chain
//! (`src/go/configgenerator/filter_generator.go`: path matching first, the router last). The
//! same order here, one concern per tower layer (style.md section 5), outermost first:
//!
//! 1. **sanitize**: drops every client header carrying the generated-header prefix
//!    (`x-apigateway-*`, item 67). First, so no later layer, and no backend, can mistake a
//!    client's `X-Apigateway-Api-Userinfo` for one the gateway set (Envoy's `jwt_authn` also
//!    sanitizes its payload header before verifying).
//! 2. **route**: normalises the path and finds the operation; 404 / 405 are answered here,
//!    before authentication, as ESPv2's deny routes carry no JWT requirement. It stores the
//!    match for the layers inside, so the table is searched once.
//! 3. **authenticate**: the route's JWT providers (401/403 with `WWW-Authenticate`), then its
//!    API key; on success adds `X-Apigateway-Api-Userinfo`. Before backend auth, because
//!    ESPv2 mints no backend token for a request it will refuse (and a refused request must not
//!    cost a metadata call).
//! 4. **backend auth**: the ID token for the route's audience; moves the client's
//!    `Authorization` to `X-Forwarded-Authorization` (removing any client copy first) and sets
//!    `Authorization: Bearer <ID token>` (items 65-66). Innermost of the checks, right before the
//!    proxy, so the backend token exists only on requests that will be sent.
//! 5. **proxy** (the handler, "router last"): path translation, deadline, streaming.
//!
//! [`serve`] puts the Cloud Run contract layers (request id, trace context, access log) around
//! all of this through `cloud_run::serve`.

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use google_tokens::JwksClientOptions;
use http::{HeaderName, HeaderValue, Method, header};
use tokio::net::TcpListener;

use crate::api_config::ApiConfig;
use crate::authn::Authenticator;
use crate::backend_token::{AudienceToken, BackendTokens, MetadataHost};
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
    authn: Authenticator,
    tokens: BackendTokens,
    client: reqwest::Client,
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

/// The route a request matched, for the inner layers.
#[derive(Debug, Clone)]
struct Matched {
    index: usize,
    bindings: Vec<(String, String)>,
    normalized_path: String,
}

impl Gateway {
    /// Builds clients and caches. No IO happens here: keys and tokens are fetched on first use.
    pub fn new(config: Config) -> Result<Self, StartError> {
        let client = config.outbound.client()?;
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
                authn,
                tokens,
                client,
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

    /// The gateway as an axum router, without the Cloud Run layers (tests: `oneshot`).
    pub fn router(&self) -> Router {
        let s = self.shared.clone();
        // `Router::layer` wraps what came before: the last `.layer` is the outermost and sees
        // the request first. See the module docs for why each sits where it does.
        Router::new()
            .fallback(proxy_handler)
            .layer(middleware::from_fn_with_state(s.clone(), backend_auth))
            .layer(middleware::from_fn_with_state(s.clone(), authenticate))
            .layer(middleware::from_fn_with_state(s.clone(), route))
            .layer(middleware::from_fn_with_state(s.clone(), sanitize))
            .with_state(s)
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
    cloud_run::serve(listener, gateway.router(), shutdown).await
}

/// Layer 1: client copies of generated headers never get past the gateway.
async fn sanitize(State(s): State<Arc<Shared>>, mut req: Request, next: Next) -> Response {
    let prefix = s.prefix.as_str();
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
    next.run(req).await
}

/// Layer 2: path normalisation and route lookup.
async fn route(State(s): State<Arc<Shared>>, mut req: Request, next: Next) -> Response {
    if req
        .uri()
        .path_and_query()
        .is_some_and(|pq| pq.as_str().contains('#'))
    {
        return GatewayError::FragmentInPath.into_response();
    }
    let normalized_path = normalize_path(req.uri().path());
    // ESPv2 honours X-HTTP-Method-Override when choosing the route (item 73).
    let method = req
        .headers()
        .get("x-http-method-override")
        .and_then(|v| Method::from_bytes(v.as_bytes()).ok())
        .unwrap_or_else(|| req.method().clone());
    let matched = match s.api.routes().lookup(&method, &normalized_path) {
        Lookup::NotFound => return GatewayError::NotFound.into_response(),
        Lookup::MethodNotAllowed { template } => {
            return GatewayError::MethodNotAllowed { template }.into_response();
        }
        Lookup::Found {
            index, bindings, ..
        } => Matched {
            index,
            bindings,
            normalized_path,
        },
    };
    req.extensions_mut().insert(matched);
    next.run(req).await
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

/// Layer 3: JWT, then API key.
async fn authenticate(State(s): State<Arc<Shared>>, mut req: Request, next: Next) -> Response {
    let Some(m) = req.extensions().get::<Matched>() else {
        return GatewayError::NotFound.into_response();
    };
    let Some(route) = s.api.routes().routes().get(m.index) else {
        return GatewayError::NotFound.into_response();
    };
    if !route.jwt_providers.is_empty() {
        let query = req.uri().query();
        match s
            .authn
            .authenticate(&route.jwt_providers, req.headers(), query)
            .await
        {
            Ok(payloads) => {
                for p in payloads {
                    if let Ok(v) = HeaderValue::from_str(&p) {
                        req.headers_mut().append(s.userinfo.clone(), v);
                    }
                }
            }
            Err(status) => {
                return GatewayError::Jwt {
                    status,
                    realm: original_uri(&req),
                }
                .into_response();
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
            (None, _) => return GatewayError::ApiKeyMissing.into_response(),
            (Some(k), ApiKeyCheck::AllowList(allowed)) if !allowed.contains(&k) => {
                return GatewayError::ApiKeyInvalid.into_response();
            }
            _ => {}
        }
    }
    next.run(req).await
}

/// Layer 4: the backend's ID token.
async fn backend_auth(State(s): State<Arc<Shared>>, mut req: Request, next: Next) -> Response {
    let Some(index) = req.extensions().get::<Matched>().map(|m| m.index) else {
        return GatewayError::NotFound.into_response();
    };
    if let Some(Some(entry)) = s.route_tokens.get(index) {
        let token = match s.tokens.header(entry).await {
            Ok(t) => t,
            Err(_) => {
                return GatewayError::BackendTokenUnavailable {
                    audience: entry.audience().to_owned(),
                }
                .into_response();
            }
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
    next.run(req).await
}

/// Layer 5: the proxy.
async fn proxy_handler(State(s): State<Arc<Shared>>, req: Request<Body>) -> Response {
    let Some(m) = req.extensions().get::<Matched>().cloned() else {
        return GatewayError::NotFound.into_response();
    };
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
    let url = format!("{}://{}{}", b.scheme.as_str(), b.authority, path_and_query);
    proxy::forward(
        &s.client,
        req,
        proxy::Call {
            url,
            deadline: b.deadline,
            max_request_bytes: s.max_request_bytes,
        },
    )
    .await
}
