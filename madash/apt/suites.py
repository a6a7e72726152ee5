"""The repository's suites: which package goes where, and which names are suites at all.

A suite name read from a state file becomes a path (dists/SUITE, pool/SUITE): it
is only ever used once suite_name() accepted it.
"""

from __future__ import annotations

from collections.abc import Iterable

from madash.errors import MadashError
from madash.packages.aptsource import CLIENT_PREFIX, SERVER_SUITE, SHARED_SUITE, suite_of_host
from madash.site.values import check_host_name

SERVER_PACKAGES = ("madash-server",)
SHARED_PACKAGES = ("python3-madash", "python3-debian-inspector")


def suite_for(package: str, extra: Iterable[str]) -> str | None:
    """The suite a package of dist/ belongs in, or None for a package madash does not publish."""
    if package.startswith(CLIENT_PREFIX):
        host = package.removeprefix(CLIENT_PREFIX)
        try:
            return suite_of_host(check_host_name(host))
        except MadashError:
            return None
    if package in SERVER_PACKAGES:
        return SERVER_SUITE
    if package in SHARED_PACKAGES or package in extra:
        return SHARED_SUITE
    return None


def is_suite_name(name: object) -> bool:
    if not isinstance(name, str):
        return False
    if name in (SHARED_SUITE, SERVER_SUITE):
        return True
    if not name.startswith("host-"):
        return False
    try:
        check_host_name(name.removeprefix("host-"))
    except MadashError:
        return False
    return True


def host_of(suite: str) -> str | None:
    return suite.removeprefix("host-") if suite.startswith("host-") else None
