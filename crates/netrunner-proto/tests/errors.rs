//! Error paths and the Go defects this crate fixes, over an in-process pipe (the
//! protocol logic without the Z-Wing layer; tests/zwing.rs runs it over real Z-Wing).

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{WAIT, frame, parts, read_frame};
use netrunner_proto::{
    AddNodeRequest, Backend, Client, ClientOptions, ClusterInfo, Error, ErrorCode, PeerInfo,
    RequestContext, RpcError, SendOutboundMessageRequest, ServerOptions, SimBackend, SimConfig,
    serve_connection,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

fn serve<B: Backend>(
    backend: B,
    options: ServerOptions,
) -> (
    DuplexStream,
    CancellationToken,
    JoinHandle<Result<(), Error>>,
) {
    let (peer, server_side) = tokio::io::duplex(256 * 1024);
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(serve_connection(
        server_side,
        Arc::new(backend),
        options,
        PeerInfo::default(),
        shutdown.clone(),
    ));
    (peer, shutdown, task)
}

fn sim(nodes: u32) -> SimBackend {
    SimBackend::new(
        SimConfig::default()
            .with_nodes(nodes)
            .with_health_delay(Duration::ZERO),
    )
}

fn client_for<B: Backend>(backend: B, server: ServerOptions, client: ClientOptions) -> Client {
    let (peer, _shutdown, _task) = serve(backend, server);
    Client::over(peer, client)
}

async fn ping_works(peer: &mut DuplexStream, id: u32) {
    peer.write_all(&frame(0x3c, id, &[])).await.unwrap();
    let answer = read_frame(peer).await;
    let (ty, got, _) = parts(&answer);
    assert_eq!(
        (ty, got),
        (0xbc, id),
        "the connection still serves requests"
    );
}

fn error_text(frame: &[u8]) -> String {
    String::from_utf8(parts(frame).2.to_vec()).unwrap()
}

#[tokio::test]
async fn unknown_sub_opcodes_and_bad_bodies_get_error_frames_and_the_connection_lives_on() {
    let (mut peer, _shutdown, _task) = serve(sim(2), ServerOptions::default());
    let cases: Vec<(Vec<u8>, u8, &str)> = vec![
        // Sub-opcode 7 names nothing.
        (
            frame(0x3e, 11, &[7]),
            0xfe,
            "zapwire: unknown SubOp 0x07 for OpStart",
        ),
        // Opcode 62 without a sub-opcode byte.
        (
            frame(0x3e, 12, &[]),
            0xfe,
            "zapwire: missing sub-opcode byte",
        ),
        // Opcode 5 is not netrunner's.
        (frame(0x05, 13, &[]), 0xc5, "zapwire: unknown opcode 0x05"),
        // A response frame sent as a request: Go answers with both flags ORed in.
        (frame(0xbc, 14, &[]), 0xfc, "zapwire: unknown opcode 0xbc"),
    ];
    for (request, ty, text) in cases {
        peer.write_all(&request).await.unwrap();
        let answer = read_frame(&mut peer).await;
        assert_eq!(parts(&answer).0, ty);
        assert_eq!(error_text(&answer), text);
    }
    // A RemoveNode whose name claims 9 bytes and carries 1.
    peer.write_all(&frame(0x3e, 15, &[21, 0, 0, 0, 9, b'b']))
        .await
        .unwrap();
    let answer = read_frame(&mut peer).await;
    assert_eq!(parts(&answer).0, 0xfe);
    let err = RpcError::from_wire_text(&error_text(&answer));
    assert_eq!(err.code(), ErrorCode::MalformedRequest);
    assert!(err.message().contains("RemoveNode"), "{err}");
    ping_works(&mut peer, 16).await;
}

#[tokio::test]
async fn hostile_counts_cost_nothing() {
    let (mut peer, _shutdown, _task) = serve(sim(2), ServerOptions::default());
    // CreateChains claiming 4 billion specs, then StartRequest with a map of 4 billion
    // entries: Go would allocate for the count before noticing the bytes are missing.
    let mut start = vec![6u8];
    // exec_path, four absent options, plugin_dir, no blockchain specs ...
    start.extend_from_slice(&[0; 16]);
    // ... and custom_node_configs claiming 4 billion entries.
    start.extend_from_slice(&[0xff, 0xff, 0xff, 0xff]);
    for (id, body) in [(21, vec![11, 0xff, 0xff, 0xff, 0xff]), (22, start)] {
        peer.write_all(&frame(0x3e, id, &body)).await.unwrap();
        let answer = read_frame(&mut peer).await;
        assert_eq!(parts(&answer).1, id);
        let err = RpcError::from_wire_text(&error_text(&answer));
        assert_eq!(err.code(), ErrorCode::MalformedRequest, "{err}");
    }
    ping_works(&mut peer, 23).await;
}

#[tokio::test]
async fn an_oversize_request_is_answered_and_skipped_without_desync() {
    let (mut peer, _shutdown, _task) =
        serve(sim(1), ServerOptions::default().with_max_payload(1024));
    let mut big = Vec::new();
    big.extend_from_slice(&4096u32.to_be_bytes());
    big.push(0x3e);
    big.extend_from_slice(&31u32.to_be_bytes());
    big.resize(5 + 4096, 0x41);
    peer.write_all(&big).await.unwrap();
    let answer = read_frame(&mut peer).await;
    assert_eq!(parts(&answer).0, 0xfe);
    assert_eq!(
        parts(&answer).1,
        31,
        "answered under the oversize frame's own id"
    );
    let err = RpcError::from_wire_text(&error_text(&answer));
    assert_eq!(err.code(), ErrorCode::ResourceExhausted);
    // Go's server would now read the payload's bytes as frame headers.
    ping_works(&mut peer, 32).await;
}

#[tokio::test]
async fn a_frame_without_a_request_id_is_answered_then_the_connection_closes() {
    let (mut peer, _shutdown, task) = serve(sim(1), ServerOptions::default());
    peer.write_all(&[0, 0, 0, 2, 0x3c, 0, 1]).await.unwrap();
    let answer = read_frame(&mut peer).await;
    assert_eq!(parts(&answer).0, 0xfc);
    assert_eq!(parts(&answer).1, 0);
    let mut rest = Vec::new();
    tokio::time::timeout(WAIT, peer.read_to_end(&mut rest))
        .await
        .expect("the server closes the connection")
        .unwrap();
    assert!(rest.is_empty());
    assert!(task.await.unwrap().is_err());
}

#[tokio::test]
async fn backend_errors_reach_the_caller_with_their_code() {
    let client = client_for(sim(2), ServerOptions::default(), ClientOptions::default());
    let err = client.remove_node("nope").await.unwrap_err();
    let remote = err.remote().expect("a remote error");
    assert_eq!(remote.code(), ErrorCode::NotFound);
    assert!(remote.message().contains("nope"));
    let err = client
        .add_node(AddNodeRequest::named("node1"))
        .await
        .unwrap_err();
    assert_eq!(err.remote().unwrap().code(), ErrorCode::AlreadyExists);
    // The connection is fine afterwards.
    assert_eq!(client.status().await.unwrap().unwrap().node_names.len(), 2);
}

/// A backend with nothing implemented.
struct Empty;
impl Backend for Empty {}

#[tokio::test]
async fn unimplemented_methods_answer_unimplemented() {
    let client = client_for(Empty, ServerOptions::default(), ClientOptions::default());
    let err = client.health().await.unwrap_err();
    assert_eq!(err.remote().unwrap().code(), ErrorCode::Unimplemented);
    assert_eq!(client.rpc_version().await.unwrap(), 1);
    assert_eq!(
        client.ping().await.unwrap(),
        i32::try_from(std::process::id()).unwrap()
    );
}

#[tokio::test]
async fn a_response_over_the_frame_limit_becomes_an_error_frame() {
    // Go's server fails to write it, ignores the failure, and the client waits forever.
    let client = client_for(
        sim(40),
        ServerOptions::default().with_max_payload(512),
        ClientOptions::default(),
    );
    let err = client.status().await.unwrap_err();
    assert_eq!(err.remote().unwrap().code(), ErrorCode::ResourceExhausted);
    assert!(client.ping().await.is_ok());
}

#[tokio::test]
async fn an_answer_over_the_clients_limit_fails_only_its_call() {
    let client = client_for(
        sim(40),
        ServerOptions::default(),
        ClientOptions::default().with_max_payload(512),
    );
    let err = client.status().await.unwrap_err();
    assert!(
        matches!(err, Error::ResponseTooLarge { len, max: 512, .. } if len > 512),
        "{err}"
    );
    assert!(client.ping().await.is_ok(), "the connection stays in step");
}

#[tokio::test]
async fn a_request_over_the_limit_is_refused_before_sending() {
    let client = client_for(
        sim(1),
        ServerOptions::default(),
        ClientOptions::default().with_max_payload(1024),
    );
    let err = client
        .send_outbound_message(SendOutboundMessageRequest {
            bytes: vec![0; 2048],
            ..SendOutboundMessageRequest::default()
        })
        .await
        .unwrap_err();
    assert!(matches!(err, Error::RequestTooLarge { .. }), "{err}");
    assert!(client.ping().await.is_ok());
}

/// Answers AddNode never; reports when the call's future is dropped.
struct Blocker {
    started: mpsc::UnboundedSender<u32>,
    dropped: mpsc::UnboundedSender<u32>,
}

struct OnDrop(mpsc::UnboundedSender<u32>, u32);
impl Drop for OnDrop {
    fn drop(&mut self) {
        let _ = self.0.send(self.1);
    }
}

impl Backend for Blocker {
    async fn add_node(
        &self,
        ctx: RequestContext,
        _request: AddNodeRequest,
    ) -> Result<Option<ClusterInfo>, RpcError> {
        let _guard = OnDrop(self.dropped.clone(), ctx.request_id);
        let _ = self.started.send(ctx.request_id);
        std::future::pending().await
    }
}

fn blocker() -> (
    Blocker,
    mpsc::UnboundedReceiver<u32>,
    mpsc::UnboundedReceiver<u32>,
) {
    let (started, started_rx) = mpsc::unbounded_channel();
    let (dropped, dropped_rx) = mpsc::unbounded_channel();
    (Blocker { started, dropped }, started_rx, dropped_rx)
}

async fn next(rx: &mut mpsc::UnboundedReceiver<u32>) -> u32 {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("the event within the wait limit")
        .expect("the sender lives")
}

#[tokio::test]
async fn a_timed_out_call_is_cancelled_on_the_server() {
    let (backend, mut started, mut dropped) = blocker();
    let client = client_for(backend, ServerOptions::default(), ClientOptions::default());
    let err = client
        .with_timeout(Duration::from_millis(150))
        .add_node(AddNodeRequest::named("x"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    let id = next(&mut started).await;
    assert_eq!(next(&mut dropped).await, id, "the server dropped the work");
    assert!(client.ping().await.is_ok());
}

#[tokio::test]
async fn dropping_a_call_cancels_it_on_the_server() {
    let (backend, mut started, mut dropped) = blocker();
    let client = client_for(backend, ServerOptions::default(), ClientOptions::default());
    let call = tokio::spawn({
        let client = client.clone();
        async move { client.add_node(AddNodeRequest::named("x")).await }
    });
    let id = next(&mut started).await;
    call.abort();
    assert_eq!(next(&mut dropped).await, id);
}

#[tokio::test]
async fn a_cancel_frame_stops_the_request_and_it_is_answered_cancelled() {
    let (backend, mut started, mut dropped) = blocker();
    let (mut peer, _shutdown, _task) = serve(backend, ServerOptions::default());
    let body = AddNodeRequest::named("x");
    let mut w = zap_wire::be::BeWriter::new();
    w.put_u8(20);
    netrunner_proto::WireMessage::encode(&body, &mut w);
    peer.write_all(&frame(0x3e, 41, w.as_slice()))
        .await
        .unwrap();
    assert_eq!(next(&mut started).await, 41);
    peer.write_all(&frame(0x3e, 41, &[0xf0])).await.unwrap();
    assert_eq!(next(&mut dropped).await, 41);
    let answer = read_frame(&mut peer).await;
    assert_eq!(parts(&answer).0, 0xfe);
    assert_eq!(parts(&answer).1, 41);
    assert_eq!(
        RpcError::from_wire_text(&error_text(&answer)).code(),
        ErrorCode::Cancelled
    );
    // A cancel for an id nothing runs under is ignored.
    peer.write_all(&frame(0x3e, 99, &[0xf0])).await.unwrap();
    ping_works(&mut peer, 42).await;
}

/// Plays a misbehaving server on the far end of a pipe.
fn fake_server() -> (Client, DuplexStream) {
    let (client_side, server_side) = tokio::io::duplex(64 * 1024);
    (
        Client::over(client_side, ClientOptions::default()),
        server_side,
    )
}

#[tokio::test]
async fn the_client_checks_the_response_type() {
    let (client, mut server) = fake_server();
    let call = tokio::spawn(async move { client.ping().await });
    let request = read_frame(&mut server).await;
    let (_, id, _) = parts(&request);
    // An RPCVersion answer to a Ping: Go's client would take its u32 as the pid.
    server
        .write_all(&frame(0xbd, id, &[0, 0, 0, 1]))
        .await
        .unwrap();
    let err = call.await.unwrap().unwrap_err();
    assert!(
        matches!(
            err,
            Error::UnexpectedResponse {
                expected: 0xbc,
                got: 0xbd,
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn waiting_calls_fail_at_once_when_the_server_breaks_the_framing() {
    let (client, mut server) = fake_server();
    let call = tokio::spawn({
        let client = client.clone();
        async move { client.status().await }
    });
    read_frame(&mut server).await;
    // A response too short to carry a request id.
    server.write_all(&[0, 0, 0, 1, 0xbe, 0]).await.unwrap();
    let err = tokio::time::timeout(WAIT, call)
        .await
        .expect("no waiting for the call timeout")
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, Error::ConnectionClosed { .. }), "{err}");
    assert!(client.is_closed());
    assert!(matches!(
        client.ping().await,
        Err(Error::ConnectionClosed { .. })
    ));
}

#[tokio::test]
async fn waiting_calls_fail_at_once_when_the_server_hangs_up() {
    let (client, mut server) = fake_server();
    let call = tokio::spawn({
        let client = client.clone();
        async move { client.wait_for_healthy().await }
    });
    read_frame(&mut server).await;
    drop(server);
    let err = tokio::time::timeout(WAIT, call)
        .await
        .expect("no waiting for the call timeout")
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, Error::ConnectionClosed { .. }), "{err}");
}

#[tokio::test]
async fn the_idle_timeout_never_cuts_a_long_call() {
    let slow = SimBackend::new(
        SimConfig::default()
            .with_nodes(2)
            .with_health_delay(Duration::from_millis(600)),
    );
    let (peer, _shutdown, task) = serve(
        slow,
        ServerOptions::default().with_idle_timeout(Some(Duration::from_millis(100))),
    );
    let client = Client::over(peer, ClientOptions::default());
    // Six idle periods pass while WaitForHealthy runs.
    let info = client.wait_for_healthy().await.unwrap().unwrap();
    assert!(info.healthy);
    // With nothing in flight the idle timeout does close the connection.
    tokio::time::timeout(WAIT, task)
        .await
        .expect("the idle connection is closed")
        .unwrap()
        .unwrap();
}

/// The simulator, reporting when a WaitForHealthy call reaches it.
struct Signalling {
    sim: SimBackend,
    waiting: mpsc::UnboundedSender<u32>,
}

impl Backend for Signalling {
    async fn status(&self, ctx: RequestContext) -> Result<Option<ClusterInfo>, RpcError> {
        self.sim.status(ctx).await
    }
    async fn wait_for_healthy(&self, ctx: RequestContext) -> Result<Option<ClusterInfo>, RpcError> {
        let _ = self.waiting.send(ctx.request_id);
        self.sim.wait_for_healthy(ctx).await
    }
}

#[tokio::test]
async fn shutdown_ends_streams_and_lets_running_calls_finish() {
    let (waiting, mut waiting_rx) = mpsc::unbounded_channel();
    let backend = Signalling {
        sim: SimBackend::new(
            SimConfig::default()
                .with_nodes(2)
                .with_health_delay(Duration::from_millis(300)),
        ),
        waiting,
    };
    let (peer, shutdown, task) = serve(
        backend,
        ServerOptions::default().with_shutdown_grace(Duration::from_secs(5)),
    );
    let client = Client::over(peer, ClientOptions::default());
    let mut stream = client
        .stream_status(Duration::from_millis(20))
        .await
        .unwrap();
    assert!(stream.next().await.unwrap().unwrap().is_some());
    let call = tokio::spawn({
        let client = client.clone();
        async move { client.wait_for_healthy().await }
    });
    next(&mut waiting_rx).await;
    shutdown.cancel();
    // The stream ends with its end marker, not an error.
    loop {
        match stream.next().await {
            Some(Ok(_)) => continue,
            None => break,
            Some(Err(e)) => panic!("the stream failed: {e}"),
        }
    }
    let info = call.await.unwrap().unwrap().unwrap();
    assert!(info.healthy, "the running call finished within the grace");
    task.await.unwrap().unwrap();
    assert!(matches!(
        client.ping().await,
        Err(Error::ConnectionClosed { .. })
    ));
}

#[tokio::test]
async fn shutdown_answers_calls_that_outlive_the_grace_with_unavailable() {
    let (backend, mut started, _dropped) = blocker();
    let (peer, shutdown, task) = serve(
        backend,
        ServerOptions::default().with_shutdown_grace(Duration::from_millis(100)),
    );
    let client = Client::over(peer, ClientOptions::default());
    let call = tokio::spawn({
        let client = client.clone();
        async move { client.add_node(AddNodeRequest::named("x")).await }
    });
    next(&mut started).await;
    shutdown.cancel();
    let err = call.await.unwrap().unwrap_err();
    assert_eq!(err.remote().unwrap().code(), ErrorCode::Unavailable);
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn stream_status_refuses_a_non_positive_interval() {
    let (mut peer, _shutdown, _task) = serve(sim(1), ServerOptions::default());
    let mut body = vec![5u8];
    body.extend_from_slice(&(-1i64).to_be_bytes());
    peer.write_all(&frame(0x3e, 51, &body)).await.unwrap();
    let answer = read_frame(&mut peer).await;
    assert_eq!(parts(&answer).0, 0xfe);
    assert_eq!(
        RpcError::from_wire_text(&error_text(&answer)).code(),
        ErrorCode::InvalidArgument
    );
    let client = client_for(sim(1), ServerOptions::default(), ClientOptions::default());
    assert!(matches!(
        client.stream_status(Duration::ZERO).await,
        Err(Error::InvalidArgument(_))
    ));
}

#[tokio::test]
async fn a_panicking_backend_is_answered_internal() {
    struct Panics;
    impl Backend for Panics {
        async fn status(&self, _ctx: RequestContext) -> Result<Option<ClusterInfo>, RpcError> {
            panic!("backend bug")
        }
    }
    let client = client_for(Panics, ServerOptions::default(), ClientOptions::default());
    let err = client.status().await.unwrap_err();
    assert_eq!(err.remote().unwrap().code(), ErrorCode::Internal);
    assert!(client.ping().await.is_ok());
}

#[tokio::test]
async fn a_closed_client_fails_calls_and_the_server_sees_the_end() {
    let (peer, _shutdown, task) = serve(sim(1), ServerOptions::default());
    let client = Client::over(peer, ClientOptions::default());
    assert!(client.ping().await.is_ok());
    client.close();
    assert!(matches!(
        client.ping().await,
        Err(Error::ConnectionClosed { .. })
    ));
    tokio::time::timeout(WAIT, task)
        .await
        .expect("the server notices")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn concurrent_calls_are_answered_out_of_order() {
    // A slow call does not hold up the fast ones behind it (no head-of-line blocking).
    let (backend, mut started, _dropped) = blocker();
    let client = client_for(backend, ServerOptions::default(), ClientOptions::default());
    let (tx, rx) = oneshot::channel();
    let slow = tokio::spawn({
        let client = client.clone();
        async move {
            let _ = tx.send(());
            client
                .with_timeout(Duration::from_secs(5))
                .add_node(AddNodeRequest::named("x"))
                .await
        }
    });
    rx.await.unwrap();
    next(&mut started).await;
    for _ in 0..10 {
        assert!(client.ping().await.is_ok());
    }
    slow.abort();
}
