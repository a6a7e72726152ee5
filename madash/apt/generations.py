"""Generations of a suite: built aside, signed, and swapped in by one rename of dists/SUITE.

Every suite that changed gets a complete new generation in .suites/SUITE/GEN/,
and its dists/SUITE symlink is swapped to it in one rename: a reader never sees
a Release that does not match its Packages. Unchanged suites are not touched.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from madash import modes, times
from madash.apt import signing
from madash.apt.indexes import index_files, release, valid_until
from madash.apt.state import SuiteState
from madash.errors import MadashError
from madash.fsutil import describe_os_error, make_dir, sync_filesystem
from madash.site.config import Site

SUITES = ".suites"


def build_suites(
    site: Site, key: signing.SigningKey, packages: Mapping[str, bytes], now: dt.datetime, jobs: int | None
) -> dict[str, SuiteState]:
    """New generations of the given suites, built aside, then on disk before any is swapped in.

    Signing is in-process now: what is left per suite is writing some fifty small files and
    links, which threads overlap. One sync of the file system at the end replaces an fsync per
    file (six per suite), which made a publish of a thousand suites wait on the disk for seconds.
    """
    generation = times.generation_stamp(now)
    with ThreadPoolExecutor(jobs or os.cpu_count() or 1) as pool:
        futures = {
            suite: pool.submit(build_suite, site, key, suite, text, generation, now) for suite, text in packages.items()
        }
        try:
            built = {suite: future.result() for suite, future in futures.items()}
            sync_filesystem(site.paths.repo)
            return built
        except BaseException:
            # All or nothing: no half-built generation is left behind for a later publish to trip on.
            for future in futures.values():
                future.cancel()
            pool.shutdown(wait=True)
            for suite in futures:
                shutil.rmtree(site.paths.repo / SUITES / suite / generation, ignore_errors=True)
            raise


def _directory(path: Path, made: set[Path]) -> None:
    """mkdir -p below a generation's parent, modes.DIR on every level (the umask decides nothing)."""
    if path in made:
        return
    _directory(path.parent, made)
    os.mkdir(path)
    os.chmod(path, modes.DIR)
    made.add(path)


def build_suite(
    site: Site, key: signing.SigningKey, suite: str, packages: bytes, generation: str, now: dt.datetime
) -> SuiteState:
    conf = site.config.repo
    target = site.paths.repo / SUITES / suite / generation
    if target.exists():
        shutil.rmtree(target)
    made: set[Path] = {target.parent}
    try:
        # .suites/SUITE as before (other threads make .suites at the same moment); all below it explicitly.
        target.parent.mkdir(parents=True, exist_ok=True)
        _directory(target, made)
        files = index_files(packages, conf.architectures)
        # Every architecture's indexes are the same bytes (madash's packages are all
        # Architecture: all): the first architecture's directory is real, the others are
        # symlinks to it, which saves a dozen directories and links per suite.
        first, *others = conf.architectures
        real = target / "main" / f"binary-{first}"
        for algorithm in ("SHA256", "SHA512"):
            _directory(real / "by-hash" / algorithm, made)
        for index in files:
            if Path(index.path).parent.name != real.name:
                continue
            path = real / Path(index.path).name
            _write(path, index.data)
            # By-hash copies, so that a client holding the previous InRelease still finds its indexes.
            for algorithm in ("SHA256", "SHA512"):
                os.link(path, real / "by-hash" / algorithm / hashlib.new(algorithm.lower(), index.data).hexdigest())
        for arch in others:
            os.symlink(real.name, target / "main" / f"binary-{arch}")
        _carry_by_hash(site.paths.repo / "dists" / suite, target)
        release_text = release(site.config.site.name, conf, suite, files, now)
        inrelease, detached = signing.sign_release(key, release_text)
        _write(target / "Release", release_text)
        _write(target / "Release.gpg", detached)
        # InRelease last: it is what apt reads first.
        _write(target / "InRelease", inrelease)
        _newer_than_before(site.paths.repo / "dists" / suite, target)
        state = SuiteState(generation, hashlib.sha256(packages).hexdigest(), conf.architectures, valid_until(conf, now))
        return state
    except OSError as exc:
        shutil.rmtree(target, ignore_errors=True)
        raise describe_os_error(exc, target) from exc
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise


def _newer_than_before(old_suite: Path, new_suite: Path) -> None:
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
        os.utime(new_suite / name, (stamp, stamp))


def _write(path: Path, data: bytes) -> None:
    """A new file of a generation, readable by the web server that serves it (indexes and
    signatures hold no secret); build_suites syncs them all to disk at once."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, modes.FILE)
    with os.fdopen(fd, "wb") as handle:
        os.fchmod(handle.fileno(), modes.FILE)
        handle.write(data)


def _carry_by_hash(old_suite: Path, new_suite: Path) -> None:
    """Keep the previous generation's indexes reachable by hash (one generation back)."""
    if not old_suite.is_dir():
        return
    for path in old_suite.glob("main/binary-*/Packages*"):
        relative = path.relative_to(old_suite)
        data = path.read_bytes()
        for algorithm in ("SHA256", "SHA512"):
            target = (
                new_suite / relative.parent / "by-hash" / algorithm / hashlib.new(algorithm.lower(), data).hexdigest()
            )
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                _write(target, data)


def swap_suite(repo_dir: Path, suite: str, generation: str) -> None:
    """Point dists/SUITE at its new generation in one rename; keep only the previous one besides.

    Each suite is swapped on its own, so a client reading one suite's Release and
    Packages always gets one generation's, and a publish touches only changed suites.
    """
    dists = repo_dir / "dists"
    make_dir(dists)
    link = dists / suite
    if link.exists() and not link.is_symlink():
        raise MadashError(f"{link} is not madash's", hint="move it aside; madash keeps dists/SUITE as symlinks")
    previous = link.resolve().name if link.is_symlink() else None
    tmp = dists / f".{suite}.new"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(Path("..") / SUITES / suite / generation)
    tmp.replace(link)
    for old in (repo_dir / SUITES / suite).iterdir():
        if old.name not in (generation, previous):
            shutil.rmtree(old, ignore_errors=True)


def drop_suite(repo_dir: Path, suite: str) -> None:
    link = repo_dir / "dists" / suite
    if link.is_symlink():
        link.unlink()
    shutil.rmtree(repo_dir / SUITES / suite, ignore_errors=True)
