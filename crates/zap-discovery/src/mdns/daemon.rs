//! One configured mdns-sd daemon, shared by the announcements and browses made through it.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;

use mdns_sd::{IfKind, ServiceDaemon};
use socket2::{Domain, Protocol, Socket, Type};

use super::config::{Interfaces, MdnsConfig};
use crate::error::Error;

/// A running mDNS responder and querier (one mdns-sd daemon thread and its sockets).
///
/// Create one per process and port, then [`announce`](Self::announce) and
/// [`browse`](Self::browse) through it. Clones share the daemon; it shuts down (sending
/// goodbyes for anything still announced) when the last clone, announcer and browse are
/// gone.
///
/// The interface selection is applied before anything is announced or queried, so with
/// [`Interfaces::Loopback`] no mDNS packet leaves the machine. (mdns-sd does join the
/// multicast group on every interface while it starts, before the selection applies; the
/// kernel may report that membership with IGMP. Run inside a network namespace for total
/// isolation, as our tests do.)
#[derive(Clone)]
pub struct Mdns {
    pub(crate) shared: Arc<Shared>,
}

pub(crate) struct Shared {
    pub(crate) daemon: ServiceDaemon,
    pub(crate) config: MdnsConfig,
}

impl Drop for Shared {
    fn drop(&mut self) {
        // The daemon unregisters (says goodbye for) every remaining service before it exits.
        if let Err(e) = self.daemon.shutdown() {
            tracing::debug!(error = %e, "mdns daemon already stopped");
        }
    }
}

impl fmt::Debug for Mdns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mdns")
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

pub(crate) fn mdns_err(op: &'static str) -> impl Fn(mdns_sd::Error) -> Error {
    move |e| Error::Mdns {
        op,
        message: e.to_string(),
    }
}

impl Mdns {
    /// Starts a daemon with `config`.
    ///
    /// Fails when the configuration is invalid, a named interface does not exist, or the
    /// UDP port is held by a program that does not share it.
    pub fn new(config: MdnsConfig) -> Result<Self, Error> {
        config.validate()?;
        let span =
            tracing::info_span!("mdns.start", port = config.port, interfaces = %config.interfaces);
        let _guard = span.enter();

        if let Interfaces::Named(names) = &config.interfaces {
            let present = if_addrs::get_if_addrs().map_err(|e| Error::io("list interfaces", e))?;
            for name in names {
                if !present.iter().any(|i| &i.name == name) {
                    return Err(Error::Mdns {
                        op: "select interface",
                        message: format!("no interface named {name:?} has an address"),
                    });
                }
            }
        }
        // mdns-sd binds its sockets on its own thread and only logs a failure, so find out
        // here, the same way it binds (address and port reuse), whether the port is usable.
        drop(
            bind_shared(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, config.port).into()).map_err(
                |e| Error::Mdns {
                    op: "use port",
                    message: format!("UDP port {}: {e}", config.port),
                },
            )?,
        );

        let daemon = ServiceDaemon::new_with_port(config.port).map_err(mdns_err("start daemon"))?;
        let select = |daemon: &ServiceDaemon| -> Result<(), mdns_sd::Error> {
            match &config.interfaces {
                Interfaces::Loopback => {
                    daemon.disable_interface(IfKind::All)?;
                    daemon.enable_interface(IfKind::LoopbackV4)
                }
                Interfaces::All => daemon.enable_interface(IfKind::All),
                Interfaces::Named(names) => {
                    daemon.disable_interface(IfKind::All)?;
                    daemon.enable_interface(
                        names
                            .iter()
                            .map(|n| IfKind::Name(n.clone()))
                            .collect::<Vec<_>>(),
                    )
                }
            }
        };
        if let Err(e) = select(&daemon) {
            let _ = daemon.shutdown();
            return Err(mdns_err("select interfaces")(e));
        }
        tracing::debug!("mdns daemon started");
        Ok(Self {
            shared: Arc::new(Shared { daemon, config }),
        })
    }

    /// The configuration the daemon runs with.
    pub fn config(&self) -> &MdnsConfig {
        &self.shared.config
    }
}

/// A UDP socket bound the way mdns-sd binds (shared address and port), non-blocking.
pub(crate) fn bind_shared(addr: SocketAddr) -> Result<Socket, Error> {
    let sock = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))
        .map_err(|e| Error::io("create mDNS socket", e))?;
    sock.set_reuse_address(true)
        .map_err(|e| Error::io("share the mDNS port", e))?;
    #[cfg(all(unix, not(any(target_os = "solaris", target_os = "illumos"))))]
    if let Err(e) = sock.set_reuse_port(true) {
        tracing::debug!(error = %e, "SO_REUSEPORT unsupported");
    }
    sock.set_nonblocking(true)
        .map_err(|e| Error::io("make the mDNS socket non-blocking", e))?;
    sock.bind(&addr.into())
        .map_err(|e| Error::io("bind the mDNS port", e))?;
    Ok(sock)
}
