"""What madash-server knows of the hosts' packages: the newest version baked for each host.

The server package carries the list (BAKED, JSON written by json.dumps and read back before it is
packaged); ensure-influxdb writes it into InfluxDB at every start as points of the madash_baked
measurement, so that the Fleet dashboard shows per host the version it runs (the madash_package tag
of its metrics) beside the one waiting for it.

The list is what builds.json says when the server package is baked: a host baked after the server
shows as running a version the server does not know of, never as waiting, until the server is baked
again (madash-build server after madash-build client, as the README says).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from madash.deb.spec import FileEntry
from madash.errors import MadashError
from madash.packages.aptsource import CLIENT_PREFIX
from madash.packages.bake import load_builds
from madash.packages.telegraf import package_tag
from madash.site.config import Site
from madash.site.values import check_host_name

BAKED = "/usr/share/madash-server/baked.json"
_VERSION_RE = re.compile(r"[0-9][0-9.]*")


@dataclass(frozen=True)
class Baked:
    host: str
    version: str
    epoch: int  # when that version was baked: the point's time, so that a second write changes nothing

    def package(self) -> str:
        """The value of the client's madash_package tag."""
        return package_tag(self.host, self.version)


def baked_hosts(site: Site) -> tuple[Baked, ...]:
    """The newest build of each host in madash.toml (builds.json); a host no longer listed drops out."""
    found = []
    hosts = set(site.config.hosts)
    for name, build in sorted(load_builds(site).items()):
        host = name.removeprefix(CLIENT_PREFIX)
        if name.startswith(CLIENT_PREFIX) and host in hosts:
            check_host_name(host)
            found.append(Baked(host, build.version, build.epoch))
    return tuple(found)


def document(baked: tuple[Baked, ...]) -> dict[str, object]:
    return {"hosts": [{"host": b.host, "version": b.version, "package": b.package(), "baked": b.epoch} for b in baked]}


def render_baked(baked: tuple[Baked, ...]) -> FileEntry:
    """The list as the package ships it, read back as ensure-influxdb will read it."""
    doc = document(baked)
    text = json.dumps(doc, indent=2, sort_keys=True) + "\n"
    again = json.loads(text)
    if again != doc or any(not _VERSION_RE.fullmatch(entry["version"]) for entry in again["hosts"]):
        raise MadashError(f"{BAKED} does not read back as written")
    return FileEntry(BAKED, text.encode())
