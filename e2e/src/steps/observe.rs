//! What a service received: read from the recording layer around it ([`crate::recorder`]).

use cucumber::then;
use google_tokens::{Alg, IapClaims, KeySet, Policy};

use crate::world::FortressWorld;

#[then(expr = "{string} saw the IAP-verified identity {string}")]
async fn saw_identity(w: &mut FortressWorld, service: String, email: String) -> Result<(), String> {
    let email = w.expand(&email).await?;
    let seen = w.the_request_seen_by(&service).await?;
    let f = w.fortress().await?;
    let audience = f
        .topology
        .service(&service)
        .map(|s| s.iap_audience().as_str().to_string())
        .ok_or_else(|| format!("the topology has no service {service:?}"))?;
    let assertion = match seen.header_values("x-goog-iap-jwt-assertion").as_slice() {
        [one] => (*one).to_string(),
        other => {
            return Err(format!(
                "{service} received {} x-goog-iap-jwt-assertion headers",
                other.len()
            ));
        }
    };
    // Verified as the service itself does: IAP's published key, ES256, the backend's audience.
    let keys = KeySet::from_signing_keys(Alg::Es256, [&f.keys.iap]).map_err(|e| e.to_string())?;
    let claims: IapClaims = google_tokens::verify(
        &assertion,
        &keys,
        &Policy::iap_assertion(&audience),
        google_tokens::now_unix(),
    )
    .map_err(|e| format!("the assertion {service} received does not verify: {e}"))?;
    (claims.email == email)
        .then_some(())
        .ok_or_else(|| format!("{service} saw the verified identity {:?}", claims.email))
}

#[then(expr = "{string} did not see the header {string} from the client")]
async fn not_from_client(
    w: &mut FortressWorld,
    service: String,
    name: String,
) -> Result<(), String> {
    let seen = w.the_request_seen_by(&service).await?;
    let last = w.last()?;
    let lower = name.to_ascii_lowercase();
    let sent: Vec<&str> = last
        .sent_headers
        .iter()
        .filter(|(n, _)| *n == lower)
        .map(|(_, v)| v.as_str())
        .collect();
    if sent.is_empty() {
        return Err(format!(
            "the client did not send {name}; the step proves nothing"
        ));
    }
    let leaked: Vec<&str> = seen
        .header_values(&name)
        .into_iter()
        .filter(|v| sent.contains(v))
        .collect();
    leaked
        .is_empty()
        .then_some(())
        .ok_or_else(|| format!("{service} saw the client's {name}: {leaked:?}"))
}

#[then(expr = "{string} saw the header {string}")]
async fn saw_header(w: &mut FortressWorld, service: String, name: String) -> Result<(), String> {
    let seen = w.the_request_seen_by(&service).await?;
    (!seen.header_values(&name).is_empty())
        .then_some(())
        .ok_or_else(|| format!("{service} received no {name} header"))
}

#[then(expr = "{string} saw the header {string} with value {string}")]
async fn saw_header_value(
    w: &mut FortressWorld,
    service: String,
    name: String,
    value: String,
) -> Result<(), String> {
    let value = w.expand(&value).await?;
    let seen = w.the_request_seen_by(&service).await?;
    let values = seen.header_values(&name);
    (values == [value.as_str()])
        .then_some(())
        .ok_or_else(|| format!("{service} saw {name}: {values:?}, expected [{value:?}]"))
}

#[then(expr = "{string} saw the header {string} containing {string}")]
async fn saw_header_containing(
    w: &mut FortressWorld,
    service: String,
    name: String,
    part: String,
) -> Result<(), String> {
    let part = w.expand(&part).await?;
    let seen = w.the_request_seen_by(&service).await?;
    let values = seen.header_values(&name);
    (!values.is_empty() && values.iter().all(|v| v.contains(&part)))
        .then_some(())
        .ok_or_else(|| format!("{service} saw {name}: {values:?}, expected it to contain {part:?}"))
}

#[then(expr = "{string} did not see the header {string}")]
async fn no_header_seen(
    w: &mut FortressWorld,
    service: String,
    name: String,
) -> Result<(), String> {
    let seen = w.the_request_seen_by(&service).await?;
    let values = seen.header_values(&name);
    values
        .is_empty()
        .then_some(())
        .ok_or_else(|| format!("{service} saw {name}: {values:?}"))
}

#[then(expr = "{string} saw the client's token in the header {string}")]
async fn saw_client_token(
    w: &mut FortressWorld,
    service: String,
    name: String,
) -> Result<(), String> {
    let token = w
        .credential
        .clone()
        .ok_or("the client holds no token; the step proves nothing")?;
    let seen = w.the_request_seen_by(&service).await?;
    let values = seen.header_values(&name);
    (values == [format!("Bearer {token}").as_str()])
        .then_some(())
        .ok_or_else(|| format!("{service} saw {name}: {values:?}, not the client's bearer token"))
}

/// `X-Apigateway-Api-Userinfo` carries the verified token's payload segment (item 67).
#[then(expr = "{string} saw the client's token claims in the header {string}")]
async fn saw_client_claims(
    w: &mut FortressWorld,
    service: String,
    name: String,
) -> Result<(), String> {
    let token = w
        .credential
        .clone()
        .ok_or("the client holds no token; the step proves nothing")?;
    let payload = token.split('.').nth(1).unwrap_or_default().to_string();
    let seen = w.the_request_seen_by(&service).await?;
    let values = seen.header_values(&name);
    (values == [payload.as_str()])
        .then_some(())
        .ok_or_else(|| format!("{service} saw {name}: {values:?}, not the token's payload segment"))
}

#[then(expr = "{string} saw nothing")]
async fn saw_nothing(w: &mut FortressWorld, service: String) -> Result<(), String> {
    let seen = w.seen_by(&service).await?;
    seen.is_empty()
        .then_some(())
        .ok_or_else(|| format!("{service} received {} request(s)", seen.len()))
}

#[then(expr = "{string} saw the request for {string}")]
async fn saw_request_for(
    w: &mut FortressWorld,
    service: String,
    uri: String,
) -> Result<(), String> {
    let seen = w.the_request_seen_by(&service).await?;
    (seen.uri == uri)
        .then_some(())
        .ok_or_else(|| format!("{service} saw {} {}, expected {uri}", seen.method, seen.uri))
}
