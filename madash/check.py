"""What `madash-build check` reports: everything on the site that needs its admin, each with its fix.

Read-only, like `list`: certificates, the CRL, the index, builds.json, file
stats and the repository's state, never a key's or a secret's content. The
order of the findings is the order an admin would work through them: security
first (who can read secrets), then what stops hosts (expiry), then what is
waiting to reach them (bakes and publishes not yet done).
"""

from __future__ import annotations

import datetime as dt
import stat
from dataclasses import asdict, dataclass
from pathlib import Path

from madash import status
from madash.deb.reader import read_deb
from madash.deb.writer import deb_filename
from madash.errors import MadashError
from madash.packages import client
from madash.packages.aptsource import CLIENT_PREFIX
from madash.packages.bake import load_builds
from madash.packages.hostpaths import host_paths
from madash.packages.server import GRAFANA_CERT
from madash.packages.server import PACKAGE as SERVER_PACKAGE
from madash.packages.server import TLS as SERVER_TLS
from madash.pki import supplied
from madash.pki.index import Kind, load_index
from madash.site.access import site_access
from madash.site.config import Site, repo_url

SERVER_CRL = f"{SERVER_TLS}/crl.pem"


@dataclass(frozen=True)
class Finding:
    what: str  # a stable id for scripts: e.g. "crl-expiring", "host-not-baked"
    subject: str  # what it is about: a host, "server", "crl", a path
    message: str
    fix: str  # the command (or action) that deals with it

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def _mtime(path: Path) -> float | None:
    try:
        return path.lstat().st_mtime
    except FileNotFoundError:
        return None


def _shipped(deb: Path, member: str) -> bytes | None:
    """A file as a baked package carries it; None when the package or the file is gone."""
    try:
        found = read_deb(deb).members.get(member)
    except (OSError, MadashError):
        return None
    return found.data if found is not None else None


def _differs(site_file: Path, deb: Path, member: str) -> bool:
    """The site's file is not what the package ships (a renewal or a revocation since the bake)."""
    try:
        current = site_file.read_bytes()
    except FileNotFoundError:
        return False
    shipped = _shipped(deb, member)
    return shipped is not None and shipped != current


def _readable_by_others(site: Site) -> list[Finding]:
    """The site root and every secret: the owner's only (the root and repo/ also the repo group's)."""
    paths = site.paths
    found = []
    allowed_root = site_access(site).root_mode
    info = paths.root.lstat()
    if stat.S_IMODE(info.st_mode) & ~allowed_root & 0o077:
        found.append(
            Finding(
                "site-readable",
                str(paths.root),
                f"the site directory is mode {stat.S_IMODE(info.st_mode):04o}: others can look inside",
                f"chmod {allowed_root:o} {paths.root}",
            )
        )
    secrets = [paths.secrets, paths.ca_key, paths.server_key, paths.grafana_pem, paths.builds]
    if paths.clients.is_dir():
        secrets += sorted(paths.clients.glob("*.key"))
    if paths.repo_key.is_dir():
        secrets += [p for p in sorted(paths.repo_key.rglob("*")) if p.is_file() and p != paths.repo_public_key]
    for path in secrets:
        try:
            mode = stat.S_IMODE(path.lstat().st_mode)
        except FileNotFoundError:
            continue
        if mode & 0o077:
            found.append(
                Finding(
                    "secret-readable",
                    str(path),
                    f"{paths.relative(path)} is mode {mode:04o}: a secret must be readable by its owner only",
                    f"chmod 600 {path}",
                )
            )
    return found


def _expiry(report: status.SiteStatus) -> list[Finding]:
    found = []
    if report.ca.status in ("expiring", "expired"):
        found.append(
            Finding(
                f"ca-{report.ca.status}",
                "ca",
                f"the CA certificate is {report.ca.status} "
                f"({report.ca.not_after}): every certificate of the site dies with it",
                "make a new site with 'madash-build init' before then and move the hosts to it",
            )
        )
    server = report.server
    if server.status != "valid":
        found.append(
            Finding(
                f"server-certificate-{server.status.replace(' ', '-')}",
                "server",
                f"the server certificate is {server.status}" + (f" ({server.not_after})" if server.not_after else ""),
                "madash-build renew --server && madash-build server",
            )
        )
    crl = report.crl
    if crl.status != "valid":
        found.append(
            Finding(
                f"crl-{crl.status}",
                "crl",
                f"the CRL is {crl.status}"
                + (f" (next update {crl.next_update})" if crl.next_update else "")
                + ": the door refuses every host without a current CRL",
                "madash-build server --refresh-crl, then install the new madash-server",
            )
        )
    for host in report.hosts:
        if host.status in ("expiring", "expired"):
            found.append(
                Finding(
                    f"host-certificate-{host.status}",
                    host.name,
                    f"host {host.name}'s certificate is {host.status} ({host.not_after})",
                    f"madash-build renew {host.name} && madash-build client {host.name}",
                )
            )
    return found


