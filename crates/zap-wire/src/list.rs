//! Zero-copy views of lists: runs of fixed-stride elements.

use std::marker::PhantomData;

use crate::error::{Error, Result};
use crate::object::{self, OBJECT_SLOT, Object, POINTER_SLOT};
use crate::scalar::Scalar;

/// A list inside a message: a position, a count and the message bytes.
///
/// The element type and stride are not on the wire; the reader names them. Every
/// element accessor is bounds-checked. [`List::with_stride`] checks the whole list
/// against the message once, after which [`List::iter`] cannot fail.
#[derive(Debug, Clone, Copy)]
pub struct List<'a> {
    msg: &'a [u8],
    pos: usize,
    len: u32,
    depth: u16,
    max_depth: u16,
}

impl<'a> List<'a> {
    /// A list at `pos` with `len` elements, refused when even one byte per element
    /// would run past the message.
    pub(crate) fn new(
        msg: &'a [u8],
        pos: usize,
        len: u32,
        depth: u16,
        max_depth: u16,
    ) -> Result<Self> {
        let list = Self {
            msg,
            pos,
            len,
            depth,
            max_depth,
        };
        list.check_stride(1)?;
        Ok(list)
    }

    /// Absolute offset of the first element.
    pub fn offset(&self) -> usize {
        self.pos
    }

    /// The element count on the wire.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// True when the list has no elements.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// This list, checked to hold `len` elements of `stride` bytes inside the message.
    pub fn with_stride(self, stride: usize) -> Result<Self> {
        self.check_stride(stride)?;
        Ok(self)
    }

    fn check_stride(&self, stride: usize) -> Result<()> {
        let available = self.msg.len().saturating_sub(self.pos);
        let needed = (self.len as u64).checked_mul(stride as u64);
        if needed.is_none_or(|n| n > available as u64) {
            return Err(Error::ListTooLong {
                offset: self.pos,
                count: self.len,
                stride,
                available,
            });
        }
        Ok(())
    }

    fn index(&self, i: usize, stride: usize) -> Result<usize> {
        if i >= self.len as usize {
            return Err(Error::IndexOutOfRange {
                index: i,
                len: self.len as usize,
            });
        }
        // i < len <= msg.len(), so neither product nor sum can overflow a u64.
        let off = i as u64 * stride as u64;
        usize::try_from(off).map_err(|_| Error::OutOfBounds {
            offset: self.pos as u64 + off,
            width: stride,
            size: self.msg.len(),
        })
    }

    /// Element `i` of a list of scalars.
    pub fn get<T: Scalar>(&self, i: usize) -> Result<T> {
        let off = self.index(i, T::WIDTH)?;
        Ok(T::from_le(object::field(
            self.msg,
            self.pos,
            off,
            T::WIDTH,
        )?))
    }

    /// Element `i` of a `u8` list.
    pub fn u8(&self, i: usize) -> Result<u8> {
        self.get(i)
    }
    /// Element `i` of a `u16` list.
    pub fn u16(&self, i: usize) -> Result<u16> {
        self.get(i)
    }
    /// Element `i` of a `u32` list.
    pub fn u32(&self, i: usize) -> Result<u32> {
        self.get(i)
    }
    /// Element `i` of a `u64` list.
    pub fn u64(&self, i: usize) -> Result<u64> {
        self.get(i)
    }

    /// The elements of a byte list as one slice (a byte list counts bytes).
    pub fn bytes(&self) -> Result<&'a [u8]> {
        object::field(self.msg, self.pos, 0, self.len as usize)
    }

    /// Iterates a list of scalars, after checking the whole list fits the message.
    pub fn iter<T: Scalar>(&self) -> Result<ScalarIter<'a, T>> {
        self.check_stride(T::WIDTH)?;
        let end = self.pos + self.len as usize * T::WIDTH;
        Ok(ScalarIter {
            bytes: &self.msg[self.pos..end],
            _t: PhantomData,
        })
    }

    /// Element `i` of a list of inline objects, each `stride` bytes.
    pub fn object(&self, i: usize, stride: usize) -> Result<Object<'a>> {
        let off = self.index(i, stride)?;
        // The element's start must lie in the message; its fields are checked on read.
        object::field(self.msg, self.pos, off, 0)?;
        Ok(Object::new(
            self.msg,
            self.pos + off,
            self.depth,
            self.max_depth,
        ))
    }

    /// Element `i` of a list of 4-byte struct pointers, each relative to its own slot.
    pub fn object_ptr(&self, i: usize) -> Result<Option<Object<'a>>> {
        let off = self.index(i, OBJECT_SLOT)?;
        let slot = object::slot_pos(self.msg, self.pos, off, OBJECT_SLOT)?;
        match object::resolve(self.msg, slot)? {
            None => Ok(None),
            Some(target) => {
                if self.depth >= self.max_depth {
                    return Err(Error::TooDeep {
                        limit: self.max_depth,
                    });
                }
                Ok(Some(Object::new(
                    self.msg,
                    target,
                    self.depth + 1,
                    self.max_depth,
                )))
            }
        }
    }

    /// Element `i` of a list of 8-byte text slots, checked to be UTF-8.
    pub fn text(&self, i: usize) -> Result<Option<&'a str>> {
        let off = self.index(i, POINTER_SLOT)?;
        object::text(self.msg, self.pos, off)
    }

    /// Element `i` of a list of 8-byte bytes slots.
    pub fn blob(&self, i: usize) -> Result<Option<&'a [u8]>> {
        let off = self.index(i, POINTER_SLOT)?;
        object::blob(self.msg, self.pos, off)
    }

    /// Element `i` of a list of 8-byte list slots.
    pub fn list(&self, i: usize) -> Result<Option<List<'a>>> {
        let off = self.index(i, POINTER_SLOT)?;
        object::list(self.msg, self.pos, off, self.depth, self.max_depth)
    }
}

/// An iterator over a list of scalars whose bounds were checked up front.
#[derive(Debug, Clone)]
pub struct ScalarIter<'a, T> {
    bytes: &'a [u8],
    _t: PhantomData<T>,
}

impl<T: Scalar> Iterator for ScalarIter<'_, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        let (head, rest) = self.bytes.split_at_checked(T::WIDTH)?;
        self.bytes = rest;
        Some(T::from_le(head))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.bytes.len() / T::WIDTH;
        (n, Some(n))
    }
}

impl<T: Scalar> ExactSizeIterator for ScalarIter<'_, T> {}
