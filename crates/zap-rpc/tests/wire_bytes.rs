//! The example frames of docs/wire.md, byte for byte, so the document stays true.

mod support;

use std::time::Duration;

use bytes::Bytes;
use tokio::net::TcpListener;
use zap_discovery::Peer;
use zap_rpc::frame::Frame;
use zap_rpc::{Connection, ConnectionOptions, ErrorCode, TcpDialer};

fn empty() -> Bytes {
    Bytes::from(support::vector("empty-message"))
}

fn echo() -> u32 {
    zap_wire::ProcedureId::new("Echo").unwrap().hash()
}

#[test]
fn documented_frames_are_what_we_send() {
    let cases = [
        (
            Frame::Call {
                id: 1,
                procedure: echo(),
                timeout_ms: 30_000,
                message: empty(),
            },
            "200000000100000003000000a46b7d3b307500005a415000010000000000000010000000",
        ),
        (
            Frame::Response {
                id: 1,
                message: empty(),
            },
            "1800000001000000020000005a415000010000000000000010000000",
        ),
        (
            Frame::Error {
                id: 1,
                code: ErrorCode::HandlerError,
                text: Bytes::from_static(b"requested failure"),
            },
            "1b00000001000000040000000300726571756573746564206661696c757265",
        ),
        (Frame::Cancel { id: 1 }, "080000000100000005000000"),
        (Frame::Ping { nonce: 1 }, "080000000100000006000000"),
        (Frame::Pong { nonce: 1 }, "080000000100000007000000"),
        (
            Frame::Send {
                procedure: echo(),
                message: empty(),
            },
            "1c0000000000000008000000a46b7d3b5a415000010000000000000010000000",
        ),
        (Frame::GoAway, "080000000000000009000000"),
    ];
    for (frame, hex) in cases {
        assert_eq!(hex::encode(frame.encode()), hex, "{frame:?}");
    }
}

#[tokio::test]
async fn the_dialer_handshake_is_the_documented_frame() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let capture = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut peer = support::RawPeer { stream };
        peer.frame(Duration::from_secs(2)).await.unwrap()
    });
    // The acceptor never answers; the dial times out, which is fine: we want its bytes.
    let _ = Connection::connect(
        &TcpDialer::new(),
        &Peer::new(addr),
        "node-b",
        &ConnectionOptions::new().with_handshake_timeout(Duration::from_millis(300)),
    )
    .await;
    let frame = capture.await.unwrap();
    let mut expected = vec![0x5c, 0, 0, 0];
    expected.extend_from_slice(&support::vector("captured-dialer-handshake-node-b")[4..]);
    expected.extend_from_slice(&hex::decode("5a41505801003f000000a000").unwrap());
    assert_eq!(hex::encode(frame), hex::encode(expected));
}
