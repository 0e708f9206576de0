//! [`ApiConfig`]: an OpenAPI document checked and turned into what the gateway runs: the
//! [`RouteTable`], the JWT providers and the API-wide switches. What Google's Service Management
//! does when `gcloud api-gateway api-configs create` turns `openapi.yaml` into a service config,
//! restricted to what the data plane needs.
//!
//! Parse, don't validate (style.md section 3): [`ApiConfig::from_text`] is the only way to get
//! one, and every invalid spec is refused here, at start, with the path of the offending field
//! (`paths./a.get.x-google-backend: jwt_audience and disable_auth are mutually exclusive`).
//!
//! Defaults applied here, with their sources:
//! - `x-google-backend` at operation level replaces the top-level one entirely (item 60);
//!   `path_translation` defaults to APPEND_PATH_TO_ADDRESS at the top level and CONSTANT_ADDRESS
//!   at operation level (item 62); `deadline` defaults to 15 s, and so does a deadline <= 0
//!   (item 62); `protocol` defaults to `http/1.1` (item 62).
//! - The backend token's audience is `jwt_audience`, else the **whole address** as written, which
//!   is what Google's conversion fills in (item 65, corrected); `disable_auth: true` mints none.
//! - A JWT provider without `x-google-audiences` accepts only `https://<service name>` (item 69).
//! - JWT locations default to `Authorization: Bearer`, `X-Goog-Iap-Jwt-Assertion` and the
//!   `access_token` query parameter (item 70).
//! - An `apiKey` scheme spelled the standard way (`name: key, in: query`) looks in `?key=`,
//!   `?api_key=` and `x-api-key`, in that order; any other spelling only where it says (item 71).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, Method};

use crate::openapi::{self, BackendExt, Document, PathTranslationExt, SecurityRequirement};
use crate::path_translation::PathTranslation;
use crate::route_table::{
    Backend, BackendAuth, BackendProtocol, KeyLocation, Route, RouteKind, RouteTable, Scheme,
};
use crate::template::PathTemplate;

/// ESPv2's default backend deadline (`util.DefaultResponseDeadline`, item 62).
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(15);

/// The managed service name (`<api>-<hash>.apigateway.<project>.cloud.goog`, or an Endpoints
/// service name), as ESPv2 takes it with `--service`. Used for the default JWT audience.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceName(String);

impl ServiceName {
    /// A DNS-like name: non-empty, no scheme, no `/`, no spaces.
    pub fn parse(name: &str) -> Result<Self, String> {
        if name.is_empty()
            || name.contains("://")
            || name.contains('/')
            || name.chars().any(char::is_whitespace)
        {
            return Err(format!(
                "service name {name:?}: expected a bare name like fortress-api-abc123.apigateway.my-project.cloud.goog"
            ));
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `https://<service name>`: the audience a provider without `x-google-audiences` requires.
    pub fn default_audience(&self) -> String {
        format!("https://{}", self.0)
    }
}

/// Where a JWT may be found (item 70).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwtLocation {
    /// A header; with a prefix (`Bearer `), the token is what follows it.
    Header {
        name: HeaderName,
        value_prefix: Option<String>,
    },
    Query(String),
}

/// Where a provider's keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksSource {
    Uri(String),
    /// No `x-google-jwks_uri`: `<issuer>/.well-known/openid-configuration` names it (item 79).
    OpenIdDiscovery,
}

/// A JWT provider: one `securityDefinitions` entry with `x-google-issuer`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtProviderSpec {
    pub id: String,
    pub issuer: String,
    pub jwks: JwksSource,
    /// Never empty: the provider's audiences or the service-name default.
    pub audiences: Vec<String>,
    pub locations: Vec<JwtLocation>,
}

/// Why a spec is refused.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Parse(#[from] openapi::ParseError),
    #[error("{source_name}: {path}: {message}")]
    Invalid {
        source_name: String,
        path: String,
        message: String,
    },
}

/// A checked API config: routes, providers, switches.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    routes: RouteTable,
    providers: BTreeMap<String, JwtProviderSpec>,
    allow_cors: bool,
    relaxations: Vec<String>,
}

