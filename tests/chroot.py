"""Real dpkg and apt inside a throwaway Debian 12 chroot, for the integration tests.

``scripts/make-chroot`` keeps a bookworm tarball made by mmdebstrap in a cache;
each ``Chroot`` unpacks a fresh copy of it, so tests never see each other's
packages. Get the fixtures (``chroot``, ``chroot_tarball``) with
``pytest_plugins = ["tests.chroot"]`` in tests/conftest.py or a test module;
``from tests.chroot import chroot, chroot_tarball`` in a conftest works too.

How a command is run, and why:

- Each ``run`` is ``unshare --mount --pid --fork --kill-child``: /proc and /sys
  are mounted in a private mount namespace that dies with the command, so no
  mount can outlive a test, even one killed half-way.
- The new PID namespace's PID 1 is a shell *outside* the chroot. systemd's
  tools detect a chroot by comparing /proc/1/root with /; on these machines
  the host's PID 1 is not readable (EACCES), so without our own PID 1 systemctl
  assumed "not in a chroot" and failed with "System has not been booted with
  systemd". With it, systemctl says "Running in chroot, ignoring command" and
  exits 0, as it does in any chroot on a systemd host. When that shell exits,
  the kernel kills everything left in the namespace: a daemon that a
  maintainer script started by mistake cannot outlive ``run``.
- /usr/sbin/policy-rc.d exits 101, so deb-systemd-invoke and invoke-rc.d
  refuse to start or restart services, as on any build chroot.
- /dev is the set of static device nodes that mmdebstrap puts in the tarball
  (null, zero, random, urandom, tty, ptmx, ...) plus a private devpts
  instance, which apt needs for the pty it logs dpkg's output through.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import stat as stat_module
import subprocess
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import pytest

__all__ = [
    "CHURN_FILES",
    "CHURN_PREFIXES",
    "MAKE_CHROOT",
    "Chroot",
    "ChrootCommandError",
    "FileStat",
    "chroot",
    "chroot_tarball",
    "default_parent",
    "mount_points",
    "remove_stale",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
MAKE_CHROOT = REPO_ROOT / "scripts" / "make-chroot"

# Trees whose contents change for reasons that have nothing to do with the
# package under test (dpkg's and apt's own state, logs, caches, kernel file
# systems). Everything else must be back as it was after a purge.
CHURN_PREFIXES: tuple[str, ...] = (
    "/dev",
    "/proc",
    "/run",
    "/sys",
    "/tmp",
    "/var/backups",
    "/var/cache",
    "/var/lib/apt",
    "/var/lib/dpkg",
    "/var/log",
    "/var/tmp",
)
# Backups that useradd/groupadd write on their first change, and the linker
# cache that libc's trigger rewrites: owned by no package.
CHURN_FILES: frozenset[str] = frozenset(
    {
        "/etc/group-",
        "/etc/gshadow-",
        "/etc/ld.so.cache",
        "/etc/passwd-",
        "/etc/shadow-",
        "/etc/subgid-",
        "/etc/subuid-",
    }
)

# A clean environment: the host's (a virtualenv's PATH, the CI's variables)
# must not leak into maintainer scripts.
_ENV: dict[str, str] = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
    "HOME": "/root",
    "DEBIAN_FRONTEND": "noninteractive",
}

# Runs as PID 1 of the new PID namespace, on the host's side of the chroot (see
# the module docstring). The chroot is not the last command, so that the shell
# cannot replace itself with it.
_ENTER = """
root=$1
shift
mount -t proc -o nosuid,nodev,noexec proc "$root/proc" || exit 125
mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$root/sys" || exit 125
mount -t devpts -o newinstance,gid=5,mode=620,ptmxmode=666 devpts "$root/dev/pts" || exit 125
chroot "$root" "$@"
status=$?
exit "$status"
"""

_POLICY_RC_D = """#!/bin/sh
# Written by madash's tests: no service may start inside the test chroot.
exit 101
"""

_PREFIX = "madash-chroot-"
_TAIL_LINES = 40
_MAX_SYMLINKS = 40


def _tail(text: str | None) -> str:
    lines = (text or "").rstrip().splitlines()
    return "\n".join(lines[-_TAIL_LINES:])


class ChrootCommandError(subprocess.CalledProcessError):
    """A command in the chroot failed; the message carries its output, for pytest's report."""

    def __str__(self) -> str:
        return (
            f"{super().__str__()}\n"
            f"--- stdout (tail) ---\n{_tail(self.stdout)}\n"
            f"--- stderr (tail) ---\n{_tail(self.stderr)}"
        )


