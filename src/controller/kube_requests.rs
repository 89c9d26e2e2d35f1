//! The controllers' Kubernetes API requests, counted by verb (as the API server names them:
//! LIST is a collection GET, WATCH a GET with `watch=true`). A tower layer in `main` calls
//! [`count`] for every request of the controllers' client; the leader election's Lease requests
//! go through their own client and are not counted here. `/metrics` shows the counts as
//! `gregor_kube_requests_total{verb}`, so a benchmark can check that steady state costs no LIST
//! and no write.

use std::sync::atomic::{AtomicU64, Ordering};

/// A Kubernetes API verb.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verb {
    Get,
    List,
    Watch,
    Create,
    Update,
    Patch,
    Delete,
    DeleteCollection,
    /// Anything else: discovery (`/api`, `/apis`, `/version`), HEAD, OPTIONS.
    Other,
}

impl Verb {
    /// Every verb, in the order `/metrics` lists them.
    pub const ALL: [Verb; 9] =
        [Verb::Get, Verb::List, Verb::Watch, Verb::Create, Verb::Update, Verb::Patch, Verb::Delete, Verb::DeleteCollection, Verb::Other];

    /// The label value (the API server's lower-case verb names).
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::List => "list",
            Verb::Watch => "watch",
            Verb::Create => "create",
            Verb::Update => "update",
            Verb::Patch => "patch",
            Verb::Delete => "delete",
            Verb::DeleteCollection => "deletecollection",
            Verb::Other => "other",
        }
    }

    /// Whether the verb changes state on the server.
    pub fn is_write(self) -> bool {
        matches!(self, Verb::Create | Verb::Update | Verb::Patch | Verb::Delete | Verb::DeleteCollection)
    }

    fn index(self) -> usize {
        Verb::ALL.iter().position(|v| *v == self).unwrap_or(Verb::ALL.len() - 1)
    }
}

/// Whether a resource path (`/api/v1/...` or `/apis/<group>/<version>/...`) names a collection
/// rather than one object. `None` for paths that are not resource paths (discovery).
fn names_collection(path: &str) -> Option<bool> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').filter(|s| !s.is_empty()).collect();
    let rest = match segments.as_slice() {
        ["api", _version, rest @ ..] => rest,
        ["apis", _group, _version, rest @ ..] => rest,
        _ => return None,
    };
    match rest {
        [] => None,
        // `namespaces` itself, or a namespaced collection `namespaces/<ns>/<resource>`.
        ["namespaces"] | ["namespaces", _, _] => Some(true),
        ["namespaces", ..] => Some(false),
        [_resource] => Some(true),
        _ => Some(false),
    }
}

/// The verb of one request. Pure.
pub fn classify(method: &str, path: &str, query: Option<&str>) -> Verb {
    let watch = query.is_some_and(|q| q.split('&').any(|kv| kv == "watch=true" || kv == "watch=1"));
    let collection = names_collection(path);
    match (method, collection) {
        (_, None) => Verb::Other,
        ("GET", Some(_)) if watch => Verb::Watch,
        ("GET", Some(true)) => Verb::List,
        ("GET", Some(false)) => Verb::Get,
        ("POST", Some(_)) => Verb::Create,
        ("PUT", Some(_)) => Verb::Update,
        ("PATCH", Some(_)) => Verb::Patch,
        ("DELETE", Some(true)) => Verb::DeleteCollection,
        ("DELETE", Some(false)) => Verb::Delete,
        _ => Verb::Other,
    }
}

static COUNTS: [AtomicU64; Verb::ALL.len()] = [const { AtomicU64::new(0) }; Verb::ALL.len()];

/// Counts one request of the controllers' client.
pub fn count(method: &str, path: &str, query: Option<&str>) {
    COUNTS[classify(method, path, query).index()].fetch_add(1, Ordering::Relaxed);
}

/// `(verb, requests so far)` for every verb, zeros included, in [`Verb::ALL`]'s order.
pub fn counts() -> Vec<(Verb, u64)> {
    Verb::ALL.iter().map(|v| (*v, COUNTS[v.index()].load(Ordering::Relaxed))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbs_of_requests() {
        let cases: &[(&str, &str, Option<&str>, Verb)] = &[
            ("GET", "/apis/kafka.gregor.dev/v1alpha1/kafkatopics", None, Verb::List),
            ("GET", "/apis/kafka.gregor.dev/v1alpha1/kafkatopics", Some("watch=true&resourceVersion=5"), Verb::Watch),
            ("GET", "/apis/kafka.gregor.dev/v1alpha1/namespaces/a/kafkatopics", Some("limit=500"), Verb::List),
            ("GET", "/apis/kafka.gregor.dev/v1alpha1/namespaces/a/kafkatopics/t", None, Verb::Get),
            ("PATCH", "/apis/kafka.gregor.dev/v1alpha1/namespaces/a/kafkatopics/t/status", None, Verb::Patch),
            ("PUT", "/apis/coordination.k8s.io/v1/namespaces/a/leases/l", None, Verb::Update),
            ("POST", "/api/v1/namespaces/a/events", None, Verb::Create),
            ("DELETE", "/api/v1/namespaces/a/pods/p", None, Verb::Delete),
            ("DELETE", "/api/v1/namespaces/a/pods", None, Verb::DeleteCollection),
            ("GET", "/api/v1/namespaces", None, Verb::List),
            ("GET", "/api/v1/namespaces/a", None, Verb::Get),
            ("GET", "/api/v1/nodes", None, Verb::List),
            ("GET", "/api/v1/nodes/n", None, Verb::Get),
            ("GET", "/version", None, Verb::Other),
            ("GET", "/apis", None, Verb::Other),
            ("GET", "/apis/kafka.gregor.dev/v1alpha1", None, Verb::Other),
            ("HEAD", "/api/v1/pods", None, Verb::Other),
        ];
        for (method, path, query, want) in cases {
            assert_eq!(classify(method, path, *query), *want, "{method} {path} {query:?}");
        }
    }

    #[test]
    fn writes_are_the_state_changing_verbs() {
        let writes: Vec<Verb> = Verb::ALL.into_iter().filter(|v| v.is_write()).collect();
        assert_eq!(writes, [Verb::Create, Verb::Update, Verb::Patch, Verb::Delete, Verb::DeleteCollection]);
    }

    #[test]
    fn counting_adds_to_the_verb() {
        let list = |c: &[(Verb, u64)]| c.iter().find(|(v, _)| *v == Verb::List).map_or(0, |(_, n)| *n);
        let before = list(&counts());
        count("GET", "/api/v1/pods", None);
        count("GET", "/api/v1/pods", Some("watch=true"));
        assert!(list(&counts()) > before);
        assert_eq!(counts().len(), Verb::ALL.len());
    }

    proptest::proptest! {
        /// Every request has one verb, and a GET never classifies as a write.
        #[test]
        fn a_get_is_never_a_write(path in "(/[a-z0-9.]{1,8}){0,7}", watch in proptest::bool::ANY) {
            let query = watch.then_some("watch=true");
            proptest::prop_assert!(!classify("GET", &path, query).is_write());
        }
    }
}
