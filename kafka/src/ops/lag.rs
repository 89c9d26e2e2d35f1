//! Consumer lag inputs, batched so the cost stays bounded whatever the number of groups and
//! partitions: ListGroups once per broker (each answers for the groups it coordinates, so no
//! FindCoordinator is needed), one OffsetFetch per coordinator for up to `batch_size` groups
//! (v8 takes many groups), and one ListOffsets per partition leader for up to
//! [`LIST_OFFSETS_BATCH`] partitions.

use std::collections::BTreeMap;

use futures::future::join_all;
use kafka_protocol::messages::TopicName;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestGroup;
use kafka_protocol::messages::{BrokerId, GroupId, ListOffsetsRequest, ListOffsetsResponse, OffsetFetchRequest, OffsetFetchResponse};
use kafka_protocol::protocol::StrBytes;

use super::chunk_weighted;
use super::groups::GroupListing;
use crate::error::{Error, Result};
use crate::metadata::{MetadataSnapshot, TopicPartition};
use crate::router::{Client, Target};

/// Partitions asked in one ListOffsets request.
pub const LIST_OFFSETS_BATCH: usize = 1000;

/// What consumer lag is computed from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupOffsets {
    /// Committed offsets per group that matched (partitions without a commit left out).
    pub committed: BTreeMap<String, BTreeMap<TopicPartition, i64>>,
    /// The log end offset of every partition some group committed to, when its leader answered.
    pub end_offsets: BTreeMap<TopicPartition, i64>,
    /// Groups, partitions or brokers whose answer carried an error (their lag is left out).
    pub errors: Vec<String>,
    /// Requests sent for this gathering (for benchmarks).
    pub requests: usize,
}

/// One OffsetFetch (v8+) for many groups, all of their topics.
pub fn offset_fetch_groups_request(groups: &[String]) -> OffsetFetchRequest {
    OffsetFetchRequest::default().with_require_stable(false).with_groups(
        groups
            .iter()
            .map(|g| OffsetFetchRequestGroup::default().with_group_id(GroupId(StrBytes::from_string(g.clone()))).with_topics(None))
            .collect(),
    )
}

/// Committed offsets of each group of the answer (committed offset >= 0 only), or its error.
pub fn parse_offset_fetch_groups(resp: OffsetFetchResponse) -> Vec<(String, Result<BTreeMap<TopicPartition, i64>>)> {
    resp.groups
        .into_iter()
        .map(|g| {
            let group = g.group_id.0.to_string();
            let offsets = Error::check("OffsetFetch", g.error_code, Some(&group), None).and_then(|()| {
                let mut out = BTreeMap::new();
                for t in g.topics {
                    for p in t.partitions {
                        let tp = TopicPartition { topic: t.name.0.to_string(), partition: p.partition_index };
                        Error::check("OffsetFetch", p.error_code, Some(&tp.to_string()), None)?;
                        if p.committed_offset >= 0 {
                            out.insert(tp, p.committed_offset);
                        }
                    }
                }
                Ok(out)
            });
            (group, offsets)
        })
        .collect()
}

/// The latest offsets of many partitions, in one ListOffsets request.
pub fn list_offsets_many_request(partitions: &[TopicPartition]) -> ListOffsetsRequest {
    let mut by_topic: BTreeMap<&str, Vec<ListOffsetsPartition>> = BTreeMap::new();
    for tp in partitions {
        by_topic
            .entry(tp.topic.as_str())
            .or_default()
            .push(ListOffsetsPartition::default().with_partition_index(tp.partition).with_current_leader_epoch(-1).with_timestamp(-1));
    }
    ListOffsetsRequest::default().with_replica_id(BrokerId(-1)).with_isolation_level(0).with_topics(
        by_topic
            .into_iter()
            .map(|(t, ps)| ListOffsetsTopic::default().with_name(TopicName(StrBytes::from_string(t.to_owned()))).with_partitions(ps))
            .collect(),
    )
}

/// Each partition's latest offset, or its error.
pub fn parse_list_offsets_many(resp: ListOffsetsResponse) -> Vec<(TopicPartition, Result<i64>)> {
    resp.topics
        .into_iter()
        .flat_map(|t| {
            let topic = t.name.0.to_string();
            t.partitions.into_iter().map(move |p| {
                let tp = TopicPartition { topic: topic.clone(), partition: p.partition_index };
                let r = Error::check("ListOffsets", p.error_code, Some(&tp.to_string()), None).map(|()| p.offset);
                (tp, r)
            })
        })
        .collect()
}

/// The partitions grouped by their leader in `meta`; those without a leader under `None`.
pub fn by_leader(
    meta: &MetadataSnapshot,
    partitions: impl IntoIterator<Item = TopicPartition>,
) -> BTreeMap<Option<i32>, Vec<TopicPartition>> {
    let mut out: BTreeMap<Option<i32>, Vec<TopicPartition>> = BTreeMap::new();
    for tp in partitions {
        out.entry(meta.leader(&tp.topic, tp.partition)).or_default().push(tp);
    }
    out
}

