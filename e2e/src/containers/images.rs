//! The images of the container runtime: each static release binary
//! (`RUSTFLAGS='-C target-feature=+crt-static' cargo build --release --target
//! x86_64-unknown-linux-gnu`, stripped by the release profile) alone in a `FROM scratch` image.
//!
//! The tag is the binary's SHA-256 (first 16 hex digits): an unchanged binary finds its image
//! and is not rebuilt (testcontainers' `with_skip_if_exists` checks the name and tag, which here
//! name the content); once a new one is built, the older tags of that name are removed unless a
//! container still uses them. Built with testcontainers' build API (`GenericBuildableImage`,
//! the engine's built-in BuildKit; no buildx needed). Nothing is pulled.
//!
//! No image needs a CA bundle: every reqwest client in the binaries is built with explicit
//! roots (crates.md pitfall 2); the gateway is given the emulator's CA with `--emulator-ca`, and
//! the services fetch IAP's keys over plain HTTP from the emulator on the internal network.
//!
//! These images are for the e2e harness only. The deployable images are the services'
//! Cloud Run Dockerfiles (services/*/Dockerfile): the same crates built inside a builder stage,
//! for Cloud Run. Both run the same `main` with the same Cloud Run contract (`PORT`,
//! `K_SERVICE`, SIGTERM; libs/cloud-run) and the same `IAP_*` settings; what differs is only
//! where the binary is compiled (here: on the host, static, once for every image) and what
//! else the image holds (here: nothing). A change to a service's Dockerfile does not reach
//! these images; a change to its code does, through the binary's hash.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use testcontainers::GenericBuildableImage;
use testcontainers::core::BuildImageOptions;
use testcontainers::runners::AsyncBuilder;

use super::{ContainerError, LABEL};

/// The target triple the static binaries are built for.
pub const TARGET: &str = "x86_64-unknown-linux-gnu";

/// The binaries the runtime needs, by image name.
pub const BINARIES: [&str; 5] = [
    "smoothie-service",
    "coffee-service",
    "iap-lb-emulator",
    "gateway-shim",
    "fortress-probe",
];

/// The cargo command that builds [`BINARIES`] (the `e2e` recipe runs it).
pub const BUILD_COMMAND: &str = "RUSTFLAGS='-C target-feature=+crt-static' cargo build --release \
     --target x86_64-unknown-linux-gnu -p smoothie-service -p coffee-service -p iap-lb-emulator \
     -p gateway-shim -p fortress-probe";

/// A local image: `fortress-e2e/NAME` and the binary's hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    pub name: String,
    pub tag: String,
}

impl std::fmt::Display for ImageRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.name, self.tag)
    }
}

/// The image of each binary.
#[derive(Debug, Clone)]
pub struct Images {
    pub smoothie: ImageRef,
    pub coffee: ImageRef,
    pub emulator: ImageRef,
    pub gateway: ImageRef,
    /// `fortress-probe`: the network probes and the services' recording proxies.
    pub probe: ImageRef,
    /// Time spent building (zero when every image existed).
    pub built_in: Duration,
}

impl Images {
    /// The image of a sample service.
    pub fn service(&self, name: &str) -> Option<&ImageRef> {
        match name {
            "smoothie-service" => Some(&self.smoothie),
            "coffee-service" => Some(&self.coffee),
            _ => None,
        }
    }
}

static IMAGES: tokio::sync::OnceCell<Images> = tokio::sync::OnceCell::const_new();

/// Where the static binaries are: cargo's target directory (`CARGO_TARGET_DIR` when set, as
/// cargo itself reads it; relative to the workspace root), then the target triple.
pub fn binary_dir() -> PathBuf {
    let root = crate::stack::workspace_root();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|dir| {
            if dir.is_absolute() {
                dir
            } else {
                root.join(dir)
            }
        })
        .unwrap_or_else(|| root.join("target"));
    target.join(TARGET).join("release")
}

