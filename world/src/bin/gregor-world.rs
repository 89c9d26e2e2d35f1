//! `gregor-world up|down|run --dir D`: a world in the background for `make world`.
use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(about = "Gregor's test world: a real Kubernetes control plane with real Kafka brokers")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Start a world in the background; prints `export KUBECONFIG=...` once every node is Ready.
    Up {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, default_value_t = 3)]
        nodes: usize,
    },
    /// Stop the world started with `up` in that directory.
    Down {
        #[arg(long)]
        dir: PathBuf,
    },
    /// Run a world in the foreground until SIGTERM/SIGINT (what `up` starts).
    Run {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, default_value_t = 3)]
        nodes: usize,
    },
}

fn pid_file(dir: &Path) -> PathBuf {
    dir.with_extension("pid")
}

fn ready_file(dir: &Path) -> PathBuf {
    dir.with_extension("ready")
}

fn read_pid(dir: &Path) -> Option<i32> {
    std::fs::read_to_string(pid_file(dir)).ok()?.trim().parse().ok()
}

fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks existence.
    unsafe { libc::kill(pid, 0) == 0 }
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,kube=warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Up { dir, nodes } => up(&dir, nodes),
        Cmd::Down { dir } => down(&dir),
        Cmd::Run { dir, nodes } => run(&dir, nodes),
    }
}

fn up(dir: &Path, nodes: usize) -> anyhow::Result<()> {
    let dir = std::path::absolute(dir)?;
    if let Some(pid) = read_pid(&dir)
        && alive(pid)
        && ready_file(&dir).exists()
    {
        eprintln!("world already running (pid {pid})");
        println!("export KUBECONFIG={}", dir.join("kubeconfig").display());
        return Ok(());
    }
    let _ = std::fs::remove_file(ready_file(&dir));
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let log = dir.with_extension("log");
    let out = std::fs::OpenOptions::new().create(true).append(true).open(&log)?;
    let exe = std::env::current_exe()?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("run").arg("--dir").arg(&dir).arg("--nodes").arg(nodes.to_string());
    cmd.stdin(std::process::Stdio::null()).stdout(out.try_clone()?).stderr(out);
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: setsid only, to detach from the terminal and make's process group.
        unsafe {
            cmd.pre_exec(|| {
                libc::setsid();
                Ok(())
            });
        }
    }
    let mut child = cmd.spawn().context("spawning the world supervisor")?;
    let start = Instant::now();
    loop {
        if ready_file(&dir).exists() {
            break;
        }
        if let Some(status) = child.try_wait()? {
            bail!("the world supervisor exited ({status}); see {}", log.display());
        }
        if start.elapsed() > Duration::from_secs(300) {
            bail!("the world did not come up within 300s; see {}", log.display());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("world up in {:.1}s (log: {}, pid {})", start.elapsed().as_secs_f64(), log.display(), child.id());
    println!("export KUBECONFIG={}", dir.join("kubeconfig").display());
    Ok(())
}

fn down(dir: &Path) -> anyhow::Result<()> {
    let dir = std::path::absolute(dir)?;
    let Some(pid) = read_pid(&dir) else {
        eprintln!("no world running in {}", dir.display());
        gregor_world::agent::volume::release_all_under(&dir);
        return Ok(());
    };
    if alive(pid) {
        // SAFETY: plain kill(2) of the supervisor we started.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let start = Instant::now();
        while alive(pid) && start.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(100));
        }
        if alive(pid) {
            // SAFETY: as above; its children die with it (PR_SET_PDEATHSIG).
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
    let _ = std::fs::remove_file(pid_file(&dir));
    let _ = std::fs::remove_file(ready_file(&dir));
    // The supervisor unmounts its volumes when it stops; after a SIGKILL they are still there.
    let left = gregor_world::agent::volume::release_all_under(&dir);
    if left > 0 {
        eprintln!("unmounted {left} volume(s) the supervisor left behind");
    }
    eprintln!("world stopped");
    Ok(())
}

fn run(dir: &Path, nodes: usize) -> anyhow::Result<()> {
    let dir = std::path::absolute(dir)?;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    rt.block_on(async {
        let opts = gregor_world::WorldOptions { nodes, dir: Some(dir.clone()), keep_dir: true, ..Default::default() };
        let world = gregor_world::World::start_with(opts).await?;
        std::fs::write(pid_file(&dir), std::process::id().to_string())?;
        std::fs::write(ready_file(&dir), format!("{:.3}\n", world.started_in().as_secs_f64()))?;
        tracing::info!(kubeconfig = %world.kubeconfig_path().display(), "world ready");
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        tracing::info!("stopping the world");
        tokio::task::spawn_blocking(move || drop(world)).await?;
        anyhow::Ok(())
    })?;
    let _ = std::fs::remove_file(ready_file(&dir));
    Ok(())
}
