"""From a PackageSpec to a .deb in dist/, with the version rule.

Identical inputs give the identical .deb with the same version; any change of
inputs (content, scripts, control fields, or the toolkit's version) gives a
strictly higher version. The record of what each package was last built from
is builds.json in the site; the version itself is the UTC time of the change,
so even a lost builds.json can only move versions forward.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import posixpath
import re
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from debian_inspector.version import Version

from madash import __version__, modes, times
from madash.deb.spec import PackageSpec
from madash.deb.writer import deb_filename, write_deb
from madash.errors import SiteError
from madash.fsutil import atomic_write, describe_os_error, make_dir, site_lock, work_dir
from madash.packages import changelog
from madash.packages.common import with_changelog
from madash.site.access import secure_root, site_access
from madash.site.config import Site


@dataclass(frozen=True)
class Build:
    """What a package was last built from and what it became."""

    digest: str
    version: str
    epoch: int
    # A cheap fingerprint of what the package was made from (file stats, settings),
    # so that a fleet re-bake can skip unchanged hosts without rendering them.
    inputs: str = ""
    # Every conffile any version of the package has shipped: a later version that no
    # longer ships one must remove it (dpkg keeps obsolete conffiles otherwise).
    conffiles: tuple[str, ...] = ()
    # (conffile, the last version that shipped it): rm_conffile's prior-version, as dh_installdeb
    # writes it, so that only an upgrade from a version that had the file removes it.
    shipped_until: tuple[tuple[str, str], ...] = ()

    def last_shipped(self) -> tuple[tuple[str, str], ...]:
        """Each conffile with the last version that shipped it. A record made before that was kept
        names none: this version is then the bound (every version that shipped it is no later)."""
        until = dict(self.shipped_until)
        return tuple((path, until.get(path, self.version)) for path in self.conffiles)

    def same_package(self, other: Build | None) -> bool:
        return other is not None and (self.digest, self.version, self.epoch) == (
            other.digest,
            other.version,
            other.epoch,
        )


@dataclass(frozen=True)
class BakeResult:
    package: str
    version: str
    path: Path
    changed: bool


_PACKAGE_RE = re.compile(r"[a-z0-9][a-z0-9+.-]+")
_VERSION_RE = re.compile(r"[0-9][0-9.]*")  # what next_version makes: 20261202.071650, 20261202.071650.1
_DIGEST_RE = re.compile(r"[0-9a-f]{64}")


def _build(name: object, entry: object) -> Build:
    """One entry of builds.json, checked: its name and version become a path in dist/."""
    if not isinstance(name, str) or not _PACKAGE_RE.fullmatch(name):
        raise ValueError(f"{name!r} is not a package name")
    if not isinstance(entry, dict) or set(entry) - {f.name for f in dataclasses.fields(Build)}:
        raise ValueError(f"{name}: not a build record")
    digest, version, epoch = entry.get("digest"), entry.get("version"), entry.get("epoch")
    inputs, conffiles, until = entry.get("inputs", ""), entry.get("conffiles", []), entry.get("shipped_until", [])
    if not isinstance(digest, str) or not _DIGEST_RE.fullmatch(digest):
        raise ValueError(f"{name}: bad digest")
    if not isinstance(version, str) or not _VERSION_RE.fullmatch(version):
        raise ValueError(f"{name}: bad version {version!r}")
    if not isinstance(epoch, int) or isinstance(epoch, bool) or not 0 <= epoch < 2**33:
        raise ValueError(f"{name}: bad epoch")
    if not isinstance(inputs, str) or not isinstance(conffiles, list):
        raise ValueError(f"{name}: bad inputs or conffiles")
    for path in conffiles:
        if not isinstance(path, str) or not path.startswith("/etc/") or posixpath.normpath(path) != path:
            raise ValueError(f"{name}: {path!r} is not a conffile path")
        if any(ord(ch) <= 0x20 or ord(ch) == 0x7F for ch in path):
            raise ValueError(f"{name}: a conffile path holds a space or control character")
    if not isinstance(until, list) or not all(
        isinstance(pair, list) and len(pair) == 2 and pair[0] in conffiles
        and isinstance(pair[1], str) and _VERSION_RE.fullmatch(pair[1]) for pair in until
    ):  # fmt: skip
        raise ValueError(f"{name}: bad shipped_until")
    return Build(digest, version, epoch, inputs, tuple(conffiles), tuple((path, v) for path, v in until))


def load_builds(site: Site) -> dict[str, Build]:
    """builds.json, validated: it is the record behind the strictly-higher-version rule."""
    try:
        document = json.loads(site.paths.builds.read_bytes())
        if not isinstance(document, dict):
            raise ValueError("not an object")
        return {name: _build(name, entry) for name, entry in document.items()}
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, RecursionError) as exc:
        raise SiteError(
            f"{site.paths.builds} is damaged ({exc})",
            hint="move it aside: the next bake of each package then gets a new, higher version",
        ) from None


def save_builds(site: Site, builds: dict[str, Build]) -> None:
    document = {name: vars(build) for name, build in sorted(builds.items())}
    atomic_write(site.paths.builds, (json.dumps(document, indent=2) + "\n").encode(), modes.SECRET)


def next_version(previous: str | None, now: dt.datetime) -> str:
    candidate = times.version_stamp(now)
    if previous is not None and Version.from_string(candidate) <= Version.from_string(previous):
        # Two changes within one second (or a clock that went back): still strictly higher.
        candidate = f"{previous}.1"
    return candidate


def plan(spec: PackageSpec, previous: Build | None, now: dt.datetime, inputs: str = "") -> Build:
    """The build this spec gets: the previous one when nothing changed, else a newer one."""
    digest = spec.digest(salt=[__version__])
    conffiles = tuple(sorted({*(previous.conffiles if previous else ()), *spec.conffiles()}))
    if previous is not None and previous.digest == digest:
        return replace(previous, inputs=inputs, conffiles=conffiles)
    version = next_version(previous.version if previous else None, now)
    until = dict(previous.last_shipped() if previous else ())
    until.update((path, version) for path in spec.conffiles())
    # A later version has a later date too: its changelog entry's (lintian wants them to increase).
    epoch = max(int(now.timestamp()), previous.epoch + 1 if previous else 0)
    return Build(digest, version, epoch, inputs, conffiles, tuple(sorted(until.items())))


@dataclass(frozen=True)
class Staged:
    """A package built in the site's scratch space, not yet in dist/."""

    result: BakeResult
    build: Build
    path: Path | None  # None: dist/ already holds this very package
    history: tuple[Path, changelog.History] | None = None  # saved into the site with the package


