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
    /// Print what Prometheus and Grafana need to watch Gregor and its clusters (alert rules,
    /// dashboards), for GitOps.
    Monitoring {
        #[command(subcommand)]
        what: MonitoringCommand,
    },
    /// Run the operator: in-cluster config, or KUBECONFIG when run outside a cluster.
    Run(RunArgs),
    /// Print the version.
    Version,
}

#[derive(Subcommand)]
enum MonitoringCommand {
    /// The Prometheus alert rules (a `rule_files:` file), as deploy/monitoring/gregor-rules.yaml.
    Rules {
        /// Base of each alert's runbook_url (`<base>/<alert>.md`).
        #[arg(long, default_value = gregor::monitoring::rules::DEFAULT_RUNBOOK_BASE_URL)]
        runbook_base_url: String,
        /// Multiply every `for:` by this factor (tests use 0.01 to see alerts fire in seconds);
        /// the expressions stay the same.
        #[arg(long, default_value_t = 1.0)]
        for_scale: f64,
        /// Write to this file instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// The Grafana dashboards (JSON), as deploy/monitoring/dashboards/*.json.
    Dashboards {
        /// Write <uid>.json files into this directory instead of printing them (one per line).
        #[arg(long)]
        out_dir: Option<PathBuf>,
    },
    /// The chart's templates/prometheus-rule.yaml (the same rules as a PrometheusRule).
    #[command(hide = true)]
    ChartRules {
        /// Write to this file instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
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
        Command::Monitoring { what } => quiet_on_closed_pipe(write_monitoring(what).map(|()| ExitCode::SUCCESS)),
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

fn write_monitoring(what: MonitoringCommand) -> Result<()> {
    use gregor::monitoring::rules;
    let (text, out) = match what {
        MonitoringCommand::Rules { runbook_base_url, for_scale, out } => {
            anyhow::ensure!(for_scale.is_finite() && for_scale > 0.0, "--for-scale must be a positive number");
            (rules::rules_file(&rules::Options { runbook_base_url, for_scale })?, out)
        }
        MonitoringCommand::ChartRules { out } => (rules::chart_template()?, out),
        MonitoringCommand::Dashboards { out_dir } => {
            let files = gregor::monitoring::dashboards::dashboard_files()?;
            match out_dir {
                Some(dir) => {
                    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
                    for (name, json) in files {
                        let path = dir.join(name);
                        fs::write(&path, json).with_context(|| format!("writing {}", path.display()))?;
                    }
                    return Ok(());
                }
                None => (files.into_iter().map(|(_, json)| json).collect::<String>(), None),
            }
        }
    };
    match out {
        Some(path) => fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?,
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
        // With an election, nothing is written until the first renewal opens the fence.
        let fence = if leader.is_some() { controller::leader::Fence::closed() } else { controller::leader::Fence::open() };
        // The election's client renews the Lease, unfenced; the controllers' client is fenced.
        let election_client =
            kube::client::ClientBuilder::try_from(config.clone()).context("building the Kubernetes client")?.with_layer(&count).build();
        // The controllers' requests by verb (the election's Lease requests are not among them).
        let count_by_verb = tower::util::MapRequestLayer::new(|req: http::Request<kube::client::Body>| {
            controller::kube_requests::count(req.method().as_str(), req.uri().path(), req.uri().query());
            req
        });
        let client = kube::client::ClientBuilder::try_from(config)
            .context("building the Kubernetes client")?
            .with_layer(&count)
            .with_layer(&count_by_verb)
            .with_layer(&controller::write_fence::FenceLayer::new(fence.clone()))
            .build();
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
        let settings = controller::context::Settings {
            kafka_hosts_file: args.kafka_hosts_file,
            kafka_loopback_only: args.kafka_loopback_only,
            resync: std::time::Duration::from_secs(args.resync_seconds),
            debug_delay_child_watches: args.debug_delay_child_watches_ms.map(std::time::Duration::from_millis),
            fence,
            ..controller::context::Settings::default()
        };
        let opts = controller::run::RunOptions {
            settings,
            leader,
            namespace: args.namespace,
            telemetry: Some(telemetry),
            election_client: Some(election_client),
        };
        controller::run::run(client, opts).await?;
        Ok(())
    })
}
