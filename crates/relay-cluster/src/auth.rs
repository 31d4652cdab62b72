//! Who may attach to the relay: the [`Validator`] trait, the openZro HMAC v2 token and an
//! allow-all validator for tests.
//!
//! The v2 token is `[algorithm = 1][HMAC-SHA256 (32 bytes)][expiry]`, where the expiry is
//! the Unix time in seconds as ASCII decimal and the HMAC covers the expiry bytes. The key
//! is the SHA-256 of the configured secret, not the secret itself.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::peer_id::PeerId;

/// Algorithm byte of an HMAC-SHA256 v2 token.
pub const TOKEN_ALGORITHM_HMAC_SHA256: u8 = 1;

const MAC_SIZE: usize = 32;
const TOKEN_HEADER_SIZE: usize = 1 + MAC_SIZE;
// Upstream refuses shorter payloads; ten digits cover every expiry from 2001 to 2286.
const MIN_EXPIRY_DIGITS: usize = 10;
// u64 seconds never need more digits; longer payloads are refused before parsing.
const MAX_EXPIRY_DIGITS: usize = 20;

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The token's bytes do not have the v2 layout.
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// The algorithm byte is not HMAC-SHA256.
    #[error("unknown token algorithm {0}")]
    UnknownAlgorithm(u8),
    /// The HMAC does not match: wrong secret or tampered token.
    #[error("token signature does not match")]
    BadSignature,
    /// The token's expiry has passed.
    #[error("token expired at {expired_at} (now {now})")]
    Expired {
        /// Expiry carried by the token, Unix seconds.
        expired_at: u64,
        /// The validator's clock, Unix seconds.
        now: u64,
    },
    /// Refused by a custom validator, with its reason.
    #[error("{0}")]
    Refused(String),
}

impl AuthError {
    /// A short stable label for metrics and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed",
            Self::UnknownAlgorithm(_) => "unknown_algorithm",
            Self::BadSignature => "bad_signature",
            Self::Expired { .. } => "expired",
            Self::Refused(_) => "refused",
        }
    }
}

/// Decides whether a peer may attach. Called once per connection with the id the peer
/// claims and the token from its Auth message.
///
/// The id is passed so that a validator can bind tokens to identities, which the
/// upstream HMAC token does not do (see `docs/security.md`).
pub trait Validator: Send + Sync + 'static {
    /// `Ok` admits the peer; an error refuses it and closes the connection.
    fn validate(&self, peer: &PeerId, token: &[u8]) -> Result<(), AuthError>;
}

impl<F> Validator for F
where
    F: Fn(&PeerId, &[u8]) -> Result<(), AuthError> + Send + Sync + 'static,
{
    fn validate(&self, peer: &PeerId, token: &[u8]) -> Result<(), AuthError> {
        self(peer, token)
    }
}

/// Admits everyone. For tests and closed networks only.
#[derive(Debug, Clone, Copy, Default)]
pub struct AllowAll;

impl Validator for AllowAll {
    fn validate(&self, _peer: &PeerId, _token: &[u8]) -> Result<(), AuthError> {
        Ok(())
    }
}

/// The openZro HMAC v2 token: issues and checks tokens for one shared secret.
///
/// ```
/// use std::time::Duration;
/// use relay_cluster::{HmacValidator, PeerId, Validator};
///
/// let auth = HmacValidator::new("relay-secret");
/// let token = auth.issue(Duration::from_secs(60));
/// assert!(auth.validate(&PeerId::from_identity("a"), &token).is_ok());
/// assert!(HmacValidator::new("other").validate(&PeerId::from_identity("a"), &token).is_err());
/// ```
#[derive(Clone)]
pub struct HmacValidator {
    key: [u8; 32],
}

impl std::fmt::Debug for HmacValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HmacValidator").finish_non_exhaustive()
    }
}

impl HmacValidator {
    /// A validator for the secret given to the relay (`--auth-secret`). The HMAC key is
    /// SHA-256 of these bytes, as upstream derives it.
    pub fn new(secret: impl AsRef<[u8]>) -> Self {
        let mut key = [0u8; 32];
        key.copy_from_slice(Sha256::digest(secret.as_ref()).as_slice());
        Self { key }
    }

