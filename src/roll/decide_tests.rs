use std::time::Duration;

use proptest::prelude::*;

use super::*;
use crate::roll::observation::{NodeId, RestartReason, Role};

fn node(id: NodeId, role: Role) -> NodeObservation {
    NodeObservation {
        id,
        pod: format!("c-pool-{id}"),
        role,
        phase: PodPhase::Ready,
        unready_for: Duration::ZERO,
        restart_reasons: Vec::new(),
        caught_up: Some(true),
        restart_safety: RestartSafety::Safe { unprotectable: Vec::new() },
        serving: Some(true),
    }
}

/// Stuck in `phase`, and Kafka reports it as not serving (fenced, in no ISR).
fn down(phase: PodPhase) -> impl FnOnce(&mut NodeObservation) {
    move |n| {
        n.phase = phase;
        n.caught_up = Some(false);
        n.serving = Some(false);
    }
}

fn outdated(mut n: NodeObservation) -> NodeObservation {
    n.restart_reasons = vec![RestartReason::ConfigChanged];
    n
}

/// 3 controllers (0, 1, 2; 1 is the active one) and 3 brokers (100, 101, 102), all outdated.
fn split_cluster() -> Observation {
    Observation {
        nodes: vec![
            outdated(node(0, Role::Controller)),
            outdated(node(1, Role::Controller)),
            outdated(node(2, Role::Controller)),
            outdated(node(100, Role::Broker)),
            outdated(node(101, Role::Broker)),
            outdated(node(102, Role::Broker)),
        ],
        active_controller: Some(1),
        quorum_caught_up: Some(true),
    }
}

fn with(mut obs: Observation, id: NodeId, f: impl FnOnce(&mut NodeObservation)) -> Observation {
    if let Some(n) = obs.nodes.iter_mut().find(|n| n.id == id) {
        f(n);
    }
    obs
}

fn restarted(action: &Step) -> Option<NodeId> {
    action.restarts()
}

