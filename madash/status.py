"""What `madash-build list` reports: every certificate's and the CRL's state.

Read-only and free of secrets: it reads certificates, the CRL and the index,
never a key or secrets.toml.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass

from madash import pki
from madash.certstore import IndexEntry, load_ca_cert, load_index
from madash.site import Site

EXPIRY_WARNING = dt.timedelta(days=30)


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

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _stamp(value: dt.datetime) -> str:
    return value.astimezone(pki.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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
        _stamp(pki.not_after(ca_cert)),
        _expiry_state(pki.not_after(ca_cert), now),
    )
    server = _cert_status(index.current("server", "server"), "server", "server", now)
    crl = _crl_status(site, now)
    names = sorted(set(index.hosts()) | set(site.config.hosts))
    hosts = tuple(_cert_status(index.current("client", name), "client", name, now) for name in names)
    warnings = _warnings(ca, server, crl, hosts) + _repo_warnings(site, now)
    return SiteStatus(site.config.site.name, ca, server, crl, hosts, tuple(warnings))


def _repo_warnings(site: Site, now: dt.datetime) -> list[str]:
    """apt refuses a repository whose Release has passed its Valid-Until."""
    release = site.paths.repo / "dists" / "shared" / "Release"
    if not release.exists():
        return []
    for line in release.read_text(encoding="utf-8").splitlines():
        if line.startswith("Valid-Until: "):
            until = dt.datetime.strptime(line.removeprefix("Valid-Until: "), "%a, %d %b %Y %H:%M:%S UTC")
            until = until.replace(tzinfo=pki.UTC)
            # `repo` re-signs once half the validity has passed: from then on, say so.
            due = min(EXPIRY_WARNING, dt.timedelta(days=site.config.repo.valid_days) / 2)
            if until - now <= due:
                state = "expired on" if until <= now else "expire on"
                return [
                    f"the repository's Release files {state} {until:%Y-%m-%d}: run 'madash-build repo' to re-sign them"
                ]
    return []


def _crl_status(site: Site, now: dt.datetime) -> CRLStatus:
    path = site.paths.pki / "crl.pem"
    if not path.exists():
        return CRLStatus(None, "missing", 0)
    crl = pki.load_crl(path.read_bytes(), "pki/crl.pem")
    next_update = pki.next_update(crl)
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
