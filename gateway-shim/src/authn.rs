//! JWT authentication as ESPv2 does it (items 68-72): find the tokens, pick the provider, verify.
//!
//! Per route, the requirement is "any of these providers" (ESPv2 `jwt_authn.go` builds a
//! `requires_any`). Envoy's semantics, kept here (`jwt_authn/verifier.cc`, `authenticator.cc`,
//! `extractor.cc`):
//!
//! - each provider looks in its own locations: headers first, in name order
//!   (`authorization` with prefix `Bearer ` before `x-goog-iap-jwt-assertion`), then query
//!   parameters; a `Bearer ` prefix may appear anywhere in the value and the token is what follows
//!   it from the first base64url character; a query value is percent-decoded;
//! - no token → `Jwt is missing`; **every** token found must verify (a good token next to a bad
//!   one is refused), checked last-found first, and the first failure is the answer;
//! - a token whose `iss` is not the provider's → `Jwt issuer is not configured`;
//! - with several providers, the first that succeeds wins; if none does, the answer is the last
//!   provider's failure (Envoy's `AnyVerifierImpl` completes with its last child's status).
//!
//! On success the payload segment of each verified token is returned for the
//! `X-Apigateway-Api-Userinfo` header (item 67); the token itself stays where it was
//! (ESPv2 sets `forward: true`).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use google_tokens::{Alg, FetchError, JwksClient, JwksClientOptions, KeyFormat, KeySet};
use http::HeaderMap;
use tokio::sync::OnceCell;

use crate::api_config::{JwksSource, JwtLocation, JwtProviderSpec};
use crate::jwt::{self, JwtStatus, ParsedJwt};

/// Base64url characters and the dot (Envoy `extractor.cc`, `ConstantBase64UrlEncodingCharsPlusDot`).
fn is_jwt_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.'
}

/// One token found in a request (borrowed from its header; owned when percent-decoded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located<'a> {
    pub token: std::borrow::Cow<'a, str>,
}

/// Tokens for `locations`, in Envoy's order (headers by name+prefix, then query parameters by
/// name).
pub fn extract<'a>(
    headers: &'a HeaderMap,
    query: Option<&'a str>,
    locations: &[JwtLocation],
) -> Vec<Located<'a>> {
    let mut header_locs: Vec<(&http::HeaderName, Option<&str>)> = Vec::new();
    let mut query_locs: Vec<&str> = Vec::new();
    for loc in locations {
        match loc {
            JwtLocation::Header { name, value_prefix } => {
                header_locs.push((name, value_prefix.as_deref()))
            }
            JwtLocation::Query(q) => query_locs.push(q),
        }
    }
    header_locs
        .sort_by(|a, b| (a.0.as_str(), a.1.unwrap_or("")).cmp(&(b.0.as_str(), b.1.unwrap_or(""))));
    header_locs.dedup();
    query_locs.sort_unstable();
    query_locs.dedup();

    let mut out = Vec::new();
    for (name, prefix) in header_locs {
        for value in headers.get_all(name) {
            let Ok(value) = value.to_str() else { continue };
            let token = match prefix {
                None => value,
                Some(prefix) => {
                    let Some(pos) = value.find(prefix) else {
                        continue;
                    };
                    let after = &value[pos + prefix.len()..];
                    match after.find(is_jwt_char) {
                        Some(start) => &after[start..],
                        None => value,
                    }
                }
            };
            out.push(Located {
                token: std::borrow::Cow::Borrowed(token),
            });
        }
    }
    if let Some(query) = query {
        for name in query_locs {
            let found = query.split('&').find_map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (percent_decode(k) == name).then(|| percent_decode(v))
            });
            if let Some(v) = found {
                out.push(Located {
                    token: std::borrow::Cow::Owned(v),
                });
            }
        }
    }
    out
}

