//! A minimal producer: record batches (v2) to partition leaders, acks configurable, optional
//! idempotence (InitProducerId + per-partition sequence numbers).
//!
//! Not used by the operator today: it is here for the tests and benchmarks (and for the
//! upcoming canary).

use std::collections::HashMap;

use bytes::{Bytes, BytesMut};
use indexmap::IndexMap;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{InitProducerIdRequest, ProduceRequest, ProduceResponse, ProducerId, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType};
use tokio::sync::Mutex;

use crate::error::{Error, Result};
use crate::metadata::TopicPartition;
use crate::router::{Client, Target};

/// One record to send.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OutRecord {
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<(String, Option<Bytes>)>,
}

impl OutRecord {
    pub fn value(v: impl Into<Bytes>) -> Self {
        OutRecord { value: Some(v.into()), ..Default::default() }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct ProducerConfig {
    /// -1 (all), 1 or 0 is not supported (we always read the answer).
    pub acks: i16,
    pub idempotent: bool,
    pub timeout_ms: i32,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        ProducerConfig { acks: -1, idempotent: true, timeout_ms: 30_000 }
    }
}

struct Idempotence {
    producer_id: i64,
    epoch: i16,
    next_seq: HashMap<TopicPartition, i32>,
}

pub struct Producer {
    client: Client,
    config: ProducerConfig,
    state: Mutex<Option<Idempotence>>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// Encode records as one v2 batch.
pub fn encode_batch(records: &[OutRecord], producer_id: i64, epoch: i16, base_sequence: i32) -> Result<Bytes> {
    let ts = now_ms();
    let recs: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, r)| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id,
            producer_epoch: epoch,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: if base_sequence < 0 { -1 } else { base_sequence.wrapping_add(i as i32) },
            timestamp: ts,
            key: r.key.clone(),
            value: r.value.clone(),
            headers: r.headers.iter().map(|(k, v)| (StrBytes::from_string(k.clone()), v.clone())).collect::<IndexMap<_, _>>(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(&mut buf, recs.iter(), &RecordEncodeOptions { version: 2, compression: Compression::None })
        .map_err(|e| Error::Codec { api: "RecordBatch", version: 2, message: e.to_string() })?;
    Ok(buf.freeze())
}

pub fn produce_request(tp: &TopicPartition, batch: Bytes, acks: i16, timeout_ms: i32) -> ProduceRequest {
    ProduceRequest::default().with_acks(acks).with_timeout_ms(timeout_ms).with_topic_data(vec![
        TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_string(tp.topic.clone())))
            .with_partition_data(vec![PartitionProduceData::default().with_index(tp.partition).with_records(Some(batch))]),
    ])
}

/// The base offset assigned to the batch.
pub fn parse_produce(tp: &TopicPartition, resp: ProduceResponse) -> Result<i64> {
    let p = resp
        .responses
        .into_iter()
        .flat_map(|t| t.partition_responses)
        .find(|p| p.index == tp.partition)
        .ok_or_else(|| Error::Protocol(format!("Produce: no answer for {tp}")))?;
    Error::check("Produce", p.error_code, Some(&tp.to_string()), p.error_message.as_deref())?;
    Ok(p.base_offset)
}

impl Producer {
    pub async fn new(client: Client, config: ProducerConfig) -> Result<Producer> {
        if config.acks == 0 {
            return Err(Error::InvalidArgument("acks=0 is not supported".into()));
        }
        if config.idempotent && config.acks != -1 {
            return Err(Error::InvalidArgument("idempotence needs acks=-1".into()));
        }
        let p = Producer { client, config, state: Mutex::new(None) };
        if config.idempotent {
            p.init_producer_id().await?;
        }
        Ok(p)
    }

    async fn init_producer_id(&self) -> Result<()> {
        let req = InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_transaction_timeout_ms(60_000)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1);
        let (producer_id, epoch) = self
            .client
            .call(Target::Any, &req, |resp| {
                Error::check("InitProducerId", resp.error_code, None, None)?;
                Ok((resp.producer_id.0, resp.producer_epoch))
            })
            .await?;
        *self.state.lock().await = Some(Idempotence { producer_id, epoch, next_seq: HashMap::new() });
        Ok(())
    }

    /// Send records to one partition as one batch; returns the base offset.
    /// Sends are serialized per producer so sequence numbers stay ordered.
    pub async fn send(&self, topic: &str, partition: i32, records: &[OutRecord]) -> Result<i64> {
        if records.is_empty() {
            return Err(Error::InvalidArgument("no records".into()));
        }
        let tp = TopicPartition { topic: topic.to_string(), partition };
        let mut state = self.state.lock().await;
        let (pid, epoch, seq) = match state.as_ref() {
            Some(s) => (s.producer_id, s.epoch, s.next_seq.get(&tp).copied().unwrap_or(0)),
            None => (-1, -1, -1),
        };
        let batch = encode_batch(records, pid, epoch, seq)?;
        let req = produce_request(&tp, batch, self.config.acks, self.config.timeout_ms);
        let timeout = std::time::Duration::from_millis(self.config.timeout_ms as u64 + 5_000);
        let tp_ref = &tp;
        let req_ref = &req;
        let offset = self
            .client
            .with_retry(Target::Leader { topic, partition }, |conn| async move {
                let resp = conn.send_with_timeout(req_ref, timeout).await?;
                parse_produce(tp_ref, resp)
            })
            .await?;
        if let Some(s) = state.as_mut() {
            s.next_seq.insert(tp, seq.wrapping_add(records.len() as i32));
        }
        Ok(offset)
    }
}
