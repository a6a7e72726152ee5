"""The chroot test infrastructure itself: tests/chroot.py and the stand-in telegraf package.

InfluxData's telegraf package cannot be downloaded here, so these tests (and
madash's package tests) install tests/standin's package in its place: the same
name, user, paths and unit around the real telegraf binary, built from its Go
module with madash's plugins (scripts/build-telegraf).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.standin import build_standin_telegraf
from tests.telegraf_build import NEWEST, OLDEST

if TYPE_CHECKING:
    # Only for annotations: importing tests.chroot before pytest_plugins loads
    # it would make pytest warn that it cannot rewrite its asserts.
    from tests.chroot import Chroot

# The fixtures (chroot, chroot_tarball) come from tests/chroot.py as a plugin.
pytest_plugins = ["tests.chroot"]
pytestmark = pytest.mark.chroot

EXEC_START = [
    "/usr/bin/telegraf",
    "-config",
    "/etc/telegraf/telegraf.conf",
    "-config-directory",
    "/etc/telegraf/telegraf.d",
]
WANTS_LINK = "/etc/systemd/system/multi-user.target.wants/telegraf.service"


@pytest.fixture(scope="module")
def telegraf_deb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_standin_telegraf(tmp_path_factory.mktemp("standin"))


def _install(chroot: Chroot, deb: Path) -> None:
    chroot.run(["dpkg", "-i", chroot.copy_in(deb)])


def _mounts_under(path: Path) -> list[str]:
    listed = subprocess.run(["findmnt", "--list", "--noheadings", "--output", "TARGET"], capture_output=True, text=True)
    return [line for line in listed.stdout.splitlines() if line.startswith(str(path))]


def test_chroot_is_bookworm_with_clean_environment(chroot: Chroot) -> None:
    assert chroot.read_text("/etc/debian_version").startswith("12.")
    env = chroot.run(["env"]).stdout
    assert "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" in env.splitlines()
    assert "VIRTUAL_ENV" not in env and "PYTEST" not in env
    assert chroot.run(["sh", "-c", "exit 3"], check=False).returncode == 3
    assert chroot.run(["cat"], input="piped").stdout == "piped"


def test_failed_command_reports_its_output(chroot: Chroot) -> None:
    with pytest.raises(subprocess.CalledProcessError) as failed:
        chroot.run(["sh", "-c", "echo visible-on-stderr >&2; exit 4"])
    assert failed.value.returncode == 4
    assert "visible-on-stderr" in str(failed.value)


def test_services_cannot_start_and_systemctl_does_not_fail(chroot: Chroot) -> None:
    # policy-rc.d forbids starts; deb-systemd-invoke honours it.
    invoked = chroot.run(["deb-systemd-invoke", "restart", "systemd-journald.service"])
    assert "policy-rc.d returned 101" in invoked.stderr
    # systemctl must see a chroot (not "System has not been booted with systemd").
    for verb in (["daemon-reload"], ["restart", "telegraf.service"], ["is-active", "telegraf.service"]):
        result = chroot.run(["systemctl", *verb])
        assert "Running in chroot, ignoring command" in result.stderr, result.stderr


def test_no_process_or_mount_outlives_a_command(chroot: Chroot) -> None:
    root = chroot.root
    # A backgrounded daemon dies with the command's PID namespace.
    chroot.run(["sh", "-c", "sleep 600 >/dev/null 2>&1 &"])
    leftovers = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.readlink(f"/proc/{pid}/root").startswith(str(root)):
                leftovers.append(pid)
        except OSError:
            continue
    assert leftovers == []
    assert _mounts_under(root) == []
    chroot.close()  # the fixture's own close afterwards does nothing
    assert not root.exists()
    assert _mounts_under(root) == []


def test_paths_resolve_inside_the_chroot(chroot: Chroot) -> None:
    # An absolute link target is the chroot's, not the host's.
    chroot.run(["ln", "-s", "/etc/debian_version", "/root/version-link"])
    assert chroot.read_text("/root/version-link") == chroot.read_text("/etc/debian_version")
    assert chroot.host_path("/root/../../../etc/passwd") == chroot.root / "etc/passwd"
    assert chroot.stat("/root/version-link", follow_symlinks=False).kind == "symlink"
    assert chroot.stat("/root/version-link").kind == "file"
    listed = chroot.file_list()
    assert "/etc/passwd" in listed and "/usr/bin" in listed
    assert not any(path.startswith(("/proc/", "/var/lib/dpkg/")) for path in listed)


def test_standin_installs_with_user_conffile_and_unit(chroot: Chroot, telegraf_deb: Path) -> None:
    _install(chroot, telegraf_deb)

    passwd = chroot.run(["getent", "passwd", "telegraf"]).stdout.strip().split(":")
    assert passwd[5:] == ["/etc/telegraf", "/bin/false"]
    assert int(passwd[2]) < 1000, "a system user"
    assert chroot.run(["getent", "group", "telegraf"]).stdout.startswith("telegraf:")
    conffiles = chroot.run(["dpkg-query", "-W", "-f=${Conffiles}", "telegraf"]).stdout
    assert "/etc/telegraf/telegraf.conf" in conffiles

    conf = chroot.stat("/etc/telegraf/telegraf.conf")
    assert (conf.kind, conf.mode, conf.owner, conf.group) == ("file", 0o644, "root", "root")
    assert chroot.stat("/etc/telegraf/telegraf.d").kind == "dir"
    assert chroot.stat("/usr/bin/telegraf").mode == 0o755
    assert chroot.stat("/var/log/telegraf").owner == "telegraf"
    assert chroot.exists("/etc/default/telegraf")
    unit = chroot.read_text("/lib/systemd/system/telegraf.service").splitlines()
    for line in (
        "EnvironmentFile=-/etc/default/telegraf",
        "User=telegraf",
        "ExecStart=" + " ".join(EXEC_START) + " $TELEGRAF_OPTS",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "Restart=on-failure",
        "WantedBy=multi-user.target",
    ):
        assert line in unit
    # Enabled as on a real machine, through deb-systemd-helper.
    assert chroot.exists(WANTS_LINK)
    assert chroot.run(["systemctl", "is-enabled", "telegraf.service"]).stdout.strip() == "enabled"
    assert chroot.run(["telegraf", "--version"]).stdout.strip() == f"Telegraf {OLDEST}"


def _measurements(test_output: str) -> set[str]:
    """The measurement names of `telegraf --test`'s "> cpu,cpu=cpu0,host=x usage_idle=..." lines."""
    return {line[2:].split(",", 1)[0].split(" ", 1)[0] for line in test_output.splitlines() if line.startswith("> ")}


