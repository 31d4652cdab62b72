//! The serde mapping lays structs out as Go's `StructBuilder` does, so a struct built in
//! Go from a `Schema` reads in Rust and back; what the format cannot express is refused.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use zap_wire::{Builder, Error, Message};

/// The README example of luxfi/zap: Person{id u32, name text, age i32, active bool,
/// tags list}, which the Go `StructBuilder` places at offsets 0, 4, 12, 16, 20, size 32.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Person {
    id: u32,
    name: String,
    age: i32,
    active: bool,
    tags: Vec<u32>,
}

#[test]
fn a_struct_built_the_go_way_decodes() {
    let mut b = Builder::new();
    let mut tags = b.list();
    tags.push_u32(3);
    tags.push_u32(5);
    let tags = tags.finish();
    let mut p = b.object(32);
    p.set_u32(0, 7);
    p.set_text(4, "Grace");
    p.set_i32(12, -40);
    p.set_bool(16, true);
    p.set_list(20, tags);
    p.finish_root();
    let bytes = b.to_vec(0).unwrap();

    let person: Person = zap_wire::from_slice(&bytes).unwrap();
    assert_eq!(
        person,
        Person {
            id: 7,
            name: "Grace".into(),
            age: -40,
            active: true,
            tags: vec![3, 5],
        }
    );
}

