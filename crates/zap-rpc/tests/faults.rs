//! Faults: panics, killed and restarted servers, oversized frames, hostile bytes, dead
//! peers, full servers, silent peers. Every call must end, quickly, with an answer or an
//! error, and the server must keep serving.
// The kill test talks to its child process over standard output.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod support;

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};

use support::{RawPeer, frame, vector};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpListener;
use zap_discovery::Peer;
use zap_rpc::{
    Client, ConnectionError, ConnectionOptions, Context, Error, ErrorCode, ErrorKind, MessageBuf,
    Status, TcpDialer,
};

const T: Duration = Duration::from_secs(2);

#[tokio::test]
async fn a_panicking_handler_yields_an_error_and_the_server_lives_on() {
    let server = support::server("srv").await;
    let client = support::client(&[&server]).await;
    for _ in 0..3 {
        let err = client.call("Panic", MessageBuf::empty()).await.unwrap_err();
        assert_eq!(
            err.status().map(Status::code),
            Some(ErrorCode::HandlerError),
            "{err}"
        );
    }
    let r = client
        .call("Add1", MessageBuf::with_u32(41, 0))
        .await
        .unwrap();
    assert_eq!(support::root_u32(&r), 42);
    assert_eq!(server.stats().panics, 3);
    assert_eq!(
        server.stats().connections_accepted,
        1,
        "the connection survived"
    );
}

const CHILD_ENV: &str = "ZAP_RPC_TEST_CHILD_SERVER";

/// The server side of the kill test, run in a child process: prints its address, then a
/// line each time a call starts, and exits on its own after 30 s at the latest.
fn child_server() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let server = support::builder("child")
            .register("Hold", |_: Context, _: MessageBuf| async {
                println!("\nHOLD");
                tokio::time::sleep(Duration::from_secs(30)).await;
                Ok::<_, Status>(MessageBuf::empty())
            })
            .unwrap()
            .start()
            .await
            .unwrap();
        println!("\nADDR {}", server.tcp_addr().unwrap());
        tokio::time::sleep(Duration::from_secs(30)).await;
    });
}

#[test]
fn a_server_killed_mid_call_fails_the_call_within_100ms() {
    if std::env::var_os(CHILD_ENV).is_some() {
        child_server();
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "a_server_killed_mid_call_fails_the_call_within_100ms",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut next = async |prefix: &str| loop {
            let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
                .await
                .expect("the child answers")
                .unwrap()
                .expect("the child is alive");
            // libtest may print its own text before ours on the same line.
            if let Some(at) = line.find(prefix) {
                return line[at + prefix.len()..].trim().to_string();
            }
        };
        let addr: SocketAddr = next("ADDR").await.parse().unwrap();
        let client = Client::connect("_zaptest._tcp", support::options([addr]))
            .await
            .unwrap();
        let call = tokio::spawn({
            let client = client.clone();
            async move {
                let r = client.call("Hold", MessageBuf::empty()).await;
                (r, Instant::now())
            }
        });
        next("HOLD").await;
        let killed = Instant::now();
        child.start_kill().unwrap();
        let (result, failed_at) = tokio::time::timeout(T, call).await.unwrap().unwrap();
        let err = result.unwrap_err();
        let lag = failed_at.saturating_duration_since(killed);
        assert_eq!(err.kind(), ErrorKind::Connection, "{err}");
        assert!(
            lag < Duration::from_millis(100),
            "the call failed {lag:?} after the kill"
        );
        eprintln!("the call failed {lag:?} after the kill: {err}");
        let _ = child.wait().await;
    });
}

