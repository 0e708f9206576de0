//! Which Google box a request is for: the Host header, parsed once into [`GoogleHost`].
//!
//! The emulator is one process behind two listeners, as LocalStack plays AWS on one edge port;
//! clients reach it by mapping Google's hostnames to its address (reqwest `resolve`, `/etc/hosts`)
//! and the Host header (or HTTP/2 `:authority`) says which box answers. Two conveniences on the
//! emulator's own host (`localhost`, `127.0.0.1`, `[::1]`) need no name mapping at all:
//!
//! - the host-prefix convention of the Firebase emulator (google-behaviour item 83):
//!   `http://127.0.0.1:PORT/www.gstatic.com/iap/verify/public_key-jwk` is
//!   `https://www.gstatic.com/iap/verify/public_key-jwk`;
//! - `/computeMetadata/...` and the `/` ping served directly, so `GCE_METADATA_HOST=127.0.0.1:PORT`
//!   (and `GCE_METADATA_IP`) work with Google's client libraries (item 75).

use std::fmt;

/// The hostnames of the Google boxes the emulator plays, as clients address them.
pub const METADATA_HOST: &str = "metadata.google.internal";
/// The metadata server's link-local address; google-auth pings it (item 75).
pub const METADATA_IP: &str = "169.254.169.254";
pub const ACCOUNTS_HOST: &str = "accounts.google.com";
pub const GOOGLEAPIS_HOST: &str = "www.googleapis.com";
pub const OAUTH2_HOST: &str = "oauth2.googleapis.com";
pub const GSTATIC_HOST: &str = "www.gstatic.com";
pub const IDENTITYTOOLKIT_HOST: &str = "identitytoolkit.googleapis.com";
pub const SECURETOKEN_HOST: &str = "securetoken.googleapis.com";
/// IAP's own host: its OAuth callback (`handleRedirect`, items 13, 36).
pub const IAP_HOST: &str = "iap.googleapis.com";
/// Suffix of every Cloud Run service URL (`<service>-<hash>-<region>.a.run.app`).
pub const RUN_APP_SUFFIX: &str = ".run.app";

/// Every fixed Google hostname, for the TLS certificate and for clients' name mapping.
pub const GOOGLE_HOSTS: [&str; 8] = [
    METADATA_HOST,
    ACCOUNTS_HOST,
    GOOGLEAPIS_HOST,
    OAUTH2_HOST,
    GSTATIC_HOST,
    IDENTITYTOOLKIT_HOST,
    SECURETOKEN_HOST,
    IAP_HOST,
];

/// The box a request is addressed to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum GoogleHost {
    /// `metadata.google.internal` or `169.254.169.254`.
    Metadata,
    /// `accounts.google.com`: OIDC discovery (and, next, the sign-in page).
    Accounts,
    /// `www.googleapis.com`: Google's and service accounts' public keys.
    GoogleApis,
    /// `oauth2.googleapis.com`: the token endpoint.
    OAuth2,
    /// `www.gstatic.com`: IAP's public keys.
    Gstatic,
    /// `identitytoolkit.googleapis.com`: Firebase Auth sign-up and sign-in.
    IdentityToolkit,
    /// `securetoken.googleapis.com`: Firebase token refresh.
    SecureToken,
    /// `iap.googleapis.com`: IAP's OAuth callback in the browser flow.
    Iap,
    /// A `*.run.app` host: the Cloud Run front end. Holds the lowercased hostname.
    RunApp(String),
    /// The topology's domain: the external Application Load Balancer with IAP.
    LoadBalancer,
    /// `localhost`, `127.0.0.1` or `[::1]`: the emulator itself.
    Emulator,
}

/// A Host header naming no box the emulator plays.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no emulated Google host is named {0:?}")]
pub struct UnknownHost(pub String);

impl GoogleHost {
    /// Parses a Host header value (`name`, `name:port`, `[v6]:port`; any case; a trailing dot is
    /// allowed) against the load balancer's `domain`.
    pub fn parse(authority: &str, domain: &str) -> Result<Self, UnknownHost> {
        let name = strip_port(authority.trim()).trim_end_matches('.');
        // Copied only when it has capitals: Host headers are lowercase on the hot path.
        let name: std::borrow::Cow<'_, str> = if name.bytes().any(|b| b.is_ascii_uppercase()) {
            name.to_ascii_lowercase().into()
        } else {
            name.into()
        };
        let host = match name.as_ref() {
            METADATA_HOST | METADATA_IP => Self::Metadata,
            ACCOUNTS_HOST => Self::Accounts,
            GOOGLEAPIS_HOST => Self::GoogleApis,
            OAUTH2_HOST => Self::OAuth2,
            GSTATIC_HOST => Self::Gstatic,
            IDENTITYTOOLKIT_HOST => Self::IdentityToolkit,
            SECURETOKEN_HOST => Self::SecureToken,
            IAP_HOST => Self::Iap,
            "localhost" | "127.0.0.1" | "::1" => Self::Emulator,
            n if n.eq_ignore_ascii_case(domain) => Self::LoadBalancer,
            n if n.len() > RUN_APP_SUFFIX.len()
                && n.ends_with(RUN_APP_SUFFIX)
                && n.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.') =>
            {
                Self::RunApp(name.into_owned())
            }
            _ => return Err(UnknownHost(name.into_owned())),
        };
        Ok(host)
    }
}

