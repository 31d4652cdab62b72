//! Property tests: what the builder writes the reader reads back, and no input, random
//! or mutated from a valid message, makes any decoder panic.

use bytes::BytesMut;
use proptest::prelude::*;
use serde::{Deserialize, Serialize};
use tokio_util::codec::Decoder;
use zap_wire::codec::{NodeCodec, TypedCodec};
use zap_wire::{Builder, Message, exercise};

/// One field of a generated object.
#[derive(Debug, Clone)]
enum Field {
    U8(u8),
    U32(u32),
    U64(u64),
    F64(f64),
    Text(String),
    Bytes(Vec<u8>),
    List(Vec<u32>),
    Child(u32),
}

impl Field {
    fn width(&self) -> usize {
        match self {
            Field::U8(_) => 1,
            Field::U32(_) | Field::Child(_) => 4,
            _ => 8,
        }
    }
}

fn field() -> impl Strategy<Value = Field> {
    prop_oneof![
        any::<u8>().prop_map(Field::U8),
        any::<u32>().prop_map(Field::U32),
        any::<u64>().prop_map(Field::U64),
        any::<f64>()
            .prop_filter("NaN never compares equal", |f| !f.is_nan())
            .prop_map(Field::F64),
        ".{0,40}".prop_map(Field::Text),
        proptest::collection::vec(any::<u8>(), 0..64).prop_map(Field::Bytes),
        proptest::collection::vec(any::<u32>(), 0..32).prop_map(Field::List),
        any::<u32>().prop_map(Field::Child),
    ]
}

