//! Issue #12 item 11: GitOps health judged by the real judges, not a copy of their rules:
//! kstatus (`sigs.k8s.io/cli-utils`, as Flux's `wait` and kpt read it) and the README's Argo CD
//! health Lua (run on gopher-lua, as Argo CD runs it), both on live objects of every kind:
//! - a new small cluster reads InProgress/Progressing from the first status on, never Failed,
//!   until it is Ready, then Current/Healthy;
//! - a manual roll reads InProgress/Progressing, then Current/Healthy again;
//! - an invalid spec reads Failed/Degraded (a forbidden `spec.config` key);
//! - a KafkaTopic reads Current when Ready and Failed on a partition decrease;
//! - a KafkaUser reads Current when Ready and Failed on an invalid spec (a tls user).

use std::time::{Duration, Instant};

use crate::support::health::{Health, Recorder, health};
use crate::support::*;
use gregor::api::{KafkaCluster, KafkaTopic, KafkaUser};
use gregor_world::World;
use k8s_openapi::api::apps::v1::StatefulSet;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

const NS: &str = "health";
const CLUSTER: &str = "hc";

fn single_node() -> serde_json::Value {
    json!({
        "apiVersion": "kafka.gregor.dev/v1alpha1",
        "kind": "KafkaCluster",
        "metadata": {"name": CLUSTER, "namespace": NS},
        "spec": {
            "version": "4.4.0",
            "nodePools": [{"name": "combined", "roles": ["controller", "broker"], "replicas": 1,
                           "storage": {"type": "persistentClaim", "size": "1Gi"}, "jvmOptions": {"heap": "256Mi"}}],
            "listeners": [{"name": "plain", "port": 9092, "type": "internal", "tls": false}]
        }
    })
}

/// Ready=True for the object's current generation.
fn ready_now(h: &Health) -> bool {
    let o = &h.object;
    let current = o["status"]["observedGeneration"] == o["metadata"]["generation"];
    let ready = o["status"]["conditions"].as_array().is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"));
    current && ready
}

