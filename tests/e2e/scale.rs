//! Day-2 operations on a KafkaCluster, with the real operator binary, the test world's control
//! plane and real brokers:
//! - adding a broker starts only the new pod: no running pod is restarted;
//! - removing a broker that still hosts partition replicas is refused (Ready=False,
//!   ScaleDownBlocked, and a Warning Event) and the StatefulSet keeps its size; once the replicas are gone the
//!   scale-down proceeds, and the removed broker leaves Kafka's registry;
//! - cordoning a node moves its broker through the safe roll (with an Event), and only it;
//! - growing a pool's storage grows every claim and re-creates the StatefulSet with the new
//!   claim template, restarting nobody;
//! - pause-reconciliation holds a config change back until the pause is lifted;
//! - a dynamic key dropped from the spec goes back to Kafka's default without a restart.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::support::*;
use gregor::api::KafkaCluster;
use gregor::kafka::ops::configs::{ConfigResource, ConfigSource};
use gregor_world::World;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{Node, PersistentVolumeClaim, Pod};
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

const NS: &str = "e2e-scale";
const CLUSTER: &str = "grow";
const WAIT: Duration = Duration::from_secs(180);

/// One controller and `brokers` brokers (ids from 100) with `size` volumes, plain listener, and
/// no automatic rebalance on scaling.
fn cluster_sized(brokers: i32, size: &str, config: serde_json::Value) -> serde_json::Value {
    json!({
        "apiVersion": "kafka.gregor.dev/v1alpha1",
        "kind": "KafkaCluster",
        "metadata": {"name": CLUSTER, "namespace": NS},
        "spec": {
            "version": "4.4.0",
            "nodePools": [
                {"name": "controllers", "roles": ["controller"], "replicas": 1,
                 "storage": {"type": "persistentClaim", "size": "1Gi"}, "jvmOptions": {"heap": "192Mi"}},
                {"name": "brokers", "roles": ["broker"], "replicas": brokers, "nodeIdStart": 100,
                 "storage": {"type": "persistentClaim", "size": size}, "jvmOptions": {"heap": "256Mi"}}
            ],
            "listeners": [{"name": "plain", "port": 9092, "type": "internal", "tls": false}],
            // These tests cover the manual path: with onScale (the default) a blocked scale-down
            // drains itself (tests/e2e/rebalance.rs).
            "rebalance": {"onScale": false},
            "config": config
        }
    })
}

fn cluster(brokers: i32, config: serde_json::Value) -> serde_json::Value {
    cluster_sized(brokers, "1Gi", config)
}

/// Pod name → uid, for every pod of the cluster.
async fn pod_uids(client: &kube::Client) -> BTreeMap<String, String> {
    cluster_pods(client, NS, CLUSTER)
        .await
        .into_iter()
        .map(|p| (p.metadata.name.unwrap_or_default(), p.metadata.uid.unwrap_or_default()))
        .collect()
}

async fn broker_replicas(sts: &Api<StatefulSet>) -> Option<i32> {
    sts.get(&format!("{CLUSTER}-brokers")).await.ok()?.spec?.replicas
}

/// Waits for Ready=False with `reason` on the cluster's current generation; returns the message.
async fn wait_not_ready(api: &Api<KafkaCluster>, reason: &str) -> String {
    wait_for(&format!("Ready=False/{reason}"), WAIT, || {
        let api = api.clone();
        async move {
            let kc = api.get(CLUSTER).await.ok()?;
            let current = kc.status.as_ref()?.observed_generation == kc.metadata.generation;
            let (status, why, message) = ready(&kc)?;
            (current && status == "False" && why == reason).then_some(message)
        }
    })
    .await
}

