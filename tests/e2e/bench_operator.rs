//! Operator benchmark (not part of `make test`; run `make bench-operator`). Prints:
//! - apply → every child object exists: p50 and p99 over 30 clusters;
//! - operator overhead per rolled node: roll time minus the brokers' own restart-to-caught-up time;
//! - Kubernetes API requests per steady-state reconcile;
//! - operator RSS with 3 running clusters.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::support::*;
use gregor_world::World;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Service, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::ResourceExt;
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde_json::json;

const NS: &str = "bench";

fn single_node(name: &str, schedulable: bool) -> serde_json::Value {
    let mut template = json!({});
    if !schedulable {
        template = json!({"nodeSelector": {"bench.gregor.dev/nowhere": "true"}});
    }
    json!({
        "apiVersion": "kafka.gregor.dev/v1alpha1", "kind": "KafkaCluster",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"version": "4.4.0", "nodePools": [{"name": "kafka", "roles": ["controller", "broker"], "replicas": 1,
            "storage": {"type": "persistentClaim", "size": "1Gi"}, "jvmOptions": {"heap": "192Mi"}, "template": template}]}
    })
}

async fn children_exist(client: &kube::Client, name: &str) -> bool {
    let ok = |r: Result<Option<()>, kube::Error>| matches!(r, Ok(Some(())));
    ok(Api::<StatefulSet>::namespaced(client.clone(), NS).get_opt(&format!("{name}-kafka")).await.map(|o| o.map(drop)))
        && ok(Api::<ConfigMap>::namespaced(client.clone(), NS).get_opt(&format!("{name}-kafka-config")).await.map(|o| o.map(drop)))
        && ok(Api::<Service>::namespaced(client.clone(), NS).get_opt(&format!("{name}-kafka-brokers")).await.map(|o| o.map(drop)))
        && ok(Api::<Service>::namespaced(client.clone(), NS).get_opt(&format!("{name}-kafka-bootstrap")).await.map(|o| o.map(drop)))
        && ok(Api::<PodDisruptionBudget>::namespaced(client.clone(), NS).get_opt(&format!("{name}-kafka")).await.map(|o| o.map(drop)))
        && ok(Api::<ServiceAccount>::namespaced(client.clone(), NS).get_opt(&format!("{name}-kafka")).await.map(|o| o.map(drop)))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kb / 1024.0
}

fn is_ready(p: &Pod) -> bool {
    p.metadata.deletion_timestamp.is_none()
        && p.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "benchmark: run with `make bench-operator`"]
