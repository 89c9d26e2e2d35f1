//! The `gregor` binary: a thin CLI over the library.
use std::{
    fs,
    io::{self, Write},
    path::{Path, PathBuf},
    process::ExitCode,
};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use gregor::{api, controller, model, render};

mod docs;

#[derive(Parser)]
#[command(name = "gregor", version, about = "A Kubernetes operator for Apache Kafka (KRaft)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print every CustomResourceDefinition as YAML, or write one file per CRD into a directory.
    Crd {
        /// Write <plural>.<group>.yaml files into this directory instead of printing.
        #[arg(long)]
        out_dir: Option<PathBuf>,
    },
    /// Render the objects of a KafkaCluster file offline, as multi-document YAML on stdout.
    ///
    /// Owner references are rendered only when the file's metadata carries a uid.
    Render {
        /// A YAML file holding one KafkaCluster.
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
        /// The KRaft cluster id to render. Default: a stable id derived from the namespace and name.
        #[arg(long)]
        cluster_id: Option<String>,
    },
    /// Write the resource reference (Markdown) generated from the CRD schemas, to stdout or a file.
    Docs {
        /// Write to this file instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Run the operator: in-cluster config, or KUBECONFIG when run outside a cluster.
    Run(RunArgs),
    /// Print the version.
    Version,
}

#[derive(clap::Args)]
struct RunArgs {
    /// Watch only this namespace (default: all namespaces).
    #[arg(long, env = "GREGOR_WATCH_NAMESPACE")]
    namespace: Option<String>,
    /// Elect a leader on a Lease in this namespace, so several replicas can run.
    #[arg(long, env = "GREGOR_LEADER_ELECTION_NAMESPACE")]
    leader_election_namespace: Option<String>,
    /// Name of the leader-election Lease.
    #[arg(long, default_value = "gregor-leader")]
    leader_election_lease: String,
    /// Leader identity (default: HOSTNAME, else a random id).
    #[arg(long, env = "GREGOR_IDENTITY")]
    identity: Option<String>,
    /// A hosts(5) file the Kafka admin client consults before DNS (for the local test world).
    #[arg(long, env = "GREGOR_KAFKA_HOSTS_FILE")]
    kafka_hosts_file: Option<PathBuf>,
    /// Refuse to connect to Kafka outside 127.0.0.0/8 (for the local test world).
    #[arg(long, env = "GREGOR_KAFKA_LOOPBACK_ONLY")]
    kafka_loopback_only: bool,
    /// Resync period of converged clusters, in seconds.
    #[arg(long, default_value_t = 300)]
    resync_seconds: u64,
    /// Test hook: start the watches behind the child caches this many milliseconds late.
    #[arg(long, hide = true)]
    debug_delay_child_watches_ms: Option<u64>,
    /// Log as JSON.
    #[arg(long, env = "GREGOR_LOG_JSON")]
    log_json: bool,
    /// Serve /healthz, /readyz and /metrics on this address (e.g. 0.0.0.0:8080). Default: no server.
    #[arg(long, env = "GREGOR_METRICS_ADDR")]
    metrics_addr: Option<std::net::SocketAddr>,
}

