"""The site's PKI on disk: pki/, its index, the CRL, and the operations that change them.

Every change is prepared in memory first (keys, certificates, the new index and
CRL), so that a wrong passphrase or a bad name changes nothing, and then written
under the site lock in an order that a kill at any moment leaves consistent:
the new certificate and key files into pki/.pending-N/ (N: the change's CRL
number), the CRL, the index, and then the pending files into place. A certificate
file is thus never outside the index (so it can always be revoked), a revocation
is never in the index but missing from the CRL, and a certificate the index names
is never without its files: the next command to take the site lock moves pending
files into place if the index holds change N, and drops them if it does not.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from cryptography import x509

from madash import modes, times
from madash.errors import PKIError, UsageError
from madash.fsutil import after_lock, atomic_write, describe_os_error, make_dir, site_lock, sync_filesystem, write_new
from madash.pki import crypto
from madash.pki.index import Index, IndexEntry, Kind, index_to_json, load_index
from madash.site.config import Site
from madash.site.layout import SitePaths
from madash.site.values import check_host_name

PassphraseSource = Callable[[], bytes | None]
_RESTORE = "restore pki/ from your backup of the site"
log = logging.getLogger(__name__)


# --- reading ---------------------------------------------------------------------


def read_pki_file(paths: SitePaths, path: Path, hint: str = _RESTORE) -> bytes:
    """A file of pki/, or one PKIError (exit 1) that names it: the same for every command."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise PKIError(f"{paths.relative(path)} is missing", hint=hint) from None
    except OSError as exc:
        raise PKIError(f"cannot read {paths.relative(path)}: {exc.strerror}") from None


def load_ca_cert(paths: SitePaths) -> x509.Certificate:
    return crypto.load_cert(read_pki_file(paths, paths.ca_cert), "pki/ca.crt")


@dataclass(frozen=True)
class Authority:
    key: crypto.PrivateKey
    cert: x509.Certificate


def load_authority(paths: SitePaths, passphrase: PassphraseSource) -> Authority:
    cert = load_ca_cert(paths)
    pem = read_pki_file(paths, paths.ca_key)
    secret = passphrase() if crypto.is_encrypted_pem(pem) else None
    key = crypto.load_key(pem, secret, "pki/ca.key")
    if not crypto.key_matches(key, cert):
        raise PKIError("pki/ca.key does not belong to pki/ca.crt", hint=_RESTORE)
    return Authority(key, cert)


@dataclass(frozen=True)
class Leaf:
    """A current, usable certificate with its key, as a package ships them."""

    entry: IndexEntry
    cert_pem: bytes
    key_pem: bytes = field(repr=False)


def load_leaf(paths: SitePaths, index: Index, kind: Kind, name: str, now: dt.datetime) -> Leaf:
    """The server's or a host's certificate and key, checked against the index: one set of errors for all.

    Missing or damaged files, or files that are not what the index names, are PKIError (exit 1);
    a revoked or expired certificate is UsageError (exit 2): baking it would make a package
    the door refuses.
    """
    if kind is Kind.SERVER:
        cert_path, key_path, what, renew = paths.server_cert, paths.server_key, "the server", "renew --server"
    else:
        cert_path, key_path, what, renew = (
            paths.client_cert(name),
            paths.client_key(name),
            f"host {name}",
            f"renew {name}",
        )
    hint = f"'madash-build {renew}' issues a new one"
    entry = index.current(kind, name)
    if entry is None:
        raise PKIError(f"{what} has no certificate yet", hint=hint)
    if entry.revoked_at is not None:
        raise UsageError(
            f"{what}'s certificate is revoked; refusing to bake a package the door would refuse", hint=hint
        )
    cert_pem = read_pki_file(paths, cert_path, hint)
    key_pem = read_pki_file(paths, key_path, hint)
    cert = crypto.load_cert(cert_pem, paths.relative(cert_path))
    if cert.serial_number != entry.serial:
        raise PKIError(f"{paths.relative(cert_path)} is not the certificate the index names", hint=hint)
    if crypto.not_after(cert) <= now:
        raise UsageError(f"{what}'s certificate expired on {crypto.not_after(cert):%Y-%m-%d}", hint=hint)
    key = crypto.load_key(key_pem, None, paths.relative(key_path))
    if not crypto.key_matches(key, cert):
        raise PKIError(f"{paths.relative(key_path)} does not belong to its certificate", hint=hint)
    return Leaf(entry, cert_pem, key_pem)


