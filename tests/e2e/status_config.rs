//! Issue #12, items 10, 13 and 14: Kafka failures reach the status, dynamic configuration keeps
//! to the keys the operator set and applies changed sensitive values, and node ids survive a
//! lost status. Kafka is judged with Kafka's own tools (`kafka-configs`, `kafka-metadata-quorum`).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::support::*;
use gregor::api::KafkaCluster;
use gregor_world::{KafkaTool, World};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::events::v1::Event;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

const CONFIG_COMMAND: &str = "org.apache.kafka.tools.ConfigCommand";
const TOOL_TIMEOUT: Duration = Duration::from_secs(90);
const UP: Duration = Duration::from_secs(300);

/// One combined node (id 0), a plain listener, the given `spec.config`.
fn combined(ns: &str, name: &str, config: serde_json::Value) -> serde_json::Value {
    json!({
        "apiVersion": "kafka.gregor.dev/v1alpha1",
        "kind": "KafkaCluster",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "version": "4.4.0",
            "nodePools": [{"name": "combined", "roles": ["controller", "broker"], "replicas": 1,
                           "storage": {"type": "persistentClaim", "size": "1Gi"}, "jvmOptions": {"heap": "256Mi"}}],
            "listeners": [{"name": "plain", "port": 9092, "type": "internal", "tls": false}],
            "config": config
        }
    })
}

fn combined_bootstrap(ns: &str, name: &str) -> String {
    format!("{name}-combined-0.{name}-kafka-brokers.{ns}.svc:9092")
}

async fn start(ns: &str, name: &str, resync: &str) -> (World, Client, Operator) {
    world_with_operator(ns, name, &["--resync-seconds", resync]).await
}

/// The cluster-wide broker defaults as `kafka-configs --describe --entity-default` prints them:
/// key -> value (`null` for a sensitive one).
async fn cluster_defaults(tool: &KafkaTool, bootstrap: &str) -> BTreeMap<String, String> {
    let out = tool
        .run_ok(
            CONFIG_COMMAND,
            &["--bootstrap-server", bootstrap, "--describe", "--entity-type", "brokers", "--entity-default"],
            None,
            TOOL_TIMEOUT,
        )
        .await
        .expect("kafka-configs --describe --entity-default");
    parse_config_lines(&out.stdout)
}

/// `  key=value sensitive=... synonyms={...}` lines.
fn parse_config_lines(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| {
            let l = l.trim();
            let (kv, _) = l.split_once(" sensitive=")?;
            let (k, v) = kv.split_once('=')?;
            Some((k.to_owned(), v.to_owned()))
        })
        .collect()
}

