#!/usr/bin/env python3
"""Writes zwing-vectors.json: Z-Wing v1 messages made by a second, independent
implementation (Python `cryptography` >= 46, which wraps OpenSSL's ML-KEM and ML-DSA),
written from the protocol description rather than from the Rust code.

The Rust tests read the JSON file; they do not need Python. Re-run this script only to
regenerate the vectors (ML-KEM encapsulation and ML-DSA signing are randomised, so the
bytes change on every run while staying valid):

    python3 crates/zap-zwing/tests/data/gen_vectors.py > crates/zap-zwing/tests/data/zwing-vectors.json
"""

import hashlib
import json
import struct

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519, mldsa, mlkem, x25519
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

DOMAIN = b"lux.zwing.v1"
CTX_INIT = b"lux.zwing.v1/handshake-init"
CTX_RESP = b"lux.zwing.v1/handshake-response"
TRANSCRIPT = b"lux.zwing.v1/transcript"
COMBINER_LABEL = b"\\./X-Wing"
RESP_NONCE = b"zwing-resp-id"[:12]


def raw_pub(key):
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


class Identity:
    def __init__(self, seed):
        assert len(seed) == 160
        self.seed = seed
        self.ed = ed25519.Ed25519PrivateKey.from_private_bytes(seed[0:32])
        self.dsa = mldsa.MLDSA65PrivateKey.from_seed_bytes(seed[32:64])
        self.kem = mlkem.MLKEM768PrivateKey.from_seed_bytes(seed[64:128])
        self.x = x25519.X25519PrivateKey.from_private_bytes(seed[128:160])
        self.x_pub = raw_pub(self.x)
        self.public = (
            raw_pub(self.ed)
            + self.dsa.public_key().public_bytes_raw()
            + self.kem.public_key().public_bytes_raw()
            + self.x_pub
        )
        assert len(self.public) == 3200

    def sign(self, ctx, msg):
        d = digest(ctx, msg)
        return self.ed.sign(d) + self.dsa.sign(d, DOMAIN)


def digest(ctx, msg):
    return hashlib.sha256(DOMAIN + bytes([len(ctx)]) + ctx + msg).digest()


def u16(n):
    return struct.pack(">H", n)


def u32(n):
    return struct.pack(">I", n)


def combine(ss_m, ss_x, ct_x, pk_x):
    return hashlib.sha3_256(COMBINER_LABEL + ss_m + ss_x + ct_x + pk_x).digest()


def transcript(init_pub, ct):
    return hashlib.sha256(TRANSCRIPT + u32(len(init_pub)) + init_pub + u32(len(ct)) + ct).digest()


def hkdf(shared, label):
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label).derive(shared)


def record(key, seq, plaintext):
    sealed = ChaCha20Poly1305(key).encrypt(b"\0" * 4 + struct.pack(">Q", seq), plaintext, None)
    return u32(len(sealed)) + sealed


def main():
    a = Identity(bytes((i * 7 + 1) % 256 for i in range(160)))
    b = Identity(bytes((i * 13 + 5) % 256 for i in range(160)))

    init = u16(3200) + a.public + u16(3373) + a.sign(CTX_INIT, a.public)
    assert len(init) == 6577

    # B answers A: encapsulate to A's static keys with a fixed ephemeral X25519 scalar.
    ss_m, ct_m = a.kem.public_key().encapsulate()
    eph = x25519.X25519PrivateKey.from_private_bytes(bytes([0x55] * 32))
    ct_x = raw_pub(eph)
    ss_x = eph.exchange(x25519.X25519PublicKey.from_public_bytes(a.x_pub))
    ct = ct_m + ct_x
    shared = combine(ss_m, ss_x, ct_x, a.x_pub)
    t = transcript(a.public, ct)
    payload = u16(3200) + b.public + u16(3373) + b.sign(CTX_RESP, t)
    k_id = hkdf(shared, b"lux.zwing.v1/resp-id")
    sealed = ChaCha20Poly1305(k_id).encrypt(RESP_NONCE, payload, ct)
    response = ct + u16(len(sealed)) + sealed
    assert len(response) == 7715
    k_i2r = hkdf(shared, b"lux.zwing.v1/i2r")
    k_r2i = hkdf(shared, b"lux.zwing.v1/r2i")

    i2r_plain = [b"hello from the initiator", bytes(i % 251 for i in range(3000)), b"!"]
    r2i_plain = [b"hello from the responder", b"", bytes(range(256))]

    kdf_shared = bytes(range(32))
    out = {
        "about": "Z-Wing v1 vectors from an independent Python implementation (gen_vectors.py)",
        "combiner": {
            "ss_m": "01" * 32,
            "ss_x": "02" * 32,
            "ct_x": "03" * 32,
            "pk_x": "04" * 32,
            "shared": combine(b"\x01" * 32, b"\x02" * 32, b"\x03" * 32, b"\x04" * 32).hex(),
        },
        "kdf": {
            "shared": kdf_shared.hex(),
            "resp_id": hkdf(kdf_shared, b"lux.zwing.v1/resp-id").hex(),
            "i2r": hkdf(kdf_shared, b"lux.zwing.v1/i2r").hex(),
            "r2i": hkdf(kdf_shared, b"lux.zwing.v1/r2i").hex(),
        },
        "transcript": {
            "initiator_identity": "01 x 3200",
            "kem_ciphertext": "02 x 1120",
            "hash": transcript(b"\x01" * 3200, b"\x02" * 1120).hex(),
        },
        "identity_digest": {
            "ctx": CTX_INIT.hex(),
            "message": b"abc".hex(),
            "digest": digest(CTX_INIT, b"abc").hex(),
        },
        "initiator": {"seed": a.seed.hex(), "public": a.public.hex()},
        "responder": {"seed": b.seed.hex(), "public": b.public.hex()},
        "handshake_init": init.hex(),
        "handshake_response": response.hex(),
        "shared_secret": shared.hex(),
        "key_i2r": k_i2r.hex(),
        "key_r2i": k_r2i.hex(),
        "records_i2r": [
            {"plaintext": p.hex(), "frame": record(k_i2r, i, p).hex()} for i, p in enumerate(i2r_plain)
        ],
        "records_r2i": [
            {"plaintext": p.hex(), "frame": record(k_r2i, i, p).hex()} for i, p in enumerate(r2i_plain)
        ],
    }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
