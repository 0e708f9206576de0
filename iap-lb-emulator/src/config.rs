//! The emulator's typed configuration: the validated topology plus the few knobs only the local
//! emulator has.
//!
//! The topology (`fixtures/fortress.yaml`, loaded and validated by `libs/blueprint`) is the single
//! source of truth (architecture.md section 4): the project, the load balancer's domain, the
//! services with their ingress and invokers, IAP's settings, the gateway's service account and the
//! Firebase project all come from it, never from here. Beside it sit settings that have no
//! production counterpart: where keys come from, where the CA certificate goes, extra service
//! accounts for attack scenarios, service upstreams, and the relaxations.
//!
//! Secure by default: every relaxed setting is an enum variant, never a `bool`, and
//! [`Config::relaxations`] lists the ones in force so they are printed at start.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use blueprint::{InvokerIamCheck, ServiceAccountEmail, Topology, UpstreamAddr};

/// The emulator's whole configuration. No `Default`: build it from a topology with
/// [`Config::new`], then adjust the local knobs.
#[derive(Debug, Clone)]
pub struct Config {
    /// What the emulator plays. Shared: the e2e harness reads the same value.
    pub topology: Arc<Topology>,
    /// Service accounts of the project beyond those the topology names (its gateway account,
    /// its IAM members, IAP's service agent): e.g. a `rogue@...` account for attack scenarios.
    pub extra_service_accounts: Vec<ServiceAccount>,
    /// Which Firebase API keys are accepted.
    pub firebase_api_keys: ApiKeys,
    /// Whether Firebase sign-in hides which emails exist.
    pub email_privacy: EmailPrivacy,
    pub keys: KeySource,
    /// Where `ca.pem` is written. `None`: the CA certificate is only returned in memory.
    pub state_dir: Option<PathBuf>,
    /// `max-age` of the `Cache-Control` header on every key endpoint (google-behaviour item 78).
    pub key_cache_max_age: Duration,
    /// Whether IAP accepts Google OAuth access tokens as credentials (item 2).
    pub iap_access_tokens: IapAccessTokens,
    /// Where each service listens, on top of (and overriding) the topology's `local.upstreams`.
    pub upstreams: Vec<(String, UpstreamAddr)>,
    /// How Cloud Run's front end refuses a request its ingress setting does not admit.
    pub ingress_refusal: IngressRefusal,
    /// Peers (TCP source addresses) whose direct run.app requests count as internal traffic
    /// (a VPC in the same project, item 41). Empty: only the emulated load balancer is ever
    /// anything but the internet. Listed at start when not empty.
    pub internal_callers: Vec<IpAddr>,
    /// How long a service may take to answer before Cloud Run's 504 (default 300 s, item 50).
    pub request_timeout: Duration,
    /// The people the emulated Google sign-in page offers (IAP's browser flow). Starts as the
    /// topology's `local.testUsers`; empty: the page offers no one. Service accounts cannot sign
    /// in through a browser.
    pub test_users: Vec<String>,
}

/// The answer to a request ingress refuses. Both are GFE HTML pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IngressRefusal {
    /// 404 "Page not found": the best evidence (item 43, observed; a deployment note says the
    /// refusal "renders as HTTP 404"). The default.
    NotFound,
    /// 403 "Forbidden", for checking a client against the other plausible answer.
    Forbidden,
}

/// Whether IAP accepts OAuth 2.0 access tokens (item 2). Only the newest copies of Google's
/// authentication how-to list them; older ones list ID tokens and service-account JWTs only, and
/// the reference keeps the question open. The emulator follows the newest text by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IapAccessTokens {
    /// A Google access token the emulator issued, live, carrying `openid` and
    /// `https://www.googleapis.com/auth/userinfo.email`, authenticates its owner. The default.
    Accepted,
    /// Only JWTs authenticate (the older documentation); an access token is "Unable to parse
    /// JWT" as any other non-JWT bearer.
    Refused,
}

/// A service account beyond the topology's.
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
#[error("{source_name}: configuration field `{field}`: expected {expected}, found {found:?}")]
pub struct ConfigError {
    /// The topology file, or `emulator settings` for knobs given in code or flags.
    pub source_name: String,
    pub field: String,
    pub expected: &'static str,
    pub found: String,
}

impl Config {
    /// The topology with every local knob at its secure default: generated keys, no state
    /// directory, no extra accounts, Firebase API keys not checked (as the Firebase emulator;
    /// listed by [`Config::relaxations`]), email-enumeration protection on, keys cacheable for an
    /// hour, upstreams from the topology only, test users from the topology's `local.testUsers`.
    pub fn new(topology: impl Into<Arc<Topology>>) -> Self {
        let topology: Arc<Topology> = topology.into();
        let test_users = topology
            .local()
            .test_users()
            .iter()
            .map(|u| u.as_str().to_string())
            .collect();
        Self {
            topology,
            extra_service_accounts: Vec::new(),
            firebase_api_keys: ApiKeys::AnyNonEmpty,
            email_privacy: EmailPrivacy::EnumerationProtection,
            keys: KeySource::Generate,
            state_dir: None,
            key_cache_max_age: Duration::from_secs(3600),
            upstreams: Vec::new(),
            ingress_refusal: IngressRefusal::NotFound,
            iap_access_tokens: IapAccessTokens::Accepted,
            internal_callers: Vec::new(),
            request_timeout: Duration::from_secs(300),
            test_users,
        }
    }