/// `%XX` decoding (invalid escapes kept as they are).
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Keys of one provider: a [`JwksClient`] per algorithm and format. Which format the URL serves
/// is guessed from the URL (Google's `/x509/`, `/oauth2/v1/certs` and `/iap/verify/public_key`
/// serve kid-to-PEM maps) and corrected once if the body says otherwise; ESPv2's
/// `jwt_verify_lib` likewise accepts both.
#[derive(Debug)]
struct ProviderKeys {
    /// `[alg][format]`, alg 0 = RS256, 1 = ES256; format 0 = JWKS, 1 = PEM map.
    clients: [[Arc<JwksClient>; 2]; 2],
    preferred_format: AtomicUsize,
}

impl ProviderKeys {
    fn new(http: &reqwest::Client, url: &str, options: JwksClientOptions) -> Self {
        let client = |alg, format| {
            Arc::new(JwksClient::new(
                http.clone(),
                url.to_owned(),
                format,
                alg,
                options,
            ))
        };
        let pem_like = url.contains("/x509/")
            || url.ends_with("/oauth2/v1/certs")
            || url.ends_with("/iap/verify/public_key");
        Self {
            clients: [
                [
                    client(Alg::Rs256, KeyFormat::Jwks),
                    client(Alg::Rs256, KeyFormat::PemMap),
                ],
                [
                    client(Alg::Es256, KeyFormat::Jwks),
                    client(Alg::Es256, KeyFormat::PemMap),
                ],
            ],
            preferred_format: AtomicUsize::new(usize::from(pem_like)),
        }
    }

    async fn key_set(&self, alg: usize, kid: Option<&str>) -> Result<Arc<KeySet>, JwtStatus> {
        let first = self.preferred_format.load(Ordering::Relaxed);
        match self.clients[alg][first].key_set_for(kid).await {
            Ok(keys) => Ok(keys),
            Err(FetchError::BadBody { .. }) => {
                let other = 1 - first;
                match self.clients[alg][other].key_set_for(kid).await {
                    Ok(keys) => {
                        self.preferred_format.store(other, Ordering::Relaxed);
                        Ok(keys)
                    }
                    Err(e) => Err(fetch_status(&e)),
                }
            }
            Err(e) => Err(fetch_status(&e)),
        }
    }

    fn fetch_count(&self) -> u64 {
        self.clients.iter().flatten().map(|c| c.fetch_count()).sum()
    }
}

fn fetch_status(err: &FetchError) -> JwtStatus {
    match err {
        // Keys fetched, but none of this algorithm: nothing can match the token's kid or alg.
        FetchError::KeySet { .. } => JwtStatus::JwksKidAlgMismatch,
        _ => {
            tracing::warn!(error = %err, "JWKS fetch failed");
            JwtStatus::JwksFetchFail
        }
    }
}

/// ESPv2's `--jwt_cache_size` default: verified tokens remembered per provider.
pub const JWT_CACHE_SIZE: usize = 1000;

/// A provider ready to verify.
#[derive(Debug)]
pub struct Provider {
    spec: JwtProviderSpec,
    http: reqwest::Client,
    options: JwksClientOptions,
    keys: OnceCell<ProviderKeys>,
    /// Tokens that fully verified for this provider, with their `nbf` and `exp` (Envoy's
    /// `JwtCache`, on in ESPv2 with 1000 entries). A hit skips parsing, keys and signature, as
    /// in Envoy's `startVerify`; the time is still checked every time. Issuer and audiences are
    /// fixed per provider here, so a hit has passed them. Full: emptied (a new token then costs
    /// one verification).
    verified: std::sync::Mutex<HashMap<String, (u64, u64)>>,
}

impl Provider {
    pub fn spec(&self) -> &JwtProviderSpec {
        &self.spec
    }

    /// JWKS fetches so far (tests).
    pub fn fetch_count(&self) -> u64 {
        self.keys.get().map_or(0, ProviderKeys::fetch_count)
    }

