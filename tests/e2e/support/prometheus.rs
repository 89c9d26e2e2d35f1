//! Debian's Prometheus (`/usr/bin/prometheus`) as an independent scraper for the e2e suites:
//! started on a free loopback port with the scrape configs and rule file a test gives it, asked
//! through its HTTP API. [`Prometheus::start_with_rules`] scrapes the operator's `--metrics-addr`
//! every second with the rules `gregor monitoring rules --for-scale 0.01` prints (every `for:` a
//! hundredth, every expression identical).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{LogTail, free_port, wait_for};

/// Where Debian's package installs it.
pub const PROMETHEUS: &str = "/usr/bin/prometheus";

/// Whether the test can run: false (after one printed line) when Prometheus is missing outside
/// `make test`; a failure when `GREGOR_REQUIRE_WORLD=1` requires it.
pub fn available(suite: &str) -> bool {
    if Path::new(PROMETHEUS).exists() {
        return true;
    }
    let required = std::env::var("GREGOR_REQUIRE_WORLD").as_deref() == Ok("1");
    assert!(!required, "{PROMETHEUS} is missing (apt-get install prometheus; .ci/run does)");
    println!("SKIPPED {suite}: {PROMETHEUS} is missing (apt-get install prometheus)");
    false
}

fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

/// GET `path` from `addr`; the body, or `None` if it did not answer.
pub async fn get_body(addr: (&str, u16), path: &str) -> Option<String> {
    let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: {}\r\n\r\n", addr.0).as_bytes()).await.ok()?;
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await.ok()?.ok()?;
    let text = String::from_utf8_lossy(&out);
    Some(text.split_once("\r\n\r\n")?.1.to_owned())
}

/// GET `path` from a local HTTP server; the JSON body, or `None` if it did not answer.
pub async fn get_json(port: u16, path: &str) -> Option<Value> {
    serde_json::from_str(&get_body(("127.0.0.1", port), path).await?).ok()
}

/// One alert of `/api/v1/alerts`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActiveAlert {
    pub name: String,
    pub state: String,
    /// Its `node` label, if any.
    pub node: Option<String>,
}

/// The operator's `/metrics` text.
pub async fn get_text(port: u16) -> String {
    get_body(("127.0.0.1", port), "/metrics").await.expect("GET /metrics")
}

/// One active target of `/api/v1/targets`.
#[derive(Clone, Debug)]
pub struct Target {
    pub url: String,
    /// `up`, `down` or `unknown`.
    pub health: String,
    pub last_error: String,
    pub last_scrape_seconds: f64,
}

pub struct Prometheus {
    _child: tokio::process::Child,
    pub port: u16,
    pub log: PathBuf,
    /// The cluster whose alerts [`Prometheus::alerts`] lists (empty: every alert).
    cluster: String,
}

