"""Reading the settings tree from environment variables, once, at start; and showing it.

Each field of a section is parsed from its variable's text by what its type says (a switch, a
whole number, seconds, a choice, a comma-separated list, a secret), or by the ``parse`` function
its ``Meta(extra=...)`` names, and checked against its limits. A wrong value is a ``ConfigError``
naming the variable and the rule, never the value of a secret.
"""

import dataclasses
import functools
import math
import re
import typing
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

import msgspec
import msgspec.inspect as schema

from adapters.secret import HIDDEN, Secret
from entrypoints.composition.settings import Settings

S = TypeVar("S", bound=msgspec.Struct)


class ConfigError(ValueError):
    """The configuration cannot work; the message names the variable and what to do."""


@dataclasses.dataclass(frozen=True, slots=True)
class Variable:
    """One environment variable of the tree: its section, field, type, default and meaning."""

    env: str
    section: str
    field: str
    kind: schema.Type
    default: object
    meaning: str
    extra: Mapping[str, Any]

    @property
    def secret(self) -> bool:
        return isinstance(self.kind, schema.CustomType) and self.kind.cls is Secret

    def parse(self, text: str) -> object:
        """The value ``text`` stands for; ``ConfigError`` naming the variable when it breaks a rule."""
        try:
            parse = self.extra.get("parse")
            return parse(text) if parse is not None else _parse(text, self.kind, self.extra.get("unit"))
        except ValueError as error:
            shown = HIDDEN if self.secret else repr(text)
            raise ConfigError(f"{self.env}={shown} is not valid: {error}") from None

    @property
    def default_text(self) -> str:
        """The default as one would write it in the environment; empty for none."""
        return _as_text(self.default, self.extra.get("format"))


@functools.cache
def variables(section_type: type[msgspec.Struct]) -> tuple[Variable, ...]:
    """The variables of one section, in declaration order."""
    return tuple(_inspect(section_type))


def _inspect(section_type: type[msgspec.Struct]) -> Iterator[Variable]:
    info = schema.type_info(section_type)
    if not isinstance(info, schema.StructType):
        raise TypeError(f"{section_type} is not a settings section")
    for field, declared in zip(info.fields, msgspec.structs.fields(section_type), strict=True):
        kind, meaning, extra = field.type, "", {}
        if isinstance(kind, schema.Metadata):
            meaning = (kind.extra_json_schema or {}).get("description", "")
            extra = kind.extra or {}
            kind = kind.type
        if isinstance(kind, schema.LiteralType):  # in the order written, not sorted
            kind = schema.LiteralType(typing.get_args(typing.get_args(declared.type)[0]))
        yield Variable(field.encode_name, "", field.name, kind, field.default, meaning, extra)


def every_variable() -> Iterator[Variable]:
    """Every variable of the tree, section by section."""
    for section in msgspec.structs.fields(Settings):
        for variable in variables(section.type):
            yield dataclasses.replace(variable, section=section.name)


def read_section(environ: Mapping[str, str], section_type: type[S]) -> S:
    """One section from ``environ``: the variables set there, parsed, the others at their defaults."""
    return section_type(
        **{
            variable.field: variable.parse(environ[variable.env])
            for variable in variables(section_type)
            if variable.env in environ
        }
    )


def read_settings(environ: Mapping[str, str]) -> Settings:
    """The whole tree from ``environ``; ``ConfigError`` naming the first variable that is wrong."""
    return Settings(
        **{section.name: read_section(environ, section.type) for section in msgspec.structs.fields(Settings)}
    )


def _parse(text: str, kind: schema.Type, unit: str | None) -> object:
    if isinstance(kind, schema.UnionType) and any(isinstance(t, schema.NoneType) for t in kind.types):
        if not text.strip():
            return None
        (kind,) = (t for t in kind.types if not isinstance(t, schema.NoneType))
    if isinstance(kind, schema.IntType):
        return _whole_number(text, kind)
    if isinstance(kind, schema.FloatType):
        return _number(text, kind, unit or "")
    if isinstance(kind, schema.LiteralType):
        return _choice(text, kind.values)
    if isinstance(kind, schema.StrType):
        return _text(text, kind)
    parse = _PLAIN_PARSERS.get(type(kind))
    if parse is None:
        raise TypeError(f"no parser for settings of type {kind}")
    return parse(text)


_ON = frozenset({"1", "true", "yes", "on"})
_OFF = frozenset({"0", "false", "no", "off"})


def _switch(text: str) -> bool:
    value = text.strip().lower()
    if value in _ON or value in _OFF:
        return value in _ON
    raise ValueError("must be on or off")


def _whole_number(text: str, kind: schema.IntType) -> int:
    positive = kind.ge == 1 and kind.le is None
    try:
        value = int(text.strip())
    except ValueError:
        raise ValueError(
            "must be a positive whole number" if positive else "must be a whole number"
        ) from None
    if (kind.ge is not None and value < kind.ge) or (kind.le is not None and value > kind.le):
        if positive:
            raise ValueError("must be a positive whole number")
        raise ValueError(f"must be a whole number between {kind.ge} and {kind.le}")
    return value


def _number(text: str, kind: schema.FloatType, unit: str) -> float:
    rule = "must be a positive number" if kind.gt == 0 else "must be zero or a positive number"
    rule = f"{rule} of {unit}" if unit else rule
    try:
        value = float(text.strip())
    except ValueError:
        raise ValueError(rule) from None
    if not math.isfinite(value) or (kind.gt is not None and value <= kind.gt):
        raise ValueError(rule)
    if kind.ge is not None and value < kind.ge:
        raise ValueError(rule)
    return value


def _text(text: str, kind: schema.StrType) -> str:
    if kind.min_length is not None and len(text) < kind.min_length:
        raise ValueError(
            "must not be empty" if kind.min_length == 1 else f"must be at least {kind.min_length} characters"
        )
    if kind.max_length is not None and len(text) > kind.max_length:
        raise ValueError(f"must be at most {kind.max_length} characters")
    if kind.pattern is not None and re.search(kind.pattern, text) is None:
        raise ValueError(f"must match {kind.pattern}")
    return text


def _choice(text: str, allowed: tuple[object, ...]) -> object:
    for value in allowed:
        if str(value) == text.strip().lower():
            return value
    raise ValueError(f"must be one of {', '.join(map(str, allowed))}")


def _as_text(value: object, format_value: Callable[[Any], str] | None) -> str:
    if format_value is not None:
        return format_value(value)
    if isinstance(value, Secret):
        value = value.reveal()  # a default is in the code for all to read; only what is set is secret
    if value is None:
        return ""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


_PLAIN_PARSERS: dict[type[schema.Type], Callable[[str], object]] = {
    schema.BoolType: _switch,
    schema.CustomType: Secret,
    schema.VarTupleType: lambda text: tuple(item.strip() for item in text.split(",") if item.strip()),
}
"""Kinds read the same way whatever their limits: the only custom type a setting has is ``Secret``."""
