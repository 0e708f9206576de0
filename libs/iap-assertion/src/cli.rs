//! The IAP settings as clap arguments (feature `clap`), so every service spells them the same way.
//!
//! | flag | env | default | meaning |
//! | --- | --- | --- | --- |
//! | `--iap-assertion-check` | `IAP_ASSERTION_CHECK` | `enforce` | `enforce` or `disabled` |
//! | `--iap-audience` | `IAP_AUDIENCE` | none; required to enforce | `/projects/NUM/global/backendServices/ID` |
//! | `--iap-jwk-url` | `IAP_JWK_URL` | `https://www.gstatic.com/iap/verify/public_key-jwk` | IAP's JWKS |
//! | `--iap-jwk-ca-file` | `IAP_JWK_CA_FILE` | none: the system CA bundle | PEM roots to trust, only, for the JWK URL |
//!
//! Parsing happens once at start; [`IapArgs::resolve`] turns the arguments into an [`IapCheck`]
//! and a [`KeyServerTls`], or an error a binary prints before exiting with status 64.

use std::path::PathBuf;

use google_tokens::claims::IAP_JWK_URL;

use crate::config::{IapAudience, IapCheck, KeyServerTls};

/// `IAP_ASSERTION_CHECK`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CheckMode {
    /// Refuse requests without a valid `x-goog-iap-jwt-assertion` (401).
    Enforce,
    /// Serve every request; identities are marked unverified. Logged as a WARNING at start.
    Disabled,
}

/// The IAP check's settings; `#[command(flatten)]` it into a binary's `Config`.
#[derive(Debug, Clone, clap::Args)]
pub struct IapArgs {
    /// Verify IAP's signed header on every request (enforce), or not (disabled: local runs only).
    #[arg(
        long = "iap-assertion-check",
        env = "IAP_ASSERTION_CHECK",
        value_enum,
        default_value = "enforce"
    )]
    pub check: CheckMode,

    /// The audience IAP signs for this backend: /projects/PROJECT_NUMBER/global/backendServices/ID.
    /// Required when the check is enforced.
    #[arg(long = "iap-audience", env = "IAP_AUDIENCE", value_parser = IapAudience::parse)]
    pub audience: Option<IapAudience>,

    /// Where IAP publishes its ES256 keys as a JWKS.
    #[arg(long = "iap-jwk-url", env = "IAP_JWK_URL", default_value = IAP_JWK_URL)]
    pub jwk_url: reqwest::Url,

    /// A PEM file of CA certificates to trust, instead of the system bundle, for an https JWK URL
    /// (the local emulator's CA).
    #[arg(long = "iap-jwk-ca-file", env = "IAP_JWK_CA_FILE")]
    pub jwk_ca_file: Option<PathBuf>,
}

/// The IAP settings do not make a usable check.
#[derive(Debug, thiserror::Error)]
pub enum IapArgsError {
    #[error(
        "IAP_AUDIENCE (--iap-audience) is required when IAP_ASSERTION_CHECK is enforce: set it to \
         /projects/PROJECT_NUMBER/global/backendServices/ID, the backend service this runs behind, \
         or set IAP_ASSERTION_CHECK=disabled to run without the check"
    )]
    AudienceRequired,
    #[error("IAP_JWK_URL (--iap-jwk-url) {0} must be an http or https URL")]
    JwkUrlScheme(String),
    #[error("IAP_JWK_CA_FILE (--iap-jwk-ca-file) {path}: {problem}")]
    CaFile { path: String, problem: String },
}

