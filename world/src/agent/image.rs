//! Images the world runs from an OCI image layout (for example the operator's, from `make image`),
//! as a container runtime would: the layers unpacked into a root file system, the config's
//! entrypoint, cmd, user, working directory and environment applied.
//!
//! A pod of such an image runs chrooted into a private copy of that root file system, so it sees
//! the image's files and its volumes, and nothing of the host but what the agent mounts.
use super::AgentError;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What a container runtime takes from an image's config.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ImageConfig {
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    /// `uid[:gid]`, numeric (the world resolves no user names).
    pub user: Option<(u32, u32)>,
    pub workdir: Option<String>,
    pub env: Vec<(String, String)>,
}

/// An image unpacked once per world.
#[derive(Debug, Clone)]
pub(crate) struct UnpackedImage {
    pub rootfs: PathBuf,
    pub config: ImageConfig,
}

/// The images the world knows: reference (`gregor:0.1.0`, `registry/gregor:0.1.0`) -> layout dir.
/// From `GREGOR_WORLD_IMAGES` (`ref=dir,ref=dir`) and `WorldOptions::images`.
pub fn images_from_env() -> BTreeMap<String, PathBuf> {
    std::env::var("GREGOR_WORLD_IMAGES")
        .unwrap_or_default()
        .split(',')
        .filter_map(|pair| pair.split_once('='))
        .map(|(r, d)| (r.trim().to_string(), PathBuf::from(d.trim())))
        .filter(|(r, _)| !r.is_empty())
        .collect()
}

/// The layout registered for `image`: an exact reference, or the same repository name and tag
/// under any registry prefix (a chart's `image.repository` may carry one).
pub(crate) fn layout_for<'a>(images: &'a BTreeMap<String, PathBuf>, image: &str) -> Option<&'a PathBuf> {
    let image = image.split('@').next().unwrap_or(image);
    images.get(image).or_else(|| images.iter().find(|(r, _)| image.ends_with(&format!("/{r}"))).map(|(_, d)| d))
}

fn json(path: &Path) -> Result<serde_json::Value, AgentError> {
    let text = std::fs::read_to_string(path).map_err(|e| AgentError::Io(path.to_path_buf(), e))?;
    serde_json::from_str(&text).map_err(|e| AgentError::Config(format!("{}: {e}", path.display())))
}

fn blob(layout: &Path, digest: &str) -> Result<PathBuf, AgentError> {
    let (algo, hex) = digest.split_once(':').ok_or_else(|| AgentError::Config(format!("bad digest {digest}")))?;
    Ok(layout.join("blobs").join(algo).join(hex))
}

fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array().map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect()).unwrap_or_default()
}

/// `uid`, `uid:gid`; a name is refused (nothing here can resolve it).
pub(crate) fn parse_user(user: &str) -> Result<Option<(u32, u32)>, AgentError> {
    if user.is_empty() {
        return Ok(None);
    }
    let (u, g) = user.split_once(':').unwrap_or((user, user));
    match (u.parse(), g.parse()) {
        (Ok(u), Ok(g)) => Ok(Some((u, g))),
        _ => Err(AgentError::Config(format!("image user {user:?} is not numeric uid[:gid]; the test world resolves no user names"))),
    }
}

/// The image manifest and config of a layout holding one image (directly or through a nested index).
pub(crate) fn read_layout(layout: &Path) -> Result<(serde_json::Value, ImageConfig), AgentError> {
    let mut doc = json(&layout.join("index.json"))?;
    let manifest = loop {
        let first = doc["manifests"].get(0).and_then(|m| m["digest"].as_str()).map(str::to_string);
        let digest = first.ok_or_else(|| AgentError::Config(format!("{}: no manifest", layout.display())))?;
        let next = json(&blob(layout, &digest)?)?;
        if next.get("layers").is_some() {
            break next;
        }
        doc = next;
    };
    let digest = manifest["config"]["digest"].as_str().ok_or_else(|| AgentError::Config("manifest without config".into()))?;
    let config_doc = json(&blob(layout, digest)?)?;
    let c = &config_doc["config"];
    let config = ImageConfig {
        entrypoint: strings(&c["Entrypoint"]),
        cmd: strings(&c["Cmd"]),
        user: parse_user(c["User"].as_str().unwrap_or_default())?,
        workdir: c["WorkingDir"].as_str().filter(|w| !w.is_empty()).map(str::to_string),
        env: strings(&c["Env"]).iter().filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect(),
    };
    Ok((manifest, config))
}

