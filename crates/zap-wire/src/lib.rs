//! The ZAP message format and its frame codecs, byte-compatible with the Go `luxfi/zap`.
//!
//! A ZAP message is a 16-byte header (`ZAP\0`, version, flags, root offset, size) and an
//! object graph in little-endian bytes: objects with fields at fixed offsets, lists of
//! fixed-stride elements, text and bytes reached through relative pointers. Reading is
//! zero-copy and every access is checked; building is bottom-up and produces the same
//! bytes as the Go builder for the same calls.
//!
//! ```
//! use zap_wire::{Builder, Message};
//!
//! // Build: children first, then the root.
//! let mut b = Builder::new();
//! let mut tags = b.list();
//! tags.push_u32(7);
//! tags.push_u32(9);
//! let tags = tags.finish();
//! let mut person = b.object(32);
//! person.set_u32(0, 1001);
//! person.set_text(4, "Ada");
//! person.set_list(16, tags);
//! person.finish_root();
//! let bytes = b.to_vec(0x0100)?;
//!
//! // Read: nothing is copied; null, out-of-bounds and zero are told apart.
//! let msg = Message::parse(&bytes)?;
//! let person = msg.root().expect("a root object");
//! assert_eq!(person.u32(0)?, 1001);
//! assert_eq!(person.text(4)?, Some("Ada"));
//! let tags = person.list(16)?.expect("tags");
//! assert_eq!(tags.iter::<u32>()?.collect::<Vec<_>>(), [7, 9]);
//! assert!(person.u32(1 << 20).is_err()); // past the end: an error, not a zero
//! # Ok::<(), zap_wire::Error>(())
//! ```
//!
//! Modules:
//!
//! * [`Message`], [`Object`], [`List`]: the checked reader; [`lenient`] gives Go's
//!   zero-default answers for code that wants them.
//! * [`Builder`]: the builder.
//! * [`node`]: the node framing of `node.go` (length prefix, call prefix, the node-id
//!   handshake); [`typed`] and [`be`]: the big-endian typed frames of luxfi/api.
//! * [`opcode`]: procedure names to opcodes, as Go's zapclient computes them.
//! * `codec` (feature `codec`): tokio-util `Encoder`/`Decoder`s for both framings.
//! * `serde` (feature `serde`): Rust structs as ZAP objects ([`to_vec`], [`from_slice`]).
//!
//! This crate does no I/O and never panics on input: any byte string either decodes or
//! yields an [`Error`] saying what was wrong.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod be;
mod builder;
#[cfg(feature = "codec")]
pub mod codec;
mod error;
#[doc(hidden)]
pub mod exercise;
mod header;
pub mod lenient;
mod list;
mod message;
pub mod node;
mod object;
pub mod opcode;
mod scalar;
#[cfg(feature = "serde")]
mod serde;
pub mod typed;

/// The README's example, compiled and run as a doctest so it stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

pub use builder::{Builder, ListBuilder, ListRef, ObjectBuilder, ObjectRef};
pub use error::{Error, Result};
pub use header::{
    ALIGNMENT, FLAG_COMPRESSED, FLAG_ENCRYPTED, FLAG_SIGNED, HEADER_SIZE, Header, MAGIC, Version,
};
pub use list::{List, ScalarIter};
pub use message::{Message, ReadLimits};
pub use object::{OBJECT_SLOT, Object, POINTER_SLOT};
pub use opcode::{ProcedureId, fnv1a32, procedure_opcode};
pub use scalar::Scalar;
#[cfg(feature = "serde")]
pub use serde::{Encoder, from_message, from_slice, to_vec, to_vec_with};
