//! The Gherkin suite (`just e2e`, or `cargo test -p e2e --test bdd -- [cucumber options]`):
//! every feature under `e2e/features` against the in-process fortress. See `e2e::runner`.

#[tokio::main]
async fn main() {
    let features = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("features");
    std::process::exit(e2e::runner::run(features).await);
}
