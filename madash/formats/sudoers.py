"""sudoers (sudoers.d/ drop-ins), as sudo 1.9.13 (Debian 12) reads them.

Filters: ``sudoers`` (one command argument) and ``sudoers_comment``.

Source: plugins/sudoers/toke.l and match_command.c. In a command's arguments a
backslash makes ``\\ , : = #`` and blanks literal (the backslash is dropped) and
keeps ``\\* \\? \\[ \\] \\! \\^`` verbatim, so that the glob match treats them as
literal characters (and a first argument starting with "^" is not a regular
expression); an unescaped ``#``, ``,``, ``:`` or ``=`` ends the command. sudo keeps the
arguments as one string joined by spaces and matches the user's arguments, also
joined by spaces, against it with fnmatch(3): an escaped space is indistinguishable
from the boundary between two arguments, so a value with whitespace is refused
rather than escaped. ``""`` as the whole argument list means "no arguments", so a
double quote is refused too.
"""

from __future__ import annotations

from madash.errors import RenderError
from madash.formats._common import check_absent, check_safe, check_spaceless, refuse, text
from madash.formats._common import comment as _comment

FORMAT = "sudoers"
_STRIPPED = "\\,:=#"
_GLOB = "*?[]!^"


def arg(raw: object) -> str:
    """One argument, written so that the pattern sudo stores matches exactly this text.

    sudo matches arguments with fnmatch(3), where a backslash escapes the next
    character: a literal backslash must be stored as two, each written escaped in
    sudoers (four in all); glob characters are stored escaped (toke.l keeps "\\*" as
    is); "," ":" "=" "#" are written escaped and stored plain.
    """
    checked = check_spaceless(check_safe(text(raw, FORMAT), FORMAT), FORMAT)
    check_absent(checked, '"', FORMAT, '"" is sudoers\' spelling of "no arguments"')
    if not checked:
        refuse(FORMAT, "an empty argument cannot be written in sudoers")
    out = []
    for ch in checked:
        if ch == "\\":
            out.append("\\\\\\\\")
        elif ch in _STRIPPED + _GLOB:
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


def comment(raw: object) -> str:
    # A comment is "#" and what follows up to the newline (a trailing backslash does not
    # continue it); "#include" and "#123" (a uid) are not comments, so templates write "# ".
    return _comment(raw, FORMAT)


def logical_lines(source: str) -> list[str]:
    """Lines with comments dropped and backslash-newline continuations joined."""
    lines: list[str] = []
    pending = ""
    for raw in source.split("\n"):
        check_safe(raw.replace("\t", " "), FORMAT)
        stripped = raw.strip()
        if stripped.startswith(("#include", "@include")):
            raise RenderError(f"{FORMAT}: an include where madash writes none")
        if not pending and (not stripped or (stripped.startswith("#") and not stripped[1:2].isdigit())):
            continue
        if (len(stripped) - len(stripped.rstrip("\\"))) % 2:
            pending += stripped[:-1] + " "
            continue
        lines.append(pending + stripped)
        pending = ""
    if pending:
        raise RenderError(f"{FORMAT}: the last line ends with a backslash")
    return lines


def command_args(spec: str) -> tuple[str, str]:
    """A command with arguments as sudo stores it: (path, arguments joined by spaces),
    the escapes of toke.l's GOTCMND state undone (glob escapes kept, as sudo keeps them)."""
    path, _, rest = spec.strip().partition(" ")
    args: list[str] = []
    current: list[str] = []
    pos = 0
    while pos < len(rest):
        ch = rest[pos]
        if ch == "\\" and pos + 1 < len(rest):
            following = rest[pos + 1]
            if following in _STRIPPED + " ":
                current.append(following)
            elif following in _GLOB:
                current.append(ch + following)
            else:
                raise RenderError(f"{FORMAT}: \\{following} is no escape sudoers knows")
            pos += 2
            continue
        if ch in "#,:=":
            raise RenderError(f"{FORMAT}: an unescaped {ch!r} ends the command early")
        if ch in " \t":
            if current:
                args.append("".join(current))
                current = []
        else:
            current.append(ch)
        pos += 1
    if current:
        args.append("".join(current))
    return path, " ".join(args)


def literal(pattern: str) -> str:
    """What a pattern of escaped glob characters matches: the text without its escapes."""
    out: list[str] = []
    pos = 0
    while pos < len(pattern):
        if pattern[pos] == "\\" and pos + 1 < len(pattern):
            pos += 1
        out.append(pattern[pos])
        pos += 1
    return "".join(out)
