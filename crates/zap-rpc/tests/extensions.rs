//! The extensions between Rust peers: negotiation, error frames, cancellation, deadlines,
//! keepalive, wide procedure ids and goaway. Real servers and clients on loopback.

mod support;

use std::time::{Duration, Instant};

use support::{RawPeer, probe, recv};
use tokio::net::TcpListener;
use zap_discovery::Peer;
use zap_rpc::extension::Extensions;
use zap_rpc::{
    AllowList, ConnectionError, ConnectionOptions, Context, Error, ErrorCode, ErrorKind, Features,
    MessageBuf, Procedure, Status, Wire,
};

const T: Duration = Duration::from_secs(2);

#[tokio::test]
async fn rust_peers_negotiate_every_feature() {
    let server = support::server("srv").await;
    let client = support::client(&[&server]).await;
    client.call("Echo", MessageBuf::empty()).await.unwrap();
    let conns = client.connections();
    assert_eq!(conns.len(), 1);
    assert_eq!(conns[0].wire(), Wire::Rust(Features::ALL));
    assert_eq!(conns[0].peer().node_id, "srv");
    assert_eq!(server.connections()[0].wire, Wire::Rust(Features::ALL));
}

#[tokio::test]
async fn features_in_force_are_those_both_offered() {
    let server = support::server("srv").await;
    let offer = Features::ALL.without(Features::WIDE_IDS | Features::CANCEL);
    let client =
        support::client_with(&[&server], ConnectionOptions::new().with_features(offer)).await;
    // Without wide ids the call travels by opcode; errors still come back as frames.
    let r = client
        .call("Add1", MessageBuf::with_u32(1, 0))
        .await
        .unwrap();
    assert_eq!(support::root_u32(&r), 2);
    let err = client.call("Fail", MessageBuf::empty()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::HandlerError);
    assert_eq!(client.connections()[0].wire(), Wire::Rust(offer));
    assert_eq!(server.connections()[0].wire, Wire::Rust(offer));
}

#[tokio::test]
async fn handler_errors_cross_the_wire_with_code_and_text() {
    let server = support::server("srv").await;
    let client = support::client(&[&server]).await;
    let started = Instant::now();
    let err = client.call("Fail", MessageBuf::empty()).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_millis(100));
    let status = err.status().expect("a remote status");
    assert_eq!(status.code(), ErrorCode::HandlerError);
    assert_eq!(status.message(), "requested failure");
    assert!(
        matches!(err, Error::Remote { ref peer, .. } if peer.starts_with("srv@")),
        "{err}"
    );
}

#[tokio::test]
async fn unknown_procedures_and_verifier_rejections_answer_within_100ms() {
    let server = support::builder("srv")
        .verifier(AllowList::new().allow("Echo", ["trusted"]))
        .start()
        .await
        .unwrap();
    let stranger = support::client(&[&server]).await;
    // Warm the connection so the timings measure the answer, not the dial.
    let _ = stranger.call("Echo", MessageBuf::empty()).await;

    let started = Instant::now();
    let err = stranger
        .call("NoSuchThing", MessageBuf::empty())
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_millis(100),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(err.kind(), ErrorKind::UnknownProcedure, "{err}");

    let started = Instant::now();
    let err = stranger
        .call("Echo", MessageBuf::empty())
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_millis(100),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");

    let trusted = zap_rpc::Client::connect(
        "_zaptest._tcp",
        support::options(server.tcp_addr()).node_id("trusted"),
    )
    .await
    .unwrap();
    trusted.call("Echo", MessageBuf::empty()).await.unwrap();
}

#[tokio::test]
async fn dropping_a_call_cancels_its_handler_within_50ms() {
    let (started_tx, mut started_rx) = probe();
    let (cancelled_tx, mut cancelled_rx) = probe();
    let server = support::builder("srv")
        .register("Wait", move |ctx: Context, _: MessageBuf| {
            let (started_tx, cancelled_tx) = (started_tx.clone(), cancelled_tx.clone());
            async move {
                let _ = started_tx.send(());
                ctx.cancelled().await;
                let _ = cancelled_tx.send(Instant::now());
                Err::<MessageBuf, _>(Status::cancelled("gone"))
            }
        })
        .unwrap()
        .start()
        .await
        .unwrap();
    let client = support::client(&[&server]).await;
    let call = tokio::spawn({
        let client = client.clone();
        async move { client.call("Wait", MessageBuf::empty()).await }
    });
    recv(&mut started_rx, T, "handler start").await;
    let dropped = Instant::now();
    call.abort();
    let seen = recv(&mut cancelled_rx, T, "handler cancellation").await;
    let lag = seen.saturating_duration_since(dropped);
    assert!(lag < Duration::from_millis(50), "cancellation took {lag:?}");
    // The server counts it and keeps serving.
    client.call("Echo", MessageBuf::empty()).await.unwrap();
}

