//! Typed frames (luxfi/api `zap/wire.go`), the framing netrunner speaks.
//!
//! `u32 BE length ∥ u8 type ∥ payload`, where `length` counts the payload only. The
//! type byte holds the opcode in bits 0..6, the error bit 0x40 and the response bit
//! 0x80. Calls and responses start their payload with a `u32 BE` request id.

use crate::error::{Error, Result};

/// Bytes before the payload: length and type.
pub const TYPED_HEADER_SIZE: usize = 5;
/// The largest payload either side accepts: 16 MiB (exactly 16 MiB is allowed).
pub const MAX_TYPED_PAYLOAD: usize = 16 * 1024 * 1024;
/// The type-byte bit of a response.
pub const RESPONSE_BIT: u8 = 0x80;
/// The type-byte bit of an error response (always with [`RESPONSE_BIT`]).
pub const ERROR_BIT: u8 = 0x40;
/// The opcode bits of the type byte.
pub const OPCODE_MASK: u8 = 0x3f;

/// A frame's type byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MsgType(pub u8);

impl MsgType {
    /// A request for `opcode` (the opcode is masked to 6 bits).
    pub const fn request(opcode: u8) -> Self {
        Self(opcode & OPCODE_MASK)
    }

    /// A successful response to `opcode`.
    pub const fn response(opcode: u8) -> Self {
        Self((opcode & OPCODE_MASK) | RESPONSE_BIT)
    }

    /// An error response to `opcode`.
    pub const fn error(opcode: u8) -> Self {
        Self((opcode & OPCODE_MASK) | RESPONSE_BIT | ERROR_BIT)
    }

    /// The opcode (bits 0..6).
    pub const fn opcode(self) -> u8 {
        self.0 & OPCODE_MASK
    }

    /// True for responses, successful or not.
    pub const fn is_response(self) -> bool {
        self.0 & RESPONSE_BIT != 0
    }

    /// True for error responses.
    pub const fn is_error(self) -> bool {
        self.0 & ERROR_BIT != 0
    }
}

/// Reads the 5-byte header: the payload length (checked against `max`) and the type.
pub fn parse_typed_header(head: &[u8; TYPED_HEADER_SIZE], max: usize) -> Result<(usize, MsgType)> {
    let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
    if len as u64 > max as u64 {
        return Err(Error::FrameTooLarge {
            len: u64::from(len),
            max,
        });
    }
    Ok((len as usize, MsgType(head[4])))
}

/// The 5-byte header for a payload of `payload_len` bytes, checked against `max`.
pub fn typed_header(
    ty: MsgType,
    payload_len: usize,
    max: usize,
) -> Result<[u8; TYPED_HEADER_SIZE]> {
    if payload_len > max {
        return Err(Error::FrameTooLarge {
            len: payload_len as u64,
            max,
        });
    }
    let len = (payload_len as u32).to_be_bytes();
    Ok([len[0], len[1], len[2], len[3], ty.0])
}

/// Splits a call or response payload into its request id and body.
pub fn split_request_id(payload: &[u8]) -> Result<(u32, &[u8])> {
    match payload.split_first_chunk::<4>() {
        Some((id, body)) => Ok((u32::from_be_bytes(*id), body)),
        None => Err(Error::Truncated {
            what: "request id",
            needed: 4,
            available: payload.len(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_bits() {
        assert_eq!(MsgType::request(60).0, 0x3c);
        assert_eq!(MsgType::response(62).0, 0xbe);
        assert_eq!(MsgType::error(62).0, 0xfe);
        assert_eq!(MsgType::error(5).0, 0xc5);
        assert!(MsgType(0xc5).is_error() && MsgType(0xc5).is_response());
        assert_eq!(MsgType(0xc5).opcode(), 5);
    }

    #[test]
    fn header_limits() {
        let at_max = typed_header(MsgType(1), MAX_TYPED_PAYLOAD, MAX_TYPED_PAYLOAD).unwrap();
        assert_eq!(
            parse_typed_header(&at_max, MAX_TYPED_PAYLOAD).unwrap(),
            (MAX_TYPED_PAYLOAD, MsgType(1))
        );
        assert!(typed_header(MsgType(1), MAX_TYPED_PAYLOAD + 1, MAX_TYPED_PAYLOAD).is_err());
        let over = [0x01, 0x00, 0x00, 0x01, 0x3c];
        assert!(matches!(
            parse_typed_header(&over, MAX_TYPED_PAYLOAD),
            Err(Error::FrameTooLarge { .. })
        ));
    }

    #[test]
    fn ping_request_bytes() {
        // `00 00 00 04 3c 00 00 00 01`: the Ping request with id 1.
        let head = typed_header(MsgType::request(60), 4, MAX_TYPED_PAYLOAD).unwrap();
        assert_eq!(head, [0, 0, 0, 4, 0x3c]);
        assert_eq!(split_request_id(&[0, 0, 0, 1]).unwrap(), (1, &[][..]));
        assert!(split_request_id(&[0, 1]).is_err());
    }
}
