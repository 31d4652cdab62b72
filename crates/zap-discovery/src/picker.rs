//! Choosing one peer per call: round robin and power of two choices.

use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crate::discovery::Discovery;
use crate::error::Error;
use crate::peer::Peer;

/// Chooses the peer for one call. Cheap, lock-free and shared between threads.
pub trait Picker: Send + Sync {
    /// Picks one of `peers`, or fails with [`Error::NoPeers`] when there are none.
    fn pick<'a>(&self, peers: &'a [Peer]) -> Result<&'a Peer, Error>;

    /// Picks from the current peers of `discovery`.
    fn pick_from(&self, discovery: &dyn Discovery) -> Result<Peer, Error> {
        let snapshot = discovery.peers();
        self.pick(&snapshot).cloned()
    }
}

impl<P: Picker + ?Sized> Picker for Arc<P> {
    fn pick<'a>(&self, peers: &'a [Peer]) -> Result<&'a Peer, Error> {
        (**self).pick(peers)
    }
}

impl<P: Picker + ?Sized> Picker for Box<P> {
    fn pick<'a>(&self, peers: &'a [Peer]) -> Result<&'a Peer, Error> {
        (**self).pick(peers)
    }
}

/// Takes the peers in turn.
///
/// Snapshots are sorted by key, so the order is the same from call to call and every peer
/// gets its turn (Go's picker walked a map, whose order changes each time). When the set
/// changes the rotation carries on over the new set.
#[derive(Debug, Default)]
pub struct RoundRobin {
    next: AtomicUsize,
}

impl RoundRobin {
    /// A picker that starts with the first peer.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Picker for RoundRobin {
    fn pick<'a>(&self, peers: &'a [Peer]) -> Result<&'a Peer, Error> {
        if peers.is_empty() {
            return Err(Error::NoPeers);
        }
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        Ok(&peers[n % peers.len()])
    }
}

/// Power of two choices: samples two different peers at random and takes the one with the
/// lower load, as reported by a function the caller supplies (in-flight calls, queue depth,
/// latency). It spreads load nearly as well as always taking the least loaded peer, without
/// a herd all choosing the same one.
pub struct PowerOfTwoChoices<F> {
    load: F,
    rng: SplitMix,
}

impl<F> fmt::Debug for PowerOfTwoChoices<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PowerOfTwoChoices").finish_non_exhaustive()
    }
}

impl<F> PowerOfTwoChoices<F>
where
    F: Fn(&Peer) -> u64 + Send + Sync,
{
    /// A picker that asks `load` how busy a peer is (lower is better).
    pub fn new(load: F) -> Self {
        Self {
            load,
            rng: SplitMix::from_entropy(),
        }
    }

    /// Same, with a fixed random seed (reproducible tests and benchmarks).
    pub fn with_seed(load: F, seed: u64) -> Self {
        Self {
            load,
            rng: SplitMix(AtomicU64::new(seed)),
        }
    }
}

impl<F> Picker for PowerOfTwoChoices<F>
where
    F: Fn(&Peer) -> u64 + Send + Sync,
{
    fn pick<'a>(&self, peers: &'a [Peer]) -> Result<&'a Peer, Error> {
        let n = peers.len();
        match n {
            0 => Err(Error::NoPeers),
            1 => Ok(&peers[0]),
            _ => {
                let r = self.rng.next();
                let i = bounded(r, n);
                // The second index is drawn from the other n-1 peers, so the two differ.
                let j = (i + 1 + bounded(r.rotate_left(32), n - 1)) % n;
                let (a, b) = (&peers[i], &peers[j]);
                Ok(if (self.load)(b) < (self.load)(a) {
                    b
                } else {
                    a
                })
            }
        }
    }
}

/// Maps a random `u64` onto `0..n` without the bias of a plain modulo.
fn bounded(r: u64, n: usize) -> usize {
    ((u128::from(r) * n as u128) >> 64) as usize
}

/// A lock-free SplitMix64 generator: statistically fine for load balancing, not for secrets.
struct SplitMix(AtomicU64);

impl SplitMix {
    fn from_entropy() -> Self {
        // RandomState is seeded by the OS once per process and perturbed per instance.
        Self(AtomicU64::new(RandomState::new().hash_one(0x5eed_u64)))
    }

    fn next(&self) -> u64 {
        let mut z = self
            .0
            .fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed)
            .wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peers(n: u16) -> Vec<Peer> {
        (0..n)
            .map(|i| Peer::new(([127, 0, 0, 1], 1000 + i).into()).with_node_id(format!("p{i}")))
            .collect()
    }

    #[test]
    fn empty_input_is_an_error() {
        assert!(matches!(RoundRobin::new().pick(&[]), Err(Error::NoPeers)));
        let p2c = PowerOfTwoChoices::new(|_: &Peer| 0);
        assert!(matches!(p2c.pick(&[]), Err(Error::NoPeers)));
    }

    #[test]
    fn bounded_stays_in_range() {
        for n in 1..50 {
            for r in [0, 1, u64::MAX, u64::MAX / 2, 0x1234_5678_9abc_def0] {
                assert!(bounded(r, n) < n);
            }
        }
    }

    #[test]
    fn two_choices_never_samples_the_same_peer_twice() {
        // With two peers and a load function that prefers whichever is sampled second,
        // both must get picked; if i == j were possible only one would come back at times.
        let set = peers(2);
        let p2c = PowerOfTwoChoices::with_seed(|p: &Peer| u64::from(p.addr().port()), 7);
        for _ in 0..100 {
            assert_eq!(p2c.pick(&set).unwrap().key(), "p0");
        }
    }
}