/// Group types whose offsets OffsetFetch does not serve (KIP-932 share groups, KIP-1071 streams
/// groups): left out.
const NOT_CONSUMER_GROUPS: &[&str] = &["share", "streams"];

/// The consumer groups each coordinator answers for, of those `wanted` keeps.
pub fn by_coordinator(listings: Vec<GroupListing>, wanted: &(dyn Fn(&str) -> bool + Sync)) -> BTreeMap<i32, Vec<String>> {
    let mut out: BTreeMap<i32, Vec<String>> = BTreeMap::new();
    let consumer = |g: &GroupListing| !NOT_CONSUMER_GROUPS.contains(&g.group_type.to_ascii_lowercase().as_str());
    for g in listings.into_iter().filter(|g| consumer(g) && wanted(&g.group_id)) {
        out.entry(g.coordinator).or_default().push(g.group_id);
    }
    out
}

/// Files a batch's per-item answers into `into`, and each item's error, or the whole batch's,
/// into `errors`.
fn keep_answers<K: Ord + std::fmt::Display, V>(
    item: &str,
    batch: &str,
    answer: Result<Vec<(K, Result<V>)>>,
    into: &mut BTreeMap<K, V>,
    errors: &mut Vec<String>,
) {
    match answer {
        Ok(answers) => {
            for (k, r) in answers {
                match r {
                    Ok(v) => {
                        into.insert(k, v);
                    }
                    Err(e) => errors.push(format!("{item} {k}: {e}")),
                }
            }
        }
        Err(e) => errors.push(format!("{batch}: {e}")),
    }
}

impl Client {
    /// The committed offsets of every group `wanted` keeps, and the end offsets of the partitions
    /// they committed to. Uses the cached metadata (refreshing it only when there is none).
    pub async fn group_offsets(&self, wanted: &(dyn Fn(&str) -> bool + Sync)) -> Result<GroupOffsets> {
        let meta = match self.cached_metadata() {
            Some(m) => m,
            None => self.refresh_metadata().await?,
        };
        let mut out = GroupOffsets::default();
        let brokers: Vec<i32> = meta.brokers.keys().copied().collect();
        out.requests += brokers.len();
        let mut listings = Vec::new();
        for (id, r) in self.list_groups_on(&brokers).await {
            match r {
                Ok(l) => listings.extend(l),
                Err(e) => out.errors.push(format!("ListGroups on broker {id}: {e}")),
            }
        }

        let batch = self.config().batch_size;
        let fetches: Vec<(i32, Vec<String>)> = by_coordinator(listings, wanted)
            .into_iter()
            .flat_map(|(node, groups)| chunk_weighted(groups, batch, |_| 1, usize::MAX).into_iter().map(move |c| (node, c)))
            .collect();
        out.requests += fetches.len();
        let fetched = join_all(fetches.iter().map(|(node, groups)| {
            let req = offset_fetch_groups_request(groups);
            async move { self.call(Target::Node(*node), &req, |r| Ok(parse_offset_fetch_groups(r))).await }
        }))
        .await;
        for ((node, groups), r) in fetches.iter().zip(fetched) {
            let batch = format!("OffsetFetch of {} groups on broker {node}", groups.len());
            keep_answers("OffsetFetch of", &batch, r, &mut out.committed, &mut out.errors);
        }

        let partitions: std::collections::BTreeSet<TopicPartition> = out.committed.values().flat_map(|o| o.keys().cloned()).collect();
        let mut lists: Vec<(i32, Vec<TopicPartition>)> = Vec::new();
        for (leader, tps) in by_leader(&meta, partitions) {
            match leader {
                Some(l) => lists.extend(chunk_weighted(tps, LIST_OFFSETS_BATCH, |_| 1, usize::MAX).into_iter().map(|c| (l, c))),
                None => out.errors.extend(tps.iter().map(|tp| format!("ListOffsets of {tp}: no leader"))),
            }
        }
        out.requests += lists.len();
        let listed = join_all(lists.iter().map(|(leader, tps)| {
            let req = list_offsets_many_request(tps);
            async move { self.call(Target::Node(*leader), &req, |r| Ok(parse_list_offsets_many(r))).await }
        }))
        .await;
        for ((leader, tps), r) in lists.iter().zip(listed) {
            let batch = format!("ListOffsets of {} partitions on broker {leader}", tps.len());
            keep_answers("ListOffsets of", &batch, r, &mut out.end_offsets, &mut out.errors);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::list_offsets_response::{ListOffsetsPartitionResponse, ListOffsetsTopicResponse};
    use kafka_protocol::messages::offset_fetch_response::{
        OffsetFetchResponseGroup, OffsetFetchResponsePartitions, OffsetFetchResponseTopics,
    };

    fn tp(t: &str, p: i32) -> TopicPartition {
        TopicPartition { topic: t.into(), partition: p }
    }

    #[test]
    fn one_offset_fetch_asks_for_every_group_and_all_topics() {
        let req = offset_fetch_groups_request(&["a".into(), "b".into()]);
        let ids: Vec<String> = req.groups.iter().map(|g| g.group_id.0.to_string()).collect();
        assert_eq!(ids, ["a", "b"]);
        assert!(req.groups.iter().all(|g| g.topics.is_none()), "None asks for every topic the group committed to");
    }

    #[test]
    fn offset_fetch_answers_per_group_with_errors_kept_apart() {
        let part = |i, off, code| {
            OffsetFetchResponsePartitions::default().with_partition_index(i).with_committed_offset(off).with_error_code(code)
        };
        let group = |id: &str, code, parts| {
            OffsetFetchResponseGroup::default().with_group_id(GroupId(StrBytes::from_string(id.into()))).with_error_code(code).with_topics(
                vec![OffsetFetchResponseTopics::default().with_name(TopicName(StrBytes::from_static_str("t"))).with_partitions(parts)],
            )
        };
        let resp = OffsetFetchResponse::default().with_groups(vec![
            group("ok", 0, vec![part(0, 5, 0), part(1, -1, 0)]),
            group("gone", 16, vec![]),
            group("bad-part", 0, vec![part(0, 3, 3)]),
        ]);
        let got = parse_offset_fetch_groups(resp);
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].0, "ok");
        assert_eq!(got[0].1.as_ref().expect("ok"), &BTreeMap::from([(tp("t", 0), 5)]), "no commit (-1) is left out");
        assert!(got[1].1.is_err(), "NOT_COORDINATOR of one group");
        assert!(got[2].1.is_err(), "a partition error fails that group only");
    }

