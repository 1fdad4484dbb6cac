"""Compact JWE (RFC 7516) with ``alg: "dir"``: the content is encrypted with the shared key itself.

Only what NextAuth uses is here: ``A256GCM`` and ``A256CBC-HS512`` (RFC 7518 sections 5.3 and
5.2.5), and the ``zip: "DEF"`` raw-DEFLATE compression that jose still honours when decrypting.
"""

import hmac
import os
import threading
import zlib
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import NamedTuple, Protocol

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.ciphers.algorithms import AES
from cryptography.hazmat.primitives.ciphers.modes import CBC
from cryptography.hazmat.primitives.hashes import SHA512
from cryptography.hazmat.primitives.hmac import HMAC

from adapters.nextauth import base64url
from adapters.nextauth.errors import DecryptionFailed, MalformedToken
from domain.event import JsonValue

A256GCM = "A256GCM"
A256CBC_HS512 = "A256CBC-HS512"
# jose's default ``maxDecompressedLength``: a bigger plaintext is refused rather than inflated.
MAX_INFLATED_BYTES = 250_000
_BLOCK = 16
# How many protected headers ``parse`` knows decoded: a key issues one, so a few per secret.
MAX_KNOWN_HEADERS = 32
_known_headers: dict[str, Mapping[str, JsonValue]] = {}
# PKCS#7 padding of each length, indexed by that length.
_PADDINGS = tuple(bytes([pad]) * pad for pad in range(_BLOCK + 1))


class ContentCipher(Protocol):
    """One content encryption algorithm bound to one key, ready for any number of tokens."""

    @property
    def iv_length(self) -> int: ...

    def seal(self, iv: bytes, plaintext: bytes, aad: bytes) -> tuple[bytes, bytes]:
        """The ciphertext and authentication tag."""
        ...

    def open(self, iv: bytes, ciphertext: bytes, tag: bytes, aad: bytes) -> bytes:
        """The plaintext, or ``DecryptionFailed`` when the tag does not authenticate it."""
        ...


class AesGcm:
    """A256GCM: AES-256 in Galois/Counter Mode with a 96-bit IV and a 128-bit tag."""

    iv_length = 12
    _tag_length = 16

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def seal(self, iv: bytes, plaintext: bytes, aad: bytes) -> tuple[bytes, bytes]:
        sealed = self._aead.encrypt(iv, plaintext, aad)
        return sealed[: -self._tag_length], sealed[-self._tag_length :]

    def open(self, iv: bytes, ciphertext: bytes, tag: bytes, aad: bytes) -> bytes:
        if len(tag) != self._tag_length:
            raise DecryptionFailed("the authentication tag has the wrong length")
        try:
            return self._aead.decrypt(iv, ciphertext + tag, aad)
        except InvalidTag as error:
            raise DecryptionFailed("the authentication tag does not match") from error


class _CbcDecryptor(threading.local):
    """One AES-CBC decryption context per key and thread, reused for every token.

    A CBC context chains each block to the ciphertext block before it, the last one it was fed.
    Fed the token's IV as a first block and then its ciphertext, it decrypts the ciphertext with
    that IV whatever it decrypted before; the IV block's own output is discarded. Fed only whole
    blocks, it holds nothing back. Contexts are not safe to share between threads.
    """

    def __init__(self, aes: AES) -> None:
        self.update = Cipher(aes, CBC(bytes(_BLOCK))).decryptor().update


class AesCbcHmacSha512:
    """A256CBC-HS512: AES-256-CBC with PKCS#7 padding, authenticated by HMAC-SHA-512.

    The 64-byte key is the MAC key then the encryption key. The tag is the first 32 bytes of the
    MAC of AAD, IV, ciphertext and the AAD's length in bits; it is checked before decrypting.
    """

    iv_length = _BLOCK
    _half = 32

    def __init__(self, key: bytes) -> None:
        self._mac = HMAC(key[: self._half], SHA512())
        self._aes = AES(key[self._half :])
        self._cbc = _CbcDecryptor(self._aes)

    def seal(self, iv: bytes, plaintext: bytes, aad: bytes) -> tuple[bytes, bytes]:
        pad = _BLOCK - len(plaintext) % _BLOCK
        encryptor = Cipher(self._aes, CBC(iv)).encryptor()
        ciphertext = encryptor.update(plaintext + _PADDINGS[pad]) + encryptor.finalize()
        return ciphertext, self._tag(iv, ciphertext, aad)

    def open(self, iv: bytes, ciphertext: bytes, tag: bytes, aad: bytes) -> bytes:
        if not hmac.compare_digest(tag, self._tag(iv, ciphertext, aad)):
            raise DecryptionFailed("the authentication tag does not match")
        if not ciphertext or len(ciphertext) % _BLOCK:
            raise DecryptionFailed("the ciphertext is not whole AES blocks")
        if len(iv) != _BLOCK:
            raise MalformedToken("the initialization vector has the wrong length")
        padded = self._cbc.update(iv + ciphertext)[_BLOCK:]
        pad = padded[-1]
        if not 1 <= pad <= _BLOCK or padded[-pad:] != _PADDINGS[pad]:
            raise DecryptionFailed("the plaintext's padding is wrong")
        return padded[:-pad]

    def _tag(self, iv: bytes, ciphertext: bytes, aad: bytes) -> bytes:
        mac = self._mac.copy()
        mac.update(b"".join((aad, iv, ciphertext, (len(aad) * 8).to_bytes(8, "big"))))
        return mac.finalize()[: self._half]


