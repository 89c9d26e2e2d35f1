//! Real client traffic during rolls: Kafka's own VerifiableProducer (acks=all, idempotent), and
//! a consumer that reads a topic to the end, both run as host JVMs against the world.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use gregor_world::{KafkaTool, World};

/// A VerifiableProducer writing continuously until stopped.
pub struct Producer {
    child: tokio::process::Child,
    out: PathBuf,
}

/// What the producer reported.
#[derive(Debug, Default)]
pub struct Produced {
    /// Values acknowledged by the brokers.
    pub acked: BTreeSet<String>,
    /// Error lines (send failures).
    pub errors: Vec<String>,
}

impl Producer {
    pub fn start(world: &World, version: &str, bootstrap: &str, topic: &str, per_second: u32) -> Producer {
        Producer::start_with(world, version, bootstrap, topic, per_second, "")
    }

    /// As [`Producer::start`], with more client properties (`security.protocol`, truststore).
    pub fn start_with(world: &World, version: &str, bootstrap: &str, topic: &str, per_second: u32, client_properties: &str) -> Producer {
        let tool = KafkaTool::new(world, version).expect("kafka tool");
        let props = world.dir().join(format!("producer-{topic}.properties"));
        let settings = "enable.idempotence=true\nacks=all\nretries=2147483647\nmax.in.flight.requests.per.connection=5\ndelivery.timeout.ms=300000\nrequest.timeout.ms=30000\n";
        std::fs::write(&props, format!("{settings}{client_properties}")).expect("producer props");
        let out = world.dir().join(format!("producer-{topic}.jsonl"));
        let file = std::fs::File::create(&out).expect("producer out");
        let mut cmd = tool.command("org.apache.kafka.tools.VerifiableProducer");
        cmd.args(["--bootstrap-server", bootstrap, "--topic", topic, "--max-messages", "-1", "--acks", "-1"])
            .args(["--throughput", &per_second.to_string()])
            .arg("--command-config")
            .arg(&props)
            .stdout(Stdio::from(file))
            .stderr(Stdio::from(std::fs::File::create(world.dir().join(format!("producer-{topic}.stderr"))).expect("producer stderr")));
        let child = cmd.spawn().expect("spawn VerifiableProducer");
        Producer { child, out }
    }

    /// Stops the producer cleanly (SIGTERM: it flushes and reports), then reads its report.
    pub async fn stop(mut self) -> Produced {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status();
        }
        let _ = tokio::time::timeout(Duration::from_secs(60), self.child.wait()).await;
        let _ = self.child.start_kill();
        let text = std::fs::read_to_string(&self.out).unwrap_or_default();
        let mut produced = Produced::default();
        for line in text.lines() {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else { continue };
            match v["name"].as_str() {
                Some("producer_send_success") => {
                    if let Some(value) = v["value"].as_str() {
                        produced.acked.insert(value.to_owned());
                    }
                }
                Some("producer_send_error") => produced.errors.push(line.to_owned()),
                _ => {}
            }
        }
        produced
    }
}

/// Reads a topic from the beginning until no record arrives for a while; returns the values.
pub async fn consume_all(world: &World, version: &str, bootstrap: &str, topic: &str) -> BTreeSet<String> {
    consume_all_with(world, version, bootstrap, topic, None).await
}

/// As [`consume_all`], with the client properties in the file `config`.
pub async fn consume_all_with(world: &World, version: &str, bootstrap: &str, topic: &str, config: Option<&str>) -> BTreeSet<String> {
    let tool = KafkaTool::new(world, version).expect("kafka tool");
    let group = format!("verify-{topic}");
    let mut args = vec!["--bootstrap-server", bootstrap, "--topic", topic, "--from-beginning", "--timeout-ms", "15000", "--group", &group];
    if let Some(config) = config {
        args.extend(["--command-config", config]);
    }
    let out =
        tool.run("org.apache.kafka.tools.consumer.ConsoleConsumer", &args, None, Duration::from_secs(300)).await.expect("console consumer");
    out.stdout.lines().map(str::to_owned).collect()
}
