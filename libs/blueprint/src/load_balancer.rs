//! The external Application Load Balancer's model: path patterns, backend services, the URL
//! map and its routing, and the audience IAP signs for each backend service.
//!
//! Routing follows Compute's documented URL-map rules (google-behaviour items 55-57):
//!
//! - the host is compared without case and without any `:port`; a host that matches no host
//!   rule goes to the URL map's default service;
//! - the path is the raw request path up to the first `?` or `#`; it is compared byte for byte,
//!   case-sensitively, and **not normalised**: `%2F`, `.` and `..` segments and `//` are plain
//!   bytes. Whether Google's front end normalises before matching is undocumented (item 57), so
//!   the emulator does the simplest thing and this is marked uncertain;
//! - an exact pattern matches only itself; `/x/*` matches `/x/` and everything under it, never
//!   `/x`; the longest matched pattern wins (an exact pattern beats a wildcard of equal length);
//!   a path no rule matches goes to the path matcher's default service.
//!
//! Host rules hold exact names only: the topology has one domain, so `*` host wildcards are not
//! modelled.

use std::fmt;
use std::num::NonZeroU64;
use std::str::FromStr;

use crate::cloud_run::ServiceName;
use crate::error::InvalidValue;
use crate::project::{ProjectNumber, Region, text_newtype};

/// A URL-map path pattern (Compute `PathRule.paths`), e.g. `/smoothie` or `/smoothie/*`.
///
/// Rules: starts with `/`; `*` only as the last character, right after a `/`; no `?` or `#`
/// (the matched path stops before them); no spaces or control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PathPattern(String);

text_newtype!(PathPattern);

impl PathPattern {
    /// Parses a path pattern.
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        let body = s.strip_suffix("/*").map_or(s, |prefix| prefix);
        let well_formed = s.starts_with('/')
            && !body.contains(['*', '?', '#'])
            && !s.chars().any(|c| c.is_whitespace() || c.is_control());
        if well_formed {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidValue::new(
                "a path pattern: starting with /, with * only at the end right after a /, \
                 and no ? or #",
                s,
            ))
        }
    }

    /// True for `/x/*` patterns.
    pub fn is_wildcard(&self) -> bool {
        self.0.ends_with("/*")
    }

    /// Whether `path` (already cut at `?`/`#`) matches, compared as raw bytes.
    pub fn matches(&self, path: &str) -> bool {
        self.rank(path).is_some()
    }

    /// How well `path` matches: the length of the matched literal, exact matches ranking above
    /// wildcard matches of the same length. `None` when it does not match.
    fn rank(&self, path: &str) -> Option<(usize, bool)> {
        match self.0.strip_suffix('*') {
            Some(prefix) => path.starts_with(prefix).then_some((prefix.len(), false)),
            None => (path == self.0).then_some((self.0.len(), true)),
        }
    }
}

/// The numeric id Compute gives a backend service. IAP's audiences and IAM resource names use
/// it, not the name. Never 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BackendServiceId(NonZeroU64);

impl BackendServiceId {
    /// An id as Compute returns it; `None` for 0.
    pub fn new(id: u64) -> Option<Self> {
        NonZeroU64::new(id).map(Self)
    }

    /// For ids the crate derives, which are at least 10^18 by construction.
    pub(crate) fn from_nonzero_derivation(id: u64) -> Self {
        Self(NonZeroU64::new(id).unwrap_or(NonZeroU64::MIN))
    }

    /// Parses the decimal id.
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        s.parse::<u64>()
            .ok()
            .filter(|_| s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(Self::new)
            .ok_or_else(|| InvalidValue::new("a backend service id: a positive decimal number", s))
    }

    /// The id.
    pub fn get(self) -> u64 {
        self.0.get()
    }
}

impl fmt::Display for BackendServiceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for BackendServiceId {
    type Err = InvalidValue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// The `aud` claim of an IAP-signed header JWT (`x-goog-iap-jwt-assertion`), per
/// google-behaviour item 23:
///
/// - behind a global backend service: `/projects/PROJECT_NUMBER/global/backendServices/ID`;
/// - behind a regional backend service (regional external Application Load Balancer):
///   `/projects/PROJECT_NUMBER/regions/REGION/backendServices/ID` (item 23 lists it as [MEM],
///   unconfirmed after search; it follows the Compute resource path of regional backend
///   services, as the global form does);
/// - IAP directly on Cloud Run: `/projects/PROJECT_NUMBER/locations/REGION/services/NAME`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IapAudience(String);

text_newtype!(IapAudience);

impl IapAudience {
    /// The audience IAP uses for a global backend service.
    pub fn backend_service(project_number: ProjectNumber, id: BackendServiceId) -> Self {
        Self(format!(
            "/projects/{project_number}/global/backendServices/{id}"
        ))
    }

