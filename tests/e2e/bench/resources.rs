//! The topics and users scenarios: applied at once, timed to Ready per object, then checked in
//! Kafka with our own admin client; and the deletion of every topic at once.

use std::time::{Duration, Instant};

use gregor::api::{KafkaTopic, KafkaUser};
use gregor::kafka::Target;
use gregor::kafka::ops::acls::AclFilter;
use kube::api::{Api, DeleteParams, ListParams};
use serde_json::json;

use super::apply::{apply_all, latencies};
use super::report::{Report, per_second, percentile_ms};
use super::tracker::Tracker;

/// Topic names are `bench-NNNNN`; users are `user-NNNNN`.
pub fn topic_names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("bench-{i:05}")).collect()
}

pub fn user_names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("user-{i:05}")).collect()
}

fn topic_ready(t: &KafkaTopic) -> bool {
    t.status.as_ref().is_some_and(|s| {
        s.observed_generation == t.metadata.generation && crate::support::ready_of(&s.conditions).is_some_and(|(s, _, _)| s == "True")
    })
}

fn user_ready(u: &KafkaUser) -> bool {
    u.status.as_ref().is_some_and(|s| {
        s.observed_generation == u.metadata.generation && crate::support::ready_of(&s.conditions).is_some_and(|(s, _, _)| s == "True")
    })
}

pub fn track_topics(client: &kube::Client, ns: &str) -> Tracker {
    Tracker::start::<KafkaTopic>(client, ns, topic_ready)
}

pub fn track_users(client: &kube::Client, ns: &str) -> Tracker {
    Tracker::start::<KafkaUser>(client, ns, user_ready)
}

/// How long to wait for `n` objects before counting the rest as failures: generous, since this
/// bounds a wait and is never a figure.
fn patience(n: usize) -> Duration {
    Duration::from_secs(300 + n as u64 / 4)
}

