//! Property tests on random, skewed layouts: up to 50 brokers, 5 racks, drained brokers and
//! under-replicated partitions. Each property is checked on the applied plan with code of its
//! own, not with the planner's.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::*;

/// A small deterministic generator (splitmix64), so a case is one seed plus its shape.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
}

#[derive(Clone, Debug)]
struct Shape {
    seed: u64,
    brokers: usize,
    racks: usize,
    partitions: usize,
    max_rf: usize,
    /// Replicas are placed on the first `crowded` brokers only (new brokers start empty).
    crowded: usize,
    drain: usize,
    under_replicated_percent: u64,
    varied_capacity: bool,
    band_percent: u32,
    moves_per_broker: usize,
    max_bytes_in_flight: u64,
}

fn shapes() -> impl Strategy<Value = Shape> {
    (
        any::<u64>(),
        1usize..=50,
        0usize..=5,
        0usize..=120,
        1usize..=3,
        1usize..=50,
        0usize..=3,
        prop_oneof![Just(0u64), 1u64..=20],
        any::<bool>(),
        0u32..=50,
        1usize..=6,
        1u64..=4_000_000_000,
    )
        .prop_map(|(seed, brokers, racks, partitions, max_rf, crowded, drain, ur, varied, band, mpb, bytes)| Shape {
            seed,
            brokers,
            racks,
            partitions,
            max_rf,
            crowded: crowded.min(brokers),
            drain: drain.min(brokers),
            under_replicated_percent: ur,
            varied_capacity: varied,
            band_percent: band,
            moves_per_broker: mpb,
            max_bytes_in_flight: bytes,
        })
}

fn build(s: &Shape) -> (ClusterLayout, Goals) {
    let mut rng = Rng(s.seed);
    let brokers: Vec<Broker> = (0..s.brokers)
        .map(|i| Broker {
            id: 100 + i as BrokerId,
            rack: (s.racks > 0).then(|| format!("zone-{}", i % s.racks)),
            capacity_bytes: (1u64 << 40) * if s.varied_capacity { 1 + rng.below(4) } else { 1 },
        })
        .collect();
    let mut partitions = Vec::with_capacity(s.partitions);
    for i in 0..s.partitions {
        let rf = (1 + rng.below(s.max_rf as u64) as usize).min(s.crowded);
        let mut replicas: Vec<BrokerId> = Vec::with_capacity(rf);
        while replicas.len() < rf {
            let b = 100 + rng.below(s.crowded as u64) as BrokerId;
            if !replicas.contains(&b) {
                replicas.push(b);
            }
        }
        // Sizes from 1 KiB to about 1 GiB, most of them small.
        let size = 1024u64 << rng.below(21);
        let isr = if rng.below(100) < s.under_replicated_percent { replicas[..1].to_vec() } else { replicas.clone() };
        let topic = format!("topic-{}", i % 7);
        partitions.push(PartitionLayout {
            id: TopicPartition { topic, partition: (i / 7) as i32 },
            leader: replicas.first().copied(),
            replicas,
            isr,
            size_bytes: size + rng.below(size),
            min_isr: 1,
        });
    }
    let mut drain = BTreeSet::new();
    while drain.len() < s.drain {
        drain.insert(100 + rng.below(s.brokers as u64) as BrokerId);
    }
    let goals =
        Goals { disk_band_percent: s.band_percent, max_bytes_in_flight: s.max_bytes_in_flight, moves_per_broker: s.moves_per_broker };
    (ClusterLayout { brokers, partitions, drain }, goals)
}

fn rack_of(l: &ClusterLayout, b: BrokerId) -> String {
    l.brokers.iter().find(|x| x.id == b).and_then(|x| x.rack.clone()).unwrap_or_else(|| format!("#{b}"))
}

fn spread<'a>(values: impl Iterator<Item = &'a usize>) -> usize {
    let v: Vec<usize> = values.copied().collect();
    v.iter().max().copied().unwrap_or(0) - v.iter().min().copied().unwrap_or(0)
}

