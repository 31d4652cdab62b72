//! The serde deserializer: ZAP objects to Rust values, zero-copy for `&str` and `&[u8]`.
//!
//! The layout is positional (see the module docs), so the deserializer keeps a cursor
//! in the object or list being read; every read is checked against the message, every
//! pointer followed counts against the depth limit, and every list count is checked
//! against the bytes that follow it before any element is read.

use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};

use super::{OBJECT_ROUND, SLOT_ALIGN, align_up};
use crate::error::{Error, Result};
use crate::message::Message;
use crate::object::{self, OBJECT_SLOT, POINTER_SLOT};
use crate::scalar::Scalar;

/// Where values are being read: an object or a list, or a null object whose reads all
/// give zero values (a null struct pointer reads as the all-default struct, as in Go).
#[derive(Debug, Clone, Copy)]
struct Region {
    base: Option<usize>,
    cursor: usize,
    depth: u16,
    list: bool,
}

/// Reads Rust values from one message.
#[derive(Debug)]
struct Decoder<'de> {
    msg: &'de [u8],
    root: Option<usize>,
    max_depth: u16,
    regions: Vec<Region>,
    /// Set by `deserialize_option` for a non-null slot: the value takes 8 bytes.
    in_option: bool,
}

/// Decodes the root object of `bytes` as a `T`.
pub fn from_slice<'de, T: de::Deserialize<'de>>(bytes: &'de [u8]) -> Result<T> {
    from_message(&Message::parse(bytes)?)
}

/// Decodes the root object of a parsed message as a `T`.
pub fn from_message<'de, T: de::Deserialize<'de>>(msg: &Message<'de>) -> Result<T> {
    let mut de = Decoder {
        msg: msg.as_bytes(),
        root: msg.root().map(|r| r.offset()),
        max_depth: msg.limits().max_depth,
        regions: Vec::new(),
        in_option: false,
    };
    T::deserialize(&mut de)
}

impl<'de> Decoder<'de> {
    fn top(&mut self) -> Result<&mut Region> {
        self.regions
            .last_mut()
            .ok_or_else(|| Error::Unsupported("the root of a message must be a struct".into()))
    }

    fn no_option(&mut self, what: &str) -> Result<()> {
        if std::mem::take(&mut self.in_option) {
            return Err(Error::Unsupported(format!(
                "Option<{what}>: only text, bytes, lists and structs can be absent"
            )));
        }
        Ok(())
    }

