//! The async runtime a fortress binary runs on, sized to the CPUs it may use.
//!
//! Cloud Run's smallest instance has one vCPU, and the benchmarks pin each process to one core.
//! There a multi-thread runtime still parks its one worker and wakes it from another thread on
//! every event; a current-thread runtime does the work where the event arrives. Measured on
//! gateway-shim pinned to one core (`gateway-shim/bench/gateway.sh`): 79 -> 59 us of CPU per
//! proxied request. With more than one CPU, the multi-thread runtime.

use tokio::runtime::{Builder, Runtime};

/// A runtime with IO and time enabled: current-thread when the process may use one CPU
/// (`std::thread::available_parallelism`, which honours affinity masks and cgroup quotas),
/// multi-thread otherwise.
pub fn runtime() -> std::io::Result<Runtime> {
    let one_cpu = std::thread::available_parallelism().is_ok_and(|n| n.get() == 1);
    if one_cpu {
        Builder::new_current_thread().enable_all().build()
    } else {
        Builder::new_multi_thread().enable_all().build()
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
}
