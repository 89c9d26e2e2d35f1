//! Running a container's process in its own mount, UTS and PID namespaces.
//!
//! The process tree is: world thread -> `unshare --pid --fork --kill-child` -> container process
//! (PID 1 of a fresh PID namespace). Before `unshare` is exec'd, the forked child leaves the
//! host's mount namespace, makes every mount private and bind-mounts the container's paths
//! (`/opt/kafka`, volumes, `/etc/hosts`, ...). The `unshare` process carries
//! `PR_SET_PDEATHSIG=SIGKILL`; `--kill-child` passes its death on to the container's PID 1, and
//! the kernel kills a PID namespace whole when its PID 1 dies. So nothing outlives the world.
use super::AgentError;
use std::ffi::{CStr, CString};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

#[derive(Debug, Clone)]
pub(crate) struct Mount {
    pub source: PathBuf,
    pub target: PathBuf,
    pub readonly: bool,
}

pub(crate) struct Sandbox {
    pub mounts: Vec<Mount>,
    pub hostname: String,
    pub workdir: Option<String>,
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    pub log: PathBuf,
    /// A root file system to chroot into (an image's); the mounts' targets are inside it.
    pub root: Option<PathBuf>,
    /// uid and gid to run as (the image's user or the pod's runAsUser/runAsGroup).
    pub user: Option<(u32, u32)>,
}

struct PreparedMount {
    dirs: Vec<CString>,
    /// Where the source is first bind-mounted (a tmpfs private to the new namespace), since a
    /// later mount (e.g. the pod's /tmp) may hide the source's own path.
    stage: CString,
    source: CString,
    target: CString,
    is_file: bool,
    readonly: bool,
}

fn cstr(p: &Path) -> Result<CString, AgentError> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| AgentError::Config(format!("path with NUL: {}", p.display())))
}

fn prepare(mounts: &[Mount], root: Option<&Path>) -> Result<Vec<PreparedMount>, AgentError> {
    let mut ms = mounts.to_vec();
    ms.sort_by_key(|m| m.target.components().count());
    let mut out = Vec::new();
    for mut m in ms {
        if let Some(root) = root {
            m.target = root.join(m.target.strip_prefix("/").unwrap_or(&m.target));
        }
        // Anything but a directory (a file, or a device node such as /dev/urandom) is mounted onto a file.
        let is_file = std::fs::metadata(&m.source).map(|md| !md.is_dir()).unwrap_or(false);
        let mut dirs = Vec::new();
        let mut acc = PathBuf::from("/");
        let comps: Vec<_> = m.target.components().skip(1).collect();
        for c in comps.iter().take(comps.len().saturating_sub(1)) {
            acc.push(c);
            dirs.push(cstr(&acc)?);
        }
        let stage = cstr(&Path::new(STAGE).join(out.len().to_string()))?;
        out.push(PreparedMount { dirs, stage, source: cstr(&m.source)?, target: cstr(&m.target)?, is_file, readonly: m.readonly });
    }
    Ok(out)
}

/// Mount point of the per-namespace staging tmpfs (an empty directory on the host).
const STAGE: &str = "/run/gregor-world-stage";

fn err() -> std::io::Error {
    std::io::Error::last_os_error()
}

/// Asks the kernel to SIGKILL the calling process when its parent dies. Async-signal-safe.
fn die_with_parent() -> std::io::Result<()> {
    let sig = libc::SIGKILL as libc::c_ulong;
    // SAFETY: prctl with integer arguments only.
    if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, sig, 0, 0, 0) } != 0 {
        return Err(err());
    }
    Ok(())
}

/// Creates the mount point `target` (an empty file if `is_file`, else a directory) and
/// bind-mounts `source` onto it, recursively. Called between fork and exec: only
/// async-signal-safe calls, on memory prepared before the fork.
fn bind_onto(source: &CStr, target: &CStr, is_file: bool) -> std::io::Result<()> {
    // SAFETY: NUL-terminated paths that outlive the calls; the syscalls are async-signal-safe.
    unsafe {
        if is_file {
            let fd = libc::open(target.as_ptr(), libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC, 0o644);
            if fd >= 0 {
                libc::close(fd);
            }
        } else {
            libc::mkdir(target.as_ptr(), 0o755);
        }
        if libc::mount(source.as_ptr(), target.as_ptr(), std::ptr::null(), libc::MS_BIND | libc::MS_REC, std::ptr::null()) != 0 {
            return Err(err());
        }
    }
    Ok(())
}

