//! Property tests for the transport layer's decoders: the QUIC stream checks, the address
//! parser and (with `tls`) the certificate reader never panic on random or mutated input,
//! and what they accept is what they should.

mod support;

use std::net::SocketAddr;

use bytes::Bytes;
use proptest::prelude::*;
use zap_rpc::frame::Frame;
use zap_rpc::stream::{self, StreamKind};
use zap_rpc::transport::{Scheme, TransportAddr};

fn addr() -> impl Strategy<Value = TransportAddr> {
    let sock = (
        any::<[u8; 4]>(),
        any::<[u16; 8]>(),
        any::<u16>(),
        any::<bool>(),
    )
        .prop_map(|(v4, v6, port, six)| {
            if six {
                SocketAddr::from((v6, port))
            } else {
                SocketAddr::from((v4, port))
            }
        });
    prop_oneof![
        sock.clone().prop_map(TransportAddr::Tcp),
        sock.clone().prop_map(TransportAddr::Tls),
        sock.prop_map(TransportAddr::Quic),
        "/[a-zA-Z0-9._/-]{1,60}".prop_map(|p| TransportAddr::Unix(p.into())),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn stream_checks_never_panic(payload in prop::collection::vec(any::<u8>(), 0..128), id in any::<u32>()) {
        let p = Bytes::from(payload);
        for go in [false, true] {
            let _ = stream::check_request(&p, go, StreamKind::Call);
            let _ = stream::check_request(&p, go, StreamKind::Send);
            let _ = stream::check_answer(&p, go, id);
            let _ = stream::check_control(&p, go);
        }
    }

    #[test]
    fn a_call_stream_takes_exactly_calls_and_requests(id in any::<u32>(), kind in 0u32..16, tail in prop::collection::vec(any::<u8>(), 8..40)) {
        let mut p = id.to_le_bytes().to_vec();
        p.extend_from_slice(&kind.to_le_bytes());
        p.extend_from_slice(&tail);
        let p = Bytes::from(p);
        let accepted = stream::check_request(&p, false, StreamKind::Call);
        match Frame::decode_rust(p) {
            Ok(Frame::Call { id: got, .. } | Frame::Request { id: got, .. }) => {
                prop_assert_eq!(accepted, Ok(Some(got)))
            }
            _ => prop_assert!(accepted.is_err()),
        }
    }

    #[test]
    fn addresses_print_and_parse_back(a in addr()) {
        let text = a.to_string();
        let back: TransportAddr = text.parse().unwrap();
        prop_assert_eq!(back.scheme(), a.scheme());
        prop_assert_eq!(back, a);
    }

    #[test]
    fn random_address_text_never_panics(s in ".{0,80}", scheme in prop::sample::select(vec!["", "zap://", "zaps://", "zapq://", "unix:", "unix://"])) {
        if let Ok(a) = format!("{scheme}{s}").parse::<TransportAddr>() {
            prop_assert!(scheme.is_empty() || a.scheme() != Scheme::Tcp || scheme == "zap://");
        }
    }
}

#[cfg(feature = "tls")]
mod certificates {
    use proptest::prelude::*;
    use zap_rpc::PeerCertificate;

    use crate::support::pki::Ca;

    /// One real certificate, made once.
    fn real() -> Vec<u8> {
        static DER: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
        DER.get_or_init(|| {
            let ca = Ca::new("prop CA");
            ca.leaf("node", &["node.test", "spiffe://c/n", "10.0.0.1"])
                .der
                .to_vec()
        })
        .clone()
    }

    #[test]
    fn a_real_certificate_reads_back_its_names() {
        let c = PeerCertificate::from_der(&real()).unwrap();
        assert_eq!(c.common_name.as_deref(), Some("node"));
        assert_eq!(c.dns_names, ["node.test"]);
        assert_eq!(c.uris, ["spiffe://c/n"]);
        assert_eq!(
            c.ip_addresses,
            ["10.0.0.1".parse::<std::net::IpAddr>().unwrap()]
        );
        assert!(c.not_after.is_some());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        #[test]
        fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
            let _ = PeerCertificate::from_der(&bytes);
        }

        #[test]
        fn mutated_certificates_never_panic(flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8), cut in any::<prop::sample::Index>()) {
            let mut der = real();
            for (at, byte) in flips {
                let i = at.index(der.len());
                der[i] ^= byte;
            }
            let keep = cut.index(der.len() + 1);
            let _ = PeerCertificate::from_der(&der);
            let _ = PeerCertificate::from_der(&der[..keep]);
        }
    }
}
