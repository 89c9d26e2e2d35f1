//! Reconcile tests: the whole cluster reconcile against kube's mock client (`tower-test`) and the
//! in-memory fake Kafka. They assert what the reconciler sends to the API server: the field
//! manager of its server-side applies, the one pod delete of a roll step with its uid
//! precondition, the status as a status-subresource patch, and nothing at all on a converged
//! resync.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::Pod;
use kube::runtime::reflector::{self, store::Writer};
use kube::runtime::watcher;
use serde_json::{Value, json};

use crate::api::KafkaCluster;
use crate::controller::apply::FIELD_MANAGER;
use crate::controller::context::{Context, Settings, Stores};
use crate::controller::fake_kafka::FakeKafka;
use crate::controller::kafka_access;
use crate::controller::mock_api::{Sent, not_found, recording_client};
use crate::model::version::metadata_version_level;
use crate::model::{self, ClusterModel, Observed, names};
use crate::render::{self, ClusterObjects};

/// The API server's answers: every request plausibly.
fn answer(request: &Sent) -> (u16, Value) {
    let (method, path, body) = (request.method.as_str(), request.path.as_str(), request.body.clone());
    let name = path.rsplit('/').next().unwrap_or_default().to_owned();
    match method {
        "PATCH" if path.ends_with("/status") => {
            let name = path.trim_end_matches("/status").rsplit('/').next().unwrap_or_default();
            (200, cluster_json(name, body.get("status").cloned()))
        }
        // A server-side apply: the object as applied, with a resourceVersion.
        "PATCH" if body.get("apiVersion").is_some() => {
            let mut object = body;
            object["metadata"]["resourceVersion"] = json!("1");
            (200, object)
        }
        "PATCH" if path.contains("/pods/") => (200, json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}})),
        "DELETE" => (200, json!({"apiVersion": "v1", "kind": "Status", "status": "Success", "metadata": {}})),
        "POST" => (201, body),
        _ => not_found(),
    }
}

fn cluster_json(name: &str, status: Option<Value>) -> Value {
    let mut kc = json!({
        "apiVersion": "kafka.gregor.dev/v1alpha1", "kind": "KafkaCluster",
        "metadata": {"name": name, "namespace": "ns", "uid": "uid-cluster", "generation": 1},
        "spec": {"version": "4.4.0",
            "nodePools": [
                {"name": "controllers", "roles": ["controller"], "replicas": 1, "storage": {"type": "ephemeral"}},
                {"name": "brokers", "roles": ["broker"], "replicas": 2, "nodeIdStart": 100, "storage": {"type": "ephemeral"}}],
            "listeners": [{"name": "plain", "port": 9092, "type": "internal", "tls": false}]}
    });
    if let Some(status) = status {
        kc["status"] = status;
    }
    kc
}

/// The writers behind the context's caches, to fill them by hand.
struct Caches {
    stateful_sets: Writer<k8s_openapi::api::apps::v1::StatefulSet>,
    config_maps: Writer<k8s_openapi::api::core::v1::ConfigMap>,
    services: Writer<k8s_openapi::api::core::v1::Service>,
    pod_disruption_budgets: Writer<k8s_openapi::api::policy::v1::PodDisruptionBudget>,
    service_accounts: Writer<k8s_openapi::api::core::v1::ServiceAccount>,
    pods: Writer<Pod>,
    secrets: Writer<k8s_openapi::api::core::v1::Secret>,
}

/// A reconcile's surroundings: the context on the mock client, the requests it sent, the fake
/// Kafka, and the cluster's model and render.
struct Harness {
    ctx: Arc<Context>,
    sent: Arc<Mutex<Vec<Sent>>>,
    caches: Caches,
    kafka: Arc<FakeKafka>,
    model: ClusterModel,
    objects: ClusterObjects,
}

fn apply<K: kube::Resource<DynamicType = ()> + Clone>(writer: &mut Writer<K>, object: K) {
    writer.apply_watcher_event(&watcher::Event::Apply(object));
}

impl Harness {
    fn new() -> Harness {
        let (client, sent) = recording_client(answer);
        let (stateful_sets, sts_w) = reflector::store();
        let (config_maps, cm_w) = reflector::store();
        let (services, svc_w) = reflector::store();
        let (pod_disruption_budgets, pdb_w) = reflector::store();
        let (service_accounts, sa_w) = reflector::store();
        let (pods, pods_w) = reflector::store();
        let (secrets, secrets_w) = reflector::store();
        let (nodes, _) = reflector::store();
        let stores = Stores { stateful_sets, config_maps, services, pod_disruption_budgets, service_accounts, pods, secrets, nodes };
        let ctx = Arc::new(Context::new(client, stores, Settings::default()));
        ctx.caches.open_now();
        let kc = Harness::cluster(None);
        let observed = Observed { cluster_id: cluster_id(), node_id_starts: Observed::node_id_starts_from_status(&kc) };
        let model = model::validate(&kc, &observed).expect("valid").model;
        let objects = render::render(&model).expect("render");
        let voters: Vec<i32> = model.pools.iter().filter(|p| p.role.is_controller()).flat_map(|p| p.node_ids()).collect();
        let brokers: Vec<i32> = model.pools.iter().filter(|p| p.role.is_broker()).flat_map(|p| p.node_ids()).collect();
        let kafka = FakeKafka::new(&brokers, &voters, metadata_version_level(&model.metadata_version));
        kafka_access::install_admin_client(&ctx, &model, None, kafka.clone());
        let caches = Caches {
            secrets: secrets_w,
            stateful_sets: sts_w,
            config_maps: cm_w,
            services: svc_w,
            pod_disruption_budgets: pdb_w,
            service_accounts: sa_w,
            pods: pods_w,
        };
        Harness { ctx, sent, caches, kafka, model, objects }
    }

