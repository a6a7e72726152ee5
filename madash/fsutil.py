"""Atomic writes, the site lock and the scratch space: how madash changes files.

Nothing madash writes may be seen half-written: every file goes to a temporary
file in the same directory (same file system, so rename is atomic), gets its
mode before any content lands, is fsynced, then renamed over the target.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from madash import modes
from madash.errors import MadashError

LOCK_NAME = ".madash.lock"
WORK_NAME = ".madash-work"
log = logging.getLogger(__name__)


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


_LIBC = ctypes.CDLL(None, use_errno=True)


def sync_filesystem(path: Path) -> None:
    """Flush the file system holding path (syncfs(2)): only that one, not every disk as sync(2) would."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if _LIBC.syncfs(fd) != 0:
            error = ctypes.get_errno()
            raise OSError(error, os.strerror(error))
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes, mode: int = modes.FILE, *, sync: bool = True) -> None:
    """Write data to path atomically with the given mode, whatever the umask.

    sync=False leaves the fsync to the caller, who writes many files and then syncs once.
    """
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
            if sync:
                os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except OSError as exc:
        _remove_quietly(Path(tmp_name))
        raise describe_os_error(exc, path) from exc
    except BaseException:
        _remove_quietly(Path(tmp_name))
        raise


def write_new(path: Path | str, data: bytes, mode: int, *, dir_fd: int | None = None, exact: bool = False) -> None:
    """A new file (it must not exist) with mode before any content lands, unsynced.

    For files inside a directory nobody reads until it is complete and synced (a pending
    PKI change, a suite's generation): a temporary name and a rename per file would add
    nothing there. ``exact``: the caller knows the umask leaves ``mode`` as it is.
    """
    out = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode, dir_fd=dir_fd)
    try:
        if not exact:
            os.fchmod(out, mode)
        view = memoryview(data)
        while view:
            view = view[os.write(out, view) :]
    finally:
        os.close(out)


def make_dir(path: Path, mode: int = modes.DIR) -> None:
    """Create path (and parents) if missing, and give it exactly ``mode``."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        os.chmod(path, mode)
    except OSError as exc:
        raise describe_os_error(exc, path) from exc


def _remove_quietly(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


# The lock is a POSIX record lock (fcntl), not flock: record locks belong to the
# process and are not inherited by fork, so worker processes of `client --all`
# never hold the site lock, and a killed parent releases it at once. They are
# released by closing any descriptor of the file, so each process opens it once
# and counts nested holds itself.
_held: dict[Path, tuple[int, int]] = {}  # lock path → (fd, depth), for this process only
_held_pid = os.getpid()


@contextmanager
def site_lock(site_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on the site for the duration of a change (re-entrant in one process)."""
    global _held_pid
    if _held_pid != os.getpid():  # a forked child: its parent's holds are not its own
        _held.clear()
        _held_pid = os.getpid()
    lock_path = site_dir / LOCK_NAME
    if lock_path in _held:
        fd, depth = _held[lock_path]
        _held[lock_path] = (fd, depth + 1)
        try:
            yield
        finally:
            fd, depth = _held[lock_path]
            _held[lock_path] = (fd, depth - 1)
        return
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, modes.SECRET)
    except OSError as exc:
        raise describe_os_error(exc, lock_path) from exc
    try:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EACCES, errno.EAGAIN):
                raise
            log.warning("waiting for another madash-build that is changing %s", site_dir)
            fcntl.lockf(fd, fcntl.LOCK_EX)
        _held[lock_path] = (fd, 1)
        _clean_work(site_dir)
        for recover in _recoveries:
            recover(site_dir)
        yield
    finally:
        _held.pop(lock_path, None)
        os.close(fd)


# What a killed command leaves where it writes under the lock: atomic_write's temporary
# files, check_dist's probe, init's staging directory.
_TEMP_RE = re.compile(r"\..+\.[a-z0-9_]{8}\.tmp|\.probe-[a-z0-9_]{8}|\.init-[a-z0-9_]{8}")
_TEMP_DIRS = (".", "pki", "pki/clients", "dist")
_recoveries: list[Callable[[Path], None]] = []


def after_lock(recover: Callable[[Path], None]) -> Callable[[Path], None]:
    """Register a function that completes or undoes what a killed command left half-done,
    run by every process that takes the site lock (e.g. the PKI's pending files)."""
    if recover not in _recoveries:
        _recoveries.append(recover)
    return recover


def _clean_work(site_dir: Path) -> None:
    """Scratch and temporary files left by a killed command: nobody else can be using them while we hold the lock."""
    work = site_dir / WORK_NAME
    if work.is_dir() and not work.is_symlink():
        for entry in work.iterdir():
            if entry.name.startswith("pid-") and not _alive(entry.name.removeprefix("pid-")):
                shutil.rmtree(entry, ignore_errors=True)
    for name in _TEMP_DIRS:
        directory = site_dir / name
        if not directory.is_dir() or directory.is_symlink():
            continue
        for item in os.scandir(directory):
            if not _TEMP_RE.fullmatch(item.name):
                continue
            if item.is_dir(follow_symlinks=False):
                shutil.rmtree(item.path, ignore_errors=True)
            else:
                _remove_quietly(Path(item.path))


def _alive(pid_text: str) -> bool:
    try:
        os.kill(int(pid_text), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def work_dir(site_dir: Path) -> Path:
    """This process's scratch space inside the site (0700): package trees hold private keys,
    and a killed command must not leave them anywhere outside the site. Stale ones are
    removed by the next command that takes the site lock."""
    work = site_dir / WORK_NAME
    mine = work / f"pid-{os.getpid()}"
    try:
        work.mkdir(mode=modes.PRIVATE_DIR, exist_ok=True)
        os.chmod(work, modes.PRIVATE_DIR)
        mine.mkdir(mode=modes.PRIVATE_DIR, exist_ok=True)
    except OSError as exc:
        raise describe_os_error(exc, work) from exc
    return mine
