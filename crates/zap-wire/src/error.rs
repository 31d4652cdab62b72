//! The errors every decoder and the builder return.

/// Why bytes could not be read as ZAP, or why a message could not be built.
///
/// Every variant says what was wrong and where, so a caller can log it or answer a
/// peer with it. Decoders never panic: any input either decodes or yields one of these.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Fewer bytes than the structure being read needs.
    #[error("truncated: {what} needs {needed} bytes, {available} available")]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Bytes required.
        needed: usize,
        /// Bytes present.
        available: usize,
    },
    /// The first four bytes are not `ZAP\0`.
    #[error("bad magic {found:02x?}: a ZAP message starts with 5a 41 50 00")]
    BadMagic {
        /// The four bytes found.
        found: [u8; 4],
    },
    /// A header version other than 1 or 2.
    #[error("unsupported version {0}: only 1 and 2 are defined")]
    UnsupportedVersion(u16),
    /// The header's size field is below 16 or beyond the bytes present.
    #[error("bad size {size}: must be at least 16 and at most the {available} bytes present")]
    BadSize {
        /// The size field.
        size: u32,
        /// Bytes present.
        available: usize,
    },
    /// The root offset points into the header or past the end of the message.
    #[error("root offset {root} is outside the message data (16..={size})")]
    BadRoot {
        /// The root offset field.
        root: u32,
        /// The message size.
        size: u32,
    },
    /// A field read reaches past the end of the message.
    #[error("field at {offset}+{width} is past the end of the {size}-byte message")]
    OutOfBounds {
        /// Absolute offset of the field.
        offset: u64,
        /// Width of the field in bytes.
        width: usize,
        /// The message size.
        size: usize,
    },
    /// A pointer targets the header or lies outside the message.
    #[error("pointer at {slot} targets {target}, outside the message data (16..={size})")]
    BadPointer {
        /// Absolute offset of the pointer slot.
        slot: usize,
        /// The absolute target it encodes.
        target: i64,
        /// The message size.
        size: usize,
    },
    /// A list or blob claims more elements than the message can hold.
    #[error(
        "list at {offset} claims {count} elements of {stride} bytes, only {available} bytes follow"
    )]
    ListTooLong {
        /// Absolute offset of the list data.
        offset: usize,
        /// The element count on the wire.
        count: u32,
        /// Bytes per element.
        stride: usize,
        /// Bytes between the list and the end of the message.
        available: usize,
    },
    /// Following pointers went deeper than the configured limit (or around a cycle).
    #[error("nesting deeper than {limit} objects (a pointer cycle?)")]
    TooDeep {
        /// The configured depth limit.
        limit: u16,
    },
    /// A list element index at or past the list's length.
    #[error("index {index} is out of range for a list of {len}")]
    IndexOutOfRange {
        /// The requested index.
        index: usize,
        /// The list length.
        len: usize,
    },
    /// Text that is not valid UTF-8.
    #[error("text at {offset} is not valid UTF-8")]
    InvalidUtf8 {
        /// Absolute offset of the text bytes.
        offset: usize,
    },
    /// A frame whose declared length exceeds the configured maximum.
    #[error("frame of {len} bytes exceeds the {max}-byte limit")]
    FrameTooLarge {
        /// The declared length.
        len: u64,
        /// The configured maximum.
        max: usize,
    },
    /// A frame that cannot carry what its kind requires.
    #[error("malformed frame: {0}")]
    MalformedFrame(&'static str),
    /// A node-id handshake whose id is empty or longer than 60 bytes.
    #[error("bad node-id handshake: id length {len} (must be 1..=60)")]
    BadHandshake {
        /// The id length found or requested.
        len: u64,
    },
    /// A length-prefixed count larger than the bytes that could hold it.
    #[error("count {count} exceeds what {remaining} remaining bytes can hold")]
    CountTooLarge {
        /// The count on the wire.
        count: u32,
        /// Bytes remaining in the input.
        remaining: usize,
    },
    /// A procedure name that is empty.
    #[error("empty procedure name")]
    EmptyProcedureName,
    /// The message under construction would exceed the 4 GiB the format can address,
    /// or a pointer would exceed the ±2 GiB a relative offset can span.
    #[error("message too large for the ZAP format: {0}")]
    TooLarge(&'static str),
    /// A value the serde mapping cannot express (see docs/wire.md).
    #[error("cannot be expressed as ZAP: {0}")]
    Unsupported(String),
    /// A serde `Serialize` or `Deserialize` implementation reported an error.
    #[error("{0}")]
    Custom(String),
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
