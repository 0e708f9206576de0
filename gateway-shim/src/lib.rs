//! gateway-shim: an ESPv2-like API gateway driven by the very `openapi.yaml` users deploy to
//! API Gateway.
//!
//! In production the fortress's front door is Google API Gateway, which is managed ESPv2: it
//! checks the caller's Firebase ID token, mints a Google ID token for the backend (audience =
//! IAP's OAuth client id) from the metadata server, and forwards to the load balancer. Locally
//! there is no API Gateway, so this crate plays it, reading the same file (google-behaviour
//! section 4, cited as "item N").
//!
//! # Layout
//! - [`openapi`]: the serde model of OpenAPI 2.0 with `x-google-*` (wire type, kept at the edge).
//! - [`api_config`]: [`ApiConfig`], the checked spec: routes, providers, defaults (items 60-71).
//! - [`template`], [`route_table`]: path templates and the [`RouteTable`] (404/405 included).
//! - [`path_translation`]: APPEND_PATH_TO_ADDRESS / CONSTANT_ADDRESS (items 63-64).

pub mod api_config;
pub mod openapi;
pub mod path_translation;
pub mod route_table;
pub mod template;

pub use api_config::{ApiConfig, JwtProviderSpec, ServiceName, SpecError};
pub use path_translation::PathTranslation;
pub use route_table::{Backend, BackendAuth, Route, RouteTable};