def test_standin_test_mode_gathers_from_config_and_directory(chroot: Chroot, telegraf_deb: Path) -> None:
    _install(chroot, telegraf_deb)
    plain = chroot.run(["telegraf", "--test", "-config", "/etc/telegraf/telegraf.conf"])
    assert {"cpu", "mem", "system"} <= _measurements(plain.stdout), plain.stderr

    extra = '[[inputs.x509_cert]]\n  sources = ["/etc/ssl/certs/ca-certificates.crt"]\n'
    chroot.write_text("/etc/telegraf/telegraf.d/extra.conf", extra)
    # As the service would run it, as the telegraf user.
    found = chroot.run(["setpriv", "--reuid=telegraf", "--regid=telegraf", "--clear-groups", *EXEC_START, "--test"])
    assert {"cpu", "x509_cert"} <= _measurements(found.stdout), found.stderr


def test_standin_fails_on_broken_config_naming_the_file(chroot: Chroot, telegraf_deb: Path) -> None:
    _install(chroot, telegraf_deb)
    chroot.write_text("/etc/telegraf/telegraf.d/broken.conf", '[[inputs.cpu]]\n  percpu = "unterminated\n')
    failed = chroot.run([*EXEC_START, "--test"], check=False)
    assert failed.returncode != 0
    assert "/etc/telegraf/telegraf.d/broken.conf" in failed.stderr

    # A custom build: a plugin madash does not configure is not in it, and Telegraf says so.
    chroot.write_text("/etc/telegraf/telegraf.d/broken.conf", "[[inputs.file]]\n  files = []\n")
    unknown = chroot.run([*EXEC_START, "--test"], check=False)
    assert unknown.returncode != 0
    assert "undefined but requested input: file" in unknown.stderr


def test_systemd_analyze_verifies_the_unit(chroot: Chroot, telegraf_deb: Path) -> None:
    _install(chroot, telegraf_deb)
    # Inside the chroot, so that ExecStart's binary and User= are the chroot's.
    verified = chroot.run(["systemd-analyze", "verify", "/lib/systemd/system/telegraf.service"], check=False)
    assert verified.returncode == 0, verified.stderr
    # InfluxData's unit (v1.32.3 and v1.39.3 alike) names ImportCredential=, which systemd 254
    # brought; Debian 12's systemd 252 ignores it with this one warning, and says nothing else.
    known = "/lib/systemd/system/telegraf.service:12: Unknown key 'ImportCredential' in section [Service], ignoring."
    assert verified.stderr.splitlines() == [known], verified.stderr

    # And it does fail when the binary is missing: the check has teeth.
    chroot.run(["mv", "/usr/bin/telegraf", "/usr/bin/telegraf.away"])
    missing = chroot.run(["systemd-analyze", "verify", "/lib/systemd/system/telegraf.service"], check=False)
    assert missing.returncode != 0
    assert "/usr/bin/telegraf" in missing.stderr


