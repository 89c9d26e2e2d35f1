//! Kafka client benchmark. Prints:
//! - the time to create (and delete) 1,000 topics in batches;
//! - the time and allocations to fetch and index metadata for 10,000 partitions
//!   (from real brokers, and decode+index alone from an encoded response).
//!
//! `cargo run --release -p gregor-kafka --example kafka_bench` starts a test world with a 3-node KRaft cluster;
//! `-- --bootstrap host:port[,..]` uses an existing cluster instead.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use gregor_kafka::ops::topics::NewTopic;
use gregor_kafka::{Client, ClientConfig, MetadataSnapshot, ResolverConfig};

struct Counting;
static ALLOCS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(l.size() as u64, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(n as u64, Ordering::Relaxed);
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn counters() -> (u64, u64) {
    (ALLOCS.load(Ordering::Relaxed), BYTES.load(Ordering::Relaxed))
}

async fn measure<T>(f: impl std::future::Future<Output = T>) -> (T, Duration, u64, u64) {
    let (a0, b0) = counters();
    let t = Instant::now();
    let v = f.await;
    let d = t.elapsed();
    let (a1, b1) = counters();
    (v, d, a1 - a0, b1 - b0)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let bootstrap = args.iter().position(|a| a == "--bootstrap").and_then(|i| args.get(i + 1)).cloned();
    let mut _world = None;
    let config = match bootstrap {
        Some(b) => ClientConfig::new(b.split(',').map(str::to_string)),
        None => {
            let world = gregor_world::World::start().await?;
            let version = gregor_world::tools::latest_kafka_version();
            let k = gregor_world::fixtures::kraft_statefulset(&world, "bench", "kb", &version, 3).await?;
            println!("world cluster: Kafka {version}, {} brokers", k.replicas);
            let cfg = ClientConfig::new(k.bootstrap.clone())
                .with_resolver(ResolverConfig { hosts_file: Some(world.hosts_file().to_path_buf()), loopback_only: true });
            _world = Some(world);
            cfg
        }
    };
    let client = Client::connect(config).await?;
    let brokers = client.metadata().await?.brokers.len() as i16;
    let rf = brokers.clamp(1, 3);

    // 1,000 topics, batches of 200, 4 in flight.
    let topics: Vec<NewTopic> = (0..1000).map(|i| NewTopic::new(format!("bench-{i:04}"), 1, rf)).collect();
    let (res, d, _, _) = measure(client.create_topics(&topics, false)).await;
    let res = res?;
    let ok = res.iter().filter(|(_, r)| r.is_ok()).count();
    println!(
        "create 1,000 topics (RF {rf}, batches of {}): {:.2?} ({ok} ok, {:.0} topics/s)",
        client.config().batch_size,
        d,
        ok as f64 / d.as_secs_f64()
    );
    let names: Vec<String> = topics.iter().map(|t| t.name.clone()).collect();
    let (res, d, _, _) = measure(client.delete_topics(&names)).await;
    println!("delete 1,000 topics: {:.2?} ({} ok)", d, res?.iter().filter(|(_, r)| r.is_ok()).count());

    // 10,000 partitions: 100 topics x 100 partitions, RF 1 (keeps the small test brokers light).
    let big: Vec<NewTopic> = (0..100).map(|i| NewTopic::new(format!("meta-{i:03}"), 100, 1)).collect();
    let created = client.create_topics(&big, false).await?;
    println!("created 100 x 100-partition topics: {} ok", created.iter().filter(|(_, r)| r.is_ok()).count());
    if let Some((t, Err(e))) = created.iter().find(|(_, r)| r.is_err()) {
        println!("  first failure: {}: {e}", t.name);
    }
    let mut total = 0;
    for _ in 0..60 {
        total = client.metadata().await?.partition_count();
        if total >= 10_000 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let mut best = None;
    for _ in 0..5 {
        let (snap, d, allocs, bytes) = measure(client.metadata()).await;
        let snap = snap?;
        total = snap.partition_count();
        if best.as_ref().is_none_or(|(bd, _, _): &(Duration, u64, u64)| d < *bd) {
            best = Some((d, allocs, bytes));
        }
    }
    if let Some((d, allocs, bytes)) = best {
        println!(
            "fetch + index metadata, {total} partitions (real brokers, best of 5): {d:.2?}, {allocs} allocations, {} KiB allocated",
            bytes / 1024
        );
    }

    // Decode + index alone, from the encoded response of the same size.
    let req_resp = synthetic(10_000);
    let (a0, b0) = counters();
    let t = Instant::now();
    let mut buf = req_resp.clone();
    let resp = <kafka_protocol::messages::MetadataResponse as kafka_protocol::protocol::Decodable>::decode(&mut buf, 12)?;
    let snap = MetadataSnapshot::from_response(resp);
    let d = t.elapsed();
    let (a1, b1) = counters();
    println!(
        "decode + index only, {} partitions ({} KiB response): {d:.2?}, {} allocations, {} KiB allocated",
        snap.partition_count(),
        req_resp.len() / 1024,
        a1 - a0,
        (b1 - b0) / 1024
    );

    let names: Vec<String> = big.iter().map(|t| t.name.clone()).collect();
    client.delete_topics(&names).await?;
    Ok(())
}

/// An encoded v12 MetadataResponse: 3 brokers, 100 topics x (n/100) partitions, RF 3.
fn synthetic(n: usize) -> bytes::Bytes {
    use kafka_protocol::messages::metadata_response::*;
    use kafka_protocol::messages::*;
    use kafka_protocol::protocol::{Encodable, StrBytes};
    let b = |i: i32| BrokerId(i);
    let resp = MetadataResponse::default()
        .with_brokers(
            (0..3)
                .map(|i| {
                    MetadataResponseBroker::default().with_node_id(b(i)).with_host(StrBytes::from_string(format!("b{i}"))).with_port(9092)
                })
                .collect(),
        )
        .with_controller_id(b(0))
        .with_topics(
            (0..100)
                .map(|t| {
                    MetadataResponseTopic::default()
                        .with_name(Some(TopicName(StrBytes::from_string(format!("topic-{t:03}")))))
                        .with_partitions(
                            (0..(n / 100) as i32)
                                .map(|p| {
                                    MetadataResponsePartition::default()
                                        .with_partition_index(p)
                                        .with_leader_id(b(p % 3))
                                        .with_replica_nodes(vec![b(p % 3), b((p + 1) % 3), b((p + 2) % 3)])
                                        .with_isr_nodes(vec![b(p % 3), b((p + 1) % 3), b((p + 2) % 3)])
                                })
                                .collect(),
                        )
                })
                .collect(),
        );
    let mut buf = bytes::BytesMut::new();
    let _ = resp.encode(&mut buf, 12);
    buf.freeze()
}
