//! The fortress topology: `fixtures/fortress.yaml` loaded, validated, and turned into every name,
//! id and URL the rest of the workspace needs.
//!
//! The topology file is the single source of truth (architecture.md, section 4): the emulator
//! serves what it describes, the provisioner creates it, the e2e harness attacks it. This crate
//! is the only place that reads it and the only place that derives names (`-neg`, `-backend`,
//! `.a.run.app`, backend-service ids, IAP audiences), so the three can never disagree.
//!
//! What it refuses to do: network or Google API calls, reading any file but the topology itself
//! (the OpenAPI path is resolved, not opened), panicking on bad input. Bad input is a
//! [`BlueprintError`] naming the file, the field and what was expected:
//!
//! ```text
//! fixtures/bad.yaml:7:14: services[1].ingress: expected one of all, internal, internal-and-cloud-load-balancing, found "public"
//! ```
//!
//! Value problems are all collected and reported together; YAML syntax and structure errors
//! (unknown or missing field, wrong type) stop at the first, as serde-saphyr does.
//!
//! ```no_run
//! let topology = blueprint::Topology::load("fixtures/fortress.yaml")?;
//! let service = topology.route("api.myawesomeapp.com", "/smoothie/recipes/1");
//! println!("{} behind {}", service.name(), service.iap_audience());
//! # Ok::<(), blueprint::BlueprintError>(())
//! ```
//!
//! # Layout
//!
//! - `topology`: [`Topology`] and its sections ([`Service`], [`IapSettings`], [`Gateway`], ...),
//!   the validated model everyone reads.
//! - `raw`: the YAML's serde twin, with source locations; private, so the file format can change
//!   without breaking callers.
//! - `validate`: raw to validated, collecting every problem.
//! - `naming`: the one place names, ids and hashes are derived.
//! - `project`, `identity`, `cloud_run`, `load_balancer`: parse-don't-validate newtypes grouped by
//!   the Google product whose rules they follow; `load_balancer` also holds the [`UrlMap`] and its
//!   routing.
//! - `error`: [`BlueprintError`] and its parts.

mod cloud_run;
mod error;
mod identity;
mod load_balancer;
mod naming;
mod project;
mod raw;
mod topology;
mod validate;

pub use cloud_run::{
    CustomAudience, Ingress, IngressSource, InvokerIamCheck, MAX_CUSTOM_AUDIENCES_JSON_CHARS,
    RunAppHost, ServiceName,
};
pub use error::{BlueprintError, InvalidValue, Problem, ProblemKind, SourceLocation};
pub use identity::{
    IamBinding, Member, OAuthClientId, Role, ServiceAccountEmail, ServiceAccountKind, UserEmail,
};
pub use load_balancer::{
    BackendService, BackendServiceId, HostRule, IapAudience, LoadBalancerScope, PathMatcher,
    PathPattern, PathRule, UrlMap,
};
pub use naming::LoadBalancerNames;
pub use project::{Domain, ProjectId, ProjectNumber, Region};
pub use topology::{
    ApiId, Firebase, Gateway, IapSettings, LocalSettings, Project, Service, Topology, UpstreamAddr,
};
