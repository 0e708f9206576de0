//! Every way a topology is refused, one line per case where possible. Messages are asserted as
//! substrings: the file, the field path and the expectation must all be in them.

use blueprint::{BlueprintError, ProblemKind, SourceLocation, Topology};

use crate::{SOURCE, VALID, edited, load, load_err};

/// Replaces `from` with `to` in the valid topology and asserts the error contains `expected`.
fn check_rejected(from: &str, to: &str, expected: &str) {
    let message = load_err(&edited(from, to)).to_string();
    assert!(
        message.contains(expected),
        "expected the message to contain\n  {expected}\nbut it was\n  {message}"
    );
    assert!(message.starts_with(SOURCE), "no file name in: {message}");
}

const COFFEE_INGRESS: &str =
    "paths: [\"/coffee\", \"/coffee/*\"]\n    ingress: internal-and-cloud-load-balancing";

// --- YAML syntax and structure (serde-saphyr's errors, first one only) ---

#[test]
fn rejects_yaml_syntax_errors_keeping_the_location() {
    let error = load_err(&edited("domain: api.myawesomeapp.com", "domain: [api"));
    let BlueprintError::Yaml {
        location, message, ..
    } = &error
    else {
        panic!("expected a YAML error, got {error:?}");
    };
    assert!(location.is_some_and(|l| l.line >= 5), "{error}");
    assert!(
        !message.contains("at line"),
        "location suffix left in: {message}"
    );
    assert!(
        error.to_string().starts_with("fixtures/bad.yaml:"),
        "{error}"
    );
}

#[test]
fn yaml_errors_keep_a_rendered_snippet_for_terminals() {
    let error = load_err(&edited("domain: api.myawesomeapp.com", "domain: [api"));
    let BlueprintError::Yaml { snippet, .. } = &error else {
        panic!("expected a YAML error, got {error:?}");
    };
    assert!(snippet.contains("fixtures/bad.yaml:"), "{snippet}");
}

#[test]
fn rejects_an_unknown_field() {
    check_rejected(
        "allowHttpOptions: false",
        "allowHttpOption: false",
        "unknown field `allowHttpOption`",
    );
}

#[test]
fn rejects_a_misspelled_service_field() {
    check_rejected(
        "    paths: [\"/coffee\", \"/coffee/*\"]",
        "    path: [\"/coffee\", \"/coffee/*\"]",
        "unknown field `path`",
    );
}

#[test]
fn rejects_a_missing_field() {
    check_rejected("  region: us-central1\n", "", "missing field `region`");
}

#[test]
fn rejects_a_value_of_the_wrong_type() {
    check_rejected(
        "allowHttpOptions: false",
        "allowHttpOptions: [1]",
        "fixtures/bad.yaml:",
    );
}

#[test]
fn rejects_a_duplicate_key() {
    check_rejected(
        "  region: us-central1\n",
        "  region: us-central1\n  region: us-east1\n",
        "duplicate mapping key",
    );
}

#[test]
fn rejects_empty_text() {
    assert!(matches!(load_err(""), BlueprintError::Yaml { .. }));
}

// --- values ---

#[test]
fn rejects_an_unknown_ingress_naming_file_line_field_and_expectation() {
    let error = load_err(&edited(
        COFFEE_INGRESS,
        "paths: [\"/coffee\", \"/coffee/*\"]\n    ingress: public",
    ));
    assert_eq!(
        error.to_string(),
        "fixtures/bad.yaml:13:14: services[1].ingress: expected one of all, internal, \
         internal-and-cloud-load-balancing, found \"public\""
    );
}

#[test]
fn rejects_the_api_spelling_of_ingress() {
    check_rejected(
        COFFEE_INGRESS,
        "paths: [\"/coffee\", \"/coffee/*\"]\n    ingress: INGRESS_TRAFFIC_ALL",
        "services[1].ingress: expected one of all, internal",
    );
}

#[test]
fn rejects_a_non_numeric_project_number() {
    check_rejected(
        "projectNumber: \"123456789012\"",
        "projectNumber: \"12345678901x\"",
        "project.projectNumber: expected a project number: 6 to 19 digits, not starting with 0, \
         found \"12345678901x\"",
    );
}