    /// The KafkaCluster, with its cluster id recorded (so the reconcile lists no volumes).
    fn cluster(status: Option<Value>) -> KafkaCluster {
        let mut status = status.unwrap_or_else(|| json!({}));
        status["clusterId"] = json!(cluster_id());
        serde_json::from_value(cluster_json("c", Some(status))).expect("cluster")
    }

    /// Every node's pod, Ready, on the current revision and config, but those in `outdated`,
    /// which run an older revision.
    fn run_pods(&mut self, outdated: &[i32]) {
        for (pool, rendered) in self.model.pools.iter().zip(&self.objects.pools) {
            for id in pool.node_ids() {
                let name = names::pod(&self.model.name, &pool.name, id);
                let revision = if outdated.contains(&id) { "old-revision" } else { rendered.revision.as_str() };
                let pod: Pod = serde_json::from_value(json!({
                    "metadata": {"name": name, "namespace": "ns", "uid": format!("uid-{name}"),
                        "labels": {names::labels::CLUSTER: self.model.name},
                        "annotations": {names::annotations::REVISION: revision, names::annotations::CONFIG_HASH: rendered.config_hash}},
                    "spec": {"containers": [{"name": names::KAFKA_CONTAINER, "image": self.model.image}]},
                    "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
                }))
                .expect("pod");
                apply(&mut self.caches.pods, pod);
            }
        }
    }

    /// Puts what the server-side applies sent into the caches, as the watches would.
    fn cache_applied(&mut self) {
        for s in self.sent().into_iter().filter(|s| s.method == "PATCH" && s.body.get("apiVersion").is_some()) {
            let mut object = s.body;
            object["metadata"]["resourceVersion"] = json!("1");
            let c = &mut self.caches;
            match object["kind"].as_str().unwrap_or_default() {
                "StatefulSet" => apply(&mut c.stateful_sets, serde_json::from_value(object).expect("sts")),
                "ConfigMap" => apply(&mut c.config_maps, serde_json::from_value(object).expect("cm")),
                "Service" => apply(&mut c.services, serde_json::from_value(object).expect("svc")),
                "PodDisruptionBudget" => apply(&mut c.pod_disruption_budgets, serde_json::from_value(object).expect("pdb")),
                "ServiceAccount" => apply(&mut c.service_accounts, serde_json::from_value(object).expect("sa")),
                "Secret" => apply(&mut c.secrets, serde_json::from_value(object).expect("secret")),
                other => panic!("applied an unexpected kind {other}"),
            }
        }
    }

    fn sent(&self) -> Vec<Sent> {
        self.sent.lock().expect("sent").clone()
    }

    fn forget_sent(&self) {
        self.sent.lock().expect("sent").clear();
    }

    async fn reconcile(&self, kc: &KafkaCluster) {
        super::reconcile(Arc::new(kc.clone()), self.ctx.clone()).await.expect("reconcile");
    }

    /// The status the reconcile wrote (the patch's `status`), as the next reconcile reads it.
    fn written_status(&self) -> Value {
        let patches: Vec<Sent> = self.sent().into_iter().filter(|s| s.path.ends_with("/status")).collect();
        assert_eq!(patches.len(), 1, "one status patch: {patches:?}");
        patches[0].body["status"].clone()
    }
}

fn cluster_id() -> String {
    "MkU3OEVBNTcwNTJENDM2Qg".into()
}

#[tokio::test]
async fn item6_children_are_server_side_applied_with_the_gregor_field_manager() {
    let mut h = Harness::new();
    h.run_pods(&[]);
    h.reconcile(&Harness::cluster(None)).await;
    let applies: Vec<Sent> = h.sent().into_iter().filter(|s| s.method == "PATCH" && s.body.get("apiVersion").is_some()).collect();
    // Every rendered object once, and the cluster's client properties Secret.
    let secrets: Vec<&Sent> = applies.iter().filter(|a| a.body["kind"] == "Secret").collect();
    assert_eq!(secrets.len(), 1, "{secrets:?}");
    assert_eq!(secrets[0].body["metadata"]["name"], "c-client-properties");
    let data = secrets[0].body["data"].as_object().map(|d| d.keys().cloned().collect::<Vec<_>>()).unwrap_or_default();
    assert!(data.iter().all(|k| k.ends_with(".client.properties")) && !data.is_empty(), "{data:?}");
    assert_eq!(applies.len(), h.objects.iter().count() + 1, "every rendered object is applied once: {applies:?}");
    for a in &applies {
        assert_eq!(a.query_param("fieldManager").as_deref(), Some(FIELD_MANAGER), "{} {}", a.path, a.query);
        assert_eq!(a.query_param("force").as_deref(), Some("true"), "{} {}", a.path, a.query);
    }
    let mut kinds: Vec<&str> = applies.iter().filter_map(|a| a.body["kind"].as_str()).collect();
    kinds.sort_unstable();
    kinds.dedup();
    assert_eq!(kinds, ["ConfigMap", "PodDisruptionBudget", "Secret", "Service", "ServiceAccount", "StatefulSet"]);
}

