//! Signing keys: generation, kids, PEM import/export and the public forms Google publishes.
//!
//! RSA-2048 keys sign Google ID tokens, service-account JWTs and Firebase tokens; P-256 keys sign
//! IAP assertions. Keys are generated with aws-lc-rs (tens of milliseconds for RSA even in debug
//! builds; see crates.md section 5) and kept as PKCS#8, the form rcgen reads. Signing uses the
//! aws-lc-rs key pair parsed once at load: jsonwebtoken's `crypto::sign` re-parses and
//! re-validates the PKCS#8 key on every call, which cost more than the ES256 signature itself
//! on the emulator's IAP hop (`iap-lb-emulator/bench/iap.sh`).

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::jwt::{Alg, RawHeader, encode_segment};
use crate::wire::Jwk;

/// Why a key could not be made, read or used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key generation failed")]
    Generate,
    #[error("key is not a PKCS#8 {0} private key in PEM")]
    BadPrivateKey(&'static str),
    #[error("certificate for the key could not be made: {0}")]
    Certificate(String),
    #[error("signing failed: {0}")]
    Sign(String),
    #[error("claims could not be serialised: {0}")]
    Claims(#[from] serde_json::Error),
}

/// A private key with its kid and algorithm. Never logged: `Debug` shows only kid and algorithm.
pub struct SigningKey {
    kid: String,
    alg: Alg,
    pkcs8_der: Vec<u8>,
    pair: Pair,
    /// Public parts: RSA (n, e) or EC (x, y), base64url, as a JWK carries them.
    public: PublicParts,
}

/// The parsed private key that signs.
enum Pair {
    /// RS256: RSASSA-PKCS1-v1_5 with SHA-256.
    Rsa(aws_lc_rs::rsa::KeyPair),
    /// ES256: ECDSA P-256 with SHA-256, signature as the fixed 64-byte `r || s` JWS uses.
    Ec(EcdsaKeyPair),
}

#[derive(Clone)]
enum PublicParts {
    Rsa { n: String, e: String },
    Ec { x: String, y: String },
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

fn pem_wrap(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn pem_unwrap(pem: &str, label: &str) -> Option<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem.find(&begin)? + begin.len();
    let stop = pem[start..].find(&end)? + start;
    let body: String = pem[start..stop].split_whitespace().collect();
    base64::engine::general_purpose::STANDARD.decode(body).ok()
}

impl SigningKey {
    /// A fresh RSA-2048 key for RS256. `kid` defaults to 40 hex digits of the public key's
    /// SHA-256, the shape of the kids at googleapis.com/oauth2/v3/certs.
    pub fn generate_rsa(kid: Option<String>) -> Result<Self, KeyError> {
        let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
            .map_err(|_| KeyError::Generate)?;
        let der = pair.as_der().map_err(|_| KeyError::Generate)?;
        Self::from_rsa_pkcs8_der(der.as_ref().to_vec(), kid)
    }

    /// A fresh P-256 key for ES256. `kid` defaults to six base64url characters of the public
    /// key's SHA-256, the shape of IAP's kids (e.g. `gO4i_Q`).
    pub fn generate_ec(kid: Option<String>) -> Result<Self, KeyError> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|_| KeyError::Generate)?;
        Self::from_ec_pkcs8_der(doc.as_ref().to_vec(), kid)
    }

    /// Reads a PKCS#8 PEM private key (`BEGIN PRIVATE KEY`), RSA or P-256.
    pub fn from_pkcs8_pem(pem: &str, kid: Option<String>) -> Result<Self, KeyError> {
        let der = pem_unwrap(pem, "PRIVATE KEY").ok_or(KeyError::BadPrivateKey("RSA or P-256"))?;
        if aws_lc_rs::rsa::KeyPair::from_pkcs8(&der).is_ok() {
            Self::from_rsa_pkcs8_der(der, kid)
        } else {
            Self::from_ec_pkcs8_der(der, kid)
        }
    }

    fn from_rsa_pkcs8_der(der: Vec<u8>, kid: Option<String>) -> Result<Self, KeyError> {
        let pair = aws_lc_rs::rsa::KeyPair::from_pkcs8(&der)
            .map_err(|_| KeyError::BadPrivateKey("RSA"))?;
        let public = pair.public_key();
        let n = URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero());
        let e = URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero());
        let kid = kid.unwrap_or_else(|| {
            let digest = Sha256::digest(public.as_ref());
            hex(&digest[..20])
        });
        Ok(Self {
            kid,
            alg: Alg::Rs256,
            pkcs8_der: der,
            pair: Pair::Rsa(pair),
            public: PublicParts::Rsa { n, e },
        })
    }

    fn from_ec_pkcs8_der(der: Vec<u8>, kid: Option<String>) -> Result<Self, KeyError> {
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der)
            .map_err(|_| KeyError::BadPrivateKey("P-256"))?;
        // Uncompressed point: 0x04 || x (32 bytes) || y (32 bytes).
        let point = pair.public_key().as_ref();
        if point.len() != 65 || point[0] != 4 {
            return Err(KeyError::BadPrivateKey("P-256"));
        }
        let x = URL_SAFE_NO_PAD.encode(&point[1..33]);
        let y = URL_SAFE_NO_PAD.encode(&point[33..65]);
        let kid = kid.unwrap_or_else(|| {
            let digest = Sha256::digest(point);
            URL_SAFE_NO_PAD.encode(&digest[..6])[..6].to_string()
        });
        Ok(Self {
            kid,
            alg: Alg::Es256,
            pkcs8_der: der,
            pair: Pair::Ec(pair),
            public: PublicParts::Ec { x, y },
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn alg(&self) -> Alg {
        self.alg
    }

    /// The private key as PKCS#8 PEM, for a key directory or a service-account key file.
    pub fn to_pkcs8_pem(&self) -> String {
        pem_wrap("PRIVATE KEY", &self.pkcs8_der)
    }

    /// The public key as a JWK with `kid`, `alg` and `use: sig`, as Google's JWKS endpoints serve it.
    pub fn public_jwk(&self) -> Jwk {
        match &self.public {
            PublicParts::Rsa { n, e } => Jwk {
                kty: "RSA".into(),
                alg: Some(self.alg.as_str().into()),
                key_use: Some("sig".into()),
                kid: Some(self.kid.clone()),
                n: Some(n.clone()),
                e: Some(e.clone()),
                crv: None,
                x: None,
                y: None,
            },
            PublicParts::Ec { x, y } => Jwk {
                kty: "EC".into(),
                alg: Some(self.alg.as_str().into()),
                key_use: Some("sig".into()),
                kid: Some(self.kid.clone()),
                n: None,
                e: None,
                crv: Some("P-256".into()),
                x: Some(x.clone()),
                y: Some(y.clone()),
            },
        }
    }

    fn rcgen_key(&self) -> Result<rcgen::KeyPair, KeyError> {
        let alg = match self.alg {
            Alg::Rs256 => &rcgen::PKCS_RSA_SHA256,
            Alg::Es256 => &rcgen::PKCS_ECDSA_P256_SHA256,
        };
        let der = rustls_pki_types_der(&self.pkcs8_der);
        rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&der, alg)
            .map_err(|e| KeyError::Certificate(e.to_string()))
    }

    /// The public key as SubjectPublicKeyInfo PEM (`BEGIN PUBLIC KEY`): the value format of
    /// `www.gstatic.com/iap/verify/public_key`.
    pub fn public_key_pem(&self) -> Result<String, KeyError> {
        Ok(self.rcgen_key()?.public_key_pem())
    }

    /// A self-signed X.509 certificate for the public key, in PEM: the value format of
    /// `googleapis.com/oauth2/v1/certs` and of the securetoken x509 map. `common_name` is the
    /// subject, e.g. `securetoken.system.gserviceaccount.com`.
    pub fn certificate_pem(&self, common_name: &str) -> Result<String, KeyError> {
        let key = self.rcgen_key()?;
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new())
            .map_err(|e| KeyError::Certificate(e.to_string()))?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, common_name);
        let cert = params
            .self_signed(&key)
            .map_err(|e| KeyError::Certificate(e.to_string()))?;
        Ok(cert.pem())
    }

    /// Signs `claims` as a compact JWS with header `{alg, kid, typ: "JWT"}`.
    pub fn sign<T: Serialize>(&self, claims: &T) -> Result<String, KeyError> {
        let header = RawHeader {
            alg: self.alg.as_str().into(),
            kid: Some(self.kid.clone()),
            typ: Some("JWT".into()),
        };
        self.sign_with_header(&header, claims)
    }

    /// Signs with a header of the caller's making (attack tooling needs odd headers).
    pub fn sign_with_header<T: Serialize>(
        &self,
        header: &RawHeader,
        claims: &T,
    ) -> Result<String, KeyError> {
        let input = format!("{}.{}", encode_segment(header)?, encode_segment(claims)?);
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let sig = match &self.pair {
            Pair::Rsa(pair) => {
                let mut sig = vec![0; pair.public_modulus_len()];
                pair.sign(
                    &aws_lc_rs::signature::RSA_PKCS1_SHA256,
                    &rng,
                    input.as_bytes(),
                    &mut sig,
                )
                .map_err(|e| KeyError::Sign(e.to_string()))?;
                sig
            }
            Pair::Ec(pair) => pair
                .sign(&rng, input.as_bytes())
                .map_err(|e| KeyError::Sign(e.to_string()))?
                .as_ref()
                .to_vec(),
        };
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig)))
    }
}

