"""Lintian overrides (/usr/share/lintian/overrides/PACKAGE).

Filters: ``lintian_package`` (the package an override is for) and ``lintian_comment``.
An override line is ``[PACKAGE[ ARCH][ TYPE]: ]TAG[ CONTEXT]``; the only value madash
inserts is the package name, which Debian policy (5.6.1) restricts to
``[a-z0-9][a-z0-9+.-]+``, so anything else is refused.
"""

from __future__ import annotations

import re

from madash.errors import RenderError
from madash.formats._common import check_safe, refuse, text
from madash.formats._common import comment as _comment

FORMAT = "lintian overrides"
PACKAGE = re.compile(r"[a-z0-9][a-z0-9+.-]+")
_LINE = re.compile(r"([a-z0-9][a-z0-9+.-]+): ([a-z0-9][a-z0-9+.-]*)(?: (.+))?")


def package(raw: object) -> str:
    name = text(raw, FORMAT)
    if not PACKAGE.fullmatch(name):
        refuse(FORMAT, "a package name must match [a-z0-9][a-z0-9+.-]+ (Debian policy 5.6.1)")
    return name


def comment(raw: object) -> str:
    return _comment(raw, FORMAT)


def parse(source: str) -> list[tuple[str, str, str]]:
    """(package, tag, context) of each override; comments and blank lines skipped."""
    overrides: list[tuple[str, str, str]] = []
    for number, line in enumerate(source.split("\n"), 1):
        check_safe(line, FORMAT)
        if not line.strip() or line.startswith("#"):
            continue
        match = _LINE.fullmatch(line)
        if not match:
            raise RenderError(f"{FORMAT} line {number}: not 'PACKAGE: TAG [CONTEXT]'")
        overrides.append((match.group(1), match.group(2), match.group(3) or ""))
    return overrides
