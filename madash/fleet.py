"""`madash-build client`: bring hosts into the inventory, give them certificates, bake their packages.

One host is baked in-process. A fleet (--all) is baked by a pool of worker
processes, one per core: each worker reads the site once, bakes one host at a
time and keeps no package in memory, and only the parent writes builds.json,
once, at the end. Certificates missing in the fleet are issued first, in one
batch, so that the index and the CRL are written once rather than per host.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from madash import certstore, client
from madash.bake import BakeResult, Build, bake, bake_package, load_builds, plan, save_builds
from madash.certstore import Index, PassphraseSource
from madash.deb import deb_filename
from madash.errors import MadashError
from madash.fsutil import site_lock
from madash.inventory import update_host
from madash.names import check_host_name
from madash.site import Site, check_features, load_site


def bake_host(
    site: Site,
    host: str,
    *,
    features: Sequence[str] | None,
    interval: str | None,
    tags: Mapping[str, str] | None,
    passphrase: PassphraseSource,
    now: dt.datetime,
) -> BakeResult:
    """Update HOST's entry if asked, issue its first certificate if needed, and bake its package."""
    check_host_name(host)
    if features is not None:
        check_features(features)
    if features is not None or interval is not None or tags is not None or host not in site.config.hosts:
        with site_lock(site.paths.root):
            site = update_host(site, host, features=features, interval=interval, tags=tags)
    index = certstore.load_index(site.paths)
    if index.current("client", host) is None:
        certstore.issue_host(site, host, passphrase, now)
        index = certstore.load_index(site.paths)
    earlier = _earlier_conffiles(load_builds(site).get(client.package_name(host)))
    # Fingerprinted before gathering: an input that changes meanwhile is seen next time.
    stamp = client.fingerprint(site, host, index.current("client", host))
    inputs = client.gather(site, host, now, index, earlier)
    return bake_package(site, client.client_spec(inputs), now, stamp)


def _earlier_conffiles(previous: Build | None) -> tuple[str, ...]:
    return previous.conffiles if previous is not None else ()


@dataclass(frozen=True)
class FleetItem:
    host: str
    result: BakeResult | None
    error: str | None  # one line: why this host failed
    build: Build | None = None


# Per worker process: the site and index, read once (see _start_worker).
_worker_site: tuple[Site, Index] | None = None


def _start_worker(root: str) -> None:
    global _worker_site  # set once by the initializer of each worker process
    site = load_site(Path(root))
    _worker_site = (site, certstore.load_index(site.paths))


def _bake_in_worker(host: str, previous: Build | None, stamp: str, now: dt.datetime) -> FleetItem:
    if _worker_site is None:
        raise RuntimeError("worker started without _start_worker")
    site, index = _worker_site
    return _bake_one(site, index, host, previous, stamp, now)


def _bake_one(site: Site, index: Index, host: str, previous: Build | None, stamp: str, now: dt.datetime) -> FleetItem:
    try:
        spec = client.client_spec(client.gather(site, host, now, index, _earlier_conffiles(previous)))
        build = plan(spec, previous, now, stamp)
        return FleetItem(host, bake(spec, site, build, previous), None, build)
    except MadashError as exc:
        return FleetItem(host, None, exc.message)


def _unchanged(
    site: Site, index: Index, host: str, previous: Build | None, stamp: str, now: dt.datetime
) -> FleetItem | None:
    """The host's package as it stands, when nothing it is made of has changed."""
    entry = index.current("client", host)
    if previous is None or previous.inputs != stamp or entry is None or entry.not_after <= now:
        return None  # an expiring certificate must meet gather()'s refusal, not a shortcut
    path = site.paths.dist / deb_filename(client.package_name(host), previous.version)
    if not path.exists():
        return None
    return FleetItem(host, BakeResult(client.package_name(host), previous.version, path, changed=False), None, previous)


def bake_all(
    site: Site,
    *,
    passphrase: PassphraseSource,
    now: dt.datetime,
    jobs: int | None = None,
    report: Callable[[FleetItem], None] = lambda item: None,
) -> list[FleetItem]:
    """Bake every host of madash.toml; a host's failure is reported, the others still bake."""
    hosts = sorted(site.config.hosts)
    with site_lock(site.paths.root):
        index = certstore.load_index(site.paths)
        new = [h for h in hosts if index.current("client", h) is None]
    if new:
        certstore.issue_hosts(site, new, passphrase, now)
    with site_lock(site.paths.root):
        builds = load_builds(site)
        index = certstore.load_index(site.paths)
        items: list[FleetItem] = []
        todo: list[tuple[str, Build | None, str]] = []
        for host in hosts:
            previous = builds.get(client.package_name(host))
            stamp = client.fingerprint(site, host, index.current("client", host))
            unchanged = _unchanged(site, index, host, previous, stamp, now)
            if unchanged is None:
                todo.append((host, previous, stamp))
            else:
                items.append(unchanged)
                report(unchanged)
        workers = min(jobs or os.cpu_count() or 1, len(todo))
        if workers <= 1:
            for host, previous, stamp in todo:
                item = _bake_one(site, index, host, previous, stamp, now)
                items.append(item)
                report(item)
        else:
            with ProcessPoolExecutor(workers, initializer=_start_worker, initargs=(str(site.paths.root),)) as pool:
                futures = [pool.submit(_bake_in_worker, host, previous, stamp, now) for host, previous, stamp in todo]
                for future in as_completed(futures):
                    item = future.result()
                    items.append(item)
                    report(item)
        changed = False
        for item in items:
            if item.result is not None and item.build is not None and builds.get(item.result.package) != item.build:
                builds[item.result.package] = item.build
                changed = True
        if changed:
            save_builds(site, builds)
    return sorted(items, key=lambda item: item.host)
