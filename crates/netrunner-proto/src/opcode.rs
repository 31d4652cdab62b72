//! Opcodes, sub-opcodes and the [`Method`] each pair names.
//!
//! Four typed-frame opcodes carry the whole protocol: 60 Ping, 61 RPCVersion, 63 Stop,
//! and 62, a fan-out opcode whose first body byte is a sub-opcode that picks the RPC.
//! The numbers are luxfi/netrunner's (`zapwire/opcodes.go`); sub-opcodes 5 (StreamStatus,
//! only reserved upstream), 6 (Start) and 0xF0 (Cancel) are this crate's extensions and
//! are described in the project's `docs/wire.md`.

use std::fmt;

/// `ProtocolVersion`, the answer to an RPCVersion call (the Go value).
pub const PROTOCOL_VERSION: u32 = 1;
/// The control port netrunner listens on by default.
pub const DEFAULT_PORT: u16 = 9999;
/// `127.0.0.1:9999`, netrunner's default address.
pub const DEFAULT_ADDR: &str = "127.0.0.1:9999";

/// Opcode 60: Ping (empty request, `i32` pid answer).
pub const OP_PING: u8 = 60;
/// Opcode 61: RPCVersion (empty request, `u32` version answer).
pub const OP_RPC_VERSION: u8 = 61;
/// Opcode 62: the fan-out opcode (Go calls it `OpStart`); its body starts with a sub-opcode.
pub const OP_FANOUT: u8 = 62;
/// Opcode 63: Stop.
pub const OP_STOP: u8 = 63;

/// Sub-opcodes of [`OP_FANOUT`], the first byte of its body.
pub mod sub {
    /// Health.
    pub const HEALTH: u8 = 1;
    /// WaitForHealthy.
    pub const WAIT_FOR_HEALTHY: u8 = 2;
    /// URIs.
    pub const URIS: u8 = 3;
    /// Status.
    pub const STATUS: u8 = 4;
    /// StreamStatus (reserved upstream; the message layout is ours).
    pub const STREAM_STATUS: u8 = 5;
    /// Start (no sub-opcode upstream; this number is ours).
    pub const START: u8 = 6;
    /// CreateBlockchains.
    pub const CREATE_BLOCKCHAINS: u8 = 10;
    /// CreateChains.
    pub const CREATE_CHAINS: u8 = 11;
    /// TransformElasticChains.
    pub const TRANSFORM_ELASTIC_CHAINS: u8 = 12;
    /// AddPermissionlessValidator.
    pub const ADD_PERMISSIONLESS_VALIDATOR: u8 = 13;
    /// RemoveChainValidator.
    pub const REMOVE_CHAIN_VALIDATOR: u8 = 14;
    /// AddNode.
    pub const ADD_NODE: u8 = 20;
    /// RemoveNode.
    pub const REMOVE_NODE: u8 = 21;
    /// RestartNode.
    pub const RESTART_NODE: u8 = 22;
    /// PauseNode.
    pub const PAUSE_NODE: u8 = 23;
    /// ResumeNode.
    pub const RESUME_NODE: u8 = 24;
    /// AttachPeer.
    pub const ATTACH_PEER: u8 = 30;
    /// SendOutboundMessage.
    pub const SEND_OUTBOUND_MESSAGE: u8 = 31;
    /// SaveSnapshot.
    pub const SAVE_SNAPSHOT: u8 = 40;
    /// SaveHotSnapshot.
    pub const SAVE_HOT_SNAPSHOT: u8 = 41;
    /// LoadSnapshot.
    pub const LOAD_SNAPSHOT: u8 = 42;
    /// RemoveSnapshot.
    pub const REMOVE_SNAPSHOT: u8 = 43;
    /// GetSnapshotNames.
    pub const GET_SNAPSHOT_NAMES: u8 = 44;
    /// Cancel: stops the request whose id this frame carries (ours; no reply of its own).
    pub const CANCEL: u8 = 0xF0;
}

