//! A tiny HTTP server for probes and Prometheus metrics: `/healthz`, `/readyz`, `/metrics`.
//!
//! Deliberately minimal (HTTP/1.1, GET only, `Connection: close`), so the operator needs no web
//! framework. Every replica serves it, leader or not:
//! - `/healthz` answers 200 while the process runs (a leader that loses its Lease exits, so a
//!   live process is a healthy one);
//! - `/readyz` answers 200 once the process is connected to the API server — a follower waiting
//!   for the Lease is ready too, so a rolling update of the Deployment is not blocked;
//! - `/metrics` serves the counters of [`Metrics`](super::context::Metrics) plus `gregor_leader`.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tracing::{debug, info};

use super::context::Context;

/// What the HTTP server reports: shared between `run` (which fills it) and the server.
#[derive(Default)]
pub struct Telemetry {
    leading: AtomicBool,
    ready: AtomicBool,
    context: OnceLock<Arc<Context>>,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry").field("snapshot", &self.snapshot()).finish()
    }
}

impl Telemetry {
    pub fn new() -> Arc<Self> {
        Arc::new(Telemetry::default())
    }

    /// The API client is connected: `/readyz` turns 200.
    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::Relaxed);
    }

    pub fn set_leading(&self, leading: bool) {
        self.leading.store(leading, Ordering::Relaxed);
    }

    /// The reconcilers' context, once this replica leads: its counters become visible.
    pub fn attach(&self, ctx: Arc<Context>) {
        let _ = self.context.set(ctx);
    }

    fn snapshot(&self) -> Snapshot {
        let (reconciles, writes, pod_restarts) = self.context.get().map_or((0, 0, 0), |c| {
            (
                c.metrics.reconciles.load(Ordering::Relaxed),
                c.metrics.writes.load(Ordering::Relaxed),
                c.metrics.pod_restarts.load(Ordering::Relaxed),
            )
        });
        let (outcomes, failures) = self.context.get().map_or((Vec::new(), Vec::new()), |c| (c.metrics.outcomes(), c.metrics.failures()));
        Snapshot {
            leading: self.leading.load(Ordering::Relaxed),
            reconciles,
            writes,
            pod_restarts,
            kafka_probes: super::context::kafka_probes(),
            outcomes,
            failures,
            kafka_requests: crate::kafka::stats::requests_sent(),
            kube_requests: super::kube_requests::counts(),
        }
    }
}

/// The values `/metrics` shows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub leading: bool,
    pub reconciles: u64,
    pub writes: u64,
    pub pod_restarts: u64,
    /// Full Kafka probes of the roll planner's facts.
    pub kafka_probes: u64,
    /// `(kind, reason, count)`: reconciles by the typed reason they concluded with.
    pub outcomes: Vec<(&'static str, &'static str, u64)>,
    /// `(kind, error category, count)`: failed reconciles.
    pub failures: Vec<(&'static str, &'static str, u64)>,
    /// `(API name, count)`: Kafka requests sent.
    pub kafka_requests: Vec<(&'static str, u64)>,
    /// `(verb, count)`: Kubernetes requests the controllers' client sent.
    pub kube_requests: Vec<(super::kube_requests::Verb, u64)>,
}

/// A label value with `\`, `"` and line feeds escaped, as the text format wants.
fn label_value(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// One counter family with a sample per `(kind, label value, count)`; `label` names the second label.
fn labelled_counter(out: &mut String, name: &str, help: &str, label: &str, samples: &[(&str, &str, u64)]) {
    let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} counter\n");
    for (kind, value, n) in samples {
        let _ = writeln!(out, "{name}{{kind=\"{}\",{label}=\"{}\"}} {n}", label_value(kind), label_value(value));
    }
}

