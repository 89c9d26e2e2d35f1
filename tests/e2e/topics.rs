//! The KafkaTopic controller end to end: the real operator binary, the test world's control
//! plane, and a real 3-controller + 3-broker Kafka cluster. Every acceptance bullet of the
//! topic controller is checked against Kafka itself through our admin client.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::support::*;
use gregor::api::KafkaTopic;
use gregor::kafka::ops::configs::{AlterOp, ConfigAlteration, ConfigResource};
use gregor::kafka::ops::topics::NewTopic;
use gregor::kafka::{Client as Admin, MetadataSnapshot, Target};
use gregor_world::World;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde_json::json;

const NS: &str = "e2e-topics";
const CLUSTER: &str = "events";
/// The operator's resync period in this suite.
const RESYNC_SECONDS: u64 = 10;
const READY_WAIT: Duration = Duration::from_secs(90);

fn cluster() -> serde_json::Value {
    split_cluster(NS, CLUSTER, "4.4.0", json!({}))
}

fn topic(name: &str, spec: serde_json::Value) -> serde_json::Value {
    let mut spec = spec;
    spec["cluster"] = json!(CLUSTER);
    json!({"apiVersion": "kafka.gregor.dev/v1alpha1", "kind": "KafkaTopic", "metadata": {"name": name, "namespace": NS}, "spec": spec})
}

async fn metadata(admin: &Admin, topic: &str) -> MetadataSnapshot {
    admin.fetch_metadata(Target::Any, Some(&[topic.to_owned()])).await.expect("metadata")
}

async fn exists(admin: &Admin, topic: &str) -> bool {
    metadata(admin, topic).await.topic(topic).is_some_and(|t| t.error.is_none())
}

async fn configs(admin: &Admin, topic: &str, keys: &[&str]) -> BTreeMap<String, String> {
    let described = admin.describe_configs(&[ConfigResource::topic(topic)], Some(keys)).await.expect("describe configs");
    described.into_iter().flat_map(|rc| rc.entries.expect("entries")).filter_map(|e| e.value.map(|v| (e.name, v))).collect()
}

