"""Every format filter, fed hostile text: the value reads back unchanged, or is refused.

Random strings (control characters, quotes, backslashes, "$", "${VAR}", newlines,
Unicode line separators, ...) go through each filter into a minimal document of the
format, which is read back by the format's real parser where one runs here (tomllib,
PyYAML, python-debian, dash, visudo and cvtsudoers, apt-config, docker-compose) and
otherwise by a port of the consuming program's reader (tests/format_readers.py).
"""

from __future__ import annotations

import ctypes
import functools
import importlib.util
import json
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml as pyyaml
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from debian import deb822 as debian_deb822
from madash.errors import RenderError
from madash.formats import (
    aptconf,
    deb822,
    envfile,
    influxql,
    lintian,
    nginx,
    shell,
    stunnel,
    sudoers,
    systemd,
    toml,
    yaml,
)
from madash.formats._common import is_unsafe
from madash.resources import data_root
from tests import format_readers

# Pieces that break formats: quotes, escapes, variables, comment and section markers,
# separators, and every kind of line break and control character some reader knows.
NASTY = [
    '"', "'", "\\", "\\\\", '\\"', "$", "$$", "${VAR}", "$VAR", "${VAR:-x}", "$$VAR", "${", "\\u0024{VAR}", "%", "%n",
    "\n", "\r", "\r\n", "\t", "\x00", "\x0b", "\x0c", "\x1b", "\x1c", "\x7f", "\x85", "\xa0", "\u2028", "\u2029",
    "\ufeff", "\uffff", "\U0001f600", "\u202e", "#", ";", ":", "=", ",", " ", "  ", "[", "]", "{", "}", "*", "?",
    "!", "^", "`", "//", "/*", "*/", "::", "-", ".", "@", "\\\n", " #", "\n ", "\n.", "\n\n", "''", '""',
]  # fmt: skip
SECRET = "s3cr3t-from-the-environment"
hostile = st.lists(st.one_of(st.sampled_from(NASTY), st.text(max_size=6)), max_size=10).map("".join)
# Characters no sane name or path needs quoting for: filters must accept these.
plain = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./", min_size=1, max_size=30)
words_st = st.lists(hostile, max_size=4)


def refused(function: Any, value: Any) -> bool:
    """Run the filter; True if it refused the value (with a message that hides it)."""
    try:
        function(value)
    except RenderError as exc:
        if isinstance(value, str) and len(value) >= 8 and value.strip():
            assert value not in str(exc), "an error message must not show the value (it may be a secret)"
        return True
    return False


def variables_in(value: str) -> dict[str, str]:
    """An environment defining every name the value mentions, so any expansion shows."""
    names = set(re.findall(r"[_A-Za-z][_A-Za-z0-9]*", value)) | {"VAR", "MADASH_INFLUXDB_PASSWORD"}
    return dict.fromkeys(names, SECRET)


# --- TOML ----------------------------------------------------------------------------------


@given(hostile)
@example('a"b\\c\n\x7f\u2028\'\'\'"""')
def test_toml_string(value: str) -> None:
    if refused(toml.string, value):
        assert any(0xD800 <= ord(c) < 0xE000 for c in value)
        return
    assert tomllib.loads(f"k = {toml.string(value)}\n") == {"k": value}
    assert "\n" not in toml.string(value)


@given(hostile)
def test_toml_key_and_array(value: str) -> None:
    assume(not refused(toml.string, value))
    assert tomllib.loads(f"{toml.key(value)} = 1\n") == {value: 1}
    assert tomllib.loads(f"a = {toml.array([value, 'x', value])}\n") == {"a": [value, "x", value]}


@given(plain)
def test_toml_key_stays_bare_when_it_can(value: str) -> None:
    if re.fullmatch(r"[A-Za-z0-9_-]+", value):
        assert toml.key(value) == value


@given(hostile)
def test_toml_comment_cannot_add_lines(value: str) -> None:
    if refused(toml.comment, value):
        return
    assert tomllib.loads(f"# {toml.comment(value)}\nk = 1\n") == {"k": 1}


