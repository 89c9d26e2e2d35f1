//! Running Kafka's own Java tools from the host against a world.
use crate::error::{Result, WorldError};
use crate::world::World;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

/// A host-side JVM with a Kafka version's jars on the classpath, resolving pod DNS names
/// through the world's hosts file (`-Djdk.net.hosts.file`).
#[derive(Debug, Clone)]
pub struct KafkaTool {
    pub kafka_home: PathBuf,
    pub hosts_file: PathBuf,
    pub heap: String,
}

/// What a tool run printed.
#[derive(Debug, Clone)]
pub struct ToolOutput {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

impl KafkaTool {
    pub fn new(world: &World, version: &str) -> Result<KafkaTool> {
        Ok(KafkaTool { kafka_home: world.kafka_home(version)?, hosts_file: world.hosts_file().to_path_buf(), heap: "-Xmx256m".into() })
    }

    /// `java ... <main_class>` ready for arguments: classpath `<kafka_home>/libs/*`, the world's
    /// hosts file, warnings-only logging to stderr, fast-start JVM flags.
    pub fn command(&self, main_class: &str) -> tokio::process::Command {
        let mut std_cmd = std::process::Command::new("java");
        // Dies with the thread that spawns it (and so with the test process).
        crate::proc::contain(&mut std_cmd);
        let mut cmd = tokio::process::Command::from(std_cmd);
        cmd.arg(&self.heap)
            .args(["-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xshare:auto", "-XX:-UsePerfData", "-Djava.awt.headless=true"])
            .arg(format!("-Djdk.net.hosts.file={}", self.hosts_file.display()))
            .arg(format!("-Dlog4j2.configurationFile={}", self.kafka_home.join("config").join("tools-log4j2.yaml").display()))
            .arg("-cp")
            .arg(format!("{}/libs/*", self.kafka_home.display()))
            .arg(main_class)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        cmd
    }

    /// Runs a tool to completion (killed after `timeout`), feeding it `stdin` if given.
    pub async fn run(&self, main_class: &str, args: &[&str], stdin: Option<&[u8]>, timeout: Duration) -> Result<ToolOutput> {
        use tokio::io::AsyncWriteExt;
        let mut cmd = self.command(main_class);
        cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
        if stdin.is_some() {
            cmd.stdin(Stdio::piped());
        }
        let mut child = cmd.spawn().map_err(|source| WorldError::Spawn { what: format!("java {main_class}"), source })?;
        if let (Some(data), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(data).await.map_err(WorldError::io("<stdin of java>"))?;
            drop(pipe);
        }
        match tokio::time::timeout(timeout, child.wait_with_output()).await {
            Ok(Ok(out)) => Ok(ToolOutput {
                status: out.status.code().unwrap_or(-1),
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            }),
            Ok(Err(e)) => Err(WorldError::io("<java>")(e)),
            Err(_) => Err(WorldError::Timeout { what: format!("java {main_class} {}", args.join(" ")), secs: timeout.as_secs() }),
        }
    }

    /// Like `run`, but a non-zero exit is an error.
    pub async fn run_ok(&self, main_class: &str, args: &[&str], stdin: Option<&[u8]>, timeout: Duration) -> Result<ToolOutput> {
        let out = self.run(main_class, args, stdin, timeout).await?;
        if out.status != 0 {
            return Err(WorldError::Command {
                what: format!("{main_class} {}", args.join(" ")),
                detail: format!("exit {}: {}", out.status, out.stderr),
            });
        }
        Ok(out)
    }
}

/// Main classes of the tools in the Kafka 4.x jars.
pub mod classes {
    pub const TOPICS: &str = "org.apache.kafka.tools.TopicCommand";
    pub const CONSOLE_PRODUCER: &str = "org.apache.kafka.tools.ConsoleProducer";
    pub const CONSOLE_CONSUMER: &str = "org.apache.kafka.tools.consumer.ConsoleConsumer";
    pub const METADATA_QUORUM: &str = "org.apache.kafka.tools.MetadataQuorumCommand";
    pub const STORAGE: &str = "kafka.tools.StorageTool";
}
