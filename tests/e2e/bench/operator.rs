//! The operator under test: the real binary with the chart's RBAC, leader election on, /metrics
//! on a loopback port; restarted (SIGTERM, then a new process) to time its start.

use std::path::Path;
use std::time::{Duration, Instant};

use gregor_world::World;

use super::probes::Counters;
use crate::support::Operator;

/// One running operator process and where its /metrics are.
pub struct Running {
    pub op: Operator,
    pub port: u16,
    pub pid: u32,
    pub spawned: Instant,
}

/// Starts `gregor run` with `resync`, as the chart's ServiceAccount (`kubeconfig`).
pub fn start(world: &World, kubeconfig: &Path, name: &str, resync: Duration) -> Running {
    let port = crate::support::free_port();
    let args = [
        "--leader-election-namespace=gregor-system".to_owned(),
        format!("--identity={name}"),
        format!("--metrics-addr=127.0.0.1:{port}"),
        format!("--resync-seconds={}", resync.as_secs()),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let spawned = Instant::now();
    let op = Operator::start(world, kubeconfig, name, &args);
    let pid = op.pid().expect("operator pid");
    Running { op, port, pid, spawned }
}

/// Stops the process with SIGTERM (it releases its Lease on a clean stop) and waits for it.
pub async fn stop(mut running: Running) {
    let _ = std::process::Command::new("kill").arg("-TERM").arg(running.pid.to_string()).status();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !running.op.has_exited() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    running.op.kill().await;
}

/// Time from spawning to holding the Lease, and to the first reconcile, read off /metrics.
pub async fn time_start(running: &Running) -> (Duration, Duration) {
    let (mut leading, mut reconciled) = (None, None);
    let deadline = running.spawned + Duration::from_secs(120);
    while (leading.is_none() || reconciled.is_none()) && Instant::now() < deadline {
        let c = Counters::read(running.port).await;
        if c.leading {
            leading.get_or_insert_with(|| running.spawned.elapsed());
        }
        if c.reconciles > 0.0 {
            reconciled.get_or_insert_with(|| running.spawned.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let timed_out = running.spawned.elapsed();
    (leading.unwrap_or(timed_out), reconciled.unwrap_or(timed_out))
}