impl Prometheus {
    /// Starts Prometheus in `dir`, scraping every second with `scrape_configs` (the YAML list
    /// items, indented by two spaces) and evaluating `rules_file`, if any.
    pub async fn start(dir: &Path, scrape_configs: &str, rules_file: Option<&Path>) -> Prometheus {
        let port = free_port();
        let config = dir.join("prometheus.yml");
        let rules = rules_file.map(|f| format!("rule_files: ['{}']\n", f.display())).unwrap_or_default();
        std::fs::write(
            &config,
            format!("global: {{scrape_interval: 1s, evaluation_interval: 1s}}\n{rules}scrape_configs:\n{scrape_configs}"),
        )
        .expect("prometheus.yml");
        let log = dir.join("prometheus.log");
        let file = std::fs::File::create(&log).expect("log");
        let child = tokio::process::Command::new(PROMETHEUS)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("tsdb").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::from(file.try_clone().expect("fd")))
            .stderr(Stdio::from(file))
            .kill_on_drop(true)
            .spawn()
            .expect("spawn prometheus");
        let p = Prometheus { _child: child, port, log, cluster: String::new() };
        wait_for("prometheus ready", Duration::from_secs(60), || async { get_json(p.port, "/api/v1/status/buildinfo").await }).await;
        p
    }

    /// Writes the generated rules (`--for-scale 0.01`) into `dir` and starts Prometheus there,
    /// scraping the operator's metrics on `metrics_port`; its alerts are those of `cluster`.
    pub async fn start_with_rules(dir: &Path, metrics_port: u16, cluster: &str) -> Prometheus {
        let rules_file = dir.join("gregor-rules.yaml");
        let status = std::process::Command::new(env!("CARGO_BIN_EXE_gregor"))
            .args(["monitoring", "rules", "--for-scale", "0.01", "--out"])
            .arg(&rules_file)
            .status()
            .expect("gregor monitoring rules");
        assert!(status.success());
        let scrape = format!("  - job_name: gregor\n    static_configs: [{{targets: ['127.0.0.1:{metrics_port}']}}]\n");
        let mut p = Prometheus::start(dir, &scrape, Some(&rules_file)).await;
        p.cluster = cluster.to_owned();
        p
    }

    /// An instant query: `(status, result)`.
    pub async fn query(&self, q: &str) -> Option<(String, Vec<Value>)> {
        let v = get_json(self.port, &format!("/api/v1/query?query={}", encode(q))).await?;
        let status = v["status"].as_str()?.to_owned();
        Some((status, v["data"]["result"].as_array().cloned().unwrap_or_default()))
    }

    /// The active targets.
    pub async fn targets(&self) -> Option<Vec<Target>> {
        let v = get_json(self.port, "/api/v1/targets?state=active").await?;
        let text = |t: &Value, k: &str| t[k].as_str().unwrap_or_default().to_owned();
        Some(
            v["data"]["activeTargets"]
                .as_array()?
                .iter()
                .map(|t| Target {
                    url: text(t, "scrapeUrl"),
                    health: text(t, "health"),
                    last_error: text(t, "lastError"),
                    last_scrape_seconds: t["lastScrapeDuration"].as_f64().unwrap_or_default(),
                })
                .collect(),
        )
    }

    /// The alerts of the cluster (and those without a cluster label), with their node label.
    pub async fn active_alerts(&self) -> Option<Vec<ActiveAlert>> {
        let v = get_json(self.port, "/api/v1/alerts").await?;
        Some(
            v["data"]["alerts"]
                .as_array()?
                .iter()
                .filter(|a| self.cluster.is_empty() || a["labels"]["cluster"] == self.cluster.as_str() || a["labels"]["cluster"].is_null())
                .map(|a| ActiveAlert {
                    name: a["labels"]["alertname"].as_str().unwrap_or_default().to_owned(),
                    state: a["state"].as_str().unwrap_or_default().to_owned(),
                    node: a["labels"]["node"].as_str().map(str::to_owned),
                })
                .collect(),
        )
    }

    /// The alerts of the cluster: `(alertname, state)`.
    pub async fn alerts(&self) -> Option<Vec<(String, String)>> {
        Some(self.active_alerts().await?.into_iter().map(|a| (a.name, a.state)).collect())
    }

    /// Waits (up to 240 s) until every alert of `names` fires; panics with both logs if not.
    pub async fn wait_firing(&self, names: &[&str], op: &dyn LogTail) {
        let what = format!("{names:?} firing in /api/v1/alerts");
        let found = tokio::time::timeout(Duration::from_secs(240), async {
            loop {
                if let Some(alerts) = self.alerts().await
                    && names.iter().all(|n| alerts.iter().any(|(a, s)| a == n && s == "firing"))
                {
                    return alerts;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
        .await;
        match found {
            Ok(alerts) => println!("PASS firing: {names:?} (all alerts of the cluster: {alerts:?})"),
            Err(_) => panic!(
                "timed out waiting for {what}: {:?}\nprometheus log:\n{}\noperator log:\n{}",
                self.alerts().await,
                std::fs::read_to_string(&self.log).unwrap_or_default(),
                op.log_tail(40)
            ),
        }
    }
}
