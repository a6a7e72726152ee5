"""A client package's life on a real Debian 12 system: install, upgrade, remove, purge.

Real dpkg, sudo, systemd-analyze and adduser inside an mmdebstrap chroot. InfluxData's
telegraf package cannot be had here (its repository is out of reach), so the
package from tests/standin takes its place: same name, user, paths and unit, around
the real telegraf binary built with madash's plugins (scripts/build-telegraf).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.conftest import bake_host
from tests.standin import build_standin_telegraf

if TYPE_CHECKING:
    from tests.chroot import Chroot

pytest_plugins = ["tests.chroot"]
pytestmark = pytest.mark.chroot
# What dpkg tells a maintainer script; dpkg-maintscript-helper needs it when a test runs one again.
DPKG_ENV = {"DPKG_MAINTSCRIPT_PACKAGE": "madash-client-laptop", "DPKG_MAINTSCRIPT_NAME": "postinst"}

KEY = "/etc/madash/tls/client.key"
DROPIN = "/lib/systemd/system/telegraf.service.d/madash.conf"
SMARTCTL_BRIEF = [
    "/usr/sbin/smartctl", "--info", "--health", "--attributes", "--tolerance=verypermissive",
    "-n", "standby", "--format=brief",
]  # fmt: skip


def bake(site_dir: Path, host: str, *features: str) -> Path:
    return bake_host(site_dir, host, *features).path


@pytest.fixture
def telegraf_installed(chroot: Chroot, tmp_path: Path) -> Chroot:
    deb = chroot.copy_in(build_standin_telegraf(tmp_path))
    chroot.run(["dpkg", "-i", deb])
    chroot.run(["groupadd", "--system", "docker"])  # as docker.io would
    return chroot


def groups_of(chroot: Chroot, user: str) -> set[str]:
    return set(chroot.run(["id", "-nG", user]).stdout.split())


def sudo_allows(chroot: Chroot, *command: str) -> bool:
    return chroot.run(["sudo", "-l", "-U", "telegraf", *command], check=False).returncode == 0


def test_install_upgrade_remove_purge(telegraf_installed: Chroot, site_dir: Path) -> None:
    chroot = telegraf_installed
    stock_config = chroot.read_text("/etc/telegraf/telegraf.conf")
    before = chroot.file_list()

    snippet = site_dir / "snippets" / "laptop" / "extra.conf"
    snippet.parent.mkdir(parents=True)
    snippet.write_text('[[inputs.x509_cert]]\n  sources = ["/etc/madash/tls/client.crt"]\n')
    first = chroot.copy_in(bake(site_dir, "laptop", "smart", "docker", "internet"))
    chroot.run(["dpkg", "-i", first])
    assert chroot.exists("/etc/madash/telegraf.d/host-extra.conf")

    key = chroot.stat(KEY)
    assert (oct(key.mode), key.owner, key.group) == ("0o640", "root", "telegraf")
    env = chroot.stat("/etc/madash/telegraf.env")
    assert (oct(env.mode), env.owner, env.group) == ("0o600", "root", "root")
    assert chroot.run(["runuser", "-u", "telegraf", "--", "cat", KEY], check=False).returncode == 0
    assert (
        chroot.run(["runuser", "-u", "telegraf", "--", "cat", "/etc/madash/telegraf.env"], check=False).returncode != 0
    )
    assert chroot.run(["runuser", "-u", "nobody", "--", "cat", KEY], check=False).returncode != 0
    assert chroot.read_text("/etc/telegraf/telegraf.conf") == stock_config
    assert "docker" in groups_of(chroot, "telegraf")

    # systemd accepts telegraf.service with madash's drop-in, and the ExecStart it
    # sets up loads: real Telegraf reads madash's configuration and the snippet as the
    # telegraf user and initialises every plugin (config check gathers nothing, so the
    # internet probes contact no one).
    chroot.run(["systemd-analyze", "verify", "telegraf.service"])
    dropin = chroot.read_text(DROPIN)
    exec_start = next(line for line in dropin.splitlines() if line.startswith("ExecStart=/"))
    argv = exec_start.removeprefix("ExecStart=").replace(" $TELEGRAF_OPTS", "").split()
    checked = chroot.run(["runuser", "-u", "telegraf", "--", argv[0], "config", "check", *argv[1:]])
    assert "Loading config: /etc/madash/telegraf.d/host-extra.conf" in checked.stderr, checked.stderr
    assert " E! " not in checked.stderr, checked.stderr

    # sudo: exactly the smartctl commands of Telegraf's smart input, nothing else.
    chroot.run(["visudo", "-c"])
    assert sudo_allows(chroot, "/usr/sbin/smartctl", "--scan")
    assert sudo_allows(chroot, *SMARTCTL_BRIEF, "/dev/sda")
    assert sudo_allows(chroot, *SMARTCTL_BRIEF, "/dev/nvme0n1")
    assert not sudo_allows(chroot, *SMARTCTL_BRIEF, "/dev/sda", "-s", "off")
    assert not sudo_allows(chroot, "/usr/sbin/smartctl", "-s", "off", "/dev/sda")
    assert not sudo_allows(chroot, "/bin/sh")

    # configure may run twice.
    postinst = "/var/lib/dpkg/info/madash-client-laptop.postinst"
    chroot.run([postinst, "configure", "0"], env=DPKG_ENV)
    assert chroot.stat(KEY).group == "telegraf" and "docker" in groups_of(chroot, "telegraf")

    # Upgrade to other features, with an admin's edit of the Telegraf configuration.
    chroot.write_text("/etc/madash/telegraf.conf", chroot.read_text("/etc/madash/telegraf.conf") + "# admin was here\n")
    snippet.unlink()  # the site drops the snippet: the upgrade must take it away too
    second = chroot.copy_in(bake(site_dir, "laptop", "sensors"))
    chroot.run(["dpkg", "--force-confold", "-i", second])
    assert chroot.read_text("/etc/madash/telegraf.conf").endswith("# admin was here\n")
    assert "[[inputs.sensors]]" in chroot.read_text("/etc/madash/telegraf.conf.dpkg-dist")
    assert not chroot.exists("/etc/sudoers.d/madash-telegraf"), "the smart feature's sudo rule outlived it"
    assert not chroot.exists("/etc/madash/telegraf.d/host-extra.conf"), "a dropped snippet outlived it"
    assert not sudo_allows(chroot, "/usr/sbin/smartctl", "--scan")
    assert "docker" not in groups_of(chroot, "telegraf"), "the docker feature's group outlived it"
    assert "CAP_NET_RAW" not in chroot.read_text(DROPIN)
    assert chroot.stat(KEY).group == "telegraf"
    version = chroot.run(["dpkg-query", "-W", "-f", "${Version}", "madash-client-laptop"]).stdout
    assert version == Path(second).name.split("_")[1]

    # Remove: Telegraf is stock again; the conffiles stay until purge, as dpkg does.
    chroot.run(["dpkg", "-r", "madash-client-laptop"])
    assert not chroot.exists(DROPIN)
    chroot.run(["systemd-analyze", "verify", "telegraf.service"])
    assert chroot.exists("/etc/madash/telegraf.conf")

    chroot.run(["dpkg", "-P", "madash-client-laptop"])
    assert chroot.file_list() == before
    assert chroot.read_text("/etc/telegraf/telegraf.conf") == stock_config


def test_purge_takes_back_only_what_it_added(telegraf_installed: Chroot, site_dir: Path) -> None:
    chroot = telegraf_installed
    chroot.run(["groupadd", "--system", "monitoring"])
    chroot.run(["adduser", "--quiet", "telegraf", "monitoring"])  # the admin's own choice
    before = chroot.file_list()
    chroot.run(["dpkg", "-i", chroot.copy_in(bake(site_dir, "laptop", "docker"))])
    assert {"docker", "monitoring"} <= groups_of(chroot, "telegraf")
    chroot.run(["dpkg", "-P", "madash-client-laptop"])
    assert "docker" not in groups_of(chroot, "telegraf")
    assert "monitoring" in groups_of(chroot, "telegraf")
    assert chroot.file_list() == before


def test_one_site_identity_per_machine(telegraf_installed: Chroot, site_dir: Path) -> None:
    chroot = telegraf_installed
    chroot.run(["dpkg", "-i", chroot.copy_in(bake(site_dir, "laptop"))])
    refused = chroot.run(["dpkg", "-i", chroot.copy_in(bake(site_dir, "desktop"))], check=False)
    assert refused.returncode != 0
    assert "conflicts with madash-client" in refused.stderr
    status = chroot.run(["dpkg-query", "-W", "-f", "${Status}", "madash-client-laptop"]).stdout
    assert status == "install ok installed"
    assert chroot.read_text("/etc/madash/tls/client.crt") == (site_dir / "pki" / "clients" / "laptop.crt").read_text()
