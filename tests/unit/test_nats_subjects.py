"""Event names as NATS subjects: the documented examples, and the rule's promises for any name."""

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.nats_bus.subjects import check_prefix, covers, event_name, subject_token
from domain.event import MAX_NAME_LENGTH

_VALID_TOKEN = re.compile(r"[^\s*>.]+")


@pytest.mark.parametrize(
    ("name", "token"),
    [
        ("app/user.clicked", "app/user.clicked"),
        ("signup", "signup"),
        ("a b", "a%20b"),
        ("price*2>1", "price%2A2%3E1"),
        ("50%", "50%25"),
        (".hidden", "%2Ehidden"),
        ("trailing.", "trailing%2E"),
        ("a..b", "a%2E%2Eb"),
        ("no\u00a0break", "no%C2%A0break"),
        ("café", "café"),
    ],
)
def test_writes_names_as_the_readme_says(name: str, token: str) -> None:
    assert subject_token(name) == token
    assert event_name(token) == name


names = st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=MAX_NAME_LENGTH)


@given(names)
def test_every_name_comes_back_from_its_subject(name: str) -> None:
    assert event_name(subject_token(name)) == name


@given(names)
def test_every_subject_is_tokens_a_subject_can_hold(name: str) -> None:
    tokens = subject_token(name).split(".")

    assert all(_VALID_TOKEN.fullmatch(token) for token in tokens)


@given(names, names)
def test_two_names_never_share_a_subject(first: str, second: str) -> None:
    assert (subject_token(first) == subject_token(second)) == (first == second)


@pytest.mark.parametrize(
    ("filter_subject", "captured"),
    [("eventgate.>", True), (">", True), ("*.>", True), ("eventgate.*", False), ("other.>", False)],
)
def test_knows_which_stream_subjects_capture_every_event(filter_subject: str, captured: bool) -> None:
    assert covers(filter_subject, "eventgate") is captured


@pytest.mark.parametrize("prefix", ["", "a..b", ".a", "a.", "a b", "a.*", "a.>"])
def test_refuses_a_prefix_that_is_not_a_literal_subject(prefix: str) -> None:
    with pytest.raises(ValueError, match="subject prefix"):
        check_prefix(prefix)