/// The images, built once per process where missing (all at once).
pub async fn ensure() -> Result<Images, ContainerError> {
    IMAGES
        .get_or_try_init(|| async {
            let started = Instant::now();
            let dir = binary_dir();
            let results = futures_util::future::join_all(
                BINARIES.map(|name| ensure_one(name, dir.join(name))),
            )
            .await;
            let mut refs = Vec::new();
            let mut built = false;
            for result in results {
                let (image, fresh) = result?;
                built |= fresh;
                refs.push(image);
            }
            let built_in = if built {
                started.elapsed()
            } else {
                Duration::ZERO
            };
            let mut refs = refs.into_iter();
            let mut next = || {
                refs.next().ok_or_else(|| ContainerError::Docker {
                    what: "images".into(),
                    message: "one image per binary".into(),
                })
            };
            Ok(Images {
                smoothie: next()?,
                coffee: next()?,
                emulator: next()?,
                gateway: next()?,
                probe: next()?,
                built_in,
            })
        })
        .await
        .cloned()
}

/// The Dockerfile of `binary`'s image.
pub fn dockerfile(binary: &str) -> String {
    format!(
        "FROM scratch\nLABEL {LABEL}=1\nCOPY {binary} /{binary}\nUSER 0\nENTRYPOINT [\"/{binary}\"]\n"
    )
}

/// The tag of the image holding `bytes`: the first 16 hex digits of their SHA-256.
pub fn content_tag(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The image of `name` built from `path` unless its tag exists; `true` when it was built.
async fn ensure_one(name: &str, path: PathBuf) -> Result<(ImageRef, bool), ContainerError> {
    let bytes = tokio::fs::read(&path)
        .await
        .map_err(|source| ContainerError::MissingBinary {
            path: path.clone(),
            source,
        })?;
    let image = ImageRef {
        name: format!("fortress-e2e/{name}"),
        tag: content_tag(&bytes),
    };
    drop(bytes);
    let docker = super::docker()?;
    if docker.inspect_image(&image.to_string()).await.is_ok() {
        return Ok((image, false));
    }
    let _built = GenericBuildableImage::new(&image.name, &image.tag)
        .with_dockerfile_string(dockerfile(name))
        .with_file(&path, name)
        .build_image_with(BuildImageOptions::new().with_skip_if_exists(true))
        .await
        .map_err(|e| ContainerError::docker(format!("building {image}"), e))?;
    tracing::info!(%image, "built image");
    remove_older(&docker, &image).await;
    Ok((image, true))
}

/// Removes the images of `image`'s name with another tag (older binaries), so rebuilds do not
/// pile up. Not forced: an image a container still uses (another run's) stays.
async fn remove_older(docker: &testcontainers::bollard::Docker, image: &ImageRef) {
    use testcontainers::bollard::query_parameters::{
        ListImagesOptionsBuilder, RemoveImageOptionsBuilder,
    };
    let filters =
        std::collections::HashMap::from([("reference".to_string(), vec![image.name.clone()])]);
    let Ok(listed) = docker
        .list_images(Some(
            ListImagesOptionsBuilder::new().filters(&filters).build(),
        ))
        .await
    else {
        return;
    };
    let current = image.to_string();
    for older in listed
        .iter()
        .flat_map(|i| i.repo_tags.iter())
        .filter(|t| **t != current)
    {
        let _ = docker
            .remove_image(older, Some(RemoveImageOptionsBuilder::new().build()), None)
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_hold_only_the_binary() {
        let text = dockerfile("gateway-shim");
        assert!(text.starts_with("FROM scratch\n"));
        assert!(text.contains("COPY gateway-shim /gateway-shim\n"));
        assert!(text.contains("ENTRYPOINT [\"/gateway-shim\"]"));
        assert!(text.contains("LABEL fortress.e2e=1"));
    }

    #[test]
    fn the_tag_names_the_content() {
        assert_eq!(content_tag(b"a"), content_tag(b"a"));
        assert_ne!(content_tag(b"a"), content_tag(b"b"));
        assert_eq!(content_tag(b"").len(), 16);
    }
}
