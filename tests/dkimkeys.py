"""Keys and signed messages for DKIM tests, generated here (nothing secret is committed)."""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from functools import cache

import dkim
import nacl.encoding
import nacl.signing
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


@dataclass(frozen=True)
class Key:
    private: bytes  # what dkim.sign takes
    record: bytes  # the TXT record to publish
    algorithm: bytes


def _prime(bits: int) -> int:
    while True:
        n = secrets.randbits(bits) | (1 << (bits - 1)) | 1
        if all(pow(a, n - 1, n) == 1 for a in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37)):
            return n


def _weak_rsa(bits: int) -> rsa.RSAPrivateKey:
    """cryptography refuses to generate keys below 1024 bits; a weak key must be built by hand."""
    e = 65537
    while True:
        p, q = _prime(bits // 2), _prime(bits // 2)
        phi = (p - 1) * (q - 1)
        if p != q and phi % e and (p * q).bit_length() == bits:
            break
    d = pow(e, -1, phi)
    nums = rsa.RSAPrivateNumbers(
        p, q, d, d % (p - 1), d % (q - 1), pow(q, -1, p), rsa.RSAPublicNumbers(e, p * q)
    )
    return nums.private_key(unsafe_skip_rsa_key_validation=True)


@cache
def rsa_key(bits: int) -> Key:
    k = rsa.generate_private_key(public_exponent=65537, key_size=bits) if bits >= 1024 else _weak_rsa(bits)
    pem = k.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    pub = k.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return Key(pem, b"v=DKIM1; k=rsa; p=" + base64.b64encode(pub), b"rsa-sha256")


@cache
def ed25519_key() -> Key:
    sk = nacl.signing.SigningKey.generate()
    priv = sk.encode(encoder=nacl.encoding.Base64Encoder)
    pub = sk.verify_key.encode(encoder=nacl.encoding.Base64Encoder)
    return Key(priv, b"v=DKIM1; k=ed25519; p=" + pub, b"ed25519-sha256")


def letter(
    from_addr: str = "saraban@example.go.th", body: str = "เรียน ท่าน ตามหนังสือ ลงวันที่ ๑๖ ก.พ. ๒๕๖๙\r\n"
) -> bytes:
    return (
        f"From: Saraban <{from_addr}>\r\nTo: somchai@example.com\r\nSubject: test\r\n"
        "Date: Mon, 16 Feb 2026 09:00:00 +0700\r\nMessage-ID: <t@example.go.th>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + body
    ).encode()


def sign(
    message: bytes,
    key: Key,
    domain: str = "example.go.th",
    selector: str = "s1",
    algorithm: bytes | None = None,
    length: bool = False,
) -> bytes:
    sig = dkim.sign(
        message,
        selector.encode(),
        domain.encode(),
        key.private,
        signature_algorithm=algorithm or key.algorithm,
        include_headers=[b"from", b"to", b"subject", b"date", b"message-id"],
        length=length,
    )
    return sig + message
