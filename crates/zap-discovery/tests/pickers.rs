//! Pickers and the static backend.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use zap_discovery::{
    Discovery, Error, Peer, PeerEvent, Picker, PowerOfTwoChoices, RoundRobin, StaticDiscovery,
};

fn peers(n: u16) -> Vec<Peer> {
    (0..n)
        .map(|i| {
            Peer::new(SocketAddr::from(([127, 0, 0, 1], 9000 + i))).with_node_id(format!("n{i:02}"))
        })
        .collect()
}

#[test]
fn round_robin_is_fair_and_in_a_stable_order() {
    let d = StaticDiscovery::new("_t._tcp", peers(5).into_iter().rev()).unwrap();
    let rr = RoundRobin::new();
    let picked: Vec<String> = (0..10)
        .map(|_| rr.pick_from(&d).unwrap().key().to_string())
        .collect();
    // Sorted by key regardless of the order given, and each peer once per round.
    assert_eq!(
        picked,
        [
            "n00", "n01", "n02", "n03", "n04", "n00", "n01", "n02", "n03", "n04"
        ]
    );

    let mut counts: HashMap<String, usize> = HashMap::new();
    for _ in 0..5000 {
        *counts
            .entry(rr.pick_from(&d).unwrap().key().to_string())
            .or_default() += 1;
    }
    assert_eq!(counts.len(), 5);
    assert!(counts.values().all(|&c| c == 1000), "{counts:?}");
}

#[test]
fn round_robin_is_fair_across_threads() {
    let set = Arc::new(peers(4));
    let rr = Arc::new(RoundRobin::new());
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let (set, rr) = (set.clone(), rr.clone());
            std::thread::spawn(move || {
                let mut counts = [0usize; 4];
                for _ in 0..1000 {
                    let p = rr.pick(&set).unwrap();
                    counts[usize::from(p.addr().port() - 9000)] += 1;
                }
                counts
            })
        })
        .collect();
    let mut total = [0usize; 4];
    for h in handles {
        for (t, c) in total.iter_mut().zip(h.join().unwrap()) {
            *t += c;
        }
    }
    assert_eq!(total, [1000; 4]);
}

#[test]
fn power_of_two_choices_prefers_the_less_loaded_peer() {
    let set = peers(4);
    // n03 is idle, the others are busy.
    let p2c = PowerOfTwoChoices::with_seed(|p: &Peer| if p.key() == "n03" { 0 } else { 100 }, 42);
    let mut idle = 0;
    let trials = 10_000;
    for _ in 0..trials {
        if p2c.pick(&set).unwrap().key() == "n03" {
            idle += 1;
        }
    }
    // The idle peer wins whenever it is one of the two sampled: 1 - (3/4 * 2/3) = 1/2 of
    // the time, against 1/4 for a uniform choice.
    let share = f64::from(idle) / f64::from(trials);
    assert!((0.45..0.55).contains(&share), "idle peer share {share}");

    // With live load hints the picks even out: each pick adds load to the chosen peer.
    let load: Arc<Vec<AtomicU64>> = Arc::new((0..4).map(|_| AtomicU64::new(0)).collect());
    let hint = {
        let load = load.clone();
        move |p: &Peer| load[usize::from(p.addr().port() - 9000)].load(Ordering::Relaxed)
    };
    let balanced = PowerOfTwoChoices::with_seed(hint, 7);
    for _ in 0..4000 {
        let p = balanced.pick(&set).unwrap();
        load[usize::from(p.addr().port() - 9000)].fetch_add(1, Ordering::Relaxed);
    }
    let loads: Vec<u64> = load.iter().map(|l| l.load(Ordering::Relaxed)).collect();
    let (min, max) = (loads.iter().min().unwrap(), loads.iter().max().unwrap());
    // Uniform random picks would spread by about 2 * sqrt(1000) = 60 here; two choices
    // keep the spread to a few calls (log log n).
    assert!(
        max - min <= 4,
        "power of two choices keeps loads close: {loads:?}"
    );
}

#[test]
fn pickers_work_behind_trait_objects() {
    let d: Arc<dyn Discovery> = Arc::new(StaticDiscovery::new("_t._tcp", peers(2)).unwrap());
    let pickers: Vec<Box<dyn Picker>> = vec![
        Box::new(RoundRobin::new()),
        Box::new(PowerOfTwoChoices::new(|_: &Peer| 0)),
    ];
    for picker in &pickers {
        assert!(picker.pick_from(&*d).is_ok());
        assert!(matches!(picker.pick(&[]), Err(Error::NoPeers)));
    }
}

#[tokio::test]
async fn static_lists_can_be_replaced_and_notify() {
    let d = StaticDiscovery::parse("_t._tcp", ["a@127.0.0.1:1", "127.0.0.1:2"]).unwrap();
    assert_eq!(d.peer_count(), 2);
    let unnamed = d.peers().get("127.0.0.1:2").cloned().unwrap();
    assert_eq!(unnamed.node_id(), None);
    assert_eq!(unnamed.service_type(), "_t._tcp");

    let mut sub = d.subscribe();
    d.set_peers([
        "a@127.0.0.1:5".parse().unwrap(),
        "b@127.0.0.1:3".parse().unwrap(),
    ])
    .unwrap();
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(match sub.recv().await.unwrap() {
            PeerEvent::Added(p) => format!("+{p}"),
            PeerEvent::Removed(p) => format!("-{p}"),
            PeerEvent::Updated { old, new } => format!("{old}>{new}"),
            PeerEvent::Resync(_) => "resync".into(),
        });
    }
    assert_eq!(
        seen,
        [
            "-127.0.0.1:2",
            "a@127.0.0.1:1>a@127.0.0.1:5",
            "+b@127.0.0.1:3"
        ]
    );
    assert!(StaticDiscovery::parse("_t._tcp", ["not an address"]).is_err());
}

/// zap-rpc and zap-http hold these across tasks and threads; this fails to compile if one
/// of them stops being shareable.
#[test]
fn public_types_can_cross_threads() {
    fn shareable<T: Send + Sync>() {}
    fn sendable<T: Send>() {}
    shareable::<Peer>();
    shareable::<zap_discovery::Snapshot>();
    shareable::<zap_discovery::PeerSet>();
    shareable::<StaticDiscovery>();
    shareable::<Arc<dyn Discovery>>();
    shareable::<Arc<dyn Picker>>();
    shareable::<RoundRobin>();
    shareable::<PowerOfTwoChoices<fn(&Peer) -> u64>>();
    shareable::<Error>();
    sendable::<zap_discovery::Subscription>();
    sendable::<PeerEvent>();
    #[cfg(feature = "mdns")]
    {
        shareable::<zap_discovery::mdns::MdnsDiscovery>();
        shareable::<zap_discovery::mdns::Announcer>();
        shareable::<zap_discovery::mdns::Mdns>();
    }
    #[cfg(feature = "dns")]
    shareable::<zap_discovery::dns::DnsDiscovery>();
}
