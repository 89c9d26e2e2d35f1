//! readinessProbe / livenessProbe / startupProbe, as a kubelet runs them.
use k8s_openapi::api::core::v1::{Container, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub(crate) struct ProbeState {
    pub probe: Probe,
    next: Instant,
    successes: i32,
    failures: i32,
    /// The probe's current verdict (None until it first decides).
    pub verdict: Option<bool>,
}

impl ProbeState {
    pub fn new(probe: Probe, started: Instant) -> ProbeState {
        let delay = Duration::from_secs(probe.initial_delay_seconds.unwrap_or(0).max(0) as u64);
        ProbeState { probe, next: started + delay, successes: 0, failures: 0, verdict: None }
    }

    pub fn due(&self) -> bool {
        Instant::now() >= self.next
    }

    /// Records one result; returns the verdict after applying the thresholds.
    pub fn record(&mut self, ok: bool) -> Option<bool> {
        let period = Duration::from_secs(self.probe.period_seconds.unwrap_or(10).max(1) as u64);
        self.next = Instant::now() + period;
        if ok {
            self.successes += 1;
            self.failures = 0;
            if self.successes >= self.probe.success_threshold.unwrap_or(1).max(1) {
                self.verdict = Some(true);
            }
        } else {
            self.failures += 1;
            self.successes = 0;
            if self.failures >= self.probe.failure_threshold.unwrap_or(3).max(1) {
                self.verdict = Some(false);
            }
        }
        self.verdict
    }
}

fn port_of(p: &IntOrString, c: &Container) -> Option<u16> {
    match p {
        IntOrString::Int(i) => u16::try_from(*i).ok(),
        IntOrString::String(name) => name.parse().ok().or_else(|| {
            c.ports
                .as_ref()?
                .iter()
                .find(|cp| cp.name.as_deref() == Some(name.as_str()))
                .and_then(|cp| u16::try_from(cp.container_port).ok())
        }),
    }
}

/// Runs one probe. `ns_pid` is a process inside the container's namespaces (for exec probes).
pub(crate) async fn run(probe: &Probe, c: &Container, pod_ip: &str, ns_pid: Option<i32>, env: &[(String, String)]) -> bool {
    let timeout = Duration::from_secs(probe.timeout_seconds.unwrap_or(1).max(1) as u64);
    if let Some(tcp) = &probe.tcp_socket {
        let host = tcp.host.clone().unwrap_or_else(|| pod_ip.to_string());
        let Some(port) = port_of(&tcp.port, c) else {
            return false;
        };
        return matches!(tokio::time::timeout(timeout, tokio::net::TcpStream::connect((host.as_str(), port))).await, Ok(Ok(_)));
    }
    if let Some(h) = &probe.http_get {
        let host = h.host.clone().unwrap_or_else(|| pod_ip.to_string());
        let Some(port) = port_of(&h.port, c) else {
            return false;
        };
        if h.scheme.as_deref().is_some_and(|s| s.eq_ignore_ascii_case("https")) {
            tracing::warn!("httpGet probe with HTTPS is not supported by the test world; counting as failure");
            return false;
        }
        let path = h.path.clone().unwrap_or_else(|| "/".into());
        let fut = async {
            let mut s = tokio::net::TcpStream::connect((host.as_str(), port)).await.ok()?;
            let mut req = format!("GET {path} HTTP/1.0\r\nHost: {host}:{port}\r\nUser-Agent: kube-probe/1.36\r\n");
            for hh in h.http_headers.clone().unwrap_or_default() {
                req.push_str(&format!("{}: {}\r\n", hh.name, hh.value));
            }
            req.push_str("\r\n");
            s.write_all(req.as_bytes()).await.ok()?;
            let mut buf = vec![0u8; 64];
            let n = s.read(&mut buf).await.ok()?;
            let line = String::from_utf8_lossy(&buf[..n]).into_owned();
            let code: u16 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some((200..400).contains(&code))
        };
        return matches!(tokio::time::timeout(timeout, fut).await, Ok(Some(true)));
    }
    if let Some(e) = &probe.exec {
        let Some(pid) = ns_pid else { return false };
        let argv = e.command.clone().unwrap_or_default();
        return super::sandbox::exec_in(pid, &argv, env, c.working_dir.as_deref(), timeout).await.unwrap_or(false);
    }
    if probe.grpc.is_some() {
        tracing::warn!("grpc probes are not supported by the test world; counting as success");
        return true;
    }
    true
}
