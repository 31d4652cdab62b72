//! The worked examples of the reference (netrunner-proto.md §1.6), byte for byte: each
//! encodes to exactly the Go bytes and decodes back; and a server of this crate, fed the
//! Go request frames, answers with exactly the Go response frames.

mod common;

use std::sync::{Arc, Mutex};

use common::{frame, read_frame, unhex};
use netrunner_proto::{
    AddNodeRequest, Backend, ClusterInfo, DecodeOptions, Method, PeerInfo, Request, RequestContext,
    RequestError, Response, RpcError, SendOutboundMessageRequest, ServerOptions, serve_connection,
};
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

const PING_REQUEST: &str = "00 00 00 04 3c 00 00 00 01";
const PING_RESPONSE: &str = "00 00 00 08 bc 00 00 00 01 00 00 00 2a";
const VERSION_RESPONSE: &str = "00 00 00 08 bd 00 00 00 02 00 00 00 01";
const HEALTH_REQUEST: &str = "00 00 00 05 3e 00 00 00 03 01";
const REMOVE_NODE_REQUEST: &str = "00 00 00 0d 3e 00 00 00 07 15 00 00 00 04 62 65 74 61";
const REMOVE_NODE_RESPONSE: &str = "00 00 00 05 be 00 00 00 07 00";
const STATUS_RESPONSE: &str = "00 00 00 29 be 00 00 00 04 01 00 00 00 01 00 00 00 01 61 00 00 00 00 \
    00 00 00 2a 00 00 00 02 2f 72 01 00 00 00 00 00 00 00 00 00 00 30 39";
const URIS_RESPONSE: &str = "00 00 00 20 be 00 00 00 05 00 00 00 02 00 00 00 08 68 74 74 70 3a 2f 2f 61 \
    00 00 00 08 68 74 74 70 3a 2f 2f 62";
const ADD_NODE_REQUEST: &str = "00 00 00 21 3e 00 00 00 06 14 00 00 00 01 67 00 00 00 02 2f 78 00 \
    00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00";
const SEND_REQUEST: &str = "00 00 00 24 3e 00 00 00 08 1f 00 00 00 05 61 6c 70 68 61 00 00 00 06 70 65 65 72 \
    2d 31 00 00 00 2a 00 00 00 04 de ad be ef";
const SEND_RESPONSE: &str = "00 00 00 05 be 00 00 00 08 01";

fn status_fixture() -> ClusterInfo {
    ClusterInfo {
        node_names: vec!["a".into()],
        pid: 42,
        root_data_dir: "/r".into(),
        healthy: true,
        network_id: 12345,
        ..ClusterInfo::default()
    }
}

fn send_fixture() -> SendOutboundMessageRequest {
    SendOutboundMessageRequest {
        node_name: "alpha".into(),
        peer_id: "peer-1".into(),
        op: 42,
        bytes: vec![0xde, 0xad, 0xbe, 0xef],
    }
}

fn add_node_fixture() -> AddNodeRequest {
    AddNodeRequest {
        name: "g".into(),
        exec_path: "/x".into(),
        ..AddNodeRequest::default()
    }
}

fn error_unknown_opcode() -> Vec<u8> {
    let mut bytes = unhex("00 00 00 20 c5 00 00 00 09");
    bytes.extend_from_slice(b"zapwire: unknown opcode 0x05");
    bytes
}

/// Request frames: encode to the Go bytes, and the Go bytes decode to the request.
#[test]
fn requests_match_the_go_bytes() {
    let cases: Vec<(u32, Request, &str)> = vec![
        (1, Request::Ping, PING_REQUEST),
        (3, Request::Health, HEALTH_REQUEST),
        (
            7,
            Request::RemoveNode {
                name: "beta".into(),
            },
            REMOVE_NODE_REQUEST,
        ),
        (6, Request::AddNode(add_node_fixture()), ADD_NODE_REQUEST),
        (
            8,
            Request::SendOutboundMessage(send_fixture()),
            SEND_REQUEST,
        ),
    ];
    for (id, request, hex) in cases {
        let expected = unhex(hex);
        let method = request.method();
        assert_eq!(
            frame(method.opcode(), id, &request.body()),
            expected,
            "{method} encodes as Go does"
        );
        let (ty, got_id, body) = common::parts(&expected);
        assert_eq!(got_id, id);
        for options in [DecodeOptions::default(), DecodeOptions::strict()] {
            assert_eq!(
                Request::decode(ty, body, &options).unwrap(),
                request,
                "{method} decodes back"
            );
        }
    }
}

