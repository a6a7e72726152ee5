"""What every format filter shares: the characters no generated file may hold, and refusing."""

from __future__ import annotations

import unicodedata
from pathlib import PurePath
from typing import NoReturn

from madash.errors import RenderError

# Names for the characters that have none in unicodedata: an error must say what it found.
_CONTROL_NAMES = {
    0x00: "NUL", 0x09: "TAB", 0x0A: "LINE FEED", 0x0B: "VERTICAL TAB", 0x0C: "FORM FEED",
    0x0D: "CARRIAGE RETURN", 0x1B: "ESCAPE", 0x7F: "DELETE", 0x85: "NEXT LINE",
}  # fmt: skip


def describe(ch: str) -> str:
    """U+000A (LINE FEED): how errors name a character without showing the value it came from."""
    code = ord(ch)
    name = _CONTROL_NAMES.get(code) or unicodedata.name(ch, "")
    return f"U+{code:04X} ({name})" if name else f"U+{code:04X}"


def is_unsafe(ch: str) -> bool:
    """A character that some reader of some format takes for a line break or cannot read at all.

    Control characters (C0, DEL, C1: NEL is a line break to YAML 1.1 and to Python's
    splitlines, which python-debian uses), the Unicode line and paragraph separators
    (line breaks to YAML 1.1 and splitlines), lone surrogates (not encodable as UTF-8),
    the byte order mark and the noncharacters (systemd refuses them in environment
    files; YAML does not count U+FFFE/U+FFFF as printable).
    """
    if unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp"):
        return True
    code = ord(ch)
    return code == 0xFEFF or 0xFDD0 <= code <= 0xFDEF or (code & 0xFFFE) == 0xFFFE


def refuse(fmt: str, reason: str) -> NoReturn:
    raise RenderError(f"{fmt}: {reason}; the site model should have refused it")


def text(value: object, fmt: str) -> str:
    """The text of a value a template inserts: strings, paths and integers only.

    A bool would render as "True" and None as "None", valid-looking text that means
    something else in every format: refusing them finds the template bug at once.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    refuse(fmt, f"cannot insert a value of type {type(value).__name__}")


def check_safe(value: str, fmt: str) -> str:
    if value.isascii() and value.isprintable():
        return value  # U+0020..U+007E only, none of them unsafe: the common case, without a loop per character
    for offset, ch in enumerate(value):
        if is_unsafe(ch):
            refuse(fmt, f"a value holds {describe(ch)} at offset {offset}, which no generated file may hold")
    return value


def check_absent(value: str, chars: str, fmt: str, why: str) -> str:
    if not any(ch in value for ch in chars):
        return value  # a search per refused character, not a loop per character of the value
    for offset, ch in enumerate(value):
        if ch in chars:
            refuse(fmt, f"a value holds {ch!r} at offset {offset} ({why})")
    return value


def check_unpadded(value: str, fmt: str) -> str:
    """Refuse leading or trailing whitespace, which the format's reader strips."""
    if value != value.strip():
        refuse(fmt, "a value starts or ends with whitespace, which the reader strips")
    return value


def check_spaceless(value: str, fmt: str) -> str:
    if value.isascii() and value.isprintable() and " " not in value:
        return value  # printable ASCII holds no whitespace but the space: no loop per character (Release hashes)
    for offset, ch in enumerate(value):
        if ch.isspace():
            refuse(fmt, f"a value holds whitespace ({describe(ch)}) at offset {offset} where one word is expected")
    return value


def comment(value: object, fmt: str) -> str:
    """Text inside a comment line: one line, and no trailing backslash.

    A newline would end the comment and start a line of the reader's choosing. A
    trailing backslash continues the comment onto the next line for systemd < 254's
    environment files (Debian 12 has 252), swallowing the template's next line; no
    format madash writes needs one, so every comment filter refuses it.
    """
    checked = check_safe(text(value, fmt), fmt)
    if checked.endswith("\\"):
        refuse(fmt, "a comment ends with a backslash, which continues it onto the next line for some readers")
    return checked
