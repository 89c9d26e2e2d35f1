//! DescribeCluster (brokers, fencing), Metadata, UnregisterBroker.

use std::sync::Arc;

use kafka_protocol::messages::{DescribeClusterRequest, DescribeClusterResponse, UnregisterBrokerRequest};

use crate::error::{Error, Result};
use crate::metadata::MetadataSnapshot;
use crate::router::{Client, Target};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterBroker {
    pub id: i32,
    pub host: String,
    pub port: i32,
    pub rack: Option<String>,
    /// Registered but fenced (starting, in log recovery, or shut down uncleanly).
    pub fenced: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterDescription {
    pub cluster_id: String,
    /// A broker that forwards controller requests (not the active KRaft controller; use
    /// [`Client::describe_quorum`] for that).
    pub controller_id: Option<i32>,
    /// Registered brokers, fenced ones included.
    pub brokers: Vec<ClusterBroker>,
}

impl ClusterDescription {
    pub fn broker(&self, id: i32) -> Option<&ClusterBroker> {
        self.brokers.iter().find(|b| b.id == id)
    }
}

pub fn describe_cluster_request() -> DescribeClusterRequest {
    DescribeClusterRequest::default()
        .with_include_cluster_authorized_operations(false)
        .with_endpoint_type(1)
        .with_include_fenced_brokers(true)
}

pub fn parse_describe_cluster(resp: DescribeClusterResponse) -> Result<ClusterDescription> {
    Error::check("DescribeCluster", resp.error_code, None, resp.error_message.as_deref())?;
    let mut brokers: Vec<ClusterBroker> = resp
        .brokers
        .into_iter()
        .map(|b| ClusterBroker {
            id: b.broker_id.0,
            host: b.host.to_string(),
            port: b.port,
            rack: b.rack.map(|r| r.to_string()),
            fenced: b.is_fenced,
        })
        .collect();
    brokers.sort_by_key(|b| b.id);
    Ok(ClusterDescription {
        cluster_id: resp.cluster_id.to_string(),
        controller_id: (resp.controller_id.0 >= 0).then_some(resp.controller_id.0),
        brokers,
    })
}

impl Client {
    /// Registered brokers (fenced included) and the cluster id.
    pub async fn describe_cluster(&self) -> Result<ClusterDescription> {
        self.describe_cluster_via(Target::Any).await
    }

    pub async fn describe_cluster_via(&self, target: Target<'_>) -> Result<ClusterDescription> {
        self.call(target, &describe_cluster_request(), parse_describe_cluster).await
    }

    /// Fresh metadata for all topics (also refreshes the routing cache).
    pub async fn metadata(&self) -> Result<Arc<MetadataSnapshot>> {
        self.refresh_metadata().await
    }

    /// Fresh metadata for some topics; unknown topics appear with
    /// `error == Some(UnknownTopicOrPartition)`.
    pub async fn topic_metadata(&self, topics: &[String]) -> Result<MetadataSnapshot> {
        self.fetch_metadata(Target::Any, Some(topics)).await
    }

    /// Remove a broker's registration (after it is decommissioned).
    pub async fn unregister_broker(&self, broker_id: i32) -> Result<()> {
        let req = UnregisterBrokerRequest::default().with_broker_id(broker_id.into());
        self.call(Target::Controller, &req, |resp| {
            Error::check("UnregisterBroker", resp.error_code, Some(&format!("broker {broker_id}")), resp.error_message.as_deref())
        })
        .await
    }
}
