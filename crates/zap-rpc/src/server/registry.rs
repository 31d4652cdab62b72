//! The procedures a server offers, by wide id and by legacy message type.

use std::collections::HashMap;
use std::sync::Arc;

use zap_wire::ProcedureId;

use super::handler::ErasedHandler;
use crate::error::Error;
use crate::metrics::CallKeys;
use crate::status::{ErrorCode, Status};

/// One registered procedure.
pub(crate) struct Entry {
    pub(crate) name: Arc<str>,
    pub(crate) handler: Arc<dyn ErasedHandler>,
    /// Its call metrics, keyed once at registration.
    pub(crate) metrics: CallKeys,
}

impl Entry {
    fn new(name: &str, handler: Arc<dyn ErasedHandler>) -> Self {
        let name: Arc<str> = Arc::from(name);
        Self {
            metrics: CallKeys::server(name.clone()),
            name,
            handler,
        }
    }
}

/// What a legacy message type leads to.
#[derive(Clone, Default)]
enum Slot {
    #[default]
    Empty,
    One(Arc<Entry>),
    /// Several names share the opcode; legacy calls on it are refused.
    Shared(Vec<Arc<str>>),
}

/// All procedures of a server. Built before the server starts, then read without locks.
#[derive(Clone)]
pub(crate) struct Registry {
    by_hash: HashMap<u32, Arc<Entry>>,
    by_type: Vec<Slot>,
    names: HashMap<Arc<str>, Option<ProcedureId>>,
    pub(crate) allow_collisions: bool,
}

impl Default for Registry {
    fn default() -> Self {
        Self {
            by_hash: HashMap::new(),
            by_type: vec![Slot::Empty; 256],
            names: HashMap::new(),
            allow_collisions: false,
        }
    }
}

impl Registry {
    fn check_name(&self, name: &str, id: Option<ProcedureId>) -> Result<(), Error> {
        if self.names.contains_key(name) {
            return Err(Error::DuplicateProcedure {
                name: name.to_string(),
                existing: None,
            });
        }
        if let Some(id) = id
            && let Some(other) = self.by_hash.get(&id.hash())
        {
            return Err(Error::DuplicateProcedure {
                name: name.to_string(),
                existing: Some(other.name.to_string()),
            });
        }
        Ok(())
    }

    /// Registers a named procedure under its wide id and its legacy opcode.
    pub(crate) fn register(
        &mut self,
        name: &str,
        handler: Arc<dyn ErasedHandler>,
    ) -> Result<(), Error> {
        let id = ProcedureId::new(name).map_err(Error::InvalidProcedure)?;
        self.check_name(name, Some(id))?;
        let slot = &self.by_type[usize::from(id.msg_type())];
        let next = match slot {
            Slot::Empty => None,
            Slot::One(existing) if !self.allow_collisions => {
                return Err(Error::OpcodeCollision {
                    opcode: id.opcode(),
                    existing: existing.name.to_string(),
                    new: name.to_string(),
                });
            }
            Slot::Shared(names) if !self.allow_collisions => {
                return Err(Error::OpcodeCollision {
                    opcode: id.opcode(),
                    existing: names.first().map(|n| n.to_string()).unwrap_or_default(),
                    new: name.to_string(),
                });
            }
            Slot::One(existing) => Some(vec![existing.name.clone()]),
            Slot::Shared(names) => Some(names.clone()),
        };
        let entry = Arc::new(Entry::new(name, handler));
        self.by_type[usize::from(id.msg_type())] = match next {
            None => Slot::One(entry.clone()),
            Some(mut names) => {
                names.push(entry.name.clone());
                Slot::Shared(names)
            }
        };
        self.by_hash.insert(id.hash(), entry.clone());
        self.names.insert(entry.name.clone(), Some(id));
        Ok(())
    }

