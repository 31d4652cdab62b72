//! Interoperability with an independent implementation: messages and records made by
//! tests/data/gen_vectors.py (Python `cryptography`, OpenSSL's ML-KEM and ML-DSA),
//! written from the protocol description. The same bytes a Go peer would send.

use std::sync::Arc;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt, duplex};
use zap_zwing::sizes::{HANDSHAKE_INIT_LEN, HANDSHAKE_RESPONSE_LEN};
use zap_zwing::wire::frame_header;
use zap_zwing::{
    Config, Error, IDENTITY_SEED_LEN, Identity, Initiator, VerifiedInit, accept, connect,
};

fn vectors() -> Value {
    let text = include_str!("data/zwing-vectors.json");
    serde_json::from_str(text).expect("valid vector file")
}

fn bytes(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().expect("hex string")).expect("hex")
}

fn identity(v: &Value) -> Identity {
    let seed: [u8; IDENTITY_SEED_LEN] = bytes(&v["seed"]).try_into().expect("160-byte seed");
    Identity::from_seed(&seed).expect("identity")
}

fn frame(payload: &[u8]) -> Vec<u8> {
    let mut out = frame_header(payload.len()).unwrap().to_vec();
    out.extend_from_slice(payload);
    out
}

#[test]
fn seeds_give_the_same_public_identities_as_openssl() {
    let v = vectors();
    for who in ["initiator", "responder"] {
        let id = identity(&v[who]);
        assert_eq!(
            id.public().as_bytes()[..],
            bytes(&v[who]["public"])[..],
            "{who}"
        );
    }
}

#[test]
fn a_foreign_handshake_init_verifies() {
    let v = vectors();
    let init = bytes(&v["handshake_init"]);
    assert_eq!(init.len(), HANDSHAKE_INIT_LEN);
    let verified = VerifiedInit::verify(&init).expect("foreign HandshakeInit verifies");
    assert_eq!(
        verified.remote_identity(),
        identity(&v["initiator"]).public()
    );
}

#[tokio::test]
async fn a_foreign_response_and_records_are_understood_byte_for_byte() {
    let v = vectors();
    let initiator = Arc::new(identity(&v["initiator"]));
    let response = bytes(&v["handshake_response"]);
    assert_eq!(response.len(), HANDSHAKE_RESPONSE_LEN);

    let established = Initiator::new(initiator)
        .unwrap()
        .finish(&response)
        .expect("foreign HandshakeResponse accepted");
    assert_eq!(
        established.remote_identity(),
        identity(&v["responder"]).public()
    );

    let (ours, mut theirs) = duplex(1 << 20);
    let mut stream = established.into_stream(ours);

    // Records from the responder, including an empty one, decrypt to its plaintexts.
    for r in v["records_r2i"].as_array().unwrap() {
        theirs.write_all(&bytes(&r["frame"])).await.unwrap();
    }
    for r in v["records_r2i"].as_array().unwrap() {
        let want = bytes(&r["plaintext"]);
        let mut got = vec![0u8; want.len()];
        stream.read_exact(&mut got).await.unwrap();
        assert_eq!(got, want);
    }

    // Our records are byte-identical to the other implementation's.
    for r in v["records_i2r"].as_array().unwrap() {
        stream.write_all(&bytes(&r["plaintext"])).await.unwrap();
        stream.flush().await.unwrap();
        let want = bytes(&r["frame"]);
        let mut got = vec![0u8; want.len()];
        theirs.read_exact(&mut got).await.unwrap();
        assert_eq!(got, want);
    }
}

#[tokio::test]
async fn connect_is_served_by_a_peer_replaying_foreign_bytes() {
    let v = vectors();
    let config = Config::new(identity(&v["initiator"]))
        .with_expected_remote(identity(&v["responder"]).public().clone());
    let response = bytes(&v["handshake_response"]);
    let (ours, mut theirs) = duplex(1 << 16);

    let peer = async move {
        let mut init = vec![0u8; 4 + HANDSHAKE_INIT_LEN];
        theirs.read_exact(&mut init).await.unwrap();
        VerifiedInit::verify(&init[4..]).expect("our HandshakeInit verifies");
        theirs.write_all(&frame(&response)).await.unwrap();
        theirs
            .write_all(&bytes(&v["records_r2i"][0]["frame"]))
            .await
            .unwrap();
        theirs
    };
    let (stream, _theirs) = tokio::join!(connect(ours, &config), peer);
    let mut stream = stream.expect("handshake with the foreign responder");
    let want = bytes(&vectors()["records_r2i"][0]["plaintext"]);
    let mut got = vec![0u8; want.len()];
    stream.read_exact(&mut got).await.unwrap();
    assert_eq!(got, want);
}

#[tokio::test]
async fn accept_serves_a_foreign_handshake_init() {
    let v = vectors();
    let server = Config::new(Identity::generate().unwrap());
    let client_identity = Arc::new(identity(&v["initiator"]));
    let init = bytes(&v["handshake_init"]);
    let (ours, mut theirs) = duplex(1 << 16);

    let client = async move {
        theirs.write_all(&frame(&init)).await.unwrap();
        let mut response = vec![0u8; 4 + HANDSHAKE_RESPONSE_LEN];
        theirs.read_exact(&mut response).await.unwrap();
        (theirs, response)
    };
    let (stream, (theirs, response)) = tokio::join!(accept(ours, &server), client);
    let mut server_stream = stream.expect("foreign HandshakeInit accepted");
    assert_eq!(server_stream.remote_identity(), client_identity.public());
    assert!(!server_stream.peer_confirmed());

    // The initiator's key holder can finish the handshake from the response alone.
    let established = Initiator::new(client_identity)
        .unwrap()
        .finish(&response[4..])
        .unwrap();
    let mut client_stream = established.into_stream(theirs);
    client_stream.write_all(b"ping").await.unwrap();
    client_stream.flush().await.unwrap();
    let mut got = [0u8; 4];
    server_stream.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"ping");
    assert!(server_stream.peer_confirmed());
}

#[test]
fn a_foreign_response_fails_for_any_other_initiator() {
    let v = vectors();
    let response = bytes(&v["handshake_response"]);
    let stranger = Arc::new(Identity::generate().unwrap());
    assert!(matches!(
        Initiator::new(stranger).unwrap().finish(&response),
        Err(Error::CiphertextCorrupted)
    ));
}