/// Waits until every name is Ready by `tracker` or `patience` runs out; returns how many never were.
async fn wait_all_ready(tracker: &Tracker, names: &[String], what: &str) -> usize {
    let deadline = Instant::now() + patience(names.len());
    loop {
        let ready = tracker.ready_count(names);
        if ready == names.len() {
            return 0;
        }
        if Instant::now() > deadline {
            println!("bench: only {ready}/{} {what} Ready in {:?}", names.len(), patience(names.len()));
            return names.len() - ready;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What one resource scenario measured, before it becomes figures.
pub struct Outcome {
    pub count: usize,
    pub apply: Duration,
    pub all_ready: Duration,
    pub latencies: Vec<Duration>,
    /// Apply errors + never Ready + missing in Kafka (failed reconciles are added by the caller).
    pub failures: usize,
}

impl Outcome {
    pub fn record(&self, report: &mut Report, prefix: &str, failed_reconciles: f64) {
        let key = |suffix: &str| format!("{prefix}.{suffix}");
        report.set(&key("count"), self.count as f64);
        report.set(&key("apply_s"), self.apply.as_secs_f64());
        report.set(&key("all_ready_s"), self.all_ready.as_secs_f64());
        report.set(&key("per_s"), per_second(self.count, self.all_ready));
        report.set(&key("apply_to_ready_p50_ms"), percentile_ms(&self.latencies, 0.5));
        report.set(&key("apply_to_ready_p99_ms"), percentile_ms(&self.latencies, 0.99));
        report.set(&key("failures"), self.failures as f64 + failed_reconciles.max(0.0));
    }
}

/// Applies `n` KafkaTopics at once to `cluster` and waits until all are Ready and in Kafka.
pub async fn topics(
    client: &kube::Client,
    admin: &gregor::kafka::Client,
    ns: &str,
    cluster: &str,
    counts: &super::knobs::Counts,
    tracker: &Tracker,
) -> Outcome {
    let names = topic_names(counts.topics);
    let objects = names
        .iter()
        .map(|name| {
            json!({"apiVersion": "kafka.gregor.dev/v1alpha1", "kind": "KafkaTopic", "metadata": {"name": name, "namespace": ns},
                "spec": {"cluster": cluster, "partitions": counts.partitions, "config": {"retention.ms": 86400000}}})
        })
        .collect();
    let applied = apply_all::<KafkaTopic>(client, ns, objects, counts.concurrency).await;
    if let Some(e) = &applied.first_error {
        println!("bench: {} topic applies refused, first: {e}", applied.errors);
    }
    let never_ready = wait_all_ready(tracker, &names, "KafkaTopics").await;
    let last_ready = names.iter().filter_map(|n| tracker.ready_at(n)).max().unwrap_or_else(Instant::now);
    let all_ready = last_ready.saturating_duration_since(applied.started);
    // Brokers learn new topics from the metadata log a moment after the controller commits them.
    let missing = missing_in_kafka(admin, &names, Duration::from_secs(60)).await;
    Outcome {
        count: names.len(),
        apply: applied.took,
        all_ready,
        latencies: latencies(&names, &applied.sent_at, |n| tracker.ready_at(n)),
        failures: applied.errors + never_ready + missing,
    }
}

/// How many of `names` a broker's Metadata still lacks after waiting up to `patience`.
async fn missing_in_kafka(admin: &gregor::kafka::Client, names: &[String], patience: Duration) -> usize {
    let deadline = Instant::now() + patience;
    loop {
        let present = match admin.fetch_metadata(Target::Any, None).await {
            Ok(snap) => {
                let have: std::collections::HashSet<&str> = snap.topics.iter().map(|t| t.name.as_str()).collect();
                names.iter().filter(|n| have.contains(n.as_str())).count()
            }
            Err(_) => 0,
        };
        if present == names.len() || Instant::now() > deadline {
            return names.len() - present;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Applies `n` SCRAM KafkaUsers at once, each with 3 ACLs and a quota, and waits until all are
/// Ready and their ACLs are in Kafka.
pub async fn users(
    client: &kube::Client,
    admin: &gregor::kafka::Client,
    ns: &str,
    cluster: &str,
    counts: &super::knobs::Counts,
    tracker: &Tracker,
) -> Outcome {
    let names = user_names(counts.users);
    let topics = topic_names(counts.topics.max(1));
    let objects = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let topic = &topics[i % topics.len()];
            json!({"apiVersion": "kafka.gregor.dev/v1alpha1", "kind": "KafkaUser", "metadata": {"name": name, "namespace": ns},
                "spec": {"cluster": cluster, "authentication": {"type": "scram-sha-512"},
                    "authorization": {"acls": [
                        {"resource": {"type": "topic", "name": topic, "patternType": "literal"}, "operations": ["Read"]},
                        {"resource": {"type": "topic", "name": topic, "patternType": "literal"}, "operations": ["Write"]},
                        {"resource": {"type": "group", "name": name, "patternType": "literal"}, "operations": ["Read"]}]},
                    "quotas": {"producerByteRate": 1048576}}})
        })
        .collect();
    let applied = apply_all::<KafkaUser>(client, ns, objects, counts.concurrency).await;
    if let Some(e) = &applied.first_error {
        println!("bench: {} user applies refused, first: {e}", applied.errors);
    }
    let never_ready = wait_all_ready(tracker, &names, "KafkaUsers").await;
    let last_ready = names.iter().filter_map(|n| tracker.ready_at(n)).max().unwrap_or_else(Instant::now);
    let all_ready = last_ready.saturating_duration_since(applied.started);
    let missing = users_without_acls(admin, &names, Duration::from_secs(60)).await;
    Outcome {
        count: names.len(),
        apply: applied.took,
        all_ready,
        latencies: latencies(&names, &applied.sent_at, |n| tracker.ready_at(n)),
        failures: applied.errors + never_ready + missing,
    }
}

/// How many of the users have fewer than 3 ACLs in Kafka after waiting up to `patience`.
async fn users_without_acls(admin: &gregor::kafka::Client, names: &[String], patience: Duration) -> usize {
    let deadline = Instant::now() + patience;
    loop {
        let complete = match admin.describe_acls(&AclFilter::any()).await {
            Ok(acls) => {
                let mut per_user: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
                for acl in &acls {
                    if let Some(user) = acl.principal.strip_prefix("User:") {
                        *per_user.entry(user).or_insert(0) += 1;
                    }
                }
                names.iter().filter(|n| per_user.get(n.as_str()).is_some_and(|c| *c >= 3)).count()
            }
            Err(_) => 0,
        };
        if complete == names.len() || Instant::now() > deadline {
            return names.len() - complete;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// What deleting every topic at once measured.
pub struct Deletion {
    pub count: usize,
    pub gone_from_kafka: Duration,
    pub resources_gone: Duration,
    /// Topics still in Kafka, or KafkaTopics still in the API, when patience ran out.
    pub left: usize,
}

/// Deletes every KafkaTopic of `ns` with one request (`kubectl delete kafkatopics --all`), then
/// waits until Kafka and the API server have none of them.
pub async fn delete_all_topics(client: &kube::Client, admin: &gregor::kafka::Client, ns: &str, n: usize, tracker: &Tracker) -> Deletion {
    let names = topic_names(n);
    let api: Api<KafkaTopic> = Api::namespaced(client.clone(), ns);
    let started = Instant::now();
    if let Err(e) = api.delete_collection(&DeleteParams::default(), &ListParams::default()).await {
        println!("bench: deleting every KafkaTopic: {e}");
    }
    let deadline = started + patience(n);
    let (mut gone_from_kafka, mut resources_gone) = (None, None);
    let mut left = 0;
    while gone_from_kafka.is_none() || resources_gone.is_none() {
        if gone_from_kafka.is_none() {
            match admin.fetch_metadata(Target::Any, None).await {
                Ok(snap) => {
                    let still = snap.topics.iter().filter(|t| t.name.starts_with("bench-")).count();
                    if still == 0 {
                        gone_from_kafka = Some(started.elapsed());
                    }
                    left = still;
                }
                Err(e) => println!("bench: Metadata during deletion: {e}"),
            }
        }
        if resources_gone.is_none() && tracker.present_count(&names) == 0 {
            resources_gone = Some(started.elapsed());
        }
        if Instant::now() > deadline {
            left += tracker.present_count(&names);
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    if gone_from_kafka.is_some() && resources_gone.is_some() {
        left = 0;
    }
    Deletion {
        count: n,
        gone_from_kafka: gone_from_kafka.unwrap_or_else(|| started.elapsed()),
        resources_gone: resources_gone.unwrap_or_else(|| started.elapsed()),
        left,
    }
}
