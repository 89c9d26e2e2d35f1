//! Turning a pod spec into what a process needs: environment, volumes, mounts.
use super::AgentError;
use k8s_openapi::api::authentication::v1::{BoundObjectReference, TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::core::v1::{
    ConfigMap, Container, DownwardAPIVolumeFile, KeyToPath, ObjectFieldSelector, PersistentVolume, PersistentVolumeClaim, Pod, Secret,
    Volume,
};
use kube::api::{Api, PostParams};
use std::collections::{BTreeMap, HashMap};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Values the downward API may read besides the object itself.
pub(crate) struct Facts<'a> {
    pub pod: &'a Pod,
    pub pod_ip: String,
    pub host_ip: String,
}

impl Facts<'_> {
    pub fn field(&self, path: &str) -> Option<String> {
        let md = &self.pod.metadata;
        let spec = self.pod.spec.as_ref();
        let bracket = |prefix: &str| -> Option<String> {
            path.strip_prefix(prefix)
                .and_then(|r| r.strip_prefix('['))
                .and_then(|r| r.strip_suffix(']'))
                .map(|k| k.trim_matches('\'').trim_matches('"').to_string())
        };
        if let Some(k) = bracket("metadata.labels") {
            return Some(md.labels.as_ref().and_then(|l| l.get(&k)).cloned().unwrap_or_default());
        }
        if let Some(k) = bracket("metadata.annotations") {
            return Some(md.annotations.as_ref().and_then(|l| l.get(&k)).cloned().unwrap_or_default());
        }
        let kv = |m: Option<&BTreeMap<String, String>>| -> String {
            m.map(|m| m.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect::<Vec<_>>().join("\n")).unwrap_or_default()
        };
        Some(match path {
            "metadata.name" => md.name.clone().unwrap_or_default(),
            "metadata.namespace" => md.namespace.clone().unwrap_or_default(),
            "metadata.uid" => md.uid.clone().unwrap_or_default(),
            "metadata.labels" => kv(md.labels.as_ref()),
            "metadata.annotations" => kv(md.annotations.as_ref()),
            "spec.nodeName" => spec.and_then(|s| s.node_name.clone()).unwrap_or_default(),
            "spec.serviceAccountName" => spec.and_then(|s| s.service_account_name.clone()).unwrap_or_default(),
            "status.podIP" | "status.podIPs" => self.pod_ip.clone(),
            "status.hostIP" | "status.hostIPs" => self.host_ip.clone(),
            _ => return None,
        })
    }
}

fn field_ref(facts: &Facts<'_>, f: &ObjectFieldSelector) -> Result<String, AgentError> {
    facts.field(&f.field_path).ok_or_else(|| AgentError::Config(format!("unsupported fieldRef {}", f.field_path)))
}

/// Kubelet's `$(VAR)` expansion: `$$` escapes, unknown references stay as they are.
pub(crate) fn expand(s: &str, vars: &HashMap<String, String>) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'$' && i + 1 < b.len() {
            if b[i + 1] == b'$' {
                out.push('$');
                i += 2;
                continue;
            }
            if b[i + 1] == b'('
                && let Some(end) = s[i + 2..].find(')')
            {
                let name = &s[i + 2..i + 2 + end];
                if let Some(v) = vars.get(name) {
                    out.push_str(v);
                    i += 2 + end + 1;
                    continue;
                }
            }
        }
        let ch = s[i..].chars().next().unwrap_or('$');
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

async fn get_cm(client: &kube::Client, ns: &str, name: &str) -> Result<Option<ConfigMap>, AgentError> {
    Ok(Api::<ConfigMap>::namespaced(client.clone(), ns).get_opt(name).await?)
}

async fn get_secret(client: &kube::Client, ns: &str, name: &str) -> Result<Option<Secret>, AgentError> {
    Ok(Api::<Secret>::namespaced(client.clone(), ns).get_opt(name).await?)
}

fn cm_data(cm: &ConfigMap) -> BTreeMap<String, Vec<u8>> {
    let mut m: BTreeMap<String, Vec<u8>> = cm.data.clone().unwrap_or_default().into_iter().map(|(k, v)| (k, v.into_bytes())).collect();
    for (k, v) in cm.binary_data.clone().unwrap_or_default() {
        m.insert(k, v.0);
    }
    m
}

