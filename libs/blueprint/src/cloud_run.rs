//! Cloud Run's vocabulary: service names, ingress settings and run.app hosts.
//!
//! The emulator plays Cloud Run's front end from these types, so their rules follow Google's:
//! ingress per google-behaviour items 41-42, run.app host forms as Google prints them.

use std::fmt;
use std::str::FromStr;

use crate::error::InvalidValue;
use crate::project::{ProjectNumber, Region, is_resource_id, text_newtype};

/// A Cloud Run service name, e.g. `smoothie-service`: 1 to 49 lowercase letters, digits or
/// hyphens, starting with a letter and not ending with a hyphen.
///
/// 49 is Cloud Run's limit: the legacy host `NAME-HASH-CODE.a.run.app` must fit one 63-character
/// DNS label (49 + 1 + 10 + 1 + 2).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceName(String);

text_newtype!(ServiceName);

impl ServiceName {
    /// Parses a Cloud Run service name.
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        if is_resource_id(s, 1, 49) {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidValue::new(
                "a Cloud Run service name: 1 to 49 lowercase letters, digits or hyphens, \
                 starting with a letter and not ending with a hyphen",
                s,
            ))
        }
    }
}

/// Where a request to a Cloud Run service comes from, as far as ingress cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IngressSource {
    /// The public internet calling the run.app URL directly (the "back door").
    Internet,
    /// An external Application Load Balancer (global, regional or classic), e.g. through a
    /// serverless NEG.
    ExternalLoadBalancer,
    /// Internal sources: VPC networks of the project, internal load balancers, VPC-SC perimeter
    /// members and some Google services of the same project.
    Internal,
}

/// A Cloud Run service's ingress setting (google-behaviour items 41-42).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ingress {
    /// `all`: every source, including the internet on the run.app URL.
    All,
    /// `internal`: internal sources only.
    Internal,
    /// `internal-and-cloud-load-balancing`: internal sources and external Application Load
    /// Balancers; the fortress setting.
    InternalAndCloudLoadBalancing,
}

impl Ingress {
    /// Every setting, in gcloud's order.
    pub const ALL: [Ingress; 3] = [
        Self::All,
        Self::Internal,
        Self::InternalAndCloudLoadBalancing,
    ];

    /// Parses gcloud's spelling (`--ingress=all|internal|internal-and-cloud-load-balancing`),
    /// which is also the value of the v1 annotation `run.googleapis.com/ingress`.
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        Self::ALL
            .into_iter()
            .find(|ingress| ingress.as_gcloud() == s)
            .ok_or_else(|| {
                InvalidValue::new("one of all, internal, internal-and-cloud-load-balancing", s)
            })
    }

    /// Parses the run v2 API enum name (`INGRESS_TRAFFIC_ALL`, ...). `INGRESS_TRAFFIC_UNSPECIFIED`
    /// and `INGRESS_TRAFFIC_NONE` have no gcloud spelling and are refused.
    pub fn from_api_name(s: &str) -> Result<Self, InvalidValue> {
        Self::ALL
            .into_iter()
            .find(|ingress| ingress.as_api_name() == s)
            .ok_or_else(|| {
                InvalidValue::new(
                    "one of INGRESS_TRAFFIC_ALL, INGRESS_TRAFFIC_INTERNAL_ONLY, \
                     INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER",
                    s,
                )
            })
    }

    /// gcloud's spelling, e.g. `internal-and-cloud-load-balancing`.
    pub fn as_gcloud(self) -> &'static str {
        match self {
            Self::All => "all",
            Self::Internal => "internal",
            Self::InternalAndCloudLoadBalancing => "internal-and-cloud-load-balancing",
        }
    }

    /// The `run.googleapis.com/v2` `Service.ingress` enum name, e.g.
    /// `INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER`.
    pub fn as_api_name(self) -> &'static str {
        match self {
            Self::All => "INGRESS_TRAFFIC_ALL",
            Self::Internal => "INGRESS_TRAFFIC_INTERNAL_ONLY",
            Self::InternalAndCloudLoadBalancing => "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER",
        }
    }

    /// Whether a request from `source` gets past ingress. Refused requests get Google's HTML 404
    /// (item 43), which is the emulator's business.
    pub fn admits(self, source: IngressSource) -> bool {
        match self {
            Self::All => true,
            Self::Internal => source == IngressSource::Internal,
            Self::InternalAndCloudLoadBalancing => source != IngressSource::Internet,
        }
    }
}

