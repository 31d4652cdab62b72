//! Handshakes and channels over real TCP sockets on loopback.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use zap_zwing::sizes::{HANDSHAKE_INIT_LEN, HANDSHAKE_RESPONSE_LEN};
use zap_zwing::wire::frame_header;
use zap_zwing::{
    Config, Error, Identity, Initiator, Listener, ListenerOptions, ReplayCache, accept, dial,
};

/// Every wait in these tests is bounded by this, so a bug fails a test instead of hanging it.
const LIMIT: Duration = Duration::from_secs(10);

fn identity() -> Arc<Identity> {
    Arc::new(Identity::generate().unwrap())
}

async fn bounded<T>(fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, fut)
        .await
        .expect("test step timed out")
}

#[tokio::test]
async fn pinned_round_trip_over_tcp() {
    let server_id = identity();
    let client_id = identity();
    let server_cfg =
        Config::new(server_id.clone()).with_expected_remote(client_id.public().clone());
    let client_cfg =
        Config::new(client_id.clone()).with_expected_remote(server_id.public().clone());
    let mut listener = Listener::bind("127.0.0.1:0", server_cfg).await.unwrap();
    let addr = listener.local_addr();

    let server = tokio::spawn(async move {
        let (mut stream, peer) = bounded(listener.accept()).await.unwrap();
        assert_eq!(stream.remote_identity(), client_id.public());
        assert_eq!(Some(peer), stream.get_ref().peer_addr().ok());
        assert!(!stream.peer_confirmed());
        // Echo everything back.
        let mut buf = vec![0u8; 300_000];
        stream.read_exact(&mut buf).await.unwrap();
        assert!(stream.peer_confirmed());
        stream.write_all(&buf).await.unwrap();
        stream.flush().await.unwrap();
        listener.stats()
    });

    let mut client = bounded(dial(addr, &client_cfg)).await.unwrap();
    assert_eq!(client.remote_identity(), server_id.public());
    assert!(client.peer_confirmed());
    let sent: Vec<u8> = (0..300_000u32).map(|i| (i * 31 % 251) as u8).collect();
    client.write_all(&sent).await.unwrap();
    client.flush().await.unwrap();
    let mut back = vec![0u8; sent.len()];
    bounded(client.read_exact(&mut back)).await.unwrap();
    assert_eq!(back, sent);
    let stats = bounded(server).await.unwrap();
    assert_eq!(stats.succeeded, 1);
    assert_eq!(stats.failed, 0);
}

#[tokio::test]
async fn a_client_pinning_another_server_refuses_it() {
    let server_id = identity();
    let someone_else = identity();
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    let server_cfg = Config::new(server_id.clone());
    let server = tokio::spawn(async move {
        let (conn, _) = tcp.accept().await.unwrap();
        let mut stream = accept(conn, &server_cfg).await.unwrap();
        // The client hangs up after refusing us: the server sees end of file, and never
        // learns of a live peer.
        let mut buf = [0u8; 1];
        let n = bounded(stream.read(&mut buf)).await.unwrap();
        (n, stream.peer_confirmed())
    });
    let client_cfg = Config::new(identity()).with_expected_remote(someone_else.public().clone());
    match bounded(dial(addr, &client_cfg)).await {
        Err(Error::IdentityMismatch { fingerprint }) => {
            assert_eq!(fingerprint, server_id.fingerprint());
        }
        other => panic!("expected IdentityMismatch, got {other:?}"),
    }
    assert_eq!(bounded(server).await.unwrap(), (0, false));
}

#[tokio::test]
async fn a_server_with_an_allow_list_refuses_others_promptly() {
    let allowed = identity();
    let stranger = identity();
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    let server_cfg = Config::new(identity()).with_allowed_remotes([allowed.public().clone()]);
    let server = tokio::spawn(async move {
        let (conn, _) = tcp.accept().await.unwrap();
        accept(conn, &server_cfg).await.map(|_| ())
    });
    let started = Instant::now();
    let client = bounded(dial(addr, &Config::new(stranger.clone()))).await;
    // The refusal reaches the client as a closed connection, not as a timeout.
    assert!(matches!(client, Err(Error::HandshakeClosed)), "{client:?}");
    assert!(started.elapsed() < zap_zwing::DEFAULT_HANDSHAKE_TIMEOUT);
    match bounded(server).await.unwrap() {
        Err(Error::IdentityMismatch { fingerprint }) => {
            assert_eq!(fingerprint, stranger.fingerprint())
        }
        other => panic!("expected IdentityMismatch, got {other:?}"),
    }
}

