"""Every value a template inserts goes through the escaping filter of the file's format.

Each template's jinja2 AST is walked: an output expression ({{ ... }}) passes only if
its outermost node is a call of one of the filters allowed for that template's
format. Filters applied inside (join, format, ~) only build the text the format
filter then checks, so they cannot smuggle anything past it.
"""

from __future__ import annotations

from fnmatch import fnmatch
from pathlib import Path

import jinja2
import pytest
from jinja2 import nodes

from madash.render import FILTERS, environment
from madash.resources import data_root

TOML = {"toml", "toml_key", "toml_array", "toml_comment"}
# Telegraf's configurations: its own filters refuse "$" Telegraf could expand; comments
# are stripped before Telegraf substitutes anything, so TOML's comment filter suffices.
TELEGRAF = {
    "telegraf",
    "telegraf_key",
    "telegraf_array",
    "telegraf_secret",
    "telegraf_variable",
    "telegraf_int",
    "toml_comment",
}
COMPOSE = {"compose", "yaml_comment"}
GRAFANA = {"grafana", "yaml_comment"}
STUNNEL = {"stunnel", "stunnel_section", "stunnel_comment"}
DEB822 = {"deb822", "deb822_word", "deb822_words", "deb822_field", "deb822_comment"}
APTCONF = {"aptconf", "aptconf_host", "aptconf_comment"}
SUDOERS = {"sudoers", "sudoers_comment"}
SHELL = {"shell", "shell_comment"}
SYSTEMD = {"systemd", "systemd_exec", "systemd_arg", "systemd_comment"}
ENV = {"env", "env_comment"}
LINTIAN = {"lintian_package", "lintian_comment"}

# First match wins; every template under conf/ and debian/ must match one.
FORMATS: list[tuple[str, set[str]]] = [
    ("conf/telegraf/*", TELEGRAF),
    ("conf/madash.toml.j2", TOML),
    ("conf/secrets.toml.j2", TOML),
    ("conf/compose.yml.j2", COMPOSE),
    ("conf/grafana/*", GRAFANA),
    ("conf/stunnel.conf.j2", STUNNEL),
    ("conf/apt/*.sources.j2", DEB822),
    ("conf/apt/Release.j2", DEB822),
    ("conf/apt/client-cert.conf.j2", APTCONF),
    ("conf/apt/unattended-upgrades.conf.j2", APTCONF),
    ("debian/common/*", DEB822),
    ("debian/*/description.j2", DEB822),
    ("debian/client/sudoers.j2", SUDOERS),
    ("debian/snippets/*", SHELL),
    ("debian/server/compose.sh.j2", SHELL),
    ("debian/server/grafana-admin.sh.j2", SHELL),
    ("debian/*/*.service.j2", SYSTEMD),
    ("debian/client/telegraf-dropin.conf.j2", SYSTEMD),
    ("debian/client/telegraf-version.conf.j2", SYSTEMD),
    ("debian/*/*.env.j2", ENV),
    ("debian/*/lintian-overrides.j2", LINTIAN),
]
# Shipped as is, never rendered: it runs on the server without madash.
NOT_TEMPLATES = {"debian/server/ensure_influxdb.py"}


def templates() -> list[str]:
    root = data_root()
    found = []
    for top in ("conf", "debian"):
        for path in sorted((root / top).rglob("*")):
            name = path.relative_to(root).as_posix()
            if path.is_file() and name not in NOT_TEMPLATES and "__pycache__" not in name:
                found.append(name)
    return found


def allowed_filters(template: str) -> set[str]:
    for pattern, allowed in FORMATS:
        if fnmatch(template, pattern):
            return allowed
    raise AssertionError(f"{template} has no format: add it to FORMATS in {Path(__file__).name}")


def unfiltered(source: str, allowed: set[str]) -> list[str]:
    """The insertions of ``source`` whose outermost node is not an allowed filter."""
    tree = environment().parse(source)
    bad = []
    for output in tree.find_all(nodes.Output):
        for child in output.nodes:
            if isinstance(child, nodes.TemplateData):
                continue
            if not (isinstance(child, nodes.Filter) and child.name in allowed):
                line = source.splitlines()[child.lineno - 1].strip()
                bad.append(f"line {child.lineno}: {line}")
    return bad


@pytest.mark.parametrize("template", templates())
def test_every_insertion_is_filtered(template: str) -> None:
    source = (data_root() / template).read_text()
    assert unfiltered(source, allowed_filters(template)) == [], f"{template}: insertions without their format's filter"


def test_the_walk_finds_templates_of_every_format() -> None:
    found = templates()
    assert len(found) > 30
    for pattern, _ in FORMATS:
        assert any(fnmatch(t, pattern) for t in found), f"{pattern} matches no template: stale entry"


def test_every_allowed_filter_is_registered() -> None:
    for _, allowed in FORMATS:
        assert allowed <= set(FILTERS)
    assert set(FILTERS) <= set(environment().filters)


@pytest.mark.parametrize(
    ("source", "problems"),
    [
        ("{{ x | toml }}", 0),
        ("a = {{ x | toml }}, {{ y }}", 1),  # plainly unfiltered
        ("{{ x | toml | upper }}", 1),  # a filter after the format's undoes its guarantee
        ("{{ x | shell }}", 1),  # another format's filter
        ("{{ 'x' }}", 1),  # even a constant: the rule has no exceptions to get wrong
        ("{{ (a ~ '/b') | toml }}{% if c %}{{ d }}{% endif %}", 1),  # inside a block too
        ("{% for k in ks %}{{ k | toml_key }} = {{ k }}{% endfor %}", 1),
    ],
)
def test_the_check_catches_unfiltered_insertions(source: str, problems: int) -> None:
    assert len(unfiltered(source, TOML)) == problems


def test_a_template_of_unknown_format_fails() -> None:
    with pytest.raises(AssertionError, match="has no format"):
        allowed_filters("conf/new-format.ini.j2")


def test_a_missing_variable_is_reported_as_missing_not_refused() -> None:
    template = environment().from_string("{{ nope | toml }}")
    with pytest.raises(jinja2.UndefinedError):
        template.render()
