//! Unix domain sockets: the kernel's credentials of the peer reach verifiers, the socket
//! file is owner-only and goes away at shutdown, and stale files are replaced but live
//! ones are not. Real sockets in a temporary directory.
#![cfg(unix)]

mod support;

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::time::Duration;

use zap_rpc::{
    Client, ClientOptions, ErrorKind, MessageBuf, NodeIdStatus, PeerInfo, Status, TransportAddr,
    UnixListener,
};

/// Our own uid, as the kernel sees it: the owner of a file we create.
fn my_uid(dir: &support::TempDir) -> u32 {
    let probe = dir.join("uid");
    std::fs::write(&probe, b"").unwrap();
    std::fs::metadata(&probe).unwrap().uid()
}

async fn unix_client(path: &std::path::Path) -> Client {
    Client::connect(
        "_zaptest._tcp",
        ClientOptions::new()
            .peers([TransportAddr::Unix(path.to_path_buf())])
            .call_timeout(Duration::from_secs(5)),
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verifier_can_refuse_a_unix_socket_peer_by_uid() {
    let dir = support::TempDir::new("uid");
    let uid = my_uid(&dir);
    let only = |allowed: u32| {
        move |peer: &PeerInfo, _: &str| match peer.credentials() {
            Some(c) if c.uid == allowed => Ok(()),
            Some(c) => Err(Status::unauthorized(format!("uid {} may not call", c.uid))),
            None => Err(Status::unauthorized("not a Unix socket peer")),
        }
    };
    let open = support::builder("open")
        .verifier(only(uid))
        .unix(dir.join("open.sock"))
        .start()
        .await
        .unwrap();
    let closed = support::builder("closed")
        .verifier(only(uid.wrapping_add(1)))
        .unix(dir.join("closed.sock"))
        .start()
        .await
        .unwrap();

    let client = unix_client(&dir.join("open.sock")).await;
    client.call("Echo", MessageBuf::empty()).await.unwrap();
    let err = unix_client(&dir.join("closed.sock"))
        .await
        .call("Echo", MessageBuf::empty())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized);
    assert!(
        err.to_string().contains(&format!("uid {uid} may not call")),
        "{err}"
    );

    // The server's peer: our pid and uid, and no certificate to check the id against.
    let server_view = open.connections();
    let peer = &server_view[0];
    let creds = peer.credentials().unwrap();
    assert_eq!(creds.uid, uid);
    assert_eq!(creds.pid, Some(std::process::id() as i32));
    assert_eq!(peer.node_id_status(), NodeIdStatus::Claimed);
    // The client sees the server's credentials too.
    assert_eq!(
        client.connections()[0].peer().credentials().unwrap().uid,
        uid
    );
    open.shutdown(Duration::from_secs(1)).await;
    closed.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_socket_file_is_owner_only_and_removed_at_shutdown() {
    let dir = support::TempDir::new("perm");
    let path = dir.join("zap.sock");
    let server = support::builder("srv").unix(&path).start().await.unwrap();
    assert_eq!(server.local_addr(), &TransportAddr::Unix(path.clone()));
    let meta = std::fs::symlink_metadata(&path).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    // Nothing else was left in the directory (the socket is staged privately).
    let entries: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    unix_client(&path)
        .await
        .call("Echo", MessageBuf::empty())
        .await
        .unwrap();
    server.shutdown(Duration::from_secs(1)).await;
    assert!(!path.exists(), "the socket file outlived the server");

    // A mode can be asked for.
    let server = support::builder("srv")
        .unix(&path)
        .unix_mode(0o660)
        .start()
        .await
        .unwrap();
    let mode = std::fs::symlink_metadata(&path)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o660);
    drop(server);
    // Dropping (not shutting down) removes it too, once the accept loop ends.
    let gone = tokio::time::timeout(Duration::from_secs(2), async {
        while path.exists() {
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(gone.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_socket_is_replaced_and_a_live_one_or_another_file_is_refused() {
    let dir = support::TempDir::new("stale");
    let path = dir.join("zap.sock");
    // A socket nobody listens on (its listener closed without removing it).
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let server = support::builder("srv").unix(&path).start().await.unwrap();
    unix_client(&path)
        .await
        .call("Echo", MessageBuf::empty())
        .await
        .unwrap();

    let err = UnixListener::bind(&path).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse, "{err}");
    let err = support::builder("second")
        .unix(&path)
        .start()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert!(err.to_string().contains("unix:"), "{err}");

    let file = dir.join("plain-file");
    std::fs::write(&file, b"not a socket").unwrap();
    let err = UnixListener::bind(&file).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists, "{err}");
    assert_eq!(std::fs::read(&file).unwrap(), b"not a socket");
    server.shutdown(Duration::from_secs(1)).await;
}
