//! tower on both sides: the client is a `tower::Service`, and handlers can be tower
//! services wrapped in middleware.

mod support;

use std::time::Duration;

use tower::{Service, ServiceBuilder, ServiceExt};
use zap_rpc::{Call, ErrorCode, MessageBuf, Procedure, Request, Status};

#[tokio::test]
async fn the_client_is_a_tower_service() {
    let server = support::server("srv").await;
    let client = support::client(&[&server]).await;
    let mut svc = ServiceBuilder::new()
        .timeout(Duration::from_secs(1))
        .service(client.clone());
    let reply = svc
        .ready()
        .await
        .unwrap()
        .call(Call::new(
            Procedure::new("Add1").unwrap(),
            MessageBuf::with_u32(9, 0),
        ))
        .await
        .unwrap();
    assert_eq!(support::root_u32(&reply), 10);

    client.close();
    let mut closed = client.clone();
    assert!(
        closed.ready().await.is_err(),
        "a closed client is never ready"
    );
}

#[tokio::test]
async fn tower_services_with_middleware_serve_procedures() {
    let doubler = tower::service_fn(|req: Request| async move {
        let v = support::root_u32(&req.message);
        Ok::<_, Status>(MessageBuf::with_u32(v * 2, 0))
    });
    // A tower timeout around a slow service; its error is mapped to a status.
    let slow = ServiceBuilder::new()
        .map_err(|e: tower::BoxError| Status::deadline_exceeded(e.to_string()))
        .timeout(Duration::from_millis(50))
        .service(tower::service_fn(|_: Request| async move {
            tokio::time::sleep(Duration::from_secs(2)).await;
            Ok::<_, Status>(MessageBuf::empty())
        }));
    let server = support::builder("srv")
        .register_service("Double", doubler)
        .unwrap()
        .register_service("Slow", slow)
        .unwrap()
        .start()
        .await
        .unwrap();
    let client = support::client(&[&server]).await;
    let r = client
        .call("Double", MessageBuf::with_u32(21, 0))
        .await
        .unwrap();
    assert_eq!(support::root_u32(&r), 42);
    let err = client.call("Slow", MessageBuf::empty()).await.unwrap_err();
    assert_eq!(
        err.status().map(Status::code),
        Some(ErrorCode::DeadlineExceeded),
        "{err}"
    );
}
