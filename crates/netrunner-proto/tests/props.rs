//! Properties: decoders never panic on random or mutated input, and every message
//! survives an encode/decode round trip.

use std::collections::BTreeMap;

use bytes::BytesMut;
use netrunner_proto::frame::{FrameDecoder, Inbound};
use netrunner_proto::{
    AddNodeRequest, BlockchainSpec, ChainInfo, ChainSpec, ClusterInfo, DecodeOptions,
    ElasticChainSpec, LoadSnapshotRequest, Method, NodeInfo, PermissionlessValidatorSpec,
    RemoveChainValidatorSpec, Request, Response, RestartNodeRequest, SendOutboundMessageRequest,
    StartRequest, StatusEvent,
};
use proptest::prelude::*;
use tokio_util::codec::Decoder;

fn text() -> impl Strategy<Value = String> {
    "[a-z0-9/:._-]{0,12}"
}

fn texts() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(text(), 0..4)
}

fn map() -> impl Strategy<Value = BTreeMap<String, String>> {
    prop::collection::btree_map(text(), text(), 0..3)
}

fn blob() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..16)
}

fn node_info() -> impl Strategy<Value = NodeInfo> {
    (
        (text(), text(), text(), text(), text()),
        (text(), blob(), text(), text(), any::<bool>()),
    )
        .prop_map(
            |((name, exec_path, uri, id, log_dir), (db_dir, config, plugin_dir, w, paused))| {
                NodeInfo {
                    name,
                    exec_path,
                    uri,
                    id,
                    log_dir,
                    db_dir,
                    config,
                    plugin_dir,
                    whitelisted_subnets: w,
                    paused,
                }
            },
        )
}

fn chain_info() -> impl Strategy<Value = ChainInfo> {
    (text(), text(), text(), text(), text(), blob()).prop_map(
        |(chain_name, vm_id, vm_name, chain_id, subnet_id, genesis)| ChainInfo {
            chain_name,
            vm_id,
            vm_name,
            chain_id,
            subnet_id,
            genesis,
        },
    )
}

fn cluster_info() -> impl Strategy<Value = ClusterInfo> {
    (
        texts(),
        prop::collection::vec(node_info(), 0..3),
        any::<i32>(),
        text(),
        any::<bool>(),
        prop::collection::vec(chain_info(), 0..3),
        texts(),
        any::<u32>(),
    )
        .prop_map(
            |(
                node_names,
                node_infos,
                pid,
                root_data_dir,
                healthy,
                custom_chains,
                subnets,
                network_id,
            )| {
                ClusterInfo {
                    node_names,
                    node_infos,
                    pid,
                    root_data_dir,
                    healthy,
                    custom_chains,
                    subnets,
                    network_id,
                }
            },
        )
}

fn chain_spec() -> impl Strategy<Value = ChainSpec> {
    (texts(), text()).prop_map(|(participants, chain_config_file)| ChainSpec {
        participants,
        chain_config_file,
    })
}

fn blockchain_spec() -> impl Strategy<Value = BlockchainSpec> {
    (
        (text(), text(), prop::option::of(text())),
        prop::option::of(chain_spec()),
        (text(), text(), text(), text()),
    )
        .prop_map(
            |((vm_name, genesis, chain_id), chain_spec, (cc, nu, alias, pn))| BlockchainSpec {
                vm_name,
                genesis,
                chain_id,
                chain_spec,
                chain_config: cc,
                network_upgrade: nu,
                blockchain_alias: alias,
                per_node_chain_config: pn,
            },
        )
}