    /// Takes the next `width` bytes at `align` from the current region.
    fn take(&mut self, width: usize, align: usize) -> Result<Option<&'de [u8]>> {
        let msg = self.msg;
        let r = self.top()?;
        r.cursor = align_up(r.cursor, align);
        let at = r.cursor;
        r.cursor += width;
        match r.base {
            None => Ok(None),
            Some(base) => object::field(msg, base, at, width).map(Some),
        }
    }

    fn scalar<T: Scalar>(&mut self, what: &str) -> Result<T> {
        self.no_option(what)?;
        Ok(self
            .take(T::WIDTH, T::WIDTH)?
            .map(T::from_le)
            .unwrap_or_default())
    }

    /// The absolute position of the next pointer slot of `width` bytes (`None` in a
    /// null region).
    fn slot(&mut self, width: usize) -> Result<Option<usize>> {
        let msg = self.msg;
        let r = self.top()?;
        r.cursor = align_up(r.cursor, SLOT_ALIGN);
        let at = r.cursor;
        r.cursor += width;
        match r.base {
            None => Ok(None),
            Some(base) => object::slot_pos(msg, base, at, width).map(Some),
        }
    }

    fn blob(&mut self) -> Result<Option<&'de [u8]>> {
        self.in_option = false;
        match self.slot(POINTER_SLOT)? {
            None => Ok(None),
            Some(slot) => object::blob(self.msg, slot, 0),
        }
    }

    fn deeper(&self, depth: u16) -> Result<u16> {
        if depth >= self.max_depth {
            return Err(Error::TooDeep {
                limit: self.max_depth,
            });
        }
        Ok(depth + 1)
    }

    /// Enters the struct that comes next; returns how to leave it.
    fn enter_struct(&mut self) -> Result<Leave> {
        let in_option = std::mem::take(&mut self.in_option);
        let Some(parent) = self.regions.last().copied() else {
            let root = self
                .root
                .ok_or_else(|| Error::Custom("the message has no root object".into()))?;
            self.regions.push(Region {
                base: Some(root),
                cursor: 0,
                depth: 0,
                list: false,
            });
            return Ok(Leave::Pop);
        };
        if parent.list && !in_option {
            let start = align_up(parent.cursor, OBJECT_ROUND);
            self.regions.push(Region {
                base: parent.base.map(|b| b + start),
                cursor: 0,
                depth: parent.depth,
                list: false,
            });
            return Ok(Leave::Inline { start });
        }
        let width = if in_option { POINTER_SLOT } else { OBJECT_SLOT };
        let base = match self.slot(width)? {
            None => None,
            Some(slot) => object::resolve(self.msg, slot)?,
        };
        let depth = self.deeper(parent.depth)?;
        self.regions.push(Region {
            base,
            cursor: 0,
            depth,
            list: false,
        });
        Ok(Leave::Pop)
    }

    fn leave(&mut self, how: Leave) -> Result<()> {
        let child = self
            .regions
            .pop()
            .ok_or_else(|| Error::Custom("struct end without a start".into()))?;
        if let Leave::Inline { start } = how {
            let parent = self.top()?;
            parent.cursor = start + align_up(child.cursor, OBJECT_ROUND);
        }
        Ok(())
    }

    /// Enters the list that comes next; returns its element count.
    fn enter_list(&mut self) -> Result<u32> {
        self.in_option = false;
        let depth = self.top()?.depth;
        let (base, count) = match self.slot(POINTER_SLOT)? {
            None => (None, 0),
            Some(slot) => match object::pointer_and_len(self.msg, slot, 0)? {
                None => (None, 0),
                Some((target, count)) => {
                    let available = self.msg.len() - target;
                    if count as usize > available {
                        return Err(Error::ListTooLong {
                            offset: target,
                            count,
                            stride: 1,
                            available,
                        });
                    }
                    (Some(target), count)
                }
            },
        };
        let depth = self.deeper(depth)?;
        self.regions.push(Region {
            base,
            cursor: 0,
            depth,
            list: true,
        });
        Ok(count)
    }
}

/// How to leave a struct region.
#[derive(Debug, Clone, Copy)]
enum Leave {
    /// Just pop it.
    Pop,
    /// Pop it and move the parent list's cursor past it.
    Inline { start: usize },
}

/// Hands out a known number of values read in sequence from the decoder.
struct Sequence<'a, 'de> {
    de: &'a mut Decoder<'de>,
    left: usize,
}

impl<'de> de::SeqAccess<'de> for Sequence<'_, 'de> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        seed.deserialize(&mut *self.de).map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.left)
    }
}

/// A unit variant, identified by its index.
struct UnitVariant(u32);

impl<'de> de::EnumAccess<'de> for UnitVariant {
    type Error = Error;
    type Variant = Self;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self)> {
        let v = seed.deserialize(self.0.into_deserializer())?;
        Ok((v, self))
    }
}

impl<'de> de::VariantAccess<'de> for UnitVariant {
    type Error = Error;

    fn unit_variant(self) -> Result<()> {
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, _seed: T) -> Result<T::Value> {
        Err(Error::Unsupported("enum variants with data".into()))
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, _visitor: V) -> Result<V::Value> {
        Err(Error::Unsupported("enum variants with data".into()))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value> {
        Err(Error::Unsupported("enum variants with data".into()))
    }
}

macro_rules! scalar_methods {
    ($($method:ident: $t:ty => $visit:ident),*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
            let v: $t = self.scalar(stringify!($t))?;
            visitor.$visit(v)
        }
    )*};
}

