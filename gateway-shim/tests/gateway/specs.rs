//! Specs: ESPv2-style sample specs parse into the route tables shown here, and invalid specs are
//! refused at start with the path of the offending field.

use gateway_shim::{ApiConfig, ServiceName, SpecError};

fn service() -> ServiceName {
    ServiceName::parse("bookstore.endpoints.example-project.cloud.goog").expect("service")
}

fn load(file: &str) -> ApiConfig {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    ApiConfig::load(&path, &service()).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn table(file: &str) -> String {
    load(file).routes().to_string()
}

fn invalid(spec: &str) -> String {
    match ApiConfig::from_text(spec, "openapi.yaml", &service()) {
        Ok(_) => panic!("accepted:\n{spec}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn the_fortress_spec_routes_every_operation_to_the_load_balancer() {
    let got = table("../fixtures/openapi.yaml");
    println!("{got}");
    assert_eq!(
        got,
        include_str!("../fixtures/expected/fortress.routes.txt")
    );
}

#[test]
fn the_dynamic_routing_sample_parses() {
    let got = table("tests/fixtures/dynamic_routing.yaml");
    println!("{got}");
    assert_eq!(
        got,
        include_str!("../fixtures/expected/dynamic_routing.routes.txt")
    );
    let api = load("tests/fixtures/dynamic_routing.yaml");
    assert_eq!(
        api.relaxations(),
        [
            "backend https://shelves-svc-aaa111-uc.a.run.app/shelves asks for protocol h2; gateway-shim speaks HTTP/1.1 to it"
        ]
    );
}

#[test]
fn the_route_match_sample_parses() {
    let got = table("tests/fixtures/route_match.yaml");
    println!("{got}");
    assert_eq!(
        got,
        include_str!("../fixtures/expected/route_match.routes.txt")
    );
    assert!(load("tests/fixtures/route_match.yaml").allow_cors());
}

#[test]
fn the_auth_sample_parses() {
    let api = load("tests/fixtures/auth.yaml");
    let got = api.routes().to_string();
    println!("{got}");
    assert_eq!(got, include_str!("../fixtures/expected/auth.routes.txt"));
    let google = &api.providers()["google_ids"];
    assert_eq!(
        google.jwks,
        gateway_shim::api_config::JwksSource::OpenIdDiscovery
    );
    // No x-google-audiences: only https://<service name> (item 69).
    assert_eq!(
        google.audiences,
        vec!["https://bookstore.endpoints.example-project.cloud.goog".to_owned()]
    );
    let robot = &api.providers()["robot_sa"];
    assert_eq!(
        robot.audiences,
        vec![
            "bookstore-writers".to_owned(),
            "https://bookstore-auth.endpoints.example-project.cloud.goog".to_owned()
        ]
    );
    assert_eq!(robot.locations.len(), 2);
}

#[test]
fn invalid_specs_are_refused_with_the_field_path() {
    let cases = [
        (
            "swagger: '3.0'\n",
            "openapi.yaml: swagger: expected \"2.0\"",
        ),
        (
            "swagger: '2.0'\nx-google-backend: {address: 'https://a', jwt_audience: x, disable_auth: true}\n",
            "openapi.yaml: x-google-backend: jwt_audience and disable_auth are mutually exclusive",
        ),
        (
            "swagger: '2.0'\nx-google-backend: {deadline: 3}\n",
            "openapi.yaml: x-google-backend.address: required",
        ),
        (
            "swagger: '2.0'\nx-google-backend: {address: 'grpcs://a'}\n",
            "openapi.yaml: x-google-backend.address: \"grpcs://a\": gRPC backends are not supported",
        ),
        (
            "swagger: '2.0'\nx-google-backend: {address: 'https://a', protocol: h3}\n",
            "openapi.yaml: x-google-backend.protocol: \"h3\": expected http/1.1 or h2",
        ),
        (
            "swagger: '2.0'\nx-google-backend: {address: 'https://a'}\npaths:\n  /a:\n    get:\n      security: [{nope: []}]\n",
            "openapi.yaml: paths./a.get.security[0].nope: names no securityDefinitions entry",
        ),
        (
            "swagger: '2.0'\npaths:\n  /a:\n    get: {}\n",
            "openapi.yaml: paths./a.get: no x-google-backend here and none at the top level",
        ),
        (
            "swagger: '2.0'\nx-google-backend: {address: 'https://a'}\npaths:\n  /a/{b}.json:\n    get: {}\n",
            "openapi.yaml: paths./a/{b}.json: segment \"{b}.json\": a variable must be a whole segment",
        ),
        (
            "swagger: '2.0'\nsecurityDefinitions:\n  f: {type: oauth2}\n",
            "openapi.yaml: securityDefinitions.f.x-google-issuer: required for an oauth2 scheme",
        ),
        (
            "swagger: '2.0'\nx-google-backend: {address: 'https://a'}\npaths:\n  /a/{x}:\n    get: {}\n  /a/{y}:\n    get: {}\n",
            "openapi.yaml: paths./a/{y}.get: GET /a/{y} duplicates GET /a/{x}",
        ),
        (
            "swagger: '2.0'\npaths:\n  /a:\n    get:\n      x-google-backend: {address: 'https://a', deadline: soon}\n",
            "openapi.yaml: paths./a.get.x-google-backend.deadline: invalid type",
        ),
    ];
    for (spec, want) in cases {
        let got = invalid(spec);
        assert!(got.starts_with(want), "want {want:?}\n got {got:?}");
    }
}

#[test]
fn a_missing_file_is_a_read_error() {
    let err = ApiConfig::load("/nonexistent/openapi.yaml".as_ref(), &service()).err();
    assert!(matches!(err, Some(SpecError::Read { .. })), "{err:?}");
}
