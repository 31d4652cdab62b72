//! zap-rpc: the stack under test, used the way its README shows, over TCP, mutual TLS
//! and QUIC.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use zap_rpc::{
    Client, ClientOptions, Connection, Context, MessageBuf, Procedure, Server, Status,
    TlsClientConfig, TlsServerConfig, TransportAddr,
};

use crate::echo::{Echo, check_len};
use crate::error::BenchError;

const SERVICE: &str = "_zapbench._tcp";
const PROCEDURE: &str = "Echo";
/// The root object's bytes field holding the payload.
const DATA: usize = 0;
/// A call that takes longer than this has hung; the measurement fails instead of waiting.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// The transport a zap-rpc contender runs over.
#[derive(Clone)]
pub(crate) enum Transport {
    /// Plain TCP.
    Tcp,
    /// Mutual TLS 1.3 over TCP (rustls, aws-lc-rs).
    Tls(TlsServerConfig, TlsClientConfig),
    /// QUIC (quinn), one stream per call, with the same certificates.
    Quic(TlsServerConfig, TlsClientConfig),
}

impl Transport {
    fn what(&self) -> &'static str {
        match self {
            Transport::Tcp => super::ZAP_CLIENT,
            Transport::Tls(..) => super::ZAP_TLS,
            Transport::Quic(..) => super::ZAP_QUIC,
        }
    }
}

/// Starts a zap-rpc server with one `Echo` procedure (the request comes back as is) on
/// `transport`; returns the address clients dial.
pub(crate) async fn server(transport: Transport) -> Result<(TransportAddr, Server), BenchError> {
    let what = transport.what();
    let fail = |e: zap_rpc::Error| BenchError::contender(what, e);
    let builder = Server::builder(SERVICE)
        .node_id("zap-bench-server")
        .listen(SocketAddr::from(([127, 0, 0, 1], 0)))
        .no_mdns()
        .register(PROCEDURE, |_ctx: Context, req: MessageBuf| async move {
            Ok::<_, Status>(req)
        })
        .map_err(fail)?;
    let builder = match transport {
        Transport::Tcp => builder,
        Transport::Tls(server, _) => builder.tls(server),
        Transport::Quic(server, _) => builder.quic(server),
    };
    let server = builder.start().await.map_err(fail)?;
    Ok((server.local_addr().clone(), server))
}

/// A message whose root object carries `data` in a bytes field.
fn message(data: &[u8]) -> Result<MessageBuf, BenchError> {
    let mut b = zap_wire::Builder::with_capacity(data.len() + 64);
    let mut root = b.object(8);
    root.set_bytes(DATA, data);
    root.finish_root();
    MessageBuf::from_builder(&mut b, 0).map_err(|e| BenchError::contender("zap-rpc", e))
}

async fn client(addr: TransportAddr, transport: &Transport) -> Result<Client, BenchError> {
    let options = ClientOptions::new()
        .node_id("zap-bench-client")
        .peers([addr])
        .call_timeout(CALL_TIMEOUT);
    let options = match transport {
        Transport::Tcp => options,
        Transport::Tls(_, client) => options.tls(client.clone()),
        Transport::Quic(_, client) => options.quic(client.clone()),
    };
    Client::connect(SERVICE, options)
        .await
        .map_err(|e| BenchError::contender(transport.what(), e))
}

/// Calls through [`Client::call`]: picker, connection pool, retries, metrics, timeout.
pub(crate) struct ZapClient {
    name: &'static str,
    client: Client,
    procedure: Procedure,
}

impl ZapClient {
    pub(crate) async fn connect(
        addr: TransportAddr,
        transport: &Transport,
    ) -> Result<Self, BenchError> {
        let name = transport.what();
        Ok(Self {
            name,
            client: client(addr, transport).await?,
            procedure: Procedure::new(PROCEDURE).map_err(|e| BenchError::contender(name, e))?,
        })
    }
}

impl Echo for ZapClient {
    type Payload = MessageBuf;
    type Worker = ();

    fn name(&self) -> &'static str {
        self.name
    }

    fn prepare(&self, data: &Bytes) -> Result<MessageBuf, BenchError> {
        message(data)
    }

    fn worker(&self) {}

    async fn call(&self, _: &mut (), msg: &MessageBuf) -> Result<(), BenchError> {
        let reply = self
            .client
            .call(self.procedure.clone(), msg.clone())
            .await
            .map_err(|e| BenchError::contender(self.name, e))?;
        check_len(self.name, msg.len(), reply.len())
    }
}

/// Calls straight on one [`Connection`]: the multiplexed connection alone, without the
/// client's picker, pool and metrics (the same connection code `Client` uses).
pub(crate) struct ZapConnection {
    // Keeps the client (and so the connection's owner) alive.
    _client: Client,
    conn: Connection,
    procedure: Procedure,
}

impl ZapConnection {
    pub(crate) async fn connect(addr: TransportAddr) -> Result<Self, BenchError> {
        let c = ZapClient::connect(addr, &Transport::Tcp).await?;
        // The first call opens the pooled connection that we then use directly.
        c.call(&mut (), &MessageBuf::empty()).await?;
        let conn =
            c.client.connections().into_iter().next().ok_or_else(|| {
                BenchError::contender(super::ZAP_CONNECTION, "no pooled connection")
            })?;
        Ok(Self {
            _client: c.client,
            conn,
            procedure: c.procedure,
        })
    }
}

impl Echo for ZapConnection {
    type Payload = MessageBuf;
    type Worker = ();

    fn name(&self) -> &'static str {
        super::ZAP_CONNECTION
    }

    fn prepare(&self, data: &Bytes) -> Result<MessageBuf, BenchError> {
        message(data)
    }

    fn worker(&self) {}

    async fn call(&self, _: &mut (), msg: &MessageBuf) -> Result<(), BenchError> {
        let reply = self
            .conn
            .call(self.procedure.clone(), msg.clone(), Some(CALL_TIMEOUT))
            .await
            .map_err(|e| BenchError::contender(super::ZAP_CONNECTION, e))?;
        check_len(super::ZAP_CONNECTION, msg.len(), reply.len())
    }
}
