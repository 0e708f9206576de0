//! The container runtime (`just e2e --runtime containers`): the same fortress with every
//! component in its own `FROM scratch` container, on two networks per stack:
//!
//! ```text
//! host (cucumber) --127.0.0.1:published--> gateway-shim ----+         (ID-public)
//!                 --127.0.0.1:published--> emulator <-------+
//!   emulator --> smoothie-service = recorder --> smoothie-service-origin  (ID-internal,
//!            --> coffee-service   = recorder --> coffee-service-origin    internal: true)
//! ```
//!
//! - Images ([`images`]): our static release binaries (`target/x86_64-unknown-linux-gnu/release`)
//!   copied into `FROM scratch` images tagged by the binary's content hash, so an unchanged
//!   binary is never rebuilt. Built with testcontainers' build API.
//! - Networks and containers ([`stack`]) are started with testcontainers; the internal network
//!   is created through its Docker client (`testcontainers::bollard`) with `internal: true`,
//!   which testcontainers' own network creation cannot ask for. The emulator joins both
//!   networks (aliases `emulator` and `www.gstatic.com` on the internal one), the services only
//!   the internal one (no published port), the gateway only the public one.
//! - What a service saw: each service's topology host name on the internal network is held by
//!   a recording proxy (`fortress-probe record`) that records probed requests before
//!   forwarding them to the service (`NAME-origin`); see [`crate::recorder::Records`].
//! - Inside the VPC: the host's own address on the internal network (the bridge's gateway) is
//!   declared to the emulator as an internal caller; see [`stack::ContainerStack::vpc_address`].
//! - Every container and network carries `fortress.e2e=1` and `fortress.e2e.pid=PID`. A stack
//!   removes its containers when dropped (testcontainers force-removes them) and then its
//!   networks (a guard dropped after the containers); a run removes whatever it made when it
//!   ends, also on Ctrl-C ([`cleanup_run`]), and at start whatever a run whose process is gone
//!   left behind ([`prune_leftovers`]). Names carry a random stack id, so a leftover never
//!   collides with a new run.
//! - The host can reach internal containers by IP, so invisibility is proven from probe
//!   containers ([`probe`]) on the networks, never from the host. Probing scenarios run
//!   `@serial`: Docker briefly lifts bridge isolation while it sets up any network (it deletes
//!   and re-inserts FORWARD's jump to DOCKER-ISOLATION-STAGE-1), and an `@isolated` scenario
//!   starting its own stack would otherwise open that window under a probe.
//!
//! Nothing here drives the docker CLI.

pub mod images;
pub mod stack;

use std::collections::HashMap;
use std::time::Duration;

use testcontainers::bollard::Docker;
use testcontainers::bollard::query_parameters::{
    ListContainersOptionsBuilder, ListNetworksOptionsBuilder, RemoveContainerOptionsBuilder,
};
use testcontainers::core::WaitFor;
use testcontainers::core::wait::ExitWaitStrategy;
use testcontainers::runners::AsyncRunner;
use testcontainers::{GenericImage, ImageExt};

pub use stack::ContainerStack;

/// Label on everything the container runtime creates.
pub const LABEL: &str = "fortress.e2e";
/// Label holding the creating process's id, to find a crashed run's leftovers.
pub const PID_LABEL: &str = "fortress.e2e.pid";

/// The container runtime could not do something. Each variant says what.
#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    /// No Docker Engine answered.
    #[error(
        "the container runtime needs a running Docker Engine, and none answered:\n  {0}\n\
         Start Docker (e.g. `sudo systemctl start docker`), or run the same scenarios in-process \
         with `just e2e` (the default runtime, no Docker needed)."
    )]
    NoDocker(String),
    /// A static binary is missing.
    #[error("{path}: {source}; build the static binaries first: {command}", command = images::BUILD_COMMAND)]
    MissingBinary {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    /// A file of the stack's configuration could not be written or read.
    #[error("{path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    /// The Docker Engine refused or failed a request.
    #[error("{what}: {message}")]
    Docker { what: String, message: String },
    /// A component did not become ready in time.
    #[error("{component} was not ready within {within:?}: {detail}")]
    NotReady {
        component: String,
        within: Duration,
        detail: String,
    },
    /// A probe container's output was not a probe result.
    #[error("probe: {0}")]
    Probe(String),
}

impl ContainerError {
    /// A Docker failure while doing `what`.
    pub fn docker(what: impl Into<String>, err: impl std::fmt::Display) -> Self {
        Self::Docker {
            what: what.into(),
            message: err.to_string(),
        }
    }
}

/// A client of the local Docker Engine (`DOCKER_HOST` or the default socket).
pub fn docker() -> Result<Docker, ContainerError> {
    Docker::connect_with_defaults().map_err(|e| ContainerError::NoDocker(e.to_string()))
}

/// `Ok` when a Docker Engine answers within a few seconds; otherwise [`ContainerError::NoDocker`],
/// whose message says which runtime to use instead.
pub async fn check_docker() -> Result<(), ContainerError> {
    let docker = docker()?;
    match tokio::time::timeout(Duration::from_secs(10), docker.ping()).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(ContainerError::NoDocker(
            e.to_string().lines().next().unwrap_or_default().to_string(),
        )),
        Err(_) => Err(ContainerError::NoDocker(
            "the Docker Engine did not answer within 10 s".into(),
        )),
    }
}

