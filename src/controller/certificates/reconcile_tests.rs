//! The certificates step against kube's mock client: what it writes on a new TLS cluster, that
//! a converged resync writes nothing, that renewal re-issues only the node certificates, and that
//! a cluster without TLS gets no certificate Secret.

use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::Secret;
use kube::runtime::reflector::{self, store::Writer};
use kube::runtime::watcher;
use serde_json::{Value, json};

use super::issue::{self, DAY};
use crate::api::KafkaCluster;
use crate::controller::context::{Context, Settings, Stores};
use crate::controller::mock_api::{Sent, not_found, recording_client};
use crate::model::{self, ClusterModel, Observed, names};

const NOW: i64 = 1_800_000_000;

/// Answers like an API server with no Secrets but those the test puts in the cache.
fn answer(request: &Sent) -> (u16, Value) {
    match request.method.as_str() {
        "PATCH" => (200, request.body.clone()),
        "POST" => (201, request.body.clone()),
        _ => not_found(),
    }
}

struct Harness {
    ctx: Context,
    sent: Arc<Mutex<Vec<Sent>>>,
    secrets: Writer<Secret>,
}

impl Harness {
    fn new() -> Harness {
        let (client, sent) = recording_client(answer);
        let (secrets, secrets_w) = reflector::store();
        let stores = Stores {
            stateful_sets: reflector::store().0,
            config_maps: reflector::store().0,
            services: reflector::store().0,
            pod_disruption_budgets: reflector::store().0,
            service_accounts: reflector::store().0,
            pods: reflector::store().0,
            secrets,
            nodes: reflector::store().0,
        };
        Harness { ctx: Context::new(client, stores, Settings::default()), sent, secrets: secrets_w }
    }

    fn take_sent(&self) -> Vec<Sent> {
        std::mem::take(&mut *self.sent.lock().expect("sent"))
    }

    /// Puts every Secret the step wrote into the cache, as the watch would.
    fn cache(&mut self, sent: &[Sent]) {
        for s in sent.iter().filter(|s| s.method != "GET") {
            let secret: Secret = serde_json::from_value(s.body.clone()).expect("a Secret");
            self.secrets.apply_watcher_event(&watcher::Event::Apply(secret));
        }
    }
}

fn model(listeners: Value, storage: Value) -> ClusterModel {
    let kc: KafkaCluster = serde_json::from_value(json!({
        "apiVersion": "kafka.gregor.dev/v1alpha1", "kind": "KafkaCluster",
        "metadata": {"name": "c", "namespace": "ns", "uid": "uid-c"},
        "spec": {"version": "4.4.0",
            "nodePools": [
                {"name": "controllers", "roles": ["controller"], "replicas": 1, "storage": storage},
                {"name": "brokers", "roles": ["broker"], "replicas": 2, "nodeIdStart": 100, "storage": storage}],
            "listeners": listeners}
    }))
    .expect("cluster");
    model::validate(&kc, &Observed { cluster_id: "MkU3OEVBNTcwNTJENDM2Qg".into(), ..Observed::default() }).expect("valid").model
}

fn tls_model() -> ClusterModel {
    model(json!([{"name": "tls", "port": 9093, "type": "internal", "tls": true}]), json!({"type": "persistentClaim", "size": "1Gi"}))
}

fn data(sent: &Sent, key: &str) -> Option<String> {
    use base64::Engine as _;
    let b64 = sent.body["data"][key].as_str()?;
    base64::engine::general_purpose::STANDARD.decode(b64).ok().map(|b| String::from_utf8_lossy(&b).into_owned())
}

fn write_to<'a>(sent: &'a [Sent], secret: &str) -> Option<&'a Sent> {
    sent.iter().find(|s| s.method != "GET" && (s.path.ends_with(&format!("/secrets/{secret}")) || s.body["metadata"]["name"] == secret))
}

