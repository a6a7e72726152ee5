"""apt.conf (apt.conf.d/ files).

Filters: ``aptconf`` (a quoted value), ``aptconf_host`` (the HOST component of an
option name such as Acquire::https::HOST::SslCert) and ``aptconf_comment``.

Source: apt-pkg/contrib/configuration.cc (ReadConfigFile) and strutl.cc
(ParseCWord, ParseQuoteWord), apt 2.6 to 3.1. A value between double quotes is taken
verbatim up to the next double quote: there is no escape at all, so a ``"`` cannot
be represented, while a backslash, "%", "//", "#", "/*", ";" and braces inside the
quotes are plain characters ("//", "#" and "/*" start comments only after an even
number of quotes on the line). Tabs are expanded to spaces before parsing. An option
name is split at "::" and "%XX" in it is decoded, so a host with "%" would name
another option.
"""

from __future__ import annotations

import ipaddress
import re

from madash.errors import RenderError
from madash.formats._common import check_absent, check_safe, refuse, text
from madash.formats._common import comment as _comment

FORMAT = "apt.conf"
_LABEL = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)"
DNS_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_STATEMENT = re.compile(r'([^\s"{};%]+)\s+"([^"]*)"\s*;')


def string(raw: object) -> str:
    checked = check_safe(text(raw, FORMAT), FORMAT)
    check_absent(checked, '"', FORMAT, "apt.conf has no escape for a double quote")
    return f'"{checked}"'


def host(raw: object) -> str:
    """A DNS name or an IP address as apt's URI parser gives it (IPv6 without brackets;
    apt splits "2001:db8::1" at "::" when it writes the option and when it looks it up,
    alike). Scope ids are refused: their "%" would be decoded in the option name."""
    name = text(raw, FORMAT)
    if DNS_NAME.fullmatch(name) and len(name) <= 253:
        return name
    try:
        ipaddress.ip_address(name)
    except ValueError:
        refuse(FORMAT, "a host is neither a DNS name nor an IP address")
    if "%" in name:
        refuse(FORMAT, "a host holds an IPv6 scope id, whose '%' apt would decode in the option name")
    return name


def comment(raw: object) -> str:
    return _comment(raw, FORMAT)


def _strip_comments(line: str, in_comment: bool) -> tuple[str, bool]:
    """One line without its comments, as ReadConfigFile strips them."""
    if in_comment:
        end = line.find("*/")
        if end < 0:
            return "", True
        line = line[end + 2 :]
    for marker in ("//", "#"):
        start = 0
        while (start := line.find(marker, start)) >= 0:
            if line.count('"', 0, start) % 2:
                start += 1
                continue
            if marker == "#" and line.startswith(("#clear", "#include", "#x-apt-configure-index"), start):
                raise RenderError(f"{FORMAT}: a directive ({line[start:].split()[0]}) where madash writes none")
            line = line[:start]
            break
    fragment = ""
    while (start := line.find("/*")) >= 0 and not line.count('"', 0, start) % 2:
        fragment += line[:start]
        end = line.find("*/", start + 2)
        if end < 0:
            return fragment, True
        line = line[end + 2 :]
    return fragment + line, False


def parse(source: str) -> dict[str, str]:
    """The ``Name "value";`` statements madash writes, one a line, by name; anything else
    (blocks, unquoted values, repeats) is refused rather than guessed at. ``Name:: "value";``
    appends to the list Name, as apt-config dump writes lists: its items come back as
    Name::0, Name::1, ... in order."""
    options: dict[str, str] = {}
    appended: dict[str, int] = {}
    in_comment = False
    for number, raw in enumerate(source.split("\n"), 1):
        check_safe(raw.replace("\t", " "), FORMAT)
        line, in_comment = _strip_comments(raw.replace("\t", " " * 8).strip(), in_comment)
        line = line.strip()
        if not line:
            continue
        statement = _STATEMENT.fullmatch(line)
        if not statement:
            raise RenderError(f"{FORMAT} line {number}: not a single 'Name \"value\";' statement")
        name, value = statement.groups()
        if name.endswith("::"):
            index = appended.get(name.lower(), 0)
            appended[name.lower()] = index + 1
            name = f"{name}{index}"
        if name.lower() in (n.lower() for n in options):
            raise RenderError(f"{FORMAT} line {number}: {name} is set twice")
        options[name] = value
    if in_comment:
        raise RenderError(f"{FORMAT}: a /* comment is never closed")
    return options
