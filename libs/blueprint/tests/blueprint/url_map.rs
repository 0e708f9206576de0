//! The URL map routes like Compute's (google-behaviour items 55-57): host without case or port,
//! path as raw bytes up to `?`/`#`, exact vs `/x/*` patterns, longest match wins, defaults.

use blueprint::Topology;

use crate::load;

/// A topology whose services exist only to be routed to. `site` is the default service.
fn routing_topology() -> Topology {
    let service = |name: &str, paths: &str| {
        format!(
            "  - name: {name}\n    paths: {paths}\n    ingress: internal-and-cloud-load-balancing\n    \
             invokers: []\n"
        )
    };
    let text = format!(
        "project:\n  projectId: my-project\n  projectNumber: \"123456789012\"\n  region: us-central1\n\
         domain: api.myawesomeapp.com\n\
         defaultService: site\n\
         services:\n{}{}{}{}{}\
         iap:\n  oauth2ClientId: 987654321-abcdefghijklmnop.apps.googleusercontent.com\n\
         gateway:\n  apiId: fortress-api\n  \
         serviceAccount: my-gateway-sa@my-project.iam.gserviceaccount.com\n  openapi: openapi.yaml\n\
         firebase:\n  projectId: my-project\n  webApiKey: placeholder\n",
        service("api-exact", r#"["/api"]"#),
        service("api-tree", r#"["/api/*"]"#),
        service("api-x", r#"["/api/x"]"#),
        service("everything-else", r#"["/static/*", "/Static"]"#),
        service("site", "[]"),
    );
    load(&text).expect("routing topology loads")
}

const HOST: &str = "api.myawesomeapp.com";

#[test]
fn url_map_routes_paths_like_compute_path_rules() {
    let topology = routing_topology();
    // (path, service): a path is raw bytes up to the first `?` or `#`.
    let table = [
        // exact vs wildcard: `/api/*` never matches `/api`
        ("/api", "api-exact"),
        ("/api/", "api-tree"),
        ("/api/y", "api-tree"),
        ("/api/y/z", "api-tree"),
        // the longest matched pattern wins; exact `/api/x` beats `/api/*`
        ("/api/x", "api-x"),
        ("/api/x/", "api-tree"),
        ("/api/xy", "api-tree"),
        // trailing slashes are significant
        ("/static", "site"),
        ("/static/", "everything-else"),
        // query strings and fragments are ignored, and may contain anything
        ("/api?x=1", "api-exact"),
        ("/api?/x", "api-exact"),
        ("/api#/x", "api-exact"),
        ("/api/x?y=/api", "api-x"),
        ("/apix", "site"),
        ("/ap", "site"),
        // case-sensitive: `/API` is not `/api`, `/Static` is its own exact pattern
        ("/API", "site"),
        ("/Api/x", "site"),
        ("/Static", "everything-else"),
        // not normalised: encoded slashes and dot segments are plain bytes (uncertain, item 57)
        ("/api%2Fx", "site"),
        ("/api/%2E%2E/admin", "api-tree"),
        ("/api/../static/x", "api-tree"),
        ("/api/./x", "api-tree"),
        ("/static/../api", "everything-else"),
        ("//api", "site"),
        // anything else, including non-origin forms, goes to the path matcher's default
        ("/", "site"),
        ("", "site"),
        ("*", "site"),
        ("http://api.myawesomeapp.com/api", "site"),
    ];
    for (path, expected) in table {
        assert_eq!(
            topology.route(HOST, path).name().as_str(),
            expected,
            "route({HOST:?}, {path:?})"
        );
    }
}

#[test]
fn url_map_matches_hosts_without_case_or_port() {
    let topology = routing_topology();
    for host in [
        "api.myawesomeapp.com",
        "API.MyAwesomeApp.com",
        "api.myawesomeapp.com:443",
        "api.myawesomeapp.com:8443",
    ] {
        assert_eq!(
            topology.route(host, "/api").name().as_str(),
            "api-exact",
            "{host}"
        );
    }
}

#[test]
fn url_map_sends_unknown_hosts_to_its_default_service() {
    let topology = routing_topology();
    for host in [
        "evil.example.com",
        "myawesomeapp.com",
        "api.myawesomeapp.com.",
        "x.api.myawesomeapp.com",
        "34.120.0.1",
        "[::1]:443",
        "",
    ] {
        assert_eq!(
            topology.route(host, "/api").name().as_str(),
            "site",
            "{host}"
        );
    }
}

#[test]
fn url_map_prefers_the_longest_matching_rule() {
    let topology = routing_topology();
    assert_eq!(topology.route(HOST, "/api/x").name().as_str(), "api-x");
    assert_eq!(topology.route(HOST, "/api/xx").name().as_str(), "api-tree");
}

#[test]
fn url_map_has_one_host_rule_one_path_matcher_and_a_rule_per_routed_service() {
    let topology = routing_topology();
    let map = topology.url_map();
    assert_eq!(map.name(), "fortress-url-map");
    assert_eq!(map.default_service().name(), "site-backend");
    let [host_rule] = map.host_rules() else {
        panic!("expected one host rule");
    };
    assert_eq!(host_rule.hosts(), ["api.myawesomeapp.com"]);
    let [matcher] = map.path_matchers() else {
        panic!("expected one path matcher");
    };
    assert_eq!(host_rule.path_matcher(), matcher.name());
    assert_eq!(matcher.default_service().name(), "site-backend");
    let rules: Vec<(&str, Vec<&str>)> = matcher
        .path_rules()
        .iter()
        .map(|rule| {
            (
                rule.service().name(),
                rule.paths().iter().map(|p| p.as_str()).collect(),
            )
        })
        .collect();
    assert_eq!(
        rules,
        [
            ("api-exact-backend", vec!["/api"]),
            ("api-tree-backend", vec!["/api/*"]),
            ("api-x-backend", vec!["/api/x"]),
            ("everything-else-backend", vec!["/static/*", "/Static"]),
        ]
    );
}