impl ApiConfig {
    /// Reads and checks the spec at `path`. Blocking IO: call it before serving.
    pub fn load(path: &Path, service: &ServiceName) -> Result<Self, SpecError> {
        let text = std::fs::read_to_string(path).map_err(|source| SpecError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_text(&text, &path.display().to_string(), service)
    }

    /// Checks YAML or JSON text; `source_name` names it in errors.
    pub fn from_text(
        text: &str,
        source_name: &str,
        service: &ServiceName,
    ) -> Result<Self, SpecError> {
        let doc = Document::from_text(text, source_name)?;
        Builder {
            source_name,
            service,
            relaxations: Vec::new(),
        }
        .build(&doc)
    }

    pub fn routes(&self) -> &RouteTable {
        &self.routes
    }

    pub fn providers(&self) -> &BTreeMap<String, JwtProviderSpec> {
        &self.providers
    }

    /// `x-google-endpoints[].allowCors`.
    pub fn allow_cors(&self) -> bool {
        self.allow_cors
    }

    /// Things the shim accepts but does not do as API Gateway would, to be logged at start.
    pub fn relaxations(&self) -> &[String] {
        &self.relaxations
    }

    /// Every distinct backend (for the local-mode resolver and the start-up log).
    pub fn backends(&self) -> Vec<Arc<Backend>> {
        let mut out: Vec<Arc<Backend>> = Vec::new();
        for r in self.routes.routes() {
            if !out
                .iter()
                .any(|b| Arc::ptr_eq(b, &r.backend) || **b == *r.backend)
            {
                out.push(r.backend.clone());
            }
        }
        out
    }
}

struct Builder<'a> {
    source_name: &'a str,
    service: &'a ServiceName,
    relaxations: Vec<String>,
}

const DEFAULT_KEY_LOCATIONS: [&str; 3] = ["key", "api_key", "x-api-key"];

