//! From the raw YAML twin to a [`Topology`]: every value parsed into its type, every cross
//! reference resolved, and all problems collected before failing.
//!
//! Collecting (rather than stopping at the first problem) lets a user fix a topology in one
//! pass. The structure errors serde reports (syntax, unknown or missing field) still stop at the
//! first, because serde-saphyr cannot continue past them.
//!
//! Each section is checked by a function returning `Option`: it evaluates every field first and
//! only then uses `?`, so one bad field never hides the next one's problem.

use std::collections::HashMap;
use std::path::Path;

use serde_saphyr::Spanned;

use crate::cloud_run::{
    CustomAudience, Ingress, InvokerIamCheck, MAX_CUSTOM_AUDIENCES_JSON_CHARS, ServiceName,
};
use crate::error::{BlueprintError, InvalidValue, Problem, ProblemKind, SourceLocation};
use crate::identity::{IamBinding, Member, OAuthClientId, Role, ServiceAccountEmail, UserEmail};
use crate::load_balancer::{
    HostRule, LoadBalancerScope, PathMatcher, PathPattern, PathRule, UrlMap,
};
use crate::naming::{self, LoadBalancerNames};
use crate::project::{Domain, ProjectId, ProjectNumber, Region};
use crate::raw::{KeyedList, RawBinding, RawService, RawTopology, Text};
use crate::topology::{
    ApiId, Firebase, Gateway, IapSettings, LocalSettings, Project, Service, ServiceSpec, Topology,
    UpstreamAddr,
};

/// Validates `raw`; `base_dir` resolves relative paths.
pub(crate) fn validate(
    raw: &RawTopology,
    source_name: &str,
    base_dir: &Path,
) -> Result<Topology, BlueprintError> {
    let mut check = Checker::default();
    let known = KnownServices::from(&raw.services.value);

    let project = check.project(raw);
    let domain = check.parse("domain", &raw.domain, Domain::parse);
    let services = check.services(raw);
    let load_balancer_scope = check.load_balancer_scope(raw, project.as_ref());
    let default_service = match &raw.default_service {
        Some(name) => check.service_ref("defaultService".into(), name, &known),
        None => Some(0),
    };
    let iap = check.iap(raw);
    let service_bindings = check.service_bindings(raw, &known);
    let gateway = check.gateway(raw, base_dir, project.as_ref());
    let firebase = check.firebase(raw);
    let local = check.local(raw, &known);

    let built = assemble(
        source_name,
        Sections {
            project,
            domain,
            services,
            service_bindings,
            default_service,
            load_balancer_scope,
            iap,
            gateway,
            firebase,
            local,
        },
    );

    match built {
        Some(topology) if check.problems.is_empty() => Ok(topology),
        _ => {
            let mut problems = check.problems;
            // Sort by position; problems without one (never produced today) go last.
            problems.sort_by_key(|p| {
                p.location()
                    .map_or((u64::MAX, u64::MAX), |l| (l.line, l.column))
            });
            Err(BlueprintError::Invalid {
                source_name: source_name.to_owned(),
                problems,
            })
        }
    }
}

/// Every checked section; `None` where a problem was reported.
struct Sections {
    project: Option<Project>,
    domain: Option<Domain>,
    services: Option<Vec<ServiceSpec>>,
    service_bindings: Option<Vec<Vec<IamBinding>>>,
    default_service: Option<usize>,
    load_balancer_scope: Option<LoadBalancerScope>,
    iap: Option<IapSettings>,
    gateway: Option<Gateway>,
    firebase: Option<Firebase>,
    local: Option<LocalSettings>,
}

/// Derives each service's names and the URL map, once every section is valid.
fn assemble(source_name: &str, sections: Sections) -> Option<Topology> {
    let project = sections.project?;
    let scope = sections.load_balancer_scope?;
    let services: Vec<Service> = sections
        .services?
        .into_iter()
        .zip(sections.service_bindings?)
        .map(|(spec, bindings)| Service::new(&project, &scope, spec, bindings))
        .collect();
    let default_service = sections.default_service?;
    let domain = sections.domain?;
    let url_map = url_map(&domain, &services, default_service)?;
    Some(Topology {
        source_name: source_name.to_owned(),
        project,
        domain,
        services,
        default_service,
        load_balancer_scope: scope,
        iap: sections.iap?,
        gateway: sections.gateway?,
        firebase: sections.firebase?,
        local: sections.local?,
        url_map,
    })
}