fn rustls_pki_types_der(der: &[u8]) -> rustls_pki_types::PrivatePkcs8KeyDer<'static> {
    rustls_pki_types::PrivatePkcs8KeyDer::from(der.to_vec())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_rsa_key_survives_a_pem_round_trip() -> Result<(), KeyError> {
        let key = SigningKey::generate_rsa(None)?;
        assert_eq!(key.kid().len(), 40);
        let again = SigningKey::from_pkcs8_pem(&key.to_pkcs8_pem(), Some(key.kid().into()))?;
        assert_eq!(again.alg(), Alg::Rs256);
        assert_eq!(
            serde_json::to_value(again.public_jwk())?,
            serde_json::to_value(key.public_jwk())?
        );
        Ok(())
    }

    #[test]
    fn a_generated_ec_key_has_an_iap_shaped_kid_and_p256_jwk() -> Result<(), KeyError> {
        let key = SigningKey::generate_ec(None)?;
        assert_eq!(key.kid().len(), 6);
        let jwk = key.public_jwk();
        assert_eq!(jwk.kty, "EC");
        assert_eq!(jwk.crv.as_deref(), Some("P-256"));
        let again = SigningKey::from_pkcs8_pem(&key.to_pkcs8_pem(), None)?;
        assert_eq!(again.alg(), Alg::Es256);
        assert_eq!(again.kid(), key.kid());
        Ok(())
    }

    #[test]
    fn garbage_pem_is_a_clear_error() {
        let err = SigningKey::from_pkcs8_pem("not a key", None).err();
        assert!(matches!(err, Some(KeyError::BadPrivateKey(_))));
    }

    #[test]
    fn debug_output_never_shows_key_material() -> Result<(), KeyError> {
        let key = SigningKey::generate_ec(Some("k1".into()))?;
        let shown = format!("{key:?}");
        assert!(shown.contains("k1"));
        assert!(!shown.contains("PRIVATE"));
        Ok(())
    }
}
