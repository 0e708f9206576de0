//! Network-level checks only the container runtime can make (`@containers` scenarios): a
//! probe container of ours joins one of the stack's networks and connects to a component.

use std::time::Duration;

use cucumber::{then, when};

use crate::containers::{self, Side};
use crate::world::FortressWorld;

/// How long a probe's connect may take before it counts as a timeout.
const PROBE_TIMEOUT: Duration = Duration::from_millis(1500);

/// Connects from a probe on `side` to every address of `component` (its name and each of its
/// IPs on any network) at `port`.
#[when(expr = "a container on the {word} network connects to {string} on port {int}")]
async fn connect_from(
    w: &mut FortressWorld,
    side: String,
    component: String,
    port: u16,
) -> Result<(), String> {
    let side: Side = side.parse()?;
    let f = w.fortress().await?;
    let stack = f.containers().ok_or(
        "network probes need the container runtime: tag the scenario @containers \
         (`just e2e --runtime containers`)",
    )?;
    let mut targets = vec![format!("{component}:{port}")];
    for ip in stack
        .addresses_of(&component)
        .await
        .map_err(|e| e.to_string())?
    {
        targets.push(format!("{ip}:{port}"));
    }
    let network = stack.network(side).to_string();
    let image = stack.images.probe.clone();
    let probes = targets
        .iter()
        .map(|t| containers::probe(&image, &network, t, PROBE_TIMEOUT));
    w.probes.clear();
    for result in futures_util::future::join_all(probes).await {
        w.probes.push(result.map_err(|e| e.to_string())?);
    }
    Ok(())
}

fn describe(w: &FortressWorld) -> String {
    w.probes
        .iter()
        .map(|p| format!("{} {} in {} ms", p.target, p.result, p.millis))
        .collect::<Vec<_>>()
        .join("; ")
}

#[then(expr = "every connection failed within {int} seconds")]
async fn every_failed(w: &mut FortressWorld, seconds: u64) -> Result<(), String> {
    if w.probes.is_empty() {
        return Err("no probe ran (a \"connects to\" step comes first)".into());
    }
    let bound = u128::from(seconds) * 1000;
    let bad: Vec<_> = w
        .probes
        .iter()
        .filter(|p| p.result == "connected" || u128::from(p.millis) > bound)
        .collect();
    if bad.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "expected every connection to fail within {seconds} s: {}",
            describe(w)
        ))
    }
}

#[then(expr = "the connection succeeded")]
async fn succeeded(w: &mut FortressWorld) -> Result<(), String> {
    match w.probes.first() {
        Some(p) if p.result == "connected" => Ok(()),
        Some(_) => Err(format!("expected a connection: {}", describe(w))),
        None => Err("no probe ran (a \"connects to\" step comes first)".into()),
    }
}
