//! The container runtime (`just e2e --runtime containers`): the same fortress with every
//! component in its own `FROM scratch` container, on two networks per stack:
//!
//! ```text
//! host (cucumber) --127.0.0.1:published--> gateway-shim ----+   (STACK-public)
//!                 --127.0.0.1:published--> emulator <-------+
//!                                          emulator --> smoothie-service, coffee-service
//!                                                                (STACK-internal, internal: true)
//! ```
//!
//! - Images ([`images`]): our static release binaries (`target/x86_64-unknown-linux-gnu/release`)
//!   copied into `FROM scratch` images tagged by the binary's content hash, so an unchanged
//!   binary is never rebuilt. Built with the docker CLI (classic builder).
//! - Each stack gets `ID-public` and `ID-internal` networks; the emulator joins both (alias
//!   `emulator` on the internal one), the services only the internal one (network aliases
//!   `smoothie-service`, `coffee-service`; no published port), the gateway only the public one.
//! - Every container and network carries `fortress.e2e=1` and `fortress.e2e.pid=PID`; a run
//!   removes what it made when it ends (also on Ctrl-C, see [`cleanup_run`]) and, at start,
//!   whatever a run whose process is gone left behind ([`prune_leftovers`]).
//! - The host can reach internal containers by IP, so invisibility is proven from probe
//!   containers ([`probe`]) on the networks, never from the host.
//!
//! The docker CLI is driven directly (no testcontainers): it is already on the machine, costs
//! no build time, and its cleanup semantics are the CLI's own.

pub mod images;
pub mod stack;

use std::time::Duration;

pub use stack::ContainerStack;

/// Label on everything the container runtime creates.
pub const LABEL: &str = "fortress.e2e";
/// Label holding the creating process's id, to find a crashed run's leftovers.
pub const PID_LABEL: &str = "fortress.e2e.pid";

/// A docker command failed.
#[derive(Debug, thiserror::Error)]
#[error("docker {args}: {message}")]
pub struct DockerError {
    pub args: String,
    pub message: String,
}

/// Runs `docker ARGS` and returns its trimmed stdout.
pub async fn docker<I, S>(args: I) -> Result<String, DockerError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let args: Vec<std::ffi::OsString> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
    let shown = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    let out = tokio::process::Command::new("docker")
        .args(&args)
        .env("DOCKER_BUILDKIT", "0")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| DockerError {
            args: shown.clone(),
            message: e.to_string(),
        })?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(DockerError {
            args: shown,
            message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

/// The blocking twin of [`docker`], for `Drop` and signal handlers; errors are ignored.
pub fn docker_blocking(args: &[&str]) -> String {
    std::process::Command::new("docker")
        .args(args)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// `Ok` when a Docker Engine answers; otherwise the message to show instead of a stack trace.
pub async fn check_docker() -> Result<(), String> {
    let probe = tokio::time::timeout(
        Duration::from_secs(10),
        docker(["version", "--format", "{{.Server.Version}}"]),
    )
    .await;
    let why = match probe {
        Ok(Ok(_)) => return Ok(()),
        Ok(Err(e)) if e.message.contains("No such file") => {
            "the docker CLI is not installed".into()
        }
        Ok(Err(e)) => e.message,
        Err(_) => "the Docker Engine did not answer within 10 s".into(),
    };
    Err(format!(
        "e2e: the container runtime needs a running Docker Engine, and none answered:\n  {}\n\
         Start Docker (e.g. `sudo systemctl start docker`), or run the same scenarios in-process \
         with `just e2e` (the default runtime, no Docker needed).",
        why.lines().next().unwrap_or_default()
    ))
}

fn pid_label() -> String {
    format!("{PID_LABEL}={}", std::process::id())
}

/// Removes every container and network this process created.
pub fn cleanup_run() {
    remove_labelled(&pid_label());
}

fn remove_labelled(label: &str) {
    let filter = format!("label={label}");
    let ids = docker_blocking(&["ps", "-aq", "--filter", &filter]);
    let ids: Vec<&str> = ids.split_whitespace().collect();
    if !ids.is_empty() {
        let mut args = vec!["rm", "-f", "-v"];
        args.extend(ids);
        docker_blocking(&args);
    }
    let nets = docker_blocking(&["network", "ls", "-q", "--filter", &filter]);
    for net in nets.split_whitespace() {
        docker_blocking(&["network", "rm", net]);
    }
}

/// Removes what runs whose process is gone left behind (a crash, a SIGKILL): containers and
/// networks labelled [`LABEL`] whose [`PID_LABEL`] names no live process. Runs at the same time
/// as this one are left alone.
pub async fn prune_leftovers() {
    let format = format!("{{{{.Label \"{PID_LABEL}\"}}}}");
    let mut pids: Vec<String> = Vec::new();
    for listing in [
        docker([
            "ps",
            "-a",
            "--filter",
            &format!("label={LABEL}"),
            "--format",
            &format,
        ])
        .await,
        docker([
            "network",
            "ls",
            "--filter",
            &format!("label={LABEL}"),
            "--format",
            &format,
        ])
        .await,
    ]
    .into_iter()
    .flatten()
    {
        pids.extend(listing.split_whitespace().map(str::to_string));
    }
    pids.sort();
    pids.dedup();
    for pid in pids {
        let alive = pid
            .parse::<u32>()
            .is_ok_and(|p| std::path::Path::new(&format!("/proc/{p}")).exists());
        if !alive {
            tracing::warn!(pid, "removing a crashed e2e run's containers and networks");
            let label = format!("{PID_LABEL}={pid}");
            let _ = tokio::task::spawn_blocking(move || remove_labelled(&label)).await;
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
/// `timeout`.
pub async fn probe(
    image: &str,
    network: &str,
    target: &str,
    timeout: Duration,
) -> Result<ProbeResult, String> {
    let label = format!("{LABEL}=1");
    let pid = pid_label();
    let ms = timeout.as_millis().to_string();
    let out = docker([
        "run",
        "--rm",
        "--label",
        &label,
        "--label",
        &pid,
        "--network",
        network,
        image,
        "connect",
        target,
        &ms,
    ])
    .await;
    // Exit status 1 means "did not connect": the JSON is on stdout either way.
    let text = match out {
        Ok(text) => text,
        Err(e) => e.message,
    };
    let line = text
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .ok_or_else(|| format!("the probe printed no result: {text}"))?;
    serde_json::from_str(line).map_err(|e| format!("probe output {line:?}: {e}"))
}
