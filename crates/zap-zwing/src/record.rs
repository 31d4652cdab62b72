//! The record layer without I/O: one ChaCha20-Poly1305 key and counter per direction.
//!
//! A record is one frame whose payload is `ChaCha20-Poly1305(key, nonce, aad = empty,
//! plaintext)` with nonce `4 zero bytes ‖ u64 BE sequence`. Each direction's sequence
//! starts at 0 and grows by one per record; a direction whose counter reaches `2^64 - 1`
//! is exhausted and refuses further records, so a nonce is never used twice.

use chacha20poly1305::aead::inout::InOutBuf;
use chacha20poly1305::{AeadInOut, ChaCha20Poly1305, KeyInit, Nonce, Tag};

use crate::Error;
use crate::sizes::{FRAME_HEADER_LEN, MAX_RECORD_PLAINTEXT_LEN, TAG_LEN};
use crate::wire::frame_header;

fn nonce(seq: u64) -> Nonce {
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&seq.to_be_bytes());
    Nonce::from(n)
}

/// Seals outgoing records.
pub(crate) struct Sealer {
    aead: ChaCha20Poly1305,
    seq: u64,
}

impl Sealer {
    pub(crate) fn new(key: &[u8; 32]) -> Self {
        Self {
            aead: ChaCha20Poly1305::new(&(*key).into()),
            seq: 0,
        }
    }

    /// Appends one frame carrying `plaintext` (1 to 1 048 560 bytes) to `out`: header,
    /// ciphertext, tag. The plaintext is encrypted straight into `out`, never copied first.
    pub(crate) fn seal_frame(&mut self, plaintext: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        if self.seq == u64::MAX {
            return Err(Error::SequenceExhausted);
        }
        if plaintext.len() > MAX_RECORD_PLAINTEXT_LEN {
            return Err(Error::MessageTooLarge(plaintext.len() + TAG_LEN));
        }
        let header = frame_header(plaintext.len() + TAG_LEN)?;
        let start = out.len();
        out.reserve(FRAME_HEADER_LEN + plaintext.len() + TAG_LEN);
        out.extend_from_slice(&header);
        out.resize(start + FRAME_HEADER_LEN + plaintext.len(), 0);
        let buf = InOutBuf::new(plaintext, &mut out[start + FRAME_HEADER_LEN..])
            .map_err(|_| Error::InvalidWireFormat("record buffer length mismatch"))?;
        let tag = self
            .aead
            .encrypt_inout_detached(&nonce(self.seq), &[], buf)
            .map_err(|_| Error::MessageTooLarge(plaintext.len()))?;
        out.extend_from_slice(tag.as_slice());
        self.seq += 1;
        Ok(())
    }

    #[cfg(test)]
    pub(crate) fn set_sequence(&mut self, seq: u64) {
        self.seq = seq;
    }
}

/// Opens incoming records.
pub(crate) struct Opener {
    aead: ChaCha20Poly1305,
    seq: u64,
}

impl Opener {
    pub(crate) fn new(key: &[u8; 32]) -> Self {
        Self {
            aead: ChaCha20Poly1305::new(&(*key).into()),
            seq: 0,
        }
    }

    /// Checks a record (ciphertext ‖ tag) and decrypts it into `out`, which must be
    /// exactly `record.len() - 16` bytes. Nothing is written to `out` unless the tag
    /// verifies.
    pub(crate) fn open_into(&mut self, record: &[u8], out: &mut [u8]) -> Result<(), Error> {
        let (ct, tag) = self.split(record)?;
        let buf = InOutBuf::new(ct, out)
            .map_err(|_| Error::InvalidWireFormat("record buffer length mismatch"))?;
        self.aead
            .decrypt_inout_detached(&nonce(self.seq), &[], buf, &tag)
            .map_err(|_| Error::CiphertextCorrupted)?;
        self.seq += 1;
        Ok(())
    }

    /// Checks and decrypts a record in place; returns the plaintext length (the plaintext
    /// is `record[..len]`).
    pub(crate) fn open_in_place(&mut self, record: &mut [u8]) -> Result<usize, Error> {
        let (ct_len, tag) = {
            let (ct, tag) = self.split(record)?;
            (ct.len(), tag)
        };
        let buf = InOutBuf::from(&mut record[..ct_len]);
        self.aead
            .decrypt_inout_detached(&nonce(self.seq), &[], buf, &tag)
            .map_err(|_| Error::CiphertextCorrupted)?;
        self.seq += 1;
        Ok(ct_len)
    }

