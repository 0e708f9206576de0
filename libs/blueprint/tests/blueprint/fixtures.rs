//! The shipped `fixtures/fortress.yaml` loads, derives the values pinned here, and agrees with
//! `fixtures/openapi.yaml`. A change to a derivation shows up here first: the emulator, the
//! provisioner and e2e all see these exact values.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use blueprint::{Ingress, Member, ServiceAccountEmail, Topology};
use serde::Deserialize;

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

fn fortress() -> Topology {
    Topology::load(fixtures_dir().join("fortress.yaml")).expect("fixtures/fortress.yaml loads")
}

#[test]
fn the_shipped_topology_declares_the_tutorials_project() {
    let topology = fortress();
    let project = topology.project();
    assert_eq!(project.id().as_str(), "my-project");
    assert_eq!(project.number().to_string(), "123456789012");
    assert_eq!(project.region().as_str(), "us-central1");
    assert_eq!(topology.domain().as_str(), "api.myawesomeapp.com");
    assert_eq!(topology.load_balancer_url(), "https://api.myawesomeapp.com");
    let names: Vec<&str> = topology
        .services()
        .iter()
        .map(|s| s.name().as_str())
        .collect();
    assert_eq!(names, ["smoothie-service", "coffee-service"]);
    for service in topology.services() {
        assert_eq!(service.ingress(), Ingress::InternalAndCloudLoadBalancing);
    }
    assert_eq!(
        topology.default_service().name().as_str(),
        "smoothie-service"
    );
    assert_eq!(
        topology.iap().oauth2_client_id().as_str(),
        "987654321-abcdefghijklmnop.apps.googleusercontent.com"
    );
    assert!(topology.iap().programmatic_clients().is_empty());
    assert!(!topology.iap().allow_http_options());
    assert_eq!(topology.gateway().api_id().as_str(), "fortress-api");
    assert_eq!(
        topology.firebase().issuer(),
        "https://securetoken.google.com/my-project"
    );
    assert!(topology.local().upstreams().is_empty());
}

#[test]
fn the_shipped_topology_derives_pinned_names_ids_and_urls() {
    let topology = fortress();
    // (service, backend-service id, legacy run.app URL)
    let pinned = [
        (
            "smoothie-service",
            5_249_282_811_093_715_251_u64,
            "https://smoothie-service-zqn4polmo4-uc.a.run.app",
        ),
        (
            "coffee-service",
            7_613_793_553_786_547_467,
            "https://coffee-service-zqn4polmo4-uc.a.run.app",
        ),
    ];
    for (name, id, run_app_url) in pinned {
        let service = topology.service(name).expect("declared");
        assert_eq!(service.neg_name(), format!("{name}-neg"));
        assert_eq!(service.backend_service().name(), format!("{name}-backend"));
        assert_eq!(service.backend_service().id().get(), id);
        assert_eq!(
            service.iap_audience().as_str(),
            format!("/projects/123456789012/global/backendServices/{id}")
        );
        assert_eq!(
            service.iap_resource_name(),
            format!("projects/123456789012/iap_web/compute/services/{id}")
        );
        assert_eq!(
            service.run_app_url().expect("us-central1 has a code"),
            run_app_url
        );
        assert_eq!(
            service.deterministic_run_app_host().url(),
            format!("https://{name}-123456789012.us-central1.run.app")
        );
        assert_eq!(
            topology
                .service_by_run_app_host(&run_app_url["https://".len()..])
                .map(|s| s.name().as_str()),
            Some(name)
        );
    }
    assert_eq!(
        topology.iap_service_agent().as_str(),
        "service-123456789012@gcp-sa-iap.iam.gserviceaccount.com"
    );
    assert_eq!(
        topology.iap_project_resource_name(),
        "projects/123456789012/iap_web"
    );
    let gateway = topology.gateway();
    assert_eq!(
        gateway.managed_service(),
        "fortress-api-2vj0oy1dh1sn2.apigateway.my-project.cloud.goog"
    );
    assert_eq!(
        gateway.default_jwt_audience(),
        "https://fortress-api-2vj0oy1dh1sn2.apigateway.my-project.cloud.goog"
    );
    assert_eq!(gateway.gateway_id(), "fortress-api-gateway");
    let names = topology.load_balancer_names();
    assert_eq!(
        [
            names.address,
            names.certificate,
            names.url_map,
            names.https_proxy,
            names.forwarding_rule
        ],
        [
            "fortress-ip",
            "fortress-cert",
            "fortress-url-map",
            "fortress-https-proxy",
            "fortress-forwarding-rule"
        ]
    );
}

#[test]
fn run_app_hosts_are_recognised_in_both_forms_without_case_or_port() {
    let topology = fortress();
    let find = |host: &str| {
        topology
            .service_by_run_app_host(host)
            .map(|s| s.name().as_str())
    };
    assert_eq!(
        find("COFFEE-SERVICE-zqn4polmo4-uc.a.run.app:443"),
        Some("coffee-service")
    );
    assert_eq!(
        find("smoothie-service-123456789012.us-central1.run.app"),
        Some("smoothie-service")
    );
    assert_eq!(find("tea-service-zqn4polmo4-uc.a.run.app"), None);
    assert_eq!(find("smoothie-service-zqn4polmo4-ue.a.run.app"), None);
}

