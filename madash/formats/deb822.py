"""deb822: control files, apt sources and Release files, copyright and changelog lines.

The one deb822 module of madash. Filters: ``deb822`` (text within one line of a
field), ``deb822_word`` and ``deb822_words`` (whitespace-separated lists: URIs,
suites, architectures, checksums), ``deb822_field`` (a field name) and
``deb822_comment``. ``fold``/``unfold`` convert multi-line text (a description) to
and from its continuation lines; ``format_paragraph`` and ``parse_paragraphs`` write
and read whole paragraphs.

python-debian's reader splits lines with str.splitlines (so U+2028 or NEL end a
line) and silently drops a line it cannot place; dpkg and apt split on newlines only.
The filters keep to what all of them read alike, and parse_paragraphs, stricter
than either, refuses what they would read differently.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

from madash.formats._common import (
    check_safe,
    check_spaceless,
    check_unpadded,
    refuse,
    text,
)
from madash.formats._common import comment as _comment

FORMAT = "deb822"
# deb822(5): US-ASCII without controls, space and colon, not starting with '#' or '-'.
FIELD_NAME = re.compile(r"[!-9;-~]+")


def value(raw: object) -> str:
    """Text for one line of a field, inserted as is: refused, never stripped, if a reader
    would not give it back (a line break, or whitespace at either end, which readers strip
    from a field's first line)."""
    return check_unpadded(check_safe(text(raw, FORMAT), FORMAT), FORMAT)


def word(raw: object) -> str:
    """One item of a whitespace-separated list: a URI, a suite, a path, a digest."""
    checked = check_spaceless(check_safe(text(raw, FORMAT), FORMAT), FORMAT)
    if not checked:
        refuse(FORMAT, "an empty word vanishes from a whitespace-separated list")
    return checked


def words(raws: Iterable[object]) -> str:
    return " ".join(word(r) for r in raws)


def field_name(raw: object) -> str:
    name = text(raw, FORMAT)
    if not FIELD_NAME.fullmatch(name) or name[0] in "#-":
        refuse(FORMAT, "a field name must be printable ASCII without space or ':', not starting with '#' or '-'")
    return name


def comment(raw: object) -> str:
    return _comment(raw, FORMAT)


def fold(logical: str) -> str:
    """Multi-line text as a field value: continuation lines start with a space, an empty
    line becomes " .". A line starting with "." is refused: " ." means an empty line in a
    description and policy reserves the other " .xxx" lines."""
    first, *rest = _check_lines(logical).split("\n")
    lines = [value(first) if first else ""]
    for line in rest:
        if not line:
            lines.append(" .")
            continue
        if line.startswith("."):
            refuse(FORMAT, "a continuation line starts with '.', which a description reserves")
        if line != line.rstrip():
            refuse(FORMAT, "a continuation line ends with whitespace")
        lines.append(" " + line)
    return "\n".join(lines)


def unfold(stored: str) -> str:
    """The inverse of fold: a field value as read back, as the text it was folded from."""
    first, *rest = stored.split("\n")
    return "\n".join([first, *("" if line == " ." else line[1:] for line in rest)])


def _check_lines(logical: str) -> str:
    for line in logical.split("\n"):
        check_safe(line, FORMAT)
    return logical


def _check_stored(name: str, stored: str) -> None:
    first, *rest = stored.split("\n")
    value(first)
    if not first and not rest:
        refuse(FORMAT, f"field {name} is empty, which dpkg refuses")
    for line in rest:
        check_safe(line, FORMAT)
        if not line[:1].isspace() or not line.strip():
            refuse(FORMAT, f"field {name} has a continuation line that does not start with a space and hold text")
        if line != line.rstrip():
            refuse(FORMAT, f"field {name} has a continuation line ending with whitespace")


def format_paragraph(fields: Mapping[str, str], order: Sequence[str] = ()) -> str:
    """One paragraph: the fields named in ``order`` first, in that order, then the others
    sorted, so the same fields always give the same bytes.

    Values are given as deb822 stores them (and parse_paragraphs returns them): a
    multi-line value's continuation lines already start with a space (see fold).
    Field names are case-insensitive, so two that differ only in case are refused.
    """
    seen: dict[str, str] = {}
    for name in fields:
        field_name(name)
        if name.lower() in seen:
            refuse(FORMAT, f"fields {seen[name.lower()]} and {name} are the same field")
        seen[name.lower()] = name
    wanted = list(dict.fromkeys(o.lower() for o in order))  # a name given twice is still one field
    names = [n for o in wanted for n in fields if n.lower() == o]
    names += sorted(n for n in fields if n.lower() not in wanted)
    lines = []
    for name in names:
        stored = fields[name]
        _check_stored(name, stored)
        lines.append(f"{name}: {stored}\n" if not stored.startswith("\n") else f"{name}:{stored}\n")
    return "".join(lines)


def parse_paragraphs(source: str, *, comments: bool = False) -> list[dict[str, str]]:
    """Paragraphs as python-debian's Deb822 gives them, or RenderError where a reader
    could see something else: a line that is neither a field nor a continuation, a
    whitespace-only line, a repeated field, a character some reader splits lines at.

    ``comments`` allows "#" lines, which apt's sources files have and control files do not.
    """
    paragraphs: list[dict[str, str]] = []
    current: dict[str, str] = {}
    lowered: set[str] = set()  # current's names, case-folded: a repeat in any case is refused
    last = ""
    lines = source.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    # Printable ASCII between the newlines holds nothing unsafe: one check for the whole text
    # (a publish parses a thousand control paragraphs), else one per line, which says where.
    safe = source.isascii() and source.replace("\n", "").isprintable()
    for number, line in enumerate(lines, 1):
        where = f"line {number}"
        if not safe:
            check_safe(line, FORMAT)
        if not line:
            if current:
                paragraphs.append(current)
            current, lowered, last = {}, set(), ""
            continue
        if comments and line.startswith("#"):
            continue
        if line[0].isspace():
            if not last or not line.strip():
                refuse(FORMAT, f"{where}: a continuation line without a field, or holding only whitespace")
            current[last] += "\n" + line
            continue
        name, colon, rest = line.partition(":")
        if not colon:
            refuse(FORMAT, f"{where}: neither a field nor a continuation line")
        field_name(name)
        if name.lower() in lowered:
            refuse(FORMAT, f"{where}: field {name} appears twice in a paragraph")
        lowered.add(name.lower())
        current[name] = rest.strip()
        last = name
    if current:
        paragraphs.append(current)
    return paragraphs
