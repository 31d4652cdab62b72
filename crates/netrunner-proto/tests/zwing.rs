//! Every RPC end to end over Z-Wing on loopback TCP against the simulated backend, and
//! what the Z-Wing layer refuses.

mod common;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{WAIT, client_config, frame, identities, server_config};
use netrunner_proto::{
    AddNodeRequest, Backend, BlockchainSpec, ChainSpec, Client, ClientOptions, ElasticChainSpec,
    Error, ErrorCode, LoadSnapshotRequest, PermissionlessValidatorSpec, RemoveChainValidatorSpec,
    RequestContext, RestartNodeRequest, RpcError, SendOutboundMessageRequest, Server,
    ServerOptions, SimBackend, SimConfig, StartRequest,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use zap_zwing::{Config, Identity};

async fn sim_server(nodes: u32) -> (Server, SimBackend) {
    let sim = SimBackend::new(
        SimConfig::default()
            .with_nodes(nodes)
            .with_health_delay(Duration::from_millis(30))
            .with_pid(4242),
    );
    let server = Server::bind("127.0.0.1:0", server_config(), sim.clone())
        .await
        .expect("bind");
    (server, sim)
}

async fn dial(server: &Server) -> Client {
    Client::dial(server.local_addr(), &client_config())
        .await
        .expect("dial over Z-Wing")
}

#[tokio::test]
async fn every_rpc_end_to_end() {
    let (server, sim) = sim_server(3).await;
    let client = dial(&server).await;
    assert_eq!(client.remote_identity(), Some(server.identity()));

    // Ping, RPCVersion, Health, WaitForHealthy, URIs, Status.
    assert_eq!(client.ping().await.unwrap(), 4242);
    assert_eq!(client.rpc_version().await.unwrap(), 1);
    assert_eq!(client.health().await.unwrap().unwrap().node_names.len(), 3);
    let info = client.wait_for_healthy().await.unwrap().unwrap();
    assert!(info.healthy);
    assert_eq!(info.network_id, 1337);
    let uris = client.uris().await.unwrap();
    assert_eq!(uris.len(), 3);
    assert!(uris.iter().all(|u| u.starts_with("http://127.0.0.1:")));
    assert_eq!(client.status().await.unwrap().unwrap().pid, 4242);

    // Nodes: add, pause, resume, restart, remove.
    let info = client
        .add_node(AddNodeRequest {
            name: "delta".into(),
            node_config: Some("{\"log-level\":\"debug\"}".into()),
            ..AddNodeRequest::default()
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(info.node_names, ["delta", "node1", "node2", "node3"]);
    assert_eq!(
        info.node("delta").unwrap().config,
        b"{\"log-level\":\"debug\"}"
    );
    assert!(!info.healthy, "a new node starts unhealthy");
    let info = client.pause_node("node2").await.unwrap().unwrap();
    assert!(info.node("node2").unwrap().paused);
    let info = client.resume_node("node2").await.unwrap().unwrap();
    assert!(!info.node("node2").unwrap().paused);
    let info = client
        .restart_node(RestartNodeRequest {
            name: "node3".into(),
            exec_path: Some("/opt/luxd-v2".into()),
            ..RestartNodeRequest::default()
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(info.node("node3").unwrap().exec_path, "/opt/luxd-v2");
    let info = client.remove_node("delta").await.unwrap().unwrap();
    assert_eq!(info.node_names, ["node1", "node2", "node3"]);
    assert!(client.wait_for_healthy().await.unwrap().unwrap().healthy);

    // Peers.
    let attached = client.attach_peer("node1").await.unwrap();
    let peer = attached.attached_peer_info.unwrap().id;
    assert_eq!(sim.attached_peers("node1"), std::slice::from_ref(&peer));
    let sent = client
        .send_outbound_message(SendOutboundMessageRequest {
            node_name: "node1".into(),
            peer_id: peer,
            op: 42,
            bytes: vec![0xde, 0xad, 0xbe, 0xef],
        })
        .await
        .unwrap();
    assert!(sent);
    assert_eq!(sim.messages_sent(), 1);

    // Subnets, chains, elastic subnets, validators.
    let subnets = client
        .create_chains(vec![ChainSpec {
            participants: vec!["node1".into(), "node2".into()],
            chain_config_file: String::new(),
        }])
        .await
        .unwrap();
    let subnet = subnets.chain_ids[0].clone();
    assert_eq!(
        subnets.cluster_info.unwrap().subnets,
        std::slice::from_ref(&subnet)
    );
    let chains = client
        .create_blockchains(vec![BlockchainSpec {
            vm_name: "subnetevm".into(),
            genesis: "{}".into(),
            chain_id: Some(subnet.clone()),
            blockchain_alias: "cchain2".into(),
            ..BlockchainSpec::default()
        }])
        .await
        .unwrap();
    let info = chains.cluster_info.unwrap();
    let chain = info.chain(&chains.chain_ids[0]).unwrap();
    assert_eq!(
        (chain.chain_name.as_str(), chain.vm_name.as_str()),
        ("cchain2", "subnetevm")
    );
    let elastic = client
        .transform_elastic_chains(vec![ElasticChainSpec {
            chain_id: subnet.clone(),
            asset_name: "Test".into(),
            asset_symbol: "TST".into(),
            initial_supply: 1_000,
            max_supply: 10_000,
            ..ElasticChainSpec::default()
        }])
        .await
        .unwrap();
    assert_eq!((elastic.tx_ids.len(), elastic.asset_ids.len()), (1, 1));
    client
        .add_permissionless_validator(vec![PermissionlessValidatorSpec {
            chain_id: subnet.clone(),
            node_name: "node3".into(),
            staked_token_amount: 2_000,
            asset_id: elastic.asset_ids[0].clone(),
            start_time: "2026-01-02 15:04:05".into(),
            stake_duration: 3600,
        }])
        .await
        .unwrap();
    client
        .remove_chain_validator(vec![RemoveChainValidatorSpec {
            chain_id: subnet,
            node_names: vec!["node3".into()],
        }])
        .await
        .unwrap();

    // Snapshots: hot, cold (stops the network), load, list, remove.
    let hot = client.save_hot_snapshot("hot").await.unwrap();
    assert!(hot.ends_with("/snapshots/hot"));
    assert!(
        client.status().await.is_ok(),
        "a hot snapshot keeps it running"
    );
    client.save_snapshot("cold").await.unwrap();
    let err = client.status().await.unwrap_err();
    assert_eq!(err.remote().unwrap().code(), ErrorCode::FailedPrecondition);
    let info = client
        .load_snapshot(LoadSnapshotRequest::named("cold"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(info.node_names, ["node1", "node2", "node3"]);
    assert_eq!(
        info.custom_chains.len(),
        1,
        "chains come back with the snapshot"
    );
    assert_eq!(client.get_snapshot_names().await.unwrap(), ["cold", "hot"]);
    client.remove_snapshot("hot").await.unwrap();
    assert_eq!(client.get_snapshot_names().await.unwrap(), ["cold"]);

    // Stop, then Start a new network.
    let last = client.stop().await.unwrap().unwrap();
    assert!(!last.healthy);
    assert_eq!(last.network_id, 1337);
    assert!(sim.cluster_info().is_none());
    let started = client
        .start(StartRequest {
            exec_path: "/opt/luxd".into(),
            num_nodes: Some(2),
            blockchain_specs: vec![BlockchainSpec {
                vm_name: "xsvm".into(),
                genesis: "{}".into(),
                ..BlockchainSpec::default()
            }],
            ..StartRequest::default()
        })
        .await
        .unwrap();
    assert_eq!(started.chain_ids.len(), 1);
    let info = started.cluster_info.unwrap();
    assert_eq!(info.node_names, ["node1", "node2"]);
    assert!(info.node_infos.iter().all(|n| n.exec_path == "/opt/luxd"));
    assert!(client.wait_for_healthy().await.unwrap().unwrap().healthy);

    server.shutdown().await;
}

#[tokio::test]
async fn a_hundred_concurrent_requests_on_one_connection() {
    let (server, _sim) = sim_server(2).await;
    let client = dial(&server).await;
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..100u32 {
        let client = client.clone();
        calls.spawn(async move {
            match i % 4 {
                0 => client.ping().await.map(|pid| format!("pid {pid}")),
                1 => client
                    .status()
                    .await
                    .map(|info| format!("{} nodes", info.unwrap().node_names.len())),
                2 => client
                    .add_node(AddNodeRequest::named(format!("n{i:03}")))
                    .await
                    .map(|_| format!("added n{i:03}")),
                _ => client.uris().await.map(|u| format!("{} uris", u.len())),
            }
        });
    }
    let mut outcomes = Vec::new();
    while let Some(joined) = calls.join_next().await {
        outcomes.push(joined.unwrap().expect("every call succeeds"));
    }
    assert_eq!(outcomes.len(), 100);
    let info = client.status().await.unwrap().unwrap();
    let added: BTreeSet<_> = info
        .node_names
        .iter()
        .filter(|n| n.starts_with('n') && !n.starts_with("node"))
        .collect();
    assert_eq!(added.len(), 25, "each AddNode ran exactly once");
    assert_eq!(server.stats().accepted, 1, "all on one connection");
    server.shutdown().await;
}

#[tokio::test]
async fn stream_status_delivers_updates_and_ends_on_cancel() {
    let (server, _sim) = sim_server(2).await;
    let client = dial(&server).await;
    let mut stream = client
        .stream_status(Duration::from_millis(25))
        .await
        .unwrap();
    let first = stream.next().await.unwrap().unwrap().unwrap();
    assert_eq!(first.node_names, ["node1", "node2"]);
    client.pause_node("node1").await.unwrap();
    // Later updates show the change.
    let mut seen_paused = false;
    for _ in 0..20 {
        let info = stream.next().await.unwrap().unwrap().unwrap();
        if info.node("node1").unwrap().paused {
            seen_paused = true;
            break;
        }
    }
    assert!(seen_paused, "an update shows the paused node");
    // Cancel: the server answers with the end marker.
    tokio::time::timeout(WAIT, stream.cancel())
        .await
        .expect("the end marker arrives")
        .expect("the stream ends cleanly");
    // The connection carries on, and a second stream works.
    assert!(client.ping().await.is_ok());
    let mut again = client
        .stream_status(Duration::from_millis(25))
        .await
        .unwrap();
    assert!(again.next().await.unwrap().is_ok());
    drop(again);
    assert!(client.ping().await.is_ok());
    server.shutdown().await;
}

#[tokio::test]
async fn a_cleartext_client_gets_nothing_but_a_failed_handshake() {
    let (server, sim) = sim_server(1).await;
    // Go's zapwire client: a Ping frame over plain TCP.
    let mut tcp = TcpStream::connect(server.local_addr()).await.unwrap();
    tcp.write_all(&frame(0x3c, 1, &[])).await.unwrap();
    let mut got = Vec::new();
    let read = tokio::time::timeout(WAIT, tcp.read_to_end(&mut got))
        .await
        .expect("the server hangs up");
    assert!(
        got.is_empty(),
        "not one byte of a response: {got:02x?} ({read:?})"
    );
    // The crate's own cleartext client fails at once, not after a timeout.
    let client = Client::connect_cleartext(server.local_addr(), ClientOptions::default())
        .await
        .unwrap();
    let err = tokio::time::timeout(WAIT, client.ping())
        .await
        .expect("an answer before the wait limit")
        .unwrap_err();
    assert!(matches!(err, Error::ConnectionClosed { .. }), "{err}");
    assert_eq!(server.stats().accepted, 0);
    assert_eq!(sim.cluster_info().unwrap().node_names.len(), 1);
    server.shutdown().await;
}

#[tokio::test]
async fn a_client_pinned_to_another_identity_refuses_the_server() {
    let (server, _sim) = sim_server(1).await;
    let (_, client_id) = identities();
    let wrong_pin = Config::new(Identity::from_seed(&client_id.to_seed()).unwrap())
        .with_expected_remote(client_id.public().clone());
    let err = Client::dial(server.local_addr(), &wrong_pin)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Zwing(zap_zwing::Error::IdentityMismatch { .. })),
        "{err}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_server_with_an_allow_list_refuses_other_clients() {
    let (server_id, client_id) = identities();
    // Only the server's own identity may connect: the test client may not.
    let config = Config::new(Identity::from_seed(&server_id.to_seed()).unwrap())
        .with_allowed_remotes([server_id.public().clone()]);
    let server = Server::bind("127.0.0.1:0", config, SimBackend::default())
        .await
        .unwrap();
    let client_cfg = Config::new(Identity::from_seed(&client_id.to_seed()).unwrap());
    let err = Client::dial(server.local_addr(), &client_cfg)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Zwing(_)), "{err}");
    assert_eq!(server.stats().accepted, 0);
    server.shutdown().await;
}

#[tokio::test]
async fn a_silent_client_does_not_hold_up_the_others() {
    let (server, _sim) = sim_server(1).await;
    // Connects and says nothing: its handshake waits in its own task.
    let _silent = TcpStream::connect(server.local_addr()).await.unwrap();
    let client = tokio::time::timeout(WAIT, dial(&server))
        .await
        .expect("the handshake is not queued behind the silent one");
    assert!(client.ping().await.is_ok());
    server.shutdown().await;
}

/// Records who called.
#[derive(Default)]
struct WhoCalls {
    seen: Mutex<Vec<String>>,
}

impl Backend for WhoCalls {
    async fn ping(&self, ctx: RequestContext) -> Result<i32, RpcError> {
        let who = ctx
            .peer
            .identity
            .as_ref()
            .map(|id| id.fingerprint().to_hex())
            .unwrap_or_default();
        self.seen.lock().unwrap().push(who);
        Ok(1)
    }
}

#[tokio::test]
async fn the_backend_sees_the_verified_client_identity() {
    let backend = Arc::new(WhoCalls::default());
    struct Shared(Arc<WhoCalls>);
    impl Backend for Shared {
        async fn ping(&self, ctx: RequestContext) -> Result<i32, RpcError> {
            self.0.ping(ctx).await
        }
    }
    let server = Server::bind("127.0.0.1:0", server_config(), Shared(backend.clone()))
        .await
        .unwrap();
    let client = dial(&server).await;
    client.ping().await.unwrap();
    let (_, client_id) = identities();
    assert_eq!(
        backend.seen.lock().unwrap().as_slice(),
        [client_id.public().fingerprint().to_hex()]
    );
    server.shutdown().await;
}

#[tokio::test]
async fn calls_fail_promptly_after_the_server_shuts_down() {
    let (server, _sim) = sim_server(1).await;
    let client = dial(&server).await;
    assert!(client.ping().await.is_ok());
    server.shutdown().await;
    let err = tokio::time::timeout(WAIT, client.ping())
        .await
        .expect("no waiting for the call timeout")
        .unwrap_err();
    assert!(matches!(err, Error::ConnectionClosed { .. }), "{err}");
}

#[tokio::test]
async fn connections_over_the_limit_are_closed() {
    let sim = SimBackend::default();
    let server = Server::bind_with(
        "127.0.0.1:0",
        server_config(),
        sim,
        ServerOptions::default().with_max_connections(1),
    )
    .await
    .unwrap();
    let first = dial(&server).await;
    assert!(first.ping().await.is_ok());
    let second = dial(&server).await;
    let err = tokio::time::timeout(WAIT, second.ping())
        .await
        .expect("refused at once")
        .unwrap_err();
    assert!(matches!(err, Error::ConnectionClosed { .. }), "{err}");
    assert_eq!(server.stats().refused, 1);
    assert!(first.ping().await.is_ok());
    server.shutdown().await;
}

#[tokio::test]
async fn error_paths_over_zwing_keep_the_connection() {
    let (server, _sim) = sim_server(1).await;
    let mut raw = zap_zwing::dial(server.local_addr(), &client_config())
        .await
        .unwrap();
    let mut expected = common::unhex("00 00 00 20 c5 00 00 00 09");
    expected.extend_from_slice(b"zapwire: unknown opcode 0x05");
    // (request, exact answer if known, answer type, error code)
    type Case = (Vec<u8>, Option<Vec<u8>>, u8, ErrorCode);
    let cases: Vec<Case> = vec![
        // Unknown opcode: Go's exact bytes.
        (
            frame(0x05, 9, &[]),
            Some(expected),
            0xc5,
            ErrorCode::UnknownOpcode,
        ),
        // Unknown sub-opcode.
        (
            frame(0x3e, 10, &[0x63]),
            None,
            0xfe,
            ErrorCode::UnknownSubOpcode,
        ),
        // Truncated AddNode body.
        (
            frame(0x3e, 11, &[20, 0, 0]),
            None,
            0xfe,
            ErrorCode::MalformedRequest,
        ),
        // The backend refuses: no such node.
        (
            frame(0x3e, 12, &[21, 0, 0, 0, 1, b'z']),
            None,
            0xfe,
            ErrorCode::NotFound,
        ),
    ];
    for (request, exact, ty, code) in cases {
        raw.write_all(&request).await.unwrap();
        raw.flush().await.unwrap();
        let answer = common::read_frame(&mut raw).await;
        if let Some(exact) = exact {
            assert_eq!(answer, exact);
        }
        let (got_ty, _, body) = common::parts(&answer);
        assert_eq!(got_ty, ty);
        assert_eq!(
            RpcError::from_wire_text(std::str::from_utf8(body).unwrap()).code(),
            code
        );
    }
    raw.write_all(&frame(0x3c, 13, &[])).await.unwrap();
    raw.flush().await.unwrap();
    let pong = common::read_frame(&mut raw).await;
    assert_eq!(&pong[..9], &common::unhex("00 00 00 08 bc 00 00 00 0d")[..]);
    assert_eq!(&pong[9..], &4242i32.to_be_bytes());
    server.shutdown().await;
}