fn line(h: &Health) -> String {
    let conditions: Vec<String> = h.object["status"]["conditions"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .map(|c| {
                    format!(
                        "{}={}({})",
                        c["type"].as_str().unwrap_or("?"),
                        c["status"].as_str().unwrap_or("?"),
                        c["reason"].as_str().unwrap_or("")
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    format!("kstatus={} argocd={} [{}]", h.kstatus.status, h.argocd.status, conditions.join(" "))
}

/// Samples the object until `done`, asserting every sample with `each`; returns the samples.
async fn sample_until<K>(
    client: &Client,
    name: &str,
    what: &str,
    timeout: Duration,
    op: &Operator,
    mut done: impl FnMut(&Health, &[Health]) -> bool,
) -> Vec<Health>
where
    K: kube::Resource<DynamicType = ()>,
{
    let start = Instant::now();
    let mut seen: Vec<Health> = Vec::new();
    loop {
        let h = health::<K>(client, NS, name).await;
        let fresh = seen.last().is_none_or(|p| line(p) != line(&h));
        if fresh {
            println!("  [{what} {:>5.1}s] {}", start.elapsed().as_secs_f32(), line(&h));
        }
        let finished = done(&h, &seen);
        seen.push(h);
        if finished {
            return seen;
        }
        assert!(
            start.elapsed() < timeout,
            "{what}: not done after {timeout:?}; last {}\noperator log:\n{}",
            line(seen.last().expect("a sample")),
            op.log_tail(40)
        );
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
}

fn assert_progressing(what: &str, samples: &[Health]) {
    for h in samples.iter().filter(|h| !ready_now(h)) {
        assert!(h.kstatus.status != "Failed" && h.argocd.status != "Degraded", "{what}: Failed/Degraded while progressing: {}", line(h));
        if h.object.get("status").is_some_and(|s| !s.is_null()) {
            assert_eq!(h.kstatus.status, "InProgress", "{what}: kstatus on a not-Ready object with a status: {}", line(h));
            assert_eq!(h.argocd.status, "Progressing", "{what}: Argo CD on a not-Ready object: {}", line(h));
        }
    }
    assert!(
        samples.iter().any(|h| h.kstatus.status == "InProgress" && h.argocd.status == "Progressing"),
        "{what}: InProgress/Progressing never seen"
    );
    println!("PASS {what}: {} samples, InProgress/Progressing until Ready, never Failed/Degraded", samples.len());
}

/// Every version the watch saw before the first Ready one: from the operator's first status
/// write on, InProgress/Progressing (only the version without any status may read Current).
fn assert_versions_progress(what: &str, recorder: &Recorder) {
    let versions = recorder.judged();
    let before_ready: Vec<Health> = versions.iter().take_while(|h| !ready_now(h)).cloned().collect();
    for h in &before_ready {
        println!("  [{what}: version {}] {}", h.object["metadata"]["resourceVersion"].as_str().unwrap_or("?"), line(h));
    }
    assert!(before_ready.len() < versions.len(), "{what}: the watch saw no Ready version");
    assert_progressing(&format!("{what}, every version before Ready"), &before_ready);
}

fn assert_current(what: &str, h: &Health) {
    assert_eq!((h.kstatus.status.as_str(), h.argocd.status.as_str()), ("Current", "Healthy"), "{what}: {}", line(h));
    println!("PASS {what}: Current/Healthy ({})", h.kstatus.message);
}

async fn wait_failed<K>(client: &Client, name: &str, what: &str, op: &Operator)
where
    K: kube::Resource<DynamicType = ()>,
{
    // The operator reports the refusal within a reconcile; until then the judges may say
    // InProgress (the generation is new), never Current.
    // Once the status settled on a refusal (final), the judges get a few more samples.
    let mut settled_at: Option<Instant> = None;
    let samples = sample_until::<K>(client, name, what, Duration::from_secs(90), op, |h, _| {
        let settled = h.object["status"]["observedGeneration"] == h.object["metadata"]["generation"]
            && h.object["status"]["conditions"]
                .as_array()
                .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "False"));
        if settled {
            settled_at.get_or_insert_with(Instant::now);
        }
        settled && (h.kstatus.status == "Failed" || settled_at.is_some_and(|t| t.elapsed() > Duration::from_secs(15)))
    })
    .await;
    let last = samples.last().expect("a sample");
    for h in samples.iter().filter(|h| !ready_now(h)) {
        assert_ne!(h.kstatus.status, "Current", "{what}: Current on a refused spec: {}", line(h));
    }
    assert_eq!((last.kstatus.status.as_str(), last.argocd.status.as_str()), ("Failed", "Degraded"), "{what}: {}", line(last));
    assert!(!last.kstatus.message.is_empty() && !last.argocd.message.is_empty(), "{what}: no message: {}", line(last));
    println!("PASS {what}: Failed/Degraded: kstatus {:?}; Argo CD {:?}", last.kstatus.message, last.argocd.message);
}

async fn patch_spec<K>(client: &Client, name: &str, spec: serde_json::Value)
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(client.clone(), NS);
    api.patch(name, &PatchParams::default(), &Patch::Merge(&json!({"spec": spec}))).await.unwrap_or_else(|e| panic!("patch {name}: {e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item11_kstatus_and_argocd_health_of_every_kind() {
    let Some(_serial) = crate::support::world_test("e2e::health::item11_kstatus_and_argocd_health_of_every_kind").await else { return };
    let tool = crate::support::health::tool();
    println!("judges: {} (kstatus of sigs.k8s.io/cli-utils; README's Argo CD Lua on gopher-lua)", tool.display());
    let world = World::start().await.expect("world");
    let client = world.client();
    install_crds(&client).await;
    create_namespace(&client, NS).await;
    let op = Operator::start_with_chart_rbac(&world, "health", &["--resync-seconds", "10"]).await;

    // Bring-up: sampled from right after the apply until Ready, and every version the API server
    // sent judged too (so a status that stood for milliseconds counts).
    let recorder = Recorder::start::<KafkaCluster>(&client, NS, CLUSTER).await;
    apply_cluster(&client, NS, single_node()).await;
    let samples = sample_until::<KafkaCluster>(&client, CLUSTER, "cluster bring-up", Duration::from_secs(360), &op, |h, _| {
        ready_now(h) && h.kstatus.status == "Current"
    })
    .await;
    assert_progressing("cluster bring-up", &samples[..samples.len() - 1]);
    assert_versions_progress("cluster bring-up", &recorder);
    drop(recorder);
    assert_current("cluster Ready", samples.last().expect("a sample"));

    // A manual roll of the pool: InProgress until the node is back, then Current.
    let sts: Api<StatefulSet> = Api::namespaced(client.clone(), NS);
    let annotate = json!({"metadata": {"annotations": {"kafka.gregor.dev/manual-roll": "true"}}});
    sts.patch(&format!("{CLUSTER}-combined"), &PatchParams::default(), &Patch::Merge(&annotate)).await.expect("annotate StatefulSet");
    let samples = sample_until::<KafkaCluster>(&client, CLUSTER, "manual roll", Duration::from_secs(360), &op, |h, seen| {
        let rolled = seen.iter().any(|s| !ready_now(s));
        rolled && ready_now(h) && h.kstatus.status == "Current"
    })
    .await;
    let during: Vec<Health> = samples.iter().filter(|h| !ready_now(h)).cloned().collect();
    assert_progressing("manual roll", &during);
    assert_current("cluster Ready after the roll", samples.last().expect("a sample"));

    // A KafkaTopic: Current when Ready, Failed on a partition decrease. The API refuses a lower
    // spec.partitions (CEL), so the decrease is Kafka's topic having more: it grows out of band.
    let kt = json!({"apiVersion": "kafka.gregor.dev/v1alpha1", "kind": "KafkaTopic", "metadata": {"name": "ht", "namespace": NS},
        "spec": {"cluster": CLUSTER, "partitions": 2, "replicas": 1}});
    let recorder = Recorder::start::<KafkaTopic>(&client, NS, "ht").await;
    apply_json::<KafkaTopic>(&client, NS, kt).await.expect("topic");
    let samples = sample_until::<KafkaTopic>(&client, "ht", "topic creation", Duration::from_secs(120), &op, |h, _| {
        ready_now(h) && h.kstatus.status == "Current"
    })
    .await;
    for h in &samples[..samples.len() - 1] {
        assert!(h.kstatus.status != "Failed" && h.argocd.status != "Degraded", "topic creation: {}", line(h));
    }
    assert_current("topic Ready", samples.last().expect("a sample"));
    assert_versions_progress("topic creation", &recorder);
    drop(recorder);
    let kc: Api<KafkaCluster> = Api::namespaced(client.clone(), NS);
    let admin = operator_admin(&world, &client, &kc.get(CLUSTER).await.expect("cluster")).await;
    let mut grown = false;
    for _ in 0..30 {
        match admin.create_partitions(&[("ht".to_owned(), 4)], false).await {
            Ok(results) if results.iter().all(|(_, r)| r.is_ok()) => {
                grown = true;
                break;
            }
            other => println!("  create_partitions: {other:?}"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert!(grown, "could not grow topic ht out of band");
    println!("topic ht grown to 4 partitions in Kafka (spec.partitions stays 2)");
    wait_failed::<KafkaTopic>(&client, "ht", "topic partitions decrease", &op).await;

    // A KafkaUser: Current when Ready, Failed on an invalid spec.
    let ku = json!({"apiVersion": "kafka.gregor.dev/v1alpha1", "kind": "KafkaUser", "metadata": {"name": "hu", "namespace": NS},
        "spec": {"cluster": CLUSTER, "quotas": {"producerByteRate": 1048576}}});
    let recorder = Recorder::start::<KafkaUser>(&client, NS, "hu").await;
    apply_json::<KafkaUser>(&client, NS, ku).await.expect("user");
    let samples = sample_until::<KafkaUser>(&client, "hu", "user creation", Duration::from_secs(120), &op, |h, _| {
        ready_now(h) && h.kstatus.status == "Current"
    })
    .await;
    for h in &samples[..samples.len() - 1] {
        assert!(h.kstatus.status != "Failed" && h.argocd.status != "Degraded", "user creation: {}", line(h));
    }
    assert_current("user Ready", samples.last().expect("a sample"));
    assert_versions_progress("user creation", &recorder);
    drop(recorder);
    // Invalid past CEL: a TLS user has no password, so naming a password Secret is refused by
    // validation (spec.authentication.password), Stalled.
    let tls_with_password =
        json!({"authentication": {"type": "tls", "password": {"valueFrom": {"secretKeyRef": {"name": "pw", "key": "p"}}}}});
    patch_spec::<KafkaUser>(&client, "hu", tls_with_password).await;
    wait_failed::<KafkaUser>(&client, "hu", "user invalid spec (tls with a password)", &op).await;

    // The cluster, last (its topics and users wait on it): an operator-owned key in spec.config.
    patch_spec::<KafkaCluster>(&client, CLUSTER, json!({"config": {"listeners": "PLAINTEXT://:9999"}})).await;
    wait_failed::<KafkaCluster>(&client, CLUSTER, "cluster invalid spec (spec.config.listeners)", &op).await;
}