# --- Telegraf's environment variables ------------------------------------------------------


def telegraf_document(value: str) -> str:
    return (
        f"[global_tags]\n  {toml.telegraf_key(value)} = {toml.telegraf(value)}\n"
        f"[agent]\n  hostname = {toml.telegraf(value)}\n"
        f"[[outputs.influxdb]]\n  urls = {toml.telegraf_array([value, value])}\n"
        '  password = "${MADASH_INFLUXDB_PASSWORD}"\n'
    )


@given(hostile)
@example("US$5 $1 a$ $/ $. $-x $")
@example("${MADASH_INFLUXDB_PASSWORD}")
@example("\\u0024{VAR}")
@example("$\u212a $\u017f")
@settings(max_examples=300)
def test_telegraf_values_never_expand(value: str) -> None:
    """In every mode Telegraf 1.27 to 1.39 has, a value through the telegraf filters
    comes back as written and expands nothing; the template's own ${...} still works."""
    try:
        document = telegraf_document(value)
    except RenderError:
        assert (
            re.search("\\$[$_{A-Za-z\u017f\u212a]", value)
            or "@{" in value  # a secret reference
            or any(0xD800 <= ord(c) < 0xE000 for c in value)
        )
        return
    for mode in format_readers.TELEGRAF_MODES:
        config, expanded = format_readers.telegraf_load(document, variables_in(value), **mode)
        assert expanded == 1, f"{mode}: only the template's own password reference expands"
        assert config["global_tags"] == {value: value}
        assert config["agent"]["hostname"] == value
        assert config["outputs"]["influxdb"][0]["urls"] == [value, value]
        assert config["outputs"]["influxdb"][0]["password"] == SECRET


@pytest.mark.parametrize("mode", format_readers.TELEGRAF_MODES, ids=str)
def test_why_telegraf_needs_its_own_filter(mode: dict[str, bool]) -> None:
    """The plain TOML filter lets "${VAR}" through, and TOML's \\u0024 escape only hides
    a "$" from the raw-text substitution (<= 1.37): 1.38's default strict mode decodes
    the string first and expands it anyway."""
    environment = {"VAR": SECRET}
    plain_doc = f"k = {toml.string('${VAR}')}\n"
    assert format_readers.telegraf_load(plain_doc, environment, **mode)[0] == {"k": SECRET}
    escaped_doc = 'k = "\\u0024{VAR}"\n'
    leaked = format_readers.telegraf_load(escaped_doc, environment, **mode)[0]["k"] == SECRET
    assert leaked == mode["strict"]
    # "$$" is the template's escape, but not with --old-env-behavior, where $$VAR expands:
    dollars = format_readers.telegraf_load('k = "$$VAR"\n', environment, **mode)[0]["k"]
    assert dollars == ("$" + SECRET if mode["old"] else "$VAR")
    with pytest.raises(RenderError):
        toml.telegraf("${VAR}")


def test_telegraf_comments_are_gone_before_substitution() -> None:
    document = f"# {toml.comment('${VAR} $VAR')}\nk = 1\n"
    for mode in format_readers.TELEGRAF_MODES:
        assert format_readers.telegraf_load(document, {"VAR": SECRET}, **mode) == ({"k": 1}, 0)


# --- YAML, compose, Grafana ----------------------------------------------------------------


@given(hostile)
@example("\x85\u2028\u2029\ufeff\uffff\t\x7f'\"\\")
def test_yaml_scalar(value: str) -> None:
    if refused(yaml.scalar, value):
        assert any(0xD800 <= ord(c) < 0xE000 for c in value)
        return
    out = yaml.scalar(value)
    assert pyyaml.safe_load(f"k: {out}\nl:\n  - {out}\n") == {"k": value, "l": [value]}
    assert "\n" not in out and "\t" not in out


