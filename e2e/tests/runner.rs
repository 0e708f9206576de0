//! The runner fails the run when a scenario fails, says so in its JUnit report, and passes tag
//! filters through to cucumber. Runs `tests/fixtures/runner.feature`, which fails on purpose.

use std::path::{Path, PathBuf};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/runner.feature")
}

fn report(name: &str) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join(name)
}

async fn run(args: &[&str]) -> i32 {
    let mut argv = vec!["fortress-e2e".to_string()];
    argv.extend(args.iter().map(|a| a.to_string()));
    e2e::runner::run_with_args(fixture(), argv).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_scenario_fails_the_run_and_the_junit_report() {
    let junit = report("runner-failing.xml");
    let code = run(&["--junit", junit.to_str().expect("utf-8 path")]).await;
    assert_eq!(
        code, 1,
        "a failed scenario must make the exit code non-zero"
    );
    let xml = std::fs::read_to_string(&junit).expect("the JUnit report is written");
    assert!(xml.contains("failures=\"2\""), "{xml}");
    assert!(
        xml.contains("A scenario that does not hold fails the run"),
        "{xml}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tag_filters_pass_through_and_a_clean_run_exits_zero() {
    let junit = report("runner-passing.xml");
    let code = run(&[
        "--tags",
        "@passing",
        "--junit",
        junit.to_str().expect("utf-8 path"),
    ])
    .await;
    assert_eq!(code, 0);
    let xml = std::fs::read_to_string(&junit).expect("the JUnit report is written");
    assert!(xml.contains("failures=\"0\""), "{xml}");
    assert!(!xml.contains("does not hold"), "{xml}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_option_is_a_usage_error() {
    assert_eq!(run(&["--no-such-option"]).await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undefined_step_fails_the_run() {
    let junit = report("runner-undefined.xml");
    let code = run(&[
        "--tags",
        "@undefined",
        "--junit",
        junit.to_str().expect("utf-8 path"),
    ])
    .await;
    assert_eq!(code, 1, "a skipped (undefined) step must fail the run");
}
