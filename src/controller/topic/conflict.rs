//! Pure: when two KafkaTopics name one Kafka topic, the older one owns it.

use k8s_openapi::jiff::Timestamp;

/// One resource's claim on a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub namespace: String,
    pub resource: String,
    pub cluster: String,
    pub topic: String,
    pub created: Option<Timestamp>,
    /// Being deleted or detached (`managed=false`): it no longer holds the topic.
    pub released: bool,
}

impl Claim {
    fn same_topic(&self, other: &Claim) -> bool {
        self.namespace == other.namespace && self.cluster == other.cluster && self.topic == other.topic
    }

    fn age_key(&self) -> (Timestamp, &str) {
        (self.created.unwrap_or(Timestamp::MAX), &self.resource)
    }

    /// Older first; equal times by resource name.
    fn precedes(&self, other: &Claim) -> bool {
        self.age_key() < other.age_key()
    }
}

/// The resource that holds `me`'s topic instead of `me`, if any: the oldest live claim on the
/// same topic of the same cluster.
pub fn held_by<'a>(me: &Claim, all: impl IntoIterator<Item = &'a Claim>) -> Option<&'a Claim> {
    all.into_iter()
        .filter(|c| c.resource != me.resource && c.same_topic(me) && !c.released && c.precedes(me))
        .min_by(|a, b| a.age_key().cmp(&b.age_key()))
}

/// Whether another live resource claims `me`'s topic (then deleting `me` must not delete it).
pub fn claimed_by_another<'a>(me: &Claim, all: impl IntoIterator<Item = &'a Claim>) -> bool {
    all.into_iter().any(|c| c.resource != me.resource && c.same_topic(me) && !c.released)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(resource: &str, topic: &str, secs: i64, released: bool) -> Claim {
        Claim {
            namespace: "ns".into(),
            resource: resource.into(),
            cluster: "c".into(),
            topic: topic.into(),
            created: Some(Timestamp::from_second(secs).expect("time")),
            released,
        }
    }

    #[test]
    fn older_wins() {
        let a = claim("a", "orders", 10, false);
        let b = claim("b", "orders", 20, false);
        let c = claim("c", "other", 5, false);
        let all = [a.clone(), b.clone(), c.clone()];
        assert_eq!(held_by(&a, &all), None);
        assert_eq!(held_by(&b, &all).map(|c| c.resource.as_str()), Some("a"));
        assert_eq!(held_by(&c, &all), None);
        assert!(claimed_by_another(&a, &all));
        assert!(!claimed_by_another(&c, &all));
    }

    #[test]
    fn released_claims_do_not_hold() {
        let a = claim("a", "orders", 10, true);
        let b = claim("b", "orders", 20, false);
        let all = [a.clone(), b.clone()];
        assert_eq!(held_by(&b, &all), None);
        assert!(!claimed_by_another(&b, &all));
    }

    #[test]
    fn same_time_breaks_ties_by_name() {
        let a = claim("a", "orders", 10, false);
        let b = claim("b", "orders", 10, false);
        let all = [a.clone(), b.clone()];
        assert_eq!(held_by(&b, &all).map(|c| c.resource.as_str()), Some("a"));
        assert_eq!(held_by(&a, &all), None);
    }
}