@given(hostile)
def test_compose_values_never_interpolate(value: str) -> None:
    assume(not refused(yaml.compose, value))
    loaded = pyyaml.safe_load(f"image: {yaml.compose(value)}\n")["image"]
    assert format_readers.compose_interpolate(loaded, variables_in(value)) == value


@given(hostile)
def test_grafana_refuses_every_dollar(value: str) -> None:
    if refused(yaml.grafana, value):
        assert "$" in value or any(0xD800 <= ord(c) < 0xE000 for c in value)
        return
    assert pyyaml.safe_load(f"uid: {yaml.grafana(value)}\n") == {"uid": value}


@given(hostile)
def test_yaml_comment_cannot_add_keys(value: str) -> None:
    if refused(yaml.comment, value):
        return
    assert pyyaml.safe_load(f"# {yaml.comment(value)}\nk: 1\n") == {"k": 1}


COMPOSE_SAMPLES = ["${VAR}", "$VAR", "$$", "a$", "x\"y'z\\", "tab\tand\nnewline", "\u2028\x85", "#not: a comment"]


# docker-compose 1.29's own loader, run by the system Python it is installed for: its
# `config` command prints through yaml.dump, which turns NEL into a line break.
COMPOSE_LOADER = """
import json, sys
from compose.config import config
from compose.config.environment import Environment
environment = Environment.from_env_file(sys.argv[1], sys.argv[2])
details = config.find(sys.argv[1], [sys.argv[3]], environment)
print(json.dumps([s["environment"] for s in config.load(details).services]))
"""


def docker_compose_environments(directory: Path, env_file: str, compose_file: str) -> list[dict[str, str]]:
    result = subprocess.run(
        ["/usr/bin/python3", "-c", COMPOSE_LOADER, directory, env_file, compose_file],
        capture_output=True, text=True, check=False, env={"PATH": "/usr/bin:/bin"}, cwd=directory,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    environments: list[dict[str, str]] = json.loads(result.stdout)
    return environments


def test_docker_compose_reads_compose_values_back(tmp_path: Path) -> None:
    """Real docker-compose 1.29 (PyYAML and its interpolation), with VAR set to a secret."""
    services = "".join(
        f"  s{i}:\n    image: {yaml.compose('busybox')}\n    environment:\n      V: {yaml.compose(v)}\n"
        for i, v in enumerate(COMPOSE_SAMPLES)
    )
    (tmp_path / "compose.yml").write_text(f"version: {yaml.compose('3.7')}\nservices:\n{services}")
    (tmp_path / "e.env").write_text(f"VAR={SECRET}\n")
    read = [e["V"] for e in docker_compose_environments(tmp_path, "e.env", "compose.yml")]
    assert read == COMPOSE_SAMPLES


# --- deb822 --------------------------------------------------------------------------------


def python_debian(text: str) -> list[dict[str, str]]:
    return [dict(p) for p in debian_deb822.Deb822.iter_paragraphs(text)]


@given(hostile)
@example("a\u2028Essential: yes")
@example("x\nTrusted: yes")
def test_deb822_value(value: str) -> None:
    if refused(deb822.value, value):
        return
    for text in (f"Field: {deb822.value(value)}\n", f"Field: a {deb822.value(value)} b\n"):
        assert python_debian(text) == deb822.parse_paragraphs(text)
    assert python_debian(f"Field: {value}\nOther: x\n") == [{"Field": value, "Other": "x"}]


@given(hostile)
def test_deb822_words(value: str) -> None:
    if refused(deb822.word, value):
        return
    text = f"Suites: a {deb822.words([value, value])} b\n"
    assert python_debian(text)[0]["Suites"].split() == ["a", value, value, "b"]


@given(hostile)
def test_deb822_field_name(value: str) -> None:
    if refused(deb822.field_name, value):
        return
    assert list(python_debian(f"{deb822.field_name(value)}: v\n")[0]) == [value]


@given(hostile)
def test_deb822_comment_in_a_sources_file(value: str) -> None:
    if refused(deb822.comment, value):
        return
    text = f"# {deb822.comment(value)}\nTypes: deb\nURIs: {deb822.word('file:///srv')}\n"
    assert python_debian(text) == [{"Types": "deb", "URIs": "file:///srv"}]
    assert deb822.parse_paragraphs(text, comments=True) == [{"Types": "deb", "URIs": "file:///srv"}]


@given(st.lists(hostile, min_size=1, max_size=5).map("\n".join))
@example("synopsis\nline one\n\n  indented")
def test_deb822_fold(logical: str) -> None:
    try:
        folded = deb822.fold(logical)
        text = deb822.format_paragraph({"Package": "p", "Description": folded})
    except RenderError:
        return
    [paragraph] = python_debian(text)
    assert deb822.unfold(paragraph["Description"]) == logical
    assert deb822.parse_paragraphs(text) == [paragraph]


field_names = st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,8}", fullmatch=True)


