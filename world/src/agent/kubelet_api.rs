//! The one part of a kubelet's HTTPS API the world serves: container logs, so `kubectl logs`
//! works as on a real cluster (API server -> `https://<node InternalIP>:10250/containerLogs/...`).
//!
//! Each node listens on its own address. The server's certificate is signed by the world CA and
//! covers every node address; only a client certificate from the world CA (the API server's
//! kubelet client certificate) is accepted.
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncSeekExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use super::AgentError;

pub(crate) const KUBELET_PORT: u16 = 10250;

/// What a request asks for: `/containerLogs/{namespace}/{pod}/{container}` and its query.
#[derive(Debug, PartialEq)]
pub(crate) struct LogRequest {
    pub namespace: String,
    pub pod: String,
    pub container: String,
    pub tail_lines: Option<usize>,
    pub follow: bool,
}

/// Parses a request target. `None` for anything but a container-log request.
pub(crate) fn parse_target(target: &str) -> Option<LogRequest> {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut parts = path.strip_prefix("/containerLogs/")?.split('/');
    let (namespace, pod, container) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || [namespace, pod, container].iter().any(|p| p.is_empty() || p.contains("..")) {
        return None;
    }
    let mut req = LogRequest { namespace: namespace.into(), pod: pod.into(), container: container.into(), tail_lines: None, follow: false };
    for (k, v) in query.split('&').filter_map(|kv| kv.split_once('=')) {
        match k {
            "tailLines" => req.tail_lines = v.parse().ok(),
            "follow" => req.follow = v == "true",
            _ => {}
        }
    }
    Some(req)
}

/// The last `n` lines of `text` (all of it when `n` is absent).
pub(crate) fn tail(text: &str, n: Option<usize>) -> &str {
    let Some(n) = n else { return text };
    let body = text.strip_suffix('\n').unwrap_or(text);
    let mut cut = body.len();
    for _ in 0..n {
        match body[..cut].rfind('\n') {
            Some(i) => cut = i,
            None => return text,
        }
    }
    &text[cut + 1..]
}

fn tls_config(pki_dir: &Path) -> Result<rustls::ServerConfig, AgentError> {
    let bad = |what: &str, e: String| AgentError::Config(format!("kubelet API {what}: {e}"));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(pki_dir.join("ca.crt")).map_err(|e| bad("CA", e.to_string()))? {
        roots.add(cert.map_err(|e| bad("CA", e.to_string()))?).map_err(|e| bad("CA", e.to_string()))?;
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| bad("client verifier", e.to_string()))?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(pki_dir.join("kubelet.crt"))
        .map_err(|e| bad("certificate", e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| bad("certificate", e.to_string()))?;
    let key = PrivateKeyDer::from_pem_file(pki_dir.join("kubelet.key")).map_err(|e| bad("key", e.to_string()))?;
    rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad("protocols", e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| bad("certificate", e.to_string()))
}

/// Serves container logs on `ip:10250` until the task is aborted.
pub(crate) async fn serve(ip: std::net::Ipv4Addr, world_dir: PathBuf) -> Result<(), AgentError> {
    let config = Arc::new(tls_config(&world_dir.join("pki"))?);
    let listener =
        TcpListener::bind((ip, KUBELET_PORT)).await.map_err(|e| AgentError::Io(PathBuf::from(format!("{ip}:{KUBELET_PORT}")), e))?;
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    loop {
        let Ok((tcp, _)) = listener.accept().await else { continue };
        let (acceptor, logs) = (acceptor.clone(), world_dir.join("logs").join("pods"));
        tokio::spawn(async move {
            if let Ok(tls) = acceptor.accept(tcp).await {
                let _ = answer(tls, &logs).await;
            }
        });
    }
}

async fn answer<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(stream: S, logs: &Path) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream);
    let mut request_line = String::new();
    reader.read_line(&mut request_line).await?;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).await? == 0 || header == "\r\n" || header == "\n" {
            break;
        }
    }
    let mut stream = reader.into_inner();
    let mut words = request_line.split_whitespace();
    let (method, target) = (words.next().unwrap_or_default(), words.next().unwrap_or_default());
    let req = if method == "GET" { parse_target(target) } else { None };
    let Some(req) = req else {
        return stream.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").await;
    };
    let file = logs.join(&req.namespace).join(&req.pod).join(format!("{}.log", req.container));
    let Ok(text) = tokio::fs::read_to_string(&file).await else {
        let body = format!("no log for container {} of pod {}/{}", req.container, req.namespace, req.pod);
        let head =
            format!("HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
        return stream.write_all((head + &body).as_bytes()).await;
    };
    stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n").await?;
    stream.write_all(tail(&text, req.tail_lines).as_bytes()).await?;
    if req.follow {
        // Follow the file as it grows, until the client goes away.
        let mut f = tokio::fs::File::open(&file).await?;
        let mut at = text.len() as u64;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            f.seek(std::io::SeekFrom::Start(at)).await?;
            let n = f.read(&mut buf).await?;
            if n == 0 {
                tokio::time::sleep(Duration::from_millis(250)).await;
                continue;
            }
            stream.write_all(&buf[..n]).await?;
            stream.flush().await?;
            at += n as u64;
        }
    }
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_log_targets() {
        let r = parse_target("/containerLogs/gregor-system/gregor-abc/gregor?tailLines=5&follow=true&timestamps=false").unwrap();
        assert_eq!(
            r,
            LogRequest {
                namespace: "gregor-system".into(),
                pod: "gregor-abc".into(),
                container: "gregor".into(),
                tail_lines: Some(5),
                follow: true
            }
        );
        assert!(parse_target("/containerLogs/ns/pod").is_none());
        assert!(parse_target("/containerLogs/ns/../x").is_none());
        assert!(parse_target("/containerLogs/ns/pod/c/extra").is_none());
        assert!(parse_target("/exec/ns/pod/c").is_none());
    }

    #[test]
    fn tail_lines() {
        assert_eq!(tail("a\nb\nc\n", Some(2)), "b\nc\n");
        assert_eq!(tail("a\nb\nc", Some(1)), "c");
        assert_eq!(tail("a\nb\n", Some(5)), "a\nb\n");
        assert_eq!(tail("a\nb\n", None), "a\nb\n");
        assert_eq!(tail("a\nb\n", Some(0)), "");
    }
}
