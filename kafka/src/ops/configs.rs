//! DescribeConfigs and IncrementalAlterConfigs for topics, brokers and the cluster-wide
//! broker default, batched and routed (broker-specific resources go to that broker).

use futures::stream::{self, StreamExt};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
use kafka_protocol::messages::{
    DescribeConfigsRequest, DescribeConfigsResponse, IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse,
};
use kafka_protocol::protocol::StrBytes;

use crate::error::{Error, Result};
use crate::router::{Client, Target};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResourceType {
    Topic,
    Broker,
    BrokerLogger,
}

impl ResourceType {
    pub fn code(self) -> i8 {
        match self {
            ResourceType::Topic => 2,
            ResourceType::Broker => 4,
            ResourceType::BrokerLogger => 8,
        }
    }
    pub fn from_code(c: i8) -> Option<Self> {
        match c {
            2 => Some(ResourceType::Topic),
            4 => Some(ResourceType::Broker),
            8 => Some(ResourceType::BrokerLogger),
            _ => None,
        }
    }
}

/// A config resource: a topic, one broker, or (broker with empty name) the cluster-wide default.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConfigResource {
    pub kind: ResourceType,
    pub name: String,
}

impl ConfigResource {
    pub fn topic(name: impl Into<String>) -> Self {
        ConfigResource { kind: ResourceType::Topic, name: name.into() }
    }
    pub fn broker(id: i32) -> Self {
        ConfigResource { kind: ResourceType::Broker, name: id.to_string() }
    }
    /// Dynamic default applied to every broker.
    pub fn cluster_broker_default() -> Self {
        ConfigResource { kind: ResourceType::Broker, name: String::new() }
    }
    /// The broker that must serve requests about this resource, if any.
    pub fn pinned_broker(&self) -> Option<i32> {
        match self.kind {
            ResourceType::Broker | ResourceType::BrokerLogger => self.name.parse().ok(),
            ResourceType::Topic => None,
        }
    }
}

