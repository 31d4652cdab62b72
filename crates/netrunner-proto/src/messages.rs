//! Request and response messages, and the [`Request`] / [`Response`] enums that map
//! them to opcodes.
//!
//! A request body is the sub-opcode byte (for opcode 62) followed by the request's
//! fields; a response body is the response's fields (the sub-opcode is not echoed,
//! so a response is read knowing the request it answers).

use std::collections::BTreeMap;
use std::time::Duration;

use zap_wire::be::BeWriter;

use crate::encoding::{DecodeOptions, Reader, WireMessage, WriterExt};
use crate::error::{DecodeError, ErrorCode, RpcError};
use crate::opcode::{Method, OP_FANOUT, OP_PING, OP_RPC_VERSION, OP_STOP};
use crate::types::{
    AttachedPeerInfo, BlockchainSpec, ChainSpec, ClusterInfo, ElasticChainSpec,
    PermissionlessValidatorSpec, RemoveChainValidatorSpec,
};

/// Start a network (legacy `StartRequest`; sub-opcode 6 is this crate's).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct StartRequest {
    /// The node binary.
    pub exec_path: String,
    /// How many nodes (the backend's default when absent).
    pub num_nodes: Option<u32>,
    /// Subnets the nodes track.
    pub whitelisted_chains: Option<String>,
    /// Configuration every node gets.
    pub global_node_config: Option<String>,
    /// Where the cluster keeps its data.
    pub root_data_dir: Option<String>,
    /// The plugin directory.
    pub plugin_dir: String,
    /// Blockchains to create once the network is up.
    pub blockchain_specs: Vec<BlockchainSpec>,
    /// Per-node configuration, by node name.
    pub custom_node_configs: BTreeMap<String, String>,
    /// Chain configurations, by chain.
    pub chain_configs: BTreeMap<String, String>,
    /// Upgrade configurations, by chain.
    pub upgrade_configs: BTreeMap<String, String>,
    /// Pick other ports when the configured ones are taken.
    pub reassign_ports_if_used: Option<bool>,
    /// Let the nodes choose their ports.
    pub dynamic_ports: Option<bool>,
    /// Chain configuration files, by chain.
    pub chain_config_files: BTreeMap<String, String>,
}

impl WireMessage for StartRequest {
    const MIN_SIZE: usize = 4 + 1 + 1 + 1 + 1 + 4 + 4 + 4 + 4 + 4 + 1 + 1 + 4;

    fn encode(&self, w: &mut BeWriter) {
        w.put_str(&self.exec_path);
        match self.num_nodes {
            Some(n) => w.put_u8(1).put_u32(n),
            None => w.put_u8(0),
        };
        w.put_opt_string(self.whitelisted_chains.as_deref())
            .put_opt_string(self.global_node_config.as_deref())
            .put_opt_string(self.root_data_dir.as_deref())
            .put_str(&self.plugin_dir)
            .put_list(&self.blockchain_specs)
            .put_string_map(&self.custom_node_configs)
            .put_string_map(&self.chain_configs)
            .put_string_map(&self.upgrade_configs);
        put_opt_bool(w, self.reassign_ports_if_used);
        put_opt_bool(w, self.dynamic_ports);
        w.put_string_map(&self.chain_config_files);
    }

    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            exec_path: r.string()?,
            num_nodes: r.opt("StartRequest.NumNodes", Reader::u32)?,
            whitelisted_chains: r.opt_string("StartRequest.WhitelistedChains")?,
            global_node_config: r.opt_string("StartRequest.GlobalNodeConfig")?,
            root_data_dir: r.opt_string("StartRequest.RootDataDir")?,
            plugin_dir: r.string()?,
            blockchain_specs: r.list()?,
            custom_node_configs: r.string_map("StartRequest.CustomNodeConfigs")?,
            chain_configs: r.string_map("StartRequest.ChainConfigs")?,
            upgrade_configs: r.string_map("StartRequest.UpgradeConfigs")?,
            reassign_ports_if_used: r.opt("StartRequest.ReassignPortsIfUsed", |r| {
                r.bool("StartRequest.ReassignPortsIfUsed")
            })?,
            dynamic_ports: r.opt("StartRequest.DynamicPorts", |r| {
                r.bool("StartRequest.DynamicPorts")
            })?,
            chain_config_files: r.string_map("StartRequest.ChainConfigFiles")?,
        })
    }
}