    fn mac(&self, payload: &[u8]) -> [u8; MAC_SIZE] {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key)
            .expect("HMAC accepts keys of any length");
        mac.update(payload);
        let mut out = [0u8; MAC_SIZE];
        out.copy_from_slice(mac.finalize().into_bytes().as_slice());
        out
    }

    /// A token that expires at `expires_at` (Unix seconds).
    pub fn issue_until(&self, expires_at: u64) -> Vec<u8> {
        // Zero-pad so that early timestamps still meet the ten-digit minimum.
        let payload = format!("{expires_at:010}");
        let mut token = Vec::with_capacity(TOKEN_HEADER_SIZE + payload.len());
        token.push(TOKEN_ALGORITHM_HMAC_SHA256);
        token.extend_from_slice(&self.mac(payload.as_bytes()));
        token.extend_from_slice(payload.as_bytes());
        token
    }

    /// A token valid for `ttl` from now.
    pub fn issue(&self, ttl: Duration) -> Vec<u8> {
        self.issue_until(unix_now().saturating_add(ttl.as_secs()))
    }

    /// Checks a token against the clock value `now` (Unix seconds) and returns its expiry.
    pub fn check_at(&self, token: &[u8], now: u64) -> Result<u64, AuthError> {
        let (&alg, rest) = token
            .split_first()
            .ok_or(AuthError::Malformed("empty token"))?;
        if rest.len() < MAC_SIZE {
            return Err(AuthError::Malformed("shorter than the signature"));
        }
        let (mac, payload) = rest.split_at(MAC_SIZE);
        if payload.len() < MIN_EXPIRY_DIGITS {
            return Err(AuthError::Malformed("expiry shorter than 10 digits"));
        }
        if payload.len() > MAX_EXPIRY_DIGITS {
            return Err(AuthError::Malformed("expiry longer than 20 digits"));
        }
        if alg != TOKEN_ALGORITHM_HMAC_SHA256 {
            return Err(AuthError::UnknownAlgorithm(alg));
        }
        if !bool::from(self.mac(payload).ct_eq(mac)) {
            return Err(AuthError::BadSignature);
        }
        let expires_at = std::str::from_utf8(payload)
            .ok()
            .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or(AuthError::Malformed("expiry is not a decimal number"))?;
        if now > expires_at {
            return Err(AuthError::Expired {
                expired_at: expires_at,
                now,
            });
        }
        Ok(expires_at)
    }
}

impl Validator for HmacValidator {
    fn validate(&self, _peer: &PeerId, token: &[u8]) -> Result<(), AuthError> {
        self.check_at(token, unix_now()).map(|_| ())
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_tokens_check_and_expire() {
        let v = HmacValidator::new("s");
        let t = v.issue_until(2_000_000_000);
        assert_eq!(v.check_at(&t, 1_999_999_999), Ok(2_000_000_000));
        assert_eq!(v.check_at(&t, 2_000_000_000), Ok(2_000_000_000));
        assert_eq!(
            v.check_at(&t, 2_000_000_001),
            Err(AuthError::Expired {
                expired_at: 2_000_000_000,
                now: 2_000_000_001
            })
        );
    }

    #[test]
    fn tampering_is_detected() {
        let v = HmacValidator::new("s");
        let mut t = v.issue_until(2_000_000_000);
        let last = t.len() - 1;
        t[last] = b'9';
        assert_eq!(v.check_at(&t, 0), Err(AuthError::BadSignature));
        let mut t = v.issue_until(2_000_000_000);
        t[0] = 0;
        assert_eq!(v.check_at(&t, 0), Err(AuthError::UnknownAlgorithm(0)));
    }

    #[test]
    fn malformed_tokens_are_refused() {
        let v = HmacValidator::new("s");
        for t in [&[][..], &[1], &[1; 33], &[1; 42], &[1; 60]] {
            assert!(matches!(v.check_at(t, 0), Err(AuthError::Malformed(_))));
        }
        // A valid signature over a non-numeric payload is still refused.
        let mut t = vec![1];
        t.extend_from_slice(&v.mac(b"abcdefghij"));
        t.extend_from_slice(b"abcdefghij");
        assert!(matches!(v.check_at(&t, 0), Err(AuthError::Malformed(_))));
    }

    #[test]
    fn closures_are_validators() {
        let only_a = |p: &PeerId, _: &[u8]| {
            if *p == PeerId::from_identity("a") {
                Ok(())
            } else {
                Err(AuthError::Refused("not a".into()))
            }
        };
        assert!(only_a.validate(&PeerId::from_identity("a"), b"").is_ok());
        assert!(only_a.validate(&PeerId::from_identity("b"), b"").is_err());
    }
}