#[tokio::test]
async fn item6_a_roll_step_deletes_exactly_one_pod_with_its_uid_precondition() {
    let mut h = Harness::new();
    let brokers: Vec<i32> = h.model.pools.iter().filter(|p| p.role.is_broker()).flat_map(|p| p.node_ids()).collect();
    h.run_pods(&brokers);
    h.reconcile(&Harness::cluster(None)).await;
    let deletes: Vec<Sent> = h.sent().into_iter().filter(|s| s.method == "DELETE").collect();
    assert_eq!(deletes.len(), 1, "one pod restarted of {} outdated: {deletes:?}", brokers.len());
    let pod = deletes[0].path.rsplit('/').next().unwrap_or_default().to_owned();
    assert_eq!(deletes[0].path, format!("/api/v1/namespaces/ns/pods/{pod}"));
    assert!(brokers.iter().any(|id| names::pod("c", "brokers", *id) == pod), "an outdated broker's pod: {pod}");
    assert_eq!(deletes[0].body["preconditions"]["uid"], json!(format!("uid-{pod}")), "{:?}", deletes[0].body);
    assert!(h.kafka.calls().contains(&"DescribeQuorum"), "the roll asked Kafka first: {:?}", h.kafka.calls());
    let status = h.written_status();
    assert_eq!(status["roll"]["inProgress"], json!(true), "{status}");
}

#[tokio::test]
async fn item6_the_status_is_written_as_a_status_subresource_merge_patch() {
    let mut h = Harness::new();
    h.run_pods(&[]);
    h.reconcile(&Harness::cluster(None)).await;
    let status_writes: Vec<Sent> = h.sent().into_iter().filter(|s| s.path.contains("/kafkaclusters/")).collect();
    assert_eq!(status_writes.len(), 1, "{status_writes:?}");
    let write = &status_writes[0];
    assert_eq!(
        (write.method.as_str(), write.path.as_str()),
        ("PATCH", "/apis/kafka.gregor.dev/v1alpha1/namespaces/ns/kafkaclusters/c/status")
    );
    assert_eq!(write.body.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>()), Some(vec!["status".to_owned()]), "{}", write.body);
    let ready = write.body["status"]["conditions"].as_array().and_then(|cs| cs.iter().find(|c| c["type"] == "Ready")).cloned();
    assert_eq!(ready.as_ref().map(|c| (c["status"].clone(), c["reason"].clone())), Some((json!("True"), json!("Ready"))), "{ready:?}");
    assert_eq!(write.body["status"]["clusterId"], json!(cluster_id()));
}

#[tokio::test]
async fn item6_a_converged_resync_makes_no_write() {
    let mut h = Harness::new();
    h.run_pods(&[]);
    h.reconcile(&Harness::cluster(None)).await;
    assert!(h.sent().iter().any(Sent::is_write), "the first reconcile writes");
    let status = h.written_status();
    h.cache_applied();
    h.forget_sent();
    let converged = Harness::cluster(Some(status));
    h.reconcile(&converged).await;
    let writes: Vec<Sent> = h.sent().into_iter().filter(Sent::is_write).collect();
    assert!(writes.is_empty(), "a converged resync writes nothing: {writes:#?}");
    h.reconcile(&converged).await;
    assert!(h.sent().is_empty(), "and sends no request at all: {:#?}", h.sent());
    let calls = h.kafka.calls();
    assert!(!calls.iter().any(|c| matches!(*c, "UpdateFeatures" | "UnregisterBroker" | "IncrementalAlterConfigs")), "{calls:?}");
}

#[tokio::test]
async fn item6_the_fake_kafka_is_the_clusters_admin_client() {
    // The harness wires the fake where the reconcile looks up its client.
    let h = Harness::new();
    let client = kafka_access::admin_client(&h.ctx, &h.model, None).expect("client");
    assert!(client.describe_cluster().await.is_ok());
    assert_eq!(h.kafka.calls(), vec!["DescribeCluster"]);
    let pools: BTreeMap<String, usize> = h.model.pools.iter().map(|p| (p.name.clone(), p.node_ids().count())).collect();
    assert_eq!(pools, BTreeMap::from([("brokers".to_owned(), 2), ("controllers".to_owned(), 1)]));
}