    pub fn project_id(&self) -> &str {
        self.topology.project().id().as_str()
    }

    pub fn project_number(&self) -> u64 {
        self.topology.project().number().get()
    }

    pub fn region(&self) -> &str {
        self.topology.project().region().as_str()
    }

    /// The load balancer's domain.
    pub fn domain(&self) -> &str {
        self.topology.domain().as_str()
    }

    /// The metadata server's `default` account: the gateway's.
    pub fn default_service_account(&self) -> &str {
        self.topology.gateway().service_account().as_str()
    }

    /// `aud` of Firebase ID tokens and the suffix of their `iss` (item 80).
    pub fn firebase_project_id(&self) -> &str {
        self.topology.firebase().project_id().as_str()
    }

    /// What securetoken returns as `project_id` (item 82: the number). The Firebase project is
    /// taken to be the topology's project.
    pub fn firebase_project_number(&self) -> u64 {
        self.project_number()
    }

    /// Every service account the emulator plays, default first: the gateway's, the accounts
    /// the topology's IAM bindings name, IAP's service agent, then the extras. No duplicates.
    pub fn service_accounts(&self) -> Vec<ServiceAccount> {
        let topology = &self.topology;
        let mut out: Vec<ServiceAccount> = Vec::new();
        let mut push = |email: &str, unique_id: Option<String>| {
            if !out.iter().any(|a| a.email.eq_ignore_ascii_case(email)) {
                out.push(ServiceAccount {
                    email: email.to_string(),
                    unique_id,
                });
            }
        };
        push(self.default_service_account(), None);
        let members = topology
            .services()
            .iter()
            .flat_map(|s| {
                s.invokers()
                    .iter()
                    .chain(s.iap_bindings().iter().flat_map(|b| b.members()))
            })
            .chain(topology.iap().bindings().iter().flat_map(|b| b.members()));
        for member in members {
            if let Some(email) = member.service_account() {
                push(email.as_str(), None);
            }
        }
        push(topology.iap_service_agent().as_str(), None);
        for extra in &self.extra_service_accounts {
            push(&extra.email, extra.unique_id.clone());
        }
        out
    }

    /// The upstream of `service`: a local override, else the topology's `local.upstreams`.
    pub fn upstream(&self, service: &str) -> Option<&UpstreamAddr> {
        self.upstreams
            .iter()
            .rev()
            .find(|(name, _)| name == service)
            .map(|(_, addr)| addr)
            .or_else(|| self.topology.local().upstream(service))
    }

