//! Who is who: OAuth client ids, service accounts, IAM members and roles.
//!
//! These strings cross every box in the fortress (token audiences, IAM policies, IAP settings),
//! so each is parsed once here and carried as a type afterwards.

use std::fmt;
use std::str::FromStr;

use crate::error::InvalidValue;
use crate::project::{Domain, ProjectId, ProjectNumber, is_resource_id, text_newtype};

/// The suffix of every OAuth 2.0 client id Google issues.
const OAUTH_CLIENT_SUFFIX: &str = ".apps.googleusercontent.com";

/// An OAuth 2.0 client id, e.g. `987654321-abcdefghijklmnop.apps.googleusercontent.com`:
/// digits, a hyphen, letters and digits, then `.apps.googleusercontent.com`.
///
/// IAP's own client id is the audience a Google ID token must carry to pass IAP (the backend
/// service's `iap.oauth2ClientId`); further ids may be allowed through `programmaticClients`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OAuthClientId(String);

text_newtype!(OAuthClientId);

impl OAuthClientId {
    /// Parses an OAuth client id.
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        let well_formed = s
            .strip_suffix(OAUTH_CLIENT_SUFFIX)
            .and_then(|stem| stem.split_once('-'))
            .is_some_and(|(number, key)| {
                !number.is_empty()
                    && number.bytes().all(|b| b.is_ascii_digit())
                    && !key.is_empty()
                    && key.bytes().all(|b| b.is_ascii_alphanumeric())
            });
        if well_formed {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidValue::new(
                "an OAuth client id: DIGITS-LETTERS_OR_DIGITS.apps.googleusercontent.com",
                s,
            ))
        }
    }
}

/// The kinds of service account Google names differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServiceAccountKind {
    /// `ACCOUNT@PROJECT_ID.iam.gserviceaccount.com`, created by the project's owners.
    UserManaged,
    /// `service-PROJECT_NUMBER@gcp-sa-SERVICE.iam.gserviceaccount.com`: a Google service acting
    /// in the project, e.g. IAP's service agent. (Older agents in other pseudo-projects, such as
    /// `serverless-robot-prod`, have the user-managed shape and are classified as such.)
    ServiceAgent,
    /// `PROJECT_NUMBER-compute@developer.gserviceaccount.com`, the Compute Engine default account
    /// that Cloud Run uses when a service names none.
    ComputeDefault,
    /// `PROJECT_ID@appspot.gserviceaccount.com`, the App Engine default account.
    AppEngineDefault,
}

/// A service account email, e.g. `my-gateway-sa@my-project.iam.gserviceaccount.com` or
/// `service-123456789012@gcp-sa-iap.iam.gserviceaccount.com`.
///
/// Accepted forms (lowercase, as Google prints them): see [`ServiceAccountKind`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceAccountEmail(String);

text_newtype!(ServiceAccountEmail);

impl ServiceAccountEmail {
    const EXPECTED: &'static str = "a service account email: ACCOUNT@PROJECT_ID.iam.gserviceaccount.com, \
         service-PROJECT_NUMBER@gcp-sa-SERVICE.iam.gserviceaccount.com, \
         PROJECT_NUMBER-compute@developer.gserviceaccount.com or \
         PROJECT_ID@appspot.gserviceaccount.com";

