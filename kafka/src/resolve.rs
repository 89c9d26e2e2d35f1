//! Name resolution: a hosts(5) file override consulted first, then system DNS.
//!
//! The hosts file is re-read when it changes (mtime/length) or when a name misses.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::SystemTime;

use crate::config::ResolverConfig;
use crate::error::ResolveError;

/// Parse hosts(5) text into name -> addresses (first mapping of a name wins order).
pub fn parse_hosts(text: &str) -> HashMap<String, Vec<IpAddr>> {
    let mut map: HashMap<String, Vec<IpAddr>> = HashMap::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut fields = line.split_whitespace();
        let Some(ip) = fields.next().and_then(|f| f.parse::<IpAddr>().ok()) else {
            continue;
        };
        for name in fields {
            let addrs = map.entry(name.to_ascii_lowercase()).or_default();
            if !addrs.contains(&ip) {
                addrs.push(ip);
            }
        }
    }
    map
}

/// Split `host:port` (IPv6 literals as `[::1]:9092`).
pub fn split_host_port(addr: &str) -> Result<(String, u16), ResolveError> {
    let bad = || ResolveError::InvalidAddress(addr.to_string());
    let (host, port) = if let Some(rest) = addr.strip_prefix('[') {
        let (h, p) = rest.split_once("]:").ok_or_else(bad)?;
        (h, p)
    } else {
        addr.rsplit_once(':').ok_or_else(bad)?
    };
    if host.is_empty() {
        return Err(bad());
    }
    let port = port.parse::<u16>().map_err(|_| bad())?;
    Ok((host.to_string(), port))
}

#[derive(Default)]
struct HostsCache {
    stamp: Option<(SystemTime, u64)>,
    map: HashMap<String, Vec<IpAddr>>,
}

pub struct Resolver {
    hosts_file: Option<PathBuf>,
    loopback_only: bool,
    cache: Mutex<HostsCache>,
}

impl Resolver {
    pub fn new(config: &ResolverConfig) -> Self {
        Resolver { hosts_file: config.hosts_file.clone(), loopback_only: config.loopback_only, cache: Mutex::new(HostsCache::default()) }
    }

    /// Resolve `host:port` to socket addresses.
    pub async fn resolve(&self, addr: &str) -> Result<Vec<SocketAddr>, ResolveError> {
        let (host, port) = split_host_port(addr)?;
        let ips = if let Ok(ip) = host.parse::<IpAddr>() {
            vec![ip]
        } else if let Some(ips) = self.lookup_hosts_file(&host)? {
            ips
        } else {
            let found = tokio::net::lookup_host((host.as_str(), port))
                .await
                .map_err(|source| ResolveError::Lookup { host: host.clone(), source })?;
            found.map(|s| s.ip()).collect()
        };
        if ips.is_empty() {
            return Err(ResolveError::NoAddress { host });
        }
        if self.loopback_only
            && let Some(ip) = ips.iter().find(|ip| !ip.is_loopback())
        {
            return Err(ResolveError::NotLoopback { host, addr: *ip });
        }
        Ok(ips.into_iter().map(|ip| SocketAddr::new(ip, port)).collect())
    }

    fn lookup_hosts_file(&self, host: &str) -> Result<Option<Vec<IpAddr>>, ResolveError> {
        let Some(path) = &self.hosts_file else {
            return Ok(None);
        };
        let key = host.to_ascii_lowercase();
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let stamp = std::fs::metadata(path).ok().map(|m| (m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len()));
        let stale = stamp != cache.stamp;
        if stale || !cache.map.contains_key(&key) {
            match std::fs::read_to_string(path) {
                Ok(text) => {
                    cache.map = parse_hosts(&text);
                    cache.stamp = stamp;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    cache.map.clear();
                    cache.stamp = None;
                }
                Err(source) => {
                    return Err(ResolveError::HostsFile { path: path.display().to_string(), source });
                }
            }
        }
        Ok(cache.map.get(&key).cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn parses_hosts_lines() {
        let text = "127.0.0.1 localhost\n# comment\n127.0.0.5 a.b.svc  B.c.svc # trailing\n\
                    bogus line\n::1 ip6\n127.0.0.6 a.b.svc\n";
        let m = parse_hosts(text);
        assert_eq!(m["a.b.svc"], vec!["127.0.0.5".parse::<IpAddr>().unwrap(), "127.0.0.6".parse().unwrap()]);
        assert_eq!(m["b.c.svc"], vec!["127.0.0.5".parse::<IpAddr>().unwrap()]);
        assert_eq!(m["ip6"], vec!["::1".parse::<IpAddr>().unwrap()]);
        assert!(!m.contains_key("bogus"));
    }

    #[test]
    fn splits_host_and_port() {
        let table: &[(&str, Option<(&str, u16)>)] = &[
            ("a:9092", Some(("a", 9092))),
            ("events-brokers-100.events-kafka-brokers.ns.svc:9093", Some(("events-brokers-100.events-kafka-brokers.ns.svc", 9093))),
            ("[::1]:9092", Some(("::1", 9092))),
            ("nohost", None),
            (":9092", None),
            ("a:notaport", None),
        ];
        for (input, want) in table {
            let got = split_host_port(input).ok();
            assert_eq!(got, want.map(|(h, p)| (h.to_string(), p)), "{input}");
        }
    }

    #[tokio::test]
    async fn hosts_file_override_and_reload() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hosts");
        std::fs::write(&path, "127.0.0.7 x.ns.svc\n").unwrap();
        let r = Resolver::new(&ResolverConfig { hosts_file: Some(path.clone()), loopback_only: true });
        let got = r.resolve("x.ns.svc:9092").await.unwrap();
        assert_eq!(got, vec!["127.0.0.7:9092".parse().unwrap()]);
        // A name that misses triggers a re-read.
        let mut f = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
        writeln!(f, "127.0.0.8 y.ns.svc").unwrap();
        drop(f);
        let got = r.resolve("y.ns.svc:1").await.unwrap();
        assert_eq!(got, vec!["127.0.0.8:1".parse().unwrap()]);
        // Loopback guard.
        std::fs::write(&path, "10.1.2.3 z.ns.svc\n").unwrap();
        assert!(matches!(r.resolve("z.ns.svc:1").await, Err(ResolveError::NotLoopback { .. })));
        // IP literals skip the file.
        assert_eq!(r.resolve("127.0.0.1:5").await.unwrap(), vec!["127.0.0.1:5".parse().unwrap()]);
    }
}
