//! One fortress in containers, started with testcontainers: two networks, the two services
//! each behind a recording proxy, the emulator and the gateway.
//!
//! Start order:
//! 1. the networks: `ID-public` and `ID-internal` (`internal: true`), both created through the
//!    Docker client with our labels (testcontainers' own creation sets neither), then the
//!    [`NetworkGuard`] that removes them;
//! 2. at the same time: each service (internal network only, alias `NAME-origin`, IAP's keys
//!    from `http://www.gstatic.com:8080/iap/verify/public_key-jwk`, ready when it logs
//!    `listening`), each service's recording proxy (internal network only, alias `NAME`, the
//!    emulator's upstream; ready when it prints `listening`), and the emulator (public network,
//!    its two ports published on 127.0.0.1; keys from a bind-mounted key directory, `ca.pem`
//!    into a bind-mounted state directory), which is then connected to the internal network as
//!    `emulator` and `www.gstatic.com` and is ready once it answers its health check;
//! 3. the gateway (public network only, every outbound host to the emulator's public address,
//!    only its CA trusted), ready when it logs `listening`.
//!
//! Nothing waits on a fixed timer: log lines are awaited, the health check is polled.
//!
//! Dropping a [`ContainerStack`] force-removes its containers (testcontainers does, on drop),
//! then its networks and its directory (the guard, the last field, so dropped last).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use blueprint::Topology;
use testcontainers::bollard::Docker;
use testcontainers::bollard::models::{
    EndpointSettings, NetworkConnectRequest, NetworkCreateRequest, PortBinding,
};
use testcontainers::core::{AccessMode, IntoContainerPort, Mount, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, ContainerRequest, GenericImage, ImageExt};

use super::images::{self, ImageRef, Images};
use super::{ContainerError, labels};
use crate::keys::IssuerKeys;

/// The port every component listens on inside its container (the emulator's HTTPS: 8443).
pub const PORT: u16 = 8080;
pub const HTTPS_PORT: u16 = 8443;
/// Where a recording proxy answers `GET /records/PROBE`.
pub const RECORDS_PORT: u16 = 9090;
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
    /// The emulator's address on the internal network.
    pub emulator_internal: IpAddr,
    /// The host's own address on the internal network (the bridge's gateway), declared to the
    /// emulator as an internal caller: a request the harness sends to the emulator's internal
    /// address comes from here, as from a VM in the project's VPC network. The emulator's
    /// public face never sees this address (published ports arrive from the public network),
    /// so no client-side request can pass for internal.
    pub vpc_address: IpAddr,
    pub ca_pem: String,
    /// Each service's recording proxy, `(service, its records address)` on the internal
    /// network. The harness reads records from the host by IP: its god's-eye view of what a
    /// service received, as the in-process recorder gives it. This does not weaken the
    /// isolation proofs, which are made from probe containers on the client's network.
    pub recorders: Vec<(String, SocketAddr)>,
    /// Components by name (`gateway`, `emulator`, service names, `NAME-recorder`). Dropped
    /// before `guard`: testcontainers force-removes each container on drop.
    containers: Vec<(String, ContainerAsync<GenericImage>)>,
    docker: Docker,
    /// Removes the networks and the directory; the last field, so dropped after the containers.
    guard: NetworkGuard,
}

/// Removes a stack's networks and its directory when dropped, on a thread and runtime of its
/// own (a drop may happen inside or outside a runtime).
#[derive(Debug)]
pub struct NetworkGuard {
    networks: Vec<String>,
    dir: PathBuf,
}

impl Drop for NetworkGuard {
    fn drop(&mut self) {
        let networks = std::mem::take(&mut self.networks);
        let dir = self.dir.clone();
        let removal = std::thread::spawn(move || {
            if let (Ok(runtime), Ok(docker)) = (
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build(),
                super::docker(),
            ) {
                runtime.block_on(async {
                    for network in &networks {
                        let _ = docker.remove_network(network).await;
                    }
                });
            }
            let _ = std::fs::remove_dir_all(&dir);
        });
        let _ = removal.join();
    }
}

