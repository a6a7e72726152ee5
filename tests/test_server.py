"""madash-server packages, read back from the built .deb, and their configuration checked by real tools."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest
import yaml

from madash.deb.reader import DebContents, read_deb
from madash.errors import UsageError
from madash.formats import systemd
from madash.packages import bake, server
from madash.pki import store as certstore
from madash.site.config import load_site
from tests.conftest import NOW, Result, assert_one_line_error, run_cli_read_only, set_repo, snapshot
from tests.golden import check_golden

Madash = Callable[..., Result]
COMPOSE_SCHEMA = Path("/usr/lib/python3/dist-packages/compose/config/compose_spec.json")


def bake_server(site_dir: Path, now: dt.datetime = NOW) -> bake.BakeResult:
    site = load_site(site_dir)
    return bake.bake_package(site, server.server_spec(server.gather(site, now)), now)


@pytest.fixture
def built(site_dir: Path) -> DebContents:
    return read_deb(bake_server(site_dir).path)


def text(contents: DebContents, path: str) -> str:
    return (contents.members[path].data or b"").decode()


def test_layout_modes_conffiles_dependencies(built: DebContents) -> None:
    files = {p: oct(m.mode) for p, m in built.members.items() if m.data is not None}
    assert files["/etc/madash-server/madash.env"] == "0o600"
    assert files["/etc/madash-server/tls/server.key"] == "0o600"
    assert files["/usr/libexec/madash-server/ensure-influxdb"] == "0o755"
    assert files["/usr/libexec/madash-server/compose"] == "0o755"
    assert all(
        mode == "0o644" for p, mode in files.items() if p.endswith((".crt", ".pem", ".yml", ".yaml", ".service"))
    )
    assert set(built.conffiles) == {p for p in files if p.startswith("/etc/")}
    assert {m.owner for m in built.members.values()} == {"root"}
    control = built.control
    # The compose plugin before Debian 12's v1 docker-compose: apt installs the first alternative it can.
    # nginx for the repository server (repo.serve is on by default); adduser makes its user.
    assert control["Depends"] == (
        "docker.io | docker-ce, docker-compose-plugin | docker-compose, stunnel4, python3, procps, nginx, adduser"
    )
    assert control["Package"] == "madash-server" and control["Architecture"] == "all"
    assert "/etc/madash-server/repo-nginx.conf" in built.conffiles
    assert not any(
        p.startswith(("/etc/stunnel/", "/etc/telegraf/", "/etc/madash/", "/etc/nginx/")) for p in built.members
    )


def test_without_serving_no_nginx_and_no_configuration_for_it(site_dir: Path) -> None:
    set_repo(site_dir, serve=False)
    contents = read_deb(bake_server(site_dir, NOW).path)
    assert "nginx" not in contents.control["Depends"]
    assert "/etc/madash-server/repo-nginx.conf" not in contents.members
    # The unit stays, and starts nothing: a restart on upgrade stops the one a serving version started.
    unit = text(contents, "/lib/systemd/system/madash-repo.service")
    assert "ConditionPathExists=/etc/madash-server/repo-nginx.conf\n" in unit
    assert "adduser" not in contents.scripts["postinst"]


def test_carries_the_server_secrets_and_no_other(built: DebContents, site_dir: Path) -> None:
    site = load_site(site_dir)
    certstore.issue_host(site, "laptop", lambda: None, NOW)
    contents = read_deb(bake_server(site_dir, NOW + dt.timedelta(seconds=1)).path)
    blob = b"".join(m.data or b"" for m in contents.members.values()).replace(b"\n", b"")

    def body(path: Path) -> bytes:
        return b"".join(path.read_bytes().splitlines()[1:-1])

    assert body(site.paths.pki / "server.key") in blob
    assert body(site.paths.pki / "ca.key") not in blob
    assert body(site.paths.clients / "laptop.key") not in blob
    env = text(contents, "/etc/madash-server/madash.env")
    secrets = (site_dir / "secrets.toml").read_text()
    for line in secrets.splitlines():
        if " = " in line:
            value = line.split('"')[1]
            assert value in env
            others = blob.replace(env.encode().replace(b"\n", b""), b"")
            assert value.encode() not in others, f"{line.split()[0]} outside the root-only env file"


def test_env_file_uses_the_image_variable_names(built: DebContents) -> None:
    names = [line.split("=")[0] for line in text(built, "/etc/madash-server/madash.env").splitlines() if "=" in line]
    assert names == [
        "INFLUXDB_DB", "INFLUXDB_ADMIN_USER", "INFLUXDB_ADMIN_PASSWORD", "INFLUXDB_WRITE_USER",
        "INFLUXDB_WRITE_USER_PASSWORD", "INFLUXDB_READ_USER", "INFLUXDB_READ_USER_PASSWORD",
        "GF_SECURITY_ADMIN_PASSWORD", "GF_SECURITY_SECRET_KEY", "MADASH_INFLUXDB_RETENTION",
    ]  # fmt: skip


def test_golden_configuration(built: DebContents, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    for path, name in [
        ("/etc/madash-server/stunnel.conf", "stunnel.conf"),
        ("/etc/madash-server/compose.yml", "compose.yml"),
        ("/etc/madash-server/grafana/provisioning/datasources/madash.yaml", "datasource.yaml"),
        ("/etc/madash-server/grafana/provisioning/dashboards/madash.yaml", "dashboards.yaml"),
        ("/usr/libexec/madash-server/grafana-admin", "grafana-admin"),
        ("/lib/systemd/system/madash-grafana-admin.service", "madash-grafana-admin.service"),
        ("/etc/madash-server/probe/telegraf.conf", "probe.conf"),
        ("/lib/systemd/system/madash-server.service", "madash-server.service"),
        ("/lib/systemd/system/madash-stunnel.service", "madash-stunnel.service"),
        ("/lib/systemd/system/madash-ensure-influxdb.service", "madash-ensure-influxdb.service"),
        ("/etc/madash-server/repo-nginx.conf", "repo-nginx.conf"),
        ("/lib/systemd/system/madash-repo.service", "madash-repo.service"),
    ]:
        check_golden(request, f"server/{name}", text(built, path))
    for name, script in built.scripts.items():
        check_golden(request, f"server/{name}", script)
        (tmp_path / name).write_text(script)
    scripts = [str(tmp_path / name) for name in built.scripts]
    check = subprocess.run(["shellcheck", "--shell=sh", *scripts], capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout
    compose_wrapper = tmp_path / "compose"
    compose_wrapper.write_text(text(built, "/usr/libexec/madash-server/compose"))
    check = subprocess.run(["shellcheck", str(compose_wrapper)], capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout


def test_stunnel_door_requires_ca_signed_unrevoked_certificates(built: DebContents) -> None:
    conf = text(built, "/etc/madash-server/stunnel.conf")
    door = conf.split("[door-1]")[1].split("[grafana-1]")[0]
    for line in ("accept = 127.0.0.1:5086", "connect = 127.0.0.1:8086", "verifyChain = yes", "requireCert = yes",
                 "CAfile = /etc/madash-server/tls/ca.crt", "CRLfile = /etc/madash-server/tls/crl.pem",
                 "sslVersionMin = TLSv1.2"):  # fmt: skip
        assert line in door.splitlines(), line
    grafana = conf.split("[grafana-1]")[1]
    assert "accept = 127.0.0.1:3000" in grafana and "connect = 127.0.0.1:3001" in grafana
    assert "requireCert" not in grafana


def test_compose_file_is_valid_and_publishes_loopback_only(built: DebContents, tmp_path: Path) -> None:
    compose = yaml.safe_load(text(built, "/etc/madash-server/compose.yml"))
    schema = json.loads(COMPOSE_SCHEMA.read_text())
    jsonschema.Draft201909Validator(schema).validate(compose)
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"
        assert ":" in service["image"] and not service["image"].endswith(":latest"), "images are pinned"
    assert set(compose["services"]) == {"influxdb", "grafana", "probe"}
    assert "/var/lib/madash/influxdb:/var/lib/influxdb" in compose["services"]["influxdb"]["volumes"]
    assert compose["services"]["grafana"]["environment"]["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    # docker-compose (Debian 12's v1) reads it with the package's env file, as the wrapper does.
    (tmp_path / "compose.yml").write_text(text(built, "/etc/madash-server/compose.yml"))
    (tmp_path / "madash.env").write_text(text(built, "/etc/madash-server/madash.env"))
    check = subprocess.run(
        ["docker-compose", "--env-file", "madash.env", "--file", "compose.yml", "config", "--quiet"],
        cwd=tmp_path, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert check.returncode == 0, check.stderr
    resolved = subprocess.run(
        ["docker-compose", "--env-file", "madash.env", "--file", "compose.yml", "config"],
        cwd=tmp_path, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "${" not in resolved, "a variable the env file does not define"


def test_probe_can_be_left_out_and_its_conffile_goes(site_dir: Path) -> None:
    probe = "/etc/madash-server/probe/telegraf.conf"
    first = bake_server(site_dir)
    assert "rm_conffile" not in "".join(read_deb(first.path).scripts.values())
    config = site_dir / "madash.toml"
    config.write_text(config.read_text().replace("enabled = true", "enabled = false"))
    contents = read_deb(bake_server(site_dir, NOW + dt.timedelta(seconds=1)).path)
    assert probe not in contents.members
    assert "probe" not in yaml.safe_load(text(contents, "/etc/madash-server/compose.yml"))["services"]
    # dpkg keeps a conffile the new version lacks: the scripts remove it (tested by dpkg in test_server_chroot.py),
    # on an upgrade from the last version that shipped it or an earlier one (rm_conffile's prior-version).
    for name in ("preinst", "postinst", "postrm"):
        assert f"dpkg-maintscript-helper rm_conffile {probe} {first.version} -- " in contents.scripts[name], name
    # A later version keeps naming the version that last shipped it, not its predecessor.
    config.write_text(config.read_text().replace('retention = "90d"', 'retention = "30d"'))
    later = read_deb(bake_server(site_dir, NOW + dt.timedelta(seconds=2)).path)
    assert f"dpkg-maintscript-helper rm_conffile {probe} {first.version} -- " in later.scripts["preinst"]


def test_compose_wrapper_prefers_the_plugin(built: DebContents, tmp_path: Path) -> None:
    """The wrapper, run by sh with stand-in docker programs that say which one ran."""
    wrapper = tmp_path / "compose"
    wrapper.write_text(text(built, "/usr/libexec/madash-server/compose").replace("/etc/madash-server", str(tmp_path)))
    wrapper.chmod(0o755)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("docker", "docker-compose"):
        (bin_dir / name).write_text(f'#!/bin/sh\necho {name} "$@"\n')
        (bin_dir / name).chmod(0o755)

    def ran() -> str:
        env = {"PATH": f"{bin_dir}:/usr/bin:/bin"}
        return subprocess.run([str(wrapper), "up"], env=env, capture_output=True, text=True, check=True).stdout

    assert ran() == "docker compose --project-name madash --env-file madash.env --file compose.yml up\n"
    # Without the plugin ("docker compose version" fails), Debian 12's docker-compose.
    (bin_dir / "docker").write_text("#!/bin/sh\nexit 1\n")
    assert ran() == "docker-compose --project-name madash --env-file madash.env --file compose.yml up\n"


def test_lintian_is_clean(site_dir: Path) -> None:
    result = bake_server(site_dir)
    check = subprocess.run(
        ["lintian", "--pedantic", "--info", "--fail-on", "error,warning,info,pedantic", str(result.path)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr


def test_reproducible_and_versions_go_up_with_a_new_crl(site_dir: Path) -> None:
    first = bake_server(site_dir)
    again = bake_server(site_dir, NOW + dt.timedelta(hours=1))
    assert (again.version, again.changed, again.path.read_bytes()) == (first.version, False, first.path.read_bytes())
    certstore.issue_host(load_site(site_dir), "laptop", lambda: None, NOW)
    certstore.revoke_host(load_site(site_dir), "laptop", lambda: None, NOW)
    revoked = bake_server(site_dir, NOW)
    assert revoked.changed
    assert (
        subprocess.run(["dpkg", "--compare-versions", revoked.version, "gt", first.version], check=False).returncode
        == 0
    )


# --- bad input ---------------------------------------------------------------------------------


def test_site_without_server_certificate(site_dir: Path, madash: Madash) -> None:
    (site_dir / "pki" / "server.crt").unlink()
    before = snapshot(site_dir)
    # A missing PKI file is an operational error (exit 1) for every command alike.
    assert_one_line_error(madash("--site", site_dir, "server"), 1, "pki/server.crt is missing", "renew --server")
    assert snapshot(site_dir) == before


def test_expired_crl_is_refused_and_expiring_one_warned(site_dir: Path, madash: Madash) -> None:
    site = load_site(site_dir)
    with pytest.raises(UsageError, match="CRL has expired"):
        server.gather(site, NOW + dt.timedelta(days=181))
    assert server.gather(site, NOW + dt.timedelta(days=160)).warnings[0].startswith("the CRL expires on")
    config = site_dir / "madash.toml"
    config.write_text(config.read_text().replace("crl_days = 180", "crl_days = 10"))
    assert madash("--site", site_dir, "server", "--refresh-crl").code == 0  # a 10-day CRL now
    result = madash("--site", site_dir, "server")
    assert result.code == 0 and "warning: the CRL expires on" in result.err and "--refresh-crl" in result.err


BAD_CONFIGURATIONS = [
    ("grafana_port = 3000", "grafana_port = 5086", "server.grafana_port: clashes with server.door_port"),
    ("door_port = 5086", "door_port = 8086", "server.influxdb_local_port: clashes with server.door_port"),
    ('ping = ["1.1.1.1"', 'ping = ["999.1.1.1"', "internet.ping: invalid server address '999.1.1.1'"),
    ('http = ["https://www.debian.org/"]', 'http = ["ftp://x.org/"]', "internet.http: 'ftp://x.org/' is not an http"),
    ('dns_servers = ["1.1.1.1"', 'dns_servers = ["dns.example"', "'dns.example' is not an IP address"),
]


@pytest.mark.parametrize(("old", "new", "needle"), BAD_CONFIGURATIONS)
def test_bad_server_configuration(site_dir: Path, madash: Madash, old: str, new: str, needle: str) -> None:
    config = site_dir / "madash.toml"
    assert old in config.read_text()
    config.write_text(config.read_text().replace(old, new))
    before = snapshot(site_dir)
    assert_one_line_error(madash("--site", site_dir, "server"), 2, needle)
    assert snapshot(site_dir) == before


def test_refresh_crl_with_an_unwritable_dist_changes_nothing(site_dir: Path) -> None:
    """The fresh CRL is made in memory and written only once the package is built and dist/ takes it."""
    (site_dir / "dist").mkdir()
    before = snapshot(site_dir)
    result = run_cli_read_only(site_dir / "dist", "--site", site_dir, "server", "--refresh-crl")
    assert result.returncode == 1 and "cannot write" in result.stderr, result.stderr
    assert snapshot(site_dir) == before


def test_nothing_the_postinst_starts_waits_for_influxdb(built: DebContents) -> None:
    """InfluxDB's setup is a unit of its own: the containers' unit starts without it, and postinst starts neither it
    nor anything ordered after it (a booted check: dpkg -i with InfluxDB down took 0.3 s)."""

    def unit(name: str) -> dict[str, dict[str, str]]:
        sections = systemd.parse(text(built, f"/lib/systemd/system/{name}"))
        return {section: dict(assignments) for section, assignments in sections.items()}

    containers, ensure = unit("madash-server.service"), unit("madash-ensure-influxdb.service")
    assert containers["Service"]["Type"] == "simple" and "ExecStartPost" not in containers["Service"]
    assert "madash-ensure-influxdb.service" in containers["Unit"]["Wants"].split()
    assert (ensure["Unit"]["After"], ensure["Unit"]["PartOf"]) == ("madash-server.service",) * 2
    assert "Install" not in ensure, "deb-systemd-invoke would start it, and wait for it, from postinst"
    service = ensure["Service"]
    assert (service["Type"], service["Restart"], service["RestartPreventExitStatus"]) == ("oneshot", "on-failure", "2")
    assert systemd.command(service["ExecStart"])[0] == "/usr/libexec/madash-server/ensure-influxdb"
    assert "madash-ensure-influxdb" not in built.scripts["postinst"]