    /// Parses a service account email.
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        match Self::kind_of(s) {
            Some(_) => Ok(Self(s.to_owned())),
            None => Err(InvalidValue::new(Self::EXPECTED, s)),
        }
    }

    /// IAP's service agent in a project: the identity IAP uses when it calls Cloud Run
    /// (google-behaviour item 39: it needs `roles/run.invoker` on the service).
    pub fn iap_service_agent(project_number: ProjectNumber) -> Self {
        Self(format!(
            "service-{project_number}@gcp-sa-iap.iam.gserviceaccount.com"
        ))
    }

    /// Which kind of account this is.
    pub fn kind(&self) -> ServiceAccountKind {
        // Every constructor checked the form, so the fallback is never taken.
        Self::kind_of(&self.0).unwrap_or(ServiceAccountKind::UserManaged)
    }

    /// The part before `@`.
    pub fn account(&self) -> &str {
        self.0
            .split_once('@')
            .map_or(&*self.0, |(account, _)| account)
    }

    fn kind_of(s: &str) -> Option<ServiceAccountKind> {
        let (account, domain) = s.split_once('@')?;
        if let Some(project) = domain.strip_suffix(".iam.gserviceaccount.com") {
            // Service agents live in Google-owned pseudo-projects (`gcp-sa-iap`) whose names
            // follow project-id rules, so one check covers both.
            let agent = project.starts_with("gcp-sa-")
                && account
                    .strip_prefix("service-")
                    .is_some_and(|number| ProjectNumber::parse(number).is_ok());
            if ProjectId::parse(project).is_err() {
                None
            } else if agent {
                Some(ServiceAccountKind::ServiceAgent)
            } else if is_resource_id(account, 6, 30) {
                Some(ServiceAccountKind::UserManaged)
            } else {
                None
            }
        } else if domain == "developer.gserviceaccount.com" {
            let number = account.strip_suffix("-compute")?;
            ProjectNumber::parse(number)
                .ok()
                .map(|_| ServiceAccountKind::ComputeDefault)
        } else if domain == "appspot.gserviceaccount.com" {
            ProjectId::parse(account)
                .ok()
                .map(|_| ServiceAccountKind::AppEngineDefault)
        } else {
            None
        }
    }
}

/// `local@domain.tld` with no spaces: enough to catch a missing or misplaced `@` without
/// pretending to implement RFC 5322.
fn is_plausible_email(s: &str) -> bool {
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !s.chars().any(|c| c.is_whitespace() || c.is_control())
        }
        None => false,
    }
}

/// A person's Google account email, e.g. `alice@example.com`: a test identity the emulated
/// Google sign-in page offers, and who `user:EMAIL` IAM members name. Lowercase, so it compares
/// as Google compares emails; never a service account (those cannot sign in in a browser).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserEmail(String);

text_newtype!(UserEmail);

impl UserEmail {
    /// Parses a person's email.
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        let lower = s.to_ascii_lowercase();
        if is_plausible_email(s) && s == lower && !lower.ends_with(".gserviceaccount.com") {
            Ok(Self(lower))
        } else {
            Err(InvalidValue::new(
                "a person's email in lowercase, e.g. alice@example.com (not a service account)",
                s,
            ))
        }
    }

    /// The IAM member naming this person: `user:EMAIL`.
    pub fn member(&self) -> Member {
        Member::User(self.0.clone())
    }
}

/// An IAM policy member, written as in an IAM policy binding: `serviceAccount:EMAIL`,
/// `user:EMAIL`, `group:EMAIL`, `domain:DOMAIN`, `allUsers` or `allAuthenticatedUsers`.
///
/// Workload-identity principals (`principal://`, `principalSet://`) and `deleted:` members are
/// refused: nothing in the fortress uses them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Member {
    /// `allUsers`: anyone, signed in or not.
    AllUsers,
    /// `allAuthenticatedUsers`: anyone with a Google identity.
    AllAuthenticatedUsers,
    /// `serviceAccount:EMAIL`.
    ServiceAccount(ServiceAccountEmail),
    /// `user:EMAIL`, a Google account.
    User(String),
    /// `group:EMAIL`, a Google group.
    Group(String),
    /// `domain:DOMAIN`, every account of a Google Workspace or Cloud Identity domain.
    Domain(Domain),
}

impl Member {
    const EXPECTED: &'static str = "an IAM member: serviceAccount:EMAIL, user:EMAIL, group:EMAIL, \
         domain:DOMAIN, allUsers or allAuthenticatedUsers";

