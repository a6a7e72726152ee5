from pathlib import Path

import pytest

from madash.errors import SiteError
from madash.render import render
from madash.site.config import parse_config

MINIMAL = """\
[site]
name = "demo"

[server]
addresses = ["127.0.0.1"]
"""


def parse(text: str):  # type: ignore[no-untyped-def]
    return parse_config(text, Path("madash.toml"))


def error_of(text: str) -> SiteError:
    with pytest.raises(SiteError) as info:
        parse(text)
    return info.value


def test_minimal_site_gets_defaults() -> None:
    config = parse(MINIMAL)
    assert config.server.addresses == ("127.0.0.1",)
    assert config.server.door_port == 5086
    assert config.pki.key_type == "ec:p256"
    assert config.pki.crl_days == 180
    assert dict(config.hosts) == {}


def test_init_template_parses_to_what_was_asked() -> None:
    text = render(
        "conf/madash.toml.j2",
        {"name": "we-1 quote.d_x", "maintainer": "A <a@b.c>", "addresses": ["::1", "mon.example"]},
    )
    config = parse(text)
    assert config.site.name == "we-1 quote.d_x"
    assert config.server.addresses == ("::1", "mon.example")


def test_unknown_key_names_path_line_and_suggestion() -> None:
    error = error_of(MINIMAL + "door_prot = 5087\n")
    assert str(error) == "madash.toml:6: server.door_prot: unknown key (did you mean 'door_port'?)"
    assert error.exit_code == 2


def test_unknown_table_is_rejected() -> None:
    assert "unknown key (did you mean 'server'?)" in str(error_of(MINIMAL + "[sever]\nx = 1\n"))


def test_wrong_type_names_the_key() -> None:
    error = error_of(MINIMAL.replace('addresses = ["127.0.0.1"]', 'addresses = ["127.0.0.1"]\ndoor_port = "5086"'))
    assert str(error) == "madash.toml:6: server.door_port: must be a whole number"


def test_bool_is_not_a_number() -> None:
    assert "must be a whole number" in str(error_of(MINIMAL + "door_port = true\n"))


def test_syntax_error_gives_line() -> None:
    error = error_of(MINIMAL + "oops = \n")
    assert "line 6" in str(error)
    assert error.hint


def test_missing_required_key() -> None:
    assert "server.addresses: is required" in str(error_of('[site]\nname = "x"\n[server]\n'))


def test_bad_address_in_file() -> None:
    assert "server.addresses: invalid server address '999.1.1.1'" in str(
        error_of(MINIMAL.replace("127.0.0.1", "999.1.1.1"))
    )


def test_unknown_key_type() -> None:
    assert "pki.key_type: 'dsa' is not one of ec:p256" in str(error_of(MINIMAL + '[pki]\nkey_type = "dsa"\n'))


def test_hosts_are_typed_and_checked() -> None:
    config = parse(MINIMAL + '[hosts.laptop]\nfeatures = ["smart", "sensors"]\ntags = { room = "office" }\n')
    assert config.hosts["laptop"].features == ("smart", "sensors")
    assert config.hosts["laptop"].tags == {"room": "office"}
    assert "'smrt' is not one of smart, sensors" in str(error_of(MINIMAL + '[hosts.laptop]\nfeatures = ["smrt"]\n'))
    assert "hosts.a_b: invalid host name" in str(error_of(MINIMAL + "[hosts.a_b]\nfeatures = []\n"))


def test_vm_refuses_hardware_features() -> None:
    error = error_of(MINIMAL + '[hosts.guest]\nfeatures = ["vm", "smart", "ups"]\n')
    assert str(error) == "madash.toml:7: hosts.guest.features: a vm has no smart, ups: remove them or 'vm'"


def test_port_clash() -> None:
    assert "clashes with server.door_port" in str(error_of(MINIMAL + "grafana_port = 5086\n"))


# The edges of each grammar that must stay accepted (tests/test_bad_input.py has the refusals).
ACCEPTED = [
    '[influxdb]\nretention = "inf"\n',
    '[influxdb]\nretention = "INF"\n',
    '[influxdb]\nretention = "2562047h"\n',
    '[influxdb]\nretention = "106751d"\n',
    '[influxdb]\nretention = "15250w"\n',
    '[influxdb]\nretention = "1h"\n',
    '[influxdb]\ndatabase = "my db-1.x"\nadmin_user = "a.b-c_d"\n',
    "[pki]\nca_days = 36500\nserver_days = 3650\nclient_days = 3650\ncrl_days = 3650\n",
    '[repo]\nurl = "https://mon.example.org:8443/madash/repo"\n',
    '[repo]\nurl = "http://[2001:db8::1]/repo"\n',
    '[repo]\nurl = "file:///srv/madash"\narchitectures = ["amd64", "hurd-i386"]\nextra_packages = ["telegraf"]\n',
    '[internet]\nhttp = ["https://[2001:db8::1]:8443/a?b=c&d=e#f", "http://example.org"]\nhttp_match = \'a "b"\'\n',
    '[internet]\nping = ["example.org", "192.0.2.1", "2001:db8::1"]\ndns_domains = ["example.org"]\n',
    '[hosts.a]\ninterval = "1h"\ntags = { room = \'office "A"\', _x = "" }\nups_server = "tcp://[::1]:3551"\n',
    '[hosts.a]\ninterval = "3600s"\n\n[hosts.b]\ninterval = "60m"\n\n[hosts.c]\ninterval = "1s"\n',
]


@pytest.mark.parametrize("extra", ACCEPTED)
def test_edges_of_each_grammar_are_accepted(extra: str) -> None:
    parse(MINIMAL + extra)


def test_maintainer_may_be_any_printable_name() -> None:
    maintainer = "Jörg Müller-Lüdenscheidt (ops) <j.m+deb@mail.example.org>"
    config = parse(MINIMAL.replace('name = "demo"', f'name = "demo"\nmaintainer = "{maintainer}"'))
    assert config.site.maintainer == maintainer


def test_listen_may_name_every_address() -> None:
    config = parse(MINIMAL + 'listen = ["0.0.0.0", "::"]\n')
    assert config.server.listen == ("0.0.0.0", "::")
