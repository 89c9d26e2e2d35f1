//! Real-size volumes: each PersistentVolume the agent provisions is a size-limited tmpfs
//! mounted on its host directory (`<world dir>/pv/pvc-<uid>`), in the host's mount namespace.
//!
//! Why tmpfs rather than a loop-mounted ext4 image: `statvfs` of a tmpfs reports exactly the
//! `size=` it was mounted with (ext4 keeps a journal and reserved blocks, so a claim of 64Mi
//! would show less), it grows online with one `remount` (no losetup, resize2fs or image file on
//! the shared disk), and it only takes memory for the bytes written. Its contents live as long as
//! the mount: a pod's restart keeps them (the mount is on the host side, not in the pod's
//! namespace); the world's teardown unmounts every volume under its directory, and a crashed
//! world's volumes are unmounted by the next world's start (see `remove_stale_worlds`).

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::AgentError;

/// The source name every volume mount carries (shows in `/proc/self/mountinfo`).
const SOURCE: &str = "gregor-world-pv";

fn c_path(path: &Path) -> Result<CString, AgentError> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| AgentError::Io(path.to_owned(), std::io::Error::from(std::io::ErrorKind::InvalidInput)))
}

/// The `size=` option of a volume of `bytes` (at least one page).
fn size_option(bytes: u128) -> CString {
    // A tmpfs cannot be empty; and a NUL cannot occur in a number.
    CString::new(format!("size={},mode=0777", bytes.max(4096))).unwrap_or_default()
}

fn mount(dir: &Path, bytes: u128, flags: libc::c_ulong) -> Result<(), AgentError> {
    let (source, target, fstype, data) = (CString::new(SOURCE).unwrap_or_default(), c_path(dir)?, c"tmpfs", size_option(bytes));
    // SAFETY: plain mount(2) with NUL-terminated strings that outlive the call.
    let rc = unsafe { libc::mount(source.as_ptr(), target.as_ptr(), fstype.as_ptr(), flags, data.as_ptr().cast()) };
    if rc != 0 {
        return Err(AgentError::Io(dir.to_owned(), std::io::Error::last_os_error()));
    }
    Ok(())
}

/// Mount points (decoded) of `/proc/self/mountinfo`, with their source.
fn mounts() -> Vec<(PathBuf, String)> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            let point = fields.get(4)?;
            let after = fields.iter().position(|f| *f == "-")?;
            let source = fields.get(after + 2)?;
            Some((PathBuf::from(unescape(point)), (*source).to_owned()))
        })
        .collect()
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && let Some(Ok(v)) = field.get(i + 1..i + 4).map(|o| u8::from_str_radix(o, 8))
        {
            out.push(v);
            i += 4;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether a volume of ours is mounted on `dir`.
pub(crate) fn is_mounted(dir: &Path) -> bool {
    mounts().iter().any(|(point, source)| point == dir && source == SOURCE)
}

/// Makes `dir` a volume of `bytes` (creating it), unless it already is one.
pub(crate) fn provision(dir: &Path, bytes: u128) -> Result<(), AgentError> {
    std::fs::create_dir_all(dir).map_err(|e| AgentError::Io(dir.to_owned(), e))?;
    if is_mounted(dir) {
        return Ok(());
    }
    mount(dir, bytes, 0)
}

/// Grows (or mounts, if it is not yet) the volume on `dir` to `bytes`; its files stay.
pub(crate) fn grow(dir: &Path, bytes: u128) -> Result<(), AgentError> {
    if !is_mounted(dir) {
        return provision(dir, bytes);
    }
    mount(dir, bytes, libc::MS_REMOUNT)
}

/// Unmounts `dir` if a volume of ours is mounted there.
pub(crate) fn release(dir: &Path) {
    if is_mounted(dir) {
        detach(dir);
    }
}

fn detach(dir: &Path) {
    if let Ok(target) = c_path(dir) {
        // SAFETY: plain umount2(2); lazy, so a process still holding a file cannot block it.
        if unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) } != 0 {
            tracing::debug!(dir = %dir.display(), error = %std::io::Error::last_os_error(), "unmounting a volume");
        }
    }
}

/// Unmounts every volume of ours under `root` (a world's directory); returns how many.
pub fn release_all_under(root: &Path) -> usize {
    let ours: Vec<PathBuf> = mounts().into_iter().filter(|(p, s)| s == SOURCE && p.starts_with(root)).map(|(p, _)| p).collect();
    for dir in &ours {
        detach(dir);
    }
    ours.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_escapes() {
        assert_eq!(unescape("/tmp/a\\040b"), "/tmp/a b");
        assert_eq!(unescape("/plain/path"), "/plain/path");
        assert_eq!(unescape("/x\\134y"), "/x\\y");
    }

    #[test]
    fn size_options() {
        assert_eq!(size_option(64 << 20).to_str().ok(), Some("size=67108864,mode=0777"));
        assert_eq!(size_option(0).to_str().ok(), Some("size=4096,mode=0777"));
    }
}
