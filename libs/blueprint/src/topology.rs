//! The validated topology: what `fixtures/fortress.yaml` declares, plus everything derived from
//! it (names, ids, run.app hosts, IAP audiences, the URL map).
//!
//! A [`Topology`] only exists once every field has been checked (see `validate.rs`), so the
//! emulator, the provisioner and the e2e harness read the same facts and never re-check them.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::cloud_run::{CustomAudience, Ingress, InvokerIamCheck, RunAppHost, ServiceName};
use crate::error::{BlueprintError, InvalidValue, SourceLocation};
use crate::identity::{IamBinding, Member, OAuthClientId, ServiceAccountEmail, UserEmail};
use crate::load_balancer::{
    BackendService, BackendServiceId, IapAudience, LoadBalancerScope, PathPattern, UrlMap,
    host_without_port,
};
use crate::naming::{self, LoadBalancerNames};
use crate::project::{Domain, ProjectId, ProjectNumber, Region, is_resource_id, text_newtype};
use crate::raw::RawTopology;

/// The whole fortress, loaded from a topology file and validated.
#[derive(Debug, Clone)]
pub struct Topology {
    pub(crate) source_name: String,
    pub(crate) project: Project,
    pub(crate) domain: Domain,
    pub(crate) services: Vec<Service>,
    pub(crate) default_service: usize,
    pub(crate) load_balancer_scope: LoadBalancerScope,
    pub(crate) iap: IapSettings,
    pub(crate) gateway: Gateway,
    pub(crate) firebase: Firebase,
    pub(crate) local: LocalSettings,
    pub(crate) url_map: UrlMap,
}

impl Topology {
    /// Reads and validates a topology file. Relative paths inside it (`gateway.openapi`) are
    /// resolved against the file's directory; the files they name are not opened here.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, BlueprintError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| BlueprintError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_yaml_str(&text, &path.to_string_lossy())
    }

    /// Validates topology text. `source_name` names the text in messages and, taken as a path,
    /// its directory is the base for relative paths inside it (as [`Topology::load`] does).
    pub fn from_yaml_str(text: &str, source_name: &str) -> Result<Self, BlueprintError> {
        let raw: RawTopology =
            serde_saphyr::from_str(text).map_err(|error| yaml_error(&error, source_name))?;
        let base_dir = Path::new(source_name).parent().unwrap_or(Path::new(""));
        crate::validate::validate(&raw, source_name, base_dir)
    }

    /// The name the topology was loaded under, as used in messages.
    pub fn source_name(&self) -> &str {
        &self.source_name
    }

    /// Project id, number and region.
    pub fn project(&self) -> &Project {
        &self.project
    }

    /// The load balancer's public domain, e.g. `api.myawesomeapp.com`.
    pub fn domain(&self) -> &Domain {
        &self.domain
    }

    /// `https://DOMAIN`: where clients and the gateway reach the load balancer.
    pub fn load_balancer_url(&self) -> String {
        format!("https://{}", self.domain)
    }

    /// The services, in file order (never empty).
    pub fn services(&self) -> &[Service] {
        &self.services
    }

    /// The service called `name`, if declared.
    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.name.as_str() == name)
    }

    /// The URL map's default service: `defaultService`, else the first service.
    pub fn default_service(&self) -> &Service {
        // Validation only builds a topology whose index points into the non-empty list.
        &self.services[self.default_service]
    }

    /// IAP settings and project-level IAP bindings.
    pub fn iap(&self) -> &IapSettings {
        &self.iap
    }

    /// The API Gateway settings.
    pub fn gateway(&self) -> &Gateway {
        &self.gateway
    }

    /// The Firebase project whose ID tokens the gateway accepts.
    pub fn firebase(&self) -> &Firebase {
        &self.firebase
    }

    /// Settings only the local emulator reads.
    pub fn local(&self) -> &LocalSettings {
        &self.local
    }

    /// The load balancer's URL map.
    pub fn url_map(&self) -> &UrlMap {
        &self.url_map
    }

    /// The service a load-balancer request goes to, per [`UrlMap::route`].
    pub fn route(&self, host: &str, path: &str) -> &Service {
        let backend = self.url_map.route(host, path);
        self.service(backend.service().as_str())
            .unwrap_or_else(|| self.default_service())
    }

    /// Whether the load balancer is global (the default) or regional (`loadBalancer.region`).
    pub fn load_balancer_scope(&self) -> &LoadBalancerScope {
        &self.load_balancer_scope
    }

    /// Names of the load balancer's global resources.
    pub fn load_balancer_names(&self) -> LoadBalancerNames {
        LoadBalancerNames::FORTRESS
    }

    /// IAP's service agent, `service-PROJECT_NUMBER@gcp-sa-iap.iam.gserviceaccount.com`: the
    /// identity IAP presents to Cloud Run.
    pub fn iap_service_agent(&self) -> ServiceAccountEmail {
        ServiceAccountEmail::iap_service_agent(self.project.number)
    }

    /// The IAM resource for project-level IAP bindings: `projects/PROJECT_NUMBER/iap_web`.
    pub fn iap_project_resource_name(&self) -> String {
        format!("projects/{}/iap_web", self.project.number)
    }

    /// Members holding `roles/iap.httpsResourceAccessor` on `service`'s backend service: the
    /// project-level bindings and the service's own (IAM policies are inherited downwards).
    pub fn iap_accessors<'a>(&'a self, service: &'a Service) -> Vec<&'a Member> {
        let mut members: Vec<&Member> = Vec::new();
        let bindings = self.iap.bindings.iter().chain(&service.iap_bindings);
        for binding in bindings.filter(|b| b.role().is_iap_https_resource_accessor()) {
            for member in binding.members() {
                if !members.contains(&member) {
                    members.push(member);
                }
            }
        }
        members
    }

    /// The service whose run.app host (either form) is `host`, compared without case and port.
    pub fn service_by_run_app_host(&self, host: &str) -> Option<&Service> {
        let host = host_without_port(host);
        self.services.iter().find(|service| {
            service
                .deterministic_run_app_host
                .as_str()
                .eq_ignore_ascii_case(host)
                || service
                    .run_app_host
                    .as_ref()
                    .is_ok_and(|h| h.as_str().eq_ignore_ascii_case(host))
        })
    }
}