async fn retention(admin: &gregor::kafka::Client, broker: i32) -> Option<String> {
    let described = admin.describe_configs(&[ConfigResource::broker(broker)], Some(&["log.retention.ms"])).await.ok()?;
    let entries = described.into_iter().next()?.entries.ok()?;
    entries.into_iter().find(|e| e.name == "log.retention.ms").and_then(|e| e.value)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_up_scale_down_and_pause() {
    let Some(_serial) = crate::support::world_test("e2e::scale::scale_up_scale_down_and_pause").await else { return };
    let world = World::start().await.expect("world");
    let client = world.client();
    install_crds(&client).await;
    create_namespace(&client, NS).await;
    let op = Operator::start_with_chart_rbac(&world, "scale", &[]).await;
    let api: Api<KafkaCluster> = Api::namespaced(client.clone(), NS);
    let sts: Api<StatefulSet> = Api::namespaced(client.clone(), NS);

    apply_cluster(&client, NS, cluster(3, json!({}))).await;
    wait_cluster_ready(&client, NS, CLUSTER, WAIT, &op).await;
    let before = pod_uids(&client).await;
    assert_eq!(before.len(), 4, "{before:?}");

    // Scale up: broker 103 joins; nobody else restarts.
    apply_cluster(&client, NS, cluster(4, json!({}))).await;
    let kc = wait_cluster_ready(&client, NS, CLUSTER, WAIT, &op).await;
    let four = admin(&world, NS, CLUSTER, &[100, 101, 102, 103]);
    wait_for("broker 103 registered and unfenced", WAIT, || {
        let admin = &four;
        async move { admin.describe_cluster().await.ok()?.broker(103).filter(|b| !b.fenced).map(|_| ()) }
    })
    .await;
    let after = pod_uids(&client).await;
    for (pod, uid) in &before {
        assert_eq!(after.get(pod), Some(uid), "{pod} was restarted by the scale-up");
    }
    assert!(after.contains_key(&format!("{CLUSTER}-brokers-103")), "{after:?}");
    let pool = kc.status.as_ref().and_then(|s| s.node_pools.iter().find(|p| p.name == "brokers")).expect("brokers pool status");
    assert_eq!(pool.node_ids, vec![100, 101, 102, 103]);
    println!("PASS scale-up: broker 103 registered, the 4 running pods kept their uids");

    // Scale down while broker 103 hosts replicas: refused, nothing removed.
    create_rf3_topic(&four, "spread", 8).await;
    apply_cluster(&client, NS, cluster(3, json!({}))).await;
    let message = wait_not_ready(&api, "ScaleDownBlocked").await;
    assert!(message.contains("103"), "{message}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(broker_replicas(&sts).await, Some(4), "the StatefulSet must keep broker 103");
    assert_eq!(pod_uids(&client).await, after, "a refused scale-down touches no pod");
    let events: Api<Event> = Api::namespaced(client.clone(), NS);
    let warned = wait_for("a ScaleDownBlocked Warning event", Duration::from_secs(30), || {
        let events = events.clone();
        async move {
            let list = events.list(&Default::default()).await.ok()?;
            list.items
                .into_iter()
                .find(|e| e.reason.as_deref() == Some("ScaleDownBlocked") && e.type_.as_deref() == Some("Warning"))
                .map(|e| e.note.unwrap_or_default())
        }
    })
    .await;
    assert!(warned.contains("103"), "{warned}");
    println!("PASS scale-down refused: {message} (Warning event)");

    // Without replicas on 103 the scale-down proceeds; its PVC stays, and Kafka forgets it.
    let deleted = four.delete_topics(&["spread".to_owned()]).await.expect("delete topic");
    for (name, result) in deleted {
        result.unwrap_or_else(|e| panic!("delete {name}: {e}"));
    }
    wait_cluster_ready(&client, NS, CLUSTER, WAIT, &op).await;
    assert_eq!(broker_replicas(&sts).await, Some(3));
    wait_for("pod brokers-103 gone", WAIT, || {
        let client = client.clone();
        async move { (!pod_uids(&client).await.contains_key(&format!("{CLUSTER}-brokers-103"))).then_some(()) }
    })
    .await;
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), NS);
    let kept: Vec<String> = pvcs
        .list(&Default::default())
        .await
        .expect("pvcs")
        .items
        .into_iter()
        .filter_map(|p| p.metadata.name)
        .filter(|n| n.ends_with("brokers-103"))
        .collect();
    assert_eq!(kept.len(), 1, "the removed broker's PVC is kept: {kept:?}");
    let remaining = admin(&world, NS, CLUSTER, &[100, 101, 102]);
    wait_for("broker 103 unregistered", WAIT, || {
        let admin = &remaining;
        async move { admin.describe_cluster().await.ok()?.broker(103).is_none().then_some(()) }
    })
    .await;
    let survivors = pod_uids(&client).await;
    for (pod, uid) in &survivors {
        assert_eq!(before.get(pod), Some(uid), "{pod} was restarted by the scale-down");
    }
    println!("PASS scale-down: StatefulSet at 3, broker 103 unregistered, its PVC {kept:?} kept, no restart");

    // Drain: cordoning the node of broker 101 moves the pods on that node (through the safe
    // roll, one at a time, with an Event saying why) and only those.
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    let node_of = |pod: Pod| pod.spec.and_then(|s| s.node_name);
    let node = node_of(pods.get(&format!("{CLUSTER}-brokers-101")).await.expect("pod")).expect("scheduled");
    let mut on_node = Vec::new();
    for name in survivors.keys() {
        if node_of(pods.get(name).await.expect("pod")).as_deref() == Some(node.as_str()) {
            on_node.push(name.clone());
        }
    }
    let nodes: Api<Node> = Api::all(client.clone());
    let cordon = |on: bool| json!({"spec": {"unschedulable": on}});
    nodes.patch(&node, &PatchParams::default(), &Patch::Merge(&cordon(true))).await.expect("cordon");
    wait_for("the pods of the cordoned node re-created elsewhere", WAIT, || {
        let (pods, on_node, node, survivors) = (pods.clone(), on_node.clone(), node.clone(), survivors.clone());
        async move {
            for name in &on_node {
                let pod = pods.get(name).await.ok()?;
                let moved = pod.metadata.uid.as_ref() != survivors.get(name) && pod.spec?.node_name.is_some_and(|n| n != node);
                if !moved {
                    return None;
                }
            }
            Some(())
        }
    })
    .await;
    wait_cluster_ready(&client, NS, CLUSTER, WAIT, &op).await;
    nodes.patch(&node, &PatchParams::default(), &Patch::Merge(&cordon(false))).await.expect("uncordon");
    let now = pod_uids(&client).await;
    for (pod, uid) in survivors.iter().filter(|(pod, _)| !on_node.contains(pod)) {
        assert_eq!(now.get(pod), Some(uid), "{pod} was restarted by the drain of {node}");
    }
    let notes: Vec<String> = events
        .list(&Default::default())
        .await
        .expect("events")
        .items
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some("RestartingNode"))
        .filter_map(|e| e.note)
        .collect();
    assert!(notes.iter().any(|n| n.contains("101") && n.contains("cordoned")), "{notes:?}");
    let survivors = now;
    println!(
        "PASS drain: {node} cordoned, {on_node:?} moved off it, nobody else restarted; event {:?}",
        notes.iter().find(|n| n.contains("101"))
    );

    // Storage growth: every broker claim grows to 2Gi, the StatefulSet is re-created with the
    // new claim template, and no pod restarts.
    let sts_uid = sts.get(&format!("{CLUSTER}-brokers")).await.expect("sts").metadata.uid;
    apply_cluster(&client, NS, cluster_sized(3, "2Gi", json!({}))).await;
    wait_for("every broker claim at 2Gi", WAIT, || {
        let pvcs = pvcs.clone();
        async move {
            let mut all = true;
            for id in 100..103 {
                let pvc = pvcs.get(&format!("data-{CLUSTER}-brokers-{id}")).await.ok()?;
                let capacity = pvc.status.and_then(|s| s.capacity).and_then(|c| c.get("storage").cloned());
                all &= capacity.is_some_and(|q| q.0 == "2Gi");
            }
            all.then_some(())
        }
    })
    .await;
    let kc = wait_cluster_ready(&client, NS, CLUSTER, WAIT, &op).await;
    let recreated = wait_for("the brokers' StatefulSet re-created with a 2Gi template", WAIT, || {
        let sts = sts.clone();
        async move {
            let live = sts.get(&format!("{CLUSTER}-brokers")).await.ok()?;
            let template = live
                .spec
                .as_ref()?
                .volume_claim_templates
                .as_ref()?
                .first()?
                .spec
                .as_ref()?
                .resources
                .as_ref()?
                .requests
                .as_ref()?
                .get("storage")?
                .0
                .clone();
            (template == "2Gi" && live.metadata.deletion_timestamp.is_none()).then_some(live)
        }
    })
    .await;
    assert_ne!(recreated.metadata.uid, sts_uid, "a new StatefulSet");
    assert_eq!(pod_uids(&client).await, survivors, "growing storage restarts nobody");
    assert_eq!(
        kc.status.as_ref().and_then(|s| s.node_pools.iter().find(|p| p.name == "brokers")).map(|p| p.node_ids.clone()),
        Some(vec![100, 101, 102])
    );
    println!("PASS storage growth: 3 claims at 2Gi, StatefulSet re-created, no pod restarted");

    // Pause: a dynamic config change waits; lifting the pause applies it.
    set_paused(&api, CLUSTER, true).await;
    wait_paused(&api, CLUSTER, None).await;
    let edited = apply_cluster(&client, NS, cluster_sized(3, "2Gi", json!({"log.retention.ms": 7200000}))).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_ne!(retention(&remaining, 100).await.as_deref(), Some("7200000"), "a paused cluster was changed");
    let kc = api.get(CLUSTER).await.expect("cluster");
    assert_ne!(
        kc.status.as_ref().and_then(|s| s.observed_generation),
        edited.metadata.generation,
        "a paused cluster does not claim the new generation"
    );
    set_paused(&api, CLUSTER, false).await;
    wait_cluster_ready(&client, NS, CLUSTER, WAIT, &op).await;
    wait_for("log.retention.ms=7200000 on broker 100", WAIT, || {
        let admin = &remaining;
        async move { (retention(admin, 100).await? == "7200000").then_some(()) }
    })
    .await;
    assert_eq!(pod_uids(&client).await, survivors, "a dynamic change restarts nobody");
    println!("PASS pause: log.retention.ms held back while paused, applied after");

    // Dropping the key from the spec deletes the cluster-wide dynamic value: Kafka's default is
    // back, without a restart.
    apply_cluster(&client, NS, cluster_sized(3, "2Gi", json!({}))).await;
    wait_cluster_ready(&client, NS, CLUSTER, WAIT, &op).await;
    let reverted = wait_for("log.retention.ms no longer 7200000 on broker 100", WAIT, || {
        let admin = &remaining;
        async move {
            let described = admin.describe_configs(&[ConfigResource::broker(100)], Some(&["log.retention.ms"])).await.ok()?;
            let entry = described.into_iter().next()?.entries.ok()?.into_iter().find(|e| e.name == "log.retention.ms")?;
            let gone = entry.source != ConfigSource::DynamicDefaultBroker && entry.value.as_deref() != Some("7200000");
            gone.then_some((entry.value, entry.source))
        }
    })
    .await;
    assert_eq!(pod_uids(&client).await, survivors, "removing a dynamic key restarts nobody");
    println!("PASS removed key: log.retention.ms back to {reverted:?} (Kafka's default), no restart");

    let log = std::fs::read_to_string(&op.log).unwrap_or_default();
    assert!(!log.contains("panicked"), "operator panicked:\n{}", op.log_tail(80));
    drop(op);
}

