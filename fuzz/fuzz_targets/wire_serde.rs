//! Any bytes, decoded through the serde mapping into a struct that uses every kind the
//! mapping supports; whatever decodes must encode again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
struct Leaf {
    id: u64,
    label: String,
    weights: Vec<u16>,
}

#[derive(Debug, Serialize, Deserialize)]
enum Kind {
    A,
    B,
}

#[derive(Debug, Serialize, Deserialize)]
struct Tree {
    flag: bool,
    small: i8,
    count: u32,
    name: String,
    ratio: f64,
    leaf: Leaf,
    leaves: Vec<Leaf>,
    note: Option<String>,
    next: Option<Box<Tree>>,
    words: Vec<String>,
    pair: (u8, u64),
    hash: [u8; 4],
    kind: Kind,
}

fuzz_target!(|data: &[u8]| {
    if let Ok(tree) = zap_wire::from_slice::<Tree>(data) {
        let _ = zap_wire::to_vec(&tree);
    }
});
