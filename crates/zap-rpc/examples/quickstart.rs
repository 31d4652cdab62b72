//! A server and a client in one process on loopback: calls, an error that crosses the
//! wire, a deadline the handler sees, a cancelled call, a broadcast, then a graceful
//! shutdown. Runs in well under a second and exits 0.
//!
//! `cargo run -p zap-rpc --example quickstart`
#![allow(clippy::print_stdout)]

use std::time::{Duration, Instant};

use zap_rpc::{Client, ClientOptions, Context, ErrorKind, MessageBuf, Server, Status};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut servers = Vec::new();
    for id in ["quick-a", "quick-b"] {
        let server = Server::builder("_quick._tcp")
            .node_id(id)
            .listen("127.0.0.1:0".parse()?)
            .no_mdns()
            .register("Add1", |_ctx: Context, req: MessageBuf| async move {
                let n = req
                    .parse()
                    .ok()
                    .and_then(|m| m.root())
                    .and_then(|r| r.u32(0).ok())
                    .ok_or_else(|| Status::handler_error("expected a u32 at root offset 0"))?;
                Ok(MessageBuf::with_u32(n + 1, 0))
            })?
            .register("Deadline", |ctx: Context, _req: MessageBuf| async move {
                let left = ctx.remaining().map_or(0, |d| d.as_millis() as u32);
                Ok::<_, Status>(MessageBuf::with_u32(left, 0))
            })?
            .register("Wait", |ctx: Context, _req: MessageBuf| async move {
                ctx.cancelled().await;
                Err::<MessageBuf, _>(Status::cancelled("the caller left"))
            })?
            .start()
            .await?;
        println!("{} listening on {}", server.node_id(), server.local_addr());
        servers.push(server);
    }

    let client = Client::connect(
        "_quick._tcp",
        ClientOptions::new()
            .static_peers(servers.iter().filter_map(|s| s.tcp_addr()))
            .call_timeout(Duration::from_secs(2)),
    )
    .await?;

    let t = Instant::now();
    let reply = client.call("Add1", MessageBuf::with_u32(41, 0)).await?;
    let n = reply.parse()?.root().map(|r| r.u32(0)).transpose()?;
    println!("Add1(41) = {n:?} in {:?}", t.elapsed());

    let err = client
        .call("Add1", MessageBuf::empty())
        .await
        .expect_err("an empty message has no u32");
    println!("Add1(empty) failed at once: {err} [{}]", err.kind());

    let err = client
        .call("Missing", MessageBuf::empty())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnknownProcedure);
    println!("Missing: {err}");

    let left = client
        .call_with_timeout(
            "Deadline",
            MessageBuf::empty(),
            Some(Duration::from_millis(500)),
        )
        .await?;
    println!(
        "the handler saw {:?} ms of a 500 ms deadline",
        left.parse()?.root().map(|r| r.u32(0)).transpose()?
    );

    // Give up on a call after 50 ms: the server's handler is cancelled.
    let gave_up = tokio::time::timeout(
        Duration::from_millis(50),
        client.call("Wait", MessageBuf::empty()),
    )
    .await;
    println!("Wait: abandoned after 50 ms ({})", gave_up.is_err());

    for (peer, answer) in client.broadcast("Add1", MessageBuf::with_u32(1, 0)).await? {
        println!(
            "broadcast: {peer} -> {}",
            if answer.is_ok() { "ok" } else { "error" }
        );
    }

    client.close();
    for s in servers {
        let report = s.shutdown(Duration::from_secs(1)).await;
        println!("shut down, drained: {}", report.drained);
    }
    Ok(())
}