#[tokio::test]
async fn item1_item2_a_tls_cluster_gets_its_ca_and_a_certificate_per_node() {
    let mut h = Harness::new();
    let m = tls_model();
    super::reconcile(&m, &h.ctx, NOW, super::Renewal::AsDue).await.expect("certificates");
    let sent = h.take_sent();

    // The CA key Secret: created once (POST), with no owner reference (the volumes outlive the cluster).
    let ca_secret = write_to(&sent, "c-cluster-ca").expect("CA key Secret written");
    assert_eq!(ca_secret.method, "POST");
    assert!(ca_secret.body["metadata"]["ownerReferences"].is_null(), "{}", ca_secret.body["metadata"]);
    assert_eq!(ca_secret.body["metadata"]["labels"][names::labels::MANAGED_BY], json!("gregor"));
    let ca =
        issue::load_ca(&issue::CaPem { cert: data(ca_secret, "ca.crt").expect("ca.crt"), key: data(ca_secret, "ca.key").expect("ca.key") })
            .expect("a CA whose key and certificate match");
    assert_eq!(ca.facts.not_after, NOW + 1825 * DAY, "5 years by default");

    // The public Secret: the certificate only.
    let public = write_to(&sent, "c-cluster-ca-cert").expect("public CA Secret written");
    let keys: Vec<&String> = public.body["data"].as_object().map(|o| o.keys().collect()).unwrap_or_default();
    assert_eq!(keys, ["ca.crt"]);
    assert!(public.body["metadata"]["ownerReferences"].is_null());

    // The node certificates: one per node, signed by the CA, with the node's names; owned by the cluster.
    let nodes = write_to(&sent, "c-kafka-node-certs").expect("node certificates Secret written");
    assert_eq!(nodes.body["metadata"]["ownerReferences"][0]["uid"], json!("uid-c"));
    assert_eq!(data(nodes, "ca.crt"), Some(ca.pem.cert.clone()));
    for (pool, id) in m.nodes() {
        let pod = names::pod("c", &pool.name, id);
        let file = data(nodes, &format!("{pod}.pem")).unwrap_or_else(|| panic!("{pod}.pem"));
        assert!(file.starts_with("-----BEGIN PRIVATE KEY-----"), "{pod}: PKCS#8 key first");
        let facts = issue::facts(&file).expect("readable");
        assert_eq!(facts.issuer, ca.facts.subject, "{pod} signed by the cluster CA");
        assert_eq!(facts.dns_names, m.node_dns_names(pool, id), "{pod}");
        assert_eq!(facts.not_after, NOW + 365 * DAY, "1 year by default");
    }
    let count = nodes.body["data"].as_object().map(|o| o.len()).unwrap_or_default();
    assert_eq!(count, 3 + 2, "three nodes, ca.crt and clients-ca.crt");

    // The clients CA: made like the cluster CA, kept like it, a CA of its own; its certificate is
    // public and is the mutual TLS listeners' truststore in the node certificates Secret.
    let clients_secret = write_to(&sent, "c-clients-ca").expect("clients CA key Secret written");
    assert_eq!(clients_secret.method, "POST");
    assert!(clients_secret.body["metadata"]["ownerReferences"].is_null(), "kept with the volumes");
    let clients = issue::load_ca(&issue::CaPem {
        cert: data(clients_secret, "ca.crt").expect("ca.crt"),
        key: data(clients_secret, "ca.key").expect("ca.key"),
    })
    .expect("the clients CA");
    assert_ne!(clients.facts.subject, ca.facts.subject, "another CA than the cluster CA");
    assert_eq!(clients.facts.not_after, NOW + 1825 * DAY, "the same validity setting");
    let clients_public = write_to(&sent, "c-clients-ca-cert").expect("public clients CA Secret");
    let keys: Vec<&String> = clients_public.body["data"].as_object().map(|o| o.keys().collect()).unwrap_or_default();
    assert_eq!(keys, ["ca.crt"]);
    assert_eq!(data(nodes, "clients-ca.crt"), Some(clients.pem.cert.clone()));

    // A converged resync: nothing written, nothing asked.
    h.cache(&sent);
    super::reconcile(&m, &h.ctx, NOW + DAY, super::Renewal::AsDue).await.expect("certificates");
    let again = h.take_sent();
    assert!(again.is_empty(), "a converged resync sends nothing: {again:#?}");

    // Inside the renewal window (30 days before the end): only the node certificates are re-issued.
    super::reconcile(&m, &h.ctx, NOW + 340 * DAY, super::Renewal::AsDue).await.expect("certificates");
    let renewed = h.take_sent();
    let writes: Vec<String> = renewed.iter().filter(|s| s.method != "GET").map(|s| s.body["metadata"]["name"].to_string()).collect();
    assert_eq!(writes, ["\"c-kafka-node-certs\""], "{renewed:#?}");
    let nodes_now = write_to(&renewed, "c-kafka-node-certs").expect("written");
    for (pool, id) in m.nodes() {
        let pod = names::pod("c", &pool.name, id);
        let file = data(nodes_now, &format!("{pod}.pem")).expect("pem");
        let facts = issue::facts(&file).expect("readable");
        assert_eq!(facts.not_after, NOW + 705 * DAY, "{pod} renewed for a year from now");
        assert_ne!(data(nodes, &format!("{pod}.pem")), Some(file), "{pod}: a new key and certificate");
    }
}