@given(st.dictionaries(field_names, hostile, max_size=5), st.lists(field_names, max_size=3))
def test_deb822_paragraph(fields: dict[str, str], order: list[str]) -> None:
    try:
        text = deb822.format_paragraph(fields, order)
    except RenderError:
        return
    assert python_debian(text) == ([fields] if fields else [])
    assert deb822.parse_paragraphs(text) == ([fields] if fields else [])
    written = [line.split(":")[0] for line in text.splitlines() if not line.startswith(" ")]
    ranked = list(dict.fromkeys(n for o in order for n in fields if n.lower() == o.lower()))
    assert written == ranked + sorted(n for n in fields if n not in ranked)


def test_deb822_paragraph_refuses_case_twins() -> None:
    with pytest.raises(RenderError):
        deb822.format_paragraph({"Package": "a", "package": "b"})


@given(st.lists(st.one_of(st.sampled_from(["A: 1", "B:", " c", " .", "", "#x", "\t", "x", "A: 2", "c: \u2028"]),
                          hostile), max_size=8).map("\n".join))  # fmt: skip
def test_deb822_parser_agrees_with_python_debian_or_refuses(text: str) -> None:
    try:
        mine = deb822.parse_paragraphs(text)
    except RenderError:
        return
    assert mine == python_debian(text)


# --- nginx ---------------------------------------------------------------------------------


@given(hostile)
@example('127.0.0.1:8443" ssl; location / { root /; } #')
@example("a\\\\\"b\\t'{};#")
@example("$ssl_client_s_dn")
def test_nginx_value(value: str) -> None:
    if refused(nginx.value, value):
        assert "$" in value or any(is_unsafe(ch) for ch in value)
        return
    parsed = nginx.parse(f"http {{\n    root {nginx.value(value)};\n    autoindex off;\n}}\n")
    assert parsed == (
        nginx.Directive("http", (), (nginx.Directive("root", (value,), None, 2),
                                     nginx.Directive("autoindex", ("off",), None, 3)), 1),
    )  # fmt: skip


@given(hostile)
def test_nginx_comment(value: str) -> None:
    if refused(nginx.comment, value):
        return
    assert nginx.parse(f"# {nginx.comment(value)}\nroot x;\n") == (nginx.Directive("root", ("x",), None, 2),)


@pytest.mark.parametrize(
    ("source", "message"),
    [("root x", "end of file"), ("}", "unexpected '}'"), ("root x; }", "unexpected '}'"), ("http {", "end of file"),
     (";", "unexpected ';'"), ('root "x"y;', "after a closing quote"), ('root "x;', "not closed")],
)  # fmt: skip
def test_nginx_parser_refuses_what_nginx_refuses(source: str, message: str) -> None:
    with pytest.raises(RenderError, match=message):
        nginx.parse(source)