/// One RPC of the control protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Method {
    /// Opcode 60.
    Ping,
    /// Opcode 61.
    RpcVersion,
    /// 62 / 1.
    Health,
    /// 62 / 2.
    WaitForHealthy,
    /// 62 / 3.
    Uris,
    /// 62 / 4.
    Status,
    /// 62 / 5, a stream of status updates.
    StreamStatus,
    /// 62 / 6.
    Start,
    /// 62 / 10.
    CreateBlockchains,
    /// 62 / 11.
    CreateChains,
    /// 62 / 12.
    TransformElasticChains,
    /// 62 / 13.
    AddPermissionlessValidator,
    /// 62 / 14.
    RemoveChainValidator,
    /// 62 / 20.
    AddNode,
    /// 62 / 21.
    RemoveNode,
    /// 62 / 22.
    RestartNode,
    /// 62 / 23.
    PauseNode,
    /// 62 / 24.
    ResumeNode,
    /// 62 / 30.
    AttachPeer,
    /// 62 / 31.
    SendOutboundMessage,
    /// 62 / 40.
    SaveSnapshot,
    /// 62 / 41.
    SaveHotSnapshot,
    /// 62 / 42.
    LoadSnapshot,
    /// 62 / 43.
    RemoveSnapshot,
    /// 62 / 44.
    GetSnapshotNames,
    /// Opcode 63.
    Stop,
}

impl Method {
    /// Every method, in wire-number order.
    pub const ALL: [Method; 26] = [
        Method::Ping,
        Method::RpcVersion,
        Method::Health,
        Method::WaitForHealthy,
        Method::Uris,
        Method::Status,
        Method::StreamStatus,
        Method::Start,
        Method::CreateBlockchains,
        Method::CreateChains,
        Method::TransformElasticChains,
        Method::AddPermissionlessValidator,
        Method::RemoveChainValidator,
        Method::AddNode,
        Method::RemoveNode,
        Method::RestartNode,
        Method::PauseNode,
        Method::ResumeNode,
        Method::AttachPeer,
        Method::SendOutboundMessage,
        Method::SaveSnapshot,
        Method::SaveHotSnapshot,
        Method::LoadSnapshot,
        Method::RemoveSnapshot,
        Method::GetSnapshotNames,
        Method::Stop,
    ];

    /// The typed-frame opcode the request travels under.
    pub const fn opcode(self) -> u8 {
        match self {
            Method::Ping => OP_PING,
            Method::RpcVersion => OP_RPC_VERSION,
            Method::Stop => OP_STOP,
            _ => OP_FANOUT,
        }
    }

    /// The sub-opcode, for methods under [`OP_FANOUT`].
    pub const fn sub_opcode(self) -> Option<u8> {
        Some(match self {
            Method::Ping | Method::RpcVersion | Method::Stop => return None,
            Method::Health => sub::HEALTH,
            Method::WaitForHealthy => sub::WAIT_FOR_HEALTHY,
            Method::Uris => sub::URIS,
            Method::Status => sub::STATUS,
            Method::StreamStatus => sub::STREAM_STATUS,
            Method::Start => sub::START,
            Method::CreateBlockchains => sub::CREATE_BLOCKCHAINS,
            Method::CreateChains => sub::CREATE_CHAINS,
            Method::TransformElasticChains => sub::TRANSFORM_ELASTIC_CHAINS,
            Method::AddPermissionlessValidator => sub::ADD_PERMISSIONLESS_VALIDATOR,
            Method::RemoveChainValidator => sub::REMOVE_CHAIN_VALIDATOR,
            Method::AddNode => sub::ADD_NODE,
            Method::RemoveNode => sub::REMOVE_NODE,
            Method::RestartNode => sub::RESTART_NODE,
            Method::PauseNode => sub::PAUSE_NODE,
            Method::ResumeNode => sub::RESUME_NODE,
            Method::AttachPeer => sub::ATTACH_PEER,
            Method::SendOutboundMessage => sub::SEND_OUTBOUND_MESSAGE,
            Method::SaveSnapshot => sub::SAVE_SNAPSHOT,
            Method::SaveHotSnapshot => sub::SAVE_HOT_SNAPSHOT,
            Method::LoadSnapshot => sub::LOAD_SNAPSHOT,
            Method::RemoveSnapshot => sub::REMOVE_SNAPSHOT,
            Method::GetSnapshotNames => sub::GET_SNAPSHOT_NAMES,
        })
    }