/// Response frames: encode to the Go bytes, and decode back knowing the request.
#[test]
fn responses_match_the_go_bytes() {
    let cases: Vec<(u32, Method, Response, &str)> = vec![
        (1, Method::Ping, Response::Ping { pid: 42 }, PING_RESPONSE),
        (
            2,
            Method::RpcVersion,
            Response::RpcVersion { version: 1 },
            VERSION_RESPONSE,
        ),
        (
            7,
            Method::RemoveNode,
            Response::Cluster(None),
            REMOVE_NODE_RESPONSE,
        ),
        (
            4,
            Method::Status,
            Response::Cluster(Some(status_fixture())),
            STATUS_RESPONSE,
        ),
        (
            5,
            Method::Uris,
            Response::Uris(vec!["http://a".into(), "http://b".into()]),
            URIS_RESPONSE,
        ),
        (
            8,
            Method::SendOutboundMessage,
            Response::SendOutboundMessage { sent: true },
            SEND_RESPONSE,
        ),
    ];
    for (id, method, response, hex) in cases {
        let expected = unhex(hex);
        assert_eq!(
            frame(method.opcode() | 0x80, id, &response.body()),
            expected,
            "{method} response encodes as Go does"
        );
        let (ty, got_id, body) = common::parts(&expected);
        assert_eq!((ty, got_id), (method.opcode() | 0x80, id));
        assert_eq!(
            Response::decode(method, body, &DecodeOptions::strict()).unwrap(),
            response
        );
    }
}

#[test]
fn the_unknown_opcode_error_matches_the_go_bytes() {
    let err = RequestError::UnknownOpcode(5).to_rpc_error();
    assert_eq!(err.to_wire_text(), "zapwire: unknown opcode 0x05");
    let bytes = frame(0xc5, 9, err.to_wire_text().as_bytes());
    assert_eq!(bytes, error_unknown_opcode());
    assert_eq!(
        &bytes[bytes.len() - 4..],
        &unhex("30 78 30 35")[..],
        "ends in 0x05"
    );
    assert_eq!(
        Request::decode(5, &[], &DecodeOptions::default()),
        Err(RequestError::UnknownOpcode(5))
    );
}

/// The stub of upstream's e2e tests: fixed answers, and a record of what arrived.
#[derive(Default)]
struct GoStub {
    seen: Mutex<Vec<Request>>,
}

impl Backend for GoStub {
    async fn ping(&self, _ctx: RequestContext) -> Result<i32, RpcError> {
        Ok(42)
    }
    async fn health(&self, _ctx: RequestContext) -> Result<Option<ClusterInfo>, RpcError> {
        Ok(Some(status_fixture()))
    }
    async fn status(&self, _ctx: RequestContext) -> Result<Option<ClusterInfo>, RpcError> {
        Ok(Some(status_fixture()))
    }
    async fn uris(&self, _ctx: RequestContext) -> Result<Vec<String>, RpcError> {
        Ok(vec!["http://a".into(), "http://b".into()])
    }
    async fn remove_node(
        &self,
        _ctx: RequestContext,
        name: String,
    ) -> Result<Option<ClusterInfo>, RpcError> {
        self.seen.lock().unwrap().push(Request::RemoveNode { name });
        Ok(None)
    }
    async fn add_node(
        &self,
        _ctx: RequestContext,
        request: AddNodeRequest,
    ) -> Result<Option<ClusterInfo>, RpcError> {
        self.seen.lock().unwrap().push(Request::AddNode(request));
        Ok(None)
    }
    async fn send_outbound_message(
        &self,
        _ctx: RequestContext,
        request: SendOutboundMessageRequest,
    ) -> Result<bool, RpcError> {
        self.seen
            .lock()
            .unwrap()
            .push(Request::SendOutboundMessage(request));
        Ok(true)
    }
}