#[tokio::test]
async fn item1_ephemeral_clusters_own_their_ca_and_plain_clusters_get_none() {
    let h = Harness::new();
    let ephemeral = model(json!([{"name": "tls", "port": 9093, "type": "internal", "tls": true}]), json!({"type": "ephemeral"}));
    super::reconcile(&ephemeral, &h.ctx, NOW, super::Renewal::AsDue).await.expect("certificates");
    let sent = h.take_sent();
    for secret in ["c-cluster-ca", "c-cluster-ca-cert", "c-clients-ca", "c-clients-ca-cert", "c-kafka-node-certs"] {
        let w = write_to(&sent, secret).unwrap_or_else(|| panic!("{secret} written"));
        assert_eq!(w.body["metadata"]["ownerReferences"][0]["uid"], json!("uid-c"), "{secret} goes with the cluster and its volumes");
    }

    let plain = model(json!([{"name": "plain", "port": 9092, "type": "internal", "tls": false}]), json!({"type": "ephemeral"}));
    super::reconcile(&plain, &h.ctx, NOW, super::Renewal::AsDue).await.expect("certificates");
    assert!(h.take_sent().is_empty(), "no TLS listener: no CA, no certificates");
}

#[tokio::test]
async fn item7_forced_renewal_reissues_every_node_certificate_and_only_those() {
    let mut h = Harness::new();
    let m = tls_model();
    let first = super::reconcile(&m, &h.ctx, NOW, super::Renewal::AsDue).await.expect("certificates").expect("TLS");
    let sent = h.take_sent();
    h.cache(&sent);
    let nodes = write_to(&sent, "c-kafka-node-certs").expect("written");
    // The serials answered are those of the certificates written.
    for (pod, serial) in &first.node_serials {
        let file = data(nodes, &format!("{pod}.pem")).expect("pem");
        assert_eq!(&issue::facts(&file).expect("readable").serial, serial, "{pod}");
    }
    assert_eq!(first.node_serials.len(), 3, "one per node");

    let forced = super::reconcile(&m, &h.ctx, NOW + DAY, super::Renewal::Forced).await.expect("certificates").expect("TLS");
    let renewed = h.take_sent();
    let writes: Vec<String> = renewed.iter().filter(|s| s.method != "GET").map(|s| s.body["metadata"]["name"].to_string()).collect();
    assert_eq!(writes, ["\"c-kafka-node-certs\""], "the CAs stay as they are: {renewed:#?}");
    assert_eq!(forced.cluster_ca, first.cluster_ca);
    let nodes_now = write_to(&renewed, "c-kafka-node-certs").expect("written");
    for (pool, id) in m.nodes() {
        let pod = names::pod("c", &pool.name, id);
        let facts = issue::facts(&data(nodes_now, &format!("{pod}.pem")).expect("pem")).expect("readable");
        assert_ne!(Some(&facts.serial), first.node_serials.get(&pod), "{pod}: a new certificate");
        assert_eq!(Some(&facts.serial), forced.node_serials.get(&pod), "{pod}: the serial answered is the new one");
        // The same names, so Kafka's DN and SAN guard (KIP-978) lets a reload through.
        assert_eq!(facts.dns_names, m.node_dns_names(pool, id), "{pod}");
        assert_eq!(facts.common_name.as_deref(), Some(pod.as_str()));
    }
    // Once written, an ordinary pass keeps them.
    h.cache(&renewed);
    let after = super::reconcile(&m, &h.ctx, NOW + 2 * DAY, super::Renewal::AsDue).await.expect("certificates").expect("TLS");
    assert!(h.take_sent().is_empty(), "kept");
    assert_eq!(after.node_serials, forced.node_serials);
}
