//! The bench's counts, each from an environment variable with a default (the full scale).

use std::time::Duration;

/// How much of everything one run creates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Counts {
    /// KafkaTopics applied at once to the 1 controller + 3 brokers cluster (`BENCH_TOPICS`).
    pub topics: usize,
    /// Partitions of each topic (`BENCH_PARTITIONS`).
    pub partitions: usize,
    /// SCRAM KafkaUsers, each with 3 ACLs and a quota (`BENCH_USERS`).
    pub users: usize,
    /// KafkaClusters of 1 combined node each (`BENCH_CLUSTERS`).
    pub clusters: usize,
    /// The operator's resync period for the steady-state window (`BENCH_RESYNC_SECONDS`).
    pub resync: Duration,
    /// Resync periods the steady-state window lasts (`BENCH_RESYNCS`).
    pub resyncs: u32,
    /// Concurrent requests of the bench's own client, for the applies and the limit (`BENCH_CONCURRENCY`).
    pub concurrency: usize,
}

impl Counts {
    /// The scale: 10,000 topics, 2,000 users, 10 clusters, 10 resyncs of 10 s.
    pub fn full() -> Counts {
        Counts { topics: 10_000, partitions: 1, users: 2_000, clusters: 10, resync: Duration::from_secs(10), resyncs: 10, concurrency: 32 }
    }

    /// The smoke run of `make test`: enough of each to go through every stage.
    pub fn tiny() -> Counts {
        Counts { topics: 20, partitions: 1, users: 10, clusters: 2, resync: Duration::from_secs(2), resyncs: 3, concurrency: 8 }
    }

    /// `defaults`, with every count the environment sets replaced.
    pub fn from_env(defaults: Counts) -> Counts {
        Counts::from_lookup(defaults, |name| std::env::var(name).ok())
    }

    /// Pure: `defaults` overridden by what `lookup` gives (unparsable values are ignored).
    pub fn from_lookup(defaults: Counts, lookup: impl Fn(&str) -> Option<String>) -> Counts {
        let num = |name: &str, default: usize| lookup(name).and_then(|v| v.trim().parse().ok()).unwrap_or(default);
        Counts {
            topics: num("BENCH_TOPICS", defaults.topics),
            partitions: num("BENCH_PARTITIONS", defaults.partitions).max(1),
            users: num("BENCH_USERS", defaults.users),
            clusters: num("BENCH_CLUSTERS", defaults.clusters),
            resync: Duration::from_secs(num("BENCH_RESYNC_SECONDS", defaults.resync.as_secs() as usize).max(1) as u64),
            resyncs: num("BENCH_RESYNCS", defaults.resyncs as usize).max(1) as u32,
            concurrency: num("BENCH_CONCURRENCY", defaults.concurrency).max(1),
        }
    }

    /// The counts as `BENCH_*=…` assignments, for the printed command.
    pub fn as_env(&self) -> String {
        format!(
            "BENCH_TOPICS={} BENCH_PARTITIONS={} BENCH_USERS={} BENCH_CLUSTERS={} BENCH_RESYNC_SECONDS={} BENCH_RESYNCS={} BENCH_CONCURRENCY={}",
            self.topics,
            self.partitions,
            self.users,
            self.clusters,
            self.resync.as_secs(),
            self.resyncs,
            self.concurrency
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An environment variable, its value, the count it sets and the count expected.
    type Case = (&'static str, &'static str, fn(&Counts) -> usize, usize);

    #[test]
    fn the_environment_overrides_each_count() {
        let cases: &[Case] = &[
            ("BENCH_TOPICS", "1000", |c| c.topics, 1000),
            ("BENCH_USERS", "7", |c| c.users, 7),
            ("BENCH_CLUSTERS", "3", |c| c.clusters, 3),
            ("BENCH_RESYNC_SECONDS", "4", |c| c.resync.as_secs() as usize, 4),
            ("BENCH_RESYNCS", "0", |c| c.resyncs as usize, 1),
            ("BENCH_CONCURRENCY", "x", |c| c.concurrency, 32),
        ];
        for (name, value, get, want) in cases {
            let counts = Counts::from_lookup(Counts::full(), |n| (n == *name).then(|| value.to_string()));
            assert_eq!(get(&counts), *want, "{name}={value}");
        }
        assert_eq!(Counts::from_lookup(Counts::full(), |_| None), Counts::full());
    }

    #[test]
    fn the_command_names_every_count() {
        let env = Counts::tiny().as_env();
        let back = Counts::from_lookup(Counts::full(), |name| {
            env.split(' ').find_map(|kv| kv.strip_prefix(name).and_then(|r| r.strip_prefix('=')).map(str::to_owned))
        });
        assert_eq!(back, Counts::tiny());
    }
}
