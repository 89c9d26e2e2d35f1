//! Pure: the desired topic and what Kafka holds → the actions that close the gap, and what the
//! status should say once they succeed.

use std::collections::{BTreeMap, BTreeSet};

use super::kafka_ops::{Described, ObservedTopic};
use crate::api::topic::ReassignmentStatus;
use crate::kafka::ops::topics::NewTopic;
use crate::model::topic::DesiredTopic;

/// Where the topic stands once the planned actions are done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The topic matches its spec (or will, when the planned config/partition changes succeed).
    Ready,
    /// The topic is being created.
    Creating,
    /// Just created: partitions have no leader yet.
    Settling,
    /// New partitions are being added; the replication factor is looked at next time.
    Growing,
    /// Kafka has more partitions than the spec: Kafka cannot remove partitions.
    PartitionDecrease { in_kafka: i32, desired: i32 },
    /// A replication factor change is in progress.
    Reassigning(ReassignmentStatus),
    /// Not enough brokers are registered to place the replicas.
    WaitingForBrokers { needed: i32, registered: i32 },
}

/// What to do to one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicPlan {
    pub create: Option<NewTopic>,
    /// Config keys to set (only managed keys whose value differs).
    pub set_config: Vec<(String, String)>,
    /// Grow to this many partitions.
    pub grow_to: Option<i32>,
    /// New replica lists, by partition.
    pub reassign: Vec<(i32, Vec<i32>)>,
    pub outcome: Outcome,
}

impl TopicPlan {
    fn only(outcome: Outcome) -> Self {
        TopicPlan { create: None, set_config: Vec::new(), grow_to: None, reassign: Vec::new(), outcome }
    }

    /// Whether the plan changes anything in Kafka.
    pub fn changes_kafka(&self) -> bool {
        self.create.is_some() || !self.set_config.is_empty() || self.grow_to.is_some() || !self.reassign.is_empty()
    }
}

/// The replication factor Kafka reports: the common replica count, else the smallest.
pub fn replication_factor(topic: &ObservedTopic) -> Option<i32> {
    topic.partitions.values().map(|r| r.len() as i32).min()
}

/// New replica lists that give every partition `target` replicas. Shrinking keeps the first
/// replicas (the preferred leader first); growing adds the brokers holding the fewest replicas of
/// this topic (then the lowest id). Partitions already at `target` are left out.
pub fn reassignment(partitions: &BTreeMap<i32, Vec<i32>>, target: usize, brokers: &[i32]) -> Vec<(i32, Vec<i32>)> {
    let mut load: BTreeMap<i32, usize> = brokers.iter().map(|b| (*b, 0)).collect();
    for replicas in partitions.values() {
        for r in replicas.iter().take(target) {
            *load.entry(*r).or_default() += 1;
        }
    }
    let mut out = Vec::new();
    for (partition, replicas) in partitions {
        if replicas.len() == target {
            continue;
        }
        let mut next: Vec<i32> = replicas.iter().copied().take(target).collect();
        while next.len() < target {
            let pick = load.iter().filter(|(b, _)| !next.contains(b)).min_by_key(|(b, n)| (**n, **b)).map(|(b, _)| *b);
            match pick {
                Some(b) => {
                    *load.entry(b).or_default() += 1;
                    next.push(b);
                }
                None => break,
            }
        }
        out.push((*partition, next));
    }
    out
}