/// Waits for Ready=`status` with `reason` at the current generation; returns the message.
async fn wait_condition(api: &Api<KafkaCluster>, name: &str, status: &str, reason: &str, timeout: Duration, op: &Operator) -> String {
    let what = format!("Ready={status} {reason}");
    let start = std::time::Instant::now();
    loop {
        if let Ok(kc) = api.get(name).await {
            let current = kc.status.as_ref().and_then(|s| s.observed_generation) == kc.metadata.generation;
            if let Some((s, r, m)) = ready(&kc)
                && current
                && s == status
                && r == reason
            {
                return m;
            }
            assert!(start.elapsed() < timeout, "timed out after {timeout:?} waiting for {what}: {:?}\n{}", kc.status, op.log_tail(60));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn condition(kc: &KafkaCluster, type_: &str) -> Option<(String, String)> {
    let c = kc.status.as_ref()?.conditions.iter().find(|c| c.type_ == type_)?;
    Some((c.status.clone(), c.reason.clone()))
}

/// A Warning Event of `reason` whose note contains `needle`.
async fn warning_event(client: &Client, ns: &str, reason: &str, needle: &str) -> String {
    let events: Api<Event> = Api::namespaced(client.clone(), ns);
    wait_for(&format!("a {reason} Warning event naming {needle}"), Duration::from_secs(60), || {
        let events = events.clone();
        async move {
            let list = events.list(&Default::default()).await.ok()?;
            list.items
                .into_iter()
                .filter(|e| e.reason.as_deref() == Some(reason) && e.type_.as_deref() == Some("Warning"))
                .map(|e| e.note.unwrap_or_default())
                .find(|n| n.contains(needle))
        }
    })
    .await
}

/// Item 10: a Ready cluster whose Kafka stops answering (its JVM SIGSTOPped) goes Ready=False,
/// reason KafkaUnavailable (progress, not stalled), and Ready=True again once Kafka answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn item10_kafka_unreachable_sets_ready_false() {
    let Some(_serial) = crate::support::world_test("e2e::status_config::item10_kafka_unreachable_sets_ready_false").await else {
        return;
    };
    const NS: &str = "e2e-item10-down";
    let (_world, client, op) = start(NS, "down", "5").await;
    apply_cluster(&client, NS, combined(NS, "down", json!({}))).await;
    wait_cluster_ready(&client, NS, "down", UP, &op).await;
    let api: Api<KafkaCluster> = Api::namespaced(client.clone(), NS);

    assert!(signal_pod(NS, "down-combined-0", "STOP") > 0, "found the node's processes");
    let message = wait_condition(&api, "down", "False", "KafkaUnavailable", Duration::from_secs(120), &op).await;
    let kc = api.get("down").await.expect("cluster");
    assert_eq!(condition(&kc, "Stalled").map(|c| c.0).as_deref(), Some("False"), "Kafka being away is not a stall: {:?}", kc.status);
    assert_eq!(condition(&kc, "Reconciling").map(|c| c.0).as_deref(), Some("True"), "{:?}", kc.status);
    println!("PASS item10 Kafka stopped: Ready=False KafkaUnavailable: {message}");

    assert!(signal_pod(NS, "down-combined-0", "CONT") > 0);
    wait_cluster_ready(&client, NS, "down", UP, &op).await;
    println!("PASS item10 Kafka answers again: Ready=True");
    drop(op);
}

/// Item 10: a dynamic value Kafka refuses (`num.io.threads` may at most double on a running
/// broker) reaches Ready=False ConfigRejected and a Warning Event, both naming the key and
/// Kafka's error; the other changed key is still applied cluster-wide.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn item10_rejected_dynamic_config_reaches_status_and_event() {
    let Some(_serial) = crate::support::world_test("e2e::status_config::item10_rejected_dynamic_config_reaches_status_and_event").await
    else {
        return;
    };
    const NS: &str = "e2e-item10-rejected";
    let (world, client, op) = start(NS, "rej", "10").await;
    apply_cluster(&client, NS, combined(NS, "rej", json!({}))).await;
    wait_cluster_ready(&client, NS, "rej", UP, &op).await;
    let api: Api<KafkaCluster> = Api::namespaced(client.clone(), NS);
    let tool = KafkaTool::new(&world, "4.4.0").expect("kafka tool");
    let bootstrap = combined_bootstrap(NS, "rej");

    apply_cluster(&client, NS, combined(NS, "rej", json!({"num.io.threads": "100", "log.retention.ms": "12345678"}))).await;
    let message = wait_condition(&api, "rej", "False", "ConfigRejected", Duration::from_secs(120), &op).await;
    assert!(message.contains("num.io.threads") && message.contains("double"), "names the key and Kafka's error: {message}");
    assert!(!message.contains("log.retention.ms"), "the accepted key is not reported: {message}");
    let kc = api.get("rej").await.expect("cluster");
    assert_eq!(condition(&kc, "Stalled").map(|c| c.0).as_deref(), Some("True"), "a refused value needs a person: {:?}", kc.status);
    let note = warning_event(&client, NS, "ConfigRejected", "num.io.threads").await;
    println!("PASS item10 rejected value: Ready=False ConfigRejected: {message}; Warning event: {note}");

    let defaults = cluster_defaults(&tool, &bootstrap).await;
    assert_eq!(defaults.get("log.retention.ms").map(String::as_str), Some("12345678"), "the other key applies: {defaults:?}");
    assert!(!defaults.contains_key("num.io.threads"), "{defaults:?}");
    println!("PASS item10 the accepted key applied cluster-wide: {defaults:?}");

    // Fixing the spec clears the condition.
    apply_cluster(&client, NS, combined(NS, "rej", json!({"log.retention.ms": "12345678"}))).await;
    wait_cluster_ready(&client, NS, "rej", UP, &op).await;
    println!("PASS item10 fixed spec: Ready=True");
    drop(op);
}

/// Item 13: a cluster-wide default an admin set with kafka-configs survives a spec change that
/// removes a key the operator had set, and that key goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn item13_admin_set_default_survives() {
    let Some(_serial) = crate::support::world_test("e2e::status_config::item13_admin_set_default_survives").await else { return };
    const NS: &str = "e2e-item13-admin";
    let (world, client, op) = start(NS, "adm", "10").await;
    apply_cluster(&client, NS, combined(NS, "adm", json!({}))).await;
    wait_cluster_ready(&client, NS, "adm", UP, &op).await;
    let tool = KafkaTool::new(&world, "4.4.0").expect("kafka tool");
    let bootstrap = combined_bootstrap(NS, "adm");

    // The operator sets log.retention.ms cluster-wide (a dynamic key: no restart).
    apply_cluster(&client, NS, combined(NS, "adm", json!({"log.retention.ms": "7200000"}))).await;
    wait_for("log.retention.ms set cluster-wide", Duration::from_secs(120), || {
        let (tool, bootstrap) = (&tool, &bootstrap);
        async move { (cluster_defaults(tool, bootstrap).await.get("log.retention.ms")? == "7200000").then_some(()) }
    })
    .await;
    wait_cluster_ready(&client, NS, "adm", UP, &op).await;

    // An admin sets a default of their own with Kafka's tool.
    tool.run_ok(
        CONFIG_COMMAND,
        &[
            "--bootstrap-server",
            &bootstrap,
            "--alter",
            "--entity-type",
            "brokers",
            "--entity-default",
            "--add-config",
            "log.cleaner.backoff.ms=16000",
        ],
        None,
        TOOL_TIMEOUT,
    )
    .await
    .expect("kafka-configs --alter --entity-default");
    let defaults = cluster_defaults(&tool, &bootstrap).await;
    assert_eq!(defaults.get("log.cleaner.backoff.ms").map(String::as_str), Some("16000"), "{defaults:?}");

    // The spec drops log.retention.ms and asks for log.retention.bytes.
    apply_cluster(&client, NS, combined(NS, "adm", json!({"log.retention.bytes": "1000000000"}))).await;
    let defaults = wait_for("log.retention.bytes set cluster-wide", Duration::from_secs(120), || {
        let (tool, bootstrap) = (&tool, &bootstrap);
        async move {
            let d = cluster_defaults(tool, bootstrap).await;
            (d.get("log.retention.bytes").map(String::as_str) == Some("1000000000")).then_some(d)
        }
    })
    .await;
    wait_cluster_ready(&client, NS, "adm", UP, &op).await;
    let after = cluster_defaults(&tool, &bootstrap).await;
    assert!(
        !defaults.contains_key("log.retention.ms") && !after.contains_key("log.retention.ms"),
        "the operator's removed key goes: {after:?}"
    );
    assert_eq!(after.get("log.cleaner.backoff.ms").map(String::as_str), Some("16000"), "the admin's key stays: {after:?}");
    println!("PASS item13 admin's default survives, the operator's removed key went: {after:?}");
    drop(op);
}

