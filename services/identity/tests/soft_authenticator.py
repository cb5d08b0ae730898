"""A software WebAuthn authenticator built from fido2's own classes and ``cryptography``
(DESIGN.md section 9: the PyPI soft-webauthn pins fido2<2). It answers the JSON options our
RPCs return with the JSON a browser's ``PublicKeyCredential.toJSON()`` would give."""

from __future__ import annotations

import hashlib
import json
import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from fido2.cose import ES256
from fido2.utils import websafe_decode, websafe_encode
from fido2.webauthn import (
    AttestationObject,
    AttestedCredentialData,
    AuthenticatorData,
    CollectedClientData,
)

FLAGS = AuthenticatorData.FLAG


class SoftAuthenticator:
    def __init__(self, origin: str = "http://localhost:8080") -> None:
        self.origin = origin
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = os.urandom(32)
        self.counter = 0
        self.user_handle: bytes | None = None

    def create(self, options_json: str) -> str:
        options = json.loads(options_json)["publicKey"]
        rp_id = options["rp"]["id"]
        self.user_handle = websafe_decode(options["user"]["id"])
        client = CollectedClientData.create("webauthn.create", options["challenge"], self.origin)
        credential = AttestedCredentialData.create(
            b"\0" * 16, self.credential_id, ES256.from_cryptography_key(self.key.public_key()))
        auth_data = AuthenticatorData.create(
            hashlib.sha256(rp_id.encode()).digest(), FLAGS.UP | FLAGS.UV | FLAGS.AT,
            self.counter, credential)
        attestation = AttestationObject.create("none", auth_data, {})
        return json.dumps({
            "id": websafe_encode(self.credential_id), "rawId": websafe_encode(self.credential_id),
            "type": "public-key", "clientExtensionResults": {},
            "response": {"clientDataJSON": client.b64,
                         "attestationObject": websafe_encode(attestation)},
        })

    def get(self, options_json: str, *, counter_step: int = 1, origin: str | None = None,
            user_handle: bytes | None = None) -> str:
        options = json.loads(options_json)["publicKey"]
        self.counter += counter_step
        client = CollectedClientData.create("webauthn.get", options["challenge"],
                                            origin or self.origin)
        auth_data = AuthenticatorData.create(
            hashlib.sha256(options["rpId"].encode()).digest(), FLAGS.UP | FLAGS.UV,
            self.counter)
        signature = self.key.sign(bytes(auth_data) + client.hash, ec.ECDSA(hashes.SHA256()))
        handle = user_handle if user_handle is not None else self.user_handle
        return json.dumps({
            "id": websafe_encode(self.credential_id), "rawId": websafe_encode(self.credential_id),
            "type": "public-key", "clientExtensionResults": {},
            "response": {"clientDataJSON": client.b64,
                         "authenticatorData": websafe_encode(auth_data),
                         "signature": websafe_encode(signature),
                         "userHandle": websafe_encode(handle) if handle else None},
        })
