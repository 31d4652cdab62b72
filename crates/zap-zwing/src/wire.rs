//! The messages of the Z-Wing v1 handshake and the frame header, as bytes.
//!
//! These decoders follow luxfi/zwing's parsers exactly (lengths are u16 big-endian,
//! trailing bytes are an error) and never panic: every malformed input is an
//! [`Error::InvalidWireFormat`]. They check shape only; the handshake checks sizes,
//! keys and signatures.

use crate::Error;
use crate::sizes::{FRAME_HEADER_LEN, KEM_CIPHERTEXT_LEN, MAX_FRAME_LEN};

/// A public identity and a signature, each behind a u16 big-endian length.
///
/// This is the `HandshakeInit` message (the initiator's identity, signed with context
/// `lux.zwing.v1/handshake-init` over itself) and also the plaintext the responder seals
/// inside its `HandshakeResponse` (its identity, signed over the transcript hash).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedIdentity<'a> {
    /// The public identity bytes (3200 in a valid message).
    pub identity: &'a [u8],
    /// The dual signature bytes (3373 in a valid message).
    pub signature: &'a [u8],
}

impl<'a> SignedIdentity<'a> {
    /// Decodes `u16 len ‖ identity ‖ u16 len ‖ signature` with nothing after it.
    ///
    /// # Errors
    /// [`Error::InvalidWireFormat`] if a length runs past the end or bytes remain.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, Error> {
        let mut r = Reader(bytes);
        let identity = r.u16_prefixed("identity length runs past the end")?;
        let signature = r.u16_prefixed("signature length runs past the end")?;
        r.finish()?;
        Ok(Self {
            identity,
            signature,
        })
    }

    /// The encoded size.
    pub fn encoded_len(&self) -> usize {
        4 + self.identity.len() + self.signature.len()
    }

    /// Appends the encoding to `out`.
    ///
    /// # Errors
    /// [`Error::InvalidWireFormat`] if either part is longer than 65535 bytes.
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        out.reserve(self.encoded_len());
        put_u16_prefixed(out, self.identity)?;
        put_u16_prefixed(out, self.signature)
    }

    /// The encoding as a new vector.
    ///
    /// # Errors
    /// As [`SignedIdentity::encode_into`].
    pub fn to_vec(&self) -> Result<Vec<u8>, Error> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode_into(&mut out)?;
        Ok(out)
    }
}

/// The responder's reply: the 1120-byte KEM ciphertext, then its sealed identity behind
/// a u16 big-endian length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandshakeResponse<'a> {
    /// ML-KEM-768 ciphertext (1088) ‖ ephemeral X25519 public key (32).
    pub kem_ciphertext: &'a [u8; KEM_CIPHERTEXT_LEN],
    /// The responder's [`SignedIdentity`], sealed with ChaCha20-Poly1305.
    pub sealed_identity: &'a [u8],
}

impl<'a> HandshakeResponse<'a> {
    /// Decodes `ciphertext (1120) ‖ u16 len ‖ sealed identity` with nothing after it.
    ///
    /// # Errors
    /// [`Error::InvalidWireFormat`] if the message is shorter than 1122 bytes, the length
    /// runs past the end, or bytes remain.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, Error> {
        let Some((ct, rest)) = bytes.split_first_chunk::<KEM_CIPHERTEXT_LEN>() else {
            return Err(Error::InvalidWireFormat(
                "HandshakeResponse shorter than its KEM ciphertext",
            ));
        };
        let mut r = Reader(rest);
        let sealed_identity = r.u16_prefixed("sealed identity length runs past the end")?;
        r.finish()?;
        Ok(Self {
            kem_ciphertext: ct,
            sealed_identity,
        })
    }

    /// Appends the encoding to `out`.
    ///
    /// # Errors
    /// [`Error::InvalidWireFormat`] if the sealed identity is longer than 65535 bytes.
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        out.reserve(KEM_CIPHERTEXT_LEN + 2 + self.sealed_identity.len());
        out.extend_from_slice(self.kem_ciphertext);
        put_u16_prefixed(out, self.sealed_identity)
    }
}

