//! The serde serializer: Rust values to ZAP objects.
//!
//! ZAP is built bottom-up (children before the objects that point at them), while serde
//! walks values top-down. Each open struct or list therefore collects its fixed bytes in
//! a frame of its own; children are emitted into the message as soon as they are
//! complete, and a frame is placed when it ends, with its pointers patched to their
//! children and its text written after it, just as the Go builder places them.

use serde::Serialize;
use serde::ser::{self, Impossible};

use super::{OBJECT_ROUND, SLOT_ALIGN, align_up};
use crate::builder::Builder;
use crate::error::{Error, Result};
use crate::header::Version;
use crate::object::{OBJECT_SLOT, POINTER_SLOT};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FrameKind {
    /// The message root.
    Root,
    /// A struct reached through a pointer slot in the parent.
    Pointed,
    /// A struct stored inline as an element of the parent list.
    Inline,
    /// A list reached through a pointer slot in the parent.
    List,
}

/// A pointer in a frame to patch once the frame's position is known.
#[derive(Debug, Clone, Copy)]
struct Fixup {
    slot: usize,
    target: usize,
}

/// Text or bytes written after the frame, in the order they were set.
#[derive(Debug, Clone, Copy)]
struct Deferred {
    slot: usize,
    start: usize,
    len: usize,
}

#[derive(Debug)]
struct Frame {
    kind: FrameKind,
    fixed: Vec<u8>,
    fixups: Vec<Fixup>,
    deferred: Vec<Deferred>,
    blob: Vec<u8>,
    /// Where this frame's pointer sits in the parent's fixed bytes.
    parent_slot: usize,
    /// Elements of a list.
    count: u32,
}

impl Frame {
    fn new() -> Self {
        Self {
            kind: FrameKind::Root,
            fixed: Vec::new(),
            fixups: Vec::new(),
            deferred: Vec::new(),
            blob: Vec::new(),
            parent_slot: 0,
            count: 0,
        }
    }

    fn align(&mut self, align: usize) {
        let to = align_up(self.fixed.len(), align);
        self.fixed.resize(to, 0);
    }

    fn put(&mut self, bytes: &[u8], align: usize) {
        self.align(align);
        self.fixed.extend_from_slice(bytes);
    }

    fn slot(&mut self, width: usize) -> usize {
        self.align(SLOT_ALIGN);
        let at = self.fixed.len();
        self.fixed.resize(at + width, 0);
        at
    }
}

/// A reusable serde encoder: keeps its buffers between messages, so encoding in steady
/// state allocates only what the values themselves need.
///
/// ```
/// # #[derive(serde::Serialize)] struct Ping { seq: u64 }
/// let mut enc = zap_wire::Encoder::new();
/// for seq in 0..3 {
///     let bytes = enc.encode(&Ping { seq }, 0x0100)?;
///     assert_eq!(zap_wire::Message::parse(bytes)?.root().unwrap().u64(0)?, seq);
/// }
/// # Ok::<(), zap_wire::Error>(())
/// ```
#[derive(Debug, Default)]
pub struct Encoder {
    builder: Builder,
    frames: Vec<Frame>,
    spare: Vec<Frame>,
    /// Set by `serialize_some`: the next value must take an 8-byte pointer slot.
    in_option: bool,
}

impl Encoder {
    /// An encoder writing version 1 headers.
    pub fn new() -> Self {
        Self::default()
    }

    /// An encoder writing the given header version.
    pub fn with_version(version: Version) -> Self {
        Self {
            builder: Builder::new().with_version(version),
            ..Self::default()
        }
    }

    /// Encodes `value` (a struct) as the root of a message with `flags`.
    pub fn encode<T: Serialize + ?Sized>(&mut self, value: &T, flags: u16) -> Result<&[u8]> {
        self.builder.reset();
        for f in self.frames.drain(..) {
            self.spare.push(f);
        }
        self.in_option = false;
        value.serialize(&mut *self)?;
        if !self.frames.is_empty() {
            return Err(Error::Custom("a value did not finish serializing".into()));
        }
        self.builder.finish(flags)
    }

    fn push_frame(&mut self, kind: FrameKind, parent_slot: usize) {
        let mut f = self.spare.pop().unwrap_or_else(Frame::new);
        f.kind = kind;
        f.fixed.clear();
        f.fixups.clear();
        f.deferred.clear();
        f.blob.clear();
        f.parent_slot = parent_slot;
        f.count = 0;
        self.frames.push(f);
    }

    fn top(&mut self) -> Result<&mut Frame> {
        self.frames
            .last_mut()
            .ok_or_else(|| Error::Unsupported("the root of a message must be a struct".into()))
    }