    /// Checks the local knobs (the topology was validated when it was loaded), naming the first
    /// bad one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |field: String, expected: &'static str, found: &str| ConfigError {
            source_name: "emulator settings".into(),
            field,
            expected,
            found: found.into(),
        };
        for (i, account) in self.extra_service_accounts.iter().enumerate() {
            if ServiceAccountEmail::parse(&account.email).is_err() {
                return Err(bad(
                    format!("extra_service_accounts[{i}].email"),
                    "a service account email such as NAME@PROJECT_ID.iam.gserviceaccount.com",
                    &account.email,
                ));
            }
            if let Some(id) = &account.unique_id
                && (id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()))
            {
                return Err(bad(
                    format!("extra_service_accounts[{i}].unique_id"),
                    "digits only",
                    id,
                ));
            }
        }
        if let ApiKeys::Only(keys) = &self.firebase_api_keys
            && (keys.is_empty() || keys.iter().any(String::is_empty))
        {
            return Err(bad(
                "firebase_api_keys".into(),
                "at least one non-empty key",
                &format!("{} keys", keys.len()),
            ));
        }
        for (i, user) in self.test_users.iter().enumerate() {
            let plausible = user
                .split_once('@')
                .is_some_and(|(a, d)| !a.is_empty() && d.contains('.') && !d.contains('@'));
            if !plausible || user.to_ascii_lowercase().ends_with(".gserviceaccount.com") {
                return Err(bad(
                    format!("test_users[{i}]"),
                    "a person's email (not a service account)",
                    user,
                ));
            }
        }
        if self.request_timeout.is_zero() {
            return Err(bad("request_timeout".into(), "a positive duration", "0 s"));
        }
        if self.key_cache_max_age.is_zero() {
            return Err(bad(
                "key_cache_max_age".into(),
                "a positive duration",
                "0 s",
            ));
        }
        for (i, (name, _)) in self.upstreams.iter().enumerate() {
            if self.topology.service(name).is_none() {
                return Err(bad(
                    format!("upstreams[{i}]"),
                    "the name of a service in the topology",
                    name,
                ));
            }
        }
        Ok(())
    }

    /// Settings in force that are weaker than production, one sentence each, for the start log.
    pub fn relaxations(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.firebase_api_keys == ApiKeys::AnyNonEmpty {
            out.push(
                "firebase_api_keys: any non-empty API key is accepted (Firebase Auth emulator behaviour)"
                    .to_string(),
            );
        }
        if !self.internal_callers.is_empty() {
            out.push(format!(
                "internal_callers: direct run.app requests from {:?} count as internal traffic",
                self.internal_callers
            ));
        }
        for service in self.topology.services() {
            if service.invoker_iam() == InvokerIamCheck::Disabled {
                out.push(format!(
                    "services.{}.invokerIamDisabled: Cloud Run's run.invoker check is off; \
                     ingress still applies (topology setting, as in production)",
                    service.name()
                ));
            }
        }
        if self.email_privacy == EmailPrivacy::Legacy {
            out.push(
                "email_privacy: email-enumeration protection is off (EMAIL_NOT_FOUND / INVALID_PASSWORD)"
                    .to_string(),
            );
        }
        out
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn topology() -> Topology {
        Topology::load(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../fixtures/fortress.yaml"
        ))
        .expect("fixtures/fortress.yaml loads")
    }

    fn check(edit: impl FnOnce(&mut Config), field: &str) {
        let mut config = Config::new(topology());
        edit(&mut config);
        let err = config.validate().expect_err("must be rejected");
        assert_eq!(err.field, field, "{err}");
    }

    #[test]
    fn the_fixture_with_default_knobs_is_valid_and_reads_the_topology() {
        let config = Config::new(topology());
        assert_eq!(config.validate(), Ok(()));
        assert_eq!(config.project_id(), "my-project");
        assert_eq!(config.project_number(), 123456789012);
        assert_eq!(config.domain(), "api.myawesomeapp.com");
        assert_eq!(
            config.default_service_account(),
            "my-gateway-sa@my-project.iam.gserviceaccount.com"
        );
    }

    #[test]
    fn service_accounts_are_the_gateways_the_members_and_iaps_agent_once_each() {
        let mut config = Config::new(topology());
        config.extra_service_accounts.push(ServiceAccount::new(
            "rogue-sa@my-project.iam.gserviceaccount.com",
        ));
        let emails: Vec<String> = config
            .service_accounts()
            .into_iter()
            .map(|a| a.email)
            .collect();
        assert_eq!(
            emails,
            vec![
                "my-gateway-sa@my-project.iam.gserviceaccount.com",
                "service-123456789012@gcp-sa-iap.iam.gserviceaccount.com",
                "rogue-sa@my-project.iam.gserviceaccount.com",
            ]
        );
    }

    #[test]
    fn bad_local_knobs_are_named() {
        check(
            |c| c.extra_service_accounts.push(ServiceAccount::new("nobody")),
            "extra_service_accounts[0].email",
        );
        check(
            |c| {
                c.extra_service_accounts.push(ServiceAccount {
                    email: "attacker@my-project.iam.gserviceaccount.com".into(),
                    unique_id: Some("12a".into()),
                })
            },
            "extra_service_accounts[0].unique_id",
        );
        check(
            |c| c.firebase_api_keys = ApiKeys::Only(vec![]),
            "firebase_api_keys",
        );
        check(
            |c| c.key_cache_max_age = Duration::ZERO,
            "key_cache_max_age",
        );
        check(
            |c| {
                c.test_users = vec![
                    "alice@example.com".into(),
                    "my-gateway-sa@my-project.iam.gserviceaccount.com".into(),
                ]
            },
            "test_users[1]",
        );
        check(
            |c| {
                c.upstreams.push((
                    "tea-service".into(),
                    UpstreamAddr::parse("127.0.0.1:1").expect("addr"),
                ))
            },
            "upstreams[0]",
        );
    }

    #[test]
    fn local_upstreams_override_the_topologys() {
        let mut config = Config::new(topology());
        assert!(config.upstream("smoothie-service").is_none());
        config.upstreams.push((
            "smoothie-service".into(),
            UpstreamAddr::parse("127.0.0.1:8081").expect("addr"),
        ));
        assert_eq!(
            config.upstream("smoothie-service").map(|a| a.as_str()),
            Some("127.0.0.1:8081")
        );
    }

    #[test]
    fn test_users_start_as_the_topologys_local_test_users() {
        let config = Config::new(topology());
        assert_eq!(config.test_users, vec!["alice@example.com".to_string()]);
        assert_eq!(config.validate(), Ok(()));
    }

    #[test]
    fn relaxed_settings_are_listed() {
        let mut config = Config::new(topology());
        assert_eq!(config.relaxations().len(), 1);
        config.firebase_api_keys = ApiKeys::Only(vec!["k".into()]);
        assert!(config.relaxations().is_empty());
        config.email_privacy = EmailPrivacy::Legacy;
        assert_eq!(config.relaxations().len(), 1);
    }
}
