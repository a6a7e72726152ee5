"""Planning a publish: which suites change, which go, what each suite's Packages says.

Pure: it takes the scanned packages, the last publish's state and the suites
dists/ holds, and returns a Plan; nothing is read or written here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from madash import times
from madash.apt.indexes import stanza
from madash.apt.scan import Deb
from madash.apt.state import RepoState, SuiteState
from madash.apt.suites import suite_for
from madash.errors import UsageError
from madash.site.config import RepoSection


@dataclass(frozen=True)
class Plan:
    suites: Mapping[str, Mapping[str, list[Deb]]]  # suite → package → its versions, newest first
    packages: Mapping[str, bytes]  # suite → its Packages index
    stale: tuple[str, ...]  # suites that get a new generation
    gone: tuple[str, ...]  # suites published before that no package needs any more

    def listing(self) -> dict[str, list[str]]:
        """suite → "package version" of what it now offers."""
        return {
            suite: [f"{name} {versions[0].version}" for name, versions in sorted(packages.items())]
            for suite, packages in sorted(self.suites.items())
        }


def by_suite(debs: list[Deb], extra: tuple[str, ...]) -> dict[str, dict[str, list[Deb]]]:
    suites: dict[str, dict[str, list[Deb]]] = {}
    for deb in debs:
        suite = suite_for(deb.package, extra)
        if suite is None:
            raise UsageError(
                f"{deb.path.name} ({deb.package}) is not one of madash's packages",
                hint="list other packages to publish in madash.toml [repo] extra_packages",
            )
        suites.setdefault(suite, {}).setdefault(deb.package, []).append(deb)
    for packages in suites.values():
        for versions in packages.values():
            if len(versions) < 2:
                continue  # one version (a thousand hosts' usual case): nothing to import debian_inspector for
            from debian_inspector.version import Version

            try:
                versions.sort(key=lambda d: Version.from_string(d.version), reverse=True)
            except ValueError as exc:
                raise UsageError(f"a package in dist/ has an invalid version ({exc})") from None
    return suites


def needs_rebuild(state: SuiteState | None, packages: bytes, conf: RepoSection, now: dt.datetime) -> bool:
    """Whether a suite's clients would see anything new: its packages, settings, or a due re-sign."""
    if state is None:
        return True
    if state.packages_sha256 != hashlib.sha256(packages).hexdigest() or state.architectures != conf.architectures:
        return True
    if bool(conf.valid_days) != bool(state.valid_until):
        return True
    if conf.valid_days:
        try:
            until = times.parse_release_date(state.valid_until)
        except ValueError:
            return True
        # Re-sign once half the validity has passed, long before apt would refuse.
        return until - now < dt.timedelta(days=conf.valid_days) / 2
    return False


def plan(debs: list[Deb], state: RepoState, published: set[str], conf: RepoSection, now: dt.datetime) -> Plan:
    suites = by_suite(debs, conf.extra_packages)
    packages = {
        suite: "\n".join(
            stanza(versions[0], f"pool/{suite}/{versions[0].path.name}") for _, versions in sorted(packages.items())
        ).encode()
        for suite, packages in sorted(suites.items())
    }
    stale = tuple(
        s for s, text in packages.items() if s not in published or needs_rebuild(state.suites.get(s), text, conf, now)
    )
    gone = tuple(sorted((published | set(state.suites)) - set(packages)))
    return Plan(suites, packages, stale, gone)
