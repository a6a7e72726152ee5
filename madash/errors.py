"""One error hierarchy: every failure the user can act on is a MadashError.

The CLI prints ``madash-build: error: <message>`` and, when there is one, a hint
line; it exits with ``exit_code``. Anything that is not a MadashError is a bug
and gets a traceback (with --debug) or a short "internal error" line.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence


class MadashError(Exception):
    """An operational error: the command could not do its job (exit 1)."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(MadashError):
    """Bad input from the user: arguments, names, madash.toml (exit 2)."""

    exit_code = 2


class SiteError(UsageError):
    """The site directory or madash.toml is missing, malformed or inconsistent."""


class PKIError(MadashError):
    """The site's certificates, keys, CRL or index cannot be used as asked."""


class RenderError(MadashError):
    """A value a format cannot represent reached its filter, or generated text does not read back (exit 1).

    The site model refuses such values before anything is rendered, so this is a bug in
    madash's validation, not the user's doing: it stops the command rather than writing a
    file whose meaning differs from what madash intended. Messages name the offending
    character, never the value, which may be a password.
    """


class ToolError(MadashError):
    """An external program failed or is missing."""

    def __init__(
        self,
        message: str,
        *,
        command: Sequence[str] = (),
        stderr_tail: str = "",
        hint: str | None = None,
    ) -> None:
        detail = f"{message}: {stderr_tail}" if stderr_tail else message
        super().__init__(detail, hint)
        self.command = tuple(command)
        self.stderr_tail = stderr_tail

    def shell_command(self) -> str:
        """The command as one could paste it into a shell (madash never puts a secret on one)."""
        return shlex.join(self.command)
