//! The fabric's bytes: the Go HELLO v2 golden vector, and a hand-written sibling speaking
//! raw frames to a pod (unsigned, so that the test needs no MAC code of its own).
#![cfg(feature = "cluster")]

mod support;

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use relay_cluster::fabric::frame::{
    self, Features, FrameType, Hello, HelloV2Error, IHave, MAX_FRAME_PAYLOAD, NodeId, PresenceOp,
};
use relay_cluster::wire;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn vector(name: &str) -> Vec<u8> {
    let doc: serde_json::Value =
        serde_json::from_str(include_str!("data/relay-vectors.json")).expect("vector file is JSON");
    let v = doc["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == name)
        .unwrap_or_else(|| panic!("no vector {name}"));
    hex::decode(v["hex"].as_str().unwrap()).unwrap()
}

#[test]
fn the_go_hello_v2_vector_decodes_and_re_encodes() {
    let golden = vector("cluster-hello-signed");
    let hello = frame::decode_hello_v2(&golden, Some(b"cluster-secret"), 1_764_000_000).unwrap();
    assert_eq!(hello.addr, "10.0.5.7:7090");
    assert_eq!(hello.timestamp, 1_764_000_000);
    assert!(hello.signed);
    let ours =
        frame::encode_hello_v2("10.0.5.7:7090", 1_764_000_000, Some(b"cluster-secret")).unwrap();
    assert_eq!(ours.as_ref(), golden);
    assert_eq!(
        frame::decode_hello_v2(&golden, Some(b"other"), 1_764_000_000),
        Err(HelloV2Error::HmacMismatch)
    );
    assert_eq!(
        frame::decode_hello_v2(&golden, Some(b"cluster-secret"), 1_764_000_000 + 301),
        Err(HelloV2Error::StaleTimestamp)
    );
    // As a pod of ours reads it: version 2 is recognised and refused.
    assert_eq!(
        frame::decode_hello(&golden),
        Err(frame::FrameError::Version(2))
    );
}

/// A sibling written by hand.
struct RawSibling {
    tcp: TcpStream,
    buf: BytesMut,
}

impl RawSibling {
    async fn join(pod: &Pod, announce: &str) -> Self {
        let mut tcp = TcpStream::connect(pod.addr()).await.unwrap();
        let hello = frame::encode_hello(&Hello {
            addr: announce,
            node: NodeId([0xAB; 16]),
            nonce: [7; 32],
            features: Features::PRESENCE
                .union(Features::NOT_HERE)
                .union(Features::KEEPALIVE),
            key_ids: vec![],
        })
        .unwrap();
        let mut out = BytesMut::new();
        frame::encode_frame(&mut out, FrameType::HELLO, &hello).unwrap();
        tcp.write_all(&out).await.unwrap();
        let mut me = Self {
            tcp,
            buf: BytesMut::new(),
        };
        let (ty, ack) = me.next().await;
        assert_eq!(ty, FrameType::HELLO_ACK);
        let (ack, _) = frame::decode_hello_ack(&ack).unwrap();
        assert_eq!(ack.addr, pod.addr().to_string());
        assert_eq!(ack.auth, None, "an unsigned pod signs nothing");
        me.send(FrameType::HELLO_FIN, &frame::encode_hello_fin(None))
            .await;
        me
    }

    async fn send(&mut self, ty: FrameType, payload: &[u8]) {
        let mut out = BytesMut::new();
        frame::encode_frame(&mut out, ty, payload).unwrap();
        self.tcp.write_all(&out).await.unwrap();
    }

    /// The next frame that is not keepalive noise.
    async fn next(&mut self) -> (FrameType, Bytes) {
        let read = async {
            loop {
                while let Some((ty, p)) =
                    frame::decode_frame(&mut self.buf, MAX_FRAME_PAYLOAD).unwrap()
                {
                    if ty == FrameType::PING {
                        let mut out = BytesMut::new();
                        frame::encode_frame(&mut out, FrameType::PONG, &p).unwrap();
                        self.tcp.write_all(&out).await.unwrap();
                        continue;
                    }
                    return (ty, p);
                }
                assert!(
                    self.tcp.read_buf(&mut self.buf).await.unwrap() > 0,
                    "the pod closed the link"
                );
            }
        };
        tokio::time::timeout(WAIT, read)
            .await
            .expect("a frame from the pod")
    }

    /// The next frame of type `want`, skipping presence and the rest.
    async fn expect(&mut self, want: FrameType) -> Bytes {
        loop {
            let (ty, p) = self.next().await;
            if ty == want {
                return p;
            }
        }
    }
}

fn unsigned(c: relay_cluster::fabric::ClusterConfig) -> relay_cluster::fabric::ClusterConfig {
    c.insecure_unsigned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_answers_raw_frames_and_skips_bad_ones_without_dropping_the_link() {
    let d = empty_discovery();
    let pod = Pod::start(unsigned(config(ip(2), &d)), d).await;
    let mut bob = pod.connect("bob").await;
    let mut sib = RawSibling::join(&pod, "127.0.0.99:7090").await;

    // The pod's presence snapshot: Bob is here.
    let snap = sib.expect(FrameType::PRESENCE).await;
    let p = frame::decode_presence(&snap).unwrap();
    assert_eq!(p.op, PresenceOp::Snapshot);
    assert_eq!(
        p.entries().map(|e| e.peer).collect::<Vec<_>>(),
        vec![id("bob")]
    );
    assert_eq!(
        frame::decode_presence(&sib.expect(FrameType::PRESENCE).await)
            .unwrap()
            .op,
        PresenceOp::SnapshotEnd
    );

    // Malformed and unknown frames cost only themselves (openZro closes the stream).
    sib.send(FrameType::WHO_HAS, &[0; 35]).await;
    sib.send(FrameType(0x99), b"from the future").await;
    sib.send(FrameType::HELLO, b"again?").await;

    // WHO_HAS: I_HAVE for a local peer (with a registration stamp), NOT_HERE otherwise.
    sib.send(FrameType::WHO_HAS, id("bob").as_bytes()).await;
    let ih: IHave = frame::decode_i_have(&sib.expect(FrameType::I_HAVE).await).unwrap();
    assert_eq!(ih.peer, id("bob"));
    assert!(ih.stamp > 0);
    sib.send(FrameType::WHO_HAS, id("nobody").as_bytes()).await;
    assert_eq!(
        sib.expect(FrameType::NOT_HERE).await.as_ref(),
        id("nobody").as_bytes()
    );

    // FWD: delivered with the source stamped as sent; for an absent peer, NOT_HERE.
    let msg = wire::stamp_source(
        wire::encode_transport(&id("bob"), b"over the fabric").unwrap(),
        &id("zed"),
    )
    .unwrap();
    let mut fwd = BytesMut::new();
    frame::encode_fwd(&mut fwd, &id("bob"), &msg).unwrap();
    sib.tcp.write_all(&fwd).await.unwrap();
    assert_eq!(
        next_transport(&mut bob).await,
        (id("zed"), b"over the fabric".to_vec())
    );
    let mut fwd = BytesMut::new();
    frame::encode_fwd(&mut fwd, &id("gone"), &msg).unwrap();
    sib.tcp.write_all(&fwd).await.unwrap();
    assert_eq!(
        sib.expect(FrameType::NOT_HERE).await.as_ref(),
        id("gone").as_bytes()
    );

    // PING is answered with the same payload.
    sib.send(FrameType::PING, b"12345678").await;
    assert_eq!(sib.expect(FrameType::PONG).await.as_ref(), b"12345678");

    // Our presence news reaches the pod's subscribers.
    let mut alice = pod.connect("alice").await;
    alice.subscribe(&[id("carol")]).await.unwrap();
    let mut news = BytesMut::new();
    let carol = frame::PresenceEntry {
        peer: id("carol"),
        stamp: 1,
    };
    frame::encode_presence(&mut news, PresenceOp::Online, &[carol]);
    sib.tcp.write_all(&news).await.unwrap();
    presence(&mut alice, &id("carol"), true).await;
    let mut news = BytesMut::new();
    frame::encode_presence(&mut news, PresenceOp::Offline, &[carol]);
    sib.tcp.write_all(&news).await.unwrap();
    presence(&mut alice, &id("carol"), false).await;

    let s = pod.fabric().stats();
    assert_eq!(s.bad_frames, 2, "{s:?}");
    assert_eq!(pod.fabric().status().links.len(), 1, "the link survived");

    // GOODBYE: the pod stops routing to us at once.
    sib.send(FrameType::GOODBYE, b"leaving").await;
    pod.fabric()
        .wait_until(WAIT, |s| s.links.iter().all(|l| l.leaving))
        .await
        .unwrap();
    drop(sib);
    pod.fabric()
        .wait_until(WAIT, |s| s.links.is_empty())
        .await
        .unwrap();
    pod.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sibling_that_stops_answering_is_dropped_by_keepalive() {
    let d = empty_discovery();
    let pod = Pod::start(unsigned(config(ip(2), &d)), d).await;
    let sib = RawSibling::join(&pod, "127.0.0.98:7090").await;
    // Connected, then silent: never reads, never answers a PING.
    pod.fabric()
        .wait_until(WAIT, |s| s.links.len() == 1)
        .await
        .unwrap();
    let started = std::time::Instant::now();
    pod.fabric()
        .wait_until(WAIT, |s| s.links.is_empty())
        .await
        .unwrap();
    let took = started.elapsed();
    // Three 100 ms intervals without a word, give or take a tick.
    assert!(took < Duration::from_secs(1), "took {took:?}");
    assert!(pod.fabric().stats().pings_lost >= 1);
    drop(sib);
    pod.stop().await;
}
