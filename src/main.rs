//! The `gregor` binary: a thin CLI over the library.
use std::{
    fs,
    io::{self, Write},
    path::{Path, PathBuf},
    process::ExitCode,
};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use gregor::{api, model, render};

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
    /// Print the version.
    Version,
}

fn main() -> Result<ExitCode> {
    let cli = Cli::parse();
    match cli.command {
        Command::Crd { out_dir } => write_crds(out_dir.as_deref()).map(|()| ExitCode::SUCCESS),
        Command::Render { file, cluster_id } => render_file(&file, cluster_id),
        Command::Version => {
            println!("gregor {}", env!("CARGO_PKG_VERSION"));
            Ok(ExitCode::SUCCESS)
        }
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
                fs::write(&path, serde_yaml::to_string(crd)?)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
        }
    }
    Ok(())
}

fn render_file(file: &Path, cluster_id: Option<String>) -> Result<ExitCode> {
    let text = fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let cluster: api::KafkaCluster =
        serde_yaml::from_str(&text).with_context(|| format!("parsing {} as a KafkaCluster", file.display()))?;
    let observed = model::Observed {
        cluster_id: cluster_id.unwrap_or_else(|| model::placeholder_cluster_id(&cluster)),
        ..model::Observed::default()
    };
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
