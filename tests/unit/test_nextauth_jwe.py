"""The content ciphers: decryption matches a plain CBC context, whatever the length or thread."""

import base64
import os
import threading

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher
from cryptography.hazmat.primitives.ciphers.algorithms import AES
from cryptography.hazmat.primitives.ciphers.modes import CBC

from adapters.nextauth import base64url, codec, jwe
from adapters.nextauth.errors import DecryptionFailed
from adapters.nextauth.jwe import AesCbcHmacSha512, AesGcm
from adapters.nextauth.keys import keyring
from domain.event import JsonValue

NOW = 1_795_890_620


@pytest.mark.parametrize("length", [0, 1, 15, 16, 17, 31, 32, 33, 100, 4000])
def test_cbc_hmac_round_trips_every_length(length: int) -> None:
    cipher = AesCbcHmacSha512(os.urandom(64))
    for _ in range(3):
        plaintext, iv, aad = os.urandom(length), os.urandom(16), os.urandom(length % 50)
        ciphertext, tag = cipher.seal(iv, plaintext, aad)
        assert cipher.open(iv, ciphertext, tag, aad) == plaintext


def test_cbc_hmac_decrypts_as_a_cbc_context_does() -> None:
    key, iv, plaintext = os.urandom(64), os.urandom(16), b"x" * 40
    cipher = AesCbcHmacSha512(key)
    ciphertext, tag = cipher.seal(iv, plaintext, b"aad")
    decryptor = Cipher(AES(key[32:]), CBC(iv)).decryptor()
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    assert cipher.open(iv, ciphertext, tag, b"aad") == padded[: -padded[-1]] == plaintext


def test_cbc_hmac_refuses_a_changed_token_and_then_still_decrypts() -> None:
    cipher = AesCbcHmacSha512(os.urandom(64))
    iv = os.urandom(16)
    ciphertext, tag = cipher.seal(iv, b"hello", b"aad")
    changed = bytes([ciphertext[0] ^ 1]) + ciphertext[1:]
    with pytest.raises(DecryptionFailed):
        cipher.open(iv, changed, tag, b"aad")
    with pytest.raises(DecryptionFailed):
        cipher.open(iv, ciphertext[:-1], tag, b"aad")
    assert cipher.open(iv, ciphertext, tag, b"aad") == b"hello"


@pytest.mark.parametrize("cipher_type", [AesCbcHmacSha512, AesGcm])
def test_one_cipher_serves_many_threads(cipher_type: type[AesCbcHmacSha512] | type[AesGcm]) -> None:
    cipher = cipher_type(os.urandom(64 if cipher_type is AesCbcHmacSha512 else 32))
    failures: list[BaseException] = []

    def decrypt_many() -> None:
        try:
            for index in range(300):
                iv, plaintext = os.urandom(cipher.iv_length), os.urandom(index)
                ciphertext, tag = cipher.seal(iv, plaintext, b"aad")
                assert cipher.open(iv, ciphertext, tag, b"aad") == plaintext
        except BaseException as error:  # reported by the main thread
            failures.append(error)

    threads = [threading.Thread(target=decrypt_many) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


@pytest.mark.parametrize("prefix", ["", "ABCD", "eyJhbGci"])
def test_base64url_takes_exactly_the_canonical_last_characters(prefix: str) -> None:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    for body in (prefix + "A", prefix + "AA"):
        for last in alphabet + "+/=é.":
            text = body + last
            try:
                decoded = base64url.decode(text)
            except ValueError:
                decoded = None
            canonical = last in alphabet and base64url.encode(base64.urlsafe_b64decode(text + "==")) == text
            assert (decoded is not None) == canonical, text
            assert decoded is None or base64url.encode(decoded) == text


@pytest.fixture
def no_known_headers(monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    known: dict[str, object] = {}
    monkeypatch.setattr(jwe, "_known_headers", known)
    return known


def test_parse_remembers_only_the_headers_of_tokens_that_authenticated(
    no_known_headers: dict[str, object],
) -> None:
    ring = keyring(5, ("secret",), "authjs.session-token")
    token = codec.encode({"sub": "u-1"}, ring, max_age=60, now=NOW)
    forged = codec.encode({"sub": "u-1"}, keyring(5, ("other",), "authjs.session-token"), max_age=60, now=NOW)
    with pytest.raises(DecryptionFailed):
        codec.decode(forged, (ring,), now=NOW)
    assert no_known_headers == {}
    assert codec.decode(token, (ring,), now=NOW)["sub"] == "u-1"
    protected = token.split(".", 1)[0]
    assert list(no_known_headers) == [protected]
    assert jwe.parse(token).header == {"alg": "dir", "enc": "A256CBC-HS512", "kid": ring.encryption_key.kid}
    assert codec.decode(token, (ring,), now=NOW)["sub"] == "u-1"
    with pytest.raises(DecryptionFailed):
        codec.decode(protected + forged[forged.index(".") :], (ring,), now=NOW)


def test_parse_remembers_a_bounded_number_of_headers(no_known_headers: dict[str, object]) -> None:
    ring = keyring(4, ("secret",), "next-auth.session-token")
    for index in range(jwe.MAX_KNOWN_HEADERS + 5):
        header: dict[str, JsonValue] = {"alg": "dir", "enc": "A256GCM", "n": index}
        token = jwe.encrypt(b'{"sub": "u-1"}', header, ring.encryption_key.cipher)
        assert codec.decode(token, (ring,), now=NOW) == {"sub": "u-1"}
        assert jwe.parse(token).header == header
    assert len(no_known_headers) == jwe.MAX_KNOWN_HEADERS


def test_a_remembered_header_cannot_be_changed(no_known_headers: dict[str, object]) -> None:
    ring = keyring(4, ("secret",), "next-auth.session-token")
    token = codec.encode({"sub": "u-1"}, ring, max_age=60, now=NOW)
    codec.decode(token, (ring,), now=NOW)
    header = jwe.parse(token).header
    with pytest.raises(TypeError):
        header["alg"] = "none"  # type: ignore[index]


def test_cbc_hmac_refuses_an_authentic_ciphertext_of_partial_blocks_and_then_still_decrypts() -> None:
    cipher = AesCbcHmacSha512(os.urandom(64))
    iv = os.urandom(16)
    ciphertext, tag = cipher.seal(iv, b"hello, world and more", b"aad")
    partial = ciphertext[:-3]
    with pytest.raises(DecryptionFailed, match="whole AES blocks"):
        cipher.open(iv, partial, cipher._tag(iv, partial, b"aad"), b"aad")
    assert cipher.open(iv, ciphertext, tag, b"aad") == b"hello, world and more"
