//! IAP's browser flow: the one-time codes, tickets and sessions between the sign-in redirect and
//! a cookie-authenticated request.
//!
//! The flow, as the emulator plays it (google-behaviour items 13, 15, 34-36; the hops inside
//! Google are not documented, so the emulator's own are named here):
//!
//! 1. IAP answers a request without credentials with a 302 to
//!    `accounts.google.com/o/oauth2/v2/auth?client_id=IAP_CLIENT&response_type=code&scope=openid+email&redirect_uri=https://iap.googleapis.com/v1/oauth/clientIds/IAP_CLIENT:handleRedirect&state=...`
//!    (item 36). The `state` is an ES256 JWT signed by IAP naming the target URI, as the 2021
//!    capture in item 36 shows.
//! 2. The emulated sign-in page there lists the configured test identities
//!    (`Config::test_users`); choosing one issues a one-time **code** (5 minutes) and redirects to
//!    IAP's `handleRedirect` URI with `code` and `state` (item 13).
//! 3. `iap.googleapis.com/v1/oauth/clientIds/CLIENT:handleRedirect` verifies the state, redeems
//!    the code, and sends the browser to the app's own `/_gcp_iap/authenticate` (a `/_gcp_iap/`
//!    path, item 34) with a one-time **ticket** (1 minute): cookies can only be set by the app's
//!    own host.
//! 4. There the load balancer redeems the ticket, sets `__Host-GCP_IAP_AUTH_TOKEN_<16 hex>` (an
//!    opaque session value) and `GCP_IAP_UID=<id>` (item 35), and redirects to the target.
//! 5. Later requests carrying the cookie are authenticated by the **session** it names; IAM is
//!    still checked on every request (item 36). `gcp-iap-mode=CLEAR_LOGIN_COOKIE` ends it.
//!
//! All three maps live behind one `std::sync::Mutex`, never held across an `.await`; codes and
//! tickets are removed when redeemed, so neither can be replayed.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::iap::Identity;

const CODE_LIFETIME: Duration = Duration::from_secs(300);
const TICKET_LIFETIME: Duration = Duration::from_secs(60);

#[derive(Debug)]
struct Code {
    email: String,
    client_id: String,
    expires: Instant,
}

#[derive(Debug)]
struct Ticket {
    identity: Identity,
    target: String,
    expires: Instant,
}

/// Codes, tickets and sessions of the browser flow.
#[derive(Debug, Default)]
pub struct SignIns {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    codes: HashMap<String, Code>,
    tickets: HashMap<String, Ticket>,
    sessions: HashMap<String, Identity>,
}

fn random(bytes: usize) -> String {
    let raw: Vec<u8> = std::iter::repeat_with(|| *uuid::Uuid::new_v4().as_bytes())
        .flatten()
        .take(bytes)
        .collect();
    URL_SAFE_NO_PAD.encode(raw)
}

impl SignIns {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        match self.inner.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// A one-time authorization code for `email` signing in to `client_id`.
    pub fn issue_code(&self, email: &str, client_id: &str) -> String {
        let code = format!("4/{}", random(32));
        let mut inner = self.lock();
        let now = Instant::now();
        inner.codes.retain(|_, c| c.expires > now);
        inner.codes.insert(
            code.clone(),
            Code {
                email: email.to_string(),
                client_id: client_id.to_string(),
                expires: now + CODE_LIFETIME,
            },
        );
        code
    }

    /// The email behind `code`, if it is live and for `client_id`. Redeemed at most once.
    pub fn redeem_code(&self, code: &str, client_id: &str) -> Option<String> {
        let code = self.lock().codes.remove(code)?;
        (code.client_id == client_id && code.expires > Instant::now()).then_some(code.email)
    }

