//! Watches a cluster's pods during a roll and records what a careful human would: every
//! restart in order, and the largest number of expected pods that were down at the same time.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use kube::runtime::watcher::{self, Event};
use kube::{Client, ResourceExt};

#[derive(Default, Debug, Clone)]
pub struct PodHistory {
    /// Pod names in the order their pods started terminating (one entry per pod instance).
    pub restarts: Vec<String>,
    /// The most expected pods that were not Ready at one moment.
    pub max_unready: usize,
    seen_deleting: BTreeSet<String>,
    state: BTreeMap<String, (String, bool)>,
    /// The initial list is complete: counting unready pods before that would count unlisted ones.
    listed: bool,
}

/// The pod is Ready and not terminating.
pub fn ready(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_none()
        && pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

impl PodHistory {
    fn observe(&mut self, pod: &Pod, deleted: bool, expected: &BTreeSet<String>) {
        let name = pod.name_any();
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        if (deleted || pod.metadata.deletion_timestamp.is_some()) && self.seen_deleting.insert(uid.clone()) {
            self.restarts.push(name.clone());
        }
        if deleted {
            if self.state.get(&name).is_some_and(|(u, _)| *u == uid) {
                self.state.remove(&name);
            }
        } else {
            self.state.insert(name, (uid, ready(pod)));
        }
        self.count_unready(expected);
    }

    fn count_unready(&mut self, expected: &BTreeSet<String>) {
        if self.listed {
            let unready = expected.iter().filter(|n| !self.state.get(*n).is_some_and(|(_, r)| *r)).count();
            self.max_unready = self.max_unready.max(unready);
        }
    }

    /// How often each pod was restarted.
    pub fn restart_counts(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for r in &self.restarts {
            *counts.entry(r.clone()).or_insert(0) += 1;
        }
        counts
    }

    /// Clears the record (after the cluster became Ready).
    pub fn reset(&mut self) {
        self.restarts.clear();
        self.max_unready = 0;
        self.seen_deleting.clear();
    }
}

/// A background watch; read `history` at any time.
pub struct PodWatch {
    pub history: Arc<Mutex<PodHistory>>,
    task: tokio::task::JoinHandle<()>,
}

impl PodWatch {
    pub fn start(client: &Client, ns: &str, cluster: &str, expected: &[String]) -> PodWatch {
        let api: Api<Pod> = Api::namespaced(client.clone(), ns);
        let config = watcher::Config::default().labels(&format!("kafka.gregor.dev/cluster={cluster}"));
        let history = Arc::new(Mutex::new(PodHistory::default()));
        let h = history.clone();
        let expected: BTreeSet<String> = expected.iter().cloned().collect();
        let task = tokio::spawn(async move {
            let mut stream = watcher::watcher(api, config).boxed();
            while let Some(event) = stream.next().await {
                let Ok(event) = event else { continue };
                let mut h = h.lock().expect("history lock");
                match event {
                    Event::Apply(p) | Event::InitApply(p) => h.observe(&p, false, &expected),
                    Event::Delete(p) => h.observe(&p, true, &expected),
                    Event::Init => h.listed = false,
                    Event::InitDone => {
                        h.listed = true;
                        h.count_unready(&expected);
                    }
                }
            }
        });
        PodWatch { history, task }
    }

    pub fn snapshot(&self) -> PodHistory {
        self.history.lock().expect("history lock").clone()
    }

    pub fn reset(&self) {
        self.history.lock().expect("history lock").reset();
    }
}

impl Drop for PodWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}
