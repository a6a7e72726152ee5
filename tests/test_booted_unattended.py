"""Unattended upgrades that always finish and always deliver (issue 13, item 6), under real systemd.

Debian's own ``unattended-upgrade`` upgrades the host's package from the site's signed repository, as
apt's daily timer runs it: no terminal, no --force-conf* (it refuses to install a package that would
stop at dpkg's conffile prompt). The host was installed by the toolkit as it was when everything under
/etc/madash was a conffile (tests/old_layout.py), and its admin then edited telegraf.conf and added
a file of their own to /etc/madash/telegraf.d:

- with that layout, a new version is never installed: unattended-upgrade skips it for the prompt;
- the first version of the current layout is installed, with the host's renewed key; once the
  server's new CRL revokes the old certificate, Telegraf writes through the door with the new key,
  and the admin's own file is still read.

The server machine and the repository are tests/test_booted.py's (same stand-ins, same reasons).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from debian_inspector.version import Version

from tests.boot import Machine
from tests.old_layout import old_toolkit, run_old
from tests.standin import build_tree
from tests.test_booted import (
    HOST,
    METRICS_TIMEOUT,
    apt,
    cli,
    counts,
    forget_bootstrap,
    publish,
    server,
    site_dir,
    telegraf_pid,
    trust_repository,
)

pytest_plugins = ["tests.boot"]
pytestmark = pytest.mark.booted
__all__ = ["server", "site_dir"]  # module fixtures of tests/test_booted.py, used here by name

PACKAGE = f"madash-client-{HOST}"
OLD_CONFIG = "/etc/madash/telegraf.conf"
ADMIN_FILE = "/etc/madash/telegraf.d/admin.conf"
# The admin's own input: a file every Debian host has, under a measurement name of its own.
ADMIN_CONF = """\
[[inputs.x509_cert]]
  name_override = "admin_x509"
  sources = ["/etc/ssl/certs/ca-certificates.crt"]
"""
UNATTENDED_LOG = "/var/log/unattended-upgrades/unattended-upgrades.log"


@pytest.fixture(scope="module")
def old_packages(site_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two versions of the host's package baked by the old toolkit, the second with a new tag (so a new
    telegraf.conf). Baked first, before the current toolkit writes builds.json in its newer form."""
    tree = old_toolkit(tmp_path_factory.mktemp("old-toolkit"))
    run_old(tree, "--site", site_dir, "client", HOST)
    first = newest(site_dir, PACKAGE)
    run_old(tree, "--site", site_dir, "client", HOST, "--tag", "stage=two")
    second = newest(site_dir, PACKAGE)
    assert first != second
    return first, second


@pytest.fixture(scope="module")
def host(
    old_packages: tuple[Path, Path], client_machine: Machine, server: Machine, site_dir: Path
) -> Iterator[Machine]:
    """The client machine with the first package of the conffile layout installed, Telegraf writing, and the
    admin's edit and addition in place; the repository offers the second."""
    publish(site_dir, server)
    trust_repository(client_machine, site_dir)
    apt(client_machine, "update")
    apt(client_machine, "install", "telegraf")
    client_machine.run(["dpkg", "-i", client_machine.copy_in(old_packages[0])])
    forget_bootstrap(client_machine)
    client_machine.write_text(OLD_CONFIG, client_machine.read_text(OLD_CONFIG) + "# the admin was here\n")
    client_machine.write_text(ADMIN_FILE, ADMIN_CONF)
    client_machine.run(["systemctl", "restart", "telegraf.service"])
    yield client_machine


def newest(site_dir: Path, package: str) -> Path:
    """The newest version of PACKAGE in dist/, by Debian's ordering (a name sorts 1.1 before 1)."""
    return max((site_dir / "dist").glob(f"{package}_*.deb"), key=lambda p: Version.from_string(p.name.split("_")[1]))


def installed_version(machine: Machine) -> str:
    return machine.run(["dpkg-query", "-W", "-f", "${Version}", PACKAGE]).stdout


def unattended_upgrade(machine: Machine) -> str:
    """apt's daily job, as apt.systemd.daily runs it: the lists updated, then unattended-upgrade."""
    update = apt(machine, "update")
    assert "W:" not in update and "E:" not in update, update
    run = machine.run(["unattended-upgrade", "--verbose"], check=False, timeout=600)
    log = machine.read_text(UNATTENDED_LOG) if machine.exists(UNATTENDED_LOG) else ""
    assert run.returncode == 0, f"unattended-upgrade exited {run.returncode}:\n{run.stdout}{run.stderr}\n{log}"
    return run.stdout + run.stderr


