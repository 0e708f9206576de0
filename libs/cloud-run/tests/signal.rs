//! `shutdown_signal` completes on a real SIGTERM. Its own test binary, since a signal is process-wide.

#![cfg(unix)]

use std::future::Future;
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

#[tokio::test]
async fn shutdown_signal_completes_on_sigterm() {
    let mut signal = pin!(cloud_run::shutdown_signal());
    // The first poll installs the handlers; only after it may SIGTERM arrive, or it ends this process.
    let first = std::future::poll_fn(|cx| Poll::Ready(signal.as_mut().poll(cx))).await;
    assert!(first.is_pending(), "no signal yet");

    let status = tokio::process::Command::new("kill")
        .args(["-TERM", &std::process::id().to_string()])
        .status()
        .await
        .expect("kill runs");
    assert!(status.success());

    // The timeout only turns a hang into a failure; completion is what is awaited.
    tokio::time::timeout(Duration::from_secs(30), signal)
        .await
        .expect("SIGTERM completes the shutdown signal");
}
