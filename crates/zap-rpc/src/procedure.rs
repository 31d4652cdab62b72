//! What a call is addressed to: a procedure name, or a raw Go message type.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;
use std::sync::Arc;

use zap_wire::ProcedureId;

use crate::error::Error;

/// The target of a call or send.
///
/// * A **named** procedure, as Go's zapclient addresses them: Rust peers carry its 32-bit
///   FNV-1a hash (wide id); Go peers get the 8-bit opcode `((hash % 254) + 1) << 8`
///   written into the message flags.
/// * A raw **message type**, as Go's `Node.Call`/`Node.Handle` address them: the message is
///   sent exactly as given and routed on `flags >> 8`, which the caller has set.
///
/// ```
/// use zap_rpc::Procedure;
///
/// let ping: Procedure = "Ping".parse()?;
/// assert_eq!(ping.opcode(), Some(0x7000)); // zapclient's opcode for "Ping"
/// assert_eq!(ping.to_string(), "Ping");
/// assert_eq!(Procedure::msg_type(0x42).to_string(), "msg-type 0x42");
/// # Ok::<(), zap_rpc::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Procedure(Kind);

#[derive(Clone, PartialEq, Eq)]
enum Kind {
    Named { name: Arc<str>, id: ProcedureId },
    MsgType(u8),
}

impl Procedure {
    /// A named procedure; the empty name is refused.
    pub fn new(name: &str) -> Result<Self, Error> {
        let id = ProcedureId::new(name).map_err(Error::InvalidProcedure)?;
        Ok(Self(Kind::Named {
            name: Arc::from(name),
            id,
        }))
    }

    /// A raw message type (Go `Node.Call` semantics).
    pub const fn msg_type(msg_type: u8) -> Self {
        Self(Kind::MsgType(msg_type))
    }

    /// The name of a named procedure.
    pub fn name(&self) -> Option<&str> {
        match &self.0 {
            Kind::Named { name, .. } => Some(name),
            Kind::MsgType(_) => None,
        }
    }

    /// The id (hash) of a named procedure.
    pub fn id(&self) -> Option<ProcedureId> {
        match &self.0 {
            Kind::Named { id, .. } => Some(*id),
            Kind::MsgType(_) => None,
        }
    }

    /// The zapclient opcode of a named procedure.
    pub fn opcode(&self) -> Option<u16> {
        self.id().map(ProcedureId::opcode)
    }

    /// The raw message type, for message-type targets.
    pub fn raw_msg_type(&self) -> Option<u8> {
        match &self.0 {
            Kind::MsgType(t) => Some(*t),
            Kind::Named { .. } => None,
        }
    }
}

/// Hashes the 32-bit id only (the name's own hash): equal procedures have equal ids, and
/// hashing four bytes instead of the name keeps per-call lookups cheap.
impl Hash for Procedure {
    fn hash<H: Hasher>(&self, state: &mut H) {
        match &self.0 {
            Kind::Named { id, .. } => state.write_u32(ProcedureId::hash(*id)),
            Kind::MsgType(t) => state.write_u32(u32::from(*t)),
        }
    }
}

impl fmt::Display for Procedure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Kind::Named { name, .. } => f.write_str(name),
            Kind::MsgType(t) => write!(f, "msg-type {t:#04x}"),
        }
    }
}

impl fmt::Debug for Procedure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Procedure({self})")
    }
}

impl FromStr for Procedure {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        Self::new(s)
    }
}

/// Anything that names a call target: `&str`, `String`, [`Procedure`].
pub trait IntoProcedure {
    /// The target, or why the name is unusable.
    fn into_procedure(self) -> Result<Procedure, Error>;
}

impl IntoProcedure for &str {
    fn into_procedure(self) -> Result<Procedure, Error> {
        Procedure::new(self)
    }
}

impl IntoProcedure for String {
    fn into_procedure(self) -> Result<Procedure, Error> {
        Procedure::new(&self)
    }
}

impl IntoProcedure for &String {
    fn into_procedure(self) -> Result<Procedure, Error> {
        Procedure::new(self)
    }
}

impl IntoProcedure for Procedure {
    fn into_procedure(self) -> Result<Procedure, Error> {
        Ok(self)
    }
}

impl IntoProcedure for &Procedure {
    fn into_procedure(self) -> Result<Procedure, Error> {
        Ok(self.clone())
    }
}