fn secret_data(s: &Secret) -> BTreeMap<String, Vec<u8>> {
    let mut m: BTreeMap<String, Vec<u8>> = s.data.clone().unwrap_or_default().into_iter().map(|(k, v)| (k, v.0)).collect();
    for (k, v) in s.string_data.clone().unwrap_or_default() {
        m.insert(k, v.into_bytes());
    }
    m
}

/// The environment of a container, in kubelet order: envFrom, then env (with `$(VAR)` expansion).
pub(crate) async fn resolve_env(client: &kube::Client, facts: &Facts<'_>, c: &Container) -> Result<Vec<(String, String)>, AgentError> {
    let ns = facts.pod.metadata.namespace.clone().unwrap_or_default();
    let mut order: Vec<String> = Vec::new();
    let mut vars: HashMap<String, String> = HashMap::new();
    let set = |order: &mut Vec<String>, vars: &mut HashMap<String, String>, k: String, v: String| {
        if !vars.contains_key(&k) {
            order.push(k.clone());
        }
        vars.insert(k, v);
    };
    for from in c.env_from.clone().unwrap_or_default() {
        let prefix = from.prefix.clone().unwrap_or_default();
        let cm = from.config_map_ref.as_ref();
        let secret = from.secret_ref.as_ref();
        let objs = [cm.map(|r| (KeySource::ConfigMap(&r.name), r.optional)), secret.map(|r| (KeySource::Secret(&r.name), r.optional))];
        for (obj, optional) in objs.into_iter().flatten() {
            let data = object_data(client, &ns, &obj, optional).await?;
            for (k, v) in data.unwrap_or_default() {
                set(&mut order, &mut vars, format!("{prefix}{k}"), String::from_utf8_lossy(&v).into_owned());
            }
        }
    }
    for e in c.env.clone().unwrap_or_default() {
        let value = if let Some(v) = e.value {
            expand(&v, &vars)
        } else if let Some(src) = e.value_from {
            if let Some(f) = src.field_ref {
                field_ref(facts, &f)?
            } else if let Some(r) = src.config_map_key_ref {
                match get_cm(client, &ns, &r.name).await?.and_then(|cm| cm_data(&cm).remove(&r.key)) {
                    Some(v) => String::from_utf8_lossy(&v).into_owned(),
                    None if r.optional == Some(true) => continue,
                    None => {
                        return Err(AgentError::NotYet(format!("configmap key {ns}/{}[{}] not found", r.name, r.key)));
                    }
                }
            } else if let Some(r) = src.secret_key_ref {
                match get_secret(client, &ns, &r.name).await?.and_then(|s| secret_data(&s).remove(&r.key)) {
                    Some(v) => String::from_utf8_lossy(&v).into_owned(),
                    None if r.optional == Some(true) => continue,
                    None => {
                        return Err(AgentError::NotYet(format!("secret key {ns}/{}[{}] not found", r.name, r.key)));
                    }
                }
            } else if let Some(r) = src.resource_field_ref {
                resource_field(c, &r.resource)
            } else {
                String::new()
            }
        } else {
            String::new()
        };
        set(&mut order, &mut vars, e.name, value);
    }
    Ok(order.into_iter().filter_map(|k| vars.get(&k).map(|v| (k, v.clone()))).collect())
}

fn resource_field(c: &Container, resource: &str) -> String {
    let (kind, name) = resource.split_once('.').unwrap_or(("limits", resource));
    let res = c.resources.as_ref();
    let q = match kind {
        "requests" => res.and_then(|r| r.requests.as_ref()).and_then(|m| m.get(name)),
        _ => res.and_then(|r| r.limits.as_ref()).and_then(|m| m.get(name)),
    };
    match (q, name) {
        (Some(q), _) => q.0.clone(),
        (None, "cpu") => "8".into(),
        (None, "memory") => (16u64 << 30).to_string(),
        _ => "0".into(),
    }
}

