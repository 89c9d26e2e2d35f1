//! Which certificate a TLS listener serves right now: a handshake that verifies the server
//! against a CA bundle and keeps the certificate it presented. The operator uses it to confirm
//! that a broker reloaded a renewed certificate (no Kafka request is sent).
//!
//! The certificate is taken as soon as it has been verified, so a listener that then asks for
//! a client certificate (mutual TLS), which this probe does not have, still answers.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::config::ResolverConfig;
use crate::error::{Error, Result, TlsError};
use crate::resolve::{Resolver, split_host_port};

/// Verifies as WebPKI does against the given roots, and remembers the end-entity certificate of
/// the first server it verified.
#[derive(Debug)]
struct RecordingVerifier {
    inner: Arc<WebPkiServerVerifier>,
    seen: Mutex<Option<CertificateDer<'static>>>,
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let verified = self.inner.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)?;
        if let Ok(mut seen) = self.seen.lock() {
            *seen = Some(end_entity.clone().into_owned());
        }
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The DER certificate the TLS listener at `addr` (`host:port`, resolved as the client resolves
/// brokers) serves, verified against the PEM CA bundle `ca_pem` for the name `host`.
pub async fn served_certificate(resolver: &ResolverConfig, addr: &str, ca_pem: &str, timeout: Duration) -> Result<CertificateDer<'static>> {
    let (host, _) = split_host_port(addr)?;
    let mut roots = rustls::RootCertStore::empty();
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(ca_pem.as_bytes())
        .collect::<std::result::Result<_, _>>()
        .map_err(|source| TlsError::Pem { path: "the CA bundle".into(), source })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate("the CA bundle".into()).into());
    }
    for cert in certs {
        roots.add(cert).map_err(TlsError::Config)?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| TlsError::Config(rustls::Error::General(e.to_string())))?;
    let verifier = Arc::new(RecordingVerifier { inner, seen: Mutex::new(None) });
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Config)?
        .dangerous()
        .with_custom_certificate_verifier(verifier.clone())
        .with_no_client_auth();
    let connector = TlsConnector::from(Arc::new(config));
    let server_name = ServerName::try_from(host.clone()).map_err(|_| TlsError::ServerName(host.clone()))?;
    let addrs = Resolver::new(resolver).resolve(addr).await?;
    let mut last = Error::Disconnected { addr: addr.to_owned() };
    for socket in addrs {
        let tcp = match tokio::time::timeout(timeout, TcpStream::connect(socket)).await {
            Ok(Ok(tcp)) => tcp,
            Ok(Err(source)) => {
                last = Error::Io { addr: format!("{host} ({socket})"), source };
                continue;
            }
            Err(_) => {
                last = Error::Timeout { api: "Connect", addr: format!("{host} ({socket})"), after: timeout };
                continue;
            }
        };
        let handshake = tokio::time::timeout(timeout, connector.connect(server_name.clone(), tcp)).await;
        if let Some(cert) = verifier.seen.lock().ok().and_then(|mut seen| seen.take()) {
            return Ok(cert);
        }
        last = match handshake {
            Err(_) => Error::Timeout { api: "TlsHandshake", addr: format!("{host} ({socket})"), after: timeout },
            Ok(Err(source)) => TlsError::Handshake { addr: format!("{host} ({socket})"), source }.into(),
            // A handshake that completed has verified (and so recorded) the server.
            Ok(Ok(_)) => Error::Disconnected { addr: format!("{host} ({socket})") },
        };
    }
    Err(last)
}
