//! Property tests: decoders never panic, whatever arrives; encoders round-trip.

use proptest::prelude::*;
use zap_discovery::{Peer, ServiceType, parse_metadata_arg};

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn peer_parsing_never_panics(s in "\\PC{0,80}") {
        let _ = s.parse::<Peer>();
    }

    #[test]
    fn peer_display_round_trips(
        id in "[a-zA-Z0-9._-]{1,40}",
        a in any::<[u8; 4]>(),
        port in 1u16..,
    ) {
        let text = format!("{id}@{}.{}.{}.{}:{port}", a[0], a[1], a[2], a[3]);
        let peer: Peer = text.parse().unwrap();
        prop_assert_eq!(peer.to_string(), text);
    }

    #[test]
    fn service_type_parsing_never_panics(s in "\\PC{0,40}") {
        if let Ok(st) = ServiceType::new(&s) {
            // Whatever parses, parses again from its own output to the same thing.
            prop_assert_eq!(ServiceType::new(st.as_str()).unwrap(), st.clone());
            prop_assert_eq!(ServiceType::new(&st.fqdn()).unwrap(), st);
        }
    }

    #[test]
    fn metadata_args_never_panic(s in "\\PC{0,300}") {
        let _ = parse_metadata_arg(&s);
    }
}

#[cfg(feature = "mdns")]
mod mdns {
    use hickory_proto::op::{Message, OpCode};
    use hickory_proto::rr::rdata::{PTR, SRV, TXT};
    use hickory_proto::rr::{Name, RData, Record};
    use proptest::prelude::*;
    use zap_discovery::Metadata;
    use zap_discovery::mdns::records::{Sighting, decode_txt, encode_txt, scan_response};

    const SERVICE: &str = "_luxd._tcp.local.";

    /// A realistic announcement or goodbye packet to mutate.
    fn packet(instance: &str, ttl: u32) -> Vec<u8> {
        let service = Name::from_ascii(SERVICE).unwrap();
        let inst = Name::from_labels([instance, "_luxd", "_tcp", "local"]).unwrap();
        let mut msg = Message::response(0, OpCode::Query);
        msg.metadata.authoritative = true;
        msg.answers = vec![
            Record::from_rdata(service, ttl, RData::PTR(PTR(inst.clone()))),
            Record::from_rdata(
                inst.clone(),
                ttl,
                RData::SRV(SRV::new(0, 0, 9999, Name::from_ascii("h.local.").unwrap())),
            ),
            Record::from_rdata(
                inst,
                ttl,
                RData::TXT(TXT::new(vec![format!("id={instance}")])),
            ),
        ];
        msg.to_vec().unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn random_packets_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1500)) {
            let _ = scan_response(&bytes, SERVICE);
        }

        #[test]
        fn mutated_packets_never_panic(
            instance in "[a-z0-9]([a-z0-9-]{0,18}[a-z0-9])?",
            flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
            cut in any::<usize>(),
        ) {
            let mut bytes = packet(&instance, 120);
            for (at, val) in flips {
                let i = at % bytes.len();
                bytes[i] = val;
            }
            bytes.truncate(cut % (bytes.len() + 1));
            let _ = scan_response(&bytes, SERVICE);
        }

        #[test]
        fn announcements_and_goodbyes_are_told_apart(instance in "[a-z0-9]([a-z0-9-]{0,18}[a-z0-9])?") {
            let seen = scan_response(&packet(&instance, 120), SERVICE).unwrap();
            prop_assert!(seen.contains(&Sighting::Alive(instance.clone())));
            let gone = scan_response(&packet(&instance, 0), SERVICE).unwrap();
            prop_assert!(gone.iter().all(|s| *s == Sighting::Goodbye(instance.clone())));
            prop_assert!(!gone.is_empty());
        }

        #[test]
        fn txt_decoding_never_panics(
            entries in proptest::collection::vec(
                ("\\PC{0,12}", proptest::option::of(proptest::collection::vec(any::<u8>(), 0..300))),
                0..8,
            )
        ) {
            let info = decode_txt(entries.iter().map(|(k, v)| (k.as_str(), v.as_deref())));
            prop_assert!(info.metadata.len() + info.skipped + usize::from(info.node_id.is_some()) <= entries.len());
        }

        #[test]
        fn txt_round_trips(
            id in "[a-zA-Z0-9._-]{1,63}",
            meta in proptest::collection::btree_map("[a-z][a-z0-9_.-]{0,15}", "\\PC{0,24}", 0..6),
        ) {
            let meta: Metadata = meta.into_iter().filter(|(k, _)| !k.eq_ignore_ascii_case("id")).collect();
            let entries = encode_txt(&id, &meta).unwrap();
            let info = decode_txt(entries.iter().map(|(k, v)| (k.as_str(), Some(v.as_bytes()))));
            prop_assert_eq!(info.node_id.as_deref(), Some(id.as_str()));
            prop_assert_eq!(info.metadata, meta);
        }
    }
}