#[tokio::test]
async fn a_silent_client_blocks_nobody_and_is_dropped_at_the_timeout() {
    // Long enough for a real handshake on a loaded machine in a debug build.
    let timeout = Duration::from_secs(2);
    let server_cfg = Config::new(identity()).with_handshake_timeout(Some(timeout));
    let mut listener = Listener::from_tcp(
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
        server_cfg,
        ListenerOptions::default().with_max_concurrent_handshakes(4),
    )
    .unwrap();
    let addr = listener.local_addr();

    // Connects and says nothing.
    let silent = TcpStream::connect(addr).await.unwrap();
    let silent_started = Instant::now();

    // A real client arriving later is served while the silent one still waits.
    let client_cfg = Config::new(identity());
    let (client, accepted) = tokio::join!(dial(addr, &client_cfg), bounded(listener.accept()));
    let mut client = client.unwrap();
    let (mut served, _) = accepted.unwrap();
    let mut probe = [0u8; 16];
    assert!(
        matches!(silent.try_read(&mut probe), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "the silent connection is still open while the real client is served"
    );
    client.write_all(b"hi").await.unwrap();
    client.flush().await.unwrap();
    let mut got = [0u8; 2];
    bounded(served.read_exact(&mut got)).await.unwrap();
    assert_eq!(&got, b"hi");

    // The silent client is cut off once its handshake times out.
    let mut silent = silent;
    let n = bounded(silent.read(&mut probe)).await.unwrap_or(0);
    assert_eq!(n, 0);
    assert!(silent_started.elapsed() >= timeout);
    assert_eq!(listener.stats().succeeded, 1);
    assert_eq!(listener.stats().failed, 1);
}

#[tokio::test]
async fn connect_times_out_against_a_mute_server() {
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    // Accepts the TCP connection and never answers.
    let mute = tokio::spawn(async move {
        let (mut conn, _) = tcp.accept().await.unwrap();
        let mut sink = Vec::new();
        let _ = conn.read_to_end(&mut sink).await;
        sink.len()
    });
    // Long enough to sign the HandshakeInit on a loaded machine in a debug build.
    let limit = Duration::from_millis(1500);
    let cfg = Config::new(identity()).with_handshake_timeout(Some(limit));
    let started = Instant::now();
    let result = bounded(dial(addr, &cfg)).await;
    assert!(
        matches!(result, Err(Error::HandshakeTimeout(d)) if d == limit),
        "{result:?}"
    );
    assert!(started.elapsed() >= limit);
    assert!(started.elapsed() < limit * 3);
    // The client closed the socket on timeout; the mute server saw the whole init.
    assert_eq!(bounded(mute).await.unwrap(), 4 + HANDSHAKE_INIT_LEN);
}

fn framed(payload: &[u8]) -> Vec<u8> {
    let mut out = frame_header(payload.len()).unwrap().to_vec();
    out.extend_from_slice(payload);
    out
}

#[tokio::test]
async fn the_replay_cache_refuses_a_second_copy_of_an_init() {
    let cache = Arc::new(ReplayCache::new(Duration::from_secs(60), 1024));
    let server_cfg = Config::new(identity()).with_replay_cache(cache.clone());
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let mut outcomes = Vec::new();
        for _ in 0..2 {
            let (conn, _) = tcp.accept().await.unwrap();
            outcomes.push(accept(conn, &server_cfg).await.map(|_| ()));
        }
        outcomes
    });

    let init = Initiator::new(identity()).unwrap();
    let recorded = framed(init.message());

    // The original gets a response.
    let mut first = TcpStream::connect(addr).await.unwrap();
    first.write_all(&recorded).await.unwrap();
    let mut response = vec![0u8; 4 + HANDSHAKE_RESPONSE_LEN];
    bounded(first.read_exact(&mut response)).await.unwrap();

    // The replayed copy is refused without a response.
    let mut second = TcpStream::connect(addr).await.unwrap();
    second.write_all(&recorded).await.unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(bounded(second.read(&mut buf)).await.unwrap_or(0), 0);

    let outcomes = bounded(server).await.unwrap();
    assert!(outcomes[0].is_ok());
    assert!(matches!(outcomes[1], Err(Error::Replayed)));
    assert_eq!(cache.len(), 1);
}