def test_nginx_parser_reads_words_as_nginx_does() -> None:
    # '#' and '}' inside a word are part of it; '{' after '$' is a variable's, not a block's.
    assert nginx.parse("a b#c d};\nset ${x}y 1;") == (
        nginx.Directive("a", ("b#c", "d}"), None, 1), nginx.Directive("set", ("${x}y", "1"), None, 2),
    )  # fmt: skip
    # A backslash escapes only quotes, itself, t, r and n (ngx_conf_read_token); '\\;' stays as written.
    assert nginx.parse("a 'x\\'y' \\;z;") == (nginx.Directive("a", ("x'y", "\\;z"), None, 1),)


# --- stunnel -------------------------------------------------------------------------------


@given(hostile)
@example("127.0.0.1:5086\nexec = /bin/sh")
def test_stunnel_value(value: str) -> None:
    if refused(stunnel.value, value):
        return
    config = stunnel.parse(f"foreground = yes\n[door]\naccept = {stunnel.value(value)}\nconnect = x\n")
    assert config.globals == (("foreground", "yes"),)
    assert config.services == (stunnel.Service("door", (("accept", value), ("connect", "x"))),)


@given(hostile)
@example("door]\n[evil")
def test_stunnel_section(value: str) -> None:
    if refused(stunnel.section, value):
        return
    assert stunnel.parse(f"[{stunnel.section(value)}]\na = b\n").services == (stunnel.Service(value, (("a", "b"),)),)


@given(hostile)
def test_stunnel_comment(value: str) -> None:
    if refused(stunnel.comment, value):
        return
    assert stunnel.parse(f"; {stunnel.comment(value)}\na = b\n") == stunnel.Config((("a", "b"),), ())


def test_stunnel_splits_long_lines_so_the_filter_refuses_long_values() -> None:
    # stunnel reads 16383 bytes per line at most: the rest of a long line is a line of its own.
    smuggled = "x" * (stunnel.LINE_BYTES - len("accept = ")) + "exec = /bin/sh"
    assert stunnel.parse(f"[door]\naccept = {smuggled}\n").services[0].options[-1] == ("exec", "/bin/sh")
    with pytest.raises(RenderError):
        stunnel.value(smuggled)


# --- systemd -------------------------------------------------------------------------------


@given(hostile)
@example("; /bin/sh -c evil")
@example(";")
@example("%n $MAINPID ${VAR} \\x41")
def test_systemd_arg(value: str) -> None:
    if refused(systemd.arg, value):
        return
    unit = f"[Service]\nExecStart=/usr/bin/telegraf -config {systemd.arg(value)} $TELEGRAF_OPTS\n"
    [(key, command)] = systemd.parse(unit)["Service"]
    assert key == "ExecStart"
    environment = variables_in(value) | {"TELEGRAF_OPTS": "--once"}
    assert systemd.command(command, environment) == ["/usr/bin/telegraf", "-config", value, "--once"]


@given(plain.map(lambda v: "/" + v))
def test_systemd_exec(value: str) -> None:
    if refused(systemd.executable, value):
        return
    [(_, command)] = systemd.parse(f"[Service]\nExecStart={systemd.executable(value)} up\n")["Service"]
    assert systemd.command(command) == [value, "up"]


@given(hostile)
def test_systemd_exec_refuses_prefixes_and_quotes(value: str) -> None:
    if refused(systemd.executable, value):
        return
    assert value.startswith("/") and not set(value) & set("\\\"'$ \t")


@given(hostile)
@example("/etc/x\nExecStartPre=/bin/sh")
@example("/etc/x\\")
def test_systemd_value(value: str) -> None:
    if refused(systemd.value, value):
        return
    parsed = systemd.parse(f"[Service]\nEnvironmentFile={systemd.value(value)}\nUser=telegraf\n")
    assert parsed == {"Service": [("EnvironmentFile", value), ("User", "telegraf")]}


@given(hostile)
def test_systemd_comment(value: str) -> None:
    if refused(systemd.comment, value):
        return
    assert systemd.parse(f"# {systemd.comment(value)}\n[Service]\nUser=telegraf\n") == {
        "Service": [("User", "telegraf")]
    }