/// Plans one topic.
pub fn plan(desired: &DesiredTopic, described: &Described) -> TopicPlan {
    let Some(topic) = &described.topic else {
        if described.settling {
            return TopicPlan::only(Outcome::Settling);
        }
        let new = NewTopic {
            name: desired.name.clone(),
            partitions: desired.partitions,
            replication_factor: Some(desired.replicas as i16),
            assignments: BTreeMap::new(),
            configs: desired.config.clone(),
        };
        return TopicPlan { create: Some(new), ..TopicPlan::only(Outcome::Creating) };
    };
    let set_config: Vec<(String, String)> =
        desired.config.iter().filter(|(k, v)| topic.config.get(*k) != Some(*v)).map(|(k, v)| (k.clone(), v.clone())).collect();
    let in_kafka = topic.partitions.len() as i32;
    let grow_to = desired.partitions.filter(|p| *p > in_kafka);
    let mut plan = TopicPlan { set_config, grow_to, ..TopicPlan::only(Outcome::Ready) };
    if let Some(d) = desired.partitions.filter(|p| *p < in_kafka) {
        plan.outcome = Outcome::PartitionDecrease { in_kafka, desired: d };
    }
    if described.settling {
        plan.outcome = Outcome::Settling;
        return plan;
    }
    if grow_to.is_some() {
        plan.outcome = Outcome::Growing;
        return plan;
    }
    let target = desired.replicas;
    let wrong: BTreeSet<i32> = topic.partitions.iter().filter(|(_, r)| r.len() as i32 != target).map(|(p, _)| *p).collect();
    if wrong.is_empty() && topic.reassigning.is_empty() {
        return plan;
    }
    let done = topic.partitions.keys().filter(|p| !wrong.contains(p) && !topic.reassigning.contains(p)).count() as i32;
    let progress = ReassignmentStatus { target_replicas: target, partitions_done: done, partitions_total: in_kafka };
    if topic.reassigning.is_empty() {
        if (described.brokers.len() as i32) < target {
            plan.outcome = Outcome::WaitingForBrokers { needed: target, registered: described.brokers.len() as i32 };
            return plan;
        }
        plan.reassign = reassignment(&topic.partitions, target as usize, &described.brokers);
    }
    if !matches!(plan.outcome, Outcome::PartitionDecrease { .. }) {
        plan.outcome = Outcome::Reassigning(progress);
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desired(partitions: Option<i32>, replicas: i32, config: &[(&str, &str)]) -> DesiredTopic {
        DesiredTopic {
            name: "t".into(),
            partitions,
            replicas,
            config: config.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            delete_with_resource: true,
        }
    }

    fn observed(parts: &[&[i32]], config: &[(&str, &str)], reassigning: &[i32]) -> Described {
        Described {
            topic: Some(ObservedTopic {
                id: "id".into(),
                partitions: parts.iter().enumerate().map(|(i, r)| (i as i32, r.to_vec())).collect(),
                config: config.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
                reassigning: reassigning.iter().copied().collect(),
            }),
            brokers: vec![1, 2, 3],
            settling: false,
        }
    }

    #[test]
    fn plan_table() {
        let isr2 = [("min.insync.replicas", "2")];
        let absent = Described { topic: None, brokers: vec![1, 2, 3], settling: false };
        struct Case {
            what: &'static str,
            desired: DesiredTopic,
            described: Described,
            set: Vec<(&'static str, &'static str)>,
            grow: Option<i32>,
            reassign: Vec<(i32, Vec<i32>)>,
            outcome: Outcome,
        }
        let cases = vec![
            Case {
                what: "in sync",
                desired: desired(Some(2), 3, &isr2),
                described: observed(&[&[1, 2, 3], &[2, 3, 1]], &isr2, &[]),
                set: vec![],
                grow: None,
                reassign: vec![],
                outcome: Outcome::Ready,
            },
            Case {
                what: "drifted config is set back, unmanaged keys are not read",
                desired: desired(Some(1), 3, &[("min.insync.replicas", "2"), ("retention.ms", "1000")]),
                described: observed(&[&[1, 2, 3]], &[("min.insync.replicas", "1"), ("retention.ms", "1000")], &[]),
                set: vec![("min.insync.replicas", "2")],
                grow: None,
                reassign: vec![],
                outcome: Outcome::Ready,
            },
            Case {
                what: "more partitions",
                desired: desired(Some(4), 3, &isr2),
                described: observed(&[&[1, 2, 3], &[2, 3, 1]], &isr2, &[]),
                set: vec![],
                grow: Some(4),
                reassign: vec![],
                outcome: Outcome::Growing,
            },
            Case {
                what: "fewer partitions are refused",
                desired: desired(Some(1), 3, &isr2),
                described: observed(&[&[1, 2, 3], &[2, 3, 1]], &isr2, &[]),
                set: vec![],
                grow: None,
                reassign: vec![],
                outcome: Outcome::PartitionDecrease { in_kafka: 2, desired: 1 },
            },
            Case {
                what: "partitions not managed when unset",
                desired: desired(None, 3, &isr2),
                described: observed(&[&[1, 2, 3], &[2, 3, 1]], &isr2, &[]),
                set: vec![],
                grow: None,
                reassign: vec![],
                outcome: Outcome::Ready,
            },
            Case {
                what: "RF 2 -> 3 picks the least loaded broker",
                desired: desired(Some(3), 3, &isr2),
                described: observed(&[&[1, 2], &[2, 3], &[3, 1]], &isr2, &[]),
                set: vec![],
                grow: None,
                reassign: vec![(0, vec![1, 2, 3]), (1, vec![2, 3, 1]), (2, vec![3, 1, 2])],
                outcome: Outcome::Reassigning(ReassignmentStatus { target_replicas: 3, partitions_done: 0, partitions_total: 3 }),
            },
            Case {
                what: "RF in progress: wait, report progress",
                desired: desired(Some(2), 3, &isr2),
                described: observed(&[&[1, 2, 3], &[2, 3, 1]], &isr2, &[1]),
                set: vec![],
                grow: None,
                reassign: vec![],
                outcome: Outcome::Reassigning(ReassignmentStatus { target_replicas: 3, partitions_done: 1, partitions_total: 2 }),
            },
            Case {
                what: "RF 3 -> 1 keeps the preferred leader",
                desired: desired(Some(1), 1, &[("min.insync.replicas", "1")]),
                described: observed(&[&[2, 3, 1]], &[("min.insync.replicas", "1")], &[]),
                set: vec![],
                grow: None,
                reassign: vec![(0, vec![2])],
                outcome: Outcome::Reassigning(ReassignmentStatus { target_replicas: 1, partitions_done: 0, partitions_total: 1 }),
            },
            Case {
                what: "absent: create with the desired settings",
                desired: desired(None, 3, &isr2),
                described: absent.clone(),
                set: vec![],
                grow: None,
                reassign: vec![],
                outcome: Outcome::Creating,
            },
        ];
        for c in cases {
            let p = plan(&c.desired, &c.described);
            let set: Vec<(String, String)> = c.set.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            assert_eq!(p.set_config, set, "{}", c.what);
            assert_eq!(p.grow_to, c.grow, "{}", c.what);
            assert_eq!(p.reassign, c.reassign, "{}", c.what);
            assert_eq!(p.outcome, c.outcome, "{}", c.what);
        }
        let created = plan(&desired(None, 3, &isr2), &absent).create.expect("create");
        assert_eq!((created.partitions, created.replication_factor), (None, Some(3)));
        assert_eq!(created.configs.get("min.insync.replicas").map(String::as_str), Some("2"));
    }

    #[test]
    fn too_few_brokers_waits() {
        let mut d = observed(&[&[1]], &[], &[]);
        d.brokers = vec![1, 2];
        let p = plan(&desired(Some(1), 3, &[]), &d);
        assert_eq!(p.outcome, Outcome::WaitingForBrokers { needed: 3, registered: 2 });
        assert!(p.reassign.is_empty());
    }

    #[test]
    fn reassignment_spreads_load() {
        let parts: BTreeMap<i32, Vec<i32>> = (0..6).map(|p| (p, vec![1 + p % 3])).collect();
        let plan = reassignment(&parts, 2, &[1, 2, 3]);
        let mut load: BTreeMap<i32, usize> = BTreeMap::new();
        for (_, r) in &plan {
            assert_eq!(r.len(), 2);
            assert_ne!(r[0], r[1]);
            for b in r {
                *load.entry(*b).or_default() += 1;
            }
        }
        assert_eq!(load.values().copied().collect::<Vec<_>>(), vec![4, 4, 4]);
    }
}