fn request() -> impl Strategy<Value = Request> {
    let simple = prop_oneof![
        Just(Request::Ping),
        Just(Request::RpcVersion),
        Just(Request::Health),
        Just(Request::WaitForHealthy),
        Just(Request::Uris),
        Just(Request::Status),
        Just(Request::GetSnapshotNames),
        Just(Request::Stop),
        any::<i64>().prop_map(|n| Request::StreamStatus {
            push_interval_ns: n
        }),
        text().prop_map(|name| Request::RemoveNode { name }),
        text().prop_map(|name| Request::PauseNode { name }),
        text().prop_map(|name| Request::ResumeNode { name }),
        text().prop_map(|node_name| Request::AttachPeer { node_name }),
        text().prop_map(|snapshot_name| Request::SaveSnapshot { snapshot_name }),
        text().prop_map(|snapshot_name| Request::SaveHotSnapshot { snapshot_name }),
        text().prop_map(|snapshot_name| Request::RemoveSnapshot { snapshot_name }),
    ];
    let structured = prop_oneof![
        (
            text(),
            text(),
            prop::option::of(text()),
            map(),
            map(),
            map(),
            text()
        )
            .prop_map(
                |(
                    name,
                    exec_path,
                    node_config,
                    chain_configs,
                    upgrade_configs,
                    chain_config_files,
                    plugin_dir,
                )| {
                    Request::AddNode(AddNodeRequest {
                        name,
                        exec_path,
                        node_config,
                        chain_configs,
                        upgrade_configs,
                        chain_config_files,
                        plugin_dir,
                    })
                }
            ),
        (
            text(),
            prop::option::of(text()),
            prop::option::of(text()),
            map(),
            text()
        )
            .prop_map(
                |(name, exec_path, whitelisted_chains, chain_configs, plugin_dir)| {
                    Request::RestartNode(RestartNodeRequest {
                        name,
                        exec_path,
                        whitelisted_chains,
                        chain_configs,
                        plugin_dir,
                        ..RestartNodeRequest::default()
                    })
                }
            ),
        (text(), text(), any::<u32>(), blob()).prop_map(|(node_name, peer_id, op, bytes)| {
            Request::SendOutboundMessage(SendOutboundMessageRequest {
                node_name,
                peer_id,
                op,
                bytes,
            })
        }),
        (
            (
                text(),
                prop::option::of(any::<u32>()),
                prop::option::of(text())
            ),
            prop::collection::vec(blockchain_spec(), 0..3),
            (
                map(),
                prop::option::of(any::<bool>()),
                prop::option::of(any::<bool>())
            ),
        )
            .prop_map(
                |((exec_path, num_nodes, root), specs, (configs, reassign, dynamic))| {
                    Request::Start(StartRequest {
                        exec_path,
                        num_nodes,
                        root_data_dir: root,
                        blockchain_specs: specs,
                        custom_node_configs: configs,
                        reassign_ports_if_used: reassign,
                        dynamic_ports: dynamic,
                        ..StartRequest::default()
                    })
                }
            ),
        prop::collection::vec(blockchain_spec(), 0..3).prop_map(Request::CreateBlockchains),
        prop::collection::vec(chain_spec(), 0..3).prop_map(Request::CreateChains),
        (text(), any::<u64>(), any::<u32>()).prop_map(|(chain_id, supply, fee)| {
            Request::TransformElasticChains(vec![ElasticChainSpec {
                chain_id,
                initial_supply: supply,
                max_supply: supply,
                min_delegation_fee: fee,
                ..ElasticChainSpec::default()
            }])
        }),
        (text(), text(), any::<u64>()).prop_map(|(chain_id, node_name, amount)| {
            Request::AddPermissionlessValidator(vec![PermissionlessValidatorSpec {
                chain_id,
                node_name,
                staked_token_amount: amount,
                ..PermissionlessValidatorSpec::default()
            }])
        }),
        (text(), texts()).prop_map(|(chain_id, node_names)| {
            Request::RemoveChainValidator(vec![RemoveChainValidatorSpec {
                chain_id,
                node_names,
            }])
        }),
        (
            text(),
            prop::option::of(text()),
            map(),
            prop::option::of(any::<bool>())
        )
            .prop_map(|(snapshot_name, exec_path, chain_configs, reassign)| {
                Request::LoadSnapshot(LoadSnapshotRequest {
                    snapshot_name,
                    exec_path,
                    chain_configs,
                    reassign_ports_if_used: reassign,
                    ..LoadSnapshotRequest::default()
                })
            }),
    ];
    prop_oneof![simple, structured]
}

