//! Who may join the fabric: secrets, rotation, replays, impostors, unsigned mode, and
//! openZro Go pods.
#![cfg(feature = "cluster")]

mod support;

use std::net::SocketAddr;

use bytes::BytesMut;
use relay_cluster::fabric::frame::{self, FrameType, MAX_FRAME_PAYLOAD};
use relay_cluster::fabric::{ClusterConfig, FabricStatus};
use support::proxy::FaultProxy;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Writes `bytes` to `addr` and reads every frame the pod sends back until it closes.
async fn replay(addr: SocketAddr, bytes: &[u8]) -> Vec<(FrameType, bytes::Bytes)> {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(bytes).await.unwrap();
    let mut buf = BytesMut::new();
    let read_all = async {
        loop {
            if tcp.read_buf(&mut buf).await.unwrap_or(0) == 0 {
                break;
            }
        }
    };
    tokio::time::timeout(WAIT, read_all)
        .await
        .expect("the pod closes the connection");
    let mut frames = Vec::new();
    while let Ok(Some(f)) = frame::decode_frame(&mut buf, MAX_FRAME_PAYLOAD) {
        frames.push(f);
    }
    frames
}

fn goodbye_text(frames: &[(FrameType, bytes::Bytes)]) -> String {
    frames
        .iter()
        .find(|(t, _)| *t == FrameType::GOODBYE)
        .map(|(_, p)| frame::decode_goodbye(p).unwrap())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_with_a_wrong_secret_is_refused_both_ways() {
    init_tracing();
    let pods = pods(2, |c| c).await;
    let d = empty_discovery();
    let intruder = Pod::start(config(ip(4), &d).with_secrets(["not-the-secret"]), d).await;
    let mut addrs: Vec<SocketAddr> = pods.iter().map(Pod::addr).collect();
    addrs.push(intruder.addr());
    for p in pods.iter().chain([&intruder]) {
        p.set_siblings(&addrs);
    }
    // Each side refuses the other: as acceptor (no common key) and as dialer (told so).
    wait_fabrics(
        &[pods[0].fabric(), pods[1].fabric(), intruder.fabric()],
        |_| {
            let (a, b, i) = (
                pods[0].fabric().stats(),
                pods[1].fabric().stats(),
                intruder.fabric().stats(),
            );
            a.rejects("unknown_key") > 0
                && b.rejects("unknown_key") > 0
                && i.rejects("unknown_key") > 0
                && i.dial_failed("refused") > 0
        },
    )
    .await;
    assert!(intruder.fabric().status().links.is_empty());
    for p in &pods {
        assert_eq!(
            p.fabric().status().links.len(),
            1,
            "the honest pods stay linked"
        );
    }
    intruder.stop().await;
    for p in pods {
        p.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_handshake_is_refused_and_does_not_displace_the_link() {
    init_tracing();
    let (d1, d2) = (empty_discovery(), empty_discovery());
    let pod2 = Pod::start(config(ip(3), &d2), d2).await;
    // Pod 1 reaches pod 2 through a recording proxy; pod 2 never dials.
    let tap = FaultProxy::start(ip(13), pod2.addr()).await;
    let pod1 = Pod::start(config(ip(2), &d1), d1).await;
    pod1.set_siblings(&[tap.addr]);
    let linked = |s: &[FabricStatus]| s.iter().all(|s| s.links.len() == 1);
    wait_fabrics(&[pod1.fabric(), pod2.fabric()], linked).await;
    let recorded = tap.recordings().remove(0);
    let before = pod2.fabric().status().links[0].clone();

    // Everything pod 1 sent (HELLO, HELLO_FIN, then frames), replayed on a new connection.
    let frames = replay(pod2.addr(), &recorded.client_to_server).await;
    assert_eq!(frames[0].0, FrameType::HELLO_ACK, "a fresh challenge");
    assert!(
        goodbye_text(&frames).contains("MAC does not match"),
        "{frames:?}"
    );
    pod2.fabric()
        .wait_until(WAIT, |_| {
            pod2.fabric().stats().rejects("hmac_mismatch") == 1
        })
        .await
        .unwrap();
    let after = pod2.fabric().status();
    assert_eq!(after.links, vec![after.links[0].clone()]);
    assert_eq!(
        after.links[0].peer_addr, before.peer_addr,
        "the live link was kept"
    );

    // The HELLO alone, replayed: the replayer cannot answer the challenge.
    let hello_len = 3 + usize::from(u16::from_be_bytes([
        recorded.client_to_server[1],
        recorded.client_to_server[2],
    ]));
    let frames = replay(pod2.addr(), &recorded.client_to_server[..hello_len]).await;
    assert_eq!(frames[0].0, FrameType::HELLO_ACK);
    assert!(
        goodbye_text(&frames).contains("did not finish"),
        "{frames:?}"
    );
    assert_eq!(pod2.fabric().stats().rejects("timeout"), 1);
    pod1.stop().await;
    pod2.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_impostor_replaying_an_acceptors_answer_is_refused_by_the_dialer() {
    let (d1, d2) = (empty_discovery(), empty_discovery());
    let pod2 = Pod::start(config(ip(3), &d2), d2).await;
    let tap = FaultProxy::start(ip(13), pod2.addr()).await;
    let pod1 = Pod::start(config(ip(2), &d1), d1).await;
    pod1.set_siblings(&[tap.addr]);
    pod1.fabric()
        .wait_until(WAIT, |s| s.links.len() == 1)
        .await
        .unwrap();
    let answer = tap.recordings().remove(0).server_to_client;
    let ack_len = 3 + usize::from(u16::from_be_bytes([answer[1], answer[2]]));

    // An impostor without the secret answers a new dialer with pod 2's recorded HELLO_ACK.
    let impostor = TcpListener::bind((ip(9), 0)).await.unwrap();
    let impostor_addr = impostor.local_addr().unwrap();
    let ack = answer[..ack_len].to_vec();
    let serve = tokio::spawn(async move {
        let (mut s, _) = impostor.accept().await.unwrap();
        let mut hello = [0u8; 512];
        let _ = s.read(&mut hello).await;
        s.write_all(&ack).await.unwrap();
        let mut rest = Vec::new();
        let _ = tokio::time::timeout(WAIT, s.read_to_end(&mut rest)).await;
        rest
    });
    let d3 = empty_discovery();
    let pod3 = Pod::start(config(ip(4), &d3), d3).await;
    pod3.set_siblings(&[impostor_addr]);
    let rest = serve.await.unwrap();
    let mut buf = BytesMut::from(&rest[..]);
    let (ty, payload) = frame::decode_frame(&mut buf, MAX_FRAME_PAYLOAD)
        .unwrap()
        .unwrap();
    assert_eq!(
        ty,
        FrameType::GOODBYE,
        "the dialer refuses instead of finishing"
    );
    assert!(frame::decode_goodbye(&payload).unwrap().contains("MAC"));
    pod3.fabric()
        .wait_until(WAIT, |_| {
            pod3.fabric().stats().dial_failed("hmac_mismatch") >= 1
        })
        .await
        .unwrap();
    assert!(pod3.fabric().status().links.is_empty());
    for p in [pod1, pod2, pod3] {
        p.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_rotate_without_a_split() {
    let start = |last: u8, secrets: &'static [&'static str]| async move {
        let d = empty_discovery();
        Pod::start(config(ip(last), &d).with_secrets(secrets), d).await
    };
    // Mid-rotation: one pod already prefers the new secret and still accepts the old.
    let a = start(2, &["new", "old"]).await;
    let b = start(3, &["old"]).await;
    let c = start(4, &["new"]).await;
    let addrs = [a.addr(), b.addr(), c.addr()];
    for p in [&a, &b, &c] {
        p.set_siblings(&addrs);
    }
    wait_fabrics(&[a.fabric(), b.fabric(), c.fabric()], |s| {
        s[0].links.len() == 2 && s[1].links.len() == 1 && s[2].links.len() == 1
    })
    .await;
    // Old-only and new-only pods never link; each says why.
    wait_fabrics(&[b.fabric(), c.fabric()], |_| {
        b.fabric().stats().rejects("unknown_key") > 0
            || c.fabric().stats().rejects("unknown_key") > 0
    })
    .await;
    assert!(b.fabric().status().link_to(c.addr()).is_none());
    for p in [a, b, c] {
        p.stop().await;
    }
}

fn unsigned(c: ClusterConfig) -> ClusterConfig {
    c.insecure_unsigned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_mode_is_an_explicit_opt_in_on_both_sides() {
    let pods = pods(2, unsigned).await;
    let d = empty_discovery();
    let signed = Pod::start(config(ip(4), &d), d).await;
    let addrs = [pods[0].addr(), signed.addr()];
    pods[0].set_siblings(&addrs);
    signed.set_siblings(&addrs);
    wait_fabrics(&[pods[0].fabric(), signed.fabric()], |_| {
        signed.fabric().stats().rejects("unsigned_but_required") > 0
            && pods[0].fabric().stats().rejects("signed_but_unsupported") > 0
    })
    .await;
    assert_eq!(
        pods[0].fabric().status().links.len(),
        1,
        "only the unsigned sibling"
    );
    let missing = ClusterConfig::new(ip(5), relay_cluster::fabric::Siblings::default(), "");
    let relay = relay_cluster::Relay::new(
        "rel://x",
        std::sync::Arc::new(relay_cluster::AllowAll),
        Default::default(),
    )
    .unwrap();
    let err = relay_cluster::fabric::ClusterBootstrap::start(missing, &relay)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("insecure_unsigned"), "{err}");
    signed.stop().await;
    for p in pods {
        p.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_openzro_go_pod_is_recognised_and_told_why() {
    let d = empty_discovery();
    let pod = Pod::start(config(ip(2), &d), d).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let hello =
        frame::encode_hello_v2("10.0.5.7:7090", now, Some(CLUSTER_SECRET.as_bytes())).unwrap();
    let mut bytes = BytesMut::new();
    frame::encode_frame(&mut bytes, FrameType::HELLO, &hello).unwrap();
    let frames = replay(pod.addr(), &bytes).await;
    assert!(
        goodbye_text(&frames).contains("openZro Go pod (10.0.5.7:7090)"),
        "{frames:?}"
    );
    assert_eq!(pod.fabric().stats().rejects("go_hello_v2"), 1);

    // A first frame that is not a HELLO, and a HELLO too big to be one.
    let mut bytes = BytesMut::new();
    frame::encode_frame(&mut bytes, FrameType::FWD, &[0; 40]).unwrap();
    replay(pod.addr(), &bytes).await;
    replay(pod.addr(), &[0x00, 0xff, 0xff]).await;
    pod.fabric()
        .wait_until(WAIT, |_| {
            let s = pod.fabric().stats();
            s.rejects("first_frame_not_hello") == 1 && s.rejects("malformed") == 1
        })
        .await
        .unwrap();
    pod.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_that_leads_back_to_the_pod_itself_is_dialed_once() {
    let d = empty_discovery();
    let pod = Pod::start(config(ip(2), &d), d).await;
    // Another name for the same pod (as a NAT or a loopback alias would be).
    let alias = FaultProxy::start(ip(12), pod.addr()).await;
    pod.set_siblings(&[alias.addr]);
    pod.fabric()
        .wait_until(WAIT, |s| {
            s.handshaking == 0 && pod.fabric().stats().dial_failed("self") == 1
        })
        .await
        .unwrap();
    assert_eq!(
        pod.fabric().stats().rejects("self"),
        1,
        "refused as acceptor too"
    );
    assert!(pod.fabric().status().links.is_empty());
    // The connector gave up on that address: while a connector for a dead address fails
    // and redials twice (the same backoff), the alias is not dialed again.
    let dead: std::net::SocketAddr = (ip(77), 9).into();
    pod.set_siblings(&[alias.addr, pod.addr(), dead]);
    pod.fabric()
        .wait_until(WAIT, |_| pod.fabric().stats().dials_failed >= 2)
        .await
        .unwrap();
    assert_eq!(pod.fabric().stats().dial_failed("self"), 1);
    assert_eq!(
        alias.recordings().len(),
        1,
        "one connection through the alias, ever"
    );
    pod.stop().await;
}
