//! The KafkaCluster controller end to end: the real operator binary against the test world's
//! real control plane, with real Kafka brokers.

use std::time::Duration;

use crate::support::*;
use gregor::api::KafkaCluster;
use gregor_world::World;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::Api;
use serde_json::json;

const NS: &str = "e2e-cluster";

/// (a) A 3-controller + 3-broker cluster reaches Ready=True, and its status shows the cluster
/// id, the versions and the bootstrap address. (g) An update with a forbidden key then gives
/// Ready=False/InvalidSpec and changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_then_reject_invalid_update() {
    let Some(_serial) = crate::support::world_test("e2e::cluster::create_then_reject_invalid_update").await else { return };
    let world = World::start().await.expect("world");
    let client = world.client();
    install_crds(&client).await;
    create_namespace(&client, NS).await;
    let op = Operator::start_with_chart_rbac(&world, "main", &[]).await;

    apply_cluster(&client, NS, split_cluster(NS, "events", "4.4.0", json!({}))).await;
    let kc = wait_cluster_ready(&client, NS, "events", Duration::from_secs(300), &op).await;
    let status = kc.status.clone().expect("status");
    let cluster_id = status.cluster_id.clone().expect("cluster id");
    assert_eq!(cluster_id.len(), 22, "a Kafka uuid: {cluster_id}");
    assert_eq!(status.kafka_version.as_deref(), Some("4.4.0"));
    assert_eq!(status.metadata_version.as_deref(), Some("4.4-IV2"));
    let plain = status.listeners.iter().find(|l| l.name == "plain").expect("plain listener status");
    assert_eq!(plain.bootstrap_servers, format!("events-kafka-bootstrap.{NS}.svc:9092"));
    let pools: Vec<(String, Vec<i32>)> = status.node_pools.iter().map(|p| (p.name.clone(), p.node_ids.clone())).collect();
    assert_eq!(pools.len(), 2, "{pools:?}");
    assert_eq!(cluster_pods(&client, NS, "events").await.len(), 6);

    let pdb: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), NS);
    let pdb = pdb.get("events-kafka").await.expect("pdb");
    assert_eq!(pdb.spec.and_then(|s| s.max_unavailable), Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(0)));

    // No misleading noise: the world's controller-manager runs no Endpoints controllers, so a
    // user's `kubectl get events` does not start with a Warning for every Service.
    let events: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(client.clone(), NS);
    let noise: Vec<String> = events
        .list(&Default::default())
        .await
        .expect("events")
        .items
        .into_iter()
        .filter_map(|e| e.reason)
        .filter(|r| r.starts_with("FailedToUpdateEndpoint"))
        .collect();
    assert!(noise.is_empty(), "Endpoint Warning Events in the world: {noise:?}");

    // (g) A forbidden key: Ready=False, InvalidSpec, and the StatefulSets are not touched.
    let sts: Api<StatefulSet> = Api::namespaced(client.clone(), NS);
    let before: Vec<Option<i64>> = vec![
        sts.get("events-controllers").await.expect("sts").metadata.generation,
        sts.get("events-brokers").await.expect("sts").metadata.generation,
    ];
    let mut bad = split_cluster(NS, "events", "4.4.0", json!({}));
    bad["spec"]["config"] = json!({"listeners": "PLAINTEXT://:9999"});
    apply_cluster(&client, NS, bad).await;
    let api: Api<KafkaCluster> = Api::namespaced(client.clone(), NS);
    let rejected = wait_for("InvalidSpec", Duration::from_secs(60), || {
        let api = api.clone();
        async move {
            let kc = api.get("events").await.ok()?;
            let observed = kc.status.as_ref()?.observed_generation == kc.metadata.generation;
            let (s, reason, message) = ready(&kc)?;
            (observed && s == "False" && reason == "InvalidSpec").then_some(message)
        }
    })
    .await;
    assert!(rejected.contains("spec.config.listeners"), "{rejected}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after: Vec<Option<i64>> = vec![
        sts.get("events-controllers").await.expect("sts").metadata.generation,
        sts.get("events-brokers").await.expect("sts").metadata.generation,
    ];
    assert_eq!(before, after, "an invalid spec must not change the StatefulSets");
    let kc = api.get("events").await.expect("cluster");
    assert_eq!(kc.status.and_then(|s| s.cluster_id), Some(cluster_id), "the cluster id is durable");
    drop(op);
}
