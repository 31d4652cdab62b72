//! TXT records and the other text a peer controls: decoding never panics.
//!
//! The input is read as RFC 6763 TXT RDATA (length-prefixed strings, each `key=value`),
//! and as a whole as a peer spec, a service type, a metadata argument and an instance name.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zap_discovery::mdns::records::{decode_txt, instance_label};
use zap_discovery::{Peer, ServiceType, parse_metadata_arg};

fuzz_target!(|data: &[u8]| {
    let mut strings = Vec::new();
    let mut rest = data;
    while let Some((&len, tail)) = rest.split_first() {
        let take = usize::from(len).min(tail.len());
        strings.push(&tail[..take]);
        rest = &tail[take..];
    }
    let entries: Vec<(&str, Option<&[u8]>)> = strings
        .iter()
        .filter_map(|s| {
            let (key, value) = match s.iter().position(|&b| b == b'=') {
                Some(i) => (&s[..i], Some(&s[i + 1..])),
                None => (&s[..], None),
            };
            std::str::from_utf8(key).ok().map(|k| (k, value))
        })
        .collect();
    let info = decode_txt(entries.iter().copied());
    assert!(info.metadata.len() + info.skipped <= entries.len());

    let text = String::from_utf8_lossy(data);
    let _ = text.parse::<Peer>();
    let _ = ServiceType::new(&text);
    let _ = parse_metadata_arg(&text);
    let _ = instance_label(&text, "_luxd._tcp.local.");
});
