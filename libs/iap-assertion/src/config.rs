//! What the check is told at start: the audience it expects, where IAP's keys live, and how to
//! reach them. Parsed once; a malformed audience or URL never reaches the layer.

use std::fmt;

use google_tokens::claims::IAP_JWK_URL;

/// The `aud` claim IAP puts in `x-goog-iap-jwt-assertion` for this backend (google-behaviour item
/// 23). [`IapAudience::parse`] is the only constructor, so a check can never be built around a
/// malformed one (for example a backend service *name* where IAP uses the numeric id).
///
/// Accepted forms, the three fortress meets:
/// - behind a global load balancer: `/projects/PROJECT_NUMBER/global/backendServices/SERVICE_ID`;
/// - behind a regional one: `/projects/PROJECT_NUMBER/regions/REGION/backendServices/SERVICE_ID`
///   (item 23; unconfirmed, as blueprint derives it);
/// - IAP directly on Cloud Run: `/projects/PROJECT_NUMBER/locations/REGION/services/NAME` (item 24).
///
/// `blueprint::IapAudience` accepts the same forms; convert with `IapAudience::parse(b.as_str())`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IapAudience(String);

/// Why a string is not an IAP audience.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{found:?} is not an IAP audience; expected /projects/PROJECT_NUMBER/global/backendServices/SERVICE_ID, \
     /projects/PROJECT_NUMBER/regions/REGION/backendServices/SERVICE_ID \
     or /projects/PROJECT_NUMBER/locations/REGION/services/NAME (numbers and ids are digits)"
)]
pub struct InvalidAudience {
    pub found: String,
}

fn digits(s: &str) -> bool {
    !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit()) && !s.starts_with('0')
}

/// Cloud Run service names and regions: lowercase letters, digits and hyphens.
fn name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

impl IapAudience {
    pub fn parse(s: &str) -> Result<Self, InvalidAudience> {
        let parts: Vec<&str> = s.split('/').collect();
        let ok = match parts.as_slice() {
            ["", "projects", number, "global", "backendServices", id] => {
                digits(number) && digits(id)
            }
            // A regional backend service (google-behaviour item 23, unconfirmed [MEM]).
            [
                "",
                "projects",
                number,
                "regions",
                region,
                "backendServices",
                id,
            ] => digits(number) && name(region) && digits(id),
            [
                "",
                "projects",
                number,
                "locations",
                region,
                "services",
                service,
            ] => digits(number) && name(region) && name(service),
            _ => false,
        };
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidAudience { found: s.into() })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IapAudience {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for IapAudience {
    type Err = InvalidAudience;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Google's real IAP key set (JWKS form), the default key URL (item 22).
pub fn google_iap_jwk_url() -> reqwest::Url {
    #[allow(clippy::expect_used)] // a constant; `the_default_key_url_is_googles_jwks` parses it
    reqwest::Url::parse(IAP_JWK_URL).expect("google-tokens' IAP_JWK_URL is a URL")
}

/// Whether requests must carry a valid IAP assertion.
///
/// There is no `Default` and no bool: turning the check off is a choice spelled out in config
/// (style.md, section 3), and [`crate::IapLayer::new`] logs it as a WARNING at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IapCheck {
    /// Every request needs a valid ES256 assertion for `audience`, signed by a key at `jwk_url`.
    Enforce {
        audience: IapAudience,
        /// A JWKS document (`{"keys":[...]}`), normally [`google_iap_jwk_url`].
        jwk_url: reqwest::Url,
    },
    /// No assertion is checked. Handlers see [`crate::Identity::Unverified`]. Only for running a
    /// service on its own, never behind a real load balancer.
    Disabled,
}

impl IapCheck {
    /// One line for the start-up log.
    pub fn describe(&self) -> String {
        match self {
            IapCheck::Enforce { audience, jwk_url } => format!(
                "IAP assertion check enforced: audience {audience}, keys from {jwk_url}"
            ),
            IapCheck::Disabled => "IAP assertion check DISABLED: requests are served without \
                                   verifying x-goog-iap-jwt-assertion and every identity is unverified"
                .into(),
        }
    }
}

/// How the key client reaches the JWK URL over TLS.
///
/// reqwest 0.13's `rustls` feature verifies with `rustls-platform-verifier` only; it carries no
/// built-in (webpki) roots. On Linux that verifier reads the system CA bundle
/// (`/etc/ssl/certs/ca-certificates.crt`, or `SSL_CERT_FILE`), and in a `FROM scratch` image
/// without one `Client::build()` fails (crates.md, pitfall 2). fortress's choice:
///
/// - production ([`KeyServerTls::SystemRoots`]): the Dockerfile copies a CA bundle into the image,
///   and the client is built **at start**, so a missing bundle is a start-up error rather than
///   a 503 on the first request. No second root store is compiled into the binary, and the roots
///   are updated with the image rather than with a crate release;
/// - a plain `http://` JWK URL (local runs, the in-process e2e stack) never touches a root
///   store, whatever the variant, so it works in an image without a bundle;
/// - the emulator's CA ([`KeyServerTls::Only`]) or a caller's own client ([`KeyServerTls::Client`],
///   e.g. one with `resolve()` mapping `www.gstatic.com` to the emulator).
#[derive(Debug, Clone)]
pub enum KeyServerTls {
    SystemRoots,
    Only(Vec<reqwest::Certificate>),
    Client(reqwest::Client),
}

/// The key client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(
        "cannot build the HTTPS client for IAP keys at {url} (is a CA bundle installed, e.g. \
         /etc/ssl/certs/ca-certificates.crt?): {reason}"
    )]
    HttpClient {
        url: String,
        /// The error and its causes: reqwest's own message is only "builder error".
        reason: String,
    },
    #[error("IAP JWK URL {0} must be http or https")]
    UnsupportedScheme(String),
}