#[tokio::test]
async fn the_callers_deadline_reaches_the_handler() {
    let (tx, mut rx) = probe();
    let server = support::builder("srv")
        .register("Remaining", move |ctx: Context, _: MessageBuf| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(ctx.remaining());
                Ok::<_, Status>(MessageBuf::empty())
            }
        })
        .unwrap()
        .start()
        .await
        .unwrap();
    let client = support::client(&[&server]).await;
    client
        .call_with_timeout(
            "Remaining",
            MessageBuf::empty(),
            Some(Duration::from_millis(800)),
        )
        .await
        .unwrap();
    let left = recv(&mut rx, T, "remaining").await.expect("a deadline");
    assert!(
        left <= Duration::from_millis(801) && left > Duration::from_millis(500),
        "{left:?}"
    );

    // No timeout on the call: the handler sees no deadline.
    client
        .call_with_timeout("Remaining", MessageBuf::empty(), None)
        .await
        .unwrap();
    assert_eq!(recv(&mut rx, T, "remaining").await, None);
}

#[tokio::test]
async fn a_handler_past_its_deadline_is_stopped_and_answers_deadline_exceeded() {
    let server = support::builder("srv")
        .handler_timeout(Duration::from_millis(100))
        .start()
        .await
        .unwrap();
    let client = support::client(&[&server]).await;
    let started = Instant::now();
    let err = client
        .call("Sleep", MessageBuf::with_u32(5_000, 0))
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        err.status().map(Status::code),
        Some(ErrorCode::DeadlineExceeded),
        "{err}"
    );
}

/// A peer that completes a Rust handshake (all features) and then says nothing more.
async fn silent_rust_peer() -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut peer = RawPeer { stream };
        peer.frame(T).await.unwrap();
        let mut hs = zap_wire::node::Handshake::encode(b"silent", zap_wire::Version::V1)
            .unwrap()
            .to_vec();
        hs.extend_from_slice(&Extensions::new(Features::ALL, 1 << 20).encode());
        peer.send(&support::frame(&hs)).await;
        // Never read, never write: a hung process or a cut cable.
        let _ = peer.closed_within(Duration::from_secs(5)).await;
    });
    (addr, task)
}

#[tokio::test]
async fn keepalive_fails_calls_on_a_dead_peer() {
    let (addr, _peer) = silent_rust_peer().await;
    let opts = ConnectionOptions::new()
        .with_keepalive(Duration::from_millis(50), Duration::from_millis(150));
    let conn = zap_rpc::Connection::connect(
        &zap_rpc::TcpDialer::new(),
        &Peer::new(addr),
        "caller",
        &opts,
    )
    .await
    .unwrap();
    assert!(conn.wire().has(Features::KEEPALIVE));
    let started = Instant::now();
    let err = conn
        .call("Sleep", MessageBuf::with_u32(10, 0), None)
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert!(
        matches!(
            err,
            Error::Connection {
                reason: ConnectionError::KeepaliveTimeout(_),
                ..
            }
        ),
        "{err}"
    );
    assert!(took < Duration::from_millis(600), "{took:?}");
}

#[tokio::test]
async fn keepalive_keeps_an_idle_connection_alive() {
    let opts = ConnectionOptions::new()
        .with_keepalive(Duration::from_millis(20), Duration::from_millis(80));
    let server = support::builder("srv")
        .connection_options(opts.clone())
        .start()
        .await
        .unwrap();
    let client = support::client_with(&[&server], opts).await;
    client.call("Echo", MessageBuf::empty()).await.unwrap();
    // Idle for several keepalive timeouts: pings must carry the connection through.
    tokio::time::sleep(Duration::from_millis(400)).await;
    client.call("Echo", MessageBuf::empty()).await.unwrap();
    assert_eq!(server.stats().connections_accepted, 1);
    assert!(client.connections()[0].is_usable());
}

