//! The Z-Wing v1 handshake without I/O: one round trip, initiator first.
//!
//! ```text
//! initiator                                          responder
//!   HandshakeInit = SignedIdentity(I, Sign_I("…/handshake-init", I))  ──►
//!                                                     verify, check policy,
//!                                                     encapsulate to I's static KEM key
//!   ◄──  HandshakeResponse = ct ‖ u16 len ‖ Seal(k_id, SignedIdentity(R, Sign_R("…/handshake-response", T)))
//!   decapsulate, open, verify R's signature over T
//! ```
//!
//! `T` is [`transcript_hash`]`(I, ct)`; the keys come from
//! [`derive_key`](crate::kdf::derive_key) over the combined KEM secret. Use these types to
//! run Z-Wing over a transport of your own; [`connect`](crate::connect) and
//! [`accept`](crate::accept) drive them over any `AsyncRead + AsyncWrite`.

use std::sync::Arc;

use chacha20poly1305::aead::inout::InOutBuf;
use chacha20poly1305::{AeadInOut, ChaCha20Poly1305, KeyInit, Nonce, Tag};
use zeroize::Zeroizing;

use crate::identity::{Identity, IdentityPublic};
use crate::kdf::{HandshakeKeys, transcript_hash};
use crate::kem::{self, EncapsulationRandomness};
use crate::random::random_array;
use crate::sizes::TAG_LEN;
use crate::stream::ZwingStream;
use crate::wire::{HandshakeResponse, SignedIdentity};
use crate::{Error, labels};

/// Which end of the handshake a side played.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Sent `HandshakeInit` (the client).
    Initiator,
    /// Answered with `HandshakeResponse` (the server).
    Responder,
}

/// The outcome of a successful handshake: the peer's identity and the record keys.
pub struct Established {
    role: Role,
    remote: IdentityPublic,
    send_key: Zeroizing<[u8; 32]>,
    recv_key: Zeroizing<[u8; 32]>,
}

impl Established {
    /// The peer's verified public identity.
    pub fn remote_identity(&self) -> &IdentityPublic {
        &self.remote
    }

    /// The role this side played.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Wraps the transport the handshake ran over into an encrypted stream.
    pub fn into_stream<IO>(self, io: IO) -> ZwingStream<IO> {
        ZwingStream::new(io, self.role, self.remote, &self.send_key, &self.recv_key)
    }
}

impl std::fmt::Debug for Established {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Established")
            .field("role", &self.role)
            .field("remote", &self.remote)
            .finish_non_exhaustive()
    }
}

/// The initiator's side: build [`Initiator::message`], send it, then
/// [`finish`](Initiator::finish) with the reply.
pub struct Initiator {
    identity: Arc<Identity>,
    message: Vec<u8>,
}

impl Initiator {
    /// Signs this side's public identity into a `HandshakeInit`.
    ///
    /// # Errors
    /// [`Error::Randomness`] if the system generator fails.
    pub fn new(identity: Arc<Identity>) -> Result<Self, Error> {
        let public = identity.public().as_bytes();
        let signature = identity.sign(labels::CTX_HANDSHAKE_INIT, public)?;
        let message = SignedIdentity {
            identity: public,
            signature: &signature,
        }
        .to_vec()?;
        Ok(Self { identity, message })
    }

    /// The `HandshakeInit` payload (6577 bytes) to send in one frame.
    pub fn message(&self) -> &[u8] {
        &self.message
    }

