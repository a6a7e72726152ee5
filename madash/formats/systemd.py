"""systemd unit files and drop-ins.

Filters: ``systemd`` (a setting's whole value or a part of it, such as
EnvironmentFile=), ``systemd_exec`` (the executable of ExecStart= and friends),
``systemd_arg`` (one of their arguments) and ``systemd_comment``; ``credential`` (not
a filter: the bytes of a LoadCredential= file).

Sources (systemd's own code): conf-parser.c strips each line, skips "#"/";" lines,
and joins a line ending in an odd number of backslashes with the next (the backslash
becoming a space); unit settings expand "%" specifiers, so a literal "%" is "%%".
For command lines, load-fragment.c's config_parse_exec() splits words with
extract_first_word(EXTRACT_UNQUOTE|EXTRACT_CUNESCAPE): quotes may appear anywhere in
a word, backslash escapes are C escapes inside and outside quotes, and an unquoted
lone ";" separates commands; prefixes "-@:+!" on the executable change how it runs;
at exec time "$NAME" as a word and "${NAME}" anywhere are environment variables and
"$$" is a literal "$".
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from madash.errors import RenderError
from madash.formats._common import check_absent, check_safe, check_unpadded, refuse, text
from madash.formats._common import comment as _comment

FORMAT = "systemd"
# Words that need no quoting; "%" and "$" are doubled even in these.
_BARE = re.compile(r"[A-Za-z0-9_@+=:,./%$-]+")
_PREFIXES = "-@:+!"
# extract_first_word()'s separators and conf-parser's strip set.
_WHITESPACE = " \t\n\r"
_C_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
              "\\": "\\", '"': '"', "'": "'", "s": " "}  # fmt: skip
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$\$")
_WORD_VARIABLE = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


def value(raw: object) -> str:
    """A setting's value, verbatim. Refused rather than escaped: "%" (whether "%%" is
    decoded depends on the setting), whitespace at either end (stripped), a trailing
    backslash (continues the line), and a leading "-" (EnvironmentFile=-PATH and others
    take it to mean "ignore if missing")."""
    checked = check_unpadded(check_safe(text(raw, FORMAT), FORMAT), FORMAT)
    check_absent(checked, "%", FORMAT, "units expand % specifiers")
    if checked.endswith("\\"):
        refuse(FORMAT, "a value ends with a backslash, which continues the line")
    if checked.startswith("-"):
        refuse(FORMAT, "a value starts with '-', which several settings take for 'ignore errors'")
    return checked


def arg(raw: object) -> str:
    """One argument of a command line: bare when it can be, else double-quoted with C
    escapes for backslash and quote; "%" and "$" doubled either way."""
    checked = check_safe(text(raw, FORMAT), FORMAT)
    doubled = checked.replace("%", "%%").replace("$", "$$")
    if _BARE.fullmatch(checked) and checked != ";":
        return doubled
    return '"' + doubled.replace("\\", "\\\\").replace('"', '\\"') + '"'


def executable(raw: object) -> str:
    """The executable: an absolute path systemd accepts (string_is_safe: no quotes or
    backslash) whose first character cannot be read as a prefix."""
    checked = check_safe(text(raw, FORMAT), FORMAT)
    if not checked.startswith("/"):
        refuse(FORMAT, "an executable is not an absolute path (a leading -@:+! would change how it runs)")
    check_absent(checked, "\\\"'$" + _WHITESPACE, FORMAT, "systemd refuses or splits such an executable path")
    return checked.replace("%", "%%")


def comment(raw: object) -> str:
    return _comment(raw, FORMAT)


def credential(raw: object) -> bytes:
    """A credential file for LoadCredential=: the secret's bytes exactly, as the service reads
    them (no newline is stripped), so a control character can only be a mistake."""
    checked = check_safe(text(raw, FORMAT), FORMAT)
    if "\n" in checked or "\t" in checked:
        refuse(FORMAT, "a credential holds a control character")
    return checked.encode()


def parse(source: str) -> dict[str, list[tuple[str, str]]]:
    """Each section's (key, value) assignments in order, as systemd's config_parse()
    reads them: comment lines skipped even inside a continuation, continued lines joined."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    continuation: str | None = None
    for number, line in enumerate(source.split("\n"), 1):
        check_safe(line, f"{FORMAT} line {number}")
        stripped = line.strip(_WHITESPACE)
        if stripped[:1] in ("#", ";"):
            continue
        joined = line if continuation is None else continuation + line
        backslashes = len(joined) - len(joined.rstrip("\\"))
        if backslashes % 2:
            continuation = joined[:-1] + " "
            continue
        continuation = None
        logical = joined.strip(_WHITESPACE)
        if not logical:
            continue
        if logical.startswith("["):
            if not logical.endswith("]"):
                raise RenderError(f"{FORMAT} line {number}: invalid section header")
            current = sections.setdefault(logical[1:-1], [])
            continue
        key, equals, rest = logical.partition("=")
        if not equals or current is None:
            raise RenderError(f"{FORMAT} line {number}: not an assignment inside a section")
        current.append((key.strip(_WHITESPACE), rest.strip(_WHITESPACE)))
    if continuation is not None:
        raise RenderError(f"{FORMAT}: the last line ends with a backslash")
    return sections


