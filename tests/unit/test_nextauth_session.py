"""NextAuthSession: the user a request's session cookie proves, or nobody, and never an exception."""

import logging

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.nextauth import (
    NextAuthSession,
    Version,
    claims_for_user,
    default_cookie_name,
    jwe,
    mint_session_cookie,
)
from adapters.nextauth.keys import keyring
from application.ports import SessionCredentials
from domain.event import JsonValue
from domain.user import User

pytestmark = pytest.mark.anyio

SECRET = "unit-test-secret"
ADA = User(id="u-1", name="Ada", email="ada@example.com", image="https://example.com/a.png")
# The three tokens carry ADA's claims; each library issued its own at ISSUED_AT, valid for 60 s.
ISSUED_AT = 1_795_890_620
# next-auth 4.24.15: encode({token, secret: SECRET, maxAge: 60}).
NEXT_AUTH_TOKEN = (
    "eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0..h-8mdmDS3chZ_134.CXHuJexXgifubuTLXoZ02A3CFJiQkwBEIZy32p-nzr2Tt4g7"
    "WVpZvuJ-agrT5vLDXaVrOAuDiHt9PmGgALMtNxQYEE4xVgU4TsualtsK6XHrkXu6sPN09Q6179FPhdfMm3ibKqeAPe7hBj-iz5Xzlc-WQ"
    "GVfcK1J1gs-fa9Q66KHMf6j3dcUDXrVG_TF66q_dJhxnrQus5vEYFFptwrJ26yCxNQUNcQj4g.9pQMXEUfBmJgXjFgArrz7w"
)
# @auth/core 0.41.3: encode({token, secret: SECRET, salt: "authjs.session-token", maxAge: 60}).
AUTH_CORE_TOKEN = (
    "eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2Q0JDLUhTNTEyIiwia2lkIjoiNk1PNDZ4YlZSdXBKSHRfRnBYWklBZWlkQWtYMVFvcGFzR1lme"
    "HR6WVk4ZU03SmRGMFdfX2VIX2lzaUhuV2tiV0RORUU3N2pETDg5Xy1aN0xkN3J1M2cifQ..5OmqTWPcQIomZ5rZDxOMnA.uys_bK2KW-z"
    "MPcPo9LUWcVwuthOAVaRApuhZLt6aeUUAnU11SMZlmzPuqOFTSDGBzsU2LCi9Xo9zsTOanTiQpRFsO7bucHARYLnS-U6V5bds_ArwCodOw"
    "uyFvyp1aFLAi02RQdndLXuEZmF_qxgE078U1KU3JsQnxSEe6luUMxIRhlknEFzZsnAjuiv1h3byOYipo9ve3AhVFbto7KqOVW9xmepaeKC"
    "Ct4Ht9y-JDrs.jVdnFB4-pV8yTKm6-sePycNLDiGtV6wCixukl3Q2JAw"
)
# @auth/core 0.22.0, the last release that issued A256GCM tokens without a kid; same call.
AUTH_CORE_A256GCM_TOKEN = (
    "eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0..pGFoUmzNpR_rOUcQ.jwaic7PfQkbYWoukk7Z7ohrziGexnQstO0JhgFYjQomBUfbn"
    "sELNFluxrSzSHyuCDcvUDp6kVCxVM9VOCn5y3twD7ZkpgrYO1iHb_1YSYMlTpJb0NNmdeUsn_jjFd3Kv3bG2x4RX3E_HN70egwucUMopIQ"
    "xtg_2M73gPRv2dvgiDGMom_oNcfvr7OHrYOM7VHnRmKs9t3InNcB_1C0HaqZx5z5C2X5F1tA.jenchJrjPHE9cCIjwNOqbw"
)
V4_COOKIE = "next-auth.session-token"
V5_COOKIE = "authjs.session-token"
V5_SECURE_COOKIE = "__Secure-authjs.session-token"
versions: st.SearchStrategy[Version] = st.sampled_from([4, 5])


