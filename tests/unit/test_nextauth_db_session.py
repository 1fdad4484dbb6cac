"""DatabaseSession on a hand-written store: which cookies are looked up, what a row means, and the cache."""

import datetime
import logging
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.nextauth_db import DatabaseSession, DatabaseSessionConfigError, DatabaseSessionSettings
from adapters.nextauth_db.cache import MAX_CACHED_USER_LENGTH
from adapters.nextauth_db.driver import Row
from adapters.nextauth_db.errors import SessionStoreMisconfigured
from adapters.nextauth_db.settings import TokenFormat
from adapters.secret import Secret
from application.ports import SessionCredentials
from domain.errors import SessionStoreUnavailable
from domain.user import User

pytestmark = pytest.mark.anyio

NOW = 1_795_890_620.0
NOW_DATE = datetime.datetime.fromtimestamp(NOW, datetime.UTC)
IN_A_MONTH = NOW_DATE + datetime.timedelta(days=30)
TOKEN = "2c6e8a47-3b1f-4d6a-9c1e-5f0a7b3d9e21"
HEX_TOKEN = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
V4_COOKIE = "next-auth.session-token"
V5_COOKIE = "authjs.session-token"
ADA = User(id="u-1", name="Ada", email="ada@example.com", image="https://example.com/a.png")


class FakeRows:
    """The sessions table, as a dict of token to row; records every token looked up."""

    def __init__(self, rows: dict[str, Row] | None = None) -> None:
        self.rows: dict[str, Row] = dict(rows or {})
        self.looked_up: list[str] = []
        self.unavailable: SessionStoreUnavailable | None = None
        self.check_result: str | None = None
        self.misconfigured = False
        self.closed = False

    def sign_in(self, token: str, user: User, expires: object = IN_A_MONTH) -> None:
        self.rows[token] = (expires, user.id, user.name, user.email, user.image)

    async def fetch(self, token: str) -> Row | None:
        self.looked_up.append(token)
        if self.unavailable is not None:
            raise self.unavailable
        return self.rows.get(token)

    async def check(self) -> str | None:
        if self.misconfigured:
            raise SessionStoreMisconfigured("refused: relation does not exist", "refused (error 42P01)")
        return self.check_result

    def close(self) -> None:
        self.closed = True


class Clocks:
    """Unix time and monotonic time, moved together by the test."""

    def __init__(self) -> None:
        self.now = NOW
        self.monotonic = 100.0

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self.monotonic += seconds


def session_over(
    rows: FakeRows,
    *,
    clocks: Clocks | None = None,
    version: int = 5,
    cookie_name: str | None = None,
    secure_cookie: bool | None = None,
    cache_seconds: float = 5.0,
    cache_entries: int = 100,
    generated_by: TokenFormat = "library",
) -> DatabaseSession:
    clocks = clocks or Clocks()
    return DatabaseSession(
        rows,
        5 if version == 5 else 4,
        cookie_name=cookie_name,
        secure_cookie=secure_cookie,
        cache_seconds=cache_seconds,
        cache_entries=cache_entries,
        generated_by=generated_by,
        clock=lambda: clocks.now,
        monotonic=lambda: clocks.monotonic,
    )


def cookie(token: str, name: str = V5_COOKIE) -> SessionCredentials:
    return SessionCredentials(cookies={"theme": "dark", name: token})


async def test_returns_the_user_of_the_session_row_the_cookie_names() -> None:
    rows = FakeRows()
    rows.sign_in(TOKEN, ADA)
    assert await session_over(rows).current_user(cookie(TOKEN)) == ADA
    assert rows.looked_up == [TOKEN]


@pytest.mark.parametrize(
    ("version", "name"),
    [
        (4, V4_COOKIE),
        (4, "__Secure-" + V4_COOKIE),
        (5, V5_COOKIE),
        (5, "__Secure-" + V5_COOKIE),
    ],
)
async def test_reads_the_plain_and_the_secure_cookie_name_of_each_version(version: int, name: str) -> None:
    rows = FakeRows()
    rows.sign_in(TOKEN, ADA)
    assert await session_over(rows, version=version).current_user(cookie(TOKEN, name)) == ADA


