"""madash-client-HOST packages, read back from the built .deb."""

from __future__ import annotations

import datetime as dt
import gzip
import itertools
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import tomlkit

from madash.deb.reader import DebContents, read_deb
from madash.errors import MadashError, UsageError
from madash.formats import systemd
from madash.packages import bake
from madash.packages.client import DROPIN
from madash.packages.client import UNATTENDED_CONF as UNATTENDED
from madash.pki import store as certstore
from madash.site.config import Site, load_site
from tests.conftest import NOW, Result, assert_one_line_error, bake_host, run_cli_read_only, snapshot
from tests.golden import check_golden

Madash = Callable[..., Result]


def secrets_of(site: Site) -> dict[str, str]:
    text = (site.paths.root / "secrets.toml").read_text()
    return {line.split(" = ")[0]: line.split('"')[1] for line in text.splitlines() if " = " in line}


def key_body(path: Path) -> bytes:
    """The base64 body of a PEM key: what a leaked copy would contain, whatever its framing."""
    return b"".join(path.read_bytes().splitlines()[1:-1])


def all_bytes(contents: DebContents) -> bytes:
    return (
        b"\n".join(m.data for m in contents.members.values() if m.data) + "\n".join(contents.scripts.values()).encode()
    )


@pytest.fixture
def laptop(site_dir: Path) -> tuple[Site, bake.BakeResult]:
    result = bake_host(site_dir, "laptop", "smart", "sensors", "docker", "internet")
    return load_site(site_dir), result


def test_package_layout_modes_and_conffiles(laptop: tuple[Site, bake.BakeResult]) -> None:
    _, result = laptop
    contents = read_deb(result.path)
    files = {path: (oct(m.mode), m.owner, m.group) for path, m in contents.members.items() if m.data is not None}
    assert files == {
        "/usr/share/madash-client-laptop/telegraf.conf": ("0o644", "root", "root"),
        "/var/lib/madash-client-laptop/influxdb-password": ("0o600", "root", "root"),
        "/usr/share/madash-client-laptop/tls/ca.crt": ("0o644", "root", "root"),
        "/usr/share/madash-client-laptop/tls/client.crt": ("0o644", "root", "root"),
        "/var/lib/madash-client-laptop/tls/client.key": ("0o600", "root", "root"),
        # The apt source of the server's own repository (repo.serve is on by default), with the host's certificate.
        "/etc/apt/apt.conf.d/51madash-unattended-upgrades": ("0o644", "root", "root"),
        "/etc/apt/apt.conf.d/90madash-client-certificate": ("0o644", "root", "root"),
        "/etc/apt/keyrings/madash.gpg": ("0o644", "root", "root"),
        "/etc/apt/sources.list.d/madash.sources": ("0o644", "root", "root"),
        "/var/lib/madash-client-laptop/tls/apt-client.key": ("0o600", "root", "root"),
        "/etc/sudoers.d/madash-telegraf": ("0o440", "root", "root"),
        "/lib/systemd/system/telegraf.service.d/madash.conf": ("0o644", "root", "root"),
        "/lib/systemd/system/telegraf.service.d/madash-version.conf": ("0o644", "root", "root"),
        "/usr/share/doc/madash-client-laptop/changelog.gz": ("0o644", "root", "root"),
        "/usr/share/doc/madash-client-laptop/copyright": ("0o644", "root", "root"),
        "/usr/share/lintian/overrides/madash-client-laptop": ("0o644", "root", "root"),
    }
    assert all(oct(m.mode) == "0o755" for m in contents.members.values() if m.data is None)
    # The admin's directory, shipped empty, and the one the site's snippets go in.
    assert (
        "/etc/madash/telegraf.d" in contents.members and "/var/lib/madash-client-laptop/telegraf.d" in contents.members
    )
    assert not any(p.startswith("/etc/madash/") and m.data is not None for p, m in contents.members.items())
    # Only what programs read from /etc alone is a conffile (sudoers, apt's files for the server's own
    # repository, on by default): nothing madash renews (key, certificate, config).
    assert sorted(contents.conffiles) == [
        "/etc/apt/apt.conf.d/51madash-unattended-upgrades",
        "/etc/apt/apt.conf.d/90madash-client-certificate",
        "/etc/apt/keyrings/madash.gpg",
        "/etc/apt/sources.list.d/madash.sources",
        "/etc/sudoers.d/madash-telegraf",
    ]
    assert not any(p.startswith("/etc/telegraf/") for p in contents.members), "touches Telegraf's own files"


