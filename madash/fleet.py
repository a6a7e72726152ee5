"""`madash-build client`: bring hosts into the inventory, give them certificates, bake their packages."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from madash import certstore, client
from madash.bake import BakeResult, bake_package
from madash.certstore import PassphraseSource
from madash.fsutil import site_lock
from madash.inventory import update_host
from madash.names import check_host_name
from madash.site import Site, check_features


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
    if certstore.load_index(site.paths).current("client", host) is None:
        certstore.issue_host(site, host, passphrase, now)
    inputs = client.gather(site, host, now)
    return bake_package(site, client.client_spec(inputs), now)
