"""TOML tables → frozen dataclasses, the dataclasses being the schema.

A table's allowed keys are the fields of its dataclass, a key's type is the
field's annotation, and per-field checks live in the field's metadata. Unknown
keys and wrong types are refused with the key's dotted path, a line number and a
did-you-mean hint, so that a typo in madash.toml never silently falls back to a
default.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import functools
import re
import types
import typing
from collections.abc import Callable, Hashable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar, cast

from madash.errors import SiteError, UsageError
from madash.site.values import control_character

Check = Callable[[Any], object]
T = TypeVar("T")


def check(function: Check) -> dict[str, Check]:
    """Field metadata: ``field(default=..., metadata=check(f))``; f raises ValueError or UsageError."""
    return {"check": function}


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def join(prefix: str, key: str) -> str:
    if not prefix:
        return key
    return f"{prefix}.{key}" if re.fullmatch(r"[A-Za-z0-9_-]+", key) else f'{prefix}."{key}"'


class Reader:
    """Builds dataclasses from TOML tables, reporting errors by dotted path."""

    def __init__(self, text: str, source: Path) -> None:
        self.text = text
        self.source = source

    def fail(self, dotted: str, message: str, hint: str | None = None) -> SiteError:
        line = _line_of(self.text, dotted)
        where = f"{self.source.name}:{line}" if line else self.source.name
        return SiteError(f"{where}: {dotted}: {message}", hint=hint)

    def keys(self, table: Mapping[str, Any], dotted: str) -> None:
        """No key may hold a control character; checked before a key is ever shown or looked up."""
        for key in table:
            bad = control_character(key)
            if bad is not None:
                message = f"the key {key!r} holds the control character U+{ord(bad):04X}: no key or value may hold one"
                raise self.fail(dotted, message) if dotted else SiteError(f"{self.source.name}: {message}")

    def string(self, value: str, dotted: str) -> str:
        """Every string of the site passes here: no field can forget the control-character rule."""
        bad = control_character(value)
        if bad is not None:
            raise self.fail(dotted, f"holds the control character U+{ord(bad):04X}: no key or value may hold one")
        return value

    def build(self, cls: type[T], table: Mapping[str, Any], prefix: str) -> T:
        hints = _type_hints(cast(Hashable, cls))
        fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        self.keys(table, prefix)
        for key in table:
            if key not in fields:
                raise self.fail(join(prefix, key), f"unknown key{did_you_mean(key, fields)}")
        values: dict[str, Any] = {}
        for name, spec in fields.items():
            dotted = join(prefix, name)
            if name not in table:
                no_default = spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING
                if no_default:
                    raise self.fail(dotted, "is required")
                continue
            value = self.convert(hints[name], table[name], dotted)
            function = spec.metadata.get("check")
            if function is not None:
                try:
                    function(value)
                except ValueError as exc:
                    raise self.fail(dotted, str(exc)) from None
                except UsageError as exc:
                    raise self.fail(dotted, exc.message, exc.hint) from None
            values[name] = value
        return cls(**values)

    def convert(self, hint: Any, value: Any, dotted: str) -> Any:
        origin = typing.get_origin(hint)
        args = typing.get_args(hint)
        if dataclasses.is_dataclass(hint):
            return self.build(hint, self.table(value, dotted), dotted)  # type: ignore[arg-type]
        if isinstance(hint, type) and issubclass(hint, enum.Enum):
            return self.choice(hint, value, dotted)
        if origin is tuple:
            if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
                raise self.fail(dotted, "must be a list of strings")
            for item in value:
                self.string(item, dotted)
            item_hint = args[0]
            if isinstance(item_hint, type) and issubclass(item_hint, enum.Enum):
                choices = tuple(self.choice(item_hint, item, dotted) for item in value)
                if len(set(choices)) != len(choices):
                    raise self.fail(dotted, "names a value twice")
                return choices
            return tuple(value)
        if origin is Mapping or origin is typing.Mapping or origin is dict:
            table = self.table(value, dotted)
            self.keys(table, dotted)
            _, value_hint = args
            if dataclasses.is_dataclass(value_hint):
                return types.MappingProxyType(
                    {key: self.convert(value_hint, item, join(dotted, key)) for key, item in table.items()}
                )
            for key, item in table.items():
                if not isinstance(item, str):
                    raise self.fail(join(dotted, key), "must be a string")
                self.string(item, join(dotted, key))
            return types.MappingProxyType(dict(table))
        # bool is an int in Python; TOML keeps them apart, so must we.
        if hint is int and (not isinstance(value, int) or isinstance(value, bool)):
            raise self.fail(dotted, "must be a whole number")
        if hint is str:
            if not isinstance(value, str):
                raise self.fail(dotted, "must be a string")
            return self.string(value, dotted)
        if hint is bool and not isinstance(value, bool):
            raise self.fail(dotted, "must be true or false")
        return value

    def choice(self, kind: type[enum.Enum], value: Any, dotted: str) -> enum.Enum:
        """One of an enum's values, spelled as its value."""
        if isinstance(value, str):
            self.string(value, dotted)
            try:
                return kind(value)  # the enum's own value map: a thousand hosts' features, no loop each
            except ValueError:
                pass
        allowed = [str(member.value) for member in kind]
        shown = repr(value) if isinstance(value, str) else "a non-string"
        raise self.fail(dotted, f"{shown} is not one of {', '.join(allowed)}{did_you_mean(str(value), allowed)}")

    def table(self, value: Any, dotted: str) -> Mapping[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(dotted, "must be a table")
        return value


@functools.cache
def _type_hints(cls: Hashable) -> dict[str, Any]:
    # Evaluating annotations is slow, and a site may have a thousand [hosts.*] tables.
    return typing.get_type_hints(cls)


def _line_of(text: str, dotted: str) -> int | None:
    """Best-effort line of a dotted key: the key's own line, else its table's header."""
    parts = [part.strip('"') for part in dotted.split(".")]
    table, key = parts[:-1], parts[-1]
    current: list[str] = []
    table_line = None
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        header = re.fullmatch(r"\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?", stripped)
        if header:
            current = [part.strip().strip('"') for part in header.group(1).split(".")]
            if current == parts:
                return number
            if current == table:
                table_line = number
            continue
        assignment = re.match(r'"?([A-Za-z0-9_-]+)"?\s*=', stripped)
        if assignment and current == table and assignment.group(1) == key:
            return number
    return table_line
