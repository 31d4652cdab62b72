//! Interop with Go nodes, from the frames captured from the real Go `Node` (the vectors
//! file): a Rust server serves a peer that sends exactly those bytes, and a Rust client
//! sends exactly those bytes to a peer that answers like Go.

mod support;

use std::time::Duration;

use support::{RawPeer, frame, request_frame, vector};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;
use zap_discovery::Peer;
use zap_rpc::{
    Connection, ConnectionOptions, Context, ErrorKind, MessageBuf, Procedure, Status, TcpDialer,
    Wire,
};

const T: Duration = Duration::from_secs(2);

/// The handler the capture used: message type 0x42, answers its input plus one with
/// flags 0x4200.
fn go_style_server(node_id: &str) -> zap_rpc::ServerBuilder {
    support::builder(node_id)
        .register_msg_type(
            0x42,
            "increment",
            |_: Context, req: MessageBuf| async move {
                Ok::<_, Status>(MessageBuf::with_u32(support::root_u32(&req) + 1, 0x4200))
            },
        )
        .unwrap()
        .register_msg_type(
            0x00,
            "type-zero",
            |_: Context, req: MessageBuf| async move {
                Ok::<_, Status>(MessageBuf::with_u32(support::root_u32(&req), 0))
            },
        )
        .unwrap()
}

#[tokio::test]
async fn rust_server_answers_the_captured_go_frames_byte_for_byte() {
    support::init_tracing();
    let server = go_style_server("node-a").start().await.unwrap();
    let mut go = RawPeer::connect(server.tcp_addr().unwrap()).await;

    // The Go dialer's handshake; the answer is exactly the Go acceptor's.
    go.send(&vector("captured-dialer-handshake-node-b")).await;
    let answer = go.frame(T).await.expect("handshake answer");
    assert_eq!(answer, vector("captured-acceptor-handshake-node-a"));

    // The captured call (request id 1, msgType 0x42, u32 7) gets 8 back.
    go.send(&vector("captured-call-request")).await;
    let resp = go.frame(T).await.expect("response");
    let mut expected = vector("captured-call-response");
    expected[4..8].copy_from_slice(&1u32.to_le_bytes());
    expected[28..32].copy_from_slice(&8u32.to_le_bytes());
    assert_eq!(hex::encode(&resp), hex::encode(&expected));

    // The same call with request id 7 and input 41 gives exactly the captured response.
    let mut req = vector("captured-call-request");
    req[4..8].copy_from_slice(&7u32.to_le_bytes());
    req[28..32].copy_from_slice(&41u32.to_le_bytes());
    go.send(&req).await;
    assert_eq!(go.frame(T).await.unwrap(), vector("captured-call-response"));

    // Message type 0 is reachable through a call, as in Go (reqID 10, u32 6).
    let mut msg = MessageBuf::with_u32(6, 0).as_bytes().to_vec();
    msg[6..8].copy_from_slice(&0u16.to_le_bytes());
    go.send(&request_frame(10, &msg)).await;
    assert_eq!(
        go.frame(T).await.unwrap(),
        vector("captured-call-response-msgtype0")
    );
    assert_eq!(server.connections()[0].wire, Wire::Go);
    assert_eq!(server.connections()[0].node_id, "node-b");
}

#[tokio::test]
async fn a_go_send_frame_reaches_its_handler_without_a_reply() {
    let (tx, mut rx) = support::probe();
    let server = support::builder("node-a")
        .register_msg_type(0x43, "sink", move |_: Context, req: MessageBuf| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(support::root_u32(&req));
                Ok::<_, Status>(MessageBuf::with_u32(6, 0x0100))
            }
        })
        .unwrap()
        .start()
        .await
        .unwrap();
    let mut go = RawPeer::connect(server.tcp_addr().unwrap()).await;
    go.send(&vector("captured-dialer-handshake-node-b")).await;
    go.frame(T).await.unwrap();
    go.send(&vector("captured-send-frame")).await;
    assert_eq!(support::recv(&mut rx, T, "send handler").await, 9);
    // Go would answer with an uncorrelated plain reply; we do not (docs/wire.md).
    assert!(go.frame(Duration::from_millis(200)).await.is_none());
}

