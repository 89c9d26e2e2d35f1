//! Renewed node certificates go live without a restart.
//!
//! A renewal rewrites the node certificates Secret; the kubelet then replaces the mounted
//! `<pod>.pem` files (atomically, with a new modification time). Kafka does not watch the files:
//! an IncrementalAlterConfigs SET of `listener.name.<listener>.ssl.keystore.location` on the
//! broker, even to the path it already has, makes the broker rebuild that listener's SSL engine
//! from files whose modification time changed. New connections then get the new certificate; open
//! ones keep theirs. The DN and SANs stay the same, so Kafka's KIP-978 guard lets it through.
//!
//! Each broker's TLS listeners are asked which certificate they serve (a handshake that checks
//! them against the cluster CA, see `gregor_kafka::served_certificate`); only those not yet
//! serving the Secret's serial are reloaded, and each reload is confirmed the same way, at once or
//! at a later reconcile (a broker applies the change asynchronously). A broker
//! whose files the kubelet has not refreshed yet still serves the old serial: it stays pending and
//! is asked again at the next reconcile. What each listener is known to serve is remembered in
//! memory, so a converged cluster costs no handshake; an operator restart checks each once.
//!
//! Only brokers serve node certificates today (the client TLS listeners); controllers are
//! not touched.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use tracing::{debug, info, warn};

use crate::controller::context::Context;
use crate::controller::kafka_access::admin::Admin;
use crate::kafka::ResolverConfig;
use crate::kafka::ops::configs::{AlterOp, ConfigAlteration, ConfigResource};
use crate::model::{ClusterModel, names};
use crate::render::script::NODE_CERTS_MOUNT;
use crate::roll::PodPhase;

/// How long one handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// One TLS listener of one broker, and the certificate it should serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedTarget {
    /// The pod.
    pub pod: String,
    /// Its node id.
    pub node_id: i32,
    /// The listener's name, as in `listener.name.<name>.*`.
    pub listener: String,
    /// `host:port` of the listener on this broker.
    pub address: String,
    /// The serial of the certificate in the node certificates Secret.
    pub serial: String,
}

/// The memory key of a cluster's listener.
fn key(namespace: &str, cluster: &str, pod: &str, listener: &str) -> String {
    format!("{namespace}/{cluster}/{pod}/{listener}")
}

/// What each broker listener was last seen serving, and which listeners were asked to reload
/// (both keyed `namespace/cluster/pod/listener` → serial).
#[derive(Debug, Default)]
pub struct ServedCertificates {
    served: Mutex<HashMap<String, String>>,
    asked: Mutex<HashMap<String, String>>,
}

impl ServedCertificates {
    fn get(&self, key: &str) -> Option<String> {
        self.served.lock().ok().and_then(|m| m.get(key).cloned())
    }

    fn set(&self, key: String, serial: String) {
        if let Ok(mut m) = self.served.lock() {
            m.insert(key, serial);
        }
    }

    fn ask(&self, key: String, serial: String) {
        if let Ok(mut m) = self.asked.lock() {
            m.insert(key, serial);
        }
    }

    /// Records that the listener serves `serial`; true when it had been asked to reload to it
    /// (now, or in an earlier reconcile: a broker applies the change asynchronously).
    fn confirm(&self, key: String, serial: &str) -> bool {
        let was_asked = self.asked.lock().ok().and_then(|mut m| m.remove(&key)).is_some_and(|asked| asked == serial);
        self.set(key, serial.to_owned());
        was_asked
    }

    /// Forgets a cluster's listeners (the cluster is gone).
    pub fn forget(&self, namespace: &str, cluster: &str) {
        let prefix = format!("{namespace}/{cluster}/");
        for map in [&self.served, &self.asked] {
            if let Ok(mut m) = map.lock() {
                m.retain(|k, _| !k.starts_with(&prefix));
            }
        }
    }
}

/// Every TLS listener of every broker with its certificate's serial. Pure.
pub fn targets(model: &ClusterModel, node_serials: &BTreeMap<String, String>) -> Vec<ServedTarget> {
    let mut out = Vec::new();
    for (pool, node_id) in model.nodes().filter(|(pool, _)| pool.role.is_broker()) {
        let pod = names::pod(&model.name, &pool.name, node_id);
        let Some(serial) = node_serials.get(&pod) else { continue };
        let host = model.pod_host(pool, node_id);
        for listener in model.listeners.iter().filter(|l| l.tls) {
            out.push(ServedTarget {
                pod: pod.clone(),
                node_id,
                listener: listener.name.clone(),
                address: format!("{host}:{}", listener.port),
                serial: serial.clone(),
            });
        }
    }
    out
}

/// The targets worth a handshake: their pod is Ready, and the listener is not known to serve
/// the wanted serial. Pure.
pub fn unconfirmed<'a>(
    targets: &'a [ServedTarget],
    (namespace, cluster): (&str, &str),
    known: impl Fn(&str) -> Option<String>,
    phase: impl Fn(&str) -> PodPhase,
) -> Vec<&'a ServedTarget> {
    targets
        .iter()
        .filter(|t| phase(&t.pod) == PodPhase::Ready)
        .filter(|t| known(&key(namespace, cluster, &t.pod, &t.listener)).as_deref() != Some(t.serial.as_str()))
        .collect()
}

