//! DescribeQuorum: the KRaft leader (active controller), voters and observers with lag.

use kafka_protocol::messages::describe_quorum_request::{PartitionData, TopicData};
use kafka_protocol::messages::{DescribeQuorumRequest, DescribeQuorumResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use crate::error::{Error, Result};
use crate::router::{Client, Target};

pub const METADATA_TOPIC: &str = "__cluster_metadata";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaLag {
    pub id: i32,
    pub log_end_offset: i64,
    /// Leader's wall clock, ms; -1 if unknown.
    pub last_fetch_timestamp: i64,
    pub last_caught_up_timestamp: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumInfo {
    /// The active controller.
    pub leader_id: i32,
    pub leader_epoch: i32,
    pub high_watermark: i64,
    pub voters: Vec<ReplicaLag>,
    pub observers: Vec<ReplicaLag>,
}

impl QuorumInfo {
    pub fn leader(&self) -> Option<&ReplicaLag> {
        self.voters.iter().find(|v| v.id == self.leader_id)
    }
}

pub fn describe_quorum_request() -> DescribeQuorumRequest {
    DescribeQuorumRequest::default().with_topics(vec![
        TopicData::default()
            .with_topic_name(TopicName(StrBytes::from_static_str(METADATA_TOPIC)))
            .with_partitions(vec![PartitionData::default().with_partition_index(0)]),
    ])
}

pub fn parse_describe_quorum(resp: DescribeQuorumResponse) -> Result<QuorumInfo> {
    Error::check("DescribeQuorum", resp.error_code, None, resp.error_message.as_deref())?;
    let p = resp
        .topics
        .into_iter()
        .flat_map(|t| t.partitions)
        .next()
        .ok_or_else(|| Error::Protocol("DescribeQuorum returned no partition".into()))?;
    Error::check("DescribeQuorum", p.error_code, Some(METADATA_TOPIC), p.error_message.as_deref())?;
    let lag = |r: kafka_protocol::messages::describe_quorum_response::ReplicaState| ReplicaLag {
        id: r.replica_id.0,
        log_end_offset: r.log_end_offset,
        last_fetch_timestamp: r.last_fetch_timestamp,
        last_caught_up_timestamp: r.last_caught_up_timestamp,
    };
    Ok(QuorumInfo {
        leader_id: p.leader_id.0,
        leader_epoch: p.leader_epoch,
        high_watermark: p.high_watermark,
        voters: p.current_voters.into_iter().map(lag).collect(),
        observers: p.observers.into_iter().map(lag).collect(),
    })
}

impl Client {
    /// The KRaft quorum as the active controller sees it (brokers forward the request).
    pub async fn describe_quorum(&self) -> Result<QuorumInfo> {
        self.call(Target::Any, &describe_quorum_request(), parse_describe_quorum).await
    }
}
