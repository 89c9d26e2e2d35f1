//! Consumer groups: list (every broker coordinates some) and committed offsets.
//!
//! Not used by the operator today: it is here for the tests and benchmarks (and for the
//! upcoming canary).

use std::collections::BTreeMap;

use futures::future::join_all;
use kafka_protocol::messages::offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestGroup;
use kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse, OffsetFetchRequest, OffsetFetchResponse};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use crate::error::{Error, Result};
use crate::metadata::TopicPartition;
use crate::router::{Client, Target};

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct GroupListing {
    pub group_id: String,
    pub protocol_type: String,
    pub state: String,
    pub group_type: String,
    pub coordinator: i32,
}

pub fn parse_list_groups(coordinator: i32, resp: ListGroupsResponse) -> Result<Vec<GroupListing>> {
    Error::check("ListGroups", resp.error_code, Some(&format!("broker {coordinator}")), None)?;
    Ok(resp
        .groups
        .into_iter()
        .map(|g| GroupListing {
            group_id: g.group_id.0.to_string(),
            protocol_type: g.protocol_type.to_string(),
            state: g.group_state.to_string(),
            group_type: g.group_type.to_string(),
            coordinator,
        })
        .collect())
}

pub fn offset_fetch_request(group: &str) -> OffsetFetchRequest {
    OffsetFetchRequest::default().with_require_stable(true).with_groups(vec![
        OffsetFetchRequestGroup::default().with_group_id(GroupId(StrBytes::from_string(group.to_string()))).with_topics(None),
    ])
}

/// Committed offset per partition (-1 when none).
pub fn parse_offset_fetch(group: &str, resp: OffsetFetchResponse) -> Result<BTreeMap<TopicPartition, i64>> {
    let g = resp.groups.into_iter().next().ok_or_else(|| Error::Protocol("OffsetFetch returned no group".into()))?;
    Error::check("OffsetFetch", g.error_code, Some(group), None)?;
    let mut out = BTreeMap::new();
    for t in g.topics {
        for p in t.partitions {
            let tp = TopicPartition { topic: t.name.0.to_string(), partition: p.partition_index };
            Error::check("OffsetFetch", p.error_code, Some(&tp.to_string()), None)?;
            out.insert(tp, p.committed_offset);
        }
    }
    Ok(out)
}

/// A standalone ("simple") commit: no generation, no member, as admin tools do.
pub fn offset_commit_request(group: &str, offsets: &BTreeMap<TopicPartition, i64>) -> OffsetCommitRequest {
    let mut by_topic: BTreeMap<&str, Vec<OffsetCommitRequestPartition>> = BTreeMap::new();
    for (tp, off) in offsets {
        by_topic.entry(tp.topic.as_str()).or_default().push(
            OffsetCommitRequestPartition::default()
                .with_partition_index(tp.partition)
                .with_committed_offset(*off)
                .with_committed_leader_epoch(-1)
                .with_committed_metadata(Some(StrBytes::new())),
        );
    }
    OffsetCommitRequest::default()
        .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
        .with_generation_id_or_member_epoch(-1)
        .with_member_id(StrBytes::new())
        .with_topics(
            by_topic
                .into_iter()
                .map(|(t, ps)| {
                    OffsetCommitRequestTopic::default().with_name(TopicName(StrBytes::from_string(t.to_string()))).with_partitions(ps)
                })
                .collect(),
        )
}

pub fn parse_offset_commit(resp: OffsetCommitResponse) -> Result<()> {
    for t in resp.topics {
        for p in t.partitions {
            let tp = format!("{}-{}", t.name.0, p.partition_index);
            Error::check("OffsetCommit", p.error_code, Some(&tp), None)?;
        }
    }
    Ok(())
}

impl Client {
    /// Commit offsets for a group without membership (the group must have no active members).
    pub async fn commit_group_offsets(&self, group: &str, offsets: &BTreeMap<TopicPartition, i64>) -> Result<()> {
        self.call(Target::Coordinator { group }, &offset_commit_request(group, offsets), parse_offset_commit).await
    }

    /// All groups of the cluster (ListGroups fanned out to every broker).
    pub async fn list_groups(&self) -> Result<Vec<GroupListing>> {
        let meta = self.refresh_metadata().await?;
        let ids: Vec<i32> = meta.brokers.keys().copied().collect();
        let mut out = Vec::new();
        for (_, r) in self.list_groups_on(&ids).await {
            out.extend(r?);
        }
        out.sort();
        Ok(out)
    }

    /// ListGroups on each of `brokers` at once: the groups each coordinates, or its error.
    pub async fn list_groups_on(&self, brokers: &[i32]) -> Vec<(i32, Result<Vec<GroupListing>>)> {
        let req = ListGroupsRequest::default();
        let results = join_all(brokers.iter().map(|&id| {
            let req = &req;
            async move { self.call(Target::Node(id), req, |r| parse_list_groups(id, r)).await }
        }))
        .await;
        brokers.iter().copied().zip(results).collect()
    }

    /// A group's committed offsets, asked of its coordinator.
    pub async fn list_group_offsets(&self, group: &str) -> Result<BTreeMap<TopicPartition, i64>> {
        self.call(Target::Coordinator { group }, &offset_fetch_request(group), |r| parse_offset_fetch(group, r)).await
    }
}