class FrozenClock:
    """A clock that reads ``now`` until a test moves it."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def reader(
    version: Version,
    *,
    secrets: tuple[str, ...] = (SECRET,),
    at: float = ISSUED_AT,
    cookie_name: str | None = None,
    secure_cookie: bool | None = None,
    allow_bearer: bool = False,
) -> NextAuthSession:
    return NextAuthSession(
        secrets,
        version,
        cookie_name=cookie_name,
        secure_cookie=secure_cookie,
        allow_bearer=allow_bearer,
        clock=FrozenClock(at),
    )


def cookies(header: str) -> SessionCredentials:
    """The credentials of a request whose Cookie header is ``header``."""
    return SessionCredentials(cookies=dict(pair.split("=", 1) for pair in header.split("; ")))


def minted(
    version: Version, claims: dict[str, JsonValue], *, cookie_name: str | None = None, secret: str = SECRET
) -> SessionCredentials:
    return cookies(mint_session_cookie(secret, version, claims, cookie_name=cookie_name, now=ISSUED_AT))


async def test_returns_the_user_a_next_auth_v4_session_cookie_proves() -> None:
    assert await reader(4).current_user(SessionCredentials(cookies={V4_COOKIE: NEXT_AUTH_TOKEN})) == ADA


async def test_returns_the_user_an_auth_js_v5_session_cookie_proves() -> None:
    assert await reader(5).current_user(SessionCredentials(cookies={V5_COOKIE: AUTH_CORE_TOKEN})) == ADA


async def test_returns_the_user_of_an_a256gcm_cookie_an_older_auth_core_issued() -> None:
    assert (
        await reader(5).current_user(SessionCredentials(cookies={V5_COOKIE: AUTH_CORE_A256GCM_TOKEN})) == ADA
    )


@pytest.mark.parametrize("name", [V5_COOKIE, V5_SECURE_COOKIE])
async def test_accepts_the_plain_or_the_secure_cookie_when_no_name_is_configured(name: str) -> None:
    assert await reader(5).current_user(minted(5, claims_for_user(ADA), cookie_name=name)) == ADA


async def test_prefers_the_secure_cookie_when_both_are_sent() -> None:
    grace = minted(5, {"sub": "grace"}, cookie_name=V5_COOKIE).cookies
    ada = minted(5, {"sub": "ada"}, cookie_name=V5_SECURE_COOKIE).cookies
    user = await reader(5).current_user(SessionCredentials(cookies={**grace, **ada}))
    assert user == User(id="ada")


async def test_reads_only_the_cookie_name_it_is_configured_with() -> None:
    session = reader(5, cookie_name="app.session")
    assert await session.current_user(minted(5, {"sub": "u-1"}, cookie_name="app.session")) == User("u-1")
    assert await session.current_user(minted(5, {"sub": "u-1"})) is None


async def test_reads_only_the_secure_cookie_when_told_the_app_is_served_over_https() -> None:
    session = reader(5, secure_cookie=True)
    assert await session.current_user(minted(5, {"sub": "u-1"}, cookie_name=V5_SECURE_COOKIE)) == User("u-1")
    assert await session.current_user(minted(5, {"sub": "u-1"})) is None


async def test_rejects_a_v5_cookie_sent_under_a_name_it_was_not_made_for() -> None:
    token = minted(5, {"sub": "u-1"}, cookie_name=V5_SECURE_COOKIE).cookies[V5_SECURE_COOKIE]
    assert await reader(5).current_user(SessionCredentials(cookies={V5_COOKIE: token})) is None


async def test_reassembles_a_session_cookie_sent_in_chunks() -> None:
    claims: dict[str, JsonValue] = {"sub": "u-1", "groups": [f"group-{index}" for index in range(1500)]}
    credentials = minted(4, claims)
    assert len(credentials.cookies) > 2
    assert await reader(4).current_user(credentials) == User("u-1")


@pytest.mark.parametrize(
    ("seconds_after_expiry", "signed_in"), [(0, True), (14, True), (15, False), (86400, False)]
)
async def test_rejects_expired_session_cookie_beyond_the_clock_tolerance(
    seconds_after_expiry: int, signed_in: bool
) -> None:
    session = reader(5, at=ISSUED_AT + 60 + seconds_after_expiry)
    user = await session.current_user(SessionCredentials(cookies={V5_COOKIE: AUTH_CORE_TOKEN}))
    assert (user == ADA) == signed_in


@pytest.mark.parametrize("version", [4, 5])
async def test_rejects_a_cookie_made_with_another_secret(version: Version) -> None:
    assert await reader(version).current_user(minted(version, {"sub": "u-1"}, secret="another")) is None


async def test_accepts_cookies_of_every_configured_secret_so_secrets_can_rotate() -> None:
    rotated = ("the new secret", SECRET)
    assert (
        await reader(4, secrets=rotated).current_user(
            SessionCredentials(cookies={V4_COOKIE: NEXT_AUTH_TOKEN})
        )
        == ADA
    )
    assert (
        await reader(5, secrets=rotated).current_user(
            SessionCredentials(cookies={V5_COOKIE: AUTH_CORE_TOKEN})
        )
        == ADA
    )


async def test_decrypts_a_cookie_without_kid_with_the_first_secret_only_as_auth_core_does() -> None:
    session = reader(5, secrets=("the new secret", SECRET))
    assert (
        await session.current_user(SessionCredentials(cookies={V5_COOKIE: AUTH_CORE_A256GCM_TOKEN})) is None
    )


async def test_ignores_a_bearer_token_unless_allowed() -> None:
    credentials = SessionCredentials(authorization=f"Bearer {AUTH_CORE_TOKEN}")
    assert await reader(5).current_user(credentials) is None
    assert await reader(5, allow_bearer=True).current_user(credentials) == ADA


async def test_reads_a_percent_encoded_bearer_token_as_get_token_does() -> None:
    credentials = SessionCredentials(authorization="Bearer " + NEXT_AUTH_TOKEN.replace(".", "%2E"))
    assert await reader(4, allow_bearer=True).current_user(credentials) == ADA


async def test_prefers_a_session_cookie_to_a_bearer_token_even_a_broken_one() -> None:
    credentials = SessionCredentials(cookies={V5_COOKIE: "broken"}, authorization=f"Bearer {AUTH_CORE_TOKEN}")
    assert await reader(5, allow_bearer=True).current_user(credentials) is None


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer",
        "Bearer ",
        f"bearer {AUTH_CORE_TOKEN}",
        f"Bearer  {AUTH_CORE_TOKEN}",
        f"Basic {AUTH_CORE_TOKEN}",
        "Bearer %zz",
    ],
)
async def test_refuses_an_authorization_header_get_token_refuses(authorization: str) -> None:
    session = reader(5, allow_bearer=True)
    assert await session.current_user(SessionCredentials(authorization=authorization)) is None


@pytest.mark.parametrize(
    "claims", [{"name": "Ada"}, {"sub": 7}, {"sub": ""}, {"sub": None}, {"sub": ["u-1"]}], ids=str
)
async def test_signs_nobody_in_without_a_string_subject(claims: dict[str, JsonValue]) -> None:
    assert await reader(5).current_user(minted(5, claims)) is None


async def test_treats_profile_claims_that_are_not_strings_as_absent() -> None:
    claims: dict[str, JsonValue] = {
        "sub": "u-1",
        "name": 42,
        "email": None,
        "picture": {"url": "x"},
        "image": "y",
    }
    assert await reader(5).current_user(minted(5, claims)) == User("u-1")


async def test_logs_why_it_rejects_a_session_at_debug_level_without_the_token_or_secret(
    caplog: pytest.LogCaptureFixture,
) -> None:
    session = reader(5, at=ISSUED_AT + 3600)
    with caplog.at_level(logging.DEBUG, logger="adapters.nextauth"):
        assert await session.current_user(SessionCredentials(cookies={V5_COOKIE: AUTH_CORE_TOKEN})) is None
    assert [record.levelno for record in caplog.records if record.name == "adapters.nextauth"] == [
        logging.DEBUG
    ]
    assert "expired" in caplog.text
    assert SECRET not in caplog.text
    for part in AUTH_CORE_TOKEN.split("."):
        assert not part or part not in caplog.text


@given(data=st.data(), version=versions)
async def test_rejects_any_single_character_change_to_a_token(data: st.DataObject, version: Version) -> None:
    name, token = (V4_COOKIE, NEXT_AUTH_TOKEN) if version == 4 else (V5_COOKIE, AUTH_CORE_TOKEN)
    index = data.draw(st.integers(0, len(token) - 1), label="index")
    replacement = data.draw(st.characters().filter(lambda char: char != token[index]), label="replacement")
    changed = token[:index] + replacement + token[index + 1 :]
    assert await reader(version).current_user(SessionCredentials(cookies={name: changed})) is None


request_cookies = st.dictionaries(
    st.sampled_from([V4_COOKIE, V5_COOKIE, V5_SECURE_COOKIE, f"{V5_COOKIE}.0", f"{V5_COOKIE}.1", "theme"])
    | st.text(),
    st.text()
    | st.sampled_from([NEXT_AUTH_TOKEN[:60], AUTH_CORE_TOKEN[:200], "a.b.c.d.e", "....", "eyJ9..AA.AA.AA"]),
)


@given(
    cookies=request_cookies,
    authorization=st.none() | st.text() | st.just("Bearer a.b.c.d.e"),
    version=versions,
)
async def test_never_raises_whatever_a_request_carries(
    cookies: dict[str, str], authorization: str | None, version: Version
) -> None:
    session = reader(version, allow_bearer=True)
    assert (
        await session.current_user(SessionCredentials(cookies=cookies, authorization=authorization)) is None
    )


# The memo of tokens that proved a user.

T = ISSUED_AT
# (nbf, exp) of the property's tokens: absent, whole or fractional, passed or to come.
LIFETIMES: list[tuple[float | None, float | None]] = [
    (None, None),
    (None, T + 30),
    (None, T + 30.5),
    (T - 10, T + 100),
    (T + 20.5, None),
    (T + 40, T + 90.25),
]


def sealed(version: Version, claims: dict[str, JsonValue], cookie_name: str) -> str:
    """A token sealed as the library seals one, but with ``claims`` as given: ``exp`` and ``nbf``
    are left as they are, or out."""
    key = keyring(version, (SECRET,), cookie_name).encryption_key
    header: dict[str, JsonValue] = {"alg": "dir", "enc": key.enc}
    if version == 5:
        header["kid"] = key.kid
    return jwe.encrypt(msgspec.json.encode(claims), header, key.cipher)


def tampered(token: str) -> str:
    """``token`` with its middle character changed: a forgery that no secret decrypts."""
    middle = len(token) // 2
    return token[:middle] + ("A" if token[middle] != "A" else "B") + token[middle + 1 :]


def token_pool(version: Version) -> list[str]:
    """Tokens of several lifetimes, one without a subject, one for the secure cookie, and forgeries."""
    plain, secure = default_cookie_name(version, secure=False), default_cookie_name(version, secure=True)
    tokens = []
    for index, (nbf, exp) in enumerate(LIFETIMES):
        claims: dict[str, JsonValue] = {"sub": f"u-{index}"}
        if nbf is not None:
            claims["nbf"] = nbf
        if exp is not None:
            claims["exp"] = exp
        tokens.append(sealed(version, claims, plain))
    tokens.append(sealed(version, {"name": "nobody"}, plain))
    tokens.append(sealed(version, {"sub": "secure", "exp": T + 60}, secure))
    return tokens + [tampered(token) for token in tokens[1:4]]


TOKEN_POOLS: dict[Version, list[str]] = {4: token_pool(4), 5: token_pool(5)}


def presented(token: str, source: str, version: Version) -> SessionCredentials:
    """``token`` in the plain or the secure session cookie, or as a bearer token."""
    if source == "bearer":
        return SessionCredentials(authorization=f"Bearer {token}")
    return SessionCredentials(cookies={default_cookie_name(version, secure=source == "secure"): token})


class DebugMessages(logging.Handler):
    """The messages the session adapter logs while the ``with`` block runs, at debug level."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []
        self._logger = logging.getLogger("adapters.nextauth")

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())

    def __enter__(self) -> list[str]:
        self._level = self._logger.level
        self._logger.setLevel(logging.DEBUG)
        self._logger.addHandler(self)
        return self.messages

    def __exit__(self, *_: object) -> None:
        self._logger.removeHandler(self)
        self._logger.setLevel(self._level)


