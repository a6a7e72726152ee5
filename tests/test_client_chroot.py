"""A client package's life on a real Debian 12 system: install, upgrade, remove, purge.

Real dpkg, sudo, systemd-analyze and adduser inside an mmdebstrap chroot. InfluxData's
telegraf package cannot be had here (its repository is out of reach), so the
package from tests/standin takes its place: same name, user, paths and unit, around
the real telegraf binary built with madash's plugins (scripts/build-telegraf).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.conftest import bake_host
from tests.old_layout import old_toolkit, run_old
from tests.standin import build_standin_telegraf

if TYPE_CHECKING:
    from tests.chroot import Chroot

pytest_plugins = ["tests.chroot"]
pytestmark = pytest.mark.chroot
# What dpkg tells a maintainer script; dpkg-maintscript-helper needs it when a test runs one again.
DPKG_ENV = {"DPKG_MAINTSCRIPT_PACKAGE": "madash-client-laptop", "DPKG_MAINTSCRIPT_NAME": "postinst"}

KEY = "/var/lib/madash-client-laptop/tls/client.key"
PASSWORD = "/var/lib/madash-client-laptop/influxdb-password"
CONFIG = "/usr/share/madash-client-laptop/telegraf.conf"
SNIPPETS = "/var/lib/madash-client-laptop/telegraf.d"
DROPIN = "/lib/systemd/system/telegraf.service.d/madash.conf"
# An admin's own addition, in the directory the package keeps for it.
ADMIN_CONF = (
    '[[inputs.x509_cert]]\n  name_override = "admin"\n  sources = ["/usr/share/madash-client-laptop/tls/ca.crt"]\n'
)
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


def telegraf_config_check(chroot: Chroot, check: bool = True) -> subprocess.CompletedProcess[str]:
    """``telegraf config check`` with the drop-in's ExecStart, as the telegraf user, with the credentials
    systemd would give it: for each LoadCredential=NAME:PATH a copy only the service's user can read, in
    the directory $CREDENTIALS_DIRECTORY names."""
    dropin = chroot.read_text(DROPIN)
    exec_start = next(line for line in dropin.splitlines() if line.startswith("ExecStart=/"))
    argv = exec_start.removeprefix("ExecStart=").replace(" $TELEGRAF_OPTS", "").split()
    credentials = "/run/credentials/telegraf.service"
    chroot.run(["install", "-d", "-m", "0500", "-o", "telegraf", credentials])
    for line in dropin.splitlines():
        if line.startswith("LoadCredential="):
            name, _, source = line.removeprefix("LoadCredential=").partition(":")
            chroot.run(["install", "-m", "0400", "-o", "telegraf", source, f"{credentials}/{name}"])
    as_service = ["runuser", "-u", "telegraf", "--", "env", f"CREDENTIALS_DIRECTORY={credentials}"]
    return chroot.run([*as_service, argv[0], "config", "check", *argv[1:]], check=check)


def test_install_upgrade_remove_purge(telegraf_installed: Chroot, site_dir: Path) -> None:
    chroot = telegraf_installed
    stock_config = chroot.read_text("/etc/telegraf/telegraf.conf")
    before = chroot.file_list()

    snippet = site_dir / "snippets" / "laptop" / "extra.conf"
    snippet.parent.mkdir(parents=True)
    snippet.write_text('[[inputs.x509_cert]]\n  sources = ["/usr/share/madash-client-laptop/tls/client.crt"]\n')
    first = chroot.copy_in(bake(site_dir, "laptop", "smart", "docker", "internet"))
    chroot.run(["dpkg", "-i", first])
    assert chroot.exists(f"{SNIPPETS}/host-extra.conf")
    # The admin's own addition, in the directory the package keeps for it.
    chroot.write_text("/etc/madash/telegraf.d/admin.conf", ADMIN_CONF)

    key = chroot.stat(KEY)
    assert (oct(key.mode), key.owner, key.group) == ("0o640", "root", "telegraf")
    env = chroot.stat(PASSWORD)
    assert (oct(env.mode), env.owner, env.group) == ("0o600", "root", "root")
    assert chroot.run(["runuser", "-u", "telegraf", "--", "cat", KEY], check=False).returncode == 0
    assert chroot.run(["runuser", "-u", "telegraf", "--", "cat", PASSWORD], check=False).returncode != 0
    assert chroot.run(["runuser", "-u", "nobody", "--", "cat", KEY], check=False).returncode != 0
    assert chroot.read_text("/etc/telegraf/telegraf.conf") == stock_config
    assert "docker" in groups_of(chroot, "telegraf")

    # systemd accepts telegraf.service with madash's drop-in, and the ExecStart it
    # sets up loads: real Telegraf reads madash's configuration and the snippet as the
    # telegraf user and initialises every plugin (config check gathers nothing, so the
    # internet probes contact no one).
    chroot.run(["systemd-analyze", "verify", "telegraf.service"])
    checked = telegraf_config_check(chroot)
    assert f"Loading config: {SNIPPETS}/host-extra.conf" in checked.stderr, checked.stderr
    assert "Loading config: /etc/madash/telegraf.d/admin.conf" in checked.stderr, checked.stderr
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

    # Upgrade to other features, as unattended-upgrades runs dpkg: no terminal, no --force-conf*.
    snippet.unlink()  # the site drops the snippet: the upgrade must take it away too
    second = chroot.copy_in(bake(site_dir, "laptop", "sensors"))
    chroot.run(["dpkg", "-i", second], env={"DEBIAN_FRONTEND": "noninteractive"})
    assert "[[inputs.sensors]]" in chroot.read_text(CONFIG)
    assert chroot.exists("/etc/madash/telegraf.d/admin.conf"), "the admin's addition did not survive"
    assert not chroot.exists("/etc/sudoers.d/madash-telegraf"), "the smart feature's sudo rule outlived it"
    assert not chroot.exists(f"{SNIPPETS}/host-extra.conf"), "a dropped snippet outlived it"
    assert not sudo_allows(chroot, "/usr/sbin/smartctl", "--scan")
    assert "docker" not in groups_of(chroot, "telegraf"), "the docker feature's group outlived it"
    assert "CAP_NET_RAW" not in chroot.read_text(DROPIN)
    assert chroot.stat(KEY).group == "telegraf"
    version = chroot.run(["dpkg-query", "-W", "-f", "${Version}", "madash-client-laptop"]).stdout
    assert version == Path(second).name.split("_")[1]

    # Remove: Telegraf is stock again; madash's files go, the admin's own stay until they remove them.
    chroot.run(["dpkg", "-r", "madash-client-laptop"])
    assert not chroot.exists(DROPIN) and not chroot.exists(CONFIG) and not chroot.exists(KEY)
    chroot.run(["systemd-analyze", "verify", "telegraf.service"])
    assert chroot.exists("/etc/madash/telegraf.d/admin.conf")

    chroot.run(["dpkg", "-P", "madash-client-laptop"])
    assert chroot.file_list() == before | {"/etc/madash", "/etc/madash/telegraf.d", "/etc/madash/telegraf.d/admin.conf"}
    chroot.run(["rm", "-r", "/etc/madash"])
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


def test_the_host_swap_and_the_old_package_s_purge_leave_the_new_one_intact(
    telegraf_installed: Chroot, site_dir: Path
) -> None:
    """One site identity per machine: installing another host's package replaces the first
    (apt resolves Conflicts by removing it first, which is done here by hand: apt cannot install
    a local file inside this chroot; its conffiles stay, Replaces lets the new one take over the
    shared paths), and purging the old one later takes nothing the new one needs, the docker
    membership included. dpkg -i alone refuses the second package."""
    chroot = telegraf_installed
    chroot.run(["dpkg", "-i", chroot.copy_in(bake(site_dir, "laptop", "docker"))])
    desktop_deb = chroot.copy_in(bake(site_dir, "desktop", "docker"))
    refused = chroot.run(["dpkg", "-i", desktop_deb], check=False)
    assert refused.returncode != 0 and "conflicts with madash-client" in refused.stderr
    chroot.run(["dpkg", "-r", "madash-client-laptop"])
    chroot.run(["dpkg", "-i", desktop_deb])
    laptop = chroot.run(["dpkg-query", "-W", "-f", "${Status}", "madash-client-laptop"]).stdout
    assert laptop == "deinstall ok config-files"
    desktop = chroot.run(["dpkg-query", "-W", "-f", "${Status}", "madash-client-desktop"]).stdout
    assert desktop == "install ok installed"
    chroot.run(["dpkg", "-P", "madash-client-laptop"])
    assert "docker" in groups_of(chroot, "telegraf"), "the old package's purge took the new one's group"
    assert chroot.read_text("/var/lib/madash-client-desktop/groups-added") == "docker\n"
    desktop_cert = "/usr/share/madash-client-desktop/tls/client.crt"
    assert chroot.read_text(desktop_cert) == (site_dir / "pki" / "clients" / "desktop.crt").read_text()
    assert chroot.stat("/var/lib/madash-client-desktop/tls/client.key").group == "telegraf"
    chroot.run(["dpkg", "-P", "madash-client-desktop"])
    assert "docker" not in groups_of(chroot, "telegraf")
    assert not chroot.exists("/var/lib/madash-client-desktop")


def test_configure_without_the_telegraf_user_warns_and_succeeds(chroot: Chroot, site_dir: Path) -> None:
    """A docker group but no telegraf user (Telegraf not installed yet, --force-depends): configure must
    not fail under set -e; it says what to do."""
    chroot.run(["groupadd", "--system", "docker"])
    deb = chroot.copy_in(bake(site_dir, "laptop", "docker"))
    result = chroot.run(["dpkg", "--force-depends", "-i", deb])
    assert "user telegraf does not exist" in result.stderr
    status = chroot.run(["dpkg-query", "-W", "-f", "${Status}", "madash-client-laptop"]).stdout
    assert status == "install ok installed"


def test_an_admins_statoverride_on_the_key_is_kept(telegraf_installed: Chroot, site_dir: Path) -> None:
    chroot = telegraf_installed
    chroot.run(["dpkg-statoverride", "--add", "root", "root", "0600", KEY])
    chroot.run(["dpkg", "-i", chroot.copy_in(bake(site_dir, "laptop"))])
    key = chroot.stat(KEY)
    assert (oct(key.mode), key.owner, key.group) == ("0o600", "root", "root")


def test_the_upgrade_from_the_conffile_layout_runs_unattended_and_keeps_the_admin_s_work(
    telegraf_installed: Chroot, site_dir: Path, tmp_path: Path
) -> None:
    """A host installed when everything was a conffile under /etc/madash, its configuration edited by the
    admin, upgrades as unattended-upgrades runs dpkg (no terminal, no --force-conf*): it completes, the new
    key and configuration are the ones in use, the old conffiles are gone (the edited one kept as .dpkg-bak,
    which Telegraf does not read), and the admin's own file in telegraf.d stays and is read."""
    chroot = telegraf_installed
    tree = old_toolkit(tmp_path / "old")
    snippet = site_dir / "snippets" / "laptop" / "extra.conf"
    snippet.parent.mkdir(parents=True)
    snippet.write_text('[[inputs.x509_cert]]\n  sources = ["/usr/share/madash-client-laptop/tls/ca.crt"]\n')
    run_old(tree, "--site", site_dir, "client", "laptop", "--feature", "smart")
    chroot.run(["dpkg", "-i", chroot.copy_in(next((site_dir / "dist").glob("*.deb")))])
    old_config = "/etc/madash/telegraf.conf"
    edited = chroot.read_text(old_config) + "# admin was here\n"
    chroot.write_text(old_config, edited)
    chroot.write_text("/etc/madash/telegraf.d/admin.conf", ADMIN_CONF)

    run_old(tree, "--site", site_dir, "renew", "laptop")
    deb = chroot.copy_in(bake(site_dir, "laptop", "smart"))
    upgrade = chroot.run(["dpkg", "-i", deb], env={"DEBIAN_FRONTEND": "noninteractive"})
    assert "Saving as /etc/madash/telegraf.conf.dpkg-bak" in upgrade.stdout + upgrade.stderr
    status = chroot.run(["dpkg-query", "-W", "-f", "${Status}\n${Conffiles}", "madash-client-laptop"]).stdout
    assert status.startswith("install ok installed\n"), status
    assert "/etc/madash" not in status, f"an old conffile is still the package's: {status}"
    assert chroot.read_text(f"{old_config}.dpkg-bak") == edited
    for gone in (
        old_config,
        "/etc/madash/tls",
        "/etc/madash/influxdb-password",
        "/etc/madash/telegraf.d/host-extra.conf",
    ):
        assert not chroot.exists(gone), gone
    assert chroot.read_text(KEY) == (site_dir / "pki" / "clients" / "laptop.key").read_text()
    assert chroot.stat(KEY).group == "telegraf"
    assert chroot.exists(f"{SNIPPETS}/host-extra.conf") and chroot.exists("/etc/madash/telegraf.d/admin.conf")
    listed = telegraf_config_check(chroot)
    loaded = [line.split("Loading config: ", 1)[1] for line in listed.stderr.splitlines() if "Loading config: " in line]
    assert loaded == [CONFIG, f"{SNIPPETS}/host-extra.conf", "/etc/madash/telegraf.d/admin.conf"], listed.stderr


