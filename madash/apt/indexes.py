"""A suite's index files: Packages (plain and gzip) for every architecture, and its Release."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from madash import times
from madash.apt.scan import Deb
from madash.apt.suites import host_of
from madash.compress import gzip_bytes
from madash.errors import UsageError
from madash.formats import deb822
from madash.packages.aptsource import SERVER_SUITE, SHARED_SUITE
from madash.render import render
from madash.site.config import RepoSection

POOL_FIELDS = ("Filename", "Size", "MD5sum", "SHA256", "SHA512")


def stanza(deb: Deb, filename: str) -> str:
    """A Packages stanza: the control paragraph with the pool fields, Description last,
    as dpkg-scanpackages and apt-ftparchive write it.

    A publish makes one per package every time (a thousand for one host changed), so the
    usual case is spliced as text: a control paragraph as dpkg-deb and madash write it, that
    scan() has already parsed, with Description last. Anything else takes the parser's way.
    """
    cached = deb.cached
    control = cached.control if cached.control.endswith("\n") else cached.control + "\n"  # scan() strips it
    at = control.rfind("\nDescription:") + 1
    tail = control[at:].split("\n")[1:]
    pool_values = (filename, str(cached.size), cached.md5, cached.sha256, cached.sha512)
    if (
        at > 0
        and all(line.startswith(" ") for line in tail[:-1])
        and not any(control.startswith(f"{name}:") or f"\n{name}:" in control for name in POOL_FIELDS)
        and control == control.replace("\r", "")
    ):
        pool = "".join(f"{name}: {value}\n" for name, value in zip(POOL_FIELDS, pool_values, strict=True))
        return control[:at] + pool + control[at:]
    return formatted_stanza(deb, filename)


def formatted_stanza(deb: Deb, filename: str) -> str:
    """stanza() through the deb822 parser and formatter: any control paragraph, checked."""
    (control,) = deb822.parse_paragraphs(deb.cached.control)
    cached = deb.cached
    pool = dict(zip(POOL_FIELDS, (filename, str(cached.size), cached.md5, cached.sha256, cached.sha512), strict=True))
    if set(pool) & set(control):
        raise UsageError(f"{deb.path.name}: its control file has a field a Packages index sets itself")
    order = [*(name for name in control if name != "Description"), *POOL_FIELDS, "Description"]
    return deb822.format_paragraph({**control, **pool}, order)


@dataclass(frozen=True)
class IndexFile:
    path: str  # relative to dists/SUITE
    data: bytes
    digests: dict[str, str]  # "SHA256", "SHA512" → hex: Release's checksums and the by-hash names


DIGESTS = (("SHA256", hashlib.sha256), ("SHA512", hashlib.sha512))


def index_files(packages_text: bytes, architectures: tuple[str, ...]) -> list[IndexFile]:
    """Every architecture's indexes: the same bytes (madash's packages are all Architecture: all),
    compressed and hashed once.

    Plain and gzip only: a suite lists one package or a few, and on an index of a kilobyte xz's
    container outweighs its gain (a host's Packages: 971 bytes, 583 gzipped, 688 as xz), while
    apt would fetch the xz first and a publish spent a quarter of its time setting up lzma.
    """
    compressed = {"Packages": packages_text, "Packages.gz": gzip_bytes(packages_text)}
    digests = {name: {algorithm: h(data).hexdigest() for algorithm, h in DIGESTS} for name, data in compressed.items()}
    return [
        IndexFile(f"main/binary-{arch}/{name}", data, digests[name])
        for arch in architectures
        for name, data in compressed.items()
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
    # Each line's three words as one tuple, for one filter call a line: a thousand suites make 24,000 lines.
    checksums = {algorithm: [(f.digests[algorithm], len(f.data), f.path) for f in files] for algorithm, _ in DIGESTS}
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