def _unescape(source: str, start: int) -> tuple[str, int]:
    ch = source[start]
    if ch in _C_ESCAPES:
        return _C_ESCAPES[ch], start + 1
    digits = {"x": 2, "u": 4, "U": 8}.get(ch)
    if digits:
        hexdigits = source[start + 1 : start + 1 + digits]
        if len(hexdigits) == digits and all(c in "0123456789abcdefABCDEF" for c in hexdigits):
            return chr(int(hexdigits, 16)), start + 1 + digits
    if ch in "01234567":
        octal = source[start : start + 3]
        if len(octal) == 3 and all(c in "01234567" for c in octal):
            return chr(int(octal, 8)), start + 3
    raise RenderError(f"{FORMAT}: unknown escape \\{ch} in a command line")


def split_words(command: str) -> list[str]:
    """The words of one command line, unquoted and unescaped, with "%%" decoded (other
    specifiers are refused: madash writes none). "$" references are left for
    expand(), which systemd does at exec time."""
    words: list[str] = []
    pos = 0
    while True:
        while pos < len(command) and command[pos] in _WHITESPACE:
            pos += 1
        if pos == len(command):
            return words
        if command[pos] == ";" and (pos + 1 == len(command) or command[pos + 1] in _WHITESPACE):
            raise RenderError(f"{FORMAT}: a lone ';' starts a second command")
        word: list[str] = []
        quote = ""
        while pos < len(command):
            ch = command[pos]
            if ch == "\\":
                if pos + 1 == len(command):
                    raise RenderError(f"{FORMAT}: a command line ends with a backslash")
                unescaped, pos = _unescape(command, pos + 1)
                word.append(unescaped)
                continue
            if quote:
                if ch == quote:
                    quote = ""
                else:
                    word.append(ch)
            elif ch in "'\"":
                quote = ch
            elif ch in _WHITESPACE:
                break
            else:
                word.append(ch)
            pos += 1
        if quote:
            raise RenderError(f"{FORMAT}: unbalanced quoting in a command line")
        words.append(_specifiers("".join(word)))


def _specifiers(word: str) -> str:
    out = []
    pos = 0
    while pos < len(word):
        if word[pos] == "%":
            if word[pos + 1 : pos + 2] != "%":
                raise RenderError(f"{FORMAT}: specifier %{word[pos + 1 : pos + 2]} in a command line")
            out.append("%")
            pos += 2
        else:
            out.append(word[pos])
            pos += 1
    return "".join(out)


def expand(words: list[str], environment: Mapping[str, str]) -> list[str]:
    """Environment substitution as at exec time: a word "$NAME" becomes the variable's
    whitespace-separated words, "${NAME}" its exact value, "$$" a "$"."""
    out: list[str] = []
    for word in words:
        whole = _WORD_VARIABLE.fullmatch(word)
        if whole:
            out += environment.get(whole.group(1), "").split()
            continue
        out.append(_VARIABLE.sub(lambda m: "$" if m.group(0) == "$$" else environment.get(m.group(1), ""), word))
    return out


def command(value_: str, environment: Mapping[str, str] | None = None) -> list[str]:
    """argv of an ExecStart= value: the executable (prefixes stripped) then its arguments."""
    words = split_words(value_)
    if not words:
        raise RenderError(f"{FORMAT}: an empty command line")
    first = words[0].lstrip(_PREFIXES)
    return [first, *expand(words[1:], environment or {})]
