//! Google's token formats, minted and verified the way Google's own libraries expect.
//!
//! fortress plays several Google issuers locally (accounts.google.com, IAP, Firebase's securetoken)
//! and checks their tokens in the services and the gateway shim. This crate is the one place
//! that knows how those tokens look on the wire: which algorithm, which claims, which key
//! formats (JWKS and Google's kid-to-PEM maps). Everything is real cryptography: RS256 and ES256
//! signatures from keys generated with aws-lc-rs, so Google's client libraries accept them when
//! pointed at the emulator.
//!
//! # Layout
//! - [`keys`]: signing keys (RSA-2048, P-256), their kids, PEM import/export, public forms.
//! - [`wire`]: the JSON Google publishes: [`wire::Jwks`] and [`wire::PemMap`]. Wire types stay at
//!   this edge; the inner [`KeySet`] is not `Serialize`.
//! - [`key_set`]: verification keys by kid, built from either wire format.
//! - [`claims`]: the claim sets of each token kind and the issuers' constants.
//! - [`jwt`]: compact JWS encoding and header parsing (no claim checks).
//! - [`verify`]: [`Policy`] and [`verify()`]; the only place claims are checked. Errors say which rule failed.
//! - [`signature_cache`]: signatures verified once per token; [`token_hash`]: the cheap hash its
//!   map (and the gateway's) keys tokens by.
//! - [`jwks_client`]: a caching key fetcher (Cache-Control max-age, bounded refetch on unknown
//!   kid, stale keys served when the key endpoint fails). The only module that does IO.
//! - `forge` (feature `test-util`): tokens an attacker would send. Never in a shipped binary.
//!
//! # What it refuses to do
//! Verification never takes the algorithm from the token header: the [`Policy`] names the one
//! algorithm an issuer uses, and `none` and `HS*` can never match it. It never mints unsigned tokens.

pub mod claims;
pub mod jwks_client;
pub mod jwt;
pub mod key_set;
pub mod keys;
pub mod signature_cache;
pub mod token_hash;
pub mod verify;
pub mod wire;

#[cfg(feature = "test-util")]
pub mod forge;

pub use claims::{
    FirebaseClaims, FirebaseCustomTokenClaims, FirebaseInfo, GoogleIdClaims, IapClaims,
    ServiceAccountJwtClaims,
};
pub use jwks_client::{FetchError, JwksClient, JwksClientOptions, KeyFormat, TokenVerifier};
pub use jwt::Alg;
pub use key_set::{KeySet, KeySetError};
pub use keys::{KeyError, SigningKey};
pub use signature_cache::{SignatureCache, VerifiedToken};
pub use token_hash::{SignatureTailHash, TokenMap};
pub use verify::{Audience, Policy, RegisteredClaims, VerifyError, verify};
pub use wire::{Jwk, Jwks, PemMap};

/// Seconds since the Unix epoch, the unit of every JWT time claim.
pub fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Makes aws-lc-rs the process-wide provider for jsonwebtoken. Harmless when already installed.
///
/// With exactly one crypto feature enabled jsonwebtoken picks it by itself; installing it
/// explicitly guards against another crate in the graph switching on a second provider, which
/// would otherwise panic at the first signature (crates.md, pitfall 1).
pub fn install_crypto_provider() {
    let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
}