/// What one reconcile of served certificates did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReloadOutcome {
    /// Pods reloaded in this pass that now serve their new certificate.
    pub reloaded: Vec<String>,
    /// Pods that do not serve their certificate yet (files not refreshed, broker not answering).
    pub pending: Vec<String>,
}

/// Makes every Ready broker serve the certificate its Secret holds, reloading listeners that
/// serve another one (see the module's documentation).
pub async fn reconcile(
    ctx: &Context,
    model: &ClusterModel,
    admin: &dyn Admin,
    pods: &BTreeMap<String, Pod>,
    issued: &super::Issued,
) -> ReloadOutcome {
    let all = targets(model, &issued.node_serials);
    let served = &ctx.served_certificates;
    let phase = |pod: &str| crate::controller::pod_phase::pod_phase(pods.get(pod));
    let todo = unconfirmed(&all, (&model.namespace, &model.name), |k| served.get(k), phase);
    let resolver = ResolverConfig { hosts_file: ctx.settings.kafka_hosts_file.clone(), loopback_only: ctx.settings.kafka_loopback_only };
    let mut outcome = ReloadOutcome::default();
    for target in todo {
        let key = key(&model.namespace, &model.name, &target.pod, &target.listener);
        let now_serving = serving(&resolver, target, &issued.cluster_ca).await;
        if now_serving.as_deref() == Some(target.serial.as_str()) {
            if served.confirm(key, &target.serial) {
                info!(pod = %target.pod, listener = %target.listener, serial = %target.serial, "the broker serves its renewed certificate, without a restart");
                push_once(&mut outcome.reloaded, &target.pod);
            }
            continue;
        }
        let location = format!("{NODE_CERTS_MOUNT}/{}.pem", target.pod);
        let alteration = ConfigAlteration {
            resource: ConfigResource::broker(target.node_id),
            changes: vec![(format!("listener.name.{}.ssl.keystore.location", target.listener.to_lowercase()), AlterOp::Set(location))],
        };
        let result = match admin.incremental_alter_configs(&[alteration], false).await {
            Ok(outcomes) => outcomes.into_iter().try_for_each(|o| o.result),
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            warn!(pod = %target.pod, listener = %target.listener, error = %e, "could not ask the broker to reload its certificate; trying again");
            push_once(&mut outcome.pending, &target.pod);
            continue;
        }
        served.ask(key.clone(), target.serial.clone());
        match serving(&resolver, target, &issued.cluster_ca).await {
            Some(serial) if serial == target.serial => {
                served.confirm(key, &serial);
                info!(pod = %target.pod, listener = %target.listener, serial = %serial, "the broker serves its renewed certificate, without a restart");
                push_once(&mut outcome.reloaded, &target.pod);
            }
            other => {
                debug!(pod = %target.pod, listener = %target.listener, serving = ?other, want = %target.serial,
                    "the broker does not serve its new certificate yet (it applies the change asynchronously, or its files are not refreshed yet)");
                push_once(&mut outcome.pending, &target.pod);
            }
        }
    }
    outcome.reloaded.retain(|p| !outcome.pending.contains(p));
    outcome
}

fn push_once(list: &mut Vec<String>, pod: &str) {
    if !list.iter().any(|p| p == pod) {
        list.push(pod.to_owned());
    }
}

