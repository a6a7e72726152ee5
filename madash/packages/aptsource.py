"""How a host's apt finds the site repository: the suites it names and the source it ships.

The repository stage (madash.apt) computes an AptIdentity once, under the site
lock, before any package is baked; client packages only receive it. So building
a package never signs, never makes a key, and never imports the repository.
"""

from __future__ import annotations

from dataclasses import dataclass

from madash.render import render

SHARED_SUITE = "shared"  # the toolkit and extra packages: every host may read it
SERVER_SUITE = "server"  # madash-server, with the site's passwords: no host's source names it
CLIENT_PREFIX = "madash-client-"
KEYRING = "/etc/apt/keyrings/madash.gpg"


def suite_of_host(host: str) -> str:
    return f"host-{host}"


@dataclass(frozen=True)
class AptIdentity:
    """What every client package needs to know about the site repository."""

    url: str  # where hosts find repo/
    keyring: bytes  # the repository's public key, binary, as Signed-By wants it
    https_host: str  # the repository's host when served over https, else ""
    shared: bool  # whether the shared suite exists (hosts name it only then)


def sources_entry(identity: AptIdentity, site_name: str, host: str) -> str:
    """HOST's deb822 .sources entry: its own suite, and the shared one when there is one."""
    suites = [suite_of_host(host), *([SHARED_SUITE] if identity.shared else [])]
    return render(
        "conf/apt/madash.sources.j2",
        {"site_name": site_name, "url": identity.url, "suites": suites, "keyring": KEYRING},
    )
