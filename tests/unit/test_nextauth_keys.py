"""Key derivation and thumbprints, against values next-auth 4.24, @auth/core 0.41 and jose computed."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.nextauth import base64url
from adapters.nextauth.jwe import A256CBC_HS512, A256GCM
from adapters.nextauth.keys import Keyring, keyring, thumbprint
from domain.event import JsonValue

SECRET = "unit-test-secret"
# hkdf("sha256", SECRET, "", "NextAuth.js Generated Encryption Key", 32), as next-auth v4 derives it.
V4_KEY = bytes.fromhex("520b6b7f4a1eff563c15f9f5a0df1e146c9fb3ae7969479a0afd3d60b3b4ad14")
# hkdf("sha256", SECRET, salt, `Auth.js Generated Encryption Key (${salt})`, 64), salt "authjs.session-token".
V5_KEY = bytes.fromhex(
    "953f44bc1bd1687dfe3500431bbe0074b7d747841a3d0529be9085fad6dd2cd1"
    "5ecf4a0fdc268c2ebe811dd618f1304437b95b8beaf09fb40519e7546ef02e60"
)
# jose's calculateJwkThumbprint({kty: "oct", k}, "sha512") of V5_KEY, and "sha256" of its 32-byte sibling.
V5_KID = "6MO46xbVRupJHt_FpXZIAeidAkX1QopasGYfxtzYY8eM7JdF0W__eH_isiHnWkbWDNEE77jDL89_-Z7Ld7ru3g"
V5_A256GCM_KID = "pfm2V91ehZcSSkv95BJ89VCZa3b_bERjo0DLgXIB4FQ"


def keys(ring: Keyring, enc: str, header: dict[str, JsonValue]) -> list[bytes]:
    return [content_key.key for content_key in ring.decryption_keys(enc, header)]


def test_derives_the_v4_key_next_auth_derives() -> None:
    ring = Keyring(4, [SECRET], "next-auth.session-token")
    assert ring.encryption_key.enc == A256GCM
    assert ring.encryption_key.key == V4_KEY


def test_derives_the_same_v4_key_for_either_cookie_name() -> None:
    assert Keyring(4, [SECRET], "__Secure-next-auth.session-token").encryption_key.key == V4_KEY


def test_derives_the_v5_key_and_kid_auth_core_derives() -> None:
    key = Keyring(5, [SECRET], "authjs.session-token").encryption_key
    assert (key.enc, key.key, key.kid) == (A256CBC_HS512, V5_KEY, V5_KID)


def test_hashes_a_32_byte_key_thumbprint_with_sha256() -> None:
    assert thumbprint(V5_KEY[:32]) == V5_A256GCM_KID


def test_salts_v5_keys_with_the_cookie_name() -> None:
    assert Keyring(5, [SECRET], "__Secure-authjs.session-token").encryption_key.key != V5_KEY


def test_v5_selects_the_key_whose_thumbprint_is_the_kid() -> None:
    ring = Keyring(5, ["newest", SECRET], "authjs.session-token")
    assert keys(ring, A256CBC_HS512, {"kid": V5_KID}) == [V5_KEY]
    assert keys(ring, A256GCM, {"kid": V5_A256GCM_KID}) == [V5_KEY[:32]]


@pytest.mark.parametrize("kid", ["unknown", None, 7, ["list"], {"k": "v"}, V5_A256GCM_KID])
def test_v5_selects_no_key_for_a_kid_no_secret_has(kid: JsonValue) -> None:
    ring = Keyring(5, [SECRET], "authjs.session-token")
    assert keys(ring, A256CBC_HS512, {"kid": kid}) == []


def test_v5_decrypts_a_token_without_kid_with_the_first_secret_only() -> None:
    first_only = keys(Keyring(5, ["newest"], "authjs.session-token"), A256GCM, {})
    assert keys(Keyring(5, ["newest", SECRET], "authjs.session-token"), A256GCM, {}) == first_only
    assert len(first_only) == 1


def test_v4_tries_every_secret_in_order_and_ignores_kid() -> None:
    ring = Keyring(4, ["newest", SECRET], "next-auth.session-token")
    newest = Keyring(4, ["newest"], "next-auth.session-token").encryption_key.key
    assert keys(ring, A256GCM, {"kid": "anything"}) == [newest, V4_KEY]


@pytest.mark.parametrize("secrets", [[], [""], [SECRET, ""]])
def test_refuses_to_build_a_keyring_without_usable_secrets(secrets: list[str]) -> None:
    with pytest.raises(ValueError, match="secret"):
        Keyring(5, secrets, "authjs.session-token")


def test_derives_each_configuration_once() -> None:
    assert keyring(5, (SECRET,), "authjs.session-token") is keyring(5, (SECRET,), "authjs.session-token")


@given(st.binary(max_size=64))
def test_base64url_round_trips_any_bytes(data: bytes) -> None:
    assert base64url.decode(base64url.encode(data)) == data


@pytest.mark.parametrize(
    "text",
    ["QQ=", "QQ==", "Q", "QR", "QUJ", "a+b/", "ab c", "Zm9v\n", "Zm9vé"],
    ids=[
        "padded",
        "padded twice",
        "one character too many",
        "unused bits set (2)",
        "unused bits set (3)",
        "standard alphabet",
        "space",
        "newline",
        "non-ascii",
    ],
)
def test_base64url_refuses_all_but_the_canonical_spelling(text: str) -> None:
    with pytest.raises(ValueError, match=r"base64|ascii"):
        base64url.decode(text)