def test_systemd_rendered_units_read_back() -> None:
    from madash.render import render

    context = {
        "libexec": "/usr/libexec/madash-server",
        "env_file": "/etc/madash-server/madash.env",
        "influxdb_port": 8086,
        "data_dir": "/var/lib/madash",
        "baked": "/usr/share/madash-server/baked.json",
    }
    service = systemd.parse(render("debian/server/madash-ensure-influxdb.service.j2", context))["Service"]
    start = dict(service)["ExecStart"]
    assert systemd.command(start) == [
        "/usr/libexec/madash-server/ensure-influxdb", "--env-file", "/etc/madash-server/madash.env",
        "--url", "http://127.0.0.1:8086", "--state", "/var/lib/madash/ensure-influxdb.state",
        "--baked", "/usr/share/madash-server/baked.json", "--wait", "120",
    ]  # fmt: skip


# --- apt.conf ------------------------------------------------------------------------------


@given(hostile)
@example('x";\nAPT::Update::Pre-Invoke:: "touch /tmp/pwned"')
def test_aptconf_string(value: str) -> None:
    if refused(aptconf.string, value):
        assert '"' in value or any(is_unsafe(c) for c in value)
        return
    text = f"// {aptconf.comment('x')}\nAcquire::https::host::CaInfo {aptconf.string(value)};\n"
    assert aptconf.parse(text) == {"Acquire::https::host::CaInfo": value}


@given(hostile)
def test_aptconf_comment(value: str) -> None:
    if refused(aptconf.comment, value):
        return
    assert aptconf.parse(f'// {aptconf.comment(value)}\nA::b "c";\n') == {"A::b": "c"}


HOSTS = ["monitor.example.org", "localhost", "192.0.2.7", "2001:db8::1", "::1", "2001:DB8::", "a-b.c0"]
BAD_HOSTS = ["fe80::1%eth0", "a b", "x::CaInfo", "-a.org", "a..b", "[::1]", "a%41", "a.org.", ""]


@pytest.mark.parametrize("host", HOSTS)
def test_aptconf_host_accepts(host: str) -> None:
    assert aptconf.host(host) == host


@pytest.mark.parametrize("host", BAD_HOSTS)
def test_aptconf_host_refuses(host: str) -> None:
    with pytest.raises(RenderError):
        aptconf.host(host)


APT_SAMPLES = ["/etc/madash/tls/ca.crt", "  lead and trail  ", "a//b #c /*d*/ ;{}", "back\\slash", "it's $x `y`", "%41"]


def test_apt_config_reads_values_back(tmp_path: Path) -> None:
    """Real apt-config: each value under each kind of host component comes back unchanged."""
    note = 'madash site "x": //, /* and # inside a comment'
    lines = [f"// {aptconf.comment(note)}"]
    names = []
    for i, host in enumerate(HOSTS):
        for j, value in enumerate(APT_SAMPLES):
            name = f"Acquire::https::{aptconf.host(host)}::Madash{i}x{j}"
            lines.append(f"{name} {aptconf.string(value)};")
            names.append((name, value))
    path = tmp_path / "90madash"
    path.write_text("\n".join(lines) + "\n")
    assert aptconf.parse(path.read_text()) == dict(names)
    for name, value in names:
        out = subprocess.run(["apt-config", "-c", path, "shell", "V", name], capture_output=True, text=True, check=True)
        assert shlex.split(out.stdout) == [f"V={value}"], name


# --- sudoers -------------------------------------------------------------------------------


@given(hostile)
@example("--device=nvme, ALL")
@example("a:b")
def test_sudoers_arg(value: str) -> None:
    if refused(sudoers.arg, value):
        assert not value or '"' in value or any(c.isspace() or is_unsafe(c) for c in value)
        return
    rule = f"Cmnd_Alias X = /usr/sbin/smartctl \\\n    {sudoers.arg(value)} -n\n"
    text = f"# {sudoers.comment('x')}\n{rule}root ALL=(root) X\n"
    [alias, _] = sudoers.logical_lines(text)
    path, args = sudoers.command_args(alias.split("=", 1)[1])
    assert path == "/usr/sbin/smartctl"
    assert [sudoers.literal(a) for a in args.split(" ")] == [value, "-n"]
    # sudo matches the user's arguments, joined by spaces, against the stored pattern.
    assert libc_fnmatch(args, f"{value} -n")


