//! `make bench`: the scale benchmark of issue 19, on the real test world with the real operator
//! binary. Each stage's figures go into one [`report::Report`], printed as a table and written as
//! JSON (`hack/bench-compare A.json B.json` prints ratios):
//! 1. one cluster (1 controller + 3 brokers, SCRAM, ACLs) Ready; the operator's idle RSS;
//! 2. the API server's own limit: as many trivial objects as topics, created and status-patched;
//! 3. topics applied at once: throughput to all Ready, apply-to-Ready p50/p99, failures;
//! 4. SCRAM users (3 ACLs and a quota each) applied at once: the same figures;
//! 5. clusters of 1 combined node applied at once: apply to every child, apply to Ready;
//! 6. restart (SIGTERM, new process with a short resync): start to leading, to first reconcile;
//! 7. steady state over N resync periods: the operator's LIST/write requests, Kafka requests per
//!    resync per topic, CPU seconds per resync;
//! 8. every topic deleted at once: throughput to gone from Kafka.
//!
//! `full_counts` (ignored; `make bench`) runs the counts, each overridable (see `knobs`);
//! `smoke_tiny_counts` runs in `make test` with tiny counts and asserts behaviour only (all Ready,
//! no failures, every figure present), never a timing.

mod apply;
mod clusters;
mod knobs;
mod limit;
mod operator;
mod probes;
mod report;
mod resources;
mod tracker;

use std::time::Duration;

use gregor::controller::reason::{Reason, TopicReason, UserReason};
use gregor_world::World;

use crate::support::*;
use knobs::Counts;
use probes::{Counters, WRITE_VERBS, cpu_seconds, rss_mib};
use report::{Report, per_second};

const NS: &str = "bench";
const CLUSTERS_NS: &str = "bench-clusters";
const LIMIT_NS: &str = "bench-limit";
const CLUSTER: &str = "bench";