def memoizing(clock: FrozenClock, version: Version = 5, *, memo_size: int = 1024) -> NextAuthSession:
    return NextAuthSession((SECRET,), version, allow_bearer=True, clock=clock, memo_size=memo_size)


@given(
    version=versions,
    memo_size=st.integers(1, 4) | st.just(1024),
    calls=st.lists(
        st.tuples(
            st.integers(0, len(TOKEN_POOLS[4]) - 1),
            st.sampled_from(["plain", "secure", "bearer"]),
            st.integers(T - 60, T + 150) | st.floats(T - 60, T + 150),
        ),
        max_size=40,
    ),
)
async def test_answers_and_logs_as_the_full_check_would_call_by_call_whatever_the_clock_does(
    version: Version, memo_size: int, calls: list[tuple[int, str, float]]
) -> None:
    clock = FrozenClock(T)
    memoized, checked = memoizing(clock, version, memo_size=memo_size), memoizing(clock, version, memo_size=0)
    for index, source, now in calls:
        clock.now = now
        credentials = presented(TOKEN_POOLS[version][index], source, version)
        with DebugMessages() as memoized_log:
            memoized_user = await memoized.current_user(credentials)
        with DebugMessages() as checked_log:
            checked_user = await checked.current_user(credentials)
        assert (memoized_user, memoized_log) == (checked_user, checked_log)
        assert memoized.memo_entries <= memo_size
    assert checked.memo_entries == 0