#[tokio::test]
async fn after_a_server_restart_the_client_reconnects() {
    let (tx, mut rx) = support::probe();
    let server = support::builder("srv")
        .register("Block", move |ctx: Context, _: MessageBuf| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(());
                ctx.cancelled().await;
                Err::<MessageBuf, _>(Status::cancelled("stopped"))
            }
        })
        .unwrap()
        .start()
        .await
        .unwrap();
    let addr = server.tcp_addr().unwrap();
    let client = support::client(&[&server]).await;
    client.call("Echo", MessageBuf::empty()).await.unwrap();

    let held = tokio::spawn({
        let client = client.clone();
        async move { client.call("Block", MessageBuf::empty()).await }
    });
    // Once the call runs on the server, stop the server abruptly.
    support::recv(&mut rx, T, "block started").await;
    drop(server);
    let err = tokio::time::timeout(T, held)
        .await
        .unwrap()
        .unwrap()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connection, "{err}");
    // While it is down, calls fail with a connection error, not a hang.
    let err = client.call("Echo", MessageBuf::empty()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connection, "{err}");

    let again = support::builder("srv")
        .listen(addr)
        .start()
        .await
        .expect("rebind the same port");
    for i in 0..5 {
        let r = client
            .call("Add1", MessageBuf::with_u32(i, 0))
            .await
            .unwrap();
        assert_eq!(support::root_u32(&r), i + 1);
    }
    assert_eq!(again.stats().connections_accepted, 1);
}

#[tokio::test]
async fn a_call_whose_connection_fails_before_sending_moves_to_another_peer() {
    // A port nobody listens on (bound, then released).
    let dead = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let live = support::server("live").await;
    let client = Client::connect(
        "_zaptest._tcp",
        support::options([dead, live.tcp_addr().unwrap()]),
    )
    .await
    .unwrap();
    for i in 0..10 {
        let r = client
            .call("Add1", MessageBuf::with_u32(i, 0))
            .await
            .unwrap();
        assert_eq!(support::root_u32(&r), i + 1);
    }
    assert_eq!(live.stats().calls, 10);
}

#[tokio::test]
async fn an_oversized_frame_closes_that_connection_before_its_body_is_read() {
    let server = support::builder("srv")
        .connection_options(ConnectionOptions::new().with_max_frame(64 * 1024))
        .start()
        .await
        .unwrap();
    let addr = server.tcp_addr().unwrap();
    let mut go = RawPeer::connect(addr).await;
    go.send(&vector("captured-dialer-handshake-node-b")).await;
    go.frame(T).await.unwrap();
    // Announce 1 GiB and send nothing more: the server must hang up without waiting for
    // (or reserving memory for) the body.
    go.send(&(1u32 << 30).to_le_bytes()).await;
    assert!(go.closed_within(T).await, "the connection stayed open");
    // Just over the limit is refused too; at the limit is served.
    let mut go = RawPeer::connect(addr).await;
    go.send(&vector("captured-dialer-handshake-node-b")).await;
    go.frame(T).await.unwrap();
    go.send(&(64u32 * 1024 + 1).to_le_bytes()).await;
    assert!(go.closed_within(T).await);
    // Other connections are unaffected.
    let client = support::client(&[&server]).await;
    let big = {
        let mut b = zap_wire::Builder::new();
        let mut root = b.object(8);
        root.set_bytes(0, &vec![7u8; 60 * 1024]);
        root.finish_root();
        MessageBuf::from_builder(&mut b, 0).unwrap()
    };
    assert_eq!(client.call("Echo", big.clone()).await.unwrap(), big);
    // A request the server would refuse fails locally, before it is sent.
    let huge = {
        let mut b = zap_wire::Builder::new();
        let mut root = b.object(8);
        root.set_bytes(0, &vec![7u8; 70 * 1024]);
        root.finish_root();
        MessageBuf::from_builder(&mut b, 0).unwrap()
    };
    let err = client.call("Echo", huge).await.unwrap_err();
    assert!(
        matches!(err, Error::FrameTooLarge { max: 65536, .. }),
        "{err}"
    );
    client.call("Echo", MessageBuf::empty()).await.unwrap();
}