#[test]
fn table() {
    let p = Policy::default();
    let all_current = Observation {
        nodes: split_cluster()
            .nodes
            .into_iter()
            .map(|mut n| {
                n.restart_reasons.clear();
                n
            })
            .collect(),
        ..split_cluster()
    };
    let cases: Vec<(&str, Observation, Step)> = vec![
        ("nothing outdated is idle", all_current.clone(), Step::Idle),
        (
            "nothing outdated still waits for an unready pod (the last restarted one)",
            with(all_current.clone(), 100, |n| n.phase = PodPhase::Starting),
            Step::Wait { node: 100, pod: "c-pool-100".into(), reason: WaitReason::NodeNotCaughtUp, overdue: false },
        ),
        (
            "controllers first, lowest non-active id",
            split_cluster(),
            Step::Restart {
                node: 0,
                pod: "c-pool-0".into(),
                reasons: vec![RestartReason::ConfigChanged],
                out_of_turn: false,
                unprotectable: vec![],
            },
        ),
        (
            "active controller last among controllers",
            with(with(split_cluster(), 0, |n| n.restart_reasons.clear()), 2, |n| n.restart_reasons.clear()),
            Step::Restart {
                node: 1,
                pod: "c-pool-1".into(),
                reasons: vec![RestartReason::ConfigChanged],
                out_of_turn: false,
                unprotectable: vec![],
            },
        ),
        (
            "brokers after every controller",
            Observation {
                nodes: split_cluster()
                    .nodes
                    .into_iter()
                    .map(|mut n| {
                        if n.role == Role::Controller {
                            n.restart_reasons.clear();
                        }
                        n
                    })
                    .collect(),
                ..split_cluster()
            },
            Step::Restart {
                node: 100,
                pod: "c-pool-100".into(),
                reasons: vec![RestartReason::ConfigChanged],
                out_of_turn: false,
                unprotectable: vec![],
            },
        ),
        (
            "controller waits for the quorum",
            Observation { quorum_caught_up: Some(false), ..split_cluster() },
            Step::Wait { node: 0, pod: "c-pool-0".into(), reason: WaitReason::QuorumNotCaughtUp, overdue: false },
        ),
        (
            "unknown quorum is a wait, never a restart",
            Observation { quorum_caught_up: None, ..split_cluster() },
            Step::Wait { node: 0, pod: "c-pool-0".into(), reason: WaitReason::KafkaUnreachable, overdue: false },
        ),
        (
            "an unready node holds the roll",
            with(split_cluster(), 101, |n| {
                n.restart_reasons.clear();
                n.phase = PodPhase::Starting;
                n.unready_for = Duration::from_secs(10);
            }),
            Step::Wait { node: 101, pod: "c-pool-101".into(), reason: WaitReason::NodeNotCaughtUp, overdue: false },
        ),
        (
            "a ready node not yet in the ISR holds the roll",
            with(split_cluster(), 101, |n| {
                n.restart_reasons.clear();
                n.caught_up = Some(false);
            }),
            Step::Wait { node: 101, pod: "c-pool-101".into(), reason: WaitReason::NodeNotCaughtUp, overdue: false },
        ),
        (
            "a long wait is overdue",
            with(split_cluster(), 101, |n| {
                n.restart_reasons.clear();
                n.phase = PodPhase::Starting;
                n.unready_for = Duration::from_secs(301);
            }),
            Step::Wait { node: 101, pod: "c-pool-101".into(), reason: WaitReason::NodeNotCaughtUp, overdue: true },
        ),
        (
            "a missing pod is waited for",
            with(split_cluster(), 2, |n| {
                n.restart_reasons.clear();
                n.phase = PodPhase::Missing;
            }),
            Step::Wait { node: 2, pod: "c-pool-2".into(), reason: WaitReason::PodNotRunning, overdue: false },
        ),
        (
            "an outdated node in log recovery is not restarted again",
            with(split_cluster(), 0, |n| {
                n.phase = PodPhase::Starting;
                n.caught_up = Some(false);
            }),
            Step::Wait { node: 0, pod: "c-pool-0".into(), reason: WaitReason::NodeNotCaughtUp, overdue: false },
        ),
        (
            "an outdated stuck pod goes first, out of turn",
            with(split_cluster(), 102, down(PodPhase::CrashLooping)),
            Step::Restart {
                node: 102,
                pod: "c-pool-102".into(),
                reasons: vec![RestartReason::ConfigChanged],
                out_of_turn: true,
                unprotectable: vec![],
            },
        ),
        (
            "an unschedulable outdated pod goes first",
            with(split_cluster(), 101, down(PodPhase::Pending { unschedulable: true })),
            Step::Restart {
                node: 101,
                pod: "c-pool-101".into(),
                reasons: vec![RestartReason::ConfigChanged],
                out_of_turn: true,
                unprotectable: vec![],
            },
        ),
        (
            "item 7: an outdated stuck pod that Kafka still counts as serving is not restarted out of turn",
            with(split_cluster(), 102, |n| n.phase = PodPhase::CrashLooping),
            Step::Wait { node: 102, pod: "c-pool-102".into(), reason: WaitReason::NodeNotCaughtUp, overdue: false },
        ),
        (
            "item 7: ... nor while another broker is down; the roll waits",
            with(with(split_cluster(), 102, |n| n.phase = PodPhase::CrashLooping), 101, |n| {
                n.restart_reasons.clear();
                n.caught_up = Some(false);
                n.serving = Some(false);
            }),
            Step::Wait { node: 101, pod: "c-pool-101".into(), reason: WaitReason::NodeNotCaughtUp, overdue: false },
        ),
        (
            "item 7: an outdated stuck pod Kafka cannot tell about is waited on, never restarted",
            with(split_cluster(), 102, |n| {
                n.phase = PodPhase::CrashLooping;
                n.serving = None;
                n.caught_up = None;
            }),
            Step::Wait { node: 102, pod: "c-pool-102".into(), reason: WaitReason::KafkaUnreachable, overdue: false },
        ),
        (
            "item 7: an unschedulable outdated pod not yet fenced is waited on",
            with(split_cluster(), 101, |n| n.phase = PodPhase::Pending { unschedulable: true }),
            Step::Wait { node: 101, pod: "c-pool-101".into(), reason: WaitReason::PodNotRunning, overdue: false },
        ),
        (
            "item 7: out of ISR is not enough while the node is only starting (not stuck)",
            with(split_cluster(), 102, |n| {
                n.phase = PodPhase::Starting;
                n.serving = Some(false);
                n.caught_up = Some(false);
            }),
            Step::Wait { node: 102, pod: "c-pool-102".into(), reason: WaitReason::NodeNotCaughtUp, overdue: false },
        ),
        (
            "an up-to-date stuck pod halts the roll",
            with(split_cluster(), 102, |n| {
                n.restart_reasons.clear();
                n.phase = PodPhase::ImagePullFailing;
            }),
            Step::Halted { node: 102, pod: "c-pool-102".into() },
        ),
        (
            "a broker that would drop partitions below min ISR is blocked",
            with(with_controllers_done(), 100, |n| n.restart_safety = RestartSafety::Blocked { partitions: vec!["orders-0".into()] }),
            Step::Blocked { node: 100, pod: "c-pool-100".into(), partitions: vec!["orders-0".into()] },
        ),
        (
            "a node out of the ISR holds the roll, reported by the partitions the next restart would risk",
            with(with(with_controllers_done(), 102, |n| n.caught_up = Some(false)), 100, |n| {
                n.restart_safety = RestartSafety::Blocked { partitions: vec!["orders-0".into()] }
            }),
            Step::Blocked { node: 100, pod: "c-pool-100".into(), partitions: vec!["orders-0".into()] },
        ),
        (
            "an unknown verdict is a wait",
            with(with_controllers_done(), 100, |n| n.restart_safety = RestartSafety::Unknown),
            Step::Wait { node: 100, pod: "c-pool-100".into(), reason: WaitReason::KafkaUnreachable, overdue: false },
        ),
        (
            "unprotectable partitions are reported, not waited on",
            with(with_controllers_done(), 100, |n| n.restart_safety = RestartSafety::Safe { unprotectable: vec!["scratch-0".into()] }),
            Step::Restart {
                node: 100,
                pod: "c-pool-100".into(),
                reasons: vec![RestartReason::ConfigChanged],
                out_of_turn: false,
                unprotectable: vec!["scratch-0".into()],
            },
        ),
        (
            "a controller-only node ignores the broker verdict",
            with(split_cluster(), 0, |n| n.restart_safety = RestartSafety::Blocked { partitions: vec!["x-0".into()] }),
            Step::Restart {
                node: 0,
                pod: "c-pool-0".into(),
                reasons: vec![RestartReason::ConfigChanged],
                out_of_turn: false,
                unprotectable: vec![],
            },
        ),
        (
            "a combined node needs both the quorum and the verdict",
            combined(Some(true), RestartSafety::Blocked { partitions: vec!["t-1".into()] }),
            Step::Blocked { node: 0, pod: "c-pool-0".into(), partitions: vec!["t-1".into()] },
        ),
        (
            "combined: active controller last",
            combined(Some(true), RestartSafety::Safe { unprotectable: vec![] }),
            Step::Restart {
                node: 0,
                pod: "c-pool-0".into(),
                reasons: vec![RestartReason::ConfigChanged],
                out_of_turn: false,
                unprotectable: vec![],
            },
        ),
    ];
    for (name, obs, want) in cases {
        assert_eq!(decide(&obs, &p), want, "case: {name}");
    }
}