    #[test]
    fn list_offsets_groups_partitions_by_topic_and_parses_each() {
        let req = list_offsets_many_request(&[tp("a", 0), tp("b", 1), tp("a", 2)]);
        let shape: Vec<(String, Vec<i32>)> =
            req.topics.iter().map(|t| (t.name.0.to_string(), t.partitions.iter().map(|p| p.partition_index).collect())).collect();
        assert_eq!(shape, [("a".to_owned(), vec![0, 2]), ("b".to_owned(), vec![1])]);
        assert!(req.topics.iter().flat_map(|t| &t.partitions).all(|p| p.timestamp == -1), "latest");
        let resp = ListOffsetsResponse::default().with_topics(vec![
            ListOffsetsTopicResponse::default().with_name(TopicName(StrBytes::from_static_str("a"))).with_partitions(vec![
                ListOffsetsPartitionResponse::default().with_partition_index(0).with_offset(42),
                ListOffsetsPartitionResponse::default().with_partition_index(2).with_error_code(6),
            ]),
        ]);
        let got = parse_list_offsets_many(resp);
        assert_eq!((&got[0].0, got[0].1.as_ref().ok()), (&tp("a", 0), Some(&42)));
        assert!(got[1].1.is_err(), "NOT_LEADER_OR_FOLLOWER for one partition");
    }

    #[test]
    fn answers_are_kept_and_errors_named_per_item_or_batch() {
        let (mut into, mut errors) = (BTreeMap::new(), Vec::new());
        let answer: Result<Vec<(String, Result<i64>)>> = Ok(vec![("a".into(), Ok(1)), ("b".into(), Err(Error::Protocol("x".into())))]);
        keep_answers("OffsetFetch of", "batch 1", answer, &mut into, &mut errors);
        keep_answers::<String, i64>("OffsetFetch of", "batch 2", Err(Error::Protocol("down".into())), &mut into, &mut errors);
        assert_eq!(into, BTreeMap::from([("a".to_owned(), 1)]));
        assert_eq!(errors.len(), 2);
        assert!(errors[0].starts_with("OffsetFetch of b: ") && errors[1].starts_with("batch 2: "), "{errors:?}");
    }

    #[test]
    fn groups_are_split_by_coordinator_and_filtered() {
        let typed = |id: &str, c, group_type: &str| GroupListing {
            group_id: id.into(),
            protocol_type: "consumer".into(),
            state: "Stable".into(),
            group_type: group_type.into(),
            coordinator: c,
        };
        let l = |id: &str, c| typed(id, c, "classic");
        let wanted = |g: &str| g.starts_with("orders");
        let got = by_coordinator(
            vec![l("orders-1", 2), l("billing", 2), l("orders-2", 1), typed("orders-3", 2, "Consumer"), typed("orders-share", 1, "Share")],
            &wanted,
        );
        assert_eq!(got, BTreeMap::from([(1, vec!["orders-2".to_owned()]), (2, vec!["orders-1".to_owned(), "orders-3".to_owned()])]));
    }
}