def _grafana_certificate(site: Site, now: dt.datetime) -> list[Finding]:
    """The admin's certificate for Grafana's port: valid for the site as it is now, and the one baked."""
    fix = f"obtain a new certificate, then '{supplied.IMPORT}' and 'madash-build server'"
    try:
        pair = supplied.load(site, now)
    except MadashError as exc:
        return [Finding("grafana-certificate-invalid", "grafana", exc.message, fix)]
    warnings = pair.warnings if pair else ()
    found = [Finding("grafana-certificate-expiring", "grafana", warning, fix) for warning in warnings]
    server = load_builds(site).get(SERVER_PACKAGE)
    if server is not None:
        shipped = _shipped(site.paths.dist / deb_filename(SERVER_PACKAGE, server.version), GRAFANA_CERT)
        if (pair.chain_pem if pair else None) != shipped:
            what = "imported or replaced" if pair else "removed"
            found.append(
                Finding(
                    "grafana-certificate-not-baked",
                    "grafana",
                    f"Grafana's certificate was {what} after {SERVER_PACKAGE} {server.version} was baked",
                    "madash-build server, then install the new madash-server",
                )
            )
    return found


def _not_baked(site: Site) -> list[Finding]:
    """Hosts never baked, certificates renewed and a CRL updated since their package was baked."""
    paths, builds, index = site.paths, load_builds(site), load_index(site.paths)
    found = []
    for host in sorted(site.config.hosts):
        name = client.package_name(host)
        build = builds.get(name)
        entry = index.current(Kind.CLIENT, host)
        if entry is not None and entry.revoked_at is not None:
            continue  # a revoked host gets no new package
        if build is None:
            found.append(
                Finding(
                    "host-not-baked",
                    host,
                    f"host {host} is in madash.toml but was never baked",
                    f"madash-build client {host}",
                )
            )
            continue
        deb = paths.dist / deb_filename(name, build.version)
        if _differs(paths.client_cert(host), deb, host_paths(host).cert):
            found.append(
                Finding(
                    "host-renewal-not-baked",
                    host,
                    f"host {host}'s certificate was renewed after its package {build.version} was baked",
                    f"madash-build client {host}",
                )
            )
    server = builds.get(SERVER_PACKAGE)
    if server is None:
        found.append(Finding("server-not-baked", "server", f"{SERVER_PACKAGE} was never baked", "madash-build server"))
    elif _differs(paths.crl, paths.dist / deb_filename(SERVER_PACKAGE, server.version), SERVER_CRL):
        found.append(
            Finding(
                "crl-not-baked",
                "server",
                "the CRL (a revocation or a refresh) differs from the one "
                f"in {SERVER_PACKAGE} {server.version}: the door still admits what it revokes",
                "madash-build server, then install the new madash-server",
            )
        )
    return found


def _repository(site: Site, now: dt.datetime) -> list[Finding]:
    paths = site.paths
    found = []
    # Only once a host is baked: the first client bake makes the key (apt.identity), so a new site lacks none.
    baked = any(name.startswith(CLIENT_PREFIX) for name in load_builds(site))
    if repo_url(site.config) and baked and not paths.repo_public_key.exists():
        found.append(
            Finding(
                "repo-key-missing",
                str(paths.repo_public_key),
                "madash.toml names a repository URL but the site has no repository key: hosts cannot verify it",
                "madash-build repo (it makes the key), then re-bake the hosts",
            )
        )
    published = _mtime(paths.repo_state)
    if published is not None:
        newer = [
            name
            for name, build in sorted(load_builds(site).items())
            if (_mtime(paths.dist / deb_filename(name, build.version)) or 0) > published
        ]
        if newer:
            shown = ", ".join(newer[:5]) + (f" and {len(newer) - 5} more" if len(newer) > 5 else "")
            found.append(
                Finding("not-published", "repo", f"baked after the last publish: {shown}", "madash-build repo")
            )
    for warning in status.repo_warnings(site, now):
        found.append(Finding("repo-signature-expiring", "repo", warning, "madash-build repo"))
    return found


def check(site: Site, now: dt.datetime) -> list[Finding]:
    report = status.site_status(site, now)
    return (
        _readable_by_others(site)
        + _expiry(report)
        + _grafana_certificate(site, now)
        + _not_baked(site)
        + _repository(site, now)
    )
