"""The site model's grammars against the server's own, and the control-character rule on random strings."""

from __future__ import annotations

import dataclasses
import enum
import importlib.util
import sys
import typing
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import tomlkit
from hypothesis import example, given, settings
from hypothesis import strategies as st

from madash.errors import SiteError, UsageError
from madash.site.config import parse_config
from madash.site.values import (
    CONTROL_CATEGORIES,
    check_database_name,
    check_influx_user,
    check_retention,
    control_character,
)

ROOT = Path(__file__).resolve().parent.parent


def _ensure_influxdb() -> ModuleType:
    path = ROOT / "debian" / "server" / "ensure_influxdb.py"
    spec = importlib.util.spec_from_file_location("ensure_influxdb_under_test", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


ENSURE = _ensure_influxdb()


def _model_accepts(check: object, value: str) -> bool:
    try:
        check(value)  # type: ignore[operator]
    except UsageError:
        return False
    return True


def _server_accepts(check: object, value: str) -> bool:
    try:
        check(value)  # type: ignore[operator]
    except ENSURE.ConfigError:
        return False
    return True


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="0123456789hdwmsHDWinfINF ", max_size=12))
@example("2562047h")
@example("2562048h")
@example("106751d")
@example("106752d")
@example("15250w")
@example("15251w")
@example("iNf")
@example("9" * 19 + "h")
def test_retention_grammar_is_ensure_influxdbs(text: str) -> None:
    """madash.toml accepts a retention exactly when the server's ensure-influxdb does."""
    assert _model_accepts(check_retention, text) == _server_accepts(ENSURE.parse_retention, text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=70))
@example('a"b')
@example(" x")
@example("..")
def test_a_database_name_the_model_accepts_is_one_the_server_accepts(name: str) -> None:
    if _model_accepts(check_database_name, name):
        assert _server_accepts(ENSURE.check_database, name)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=70))
def test_a_user_name_the_model_accepts_has_no_colon_and_no_control(name: str) -> None:
    if _model_accepts(check_influx_user, name):
        assert ":" not in name and name.isprintable()


SITE = '[site]\nname = "demo"\n\n[server]\naddresses = ["127.0.0.1"]\n'
CONTROL = st.characters(categories=CONTROL_CATEGORIES)  # type: ignore[arg-type]
PLAIN = st.text(st.characters(exclude_categories=(*CONTROL_CATEGORIES, "Cs")), max_size=10)  # type: ignore[arg-type]


def toml_string(value: str) -> str:
    """A TOML basic string: quote and backslash escaped, control characters as \\uXXXX, the rest as is."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + "".join(f"\\u{ord(c):04x}" if control_character(c) else c for c in escaped) + '"'


@settings(max_examples=200, deadline=None)
@given(PLAIN, CONTROL, PLAIN, st.sampled_from(["value", "key", "database", "http_match"]))
def test_no_string_or_key_may_hold_a_control_character(before: str, bad: str, after: str, where: str) -> None:
    text = toml_string(before + bad + after)
    extra = {
        "value": f"[hosts.a]\ntags = {{ room = {text} }}\n",
        "key": f'[hosts.a]\ntags = {{ {text} = "x" }}\n',
        "database": f"[influxdb]\ndatabase = {text}\n",
        "http_match": f"[internet]\nhttp_match = {text}\n",
    }[where]
    with pytest.raises(SiteError) as info:
        parse_config(SITE + extra, Path("madash.toml"))
    assert f"U+{ord(bad):04X}" in info.value.message
    assert "\n" not in info.value.message


def _string_fields() -> list[tuple[str, str, object]]:
    """Every field of every section that holds strings, with a value of its shape holding a newline."""
    from madash.site.config import SiteConfig

    cases: list[tuple[str, str, object]] = []
    hints = typing.get_type_hints(SiteConfig)
    for section in dataclasses.fields(SiteConfig):
        cls = hints[section.name]
        if typing.get_origin(cls) in (Mapping, typing.Mapping):
            cls = typing.get_args(cls)[1]  # hosts: the HostSection of each
        section_hints = typing.get_type_hints(cls)
        for item in dataclasses.fields(cls):
            hint = section_hints[item.name]
            origin = typing.get_origin(hint)
            if hint is str or (isinstance(hint, type) and issubclass(hint, enum.Enum)):
                cases.append((section.name, item.name, "x\ny"))
            elif origin is tuple:
                cases.append((section.name, item.name, ["x\ny"]))
            elif origin in (Mapping, typing.Mapping):
                cases.append((section.name, item.name + " (value)", {"k": "x\ny"}))
                cases.append((section.name, item.name + " (key)", {"x\ny": "v"}))
    return cases


STRING_FIELDS = _string_fields()


def test_every_string_field_is_covered() -> None:
    # If this fails, a section grew a field of a new shape: teach _string_fields about it.
    names = {(section, name.split(" ")[0]) for section, name, _ in STRING_FIELDS}
    assert ("site", "name") in names and ("hosts", "tags") in names and ("repo", "url") in names
    assert len(names) >= 22


@pytest.mark.parametrize(("section", "name", "value"), STRING_FIELDS, ids=[f"{s}.{n}" for s, n, _ in STRING_FIELDS])
def test_no_field_can_forget_the_control_character_rule(section: str, name: str, value: object) -> None:
    data: dict[str, Any] = {"site": {"name": "demo"}, "server": {"addresses": ["127.0.0.1"]}}
    key = name.split(" ")[0]
    if section == "hosts":
        data["hosts"] = {"a": {key: value}}
    else:
        data.setdefault(section, {})[key] = value
    with pytest.raises(SiteError) as info:
        parse_config(tomlkit.dumps(data), Path("madash.toml"))
    assert "control character U+000A" in info.value.message
