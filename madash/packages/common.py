"""What every package madash bakes carries: Debian policy's copyright file and changelog."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from madash import __version__, times
from madash.compress import gzip_bytes
from madash.deb.spec import FileEntry, PackageSpec
from madash.render import render


def copyright_file(package: str, site_name: str, maintainer: str) -> FileEntry:
    """/usr/share/doc/PACKAGE/copyright, as Debian policy wants in every package."""
    context = {"package": package, "site_name": site_name, "maintainer": maintainer, "toolkit_version": __version__}
    return FileEntry(f"/usr/share/doc/{package}/copyright", render("debian/common/copyright.j2", context).encode())


def with_changelog(spec: PackageSpec, version: str, epoch: int, site_name: str) -> PackageSpec:
    """Add the version-dependent changelog and the spec's versioned files, which are not part of the digest."""
    date = times.changelog_date(dt.datetime.fromtimestamp(epoch, dt.UTC))
    text = render(
        "debian/common/changelog.j2",
        {
            "package": spec.name,
            "version": version,
            "toolkit_version": __version__,
            "site_name": site_name,
            "maintainer": spec.control["Maintainer"],
            "date": date,
        },
    )
    entry = FileEntry(f"/usr/share/doc/{spec.name}/changelog.gz", gzip_bytes(text.encode()))
    versioned = spec.versioned(version) if spec.versioned is not None else ()
    return replace(spec, files=(*spec.files, entry, *versioned))
