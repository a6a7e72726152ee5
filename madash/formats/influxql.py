"""InfluxQL (InfluxDB 1.x), for the statements madash sends.

Filters: ``influxql_ident`` (a double-quoted identifier) and ``influxql_string``
(a single-quoted string literal). ensure-influxdb runs on the server without madash
and quotes for itself; these are madash's side.

Source: influxdata/influxql scanner.go, ScanString (unchanged since 2015, so what
influxd 1.6 to 1.11 read): quoted identifiers and strings are read by the same
function, which knows the escapes \\n, \\\\, \\" and \\' and fails on any other escape
and on a raw newline. Newlines and other control characters are refused, not
escaped: no name or value madash sends has one.
"""

from __future__ import annotations

from madash.errors import RenderError
from madash.formats._common import check_safe, refuse, text

FORMAT = "InfluxQL"
_ESCAPES = {"n": "\n", "\\": "\\", '"': '"', "'": "'"}


def ident(raw: object) -> str:
    name = check_safe(text(raw, FORMAT), FORMAT)
    if not name:
        refuse(FORMAT, "an identifier is empty")
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def string(raw: object) -> str:
    value = check_safe(text(raw, FORMAT), FORMAT)
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def scan_string(source: str) -> tuple[str, str]:
    """ScanString: the quoted token at the start of source, decoded, and the rest."""
    if not source or source[0] not in "\"'":
        raise RenderError(f"{FORMAT}: no quoted token")
    ending = source[0]
    out: list[str] = []
    pos = 1
    while pos < len(source):
        ch = source[pos]
        if ch == ending:
            return "".join(out), source[pos + 1 :]
        if ch == "\n":
            break
        if ch == "\\":
            following = source[pos + 1 : pos + 2]
            if following not in _ESCAPES:
                raise RenderError(f"{FORMAT}: bad escape \\{following}")
            out.append(_ESCAPES[following])
            pos += 2
            continue
        out.append(ch)
        pos += 1
    raise RenderError(f"{FORMAT}: unterminated quoted token")
