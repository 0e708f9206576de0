//! The emulator's typed configuration, validated once before anything binds.
//!
//! Everything the emulator plays is described here: the project (id, number, region), the
//! load balancer's domain, the service accounts the metadata server and the token endpoint know,
//! the Firebase project, where keys come from and where state (the CA certificate) is written.
//! When `libs/blueprint` lands, `Config` is built from `fortress.yaml` by a converter; until then
//! callers (tests, the e2e harness, the CLI) build it directly.
//!
//! Secure by default: every relaxed setting is an enum variant, never a `bool`, and
//! [`Config::relaxations`] lists the ones in force so the binary prints them at start.

use std::path::PathBuf;
use std::time::Duration;

/// The emulator's whole configuration. No `Default`: a project has no sensible default.
#[derive(Debug, Clone)]
pub struct Config {
    pub project: Project,
    /// The load balancer's domain (`api.myawesomeapp.com`): requests with this Host go to the
    /// emulated external Application Load Balancer.
    pub domain: String,
    /// The metadata server's `default` account (the gateway's service account in fortress).
    pub default_service_account: ServiceAccount,
    /// Further accounts the metadata server answers for by email, and whose keys
    /// the token endpoint accepts.
    pub other_service_accounts: Vec<ServiceAccount>,
    pub firebase: Firebase,
    pub keys: KeySource,
    /// Where `ca.pem` is written. `None`: the CA certificate is only returned in memory.
    pub state_dir: Option<PathBuf>,
    /// `max-age` of the `Cache-Control` header on every key endpoint (google-behaviour item 78).
    pub key_cache_max_age: Duration,
}

/// The emulated Google Cloud project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    pub id: String,
    pub number: u64,
    pub region: String,
}

/// A service account the emulator knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAccount {
    pub email: String,
    /// The numeric unique id (`sub` and `azp` of its ID tokens, item 77). `None`: derived
    /// stably from the email, 21 digits starting with 1 like Google's.
    pub unique_id: Option<String>,
}

impl ServiceAccount {
    pub fn new(email: impl Into<String>) -> Self {
        Self {
            email: email.into(),
            unique_id: None,
        }
    }
}

/// The Firebase Auth project played at identitytoolkit and securetoken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Firebase {
    /// `aud` of Firebase ID tokens and the suffix of their `iss` (item 80).
    pub project_id: String,
    /// The project number securetoken returns as `project_id` on refresh (item 82).
    pub project_number: u64,
    pub api_keys: ApiKeys,
    pub email_privacy: EmailPrivacy,
}

/// Which `key=` values Identity Toolkit and securetoken accept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiKeys {
    /// Any non-empty key, as the Firebase Auth emulator does (item 83). Relaxed: printed at start.
    AnyNonEmpty,
    /// Only these keys; others get Google's "API key not valid" answer.
    Only(Vec<String>),
}

/// Whether sign-in hides which emails exist (item 82).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailPrivacy {
    /// Email-enumeration protection, the default for projects created on or after 2023-09-15:
    /// unknown email and wrong password both answer `INVALID_LOGIN_CREDENTIALS`.
    EnumerationProtection,
    /// Older projects: `EMAIL_NOT_FOUND` and `INVALID_PASSWORD`. Relaxed: printed at start.
    Legacy,
}

/// Where the issuers' signing keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// Fresh keys at every start: one RSA-2048 key each for accounts.google.com and
    /// securetoken, one P-256 key for IAP.
    Generate,
    /// PKCS#8 PEM files in `DIR/google/`, `DIR/securetoken/` and `DIR/iap/`; the kid is the file
    /// stem; the first file by name signs. A missing subdirectory means generated keys.
    Directory(PathBuf),
}

/// A configuration field that does not hold what it must.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration field `{field}`: expected {expected}, found {found:?}")]
pub struct ConfigError {
    pub field: String,
    pub expected: &'static str,
    pub found: String,
}

