//! Building messages, bottom-up, byte-identical to the Go builder.

use crate::error::{Error, Result};
use crate::header::{ALIGNMENT, HEADER_SIZE, Header, Version};
use crate::object::{OBJECT_SLOT, POINTER_SLOT};
use crate::scalar::Scalar;

/// Where a finished object sits in the message under construction.
///
/// [`ObjectRef::NULL`] encodes as a null pointer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ObjectRef(pub u32);

impl ObjectRef {
    /// The null object.
    pub const NULL: ObjectRef = ObjectRef(0);

    /// The absolute offset of the object (0 for null).
    pub fn offset(self) -> u32 {
        self.0
    }
}

/// Where a finished list (or raw byte run) sits, and how many elements it has.
///
/// A list with offset 0 or no elements encodes as a null pointer, as in Go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ListRef {
    /// Absolute offset of the first element (0 for null).
    pub offset: u32,
    /// Number of elements.
    pub len: u32,
}

impl ListRef {
    /// The null list.
    pub const NULL: ListRef = ListRef { offset: 0, len: 0 };
}

/// A text or bytes value queued by an object until its fixed section is complete.
#[derive(Debug, Clone, Copy)]
struct Deferred {
    slot: usize,
    start: usize,
    len: usize,
}

/// Builds ZAP messages.
///
/// Messages are built bottom-up: children (lists, nested objects, raw bytes) first, then
/// the objects that point at them, then the root. For the same sequence of calls the
/// output is byte-for-byte what the Go builder writes, but the Go builder's hazards are
/// gone:
///
/// * an [`ObjectBuilder`] or [`ListBuilder`] borrows the builder mutably, so nothing
///   can be interleaved into an object's fixed section, and the section is reserved
///   (zero-filled) when the object starts;
/// * [`Builder::finish`] returns a slice borrowed from the builder, so the builder
///   cannot be reused (and the message silently changed) while the slice is alive; copy
///   it or use [`Builder::to_vec`] to keep it;
/// * [`Builder::reset`] clears the flags too, and a reused builder keeps its buffers,
///   so building in steady state allocates nothing;
/// * sizes and pointers that the format cannot address are reported by `finish`
///   instead of being truncated.
///
/// ```
/// use zap_wire::Builder;
///
/// let mut b = Builder::new();
/// let mut list = b.list();
/// for v in [100u32, 200, 300] {
///     list.push_u32(v);
/// }
/// let list = list.finish();
///
/// let mut root = b.object(32);
/// root.set_u32(0, 42);
/// root.set_text(8, "hello");
/// root.set_bytes(16, &[0xde, 0xad, 0xbe, 0xef]);
/// root.set_list(24, list);
/// root.finish_root();
///
/// let bytes = b.finish(0)?;
/// assert_eq!(bytes.len(), 73); // the Go vector `struct-u32-text-bytes-list`
/// # Ok::<(), zap_wire::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Builder {
    buf: Vec<u8>,
    root: u32,
    version: Version,
    deferred: Vec<Deferred>,
    scratch: Vec<u8>,
    overflow: Option<&'static str>,
}

impl Default for Builder {
    fn default() -> Self {
        Self::new()
    }
}

impl Builder {
    /// A builder writing version 1 with room for 256 bytes.
    pub fn new() -> Self {
        Self::with_capacity(256)
    }

    /// A builder writing version 1 with room for `capacity` bytes before it grows.
    pub fn with_capacity(capacity: usize) -> Self {
        let mut buf = Vec::with_capacity(capacity.max(HEADER_SIZE));
        buf.resize(HEADER_SIZE, 0);
        Self {
            buf,
            root: 0,
            version: Version::V1,
            deferred: Vec::new(),
            scratch: Vec::new(),
            overflow: None,
        }
    }

    /// Selects the header version written by [`Builder::finish`].
    pub fn with_version(mut self, version: Version) -> Self {
        self.version = version;
        self
    }

    /// Selects the header version written by [`Builder::finish`].
    pub fn set_version(&mut self, version: Version) {
        self.version = version;
    }

    /// The header version this builder writes.
    pub fn version(&self) -> Version {
        self.version
    }

    /// Bytes written so far, header included.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// True when nothing but the header has been written.
    pub fn is_empty(&self) -> bool {
        self.buf.len() == HEADER_SIZE
    }

    /// Starts over, keeping the allocated buffers for the next message.
    pub fn reset(&mut self) {
        self.buf.truncate(HEADER_SIZE);
        self.buf.fill(0);
        self.root = 0;
        self.deferred.clear();
        self.scratch.clear();
        self.overflow = None;
    }