async fn operator_figures() {
    let Some(_serial) = crate::support::world_test("e2e::bench_operator::operator_figures").await else { return };
    let world = World::start().await.expect("world");
    let client = world.client();
    install_crds(&client).await;
    create_namespace(&client, NS).await;
    let op = Operator::start_with_chart_rbac(&world, "bench", &["--resync-seconds", "1"]).await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    // 1. apply -> all child objects exist (pods stay Pending: no JVM is started for this part).
    let mut latencies = Vec::new();
    for i in 0..30 {
        let name = format!("c{i}");
        let start = Instant::now();
        apply_cluster(&client, NS, single_node(&name, false)).await;
        while !children_exist(&client, &name).await {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        latencies.push(start.elapsed());
    }
    latencies.sort();
    println!(
        "apply -> children exist over {} clusters: p50 {:?}, p99 {:?}",
        latencies.len(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99)
    );
    let kcs: Api<gregor::api::KafkaCluster> = Api::namespaced(client.clone(), NS);
    for i in 0..30 {
        let _ = kcs.delete(&format!("c{i}"), &Default::default()).await;
    }

    // 2. A real 3+3 cluster: overhead per rolled node during a manual roll of the brokers.
    apply_cluster(&client, NS, split_cluster(NS, "events", "4.4.0", json!({}))).await;
    wait_cluster_ready(&client, NS, "events", Duration::from_secs(300), &op).await;
    let admin = admin(&world, NS, "events", &[100, 101, 102]);
    create_rf3_topic(&admin, "orders", 6).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    let sts: Api<StatefulSet> = Api::namespaced(client.clone(), NS);
    let uids: BTreeMap<String, String> = pods
        .list(&ListParams::default().labels("kafka.gregor.dev/pool=brokers"))
        .await
        .expect("pods")
        .items
        .into_iter()
        .map(|p| (p.name_any(), p.metadata.uid.unwrap_or_default()))
        .collect();
    let roll_start = Instant::now();
    sts.patch(
        "events-brokers",
        &PatchParams::default(),
        &Patch::Merge(&json!({"metadata": {"annotations": {"kafka.gregor.dev/manual-roll": "true"}}})),
    )
    .await
    .expect("annotate");
    // Per broker: when its old pod started terminating, and when the broker was back in every ISR.
    let mut down_at: BTreeMap<i32, Instant> = BTreeMap::new();
    let mut back_at: BTreeMap<i32, Instant> = BTreeMap::new();
    while back_at.len() < 3 && roll_start.elapsed() < Duration::from_secs(600) {
        let list = pods.list(&ListParams::default().labels("kafka.gregor.dev/pool=brokers")).await.expect("pods");
        let snap = admin.refresh_metadata().await.ok();
        for id in [100, 101, 102] {
            let name = format!("events-brokers-{id}");
            let pod = list.items.iter().find(|p| p.name_any() == name);
            let replaced = pod.is_none_or(|p| p.metadata.deletion_timestamp.is_some() || p.metadata.uid.as_ref() != uids.get(&name));
            if replaced {
                down_at.entry(id).or_insert_with(Instant::now);
            }
            let new_and_ready = pod.is_some_and(|p| p.metadata.uid.as_ref() != uids.get(&name) && is_ready(p));
            let in_all_isr =
                snap.as_ref().is_some_and(|s| s.hosted_by(id).all(|(_, p)| p.isr.contains(&id)) && s.hosted_by(id).count() > 0);
            if down_at.contains_key(&id) && new_and_ready && in_all_isr {
                back_at.entry(id).or_insert_with(Instant::now);
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let roll_time = back_at.values().max().map(|t| t.duration_since(roll_start)).unwrap_or_default();
    let kafka_time: Duration = [100, 101, 102].iter().filter_map(|id| Some(back_at.get(id)?.duration_since(*down_at.get(id)?))).sum();
    let overhead = roll_time.saturating_sub(kafka_time);
    println!(
        "roll of 3 brokers: {:?} in all; brokers' own restart-to-caught-up {:?}; operator overhead {:?} in all, {:?} per node",
        roll_time,
        kafka_time,
        overhead,
        overhead / 3
    );

    // 3. API requests per steady-state reconcile (resync every second, from the operator's log).
    tokio::time::sleep(Duration::from_secs(15)).await;
    let log = std::fs::read_to_string(&op.log).unwrap_or_default();
    let counts: Vec<u64> = log
        .lines()
        .filter(|l| l.contains("reconcile done") && l.contains("cluster=events") && l.contains("action=Idle"))
        .filter_map(|l| l.split("api_requests=").nth(1)?.split_whitespace().next()?.parse().ok())
        .collect();
    let tail = &counts[counts.len().saturating_sub(10)..];
    println!("API requests per steady-state reconcile (last {} reconciles): {:?}", tail.len(), tail);

    // 4. Operator RSS with 3 running clusters.
    apply_cluster(&client, NS, single_node("small-a", true)).await;
    apply_cluster(&client, NS, single_node("small-b", true)).await;
    wait_cluster_ready(&client, NS, "small-a", Duration::from_secs(300), &op).await;
    wait_cluster_ready(&client, NS, "small-b", Duration::from_secs(300), &op).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    println!("operator RSS with 3 running clusters: {:.1} MiB", rss_mib(op.pid().expect("pid")));
}
