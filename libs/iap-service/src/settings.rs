//! A service's settings: [`Config`], the flags and `IAP_*` environment variables, parsed once
//! under the service's own name; and [`Settings`], what they resolve to and what the e2e harness
//! builds in code instead. `PORT`, `K_SERVICE` and the rest of the Cloud Run contract are read
//! separately, by [`cloud_run::Contract::from_env`].

use std::ffi::OsString;

use clap::{Args, Command, FromArgMatches};
use iap_assertion::{IapArgs, IapArgsError, IapAudience, IapCheck, KeyServerTls, Url};

use crate::SampleService;

/// The service's settings from flags and environment.
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    #[command(flatten)]
    pub iap: IapArgs,
}

/// The configuration does not make a service.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    Iap(#[from] IapArgsError),
}

impl Config {
    /// The command line of service `S`: its name, version and one-line description in `--help`
    /// and `--version`, then the `IAP_*` arguments.
    pub fn command<S: SampleService>() -> Command {
        Self::augment_args(Command::new(S::NAME))
            .version(S::VERSION)
            .about(S::ABOUT)
            .long_about(None)
    }

    /// Parses `args` (the program name first) for service `S`. `--help` and `--version` are
    /// errors that do not `use_stderr`, as with clap's `Parser::try_parse_from`.
    pub fn try_parse_from<S, I, T>(args: I) -> Result<Self, clap::Error>
    where
        S: SampleService,
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let mut command = Self::command::<S>();
        let matches = command.try_get_matches_from_mut(args)?;
        Self::from_arg_matches(&matches).map_err(|err| err.format(&mut command))
    }

    /// Checks the arguments together and reads what they point at (a CA file).
    pub fn settings(&self) -> Result<Settings, ConfigError> {
        let (iap, key_server_tls) = self.iap.resolve()?;
        Ok(Settings {
            iap,
            key_server_tls,
        })
    }
}

/// What [`crate::AppState::new`] needs: everything the e2e harness sets to start a service
/// in-process.
#[derive(Debug, Clone)]
pub struct Settings {
    pub iap: IapCheck,
    pub key_server_tls: KeyServerTls,
}

impl Settings {
    /// Enforce the IAP check for `audience`, with keys from `jwk_url` (an `http://` URL needs no
    /// root store; `https://` uses the system's CA bundle).
    pub fn enforce(audience: IapAudience, jwk_url: Url) -> Self {
        Self {
            iap: IapCheck::Enforce { audience, jwk_url },
            key_server_tls: KeyServerTls::SystemRoots,
        }
    }

    /// Serve without checking IAP's assertion (logged as a WARNING).
    pub fn iap_disabled() -> Self {
        Self {
            iap: IapCheck::Disabled,
            key_server_tls: KeyServerTls::SystemRoots,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::DataError;

    struct Tea;

    impl SampleService for Tea {
        const NAME: &'static str = "tea-service";
        const ABOUT: &'static str = "Tea behind IAP, for Cloud Run";
        const VERSION: &'static str = "9.8.7";
        const DATA: &'static str = "tea data";
        type Data = ();
        fn load() -> Result<(), DataError> {
            Ok(())
        }
        fn routes() -> axum::Router<Arc<()>> {
            axum::Router::new()
        }
    }

    const AUD: &str = "/projects/123/global/backendServices/456";

    #[test]
    fn help_and_version_name_the_service() {
        let help = Config::command::<Tea>().render_help().to_string();
        assert!(
            help.starts_with("Tea behind IAP, for Cloud Run\n"),
            "{help}"
        );
        assert!(help.contains("--iap-audience"), "{help}");
        let version = Config::try_parse_from::<Tea, _, _>(["tea-service", "--version"])
            .expect_err("--version exits");
        assert!(!version.use_stderr());
        assert_eq!(version.to_string(), "tea-service 9.8.7\n");
    }

    #[test]
    fn the_iap_arguments_resolve_into_settings() {
        let config = Config::try_parse_from::<Tea, _, _>(["tea-service", "--iap-audience", AUD])
            .expect("parses");
        let settings = config.settings().expect("resolves");
        assert_eq!(
            settings.iap,
            IapCheck::Enforce {
                audience: IapAudience::parse(AUD).expect("aud"),
                jwk_url: iap_assertion::google_iap_jwk_url(),
            }
        );
        let config = Config::try_parse_from::<Tea, _, _>(["tea-service"]).expect("parses");
        assert!(matches!(
            config.settings(),
            Err(ConfigError::Iap(IapArgsError::AudienceRequired))
        ));
    }
}