#[tokio::test]
async fn a_plain_message_with_zero_flags_is_not_mistaken_for_a_call() {
    // Go reads bytes 4..8 of such a message (01 00 00 00) as a call flag and drops it.
    let (tx, mut rx) = support::probe();
    let server = support::builder("node-a")
        .register_msg_type(0, "zero", move |_: Context, req: MessageBuf| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(support::root_u32(&req));
                Ok::<_, Status>(req)
            }
        })
        .unwrap()
        .start()
        .await
        .unwrap();
    let mut go = RawPeer::connect(server.tcp_addr().unwrap()).await;
    go.send(&vector("captured-dialer-handshake-node-b")).await;
    go.frame(T).await.unwrap();
    let msg = MessageBuf::with_u32(77, 0);
    assert_eq!(&msg.as_bytes()[4..8], &[1, 0, 0, 0]);
    go.send(&frame(msg.as_bytes())).await;
    assert_eq!(support::recv(&mut rx, T, "flags-0 handler").await, 77);
}

#[tokio::test]
async fn failures_toward_a_go_peer_send_nothing_and_are_counted() {
    let server = support::server("node-a").await;
    let mut go = RawPeer::connect(server.tcp_addr().unwrap()).await;
    go.send(&vector("captured-dialer-handshake-node-b")).await;
    go.frame(T).await.unwrap();

    let fail = MessageBuf::empty().with_flags(zap_wire::procedure_opcode("Fail").unwrap());
    go.send(&request_frame(1, fail.as_bytes())).await;
    let unknown = MessageBuf::empty().with_flags(0xfe00);
    go.send(&request_frame(2, unknown.as_bytes())).await;
    let echo = MessageBuf::with_u32(5, zap_wire::procedure_opcode("Echo").unwrap());
    go.send(&request_frame(3, echo.as_bytes())).await;

    // Only the successful call is answered: Go cannot receive error frames.
    let resp = go.frame(T).await.expect("the echo answer");
    assert_eq!(&resp[4..12], &[3, 0, 0, 0, 2, 0, 0, 0]);
    assert!(go.frame(Duration::from_millis(200)).await.is_none());
    let stats = server.stats();
    assert_eq!(stats.errors_unsent, 2, "{stats:?}");
}

/// A listener that answers the first connection like a Go node (plain handshake as
/// `node-a`), then checks one call request against `expect` and answers `reply`.
async fn fake_go_node(
    expect_handshake_prefix: Vec<u8>,
    expect_call: Vec<u8>,
    reply: Vec<u8>,
) -> (std::net::SocketAddr, tokio::task::JoinHandle<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut peer = RawPeer { stream };
        let hs = peer.frame(T).await.expect("dialer handshake");
        // Go parses the message by its size: the first 80 bytes must be Go's.
        assert_eq!(&hs[4..84], &expect_handshake_prefix[4..84]);
        peer.send(&vector("captured-acceptor-handshake-node-a"))
            .await;
        let call = peer.frame(T).await.expect("call frame");
        assert_eq!(hex::encode(&call), hex::encode(&expect_call));
        peer.send(&reply).await;
        // Keep the socket open until the client is done.
        let mut rest = Vec::new();
        let _ = tokio::time::timeout(T, peer.stream.read_to_end(&mut rest)).await;
        hs
    });
    (addr, task)
}

async fn connect(addr: std::net::SocketAddr, opts: ConnectionOptions) -> Connection {
    Connection::connect(&TcpDialer::new(), &Peer::new(addr), "node-b", &opts)
        .await
        .unwrap()
}

