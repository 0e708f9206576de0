//! What Cloud Run tells a container through its environment, read once into a typed [`Contract`].
//!
//! Cloud Run sets `PORT`, `K_SERVICE`, `K_REVISION` and `K_CONFIGURATION` in every service container
//! (<https://cloud.google.com/run/docs/container-contract>, "Environment variables"). The container must
//! listen on `0.0.0.0:$PORT`; `PORT` is 8080 unless the service was deployed with another port.
//!
//! This is the **only** place in fortress that reads process environment variables, and even here the
//! reading goes through a lookup function: [`Contract::from_lookup`] takes `|name| -> Option<String>`, so
//! tests and the e2e harness (which runs every component in one process) build a contract from a map and
//! never call `std::env::set_var`. [`Contract::from_env`] is the same constructor over the real
//! environment and belongs in a binary's `main`.

use std::net::{Ipv4Addr, SocketAddr};
use std::num::ParseIntError;

use tracing_subscriber::EnvFilter;

/// The port Cloud Run uses when a service does not configure one (container contract, "Listening for
/// requests on the correct port").
pub const DEFAULT_PORT: u16 = 8080;

/// The log filter used when `RUST_LOG` is unset.
pub const DEFAULT_LOG_FILTER: &str = "info";

/// The settings Cloud Run hands a container, parsed.
///
/// Build it with [`Contract::from_env`] in `main`, or [`Contract::from_lookup`] anywhere else. There is no
/// `Default`: a contract always comes from an environment, real or given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contract {
    port: u16,
    service: Option<String>,
    revision: Option<String>,
    configuration: Option<String>,
    project_id: Option<String>,
    log_filter: String,
}

/// A variable is set but cannot be used. Each variant names the variable and what was expected, so a
/// binary can print it and exit with status 64 (`EX_USAGE`).
#[derive(Debug, thiserror::Error)]
pub enum ContractError {
    /// `PORT` is not a decimal integer from 0 to 65535.
    #[error("{name} is {value:?}; expected a TCP port, an integer from 0 to 65535")]
    InvalidPort {
        /// Always `PORT`.
        name: &'static str,
        /// The value as found.
        value: String,
        /// Why it did not parse.
        #[source]
        source: ParseIntError,
    },
    /// `RUST_LOG` is not a valid `tracing_subscriber::EnvFilter` directive list.
    #[error("{name} is {value:?}; expected tracing filter directives such as \"info,hyper=warn\"")]
    InvalidLogFilter {
        /// Always `RUST_LOG`.
        name: &'static str,
        /// The value as found.
        value: String,
        /// Why it did not parse.
        #[source]
        source: tracing_subscriber::filter::ParseError,
    },
}

impl Contract {
    /// Reads the contract from the process environment. Call it once, in `main`.
    pub fn from_env() -> Result<Self, ContractError> {
        // `var_os` and a lossy conversion, so a non-UTF-8 `PORT` is reported as invalid instead of being
        // mistaken for an unset one.
        Self::from_lookup(|name| std::env::var_os(name).map(|v| v.to_string_lossy().into_owned()))
    }

    /// Reads the contract through `lookup`, which answers "what is variable `name`?".
    ///
    /// | variable | meaning | when unset or empty |
    /// | --- | --- | --- |
    /// | `PORT` | port to listen on, on every interface | [`DEFAULT_PORT`] (8080) |
    /// | `K_SERVICE` | Cloud Run service name | `None` (not on Cloud Run) |
    /// | `K_REVISION` | revision name, e.g. `smoothie-service-00001-abc` | `None` |
    /// | `K_CONFIGURATION` | configuration name (equals the service name) | `None` |
    /// | `GOOGLE_CLOUD_PROJECT` | project id, used to write full trace names in logs | `None`: logs carry bare trace ids |
    /// | `RUST_LOG` | log filter directives | [`DEFAULT_LOG_FILTER`] (`info`) |
    ///
    /// Cloud Run does **not** set `GOOGLE_CLOUD_PROJECT`; deploy with `--set-env-vars
    /// GOOGLE_CLOUD_PROJECT=...` to get log lines linked to Cloud Trace. An empty value counts as unset
    /// for every variable except `PORT`, where it is an error (Cloud Run never sends an empty port, so an
    /// empty one is a mistake worth reporting).
    pub fn from_lookup<F>(lookup: F) -> Result<Self, ContractError>
    where
        F: Fn(&str) -> Option<String>,
    {
        let non_empty = |name: &str| lookup(name).filter(|v| !v.is_empty());

        let port = match lookup("PORT") {
            None => DEFAULT_PORT,
            Some(value) => {
                value
                    .trim()
                    .parse::<u16>()
                    .map_err(|source| ContractError::InvalidPort {
                        name: "PORT",
                        value,
                        source,
                    })?
            }
        };

        let log_filter = non_empty("RUST_LOG").unwrap_or_else(|| DEFAULT_LOG_FILTER.to_owned());
        // Parsed here so a bad filter is reported with the other configuration errors; `init_logging`
        // parses the same string again because `EnvFilter` is not `Clone`.
        if let Err(source) = EnvFilter::try_new(&log_filter) {
            return Err(ContractError::InvalidLogFilter {
                name: "RUST_LOG",
                value: log_filter,
                source,
            });
        }

        Ok(Self {
            port,
            service: non_empty("K_SERVICE"),
            revision: non_empty("K_REVISION"),
            configuration: non_empty("K_CONFIGURATION"),
            project_id: non_empty("GOOGLE_CLOUD_PROJECT"),
            log_filter,
        })
    }

