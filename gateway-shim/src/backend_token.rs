//! Backend ID tokens from the metadata server, cached per audience (items 65, 74-75).
//!
//! What ESPv2 does (`src/envoy/token/imds_token_info.cc`, `token_subscriber.cc`,
//! `backend_auth/config_parser_impl.cc`) and this module repeats:
//! - `GET http://<metadata host>/computeMetadata/v1/instance/service-accounts/default/identity?format=standard&audience=<aud>`
//!   with `Metadata-Flavor: Google`; the audience is put in the URL **as is, not URL-encoded**
//!   (item 65), so the URL string is built here and handed to reqwest whole;
//! - the body is the raw JWT; it is assumed to live 3599 s (`kDefaultTokenExpiry`). Here the
//!   token's own unverified `exp` is used when it says less, so a short-lived emulator token is
//!   not served after it expired;
//! - refreshed 60 s before expiry (`kRefreshBuffer`); after a failed fetch, the next try waits
//!   2 s (`kFailedRequestRetryTime`), during which requests get the 500 at once instead of each
//!   queueing another fetch.
//!
//! Where it differs, on purpose: ESPv2 fetches every audience in the background from start and
//! a request arriving before the first fetch gets 500. Here the first request for an audience
//! waits for the fetch (single flight: concurrent requests share one fetch, which the
//! concurrency test shows), and a refresh that fails while the old token is still valid keeps
//! serving the old one.
//!
//! Locking: the cached token sits behind a `std::sync::RwLock` that is never held across an
//! `.await` (a read on the hot path is a few nanoseconds); the fetch itself is serialised by a
//! per-audience `tokio::sync::Mutex`, held across the HTTP call on purpose.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::time::Instant;

/// ESPv2's assumed lifetime of a metadata identity token.
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(3599);
/// Refresh this long before expiry.
pub const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(60);
/// Wait this long after a failed fetch.
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(2);
/// Timeout of one metadata request (google-auth's `GCE_METADATA_TIMEOUT` default is 3 s).
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// `host[:port]` of the metadata server, no scheme (`GCE_METADATA_HOST`, item 75).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataHost(String);

impl MetadataHost {
    /// The real one.
    pub const DEFAULT: &'static str = "metadata.google.internal";

