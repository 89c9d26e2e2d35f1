//! GitOps health as the real judges see it: `gregor-health` (built by
//! `hack/build-tools.sh health-path` on `sigs.k8s.io/cli-utils`' kstatus and on gopher-lua, as
//! Argo CD runs health Lua) run over a live object fetched as JSON from the API server, and the
//! Argo CD health Lua taken from README.md.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use kube::api::{Api, ApiResource, DynamicObject};
use kube::{Client, Resource};

/// What one judge said: kstatus' `status` (InProgress, Current, Failed, …) or Argo CD's
/// (Progressing, Healthy, Degraded, …), with its message.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
pub struct Verdict {
    pub status: String,
    #[serde(default)]
    pub message: String,
}

/// Both judges' verdicts on one object.
#[derive(Clone, Debug)]
pub struct Health {
    pub kstatus: Verdict,
    pub argocd: Verdict,
    pub object: serde_json::Value,
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The `gregor-health` binary (built once and cached by `hack/build-tools.sh`).
pub fn tool() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let out = Command::new("bash").arg("hack/build-tools.sh").arg("health-path").current_dir(repo()).output().expect("run build-tools");
        assert!(out.status.success(), "hack/build-tools.sh health-path failed:\n{}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8_lossy(&out.stdout);
        let path = PathBuf::from(text.lines().rev().find(|l| !l.trim().is_empty()).expect("a path").trim());
        assert!(path.exists(), "{} missing", path.display());
        path
    })
    .clone()
}

/// The Argo CD health Lua of README.md's "Argo CD" section: the YAML block's
/// `data."resource.customizations.health.kafka.gregor.dev_<Kind>"` (the same script for every
/// kind, through a YAML anchor).
pub fn argocd_lua(kind: &str) -> String {
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README.md");
    let section = readme.split("\n### Argo CD").nth(1).expect("README has an Argo CD section");
    let block = section.split("```yaml\n").nth(1).and_then(|b| b.split("\n```").next()).expect("a yaml block in the Argo CD section");
    let doc: serde_yaml::Value = serde_yaml::from_str(block).expect("the Argo CD block is YAML");
    let key = format!("resource.customizations.health.kafka.gregor.dev_{kind}");
    doc["data"][key.as_str()].as_str().unwrap_or_else(|| panic!("README's Argo CD block has no {key}")).to_owned()
}

fn judge(args: &[&str], object: &serde_json::Value) -> Verdict {
    let mut child = Command::new(tool())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn gregor-health");
    child.stdin.take().expect("stdin").write_all(object.to_string().as_bytes()).expect("write object");
    let out = child.wait_with_output().expect("gregor-health");
    assert!(out.status.success(), "gregor-health {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("gregor-health output {:?}: {e}", String::from_utf8_lossy(&out.stdout)))
}

/// kstatus' verdict on an object.
pub fn kstatus(object: &serde_json::Value) -> Verdict {
    judge(&["kstatus"], object)
}

/// The README's Argo CD health Lua's verdict on an object.
pub fn argocd(object: &serde_json::Value) -> Verdict {
    let kind = object["kind"].as_str().expect("kind").to_owned();
    let script = std::env::temp_dir().join(format!("gregor-e2e-argocd-{kind}-{}.lua", std::process::id()));
    std::fs::write(&script, argocd_lua(&kind)).expect("write lua");
    judge(&["argocd", script.to_str().expect("utf-8 path")], object)
}

/// The live object, as the API server returns it (JSON, with `apiVersion` and `kind`).
pub async fn live<K>(client: &Client, ns: &str, name: &str) -> serde_json::Value
where
    K: Resource<DynamicType = ()>,
{
    let resource = ApiResource::erase::<K>(&());
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &resource);
    let obj = api.get(name).await.unwrap_or_else(|e| panic!("get {}/{ns}/{name}: {e}", resource.kind));
    let mut value = serde_json::to_value(&obj).expect("object JSON");
    value["apiVersion"] = resource.api_version.clone().into();
    value["kind"] = resource.kind.clone().into();
    value
}

/// Both judges on the live object.
pub async fn health<K>(client: &Client, ns: &str, name: &str) -> Health
where
    K: Resource<DynamicType = ()>,
{
    let object = live::<K>(client, ns, name).await;
    Health { kstatus: kstatus(&object), argocd: argocd(&object), object }
}

/// Every version of one object the API server sends on a watch, from before it exists: the
/// judges can then be run on each status the operator wrote, however briefly it stood.
pub struct Recorder {
    versions: std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Recorder {
    /// Starts watching `name` (before it is created).
    pub async fn start<K>(client: &Client, ns: &str, name: &str) -> Recorder
    where
        K: Resource<DynamicType = ()>,
    {
        use futures::StreamExt;
        use kube::api::{WatchEvent, WatchParams};
        let resource = ApiResource::erase::<K>(&());
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &resource);
        let versions = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let list = api.list(&kube::api::ListParams::default()).await.expect("list");
        let from = list.metadata.resource_version.unwrap_or_else(|| "0".into());
        let params = WatchParams::default().fields(&format!("metadata.name={name}")).timeout(290);
        let mut stream = api.watch(&params, &from).await.expect("watch").boxed();
        let sink = versions.clone();
        let task = tokio::spawn(async move {
            while let Some(event) = stream.next().await {
                if let Ok(WatchEvent::Added(o) | WatchEvent::Modified(o)) = event {
                    let mut value = serde_json::to_value(&o).expect("object JSON");
                    value["apiVersion"] = resource.api_version.clone().into();
                    value["kind"] = resource.kind.clone().into();
                    sink.lock().expect("versions").push(value);
                }
            }
        });
        Recorder { versions, task }
    }

    /// The versions seen so far, each with both judges' verdicts.
    pub fn judged(&self) -> Vec<Health> {
        let versions = self.versions.lock().expect("versions").clone();
        versions.into_iter().map(|object| Health { kstatus: kstatus(&object), argocd: argocd(&object), object }).collect()
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}
