//! The step vocabulary. Every step is documented, with an example, in `e2e/STEPS.md`; the
//! `steps_are_documented` test fails when a step here is missing there or the reverse.
//!
//! Steps are generic: services, paths, headers, identities and values are parameters, so a new
//! scenario needs no Rust. Custom parameters:
//!
//! - `{door}`: `the gateway`, `the load balancer`, `the run.app URL of "SERVICE"`
//!   ([`crate::world::Door`]);
//! - `{token}`: `Firebase token`, `Google ID token` ([`crate::tokens::TokenKind`]);
//! - `{member}`: `the gateway service account`, `the IAP service agent`,
//!   `the rogue service account`, or a quoted IAM member such as `"allUsers"` ([`Member`]);
//! - `{responder}`: `the gateway`, `IAP`, `Cloud Run`, or a quoted service name ([`Responder`]).
//!
//! Quoted values may hold placeholders (`<IAP client id>`, `<run.app URL of NAME>`, ...),
//! expanded by [`crate::world::FortressWorld::expand`].

pub mod identity;
pub mod network;
pub mod observe;
pub mod project;
pub mod request;
pub mod response;

/// An IAM member named in a step.
#[derive(Debug, Clone, PartialEq, Eq, cucumber::Parameter)]
#[param(
    name = "member",
    regex = r#"the gateway service account|the IAP service agent|the rogue service account|"[^"]+""#
)]
pub enum Member {
    GatewayServiceAccount,
    IapServiceAgent,
    RogueServiceAccount,
    /// As written (`serviceAccount:...`, `user:...`, `allUsers`), placeholders allowed.
    Literal(String),
}

impl std::str::FromStr for Member {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "the gateway service account" => Self::GatewayServiceAccount,
            "the IAP service agent" => Self::IapServiceAgent,
            "the rogue service account" => Self::RogueServiceAccount,
            other => Self::Literal(other.trim_matches('"').to_string()),
        })
    }
}

impl Member {
    /// The IAM member string (`serviceAccount:EMAIL`, ...), placeholders still to expand.
    pub fn as_iam(&self) -> String {
        match self {
            Self::GatewayServiceAccount => "serviceAccount:<gateway service account>".into(),
            Self::IapServiceAgent => "serviceAccount:<IAP service agent>".into(),
            Self::RogueServiceAccount => "serviceAccount:<rogue service account>".into(),
            Self::Literal(m) => m.clone(),
        }
    }
}

/// Who wrote an answer.
#[derive(Debug, Clone, PartialEq, Eq, cucumber::Parameter)]
#[param(name = "responder", regex = r#"the gateway|IAP|Cloud Run|"[^"]+""#)]
pub enum Responder {
    /// The gateway's own JSON (`{"code":N,"message":...}`).
    Gateway,
    /// IAP (`X-Goog-IAP-Generated-Response: true`).
    Iap,
    /// Google Front End / Cloud Run's HTML pages.
    CloudRun,
    /// A service: it received the request and its answer came back.
    Service(String),
}

impl std::str::FromStr for Responder {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "the gateway" => Self::Gateway,
            "IAP" => Self::Iap,
            "Cloud Run" => Self::CloudRun,
            other => Self::Service(other.trim_matches('"').to_string()),
        })
    }
}

/// `Name: value` from a step.
pub fn header_pair(text: &str) -> Result<(String, String), String> {
    let (name, value) = text
        .split_once(':')
        .ok_or_else(|| format!("{text:?}: expected \"Name: value\""))?;
    Ok((name.trim().to_string(), value.trim().to_string()))
}
