//! DescribeClientQuotas and AlterClientQuotas.

use std::collections::BTreeMap;

use kafka_protocol::messages::alter_client_quotas_request::{EntityData as AlterEntity, EntryData as AlterEntry, OpData};
use kafka_protocol::messages::describe_client_quotas_request::ComponentData;
use kafka_protocol::messages::{
    AlterClientQuotasRequest, AlterClientQuotasResponse, DescribeClientQuotasRequest, DescribeClientQuotasResponse,
};
use kafka_protocol::protocol::StrBytes;

use crate::error::{Error, Result};
use crate::router::{Client, Target};

/// Well-known quota keys.
pub const PRODUCER_BYTE_RATE: &str = "producer_byte_rate";
pub const CONSUMER_BYTE_RATE: &str = "consumer_byte_rate";
pub const REQUEST_PERCENTAGE: &str = "request_percentage";
pub const CONTROLLER_MUTATION_RATE: &str = "controller_mutation_rate";

/// A quota entity: (entity type, name) pairs, e.g. `[("user", Some("alice"))]`; a `None` name
/// is the default entity of that type.
pub type QuotaEntity = Vec<(String, Option<String>)>;

pub fn user_entity(user: &str) -> QuotaEntity {
    vec![("user".to_string(), Some(user.to_string()))]
}

/// A filter component for describe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuotaMatch {
    Exact(String, String),
    Default(String),
    Any(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct QuotaAlteration {
    pub entity: QuotaEntity,
    /// `Some(v)` sets, `None` removes.
    pub ops: Vec<(String, Option<f64>)>,
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

pub fn describe_quotas_request(filter: &[QuotaMatch], strict: bool) -> DescribeClientQuotasRequest {
    DescribeClientQuotasRequest::default().with_strict(strict).with_components(
        filter
            .iter()
            .map(|m| match m {
                QuotaMatch::Exact(t, n) => ComponentData::default().with_entity_type(s(t)).with_match_type(0).with_match(Some(s(n))),
                QuotaMatch::Default(t) => ComponentData::default().with_entity_type(s(t)).with_match_type(1).with_match(None),
                QuotaMatch::Any(t) => ComponentData::default().with_entity_type(s(t)).with_match_type(2).with_match(None),
            })
            .collect(),
    )
}

pub fn parse_describe_quotas(resp: DescribeClientQuotasResponse) -> Result<Vec<(QuotaEntity, BTreeMap<String, f64>)>> {
    Error::check("DescribeClientQuotas", resp.error_code, None, resp.error_message.as_deref())?;
    Ok(resp
        .entries
        .unwrap_or_default()
        .into_iter()
        .map(|e| {
            let entity = e.entity.into_iter().map(|d| (d.entity_type.to_string(), d.entity_name.map(|n| n.to_string()))).collect();
            let values = e.values.into_iter().map(|v| (v.key.to_string(), v.value)).collect();
            (entity, values)
        })
        .collect())
}

pub fn alter_quotas_request(alts: &[QuotaAlteration], validate_only: bool) -> AlterClientQuotasRequest {
    AlterClientQuotasRequest::default().with_validate_only(validate_only).with_entries(
        alts.iter()
            .map(|a| {
                AlterEntry::default()
                    .with_entity(
                        a.entity
                            .iter()
                            .map(|(t, n)| AlterEntity::default().with_entity_type(s(t)).with_entity_name(n.as_deref().map(s)))
                            .collect(),
                    )
                    .with_ops(
                        a.ops
                            .iter()
                            .map(|(k, v)| OpData::default().with_key(s(k)).with_value(v.unwrap_or(0.0)).with_remove(v.is_none()))
                            .collect(),
                    )
            })
            .collect(),
    )
}

pub fn parse_alter_quotas(resp: AlterClientQuotasResponse) -> Vec<(QuotaEntity, Result<()>)> {
    resp.entries
        .into_iter()
        .map(|e| {
            let entity: QuotaEntity =
                e.entity.into_iter().map(|d| (d.entity_type.to_string(), d.entity_name.map(|n| n.to_string()))).collect();
            let label = format!("{entity:?}");
            (entity, Error::check("AlterClientQuotas", e.error_code, Some(&label), e.error_message.as_deref()))
        })
        .collect()
}

impl Client {
    pub async fn describe_client_quotas(&self, filter: &[QuotaMatch], strict: bool) -> Result<Vec<(QuotaEntity, BTreeMap<String, f64>)>> {
        self.call(Target::Any, &describe_quotas_request(filter, strict), parse_describe_quotas).await
    }

    pub async fn alter_client_quotas(&self, alts: &[QuotaAlteration], validate_only: bool) -> Result<Vec<(QuotaEntity, Result<()>)>> {
        let resp = self.send(Target::Controller, &alter_quotas_request(alts, validate_only)).await?;
        Ok(parse_alter_quotas(resp))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remove_ops_and_default_entities() {
        let req = alter_quotas_request(
            &[QuotaAlteration {
                entity: vec![("user".into(), None)],
                ops: vec![(PRODUCER_BYTE_RATE.into(), Some(1024.0)), (CONSUMER_BYTE_RATE.into(), None)],
            }],
            false,
        );
        let e = &req.entries[0];
        assert_eq!(e.entity[0].entity_name, None);
        assert_eq!((e.ops[0].value, e.ops[0].remove), (1024.0, false));
        assert!(e.ops[1].remove);
        let d = describe_quotas_request(&[QuotaMatch::Exact("user".into(), "a".into()), QuotaMatch::Default("client-id".into())], true);
        assert_eq!(d.components.iter().map(|c| c.match_type).collect::<Vec<_>>(), vec![0, 1]);
    }
}