/// Turns serde-saphyr's error into ours, keeping its location, message and snippet.
fn yaml_error(error: &serde_saphyr::Error, source_name: &str) -> BlueprintError {
    use serde_saphyr::MessageFormatter;
    let location = error
        .location()
        .filter(|l| l.line() > 0)
        .map(|l| SourceLocation {
            line: l.line(),
            column: l.column(),
        });
    // The formatter is called directly, so neutralise control characters as the renderer would.
    let message = serde_saphyr::DefaultMessageFormatter
        .format_message(error.without_snippet())
        .chars()
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_debug().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect();
    let snippet = error.render_with_options(serde_saphyr::render_options! {
        source_name: Some(source_name),
    });
    BlueprintError::Yaml {
        source_name: source_name.to_owned(),
        location,
        message,
        snippet,
    }
}

/// The Google Cloud project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    pub(crate) id: ProjectId,
    pub(crate) number: ProjectNumber,
    pub(crate) region: Region,
}

impl Project {
    /// The project id, e.g. `my-project`.
    pub fn id(&self) -> &ProjectId {
        &self.id
    }

    /// The project number, e.g. `123456789012`.
    pub fn number(&self) -> ProjectNumber {
        self.number
    }

    /// The region of the Cloud Run services, their NEGs and the gateway.
    pub fn region(&self) -> &Region {
        &self.region
    }
}

/// One Cloud Run service and everything derived from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub(crate) name: ServiceName,
    pub(crate) paths: Vec<PathPattern>,
    pub(crate) ingress: Ingress,
    pub(crate) invokers: Vec<Member>,
    pub(crate) custom_audiences: Vec<CustomAudience>,
    pub(crate) invoker_iam: InvokerIamCheck,
    pub(crate) iap_bindings: Vec<IamBinding>,
    pub(crate) neg_name: String,
    pub(crate) backend_service: BackendService,
    pub(crate) iap_audience: IapAudience,
    pub(crate) iap_resource_name: String,
    pub(crate) run_app_host: Result<RunAppHost, Region>,
    pub(crate) deterministic_run_app_host: RunAppHost,
    /// [`Service::invoker_audiences`], written once: the emulator checks them on every request.
    pub(crate) invoker_audiences: Vec<String>,
}

impl Service {
    /// The Cloud Run service name.
    pub fn name(&self) -> &ServiceName {
        &self.name
    }

    /// The load-balancer paths that route here, in file order.
    pub fn paths(&self) -> &[PathPattern] {
        &self.paths
    }

    /// The ingress setting.
    pub fn ingress(&self) -> Ingress {
        self.ingress
    }

    /// Members holding `roles/run.invoker` on the service.
    pub fn invokers(&self) -> &[Member] {
        &self.invokers
    }

    /// The service's custom audiences (`customAudiences`), in file order.
    pub fn custom_audiences(&self) -> &[CustomAudience] {
        &self.custom_audiences
    }