    /// Processes the responder's `HandshakeResponse` payload: decapsulates, opens the
    /// sealed identity and verifies the responder's signature over the transcript.
    ///
    /// The caller still decides whether the verified identity is welcome (see
    /// [`PeerPolicy`](crate::PeerPolicy)). Each successful call yields a session of its
    /// own; the `HandshakeInit` itself must still be sent only once.
    ///
    /// # Errors
    /// [`Error::InvalidWireFormat`] for a malformed message, [`Error::NonContributory`]
    /// for a low-order ephemeral key, [`Error::CiphertextCorrupted`] when the sealed
    /// identity does not open (a forged or altered response), [`Error::InvalidIdentity`]
    /// or [`Error::SignatureInvalid`] for a bad responder identity.
    pub fn finish(&self, response: &[u8]) -> Result<Established, Error> {
        let response = HandshakeResponse::decode(response)?;
        let shared = kem::decapsulate(self.identity.kem_secret(), response.kem_ciphertext)?;
        let keys = HandshakeKeys::derive(&shared);

        let sealed = response.sealed_identity;
        let Some(plain_len) = sealed.len().checked_sub(TAG_LEN) else {
            return Err(Error::CiphertextCorrupted);
        };
        let (ct, tag) = sealed.split_at(plain_len);
        let tag = Tag::try_from(tag).map_err(|_| Error::CiphertextCorrupted)?;
        let mut plain = vec![0u8; plain_len];
        let buf = InOutBuf::new(ct, &mut plain)
            .map_err(|_| Error::InvalidWireFormat("sealed identity length mismatch"))?;
        identity_aead(&keys.response_identity)
            .decrypt_inout_detached(
                &Nonce::from(labels::RESPONSE_IDENTITY_NONCE),
                response.kem_ciphertext,
                buf,
                &tag,
            )
            .map_err(|_| Error::CiphertextCorrupted)?;

        let signed = SignedIdentity::decode(&plain)?;
        let remote = IdentityPublic::from_bytes(signed.identity)?;
        let transcript =
            transcript_hash(self.identity.public().as_bytes(), response.kem_ciphertext);
        remote.verify(
            labels::CTX_HANDSHAKE_RESPONSE,
            &transcript,
            signed.signature,
        )?;

        Ok(Established {
            role: Role::Initiator,
            remote,
            send_key: keys.initiator_to_responder,
            recv_key: keys.responder_to_initiator,
        })
    }
}

impl std::fmt::Debug for Initiator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Initiator")
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

/// A `HandshakeInit` whose signature verified: the responder checks
/// [`remote_identity`](VerifiedInit::remote_identity) against its policy, then
/// [`respond`](VerifiedInit::respond)s.
#[derive(Debug)]
pub struct VerifiedInit {
    remote: IdentityPublic,
}

impl VerifiedInit {
    /// Decodes a `HandshakeInit` payload and verifies the initiator's signature over its
    /// own public identity.
    ///
    /// This proves only that the identity's owner signed *some* `HandshakeInit` once:
    /// the message carries no nonce, so a recorded one can be replayed. The replayer
    /// cannot read the response, though; see [`ReplayCache`](crate::ReplayCache) and
    /// [`ZwingStream::peer_confirmed`].
    ///
    /// # Errors
    /// [`Error::InvalidWireFormat`], [`Error::InvalidIdentity`] or
    /// [`Error::SignatureInvalid`].
    pub fn verify(init: &[u8]) -> Result<Self, Error> {
        let signed = SignedIdentity::decode(init)?;
        let remote = IdentityPublic::from_bytes(signed.identity)?;
        remote.verify(
            labels::CTX_HANDSHAKE_INIT,
            signed.identity,
            signed.signature,
        )?;
        Ok(Self { remote })
    }

    /// The initiator's identity, verified but not yet proven live (see
    /// [`VerifiedInit::verify`]).
    pub fn remote_identity(&self) -> &IdentityPublic {
        &self.remote
    }

