//! The command line, turned into a [`Config`] once (style.md section 3). Flags follow ESPv2's
//! where one exists (`--service`, `--jwks_cache_duration_in_s`, `--generated_header_prefix`),
//! spelled the clap way.
//!
//! The listen port is not a flag: it is Cloud Run's `PORT` ([`cloud_run::Contract`]), so the
//! same binary runs on Cloud Run unchanged.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use google_tokens::JwksClientOptions;

use crate::api_config::{ApiConfig, ServiceName};
use crate::backend_token::MetadataHost;
use crate::gateway::{API_GATEWAY_MAX_REQUEST_BYTES, ApiKeyCheck, Config, HeaderPrefix};
use crate::outbound::{Outbound, TlsRoots};

/// gateway-shim: API Gateway (ESPv2) played locally from the same openapi.yaml.
#[derive(Debug, Parser)]
#[command(name = "gateway-shim", version)]
pub struct Cli {
    /// The OpenAPI 2.0 spec, exactly as deployed to API Gateway.
    #[arg(long, env = "GATEWAY_OPENAPI")]
    pub openapi: PathBuf,

    /// The managed service name (ESPv2's --service). A JWT provider without x-google-audiences
    /// accepts only `https://<service name>`.
    #[arg(long, env = "GATEWAY_SERVICE_NAME")]
    pub service_name: String,

    /// Local mode: send every outbound host name (backends, key URLs) to this address (the
    /// emulator's HTTPS listener; point --metadata-host at its HTTP listener)...
    #[arg(long, value_name = "IP:PORT", requires = "emulator_ca")]
    pub emulator: Option<SocketAddr>,

    /// ...and trust only this CA (PEM) for TLS.
    #[arg(long, value_name = "PEM", requires = "emulator")]
    pub emulator_ca: Option<PathBuf>,

    /// Direct mode: trust only these CAs (PEM bundle) instead of the platform's roots. Useful in
    /// an image without a CA bundle.
    #[arg(long, value_name = "PEM", conflicts_with = "emulator")]
    pub ca_file: Option<PathBuf>,

    /// The metadata server, `host[:port]` without a scheme.
    #[arg(long, env = "GCE_METADATA_HOST", default_value = MetadataHost::DEFAULT)]
    pub metadata_host: String,

    /// Prefix of generated headers (ESPv2's --generated_header_prefix; API Gateway's is
    /// x-apigateway-).
    #[arg(long, default_value = HeaderPrefix::API_GATEWAY)]
    pub generated_header_prefix: String,

    /// Accept only these API keys (repeatable). Without it any present key is accepted.
    #[arg(long = "api-key", value_name = "KEY")]
    pub api_keys: Vec<String>,

    /// Largest request body forwarded, in bytes (API Gateway: 32 MB).
    #[arg(long, default_value_t = API_GATEWAY_MAX_REQUEST_BYTES)]
    pub max_request_bytes: u64,

    /// JWKS cache duration when the key server sends no max-age (ESPv2's
    /// --jwks_cache_duration_in_s).
    #[arg(long, default_value_t = 300)]
    pub jwks_cache_duration_in_s: u64,

    /// Print the route table and exit.
    #[arg(long)]
    pub print_routes: bool,
}

/// A flag value is unusable; `main` prints it and exits 64.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Invalid(String),
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Spec(#[from] crate::SpecError),
}

fn read(path: &PathBuf) -> Result<String, CliError> {
    std::fs::read_to_string(path).map_err(|source| CliError::Read {
        path: path.display().to_string(),
        source,
    })
}

impl Cli {
    /// Reads the files the flags name (blocking; before serving) and builds the [`Config`].
    pub fn into_config(self) -> Result<Config, CliError> {
        let service = ServiceName::parse(&self.service_name).map_err(CliError::Invalid)?;
        let api = ApiConfig::load(&self.openapi, &service)?;
        let outbound = match (self.emulator, &self.emulator_ca) {
            (Some(address), Some(ca)) => Outbound::Emulator {
                address,
                ca_pem: read(ca)?,
            },
            _ => Outbound::Direct {
                roots: match &self.ca_file {
                    Some(path) => TlsRoots::Pem(read(path)?),
                    None => TlsRoots::Platform,
                },
            },
        };
        let mut jwks = JwksClientOptions::google_defaults();
        jwks.default_max_age = Duration::from_secs(self.jwks_cache_duration_in_s);
        Ok(Config {
            api,
            outbound,
            metadata_host: MetadataHost::parse(&self.metadata_host).map_err(CliError::Invalid)?,
            generated_header_prefix: HeaderPrefix::parse(&self.generated_header_prefix)
                .map_err(CliError::Invalid)?,
            api_keys: if self.api_keys.is_empty() {
                ApiKeyCheck::PresenceOnly
            } else {
                ApiKeyCheck::AllowList(self.api_keys)
            },
            max_request_bytes: self.max_request_bytes,
            jwks,
        })
    }
}
