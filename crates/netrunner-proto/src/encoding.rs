//! The field encoding of netrunner messages, on top of zap-wire's big-endian
//! [`BeWriter`] / [`BeReader`].
//!
//! | shape | bytes |
//! |---|---|
//! | `u8`, `u32`, `i32`, `u64`, `i64` | fixed width, big-endian |
//! | `bool` | one byte, 0 or 1 |
//! | string, bytes | `u32` length, then the bytes |
//! | list | `u32` count, then the elements |
//! | `map<string,string>` | `u32` count, then key and value strings, sorted by key |
//! | optional value | one presence byte (0 absent, 1 present), then the value if present |
//!
//! Every count is checked against the bytes remaining *and* against a per-message item
//! budget ([`DecodeOptions::max_items`]) before anything is reserved, so a hostile
//! count (Go's zapwire allocates whatever the header says) costs nothing.

use std::collections::BTreeMap;

use zap_wire::be::{BeReader, BeWriter};

use crate::error::DecodeError;

/// The default [`DecodeOptions::max_items`]: list and map entries in one message.
pub const DEFAULT_MAX_ITEMS: usize = 100_000;

/// How closely a decoder holds the peer to the encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strictness {
    /// Read what Go's zapwire reads: any non-zero flag or bool is true, a repeated map
    /// key keeps its last value, bytes after the last field are ignored.
    #[default]
    Lenient,
    /// Refuse flags and bools other than 0 and 1, repeated map keys and trailing bytes.
    /// Go peers never send any of these, so strict decoding still talks to them.
    Strict,
}

/// Decoding policy and limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeOptions {
    /// Lenient (Go's rules) or strict.
    pub strictness: Strictness,
    /// The most list and map entries one message may hold, summed over all its lists.
    /// Together with the frame limit this bounds the memory a message can cost.
    pub max_items: usize,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        Self {
            strictness: Strictness::Lenient,
            max_items: DEFAULT_MAX_ITEMS,
        }
    }
}

impl DecodeOptions {
    /// Strict decoding with the default item budget.
    pub fn strict() -> Self {
        Self {
            strictness: Strictness::Strict,
            ..Self::default()
        }
    }
}

/// A message or a part of one with a fixed field order.
pub trait WireMessage: Sized {
    /// The fewest bytes an encoding can have (bounds list counts before reading).
    const MIN_SIZE: usize;

    /// Appends the fields.
    fn encode(&self, w: &mut BeWriter);

    /// Reads the fields.
    ///
    /// # Errors
    /// A [`DecodeError`] for bytes that do not hold the message.
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError>;

    /// The encoding as a new buffer.
    fn to_bytes(&self) -> Vec<u8> {
        let mut w = BeWriter::new();
        self.encode(&mut w);
        w.into_vec()
    }

    /// Decodes a whole buffer (trailing bytes are refused when decoding strictly).
    ///
    /// # Errors
    /// A [`DecodeError`] for bytes that do not hold the message.
    fn from_bytes(bytes: &[u8], options: &DecodeOptions) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes, options);
        let v = Self::decode_from(&mut r)?;
        r.finish()?;
        Ok(v)
    }
}

