"""madash-server's life on Debian 12: install, upgrade, remove, purge, in an mmdebstrap chroot.

No container can run in the chroot and no image can be pulled, so stand-in
docker.io and docker-compose packages (tests/standin/docker.py) satisfy the
dependencies; stunnel4 and python3 are Debian's own.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from madash.packages import bake, server
from madash.pki import store as certstore
from madash.pki import supplied
from madash.site.config import load_site
from tests.conftest import NOW
from tests.standin.docker import build_standin_docker
from tests.test_grafana_cert import PublicCA

if TYPE_CHECKING:
    from tests.chroot import Chroot

pytest_plugins = ["tests.chroot"]
pytestmark = pytest.mark.chroot
# What dpkg tells a maintainer script; dpkg-maintscript-helper needs it when a test runs one again.
DPKG_ENV = {"DPKG_MAINTSCRIPT_PACKAGE": "madash-server", "DPKG_MAINTSCRIPT_NAME": "postinst"}
UNITS = ["madash-server.service", "madash-ensure-influxdb.service", "madash-stunnel.service"]
PROBE_CONF = "/etc/madash-server/probe/telegraf.conf"


def bake_server(site_dir: Path) -> Path:
    site = load_site(site_dir)
    return bake.bake_package(site, server.server_spec(server.gather(site, NOW)), NOW).path


def test_install_upgrade_remove_purge(chroot: Chroot, site_dir: Path, tmp_path: Path) -> None:
    for deb in build_standin_docker(tmp_path / "standin"):
        chroot.run(["dpkg", "-i", chroot.copy_in(deb)])
    before = chroot.file_list()

    chroot.run(["dpkg", "-i", chroot.copy_in(bake_server(site_dir))])
    key = chroot.stat("/etc/madash-server/tls/server.key")
    assert (oct(key.mode), key.owner, key.group) == ("0o600", "stunnel4", "stunnel4")
    env = chroot.stat("/etc/madash-server/madash.env")
    assert (oct(env.mode), env.owner) == ("0o600", "root")
    assert chroot.stat("/var/lib/madash/grafana").uid == 472
    assert chroot.exists("/var/lib/madash/influxdb")
    # --man=no: the chroot has no man pages for Documentation=man:stunnel4(8) to point at.
    chroot.run(["systemd-analyze", "verify", "--man=no", *UNITS])
    # The setup of InfluxDB has no [Install]: madash-server.service pulls it in, nothing enables it.
    for unit in ("madash-server.service", "madash-stunnel.service"):
        assert chroot.exists(f"/etc/systemd/system/multi-user.target.wants/{unit}"), f"{unit} is not enabled"
    # Debian's python3 runs the helper: it needs nothing beyond the standard library.
    chroot.run(["/usr/libexec/madash-server/ensure-influxdb", "--help"])
    # stunnel runs as stunnel4 (see madash-stunnel.service) and must read the key; nobody else may.
    key_path = "/etc/madash-server/tls/server.key"
    assert chroot.run(["runuser", "-u", "stunnel4", "--", "cat", key_path], check=False).returncode == 0
    assert chroot.run(["runuser", "-u", "nobody", "--", "cat", key_path], check=False).returncode != 0

    # Data written by the services survives upgrades and removal.
    chroot.write_text("/var/lib/madash/influxdb/marker", "metrics\n")
    # The probe turned off: its configuration goes with the upgrade, as dpkg alone would keep it.
    assert chroot.exists(PROBE_CONF)
    config = site_dir / "madash.toml"
    config.write_text(config.read_text().replace("enabled = true", "enabled = false"))
    certstore.issue_host(load_site(site_dir), "laptop", lambda: None, NOW)
    certstore.revoke_host(load_site(site_dir), "laptop", lambda: None, NOW)
    # An admin's certificate for Grafana's port arrives with the upgrade: its key too is stunnel4's only.
    cert, key_file = PublicCA.make().files(tmp_path / "le", ("monitor.example.org",))
    supplied.import_pair(load_site(site_dir), cert, key_file, NOW)
    upgrade = bake_server(site_dir)
    chroot.run(["dpkg", "-i", chroot.copy_in(upgrade)])
    grafana_key = chroot.stat(server.GRAFANA_KEY)
    assert (oct(grafana_key.mode), grafana_key.owner) == ("0o600", "stunnel4")
    assert chroot.run(["runuser", "-u", "nobody", "--", "cat", server.GRAFANA_KEY], check=False).returncode != 0
    assert chroot.read_text("/etc/madash-server/tls/crl.pem") == (site_dir / "pki" / "crl.pem").read_text()
    assert chroot.read_text("/var/lib/madash/influxdb/marker") == "metrics\n"
    assert not chroot.exists(PROBE_CONF) and not chroot.exists(PROBE_CONF + ".dpkg-bak")
    assert PROBE_CONF not in chroot.run(["dpkg-query", "--showformat=${Conffiles}", "--show", "madash-server"]).stdout
    assert chroot.stat("/etc/madash-server/tls/server.key").owner == "stunnel4"
    chroot.run(["/var/lib/dpkg/info/madash-server.postinst", "configure", "0"], env=DPKG_ENV)  # twice is fine

    chroot.run(["dpkg", "-r", "madash-server"])
    assert chroot.read_text("/var/lib/madash/influxdb/marker") == "metrics\n"
    assert not chroot.exists("/lib/systemd/system/madash-server.service")

    chroot.run(["dpkg", "-P", "madash-server"])
    assert not chroot.exists("/var/lib/madash")
    assert chroot.file_list() == before