impl fmt::Display for Ingress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_gcloud())
    }
}

impl FromStr for Ingress {
    type Err = InvalidValue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Longest JSON list of custom audiences Cloud Run accepts per service (item 46: "capped at
/// 32,768 characters").
pub const MAX_CUSTOM_AUDIENCES_JSON_CHARS: usize = 32_768;

/// A Cloud Run custom audience (`customAudiences` of the v2 `Service`, gcloud
/// `--add-custom-audiences`): a further `aud` the invoker check accepts in an ID token besides
/// the service's run.app URLs (item 46). Google takes any string; custom domains such as
/// `https://api.example.com` are the usual choice. Here: 1 to 2048 characters, no whitespace or
/// control characters (a value that could not travel in a token request unescaped).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CustomAudience(String);

text_newtype!(CustomAudience);

impl CustomAudience {
    /// Parses a custom audience.
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        if !s.is_empty()
            && s.len() <= 2048
            && !s.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidValue::new(
                "a custom audience: 1 to 2048 characters without spaces, e.g. https://api.example.com",
                s,
            ))
        }
    }
}

/// Whether Cloud Run checks `roles/run.invoker` on a request (items 39, 45).
///
/// Not a `bool`: turning the check off is Google's `invokerIamDisabled: true` (gcloud
/// `--no-invoker-iam-check`), a relaxation the emulator lists at start. Ingress still applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InvokerIamCheck {
    /// The default: a Google-signed ID token of a `roles/run.invoker` member is required.
    Enabled,
    /// `invokerIamDisabled: true`: anyone ingress admits reaches the container.
    Disabled,
}

impl InvokerIamCheck {
    /// From the v2 API field `invokerIamDisabled`.
    pub fn from_invoker_iam_disabled(disabled: bool) -> Self {
        if disabled {
            Self::Disabled
        } else {
            Self::Enabled
        }
    }

    /// The v2 API field's value.
    pub fn invoker_iam_disabled(self) -> bool {
        self == Self::Disabled
    }
}

/// Length of the per-project hash in legacy run.app hosts.
pub(crate) const RUN_APP_HASH_LEN: usize = 10;

/// A run.app host name, in one of the two forms Google gives a service:
///
/// - legacy: `NAME-HASH-CODE.a.run.app`, HASH being 10 characters of lowercase base32
///   (`a-z`, `2-7`) fixed per project and CODE the region's short code, e.g.
///   `smoothie-service-abcdefghij-uc.a.run.app`;
/// - deterministic: `NAME-PROJECT_NUMBER.REGION.run.app`, e.g.
///   `smoothie-service-123456789012.us-central1.run.app`.
///
/// Always lowercase, without scheme or port.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RunAppHost {
    host: String,
    /// Length of the service-name prefix of `host`.
    name_len: usize,
}

impl RunAppHost {
    /// The legacy host of `service`; `hash` is the project's run.app hash and `code` the region's
    /// short code.
    pub(crate) fn legacy(service: &ServiceName, hash: &str, code: &str) -> Self {
        Self {
            host: format!("{service}-{hash}-{code}.a.run.app"),
            name_len: service.as_str().len(),
        }
    }

    /// The deterministic host of `service`.
    pub(crate) fn deterministic(
        service: &ServiceName,
        project_number: ProjectNumber,
        region: &Region,
    ) -> Self {
        Self {
            host: format!("{service}-{project_number}.{region}.run.app"),
            name_len: service.as_str().len(),
        }
    }