/// Builds a root object holding `fields` at 8-byte-aligned offsets (children and lists
/// first, bottom-up) and returns the bytes and each field's offset.
fn build(fields: &[Field], version: zap_wire::Version, flags: u16) -> (Vec<u8>, Vec<usize>) {
    let mut b = Builder::new().with_version(version);
    let mut lists = Vec::new();
    let mut children = Vec::new();
    for f in fields {
        match f {
            Field::List(v) => {
                let mut l = b.list();
                for x in v {
                    l.push_u32(*x);
                }
                lists.push(l.finish());
            }
            Field::Child(v) => {
                let mut o = b.object(8);
                o.set_u32(0, *v);
                children.push(o.finish());
            }
            _ => {}
        }
    }
    let offsets: Vec<usize> = (0..fields.len()).map(|i| i * 8).collect();
    let mut root = b.object(fields.len() * 8);
    let (mut li, mut ci) = (0, 0);
    for (f, &off) in fields.iter().zip(&offsets) {
        assert!(f.width() <= 8);
        match f {
            Field::U8(v) => root.set_u8(off, *v),
            Field::U32(v) => root.set_u32(off, *v),
            Field::U64(v) => root.set_u64(off, *v),
            Field::F64(v) => root.set_f64(off, *v),
            Field::Text(s) => root.set_text(off, s),
            Field::Bytes(v) => root.set_bytes(off, v),
            Field::List(_) => {
                root.set_list(off, lists[li]);
                li += 1;
            }
            Field::Child(_) => {
                root.set_object(off, children[ci]);
                ci += 1;
            }
        }
    }
    root.finish_root();
    (b.to_vec(flags).unwrap(), offsets)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Inner {
    id: u64,
    label: String,
    weights: Vec<u16>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Outer {
    flag: bool,
    small: i8,
    count: u32,
    name: String,
    #[serde(with = "serde_bytes_compat")]
    blob: Vec<u8>,
    ratio: f64,
    inner: Inner,
    many: Vec<Inner>,
    maybe_text: Option<String>,
    maybe_inner: Option<Inner>,
    words: Vec<String>,
    pair: (u8, u64),
    hash: [u8; 4],
    kind: Kind,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
enum Kind {
    A,
    B,
    C,
}

/// `Vec<u8>` as a ZAP bytes field rather than a list of u8 (what serde_bytes does).
mod serde_bytes_compat {
    use serde::{Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E>(self, v: &[u8]) -> Result<Vec<u8>, E> {
                Ok(v.to_vec())
            }
        }
        d.deserialize_bytes(V)
    }
}

fn inner() -> impl Strategy<Value = Inner> {
    (
        any::<u64>(),
        ".{0,12}",
        proptest::collection::vec(any::<u16>(), 0..6),
    )
        .prop_map(|(id, label, weights)| Inner { id, label, weights })
}

fn outer() -> impl Strategy<Value = Outer> {
    (
        (any::<bool>(), any::<i8>(), any::<u32>(), ".{0,16}"),
        proptest::collection::vec(any::<u8>(), 0..24),
        any::<f64>().prop_filter("NaN", |f| !f.is_nan()),
        inner(),
        proptest::collection::vec(inner(), 0..4),
        proptest::option::of(".{1,8}"),
        proptest::option::of(inner()),
        proptest::collection::vec(".{1,6}", 0..4),
        (any::<u8>(), any::<u64>()),
        any::<[u8; 4]>(),
        prop_oneof![Just(Kind::A), Just(Kind::B), Just(Kind::C)],
    )
        .prop_map(
            |(
                (flag, small, count, name),
                blob,
                ratio,
                inner,
                many,
                maybe_text,
                maybe_inner,
                words,
                pair,
                hash,
                kind,
            )| Outer {
                flag,
                small,
                count,
                name,
                blob,
                ratio,
                inner,
                many,
                maybe_text,
                maybe_inner,
                words,
                pair,
                hash,
                kind,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn builder_output_reads_back(
        fields in proptest::collection::vec(field(), 0..12),
        v2 in any::<bool>(),
        flags in any::<u16>(),
    ) {
        let version = if v2 { zap_wire::Version::V2 } else { zap_wire::Version::V1 };
        let (bytes, offsets) = build(&fields, version, flags);
        let msg = Message::parse_exact(&bytes).unwrap();
        prop_assert_eq!(msg.version(), version);
        prop_assert_eq!(msg.flags(), flags);
        let root = msg.root().unwrap();
        for (f, &off) in fields.iter().zip(&offsets) {
            match f {
                Field::U8(v) => prop_assert_eq!(root.u8(off).unwrap(), *v),
                Field::U32(v) => prop_assert_eq!(root.u32(off).unwrap(), *v),
                Field::U64(v) => prop_assert_eq!(root.u64(off).unwrap(), *v),
                Field::F64(v) => prop_assert_eq!(root.f64(off).unwrap(), *v),
                Field::Text(s) => {
                    // The empty string is written as null, as in Go.
                    let got = root.text(off).unwrap();
                    prop_assert_eq!(got.unwrap_or(""), s.as_str());
                    prop_assert_eq!(got.is_none(), s.is_empty());
                }
                Field::Bytes(v) => prop_assert_eq!(root.bytes(off).unwrap().unwrap_or_default(), &v[..]),
                Field::List(v) => {
                    let got: Vec<u32> = match root.list(off).unwrap() {
                        Some(l) => l.iter::<u32>().unwrap().collect(),
                        None => Vec::new(),
                    };
                    prop_assert_eq!(&got, v);
                }
                Field::Child(v) => {
                    prop_assert_eq!(root.object(off).unwrap().unwrap().u32(0).unwrap(), *v);
                }
            }
        }
    }

    #[test]
    fn serde_round_trips(value in outer(), flags in any::<u16>()) {
        let bytes = zap_wire::to_vec_with(&value, flags, zap_wire::Version::V1).unwrap();
        let back: Outer = zap_wire::from_slice(&bytes).unwrap();
        prop_assert_eq!(back, value);
    }

    #[test]
    fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        exercise::message(&data);
        exercise::node_frames(&data);
        exercise::typed_frames(&data);
        exercise::be_fields(&data);
        let _ = zap_wire::from_slice::<Outer>(&data);
        let mut buf = BytesMut::from(&data[..]);
        while let Ok(Some(_)) = NodeCodec::new().decode(&mut buf) {}
        let mut buf = BytesMut::from(&data[..]);
        while let Ok(Some(_)) = TypedCodec::new().decode(&mut buf) {}
    }

    #[test]
    fn mutated_messages_never_panic(
        value in outer(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = zap_wire::to_vec(&value).unwrap();
        for (at, b) in &edits {
            let i = at.index(bytes.len());
            bytes[i] = *b;
        }
        exercise::message(&bytes);
        let _ = zap_wire::from_slice::<Outer>(&bytes);
        // Truncations must fail cleanly too.
        let short = &bytes[..cut.index(bytes.len())];
        exercise::message(short);
        let _ = zap_wire::from_slice::<Outer>(short);
    }

    #[test]
    fn mutated_pointers_never_panic(
        fields in proptest::collection::vec(field(), 1..8),
        slot in any::<prop::sample::Index>(),
        value in prop_oneof![Just(i32::MIN), Just(-16), Just(-1), Just(1), Just(i32::MAX), any::<i32>()],
        count in prop_oneof![Just(u32::MAX), Just(1 << 20), any::<u32>()],
    ) {
        // Aim the edits at pointer slots rather than random bytes.
        let (mut bytes, offsets) = build(&fields, zap_wire::Version::V1, 0);
        let root = Message::parse(&bytes).unwrap().root_offset() as usize;
        let at = root + offsets[slot.index(offsets.len())];
        bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
        if at + 8 <= bytes.len() {
            bytes[at + 4..at + 8].copy_from_slice(&count.to_le_bytes());
        }
        exercise::message(&bytes);
    }
}
