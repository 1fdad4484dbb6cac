"""Minting and decoding session cookies: the claims checks, header rules and failure reasons."""

import zlib
from collections.abc import Mapping
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.nextauth import (
    DecodedSession,
    DecodeFailure,
    Version,
    base64url,
    claims_for_user,
    decode_session_cookie,
    default_cookie_name,
    jwe,
    mint_session_cookie,
)
from adapters.nextauth.jwe import A256GCM
from adapters.nextauth.keys import keyring
from domain.event import JsonValue
from domain.user import User

SECRET = "unit-test-secret"
NOW = 1_795_890_620
V4_COOKIE = "next-auth.session-token"
V5_COOKIE = "authjs.session-token"
RESERVED = {"iat", "exp", "jti", "nbf"}

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(exclude_categories=["Cs"])),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
claims_sets = st.dictionaries(
    st.text(max_size=12).filter(lambda key: key not in RESERVED), json_values, max_size=8
)
secrets = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=40)
cookie_names = st.from_regex(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,30}", fullmatch=True)
versions: st.SearchStrategy[Version] = st.sampled_from([4, 5])


def decoded(
    header: str, version: Version = 5, *, secrets: tuple[str, ...] = (SECRET,), now: float = NOW
) -> Any:
    """The claims the cookie header's session holds at ``now``, or the reason it holds none."""
    result = decode_session_cookie(header, secrets, version, now=now)
    return result.claims if isinstance(result, DecodedSession) else result.reason


def handmade(
    payload: Mapping[str, JsonValue] | bytes,
    version: Version = 5,
    *,
    header: Mapping[str, JsonValue] | None = None,
    enc: str | None = None,
) -> str:
    """A cookie header whose token is sealed by hand, for what the libraries never issue themselves."""
    name = default_cookie_name(version, secure=False)
    ring = keyring(version, (SECRET,), name)
    enc = enc or ring.encryption_key.enc
    cipher = ring.decryption_keys(enc, {})[0].cipher
    protected: dict[str, JsonValue] = {"alg": "dir", "enc": enc}
    protected |= header or {}
    plaintext = payload if isinstance(payload, bytes) else msgspec.json.encode(payload)
    return f"{name}={jwe.encrypt(plaintext, protected, cipher)}"


@given(
    claims=claims_sets, version=versions, secret=secrets, name=cookie_names, max_age=st.integers(16, 10**9)
)
def test_decodes_any_claims_it_minted(
    claims: dict[str, JsonValue], version: Version, secret: str, name: str, max_age: int
) -> None:
    header = mint_session_cookie(secret, version, claims, max_age=max_age, cookie_name=name, now=NOW)
    result = decode_session_cookie(header, [secret], version, cookie_name=name, now=NOW)
    assert isinstance(result, DecodedSession)
    jti = result.claims["jti"]
    assert result.claims == {**claims, "iat": NOW, "exp": NOW + max_age, "jti": jti}
    assert isinstance(jti, str)
    assert len(jti) == 36


@pytest.mark.parametrize("version", [4, 5])
def test_projects_the_session_user_as_next_auth_does(version: Version) -> None:
    ada = User(id="u-1", name="Ada", email="ada@example.com", image="https://example.com/a.png")
    result = decode_session_cookie(
        mint_session_cookie(SECRET, version, claims_for_user(ada)), [SECRET], version
    )
    assert isinstance(result, DecodedSession)
    assert result.user == ada
    assert result.to_dict() == {"user": ada.to_event_data(), "claims": result.claims}


def test_writes_the_claims_next_auth_writes_for_a_user() -> None:
    assert claims_for_user(User(id="u-1", name="Ada")) == {"name": "Ada", "sub": "u-1"}
    assert claims_for_user(User("u-2", "Grace", "g@example.com", "https://example.com/g.png")) == {
        "name": "Grace",
        "email": "g@example.com",
        "picture": "https://example.com/g.png",
        "sub": "u-2",
    }


def test_decodes_a_session_without_subject_to_no_user() -> None:
    result = decode_session_cookie(mint_session_cookie(SECRET, 5, {"name": "Nobody"}), [SECRET], 5)
    assert isinstance(result, DecodedSession)
    assert result.user is None
    assert result.to_dict()["user"] is None


@pytest.mark.parametrize(("version", "name"), [(4, V4_COOKIE), (5, V5_COOKIE)])
def test_mints_under_the_version_s_plain_cookie_name_by_default(version: Version, name: str) -> None:
    assert mint_session_cookie(SECRET, version, {"sub": "u-1"}).startswith(f"{name}=eyJ")