/// Runs every stage with `counts`; returns the report and the JSON file written.
async fn run(counts: &Counts, json_path: &std::path::Path) -> (Report, serde_json::Value) {
    let mut report = Report::default();
    let world = World::start().await.expect("world");
    let client = world.client();
    install_crds(&client).await;
    for ns in [NS, CLUSTERS_NS, LIMIT_NS] {
        create_namespace(&client, ns).await;
    }
    install_finalizer_policy(&client, NS).await;
    let kubeconfig = chart_rbac::install(&world).await;
    let first = operator::start(&world, &kubeconfig, "bench-a", Duration::from_secs(300));

    // 1. The cluster the topics and users go to.
    apply_cluster(&client, NS, scram_cluster(NS, CLUSTER, 3, "384Mi", "768Mi", 9094)).await;
    let kc = wait_cluster_ready(&client, NS, CLUSTER, Duration::from_secs(600), &first.op).await;
    let admin = operator_admin(&world, &client, &kc).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    report.set("rss.idle_mib", rss_mib(first.pid).0);
    println!("bench: cluster Ready; measuring the API server's limit with {} objects", counts.topics);

    // 2. The API server's limit, with as many objects as there are topics.
    let limit = limit::measure(&client, LIMIT_NS, counts.topics, counts.concurrency).await;
    assert_eq!(limit.errors, 0, "the API server refused requests of the limit measurement");
    report.set("limit.objects", counts.topics as f64);
    report.set("limit.create_s", limit.create.as_secs_f64());
    report.set("limit.status_patch_s", limit.status_patch.as_secs_f64());
    report.set("limit.per_s", per_second(counts.topics, limit.create + limit.status_patch));

    // 3. Topics.
    let topic_tracker = resources::track_topics(&client, NS);
    let user_tracker = resources::track_users(&client, NS);
    let before = Counters::read(first.port).await;
    println!("bench: applying {} KafkaTopics", counts.topics);
    let topics = resources::topics(&client, &admin, NS, CLUSTER, counts, &topic_tracker).await;
    let after = Counters::read(first.port).await;
    topics.record(&mut report, "topics", after.failures_since(&before, TopicReason::KIND));
    report.set("ratio.topics_to_limit", report.get("topics.per_s").unwrap_or(f64::NAN) / report.get("limit.per_s").unwrap_or(f64::NAN));
    report.set("rss.topics_mib", rss_mib(first.pid).0);

    // 4. Users.
    println!("bench: applying {} KafkaUsers", counts.users);
    let before = Counters::read(first.port).await;
    let users = resources::users(&client, &admin, NS, CLUSTER, counts, &user_tracker).await;
    let after = Counters::read(first.port).await;
    users.record(&mut report, "users", after.failures_since(&before, UserReason::KIND));
    report.set("rss.users_mib", rss_mib(first.pid).0);

    // 5. Clusters.
    println!("bench: applying {} KafkaClusters", counts.clusters);
    clusters::clusters(&client, CLUSTERS_NS, counts.clusters, counts.concurrency, &mut report).await;
    report.set("rss.clusters_mib", rss_mib(first.pid).0);
    report.set("rss.peak_mib", rss_mib(first.pid).1);

    // 6. Restart with every resource in the caches, now with the short resync.
    println!("bench: restarting the operator");
    operator::stop(first).await;
    let second = operator::start(&world, &kubeconfig, "bench-b", counts.resync);
    let (to_leading, to_first) = operator::time_start(&second).await;
    report.set("startup.to_leading_ms", to_leading.as_secs_f64() * 1000.0);
    report.set("startup.to_first_reconcile_ms", to_first.as_secs_f64() * 1000.0);

    // 7. Steady state: after the restart's first pass over every resource and one more period.
    let resources = (counts.topics + counts.users + counts.clusters + 1) as f64;
    let pass_deadline = std::time::Instant::now() + Duration::from_secs(600);
    while Counters::read(second.port).await.reconciles < resources && std::time::Instant::now() < pass_deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(counts.resync).await;
    report.set("rss.restarted_mib", rss_mib(second.pid).0);
    println!("bench: steady state for {} resyncs of {:?}", counts.resyncs, counts.resync);
    let window = counts.resync * counts.resyncs;
    let (before, cpu_before) = (Counters::read(second.port).await, cpu_seconds(second.pid));
    tokio::time::sleep(window).await;
    let (after, cpu_after) = (Counters::read(second.port).await, cpu_seconds(second.pid));
    let kafka = after.kafka_since(&before);
    let kafka_per_resync = kafka.values().sum::<u64>() as f64 / f64::from(counts.resyncs);
    report.set("steady.resync_s", counts.resync.as_secs_f64());
    report.set("steady.window_s", window.as_secs_f64());
    report.set("steady.kube_list", after.kube_since(&before, &["list"]));
    report.set("steady.kube_writes", after.kube_since(&before, WRITE_VERBS));
    report.set("steady.kube_get", after.kube_since(&before, &["get"]));
    report.set("steady.kube_watch", after.kube_since(&before, &["watch"]));
    report.set("steady.kafka_requests_per_resync", kafka_per_resync);
    report.set("steady.kafka_requests_per_resync_per_topic", kafka_per_resync / counts.topics.max(1) as f64);
    report.set("steady.cpu_s_per_resync", (cpu_after - cpu_before) / f64::from(counts.resyncs));
    report.kafka_requests_by_api = kafka;

    // 8. Deletion of every topic at once.
    println!("bench: deleting {} KafkaTopics", counts.topics);
    let deletion = resources::delete_all_topics(&client, &admin, NS, counts.topics, &topic_tracker).await;
    report.set("deletion.count", deletion.count as f64);
    report.set("deletion.gone_from_kafka_s", deletion.gone_from_kafka.as_secs_f64());
    report.set("deletion.per_s", per_second(deletion.count, deletion.gone_from_kafka));
    report.set("deletion.resources_gone_s", deletion.resources_gone.as_secs_f64());
    report.set("deletion.left", deletion.left as f64);

    let kept = std::env::temp_dir().join("gregor-bench-operator.log");
    if std::fs::copy(&second.op.log, &kept).is_ok() {
        println!("operator log: {}", kept.display());
    }
    drop(second);
    let title = format!("Gregor bench: {} topics, {} users, {} clusters", counts.topics, counts.users, counts.clusters);
    let command = format!("{} make bench", counts.as_env());
    println!("{}", report.table(&title));
    let json = report.to_json(&title, &command);
    if let Some(dir) = json_path.parent() {
        std::fs::create_dir_all(dir).expect("bench output directory");
    }
    std::fs::write(json_path, serde_json::to_string_pretty(&json).expect("JSON")).expect("write the bench JSON");
    println!("bench JSON: {}", json_path.display());
    (report, json)
}

/// `BENCH_JSON`, else `target/bench/bench-<unix seconds>.json` in the repository.
fn json_path() -> std::path::PathBuf {
    if let Some(path) = std::env::var_os("BENCH_JSON") {
        return path.into();
    }
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench").join(format!("bench-{secs}.json"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run with `make bench`"]
async fn full_counts() {
    let Some(_serial) = crate::support::world_test("e2e::bench::full_counts").await else { return };
    let counts = Counts::from_env(Counts::full());
    println!("bench: {}", counts.as_env());
    run(&counts, &json_path()).await;
}

/// `make bench` with tiny counts, in `make test`: every stage runs, every resource gets Ready,
/// nothing fails, and the JSON file holds every figure. No timing is asserted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smoke_tiny_counts() {
    let Some(_serial) = crate::support::world_test("e2e::bench::smoke_tiny_counts").await else { return };
    let counts = Counts::tiny();
    let path = std::env::temp_dir().join(format!("gregor-bench-smoke-{}.json", std::process::id()));
    let (report, _) = run(&counts, &path).await;
    assert_eq!(report.missing(), Vec::<&str>::new(), "figures missing from the report");
    let written: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("read the JSON")).expect("parse the JSON");
    assert_eq!(report::missing_in_json(&written), Vec::<&str>::new(), "figures missing in {}", path.display());
    for (key, want) in [
        ("topics.count", counts.topics),
        ("users.count", counts.users),
        ("clusters.count", counts.clusters),
        ("deletion.count", counts.topics),
        ("topics.failures", 0),
        ("users.failures", 0),
        ("clusters.failures", 0),
        ("deletion.left", 0),
    ] {
        assert_eq!(written["figures"][key].as_f64(), Some(want as f64), "{key} in {}", path.display());
    }
    let _ = std::fs::remove_file(&path);
}
