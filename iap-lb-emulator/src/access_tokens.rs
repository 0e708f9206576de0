//! Google OAuth 2.0 access tokens the emulator issued, so IAP can accept them (item 2).
//!
//! Google's access tokens are opaque (`ya29.` and random text, item 76); whoever receives one
//! asks Google what it stands for. Here the emulator is Google, so it remembers every token it
//! hands out: whose it is, which scopes it carries and until when it is valid. A token the
//! emulator did not issue, or one past its `expires_in`, stands for no one.
//!
//! Issuers: the metadata server's `.../token` (scopes from `?scopes=`, else the account's
//! `cloud-platform`), the oauth2 JWT-bearer grant (the assertion's `scope` claim), and
//! [`crate::RunningEmulator::issue_access_token`] for people (what `gcloud auth
//! print-access-token` gives a signed-in user).
//!
//! The map sits behind one `std::sync::Mutex`, never held across an `.await`; expired entries
//! are dropped whenever a token is issued. Tokens are never logged.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::services::PrincipalKind;

/// Lifetime of every access token, as `expires_in` reports it (item 76: 3599).
pub const ACCESS_TOKEN_LIFETIME: Duration = Duration::from_secs(3599);
/// The prefix of Google access tokens (item 76: `"access_token":"ya29…"`).
pub const ACCESS_TOKEN_PREFIX: &str = "ya29.";
/// The scopes IAP requires of an access token (item 2).
pub const OPENID_SCOPE: &str = "openid";
pub const USERINFO_EMAIL_SCOPE: &str = "https://www.googleapis.com/auth/userinfo.email";
/// gcloud and the OAuth consent screen also spell the email scope `email`.
pub const EMAIL_SCOPE_ALIAS: &str = "email";

/// Who an access token stands for and what it may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessGrant {
    pub email: String,
    /// The numeric unique id (service accounts) or derived Google id (people).
    pub user_id: String,
    pub kind: PrincipalKind,
    pub scopes: Vec<String>,
}

impl AccessGrant {
    /// A grant to a service account of the project (the metadata server's and the token
    /// endpoint's tokens).
    pub fn to_service_account(
        account: &crate::service_accounts::Account,
        scopes: Vec<String>,
    ) -> Self {
        Self {
            email: account.email.clone(),
            user_id: account.unique_id.clone(),
            kind: PrincipalKind::ServiceAccount,
            scopes,
        }
    }

    /// Whether the grant carries `openid` and the userinfo email scope (item 2).
    pub fn allows_iap(&self) -> bool {
        let has = |s: &str| self.scopes.iter().any(|x| x == s);
        has(OPENID_SCOPE) && (has(USERINFO_EMAIL_SCOPE) || has(EMAIL_SCOPE_ALIAS))
    }
}

/// What a presented token turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Live(AccessGrant),
    Expired,
    Unknown,
}

#[derive(Debug)]
struct Entry {
    grant: AccessGrant,
    expires: Instant,
}

/// Every live access token the emulator issued.
#[derive(Debug, Default)]
pub struct AccessTokens {
    inner: Mutex<HashMap<String, Entry>>,
}

impl AccessTokens {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        match self.inner.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// A new token for `grant`, valid for [`ACCESS_TOKEN_LIFETIME`].
    pub fn issue(&self, grant: AccessGrant) -> String {
        self.issue_for(grant, ACCESS_TOKEN_LIFETIME)
    }

    /// A new token for `grant` valid for `lifetime` (tests use a zero lifetime for an expired
    /// token).
    pub fn issue_for(&self, grant: AccessGrant, lifetime: Duration) -> String {
        let token = format!(
            "{ACCESS_TOKEN_PREFIX}{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let now = Instant::now();
        let mut map = self.lock();
        // Keep expired entries a while so they answer `Expired`, not `Unknown`.
        map.retain(|_, e| e.expires + ACCESS_TOKEN_LIFETIME > now);
        map.insert(
            token.clone(),
            Entry {
                grant,
                expires: now + lifetime,
            },
        );
        token
    }

    /// What `token` stands for.
    pub fn lookup(&self, token: &str) -> Lookup {
        match self.lock().get(token) {
            Some(e) if e.expires > Instant::now() => Lookup::Live(e.grant.clone()),
            Some(_) => Lookup::Expired,
            None => Lookup::Unknown,
        }
    }
}

/// Scopes as OAuth writes them in one string (space-separated, RFC 6749 section 3.3) or as the
/// metadata server's `?scopes=` takes them (comma-separated).
pub fn parse_scopes(s: &str) -> Vec<String> {
    s.split([' ', ','])
        .filter(|x| !x.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(scopes: &[&str]) -> AccessGrant {
        AccessGrant {
            email: "alice@example.com".into(),
            user_id: "1".into(),
            kind: PrincipalKind::User,
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn issued_tokens_look_like_googles_and_are_remembered_until_they_expire() {
        let tokens = AccessTokens::default();
        let live = tokens.issue(grant(&["openid"]));
        assert!(live.starts_with("ya29."));
        assert_eq!(tokens.lookup(&live), Lookup::Live(grant(&["openid"])));
        let expired = tokens.issue_for(grant(&[]), Duration::ZERO);
        assert_eq!(tokens.lookup(&expired), Lookup::Expired);
        assert_eq!(tokens.lookup("ya29.never-issued"), Lookup::Unknown);
    }

    #[test]
    fn iap_needs_openid_and_the_email_scope() {
        assert!(grant(&["openid", USERINFO_EMAIL_SCOPE]).allows_iap());
        assert!(grant(&["email", "openid"]).allows_iap());
        assert!(!grant(&["openid"]).allows_iap());
        assert!(!grant(&[USERINFO_EMAIL_SCOPE]).allows_iap());
        assert!(!grant(&["https://www.googleapis.com/auth/cloud-platform"]).allows_iap());
    }

    #[test]
    fn scopes_split_on_spaces_and_commas() {
        assert_eq!(
            parse_scopes("openid https://www.googleapis.com/auth/userinfo.email"),
            vec!["openid", USERINFO_EMAIL_SCOPE]
        );
        assert_eq!(parse_scopes("a,b,,c"), vec!["a", "b", "c"]);
        assert!(parse_scopes("").is_empty());
    }
}
