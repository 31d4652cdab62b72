//! Zero-copy views of objects (structs) and the pointer rules they share with lists.

use crate::error::{Error, Result};
use crate::header::HEADER_SIZE;
use crate::lenient::LenientObject;
use crate::list::List;
use crate::scalar::Scalar;

/// Bytes of a text, bytes or list pointer slot: `i32` relative offset, `u32` length.
pub const POINTER_SLOT: usize = 8;
/// Bytes of a struct pointer slot: `i32` relative offset only.
pub const OBJECT_SLOT: usize = 4;

/// An object inside a message: a position and the message bytes, nothing copied.
///
/// The format does not record an object's size, so a read is checked against the end
/// of the message, not of the object: reading past the fields a writer set returns the
/// bytes that follow, exactly as in Go. Every accessor returns a `Result`, and pointer
/// accessors an `Option` inside it, so null, out of bounds and zero are told apart.
#[derive(Debug, Clone, Copy)]
pub struct Object<'a> {
    msg: &'a [u8],
    pos: usize,
    depth: u16,
    max_depth: u16,
}

impl<'a> Object<'a> {
    pub(crate) fn new(msg: &'a [u8], pos: usize, depth: u16, max_depth: u16) -> Self {
        Self {
            msg,
            pos,
            depth,
            max_depth,
        }
    }

    /// Absolute offset of the object in its message.
    pub fn offset(&self) -> usize {
        self.pos
    }

    /// How many pointers were followed from the root to reach this object.
    pub fn depth(&self) -> u16 {
        self.depth
    }

    /// This object with Go's zero-default semantics.
    pub fn lenient(self) -> LenientObject<'a> {
        LenientObject::new(Some(self))
    }

    /// `width` bytes at field offset `off`.
    pub fn raw(&self, off: usize, width: usize) -> Result<&'a [u8]> {
        field(self.msg, self.pos, off, width)
    }

    /// An inline fixed-size byte array at `off` (an EVM address is `fixed::<20>`).
    pub fn fixed<const N: usize>(&self, off: usize) -> Result<&'a [u8; N]> {
        let raw = self.raw(off, N)?;
        // `raw` has exactly N bytes by construction.
        raw.try_into().map_err(|_| Error::OutOfBounds {
            offset: (self.pos + off) as u64,
            width: N,
            size: self.msg.len(),
        })
    }

    /// Any inline scalar at `off`.
    pub fn get<T: Scalar>(&self, off: usize) -> Result<T> {
        Ok(T::from_le(self.raw(off, T::WIDTH)?))
    }

    /// The `u8` at `off`.
    pub fn u8(&self, off: usize) -> Result<u8> {
        self.get(off)
    }
    /// The `i8` at `off`.
    pub fn i8(&self, off: usize) -> Result<i8> {
        self.get(off)
    }
    /// The bool at `off` (any non-zero byte is true).
    pub fn bool(&self, off: usize) -> Result<bool> {
        self.get(off)
    }
    /// The little-endian `u16` at `off`.
    pub fn u16(&self, off: usize) -> Result<u16> {
        self.get(off)
    }
    /// The little-endian `i16` at `off`.
    pub fn i16(&self, off: usize) -> Result<i16> {
        self.get(off)
    }
    /// The little-endian `u32` at `off`.
    pub fn u32(&self, off: usize) -> Result<u32> {
        self.get(off)
    }
    /// The little-endian `i32` at `off`.
    pub fn i32(&self, off: usize) -> Result<i32> {
        self.get(off)
    }
    /// The little-endian `u64` at `off`.
    pub fn u64(&self, off: usize) -> Result<u64> {
        self.get(off)
    }
    /// The little-endian `i64` at `off`.
    pub fn i64(&self, off: usize) -> Result<i64> {
        self.get(off)
    }
    /// The little-endian IEEE-754 `f32` at `off`.
    pub fn f32(&self, off: usize) -> Result<f32> {
        self.get(off)
    }
    /// The little-endian IEEE-754 `f64` at `off`.
    pub fn f64(&self, off: usize) -> Result<f64> {
        self.get(off)
    }

    /// The bytes a text/bytes slot at `off` points to; `None` when null.
    ///
    /// The empty byte string is written as null, so `None` also means "empty".
    pub fn bytes(&self, off: usize) -> Result<Option<&'a [u8]>> {
        blob(self.msg, self.pos, off)
    }

    /// The text a text slot at `off` points to, checked to be UTF-8; `None` when null.
    pub fn text(&self, off: usize) -> Result<Option<&'a str>> {
        text(self.msg, self.pos, off)
    }

    /// The object a struct slot at `off` points to; `None` when null.
    pub fn object(&self, off: usize) -> Result<Option<Object<'a>>> {
        let slot = slot_pos(self.msg, self.pos, off, OBJECT_SLOT)?;
        match resolve(self.msg, slot)? {
            None => Ok(None),
            Some(target) => self.child(target).map(Some),
        }
    }

    /// The list a list slot at `off` points to; `None` when null.
    ///
    /// The count is checked against the bytes that follow the list assuming one byte
    /// per element; use [`List::with_stride`] to check it for wider elements before
    /// iterating.
    pub fn list(&self, off: usize) -> Result<Option<List<'a>>> {
        list(self.msg, self.pos, off, self.depth, self.max_depth)
    }

    /// An object one level below this one, refused past the depth limit.
    pub(crate) fn child(&self, pos: usize) -> Result<Object<'a>> {
        if self.depth >= self.max_depth {
            return Err(Error::TooDeep {
                limit: self.max_depth,
            });
        }
        Ok(Object::new(self.msg, pos, self.depth + 1, self.max_depth))
    }
}