/// Spawns the sandboxed process. Its stdout and stderr append to `sb.log`.
pub(crate) fn spawn(sb: &Sandbox) -> Result<tokio::process::Child, AgentError> {
    let mounts = prepare(&sb.mounts, sb.root.as_deref())?;
    let hostname = CString::new(sb.hostname.clone()).map_err(|_| AgentError::Config("hostname with NUL".into()))?;
    let wd = sb.workdir.clone().unwrap_or_else(|| "/".into());
    // Chrooted, `unshare --wd` changes directory after the chroot; the fork itself starts at "/".
    let workdir = match &sb.root {
        Some(root) => {
            let inside = root.join(wd.trim_start_matches('/'));
            std::fs::create_dir_all(&inside).map_err(|e| AgentError::Io(inside, e))?;
            CString::new("/")
        }
        None => CString::new(wd.clone()),
    }
    .map_err(|_| AgentError::Config("workingDir with NUL".into()))?;
    let root = CString::new("/").map_err(|_| AgentError::Config("nul".into()))?;
    let stage = CString::new(STAGE).map_err(|_| AgentError::Config("nul".into()))?;
    let tmpfs = CString::new("tmpfs").map_err(|_| AgentError::Config("nul".into()))?;
    std::fs::create_dir_all(STAGE).map_err(|e| AgentError::Io(PathBuf::from(STAGE), e))?;
    let (out, errf) = crate::proc::log_stdio(&sb.log).map_err(|e| AgentError::Config(e.to_string()))?;
    let mut cmd = std::process::Command::new("unshare");
    cmd.args(["--pid", "--fork", "--kill-child"]);
    if let Some(root) = &sb.root {
        cmd.arg(format!("--root={}", root.display())).arg(format!("--wd={wd}"));
    }
    if let Some((uid, gid)) = sb.user {
        cmd.arg(format!("--setgid={gid}")).arg(format!("--setuid={uid}"));
    }
    cmd.arg("--").args(&sb.argv);
    cmd.env_clear().envs(sb.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    cmd.stdin(Stdio::null()).stdout(out).stderr(errf);
    // SAFETY: only async-signal-safe syscalls on memory prepared before fork.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setsid() < 0 {
                return Err(err());
            }
            die_with_parent()?;
            if libc::unshare(libc::CLONE_NEWNS | libc::CLONE_NEWUTS) != 0 {
                return Err(err());
            }
            if libc::mount(std::ptr::null(), root.as_ptr(), std::ptr::null(), libc::MS_REC | libc::MS_PRIVATE, std::ptr::null()) != 0 {
                return Err(err());
            }
            if libc::sethostname(hostname.as_ptr(), hostname.as_bytes().len()) != 0 {
                return Err(err());
            }
            if libc::mount(tmpfs.as_ptr(), stage.as_ptr(), tmpfs.as_ptr(), 0, std::ptr::null()) != 0 {
                return Err(err());
            }
            for m in &mounts {
                bind_onto(&m.source, &m.stage, m.is_file)?;
            }
            for m in &mounts {
                for d in &m.dirs {
                    libc::mkdir(d.as_ptr(), 0o755);
                }
                bind_onto(&m.stage, &m.target, m.is_file)?;
                if m.readonly
                    && libc::mount(
                        std::ptr::null(),
                        m.target.as_ptr(),
                        std::ptr::null(),
                        libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY,
                        std::ptr::null(),
                    ) != 0
                {
                    return Err(err());
                }
            }
            libc::umount2(stage.as_ptr(), libc::MNT_DETACH);
            libc::mkdir(workdir.as_ptr(), 0o755);
            if libc::chdir(workdir.as_ptr()) != 0 {
                return Err(err());
            }
            Ok(())
        });
    }
    let mut cmd = tokio::process::Command::from(cmd);
    cmd.kill_on_drop(true);
    cmd.spawn().map_err(|e| AgentError::Spawn(sb.argv.join(" "), e))
}

/// The container's PID 1 (host PID), the child of the `unshare` process.
pub(crate) fn init_pid(unshare_pid: i32) -> Option<i32> {
    let text = std::fs::read_to_string(format!("/proc/{unshare_pid}/task/{unshare_pid}/children")).ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// Runs `argv` inside the mount and UTS namespaces of the process `ns_pid`, with `env`, waiting
/// at most `timeout`. Returns whether it exited 0.
pub(crate) async fn exec_in(
    ns_pid: i32,
    argv: &[String],
    env: &[(String, String)],
    workdir: Option<&str>,
    timeout: std::time::Duration,
) -> Result<bool, AgentError> {
    use std::os::fd::AsRawFd;
    let Some(prog) = argv.first() else {
        return Ok(false);
    };
    let mnt = std::fs::File::open(format!("/proc/{ns_pid}/ns/mnt")).map_err(|e| AgentError::Io(PathBuf::from("/proc/<pid>/ns/mnt"), e))?;
    let uts = std::fs::File::open(format!("/proc/{ns_pid}/ns/uts")).map_err(|e| AgentError::Io(PathBuf::from("/proc/<pid>/ns/uts"), e))?;
    let (mfd, ufd) = (mnt.as_raw_fd(), uts.as_raw_fd());
    let workdir = CString::new(workdir.unwrap_or("/")).map_err(|_| AgentError::Config("workingDir with NUL".into()))?;
    let mut cmd = std::process::Command::new(prog);
    cmd.args(&argv[1..]).env_clear().envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    // SAFETY: only async-signal-safe syscalls; the fds stay open in the parent until spawn returns.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setpgid(0, 0) != 0 {
                return Err(err());
            }
            die_with_parent()?;
            if libc::setns(mfd, libc::CLONE_NEWNS) != 0 || libc::setns(ufd, libc::CLONE_NEWUTS) != 0 {
                return Err(err());
            }
            if libc::chdir(workdir.as_ptr()) != 0 {
                return Err(err());
            }
            Ok(())
        });
    }
    let mut cmd = tokio::process::Command::from(cmd);
    cmd.kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(_) => return Ok(false),
    };
    drop((mnt, uts));
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) => Ok(status.success()),
        Ok(Err(_)) => Ok(false),
        Err(_) => {
            if let Some(pid) = child.id() {
                crate::proc::kill_group(pid as i32, libc::SIGKILL);
            }
            let _ = child.kill().await;
            Ok(false)
        }
    }
}