fn put_opt_bool(w: &mut BeWriter, v: Option<bool>) {
    match v {
        Some(b) => w.put_u8(1).put_bool(b),
        None => w.put_u8(0),
    };
}

/// Add a node (Go zapwire's `AddNodeRequest`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct AddNodeRequest {
    /// The new node's name.
    pub name: String,
    /// Its binary.
    pub exec_path: String,
    /// Its configuration, if any (Go's `NodeConfig` + `NodeConfigSet`).
    pub node_config: Option<String>,
    /// Chain configurations.
    pub chain_configs: BTreeMap<String, String>,
    /// Upgrade configurations.
    pub upgrade_configs: BTreeMap<String, String>,
    /// Chain configuration files.
    pub chain_config_files: BTreeMap<String, String>,
    /// Its plugin directory.
    pub plugin_dir: String,
}

impl AddNodeRequest {
    /// A request for a node called `name` with everything else empty.
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }
}

impl WireMessage for AddNodeRequest {
    const MIN_SIZE: usize = 4 + 4 + 1 + 4 + 4 + 4 + 4;

    fn encode(&self, w: &mut BeWriter) {
        w.put_str(&self.name)
            .put_str(&self.exec_path)
            .put_opt_string(self.node_config.as_deref())
            .put_string_map(&self.chain_configs)
            .put_string_map(&self.upgrade_configs)
            .put_string_map(&self.chain_config_files)
            .put_str(&self.plugin_dir);
    }

    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            name: r.string()?,
            exec_path: r.string()?,
            node_config: r.opt_string("AddNodeRequest.NodeConfig")?,
            chain_configs: r.string_map("AddNodeRequest.ChainConfigs")?,
            upgrade_configs: r.string_map("AddNodeRequest.UpgradeConfigs")?,
            chain_config_files: r.string_map("AddNodeRequest.ChainConfigFiles")?,
            plugin_dir: r.string()?,
        })
    }
}

/// Restart a node, optionally with a new binary (Go zapwire's `RestartNodeRequest`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct RestartNodeRequest {
    /// The node.
    pub name: String,
    /// A new binary.
    pub exec_path: Option<String>,
    /// New tracked subnets.
    pub whitelisted_chains: Option<String>,
    /// Chain configurations.
    pub chain_configs: BTreeMap<String, String>,
    /// Upgrade configurations.
    pub upgrade_configs: BTreeMap<String, String>,
    /// Chain configuration files.
    pub chain_config_files: BTreeMap<String, String>,
    /// The plugin directory.
    pub plugin_dir: String,
}

impl RestartNodeRequest {
    /// A plain restart of `name`.
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }
}

impl WireMessage for RestartNodeRequest {
    const MIN_SIZE: usize = 4 + 1 + 1 + 4 + 4 + 4 + 4;

    fn encode(&self, w: &mut BeWriter) {
        w.put_str(&self.name)
            .put_opt_string(self.exec_path.as_deref())
            .put_opt_string(self.whitelisted_chains.as_deref())
            .put_string_map(&self.chain_configs)
            .put_string_map(&self.upgrade_configs)
            .put_string_map(&self.chain_config_files)
            .put_str(&self.plugin_dir);
    }

    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            name: r.string()?,
            exec_path: r.opt_string("RestartNodeRequest.ExecPath")?,
            whitelisted_chains: r.opt_string("RestartNodeRequest.WhitelistedChains")?,
            chain_configs: r.string_map("RestartNodeRequest.ChainConfigs")?,
            upgrade_configs: r.string_map("RestartNodeRequest.UpgradeConfigs")?,
            chain_config_files: r.string_map("RestartNodeRequest.ChainConfigFiles")?,
            plugin_dir: r.string()?,
        })
    }
}

/// Send a message from a node to an attached peer (Go zapwire's
/// `SendOutboundMessageRequest`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SendOutboundMessageRequest {
    /// The sending node.
    pub node_name: String,
    /// The attached peer.
    pub peer_id: String,
    /// The p2p message opcode.
    pub op: u32,
    /// The message.
    pub bytes: Vec<u8>,
}

