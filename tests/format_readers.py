"""Ports of the readers madash's files meet where no cheap real program exists here.

Each port follows one function of the real program's source, named in its docstring,
closely enough to be checked against it line by line; the tests use them as oracles
beside the real programs that do run here (tomllib, PyYAML, python-debian, dash,
visudo/cvtsudoers, apt-config, docker-compose 1.29).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from typing import Any

# --- Telegraf -------------------------------------------------------------------------------

# compose-go v1.20.2 template/template.go: the default pattern (with "$$" as an escape) ...
DEFAULT_PATTERN = re.compile(
    r"\$(?i:(?P<escaped>\$)|(?P<named>[_a-z][_a-z0-9]*)|{(?:(?P<braced>[_a-z][_a-z0-9]*(?::?[-+?](.*))?)}|(?P<invalid>)))"
)
# ... and Telegraf's config.go oldVarRe, used with --old-env-behavior (no escape at all).
OLD_PATTERN = re.compile(
    r"\$(?i:(?P<named>[_a-z][_a-z0-9]*)|{(?:(?P<braced>[_a-z][_a-z0-9]*(?::?[-+?](.*))?)}|(?P<invalid>)))"
)


def remove_comments(source: str) -> str:
    """Telegraf config/envvar.go removeComments() (identical in v1.32.3 and v1.39.3)."""
    out: list[str] = []
    pos = 0
    n = len(source)

    def take_until_quote(quote: str, triple: bool) -> None:
        nonlocal pos
        width = 3 if triple else 1
        out.append(source[pos : pos + width])
        pos += width
        while pos < n:
            ch = source[pos]
            if ch == "\\" and quote == '"':
                out.append(source[pos : pos + 2])
                pos += 2
                continue
            if triple and source.startswith(quote * 3, pos):
                out.append(quote * 3)
                pos += 3
                return
            out.append(ch)
            pos += 1
            if not triple and ch in (quote, "\n"):
                return

    while pos < n:
        ch = source[pos]
        if ch == "\\":
            out.append(source[pos : pos + 2])
            pos += 2
        elif ch in "'\"":
            take_until_quote(ch, source.startswith(ch * 3, pos))
        elif ch == "#":
            end = source.find("\n", pos)
            if end < 0:
                return "".join(out)
            out.append("\n")
            pos = end + 1
        else:
            out.append(ch)
            pos += 1
    return "".join(out)


def substitute(text: str, environment: Mapping[str, str], pattern: re.Pattern[str]) -> tuple[str, int]:
    """compose-go SubstituteWithOptions with Telegraf's replacement function: an unset
    variable or an invalid template is kept as written. Returns the text and how many
    variables were expanded (modifiers such as ${A:-b} count as an expansion of A)."""
    expanded = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal expanded
        groups = match.groupdict()
        if groups.get("escaped"):
            return "$"
        name = groups.get("named") or groups.get("braced")
        if not name:
            return match.group(0)
        name = re.match(r"[_A-Za-z][_A-Za-z0-9]*", name).group(0)  # type: ignore[union-attr]
        if name not in environment:
            return match.group(0)
        expanded += 1
        return environment[name]

    return pattern.sub(replace, text), expanded


def _walk_strings(node: Any, environment: Mapping[str, str], pattern: re.Pattern[str]) -> tuple[Any, int]:
    if isinstance(node, str):
        return substitute(node, environment, pattern)
    if isinstance(node, dict):
        total = 0
        result = {}
        for key, value in node.items():
            result[key], count = _walk_strings(value, environment, pattern)
            total += count
        return result, total
    if isinstance(node, list):
        items = [_walk_strings(item, environment, pattern) for item in node]
        return [item for item, _ in items], sum(count for _, count in items)
    return node, 0


def telegraf_load(source: str, environment: Mapping[str, str], *, strict: bool, old: bool) -> tuple[Any, int]:
    """Telegraf parseConfig(): comments removed, then either the raw text substituted and
    parsed (before 1.38, and --non-strict-env-handling) or parsed and each string value
    substituted (1.38+ default, substituteEnvironmentStrict). Returns (config, expansions)."""
    pattern = OLD_PATTERN if old else DEFAULT_PATTERN
    trimmed = remove_comments(source)
    if strict:
        return _walk_strings(tomllib.loads(trimmed), environment, pattern)
    text, count = substitute(trimmed, environment, pattern)
    return tomllib.loads(text), count


TELEGRAF_MODES = [
    {"strict": False, "old": False},  # <= 1.37 default, or --non-strict-env-handling
    {"strict": False, "old": True},  # the same with --old-env-behavior
    {"strict": True, "old": False},  # >= 1.38 default
    {"strict": True, "old": True},  # >= 1.38 with --old-env-behavior
]


# --- systemd's EnvironmentFile= ------------------------------------------------------------


def systemd_env_file(source: str, *, comment_escape_continues: bool) -> dict[str, str]:
    """systemd src/basic/env-file.c parse_env_file_internal(). ``comment_escape_continues``
    is the behaviour before v254 (Debian 12 has 252): a comment ending in a backslash
    swallows the next line."""
    whitespace, newline = " \t\n\r", "\n\r"
    need_escape = '"\\`$'
    values: dict[str, str] = {}
    state = "PRE_KEY"
    key: list[str] = []
    value: list[str] = []
    last_value_ws: int | None = None
    last_key_ws: int | None = None

    def push() -> None:
        k = "".join(key if last_key_ws is None else key[:last_key_ws])
        values[k] = "".join(value)

    for c in source:
        if state == "PRE_KEY":
            if c in "#;":
                state = "COMMENT"
            elif c not in whitespace:
                state, key, last_key_ws = "KEY", [c], None
        elif state == "KEY":
            if c in newline:
                state, key = "PRE_KEY", []
            elif c == "=":
                state, value, last_value_ws = "PRE_VALUE", [], None
            else:
                if c not in whitespace:
                    last_key_ws = None
                elif last_key_ws is None:
                    last_key_ws = len(key)
                key.append(c)
        elif state == "PRE_VALUE":
            if c in newline:
                push()
                state, key = "PRE_KEY", []
            elif c == "'":
                state = "SINGLE"
            elif c == '"':
                state = "DOUBLE"
            elif c == "\\":
                state = "VALUE_ESCAPE"
            elif c not in whitespace:
                state = "VALUE"
                value.append(c)
        elif state == "VALUE":
            if c in newline:
                if last_value_ws is not None:
                    del value[last_value_ws:]
                push()
                state, key = "PRE_KEY", []
            elif c == "\\":
                state, last_value_ws = "VALUE_ESCAPE", None
            else:
                if c not in whitespace:
                    last_value_ws = None
                elif last_value_ws is None:
                    last_value_ws = len(value)
                value.append(c)
        elif state == "VALUE_ESCAPE":
            state = "VALUE"
            if c not in newline:
                value.append(c)
        elif state == "SINGLE":
            if c == "'":
                state = "PRE_VALUE"
            else:
                value.append(c)
        elif state == "DOUBLE":
            if c == '"':
                state = "PRE_VALUE"
            elif c == "\\":
                state = "DOUBLE_ESCAPE"
            else:
                value.append(c)
        elif state == "DOUBLE_ESCAPE":
            state = "DOUBLE"
            if c in need_escape:
                value.append(c)
            elif c != "\n":
                value += ["\\", c]
        elif state == "COMMENT":
            if c == "\\":
                state = "COMMENT_ESCAPE"
            elif c in newline:
                state = "PRE_KEY"
        elif state == "COMMENT_ESCAPE":
            state = "COMMENT" if comment_escape_continues or c not in newline else "PRE_KEY"
    if state in ("PRE_VALUE", "VALUE", "VALUE_ESCAPE", "SINGLE", "DOUBLE", "DOUBLE_ESCAPE"):
        if state == "VALUE" and last_value_ws is not None:
            del value[last_value_ws:]
        push()
    return values


# --- docker compose ------------------------------------------------------------------------


def compose_dotenv(source: str, environment: Mapping[str, str]) -> dict[str, str]:
    """compose-go v1.20.2 dotenv/parser.go for the lines madash writes: comments, blank
    lines and unquoted KEY=VALUE (value cut at " #", right-trimmed, "$" expanded)."""
    values: dict[str, str] = {}
    for line in source.split("\n"):
        stripped = line.lstrip()
        if not stripped or stripped.startswith("#"):
            continue
        key, _, rest = stripped.partition("=")
        rest = rest.lstrip()
        assert rest[:1] not in ("'", '"'), "quoted values are not what madash writes"
        rest = rest.split(" #", 1)[0].rstrip()
        values[key.strip()] = compose_interpolate(rest, {**environment, **values})
    return values


def compose_interpolate(text: str, environment: Mapping[str, str]) -> str:
    """compose-go's template with the default pattern, as compose applies it to values:
    "$$" is a literal "$", "$NAME" and "${NAME}" are variables (unset: empty)."""

    def replace(match: re.Match[str]) -> str:
        groups = match.groupdict()
        if groups.get("escaped"):
            return "$"
        name = groups.get("named") or groups.get("braced")
        if not name:
            raise ValueError(f"invalid template in {text!r}")
        return environment.get(re.match(r"[_A-Za-z][_A-Za-z0-9]*", name).group(0), "")  # type: ignore[union-attr]

    return DEFAULT_PATTERN.sub(replace, text)