/// Item 13: a changed sensitive value (`delegation.token.secret.key`, a PASSWORD key Kafka
/// describes as null, read-only) is applied: the node restarts onto it, rather than being
/// marked current because the null answer cannot be compared. The status never holds the value.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn item13_changed_sensitive_value_is_applied() {
    let Some(_serial) = crate::support::world_test("e2e::status_config::item13_changed_sensitive_value_is_applied").await else {
        return;
    };
    const NS: &str = "e2e-item13-sensitive";
    const KEY: &str = "delegation.token.secret.key";
    let (world, client, op) = start(NS, "sec", "10").await;
    apply_cluster(&client, NS, combined(NS, "sec", json!({KEY: "first-secret-value-0123456789"}))).await;
    wait_cluster_ready(&client, NS, "sec", UP, &op).await;
    let tool = KafkaTool::new(&world, "4.4.0").expect("kafka tool");
    let bootstrap = combined_bootstrap(NS, "sec");

    // Kafka's own tool shows why it cannot be compared: the running value is hidden.
    let out = tool
        .run_ok(
            CONFIG_COMMAND,
            &["--bootstrap-server", &bootstrap, "--describe", "--entity-type", "brokers", "--entity-name", "0", "--all"],
            None,
            TOOL_TIMEOUT,
        )
        .await
        .expect("kafka-configs --describe --all");
    let line = out.stdout.lines().find(|l| l.trim().starts_with(&format!("{KEY}="))).unwrap_or_default().to_owned();
    assert!(line.contains(&format!("{KEY}=null")) && line.contains("sensitive=true"), "{line}");

    let pods = cluster_pods(&client, NS, "sec").await;
    let before = pods.iter().find(|p| p.metadata.name.as_deref() == Some("sec-combined-0")).expect("pod");
    let (uid, hash) = (before.metadata.uid.clone().expect("uid"), config_hash(before));

    apply_cluster(&client, NS, combined(NS, "sec", json!({KEY: "second-secret-value-9876543210"}))).await;
    // Either way the pod ends up annotated with the new configuration: refreshed in place, or
    // re-created onto it.
    let pods_api: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(client.clone(), NS);
    let after = wait_for("the node on the new configuration", Duration::from_secs(300), || {
        let (pods_api, hash) = (pods_api.clone(), hash.clone());
        async move {
            let p = pods_api.get("sec-combined-0").await.ok()?;
            (config_hash(&p) != hash && p.metadata.deletion_timestamp.is_none()).then_some(p)
        }
    })
    .await;
    assert_ne!(
        after.metadata.uid.as_deref(),
        Some(uid.as_str()),
        "the changed sensitive value must be applied (a restart), not marked current"
    );
    let kc = wait_cluster_ready(&client, NS, "sec", UP, &op).await;
    let status = serde_json::to_string(&kc.status).expect("status json");
    assert!(!status.contains("second-secret-value") && !status.contains("first-secret-value"), "no value in clear: {status}");
    println!("PASS item13 changed sensitive value applied: the node restarted onto it ({line})");
    drop(op);
}

