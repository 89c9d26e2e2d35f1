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
        Snapshot { leading: self.leading.load(Ordering::Relaxed), reconciles, writes, pod_restarts }
    }
}

/// The values `/metrics` shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub leading: bool,
    pub reconciles: u64,
    pub writes: u64,
    pub pod_restarts: u64,
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
        "/metrics" => ("200 OK", "text/plain; version=0.0.4; charset=utf-8", render_metrics(&telemetry.snapshot())),
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
        let text = render_metrics(&Snapshot { leading: true, reconciles: 7, writes: 3, pod_restarts: 1 });
        assert!(text.contains("# TYPE gregor_leader gauge\ngregor_leader 1\n"));
        assert!(text.contains("gregor_reconciles_total 7\n"));
        assert!(text.contains("gregor_writes_total 3\n"));
        assert!(text.contains("gregor_pod_restarts_total 1\n"));
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
