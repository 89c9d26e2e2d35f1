//! The model's quotas in Kafka's terms: the client-quota config keys. Pure.

use std::collections::BTreeMap;

use crate::kafka::ops::quotas::{CONSUMER_BYTE_RATE, CONTROLLER_MUTATION_RATE, PRODUCER_BYTE_RATE, REQUEST_PERCENTAGE};
use crate::model::user::QuotaKey;

/// Kafka's config key of a quota.
pub fn kafka_key(key: QuotaKey) -> &'static str {
    match key {
        QuotaKey::ProducerByteRate => PRODUCER_BYTE_RATE,
        QuotaKey::ConsumerByteRate => CONSUMER_BYTE_RATE,
        QuotaKey::RequestPercentage => REQUEST_PERCENTAGE,
        QuotaKey::ControllerMutationRate => CONTROLLER_MUTATION_RATE,
    }
}

/// Whether `key` (as Kafka names it) is a quota a KafkaUser manages.
pub fn is_managed(key: &str) -> bool {
    QuotaKey::ALL.iter().any(|k| kafka_key(*k) == key)
}

/// A user's desired quotas by Kafka key.
pub fn kafka_quotas(quotas: &BTreeMap<QuotaKey, f64>) -> BTreeMap<String, f64> {
    quotas.iter().map(|(k, v)| (kafka_key(*k).to_owned(), *v)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item3_every_model_quota_has_its_own_kafka_key() {
        let keys: std::collections::BTreeSet<&str> = QuotaKey::ALL.iter().map(|k| kafka_key(*k)).collect();
        assert_eq!(keys.len(), QuotaKey::ALL.len());
        assert_eq!(kafka_key(QuotaKey::ProducerByteRate), "producer_byte_rate");
        assert!(is_managed("request_percentage"));
        assert!(!is_managed("connection_creation_rate"), "a key the user does not manage is left alone");
        let desired = BTreeMap::from([(QuotaKey::ConsumerByteRate, 10.0)]);
        assert_eq!(kafka_quotas(&desired), BTreeMap::from([("consumer_byte_rate".to_owned(), 10.0)]));
    }
}