/// The URL map: one host rule for the domain, one path matcher with a rule per service that has
/// paths, the default service as both defaults.
fn url_map(domain: &Domain, services: &[Service], default_index: usize) -> Option<UrlMap> {
    let names = LoadBalancerNames::FORTRESS;
    let default = services.get(default_index)?.backend_service().clone();
    let rules = services
        .iter()
        .filter(|service| !service.paths().is_empty())
        .map(|service| PathRule::new(service.paths().to_vec(), service.backend_service().clone()))
        .collect();
    Some(UrlMap::new(
        names.url_map.to_owned(),
        default.clone(),
        vec![HostRule::new(
            vec![domain.as_str().to_owned()],
            names.path_matcher.to_owned(),
        )],
        vec![PathMatcher::new(
            names.path_matcher.to_owned(),
            default,
            rules,
        )],
    ))
}

/// The declared service names, as written (valid or not), in file order.
struct KnownServices<'a>(Vec<&'a str>);

impl<'a> From<&'a Vec<RawService>> for KnownServices<'a> {
    fn from(services: &'a Vec<RawService>) -> Self {
        Self(services.iter().map(|s| s.name.value.as_str()).collect())
    }
}

impl KnownServices<'_> {
    /// The names for a message: file order, each once.
    fn listed(&self) -> Vec<String> {
        let mut listed: Vec<String> = Vec::new();
        for name in &self.0 {
            if !listed.iter().any(|l| l == name) {
                listed.push((*name).to_owned());
            }
        }
        listed
    }
}

impl KnownServices<'_> {
    fn index_of(&self, name: &str) -> Option<usize> {
        self.0.iter().position(|known| *known == name)
    }
}

fn location_of<T>(spanned: &Spanned<T>) -> Option<SourceLocation> {
    let location = spanned.referenced;
    (location.line() > 0).then(|| SourceLocation {
        line: location.line(),
        column: location.column(),
    })
}

/// Collects problems while sections are checked.
#[derive(Default)]
struct Checker {
    problems: Vec<Problem>,
}

impl Checker {
    fn report(&mut self, field: String, location: Option<SourceLocation>, kind: ProblemKind) {
        self.problems.push(Problem::new(field, location, kind));
    }

    /// Parses one scalar, reporting a failure under `field`.
    fn parse<T>(
        &mut self,
        field: impl Into<String>,
        text: &Text,
        parse: impl FnOnce(&str) -> Result<T, InvalidValue>,
    ) -> Option<T> {
        match parse(&text.value) {
            Ok(value) => Some(value),
            Err(invalid) => {
                self.report(
                    field.into(),
                    location_of(text),
                    ProblemKind::Invalid(invalid),
                );
                None
            }
        }
    }

    /// Parses each item of a list, reporting failures as `field[i]`; `Some` only if all parse.
    fn parse_each<T>(
        &mut self,
        field: &str,
        items: &[Text],
        parse: impl Fn(&str) -> Result<T, InvalidValue>,
    ) -> Option<Vec<T>> {
        let parsed: Vec<Option<T>> = items
            .iter()
            .enumerate()
            .map(|(i, item)| self.parse(format!("{field}[{i}]"), item, &parse))
            .collect();
        parsed.into_iter().collect()
    }

    /// Resolves a service name to its index, or reports it as unknown.
    fn service_ref(&mut self, field: String, name: &Text, known: &KnownServices) -> Option<usize> {
        let index = known.index_of(&name.value);
        if index.is_none() {
            self.report(
                field,
                location_of(name),
                ProblemKind::UnknownService {
                    found: name.value.clone(),
                    known: known.listed(),
                },
            );
        }
        index
    }

    fn project(&mut self, raw: &RawTopology) -> Option<Project> {
        let p = &raw.project;
        let id = self.parse("project.projectId", &p.project_id, ProjectId::parse);
        let number = self.parse(
            "project.projectNumber",
            &p.project_number,
            ProjectNumber::parse,
        );
        let region = self.parse("project.region", &p.region, Region::parse);
        Some(Project {
            id: id?,
            number: number?,
            region: region?,
        })
    }

