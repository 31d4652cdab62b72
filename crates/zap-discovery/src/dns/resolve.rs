//! The hickory-resolver side: building the resolver, the lookups, and error classes.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{
    ConnectionConfig, LookupIpStrategy, NameServerConfig, ResolverConfig,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::rr::{Name, RData};
use tokio::task::JoinSet;

use super::{DnsConfig, DnsQuery};
use crate::error::{DnsErrorKind, Error};
use crate::peer::Peer;

/// A resolver with our options (no cache, both address families).
#[derive(Clone)]
pub(crate) struct Resolver(TokioResolver);

impl fmt::Debug for Resolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Resolver").finish_non_exhaustive()
    }
}

pub(crate) fn build(config: &DnsConfig) -> Result<Resolver, Error> {
    let mut builder = if config.nameservers.is_empty() {
        TokioResolver::builder_tokio()
            .map_err(|e| classify("the system resolver configuration", &e))?
    } else {
        let servers = config
            .nameservers
            .iter()
            .map(|server| {
                let mut udp = ConnectionConfig::udp();
                udp.port = server.port();
                let mut tcp = ConnectionConfig::tcp();
                tcp.port = server.port();
                NameServerConfig::new(server.ip(), true, vec![udp, tcp])
            })
            .collect();
        TokioResolver::builder_with_config(
            ResolverConfig::from_parts(None, Vec::new(), servers),
            TokioRuntimeProvider::default(),
        )
    };
    let opts = builder.options_mut();
    // Membership changes must show on the next refresh, not when a TTL runs out.
    opts.cache_size = 0;
    opts.timeout = config.timeout;
    opts.attempts = config.attempts;
    opts.ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
    builder
        .build()
        .map(Resolver)
        .map_err(|e| classify("building the resolver", &e))
}

/// Sorts a resolver failure into a class; "no such name" and "no records" are not failures
/// and are handled before this is called.
fn classify(name: &str, e: &NetError) -> Error {
    let kind = match e {
        NetError::Timeout => DnsErrorKind::Timeout,
        NetError::NoConnections | NetError::Io(_) | NetError::Busy => DnsErrorKind::Unreachable,
        NetError::Dns(DnsError::ResponseCode(_)) => DnsErrorKind::ServerFailure,
        NetError::Proto(_) => DnsErrorKind::Protocol,
        other if other.is_connection_closed() => DnsErrorKind::Unreachable,
        _ => DnsErrorKind::Other,
    };
    Error::Dns {
        name: name.to_string(),
        kind,
        message: e.to_string(),
    }
}

/// Addresses of `name`; none when the name does not exist or has no address records.
async fn addresses(resolver: &TokioResolver, name: Name) -> Result<Vec<IpAddr>, Error> {
    match resolver.lookup_ip(name.clone()).await {
        Ok(found) => Ok(found.iter().collect()),
        Err(e) if e.is_no_records_found() => Ok(Vec::new()),
        Err(e) => Err(classify(&name.to_string(), &e)),
    }
}

fn parse_name(text: &str) -> Result<Name, Error> {
    Name::from_utf8(text).map_err(|e| Error::InvalidDnsName {
        name: text.to_string(),
        reason: e.to_string(),
    })
}

pub(crate) async fn lookup(
    resolver: &Resolver,
    query: &DnsQuery,
    service_type: &str,
) -> Result<Vec<Peer>, Error> {
    let resolver = &resolver.0;
    match query {
        DnsQuery::Host { name, port } => {
            let ips = addresses(resolver, parse_name(name)?).await?;
            Ok(ips
                .into_iter()
                .map(|ip| {
                    Peer::new(SocketAddr::new(ip, *port))
                        .with_service_type(service_type)
                        .with_meta("dns.name", name.clone())
                })
                .collect())
        }
        DnsQuery::Srv { name } => {
            let srv_name = parse_name(name)?;
            let records = match resolver.srv_lookup(srv_name).await {
                Ok(lookup) => lookup,
                Err(e) if e.is_no_records_found() => return Ok(Vec::new()),
                Err(e) => return Err(classify(name, &e)),
            };
            // Target -> (port, priority, weight); a target named twice keeps its first record.
            let mut targets: BTreeMap<Name, (u16, u16, u16)> = BTreeMap::new();
            for record in records.answers() {
                if let RData::SRV(srv) = &record.data {
                    // RFC 2782: a target of "." means the service is not offered there.
                    if srv.target.is_root() {
                        continue;
                    }
                    targets.entry(srv.target.clone()).or_insert((
                        srv.port,
                        srv.priority,
                        srv.weight,
                    ));
                }
            }
            // The additional section may carry only some targets' addresses, so ask for
            // each target explicitly, all at once.
            let mut lookups = JoinSet::new();
            for (target, details) in targets {
                let resolver = resolver.clone();
                lookups.spawn(async move {
                    let ips = addresses(&resolver, target.clone()).await;
                    (target, details, ips)
                });
            }
            let mut peers = Vec::new();
            while let Some(joined) = lookups.join_next().await {
                let Ok((target, (port, priority, weight), ips)) = joined else {
                    continue;
                };
                let target_text = target.to_string();
                for ip in ips? {
                    peers.push(
                        Peer::new(SocketAddr::new(ip, port))
                            .with_service_type(service_type)
                            .with_meta("dns.name", name.clone())
                            .with_meta("dns.target", target_text.clone())
                            .with_meta("dns.priority", priority.to_string())
                            .with_meta("dns.weight", weight.to_string()),
                    );
                }
            }
            Ok(peers)
        }
    }
}