    /// The method an opcode (and, under [`OP_FANOUT`], a sub-opcode) names.
    pub fn from_wire(opcode: u8, sub_opcode: Option<u8>) -> Option<Method> {
        match (opcode, sub_opcode) {
            (OP_PING, _) => Some(Method::Ping),
            (OP_RPC_VERSION, _) => Some(Method::RpcVersion),
            (OP_STOP, _) => Some(Method::Stop),
            (OP_FANOUT, Some(s)) => Method::ALL
                .iter()
                .copied()
                .find(|m| m.opcode() == OP_FANOUT && m.sub_opcode() == Some(s)),
            _ => None,
        }
    }

    /// True when Go's zapwire implements the method (the rest are extensions a Go
    /// server answers with "unknown SubOp").
    pub const fn in_go_zapwire(self) -> bool {
        matches!(
            self,
            Method::Ping
                | Method::RpcVersion
                | Method::Health
                | Method::WaitForHealthy
                | Method::Uris
                | Method::Status
                | Method::AddNode
                | Method::RemoveNode
                | Method::RestartNode
                | Method::PauseNode
                | Method::ResumeNode
                | Method::AttachPeer
                | Method::SendOutboundMessage
                | Method::Stop
        )
    }

    /// The legacy RPC name (`AddNode`, `StreamStatus`, ...), used in logs and metrics.
    pub const fn name(self) -> &'static str {
        match self {
            Method::Ping => "Ping",
            Method::RpcVersion => "RPCVersion",
            Method::Health => "Health",
            Method::WaitForHealthy => "WaitForHealthy",
            Method::Uris => "URIs",
            Method::Status => "Status",
            Method::StreamStatus => "StreamStatus",
            Method::Start => "Start",
            Method::CreateBlockchains => "CreateBlockchains",
            Method::CreateChains => "CreateChains",
            Method::TransformElasticChains => "TransformElasticChains",
            Method::AddPermissionlessValidator => "AddPermissionlessValidator",
            Method::RemoveChainValidator => "RemoveChainValidator",
            Method::AddNode => "AddNode",
            Method::RemoveNode => "RemoveNode",
            Method::RestartNode => "RestartNode",
            Method::PauseNode => "PauseNode",
            Method::ResumeNode => "ResumeNode",
            Method::AttachPeer => "AttachPeer",
            Method::SendOutboundMessage => "SendOutboundMessage",
            Method::SaveSnapshot => "SaveSnapshot",
            Method::SaveHotSnapshot => "SaveHotSnapshot",
            Method::LoadSnapshot => "LoadSnapshot",
            Method::RemoveSnapshot => "RemoveSnapshot",
            Method::GetSnapshotNames => "GetSnapshotNames",
            Method::Stop => "Stop",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_method_round_trips_through_its_numbers() {
        for m in Method::ALL {
            assert_eq!(
                Method::from_wire(m.opcode(), m.sub_opcode()),
                Some(m),
                "{m}"
            );
        }
        assert_eq!(Method::from_wire(OP_FANOUT, Some(sub::CANCEL)), None);
        assert_eq!(Method::from_wire(OP_FANOUT, None), None);
        assert_eq!(Method::from_wire(5, None), None);
        let subs: std::collections::BTreeSet<_> =
            Method::ALL.iter().filter_map(|m| m.sub_opcode()).collect();
        assert_eq!(subs.len(), 23, "sub-opcodes are distinct");
    }
}