impl std::fmt::Display for ConfigResource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.kind, self.name.as_str()) {
            (ResourceType::Topic, n) => write!(f, "topic {n}"),
            (ResourceType::Broker, "") => write!(f, "cluster-wide broker default"),
            (ResourceType::Broker, n) => write!(f, "broker {n}"),
            (ResourceType::BrokerLogger, n) => write!(f, "broker logger {n}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSource {
    DynamicTopic,
    DynamicBroker,
    DynamicDefaultBroker,
    StaticBroker,
    Default,
    DynamicBrokerLogger,
    Other(i8),
}

impl ConfigSource {
    pub fn from_code(c: i8) -> Self {
        match c {
            1 => ConfigSource::DynamicTopic,
            2 => ConfigSource::DynamicBroker,
            3 => ConfigSource::DynamicDefaultBroker,
            4 => ConfigSource::StaticBroker,
            5 => ConfigSource::Default,
            6 => ConfigSource::DynamicBrokerLogger,
            o => ConfigSource::Other(o),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    pub name: String,
    /// `None` for sensitive or unset values.
    pub value: Option<String>,
    /// Cannot be changed dynamically: a change needs a restart.
    pub read_only: bool,
    pub source: ConfigSource,
    pub sensitive: bool,
}

/// One resource's configuration, or why it could not be described.
#[derive(Debug)]
pub struct ResourceConfigs {
    pub resource: ConfigResource,
    pub entries: Result<Vec<ConfigEntry>>,
}

impl ResourceConfigs {
    pub fn get(&self, key: &str) -> Option<&ConfigEntry> {
        self.entries.as_ref().ok()?.iter().find(|e| e.name == key)
    }
}

/// An incremental change to one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlterOp {
    Set(String),
    Delete,
    Append(String),
    Subtract(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigAlteration {
    pub resource: ConfigResource,
    pub changes: Vec<(String, AlterOp)>,
}

/// The outcome of altering one resource.
#[derive(Debug)]
pub struct AlterOutcome {
    pub resource: ConfigResource,
    pub result: Result<()>,
}

pub fn describe_configs_request(resources: &[ConfigResource], keys: Option<&[&str]>) -> DescribeConfigsRequest {
    DescribeConfigsRequest::default().with_include_synonyms(false).with_include_documentation(false).with_resources(
        resources
            .iter()
            .map(|r| {
                DescribeConfigsResource::default()
                    .with_resource_type(r.kind.code())
                    .with_resource_name(StrBytes::from_string(r.name.clone()))
                    .with_configuration_keys(keys.map(|ks| ks.iter().map(|k| StrBytes::from_string(k.to_string())).collect()))
            })
            .collect(),
    )
}

pub fn parse_describe_configs(resp: DescribeConfigsResponse) -> Vec<ResourceConfigs> {
    resp.results
        .into_iter()
        .map(|r| {
            let resource = ConfigResource {
                kind: ResourceType::from_code(r.resource_type).unwrap_or(ResourceType::Topic),
                name: r.resource_name.to_string(),
            };
            let label = resource.to_string();
            let entries = Error::check("DescribeConfigs", r.error_code, Some(&label), r.error_message.as_deref()).map(|()| {
                r.configs
                    .into_iter()
                    .map(|c| ConfigEntry {
                        name: c.name.to_string(),
                        value: c.value.map(|v| v.to_string()),
                        read_only: c.read_only,
                        source: ConfigSource::from_code(c.config_source),
                        sensitive: c.is_sensitive,
                    })
                    .collect()
            });
            ResourceConfigs { resource, entries }
        })
        .collect()
}

pub fn incremental_alter_configs_request(alts: &[ConfigAlteration], validate_only: bool) -> IncrementalAlterConfigsRequest {
    IncrementalAlterConfigsRequest::default().with_validate_only(validate_only).with_resources(
        alts.iter()
            .map(|a| {
                AlterConfigsResource::default()
                    .with_resource_type(a.resource.kind.code())
                    .with_resource_name(StrBytes::from_string(a.resource.name.clone()))
                    .with_configs(
                        a.changes
                            .iter()
                            .map(|(k, op)| {
                                let (code, value) = match op {
                                    AlterOp::Set(v) => (0, Some(v.clone())),
                                    AlterOp::Delete => (1, None),
                                    AlterOp::Append(v) => (2, Some(v.clone())),
                                    AlterOp::Subtract(v) => (3, Some(v.clone())),
                                };
                                AlterableConfig::default()
                                    .with_name(StrBytes::from_string(k.clone()))
                                    .with_config_operation(code)
                                    .with_value(value.map(StrBytes::from_string))
                            })
                            .collect(),
                    )
            })
            .collect(),
    )
}

pub fn parse_incremental_alter_configs(resp: IncrementalAlterConfigsResponse) -> Vec<AlterOutcome> {
    resp.responses
        .into_iter()
        .map(|r| {
            let resource = ConfigResource {
                kind: ResourceType::from_code(r.resource_type).unwrap_or(ResourceType::Topic),
                name: r.resource_name.to_string(),
            };
            let label = resource.to_string();
            let result = Error::check("IncrementalAlterConfigs", r.error_code, Some(&label), r.error_message.as_deref());
            AlterOutcome { resource, result }
        })
        .collect()
}

/// Group resources into requests: broker-pinned ones per broker, the rest in chunks.
pub fn plan_batches<T: Clone>(items: &[T], pinned: impl Fn(&T) -> Option<i32>, batch: usize) -> Vec<(Option<i32>, Vec<T>)> {
    let mut by_node: std::collections::BTreeMap<Option<i32>, Vec<T>> = Default::default();
    for it in items {
        by_node.entry(pinned(it)).or_default().push(it.clone());
    }
    let mut out = Vec::new();
    for (node, v) in by_node {
        for chunk in v.chunks(batch.max(1)) {
            out.push((node, chunk.to_vec()));
        }
    }
    out
}

impl Client {
    /// Sends `items` in batches: those pinned to a broker go to it, the others to `unpinned`;
    /// batches run with bounded concurrency and their answers are concatenated.
    async fn run_pinned<I, O, F, Fut>(
        &self,
        items: &[I],
        pinned: impl Fn(&I) -> Option<i32>,
        unpinned: Target<'static>,
        call: F,
    ) -> Result<Vec<O>>
    where
        I: Clone,
        F: Fn(Target<'static>, Vec<I>) -> Fut,
        Fut: std::future::Future<Output = Result<Vec<O>>>,
    {
        let batches = plan_batches(items, pinned, self.config().batch_size);
        let results: Vec<Result<Vec<O>>> = stream::iter(batches)
            .map(|(node, chunk)| call(node.map_or(unpinned, Target::Node), chunk))
            .buffer_unordered(self.config().batch_concurrency.max(1))
            .collect()
            .await;
        let mut out = Vec::with_capacity(items.len());
        for r in results {
            out.extend(r?);
        }
        Ok(out)
    }

    /// Describe configs of many resources (all keys, or only `keys`), batched.
    pub async fn describe_configs(&self, resources: &[ConfigResource], keys: Option<&[&str]>) -> Result<Vec<ResourceConfigs>> {
        self.run_pinned(resources, ConfigResource::pinned_broker, Target::Any, |target, chunk| async move {
            let resp = self.send(target, &describe_configs_request(&chunk, keys)).await?;
            Ok(parse_describe_configs(resp))
        })
        .await
    }

    /// Apply incremental config changes; per-resource outcomes.
    pub async fn incremental_alter_configs(&self, alterations: &[ConfigAlteration], validate_only: bool) -> Result<Vec<AlterOutcome>> {
        self.run_pinned(
            alterations,
            |a| a.resource.pinned_broker(),
            Target::Controller,
            |target, chunk| async move {
                let resp = self.send(target, &incremental_alter_configs_request(&chunk, validate_only)).await?;
                Ok(parse_incremental_alter_configs(resp))
            },
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_pin_broker_resources() {
        let rs = vec![
            ConfigResource::topic("a"),
            ConfigResource::broker(2),
            ConfigResource::topic("b"),
            ConfigResource::cluster_broker_default(),
            ConfigResource::topic("c"),
            ConfigResource::broker(1),
        ];
        let plan = plan_batches(&rs, ConfigResource::pinned_broker, 2);
        let summary: Vec<(Option<i32>, Vec<String>)> =
            plan.into_iter().map(|(n, v)| (n, v.into_iter().map(|r| r.to_string()).collect())).collect();
        assert_eq!(
            summary,
            vec![
                (None, vec!["topic a".into(), "topic b".into()]),
                (None, vec!["cluster-wide broker default".into(), "topic c".into()]),
                (Some(1), vec!["broker 1".into()]),
                (Some(2), vec!["broker 2".into()]),
            ]
        );
    }

    #[test]
    fn alter_ops_encode_operation_codes() {
        let req = incremental_alter_configs_request(
            &[ConfigAlteration {
                resource: ConfigResource::topic("t"),
                changes: vec![
                    ("a".into(), AlterOp::Set("1".into())),
                    ("b".into(), AlterOp::Delete),
                    ("c".into(), AlterOp::Append("x".into())),
                    ("d".into(), AlterOp::Subtract("y".into())),
                ],
            }],
            true,
        );
        let ops: Vec<(i8, Option<String>)> =
            req.resources[0].configs.iter().map(|c| (c.config_operation, c.value.as_ref().map(|v| v.to_string()))).collect();
        assert_eq!(ops, vec![(0, Some("1".into())), (1, None), (2, Some("x".into())), (3, Some("y".into()))]);
        assert!(req.validate_only);
        assert_eq!(req.resources[0].resource_type, 2);
    }
}
