//! The big-endian sequential encoding of luxfi/api (`Buffer` / `Reader`).
//!
//! Fixed-width big-endian integers, bool as one byte, and byte strings as a `u32 BE`
//! length followed by the bytes. No tags, no alignment: reader and writer agree on the
//! field order by code.

use crate::error::{Error, Result};

/// Appends big-endian fields to a growable buffer.
///
/// The buffer is reusable: [`BeWriter::clear`] keeps its capacity.
///
/// ```
/// use zap_wire::be::{BeReader, BeWriter};
///
/// let mut w = BeWriter::new();
/// w.put_u8(0x15).put_str("beta");
/// assert_eq!(w.as_slice(), &[0x15, 0, 0, 0, 4, b'b', b'e', b't', b'a']);
///
/// let mut r = BeReader::new(w.as_slice());
/// assert_eq!(r.u8()?, 0x15);
/// assert_eq!(r.str()?, "beta");
/// r.expect_end()?;
/// # Ok::<(), zap_wire::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BeWriter {
    buf: Vec<u8>,
}

impl BeWriter {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty writer with room for `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            buf: Vec::with_capacity(capacity),
        }
    }

    /// Appends one byte.
    pub fn put_u8(&mut self, v: u8) -> &mut Self {
        self.buf.push(v);
        self
    }
    /// Appends a `u16`, big-endian.
    pub fn put_u16(&mut self, v: u16) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }
    /// Appends a `u32`, big-endian.
    pub fn put_u32(&mut self, v: u32) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }
    /// Appends a `u64`, big-endian.
    pub fn put_u64(&mut self, v: u64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }
    /// Appends an `i32`, two's complement big-endian.
    pub fn put_i32(&mut self, v: i32) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }
    /// Appends an `i64`, two's complement big-endian.
    pub fn put_i64(&mut self, v: i64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }
    /// Appends a bool as 0 or 1.
    pub fn put_bool(&mut self, v: bool) -> &mut Self {
        self.buf.push(u8::from(v));
        self
    }

    /// Appends `u32 BE length ∥ bytes`.
    ///
    /// # Panics
    ///
    /// If `bytes` is longer than `u32::MAX` (no frame can carry it anyway).
    pub fn put_bytes(&mut self, bytes: &[u8]) -> &mut Self {
        let len = u32::try_from(bytes.len()).expect("a length-prefixed field longer than 4 GiB");
        self.put_u32(len);
        self.buf.extend_from_slice(bytes);
        self
    }

    /// Appends a string like [`BeWriter::put_bytes`].
    pub fn put_str(&mut self, s: &str) -> &mut Self {
        self.put_bytes(s.as_bytes())
    }

    /// Appends raw bytes with no length.
    pub fn put_raw(&mut self, bytes: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(bytes);
        self
    }

    /// The bytes written so far.
    pub fn as_slice(&self) -> &[u8] {
        &self.buf
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// True when nothing was written.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Forgets the contents, keeping the capacity.
    pub fn clear(&mut self) {
        self.buf.clear();
    }

    /// The written bytes.
    pub fn into_vec(self) -> Vec<u8> {
        self.buf
    }
}

/// Reads big-endian fields in order from borrowed bytes; nothing is copied.
///
/// Every read checks the bytes remaining first, and counts are bounded by what the
/// remaining bytes could hold, so no input makes a caller allocate more than it
/// received.
#[derive(Debug, Clone)]
pub struct BeReader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> BeReader<'a> {
    /// A reader at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// True when every byte was read.
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The bytes not read yet, without consuming them.
    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(Error::Truncated {
                what,
                needed: n,
                available: self.remaining(),
            });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N]> {
        let s = self.take(N, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    /// One byte.
    pub fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1, "u8")?[0])
    }
    /// A big-endian `u16`.
    pub fn u16(&mut self) -> Result<u16> {
        self.array("u16").map(u16::from_be_bytes)
    }
    /// A big-endian `u32`.
    pub fn u32(&mut self) -> Result<u32> {
        self.array("u32").map(u32::from_be_bytes)
    }
    /// A big-endian `u64`.
    pub fn u64(&mut self) -> Result<u64> {
        self.array("u64").map(u64::from_be_bytes)
    }
    /// A big-endian `i32`.
    pub fn i32(&mut self) -> Result<i32> {
        self.array("i32").map(i32::from_be_bytes)
    }
    /// A big-endian `i64`.
    pub fn i64(&mut self) -> Result<i64> {
        self.array("i64").map(i64::from_be_bytes)
    }
    /// A bool: any non-zero byte is true, as Go reads it.
    pub fn bool(&mut self) -> Result<bool> {
        Ok(self.u8()? != 0)
    }

    /// `u32 BE length ∥ bytes`, borrowed.
    pub fn bytes(&mut self) -> Result<&'a [u8]> {
        let len = self.u32()?;
        self.take(len as usize, "length-prefixed bytes")
    }

    /// A length-prefixed string, checked to be UTF-8.
    pub fn str(&mut self) -> Result<&'a str> {
        let start = self.pos + 4;
        let bytes = self.bytes()?;
        std::str::from_utf8(bytes).map_err(|_| Error::InvalidUtf8 { offset: start })
    }

    /// `n` raw bytes with no length prefix.
    pub fn raw(&mut self, n: usize) -> Result<&'a [u8]> {
        self.take(n, "raw bytes")
    }

    /// A `u32 BE` element count, refused when `count * min_element_size` exceeds the
    /// bytes remaining, so a caller may reserve `count` elements safely.
    pub fn count(&mut self, min_element_size: usize) -> Result<usize> {
        let count = self.u32()?;
        let needed = (count as u64).saturating_mul(min_element_size.max(1) as u64);
        if needed > self.remaining() as u64 {
            return Err(Error::CountTooLarge {
                count,
                remaining: self.remaining(),
            });
        }
        Ok(count as usize)
    }

    /// Fails unless every byte was read (Go ignores trailing bytes; strict callers
    /// may not).
    pub fn expect_end(&self) -> Result<()> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(Error::MalformedFrame("trailing bytes after the last field"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_outbound_message_bytes() {
        // SendOutboundMessage{alpha, peer-1, 42, de ad be ef} after the sub-opcode.
        let mut w = BeWriter::new();
        w.put_u8(0x1f)
            .put_str("alpha")
            .put_str("peer-1")
            .put_u32(42)
            .put_bytes(&[0xde, 0xad, 0xbe, 0xef]);
        let expected = [
            0x1f, 0, 0, 0, 5, b'a', b'l', b'p', b'h', b'a', 0, 0, 0, 6, b'p', b'e', b'e', b'r',
            b'-', b'1', 0, 0, 0, 0x2a, 0, 0, 0, 4, 0xde, 0xad, 0xbe, 0xef,
        ];
        assert_eq!(w.as_slice(), &expected);
        let mut r = BeReader::new(&expected);
        assert_eq!(r.u8().unwrap(), 0x1f);
        assert_eq!(r.str().unwrap(), "alpha");
        assert_eq!(r.str().unwrap(), "peer-1");
        assert_eq!(r.u32().unwrap(), 42);
        assert_eq!(r.bytes().unwrap(), &[0xde, 0xad, 0xbe, 0xef]);
        assert!(r.expect_end().is_ok());
    }

    #[test]
    fn hostile_counts_and_lengths_are_refused() {
        let mut r = BeReader::new(&[0xff, 0xff, 0xff, 0xff, 1, 2]);
        assert!(matches!(r.count(1), Err(Error::CountTooLarge { .. })));
        let mut r = BeReader::new(&[0, 0, 0, 9, 1, 2]);
        assert!(matches!(r.bytes(), Err(Error::Truncated { .. })));
        let mut r = BeReader::new(&[0, 0, 0, 2, 1, 2]);
        assert_eq!(r.count(1).unwrap(), 2);
        let mut r = BeReader::new(&[0, 0, 0, 2, 1, 2]);
        assert!(r.count(2).is_err());
    }

    #[test]
    fn bool_reads_any_nonzero_as_true() {
        let mut r = BeReader::new(&[0, 1, 7]);
        assert!(!r.bool().unwrap());
        assert!(r.bool().unwrap());
        assert!(r.bool().unwrap());
        assert!(r.bool().is_err());
    }
}
