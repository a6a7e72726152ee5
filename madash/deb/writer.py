"""Writing .deb files with dpkg-deb.

Reproducible: members sorted (dpkg-deb sorts), every mtime clamped to
SOURCE_DATE_EPOCH, owners root:root (--root-owner-group), modes from the spec.
The .deb lands in its directory by rename, so dist/ never holds a partial file.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from madash import modes
from madash.deb.spec import SCRIPT_NAMES, PackageSpec
from madash.fsutil import describe_os_error
from madash.run import run


def deb_filename(name: str, version: str, architecture: str = "all") -> str:
    # dpkg never puts an epoch in a file name; ':' would upset scp and URLs.
    return f"{name}_{version.split(':', 1)[-1]}_{architecture}.deb"


def _write(path: Path, data: bytes, mode: int, epoch: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(mode)
    os.utime(path, (epoch, epoch))


def _control_dir(spec: PackageSpec, version: str, tree: Path, epoch: int) -> None:
    control = tree / "DEBIAN"
    control.mkdir(mode=modes.DIR)
    _write(control / "control", spec.control_text(version).encode(), modes.FILE, epoch)
    conffiles = spec.conffiles()
    if conffiles:
        _write(control / "conffiles", "".join(f"{c}\n" for c in conffiles).encode(), modes.FILE, epoch)
    md5sums = "".join(
        f"{hashlib.md5(f.data).hexdigest()}  {f.path.lstrip('/')}\n"  # noqa: S324 - dpkg's format, not security
        for f in sorted(spec.files, key=lambda f: f.path)
        if not f.conffile
    )
    if md5sums:
        _write(control / "md5sums", md5sums.encode(), modes.FILE, epoch)
    for name in SCRIPT_NAMES:
        if name in spec.scripts:
            _write(control / name, spec.scripts[name].encode(), modes.EXEC, epoch)
    control.chmod(modes.DIR)
    os.utime(control, (epoch, epoch))


def write_tree(spec: PackageSpec, version: str, tree: Path, epoch: int) -> None:
    """Lay out spec as the directory dpkg-deb --build takes, every mode and mtime explicit."""
    tree.mkdir()
    for entry in spec.files:
        _write(tree / entry.path.lstrip("/"), entry.data, entry.mode, epoch)
    for directory in spec.all_dirs():
        path = tree / directory.lstrip("/")
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(modes.DIR)
    _control_dir(spec, version, tree, epoch)
    for directory in [*spec.all_dirs(), "/"]:
        os.utime(tree / directory.lstrip("/"), (epoch, epoch))
    tree.chmod(modes.DIR)


def build_command(tree: Path, output: Path) -> list[str | Path]:
    """dpkg-deb as madash runs it: owners root:root, members sorted by dpkg-deb itself.

    gzip, not dpkg's default xz: madash's packages are a few kilobytes, and xz -6
    spends ~40 ms of every build setting up its 94 MiB dictionary (scripts/bench);
    gzip builds them 4x faster for some 60 bytes more.
    """
    return ["dpkg-deb", "--build", "--root-owner-group", "-Zgzip", "-z9", tree, output]


def write_deb(spec: PackageSpec, version: str, out_dir: Path, epoch: int, scratch: Path, mode: int) -> Path:
    """Build spec as out_dir/NAME_VERSION_all.deb (with ``mode``) and return its path.

    The tree and the .deb are made in ``scratch``, the caller's private directory on the
    same file system as out_dir, and the .deb is renamed into place: out_dir never holds
    a partial file, and a killed build leaves its private keys nowhere but in scratch.
    """
    target = out_dir / deb_filename(spec.name, version)
    try:
        work = Path(tempfile.mkdtemp(prefix=f"{spec.name}.", dir=scratch))
    except OSError as exc:
        raise describe_os_error(exc, scratch) from exc
    try:
        tree = work / "tree"
        built = work / target.name
        write_tree(spec, version, tree, epoch)
        # TMPDIR too: dpkg-deb keeps the members' tarballs (keys and all) in temporary files, which a
        # killed build would otherwise leave in /tmp, outside the site.
        run(build_command(tree, built), env={"SOURCE_DATE_EPOCH": str(epoch), "TMPDIR": str(work)})
        # Before the rename: a package holding secrets is never readable by others, whatever the umask.
        os.chmod(built, mode)
        os.replace(built, target)
    except OSError as exc:
        raise describe_os_error(exc, target) from exc
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target
