"""What the last publish left: the packages it read and each suite's current generation.

Kept beside repo/, not in it (a web server serving repo/ must not serve it). It is
a cache: a damaged one is rebuilt with a warning, and nothing read from it is
trusted as a path; suites are found from dists/ itself.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field

from madash import modes
from madash.apt.suites import is_suite_name
from madash.fsutil import atomic_write
from madash.site.layout import SitePaths

log = logging.getLogger(__name__)
STATE_VERSION = 2
_HEX = re.compile(r"[0-9a-f]+")
_GENERATION_RE = re.compile(r"[0-9]{8}T[0-9]{12}Z")


@dataclass(frozen=True)
class CachedDeb:
    size: int
    mtime_ns: int
    control: str
    md5: str
    sha256: str
    sha512: str


@dataclass(frozen=True)
class SuiteState:
    """What a suite's current generation was made from: enough to tell whether to rebuild it."""

    generation: str
    packages_sha256: str
    architectures: tuple[str, ...]
    valid_until: str  # "" when none


@dataclass(frozen=True)
class RepoState:
    debs: dict[str, CachedDeb] = field(default_factory=dict)
    suites: dict[str, SuiteState] = field(default_factory=dict)
    sources: str = ""  # a stamp of what repo/sources/ was written from
    access: str = ""  # who the pool's modes were last set for (madash.site.access.stamp)


def _deb(value: object) -> CachedDeb:
    if not isinstance(value, dict):
        raise ValueError("a package entry is not an object")
    deb = CachedDeb(**value)
    ints = (deb.size, deb.mtime_ns)
    if any(not isinstance(v, int) or isinstance(v, bool) for v in ints) or not isinstance(deb.control, str):
        raise ValueError("a package entry has the wrong types")
    if not all(isinstance(h, str) and _HEX.fullmatch(h) for h in (deb.md5, deb.sha256, deb.sha512)):
        raise ValueError("a package entry has a bad checksum")
    return deb


def _suite(name: object, value: object) -> SuiteState:
    if not is_suite_name(name) or not isinstance(value, dict):
        raise ValueError(f"{name!r} is not a suite")
    suite = SuiteState(**{**value, "architectures": tuple(value.get("architectures", ()))})
    if not isinstance(suite.generation, str) or not _GENERATION_RE.fullmatch(suite.generation):
        raise ValueError(f"{name}: bad generation")
    if not isinstance(suite.packages_sha256, str) or not isinstance(suite.valid_until, str):
        raise ValueError(f"{name}: wrong types")
    return suite


def load(paths: SitePaths) -> RepoState:
    try:
        document = json.loads(paths.repo_state.read_bytes())
        if not isinstance(document, dict) or document.get("version") != STATE_VERSION:
            raise ValueError("not a state file of this version")
        debs = {str(name): _deb(value) for name, value in document["debs"].items()}
        suites = {str(name): _suite(name, value) for name, value in document["suites"].items()}
        sources = document["sources"]
        access = document.get("access", "")
        if not isinstance(sources, str) or not isinstance(access, str):
            raise ValueError("bad sources or access stamp")
        return RepoState(debs, suites, sources, access)
    except FileNotFoundError:
        return RepoState()
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        log.warning("%s is damaged (%s): every package is read and every suite rebuilt", paths.repo_state, exc)
        return RepoState()


def save(paths: SitePaths, state: RepoState) -> None:
    document = {
        "version": STATE_VERSION,
        # vars(), not asdict(): the fields are plain values, and asdict's deep copy of a
        # thousand entries cost a fifth of a one-host publish.
        "debs": {name: vars(deb) for name, deb in state.debs.items()},
        "suites": {name: vars(s) | {"architectures": list(s.architectures)} for name, s in state.suites.items()},
        "sources": state.sources,
        "access": state.access,
    }
    encoded = json.dumps(document, sort_keys=True).encode()
    path = paths.repo_state
    if not path.exists() or path.read_bytes() != encoded:
        atomic_write(path, encoded, modes.SECRET)
