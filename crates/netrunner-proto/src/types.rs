//! The composite types: the cluster description and the specs of the chain RPCs.
//!
//! Field order is wire order. [`ClusterInfo`], [`NodeInfo`], [`ChainInfo`] and
//! [`AttachedPeerInfo`] are Go zapwire's (`zapwire/types`); the specs follow the legacy
//! gRPC messages (`rpcpb/rpc.proto`) in the same encoding style, because Go only
//! reserves the sub-opcodes that carry them.

use zap_wire::be::BeWriter;

use crate::encoding::{Reader, WireMessage, WriterExt};
use crate::error::DecodeError;

/// The state of a cluster, as every cluster-changing call returns it.
///
/// Go keys `NodeInfos` and `CustomChains` by a field of the value and does not send the
/// key; they are kept here as lists in wire order (no entry is lost to a repeated key).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ClusterInfo {
    /// The node names.
    pub node_names: Vec<String>,
    /// One entry per node.
    pub node_infos: Vec<NodeInfo>,
    /// The control server's process id.
    pub pid: i32,
    /// Where the cluster keeps its data.
    pub root_data_dir: String,
    /// True when every node is healthy.
    pub healthy: bool,
    /// Chains created on the cluster.
    pub custom_chains: Vec<ChainInfo>,
    /// Subnet (participant set) ids.
    pub subnets: Vec<String>,
    /// The network id.
    pub network_id: u32,
}

impl ClusterInfo {
    /// The node called `name`.
    pub fn node(&self, name: &str) -> Option<&NodeInfo> {
        self.node_infos.iter().find(|n| n.name == name)
    }

    /// The chain with id `chain_id`.
    pub fn chain(&self, chain_id: &str) -> Option<&ChainInfo> {
        self.custom_chains.iter().find(|c| c.chain_id == chain_id)
    }
}

impl WireMessage for ClusterInfo {
    const MIN_SIZE: usize = 4 + 4 + 4 + 4 + 1 + 4 + 4 + 4;

    fn encode(&self, w: &mut BeWriter) {
        w.put_strings(&self.node_names)
            .put_list(&self.node_infos)
            .put_i32(self.pid)
            .put_str(&self.root_data_dir)
            .put_bool(self.healthy)
            .put_list(&self.custom_chains)
            .put_strings(&self.subnets)
            .put_u32(self.network_id);
    }

    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            node_names: r.strings()?,
            node_infos: r.list()?,
            pid: r.i32()?,
            root_data_dir: r.string()?,
            healthy: r.bool("ClusterInfo.Healthy")?,
            custom_chains: r.list()?,
            subnets: r.strings()?,
            network_id: r.u32()?,
        })
    }
}

/// One node of the cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct NodeInfo {
    /// The node's name.
    pub name: String,
    /// The binary it runs.
    pub exec_path: String,
    /// Its API URI.
    pub uri: String,
    /// Its node id.
    pub id: String,
    /// Its log directory.
    pub log_dir: String,
    /// Its database directory.
    pub db_dir: String,
    /// Its configuration (bytes on the wire).
    pub config: Vec<u8>,
    /// Its plugin directory.
    pub plugin_dir: String,
    /// The subnets it tracks.
    pub whitelisted_subnets: String,
    /// True while paused.
    pub paused: bool,
}

impl WireMessage for NodeInfo {
    const MIN_SIZE: usize = 9 * 4 + 1;

    fn encode(&self, w: &mut BeWriter) {
        w.put_str(&self.name)
            .put_str(&self.exec_path)
            .put_str(&self.uri)
            .put_str(&self.id)
            .put_str(&self.log_dir)
            .put_str(&self.db_dir)
            .put_bytes(&self.config)
            .put_str(&self.plugin_dir)
            .put_str(&self.whitelisted_subnets)
            .put_bool(self.paused);
    }

    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            name: r.string()?,
            exec_path: r.string()?,
            uri: r.string()?,
            id: r.string()?,
            log_dir: r.string()?,
            db_dir: r.string()?,
            config: r.bytes()?,
            plugin_dir: r.string()?,
            whitelisted_subnets: r.string()?,
            paused: r.bool("NodeInfo.Paused")?,
        })
    }
}

