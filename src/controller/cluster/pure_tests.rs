//! Table tests of the cluster reconciler's two pure steps: `observe::observation` (cached pods →
//! the planner's observation) and `status::status` (the reconcile's conclusion → the status).

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};

use super::observe::{Inputs, observation};
use super::scale::Refusal;
use super::status::{StatusInputs, status};
use crate::api::cluster::KafkaClusterStatus;
use crate::controller::reason::ClusterReason;
use crate::model::{self, ClusterModel, Observed, Warning, names};
use crate::render::{self, ClusterObjects};
use crate::roll::{NodeId, PodPhase, RestartReason, Step, WaitReason};

fn model() -> ClusterModel {
    let kc: crate::api::KafkaCluster = serde_json::from_value(json!({
        "apiVersion": "kafka.gregor.dev/v1alpha1", "kind": "KafkaCluster",
        "metadata": {"name": "c", "namespace": "ns", "uid": "u", "generation": 4},
        "spec": {"version": "4.4.0",
            "nodePools": [
                {"name": "controllers", "roles": ["controller"], "replicas": 1, "storage": {"type": "ephemeral"}},
                {"name": "brokers", "roles": ["broker"], "replicas": 1, "nodeIdStart": 100, "storage": {"type": "ephemeral"}}],
            "listeners": [{"name": "plain", "port": 9092, "type": "internal", "tls": false}]}
    }))
    .expect("cluster");
    let observed = Observed { cluster_id: "MkU3OEVBNTcwNTJENDM2Qg".into(), node_id_starts: Default::default() };
    model::validate(&kc, &observed).expect("valid").model
}

const BROKER: NodeId = 100;

/// The broker's pod: Ready on the current revision and image, changed by `edit`.
fn broker_pod(m: &ClusterModel, objects: &ClusterObjects, edit: impl FnOnce(&mut Value)) -> Pod {
    let mut pod = json!({
        "metadata": {"name": names::pod("c", "brokers", BROKER), "namespace": "ns", "uid": "p",
            "annotations": {names::annotations::REVISION: objects.pools[1].revision}},
        "spec": {"nodeName": "node-a", "containers": [{"name": names::KAFKA_CONTAINER, "image": m.image}]},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
    });
    edit(&mut pod);
    serde_json::from_value(pod).expect("pod")
}