def test_a_host_swap_from_the_conffile_layout_names_the_old_package_s_snippets(
    telegraf_installed: Chroot, site_dir: Path, tmp_path: Path
) -> None:
    """The old layout kept a host's snippets as conffiles in the admin's directory: after apt's host
    swap (remove, not purge) they stay, Telegraf reads them, and the new package may not delete another
    package's conffiles. Its configure names each one and the purge that takes it away; once purged,
    configure says nothing."""
    chroot = telegraf_installed
    tree = old_toolkit(tmp_path / "old")
    snippet = site_dir / "snippets" / "laptop" / "extra.conf"
    snippet.parent.mkdir(parents=True)
    snippet.write_text('[[inputs.x509_cert]]\n  sources = ["/etc/ssl/certs/ca-certificates.crt"]\n')
    run_old(tree, "--site", site_dir, "client", "laptop")
    chroot.run(["dpkg", "-i", chroot.copy_in(next((site_dir / "dist").glob("madash-client-laptop_*.deb")))])
    chroot.write_text("/etc/madash/telegraf.d/admin.conf", ADMIN_CONF)
    chroot.run(["dpkg", "-r", "madash-client-laptop"])
    leftover = "/etc/madash/telegraf.d/host-extra.conf"
    assert chroot.exists(leftover)

    desktop = chroot.copy_in(bake(site_dir, "desktop"))
    installed = chroot.run(["dpkg", "-i", desktop])
    warning = (
        f"madash-client-desktop: Telegraf reads {leftover}, a file of the removed package madash-client-laptop;"
        " purge it: dpkg --purge madash-client-laptop"
    )
    assert warning in installed.stderr.splitlines(), installed.stderr
    assert "admin.conf" not in installed.stderr, "the admin's own file is nobody's package's"

    chroot.run(["dpkg", "-P", "madash-client-laptop"])
    assert not chroot.exists(leftover) and chroot.exists("/etc/madash/telegraf.d/admin.conf")
    again = chroot.run(["dpkg", "-i", desktop])
    assert "Telegraf reads" not in again.stderr, again.stderr
