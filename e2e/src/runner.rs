//! The suite runner: cucumber with fortress's settings, shared by `tests/bdd.rs` (`just e2e`)
//! and the runner's own test.
//!
//! - scenarios run concurrently (8 at a time unless `--concurrency`), `@serial` ones alone;
//! - `@isolated` scenarios get a fortress of their own, stopped after them;
//! - an undefined step fails the run (`fail_on_skipped`), so a typo cannot pass silently;
//! - the readable summary goes to stdout, a JUnit XML report to `--junit` (default
//!   `target/e2e/junit.xml`);
//! - `--features PATH` runs one feature file or directory instead of `e2e/features`;
//! - every cucumber option passes through: `--tags @x`, `--name REGEX`, `--fail-fast`,
//!   `--concurrency N`, `--input GLOB`.
//!
//! The process exits 0 only when every scenario passed.

use std::path::PathBuf;

use clap::Parser as _;
use cucumber::tag::Ext as _;
use cucumber::writer::Stats as _;
use cucumber::{World, WriterExt, cli, writer};
use futures_util::FutureExt;

use crate::stack::Runtime;
use crate::world::FortressWorld;

/// fortress's own options, beside cucumber's.
#[derive(Debug, Clone, clap::Args)]
pub struct RunnerOpts {
    /// Where the JUnit XML report goes.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// A feature file or a directory of them, instead of e2e/features. A relative path is
    /// looked up from the workspace root, then from e2e/.
    #[arg(long, value_name = "PATH")]
    pub features: Option<PathBuf>,
    /// Where the fortress runs: `in-process` (every component a library in this process) or
    /// `containers` (each in its own container on isolated networks; needs Docker and the
    /// static binaries, see e2e/README.md). Scenarios tagged `@containers` run only in the
    /// container runtime, those tagged `@in-process` only in-process.
    #[arg(long, value_enum, default_value_t = Runtime::InProcess)]
    pub runtime: Runtime,
}

/// Whether a scenario with `tags` (its feature's, rule's and own) runs in `runtime`.
pub fn runs_in(runtime: Runtime, tags: &[&String]) -> bool {
    let excluded = match runtime {
        Runtime::InProcess => "containers",
        Runtime::Containers => "in-process",
    };
    !tags.iter().any(|t| t.as_str() == excluded)
}

/// `path` as the user meant it: absolute, or relative to the workspace root or to e2e/.
fn resolve(path: PathBuf) -> PathBuf {
    if path.is_absolute() {
        return path;
    }
    let root = crate::stack::workspace_root();
    [root.join(&path), root.join("e2e").join(&path)]
        .into_iter()
        .find(|p| p.exists())
        .unwrap_or(path)
}

/// Scenarios run at once by default: the stack is in-process and I/O bound.
pub const DEFAULT_CONCURRENCY: usize = 8;

/// Runs the features under `features` (or `--input`) with the process's arguments and returns
/// the process exit code.
pub async fn run(features: PathBuf) -> i32 {
    run_with_args(features, std::env::args_os()).await
}

/// [`run`] with the given command line (`args[0]` is the program name): 0 when every scenario
/// passed, 1 when any failed, 2 for a usage or I/O error.
pub async fn run_with_args<I, T>(features: PathBuf, args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    init_logging();
    let opts = match cli::Opts::<_, _, _, RunnerOpts>::try_parse_from(args) {
        Ok(opts) => opts,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    let features = opts.custom.features.clone().map_or(features, resolve);
    let junit_path = opts
        .custom
        .junit
        .clone()
        .unwrap_or_else(|| crate::stack::workspace_root().join("target/e2e/junit.xml"));
    if let Some(dir) = junit_path.parent()
        && let Err(e) = std::fs::create_dir_all(dir)
    {
        eprintln!("e2e: cannot create {}: {e}", dir.display());
        return 2;
    }
    let junit = match std::fs::File::create(&junit_path) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("e2e: cannot write {}: {e}", junit_path.display());
            return 2;
        }
    };
    let mut opts = opts;
    let name_filter = opts.re_filter.take();
    let tag_filter = opts.tags_filter.take();
    let runtime = opts.custom.runtime;
    crate::world::set_runtime(runtime);
    if runtime == Runtime::Containers {
        if let Err(e) = crate::containers::check_docker().await {
            eprintln!("e2e: {e}");
            return 2;
        }
        crate::containers::prune_leftovers().await;
        // Ctrl-C (and SIGTERM): remove this run's containers and networks before exiting.
        tokio::spawn(async {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            let terminated = async move {
                match term.as_mut() {
                    Some(t) => {
                        t.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                () = terminated => {}
            }
            eprintln!("e2e: interrupted; removing this run's containers and networks");
            crate::containers::cleanup_run().await;
            std::process::exit(130);
        });
        match crate::containers::images::ensure().await {
            Ok(images) if !images.built_in.is_zero() => {
                println!(
                    "e2e: images built in {:.2} s",
                    images.built_in.as_secs_f64()
                );
            }
            Ok(_) => {}
            Err(e) => {
                eprintln!("e2e: container images: {e}");
                return 2;
            }
        }
    }
    let started = std::time::Instant::now();
    let writer = FortressWorld::cucumber()
        .max_concurrent_scenarios(DEFAULT_CONCURRENCY)
        .before(|feature, rule, scenario, world| {
            let tagged = |t: &String| t == "isolated";
            world.isolated = feature.tags.iter().any(tagged)
                || rule.is_some_and(|r| r.tags.iter().any(tagged))
                || scenario.tags.iter().any(tagged);
            async {}.boxed_local()
        })
        .after(|_, _, _, _, world| {
            async move {
                if let Some(world) = world {
                    world.release().await;
                }
            }
            .boxed_local()
        })
        .with_writer(
            writer::Basic::stdout()
                .summarized()
                .tee::<FortressWorld, _>(writer::JUnit::for_tee(junit, 0))
                .normalized(),
        )
        // After `with_writer`, which would replace the wrapper: an undefined step fails.
        .fail_on_skipped()
        .with_cli(opts)
        .filter_run(features, move |feature, rule, scenario| {
            let tags: Vec<&String> = feature
                .tags
                .iter()
                .chain(rule.iter().flat_map(|r| r.tags.iter()))
                .chain(scenario.tags.iter())
                .collect();
            // cucumber applies `--name` or `--tags` *instead of* this filter: apply them here,
            // together with the runtime's.
            name_filter
                .as_ref()
                .is_none_or(|re| re.is_match(&scenario.name))
                && tag_filter
                    .as_ref()
                    .is_none_or(|t| t.eval(tags.iter().copied()))
                && runs_in(runtime, &tags)
        })
        .await;
    if runtime == Runtime::Containers {
        // The shared stack lives in a static, which is never dropped: remove it by label.
        crate::containers::cleanup_run().await;
    }
    let failed = writer.execution_has_failed();
    println!(
        "e2e: {} ({} runtime) in {:.2} s; JUnit report: {}",
        if failed { "FAILED" } else { "passed" },
        match runtime {
            Runtime::InProcess => "in-process",
            Runtime::Containers => "container",
        },
        started.elapsed().as_secs_f64(),
        junit_path.display()
    );
    i32::from(failed)
}

/// Warnings and errors from the components, on stderr; `RUST_LOG` is read by the subscriber
/// itself, never set.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