    fn services(&mut self, raw: &RawTopology) -> Option<Vec<ServiceSpec>> {
        let list = &raw.services.value;
        if list.is_empty() {
            self.report(
                "services".into(),
                location_of(&raw.services),
                ProblemKind::NoServices,
            );
            return None;
        }
        let mut first_name: HashMap<&str, String> = HashMap::new();
        let mut first_path: HashMap<&str, String> = HashMap::new();
        let mut parts = Vec::with_capacity(list.len());
        for (i, service) in list.iter().enumerate() {
            let at = |field: &str| format!("services[{i}].{field}");
            let name = self.parse(at("name"), &service.name, ServiceName::parse);
            if let Some(first) = first_name.get(service.name.value.as_str()) {
                self.report(
                    at("name"),
                    location_of(&service.name),
                    ProblemKind::DuplicateService {
                        name: service.name.value.clone(),
                        first: first.clone(),
                    },
                );
            } else {
                first_name.insert(&service.name.value, at("name"));
            }

            let paths = self.parse_each(&at("paths"), &service.paths, PathPattern::parse);
            for (j, path) in service.paths.iter().enumerate() {
                let field = format!("services[{i}].paths[{j}]");
                match first_path.get(path.value.as_str()) {
                    Some(first) => self.report(
                        field,
                        location_of(path),
                        ProblemKind::DuplicatePath {
                            pattern: path.value.clone(),
                            first: first.clone(),
                        },
                    ),
                    None => {
                        first_path.insert(&path.value, field);
                    }
                }
            }

            let ingress = self.parse(at("ingress"), &service.ingress, Ingress::parse);
            let invokers = self.parse_each(&at("invokers"), &service.invokers, Member::parse);
            let custom_audiences = self.custom_audiences(&at("customAudiences"), service);
            parts.push((|| {
                Some(ServiceSpec {
                    name: name?,
                    paths: paths?,
                    ingress: ingress?,
                    invokers: invokers?,
                    custom_audiences: custom_audiences?,
                    invoker_iam: InvokerIamCheck::from_invoker_iam_disabled(
                        service.invoker_iam_disabled,
                    ),
                })
            })());
        }
        parts.into_iter().collect()
    }

    /// `customAudiences` (item 46): each a [`CustomAudience`], none twice, and the list's JSON
    /// within Cloud Run's 32,768 characters.
    fn custom_audiences(
        &mut self,
        field: &str,
        service: &RawService,
    ) -> Option<Vec<CustomAudience>> {
        let Some(list) = &service.custom_audiences else {
            return Some(Vec::new());
        };
        let parsed = self.parse_each(field, &list.value, CustomAudience::parse);
        let mut ok = true;
        for (j, audience) in list.value.iter().enumerate() {
            if list.value[..j].iter().any(|a| a.value == audience.value) {
                ok = false;
                self.report(
                    format!("{field}[{j}]"),
                    location_of(audience),
                    ProblemKind::Invalid(InvalidValue::new(
                        "a custom audience not listed before",
                        &audience.value,
                    )),
                );
            }
        }
        // JSON of a list of strings: brackets, quotes, commas, and each string escaped.
        let json_chars = 2 + list
            .value
            .iter()
            .map(|a| json_string_chars(&a.value) + 1)
            .sum::<usize>()
            .saturating_sub(1);
        if json_chars > MAX_CUSTOM_AUDIENCES_JSON_CHARS {
            ok = false;
            self.report(
                field.to_owned(),
                location_of(list),
                ProblemKind::Invalid(InvalidValue::new(
                    "custom audiences whose JSON list is at most 32768 characters (Cloud Run's cap)",
                    &format!("{json_chars} characters"),
                )),
            );
        }
        parsed.filter(|_| ok)
    }

    /// `loadBalancer.region`: absent means Google's global external ALB; present, a regional
    /// one, which must sit in the services' region (its serverless NEGs are regional).
    fn load_balancer_scope(
        &mut self,
        raw: &RawTopology,
        project: Option<&Project>,
    ) -> Option<LoadBalancerScope> {
        let Some(region) = raw.load_balancer.as_ref().and_then(|lb| lb.region.as_ref()) else {
            return Some(LoadBalancerScope::Global);
        };
        let parsed = self.parse("loadBalancer.region", region, Region::parse)?;
        let project = project?;
        if parsed != project.region {
            self.report(
                "loadBalancer.region".into(),
                location_of(region),
                ProblemKind::Invalid(InvalidValue::new(
                    format!(
                        "the services' region {} (project.region): a regional backend service \
                         can only use serverless NEGs of its own region",
                        project.region
                    ),
                    &region.value,
                )),
            );
            return None;
        }
        Some(LoadBalancerScope::Regional(parsed))
    }

    fn bindings(&mut self, field: &str, raw: &[RawBinding]) -> Option<Vec<IamBinding>> {
        let bindings: Vec<Option<IamBinding>> = raw
            .iter()
            .enumerate()
            .map(|(i, binding)| {
                let role = self.parse(format!("{field}[{i}].role"), &binding.role, Role::parse);
                let members = self.parse_each(
                    &format!("{field}[{i}].members"),
                    &binding.members,
                    Member::parse,
                );
                Some(IamBinding::new(role?, members?))
            })
            .collect();
        bindings.into_iter().collect()
    }

    fn iap(&mut self, raw: &RawTopology) -> Option<IapSettings> {
        let iap = &raw.iap;
        let client = self.parse(
            "iap.oauth2ClientId",
            &iap.oauth2_client_id,
            OAuthClientId::parse,
        );
        let programmatic = self.parse_each(
            "iap.programmaticClients",
            &iap.programmatic_clients,
            OAuthClientId::parse,
        );
        let bindings = self.bindings("iap.bindings", &iap.bindings);
        Some(IapSettings {
            oauth2_client_id: client?,
            programmatic_clients: programmatic?,
            allow_http_options: iap.allow_http_options,
            bindings: bindings?,
        })
    }