# --- changing ---------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """A PKI change computed in memory: the new index and CRL, and the files to write."""

    index: Index
    crl: bytes
    files: tuple[tuple[Path, bytes, int], ...] = ()
    entries: tuple[IndexEntry, ...] = ()  # what was issued or revoked

    def __repr__(self) -> str:
        return f"Change(entries={self.entries!r}, <files hidden>)"

    def leaf(self, host: str) -> Leaf:
        """A host's new certificate and key, before they are written."""
        entry = next(e for e in self.entries if e.kind is Kind.CLIENT and e.name == host)
        files = {path.name: data for path, data, _ in self.files}
        return Leaf(entry, files[f"{host}.crt"], files[f"{host}.key"])


def _change(site: Site, authority: Authority, index: Index, now: dt.datetime, **rest: object) -> Change:
    index = replace(index, crl_number=index.crl_number + 1)
    revoked = [crypto.Revocation(e.serial, e.revoked_at) for e in index.entries if e.revoked_at is not None]
    crl = crypto.make_crl(authority.key, authority.cert, revoked, index.crl_number, site.config.pki.crl_days, now)
    return Change(index, crl, **rest)  # type: ignore[arg-type]


PENDING = ".pending-"


def commit(site: Site, change: Change) -> None:
    """Write a prepared change (under the site lock, which the caller holds)."""
    paths = site.paths
    pending = paths.pki / f"{PENDING}{change.index.crl_number}"
    if change.files:
        if pending.exists():
            shutil.rmtree(pending)
        make_dir(pending / "clients", modes.PRIVATE_DIR)
        os.chmod(pending, modes.PRIVATE_DIR)
        # Written in place: pending/ is new and private, and nothing reads it before the sync below.
        for path, data, mode in change.files:
            try:
                write_new(pending / _pki_name(paths, path), data, mode)
            except OSError as exc:
                raise describe_os_error(exc, pending) from exc
        # One sync for all the keys and certificates (a new fleet has two per host), before the index names them.
        sync_filesystem(pending)
    atomic_write(paths.crl, change.crl, modes.FILE)
    atomic_write(paths.index, index_to_json(change.index), modes.FILE)
    if change.files:
        _move_into_place(paths, pending)


def _pki_name(paths: SitePaths, path: Path) -> str:
    """The name of a certificate or key file under pki/, checked: pending names become paths again."""
    name = str(path.relative_to(paths.pki)) if path.is_absolute() else str(path)
    if name in ("server.crt", "server.key"):
        return name
    directory, _, file_name = name.partition("/")
    stem, dot, suffix = file_name.rpartition(".")
    if directory == "clients" and dot and suffix in ("crt", "key"):
        check_host_name(stem)
        return name
    raise PKIError(f"pki/{name} is not a certificate or key file of the site", hint=_RESTORE)


def _move_into_place(paths: SitePaths, pending: Path) -> None:
    """Each file to its place (idempotent: a kill half-way is completed by the next settle)."""
    made: set[Path] = set()  # a fleet's first bake moves two files per host into one directory
    for path in sorted(pending.rglob("*")):
        if not path.is_file() or path.is_symlink():
            continue
        try:
            name = _pki_name(paths, path.relative_to(pending))
        except (PKIError, UsageError):
            continue  # not a name commit() writes (e.g. a temporary file): dropped with the directory
        target = paths.pki / name
        if target.parent not in made:
            make_dir(target.parent, modes.PRIVATE_DIR)
            made.add(target.parent)
        os.replace(path, target)
    shutil.rmtree(pending)


def settle(site_dir: Path) -> None:
    """Complete or drop the pending files of a change a killed command left half-written."""
    paths = SitePaths(site_dir)
    if not paths.pki.is_dir():
        return
    for pending in sorted(paths.pki.glob(f"{PENDING}*")):
        number = pending.name.removeprefix(PENDING)
        real = pending.is_dir() and not pending.is_symlink()
        if real and number.isdigit() and load_index(paths).crl_number == int(number):
            log.warning("completing an interrupted change of pki/ (%s)", pending.name)
            _move_into_place(paths, pending)
            continue
        # Never in the index: files of a certificate nobody could revoke, so they go.
        if real:
            shutil.rmtree(pending)
        else:
            pending.unlink()


after_lock(settle)


def _entry(kind: Kind, name: str, issued: crypto.Issued) -> IndexEntry:
    cert = x509.load_pem_x509_certificate(issued.cert_pem)
    return IndexEntry(issued.serial, kind, name, cert.subject.rfc4514_string(), issued.not_after)


