//! gateway-shim: an ESPv2-like API gateway driven by the very `openapi.yaml` users deploy to
//! API Gateway.
//!
//! In production the fortress's front door is Google API Gateway, which is managed ESPv2: it
//! checks the caller's Firebase ID token, mints a Google ID token for the backend (audience =
//! IAP's OAuth client id) from the metadata server, and forwards to the load balancer. Locally
//! there is no API Gateway, so this crate plays it, reading the same file and answering with
//! ESPv2's statuses, bodies and headers (google-behaviour section 4, cited as "item N"). The same
//! binary also runs on Cloud Run against the real metadata server, as a self-hosted gateway.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use gateway_shim::{ApiConfig, ApiKeyCheck, Config, Gateway, HeaderPrefix, MetadataHost,
//!     Outbound, ServiceName};
//! let service = ServiceName::parse("fortress-api-abc.apigateway.my-project.cloud.goog")?;
//! let config = Config {
//!     api: ApiConfig::load("fixtures/openapi.yaml".as_ref(), &service)?,
//!     outbound: Outbound::Emulator { address: "127.0.0.1:8443".parse()?, ca_pem: String::new() },
//!     metadata_host: MetadataHost::parse("127.0.0.1:8443")?,
//!     generated_header_prefix: HeaderPrefix::parse(HeaderPrefix::API_GATEWAY)?,
//!     api_keys: ApiKeyCheck::PresenceOnly,
//!     max_request_bytes: gateway_shim::API_GATEWAY_MAX_REQUEST_BYTES,
//!     jwks: google_tokens::JwksClientOptions::google_defaults(),
//! };
//! let gateway = Gateway::new(config)?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! gateway_shim::serve(listener, gateway, std::future::pending()).await?;
//! # Ok(()) }
//! ```
//!
//! # Layout
//! - [`openapi`]: the serde model of OpenAPI 2.0 with `x-google-*` (wire type, kept at the edge).
//! - [`api_config`]: [`ApiConfig`], the checked spec: routes, providers, defaults (items 60-71).
//! - [`template`], [`route_table`]: path templates and the [`RouteTable`] (404/405 included).
//! - [`path_translation`]: APPEND_PATH_TO_ADDRESS / CONSTANT_ADDRESS (items 63-64).
//! - [`jwt`], [`authn`]: JWT extraction and verification in ESPv2's order, with its messages.
//! - [`backend_token`]: metadata-server ID tokens, cached per audience, single flight.
//! - [`outbound`]: direct or "everything to the emulator"; reqwest for keys and tokens.
//! - [`connector`]: the proxy's pooled hyper-util client and its connector, in the same modes.
//! - [`proxy`]: streaming forward, deadline, hop-by-hop headers, Envoy's upstream errors.
//! - [`error`]: every response the gateway makes itself.
//! - [`cli`]: the command line, into a [`Config`].
//! - [`gateway`]: [`Config`], [`Gateway`], the layer order, [`serve`].
//!
//! # What it refuses to do
//! It never forwards a client's copy of a generated header (`x-apigateway-*`) nor a client's
//! `X-Forwarded-Authorization` next to a backend token; it never logs a token; it does not talk
//! to Service Control (API keys are checked for presence or against a given list, logged at
//! start); it does not speak gRPC or HTTP/2 to backends (refused or logged at start).

pub mod api_config;
pub mod authn;
pub mod backend_token;
pub mod cli;
pub mod connector;
pub mod error;
pub mod gateway;
pub mod jwt;
pub mod openapi;
pub mod outbound;
pub mod path_translation;
pub mod proxy;
pub mod route_table;
pub mod template;

pub use api_config::{ApiConfig, JwtProviderSpec, ServiceName, SpecError};
pub use backend_token::MetadataHost;
pub use error::GatewayError;
pub use gateway::{
    API_GATEWAY_MAX_REQUEST_BYTES, ApiKeyCheck, Config, Gateway, HeaderPrefix, StartError, serve,
};
pub use outbound::{Outbound, TlsRoots};
pub use path_translation::PathTranslation;
pub use route_table::{Backend, BackendAuth, Route, RouteTable};