    fn split<'r>(&self, record: &'r [u8]) -> Result<(&'r [u8], Tag), Error> {
        if self.seq == u64::MAX {
            return Err(Error::SequenceExhausted);
        }
        // A record shorter than a tag cannot authenticate; luxfi/zwing reports the same
        // AEAD failure for it.
        let Some(ct_len) = record.len().checked_sub(TAG_LEN) else {
            return Err(Error::CiphertextCorrupted);
        };
        let (ct, tag) = record.split_at(ct_len);
        let tag = Tag::try_from(tag).map_err(|_| Error::CiphertextCorrupted)?;
        Ok((ct, tag))
    }

    #[cfg(test)]
    pub(crate) fn set_sequence(&mut self, seq: u64) {
        self.seq = seq;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::frame_len;

    fn frame_payload(frame: &[u8]) -> &[u8] {
        let len = frame_len(frame[..4].try_into().unwrap()).unwrap();
        assert_eq!(frame.len(), 4 + len);
        &frame[4..]
    }

    #[test]
    fn sealed_records_open_in_order() {
        let key = [5u8; 32];
        let mut s = Sealer::new(&key);
        let mut o = Opener::new(&key);
        for msg in [&b"one"[..], b"two", &[7u8; 1000]] {
            let mut frame = Vec::new();
            s.seal_frame(msg, &mut frame).unwrap();
            let mut payload = frame_payload(&frame).to_vec();
            let n = o.open_in_place(&mut payload).unwrap();
            assert_eq!(&payload[..n], msg);
        }
    }

    #[test]
    fn out_of_order_or_tampered_records_fail() {
        let key = [6u8; 32];
        let mut s = Sealer::new(&key);
        let mut first = Vec::new();
        let mut second = Vec::new();
        s.seal_frame(b"first", &mut first).unwrap();
        s.seal_frame(b"second", &mut second).unwrap();

        let mut o = Opener::new(&key);
        let mut out = vec![0u8; 6];
        assert!(matches!(
            o.open_into(frame_payload(&second), &mut out),
            Err(Error::CiphertextCorrupted)
        ));
        assert_eq!(out, [0u8; 6], "nothing is released before the tag verifies");

        let mut tampered = frame_payload(&first).to_vec();
        tampered[0] ^= 1;
        assert!(o.open_in_place(&mut tampered).is_err());
        assert!(o.open_in_place(&mut [0u8; 15]).is_err());
        let mut good = frame_payload(&first).to_vec();
        assert_eq!(o.open_in_place(&mut good).unwrap(), 5);
    }

    #[test]
    fn the_last_sequence_number_is_never_used() {
        let key = [8u8; 32];
        let mut s = Sealer::new(&key);
        let mut o = Opener::new(&key);
        s.set_sequence(u64::MAX - 1);
        o.set_sequence(u64::MAX - 1);
        let mut frame = Vec::new();
        s.seal_frame(b"last", &mut frame).unwrap();
        let mut payload = frame_payload(&frame).to_vec();
        assert_eq!(o.open_in_place(&mut payload).unwrap(), 4);
        let mut more = Vec::new();
        assert!(matches!(
            s.seal_frame(b"x", &mut more),
            Err(Error::SequenceExhausted)
        ));
        assert!(more.is_empty());
        assert!(matches!(
            o.open_in_place(&mut [0u8; 20]),
            Err(Error::SequenceExhausted)
        ));
    }

    #[test]
    fn oversized_plaintext_is_refused() {
        let mut s = Sealer::new(&[1u8; 32]);
        let big = vec![0u8; MAX_RECORD_PLAINTEXT_LEN + 1];
        assert!(s.seal_frame(&big, &mut Vec::new()).is_err());
        let mut out = Vec::new();
        s.seal_frame(&big[..MAX_RECORD_PLAINTEXT_LEN], &mut out)
            .unwrap();
        assert_eq!(out.len(), 4 + (1 << 20));
    }
}
