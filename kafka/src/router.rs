//! The client: bootstrap fail-over, connection pool, metadata cache, request routing and
//! retries with backoff.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, RwLock};

use kafka_protocol::messages::{FindCoordinatorRequest, MetadataRequest};
use kafka_protocol::protocol::StrBytes;
use tokio_rustls::TlsConnector;

use crate::config::ClientConfig;
use crate::connection::{Connection, Framed};
use crate::error::{Error, Result};
use crate::metadata::MetadataSnapshot;
use crate::resolve::{Resolver, split_host_port};
use crate::{sasl, transport};

/// Where a request must go.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    /// Any reachable broker.
    Any,
    /// Any broker except this one (e.g. to ask about a restarting broker).
    AnyExcept(i32),
    /// A given broker.
    Node(i32),
    /// The controller as seen through the brokers (KRaft brokers forward to the active one).
    Controller,
    /// The leader of a partition.
    Leader { topic: &'a str, partition: i32 },
    /// The group coordinator of a consumer group.
    Coordinator { group: &'a str },
}

struct Inner {
    config: ClientConfig,
    resolver: Resolver,
    tls: Option<TlsConnector>,
    client_id: StrBytes,
    pool: Mutex<HashMap<String, Arc<Connection>>>,
    metadata: RwLock<Option<Arc<MetadataSnapshot>>>,
}

/// A Kafka admin client. Cheap to clone; all clones share the pool and the metadata cache.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("config", &self.inner.config).finish()
    }
}

impl Client {
    /// Build a client and fetch the initial metadata (fails if no bootstrap server answers).
    pub async fn connect(config: ClientConfig) -> Result<Client> {
        let client = Client::new(config)?;
        client.refresh_metadata().await?;
        Ok(client)
    }

    /// Build a client without contacting any broker.
    pub fn new(config: ClientConfig) -> Result<Client> {
        if config.bootstrap.is_empty() {
            return Err(Error::InvalidArgument("no bootstrap servers".into()));
        }
        for b in &config.bootstrap {
            split_host_port(b)?;
        }
        let tls = config.tls.as_ref().map(transport::tls_connector).transpose()?;
        Ok(Client {
            inner: Arc::new(Inner {
                resolver: Resolver::new(&config.resolver),
                tls,
                client_id: StrBytes::from_string(config.client_id.clone()),
                pool: Mutex::new(HashMap::new()),
                metadata: RwLock::new(None),
                config,
            }),
        })
    }

    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// Open a new, dedicated connection to `addr` (not pooled). Used by tests and for probes.
    pub async fn open(&self, addr: &str) -> Result<Connection> {
        let cfg = &self.inner.config;
        let (host, _) = split_host_port(addr)?;
        let addrs = self.inner.resolver.resolve(addr).await?;
        let tls = self.inner.tls.as_ref().map(|c| (c, cfg.tls.as_ref().and_then(|t| t.server_name_override.as_deref())));
        let stream = transport::connect(&host, &addrs, tls, cfg.connect_timeout).await?;
        let mut framed = Framed::new(stream, addr.to_string(), self.inner.client_id.clone(), cfg.request_timeout);
        let negotiated = framed.negotiate().await?;
        let lifetime = match &cfg.sasl {
            Some(s) => sasl::authenticate(&mut framed, &negotiated, s).await?,
            None => None,
        };
        tracing::debug!(%addr, "connected");
        Ok(Connection::start(framed, negotiated, cfg.request_timeout, lifetime))
    }

    /// A pooled connection to `addr`.
    pub async fn connection(&self, addr: &str) -> Result<Arc<Connection>> {
        if let Some(c) = self.pooled(addr) {
            return Ok(c);
        }
        let conn = Arc::new(self.open(addr).await?);
        let mut pool = self.inner.pool.lock().unwrap_or_else(|p| p.into_inner());
        match pool.get(addr) {
            Some(existing) if existing.is_usable() => Ok(existing.clone()),
            _ => {
                pool.insert(addr.to_string(), conn.clone());
                Ok(conn)
            }
        }
    }

