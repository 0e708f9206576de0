//! The JSON Google publishes for its keys, field for field.
//!
//! Two formats exist and fortress serves both for every issuer:
//! - JWKS, `{"keys":[{kty, alg, use, kid, n, e | crv, x, y}]}`: `googleapis.com/oauth2/v3/certs`,
//!   `gstatic.com/iap/verify/public_key-jwk`, `googleapis.com/service_accounts/v1/jwk/<sa>`
//!   (google-behaviour.md items 22, 78, 80).
//! - A kid-to-PEM map, `{"<kid>": "-----BEGIN CERTIFICATE-----..."}`: X.509 certificates at
//!   `googleapis.com/oauth2/v1/certs` and `.../service_accounts/v1/metadata/x509/<sa>`, bare
//!   public keys at `gstatic.com/iap/verify/public_key` (items 22, 78, 80).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One JSON Web Key as Google serves it. Unknown members are ignored when reading.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Jwk {
    pub kty: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    #[serde(rename = "use", default, skip_serializing_if = "Option::is_none")]
    pub key_use: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
}

/// A JSON Web Key Set: `{"keys": [...]}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

/// Google's kid-to-PEM map. A `BTreeMap` so the served JSON is stable.
pub type PemMap = BTreeMap<String, String>;
