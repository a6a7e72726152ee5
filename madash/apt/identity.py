"""The site repository as hosts see it: computed once, under the site lock, before any bake.

Making the signing key is a change of the site, so it happens here and nowhere
else: a fleet's workers only ever receive the finished AptIdentity.
"""

from __future__ import annotations

import urllib.parse

from madash.apt import signing
from madash.apt.suites import SHARED_PACKAGES
from madash.fsutil import site_lock
from madash.packages.aptsource import SHARED_SUITE, AptIdentity
from madash.site.config import Site, repo_url


def _has_shared(site: Site) -> bool:
    """Whether the shared suite exists or will: hosts name it only then."""
    if site.config.repo.extra_packages or (site.paths.repo / "dists" / SHARED_SUITE).exists():
        return True
    dist = site.paths.dist
    return dist.is_dir() and any(p.name.startswith(tuple(f"{n}_" for n in SHARED_PACKAGES)) for p in dist.iterdir())


def identity(site: Site) -> AptIdentity | None:
    """What client packages need of the repository, or None when there is none (no repo.url, no repo.serve)."""
    url = repo_url(site.config)
    if not url:
        return None
    with site_lock(site.paths.root):
        keyring = signing.site_public_key(site)
    parsed = urllib.parse.urlsplit(url)
    https_host = (parsed.hostname or "") if parsed.scheme == "https" else ""
    return AptIdentity(url, keyring, https_host, _has_shared(site))


def local_identity(site: Site, keyring: bytes) -> AptIdentity:
    """The identity repo/sources/ describes: the configured URL, else repo/ itself by file://."""
    url = repo_url(site.config) or f"file://{site.paths.repo}"
    parsed = urllib.parse.urlsplit(url)
    https_host = (parsed.hostname or "") if parsed.scheme == "https" else ""
    return AptIdentity(url, keyring, https_host, _has_shared(site))