/// Whether `goal` holds on `l`, checked from the layout alone.
fn holds(l: &ClusterLayout, band_percent: u32, goal: Goal) -> bool {
    let active: Vec<&Broker> = l.brokers.iter().filter(|b| !l.drain.contains(&b.id)).collect();
    match goal {
        Goal::Drained => l.partitions.iter().all(|p| p.replicas.iter().all(|r| !l.drain.contains(r))),
        Goal::RackAware => {
            l.partitions.iter().all(|p| p.replicas.iter().map(|&r| rack_of(l, r)).collect::<BTreeSet<_>>().len() == p.replicas.len())
        }
        Goal::DiskInBand => {
            let total: u64 = l.partitions.iter().map(|p| p.size_bytes * p.replicas.len() as u64).sum();
            let capacity: u64 = active.iter().map(|b| b.capacity_bytes).sum();
            active.iter().all(|b| {
                let share = if capacity == 0 {
                    total / active.len() as u64
                } else {
                    (total as u128 * b.capacity_bytes as u128 / capacity as u128) as u64
                };
                let width = (share as u128 * band_percent as u128 / 100) as u64;
                let bytes: u64 = l.partitions.iter().filter(|p| p.replicas.contains(&b.id)).map(|p| p.size_bytes).sum();
                bytes >= share.saturating_sub(width) && bytes <= share + width
            })
        }
        Goal::ReplicasEven => {
            let counts: BTreeMap<BrokerId, usize> =
                active.iter().map(|b| (b.id, l.partitions.iter().filter(|p| p.replicas.contains(&b.id)).count())).collect();
            spread(counts.values()) <= 1
        }
        Goal::LeadersEven => {
            let counts: BTreeMap<BrokerId, usize> =
                active.iter().map(|b| (b.id, l.partitions.iter().filter(|p| p.leader == Some(b.id)).count())).collect();
            spread(counts.values()) <= 1
        }
    }
}

