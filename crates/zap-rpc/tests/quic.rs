//! QUIC: calls with certificate identity, one stream per call (many at once, a slow or
//! stalled one never delaying the others), cancellation by stopping a stream, the stream
//! rules enforced, and the explicit idle timeout. Real QUIC (quinn) on 127.0.0.1 with
//! real certificates (rcgen).

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use support::pki::{Ca, Cluster};
use zap_rpc::extension::Extensions;
use zap_rpc::frame::Frame;
use zap_rpc::stream::code;
use zap_rpc::zap_wire::Version;
use zap_rpc::zap_wire::node::Handshake;
use zap_rpc::{
    Client, ClientOptions, ConnectionError, ConnectionOptions, Context, Error, ErrorKind, Features,
    MessageBuf, NodeIdStatus, ProcedureId, QuicOptions, Server, ServerBuilder, Status,
    TransportAddr,
};

async fn quic_server(cluster: &Cluster, builder: ServerBuilder) -> Server {
    let server = builder.quic(cluster.server.clone()).start().await.unwrap();
    assert!(matches!(server.local_addr(), TransportAddr::Quic(_)));
    server
}

async fn quic_client(server: &Server, options: ClientOptions) -> Client {
    Client::connect(
        "_zaptest._tcp",
        options
            .peers([server.local_addr().clone()])
            .call_timeout(Duration::from_secs(5))
            .connect_attempts(1),
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quic_calls_succeed_with_the_certificate_identity() {
    support::init_tracing();
    let cluster = Cluster::new();
    let (tx, mut seen) = support::probe();
    let server = quic_server(
        &cluster,
        support::builder("server.test")
            .register("WhoAmI", move |ctx: Context, _: MessageBuf| {
                let tx = tx.clone();
                async move {
                    let p = ctx.peer();
                    let _ = tx.send((p.identity().to_string(), p.node_id_status(), p.addr.clone()));
                    Ok::<_, Status>(MessageBuf::empty())
                }
            })
            .unwrap(),
    )
    .await;
    let client = quic_client(
        &server,
        ClientOptions::new()
            .node_id("bob.test")
            .quic(cluster.bob.clone()),
    )
    .await;
    let reply = client
        .call("Add1", MessageBuf::with_u32(1, 0))
        .await
        .unwrap();
    assert_eq!(support::root_u32(&reply), 2);
    client.call("WhoAmI", MessageBuf::empty()).await.unwrap();
    let (identity, status, addr) = support::recv(&mut seen, Duration::from_secs(2), "WhoAmI").await;
    assert_eq!(identity, "bob.test");
    assert_eq!(status, NodeIdStatus::Verified);
    assert!(matches!(addr, TransportAddr::Quic(a) if a.ip().is_loopback()));
    let conn = &client.connections()[0];
    assert_eq!(conn.peer().identity(), "server.test");
    assert!(
        conn.wire().has(Features::ALL),
        "the same extensions as over TCP"
    );

    let err = client.call("Fail", MessageBuf::empty()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::HandlerError);
    client.close();
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_calls_run_on_separate_streams() {
    let cluster = Cluster::new();
    let server = quic_server(&cluster, support::builder("server.test")).await;
    let client = quic_client(&server, ClientOptions::new().quic(cluster.alice.clone())).await;
    client.call("Echo", MessageBuf::empty()).await.unwrap();
    let before = server.stats().streams;

    const CALLS: u32 = 64;
    let started = Instant::now();
    let calls: Vec<_> = (0..CALLS)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move {
                // Each waits 100 ms in its handler: one after the other they would take
                // 6.4 s.
                client
                    .call("Sleep", MessageBuf::with_u32(100, 0))
                    .await
                    .unwrap();
                client
                    .call("Add1", MessageBuf::with_u32(i, 0))
                    .await
                    .unwrap()
            })
        })
        .collect();
    for (i, c) in calls.into_iter().enumerate() {
        assert_eq!(support::root_u32(&c.await.unwrap()), i as u32 + 1);
    }
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(2),
        "64 concurrent calls took {took:?}"
    );
    assert_eq!(
        server.stats().streams - before,
        u64::from(CALLS) * 2,
        "one stream per call"
    );
    assert_eq!(server.stats().connections, 1, "all on one connection");
    assert_eq!(client.connections().len(), 1);
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_call_on_one_stream_does_not_delay_the_others() {
    let cluster = Cluster::new();
    let server = quic_server(&cluster, support::builder("server.test")).await;
    let client = quic_client(&server, ClientOptions::new().quic(cluster.alice.clone())).await;
    client.call("Echo", MessageBuf::empty()).await.unwrap();
    let slow = tokio::spawn({
        let client = client.clone();
        async move {
            let t = Instant::now();
            client
                .call("Sleep", MessageBuf::with_u32(500, 0))
                .await
                .unwrap();
            t.elapsed()
        }
    });
    // A large request and a small one besides the slow call.
    let big = {
        let mut b = zap_rpc::zap_wire::Builder::new();
        let mut root = b.object(8);
        root.set_bytes(0, &vec![7u8; 512 * 1024]);
        root.finish_root();
        MessageBuf::from_builder(&mut b, 0).unwrap()
    };
    let started = Instant::now();
    assert_eq!(client.call("Echo", big.clone()).await.unwrap(), big);
    client
        .call("Echo", MessageBuf::with_u32(3, 0))
        .await
        .unwrap();
    let fast = started.elapsed();
    assert!(
        fast < Duration::from_millis(300),
        "fast calls took {fast:?}"
    );
    assert!(slow.await.unwrap() >= Duration::from_millis(500));
    server.shutdown(Duration::from_secs(1)).await;
}

