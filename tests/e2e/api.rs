//! End to end against the test world's real API server: the CRDs install, every example is accepted,
//! every rendered object of every cluster example passes a server-side dry-run apply, and the CEL rules
//! reject a partition decrease, a topicName change and a storage shrink (among others) at apply.

use std::path::Path;

use gregor::{
    api::{KafkaCluster, KafkaTopic, KafkaUser},
    model::{self, Observed},
    render::{self, ObjectRef},
};
use gregor_world::World;
use k8s_openapi::api::{
    apps::v1::StatefulSet,
    core::v1::{ConfigMap, Namespace, Service, ServiceAccount},
    policy::v1::PodDisruptionBudget,
};
use kube::{
    Api, Client,
    api::{Patch, PatchParams},
};
use serde_json::{Value, json};

const NAMESPACE: &str = "e2e-api";
const MANAGER: &str = "gregor";

fn apply() -> PatchParams {
    PatchParams::apply(MANAGER).force()
}

fn example(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/examples").join(name);
    serde_yaml::from_str(&std::fs::read_to_string(&path).expect("example")).expect("example YAML")
}

async fn dry_run_apply(client: &Client, object: ObjectRef<'_>) {
    let params = PatchParams { dry_run: true, ..apply() };
    let name = object.name().to_owned();
    let result = match object {
        ObjectRef::ServiceAccount(o) => {
            Api::<ServiceAccount>::namespaced(client.clone(), NAMESPACE).patch(&name, &params, &Patch::Apply(o)).await.map(drop)
        }
        ObjectRef::Service(o) => {
            Api::<Service>::namespaced(client.clone(), NAMESPACE).patch(&name, &params, &Patch::Apply(o)).await.map(drop)
        }
        ObjectRef::PodDisruptionBudget(o) => {
            Api::<PodDisruptionBudget>::namespaced(client.clone(), NAMESPACE).patch(&name, &params, &Patch::Apply(o)).await.map(drop)
        }
        ObjectRef::ConfigMap(o) => {
            Api::<ConfigMap>::namespaced(client.clone(), NAMESPACE).patch(&name, &params, &Patch::Apply(o)).await.map(drop)
        }
        ObjectRef::StatefulSet(o) => {
            Api::<StatefulSet>::namespaced(client.clone(), NAMESPACE).patch(&name, &params, &Patch::Apply(o)).await.map(drop)
        }
    };
    result.unwrap_or_else(|e| panic!("dry-run apply of {} {name}: {e}", object.kind()));
}

