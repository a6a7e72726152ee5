"""Writing .deb files with dpkg-deb, and reading them back with python-debian.

Reproducible: members sorted (dpkg-deb sorts), every mtime clamped to
SOURCE_DATE_EPOCH, owners root:root (--root-owner-group), modes from the spec.
The .deb lands in its directory by rename, so dist/ never holds a partial file.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from madash.fsutil import describe_os_error
from madash.package import DIR_MODE, EXEC_MODE, FILE_MODE, SCRIPT_NAMES, PackageSpec
from madash.run import run


def deb_filename(name: str, version: str, architecture: str = "all") -> str:
    # dpkg never puts an epoch in a file name; ':' would upset scp and URLs.
    return f"{name}_{version.split(':', 1)[-1]}_{architecture}.deb"


def gzip_reproducibly(data: bytes) -> bytes:
    """gzip without the name and timestamp that would make bytes differ between runs."""
    return gzip.compress(data, compresslevel=9, mtime=0)


def _write(path: Path, data: bytes, mode: int, epoch: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(mode)
    os.utime(path, (epoch, epoch))


def _control_dir(spec: PackageSpec, version: str, tree: Path, epoch: int) -> None:
    control = tree / "DEBIAN"
    control.mkdir(mode=DIR_MODE)
    _write(control / "control", spec.control_text(version).encode(), FILE_MODE, epoch)
    conffiles = spec.conffiles()
    if conffiles:
        _write(control / "conffiles", "".join(f"{c}\n" for c in conffiles).encode(), FILE_MODE, epoch)
    md5sums = "".join(
        f"{hashlib.md5(f.data).hexdigest()}  {f.path.lstrip('/')}\n"  # noqa: S324 - dpkg's format, not security
        for f in sorted(spec.files, key=lambda f: f.path)
        if not f.conffile
    )
    if md5sums:
        _write(control / "md5sums", md5sums.encode(), FILE_MODE, epoch)
    for name in SCRIPT_NAMES:
        if name in spec.scripts:
            _write(control / name, spec.scripts[name].encode(), EXEC_MODE, epoch)
    control.chmod(DIR_MODE)
    os.utime(control, (epoch, epoch))


def write_deb(spec: PackageSpec, version: str, out_dir: Path, epoch: int) -> Path:
    """Build spec as out_dir/NAME_VERSION_all.deb and return its path."""
    target = out_dir / deb_filename(spec.name, version)
    try:
        work = Path(tempfile.mkdtemp(prefix=f".{spec.name}.", dir=out_dir))
    except OSError as exc:
        raise describe_os_error(exc, out_dir) from exc
    try:
        tree = work / "tree"
        tree.mkdir()
        for entry in spec.files:
            _write(tree / entry.path.lstrip("/"), entry.data, entry.mode, epoch)
        for directory in spec.all_dirs():
            path = tree / directory.lstrip("/")
            path.mkdir(parents=True, exist_ok=True)
            path.chmod(DIR_MODE)
        _control_dir(spec, version, tree, epoch)
        for directory in [*spec.all_dirs(), "/"]:
            os.utime(tree / directory.lstrip("/"), (epoch, epoch))
        tree.chmod(DIR_MODE)
        partial = work / target.name
        run(
            ["dpkg-deb", "--build", "--root-owner-group", "-Zxz", "-z6", "-Sextreme", tree, partial],
            env={"SOURCE_DATE_EPOCH": str(epoch)},
        )
        partial.replace(target)
    except OSError as exc:
        raise describe_os_error(exc, target) from exc
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


@dataclass(frozen=True)
class DebMember:
    path: str
    mode: int
    owner: str
    group: str
    data: bytes | None  # None for directories


@dataclass(frozen=True)
class DebContents:
    control: dict[str, str]
    conffiles: tuple[str, ...]
    scripts: dict[str, str]
    members: dict[str, DebMember]


def read_deb(path: Path) -> DebContents:
    """Everything a test or `repo` needs to know about a .deb, via python-debian."""
    from debian import debfile

    deb = debfile.DebFile(str(path))
    try:
        control_part = deb.control
        control = {str(k): str(v) for k, v in control_part.debcontrol().items()}
        conffiles: tuple[str, ...] = ()
        if control_part.has_file("conffiles"):
            conffiles = tuple((control_part.get_content("conffiles", encoding="utf-8") or "").split())
        scripts = {
            name: control_part.get_content(name, encoding="utf-8") or ""
            for name in SCRIPT_NAMES
            if control_part.has_file(name)
        }
        members: dict[str, DebMember] = {}
        tar = deb.data.tgz()
        for info in tar.getmembers():
            name = "/" + info.name.lstrip("./")
            data = None
            if info.isfile():
                handle = tar.extractfile(info)
                data = handle.read() if handle else b""
            members[name.rstrip("/") or "/"] = DebMember(name, info.mode, info.uname, info.gname, data)
        return DebContents(control, conffiles, scripts, members)
    finally:
        deb.close()
