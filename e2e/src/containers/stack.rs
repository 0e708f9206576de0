//! One fortress in containers: two networks, the two services, the emulator and the gateway.
//!
//! Start order: networks; the services (internal network only, alias = service name, IAP's keys
//! from `http://emulator:8080/www.gstatic.com/iap/verify/public_key-jwk`) and the emulator
//! (public network with its two ports published on 127.0.0.1, then connected to the internal
//! one as `emulator`; keys from a bind-mounted key directory; `ca.pem` into a bind-mounted
//! state directory) at the same time; once the emulator answers its health check, the gateway
//! (public network only, every outbound host to the emulator's public address, only its CA
//! trusted). Ready when the emulator answers and the gateway and each service logged
//! `listening`. Nothing waits on a fixed timer: readiness is polled.
//!
//! Dropping a [`ContainerStack`] force-removes its containers and networks and its directory.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use blueprint::Topology;

use super::images::{self, Images};
use super::{LABEL, docker, docker_blocking, pid_label};
use crate::keys::IssuerKeys;

/// The port every component listens on inside its container (the emulator's HTTPS: 8443).
pub const PORT: u16 = 8080;
const HTTPS_PORT: u16 = 8443;
/// The emulator's alias on the internal network for IAP's key host: it answers emulated hosts
/// by name only (Host header), so the services fetch `http://www.gstatic.com:8080/...`.
const GSTATIC: &str = "www.gstatic.com";
/// How long a component may take to become ready.
const READY_WITHIN: Duration = Duration::from_secs(30);

/// What to start.
#[derive(Debug)]
pub struct ContainerSpec<'a> {
    pub topology: &'a Topology,
    pub topology_text: &'a str,
    pub openapi_text: &'a str,
    pub keys: &'a IssuerKeys,
    pub service_accounts: Vec<String>,
}

/// A started stack. Addresses are the published ports on 127.0.0.1.
#[derive(Debug)]
pub struct ContainerStack {
    pub id: String,
    pub public_network: String,
    pub internal_network: String,
    pub images: Images,
    pub gateway_addr: SocketAddr,
    pub emulator_http: SocketAddr,
    pub emulator_https: SocketAddr,
    pub ca_pem: String,
    /// Container names by component (`gateway`, `emulator`, service names).
    containers: Vec<(String, String)>,
    dir: PathBuf,
    networks: Vec<String>,
}

