//! What the client sends.

use cucumber::when;

use super::header_pair;
use crate::world::{Door, FortressWorld};

#[when(expr = "the client calls {door} with {word} {string}")]
async fn calls(
    w: &mut FortressWorld,
    door: Door,
    method: String,
    path: String,
) -> Result<(), String> {
    w.send(&door, &method, &path, &[]).await
}

#[when(expr = "the client calls {door} with {word} {string} and header {string}")]
async fn calls_with_header(
    w: &mut FortressWorld,
    door: Door,
    method: String,
    path: String,
    header: String,
) -> Result<(), String> {
    let pair = header_pair(&header)?;
    w.send(&door, &method, &path, &[pair]).await
}

/// `GET` the door's front page: a service's own prefix on its run.app URL (`/smoothie`), `/`
/// elsewhere.
#[when(expr = "the client calls {door}")]
async fn calls_front_page(w: &mut FortressWorld, door: Door) -> Result<(), String> {
    let path = match &door {
        Door::RunApp(name) => {
            let f = w.fortress().await?;
            let service = f
                .topology
                .service(name)
                .ok_or_else(|| format!("the topology has no service {name:?}"))?;
            service
                .paths()
                .first()
                .map(|p| p.as_str().trim_end_matches("/*").to_string())
                .unwrap_or_else(|| "/".into())
        }
        _ => "/".into(),
    };
    w.send(&door, "GET", &path, &[]).await
}

#[when(expr = "the client sends a CORS preflight to {door} for {string} from origin {string}")]
async fn preflight(
    w: &mut FortressWorld,
    door: Door,
    path: String,
    origin: String,
) -> Result<(), String> {
    let headers = [
        ("origin".to_string(), origin),
        (
            "access-control-request-method".to_string(),
            "GET".to_string(),
        ),
        (
            "access-control-request-headers".to_string(),
            "authorization".to_string(),
        ),
    ];
    w.send(&door, "OPTIONS", &path, &headers).await
}