impl<'de> de::Deserializer<'de> for &mut Decoder<'de> {
    type Error = Error;

    scalar_methods!(
        deserialize_bool: bool => visit_bool,
        deserialize_i8: i8 => visit_i8, deserialize_i16: i16 => visit_i16,
        deserialize_i32: i32 => visit_i32, deserialize_i64: i64 => visit_i64,
        deserialize_u8: u8 => visit_u8, deserialize_u16: u16 => visit_u16,
        deserialize_u32: u32 => visit_u32, deserialize_u64: u64 => visit_u64,
        deserialize_f32: f32 => visit_f32, deserialize_f64: f64 => visit_f64
    );

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value> {
        Err(Error::Unsupported(
            "ZAP is not self-describing: the type must say what to read".into(),
        ))
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        let v: u32 = self.scalar("char")?;
        let c = char::from_u32(v).ok_or_else(|| Error::Custom(format!("{v:#x} is not a char")))?;
        visitor.visit_char(c)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.blob()? {
            None => visitor.visit_borrowed_str(""),
            Some(bytes) => {
                let offset = bytes.as_ptr() as usize - self.msg.as_ptr() as usize;
                let s = std::str::from_utf8(bytes).map_err(|_| Error::InvalidUtf8 { offset })?;
                visitor.visit_borrowed_str(s)
            }
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_borrowed_bytes(self.blob()?.unwrap_or_default())
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_bytes(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        if self.in_option {
            return Err(Error::Unsupported("nested options".into()));
        }
        // Peek at the slot without consuming it: the inner value reads it.
        let msg = self.msg;
        let r = *self.top()?;
        let at = align_up(r.cursor, SLOT_ALIGN);
        let null = match r.base {
            None => true,
            Some(base) => {
                object::resolve(msg, object::slot_pos(msg, base, at, POINTER_SLOT)?)?.is_none()
            }
        };
        if null {
            let r = self.top()?;
            r.cursor = at + POINTER_SLOT;
            return visitor.visit_none();
        }
        self.in_option = true;
        let v = visitor.visit_some(&mut *self)?;
        if self.in_option {
            self.in_option = false;
            return Err(Error::Unsupported(
                "Option of a value that is not text, bytes, a list or a struct".into(),
            ));
        }
        Ok(v)
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.no_option("()")?;
        visitor.visit_unit()
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value> {
        self.no_option(name)?;
        visitor.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        let count = self.enter_list()?;
        let v = visitor.visit_seq(Sequence {
            de: &mut *self,
            left: count as usize,
        })?;
        self.leave(Leave::Pop)?;
        Ok(v)
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value> {
        self.no_option("a tuple")?;
        self.top()?;
        visitor.visit_seq(Sequence {
            de: self,
            left: len,
        })
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value> {
        let how = self.enter_struct()?;
        let v = visitor.visit_seq(Sequence {
            de: &mut *self,
            left: len,
        })?;
        self.leave(how)?;
        Ok(v)
    }

    fn deserialize_map<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value> {
        Err(Error::Unsupported("maps".into()))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        let how = self.enter_struct()?;
        let v = visitor.visit_seq(Sequence {
            de: &mut *self,
            left: fields.len(),
        })?;
        self.leave(how)?;
        Ok(v)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        let index: u32 = self.scalar(name)?;
        if index as usize >= variants.len() {
            return Err(Error::Custom(format!(
                "variant index {index} of {name} is out of range"
            )));
        }
        visitor.visit_enum(UnitVariant(index))
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value> {
        Err(Error::Unsupported(
            "field identifiers (structs are positional)".into(),
        ))
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value> {
        Err(Error::Unsupported(
            "ignored values (ZAP is not self-describing)".into(),
        ))
    }

    fn is_human_readable(&self) -> bool {
        false
    }
}
