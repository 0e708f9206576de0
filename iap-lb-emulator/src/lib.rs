//! iap-lb-emulator: one process that plays every Google box between fortress's gateway and its
//! services.
//!
//! In production a request travels client → API Gateway → external HTTPS load balancer + IAP →
//! serverless NEG → private Cloud Run service, and the gateway and the services talk to Google's
//! identity boxes on the way (metadata server, OAuth token endpoint, key endpoints, Firebase
//! Auth). Locally, this crate plays all of them on one HTTP and one HTTPS listener, routing by
//! Host header as LocalStack plays AWS on one edge port. Fidelity is the product: paths, status
//! codes, header names, claims and error bodies are Google's, each citing its item in
//! `shared/reference/google-behaviour.md`.
//!
//! # What it plays today
//!
//! | host | box | module |
//! | --- | --- | --- |
//! | `metadata.google.internal`, `/computeMetadata/...` on localhost | metadata server | [`hosts::metadata`] |
//! | `accounts.google.com` | OIDC discovery, the test sign-in page | [`hosts::accounts`] |
//! | `www.googleapis.com` | Google, securetoken and service-account keys | [`hosts::googleapis`] |
//! | `oauth2.googleapis.com` | JWT-bearer token exchange | [`hosts::oauth2`] |
//! | `www.gstatic.com` | IAP keys | [`hosts::gstatic`] |
//! | `identitytoolkit.googleapis.com` | Firebase sign-up and sign-in | [`hosts::identitytoolkit`] |
//! | `securetoken.googleapis.com` | Firebase token refresh | [`hosts::securetoken`] |
//! | the topology's domain | external Application Load Balancer + IAP | [`hosts::lb`], [`iap`] |
//! | `iap.googleapis.com` | IAP's OAuth callback (browser flow) | [`hosts::iap_web`], [`browser`] |
//! | `*.run.app` (both host forms) | Cloud Run front end: ingress, invoker IAM, the service | [`hosts::run_app`] |
//! | `localhost`, `127.0.0.1` | the emulator: `/_emulator/...` and `/<host>/<path>` prefixes | [`hosts::admin`], [`host`] |

//!
//! # Layout
//!
//! - [`config`]: the typed, validated configuration; relaxed settings are enum variants.
//! - [`host`]: [`GoogleHost`], the Host header parsed once; the localhost prefix convention.
//! - `dispatch`: the front door that picks a box per request and logs it.
//! - [`hosts`]: one module per box.
//! - [`iap`]: IAP's checks, [`iap::Denial`] with Google's answers, the signed header.
//! - [`browser`]: IAP's browser flow: one-time codes and tickets, cookie sessions.
//! - [`access_tokens`]: the OAuth access tokens issued, so IAP can accept them.
//! - [`agent_tokens`]: IAP's service-agent ID tokens toward Cloud Run, reused until near expiry.
//! - [`assertions`]: IAP's signed header, signed once per second per backend and principal.
//! - [`form`]: URL-encoded forms and queries.
//! - [`keys`]: the issuers' key rings and their published forms.
//! - [`service_accounts`]: the project's service accounts, unique ids and minted keys.
//! - [`services`]: each Cloud Run service's ingress and invokers, mutable at run time.
//! - [`upstream`]: forwarding to the processes that play the services.
//! - [`firebase`]: Firebase users, refresh tokens, ID tokens and Identity Toolkit's error body.
//! - [`tls`]: the local CA and the leaf certificate.
//! - [`google_html`]: Google Front End's HTML error pages.
//! - [`emulator`]: [`Emulator::start`] and [`RunningEmulator`].
//!
//! # What it refuses to do
//!
//! - Issue unsigned tokens, or accept them: every token is RS256 or ES256 from a key it
//!   publishes in Google's formats, and every token it is handed is verified.
//! - Log tokens, keys, passwords or query strings (which can carry API keys).
//! - Relax a check silently: weaker-than-production settings are enum variants listed by
//!   [`Config::relaxations`] and logged at start.

pub mod access_tokens;
pub mod agent_tokens;
pub mod assertions;
pub mod browser;
pub mod config;
pub mod credentials;
mod dispatch;
pub mod emulator;
pub mod firebase;
pub mod form;
pub mod google_html;
pub mod host;
pub mod hosts;
pub mod iap;
pub mod keys;
pub mod service_accounts;
pub mod services;
pub mod state;
pub mod tls;
pub mod upstream;

pub use blueprint;
pub use config::{
    ApiKeys, Config, ConfigError, EmailPrivacy, IapAccessTokens, IngressRefusal, KeySource,
    ServiceAccount,
};
pub use emulator::{Emulator, Listeners, RunningEmulator, StartError, install_crypto_providers};
pub use host::{GoogleHost, UnknownHost};
pub use keys::Issuer;

/// The whole emulator as an axum router over `state`, for socket-free tests
/// (`tower::ServiceExt::oneshot`).
pub fn router(state: state::AppState) -> axum::Router {
    dispatch::app(state)
}
