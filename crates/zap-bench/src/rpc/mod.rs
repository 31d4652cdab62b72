//! The RPC group: zap-rpc (over TCP, mutual TLS and QUIC) against the raw TCP floor,
//! tarpc and tonic, echoing the same payloads over loopback, one connection per contender.

mod pki;
mod raw;
mod tarpc_echo;
mod tonic_echo;
mod zap;

use serde::Serialize;

use crate::config::{Config, RPC_IN_FLIGHT};
use crate::echo::{Contender, EchoResult, Runner, measure};
use crate::error::BenchError;
use crate::layout::Layout;

/// The floor's name in results.
pub const RAW: &str = "raw TCP floor";
/// zap-rpc through its `Client` (the headline figure).
pub const ZAP_CLIENT: &str = "zap-rpc (Client)";
/// zap-rpc calling one `Connection` directly.
pub const ZAP_CONNECTION: &str = "zap-rpc (Connection)";
/// zap-rpc through its `Client` over mutual TLS 1.3.
pub const ZAP_TLS: &str = "zap-rpc over TLS (Client)";
/// zap-rpc through its `Client` over QUIC.
pub const ZAP_QUIC: &str = "zap-rpc over QUIC (Client)";
/// tarpc's name in results.
pub const TARPC: &str = "tarpc";
/// tonic's name in results.
pub const TONIC: &str = "tonic (gRPC)";

/// A contender (or one of its payload sizes) without figures in a run, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Pending {
    /// The contender.
    pub contender: String,
    /// Why it has no figures in this run.
    pub reason: String,
}

/// What the RPC group measured.
#[derive(Debug, Clone, Serialize)]
pub struct RpcResults {
    /// One entry per contender and payload size.
    pub results: Vec<EchoResult>,
    /// Contenders without figures in this run (none today; kept so that a contender
    /// that cannot run on some machine is reported, not silently left out).
    pub pending: Vec<Pending>,
}

impl RpcResults {
    /// The result of `contender` at `payload` bytes.
    pub fn get(&self, contender: &str, payload: usize) -> Option<&EchoResult> {
        self.results
            .iter()
            .find(|r| r.contender == contender && r.payload == payload)
    }
}

/// Starts every server on the server side, connects every client, and measures.
pub(crate) async fn run(
    layout: &Layout,
    cfg: &Config,
    progress: &dyn Fn(&str),
) -> Result<RpcResults, BenchError> {
    progress("starting servers");
    let (tls_server, tls_client) = pki::configs()?;
    let tls = zap::Transport::Tls(tls_server.clone(), tls_client.clone());
    let quic = zap::Transport::Quic(tls_server, tls_client);
    let raw_addr = layout.serve(RAW, raw::server()).await?;
    let zap_addr = layout
        .serve(ZAP_CLIENT, zap::server(zap::Transport::Tcp))
        .await?;
    let tls_addr = layout.serve(ZAP_TLS, zap::server(tls.clone())).await?;
    let quic_addr = layout.serve(ZAP_QUIC, zap::server(quic.clone())).await?;
    let tarpc_addr = layout.serve(TARPC, tarpc_echo::server()).await?;
    let tonic_addr = layout.serve(TONIC, tonic_echo::server()).await?;
    let sizes = &cfg.sizes;
    let contenders: Vec<Box<dyn Runner>> = vec![
        Box::new(Contender::new(
            raw::RawEcho::connect(raw_addr).await?,
            sizes,
        )?),
        Box::new(Contender::new(
            zap::ZapClient::connect(zap_addr.clone(), &zap::Transport::Tcp).await?,
            sizes,
        )?),
        Box::new(Contender::new(
            zap::ZapConnection::connect(zap_addr).await?,
            sizes,
        )?),
        Box::new(Contender::new(
            zap::ZapClient::connect(tls_addr, &tls).await?,
            sizes,
        )?),
        Box::new(Contender::new(
            zap::ZapClient::connect(quic_addr, &quic).await?,
            sizes,
        )?),
        Box::new(Contender::new(
            tarpc_echo::TarpcEcho::connect(tarpc_addr).await?,
            sizes,
        )?),
        Box::new(Contender::new(
            tonic_echo::TonicEcho::connect(tonic_addr).await?,
            sizes,
        )?),
    ];
    let results = measure(&contenders, layout.threads(), cfg, &RPC_IN_FLIGHT, progress).await?;
    Ok(RpcResults {
        results,
        pending: Vec::new(),
    })
}
