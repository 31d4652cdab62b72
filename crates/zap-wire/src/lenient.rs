//! Go's zero-default reading, for callers that want it.
//!
//! The Go reader returns 0, `false`, `""` or an empty list for a null pointer, an
//! out-of-bounds field and a genuine zero alike. Code ported from Go sometimes relies on
//! that; these wrappers give the same answers without Go's crash on a null object (a
//! null [`LenientObject`] simply reads as zeros all the way down).

use crate::list::List;
use crate::object::Object;
use crate::scalar::Scalar;

/// An object, possibly null, whose reads never fail: errors read as the zero value.
#[derive(Debug, Clone, Copy)]
pub struct LenientObject<'a>(Option<Object<'a>>);

impl<'a> LenientObject<'a> {
    pub(crate) fn new(obj: Option<Object<'a>>) -> Self {
        Self(obj)
    }

    /// True when there is no object behind this view.
    pub fn is_null(&self) -> bool {
        self.0.is_none()
    }

    /// The checked view, when there is an object.
    pub fn strict(&self) -> Option<Object<'a>> {
        self.0
    }

    /// Any scalar at `off`, or its zero.
    pub fn get<T: Scalar>(&self, off: usize) -> T {
        self.0.and_then(|o| o.get(off).ok()).unwrap_or_default()
    }

    /// The `u8` at `off`, or 0.
    pub fn u8(&self, off: usize) -> u8 {
        self.get(off)
    }
    /// The bool at `off`, or false.
    pub fn bool(&self, off: usize) -> bool {
        self.get(off)
    }
    /// The `u16` at `off`, or 0.
    pub fn u16(&self, off: usize) -> u16 {
        self.get(off)
    }
    /// The `u32` at `off`, or 0.
    pub fn u32(&self, off: usize) -> u32 {
        self.get(off)
    }
    /// The `i32` at `off`, or 0.
    pub fn i32(&self, off: usize) -> i32 {
        self.get(off)
    }
    /// The `u64` at `off`, or 0.
    pub fn u64(&self, off: usize) -> u64 {
        self.get(off)
    }
    /// The `i64` at `off`, or 0.
    pub fn i64(&self, off: usize) -> i64 {
        self.get(off)
    }
    /// The `f64` at `off`, or 0.0.
    pub fn f64(&self, off: usize) -> f64 {
        self.get(off)
    }

    /// The bytes at `off`, or an empty slice.
    pub fn bytes(&self, off: usize) -> &'a [u8] {
        self.0
            .and_then(|o| o.bytes(off).ok().flatten())
            .unwrap_or_default()
    }

    /// The text at `off`, or `""` (also for text that is not UTF-8; use
    /// [`LenientObject::bytes`] for the raw bytes).
    pub fn text(&self, off: usize) -> &'a str {
        self.0
            .and_then(|o| o.text(off).ok().flatten())
            .unwrap_or_default()
    }

    /// The object at `off`; a null view when absent or invalid.
    pub fn object(&self, off: usize) -> LenientObject<'a> {
        LenientObject(self.0.and_then(|o| o.object(off).ok().flatten()))
    }

    /// The list at `off`; an empty view when absent or invalid.
    pub fn list(&self, off: usize) -> LenientList<'a> {
        LenientList(self.0.and_then(|o| o.list(off).ok().flatten()))
    }
}

/// A list, possibly null, whose reads never fail: errors read as the zero value.
#[derive(Debug, Clone, Copy)]
pub struct LenientList<'a>(Option<List<'a>>);

impl<'a> LenientList<'a> {
    /// The element count, 0 for a null list.
    pub fn len(&self) -> usize {
        self.0.map_or(0, |l| l.len())
    }

    /// True for a null or empty list.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Element `i` of a list of scalars, or its zero.
    pub fn get<T: Scalar>(&self, i: usize) -> T {
        self.0.and_then(|l| l.get(i).ok()).unwrap_or_default()
    }

    /// The elements of a byte list, or an empty slice.
    pub fn bytes(&self) -> &'a [u8] {
        self.0.and_then(|l| l.bytes().ok()).unwrap_or_default()
    }

    /// Element `i` of a list of inline objects of `stride` bytes; null when invalid.
    pub fn object(&self, i: usize, stride: usize) -> LenientObject<'a> {
        LenientObject(self.0.and_then(|l| l.object(i, stride).ok()))
    }
}