    /// Whether the invoker check runs (`invokerIamDisabled`, items 39, 45).
    pub fn invoker_iam(&self) -> InvokerIamCheck {
        self.invoker_iam
    }

    /// Every `aud` Cloud Run's invoker check accepts in an ID token for this service (item 46):
    /// its run.app URLs (legacy when the region's code is known, then deterministic), then its
    /// custom audiences. The first is the URL IAP calls the service by (items 27, 39).
    pub fn invoker_audiences(&self) -> &[String] {
        &self.invoker_audiences
    }

    /// Whether `account` holds `roles/run.invoker` here, directly or through `allUsers` /
    /// `allAuthenticatedUsers`.
    pub fn is_invoker(&self, account: &ServiceAccountEmail) -> bool {
        self.invokers.iter().any(|member| match member {
            Member::AllUsers | Member::AllAuthenticatedUsers => true,
            Member::ServiceAccount(email) => email == account,
            _ => false,
        })
    }

    /// IAP bindings on this service's backend service only (project-level ones are in
    /// [`IapSettings::bindings`]; [`Topology::iap_accessors`] combines both).
    pub fn iap_bindings(&self) -> &[IamBinding] {
        &self.iap_bindings
    }

    /// The serverless NEG's name: `<service>-neg`.
    pub fn neg_name(&self) -> &str {
        &self.neg_name
    }

    /// The backend service in front of the NEG: name `<service>-backend` and its id.
    pub fn backend_service(&self) -> &BackendService {
        &self.backend_service
    }

    /// The `aud` of IAP's signed header for this service:
    /// `/projects/PROJECT_NUMBER/global/backendServices/ID`, or
    /// `/projects/PROJECT_NUMBER/regions/REGION/backendServices/ID` behind a regional load
    /// balancer (item 23).
    pub fn iap_audience(&self) -> &IapAudience {
        &self.iap_audience
    }

    /// The IAM resource of the backend service's IAP policy:
    /// `projects/PROJECT_NUMBER/iap_web/compute/services/ID`, or
    /// `projects/PROJECT_NUMBER/iap_web/compute-REGION/services/ID` when regional (item 29).
    pub fn iap_resource_name(&self) -> &str {
        &self.iap_resource_name
    }

    /// The legacy host `NAME-HASH-CODE.a.run.app`. Fails when the region's short code is not in
    /// the crate's table.
    pub fn run_app_host(&self) -> Result<&RunAppHost, BlueprintError> {
        self.run_app_host
            .as_ref()
            .map_err(|region| BlueprintError::UnknownRegionCode {
                region: region.to_string(),
            })
    }

    /// The deterministic host `NAME-PROJECT_NUMBER.REGION.run.app`.
    pub fn deterministic_run_app_host(&self) -> &RunAppHost {
        &self.deterministic_run_app_host
    }

    /// `https://` + the legacy host: the URL `gcloud run services describe` prints as `url`.
    pub fn run_app_url(&self) -> Result<String, BlueprintError> {
        self.run_app_host().map(RunAppHost::url)
    }

    pub(crate) fn new(
        project: &Project,
        scope: &LoadBalancerScope,
        spec: ServiceSpec,
        iap_bindings: Vec<IamBinding>,
    ) -> Self {
        let ServiceSpec {
            name,
            paths,
            ingress,
            invokers,
            custom_audiences,
            invoker_iam,
        } = spec;
        let backend_name = naming::backend_service_name(&name);
        let id: BackendServiceId = naming::backend_service_id(project.number, &backend_name);
        let run_app_host = match project.region.run_app_code() {
            Some(code) => Ok(RunAppHost::legacy(
                &name,
                &naming::run_app_hash(project.number),
                code,
            )),
            None => Err(project.region.clone()),
        };
        let (iap_audience, iap_resource_name) = match scope {
            LoadBalancerScope::Global => (
                IapAudience::backend_service(project.number, id),
                format!("projects/{}/iap_web/compute/services/{id}", project.number),
            ),
            LoadBalancerScope::Regional(region) => (
                IapAudience::regional_backend_service(project.number, region, id),
                format!(
                    "projects/{}/iap_web/compute-{region}/services/{id}",
                    project.number
                ),
            ),
        };
        let deterministic_run_app_host =
            RunAppHost::deterministic(&name, project.number, &project.region);
        let invoker_audiences = run_app_host
            .as_ref()
            .ok()
            .into_iter()
            .chain([&deterministic_run_app_host])
            .map(RunAppHost::url)
            .chain(custom_audiences.iter().map(|a| a.as_str().to_owned()))
            .collect();
        Self {
            neg_name: naming::neg_name(&name),
            iap_audience,
            iap_resource_name,
            deterministic_run_app_host,
            invoker_audiences,
            run_app_host,
            backend_service: BackendService::new(name.clone(), backend_name, id),
            name,
            paths,
            ingress,
            invokers,
            custom_audiences,
            invoker_iam,
            iap_bindings,
        }
    }
}