    /// Refuses a value that cannot sit in an option's pointer slot.
    fn no_option(&mut self, what: &str) -> Result<()> {
        if std::mem::take(&mut self.in_option) {
            return Err(Error::Unsupported(format!(
                "Option<{what}>: only text, bytes, lists and structs can be absent"
            )));
        }
        Ok(())
    }

    fn scalar(&mut self, bytes: &[u8], what: &str) -> Result<()> {
        self.no_option(what)?;
        let align = bytes.len();
        self.top()?.put(bytes, align);
        Ok(())
    }

    fn blob(&mut self, data: &[u8]) -> Result<()> {
        self.in_option = false;
        let len = u32::try_from(data.len())
            .map_err(|_| Error::TooLarge("text or bytes longer than 4 GiB"))?;
        let f = self.top()?;
        let slot = f.slot(POINTER_SLOT);
        if len > 0 {
            f.fixed[slot + 4..slot + 8].copy_from_slice(&len.to_le_bytes());
            f.deferred.push(Deferred {
                slot,
                start: f.blob.len(),
                len: data.len(),
            });
            f.blob.extend_from_slice(data);
        }
        Ok(())
    }

    /// Writes a completed frame into the message and returns its absolute offset.
    fn place(&mut self, f: &Frame) -> Result<usize> {
        let base = self
            .builder
            .append_aligned(&f.fixed)
            .ok_or(Error::TooLarge("the message would exceed 4 GiB"))?;
        for fx in &f.fixups {
            self.builder.patch_pointer(base + fx.slot, fx.target);
        }
        for d in &f.deferred {
            let at = self
                .builder
                .append_unaligned(&f.blob[d.start..d.start + d.len])
                .ok_or(Error::TooLarge("the message would exceed 4 GiB"))?;
            self.builder.patch_pointer(base + d.slot, at);
        }
        Ok(base)
    }

    fn open_struct(&mut self) -> Result<()> {
        let in_option = std::mem::take(&mut self.in_option);
        match self.frames.last_mut() {
            None => self.push_frame(FrameKind::Root, 0),
            Some(parent) if parent.kind == FrameKind::List && !in_option => {
                parent.align(OBJECT_ROUND);
                self.push_frame(FrameKind::Inline, 0);
            }
            Some(parent) => {
                let width = if in_option { POINTER_SLOT } else { OBJECT_SLOT };
                let slot = parent.slot(width);
                self.push_frame(FrameKind::Pointed, slot);
            }
        }
        Ok(())
    }

    fn close_struct(&mut self) -> Result<()> {
        let mut f = self
            .frames
            .pop()
            .ok_or_else(|| Error::Custom("struct end without a start".into()))?;
        f.align(OBJECT_ROUND);
        let outcome = match f.kind {
            FrameKind::Root => self.place(&f).map(|at| self.builder.set_root_at(at)),
            FrameKind::Pointed => self.place(&f).and_then(|at| {
                self.top()?.fixups.push(Fixup {
                    slot: f.parent_slot,
                    target: at,
                });
                Ok(())
            }),
            FrameKind::Inline => self.top().map(|list| merge_inline(list, &f)),
            FrameKind::List => Err(Error::Custom("struct end inside a list".into())),
        };
        self.spare.push(f);
        outcome
    }

    fn open_list(&mut self, len: Option<usize>) -> Result<()> {
        self.in_option = false;
        if let Some(n) = len
            && u32::try_from(n).is_err()
        {
            return Err(Error::TooLarge("a list with more than 4 G elements"));
        }
        let slot = self.top()?.slot(POINTER_SLOT);
        self.push_frame(FrameKind::List, slot);
        Ok(())
    }

    fn close_list(&mut self) -> Result<()> {
        let f = self
            .frames
            .pop()
            .ok_or_else(|| Error::Custom("list end without a start".into()))?;
        let outcome = if f.count == 0 {
            Ok(())
        } else if f.fixed.is_empty() {
            Err(Error::Unsupported(
                "a non-empty list of zero-sized elements".into(),
            ))
        } else {
            self.place(&f).and_then(|at| {
                let parent = self.top()?;
                parent.fixups.push(Fixup {
                    slot: f.parent_slot,
                    target: at,
                });
                parent.fixed[f.parent_slot + 4..f.parent_slot + 8]
                    .copy_from_slice(&f.count.to_le_bytes());
                Ok(())
            })
        };
        self.spare.push(f);
        outcome
    }

    fn element(&mut self) -> Result<()> {
        let f = self.top()?;
        f.count = f
            .count
            .checked_add(1)
            .ok_or(Error::TooLarge("a list with more than 4 G elements"))?;
        Ok(())
    }
}

/// Appends an inline struct's bytes to its list, moving its pointers and text along.
fn merge_inline(list: &mut Frame, f: &Frame) {
    let base = list.fixed.len();
    list.fixed.extend_from_slice(&f.fixed);
    list.fixups.extend(f.fixups.iter().map(|fx| Fixup {
        slot: base + fx.slot,
        target: fx.target,
    }));
    let blob_base = list.blob.len();
    list.blob.extend_from_slice(&f.blob);
    list.deferred.extend(f.deferred.iter().map(|d| Deferred {
        slot: base + d.slot,
        start: blob_base + d.start,
        len: d.len,
    }));
}

