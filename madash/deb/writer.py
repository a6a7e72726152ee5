"""Writing .deb files, in-process (deb/archive.py), the way dpkg-deb would.

Reproducible: members sorted as dpkg-deb sorts them, every mtime the build's epoch
(SOURCE_DATE_EPOCH for dpkg-deb), owners root:root (--root-owner-group), modes
from the spec. The .deb lands in its directory by rename, so dist/ never holds a
partial file. write_tree lays out the same package as the directory dpkg-deb takes:
the tests build it with dpkg-deb, the oracle, and compare.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from madash import modes
from madash.deb.archive import GZIP_LEVEL, Entry, deb_bytes, directory
from madash.deb.spec import SCRIPT_NAMES, PackageSpec
from madash.fsutil import describe_os_error


def deb_filename(name: str, version: str, architecture: str = "all") -> str:
    # dpkg never puts an epoch in a file name; ':' would upset scp and URLs.
    return f"{name}_{version.split(':', 1)[-1]}_{architecture}.deb"


def control_files(spec: PackageSpec, version: str) -> list[tuple[str, bytes, int]]:
    """(name, bytes, mode) of each file of the control member."""
    files = [("control", spec.control_text(version).encode(), modes.FILE)]
    conffiles = spec.conffiles()
    if conffiles:
        files.append(("conffiles", "".join(f"{c}\n" for c in conffiles).encode(), modes.FILE))
    md5sums = "".join(
        f"{hashlib.md5(f.data).hexdigest()}  {f.path.lstrip('/')}\n"  # noqa: S324 - dpkg's format, not security
        for f in sorted(spec.files, key=lambda f: f.path)
        if not f.conffile
    )
    if md5sums:
        files.append(("md5sums", md5sums.encode(), modes.FILE))
    files += [(name, spec.scripts[name].encode(), modes.EXEC) for name in SCRIPT_NAMES if name in spec.scripts]
    return files


def package_bytes(spec: PackageSpec, version: str, epoch: int) -> bytes:
    """The .deb of spec, as dpkg-deb --build --root-owner-group -Zgzip -z6 makes it from write_tree's tree."""
    control = [directory(""), *(Entry(name, mode, data) for name, data, mode in control_files(spec, version))]
    data = [directory(""), *(directory(d.lstrip("/")) for d in spec.all_dirs())]
    data += [Entry(f.path.lstrip("/"), f.mode, f.data) for f in spec.files]
    return deb_bytes(control, data, epoch)


def _write(path: Path, data: bytes, mode: int, epoch: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(mode)
    os.utime(path, (epoch, epoch))


def write_tree(spec: PackageSpec, version: str, tree: Path, epoch: int) -> None:
    """Lay out spec as the directory dpkg-deb --build takes, every mode and mtime explicit."""
    tree.mkdir()
    for entry in spec.files:
        _write(tree / entry.path.lstrip("/"), entry.data, entry.mode, epoch)
    for directory_path in spec.all_dirs():
        path = tree / directory_path.lstrip("/")
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(modes.DIR)
    control = tree / "DEBIAN"
    control.mkdir(mode=modes.DIR)
    for name, data, mode in control_files(spec, version):
        _write(control / name, data, mode, epoch)
    control.chmod(modes.DIR)
    for directory_path in [*spec.all_dirs(), "/", "/DEBIAN"]:
        os.utime(tree / directory_path.lstrip("/"), (epoch, epoch))
    tree.chmod(modes.DIR)


def build_command(tree: Path, output: Path) -> list[str | Path]:
    """dpkg-deb building what package_bytes makes (the tests' oracle).

    gzip, not dpkg's default xz: madash's packages are a few kilobytes, and xz -6
    spends ~40 ms of every build setting up its 94 MiB dictionary (scripts/bench);
    gzip builds them 4x faster for some 60 bytes more. Its level is archive.GZIP_LEVEL's.
    """
    return ["dpkg-deb", "--build", "--root-owner-group", "-Zgzip", f"-z{GZIP_LEVEL}", tree, output]


def write_deb(spec: PackageSpec, version: str, out_dir: Path, epoch: int, scratch: Path, mode: int) -> Path:
    """Build spec as out_dir/NAME_VERSION_all.deb (with ``mode``) and return its path.

    The .deb is written in ``scratch``, the caller's private directory on the same
    file system as out_dir, with its final mode from the start, and renamed into place:
    out_dir never holds a partial file, and a package holding secrets is never readable
    by others, whatever the umask.
    """
    target = out_dir / deb_filename(spec.name, version)
    data = package_bytes(spec, version, epoch)
    built: str | None = None
    try:
        fd, built = tempfile.mkstemp(prefix=f".{spec.name}.", suffix=".deb", dir=scratch)
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(data)
        os.replace(built, target)
    except OSError as exc:
        if built is not None and os.path.exists(built):
            os.unlink(built)
        raise describe_os_error(exc, target if built else scratch) from exc
    return target