/// A chain created on the cluster (zapwire's own layout, not the proto's).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ChainInfo {
    /// The chain's name.
    pub chain_name: String,
    /// The VM id.
    pub vm_id: String,
    /// The VM name.
    pub vm_name: String,
    /// The chain id.
    pub chain_id: String,
    /// The subnet it runs on.
    pub subnet_id: String,
    /// The genesis bytes.
    pub genesis: Vec<u8>,
}

impl WireMessage for ChainInfo {
    const MIN_SIZE: usize = 6 * 4;

    fn encode(&self, w: &mut BeWriter) {
        w.put_str(&self.chain_name)
            .put_str(&self.vm_id)
            .put_str(&self.vm_name)
            .put_str(&self.chain_id)
            .put_str(&self.subnet_id)
            .put_bytes(&self.genesis);
    }

    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            chain_name: r.string()?,
            vm_id: r.string()?,
            vm_name: r.string()?,
            chain_id: r.string()?,
            subnet_id: r.string()?,
            genesis: r.bytes()?,
        })
    }
}

/// The peer that AttachPeer created.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct AttachedPeerInfo {
    /// The peer's id.
    pub id: String,
}

impl WireMessage for AttachedPeerInfo {
    const MIN_SIZE: usize = 4;

    fn encode(&self, w: &mut BeWriter) {
        w.put_str(&self.id);
    }

    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self { id: r.string()? })
    }
}

/// A blockchain to create (legacy `BlockchainSpec`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct BlockchainSpec {
    /// The VM's name.
    pub vm_name: String,
    /// The genesis: a path or the contents.
    pub genesis: String,
    /// An existing subnet to run on.
    pub chain_id: Option<String>,
    /// A new participant set to create for it.
    pub chain_spec: Option<ChainSpec>,
    /// Chain configuration.
    pub chain_config: String,
    /// Network upgrade configuration.
    pub network_upgrade: String,
    /// An alias for the blockchain.
    pub blockchain_alias: String,
    /// Per-node chain configuration.
    pub per_node_chain_config: String,
}

impl WireMessage for BlockchainSpec {
    const MIN_SIZE: usize = 4 + 4 + 1 + 1 + 4 * 4;

    fn encode(&self, w: &mut BeWriter) {
        w.put_str(&self.vm_name)
            .put_str(&self.genesis)
            .put_opt_string(self.chain_id.as_deref())
            .put_opt_message(self.chain_spec.as_ref())
            .put_str(&self.chain_config)
            .put_str(&self.network_upgrade)
            .put_str(&self.blockchain_alias)
            .put_str(&self.per_node_chain_config);
    }

    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            vm_name: r.string()?,
            genesis: r.string()?,
            chain_id: r.opt_string("BlockchainSpec.ChainID")?,
            chain_spec: r.opt_message("BlockchainSpec.ChainSpec")?,
            chain_config: r.string()?,
            network_upgrade: r.string()?,
            blockchain_alias: r.string()?,
            per_node_chain_config: r.string()?,
        })
    }
}

/// A participant set (legacy `ChainSpec`, called `SubnetSpec` before the renaming).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ChainSpec {
    /// The participating node names.
    pub participants: Vec<String>,
    /// A chain configuration file.
    pub chain_config_file: String,
}

impl WireMessage for ChainSpec {
    const MIN_SIZE: usize = 4 + 4;

    fn encode(&self, w: &mut BeWriter) {
        w.put_strings(&self.participants)
            .put_str(&self.chain_config_file);
    }

    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            participants: r.strings()?,
            chain_config_file: r.string()?,
        })
    }
}

