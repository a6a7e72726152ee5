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


def write_tree(spec: PackageSpec, version: str, tree: Path, epoch: int) -> None:
    """Lay out spec as the directory dpkg-deb --build takes, every mode and mtime explicit."""
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


def build_command(tree: Path, output: Path) -> list[str | Path]:
    """dpkg-deb as madash runs it: owners root:root, members sorted by dpkg-deb itself.

    gzip, not dpkg's default xz: madash's packages are a few kilobytes, and xz -6
    spends ~40 ms of every build setting up its 94 MiB dictionary (scripts/bench);
    gzip builds them 4x faster for some 60 bytes more.
    """
    return ["dpkg-deb", "--build", "--root-owner-group", "-Zgzip", "-z9", tree, output]


def scratch_dir(fallback: Path) -> Path:
    """Where package trees are laid out: RAM when there is a tmpfs, since trees are
    hundreds of tiny files (and private keys that are better never on a disk)."""
    # mkdtemp makes a 0700 directory of its own there (S108).
    shm = Path("/dev/shm")  # noqa: S108
    if shm.is_dir() and os.access(shm, os.W_OK | os.X_OK):
        return shm
    return fallback


def write_deb(spec: PackageSpec, version: str, out_dir: Path, epoch: int) -> Path:
    """Build spec as out_dir/NAME_VERSION_all.deb and return its path."""
    target = out_dir / deb_filename(spec.name, version)
    # The .deb is written beside its target and renamed: dist/ never holds a partial file.
    partial = out_dir / f".{target.name}.partial"
    try:
        work = Path(tempfile.mkdtemp(prefix=f"madash-{spec.name}.", dir=scratch_dir(out_dir)))
    except OSError as exc:
        raise describe_os_error(exc, out_dir) from exc
    try:
        tree = work / "tree"
        write_tree(spec, version, tree, epoch)
        run(build_command(tree, partial), env={"SOURCE_DATE_EPOCH": str(epoch)})
        partial.replace(target)
    except OSError as exc:
        raise describe_os_error(exc, target) from exc
    finally:
        shutil.rmtree(work, ignore_errors=True)
        partial.unlink(missing_ok=True)
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
