//! The issuers' signing keys and the public forms Google publishes for them.
//!
//! Three key rings, one per issuer the emulator plays:
//!
//! | ring | alg | signs | published at |
//! | --- | --- | --- | --- |
//! | `google` | RS256 | metadata-server and token-endpoint ID tokens (item 77) | `www.googleapis.com/oauth2/v3/certs` (JWKS), `/oauth2/v1/certs` (X.509 map) (item 78) |
//! | `securetoken` | RS256 | Firebase ID tokens (items 80-81) | `www.googleapis.com/robot/v1/metadata/x509/securetoken@...`, `/service_accounts/v1/jwk/securetoken@...` (item 80) |
//! | `iap` | ES256 | `x-goog-iap-jwt-assertion` (items 22-24) | `www.gstatic.com/iap/verify/public_key` (PEM map), `/public_key-jwk` (JWKS) (item 22) |
//!
//! A ring holds one or more keys; the first signs, all are published (so a rotation can keep
//! the old key verifiable). The published forms are computed once per key, so every fetch of
//! the X.509 map returns the same certificate bytes. Key material is never logged: only kids.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use google_tokens::{Alg, Jwks, KeyError, KeySet, KeySetError, PemMap, SigningKey};
use serde::Serialize;

use crate::config::KeySource;

/// Subject of the certificates in the securetoken X.509 map.
pub const SECURETOKEN_CERT_SUBJECT: &str = "securetoken.system.gserviceaccount.com";
/// Subject of the certificates in `oauth2/v1/certs`.
pub const GOOGLE_CERT_SUBJECT: &str = "accounts.google.com";

/// Why the keys could not be made or read at start.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    #[error("key directory {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("key file {path}: {source}")]
    BadKey { path: PathBuf, source: KeyError },
    #[error("key file {path}: expected an {expected} key, found {found}")]
    WrongAlgorithm {
        path: PathBuf,
        expected: Alg,
        found: Alg,
    },
    #[error("key generation failed: {0}")]
    Generate(KeyError),
    #[error("publishing key {kid}: {source}")]
    Publish { kid: String, source: KeyError },
}

/// A signing key with its published forms, computed once.
pub struct PublishedKey {
    pub key: Arc<SigningKey>,
    /// Self-signed X.509 certificate (the value format of the x509 maps).
    pub certificate_pem: String,
    /// SubjectPublicKeyInfo PEM (the value format of IAP's `public_key`).
    pub public_key_pem: String,
}

impl PublishedKey {
    pub fn new(key: SigningKey, subject: &str) -> Result<Self, KeysError> {
        let publish = |source| KeysError::Publish {
            kid: key.kid().to_string(),
            source,
        };
        let certificate_pem = key.certificate_pem(subject).map_err(publish)?;
        let public_key_pem = key.public_key_pem().map_err(publish)?;
        Ok(Self {
            key: Arc::new(key),
            certificate_pem,
            public_key_pem,
        })
    }
}

/// The keys of one issuer: the first signs, all are published.
pub struct KeyRing {
    name: &'static str,
    alg: Alg,
    keys: RwLock<Vec<Arc<PublishedKey>>>,
    /// The verification view of `keys`, built on first use after each change: every request
    /// through IAP verifies at least one token, and rebuilding the public keys each time cost
    /// more than the verification itself (iap-lb-emulator/bench/iap.sh).
    verify_view: RwLock<Option<Arc<KeySet>>>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("name", &self.name)
            .field("alg", &self.alg)
            .field("kids", &self.kids())
            .finish()
    }
}

