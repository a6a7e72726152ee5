"""KEY=VALUE environment files: telegraf.env and madash.env.

Filters: ``env`` (a value) and ``env_comment``.

Three readers take the same file: systemd's EnvironmentFile= (env-file.c: shell-like
backslash escapes and quotes, trailing whitespace dropped, no expansion), docker
compose's --env-file (compose-go's dotenv in v2: quotes, "$NAME" expanded, " #"
starts a comment, backslash literal outside quotes; python-dotenv in
docker-compose 1.29: quotes, expansion, comments) and ensure-influxdb's own reader
(split at the first "=", stripped). Their quoting rules disagree, so a value is
written only when none of them needs any: printable ASCII without whitespace,
quotes, backslash, "$", "#" or backtick; generated passwords are URL-safe base64.
"""

from __future__ import annotations

import re

from madash.errors import RenderError
from madash.formats._common import check_safe, refuse, text
from madash.formats._common import comment as _comment

FORMAT = "env file"
VALUE = re.compile(r"[!%&(-\[\]-_a-~]*")
KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def value(raw: object) -> str:
    checked = check_safe(text(raw, FORMAT), FORMAT)
    if not VALUE.fullmatch(checked):
        bad = next(ch for ch in checked if not VALUE.fullmatch(ch))
        refuse(FORMAT, f"a value holds {bad!r}, which the readers of an env file would not agree on")
    return checked


def comment(raw: object) -> str:
    # systemd < 254 continues a comment ending in a backslash onto the next line, which
    # would hide the next assignment (Debian 12 has 252): _comment refuses that.
    return _comment(raw, FORMAT)


def parse(source: str) -> dict[str, str]:
    """The assignments, by key: only the lines madash writes (comments, blank lines and
    KEY=VALUE with a value env() allows); anything else is refused."""
    values: dict[str, str] = {}
    for number, line in enumerate(source.split("\n"), 1):
        check_safe(line, FORMAT)
        if not line or line.startswith("#"):
            continue
        key, equals, rest = line.partition("=")
        if not equals or not KEY.fullmatch(key) or not VALUE.fullmatch(rest):
            raise RenderError(f"{FORMAT} line {number}: not a KEY=VALUE line every reader agrees on")
        if key in values:
            raise RenderError(f"{FORMAT} line {number}: {key} is set twice")
        values[key] = rest
    return values