impl ContainerStack {
    /// Starts the stack and returns once every component is ready.
    pub async fn start(spec: ContainerSpec<'_>) -> Result<Self, String> {
        let images = images::ensure().await?;
        let id = format!("fe2e-{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
        let dir = crate::stack::workspace_root()
            .join("target/e2e/containers")
            .join(&id);
        let mut stack = Self {
            public_network: format!("{id}-public"),
            internal_network: format!("{id}-internal"),
            id,
            images,
            gateway_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            emulator_http: SocketAddr::from(([127, 0, 0, 1], 0)),
            emulator_https: SocketAddr::from(([127, 0, 0, 1], 0)),
            ca_pem: String::new(),
            containers: Vec::new(),
            dir,
            networks: Vec::new(),
        };
        // From here on, dropping `stack` (an error, a panic) removes what exists.
        stack.write_config(&spec)?;
        let label = format!("{LABEL}=1");
        let pid = pid_label();
        for (name, internal) in [
            (stack.public_network.clone(), false),
            (stack.internal_network.clone(), true),
        ] {
            let mut args = vec!["network", "create", "--label", &label, "--label", &pid];
            if internal {
                args.push("--internal");
            }
            args.push(&name);
            docker(&args).await.map_err(|e| e.to_string())?;
            stack.networks.push(name);
        }

        // The services and the emulator at the same time.
        let mut starts = Vec::new();
        for service in spec.topology.services() {
            let name = service.name().as_str().to_string();
            let image = stack
                .images
                .service(&name)
                .ok_or_else(|| format!("no image for service {name:?}"))?
                .to_string();
            let container = format!("{}-{name}", stack.id);
            let args = vec![
                "run".to_string(),
                "-d".into(),
                "--name".into(),
                container.clone(),
                "--label".into(),
                label.clone(),
                "--label".into(),
                pid.clone(),
                "--network".into(),
                stack.internal_network.clone(),
                "--network-alias".into(),
                name.clone(),
                "--hostname".into(),
                name.clone(),
                "-e".into(),
                format!("IAP_AUDIENCE={}", service.iap_audience().as_str()),
                "-e".into(),
                format!("IAP_JWK_URL=http://{GSTATIC}:{PORT}/iap/verify/public_key-jwk"),
                image,
            ];
            stack.containers.push((name, container));
            starts.push(args);
        }
        let emulator = format!("{}-emulator", stack.id);
        let config_mount = format!("{}:/config:ro", stack.dir.display());
        let state_mount = format!("{}:/state", stack.dir.join("state").display());
        let mut args: Vec<String> = [
            "run",
            "-d",
            "--name",
            &emulator,
            "--label",
            &label,
            "--label",
            &pid,
            "--network",
            &stack.public_network,
            "--network-alias",
            "emulator",
            "-p",
            &format!("127.0.0.1::{PORT}"),
            "-p",
            &format!("127.0.0.1::{HTTPS_PORT}"),
            "-v",
            &config_mount,
            "-v",
            &state_mount,
            &stack.images.emulator,
            "--topology",
            "/config/fortress.yaml",
            "--http-listen",
            &format!("0.0.0.0:{PORT}"),
            "--https-listen",
            &format!("0.0.0.0:{HTTPS_PORT}"),
            "--state-dir",
            "/state",
            "--key-dir",
            "/config/keys",
        ]
        .into_iter()
        .map(str::to_string)
        .collect();
        for service in spec.topology.services() {
            let name = service.name().as_str();
            args.push("--upstream".into());
            args.push(format!("{name}={name}:{PORT}"));
        }
        for account in &spec.service_accounts {
            args.push("--service-account".into());
            args.push(account.clone());
        }
        stack.containers.push(("emulator".into(), emulator.clone()));
        starts.push(args);
        let results = futures_util::future::join_all(starts.iter().map(docker)).await;
        for r in results {
            r.map_err(|e| e.to_string())?;
        }
        docker([
            "network",
            "connect",
            "--alias",
            "emulator",
            "--alias",
            GSTATIC,
            &stack.internal_network,
            &emulator,
        ])
        .await
        .map_err(|e| e.to_string())?;
        stack.emulator_http = published(&emulator, PORT).await?;
        stack.emulator_https = published(&emulator, HTTPS_PORT).await?;

        // The emulator's CA, once it answers.
        stack.wait_for_emulator().await?;
        let ca_path = stack.dir.join("state/ca.pem");
        stack.ca_pem = tokio::fs::read_to_string(&ca_path)
            .await
            .map_err(|e| format!("{}: {e}", ca_path.display()))?;

        // The gateway, pointed at the emulator's public address.
        let emulator_ip = stack.ip_of(&emulator, &stack.public_network).await?;
        let gateway = format!("{}-gateway", stack.id);
        let service_name = spec.topology.gateway().managed_service();
        docker([
            "run",
            "-d",
            "--name",
            &gateway,
            "--label",
            &label,
            "--label",
            &pid,
            "--network",
            &stack.public_network,
            "--network-alias",
            "gateway",
            "-p",
            &format!("127.0.0.1::{PORT}"),
            "-v",
            &config_mount,
            &stack.images.gateway,
            "--openapi",
            "/config/openapi.yaml",
            "--service-name",
            service_name,
            "--emulator",
            &format!("{emulator_ip}:{HTTPS_PORT}"),
            "--emulator-ca",
            "/config/state/ca.pem",
            // By name: the emulator serves the metadata server only to its own host names,
            // and the gateway's local mode sends every name to the emulator (the URL's port
            // wins, so this reaches the plain listener).
            "--metadata-host",
            &format!("metadata.google.internal:{PORT}"),
        ])
        .await
        .map_err(|e| e.to_string())?;
        stack.containers.push(("gateway".into(), gateway.clone()));
        stack.gateway_addr = published(&gateway, PORT).await?;
        let waits: Vec<_> = stack
            .containers
            .iter()
            .filter(|(component, _)| component != "emulator")
            .map(|(component, container)| wait_for_log(component, container, "listening"))
            .collect();
        for r in futures_util::future::join_all(waits).await {
            r?;
        }
        Ok(stack)
    }

    fn write_config(&self, spec: &ContainerSpec<'_>) -> Result<(), String> {
        let io = |e: std::io::Error| format!("{}: {e}", self.dir.display());
        std::fs::create_dir_all(self.dir.join("state")).map_err(io)?;
        std::fs::write(self.dir.join("fortress.yaml"), spec.topology_text).map_err(io)?;
        std::fs::write(self.dir.join("openapi.yaml"), spec.openapi_text).map_err(io)?;
        spec.keys
            .write_key_dir(&self.dir.join("keys"))
            .map_err(|e| e.to_string())
    }

    async fn wait_for_emulator(&self) -> Result<(), String> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .tls_certs_only([])
            .timeout(Duration::from_secs(2))
            .build()
            .map_err(|e| e.to_string())?;
        let url = format!("http://{}/_emulator/health", self.emulator_http);
        let started = Instant::now();
        loop {
            if let Ok(r) = client.get(&url).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            if started.elapsed() > READY_WITHIN {
                let logs = self.logs("emulator").await;
                return Err(format!(
                    "the emulator did not answer {url} within {READY_WITHIN:?}; its log:\n{logs}"
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The container of `component` (`gateway`, `emulator` or a service name).
    pub fn container(&self, component: &str) -> Option<&str> {
        self.containers
            .iter()
            .find(|(c, _)| c == component)
            .map(|(_, name)| name.as_str())
    }

    /// The last lines a component logged.
    pub async fn logs(&self, component: &str) -> String {
        match self.container(component) {
            Some(c) => docker(["logs", "--tail", "30", c])
                .await
                .unwrap_or_else(|e| e.to_string()),
            None => format!("no component {component:?}"),
        }
    }

    /// `container`'s address on `network`.
    pub async fn ip_of(&self, container: &str, network: &str) -> Result<String, String> {
        let format = format!("{{{{(index .NetworkSettings.Networks \"{network}\").IPAddress}}}}");
        let ip = docker(["inspect", "--format", &format, container])
            .await
            .map_err(|e| e.to_string())?;
        if ip.is_empty() || ip == "<no value>" {
            return Err(format!("{container} has no address on {network}"));
        }
        Ok(ip)
    }

    /// Every address of `component` on any of this stack's networks.
    pub async fn addresses_of(&self, component: &str) -> Result<Vec<String>, String> {
        let container = self
            .container(component)
            .ok_or_else(|| format!("the stack runs no {component:?}"))?;
        let mut out = Vec::new();
        for network in &self.networks {
            if let Ok(ip) = self.ip_of(container, network).await {
                out.push(ip);
            }
        }
        Ok(out)
    }

    /// The network a probe on `side` joins.
    pub fn network(&self, side: super::Side) -> &str {
        match side {
            super::Side::Public => &self.public_network,
            super::Side::Internal => &self.internal_network,
        }
    }

    /// Stops and removes everything now.
    pub async fn shutdown(self) {
        let _ = tokio::task::spawn_blocking(move || drop(self)).await;
    }
}

impl Drop for ContainerStack {
    fn drop(&mut self) {
        if !self.containers.is_empty() {
            let mut args = vec!["rm", "-f", "-v"];
            args.extend(self.containers.iter().map(|(_, c)| c.as_str()));
            docker_blocking(&args);
        }
        for network in &self.networks {
            docker_blocking(&["network", "rm", network]);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `127.0.0.1:PORT` published for `container`'s `port`.
async fn published(container: &str, port: u16) -> Result<SocketAddr, String> {
    let out = docker(["port", container, &format!("{port}/tcp")])
        .await
        .map_err(|e| e.to_string())?;
    out.lines()
        .find_map(|l| l.trim().parse::<SocketAddr>().ok())
        .ok_or_else(|| format!("{container}: port {port} is not published ({out:?})"))
}

/// Polls `container`'s log until it holds `needle`.
async fn wait_for_log(component: &str, container: &str, needle: &str) -> Result<(), String> {
    let started = Instant::now();
    loop {
        let out = tokio::process::Command::new("docker")
            .args(["logs", container])
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .map_err(|e| e.to_string())?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if text.contains(needle) {
            return Ok(());
        }
        if started.elapsed() > READY_WITHIN {
            return Err(format!(
                "{component} did not log {needle:?} within {READY_WITHIN:?}; its log:\n{text}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
