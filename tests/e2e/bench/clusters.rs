//! The clusters scenario: KafkaClusters of 1 combined node each, applied at once; per cluster,
//! apply to every child object, and apply to Ready.

use std::time::{Duration, Instant};

use gregor::api::KafkaCluster;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Service, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use serde_json::json;

use super::apply::{apply_all, latencies};
use super::report::{Report, percentile_ms};
use super::tracker::Tracker;

fn single_node(ns: &str, name: &str) -> serde_json::Value {
    json!({
        "apiVersion": "kafka.gregor.dev/v1alpha1", "kind": "KafkaCluster",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"version": "4.4.0", "nodePools": [{"name": "kafka", "roles": ["controller", "broker"], "replicas": 1,
            "storage": {"type": "persistentClaim", "size": "1Gi"}, "jvmOptions": {"heap": "192Mi"}}]}
    })
}

fn cluster_ready(kc: &KafkaCluster) -> bool {
    kc.status.as_ref().and_then(|s| s.observed_generation) == kc.metadata.generation
        && crate::support::ready(kc).is_some_and(|(s, _, _)| s == "True")
}

fn exists<K>(_: &K) -> bool {
    true
}

/// Applies `n` clusters to `ns` (a namespace of their own) and records the clusters' figures.
pub async fn clusters(client: &kube::Client, ns: &str, n: usize, concurrency: usize, report: &mut Report) {
    let children = [
        Tracker::start::<StatefulSet>(client, ns, exists),
        Tracker::start::<ConfigMap>(client, ns, exists),
        Tracker::start::<Service>(client, ns, exists),
        Tracker::start::<PodDisruptionBudget>(client, ns, exists),
        Tracker::start::<ServiceAccount>(client, ns, exists),
    ];
    let ready = Tracker::start::<KafkaCluster>(client, ns, cluster_ready);
    let names: Vec<String> = (0..n).map(|i| format!("kc-{i:02}")).collect();
    let objects = names.iter().map(|name| single_node(ns, name)).collect();
    let applied = apply_all::<KafkaCluster>(client, ns, objects, concurrency).await;
    if let Some(e) = &applied.first_error {
        println!("bench: {} cluster applies refused, first: {e}", applied.errors);
    }
    // Every child a cluster of one pool named `kafka` has (DESIGN.md's names), by tracker.
    let child_names = |name: &str| -> [(usize, String); 6] {
        [
            (0, format!("{name}-kafka")),
            (1, format!("{name}-kafka-config")),
            (2, format!("{name}-kafka-brokers")),
            (2, format!("{name}-kafka-bootstrap")),
            (3, format!("{name}-kafka")),
            (4, format!("{name}-kafka")),
        ]
    };
    let all_children_at = |name: &str| -> Option<Instant> {
        child_names(name).iter().map(|(t, child)| children[*t].seen_at(child)).collect::<Option<Vec<Instant>>>()?.into_iter().max()
    };
    let deadline = Instant::now() + Duration::from_secs(300 + 60 * n as u64);
    while ready.ready_count(&names) < names.len() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let never_ready = names.len() - ready.ready_count(&names);
    if never_ready > 0 {
        println!("bench: {never_ready}/{} KafkaClusters never Ready", names.len());
    }
    let to_children = latencies(&names, &applied.sent_at, all_children_at);
    let to_ready = latencies(&names, &applied.sent_at, |n| ready.ready_at(n));
    report.set("clusters.count", n as f64);
    report.set("clusters.apply_to_children_p50_ms", percentile_ms(&to_children, 0.5));
    report.set("clusters.apply_to_children_p99_ms", percentile_ms(&to_children, 0.99));
    report.set("clusters.apply_to_ready_p50_ms", percentile_ms(&to_ready, 0.5));
    report.set("clusters.apply_to_ready_p99_ms", percentile_ms(&to_ready, 0.99));
    report.set("clusters.failures", (applied.errors + never_ready) as f64);
}
