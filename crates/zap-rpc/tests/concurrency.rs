//! No head-of-line blocking, bounded concurrency, and no lost calls under load.
#![allow(clippy::print_stderr)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use zap_rpc::{Client, ConnectionOptions, Context, MessageBuf, Status};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_call_does_not_delay_a_fast_one_on_the_same_connection() {
    let server = support::server("srv").await;
    let client = support::client(&[&server]).await;
    client.call("Echo", MessageBuf::empty()).await.unwrap();
    let slow = tokio::spawn({
        let client = client.clone();
        async move {
            let t = Instant::now();
            client
                .call("Sleep", MessageBuf::with_u32(500, 0))
                .await
                .unwrap();
            t.elapsed()
        }
    });
    // The fast call may go out before the slow one is read; either way it must not wait.
    let started = Instant::now();
    client
        .call("Sleep", MessageBuf::with_u32(1, 0))
        .await
        .unwrap();
    let fast = started.elapsed();
    assert!(
        fast < Duration::from_millis(100),
        "the 1 ms call took {fast:?}"
    );
    let slow = slow.await.unwrap();
    assert!(slow >= Duration::from_millis(500), "{slow:?}");
    assert_eq!(
        client.connections().len(),
        1,
        "both calls shared one connection"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handlers_per_connection_are_bounded() {
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let server = support::builder("srv")
        .connection_options(ConnectionOptions::new().with_max_in_flight(4))
        .register("Count", {
            let (running, peak) = (running.clone(), peak.clone());
            move |_: Context, _: MessageBuf| {
                let (running, peak) = (running.clone(), peak.clone());
                async move {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    running.fetch_sub(1, Ordering::SeqCst);
                    Ok::<_, Status>(MessageBuf::empty())
                }
            }
        })
        .unwrap()
        .start()
        .await
        .unwrap();
    let client = support::client(&[&server]).await;
    let calls: Vec<_> = (0..64)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.call("Count", MessageBuf::empty()).await })
        })
        .collect();
    for c in calls {
        c.await.unwrap().unwrap();
    }
    let peak = peak.load(Ordering::SeqCst);
    assert!((1..=4).contains(&peak), "peak concurrency {peak}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_concurrent_calls_over_four_connections_lose_none() {
    let server = support::server("srv").await;
    let mut clients: Vec<Client> = Vec::new();
    for _ in 0..4 {
        clients.push(support::client(&[&server]).await);
    }
    let started = Instant::now();
    let calls: Vec<_> = (0..10_000u32)
        .map(|i| {
            let client = clients[i as usize % 4].clone();
            tokio::spawn(async move {
                client
                    .call("Add1", MessageBuf::with_u32(i, 0))
                    .await
                    .map(|r| support::root_u32(&r))
            })
        })
        .collect();
    let mut answered = 0;
    let mut errors = Vec::new();
    for (i, c) in calls.into_iter().enumerate() {
        match c.await.expect("the call task ran to its end") {
            Ok(v) => {
                assert_eq!(v, i as u32 + 1, "call {i} got another call's answer");
                answered += 1;
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    let took = started.elapsed();
    assert_eq!(answered + errors.len(), 10_000);
    assert!(
        errors.is_empty(),
        "{} errors, first: {:?}",
        errors.len(),
        errors.first()
    );
    assert_eq!(server.stats().connections_accepted, 4);
    assert_eq!(server.stats().calls, 10_000);
    eprintln!("10 000 calls over 4 connections in {took:?}");
}

/// Handlers that answer at once run on the connection's task and their call tokens are
/// reused; a token a handler kept must still be its own, and cancels must still land.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_tokens_stay_per_call_when_handlers_answer_at_once() {
    let (kept_tx, mut kept) = support::probe();
    let (stopped_tx, mut stopped) = support::probe();
    let server = support::builder("srv")
        .register("Keep", move |ctx: Context, req: MessageBuf| {
            let _ = kept_tx.send(ctx.cancellation_token());
            async move { Ok::<_, Status>(req) }
        })
        .unwrap()
        .register("Wait", move |ctx: Context, _: MessageBuf| {
            let stopped = stopped_tx.clone();
            async move {
                ctx.cancellation_token().cancelled().await;
                let _ = stopped.send(());
                Err::<MessageBuf, _>(Status::cancelled("stopped"))
            }
        })
        .unwrap()
        .start()
        .await
        .unwrap();
    let client = support::client(&[&server]).await;
    let wait = Duration::from_secs(2);
    for _ in 0..3 {
        client.call("Echo", MessageBuf::empty()).await.unwrap();
    }
    client.call("Keep", MessageBuf::empty()).await.unwrap();
    client.call("Keep", MessageBuf::empty()).await.unwrap();
    let first = support::recv(&mut kept, wait, "the first kept token").await;
    let second = support::recv(&mut kept, wait, "the second kept token").await;
    assert!(
        first != second,
        "a token a handler kept was given to another call"
    );
    assert!(!first.is_cancelled() && !second.is_cancelled());

    // A call that waits gets a token the caller's cancel reaches (after calls whose
    // tokens went back for reuse).
    for _ in 0..3 {
        client.call("Echo", MessageBuf::empty()).await.unwrap();
    }
    let abandoned = tokio::time::timeout(
        Duration::from_millis(100),
        client.call_with_timeout("Wait", MessageBuf::empty(), None),
    )
    .await;
    assert!(abandoned.is_err(), "the call was abandoned");
    support::recv(&mut stopped, wait, "the waiting handler's cancel").await;

    // Kept tokens end with their connection.
    client.close();
    for token in [first, second] {
        tokio::time::timeout(wait, token.cancelled())
            .await
            .expect("a kept token is cancelled when its connection closes");
    }
}
