//! mDNS on loopback, with real mdns-sd daemons: inside a private network namespace when the
//! machine allows `unshare -n`, otherwise on the shared loopback interface with a private
//! port and service type.
#![cfg(feature = "mdns")]
// Timings are printed so that a slow run can be told from a failing one.
#![allow(clippy::print_stderr)]

mod support;

use std::net::{IpAddr, Ipv4Addr};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use zap_discovery::mdns::{Announcement, Mdns, MdnsConfig};
use zap_discovery::{Discovery, PeerEvent, ServiceType};

const ANNOUNCE_ENV: &str = "ZAP_DISCOVERY_TEST_ANNOUNCE";

fn config(port: u16) -> MdnsConfig {
    MdnsConfig::new().with_port(port).without_probing()
}

fn service(tag: &str) -> ServiceType {
    ServiceType::new(&support::service_type(tag)).expect("valid service type")
}

/// Waits for the next event matching `want`, skipping others, at most `timeout`.
async fn next_matching(
    sub: &mut zap_discovery::Subscription,
    timeout: Duration,
    mut want: impl FnMut(&PeerEvent) -> bool,
) -> PeerEvent {
    tokio::time::timeout(timeout, async {
        loop {
            match sub.recv().await {
                Some(ev) if want(&ev) => return ev,
                Some(_) => continue,
                None => panic!("discovery stopped while waiting"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no matching event within {timeout:?}"))
}

#[test]
fn two_announcers_are_found_within_100ms() {
    support::isolated("two_announcers_are_found_within_100ms", || {
        support::init_tracing();
        support::runtime().block_on(async {
            let port = support::free_udp_port();
            let st = service("two");
            let browsing = Mdns::new(config(port)).unwrap();
            let browse = browsing.browse(&st).unwrap();
            browse.wait_started(Duration::from_secs(2)).await.unwrap();
            let mut sub = browse.subscribe();

            // A second daemon plays the other process.
            let announcing = Mdns::new(config(port)).unwrap();
            let started = Instant::now();
            let _a = announcing
                .announce(Announcement::new(st.clone(), "node-a", 9001))
                .unwrap();
            let _b = announcing
                .announce(Announcement::new(st.clone(), "node-b", 9002))
                .unwrap();
            let snap = sub
                .wait_for_peers(2, Duration::from_millis(100))
                .await
                .expect("both announcers seen within 100 ms");
            let took = started.elapsed();
            eprintln!(
                "two announcers seen after {took:?} (netns: {})",
                support::in_netns()
            );

            let a = snap.get("node-a").expect("node-a found");
            let b = snap.get("node-b").expect("node-b found");
            assert_eq!(a.addr(), (Ipv4Addr::LOCALHOST, 9001).into());
            assert_eq!(b.addr(), (Ipv4Addr::LOCALHOST, 9002).into());
            assert_eq!(a.service_type(), st.as_str());
            assert_eq!(browse.peer_count(), 2);
        });
    });
}

#[test]
fn metadata_round_trips() {
    support::isolated("metadata_round_trips", || {
        support::runtime().block_on(async {
            let port = support::free_udp_port();
            let st = service("meta");
            let mdns = Mdns::new(config(port)).unwrap();
            let browse = mdns.browse(&st).unwrap();
            browse.wait_started(Duration::from_secs(2)).await.unwrap();
            let mut sub = browse.subscribe();
            let ann = Announcement::new(st.clone(), "node-m", 7000)
                .with_meta("role", "api")
                .with_meta("version", "1.2.3")
                .with_meta("region", "eu west=1")
                .with_meta("empty", "");
            let expected = ann.metadata.clone();
            let _m = mdns.announce(ann).unwrap();
            let snap = sub.wait_for_peers(1, Duration::from_secs(1)).await.unwrap();
            let peer = &snap[0];
            assert_eq!(peer.node_id(), Some("node-m"));
            assert_eq!(
                peer.metadata(),
                &expected,
                "metadata arrives unchanged, `id` excluded"
            );
        });
    });
}

#[test]
fn goodbye_removes_a_peer_within_100ms() {
    support::isolated("goodbye_removes_a_peer_within_100ms", || {
        support::init_tracing();
        support::runtime().block_on(async {
            let port = support::free_udp_port();
            let st = service("bye");
            let browsing = Mdns::new(config(port)).unwrap();
            let browse = browsing.browse(&st).unwrap();
            browse.wait_started(Duration::from_secs(2)).await.unwrap();
            let mut sub = browse.subscribe();
            let announcing = Mdns::new(config(port)).unwrap();
            let leaving = announcing
                .announce(Announcement::new(st.clone(), "leaving", 9100))
                .unwrap();
            let _staying = announcing
                .announce(Announcement::new(st.clone(), "staying", 9101))
                .unwrap();
            sub.wait_for_peers(2, Duration::from_secs(1)).await.unwrap();

            let started = Instant::now();
            leaving.withdraw().await.unwrap();
            let ev = next_matching(&mut sub, Duration::from_millis(100), |ev| {
                matches!(ev, PeerEvent::Removed(_))
            })
            .await;
            let took = started.elapsed();
            eprintln!("goodbye took effect after {took:?}");
            match ev {
                PeerEvent::Removed(p) => assert_eq!(p.node_id(), Some("leaving")),
                other => panic!("unexpected {other:?}"),
            }
            let left: Vec<_> = browse.peers().iter().map(|p| p.key().to_string()).collect();
            assert_eq!(left, ["staying"]);
        });
    });
}

#[test]
fn a_node_does_not_find_itself() {
    support::isolated("a_node_does_not_find_itself", || {
        support::runtime().block_on(async {
            let port = support::free_udp_port();
            let st = service("self");
            let mdns = Mdns::new(config(port)).unwrap();
            let browse = mdns.browse_excluding(&st, Some("me")).unwrap();
            browse.wait_started(Duration::from_secs(2)).await.unwrap();
            let mut sub = browse.subscribe();
            let _me = mdns
                .announce(Announcement::new(st.clone(), "me", 9200))
                .unwrap();
            let _other = mdns
                .announce(Announcement::new(st.clone(), "other", 9201))
                .unwrap();
            let snap = sub.wait_for_peers(1, Duration::from_secs(1)).await.unwrap();
            assert_eq!(snap.len(), 1);
            assert_eq!(snap[0].node_id(), Some("other"));
        });
    });
}

#[test]
fn a_late_browser_finds_existing_announcers() {
    support::isolated("a_late_browser_finds_existing_announcers", || {
        support::runtime().block_on(async {
            let port = support::free_udp_port();
            let st = service("late");
            let announcing = Mdns::new(config(port)).unwrap();
            let _a = announcing
                .announce(Announcement::new(st.clone(), "early", 9300))
                .unwrap();
            let browsing = Mdns::new(config(port)).unwrap();
            let browse = browsing.browse(&st).unwrap();
            // The query waits 20-120 ms (RFC 6762 jitter), the answer another 20-120 ms.
            let snap = browse
                .subscribe()
                .wait_for_peers(1, Duration::from_secs(2))
                .await
                .unwrap();
            assert_eq!(snap[0].node_id(), Some("early"));
        });
    });
}

/// Records written the way Go luxfi/mdns (zeroconf) writes them, with mdns-sd directly:
/// the node id comes from TXT `id`, else from the instance name.
#[test]
fn go_style_records_are_understood() {
    support::isolated("go_style_records_are_understood", || {
        support::runtime().block_on(async {
            let port = support::free_udp_port();
            let st = service("gocompat");
            let browsing = Mdns::new(config(port)).unwrap();
            let browse = browsing.browse(&st).unwrap();
            browse.wait_started(Duration::from_secs(2)).await.unwrap();
            let mut sub = browse.subscribe();

            let go = mdns_sd::ServiceDaemon::new_with_port(port).unwrap();
            go.disable_interface(mdns_sd::IfKind::All).unwrap();
            go.enable_interface(mdns_sd::IfKind::LoopbackV4).unwrap();
            let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
            let mut with_id = mdns_sd::ServiceInfo::new(
                &st.fqdn(),
                "renamed-instance",
                "gohost.local.",
                ip,
                9400,
                &[("id", "go-node-1"), ("zone", "a")][..],
            )
            .unwrap();
            with_id.set_requires_probe(false);
            let mut without_id = mdns_sd::ServiceInfo::new(
                &st.fqdn(),
                "go-node-2",
                "gohost2.local.",
                ip,
                9401,
                None::<std::collections::HashMap<String, String>>,
            )
            .unwrap();
            without_id.set_requires_probe(false);
            go.register(with_id).unwrap();
            go.register(without_id).unwrap();

            let snap = sub.wait_for_peers(2, Duration::from_secs(1)).await.unwrap();
            let one = snap.get("go-node-1").expect("id taken from TXT");
            assert_eq!(one.meta("zone"), Some("a"));
            assert!(one.meta("id").is_none());
            let two = snap
                .get("go-node-2")
                .expect("id taken from the instance name");
            assert_eq!(two.addr().port(), 9401);
            let _ = go.shutdown();
        });
    });
}

#[test]
fn stopping_ends_subscriptions_and_is_idempotent() {
    support::isolated("stopping_ends_subscriptions_and_is_idempotent", || {
        support::runtime().block_on(async {
            let port = support::free_udp_port();
            let st = service("stop");
            let mdns = Mdns::new(config(port)).unwrap();
            let browse = mdns.browse(&st).unwrap();
            browse.wait_started(Duration::from_secs(2)).await.unwrap();
            let mut sub = browse.subscribe();
            let _a = mdns
                .announce(Announcement::new(st.clone(), "x", 9500))
                .unwrap();
            sub.wait_for_peers(1, Duration::from_secs(1)).await.unwrap();
            browse.stop();
            browse.stop();
            assert!(browse.is_stopped());
            assert_eq!(browse.peer_count(), 0);
            let end = tokio::time::timeout(Duration::from_secs(1), async {
                while sub.recv().await.is_some() {}
            })
            .await;
            assert!(end.is_ok(), "the subscription ends");

            let dropped = mdns.browse(&st).unwrap();
            let mut sub2 = dropped.subscribe();
            drop(dropped);
            assert!(sub2.recv().await.is_none(), "dropping stops too");
        });
    });
}

#[test]
fn killed_announcer_expires_after_the_stale_time() {
    support::isolated("killed_announcer_expires_after_the_stale_time", || {
        support::init_tracing();
        support::runtime().block_on(async {
            let stale = Duration::from_millis(1500);
            let every = Duration::from_millis(250);
            let port = support::free_udp_port();
            let st = service("kill");
            let cfg = config(port)
                .with_stale_after(stale)
                .with_verify_every(every);
            let mdns = Mdns::new(cfg).unwrap();
            let browse = mdns.browse(&st).unwrap();
            browse.wait_started(Duration::from_secs(2)).await.unwrap();
            let mut sub = browse.subscribe();

            // A live announcer that must survive the whole test: it answers every check.
            let other = Mdns::new(config(port)).unwrap();
            let _alive = other
                .announce(Announcement::new(st.clone(), "alive", 9600))
                .unwrap();
            // The victim runs in its own process so that it can die without a goodbye.
            let exe = std::env::current_exe().unwrap();
            let mut child = Command::new(exe)
                .args(["announcer_process", "--exact", "--ignored", "--nocapture"])
                .env(ANNOUNCE_ENV, format!("{port},{},victim,9601", st.as_str()))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let seen = sub.wait_for_peers(2, Duration::from_secs(5)).await;
            if seen.is_err() {
                let _ = child.kill();
            }
            seen.expect("both announcers seen");

            child.kill().unwrap();
            let killed = Instant::now();
            let _ = child.wait();
            let ev = next_matching(&mut sub, Duration::from_secs(4), |ev| {
                matches!(ev, PeerEvent::Removed(_))
            })
            .await;
            let took = killed.elapsed();
            eprintln!("killed announcer removed after {took:?} (stale time {stale:?})");
            match ev {
                PeerEvent::Removed(p) => assert_eq!(p.node_id(), Some("victim")),
                other => panic!("unexpected {other:?}"),
            }
            // A live responder may be silent for up to a second (it answers for a record at
            // most once a second), so the victim's last answer can precede its death by that
            // much; after the stale time, it is gone within one check interval.
            let earliest = stale - Duration::from_millis(1050);
            let latest = stale + every + Duration::from_millis(500);
            assert!(took >= earliest, "removed too early: {took:?}");
            assert!(took <= latest, "removed too late: {took:?}");
            let left: Vec<_> = browse.peers().iter().map(|p| p.key().to_string()).collect();
            assert_eq!(left, ["alive"], "a peer that answers never expires");
        });
    });
}

/// Not a test: the announcer process that `killed_announcer_expires_after_the_stale_time`
/// starts and kills. It announces what the environment says and waits to be killed.
#[test]
#[ignore = "helper process, started by killed_announcer_expires_after_the_stale_time"]
fn announcer_process() {
    let Ok(spec) = std::env::var(ANNOUNCE_ENV) else {
        return;
    };
    let parts: Vec<&str> = spec.split(',').collect();
    let [port, st, node, listen] = parts[..] else {
        panic!("bad {ANNOUNCE_ENV}: {spec}");
    };
    support::runtime().block_on(async {
        let mdns = Mdns::new(config(port.parse().unwrap())).unwrap();
        let st = ServiceType::new(st).unwrap();
        let _a = mdns
            .announce(Announcement::new(st, node, listen.parse().unwrap()))
            .unwrap();
        // Runs until the parent kills the process.
        std::future::pending::<()>().await;
    });
}