/// Writes a volume file as the kubelet does: a file whose content is already `data` is left
/// alone (its modification time too, which is what Kafka watches to reload a store), and a
/// changed one is replaced atomically (written beside it, then renamed over it), so a process
/// reading it sees the old content or the new one, never half of each.
fn write_file(path: &Path, data: &[u8], mode: i32) -> Result<(), AgentError> {
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |e| AgentError::Io(p, e)
    };
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).map_err(io(p))?;
    }
    let mode = (mode as u32) & 0o7777;
    if std::fs::read(path).is_ok_and(|have| have == data) {
        return std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(io(path));
    }
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let staged = path.with_file_name(format!(".{file_name}.staged"));
    std::fs::write(&staged, data).map_err(io(&staged))?;
    std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(mode)).map_err(io(&staged))?;
    std::fs::rename(&staged, path).map_err(io(path))
}

fn write_keys(
    dir: &Path,
    data: &BTreeMap<String, Vec<u8>>,
    items: Option<&Vec<KeyToPath>>,
    mode: i32,
    what: &str,
) -> Result<(), AgentError> {
    match items {
        Some(items) => {
            for it in items {
                let v = data.get(&it.key).ok_or_else(|| AgentError::NotYet(format!("{what}: key {} not found", it.key)))?;
                write_file(&dir.join(&it.path), v, it.mode.unwrap_or(mode))?;
            }
        }
        None => {
            for (k, v) in data {
                write_file(&dir.join(k), v, mode)?;
            }
        }
    }
    Ok(())
}

/// The ConfigMap or Secret, by name, that envFrom, a volume or a projection takes keys from.
enum KeySource<'a> {
    ConfigMap(&'a str),
    Secret(&'a str),
}

impl KeySource<'_> {
    /// "configmap" or "secret", and the name.
    fn kind_and_name(&self) -> (&'static str, &str) {
        match *self {
            KeySource::ConfigMap(name) => ("configmap", name),
            KeySource::Secret(name) => ("secret", name),
        }
    }
}

/// The keys of a ConfigMap or Secret. A missing object is not yet there (an error), unless the
/// reference marks it optional: then `None`.
async fn object_data(
    client: &kube::Client,
    ns: &str,
    obj: &KeySource<'_>,
    optional: Option<bool>,
) -> Result<Option<BTreeMap<String, Vec<u8>>>, AgentError> {
    let data = match *obj {
        KeySource::ConfigMap(name) => get_cm(client, ns, name).await?.map(|cm| cm_data(&cm)),
        KeySource::Secret(name) => get_secret(client, ns, name).await?.map(|s| secret_data(&s)),
    };
    if data.is_none() && optional != Some(true) {
        let (what, name) = obj.kind_and_name();
        return Err(AgentError::NotYet(format!("{what} {ns}/{name} not found")));
    }
    Ok(data)
}

/// Writes the keys of a ConfigMap or Secret into `dir` with [`write_keys`] (see [`object_data`]).
async fn write_object_keys(
    client: &kube::Client,
    ns: &str,
    dir: &Path,
    obj: KeySource<'_>,
    items: Option<&Vec<KeyToPath>>,
    optional: Option<bool>,
    mode: i32,
) -> Result<(), AgentError> {
    if let Some(data) = object_data(client, ns, &obj, optional).await? {
        let (what, name) = obj.kind_and_name();
        write_keys(dir, &data, items, mode, &format!("{what} {name}"))?;
    }
    Ok(())
}

fn write_downward(
    dir: &Path,
    facts: &Facts<'_>,
    c: Option<&Container>,
    items: &[DownwardAPIVolumeFile],
    mode: i32,
) -> Result<(), AgentError> {
    for it in items {
        let v = if let Some(f) = &it.field_ref {
            field_ref(facts, f)?
        } else if let (Some(r), Some(c)) = (&it.resource_field_ref, c) {
            resource_field(c, &r.resource)
        } else {
            String::new()
        };
        write_file(&dir.join(&it.path), v.as_bytes(), it.mode.unwrap_or(mode))?;
    }
    Ok(())
}