    fn align(&mut self) {
        let pad = (ALIGNMENT - self.buf.len() % ALIGNMENT) % ALIGNMENT;
        self.buf.resize(self.buf.len() + pad, 0);
    }

    /// Grows the buffer to `end` bytes (zero-filled), unless `end` is beyond what the
    /// format can address; then the builder remembers the overflow and `finish` fails.
    fn grow_to(&mut self, end: usize) -> bool {
        if end > u32::MAX as usize {
            self.overflow = Some("the message would exceed 4 GiB");
            return false;
        }
        if end > self.buf.len() {
            self.buf.resize(end, 0);
        }
        true
    }

    /// Starts an object whose fixed section is `size` bytes, reserved now.
    ///
    /// Fields may be set past `size`; the section then grows to the furthest field, as
    /// in Go. The object is complete when the returned builder is finished or dropped.
    pub fn object(&mut self, size: usize) -> ObjectBuilder<'_> {
        self.align();
        let start = self.buf.len();
        let size = if self.grow_to(start.saturating_add(size)) {
            size
        } else {
            0
        };
        ObjectBuilder {
            b: self,
            start,
            size,
            done: false,
        }
    }

    /// Starts a list; elements are appended as they are pushed.
    pub fn list(&mut self) -> ListBuilder<'_> {
        self.align();
        let start = self.buf.len();
        ListBuilder {
            b: self,
            start,
            count: 0,
        }
    }

    /// Writes a raw byte run (aligned) and returns it as a byte list.
    ///
    /// Empty input writes nothing and returns [`ListRef::NULL`], as in Go.
    pub fn write_bytes(&mut self, data: &[u8]) -> ListRef {
        if data.is_empty() {
            return ListRef::NULL;
        }
        self.align();
        let start = self.buf.len();
        if !self.grow_to(start.saturating_add(data.len())) {
            return ListRef::NULL;
        }
        self.buf[start..].copy_from_slice(data);
        ListRef {
            offset: start as u32,
            len: data.len() as u32,
        }
    }

    /// Writes text as a raw byte run; see [`Builder::write_bytes`].
    pub fn write_text(&mut self, text: &str) -> ListRef {
        self.write_bytes(text.as_bytes())
    }

    /// Makes `obj` the message's root.
    pub fn set_root(&mut self, obj: ObjectRef) {
        self.root = obj.0;
    }

    /// Writes the header with `flags` and returns the message.
    ///
    /// The builder keeps its contents: call [`Builder::reset`] before building the next
    /// message.
    pub fn finish(&mut self, flags: u16) -> Result<&[u8]> {
        if let Some(why) = self.overflow {
            return Err(Error::TooLarge(why));
        }
        if self.buf.len() > u32::MAX as usize {
            return Err(Error::TooLarge("the message would exceed 4 GiB"));
        }
        let header = Header {
            version: self.version,
            flags,
            root: self.root,
            size: self.buf.len() as u32,
        };
        let head: &mut [u8; HEADER_SIZE] = (&mut self.buf[..HEADER_SIZE])
            .try_into()
            .map_err(|_| Error::TooLarge("header"))?;
        header.write(head);
        Ok(&self.buf)
    }

    /// Finishes the message and copies it into a new vector.
    pub fn to_vec(&mut self, flags: u16) -> Result<Vec<u8>> {
        self.finish(flags).map(<[u8]>::to_vec)
    }

    /// The relative offset from `slot` to `target`, or records an overflow.
    fn relative(&mut self, slot: usize, target: usize) -> u32 {
        match i32::try_from(target as i64 - slot as i64) {
            Ok(rel) => rel as u32,
            Err(_) => {
                self.overflow = Some("a pointer would span more than 2 GiB");
                0
            }
        }
    }

    fn put<T: Scalar>(&mut self, at: usize, v: T) {
        v.write_le(&mut self.buf[at..at + T::WIDTH]);
    }

    /// Appends raw bytes at the end (crate-internal; the serde encoder lays out its own
    /// fixed sections).
    #[cfg(feature = "serde")]
    pub(crate) fn append_aligned(&mut self, data: &[u8]) -> Option<usize> {
        self.align();
        let start = self.buf.len();
        if !self.grow_to(start.saturating_add(data.len())) {
            return None;
        }
        self.buf[start..].copy_from_slice(data);
        Some(start)
    }

    /// Appends raw bytes without alignment (crate-internal, for deferred blobs).
    pub(crate) fn append_unaligned(&mut self, data: &[u8]) -> Option<usize> {
        let start = self.buf.len();
        if start.saturating_add(data.len()) > u32::MAX as usize {
            self.overflow = Some("the message would exceed 4 GiB");
            return None;
        }
        self.buf.extend_from_slice(data);
        Some(start)
    }

    /// Writes the relative offset from absolute `slot` to `target` (0 stays null).
    pub(crate) fn patch_pointer(&mut self, slot: usize, target: usize) {
        let rel = if target == 0 {
            0
        } else {
            self.relative(slot, target)
        };
        self.put(slot, rel);
    }

    /// Makes the object at absolute offset `at` the root (crate-internal).
    #[cfg(feature = "serde")]
    pub(crate) fn set_root_at(&mut self, at: usize) {
        self.root = at as u32;
    }
}