#[tokio::test]
async fn a_replayed_init_without_a_cache_never_proves_a_live_peer() {
    let server_cfg = Config::new(identity());
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    let victim = identity();
    let recorded = framed(Initiator::new(victim.clone()).unwrap().message());
    let server = tokio::spawn(async move {
        let (conn, _) = tcp.accept().await.unwrap();
        let mut stream = accept(conn, &server_cfg).await.unwrap();
        let claimed = stream.remote_identity().clone();
        let mut buf = [0u8; 64];
        let read = bounded(stream.read(&mut buf)).await;
        (
            claimed,
            read.map_err(|e| Error::from_io(&e).map(|z| z.to_string())),
            stream.peer_confirmed(),
        )
    });
    // The attacker replays the victim's init, cannot read the response, and guesses.
    let mut attacker = TcpStream::connect(addr).await.unwrap();
    attacker.write_all(&recorded).await.unwrap();
    let mut response = vec![0u8; 4 + HANDSHAKE_RESPONSE_LEN];
    bounded(attacker.read_exact(&mut response)).await.unwrap();
    let mut forged = frame_header(40).unwrap().to_vec();
    forged.extend_from_slice(&[0xAB; 40]);
    attacker.write_all(&forged).await.unwrap();

    let (claimed, read, confirmed) = bounded(server).await.unwrap();
    assert_eq!(&claimed, victim.public());
    assert!(read.is_err(), "a forged record must not read as data");
    assert!(!confirmed);
}

#[tokio::test]
async fn pre_authentication_reads_are_bounded() {
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    let cfg = Config::new(identity());
    let server = tokio::spawn(async move {
        let mut outcomes = Vec::new();
        for _ in 0..3 {
            let (conn, _) = tcp.accept().await.unwrap();
            outcomes.push(accept(conn, &cfg).await.map(|_| ()));
        }
        outcomes
    });
    // A 2 MiB announcement, a 6578-byte one and an empty frame: each refused from the
    // header alone, before any payload is read or buffered.
    for header in [0x0020_0000u32, HANDSHAKE_INIT_LEN as u32 + 1, 0] {
        let mut c = TcpStream::connect(addr).await.unwrap();
        c.write_all(&header.to_be_bytes()).await.unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(bounded(c.read(&mut buf)).await.unwrap_or(0), 0);
    }
    let outcomes = bounded(server).await.unwrap();
    assert!(matches!(
        outcomes[0],
        Err(Error::MessageTooLarge(0x0020_0000))
    ));
    assert!(matches!(outcomes[1], Err(Error::InvalidWireFormat(_))));
    assert!(matches!(outcomes[2], Err(Error::InvalidWireFormat(_))));
}

/// Relays TCP traffic and flips one bit of the first record the client sends after the
/// handshake.
async fn tampering_proxy(upstream: std::net::SocketAddr) -> std::net::SocketAddr {
    let front = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = front.local_addr().unwrap();
    tokio::spawn(async move {
        let (client, _) = front.accept().await.unwrap();
        let server = TcpStream::connect(upstream).await.unwrap();
        let (mut cr, mut cw) = client.into_split();
        let (mut sr, mut sw) = server.into_split();
        let down = tokio::spawn(async move { tokio::io::copy(&mut sr, &mut cw).await });
        let mut init = vec![0u8; 4 + HANDSHAKE_INIT_LEN];
        cr.read_exact(&mut init).await.unwrap();
        sw.write_all(&init).await.unwrap();
        let mut header = [0u8; 4];
        cr.read_exact(&mut header).await.unwrap();
        let mut record = vec![0u8; u32::from_be_bytes(header) as usize];
        cr.read_exact(&mut record).await.unwrap();
        record[3] ^= 0x40;
        sw.write_all(&header).await.unwrap();
        sw.write_all(&record).await.unwrap();
        let _ = tokio::io::copy(&mut cr, &mut sw).await;
        let _ = down.await;
    });
    addr
}

#[tokio::test]
async fn a_record_tampered_in_transit_is_an_error() {
    let mut listener = Listener::bind("127.0.0.1:0", Config::new(identity()))
        .await
        .unwrap();
    let proxy = tampering_proxy(listener.local_addr()).await;
    let mut client = bounded(dial(proxy, &Config::new(identity())))
        .await
        .unwrap();
    let (mut server, _) = bounded(listener.accept()).await.unwrap();
    client.write_all(b"transfer 100 to alice").await.unwrap();
    client.flush().await.unwrap();
    let mut buf = [0u8; 64];
    let err = bounded(server.read(&mut buf)).await.unwrap_err();
    assert!(matches!(
        Error::from_io(&err),
        Some(Error::CiphertextCorrupted)
    ));
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    // The channel stays failed.
    let again = bounded(server.read(&mut buf)).await.unwrap_err();
    assert!(matches!(
        Error::from_io(&again),
        Some(Error::CiphertextCorrupted)
    ));
}