/// The serial the listener serves, or `None` when it cannot be told (not answering, or a
/// certificate the cluster CA did not sign).
async fn serving(resolver: &ResolverConfig, target: &ServedTarget, cluster_ca: &str) -> Option<String> {
    match crate::kafka::served_certificate::served_certificate(resolver, &target.address, cluster_ca, HANDSHAKE_TIMEOUT).await {
        Ok(der) => super::issue::facts_of_der(&der).ok().map(|f| f.serial),
        Err(e) => {
            debug!(pod = %target.pod, listener = %target.listener, error = %e, "no answer to a TLS handshake");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn model() -> ClusterModel {
        let kc: crate::api::KafkaCluster = serde_json::from_value(json!({
            "apiVersion": "kafka.gregor.dev/v1alpha1", "kind": "KafkaCluster",
            "metadata": {"name": "c", "namespace": "ns", "uid": "u"},
            "spec": {"version": "4.4.0",
                "nodePools": [
                    {"name": "controllers", "roles": ["controller"], "replicas": 1, "storage": {"type": "ephemeral"}},
                    {"name": "brokers", "roles": ["broker"], "replicas": 2, "nodeIdStart": 100, "storage": {"type": "ephemeral"}}],
                "listeners": [
                    {"name": "plain", "port": 9092, "type": "internal", "tls": false},
                    {"name": "tls", "port": 9093, "type": "internal", "tls": true},
                    {"name": "mtls", "port": 9094, "type": "internal", "tls": true, "authentication": {"type": "tls"}}]}
        }))
        .expect("cluster");
        crate::model::validate(&kc, &crate::model::Observed { cluster_id: "MkU3OEVBNTcwNTJENDM2Qg".into(), ..Default::default() })
            .expect("valid")
            .model
    }

    fn serials() -> BTreeMap<String, String> {
        ["c-controllers-0", "c-brokers-100", "c-brokers-101"].iter().map(|p| ((*p).to_owned(), format!("serial-{p}"))).collect()
    }

    #[test]
    fn item7_every_tls_listener_of_every_broker_and_no_controller() {
        let t = targets(&model(), &serials());
        let got: Vec<(String, i32, String, String)> =
            t.iter().map(|t| (t.pod.clone(), t.node_id, t.listener.clone(), t.address.clone())).collect();
        let host = |pod: &str| format!("{pod}.c-kafka-brokers.ns.svc");
        assert_eq!(
            got,
            vec![
                ("c-brokers-100".into(), 100, "tls".into(), format!("{}:9093", host("c-brokers-100"))),
                ("c-brokers-100".into(), 100, "mtls".into(), format!("{}:9094", host("c-brokers-100"))),
                ("c-brokers-101".into(), 101, "tls".into(), format!("{}:9093", host("c-brokers-101"))),
                ("c-brokers-101".into(), 101, "mtls".into(), format!("{}:9094", host("c-brokers-101"))),
            ]
        );
        assert!(t.iter().all(|t| t.serial == format!("serial-{}", t.pod)));
        // A broker whose certificate is not in the Secret yet has nothing to serve.
        let mut partial = serials();
        partial.remove("c-brokers-101");
        assert!(targets(&model(), &partial).iter().all(|t| t.pod == "c-brokers-100"));
    }

    #[test]
    fn item7_only_ready_pods_not_known_to_serve_their_serial_are_asked() {
        let t = targets(&model(), &serials());
        let known: HashMap<String, String> = HashMap::from([
            // Known to serve the wanted certificate: skipped.
            ("ns/c/c-brokers-100/tls".to_owned(), "serial-c-brokers-100".to_owned()),
            // Known to serve an older one: asked.
            ("ns/c/c-brokers-100/mtls".to_owned(), "old".to_owned()),
        ]);
        /// (case, the pods' phase, the (pod, listener) pairs asked to reload)
        type Case<'a> = (&'a str, PodPhase, Vec<(&'a str, &'a str)>);
        let cases: Vec<Case> = vec![
            ("all Ready", PodPhase::Ready, vec![("c-brokers-100", "mtls"), ("c-brokers-101", "tls"), ("c-brokers-101", "mtls")]),
            // A starting pod reads its files when it starts: nothing to reload.
            ("starting", PodPhase::Starting, vec![]),
            ("being deleted", PodPhase::Terminating, vec![]),
            ("missing", PodPhase::Missing, vec![]),
        ];
        for (what, phase, want) in cases {
            let got: Vec<(&str, &str)> = unconfirmed(&t, ("ns", "c"), |k| known.get(k).cloned(), |_| phase.clone())
                .into_iter()
                .map(|t| (t.pod.as_str(), t.listener.as_str()))
                .collect();
            assert_eq!(got, want, "{what}");
        }
        // Another namespace's memory says nothing about this one.
        assert_eq!(unconfirmed(&t, ("other", "c"), |k| known.get(k).cloned(), |_| PodPhase::Ready).len(), 4);
    }

    #[test]
    fn forgetting_a_cluster_keeps_the_others() {
        let served = ServedCertificates::default();
        served.set(key("ns", "c", "c-brokers-100", "tls"), "a".into());
        served.set(key("ns", "c-x", "c-x-brokers-100", "tls"), "b".into());
        served.set(key("other", "c", "c-brokers-100", "tls"), "c".into());
        served.forget("ns", "c");
        assert_eq!(served.get(&key("ns", "c", "c-brokers-100", "tls")), None);
        assert_eq!(served.get(&key("ns", "c-x", "c-x-brokers-100", "tls")).as_deref(), Some("b"), "a cluster whose name starts the same");
        assert_eq!(served.get(&key("other", "c", "c-brokers-100", "tls")).as_deref(), Some("c"));
    }

    #[test]
    fn item7_a_reload_counts_when_confirmed_later_and_only_if_it_was_asked() {
        let served = ServedCertificates::default();
        let k = key("ns", "c", "c-brokers-100", "tls");
        assert!(!served.confirm(k.clone(), "new"), "serving the wanted serial without being asked is not a reload");
        served.ask(k.clone(), "newer".into());
        assert!(!served.confirm(k.clone(), "new"), "serving another serial than the one asked for");
        served.ask(k.clone(), "newer".into());
        assert!(served.confirm(k.clone(), "newer"), "the broker applied the change after the reconcile that asked");
        assert!(!served.confirm(k.clone(), "newer"), "counted once");
        assert_eq!(served.get(&k).as_deref(), Some("newer"));
        served.ask(k.clone(), "x".into());
        served.forget("ns", "c");
        assert!(!served.confirm(k, "x"), "forgetting a cluster forgets what it was asked");
    }
}
