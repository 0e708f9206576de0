//! Starting a gateway against wiremock fakes, and minting the tokens clients would send.

use std::sync::Arc;
use std::time::Duration;

use cloud_run::LoopbackServer;
use gateway_shim::{
    ApiConfig, ApiKeyCheck, Config, Gateway, HeaderPrefix, MetadataHost, Outbound, ServiceName,
    TlsRoots,
};
use google_tokens::{FirebaseClaims, GoogleIdClaims, Jwks, PemMap, SigningKey, now_unix};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub const PROJECT: &str = "my-project";
pub const FIREBASE_ISSUER: &str = "https://securetoken.google.com/my-project";
pub const SERVICE: &str = "fortress-api-abc123.apigateway.my-project.cloud.goog";
pub const IAP_AUD: &str = "987654321-abcdefghijklmnop.apps.googleusercontent.com";
pub const X509_PATH: &str =
    "/service_accounts/v1/metadata/x509/securetoken@system.gserviceaccount.com";
pub const IDENTITY_PATH: &str = "/computeMetadata/v1/instance/service-accounts/default/identity";
pub const GATEWAY_SA: &str = "my-gateway-sa@my-project.iam.gserviceaccount.com";

/// The spec most tests use: `{backend}` and `{keys}` are the wiremock URLs.
pub fn standard_spec(backend: &str, keys: &str) -> String {
    format!(
        r#"
swagger: "2.0"
info: {{title: test-api, version: "1.0"}}
x-google-backend:
  address: {backend}
  jwt_audience: {IAP_AUD}
  deadline: 5.0
securityDefinitions:
  firebase:
    authorizationUrl: ""
    flow: implicit
    type: oauth2
    x-google-issuer: "{FIREBASE_ISSUER}"
    x-google-jwks_uri: "{keys}{X509_PATH}"
    x-google-audiences: "{PROJECT}"
  google:
    authorizationUrl: ""
    flow: implicit
    type: oauth2
    x-google-issuer: "https://accounts.google.com"
    x-google-jwks_uri: "{keys}/oauth2/v3/certs"
  api_key:
    type: apiKey
    name: key
    in: query
security:
  - firebase: []
paths:
  /smoothie:
    get: {{operationId: listSmoothies}}
  /smoothie/recipes/{{id}}:
    get: {{operationId: getRecipe}}
    delete: {{operationId: deleteRecipe}}
  /open:
    get: {{operationId: open, security: []}}
  /either:
    get:
      operationId: either
      security: [{{google: []}}, {{firebase: []}}]
  /google:
    get: {{operationId: google, security: [{{google: []}}]}}
  /keyed:
    get: {{operationId: keyed, security: [{{api_key: []}}]}}
  /direct:
    get:
      operationId: direct
      x-google-backend: {{address: "{backend}", disable_auth: true}}
  /slow:
    get:
      operationId: slow
      security: []
      x-google-backend:
        address: "{backend}"
        jwt_audience: slow-aud
        deadline: 0.5
        path_translation: APPEND_PATH_TO_ADDRESS
  /users/{{uid}}/items/{{item}}:
    get:
      operationId: getItem
      security: []
      x-google-backend: {{address: "{backend}/getItem", jwt_audience: other-aud}}
  /upload:
    post: {{operationId: upload, security: []}}
"#
    )
}

/// The fakes and the keys behind them.
pub struct Fakes {
    pub keys: MockServer,
    pub metadata: MockServer,
    pub backend: MockServer,
    pub firebase_key: Arc<SigningKey>,
    pub google_key: Arc<SigningKey>,
    pub sa_key: Arc<SigningKey>,
}

impl Fakes {
    pub async fn start() -> Self {
        google_tokens::install_crypto_provider();
        let firebase_key = Arc::new(SigningKey::generate_rsa(None).expect("key"));
        let google_key = Arc::new(SigningKey::generate_rsa(None).expect("key"));
        let sa_key = Arc::new(SigningKey::generate_rsa(None).expect("key"));
        let keys = MockServer::start().await;
        let map: PemMap = [(
            firebase_key.kid().to_owned(),
            firebase_key
                .certificate_pem("securetoken.system.gserviceaccount.com")
                .expect("cert"),
        )]
        .into_iter()
        .collect();
        Mock::given(method("GET"))
            .and(path(X509_PATH))
            .respond_with(ResponseTemplate::new(200).set_body_json(&map))
            .mount(&keys)
            .await;
        Mock::given(method("GET"))
            .and(path("/oauth2/v3/certs"))
            .respond_with(ResponseTemplate::new(200).set_body_json(Jwks {
                keys: vec![google_key.public_jwk()],
            }))
            .mount(&keys)
            .await;
        let metadata = MockServer::start().await;
        let backend = MockServer::start().await;
        Self {
            keys,
            metadata,
            backend,
            firebase_key,
            google_key,
            sa_key,
        }
    }

