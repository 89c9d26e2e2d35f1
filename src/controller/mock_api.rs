//! Test-only: a kube client whose API server is a `tower-test` mock that records every request
//! and answers it with what the test's `answer` function says. The reconcile-tier tests assert
//! on the recorded requests.

use std::sync::{Arc, Mutex};

use http::{Request, Response};
use kube::client::Body;
use serde_json::{Value, json};

/// One request the reconciler sent.
#[derive(Clone, Debug)]
pub struct Sent {
    pub method: String,
    pub path: String,
    pub query: String,
    pub body: Value,
}

impl Sent {
    pub fn is_write(&self) -> bool {
        self.method != "GET"
    }

    pub fn query_param(&self, key: &str) -> Option<String> {
        self.query.split('&').find_map(|kv| kv.strip_prefix(key)?.strip_prefix('=').map(str::to_owned))
    }
}

/// The API server's 404 answer.
pub fn not_found() -> (u16, Value) {
    (404, json!({"apiVersion": "v1", "kind": "Status", "status": "Failure", "reason": "NotFound", "code": 404, "metadata": {}}))
}

/// A client on a mock API server that records each request in the returned list and answers
/// with `answer(&request)`: (HTTP status, JSON body). Spawns the server on the current runtime.
pub fn recording_client(answer: impl Fn(&Sent) -> (u16, Value) + Send + 'static) -> (kube::Client, Arc<Mutex<Vec<Sent>>>) {
    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let sent = Arc::new(Mutex::new(Vec::new()));
    let recorded = sent.clone();
    tokio::spawn(async move {
        while let Some((request, respond)) = handle.next_request().await {
            let method = request.method().to_string();
            let path = request.uri().path().to_owned();
            let query = request.uri().query().unwrap_or_default().to_owned();
            let bytes = request.into_body().collect_bytes().await.unwrap_or_default();
            let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            let request = Sent { method, path, query, body };
            let (status, reply) = answer(&request);
            recorded.lock().expect("sent").push(request);
            let response = Response::builder().status(status).body(Body::from(serde_json::to_vec(&reply).unwrap_or_default()));
            respond.send_response(response.expect("response"));
        }
    });
    (kube::Client::new(service, "default"), sent)
}
