//! Test helpers for sample services (feature `test-util`): start a service in-process on
//! 127.0.0.1:0 with a local IAP key server, mint the assertions IAP would send, and talk to it.
//! [`lifecycle`], [`iap`] and [`errors`] hold the tests every service passes, written once; each
//! service's `tests/api` calls them for its own router and binary.

pub mod errors;
pub mod iap;
pub mod lifecycle;

use std::marker::PhantomData;
use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use cloud_run::LoopbackServer;
use google_tokens::{IapClaims, Jwks, SigningKey};
use iap_assertion::{IapAudience, Url};
use serde_json::Value;
use tokio::sync::{Notify, Semaphore};

use crate::{SampleService, Settings};

pub const AUDIENCE: &str = "/projects/123456789012/global/backendServices/5555555555555555555";
pub const EMAIL: &str = "my-gateway-sa@my-project.iam.gserviceaccount.com";
pub const USER_ID: &str = "107355869912345678901";

/// A JWKS server on a random loopback port, as www.gstatic.com/iap/verify/public_key-jwk.
///
/// With a gate, each key request announces itself on `hit` and then waits for a permit on
/// `release`: a test holds a request in flight for exactly as long as it wants, without sleeping.
pub struct KeyServer {
    pub url: Url,
    pub hit: Arc<Notify>,
    pub release: Arc<Semaphore>,
}

impl KeyServer {
    pub async fn start(keys: &[&SigningKey], gated: bool) -> Self {
        let jwks = Jwks {
            keys: keys.iter().map(|k| k.public_jwk()).collect(),
        };
        let hit = Arc::new(Notify::new());
        let release = Arc::new(Semaphore::new(if gated {
            0
        } else {
            Semaphore::MAX_PERMITS
        }));
        let (h, r) = (hit.clone(), release.clone());
        let app = Router::new().route(
            "/www.gstatic.com/iap/verify/public_key-jwk",
            get(move || {
                let (jwks, h, r) = (jwks.clone(), h.clone(), r.clone());
                async move {
                    h.notify_one();
                    if let Ok(permit) = r.acquire().await {
                        permit.forget();
                    }
                    axum::Json(jwks)
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind key server");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        let url = Url::parse(&format!(
            "http://{addr}/www.gstatic.com/iap/verify/public_key-jwk"
        ))
        .expect("url");
        Self { url, hit, release }
    }
}

/// A fresh assertion as IAP would send for the gateway's service account ([`EMAIL`]) to the
/// backend [`AUDIENCE`], signed by `key`.
pub fn iap_assertion(key: &SigningKey) -> String {
    key.sign(&IapClaims::new(
        AUDIENCE,
        EMAIL,
        USER_ID,
        google_tokens::now_unix(),
    ))
    .expect("sign")
}

/// A client as the tests want one: no proxy, no TLS roots, no redirects followed.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .tls_certs_only(Vec::<reqwest::Certificate>::new())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// Service `S` started in-process; a service's tests alias it (`type TestApp =
/// TestApp<SmoothieService>`).
pub struct TestApp<S> {
    pub server: LoopbackServer,
    pub key: Arc<SigningKey>,
    pub keys: Option<KeyServer>,
    pub http: reqwest::Client,
    service: PhantomData<fn() -> S>,
}

impl<S: SampleService> TestApp<S> {
    /// The service enforcing IAP for [`AUDIENCE`], keys from a local key server.
    pub async fn spawn() -> Self {
        Self::spawn_enforcing(false).await
    }

    pub async fn spawn_enforcing(gated: bool) -> Self {
        google_tokens::install_crypto_provider();
        let key = Arc::new(SigningKey::generate_ec(None).expect("key"));
        let keys = KeyServer::start(&[&key], gated).await;
        let settings = Settings::enforce(
            IapAudience::parse(AUDIENCE).expect("audience"),
            keys.url.clone(),
        );
        let server = crate::start_on_loopback::<S>(settings)
            .await
            .expect("service starts");
        Self {
            server,
            key,
            keys: Some(keys),
            http: http_client(),
            service: PhantomData,
        }
    }

    /// The service with the IAP check disabled.
    pub async fn spawn_disabled() -> Self {
        google_tokens::install_crypto_provider();
        let server = crate::start_on_loopback::<S>(Settings::iap_disabled())
            .await
            .expect("service starts");
        Self {
            server,
            key: Arc::new(SigningKey::generate_ec(None).expect("key")),
            keys: None,
            http: http_client(),
            service: PhantomData,
        }
    }
}

impl<S> TestApp<S> {
    /// A fresh assertion as IAP would send for the gateway's service account.
    pub fn assertion(&self) -> String {
        iap_assertion(&self.key)
    }

    pub fn url(&self, path: &str) -> String {
        self.server.url(path)
    }

    /// GET with a valid assertion.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.get_with(path, Some(&self.assertion())).await
    }

    /// GET with the given assertion, or none.
    pub async fn get_with(&self, path: &str, assertion: Option<&str>) -> reqwest::Response {
        let mut request = self.http.get(self.url(path));
        if let Some(token) = assertion {
            request = request.header("x-goog-iap-jwt-assertion", token);
        }
        request.send().await.expect("request")
    }
}

/// The status and JSON body, checking the content type on the way.
pub async fn json(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(content_type, "application/json", "status {status}");
    let body = response.json::<Value>().await.expect("JSON body");
    (status, body)
}

/// Asserts a Google-style JSON error with this status.
pub fn assert_error(status: u16, body: &Value, code: u16, google_status: &str) {
    assert_eq!(status, code, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert_eq!(body["error"]["status"], google_status, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}