#[test]
fn rejects_a_project_number_that_is_too_short() {
    check_rejected(
        "projectNumber: \"123456789012\"",
        "projectNumber: 12345",
        "project.projectNumber: expected a project number",
    );
}

#[test]
fn rejects_a_bad_project_id() {
    check_rejected(
        "project:\n  projectId: my-project",
        "project:\n  projectId: My_Project",
        "project.projectId: expected a project id",
    );
}

#[test]
fn rejects_a_bad_region() {
    check_rejected(
        "region: us-central1",
        "region: us-central",
        "project.region: expected a region such as us-central1",
    );
}

#[test]
fn rejects_a_domain_with_a_port() {
    check_rejected(
        "domain: api.myawesomeapp.com",
        "domain: api.myawesomeapp.com:443",
        "domain: expected a lowercase DNS name",
    );
}

#[test]
fn rejects_a_service_name_with_uppercase() {
    check_rejected(
        "- name: coffee-service",
        "- name: Coffee-service",
        "services[1].name: expected a Cloud Run service name",
    );
}

#[test]
fn rejects_a_service_name_longer_than_49_characters() {
    let long = format!("- name: c{}", "o".repeat(49));
    check_rejected(
        "- name: coffee-service",
        &long,
        "services[1].name: expected a Cloud Run",
    );
}

#[test]
fn rejects_a_service_name_ending_with_a_hyphen() {
    check_rejected(
        "- name: coffee-service",
        "- name: coffee-",
        "services[1].name: expected a Cloud Run service name",
    );
}

#[test]
fn rejects_a_duplicate_service_name() {
    check_rejected(
        "- name: coffee-service",
        "- name: smoothie-service",
        "services[1].name: expected a service name not used before, found \"smoothie-service\" \
         again (first declared at services[0].name)",
    );
}

#[test]
fn rejects_a_path_claimed_by_two_services() {
    check_rejected(
        "paths: [\"/coffee\", \"/coffee/*\"]",
        "paths: [\"/coffee\", \"/smoothie/*\"]",
        "services[1].paths[1]: expected a path pattern no other path rule uses, found \
         \"/smoothie/*\" again (first used at services[0].paths[1])",
    );
}

#[test]
fn rejects_a_path_repeated_within_one_service() {
    check_rejected(
        "paths: [\"/coffee\", \"/coffee/*\"]",
        "paths: [\"/coffee\", \"/coffee\"]",
        "services[1].paths[1]: expected a path pattern no other path rule uses",
    );
}

#[test]
fn rejects_a_path_without_a_leading_slash() {
    check_rejected(
        "paths: [\"/coffee\", \"/coffee/*\"]",
        "paths: [\"coffee\", \"/coffee/*\"]",
        "services[1].paths[0]: expected a path pattern: starting with /",
    );
}

#[test]
fn rejects_a_wildcard_not_right_after_a_slash() {
    check_rejected(
        "paths: [\"/coffee\", \"/coffee/*\"]",
        "paths: [\"/coffee\", \"/coffee*\"]",
        "services[1].paths[1]: expected a path pattern",
    );
}

#[test]
fn rejects_a_wildcard_in_the_middle_of_a_path() {
    check_rejected(
        "paths: [\"/coffee\", \"/coffee/*\"]",
        "paths: [\"/coffee\", \"/coffee/*/beans\"]",
        "services[1].paths[1]: expected a path pattern",
    );
}

#[test]
fn rejects_a_query_string_in_a_path_pattern() {
    check_rejected(
        "paths: [\"/coffee\", \"/coffee/*\"]",
        "paths: [\"/coffee?x=1\", \"/coffee/*\"]",
        "services[1].paths[0]: expected a path pattern",
    );
}

#[test]
fn rejects_a_malformed_invoker_member() {
    check_rejected(
        "paths: [\"/coffee\", \"/coffee/*\"]\n    ingress: internal-and-cloud-load-balancing\n    \
         invokers: [\"serviceAccount:service-123456789012@gcp-sa-iap.iam.gserviceaccount.com\"]",
        "paths: [\"/coffee\", \"/coffee/*\"]\n    ingress: internal-and-cloud-load-balancing\n    \
         invokers: [\"service-123456789012@gcp-sa-iap.iam.gserviceaccount.com\"]",
        "services[1].invokers[0]: expected an IAM member",
    );
}

