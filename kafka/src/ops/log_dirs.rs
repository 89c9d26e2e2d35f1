//! DescribeLogDirs (v4, KIP-827): each log directory of one broker with its total and usable
//! bytes, straight from the broker (no kubelet volume stats, no JMX).

use kafka_protocol::messages::{DescribeLogDirsRequest, DescribeLogDirsResponse};

use crate::error::{Error, Result};
use crate::metadata::TopicPartition;
use crate::router::{Client, Target};

/// One log directory of a broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogDir {
    /// The directory's path on the broker.
    pub path: String,
    /// Why the broker could not describe it (for example a failed disk), if it could not.
    pub error: Option<crate::error::KafkaCode>,
    /// Size of the file system holding the directory, in bytes; `None` when the broker does not
    /// know it (Kafka reports -1).
    pub total_bytes: Option<u64>,
    /// Bytes still usable on that file system; `None` when unknown.
    pub usable_bytes: Option<u64>,
}

/// Asks for the directories only: an empty topic list, so the answer carries no partitions (a
/// `null` list would describe every replica the broker hosts).
pub fn describe_log_dirs_request() -> DescribeLogDirsRequest {
    DescribeLogDirsRequest::default().with_topics(Some(Vec::new()))
}

fn bytes(v: i64) -> Option<u64> {
    u64::try_from(v).ok()
}

pub fn parse_describe_log_dirs(broker: i32, resp: DescribeLogDirsResponse) -> Result<Vec<LogDir>> {
    Error::check("DescribeLogDirs", resp.error_code, Some(&format!("broker {broker}")), None)?;
    let mut dirs: Vec<LogDir> = resp
        .results
        .into_iter()
        .map(|r| LogDir {
            path: r.log_dir.to_string(),
            error: crate::error::KafkaCode::from_code(r.error_code),
            total_bytes: bytes(r.total_bytes),
            usable_bytes: bytes(r.usable_bytes),
        })
        .collect();
    dirs.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(dirs)
}

/// Describes every replica the broker hosts (a `null` topic list).
pub fn describe_replica_sizes_request() -> DescribeLogDirsRequest {
    DescribeLogDirsRequest::default().with_topics(None)
}

/// The size of each replica the broker hosts, in bytes, summed over its log directories (a
/// replica being moved between directories of one broker counts its larger copy once: the
/// largest size wins). Fails when the broker could not describe a directory: a size the planner
/// is not given is not guessed.
pub fn parse_replica_sizes(broker: i32, resp: DescribeLogDirsResponse) -> Result<std::collections::BTreeMap<TopicPartition, u64>> {
    Error::check("DescribeLogDirs", resp.error_code, Some(&format!("broker {broker}")), None)?;
    let mut sizes = std::collections::BTreeMap::new();
    for dir in resp.results {
        Error::check("DescribeLogDirs", dir.error_code, Some(&format!("broker {broker} {}", dir.log_dir.as_str())), None)?;
        for t in dir.topics {
            for p in t.partitions {
                let tp = TopicPartition { topic: t.name.0.to_string(), partition: p.partition_index };
                let size = bytes(p.partition_size).unwrap_or(0);
                let entry = sizes.entry(tp).or_insert(0u64);
                *entry = (*entry).max(size);
            }
        }
    }
    Ok(sizes)
}

impl Client {
    /// The size of every replica broker `broker` hosts (DescribeLogDirs for all topics).
    pub async fn replica_sizes(&self, broker: i32) -> Result<std::collections::BTreeMap<TopicPartition, u64>> {
        self.call(Target::Node(broker), &describe_replica_sizes_request(), |resp| parse_replica_sizes(broker, resp)).await
    }

    /// The log directories of broker `broker`, with their total and usable bytes.
    pub async fn describe_log_dirs(&self, broker: i32) -> Result<Vec<LogDir>> {
        self.call(Target::Node(broker), &describe_log_dirs_request(), |resp| parse_describe_log_dirs(broker, resp)).await
    }
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::describe_log_dirs_response::DescribeLogDirsResult;
    use kafka_protocol::protocol::StrBytes;

    use super::*;

    fn dir(path: &str, code: i16, total: i64, usable: i64) -> DescribeLogDirsResult {
        DescribeLogDirsResult::default()
            .with_log_dir(StrBytes::from_string(path.into()))
            .with_error_code(code)
            .with_total_bytes(total)
            .with_usable_bytes(usable)
    }

    #[test]
    fn item1_parses_sizes_and_unknowns() {
        let resp = DescribeLogDirsResponse::default().with_results(vec![
            dir("/var/lib/kafka/b", 0, -1, -1),
            dir("/var/lib/kafka/a", 0, 10_000, 2_500),
            dir("/var/lib/kafka/c", 56, 0, 0),
        ]);
        let dirs = parse_describe_log_dirs(1, resp).expect("parsed");
        assert_eq!(dirs.iter().map(|d| d.path.as_str()).collect::<Vec<_>>(), ["/var/lib/kafka/a", "/var/lib/kafka/b", "/var/lib/kafka/c"]);
        assert_eq!((dirs[0].total_bytes, dirs[0].usable_bytes, dirs[0].error), (Some(10_000), Some(2_500), None));
        assert_eq!((dirs[1].total_bytes, dirs[1].usable_bytes), (None, None), "-1 is unknown, not a huge number");
        assert!(dirs[2].error.is_some(), "a failed directory keeps its error");
    }

    #[test]
    fn a_top_level_error_fails_the_call() {
        let resp = DescribeLogDirsResponse::default().with_error_code(29); // CLUSTER_AUTHORIZATION_FAILED
        assert!(parse_describe_log_dirs(3, resp).is_err());
    }

    #[test]
    fn the_request_asks_for_directories_only() {
        assert_eq!(describe_log_dirs_request().topics, Some(Vec::new()));
    }

    #[test]
    fn replica_sizes_take_the_larger_copy_and_a_failed_directory_fails() {
        use kafka_protocol::messages::TopicName;
        use kafka_protocol::messages::describe_log_dirs_response::{DescribeLogDirsPartition, DescribeLogDirsTopic};
        let topic = |sizes: &[(i32, i64)]| {
            DescribeLogDirsTopic::default().with_name(TopicName(StrBytes::from_static_str("t"))).with_partitions(
                sizes.iter().map(|&(p, s)| DescribeLogDirsPartition::default().with_partition_index(p).with_partition_size(s)).collect(),
            )
        };
        let resp = DescribeLogDirsResponse::default().with_results(vec![
            dir("/a", 0, 10, 5).with_topics(vec![topic(&[(0, 100), (1, 7)])]),
            dir("/b", 0, 10, 5).with_topics(vec![topic(&[(0, 300)])]),
        ]);
        let sizes = parse_replica_sizes(1, resp).expect("parsed");
        assert_eq!(sizes[&TopicPartition { topic: "t".into(), partition: 0 }], 300);
        assert_eq!(sizes[&TopicPartition { topic: "t".into(), partition: 1 }], 7);
        let failed = DescribeLogDirsResponse::default().with_results(vec![dir("/a", 56, 0, 0)]);
        assert!(parse_replica_sizes(1, failed).is_err(), "a size not known is not guessed");
        assert_eq!(describe_replica_sizes_request().topics, None);
    }
}
