//! Benchmark (ignored by `make test`; run with `make bench-topics`): 1,000 KafkaTopics applied
//! at once, then 500 KafkaUsers, against a real secured cluster in the test world with the real
//! operator binary. Prints topics/s, users/s and the operator's RSS. It asserts only that every
//! resource reaches Ready and exists in Kafka; the figures are printed, never asserted.
//!
//! The chart's finalizer policy is installed, as `helm install` does; BENCH_NO_POLICY=1 leaves it
//! out, to measure the operator adding finalizers itself (Kubernetes before 1.36).
//!
//! Knobs: BENCH_TOPICS (1000), BENCH_USERS (500), BENCH_PARTITIONS (1), BENCH_NO_POLICY.

use std::time::{Duration, Instant};

use crate::support::*;
use futures::StreamExt;
use gregor::api::{KafkaTopic, KafkaUser};
use gregor::kafka::Target;
use gregor::kafka::ops::acls::AclFilter;
use gregor_world::World;
use kube::api::Api;
use serde_json::json;

const NS: &str = "bench";
const CLUSTER: &str = "bench";
/// Concurrent applies, as `kubectl apply -f dir/` with many objects would send them.
const APPLY_CONCURRENCY: usize = 32;

fn knob(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// (VmRSS, VmHWM) of a process, in MiB.
fn rss_mib(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (kib("VmRSS:") / 1024.0, kib("VmHWM:") / 1024.0)
}

fn is_ready(conditions: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition]) -> bool {
    ready_of(conditions).is_some_and(|(s, _, _)| s == "True")
}

/// A watch-fed cache of a kind in the bench namespace (polling LISTs of 1,000 objects would load
/// the API server the operator is being measured against).
fn watch_cache<K>(client: &kube::Client) -> kube::runtime::reflector::Store<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    use kube::runtime::{WatchStreamExt, reflector, watcher};
    let (store, writer) = reflector::store::<K>();
    let stream = reflector::reflector(writer, watcher::watcher(Api::<K>::namespaced(client.clone(), NS), watcher::Config::default()))
        .default_backoff()
        .applied_objects();
    tokio::spawn(stream.for_each(|_| std::future::ready(())));
    store
}

/// Applies every object with bounded concurrency; returns how long the applies took.
async fn apply_all<K>(client: &kube::Client, objects: Vec<serde_json::Value>) -> Duration
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let start = Instant::now();
    let results: Vec<Result<K, kube::Error>> = futures::stream::iter(objects.into_iter().map(|o| apply_json::<K>(client, NS, o)))
        .buffer_unordered(APPLY_CONCURRENCY)
        .collect()
        .await;
    for r in results {
        r.expect("apply");
    }
    start.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run with `make bench-topics`"]
