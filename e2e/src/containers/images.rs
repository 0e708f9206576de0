//! The images of the container runtime: each static release binary
//! (`RUSTFLAGS='-C target-feature=+crt-static' cargo build --release --target
//! x86_64-unknown-linux-gnu`, stripped by the release profile) alone in a `FROM scratch` image.
//!
//! The tag is the binary's SHA-256 (first 16 hex digits): an unchanged binary finds its image
//! and is not rebuilt. Nothing is pulled. No image needs a CA bundle: every reqwest client in
//! the binaries is built with explicit roots (crates.md pitfall 2); the gateway is given the
//! emulator's CA with `--emulator-ca`, and the services fetch IAP's keys over plain HTTP from
//! the emulator's host-prefix URL on the internal network.
//!
//! These images are for the e2e harness only. The deployable images are the services'
//! Cloud Run Dockerfiles (services/*/Dockerfile): the same binaries built inside a builder
//! stage, for Cloud Run.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::{LABEL, docker};

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

/// The image tag of each binary.
#[derive(Debug, Clone)]
pub struct Images {
    pub smoothie: String,
    pub coffee: String,
    pub emulator: String,
    pub gateway: String,
    pub probe: String,
    /// Time spent building (zero when every image existed).
    pub built_in: Duration,
}

impl Images {
    /// The image of a sample service.
    pub fn service(&self, name: &str) -> Option<&str> {
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

/// The images, built once per process where missing.
pub async fn ensure() -> Result<Images, String> {
    IMAGES
        .get_or_try_init(|| async {
            let started = Instant::now();
            let mut tags = Vec::new();
            let mut built = false;
            for name in BINARIES {
                let (tag, fresh) = ensure_one(name, &binary_dir().join(name)).await?;
                built |= fresh;
                tags.push(tag);
            }
            let built_in = if built {
                started.elapsed()
            } else {
                Duration::ZERO
            };
            let [smoothie, coffee, emulator, gateway, probe]: [String; 5] = tags
                .try_into()
                .map_err(|_| "image list mismatch".to_string())?;
            Ok(Images {
                smoothie,
                coffee,
                emulator,
                gateway,
                probe,
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

/// The image of `name` built from `path` unless its tag exists; `true` when it was built.
async fn ensure_one(name: &str, path: &Path) -> Result<(String, bool), String> {
    let bytes = tokio::fs::read(path).await.map_err(|e| {
        format!(
            "{}: {e}; build the static binaries first: {BUILD_COMMAND}",
            path.display()
        )
    })?;
    let digest = Sha256::digest(&bytes);
    let hash: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    let tag = format!("fortress-e2e/{name}:{hash}");
    if docker(["image", "inspect", "--format", "{{.Id}}", &tag])
        .await
        .is_ok()
    {
        return Ok((tag, false));
    }
    let context = crate::stack::workspace_root()
        .join("target/e2e/image-context")
        .join(format!("{name}-{hash}"));
    let io = |e: std::io::Error| format!("{}: {e}", context.display());
    tokio::fs::create_dir_all(&context).await.map_err(io)?;
    tokio::fs::write(context.join(name), &bytes)
        .await
        .map_err(io)?;
    set_executable(&context.join(name)).map_err(io)?;
    tokio::fs::write(context.join("Dockerfile"), dockerfile(name))
        .await
        .map_err(io)?;
    let label = format!("{LABEL}=1");
    let context_arg = context.to_string_lossy().into_owned();
    let built = docker(["build", "-q", "--label", &label, "-t", &tag, &context_arg]).await;
    let _ = tokio::fs::remove_dir_all(&context).await;
    built.map_err(|e| e.to_string())?;
    tracing::info!(%tag, "built image");
    Ok((tag, true))
}

fn set_executable(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
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
}