def _client_files(paths: SitePaths, host: str, issued: crypto.Issued) -> tuple[tuple[Path, bytes, int], ...]:
    return (
        (paths.client_key(host), issued.key_pem, modes.SECRET),
        (paths.client_cert(host), issued.cert_pem, modes.FILE),
    )


def prepare_hosts(
    site: Site, index: Index, hosts: Sequence[str], passphrase: PassphraseSource, now: dt.datetime
) -> Change:
    """First certificates for hosts, in memory: a fleet's first bake makes one index write and one CRL."""
    for host in hosts:
        check_host_name(host)
        if index.current(Kind.CLIENT, host) is not None:
            raise UsageError(f"host {host} already has a certificate", hint=f"use 'madash-build renew {host}'")
    authority = load_authority(site.paths, passphrase)
    conf = site.config.pki
    entries: list[IndexEntry] = []
    files: list[tuple[Path, bytes, int]] = []
    for host in hosts:
        issued = crypto.issue_client(authority.key, authority.cert, conf.key_type, host, conf.client_days, now)
        entry = _entry(Kind.CLIENT, host, issued)
        index = index.with_entry(entry)
        entries.append(entry)
        files += _client_files(site.paths, host, issued)
    return _change(site, authority, index, now, files=tuple(files), entries=tuple(entries))


def issue_hosts(site: Site, hosts: Sequence[str], passphrase: PassphraseSource, now: dt.datetime) -> list[IndexEntry]:
    with site_lock(site.paths.root):
        change = prepare_hosts(site, load_index(site.paths), hosts, passphrase, now)
        commit(site, change)
    return list(change.entries)


def issue_host(site: Site, host: str, passphrase: PassphraseSource, now: dt.datetime) -> IndexEntry:
    """Issue the first certificate of a host. Refuses a host that already has one."""
    return issue_hosts(site, [host], passphrase, now)[0]


def _known_host(index: Index, host: str) -> IndexEntry:
    check_host_name(host)
    entry = index.current(Kind.CLIENT, host)
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
                f"host {host}'s certificate is already revoked (since {times.iso(entry.revoked_at)})",
                hint=f"to admit {host} again, use 'madash-build renew {host}'",
            )
        authority = load_authority(site.paths, passphrase)
        commit(site, _change(site, authority, index.revoked(entry.serial, now), now))
        return replace(entry, revoked_at=now)


def renew_host(site: Site, host: str, passphrase: PassphraseSource, now: dt.datetime) -> IndexEntry:
    with site_lock(site.paths.root):
        index = load_index(site.paths)
        old = _known_host(index, host)
        authority = load_authority(site.paths, passphrase)
        if old.revoked_at is None:
            index = index.revoked(old.serial, now)
        conf = site.config.pki
        issued = crypto.issue_client(authority.key, authority.cert, conf.key_type, host, conf.client_days, now)
        entry = _entry(Kind.CLIENT, host, issued)
        files = _client_files(site.paths, host, issued)
        commit(site, _change(site, authority, index.with_entry(entry), now, files=files))
        return entry


def renew_server(site: Site, passphrase: PassphraseSource, now: dt.datetime) -> IndexEntry:
    with site_lock(site.paths.root):
        index = load_index(site.paths)
        authority = load_authority(site.paths, passphrase)
        old = index.current(Kind.SERVER, "server")
        if old is not None and old.revoked_at is None:
            index = index.revoked(old.serial, now)
        conf = site.config.pki
        issued = crypto.issue_server(
            authority.key, authority.cert, conf.key_type, site.config.server.addresses, conf.server_days, now
        )
        entry = _entry(Kind.SERVER, "server", issued)
        files = (
            (site.paths.server_key, issued.key_pem, modes.SECRET),
            (site.paths.server_cert, issued.cert_pem, modes.FILE),
        )
        commit(site, _change(site, authority, index.with_entry(entry), now, files=files))
        return entry


def prepare_refresh(site: Site, passphrase: PassphraseSource, now: dt.datetime) -> Change:
    """A CRL with a fresh nextUpdate, in memory (the caller holds the lock and commits)."""
    return _change(site, load_authority(site.paths, passphrase), load_index(site.paths), now)


def refresh_crl(site: Site, passphrase: PassphraseSource, now: dt.datetime) -> None:
    """Rewrite the CRL with a fresh nextUpdate."""
    with site_lock(site.paths.root):
        commit(site, prepare_refresh(site, passphrase, now))