#[test]
fn a_serialized_struct_reads_at_the_go_offsets() {
    let p = Person {
        id: 1,
        name: "Ada".into(),
        age: 36,
        active: true,
        tags: vec![7, 9, 11],
    };
    let bytes = zap_wire::to_vec(&p).unwrap();
    let msg = Message::parse_exact(&bytes).unwrap();
    let root = msg.root().unwrap();
    assert_eq!(root.u32(0).unwrap(), 1);
    assert_eq!(root.text(4).unwrap(), Some("Ada"));
    assert_eq!(root.i32(12).unwrap(), 36);
    assert!(root.bool(16).unwrap());
    let tags = root.list(20).unwrap().unwrap();
    assert_eq!(tags.iter::<u32>().unwrap().collect::<Vec<_>>(), [7, 9, 11]);
    // The fixed section is rounded to 32 and the text follows it, as Go writes it.
    assert_eq!(root.raw(32, 3).unwrap(), b"Ada");
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Order {
    qty: u64,
    side: u8,
    /// 64-bit fields align to 8: after `side` at 8 comes padding to 16.
    price: f64,
    owner: Person,
    legs: Vec<Leg>,
    /// An EVM address: 20 raw bytes inline, no alignment.
    address: [u8; 20],
    note: Option<String>,
    parent: Option<Box<Order>>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Leg {
    venue: String,
    qty: u32,
}

#[test]
fn nested_structs_lists_of_structs_and_options() {
    let order = Order {
        qty: 10,
        side: 1,
        price: 101.25,
        owner: Person {
            id: 2,
            name: "Lin".into(),
            age: 50,
            active: false,
            tags: vec![],
        },
        legs: vec![
            Leg {
                venue: "x".into(),
                qty: 4,
            },
            Leg {
                venue: "yy".into(),
                qty: 6,
            },
        ],
        address: [0xaa; 20],
        note: None,
        parent: Some(Box::new(Order {
            qty: 1,
            side: 0,
            price: 0.5,
            owner: Person {
                id: 3,
                name: String::new(),
                age: 0,
                active: true,
                tags: vec![1],
            },
            legs: vec![],
            address: [0; 20],
            note: Some("first".into()),
            parent: None,
        })),
    };
    let bytes = zap_wire::to_vec(&order).unwrap();
    let back: Order = zap_wire::from_slice(&bytes).unwrap();
    assert_eq!(back, order);

    // The layout, read with the plain reader at the offsets the rules give:
    // qty u64@0, side u8@8, price f64@16, owner ptr@24, legs list@28, address@36,
    // note opt@56 (8-byte slot), parent opt@64; size 72.
    let root = Message::parse(&bytes).unwrap().root().unwrap();
    assert_eq!(root.u64(0).unwrap(), 10);
    assert_eq!(root.u8(8).unwrap(), 1);
    assert_eq!(root.f64(16).unwrap(), 101.25);
    assert_eq!(
        root.object(24).unwrap().unwrap().text(4).unwrap(),
        Some("Lin")
    );
    let legs = root.list(28).unwrap().unwrap();
    assert_eq!(legs.len(), 2);
    // Inline struct elements of 16 bytes (venue ptr 8, qty 4, padded to 16).
    assert_eq!(legs.object(1, 16).unwrap().text(0).unwrap(), Some("yy"));
    assert_eq!(legs.object(1, 16).unwrap().u32(8).unwrap(), 6);
    assert_eq!(root.fixed::<20>(36).unwrap(), &[0xaa; 20]);
    assert_eq!(root.text(56).unwrap(), None);
    // An option of a struct is a struct pointer in an 8-byte slot.
    let parent = root.object(64).unwrap().unwrap();
    assert_eq!(parent.u64(0).unwrap(), 1);
    assert_eq!(parent.text(56).unwrap(), Some("first"));
}

#[test]
fn empty_values_come_back_as_go_writes_them() {
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct S {
        a: Option<String>,
        b: Vec<u8>,
        c: String,
    }
    let s = S {
        a: Some(String::new()),
        b: vec![],
        c: String::new(),
    };
    let back: S = zap_wire::from_slice(&zap_wire::to_vec(&s).unwrap()).unwrap();
    // Empty text is written as null, so `Some("")` reads back as `None`.
    assert_eq!(
        back,
        S {
            a: None,
            b: vec![],
            c: String::new()
        }
    );
}

#[test]
fn borrowed_text_and_bytes_are_zero_copy() {
    #[derive(Serialize, Deserialize)]
    struct View<'a> {
        #[serde(borrow)]
        name: &'a str,
        #[serde(borrow)]
        raw: &'a [u8],
    }
    let bytes = zap_wire::to_vec(&View {
        name: "borrowed",
        raw: b"raw bytes",
    })
    .unwrap();
    let v: View<'_> = zap_wire::from_slice(&bytes).unwrap();
    assert_eq!(v.name, "borrowed");
    assert_eq!(v.raw, b"raw bytes");
    let range = bytes.as_ptr_range();
    assert!(
        range.contains(&v.name.as_ptr()),
        "the str points into the message"
    );
}

#[test]
fn what_the_format_cannot_express_is_refused() {
    #[derive(Serialize, Deserialize)]
    struct WithMap {
        m: BTreeMap<String, u32>,
    }
    #[derive(Serialize, Deserialize)]
    struct OptScalar {
        x: Option<u32>,
    }
    #[derive(Serialize, Deserialize)]
    enum Data {
        A(u32),
    }
    #[derive(Serialize, Deserialize)]
    struct WithData {
        d: Data,
    }
    let unsupported = |r: Result<Vec<u8>, Error>| {
        assert!(matches!(r, Err(Error::Unsupported(_))), "{r:?}");
    };
    unsupported(zap_wire::to_vec(&WithMap { m: BTreeMap::new() }));
    unsupported(zap_wire::to_vec(&OptScalar { x: Some(1) }));
    unsupported(zap_wire::to_vec(&WithData { d: Data::A(1) }));
    unsupported(zap_wire::to_vec(&5u32));
    unsupported(zap_wire::to_vec("text"));
    unsupported(zap_wire::to_vec(&[1u8, 2]));
}

#[test]
fn hostile_layouts_are_errors() {
    #[derive(Debug, Serialize, Deserialize)]
    struct Node {
        value: u32,
        next: Option<Box<Node>>,
    }
    // A node whose `next` points at itself: a cycle. The depth limit ends it.
    let mut b = Builder::new();
    let mut n = b.object(16);
    n.set_u32(0, 1);
    let me = n.offset();
    n.set_object(4, me);
    n.finish_root();
    let bytes = b.to_vec(0).unwrap();
    assert!(matches!(
        zap_wire::from_slice::<Node>(&bytes),
        Err(Error::TooDeep { .. })
    ));

    // A list that claims far more elements than the message holds.
    let mut b = Builder::new();
    let mut o = b.object(32);
    o.set_u32(0, 1);
    o.set_list(20, zap_wire::ListRef { offset: 16, len: 1 });
    o.finish_root();
    let mut bytes = b.to_vec(0).unwrap();
    let root = Message::parse(&bytes).unwrap().root_offset() as usize;
    bytes[root + 24..root + 28].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(
        zap_wire::from_slice::<Person>(&bytes),
        Err(Error::ListTooLong { .. })
    ));

    // Text that is not UTF-8.
    let mut b = Builder::new();
    let mut o = b.object(32);
    o.set_bytes(4, &[0xff, 0xfe]);
    o.finish_root();
    let bytes = b.to_vec(0).unwrap();
    assert!(matches!(
        zap_wire::from_slice::<Person>(&bytes),
        Err(Error::InvalidUtf8 { .. })
    ));

    // No root at all.
    let bytes = Builder::new().to_vec(0).unwrap();
    assert!(zap_wire::from_slice::<Person>(&bytes).is_err());
}

#[test]
fn a_null_nested_struct_reads_as_defaults_like_go() {
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Wrapper {
        n: u32,
        person: Person,
    }
    let mut b = Builder::new();
    let mut o = b.object(8);
    o.set_u32(0, 5);
    o.set_object(4, zap_wire::ObjectRef::NULL);
    o.finish_root();
    let w: Wrapper = zap_wire::from_slice(&b.to_vec(0).unwrap()).unwrap();
    assert_eq!(w.n, 5);
    assert_eq!(
        w.person,
        Person {
            id: 0,
            name: String::new(),
            age: 0,
            active: false,
            tags: vec![]
        }
    );
}