    /// Parses an IAM member string.
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        let refuse = || InvalidValue::new(Self::EXPECTED, s);
        match s {
            "allUsers" => return Ok(Self::AllUsers),
            "allAuthenticatedUsers" => return Ok(Self::AllAuthenticatedUsers),
            _ => {}
        }
        let (prefix, rest) = s.split_once(':').ok_or_else(refuse)?;
        match prefix {
            "serviceAccount" => ServiceAccountEmail::parse(rest)
                .map(Self::ServiceAccount)
                .map_err(|e| {
                    InvalidValue::new(format!("serviceAccount: followed by {}", e.expected()), s)
                }),
            "user" if is_plausible_email(rest) => Ok(Self::User(rest.to_owned())),
            "group" if is_plausible_email(rest) => Ok(Self::Group(rest.to_owned())),
            "domain" => Domain::parse(rest).map(Self::Domain).map_err(|_| refuse()),
            _ => Err(refuse()),
        }
    }

    /// The service account, when this member is one.
    pub fn service_account(&self) -> Option<&ServiceAccountEmail> {
        match self {
            Self::ServiceAccount(email) => Some(email),
            _ => None,
        }
    }
}

impl fmt::Display for Member {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AllUsers => f.write_str("allUsers"),
            Self::AllAuthenticatedUsers => f.write_str("allAuthenticatedUsers"),
            Self::ServiceAccount(email) => write!(f, "serviceAccount:{email}"),
            Self::User(email) => write!(f, "user:{email}"),
            Self::Group(email) => write!(f, "group:{email}"),
            Self::Domain(domain) => write!(f, "domain:{domain}"),
        }
    }
}

impl FromStr for Member {
    type Err = InvalidValue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// An IAM role: predefined `roles/NAME` (e.g. `roles/iap.httpsResourceAccessor`) or custom
/// `projects/PROJECT_ID/roles/NAME` / `organizations/NUMBER/roles/NAME`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Role(String);

text_newtype!(Role);

impl Role {
    /// The role Cloud Run checks before it lets a request reach a private service.
    pub const RUN_INVOKER: &'static str = "roles/run.invoker";
    /// The role IAP checks before it lets a request through ("IAP-secured Web App User").
    pub const IAP_HTTPS_RESOURCE_ACCESSOR: &'static str = "roles/iap.httpsResourceAccessor";

    /// Parses a role name.
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        let name_ok = |name: &str| {
            !name.is_empty()
                && name.len() <= 64
                && !name.starts_with('.')
                && !name.ends_with('.')
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_')
        };
        let well_formed = if let Some(name) = s.strip_prefix("roles/") {
            name_ok(name)
        } else if let Some(rest) = s.strip_prefix("projects/") {
            rest.split_once("/roles/")
                .is_some_and(|(project, name)| ProjectId::parse(project).is_ok() && name_ok(name))
        } else if let Some(rest) = s.strip_prefix("organizations/") {
            rest.split_once("/roles/").is_some_and(|(org, name)| {
                !org.is_empty() && org.bytes().all(|b| b.is_ascii_digit()) && name_ok(name)
            })
        } else {
            false
        };
        if well_formed {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidValue::new(
                "an IAM role: roles/NAME, projects/PROJECT_ID/roles/NAME or \
                 organizations/NUMBER/roles/NAME",
                s,
            ))
        }
    }

    /// True for `roles/iap.httpsResourceAccessor`.
    pub fn is_iap_https_resource_accessor(&self) -> bool {
        self.0 == Self::IAP_HTTPS_RESOURCE_ACCESSOR
    }
}

/// One IAM policy binding: a role and the members holding it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IamBinding {
    role: Role,
    members: Vec<Member>,
}

impl IamBinding {
    /// A binding of `members` to `role`.
    pub fn new(role: Role, members: Vec<Member>) -> Self {
        Self { role, members }
    }

    /// The role granted.
    pub fn role(&self) -> &Role {
        &self.role
    }

