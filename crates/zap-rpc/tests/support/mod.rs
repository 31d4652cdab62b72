//! Helpers shared by the integration tests: servers with the procedures the tests need,
//! clients pointed at them, raw sockets that play a Go node, and the captured Go frames.
#![allow(dead_code, unreachable_pub)]

#[cfg(feature = "tls")]
pub mod pki;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use zap_rpc::{
    Client, ClientOptions, ConnectionOptions, Context, MessageBuf, Server, ServerBuilder, Status,
};

/// Logs to the test output when `RUST_LOG` is set.
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// A captured Go frame (or message) from the vectors file, as bytes.
pub fn vector(name: &str) -> Vec<u8> {
    static DOC: OnceLock<serde_json::Value> = OnceLock::new();
    let doc = DOC.get_or_init(|| {
        let text = include_str!("../data/zap-message-vectors.json");
        serde_json::from_str(text).expect("the vectors file is JSON")
    });
    for list in ["tcp_frame_vectors", "message_vectors"] {
        if let Some(v) = doc[list]
            .as_array()
            .and_then(|a| a.iter().find(|v| v["name"] == name))
        {
            return hex::decode(v["hex"].as_str().expect("hex")).expect("valid hex");
        }
    }
    panic!("no vector named {name}");
}

/// The u32 at offset 0 of a message's root.
pub fn root_u32(m: &MessageBuf) -> u32 {
    m.parse()
        .expect("valid message")
        .root()
        .expect("has a root")
        .u32(0)
        .expect("has a u32")
}

/// A server builder on 127.0.0.1:0 without mDNS and with the test procedures:
///
/// * `Echo` returns the request;
/// * `Sleep` sleeps for the u32 at root offset 0 in ms, honouring cancellation;
/// * `Fail` fails with `requested failure`;
/// * `Panic` panics;
/// * `Add1` returns the root u32 plus one (flags kept).
pub fn builder(node_id: &str) -> ServerBuilder {
    Server::builder("_zaptest._tcp")
        .node_id(node_id)
        .no_mdns()
        .register("Echo", |_: Context, req: MessageBuf| async move { Ok::<_, Status>(req) })
        .unwrap()
        .register("Sleep", |ctx: Context, req: MessageBuf| async move {
            let ms = root_u32(&req);
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(u64::from(ms))) => Ok(MessageBuf::empty()),
                _ = ctx.cancelled() => Err(Status::cancelled("sleep cancelled")),
            }
        })
        .unwrap()
        .register("Fail", |_: Context, _: MessageBuf| async move {
            Err::<MessageBuf, _>(Status::handler_error("requested failure"))
        })
        .unwrap()
        .register("Panic", |_: Context, _: MessageBuf| async move {
            if std::hint::black_box(true) {
                panic!("the Panic procedure panics");
            }
            Ok::<_, Status>(MessageBuf::empty())
        })
        .unwrap()
        .register("Add1", |_: Context, req: MessageBuf| async move {
            Ok::<_, Status>(MessageBuf::with_u32(root_u32(&req) + 1, req.flags()))
        })
        .unwrap()
}

/// A started test server.
pub async fn server(node_id: &str) -> Server {
    builder(node_id).start().await.expect("server starts")
}

/// Client options pointing at `addrs`, with short timeouts for tests.
pub fn options(addrs: impl IntoIterator<Item = SocketAddr>) -> ClientOptions {
    ClientOptions::new()
        .static_peers(addrs)
        .call_timeout(Duration::from_secs(5))
        .discover_timeout(Duration::from_secs(2))
}

/// A client of the test service type for these servers.
pub async fn client(servers: &[&Server]) -> Client {
    client_with(servers, ConnectionOptions::new()).await
}

/// Same, with connection options.
pub async fn client_with(servers: &[&Server], conn: ConnectionOptions) -> Client {
    Client::connect(
        "_zaptest._tcp",
        options(servers.iter().filter_map(|s| s.tcp_addr())).connection_options(conn),
    )
    .await
    .expect("client connects")
}

/// A raw TCP socket that plays a Go node: it speaks exactly the captured bytes.
pub struct RawPeer {
    pub stream: TcpStream,
}

impl RawPeer {
    pub async fn connect(addr: SocketAddr) -> Self {
        Self {
            stream: TcpStream::connect(addr).await.expect("connect"),
        }
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write");
    }

    /// Reads one frame (`u32 LE length ∥ payload`), returning the whole frame, at most
    /// `timeout`; `None` on timeout or EOF.
    pub async fn frame(&mut self, timeout: Duration) -> Option<Vec<u8>> {
        tokio::time::timeout(timeout, async {
            let mut len = [0u8; 4];
            self.stream.read_exact(&mut len).await.ok()?;
            let n = u32::from_le_bytes(len) as usize;
            let mut body = vec![0u8; n];
            self.stream.read_exact(&mut body).await.ok()?;
            let mut all = len.to_vec();
            all.extend_from_slice(&body);
            Some(all)
        })
        .await
        .ok()
        .flatten()
    }

    /// True if the peer closes the connection within `timeout`.
    pub async fn closed_within(&mut self, timeout: Duration) -> bool {
        let mut buf = [0u8; 1024];
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.stream.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(_)) => continue,
                Err(_) => return false,
            }
        }
    }
}

/// A frame carrying `payload`.
pub fn frame(payload: &[u8]) -> Vec<u8> {
    let mut f = (payload.len() as u32).to_le_bytes().to_vec();
    f.extend_from_slice(payload);
    f
}

/// A call request frame (Go's call prefix) for `message`.
pub fn request_frame(id: u32, message: &[u8]) -> Vec<u8> {
    let mut p = id.to_le_bytes().to_vec();
    p.extend_from_slice(&1u32.to_le_bytes());
    p.extend_from_slice(message);
    frame(&p)
}

/// A channel whose sender handlers can hold, for observing them from the test.
pub fn probe<T>() -> (mpsc::UnboundedSender<T>, mpsc::UnboundedReceiver<T>) {
    mpsc::unbounded_channel()
}

/// Receives from a probe within `timeout`, failing the test otherwise.
pub async fn recv<T>(rx: &mut mpsc::UnboundedReceiver<T>, timeout: Duration, what: &str) -> T {
    tokio::time::timeout(timeout, rx.recv())
        .await
        .unwrap_or_else(|_| panic!("{what}: nothing within {timeout:?}"))
        .unwrap_or_else(|| panic!("{what}: the sender is gone"))
}

/// A fresh directory under the system temp dir, removed (with what it holds) when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        let n = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!("zr-{name}-{}-{n:x}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        Self(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
