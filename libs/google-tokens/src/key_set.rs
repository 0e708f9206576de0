//! Verification keys by kid, read from either of Google's published formats.
//!
//! A [`KeySet`] is built for one algorithm: keys of another type are skipped, so an RSA key
//! published next to EC keys can never verify an ES256 token and vice versa.

use std::collections::HashMap;

use jsonwebtoken::DecodingKey;

use crate::jwt::Alg;
use crate::keys::SigningKey;
use crate::wire::{Jwks, PemMap};

/// Why a published key set could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeySetError {
    #[error("the key set holds no usable {0} key")]
    Empty(Alg),
    #[error("key {kid:?} is not a valid {alg} public key")]
    BadKey { kid: String, alg: Alg },
}

/// Kids to keys, hashed with keyed foldhash: every cached verification looks its kid up, and
/// SipHash over a 40-character kid was ~250 instructions a lookup.
type KidMap = HashMap<String, DecodingKey, foldhash::fast::RandomState>;

/// Public keys for one algorithm, by kid. Not `Serialize`: the wire forms live in [`crate::wire`].
#[derive(Clone)]
pub struct KeySet {
    alg: Alg,
    keys: KidMap,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut kids: Vec<_> = self.keys.keys().collect();
        kids.sort();
        f.debug_struct("KeySet")
            .field("alg", &self.alg)
            .field("kids", &kids)
            .finish()
    }
}

impl KeySet {
    pub fn alg(&self) -> Alg {
        self.alg
    }

    pub fn get(&self, kid: &str) -> Option<&DecodingKey> {
        self.keys.get(kid)
    }

    pub fn contains(&self, kid: &str) -> bool {
        self.keys.contains_key(kid)
    }

    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The public halves of signing keys we hold (the emulator's own view of what it publishes).
    pub fn from_signing_keys<'a>(
        alg: Alg,
        keys: impl IntoIterator<Item = &'a SigningKey>,
    ) -> Result<Self, KeySetError> {
        let jwks = Jwks {
            keys: keys
                .into_iter()
                .filter(|k| k.alg() == alg)
                .map(SigningKey::public_jwk)
                .collect(),
        };
        Self::from_jwks(alg, &jwks)
    }

    /// Reads a JWKS, keeping keys of `alg`'s type that carry a kid. A key whose `alg` member is
    /// present and names another algorithm is skipped; a key with broken numbers is an error.
    pub fn from_jwks(alg: Alg, jwks: &Jwks) -> Result<Self, KeySetError> {
        let mut keys = KidMap::default();
        for jwk in &jwks.keys {
            let Some(kid) = jwk.kid.clone() else { continue };
            if jwk.alg.as_deref().is_some_and(|a| a != alg.as_str()) {
                continue;
            }
            if jwk.key_use.as_deref().is_some_and(|u| u != "sig") {
                continue;
            }
            let bad = || KeySetError::BadKey {
                kid: kid.clone(),
                alg,
            };
            let key = match (alg, jwk.kty.as_str()) {
                (Alg::Rs256, "RSA") => {
                    let (Some(n), Some(e)) = (&jwk.n, &jwk.e) else {
                        return Err(bad());
                    };
                    DecodingKey::from_rsa_components(n, e).map_err(|_| bad())?
                }
                (Alg::Es256, "EC") => {
                    if jwk.crv.as_deref() != Some("P-256") {
                        continue;
                    }
                    let (Some(x), Some(y)) = (&jwk.x, &jwk.y) else {
                        return Err(bad());
                    };
                    DecodingKey::from_ec_components(x, y).map_err(|_| bad())?
                }
                _ => continue,
            };
            keys.insert(kid, key);
        }
        if keys.is_empty() {
            return Err(KeySetError::Empty(alg));
        }
        Ok(Self { alg, keys })
    }

    /// Reads a kid-to-PEM map whose values are X.509 certificates or SubjectPublicKeyInfo keys.
    pub fn from_pem_map(alg: Alg, map: &PemMap) -> Result<Self, KeySetError> {
        let mut keys = KidMap::default();
        for (kid, pem) in map {
            let parsed = match alg {
                Alg::Rs256 => DecodingKey::from_rsa_pem(pem.as_bytes()),
                Alg::Es256 => DecodingKey::from_ec_pem(pem.as_bytes()),
            };
            let key = parsed.map_err(|_| KeySetError::BadKey {
                kid: kid.clone(),
                alg,
            })?;
            keys.insert(kid.clone(), key);
        }
        if keys.is_empty() {
            return Err(KeySetError::Empty(alg));
        }
        Ok(Self { alg, keys })
    }
}
