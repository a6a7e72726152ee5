"""nginx's configuration (madash-server's repository server).

Filters: ``nginx`` (one argument, double-quoted) and ``nginx_comment``. The reader
follows ngx_conf_read_token() in nginx 1.22 (src/core/ngx_conf_file.c): arguments
are split at spaces, tabs, CR and LF; ``;`` ends a directive and ``{`` opens a block
wherever an unquoted argument may end; ``}`` closes one only where an argument may
start; ``#`` starts a comment only there too; ``\\`` takes the next character
literally; then, in every argument, ``\\"``, ``\\'`` and ``\\\\`` stand for the character and
``\\t``, ``\\r``, ``\\n`` for the control character; a closing quote must be followed by
a space, ``;``, ``{`` or ``)``.

Inside quotes nginx still expands ``$name`` and ``${name}`` in every argument that
takes variables, and has no escape for ``$``: the filter refuses it, as it refuses
what no generated file may hold. ``"`` and ``\\`` are escaped with a backslash.
"""

from __future__ import annotations

from dataclasses import dataclass

from madash.errors import RenderError
from madash.formats._common import check_absent, check_safe, text
from madash.formats._common import comment as _comment

FORMAT = "nginx"
_SPACE = " \t\r\n"
_UNESCAPE = {'"': '"', "'": "'", "\\": "\\", "t": "\t", "r": "\r", "n": "\n"}


def value(raw: object) -> str:
    checked = check_safe(text(raw, FORMAT), FORMAT)
    check_absent(checked, "$", FORMAT, "nginx expands variables even inside quotes and cannot escape '$'")
    return '"' + checked.replace("\\", "\\\\").replace('"', '\\"') + '"'


def comment(raw: object) -> str:
    return _comment(raw, FORMAT)


@dataclass(frozen=True)
class Directive:
    name: str
    args: tuple[str, ...]
    block: tuple[Directive, ...] | None  # None: ended by ';'
    line: int


class _Tokens:
    """The words of a configuration, each with whether it was quoted, and the ';', '{', '}' between them."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.pos = 0
        self.line = 1

    def _fail(self, message: str) -> RenderError:
        return RenderError(f"nginx configuration, line {self.line}: {message}")

    def _advance(self) -> str:
        ch = self.source[self.pos]
        self.pos += 1
        if ch == "\n":
            self.line += 1
        return ch

    def next(self) -> tuple[str, str] | None:
        """('word', text), ('punct', ';' '{' '}'), or None at the end."""
        source = self.source
        while self.pos < len(source):
            ch = source[self.pos]
            if ch in _SPACE:
                self._advance()
            elif ch == "#":
                while self.pos < len(source) and source[self.pos] != "\n":
                    self.pos += 1
            elif ch in ";{}":
                self._advance()
                return ("punct", ch)
            elif ch in "\"'":
                return ("word", self._quoted(self._advance()))
            else:
                return ("word", self._bare())
        return None

    def _quoted(self, quote: str) -> str:
        out: list[str] = []
        while True:
            if self.pos >= len(self.source):
                raise self._fail("a quoted argument is not closed")
            ch = self._advance()
            if ch == "\\" and self.pos < len(self.source):
                following = self._advance()
                out.append(_UNESCAPE.get(following, "\\" + following))
            elif ch == quote:
                if self.pos < len(self.source) and self.source[self.pos] not in _SPACE + ";{)":
                    raise self._fail(f"unexpected {self.source[self.pos]!r} after a closing quote")
                return "".join(out)
            else:
                out.append(ch)

    def _bare(self) -> str:
        out: list[str] = []
        variable = False
        while self.pos < len(self.source):
            ch = self.source[self.pos]
            if ch in _SPACE or ch == ";" or (ch == "{" and not variable):
                break
            self._advance()
            variable = ch == "$"
            if ch == "\\" and self.pos < len(self.source):
                following = self._advance()
                out.append(_UNESCAPE.get(following, "\\" + following))
            else:
                out.append(ch)
        return "".join(out)


def parse(source: str) -> tuple[Directive, ...]:
    """The directives of a configuration, blocks nested, as nginx 1.22 reads them."""
    tokens = _Tokens(source)

    def block(inner: bool) -> tuple[Directive, ...]:
        directives: list[Directive] = []
        words: list[str] = []
        start = tokens.line
        while True:
            token = tokens.next()
            if token is None:
                if words or inner:
                    raise tokens._fail("unexpected end of file")
                return tuple(directives)
            kind, word = token
            if kind == "word":
                if not words:
                    start = tokens.line
                words.append(word)
            elif word == "}":
                if words or not inner:
                    raise tokens._fail("unexpected '}'")
                return tuple(directives)
            elif not words:
                raise tokens._fail(f"unexpected {word!r}")
            else:
                nested = block(True) if word == "{" else None
                directives.append(Directive(words[0], tuple(words[1:]), nested, start))
                words = []

    return block(False)
