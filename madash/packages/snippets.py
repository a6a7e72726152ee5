"""The site's extra Telegraf snippets: snippets/*.conf for every host, snippets/HOST/*.conf for one.

They come from the admin's hands and go to hosts, so each is read as hostile: a
regular file inside the site (never a symlink out of it, a FIFO or a device), of
bounded size, valid TOML, and free of the site's secrets.
"""

from __future__ import annotations

import errno
import os
import stat
import tomllib
from dataclasses import dataclass
from pathlib import Path

from madash.errors import SiteError
from madash.site.config import Site

# A snippet is a few lines of Telegraf configuration; anything larger is a mistake.
SNIPPET_MAX_BYTES = 64 * 1024


@dataclass(frozen=True)
class Snippet:
    name: str  # file name inside the package's telegraf.d (HostPaths.snippets)
    data: bytes


def _snippet_files(directory: Path) -> list[Path]:
    """The *.conf files of a snippet directory that is a real directory inside the site."""
    try:
        info = directory.lstat()
    except FileNotFoundError:
        return []
    if stat.S_ISLNK(info.st_mode):
        raise SiteError(f"{directory} is a symbolic link", hint="snippets/ must be a directory inside the site")
    if not stat.S_ISDIR(info.st_mode):
        return []
    return sorted(directory.glob("*.conf"))


def _read_snippet(path: Path) -> bytes:
    """A regular file of bounded size: never a symlink out of the site, a FIFO that hangs, or a device."""
    try:
        # O_NOFOLLOW refuses a symlink, O_NONBLOCK keeps a FIFO from hanging the open; fstat decides.
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise SiteError(
                f"{path} is a symbolic link", hint="snippets must be regular files inside the site"
            ) from None
        raise SiteError(f"cannot read {path}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise SiteError(f"{path} is not a regular file", hint="snippets must be regular files inside the site")
        if info.st_size > SNIPPET_MAX_BYTES:
            raise SiteError(f"{path} is larger than {SNIPPET_MAX_BYTES // 1024} KiB")
        return handle.read(SNIPPET_MAX_BYTES + 1)


def read_snippets(site: Site, host: str, secrets: tuple[str, ...] = ()) -> tuple[Snippet, ...]:
    """The site's extra Telegraf snippets for every host and for this one, checked before packaging.

    Each must be TOML, and none may carry one of the site's secrets: snippets are
    readable by Telegraf on the host, which holds only the writer's password.
    """
    found: list[Snippet] = []
    for prefix, directory in (("site", site.paths.snippets), ("host", site.paths.host_snippets(host))):
        for path in _snippet_files(directory):
            data = _read_snippet(path)
            try:
                text = data.decode("utf-8")
                tomllib.loads(text)
            except UnicodeDecodeError:
                raise SiteError(f"{path}: not UTF-8 text") from None
            except tomllib.TOMLDecodeError as exc:
                raise SiteError(f"{path}: {exc}", hint="fix the snippet, or move it out of snippets/") from None
            if any(secret in text for secret in secrets) or "PRIVATE KEY" in text:
                raise SiteError(
                    f"{path} holds one of the site's secrets", hint="snippets go to hosts: never put a password in one"
                )
            found.append(Snippet(f"{prefix}-{path.name}", data))
    return tuple(found)