#[test]
fn rejects_a_member_whose_service_account_is_malformed() {
    check_rejected(
        "members: [\"user:alice@example.com\"]",
        "members: [\"serviceAccount:alice@example.com\"]",
        "iap.serviceBindings.coffee-service[0].members[0]: expected serviceAccount: followed by \
         a service account email",
    );
}

#[test]
fn rejects_a_malformed_oauth_client_id() {
    check_rejected(
        "oauth2ClientId: 987654321-abcdefghijklmnop.apps.googleusercontent.com",
        "oauth2ClientId: 987654321-abcdefghijklmnop",
        "iap.oauth2ClientId: expected an OAuth client id",
    );
}

#[test]
fn rejects_a_malformed_programmatic_client() {
    check_rejected(
        "programmaticClients: []",
        "programmaticClients: [\"my-client\"]",
        "iap.programmaticClients[0]: expected an OAuth client id",
    );
}

#[test]
fn rejects_a_bad_role() {
    check_rejected(
        "  bindings:\n    - role: roles/iap.httpsResourceAccessor",
        "  bindings:\n    - role: iap.httpsResourceAccessor",
        "iap.bindings[0].role: expected an IAM role",
    );
}

#[test]
fn rejects_a_malformed_gateway_service_account() {
    check_rejected(
        "serviceAccount: my-gateway-sa@my-project.iam.gserviceaccount.com",
        "serviceAccount: my-gateway-sa@my-project",
        "gateway.serviceAccount: expected a service account email",
    );
}

#[test]
fn rejects_a_bad_api_id() {
    check_rejected(
        "apiId: fortress-api",
        "apiId: Fortress API",
        "gateway.apiId: expected an API id",
    );
}

#[test]
fn rejects_an_empty_openapi_path() {
    check_rejected(
        "openapi: openapi.yaml",
        "openapi: \"\"",
        "gateway.openapi: expected the path of the OpenAPI document",
    );
}

#[test]
fn rejects_a_bad_managed_service_name() {
    check_rejected(
        "openapi: openapi.yaml",
        "openapi: openapi.yaml\n  managedService: \"https://x.cloud.goog\"",
        "gateway.managedService: expected a lowercase DNS name",
    );
}

#[test]
fn rejects_a_bad_firebase_project_id() {
    check_rejected(
        "  projectId: my-project\n  webApiKey",
        "  projectId: x\n  webApiKey",
        "firebase.projectId: expected a project id",
    );
}

#[test]
fn rejects_an_empty_web_api_key() {
    check_rejected(
        "webApiKey: placeholder",
        "webApiKey: \"\"",
        "firebase.webApiKey: expected a web API key",
    );
}

#[test]
fn rejects_a_bad_upstream_address() {
    check_rejected(
        "smoothie-service: \"127.0.0.1:8081\"",
        "smoothie-service: \"127.0.0.1\"",
        "local.upstreams.smoothie-service: expected HOST:PORT",
    );
}

// --- references to services ---

#[test]
fn rejects_an_unknown_default_service() {
    check_rejected(
        "domain: api.myawesomeapp.com\n",
        "domain: api.myawesomeapp.com\ndefaultService: tea-service\n",
        "defaultService: expected a service declared under services (one of smoothie-service, \
         coffee-service), found \"tea-service\"",
    );
}

#[test]
fn rejects_iap_bindings_for_an_unknown_service() {
    check_rejected(
        "    coffee-service:\n",
        "    tea-service:\n",
        "iap.serviceBindings.tea-service: expected a service declared under services",
    );
}

#[test]
fn rejects_a_local_upstream_for_an_unknown_service() {
    check_rejected(
        "smoothie-service: \"127.0.0.1:8081\"",
        "tea-service: \"127.0.0.1:8081\"",
        "local.upstreams.tea-service: expected a service declared under services",
    );
}

#[test]
fn rejects_an_empty_service_list() {
    let start = VALID.find("services:\n").expect("services in VALID");
    let end = VALID.find("iap:\n").expect("iap in VALID");
    let text = format!("{}services: []\n{}", &VALID[..start], &VALID[end..]);
    let error = load_err(&text);
    assert!(
        error
            .to_string()
            .contains("services: expected at least one service, found an empty list"),
        "{error}"
    );
}

// --- how problems are reported ---