impl IapArgs {
    /// The check and the TLS roots for its key URL. Reads the CA file, if any, now.
    pub fn resolve(&self) -> Result<(IapCheck, KeyServerTls), IapArgsError> {
        if !matches!(self.jwk_url.scheme(), "http" | "https") {
            return Err(IapArgsError::JwkUrlScheme(self.jwk_url.to_string()));
        }
        let tls = match &self.jwk_ca_file {
            None => KeyServerTls::SystemRoots,
            Some(path) => KeyServerTls::Only(read_roots(path)?),
        };
        let check = match (self.check, &self.audience) {
            (CheckMode::Disabled, _) => IapCheck::Disabled,
            (CheckMode::Enforce, None) => return Err(IapArgsError::AudienceRequired),
            (CheckMode::Enforce, Some(audience)) => IapCheck::Enforce {
                audience: audience.clone(),
                jwk_url: self.jwk_url.clone(),
            },
        };
        Ok((check, tls))
    }
}

fn read_roots(path: &std::path::Path) -> Result<Vec<reqwest::Certificate>, IapArgsError> {
    let err = |problem: String| IapArgsError::CaFile {
        path: path.display().to_string(),
        problem,
    };
    let pem = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    let roots = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|e| err(format!("not PEM certificates: {e}")))?;
    if roots.is_empty() {
        return Err(err("holds no PEM certificate".into()));
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        iap: IapArgs,
    }

    const AUD: &str = "/projects/123/global/backendServices/456";

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("svc").chain(args.iter().copied()))
    }

    #[test]
    fn enforcing_is_the_default_and_needs_an_audience() {
        let cli = parse(&[]).expect("parses");
        assert_eq!(cli.iap.check, CheckMode::Enforce);
        assert!(matches!(
            cli.iap.resolve(),
            Err(IapArgsError::AudienceRequired)
        ));
    }

    #[test]
    fn an_audience_gives_an_enforced_check_against_googles_keys() {
        let cli = parse(&["--iap-audience", AUD]).expect("parses");
        let (check, tls) = cli.iap.resolve().expect("resolves");
        assert_eq!(
            check,
            IapCheck::Enforce {
                audience: IapAudience::parse(AUD).expect("aud"),
                jwk_url: crate::google_iap_jwk_url(),
            }
        );
        assert!(matches!(tls, KeyServerTls::SystemRoots));
    }

    #[test]
    fn disabling_is_spelled_out() {
        let cli = parse(&["--iap-assertion-check", "disabled"]).expect("parses");
        assert_eq!(cli.iap.resolve().expect("resolves").0, IapCheck::Disabled);
        assert!(parse(&["--iap-assertion-check", "off"]).is_err());
        assert!(parse(&["--iap-assertion-check", "false"]).is_err());
    }

    #[test]
    fn a_malformed_audience_is_refused_while_parsing() {
        let err = parse(&["--iap-audience", "smoothie-service-backend"]).expect_err("refused");
        assert!(err.to_string().contains("backendServices"), "{err}");
    }

    #[test]
    fn the_key_url_can_point_at_a_local_key_server() {
        let cli = parse(&[
            "--iap-audience",
            AUD,
            "--iap-jwk-url",
            "http://127.0.0.1:8081/www.gstatic.com/iap/verify/public_key-jwk",
        ])
        .expect("parses");
        let (check, _) = cli.iap.resolve().expect("resolves");
        assert!(matches!(check, IapCheck::Enforce { jwk_url, .. } if jwk_url.port() == Some(8081)));
    }

    #[test]
    fn a_key_url_that_is_not_http_is_refused() {
        let cli = parse(&[
            "--iap-audience",
            AUD,
            "--iap-jwk-url",
            "ftp://example.com/k",
        ])
        .expect("parses");
        assert!(matches!(
            cli.iap.resolve(),
            Err(IapArgsError::JwkUrlScheme(_))
        ));
        assert!(parse(&["--iap-jwk-url", "not a url"]).is_err());
    }

    #[test]
    fn a_missing_ca_file_is_an_error_naming_it() {
        let cli = parse(&[
            "--iap-audience",
            AUD,
            "--iap-jwk-ca-file",
            "/nonexistent/ca.pem",
        ])
        .expect("parses");
        let err = cli.iap.resolve().expect_err("refused");
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
    }
}