impl WireMessage for SendOutboundMessageRequest {
    const MIN_SIZE: usize = 4 + 4 + 4 + 4;

    fn encode(&self, w: &mut BeWriter) {
        w.put_str(&self.node_name)
            .put_str(&self.peer_id)
            .put_u32(self.op)
            .put_bytes(&self.bytes);
    }

    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            node_name: r.string()?,
            peer_id: r.string()?,
            op: r.u32()?,
            bytes: r.bytes()?,
        })
    }
}

/// Load a saved snapshot as the running network (legacy `LoadSnapshotRequest`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct LoadSnapshotRequest {
    /// The snapshot.
    pub snapshot_name: String,
    /// A different binary.
    pub exec_path: Option<String>,
    /// The plugin directory.
    pub plugin_dir: String,
    /// A different data directory.
    pub root_data_dir: Option<String>,
    /// Chain configurations.
    pub chain_configs: BTreeMap<String, String>,
    /// Upgrade configurations.
    pub upgrade_configs: BTreeMap<String, String>,
    /// Configuration every node gets.
    pub global_node_config: Option<String>,
    /// Pick other ports when the saved ones are taken.
    pub reassign_ports_if_used: Option<bool>,
    /// Chain configuration files.
    pub chain_config_files: BTreeMap<String, String>,
}

impl LoadSnapshotRequest {
    /// Loads `snapshot_name` with everything else as saved.
    pub fn named(snapshot_name: impl Into<String>) -> Self {
        Self {
            snapshot_name: snapshot_name.into(),
            ..Self::default()
        }
    }
}

impl WireMessage for LoadSnapshotRequest {
    const MIN_SIZE: usize = 4 + 1 + 4 + 1 + 4 + 4 + 1 + 1 + 4;

    fn encode(&self, w: &mut BeWriter) {
        w.put_str(&self.snapshot_name)
            .put_opt_string(self.exec_path.as_deref())
            .put_str(&self.plugin_dir)
            .put_opt_string(self.root_data_dir.as_deref())
            .put_string_map(&self.chain_configs)
            .put_string_map(&self.upgrade_configs)
            .put_opt_string(self.global_node_config.as_deref());
        put_opt_bool(w, self.reassign_ports_if_used);
        w.put_string_map(&self.chain_config_files);
    }

    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            snapshot_name: r.string()?,
            exec_path: r.opt_string("LoadSnapshotRequest.ExecPath")?,
            plugin_dir: r.string()?,
            root_data_dir: r.opt_string("LoadSnapshotRequest.RootDataDir")?,
            chain_configs: r.string_map("LoadSnapshotRequest.ChainConfigs")?,
            upgrade_configs: r.string_map("LoadSnapshotRequest.UpgradeConfigs")?,
            global_node_config: r.opt_string("LoadSnapshotRequest.GlobalNodeConfig")?,
            reassign_ports_if_used: r.opt("LoadSnapshotRequest.ReassignPortsIfUsed", |r| {
                r.bool("LoadSnapshotRequest.ReassignPortsIfUsed")
            })?,
            chain_config_files: r.string_map("LoadSnapshotRequest.ChainConfigFiles")?,
        })
    }
}

/// The answer to Start, CreateBlockchains and CreateChains: the cluster and the ids of
/// what was created.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ChainIdsResponse {
    /// The cluster afterwards.
    pub cluster_info: Option<ClusterInfo>,
    /// The created ids.
    pub chain_ids: Vec<String>,
}

impl WireMessage for ChainIdsResponse {
    const MIN_SIZE: usize = 1 + 4;

    fn encode(&self, w: &mut BeWriter) {
        w.put_opt_message(self.cluster_info.as_ref())
            .put_strings(&self.chain_ids);
    }

    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            cluster_info: r.opt_message("ClusterInfo")?,
            chain_ids: r.strings()?,
        })
    }
}

/// The answer to TransformElasticChains.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct TransformElasticChainsResponse {
    /// The cluster afterwards.
    pub cluster_info: Option<ClusterInfo>,
    /// One transaction id per spec.
    pub tx_ids: Vec<String>,
    /// One asset id per spec.
    pub asset_ids: Vec<String>,
}