    fn pooled(&self, addr: &str) -> Option<Arc<Connection>> {
        let mut pool = self.inner.pool.lock().unwrap_or_else(|p| p.into_inner());
        match pool.get(addr) {
            Some(c) if c.is_usable() => Some(c.clone()),
            Some(_) => {
                pool.remove(addr);
                None
            }
            None => None,
        }
    }

    /// Drop every pooled connection (e.g. after credentials change).
    pub fn close_all(&self) {
        self.inner.pool.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// The cached metadata, if any was fetched.
    pub fn cached_metadata(&self) -> Option<Arc<MetadataSnapshot>> {
        self.inner.metadata.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Candidate addresses for "any broker": known brokers first, then the bootstrap list.
    fn any_candidates(&self, except: Option<i32>) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(m) = self.cached_metadata() {
            out.extend(m.brokers.values().filter(|b| Some(b.id) != except).map(|b| b.addr()));
        }
        let excluded = except.and_then(|e| self.cached_metadata().and_then(|m| m.broker(e).map(|b| b.addr())));
        for b in &self.inner.config.bootstrap {
            if !out.contains(b) && Some(b) != excluded.as_ref() {
                out.push(b.clone());
            }
        }
        out
    }

    async fn any_connection(&self, except: Option<i32>) -> Result<Arc<Connection>> {
        let mut candidates = self.any_candidates(except);
        if candidates.is_empty() {
            // Nobody else to ask (single-broker cluster): the excluded one will do.
            candidates = self.any_candidates(None);
        }
        for addr in &candidates {
            if let Some(c) = self.pooled(addr) {
                return Ok(c);
            }
        }
        let mut last = None;
        for addr in &candidates {
            match self.connection(addr).await {
                Ok(c) => return Ok(c),
                Err(e) if e.is_retriable() => {
                    tracing::debug!(%addr, error = %e, "broker unreachable, trying the next");
                    last = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(Error::NoBrokerAvailable { tried: candidates, last: Box::new(last.unwrap_or(Error::InvalidArgument("no candidate".into()))) })
    }

    async fn node_connection(&self, node: i32) -> Result<Arc<Connection>> {
        let addr = match self.cached_metadata().and_then(|m| m.broker(node).map(|b| b.addr())) {
            Some(a) => a,
            None => self.refresh_metadata().await?.broker(node).map(|b| b.addr()).ok_or(Error::UnknownNode(node))?,
        };
        self.connection(&addr).await
    }

    /// Resolve a target to a connection.
    pub async fn route(&self, target: Target<'_>) -> Result<Arc<Connection>> {
        match target {
            Target::Any => self.any_connection(None).await,
            Target::AnyExcept(n) => self.any_connection(Some(n)).await,
            Target::Node(n) => self.node_connection(n).await,
            Target::Controller => {
                let meta = match self.cached_metadata() {
                    Some(m) => m,
                    None => self.refresh_metadata().await?,
                };
                match meta.controller_id {
                    Some(id) => self.node_connection(id).await,
                    None => self.any_connection(None).await,
                }
            }
            Target::Leader { topic, partition } => {
                let leader = match self.cached_metadata().and_then(|m| m.leader(topic, partition)) {
                    Some(l) => Some(l),
                    None => self.refresh_metadata().await?.leader(topic, partition),
                };
                let leader = leader.ok_or_else(|| Error::NoLeader { topic: topic.to_string(), partition })?;
                self.node_connection(leader).await
            }
            Target::Coordinator { group } => {
                let conn = self.any_connection(None).await?;
                let req = FindCoordinatorRequest::default()
                    .with_key_type(0)
                    .with_coordinator_keys(vec![StrBytes::from_string(group.to_string())]);
                let resp = conn.send(&req).await?;
                let c = resp.coordinators.first().ok_or_else(|| Error::Protocol("FindCoordinator returned no coordinator".into()))?;
                Error::check("FindCoordinator", c.error_code, Some(group), c.error_message.as_deref())?;
                self.node_connection(c.node_id.0).await
            }
        }
    }

    /// Fetch full metadata (all topics) from any broker and cache it.
    pub async fn refresh_metadata(&self) -> Result<Arc<MetadataSnapshot>> {
        let snap = self.fetch_metadata(Target::Any, None).await?;
        Ok(self.store_metadata(snap))
    }

    /// Makes `snap` (full metadata, all topics) the routing cache.
    pub(crate) fn store_metadata(&self, snap: MetadataSnapshot) -> Arc<MetadataSnapshot> {
        let snap = Arc::new(snap);
        *self.inner.metadata.write().unwrap_or_else(|p| p.into_inner()) = Some(snap.clone());
        snap
    }

    /// Fetch metadata for some topics (or all with `None`) without touching the cache.
    pub async fn fetch_metadata(&self, target: Target<'_>, topics: Option<&[String]>) -> Result<MetadataSnapshot> {
        let req = MetadataRequest::default().with_allow_auto_topic_creation(false).with_topics(topics.map(|ts| {
            ts.iter()
                .map(|t| {
                    kafka_protocol::messages::metadata_request::MetadataRequestTopic::default()
                        .with_name(Some(kafka_protocol::messages::TopicName(StrBytes::from_string(t.clone()))))
                })
                .collect()
        }));
        let conn = Box::pin(self.route(target)).await?;
        let resp = conn.send(&req).await?;
        Ok(MetadataSnapshot::from_response(resp))
    }

    /// Run `op` against `target`, retrying retriable errors with backoff and refreshing the
    /// metadata when the error says routing is stale.
    pub async fn with_retry<T, F, Fut>(&self, target: Target<'_>, mut op: F) -> Result<T>
    where
        F: FnMut(Arc<Connection>) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let policy = self.inner.config.retry;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let res = match self.route(target).await {
                Ok(conn) => op(conn).await,
                Err(e) => Err(e),
            };
            match res {
                Ok(v) => return Ok(v),
                Err(e) if e.is_retriable() => {
                    if attempt >= policy.max_attempts {
                        return Err(Error::RetriesExhausted { attempts: attempt, last: Box::new(e) });
                    }
                    tracing::debug!(error = %e, attempt, "retrying");
                    if e.needs_metadata_refresh()
                        && let Err(re) = self.refresh_metadata().await
                    {
                        tracing::debug!(error = %re, "metadata refresh failed");
                    }
                    tokio::time::sleep(policy.backoff(attempt)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Send one request and parse the answer, retrying (with backoff) transport errors and
    /// retriable error codes found by `parse`.
    pub async fn call<R, T>(&self, target: Target<'_>, req: &R, parse: impl Fn(R::Response) -> Result<T>) -> Result<T>
    where
        R: kafka_protocol::protocol::Request,
    {
        self.check_write_gate(R::KEY)?;
        let parse = &parse;
        self.with_retry(target, |conn| async move {
            self.check_write_gate(R::KEY)?;
            parse(conn.send(req).await?)
        })
        .await
    }

    /// Send one request with retries.
    pub async fn send<R>(&self, target: Target<'_>, req: &R) -> Result<R::Response>
    where
        R: kafka_protocol::protocol::Request,
    {
        self.check_write_gate(R::KEY)?;
        self.with_retry(target, |conn| async move {
            self.check_write_gate(R::KEY)?;
            conn.send(req).await
        })
        .await
    }

    /// Refuses a request that changes the cluster while the write gate is closed. Asked before
    /// routing, and again before every attempt (retries included), right before the bytes go out.
    fn check_write_gate(&self, api_key: i16) -> Result<()> {
        match &self.inner.config.write_gate {
            Some(gate) if crate::write_gate::changes_the_cluster(api_key) && !gate.allows_writes() => {
                Err(Error::WriteFenced { api: crate::versions::api_name(api_key) })
            }
            _ => Ok(()),
        }
    }
}