/// SplitMix64: a seeded stream of bytes, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_bytes_on_the_socket_never_crash_the_server() {
    let server = support::builder("srv")
        .connection_options(
            ConnectionOptions::new()
                .with_max_frame(64 * 1024)
                .with_handshake_timeout(Duration::from_millis(200)),
        )
        .start()
        .await
        .unwrap();
    let addr = server.tcp_addr().unwrap();
    let mut rng = Rng(0x5eed);
    let valid_call = vector("captured-call-request");
    let mut tasks = Vec::new();
    for round in 0..300u32 {
        let mode = round % 4;
        let len = (rng.next() % 2048) as usize;
        let mut noise = rng.bytes(len);
        if mode == 3 && !noise.is_empty() {
            // A valid call with a few bytes flipped.
            noise = valid_call.clone();
            for _ in 0..3 {
                let at = (rng.next() as usize) % noise.len();
                noise[at] ^= rng.next() as u8 | 1;
            }
        }
        tasks.push(tokio::spawn(async move {
            let Ok(mut s) = tokio::net::TcpStream::connect(addr).await else {
                return;
            };
            use tokio::io::AsyncWriteExt;
            match mode {
                0 => {}
                1 => {
                    let _ = s
                        .write_all(&vector("captured-dialer-handshake-node-b"))
                        .await;
                }
                _ => {
                    let mut hs = zap_wire::node::Handshake::encode(b"fuzz", zap_wire::Version::V1)
                        .unwrap()
                        .to_vec();
                    hs.extend_from_slice(
                        &zap_rpc::extension::Extensions::new(zap_rpc::Features::ALL, 0).encode(),
                    );
                    let _ = s.write_all(&frame(&hs)).await;
                }
            }
            let _ = s.write_all(&noise).await;
            let mut peer = RawPeer { stream: s };
            // Read whatever comes back until the server closes or goes quiet.
            let _ = peer.closed_within(Duration::from_millis(300)).await;
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let client = support::client(&[&server]).await;
    let r = client
        .call("Add1", MessageBuf::with_u32(1, 0))
        .await
        .unwrap();
    assert_eq!(support::root_u32(&r), 2);
}

#[tokio::test]
async fn a_full_server_refuses_connections_at_once() {
    let server = support::builder("srv")
        .max_connections(1)
        .start()
        .await
        .unwrap();
    let first = support::client(&[&server]).await;
    first.call("Echo", MessageBuf::empty()).await.unwrap();
    let started = Instant::now();
    let second = support::client(&[&server]).await;
    let err = second.call("Echo", MessageBuf::empty()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connection, "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert!(server.stats().connections_rejected >= 1);
    first.call("Echo", MessageBuf::empty()).await.unwrap();
}

#[tokio::test]
async fn silent_peers_time_out_the_handshake_on_both_sides() {
    // A server facing a dialer that never sends its handshake closes it.
    let server = support::builder("srv")
        .connection_options(
            ConnectionOptions::new().with_handshake_timeout(Duration::from_millis(100)),
        )
        .start()
        .await
        .unwrap();
    let mut mute = RawPeer::connect(server.tcp_addr().unwrap()).await;
    assert!(mute.closed_within(T).await);

    // A dialer facing an acceptor that never answers gives up (Go's dialer waits forever).
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let _hold = tokio::spawn(async move {
        let (s, _) = listener.accept().await.unwrap();
        tokio::time::sleep(Duration::from_secs(5)).await;
        drop(s);
    });
    let started = Instant::now();
    let err = zap_rpc::Connection::connect(
        &TcpDialer::new(),
        &Peer::new(addr),
        "caller",
        &ConnectionOptions::new().with_handshake_timeout(Duration::from_millis(100)),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Connection {
                reason: ConnectionError::HandshakeTimeout(_),
                ..
            }
        ),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn a_peer_with_another_node_id_than_discovery_announced_is_refused() {
    let server = support::server("real-id").await;
    let peer = Peer::new(server.tcp_addr().unwrap()).with_node_id("expected-id");
    let err = zap_rpc::Connection::connect(
        &TcpDialer::new(),
        &peer,
        "caller",
        &ConnectionOptions::new(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Connection {
                reason: ConnectionError::PeerIdMismatch { .. },
                ..
            }
        ),
        "{err}"
    );
}
