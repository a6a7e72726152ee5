"""Where everything lives inside a site directory: the one place that names site files.

Paths built from data (a host's certificate, its snippets) go through a checked
host name first, so no value from madash.toml, the command line or a state file
can point outside the site.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from madash.site.values import check_host_name

CONFIG_NAME = "madash.toml"
LOCK_NAME = ".madash.lock"


@dataclass(frozen=True)
class SitePaths:
    root: Path

    @property
    def config(self) -> Path:
        return self.root / CONFIG_NAME

    @property
    def lock(self) -> Path:
        return self.root / LOCK_NAME

    @property
    def secrets(self) -> Path:
        return self.root / "secrets.toml"

    # --- the PKI ---------------------------------------------------------------

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def clients(self) -> Path:
        return self.pki / "clients"

    @property
    def ca_cert(self) -> Path:
        return self.pki / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.pki / "ca.key"

    @property
    def server_cert(self) -> Path:
        return self.pki / "server.crt"

    @property
    def server_key(self) -> Path:
        return self.pki / "server.key"

    @property
    def crl(self) -> Path:
        return self.pki / "crl.pem"

    @property
    def grafana_pem(self) -> Path:
        """A certificate chain and key the admin supplied for Grafana's port (madash-build grafana-cert)."""
        return self.pki / "grafana.pem"

    @property
    def index(self) -> Path:
        return self.pki / "index.json"

    def client_cert(self, host: str) -> Path:
        return self.clients / f"{check_host_name(host)}.crt"

    def client_key(self, host: str) -> Path:
        return self.clients / f"{check_host_name(host)}.key"

    def relative(self, path: Path) -> str:
        """A site file as messages show it: pki/clients/laptop.key."""
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)

    # --- what the commands make ---------------------------------------------------

    @property
    def snippets(self) -> Path:
        """Extra Telegraf configuration: *.conf for every host, HOST/*.conf for one."""
        return self.root / "snippets"

    def host_snippets(self, host: str) -> Path:
        return self.snippets / check_host_name(host)

    @property
    def builds(self) -> Path:
        """What each package was last built from, and the version it got."""
        return self.root / "builds.json"

    @property
    def repo_key(self) -> Path:
        """The gpg home of the repository's signing key (0700)."""
        return self.root / "repo-key"

    @property
    def repo_public_key(self) -> Path:
        return self.repo_key / "public.gpg"

    @property
    def dist(self) -> Path:
        return self.root / "dist"

    @property
    def repo(self) -> Path:
        return self.root / "repo"

    @property
    def repo_state(self) -> Path:
        """What the last publish read and built: beside repo/, so that no web server serves it."""
        return self.root / ".madash-repo-state.json"