@dataclass(frozen=True)
class FileStat:
    """What ``stat`` says of a path, with owner and group named as the chroot names them."""

    mode: int  # permission bits only, e.g. 0o640
    owner: str
    group: str
    uid: int
    gid: int
    kind: str  # "file", "dir", "symlink" or "other"
    size: int


def default_parent() -> Path:
    """Where chroots are unpacked: a tmpfs when there is one.

    Unpacking the ~240 MB tarball took 7.8 s on these machines' ext4 disk and
    0.4-1.1 s on /dev/shm. MADASH_CHROOT_TMP overrides the choice.
    """
    override = os.environ.get("MADASH_CHROOT_TMP")
    if override:
        return Path(override)
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK | os.X_OK):
        return shm
    return Path(tempfile.gettempdir())


def mount_points() -> list[str]:
    points = []
    with open("/proc/self/mountinfo", encoding="utf-8") as mountinfo:
        for line in mountinfo:
            # Field 5 is the mount point, with spaces and the like octal-escaped.
            raw = line.split()[4]
            points.append(re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), raw))
    return points


def _id_names(table: Path) -> dict[int, str]:
    names: dict[int, str] = {}
    for line in table.read_text(encoding="utf-8").splitlines():
        fields = line.split(":")
        if len(fields) >= 3 and fields[2].isdigit():
            names.setdefault(int(fields[2]), fields[0])
    return names


