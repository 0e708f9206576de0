//! What each service saw: a recording layer around the service's own router.
//!
//! Scenarios assert on what reached a service ("smoothie-service did not see the header
//! x-goog-authenticated-user-email from the client", "the back door is closed: the service saw
//! nothing"). The harness wraps each service's router, outside its IAP check, with this layer,
//! so it records exactly what Cloud Run handed the container. The service itself, its routes and
//! the shipped topology are unchanged.
//!
//! Only requests carrying the harness's probe header are kept: each request a scenario sends
//! gets a fresh probe id ([`PROBE_HEADER`]), which every hop passes on untouched, so concurrent
//! scenarios sharing one stack never read each other's records. The record is made before the
//! service answers, so once the client has its response the record is there: no waiting.
//!
//! The container runtime cannot wrap a service's router (its image holds only the shipped
//! binary), so a recording proxy holds the service's host name instead (`fortress-probe
//! record`, e2e/probe) and records the same way, before forwarding. [`Records`] is what the
//! steps read, whichever runtime recorded.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;

/// The header that ties a request at a service to the scenario step that sent it.
pub const PROBE_HEADER: &str = "x-fortress-e2e-probe";

/// One request as a service received it.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Seen {
    pub method: String,
    /// Path and query.
    pub uri: String,
    /// Every header, names lowercase, in arrival order.
    pub headers: Vec<(String, String)>,
}

impl Seen {
    /// Every value of header `name` (case-insensitive).
    pub fn header_values(&self, name: &str) -> Vec<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// The requests one service received, by probe id.
#[derive(Debug, Clone, Default)]
pub struct Recorder {
    seen: Arc<Mutex<HashMap<String, Vec<Seen>>>>,
}

impl Recorder {
    /// What arrived with probe id `probe`.
    pub fn seen(&self, probe: &str) -> Vec<Seen> {
        // A std mutex: never held across an await (style.md section 7).
        let seen = match self.seen.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        seen.get(probe).cloned().unwrap_or_default()
    }

    fn record(&self, probe: String, request: Seen) {
        let mut seen = match self.seen.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        seen.entry(probe).or_default().push(request);
    }

    /// Wraps `app` so every probed request is recorded before the app sees it.
    pub fn wrap(&self, app: axum::Router) -> axum::Router {
        let recorder = self.clone();
        app.layer(axum::middleware::from_fn(
            move |req: Request, next: Next| {
                let recorder = recorder.clone();
                async move {
                    recorder.observe(&req);
                    let response: Response = next.run(req).await;
                    response
                }
            },
        ))
    }

    fn observe(&self, req: &Request) {
        let Some(probe) = req
            .headers()
            .get(PROBE_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
        else {
            return;
        };
        let headers = req
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        self.record(
            probe,
            Seen {
                method: req.method().to_string(),
                uri: req.uri().to_string(),
                headers,
            },
        );
    }
}

/// Where a service's records are read, in either runtime.
#[derive(Debug, Clone)]
pub enum Records {
    /// The recording layer around the in-process router.
    InProcess(Recorder),
    /// A recording proxy in the container runtime: `GET http://ADDR/records/PROBE`, by the
    /// proxy's address on the internal network (the host reaches it by IP).
    Proxy {
        addr: std::net::SocketAddr,
        client: reqwest::Client,
    },
}

impl Records {
    /// What arrived with probe id `probe`.
    pub async fn seen(&self, probe: &str) -> Result<Vec<Seen>, String> {
        match self {
            Self::InProcess(recorder) => Ok(recorder.seen(probe)),
            Self::Proxy { addr, client } => {
                let url = format!("http://{addr}/records/{probe}");
                let response = client
                    .get(&url)
                    .send()
                    .await
                    .map_err(|e| format!("reading records at {url}: {e}"))?;
                if !response.status().is_success() {
                    return Err(format!("{url} answered {}", response.status()));
                }
                response
                    .json()
                    .await
                    .map_err(|e| format!("records at {url}: {e}"))
            }
        }
    }
}
