"""`madash-build repo`: dist/ → a signed apt repository in repo/, one suite per host.

Layout: dists/host-HOST and pool/host-HOST hold HOST's package and nothing else,
so a web server can authorise each host by its certificate name; dists/server
holds madash-server, whose passwords no host may read, and no host's source
names it; dists/shared holds the toolkit and extra packages. plan.py decides
what changes; this module applies it: sign aside, fill the pool, swap the
changed suites, drop the gone ones, prune the pool. A publish that would change
nothing changes nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from dataclasses import dataclass, replace
from pathlib import Path

from madash.apt import generations, identity, pool, signing
from madash.apt import plan as planning
from madash.apt import state as repo_state
from madash.apt.scan import scan
from madash.apt.suites import is_suite_name
from madash.fsutil import atomic_write, make_dir, site_lock, sync_filesystem
from madash.packages.aptsource import sources_entry
from madash.site.access import secure_root, stamp
from madash.site.config import Site

KEYRING_NAME = "madash-archive-keyring.gpg"


@dataclass(frozen=True)
class PublishResult:
    changed: bool
    suites: dict[str, list[str]]  # suite → "package version" lines
    removed: list[str]


def published_suites(repo_dir: Path) -> set[str]:
    """The suites dists/ holds: only madash's own symlinks with suite names count."""
    try:
        with os.scandir(repo_dir / "dists") as entries:  # each entry's type without a stat
            return {entry.name for entry in entries if entry.is_symlink() and is_suite_name(entry.name)}
    except (FileNotFoundError, NotADirectoryError):
        return set()


def publish(site: Site, now: dt.datetime, jobs: int | None = None) -> PublishResult:
    with site_lock(site.paths.root):
        return _publish(site, now, jobs)


def _publish(site: Site, now: dt.datetime, jobs: int | None) -> PublishResult:
    paths, conf = site.paths, site.config.repo
    access = secure_root(site)
    state = repo_state.load(paths)
    debs, cache = scan(site, state.debs)
    plan = planning.plan(debs, state, published_suites(paths.repo), conf, now)
    access.secret_dir(paths.repo)  # only once there is something to publish; above the pool
    suites = dict(state.suites)
    keep: set[str] = set()
    if plan.stale or plan.gone:
        with signing.signing_key(site) as key:
            # Signed first, aside: a wrong passphrase or a missing gpg stops us before anything
            # a client can see, the pool included, has changed.
            built = generations.build_suites(site, key, {s: plan.packages[s] for s in plan.stale}, now, jobs)
        # Only the suites that change have anything to add to or remove from the pool.
        keep = pool.fill(paths.repo, {s: plan.suites[s] for s in plan.stale}, conf.keep_versions, access)
        generations.swap_suites(paths.repo, {suite: built[suite].generation for suite in sorted(built)})
        suites.update(built)
        for suite in plan.gone:
            generations.drop_suite(paths.repo, suite)
            suites.pop(suite, None)
        keyring = paths.repo / KEYRING_NAME
        public = signing.site_public_key(site)
        if not keyring.exists() or keyring.read_bytes() != public:
            atomic_write(keyring, public)
    sources = _write_sources(site, state.sources)
    removed = pool.prune(paths.repo, keep, plan.stale, plan.gone)
    if state.access != stamp(access):  # a new [repo] group, or a site made before modes were enforced
        pool.secure(paths.repo, paths.dist, access)
    repo_state.save(paths, replace(state, debs=cache, suites=suites, sources=sources, access=stamp(access)))
    return PublishResult(bool(plan.stale or plan.gone or removed), plan.listing(), removed)


def _write_sources(site: Site, stamp: str) -> str:
    """repo/sources/HOST.sources: what each host's apt needs, also shipped in its package."""
    ident = identity.local_identity(site, signing.site_public_key(site))
    new_stamp = hashlib.sha256(repr((ident, sorted(site.config.hosts), site.config.site.name)).encode()).hexdigest()
    sources_dir = site.paths.repo / "sources"
    if new_stamp == stamp and sources_dir.is_dir():
        return stamp
    make_dir(sources_dir)
    for host in sorted(site.config.hosts):
        path = sources_dir / f"{host}.sources"
        entry = sources_entry(ident, site.config.site.name, host).encode()
        if not path.exists() or path.read_bytes() != entry:  # a thousand hosts: write only what changed
            atomic_write(path, entry, sync=False)
    sync_filesystem(sources_dir)  # once for all, before the state records them as written
    return new_stamp
