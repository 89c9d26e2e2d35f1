//! Table tests: one case per goal and per reason a goal can stay unmet.

use std::collections::BTreeSet;

use super::*;

const GIB: u64 = 1 << 30;

pub(super) fn broker(id: BrokerId, rack: Option<&str>) -> Broker {
    Broker { id, rack: rack.map(str::to_string), capacity_bytes: 1000 * GIB }
}

pub(super) fn part(topic: &str, partition: i32, replicas: &[BrokerId], size_bytes: u64) -> PartitionLayout {
    PartitionLayout {
        id: TopicPartition { topic: topic.to_string(), partition },
        replicas: replicas.to_vec(),
        leader: replicas.first().copied(),
        isr: replicas.to_vec(),
        size_bytes,
        min_isr: 1,
    }
}

fn layout(brokers: Vec<Broker>, partitions: Vec<PartitionLayout>, drain: &[BrokerId]) -> ClusterLayout {
    ClusterLayout { brokers, partitions, drain: drain.iter().copied().collect() }
}

fn no_racks(ids: &[BrokerId]) -> Vec<Broker> {
    ids.iter().map(|&id| broker(id, None)).collect()
}

fn status(plan: &Plan, goal: Goal) -> &GoalStatus {
    &plan.goals.iter().find(|g| g.goal == goal).expect("every goal is judged").status
}

fn reasons(plan: &Plan, goal: Goal) -> Vec<UnmetReason> {
    match status(plan, goal) {
        GoalStatus::Met => Vec::new(),
        GoalStatus::Unmet(r) => r.clone(),
    }
}

fn all_met(plan: &Plan) -> bool {
    plan.goals.iter().all(|g| g.status == GoalStatus::Met)
}

fn replicas_on(layout: &ClusterLayout, b: BrokerId) -> usize {
    layout.partitions.iter().filter(|p| p.replicas.contains(&b)).count()
}

/// `n` partitions of RF `rf` laid out round robin over `brokers`, all of `size` bytes.
fn round_robin(topic: &str, n: i32, rf: usize, brokers: &[BrokerId], size: u64) -> Vec<PartitionLayout> {
    (0..n)
        .map(|i| {
            let replicas: Vec<BrokerId> = (0..rf).map(|k| brokers[(i as usize + k) % brokers.len()]).collect();
            part(topic, i, &replicas, size)
        })
        .collect()
}

fn tp(topic: &str, partition: i32) -> TopicPartition {
    TopicPartition { topic: topic.to_string(), partition }
}

#[test]
fn a_balanced_cluster_gets_an_empty_plan_with_every_goal_met() {
    let l = layout(no_racks(&[1, 2, 3]), round_robin("t", 30, 3, &[1, 2, 3], GIB), &[]);
    let plan = plan(&l, &Goals::default()).expect("valid");
    assert!(plan.is_empty(), "{plan:?}");
    assert!(all_met(&plan), "{:?}", plan.goals);
    assert_eq!(plan.lower_bound, 0);
    assert_eq!(plan.goals.iter().map(|g| g.goal).collect::<Vec<_>>(), Goal::ALL.to_vec());
}

#[test]
fn goal1_a_drained_broker_ends_empty_and_moves_match_the_bound() {
    let l = layout(no_racks(&[1, 2, 3, 4]), round_robin("t", 40, 2, &[1, 2, 3, 4], GIB), &[4]);
    let plan = plan(&l, &Goals::default()).expect("valid");
    let after = plan.apply(&l);
    assert_eq!(replicas_on(&after, 4), 0);
    assert_eq!(*status(&plan, Goal::Drained), GoalStatus::Met);
    assert_eq!(plan.replicas_moved, 20, "each replica on broker 4 moves once");
    assert_eq!(plan.lower_bound, 20);
    assert!(all_met(&plan), "{:?}", plan.goals);
    for m in &plan.moves {
        assert_eq!(m.removed().collect::<Vec<_>>(), vec![4], "only broker 4's replicas move: {m:?}");
    }
}

