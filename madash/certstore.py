"""The site's PKI on disk: pki/, its index of every certificate ever issued, the CRL.

Every operation that changes the PKI runs under the site lock, reads the index
afresh, computes every new file in memory, then writes each one atomically and
finishes by rewriting the CRL (an expired or stale CRL locks clients out).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

from cryptography import x509

from madash import pki
from madash.errors import PKIError, UsageError
from madash.fsutil import atomic_write, make_dir, site_lock
from madash.names import check_host_name
from madash.site import Site, SitePaths

PassphraseSource = Callable[[], bytes | None]
INDEX_VERSION = 1
KEY_MODE = 0o600
PUBLIC_MODE = 0o644
PRIVATE_DIR_MODE = 0o700


@dataclass(frozen=True)
class IndexEntry:
    serial: int
    kind: str  # "ca", "server" or "client"
    name: str  # the host for clients, "server" and "ca" otherwise
    subject: str
    not_after: dt.datetime
    revoked_at: dt.datetime | None = None


@dataclass(frozen=True)
class Index:
    entries: tuple[IndexEntry, ...] = ()
    crl_number: int = 0

    @cached_property
    def _newest(self) -> dict[tuple[str, str], IndexEntry]:
        # A fleet asks for a thousand hosts' certificates: one pass, not one per host.
        return {(e.kind, e.name): e for e in self.entries}

    def current(self, kind: str, name: str) -> IndexEntry | None:
        """The newest certificate issued for name (revoked or not)."""
        return self._newest.get((kind, name))

    def hosts(self) -> list[str]:
        return sorted({e.name for e in self.entries if e.kind == "client"})

    def with_entry(self, entry: IndexEntry) -> Index:
        return replace(self, entries=(*self.entries, entry))

    def revoked(self, serial: int, when: dt.datetime) -> Index:
        entries = tuple(replace(e, revoked_at=when) if e.serial == serial else e for e in self.entries)
        return replace(self, entries=entries)


# --- index (de)serialization -------------------------------------------------


def _time(value: dt.datetime) -> str:
    return value.astimezone(pki.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(value: str) -> dt.datetime:
    return dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=pki.UTC)


def index_to_json(index: Index) -> bytes:
    entries = [
        {
            "serial": format(e.serial, "x"),
            "kind": e.kind,
            "name": e.name,
            "subject": e.subject,
            "not_after": _time(e.not_after),
            "revoked_at": _time(e.revoked_at) if e.revoked_at else None,
        }
        for e in index.entries
    ]
    document = {"version": INDEX_VERSION, "crl_number": index.crl_number, "certificates": entries}
    return (json.dumps(document, indent=2) + "\n").encode()


def load_index(paths: SitePaths) -> Index:
    path = paths.pki / "index.json"
    try:
        document = json.loads(path.read_bytes())
        entries = tuple(
            IndexEntry(
                serial=int(item["serial"], 16),
                kind=item["kind"],
                name=item["name"],
                subject=item["subject"],
                not_after=_parse_time(item["not_after"]),
                revoked_at=_parse_time(item["revoked_at"]) if item["revoked_at"] else None,
            )
            for item in document["certificates"]
        )
        return Index(entries, int(document["crl_number"]))
    except FileNotFoundError:
        raise PKIError(f"{path} is missing", hint="restore pki/ from your backup of the site") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise PKIError(f"{path} is damaged ({exc})", hint="restore pki/ from your backup of the site") from None


# --- reading the CA ---------------------------------------------------------


@dataclass(frozen=True)
class Authority:
    key: pki.PrivateKey
    cert: x509.Certificate
    encrypted_key_pem: bytes | None  # kept so a rewrite keeps the passphrase


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise PKIError(f"{what} {path} is missing", hint="restore pki/ from your backup of the site") from None
    except OSError as exc:
        raise PKIError(f"cannot read {path}: {exc.strerror}") from None


def load_ca_cert(paths: SitePaths) -> x509.Certificate:
    return pki.load_cert(_read(paths.pki / "ca.crt", "the CA certificate"), "pki/ca.crt")


def load_authority(paths: SitePaths, passphrase: PassphraseSource) -> Authority:
    cert = load_ca_cert(paths)
    pem = _read(paths.pki / "ca.key", "the CA key")
    secret = passphrase() if pki.is_encrypted_pem(pem) else None
    key = pki.load_key(pem, secret, "pki/ca.key")
    if not pki.key_matches(key, cert):
        raise PKIError("pki/ca.key does not belong to pki/ca.crt", hint="restore pki/ from your backup of the site")
    return Authority(key, cert, pem if secret else None)


# --- operations -------------------------------------------------------------


def _entry(kind: str, name: str, issued: pki.Issued) -> IndexEntry:
    cert = x509.load_pem_x509_certificate(issued.cert_pem)
    return IndexEntry(issued.serial, kind, name, cert.subject.rfc4514_string(), issued.not_after)


def _crl_for(site: Site, authority: Authority, index: Index, now: dt.datetime) -> tuple[Index, bytes]:
    index = replace(index, crl_number=index.crl_number + 1)
    revoked = [pki.Revocation(e.serial, e.revoked_at) for e in index.entries if e.revoked_at is not None]
    crl = pki.make_crl(authority.key, authority.cert, revoked, index.crl_number, site.config.pki.crl_days, now)
    return index, crl


def _commit(
    site: Site, authority: Authority, index: Index, now: dt.datetime, files: dict[Path, tuple[bytes, int]]
) -> None:
    """Write new certificate files, then the index and a fresh CRL."""
    index, crl = _crl_for(site, authority, index, now)
    for path, (data, mode) in files.items():
        make_dir(path.parent, PRIVATE_DIR_MODE)
        atomic_write(path, data, mode)
    atomic_write(site.paths.pki / "crl.pem", crl, PUBLIC_MODE)
    atomic_write(site.paths.pki / "index.json", index_to_json(index), PUBLIC_MODE)


def _client_files(paths: SitePaths, host: str, issued: pki.Issued) -> dict[Path, tuple[bytes, int]]:
    return {
        paths.clients / f"{host}.key": (issued.key_pem, KEY_MODE),
        paths.clients / f"{host}.crt": (issued.cert_pem, PUBLIC_MODE),
    }


def issue_host(site: Site, host: str, passphrase: PassphraseSource, now: dt.datetime) -> IndexEntry:
    """Issue the first certificate of a host. Refuses a host that already has one."""
    return issue_hosts(site, [host], passphrase, now)[0]


def issue_hosts(site: Site, hosts: list[str], passphrase: PassphraseSource, now: dt.datetime) -> list[IndexEntry]:
    """Issue first certificates for many hosts with one index write and one CRL: a fleet's first bake."""
    for host in hosts:
        check_host_name(host)
    with site_lock(site.paths.root):
        index = load_index(site.paths)
        for host in hosts:
            if index.current("client", host) is not None:
                raise UsageError(f"host {host} already has a certificate", hint=f"use 'madash-build renew {host}'")
        authority = load_authority(site.paths, passphrase)
        conf = site.config.pki
        entries, files = [], {}
        for host in hosts:
            issued = pki.issue_client(authority.key, authority.cert, conf.key_type, host, conf.client_days, now)
            entry = _entry("client", host, issued)
            index = index.with_entry(entry)
            entries.append(entry)
            files.update(_client_files(site.paths, host, issued))
        _commit(site, authority, index, now, files)
        return entries


