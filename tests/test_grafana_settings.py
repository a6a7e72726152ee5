"""Grafana's settings in madash-server: its public URL, its secret key, what it may fetch or publish, its
provisioning directories, read-only dashboards, and an admin password that follows the site's secrets."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from madash.deb.reader import DebContents, read_deb
from madash.errors import SiteError
from madash.packages import bake, server
from madash.site import credentials
from madash.site.config import grafana_url, load_site, parse_config
from tests.conftest import NOW

# Grafana 12's conf/defaults.ini [security] secret_key: public, so never the site's.
GRAFANA_DEFAULT_SECRET_KEY = "SW2YcwTIb9zpOOhoPsMm"
DASHBOARDS = Path(__file__).resolve().parent.parent / "dashboards"


def config(addresses: list[str], grafana: str = "") -> str:
    return f'[site]\nname = "demo"\n\n[server]\naddresses = {json.dumps(addresses)}\n{grafana}'


@pytest.mark.parametrize(
    "addresses, expected",
    [
        (["192.0.2.1", "monitor.example.org", "other.example.org"], "https://monitor.example.org:3000/"),
        (["2001:db8::1", "10.0.0.1"], "https://[2001:db8::1]:3000/"),
        (["127.0.0.1"], "https://127.0.0.1:3000/"),
    ],
)
def test_public_url_defaults_to_the_first_dns_name(addresses: list[str], expected: str) -> None:
    assert grafana_url(parse_config(config(addresses), Path("madash.toml"))) == expected


@pytest.mark.parametrize(
    "value, expected",
    [("https://grafana.example.org/", "https://grafana.example.org/"), ("https://[2001:db8::2]:8443", None)],
)
def test_public_url_setting(value: str, expected: str | None) -> None:
    text = config(["192.0.2.1"], f'\n[grafana]\npublic_url = "{value}"\n')
    assert grafana_url(parse_config(text, Path("madash.toml"))) == (expected or value + "/")


@pytest.mark.parametrize(
    "value, needle",
    [
        ("http://grafana.example.org/", "https"),
        ("https://grafana.example.org/grafana/", "path"),
        ("https://grafana.example.org/?a=b", "query"),
        ("https://user@grafana.example.org/", "user information"),
        ("https://grafana.example.org:0/", "port"),
        ("https://$HOST/", "$"),
        ("https://grafana example.org/", "not a URL"),
        ("https:///", "host"),
        ("ftp://grafana.example.org/", "https"),
    ],
)
def test_bad_public_urls_are_refused(value: str, needle: str) -> None:
    text = config(["192.0.2.1"], f'\n[grafana]\npublic_url = "{value}"\n')
    with pytest.raises(SiteError) as info:
        parse_config(text, Path("madash.toml"))
    shown = f"{info.value.message} {info.value.hint or ''}"
    assert "grafana.public_url" in shown and needle in shown, shown


@pytest.fixture
def built(site_dir: Path) -> DebContents:
    site = load_site(site_dir)
    return read_deb(bake.bake_package(site, server.server_spec(server.gather(site, NOW)), NOW).path)


def text(contents: DebContents, path: str) -> str:
    return (contents.members[path].data or b"").decode()


def grafana_environment(built: DebContents) -> dict[str, str]:
    compose = yaml.safe_load(text(built, f"{server.ETC}/compose.yml"))
    environment: dict[str, str] = compose["services"]["grafana"]["environment"]
    return environment


def test_secret_key_is_the_sites_own(built: DebContents, site_dir: Path) -> None:
    secrets = tomllib.loads((site_dir / "secrets.toml").read_text())
    key = secrets["grafana_secret_key"]
    assert len(key) >= 32 and key != GRAFANA_DEFAULT_SECRET_KEY
    assert key not in {v for k, v in secrets.items() if k != "grafana_secret_key"}
    assert f"GF_SECURITY_SECRET_KEY={key}" in text(built, server.ENV_FILE).splitlines()
    assert grafana_environment(built)["GF_SECURITY_SECRET_KEY"] == "${GF_SECURITY_SECRET_KEY}"
    assert credentials.generate().grafana_secret_key != credentials.generate().grafana_secret_key


def test_a_site_made_before_the_secret_key_gets_a_stable_one(site_dir: Path) -> None:
    path = site_dir / "secrets.toml"
    path.write_text("".join(line for line in path.read_text().splitlines(True) if "grafana_secret_key" not in line))
    paths = load_site(site_dir).paths
    first, second = credentials.load(paths), credentials.load(paths)
    assert first.grafana_secret_key == second.grafana_secret_key
    assert len(first.grafana_secret_key) == 64
    assert first.grafana_secret_key not in (first.influxdb_admin_password, GRAFANA_DEFAULT_SECRET_KEY)
    assert credentials.derived_secret_key("other") != first.grafana_secret_key


def test_nothing_is_fetched_or_published_outside(built: DebContents) -> None:
    environment = grafana_environment(built)
    assert {
        "GF_SNAPSHOTS_EXTERNAL_ENABLED": "false",
        "GF_PLUGINS_PREINSTALL_DISABLED": "true",
        "GF_SECURITY_DISABLE_GRAVATAR": "true",
        "GF_NEWS_NEWS_FEED_ENABLED": "false",
        "GF_ANALYTICS_REPORTING_ENABLED": "false",
        "GF_ANALYTICS_CHECK_FOR_UPDATES": "false",
        "GF_ANALYTICS_CHECK_FOR_PLUGIN_UPDATES": "false",
        "GF_AUTH_ANONYMOUS_ENABLED": "false",
        "GF_SECURITY_COOKIE_SECURE": "true",
    }.items() <= environment.items()
    assert environment["GF_SERVER_ROOT_URL"] == "https://monitor.example.org:3000/"


def test_every_provisioning_directory_grafana_reads_is_there(built: DebContents) -> None:
    # Mounting the directory hides the image's own: each kind Grafana reads must exist, or it logs an error.
    for kind in ("datasources", "dashboards", "alerting", "plugins"):
        member = built.members.get(f"{server.PROVISIONING}/{kind}")
        holds = [p for p in built.members if p.startswith(f"{server.PROVISIONING}/{kind}/")]
        assert (member is not None and member.data is None) or holds, f"{kind}/ is not shipped"
    compose = yaml.safe_load(text(built, f"{server.ETC}/compose.yml"))
    assert f"{server.PROVISIONING}:/etc/grafana/provisioning:ro" in compose["services"]["grafana"]["volumes"]


def test_dashboards_are_read_only_everywhere_in_a_fixed_folder(built: DebContents) -> None:
    provider = yaml.safe_load(text(built, f"{server.PROVISIONING}/dashboards/madash.yaml"))
    [entry] = provider["providers"]
    assert entry["allowUiUpdates"] is False and entry["folderUid"] == server.FOLDER_UID == "madash"
    for path in sorted(DASHBOARDS.glob("*.json")):
        # editable while saves are refused would let people edit, then lose their work on saving.
        assert json.loads(path.read_text())["editable"] is entry["allowUiUpdates"], path.name


def test_admin_password_is_applied_at_every_start(built: DebContents, tmp_path: Path) -> None:
    """grafana-admin, run with a docker compose that runs the container's commands here: it waits for Grafana,
    then gives the password to grafana cli on stdin, and no password is on any command line."""
    # Its own unit, started by madash-server.service's Wants= and waited for by nothing (no install blocks).
    unit = text(built, "/lib/systemd/system/madash-grafana-admin.service")
    assert f"ExecStart={server.LIBEXEC}/grafana-admin" in unit.splitlines()
    assert "madash-grafana-admin.service" in text(built, "/lib/systemd/system/madash-server.service")
    script = text(built, f"{server.LIBEXEC}/grafana-admin")
    assert built.members[f"{server.LIBEXEC}/grafana-admin"].mode & stat.S_IXUSR
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "log"
    # The container's side: `exec -T grafana CMD...` runs CMD with the container's environment; Grafana answers
    # its health check from the third try; grafana cli records its arguments and stdin.
    compose = bin_dir / "compose"
    compose.write_text(
        "#!/bin/sh\n"
        f'echo "compose $*" >> {log}\n'
        '[ "$1 $2 $3" = "exec -T grafana" ] || exit 9\nshift 3\n'
        'if [ "$1" = wget ]; then n=$(grep -c "exec -T grafana wget" ' + str(log) + '); [ "$n" -ge 3 ]; exit; fi\n'
        'exec "$@"\n'
    )
    grafana = bin_dir / "grafana"
    grafana.write_text(f'#!/bin/sh\necho "grafana $* stdin=$(cat)" >> {log}\n')
    for program in (compose, grafana):
        program.chmod(0o755)
    test_script = tmp_path / "grafana-admin"
    test_script.write_text(script.replace(f"compose={server.LIBEXEC}/compose", f"compose={compose}"))
    password = "new password from secrets.toml"
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "GF_SECURITY_ADMIN_PASSWORD": password}
    started = subprocess.run(["sh", str(test_script)], env=env, capture_output=True, text=True, timeout=60)
    assert started.returncode == 0, started.stderr
    lines = log.read_text().splitlines()
    assert [line.split()[4] for line in lines if line.startswith("compose")] == ["wget", "wget", "wget", "sh"]
    [cli] = [line for line in lines if line.startswith("grafana ")]
    assert cli == (
        f"grafana cli --homepath /usr/share/grafana admin reset-admin-password --password-from-stdin stdin={password}"
    )
    assert all(password not in line for line in lines if not line.startswith("grafana ")), "password in argv"