    pub fn parse(value: &str) -> Result<Self, String> {
        let v = value.trim();
        if v.is_empty() || v.contains("://") || v.contains('/') || v.contains(' ') {
            return Err(format!(
                "metadata host {value:?}: expected host[:port] without a scheme, like metadata.google.internal or 127.0.0.1:8085"
            ));
        }
        Ok(Self(v.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why no token could be had (logged; the client sees only ESPv2's 500).
#[derive(Debug, Clone, thiserror::Error)]
pub enum TokenError {
    #[error("metadata server unreachable: {0}")]
    Unreachable(String),
    #[error("metadata server answered {0}")]
    Status(u16),
    #[error("metadata server sent an empty or non-JWT body")]
    BadBody,
    #[error("last fetch failed less than 2 s ago")]
    CoolingDown,
}

#[derive(Debug, Clone)]
struct Cached {
    /// `Bearer <jwt>`, ready to be a header value.
    header: http::HeaderValue,
    refresh_at: Instant,
    expires_at: Instant,
}

/// One audience's token.
#[derive(Debug)]
pub struct AudienceToken {
    audience: String,
    url: String,
    state: RwLock<(Option<Cached>, Option<Instant>)>,
    fetching: tokio::sync::Mutex<()>,
}

impl AudienceToken {
    pub fn audience(&self) -> &str {
        &self.audience
    }

    fn fresh(&self, now: Instant) -> Option<http::HeaderValue> {
        let state = self.state.read().unwrap_or_else(|e| e.into_inner());
        state
            .0
            .as_ref()
            .filter(|c| now < c.refresh_at)
            .map(|c| c.header.clone())
    }
}

/// The per-audience cache and the client that fills it.
#[derive(Debug)]
pub struct BackendTokens {
    http: reqwest::Client,
    host: MetadataHost,
    entries: Mutex<HashMap<String, Arc<AudienceToken>>>,
    fetches: std::sync::atomic::AtomicU64,
}

impl BackendTokens {
    /// `http` must reach the metadata host over plain HTTP.
    pub fn new(http: reqwest::Client, host: MetadataHost) -> Self {
        Self {
            http,
            host,
            entries: Mutex::new(HashMap::new()),
            fetches: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// How many metadata requests were made (tests, start-up log).
    pub fn fetch_count(&self) -> u64 {
        self.fetches.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The cache entry for `audience`, created on first use. Routes hold their entry, so the
    /// request path never touches this map.
    pub fn entry(&self, audience: &str) -> Arc<AudienceToken> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .entry(audience.to_owned())
            .or_insert_with(|| {
                Arc::new(AudienceToken {
                    audience: audience.to_owned(),
                    // Not URL-encoded, as ESPv2 builds it (item 65).
                    url: format!(
                        "http://{}/computeMetadata/v1/instance/service-accounts/default/identity?format=standard&audience={}",
                        self.host.as_str(),
                        audience
                    ),
                    state: RwLock::new((None, None)),
                    fetching: tokio::sync::Mutex::new(()),
                })
            })
            .clone()
    }

    /// `Bearer <token>` for `entry`'s audience: cached, or fetched once for all waiters.
    pub async fn header(&self, entry: &AudienceToken) -> Result<http::HeaderValue, TokenError> {
        if let Some(h) = entry.fresh(Instant::now()) {
            return Ok(h);
        }
        let _guard = entry.fetching.lock().await;
        let now = Instant::now();
        // Whoever held the lock before us may have fetched it.
        let still_valid = {
            let state = entry.state.read().unwrap_or_else(|e| e.into_inner());
            if let Some(c) = state.0.as_ref().filter(|c| now < c.refresh_at) {
                return Ok(c.header.clone());
            }
            if state
                .1
                .is_some_and(|failed| now.duration_since(failed) < RETRY_AFTER_FAILURE)
            {
                return match state.0.as_ref().filter(|c| now < c.expires_at) {
                    Some(c) => Ok(c.header.clone()),
                    None => Err(TokenError::CoolingDown),
                };
            }
            state
                .0
                .as_ref()
                .filter(|c| now < c.expires_at)
                .map(|c| c.header.clone())
        };
        match self.fetch(entry).await {
            Ok(cached) => {
                let header = cached.header.clone();
                let mut state = entry.state.write().unwrap_or_else(|e| e.into_inner());
                *state = (Some(cached), None);
                Ok(header)
            }
            Err(err) => {
                let mut state = entry.state.write().unwrap_or_else(|e| e.into_inner());
                state.1 = Some(Instant::now());
                tracing::warn!(audience = %entry.audience, error = %err, "backend ID token fetch failed");
                still_valid.ok_or(err)
            }
        }
    }

    async fn fetch(&self, entry: &AudienceToken) -> Result<Cached, TokenError> {
        self.fetches
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let started = Instant::now();
        let response = self
            .http
            .get(&entry.url)
            .header("Metadata-Flavor", "Google")
            .timeout(FETCH_TIMEOUT)
            .send()
            .await
            .map_err(|e| TokenError::Unreachable(e.to_string()))?;
        if !response.status().is_success() {
            return Err(TokenError::Status(response.status().as_u16()));
        }
        let body = response
            .text()
            .await
            .map_err(|e| TokenError::Unreachable(e.to_string()))?;
        let token = body.trim();
        if token.is_empty() || token.bytes().filter(|b| *b == b'.').count() != 2 {
            return Err(TokenError::BadBody);
        }
        let header = http::HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| TokenError::BadBody)?;
        let lifetime = lifetime_from_exp(token, google_tokens::now_unix())
            .map_or(DEFAULT_TOKEN_LIFETIME, |l| l.min(DEFAULT_TOKEN_LIFETIME));
        let expires_at = started + lifetime;
        let refresh_at = started + lifetime.saturating_sub(REFRESH_BEFORE_EXPIRY);
        Ok(Cached {
            header,
            refresh_at,
            expires_at,
        })
    }
}

/// `exp - now` from the unverified payload (the metadata server is trusted; only its clock
/// matters here).
fn lifetime_from_exp(token: &str, now: u64) -> Option<Duration> {
    let parts = google_tokens::jwt::split(token).ok()?;
    let payload = google_tokens::jwt::decode_payload(parts.payload_b64).ok()?;
    let exp = payload.get("exp")?.as_u64()?;
    Some(Duration::from_secs(exp.saturating_sub(now)))
}
