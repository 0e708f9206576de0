//! The issuers' signing keys, owned by the harness.
//!
//! The emulator can generate its keys, but then only it can sign. Attack scenarios need tokens
//! that are *correctly* signed yet wrong in one way (expired, another audience, a rogue
//! account, a tampered claim), so the harness makes the three keys itself and hands them to the
//! emulator through its key directory (`DIR/google/KID.pem`, `DIR/securetoken/KID.pem`,
//! `DIR/iap/KID.pem`, iap-lb-emulator README "Starting it"). The directory lives only for the
//! emulator's start: it is written, read, and removed.
//!
//! Keys are made once per process (RSA generation costs ~0.1 s) and shared by every stack.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use google_tokens::SigningKey;

/// One key per issuer the emulator plays.
#[derive(Debug)]
pub struct IssuerKeys {
    /// accounts.google.com (RS256): Google ID tokens.
    pub google: SigningKey,
    /// securetoken (RS256): Firebase ID tokens.
    pub securetoken: SigningKey,
    /// IAP (ES256): `x-goog-iap-jwt-assertion`.
    pub iap: SigningKey,
    /// Keys nobody publishes: the attacker's.
    pub stranger_rsa: SigningKey,
    pub stranger_ec: SigningKey,
}

static KEYS: tokio::sync::OnceCell<Arc<IssuerKeys>> = tokio::sync::OnceCell::const_new();

/// The key could not be made or written.
#[derive(Debug, thiserror::Error)]
pub enum KeyDirError {
    #[error("generating a signing key: {0}")]
    Generate(String),
    #[error("writing the emulator's key directory {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl IssuerKeys {
    /// The process's keys, generated on first use on a blocking thread.
    pub async fn shared() -> Result<Arc<Self>, KeyDirError> {
        KEYS.get_or_try_init(|| async {
            tokio::task::spawn_blocking(Self::generate)
                .await
                .map_err(|e| KeyDirError::Generate(e.to_string()))?
                .map(Arc::new)
        })
        .await
        .cloned()
    }

    fn generate() -> Result<Self, KeyDirError> {
        let err = |e: google_tokens::KeyError| KeyDirError::Generate(e.to_string());
        Ok(Self {
            google: SigningKey::generate_rsa(None).map_err(err)?,
            securetoken: SigningKey::generate_rsa(None).map_err(err)?,
            iap: SigningKey::generate_ec(None).map_err(err)?,
            stranger_rsa: SigningKey::generate_rsa(None).map_err(err)?,
            stranger_ec: SigningKey::generate_ec(None).map_err(err)?,
        })
    }

    /// Writes the emulator's key directory under `dir` (created; its previous content for
    /// these three issuers replaced).
    pub fn write_key_dir(&self, dir: &Path) -> Result<(), KeyDirError> {
        for (issuer, key) in [
            ("google", &self.google),
            ("securetoken", &self.securetoken),
            ("iap", &self.iap),
        ] {
            let sub = dir.join(issuer);
            let io = |source| KeyDirError::Io {
                path: sub.clone(),
                source,
            };
            std::fs::create_dir_all(&sub).map_err(io)?;
            std::fs::write(sub.join(format!("{}.pem", key.kid())), key.to_pkcs8_pem())
                .map_err(io)?;
        }
        Ok(())
    }
}
