"""The kinds of value a setting holds, shared by every section of the settings tree.

Each is a type with msgspec constraints, so a section states its limits once, where it declares
the setting; ``unit`` names what a number counts, for the error a wrong value gets.
"""

from typing import Annotated

from msgspec import Meta

Seconds = Annotated[float, Meta(ge=0, extra={"unit": "seconds"})]
"""Zero or more seconds."""

PositiveSeconds = Annotated[float, Meta(gt=0, extra={"unit": "seconds"})]
"""More than zero seconds."""

Count = Annotated[int, Meta(ge=1)]
"""A positive whole number."""