def test_mints_a_large_session_as_numbered_chunks() -> None:
    header = mint_session_cookie(SECRET, 5, {"sub": "u-1", "groups": ["g" * 40] * 200})
    names = [pair.split("=", 1)[0] for pair in header.split("; ")]
    assert names == [f"{V5_COOKIE}.{index}" for index in range(len(names))]
    assert len(names) > 2
    assert decoded(header, now=NOW + 1) != "malformed"


@pytest.mark.parametrize(
    ("seconds_since_expiry", "outcome"),
    [(-1, "valid"), (0, "valid"), (14, "valid"), (15, "expired"), (3600, "expired")],
)
def test_rejects_expired_session_cookie_beyond_the_15_second_tolerance(
    seconds_since_expiry: int, outcome: str
) -> None:
    header = mint_session_cookie(SECRET, 5, {"sub": "u-1"}, max_age=60, now=NOW)
    result = decoded(header, now=NOW + 60 + seconds_since_expiry)
    assert ("expired" if result == "expired" else "valid") == outcome


@pytest.mark.parametrize(("seconds_ahead", "outcome"), [(0, "valid"), (15, "valid"), (16, "expired")])
def test_rejects_a_session_whose_nbf_is_beyond_the_tolerance_ahead(seconds_ahead: int, outcome: str) -> None:
    result = decoded(handmade({"sub": "u-1", "nbf": NOW + seconds_ahead}))
    assert ("expired" if result == "expired" else "valid") == outcome


def test_compares_fractional_times_exactly() -> None:
    assert decoded(handmade({"sub": "u-1", "exp": NOW - 14.5})) != "expired"
    assert decoded(handmade({"sub": "u-1", "exp": NOW - 15.0})) == "expired"


def test_accepts_an_iat_in_the_future_and_no_jti_as_jose_does() -> None:
    assert decoded(handmade({"sub": "u-1", "iat": NOW + 10**6})) == {"sub": "u-1", "iat": NOW + 10**6}


@pytest.mark.parametrize("claim", ["iat", "nbf", "exp"])
@pytest.mark.parametrize("value", ["1795890620", True, None, [NOW], {"at": NOW}])
def test_rejects_a_time_claim_that_is_not_a_number(claim: str, value: JsonValue) -> None:
    assert decoded(handmade({"sub": "u-1", claim: value})) == "malformed"


@pytest.mark.parametrize(
    "payload", [b"[]", b'"sub"', b"null", b"7", b"{", b'{"sub": "u-1"} x', b'{"sub": "\xff"}', b"[" * 5000]
)
def test_rejects_a_claims_set_that_is_not_a_json_object(payload: bytes) -> None:
    assert decoded(handmade(payload)) == "malformed"


@pytest.mark.parametrize(
    "header",
    [
        {"alg": "A256KW"},
        {"alg": None},
        {"crit": ["exp"]},
        {"crit": []},
        {"zip": "GZIP"},
        {"zip": None},
    ],
    ids=str,
)
def test_rejects_a_header_nextauth_would_not_decrypt(header: dict[str, JsonValue]) -> None:
    assert decoded(handmade({"sub": "u-1"}, header=header)) == "malformed"


@pytest.mark.parametrize("enc", ["A128GCM", "A128CBC-HS256", "none", None])
def test_rejects_an_enc_nextauth_does_not_use(enc: JsonValue) -> None:
    name, token = mint_session_cookie(SECRET, 5, {"sub": "u-1"}).split("=", 1)
    protected = base64url.encode(msgspec.json.encode({"alg": "dir", "enc": enc}))
    assert decoded(f"{name}={protected}.{token.split('.', 1)[1]}") == "malformed"


def test_rejects_a_v5_token_read_as_v4() -> None:
    assert decoded(mint_session_cookie(SECRET, 5, {"sub": "u-1"}, cookie_name=V4_COOKIE), 4) == "malformed"


def test_rejects_a_token_with_an_encrypted_key() -> None:
    header, token = handmade({"sub": "u-1"}).split("=", 1)
    assert decoded(f"{header}={token.replace('..', '.AAAA.', 1)}") == "malformed"


def test_inflates_a_compressed_claims_set_as_jose_does() -> None:
    deflater = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    compressed = deflater.compress(b'{"sub": "u-1"}') + deflater.flush()
    assert decoded(handmade(compressed, header={"zip": "DEF"})) == {"sub": "u-1"}


