//! The async runtime a fortress binary runs on, sized to the CPUs it may use.
//!
//! Cloud Run's smallest instance has one vCPU, and the benchmarks pin each process to one core.
//! There a multi-thread runtime still parks its one worker and wakes it from another thread on
//! every event; a current-thread runtime does the work where the event arrives. Measured on
//! gateway-shim pinned to one core (`gateway-shim/bench/gateway.sh`): 79 -> 59 us of CPU per
//! proxied request. With more than one CPU, the multi-thread runtime.
//!
//! Either way the runtime keeps one timer armed at all times ([`timer_anchor`]): tokio's time
//! driver wakes its I/O driver (an eventfd write, and an extra `epoll_wait` that returns at once)
//! whenever a timer is registered with no earlier one pending, which is every request's deadline
//! on an otherwise idle runtime (tokio-rs/tokio#5207; a fix, tokio-rs/tokio#8383, is not merged).
//! Seen with strace at one connection: one `write(eventfd)` and one extra `epoll_wait` per
//! request on the emulator's IAP hop and on the gateway shim (which had kept a timer of its own
//! while serving; every binary has it now), gone with the anchor.

use std::time::Duration;

use tokio::runtime::{Builder, Runtime};

/// How often the anchor timer fires: well under any request deadline (the gateway's default is
/// 15 s, Cloud Run's 300 s), so a new deadline is never the earliest timer, and rare enough that
/// an idle process does not notice.
const ANCHOR_PERIOD: Duration = Duration::from_secs(1);

/// A runtime with IO and time enabled: current-thread when the process may use one CPU
/// (`std::thread::available_parallelism`, which honours affinity masks and cgroup quotas),
/// multi-thread otherwise.
pub fn runtime() -> std::io::Result<Runtime> {
    let one_cpu = std::thread::available_parallelism().is_ok_and(|n| n.get() == 1);
    let runtime = if one_cpu {
        Builder::new_current_thread().enable_all().build()
    } else {
        Builder::new_multi_thread().enable_all().build()
    }?;
    runtime.spawn(timer_anchor());
    Ok(runtime)
}

/// A timer that is always pending, so the time driver always has a wake-up time earlier than a
/// request's deadline and registering that deadline does not wake the driver (see the module
/// documentation). It never ends; it goes when the runtime does.
async fn timer_anchor() {
    loop {
        tokio::time::sleep(ANCHOR_PERIOD).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_runtime_runs_io_and_timers() {
        let rt = runtime().expect("runtime");
        let answered = rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let addr = listener.local_addr().expect("addr");
            let accept = tokio::spawn(async move { listener.accept().await.is_ok() });
            let _client = tokio::net::TcpStream::connect(addr).await.expect("connect");
            tokio::time::timeout(std::time::Duration::from_secs(5), accept)
                .await
                .is_ok_and(|joined| joined.unwrap_or(false))
        });
        assert!(answered);
    }

    #[test]
    fn the_runtime_keeps_its_timer_anchor_running() {
        let rt = runtime().expect("runtime");
        rt.block_on(tokio::task::yield_now());
        assert_eq!(
            rt.metrics().num_alive_tasks(),
            1,
            "the anchor is the one task alive"
        );
    }
}