impl WireMessage for TransformElasticChainsResponse {
    const MIN_SIZE: usize = 1 + 4 + 4;

    fn encode(&self, w: &mut BeWriter) {
        w.put_opt_message(self.cluster_info.as_ref())
            .put_strings(&self.tx_ids)
            .put_strings(&self.asset_ids);
    }

    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            cluster_info: r.opt_message("ClusterInfo")?,
            tx_ids: r.strings()?,
            asset_ids: r.strings()?,
        })
    }
}

/// The answer to AttachPeer (Go zapwire's `AttachPeerResponse`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct AttachPeerResponse {
    /// The cluster afterwards.
    pub cluster_info: Option<ClusterInfo>,
    /// The new peer.
    pub attached_peer_info: Option<AttachedPeerInfo>,
}

impl WireMessage for AttachPeerResponse {
    const MIN_SIZE: usize = 1 + 1;

    fn encode(&self, w: &mut BeWriter) {
        w.put_opt_message(self.cluster_info.as_ref())
            .put_opt_message(self.attached_peer_info.as_ref());
    }

    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            cluster_info: r.opt_message("ClusterInfo")?,
            attached_peer_info: r.opt_message("AttachedPeerInfo")?,
        })
    }
}

/// One frame of a StreamStatus stream.
///
/// Body: marker byte 0 (update, no cluster: the network is not running), 1 (update,
/// a [`ClusterInfo`] follows: the bytes of a present `opt<ClusterInfo>`), or 2 (end of
/// stream, nothing follows).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum StatusEvent {
    /// The state now.
    Update(Option<ClusterInfo>),
    /// The server ended the stream (after a cancel or on shutdown).
    End,
}

/// The first body byte of the frame that ends a StreamStatus stream.
pub const STREAM_END_MARKER: u8 = 2;

impl WireMessage for StatusEvent {
    const MIN_SIZE: usize = 1;

    fn encode(&self, w: &mut BeWriter) {
        match self {
            StatusEvent::Update(info) => {
                w.put_opt_message(info.as_ref());
            }
            StatusEvent::End => {
                w.put_u8(STREAM_END_MARKER);
            }
        }
    }

    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u8()? {
            0 => Ok(StatusEvent::Update(None)),
            1 => Ok(StatusEvent::Update(Some(ClusterInfo::decode_from(r)?))),
            STREAM_END_MARKER => Ok(StatusEvent::End),
            other => Err(DecodeError::UnknownMarker(other)),
        }
    }
}

/// A decoded request: one variant per RPC.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
#[allow(missing_docs)] // each variant is the RPC it names
pub enum Request {
    Ping,
    RpcVersion,
    Health,
    WaitForHealthy,
    Uris,
    Status,
    /// Body: `i64` push interval in nanoseconds (Go's `time.Duration`).
    StreamStatus {
        push_interval_ns: i64,
    },
    Start(StartRequest),
    CreateBlockchains(Vec<BlockchainSpec>),
    CreateChains(Vec<ChainSpec>),
    TransformElasticChains(Vec<ElasticChainSpec>),
    AddPermissionlessValidator(Vec<PermissionlessValidatorSpec>),
    RemoveChainValidator(Vec<RemoveChainValidatorSpec>),
    AddNode(AddNodeRequest),
    RemoveNode {
        name: String,
    },
    RestartNode(RestartNodeRequest),
    PauseNode {
        name: String,
    },
    ResumeNode {
        name: String,
    },
    AttachPeer {
        node_name: String,
    },
    SendOutboundMessage(SendOutboundMessageRequest),
    SaveSnapshot {
        snapshot_name: String,
    },
    SaveHotSnapshot {
        snapshot_name: String,
    },
    LoadSnapshot(LoadSnapshotRequest),
    RemoveSnapshot {
        snapshot_name: String,
    },
    GetSnapshotNames,
    Stop,
}

/// Why a request could not be read; each has the error text a server answers with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// An opcode outside 60..=63 (the type byte is shown whole, as Go shows it).
    #[error("zapwire: unknown opcode {0:#04x}")]
    UnknownOpcode(u8),
    /// Opcode 62 with an empty body.
    #[error("zapwire: missing sub-opcode byte")]
    MissingSubOpcode,
    /// A sub-opcode that names no RPC.
    #[error("zapwire: unknown SubOp {0:#04x} for OpStart")]
    UnknownSubOpcode(u8),
    /// The body does not hold the request.
    #[error("malformed {method} request: {source}")]
    Malformed {
        /// The RPC.
        method: Method,
        /// What was wrong.
        source: DecodeError,
    },
}

