"""From a PackageSpec to a .deb in dist/, with the version rule.

Identical inputs give the identical .deb with the same version; any change of
inputs (content, scripts, control fields, or the toolkit's version) gives a
strictly higher version. The record of what each package was last built from
is builds.json in the site; the version itself is the UTC time of the change,
so even a lost builds.json can only move versions forward.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, replace
from pathlib import Path

from debian_inspector.version import Version

from madash import __version__
from madash.deb import deb_filename, gzip_reproducibly, write_deb
from madash.errors import SiteError
from madash.fsutil import atomic_write, make_dir, site_lock
from madash.package import FileEntry, PackageSpec
from madash.render import render
from madash.site import Site


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


def load_builds(site: Site) -> dict[str, Build]:
    try:
        document = json.loads(site.paths.builds.read_bytes())
        return {
            name: Build(**{**entry, "conffiles": tuple(entry.get("conffiles", ()))}) for name, entry in document.items()
        }
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, TypeError) as exc:
        raise SiteError(
            f"{site.paths.builds} is damaged ({exc})",
            hint="move it aside: the next bake of each package then gets a new, higher version",
        ) from None


def save_builds(site: Site, builds: dict[str, Build]) -> None:
    document = {name: vars(build) for name, build in sorted(builds.items())}
    atomic_write(site.paths.builds, (json.dumps(document, indent=2) + "\n").encode())


def next_version(previous: str | None, now: dt.datetime) -> str:
    candidate = now.astimezone(dt.UTC).strftime("%Y%m%d.%H%M%S")
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
    return Build(digest, version, int(now.timestamp()), inputs, conffiles)


def copyright_file(package: str, site_name: str, maintainer: str) -> FileEntry:
    """/usr/share/doc/PACKAGE/copyright, as Debian policy wants in every package."""
    context = {"package": package, "site_name": site_name, "maintainer": maintainer, "toolkit_version": __version__}
    return FileEntry(f"/usr/share/doc/{package}/copyright", render("debian/common/copyright.j2", context).encode())


def with_changelog(spec: PackageSpec, build: Build, site_name: str) -> PackageSpec:
    """Add the version-dependent changelog, which is not part of the digest."""
    date = dt.datetime.fromtimestamp(build.epoch, dt.UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")
    text = render(
        "debian/common/changelog.j2",
        {
            "package": spec.name,
            "version": build.version,
            "toolkit_version": __version__,
            "site_name": site_name,
            "maintainer": spec.control["Maintainer"],
            "date": date,
        },
    )
    entry = FileEntry(f"/usr/share/doc/{spec.name}/changelog.gz", gzip_reproducibly(text.encode()))
    return replace(spec, files=(*spec.files, entry))


def bake(spec: PackageSpec, site: Site, build: Build, previous: Build | None) -> BakeResult:
    """Write the .deb for build unless the very same one is already in dist/."""
    make_dir(site.paths.dist)
    path = site.paths.dist / deb_filename(spec.name, build.version)
    if build.same_package(previous) and path.exists():
        return BakeResult(spec.name, build.version, path, changed=False)
    written = write_deb(with_changelog(spec, build, site.config.site.name), build.version, site.paths.dist, build.epoch)
    return BakeResult(spec.name, build.version, written, changed=not build.same_package(previous))


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