async fn wait_config(admin: &Admin, topic: &str, key: &str, value: &str, timeout: Duration) {
    wait_for(&format!("{topic} {key}={value} in DescribeConfigs"), timeout, || async move {
        (configs(admin, topic, &[key]).await.get(key)? == value).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_are_kept_exactly_as_declared() {
    let Some(_serial) = crate::support::world_test("e2e::topics::topics_are_kept_exactly_as_declared").await else { return };
    let world = World::start().await.expect("world");
    let client = world.client();
    install_crds(&client).await;
    create_namespace(&client, NS).await;
    let resync = RESYNC_SECONDS.to_string();
    let op = Operator::start_with_chart_rbac(&world, "topics", &["--resync-seconds", &resync]).await;
    apply_cluster(&client, NS, cluster()).await;
    let kc = wait_cluster_ready(&client, NS, CLUSTER, Duration::from_secs(300), &op).await;
    let admin = operator_admin(&world, &client, &kc).await;
    let topics: Api<KafkaTopic> = Api::namespaced(client.clone(), NS);

    // Created without replicas: RF 3 and min.insync.replicas=2 from the cluster's defaults.
    apply_json::<KafkaTopic>(&client, NS, topic("orders", json!({"partitions": 3, "config": {"retention.ms": 3600000}})))
        .await
        .expect("apply orders");
    let kt = wait_topic(&client, NS, "orders", true, None, READY_WAIT, &op).await;
    // Ready means the controller created it; a broker answers Metadata from the metadata log a
    // moment later, until which it may report the topic without its partitions.
    let snap = wait_for("orders with 3 partitions in Metadata", Duration::from_secs(10), || {
        let admin = &admin;
        async move {
            let snap = metadata(admin, "orders").await;
            (snap.topic("orders")?.partitions.len() == 3).then_some(snap)
        }
    })
    .await;
    let info = snap.topic("orders").expect("orders in Kafka");
    assert!(info.partitions.iter().all(|p| p.replicas.len() == 3), "{:?}", info.partitions);
    let cfg = configs(&admin, "orders", &["min.insync.replicas", "retention.ms"]).await;
    assert_eq!(cfg.get("min.insync.replicas").map(String::as_str), Some("2"), "{cfg:?}");
    assert_eq!(cfg.get("retention.ms").map(String::as_str), Some("3600000"));
    let status = kt.status.clone().expect("status");
    assert_eq!(status.topic_id.as_deref(), Some(info.id.to_string().as_str()), "status.topicId is Kafka's id");
    assert_eq!((status.partitions, status.replicas), (Some(3), Some(3)));
    println!("PASS create: RF 3, min.insync.replicas=2, topicId {}", info.id);

    // A config change is seen by DescribeConfigs.
    apply_json::<KafkaTopic>(&client, NS, topic("orders", json!({"partitions": 3, "config": {"retention.ms": 7200000}})))
        .await
        .expect("edit config");
    wait_topic(&client, NS, "orders", true, None, READY_WAIT, &op).await;
    // Brokers learn topic configs from the metadata log: allow them a moment.
    wait_config(&admin, "orders", "retention.ms", "7200000", Duration::from_secs(10)).await;
    println!("PASS config change: retention.ms=7200000 in DescribeConfigs");

    // A partition increase is seen by Metadata; a decrease is rejected at apply.
    apply_json::<KafkaTopic>(&client, NS, topic("orders", json!({"partitions": 5, "config": {"retention.ms": 7200000}})))
        .await
        .expect("grow");
    wait_for("5 partitions in Metadata", READY_WAIT, || {
        let admin = &admin;
        async move { (metadata(admin, "orders").await.topic("orders")?.partitions.len() == 5).then_some(()) }
    })
    .await;
    wait_topic(&client, NS, "orders", true, None, READY_WAIT, &op).await;
    let refused =
        apply_json::<KafkaTopic>(&client, NS, topic("orders", json!({"partitions": 2, "config": {"retention.ms": 7200000}}))).await;
    let message = refused.expect_err("a decrease is rejected at apply").to_string();
    assert!(message.contains("partitions may not decrease"), "{message}");
    assert_eq!(metadata(&admin, "orders").await.topic("orders").expect("orders").partitions.len(), 5);
    println!("PASS partitions: 3 -> 5 in Metadata; 5 -> 2 rejected at apply: {message}");

    // A topic that has more partitions in Kafka than its spec gets the PartitionDecrease condition.
    admin.create_topics(&[NewTopic::new("wide", 4, 3)], false).await.expect("create wide")[0].1.as_ref().expect("wide created");
    apply_json::<KafkaTopic>(&client, NS, topic("wide", json!({"partitions": 2}))).await.expect("apply wide");
    let wide = wait_topic(&client, NS, "wide", false, Some("PartitionDecrease"), READY_WAIT, &op).await;
    println!("PASS decrease condition: {:?}", wide.status.and_then(|s| ready_of(&s.conditions)));

    // RF 2 -> 3 by reassignment, with progress in the status, until every partition has 3 replicas.
    apply_json::<KafkaTopic>(&client, NS, topic("payments", json!({"partitions": 6, "replicas": 2}))).await.expect("apply payments");
    wait_topic(&client, NS, "payments", true, None, READY_WAIT, &op).await;
    let before = metadata(&admin, "payments").await;
    assert!(before.topic("payments").expect("payments").partitions.iter().all(|p| p.replicas.len() == 2));
    wait_config(&admin, "payments", "min.insync.replicas", "1", Duration::from_secs(10)).await;
    apply_json::<KafkaTopic>(&client, NS, topic("payments", json!({"partitions": 6, "replicas": 3}))).await.expect("RF 3");
    let mut progress_seen = Vec::new();
    let start = Instant::now();
    loop {
        let kt = topics.get("payments").await.expect("payments");
        if let Some(r) = kt.status.as_ref().and_then(|s| s.reassignment.clone()) {
            progress_seen.push(format!("{}/{}", r.partitions_done, r.partitions_total));
        }
        let snap = metadata(&admin, "payments").await;
        let parts = &snap.topic("payments").expect("payments").partitions;
        let done = parts.iter().all(|p| p.replicas.len() == 3 && p.isr.len() == 3);
        let current = kt.status.as_ref().and_then(|s| s.observed_generation) == kt.metadata.generation;
        let ready = kt.status.as_ref().and_then(|s| ready_of(&s.conditions)).is_some_and(|(s, _, _)| s == "True");
        if done && current && ready && kt.status.as_ref().is_some_and(|s| s.replicas == Some(3) && s.reassignment.is_none()) {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(120), "RF 3 not reached: {parts:?} {:?}\n{}", kt.status, op.log_tail(60));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    wait_config(&admin, "payments", "min.insync.replicas", "2", Duration::from_secs(10)).await;
    println!("PASS RF 2 -> 3: every partition has 3 replicas in sync; progress seen in status: {progress_seen:?}");

    // Out-of-band drift is reverted within one resync period.
    let drift =
        ConfigAlteration { resource: ConfigResource::topic("orders"), changes: vec![("retention.ms".into(), AlterOp::Set("1000".into()))] };
    for outcome in admin.incremental_alter_configs(&[drift], false).await.expect("drift") {
        outcome.result.expect("drift applied");
    }
    wait_config(&admin, "orders", "retention.ms", "1000", Duration::from_secs(10)).await;
    let drifted_at = Instant::now();
    wait_for("drift reverted", Duration::from_secs(RESYNC_SECONDS + 5), || {
        let admin = &admin;
        async move { (configs(admin, "orders", &["retention.ms"]).await.get("retention.ms")? == "7200000").then_some(()) }
    })
    .await;
    println!("PASS drift: retention.ms set to 1000 out of band, reverted after {:?} (resync {RESYNC_SECONDS}s)", drifted_at.elapsed());

    // A second resource for the same topic gets ResourceConflict; the first keeps it.
    apply_json::<KafkaTopic>(&client, NS, topic("payments-twin", json!({"topicName": "payments", "partitions": 6, "replicas": 1})))
        .await
        .expect("apply twin");
    let twin = wait_topic(&client, NS, "payments-twin", false, Some("ResourceConflict"), READY_WAIT, &op).await;
    let (_, _, message) = twin.status.as_ref().and_then(|s| ready_of(&s.conditions)).expect("condition");
    assert!(message.contains("payments"), "{message}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        metadata(&admin, "payments").await.topic("payments").expect("payments").partitions.iter().all(|p| p.replicas.len() == 3),
        "the twin changed nothing"
    );
    wait_topic(&client, NS, "payments", true, None, READY_WAIT, &op).await;
    println!("PASS conflict: {message}");
    // Deleting the twin leaves the topic alone.
    topics.delete("payments-twin", &DeleteParams::default()).await.expect("delete twin");
    wait_for("twin gone", READY_WAIT, || {
        let topics = topics.clone();
        async move { topics.get_opt("payments-twin").await.ok()?.is_none().then_some(()) }
    })
    .await;
    assert!(exists(&admin, "payments").await, "deleting the conflicting twin must not delete the topic");

    // Pause: a spec change waits in the resource while paused and lands when the pause ends;
    // deleting a paused resource leaves its topic in Kafka.
    apply_json::<KafkaTopic>(&client, NS, topic("held", json!({"partitions": 1, "config": {"retention.ms": 3600000}})))
        .await
        .expect("apply held");
    wait_topic(&client, NS, "held", true, None, READY_WAIT, &op).await;
    set_paused(&topics, "held", true).await;
    let edited = apply_json::<KafkaTopic>(&client, NS, topic("held", json!({"partitions": 1, "config": {"retention.ms": 7200000}})))
        .await
        .expect("edit paused");
    wait_paused(&topics, "held", edited.metadata.generation).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        configs(&admin, "held", &["retention.ms"]).await.get("retention.ms").map(String::as_str),
        Some("3600000"),
        "a paused topic was changed"
    );
    set_paused(&topics, "held", false).await;
    wait_config(&admin, "held", "retention.ms", "7200000", READY_WAIT).await;
    let resumed = wait_topic(&client, NS, "held", true, None, READY_WAIT, &op).await;
    assert!(
        resumed.status.expect("status").conditions.iter().all(|c| c.type_ != "ReconciliationPaused"),
        "the paused condition is cleared"
    );
    set_paused(&topics, "held", true).await;
    wait_paused(&topics, "held", None).await;
    topics.delete("held", &DeleteParams::default()).await.expect("delete held");
    wait_for("held resource gone", READY_WAIT, || {
        let topics = topics.clone();
        async move { topics.get_opt("held").await.ok()?.is_none().then_some(()) }
    })
    .await;
    assert!(exists(&admin, "held").await, "deleting a paused resource must not delete its topic");
    println!("PASS pause: edit held back while paused, applied on resume; deleting while paused keeps the topic");

    // Deletion: the topic goes with its resource, except under retain or when unmanaged.
    apply_json::<KafkaTopic>(&client, NS, topic("kept", json!({"partitions": 1, "deletionPolicy": "retain"}))).await.expect("apply kept");
    apply_json::<KafkaTopic>(&client, NS, topic("detached", json!({"partitions": 1}))).await.expect("apply detached");
    wait_topic(&client, NS, "kept", true, None, READY_WAIT, &op).await;
    let detached = wait_topic(&client, NS, "detached", true, None, READY_WAIT, &op).await;
    assert!(detached.metadata.finalizers.iter().flatten().any(|f| f == "kafka.gregor.dev/finalizer"));
    let annotate = json!({"metadata": {"annotations": {"kafka.gregor.dev/managed": "false"}}});
    topics.patch("detached", &PatchParams::default(), &Patch::Merge(&annotate)).await.expect("detach");
    wait_topic(&client, NS, "detached", true, Some("Unmanaged"), READY_WAIT, &op).await;
    for name in ["orders", "kept", "detached"] {
        topics.delete(name, &DeleteParams::default()).await.expect("delete");
    }
    for name in ["orders", "kept", "detached"] {
        wait_for(&format!("{name} resource gone"), READY_WAIT, || {
            let topics = topics.clone();
            async move { topics.get_opt(name).await.ok()?.is_none().then_some(()) }
        })
        .await;
    }
    wait_for("orders deleted in Kafka", READY_WAIT, || {
        let admin = &admin;
        async move { (!exists(admin, "orders").await).then_some(()) }
    })
    .await;
    assert!(exists(&admin, "kept").await, "retain keeps the topic");
    assert!(exists(&admin, "detached").await, "an unmanaged resource never deletes its topic");
    println!("PASS deletion: orders deleted in Kafka; kept (retain) and detached (managed=false) stay");

    let log = std::fs::read_to_string(&op.log).unwrap_or_default();
    assert!(!log.contains("panicked"), "operator panicked:\n{}", op.log_tail(80));
    drop(op);
}