    /// The members holding it, in file order.
    pub fn members(&self) -> &[Member] {
        &self.members
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oauth_client_ids_need_digits_key_and_google_suffix() {
        assert!(
            OAuthClientId::parse("987654321-abcdefghijklmnop.apps.googleusercontent.com").is_ok()
        );
        for bad in [
            "987654321-abcdefghijklmnop",
            "abc-def.apps.googleusercontent.com",
            "987654321.apps.googleusercontent.com",
            "987654321-.apps.googleusercontent.com",
            "987654321-ab_cd.apps.googleusercontent.com",
            "987654321-abc.apps.googleusercontent.com.evil.com",
        ] {
            assert!(OAuthClientId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn service_accounts_are_classified_by_form() {
        let kind = |s: &str| ServiceAccountEmail::parse(s).map(|e| e.kind());
        assert_eq!(
            kind("my-gateway-sa@my-project.iam.gserviceaccount.com"),
            Ok(ServiceAccountKind::UserManaged)
        );
        assert_eq!(
            kind("service-123456789012@gcp-sa-iap.iam.gserviceaccount.com"),
            Ok(ServiceAccountKind::ServiceAgent)
        );
        assert_eq!(
            kind("123456789012-compute@developer.gserviceaccount.com"),
            Ok(ServiceAccountKind::ComputeDefault)
        );
        assert_eq!(
            kind("my-project@appspot.gserviceaccount.com"),
            Ok(ServiceAccountKind::AppEngineDefault)
        );
        for bad in [
            "my-gateway-sa@my-project.iam.gserviceaccount.org",
            "My-Gateway@my-project.iam.gserviceaccount.com",
            "sa@my-project.iam.gserviceaccount.com",
            "my-gateway-sa@my-project",
            "alice@example.com",
            "abc-compute@developer.gserviceaccount.com",
            "my-gateway-sa@@my-project.iam.gserviceaccount.com",
        ] {
            assert!(ServiceAccountEmail::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn iap_service_agent_is_named_after_the_project_number() {
        let number = ProjectNumber::parse("123456789012").expect("valid number");
        let agent = ServiceAccountEmail::iap_service_agent(number);
        assert_eq!(
            agent.as_str(),
            "service-123456789012@gcp-sa-iap.iam.gserviceaccount.com"
        );
        assert_eq!(agent.kind(), ServiceAccountKind::ServiceAgent);
        assert_eq!(agent.account(), "service-123456789012");
    }

    #[test]
    fn user_emails_are_lowercase_people_never_service_accounts() {
        let alice = UserEmail::parse("alice@example.com").expect("alice");
        assert_eq!(alice.member().to_string(), "user:alice@example.com");
        for bad in [
            "Alice@example.com",
            "alice",
            "alice@example",
            "my-gateway-sa@my-project.iam.gserviceaccount.com",
            "a b@example.com",
        ] {
            assert!(UserEmail::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn members_round_trip_through_display() {
        for text in [
            "allUsers",
            "allAuthenticatedUsers",
            "serviceAccount:my-gateway-sa@my-project.iam.gserviceaccount.com",
            "user:alice@example.com",
            "group:admins@example.com",
            "domain:example.com",
        ] {
            assert_eq!(
                Member::parse(text).map(|m| m.to_string()),
                Ok(text.to_owned())
            );
        }
        for bad in [
            "alice@example.com",
            "user:alice",
            "serviceAccount:alice@example.com",
            "allusers",
            "principal://iam.googleapis.com/x",
            "deleted:user:alice@example.com?uid=1",
            "domain:Example.com",
        ] {
            assert!(Member::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn roles_are_predefined_or_custom() {
        for good in [
            "roles/run.invoker",
            "roles/iap.httpsResourceAccessor",
            "roles/owner",
            "projects/my-project/roles/myRole_1",
            "organizations/1234/roles/custom.role",
        ] {
            assert!(Role::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "run.invoker",
            "roles/",
            "roles/run invoker",
            "roles/run/invoker",
            "projects/x/roles/r",
            "organizations/abc/roles/r",
        ] {
            assert!(Role::parse(bad).is_err(), "{bad}");
        }
    }
}
