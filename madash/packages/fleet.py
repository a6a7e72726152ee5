"""`madash-build client`: bring hosts into the inventory, give them certificates, bake their packages.

One host is baked in-process, all or nothing: the new [hosts.HOST] entry, its
first certificate and its package are made in memory and in the site's scratch
space first, and written only once everything has been checked, so a bad
snippet, a wrong passphrase or a read-only dist/ leaves the site as it was.

A fleet (--all) is baked by a pool of worker processes, one per core: each
worker reads the site once, bakes one host at a time and keeps no package in
memory, and only the parent writes builds.json, once, at the end. Certificates
missing in the fleet are issued first, in one batch, so that the index and the
CRL are written once rather than per host.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import as_completed
from dataclasses import dataclass
from pathlib import Path

from madash.deb.writer import deb_filename
from madash.errors import MadashError
from madash.fsutil import site_lock
from madash.packages import client
from madash.packages.aptsource import AptIdentity
from madash.packages.bake import (
    BakeResult,
    Build,
    check_dist,
    install,
    load_builds,
    plan,
    record,
    stage,
)
from madash.pki import store
from madash.pki.index import Index, Kind, load_index
from madash.site import credentials
from madash.site.config import Site, check_features, load_site
from madash.site.inventory import edit_host, write_config
from madash.site.values import check_host_name
from madash.workers import forked_pool


def bake_host(
    site: Site,
    host: str,
    *,
    features: Sequence[str] | None,
    interval: str | None,
    tags: Mapping[str, str] | None,
    passphrase: store.PassphraseSource,
    now: dt.datetime,
    apt: AptIdentity | None,
) -> BakeResult:
    """Update HOST's entry if asked, issue its first certificate if needed, and bake its package."""
    check_host_name(host)
    checked = check_features(features) if features is not None else None
    with site_lock(site.paths.root):
        new_text = None
        if checked is not None or interval is not None or tags is not None or host not in site.config.hosts:
            site, new_text = edit_host(site, host, features=checked, interval=interval, tags=tags)
        index = load_index(site.paths)
        change = None
        leaf = None
        if index.current(Kind.CLIENT, host) is None:
            change = store.prepare_hosts(site, index, [host], passphrase, now)
            index, leaf = change.index, change.leaf(host)
        builds = load_builds(site)
        previous = builds.get(client.package_name(host))
        stamp = client.fingerprint(site, host, index.current(Kind.CLIENT, host), apt)
        inputs = client.gather(site, host, now, apt=apt, index=index, earlier=_earlier(previous), leaf=leaf)
        spec = client.client_spec(inputs)
        build = plan(spec, previous, now, stamp)
        check_dist(site)
        staged = stage(spec, site, build, previous)
        # Everything is checked and built: now change the site, the inventory first.
        if new_text is not None:
            write_config(site, new_text)
        if change is not None:
            store.commit(site, change)
        result = install(staged)
        record(site, builds, [build], [spec.name])
    return result


def _earlier(previous: Build | None) -> tuple[tuple[str, str], ...]:
    return previous.last_shipped() if previous is not None else ()


@dataclass(frozen=True)
class FleetItem:
    host: str
    result: BakeResult | None
    error: str | None  # one line: why this host failed
    build: Build | None = None


@dataclass(frozen=True)
class _WorkerState:
    site: Site
    index: Index
    apt: AptIdentity | None
    secrets: credentials.Credentials  # read once per worker: parsing secrets.toml per host cost a tenth of a bake


# Per worker process: the site and index, read once (see _start_worker).
_worker: _WorkerState | None = None


def _start_worker(root: str, apt: AptIdentity | None) -> None:
    global _worker  # set once by the initializer of each worker process
    site = load_site(Path(root))
    _worker = _WorkerState(site, load_index(site.paths), apt, credentials.load(site.paths))


def _bake_in_worker(host: str, previous: Build | None, stamp: str, now: dt.datetime) -> FleetItem:
    if _worker is None:
        raise RuntimeError("worker started without _start_worker")
    return _bake_one(_worker, host, previous, stamp, now)


def _bake_one(state: _WorkerState, host: str, previous: Build | None, stamp: str, now: dt.datetime) -> FleetItem:
    try:
        inputs = client.gather(
            state.site, host, now, apt=state.apt, index=state.index, earlier=_earlier(previous), secrets=state.secrets
        )
        spec = client.client_spec(inputs)
        build = plan(spec, previous, now, stamp)
        return FleetItem(host, install(stage(spec, state.site, build, previous)), None, build)
    except MadashError as exc:
        return FleetItem(host, None, exc.message)


def _unchanged(
    state: _WorkerState, host: str, previous: Build | None, stamp: str, now: dt.datetime
) -> FleetItem | None:
    """The host's package as it stands, when nothing it is made of has changed."""
    entry = state.index.current(Kind.CLIENT, host)
    if previous is None or previous.inputs != stamp or entry is None or entry.not_after <= now:
        return None  # an expiring certificate must meet gather()'s refusal, not a shortcut
    path = state.site.paths.dist / deb_filename(client.package_name(host), previous.version)
    if not path.exists():
        return None
    return FleetItem(host, BakeResult(client.package_name(host), previous.version, path, changed=False), None, previous)


def bake_all(
    site: Site,
    *,
    passphrase: store.PassphraseSource,
    now: dt.datetime,
    jobs: int | None = None,
    apt: AptIdentity | None,
    report: Callable[[FleetItem], None] = lambda item: None,
) -> list[FleetItem]:
    """Bake every host of madash.toml; a host's failure is reported, the others still bake."""
    hosts = sorted(site.config.hosts)
    with site_lock(site.paths.root):
        check_dist(site)
        index = load_index(site.paths)
        new = [h for h in hosts if index.current(Kind.CLIENT, h) is None]
        if new:
            store.commit(site, store.prepare_hosts(site, index, new, passphrase, now))
            index = load_index(site.paths)
        builds = load_builds(site)
        state = _WorkerState(site, index, apt, credentials.load(site.paths))
        items: list[FleetItem] = []
        todo: list[tuple[str, Build | None, str]] = []
        for host in hosts:
            previous = builds.get(client.package_name(host))
            stamp = client.fingerprint(site, host, index.current(Kind.CLIENT, host), apt)
            unchanged = _unchanged(state, host, previous, stamp, now)
            if unchanged is None:
                todo.append((host, previous, stamp))
            else:
                items.append(unchanged)
                report(unchanged)
        workers = min(jobs or os.cpu_count() or 1, len(todo))
        if workers <= 1:
            for host, previous, stamp in todo:
                item = _bake_one(state, host, previous, stamp, now)
                items.append(item)
                report(item)
        else:
            with forked_pool(workers, _start_worker, (str(site.paths.root), apt)) as pool:
                futures = [pool.submit(_bake_in_worker, host, previous, stamp, now) for host, previous, stamp in todo]
                for future in as_completed(futures):
                    item = future.result()
                    items.append(item)
                    report(item)
        done = [item for item in items if item.result is not None]
        record(site, builds, [item.build for item in done], [item.result.package for item in done if item.result])
    return sorted(items, key=lambda item: item.host)