async def test_reads_the_cookie_name_it_is_configured_with_and_no_other() -> None:
    rows = FakeRows()
    rows.sign_in(TOKEN, ADA)
    session = session_over(rows, cookie_name="app.sid")
    assert await session.current_user(cookie(TOKEN, "app.sid")) == ADA
    assert await session.current_user(cookie(TOKEN, V5_COOKIE)) is None


async def test_reads_only_the_secure_cookie_when_told_the_app_is_served_over_https() -> None:
    rows = FakeRows()
    rows.sign_in(TOKEN, ADA)
    session = session_over(rows, secure_cookie=True)
    assert await session.current_user(cookie(TOKEN, "__Secure-" + V5_COOKIE)) == ADA
    assert await session.current_user(cookie(TOKEN)) is None


async def test_a_request_without_a_session_cookie_proves_nobody_and_costs_no_query() -> None:
    rows = FakeRows()
    session = session_over(rows)
    assert await session.current_user(SessionCredentials()) is None
    assert await session.current_user(SessionCredentials(cookies={V5_COOKIE: ""})) is None
    assert rows.looked_up == []


async def test_looks_up_both_token_forms_the_libraries_generate() -> None:
    rows = FakeRows()
    rows.sign_in(HEX_TOKEN, ADA)
    assert await session_over(rows, version=4).current_user(cookie(HEX_TOKEN, V4_COOKIE)) == ADA
    assert await session_over(rows).current_user(cookie(str(uuid.uuid4()))) is None
    assert len(rows.looked_up) == 2


@pytest.mark.parametrize(
    "value",
    [
        TOKEN.upper(),
        TOKEN.replace("-", ""),
        TOKEN[:-1],
        TOKEN + "0",
        TOKEN.replace("-4", "-1"),  # a UUID, but not of version 4
        HEX_TOKEN[:-1],
        HEX_TOKEN + "a",
        " " + TOKEN,
        TOKEN + "\x00",
        "eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0..h-8mdmDS3chZ_134.CXHu.9pQM",  # a JWT session cookie
    ],
)
async def test_refuses_without_a_query_a_value_no_library_generates(value: str) -> None:
    rows = FakeRows()
    rows.sign_in(value, ADA)
    assert await session_over(rows).current_user(cookie(value)) is None
    assert rows.looked_up == []


@given(st.one_of(st.uuids(version=4).map(str), st.binary(min_size=32, max_size=32).map(bytes.hex)))
async def test_looks_up_every_token_random_uuid_or_random_bytes_can_make(token: str) -> None:
    rows = FakeRows()
    rows.sign_in(token, ADA)
    assert await session_over(rows).current_user(cookie(token)) == ADA


@given(st.text(max_size=80))
async def test_looks_up_no_text_that_is_not_a_uuid_or_64_hex_digits(value: str) -> None:
    rows = FakeRows()
    await session_over(rows).current_user(cookie(value))
    assert all(len(token) in {36, 64} for token in rows.looked_up)


async def test_looks_up_an_apps_own_tokens_when_told_they_are_custom() -> None:
    rows = FakeRows()
    rows.sign_in("sess_01HZX3V7Q9.custom~token", ADA)
    session = session_over(rows, generated_by="custom")
    assert await session.current_user(cookie("sess_01HZX3V7Q9.custom~token")) == ADA
    for value in ("with space", "nul\x00", "é", "x" * 4097):
        assert await session.current_user(cookie(value)) is None
    assert rows.looked_up == ["sess_01HZX3V7Q9.custom~token"]


async def test_a_token_without_a_session_row_proves_nobody() -> None:
    assert await session_over(FakeRows()).current_user(cookie(TOKEN)) is None


@pytest.mark.parametrize(
    ("expires_after_now", "signed_in"),
    [
        (datetime.timedelta(days=30), True),
        (datetime.timedelta(0), True),
        (datetime.timedelta(microseconds=-1), False),
        (datetime.timedelta(days=-1), False),
    ],
)
async def test_a_session_is_signed_in_until_its_expiry_is_earlier_than_now_in_milliseconds(
    expires_after_now: datetime.timedelta, signed_in: bool
) -> None:
    rows = FakeRows()
    rows.sign_in(TOKEN, ADA, expires=NOW_DATE + expires_after_now)
    assert (await session_over(rows).current_user(cookie(TOKEN)) == ADA) == signed_in


