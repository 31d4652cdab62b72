//! The `Discovery` trait that clients (zap-rpc, zap-http, relay-cluster) hold.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::error::Error;
use crate::peer_set::{Snapshot, Subscription};

/// A boxed future, so that [`Discovery`] stays usable as `Arc<dyn Discovery>`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A source of peers of one service type.
///
/// Reading is cheap and never blocks on the network: [`peers`](Self::peers) returns the
/// latest [`Snapshot`] (sorted by key, so a round-robin over it is stable), and
/// [`subscribe`](Self::subscribe) delivers changes as they happen, so a client re-balances
/// without polling. A discovery lives until [`stop`](Self::stop) or until it is dropped,
/// whichever comes first; stopping is idempotent, ends every subscription and empties the
/// set.
///
/// The trait is object safe; hold it as `Arc<dyn Discovery>` to switch backends at run time.
pub trait Discovery: Send + Sync {
    /// The service type this discovery looks for (e.g. `_luxd._tcp`).
    fn service_type(&self) -> &str;

    /// The current peers.
    fn peers(&self) -> Snapshot;

    /// How many peers there are now.
    fn peer_count(&self) -> usize {
        self.peers().len()
    }

    /// Subscribes to changes, starting from the current snapshot.
    fn subscribe(&self) -> Subscription;

    /// Asks the backend to look again now (a DNS re-resolution, for example) and returns
    /// the resulting set, or the error that prevented it. Backends that are always up to
    /// date return the current set.
    fn refresh(&self) -> BoxFuture<'_, Result<Snapshot, Error>> {
        let peers = self.peers();
        Box::pin(async move { Ok(peers) })
    }

    /// The backend's latest failure, if its most recent attempt failed; cleared by the next
    /// success. Waits for peers include it in their timeout error.
    fn last_error(&self) -> Option<Error> {
        None
    }

    /// Stops looking: background work ends, subscriptions end, the set empties. Idempotent.
    fn stop(&self);

    /// True once stopped.
    fn is_stopped(&self) -> bool;
}

/// Forwards every method of [`Discovery`] through a smart pointer, so an `Arc` or a `Box`
/// of a discovery is a discovery too.
macro_rules! forward_discovery {
    ($($ptr:ident),*) => {$(
        impl<D: Discovery + ?Sized> Discovery for $ptr<D> {
            fn service_type(&self) -> &str {
                (**self).service_type()
            }
            fn peers(&self) -> Snapshot {
                (**self).peers()
            }
            fn peer_count(&self) -> usize {
                (**self).peer_count()
            }
            fn subscribe(&self) -> Subscription {
                (**self).subscribe()
            }
            fn refresh(&self) -> BoxFuture<'_, Result<Snapshot, Error>> {
                (**self).refresh()
            }
            fn last_error(&self) -> Option<Error> {
                (**self).last_error()
            }
            fn stop(&self) {
                (**self).stop()
            }
            fn is_stopped(&self) -> bool {
                (**self).is_stopped()
            }
        }
    )*};
}

forward_discovery!(Arc, Box);