#[test]
fn goal1_unmet_too_few_brokers_for_the_replication_factor() {
    let l = layout(no_racks(&[1, 2, 3]), round_robin("t", 6, 3, &[1, 2, 3], GIB), &[3]);
    let plan = plan(&l, &Goals::default()).expect("valid");
    assert!(plan.moves.is_empty(), "no broker can take the replicas: {:?}", plan.moves);
    assert_eq!(
        reasons(&plan, Goal::Drained),
        vec![UnmetReason::TooFewBrokers { partition: tp("t", 0), replication_factor: 3, brokers_left: 2 }]
    );
}

#[test]
fn goal1_unmet_under_replicated_partitions_stay_where_they_are() {
    let mut parts = round_robin("t", 4, 2, &[1, 2, 3], GIB);
    parts[0].isr = vec![parts[0].replicas[0]];
    let l = layout(no_racks(&[1, 2, 3, 4]), parts, &[2]);
    let plan = plan(&l, &Goals::default()).expect("valid");
    assert!(plan.moves.iter().all(|m| m.partition != tp("t", 0)));
    assert!(plan.leader_reorders.iter().all(|m| m.partition != tp("t", 0)));
    assert_eq!(plan.under_replicated, vec![tp("t", 0)]);
    assert_eq!(reasons(&plan, Goal::Drained), vec![UnmetReason::UnderReplicated { count: 1, first: tp("t", 0) }]);
    assert_eq!(replicas_on(&plan.apply(&l), 2), 1, "only the under-replicated partition keeps broker 2");
}

#[test]
fn goal2_replicas_sharing_a_rack_spread_over_racks() {
    let brokers = vec![broker(1, Some("a")), broker(2, Some("a")), broker(3, Some("b")), broker(4, Some("b"))];
    let parts = vec![part("t", 0, &[1, 2], GIB), part("t", 1, &[3, 4], GIB), part("t", 2, &[1, 3], GIB), part("t", 3, &[2, 4], GIB)];
    let l = layout(brokers, parts, &[]);
    let plan = plan(&l, &Goals::default()).expect("valid");
    assert_eq!(*status(&plan, Goal::RackAware), GoalStatus::Met);
    assert_eq!(plan.replicas_moved, 2, "one replica each of t-0 and t-1");
    assert_eq!(plan.lower_bound, 2);
    let after = plan.apply(&l);
    for p in &after.partitions {
        let racks: BTreeSet<bool> = p.replicas.iter().map(|&r| r <= 2).collect();
        assert_eq!(racks.len(), 2, "{p:?}");
    }
}

#[test]
fn goal2_unmet_too_few_racks_still_uses_every_rack() {
    let brokers = vec![broker(1, Some("a")), broker(2, Some("a")), broker(3, Some("b")), broker(4, Some("b"))];
    let parts = vec![part("t", 0, &[1, 2, 3], GIB), part("t", 1, &[1, 2, 4], GIB)];
    let l = layout(brokers, parts, &[]);
    let plan = plan(&l, &Goals::default()).expect("valid");
    assert_eq!(reasons(&plan, Goal::RackAware), vec![UnmetReason::TooFewRacks { partition: tp("t", 0), replication_factor: 3, racks: 2 }]);
    for p in &plan.apply(&l).partitions {
        assert!(p.replicas.iter().any(|&r| r <= 2) && p.replicas.iter().any(|&r| r > 2), "{p:?}");
    }
}

#[test]
fn goal3_disk_comes_into_band_with_few_large_moves() {
    // Broker 1 holds two 20 GiB partitions, broker 3 one, broker 2 none; each has two small ones.
    // One move of a large partition fixes the disk (the smallest-first count phase would not).
    let mut parts = vec![part("big", 0, &[1], 20 * GIB), part("big", 1, &[1], 20 * GIB), part("big", 2, &[3], 20 * GIB)];
    parts.extend((0..6).map(|i| part("small", i, &[1 + i % 3], GIB)));
    let l = layout(no_racks(&[1, 2, 3]), parts, &[]);
    let plan = plan(&l, &Goals::default()).expect("valid");
    assert!(all_met(&plan), "{:?} {:?}", plan.goals, plan.after);
    assert_eq!(plan.replicas_moved, 1, "{:?}", plan.moves);
    assert_eq!(plan.moves[0].partition.topic, "big");
    assert_eq!(plan.lower_bound, 1);
}