/// Unpacks the layout's layers, in order, into `into` (emptied first).
pub(crate) fn unpack(layout: &Path, into: &Path) -> Result<UnpackedImage, AgentError> {
    let (manifest, config) = read_layout(layout)?;
    let _ = std::fs::remove_dir_all(into);
    std::fs::create_dir_all(into).map_err(|e| AgentError::Io(into.to_path_buf(), e))?;
    for layer in manifest["layers"].as_array().cloned().unwrap_or_default() {
        let digest = layer["digest"].as_str().ok_or_else(|| AgentError::Config("layer without digest".into()))?;
        let file = blob(layout, digest)?;
        // GNU tar detects the compression itself; --same-owner keeps the image's owners (we are root).
        let status = Command::new("tar")
            .arg("--same-owner")
            .arg("-xf")
            .arg(&file)
            .arg("-C")
            .arg(into)
            .status()
            .map_err(|e| AgentError::Spawn("tar".into(), e))?;
        if !status.success() {
            return Err(AgentError::Config(format!("cannot unpack layer {digest} of {}", layout.display())));
        }
    }
    Ok(UnpackedImage { rootfs: into.to_path_buf(), config })
}

/// The argv a runtime runs: `command` replaces the entrypoint (and drops cmd), `args` replaces cmd.
pub(crate) fn argv(config: &ImageConfig, command: &[String], args: &[String]) -> Vec<String> {
    let mut out = if command.is_empty() { config.entrypoint.clone() } else { command.to_vec() };
    if !args.is_empty() {
        out.extend(args.iter().cloned());
    } else if command.is_empty() {
        out.extend(config.cmd.iter().cloned());
    }
    out
}

/// The one bind-address translation a shared host needs: pods share the host's network, each on
/// its own 127.x address, so a server told to listen on every address (`0.0.0.0:P`, `[::]:P`)
/// listens on the pod's address instead (two replicas would otherwise take the same port).
pub(crate) fn bind_to_pod_ip(arg: &str, pod_ip: &str) -> String {
    for any in ["0.0.0.0:", "[::]:"] {
        if let Some(i) = arg.find(any) {
            let port = &arg[i + any.len()..];
            if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) {
                return format!("{}{pod_ip}:{port}", &arg[..i]);
            }
        }
    }
    arg.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn argv_follows_kubernetes_command_and_args_rules() {
        let c = ImageConfig { entrypoint: s(&["/gregor"]), cmd: s(&["run"]), ..Default::default() };
        let cases: [(&[&str], &[&str], &[&str]); 4] = [
            (&[], &[], &["/gregor", "run"]),
            (&[], &["run", "--x"], &["/gregor", "run", "--x"]),
            (&["/bin/sh"], &[], &["/bin/sh"]),
            (&["/bin/sh"], &["-c", "x"], &["/bin/sh", "-c", "x"]),
        ];
        for (command, args, want) in cases {
            assert_eq!(argv(&c, &s(command), &s(args)), s(want), "command {command:?} args {args:?}");
        }
    }

    #[test]
    fn only_wildcard_listen_addresses_move_to_the_pod_address() {
        let cases = [
            ("--metrics-addr=0.0.0.0:8080", "--metrics-addr=127.5.1.2:8080"),
            ("[::]:9", "127.5.1.2:9"),
            ("--metrics-addr=127.0.0.1:8080", "--metrics-addr=127.0.0.1:8080"),
            ("0.0.0.0:", "0.0.0.0:"),
            ("--x=0.0.0.0:80/path", "--x=0.0.0.0:80/path"),
        ];
        for (arg, want) in cases {
            assert_eq!(bind_to_pod_ip(arg, "127.5.1.2"), want);
        }
    }

    #[test]
    fn users_are_numeric() {
        assert_eq!(parse_user("65532:65532").unwrap(), Some((65532, 65532)));
        assert_eq!(parse_user("1000").unwrap(), Some((1000, 1000)));
        assert_eq!(parse_user("").unwrap(), None);
        assert!(parse_user("nonroot").is_err());
    }

    #[test]
    fn a_layout_is_found_under_any_registry_prefix() {
        let images = BTreeMap::from([("gregor:0.1.0".to_string(), PathBuf::from("/l"))]);
        assert!(layout_for(&images, "gregor:0.1.0").is_some());
        assert!(layout_for(&images, "registry.example.com/gregor:0.1.0@sha256:ab").is_some());
        assert!(layout_for(&images, "gregor:0.2.0").is_none());
        assert!(layout_for(&images, "notgregor:0.1.0").is_none());
    }
}
