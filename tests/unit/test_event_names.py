import re
import sys
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import InvalidEvent
from domain.event import MAX_NAME_LENGTH, check_event_name


def is_refused(name: str) -> bool:
    try:
        check_event_name(name)
    except InvalidEvent:
        return True
    return False


def test_refuses_exactly_the_control_format_and_separator_characters_in_a_name() -> None:
    refused = {code for code in range(sys.maxunicode + 1) if is_refused(f"app/{chr(code)}")}
    categories = {"Cc", "Cf", "Zl", "Zp"}
    expected = {code for code in range(sys.maxunicode + 1) if unicodedata.category(chr(code)) in categories}
    assert refused == expected


@pytest.mark.parametrize("name", ["app/\x00", "\x1fapp", "app\x7f/x", "app/\x9f", "a\nb"])
def test_refuses_a_name_with_a_control_character_anywhere(name: str) -> None:
    with pytest.raises(InvalidEvent, match="control characters"):
        check_event_name(name)


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("app/\u202egnp.exe", "U+202E, a format character"),
        ("app/sign\u200bup", "U+200B, a format character"),
        ("\ufeffapp/x", "U+FEFF, a format character"),
        ("app/a\u2028b", "U+2028, a line separator"),
        ("app/a\u2029b", "U+2029, a paragraph separator"),
    ],
)
def test_refuses_a_name_with_an_invisible_character_and_names_it(name: str, shown: str) -> None:
    with pytest.raises(InvalidEvent, match=re.escape(shown)):
        check_event_name(name)


@given(
    before=st.text(st.characters(codec="ascii", categories=["L", "N"]), max_size=20),
    invisible=st.characters(categories=["Cf", "Zl", "Zp"]),
    after=st.text(st.characters(codec="ascii", categories=["L", "N"]), max_size=20),
)
def test_refuses_an_invisible_character_wherever_it_stands(before: str, invisible: str, after: str) -> None:
    assert is_refused(f"{before}{invisible}{after}")


@pytest.mark.parametrize("name", [" ", "   ", "\u00a0", "\u3000", " \u2003 "])
def test_refuses_a_blank_name(name: str) -> None:
    with pytest.raises(InvalidEvent, match="must not be blank"):
        check_event_name(name)


@given(st.text(st.characters(categories=["Zs"]), min_size=1, max_size=MAX_NAME_LENGTH))
def test_refuses_every_name_made_only_of_spaces(name: str) -> None:
    assert is_refused(name)


@pytest.mark.parametrize(
    "name",
    [
        "inngest/x",
        "Inngest/x",
        "INNGEST/x",
        " inngest/x",
        "\u00a0inngest/x",
        "\u3000InNgEsT/x",
        "\uff49\uff4e\uff4e\uff47\uff45\uff53\uff54\uff0fx",
    ],
)
def test_refuses_inngest_s_prefix_in_any_case_and_spacing(name: str) -> None:
    with pytest.raises(InvalidEvent, match="Inngest reserves"):
        check_event_name(name)


@given(
    padding=st.text(st.sampled_from(" \u00a0\u2002\u3000"), max_size=3),
    upper=st.lists(st.booleans(), min_size=7, max_size=7),
    rest=st.text(st.characters(codec="ascii", categories=["L", "N", "P"]), max_size=30),
)
def test_refuses_the_reserved_prefix_however_it_is_cased_or_padded(
    padding: str, upper: list[bool], rest: str
) -> None:
    prefix = "".join(c.upper() if up else c for c, up in zip("inngest", upper, strict=True))
    assert is_refused(f"{padding}{prefix}/{rest}")


@pytest.mark.parametrize(
    "name", ["app/user.signup", "inngest", "my-inngest/x", "app/inngest/x", "app/zoë 🎉"]
)
def test_accepts_names_that_only_mention_inngest_or_use_visible_unicode(name: str) -> None:
    check_event_name(name)
