//! [`FortressWorld`]: one scenario's view of the fortress. It holds the client's credential and
//! extra headers, the stack the scenario talks to, and the last exchange (request, answer, and
//! the probe id that finds it at the services).
//!
//! # Which stack
//! Scenarios share one stack per run ([`shared_stack`]), started on first use. A scenario
//! that changes the emulated project (ingress, IAM, a slow service) must be tagged
//! `@isolated`: it gets a stack of its own, stopped after it, so scenarios running at the same
//! time never see its changes. A scenario that varies fortress.yaml or openapi.yaml ("Given a
//! fortress where ...") always gets its own stack. A change step on the shared stack fails and
//! says to add the tag.

use std::sync::Arc;

use cucumber::World;
use http::HeaderMap;

use crate::edit::Edit;
use crate::recorder::{PROBE_HEADER, Seen};
use crate::stack::{Fortress, Runtime, StackConfig, rogue_service_account};

static SHARED: tokio::sync::OnceCell<Arc<Fortress>> = tokio::sync::OnceCell::const_new();
static RUNTIME: std::sync::OnceLock<Runtime> = std::sync::OnceLock::new();

/// Chooses the runtime every stack of this process starts in (the runner does, once, from
/// `--runtime`); `false` if one was already chosen.
pub fn set_runtime(runtime: Runtime) -> bool {
    RUNTIME.set(runtime).is_ok()
}

/// The runtime stacks start in: in-process unless [`set_runtime`] said otherwise.
pub fn runtime() -> Runtime {
    RUNTIME.get().copied().unwrap_or_default()
}

/// The run's shared stack, started on first use.
pub async fn shared_stack() -> Result<Arc<Fortress>, String> {
    SHARED
        .get_or_try_init(|| async {
            let config = StackConfig::from_fixtures().map_err(|e| e.to_string())?;
            let fortress = Fortress::start_in(runtime(), config)
                .await
                .map_err(|e| e.to_string())?;
            tracing::info!(took = ?fortress.started_in, "shared fortress ready");
            Ok::<_, String>(Arc::new(fortress))
        })
        .await
        .cloned()
}

/// Where the client puts its token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenPlace {
    /// `Authorization: Bearer TOKEN`.
    Authorization,
    /// `NAME: Bearer TOKEN` (e.g. `Proxy-Authorization`).
    Header(String),
    /// `?NAME=TOKEN`.
    Query(String),
}

/// Which front door a request goes to.
#[derive(Debug, Clone, PartialEq, Eq, cucumber::Parameter)]
#[param(
    name = "door",
    regex = r#"the gateway|the load balancer|the run\.app URL of "[^"]+""#
)]
pub enum Door {
    /// The gateway shim (API Gateway).
    Gateway,
    /// `https://DOMAIN`: the load balancer and IAP.
    LoadBalancer,
    /// `https://SERVICE-HASH-REGION.a.run.app`: the Cloud Run front end of one service.
    RunApp(String),
}

impl std::str::FromStr for Door {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "the gateway" => Ok(Self::Gateway),
            "the load balancer" => Ok(Self::LoadBalancer),
            other => other
                .strip_prefix("the run.app URL of \"")
                .and_then(|rest| rest.strip_suffix('"'))
                .map(|name| Self::RunApp(name.to_string()))
                .ok_or_else(|| format!("{other:?} is not a door")),
        }
    }
}

/// One request and its answer.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub door: Door,
    pub method: String,
    pub url: String,
    /// The probe id the services recorded it under.
    pub probe: String,
    /// Headers the client sent (besides the probe), names lowercase.
    pub sent_headers: Vec<(String, String)>,
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Exchange {
    /// The first value of response header `name`, if any and if text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as JSON, if it is.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_str(&self.body).ok()
    }

    /// `STATUS BODY` cut to a readable length, for failure messages.
    pub fn describe(&self) -> String {
        let mut body: String = self.body.chars().take(600).collect();
        if body.len() < self.body.len() {
            body.push_str("...");
        }
        format!(
            "{} {} answered {}: {body}",
            self.method, self.url, self.status
        )
    }
}

#[derive(Debug, World)]
#[world(init = Self::new)]
pub struct FortressWorld {
    /// Set from the `@isolated` tag before the first step.
    pub isolated: bool,
    pub topology_edits: Vec<Edit>,
    pub openapi_edits: Vec<Edit>,
    stack: Option<Arc<Fortress>>,
    /// Whether `stack` is this scenario's own.
    own: bool,
    /// Whether a step has sent a request or changed the project: from then on the stack is
    /// fixed.
    used: bool,
    /// The client's token, if any.
    pub credential: Option<String>,
    pub token_place: TokenPlace,
    /// Headers the client adds to every request.
    pub headers: Vec<(String, String)>,
    /// Whether the client sends from inside the project's VPC network.
    pub in_vpc: bool,
    pub last: Option<Exchange>,
    /// Connection attempts made from probe containers (container runtime).
    pub probes: Vec<crate::containers::ProbeResult>,
}

