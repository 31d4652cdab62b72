//! Unix domain stream sockets: the node protocol for local sidecars and same-host
//! services, with the peer's uid, gid and pid from the kernel.
//!
//! The socket file appears with its final permissions already set (0600 by default): it
//! is bound inside a fresh private directory, given its mode there, then hard-linked into
//! place, which fails rather than replace a file someone else created meanwhile. The
//! listener removes the file when it is dropped (server shutdown), if the file is still
//! the one it created.

use std::io;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::net::UnixStream;
use zap_discovery::Peer;

use super::{Dialer, Listener, TransportAddr, Transported};
use crate::identity::UnixCredentials;

fn credentials(stream: &UnixStream) -> io::Result<UnixCredentials> {
    let c = stream.peer_cred()?;
    Ok(UnixCredentials::new(c.uid(), c.gid(), c.pid()))
}

fn transported(stream: UnixStream, path: &Path) -> io::Result<Transported> {
    let creds = credentials(&stream)?;
    let (r, w) = stream.into_split();
    Ok(Transported::new(
        Box::new(r),
        Box::new(w),
        TransportAddr::Unix(path.to_path_buf()),
    )
    .with_credentials(creds))
}

/// Dials one Unix socket path (whatever the peer's address says: Unix peers have none).
#[derive(Debug, Clone)]
pub struct UnixDialer {
    path: PathBuf,
    connect_timeout: Duration,
}

impl UnixDialer {
    /// A dialer of the socket at `path`, giving up after 5 s.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            connect_timeout: Duration::from_secs(5),
        }
    }

    /// Gives up connecting after `timeout`.
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) async fn connect(path: &Path, timeout: Duration) -> io::Result<Transported> {
        let stream = match tokio::time::timeout(timeout, UnixStream::connect(path)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("connect to unix:{}: {e}", path.display()),
                ));
            }
            Err(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "connect to unix:{} timed out after {timeout:?}",
                        path.display()
                    ),
                ));
            }
        };
        transported(stream, path)
    }
}

impl Dialer for UnixDialer {
    fn dial<'a>(&'a self, _peer: &'a Peer) -> BoxFuture<'a, io::Result<Transported>> {
        Box::pin(Self::connect(&self.path, self.connect_timeout))
    }

    fn describe(&self, _peer: &Peer) -> String {
        format!("unix:{}", self.path.display())
    }
}

/// A Unix socket listener. Dropping it removes the socket file.
#[derive(Debug)]
pub struct UnixListener {
    inner: tokio::net::UnixListener,
    path: PathBuf,
    /// Device and inode of the file we created, so that we never remove another's.
    created: (u64, u64),
}

impl UnixListener {
    /// The mode of the socket file unless told otherwise: owner only.
    pub const DEFAULT_MODE: u32 = 0o600;

    /// Binds `path` with mode 0600. A stale socket file (nobody listening) is replaced;
    /// a live one, or a file that is not a socket, is an error. Must be called within a
    /// tokio runtime.
    pub fn bind(path: impl AsRef<Path>) -> io::Result<Self> {
        Self::bind_with_mode(path, Self::DEFAULT_MODE)
    }

    /// Binds `path` with this file mode (e.g. `0o660` to let a group connect: connecting
    /// needs write permission on the socket file).
    pub fn bind_with_mode(path: impl AsRef<Path>, mode: u32) -> io::Result<Self> {
        let path = path.as_ref().to_path_buf();
        clear_stale(&path)?;
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let private = dir.join(format!(".zap-{:08x}", crate::server::random_u32()));
        std::fs::DirBuilder::new().mode(0o700).create(&private)?;
        let staged = private.join("s");
        let bound = (|| {
            let std_listener = std::os::unix::net::UnixListener::bind(&staged)?;
            std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(mode))?;
            // A hard link refuses to replace an existing file, unlike rename.
            std::fs::hard_link(&staged, &path).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("linking the socket to {}: {e}", path.display()),
                )
            })?;
            std_listener.set_nonblocking(true)?;
            tokio::net::UnixListener::from_std(std_listener)
        })();
        let _ = std::fs::remove_file(&staged);
        let _ = std::fs::remove_dir(&private);
        let inner = bound?;
        let meta = std::fs::symlink_metadata(&path)?;
        Ok(Self {
            inner,
            path,
            created: (meta.dev(), meta.ino()),
        })
    }

    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Removes `path` if it is a socket nobody listens on; refuses a live socket or another
/// kind of file.
fn clear_stale(path: &Path) -> io::Result<()> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if !meta.file_type().is_socket() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} exists and is not a socket", path.display()),
        ));
    }
    match std::os::unix::net::UnixStream::connect(path) {
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!("another process listens on {}", path.display()),
        )),
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => std::fs::remove_file(path),
        Err(e) => Err(e),
    }
}

impl Drop for UnixListener {
    fn drop(&mut self) {
        if let Ok(meta) = std::fs::symlink_metadata(&self.path)
            && (meta.dev(), meta.ino()) == self.created
        {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl Listener for UnixListener {
    fn accept(&mut self) -> BoxFuture<'_, io::Result<Transported>> {
        Box::pin(async move {
            let (stream, _) = self.inner.accept().await?;
            transported(stream, &self.path)
        })
    }

    fn local_addr(&self) -> TransportAddr {
        TransportAddr::Unix(self.path.clone())
    }
}
