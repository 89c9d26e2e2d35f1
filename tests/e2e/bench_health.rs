//! Health-metrics benchmark (not part of `make test`; run `make bench-health`). On a 6-node
//! cluster (3 controllers, 3 brokers) with `BENCH_HEALTH_PARTITIONS` partitions (default
//! 10,000, in topics of 100) and `BENCH_HEALTH_GROUPS` consumer groups (default 200, each
//! committed to every partition of one topic), with `spec.metrics.consumerLag: {groups: "*"}`,
//! it prints over a two-minute window of steady state:
//! - Kafka Admin requests per minute the operator sent, in all and per API
//!   (`gregor_kafka_requests_total`: health gathering, plus the reconciles' own);
//! - the operator's CPU seconds per minute and its RSS.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::support::*;
use gregor::kafka::TopicPartition;
use gregor_world::World;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const NS: &str = "bench-health";

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

async fn metrics_text(port: u16) -> String {
    let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else { return String::new() };
    let _ = s.write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").await;
    let mut out = String::new();
    let _ = s.read_to_string(&mut out).await;
    out
}

/// `gregor_kafka_requests_total` per API.
fn requests(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| l.strip_prefix("gregor_kafka_requests_total{api=\""))
        .filter_map(|l| {
            let (api, rest) = l.split_once("\"}")?;
            Some((api.to_owned(), rest.trim().parse().ok()?))
        })
        .collect()
}

/// The operator's user + system CPU seconds so far (clock ticks of 1/100 s).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit_once(')').map(|(_, r)| r.split_whitespace().collect()).unwrap_or_default();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "benchmark: run with `make bench-health`"]
async fn health_figures() {
    let Some(_serial) = crate::support::world_test("e2e::bench_health::health_figures").await else { return };
    let partitions = env_or("BENCH_HEALTH_PARTITIONS", 10_000);
    let groups = env_or("BENCH_HEALTH_GROUPS", 200);
    let per_topic = 100.min(partitions.max(1));
    let topics = partitions.div_ceil(per_topic);
    let world = World::start().await.expect("world");
    let client = world.client();
    install_crds(&client).await;
    create_namespace(&client, NS).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let op = Operator::start_with_chart_rbac(&world, "bench", &[&format!("--metrics-addr=127.0.0.1:{port}")]).await;
    let mut spec = split_cluster(NS, "health", "4.4.0", json!({}));
    spec["spec"]["nodePools"][1]["jvmOptions"]["heap"] = json!("768Mi");
    spec["spec"]["metrics"] = json!({"consumerLag": {"groups": "*"}});
    apply_cluster(&client, NS, spec).await;
    wait_cluster_ready(&client, NS, "health", Duration::from_secs(420), &op).await;
    let admin = admin(&world, NS, "health", &[100, 101, 102]);

    // Topics of 100 partitions, RF 1 (the Admin requests do not depend on the RF; three
    // replicas of 10,000 partitions do not fit beside the other worlds of this machine).
    let start = Instant::now();
    let new: Vec<_> = (0..topics).map(|i| gregor::kafka::ops::topics::NewTopic::new(format!("t{i:03}"), per_topic as i32, 1)).collect();
    for (t, r) in admin.create_topics(&new, false).await.expect("create topics") {
        r.unwrap_or_else(|e| panic!("create {}: {e}", t.name));
    }
    wait_for("every partition with a leader", Duration::from_secs(600), || {
        let admin = &admin;
        async move {
            let m = admin.refresh_metadata().await.ok()?;
            let led =
                m.topics.iter().filter(|t| t.name.starts_with('t')).flat_map(|t| &t.partitions).filter(|p| p.leader.is_some()).count();
            (led == topics * per_topic).then_some(())
        }
    })
    .await;
    println!("{} partitions in {topics} topics created in {:?}", topics * per_topic, start.elapsed());
    // Consumer groups: each commits offset 0 to every partition of one topic.
    for g in 0..groups {
        let topic = format!("t{:03}", g % topics);
        let offsets: BTreeMap<TopicPartition, i64> =
            (0..per_topic as i32).map(|p| (TopicPartition { topic: topic.clone(), partition: p }, 0)).collect();
        let group = format!("bench-group-{g:03}");
        // The first commit waits for __consumer_offsets, which Kafka creates on first use.
        wait_for(&format!("a commit of {group}"), Duration::from_secs(300), || {
            let (admin, offsets, group) = (&admin, &offsets, &group);
            async move { admin.commit_group_offsets(group, offsets).await.ok() }
        })
        .await;
    }
    println!("{groups} consumer groups committed");

    // Steady state: the health metrics show every partition and every group.
    let want_partitions = format!("gregor_kafka_partitions{{namespace=\"{NS}\",cluster=\"health\"}} ");
    wait_for("health metrics of every partition and group", Duration::from_secs(300), || async {
        let text = metrics_text(port).await;
        let total: usize = text.lines().find(|l| l.starts_with(&want_partitions))?.rsplit(' ').next()?.parse().ok()?;
        let lag_series = text.lines().filter(|l| l.starts_with("gregor_kafka_consumer_group_lag_records{")).count();
        (total >= topics * per_topic && lag_series == groups).then_some(())
    })
    .await;

    let pid = op.pid().expect("pid");
    let window = Duration::from_secs(120);
    let (before, cpu_before, t0) = (requests(&metrics_text(port).await), cpu_seconds(pid), Instant::now());
    tokio::time::sleep(window).await;
    let (after, cpu_after, elapsed) = (requests(&metrics_text(port).await), cpu_seconds(pid), t0.elapsed());
    let minutes = elapsed.as_secs_f64() / 60.0;
    let per_api: BTreeMap<&str, f64> = after
        .iter()
        .map(|(api, n)| (api.as_str(), (n - before.get(api).copied().unwrap_or(0)) as f64 / minutes))
        .filter(|(_, r)| *r > 0.0)
        .collect();
    let total: f64 = per_api.values().sum();
    println!(
        "health metrics, 6 nodes (3 controllers, 3 brokers), {} partitions, {groups} consumer groups, over {:.0} s:",
        topics * per_topic,
        elapsed.as_secs_f64()
    );
    println!("  Kafka Admin requests per minute: {total:.1} in all; per API: {per_api:.1?}");
    println!("  operator CPU: {:.2} s per minute; RSS {:.1} MiB", (cpu_after - cpu_before) / minutes, rss_mib(pid));
}