/// A QUIC client speaking the protocol by hand, for what our client never does.
struct Raw {
    conn: quinn::Connection,
    control: (quinn::SendStream, quinn::RecvStream),
    _endpoint: quinn::Endpoint,
}

impl Raw {
    async fn connect(server: &Server, cluster: &Cluster) -> Self {
        let mut rustls = (**cluster.alice.rustls()).clone();
        rustls.alpn_protocols = vec![zap_rpc::transport::ALPN_QUIC.to_vec()];
        let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(Arc::new(rustls)).unwrap();
        let endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
        let conn = endpoint
            .connect_with(
                quinn::ClientConfig::new(Arc::new(crypto)),
                server.tcp_addr().unwrap(),
                "server.test",
            )
            .unwrap()
            .await
            .unwrap();
        // The control stream: our handshake with an extension block, then theirs.
        let (mut send, mut recv) = conn.open_bi().await.unwrap();
        let mut hs = Handshake::encode(b"raw", Version::V1).unwrap().to_vec();
        hs.extend_from_slice(&Extensions::new(Features::ALL, 0).encode());
        let mut frame = (hs.len() as u32).to_le_bytes().to_vec();
        frame.extend_from_slice(&hs);
        send.write_all(&frame).await.unwrap();
        let mut len = [0u8; 4];
        recv.read_exact(&mut len).await.unwrap();
        let mut body = vec![0u8; u32::from_le_bytes(len) as usize];
        recv.read_exact(&mut body).await.unwrap();
        assert_eq!(
            &body[80..84],
            b"ZAPX",
            "the server answered with its extensions"
        );
        Self {
            conn,
            control: (send, recv),
            _endpoint: endpoint,
        }
    }

    /// A call frame of `procedure`, id `id`, with an empty message.
    fn call_frame(id: u32, procedure: &str, message: MessageBuf) -> Vec<u8> {
        Frame::Call {
            id,
            procedure: ProcedureId::new(procedure).unwrap().hash(),
            timeout_ms: 0,
            message: Bytes::copy_from_slice(message.as_bytes()),
        }
        .encode()
        .to_vec()
    }