#[test]
fn goal3_unmet_one_partition_larger_than_the_band() {
    let parts = vec![part("big", 0, &[1], 100 * GIB), part("small", 0, &[2], GIB)];
    let l = layout(no_racks(&[1, 2]), parts, &[]);
    let plan = plan(&l, &Goals::default()).expect("valid");
    let r = reasons(&plan, Goal::DiskInBand);
    assert!(
        r.iter().any(|r| matches!(r, UnmetReason::PartitionLargerThanBand { partition, size_bytes, .. } if *partition == tp("big", 0) && *size_bytes == 100 * GIB)),
        "{r:?}"
    );
    assert!(plan.moves.is_empty(), "moving either partition makes it no better: {:?}", plan.moves);
}

#[test]
fn goal3_unmet_not_enough_disk() {
    let mut brokers = no_racks(&[1, 2]);
    for b in &mut brokers {
        b.capacity_bytes = GIB;
    }
    let l = layout(brokers, round_robin("t", 4, 1, &[1], GIB), &[]);
    let plan = plan(&l, &Goals { disk_band_percent: 0, ..Goals::default() }).expect("valid");
    assert_eq!(*status(&plan, Goal::DiskInBand), GoalStatus::Met, "2 GiB each is the share, even over capacity");
    let plan = plan_of(layout(plan.apply(&l).brokers, round_robin("t", 5, 1, &[1, 2], GIB), &[]));
    assert!(reasons(&plan, Goal::DiskInBand).contains(&UnmetReason::NotEnoughDisk { bytes: 5 * GIB, capacity_bytes: 2 * GIB }));
}

fn plan_of(l: ClusterLayout) -> Plan {
    let goals = Goals { disk_band_percent: 0, ..Goals::default() };
    super::plan(&l, &goals).expect("valid")
}

#[test]
fn goal4_a_new_broker_gets_its_share_of_replicas() {
    let l = layout(no_racks(&[1, 2, 3, 4]), round_robin("t", 60, 3, &[1, 2, 3], GIB), &[]);
    let plan = plan(&l, &Goals::default()).expect("valid");
    assert!(all_met(&plan), "{:?}", plan.goals);
    assert_eq!(plan.after.replica_spread, 0);
    assert_eq!(replicas_on(&plan.apply(&l), 4), 45);
    assert_eq!(plan.replicas_moved, 45, "the fewest moves: 45 to the new broker");
    assert_eq!(plan.lower_bound, 45);
}

#[test]
fn goal4_unmet_when_the_disk_band_forbids_the_move() {
    // Broker 1: one 10 GiB replica, broker 2: ten tiny ones. Counts would want a tiny one to
    // move, but that takes broker 1 out of its band.
    let mut parts = vec![part("big", 0, &[1], 10 * GIB)];
    parts.extend((0..10).map(|i| part("tiny", i, &[2], 1)));
    let l = layout(no_racks(&[1, 2]), parts, &[]);
    let plan = plan(&l, &Goals { disk_band_percent: 0, ..Goals::default() }).expect("valid");
    assert_eq!(reasons(&plan, Goal::ReplicasEven), vec![UnmetReason::BlockedByHigherGoal { goal: Goal::DiskInBand, from: 2, to: 1 }]);
}

#[test]
fn goal4_unmet_when_racks_keep_counts_apart() {
    // Rack a has one broker, rack b two: every replica of a rack-aware RF-2 partition on broker
    // 1 can only go to another broker of rack a, and there is none.
    let brokers = vec![broker(1, Some("a")), broker(2, Some("b")), broker(3, Some("b"))];
    let parts: Vec<PartitionLayout> = (0..8).map(|i| part("t", i, &[1, 2 + i % 2], 1)).collect();
    let l = layout(brokers, parts, &[]);
    let plan = plan(&l, &Goals { disk_band_percent: 100, ..Goals::default() }).expect("valid");
    assert!(plan.moves.is_empty(), "{:?}", plan.moves);
    assert_eq!(*status(&plan, Goal::RackAware), GoalStatus::Met);
    assert_eq!(reasons(&plan, Goal::ReplicasEven), vec![UnmetReason::BlockedByHigherGoal { goal: Goal::RackAware, from: 1, to: 2 }]);
}