impl KeyServerTls {
    pub(crate) fn client_for(self, url: &reqwest::Url) -> Result<reqwest::Client, SetupError> {
        let https = match url.scheme() {
            "https" => true,
            "http" => false,
            _ => return Err(SetupError::UnsupportedScheme(url.to_string())),
        };
        let builder = reqwest::Client::builder().no_proxy().user_agent(concat!(
            "fortress-iap-assertion/",
            env!("CARGO_PKG_VERSION")
        ));
        let builder = match self {
            KeyServerTls::Client(client) => return Ok(client),
            KeyServerTls::SystemRoots if https => builder,
            // Plain HTTP: an empty root list keeps reqwest away from the platform verifier,
            // which would fail without a CA bundle even though no TLS is ever spoken.
            KeyServerTls::SystemRoots => builder.tls_certs_only(Vec::new()),
            KeyServerTls::Only(roots) => builder.tls_certs_only(roots),
        };
        builder.build().map_err(|err| SetupError::HttpClient {
            url: url.to_string(),
            reason: error_chain(&err),
        })
    }
}

/// `error: cause: cause...`.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audiences_accept_the_load_balancer_and_cloud_run_forms() {
        for good in [
            "/projects/123456789012/global/backendServices/1234567890123456789",
            "/projects/123456789012/regions/us-central1/backendServices/1234567890123456789",
            "/projects/7218/locations/us-east4/services/iap-test-2",
        ] {
            assert_eq!(
                IapAudience::parse(good).map(|a| a.to_string()),
                Ok(good.into())
            );
        }
    }

    #[test]
    fn audiences_refuse_names_where_google_uses_numbers() {
        for bad in [
            "",
            "projects/123/global/backendServices/1",
            "/projects/my-project/global/backendServices/1",
            "/projects/123/global/backendServices/smoothie-service-backend",
            "/projects/123/global/backendServices/1/",
            "/projects/0123/global/backendServices/1",
            "/projects/123/locations/us-east4/services/Smoothie",
            "/projects/123/regions/us-central1/backendServices/smoothie-service-backend",
            "987654321-abc.apps.googleusercontent.com",
        ] {
            let err = IapAudience::parse(bad).err();
            assert!(err.is_some(), "{bad:?} was accepted");
            assert!(err.is_some_and(|e| e.to_string().contains("backendServices")));
        }
    }

    #[test]
    fn the_default_key_url_is_googles_jwks() {
        assert_eq!(
            google_iap_jwk_url().as_str(),
            "https://www.gstatic.com/iap/verify/public_key-jwk"
        );
    }

    #[test]
    fn a_plain_http_key_url_needs_no_root_store() {
        let url = reqwest::Url::parse("http://127.0.0.1:9/keys").expect("url");
        assert!(KeyServerTls::SystemRoots.client_for(&url).is_ok());
    }

    #[test]
    fn a_key_url_must_be_http_or_https() {
        let url = reqwest::Url::parse("file:///etc/keys.json").expect("url");
        assert!(matches!(
            KeyServerTls::SystemRoots.client_for(&url),
            Err(SetupError::UnsupportedScheme(_))
        ));
    }
}