    /// The audience IAP uses for a regional backend service (item 23, [MEM]).
    pub fn regional_backend_service(
        project_number: ProjectNumber,
        region: &Region,
        id: BackendServiceId,
    ) -> Self {
        Self(format!(
            "/projects/{project_number}/regions/{region}/backendServices/{id}"
        ))
    }

    /// Parses either documented form.
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        let parts: Vec<&str> = s.split('/').collect();
        let well_formed = match parts.as_slice() {
            ["", "projects", number, "global", "backendServices", id] => {
                ProjectNumber::parse(number).is_ok() && BackendServiceId::parse(id).is_ok()
            }
            [
                "",
                "projects",
                number,
                "regions",
                region,
                "backendServices",
                id,
            ] => {
                ProjectNumber::parse(number).is_ok()
                    && Region::parse(region).is_ok()
                    && BackendServiceId::parse(id).is_ok()
            }
            [
                "",
                "projects",
                number,
                "locations",
                region,
                "services",
                name,
            ] => {
                ProjectNumber::parse(number).is_ok()
                    && Region::parse(region).is_ok()
                    && ServiceName::parse(name).is_ok()
            }
            _ => false,
        };
        if well_formed {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidValue::new(
                "an IAP audience: /projects/NUMBER/global/backendServices/ID, \
                 /projects/NUMBER/regions/REGION/backendServices/ID or \
                 /projects/NUMBER/locations/REGION/services/NAME",
                s,
            ))
        }
    }
}

/// Which external Application Load Balancer fronts the services: Google's global one (the
/// default, and the tutorial's) or a regional one, whose backend services live under
/// `regions/REGION` (items 23, 29, 32: the backend service's `iap` block is the same for both).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LoadBalancerScope {
    /// Global external Application Load Balancer: `global/backendServices`.
    Global,
    /// Regional external Application Load Balancer in this region (the services' region: a
    /// regional backend service can only use serverless NEGs of its own region).
    Regional(Region),
}

impl LoadBalancerScope {
    /// The region, for a regional load balancer.
    pub fn region(&self) -> Option<&Region> {
        match self {
            Self::Global => None,
            Self::Regional(region) => Some(region),
        }
    }
}

/// A backend service in front of one Cloud Run service, as the URL map refers to it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BackendService {
    service: ServiceName,
    name: String,
    id: BackendServiceId,
}

impl BackendService {
    pub(crate) fn new(service: ServiceName, name: String, id: BackendServiceId) -> Self {
        Self { service, name, id }
    }

    /// The Cloud Run service behind it (through its serverless NEG).
    pub fn service(&self) -> &ServiceName {
        &self.service
    }

    /// The backend service's name, e.g. `smoothie-service-backend`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its numeric id.
    pub fn id(&self) -> BackendServiceId {
        self.id
    }
}

/// A path rule: patterns and the backend service they send to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathRule {
    paths: Vec<PathPattern>,
    service: BackendService,
}

impl PathRule {
    pub(crate) fn new(paths: Vec<PathPattern>, service: BackendService) -> Self {
        Self { paths, service }
    }

    /// The patterns, in file order.
    pub fn paths(&self) -> &[PathPattern] {
        &self.paths
    }

    /// Where matching requests go.
    pub fn service(&self) -> &BackendService {
        &self.service
    }
}

/// A named set of path rules with a default service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathMatcher {
    name: String,
    default_service: BackendService,
    path_rules: Vec<PathRule>,
}

impl PathMatcher {
    pub(crate) fn new(
        name: String,
        default_service: BackendService,
        path_rules: Vec<PathRule>,
    ) -> Self {
        Self {
            name,
            default_service,
            path_rules,
        }
    }

    /// The matcher's name, referred to by host rules.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where paths no rule matches go.
    pub fn default_service(&self) -> &BackendService {
        &self.default_service
    }

    /// The rules, in file order.
    pub fn path_rules(&self) -> &[PathRule] {
        &self.path_rules
    }

    /// The backend for `path` (raw, possibly with a query): the longest matched pattern's,
    /// else the default.
    pub fn route(&self, path: &str) -> &BackendService {
        let path = path.find(['?', '#']).map_or(path, |end| &path[..end]);
        self.path_rules
            .iter()
            .flat_map(|rule| rule.paths.iter().map(move |p| (p, &rule.service)))
            .filter_map(|(pattern, service)| pattern.rank(path).map(|rank| (rank, service)))
            .max_by_key(|(rank, _)| *rank)
            .map_or(&self.default_service, |(_, service)| service)
    }
}

/// Hosts that share a path matcher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRule {
    hosts: Vec<String>,
    path_matcher: String,
}