/// The payload length a frame header announces, checked against the limits: 1 to
/// 1 048 576 bytes.
///
/// # Errors
/// [`Error::InvalidWireFormat`] for a zero length, [`Error::MessageTooLarge`] above 1 MiB.
pub fn frame_len(header: [u8; FRAME_HEADER_LEN]) -> Result<usize, Error> {
    let len = u32::from_be_bytes(header) as usize;
    if len == 0 {
        return Err(Error::InvalidWireFormat("empty frame"));
    }
    if len > MAX_FRAME_LEN {
        return Err(Error::MessageTooLarge(len));
    }
    Ok(len)
}

/// The frame header for a payload of `len` bytes.
///
/// # Errors
/// [`Error::InvalidWireFormat`] for zero, [`Error::MessageTooLarge`] above 1 MiB.
pub fn frame_header(len: usize) -> Result<[u8; FRAME_HEADER_LEN], Error> {
    if len == 0 {
        return Err(Error::InvalidWireFormat("empty frame"));
    }
    if len > MAX_FRAME_LEN {
        return Err(Error::MessageTooLarge(len));
    }
    // Bounded by MAX_FRAME_LEN just above.
    Ok((len as u32).to_be_bytes())
}

fn put_u16_prefixed(out: &mut Vec<u8>, bytes: &[u8]) -> Result<(), Error> {
    let len = u16::try_from(bytes.len())
        .map_err(|_| Error::InvalidWireFormat("field longer than 65535 bytes"))?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
    Ok(())
}

/// A cursor over a message that hands out length-prefixed fields.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn u16_prefixed(&mut self, what: &'static str) -> Result<&'a [u8], Error> {
        let Some((len, rest)) = self.0.split_first_chunk::<2>() else {
            return Err(Error::InvalidWireFormat("truncated length field"));
        };
        let len = usize::from(u16::from_be_bytes(*len));
        if rest.len() < len {
            return Err(Error::InvalidWireFormat(what));
        }
        let (field, rest) = rest.split_at(len);
        self.0 = rest;
        Ok(field)
    }

    fn finish(self) -> Result<(), Error> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Error::InvalidWireFormat("trailing bytes after the message"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_identity_round_trips_and_rejects_trailing_bytes() {
        let msg = SignedIdentity {
            identity: b"abc",
            signature: b"de",
        };
        let bytes = msg.to_vec().unwrap();
        assert_eq!(bytes, [0, 3, b'a', b'b', b'c', 0, 2, b'd', b'e']);
        assert_eq!(SignedIdentity::decode(&bytes).unwrap(), msg);
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(SignedIdentity::decode(&longer).is_err());
        for cut in 0..bytes.len() {
            assert!(SignedIdentity::decode(&bytes[..cut]).is_err(), "cut {cut}");
        }
    }

    #[test]
    fn response_round_trips() {
        let ct = [9u8; KEM_CIPHERTEXT_LEN];
        let msg = HandshakeResponse {
            kem_ciphertext: &ct,
            sealed_identity: b"sealed",
        };
        let mut bytes = Vec::new();
        msg.encode_into(&mut bytes).unwrap();
        assert_eq!(bytes.len(), KEM_CIPHERTEXT_LEN + 2 + 6);
        assert_eq!(HandshakeResponse::decode(&bytes).unwrap(), msg);
        assert!(HandshakeResponse::decode(&bytes[..KEM_CIPHERTEXT_LEN + 1]).is_err());
    }

    #[test]
    fn frame_limits() {
        assert!(matches!(
            frame_len([0, 0, 0, 0]),
            Err(Error::InvalidWireFormat(_))
        ));
        assert_eq!(frame_len([0, 0x10, 0, 0]).unwrap(), MAX_FRAME_LEN);
        assert!(matches!(
            frame_len([0, 0x10, 0, 1]),
            Err(Error::MessageTooLarge(_))
        ));
        assert_eq!(frame_header(7715).unwrap(), [0, 0, 0x1e, 0x23]);
        assert!(frame_header(MAX_FRAME_LEN + 1).is_err());
    }
}