def check_dist(site: Site) -> None:
    """Fail now, before anything changes, if dist/ cannot take a package."""
    access = secure_root(site)
    make_dir(site.paths.dist, access.dir_mode)
    access.apply(site.paths.dist, access.dir_mode)
    try:
        fd, probe = tempfile.mkstemp(prefix=".probe-", dir=site.paths.dist)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise describe_os_error(exc, site.paths.dist) from exc


def stage(spec: PackageSpec, site: Site, build: Build, previous: Build | None) -> Staged:
    """Build the .deb for build in scratch space, unless the very same one is already in dist/."""
    path = site.paths.dist / deb_filename(spec.name, build.version)
    changed = not build.same_package(previous)
    result = BakeResult(spec.name, build.version, path, changed)
    if not changed and path.exists():
        return Staged(result, build, None)
    earlier = previous.version if previous is not None and previous.version != build.version else None
    subject = spec.facts.get("host:", spec.name)
    history = changelog.next_history(
        changelog.load(site, spec.name), spec, build.version, build.epoch, earlier, subject
    )
    spec = with_changelog(spec, build.version, build.epoch, site.config.site.name, history)
    # Straight into this process's scratch space (no directory per package: making and removing
    # one cost more than writing the .deb); it is on dist/'s file system, for the rename.
    scratch = work_dir(site.paths.root)
    path = write_deb(spec, build.version, scratch, build.epoch, scratch, modes.SECRET)
    site_access(site).secret_file(path)  # [repo] group: the web server's group may read it too
    return Staged(result, build, path, (site.paths.history(spec.name), history))


def install(staged: Staged) -> BakeResult:
    """Move a staged .deb into dist/ (one rename: the scratch space is inside the site)."""
    if staged.path is not None:
        try:
            os.replace(staged.path, staged.result.path)
        except OSError as exc:
            staged.path.unlink(missing_ok=True)
            raise describe_os_error(exc, staged.result.path) from exc
    if staged.history is not None:
        changelog.save(*staged.history)
    return staged.result


def bake(spec: PackageSpec, site: Site, build: Build, previous: Build | None) -> BakeResult:
    """Write the .deb for build into dist/ unless the very same one is already there."""
    check_dist(site)
    return install(stage(spec, site, build, previous))


def record(site: Site, builds: dict[str, Build], new: list[Build | None], names: list[str]) -> None:
    """Save builds.json if any of the new builds differs from what it holds."""
    changed = False
    for name, build in zip(names, new, strict=True):
        if build is not None and builds.get(name) != build:
            builds[name] = build
            changed = True
    if changed:
        save_builds(site, builds)


def bake_package(site: Site, spec: PackageSpec, now: dt.datetime, inputs: str = "") -> BakeResult:
    """Plan, write and record one package, under the site lock."""
    with site_lock(site.paths.root):
        builds = load_builds(site)
        previous = builds.get(spec.name)
        build = plan(spec, previous, now, inputs)
        result = bake(spec, site, build, previous)
        if build != previous:
            builds[spec.name] = build
            save_builds(site, builds)
    return result