    async fn keys(&self) -> Result<&ProviderKeys, JwtStatus> {
        self.keys
            .get_or_try_init(|| async {
                let url = match &self.spec.jwks {
                    JwksSource::Uri(u) => u.clone(),
                    JwksSource::OpenIdDiscovery => self.discover().await?,
                };
                Ok(ProviderKeys::new(&self.http, &url, self.options))
            })
            .await
    }

    /// `<issuer>/.well-known/openid-configuration` → `jwks_uri` (item 79).
    async fn discover(&self) -> Result<String, JwtStatus> {
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.spec.issuer.trim_end_matches('/')
        );
        let fail = |e: String| {
            tracing::warn!(%url, error = %e, "OpenID discovery failed");
            JwtStatus::JwksFetchFail
        };
        let resp = self
            .http
            .get(&url)
            .timeout(self.options.request_timeout)
            .send()
            .await
            .map_err(|e| fail(e.to_string()))?;
        if !resp.status().is_success() {
            return Err(fail(format!("status {}", resp.status())));
        }
        let doc: serde_json::Value = resp.json().await.map_err(|e| fail(e.to_string()))?;
        doc.get("jwks_uri")
            .and_then(|v| v.as_str())
            .map(str::to_owned)
            .ok_or_else(|| fail("no jwks_uri".into()))
    }

    fn cached(&self, token: &str) -> Option<(u64, u64)> {
        self.verified
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(token)
            .copied()
    }

    fn remember(&self, token: &str, nbf: u64, exp: u64) {
        let mut verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        if verified.len() >= JWT_CACHE_SIZE {
            verified.clear();
        }
        verified.insert(token.to_owned(), (nbf, exp));
    }

    /// One token, all steps of [`crate::jwt`]; a cache hit only re-checks the time.
    async fn verify_token(&self, token: &str, now: u64) -> Result<(), JwtStatus> {
        if let Some((nbf, exp)) = self.cached(token) {
            return jwt::check_time(nbf, exp, now);
        }
        let parsed = jwt::parse(token)?;
        self.verify(&parsed, now).await?;
        self.remember(token, parsed.nbf, parsed.exp);
        Ok(())
    }

    /// Steps 2-5 of [`crate::jwt`] for one parsed token.
    async fn verify(&self, parsed: &ParsedJwt<'_>, now: u64) -> Result<(), JwtStatus> {
        if parsed.iss.as_deref() != Some(self.spec.issuer.as_str()) {
            return Err(JwtStatus::UnknownIssuer);
        }
        parsed.check_time(now)?;
        parsed.check_audience(&self.spec.audiences)?;
        self.verify_signature(parsed).await
    }

    /// Step 5: keys, then the signature.
    async fn verify_signature(&self, parsed: &ParsedJwt<'_>) -> Result<(), JwtStatus> {
        let (alg_index, alg) = match parsed.alg.as_str() {
            "RS256" => (0, jsonwebtoken::Algorithm::RS256),
            "ES256" => (1, jsonwebtoken::Algorithm::ES256),
            // Implemented by jwt_verify_lib, but no key of ours is for it: Google publishes its
            // keys with `alg`, so ESPv2 finds no key matching the token's alg either.
            _ => return Err(JwtStatus::JwksKidAlgMismatch),
        };
        let keys = self
            .keys()
            .await?
            .key_set(alg_index, parsed.kid.as_deref())
            .await?;
        let check = |key| {
            jsonwebtoken::crypto::verify(
                parsed.signature_b64,
                parsed.signing_input.as_bytes(),
                key,
                alg,
            )
            .unwrap_or(false)
        };
        match parsed.kid.as_deref() {
            Some(kid) => {
                let key = keys.get(kid).ok_or(JwtStatus::JwksKidAlgMismatch)?;
                if check(key) {
                    Ok(())
                } else {
                    Err(JwtStatus::VerificationFail)
                }
            }
            // No kid: every key is tried (jwt_verify_lib `verifyJwtWithoutTimeChecking`).
            None => {
                if keys.is_empty() {
                    return Err(JwtStatus::JwksKidAlgMismatch);
                }
                if keys.kids().filter_map(|k| keys.get(k)).any(check) {
                    Ok(())
                } else {
                    Err(JwtStatus::VerificationFail)
                }
            }
        }
    }

    /// One provider's verdict on a request: `Ok(payload segments)` or the failure.
    async fn authenticate(
        &self,
        headers: &HeaderMap,
        query: Option<&str>,
        now: u64,
    ) -> Result<Vec<String>, JwtStatus> {
        let tokens = extract(headers, query, &self.spec.locations);
        if tokens.is_empty() {
            return Err(JwtStatus::Missing);
        }
        let mut payloads = Vec::with_capacity(tokens.len());
        for located in tokens.iter().rev() {
            self.verify_token(&located.token, now).await?;
            // The payload segment as sent: parse() checked there are exactly three.
            if let Some(payload) = located.token.split('.').nth(1) {
                payloads.push(payload.to_owned());
            }
        }
        Ok(payloads)
    }
}

