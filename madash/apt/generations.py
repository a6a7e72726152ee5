"""Generations of a suite: built aside, signed, and swapped in by one rename of dists/SUITE.

Every suite that changed gets a complete new generation in .suites/SUITE/GEN/,
and its dists/SUITE symlink is swapped to it in one rename: a reader never sees
a Release that does not match its Packages. Unchanged suites are not touched.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import shutil
import time
from collections.abc import Mapping
from pathlib import Path

from madash import modes, times
from madash.apt import signing
from madash.apt.indexes import DIGESTS, index_files, release, valid_until
from madash.apt.state import SuiteState
from madash.errors import MadashError
from madash.fsutil import describe_os_error, make_dir, sync_filesystem, write_new
from madash.site.config import Site
from madash.workers import forked_pool

SUITES = ".suites"


# One forked worker per this many suites, at most one per core: a publish forks from twice as many
# (two workers); below that it builds every suite in this process, where a fork would not pay.
FORK_FROM = 64


def build_suites(
    site: Site, key: signing.SigningKey, packages: Mapping[str, bytes], now: dt.datetime, jobs: int | None
) -> dict[str, SuiteState]:
    """New generations of the given suites, built aside, then on disk before any is swapped in.

    What is left per suite is Python (compression, hashes, the Release, two signatures) and
    some thirty system calls, so a large publish shares the suites among forked workers, one
    per core. One sync of the file system at the end replaces an fsync per file (six per
    suite), which made a publish of a thousand suites wait on the disk for seconds; nothing
    is swapped in before it.
    """
    generation = times.generation_stamp(now)
    items = sorted(packages.items())
    workers = min(jobs or os.cpu_count() or 1, len(items) // FORK_FROM)
    exact = _modes_exact()
    try:
        if workers <= 1:
            built = _build_many(site, key, items, generation, now, exact)
        else:
            built = {}
            with forked_pool(workers, _start_worker, (site, key)) as pool:
                chunks = [items[i::workers] for i in range(workers)]
                for future in [pool.submit(_build_in_worker, chunk, generation, now, exact) for chunk in chunks]:
                    built.update(future.result())
        sync_filesystem(site.paths.repo)
        return built
    except BaseException:
        # All or nothing: no half-built generation is left behind for a later publish to trip on.
        for suite, _ in items:
            shutil.rmtree(site.paths.repo / SUITES / suite / generation, ignore_errors=True)
        raise


# Per worker process: the site and the unlocked key, inherited by fork (see build_suites).
_worker: tuple[Site, signing.SigningKey] | None = None


def _start_worker(site: Site, key: signing.SigningKey) -> None:
    global _worker  # set once by the initializer of each worker process
    _worker = (site, key)


def _build_in_worker(
    items: list[tuple[str, bytes]], generation: str, now: dt.datetime, exact: bool
) -> dict[str, SuiteState]:
    if _worker is None:
        raise RuntimeError("worker started without _start_worker")
    site, key = _worker
    return _build_many(site, key, items, generation, now, exact)  # an error reaches the parent pickled, hint and all


def _build_many(
    site: Site, key: signing.SigningKey, items: list[tuple[str, bytes]], generation: str, now: dt.datetime, exact: bool
) -> dict[str, SuiteState]:
    return {suite: build_suite(site, key, suite, text, generation, now, exact) for suite, text in items}


def _modes_exact() -> bool:
    """Whether the umask leaves modes.DIR and modes.FILE as they are, so that no chmod is needed.

    Read (and put back) once, before any worker or thread exists: os.umask is per process.
    """
    mask = os.umask(0o077)
    os.umask(mask)
    return not mask & (modes.DIR | modes.FILE)


def build_suite(
    site: Site,
    key: signing.SigningKey,
    suite: str,
    packages: bytes,
    generation: str,
    now: dt.datetime,
    exact: bool = False,
) -> SuiteState:
    """One suite's generation in .suites/SUITE/GENERATION, every file and directory made
    relative to the generation's descriptor (no path walked twice), with modes.DIR and
    modes.FILE whatever the umask (``exact``: the umask already leaves them so)."""
    conf = site.config.repo
    target = site.paths.repo / SUITES / suite / generation
    try:
        # .suites/SUITE as before (other workers make .suites at the same moment); all below it explicitly.
        with contextlib.suppress(FileExistsError):
            os.makedirs(target.parent)  # no stat first: it exists for every suite published before
        try:
            os.mkdir(target, modes.DIR)
        except FileExistsError:  # left by a killed publish within the same microsecond's name
            shutil.rmtree(target)
            os.mkdir(target, modes.DIR)
        if not exact:
            os.chmod(target, modes.DIR)
        fd = os.open(target, os.O_RDONLY | os.O_DIRECTORY)
        try:
            _fill(site, key, suite, packages, now, fd, exact)
        finally:
            os.close(fd)
        return SuiteState(generation, hashlib.sha256(packages).hexdigest(), conf.architectures, valid_until(conf, now))
    except OSError as exc:
        shutil.rmtree(target, ignore_errors=True)
        raise describe_os_error(exc, target) from exc
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise


_HASHES = ("SHA256", "SHA512")


def _fill(
    site: Site, key: signing.SigningKey, suite: str, packages: bytes, now: dt.datetime, fd: int, exact: bool
) -> None:
    conf = site.config.repo
    files = index_files(packages, conf.architectures)
    # Every architecture's indexes are the same bytes: the first architecture's directory is
    # real, the others are symlinks to it, which saves a dozen directories and links per suite.
    first, *others = conf.architectures
    real = f"main/binary-{first}"
    for directory in ("main", real, f"{real}/by-hash", *(f"{real}/by-hash/{h}" for h in _HASHES)):
        os.mkdir(directory, modes.DIR, dir_fd=fd)
        if not exact:
            os.chmod(directory, modes.DIR, dir_fd=fd)
    for index in files:
        if not index.path.startswith(real + "/"):
            continue
        _write(index.path, index.data, fd, exact)
        # By-hash copies, so that a client holding the previous InRelease still finds its indexes.
        for algorithm in _HASHES:
            os.link(index.path, f"{real}/by-hash/{algorithm}/{index.digests[algorithm]}", src_dir_fd=fd, dst_dir_fd=fd)
    for arch in others:
        os.symlink(f"binary-{first}", f"main/binary-{arch}", dir_fd=fd)
    old = site.paths.repo / "dists" / suite
    _carry_by_hash(old, real, fd, exact)
    release_text = release(site.config.site.name, conf, suite, files, now)
    inrelease, detached = signing.sign_release(key, release_text)
    _write("Release", release_text, fd, exact)
    _write("Release.gpg", detached, fd, exact)
    # InRelease last: it is what apt reads first.
    _write("InRelease", inrelease, fd, exact)
    _newer_than_before(old, fd)


def _newer_than_before(old_suite: Path, fd: int) -> None:
    """Give the new Release files an mtime in a later second than the old ones'.

    Web servers answer If-Modified-Since with one-second Last-Modified times: a publish
    within the second of a client's last fetch would otherwise be answered 304, stale.
    """
    try:
        before = int((old_suite / "InRelease").stat().st_mtime)
    except FileNotFoundError:
        return
    stamp = max(int(time.time()), before + 1)
    for name in ("Release", "Release.gpg", "InRelease"):
        os.utime(name, (stamp, stamp), dir_fd=fd)


def _write(name: str, data: bytes, fd: int, exact: bool) -> None:
    """A new file of a generation, readable by the web server that serves it (indexes and
    signatures hold no secret); build_suites syncs them all to disk at once."""
    write_new(name, data, modes.FILE, dir_fd=fd, exact=exact)


def _carry_by_hash(old_suite: Path, real: str, fd: int, exact: bool) -> None:
    """Keep the previous generation's indexes reachable by hash (one generation back): linked
    from it (the same file system), or copied where a link cannot be made."""
    try:
        directories = sorted(os.listdir(old_suite / "main"))
    except (FileNotFoundError, NotADirectoryError):
        return
    for directory in directories:
        where = old_suite / "main" / directory
        if not directory.startswith("binary-") or where.is_symlink() or not where.is_dir():
            continue  # another architecture's link to the same directory
        for name in sorted(os.listdir(where)):
            if not name.startswith("Packages"):
                continue
            data = (where / name).read_bytes()
            for algorithm, digest in DIGESTS:
                carried = f"{real}/by-hash/{algorithm}/{digest(data).hexdigest()}"
                try:
                    os.link(where / name, carried, dst_dir_fd=fd)
                except FileExistsError:
                    pass  # the same index as the new generation's
                except OSError:
                    _write(carried, data, fd, exact)


def swap_suites(repo_dir: Path, generations: Mapping[str, str]) -> None:
    """Point each dists/SUITE at its new generation in one rename; keep only the previous one besides.

    Each suite is swapped on its own, so a client reading one suite's Release and
    Packages always gets one generation's, and a publish touches only changed suites.
    """
    dists = repo_dir / "dists"
    make_dir(dists)
    for suite, generation in generations.items():
        _swap(repo_dir, dists, suite, generation)


def _swap(repo_dir: Path, dists: Path, suite: str, generation: str) -> None:
    link = dists / suite
    try:
        previous: str | None = os.path.basename(os.readlink(link))
    except FileNotFoundError:
        previous = None
    except OSError:  # EINVAL: there, but not a symlink
        hint = "move it aside; madash keeps dists/SUITE as symlinks"
        raise MadashError(f"{link} is not madash's", hint=hint) from None
    tmp = dists / f".{suite}.new"
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)
    os.symlink(f"../{SUITES}/{suite}/{generation}", tmp)
    os.replace(tmp, link)
    for old in os.listdir(repo_dir / SUITES / suite):
        if old not in (generation, previous):
            shutil.rmtree(repo_dir / SUITES / suite / old, ignore_errors=True)


def drop_suite(repo_dir: Path, suite: str) -> None:
    link = repo_dir / "dists" / suite
    if link.is_symlink():
        link.unlink()
    shutil.rmtree(repo_dir / SUITES / suite, ignore_errors=True)