#[test]
fn goal5_leaders_balance_by_reordering_alone() {
    let parts: Vec<PartitionLayout> = (0..30).map(|i| part("t", i, &[1, 2, 3], GIB)).collect();
    let l = layout(no_racks(&[1, 2, 3]), parts, &[]);
    let plan = plan(&l, &Goals::default()).expect("valid");
    assert!(plan.moves.is_empty(), "no data moves: {:?}", plan.moves);
    assert_eq!(plan.leader_reorders.len(), 20);
    assert!(all_met(&plan), "{:?}", plan.goals);
    assert_eq!((plan.before.leader_spread, plan.after.leader_spread), (30, 0));
    let after = plan.apply(&l);
    for b in [1, 2, 3] {
        assert_eq!(after.partitions.iter().filter(|p| p.leader == Some(b)).count(), 10);
    }
}

#[test]
fn goal5_unmet_when_under_replicated_partitions_pin_the_leaders() {
    // Broker 1 leads three partitions whose followers on broker 2 are out of the ISR: no reorder
    // may make broker 2 their leader, and replica counts are even already.
    let mut parts: Vec<PartitionLayout> = (0..3).map(|i| part("t", i, &[1, 2], 1)).collect();
    for p in &mut parts {
        p.isr = vec![1];
    }
    let l = layout(no_racks(&[1, 2]), parts, &[]);
    let plan = plan(&l, &Goals::default()).expect("valid");
    assert!(plan.is_empty());
    assert_eq!(*status(&plan, Goal::ReplicasEven), GoalStatus::Met);
    assert_eq!(
        reasons(&plan, Goal::LeadersEven),
        vec![UnmetReason::UnderReplicated { count: 3, first: tp("t", 0) }, UnmetReason::NoImprovingMove { brokers: vec![1, 2] }]
    );
}

#[test]
fn rf1_partitions_bring_their_leaders_along() {
    let parts = vec![part("t", 0, &[1], 1), part("t", 1, &[1], 1), part("t", 2, &[1], 1), part("u", 0, &[2], 1), part("u", 1, &[2], 1)];
    let l = layout(no_racks(&[1, 2, 3]), parts, &[]);
    let plan = plan(&l, &Goals { disk_band_percent: 100, ..Goals::default() }).expect("valid");
    assert!(all_met(&plan), "{:?}", plan.goals);
    assert_eq!(plan.replicas_moved, 1);
}

#[test]
fn an_under_replicated_partition_is_never_moved_or_reordered() {
    let mut parts: Vec<PartitionLayout> = (0..10).map(|i| part("t", i, &[1, 2], GIB)).collect();
    for p in &mut parts {
        p.isr = vec![1];
    }
    let l = layout(no_racks(&[1, 2, 3, 4]), parts, &[]);
    let plan = plan(&l, &Goals::default()).expect("valid");
    assert!(plan.is_empty(), "{plan:?}");
    assert_eq!(plan.under_replicated.len(), 10);
    assert!(
        matches!(status(&plan, Goal::ReplicasEven), GoalStatus::Unmet(r) if matches!(r[0], UnmetReason::UnderReplicated { count: 10, .. }))
    );
}