def test_the_conffile_layout_never_delivers_once_the_admin_edited(
    host: Machine, old_packages: tuple[Path, Path]
) -> None:
    """What the issue found: the edited conffile holds every later version back, for good."""
    assert installed_version(host) == old_packages[0].name.split("_")[1]
    out = unattended_upgrade(host)
    assert installed_version(host) == old_packages[0].name.split("_")[1]
    assert f"Package {PACKAGE} has conffile prompt and needs to be upgraded manually" in out, out


def test_the_upgrade_to_the_current_layout_completes_and_delivers(
    host: Machine, site_dir: Path, server: Machine
) -> None:
    """Renewed key, new configuration, unattended; then the server's new CRL revokes the old certificate.

    In the order an admin follows (README, day two): the host fetches its new package with the certificate
    it has, which the repository server admits until the new CRL is installed there."""
    cli(site_dir, "renew", HOST)
    cli(site_dir, "client", HOST, "--tag", "stage=current")
    new = newest(site_dir, PACKAGE).name.split("_")[1]
    publish(site_dir, server)
    pid = telegraf_pid(host)
    upgraded_at = server.run(["date", "+%s"]).stdout.strip()
    out = unattended_upgrade(host)
    cli(site_dir, "server")
    server.run(["dpkg", "-i", server.copy_in(newest(site_dir, "madash-server"))], timeout=120)

    assert installed_version(host) == new, out
    status = host.run(["dpkg-query", "-W", "-f", "${Status}\n${Conffiles}\n", PACKAGE]).stdout
    assert status.startswith("install ok installed\n") and "/etc/madash/" not in status, status
    assert host.run(["dpkg", "--audit"]).stdout == ""
    # The new key is the one installed, the admin's edit is kept aside, their own file is untouched.
    key = f"/var/lib/{PACKAGE}/tls/client.key"
    assert host.read_text(key) == (site_dir / "pki" / "clients" / f"{HOST}.key").read_text()
    assert host.run(["stat", "-c", "%a %U %G", key]).stdout.split() == ["640", "root", "telegraf"]
    assert host.read_text(f"{OLD_CONFIG}.dpkg-bak").endswith("# the admin was here\n")
    assert not host.exists(OLD_CONFIG) and not host.exists("/etc/madash/tls")
    assert host.read_text(ADMIN_FILE) == ADMIN_CONF
    # Telegraf runs on the new files, through the door that now refuses the old certificate.
    assert telegraf_pid(host) not in (0, pid), "Telegraf was not restarted onto the new package"
    host.wait_for(
        "points with the new configuration, written with the new key",
        lambda: counts(server, site_dir, ("cpu",), f"host = '{HOST}' AND stage = 'current'")["cpu"] > 0,
        METRICS_TIMEOUT,
        lambda: host.journal("telegraf.service"),
    )
    host.wait_for(
        "points of the admin's own input",
        lambda: (
            counts(server, site_dir, ("admin_x509",), f"host = '{HOST}' AND time > {upgraded_at}s")["admin_x509"] > 0
        ),
        METRICS_TIMEOUT,
        lambda: host.journal("telegraf.service"),
    )
    # apt itself fetches with the package's new copy of the key (the next daily run works).
    update = apt(host, "update")
    assert "W:" not in update and "E:" not in update, update


def standin_package(tmp_path: Path, name: str) -> Path:
    """An empty package called NAME, for the site's shared suite (madash-build add-package)."""
    tree = tmp_path / name
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / "DEBIAN" / "control").write_text(
        f"Package: {name}\nVersion: 1.0-1\nArchitecture: all\nMaintainer: tests <tests@example.org>\n"
        f"Description: stand-in {name} for the booted tests\n"
    )
    deb = tmp_path / f"{name}.deb"
    build_tree(tree, deb)
    return deb


def test_later_upgrades_deliver_whatever_the_admin_changed(
    host: Machine, site_dir: Path, server: Machine, tmp_path: Path
) -> None:
    """From the current layout on: nothing madash changes is a file the admin edits, so every new version
    arrives, its new Recommends too (issue 15: the smart feature recommends nvme-cli, here a stand-in the
    site publishes in shared); the admin's file in telegraf.d is never touched."""
    host.write_text(ADMIN_FILE, ADMIN_CONF + "# edited again\n")
    cli(site_dir, "add-package", str(standin_package(tmp_path, "nvme-cli")))
    cli(site_dir, "client", HOST, "--feature", "smart", "--tag", "stage=later")
    new = newest(site_dir, PACKAGE).name.split("_")[1]
    publish(site_dir, server)
    unattended_upgrade(host)
    assert installed_version(host) == new
    assert host.run(["dpkg-query", "-W", "-f", "${Status}", "nvme-cli"]).stdout == "install ok installed"
    assert 'stage = "later"' in host.read_text(f"/usr/share/{PACKAGE}/telegraf.conf")
    assert host.read_text(ADMIN_FILE) == ADMIN_CONF + "# edited again\n"
