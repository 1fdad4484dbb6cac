"""Encryption keys, derived from the app's secrets exactly as each library derives them.

next-auth v4 (``next-auth/jwt``): HKDF-SHA256 of the secret with an empty salt and the info
"NextAuth.js Generated Encryption Key", 32 bytes, for ``enc: "A256GCM"``.

Auth.js v5 (``@auth/core/jwt``): HKDF-SHA256 of the secret, salted with the session cookie's name,
with the info "Auth.js Generated Encryption Key (<cookie name>)"; 64 bytes for ``A256CBC-HS512``
(what it issues) and 32 for ``A256GCM`` (what @auth/core issued before 0.23 and still accepts).
Each token names its key with ``kid``, the RFC 7638 thumbprint of the key as an ``oct`` JWK,
hashed with SHA-256 or SHA-512 to match the key's size.

Deriving costs an HKDF and a hash per secret, so a ``Keyring`` derives everything once.
"""

import functools
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias

from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from adapters.nextauth import base64url
from adapters.nextauth.jwe import A256CBC_HS512, A256GCM, CIPHERS, KEY_LENGTHS, ContentCipher
from domain.event import JsonValue

Version: TypeAlias = Literal[4, 5]

ISSUED_ENC: Mapping[Version, str] = {4: A256GCM, 5: A256CBC_HS512}
ACCEPTED_ENCS: Mapping[Version, frozenset[str]] = {
    4: frozenset({A256GCM}),
    5: frozenset({A256CBC_HS512, A256GCM}),
}


@dataclass(frozen=True, slots=True)
class ContentKey:
    """A key for one content encryption algorithm, the ``kid`` that names it, and its cipher."""

    enc: str
    key: bytes
    kid: str
    cipher: ContentCipher


def _derive_key(secret: str, salt: str, info: str, length: int) -> bytes:
    """HKDF-SHA256, as @panva/hkdf computes it: strings are UTF-8, an empty salt is the RFC's default."""
    if not secret:
        raise ValueError("a NextAuth secret must not be empty")
    return HKDF(SHA256(), length, salt.encode(), info.encode()).derive(secret.encode())


def thumbprint(key: bytes) -> str:
    """RFC 7638 thumbprint of ``{"kty": "oct", "k": key}``, with SHA-(8 x key length) as @auth/core picks."""
    members = f'{{"k":"{base64url.encode(key)}","kty":"oct"}}'.encode("ascii")
    return base64url.encode(hashlib.new(f"sha{len(key) * 8}", members).digest())


def _content_key(version: Version, secret: str, cookie_name: str, enc: str) -> ContentKey:
    if version == 4:
        key = _derive_key(secret, "", "NextAuth.js Generated Encryption Key", KEY_LENGTHS[enc])
    else:
        info = f"Auth.js Generated Encryption Key ({cookie_name})"
        key = _derive_key(secret, cookie_name, info, KEY_LENGTHS[enc])
    return ContentKey(enc, key, thumbprint(key), CIPHERS[enc](key))


class Keyring:
    """The keys that decrypt one session cookie, derived once, in the order the secrets were given.

    The first secret encrypts. To decrypt, v5 follows @auth/core's ``decode``: the key of the first
    secret whose thumbprint is the token's ``kid`` or, for a token without ``kid``, the first
    secret's key. next-auth v4's ``decode`` takes a single secret and ignores ``kid``; here each
    secret is tried in turn, so the secret can be rotated without signing everybody out.
    """

    def __init__(self, version: Version, secrets: Sequence[str], cookie_name: str) -> None:
        if not secrets:
            raise ValueError("at least one NextAuth secret is needed")
        self.version: Version = version
        self._keys = {
            enc: tuple(_content_key(version, secret, cookie_name, enc) for secret in secrets)
            for enc in ACCEPTED_ENCS[version]
        }
        self._by_kid: dict[tuple[str, str], ContentKey] = {}
        for enc, keys in self._keys.items():
            for content_key in keys:
                self._by_kid.setdefault((enc, content_key.kid), content_key)
        self.encryption_key = self._keys[ISSUED_ENC[version]][0]

    def decryption_keys(self, enc: str, header: Mapping[str, JsonValue]) -> tuple[ContentKey, ...]:
        """The keys to try, in order, for a token with this ``enc`` (one the version accepts) and header."""
        keys = self._keys[enc]
        if self.version == 4:
            return keys
        if "kid" not in header:
            return keys[:1]
        kid = header["kid"]
        key = self._by_kid.get((enc, kid)) if isinstance(kid, str) else None
        return () if key is None else (key,)


@functools.lru_cache(maxsize=32)
def keyring(version: Version, secrets: tuple[str, ...], cookie_name: str) -> Keyring:
    """A ``Keyring`` shared by every caller with the same configuration, so keys are derived once."""
    return Keyring(version, secrets, cookie_name)