async def test_answers_a_repeated_token_from_the_memo_without_decrypting_it_again() -> None:
    memoized, checked = memoizing(FrozenClock(T)), memoizing(FrozenClock(T), memo_size=0)
    for session in (memoized, checked):
        first = await session.current_user(SessionCredentials(cookies={V5_COOKIE: AUTH_CORE_TOKEN}))
        again = await session.current_user(SessionCredentials(cookies={V5_COOKIE: AUTH_CORE_TOKEN}))
        assert first == again == ADA
        # Decrypting makes a new User; only the memo can answer with the very one it answered before.
        assert (again is first) == (session is memoized)
    assert memoized.memo_entries == 1


@pytest.mark.parametrize(
    ("claims", "later"),
    [({"sub": "u-1", "exp": T + 60}, T + 60 + 15), ({"sub": "u-1", "nbf": T}, T - 16)],
    ids=["expired", "not-yet-valid"],
)
async def test_answers_nobody_once_the_clock_leaves_a_memoized_tokens_lifetime_and_forgets_it(
    claims: dict[str, JsonValue], later: int, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FrozenClock(T)
    session = memoizing(clock)
    credentials = SessionCredentials(cookies={V5_COOKIE: sealed(5, claims, V5_COOKIE)})
    assert await session.current_user(credentials) == User("u-1")
    clock.now = later
    with caplog.at_level(logging.DEBUG, logger="adapters.nextauth"):
        assert await session.current_user(credentials) is None
        assert session.memo_entries == 0
        assert await memoizing(clock, memo_size=0).current_user(credentials) is None
    memoized_message, checked_message = [
        record.getMessage() for record in caplog.records if record.name == "adapters.nextauth"
    ]
    assert memoized_message == checked_message
    assert memoized_message.startswith("No NextAuth session (expired): ")


async def test_memoizes_a_token_apart_for_each_cookie_name_and_as_a_bearer_token() -> None:
    session = memoizing(FrozenClock(T), 4)
    for source in ("plain", "secure", "bearer", "plain"):
        assert await session.current_user(presented(NEXT_AUTH_TOKEN, source, 4)) == ADA
    assert session.memo_entries == 3


async def test_a_token_memoized_for_one_cookie_proves_nobody_in_another() -> None:
    session = memoizing(FrozenClock(T))
    assert await session.current_user(SessionCredentials(cookies={V5_COOKIE: AUTH_CORE_TOKEN})) == ADA
    assert await session.current_user(SessionCredentials(cookies={V5_SECURE_COOKIE: AUTH_CORE_TOKEN})) is None


async def test_holds_at_most_memo_size_tokens_forgetting_the_one_memoized_first() -> None:
    session = memoizing(FrozenClock(T), memo_size=3)
    tokens = [sealed(5, {"sub": f"u-{index}"}, V5_COOKIE) for index in range(5)]
    users = []
    for count, token in enumerate(tokens, start=1):
        users.append(await session.current_user(SessionCredentials(cookies={V5_COOKIE: token})))
        assert session.memo_entries == min(count, 3)
    oldest, newest = tokens[0], tokens[-1]
    assert await session.current_user(SessionCredentials(cookies={V5_COOKIE: newest})) is users[-1]
    assert await session.current_user(SessionCredentials(cookies={V5_COOKIE: oldest})) is not users[0]


async def test_does_not_memoize_a_token_longer_than_8192_characters() -> None:
    tokens = [sealed(5, {"sub": "u-1", "pad": "x" * filler}, V5_COOKIE) for filler in range(5800, 6200, 4)]
    longest_kept = max((token for token in tokens if len(token) <= 8192), key=len)
    shortest_not = min((token for token in tokens if len(token) > 8192), key=len)
    assert len(shortest_not) - len(longest_kept) < 32
    session = memoizing(FrozenClock(T))
    assert await session.current_user(SessionCredentials(cookies={V5_COOKIE: shortest_not})) is not None
    assert session.memo_entries == 0
    assert await session.current_user(SessionCredentials(cookies={V5_COOKIE: longest_kept})) is not None
    assert session.memo_entries == 1


async def test_does_not_memoize_a_user_whose_strings_exceed_1024_characters() -> None:
    name = "\U0001f600" * 1000  # a 4-byte character: the most memory a string can take per character
    at_most: dict[str, JsonValue] = {"sub": "u-1", "name": name, "email": "e" * 21}
    beyond: dict[str, JsonValue] = {**at_most, "email": "e" * 22}
    session = memoizing(FrozenClock(T))
    assert await session.current_user(SessionCredentials(cookies={V5_COOKIE: sealed(5, beyond, V5_COOKIE)}))
    assert session.memo_entries == 0
    assert await session.current_user(SessionCredentials(cookies={V5_COOKIE: sealed(5, at_most, V5_COOKIE)}))
    assert session.memo_entries == 1


async def test_never_memoizes_a_token_that_proves_nobody() -> None:
    session = memoizing(FrozenClock(T + 3600))
    rejected = [
        SessionCredentials(),
        SessionCredentials(cookies={V5_COOKIE: AUTH_CORE_TOKEN}),
        SessionCredentials(cookies={V5_COOKIE: tampered(AUTH_CORE_TOKEN)}),
        SessionCredentials(cookies={V5_SECURE_COOKIE: sealed(5, {"sub": "u-1"}, V5_COOKIE)}),
        SessionCredentials(cookies={V5_COOKIE: sealed(5, {"name": "Ada"}, V5_COOKIE)}),
        minted(5, {"sub": "u-1"}, secret="another"),
        SessionCredentials(authorization="Bearer a.b.c.d.e"),
    ]
    for credentials in rejected * 2:
        assert await session.current_user(credentials) is None
    assert session.memo_entries == 0


def test_refuses_a_negative_memo_size() -> None:
    with pytest.raises(ValueError, match="memo_size"):
        memoizing(FrozenClock(T), memo_size=-1)