/// Prometheus text exposition format (version 0.0.4). Pure.
pub fn render_metrics(s: &Snapshot) -> String {
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, value: u64| {
        let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n");
    };
    metric("gregor_leader", "gauge", "1 while this replica holds the leader-election Lease.", u64::from(s.leading));
    metric("gregor_reconciles_total", "counter", "Reconciles run by this replica.", s.reconciles);
    metric("gregor_writes_total", "counter", "Create, patch and delete requests this replica sent for owned objects and status.", s.writes);
    metric("gregor_pod_restarts_total", "counter", "Kafka pods this replica restarted for a roll.", s.pod_restarts);
    metric(
        "gregor_kafka_probes_total",
        "counter",
        "Full Kafka probes (quorum, cluster, metadata, topic configs) for the roll planner.",
        s.kafka_probes,
    );
    labelled_counter(
        &mut out,
        "gregor_reconcile_outcomes_total",
        "Reconciles by kind and the reason they concluded with (the Ready condition's reason).",
        "reason",
        &s.outcomes,
    );
    labelled_counter(&mut out, "gregor_reconcile_failures_total", "Failed reconciles by kind and error category.", "category", &s.failures);
    let _ = write!(
        out,
        "# HELP gregor_kafka_requests_total Kafka requests this process sent, by API (reconciles, roll probes and health gathering).\n# TYPE gregor_kafka_requests_total counter\n"
    );
    for (api, n) in &s.kafka_requests {
        let _ = writeln!(out, "gregor_kafka_requests_total{{api=\"{api}\"}} {n}");
    }
    let _ = write!(
        out,
        "# HELP gregor_kube_requests_total Kubernetes API requests the controllers sent, by verb (leader election's Lease requests not included).\n# TYPE gregor_kube_requests_total counter\n"
    );
    for (verb, n) in &s.kube_requests {
        let _ = writeln!(out, "gregor_kube_requests_total{{verb=\"{}\"}} {n}", verb.as_str());
    }
    out
}