#[test]
fn item6_observation_table() {
    let m = model();
    let objects = render::render(&m).expect("render");
    type Edit = fn(&mut Value);
    // (case, the broker's pod, cordoned nodes, config restarts, manual-roll pools) → (phase, reasons)
    type Case = (&'static str, Option<Edit>, Vec<&'static str>, Vec<NodeId>, Vec<&'static str>, PodPhase, Vec<RestartReason>);
    let cases: Vec<Case> = vec![
        ("no pod", None, vec![], vec![], vec![], PodPhase::Missing, vec![]),
        ("current and Ready", Some(|_| {}), vec![], vec![], vec![], PodPhase::Ready, vec![]),
        (
            "older revision, same image",
            Some(|p| p["metadata"]["annotations"][names::annotations::REVISION] = json!("old")),
            vec![],
            vec![],
            vec![],
            PodPhase::Ready,
            vec![RestartReason::PodTemplateChanged],
        ),
        (
            "older revision, other image",
            Some(|p| {
                p["metadata"]["annotations"][names::annotations::REVISION] = json!("old");
                p["spec"]["containers"][0]["image"] = json!("apache/kafka:4.3.0");
            }),
            vec![],
            vec![],
            vec![],
            PodPhase::Ready,
            vec![RestartReason::ImageChanged],
        ),
        ("read-only config changed", Some(|_| {}), vec![], vec![BROKER], vec![], PodPhase::Ready, vec![RestartReason::ConfigChanged]),
        (
            "manual-roll annotation on the pod",
            Some(|p| p["metadata"]["annotations"][names::annotations::MANUAL_ROLL] = json!("true")),
            vec![],
            vec![],
            vec![],
            PodPhase::Ready,
            vec![RestartReason::ManualRoll],
        ),
        ("manual roll of the pool", Some(|_| {}), vec![], vec![], vec!["brokers"], PodPhase::Ready, vec![RestartReason::ManualRoll]),
        ("on a cordoned node", Some(|_| {}), vec!["node-a"], vec![], vec![], PodPhase::Ready, vec![RestartReason::NodeCordoned]),
        ("another node cordoned", Some(|_| {}), vec!["node-b"], vec![], vec![], PodPhase::Ready, vec![]),
        (
            "terminating: no reasons",
            Some(|p| {
                p["metadata"]["annotations"][names::annotations::REVISION] = json!("old");
                p["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
            }),
            vec![],
            vec![],
            vec![],
            PodPhase::Terminating,
            vec![],
        ),
        ("starting", Some(|p| p["status"]["conditions"][0]["status"] = json!("False")), vec![], vec![], vec![], PodPhase::Starting, vec![]),
    ];
    for (case, edit, cordoned, config_restarts, manual, phase, reasons) in cases {
        let pods: BTreeMap<String, Pod> =
            edit.map(|e| broker_pod(&m, &objects, e)).map(|p| (names::pod("c", "brokers", BROKER), p)).into_iter().collect();
        let cordoned: BTreeSet<String> = cordoned.into_iter().map(str::to_owned).collect();
        let config_restarts: BTreeSet<NodeId> = config_restarts.into_iter().collect();
        let manual: BTreeSet<String> = manual.into_iter().map(str::to_owned).collect();
        let obs = observation(&Inputs {
            model: &m,
            objects: &objects,
            pods: &pods,
            cordoned: &cordoned,
            config_restarts: &config_restarts,
            manual_roll_pools: &manual,
            now: Timestamp::now(),
        });
        assert_eq!(obs.nodes.iter().map(|n| n.id).collect::<Vec<_>>(), vec![0, BROKER], "{case}: every node of the spec");
        let broker = &obs.nodes[1];
        assert_eq!((broker.pod.as_str(), broker.role.is_broker()), ("c-brokers-100", true), "{case}");
        assert_eq!(broker.phase, phase, "{case}");
        assert_eq!(broker.restart_reasons, reasons, "{case}");
        assert_eq!((broker.caught_up, obs.active_controller, obs.quorum_caught_up), (None, None, None), "{case}: caches only");
        assert_eq!(obs.nodes[0].phase, PodPhase::Missing, "{case}: the controller has no pod");
    }
}

fn ready_of(s: &KafkaClusterStatus) -> (String, String) {
    let c = s.conditions.iter().find(|c| c.type_ == "Ready").expect("Ready");
    (c.status.clone(), c.reason.clone())
}

fn has(s: &KafkaClusterStatus, type_: &str) -> bool {
    s.conditions.iter().any(|c| c.type_ == type_ && c.status == "True")
}

#[test]
fn item6_status_table() {
    let m = model();
    let objects = render::render(&m).expect("render");
    // The controller's pod, current and Ready: `kafkaVersion` needs every node on the image.
    let controller = broker_pod(&m, &objects, |p| {
        p["metadata"]["name"] = json!(names::pod("c", "controllers", 0));
        p["metadata"]["annotations"][names::annotations::REVISION] = json!(objects.pools[0].revision);
    });
    let controller = (names::pod("c", "controllers", 0), controller);
    let current: BTreeMap<String, Pod> =
        [controller.clone(), (names::pod("c", "brokers", BROKER), broker_pod(&m, &objects, |_| {}))].into();
    let outdated: BTreeMap<String, Pod> = [
        controller,
        (
            names::pod("c", "brokers", BROKER),
            broker_pod(&m, &objects, |p| {
                p["metadata"]["annotations"][names::annotations::REVISION] = json!("old");
                p["spec"]["containers"][0]["image"] = json!("apache/kafka:4.3.0");
            }),
        ),
    ]
    .into();
    let empty = BTreeSet::new();
    let observe = |pods: &BTreeMap<String, Pod>| {
        observation(&Inputs {
            model: &m,
            objects: &objects,
            pods,
            cordoned: &BTreeSet::new(),
            config_restarts: &empty,
            manual_roll_pools: &BTreeSet::new(),
            now: Timestamp::now(),
        })
    };
    let restart = Step::Restart {
        node: BROKER,
        pod: "c-brokers-100".into(),
        reasons: vec![RestartReason::ImageChanged],
        out_of_turn: false,
        unprotectable: vec!["t-0".into()],
    };
    let wait = Step::Wait { node: BROKER, pod: "c-brokers-100".into(), reason: WaitReason::NodeNotCaughtUp, overdue: true };
    let refusal = Refusal { reason: ClusterReason::ScaleDownBlocked, message: "brokers still host replicas".into() };
    let previous = KafkaClusterStatus { kafka_version: Some("4.3.0".into()), ..KafkaClusterStatus::default() };
    let warning = Warning { path: "spec.config".into(), message: "min.insync.replicas=1".into() };
    // (case, pods, step, refusal, warnings) → (Ready, reason, Rolling, Warning, roll in progress, roll node, kafkaVersion)
    type Row<'a> = (&'a str, &'a BTreeMap<String, Pod>, &'a Step, Option<&'a Refusal>, Vec<Warning>);
    type Expected = (&'static str, &'static str, bool, bool, bool, Option<NodeId>, Option<&'static str>);
    let cases: Vec<(Row<'_>, Expected)> = vec![
        (("converged", &current, &Step::Idle, None, vec![]), ("True", "Ready", false, false, false, None, Some("4.4.0"))),
        (("restarting", &outdated, &restart, None, vec![]), ("False", "RollingRestart", true, true, true, Some(BROKER), Some("4.3.0"))),
        (("waiting too long", &outdated, &wait, None, vec![]), ("False", "RollStalled", true, false, true, Some(BROKER), Some("4.3.0"))),
        (
            ("refused", &current, &Step::Idle, Some(&refusal), vec![]),
            ("False", "ScaleDownBlocked", false, false, false, None, Some("4.4.0")),
        ),
        (("unsafe settings", &current, &Step::Idle, None, vec![warning]), ("True", "Ready", false, true, false, None, Some("4.4.0"))),
    ];
    for ((case, pods, step, refusal, warnings), (ready, reason, rolling, warned, in_progress, node, version)) in cases {
        let obs = observe(pods);
        let s = status(&StatusInputs {
            previous: Some(&previous),
            generation: Some(4),
            model: &m,
            warnings: &warnings,
            observation: &obs,
            step,
            refusal,
            metadata_level: Some(27),
            kafka_failure: None,
            rejected: &[],
            tracked: None,
            storage: None,
            certificates: None,
            now: Timestamp::now(),
        });
        assert_eq!(ready_of(&s), (ready.to_owned(), reason.to_owned()), "{case}");
        assert_eq!(has(&s, "Rolling"), rolling, "{case}: Rolling");
        assert_eq!(has(&s, "Warning"), warned, "{case}: Warning");
        let roll = s.roll.clone().expect("roll");
        assert_eq!((roll.in_progress, roll.node), (in_progress, node), "{case}: roll");
        assert_eq!(s.kafka_version.as_deref(), version, "{case}: kafkaVersion moves only once every image is current");
        assert_eq!(s.observed_generation, Some(4), "{case}");
        assert_eq!(s.cluster_id.as_deref(), Some("MkU3OEVBNTcwNTJENDM2Qg"), "{case}");
        assert_eq!(
            s.node_pools.iter().map(|p| (p.name.as_str(), p.node_ids.clone())).collect::<Vec<_>>(),
            vec![("controllers", vec![0]), ("brokers", vec![BROKER])]
        );
        assert_eq!(s.listeners.len(), 1, "{case}");
    }
}
