//! Counts heap allocations per call in steady state: at most one on the client (the
//! channel its answer arrives on) and none on the server, over TCP.
//!
//! Client and server run on two threads, each with its own current-thread runtime, and
//! the counter is per thread, so each side's count is its own.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::runtime::{Builder, Runtime};
use tokio::sync::{mpsc, oneshot};
use zap_rpc::{
    Client, ClientOptions, Context, MessageBuf, Procedure, Server, Status, TransportAddr,
};
use zap_testkit::{Counting, allocations};

#[global_allocator]
static GLOBAL: Counting = Counting;

const CALLS: u64 = 2000;

fn current_thread() -> Runtime {
    Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// A request whose root object carries 32 bytes.
fn request() -> MessageBuf {
    let mut b = zap_wire::Builder::new();
    let mut root = b.object(8);
    root.set_bytes(0, &[7u8; 32]);
    root.finish_root();
    MessageBuf::from_builder(&mut b, 0).expect("a valid message")
}

/// The server, on a thread and runtime of its own, answering requests for its thread's
/// allocation count until the sender is dropped.
fn start_server() -> (
    TransportAddr,
    mpsc::UnboundedSender<oneshot::Sender<u64>>,
    std::thread::JoinHandle<()>,
) {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        current_thread().block_on(async move {
            let server = Server::builder("_alloc._tcp")
                .listen(SocketAddr::from(([127, 0, 0, 1], 0)))
                .no_mdns()
                .register("Echo", |_: Context, m: MessageBuf| async move {
                    Ok::<_, Status>(m)
                })
                .expect("register")
                .start()
                .await
                .expect("the server starts");
            let (count_tx, mut count_rx) = mpsc::unbounded_channel::<oneshot::Sender<u64>>();
            ready_tx
                .send((server.local_addr().clone(), count_tx))
                .expect("the test waits for the server");
            while let Some(reply) = count_rx.recv().await {
                let _ = reply.send(allocations());
            }
            server.shutdown(Duration::from_secs(5)).await;
        });
    });
    let (addr, count) = ready_rx.recv().expect("the server thread starts");
    (addr, count, thread)
}

async fn server_allocations(count: &mpsc::UnboundedSender<oneshot::Sender<u64>>) -> u64 {
    let (tx, rx) = oneshot::channel();
    count.send(tx).expect("the server thread runs");
    rx.await.expect("the server thread answers")
}

#[test]
fn steady_state_calls_allocate_once_on_the_client_and_never_on_the_server() {
    let (addr, count, server_thread) = start_server();
    current_thread().block_on(async {
        let client = Client::connect(
            "_alloc._tcp",
            ClientOptions::new()
                .peers([addr])
                .call_timeout(Duration::from_secs(10)),
        )
        .await
        .expect("the client connects");
        let echo = Procedure::new("Echo").expect("a valid name");
        let req = request();
        // Warm up: the connection, its buffers, the server's reused call state.
        for _ in 0..200 {
            client.call(echo.clone(), req.clone()).await.expect("echo");
        }
        let server_before = server_allocations(&count).await;
        let client_before = allocations();
        for _ in 0..CALLS {
            let reply = client.call(echo.clone(), req.clone()).await.expect("echo");
            assert_eq!(reply.len(), req.len());
        }
        let client_spent = allocations() - client_before;
        let server_spent = server_allocations(&count).await - server_before;
        assert!(
            client_spent <= CALLS,
            "the client allocated {client_spent} times in {CALLS} calls (at most one per call expected)"
        );
        // A rare buffer growth is not a per-call cost; anything near one per call is.
        assert!(
            server_spent <= CALLS / 100,
            "the server allocated {server_spent} times in {CALLS} calls (none per call expected)"
        );
        client.close();
    });
    drop(count);
    server_thread
        .join()
        .expect("the server thread ends cleanly");
}