#[test]
fn reports_every_value_problem_at_once_in_file_order() {
    let text = edited("region: us-central1", "region: moon")
        .replace("- name: coffee-service", "- name: Coffee")
        .replace("apiId: fortress-api", "apiId: -api");
    let BlueprintError::Invalid { problems, .. } = load_err(&text) else {
        panic!("expected value problems");
    };
    let fields: Vec<&str> = problems.iter().map(|p| p.field()).collect();
    // The coffee-service rename also orphans its IAP bindings.
    assert_eq!(
        fields,
        [
            "project.region",
            "services[1].name",
            "iap.serviceBindings.coffee-service",
            "gateway.apiId"
        ]
    );
}

#[test]
fn problems_expose_kind_field_and_location_for_callers_to_match() {
    let error = load_err(&edited(
        COFFEE_INGRESS,
        "paths: [\"/coffee\", \"/coffee/*\"]\n    ingress: public",
    ));
    let BlueprintError::Invalid { problems, .. } = error else {
        panic!("expected value problems");
    };
    let [problem] = problems.as_slice() else {
        panic!("expected one problem, got {problems:?}");
    };
    assert_eq!(problem.field(), "services[1].ingress");
    assert_eq!(
        problem.location(),
        Some(SourceLocation {
            line: 13,
            column: 14
        })
    );
    let ProblemKind::Invalid(invalid) = problem.kind() else {
        panic!("expected an invalid value, got {:?}", problem.kind());
    };
    assert_eq!(invalid.found(), "public");
}

// --- what is accepted ---

#[test]
fn a_missing_openapi_file_is_not_an_error_and_its_path_is_resolved_next_to_the_topology() {
    let text = edited("openapi: openapi.yaml", "openapi: nowhere/api.yaml");
    let topology = Topology::from_yaml_str(&text, "some/dir/fortress.yaml").expect("loads");
    assert_eq!(
        topology.gateway().openapi_path(),
        std::path::Path::new("some/dir/nowhere/api.yaml")
    );
    assert_eq!(topology.gateway().openapi_as_written(), "nowhere/api.yaml");
}

#[test]
fn load_names_the_file_it_cannot_read() {
    let error = Topology::load("/nonexistent/fortress.yaml").expect_err("no such file");
    assert!(matches!(error, BlueprintError::Read { .. }));
    assert!(
        error
            .to_string()
            .starts_with("/nonexistent/fortress.yaml: cannot read"),
        "{error}"
    );
}

#[test]
fn accepts_an_unquoted_project_number() {
    let topology = load(&edited(
        "projectNumber: \"123456789012\"",
        "projectNumber: 123456789012",
    ))
    .expect("loads");
    assert_eq!(topology.project().number().get(), 123_456_789_012);
}

#[test]
fn optional_sections_may_be_left_out_or_empty() {
    let start = VALID.find("local:\n").expect("local in VALID");
    let without_local = &VALID[..start];
    let topology = load(without_local).expect("loads without local");
    assert!(topology.local().upstreams().is_empty());

    let topology = load(&format!("{without_local}local:\n  upstreams:\n")).expect("null map");
    assert!(topology.local().upstream("smoothie-service").is_none());

    let minimal_iap = edited("  programmaticClients: []\n  allowHttpOptions: false\n", "");
    let topology = load(&minimal_iap).expect("loads without optional IAP keys");
    assert!(!topology.iap().allow_http_options());
}

#[test]
fn the_default_service_is_the_first_unless_named() {
    assert_eq!(
        load(VALID)
            .expect("loads")
            .default_service()
            .name()
            .as_str(),
        "smoothie-service"
    );
    let named = edited(
        "domain: api.myawesomeapp.com\n",
        "domain: api.myawesomeapp.com\ndefaultService: coffee-service\n",
    );
    let topology = load(&named).expect("loads");
    assert_eq!(topology.default_service().name().as_str(), "coffee-service");
    assert_eq!(
        topology
            .route("elsewhere.example", "/smoothie")
            .name()
            .as_str(),
        "coffee-service"
    );
}