impl Config {
    /// Checks every field the emulator relies on, naming the first bad one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |field: &str, expected: &'static str, found: &str| ConfigError {
            field: field.into(),
            expected,
            found: found.into(),
        };
        if !is_project_id(&self.project.id) {
            return Err(bad(
                "project.id",
                "6-30 lowercase letters, digits or hyphens, starting with a letter",
                &self.project.id,
            ));
        }
        if self.project.number == 0 {
            return Err(bad("project.number", "a positive number", "0"));
        }
        if !is_dns_label_chain(&self.project.region) || !self.project.region.contains('-') {
            return Err(bad(
                "project.region",
                "a region such as us-central1",
                &self.project.region,
            ));
        }
        if !is_dns_label_chain(&self.domain) || !self.domain.contains('.') {
            return Err(bad(
                "domain",
                "a DNS name such as api.example.com",
                &self.domain,
            ));
        }
        let accounts = std::iter::once(("default_service_account", &self.default_service_account))
            .chain(
                self.other_service_accounts
                    .iter()
                    .map(|a| ("other_service_accounts[]", a)),
            );
        let mut seen = std::collections::HashSet::new();
        for (field, account) in accounts {
            if !is_email(&account.email) {
                return Err(bad(
                    &format!("{field}.email"),
                    "an email address",
                    &account.email,
                ));
            }
            if !seen.insert(account.email.to_ascii_lowercase()) {
                return Err(bad(
                    &format!("{field}.email"),
                    "an email not listed twice",
                    &account.email,
                ));
            }
            if let Some(id) = &account.unique_id
                && (id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()))
            {
                return Err(bad(&format!("{field}.unique_id"), "digits only", id));
            }
        }
        if !is_project_id(&self.firebase.project_id) {
            return Err(bad(
                "firebase.project_id",
                "a project id",
                &self.firebase.project_id,
            ));
        }
        if let ApiKeys::Only(keys) = &self.firebase.api_keys
            && (keys.is_empty() || keys.iter().any(String::is_empty))
        {
            return Err(bad(
                "firebase.api_keys",
                "at least one non-empty key",
                &format!("{} keys", keys.len()),
            ));
        }
        if self.key_cache_max_age.is_zero() {
            return Err(bad("key_cache_max_age", "a positive duration", "0 s"));
        }
        Ok(())
    }

    /// Settings in force that are weaker than production, one sentence each, for the start log.
    pub fn relaxations(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.firebase.api_keys == ApiKeys::AnyNonEmpty {
            out.push(
                "firebase.api_keys: any non-empty API key is accepted (Firebase Auth emulator behaviour)"
                    .to_string(),
            );
        }
        if self.firebase.email_privacy == EmailPrivacy::Legacy {
            out.push(
                "firebase.email_privacy: email-enumeration protection is off (EMAIL_NOT_FOUND / INVALID_PASSWORD)"
                    .to_string(),
            );
        }
        out
    }
}

fn is_project_id(s: &str) -> bool {
    (6..=30).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && !s.ends_with('-')
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn is_dns_label_chain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

fn is_email(s: &str) -> bool {
    let mut parts = s.splitn(2, '@');
    matches!((parts.next(), parts.next()), (Some(local), Some(domain))
        if !local.is_empty() && !domain.contains('@') && is_dns_label_chain(domain) && domain.contains('.'))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample() -> Config {
        Config {
            project: Project {
                id: "my-project".into(),
                number: 123456789012,
                region: "us-central1".into(),
            },
            domain: "api.myawesomeapp.com".into(),
            default_service_account: ServiceAccount::new(
                "my-gateway-sa@my-project.iam.gserviceaccount.com",
            ),
            other_service_accounts: vec![ServiceAccount::new(
                "rogue@my-project.iam.gserviceaccount.com",
            )],
            firebase: Firebase {
                project_id: "my-project".into(),
                project_number: 123456789012,
                api_keys: ApiKeys::AnyNonEmpty,
                email_privacy: EmailPrivacy::EnumerationProtection,
            },
            keys: KeySource::Generate,
            state_dir: None,
            key_cache_max_age: Duration::from_secs(3600),
        }
    }

    fn check(edit: impl FnOnce(&mut Config), field: &str) {
        let mut config = sample();
        edit(&mut config);
        let err = config.validate().expect_err("must be rejected");
        assert_eq!(err.field, field, "{err}");
    }

    #[test]
    fn the_sample_configuration_is_valid() {
        assert_eq!(sample().validate(), Ok(()));
    }

    #[test]
    fn bad_fields_are_named() {
        check(|c| c.project.id = "My_Project".into(), "project.id");
        check(|c| c.project.number = 0, "project.number");
        check(|c| c.project.region = "moon".into(), "project.region");
        check(|c| c.domain = "localhost".into(), "domain");
        check(
            |c| c.default_service_account.email = "nobody".into(),
            "default_service_account.email",
        );
        check(
            |c| c.other_service_accounts[0].unique_id = Some("12a".into()),
            "other_service_accounts[].unique_id",
        );
        check(
            |c| c.other_service_accounts[0].email = c.default_service_account.email.clone(),
            "other_service_accounts[].email",
        );
        check(
            |c| c.firebase.api_keys = ApiKeys::Only(vec![]),
            "firebase.api_keys",
        );
        check(
            |c| c.key_cache_max_age = Duration::ZERO,
            "key_cache_max_age",
        );
    }

    #[test]
    fn relaxed_settings_are_listed() {
        let mut config = sample();
        assert_eq!(config.relaxations().len(), 1);
        config.firebase.api_keys = ApiKeys::Only(vec!["k".into()]);
        assert!(config.relaxations().is_empty());
        config.firebase.email_privacy = EmailPrivacy::Legacy;
        assert_eq!(config.relaxations().len(), 1);
    }
}
