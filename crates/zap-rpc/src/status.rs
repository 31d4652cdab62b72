//! What a peer answers when a call fails: an error code and a message.

use std::fmt;

/// The most bytes of error text we put on the wire; longer texts are cut at a character
/// boundary so that a handler cannot make a response frame arbitrarily large.
pub const MAX_STATUS_TEXT: usize = 1024;

/// Why a call failed, as carried by an error frame between Rust peers.
///
/// The numbers are part of the wire (see `docs/wire.md`); codes this version does not know
/// arrive as [`ErrorCode::Other`] so that newer peers can add codes without breaking us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// No procedure is registered under the id or opcode the call named (1).
    UnknownProcedure,
    /// The peer verifier refused the caller for this procedure (2).
    Unauthorized,
    /// The handler returned an error or panicked (3).
    HandlerError,
    /// The call's deadline passed before the handler finished (4).
    DeadlineExceeded,
    /// The call was cancelled (5).
    Cancelled,
    /// The server refused the call without running it: busy or shutting down (6).
    /// Such a call is safe to retry elsewhere.
    Overloaded,
    /// The request frame or its message could not be read (7).
    MalformedRequest,
    /// A legacy 8-bit opcode that several registered procedures share (8): the caller
    /// must call by wide id (name) instead.
    AmbiguousOpcode,
    /// A code this version does not know.
    Other(u16),
}

impl ErrorCode {
    /// The number on the wire.
    pub const fn as_u16(self) -> u16 {
        match self {
            Self::UnknownProcedure => 1,
            Self::Unauthorized => 2,
            Self::HandlerError => 3,
            Self::DeadlineExceeded => 4,
            Self::Cancelled => 5,
            Self::Overloaded => 6,
            Self::MalformedRequest => 7,
            Self::AmbiguousOpcode => 8,
            Self::Other(n) => n,
        }
    }

    /// The code for a wire number.
    pub const fn from_u16(n: u16) -> Self {
        match n {
            1 => Self::UnknownProcedure,
            2 => Self::Unauthorized,
            3 => Self::HandlerError,
            4 => Self::DeadlineExceeded,
            5 => Self::Cancelled,
            6 => Self::Overloaded,
            7 => Self::MalformedRequest,
            8 => Self::AmbiguousOpcode,
            n => Self::Other(n),
        }
    }

    /// A short snake_case name, stable for logs, metrics and `zap call --json`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::UnknownProcedure => "unknown_procedure",
            Self::Unauthorized => "unauthorized",
            Self::HandlerError => "handler_error",
            Self::DeadlineExceeded => "deadline_exceeded",
            Self::Cancelled => "cancelled",
            Self::Overloaded => "overloaded",
            Self::MalformedRequest => "malformed_request",
            Self::AmbiguousOpcode => "ambiguous_opcode",
            Self::Other(_) => "other",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Other(n) => write!(f, "error code {n}"),
            other => f.write_str(other.as_str()),
        }
    }
}

/// A failed call's answer: a code the caller can branch on and a message for people.
///
/// Handlers return it to fail a call; clients receive it in
/// [`Error::Remote`](crate::Error::Remote).
///
/// ```
/// use zap_rpc::{ErrorCode, Status};
///
/// let s = Status::handler_error("requested failure");
/// assert_eq!(s.code(), ErrorCode::HandlerError);
/// assert_eq!(s.to_string(), "handler_error: requested failure");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    code: ErrorCode,
    message: String,
}

impl Status {
    /// A status with this code and message (cut to [`MAX_STATUS_TEXT`] bytes).
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        let mut message = message.into();
        clip_in_place(&mut message, MAX_STATUS_TEXT);
        Self { code, message }
    }

    /// The handler failed; `message` says why.
    pub fn handler_error(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::HandlerError, message)
    }

    /// The caller may not call this procedure.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthorized, message)
    }

    /// The server will not run the call now; the caller may retry elsewhere.
    pub fn overloaded(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Overloaded, message)
    }

    /// The call was cancelled.
    pub fn cancelled(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Cancelled, message)
    }

    /// The call ran out of time.
    pub fn deadline_exceeded(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::DeadlineExceeded, message)
    }

    /// The code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.message.is_empty() {
            write!(f, "{}", self.code)
        } else {
            write!(f, "{}: {}", self.code, self.message)
        }
    }
}

impl std::error::Error for Status {}

/// Truncates `s` to at most `max` bytes at a character boundary.
pub(crate) fn clip_in_place(s: &mut String, max: usize) {
    if s.len() <= max {
        return;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_unknown_codes_survive() {
        for n in 0..=20u16 {
            assert_eq!(ErrorCode::from_u16(n).as_u16(), n);
        }
        assert_eq!(ErrorCode::from_u16(999), ErrorCode::Other(999));
        assert_eq!(ErrorCode::from_u16(1), ErrorCode::UnknownProcedure);
    }

    #[test]
    fn long_messages_are_clipped_on_a_char_boundary() {
        let s = Status::handler_error("é".repeat(MAX_STATUS_TEXT));
        assert!(s.message().len() <= MAX_STATUS_TEXT);
        assert!(s.message().chars().all(|c| c == 'é'));
    }
}