fn any_method() -> impl Strategy<Value = Method> {
    prop::sample::select(Method::ALL.to_vec())
}

fn options() -> impl Strategy<Value = DecodeOptions> {
    prop_oneof![
        Just(DecodeOptions::default()),
        Just(DecodeOptions::strict())
    ]
}

proptest! {
    #[test]
    fn requests_round_trip(request in request()) {
        let body = request.body();
        let back = Request::decode(request.method().opcode(), &body, &DecodeOptions::strict());
        prop_assert_eq!(back, Ok(request));
    }

    #[test]
    fn cluster_infos_round_trip(info in cluster_info(), method in prop::sample::select(vec![
        Method::Health, Method::Status, Method::Stop, Method::AddNode, Method::LoadSnapshot,
    ])) {
        let response = Response::Cluster(Some(info));
        let back = Response::decode(method, &response.body(), &DecodeOptions::strict());
        prop_assert_eq!(back, Ok(response.clone()));
        let event = Response::Status(StatusEvent::Update(match response {
            Response::Cluster(info) => info,
            _ => None,
        }));
        let back = Response::decode(Method::StreamStatus, &event.body(), &DecodeOptions::strict());
        prop_assert_eq!(back, Ok(event));
    }

    #[test]
    fn random_request_bodies_never_panic(ty in any::<u8>(), body in prop::collection::vec(any::<u8>(), 0..256), opts in options()) {
        let _ = Request::decode(ty, &body, &opts);
        let mut fanout = vec![ty];
        fanout.extend_from_slice(&body);
        let _ = Request::decode(62, &fanout, &opts);
    }

    #[test]
    fn random_response_bodies_never_panic(method in any_method(), body in prop::collection::vec(any::<u8>(), 0..256), opts in options()) {
        let _ = Response::decode(method, &body, &opts);
    }

    #[test]
    fn mutated_requests_never_panic(
        request in request(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..6),
        opts in options(),
    ) {
        let mut body = request.body();
        for (at, byte, kind) in edits {
            match kind {
                0 if !body.is_empty() => { let i = at.index(body.len()); body[i] = byte; }
                1 => { let i = at.index(body.len() + 1); body.truncate(i); }
                _ => { let i = at.index(body.len() + 1); body.insert(i, byte); }
            }
        }
        let _ = Request::decode(request.method().opcode(), &body, &opts);
    }

    #[test]
    fn mutated_cluster_infos_never_panic(
        info in cluster_info(),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        method in any_method(),
    ) {
        let mut body = Response::Cluster(Some(info)).body();
        let i = at.index(body.len());
        body[i] = byte;
        let _ = Response::decode(method, &body, &DecodeOptions::default());
        let _ = Response::decode(method, &body[..i], &DecodeOptions::strict());
    }

    #[test]
    fn the_frame_decoder_never_panics_and_keeps_little(
        bytes in prop::collection::vec(any::<u8>(), 0..512),
        cuts in prop::collection::vec(1usize..64, 1..16),
        max in 4usize..128,
    ) {
        let mut decoder = FrameDecoder::new(max);
        let mut src = BytesMut::new();
        let mut rest = &bytes[..];
        let mut cuts = cuts.into_iter().cycle();
        while !rest.is_empty() {
            let n = cuts.next().unwrap_or(1).min(rest.len());
            src.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
            loop {
                match decoder.decode(&mut src) {
                    Ok(Some(Inbound::Frame(f))) => prop_assert!(f.payload.len() <= max),
                    Ok(Some(Inbound::Oversize { len, .. })) => prop_assert!(len > max as u64),
                    Ok(None) | Err(_) => break,
                }
            }
            // What is buffered is at most one frame within the limit plus its header.
            prop_assert!(src.len() <= 5 + max + 64);
        }
    }
}