    /// Reads the one frame of an answer stream.
    async fn answer(recv: &mut quinn::RecvStream) -> Result<Frame, quinn::ReadToEndError> {
        let all = recv.read_to_end(1 << 20).await?;
        Ok(Frame::decode_rust(Bytes::copy_from_slice(&all[4..])).unwrap())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_request_stream_does_not_block_other_calls() {
    let cluster = Cluster::new();
    let server = quic_server(&cluster, support::builder("server.test")).await;
    let raw = Raw::connect(&server, &cluster).await;

    // Stream A: half of a call, then nothing. On one TCP byte stream every later frame
    // would wait behind it.
    let a_frame = Raw::call_frame(1, "Add1", MessageBuf::with_u32(10, 0));
    let (mut a_send, mut a_recv) = raw.conn.open_bi().await.unwrap();
    a_send
        .write_all(&a_frame[..a_frame.len() / 2])
        .await
        .unwrap();

    // Stream B: a whole call, answered while A is stalled.
    let started = Instant::now();
    let (mut b_send, mut b_recv) = raw.conn.open_bi().await.unwrap();
    b_send
        .write_all(&Raw::call_frame(2, "Add1", MessageBuf::with_u32(20, 0)))
        .await
        .unwrap();
    b_send.finish().unwrap();
    let b = tokio::time::timeout(Duration::from_secs(2), Raw::answer(&mut b_recv))
        .await
        .unwrap()
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
    match b {
        Frame::Response { id: 2, message } => {
            assert_eq!(support::root_u32(&MessageBuf::new(message).unwrap()), 21)
        }
        other => panic!("{other:?}"),
    }

    // A completes once the rest arrives.
    a_send
        .write_all(&a_frame[a_frame.len() / 2..])
        .await
        .unwrap();
    a_send.finish().unwrap();
    match Raw::answer(&mut a_recv).await.unwrap() {
        Frame::Response { id: 1, message } => {
            assert_eq!(support::root_u32(&MessageBuf::new(message).unwrap()), 11)
        }
        other => panic!("{other:?}"),
    }
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_that_break_the_rules_are_refused_and_the_connection_lives_on() {
    let cluster = Cluster::new();
    let (started_tx, mut started) = support::probe();
    let server = quic_server(
        &cluster,
        support::builder("server.test")
            .connection_options(ConnectionOptions::new().with_max_frame(64 * 1024))
            .register("Hold", move |_: Context, _: MessageBuf| {
                let tx = started_tx.clone();
                async move {
                    let _ = tx.send(());
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    Ok::<_, Status>(MessageBuf::empty())
                }
            })
            .unwrap(),
    )
    .await;
    let raw = Raw::connect(&server, &cluster).await;
    let reset_code = |r: Result<Frame, quinn::ReadToEndError>| match r {
        Err(quinn::ReadToEndError::Read(quinn::ReadError::Reset(c))) => c.into_inner(),
        other => panic!("expected a reset, got {other:?}"),
    };

    // A frame over the limit: refused before its body is read.
    let (mut s, mut r) = raw.conn.open_bi().await.unwrap();
    s.write_all(&(1u32 << 20).to_le_bytes()).await.unwrap();
    assert_eq!(
        reset_code(Raw::answer(&mut r).await),
        u64::from(code::FRAME_TOO_LARGE)
    );

    // A ping on a call stream.
    let (mut s, mut r) = raw.conn.open_bi().await.unwrap();
    s.write_all(&Frame::Ping { nonce: 1 }.encode())
        .await
        .unwrap();
    s.finish().unwrap();
    assert_eq!(
        reset_code(Raw::answer(&mut r).await),
        u64::from(code::PROTOCOL)
    );

    // Bytes after the frame.
    let (mut s, mut r) = raw.conn.open_bi().await.unwrap();
    let mut f = Raw::call_frame(5, "Echo", MessageBuf::empty());
    f.push(0);
    s.write_all(&f).await.unwrap();
    s.finish().unwrap();
    assert_eq!(
        reset_code(Raw::answer(&mut r).await),
        u64::from(code::PROTOCOL)
    );

    // Two calls with the same id in flight: the second is refused.
    let (mut s1, mut r1) = raw.conn.open_bi().await.unwrap();
    s1.write_all(&Raw::call_frame(9, "Hold", MessageBuf::empty()))
        .await
        .unwrap();
    s1.finish().unwrap();
    support::recv(&mut started, Duration::from_secs(2), "Hold").await;
    let (mut s2, mut r2) = raw.conn.open_bi().await.unwrap();
    s2.write_all(&Raw::call_frame(9, "Echo", MessageBuf::empty()))
        .await
        .unwrap();
    s2.finish().unwrap();
    assert_eq!(
        reset_code(Raw::answer(&mut r2).await),
        u64::from(code::PROTOCOL)
    );
    assert!(matches!(
        Raw::answer(&mut r1).await.unwrap(),
        Frame::Response { id: 9, .. }
    ));

    // The connection still serves.
    let (mut s, mut r) = raw.conn.open_bi().await.unwrap();
    s.write_all(&Raw::call_frame(10, "Echo", MessageBuf::empty()))
        .await
        .unwrap();
    s.finish().unwrap();
    assert!(matches!(
        Raw::answer(&mut r).await.unwrap(),
        Frame::Response { id: 10, .. }
    ));
    assert_eq!(server.stats().connections, 1);
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_on_the_control_stream_closes_the_connection_with_a_protocol_error() {
    let cluster = Cluster::new();
    let server = quic_server(&cluster, support::builder("server.test")).await;
    let mut raw = Raw::connect(&server, &cluster).await;
    raw.control
        .0
        .write_all(&Raw::call_frame(1, "Echo", MessageBuf::empty()))
        .await
        .unwrap();
    let reason = tokio::time::timeout(Duration::from_secs(2), raw.conn.closed())
        .await
        .expect("the server closes the connection");
    match reason {
        quinn::ConnectionError::ApplicationClosed(c) => {
            assert_eq!(c.error_code.into_inner(), u64::from(code::conn::PROTOCOL));
            assert!(
                String::from_utf8_lossy(&c.reason).contains("control stream"),
                "{c:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_call_stops_its_stream_and_cancels_the_handler() {
    let cluster = Cluster::new();
    let (tx, mut events) = support::probe();
    let server = quic_server(
        &cluster,
        support::builder("server.test")
            .register("Wait", move |ctx: Context, _: MessageBuf| {
                let tx = tx.clone();
                async move {
                    let _ = tx.send("started");
                    ctx.cancelled().await;
                    let _ = tx.send("cancelled");
                    Err::<MessageBuf, _>(Status::cancelled("stopped"))
                }
            })
            .unwrap(),
    )
    .await;
    let client = quic_client(&server, ClientOptions::new().quic(cluster.alice.clone())).await;
    let call = tokio::spawn({
        let client = client.clone();
        async move { client.call("Wait", MessageBuf::empty()).await }
    });
    assert_eq!(
        support::recv(&mut events, Duration::from_secs(2), "start").await,
        "started"
    );
    let dropped = Instant::now();
    call.abort();
    assert_eq!(
        support::recv(&mut events, Duration::from_secs(2), "cancel").await,
        "cancelled"
    );
    assert!(dropped.elapsed() < Duration::from_millis(500));
    // And a timeout does the same.
    let err = client
        .call_with_timeout(
            "Wait",
            MessageBuf::empty(),
            Some(Duration::from_millis(100)),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DeadlineExceeded);
    assert_eq!(
        support::recv(&mut events, Duration::from_secs(2), "start").await,
        "started"
    );
    assert_eq!(
        support::recv(&mut events, Duration::from_secs(2), "cancel").await,
        "cancelled"
    );
    client.call("Echo", MessageBuf::empty()).await.unwrap();
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_certificate_from_another_ca_is_refused_over_quic() {
    let cluster = Cluster::new();
    let server = quic_server(&cluster, support::builder("server.test")).await;
    let rogue = Ca::new("rogue");
    let tls = rogue.client(&rogue.leaf("alice", &["alice.test"]), &cluster.ca);
    let client = quic_client(&server, ClientOptions::new().quic(tls)).await;
    let started = Instant::now();
    let err = client.call("Echo", MessageBuf::empty()).await.unwrap_err();
    assert!(err.to_string().contains("UnknownIssuer"), "{err}");
    assert_eq!(err.kind(), ErrorKind::Connection, "{err}");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(server.stats().connections_accepted, 0);
    let expired = cluster.ca.expired_leaf("alice", &["alice.test"]);
    let client = quic_client(
        &server,
        ClientOptions::new().quic(cluster.ca.client(&expired, &cluster.ca)),
    )
    .await;
    let err = client.call("Echo", MessageBuf::empty()).await.unwrap_err();
    assert!(err.to_string().contains("expired"), "{err}");
    assert_eq!(err.kind(), ErrorKind::Connection, "{err}");
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_connection_closes_after_the_explicit_idle_timeout() {
    let cluster = Cluster::new();
    let quiet = QuicOptions::new()
        .with_idle_timeout(Duration::from_millis(300))
        .with_keep_alive(None);
    let server = support::builder("server.test")
        .quic(cluster.server.clone())
        .quic_options(quiet.clone())
        .connection_options(ConnectionOptions::new().without_keepalive())
        .start()
        .await
        .unwrap();
    let client = quic_client(
        &server,
        ClientOptions::new()
            .quic(cluster.alice.clone())
            .quic_options(quiet)
            .connection_options(ConnectionOptions::new().without_keepalive()),
    )
    .await;
    client.call("Echo", MessageBuf::empty()).await.unwrap();
    let conn = client.connections()[0].clone();
    let started = Instant::now();
    let reason = tokio::time::timeout(Duration::from_secs(3), conn.closed())
        .await
        .expect("closed by the idle timeout");
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "{:?}",
        started.elapsed()
    );
    assert!(reason.to_string().contains("timed out"), "{reason}");
    // The next call reconnects.
    client.call("Echo", MessageBuf::empty()).await.unwrap();

    // With keep-alive on, the same idle time passes without closing.
    let kept = QuicOptions::new()
        .with_idle_timeout(Duration::from_millis(300))
        .with_keep_alive(Some(Duration::from_millis(50)));
    let client = quic_client(
        &server,
        ClientOptions::new()
            .quic(cluster.alice.clone())
            .quic_options(kept)
            .connection_options(ConnectionOptions::new().without_keepalive()),
    )
    .await;
    client.call("Echo", MessageBuf::empty()).await.unwrap();
    let conn = client.connections()[0].clone();
    assert!(
        tokio::time::timeout(Duration::from_millis(800), conn.closed())
            .await
            .is_err(),
        "closed despite keep-alive"
    );
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_go_wire_a_failed_call_resets_its_stream_at_once() {
    let cluster = Cluster::new();
    let server = quic_server(&cluster, support::builder("server.test")).await;
    let client = quic_client(
        &server,
        ClientOptions::new()
            .quic(cluster.alice.clone())
            .connection_options(ConnectionOptions::new().go_wire()),
    )
    .await;
    let reply = client
        .call("Add1", MessageBuf::with_u32(1, 0))
        .await
        .unwrap();
    assert_eq!(support::root_u32(&reply), 2);
    let started = Instant::now();
    let err = client.call("Fail", MessageBuf::empty()).await.unwrap_err();
    // Over TCP a Go-wire caller waits for its timeout; over QUIC the stream says it.
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(
        matches!(
            err,
            Error::Connection {
                reason: ConnectionError::StreamReset(c),
                ..
            } if c == u64::from(code::NO_ANSWER)
        ),
        "{err}"
    );
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_finishes_calls_in_flight_over_quic() {
    let cluster = Cluster::new();
    let (tx, mut started) = support::probe();
    let server = quic_server(
        &cluster,
        support::builder("server.test")
            .register("Hold", move |_: Context, _: MessageBuf| {
                let tx = tx.clone();
                async move {
                    let _ = tx.send(());
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    Ok::<_, Status>(MessageBuf::with_u32(5, 0))
                }
            })
            .unwrap(),
    )
    .await;
    let client = quic_client(&server, ClientOptions::new().quic(cluster.alice.clone())).await;
    // Several calls, so that answers on their own streams race the end of the control
    // stream (QUIC does not order one against the other).
    let calls: Vec<_> = (0..8)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.call("Hold", MessageBuf::empty()).await })
        })
        .collect();
    for _ in 0..calls.len() {
        support::recv(&mut started, Duration::from_secs(2), "Hold").await;
    }
    let report = server.shutdown(Duration::from_secs(2)).await;
    assert!(report.drained, "{report:?}");
    for call in calls {
        let reply = call
            .await
            .unwrap()
            .expect("the call in flight got its answer");
        assert_eq!(support::root_u32(&reply), 5);
    }
}
