//! A TCP proxy on loopback that can be stalled: while stalled, it accepts connections and holds
//! every byte, so requests through it hang the way they do behind a wedged network path. Used to
//! make an operator's API calls hang while the API server itself stays healthy.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A running proxy; it stops when dropped.
pub struct StallProxy {
    pub addr: SocketAddr,
    stalled: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl StallProxy {
    /// Listens on `bind` (an address on loopback, port 0 for any) and forwards to `target`.
    pub async fn start(bind: SocketAddr, target: SocketAddr) -> StallProxy {
        let listener = TcpListener::bind(bind).await.expect("bind the stall proxy");
        let addr = listener.local_addr().expect("proxy address");
        let stalled = Arc::new(AtomicBool::new(false));
        let flag = stalled.clone();
        let task = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let flag = flag.clone();
                tokio::spawn(async move {
                    let Ok(outbound) = TcpStream::connect(target).await else { return };
                    let (ri, wi) = inbound.into_split();
                    let (ro, wo) = outbound.into_split();
                    tokio::join!(pump(ri, wo, flag.clone()), pump(ro, wi, flag));
                });
            }
        });
        StallProxy { addr, stalled, task }
    }

    /// From now on, every byte in either direction is held.
    pub fn stall(&self) {
        self.stalled.store(true, Ordering::SeqCst);
    }
}

impl Drop for StallProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn pump(mut from: tokio::net::tcp::OwnedReadHalf, mut to: tokio::net::tcp::OwnedWriteHalf, stalled: Arc<AtomicBool>) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        // Held bytes are never delivered: the connection looks alive and silent.
        while stalled.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