    /// Per-service IAP bindings, one list per declared service, in `services` order.
    fn service_bindings(
        &mut self,
        raw: &RawTopology,
        known: &KnownServices,
    ) -> Option<Vec<Vec<IamBinding>>> {
        let mut per_service = vec![Vec::new(); known.0.len()];
        let mut complete = true;
        for (name, raw_bindings) in KeyedList::entries(&raw.iap.service_bindings) {
            let field = format!("iap.serviceBindings.{}", name.value);
            let index = self.service_ref(field.clone(), name, known);
            match (index, self.bindings(&field, raw_bindings)) {
                (Some(index), Some(bindings)) => per_service[index].extend(bindings),
                _ => complete = false,
            }
        }
        complete.then_some(per_service)
    }

    fn gateway(
        &mut self,
        raw: &RawTopology,
        base_dir: &Path,
        project: Option<&Project>,
    ) -> Option<Gateway> {
        let g = &raw.gateway;
        let api_id = self.parse("gateway.apiId", &g.api_id, ApiId::parse);
        let account = self.parse(
            "gateway.serviceAccount",
            &g.service_account,
            ServiceAccountEmail::parse,
        );
        let openapi = self.parse("gateway.openapi", &g.openapi, |s| {
            if s.trim().is_empty() {
                Err(InvalidValue::new(
                    "the path of the OpenAPI document, relative to this file",
                    s,
                ))
            } else {
                Ok(s.to_owned())
            }
        });
        let managed_service = match &g.managed_service {
            Some(text) => self
                .parse("gateway.managedService", text, Domain::parse)
                .map(|d| Some(d.as_str().to_owned())),
            None => Some(None),
        };
        let api_id = api_id?;
        let openapi = openapi?;
        let managed_service = match managed_service? {
            Some(name) => name,
            None => naming::managed_service_name(&project?.id, api_id.as_str()),
        };
        Some(Gateway {
            openapi_path: base_dir.join(&openapi),
            openapi_as_written: openapi,
            api_id,
            service_account: account?,
            managed_service,
        })
    }

    fn firebase(&mut self, raw: &RawTopology) -> Option<Firebase> {
        let f = &raw.firebase;
        let project_id = self.parse("firebase.projectId", &f.project_id, ProjectId::parse);
        let key = self.parse("firebase.webApiKey", &f.web_api_key, |s| {
            if s.is_empty() || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
                Err(InvalidValue::new(
                    "a web API key (any non-empty text without spaces; a placeholder locally)",
                    s,
                ))
            } else {
                Ok(s.to_owned())
            }
        });
        Some(Firebase {
            project_id: project_id?,
            web_api_key: key?,
        })
    }

    fn local(&mut self, raw: &RawTopology, known: &KnownServices) -> Option<LocalSettings> {
        let Some(local) = &raw.local else {
            return Some(LocalSettings::default());
        };
        let test_users = self.parse_each("local.testUsers", &local.test_users, UserEmail::parse);
        for (i, user) in local.test_users.iter().enumerate() {
            let lower = user.value.to_ascii_lowercase();
            if local.test_users[..i]
                .iter()
                .any(|u| u.value.to_ascii_lowercase() == lower)
            {
                self.report(
                    format!("local.testUsers[{i}]"),
                    location_of(user),
                    ProblemKind::Invalid(InvalidValue::new(
                        "a test user not listed before",
                        &user.value,
                    )),
                );
            }
        }
        let upstreams: Vec<Option<(ServiceName, UpstreamAddr)>> =
            KeyedList::entries(&local.upstreams)
                .iter()
                .map(|(name, addr)| {
                    let field = format!("local.upstreams.{}", name.value);
                    let index = self.service_ref(field.clone(), name, known);
                    let service = index.and_then(|_| ServiceName::parse(&name.value).ok());
                    let addr = self.parse(field, addr, UpstreamAddr::parse);
                    Some((service?, addr?))
                })
                .collect();
        let upstreams = upstreams.into_iter().collect::<Option<_>>();
        let test_users = test_users?;
        let unique = test_users.len()
            == test_users
                .iter()
                .collect::<std::collections::HashSet<_>>()
                .len();
        Some(LocalSettings {
            upstreams: upstreams?,
            test_users: unique.then_some(test_users)?,
        })
    }
}

/// Characters `s` takes as a JSON string, quotes included.
fn json_string_chars(s: &str) -> usize {
    2 + s
        .chars()
        .map(|c| match c {
            '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
            c if (c as u32) < 0x20 => 6,
            _ => 1,
        })
        .sum::<usize>()
}