/// Every provider of the API.
#[derive(Debug)]
pub struct Authenticator {
    providers: HashMap<String, Provider>,
}

impl Authenticator {
    pub fn new<'a>(
        specs: impl IntoIterator<Item = &'a JwtProviderSpec>,
        http: reqwest::Client,
        options: JwksClientOptions,
    ) -> Self {
        let providers = specs
            .into_iter()
            .map(|spec| {
                (
                    spec.id.clone(),
                    Provider {
                        spec: spec.clone(),
                        http: http.clone(),
                        options,
                        keys: OnceCell::new(),
                        verified: std::sync::Mutex::default(),
                    },
                )
            })
            .collect();
        Self { providers }
    }

    pub fn provider(&self, id: &str) -> Option<&Provider> {
        self.providers.get(id)
    }

    /// Checks the request against "any of `provider_ids`".
    pub async fn authenticate(
        &self,
        provider_ids: &[String],
        headers: &HeaderMap,
        query: Option<&str>,
    ) -> Result<Vec<String>, JwtStatus> {
        let now = google_tokens::now_unix();
        let mut last = JwtStatus::Missing;
        for id in provider_ids {
            // Routes only name providers the config defined (checked at start).
            let Some(provider) = self.providers.get(id) else {
                continue;
            };
            match provider.authenticate(headers, query, now).await {
                Ok(payloads) => return Ok(payloads),
                Err(status) => last = status,
            }
        }
        Err(last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api_config::default_jwt_locations;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                http::HeaderValue::from_str(v).expect("value"),
            );
        }
        h
    }

    fn tokens(h: &HeaderMap, q: Option<&str>) -> Vec<String> {
        extract(h, q, &default_jwt_locations())
            .into_iter()
            .map(|l| l.token.into_owned())
            .collect()
    }

    #[test]
    fn tokens_come_from_bearer_the_iap_header_and_access_token_in_envoy_order() {
        let h = headers(&[
            ("x-goog-iap-jwt-assertion", "iap.t.s"),
            ("authorization", "Bearer a.b.c"),
        ]);
        assert_eq!(
            tokens(&h, Some("x=1&access_token=q.r%2Es")),
            vec!["a.b.c", "iap.t.s", "q.r.s"]
        );
    }

    #[test]
    fn a_bare_token_without_bearer_is_not_taken_from_authorization() {
        let h = headers(&[("authorization", "a.b.c")]);
        assert!(tokens(&h, None).is_empty());
        let basic = headers(&[("authorization", "Basic dXNlcjpwYXNz")]);
        assert!(tokens(&basic, None).is_empty());
    }

    #[test]
    fn the_bearer_prefix_is_found_anywhere_and_case_sensitively() {
        let h = headers(&[("authorization", "xx Bearer   a.b.c")]);
        assert_eq!(tokens(&h, None), vec!["a.b.c"]);
        let lower = headers(&[("authorization", "bearer a.b.c")]);
        assert!(tokens(&lower, None).is_empty());
    }
}
