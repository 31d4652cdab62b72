//! The fabric reports through the `metrics` facade under the `relay_cluster_*` names:
//! a recorder installed for this test binary sees exact counts.
#![cfg(feature = "cluster")]

mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use metrics::{
    Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
    SharedString, Unit,
};
use relay_cluster::metrics as m;
use support::*;

/// One value per metric name and label set, e.g. `relay_cluster_dials_total{result=ok}`.
#[derive(Default)]
struct Capture {
    values: Mutex<HashMap<String, Arc<Cell>>>,
}

#[derive(Default)]
struct Cell(AtomicU64);

impl CounterFn for Cell {
    fn increment(&self, v: u64) {
        self.0.fetch_add(v, Ordering::Relaxed);
    }
    fn absolute(&self, v: u64) {
        self.0.fetch_max(v, Ordering::Relaxed);
    }
}

impl GaugeFn for Cell {
    fn increment(&self, v: f64) {
        self.set(f64::from_bits(self.0.load(Ordering::Relaxed)) + v);
    }
    fn decrement(&self, v: f64) {
        self.set(f64::from_bits(self.0.load(Ordering::Relaxed)) - v);
    }
    fn set(&self, v: f64) {
        self.0.store(v.to_bits(), Ordering::Relaxed);
    }
}

impl HistogramFn for Cell {
    /// Counts observations.
    fn record(&self, _: f64) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

impl Capture {
    fn cell(&self, key: &Key) -> Arc<Cell> {
        let mut labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        labels.sort();
        let name = if labels.is_empty() {
            key.name().to_owned()
        } else {
            format!("{}{{{}}}", key.name(), labels.join(","))
        };
        self.values.lock().unwrap().entry(name).or_default().clone()
    }

    fn get(&self, name: &str) -> u64 {
        self.values
            .lock()
            .unwrap()
            .get(name)
            .map_or(0, |c| c.0.load(Ordering::Relaxed))
    }

    fn gauge(&self, name: &str) -> f64 {
        f64::from_bits(self.get(name))
    }
}

struct Global(&'static Capture);

impl Recorder for Global {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(self.0.cell(key))
    }
    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(self.0.cell(key))
    }
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(self.0.cell(key))
    }
}

fn capture() -> &'static Capture {
    static CAPTURE: OnceLock<&'static Capture> = OnceLock::new();
    CAPTURE.get_or_init(|| {
        let c: &'static Capture = Box::leak(Box::default());
        metrics::set_global_recorder(Global(c)).expect("the only recorder of this binary");
        c
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_events_are_counted_under_their_names() {
    let metrics = capture();
    let pods = pods(2, |mut c| {
        c.presence = false;
        c
    })
    .await;
    assert!(metrics.get(&format!("{}{{result=ok}}", m::CLUSTER_DIALS)) >= 1);
    // (Both pods of this process write the one gauge, so only its presence is checked
    // here; its final value is checked once every pod has stopped.)
    assert!(
        metrics
            .values
            .lock()
            .unwrap()
            .contains_key(m::CLUSTER_STREAMS)
    );

    let alice = pods[0].connect("alice").await;
    let mut bob = pods[1].connect("bob").await;
    alice.send(&id("bob"), b"one").await.unwrap();
    assert_eq!(next_transport(&mut bob).await.1, b"one");
    alice.send(&id("nobody"), b"lost").await.unwrap();
    pods[0]
        .fabric()
        .wait_until(WAIT, |_| pods[0].fabric().stats().lookups_failed == 1)
        .await
        .unwrap();

    // The lookup for bob, and the one that found nobody (the only sibling said NOT_HERE).
    assert_eq!(
        metrics.get(&format!("{}{{result=found}}", m::CLUSTER_LOOKUPS)),
        1
    );
    assert_eq!(
        metrics.get(&format!("{}{{result=not_found}}", m::CLUSTER_LOOKUPS)),
        1
    );
    assert_eq!(
        metrics.get(m::CLUSTER_LOOKUP_SECONDS),
        1,
        "one lookup answered"
    );
    assert_eq!(
        metrics.get(&format!("{}{{result=pending}}", m::CLUSTER_FORWARDS)),
        2
    );
    assert_eq!(
        metrics.get(&format!("{}{{result=ok}}", m::CLUSTER_FORWARDS)),
        1
    );
    assert_eq!(
        metrics.get(&format!("{}{{reason=lookup_failed}}", m::CLUSTER_DROPPED)),
        1
    );
    assert_eq!(metrics.get(m::CLUSTER_DELIVERED), 1);
    assert_eq!(
        metrics.get(&format!("{}{{direction=sent}}", m::CLUSTER_NOT_HERE)),
        1
    );
    assert_eq!(
        metrics.get(&format!("{}{{direction=received}}", m::CLUSTER_NOT_HERE)),
        1
    );
    assert!(metrics.get(&format!("{}{{direction=sent}}", m::CLUSTER_BYTES)) > 0);

    // Keepalive runs (openZro registers these two and never counts anything).
    pods[0]
        .fabric()
        .wait_until(WAIT, |_| {
            metrics.get(m::CLUSTER_PINGS_SENT) >= 2 && metrics.get(m::CLUSTER_PING_RTT) >= 1
        })
        .await
        .unwrap();

    // A refused handshake is counted by reason and side.
    let d = empty_discovery();
    let intruder = Pod::start(config(ip(4), &d).with_secrets(["wrong"]), d).await;
    intruder.set_siblings(&[pods[0].addr()]);
    pods[0]
        .fabric()
        .wait_until(WAIT, |_| {
            pods[0].fabric().stats().rejects("unknown_key") >= 1
        })
        .await
        .unwrap();
    assert!(
        metrics.get(&format!(
            "{}{{reason=unknown_key,side=accept}}",
            m::CLUSTER_HELLO_REJECTS
        )) >= 1
    );
    intruder.stop().await;
    for p in pods {
        p.stop().await;
    }
    assert_eq!(metrics.gauge(m::CLUSTER_STREAMS), 0.0);
    assert!(metrics.get(&format!("{}{{reason=goodbye}}", m::CLUSTER_LINKS_DOWN)) >= 1);
}
