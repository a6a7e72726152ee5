"""Rendering of the templates in conf/ and debian/ with jinja2.

StrictUndefined turns a missing variable into an error instead of an empty
string: a half-rendered configuration file must never reach a package.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from functools import cache
from typing import Any

import jinja2

from madash.errors import MadashError
from madash.resources import data_root


def _toml_string(value: str) -> str:
    """A TOML basic string: JSON's escaping is a subset TOML accepts."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    escaped = "".join(ch if (" " <= ch != "\x7f") or ch == "\t" else f"\\u{ord(ch):04x}" for ch in escaped)
    return f'"{escaped}"'


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(data_root())),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,  # noqa: S701 - renders configuration files, never HTML
    )
    env.filters["toml"] = _toml_string
    env.filters["shell"] = shlex.quote  # one POSIX sh word (maintainer-script snippets)
    return env


def render(template: str, context: Mapping[str, Any]) -> str:
    """Render the template at ``template`` (relative to the data root)."""
    try:
        return _environment().get_template(template).render(**context)
    except jinja2.TemplateNotFound:
        raise MadashError(f"template {template} is missing", hint="reinstall madash") from None
    except jinja2.UndefinedError as exc:
        # A bug in madash, not in the user's input: say which template.
        raise MadashError(f"template {template}: {exc.message}") from None