impl RequestError {
    /// The error to answer with.
    pub fn to_rpc_error(&self) -> RpcError {
        let code = match self {
            RequestError::UnknownOpcode(_) => ErrorCode::UnknownOpcode,
            RequestError::UnknownSubOpcode(_) => ErrorCode::UnknownSubOpcode,
            RequestError::MissingSubOpcode | RequestError::Malformed { .. } => {
                ErrorCode::MalformedRequest
            }
        };
        RpcError::new(code, self.to_string())
    }
}

impl Request {
    /// The RPC.
    pub fn method(&self) -> Method {
        match self {
            Request::Ping => Method::Ping,
            Request::RpcVersion => Method::RpcVersion,
            Request::Health => Method::Health,
            Request::WaitForHealthy => Method::WaitForHealthy,
            Request::Uris => Method::Uris,
            Request::Status => Method::Status,
            Request::StreamStatus { .. } => Method::StreamStatus,
            Request::Start(_) => Method::Start,
            Request::CreateBlockchains(_) => Method::CreateBlockchains,
            Request::CreateChains(_) => Method::CreateChains,
            Request::TransformElasticChains(_) => Method::TransformElasticChains,
            Request::AddPermissionlessValidator(_) => Method::AddPermissionlessValidator,
            Request::RemoveChainValidator(_) => Method::RemoveChainValidator,
            Request::AddNode(_) => Method::AddNode,
            Request::RemoveNode { .. } => Method::RemoveNode,
            Request::RestartNode(_) => Method::RestartNode,
            Request::PauseNode { .. } => Method::PauseNode,
            Request::ResumeNode { .. } => Method::ResumeNode,
            Request::AttachPeer { .. } => Method::AttachPeer,
            Request::SendOutboundMessage(_) => Method::SendOutboundMessage,
            Request::SaveSnapshot { .. } => Method::SaveSnapshot,
            Request::SaveHotSnapshot { .. } => Method::SaveHotSnapshot,
            Request::LoadSnapshot(_) => Method::LoadSnapshot,
            Request::RemoveSnapshot { .. } => Method::RemoveSnapshot,
            Request::GetSnapshotNames => Method::GetSnapshotNames,
            Request::Stop => Method::Stop,
        }
    }

    /// The StreamStatus push interval, when it is positive.
    pub fn push_interval(&self) -> Option<Duration> {
        match self {
            Request::StreamStatus { push_interval_ns } if *push_interval_ns > 0 => {
                Some(Duration::from_nanos(push_interval_ns.unsigned_abs()))
            }
            _ => None,
        }
    }

    /// Appends the body: the sub-opcode (under opcode 62), then the fields.
    pub fn encode_body(&self, w: &mut BeWriter) {
        if let Some(s) = self.method().sub_opcode() {
            w.put_u8(s);
        }
        match self {
            Request::Ping
            | Request::RpcVersion
            | Request::Health
            | Request::WaitForHealthy
            | Request::Uris
            | Request::Status
            | Request::GetSnapshotNames
            | Request::Stop => {}
            Request::StreamStatus { push_interval_ns } => {
                w.put_i64(*push_interval_ns);
            }
            Request::Start(r) => r.encode(w),
            Request::CreateBlockchains(specs) => {
                w.put_list(specs);
            }
            Request::CreateChains(specs) => {
                w.put_list(specs);
            }
            Request::TransformElasticChains(specs) => {
                w.put_list(specs);
            }
            Request::AddPermissionlessValidator(specs) => {
                w.put_list(specs);
            }
            Request::RemoveChainValidator(specs) => {
                w.put_list(specs);
            }
            Request::AddNode(r) => r.encode(w),
            Request::RestartNode(r) => r.encode(w),
            Request::SendOutboundMessage(r) => r.encode(w),
            Request::LoadSnapshot(r) => r.encode(w),
            Request::RemoveNode { name }
            | Request::PauseNode { name }
            | Request::ResumeNode { name }
            | Request::AttachPeer { node_name: name }
            | Request::SaveSnapshot {
                snapshot_name: name,
            }
            | Request::SaveHotSnapshot {
                snapshot_name: name,
            }
            | Request::RemoveSnapshot {
                snapshot_name: name,
            } => {
                w.put_str(name);
            }
        }
    }