/// A service's own fields as the topology declares them, before anything is derived.
#[derive(Debug, Clone)]
pub(crate) struct ServiceSpec {
    pub name: ServiceName,
    pub paths: Vec<PathPattern>,
    pub ingress: Ingress,
    pub invokers: Vec<Member>,
    pub custom_audiences: Vec<CustomAudience>,
    pub invoker_iam: InvokerIamCheck,
}

/// IAP settings shared by every backend service, and project-level IAP bindings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IapSettings {
    pub(crate) oauth2_client_id: OAuthClientId,
    pub(crate) programmatic_clients: Vec<OAuthClientId>,
    pub(crate) allow_http_options: bool,
    pub(crate) bindings: Vec<IamBinding>,
}

impl IapSettings {
    /// IAP's OAuth client id (backend service `iap.oauth2ClientId`): the audience of the Google
    /// ID token the gateway presents, and its `jwt_audience` in openapi.yaml.
    pub fn oauth2_client_id(&self) -> &OAuthClientId {
        &self.oauth2_client_id
    }

    /// Further client ids IAP accepts as token audiences
    /// (`accessSettings.oauthSettings.programmaticClients`).
    pub fn programmatic_clients(&self) -> &[OAuthClientId] {
        &self.programmatic_clients
    }

    /// Every audience IAP accepts: its own client id, then the programmatic clients.
    pub fn allowed_audiences(&self) -> impl Iterator<Item = &OAuthClientId> {
        std::iter::once(&self.oauth2_client_id).chain(&self.programmatic_clients)
    }

    /// Whether `OPTIONS` requests skip IAP (`accessSettings.corsSettings.allowHttpOptions`).
    pub fn allow_http_options(&self) -> bool {
        self.allow_http_options
    }

    /// Bindings on `projects/PROJECT_NUMBER/iap_web`, inherited by every backend service.
    pub fn bindings(&self) -> &[IamBinding] {
        &self.bindings
    }
}

/// An API Gateway API id, e.g. `fortress-api`: 1 to 50 lowercase letters, digits or hyphens,
/// starting with a letter and not ending with a hyphen. (50, not 63, leaves room for the
/// derived `-gateway` and config-hash suffixes.)
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ApiId(String);

text_newtype!(ApiId);

impl ApiId {
    /// Parses an API id.
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        if is_resource_id(s, 1, 50) {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidValue::new(
                "an API id: 1 to 50 lowercase letters, digits or hyphens, starting with a letter \
                 and not ending with a hyphen",
                s,
            ))
        }
    }
}

/// The API Gateway in front of the load balancer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gateway {
    pub(crate) api_id: ApiId,
    pub(crate) service_account: ServiceAccountEmail,
    pub(crate) openapi_as_written: String,
    pub(crate) openapi_path: PathBuf,
    pub(crate) managed_service: String,
}

impl Gateway {
    /// The API id.
    pub fn api_id(&self) -> &ApiId {
        &self.api_id
    }

    /// The gateway's id: `<api id>-gateway`.
    pub fn gateway_id(&self) -> String {
        format!("{}-gateway", self.api_id)
    }

    /// An API config id for `openapi_document` (the file's bytes):
    /// `<api id>-<12 hex digits of its SHA-256>`, so the same document always maps to the same
    /// immutable config.
    pub fn api_config_id(&self, openapi_document: &[u8]) -> String {
        naming::api_config_id(self.api_id.as_str(), openapi_document)
    }

    /// The account the gateway mints backend ID tokens as (`gatewayServiceAccount`).
    pub fn service_account(&self) -> &ServiceAccountEmail {
        &self.service_account
    }

    /// The OpenAPI document's path, resolved against the topology file's directory.
    pub fn openapi_path(&self) -> &Path {
        &self.openapi_path
    }

    /// `gateway.openapi` as written in the topology.
    pub fn openapi_as_written(&self) -> &str {
        &self.openapi_as_written
    }

    /// The API's managed service, `gateway.managedService` or else the derived
    /// `<api>-<hash>.apigateway.<project>.cloud.goog`.
    pub fn managed_service(&self) -> &str {
        &self.managed_service
    }

