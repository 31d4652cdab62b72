//! The fabric under faults: a killed pod, a partition through the fault proxy, a slow
//! receiver, a silent sibling, and both pods of a pair dialing at the same moment.
#![cfg(feature = "cluster")]

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use relay_cluster::fabric::{ClusterBootstrap, FabricStatus};
use relay_cluster::{AllowAll, Relay, RelayConfig, wire};
use support::proxy::FaultProxy;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Barrier;

/// A pod on a runtime of its own, so that the test can kill it the way SIGKILL does: every
/// task stops at once and the kernel closes its sockets.
struct Killable {
    rt: Option<tokio::runtime::Runtime>,
    pod: Option<Pod>,
}

impl Killable {
    async fn start(ip_last: u8, port: u16, discovery: Arc<zap_discovery::StaticDiscovery>) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let config = config(ip(ip_last), &discovery).with_port(port);
        let pod = rt
            .spawn(async move { Pod::start(config, discovery).await })
            .await
            .unwrap();
        Self {
            rt: Some(rt),
            pod: Some(pod),
        }
    }

    fn pod(&self) -> &Pod {
        self.pod.as_ref().unwrap()
    }

    fn kill(mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
        // Its handles only cancel tokens of a runtime that is gone.
        drop(self.pod.take());
    }
}

impl Drop for Killable {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_pod_leaves_the_others_serving_and_rejoins_when_it_returns() {
    init_tracing();
    let port = common_port(&[ip(2), ip(3), ip(4)]);
    let addrs: Vec<SocketAddr> = [2, 3, 4].map(|i| SocketAddr::new(ip(i), port)).to_vec();
    let mut survivors = Vec::new();
    for i in [2u8, 4] {
        let d = empty_discovery();
        survivors.push(Pod::start(config(ip(i), &d).with_port(port), d).await);
    }
    let victim = Killable::start(3, port, empty_discovery()).await;
    for p in survivors.iter().chain(std::iter::once(victim.pod())) {
        p.set_siblings(&addrs);
    }
    let mesh = |n: usize| move |all: &[FabricStatus]| all.iter().all(|s| s.links.len() == n);
    wait_fabrics(
        &[
            survivors[0].fabric(),
            survivors[1].fabric(),
            victim.pod().fabric(),
        ],
        mesh(2),
    )
    .await;

    let mut alice = survivors[0].connect("alice").await;
    let mut carol = survivors[1].connect("carol").await;
    let mut bob = victim.pod().connect("bob").await;
    alice.subscribe(&[id("bob")]).await.unwrap();
    presence(&mut alice, &id("bob"), true).await;
    alice.send(&id("bob"), b"before").await.unwrap();
    assert_eq!(next_transport(&mut bob).await.1, b"before");

    victim.kill();
    // Alice learns Bob is gone with his pod, and the other two pods keep serving.
    presence(&mut alice, &id("bob"), false).await;
    wait_all(&survivors, mesh(1)).await;
    alice.send(&id("carol"), b"still here").await.unwrap();
    assert_eq!(
        next_transport(&mut carol).await,
        (id("alice"), b"still here".to_vec())
    );
    assert!(
        bob.recv().await.is_err(),
        "bob's connection died with the pod"
    );

