//! A minimal consumer: ListOffsets and Fetch from partition leaders (no group membership).
//!
//! Not used by the operator today: it is here for the tests and benchmarks (and for the
//! upcoming canary).

use bytes::{Buf, Bytes};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{BrokerId, FetchRequest, FetchResponse, ListOffsetsRequest, ListOffsetsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::RecordBatchDecoder;

use crate::error::{Error, Result};
use crate::metadata::TopicPartition;
use crate::router::{Client, Target};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumedRecord {
    pub offset: i64,
    pub timestamp: i64,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<(String, Option<Bytes>)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub records: Vec<ConsumedRecord>,
    pub high_watermark: i64,
    /// Offset to fetch next.
    pub next_offset: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetSpec {
    Earliest,
    Latest,
}

pub fn list_offsets_request(tp: &TopicPartition, spec: OffsetSpec) -> ListOffsetsRequest {
    ListOffsetsRequest::default().with_replica_id(BrokerId(-1)).with_isolation_level(0).with_topics(vec![
        ListOffsetsTopic::default().with_name(TopicName(StrBytes::from_string(tp.topic.clone()))).with_partitions(vec![
            ListOffsetsPartition::default().with_partition_index(tp.partition).with_current_leader_epoch(-1).with_timestamp(match spec {
                OffsetSpec::Earliest => -2,
                OffsetSpec::Latest => -1,
            }),
        ]),
    ])
}

pub fn parse_list_offsets(tp: &TopicPartition, resp: ListOffsetsResponse) -> Result<i64> {
    let p = resp
        .topics
        .into_iter()
        .flat_map(|t| t.partitions)
        .find(|p| p.partition_index == tp.partition)
        .ok_or_else(|| Error::Protocol(format!("ListOffsets: no answer for {tp}")))?;
    Error::check("ListOffsets", p.error_code, Some(&tp.to_string()), None)?;
    Ok(p.offset)
}

pub fn fetch_request(tp: &TopicPartition, offset: i64, max_bytes: i32, max_wait_ms: i32) -> FetchRequest {
    FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(1)
        .with_max_bytes(max_bytes)
        .with_isolation_level(0)
        .with_session_id(0)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default().with_topic(TopicName(StrBytes::from_string(tp.topic.clone()))).with_partitions(vec![
                FetchPartition::default()
                    .with_partition(tp.partition)
                    .with_current_leader_epoch(-1)
                    .with_fetch_offset(offset)
                    .with_last_fetched_epoch(-1)
                    .with_log_start_offset(-1)
                    .with_partition_max_bytes(max_bytes),
            ])])
        .with_rack_id(StrBytes::new())
}

/// Decode whole batches from a record buffer, ignoring a truncated trailing batch.
pub fn decode_records(mut buf: Bytes, from_offset: i64) -> Result<Vec<ConsumedRecord>> {
    let mut out = Vec::new();
    while buf.remaining() >= 12 {
        let len = i32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]);
        let total = 12 + usize::try_from(len).map_err(|_| Error::Protocol("negative batch length".into()))?;
        if buf.remaining() < total {
            break;
        }
        let mut batch = buf.split_to(total);
        let set =
            RecordBatchDecoder::decode(&mut batch).map_err(|e| Error::Codec { api: "RecordBatch", version: 2, message: e.to_string() })?;
        for r in set.records {
            if r.control || r.offset < from_offset {
                continue;
            }
            out.push(ConsumedRecord {
                offset: r.offset,
                timestamp: r.timestamp,
                key: r.key,
                value: r.value,
                headers: r.headers.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
            });
        }
    }
    Ok(out)
}

pub fn parse_fetch(tp: &TopicPartition, offset: i64, resp: FetchResponse) -> Result<Fetched> {
    Error::check("Fetch", resp.error_code, Some(&tp.to_string()), None)?;
    let p = resp
        .responses
        .into_iter()
        .flat_map(|t| t.partitions)
        .find(|p| p.partition_index == tp.partition)
        .ok_or_else(|| Error::Protocol(format!("Fetch: no answer for {tp}")))?;
    Error::check("Fetch", p.error_code, Some(&tp.to_string()), None)?;
    let records = decode_records(p.records.unwrap_or_default(), offset)?;
    let next_offset = records.last().map(|r| r.offset + 1).unwrap_or(offset);
    Ok(Fetched { records, high_watermark: p.high_watermark, next_offset })
}

impl Client {
    pub async fn list_offset(&self, topic: &str, partition: i32, spec: OffsetSpec) -> Result<i64> {
        let tp = TopicPartition { topic: topic.to_string(), partition };
        let req = list_offsets_request(&tp, spec);
        let tp_ref = &tp;
        let req_ref = &req;
        self.with_retry(Target::Leader { topic, partition }, |conn| async move { parse_list_offsets(tp_ref, conn.send(req_ref).await?) })
            .await
    }

    /// Fetch records from `offset` (waiting up to `max_wait_ms` for data).
    pub async fn fetch(&self, topic: &str, partition: i32, offset: i64, max_bytes: i32, max_wait_ms: i32) -> Result<Fetched> {
        let tp = TopicPartition { topic: topic.to_string(), partition };
        let req = fetch_request(&tp, offset, max_bytes, max_wait_ms);
        let timeout = self.config().request_timeout + std::time::Duration::from_millis(max_wait_ms.max(0) as u64);
        let tp_ref = &tp;
        let req_ref = &req;
        self.with_retry(Target::Leader { topic, partition }, |conn| async move {
            parse_fetch(tp_ref, offset, conn.send_with_timeout(req_ref, timeout).await?)
        })
        .await
    }
}