def libc_fnmatch(pattern: str, string: str) -> bool:
    """fnmatch(3) as sudo calls it (flags 0: backslash escapes the next character)."""
    return bool(LIBC.fnmatch(pattern.encode(), string.encode(), 0) == 0)


LIBC = ctypes.CDLL(None)
SUDOERS_SAMPLES = ["--device=nvme", "a,b", "a:b", "c\\d", "#1", "x*y?[z]!^", "^--info$", "/dev/sd[a-z]", "é"]


def test_visudo_and_cvtsudoers_read_args_back(tmp_path: Path) -> None:
    """Real visudo accepts the file; real cvtsudoers shows each argument as sudo stores it."""
    lines = [f"# {sudoers.comment('madash-client-x')}"]
    for i, value in enumerate(SUDOERS_SAMPLES):
        lines.append(f"Cmnd_Alias A{i} = /usr/sbin/smartctl {sudoers.arg(value)}")
    lines.append("root ALL=(root) " + ", ".join(f"A{i}" for i in range(len(SUDOERS_SAMPLES))))
    path = tmp_path / "madash"
    path.write_text("\n".join(lines) + "\n")
    subprocess.run(["visudo", "-c", "-q", "-f", path], check=True)
    shown = json.loads(subprocess.run(["cvtsudoers", "-f", "json", path], capture_output=True, check=True).stdout)
    for i, value in enumerate(SUDOERS_SAMPLES):
        [command] = shown["Command_Aliases"][f"A{i}"]
        mine = " ".join(sudoers.command_args(lines[i + 1].split("=", 1)[1]))
        assert command["command"] == mine
        stored = mine.split(" ", 1)[1]
        assert sudoers.literal(stored) == value and libc_fnmatch(stored, value)


@given(hostile)
def test_sudoers_comment(value: str) -> None:
    if refused(sudoers.comment, value):
        return
    assert sudoers.logical_lines(f"# {sudoers.comment(value)}\nroot ALL=(ALL) ALL\n") == ["root ALL=(ALL) ALL"]


# --- POSIX sh ------------------------------------------------------------------------------


@given(hostile)
def test_shell_quote(value: str) -> None:
    if refused(shell.quote, value):
        assert "\0" in value or any(0xD800 <= ord(c) < 0xE000 for c in value)
        return
    assert shell.split(f"cmd {shell.quote(value)}/suffix x") == ["cmd", value + "/suffix", "x"]


@given(hostile)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_dash_reads_words_back(value: str) -> None:
    """Debian's /bin/sh itself: the word and the comment both come back as written."""
    if refused(shell.quote, value) or refused(shell.comment, value):
        assume(False)
    script = f"# {shell.comment(value)}\nprintf '%s\\0' {shell.quote(value)}\nprintf 'end\\0'\n"
    result = subprocess.run(["dash", "-c", script], capture_output=True, check=True)
    assert result.stdout == value.encode() + b"\0end\0"


# --- InfluxQL ------------------------------------------------------------------------------


@given(hostile)
@example('telegraf"; DROP DATABASE "telegraf')
@example("90d' OR 1=1")
def test_influxql(value: str) -> None:
    for function in (influxql.ident, influxql.string):
        if refused(function, value):
            continue
        assert influxql.scan_string(function(value) + " WITH x") == (value, " WITH x")


# --- env files -----------------------------------------------------------------------------


