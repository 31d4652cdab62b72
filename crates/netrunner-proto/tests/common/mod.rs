//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub)] // each test binary uses a different subset

use std::sync::OnceLock;
use std::time::Duration;

use netrunner_proto::frame::{DEFAULT_MAX_PAYLOAD, Outbound, encode_frame};
use tokio::io::{AsyncRead, AsyncReadExt};
use zap_wire::typed::MsgType;
use zap_zwing::{Config, Identity};

/// Long enough for any event the tests wait for on a loaded 2-core machine, short
/// enough that a hang fails fast.
pub const WAIT: Duration = Duration::from_secs(10);

/// Two identities generated once per test binary (key generation is the slow part).
pub fn identities() -> &'static (Identity, Identity) {
    static IDS: OnceLock<(Identity, Identity)> = OnceLock::new();
    IDS.get_or_init(|| {
        (
            Identity::generate().expect("server identity"),
            Identity::generate().expect("client identity"),
        )
    })
}

/// The server's Z-Wing configuration.
pub fn server_config() -> Config {
    let (server, _) = identities();
    Config::new(Identity::from_seed(&server.to_seed()).expect("seed"))
}

/// A client configuration pinned to the server identity.
pub fn client_config() -> Config {
    let (server, client) = identities();
    Config::new(Identity::from_seed(&client.to_seed()).expect("seed"))
        .with_expected_remote(server.public().clone())
}

/// One frame's bytes.
pub fn frame(ty: u8, request_id: u32, body: &[u8]) -> Vec<u8> {
    encode_frame(
        &Outbound {
            ty: MsgType(ty),
            request_id,
            body: body.to_vec(),
        },
        DEFAULT_MAX_PAYLOAD,
    )
    .expect("frame within the limit")
}

/// Reads one whole frame (header included) within [`WAIT`].
pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> Vec<u8> {
    tokio::time::timeout(WAIT, async {
        let mut head = [0u8; 5];
        r.read_exact(&mut head).await.expect("frame header");
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let mut out = head.to_vec();
        out.resize(5 + len, 0);
        r.read_exact(&mut out[5..]).await.expect("frame payload");
        out
    })
    .await
    .expect("a frame within the wait limit")
}

/// Splits a frame into type byte, request id and body.
pub fn parts(frame: &[u8]) -> (u8, u32, &[u8]) {
    (
        frame[4],
        u32::from_be_bytes([frame[5], frame[6], frame[7], frame[8]]),
        &frame[9..],
    )
}

/// Hex with no separators.
pub fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).expect("valid hex")
}