impl KeyRing {
    pub fn new(name: &'static str, alg: Alg, keys: Vec<PublishedKey>) -> Self {
        Self {
            name,
            alg,
            keys: RwLock::new(keys.into_iter().map(Arc::new).collect()),
            verify_view: RwLock::new(None),
        }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn alg(&self) -> Alg {
        self.alg
    }

    fn snapshot(&self) -> Vec<Arc<PublishedKey>> {
        // A poisoned lock only means a writer panicked between whole-vector swaps; the
        // vector itself is always consistent.
        match self.keys.read() {
            Ok(keys) => keys.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub fn kids(&self) -> Vec<String> {
        self.snapshot()
            .iter()
            .map(|k| k.key.kid().to_string())
            .collect()
    }

    /// The kid of the key that signs now, if the ring has one.
    pub fn signing_kid(&self) -> Option<String> {
        self.snapshot().first().map(|k| k.key.kid().to_string())
    }

    /// The key that signs now, if the ring has one: a kid read from it and a signature made
    /// with it belong together even when a rotation happens in between.
    pub fn signing_key(&self) -> Option<Arc<SigningKey>> {
        let keys = match self.keys.read() {
            Ok(keys) => keys,
            Err(poisoned) => poisoned.into_inner(),
        };
        keys.first().map(|k| Arc::clone(&k.key))
    }

    /// Signs `claims` with the ring's first key.
    pub fn sign<T: Serialize>(&self, claims: &T) -> Result<String, KeyError> {
        let keys = self.snapshot();
        let Some(first) = keys.first() else {
            return Err(KeyError::Sign(format!("key ring {} is empty", self.name)));
        };
        first.key.sign(claims)
    }

    /// Makes `key` the signer. The previous keys stay published (tokens they signed keep
    /// verifying, as across Google's rotations) unless `retire` drops them.
    pub fn rotate(&self, key: PublishedKey, retire: bool) {
        let mut keys = match self.keys.write() {
            Ok(keys) => keys,
            Err(poisoned) => poisoned.into_inner(),
        };
        if retire {
            keys.clear();
        }
        keys.insert(0, Arc::new(key));
        self.forget_verify_view();
    }

    /// Drops the cached verification view; called with the `keys` write lock held, so no
    /// reader can rebuild it from the old keys after the change.
    fn forget_verify_view(&self) {
        match self.verify_view.write() {
            Ok(mut view) => *view = None,
            Err(poisoned) => *poisoned.into_inner() = None,
        }
    }

    /// Appends a key (it is published but does not sign until it is first).
    pub fn add(&self, key: PublishedKey) {
        let mut keys = match self.keys.write() {
            Ok(keys) => keys,
            Err(poisoned) => poisoned.into_inner(),
        };
        keys.push(Arc::new(key));
        self.forget_verify_view();
    }

    /// `{"keys":[...]}`.
    pub fn jwks(&self) -> Jwks {
        Jwks {
            keys: self.snapshot().iter().map(|k| k.key.public_jwk()).collect(),
        }
    }

    /// kid → X.509 certificate PEM.
    pub fn certificate_map(&self) -> PemMap {
        self.snapshot()
            .iter()
            .map(|k| (k.key.kid().to_string(), k.certificate_pem.clone()))
            .collect()
    }

    /// kid → SubjectPublicKeyInfo PEM.
    pub fn public_key_map(&self) -> PemMap {
        self.snapshot()
            .iter()
            .map(|k| (k.key.kid().to_string(), k.public_key_pem.clone()))
            .collect()
    }

    /// The verification view of the ring, for the emulator's own checks: built once per
    /// change of the ring, then shared.
    pub fn key_set(&self) -> Result<Arc<KeySet>, KeySetError> {
        let cached = match self.verify_view.read() {
            Ok(view) => view.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        if let Some(view) = cached {
            return Ok(view);
        }
        // Under the keys' read lock: a rotation (which takes the write lock, then clears the
        // view) cannot slip between reading the keys and storing their view.
        let keys = match self.keys.read() {
            Ok(keys) => keys,
            Err(poisoned) => poisoned.into_inner(),
        };
        let view = Arc::new(KeySet::from_signing_keys(
            self.alg,
            keys.iter().map(|k| k.key.as_ref()),
        )?);
        match self.verify_view.write() {
            Ok(mut slot) => *slot = Some(view.clone()),
            Err(poisoned) => *poisoned.into_inner() = Some(view.clone()),
        }
        Ok(view)
    }
}

/// Which issuer's keys: the rings of [`KeyStore`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Issuer {
    /// accounts.google.com (RS256).
    Google,
    /// Firebase's securetoken (RS256).
    SecureToken,
    /// IAP (ES256).
    Iap,
}

impl Issuer {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "google" => Some(Self::Google),
            "securetoken" => Some(Self::SecureToken),
            "iap" => Some(Self::Iap),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Google => "google",
            Self::SecureToken => "securetoken",
            Self::Iap => "iap",
        }
    }
}

/// The three issuers' rings.
#[derive(Debug)]
pub struct KeyStore {
    pub google: KeyRing,
    pub securetoken: KeyRing,
    pub iap: KeyRing,
}

impl KeyStore {
    pub fn ring(&self, issuer: Issuer) -> &KeyRing {
        match issuer {
            Issuer::Google => &self.google,
            Issuer::SecureToken => &self.securetoken,
            Issuer::Iap => &self.iap,
        }
    }

    /// A fresh key for `issuer`'s ring, made the signer (see [`KeyRing::rotate`]). Blocking
    /// (RSA generation). Returns the new kid.
    pub fn rotate(&self, issuer: Issuer, retire: bool) -> Result<String, KeysError> {
        let ring = self.ring(issuer);
        let subject = match issuer {
            Issuer::Google => GOOGLE_CERT_SUBJECT,
            Issuer::SecureToken => SECURETOKEN_CERT_SUBJECT,
            Issuer::Iap => "iap.googleapis.com",
        };
        let key = PublishedKey::new(generate(ring.alg())?, subject)?;
        let kid = key.key.kid().to_string();
        ring.rotate(key, retire);
        tracing::info!(ring = issuer.as_str(), kid = %kid, retire, "mutation: key ring rotated");
        Ok(kid)
    }