impl FortressWorld {
    fn new() -> Self {
        Self {
            isolated: false,
            topology_edits: Vec::new(),
            openapi_edits: Vec::new(),
            stack: None,
            own: false,
            used: false,
            credential: None,
            token_place: TokenPlace::Authorization,
            headers: Vec::new(),
            in_vpc: false,
            last: None,
            probes: Vec::new(),
        }
    }

    /// The stack this scenario talks to, started (or joined) on first use.
    pub async fn fortress(&mut self) -> Result<Arc<Fortress>, String> {
        if let Some(stack) = &self.stack {
            return Ok(stack.clone());
        }
        let own =
            self.isolated || !self.topology_edits.is_empty() || !self.openapi_edits.is_empty();
        let stack = if own {
            let config = StackConfig::from_fixtures()
                .and_then(|c| c.with_edits(&self.topology_edits, &self.openapi_edits))
                .map_err(|e| e.to_string())?;
            let fortress = Fortress::start_in(runtime(), config)
                .await
                .map_err(|e| e.to_string())?;
            tracing::info!(took = ?fortress.started_in, "a scenario's own fortress ready");
            Arc::new(fortress)
        } else {
            shared_stack().await?
        };
        self.own = own;
        self.stack = Some(stack.clone());
        Ok(stack)
    }

    /// The stack, for a step that changes the emulated project: only a scenario's own.
    pub async fn fortress_to_change(&mut self) -> Result<Arc<Fortress>, String> {
        let stack = self.fortress().await?;
        self.used = true;
        if !self.own {
            return Err(
                "this step changes the emulated project, which the scenarios running \
                        beside this one share: tag the scenario @isolated to give it a fortress \
                        of its own"
                    .into(),
            );
        }
        Ok(stack)
    }

    /// A variation must come before any request or change; a stack joined before it (by a
    /// `Background`'s "the fortress is running") is left for one with the variation.
    pub async fn vary(&mut self, document: &str, path: &str, value: &str) -> Result<(), String> {
        if self.used {
            return Err(
                "a variation of the fortress must come before any request or change to it".into(),
            );
        }
        self.release().await;
        let edit = Edit::new(path, value);
        match document {
            "fortress.yaml" => self.topology_edits.push(edit),
            "openapi.yaml" => self.openapi_edits.push(edit),
            other => {
                return Err(format!("{other:?}: expected fortress.yaml or openapi.yaml"));
            }
        }
        Ok(())
    }

    /// Stops this scenario's own stack, if it has one.
    pub async fn release(&mut self) {
        let own = std::mem::take(&mut self.own);
        if let Some(stack) = self.stack.take()
            && own
            && let Ok(fortress) = Arc::try_unwrap(stack)
        {
            fortress.shutdown().await;
        }
    }

    /// Expands the placeholders a scenario may write inside quoted values (see STEPS.md):
    /// `<IAP client id>`, `<project id>`, `<project number>`, `<domain>`,
    /// `<gateway service account>`, `<IAP service agent>`, `<rogue service account>`,
    /// `<load balancer URL>`, `<run.app URL of NAME>`, `<IAP audience of NAME>`.
    ///
    /// Escapes inside a quoted value are undone first: `\"` is `"`, `\\` is `\`.
    pub async fn expand(&mut self, text: &str) -> Result<String, String> {
        let text = unescape(text);
        if !text.contains('<') {
            return Ok(text);
        }
        let f = self.fortress().await?;
        let t = &f.topology;
        let mut out = text
            .replace("<IAP client id>", t.iap().oauth2_client_id().as_str())
            .replace("<project id>", t.project().id().as_str())
            .replace("<project number>", &t.project().number().get().to_string())
            .replace("<domain>", t.domain().as_str())
            .replace(
                "<gateway service account>",
                t.gateway().service_account().as_str(),
            )
            .replace("<IAP service agent>", t.iap_service_agent().as_str())
            .replace("<rogue service account>", &rogue_service_account(t))
            .replace("<load balancer URL>", &f.load_balancer_url());
        for s in t.services() {
            let name = s.name().as_str();
            if let Some(url) = f.run_app_url(name) {
                out = out.replace(&format!("<run.app URL of {name}>"), &url);
            }
            out = out.replace(
                &format!("<IAP audience of {name}>"),
                s.iap_audience().as_str(),
            );
        }
        // A leftover `<two or more words>` is a mistyped placeholder; `<title>` in an HTML body
        // is not.
        if let Some(unknown) = leftover_placeholder(&out) {
            return Err(format!(
                "unknown placeholder {unknown} (STEPS.md lists them)"
            ));
        }
        Ok(out)
    }

