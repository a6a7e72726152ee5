"""The re-reading stage: with an escaping filter broken on purpose, an injection still never reaches a package."""

from __future__ import annotations

import contextlib
import dataclasses
import types
from collections.abc import Iterator

import pytest

from madash import render
from madash.errors import RenderError
from madash.packages.client import client_spec
from madash.packages.reread import RereadError
from madash.packages.server import server_spec
from madash.site.config import HostSection
from madash.site.features import Feature
from tests.test_rendered_formats import client_inputs, server_inputs

# Values the naive filters render correctly, so that only the injected one differs.
PLAIN = HostSection(features=(Feature.SMART,))


@contextlib.contextmanager
def naive_filters(*formats: str) -> Iterator[None]:
    """The formats' filters as a careless template author would write them: quotes around the raw value, no checks."""
    env = render._environment()
    saved = dict(env.filters)
    for name in list(env.filters):
        # A variable name is no value from the site: the filter that spells "${NAME}" stays.
        if name.startswith(formats) and not name.endswith(("array", "words", "variable")):
            env.filters[name] = (lambda quoted: lambda value: f'"{value}"' if quoted else str(value))(
                name.startswith(("toml", "telegraf", "yaml", "compose", "aptconf"))
            )
    try:
        yield
    finally:
        env.filters.clear()
        env.filters.update(saved)


def test_an_injected_telegraf_table_refuses_the_package() -> None:
    tags = types.MappingProxyType({"room": 'x"\n[[inputs.exec]]\ncommands = ["id"]\n#'})
    inputs = client_inputs(host_config=HostSection(features=(Feature.SMART,), tags=tags))
    with (
        naive_filters("telegraf"),
        pytest.raises(RereadError, match=r"telegraf.conf as generated .*(inputs|tables|tags)"),
    ):
        client_spec(inputs)


def test_an_injected_control_field_refuses_the_package() -> None:
    inputs = client_inputs(maintainer="A <a@example.org>\nEssential: yes", host_config=PLAIN)
    # The deb822 writer itself (format_paragraph) refuses it before the re-reading would.
    with naive_filters("deb822"), pytest.raises((RenderError, RereadError), match=r"Essential|Maintainer"):
        client_spec(inputs)


def test_an_injected_secret_reference_refuses_the_package() -> None:
    # Telegraf would resolve it in a secret-typed option: a tag cannot be one, but the
    # re-reading refuses any reference but the password's, wherever the filter let it through.
    tags = types.MappingProxyType({"room": "@{madash:influxdb_password}"})
    inputs = client_inputs(host_config=HostSection(features=(Feature.SMART,), tags=tags))
    with naive_filters("telegraf"), pytest.raises(RereadError, match="secret reference"):
        client_spec(inputs)


def test_a_credential_with_a_newline_refuses_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("madash.formats.systemd.credential", lambda value: str(value).encode())
    inputs = client_inputs(writer_password="pw\nLD_PRELOAD=/tmp/evil.so", host_config=PLAIN)
    with pytest.raises(RereadError, match="influxdb-password"):
        client_spec(inputs)


def test_an_injected_stunnel_service_refuses_the_server_package() -> None:
    inputs = server_inputs()
    server = dataclasses.replace(inputs.config.server, listen=("127.0.0.1\n[evil]\naccept = 0.0.0.0:22",))
    with naive_filters("stunnel"), pytest.raises(RereadError, match="stunnel"):
        server_spec(dataclasses.replace(inputs, config=dataclasses.replace(inputs.config, server=server)))


def test_honest_packages_pass_the_rereading() -> None:
    client_spec(client_inputs())
    server_spec(server_inputs())


def test_control_paragraphs_read_the_same_with_python_debian() -> None:
    """deb822 is written by one module of ours; python-debian, which dpkg's own format follows, is the oracle."""
    from debian.deb822 import Deb822

    for spec in (client_spec(client_inputs()), server_spec(server_inputs())):
        text = spec.control_text("1.0")
        oracle = {str(k): str(v) for k, v in Deb822(text).items()}
        assert oracle["Package"] == spec.name and oracle["Version"] == "1.0"
        assert set(oracle) == {"Package", "Version", "Installed-Size", *spec.control}
        assert oracle["Description"].split("\n")[0] == spec.control["Description"].split("\n")[0]