    // The pod comes back on the same address (a new node id): both survivors redial it.
    let d = empty_discovery();
    let back = Pod::start(config(ip(3), &d).with_port(port), d).await;
    back.set_siblings(&addrs);
    wait_fabrics(
        &[survivors[0].fabric(), survivors[1].fabric(), back.fabric()],
        mesh(2),
    )
    .await;
    let mut bob = back.connect("bob").await;
    alice.wait_for_peer(&id("bob"), WAIT).await.unwrap();
    alice.send(&id("bob"), b"after").await.unwrap();
    assert_eq!(
        next_transport(&mut bob).await,
        (id("alice"), b"after".to_vec())
    );
    back.stop().await;
    for p in survivors {
        p.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_through_the_proxy_heals_and_traffic_resumes() {
    init_tracing();
    // Each pod is reached only through a proxy in front of it, and announces the proxy.
    let (d1, d2) = (empty_discovery(), empty_discovery());
    let mut c1 = config(ip(2), &d1);
    let mut c2 = config(ip(3), &d2);
    // Fixed ports so that the proxies can be set up before the pods announce them.
    let (p1_port, p2_port) = (common_port(&[ip(2)]), common_port(&[ip(3)]));
    c1 = c1.with_port(p1_port);
    c2 = c2.with_port(p2_port);
    let to1 = FaultProxy::start(ip(12), SocketAddr::new(ip(2), p1_port)).await;
    let to2 = FaultProxy::start(ip(13), SocketAddr::new(ip(3), p2_port)).await;
    let pod1 = Pod::start(c1.with_announce(to1.addr), d1).await;
    let pod2 = Pod::start(c2.with_announce(to2.addr), d2).await;
    let pods = [pod1, pod2];
    link_all(&pods).await;

    let mut alice = pods[0].connect("alice").await;
    let mut bob = pods[1].connect("bob").await;
    alice.wait_for_peer(&id("bob"), WAIT).await.unwrap();

    to1.blackhole();
    to2.blackhole();
    // Both sides find the silent link dead by keepalive; Alice hears Bob is unreachable.
    presence(&mut alice, &id("bob"), false).await;
    wait_all(&pods, |all| all.iter().all(|s| s.links.is_empty())).await;
    let s = pods[0].fabric().stats();
    assert!(s.pings_lost >= 1, "{s:?}");
    // Redials keep failing while cut off (the handshake cannot complete).
    let before = pods[0].fabric().stats().dials_failed + pods[1].fabric().stats().dials_failed;
    wait_all(&pods, |_| {
        pods[0].fabric().stats().dials_failed + pods[1].fabric().stats().dials_failed > before
    })
    .await;

    let healed = Instant::now();
    to1.heal();
    to2.heal();
    link_all(&pods).await;
    alice.wait_for_peer(&id("bob"), WAIT).await.unwrap();
    alice
        .send(&id("bob"), b"after the partition")
        .await
        .unwrap();
    assert_eq!(next_transport(&mut bob).await.1, b"after the partition");
    bob.send(&id("alice"), b"and back").await.unwrap();
    assert_eq!(next_transport(&mut alice).await.1, b"and back");
    assert!(
        healed.elapsed() < Duration::from_secs(3),
        "healed in {:?}",
        healed.elapsed()
    );
    for p in pods {
        p.stop().await;
    }
}

/// A relay client that authenticates and then never reads, with a tiny receive buffer.
async fn stalled_peer(url: &str, name: &str) -> tokio::net::TcpStream {
    let addr: SocketAddr = url.trim_start_matches("rel://").parse().unwrap();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut tcp = socket.connect(addr).await.unwrap();
    let key = "dGhlIHNhbXBsZSBub25jZQ==";
    let req = format!(
        "GET /relay HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    tcp.write_all(req.as_bytes()).await.unwrap();
    // The upgrade answer must be read before the first frame goes out.
    let mut answer = Vec::new();
    while !answer.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        tcp.read_exact(&mut byte).await.unwrap();
        answer.push(byte[0]);
    }
    assert!(answer.starts_with(b"HTTP/1.1 101"));
    let auth = wire::encode_auth(&id(name), &token()).unwrap();
    // One masked binary frame (client frames must be masked; a zero mask keeps it simple).
    let mut frame = vec![0x82, 0x80 | auth.len() as u8, 0, 0, 0, 0];
    frame.extend_from_slice(&auth);
    tcp.write_all(&frame).await.unwrap();
    tcp
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_receiver_does_not_delay_traffic_to_others() {
    init_tracing();
    let pods = pods(2, |c| c).await;
    let mut alice = pods[0].connect("alice").await;
    let mut carol = pods[1].connect("carol").await;
    let slow = stalled_peer(&pods[1].url, "slow").await;
    alice.wait_for_peer(&id("slow"), WAIT).await.unwrap();

    let big = vec![7u8; 8000];
    // Rounds of ten messages to the stalled peer and one to Carol, Carol's awaited before
    // the next round (so the sender never outruns the fabric): the kernel buffers a few MB
    // for the stalled peer, then its queue on the second pod fills and overflows, and
    // Carol's messages keep arriving in order, without delay.
    let mut worst = Duration::ZERO;
    let mut overflowed_at = None;
    for round in 0..3000u32 {
        for _ in 0..10 {
            alice.send(&id("slow"), &big).await.unwrap();
        }
        let sent = Instant::now();
        alice
            .send(&id("carol"), &round.to_be_bytes())
            .await
            .unwrap();
        assert_eq!(next_transport(&mut carol).await.1, round.to_be_bytes());
        worst = worst.max(sent.elapsed());
        if overflowed_at.is_none() && pods[1].fabric().stats().receiver_queue_full > 0 {
            overflowed_at = Some(round);
        }
        if overflowed_at.is_some_and(|at| round >= at + 20) {
            break;
        }
    }
    let s = pods[1].fabric().stats();
    assert!(
        overflowed_at.is_some(),
        "the stalled peer's queue never filled: {s:?}"
    );
    assert!(
        s.receiver_queue_full >= 20,
        "messages for the stalled peer are dropped, not waited for: {s:?}"
    );
    assert!(
        worst < Duration::from_secs(1),
        "a message to Carol took {worst:?}"
    );
    assert_eq!(
        pods[0].fabric().stats().dropped,
        0,
        "nothing dropped on the sending pod"
    );
    // Its pod would otherwise wait out the write deadline when shutting down.
    drop(slow);
    for p in pods {
        p.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_sibling_does_not_delay_traffic_to_other_pods() {
    let (d, d3) = (empty_discovery(), empty_discovery());
    let port3 = common_port(&[ip(4)]);
    let to3 = FaultProxy::start(ip(14), SocketAddr::new(ip(4), port3)).await;
    let mut pods = vec![Pod::start(config(ip(2), &d), d).await, {
        let d = empty_discovery();
        Pod::start(config(ip(3), &d), d).await
    }];
    // Pod 3 dials nobody and is reached only through the proxy, so cutting the proxy
    // silences every link to it.
    pods.push(
        Pod::start(
            config(ip(4), &d3).with_port(port3).with_announce(to3.addr),
            d3,
        )
        .await,
    );
    let addrs: Vec<SocketAddr> = pods.iter().map(Pod::addr).collect();
    pods[0].set_siblings(&addrs);
    pods[1].set_siblings(&addrs);
    wait_all(&pods, |all| all.iter().all(|s| s.links.len() == 2)).await;

    let mut alice = pods[0].connect("alice").await;
    let mut bob = pods[1].connect("bob").await;
    let _dave = pods[2].connect("dave").await;
    alice.wait_for_peer(&id("dave"), WAIT).await.unwrap();
    alice.wait_for_peer(&id("bob"), WAIT).await.unwrap();
    to3.blackhole();
    let started = Instant::now();
    let big = vec![1u8; 8000];
    for i in 0..100u32 {
        alice.send(&id("dave"), &big).await.unwrap();
        alice.send(&id("bob"), &i.to_be_bytes()).await.unwrap();
    }
    for i in 0..100u32 {
        assert_eq!(next_transport(&mut bob).await.1, i.to_be_bytes());
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    // And the silent link is declared dead, not left to block forever.
    pods[0]
        .fabric()
        .wait_until(WAIT, |s| s.link_to(to3.addr).is_none())
        .await
        .unwrap();
    to3.heal();
    for p in pods {
        p.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_dials_leave_exactly_one_link_per_pair_100_times() {
    let mut collided = 0;
    for round in 0..100 {
        let (da, db) = (empty_discovery(), empty_discovery());
        let ra = Relay::new("rel://a", Arc::new(AllowAll), RelayConfig::default()).unwrap();
        let rb = Relay::new("rel://b", Arc::new(AllowAll), RelayConfig::default()).unwrap();
        let a = ClusterBootstrap::start(config(ip(2), &da), &ra)
            .await
            .unwrap();
        let b = ClusterBootstrap::start(config(ip(3), &db), &rb)
            .await
            .unwrap();
        let both = [a.fabric().announce_addr(), b.fabric().announce_addr()];
        // Both learn of each other at the same instant, so both dial at once.
        let gate = Arc::new(Barrier::new(2));
        let go = |d: Arc<zap_discovery::StaticDiscovery>, gate: Arc<Barrier>| async move {
            gate.wait().await;
            d.set_peers(both.iter().map(|a| zap_discovery::Peer::new(*a)))
                .unwrap();
        };
        tokio::join!(go(da.clone(), gate.clone()), go(db.clone(), gate));
        let statuses = wait_fabrics(&[a.fabric(), b.fabric()], |s| {
            s.iter().all(|s| s.links.len() == 1 && s.handshaking == 0)
                && s[0].links[0].local_addr == s[1].links[0].peer_addr
        })
        .await;
        // Both ends hold the same TCP connection; when both dials got through, the one
        // dialed by the lower node id.
        let (sa, sb) = (a.fabric().stats(), b.fabric().stats());
        if sa.dials_ok > 0 && sb.dials_ok > 0 {
            let lower_dialed = statuses[0].node < statuses[1].node;
            assert_eq!(
                statuses[0].links[0].dialed_by_me, lower_dialed,
                "round {round}"
            );
            collided += 1;
        }
        a.stop().await;
        b.stop().await;
    }
    // Not a check of the fabric but of the test: dials did collide.
    assert!(collided > 0, "no round had two dials to settle");
}