/// The response to one request line. Pure: (status line, content type, body).
pub fn respond(method: &str, path: &str, telemetry: &Telemetry) -> (&'static str, &'static str, String) {
    const TEXT: &str = "text/plain; charset=utf-8";
    if method != "GET" && method != "HEAD" {
        return ("405 Method Not Allowed", TEXT, "method not allowed\n".into());
    }
    match path.split('?').next().unwrap_or(path) {
        "/healthz" | "/livez" => ("200 OK", TEXT, "ok\n".into()),
        "/readyz" if telemetry.ready.load(Ordering::Relaxed) => ("200 OK", TEXT, "ok\n".into()),
        "/readyz" => ("503 Service Unavailable", TEXT, "not connected to the API server yet\n".into()),
        "/metrics" => {
            let mut body = render_metrics(&telemetry.snapshot());
            // The clusters' health (the leader's context only; see `health`).
            if let Some(ctx) = telemetry.context.get() {
                body.push_str(&ctx.health.exposition());
                body.push_str(&ctx.operator.exposition());
                body.push_str(&ctx.certificate_expiries.exposition());
            }
            ("200 OK", "text/plain; version=0.0.4; charset=utf-8", body)
        }
        _ => ("404 Not Found", TEXT, "not found\n".into()),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("binding the metrics address {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
}

/// Binds the address (so a taken port fails at start-up, not later).
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, HttpError> {
    TcpListener::bind(addr).await.map_err(|source| HttpError::Bind { addr, source })
}

/// Serves until the task is dropped.
pub async fn serve(listener: TcpListener, telemetry: Arc<Telemetry>) {
    if let Ok(addr) = listener.local_addr() {
        info!(%addr, "serving /healthz, /readyz and /metrics");
    }
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let telemetry = telemetry.clone();
                tokio::spawn(async move {
                    if let Err(e) = handle(stream, &telemetry).await {
                        debug!(error = %e, "metrics connection");
                    }
                });
            }
            Err(e) => {
                debug!(error = %e, "accept");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn handle(mut stream: TcpStream, telemetry: &Telemetry) -> std::io::Result<()> {
    // Read the request head (at most 8 KiB, at most 5 s); the body of a GET is ignored.
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let read_head = async {
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 8192 {
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        std::io::Result::Ok(())
    };
    tokio::time::timeout(Duration::from_secs(5), read_head)
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "request head"))??;
    let head = String::from_utf8_lossy(&buf);
    let mut parts = head.lines().next().unwrap_or_default().split_whitespace();
    let (method, path) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
    let (status, content_type, body) = respond(method, path, telemetry);
    let mut response =
        format!("HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
    if method != "HEAD" {
        response.push_str(&body);
    }
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_text() {
        let text =
            render_metrics(&Snapshot { leading: true, reconciles: 7, writes: 3, pod_restarts: 1, kafka_probes: 2, ..Snapshot::default() });
        assert!(text.contains("# TYPE gregor_leader gauge\ngregor_leader 1\n"));
        assert!(text.contains("gregor_reconciles_total 7\n"));
        assert!(text.contains("gregor_writes_total 3\n"));
        assert!(text.contains("gregor_pod_restarts_total 1\n"));
        assert!(text.contains("gregor_kafka_probes_total 2\n"));
        let with_verbs = render_metrics(&Snapshot {
            kube_requests: vec![(crate::controller::kube_requests::Verb::List, 4), (crate::controller::kube_requests::Verb::Patch, 0)],
            ..Snapshot::default()
        });
        assert!(
            with_verbs.contains("gregor_kube_requests_total{verb=\"list\"} 4\ngregor_kube_requests_total{verb=\"patch\"} 0\n"),
            "{with_verbs}"
        );
    }

    #[test]
    fn item4_outcome_and_failure_counters_are_exported_with_typed_labels() {
        use crate::controller::error::ErrorCategory;
        use crate::controller::reason::{ClusterReason, Reason, TopicReason};
        let metrics = crate::controller::context::Metrics::default();
        metrics.record_outcome(ClusterReason::Ready);
        metrics.record_outcome(ClusterReason::Ready);
        metrics.record_outcome(TopicReason::InvalidSpec);
        metrics.record_failure(ClusterReason::KIND, ErrorCategory::Transient);
        let snapshot = Snapshot { outcomes: metrics.outcomes(), failures: metrics.failures(), ..Snapshot::default() };
        let text = render_metrics(&snapshot);
        let outcomes = format!(
            "# HELP gregor_reconcile_outcomes_total Reconciles by kind and the reason they concluded with (the Ready condition's reason).\n\
             # TYPE gregor_reconcile_outcomes_total counter\n\
             gregor_reconcile_outcomes_total{{kind=\"{}\",reason=\"Ready\"}} 2\n\
             gregor_reconcile_outcomes_total{{kind=\"{}\",reason=\"InvalidSpec\"}} 1\n",
            ClusterReason::KIND,
            TopicReason::KIND,
        );
        assert!(text.contains(&outcomes), "{text}");
        let failures = format!(
            "# TYPE gregor_reconcile_failures_total counter\ngregor_reconcile_failures_total{{kind=\"{}\",category=\"transient\"}} 1\n",
            ClusterReason::KIND
        );
        assert!(text.contains(&failures), "{text}");
        // Before any reconcile, the families are announced without samples.
        let empty = render_metrics(&Snapshot::default());
        assert!(empty.contains("# TYPE gregor_reconcile_failures_total counter\n") && !empty.contains("gregor_reconcile_failures_total{"));
        assert_eq!(label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn routes() {
        let t = Telemetry::default();
        assert_eq!(respond("GET", "/healthz", &t).0, "200 OK");
        assert_eq!(respond("GET", "/readyz", &t).0, "503 Service Unavailable");
        t.set_ready();
        assert_eq!(respond("GET", "/readyz", &t).0, "200 OK");
        assert!(respond("GET", "/metrics", &t).2.contains("gregor_writes_total 0"));
        assert_eq!(respond("POST", "/metrics", &t).0, "405 Method Not Allowed");
        assert_eq!(respond("GET", "/nope", &t).0, "404 Not Found");
    }

    #[tokio::test]
    async fn serves_over_tcp() {
        let listener = bind("127.0.0.1:0".parse().expect("addr")).await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let t = Telemetry::new();
        t.set_leading(true);
        let server = tokio::spawn(serve(listener, t));
        let mut s = TcpStream::connect(addr).await.expect("connect");
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await.expect("write");
        let mut out = String::new();
        s.read_to_string(&mut out).await.expect("read");
        assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
        assert!(out.contains("gregor_leader 1\n"), "{out}");
        server.abort();
    }
}