/// Encodes a struct as the root of a version-1 message with flags 0.
pub fn to_vec<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>> {
    to_vec_with(value, 0, Version::V1)
}

/// Encodes a struct as the root of a message with the given flags and version.
pub fn to_vec_with<T: Serialize + ?Sized>(
    value: &T,
    flags: u16,
    version: Version,
) -> Result<Vec<u8>> {
    let mut enc = Encoder::with_version(version);
    enc.encode(value, flags).map(<[u8]>::to_vec)
}

macro_rules! scalar_methods {
    ($($method:ident: $t:ty),*) => {$(
        fn $method(self, v: $t) -> Result<()> {
            self.scalar(&v.to_le_bytes(), stringify!($t))
        }
    )*};
}

impl ser::Serializer for &mut Encoder {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Self;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Impossible<(), Error>;
    type SerializeMap = Impossible<(), Error>;
    type SerializeStruct = Self;
    type SerializeStructVariant = Impossible<(), Error>;

    scalar_methods!(
        serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64,
        serialize_u8: u8, serialize_u16: u16, serialize_u32: u32, serialize_u64: u64,
        serialize_f32: f32, serialize_f64: f64
    );

    fn serialize_bool(self, v: bool) -> Result<()> {
        self.scalar(&[u8::from(v)], "bool")
    }

    fn serialize_char(self, v: char) -> Result<()> {
        self.scalar(&u32::from(v).to_le_bytes(), "char")
    }

    fn serialize_str(self, v: &str) -> Result<()> {
        self.blob(v.as_bytes())
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<()> {
        self.blob(v)
    }

    fn serialize_none(self) -> Result<()> {
        self.in_option = false;
        self.top()?.slot(POINTER_SLOT);
        Ok(())
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<()> {
        if self.in_option {
            return Err(Error::Unsupported("nested options".into()));
        }
        self.in_option = true;
        value.serialize(&mut *self)?;
        if self.in_option {
            self.in_option = false;
            return Err(Error::Unsupported(
                "Option of a value that is not text, bytes, a list or a struct".into(),
            ));
        }
        Ok(())
    }

    fn serialize_unit(self) -> Result<()> {
        self.no_option("()")
    }

    fn serialize_unit_struct(self, name: &'static str) -> Result<()> {
        self.no_option(name)
    }

    fn serialize_unit_variant(
        self,
        name: &'static str,
        index: u32,
        _variant: &'static str,
    ) -> Result<()> {
        self.scalar(&index.to_le_bytes(), name)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<()> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        _index: u32,
        variant: &'static str,
        _value: &T,
    ) -> Result<()> {
        Err(Error::Unsupported(format!(
            "enum variant with data {name}::{variant}"
        )))
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<Self> {
        self.open_list(len)?;
        Ok(self)
    }

    fn serialize_tuple(self, _len: usize) -> Result<Self> {
        self.no_option("a tuple")?;
        self.top()?;
        Ok(self)
    }

    fn serialize_tuple_struct(self, _name: &'static str, _len: usize) -> Result<Self> {
        self.open_struct()?;
        Ok(self)
    }

    fn serialize_tuple_variant(
        self,
        name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant> {
        Err(Error::Unsupported(format!(
            "enum variant with data {name}::{variant}"
        )))
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap> {
        Err(Error::Unsupported("maps".into()))
    }

    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Self> {
        self.open_struct()?;
        Ok(self)
    }

    fn serialize_struct_variant(
        self,
        name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant> {
        Err(Error::Unsupported(format!(
            "enum variant with data {name}::{variant}"
        )))
    }

    fn is_human_readable(&self) -> bool {
        false
    }
}

impl ser::SerializeSeq for &mut Encoder {
    type Ok = ();
    type Error = Error;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.element()?;
        value.serialize(&mut **self)
    }

    fn end(self) -> Result<()> {
        self.close_list()
    }
}

impl ser::SerializeTuple for &mut Encoder {
    type Ok = ();
    type Error = Error;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        value.serialize(&mut **self)
    }

    fn end(self) -> Result<()> {
        Ok(())
    }
}

impl ser::SerializeTupleStruct for &mut Encoder {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        value.serialize(&mut **self)
    }

    fn end(self) -> Result<()> {
        self.close_struct()
    }
}

impl ser::SerializeStruct for &mut Encoder {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        _key: &'static str,
        value: &T,
    ) -> Result<()> {
        value.serialize(&mut **self)
    }

    fn end(self) -> Result<()> {
        self.close_struct()
    }
}
