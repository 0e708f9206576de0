//! Defence in depth behind Identity-Aware Proxy: every fortress service checks IAP's signed
//! header itself, so a request that reached it without passing IAP (a misconfigured ingress, a
//! leaked run.app URL, a compromised neighbour) is refused.
//!
//! Google's guidance (google-behaviour items 20-24): IAP strips client-sent `x-goog-*` headers
//! and adds `x-goog-iap-jwt-assertion`, an ES256 JWT from `https://cloud.google.com/iap` with
//! `aud` = `/projects/NUM/global/backendServices/ID`, valid 10 minutes, keys published at
//! `https://www.gstatic.com/iap/verify/public_key-jwk`. The unsigned
//! `x-goog-authenticated-user-email`/`-id` headers "can be forged if IAP is bypassed", so apps
//! should verify the JWT. This crate does exactly that and nothing else.
//!
//! # Layout
//! - [`config`]: [`IapAudience`] (parse, don't validate), [`IapCheck`] (enforce or, by explicit
//!   choice, disabled), [`KeyServerTls`] (how the key URL is reached).
//! - [`layer`]: [`IapLayer`], the tower layer; verification through `google-tokens`.
//! - [`identity`]: [`Identity`], the request extension and axum extractor handlers use.
//! - [`rejection`]: [`Rejection`] and its single mapping to a 401 (or 503) JSON answer.
//! - `cli` (feature `clap`): `IapArgs`, the `IAP_*` environment variables and flags every service
//!   binary shares.
//!
//! # Use
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use iap_assertion::{IapAudience, IapCheck, IapLayer, Identity, KeyServerTls, google_iap_jwk_url};
//! let check = IapCheck::Enforce {
//!     audience: IapAudience::parse("/projects/123/global/backendServices/456")?,
//!     jwk_url: google_iap_jwk_url(),
//! };
//! let app: axum::Router = axum::Router::new()
//!     .route("/whoami", axum::routing::get(|id: Identity| async move { axum::Json(id) }))
//!     .layer(IapLayer::new(check, KeyServerTls::SystemRoots)?);
//! # Ok(()) }
//! ```
//!
//! # What it refuses to do
//! - read identity from `x-goog-authenticated-user-*` (they are removed before handlers run);
//! - take the algorithm from the token (the policy says ES256);
//! - echo the token, or any value from it, in a response;
//! - turn itself off silently: [`IapCheck::Disabled`] is logged as a WARNING at start, and
//!   handlers then see [`Identity::Unverified`], never a verified-looking identity.

#[cfg(feature = "clap")]
pub mod cli;
pub mod config;
pub mod identity;
pub mod layer;
pub mod rejection;

#[cfg(feature = "clap")]
pub use cli::{CheckMode, IapArgs, IapArgsError};
pub use config::{
    IapAudience, IapCheck, InvalidAudience, KeyServerTls, SetupError, google_iap_jwk_url,
};
pub use identity::{Identity, IdentityMissing, VerifiedIdentity};
pub use layer::{AUTHENTICATED_USER_EMAIL, AUTHENTICATED_USER_ID, IapLayer, IapService};
pub use rejection::{IAP_ASSERTION_HEADER, Rejection};
/// The URL and certificate types [`IapCheck`] and [`KeyServerTls`] take, so callers need not
/// depend on reqwest themselves.
pub use reqwest::{Certificate, Url};