    /// The URL of `path` behind `door`.
    pub async fn url(&mut self, door: &Door, path: &str) -> Result<String, String> {
        let f = self.fortress().await?;
        let base = match door {
            Door::Gateway => f.gateway_url(),
            Door::LoadBalancer => f.load_balancer_url(),
            Door::RunApp(name) => f
                .run_app_url(name)
                .ok_or_else(|| format!("the topology has no service {name:?}"))?,
        };
        Ok(format!("{}{path}", base.trim_end_matches('/')))
    }

    /// Sends `method path` to `door` with the client's credential, its headers and `extra`.
    pub async fn send(
        &mut self,
        door: &Door,
        method: &str,
        path: &str,
        extra: &[(String, String)],
    ) -> Result<(), String> {
        let f = self.fortress().await?;
        self.used = true;
        let path = self.expand(path).await?;
        let mut url = self.url(door, &path).await?;
        let method = http::Method::from_bytes(method.as_bytes())
            .map_err(|_| format!("{method:?} is not an HTTP method"))?;
        let probe = uuid::Uuid::new_v4().simple().to_string();
        let mut sent: Vec<(String, String)> = Vec::new();
        if let Some(token) = &self.credential {
            match &self.token_place {
                TokenPlace::Authorization => {
                    sent.push(("authorization".into(), format!("Bearer {token}")));
                }
                TokenPlace::Header(name) => {
                    sent.push((name.to_ascii_lowercase(), format!("Bearer {token}")));
                }
                TokenPlace::Query(name) => {
                    let sep = if url.contains('?') { '&' } else { '?' };
                    url = format!("{url}{sep}{name}={token}");
                }
            }
        }
        for (name, value) in self.headers.clone().iter().chain(extra) {
            let value = self.expand(value).await?;
            sent.push((name.to_ascii_lowercase(), value));
        }
        let client = if self.in_vpc {
            &f.vpc_client
        } else {
            &f.client
        };
        let mut request = client
            .request(method.clone(), &url)
            .header(PROBE_HEADER, &probe);
        for (name, value) in &sent {
            request = request.header(name.as_str(), value.as_str());
        }
        let response = request
            .send()
            .await
            .map_err(|e| format!("{method} {url}: {}", error_chain(&e)))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response
            .text()
            .await
            .map_err(|e| format!("{method} {url}: reading the body: {e}"))?;
        self.last = Some(Exchange {
            door: door.clone(),
            method: method.to_string(),
            url,
            probe,
            sent_headers: sent,
            status,
            headers,
            body,
        });
        Ok(())
    }

    /// The last exchange, or an error saying no request was sent.
    pub fn last(&self) -> Result<&Exchange, String> {
        self.last
            .as_ref()
            .ok_or_else(|| "no request was sent yet (a When step comes first)".to_string())
    }

    /// What `service` received of the last request.
    pub async fn seen_by(&mut self, service: &str) -> Result<Vec<Seen>, String> {
        let f = self.fortress().await?;
        let probe = self.last()?.probe.clone();
        f.seen(service, &probe).await
    }

    /// The one request `service` received for the last step, or an error saying what came.
    pub async fn the_request_seen_by(&mut self, service: &str) -> Result<Seen, String> {
        let seen = self.seen_by(service).await?;
        match seen.as_slice() {
            [one] => Ok(one.clone()),
            [] => Err(format!(
                "{service} received nothing; {}",
                self.last()?.describe()
            )),
            many => Err(format!(
                "{service} received the request {} times",
                many.len()
            )),
        }
    }
}
/// The first `<...>` holding a space, if any.
fn leftover_placeholder(text: &str) -> Option<&str> {
    let mut rest = text;
    while let Some(start) = rest.find('<') {
        let after = &rest[start..];
        let end = after.find('>')?;
        let candidate = &after[..=end];
        if candidate.contains(' ') && !candidate[1..].contains('<') {
            return Some(candidate);
        }
        rest = &after[1..];
    }
    None
}

/// `\"` to `"` and `\\` to `\`: cucumber's `{string}` keeps a quoted value's escapes.
pub fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some(next @ ('"' | '\\')) => out.push(next),
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `error: cause: cause`, since reqwest's own message is often only "error sending request".
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_are_undone() {
        assert_eq!(unescape(r#"{\"code\":1}"#), r#"{"code":1}"#);
        assert_eq!(unescape(r"a\\b\n"), r"a\b\n");
    }

    #[test]
    fn only_multi_word_angle_brackets_count_as_placeholders() {
        assert_eq!(leftover_placeholder("<title>404</title>"), None);
        assert_eq!(
            leftover_placeholder("x <IAP client idd> y"),
            Some("<IAP client idd>")
        );
        assert_eq!(leftover_placeholder("a < b and <c d>"), Some("<c d>"));
    }

    #[test]
    fn doors_parse_from_their_step_wording() {
        assert_eq!("the gateway".parse(), Ok(Door::Gateway));
        assert_eq!(
            "the run.app URL of \"coffee-service\"".parse(),
            Ok(Door::RunApp("coffee-service".into()))
        );
        assert!("the side door".parse::<Door>().is_err());
    }
}