    /// Parses a host in either form. Letters must be lowercase; there is no port.
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        Self::name_len_of(s)
            .map(|name_len| Self {
                host: s.to_owned(),
                name_len,
            })
            .ok_or_else(|| {
                InvalidValue::new(
                    "a run.app host: NAME-HASH-CODE.a.run.app or \
                     NAME-PROJECT_NUMBER.REGION.run.app",
                    s,
                )
            })
    }

    fn name_len_of(s: &str) -> Option<usize> {
        let (label, region) = if let Some(label) = s.strip_suffix(".a.run.app") {
            (label, None)
        } else {
            let rest = s.strip_suffix(".run.app")?;
            let (label, region) = rest.split_once('.')?;
            (label, Some(region))
        };
        let name = match region {
            None => {
                let (rest, code) = label.rsplit_once('-')?;
                let (name, hash) = rest.rsplit_once('-')?;
                let hash_ok = hash.len() == RUN_APP_HASH_LEN
                    && hash
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b));
                let code_ok = code.len() == 2 && code.bytes().all(|b| b.is_ascii_lowercase());
                (hash_ok && code_ok).then_some(name)?
            }
            Some(region) => {
                let (name, number) = label.rsplit_once('-')?;
                (ProjectNumber::parse(number).is_ok() && Region::parse(region).is_ok())
                    .then_some(name)?
            }
        };
        ServiceName::parse(name).ok().map(|_| name.len())
    }

    /// The host name.
    pub fn as_str(&self) -> &str {
        &self.host
    }

    /// The service name at the front of the host.
    pub fn service_name(&self) -> &str {
        &self.host[..self.name_len]
    }

    /// `https://HOST`: the service URL, which is also the default audience Cloud Run accepts in
    /// an ID token (google-behaviour item 46).
    pub fn url(&self) -> String {
        format!("https://{}", self.host)
    }
}

impl fmt::Display for RunAppHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.host)
    }
}

impl FromStr for RunAppHost {
    type Err = InvalidValue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_names_follow_cloud_run_rules() {
        assert!(ServiceName::parse("smoothie-service").is_ok());
        assert!(ServiceName::parse("a").is_ok());
        assert!(ServiceName::parse(&format!("a{}", "b".repeat(48))).is_ok());
        for bad in [
            "",
            "Smoothie",
            "1smoothie",
            "smoothie-",
            "smoothie_service",
            "smoothie.service",
        ] {
            assert!(ServiceName::parse(bad).is_err(), "{bad}");
        }
        assert!(ServiceName::parse(&format!("a{}", "b".repeat(49))).is_err());
    }

    #[test]
    fn ingress_parses_gcloud_spellings_and_api_names() {
        for ingress in Ingress::ALL {
            assert_eq!(Ingress::parse(ingress.as_gcloud()), Ok(ingress));
            assert_eq!(Ingress::from_api_name(ingress.as_api_name()), Ok(ingress));
        }
        assert!(Ingress::parse("public").is_err());
        assert!(Ingress::parse("INGRESS_TRAFFIC_ALL").is_err());
        assert!(Ingress::from_api_name("INGRESS_TRAFFIC_NONE").is_err());
    }

    #[test]
    fn ingress_admits_per_source() {
        use IngressSource::*;
        let table = [
            (Ingress::All, [true, true, true]),
            (Ingress::Internal, [false, false, true]),
            (Ingress::InternalAndCloudLoadBalancing, [false, true, true]),
        ];
        for (ingress, expected) in table {
            let got = [Internet, ExternalLoadBalancer, Internal].map(|s| ingress.admits(s));
            assert_eq!(got, expected, "{ingress}");
        }
    }

    #[test]
    fn run_app_hosts_parse_in_both_forms() {
        let legacy = RunAppHost::parse("smoothie-service-bmlfzs4h6a-uc.a.run.app");
        assert_eq!(
            legacy.as_ref().map(RunAppHost::service_name),
            Ok("smoothie-service")
        );
        let fresh = RunAppHost::parse("smoothie-service-123456789012.us-central1.run.app");
        assert_eq!(
            fresh.as_ref().map(RunAppHost::service_name),
            Ok("smoothie-service")
        );
        assert_eq!(
            fresh.map(|h| h.url()),
            Ok("https://smoothie-service-123456789012.us-central1.run.app".to_owned())
        );
        for bad in [
            "smoothie-service.a.run.app",
            "smoothie-service-bmlfzs4h6a-uc.a.run.app:443",
            "smoothie-service-bmlfzs4h61-uc.a.run.app",
            "Smoothie-bmlfzs4h6a-uc.a.run.app",
            "smoothie-service-12345.us-central1.run.app",
            "smoothie-service-123456789012.run.app",
            "smoothie-service-bmlfzs4h6a-uc.a.run.app.evil.com",
        ] {
            assert!(RunAppHost::parse(bad).is_err(), "{bad}");
        }
    }
}