@functools.cache
def ensure_influxdb_reader() -> Any:
    """ensure-influxdb's own env-file reader (the script is stdlib-only and not a module of madash)."""
    path = data_root() / "debian/server/ensure_influxdb.py"
    spec = importlib.util.spec_from_file_location("ensure_influxdb_for_tests", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module.read_env


@given(value=hostile)
@example(value="pw ${MADASH_INFLUXDB_PASSWORD}")
@example(value="a\nINFLUXDB_DB=other")
def test_env_value_reads_alike_everywhere(value: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    if refused(envfile.value, value):
        return
    text = f"# {envfile.comment('x')}\nA={envfile.value(value)}\nB=after\n"
    expected = {"A": value, "B": "after"}
    assert envfile.parse(text) == expected
    for continues in (True, False):
        assert format_readers.systemd_env_file(text, comment_escape_continues=continues) == expected
    assert format_readers.compose_dotenv(text, variables_in(value)) == expected
    path = tmp_path_factory.mktemp("env") / "madash.env"
    path.write_text(text)
    assert ensure_influxdb_reader()(path) == expected


@given(plain)
def test_env_accepts_generated_passwords(value: str) -> None:
    assert envfile.value(value) == value


@given(hostile)
@example("trailing backslash \\")
def test_env_comment_cannot_hide_the_next_line(value: str) -> None:
    text = f"# {value}\nA=1\n"
    if refused(envfile.comment, value):
        # What the refusal prevents: systemd 252 would drop A after a comment ending in "\".
        trailing = len(value) - len(value.rstrip("\\"))
        # An odd run of trailing backslashes escapes the newline; an even one escapes itself.
        if trailing % 2 and "\n" not in value and "\r" not in value:
            assert format_readers.systemd_env_file(text, comment_escape_continues=True) == {}
        return
    for continues in (True, False):
        assert format_readers.systemd_env_file(text, comment_escape_continues=continues) == {"A": "1"}
    assert envfile.parse(text) == {"A": "1"}


ENV_SAMPLES = ["AbC-_09", "x%y&z(1)*+,-./:;<=>?@[]^_{|}~!", ""]


def test_docker_compose_reads_the_env_file(tmp_path: Path) -> None:
    """Real docker-compose 1.29 reads madash.env (through python-dotenv, expansion on)."""
    env = "".join(f"V{i}={envfile.value(v)}\n" for i, v in enumerate(ENV_SAMPLES))
    (tmp_path / "madash.env").write_text(f"# {envfile.comment('madash-server')}\n{env}")
    environment = "".join(f"      V{i}: ${{V{i}}}\n" for i in range(len(ENV_SAMPLES)))
    (tmp_path / "compose.yml").write_text(f"services:\n  s:\n    image: busybox\n    environment:\n{environment}")
    [read] = docker_compose_environments(tmp_path, "madash.env", "compose.yml")
    assert [read[f"V{i}"] for i in range(len(ENV_SAMPLES))] == ENV_SAMPLES


# --- lintian overrides ---------------------------------------------------------------------


@given(hostile)
def test_lintian_package(value: str) -> None:
    if refused(lintian.package, value):
        return
    text = f"# {lintian.comment('x')}\n{lintian.package(value)}: some-tag [etc/x]\n"
    assert lintian.parse(text) == [(value, "some-tag", "[etc/x]")]


# --- every filter --------------------------------------------------------------------------


def test_non_text_values_are_refused() -> None:
    for function in (toml.string, yaml.scalar, deb822.value, stunnel.value, systemd.arg, shell.quote, envfile.value):
        for value in (None, True, 1.5, b"x", ["x"]):
            with pytest.raises(RenderError):
                function(value)
    assert stunnel.value(5086) == "5086" and shell.quote(Path("/etc/x")) == "/etc/x"


def test_deb822_paragraph_writes_a_field_named_twice_in_the_order_once() -> None:
    # Found by hypothesis (order=['A', 'A']): the field was written twice, which the re-read refuses.
    assert deb822.format_paragraph({"A": "1", "B": "2"}, ["A", "a", "B"]) == "A: 1\nB: 2\n"
