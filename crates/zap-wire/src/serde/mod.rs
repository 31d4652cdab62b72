//! Rust types as ZAP objects, laid out by the rules of Go's `StructBuilder`.
//!
//! The layout is positional: fields are placed in declaration order, each at the next
//! offset aligned to its kind, and the object's size is rounded up to 8.
//!
//! | Rust | slot | alignment |
//! |---|---|---|
//! | `bool`, `u8`, `i8` | 1 byte inline | 1 |
//! | `u16`, `i16` | 2 bytes inline | 2 |
//! | `u32`, `i32`, `f32`, `char`, unit enum variant (index) | 4 bytes inline | 4 |
//! | `u64`, `i64`, `f64` | 8 bytes inline | 8 |
//! | `String`, `&str` | text pointer, 8 bytes | 4 |
//! | bytes (`serde_bytes`, `&[u8]`) | bytes pointer, 8 bytes | 4 |
//! | `Vec<T>`, slices | list pointer, 8 bytes | 4 |
//! | nested struct | struct pointer, 4 bytes | 4 |
//! | `Option<T>` (T text, bytes, list or struct) | pointer, 8 bytes; null is `None` | 4 |
//! | tuples, `[T; N]` | the elements inline | each element's |
//! | `()`, unit structs | nothing | — |
//!
//! List elements follow the same rules relative to the list's start; a list of structs
//! holds the structs inline, each padded to a multiple of 8 (Go's `List.Object(i, size)`).
//! Empty text, bytes and lists are written as null pointers, as Go writes them, so
//! `Some(String::new())` reads back as `None`. Maps, `i128`, enums with data and options
//! of scalars have no encoding and are refused with [`Error::Unsupported`]. Fields are
//! positional: `#[serde(skip_serializing_if)]` and `flatten` break the layout.
//!
//! ```
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Debug, PartialEq, Serialize, Deserialize)]
//! struct Person {
//!     id: u32,
//!     name: String,
//!     age: i32,
//!     active: bool,
//!     tags: Vec<u32>,
//! }
//!
//! let ada = Person { id: 1, name: "Ada".into(), age: 36, active: true, tags: vec![7, 9] };
//! let bytes = zap_wire::to_vec(&ada)?;
//! let root = zap_wire::Message::parse(&bytes)?.root().unwrap();
//! assert_eq!(root.text(4)?, Some("Ada")); // Go's Person schema: name at offset 4
//! assert_eq!(zap_wire::from_slice::<Person>(&bytes)?, ada);
//! # Ok::<(), zap_wire::Error>(())
//! ```

mod de;
mod ser;

pub use de::{from_message, from_slice};
pub use ser::{Encoder, to_vec, to_vec_with};

use crate::error::Error;

impl ::serde::ser::Error for Error {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        Error::Custom(msg.to_string())
    }
}

impl ::serde::de::Error for Error {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        Error::Custom(msg.to_string())
    }
}

/// Rounds `n` up to a multiple of `align` (a power of two).
fn align_up(n: usize, align: usize) -> usize {
    (n + align - 1) & !(align - 1)
}

/// The alignment of pointer slots.
const SLOT_ALIGN: usize = 4;
/// Objects are padded to a multiple of this.
const OBJECT_ROUND: usize = 8;