    /// `https://<managed service>`: the audience ESPv2 requires of a client JWT when a security
    /// definition has no `x-google-audiences` (google-behaviour item 69).
    pub fn default_jwt_audience(&self) -> String {
        format!("https://{}", self.managed_service)
    }
}

/// The Firebase project that signs users' ID tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Firebase {
    pub(crate) project_id: ProjectId,
    pub(crate) web_api_key: String,
}

impl Firebase {
    /// The Firebase project id, which is also the tokens' `aud`.
    pub fn project_id(&self) -> &ProjectId {
        &self.project_id
    }

    /// The web API key clients send to Identity Toolkit (`?key=`). A placeholder locally.
    pub fn web_api_key(&self) -> &str {
        &self.web_api_key
    }

    /// The tokens' `iss`: `https://securetoken.google.com/PROJECT_ID`.
    pub fn issuer(&self) -> String {
        format!("https://securetoken.google.com/{}", self.project_id)
    }
}

/// Settings only the local emulator reads; all optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocalSettings {
    pub(crate) upstreams: Vec<(ServiceName, UpstreamAddr)>,
    pub(crate) test_users: Vec<UserEmail>,
}

impl LocalSettings {
    /// Where the emulator sends `service`'s traffic, when the topology says.
    pub fn upstream(&self, service: &str) -> Option<&UpstreamAddr> {
        self.upstreams
            .iter()
            .find(|(name, _)| name.as_str() == service)
            .map(|(_, addr)| addr)
    }

    /// Every configured upstream, in file order.
    pub fn upstreams(&self) -> &[(ServiceName, UpstreamAddr)] {
        &self.upstreams
    }

    /// The people the emulated Google sign-in page offers (`local.testUsers`), in file order.
    /// Scenarios name them in IAM members as `user:EMAIL`.
    pub fn test_users(&self) -> &[UserEmail] {
        &self.test_users
    }
}

/// A `host:port` a local upstream listens on, e.g. `127.0.0.1:8081`, `smoothie:8080` or
/// `[::1]:8081`. The host is an IPv4 address, a bracketed IPv6 address or a DNS name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UpstreamAddr {
    text: String,
    port: u16,
}

impl UpstreamAddr {
    /// Parses `host:port`.
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        let refuse = || {
            InvalidValue::new(
                "HOST:PORT with an IPv4 address, [IPv6] address or DNS name and a port 1-65535",
                s,
            )
        };
        let (host, port) = s.rsplit_once(':').ok_or_else(refuse)?;
        let port = port
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0 && !port.starts_with('+'))
            .ok_or_else(refuse)?;
        let host_ok = if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            v6.parse::<Ipv6Addr>().is_ok()
        } else if host.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            host.parse::<Ipv4Addr>().is_ok()
        } else {
            !host.is_empty()
                && host.len() <= 253
                && host.split('.').all(|label| {
                    (1..=63).contains(&label.len())
                        && !label.starts_with('-')
                        && !label.ends_with('-')
                        && label
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                })
        };
        if host_ok {
            Ok(Self {
                text: s.to_owned(),
                port,
            })
        } else {
            Err(refuse())
        }
    }

    /// `host:port` as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The host part (brackets kept for IPv6).
    pub fn host(&self) -> &str {
        self.text.rsplit_once(':').map_or(&*self.text, |(h, _)| h)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl fmt::Display for UpstreamAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for UpstreamAddr {
    type Err = InvalidValue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_addresses_are_host_and_port() {
        for (text, host, port) in [
            ("127.0.0.1:8081", "127.0.0.1", 8081),
            ("smoothie:8080", "smoothie", 8080),
            ("[::1]:9000", "[::1]", 9000),
            ("smoothie.internal:1", "smoothie.internal", 1),
        ] {
            let addr = UpstreamAddr::parse(text).expect(text);
            assert_eq!((addr.host(), addr.port()), (host, port));
        }
        for bad in [
            "127.0.0.1",
            "127.0.0.1:0",
            "127.0.0.1:65536",
            "127.0.0.1:+80",
            "999.0.0.1:80",
            "::1:80",
            "[::g]:80",
            ":80",
            "http://127.0.0.1:80",
            "smoothie_svc:80",
        ] {
            assert!(UpstreamAddr::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn api_ids_are_resource_ids_of_at_most_fifty_characters() {
        assert!(ApiId::parse("fortress-api").is_ok());
        assert!(ApiId::parse(&"a".repeat(50)).is_ok());
        for bad in ["", "Fortress", "fortress-", "9api", &"a".repeat(51)] {
            assert!(ApiId::parse(bad).is_err(), "{bad}");
        }
    }
}
