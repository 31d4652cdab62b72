//! Rust structs as ZAP objects, laid out as Go's `StructBuilder` lays out a schema, and
//! read back zero-copy.
//!
//! `cargo run -p zap-wire --example serde_struct --features serde`
#![allow(clippy::print_stdout)]

use serde::{Deserialize, Serialize};

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Person<'a> {
    id: u32,
    name: &'a str,
    age: i32,
    active: bool,
    tags: Vec<u32>,
}

fn main() -> Result<(), zap_wire::Error> {
    let ada = Person {
        id: 1,
        name: "Ada",
        age: 36,
        active: true,
        tags: vec![7, 9],
    };
    let bytes = zap_wire::to_vec(&ada)?;
    println!("{} bytes", bytes.len());

    // The same bytes through the plain reader, at the offsets a Go schema gives:
    // id@0, name@4, age@12, active@16, tags@20, size 32.
    let root = zap_wire::Message::parse(&bytes)?
        .root()
        .ok_or(zap_wire::Error::MalformedFrame("no root"))?;
    println!("name at offset 4: {:?}", root.text(4)?);

    let back: Person<'_> = zap_wire::from_slice(&bytes)?;
    println!("{back:?}");
    assert_eq!(back, ada);
    Ok(())
}