async fn bench_topics_and_users() {
    let Some(_serial) = crate::support::world_test("e2e::bench_scale::bench_topics_and_users").await else { return };
    let topics_n = knob("BENCH_TOPICS", 1000);
    let users_n = knob("BENCH_USERS", 500);
    let partitions = knob("BENCH_PARTITIONS", 1);
    let world = World::start().await.expect("world");
    let client = world.client();
    install_crds(&client).await;
    create_namespace(&client, NS).await;
    // As the chart installs it: the API server adds the finalizer, the operator does not spend a write on it.
    let policy = std::env::var_os("BENCH_NO_POLICY").is_none();
    if policy {
        install_finalizer_policy(&client, NS).await;
    }
    let op = Operator::start_with_chart_rbac(&world, "bench", &[]).await;
    let pid = op.pid().expect("operator pid");
    apply_cluster(&client, NS, scram_cluster(NS, CLUSTER, 3, "384Mi", "512Mi", 9094)).await;
    let kc = wait_cluster_ready(&client, NS, CLUSTER, Duration::from_secs(300), &op).await;
    let admin = operator_admin(&world, &client, &kc).await;
    let (rss_idle, _) = rss_mib(pid);
    let topic_cache = watch_cache::<KafkaTopic>(&client);
    let user_cache = watch_cache::<KafkaUser>(&client);

    // Topics.
    let objects: Vec<serde_json::Value> = (0..topics_n)
        .map(|i| {
            json!({"apiVersion": "kafka.gregor.dev/v1alpha1", "kind": "KafkaTopic", "metadata": {"name": format!("bench-{i:05}"), "namespace": NS},
                "spec": {"cluster": CLUSTER, "partitions": partitions, "config": {"retention.ms": 86400000}}})
        })
        .collect();
    let start = Instant::now();
    let applied_in = apply_all::<KafkaTopic>(&client, objects).await;
    let mut peak_topics = 0.0f64;
    loop {
        let ready = topic_cache.state().iter().filter(|t| t.status.as_ref().is_some_and(|s| is_ready(&s.conditions))).count();
        peak_topics = peak_topics.max(rss_mib(pid).0);
        if ready == topics_n {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(900), "only {ready}/{topics_n} topics Ready after 900 s\n{}", op.log_tail(40));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let topics_elapsed = start.elapsed();
    // Brokers learn new topics from the metadata log a moment after the controller commits them.
    wait_for("every topic in a broker's Metadata", Duration::from_secs(60), || {
        let admin = &admin;
        async move {
            let snap = admin.fetch_metadata(Target::Any, None).await.ok()?;
            (snap.topics.iter().filter(|t| t.name.starts_with("bench-")).count() == topics_n).then_some(())
        }
    })
    .await;
    let (rss_topics, _) = rss_mib(pid);

    // Users.
    let objects: Vec<serde_json::Value> = (0..users_n)
        .map(|i| {
            json!({"apiVersion": "kafka.gregor.dev/v1alpha1", "kind": "KafkaUser", "metadata": {"name": format!("user-{i:04}"), "namespace": NS},
                "spec": {"cluster": CLUSTER, "authentication": {"type": "scram-sha-512"},
                    "authorization": {"acls": [{"resource": {"type": "topic", "name": format!("bench-{:05}", i % topics_n.max(1))}, "operations": ["Read", "Write", "Describe"]}]},
                    "quotas": {"producerByteRate": 1048576}}})
        })
        .collect();
    let start = Instant::now();
    let users_applied_in = apply_all::<KafkaUser>(&client, objects).await;
    let mut peak_users = 0.0f64;
    loop {
        let ready = user_cache.state().iter().filter(|u| u.status.as_ref().is_some_and(|s| is_ready(&s.conditions))).count();
        peak_users = peak_users.max(rss_mib(pid).0);
        if ready == users_n {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(900), "only {ready}/{users_n} users Ready after 900 s\n{}", op.log_tail(40));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let users_elapsed = start.elapsed();
    wait_for("every user's ACLs in Kafka", Duration::from_secs(60), || {
        let admin = &admin;
        async move {
            let acls = admin.describe_acls(&AclFilter::any()).await.ok()?;
            let principals: std::collections::BTreeSet<&str> =
                acls.iter().map(|a| a.principal.as_str()).filter(|p| p.starts_with("User:user-")).collect();
            (principals.len() == users_n).then_some(())
        }
    })
    .await;
    let (rss_end, hwm) = rss_mib(pid);

    println!("\n=== Gregor scale benchmark (test world, real brokers: 1 controller + 3 brokers, SCRAM + ACLs) ===");
    println!("finalizers added by: {}", if policy { "the chart's MutatingAdmissionPolicy" } else { "the operator (BENCH_NO_POLICY)" });
    println!(
        "topics: {topics_n} KafkaTopics ({partitions} partition(s), RF 3) applied in {:.1} s, all Ready in {:.1} s => {:.0} topics/s",
        applied_in.as_secs_f64(),
        topics_elapsed.as_secs_f64(),
        topics_n as f64 / topics_elapsed.as_secs_f64()
    );
    println!(
        "users:  {users_n} KafkaUsers (SCRAM-SHA-512 + 3 ACLs + 1 quota) applied in {:.1} s, all Ready in {:.1} s => {:.0} users/s",
        users_applied_in.as_secs_f64(),
        users_elapsed.as_secs_f64(),
        users_n as f64 / users_elapsed.as_secs_f64()
    );
    println!(
        "operator RSS: idle {rss_idle:.0} MiB, peak during topics {peak_topics:.0} MiB, after topics {rss_topics:.0} MiB, peak during users {peak_users:.0} MiB, end {rss_end:.0} MiB, high-water {hwm:.0} MiB"
    );
    let kept = std::env::temp_dir().join("gregor-bench-operator.log");
    if std::fs::copy(&op.log, &kept).is_ok() {
        println!("operator log: {}", kept.display());
    }
    drop(op);
}