    /// The body as a new buffer.
    pub fn body(&self) -> Vec<u8> {
        let mut w = BeWriter::new();
        self.encode_body(&mut w);
        w.into_vec()
    }

    /// Reads a request from its opcode (the type byte's low six bits, or the whole
    /// byte: a byte with the response bits set is an unknown opcode, as in Go) and body.
    ///
    /// # Errors
    /// A [`RequestError`] whose text is the answer to send.
    pub fn decode(
        type_byte: u8,
        body: &[u8],
        options: &DecodeOptions,
    ) -> Result<Self, RequestError> {
        let (method, fields) = match type_byte {
            OP_PING => (Method::Ping, &[][..]),
            OP_RPC_VERSION => (Method::RpcVersion, &[][..]),
            OP_STOP => (Method::Stop, &[][..]),
            OP_FANOUT => {
                let (&s, rest) = body.split_first().ok_or(RequestError::MissingSubOpcode)?;
                let method = Method::from_wire(OP_FANOUT, Some(s))
                    .ok_or(RequestError::UnknownSubOpcode(s))?;
                (method, rest)
            }
            other => return Err(RequestError::UnknownOpcode(other)),
        };
        Self::decode_fields(method, fields, options)
            .map_err(|source| RequestError::Malformed { method, source })
    }

    fn decode_fields(
        method: Method,
        fields: &[u8],
        options: &DecodeOptions,
    ) -> Result<Self, DecodeError> {
        let mut r = Reader::new(fields, options);
        let request = match method {
            // Go ignores whatever follows these; so does lenient decoding.
            Method::Ping => Request::Ping,
            Method::RpcVersion => Request::RpcVersion,
            Method::Stop => Request::Stop,
            Method::Health => Request::Health,
            Method::WaitForHealthy => Request::WaitForHealthy,
            Method::Uris => Request::Uris,
            Method::Status => Request::Status,
            Method::GetSnapshotNames => Request::GetSnapshotNames,
            Method::StreamStatus => Request::StreamStatus {
                push_interval_ns: r.i64()?,
            },
            Method::Start => Request::Start(StartRequest::decode_from(&mut r)?),
            Method::CreateBlockchains => Request::CreateBlockchains(r.list()?),
            Method::CreateChains => Request::CreateChains(r.list()?),
            Method::TransformElasticChains => Request::TransformElasticChains(r.list()?),
            Method::AddPermissionlessValidator => Request::AddPermissionlessValidator(r.list()?),
            Method::RemoveChainValidator => Request::RemoveChainValidator(r.list()?),
            Method::AddNode => Request::AddNode(AddNodeRequest::decode_from(&mut r)?),
            Method::RemoveNode => Request::RemoveNode { name: r.string()? },
            Method::RestartNode => Request::RestartNode(RestartNodeRequest::decode_from(&mut r)?),
            Method::PauseNode => Request::PauseNode { name: r.string()? },
            Method::ResumeNode => Request::ResumeNode { name: r.string()? },
            Method::AttachPeer => Request::AttachPeer {
                node_name: r.string()?,
            },
            Method::SendOutboundMessage => {
                Request::SendOutboundMessage(SendOutboundMessageRequest::decode_from(&mut r)?)
            }
            Method::SaveSnapshot => Request::SaveSnapshot {
                snapshot_name: r.string()?,
            },
            Method::SaveHotSnapshot => Request::SaveHotSnapshot {
                snapshot_name: r.string()?,
            },
            Method::LoadSnapshot => {
                Request::LoadSnapshot(LoadSnapshotRequest::decode_from(&mut r)?)
            }
            Method::RemoveSnapshot => Request::RemoveSnapshot {
                snapshot_name: r.string()?,
            },
        };
        r.finish()?;
        Ok(request)
    }
}