    /// Generates or reads every ring. Blocking (RSA generation, file reads): call it from
    /// `spawn_blocking` or before serving.
    pub fn load(source: &KeySource) -> Result<Self, KeysError> {
        let dir = match source {
            KeySource::Generate => None,
            KeySource::Directory(dir) => Some(dir.as_path()),
        };
        Ok(Self {
            google: ring(dir, "google", Alg::Rs256, GOOGLE_CERT_SUBJECT)?,
            securetoken: ring(dir, "securetoken", Alg::Rs256, SECURETOKEN_CERT_SUBJECT)?,
            iap: ring(dir, "iap", Alg::Es256, "iap.googleapis.com")?,
        })
    }
}

fn ring(
    dir: Option<&Path>,
    name: &'static str,
    alg: Alg,
    subject: &str,
) -> Result<KeyRing, KeysError> {
    let sub = dir.map(|d| d.join(name)).filter(|d| d.is_dir());
    let keys = match sub {
        Some(sub) => read_dir_keys(&sub, alg, subject)?,
        None => vec![PublishedKey::new(generate(alg)?, subject)?],
    };
    if keys.is_empty() {
        return Err(KeysError::Io {
            path: dir.map(|d| d.join(name)).unwrap_or_default(),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no *.pem key file in the directory",
            ),
        });
    }
    Ok(KeyRing::new(name, alg, keys))
}

/// A fresh key of `alg` with Google-shaped kid.
pub fn generate(alg: Alg) -> Result<SigningKey, KeysError> {
    match alg {
        Alg::Rs256 => SigningKey::generate_rsa(None),
        Alg::Es256 => SigningKey::generate_ec(None),
    }
    .map_err(KeysError::Generate)
}

fn read_dir_keys(dir: &Path, alg: Alg, subject: &str) -> Result<Vec<PublishedKey>, KeysError> {
    let io = |source| KeysError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "pem"))
        .collect();
    paths.sort();
    let mut keys = Vec::new();
    for path in paths {
        let pem = std::fs::read_to_string(&path).map_err(|source| KeysError::Io {
            path: path.clone(),
            source,
        })?;
        let kid = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .filter(|s| !s.is_empty());
        let key = SigningKey::from_pkcs8_pem(&pem, kid).map_err(|source| KeysError::BadKey {
            path: path.clone(),
            source,
        })?;
        if key.alg() != alg {
            return Err(KeysError::WrongAlgorithm {
                path,
                expected: alg,
                found: key.alg(),
            });
        }
        keys.push(PublishedKey::new(key, subject)?);
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ring_publishes_each_key_in_every_format_with_stable_certificates() {
        let ring = KeyRing::new(
            "iap",
            Alg::Es256,
            vec![PublishedKey::new(generate(Alg::Es256).expect("key"), "iap").expect("pub")],
        );
        let kid = ring.kids()[0].clone();
        assert_eq!(ring.jwks().keys[0].kid.as_deref(), Some(kid.as_str()));
        assert!(ring.public_key_map()[&kid].starts_with("-----BEGIN PUBLIC KEY-----"));
        assert_eq!(ring.certificate_map(), ring.certificate_map());
        assert!(ring.key_set().expect("set").contains(&kid));
    }

    #[test]
    fn a_key_directory_names_kids_by_file_and_rejects_the_wrong_algorithm() {
        let dir =
            std::env::temp_dir().join(format!("iap-lb-emulator-keys-{}", uuid::Uuid::new_v4()));
        let google = dir.join("google");
        std::fs::create_dir_all(&google).expect("mkdir");
        let key = generate(Alg::Rs256).expect("key");
        std::fs::write(google.join("alpha.pem"), key.to_pkcs8_pem()).expect("write");
        let store = KeyStore::load(&KeySource::Directory(dir.clone())).expect("load");
        assert_eq!(store.google.kids(), vec!["alpha".to_string()]);
        // No securetoken/ or iap/ directory: generated.
        assert_eq!(store.iap.alg(), Alg::Es256);

        let iap = dir.join("iap");
        std::fs::create_dir_all(&iap).expect("mkdir");
        std::fs::write(iap.join("wrong.pem"), key.to_pkcs8_pem()).expect("write");
        let err = KeyStore::load(&KeySource::Directory(dir.clone())).expect_err("wrong alg");
        assert!(matches!(err, KeysError::WrongAlgorithm { .. }), "{err}");
        assert!(err.to_string().contains("wrong.pem"));
        let _ = std::fs::remove_dir_all(dir);
    }
}
