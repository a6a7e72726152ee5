"""What `madash-build list` reports: every certificate's and the CRL's state.

Read-only and free of secrets: it reads certificates, the CRL and the index,
never a key or secrets.toml.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from dataclasses import asdict, dataclass

from cryptography.hazmat.primitives import hashes

from madash import times
from madash.apt import state as repo_state
from madash.pki import crypto
from madash.pki.index import IndexEntry, Kind, load_index
from madash.pki.store import load_ca_cert
from madash.site.config import Site
from madash.times import EXPIRY_WARNING


@dataclass(frozen=True)
class CertStatus:
    kind: str
    name: str
    serial: str | None
    not_after: str | None
    status: str  # valid, expiring, expired, revoked, not issued


@dataclass(frozen=True)
class CRLStatus:
    next_update: str | None
    status: str  # valid, expiring, expired, missing
    revoked: int


@dataclass(frozen=True)
class SiteStatus:
    site: str
    ca: CertStatus
    server: CertStatus
    crl: CRLStatus
    hosts: tuple[CertStatus, ...]
    warnings: tuple[str, ...]
    # What a browser shows for the site CA: compare it before trusting ca.crt.
    ca_sha256: str = ""

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _stamp(value: dt.datetime) -> str:
    return times.iso(value)


def _expiry_state(not_after: dt.datetime, now: dt.datetime) -> str:
    if not_after <= now:
        return "expired"
    if not_after - now <= EXPIRY_WARNING:
        return "expiring"
    return "valid"


def _cert_status(entry: IndexEntry | None, kind: str, name: str, now: dt.datetime) -> CertStatus:
    if entry is None:
        return CertStatus(kind, name, None, None, "not issued")
    state = "revoked" if entry.revoked_at is not None else _expiry_state(entry.not_after, now)
    return CertStatus(kind, name, format(entry.serial, "x"), _stamp(entry.not_after), state)


def site_status(site: Site, now: dt.datetime) -> SiteStatus:
    index = load_index(site.paths)
    ca_cert = load_ca_cert(site.paths)
    ca = CertStatus(
        "ca",
        "ca",
        format(ca_cert.serial_number, "x"),
        _stamp(crypto.not_after(ca_cert)),
        _expiry_state(crypto.not_after(ca_cert), now),
    )
    server = _cert_status(index.current(Kind.SERVER, "server"), "server", "server", now)
    crl = _crl_status(site, now)
    names = sorted(set(index.hosts()) | set(site.config.hosts))
    hosts = tuple(_cert_status(index.current(Kind.CLIENT, name), "client", name, now) for name in names)
    warnings = _warnings(ca, server, crl, hosts) + repo_warnings(site, now)
    fingerprint = ca_cert.fingerprint(hashes.SHA256()).hex(":").upper()
    return SiteStatus(site.config.site.name, ca, server, crl, hosts, tuple(warnings), fingerprint)


def repo_warnings(site: Site, now: dt.datetime) -> list[str]:
    """apt refuses a repository whose Release has passed its Valid-Until: the earliest suite decides."""
    untils = []
    for suite in repo_state.load(site.paths).suites.values():
        if suite.valid_until:
            with contextlib.suppress(ValueError):
                untils.append(times.parse_release_date(suite.valid_until))
    if not untils:
        return []
    until = min(untils)
    # `repo` re-signs once half the validity has passed: from then on, say so.
    due = min(EXPIRY_WARNING, dt.timedelta(days=site.config.repo.valid_days or 1) / 2)
    if until - now > due:
        return []
    state = "expired on" if until <= now else "expire on"
    return [f"the repository's Release files {state} {until:%Y-%m-%d}: run 'madash-build repo' to re-sign them"]


def _crl_status(site: Site, now: dt.datetime) -> CRLStatus:
    path = site.paths.crl
    if not path.exists():
        return CRLStatus(None, "missing", 0)
    crl = crypto.load_crl(path.read_bytes(), "pki/crl.pem")
    next_update = crypto.next_update(crl)
    if next_update is None:
        return CRLStatus(None, "expired", len(list(crl)))
    return CRLStatus(_stamp(next_update), _expiry_state(next_update, now), len(list(crl)))


def _warnings(ca: CertStatus, server: CertStatus, crl: CRLStatus, hosts: tuple[CertStatus, ...]) -> list[str]:
    warnings = []
    if ca.status in ("expiring", "expired"):
        warnings.append(f"the CA certificate is {ca.status} ({ca.not_after}): every certificate dies with it")
    if server.status in ("expiring", "expired", "revoked", "not issued"):
        warnings.append(f"the server certificate is {server.status}: run 'madash-build renew --server'")
    if crl.status in ("expiring", "expired", "missing"):
        warnings.append(
            f"the CRL is {crl.status}"
            + (f" (next update {crl.next_update})" if crl.next_update else "")
            + ": stunnel refuses every client without a current CRL; "
            "run 'madash-build server --refresh-crl' and install the new server package"
        )
    for host in hosts:
        if host.status in ("expiring", "expired"):
            warnings.append(f"host {host.name}'s certificate is {host.status}: run 'madash-build renew {host.name}'")
    return warnings