/// Applies a change and returns the API server's rejection message (panics if accepted).
async fn rejection<K>(api: &Api<K>, name: &str, patch: Value) -> String
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match api.patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await {
        Ok(_) => panic!("change {patch} to {name} was accepted"),
        Err(kube::Error::Api(status)) => status.message,
        Err(other) => panic!("unexpected error {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crds_examples_rendered_objects_and_cel_rules_in_a_real_api_server() {
    let Some(_serial) = crate::support::world_test("e2e::api::crds_examples_rendered_objects_and_cel_rules_in_a_real_api_server").await
    else {
        return;
    };
    let world = World::start().await.expect("world starts");
    let client = world.client();
    crate::support::install_crds(&client).await;
    let namespace: Namespace =
        serde_json::from_value(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})).expect("ns");
    Api::<Namespace>::all(client.clone()).patch(NAMESPACE, &apply(), &Patch::Apply(&namespace)).await.expect("namespace");

    let clusters: Api<KafkaCluster> = Api::namespaced(client.clone(), NAMESPACE);
    let topics: Api<KafkaTopic> = Api::namespaced(client.clone(), NAMESPACE);
    let users: Api<KafkaUser> = Api::namespaced(client.clone(), NAMESPACE);

    // Every example is accepted; every cluster's rendered objects pass a server-side dry-run apply.
    let mut dry_runs = 0;
    for file in ["single-node.yaml", "cluster-3c3b.yaml", "two-broker-pools.yaml"] {
        let value = example(file);
        let name = value["metadata"]["name"].as_str().expect("name").to_owned();
        let live = clusters.patch(&name, &apply(), &Patch::Apply(&value)).await.unwrap_or_else(|e| panic!("{file} rejected: {e}"));
        assert!(live.metadata.uid.is_some());
        let observed = Observed { cluster_id: model::new_cluster_id(), ..Observed::default() };
        let validated = model::validate(&live, &observed).unwrap_or_else(|e| panic!("{file}: {e}"));
        let objects = render::render(&validated.model).expect("renders");
        for object in objects.iter() {
            assert_eq!(object.metadata().owner_references.as_ref().map(|o| o[0].uid.as_str()), live.metadata.uid.as_deref());
            dry_run_apply(&client, object).await;
            dry_runs += 1;
        }
    }
    println!("dry-run applied {dry_runs} rendered objects");
    let topic = example("kafkatopic.yaml");
    topics.patch("orders", &apply(), &Patch::Apply(&topic)).await.expect("topic example accepted");
    let user = example("kafkauser-scram.yaml");
    users.patch("orders-reader", &apply(), &Patch::Apply(&user)).await.expect("user example accepted");

    // CEL transition rules.
    let message = rejection(&topics, "orders", json!({"spec": {"partitions": 6}})).await;
    assert!(message.contains("partitions may not decrease"), "{message}");
    let message = rejection(&topics, "orders", json!({"spec": {"topicName": "orders-v2"}})).await;
    assert!(message.contains("topicName is immutable"), "{message}");
    let message = rejection(&topics, "orders", json!({"spec": {"cluster": "other"}})).await;
    assert!(message.contains("cluster is immutable"), "{message}");
    let message = rejection(&users, "orders-reader", json!({"spec": {"cluster": "other"}})).await;
    assert!(message.contains("cluster is immutable"), "{message}");
    topics
        .patch("orders", &PatchParams::default(), &Patch::Merge(json!({"spec": {"partitions": 24}})))
        .await
        .expect("partition increase accepted");

    let mut shrunk = example("cluster-3c3b.yaml");
    shrunk["spec"]["nodePools"][1]["storage"]["size"] = json!("50Gi");
    let message = match clusters.patch("events", &apply(), &Patch::Apply(&shrunk)).await {
        Ok(_) => panic!("storage shrink accepted"),
        Err(kube::Error::Api(status)) => status.message,
        Err(other) => panic!("{other}"),
    };
    assert!(message.contains("storage size must not shrink"), "{message}");
    let mut grown = example("cluster-3c3b.yaml");
    grown["spec"]["nodePools"][1]["storage"]["size"] = json!("200Gi");
    clusters.patch("events", &apply(), &Patch::Apply(&grown)).await.expect("storage growth accepted");

    let mut roles = example("cluster-3c3b.yaml");
    roles["spec"]["nodePools"][1]["roles"] = json!(["broker", "controller"]);
    roles["spec"]["nodePools"][1]["storage"]["size"] = json!("200Gi");
    let message = match clusters.patch("events", &apply(), &Patch::Apply(&roles)).await {
        Ok(_) => panic!("roles change accepted"),
        Err(kube::Error::Api(status)) => status.message,
        Err(other) => panic!("{other}"),
    };
    assert!(message.contains("roles are immutable"), "{message}");

    // Creation-time rules.
    let mut bad = example("cluster-3c3b.yaml");
    bad["metadata"]["name"] = json!("bad");
    bad["spec"]["nodePools"][1]["replicas"] = json!(0);
    bad["spec"]["listeners"] = json!([
        {"name": "a", "port": 9092, "type": "internal"},
        {"name": "b", "port": 9092, "type": "internal"}
    ]);
    let message = match clusters.patch("bad", &apply(), &Patch::Apply(&bad)).await {
        Ok(_) => panic!("invalid cluster accepted"),
        Err(kube::Error::Api(status)) => status.message,
        Err(other) => panic!("{other}"),
    };
    assert!(message.contains("replicas must be at least 1"), "{message}");
    assert!(message.contains("listener ports must be unique"), "{message}");
    let mut dup = example("cluster-3c3b.yaml");
    dup["metadata"]["name"] = json!("dup");
    dup["spec"]["listeners"] = json!([
        {"name": "a", "port": 9092, "type": "internal"},
        {"name": "a", "port": 9093, "type": "internal"}
    ]);
    assert!(clusters.patch("dup", &apply(), &Patch::Apply(&dup)).await.is_err(), "duplicate listener names accepted");
    let mut zero = example("kafkatopic.yaml");
    zero["metadata"]["name"] = json!("zero");
    zero["spec"]["topicName"] = json!("zero");
    zero["spec"]["partitions"] = json!(0);
    let message = match topics.patch("zero", &apply(), &Patch::Apply(&zero)).await {
        Ok(_) => panic!("zero partitions accepted"),
        Err(kube::Error::Api(status)) => status.message,
        Err(other) => panic!("{other}"),
    };
    assert!(message.contains("partitions must be at least 1"), "{message}");
    drop(world);
}
