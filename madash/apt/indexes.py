"""A suite's index files: Packages (plain, gzip, xz) for every architecture, and its Release."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from madash import times
from madash.apt.scan import Deb
from madash.apt.suites import host_of
from madash.compress import gzip_bytes, xz_bytes
from madash.packages.aptsource import SERVER_SUITE, SHARED_SUITE
from madash.render import render
from madash.site.config import RepoSection


def stanza(deb: Deb, filename: str) -> str:
    """A Packages stanza: the control paragraph with the pool fields, Description last
    (and its continuation lines), as dpkg-scanpackages and apt-ftparchive write it."""
    lines = deb.cached.control.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("Description:")), len(lines))
    head, description = lines[:start], lines[start:]
    cached = deb.cached
    extra = [f"Filename: {filename}", f"Size: {cached.size}", f"MD5sum: {cached.md5}", f"SHA256: {cached.sha256}",
             f"SHA512: {cached.sha512}"]  # fmt: skip
    return "\n".join([*head, *extra, *description]) + "\n"


@dataclass(frozen=True)
class IndexFile:
    path: str  # relative to dists/SUITE
    data: bytes


def index_files(packages_text: bytes, architectures: tuple[str, ...]) -> list[IndexFile]:
    compressed = {
        "Packages": packages_text,
        "Packages.gz": gzip_bytes(packages_text),
        "Packages.xz": xz_bytes(packages_text),
    }
    return [
        IndexFile(f"main/binary-{arch}/{name}", data) for arch in architectures for name, data in compressed.items()
    ]


def valid_until(conf: RepoSection, now: dt.datetime) -> str:
    return times.release_date(now + dt.timedelta(days=conf.valid_days)) if conf.valid_days else ""


def _description(site_name: str, suite: str) -> str:
    if suite == SHARED_SUITE:
        what = "packages every host may install"
    elif suite == SERVER_SUITE:
        what = "the monitoring server's package"
    else:
        what = f"the packages of host {host_of(suite)}"
    return f"madash site {site_name}: {what}"


def release(site_name: str, conf: RepoSection, suite: str, files: list[IndexFile], now: dt.datetime) -> bytes:
    checksums = {
        name: [{"digest": algorithm(f.data).hexdigest(), "size": len(f.data), "path": f.path} for f in files]
        for name, algorithm in (("SHA256", hashlib.sha256), ("SHA512", hashlib.sha512))
    }
    text = render(
        "conf/apt/Release.j2",
        {
            "origin": site_name,
            "suite": suite,
            "date": times.release_date(now),
            "valid_until": valid_until(conf, now),
            "architectures": conf.architectures,
            "description": _description(site_name, suite),
            "checksums": checksums,
        },
    )
    return text.encode()
