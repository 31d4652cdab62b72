//! The same handlers over every transport: TCP, mutual TLS, QUIC and a Unix socket answer
//! identically, calls and sends alike, and one client can mix them by address scheme.

mod support;

use std::time::Duration;

use support::pki::Cluster;
use zap_rpc::{
    Client, ClientOptions, Context, ErrorCode, ErrorKind, MessageBuf, Server, ServerBuilder,
    Status, TransportAddr,
};

/// What a call came back with, comparable across transports.
#[derive(Debug, PartialEq)]
enum Outcome {
    Ok(Vec<u8>),
    Err(ErrorKind, Option<(ErrorCode, String)>),
}

fn big() -> MessageBuf {
    let mut b = zap_rpc::zap_wire::Builder::new();
    let mut root = b.object(8);
    root.set_bytes(0, &vec![9u8; 100 * 1024]);
    root.finish_root();
    MessageBuf::from_builder(&mut b, 0).unwrap()
}

async fn script(
    client: &Client,
    sent: &mut tokio::sync::mpsc::UnboundedReceiver<u32>,
) -> Vec<Outcome> {
    let mut out = Vec::new();
    let calls = [
        ("Echo", MessageBuf::with_u32(7, 0)),
        ("Add1", MessageBuf::with_u32(41, 0)),
        ("Fail", MessageBuf::empty()),
        ("Panic", MessageBuf::empty()),
        ("NoSuchProcedure", MessageBuf::empty()),
        ("Echo", big()),
    ];
    for (procedure, message) in calls {
        out.push(match client.call(procedure, message).await {
            Ok(m) => Outcome::Ok(m.as_bytes().to_vec()),
            Err(e) => Outcome::Err(
                e.kind(),
                e.status().map(|s| (s.code(), s.message().to_string())),
            ),
        });
    }
    let late = client
        .call_with_timeout(
            "Sleep",
            MessageBuf::with_u32(5_000, 0),
            Some(Duration::from_millis(50)),
        )
        .await
        .unwrap_err();
    out.push(Outcome::Err(late.kind(), None));
    // A fire-and-forget send reaches its handler.
    client
        .send("Record", MessageBuf::with_u32(77, 0))
        .await
        .unwrap();
    let got = support::recv(sent, Duration::from_secs(2), "Record").await;
    out.push(Outcome::Ok(got.to_le_bytes().to_vec()));
    out
}

fn builder(tx: tokio::sync::mpsc::UnboundedSender<u32>) -> ServerBuilder {
    support::builder("server.test")
        .register("Record", move |_: Context, req: MessageBuf| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(support::root_u32(&req));
                Ok::<_, Status>(MessageBuf::empty())
            }
        })
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_handlers_answer_identically_over_tcp_tls_quic_and_a_unix_socket() {
    support::init_tracing();
    let cluster = Cluster::new();
    let dir = support::TempDir::new("transports");
    let socket = dir.join("zap.sock");
    let (tx, mut sent) = support::probe();

    let tcp = builder(tx.clone()).start().await.unwrap();
    let tls = builder(tx.clone())
        .tls(cluster.server.clone())
        .start()
        .await
        .unwrap();
    let quic = builder(tx.clone())
        .quic(cluster.server.clone())
        .start()
        .await
        .unwrap();
    let unix = builder(tx).unix(&socket).start().await.unwrap();

    let connect = |options: ClientOptions| async move {
        Client::connect(
            "_zaptest._tcp",
            options.call_timeout(Duration::from_secs(5)),
        )
        .await
        .unwrap()
    };
    let clients = [
        (
            "tcp",
            connect(ClientOptions::new().static_peers(tcp.tcp_addr())).await,
        ),
        (
            "tls",
            connect(
                ClientOptions::new()
                    .static_peers(tls.tcp_addr())
                    .tls(cluster.alice.clone()),
            )
            .await,
        ),
        (
            "quic",
            connect(
                ClientOptions::new()
                    .static_peers(quic.tcp_addr())
                    .quic(cluster.alice.clone()),
            )
            .await,
        ),
        (
            "unix",
            connect(ClientOptions::new().peers([TransportAddr::Unix(socket.clone())])).await,
        ),
    ];
    let mut results = Vec::new();
    for (name, client) in &clients {
        let outcome = script(client, &mut sent).await;
        let conn = &client.connections()[0];
        assert_eq!(conn.peer().addr.transport(), *name);
        results.push((name, outcome));
    }
    let (_, reference) = &results[0];
    assert_eq!(
        reference[0],
        Outcome::Ok(MessageBuf::with_u32(7, 0).as_bytes().to_vec())
    );
    assert_eq!(
        reference[2],
        Outcome::Err(
            ErrorKind::HandlerError,
            Some((ErrorCode::HandlerError, "requested failure".into()))
        )
    );
    assert_eq!(reference[4].clone_kind(), Some(ErrorKind::UnknownProcedure));
    assert_eq!(reference[6].clone_kind(), Some(ErrorKind::DeadlineExceeded));
    for (name, outcome) in &results[1..] {
        assert_eq!(outcome, reference, "{name} answered differently from tcp");
    }
    for s in [tcp, tls, quic, unix] {
        s.shutdown(Duration::from_secs(1)).await;
    }
}

