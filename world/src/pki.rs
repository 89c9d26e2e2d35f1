//! Certificates and keys for one world, made with the openssl CLI.
use crate::error::{Result, WorldError};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub(crate) struct Pki {
    pub ca_crt: PathBuf,
    pub ca_key: PathBuf,
    pub apiserver_crt: PathBuf,
    pub apiserver_key: PathBuf,
    pub sa_key: PathBuf,
    pub sa_pub: PathBuf,
    pub token_file: PathBuf,
    pub admin_token: String,
    /// The API server's client certificate for the nodes' kubelet API (`kubectl logs` goes API
    /// server -> kubelet); the kubelet's serving pair is `kubelet.{crt,key}` beside it.
    pub kubelet_client_crt: PathBuf,
    pub kubelet_client_key: PathBuf,
}

/// An ECDSA P-256 key (`-newkey` arguments of `openssl req`).
const EC_P256: &[&str] = &["ec", "-pkeyopt", "ec_paramgen_curve:P-256"];
/// An RSA 2048 key (`-newkey` arguments of `openssl req`).
const RSA_2048: &[&str] = &["rsa:2048"];

/// A leaf signed by the world CA for 10 years: `<name>.key` (PKCS#8, of `key_type`), `<name>.crt`
/// with the extensions `ext`.
async fn leaf(dir: &Path, name: &str, key_type: &[&str], subject: &str, ext: &str) -> Result<()> {
    let (key, csr, crt, extfile) = (format!("{name}.key"), format!("{name}.csr"), format!("{name}.crt"), format!("{name}.ext"));
    let mut req = vec!["req", "-newkey"];
    req.extend_from_slice(key_type);
    req.extend(["-nodes", "-keyout", &key, "-out", &csr, "-subj", subject]);
    openssl(dir, &req).await?;
    std::fs::write(dir.join(&extfile), ext).map_err(WorldError::io(dir.join(&extfile)))?;
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &crt,
            "-days",
            "3650",
            "-extfile",
            &extfile,
        ],
    )
    .await
}

async fn openssl(dir: &Path, args: &[&str]) -> Result<()> {
    let out = tokio::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .await
        .map_err(|source| WorldError::Spawn { what: "openssl".into(), source })?;
    if !out.status.success() {
        return Err(WorldError::Command {
            what: format!("openssl {}", args.join(" ")),
            detail: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    Ok(())
}

pub(crate) async fn generate(dir: &Path, api_ip: Ipv4Addr, node_ips: &[Ipv4Addr]) -> Result<Pki> {
    std::fs::create_dir_all(dir).map_err(WorldError::io(dir))?;
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "3650",
            "-subj",
            "/CN=gregor-world-ca",
        ],
    )
    .await?;
    let ext = format!(
        "subjectAltName=IP:{api_ip},IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\nextendedKeyUsage=serverAuth\n"
    );
    leaf(dir, "apiserver", RSA_2048, "/CN=kube-apiserver", &ext).await?;
    let node_sans: Vec<String> = node_ips.iter().map(|ip| format!("IP:{ip}")).collect();
    leaf(
        dir,
        "kubelet",
        EC_P256,
        "/CN=gregor-world-kubelet",
        &format!("subjectAltName={}\nextendedKeyUsage=serverAuth\n", node_sans.join(",")),
    )
    .await?;
    leaf(dir, "kubelet-client", EC_P256, "/O=system:masters/CN=kube-apiserver-kubelet-client", "extendedKeyUsage=clientAuth\n").await?;
    openssl(dir, &["genrsa", "-out", "sa.key", "2048"]).await?;
    openssl(dir, &["rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub"]).await?;
    let admin_token = crate::proc::random_hex(24);
    let token_file = dir.join("tokens.csv");
    std::fs::write(&token_file, format!("{admin_token},world-admin,world-admin,\"system:masters\"\n"))
        .map_err(WorldError::io(&token_file))?;
    Ok(Pki {
        ca_crt: dir.join("ca.crt"),
        ca_key: dir.join("ca.key"),
        apiserver_crt: dir.join("apiserver.crt"),
        apiserver_key: dir.join("apiserver.key"),
        sa_key: dir.join("sa.key"),
        sa_pub: dir.join("sa.pub"),
        token_file,
        admin_token,
        kubelet_client_crt: dir.join("kubelet-client.crt"),
        kubelet_client_key: dir.join("kubelet-client.key"),
    })
}

/// Writes a kubeconfig for `server` authenticating with a bearer `token`.
pub(crate) fn write_kubeconfig(path: &Path, server: &str, ca_crt: &Path, user: &str, token: &str, namespace: Option<&str>) -> Result<()> {
    let ns = namespace.map(|n| format!("    namespace: {n}\n")).unwrap_or_default();
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: gregor-world\n  cluster:\n    server: {server}\n    certificate-authority: {ca}\ncontexts:\n- name: gregor-world\n  context:\n    cluster: gregor-world\n    user: {user}\n{ns}current-context: gregor-world\nusers:\n- name: {user}\n  user:\n    token: {token}\n",
        ca = ca_crt.display()
    );
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(WorldError::io(parent))?;
    }
    std::fs::write(path, text).map_err(WorldError::io(path))
}