    /// The metadata server mints a real ID token for whatever audience is asked.
    pub async fn serve_identity_tokens(&self) {
        let key = self.sa_key.clone();
        Mock::given(method("GET"))
            .and(path(IDENTITY_PATH))
            .and(header("Metadata-Flavor", "Google"))
            .respond_with(move |req: &wiremock::Request| {
                let aud = req
                    .url
                    .query_pairs()
                    .find(|(k, _)| k == "audience")
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default();
                let claims =
                    GoogleIdClaims::for_service_account(GATEWAY_SA, "1234567890", &aud, now_unix());
                ResponseTemplate::new(200)
                    .insert_header("content-type", "text/plain")
                    .insert_header("Metadata-Flavor", "Google")
                    .set_body_string(key.sign(&claims).expect("sign"))
            })
            .mount(&self.metadata)
            .await;
    }

    /// The backend answers 200 `ok` to anything.
    pub async fn backend_ok(&self) {
        Mock::given(wiremock::matchers::any())
            .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
            .mount(&self.backend)
            .await;
    }

    pub fn firebase_claims(&self) -> FirebaseClaims {
        FirebaseClaims::for_password_user(PROJECT, "uid-alice", "alice@example.com", now_unix())
    }

    pub fn firebase_token(&self) -> String {
        self.firebase_key
            .sign(&self.firebase_claims())
            .expect("sign")
    }

    pub fn google_token(&self, aud: &str) -> String {
        let claims = GoogleIdClaims::for_service_account(
            "caller@my-project.iam.gserviceaccount.com",
            "42",
            aud,
            now_unix(),
        );
        self.google_key.sign(&claims).expect("sign")
    }

    pub fn config(&self, spec: &str) -> Config {
        let service = ServiceName::parse(SERVICE).expect("service");
        Config {
            api: ApiConfig::from_text(spec, "test.yaml", &service).expect("spec"),
            outbound: Outbound::Direct {
                roots: TlsRoots::Pem(test_ca_pem()),
            },
            metadata_host: MetadataHost::parse(&self.metadata.address().to_string()).expect("host"),
            generated_header_prefix: HeaderPrefix::parse(HeaderPrefix::API_GATEWAY)
                .expect("prefix"),
            api_keys: ApiKeyCheck::PresenceOnly,
            max_request_bytes: gateway_shim::API_GATEWAY_MAX_REQUEST_BYTES,
            jwks: google_tokens::JwksClientOptions::google_defaults(),
        }
    }

    pub fn standard_config(&self) -> Config {
        self.config(&standard_spec(&self.backend.uri(), &self.keys.uri()))
    }
}

/// Any valid certificate will do for HTTP-only tests: a direct client with explicit roots
/// never touches the platform verifier.
pub fn test_ca_pem() -> String {
    let key = SigningKey::generate_ec(None).expect("key");
    key.certificate_pem("test-ca").expect("cert")
}

/// A running gateway and a client that never follows redirects.
pub struct Running {
    pub gateway: Gateway,
    pub server: LoopbackServer,
    pub client: reqwest::Client,
}

impl Running {
    pub async fn start(config: Config) -> Self {
        let gateway = Gateway::new(config).expect("gateway");
        // What `gateway_shim::serve` serves.
        let server = LoopbackServer::start(gateway.service())
            .await
            .expect("server");
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .tls_certs_only([])
            .build()
            .expect("client");
        Self {
            gateway,
            server,
            client,
        }
    }

    pub fn url(&self, path_and_query: &str) -> String {
        self.server.url(path_and_query)
    }

    pub async fn get(&self, path_and_query: &str, headers: &[(&str, &str)]) -> reqwest::Response {
        let mut rb = self.client.get(self.url(path_and_query));
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        rb.send().await.expect("send")
    }
}

/// `(status, content-type, body)`.
pub async fn parts(resp: reqwest::Response) -> (u16, String, String) {
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    (status, ct, resp.text().await.expect("body"))
}

/// The requests the backend received.
pub async fn backend_requests(fakes: &Fakes) -> Vec<wiremock::Request> {
    fakes.backend.received_requests().await.unwrap_or_default()
}

pub fn header_of(req: &wiremock::Request, name: &str) -> Option<String> {
    req.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}
