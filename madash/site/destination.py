"""Where `repo --push DEST` copies the repository: a local directory or [USER@]HOST:PATH, as rsync takes it.

DEST reaches rsync's argv and, for a remote one, ssh's: anything rsync or ssh would
read as an option, a daemon module or a second argument is refused here, once,
before any program runs. rsync's own rule decides local against remote: a ':'
before the first '/' makes DEST remote.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path

from madash.errors import UsageError
from madash.site.values import control_character

DESTINATION_RULE = "a local directory, or [USER@]HOST:PATH reached with ssh (such as root@monitor:/var/lib/madash/repo)"
# An ssh host: a DNS name, an IPv4 address or an alias of the admin's ssh config; never a leading '-'.
_HOST_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,252}")
_USER_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,63}")
_REMOTE_RE = re.compile(r"(?:([^@/]*)@)?(\[[^]/]*\]|[^:/\[]*):(.*)", re.DOTALL)


@dataclass(frozen=True)
class Destination:
    """A checked DEST: ``target`` is what rsync gets, always ending in '/' (the directory itself)."""

    target: str
    host: str | None  # None: a local directory
    path: str

    @property
    def remote(self) -> bool:
        return self.host is not None


def _refuse(text: str, why: str) -> UsageError:
    return UsageError(f"invalid push destination {text!r}: {why}", hint=f"give {DESTINATION_RULE}")


def _check_host(text: str, host: str) -> str:
    if host.startswith("[") and host.endswith("]"):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise _refuse(text, f"{host} is not an IPv6 address") from None
        return host
    if not _HOST_RE.fullmatch(host):
        raise _refuse(text, "the host is letters, digits, '.', '_' and '-', not starting with '-'")
    return host


def check_destination(text: str, repo: Path) -> Destination:
    """DEST for rsync, or UsageError; a local one must not be the repository or lie inside it (or hold it)."""
    if not text:
        raise _refuse(text, "it is empty")
    char = control_character(text)
    if char is not None:
        raise UsageError(
            f"invalid push destination: it holds the control character U+{ord(char):04X}",
            hint=f"give {DESTINATION_RULE}",
        )
    if text.startswith("-"):
        raise _refuse(text, "it starts with '-', which rsync would take for an option")
    # host::module is an rsync daemon's; an IPv6 address in brackets may hold '::' of its own.
    if text.startswith("rsync://") or "::" in re.sub(r"\[[^]]*\]", "", text.split("/", 1)[0]):
        raise _refuse(text, "rsync daemons are not supported: madash pushes over ssh")
    if ":" in text.split("/", 1)[0]:
        remote = _REMOTE_RE.fullmatch(text)
        if remote is None:
            raise _refuse(text, "it is neither a local directory nor [USER@]HOST:PATH")
        user, host, path = remote.groups()
        if user is not None and not _USER_RE.fullmatch(user):
            raise _refuse(text, "the user is letters, digits, '.', '_' and '-', not starting with '-'")
        _check_host(text, host)
        if not path or path.startswith("-"):
            raise _refuse(text, "give the repository's directory after the ':'")
        return Destination(f"{text.rstrip('/')}/", host, path)
    local = Path(text).resolve()
    here = repo.resolve()
    if local == here or here in local.parents or local in here.parents:
        raise _refuse(text, f"it is {here} itself, inside it or above it: push to another directory")
    return Destination(f"{str(local).rstrip('/')}/", None, str(local))
