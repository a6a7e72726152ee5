"""What every package madash bakes carries: Debian policy's copyright file and changelog."""

from __future__ import annotations

from dataclasses import replace

from madash import __version__, times
from madash.compress import gzip_bytes
from madash.deb.spec import FileEntry, PackageSpec
from madash.packages import reread
from madash.packages.changelog import Entry, History, template_entries, text_lines
from madash.render import render


def copyright_file(package: str, site_name: str, maintainer: str) -> FileEntry:
    """/usr/share/doc/PACKAGE/copyright, as Debian policy wants in every package."""
    context = {"package": package, "site_name": site_name, "maintainer": maintainer, "toolkit_version": __version__}
    return FileEntry(f"/usr/share/doc/{package}/copyright", render("debian/common/copyright.j2", context).encode())


def with_changelog(
    spec: PackageSpec, version: str, epoch: int, site_name: str, history: History | None = None
) -> PackageSpec:
    """Add the version-dependent changelog and the spec's versioned files, which are not part of the digest:
    HISTORY's entries (packages/changelog.py), whose newest is VERSION's, or else one entry saying who baked it."""
    if history is None:
        baked = f'Baked by madash-build {__version__} for the site "{site_name}".'
        history = History({}, (Entry(version, epoch, (baked,)),))
    if history.entries[0].version != version:
        raise ValueError(f"{spec.name}: the changelog's newest entry is not {version}")
    maintainer = spec.control["Maintainer"]
    context = {"package": spec.name, "maintainer": maintainer, "entries": template_entries(history)}
    text = render("debian/common/changelog.j2", context)
    path = f"/usr/share/doc/{spec.name}/changelog.gz"
    blocks = [(e.version, times.changelog_date(e.date), text_lines(e)) for e in history.entries]
    reread.changelog(path, text, spec.name, maintainer, blocks)
    entry = FileEntry(path, gzip_bytes(text.encode()))
    versioned = spec.versioned(version) if spec.versioned is not None else ()
    return replace(spec, files=(*spec.files, entry, *versioned))
