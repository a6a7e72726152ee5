"""`madash-build add-package FILE.deb`: a package that is not madash's own, for the shared suite.

Hosts need InfluxData's telegraf, which Debian lacks; copied into the site once,
`repo` publishes it in `shared` and a host installs Telegraf and its madash
package in one `apt install`. The file comes from the admin's downloads, so it
is read as hostile: a bounded regular file, a real .deb whose control fields
are valid, not one of madash's own packages, an architecture the repository
publishes, and for telegraf, the program and unit that madash's drop-in
extends. Only then is it copied into dist/ and named in [repo] extra_packages.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

import tomlkit
from debian_inspector.version import Version
from tomlkit.items import Array, Table

from madash.deb.reader import read_deb
from madash.deb.writer import deb_filename
from madash.errors import SiteError, UsageError
from madash.fsutil import atomic_write, make_dir, site_lock
from madash.site.access import secure_root
from madash.site.config import Site, load_site, parse_config
from madash.site.values import check_architecture, check_package_name, shown

# InfluxData's telegraf .deb is about 60 MB; anything far larger is not what was meant.
MAX_BYTES = 512 * 1024 * 1024
# What madash relies on in a telegraf package (see DESIGN: InfluxData's package).
TELEGRAF_FILES = ("/usr/bin/telegraf",)
TELEGRAF_UNITS = ("/lib/systemd/system/telegraf.service", "/usr/lib/systemd/system/telegraf.service")


@dataclass(frozen=True)
class Added:
    package: str
    version: str
    path: Path  # in dist/
    listed: bool  # whether [repo] extra_packages gained the name


def _read(path: Path) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise UsageError(f"cannot read {shown(str(path))}: {exc.strerror}") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise UsageError(f"{shown(str(path))} is not a regular file")
    with os.fdopen(fd, "rb") as handle:
        if info.st_size > MAX_BYTES:
            raise UsageError(f"{shown(str(path))} is larger than {MAX_BYTES >> 20} MiB: not a package madash expects")
        return handle.read(MAX_BYTES + 1)


def _checked(site: Site, path: Path, data: bytes) -> tuple[str, str, str]:
    """(package, version, architecture) of a valid .deb, or a UsageError saying what is wrong."""
    if not data.startswith(b"!<arch>\ndebian-binary"):
        raise UsageError(f"{shown(str(path))} is not a Debian package (.deb)")
    try:
        contents = read_deb(path, data)
    except Exception as exc:  # python-debian raises many kinds on a damaged archive
        raise UsageError(f"{shown(str(path))} is a damaged .deb ({type(exc).__name__})") from None
    control = contents.control
    package = check_package_name(control.get("Package", ""))
    version = control.get("Version", "")
    try:
        Version.from_string(version)
    except ValueError:
        raise UsageError(f"{package}: {shown(version)} is not a Debian version") from None
    if not version.isprintable() or "/" in version:
        raise UsageError(f"{package}: {shown(version)} is not a Debian version")
    architecture = control.get("Architecture", "")
    if architecture != "all":
        check_architecture(architecture)
        if architecture not in site.config.repo.architectures:
            raise UsageError(
                f"{package} is for {architecture}, which the repository does not publish",
                hint=f"add {architecture!r} to [repo] architectures in madash.toml, or take the package for one "
                f"of {', '.join(site.config.repo.architectures)}",
            )
    if package == "telegraf":
        missing = [f for f in TELEGRAF_FILES if f not in contents.members]
        if not any(unit in contents.members for unit in TELEGRAF_UNITS):
            missing.append("telegraf.service")
        if missing:
            raise UsageError(
                f"{shown(str(path))} is called telegraf but lacks {', '.join(missing)}",
                hint="take InfluxData's telegraf .deb (https://repos.influxdata.com/debian)",
            )
    return package, version, architecture


def _listed(site: Site, package: str) -> str | None:
    """madash.toml with package added to [repo] extra_packages, or None when it is there already."""
    if package in site.config.repo.extra_packages:
        return None
    text = site.paths.config.read_text(encoding="utf-8")
    document = tomlkit.parse(text)
    repo = document.get("repo")
    if repo is None:
        repo = tomlkit.table()
        document.add("repo", repo)
    if not isinstance(repo, Table):
        raise SiteError("madash.toml: repo must be a table")
    extra = repo.get("extra_packages")
    if not isinstance(extra, Array):
        extra = tomlkit.array()
        repo["extra_packages"] = extra
    extra.append(package)
    new_text = tomlkit.dumps(document)
    parse_config(new_text, site.paths.config)  # the whole file, validated before it is written
    return new_text


def add_package(site: Site, path: Path) -> Added:
    data = _read(path)
    package, version, architecture = _checked(site, path, data)
    with site_lock(site.paths.root):
        site = load_site(site.paths.root)  # as it is now, under the lock
        new_config = _listed(site, package)
        access = secure_root(site)
        make_dir(site.paths.dist, access.dir_mode)
        destination = site.paths.dist / deb_filename(package, version, architecture)
        if destination.parent != site.paths.dist:  # the version came from the file: never a path out of dist/
            raise UsageError(f"{package}: {shown(version)} is not a Debian version")
        # The package first: a madash.toml naming a package dist/ lacks would only make repo publish less.
        atomic_write(destination, data, access.file_mode)
        access.apply(destination, access.file_mode)
        if new_config is not None:
            atomic_write(site.paths.config, new_config.encode())
    return Added(package, version, destination, new_config is not None)
