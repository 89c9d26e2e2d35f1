//! Rolls end to end, with real brokers and real client traffic: a read-only config change rolls
//! every node once, one at a time, controllers first and the active controller last, without a
//! failed produce or a lost record; a dynamic change restarts nothing; a converged cluster is not
//! written to; an operator killed mid-roll resumes without rolling anything twice.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::support::pod_watch::PodWatch;
use crate::support::traffic::{Producer, consume_all};
use crate::support::*;
use gregor::api::KafkaCluster;
use gregor::kafka::ops::configs::ConfigResource;
use gregor_world::World;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

const NS: &str = "e2e-roll";
const VERSION: &str = "4.4.0";
const BROKERS: [i32; 3] = [100, 101, 102];

fn cluster(config: serde_json::Value) -> serde_json::Value {
    split_cluster(NS, "events", VERSION, config)
}

async fn pod_uids(client: &kube::Client) -> BTreeMap<String, String> {
    cluster_pods(client, NS, "events").await.into_iter().map(|p| (p.name_any(), p.metadata.uid.unwrap_or_default())).collect()
}

async fn owned_versions(client: &kube::Client) -> Vec<(String, Option<String>)> {
    let sts: Api<StatefulSet> = Api::namespaced(client.clone(), NS);
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), NS);
    let svcs: Api<Service> = Api::namespaced(client.clone(), NS);
    let kcs: Api<KafkaCluster> = Api::namespaced(client.clone(), NS);
    let mut out = Vec::new();
    for n in ["events-controllers", "events-brokers"] {
        out.push((format!("sts/{n}"), sts.get(n).await.expect("sts").metadata.resource_version));
        out.push((format!("cm/{n}-config"), cms.get(&format!("{n}-config")).await.expect("cm").metadata.resource_version));
    }
    for n in ["events-kafka-brokers", "events-kafka-bootstrap"] {
        out.push((format!("svc/{n}"), svcs.get(n).await.expect("svc").metadata.resource_version));
    }
    out.push(("kafkacluster".into(), kcs.get("events").await.expect("kc").metadata.resource_version));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rolls_one_node_at_a_time_without_losing_a_record() {
    let Some(_serial) = crate::support::world_test("e2e::roll::rolls_one_node_at_a_time_without_losing_a_record").await else { return };
    let world = World::start().await.expect("world");
    let client = world.client();
    install_crds(&client).await;
    create_namespace(&client, NS).await;
    let mut op = Operator::start_with_chart_rbac(&world, "first", &["--resync-seconds", "2"]).await;
    apply_cluster(&client, NS, cluster(json!({}))).await;
    wait_cluster_ready(&client, NS, "events", Duration::from_secs(300), &op).await;

    let admin = admin(&world, NS, "events", &BROKERS);
    create_rf3_topic(&admin, "orders", 3).await;

    // (h) Steady state: across 10 resyncs (2 s each) nothing owned is written.
    let before = owned_versions(&client).await;
    tokio::time::sleep(Duration::from_secs(25)).await;
    assert_eq!(owned_versions(&client).await, before, "a converged cluster must see no writes");

    // (c) A dynamic key: visible on every broker, no pod restarted.
    let uids = pod_uids(&client).await;
    apply_cluster(&client, NS, cluster(json!({"log.retention.ms": 3_600_000}))).await;
    wait_for("log.retention.ms on every broker", Duration::from_secs(120), || {
        let admin = &admin;
        async move {
            let resources: Vec<ConfigResource> = BROKERS.iter().map(|b| ConfigResource::broker(*b)).collect();
            let got = admin.describe_configs(&resources, Some(&["log.retention.ms"])).await.ok()?;
            let all = got.len() == 3 && got.iter().all(|r| r.get("log.retention.ms").and_then(|e| e.value.as_deref()) == Some("3600000"));
            all.then_some(())
        }
    })
    .await;
    wait_cluster_ready(&client, NS, "events", Duration::from_secs(120), &op).await;
    assert_eq!(pod_uids(&client).await, uids, "a dynamic change must restart no pod");

    // (b) A read-only key rolls every node once, under continuous acks=all traffic.
    let watch = PodWatch::start(&client, NS, "events", &split_pod_names("events"));
    let bootstrap = split_bootstrap(NS, "events");
    let producer = Producer::start(&world, VERSION, &bootstrap, "orders", 200);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let leader = admin.describe_quorum().await.expect("quorum").leader_id;
    apply_cluster(&client, NS, cluster(json!({"log.retention.ms": 3_600_000, "queued.max.requests": 600}))).await;
    wait_for("all six pods restarted", Duration::from_secs(900), || {
        let watch = &watch;
        async move { (watch.snapshot().restarts.len() >= 6).then_some(()) }
    })
    .await;
    wait_cluster_ready(&client, NS, "events", Duration::from_secs(300), &op).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let produced = producer.stop().await;
    let history = watch.snapshot();
    assert!(history.restart_counts().values().all(|n| *n == 1), "each pod exactly once: {:?}", history.restarts);
    assert_eq!(history.restart_counts().len(), 6, "{:?}", history.restarts);
    assert!(history.max_unready <= 1, "two pods were down at once: {history:?}");
    let order = &history.restarts;
    assert!(order[..3].iter().all(|p| p.contains("controllers")), "controllers first: {order:?}");
    assert!(order[3..].iter().all(|p| p.contains("brokers")), "brokers after: {order:?}");
    assert_eq!(order[2], format!("events-controllers-{leader}"), "the active controller ({leader}) last: {order:?}");
    assert!(produced.errors.is_empty(), "produce errors: {:?}", &produced.errors[..produced.errors.len().min(5)]);
    assert!(produced.acked.len() > 500, "the producer kept writing: {}", produced.acked.len());
    let consumed = consume_all(&world, VERSION, &bootstrap, "orders").await;
    let lost: Vec<&String> = produced.acked.difference(&consumed).take(10).collect();
    assert!(lost.is_empty(), "acknowledged records lost: {lost:?} (acked {}, consumed {})", produced.acked.len(), consumed.len());

    // (f) SIGKILL the operator mid-roll; a new one resumes, still one pod at a time, each once.
    watch.reset();
    let sts: Api<StatefulSet> = Api::namespaced(client.clone(), NS);
    let patch = json!({"metadata": {"annotations": {"kafka.gregor.dev/manual-roll": "true"}}});
    sts.patch("events-brokers", &PatchParams::default(), &Patch::Merge(&patch)).await.expect("annotate");
    wait_for("the first broker restart", Duration::from_secs(120), || {
        let watch = &watch;
        async move { (!watch.snapshot().restarts.is_empty()).then_some(()) }
    })
    .await;
    op.kill().await;
    let op2 = Operator::start_with_chart_rbac(&world, "second", &["--resync-seconds", "2"]).await;
    wait_for("three broker restarts", Duration::from_secs(600), || {
        let watch = &watch;
        async move { (watch.snapshot().restarts.len() >= 3).then_some(()) }
    })
    .await;
    wait_for("every broker Ready after the resumed roll", Duration::from_secs(300), || {
        let client = &client;
        async move {
            let pods = cluster_pods(client, NS, "events").await;
            let ready = pods
                .iter()
                .filter(|p| {
                    p.status
                        .as_ref()
                        .and_then(|s| s.conditions.as_ref())
                        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
                })
                .count();
            (ready == 6).then_some(())
        }
    })
    .await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    let history = watch.snapshot();
    let counts = history.restart_counts();
    assert_eq!(counts.len(), 3, "only the brokers rolled: {:?}", history.restarts);
    assert!(counts.iter().all(|(p, n)| p.contains("brokers") && *n == 1), "each broker once: {:?}", history.restarts);
    assert!(history.max_unready <= 1, "two pods were down at once: {history:?}");
    let sts_annotations = sts.get("events-brokers").await.expect("sts").metadata.annotations.unwrap_or_default();
    assert!(!sts_annotations.contains_key("kafka.gregor.dev/manual-roll"), "the manual-roll request is consumed");
    drop(op2);
}