def test_purge_leaves_the_file_list_as_before(chroot: Chroot, telegraf_deb: Path) -> None:
    before = chroot.file_list()
    _install(chroot, telegraf_deb)
    installed = chroot.file_list()
    assert {"/etc/telegraf/telegraf.conf", "/usr/bin/telegraf", WANTS_LINK} <= installed

    chroot.run(["dpkg", "--purge", "telegraf"])
    after = chroot.file_list()
    assert after - before == set(), "left behind by purge"
    assert before - after == set(), "removed by purge though not the package's"
    # Like InfluxData's package, the user and group stay.
    assert "telegraf:" in chroot.read_text("/etc/passwd")
    status = chroot.run(["dpkg-query", "-W", "-f=${db:Status-Abbrev}", "telegraf"], check=False)
    assert status.returncode != 0 or status.stdout.startswith("un")


def test_apt_installs_and_dpkg_upgrades_keeping_local_conffile(
    chroot: Chroot, telegraf_deb: Path, tmp_path: Path
) -> None:
    # The package depends on nothing: apt needs no repository, so no network.
    installed = chroot.run(["apt-get", "install", "--yes", chroot.copy_in(telegraf_deb)])
    assert f"Setting up telegraf ({OLDEST}-1)" in installed.stdout
    assert "E:" not in installed.stderr, installed.stderr
    chroot.write_text("/etc/telegraf/telegraf.conf", "[[inputs.mem]]\n[[outputs.file]]\n")

    newer = build_standin_telegraf(tmp_path, version=f"{NEWEST}-1")
    upgraded = chroot.run(["dpkg", "-i", "--force-confdef", "--force-confold", chroot.copy_in(newer)])
    assert f"Unpacking telegraf ({NEWEST}-1) over ({OLDEST}-1)" in upgraded.stdout
    assert chroot.read_text("/etc/telegraf/telegraf.conf") == "[[inputs.mem]]\n[[outputs.file]]\n"
    assert chroot.run(["telegraf", "--version"]).stdout.strip() == f"Telegraf {NEWEST}"
    # Remove (not purge) keeps the conffile and masks nothing that outlives purge.
    chroot.run(["dpkg", "--remove", "telegraf"])
    assert chroot.exists("/etc/telegraf/telegraf.conf")
    assert not chroot.exists("/usr/bin/telegraf")
    chroot.run(["dpkg", "--purge", "telegraf"])
    assert not chroot.exists("/etc/telegraf")


def test_apt_get_installs_from_a_local_repository(chroot: Chroot, telegraf_deb: Path, tmp_path: Path) -> None:
    # The chroot has no sources of its own (make-chroot empties them), so this
    # update reads only the repository copied in: nothing goes to the network.
    assert "deb " not in chroot.read_text("/etc/apt/sources.list")
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / telegraf_deb.name).write_bytes(telegraf_deb.read_bytes())
    index = subprocess.run(["apt-ftparchive", "packages", "."], cwd=repo, capture_output=True, text=True, check=True)
    (repo / "Packages").write_text(index.stdout)
    chroot.copy_in(repo, "/srv/repo")
    chroot.write_text("/etc/apt/sources.list.d/standin.list", "deb [trusted=yes] file:/srv/repo ./\n")

    chroot.run(["apt-get", "update"])
    chroot.run(["apt-get", "install", "--yes", "telegraf"])
    assert chroot.run(["dpkg-query", "-W", "-f=${Version}", "telegraf"]).stdout == f"{OLDEST}-1"


def test_remove_stale_takes_only_abandoned_copies(tmp_path: Path) -> None:
    # Imported here, after pytest_plugins has loaded the module (see the top).
    from tests.chroot import remove_stale

    gone = subprocess.Popen(["true"])
    gone.wait()
    abandoned = tmp_path / f"madash-chroot-{gone.pid}-abc"
    live = tmp_path / f"madash-chroot-{os.getpid()}-def"
    for directory in (abandoned, live):
        (directory / "etc").mkdir(parents=True)
    assert remove_stale(tmp_path) == [abandoned]
    assert live.exists() and not abandoned.exists()
