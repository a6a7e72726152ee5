"""`madash-build init`: a new site directory with its configuration, PKI and secrets.

Everything is made in memory, written into a staging directory inside the site,
then renamed into place with madash.toml last: a site either exists whole or
not at all. With --force, what it replaces is moved aside, never deleted.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from madash import modes, times
from madash.errors import UsageError
from madash.fsutil import atomic_write, describe_os_error, make_dir, site_lock
from madash.pki import crypto
from madash.pki.index import Index, IndexEntry, Kind, index_to_json
from madash.render import render
from madash.site import credentials
from madash.site.config import Site, parse_config
from madash.site.layout import SitePaths
from madash.site.values import check_maintainer, check_server_addresses, check_site_name


def default_site_name(address: str) -> str:
    """The first server address, when it is a valid site name (an IPv6 address is not)."""
    try:
        return check_site_name(address)
    except UsageError:
        return "madash site"


def default_maintainer(site_name: str) -> str:
    """DEBFULLNAME/DEBEMAIL as Debian's tools use them, else an honest placeholder."""
    email = os.environ.get("DEBEMAIL", "").strip()
    name = os.environ.get("DEBFULLNAME", "").strip() or f"{site_name} administrators"
    if "<" in email:
        return email
    return f"{name} <{email or 'madash@monitoring.invalid'}>"


def _addresses(values: Sequence[str]) -> tuple[str, ...]:
    if not values:
        raise UsageError("--server needs at least one address")
    # The model's own rules (a duplicate is refused, not dropped), checked here for a message that names
    # the option; parse_config checks the rendered file again.
    return tuple(address.lower() for address in check_server_addresses(value.strip(" ") for value in values))


def existing_site_files(paths: SitePaths) -> list[Path]:
    return [p for p in (paths.config, paths.pki, paths.secrets) if p.exists() or p.is_symlink()]


def init_site(
    root: Path,
    addresses: Sequence[str],
    name: str | None,
    *,
    force: bool,
    maintainer: str | None = None,
    ca_passphrase: bytes | None,
    now: dt.datetime,
) -> tuple[Site, Path | None]:
    """Create the site; return it and where replaced files were moved (if any)."""
    checked = _addresses(addresses)
    site_name = check_site_name(name if name is not None else default_site_name(checked[0]))
    # --maintainer, else $DEBFULLNAME <$DEBEMAIL>: from the environment, and checked all the same.
    if maintainer is None:
        try:
            maintainer = check_maintainer(default_maintainer(site_name))
        except UsageError as exc:
            raise UsageError(
                exc.message, hint="give --maintainer 'NAME <EMAIL>', or fix $DEBFULLNAME and $DEBEMAIL"
            ) from None
    check_maintainer(maintainer)
    paths = SitePaths(root.resolve())
    # Every value (the default maintainer from $DEBEMAIL too) meets the model's checks before anything is
    # made: a refused init leaves no directory behind.
    text = render(
        "conf/madash.toml.j2",
        {"name": site_name, "maintainer": maintainer, "addresses": checked},
    )
    site = Site(paths, parse_config(text, paths.config))
    if not paths.root.exists():
        make_dir(paths.root, modes.PRIVATE_DIR)
    with site_lock(paths.root):
        existing = existing_site_files(paths)
        if existing and not force:
            raise UsageError(
                f"a site already exists at {paths.root}",
                hint="use --force to replace it (its madash.toml, pki/ and secrets.toml are moved aside, not deleted)",
            )
        # Even when the directory existed (mkdir -p, 0755 by the umask): it is about to hold the CA key.
        make_dir(paths.root, modes.PRIVATE_DIR)
        files = _site_files(site, text, ca_passphrase, now)
        backup = _install(paths, files, existing, now)
    return site, backup


def _site_files(
    site: Site, config_text: str, ca_passphrase: bytes | None, now: dt.datetime
) -> dict[str, tuple[bytes, int]]:
    conf = site.config.pki
    ca_key, ca_cert = crypto.make_ca(site.config.site.name, conf.key_type, conf.ca_days, now)
    server = crypto.issue_server(ca_key, ca_cert, conf.key_type, site.config.server.addresses, conf.server_days, now)
    index = Index(
        (
            IndexEntry(
                ca_cert.serial_number, Kind.CA, "ca", ca_cert.subject.rfc4514_string(), crypto.not_after(ca_cert)
            ),
            IndexEntry(
                server.serial,
                Kind.SERVER,
                "server",
                crypto.load_cert(server.cert_pem, "server certificate").subject.rfc4514_string(),
                server.not_after,
            ),
        ),
        crl_number=1,
    )
    crl = crypto.make_crl(ca_key, ca_cert, [], index.crl_number, conf.crl_days, now)
    return {
        "pki/ca.crt": (crypto.cert_pem(ca_cert), modes.FILE),
        "pki/ca.key": (crypto.key_to_pem(ca_key, ca_passphrase), modes.SECRET),
        "pki/server.crt": (server.cert_pem, modes.FILE),
        "pki/server.key": (server.key_pem, modes.SECRET),
        "pki/crl.pem": (crl, modes.FILE),
        "pki/index.json": (index_to_json(index), modes.FILE),
        "secrets.toml": (credentials.to_toml(credentials.generate()), modes.SECRET),
        "madash.toml": (config_text.encode(), modes.FILE),
    }


def _install(
    paths: SitePaths, files: dict[str, tuple[bytes, int]], existing: list[Path], now: dt.datetime
) -> Path | None:
    try:
        staging = Path(tempfile.mkdtemp(prefix=".init-", dir=paths.root))
    except OSError as exc:
        raise describe_os_error(exc, paths.root) from exc
    try:
        make_dir(staging / "pki" / "clients", modes.PRIVATE_DIR)
        os.chmod(staging / "pki", modes.PRIVATE_DIR)
        for relative, (data, mode) in files.items():
            atomic_write(staging / relative, data, mode)
        backup = None
        if existing:
            backup = paths.root / f"replaced-{times.backup_stamp(now)}"
            make_dir(backup, modes.PRIVATE_DIR)
            for path in existing:
                os.rename(path, backup / path.name)
        # madash.toml last: its presence is what makes the directory a site.
        for name in ("pki", "secrets.toml", "madash.toml"):
            os.rename(staging / name, paths.root / name)
        return backup
    except OSError as exc:
        raise describe_os_error(exc, paths.root) from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