async def test_a_session_expiring_within_the_current_millisecond_is_still_valid_as_in_javascript() -> None:
    """The library tests ``session.expires.valueOf() < Date.now()``, and JavaScript's dates and clock
    count whole milliseconds: the expiry and now are both cut down to the millisecond."""
    rows, clocks = FakeRows(), Clocks()
    rows.sign_in(TOKEN, ADA, expires=NOW_DATE + datetime.timedelta(microseconds=300))
    clocks.now += 0.0009
    assert await session_over(rows, clocks=clocks).current_user(cookie(TOKEN)) == ADA


async def test_reads_an_expiry_without_time_zone_as_utc_as_every_adapter_writes_it() -> None:
    rows = FakeRows()
    naive = NOW_DATE.replace(tzinfo=None)
    rows.sign_in(TOKEN, ADA, expires=naive + datetime.timedelta(seconds=1))
    rows.sign_in(HEX_TOKEN, ADA, expires=naive - datetime.timedelta(seconds=1))
    session = session_over(rows)
    assert await session.current_user(cookie(TOKEN)) == ADA
    assert await session.current_user(cookie(HEX_TOKEN)) is None


async def test_compares_an_expiry_in_another_time_zone_as_the_instant_it_is() -> None:
    rows = FakeRows()
    tokyo = datetime.timezone(datetime.timedelta(hours=9))
    rows.sign_in(TOKEN, ADA, expires=(NOW_DATE + datetime.timedelta(seconds=1)).astimezone(tokyo))
    assert await session_over(rows).current_user(cookie(TOKEN)) == ADA


async def test_a_row_whose_expiry_is_no_date_proves_nobody_as_the_library_fails_on_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rows = FakeRows()
    rows.sign_in(TOKEN, ADA, expires="2030-01-01")
    with caplog.at_level(logging.WARNING, logger="adapters.nextauth_db"):
        assert await session_over(rows).current_user(cookie(TOKEN)) is None
    assert "expiry is not a date" in caplog.text
    assert TOKEN not in caplog.text


@pytest.mark.parametrize(
    ("stored_id", "user_id"),
    [
        ("clx2k9q0b0000a1b2c3d4e5f6", "clx2k9q0b0000a1b2c3d4e5f6"),
        (42, "42"),
        (uuid.UUID("0B8F3A1C-7D2E-4F6A-9B1C-2D3E4F5A6B7C"), "0b8f3a1c-7d2e-4f6a-9b1c-2d3e4f5a6b7c"),
    ],
)
async def test_spells_the_user_id_as_the_library_does_whatever_its_column_type(
    stored_id: object, user_id: str
) -> None:
    rows = FakeRows({TOKEN: (IN_A_MONTH, stored_id, "Ada", None, None)})
    assert await session_over(rows).current_user(cookie(TOKEN)) == User(user_id, "Ada")


@pytest.mark.parametrize("stored_id", ["", True, None, b"u-1", 4.2])
async def test_a_user_without_a_usable_id_proves_nobody(stored_id: object) -> None:
    rows = FakeRows({TOKEN: (IN_A_MONTH, stored_id, "Ada", None, None)})
    assert await session_over(rows).current_user(cookie(TOKEN)) is None


async def test_a_user_without_name_or_image_has_none_of_them() -> None:
    rows = FakeRows({TOKEN: (IN_A_MONTH, "u-2", None, "grace@example.com", None)})
    user = await session_over(rows).current_user(cookie(TOKEN))
    assert user == User("u-2", email="grace@example.com")
    assert user is not None
    assert user.to_event_data() == {"id": "u-2", "email": "grace@example.com"}


