//! One broker connection: handshake (ApiVersions, SASL), then multiplexed, pipelined requests
//! matched to responses by correlation id, each with a timeout.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest};
use kafka_protocol::protocol::{Request, StrBytes};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::codec::{self, MAX_FRAME};
use crate::error::{Error, Result};
use crate::transport::Stream;
use crate::versions::{Negotiated, api_name, fixed_version};

async fn read_frame<S: AsyncRead + Unpin>(s: &mut S, addr: &str) -> Result<Bytes> {
    let io = |source| Error::Io { addr: addr.to_string(), source };
    let len = s.read_i32().await.map_err(io)?;
    let len = usize::try_from(len)
        .ok()
        .filter(|l| *l <= MAX_FRAME)
        .ok_or_else(|| Error::Protocol(format!("frame of {len} bytes from {addr}")))?;
    let mut buf = BytesMut::zeroed(len);
    s.read_exact(&mut buf).await.map_err(io)?;
    Ok(buf.freeze())
}

/// A sequential request/response channel, used during the handshake.
pub struct Framed<S> {
    pub stream: S,
    pub addr: String,
    client_id: StrBytes,
    next_corr: i32,
    timeout: Duration,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Framed<S> {
    pub fn new(stream: S, addr: String, client_id: StrBytes, timeout: Duration) -> Self {
        Framed { stream, addr, client_id, next_corr: 0, timeout }
    }

    pub async fn roundtrip<R: Request>(&mut self, req: &R, version: i16) -> Result<R::Response> {
        let corr = self.next_corr;
        self.next_corr = self.next_corr.wrapping_add(1);
        let frame = codec::encode_request(req, version, corr, &self.client_id)?;
        let addr = self.addr.clone();
        let fut = async {
            self.stream.write_all(&frame).await.map_err(|source| Error::Io { addr: addr.clone(), source })?;
            self.stream.flush().await.map_err(|source| Error::Io { addr: addr.clone(), source })?;
            read_frame(&mut self.stream, &addr).await
        };
        let resp = tokio::time::timeout(self.timeout, fut).await.map_err(|_| Error::Timeout {
            api: api_name(R::KEY),
            addr: self.addr.clone(),
            after: self.timeout,
        })??;
        if R::KEY == ApiKey::ApiVersions as i16 {
            // On UNSUPPORTED_VERSION a broker answers ApiVersions at v0; the error code leads
            // the body after the 4-byte v0 header.
            if resp.get(4..6).map(|b| i16::from_be_bytes([b[0], b[1]])) == Some(35) {
                return Err(Error::UnsupportedVersion { addr: self.addr.clone(), api: "ApiVersions", wanted: version, broker_range: None });
            }
        }
        let (got, body) = codec::decode_response::<R>(resp, version)?;
        if got != corr {
            return Err(Error::Protocol(format!("correlation id {got} from {}, expected {corr}", self.addr)));
        }
        Ok(body)
    }

    /// ApiVersions negotiation.
    pub async fn negotiate(&mut self) -> Result<Negotiated> {
        let req = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("gregor"))
            .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
        let version = fixed_version(ApiKey::ApiVersions as i16).unwrap_or(3);
        let resp = self.roundtrip(&req, version).await?;
        Error::check("ApiVersions", resp.error_code, Some(&self.addr), None)?;
        let n = Negotiated::from_response(&resp);
        n.check_required(&self.addr)?;
        Ok(n)
    }
}

type Pending = Mutex<HashMap<i32, oneshot::Sender<Result<Bytes>>>>;

struct Shared {
    pending: Pending,
    closed: AtomicBool,
}

impl Shared {
    fn fail_all(&self, addr: &str) {
        self.closed.store(true, Ordering::SeqCst);
        let drained: Vec<_> = self.pending.lock().unwrap_or_else(|p| p.into_inner()).drain().collect();
        for (_, tx) in drained {
            let _ = tx.send(Err(Error::Disconnected { addr: addr.to_string() }));
        }
    }
}

/// An established, authenticated connection to one broker.
pub struct Connection {
    pub addr: String,
    pub negotiated: Negotiated,
    shared: Arc<Shared>,
    frames: mpsc::UnboundedSender<Bytes>,
    next_corr: AtomicI32,
    client_id: StrBytes,
    request_timeout: Duration,
    /// When the SASL session expires (broker's `connections.max.reauth.ms`).
    expires_at: Option<Instant>,
    tasks: [JoinHandle<()>; 2],
}

