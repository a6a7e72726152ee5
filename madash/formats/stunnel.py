"""stunnel 5's configuration (stunnel.conf).

Filters: ``stunnel`` (an option's value), ``stunnel_section`` (a ``[name]``) and
``stunnel_comment``. stunnel has no quoting or escaping at all (options.c,
options_file() in 5.68): each line is stripped of C whitespace, ``#``/``;`` lines are
comments, ``[name]`` starts a service, and anything else is ``option = value`` split
at the first ``=``. So a value is inserted verbatim and refused where stunnel would
read it otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from madash.errors import RenderError
from madash.formats._common import check_absent, check_safe, check_unpadded, refuse, text
from madash.formats._common import comment as _comment

FORMAT = "stunnel"
# file_getline() reads at most CONFLINELEN - 1 bytes (16 KiB - 1) per line and starts a
# new line with the rest, so a long enough value would become a line of its own.
LINE_BYTES = 16 * 1024 - 1
# Far below that, so that a line holding a few values plus its option stays whole.
VALUE_BYTES = 4096
_C_SPACE = b" \t\n\v\f\r"


def value(raw: object) -> str:
    checked = check_unpadded(check_safe(text(raw, FORMAT), FORMAT), FORMAT)
    if len(checked.encode()) > VALUE_BYTES:
        refuse(FORMAT, f"a value is longer than {VALUE_BYTES} bytes; stunnel splits long lines in two")
    return checked


def section(raw: object) -> str:
    name = check_absent(value(raw), "[]", FORMAT, "brackets would end or confuse a section header")
    if not name:
        refuse(FORMAT, "a section name is empty")
    return name


def comment(raw: object) -> str:
    return _comment(raw, FORMAT)


@dataclass(frozen=True)
class Service:
    name: str
    options: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Config:
    """Options before the first section (stunnel's global options), then each service."""

    globals: tuple[tuple[str, str], ...] = ()
    services: tuple[Service, ...] = field(default_factory=tuple)


def _lines(data: bytes) -> list[bytes]:
    """Lines as stunnel's file_getline() yields them: CRs dropped, long lines split."""
    lines: list[bytes] = []
    current = bytearray()
    for byte in data:
        if byte == 0x0A:
            lines.append(bytes(current))
            current.clear()
        elif byte != 0x0D:
            current.append(byte)
            if len(current) == LINE_BYTES:
                lines.append(bytes(current))
                current.clear()
    if current:
        lines.append(bytes(current))
    return lines


def parse(source: str) -> Config:
    """The configuration as stunnel 5.68 reads it: every (option, value) in order."""
    data = source.encode()
    data = data.removeprefix(b"\xef\xbb\xbf")
    globals_: list[tuple[str, str]] = []
    services: list[tuple[str, list[tuple[str, str]]]] = []
    for number, raw in enumerate(_lines(data), 1):
        if b"\0" in raw:
            raise RenderError(f"stunnel configuration, line {number}: a NUL byte ends the line early for stunnel")
        line = raw.strip(_C_SPACE)
        if not line or line[:1] in (b"#", b";"):
            continue
        if line.startswith(b"[") and line.endswith(b"]"):
            services.append((line[1:-1].decode(), []))
            continue
        option, equals, argument = line.partition(b"=")
        if not equals:
            raise RenderError(f"stunnel configuration, line {number}: no '=' found")
        pair = (option.rstrip(_C_SPACE).decode(), argument.lstrip(_C_SPACE).decode())
        (services[-1][1] if services else globals_).append(pair)
    return Config(tuple(globals_), tuple(Service(name, tuple(options)) for name, options in services))