    /// A one-time ticket that turns into a session at the app's host.
    pub fn issue_ticket(&self, identity: Identity, target: &str) -> String {
        let ticket = random(32);
        let mut inner = self.lock();
        let now = Instant::now();
        inner.tickets.retain(|_, t| t.expires > now);
        inner.tickets.insert(
            ticket.clone(),
            Ticket {
                identity,
                target: target.to_string(),
                expires: now + TICKET_LIFETIME,
            },
        );
        ticket
    }

    /// The identity and target behind `ticket`, if live. Redeemed at most once.
    pub fn redeem_ticket(&self, ticket: &str) -> Option<(Identity, String)> {
        let ticket = self.lock().tickets.remove(ticket)?;
        (ticket.expires > Instant::now()).then_some((ticket.identity, ticket.target))
    }

    /// A new session for `identity`; returns the cookie value (opaque, `AeuTOJ`-prefixed like
    /// the values item 35 records).
    pub fn open_session(&self, identity: Identity) -> String {
        let value = format!("AeuTOJ{}", random(96));
        self.lock().sessions.insert(value.clone(), identity);
        value
    }

    pub fn session(&self, value: &str) -> Option<Identity> {
        self.lock().sessions.get(value).cloned()
    }

    pub fn close_session(&self, value: &str) -> bool {
        self.lock().sessions.remove(value).is_some()
    }

    /// Ends every browser session, as signing out of Google ends IAP's (item 36); returns how
    /// many there were. Their cookies then count as no credential.
    pub fn close_all_sessions(&self) -> usize {
        let mut inner = self.lock();
        let count = inner.sessions.len();
        inner.sessions.clear();
        count
    }
}

/// `__Host-GCP_IAP_AUTH_TOKEN_<16 uppercase hex>`: the suffix differs per app/client (item 35);
/// here it is derived from the OAuth client id.
pub fn session_cookie_name(client_id: &str) -> String {
    let digest = Sha256::digest(client_id.as_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02X}")).collect();
    format!("__Host-GCP_IAP_AUTH_TOKEN_{hex}")
}

/// The value of cookie `name` in a `Cookie` header.
pub fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::PrincipalKind;

    fn alice() -> Identity {
        Identity {
            email: "alice@example.com".into(),
            user_id: "1".into(),
            kind: PrincipalKind::User,
        }
    }

    #[test]
    fn codes_and_tickets_are_one_time_and_bound_to_their_client() {
        let s = SignIns::default();
        let code = s.issue_code("alice@example.com", "client-a");
        assert_eq!(s.redeem_code(&code, "client-b"), None);
        let code = s.issue_code("alice@example.com", "client-a");
        assert_eq!(
            s.redeem_code(&code, "client-a").as_deref(),
            Some("alice@example.com")
        );
        assert_eq!(s.redeem_code(&code, "client-a"), None, "replayed");
        let ticket = s.issue_ticket(alice(), "https://x/y");
        assert!(s.redeem_ticket(&ticket).is_some());
        assert!(s.redeem_ticket(&ticket).is_none(), "replayed");
    }

    #[test]
    fn sessions_open_and_close() {
        let s = SignIns::default();
        let v = s.open_session(alice());
        assert!(v.starts_with("AeuTOJ"));
        assert_eq!(s.session(&v), Some(alice()));
        assert!(s.close_session(&v));
        assert_eq!(s.session(&v), None);
    }

    #[test]
    fn the_cookie_name_is_host_prefixed_with_16_hex_and_cookies_parse() {
        let name = session_cookie_name("987654321-abc.apps.googleusercontent.com");
        assert!(name.starts_with("__Host-GCP_IAP_AUTH_TOKEN_"));
        assert_eq!(name.len(), "__Host-GCP_IAP_AUTH_TOKEN_".len() + 16);
        assert_eq!(
            cookie("a=1; GCP_IAP_UID=42; b=2", "GCP_IAP_UID"),
            Some("42")
        );
        assert_eq!(cookie("a=1", "GCP_IAP_UID"), None);
    }
}
