"""What every package madash bakes carries: Debian policy's copyright file and changelog; and what
both kinds of package do with what an earlier version shipped."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from pathlib import PurePosixPath

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


def obsolete_conffiles(
    optional: Iterable[str], earlier: Iterable[tuple[str, str]], shipped: set[str]
) -> list[dict[str, str]]:
    """The conffiles to remove, each with rm_conffile's prior-version: the last version that shipped it.

    ``optional`` are those some versions may have shipped with no record of it (a site whose
    builds.json is lost, or older than its conffiles list): no version, so every upgrade tries, and
    rm_conffile leaves alone a file the installed package does not own.
    """
    until = {path: "" for path in optional} | dict(earlier)
    return [{"path": path, "version": until[path]} for path in sorted(set(until) - shipped)]


def obsolete_dirs(obsolete: Iterable[str], files: Iterable[FileEntry], dirs: Iterable[str], under: str) -> list[str]:
    """The directories below ``under`` that only obsolete conffiles were in, deepest first.

    dpkg keeps such a directory at unpack (rm_conffile has moved the file aside, not yet
    away), so the obsolete-dirs snippet removes it once it is empty.
    """
    kept = {str(parent) for f in files for parent in PurePosixPath(f.path).parents}
    kept |= {str(parent) for d in dirs for parent in (PurePosixPath(d), *PurePosixPath(d).parents)}
    found = {str(p) for path in obsolete for p in PurePosixPath(path).parents if p.is_relative_to(under)}
    return sorted(found - kept, key=lambda d: (-d.count("/"), d))