@pytest.mark.parametrize("damage", ["truncated", "trailing bytes", "not deflate", "over 250 kB inflated"])
def test_rejects_a_compressed_claims_set_that_does_not_inflate_cleanly(damage: str) -> None:
    claims = (
        b'{"sub": "u-1", "pad": "' + b"x" * 250_000 + b'"}'
        if damage.startswith("over")
        else b'{"sub": "u-1"}'
    )
    deflater = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    compressed = deflater.compress(claims) + deflater.flush()
    compressed = {
        "truncated": compressed[:-2],
        "trailing bytes": compressed + b"\0",
        "not deflate": b"\xff" * 16,
    }.get(damage, compressed)
    assert decoded(handmade(compressed, header={"zip": "DEF"})) == "malformed"


@pytest.mark.parametrize("kid", ["unknown", 7, None, ["x"]])
def test_cannot_decrypt_a_token_whose_kid_names_no_configured_secret(kid: JsonValue) -> None:
    assert decoded(handmade({"sub": "u-1"}, header={"kid": kid})) == "decrypt failed"


def test_decrypts_an_a256gcm_token_without_kid_as_auth_core_still_does() -> None:
    assert decoded(handmade({"sub": "u-1"}, enc=A256GCM)) == {"sub": "u-1"}


@pytest.mark.parametrize(
    ("header", "claims", "accepted"),
    [
        ({"sub": "u-1"}, {"sub": "u-1"}, True),
        ({"sub": "u-2"}, {"sub": "u-1"}, False),
        ({"iss": "app"}, {"sub": "u-1"}, False),
        ({"iss": None}, {"iss": None}, True),
        ({"iss": 1}, {"iss": 1.0}, True),
        ({"iss": 1}, {"iss": True}, False),
        ({"iss": ["app"]}, {"iss": ["app"]}, False),
        ({"aud": ["a", "b"]}, {"aud": ["a", "b"]}, True),
        ({"aud": ["a", "b"]}, {"aud": ["b", "a"]}, False),
        ({"aud": "a"}, {}, False),
    ],
    ids=str,
)
def test_requires_claims_repeated_in_the_header_to_match_as_jose_does(
    header: dict[str, JsonValue], claims: dict[str, JsonValue], accepted: bool
) -> None:
    assert (decoded(handmade(claims, header=header)) == claims) == accepted


@pytest.mark.parametrize("version", [4, 5])
def test_cannot_decrypt_a_token_of_another_secret(version: Version) -> None:
    header = mint_session_cookie("another app's secret", version, {"sub": "u-1"})
    assert decoded(header, version) == "decrypt failed"


def test_cannot_decrypt_a_v5_token_salted_for_another_cookie_name() -> None:
    header = mint_session_cookie(SECRET, 5, {"sub": "u-1"}, cookie_name=f"__Secure-{V5_COOKIE}")
    assert decoded(header.replace("__Secure-", "", 1)) == "decrypt failed"


@pytest.mark.parametrize("header", ["", "theme=dark", f"{V5_COOKIE}=", f"{V5_COOKIE}", f"x{V5_COOKIE}=abc"])
def test_reports_no_session_cookie_when_there_is_none(header: str) -> None:
    assert decode_session_cookie(header, [SECRET], 5) == DecodeFailure(
        "no session cookie", "the header has no session cookie with a value"
    )


def test_reports_a_cookie_sent_both_whole_and_in_chunks_as_malformed() -> None:
    token = mint_session_cookie(SECRET, 5, {"sub": "u-1"}).split("=", 1)[1]
    assert decoded(f"{V5_COOKIE}={token}; {V5_COOKIE}.0={token}") == "malformed"


@given(header=st.text(max_size=300), version=versions)
def test_decoding_any_header_reports_a_session_or_one_of_four_reasons(header: str, version: Version) -> None:
    result = decode_session_cookie(header, [SECRET], version, now=NOW)
    assert isinstance(result, DecodedSession) or result.reason in {
        "expired",
        "decrypt failed",
        "no session cookie",
        "malformed",
    }


@given(token=st.text(st.sampled_from("eyJhbGciOiJkaXIi.-_AZaz09"), max_size=400), version=versions)
def test_decoding_any_token_shaped_text_never_raises(token: str, version: Version) -> None:
    name = default_cookie_name(version, secure=False)
    result = decode_session_cookie(f"{name}={token}", [SECRET], version, now=NOW)
    assert isinstance(result, DecodeFailure)