/// A peer sending exactly the Go request frames gets exactly the Go response frames.
#[tokio::test]
async fn a_go_client_is_served_byte_for_byte() {
    let backend = Arc::new(GoStub::default());
    let (mut peer, server_side) = tokio::io::duplex(64 * 1024);
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(serve_connection(
        server_side,
        backend.clone(),
        ServerOptions::default(),
        PeerInfo::default(),
        shutdown.clone(),
    ));

    let exchanges: Vec<(Vec<u8>, Vec<u8>)> = vec![
        (unhex(PING_REQUEST), unhex(PING_RESPONSE)),
        (frame(0x3d, 2, &[]), unhex(VERSION_RESPONSE)),
        (frame(0x3e, 4, &[4]), unhex(STATUS_RESPONSE)),
        (frame(0x3e, 5, &[3]), unhex(URIS_RESPONSE)),
        (unhex(REMOVE_NODE_REQUEST), unhex(REMOVE_NODE_RESPONSE)),
        (unhex(SEND_REQUEST), unhex(SEND_RESPONSE)),
        (frame(0x05, 9, &[]), error_unknown_opcode()),
        (
            unhex(ADD_NODE_REQUEST),
            unhex("00 00 00 05 be 00 00 00 06 00"),
        ),
    ];
    for (request, expected) in exchanges {
        peer.write_all(&request).await.unwrap();
        assert_eq!(read_frame(&mut peer).await, expected);
    }
    // The health answer of the e2e test: present, healthy, network 12345.
    peer.write_all(&unhex(HEALTH_REQUEST)).await.unwrap();
    let health = read_frame(&mut peer).await;
    let (_, id, body) = common::parts(&health);
    assert_eq!(id, 3);
    assert_eq!(
        Response::decode(Method::Health, body, &DecodeOptions::strict()).unwrap(),
        Response::Cluster(Some(status_fixture()))
    );

    let seen = backend.seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        vec![
            Request::RemoveNode {
                name: "beta".into()
            },
            Request::SendOutboundMessage(send_fixture()),
            Request::AddNode(add_node_fixture()),
        ]
    );
    drop(peer);
    tokio::time::timeout(common::WAIT, server)
        .await
        .expect("the server stops when the peer hangs up")
        .unwrap()
        .unwrap();
}

/// Replaces a frame's request id.
fn with_id(mut frame: Vec<u8>, id: u32) -> Vec<u8> {
    frame[5..9].copy_from_slice(&id.to_be_bytes());
    frame
}

/// Our client sends exactly Go's request bytes and reads Go's response bytes: a fake
/// server compares each request with the Go frame and answers with the Go frame.
#[tokio::test]
async fn our_client_speaks_to_a_go_server_byte_for_byte() {
    use netrunner_proto::{Client, ClientOptions};

    let (client_side, mut server) = tokio::io::duplex(64 * 1024);
    let client = Client::over(client_side, ClientOptions::default());
    let script: Vec<(&str, &str)> = vec![
        (PING_REQUEST, PING_RESPONSE),
        ("00 00 00 04 3d 00 00 00 00", VERSION_RESPONSE),
        ("00 00 00 05 3e 00 00 00 00 04", STATUS_RESPONSE),
        ("00 00 00 05 3e 00 00 00 00 03", URIS_RESPONSE),
        (REMOVE_NODE_REQUEST, REMOVE_NODE_RESPONSE),
        (ADD_NODE_REQUEST, "00 00 00 05 be 00 00 00 06 00"),
        (SEND_REQUEST, SEND_RESPONSE),
    ];
    let fake = tokio::spawn(async move {
        for (request, response) in script {
            let got = read_frame(&mut server).await;
            let id = common::parts(&got).1;
            assert_eq!(got, with_id(unhex(request), id), "the request bytes");
            server
                .write_all(&with_id(unhex(response), id))
                .await
                .unwrap();
        }
    });
    assert_eq!(client.ping().await.unwrap(), 42);
    assert_eq!(client.rpc_version().await.unwrap(), 1);
    assert_eq!(client.status().await.unwrap(), Some(status_fixture()));
    assert_eq!(client.uris().await.unwrap(), ["http://a", "http://b"]);
    assert_eq!(client.remove_node("beta").await.unwrap(), None);
    assert_eq!(client.add_node(add_node_fixture()).await.unwrap(), None);
    assert!(client.send_outbound_message(send_fixture()).await.unwrap());
    fake.await.unwrap();
}
