//! Prints the world's figures: cached world start time (until every node is Ready), broker pod
//! start-to-Ready time, and the memory (RSS) of an idle world with 3 brokers.
//! Run: `cargo run -p gregor-world --release --bin world-bench` (or `make bench-world`).
use anyhow::Context;
use gregor_world::{World, fixtures};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

fn processes() -> HashMap<i32, (i32, u64, String)> {
    let mut out = HashMap::new();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in rd.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
            continue;
        };
        let field = |k: &str| status.lines().find(|l| l.starts_with(k)).map(|l| l[k.len()..].trim().to_string());
        let ppid = field("PPid:").and_then(|v| v.parse().ok()).unwrap_or(0);
        let rss_kb = field("VmRSS:").and_then(|v| v.split_whitespace().next().and_then(|n| n.parse().ok())).unwrap_or(0);
        let name = field("Name:").unwrap_or_default();
        out.insert(pid, (ppid, rss_kb, name));
    }
    out
}

/// RSS (KiB) of the given processes and all their descendants, grouped by process name.
fn rss_tree(roots: &[i32]) -> (u64, Vec<(String, u64)>) {
    let procs = processes();
    let mut set: HashSet<i32> = roots.iter().copied().collect();
    loop {
        let before = set.len();
        for (pid, (ppid, _, _)) in &procs {
            if set.contains(ppid) {
                set.insert(*pid);
            }
        }
        if set.len() == before {
            break;
        }
    }
    let mut by_name: HashMap<String, u64> = HashMap::new();
    let mut total = 0;
    for pid in &set {
        if let Some((_, rss, name)) = procs.get(pid) {
            total += rss;
            *by_name.entry(name.clone()).or_default() += rss;
        }
    }
    let mut v: Vec<_> = by_name.into_iter().collect();
    v.sort_by_key(|e| std::cmp::Reverse(e.1));
    (total, v)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let version = gregor_world::tools::latest_kafka_version();
    let t0 = Instant::now();
    let world = World::start().await.context("starting the world")?;
    println!("world start (cached tools) until every node Ready: {:.2}s", world.started_in().as_secs_f64());
    let _ = t0;

    let t1 = Instant::now();
    let kafka = fixtures::kraft_statefulset(&world, "bench", "kafka", &version, 3).await.context("3 brokers")?;
    println!("3-broker KRaft StatefulSet ({version}) applied -> 3 pods Ready: {:.2}s", t1.elapsed().as_secs_f64());
    let pods = Api::<Pod>::namespaced(world.client(), "bench").list(&ListParams::default().labels("app=kafka")).await?;
    for p in &pods.items {
        let st = p.status.clone().unwrap_or_default();
        let started = st
            .container_statuses
            .as_ref()
            .and_then(|c| c.first())
            .and_then(|c| c.state.as_ref())
            .and_then(|s| s.running.as_ref())
            .and_then(|r| r.started_at.clone());
        let ready = st.conditions.as_ref().and_then(|c| c.iter().find(|c| c.type_ == "Ready")).and_then(|c| c.last_transition_time.clone());
        if let (Some(s), Some(r)) = (started, ready) {
            let d = r.0.duration_since(s.0);
            println!(
                "  {}: broker process start -> Ready: {:.1}s (1s resolution)",
                p.metadata.name.clone().unwrap_or_default(),
                d.as_secs_f64()
            );
        }
    }
    let old = kafka.delete_pod(&world, 1).await?;
    let t2 = Instant::now();
    kafka.wait_pod_back(&world, 1, &old, Duration::from_secs(180)).await?;
    println!("broker pod deleted (controlled shutdown) -> recreated and Ready: {:.2}s", t2.elapsed().as_secs_f64());

    println!("idling 20s...");
    tokio::time::sleep(Duration::from_secs(20)).await;
    let (total, by_name) = rss_tree(&world.pids());
    let me = processes().get(&(std::process::id() as i32)).map(|p| p.1).unwrap_or(0);
    println!("idle world with 3 brokers, RSS of child processes: {:.0} MiB", total as f64 / 1024.0);
    for (name, kb) in by_name {
        println!("  {name:<26} {:>6.0} MiB", kb as f64 / 1024.0);
    }
    println!("  + this process (node agent + client): {:.0} MiB", me as f64 / 1024.0);
    drop(world);
    Ok(())
}
