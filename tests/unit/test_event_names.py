import sys
import unicodedata

import pytest

from domain.errors import InvalidEvent
from domain.event import check_event_name


def is_refused(name: str) -> bool:
    try:
        check_event_name(name)
    except InvalidEvent:
        return True
    return False


def test_refuses_exactly_the_unicode_control_characters_in_a_name() -> None:
    refused = {code for code in range(sys.maxunicode + 1) if is_refused(f"app/{chr(code)}")}
    control = {code for code in range(sys.maxunicode + 1) if unicodedata.category(chr(code)) == "Cc"}
    assert refused == control


@pytest.mark.parametrize("name", ["app/\x00", "\x1fapp", "app\x7f/x", "app/\x9f", "a\nb"])
def test_refuses_a_name_with_a_control_character_anywhere(name: str) -> None:
    with pytest.raises(InvalidEvent, match="control characters"):
        check_event_name(name)
