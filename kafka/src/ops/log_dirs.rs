//! DescribeLogDirs (v4, KIP-827): each log directory of one broker with its total and usable
//! bytes, straight from the broker (no kubelet volume stats, no JMX).

use kafka_protocol::messages::{DescribeLogDirsRequest, DescribeLogDirsResponse};

use crate::error::{Error, Result};
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

impl Client {
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
}