impl Builder<'_> {
    fn invalid(&self, path: impl Into<String>, message: impl Into<String>) -> SpecError {
        SpecError::Invalid {
            source_name: self.source_name.to_owned(),
            path: path.into(),
            message: message.into(),
        }
    }

    fn build(mut self, doc: &Document) -> Result<ApiConfig, SpecError> {
        if doc.swagger.as_str() != Some("2.0") {
            return Err(self.invalid(
                "swagger",
                format!(
                    "expected \"2.0\" (API Gateway takes OpenAPI 2.0 only), found {}",
                    doc.swagger
                ),
            ));
        }
        let base_path = match doc.base_path.as_deref() {
            None | Some("/") | Some("") => String::new(),
            Some(p) if p.starts_with('/') => p.trim_end_matches('/').to_owned(),
            Some(p) => return Err(self.invalid("basePath", format!("{p:?} must start with \"/\""))),
        };

        let top_backend = match &doc.backend {
            Some(ext) => Some(Arc::new(self.backend(ext, "x-google-backend", true)?)),
            None => None,
        };

        // Security definitions: JWT providers and API-key schemes.
        let mut providers = BTreeMap::new();
        let mut key_schemes: BTreeMap<String, Vec<KeyLocation>> = BTreeMap::new();
        for (name, scheme) in &doc.security_definitions {
            let path = format!("securityDefinitions.{name}");
            match scheme.kind.as_str() {
                "oauth2" => {
                    let Some(issuer) = scheme.issuer.clone().filter(|i| !i.is_empty()) else {
                        return Err(self.invalid(
                            format!("{path}.x-google-issuer"),
                            "required for an oauth2 scheme (the JWT issuer, item 68)",
                        ));
                    };
                    let jwks = match scheme.jwks_uri.as_deref() {
                        Some(u) if u.starts_with("https://") || u.starts_with("http://") => {
                            JwksSource::Uri(u.to_owned())
                        }
                        Some(u) => {
                            return Err(self.invalid(
                                format!("{path}.x-google-jwks_uri"),
                                format!("{u:?}: expected an http(s) URL"),
                            ));
                        }
                        None if issuer.starts_with("https://") => JwksSource::OpenIdDiscovery,
                        None => {
                            return Err(self.invalid(
                                format!("{path}.x-google-jwks_uri"),
                                "required when the issuer is not an https URL (no OpenID discovery possible)",
                            ));
                        }
                    };
                    let audiences: Vec<String> = scheme
                        .audiences
                        .as_deref()
                        .unwrap_or("")
                        .split(',')
                        .map(str::trim)
                        .filter(|a| !a.is_empty())
                        .map(str::to_owned)
                        .collect();
                    let audiences = if audiences.is_empty() {
                        vec![self.service.default_audience()]
                    } else {
                        audiences
                    };
                    let locations = match &scheme.jwt_locations {
                        None => default_jwt_locations(),
                        Some(list) => {
                            let mut out = Vec::new();
                            for (i, loc) in list.iter().enumerate() {
                                let lpath = format!("{path}.x-google-jwt-locations[{i}]");
                                match (&loc.header, &loc.query) {
                                    (Some(h), None) => {
                                        let name =
                                            HeaderName::try_from(h.as_str()).map_err(|_| {
                                                self.invalid(
                                                    format!("{lpath}.header"),
                                                    format!("{h:?} is not a header name"),
                                                )
                                            })?;
                                        out.push(JwtLocation::Header {
                                            name,
                                            value_prefix: loc
                                                .value_prefix
                                                .clone()
                                                .filter(|p| !p.is_empty()),
                                        });
                                    }
                                    (None, Some(q)) if !q.is_empty() => {
                                        out.push(JwtLocation::Query(q.clone()))
                                    }
                                    _ => {
                                        return Err(self.invalid(
                                            lpath,
                                            "expected exactly one of header or query",
                                        ));
                                    }
                                }
                            }
                            if out.is_empty() {
                                default_jwt_locations()
                            } else {
                                out
                            }
                        }
                    };
                    providers.insert(
                        name.clone(),
                        JwtProviderSpec {
                            id: name.clone(),
                            issuer,
                            jwks,
                            audiences,
                            locations,
                        },
                    );
                }
                "apiKey" => {
                    let key_name = scheme.name.as_deref().unwrap_or("");
                    let location = scheme.location.as_deref().unwrap_or("");
                    let locs = match (key_name, location) {
                        ("", _) => {
                            return Err(self
                                .invalid(format!("{path}.name"), "required for an apiKey scheme"));
                        }
                        // The standard definition yields no systemParameters, so ESPv2 uses its
                        // three default locations (item 71).
                        ("key", "query") => vec![
                            KeyLocation::Query(DEFAULT_KEY_LOCATIONS[0].into()),
                            KeyLocation::Query(DEFAULT_KEY_LOCATIONS[1].into()),
                            KeyLocation::Header(HeaderName::from_static(DEFAULT_KEY_LOCATIONS[2])),
                        ],
                        (n, "query") => vec![KeyLocation::Query(n.to_owned())],
                        (n, "header") => {
                            vec![KeyLocation::Header(HeaderName::try_from(n).map_err(
                                |_| {
                                    self.invalid(
                                        format!("{path}.name"),
                                        format!("{n:?} is not a header name"),
                                    )
                                },
                            )?)]
                        }
                        (_, other) => {
                            return Err(self.invalid(
                                format!("{path}.in"),
                                format!("{other:?}: expected query or header"),
                            ));
                        }
                    };
                    key_schemes.insert(name.clone(), locs);
                }
                other => {
                    return Err(self.invalid(
                        format!("{path}.type"),
                        format!("{other:?}: API Gateway supports oauth2 (JWT) and apiKey schemes"),
                    ));
                }
            }
        }

        let top_security = match &doc.security {
            Some(reqs) => Some(self.security(reqs, "security", &providers, &key_schemes)?),
            None => None,
        };

        let mut routes: Vec<Route> = Vec::new();
        for (raw_path, item) in &doc.paths {
            let ppath = format!("paths.{raw_path}");
            if !raw_path.starts_with('/') {
                return Err(self.invalid(ppath, "a path must start with \"/\""));
            }
            let full = format!("{base_path}{raw_path}");
            let template =
                PathTemplate::parse(&full).map_err(|e| self.invalid(ppath.clone(), e.0))?;
            for (method, op) in item.operations() {
                let opath = format!("{ppath}.{method}");
                let backend = match &op.backend {
                    Some(ext) => {
                        Arc::new(self.backend(ext, &format!("{opath}.x-google-backend"), false)?)
                    }
                    None => top_backend.clone().ok_or_else(|| {
                        self.invalid(
                            opath.clone(),
                            "no x-google-backend here and none at the top level: the gateway has nowhere to send it",
                        )
                    })?,
                };
                let (jwt_providers, api_key) = match &op.security {
                    Some(reqs) => {
                        self.security(reqs, &format!("{opath}.security"), &providers, &key_schemes)?
                    }
                    None => top_security.clone().unwrap_or_default(),
                };
                let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes())
                    .unwrap_or(Method::GET);
                if let Some(dup) = routes
                    .iter()
                    .find(|r| r.method == method && r.template.segments() == template.segments())
                {
                    return Err(self.invalid(
                        opath,
                        format!(
                            "{method} {full} duplicates {} {} (same pattern)",
                            dup.method,
                            dup.template.origin()
                        ),
                    ));
                }
                let operation = op
                    .operation_id
                    .clone()
                    .unwrap_or_else(|| format!("{method} {full}"));
                routes.push(Route {
                    method,
                    template: template.clone(),
                    operation,
                    kind: RouteKind::Operation,
                    jwt_providers,
                    api_key,
                    backend,
                });
            }
        }

        let allow_cors = doc
            .endpoints
            .iter()
            .flatten()
            .any(|e| e.allow_cors == Some(true));
        if allow_cors {
            // One OPTIONS route per template that has none, cloned from its first operation.
            let mut extra = Vec::new();
            for r in &routes {
                let has_options = routes
                    .iter()
                    .chain(extra.iter())
                    .any(|o: &Route| o.method == Method::OPTIONS && o.template == r.template);
                if r.method != Method::OPTIONS && !has_options {
                    extra.push(Route {
                        method: Method::OPTIONS,
                        template: r.template.clone(),
                        operation: format!("ESPv2_Autogenerated_CORS_{}", r.operation),
                        kind: RouteKind::CorsPreflight,
                        jwt_providers: Vec::new(),
                        api_key: None,
                        backend: r.backend.clone(),
                    });
                }
            }
            routes.extend(extra);
        }

        match doc.allow.as_deref() {
            None | Some("configured") => {}
            Some("all") => {
                let Some(top) = top_backend.clone() else {
                    return Err(self.invalid(
                        "x-google-allow",
                        "\"all\" needs a top-level x-google-backend to send unknown paths to",
                    ));
                };
                let template = PathTemplate::parse(&format!("{base_path}/**"))
                    .map_err(|e| self.invalid("basePath", e.0))?;
                for m in ["GET", "DELETE", "PATCH", "POST", "PUT"] {
                    let method = Method::from_bytes(m.as_bytes()).unwrap_or(Method::GET);
                    routes.push(Route {
                        method,
                        template: template.clone(),
                        operation: format!(
                            "Google_Autogenerated_Unrecognized_{}{}_Method_Call",
                            &m[..1],
                            m[1..].to_ascii_lowercase()
                        ),
                        kind: RouteKind::AllowAll,
                        jwt_providers: Vec::new(),
                        api_key: None,
                        backend: top.clone(),
                    });
                }
            }
            Some(other) => {
                return Err(self.invalid(
                    "x-google-allow",
                    format!("{other:?}: expected configured or all"),
                ));
            }
        }

        for b in routes.iter().map(|r| &r.backend) {
            if b.protocol == BackendProtocol::H2 {
                let note = format!(
                    "backend {} asks for protocol h2; gateway-shim speaks HTTP/1.1 to it",
                    b.address
                );
                if !self.relaxations.contains(&note) {
                    self.relaxations.push(note);
                }
            }
        }
        if routes.iter().any(|r| r.api_key.is_some()) {
            self.relaxations.push(
                "API keys are checked for presence (and against --api-key values if given), not with Service Control"
                    .into(),
            );
        }

        Ok(ApiConfig {
            routes: RouteTable::new(routes),
            providers,
            allow_cors,
            relaxations: self.relaxations,
        })
    }

    /// The JWT providers (OR) and API-key locations of a `security` list.
    ///
    /// Google's conversion turns JWT schemes into auth requirements, any of which authenticates
    /// (ESPv2 builds a `requires_any` of providers), and API-key schemes into usage rules
    /// (`allowUnregisteredCalls: false`). A requirement naming several JWT schemes is therefore
    /// read as "any of them", like every other multi-provider spec.
    fn security(
        &self,
        reqs: &[SecurityRequirement],
        path: &str,
        providers: &BTreeMap<String, JwtProviderSpec>,
        key_schemes: &BTreeMap<String, Vec<KeyLocation>>,
    ) -> Result<(Vec<String>, Option<Vec<KeyLocation>>), SpecError> {
        let mut jwt = Vec::new();
        let mut keys: Option<Vec<KeyLocation>> = None;
        for (i, req) in reqs.iter().enumerate() {
            for name in req.keys() {
                if providers.contains_key(name) {
                    if !jwt.contains(name) {
                        jwt.push(name.clone());
                    }
                } else if let Some(locs) = key_schemes.get(name) {
                    let all = keys.get_or_insert_with(Vec::new);
                    for l in locs {
                        if !all.contains(l) {
                            all.push(l.clone());
                        }
                    }
                } else {
                    return Err(self.invalid(
                        format!("{path}[{i}].{name}"),
                        "names no securityDefinitions entry",
                    ));
                }
            }
        }
        Ok((jwt, keys))
    }

    fn backend(&self, ext: &BackendExt, path: &str, top_level: bool) -> Result<Backend, SpecError> {
        let Some(address) = ext.address.as_deref().filter(|a| !a.is_empty()) else {
            return Err(self.invalid(
                format!("{path}.address"),
                "required (the backend URL, item 61)",
            ));
        };
        let (scheme, rest) = if let Some(r) = address.strip_prefix("https://") {
            (Scheme::Https, r)
        } else if let Some(r) = address.strip_prefix("http://") {
            (Scheme::Http, r)
        } else if address.starts_with("grpc://") || address.starts_with("grpcs://") {
            return Err(self.invalid(
                format!("{path}.address"),
                format!("{address:?}: gRPC backends are not supported by gateway-shim"),
            ));
        } else {
            return Err(self.invalid(
                format!("{path}.address"),
                format!("{address:?}: expected an http:// or https:// URL"),
            ));
        };
        if rest.contains('?') || rest.contains('#') {
            return Err(self.invalid(
                format!("{path}.address"),
                format!("{address:?}: an address has no query or fragment"),
            ));
        }
        let (authority, addr_path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let host = authority_host(authority).ok_or_else(|| {
            self.invalid(
                format!("{path}.address"),
                format!("{address:?}: no host name"),
            )
        })?;
        if authority.contains('@') {
            return Err(self.invalid(
                format!("{path}.address"),
                format!("{address:?}: credentials in the address are not allowed"),
            ));
        }
        let path_translation = match ext.path_translation {
            Some(PathTranslationExt::AppendPathToAddress) => PathTranslation::AppendPathToAddress,
            Some(PathTranslationExt::ConstantAddress) => PathTranslation::ConstantAddress,
            None if top_level => PathTranslation::AppendPathToAddress,
            None => PathTranslation::ConstantAddress,
        };
        let deadline = match ext.deadline {
            None => DEFAULT_DEADLINE,
            Some(d) if !d.is_finite() => {
                return Err(
                    self.invalid(format!("{path}.deadline"), "expected a number of seconds")
                );
            }
            Some(d) if d <= 0.0 => DEFAULT_DEADLINE,
            Some(d) => Duration::try_from_secs_f64(d)
                .map_err(|_| self.invalid(format!("{path}.deadline"), "too large"))?,
        };
        let protocol = match ext.protocol.as_deref() {
            None | Some("") | Some("http/1.1") => BackendProtocol::Http1,
            Some("h2") => BackendProtocol::H2,
            Some(other) => {
                return Err(self.invalid(
                    format!("{path}.protocol"),
                    format!("{other:?}: expected http/1.1 or h2"),
                ));
            }
        };
        let auth = match (ext.jwt_audience.as_deref(), ext.disable_auth) {
            (Some(_), Some(true)) => {
                return Err(self.invalid(
                    path.to_owned(),
                    "jwt_audience and disable_auth are mutually exclusive (item 61)",
                ));
            }
            (Some(""), _) => {
                return Err(self.invalid(format!("{path}.jwt_audience"), "must not be empty"));
            }
            (Some(aud), _) => BackendAuth::IdToken {
                jwt_audience: aud.to_owned(),
            },
            (None, Some(true)) => BackendAuth::Disabled,
            (None, _) => BackendAuth::IdToken {
                jwt_audience: address.to_owned(),
            },
        };
        Ok(Backend {
            address: address.to_owned(),
            scheme,
            authority: authority.to_owned(),
            host,
            path: addr_path.to_owned(),
            path_translation,
            deadline,
            auth,
            protocol,
        })
    }
}

/// ESPv2's default JWT locations (`defaultJwtLocations` in `jwt_authn.go`, item 70).
pub fn default_jwt_locations() -> Vec<JwtLocation> {
    vec![
        JwtLocation::Header {
            name: http::header::AUTHORIZATION,
            value_prefix: Some("Bearer ".into()),
        },
        JwtLocation::Header {
            name: HeaderName::from_static("x-goog-iap-jwt-assertion"),
            value_prefix: None,
        },
        JwtLocation::Query("access_token".into()),
    ]
}

/// The host of `host[:port]` or `[v6]:port`.
fn authority_host(authority: &str) -> Option<String> {
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    let host = if let Some(rest) = authority.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        authority.split(':').next().unwrap_or("")
    };
    (!host.is_empty()).then(|| host.to_owned())
}