impl Outcome {
    fn clone_kind(&self) -> Option<ErrorKind> {
        match self {
            Outcome::Err(k, _) => Some(*k),
            Outcome::Ok(_) => None,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_mixes_transports_by_address_scheme() {
    let cluster = Cluster::new();
    let dir = support::TempDir::new("mixed");
    let socket = dir.join("zap.sock");
    let servers: Vec<Server> = vec![
        support::builder("s-tcp").start().await.unwrap(),
        support::builder("s-tls")
            .tls(cluster.server.clone())
            .start()
            .await
            .unwrap(),
        support::builder("s-quic")
            .quic(cluster.server.clone())
            .start()
            .await
            .unwrap(),
        support::builder("s-unix")
            .unix(&socket)
            .start()
            .await
            .unwrap(),
    ];
    let addrs: Vec<TransportAddr> = servers.iter().map(|s| s.local_addr().clone()).collect();
    // Written as a user would write them.
    let texts: Vec<String> = addrs.iter().map(ToString::to_string).collect();
    assert!(texts[1].starts_with("zaps://") && texts[2].starts_with("zapq://"));
    assert!(texts[3].starts_with("unix:/"));
    let client = Client::connect(
        "_zaptest._tcp",
        ClientOptions::new()
            .peers(texts.iter().map(|t| t.parse().unwrap()))
            .tls(cluster.bob.clone())
            .call_timeout(Duration::from_secs(5)),
    )
    .await
    .unwrap();
    for i in 0..8 {
        let reply = client
            .call("Add1", MessageBuf::with_u32(i, 0))
            .await
            .unwrap();
        assert_eq!(support::root_u32(&reply), i + 1);
    }
    for s in &servers {
        assert_eq!(s.stats().calls, 2, "{} got its share", s.node_id());
    }
    let mut seen: Vec<&str> = client
        .connections()
        .iter()
        .map(|c| c.peer().addr.transport())
        .collect();
    seen.sort_unstable();
    assert_eq!(seen, ["quic", "tcp", "tls", "unix"]);

    // A Unix peer that is gone is named by its path in the error.
    drop(dir);
    let gone = Client::connect(
        "_zaptest._tcp",
        ClientOptions::new().peers([TransportAddr::Unix("/nonexistent/zap.sock".into())]),
    )
    .await
    .unwrap();
    let err = gone.call("Echo", MessageBuf::empty()).await.unwrap_err();
    assert!(
        err.to_string().contains("unix:/nonexistent/zap.sock"),
        "{err}"
    );
    for s in servers {
        s.shutdown(Duration::from_secs(1)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secure_schemes_without_certificates_are_a_configuration_error() {
    for addr in ["zaps://127.0.0.1:1", "zapq://127.0.0.1:1"] {
        let err = Client::connect(
            "_zaptest._tcp",
            ClientOptions::new().peers([addr.parse().unwrap()]),
        )
        .await
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    }
    let err = Server::builder("_zaptest._tcp")
        .no_mdns()
        .listen_on("zaps://127.0.0.1:0".parse().unwrap())
        .start()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
}

/// Servers and clients of every transport can be started from any task of a
/// multi-threaded runtime: their futures are `Send`.
#[test]
fn the_futures_are_send() {
    fn send<T: Send>(_: &T) {}
    let start = Server::builder("_zaptest._tcp").no_mdns().start();
    send(&start);
    let connect = Client::connect("_zaptest._tcp", ClientOptions::new());
    send(&connect);
}