/// Turns a subnet into an elastic (permissionless) one (legacy `ElasticChainSpec`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[allow(missing_docs)] // the fields are the legacy API's, named as there
pub struct ElasticChainSpec {
    pub chain_id: String,
    pub asset_name: String,
    pub asset_symbol: String,
    pub initial_supply: u64,
    pub max_supply: u64,
    pub min_consumption_rate: u64,
    pub max_consumption_rate: u64,
    pub min_validator_stake: u64,
    pub max_validator_stake: u64,
    pub min_stake_duration: u64,
    pub max_stake_duration: u64,
    pub min_delegation_fee: u32,
    pub min_delegator_stake: u64,
    pub max_validator_weight_factor: u32,
    pub uptime_requirement: u32,
}

impl WireMessage for ElasticChainSpec {
    const MIN_SIZE: usize = 3 * 4 + 8 * 8 + 4 + 8 + 4 + 4;

    fn encode(&self, w: &mut BeWriter) {
        w.put_str(&self.chain_id)
            .put_str(&self.asset_name)
            .put_str(&self.asset_symbol)
            .put_u64(self.initial_supply)
            .put_u64(self.max_supply)
            .put_u64(self.min_consumption_rate)
            .put_u64(self.max_consumption_rate)
            .put_u64(self.min_validator_stake)
            .put_u64(self.max_validator_stake)
            .put_u64(self.min_stake_duration)
            .put_u64(self.max_stake_duration)
            .put_u32(self.min_delegation_fee)
            .put_u64(self.min_delegator_stake)
            .put_u32(self.max_validator_weight_factor)
            .put_u32(self.uptime_requirement);
    }

    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            chain_id: r.string()?,
            asset_name: r.string()?,
            asset_symbol: r.string()?,
            initial_supply: r.u64()?,
            max_supply: r.u64()?,
            min_consumption_rate: r.u64()?,
            max_consumption_rate: r.u64()?,
            min_validator_stake: r.u64()?,
            max_validator_stake: r.u64()?,
            min_stake_duration: r.u64()?,
            max_stake_duration: r.u64()?,
            min_delegation_fee: r.u32()?,
            min_delegator_stake: r.u64()?,
            max_validator_weight_factor: r.u32()?,
            uptime_requirement: r.u32()?,
        })
    }
}

/// Adds a validator to an elastic subnet (legacy `PermissionlessValidatorSpec`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct PermissionlessValidatorSpec {
    /// The subnet.
    pub chain_id: String,
    /// The node that validates.
    pub node_name: String,
    /// The stake.
    pub staked_token_amount: u64,
    /// The staked asset.
    pub asset_id: String,
    /// When validation starts, `2006-01-02 15:04:05` layout (as the legacy API).
    pub start_time: String,
    /// For how long, in seconds.
    pub stake_duration: u64,
}

impl WireMessage for PermissionlessValidatorSpec {
    const MIN_SIZE: usize = 4 + 4 + 8 + 4 + 4 + 8;

    fn encode(&self, w: &mut BeWriter) {
        w.put_str(&self.chain_id)
            .put_str(&self.node_name)
            .put_u64(self.staked_token_amount)
            .put_str(&self.asset_id)
            .put_str(&self.start_time)
            .put_u64(self.stake_duration);
    }

    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            chain_id: r.string()?,
            node_name: r.string()?,
            staked_token_amount: r.u64()?,
            asset_id: r.string()?,
            start_time: r.string()?,
            stake_duration: r.u64()?,
        })
    }
}

/// Removes validators from a subnet (legacy `RemoveChainValidatorSpec`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct RemoveChainValidatorSpec {
    /// The subnet.
    pub chain_id: String,
    /// The nodes to remove.
    pub node_names: Vec<String>,
}

impl WireMessage for RemoveChainValidatorSpec {
    const MIN_SIZE: usize = 4 + 4;

    fn encode(&self, w: &mut BeWriter) {
        w.put_str(&self.chain_id).put_strings(&self.node_names);
    }

    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            chain_id: r.string()?,
            node_names: r.strings()?,
        })
    }
}