async fn sa_token(
    client: &kube::Client,
    facts: &Facts<'_>,
    audience: Option<String>,
    expiration: Option<i64>,
) -> Result<String, AgentError> {
    let pod = facts.pod;
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let sa = pod.spec.as_ref().and_then(|s| s.service_account_name.clone()).unwrap_or_else(|| "default".into());
    let req = TokenRequest {
        spec: Some(TokenRequestSpec {
            audiences: audience.map(|a| vec![a]),
            expiration_seconds: Some(expiration.unwrap_or(3600).max(600)),
            bound_object_ref: Some(BoundObjectReference {
                api_version: Some("v1".into()),
                kind: Some("Pod".into()),
                name: pod.metadata.name.clone(),
                uid: pod.metadata.uid.clone(),
            }),
        }),
        ..Default::default()
    };
    let tr = Api::<ServiceAccount>::namespaced(client.clone(), &ns).create_token_request(&sa, &PostParams::default(), &req).await?;
    Ok(tr.status.and_then(|s| s.token).unwrap_or_default())
}

/// Materialises every volume of the pod under `vol_root` (or finds its PersistentVolume's path)
/// and returns volume name -> host path.
pub(crate) async fn prepare_volumes(
    client: &kube::Client,
    facts: &Facts<'_>,
    vol_root: &Path,
) -> Result<HashMap<String, PathBuf>, AgentError> {
    let pod = facts.pod;
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let first_container = pod.spec.as_ref().and_then(|s| s.containers.first());
    let mut out = HashMap::new();
    for v in pod.spec.as_ref().and_then(|s| s.volumes.clone()).unwrap_or_default() {
        let dir = vol_root.join(&v.name);
        let path = prepare_volume(client, facts, &ns, &v, &dir, first_container).await?;
        out.insert(v.name.clone(), path);
    }
    Ok(out)
}

/// Brings the ConfigMap and Secret volumes of a running pod up to date with their objects, as
/// the kubelet's periodic sync does (changed keys are replaced atomically, see [`write_file`];
/// a missing object or key keeps what is there). Claims, host paths, emptyDirs, the downward
/// API and service account tokens are left as they were prepared.
pub(crate) async fn refresh_volumes(client: &kube::Client, pod: &Pod, vol_root: &Path) -> Result<(), AgentError> {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    for v in pod.spec.as_ref().and_then(|s| s.volumes.clone()).unwrap_or_default() {
        let dir = vol_root.join(&v.name);
        let mut sources = Vec::new();
        if let Some(cmv) = &v.config_map {
            sources.push((KeySource::ConfigMap(&cmv.name), cmv.items.as_ref(), cmv.default_mode.unwrap_or(0o644)));
        }
        let secret_name = v.secret.as_ref().and_then(|s| s.secret_name.clone()).unwrap_or_default();
        if let Some(sv) = &v.secret {
            sources.push((KeySource::Secret(&secret_name), sv.items.as_ref(), sv.default_mode.unwrap_or(0o644)));
        }
        let projected = v.projected.as_ref();
        let projected_sources = projected.and_then(|p| p.sources.as_ref());
        let projected_mode = projected.and_then(|p| p.default_mode).unwrap_or(0o644);
        for src in projected_sources.into_iter().flatten() {
            if let Some(cmv) = &src.config_map {
                sources.push((KeySource::ConfigMap(&cmv.name), cmv.items.as_ref(), projected_mode));
            }
            if let Some(sv) = &src.secret {
                sources.push((KeySource::Secret(&sv.name), sv.items.as_ref(), projected_mode));
            }
        }
        for (obj, items, mode) in sources {
            // `optional: true` here: a vanished object keeps the files it left.
            write_object_keys(client, &ns, &dir, obj, items, Some(true), mode).await?;
        }
    }
    Ok(())
}