def test_control_fields(laptop: tuple[Site, bake.BakeResult]) -> None:
    _, result = laptop
    control = read_deb(result.path).control
    assert control["Package"] == "madash-client-laptop"
    assert control["Architecture"] == "all"
    assert control["Depends"] == "telegraf, lm-sensors, passwd, smartmontools, sudo"
    assert control["Recommends"] == "nvme-cli"
    assert control["Provides"] == control["Conflicts"] == "madash-client"
    assert control["Section"] == "admin" and control["Priority"] == "optional"
    assert control["Maintainer"].endswith("<madash@monitoring.invalid>")


def test_carries_only_its_own_secrets(laptop: tuple[Site, bake.BakeResult], site_dir: Path) -> None:
    site, _ = laptop
    other = bake_host(site_dir, "desktop")
    for result, own, foreign in [(laptop[1], "laptop", "desktop"), (other, "desktop", "laptop")]:
        blob = all_bytes(read_deb(result.path)).replace(b"\n", b"")
        assert key_body(site.paths.clients / f"{own}.key") in blob
        for forbidden in (
            site.paths.pki / "ca.key",
            site.paths.pki / "server.key",
            site.paths.clients / f"{foreign}.key",
        ):
            assert key_body(forbidden) not in blob, forbidden
        secrets = secrets_of(site)
        assert secrets["influxdb_writer_password"].encode() in blob
        for name in ("influxdb_admin_password", "influxdb_reader_password", "grafana_admin_password"):
            assert secrets[name].encode() not in blob, name
        config = read_deb(result.path).members[f"/usr/share/madash-client-{own}/telegraf.conf"].data or b""
        assert secrets["influxdb_writer_password"].encode() not in config, "password in the world-readable config"


