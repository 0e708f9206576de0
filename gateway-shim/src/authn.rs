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
    Locations::new(locations).extract(headers, query)
}

/// A provider's JWT locations in the order Envoy searches them, sorted and deduplicated once
/// at start rather than per request.
#[derive(Debug, Clone)]
pub struct Locations {
    headers: Vec<(http::HeaderName, Option<String>)>,
    queries: Vec<String>,
}

impl Locations {
    pub fn new(locations: &[JwtLocation]) -> Self {
        let mut headers: Vec<(http::HeaderName, Option<String>)> = Vec::new();
        let mut queries: Vec<String> = Vec::new();
        for loc in locations {
            match loc {
                JwtLocation::Header { name, value_prefix } => {
                    headers.push((name.clone(), value_prefix.clone()))
                }
                JwtLocation::Query(q) => queries.push(q.clone()),
            }
        }
        headers.sort_by(|a, b| {
            (a.0.as_str(), a.1.as_deref().unwrap_or(""))
                .cmp(&(b.0.as_str(), b.1.as_deref().unwrap_or("")))
        });
        headers.dedup();
        queries.sort_unstable();
        queries.dedup();
        Self { headers, queries }
    }

    /// The tokens a request carries at these locations.
    pub fn extract<'a>(&self, headers: &'a HeaderMap, query: Option<&'a str>) -> Vec<Located<'a>> {
        let mut out = Vec::new();
        for (name, prefix) in &self.headers {
            for value in headers.get_all(name) {
                let Ok(value) = value.to_str() else { continue };
                let token = match prefix {
                    None => value,
                    Some(prefix) => {
                        let Some(pos) = value.find(prefix.as_str()) else {
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
            for name in &self.queries {
                let found = query.split('&').find_map(|pair| {
                    let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                    (percent_decode(k) == *name).then(|| percent_decode(v))
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

/// The index of a token's `alg` in [`ProviderKeys::clients`]; `None` for every algorithm no key
/// is loaded for.
fn alg_index(alg: &str) -> Option<usize> {
    match alg {
        "RS256" => Some(0),
        "ES256" => Some(1),
        _ => None,
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

/// ESPv2's `--jwt_cache_size` default: "the number of unique JWT tokens in the cache. The
/// cache only stores verified good tokens [...] If not specified, the default is 1000."
/// (GoogleCloudPlatform/esp-v2 @ 3dcedb6f, `src/go/configmanager/flags/flags.go` and
/// `src/go/options/configgenerator.go`, `JwtCacheSize: 1000`; passed to Envoy's `jwt_authn` as
/// `jwt_cache_config.jwt_cache_size` by `src/go/configgenerator/filtergen/jwt_authn.go`.)
pub const JWT_CACHE_SIZE: usize = 1000;

/// Envoy caches no token longer than this (`jwt_cache.cc`, `kMaxJwtSizeForCache`, 4 KiB).
pub const MAX_CACHED_TOKEN_BYTES: usize = 4 * 1024;

/// What a verified token left in the cache: enough to redo the time check and the kid check,
/// and the payload segment ready as the `X-Apigateway-Api-Userinfo` value (finding and
/// validating it in an 850-byte token cost a hit more than the lookup itself).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Verified {
    nbf: u64,
    exp: u64,
    /// Index into [`ProviderKeys::clients`] (0 = RS256, 1 = ES256).
    alg: usize,
    kid: String,
    payload: Option<http::HeaderValue>,
}

/// The payload segment of a token as a header value (base64url: always a valid one).
fn payload_value(payload_b64: &str) -> Option<http::HeaderValue> {
    http::HeaderValue::from_str(payload_b64).ok()
}

/// Tokens that fully verified for one provider: Envoy's `JwtCache` (a per-provider LRU keyed by
/// the exact token string, ESPv2 sizes it [`JWT_CACHE_SIZE`]).
///
/// Envoy's semantics (`jwt_authn/authenticator.cc`, `startVerify`): a hit skips parsing and
/// the signature; issuer, time and audience are still checked, in that order. Issuer and
/// audiences are fixed per provider here, so a hit has passed them; the time is checked on
/// every hit ([`crate::jwt::check_time`]) and an expired entry is dropped (`lookup` in
/// `jwt_cache.cc` does the same).
///
/// **Stricter than Envoy, on purpose: the kid must still be published.** Envoy never looks at
/// the JWKS on a hit, so a token verified before its key was retired stays good until its
/// `exp` (up to an hour for Firebase) or its eviction. Here a hit also asks the provider's key
/// set (the same 5-minute cache, refreshed as usual, so a hit costs no fetch) whether it still
/// holds the token's kid; if not, the entry is dropped and the token is verified from scratch,
/// which gives exactly the answer an uncached token gets (`Jwks doesn't have key to match kid
/// or alg from Jwt`). So a retired key stops working at the next key refresh, never later than
/// in ESPv2. Tokens without a kid (verified against every key) and tokens over 4 KiB are not
/// cached. Failures are never cached: a token that fails is verified again next time, so error
/// bodies are those of a full verification.
///
/// Full: expired entries go first; if none has, the cache is emptied (not Envoy's LRU order;
/// a new token then costs one verification, the cost of any miss).
#[derive(Debug, Default)]
struct VerifiedCache {
    /// Hashed by the signature's tail ([`google_tokens::token_hash`]): the whole token is
    /// compared, but only its last bytes are hashed.
    entries: std::sync::Mutex<google_tokens::TokenMap<Arc<Verified>>>,
}

impl VerifiedCache {
    /// The entry for `token`, if it is still within its time; an expired one is dropped and its
    /// time failure returned, as Envoy's `lookup` + `verifyTimeConstraint` would.
    fn get(&self, token: &str, now: u64) -> Option<Result<Arc<Verified>, JwtStatus>> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let v = entries.get(token)?;
        match jwt::check_time(v.nbf, v.exp, now) {
            Ok(()) => Some(Ok(Arc::clone(v))),
            Err(status) => {
                entries.remove(token);
                Some(Err(status))
            }
        }
    }

    fn insert(&self, token: &str, verified: Arc<Verified>, now: u64) {
        if token.len() > MAX_CACHED_TOKEN_BYTES {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= JWT_CACHE_SIZE && !entries.contains_key(token) {
            entries.retain(|_, v| jwt::check_time(v.nbf, v.exp, now).is_ok());
            if entries.len() >= JWT_CACHE_SIZE {
                entries.clear();
            }
        }
        entries.insert(token.to_owned(), verified);
    }

    fn remove(&self, token: &str) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(token);
    }

    fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// A provider ready to verify.
#[derive(Debug)]
pub struct Provider {
    spec: JwtProviderSpec,
    locations: Locations,
    http: reqwest::Client,
    options: JwksClientOptions,
    keys: OnceCell<ProviderKeys>,
    /// Tokens that fully verified for this provider (see [`VerifiedCache`]).
    verified: VerifiedCache,
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

    /// Verified tokens held now (tests).
    pub fn cached_tokens(&self) -> usize {
        self.verified.len()
    }

    /// One token, all steps of [`crate::jwt`]; a cache hit re-checks the time and that the
    /// token's kid is still published (see [`VerifiedCache`]). Answers with the payload
    /// segment as a header value.
    async fn verify_token(
        &self,
        token: &str,
        now: u64,
    ) -> Result<Option<http::HeaderValue>, JwtStatus> {
        match self.verified.get(token, now) {
            Some(Ok(hit)) => {
                if self.still_published(&hit).await {
                    return Ok(hit.payload.clone());
                }
                // The key is gone (or keys cannot be had): verify from scratch, for exactly the
                // answer an uncached token gets.
                self.verified.remove(token);
            }
            Some(Err(time)) => return Err(time),
            None => {}
        }
        let parsed = jwt::parse(token)?;
        self.verify(&parsed, now).await?;
        let payload = payload_value(parsed.payload_b64);
        if let (Some(kid), Some(alg)) = (parsed.kid.as_deref(), alg_index(&parsed.alg)) {
            let verified = Verified {
                nbf: parsed.nbf,
                exp: parsed.exp,
                alg,
                kid: kid.to_owned(),
                payload: payload.clone(),
            };
            self.verified.insert(token, Arc::new(verified), now);
        }
        Ok(payload)
    }

    /// Whether the provider's current key set still holds the kid a cached token was verified
    /// with.
    async fn still_published(&self, hit: &Verified) -> bool {
        let Ok(keys) = self.keys().await else {
            return false;
        };
        keys.key_set(hit.alg, Some(&hit.kid))
            .await
            .is_ok_and(|set| set.get(&hit.kid).is_some())
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
        // Implemented by jwt_verify_lib, but no key of ours is for it: Google publishes its
        // keys with `alg`, so ESPv2 finds no key matching the token's alg either.
        let Some(alg_index) = alg_index(&parsed.alg) else {
            return Err(JwtStatus::JwksKidAlgMismatch);
        };
        let alg = if alg_index == 0 {
            jsonwebtoken::Algorithm::RS256
        } else {
            jsonwebtoken::Algorithm::ES256
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

    /// One provider's verdict on a request: `Ok(payload segments)`, as header values, or the
    /// failure.
    async fn authenticate(
        &self,
        headers: &HeaderMap,
        query: Option<&str>,
        now: u64,
    ) -> Result<Vec<http::HeaderValue>, JwtStatus> {
        let tokens = self.locations.extract(headers, query);
        if tokens.is_empty() {
            return Err(JwtStatus::Missing);
        }
        let mut payloads = Vec::with_capacity(tokens.len());
        for located in tokens.iter().rev() {
            // The payload segment as sent (parse() checked there are exactly three).
            if let Some(payload) = self.verify_token(&located.token, now).await? {
                payloads.push(payload);
            }
        }
        Ok(payloads)
    }
}

/// Every provider of the API, hashed with keyed foldhash (looked up on every authenticated
/// request; SipHash cost ~180 instructions a lookup).
#[derive(Debug)]
pub struct Authenticator {
    providers: HashMap<String, Provider, foldhash::fast::RandomState>,
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
                        locations: Locations::new(&spec.locations),
                        http: http.clone(),
                        options,
                        keys: OnceCell::new(),
                        verified: VerifiedCache::default(),
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
    ) -> Result<Vec<http::HeaderValue>, JwtStatus> {
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

    fn verified(exp: u64) -> Arc<Verified> {
        Arc::new(Verified {
            nbf: 0,
            exp,
            alg: 0,
            kid: "k".into(),
            payload: payload_value("eyJzdWIiOiJ4In0"),
        })
    }

    #[test]
    fn a_cached_token_is_answered_until_its_exp_plus_skew_then_dropped() {
        let cache = VerifiedCache::default();
        cache.insert("t", verified(1000), 900);
        assert_eq!(cache.get("t", 1060), Some(Ok(verified(1000))));
        assert_eq!(cache.get("t", 1061), Some(Err(JwtStatus::Expired)));
        assert_eq!(cache.get("t", 1000), None, "the expired entry was dropped");
    }

    #[test]
    fn tokens_over_4_kib_are_not_cached() {
        let cache = VerifiedCache::default();
        let big = "a".repeat(MAX_CACHED_TOKEN_BYTES + 1);
        cache.insert(&big, verified(1000), 900);
        assert_eq!(cache.get(&big, 900), None);
        let fits = "a".repeat(MAX_CACHED_TOKEN_BYTES);
        cache.insert(&fits, verified(1000), 900);
        assert!(cache.get(&fits, 900).is_some());
    }

    #[test]
    fn a_full_cache_drops_expired_tokens_first_and_never_exceeds_its_size() {
        let cache = VerifiedCache::default();
        cache.insert("old", verified(100), 50);
        for i in 1..JWT_CACHE_SIZE {
            cache.insert(&format!("t{i}"), verified(10_000), 50);
        }
        assert_eq!(cache.len(), JWT_CACHE_SIZE);
        cache.insert("new", verified(10_000), 5_000);
        assert_eq!(
            cache.len(),
            JWT_CACHE_SIZE,
            "only the expired one made room"
        );
        assert!(cache.get("t1", 5_000).is_some());
        assert!(cache.get("new", 5_000).is_some());
        cache.insert("newer", verified(10_000), 5_000);
        assert_eq!(cache.len(), 1, "nothing expired: emptied, then the new one");
    }
}