/// Issue #12 item 2: a refused scale-down stays refused across operator restarts. With a
/// `ScaleDownBlocked` spec in place, the operator is SIGKILLed and started again three times,
/// then once more with the watches behind its child caches started 8 s late (so the KafkaCluster
/// arrives long before any StatefulSet is cached). The StatefulSet keeps its replicas and no
/// broker pod goes; the refusal is reported again each time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item2_refused_scale_down_survives_operator_restarts() {
    let Some(_serial) = crate::support::world_test("e2e::scale::item2_refused_scale_down_survives_operator_restarts").await else { return };
    let world = World::start().await.expect("world");
    let client = world.client();
    install_crds(&client).await;
    create_namespace(&client, NS).await;
    let mut op = Operator::start_with_chart_rbac(&world, "before", &[]).await;
    let api: Api<KafkaCluster> = Api::namespaced(client.clone(), NS);
    let sts: Api<StatefulSet> = Api::namespaced(client.clone(), NS);

    apply_cluster(&client, NS, cluster(3, json!({}))).await;
    wait_cluster_ready(&client, NS, CLUSTER, WAIT, &op).await;
    let brokers = admin(&world, NS, CLUSTER, &[100, 101, 102]);
    create_rf3_topic(&brokers, "pinned", 3).await;
    apply_cluster(&client, NS, cluster(2, json!({}))).await;
    wait_not_ready(&api, "ScaleDownBlocked").await;
    let pods = pod_uids(&client).await;
    assert_eq!(pods.len(), 4, "{pods:?}");

    let restarts: [(&str, &[&str]); 4] =
        [("restart-1", &[]), ("restart-2", &[]), ("restart-3", &[]), ("delayed-caches", &["--debug-delay-child-watches-ms=8000"])];
    for (name, args) in restarts {
        op.kill().await;
        // The refusal must be written again by the new operator: clear the old one first.
        let reset = json!({"status": {"conditions": []}});
        api.patch_status(CLUSTER, &PatchParams::default(), &Patch::Merge(&reset)).await.expect("clear conditions");
        op = Operator::start_with_chart_rbac(&world, name, args).await;
        let message = wait_not_ready(&api, "ScaleDownBlocked").await;
        // Past the delayed watches, and a few reconciles more.
        tokio::time::sleep(Duration::from_secs(if args.is_empty() { 4 } else { 12 })).await;
        assert_eq!(broker_replicas(&sts).await, Some(3), "{name}: the StatefulSet must keep broker 102");
        assert_eq!(pod_uids(&client).await, pods, "{name}: no broker pod may go or restart");
        println!("PASS {name}: scale-down still refused ({message})");
    }
}