#[tokio::test]
async fn rust_client_frames_are_the_captured_go_frames() {
    // Extensions off: every byte is Go's, the handshake included.
    let (addr, node) = fake_go_node(
        vector("captured-dialer-handshake-node-b"),
        vector("captured-call-request"),
        vector("call-response-accepted-by-node"),
    )
    .await;
    let conn = connect(addr, ConnectionOptions::new().go_wire()).await;
    assert_eq!(conn.wire(), Wire::Go);
    assert_eq!(conn.peer().node_id, "node-a");
    let req = vector("captured-call-request");
    let msg = MessageBuf::new(req[12..].to_vec()).unwrap();
    let resp = conn
        .call(Procedure::msg_type(0x42), msg, Some(T))
        .await
        .unwrap();
    assert_eq!(support::root_u32(&resp), 0xCAFE);
    drop(conn);
    assert_eq!(
        node.await.unwrap(),
        vector("captured-dialer-handshake-node-b")
    );
}

#[tokio::test]
async fn with_extensions_on_a_go_node_gets_the_go_wire() {
    // The dialer appends its extension block; the Go node ignores it and answers plainly,
    // so the connection falls back to the Go wire and the call bytes are Go's.
    let (addr, node) = fake_go_node(
        vector("captured-dialer-handshake-node-b"),
        vector("captured-call-request"),
        vector("call-response-accepted-by-node"),
    )
    .await;
    let conn = connect(addr, ConnectionOptions::new()).await;
    assert_eq!(conn.wire(), Wire::Go);
    let req = vector("captured-call-request");
    let msg = MessageBuf::new(req[12..].to_vec()).unwrap();
    let resp = conn
        .call(Procedure::msg_type(0x42), msg, Some(T))
        .await
        .unwrap();
    assert_eq!(support::root_u32(&resp), 0xCAFE);
    drop(conn);
    let hs = node.await.unwrap();
    assert_eq!(hs.len(), 4 + 80 + 12, "handshake with the 12-byte block");
    assert_eq!(&hs[..4], &92u32.to_le_bytes());
    assert_eq!(&hs[84..88], b"ZAPX");
}

#[tokio::test]
async fn named_calls_to_go_carry_zapclient_opcodes() {
    // zapclient rewrites the flags of its nil-payload stub to the opcode: for "Ping" the
    // message is exactly the `zapclient-nil-payload-Ping` vector.
    let stub = vector("zapclient-nil-payload-Ping");
    let mut expect = 1u32.to_le_bytes().to_vec();
    expect.extend_from_slice(&1u32.to_le_bytes());
    expect.extend_from_slice(&stub);
    let mut reply = 1u32.to_le_bytes().to_vec();
    reply.extend_from_slice(&2u32.to_le_bytes());
    reply.extend_from_slice(&vector("empty-message"));
    let (addr, _node) = fake_go_node(
        vector("captured-dialer-handshake-node-b"),
        frame(&expect),
        frame(&reply),
    )
    .await;
    let conn = connect(addr, ConnectionOptions::new()).await;
    let mut unflagged = stub.clone();
    unflagged[6..8].copy_from_slice(&[0, 0]);
    let resp = conn
        .call("Ping", MessageBuf::new(unflagged).unwrap(), Some(T))
        .await
        .unwrap();
    assert_eq!(resp.as_bytes(), vector("empty-message"));
}

#[tokio::test]
async fn a_go_peer_that_never_answers_times_out_the_call() {
    // What a Rust caller sees when a Go server's handler fails: silence, then our timeout.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let _node = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut peer = RawPeer { stream };
        peer.frame(T).await.unwrap();
        peer.send(&vector("captured-acceptor-handshake-node-a"))
            .await;
        let _ = peer.closed_within(Duration::from_secs(5)).await;
    });
    let conn = connect(addr, ConnectionOptions::new()).await;
    let err = conn
        .call(
            "Fail",
            MessageBuf::empty(),
            Some(Duration::from_millis(150)),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DeadlineExceeded, "{err}");
}