/// A decoded response: one variant per response shape.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Response {
    /// Ping: the server's process id.
    Ping {
        /// The pid.
        pid: i32,
    },
    /// RPCVersion.
    RpcVersion {
        /// [`PROTOCOL_VERSION`](crate::PROTOCOL_VERSION) for this crate's servers.
        version: u32,
    },
    /// Health, WaitForHealthy, Status, Stop, AddNode, RemoveNode, RestartNode,
    /// PauseNode, ResumeNode, AddPermissionlessValidator, RemoveChainValidator and
    /// LoadSnapshot: `opt<ClusterInfo>`.
    Cluster(Option<ClusterInfo>),
    /// URIs: the node URIs.
    Uris(Vec<String>),
    /// Start, CreateBlockchains, CreateChains.
    ChainIds(ChainIdsResponse),
    /// TransformElasticChains.
    TransformElasticChains(TransformElasticChainsResponse),
    /// AttachPeer.
    AttachPeer(AttachPeerResponse),
    /// SendOutboundMessage.
    SendOutboundMessage {
        /// True when the message left.
        sent: bool,
    },
    /// SaveSnapshot, SaveHotSnapshot: where the snapshot went.
    SnapshotPath(String),
    /// RemoveSnapshot: nothing.
    Empty,
    /// GetSnapshotNames.
    SnapshotNames(Vec<String>),
    /// One frame of StreamStatus.
    Status(StatusEvent),
}

impl Response {
    /// Appends the body.
    pub fn encode_body(&self, w: &mut BeWriter) {
        match self {
            Response::Ping { pid } => {
                w.put_i32(*pid);
            }
            Response::RpcVersion { version } => {
                w.put_u32(*version);
            }
            Response::Cluster(info) => {
                w.put_opt_message(info.as_ref());
            }
            Response::Uris(items) | Response::SnapshotNames(items) => {
                w.put_strings(items);
            }
            Response::ChainIds(r) => r.encode(w),
            Response::TransformElasticChains(r) => r.encode(w),
            Response::AttachPeer(r) => r.encode(w),
            Response::SendOutboundMessage { sent } => {
                w.put_bool(*sent);
            }
            Response::SnapshotPath(path) => {
                w.put_str(path);
            }
            Response::Empty => {}
            Response::Status(event) => event.encode(w),
        }
    }

    /// The body as a new buffer.
    pub fn body(&self) -> Vec<u8> {
        let mut w = BeWriter::new();
        self.encode_body(&mut w);
        w.into_vec()
    }

    /// Reads the body of a successful response to `method`.
    ///
    /// # Errors
    /// A [`DecodeError`] for bytes that do not hold the response.
    pub fn decode(
        method: Method,
        body: &[u8],
        options: &DecodeOptions,
    ) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body, options);
        let response = match method {
            Method::Ping => Response::Ping { pid: r.i32()? },
            Method::RpcVersion => Response::RpcVersion { version: r.u32()? },
            Method::Health
            | Method::WaitForHealthy
            | Method::Status
            | Method::Stop
            | Method::AddNode
            | Method::RemoveNode
            | Method::RestartNode
            | Method::PauseNode
            | Method::ResumeNode
            | Method::AddPermissionlessValidator
            | Method::RemoveChainValidator
            | Method::LoadSnapshot => Response::Cluster(r.opt_message("ClusterInfo")?),
            Method::Uris => Response::Uris(r.strings()?),
            Method::Start | Method::CreateBlockchains | Method::CreateChains => {
                Response::ChainIds(ChainIdsResponse::decode_from(&mut r)?)
            }
            Method::TransformElasticChains => Response::TransformElasticChains(
                TransformElasticChainsResponse::decode_from(&mut r)?,
            ),
            Method::AttachPeer => Response::AttachPeer(AttachPeerResponse::decode_from(&mut r)?),
            Method::SendOutboundMessage => Response::SendOutboundMessage {
                sent: r.bool("SendOutboundMessageResponse.Sent")?,
            },
            Method::SaveSnapshot | Method::SaveHotSnapshot => Response::SnapshotPath(r.string()?),
            Method::RemoveSnapshot => Response::Empty,
            Method::GetSnapshotNames => Response::SnapshotNames(r.strings()?),
            Method::StreamStatus => Response::Status(StatusEvent::decode_from(&mut r)?),
        };
        r.finish()?;
        Ok(response)
    }
}
