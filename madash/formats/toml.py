"""TOML: madash.toml, secrets.toml and Telegraf's configurations.

Filters: ``toml`` (a basic string), ``toml_key`` (a bare or quoted key),
``toml_array`` (an inline array of strings), ``toml_comment``, ``telegraf_int``
(an integer); for Telegraf, ``telegraf``, ``telegraf_key`` and ``telegraf_array``,
which also refuse every ``$`` that Telegraf could take for an environment variable
and every ``@{`` it could take for a secret (see telegraf_safe), and
``telegraf_secret``, the one secret reference madash writes on purpose, and ``telegraf_variable``, a
``${NAME}`` it means Telegraf to expand.
"""

from __future__ import annotations

import importlib
import re
import tomllib
import types
from collections.abc import Callable, Iterable
from typing import Any

from madash.errors import RenderError
from madash.formats._common import comment as _comment
from madash.formats._common import is_unsafe, refuse, text

# tomli where installed (madash[fast]), else tomllib: Debian's python3-madash, and pip installs without
# the extra. Looked up by name, so that the types are the same whether or not tomli is there.
try:
    _parser: types.ModuleType = importlib.import_module("tomli")
except ImportError:
    _parser = tomllib
_loads: Callable[[str], dict[str, Any]] = _parser.loads
_TOMLDecodeError: type[ValueError] = _parser.TOMLDecodeError

FORMAT = "TOML"
BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
# TOML's short escapes; every other control character becomes \\uXXXX.
_SHORT = {"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r", '"': '\\"', "\\": "\\\\"}
# A "$" Telegraf's environment substitution (compose-go's template, in every mode of
# every version from 1.27 on) could take for the start of $$, $NAME or ${...}. Its
# pattern is case-insensitive Go RE2, where [a-z] also matches U+017F (long s) and
# U+212A (Kelvin sign) by simple case folding.
TELEGRAF_DOLLAR = re.compile(r"\$(?=[$_{A-Za-z\u017f\u212a])")
# Telegraf resolves "@{store:key}" in its secret-typed options (passwords, tokens) from a
# secret store; its own candidate pattern is @\{.+?:.+?}, so any "@{" is refused in a value.
_TELEGRAF_SECRET = re.compile(r"@\{")
# The one spelling of a reference madash writes itself: Telegraf's secretPattern.
_SECRET_REFERENCE = re.compile(r"@\{\w+:\w+\}")


def string(value: object) -> str:
    """A TOML basic string that tomllib and Telegraf's parser decode back to ``value``.

    Only the short escapes and \\uXXXX are used: both TOML 1.0 and influxdata/toml
    (which hands the body to Go's strconv.Unquote) read them alike. Control
    characters, DEL, and what some readers take for line breaks are escaped, so the
    string always stays on its line.
    """
    raw = text(value, FORMAT)
    if raw.isascii() and raw.isprintable() and '"' not in raw and "\\" not in raw:
        return '"' + raw + '"'  # nothing to escape: no loop per character (fifteen strings a package)
    out = []
    for ch in raw:
        if ch in _SHORT:
            out.append(_SHORT[ch])
        elif ord(ch) in range(0xD800, 0xE000):
            refuse(FORMAT, "a value holds a lone surrogate, which UTF-8 cannot encode")
        elif is_unsafe(ch):
            out.append(f"\\u{ord(ch):04x}" if ord(ch) <= 0xFFFF else f"\\U{ord(ch):08x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def key(value: object) -> str:
    """A key: bare when TOML allows it (so existing output stays as it was), else quoted."""
    raw = text(value, FORMAT)
    return raw if BARE_KEY.fullmatch(raw) else string(raw)


def array(values: Iterable[object]) -> str:
    """An inline array of strings on one line, as the templates used to spell it."""
    return "[" + ", ".join(string(v) for v in values) + "]"


def comment(value: object) -> str:
    # TOML forbids control characters other than tab in comments, and Telegraf drops
    # comments before it substitutes variables, so one safe line is all a comment needs.
    return _comment(value, FORMAT)


def telegraf_safe(value: object) -> str:
    """The value, refused if Telegraf could expand a variable from it.

    Telegraf substitutes ``$NAME`` and ``${NAME...}`` from its environment (where the
    writer password lives) with compose-go's template. Up to 1.37, and with
    --non-strict-env-handling after, it does so on the raw file before TOML parsing;
    from 1.38 by default (1.37 with --strict-env-handling) on each string value after
    TOML decoding, so an escape such as \\u0024 is decoded into a real ``$`` first and
    expanded anyway. ``$$`` is the template's escape in the default pattern but not
    with --old-env-behavior, where ``$$NAME`` still expands. No spelling of a ``$``
    followed by ``$``, ``{``, a letter or ``_`` is safe in every mode, so those are
    refused; any other ``$`` matches no pattern and is left alone by all of them.
    """
    raw = text(value, FORMAT)
    found = TELEGRAF_DOLLAR.search(raw)
    if found:
        refuse(
            "Telegraf TOML",
            f"a value holds {raw[found.start() : found.start() + 2]!r} at offset {found.start()}, "
            "which Telegraf could expand from its environment",
        )
    secret = _TELEGRAF_SECRET.search(raw)
    if secret:
        refuse("Telegraf TOML", f"a value holds '@{{' at offset {secret.start()}, which Telegraf reads as a secret")
    return raw


def telegraf_secret(value: object) -> str:
    """A secret reference madash writes on purpose, @{store:key}, and nothing else."""
    raw = text(value, FORMAT)
    if not _SECRET_REFERENCE.fullmatch(raw):
        refuse("Telegraf TOML", f"{raw!r} is not a secret reference @{{store:key}}")
    return string(raw)


_VARIABLE_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")


def telegraf_variable(value: object) -> str:
    """A string that Telegraf fills from its environment on purpose: "${NAME}" for a plain upper-case NAME."""
    raw = text(value, FORMAT)
    if not _VARIABLE_NAME.fullmatch(raw):
        refuse("Telegraf TOML", f"{raw!r} is not an environment variable name such as MADASH_PACKAGE")
    return string("${" + raw + "}")


def integer(value: object) -> str:
    """A TOML integer from a Python int (never a bool, which is an int to Python)."""
    if not isinstance(value, int) or isinstance(value, bool):
        refuse("TOML", f"{value!r} is not an integer")
    return str(value)


def telegraf(value: object) -> str:
    return string(telegraf_safe(value))


def telegraf_key(value: object) -> str:
    # Keys too: before 1.38 Telegraf substitutes on the raw text, quoted keys included.
    return key(telegraf_safe(value))


def telegraf_array(values: Iterable[object]) -> str:
    return "[" + ", ".join(telegraf(v) for v in values) + "]"


def parse(source: str) -> dict[str, Any]:
    """A generated TOML file read back: by tomli where installed (madash[fast]), else tomllib.

    tomllib is tomli's pure-Python code vendored into Python; tomli's own wheels are the same
    parser compiled with mypyc, reading a client's telegraf.conf in a third of the time
    (a fifth of a fleet bake went into this parse).
    """
    try:
        return _loads(source)
    except _TOMLDecodeError as exc:
        raise RenderError(f"generated TOML does not parse: {exc}") from None