#[test]
fn a_region_without_a_known_run_app_code_loads_but_refuses_a_legacy_host() {
    let topology = load(&edited("region: us-central1", "region: mars-north1")).expect("loads");
    let service = topology.service("coffee-service").expect("declared");
    let error = service.run_app_host().expect_err("no code for mars-north1");
    assert!(matches!(error, BlueprintError::UnknownRegionCode { .. }));
    assert!(error.to_string().contains("\"mars-north1\""), "{error}");
    assert_eq!(
        service.deterministic_run_app_host().as_str(),
        "coffee-service-123456789012.mars-north1.run.app"
    );
}

// --- optional service, load-balancer and local settings ---

const SMOOTHIE_INGRESS: &str =
    "paths: [\"/smoothie\", \"/smoothie/*\"]\n    ingress: internal-and-cloud-load-balancing";

fn with_smoothie(extra: &str) -> String {
    edited(
        SMOOTHIE_INGRESS,
        &format!("{SMOOTHIE_INGRESS}\n    {extra}"),
    )
}

#[test]
fn rejects_a_custom_audience_with_a_space_naming_its_index() {
    let message = load_err(&with_smoothie(
        "customAudiences: [\"https://api.example.com\", \"my audience\"]",
    ))
    .to_string();
    assert!(
        message.contains(
            "services[0].customAudiences[1]: expected a custom audience: 1 to 2048 characters \
             without spaces"
        ),
        "{message}"
    );
    assert!(message.starts_with("fixtures/bad.yaml:10:"), "{message}");
}

#[test]
fn rejects_a_custom_audience_listed_twice() {
    let message = load_err(&with_smoothie("customAudiences: [\"a\", \"b\", \"a\"]")).to_string();
    assert!(
        message.contains(
            "services[0].customAudiences[2]: expected a custom audience not listed before, \
             found \"a\""
        ),
        "{message}"
    );
}

#[test]
fn rejects_custom_audiences_beyond_cloud_runs_json_cap() {
    let many: Vec<String> = (0..20)
        .map(|i| format!("\"https://{i}.{}.example.com\"", "a".repeat(2000)))
        .collect();
    let message = load_err(&with_smoothie(&format!(
        "customAudiences: [{}]",
        many.join(", ")
    )))
    .to_string();
    assert!(
        message.contains(
            "services[0].customAudiences: expected custom audiences whose JSON list is at most \
             32768 characters"
        ),
        "{message}"
    );
}

#[test]
fn rejects_invoker_iam_disabled_that_is_not_a_bool() {
    check_rejected(
        SMOOTHIE_INGRESS,
        &format!("{SMOOTHIE_INGRESS}\n    invokerIamDisabled: sometimes"),
        "fixtures/bad.yaml:10:",
    );
}

#[test]
fn rejects_a_regional_load_balancer_outside_the_services_region() {
    let message = load_err(&edited(
        "iap:\n  oauth2ClientId",
        "loadBalancer:\n  region: europe-west1\niap:\n  oauth2ClientId",
    ))
    .to_string();
    assert_eq!(
        message,
        "fixtures/bad.yaml:16:11: loadBalancer.region: expected the services' region \
         us-central1 (project.region): a regional backend service can only use serverless NEGs \
         of its own region, found \"europe-west1\""
    );
}

#[test]
fn rejects_a_malformed_load_balancer_region() {
    check_rejected(
        "iap:\n  oauth2ClientId",
        "loadBalancer:\n  region: central\niap:\n  oauth2ClientId",
        "loadBalancer.region: expected a region such as us-central1",
    );
}

#[test]
fn rejects_an_unknown_load_balancer_field() {
    check_rejected(
        "iap:\n  oauth2ClientId",
        "loadBalancer:\n  scheme: EXTERNAL\niap:\n  oauth2ClientId",
        "unknown field `scheme`",
    );
}

#[test]
fn rejects_test_users_that_are_service_accounts_or_repeated() {
    let message = load_err(&edited(
        "local:\n",
        "local:\n  testUsers:\n    - alice@example.com\n    - my-gateway-sa@my-project.iam.gserviceaccount.com\n    - alice@example.com\n",
    ))
    .to_string();
    assert!(
        message.contains(
            "local.testUsers[1]: expected a person's email in lowercase, e.g. alice@example.com \
             (not a service account)"
        ),
        "{message}"
    );
    assert!(
        message.contains(
            "local.testUsers[2]: expected a test user not listed before, found \"alice@example.com\""
        ),
        "{message}"
    );
}
