"""Test stand-ins for packages that cannot be had on the test machines.

InfluxData's telegraf package is not in Debian and its repository is out of
reach, so the chroot tests install ``build_standin_telegraf``'s package in its
place: the real telegraf binary (built from its Go module by
scripts/build-telegraf with madash's plugins, see tests/telegraf_build.py)
wrapped as InfluxData wraps it: the package name, Architecture amd64, the
``telegraf`` system user and group, /etc/telegraf/telegraf.conf (a conffile),
/etc/telegraf/telegraf.d, /etc/default/telegraf as the unit's environment file,
/var/log/telegraf, and InfluxData's telegraf.service (scripts/telegraf.service
at v1.32.3 and v1.39.3, identical) with a postinst that enables the unit and
never starts it on a fresh install (scripts/deb/post-install.sh).

Known differences from InfluxData's package, none of which madash depends on:
the binary has only madash's plugins (a custom build); the unit file is shipped
under /lib/systemd/system rather than copied there by postinst; telegraf.conf is
the conffile itself rather than a copy of telegraf.conf.sample; systemd
enablement uses dh_installsystemd's snippets rather than InfluxData's
systemctl/SysV branches (see files/postinst); no /var/lib/telegraf state file.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.telegraf_build import OLDEST, telegraf_binary

__all__ = ["build_standin_telegraf", "build_tree"]

FILES = Path(__file__).resolve().parent / "files"
# Beside scripts/build-telegraf's binaries (MADASH_TELEGRAF_CACHE, as there).
CACHE_DIR = Path(os.environ.get("MADASH_TELEGRAF_CACHE", "/var/cache/madash-test")) / "standin-telegraf"

# A fixed date for every member, so that the same version builds the same bytes.
SOURCE_DATE_EPOCH = 1_700_000_000

# (path in the package, source under files/, mode)
_PAYLOAD: tuple[tuple[str, str, int], ...] = (
    ("etc/telegraf/telegraf.conf", "telegraf.conf", 0o644),
    ("etc/logrotate.d/telegraf", "logrotate", 0o644),
    ("lib/systemd/system/telegraf.service", "telegraf.service", 0o644),
)
# Directories shipped even when empty: telegraf.d is where drop-ins go.
_EMPTY_DIRS = ("etc/telegraf/telegraf.d",)
_CONFFILES = ("/etc/logrotate.d/telegraf", "/etc/telegraf/telegraf.conf")
_SCRIPTS = ("preinst", "postinst", "prerm", "postrm")

_CONTROL = """\
Package: telegraf
Version: {version}
Architecture: amd64
Maintainer: madash tests <madash@localhost>
Section: net
Priority: optional
Homepage: https://github.com/influxdata/telegraf
Description: stand-in for InfluxData's Telegraf, for madash's tests
 The same package name, user, paths and systemd unit as InfluxData's
 telegraf package, around a real telegraf built with madash's plugins only.
"""


def _upstream(version: str) -> str:
    """1:1.28.0-1 -> 1.28.0: what ``telegraf --version`` reports."""
    without_epoch = version.split(":", 1)[-1]
    return without_epoch.rsplit("-", 1)[0] if "-" in without_epoch else without_epoch


def _write(path: Path, data: bytes, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(mode)


def build_standin_telegraf(out_dir: Path, version: str = f"{OLDEST}-1") -> Path:
    """telegraf_<version>_amd64.deb around the real telegraf of that upstream version, in ``out_dir``; its path.

    dpkg-deb compressing the ~100 MB binary took 13 s (more on a loaded machine) and some twenty tests
    ask for the package: it is built once per recipe (every member's bytes and mode, the control
    files, this module) into the cache beside the binaries, and copied from there.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    deb = out_dir / f"telegraf_{version.split(':', 1)[-1]}_amd64.deb"
    # Same bytes for the same version: the binary is built with -trimpath from a fixed module version.
    payload = [(target, (FILES / source).read_bytes(), mode) for target, source, mode in _PAYLOAD]
    payload.append(("usr/bin/telegraf", telegraf_binary(_upstream(version)).read_bytes(), 0o755))
    recipe = hashlib.sha256(Path(__file__).read_bytes() + version.encode())
    for target, data, mode in sorted(payload):
        recipe.update(f"\0{target}\0{mode:o}\0{len(data)}\0".encode() + data)
    for script in _SCRIPTS:
        recipe.update(b"\0" + (FILES / script).read_bytes())
    cached = CACHE_DIR / recipe.hexdigest()[:16] / deb.name
    if not cached.is_file():
        cached.parent.mkdir(parents=True, exist_ok=True)
        # Built aside and renamed: a parallel run never copies a half-written package.
        with tempfile.TemporaryDirectory(prefix=".build-", dir=cached.parent) as scratch:
            built = Path(scratch) / deb.name
            _build(payload, version, built)
            built.chmod(0o644)
            built.rename(cached)
    shutil.copyfile(cached, deb)
    return deb


def _build(payload: list[tuple[str, bytes, int]], version: str, deb: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="standin-telegraf-") as scratch:
        tree = Path(scratch) / "tree"
        md5sums = []
        for target, data, mode in sorted(payload):
            _write(tree / target, data, mode)
            if not target.startswith("etc/"):
                # md5sums is dpkg's integrity list (dpkg --verify), not a security check.
                digest = hashlib.md5(data, usedforsecurity=False).hexdigest()
                md5sums.append(f"{digest}  {target}\n")
        for directory in _EMPTY_DIRS:
            (tree / directory).mkdir(parents=True, exist_ok=True)

        control = tree / "DEBIAN"
        control.mkdir()
        _write(control / "control", _CONTROL.format(version=version).encode(), 0o644)
        _write(control / "conffiles", "".join(f"{name}\n" for name in _CONFFILES).encode(), 0o644)
        _write(control / "md5sums", "".join(md5sums).encode(), 0o644)
        for script in _SCRIPTS:
            shutil.copyfile(FILES / script, control / script)
            (control / script).chmod(0o755)

        build_tree(tree, deb)


def build_tree(tree: Path, deb: Path) -> None:
    """dpkg-deb over a laid-out tree: directory modes and every time fixed here, never the umask's."""
    for path in sorted(tree.rglob("*")):
        if path.is_dir():
            path.chmod(0o755)
        os.utime(path, (SOURCE_DATE_EPOCH, SOURCE_DATE_EPOCH))
    tree.chmod(0o755)
    os.utime(tree, (SOURCE_DATE_EPOCH, SOURCE_DATE_EPOCH))
    subprocess.run(
        ["dpkg-deb", "--root-owner-group", "--build", str(tree), str(deb)],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "SOURCE_DATE_EPOCH": str(SOURCE_DATE_EPOCH)},
    )