#[test]
fn only_iaps_service_agent_may_invoke_the_services_and_only_the_gateway_passes_iap() {
    let topology = fortress();
    let agent = topology.iap_service_agent();
    let gateway = topology.gateway().service_account().clone();
    assert_eq!(
        gateway,
        ServiceAccountEmail::parse("my-gateway-sa@my-project.iam.gserviceaccount.com")
            .expect("valid")
    );
    for service in topology.services() {
        assert!(service.is_invoker(&agent), "{}", service.name());
        assert!(!service.is_invoker(&gateway), "{}", service.name());
        assert_eq!(
            topology.iap_accessors(service),
            [&Member::ServiceAccount(gateway.clone())],
            "{}",
            service.name()
        );
    }
}

#[test]
fn the_shipped_topology_routes_the_tutorials_paths() {
    let topology = fortress();
    let table = [
        ("/smoothie", "smoothie-service"),
        ("/smoothie/recipes/1", "smoothie-service"),
        ("/coffee", "coffee-service"),
        ("/coffee/ratio?cups=2", "coffee-service"),
        ("/coffeeshop", "smoothie-service"),
        ("/", "smoothie-service"),
    ];
    for (path, expected) in table {
        assert_eq!(
            topology.route("api.myawesomeapp.com", path).name().as_str(),
            expected,
            "{path}"
        );
    }
}

// --- openapi.yaml, as much of it as the cross-check needs ---

#[derive(Deserialize)]
struct OpenApi {
    swagger: String,
    #[serde(rename = "x-google-backend")]
    backend: Backend,
    #[serde(rename = "securityDefinitions")]
    security_definitions: BTreeMap<String, SecurityDefinition>,
    paths: BTreeMap<String, BTreeMap<String, Operation>>,
}

#[derive(Deserialize)]
struct Backend {
    address: String,
    jwt_audience: String,
    path_translation: String,
}

#[derive(Deserialize)]
struct SecurityDefinition {
    #[serde(rename = "x-google-issuer")]
    issuer: String,
    #[serde(rename = "x-google-audiences")]
    audiences: String,
}

#[derive(Deserialize)]
struct Operation {
    #[serde(rename = "operationId")]
    operation_id: String,
    #[serde(rename = "x-google-backend")]
    backend: Option<Backend>,
}

#[test]
fn the_openapi_fixture_agrees_with_the_topology() {
    let topology = fortress();
    let text = std::fs::read_to_string(topology.gateway().openapi_path())
        .expect("gateway.openapi names fixtures/openapi.yaml");
    let api: OpenApi = serde_saphyr::from_str(&text).expect("openapi.yaml parses");
    assert_eq!(api.swagger, "2.0");

    let client_id = topology.iap().oauth2_client_id().as_str();
    let mut backends = vec![&api.backend];
    let mut operation_ids = Vec::new();
    for (path, operations) in &api.paths {
        // Every path reaches the service it is named after through the URL map.
        let service = path
            .trim_start_matches('/')
            .split('/')
            .next()
            .unwrap_or_default();
        let routed = topology.route(topology.domain().as_str(), path);
        assert_eq!(
            routed.name().as_str(),
            format!("{service}-service"),
            "{path}"
        );
        for (method, operation) in operations {
            assert_eq!(method, "get", "{path}");
            operation_ids.push(operation.operation_id.as_str());
            backends.extend(&operation.backend);
        }
    }
    for backend in backends {
        assert_eq!(backend.address, topology.load_balancer_url());
        assert_eq!(backend.jwt_audience, client_id);
        assert_eq!(backend.path_translation, "APPEND_PATH_TO_ADDRESS");
    }
    let mut unique = operation_ids.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(
        unique.len(),
        operation_ids.len(),
        "operationIds must be unique"
    );

    let firebase = &api.security_definitions["firebase"];
    assert_eq!(firebase.issuer, topology.firebase().issuer());
    assert_eq!(
        firebase.audiences,
        topology.firebase().project_id().as_str()
    );
}

#[test]
fn the_shipped_topology_keeps_googles_defaults_and_offers_one_test_user() {
    let topology = fortress();
    assert_eq!(
        topology.load_balancer_scope(),
        &blueprint::LoadBalancerScope::Global
    );
    for service in topology.services() {
        assert_eq!(service.invoker_iam(), blueprint::InvokerIamCheck::Enabled);
        assert!(service.custom_audiences().is_empty());
    }
    let users: Vec<&str> = topology
        .local()
        .test_users()
        .iter()
        .map(|u| u.as_str())
        .collect();
    assert_eq!(users, ["alice@example.com"]);
}