fn main() -> Result<ExitCode> {
    let cli = Cli::parse();
    match cli.command {
        Command::Crd { out_dir } => quiet_on_closed_pipe(write_crds(out_dir.as_deref()).map(|()| ExitCode::SUCCESS)),
        Command::Render { file, cluster_id } => quiet_on_closed_pipe(render_file(&file, cluster_id)),
        Command::Docs { out } => quiet_on_closed_pipe(write_docs(out.as_deref()).map(|()| ExitCode::SUCCESS)),
        Command::Run(args) => run_operator(args).map(|()| ExitCode::SUCCESS),
        Command::Version => {
            println!("gregor {}", env!("CARGO_PKG_VERSION"));
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// A reader that stops early (`gregor crd | head`) is not an error.
fn quiet_on_closed_pipe(result: Result<ExitCode>) -> Result<ExitCode> {
    match result {
        Err(e) if e.downcast_ref::<io::Error>().is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe) => Ok(ExitCode::SUCCESS),
        other => other,
    }
}

fn write_crds(out_dir: Option<&Path>) -> Result<()> {
    let crds = api::crds();
    match out_dir {
        None => {
            let mut out = io::stdout().lock();
            for crd in &crds {
                write!(out, "---\n{}", serde_yaml::to_string(crd)?)?;
            }
        }
        Some(dir) => {
            fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            for crd in &crds {
                let name = crd.metadata.name.as_deref().context("CRD without a name")?;
                let path = dir.join(format!("{name}.yaml"));
                fs::write(&path, serde_yaml::to_string(crd)?).with_context(|| format!("writing {}", path.display()))?;
            }
        }
    }
    Ok(())
}

fn write_docs(out: Option<&Path>) -> Result<()> {
    let text = docs::render(&api::crds())?;
    match out {
        Some(path) => fs::write(path, text).with_context(|| format!("writing {}", path.display()))?,
        None => io::stdout().lock().write_all(text.as_bytes())?,
    }
    Ok(())
}

fn render_file(file: &Path, cluster_id: Option<String>) -> Result<ExitCode> {
    let text = fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let cluster: api::KafkaCluster =
        serde_yaml::from_str(&text).with_context(|| format!("parsing {} as a KafkaCluster", file.display()))?;
    let observed =
        model::Observed { cluster_id: cluster_id.unwrap_or_else(|| model::placeholder_cluster_id(&cluster)), ..model::Observed::default() };
    let validated = match model::validate(&cluster, &observed) {
        Ok(validated) => validated,
        Err(errors) => {
            eprintln!("{} is invalid:", file.display());
            for error in errors.iter() {
                eprintln!("  {error}");
            }
            return Ok(ExitCode::FAILURE);
        }
    };
    for warning in &validated.warnings {
        eprintln!("warning: {warning}");
    }
    let objects = render::render(&validated.model)?;
    io::stdout().lock().write_all(render::to_multi_doc_yaml(&objects)?.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

fn run_operator(args: RunArgs) -> Result<()> {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,kube=warn"));
    if args.log_json {
        tracing_subscriber::fmt().with_env_filter(filter).json().init();
    } else {
        tracing_subscriber::fmt().with_env_filter(filter).init();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let telemetry = controller::http::Telemetry::new();
        if let Some(addr) = args.metrics_addr {
            let listener = controller::http::bind(addr).await?;
            tokio::spawn(controller::http::serve(listener, telemetry.clone()));
        }
        let config = kube::Config::infer().await.context("loading the Kubernetes client configuration")?;
        let count = tower::util::MapRequestLayer::new(|req: http::Request<kube::client::Body>| {
            controller::context::API_REQUESTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            req
        });
        let client = kube::client::ClientBuilder::try_from(config).context("building the Kubernetes client")?.with_layer(&count).build();
        // Ready once the API server answered (GET /version needs no RBAC).
        let (probe_client, probe_telemetry) = (client.clone(), telemetry.clone());
        tokio::spawn(async move {
            loop {
                match probe_client.apiserver_version().await {
                    Ok(_) => break probe_telemetry.set_ready(),
                    Err(e) => tracing::warn!(error = %e, "API server not reachable yet"),
                }
                tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            }
        });
        let identity =
            args.identity.or_else(|| std::env::var("HOSTNAME").ok()).unwrap_or_else(|| format!("gregor-{}", uuid::Uuid::new_v4()));
        let leader = args.leader_election_namespace.map(|namespace| controller::leader::LeaderConfig {
            namespace,
            lease_name: args.leader_election_lease,
            identity,
            lease_duration: std::time::Duration::from_secs(15),
            renew_deadline: std::time::Duration::from_secs(10),
            renew_every: std::time::Duration::from_secs(5),
        });
        let settings = controller::context::Settings {
            kafka_hosts_file: args.kafka_hosts_file,
            kafka_loopback_only: args.kafka_loopback_only,
            resync: std::time::Duration::from_secs(args.resync_seconds),
            debug_delay_child_watches: args.debug_delay_child_watches_ms.map(std::time::Duration::from_millis),
            ..controller::context::Settings::default()
        };
        let opts = controller::run::RunOptions { settings, leader, namespace: args.namespace, telemetry: Some(telemetry) };
        controller::run::run(client, opts).await?;
        Ok(())
    })
}