async def test_an_attribute_that_is_not_text_is_left_out_rather_than_converted() -> None:
    rows = FakeRows({TOKEN: (IN_A_MONTH, "u-2", b"Grace", 7, "")})
    assert await session_over(rows).current_user(cookie(TOKEN)) == User("u-2", image="")


async def test_a_store_without_an_answer_is_not_a_sign_out() -> None:
    rows = FakeRows()
    rows.unavailable = SessionStoreUnavailable("the session database is unreachable", 5.0)
    with pytest.raises(SessionStoreUnavailable) as raised:
        await session_over(rows).current_user(cookie(TOKEN))
    assert raised.value.retry_after == 5.0


# The cache of sessions found.


async def test_remembers_a_session_found_for_the_cache_time() -> None:
    rows, clocks = FakeRows(), Clocks()
    rows.sign_in(TOKEN, ADA)
    session = session_over(rows, clocks=clocks, cache_seconds=5)
    assert await session.current_user(cookie(TOKEN)) == ADA
    clocks.advance(4.9)
    assert await session.current_user(cookie(TOKEN)) == ADA
    assert rows.looked_up == [TOKEN]
    clocks.advance(0.1)
    assert await session.current_user(cookie(TOKEN)) == ADA
    assert rows.looked_up == [TOKEN, TOKEN]


async def test_a_signed_out_session_keeps_working_for_at_most_the_cache_time() -> None:
    rows, clocks = FakeRows(), Clocks()
    rows.sign_in(TOKEN, ADA)
    session = session_over(rows, clocks=clocks, cache_seconds=5)
    assert await session.current_user(cookie(TOKEN)) == ADA
    del rows.rows[TOKEN]
    assert await session.current_user(cookie(TOKEN)) == ADA
    clocks.advance(5)
    assert await session.current_user(cookie(TOKEN)) is None


async def test_with_the_cache_off_every_request_asks_the_database() -> None:
    rows = FakeRows()
    rows.sign_in(TOKEN, ADA)
    session = session_over(rows, cache_seconds=0)
    for _ in range(3):
        assert await session.current_user(cookie(TOKEN)) == ADA
    assert rows.looked_up == [TOKEN] * 3
    assert session.cache_entries == 0


async def test_never_remembers_a_token_that_found_nobody() -> None:
    rows = FakeRows()
    session = session_over(rows)
    assert await session.current_user(cookie(TOKEN)) is None
    rows.sign_in(TOKEN, ADA)
    assert await session.current_user(cookie(TOKEN)) == ADA
    assert rows.looked_up == [TOKEN, TOKEN]


async def test_honours_an_expiry_that_falls_inside_the_cache_time_at_once() -> None:
    rows, clocks = FakeRows(), Clocks()
    rows.sign_in(TOKEN, ADA, expires=NOW_DATE + datetime.timedelta(seconds=2))
    session = session_over(rows, clocks=clocks, cache_seconds=5)
    assert await session.current_user(cookie(TOKEN)) == ADA
    clocks.advance(2.001)
    assert await session.current_user(cookie(TOKEN)) is None
    assert rows.looked_up == [TOKEN, TOKEN]
    assert session.cache_entries == 0


async def test_an_expiry_the_app_extended_meanwhile_is_read_again_once_the_remembered_one_passes() -> None:
    rows, clocks = FakeRows(), Clocks()
    rows.sign_in(TOKEN, ADA, expires=NOW_DATE + datetime.timedelta(seconds=2))
    session = session_over(rows, clocks=clocks, cache_seconds=5)
    assert await session.current_user(cookie(TOKEN)) == ADA
    rows.sign_in(TOKEN, ADA)
    clocks.advance(3)
    assert await session.current_user(cookie(TOKEN)) == ADA


async def test_counts_the_cache_time_from_before_the_lookup_so_a_slow_answer_buys_no_time() -> None:
    rows, clocks = FakeRows(), Clocks()
    rows.sign_in(TOKEN, ADA)
    session = session_over(rows, clocks=clocks, cache_seconds=5)
    fetch = rows.fetch

    async def slow_fetch(token: str) -> Row | None:
        clocks.advance(2)
        return await fetch(token)

    rows.fetch = slow_fetch  # type: ignore[method-assign]
    await session.current_user(cookie(TOKEN))
    clocks.advance(3)
    await session.current_user(cookie(TOKEN))
    assert rows.looked_up == [TOKEN, TOKEN]