#[test]
fn batches_respect_bytes_in_flight_and_moves_per_broker() {
    let l = layout(no_racks(&[1, 2, 3, 4, 5, 6]), round_robin("t", 120, 2, &[1, 2, 3], GIB), &[]);
    let goals = Goals { max_bytes_in_flight: 7 * GIB, moves_per_broker: 3, ..Goals::default() };
    let plan = plan(&l, &goals).expect("valid");
    assert!(!plan.moves.is_empty());
    let mut seen = BTreeSet::new();
    for b in &plan.batches {
        assert!(!b.oversized);
        assert!(b.bytes <= 7 * GIB, "{b:?}");
        let mut per = std::collections::BTreeMap::new();
        for &i in &b.moves {
            assert!(seen.insert(i), "move {i} in two batches");
            for x in plan.moves[i].added().chain(plan.moves[i].removed()) {
                *per.entry(x).or_insert(0) += 1;
            }
        }
        assert!(per.values().all(|&n| n <= 3), "{per:?}");
    }
    assert_eq!(seen.len(), plan.moves.len());
}

#[test]
fn a_move_larger_than_the_bound_runs_alone() {
    let l = layout(no_racks(&[1, 2]), vec![part("t", 0, &[1], 9 * GIB), part("t", 1, &[1], GIB)], &[1]);
    let plan = plan(&l, &Goals { max_bytes_in_flight: 4 * GIB, ..Goals::default() }).expect("valid");
    assert_eq!(plan.batches.len(), 2);
    let oversized: Vec<&Batch> = plan.batches.iter().filter(|b| b.oversized).collect();
    assert_eq!(oversized.len(), 1);
    assert_eq!(oversized[0].moves.len(), 1);
    assert_eq!(oversized[0].bytes, 9 * GIB);
}

#[test]
fn bad_input_is_refused_naming_the_field() {
    let ok = layout(no_racks(&[1, 2]), vec![part("t", 0, &[1, 2], 1)], &[]);
    let cases: Vec<(&str, ClusterLayout, Goals, LayoutError)> = vec![
        (
            "draining an unknown broker",
            ClusterLayout { drain: [9].into(), ..ok.clone() },
            Goals::default(),
            LayoutError::DrainUnknownBroker(9),
        ),
        (
            "a broker twice",
            ClusterLayout { brokers: no_racks(&[1, 2, 1]), ..ok.clone() },
            Goals::default(),
            LayoutError::DuplicateBroker(1),
        ),
        (
            "a replica on an unknown broker",
            ClusterLayout { partitions: vec![part("t", 0, &[1, 7], 1)], ..ok.clone() },
            Goals::default(),
            LayoutError::ReplicaOnUnknownBroker { partition: tp("t", 0), broker: 7 },
        ),
        (
            "a replica twice",
            ClusterLayout { partitions: vec![part("t", 0, &[2, 2], 1)], ..ok.clone() },
            Goals::default(),
            LayoutError::DuplicateReplica { partition: tp("t", 0), broker: 2 },
        ),
        (
            "a partition twice",
            ClusterLayout { partitions: vec![part("t", 0, &[1], 1), part("t", 0, &[2], 1)], ..ok.clone() },
            Goals::default(),
            LayoutError::DuplicatePartition(tp("t", 0)),
        ),
        (
            "no replicas",
            ClusterLayout { partitions: vec![part("t", 0, &[], 1)], ..ok.clone() },
            Goals::default(),
            LayoutError::NoReplicas(tp("t", 0)),
        ),
        ("zero moves per broker", ok.clone(), Goals { moves_per_broker: 0, ..Goals::default() }, LayoutError::ZeroMovesPerBroker),
        ("zero bytes in flight", ok.clone(), Goals { max_bytes_in_flight: 0, ..Goals::default() }, LayoutError::ZeroBytesInFlight),
    ];
    for (name, l, goals, want) in cases {
        assert_eq!(plan(&l, &goals), Err(want.clone()), "{name}");
        assert!(!want.to_string().is_empty());
    }
    assert_eq!(LayoutError::DrainUnknownBroker(9).to_string(), "drain: broker 9 is not a broker of the cluster");
}

#[test]
fn no_broker_left_after_drain() {
    let l = layout(no_racks(&[1]), vec![part("t", 0, &[1], 1)], &[1]);
    let plan = plan(&l, &Goals::default()).expect("valid");
    assert_eq!(reasons(&plan, Goal::Drained), vec![UnmetReason::NoActiveBroker]);
}