CIPHERS: Mapping[str, Callable[[bytes], ContentCipher]] = {A256GCM: AesGcm, A256CBC_HS512: AesCbcHmacSha512}
KEY_LENGTHS: Mapping[str, int] = {A256GCM: 32, A256CBC_HS512: 64}


class CompactJWE(NamedTuple):
    """A compact JWE split into its parts; ``protected`` is the header as sent, which is the AAD."""

    header: Mapping[str, JsonValue]
    protected: str
    encrypted_key: str
    iv: bytes
    ciphertext: bytes
    tag: bytes


def decode_json_object(data: bytes, what: str) -> dict[str, JsonValue]:
    """``data`` as a JSON object, or ``MalformedToken`` naming ``what`` it should have been."""
    try:
        value = msgspec.json.decode(data)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as error:
        raise MalformedToken(f"the {what} is not JSON") from error
    if not isinstance(value, dict):
        raise MalformedToken(f"the {what} is not a JSON object")
    return value


def parse(token: str) -> CompactJWE:
    """Split and decode a compact JWE; ``MalformedToken`` unless it has five canonical parts."""
    parts = token.split(".")
    if len(parts) != 5:
        raise MalformedToken("not a compact JWE: it needs five dot-separated parts")
    protected, encrypted_key, iv, ciphertext, tag = parts
    decode = base64url.decode
    header = _known_headers.get(protected)
    try:
        if header is None:
            header = decode_json_object(decode(protected), "JWE protected header")
        decoded_iv, decoded_ciphertext, decoded_tag = decode(iv), decode(ciphertext), decode(tag)
    except ValueError as error:
        raise MalformedToken("a part of the JWE is not base64url") from error
    return CompactJWE(header, protected, encrypted_key, decoded_iv, decoded_ciphertext, decoded_tag)


def remember_header(jwe: CompactJWE) -> None:
    """Keep the decoded header of a token that authenticated, so the next token with the same one,
    which is every token a key issues, skips decoding it: the header's text stands for its value.

    Only authenticated headers are kept, and only a few, so no one without the key can fill this.
    """
    if len(_known_headers) < MAX_KNOWN_HEADERS and jwe.protected not in _known_headers:
        _known_headers[jwe.protected] = MappingProxyType(dict(jwe.header))


def encrypt(plaintext: bytes, header: Mapping[str, JsonValue], cipher: ContentCipher) -> str:
    """The compact JWE of ``plaintext``; ``header["enc"]`` must name ``cipher``'s algorithm."""
    protected = base64url.encode(msgspec.json.encode(header))
    iv = os.urandom(cipher.iv_length)
    ciphertext, tag = cipher.seal(iv, plaintext, protected.encode("ascii"))
    return ".".join(
        (protected, "", base64url.encode(iv), base64url.encode(ciphertext), base64url.encode(tag))
    )


def decrypt(jwe: CompactJWE, cipher: ContentCipher) -> bytes:
    """The plaintext, or ``DecryptionFailed`` when ``cipher`` did not encrypt it."""
    if len(jwe.iv) != cipher.iv_length:
        raise MalformedToken("the initialization vector has the wrong length")
    return cipher.open(jwe.iv, jwe.ciphertext, jwe.tag, jwe.protected.encode("ascii"))


def inflate(data: bytes) -> bytes:
    """Undo ``zip: "DEF"`` (raw DEFLATE, RFC 1951), refusing truncated, trailing or oversized data."""
    inflater = zlib.decompressobj(wbits=-zlib.MAX_WBITS)
    try:
        inflated = inflater.decompress(data, MAX_INFLATED_BYTES + 1)
    except zlib.error as error:
        raise MalformedToken("the compressed plaintext does not inflate") from error
    if len(inflated) > MAX_INFLATED_BYTES or not inflater.eof or inflater.unused_data:
        raise MalformedToken("the compressed plaintext is truncated, padded or too large")
    return inflated
