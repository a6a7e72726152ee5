"""POSIX sh: maintainer scripts and the compose wrapper.

Filters: ``shell`` (one word, quoted as shlex.quote does) and ``shell_comment``.
A single-quoted word holds any byte but NUL verbatim in POSIX sh, so only NUL (and
text UTF-8 cannot encode) is refused; a word made only of characters sh never
treats specially stays bare, so existing scripts keep their bytes.
"""

from __future__ import annotations

import shlex

from madash.formats._common import check_absent, refuse, text
from madash.formats._common import comment as _comment

FORMAT = "shell"


def quote(raw: object) -> str:
    word = check_absent(text(raw, FORMAT), "\0", FORMAT, "a shell word cannot hold NUL")
    # ASCII holds no surrogate: no loop per character for the common word (48 a package).
    if not word.isascii() and any(0xD800 <= ord(ch) < 0xE000 for ch in word):
        refuse(FORMAT, "a value holds a lone surrogate, which UTF-8 cannot encode")
    return shlex.quote(word)


def comment(raw: object) -> str:
    return _comment(raw, FORMAT)


def split(source: str) -> list[str]:
    """The words of a command line as sh would split them (without expansions)."""
    return shlex.split(source, posix=True)
