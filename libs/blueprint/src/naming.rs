//! The one place names and ids are made (an architecture invariant: only `libs/blueprint`
//! derives names such as `-neg` or `.a.run.app`).
//!
//! Names follow the tutorial's conventions. Ids and hashes that Google assigns at random
//! (backend-service ids, the run.app hash, the API Gateway managed-service hash) are derived
//! here from SHA-256 of the project and the resource name, so the emulator, the e2e harness and
//! a plan print the same values on every run. Each derivation hashes a distinct label first, so
//! no two of them can collide by construction.

use sha2::{Digest, Sha256};

use crate::cloud_run::{RUN_APP_HASH_LEN, ServiceName};
use crate::load_balancer::BackendServiceId;
use crate::project::{ProjectId, ProjectNumber};

/// Names of the load balancer's global resources, one set per topology.
///
/// They are fixed, prefixed with `fortress-` so a `provisioner destroy` can tell its own
/// resources from a project's others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadBalancerNames {
    /// Global external IPv4 address: `fortress-ip`.
    pub address: &'static str,
    /// Google-managed SSL certificate for the domain: `fortress-cert`.
    pub certificate: &'static str,
    /// URL map: `fortress-url-map`.
    pub url_map: &'static str,
    /// The URL map's only path matcher: `fortress-paths`.
    pub path_matcher: &'static str,
    /// Target HTTPS proxy: `fortress-https-proxy`.
    pub https_proxy: &'static str,
    /// Global forwarding rule on port 443: `fortress-forwarding-rule`.
    pub forwarding_rule: &'static str,
}

impl LoadBalancerNames {
    /// The fortress's names.
    pub const FORTRESS: Self = Self {
        address: "fortress-ip",
        certificate: "fortress-cert",
        url_map: "fortress-url-map",
        path_matcher: "fortress-paths",
        https_proxy: "fortress-https-proxy",
        forwarding_rule: "fortress-forwarding-rule",
    };
}

/// The serverless NEG that points at `service`: `<service>-neg`.
pub(crate) fn neg_name(service: &ServiceName) -> String {
    format!("{service}-neg")
}

/// The backend service in front of `service`'s NEG: `<service>-backend`.
pub(crate) fn backend_service_name(service: &ServiceName) -> String {
    format!("{service}-backend")
}