fn check(l: &ClusterLayout, goals: &Goals) -> Result<(), TestCaseError> {
    let plan = plan(l, goals).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let after = plan.apply(l);
    let moved: BTreeSet<&TopicPartition> =
        plan.moves.iter().map(|m| &m.partition).chain(plan.leader_reorders.iter().map(|r| &r.partition)).collect();

    // Planning the applied plan again changes nothing.
    let again = super::plan(&after, goals).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert!(again.is_empty(), "second plan: moves {:?} reorders {:?}", again.moves, again.leader_reorders);

    // Input order does not matter.
    let mut reversed = l.clone();
    reversed.brokers.reverse();
    reversed.partitions.reverse();
    prop_assert_eq!(&super::plan(&reversed, goals).map_err(|e| TestCaseError::fail(e.to_string()))?, &plan);

    // Under-replicated partitions are never touched; every move keeps its RF and adds a broker.
    for p in l.partitions.iter().filter(|p| !p.isr_complete()) {
        prop_assert!(!moved.contains(&p.id), "{} is under-replicated and was moved", p.id);
    }
    for m in &plan.moves {
        prop_assert_eq!(m.old_replicas.len(), m.new_replicas.len());
        prop_assert_eq!(m.new_replicas.iter().collect::<BTreeSet<_>>().len(), m.new_replicas.len());
        prop_assert!(m.added().count() > 0);
        prop_assert!(m.added().all(|b| !l.drain.contains(&b)), "a move onto a drained broker: {:?}", m);
    }
    for r in &plan.leader_reorders {
        prop_assert_eq!(r.old_replicas.iter().collect::<BTreeSet<_>>(), r.new_replicas.iter().collect::<BTreeSet<_>>());
    }

    // Batches hold every move once and respect both bounds (an oversized batch holds one move).
    let mut seen = BTreeSet::new();
    for b in &plan.batches {
        let mut per: BTreeMap<BrokerId, usize> = BTreeMap::new();
        let mut bytes = 0;
        for &i in &b.moves {
            prop_assert!(seen.insert(i));
            bytes += plan.moves[i].bytes_moved;
            for x in plan.moves[i].added().chain(plan.moves[i].removed()) {
                *per.entry(x).or_insert(0) += 1;
            }
        }
        prop_assert_eq!(bytes, b.bytes);
        if b.oversized {
            prop_assert_eq!(b.moves.len(), 1);
        } else {
            prop_assert!(b.bytes <= goals.max_bytes_in_flight);
            prop_assert!(per.values().all(|&n| n <= goals.moves_per_broker), "{:?}", per);
        }
    }
    prop_assert_eq!(seen.len(), plan.moves.len());

    // Each goal is reported met exactly when it holds, and an unmet goal says why.
    for outcome in &plan.goals {
        let held = holds(&after, goals.disk_band_percent, outcome.goal);
        match &outcome.status {
            GoalStatus::Met => prop_assert!(held, "{:?} reported met but does not hold", outcome.goal),
            GoalStatus::Unmet(reasons) => {
                prop_assert!(!held, "{:?} holds but is reported unmet: {:?}", outcome.goal, reasons);
                prop_assert!(!reasons.is_empty());
            }
        }
    }
    prop_assert_eq!(plan.goals.iter().map(|g| g.goal).collect::<Vec<_>>(), Goal::ALL.to_vec());

    // Drained brokers end empty whenever that is possible.
    let left = l.brokers.len() - l.drain.len();
    let drainable = l
        .partitions
        .iter()
        .filter(|p| p.replicas.iter().any(|r| l.drain.contains(r)))
        .all(|p| p.isr_complete() && p.replicas.len() <= left);
    if drainable {
        prop_assert!(holds(&after, goals.disk_band_percent, Goal::Drained), "drain was possible: {:?}", plan.goals[0]);
    }
    // Racks: every movable partition spans as many racks as it can, and the only reasons the
    // goal stays unmet are too few racks or under-replicated partitions.
    let racks_left: BTreeSet<String> = l.brokers.iter().filter(|b| !l.drain.contains(&b.id)).map(|b| rack_of(l, b.id)).collect();
    for p in after.partitions.iter().filter(|p| p.isr_complete() && p.replicas.iter().all(|r| !l.drain.contains(r))) {
        let racks: BTreeSet<String> = p.replicas.iter().map(|&r| rack_of(l, r)).collect();
        prop_assert!(racks.len() >= p.replicas.len().min(racks_left.len()), "{} on racks {:?}", p.id, racks);
    }
    if let GoalStatus::Unmet(reasons) = &plan.goals[1].status {
        prop_assert!(
            reasons.iter().all(|r| matches!(r, UnmetReason::TooFewRacks { .. } | UnmetReason::UnderReplicated { .. })),
            "{:?}",
            reasons
        );
    }

    // The figures after are those of the applied layout; the bound holds when every goal is met.
    prop_assert_eq!(&plan.after, &Figures::of(&after));
    prop_assert_eq!(&plan.before, &Figures::of(l));
    if plan.goals.iter().all(|g| g.status == GoalStatus::Met) {
        prop_assert!(plan.replicas_moved >= plan.lower_bound, "moved {} < bound {}", plan.replicas_moved, plan.lower_bound);
    }
    prop_assert_eq!(plan.replicas_moved, plan.moves.iter().map(|m| m.added().count()).sum::<usize>());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn every_plan_is_safe_truthful_and_final(shape in shapes()) {
        let (layout, goals) = build(&shape);
        check(&layout, &goals)?;
    }
}

/// The large fixed cases the issue names, in a debug build too slow for the default run; the
/// release benchmark (`make bench-balance`) plans the same sizes.
#[test]
#[ignore = "large: 50 brokers x 100,000 partitions"]
fn large_fixed_layouts_hold_every_property() {
    for (brokers, crowded, drain) in [(12, 9, 0), (50, 40, 2)] {
        let shape = Shape {
            seed: 17,
            brokers,
            racks: 3,
            partitions: 100_000,
            max_rf: 3,
            crowded,
            drain,
            under_replicated_percent: 1,
            varied_capacity: false,
            band_percent: 10,
            moves_per_broker: 5,
            max_bytes_in_flight: 50 << 30,
        };
        let (layout, goals) = build(&shape);
        check(&layout, &goals).unwrap_or_else(|e| panic!("{brokers} brokers: {e}"));
    }
}