def _known_host(index: Index, host: str) -> IndexEntry:
    check_host_name(host)
    entry = index.current("client", host)
    if entry is None:
        known = ", ".join(index.hosts()) or "none yet"
        raise UsageError(f"unknown host {host!r}: no certificate was ever issued for it", hint=f"known hosts: {known}")
    return entry


def revoke_host(site: Site, host: str, passphrase: PassphraseSource, now: dt.datetime) -> IndexEntry:
    with site_lock(site.paths.root):
        index = load_index(site.paths)
        entry = _known_host(index, host)
        if entry.revoked_at is not None:
            raise UsageError(
                f"host {host}'s certificate is already revoked (since {_time(entry.revoked_at)})",
                hint=f"to admit {host} again, use 'madash-build renew {host}'",
            )
        authority = load_authority(site.paths, passphrase)
        _commit(site, authority, index.revoked(entry.serial, now), now, {})
        return replace(entry, revoked_at=now)


def renew_host(site: Site, host: str, passphrase: PassphraseSource, now: dt.datetime) -> IndexEntry:
    with site_lock(site.paths.root):
        index = load_index(site.paths)
        old = _known_host(index, host)
        authority = load_authority(site.paths, passphrase)
        if old.revoked_at is None:
            index = index.revoked(old.serial, now)
        conf = site.config.pki
        issued = pki.issue_client(authority.key, authority.cert, conf.key_type, host, conf.client_days, now)
        entry = _entry("client", host, issued)
        _commit(site, authority, index.with_entry(entry), now, _client_files(site.paths, host, issued))
        return entry


def renew_server(site: Site, passphrase: PassphraseSource, now: dt.datetime) -> IndexEntry:
    with site_lock(site.paths.root):
        index = load_index(site.paths)
        authority = load_authority(site.paths, passphrase)
        old = index.current("server", "server")
        if old is not None and old.revoked_at is None:
            index = index.revoked(old.serial, now)
        conf = site.config.pki
        issued = pki.issue_server(
            authority.key, authority.cert, conf.key_type, site.config.server.addresses, conf.server_days, now
        )
        entry = _entry("server", "server", issued)
        files = {
            site.paths.pki / "server.key": (issued.key_pem, KEY_MODE),
            site.paths.pki / "server.crt": (issued.cert_pem, PUBLIC_MODE),
        }
        _commit(site, authority, index.with_entry(entry), now, files)
        return entry


def refresh_crl(site: Site, passphrase: PassphraseSource, now: dt.datetime) -> None:
    """Rewrite the CRL with a fresh nextUpdate, e.g. before baking a server package."""
    with site_lock(site.paths.root):
        index = load_index(site.paths)
        _commit(site, load_authority(site.paths, passphrase), index, now, {})