/// Builds one object; finish it (or drop it) before starting anything else.
///
/// Field offsets are byte offsets from the object's start. Text and bytes are written
/// after the fixed section when the object finishes, in the order they were set.
#[derive(Debug)]
pub struct ObjectBuilder<'b> {
    b: &'b mut Builder,
    start: usize,
    size: usize,
    done: bool,
}

impl ObjectBuilder<'_> {
    /// The absolute offset this object will have.
    pub fn offset(&self) -> ObjectRef {
        ObjectRef(self.start as u32)
    }

    /// Ensures `width` bytes at field `off` exist; returns their absolute position.
    fn field(&mut self, off: usize, width: usize) -> Option<usize> {
        let at = self.start.checked_add(off)?;
        let end = at.checked_add(width)?;
        self.b.grow_to(end).then_some(at)
    }

    fn put<T: Scalar>(&mut self, off: usize, v: T) {
        match self.field(off, T::WIDTH) {
            Some(at) => self.b.put(at, v),
            None => self.b.overflow = Some("a field offset is beyond 4 GiB"),
        }
    }

    /// Sets a `u8` field.
    pub fn set_u8(&mut self, off: usize, v: u8) {
        self.put(off, v);
    }
    /// Sets an `i8` field.
    pub fn set_i8(&mut self, off: usize, v: i8) {
        self.put(off, v);
    }
    /// Sets a bool field (one byte, 0 or 1).
    pub fn set_bool(&mut self, off: usize, v: bool) {
        self.put(off, v);
    }
    /// Sets a `u16` field.
    pub fn set_u16(&mut self, off: usize, v: u16) {
        self.put(off, v);
    }
    /// Sets an `i16` field.
    pub fn set_i16(&mut self, off: usize, v: i16) {
        self.put(off, v);
    }
    /// Sets a `u32` field.
    pub fn set_u32(&mut self, off: usize, v: u32) {
        self.put(off, v);
    }
    /// Sets an `i32` field.
    pub fn set_i32(&mut self, off: usize, v: i32) {
        self.put(off, v);
    }
    /// Sets a `u64` field.
    pub fn set_u64(&mut self, off: usize, v: u64) {
        self.put(off, v);
    }
    /// Sets an `i64` field.
    pub fn set_i64(&mut self, off: usize, v: i64) {
        self.put(off, v);
    }
    /// Sets an `f32` field.
    pub fn set_f32(&mut self, off: usize, v: f32) {
        self.put(off, v);
    }
    /// Sets an `f64` field.
    pub fn set_f64(&mut self, off: usize, v: f64) {
        self.put(off, v);
    }

    /// Copies `bytes` inline at `off` (a fixed-size array such as an address or hash).
    pub fn set_fixed(&mut self, off: usize, bytes: &[u8]) {
        match self.field(off, bytes.len()) {
            Some(at) => self.b.buf[at..at + bytes.len()].copy_from_slice(bytes),
            None => self.b.overflow = Some("a field offset is beyond 4 GiB"),
        }
    }

    /// Sets a bytes field; the bytes follow the fixed section. Empty is written as null.
    pub fn set_bytes(&mut self, off: usize, data: &[u8]) {
        let Some(slot) = self.field(off, POINTER_SLOT) else {
            self.b.overflow = Some("a field offset is beyond 4 GiB");
            return;
        };
        self.b.put(slot, 0u32);
        if data.is_empty() {
            self.b.put(slot + 4, 0u32);
            return;
        }
        let Ok(len) = u32::try_from(data.len()) else {
            self.b.overflow = Some("a bytes field is longer than 4 GiB");
            return;
        };
        self.b.put(slot + 4, len);
        let start = self.b.scratch.len();
        self.b.scratch.extend_from_slice(data);
        self.b.deferred.push(Deferred {
            slot,
            start,
            len: data.len(),
        });
    }

    /// Sets a text field; see [`ObjectBuilder::set_bytes`].
    pub fn set_text(&mut self, off: usize, text: &str) {
        self.set_bytes(off, text.as_bytes());
    }

    /// Sets a struct pointer field to a finished object (or null).
    pub fn set_object(&mut self, off: usize, obj: ObjectRef) {
        let Some(slot) = self.field(off, OBJECT_SLOT) else {
            self.b.overflow = Some("a field offset is beyond 4 GiB");
            return;
        };
        self.b.patch_pointer(slot, obj.0 as usize);
    }

    /// Sets a list field to a finished list (or null when empty).
    pub fn set_list(&mut self, off: usize, list: ListRef) {
        let Some(slot) = self.field(off, POINTER_SLOT) else {
            self.b.overflow = Some("a field offset is beyond 4 GiB");
            return;
        };
        if list.offset == 0 || list.len == 0 {
            self.b.put(slot, 0u32);
            self.b.put(slot + 4, 0u32);
            return;
        }
        self.b.patch_pointer(slot, list.offset as usize);
        self.b.put(slot + 4, list.len);
    }

    fn complete(&mut self) {
        if self.done {
            return;
        }
        self.done = true;
        let end = self.start + self.size;
        self.b.grow_to(end);
        let deferred = std::mem::take(&mut self.b.deferred);
        let scratch = std::mem::take(&mut self.b.scratch);
        for d in &deferred {
            if let Some(at) = self.b.append_unaligned(&scratch[d.start..d.start + d.len]) {
                self.b.patch_pointer(d.slot, at);
            }
        }
        // Hand the buffers back so the next object reuses their capacity.
        self.b.deferred = deferred;
        self.b.deferred.clear();
        self.b.scratch = scratch;
        self.b.scratch.clear();
    }

    /// Completes the object and returns where it is.
    pub fn finish(mut self) -> ObjectRef {
        self.complete();
        ObjectRef(self.start as u32)
    }

    /// Completes the object and makes it the message's root.
    pub fn finish_root(mut self) -> ObjectRef {
        self.complete();
        self.b.root = self.start as u32;
        ObjectRef(self.start as u32)
    }
}

