"""Encryption at rest for the secrets identity keeps (TOTP seeds, private signing keys).

AES-256-GCM with a key derived (HKDF-SHA256) from ``IDENTITY_KEY_SECRET``. Each ciphertext is
bound to what it protects (associated data such as ``totp:<device id>``), so a value copied
into another row does not decrypt. Stored form: ``v1.<base64url(nonce + ciphertext)>``.
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from shared.errors import FailedPrecondition

_VERSION = "v1"
_NONCE_BYTES = 12


class SecretBox:
    def __init__(self, key_secret: str) -> None:
        key = HKDF(
            algorithm=hashes.SHA256(),
            length=32,
            salt=b"haven-identity-at-rest",
            info=b"haven identity secrets v1",
        ).derive(key_secret.encode("utf-8"))
        self._aead = AESGCM(key)

    def seal(self, plaintext: str, *, purpose: str) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext.encode("utf-8"), purpose.encode("utf-8"))
        return f"{_VERSION}.{base64.urlsafe_b64encode(nonce + sealed).decode('ascii')}"

    def open(self, stored: str, *, purpose: str) -> str:
        version, _, body = stored.partition(".")
        if version != _VERSION or not body:
            raise FailedPrecondition("A stored secret is in an unknown format.")
        raw = base64.urlsafe_b64decode(body.encode("ascii"))
        try:
            plain = self._aead.decrypt(
                raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], purpose.encode("utf-8")
            )
        except InvalidTag as exc:
            # Wrong IDENTITY_KEY_SECRET, or a value moved between rows.
            raise FailedPrecondition(
                "A stored secret cannot be decrypted (has IDENTITY_KEY_SECRET changed?)."
            ) from exc
        return plain.decode("utf-8")