    /// The port from `PORT`. Zero is accepted and means "any free port" (useful locally; Cloud Run never
    /// sends it).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `0.0.0.0:PORT`: Cloud Run requires listening on every interface, not on loopback.
    pub fn listen_addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::UNSPECIFIED, self.port))
    }

    /// `K_SERVICE`, the service name; `None` outside Cloud Run.
    pub fn service(&self) -> Option<&str> {
        self.service.as_deref()
    }

    /// `K_REVISION`, the revision name; `None` outside Cloud Run.
    pub fn revision(&self) -> Option<&str> {
        self.revision.as_deref()
    }

    /// `K_CONFIGURATION`, the configuration name; `None` outside Cloud Run.
    pub fn configuration(&self) -> Option<&str> {
        self.configuration.as_deref()
    }

    /// `GOOGLE_CLOUD_PROJECT`, used to write `projects/PROJECT/traces/TRACE_ID` in logs.
    pub fn project_id(&self) -> Option<&str> {
        self.project_id.as_deref()
    }

    /// `RUST_LOG`, already checked to parse, or `info`.
    pub fn log_filter(&self) -> &str {
        &self.log_filter
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn contract(vars: &[(&str, &str)]) -> Result<Contract, ContractError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Contract::from_lookup(|name| vars.get(name).cloned())
    }

    fn port_of(value: &str) -> Result<u16, ContractError> {
        contract(&[("PORT", value)]).map(|c| c.port())
    }

    #[test]
    fn port_defaults_to_8080_and_listens_on_every_interface() {
        let c = contract(&[]).expect("empty environment is valid");
        assert_eq!(c.port(), 8080);
        assert_eq!(c.listen_addr().to_string(), "0.0.0.0:8080");
    }

    #[test]
    fn port_is_read_from_the_port_variable() {
        assert_eq!(port_of("9000").expect("valid"), 9000);
        assert_eq!(port_of("0").expect("valid"), 0);
        assert_eq!(port_of("65535").expect("valid"), 65535);
        assert_eq!(
            contract(&[("PORT", "3000")])
                .expect("valid")
                .listen_addr()
                .to_string(),
            "0.0.0.0:3000"
        );
    }

    #[test]
    fn a_bad_port_is_an_error_naming_the_variable() {
        for bad in ["", "http", "-1", "65536", "80.0", "0x50"] {
            let err = port_of(bad).expect_err(bad);
            assert!(
                matches!(&err, ContractError::InvalidPort { name: "PORT", value, .. } if value == bad),
                "{bad:?}: {err:?}"
            );
            let message = err.to_string();
            assert!(message.starts_with("PORT is "), "{message}");
            assert!(message.contains("expected a TCP port"), "{message}");
        }
    }

    #[test]
    fn k_variables_are_optional_strings() {
        let none = contract(&[]).expect("valid");
        assert_eq!(
            (none.service(), none.revision(), none.configuration()),
            (None, None, None)
        );
        assert_eq!(none.project_id(), None);

        let set = contract(&[
            ("K_SERVICE", "smoothie-service"),
            ("K_REVISION", "smoothie-service-00001-abc"),
            ("K_CONFIGURATION", "smoothie-service"),
            ("GOOGLE_CLOUD_PROJECT", "my-project"),
        ])
        .expect("valid");
        assert_eq!(set.service(), Some("smoothie-service"));
        assert_eq!(set.revision(), Some("smoothie-service-00001-abc"));
        assert_eq!(set.configuration(), Some("smoothie-service"));
        assert_eq!(set.project_id(), Some("my-project"));
    }

    #[test]
    fn empty_optional_variables_count_as_unset() {
        let c = contract(&[
            ("K_SERVICE", ""),
            ("GOOGLE_CLOUD_PROJECT", ""),
            ("RUST_LOG", ""),
        ])
        .expect("valid");
        assert_eq!(c.service(), None);
        assert_eq!(c.project_id(), None);
        assert_eq!(c.log_filter(), "info");
    }

    #[test]
    fn log_filter_comes_from_rust_log_and_a_bad_one_is_an_error() {
        let c = contract(&[("RUST_LOG", "debug,hyper=warn")]).expect("valid");
        assert_eq!(c.log_filter(), "debug,hyper=warn");

        let err = contract(&[("RUST_LOG", "hyper=loud")]).expect_err("bad level");
        assert!(matches!(
            err,
            ContractError::InvalidLogFilter {
                name: "RUST_LOG",
                ..
            }
        ));
        assert!(err.to_string().starts_with("RUST_LOG is \"hyper=loud\""));
    }
}