/// `width` bytes at `base + off`, checked against the message end.
pub(crate) fn field(msg: &[u8], base: usize, off: usize, width: usize) -> Result<&[u8]> {
    let oob = || Error::OutOfBounds {
        offset: base as u64 + off as u64,
        width,
        size: msg.len(),
    };
    let start = base.checked_add(off).ok_or_else(oob)?;
    let end = start.checked_add(width).ok_or_else(oob)?;
    msg.get(start..end).ok_or_else(oob)
}

/// The absolute position of a `width`-byte slot at `base + off`, checked.
pub(crate) fn slot_pos(msg: &[u8], base: usize, off: usize, width: usize) -> Result<usize> {
    field(msg, base, off, width)?;
    Ok(base + off)
}

/// Follows the `i32` relative offset stored at absolute `slot`.
///
/// `Ok(None)` for a null (zero) offset. The target must lie in the message data
/// (`16..=size`): unlike Go v0.6.0, a pointer into the header is refused.
pub(crate) fn resolve(msg: &[u8], slot: usize) -> Result<Option<usize>> {
    let rel = <i32 as Scalar>::from_le(field(msg, slot, 0, 4)?);
    if rel == 0 {
        return Ok(None);
    }
    let target = slot as i64 + i64::from(rel);
    if target < HEADER_SIZE as i64 || target > msg.len() as i64 {
        return Err(Error::BadPointer {
            slot,
            target,
            size: msg.len(),
        });
    }
    Ok(Some(target as usize))
}

/// Reads an 8-byte (offset, length) slot and returns the target and the length.
pub(crate) fn pointer_and_len(msg: &[u8], base: usize, off: usize) -> Result<Option<(usize, u32)>> {
    let slot = slot_pos(msg, base, off, POINTER_SLOT)?;
    let Some(target) = resolve(msg, slot)? else {
        return Ok(None);
    };
    let len = <u32 as Scalar>::from_le(field(msg, slot, 4, 4)?);
    Ok(Some((target, len)))
}

/// The bytes a text/bytes slot at `base + off` points to.
pub(crate) fn blob(msg: &[u8], base: usize, off: usize) -> Result<Option<&[u8]>> {
    let Some((target, len)) = pointer_and_len(msg, base, off)? else {
        return Ok(None);
    };
    let available = msg.len() - target;
    if len as usize > available {
        return Err(Error::ListTooLong {
            offset: target,
            count: len,
            stride: 1,
            available,
        });
    }
    Ok(Some(&msg[target..target + len as usize]))
}

/// The UTF-8 text a slot at `base + off` points to.
pub(crate) fn text(msg: &[u8], base: usize, off: usize) -> Result<Option<&str>> {
    match blob(msg, base, off)? {
        None => Ok(None),
        Some(bytes) => std::str::from_utf8(bytes)
            .map(Some)
            .map_err(|_| Error::InvalidUtf8 {
                offset: bytes.as_ptr() as usize - msg.as_ptr() as usize,
            }),
    }
}

/// The list a slot at `base + off` points to.
pub(crate) fn list<'a>(
    msg: &'a [u8],
    base: usize,
    off: usize,
    depth: u16,
    max_depth: u16,
) -> Result<Option<List<'a>>> {
    let Some((target, count)) = pointer_and_len(msg, base, off)? else {
        return Ok(None);
    };
    if depth >= max_depth {
        return Err(Error::TooDeep { limit: max_depth });
    }
    List::new(msg, target, count, depth + 1, max_depth).map(Some)
}