/// `fortress.e2e.pid=PID` of this process.
pub fn pid_label() -> String {
    format!("{PID_LABEL}={}", std::process::id())
}

/// The labels every container and network of this process carries.
pub fn labels() -> HashMap<String, String> {
    HashMap::from([
        (LABEL.to_string(), "1".to_string()),
        (PID_LABEL.to_string(), std::process::id().to_string()),
    ])
}

/// Removes every container and network this process created (the run's end, Ctrl-C).
pub async fn cleanup_run() {
    remove_labelled(&pid_label()).await;
}

/// Force-removes the containers, then the networks, labelled `label` (`KEY=VALUE`).
async fn remove_labelled(label: &str) {
    let Ok(docker) = docker() else {
        return;
    };
    let filters = HashMap::from([("label".to_string(), vec![label.to_string()])]);
    let containers = docker
        .list_containers(Some(
            ListContainersOptionsBuilder::new()
                .all(true)
                .filters(&filters)
                .build(),
        ))
        .await
        .unwrap_or_default();
    let removals = containers.iter().filter_map(|c| c.id.as_deref()).map(|id| {
        docker.remove_container(
            id,
            Some(
                RemoveContainerOptionsBuilder::new()
                    .force(true)
                    .v(true)
                    .build(),
            ),
        )
    });
    futures_util::future::join_all(removals).await;
    let networks = docker
        .list_networks(Some(
            ListNetworksOptionsBuilder::new().filters(&filters).build(),
        ))
        .await
        .unwrap_or_default();
    for id in networks.iter().filter_map(|n| n.id.as_deref()) {
        let _ = docker.remove_network(id).await;
    }
}

/// Removes what runs whose process is gone left behind (a crash, a SIGKILL): containers and
/// networks labelled [`LABEL`] whose [`PID_LABEL`] names no live process. Runs at the same time
/// as this one are left alone.
pub async fn prune_leftovers() {
    let Ok(docker) = docker() else {
        return;
    };
    let filters = HashMap::from([("label".to_string(), vec![LABEL.to_string()])]);
    let mut pids: Vec<String> = Vec::new();
    if let Ok(containers) = docker
        .list_containers(Some(
            ListContainersOptionsBuilder::new()
                .all(true)
                .filters(&filters)
                .build(),
        ))
        .await
    {
        pids.extend(
            containers
                .iter()
                .filter_map(|c| c.labels.as_ref()?.get(PID_LABEL).cloned()),
        );
    }
    if let Ok(networks) = docker
        .list_networks(Some(
            ListNetworksOptionsBuilder::new().filters(&filters).build(),
        ))
        .await
    {
        pids.extend(
            networks
                .iter()
                .filter_map(|n| n.labels.as_ref()?.get(PID_LABEL).cloned()),
        );
    }
    pids.sort();
    pids.dedup();
    for pid in pids {
        let alive = pid
            .parse::<u32>()
            .is_ok_and(|p| std::path::Path::new(&format!("/proc/{p}")).exists());
        if !alive {
            tracing::warn!(pid, "removing a crashed e2e run's containers and networks");
            remove_labelled(&format!("{PID_LABEL}={pid}")).await;
        }
    }
}

/// Which network a probe container joins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The client side: where the gateway and the emulator's public face are.
    Public,
    /// The services' side.
    Internal,
}

impl std::str::FromStr for Side {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "public" | "client" => Ok(Self::Public),
            "internal" | "services'" => Ok(Self::Internal),
            other => Err(format!("{other:?}: expected public or internal")),
        }
    }
}

/// One connection attempt made by [`probe`].
#[derive(Debug, Clone, serde::Deserialize)]
pub struct ProbeResult {
    pub target: String,
    /// `connected`, `refused`, `timeout`, `unresolved` or `error`.
    pub result: String,
    pub millis: u64,
    pub error: String,
}

/// Connects to `target` (`HOST:PORT`) from a fresh probe container on `network`, with
/// `timeout`; the container is removed when it has answered.
pub async fn probe(
    image: &images::ImageRef,
    network: &str,
    target: &str,
    timeout: Duration,
) -> Result<ProbeResult, ContainerError> {
    let ms = timeout.as_millis().to_string();
    let container = GenericImage::new(&image.name, &image.tag)
        .with_wait_for(WaitFor::exit(ExitWaitStrategy::new()))
        .with_cmd(["connect", target, &ms])
        .with_network(network)
        .with_labels(labels())
        .with_startup_timeout(timeout + Duration::from_secs(20))
        .start()
        .await
        .map_err(|e| ContainerError::docker(format!("a probe on {network}"), e))?;
    let out = container.stdout_to_vec().await;
    // Removed here, in async code: a drop would block this thread on the removal, which stalls
    // every other scenario running on it (cucumber polls them all from one task).
    let _ = container.rm().await;
    let out = out.map_err(|e| ContainerError::docker("the probe's output", e))?;
    let text = String::from_utf8_lossy(&out);
    let line = text
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .ok_or_else(|| ContainerError::Probe(format!("it printed no result: {text}")))?;
    serde_json::from_str(line).map_err(|e| ContainerError::Probe(format!("{line:?}: {e}")))
}
