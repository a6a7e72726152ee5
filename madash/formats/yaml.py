"""YAML: the compose file and Grafana's provisioning files.

Filters: ``yaml`` (a double-quoted scalar), ``compose`` (the same with ``$`` doubled,
for docker compose's interpolation), ``grafana`` (refuses ``$``, which Grafana
expands in provisioning files) and ``yaml_comment``.
"""

from __future__ import annotations

from typing import Any

from madash.errors import RenderError
from madash.formats._common import comment as _comment
from madash.formats._common import is_unsafe, refuse, text

FORMAT = "YAML"


def scalar(value: object) -> str:
    """A double-quoted scalar that YAML 1.1 (PyYAML, docker-compose 1.29) and YAML 1.2
    (go-yaml, docker compose v2) both decode back to ``value``.

    Only ``\\\\``, ``\\"`` and ``\\uXXXX``/``\\UXXXXXXXX`` are used, the escapes both
    share with JSON. Everything either parser would not take raw inside the quotes
    is escaped: C0, DEL and C1 controls (NEL is a line break to YAML 1.1), U+2028
    and U+2029 (line breaks to YAML 1.1), the byte order mark and the noncharacters
    (not printable to go-yaml); tabs too, so a scalar never depends on whitespace.
    """
    raw = text(value, FORMAT)
    out = []
    for ch in raw:
        code = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif 0xD800 <= code < 0xE000:
            refuse(FORMAT, "a value holds a lone surrogate, which UTF-8 cannot encode")
        elif is_unsafe(ch):
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def compose(value: object) -> str:
    """A scalar of the compose file: docker compose interpolates ``$`` in values
    (``$NAME``, ``${NAME}``, with ``$$`` for a literal ``$``, in compose-go and in
    docker-compose 1.29 alike) after YAML parsing, so every ``$`` is doubled and a
    user string can never name a variable."""
    return scalar(text(value, FORMAT).replace("$", "$$"))


def grafana(value: object) -> str:
    """A scalar of a Grafana provisioning file, where Grafana expands ``$NAME`` and
    ``${NAME}`` from its environment (the reader and admin passwords). Its documented
    ``$$`` escape has changed wording between releases and its source is too large to
    check here, so a ``$`` is refused instead of escaped: madash puts none there."""
    raw = text(value, FORMAT)
    if "$" in raw:
        refuse("Grafana YAML", f"a value holds '$' at offset {raw.index('$')}, which Grafana would expand")
    return scalar(raw)


def comment(value: object) -> str:
    return _comment(value, FORMAT)


def parse(source: str) -> Any:
    import yaml as pyyaml  # only the server's bake reads YAML back: not every command's start

    try:
        return pyyaml.safe_load(source)
    except pyyaml.YAMLError as exc:
        raise RenderError(f"generated YAML does not parse: {exc}") from None
