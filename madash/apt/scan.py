"""dist/ → the packages to publish, each read only when it changed since the last publish."""

from __future__ import annotations

import hashlib
import io
import os
import re
import stat
import tarfile
import zlib
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


def read_control(path: Path, data: bytes | None = None) -> str:
    """The control paragraph of a .deb (``data``: its bytes, when the caller has read them).

    The ar archive and the control tarball are read here (deb(5), and tar's ustar/GNU
    headers, their checksums verified); a tarball this reader does not take member by member
    (long names, pax headers, another compression) goes to tarfile, which reads any.
    """
    try:
        if data is None:
            data = path.read_bytes()
        name, member = _control_member(data)
        if name == "control.tar.gz":
            found = _tar_file(zlib.decompressobj(wbits=31).decompress(member), "control")
            if found is not None:
                return found.decode("utf-8").rstrip("\n")
        return _control_by_tarfile(member)
    except (OSError, ValueError, KeyError, StopIteration, tarfile.TarError, zlib.error) as exc:
        raise UsageError(f"{path} is not a Debian package ({exc})", hint="remove it from dist/") from None


def _control_member(data: bytes) -> tuple[str, bytes]:
    """The control.tar.* member of a .deb: deb(5)'s ar, 60-byte headers, members 2-aligned."""
    if not data.startswith(b"!<arch>\n"):
        raise ValueError("not an ar archive")
    at = 8
    while at + 60 <= len(data):
        header = data[at : at + 60]
        if header[58:60] != b"`\n":
            raise ValueError("a damaged ar header")
        name = header[:16].decode("ascii").rstrip(" ").rstrip("/")
        size = int(header[48:58])
        if at + 60 + size > len(data):
            raise ValueError(f"a truncated ar member {name}")
        if name.startswith("control.tar"):
            return name, data[at + 60 : at + 60 + size]
        at += 60 + size + size % 2
    raise ValueError("no control member")


_PLAIN = (b"0", b"\0", b"5", b"2", b"1")  # files, directories, links: headers this walk takes as they are


def _tar_file(tar: bytes, wanted: str) -> bytes | None:
    """The bytes of ./WANTED in a tar, or None where a header needs tarfile (or WANTED is absent)."""
    at = 0
    while at + 512 <= len(tar):
        block = tar[at : at + 512]
        if block == bytes(512):
            return None
        if block[156:157] not in _PLAIN or int(block[148:156].strip(b" \0") or b"0", 8) != (
            sum(block[:148]) + 256 + sum(block[156:])
        ):
            return None  # a long name, a pax header or a bad checksum: tarfile says which
        size = int(block[124:136].strip(b" \0") or b"0", 8)
        name = block[:100].split(b"\0", 1)[0]
        if block[156:157] in (b"0", b"\0") and name in (b"./" + wanted.encode(), wanted.encode()):
            return tar[at + 512 : at + 512 + size]
        at += 512 + -(-size // 512) * 512
    return None


def _control_by_tarfile(member: bytes) -> str:
    with tarfile.open(fileobj=io.BytesIO(member)) as tar:
        info = next(m for m in tar.getmembers() if m.name.lstrip("./") == "control")
        extracted = tar.extractfile(info)
        if extracted is None:
            raise ValueError("control is not a file")
        return extracted.read().decode("utf-8").rstrip("\n")


def _read(path: Path, info: os.stat_result) -> CachedDeb:
    data = path.read_bytes()
    return CachedDeb(
        size=info.st_size,
        mtime_ns=info.st_mtime_ns,
        control=read_control(path, data),
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
