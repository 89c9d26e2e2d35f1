//! `make bench-balance`: the balance planner on 12 and 50 brokers with 100,000 partitions each
//! (seeded, skewed layouts: new empty brokers, replicas that share racks, drained brokers),
//! printing plan time, peak heap and the moves against the lower bound. Release build; ignored in
//! the default run. Figures are printed, never asserted; the plan's own properties are.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use gregor::balance::{Broker, BrokerId, ClusterLayout, GoalStatus, Goals, PartitionLayout, TopicPartition, plan};

/// The system allocator, counting the bytes live and their peak.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged to the system allocator.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// splitmix64: a seeded layout is the same on every run.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) % n.max(1)
    }
}

struct Scenario {
    name: &'static str,
    brokers: usize,
    /// Replicas start on the first `crowded` brokers only; the rest are new and empty.
    crowded: usize,
    drain: &'static [BrokerId],
    racks: usize,
    partitions: usize,
}

const MIB: u64 = 1 << 20;

fn layout(s: &Scenario, seed: u64) -> ClusterLayout {
    let mut rng = Rng(seed);
    let brokers = (0..s.brokers)
        .map(|i| Broker { id: i as BrokerId, rack: Some(format!("zone-{}", i % s.racks)), capacity_bytes: 16 << 40 })
        .collect();
    let partitions = (0..s.partitions)
        .map(|i| {
            let mut replicas: Vec<BrokerId> = Vec::with_capacity(3);
            while replicas.len() < 3 {
                // Skewed towards the low broker ids of the crowded ones.
                let a = rng.below(s.crowded as u64);
                let b = rng.below(s.crowded as u64);
                let id = a.min(b) as BrokerId;
                if !replicas.contains(&id) {
                    replicas.push(id);
                }
            }
            // Mostly small partitions, a few large: 1 MiB up to 1 GiB.
            let size = MIB << rng.below(10);
            let isr = if rng.below(1000) == 0 { replicas[..2].to_vec() } else { replicas.clone() };
            PartitionLayout {
                id: TopicPartition { topic: format!("topic-{:04}", i / 100), partition: (i % 100) as i32 },
                leader: replicas.first().copied(),
                replicas,
                isr,
                size_bytes: size + rng.below(size),
                min_isr: 2,
            }
        })
        .collect();
    ClusterLayout { brokers, partitions, drain: s.drain.iter().copied().collect::<BTreeSet<_>>() }
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / MIB as f64
}

#[test]
#[ignore = "benchmark: make bench-balance"]
fn bench_balance() {
    let scenarios = [
        Scenario {
            name: "12 brokers (3 new), 100,000 partitions RF 3",
            brokers: 12,
            crowded: 9,
            drain: &[],
            racks: 3,
            partitions: 100_000,
        },
        Scenario {
            name: "50 brokers (10 new, 2 drained), 100,000 partitions RF 3",
            brokers: 50,
            crowded: 40,
            drain: &[0, 1],
            racks: 5,
            partitions: 100_000,
        },
    ];
    let goals = Goals { disk_band_percent: 10, max_bytes_in_flight: 100 << 30, moves_per_broker: 5 };
    for s in &scenarios {
        let l = layout(s, 17);
        let baseline = LIVE.load(Ordering::Relaxed);
        PEAK.store(baseline, Ordering::Relaxed);
        let start = Instant::now();
        let p = plan(&l, &goals).expect("a valid layout");
        let elapsed = start.elapsed();
        let peak = PEAK.load(Ordering::Relaxed) - baseline;
        println!("== {}", s.name);
        println!("  plan time          {:.3} s", elapsed.as_secs_f64());
        println!(
            "  peak heap          {:.1} MiB above the layout ({:.1} MiB live before planning, the layout itself)",
            mib(peak),
            mib(baseline)
        );
        println!(
            "  replicas moved     {} (lower bound {}, {:.2}x) in {} partition moves, {} batches; {} leader-only reorders",
            p.replicas_moved,
            p.lower_bound,
            p.replicas_moved as f64 / p.lower_bound.max(1) as f64,
            p.moves.len(),
            p.batches.len(),
            p.leader_reorders.len()
        );
        println!("  bytes moved        {:.1} GiB", p.moves.iter().map(|m| m.bytes_moved).sum::<u64>() as f64 / (1u64 << 30) as f64);
        println!("  under-replicated   {} (not moved)", p.under_replicated.len());
        println!(
            "  spread before      replicas {}, leaders {}, disk use {:.4}",
            p.before.replica_spread, p.before.leader_spread, p.before.disk_use_spread
        );
        println!(
            "  spread after       replicas {}, leaders {}, disk use {:.4}",
            p.after.replica_spread, p.after.leader_spread, p.after.disk_use_spread
        );
        for g in &p.goals {
            match &g.status {
                GoalStatus::Met => println!("  {:?}: met", g.goal),
                GoalStatus::Unmet(r) => println!("  {:?}: unmet: {:?}", g.goal, r),
            }
        }
        let after = p.apply(&l);
        let again = plan(&after, &goals).expect("a valid layout");
        assert!(again.is_empty(), "{}: planning the applied plan again moves {} partitions", s.name, again.moves.len());
        assert!(after.partitions.iter().all(|p| p.replicas.iter().all(|r| !l.drain.contains(r)) || !p.isr_complete()));
    }
}
