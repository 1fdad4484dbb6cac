"""``Secret``: a setting's value that no log line, error message or ``repr`` can show."""

from typing import Final

HIDDEN: Final = "(hidden)"


class Secret:
    """A string kept out of sight: ``str``, ``repr`` and formatting all show ``(hidden)``.

    Only ``reveal()`` gives the value, so every place that uses a secret says so in its code.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __repr__(self) -> str:
        return f"Secret({HIDDEN!r})"

    def __str__(self) -> str:
        return HIDDEN
