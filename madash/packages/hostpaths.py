"""Where a madash-client-HOST package puts its files on the host.

Nothing madash generates is a conffile: an upgrade never stops at dpkg's conffile
prompt (which aborts a non-interactive upgrade, and which unattended-upgrades
answers by never installing the package), and always installs the new key,
certificate, CRL-bound configuration and snippets. So:

- what is public and the same on every copy of the package (the Telegraf
  configuration, the CA and host certificates) is vendor data in
  /usr/share/PACKAGE (FHS: static, read-only);
- what is secret (the host's key, the writer password, the site's snippets,
  which may carry other credentials) is in /var/lib/PACKAGE, beside the
  package's state: FHS puts data that belongs to one machine there, while /usr
  may be shared between machines or be a read-only image, no place for a
  machine's private key;
- /etc/madash/telegraf.d is the admin's alone: Telegraf reads it last
  (--config-directory), and no package ships a file in it.

Each package has its own directories, so the host swap (one madash-client-*
replacing another) never has two packages own one file.
"""

from __future__ import annotations

from dataclasses import dataclass

from madash.packages.aptsource import CLIENT_PREFIX

PACKAGE_PREFIX = CLIENT_PREFIX  # every client package's name: madash-client-HOST
ETC = "/etc/madash"
# The admin's own Telegraf configuration, read after madash's.
ADMIN_CONFIG_DIR = f"{ETC}/telegraf.d"
# Where versions up to the move kept everything, as conffiles: removed on upgrade with rm_conffile
# (an admin's edit of one is kept as NAME.dpkg-bak, which Telegraf does not read).
LEGACY_TLS_DIR = f"{ETC}/tls"
LEGACY_CONFFILES = (
    f"{ETC}/telegraf.conf",
    f"{ETC}/influxdb-password",
    f"{LEGACY_TLS_DIR}/ca.crt",
    f"{LEGACY_TLS_DIR}/client.crt",
    f"{LEGACY_TLS_DIR}/client.key",
    f"{LEGACY_TLS_DIR}/apt-client.key",
)


@dataclass(frozen=True)
class HostPaths:
    """One host package's paths on the host."""

    package: str

    @property
    def share(self) -> str:
        return f"/usr/share/{self.package}"

    @property
    def private(self) -> str:
        """The package's secrets and its state (groups-added), root-owned: /var/lib/PACKAGE."""
        return f"/var/lib/{self.package}"

    @property
    def config(self) -> str:
        return f"{self.share}/telegraf.conf"

    @property
    def ca(self) -> str:
        return f"{self.share}/tls/ca.crt"

    @property
    def cert(self) -> str:
        return f"{self.share}/tls/client.crt"

    @property
    def key(self) -> str:
        return f"{self.private}/tls/client.key"

    @property
    def apt_key(self) -> str:
        """apt fetches as the _apt user, which may not read Telegraf's copy of the key."""
        return f"{self.private}/tls/apt-client.key"

    @property
    def password(self) -> str:
        return f"{self.private}/influxdb-password"

    @property
    def snippets(self) -> str:
        """The site's snippets (snippets/*.conf, snippets/HOST/*.conf), read before the admin's."""
        return f"{self.private}/telegraf.d"


def host_paths(host: str) -> HostPaths:
    return HostPaths(PACKAGE_PREFIX + host)
