//! The KafkaTopic status: the Ready condition from the plan's outcome, and the topic's facts
//! as Kafka reports them. Pure.

use k8s_openapi::jiff::Timestamp;

use super::plan::Outcome;
use crate::api::topic::{KafkaTopicStatus, ReassignmentStatus};
use crate::controller::conditions::{Conclusion, PAUSED, READY, RECONCILING, STALLED, WARNING, merge, with_health};
use crate::controller::reason::TopicReason;

/// Condition types the topic reconciler owns (a reconcile that runs is not paused).
pub const OWNED: &[&str] = &[READY, RECONCILING, STALLED, WARNING, PAUSED];

/// What Kafka holds, as far as this reconcile knows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicFacts {
    pub topic_name: String,
    pub topic_id: Option<String>,
    pub partitions: Option<i32>,
    pub replicas: Option<i32>,
    pub reassignment: Option<ReassignmentStatus>,
}

/// The Ready conclusion of a plan's outcome once its actions succeeded.
pub fn conclusion(outcome: &Outcome, facts: &TopicFacts) -> Conclusion {
    let described = || {
        format!(
            "topic {} has {} partitions with {} replicas",
            facts.topic_name,
            facts.partitions.map_or("?".into(), |p| p.to_string()),
            facts.replicas.map_or("?".into(), |r| r.to_string())
        )
    };
    match outcome {
        Outcome::Ready => Conclusion::ready(TopicReason::Ready, described()),
        Outcome::Creating => Conclusion::ready(TopicReason::Created, described()),
        Outcome::Settling => Conclusion::not_ready(TopicReason::Creating, format!("topic {} is being created", facts.topic_name)),
        Outcome::Growing => Conclusion::not_ready(TopicReason::AddingPartitions, described()),
        Outcome::PartitionDecrease { in_kafka, desired } => Conclusion::not_ready(
            TopicReason::PartitionDecrease,
            format!(
                "topic {} has {in_kafka} partitions in Kafka, more than the {desired} in spec.partitions; Kafka cannot remove partitions",
                facts.topic_name
            ),
        ),
        Outcome::Reassigning(p) => Conclusion::not_ready(
            TopicReason::Reassigning,
            format!(
                "changing the replication factor of {} to {}: {}/{} partitions done",
                facts.topic_name, p.target_replicas, p.partitions_done, p.partitions_total
            ),
        ),
        Outcome::WaitingForBrokers { needed, registered } => Conclusion::not_ready(
            TopicReason::WaitingForBrokers,
            format!("{needed} replicas need {needed} brokers; {registered} are registered"),
        ),
    }
}

/// The status after a reconcile. `facts: None` keeps the previous facts (nothing was learnt).
pub fn status(
    previous: Option<&KafkaTopicStatus>,
    generation: Option<i64>,
    conclusion: Conclusion,
    facts: Option<TopicFacts>,
    now: Timestamp,
) -> KafkaTopicStatus {
    let previous = previous.cloned().unwrap_or_default();
    let conditions = merge(&previous.conditions, &with_health(&[conclusion]), OWNED, generation, now);
    match facts {
        Some(f) => KafkaTopicStatus {
            observed_generation: generation,
            conditions,
            topic_name: Some(f.topic_name),
            topic_id: f.topic_id.or(previous.topic_id),
            partitions: f.partitions,
            replicas: f.replicas,
            reassignment: f.reassignment,
        },
        None => KafkaTopicStatus { observed_generation: generation, conditions, ..previous },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_replace_and_absence_keeps() {
        let now: Timestamp = "2026-01-01T00:00:00Z".parse().expect("time");
        let facts =
            TopicFacts { topic_name: "t".into(), topic_id: Some("id".into()), partitions: Some(3), replicas: Some(3), reassignment: None };
        let s = status(None, Some(2), conclusion(&Outcome::Ready, &facts), Some(facts.clone()), now);
        assert_eq!(s.observed_generation, Some(2));
        assert_eq!(s.topic_id.as_deref(), Some("id"));
        assert_eq!(s.conditions[0].message, "topic t has 3 partitions with 3 replicas");
        let next = status(Some(&s), Some(3), Conclusion::not_ready(TopicReason::ClusterNotReady, "x"), None, now);
        assert_eq!(next.topic_id.as_deref(), Some("id"));
        assert_eq!(next.observed_generation, Some(3));
        assert_eq!(next.conditions[0].reason, "ClusterNotReady");
    }
}
