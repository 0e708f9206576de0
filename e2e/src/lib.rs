//! e2e: fortress's main job. It starts the whole fortress in one process and attacks it with
//! Gherkin scenarios, and it is `just up`'s launcher.
//!
//! # Layout
//! - [`stack`]: [`Fortress::start`], every component on 127.0.0.1 wired as production is.
//! - [`containers`]: the container runtime, every component in its own `FROM scratch`
//!   container on isolated networks (`just e2e --runtime containers`).
//! - [`keys`]: the issuers' keys, owned by the harness so it can mint correctly signed tokens
//!   that are wrong in exactly one way.
//! - [`recorder`]: what each service received, for "the service saw / did not see" steps.
//! - [`edit`]: variations of fortress.yaml and openapi.yaml for scenarios that need them.
//! - [`tokens`]: the tokens a scenario's client holds: real Firebase sign-in, Google ID tokens,
//!   and the forgeries.
//! - [`world`]: [`FortressWorld`], one scenario's client, its stack and its last exchange.
//! - [`steps`]: the step vocabulary, documented step by step in `e2e/STEPS.md`.
//! - [`runner`]: the cucumber runner shared by `tests/bdd.rs` and `fortress-e2e`.
//!
//! # What it refuses to do
//! Synchronise on sleeps; bind anything but 127.0.0.1; touch the process environment (settings go
//! to builders); change the shipped fixtures (variations are made in memory).

pub mod containers;
pub mod edit;
pub mod keys;
pub mod recorder;
pub mod stack;
pub mod tokens;

pub use stack::{Fortress, Ports, StackConfig, StackError};
pub mod runner;
pub mod steps;
pub mod world;

pub use world::FortressWorld;