fn config_hash(p: &k8s_openapi::api::core::v1::Pod) -> String {
    p.metadata.annotations.as_ref().and_then(|a| a.get("kafka.gregor.dev/config-hash")).cloned().unwrap_or_default()
}

/// Item 14: a Ready two-pool cluster whose status is lost (patched away) while its spec lists the
/// pools in another order keeps its node ids: recovered from the StatefulSets' ordinals, never
/// reassigned; no pod restarts, and Kafka reports the same node ids.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn item14_node_ids_recovered_from_statefulsets() {
    let Some(_serial) = crate::support::world_test("e2e::status_config::item14_node_ids_recovered_from_statefulsets").await else {
        return;
    };
    const NS: &str = "e2e-item14";
    let (world, client, op) = start(NS, "ids", "10").await;
    let controllers = json!({"name": "controllers", "roles": ["controller"], "replicas": 1,
        "storage": {"type": "persistentClaim", "size": "1Gi"}, "jvmOptions": {"heap": "192Mi"}});
    let brokers = json!({"name": "brokers", "roles": ["broker"], "replicas": 2,
        "storage": {"type": "persistentClaim", "size": "1Gi"}, "jvmOptions": {"heap": "256Mi"}});
    let cluster = |pools: serde_json::Value| {
        json!({"apiVersion": "kafka.gregor.dev/v1alpha1", "kind": "KafkaCluster", "metadata": {"name": "ids", "namespace": NS},
            "spec": {"version": "4.4.0", "nodePools": pools,
                     "listeners": [{"name": "plain", "port": 9092, "type": "internal", "tls": false}]}})
    };
    apply_cluster(&client, NS, cluster(json!([controllers.clone(), brokers.clone()]))).await;
    let kc = wait_cluster_ready(&client, NS, "ids", UP, &op).await;
    let ids_before = kc.status.as_ref().map(|s| s.node_pools.clone()).unwrap_or_default();
    let by_pool: BTreeMap<String, Vec<i32>> = ids_before.iter().map(|p| (p.name.clone(), p.node_ids.clone())).collect();
    assert_eq!(by_pool.get("controllers"), Some(&vec![0]), "{ids_before:?}");
    assert_eq!(by_pool.get("brokers"), Some(&vec![100, 101]), "{ids_before:?}");
    let uids = |pods: Vec<k8s_openapi::api::core::v1::Pod>| -> BTreeMap<String, String> {
        pods.into_iter().map(|p| (p.metadata.name.unwrap_or_default(), p.metadata.uid.unwrap_or_default())).collect()
    };
    let pods_before = uids(cluster_pods(&client, NS, "ids").await);
    assert_eq!(pods_before.len(), 3);

    // The GitOps source lists the pools the other way round (harmless while the status holds the
    // ids) ...
    apply_cluster(&client, NS, cluster(json!([brokers, controllers]))).await;
    wait_cluster_ready(&client, NS, "ids", UP, &op).await;
    // ... and the status is lost.
    let api: Api<KafkaCluster> = Api::namespaced(client.clone(), NS);
    api.patch_status("ids", &PatchParams::default(), &Patch::Merge(&json!({"status": null}))).await.expect("clear the status");
    let cleared = api.get("ids").await.expect("cluster");
    assert!(cleared.status.as_ref().is_none_or(|s| s.node_pools.is_empty() && s.cluster_id.is_none()), "{:?}", cleared.status);

    let kc = wait_for("the status written again, Ready", Duration::from_secs(180), || {
        let api = api.clone();
        async move {
            let kc = api.get("ids").await.ok()?;
            let s = kc.status.as_ref()?;
            let current = s.observed_generation == kc.metadata.generation;
            (current && !s.node_pools.is_empty() && ready(&kc)?.0 == "True").then_some(kc)
        }
    })
    .await;
    let mut ids_after = kc.status.as_ref().map(|s| s.node_pools.clone()).unwrap_or_default();
    ids_after.sort_by(|a, b| a.name.cmp(&b.name));
    let mut ids_sorted = ids_before.clone();
    ids_sorted.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(ids_after, ids_sorted, "node ids must be recovered, never reassigned");
    let sts: Api<StatefulSet> = Api::namespaced(client.clone(), NS);
    for (pool, start) in [("controllers", 0), ("brokers", 100)] {
        let s = sts.get(&format!("ids-{pool}")).await.expect("StatefulSet");
        let live = s.spec.and_then(|s| s.ordinals).and_then(|o| o.start).unwrap_or(0);
        assert_eq!(live, start, "StatefulSet ids-{pool} ordinals.start");
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(uids(cluster_pods(&client, NS, "ids").await), pods_before, "no pod may restart");

    // Kafka's own tool: the quorum still knows nodes 0, 100 and 101, and only those.
    let tool = KafkaTool::new(&world, "4.4.0").expect("kafka tool");
    let brokers = "ids-brokers-100.ids-kafka-brokers.e2e-item14.svc:9092";
    let out = tool
        .run_ok(
            gregor_world::kafka::classes::METADATA_QUORUM,
            &["--bootstrap-server", brokers, "describe", "--replication"],
            None,
            TOOL_TIMEOUT,
        )
        .await
        .expect("kafka-metadata-quorum describe --replication");
    let mut nodes: Vec<i32> = out.stdout.lines().skip(1).filter_map(|l| l.split_whitespace().next()?.parse().ok()).collect();
    nodes.sort_unstable();
    nodes.dedup();
    assert_eq!(nodes, vec![0, 100, 101], "{}", out.stdout);
    println!("PASS item14 node ids recovered after the status was lost: {ids_after:?}; Kafka's quorum: {nodes:?}");
    drop(op);
}