impl ContainerStack {
    /// Starts the stack and returns once every component is ready.
    pub async fn start(spec: ContainerSpec<'_>) -> Result<Self, ContainerError> {
        let images = images::ensure().await?;
        let docker = super::docker()?;
        let id = format!("fe2e-{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
        let dir = crate::stack::workspace_root()
            .join("target/e2e/containers")
            .join(&id);
        let public_network = format!("{id}-public");
        let internal_network = format!("{id}-internal");
        // From here on, an early return (an error) drops the guard, which removes what exists.
        let mut guard = NetworkGuard {
            networks: Vec::new(),
            dir: dir.clone(),
        };
        write_config(&dir, &spec)?;
        for (name, internal) in [(&public_network, false), (&internal_network, true)] {
            docker
                .create_network(NetworkCreateRequest {
                    name: name.clone(),
                    internal: Some(internal),
                    labels: Some(labels()),
                    ..Default::default()
                })
                .await
                .map_err(|e| ContainerError::docker(format!("creating network {name}"), e))?;
            guard.networks.push(name.clone());
        }
        let vpc_address = network_gateway(&docker, &internal_network).await?;

        // The services, their recorders and the emulator at the same time.
        let mut services = Vec::new();
        let mut recorders = Vec::new();
        for service in spec.topology.services() {
            let name = service.name().as_str().to_string();
            let image = images
                .service(&name)
                .ok_or_else(|| ContainerError::Docker {
                    what: format!("service {name}"),
                    message: "the container runtime has no image for it".into(),
                })?;
            let origin = format!("{name}-origin");
            services.push(start(
                name.clone(),
                container(image, &id, &name, &[])
                    .with_network(&internal_network)
                    .with_hostname(&origin)
                    .with_env_var("IAP_AUDIENCE", service.iap_audience().as_str())
                    .with_env_var(
                        "IAP_JWK_URL",
                        format!("http://{GSTATIC}:{PORT}/iap/verify/public_key-jwk"),
                    ),
            ));
            let recorder = format!("{name}-recorder");
            recorders.push(start(
                recorder.clone(),
                container(&images.probe, &id, &recorder, &[])
                    .with_network(&internal_network)
                    .with_hostname(&name)
                    .with_cmd([
                        "record".to_string(),
                        PORT.to_string(),
                        format!("{origin}:{PORT}"),
                        RECORDS_PORT.to_string(),
                    ]),
            ));
        }
        let mut emulator_args: Vec<String> = [
            "--topology",
            "/config/fortress.yaml",
            "--http-listen",
            "0.0.0.0:8080",
            "--https-listen",
            "0.0.0.0:8443",
            "--state-dir",
            "/state",
            "--key-dir",
            "/config/keys",
            "--internal-caller",
        ]
        .into_iter()
        .map(str::to_string)
        .collect();
        emulator_args.push(vpc_address.to_string());
        for service in spec.topology.services() {
            let name = service.name().as_str();
            emulator_args.push("--upstream".into());
            emulator_args.push(format!("{name}={name}:{PORT}"));
        }
        for account in &spec.service_accounts {
            emulator_args.push("--service-account".into());
            emulator_args.push(account.clone());
        }
        let config_dir = dir.to_string_lossy().into_owned();
        let state_dir = dir.join("state").to_string_lossy().into_owned();
        let emulator = start(
            "emulator".into(),
            container(&images.emulator, &id, "emulator", &[PORT, HTTPS_PORT])
                .with_network(&public_network)
                .with_hostname("emulator")
                .with_mount(
                    Mount::bind_mount(config_dir.clone(), "/config")
                        .with_access_mode(AccessMode::ReadOnly),
                )
                .with_mount(Mount::bind_mount(state_dir, "/state"))
                .with_cmd(emulator_args),
        );
        let (services, recorders, emulator) = tokio::join!(
            futures_util::future::join_all(services),
            futures_util::future::join_all(recorders),
            emulator
        );
        let mut containers = Vec::new();
        // Keep every started container before the first error, so all are removed.
        let mut first_error = None;
        for result in services.into_iter().chain(recorders).chain([emulator]) {
            match result {
                Ok(started) => containers.push(started),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        let mut stack = Self {
            id: id.clone(),
            public_network: public_network.clone(),
            internal_network: internal_network.clone(),
            images,
            gateway_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            emulator_http: SocketAddr::from(([127, 0, 0, 1], 0)),
            emulator_https: SocketAddr::from(([127, 0, 0, 1], 0)),
            emulator_internal: vpc_address,
            vpc_address,
            ca_pem: String::new(),
            recorders: Vec::new(),
            containers,
            docker,
            guard,
        };
        if let Some(e) = first_error {
            stack.shutdown().await;
            return Err(e);
        }
        // Any failure from here on removes the stack in async code: a drop would block this
        // thread on the removals, stalling every scenario polled on it.
        let finished: Result<(), ContainerError> = async {
            let emulator_id = stack.container_id("emulator")?;
            stack
                .docker
                .connect_network(
                    &internal_network,
                    NetworkConnectRequest {
                        container: emulator_id.clone(),
                        endpoint_config: Some(EndpointSettings {
                            aliases: Some(vec!["emulator".into(), GSTATIC.into()]),
                            ..Default::default()
                        }),
                    },
                )
                .await
                .map_err(|e| {
                    ContainerError::docker("connecting the emulator to the services", e)
                })?;
            stack.emulator_http = stack.host_port("emulator", PORT).await?;
            stack.emulator_https = stack.host_port("emulator", HTTPS_PORT).await?;
            stack.emulator_internal = stack.ip_of(&emulator_id, &internal_network).await?;
            for service in spec.topology.services() {
                let name = service.name().as_str().to_string();
                let recorder = stack.container_id(&format!("{name}-recorder"))?;
                let ip = stack.ip_of(&recorder, &internal_network).await?;
                stack
                    .recorders
                    .push((name, SocketAddr::new(ip, RECORDS_PORT)));
            }

            // The emulator's CA, once it answers.
            stack.wait_for_emulator().await?;
            let ca_path = dir.join("state/ca.pem");
            stack.ca_pem = tokio::fs::read_to_string(&ca_path)
                .await
                .map_err(|source| ContainerError::Io {
                    path: ca_path,
                    source,
                })?;

            // The gateway, pointed at the emulator's public address.
            let emulator_public = stack.ip_of(&emulator_id, &public_network).await?;
            let gateway = start(
                "gateway".into(),
                container(&stack.images.gateway, &id, "gateway", &[PORT])
                    .with_network(&public_network)
                    .with_hostname("gateway")
                    .with_mount(
                        Mount::bind_mount(config_dir, "/config")
                            .with_access_mode(AccessMode::ReadOnly),
                    )
                    .with_cmd([
                        "--openapi".to_string(),
                        "/config/openapi.yaml".into(),
                        "--service-name".into(),
                        spec.topology.gateway().managed_service().to_string(),
                        "--emulator".into(),
                        format!("{emulator_public}:{HTTPS_PORT}"),
                        "--emulator-ca".into(),
                        "/config/state/ca.pem".into(),
                        // By name: the emulator serves the metadata server only to its own host
                        // names, and the gateway's local mode sends every name to the emulator
                        // (the URL's port wins, so this reaches the plain listener).
                        "--metadata-host".into(),
                        format!("metadata.google.internal:{PORT}"),
                    ]),
            )
            .await?;
            stack.containers.push(gateway);
            stack.gateway_addr = stack.host_port("gateway", PORT).await?;
            Ok(())
        }
        .await;
        match finished {
            Ok(()) => Ok(stack),
            Err(e) => {
                stack.shutdown().await;
                Err(e)
            }
        }
    }

    async fn wait_for_emulator(&self) -> Result<(), ContainerError> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .tls_certs_only([])
            .timeout(Duration::from_secs(2))
            .build()
            .map_err(|e| ContainerError::docker("a health-check client", e))?;
        let url = format!("http://{}/_emulator/health", self.emulator_http);
        let started = Instant::now();
        loop {
            if let Ok(r) = client.get(&url).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            if started.elapsed() > READY_WITHIN {
                return Err(ContainerError::NotReady {
                    component: "emulator".into(),
                    within: READY_WITHIN,
                    detail: format!(
                        "{url} did not answer; its log:\n{}",
                        self.logs("emulator").await
                    ),
                });
            }
            // Polled: the emulator prints nothing when its listeners accept.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn container(&self, component: &str) -> Option<&ContainerAsync<GenericImage>> {
        self.containers
            .iter()
            .find(|(c, _)| c == component)
            .map(|(_, container)| container)
    }

    fn container_id(&self, component: &str) -> Result<String, ContainerError> {
        self.container(component)
            .map(|c| c.id().to_string())
            .ok_or_else(|| ContainerError::Docker {
                what: component.into(),
                message: "the stack runs no such component".into(),
            })
    }

    /// `127.0.0.1:PORT` published for `component`'s `port`.
    async fn host_port(&self, component: &str, port: u16) -> Result<SocketAddr, ContainerError> {
        let container = self
            .container(component)
            .ok_or_else(|| ContainerError::Docker {
                what: component.into(),
                message: "the stack runs no such component".into(),
            })?;
        let host = container
            .get_host_port_ipv4(port.tcp())
            .await
            .map_err(|e| ContainerError::docker(format!("{component}'s port {port}"), e))?;
        Ok(SocketAddr::from(([127, 0, 0, 1], host)))
    }

    /// The last lines a component logged.
    pub async fn logs(&self, component: &str) -> String {
        let Some(container) = self.container(component) else {
            return format!("no component {component:?}");
        };
        let out = container.stdout_to_vec().await.unwrap_or_default();
        let err = container.stderr_to_vec().await.unwrap_or_default();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(&err)
        );
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// `container`'s address on `network`.
    async fn ip_of(&self, container: &str, network: &str) -> Result<IpAddr, ContainerError> {
        let what = || format!("{container}'s address on {network}");
        let info = self
            .docker
            .inspect_container(container, None)
            .await
            .map_err(|e| ContainerError::docker(what(), e))?;
        info.network_settings
            .and_then(|s| s.networks)
            .and_then(|n| n.get(network).cloned())
            .and_then(|e| e.ip_address)
            .and_then(|ip| ip.parse().ok())
            .ok_or_else(|| ContainerError::Docker {
                what: what(),
                message: "none".into(),
            })
    }

    /// Every address of `component` on any of this stack's networks; for a service, its
    /// recording proxy's too (both answer to the service's traffic).
    pub async fn addresses_of(&self, component: &str) -> Result<Vec<IpAddr>, ContainerError> {
        let mut out = Vec::new();
        for name in [component.to_string(), format!("{component}-recorder")] {
            let Some(container) = self.container(&name) else {
                continue;
            };
            for network in &self.guard.networks {
                if let Ok(ip) = self.ip_of(container.id(), network).await {
                    out.push(ip);
                }
            }
        }
        if out.is_empty() {
            return Err(ContainerError::Docker {
                what: component.into(),
                message: "the stack runs no such component".into(),
            });
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

    /// Where `service`'s recording proxy answers `GET /records/PROBE`.
    pub fn records_addr(&self, service: &str) -> Option<SocketAddr> {
        self.recorders
            .iter()
            .find(|(s, _)| s == service)
            .map(|(_, addr)| *addr)
    }

    /// Removes every container (all at once), then the networks and the directory.
    pub async fn shutdown(mut self) {
        let containers = std::mem::take(&mut self.containers);
        futures_util::future::join_all(containers.into_iter().map(|(_, c)| c.rm())).await;
        let guard = self.guard;
        let _ = tokio::task::spawn_blocking(move || drop(guard)).await;
    }
}

/// A container of this stack: named `ID-COMPONENT`, labelled, given [`READY_WITHIN`], with
/// `ports` published on 127.0.0.1 only (random host ports; testcontainers alone would publish
/// on every interface).
fn container(
    image: &ImageRef,
    id: &str,
    component: &str,
    ports: &[u16],
) -> ContainerRequest<GenericImage> {
    let mut generic = GenericImage::new(&image.name, &image.tag);
    for port in ports {
        generic = generic.with_exposed_port(port.tcp());
    }
    let request = generic
        .with_container_name(format!("{id}-{component}"))
        .with_labels(labels())
        .with_startup_timeout(READY_WITHIN);
    if ports.is_empty() {
        return request;
    }
    let ports = ports.to_vec();
    request.with_host_config_modifier(move |host| {
        host.publish_all_ports = Some(false);
        host.port_bindings = Some(
            ports
                .iter()
                .map(|p| {
                    (
                        format!("{p}/tcp"),
                        Some(vec![PortBinding {
                            host_ip: Some("127.0.0.1".into()),
                            host_port: Some(String::new()),
                        }]),
                    )
                })
                .collect(),
        );
    })
}

/// Starts `request`, ready when it logs `listening` (every component but the emulator, which
/// says nothing when ready and is polled instead).
async fn start(
    component: String,
    request: ContainerRequest<GenericImage>,
) -> Result<(String, ContainerAsync<GenericImage>), ContainerError> {
    let request = if component == "emulator" {
        request
    } else {
        request.with_ready_conditions(vec![WaitFor::message_on_either_std("listening")])
    };
    let started = request
        .start()
        .await
        .map_err(|e| ContainerError::NotReady {
            component: component.clone(),
            within: READY_WITHIN,
            detail: e.to_string(),
        })?;
    Ok((component, started))
}

/// The gateway (the host's address) of `network`.
async fn network_gateway(docker: &Docker, network: &str) -> Result<IpAddr, ContainerError> {
    let info = docker
        .inspect_network(network, None)
        .await
        .map_err(|e| ContainerError::docker(format!("inspecting {network}"), e))?;
    info.ipam
        .and_then(|i| i.config)
        .into_iter()
        .flatten()
        .find_map(|c| c.gateway?.parse().ok())
        .ok_or_else(|| ContainerError::Docker {
            what: format!("inspecting {network}"),
            message: "it has no gateway address".into(),
        })
}

fn write_config(dir: &std::path::Path, spec: &ContainerSpec<'_>) -> Result<(), ContainerError> {
    let io = |source: std::io::Error| ContainerError::Io {
        path: dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir.join("state")).map_err(io)?;
    std::fs::write(dir.join("fortress.yaml"), spec.topology_text).map_err(io)?;
    std::fs::write(dir.join("openapi.yaml"), spec.openapi_text).map_err(io)?;
    spec.keys
        .write_key_dir(&dir.join("keys"))
        .map_err(|e| ContainerError::Io {
            path: dir.join("keys"),
            source: std::io::Error::other(e.to_string()),
        })
}

#[cfg(test)]
mod tests {
    use super::super::{LABEL, PID_LABEL};
    use super::*;

    #[test]
    fn every_container_is_labelled_for_cleanup() {
        let labels = labels();
        assert_eq!(labels.get(LABEL).map(String::as_str), Some("1"));
        assert_eq!(labels.get(PID_LABEL), Some(&std::process::id().to_string()));
    }
}