class Chroot:
    """A fresh Debian 12 root unpacked from the cached tarball; ``close`` removes it."""

    def __init__(self, tarball: Path, *, parent: Path | None = None) -> None:
        # The creator's pid in the name lets remove_stale() tell abandoned copies.
        prefix = f"{_PREFIX}{os.getpid()}-"
        self.root = Path(tempfile.mkdtemp(prefix=prefix, dir=parent or default_parent()))
        self._closed = False
        try:
            subprocess.run(
                [
                    "tar",
                    "--extract",
                    f"--file={tarball}",
                    f"--directory={self.root}",
                    # The chroot's own uids and gids, not the host's names for them.
                    "--numeric-owner",
                    # File capabilities live in xattrs.
                    "--xattrs",
                    "--xattrs-include=*",
                ],
                check=True,
                capture_output=True,
                text=True,
            )
            # mkdtemp made the root 0700; apt's _apt user must be able to walk it.
            self.root.chmod(0o755)
            policy = self.root / "usr/sbin/policy-rc.d"
            policy.write_text(_POLICY_RC_D, encoding="utf-8")
            policy.chmod(0o755)
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> Chroot:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def run(
        self,
        argv: Sequence[str],
        check: bool = True,
        input: str | None = None,  # noqa: A002 - mirrors subprocess.run
        *,
        env: Mapping[str, str] | None = None,
        timeout: float = 600,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` inside the chroot as root, with a clean environment.

        Raises ChrootCommandError (a CalledProcessError) on a non-zero exit
        when ``check`` is true. Standard input is empty unless ``input`` is given.
        """
        if self._closed:
            raise RuntimeError("this chroot is closed")
        command = [
            "unshare",
            "--mount",
            "--pid",
            "--fork",
            "--kill-child",
            "--",
            "/bin/sh",
            "-c",
            _ENTER,
            "madash-enter-chroot",
            str(self.root),
            *argv,
        ]
        result = subprocess.run(
            command,
            input=input,
            stdin=subprocess.DEVNULL if input is None else None,
            capture_output=True,
            encoding="utf-8",
            errors="replace",
            env={**_ENV, **(env or {})},
            timeout=timeout,
            check=False,
        )
        completed = subprocess.CompletedProcess(list(argv), result.returncode, result.stdout, result.stderr)
        if check and completed.returncode != 0:
            raise ChrootCommandError(completed.returncode, list(argv), completed.stdout, completed.stderr)
        return completed

    def host_path(self, path: str, *, follow_symlinks: bool = True) -> Path:
        """The host's path for the chroot's absolute ``path``.

        Symlinks are resolved as the chroot sees them: an absolute target
        starts again at the chroot's root, and ``..`` never climbs out of it.
        The last component is left unresolved when ``follow_symlinks`` is false.
        """
        if not path.startswith("/"):
            raise ValueError(f"not an absolute path: {path!r}")
        pending = [part for part in path.split("/") if part]
        resolved: list[str] = []
        links = 0
        while pending:
            part = pending.pop(0)
            if part == ".":
                continue
            if part == "..":
                if resolved:
                    resolved.pop()
                continue
            candidate = self.root.joinpath(*resolved, part)
            if (pending or follow_symlinks) and candidate.is_symlink():
                links += 1
                if links > _MAX_SYMLINKS:
                    raise OSError(errno.ELOOP, "too many levels of symbolic links", path)
                target = os.readlink(candidate)
                if target.startswith("/"):
                    resolved = []
                pending = [p for p in target.split("/") if p] + pending
                continue
            resolved.append(part)
        return self.root.joinpath(*resolved)

    def copy_in(self, path: Path | str, dest: str | None = None) -> str:
        """Copy a host file or directory into the chroot (by default into /tmp).

        Returns the in-chroot path. Modes are set to 0644 for files and 0755
        for directories, whatever the source's, so that apt's unprivileged
        _apt user can read a repository copied in this way.
        """
        source = Path(path)
        target = dest or f"/tmp/{source.name}"
        host = self.host_path(target)
        if source.is_dir():
            shutil.copytree(source, host, symlinks=True)
            host.chmod(0o755)
            for directory, dirnames, filenames in os.walk(host):
                for name in dirnames:
                    os.chmod(os.path.join(directory, name), 0o755)
                for name in filenames:
                    os.chmod(os.path.join(directory, name), 0o644)
        else:
            shutil.copyfile(source, host)
            host.chmod(0o644)
        return target

    def exists(self, path: str, *, follow_symlinks: bool = True) -> bool:
        host = self.host_path(path, follow_symlinks=follow_symlinks)
        return host.exists() if follow_symlinks else os.path.lexists(host)

    def read_text(self, path: str) -> str:
        return self.host_path(path).read_text(encoding="utf-8")

    def write_text(self, path: str, text: str, mode: int = 0o644) -> None:
        """Write a root-owned file inside the chroot, for tests that set up a situation."""
        host = self.host_path(path)
        host.write_text(text, encoding="utf-8")
        host.chmod(mode)

    def stat(self, path: str, *, follow_symlinks: bool = True) -> FileStat:
        result = os.lstat(self.host_path(path, follow_symlinks=follow_symlinks))
        users = _id_names(self.root / "etc/passwd")
        groups = _id_names(self.root / "etc/group")
        if stat_module.S_ISREG(result.st_mode):
            kind = "file"
        elif stat_module.S_ISDIR(result.st_mode):
            kind = "dir"
        elif stat_module.S_ISLNK(result.st_mode):
            kind = "symlink"
        else:
            kind = "other"
        return FileStat(
            mode=stat_module.S_IMODE(result.st_mode),
            owner=users.get(result.st_uid, str(result.st_uid)),
            group=groups.get(result.st_gid, str(result.st_gid)),
            uid=result.st_uid,
            gid=result.st_gid,
            kind=kind,
            size=result.st_size,
        )

    def file_list(self, exclude: Iterable[str] = ()) -> set[str]:
        """Every path in the chroot (files, directories, symlinks), as the chroot names them.

        Leaves out CHURN_PREFIXES, CHURN_FILES and the prefixes in ``exclude``,
        so that "purge leaves nothing behind" is a plain set comparison.
        Symlinks are not followed, so paths are physical: with Debian 12's
        merged /usr, a package's /lib/systemd/system/x.service is listed as
        /usr/lib/systemd/system/x.service (``exists`` resolves either).
        """
        prefixes = (*CHURN_PREFIXES, *exclude)

        def excluded(name: str) -> bool:
            return name in CHURN_FILES or any(name == p or name.startswith(p + "/") for p in prefixes)

        found: set[str] = set()
        for directory, dirnames, filenames in os.walk(self.root):
            relative = "/" + os.path.relpath(directory, self.root)
            base = "" if relative == "/." else relative
            kept = []
            for name in dirnames:
                full = f"{base}/{name}"
                if not excluded(full):
                    found.add(full)
                    kept.append(name)
            # Pruned in place so that os.walk does not descend into excluded trees.
            dirnames[:] = kept
            found.update(f"{base}/{name}" for name in filenames if not excluded(f"{base}/{name}"))
        return found

    def close(self) -> None:
        """Remove the chroot. Refuses to delete anything while a mount is left under it."""
        if self._closed:
            return
        self._closed = True
        prefix = str(self.root) + "/"
        mounted = [point for point in mount_points() if point.startswith(prefix)]
        if mounted:
            # run() mounts only inside its own namespace, so this is a test's own
            # mount; rmtree across a bind of /dev would wipe the host's.
            subprocess.run(["umount", "--recursive", "--lazy", *mounted], check=False)
            still = [point for point in mount_points() if point.startswith(prefix)]
            if still:
                raise RuntimeError(f"not removing {self.root}: still mounted: {still}")
        shutil.rmtree(self.root, ignore_errors=False)


def remove_stale(parent: Path | None = None, prefix: str = _PREFIX) -> list[Path]:
    """Remove chroots (or, with tests/boot.py's ``prefix``, machines) left by test runs killed before ``close``.

    On tmpfs each one holds ~240 MB of memory until reboot. A copy counts as
    abandoned when the process named in it is gone and nothing is mounted
    under it; copies of live runs (parallel workers) are left alone.
    """
    removed = []
    directory = parent or default_parent()
    mounts = mount_points()
    stale = re.compile(re.escape(prefix) + r"(\d+)-")
    for entry in sorted(directory.glob(prefix + "*")):
        match = stale.match(entry.name)
        if match is None or not entry.is_dir() or entry.is_symlink():
            continue
        try:
            os.kill(int(match.group(1)), 0)
            continue  # its creator still runs
        except ProcessLookupError:
            pass
        except PermissionError:
            continue  # alive, someone else's
        if any(point == str(entry) or point.startswith(f"{entry}/") for point in mounts):
            continue
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry)
    return removed


def _missing_requirements() -> str | None:
    if os.geteuid() != 0:
        return "chroot tests need root"
    for tool in ("mmdebstrap", "unshare", "chroot", "tar"):
        if shutil.which(tool) is None:
            return f"chroot tests need {tool}"
    return None


@pytest.fixture(scope="session")
def chroot_tarball() -> Path:
    """The cached bookworm tarball, made by scripts/make-chroot on first use."""
    missing = _missing_requirements()
    if missing is not None:
        # Real-tool tests are never skipped: scripts/test installs what they need and runs as root.
        pytest.fail(f"{missing}: run the suite with scripts/test")
    remove_stale()
    made = subprocess.run([str(MAKE_CHROOT)], capture_output=True, text=True, timeout=1800, check=False)
    if made.returncode != 0:
        pytest.fail(f"scripts/make-chroot failed ({made.returncode}):\n{_tail(made.stderr)}")
    return Path(made.stdout.strip().splitlines()[-1])


@pytest.fixture
def chroot(chroot_tarball: Path) -> Iterator[Chroot]:
    """A fresh chroot for one test, removed afterwards whether the test passed or not."""
    with Chroot(chroot_tarball) as fresh:
        yield fresh