/// Reads fields in order with the checks of [`DecodeOptions`].
#[derive(Debug)]
pub struct Reader<'a> {
    be: BeReader<'a>,
    strictness: Strictness,
    max_items: usize,
    items_left: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `bytes`.
    pub fn new(bytes: &'a [u8], options: &DecodeOptions) -> Self {
        Self {
            be: BeReader::new(bytes),
            strictness: options.strictness,
            max_items: options.max_items,
            items_left: options.max_items,
        }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.be.remaining()
    }

    /// One byte.
    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.be.u8()?)
    }

    /// A `u32`.
    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(self.be.u32()?)
    }

    /// An `i32`.
    pub fn i32(&mut self) -> Result<i32, DecodeError> {
        Ok(self.be.i32()?)
    }

    /// A `u64`.
    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(self.be.u64()?)
    }

    /// An `i64`.
    pub fn i64(&mut self) -> Result<i64, DecodeError> {
        Ok(self.be.i64()?)
    }

    /// A bool byte.
    pub fn bool(&mut self, field: &'static str) -> Result<bool, DecodeError> {
        match self.be.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            value if self.strictness == Strictness::Strict => {
                Err(DecodeError::InvalidBool { field, value })
            }
            _ => Ok(true),
        }
    }

    /// A presence byte.
    pub fn flag(&mut self, field: &'static str) -> Result<bool, DecodeError> {
        match self.be.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            value if self.strictness == Strictness::Strict => {
                Err(DecodeError::InvalidFlag { field, value })
            }
            _ => Ok(true),
        }
    }

    /// A length-prefixed UTF-8 string.
    pub fn string(&mut self) -> Result<String, DecodeError> {
        Ok(self.be.str()?.to_owned())
    }

    /// Length-prefixed bytes.
    pub fn bytes(&mut self) -> Result<Vec<u8>, DecodeError> {
        Ok(self.be.bytes()?.to_vec())
    }

    /// A count of elements of at least `min_size` bytes each, charged to the budget.
    pub fn count(&mut self, min_size: usize) -> Result<usize, DecodeError> {
        let n = self.be.count(min_size)?;
        if n > self.items_left {
            return Err(DecodeError::TooManyItems {
                limit: self.max_items,
            });
        }
        self.items_left -= n;
        Ok(n)
    }

    /// A list: count, then `count` elements.
    pub fn list<T: WireMessage>(&mut self) -> Result<Vec<T>, DecodeError> {
        let n = self.count(T::MIN_SIZE)?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(T::decode_from(self)?);
        }
        Ok(out)
    }

    /// A list of strings.
    pub fn strings(&mut self) -> Result<Vec<String>, DecodeError> {
        let n = self.count(4)?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(self.string()?);
        }
        Ok(out)
    }

    /// A `map<string,string>`.
    pub fn string_map(
        &mut self,
        field: &'static str,
    ) -> Result<BTreeMap<String, String>, DecodeError> {
        let n = self.count(8)?;
        let mut out = BTreeMap::new();
        for _ in 0..n {
            let k = self.string()?;
            let v = self.string()?;
            if self.strictness == Strictness::Strict && out.contains_key(&k) {
                return Err(DecodeError::DuplicateKey { field, key: k });
            }
            out.insert(k, v);
        }
        Ok(out)
    }

    /// An optional string.
    pub fn opt_string(&mut self, field: &'static str) -> Result<Option<String>, DecodeError> {
        self.opt(field, Self::string)
    }

    /// An optional value read by `read`.
    pub fn opt<T>(
        &mut self,
        field: &'static str,
        read: impl FnOnce(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<Option<T>, DecodeError> {
        if self.flag(field)? {
            read(self).map(Some)
        } else {
            Ok(None)
        }
    }

    /// An optional message.
    pub fn opt_message<T: WireMessage>(
        &mut self,
        field: &'static str,
    ) -> Result<Option<T>, DecodeError> {
        self.opt(field, T::decode_from)
    }

    /// Ends the message: strict decoding refuses unread bytes.
    pub fn finish(&self) -> Result<(), DecodeError> {
        if self.strictness == Strictness::Strict && self.remaining() > 0 {
            return Err(DecodeError::TrailingBytes(self.remaining()));
        }
        Ok(())
    }
}

/// Writers for the composite shapes.
pub trait WriterExt {
    /// A list of strings.
    fn put_strings(&mut self, items: &[String]) -> &mut Self;
    /// A `map<string,string>`, sorted by key (Go's order is random; sorted bytes are
    /// deterministic and Go reads them the same).
    fn put_string_map(&mut self, map: &BTreeMap<String, String>) -> &mut Self;
    /// An optional string.
    fn put_opt_string(&mut self, value: Option<&str>) -> &mut Self;
    /// An optional message.
    fn put_opt_message<T: WireMessage>(&mut self, value: Option<&T>) -> &mut Self;
    /// A list of messages.
    fn put_list<T: WireMessage>(&mut self, items: &[T]) -> &mut Self;
    /// A collection length as a `u32` count.
    fn put_count(&mut self, n: usize) -> &mut Self;
}

impl WriterExt for BeWriter {
    fn put_strings(&mut self, items: &[String]) -> &mut Self {
        self.put_count(items.len());
        for s in items {
            self.put_str(s);
        }
        self
    }

    fn put_string_map(&mut self, map: &BTreeMap<String, String>) -> &mut Self {
        self.put_count(map.len());
        for (k, v) in map {
            self.put_str(k).put_str(v);
        }
        self
    }

    fn put_opt_string(&mut self, value: Option<&str>) -> &mut Self {
        match value {
            Some(s) => self.put_u8(1).put_str(s),
            None => self.put_u8(0),
        }
    }

    fn put_opt_message<T: WireMessage>(&mut self, value: Option<&T>) -> &mut Self {
        match value {
            Some(m) => {
                self.put_u8(1);
                m.encode(self);
                self
            }
            None => self.put_u8(0),
        }
    }

    fn put_list<T: WireMessage>(&mut self, items: &[T]) -> &mut Self {
        self.put_count(items.len());
        for item in items {
            item.encode(self);
        }
        self
    }

    fn put_count(&mut self, n: usize) -> &mut Self {
        // A collection this large cannot fit a 16 MiB frame; saturating keeps the
        // writer total and the frame limit refuses the message.
        self.put_u32(u32::try_from(n).unwrap_or(u32::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strictness_decides_flags_duplicates_and_trailing_bytes() {
        let lenient = DecodeOptions::default();
        let strict = DecodeOptions::strict();

        let mut r = Reader::new(&[7, 2], &lenient);
        assert!(r.flag("f").unwrap());
        assert!(r.bool("b").unwrap());
        let mut r = Reader::new(&[7], &strict);
        assert!(matches!(
            r.flag("f"),
            Err(DecodeError::InvalidFlag { value: 7, .. })
        ));

        let mut w = BeWriter::new();
        w.put_u32(2)
            .put_str("k")
            .put_str("a")
            .put_str("k")
            .put_str("b");
        let mut r = Reader::new(w.as_slice(), &lenient);
        assert_eq!(r.string_map("m").unwrap()["k"], "b");
        let mut r = Reader::new(w.as_slice(), &strict);
        assert!(matches!(
            r.string_map("m"),
            Err(DecodeError::DuplicateKey { .. })
        ));

        let r = Reader::new(&[1], &strict);
        assert_eq!(r.finish(), Err(DecodeError::TrailingBytes(1)));
        assert!(Reader::new(&[1], &lenient).finish().is_ok());
    }

    #[test]
    fn counts_are_bounded_by_bytes_and_budget() {
        let opts = DecodeOptions::default();
        let mut r = Reader::new(&[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0], &opts);
        assert!(matches!(r.strings(), Err(DecodeError::Wire(_))));

        let tiny = DecodeOptions {
            max_items: 2,
            ..DecodeOptions::default()
        };
        let mut w = BeWriter::new();
        w.put_strings(&["a".into(), "b".into()]);
        w.put_strings(&["c".into()]);
        let mut r = Reader::new(w.as_slice(), &tiny);
        assert_eq!(r.strings().unwrap().len(), 2);
        assert_eq!(
            r.strings(),
            Err(DecodeError::TooManyItems { limit: 2 }),
            "the budget spans the whole message"
        );
    }
}
