"""Test stand-ins for packages that cannot be had on the test machines.

InfluxData's telegraf package is not in Debian and its repository is out of
reach, so the chroot tests install ``build_standin_telegraf``'s package in its
place. It mirrors what madash relies on in the real one: the package name, the
``telegraf`` system user and group, /etc/telegraf/telegraf.conf (a conffile),
/etc/telegraf/telegraf.d, /etc/default/telegraf as the unit's environment file,
and /lib/systemd/system/telegraf.service with the real ExecStart line.
/usr/bin/telegraf is a Python script that parses its configuration with tomllib
and fails, naming the file, on a TOML error (see files/telegraf.py).

Known differences from InfluxData's package, none of which madash depends on:
the binary knows no plugin or option names; Architecture is ``all`` and it
depends on python3; the unit file is shipped under /lib/systemd/system rather
than copied there by postinst; systemd enablement uses dh_installsystemd's
snippets rather than InfluxData's systemctl/SysV branches (see files/postinst).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

__all__ = ["build_standin_telegraf", "build_tree"]

FILES = Path(__file__).resolve().parent / "files"

# A fixed date for every member, so that the same version builds the same bytes.
SOURCE_DATE_EPOCH = 1_700_000_000

# (path in the package, source under files/, mode)
_PAYLOAD: tuple[tuple[str, str, int], ...] = (
    ("etc/telegraf/telegraf.conf", "telegraf.conf", 0o644),
    ("etc/logrotate.d/telegraf", "logrotate", 0o644),
    ("lib/systemd/system/telegraf.service", "telegraf.service", 0o644),
    ("usr/bin/telegraf", "telegraf.py", 0o755),
)
# Directories shipped even when empty: telegraf.d is where drop-ins go.
_EMPTY_DIRS = ("etc/telegraf/telegraf.d",)
_CONFFILES = ("/etc/logrotate.d/telegraf", "/etc/telegraf/telegraf.conf")
_SCRIPTS = ("preinst", "postinst", "prerm", "postrm")

_CONTROL = """\
Package: telegraf
Version: {version}
Architecture: all
Maintainer: madash tests <madash@localhost>
Depends: python3 (>= 3.11)
Section: net
Priority: optional
Homepage: https://github.com/influxdata/telegraf
Description: stand-in for InfluxData's Telegraf, for madash's tests
 The same package name, user, paths and systemd unit as InfluxData's
 telegraf package. /usr/bin/telegraf only checks its configuration files.
"""


def _upstream(version: str) -> str:
    """1:1.28.0-1 -> 1.28.0: what ``telegraf --version`` reports."""
    without_epoch = version.split(":", 1)[-1]
    return without_epoch.rsplit("-", 1)[0] if "-" in without_epoch else without_epoch


def _write(path: Path, data: bytes, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(mode)


def build_standin_telegraf(out_dir: Path, version: str = "1.28.0-1") -> Path:
    """Build telegraf_<version>_all.deb into ``out_dir`` and return its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    deb = out_dir / f"telegraf_{version.split(':', 1)[-1]}_all.deb"
    with tempfile.TemporaryDirectory(prefix="standin-telegraf-") as scratch:
        tree = Path(scratch) / "tree"
        md5sums = []
        for target, source, mode in _PAYLOAD:
            data = (FILES / source).read_bytes()
            if source == "telegraf.py":
                data = data.replace(b'VERSION = "@VERSION@"', f'VERSION = "{_upstream(version)}"'.encode())
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
    return deb


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