impl HostRule {
    pub(crate) fn new(hosts: Vec<String>, path_matcher: String) -> Self {
        Self {
            hosts,
            path_matcher,
        }
    }

    /// Host names, lowercase, without ports.
    pub fn hosts(&self) -> &[String] {
        &self.hosts
    }

    /// The name of the path matcher these hosts use.
    pub fn path_matcher(&self) -> &str {
        &self.path_matcher
    }
}

/// A URL map (Compute `UrlMap`): host rules, path matchers and a default service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlMap {
    name: String,
    default_service: BackendService,
    host_rules: Vec<HostRule>,
    path_matchers: Vec<PathMatcher>,
}

impl UrlMap {
    pub(crate) fn new(
        name: String,
        default_service: BackendService,
        host_rules: Vec<HostRule>,
        path_matchers: Vec<PathMatcher>,
    ) -> Self {
        Self {
            name,
            default_service,
            host_rules,
            path_matchers,
        }
    }

    /// The URL map's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where requests for unknown hosts go.
    pub fn default_service(&self) -> &BackendService {
        &self.default_service
    }

    /// Host rules, in order.
    pub fn host_rules(&self) -> &[HostRule] {
        &self.host_rules
    }

    /// Path matchers, in order.
    pub fn path_matchers(&self) -> &[PathMatcher] {
        &self.path_matchers
    }

    /// The backend service for a request. `host` is the `Host` header or `:authority` (a port
    /// is ignored), `path` the raw request path, query and fragment included or not.
    pub fn route(&self, host: &str, path: &str) -> &BackendService {
        let host = host_without_port(host);
        self.host_rules
            .iter()
            .find(|rule| rule.hosts.iter().any(|h| h.eq_ignore_ascii_case(host)))
            .and_then(|rule| {
                self.path_matchers
                    .iter()
                    .find(|matcher| matcher.name == rule.path_matcher)
            })
            .map_or(&self.default_service, |matcher| matcher.route(path))
    }
}

/// The host part of a `Host` header: `[v6]:port` -> `[v6]`, `name:port` -> `name`; a bare IPv6
/// address (several colons, no brackets) is returned whole.
pub(crate) fn host_without_port(authority: &str) -> &str {
    // Byte searches: `find`/`split_once` with a `char` went through the char searcher, on
    // every request the load balancer routes.
    let bytes = authority.as_bytes();
    if bytes.first() == Some(&b'[') {
        return bytes
            .iter()
            .position(|&b| b == b']')
            .map_or(authority, |end| &authority[..=end]);
    }
    match bytes.iter().position(|&b| b == b':') {
        Some(colon) if !bytes[colon + 1..].contains(&b':') => &authority[..colon],
        _ => authority,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_patterns_follow_compute_rules() {
        for good in [
            "/",
            "/*",
            "/smoothie",
            "/smoothie/*",
            "/a/b/",
            "/a%2Fb",
            "/a/./b",
        ] {
            assert!(PathPattern::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "smoothie",
            "*",
            "/smoothie*",
            "/smoothie/*/x",
            "/smoothie/**",
            "/*/x",
            "/smoothie?x=1",
            "/smoothie#top",
            "/a b",
        ] {
            assert!(PathPattern::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn backend_service_ids_refuse_zero_and_non_digits() {
        assert_eq!(
            BackendServiceId::parse("42").map(BackendServiceId::get),
            Ok(42)
        );
        for bad in ["0", "", "-1", "+1", "1e3", "18446744073709551616"] {
            assert!(BackendServiceId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn iap_audiences_accept_the_documented_forms() {
        for good in [
            "/projects/123456789012/global/backendServices/1234567890123456789",
            "/projects/123456789012/regions/us-central1/backendServices/1234567890123456789",
            "/projects/123456789012/locations/us-east4/services/iap-test-2",
        ] {
            assert!(IapAudience::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "projects/123456789012/global/backendServices/1",
            "/projects/my-project/global/backendServices/1",
            "/projects/123456789012/global/backendServices/smoothie-service-backend",
            "/projects/123456789012/apps/my-project",
            "/projects/123456789012/regions/global/backendServices/1",
            "/projects/123456789012/regions/us-central1/backendServices/x",
            "987654321-abc.apps.googleusercontent.com",
        ] {
            assert!(IapAudience::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn host_without_port_handles_names_and_ip_literals() {
        let table = [
            ("api.example.com", "api.example.com"),
            ("api.example.com:443", "api.example.com"),
            ("127.0.0.1:8080", "127.0.0.1"),
            ("[::1]:443", "[::1]"),
            ("[::1]", "[::1]"),
            ("::1", "::1"),
            ("", ""),
        ];
        for (authority, host) in table {
            assert_eq!(host_without_port(authority), host, "{authority}");
        }
    }
}