async def test_remembers_at_most_its_entries_forgetting_the_oldest_first() -> None:
    rows = FakeRows()
    tokens = [str(uuid.uuid4()) for _ in range(3)]
    for index, token in enumerate(tokens):
        rows.sign_in(token, User(f"u-{index}"))
    session = session_over(rows, cache_entries=2)
    for token in tokens:
        await session.current_user(cookie(token))
    assert session.cache_entries == 2
    await session.current_user(cookie(tokens[2]))
    await session.current_user(cookie(tokens[0]))
    assert rows.looked_up == [*tokens, tokens[0]]


async def test_does_not_remember_a_user_too_large_for_an_entry() -> None:
    rows = FakeRows()
    rows.sign_in(TOKEN, User("u-1", name="x" * MAX_CACHED_USER_LENGTH))
    session = session_over(rows)
    await session.current_user(cookie(TOKEN))
    assert session.cache_entries == 0


async def test_remembers_nothing_while_the_store_gives_no_answer() -> None:
    rows = FakeRows()
    rows.sign_in(TOKEN, ADA)
    rows.unavailable = SessionStoreUnavailable("down", 5.0)
    session = session_over(rows)
    with pytest.raises(SessionStoreUnavailable):
        await session.current_user(cookie(TOKEN))
    assert session.cache_entries == 0


async def test_closing_forgets_every_session_and_closes_the_store() -> None:
    rows = FakeRows()
    rows.sign_in(TOKEN, ADA)
    async with session_over(rows) as session:
        await session.current_user(cookie(TOKEN))
        assert session.cache_entries == 1
    assert session.cache_entries == 0
    assert rows.closed


# Lifecycle and readiness.


async def test_probe_says_why_the_store_cannot_answer_now() -> None:
    rows = FakeRows()
    session = session_over(rows)
    assert await session.probe() is None
    rows.check_result = "the session database is unreachable"
    assert await session.probe() == "the session database is unreachable"
    rows.misconfigured = True
    assert await session.probe() == "refused (error 42P01)"


async def test_opening_fails_when_the_database_refuses_the_lookup_for_good() -> None:
    rows = FakeRows()
    rows.misconfigured = True
    with pytest.raises(SessionStoreMisconfigured, match="relation does not exist"):
        async with session_over(rows):
            pass


async def test_opening_goes_on_with_a_warning_while_the_database_does_not_answer(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rows = FakeRows()
    rows.check_result = "the session database is unreachable"
    with caplog.at_level(logging.WARNING, logger="adapters.nextauth_db"):
        async with session_over(rows):
            pass
    assert "cannot be used yet: the session database is unreachable" in caplog.text


def settings(url: str, **changes: object) -> DatabaseSessionSettings:
    fields: dict[str, object] = {"strategy": "database", "database_url": Secret(url), "adapter": "prisma"}
    return DatabaseSessionSettings(**{**fields, **changes})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "url", ["postgresql://u@127.0.0.1/app", "postgres://u@127.0.0.1/app", "mysql://u@127.0.0.1/app"]
)
def test_builds_a_session_for_a_postgresql_or_mysql_url_without_connecting(url: str) -> None:
    assert isinstance(DatabaseSession.from_settings(settings(url), 5), DatabaseSession)


@pytest.mark.parametrize("url", ["", "sqlite:///app.db", "http://127.0.0.1/"])
def test_refuses_a_url_of_another_database(url: str) -> None:
    with pytest.raises(DatabaseSessionConfigError, match="EVENTGATE_NEXTAUTH_DATABASE_URL"):
        DatabaseSession.from_settings(settings(url), 5)


def test_refuses_database_sessions_without_an_adapter() -> None:
    with pytest.raises(DatabaseSessionConfigError, match="EVENTGATE_NEXTAUTH_ADAPTER"):
        DatabaseSession.from_settings(settings("postgresql://u@127.0.0.1/app", adapter=None), 5)
