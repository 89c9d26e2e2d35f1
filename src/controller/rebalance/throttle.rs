//! Replication throttles, as `kafka-reassign-partitions --throttle` sets them. Pure.
//!
//! - per broker that sends or receives a replica: `leader.replication.throttled.rate` and
//!   `follower.replication.throttled.rate`;
//! - per topic with a moving partition: `leader.replication.throttled.replicas` listing
//!   `partition:broker` for the current replicas (the ones copied from) and
//!   `follower.replication.throttled.replicas` for the new ones (the ones copying).
//!
//! Only the replication that the moves cause is throttled: the existing followers of other
//! partitions keep their full speed.

use std::collections::{BTreeMap, BTreeSet};

use super::stored_plan::StoredMove;
use crate::kafka::ops::configs::{AlterOp, ConfigAlteration, ConfigResource};

pub const LEADER_RATE: &str = "leader.replication.throttled.rate";
pub const FOLLOWER_RATE: &str = "follower.replication.throttled.rate";
pub const LEADER_REPLICAS: &str = "leader.replication.throttled.replicas";
pub const FOLLOWER_REPLICAS: &str = "follower.replication.throttled.replicas";

/// The brokers and topics a batch's throttles touch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Throttled {
    pub brokers: BTreeSet<i32>,
    pub topics: BTreeSet<String>,
}

impl Throttled {
    pub fn of(batch: &[StoredMove]) -> Throttled {
        let mut out = Throttled::default();
        for m in batch {
            out.topics.insert(m.topic.clone());
            out.brokers.extend(m.from.iter().copied().chain(m.added()));
        }
        out
    }

    pub fn union(&self, other: &Throttled) -> Throttled {
        Throttled { brokers: &self.brokers | &other.brokers, topics: &self.topics | &other.topics }
    }
}

/// The alterations that throttle one batch at `rate` bytes per second.
pub fn set_for_batch(batch: &[StoredMove], rate: u64) -> Vec<ConfigAlteration> {
    let throttled = Throttled::of(batch);
    let mut leaders: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut followers: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for m in batch {
        leaders.entry(&m.topic).or_default().extend(m.from.iter().map(|b| format!("{}:{b}", m.partition)));
        followers.entry(&m.topic).or_default().extend(m.added().map(|b| format!("{}:{b}", m.partition)));
    }
    let mut out: Vec<ConfigAlteration> = throttled
        .brokers
        .iter()
        .map(|&b| ConfigAlteration {
            resource: ConfigResource::broker(b),
            changes: vec![
                (LEADER_RATE.to_owned(), AlterOp::Set(rate.to_string())),
                (FOLLOWER_RATE.to_owned(), AlterOp::Set(rate.to_string())),
            ],
        })
        .collect();
    for topic in &throttled.topics {
        let list = |m: &BTreeMap<&str, Vec<String>>| m.get(topic.as_str()).map(|v| v.join(",")).unwrap_or_default();
        out.push(ConfigAlteration {
            resource: ConfigResource::topic(topic.clone()),
            changes: vec![
                (LEADER_REPLICAS.to_owned(), AlterOp::Set(list(&leaders))),
                (FOLLOWER_REPLICAS.to_owned(), AlterOp::Set(list(&followers))),
            ],
        });
    }
    out
}

/// The alterations that remove every throttle on `throttled`.
pub fn clear(throttled: &Throttled) -> Vec<ConfigAlteration> {
    let delete = |keys: [&str; 2]| keys.iter().map(|k| ((*k).to_owned(), AlterOp::Delete)).collect::<Vec<_>>();
    throttled
        .brokers
        .iter()
        .map(|&b| ConfigAlteration { resource: ConfigResource::broker(b), changes: delete([LEADER_RATE, FOLLOWER_RATE]) })
        .chain(throttled.topics.iter().map(|t| ConfigAlteration {
            resource: ConfigResource::topic(t.clone()),
            changes: delete([LEADER_REPLICAS, FOLLOWER_REPLICAS]),
        }))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mv(topic: &str, partition: i32, from: &[i32], to: &[i32]) -> StoredMove {
        StoredMove { topic: topic.into(), partition, from: from.to_vec(), to: to.to_vec() }
    }

    #[test]
    fn a_batch_throttles_its_sources_and_destinations_only() {
        let batch = [mv("a", 0, &[1, 2], &[3, 2]), mv("a", 3, &[2, 1], &[2, 4]), mv("b", 1, &[1, 2], &[1, 5])];
        let alts = set_for_batch(&batch, 1000);
        let brokers: Vec<&str> = alts.iter().filter(|a| a.resource.pinned_broker().is_some()).map(|a| a.resource.name.as_str()).collect();
        assert_eq!(brokers, ["1", "2", "3", "4", "5"]);
        let topic_a = alts.iter().find(|a| a.resource == ConfigResource::topic("a")).expect("topic a");
        assert_eq!(topic_a.changes[0], (LEADER_REPLICAS.to_owned(), AlterOp::Set("0:1,0:2,3:2,3:1".into())));
        assert_eq!(topic_a.changes[1], (FOLLOWER_REPLICAS.to_owned(), AlterOp::Set("0:3,3:4".into())));
        let rate = &alts[0].changes[0];
        assert_eq!(rate, &(LEADER_RATE.to_owned(), AlterOp::Set("1000".into())));
    }

    #[test]
    fn clearing_deletes_all_four_keys_where_they_were_set() {
        let t = Throttled::of(&[mv("a", 0, &[1], &[2])]);
        let alts = clear(&t);
        assert_eq!(alts.len(), 3);
        assert!(alts.iter().all(|a| a.changes.iter().all(|(_, op)| *op == AlterOp::Delete)));
        assert_eq!(t.union(&Throttled::of(&[mv("b", 0, &[3], &[4])])).topics.len(), 2);
    }
}
