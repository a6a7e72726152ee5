"""dist/ → the packages to publish, each read only when it changed since the last publish."""

from __future__ import annotations

import hashlib
import io
import os
import re
import stat
import tarfile
from dataclasses import dataclass
from pathlib import Path

from madash.apt.state import CachedDeb
from madash.errors import UsageError
from madash.formats import deb822
from madash.site.config import Site

_DEB_NAME_RE = re.compile(r"[a-z0-9][a-z0-9+.-]*_[A-Za-z0-9.+~-]+_[a-z0-9]+\.deb")


@dataclass(frozen=True)
class Deb:
    """One .deb of dist/ with what its Packages stanza needs."""

    path: Path
    package: str
    version: str
    cached: CachedDeb


def read_control(path: Path) -> str:
    """The control paragraph of a .deb, via python-debian's ar reader.

    (Not debian.debfile: importing it costs 0.1 s, a fifth of what a one-host publish may take.)
    """
    from debian import arfile

    try:
        archive = arfile.ArFile(str(path))
        name = next(n for n in archive.getnames() if n.startswith("control.tar"))
        with tarfile.open(fileobj=io.BytesIO(archive.getmember(name).read())) as tar:
            info = next(m for m in tar.getmembers() if m.name.lstrip("./") == "control")
            member = tar.extractfile(info)
            if member is None:
                raise ValueError("control is not a file")
            return member.read().decode("utf-8").rstrip("\n")
    except (OSError, ValueError, KeyError, StopIteration, tarfile.TarError, arfile.ArError) as exc:
        raise UsageError(f"{path} is not a Debian package ({exc})", hint="remove it from dist/") from None


def _read(path: Path, info: os.stat_result) -> CachedDeb:
    data = path.read_bytes()
    return CachedDeb(
        size=info.st_size,
        mtime_ns=info.st_mtime_ns,
        control=read_control(path),
        md5=hashlib.md5(data).hexdigest(),  # noqa: S324 - the Packages field, not security
        sha256=hashlib.sha256(data).hexdigest(),
        sha512=hashlib.sha512(data).hexdigest(),
    )


def scan(site: Site, cache: dict[str, CachedDeb]) -> tuple[list[Deb], dict[str, CachedDeb]]:
    """Every .deb in dist/ and the cache as it now stands; a .deb is read only when its size or mtime changed."""
    dist = site.paths.dist
    if not dist.is_dir() or dist.is_symlink():
        raise UsageError(
            f"no packages to publish: {dist} is not a directory", hint="bake some with 'madash-build client'"
        )
    debs = []
    fresh: dict[str, CachedDeb] = {}
    # scandir's entries carry their stat: a thousand packages cost one directory read.
    for entry in sorted(os.scandir(dist), key=lambda e: e.name):
        path = dist / entry.name
        if entry.name.startswith("."):
            continue  # a bake's probe, or a tool's temporary file
        info = entry.stat(follow_symlinks=False)
        if not stat.S_ISREG(info.st_mode) or not _DEB_NAME_RE.fullmatch(entry.name):
            raise UsageError(
                f"{path} is not a .deb", hint="dist/ holds only packages (no links); move others elsewhere"
            )
        cached = cache.get(entry.name)
        if cached is None or (cached.size, cached.mtime_ns) != (info.st_size, info.st_mtime_ns):
            cached = _read(path, info)
        fresh[entry.name] = cached
        try:
            fields = deb822.parse_paragraphs(cached.control)[0]
        except ValueError as exc:
            raise UsageError(f"{path}: its control file is not deb822 ({exc})", hint="remove it from dist/") from None
        debs.append(Deb(path, fields.get("Package", ""), fields.get("Version", ""), cached))
    if not debs:
        raise UsageError(f"no packages to publish in {dist}", hint="bake some with 'madash-build client' first")
    return debs, fresh
