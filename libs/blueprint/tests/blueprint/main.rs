//! Behaviour of the topology model through its public API, in one test binary:
//!
//! - `rejections`: every validation error, one line each, against a small valid topology;
//! - `url_map`: Google's URL-map matching as a table;
//! - `fixtures`: the shipped `fixtures/` load, agree with each other, and derive pinned values.

mod fixtures;
mod options;
mod rejections;
mod url_map;

use blueprint::{BlueprintError, Topology};

/// The name every test topology is loaded under, so messages can be asserted in full.
pub const SOURCE: &str = "fixtures/bad.yaml";

/// A small valid topology; each rejection test changes one thing in it.
pub const VALID: &str = r#"project:
  projectId: my-project
  projectNumber: "123456789012"
  region: us-central1
domain: api.myawesomeapp.com
services:
  - name: smoothie-service
    paths: ["/smoothie", "/smoothie/*"]
    ingress: internal-and-cloud-load-balancing
    invokers: ["serviceAccount:service-123456789012@gcp-sa-iap.iam.gserviceaccount.com"]
  - name: coffee-service
    paths: ["/coffee", "/coffee/*"]
    ingress: internal-and-cloud-load-balancing
    invokers: ["serviceAccount:service-123456789012@gcp-sa-iap.iam.gserviceaccount.com"]
iap:
  oauth2ClientId: 987654321-abcdefghijklmnop.apps.googleusercontent.com
  programmaticClients: []
  allowHttpOptions: false
  bindings:
    - role: roles/iap.httpsResourceAccessor
      members: ["serviceAccount:my-gateway-sa@my-project.iam.gserviceaccount.com"]
  serviceBindings:
    coffee-service:
      - role: roles/iap.httpsResourceAccessor
        members: ["user:alice@example.com"]
gateway:
  apiId: fortress-api
  serviceAccount: my-gateway-sa@my-project.iam.gserviceaccount.com
  openapi: openapi.yaml
firebase:
  projectId: my-project
  webApiKey: placeholder
local:
  upstreams:
    smoothie-service: "127.0.0.1:8081"
"#;

/// Loads `text` under [`SOURCE`].
pub fn load(text: &str) -> Result<Topology, BlueprintError> {
    Topology::from_yaml_str(text, SOURCE)
}

/// [`VALID`] with `from` (which must occur exactly once) replaced by `to`.
pub fn edited(from: &str, to: &str) -> String {
    assert_eq!(
        VALID.matches(from).count(),
        1,
        "the edit target must occur exactly once in VALID: {from:?}"
    );
    VALID.replacen(from, to, 1)
}

/// Loads `text` and returns the error it must produce.
pub fn load_err(text: &str) -> BlueprintError {
    match load(text) {
        Ok(_) => panic!("expected the topology to be rejected:\n{text}"),
        Err(error) => error,
    }
}

#[test]
fn the_valid_base_topology_loads() {
    let topology = load(VALID).expect("VALID must load");
    assert_eq!(topology.services().len(), 2);
}
