"""The files madash renders read back through their format's reader, and hostile values stop the render.

The readers of madash.formats are meant for the re-reading stage before packaging:
here every file of a sample client and server package goes through the one of its
format and means what the generator put there. Values that slip past the site model
(built here without it) stop the render with RenderError instead of reaching a file.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import types
from pathlib import Path

import pytest

from madash.deb.spec import PackageSpec
from madash.errors import RenderError
from madash.formats import aptconf, deb822, envfile, lintian, stunnel, sudoers, systemd, toml, yaml
from madash.packages.aptsource import AptIdentity
from madash.packages.client import ClientInputs, client_spec
from madash.packages.server import ServerInputs, server_spec
from madash.render import render
from madash.site.config import HostSection, InternetSection, parse_config
from madash.site.credentials import Credentials
from madash.site.features import Feature

SOURCES = {
    "site_name": "golden site",
    "url": "https://monitor.example.org/madash",
    "keyring": "/etc/apt/keyrings/k.gpg",
}


def client_inputs(**changes: object) -> ClientInputs:
    inputs = ClientInputs(
        host="laptop",
        host_config=HostSection(
            features=(Feature.DOCKER, Feature.INTERNET, Feature.SMART, Feature.UPS),
            tags=types.MappingProxyType({"room": 'office "A"', "rack": "r1"}),
            ups_server="tcp://192.0.2.7:3551",
        ),
        site_name="golden site",
        maintainer="Golden Admins <admins@example.org>",
        output_url="https://monitor.example.org:5086",
        database="telegraf",
        writer_user="telegraf",
        writer_password="pw-AbC_123",
        internet=InternetSection(http_match="Debian"),
        ca_pem=b"",
        cert_pem=b"",
        key_pem=b"",
        snippets=(),
        apt=AptIdentity(SOURCES["url"], b"", "monitor.example.org", shared=True),
    )
    return dataclasses.replace(inputs, **changes)  # type: ignore[arg-type]


def server_inputs(config_text: str | None = None) -> ServerInputs:
    text = config_text or render(
        "conf/madash.toml.j2",
        {"name": "golden site", "maintainer": "A <a@example.org>", "addresses": ["192.0.2.1", "monitor.example.org"]},
    )
    secrets = Credentials(
        influxdb_admin_password="a1", influxdb_writer_password="w1", influxdb_reader_password="r1",
        grafana_admin_password="g1", grafana_secret_key="k1",
    )  # fmt: skip
    return ServerInputs(
        config=parse_config(text, Path("madash.toml")), secrets=secrets, ca_pem=b"", cert_pem=b"", key_pem=b"",
        crl_pem=b"", dashboards=(), warnings=(),
    )  # fmt: skip


def files(spec: PackageSpec) -> dict[str, str]:
    return {f.path: f.data.decode() for f in spec.files if not f.path.endswith((".gz", ".gpg", ".crt", ".key", ".pem"))}


def test_client_files_read_back() -> None:
    spec = client_spec(client_inputs())
    by_path = files(spec)
    config = toml.parse(by_path["/usr/share/madash-client-laptop/telegraf.conf"])
    assert config["global_tags"] == {"rack": "r1", "room": 'office "A"', "madash_package": "${MADASH_PACKAGE}"}
    assert config["outputs"]["influxdb"][0]["password"] == "@{madash:influxdb_password}"
    assert config["secretstores"]["docker"] == [{"id": "madash", "path": "${CREDENTIALS_DIRECTORY}"}]
    assert by_path["/var/lib/madash-client-laptop/influxdb-password"] == "pw-AbC_123"
    dropin = systemd.parse(by_path["/lib/systemd/system/telegraf.service.d/madash.conf"])
    exec_start = [v for k, v in dropin["Service"] if k == "ExecStart"]
    assert exec_start[0] == "" and systemd.command(exec_start[1], {"TELEGRAF_OPTS": ""}) == [
        "/usr/bin/telegraf", "-config", "/usr/share/madash-client-laptop/telegraf.conf",
        "-config-directory", "/var/lib/madash-client-laptop/telegraf.d", "-config-directory", "/etc/madash/telegraf.d",
    ]  # fmt: skip
    assert aptconf.parse(by_path["/etc/apt/apt.conf.d/90madash-client-certificate"]) == {
        "Acquire::https::monitor.example.org::CaInfo": "/usr/share/madash-client-laptop/tls/ca.crt",
        "Acquire::https::monitor.example.org::SslCert": "/usr/share/madash-client-laptop/tls/client.crt",
        "Acquire::https::monitor.example.org::SslKey": "/var/lib/madash-client-laptop/tls/apt-client.key",
    }
    [source] = deb822.parse_paragraphs(by_path["/etc/apt/sources.list.d/madash.sources"], comments=True)
    assert source["URIs"] == "https://monitor.example.org/madash" and source["Suites"] == "host-laptop shared"
    assert len(sudoers.logical_lines(by_path["/etc/sudoers.d/madash-telegraf"])) == 3
    overrides = lintian.parse(by_path["/usr/share/lintian/overrides/madash-client-laptop"])
    assert {package for package, _, _ in overrides} == {"madash-client-laptop"}
    [control] = deb822.parse_paragraphs(spec.control_text("1"))
    assert deb822.unfold(control["Description"]).startswith("madash monitoring client for laptop\nSends")


def test_server_files_read_back() -> None:
    by_path = files(server_spec(server_inputs()))
    door = stunnel.parse(by_path["/etc/madash-server/stunnel.conf"])
    assert [s.name for s in door.services] == ["door-1", "grafana-1"]
    assert dict(door.services[0].options)["accept"] == "192.0.2.1:5086"
    compose = yaml.parse(by_path["/etc/madash-server/compose.yml"])
    assert compose["services"]["influxdb"]["ports"] == ["127.0.0.1:8086:8086"]
    env = envfile.parse(by_path["/etc/madash-server/madash.env"])
    assert env["INFLUXDB_ADMIN_PASSWORD"] == "a1" and env["MADASH_INFLUXDB_RETENTION"] == "90d"
    unit = systemd.parse(by_path["/lib/systemd/system/madash-server.service"])
    assert systemd.command(dict(unit["Service"])["ExecStop"]) == ["/usr/libexec/madash-server/compose", "down"]
    assert yaml.parse(by_path["/etc/madash-server/grafana/provisioning/datasources/madash.yaml"])["apiVersion"] == 1
    assert toml.parse(by_path["/etc/madash-server/probe/telegraf.conf"])["agent"]["hostname"] == "madash-probe"


@pytest.mark.parametrize(
    "changes",
    [
        {"site_name": 'x"\nEssential: yes'},
        {"host": "laptop\nTrusted: yes"},
        {"maintainer": "A <a@example.org>\nEssential: yes"},
        {"writer_password": "pw\nINFLUXDB_DB=other"},
        {"writer_password": "pw\x7f"},
        {"host_config": HostSection(tags=types.MappingProxyType({"room": "@{madash:influxdb_password}"}))},
        {"apt": AptIdentity(SOURCES["url"], b"", 'x::CaInfo "/tmp/evil"; //', shared=True)},
        {"host_config": HostSection(tags=types.MappingProxyType({"room": "${MADASH_INFLUXDB_PASSWORD}"}))},
        {"internet": InternetSection(http=("https://x/$MADASH_INFLUXDB_PASSWORD",))},
    ],
    ids=str,
)
def test_hostile_client_values_stop_the_render(changes: dict[str, object]) -> None:
    inputs = client_inputs(**changes)
    with pytest.raises(RenderError):
        spec = client_spec(inputs)
        # Control fields are joined by package.py, which this branch does not own: check them here.
        deb822.format_paragraph(spec.control)


def test_toml_escapes_rather_than_refuses() -> None:
    """TOML can spell any string: a newline in a name is escaped, and adds no table."""
    user, key = "telegraf\n[[inputs.exec]]", 'a]\n[[inputs.exec]]\ncommands = ["sh"]'
    tags = types.MappingProxyType({key: "x"})
    inputs = client_inputs(writer_user=user, host_config=HostSection(features=(Feature.SMART,), tags=tags))
    config = toml.parse(files(client_spec(inputs))["/usr/share/madash-client-laptop/telegraf.conf"])
    assert "exec" not in config["inputs"]
    assert config["outputs"]["influxdb"][0]["username"] == user and config["global_tags"] == {
        key: "x",
        "madash_package": "${MADASH_PACKAGE}",
    }


@pytest.mark.parametrize(
    ("section", "field", "value"),
    [
        ("site", "name", "s\n[evil]"),
        ("site", "maintainer", "A <a@example.org>\nEssential: yes"),
        ("influxdb", "retention", "90d\nINFLUXDB_DB=x"),
        ("influxdb", "database", "db ${HOME}"),
        ("server", "listen", ("192.0.2.1:1\n[evil]",)),
    ],
)
def test_hostile_server_values_stop_the_render(section: str, field: str, value: object) -> None:
    """Values put past the site model (by replacing them in its result) stop the render."""
    inputs = server_inputs()
    try:
        part = dataclasses.replace(getattr(inputs.config, section), **{field: value})
        config = dataclasses.replace(inputs.config, **{section: part})
    except Exception:  # a model that validates on construction refused it: even better
        return
    with pytest.raises(RenderError):
        spec = server_spec(dataclasses.replace(inputs, config=config))
        deb822.format_paragraph(spec.control)


@pytest.mark.parametrize("shared", [True, False])
def test_unattended_upgrades_patterns_as_apt_reads_them(tmp_path: Path, shared: bool) -> None:
    """apt-config (the reader unattended-upgrades goes through) sees exactly the host's suites as list items."""
    apt = AptIdentity(SOURCES["url"], b"", "monitor.example.org", shared=shared)
    by_path = files(client_spec(client_inputs(apt=apt)))
    conf = tmp_path / "51madash"
    conf.write_text(by_path["/etc/apt/apt.conf.d/51madash-unattended-upgrades"])
    # Only this file: the machine's own apt.conf.d (unattended-upgrades' 50unattended-upgrades, once it is
    # installed) would add its own patterns to the list.
    (tmp_path / "parts").mkdir()
    isolated = tmp_path / "apt.conf"
    isolated.write_text(f'Dir::Etc::Parts "{tmp_path}/parts";\nDir::Etc::main "/dev/null";\n')
    dumped = subprocess.run(
        ["apt-config", "-c", str(conf), "dump"],
        capture_output=True, text=True, check=True, env={**os.environ, "APT_CONFIG": str(isolated)},
    ).stdout  # fmt: skip
    items = [line for line in dumped.splitlines() if line.startswith("Unattended-Upgrade::Origins-Pattern:: ")]
    expected = ["host-laptop", *(["shared"] if shared else [])]
    assert items == [f'Unattended-Upgrade::Origins-Pattern:: "label=madash,codename={s}";' for s in expected]
    assert aptconf.parse(conf.read_text()) == {
        f"Unattended-Upgrade::Origins-Pattern::{i}": f"label=madash,codename={s}" for i, s in enumerate(expected)
    }


def test_no_repository_no_unattended_upgrades_file() -> None:
    assert "/etc/apt/apt.conf.d/51madash-unattended-upgrades" not in files(client_spec(client_inputs(apt=None)))
