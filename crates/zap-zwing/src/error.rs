//! The error type of the crate.

use std::io;
use std::time::Duration;

use crate::identity::Fingerprint;

/// Everything that can go wrong in Z-Wing: each variant is a distinct cause a caller
/// can match on.
///
/// Errors raised inside a [`ZwingStream`](crate::ZwingStream)'s `AsyncRead` or
/// `AsyncWrite` methods travel inside an [`io::Error`]; [`Error::from_io`] finds them.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The underlying transport failed.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),

    /// The handshake did not finish within the configured timeout.
    #[error("the Z-Wing handshake did not finish within {0:?}")]
    HandshakeTimeout(Duration),

    /// The peer closed the connection before the handshake finished. A responder closes
    /// without a word when it refuses an initiator (wrong identity, bad signature, replay).
    #[error("the peer closed the connection during the Z-Wing handshake (it may have refused us)")]
    HandshakeClosed,

    /// A frame header announced a payload larger than the 1 MiB maximum.
    #[error("frame of {0} bytes exceeds the 1 MiB maximum")]
    MessageTooLarge(usize),

    /// Bytes that do not follow the Z-Wing wire format.
    #[error("invalid Z-Wing wire format: {0}")]
    InvalidWireFormat(&'static str),

    /// A public identity that cannot be decoded (wrong size or an invalid key).
    #[error("invalid Z-Wing public identity: {0}")]
    InvalidIdentity(&'static str),

    /// An identity signature did not verify (both Ed25519 and ML-DSA-65 must).
    #[error("identity signature verification failed")]
    SignatureInvalid,

    /// The peer proved an identity that the configuration does not allow.
    #[error("remote identity {fingerprint} is not an expected identity")]
    IdentityMismatch {
        /// The fingerprint of the identity the peer presented.
        fingerprint: Fingerprint,
    },

    /// AEAD authentication failed: the record or sealed identity was altered or forged.
    #[error("AEAD authentication failed: the ciphertext was corrupted or forged")]
    CiphertextCorrupted,

    /// The X25519 exchange gave an all-zero secret: the peer sent a low-order point.
    #[error("X25519 exchange with a low-order point (all-zero shared secret)")]
    NonContributory,

    /// A direction's record counter reached its limit; the channel cannot carry more.
    #[error("record sequence number exhausted: open a new channel")]
    SequenceExhausted,

    /// The replay cache has already seen this exact `HandshakeInit`.
    #[error("replayed HandshakeInit refused")]
    Replayed,

    /// A signature context longer than 255 bytes (the digest encodes its length in a byte).
    #[error("signature context is longer than 255 bytes")]
    ContextTooLong,

    /// The operating system's random number generator failed.
    #[error("the system random number generator failed: {0}")]
    Randomness(String),

    /// A key file that is not a Z-Wing identity or public identity file.
    #[error("invalid Z-Wing key file: {0}")]
    InvalidKeyFile(&'static str),

    /// The listener's accept loop has stopped.
    #[error("the Z-Wing listener has shut down")]
    ListenerClosed,
}

impl Error {
    /// The Z-Wing error carried inside an [`io::Error`] returned by a
    /// [`ZwingStream`](crate::ZwingStream), if there is one.
    ///
    /// ```
    /// # use zap_zwing::Error;
    /// let io: std::io::Error = Error::CiphertextCorrupted.into();
    /// assert!(matches!(Error::from_io(&io), Some(Error::CiphertextCorrupted)));
    /// ```
    pub fn from_io(err: &io::Error) -> Option<&Error> {
        err.get_ref().and_then(|e| e.downcast_ref::<Error>())
    }

    /// The [`io::ErrorKind`] this error maps to when it leaves through an I/O trait.
    pub fn io_kind(&self) -> io::ErrorKind {
        match self {
            Error::Io(e) => e.kind(),
            Error::HandshakeTimeout(_) => io::ErrorKind::TimedOut,
            Error::HandshakeClosed => io::ErrorKind::UnexpectedEof,
            Error::IdentityMismatch { .. } | Error::Replayed => io::ErrorKind::PermissionDenied,
            Error::MessageTooLarge(_)
            | Error::InvalidWireFormat(_)
            | Error::InvalidIdentity(_)
            | Error::SignatureInvalid
            | Error::CiphertextCorrupted
            | Error::NonContributory
            | Error::InvalidKeyFile(_) => io::ErrorKind::InvalidData,
            Error::ContextTooLong => io::ErrorKind::InvalidInput,
            Error::SequenceExhausted | Error::Randomness(_) | Error::ListenerClosed => {
                io::ErrorKind::Other
            }
        }
    }
}

impl From<Error> for io::Error {
    fn from(err: Error) -> Self {
        match err {
            // An I/O error stays itself rather than gaining a second layer.
            Error::Io(e) => e,
            other => io::Error::new(other.io_kind(), other),
        }
    }
}
