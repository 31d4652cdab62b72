//! Build a message bottom-up, frame it as a call request, decode the frame and read the
//! fields back in place.
//!
//! `cargo run -p zap-wire --example build_and_read --features codec`
#![allow(clippy::print_stdout)]

use bytes::BytesMut;
use tokio_util::codec::{Decoder, Encoder};
use zap_wire::codec::{NodeCodec, NodeFrame};
use zap_wire::{Builder, Message, ProcedureId};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Children first: a list of order ids, then the root that points at it.
    let mut b = Builder::new();
    let mut ids = b.list();
    for id in [1001u64, 1002, 1003] {
        ids.push_u64(id);
    }
    let ids = ids.finish();
    let mut root = b.object(32);
    root.set_u32(0, 3);
    root.set_text(8, "batch from the example");
    root.set_list(16, ids);
    root.finish_root();

    // The message type Go's zapclient would route a "GetOrders" call on.
    let procedure = ProcedureId::new("GetOrders")?;
    let message = b.to_vec(procedure.opcode())?;
    println!(
        "built {} bytes, flags {:#06x} (message type {})",
        message.len(),
        procedure.opcode(),
        procedure.msg_type()
    );

    let mut codec = NodeCodec::new();
    let mut wire = BytesMut::new();
    codec.encode(NodeFrame::request(1, message), &mut wire)?;
    println!("framed as {} bytes: {}", wire.len(), hex_prefix(&wire));

    let frame = codec
        .decode(&mut wire)?
        .ok_or("a whole frame was written")?;
    let msg = Message::parse(&frame.message)?;
    let root = msg.root().ok_or("the message has a root")?;
    let ids: Vec<u64> = root
        .list(16)?
        .map(|l| l.iter::<u64>().map(Iterator::collect))
        .transpose()?
        .unwrap_or_default();
    println!(
        "{} #{}: count={} note={:?} ids={ids:?}",
        frame.kind.as_str(),
        frame.request_id,
        root.u32(0)?,
        root.text(8)?.unwrap_or_default()
    );
    assert_eq!(ids, [1001, 1002, 1003]);
    Ok(())
}

fn hex_prefix(bytes: &[u8]) -> String {
    let shown: String = bytes.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("{shown}…")
}