impl Drop for ObjectBuilder<'_> {
    /// An object dropped without `finish` is still completed, so no queued text can
    /// leak into the next object.
    fn drop(&mut self) {
        self.complete();
    }
}

/// Builds one list by appending elements.
#[derive(Debug)]
pub struct ListBuilder<'b> {
    b: &'b mut Builder,
    start: usize,
    count: u32,
}

impl ListBuilder<'_> {
    // The hot path of list building: no per-element checks beyond the vector's own.
    // Counts saturate and sizes are checked once, in `finish` and `Builder::finish`.
    #[inline]
    fn append(&mut self, bytes: &[u8], elements: usize) {
        self.b.buf.extend_from_slice(bytes);
        self.count = self
            .count
            .saturating_add(u32::try_from(elements).unwrap_or(u32::MAX));
    }

    /// Appends any scalar element.
    pub fn push<T: Scalar>(&mut self, v: T) {
        let mut tmp = [0u8; 8];
        v.write_le(&mut tmp);
        self.append(&tmp[..T::WIDTH], 1);
    }

    /// Appends a `u8` element.
    pub fn push_u8(&mut self, v: u8) {
        self.push(v);
    }
    /// Appends a `u16` element.
    pub fn push_u16(&mut self, v: u16) {
        self.push(v);
    }
    /// Appends a `u32` element.
    pub fn push_u32(&mut self, v: u32) {
        self.push(v);
    }
    /// Appends a `u64` element.
    pub fn push_u64(&mut self, v: u64) {
        self.push(v);
    }

    /// Appends each byte of `data` as one element of a byte list.
    pub fn push_bytes(&mut self, data: &[u8]) {
        self.append(data, data.len());
    }

    /// Appends one inline element given as its raw bytes (the stride is its length).
    pub fn push_raw(&mut self, element: &[u8]) {
        self.append(element, 1);
    }

    /// Appends a 4-byte pointer to a finished object, relative to this element's slot.
    pub fn push_object_ptr(&mut self, obj: ObjectRef) {
        let slot = self.b.buf.len();
        self.append(&[0; OBJECT_SLOT], 1);
        self.b.patch_pointer(slot, obj.0 as usize);
    }

    /// Elements pushed so far.
    pub fn len(&self) -> u32 {
        self.count
    }

    /// True when no element was pushed.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Completes the list and returns where it is and how long.
    pub fn finish(self) -> ListRef {
        if self.count == u32::MAX {
            self.b.overflow = Some("a list has 4 G elements or more");
        }
        ListRef {
            offset: self.start as u32,
            len: self.count,
        }
    }
}