impl fmt::Display for GoogleHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Self::Metadata => METADATA_HOST,
            Self::Accounts => ACCOUNTS_HOST,
            Self::GoogleApis => GOOGLEAPIS_HOST,
            Self::OAuth2 => OAUTH2_HOST,
            Self::Gstatic => GSTATIC_HOST,
            Self::IdentityToolkit => IDENTITYTOOLKIT_HOST,
            Self::SecureToken => SECURETOKEN_HOST,
            Self::Iap => IAP_HOST,
            Self::RunApp(host) => host,
            Self::LoadBalancer => "load-balancer",
            Self::Emulator => "emulator",
        };
        f.write_str(name)
    }
}

/// `host:port` → `host`; `[::1]:port` → `::1`; a bare IPv6 address is kept whole.
fn strip_port(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            host
        }
        _ => authority,
    }
}

/// Where a request on the emulator's own host goes, and the path the target box sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalRoute {
    /// `/<google host>/rest`: the named box, with `/rest` as its path.
    Prefixed { host: GoogleHost, path: String },
    /// `/computeMetadata/...` or the `/` ping: the metadata server, path unchanged.
    Metadata,
    /// Anything else: the emulator's own routes (`/_emulator/...`).
    Admin,
}

/// Resolves a path on the emulator's own host.
pub fn local_route(path: &str, domain: &str) -> LocalRoute {
    if path == "/" || path == "/computeMetadata" || path.starts_with("/computeMetadata/") {
        return LocalRoute::Metadata;
    }
    let rest = &path[1.min(path.len())..];
    let (first, tail) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    // Only names with a dot can be hosts; this also keeps `/_emulator` for the admin routes.
    if first.contains('.')
        && let Ok(host) = GoogleHost::parse(first, domain)
        && host != GoogleHost::Emulator
    {
        return LocalRoute::Prefixed {
            host,
            path: tail.to_string(),
        };
    }
    LocalRoute::Admin
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOMAIN: &str = "api.myawesomeapp.com";

    fn parse(s: &str) -> Result<GoogleHost, UnknownHost> {
        GoogleHost::parse(s, DOMAIN)
    }

    #[test]
    fn each_google_host_parses_with_or_without_port_and_in_any_case() {
        assert_eq!(parse("metadata.google.internal"), Ok(GoogleHost::Metadata));
        assert_eq!(parse("metadata.google.internal."), Ok(GoogleHost::Metadata));
        assert_eq!(parse("169.254.169.254:80"), Ok(GoogleHost::Metadata));
        assert_eq!(parse("Accounts.Google.com:443"), Ok(GoogleHost::Accounts));
        assert_eq!(parse("www.googleapis.com"), Ok(GoogleHost::GoogleApis));
        assert_eq!(parse("oauth2.googleapis.com"), Ok(GoogleHost::OAuth2));
        assert_eq!(parse("www.gstatic.com"), Ok(GoogleHost::Gstatic));
        assert_eq!(
            parse("identitytoolkit.googleapis.com"),
            Ok(GoogleHost::IdentityToolkit)
        );
        assert_eq!(
            parse("securetoken.googleapis.com"),
            Ok(GoogleHost::SecureToken)
        );
        assert_eq!(
            parse("api.myawesomeapp.com:8443"),
            Ok(GoogleHost::LoadBalancer)
        );
        assert_eq!(
            parse("Smoothie-Service-abc123-uc.a.run.app"),
            Ok(GoogleHost::RunApp(
                "smoothie-service-abc123-uc.a.run.app".into()
            ))
        );
    }

    #[test]
    fn the_emulator_answers_to_every_loopback_spelling() {
        for h in [
            "localhost",
            "localhost:8080",
            "127.0.0.1:1234",
            "[::1]:9",
            "::1",
        ] {
            assert_eq!(parse(h), Ok(GoogleHost::Emulator), "{h}");
        }
    }

    #[test]
    fn unknown_hosts_are_refused_by_name() {
        assert_eq!(parse("evil.com"), Err(UnknownHost("evil.com".into())));
        assert!(parse(".run.app").is_err());
        assert!(parse("a b.run.app").is_err());
        assert!(parse("googleapis.com").is_err());
    }

    #[test]
    fn local_paths_route_by_prefix_then_metadata_then_admin() {
        assert_eq!(
            local_route("/www.gstatic.com/iap/verify/public_key-jwk", DOMAIN),
            LocalRoute::Prefixed {
                host: GoogleHost::Gstatic,
                path: "/iap/verify/public_key-jwk".into()
            }
        );
        assert_eq!(
            local_route("/identitytoolkit.googleapis.com", DOMAIN),
            LocalRoute::Prefixed {
                host: GoogleHost::IdentityToolkit,
                path: "/".into()
            }
        );
        assert_eq!(
            local_route("/computeMetadata/v1/project/project-id", DOMAIN),
            LocalRoute::Metadata
        );
        assert_eq!(local_route("/", DOMAIN), LocalRoute::Metadata);
        assert_eq!(local_route("/_emulator/health", DOMAIN), LocalRoute::Admin);
        assert_eq!(local_route("/localhost/x", DOMAIN), LocalRoute::Admin);
        assert_eq!(local_route("/evil.com/x", DOMAIN), LocalRoute::Admin);
    }
}