    /// Encapsulates to the initiator's static KEM key, signs the transcript and seals this
    /// side's identity. Returns the `HandshakeResponse` payload (7715 bytes) to send in one
    /// frame, and the established session.
    ///
    /// # Errors
    /// [`Error::NonContributory`] if the initiator's X25519 key has low order,
    /// [`Error::Randomness`] if the system generator fails.
    pub fn respond(self, identity: &Identity) -> Result<(Vec<u8>, Established), Error> {
        let randomness = EncapsulationRandomness::draw()?;
        let sign_rnd = random_array::<32>()?;
        let (ct, shared) = kem::encapsulate(
            self.remote.ml_kem(),
            self.remote.x25519_public_key(),
            &randomness,
        )?;
        let keys = HandshakeKeys::derive(&shared);

        let transcript = transcript_hash(self.remote.as_bytes(), &ct);
        let signature =
            identity.sign_with(labels::CTX_HANDSHAKE_RESPONSE, &transcript, &sign_rnd)?;
        let mut sealed = SignedIdentity {
            identity: identity.public().as_bytes(),
            signature: &signature,
        }
        .to_vec()?;
        let tag = identity_aead(&keys.response_identity)
            .encrypt_inout_detached(
                &Nonce::from(labels::RESPONSE_IDENTITY_NONCE),
                &ct,
                InOutBuf::from(&mut sealed[..]),
            )
            .map_err(|_| Error::InvalidWireFormat("sealed identity too long"))?;
        sealed.extend_from_slice(tag.as_slice());

        let mut message = Vec::new();
        HandshakeResponse {
            kem_ciphertext: &ct,
            sealed_identity: &sealed,
        }
        .encode_into(&mut message)?;

        Ok((
            message,
            Established {
                role: Role::Responder,
                remote: self.remote,
                send_key: keys.responder_to_initiator,
                recv_key: keys.initiator_to_responder,
            },
        ))
    }
}

fn identity_aead(key: &[u8; 32]) -> ChaCha20Poly1305 {
    ChaCha20Poly1305::new(&(*key).into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sizes::{HANDSHAKE_INIT_LEN, HANDSHAKE_RESPONSE_LEN};

    #[test]
    fn both_sides_agree_on_keys_and_identities() {
        let client = Arc::new(Identity::generate().unwrap());
        let server = Identity::generate().unwrap();
        let init = Initiator::new(client.clone()).unwrap();
        assert_eq!(init.message().len(), HANDSHAKE_INIT_LEN);
        let verified = VerifiedInit::verify(init.message()).unwrap();
        assert_eq!(verified.remote_identity(), client.public());
        let (response, server_side) = verified.respond(&server).unwrap();
        assert_eq!(response.len(), HANDSHAKE_RESPONSE_LEN);
        let client_side = init.finish(&response).unwrap();
        assert_eq!(client_side.remote_identity(), server.public());
        assert_eq!(*client_side.send_key, *server_side.recv_key);
        assert_eq!(*client_side.recv_key, *server_side.send_key);
        assert_ne!(*client_side.send_key, *client_side.recv_key);
    }

    #[test]
    fn a_response_for_another_initiator_does_not_open() {
        let alice = Arc::new(Identity::generate().unwrap());
        let mallory = Arc::new(Identity::generate().unwrap());
        let server = Identity::generate().unwrap();
        let to_alice = Initiator::new(alice).unwrap();
        let (response, _) = VerifiedInit::verify(to_alice.message())
            .unwrap()
            .respond(&server)
            .unwrap();
        let other = Initiator::new(mallory).unwrap();
        assert!(matches!(
            other.finish(&response),
            Err(Error::CiphertextCorrupted)
        ));
    }

    #[test]
    fn every_altered_byte_of_a_response_is_caught() {
        let client = Arc::new(Identity::generate().unwrap());
        let server = Identity::generate().unwrap();
        let init = Initiator::new(client.clone()).unwrap();
        let (response, _) = VerifiedInit::verify(init.message())
            .unwrap()
            .respond(&server)
            .unwrap();
        for i in [
            0,
            1087,
            1088,
            1119,
            1120,
            1121,
            1122,
            5000,
            HANDSHAKE_RESPONSE_LEN - 1,
        ] {
            let mut bad = response.clone();
            bad[i] ^= 0x01;
            assert!(init.finish(&bad).is_err(), "byte {i}");
        }
    }

    #[test]
    fn an_altered_init_is_refused() {
        let client = Arc::new(Identity::generate().unwrap());
        let init = Initiator::new(client).unwrap();
        for i in [0, 2, 40, 3202, 3204, 3300, HANDSHAKE_INIT_LEN - 1] {
            let mut bad = init.message().to_vec();
            bad[i] ^= 0x04;
            assert!(VerifiedInit::verify(&bad).is_err(), "byte {i}");
        }
    }
}