/// SHA-256 of a label and parts, each followed by a NUL so `("ab", "c")` and `("a", "bc")` differ.
fn digest(label: &str, parts: &[&str]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in std::iter::once(label).chain(parts.iter().copied()) {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    hasher.finalize().into()
}

fn first_u64(bytes: &[u8; 32]) -> u64 {
    let mut head = [0; 8];
    head.copy_from_slice(&bytes[..8]);
    u64::from_be_bytes(head)
}

/// Smallest 19-digit number.
const MIN_BACKEND_SERVICE_ID: u64 = 1_000_000_000_000_000_000;
/// Compute ids are unsigned 64-bit, but real ones stay below 2^63; so do ours.
const MAX_BACKEND_SERVICE_ID: u64 = i64::MAX as u64;

/// A stable stand-in for the numeric id Compute assigns a backend service: 19 digits, below
/// 2^63, never 0, from SHA-256 of the project number and the backend-service name.
pub(crate) fn backend_service_id(
    project_number: ProjectNumber,
    backend_service_name: &str,
) -> BackendServiceId {
    let number = project_number.to_string();
    let hash = first_u64(&digest(
        "fortress/backend-service-id",
        &[&number, backend_service_name],
    ));
    let span = MAX_BACKEND_SERVICE_ID - MIN_BACKEND_SERVICE_ID + 1;
    BackendServiceId::from_nonzero_derivation(MIN_BACKEND_SERVICE_ID + hash % span)
}

/// The 10-character per-project hash of legacy run.app hosts.
///
/// Real hashes (`bmlfzs4h6a`, `kpgp36hf4q`, ...) are 48 bits in lowercase RFC 4648 base32: the
/// digits are only `2-7` and the last character is always one of `aeimquy4` (its two low bits
/// are padding). This one has the same shape, from SHA-256 of the project number.
pub(crate) fn run_app_hash(project_number: ProjectNumber) -> String {
    const BASE32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let bytes = digest("fortress/run-app-hash", &[&project_number.to_string()]);
    // 48 bits of hash followed by two zero bits: 50 bits, ten base32 digits.
    let bits = (first_u64(&bytes) >> 16) << 2;
    (0..RUN_APP_HASH_LEN)
        .map(|i| char::from(BASE32[((bits >> (45 - 5 * i)) & 31) as usize]))
        .collect()
}

/// The managed service API Gateway creates for an API when none is named:
/// `<api>-<hash>.apigateway.<project>.cloud.goog` (google-behaviour items 69, 84).
///
/// Real hashes (`1diqs680eq9np`, `3pr8jbeyvvobi`) are a 64-bit number in 13 base-36 digits, so the
/// first digit is `0` to `3`. This one has that shape, from SHA-256 of the project and API ids.
pub(crate) fn managed_service_name(project_id: &ProjectId, api_id: &str) -> String {
    const BASE36: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut n = first_u64(&digest(
        "fortress/apigateway-managed-service",
        &[project_id.as_str(), api_id],
    ));
    let mut hash = [b'0'; 13];
    for slot in hash.iter_mut().rev() {
        *slot = BASE36[(n % 36) as usize];
        n /= 36;
    }
    let hash: String = hash.iter().map(|&b| char::from(b)).collect();
    format!("{api_id}-{hash}.apigateway.{project_id}.cloud.goog")
}

/// An API config id for an OpenAPI document: `<api>-<first 12 hex digits of its SHA-256>`.
///
/// API configs are immutable, so a changed document needs a new id; the same document always
/// gets the same one, which keeps `provisioner apply` idempotent.
pub(crate) fn api_config_id(api_id: &str, openapi_document: &[u8]) -> String {
    let hash = Sha256::digest(openapi_document);
    let hex: String = hash[..6].iter().map(|b| format!("{b:02x}")).collect();
    format!("{api_id}-{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn number(s: &str) -> ProjectNumber {
        ProjectNumber::parse(s).expect("valid project number")
    }

    #[test]
    fn backend_service_ids_have_nineteen_digits_and_depend_on_both_inputs() {
        let a = backend_service_id(number("123456789012"), "smoothie-service-backend");
        let b = backend_service_id(number("123456789012"), "coffee-service-backend");
        let c = backend_service_id(number("123456789013"), "smoothie-service-backend");
        for id in [a, b, c] {
            assert_eq!(id.to_string().len(), 19, "{id}");
            assert!(id.get() <= i64::MAX as u64);
        }
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_eq!(
            a,
            backend_service_id(number("123456789012"), "smoothie-service-backend")
        );
    }

    #[test]
    fn run_app_hash_looks_like_googles() {
        for n in ["123456789012", "100000", "9999999999999999999"] {
            let hash = run_app_hash(number(n));
            assert_eq!(hash.len(), 10);
            assert!(
                hash.bytes()
                    .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b)),
                "{hash}"
            );
            assert!("aeimquy4".contains(&hash[9..]), "{hash}");
        }
    }

    #[test]
    fn managed_service_name_looks_like_googles() {
        let project = ProjectId::parse("my-project").expect("valid project id");
        let name = managed_service_name(&project, "fortress-api");
        let hash = name
            .strip_prefix("fortress-api-")
            .and_then(|rest| rest.strip_suffix(".apigateway.my-project.cloud.goog"))
            .unwrap_or_default();
        assert_eq!(hash.len(), 13, "{name}");
        assert!(hash.starts_with(['0', '1', '2', '3']), "{name}");
    }

    #[test]
    fn api_config_id_changes_with_the_document() {
        let a = api_config_id("fortress-api", b"swagger: '2.0'");
        assert_eq!(a.len(), "fortress-api-".len() + 12);
        assert_eq!(a, api_config_id("fortress-api", b"swagger: '2.0'"));
        assert_ne!(a, api_config_id("fortress-api", b"swagger: '2.0'\n"));
    }
}