#[tokio::test]
async fn colliding_opcodes_work_by_wide_id_and_refuse_legacy_calls() {
    // "prompts/get" and "kms.kv.list" share opcode 0x1200 (reference §3.1).
    let refused = support::builder("srv")
        .register("prompts/get", |_: Context, _: MessageBuf| async {
            Ok::<_, Status>(MessageBuf::with_u32(1, 0))
        })
        .unwrap()
        .register("kms.kv.list", |_: Context, _: MessageBuf| async {
            Ok::<_, Status>(MessageBuf::with_u32(2, 0))
        });
    assert!(matches!(
        refused,
        Err(Error::OpcodeCollision { opcode: 0x1200, .. })
    ));

    let server = support::builder("srv")
        .allow_opcode_collisions(true)
        .register("prompts/get", |_: Context, _: MessageBuf| async {
            Ok::<_, Status>(MessageBuf::with_u32(1, 0))
        })
        .unwrap()
        .register("kms.kv.list", |_: Context, _: MessageBuf| async {
            Ok::<_, Status>(MessageBuf::with_u32(2, 0))
        })
        .unwrap()
        .start()
        .await
        .unwrap();
    let wide = support::client(&[&server]).await;
    let a = wide.call("prompts/get", MessageBuf::empty()).await.unwrap();
    let b = wide.call("kms.kv.list", MessageBuf::empty()).await.unwrap();
    assert_eq!((support::root_u32(&a), support::root_u32(&b)), (1, 2));

    let legacy = support::client_with(
        &[&server],
        ConnectionOptions::new().with_features(Features::ALL.without(Features::WIDE_IDS)),
    )
    .await;
    let err = legacy
        .call("kms.kv.list", MessageBuf::empty())
        .await
        .unwrap_err();
    assert_eq!(
        err.status().map(Status::code),
        Some(ErrorCode::AmbiguousOpcode),
        "{err}"
    );
    let err = legacy
        .call(Procedure::msg_type(0x12), MessageBuf::empty())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnknownProcedure);
}

#[tokio::test]
async fn graceful_shutdown_drains_calls_and_sends_callers_elsewhere() {
    let (tx, mut rx) = probe();
    let slow = support::builder("a")
        .register("Hold", move |_: Context, _: MessageBuf| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(());
                tokio::time::sleep(Duration::from_millis(300)).await;
                Ok::<_, Status>(MessageBuf::with_u32(1, 0))
            }
        })
        .unwrap()
        .start()
        .await
        .unwrap();
    let other = support::server("b").await;
    let client = support::client(&[&slow, &other]).await;
    // Connect to both.
    for _ in 0..2 {
        client.call("Echo", MessageBuf::empty()).await.unwrap();
    }
    // Only `a` has `Hold`: call it through a client of `a` alone.
    let holder = support::client(&[&slow]).await;
    let held = tokio::spawn(async move { holder.call("Hold", MessageBuf::empty()).await });
    recv(&mut rx, T, "hold started").await;
    let stopping = tokio::spawn(slow.shutdown(Duration::from_secs(2)));
    // While `a` drains, every new call lands on `b` (or is refused by `a` as overloaded
    // and retried on `b`).
    for i in 0..20 {
        let r = client
            .call("Add1", MessageBuf::with_u32(i, 0))
            .await
            .unwrap();
        assert_eq!(support::root_u32(&r), i + 1);
    }
    let held = held.await.unwrap().unwrap();
    assert_eq!(support::root_u32(&held), 1);
    let report = stopping.await.unwrap();
    assert!(report.drained, "{report:?}");
}

#[tokio::test]
async fn shutdown_cancels_calls_still_running_after_the_grace_period() {
    let (tx, mut rx) = probe();
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
    let client = support::client(&[&server]).await;
    let call = tokio::spawn({
        let client = client.clone();
        async move { client.call("Block", MessageBuf::empty()).await }
    });
    recv(&mut rx, T, "block started").await;
    let report = server.shutdown(Duration::from_millis(100)).await;
    assert!(!report.drained);
    assert_eq!(report.abandoned, 1);
    let err = tokio::time::timeout(T, call)
        .await
        .unwrap()
        .unwrap()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connection, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_stops_reading_under_load_does_not_time_its_peer_out() {
    // One handler slot and a one-request queue: the third call stays unread in the socket
    // while the first two run, far longer than the keepalive timeout.
    let opts = ConnectionOptions::new()
        .with_keepalive(Duration::from_millis(20), Duration::from_millis(60))
        .with_max_in_flight(1);
    let server = support::builder("srv")
        .connection_options(opts.clone())
        .start()
        .await
        .unwrap();
    let client = support::client_with(&[&server], opts).await;
    client.call("Echo", MessageBuf::empty()).await.unwrap();
    let calls: Vec<_> = (0..3)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.call("Sleep", MessageBuf::with_u32(150, 0)).await })
        })
        .collect();
    for c in calls {
        c.await.unwrap().unwrap();
    }
    assert_eq!(
        server.stats().connections_accepted,
        1,
        "the connection survived"
    );
}
