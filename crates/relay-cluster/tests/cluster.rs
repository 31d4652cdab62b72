//! The cross-pod fabric end to end: pods on 127.0.0.x with real relays and clients.
//! Delivery both ways, presence across pods, peers moving between pods, and the locator.
#![cfg(feature = "cluster")]

mod support;

use std::time::{Duration, Instant};

use relay_cluster::fabric::ClusterConfig;
use relay_cluster::{CrossPodForwarder, Error, Event};
use support::*;

fn no_presence(c: ClusterConfig) -> ClusterConfig {
    let mut c = c;
    c.presence = false;
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_cross_pods_both_ways_with_the_source_stamped() {
    init_tracing();
    let pods = pods(3, |c| c).await;
    let mut alice = pods[0].connect("alice").await;
    let mut bob = pods[2].connect("bob").await;
    alice.wait_for_peer(&id("bob"), WAIT).await.unwrap();

    alice.send(&id("bob"), b"to bob").await.unwrap();
    assert_eq!(
        next_transport(&mut bob).await,
        (id("alice"), b"to bob".to_vec())
    );
    bob.send(&id("alice"), b"to alice").await.unwrap();
    assert_eq!(
        next_transport(&mut alice).await,
        (id("bob"), b"to alice".to_vec())
    );

    // A burst (within the relay's per-peer queue of 64) keeps its order across the link.
    for i in 0..60u32 {
        alice.send(&id("bob"), &i.to_be_bytes()).await.unwrap();
    }
    for i in 0..60u32 {
        assert_eq!(next_transport(&mut bob).await.1, i.to_be_bytes());
    }
    let s = pods[0].fabric().stats();
    assert!(s.forwards_ok >= 61, "{s:?}");
    assert_eq!(pods[2].fabric().stats().delivered, 61);
    assert_eq!(s.dropped, 0);
    for p in pods {
        p.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_sees_a_peer_on_another_pod_come_and_go() {
    let pods = pods(2, |c| c).await;
    let mut alice = pods[0].connect("alice").await;
    // Alice watches Bob before Bob exists anywhere (openZro never tells her).
    alice.subscribe(&[id("bob")]).await.unwrap();
    let bob = pods[1].connect("bob").await;
    presence(&mut alice, &id("bob"), true).await;
    bob.close().await;
    presence(&mut alice, &id("bob"), false).await;
    for p in pods {
        p.stop().await;
    }
}

/// Sends from `from` to `to` until one arrives; returns how long that took.
async fn reachable(
    from: &relay_cluster::Client,
    to: &mut relay_cluster::Client,
    dst: &str,
) -> Duration {
    let started = Instant::now();
    let probe = async {
        loop {
            from.send(&id(dst), b"probe").await.unwrap();
            if let Ok(Ok(Event::Transport { .. })) =
                tokio::time::timeout(Duration::from_millis(20), to.recv()).await
            {
                return;
            }
        }
    };
    tokio::time::timeout(WAIT, probe)
        .await
        .expect("the peer became reachable");
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_reconnects_to_another_pod_is_reachable_within_a_second() {
    let pods = pods(3, |c| c).await;
    let alice = pods[0].connect("alice").await;
    let mut bob = pods[1].connect("bob").await;
    reachable(&alice, &mut bob, "bob").await;
    bob.close().await;
    let mut bob = pods[2].connect("bob").await;
    let took = reachable(&alice, &mut bob, "bob").await;
    assert!(took < Duration::from_secs(1), "took {took:?}");
    for p in pods {
        p.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_connection_on_the_old_pod_is_closed_when_the_peer_moves() {
    let pods = pods(3, |c| c).await;
    let mut alice = pods[0].connect("alice").await;
    let mut old_bob = pods[1].connect("bob").await;
    alice.wait_for_peer(&id("bob"), WAIT).await.unwrap();
    // Bob reattaches elsewhere while his old connection still looks alive.
    let mut bob = pods[2].connect("bob").await;
    match tokio::time::timeout(WAIT, async {
        loop {
            match old_bob.recv().await {
                Ok(_) => continue,
                Err(e) => return e,
            }
        }
    })
    .await
    .expect("the old connection is closed")
    {
        Error::Closed(Some(info)) => assert!(info.reason.contains("another relay pod"), "{info}"),
        other => panic!("unexpected end: {other}"),
    }
    let took = reachable(&alice, &mut bob, "bob").await;
    assert!(took < Duration::from_secs(1), "took {took:?}");
    assert_eq!(pods[1].fabric().stats().peers_moved, 1);
    // Alice never heard that Bob went offline: he did not.
    while let Ok(Ok(ev)) = tokio::time::timeout(Duration::from_millis(50), alice.recv()).await {
        assert!(!matches!(ev, Event::PeersWentOffline(_)), "{ev:?}");
    }
    for p in pods {
        p.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_presence_a_not_here_answer_repairs_the_cache_within_a_second() {
    let pods = pods(3, no_presence).await;
    let alice = pods[0].connect("alice").await;
    let mut bob = pods[1].connect("bob").await;
    reachable(&alice, &mut bob, "bob").await;
    assert!(pods[0].fabric().stats().lookups_found >= 1);
    bob.close().await;
    let mut bob = pods[2].connect("bob").await;
    let took = reachable(&alice, &mut bob, "bob").await;
    assert!(took < Duration::from_secs(1), "took {took:?}");
    let s = pods[0].fabric().stats();
    assert!(
        s.not_here_received >= 1,
        "the stale owner said NOT_HERE: {s:?}"
    );
    assert!(pods[1].fabric().stats().not_here_sent >= 1);
    for p in pods {
        p.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lookup_completes_on_the_first_answer_and_a_miss_on_the_last_no() {
    // A long timeout, so that finishing early is visibly not the timer.
    let pods = pods(3, |c| {
        let mut c = no_presence(c);
        c.lookup_timeout = Duration::from_secs(3);
        c
    })
    .await;
    let _bob = pods[2].connect("bob").await;
    let fabric = pods[0].fabric();
    let started = Instant::now();
    assert_eq!(
        fabric.locate(&id("bob")).await,
        Some(pods[2].addr().to_string())
    );
    let hit = started.elapsed();
    // openZro waits its full 200 ms on every miss.
    assert!(hit < Duration::from_millis(150), "lookup took {hit:?}");
    let started = Instant::now();
    assert_eq!(
        fabric.locate(&id("bob")).await,
        Some(pods[2].addr().to_string())
    );
    assert!(started.elapsed() < Duration::from_millis(20), "cached");
    assert_eq!(
        fabric.stats().who_has_sent,
        2,
        "one WHO_HAS per sibling, once"
    );

    let started = Instant::now();
    assert_eq!(fabric.locate(&id("nobody")).await, None);
    let miss = started.elapsed();
    assert!(
        miss < Duration::from_secs(1),
        "both siblings said NOT_HERE: {miss:?}"
    );
    // The negative answer is remembered: no new broadcast.
    assert_eq!(fabric.locate(&id("nobody")).await, None);
    assert_eq!(fabric.stats().who_has_sent, 4);
    for p in pods {
        p.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_message_to_an_unknown_peer_waits_for_the_lookup_not_lost() {
    let pods = pods(2, no_presence).await;
    let alice = pods[0].connect("alice").await;
    let mut bob = pods[1].connect("bob").await;
    // Three messages before anyone knows where Bob is: all follow the answer, in order.
    for m in [&b"one"[..], b"two", b"three"] {
        alice.send(&id("bob"), m).await.unwrap();
    }
    for m in [&b"one"[..], b"two", b"three"] {
        assert_eq!(next_transport(&mut bob).await.1, m);
    }
    let s = pods[0].fabric().stats();
    assert_eq!(s.lookups, 1, "one lookup for the three: {s:?}");
    assert!(s.forwards_pending >= 1);
    for p in pods {
        p.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_says_goodbye_so_siblings_drop_its_peers_at_once() {
    let mut pods = pods(2, |c| c).await;
    let mut alice = pods[0].connect("alice").await;
    let _bob = pods[1].connect("bob").await;
    alice.wait_for_peer(&id("bob"), WAIT).await.unwrap();
    let leaving = pods.pop().unwrap();
    let fabric = leaving.fabric().clone();
    leaving.cluster.stop().await;
    leaving.cluster.stop().await; // twice is fine
    presence(&mut alice, &id("bob"), false).await;
    // A stopped fabric refuses to forward instead of queueing into the void.
    let msg = relay_cluster::wire::encode_transport(&id("x"), b"").unwrap();
    assert!(fabric.forward(&id("alice"), msg).is_err());
    leaving.server.shutdown().await;
    let s = pods[0]
        .fabric()
        .wait_until(WAIT, |s| s.links.is_empty())
        .await
        .unwrap();
    assert!(s.links.is_empty());
    for p in pods {
        p.stop().await;
    }
}
