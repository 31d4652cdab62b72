//! An in-process TCP fault proxy: it listens on one address and forwards every
//! connection to a target, and a test can cut it silently (a partition), heal it, reset
//! every connection through it, and read back the bytes that crossed it.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// What the proxy does with bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Forward both ways.
    Pass,
    /// Keep every socket open and forward nothing (bytes and FINs are held, and flow
    /// again on heal): a silent partition.
    Blackhole,
}

/// The bytes one proxied connection carried, up to 64 KiB each way.
#[derive(Debug, Clone, Default)]
pub struct Recording {
    pub client_to_server: Vec<u8>,
    pub server_to_client: Vec<u8>,
}

const RECORD_LIMIT: usize = 64 * 1024;

struct State {
    mode: watch::Sender<Mode>,
    target: SocketAddr,
    resets: Mutex<CancellationToken>,
    recordings: Mutex<Vec<Arc<Mutex<Recording>>>>,
}

pub struct FaultProxy {
    pub addr: SocketAddr,
    state: Arc<State>,
    stop: CancellationToken,
}

impl FaultProxy {
    /// A proxy on `ip` (any free port) in front of `target`.
    pub async fn start(ip: IpAddr, target: SocketAddr) -> Self {
        let listener = TcpListener::bind(SocketAddr::new(ip, 0))
            .await
            .expect("bind proxy");
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State {
            mode: watch::channel(Mode::Pass).0,
            target,
            resets: Mutex::new(CancellationToken::new()),
            recordings: Mutex::new(Vec::new()),
        });
        let stop = CancellationToken::new();
        tokio::spawn(accept(listener, state.clone(), stop.clone()));
        Self { addr, state, stop }
    }

    pub fn blackhole(&self) {
        self.state.mode.send_replace(Mode::Blackhole);
    }

    pub fn heal(&self) {
        self.state.mode.send_replace(Mode::Pass);
    }

    /// Closes every connection through the proxy (new ones still pass).
    pub fn reset(&self) {
        let mut token = self.state.resets.lock().unwrap();
        token.cancel();
        *token = CancellationToken::new();
    }

    /// What each connection so far carried, oldest first.
    pub fn recordings(&self) -> Vec<Recording> {
        self.state
            .recordings
            .lock()
            .unwrap()
            .iter()
            .map(|r| r.lock().unwrap().clone())
            .collect()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.cancel();
        self.reset();
    }
}

async fn accept(listener: TcpListener, state: Arc<State>, stop: CancellationToken) {
    loop {
        let (client, _) = tokio::select! {
            () = stop.cancelled() => return,
            r = listener.accept() => match r { Ok(c) => c, Err(_) => continue },
        };
        let state = state.clone();
        tokio::spawn(async move {
            let Ok(server) = TcpStream::connect(state.target).await else {
                return;
            };
            let _ = client.set_nodelay(true);
            let _ = server.set_nodelay(true);
            let rec = Arc::new(Mutex::new(Recording::default()));
            state.recordings.lock().unwrap().push(rec.clone());
            let reset = state.resets.lock().unwrap().clone();
            let (cr, cw) = client.into_split();
            let (sr, sw) = server.into_split();
            let up = pump(cr, sw, state.mode.subscribe(), rec.clone(), true);
            let down = pump(sr, cw, state.mode.subscribe(), rec, false);
            tokio::select! {
                () = reset.cancelled() => {}
                _ = async { tokio::join!(up, down) } => {}
            }
        });
    }
}

async fn pump<R, W>(
    mut from: R,
    mut to: W,
    mut mode: watch::Receiver<Mode>,
    rec: Arc<Mutex<Recording>>,
    up: bool,
) where
    R: AsyncReadExt + Unpin,
    W: AsyncWriteExt + Unpin,
{
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = from.read(&mut buf).await.unwrap_or(0);
        // Held, not dropped, while the link is cut: a partition that heals delivers.
        if mode.wait_for(|m| *m == Mode::Pass).await.is_err() {
            return;
        }
        if n == 0 {
            let _ = to.shutdown().await;
            return;
        }
        {
            let mut r = rec.lock().unwrap();
            let side = if up {
                &mut r.client_to_server
            } else {
                &mut r.server_to_client
            };
            let room = RECORD_LIMIT.saturating_sub(side.len());
            side.extend_from_slice(&buf[..n.min(room)]);
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