impl Drop for Connection {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Connection {
    /// Start the reader and writer tasks over a handshaken stream.
    pub fn start(
        framed: Framed<Stream>,
        negotiated: Negotiated,
        request_timeout: Duration,
        session_lifetime: Option<Duration>,
    ) -> Connection {
        let Framed { stream, addr, client_id, next_corr, .. } = framed;
        let (rd, wr) = tokio::io::split(stream);
        let shared = Arc::new(Shared { pending: Mutex::new(HashMap::new()), closed: AtomicBool::new(false) });
        let (tx, rx) = mpsc::unbounded_channel();
        let reader = tokio::spawn(reader_loop(rd, shared.clone(), addr.clone()));
        let writer = tokio::spawn(writer_loop(wr, rx, shared.clone(), addr.clone()));
        Connection {
            addr,
            negotiated,
            shared,
            frames: tx,
            next_corr: AtomicI32::new(next_corr),
            client_id,
            request_timeout,
            expires_at: session_lifetime.map(|l| Instant::now() + l.saturating_sub(l / 10 + Duration::from_secs(1))),
            tasks: [reader, writer],
        }
    }

    /// Usable for a new request (not closed, session not about to expire).
    pub fn is_usable(&self) -> bool {
        !self.shared.closed.load(Ordering::SeqCst) && self.expires_at.is_none_or(|t| Instant::now() < t)
    }

    /// Send at our fixed version for `R`, checked against what this broker supports.
    pub async fn send<R: Request>(&self, req: &R) -> Result<R::Response> {
        let version = self.negotiated.version_for(R::KEY, &self.addr)?;
        self.send_at(req, version, self.request_timeout).await
    }

    /// Send with an explicit timeout (for requests that carry their own server-side timeout).
    pub async fn send_with_timeout<R: Request>(&self, req: &R, timeout: Duration) -> Result<R::Response> {
        let version = self.negotiated.version_for(R::KEY, &self.addr)?;
        self.send_at(req, version, timeout).await
    }

    pub async fn send_at<R: Request>(&self, req: &R, version: i16, timeout: Duration) -> Result<R::Response> {
        if self.shared.closed.load(Ordering::SeqCst) {
            return Err(Error::Disconnected { addr: self.addr.clone() });
        }
        let corr = self.next_corr.fetch_add(1, Ordering::Relaxed);
        let frame = codec::encode_request(req, version, corr, &self.client_id)?;
        crate::stats::count(R::KEY);
        let (tx, rx) = oneshot::channel();
        self.shared.pending.lock().unwrap_or_else(|p| p.into_inner()).insert(corr, tx);
        let guard = PendingGuard { shared: &self.shared, corr };
        if self.frames.send(frame).is_err() {
            return Err(Error::Disconnected { addr: self.addr.clone() });
        }
        let api = api_name(R::KEY);
        let resp = match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(r)) => r?,
            Ok(Err(_)) => {
                return Err(Error::Disconnected { addr: self.addr.clone() });
            }
            Err(_) => {
                // The peer may be gone; do not reuse this connection.
                self.shared.closed.store(true, Ordering::SeqCst);
                tracing::debug!(addr = %self.addr, api, ?timeout, "request timed out");
                return Err(Error::Timeout { api, addr: self.addr.clone(), after: timeout });
            }
        };
        drop(guard);
        let (_, body) = codec::decode_response::<R>(resp, version)?;
        Ok(body)
    }
}

/// Removes the pending entry if the caller gives up (timeout or cancellation).
struct PendingGuard<'a> {
    shared: &'a Shared,
    corr: i32,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        self.shared.pending.lock().unwrap_or_else(|p| p.into_inner()).remove(&self.corr);
    }
}

async fn reader_loop(mut rd: ReadHalf<Stream>, shared: Arc<Shared>, addr: String) {
    loop {
        match read_frame(&mut rd, &addr).await {
            Ok(frame) => {
                let Some(corr) = codec::peek_correlation_id(&frame) else {
                    tracing::warn!(%addr, "short response frame");
                    break;
                };
                let tx = shared.pending.lock().unwrap_or_else(|p| p.into_inner()).remove(&corr);
                match tx {
                    Some(tx) => {
                        let _ = tx.send(Ok(frame));
                    }
                    None => tracing::debug!(%addr, corr, "response for abandoned request"),
                }
            }
            Err(e) => {
                tracing::debug!(%addr, error = %e, "connection closed");
                break;
            }
        }
    }
    shared.fail_all(&addr);
}

async fn writer_loop(mut wr: WriteHalf<Stream>, mut rx: mpsc::UnboundedReceiver<Bytes>, shared: Arc<Shared>, addr: String) {
    while let Some(frame) = rx.recv().await {
        let res = async {
            wr.write_all(&frame).await?;
            // Drain whatever else is queued before flushing (pipelining).
            while let Ok(more) = rx.try_recv() {
                wr.write_all(&more).await?;
            }
            wr.flush().await
        }
        .await;
        if let Err(e) = res {
            tracing::debug!(%addr, error = %e, "write failed");
            break;
        }
    }
    let _ = wr.shutdown().await;
    shared.fail_all(&addr);
}