async fn prepare_volume(
    client: &kube::Client,
    facts: &Facts<'_>,
    ns: &str,
    v: &Volume,
    dir: &Path,
    c: Option<&Container>,
) -> Result<PathBuf, AgentError> {
    let mkdir = |d: &Path| std::fs::create_dir_all(d).map_err(|e| AgentError::Io(d.to_path_buf(), e));
    if let Some(claim) = &v.persistent_volume_claim {
        let pvc = Api::<PersistentVolumeClaim>::namespaced(client.clone(), ns)
            .get_opt(&claim.claim_name)
            .await?
            .ok_or_else(|| AgentError::NotYet(format!("pvc {ns}/{} not found", claim.claim_name)))?;
        let pv_name = pvc
            .spec
            .as_ref()
            .and_then(|s| s.volume_name.clone())
            .filter(|n| !n.is_empty())
            .ok_or_else(|| AgentError::NotYet(format!("pvc {ns}/{} is not bound", claim.claim_name)))?;
        let pv = Api::<PersistentVolume>::all(client.clone()).get(&pv_name).await?;
        let spec = pv.spec.unwrap_or_default();
        let path = spec
            .host_path
            .map(|h| h.path)
            .or(spec.local.map(|l| l.path))
            .ok_or_else(|| AgentError::Config(format!("pv {pv_name} is neither hostPath nor local")))?;
        let path = PathBuf::from(path);
        mkdir(&path)?;
        return Ok(path);
    }
    if let Some(h) = &v.host_path {
        let p = PathBuf::from(&h.path);
        if h.type_.as_deref() == Some("DirectoryOrCreate") {
            mkdir(&p)?;
        }
        return Ok(p);
    }
    mkdir(dir)?;
    if v.empty_dir.is_some() {
        return Ok(dir.to_path_buf());
    }
    if let Some(cmv) = &v.config_map {
        let obj = KeySource::ConfigMap(&cmv.name);
        let mode = cmv.default_mode.unwrap_or(0o644);
        write_object_keys(client, ns, dir, obj, cmv.items.as_ref(), cmv.optional, mode).await?;
        return Ok(dir.to_path_buf());
    }
    if let Some(sv) = &v.secret {
        let name = sv.secret_name.clone().unwrap_or_default();
        let mode = sv.default_mode.unwrap_or(0o644);
        let obj = KeySource::Secret(&name);
        write_object_keys(client, ns, dir, obj, sv.items.as_ref(), sv.optional, mode).await?;
        return Ok(dir.to_path_buf());
    }
    if let Some(d) = &v.downward_api {
        write_downward(dir, facts, c, d.items.as_deref().unwrap_or_default(), d.default_mode.unwrap_or(0o644))?;
        return Ok(dir.to_path_buf());
    }
    if let Some(p) = &v.projected {
        let mode = p.default_mode.unwrap_or(0o644);
        for src in p.sources.clone().unwrap_or_default() {
            if let Some(cmv) = src.config_map {
                let obj = KeySource::ConfigMap(&cmv.name);
                write_object_keys(client, ns, dir, obj, cmv.items.as_ref(), cmv.optional, mode).await?;
            }
            if let Some(sv) = src.secret {
                let obj = KeySource::Secret(&sv.name);
                write_object_keys(client, ns, dir, obj, sv.items.as_ref(), sv.optional, mode).await?;
            }
            if let Some(d) = src.downward_api {
                write_downward(dir, facts, c, d.items.as_deref().unwrap_or_default(), mode)?;
            }
            if let Some(t) = src.service_account_token {
                let token = sa_token(client, facts, t.audience.clone(), t.expiration_seconds).await?;
                write_file(&dir.join(&t.path), token.as_bytes(), mode)?;
            }
        }
        return Ok(dir.to_path_buf());
    }
    tracing::warn!(volume = %v.name, "unsupported volume type; giving it an empty directory");
    Ok(dir.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::write_file;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn a_refresh_keeps_unchanged_files_and_replaces_changed_ones_atomically() {
        let dir = std::env::temp_dir().join(format!("gregor-world-write-file-{}", std::process::id()));
        let path = dir.join("tls").join("node.pem");
        write_file(&path, b"first", 0o600).expect("first write");
        let first = std::fs::metadata(&path).expect("metadata");
        assert_eq!(first.mode() & 0o777, 0o600);

        write_file(&path, b"first", 0o600).expect("same content");
        let same = std::fs::metadata(&path).expect("metadata");
        assert_eq!((same.ino(), same.mtime_nsec(), same.mtime()), (first.ino(), first.mtime_nsec(), first.mtime()), "unchanged: untouched");

        write_file(&path, b"second", 0o600).expect("new content");
        let changed = std::fs::metadata(&path).expect("metadata");
        assert_ne!(changed.ino(), first.ino(), "a new file renamed over the old one: a reader sees the old or the new, never half");
        assert_eq!(std::fs::read(&path).expect("read"), b"second");
        let left: Vec<_> = std::fs::read_dir(path.parent().expect("dir")).expect("list").flatten().map(|e| e.file_name()).collect();
        assert_eq!(left, vec![std::ffi::OsString::from("node.pem")], "no staged file is left behind");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