fn with_controllers_done() -> Observation {
    let mut obs = split_cluster();
    for n in obs.nodes.iter_mut().filter(|n| n.role == Role::Controller) {
        n.restart_reasons.clear();
    }
    obs
}

fn combined(quorum: Option<bool>, verdict: RestartSafety) -> Observation {
    let mut nodes = vec![outdated(node(0, Role::Combined)), outdated(node(1, Role::Combined)), outdated(node(2, Role::Combined))];
    nodes[0].restart_safety = verdict;
    // Node 2 is the active controller, so it goes last; node 0 is first.
    Observation { nodes, active_controller: Some(2), quorum_caught_up: quorum }
}

/// Simulates a whole roll: after each restart the pod comes back on the new revision, becomes
/// Ready and catches up. Every node is restarted exactly once, in the documented order.
#[test]
fn a_full_roll_restarts_each_node_once_in_order() {
    let p = Policy::default();
    let mut obs = split_cluster();
    let mut order = Vec::new();
    for _ in 0..20 {
        match decide(&obs, &p) {
            Step::Restart { node, .. } => {
                order.push(node);
                // The pod goes down...
                obs = with(obs, node, |n| {
                    n.phase = PodPhase::Starting;
                    n.restart_reasons.clear();
                    n.caught_up = Some(false);
                });
                assert!(matches!(decide(&obs, &p), Step::Wait { node: w, .. } if w == node));
                // ...and comes back caught up.
                obs = with(obs, node, |n| {
                    n.phase = PodPhase::Ready;
                    n.caught_up = Some(true);
                });
            }
            Step::Idle => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(order, vec![0, 2, 1, 100, 101, 102]);
}

fn arb_phase() -> impl Strategy<Value = PodPhase> {
    prop_oneof![
        Just(PodPhase::Missing),
        any::<bool>().prop_map(|u| PodPhase::Pending { unschedulable: u }),
        Just(PodPhase::Starting),
        Just(PodPhase::Ready),
        Just(PodPhase::Ready),
        Just(PodPhase::Ready),
        Just(PodPhase::CrashLooping),
        Just(PodPhase::ImagePullFailing),
        Just(PodPhase::Terminating),
    ]
}

fn arb_node(id: NodeId) -> impl Strategy<Value = NodeObservation> {
    (
        prop_oneof![Just(Role::Controller), Just(Role::Combined), Just(Role::Broker)],
        arb_phase(),
        any::<bool>(),
        prop_oneof![Just(Some(true)), Just(Some(true)), Just(Some(false)), Just(None)],
        prop_oneof![
            Just(RestartSafety::Unknown),
            Just(RestartSafety::Safe { unprotectable: vec![] }),
            Just(RestartSafety::Blocked { partitions: vec!["t-0".into()] }),
        ],
        0u64..600,
        prop_oneof![Just(Some(true)), Just(Some(false)), Just(None)],
    )
        .prop_map(move |(role, phase, is_outdated, caught_up, verdict, unready, serving)| NodeObservation {
            id,
            pod: format!("p-{id}"),
            role,
            phase,
            unready_for: Duration::from_secs(unready),
            restart_reasons: if is_outdated { vec![RestartReason::PodTemplateChanged] } else { vec![] },
            caught_up,
            restart_safety: verdict,
            serving,
        })
}

fn arb_observation() -> impl Strategy<Value = Observation> {
    (1usize..8)
        .prop_flat_map(|n| {
            let nodes: Vec<_> = (0..n as i32).map(arb_node).collect();
            (nodes, proptest::option::of(0..n as i32), proptest::option::of(any::<bool>()))
        })
        .prop_map(|(nodes, active, quorum)| Observation { nodes, active_controller: active, quorum_caught_up: quorum })
}

proptest! {
    /// The safety invariant: a restart never takes down a second node. Either the target is
    /// already down and stuck, or every node is healthy, and Kafka has cleared it.
    #[test]
    fn never_two_nodes_down(obs in arb_observation()) {
        let action = decide(&obs, &Policy::default());
        if let Some(id) = restarted(&action) {
            let target = obs.nodes.iter().find(|n| n.id == id).expect("target exists");
            prop_assert!(target.is_outdated());
            let out_of_turn = matches!(action, Step::Restart { out_of_turn: true, .. });
            if out_of_turn {
                // Item 7: only a node Kafka itself reports as not serving, and stuck.
                prop_assert!(target.phase.is_stuck());
                prop_assert_eq!(target.serving, Some(false));
            } else {
                prop_assert!(obs.nodes.iter().all(|n| n.is_healthy()));
                if target.role.is_broker() {
                    let safe = matches!(target.restart_safety, RestartSafety::Safe { .. });
                    prop_assert!(safe);
                }
                if target.role.is_controller() {
                    prop_assert_eq!(obs.quorum_caught_up, Some(true));
                }
            }
        }
    }

    /// Idle means done: nothing outdated and every node healthy.
    #[test]
    fn idle_only_when_converged(obs in arb_observation()) {
        if decide(&obs, &Policy::default()) == Step::Idle {
            prop_assert!(obs.nodes.iter().all(|n| !n.is_outdated() && n.is_healthy()));
        }
    }

    #[test]
    fn deterministic(obs in arb_observation()) {
        prop_assert_eq!(decide(&obs, &Policy::default()), decide(&obs, &Policy::default()));
    }
}
