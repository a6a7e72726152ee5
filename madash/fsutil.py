"""Atomic writes and the site lock.

Nothing madash writes may be seen half-written: every file goes to a temporary
file in the same directory (same file system, so rename is atomic), gets its
mode before any content lands, is fsynced, then renamed over the target.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from madash.errors import MadashError

LOCK_NAME = ".madash.lock"


def describe_os_error(exc: OSError, path: Path) -> MadashError:
    """Turn an OSError into one line the user can act on."""
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return MadashError(
            f"cannot write {path}: {exc.strerror}",
            hint="check that the site directory is writable by you",
        )
    if exc.errno == errno.ENOSPC:
        return MadashError(f"cannot write {path}: no space left on device")
    return MadashError(f"cannot write {path}: {exc.strerror or exc}")


def atomic_write(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write data to path atomically with the given mode, whatever the umask."""
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise describe_os_error(exc, path) from exc
    try:
        # fchmod before writing: a secret never exists with a looser mode.
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except OSError as exc:
        _remove_quietly(Path(tmp_name))
        raise describe_os_error(exc, path) from exc
    except BaseException:
        _remove_quietly(Path(tmp_name))
        raise


def make_dir(path: Path, mode: int = 0o755) -> None:
    """Create path (and parents) if missing, and give it exactly ``mode``."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        os.chmod(path, mode)
    except OSError as exc:
        raise describe_os_error(exc, path) from exc


def _remove_quietly(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


@contextmanager
def site_lock(site_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on the site for the duration of a change.

    flock is released by the kernel when the process dies, so a crashed run
    never leaves the site locked.
    """
    lock_path = site_dir / LOCK_NAME
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise describe_os_error(exc, lock_path) from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