    /// Registers a handler for a raw message type, as Go's `Node.Handle` does; `name`
    /// identifies it to verifiers and in logs.
    pub(crate) fn register_msg_type(
        &mut self,
        msg_type: u8,
        name: &str,
        handler: Arc<dyn ErasedHandler>,
    ) -> Result<(), Error> {
        if name.is_empty() {
            return Err(Error::InvalidProcedure(zap_wire::Error::EmptyProcedureName));
        }
        self.check_name(name, None)?;
        if let Slot::One(existing) = &self.by_type[usize::from(msg_type)] {
            return Err(Error::OpcodeCollision {
                opcode: u16::from(msg_type) << 8,
                existing: existing.name.to_string(),
                new: name.to_string(),
            });
        }
        if let Slot::Shared(names) = &self.by_type[usize::from(msg_type)] {
            return Err(Error::OpcodeCollision {
                opcode: u16::from(msg_type) << 8,
                existing: names.first().map(|n| n.to_string()).unwrap_or_default(),
                new: name.to_string(),
            });
        }
        let entry = Arc::new(Entry::new(name, handler));
        self.names.insert(entry.name.clone(), None);
        self.by_type[usize::from(msg_type)] = Slot::One(entry);
        Ok(())
    }

    /// The procedure with this wide id.
    pub(crate) fn by_wide(&self, hash: u32) -> Result<&Arc<Entry>, Status> {
        self.by_hash.get(&hash).ok_or_else(|| {
            Status::new(
                ErrorCode::UnknownProcedure,
                format!("no procedure with id {hash:#010x}"),
            )
        })
    }

    /// The procedure a legacy message type leads to.
    pub(crate) fn by_msg_type(&self, msg_type: u8) -> Result<&Arc<Entry>, Status> {
        match &self.by_type[usize::from(msg_type)] {
            Slot::One(e) => Ok(e),
            Slot::Empty => Err(Status::new(
                ErrorCode::UnknownProcedure,
                format!("no procedure for message type {msg_type:#04x}"),
            )),
            Slot::Shared(names) => Err(Status::new(
                ErrorCode::AmbiguousOpcode,
                format!(
                    "message type {msg_type:#04x} is shared by {}; call by name (wide id)",
                    names
                        .iter()
                        .map(|n| format!("{n:?}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
        }
    }

    /// Registered names, sorted.
    pub(crate) fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.names.keys().map(|n| n.to_string()).collect();
        v.sort();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::MessageBuf;
    use crate::server::handler::Context;

    fn h() -> Arc<dyn ErasedHandler> {
        Arc::new(|_: Context, m: MessageBuf| async move { Ok::<_, Status>(m) })
    }

    #[test]
    fn collisions_are_refused_unless_allowed() {
        // Both hash to opcode 0x1200 (reference §3.1).
        let mut r = Registry::default();
        r.register("prompts/get", h()).unwrap();
        let err = r.register("kms.kv.list", h()).err().unwrap();
        assert!(
            matches!(err, Error::OpcodeCollision { opcode: 0x1200, .. }),
            "{err}"
        );

        let mut r = Registry {
            allow_collisions: true,
            ..Registry::default()
        };
        r.register("prompts/get", h()).unwrap();
        r.register("kms.kv.list", h()).unwrap();
        assert_eq!(
            r.by_msg_type(0x12).err().unwrap().code(),
            ErrorCode::AmbiguousOpcode
        );
        let id = ProcedureId::new("kms.kv.list").unwrap().hash();
        assert_eq!(&*r.by_wide(id).ok().unwrap().name, "kms.kv.list");
    }

    #[test]
    fn names_are_unique() {
        let mut r = Registry::default();
        r.register("Echo", h()).unwrap();
        assert!(matches!(
            r.register("Echo", h()),
            Err(Error::DuplicateProcedure { .. })
        ));
        assert!(matches!(
            r.register_msg_type(0x42, "Echo", h()),
            Err(Error::DuplicateProcedure { .. })
        ));
        r.register_msg_type(0x42, "legacy", h()).unwrap();
        assert!(r.register_msg_type(0x42, "legacy2", h()).is_err());
        assert_eq!(r.names(), ["Echo", "legacy"]);
    }
}
