//! ElectLeaders: make each partition's preferred replica (the first of its replica list) its
//! leader, as `kafka-leader-election --election-type PREFERRED` does.

use std::collections::{BTreeMap, HashMap};

use kafka_protocol::messages::elect_leaders_request::TopicPartitions;
use kafka_protocol::messages::{ElectLeadersRequest, ElectLeadersResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use crate::error::{Error, Result};
use crate::metadata::TopicPartition;
use crate::router::{Client, Target};

/// `election_type` 0: the preferred replica.
const PREFERRED: i8 = 0;
const ELECT_TIMEOUT_MS: i32 = 30_000;
/// ELECTION_NOT_NEEDED: the preferred replica leads already; not a failure.
const ELECTION_NOT_NEEDED: i16 = 84;

/// A preferred-leader election for `partitions`; `None` asks for every partition of the cluster.
pub fn elect_preferred_request(partitions: Option<&[TopicPartition]>) -> ElectLeadersRequest {
    let topic_partitions = partitions.map(|tps| {
        let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for tp in tps {
            by_topic.entry(tp.topic.as_str()).or_default().push(tp.partition);
        }
        by_topic
            .into_iter()
            .map(|(t, ps)| TopicPartitions::default().with_topic(TopicName(StrBytes::from_string(t.to_owned()))).with_partitions(ps))
            .collect()
    });
    ElectLeadersRequest::default().with_election_type(PREFERRED).with_topic_partitions(topic_partitions).with_timeout_ms(ELECT_TIMEOUT_MS)
}

/// Per-partition outcomes; a partition whose preferred replica leads already counts as done.
pub fn parse_elect_leaders(resp: ElectLeadersResponse) -> Result<HashMap<TopicPartition, Result<()>>> {
    Error::check("ElectLeaders", resp.error_code, None, None)?;
    let mut out = HashMap::new();
    for t in resp.replica_election_results {
        for p in t.partition_result {
            let tp = TopicPartition { topic: t.topic.0.to_string(), partition: p.partition_id };
            let code = if p.error_code == ELECTION_NOT_NEEDED { 0 } else { p.error_code };
            let r = Error::check("ElectLeaders", code, Some(&tp.to_string()), p.error_message.as_deref());
            out.insert(tp, r);
        }
    }
    Ok(out)
}

impl Client {
    /// Elects the preferred replica leader of `partitions` (all, with `None`).
    pub async fn elect_preferred_leaders(&self, partitions: Option<&[TopicPartition]>) -> Result<HashMap<TopicPartition, Result<()>>> {
        self.call(Target::Controller, &elect_preferred_request(partitions), parse_elect_leaders).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};

    fn tp(t: &str, p: i32) -> TopicPartition {
        TopicPartition { topic: t.into(), partition: p }
    }

    #[test]
    fn election_not_needed_is_done_and_other_codes_fail() {
        let resp = ElectLeadersResponse::default().with_replica_election_results(vec![
            ReplicaElectionResult::default().with_topic(TopicName(StrBytes::from_static_str("t"))).with_partition_result(vec![
                PartitionResult::default().with_partition_id(0).with_error_code(ELECTION_NOT_NEEDED),
                PartitionResult::default().with_partition_id(1),
                PartitionResult::default().with_partition_id(2).with_error_code(80),
            ]),
        ]);
        let out = parse_elect_leaders(resp).expect("parsed");
        assert!(out[&tp("t", 0)].is_ok());
        assert!(out[&tp("t", 1)].is_ok());
        assert!(out[&tp("t", 2)].is_err());
    }

    #[test]
    fn the_request_groups_partitions_by_topic_and_none_means_all() {
        let req = elect_preferred_request(Some(&[tp("b", 1), tp("a", 0), tp("b", 0)]));
        let topics = req.topic_partitions.expect("some");
        assert_eq!(topics.len(), 2);
        assert_eq!(topics[1].partitions, vec![1, 0]);
        assert!(elect_preferred_request(None).topic_partitions.is_none());
        assert_eq!(req.election_type, 0);
    }
}
