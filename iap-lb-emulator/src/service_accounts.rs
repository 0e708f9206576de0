//! The service accounts the emulated project holds, with their unique ids and user-managed keys.
//!
//! The metadata server answers for the `default` account and for others by email; the token
//! endpoint accepts JWTs each account signs with one of its keys; `www.googleapis.com` publishes
//! those keys at the account's robot x509 and JWK URLs, as Google does. Keys are minted on
//! demand (`/_emulator/service-accounts/EMAIL/key`, like `gcloud iam service-accounts keys
//! create`): the private half goes to the caller once and is never stored on disk.

use std::collections::BTreeMap;

use google_tokens::{Alg, KeySet, SigningKey};
use sha2::{Digest, Sha256};

use crate::config::ServiceAccount;
use crate::keys::{KeyRing, KeysError, PublishedKey};

/// One account: email, numeric unique id and its user-managed keys.
#[derive(Debug)]
pub struct Account {
    pub email: String,
    pub unique_id: String,
    pub keys: KeyRing,
}

impl Account {
    /// Its keys as a verification set, or `None` while it has none.
    pub fn key_set(&self) -> Option<std::sync::Arc<KeySet>> {
        // Empty (no key minted yet) or unusable: either way nothing verifies.
        self.keys.key_set().ok()
    }
}

/// Every account, by lowercased email; one of them is `default`.
#[derive(Debug)]
pub struct ServiceAccounts {
    default: String,
    by_email: BTreeMap<String, Account>,
}

impl ServiceAccounts {
    /// The accounts, the first being `default`.
    pub fn new(accounts: &[ServiceAccount]) -> Self {
        let by_email = accounts
            .iter()
            .map(|a| {
                let email = a.email.to_ascii_lowercase();
                let unique_id = a
                    .unique_id
                    .clone()
                    .unwrap_or_else(|| derived_unique_id(&email));
                let account = Account {
                    email: email.clone(),
                    unique_id,
                    keys: KeyRing::new("service-account", Alg::Rs256, Vec::new()),
                };
                (email, account)
            })
            .collect();
        Self {
            default: accounts
                .first()
                .map(|a| a.email.to_ascii_lowercase())
                .unwrap_or_default(),
            by_email,
        }
    }

    /// `default` or an email (any case).
    pub fn resolve(&self, name: &str) -> Option<&Account> {
        if name == "default" {
            return self.by_email.get(&self.default);
        }
        if name.bytes().any(|b| b.is_ascii_uppercase()) {
            self.by_email.get(&name.to_ascii_lowercase())
        } else {
            // Already lowercase, as the keys are: no copy to look it up.
            self.by_email.get(name)
        }
    }

    /// The account whose numeric unique id is `id` (`sub` of its ID tokens).
    pub fn by_unique_id(&self, id: &str) -> Option<&Account> {
        self.by_email.values().find(|a| a.unique_id == id)
    }

    pub fn default_account(&self) -> Option<&Account> {
        self.by_email.get(&self.default)
    }

    pub fn emails(&self) -> impl Iterator<Item = &str> {
        self.by_email.keys().map(String::as_str)
    }

    /// Mints a new RSA key for `email` and publishes it; returns the private key for the
    /// caller's key file. Blocking (RSA generation).
    pub fn mint_key(&self, email: &str) -> Result<Option<std::sync::Arc<SigningKey>>, KeysError> {
        let Some(account) = self.resolve(email) else {
            return Ok(None);
        };
        let key = crate::keys::generate(Alg::Rs256)?;
        let published = PublishedKey::new(key, &account.email)?;
        let signing = published.key.clone();
        account.keys.add(published);
        Ok(Some(signing))
    }
}

/// 21 digits starting with 1, stable per email: the shape of Google's service-account ids.
pub fn derived_unique_id(email: &str) -> String {
    let digest = Sha256::digest(email.as_bytes());
    let mut n = u128::from_be_bytes(digest[..16].try_into().unwrap_or([0; 16]));
    let mut digits = String::from("1");
    for _ in 0..20 {
        digits.push(char::from(b'0' + (n % 10) as u8));
        n /= 10;
    }
    digits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_ids_are_stable_google_shaped_and_distinct() {
        let a = derived_unique_id("a@p.iam.gserviceaccount.com");
        assert_eq!(a, derived_unique_id("a@p.iam.gserviceaccount.com"));
        assert_eq!(a.len(), 21);
        assert!(a.starts_with('1') && a.bytes().all(|b| b.is_ascii_digit()));
        assert_ne!(a, derived_unique_id("b@p.iam.gserviceaccount.com"));
    }

    #[test]
    fn default_and_emails_resolve_and_minted_keys_are_published() {
        let accounts = ServiceAccounts::new(&[
            ServiceAccount::new("GW@p.iam.gserviceaccount.com"),
            ServiceAccount {
                email: "other@p.iam.gserviceaccount.com".into(),
                unique_id: Some("42".into()),
            },
        ]);
        assert_eq!(
            accounts.resolve("default").map(|a| a.email.as_str()),
            Some("gw@p.iam.gserviceaccount.com")
        );
        assert_eq!(
            accounts
                .resolve("Other@p.iam.gserviceaccount.com")
                .map(|a| a.unique_id.as_str()),
            Some("42")
        );
        assert!(
            accounts
                .resolve("nobody@p.iam.gserviceaccount.com")
                .is_none()
        );
        let other = accounts
            .resolve("other@p.iam.gserviceaccount.com")
            .expect("other");
        assert!(other.key_set().is_none());
        let key = accounts
            .mint_key("other@p.iam.gserviceaccount.com")
            .expect("mint")
            .expect("known");
        assert!(other.key_set().expect("keys").contains(key.kid()));
    }
}
