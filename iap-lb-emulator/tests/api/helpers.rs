//! Shared test plumbing: a sample configuration, the router without sockets, a started
//! emulator, and response helpers.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use iap_lb_emulator::blueprint::Topology;
use iap_lb_emulator::keys::KeyStore;
use iap_lb_emulator::state::{Addrs, AppState, Shared};
use iap_lb_emulator::{Config, Emulator, RunningEmulator, ServiceAccount};
use serde_json::Value;
use tower::ServiceExt;

pub const PROJECT_ID: &str = "my-project";
pub const PROJECT_NUMBER: u64 = 123456789012;
pub const GATEWAY_SA: &str = "my-gateway-sa@my-project.iam.gserviceaccount.com";
pub const ROGUE_SA: &str = "rogue-sa@my-project.iam.gserviceaccount.com";
pub const DOMAIN: &str = "api.myawesomeapp.com";
pub const API_KEY: &str = "AIzaSy-test-key";

/// The fixture topology, loaded once per call (cheap) so tests may edit their copy.
pub fn topology() -> Topology {
    Topology::load(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fixtures/fortress.yaml"
    ))
    .expect("fixtures/fortress.yaml loads")
}

/// The fixture topology with `from` (which must occur exactly once) replaced by `to`.
pub fn topology_edited(from: &str, to: &str) -> Topology {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/fortress.yaml");
    let text = std::fs::read_to_string(path).expect("fixture");
    assert_eq!(text.matches(from).count(), 1, "edit target: {from:?}");
    Topology::from_yaml_str(&text.replacen(from, to, 1), path).expect("edited topology loads")
}

/// The smoothie service's entry in the fixture, for [`topology_edited`].
pub const SMOOTHIE_ENTRY: &str = "  - name: smoothie-service\n";

/// The fixture topology with a rogue account for attack scenarios.
pub fn config() -> Config {
    let mut config = Config::new(topology());
    config.extra_service_accounts.push(ServiceAccount {
        email: ROGUE_SA.into(),
        unique_id: Some("104242424242424242424".into()),
    });
    config
}

/// The emulator's router over fresh state, without sockets.
pub struct TestApp {
    pub app: axum::Router,
    pub state: AppState,
}

impl TestApp {
    pub fn new() -> Self {
        Self::with(|_| {})
    }

    pub fn with(edit: impl FnOnce(&mut Config)) -> Self {
        iap_lb_emulator::install_crypto_providers();
        let mut config = config();
        edit(&mut config);
        let keys = KeyStore::load(&config.keys).expect("keys");
        let fake = SocketAddr::from(([127, 0, 0, 1], 9));
        let state = Shared::new(
            config,
            keys,
            Addrs {
                http: fake,
                https: fake,
            },
        )
        .expect("state");
        Self {
            app: iap_lb_emulator::router(state.clone()),
            state,
        }
    }

    pub async fn send(&self, req: Request<Body>) -> Resp {
        let resp = self.app.clone().oneshot(req).await.expect("infallible");
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        Resp {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, host: &str, path: &str) -> Resp {
        self.send(
            request(Method::GET, host, path)
                .body(Body::empty())
                .expect("req"),
        )
        .await
    }

    /// GET on the metadata server with the flavor header.
    pub async fn metadata(&self, path: &str) -> Resp {
        self.send(
            request(Method::GET, "metadata.google.internal", path)
                .header("Metadata-Flavor", "Google")
                .body(Body::empty())
                .expect("req"),
        )
        .await
    }

    pub async fn post_json(&self, host: &str, path: &str, body: Value) -> Resp {
        self.send(
            request(Method::POST, host, path)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string()))
                .expect("req"),
        )
        .await
    }

    pub async fn post_form(&self, host: &str, path: &str, body: &str) -> Resp {
        self.send(
            request(Method::POST, host, path)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(body.to_string()))
                .expect("req"),
        )
        .await
    }
}

pub fn request(method: Method, host: &str, path: &str) -> axum::http::request::Builder {
    Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, host)
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Resp {
    pub fn text(&self) -> String {
        String::from_utf8(self.body.to_vec()).expect("utf-8 body")
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header"))
            .to_str()
            .expect("ascii header")
    }
}

/// A started emulator on random loopback ports.
pub async fn spawn() -> RunningEmulator {
    spawn_with(config()).await
}

pub async fn spawn_with(config: Config) -> RunningEmulator {
    Emulator::start(config).await.expect("emulator starts")
}

/// A client that trusts nothing but knows no names: for the host-prefixed HTTP routes.
pub fn plain_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .tls_certs_only([])
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// A stand-in service that records what it saw and answers with it.
#[derive(Clone, Default)]
pub struct Echo {
    pub seen: Arc<Mutex<Vec<Value>>>,
}

impl Echo {
    pub async fn start() -> (Self, SocketAddr) {
        let echo = Self::default();
        let seen = echo.seen.clone();
        let app = axum::Router::new().fallback(move |uri: axum::http::Uri, headers: HeaderMap| {
            let seen = seen.clone();
            async move {
                let headers: serde_json::Map<String, Value> = headers
                    .iter()
                    .map(|(k, v)| {
                        (
                            k.to_string(),
                            serde_json::json!(v.to_str().unwrap_or_default()),
                        )
                    })
                    .collect();
                let record = serde_json::json!({"uri": uri.to_string(), "headers": headers});
                seen.lock().expect("lock").push(record.clone());
                axum::Json(record)
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        (echo, addr)
    }

    pub fn count(&self) -> usize {
        self.seen.lock().expect("lock").len()
    }
}
