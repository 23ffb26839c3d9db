"""Signed envelopes, byte for byte as the original module client makes them.

Every message a module sends is

    {"signed_msg": "<base64>", "origin": "<module>", "resolve_id": "<uuid4>"}

where ``signed_msg`` is PyNaCl's combined form (the 64-byte Ed25519
signature followed by the signed bytes, base64), and the signed bytes are
the JSON of the message with ``resolve_id`` and then ``origin`` set. Both
JSON texts use Python's default ``json.dumps`` spacing and ASCII escapes,
which is what tests/data/vectors.json was made with.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from typing import Any, Mapping

import nacl.encoding
import nacl.signing

from .errors import ConfigError


def decode_seed(text: str) -> bytes:
    """The 32-byte seed from the content of ``signing_key.key`` (base64, as
    the original ``signing.py`` and ``sse-platform keygen`` write it).
    The error never quotes the key."""
    try:
        seed = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        seed = b""
    if len(seed) != 32:
        raise ConfigError("the signing key is not base64 of a 32-byte Ed25519 seed")
    return seed


def new_resolve_id() -> str:
    """A fresh uuid4, as the original client uses for every message; the
    platform accepts each ``resolve_id`` once per module per hour."""
    return str(uuid.uuid4())


class Signer:
    """Signs messages as one module."""

    def __init__(self, module: str, seed_b64: str) -> None:
        self.module = module
        self._key = nacl.signing.SigningKey(decode_seed(seed_b64))

    def __repr__(self) -> str:
        return f"Signer(module={self.module!r})"

    @property
    def verify_key_b64(self) -> str:
        """The public key, as ``verify_keys.json`` holds it."""
        return self._key.verify_key.encode(nacl.encoding.Base64Encoder).decode("ascii")

    def inner_bytes(self, message: Mapping[str, Any], resolve_id: str) -> bytes:
        """The bytes that get signed. The caller's mapping is not changed;
        a key it already has keeps its place (that is how the vectors were
        made). NaN and infinities are refused: the platform's JSON parser
        would refuse them too."""
        inner = dict(message)
        inner["resolve_id"] = resolve_id
        inner["origin"] = self.module
        return json.dumps(inner, allow_nan=False).encode("utf-8")

    def envelope(self, message: Mapping[str, Any], resolve_id: str) -> str:
        """The text frame to send for ``message``."""
        signed = self._key.sign(
            self.inner_bytes(message, resolve_id), encoder=nacl.encoding.Base64Encoder
        )
        return json.dumps(
            {
                "signed_msg": signed.decode("ascii"),
                "origin": self.module,
                "resolve_id": resolve_id,
            }
        )
