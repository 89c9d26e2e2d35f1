//! Spawning child processes that never outlive the world.
//!
//! Every child gets `PR_SET_PDEATHSIG=SIGKILL` (it dies when the world's supervisor thread, which
//! spawned it, ends — including when the test process dies) and its own process group, which the
//! world kills on teardown.
use crate::error::{Result, WorldError};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Stdio;

/// Prepares `cmd` so its process dies with the spawning thread and leads its own process group.
pub(crate) fn contain(cmd: &mut std::process::Command) {
    // SAFETY: only async-signal-safe syscalls run between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setpgid(0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Opens (appending) a log file for a child's stdout and stderr.
pub(crate) fn log_stdio(log: &Path) -> Result<(Stdio, Stdio)> {
    if let Some(parent) = log.parent() {
        std::fs::create_dir_all(parent).map_err(WorldError::io(parent))?;
    }
    let f = std::fs::OpenOptions::new().create(true).append(true).open(log).map_err(WorldError::io(log))?;
    let f2 = f.try_clone().map_err(WorldError::io(log))?;
    Ok((Stdio::from(f), Stdio::from(f2)))
}

/// Spawns a long-running daemon of the control plane, logging to `log`.
pub(crate) fn spawn_daemon(name: &str, program: &Path, args: &[String], log: &Path) -> Result<tokio::process::Child> {
    let mut cmd = std::process::Command::new(program);
    cmd.args(args).stdin(Stdio::null());
    let (out, err) = log_stdio(log)?;
    cmd.stdout(out).stderr(err);
    contain(&mut cmd);
    let mut cmd = tokio::process::Command::from(cmd);
    cmd.kill_on_drop(true);
    cmd.spawn().map_err(|source| WorldError::Spawn { what: name.to_string(), source })
}

/// Sends `sig` to a process group (negative pid), ignoring a group that is already gone.
pub(crate) fn kill_group(pgid: i32, sig: i32) {
    if pgid > 1 {
        // SAFETY: plain kill(2).
        unsafe {
            libc::kill(-pgid, sig);
        }
    }
}

/// Sends `sig` to one process.
pub(crate) fn kill_pid(pid: i32, sig: i32) {
    if pid > 1 {
        // SAFETY: plain kill(2).
        unsafe {
            libc::kill(pid, sig);
        }
    }
}

/// Whether a process (or group, with a negative id) still exists.
pub(crate) fn alive(pid: i32) -> bool {
    // SAFETY: kill with signal 0 only checks for existence.
    unsafe { libc::kill(pid, 0) == 0 }
}

/// Random bytes from the kernel.
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    // SAFETY: getrandom writes at most N bytes into buf.
    let n = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), N, 0) };
    if n != N as isize {
        // Fall back to time-derived bytes; only used for identifiers, never for secrets of value.
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (t >> ((i % 16) * 8)) as u8 ^ (std::process::id() as u8).wrapping_mul(i as u8 + 1);
        }
    }
    buf
}

pub(crate) fn random_hex(n_bytes: usize) -> String {
    let bytes: [u8; 32] = random_bytes();
    bytes[..n_bytes.min(32)].iter().map(|b| format!("{b:02x}")).collect()
}

/// A Kafka cluster id: 16 random bytes, base64url without padding (22 characters), like `kafka-storage random-uuid`.
/// Like Kafka's `Uuid.randomUuid()`, it never starts with '-': `kafka-storage format -t -…` would
/// read the id as an option and fail (1 world in 64 crash-looped at format before this).
pub fn random_kafka_cluster_id() -> String {
    loop {
        let id = encode_cluster_id(random_bytes());
        if !id.starts_with('-') {
            return id;
        }
    }
}

fn encode_cluster_id(bytes: [u8; 16]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    let mut acc: u32 = 0;
    let mut bits = 0;
    for b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 6 {
            bits -= 6;
            out.push(ALPHABET[((acc >> bits) & 63) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((acc << (6 - bits)) & 63) as usize] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leading_dash_id_is_never_handed_out() {
        // 0xF8 >> 2 = 62, the index of '-': the encoding itself can yield one.
        let mut bytes = [0u8; 16];
        bytes[0] = 0xF8;
        assert!(encode_cluster_id(bytes).starts_with('-'));
        for _ in 0..5000 {
            let id = random_kafka_cluster_id();
            assert_eq!(id.len(), 22);
            assert!(!id.starts_with('-'), "{id}");
        }
    }
}
