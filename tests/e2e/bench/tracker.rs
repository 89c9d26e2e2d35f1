//! A watch of one kind in one namespace that notes, per object name, when it was first seen, when
//! it first met a predicate (Ready), and whether it still exists. Watches, not polling LISTs: the
//! API server is what is being measured.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures::StreamExt;
use kube::Resource;
use kube::api::Api;
use kube::runtime::watcher;

#[derive(Default)]
struct Seen {
    first_seen: HashMap<String, Instant>,
    first_ready: HashMap<String, Instant>,
    present: HashSet<String>,
    /// Names present before the initial listing completed again (a relist), replaced on InitDone.
    relisting: Option<HashSet<String>>,
}

/// A running watch; it stops when dropped.
pub struct Tracker {
    seen: Arc<Mutex<Seen>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Tracker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Tracker {
    /// Starts watching `K` in `ns`; `ready` says when an object counts as Ready.
    pub fn start<K>(client: &kube::Client, ns: &str, ready: fn(&K) -> bool) -> Tracker
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug
            + Send
            + Sync
            + 'static,
    {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let api: Api<K> = Api::namespaced(client.clone(), ns);
        let shared = seen.clone();
        let task = tokio::spawn(async move {
            let mut stream = watcher(api, watcher::Config::default()).boxed();
            while let Some(event) = stream.next().await {
                let Ok(event) = event else {
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                    continue;
                };
                let now = Instant::now();
                let Ok(mut s) = shared.lock() else { return };
                let note = |s: &mut Seen, obj: &K| {
                    let name = obj.meta().name.clone().unwrap_or_default();
                    s.first_seen.entry(name.clone()).or_insert(now);
                    if ready(obj) {
                        s.first_ready.entry(name.clone()).or_insert(now);
                    }
                    name
                };
                match event {
                    watcher::Event::Init => s.relisting = Some(HashSet::new()),
                    watcher::Event::InitApply(obj) => {
                        let name = note(&mut s, &obj);
                        if let Some(r) = s.relisting.as_mut() {
                            r.insert(name);
                        }
                    }
                    watcher::Event::InitDone => {
                        if let Some(r) = s.relisting.take() {
                            s.present = r;
                        }
                    }
                    watcher::Event::Apply(obj) => {
                        let name = note(&mut s, &obj);
                        s.present.insert(name);
                    }
                    watcher::Event::Delete(obj) => {
                        let name = obj.meta().name.clone().unwrap_or_default();
                        s.present.remove(&name);
                    }
                }
            }
        });
        Tracker { seen, task }
    }

    fn with<T>(&self, f: impl FnOnce(&Seen) -> T) -> T {
        let guard = self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&guard)
    }

    /// How many of `names` have been Ready at some point.
    pub fn ready_count(&self, names: &[String]) -> usize {
        self.with(|s| names.iter().filter(|n| s.first_ready.contains_key(*n)).count())
    }

    /// When `name` was first Ready.
    pub fn ready_at(&self, name: &str) -> Option<Instant> {
        self.with(|s| s.first_ready.get(name).copied())
    }

    /// When `name` was first seen.
    pub fn seen_at(&self, name: &str) -> Option<Instant> {
        self.with(|s| s.first_seen.get(name).copied())
    }

    /// How many of `names` exist now.
    pub fn present_count(&self, names: &[String]) -> usize {
        self.with(|s| names.iter().filter(|n| s.present.contains(*n)).count())
    }
}
