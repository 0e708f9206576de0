//! The optional settings and what blueprint derives from them: Cloud Run custom audiences and
//! `invokerIamDisabled` (items 39, 45, 46), a regional load balancer (items 23, 29), and the
//! local test users.

use blueprint::{InvokerIamCheck, LoadBalancerScope, Member};

use crate::{VALID, edited, load};

#[test]
fn services_check_invokers_and_accept_only_run_app_urls_by_default() {
    let topology = load(VALID).expect("valid");
    let smoothie = topology.service("smoothie-service").expect("smoothie");
    assert_eq!(smoothie.invoker_iam(), InvokerIamCheck::Enabled);
    assert!(smoothie.custom_audiences().is_empty());
    assert_eq!(
        smoothie.invoker_audiences(),
        [
            smoothie.run_app_url().expect("legacy url"),
            "https://smoothie-service-123456789012.us-central1.run.app".to_owned(),
        ]
    );
}

#[test]
fn custom_audiences_are_accepted_after_the_run_app_urls() {
    let topology = load(&edited(
        "    invokers: [\"serviceAccount:service-123456789012@gcp-sa-iap.iam.gserviceaccount.com\"]\n  - name: coffee-service",
        "    invokers: [\"serviceAccount:service-123456789012@gcp-sa-iap.iam.gserviceaccount.com\"]\n    customAudiences: [\"https://api.myawesomeapp.com\", \"smoothie\"]\n  - name: coffee-service",
    ))
    .expect("valid");
    let smoothie = topology.service("smoothie-service").expect("smoothie");
    let audiences = smoothie.invoker_audiences();
    assert_eq!(audiences.len(), 4);
    assert_eq!(
        &audiences[2..],
        [
            "https://api.myawesomeapp.com".to_owned(),
            "smoothie".to_owned()
        ]
    );
    let coffee = topology.service("coffee-service").expect("coffee");
    assert_eq!(coffee.invoker_audiences().len(), 2, "per service");
}

#[test]
fn invoker_iam_disabled_turns_the_check_off_for_that_service_only() {
    let topology = load(&edited(
        "  - name: coffee-service\n    paths: [\"/coffee\", \"/coffee/*\"]",
        "  - name: coffee-service\n    invokerIamDisabled: true\n    paths: [\"/coffee\", \"/coffee/*\"]",
    ))
    .expect("valid");
    let coffee = topology.service("coffee-service").expect("coffee");
    assert_eq!(coffee.invoker_iam(), InvokerIamCheck::Disabled);
    assert!(coffee.invoker_iam().invoker_iam_disabled());
    let smoothie = topology.service("smoothie-service").expect("smoothie");
    assert_eq!(smoothie.invoker_iam(), InvokerIamCheck::Enabled);
}

#[test]
fn the_load_balancer_is_global_unless_a_region_is_given() {
    let topology = load(VALID).expect("valid");
    assert_eq!(topology.load_balancer_scope(), &LoadBalancerScope::Global);
    let id = topology
        .service("smoothie-service")
        .expect("smoothie")
        .backend_service()
        .id();
    assert_eq!(
        topology
            .service("smoothie-service")
            .expect("smoothie")
            .iap_audience()
            .as_str(),
        format!("/projects/123456789012/global/backendServices/{id}")
    );
}

#[test]
fn a_regional_load_balancer_gives_regional_audiences_and_iap_resources() {
    let topology = load(&edited(
        "iap:\n  oauth2ClientId",
        "loadBalancer:\n  region: us-central1\niap:\n  oauth2ClientId",
    ))
    .expect("valid");
    assert_eq!(
        topology.load_balancer_scope().region().map(|r| r.as_str()),
        Some("us-central1")
    );
    for service in topology.services() {
        let id = service.backend_service().id();
        assert_eq!(
            service.iap_audience().as_str(),
            format!("/projects/123456789012/regions/us-central1/backendServices/{id}")
        );
        assert_eq!(
            service.iap_resource_name(),
            format!("projects/123456789012/iap_web/compute-us-central1/services/{id}")
        );
        assert!(
            blueprint::IapAudience::parse(service.iap_audience().as_str()).is_ok(),
            "the derived audience parses back"
        );
    }
    // The id is the backend service's, whatever its scope.
    let global = load(VALID).expect("valid");
    assert_eq!(
        global.services()[0].backend_service().id(),
        topology.services()[0].backend_service().id()
    );
}

#[test]
fn test_users_are_read_from_the_local_section_as_iam_members() {
    let topology = load(&edited(
        "local:\n",
        "local:\n  testUsers: [alice@example.com, bob@example.org]\n",
    ))
    .expect("valid");
    let users: Vec<&str> = topology
        .local()
        .test_users()
        .iter()
        .map(|u| u.as_str())
        .collect();
    assert_eq!(users, ["alice@example.com", "bob@example.org"]);
    assert_eq!(
        topology.local().test_users()[0].member(),
        Member::parse("user:alice@example.com").expect("member")
    );
    assert!(load(VALID).expect("valid").local().test_users().is_empty());
}