def test_maintainer_scripts_golden_and_shellcheck(
    laptop: tuple[Site, bake.BakeResult], site_dir: Path, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    guest = bake_host(site_dir, "guest", "vm")  # no smart: its scripts remove the smart sudo rule
    for kind, result in [("client", laptop[1]), ("client-vm", guest)]:
        contents = read_deb(result.path)
        assert set(contents.scripts) == {"preinst", "postinst", "postrm"}
        for name, text in contents.scripts.items():
            check_golden(request, f"{kind}/{name}", text)
            path = tmp_path / f"{kind}.{name}"
            path.write_text(text)
            check = subprocess.run(["shellcheck", "--shell=sh", str(path)], capture_output=True, text=True, check=False)
            assert check.returncode == 0, check.stdout
            assert text.startswith("#!/bin/sh\n") and "\nset -e\n" in text
    control = read_deb(laptop[1].path).control
    check_golden(request, "client/control", "".join(f"{k}: {v}\n" for k, v in control.items() if k != "Version"))


def test_sudoers_and_dropin(
    laptop: tuple[Site, bake.BakeResult], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    _, result = laptop
    members = read_deb(result.path).members
    sudoers = tmp_path / "sudoers"
    sudoers.write_bytes(members["/etc/sudoers.d/madash-telegraf"].data or b"")
    check = subprocess.run(["visudo", "-c", "-f", str(sudoers)], capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    check_golden(request, "client/sudoers", sudoers.read_text())
    dropin = (members["/lib/systemd/system/telegraf.service.d/madash.conf"].data or b"").decode()
    check_golden(request, "client/dropin.conf", dropin)
    # smart: sudo must gain root by its setuid bit, so no NoNewPrivileges; root under sudo keeps what smartctl uses.
    service = dict(systemd.parse(dropin)["Service"])
    assert service["AmbientCapabilities"] == "CAP_NET_RAW" and "NoNewPrivileges" not in service
    assert {"CAP_SETUID", "CAP_SYS_RAWIO", "CAP_NET_RAW"} <= set(service["CapabilityBoundingSet"].split())


def test_dropin_without_sudo_takes_every_privilege_away(site_dir: Path) -> None:
    dropin = read_deb(bake_host(site_dir, "guest", "vm", "docker").path).members[DROPIN].data or b""
    service = systemd.parse(dropin.decode())["Service"]
    assert ("NoNewPrivileges", "yes") in service and ("CapabilityBoundingSet", "CAP_IPC_LOCK") in service
    assert ("SystemCallFilter", "@system-service") in service and ("PrivateDevices", "yes") in service


def test_lintian_is_clean(laptop: tuple[Site, bake.BakeResult], site_dir: Path) -> None:
    vm = bake_host(site_dir, "guest", "vm", "docker")
    for result in (laptop[1], vm):
        check = subprocess.run(
            ["lintian", "--fail-on", "error,warning", "--pedantic", str(result.path)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert check.returncode == 0, check.stdout + check.stderr


def test_same_inputs_same_bytes_changes_higher_version(site_dir: Path) -> None:
    first = bake_host(site_dir, "laptop", "smart")
    data = first.path.read_bytes()
    again = bake_host(site_dir, "laptop", "smart", now=NOW + dt.timedelta(hours=1))
    assert (again.version, again.changed) == (first.version, False)
    first.path.unlink()  # dist/ cleaned: the rebuild is byte-identical
    rebuilt = bake_host(site_dir, "laptop", "smart", now=NOW + dt.timedelta(hours=2))
    assert rebuilt.path.read_bytes() == data and rebuilt.version == first.version
    versions = [first.version]
    steps: list[Callable[[dt.datetime], bake.BakeResult]] = [
        lambda now: bake_host(site_dir, "laptop", "smart", "sensors", now=now),
        lambda now: (
            certstore.renew_host(load_site(site_dir), "laptop", lambda: None, now),
            bake_host(site_dir, "laptop", "smart", "sensors", now=now),
        )[1],
        lambda now: bake_host(site_dir, "laptop", "smart", "sensors", now=now),  # unchanged
    ]
    for step, at in zip(steps, (NOW, NOW, NOW - dt.timedelta(days=1)), strict=True):
        versions.append(step(at).version)  # same or earlier clock: must still go up
    assert versions[3] == versions[2]
    for lower, higher in itertools.pairwise(versions[:3]):
        assert subprocess.run(["dpkg", "--compare-versions", higher, "gt", lower], check=False).returncode == 0, (
            versions
        )


def test_telegraf_tags_metrics_with_the_package_version(site_dir: Path) -> None:
    """The version drop-in names the very package it ships in; telegraf.conf stays the same."""

    def files(result: bake.BakeResult) -> tuple[str, str]:
        members = read_deb(result.path).members
        dropin = members["/lib/systemd/system/telegraf.service.d/madash-version.conf"].data or b""
        return dropin.decode(), (members["/usr/share/madash-client-laptop/telegraf.conf"].data or b"").decode()

    first = bake_host(site_dir, "laptop", "smart")
    second = bake_host(site_dir, "laptop", "smart", "sensors", now=NOW + dt.timedelta(hours=1))
    assert first.version != second.version
    for result in (first, second):
        dropin, config = files(result)
        assignments = [line for line in dropin.splitlines() if not line.startswith("#")]
        assert assignments == ["[Service]", f"Environment=MADASH_PACKAGE=madash-client-laptop={result.version}"]
        assert '  madash_package = "${MADASH_PACKAGE}"' in config.splitlines()
    third = bake_host(site_dir, "laptop", "smart", now=NOW + dt.timedelta(hours=2))
    assert files(third)[1] == files(first)[1], "the configuration changes with the features only"
    assert third.version not in (first.version, second.version)


def test_toolkit_version_change_gives_higher_version(site_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = bake_host(site_dir, "laptop")
    monkeypatch.setattr(bake, "__version__", "99.0")
    second = bake_host(site_dir, "laptop")
    assert second.changed
    assert (
        subprocess.run(["dpkg", "--compare-versions", second.version, "gt", first.version], check=False).returncode == 0
    )


def test_host_entry_keeps_comments(site_dir: Path, madash: Madash) -> None:
    config = site_dir / "madash.toml"
    config.write_text(config.read_text() + "\n# my own note\n[hosts.web]  # the web server\nfeatures = []\n")
    assert madash("--site", site_dir, "client", "web", "--feature", "docker", "--tag", "room=b12").code == 0
    assert madash("--site", site_dir, "client", "laptop", "--feature", "smart").code == 0
    text = config.read_text()
    assert "# my own note" in text and "[hosts.web]  # the web server" in text
    site = load_site(site_dir)
    assert site.config.hosts["web"].features == ("docker",) and site.config.hosts["web"].tags == {"room": "b12"}
    assert site.config.hosts["laptop"].features == ("smart",)
    result = madash("--site", site_dir, "client", "web")  # from the stored entry
    assert result.code == 0 and "(unchanged)" in result.out


def test_client_all(site_dir: Path, madash: Madash) -> None:
    for host in ("a1", "b2"):
        assert madash("--site", site_dir, "client", host).code == 0
    certstore.revoke_host(load_site(site_dir), "a1", lambda: None, NOW)
    result = madash("--site", site_dir, "client", "--all")
    assert result.code == 1
    assert "madash-client-b2" in result.out
    assert "madash-build: error: a1: host a1's certificate is revoked" in result.err
    assert "2 hosts: 0 changed, 1 unchanged, 1 failed" in result.out


# --- bad input --------------------------------------------------------------------------


def dist_state(site_dir: Path) -> list[str]:
    dist = site_dir / "dist"
    return sorted(p.name for p in dist.iterdir()) if dist.exists() else []


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["a_b"], "invalid host name"),
        (["--", "-lead"], "invalid host name"),
        (["x" * 64], "invalid host name"),
        (["laptop", "--feature", "smrt"], "unknown feature 'smrt' (did you mean 'smart'?)"),
        (["laptop", "--feature", "vm", "--feature", "smart"], "a vm has no smart"),
        (["laptop", "--interval", "often"], "must be a duration"),
        (["laptop", "--tag", "no-equals"], "invalid --tag"),
        ([], "either a HOST or --all"),
    ],
)
def test_bad_client_input_changes_nothing(site_dir: Path, madash: Madash, args: list[str], needle: str) -> None:
    before = snapshot(site_dir)
    assert_one_line_error(madash("--site", site_dir, "client", *args), 2, needle)
    assert snapshot(site_dir) == before


def test_revoked_host_is_not_baked(site_dir: Path, madash: Madash) -> None:
    bake_host(site_dir, "laptop")
    assert madash("--site", site_dir, "revoke", "laptop").code == 0
    before = snapshot(site_dir)
    assert_one_line_error(madash("--site", site_dir, "client", "laptop"), 2, "revoked", "renew laptop")
    assert snapshot(site_dir) == before


def test_expired_certificate_is_not_baked(site_dir: Path) -> None:
    bake_host(site_dir, "laptop")
    with pytest.raises(UsageError, match="certificate expired") as info:
        bake_host(site_dir, "laptop", now=NOW + dt.timedelta(days=900))
    assert info.value.hint is not None and "'madash-build renew laptop'" in info.value.hint


def test_broken_snippet_names_file_and_line(site_dir: Path, madash: Madash) -> None:
    (site_dir / "snippets" / "laptop").mkdir(parents=True)
    (site_dir / "snippets" / "all.conf").write_text("[[inputs.exec]]\n  commands = ['true']\n")
    (site_dir / "snippets" / "laptop" / "extra.conf").write_text("[[inputs.file]]\n  files = = 1\n")
    result = madash("--site", site_dir, "client", "laptop")
    assert_one_line_error(result, 2, "snippets/laptop/extra.conf", "line 2")
    assert dist_state(site_dir) == []
    (site_dir / "snippets" / "laptop" / "extra.conf").write_text("[[inputs.file]]\n  files = []\n")
    assert madash("--site", site_dir, "client", "laptop").code == 0
    members = read_deb(next((site_dir / "dist").glob("*.deb"))).members
    snippets = "/var/lib/madash-client-laptop/telegraf.d"
    assert f"{snippets}/site-all.conf" in members and f"{snippets}/host-extra.conf" in members


def test_baking_runs_no_program(site_dir: Path) -> None:
    """The .deb is written in-process: no dpkg-deb (nor anything else) on PATH, and dpkg reads the package."""
    env = {**os.environ, "PATH": "/nonexistent"}
    result = subprocess.run(
        [sys.executable, "-m", "madash.cli", "--site", str(site_dir), "client", "laptop"],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    [deb] = (site_dir / "dist").glob("*.deb")
    field = subprocess.run(["dpkg-deb", "--field", str(deb), "Package"], capture_output=True, text=True, check=True)
    assert field.stdout == "madash-client-laptop\n"


def test_dist_not_writable(site_dir: Path) -> None:
    dist = site_dir / "dist"
    dist.mkdir()
    result = run_cli_read_only(dist, "--site", site_dir, "client", "laptop")
    assert result.returncode == 1, result
    assert result.stderr.startswith(f"madash-build: error: cannot write {dist}"), result.stderr
    assert dist_state(site_dir) == []


def test_interrupted_build_leaves_no_partial_file(site_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from madash.deb import writer as deb

    def failing_write(*args: object, **kwargs: object) -> None:
        raise MadashError("cannot write dist/: disk full")

    monkeypatch.setattr(deb, "package_bytes", failing_write)
    with pytest.raises(MadashError):
        bake_host(site_dir, "laptop")
    assert dist_state(site_dir) == []
    assert (
        "madash-client-laptop" not in (site_dir / "builds.json").read_text()
        if (site_dir / "builds.json").exists()
        else True
    )


def test_a_host_can_opt_out_of_unattended_upgrades(site_dir: Path) -> None:
    """hosts.HOST.unattended_upgrades = false: no Origins-Pattern file, and the next package removes the one an
    earlier version shipped (issue 15, item 4); the changelog says so."""
    first = read_deb(bake_host(site_dir, "laptop").path)
    assert UNATTENDED in first.members and UNATTENDED in first.conffiles
    config = site_dir / "madash.toml"
    document = tomlkit.parse(config.read_text())
    document["hosts"]["laptop"]["unattended_upgrades"] = False
    config.write_text(tomlkit.dumps(document))
    second = read_deb(bake_host(site_dir, "laptop").path)
    assert UNATTENDED not in second.members and UNATTENDED not in second.conffiles
    assert "/etc/apt/sources.list.d/madash.sources" in second.conffiles  # the apt source itself stays
    assert f"rm_conffile {UNATTENDED} " in second.scripts["postinst"]
    changelog = gzip.decompress(second.members["/usr/share/doc/madash-client-laptop/changelog.gz"].data or b"")
    assert b"unattended_upgrades" in changelog, changelog
