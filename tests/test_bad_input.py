"""A corpus of bad input: every case one error line, the right exit code, no traceback, nothing changed.

Each case changes a fresh site (an edit of madash.toml, or another file) and/or gives a command line,
and names the exit code (2: bad input, 1: operational) and a piece of the one error line. The site is
hashed after the change and again after the failing command: not one byte may differ. `init` cases run
in a directory that does not exist yet, and must leave it so. Most cases run in-process; a few of
each kind run as separate processes too, for what exec hands over and the exit status a shell sees.

Many cases are injection attempts against the formats madash generates from these values: deb822
control files (`Essential: yes`), apt sources (`Trusted: yes`), Telegraf's TOML (`[[inputs.exec]]`,
`${VAR}` expansion), the compose file's YAML (`privileged: true`), stunnel's sections (`]\\n[evil]`),
InfluxQL (`DROP DATABASE`), and every kind of control character (NUL, ESC, DEL, C1, U+2028).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from madash.bootstrap import init_site
from madash.pki import store as certstore
from madash.site.config import load_site
from tests.conftest import NOW, Result, assert_one_line_error, run_cli, snapshot

Edit = Callable[[str], str]
Prepare = Callable[[Path], None]
SECRET_VARIABLE = "${MADASH_INFLUXDB_PASSWORD}"
SECRET_REFERENCE = "@{madash:influxdb_password}"


def q(value: str) -> str:
    """A TOML basic string holding value exactly, control characters escaped (DEL too, which json leaves)."""
    return json.dumps(value).replace("\x7f", "\\u007f")


def qs(*values: str) -> str:
    return "[" + ", ".join(q(v) for v in values) + "]"


def setting(key: str, toml_value: str) -> Edit:
    """Replace the line `key = ...` that init wrote."""

    def edit(text: str) -> str:
        lines = text.splitlines()
        matches = [i for i, line in enumerate(lines) if line.startswith(f"{key} =")]
        assert len(matches) == 1, key
        lines[matches[0]] = f"{key} = {toml_value}"
        return "\n".join(lines) + "\n"

    return edit


def adding(section: str, line: str) -> Edit:
    """Add a line just below [section]'s header."""

    def edit(text: str) -> str:
        header = f"[{section}]\n"
        assert header in text, section
        return text.replace(header, f"{header}{line}\n", 1)

    return edit


def appending(extra: str) -> Edit:
    return lambda text: text + "\n" + extra + "\n"


def host(body: str, name: str = "laptop") -> Edit:
    return appending(f"[hosts.{name}]\n{body}")


def writing(relative: str, data: bytes) -> Prepare:
    def prepare(root: Path) -> None:
        (root / relative).write_bytes(data)

    return prepare


def truncating(relative: str) -> Prepare:
    def prepare(root: Path) -> None:
        path = root / relative
        path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])

    return prepare


def issuing_laptop(then: Prepare | None = None) -> Prepare:
    def prepare(root: Path) -> None:
        certstore.issue_host(load_site(root), "laptop", lambda: None, NOW)
        if then is not None:
            then(root)

    return prepare


@dataclass(frozen=True)
class Case:
    label: str
    args: tuple[str, ...]
    needle: str
    code: int = 2
    edit: Edit | None = None
    prepare: Prepare | None = None
    fresh: bool = False  # init into a directory that does not exist
    env: dict[str, str] = field(default_factory=dict)
    process: bool = False  # run as a separate process (run_cli), arguments through exec as they are


# Run these as real processes too: what exec hands over, and the exit status a shell sees.
IN_A_PROCESS = {
    "toml site name deb822 field",
    "toml nested arrays",
    "toml repo url deb822 field",
    "cli tag exec",
    "cli revoke newline",
    "cli jobs 0",
    "cli truncated ca key",
    "cli push proxycommand",
    "init scope id",
    "init DEBEMAIL",
    "init name U+2028",
}


# The commands a broken madash.toml must stop, taken in turn so that each meets many cases.
COMMANDS: tuple[tuple[str, ...], ...] = (
    ("list",),
    ("server",),
    ("client", "laptop"),
    ("client", "--all"),
    ("revoke", "laptop"),
    ("renew", "--server"),
    ("renew", "laptop"),
    ("repo",),
    ("client", "laptop", "--feature", "smart"),
    ("list", "--json"),
)

# (label, edit of madash.toml, needle)
FILE_CASES: list[tuple[str, Edit, str]] = [
    # [site]: deb822 control files, changelogs, certificate subjects
    ("site name deb822 field", setting("name", q("x\nEssential: yes")), "control character U+000A"),
    ("site name quote", setting("name", q('x" Essential="yes')), "invalid site name"),
    ("site name empty", setting("name", q("")), "invalid site name"),
    ("site name too long", setting("name", q("x" * 64)), "invalid site name"),
    ("site name path", setting("name", q("../x")), "invalid site name"),
    ("site name U+2028", setting("name", q("x\u2028Essential: yes")), "control character U+2028"),
    ("maintainer deb822 field", setting("maintainer", q("A <a@b.org>\nEssential: yes")), "U+000A"),
    ("maintainer quote", setting("maintainer", q('A "B" <a@b.org>')), "invalid maintainer"),
    ("maintainer comma", setting("maintainer", q("A, B <a@b.org>")), "invalid maintainer"),
    ("maintainer localhost", setting("maintainer", q("root <root@localhost>")), "invalid maintainer"),
    ("maintainer trailer", setting("maintainer", q("A <a@b.org>  Mon, 1 Jan 2024")), "invalid maintainer"),
    ("maintainer no domain", setting("maintainer", q("A <a@b>")), "invalid maintainer"),
    ("maintainer NUL", setting("maintainer", q("A\x00 <a@b.org>")), "control character U+0000"),
    # [server]: certificates, stunnel.conf, URLs in Telegraf's and Grafana's configurations
    ("address scope id", setting("addresses", qs("fe80::1%eth0")), "scope id"),
    ("address 0.0.0.0", setting("addresses", qs("0.0.0.0")), "unspecified"),
    ("address ::", setting("addresses", qs("::")), "unspecified"),
    ("address mapped 0.0.0.0", setting("addresses", qs("::ffff:0.0.0.0")), "unspecified"),
    ("address multicast", setting("addresses", qs("224.0.0.1")), "multicast"),
    ("address ipv6 multicast", setting("addresses", qs("ff02::1")), "multicast"),
    ("address broadcast", setting("addresses", qs("255.255.255.255")), "broadcast"),
    ("address twice", setting("addresses", qs("127.0.0.1", "127.0.0.1")), "'127.0.0.1' twice"),
    ("address twice in case", setting("addresses", qs("Mon.example.org", "mon.example.org")), "twice"),
    ("address twice spelled", setting("addresses", qs("::1", "0:0::1")), "twice"),
    ("address stunnel section", setting("addresses", qs("x]\n[evil]")), "control character U+000A"),
    ("address bracket", setting("addresses", qs("x][evil")), "invalid server address"),
    ("address none", setting("addresses", "[]"), "at least one address"),
    ("address trailing dot", setting("addresses", qs("mon.example.org.")), "invalid server address"),
    ("address with port", setting("addresses", qs("mon.example.org:5086")), "invalid server address"),
    ("address url", setting("addresses", qs("https://mon.example.org/")), "invalid server address"),
    ("address ESC", setting("addresses", qs("mon\x1b.example.org")), "control character U+001B"),
    ("door port 0", setting("door_port", "0"), "not a port number"),
    ("door port 65536", setting("door_port", "65536"), "not a port number"),
    ("door port string", setting("door_port", q("5086")), "must be a whole number"),
    ("grafana port 0", setting("grafana_port", "0"), "not a port number"),
    ("influxdb local port 22", adding("server", "influxdb_local_port = 22"), "22 is ssh"),
    ("grafana local port 1", adding("server", "grafana_local_port = 1"), "below 1024"),
    ("ports clash", setting("door_port", "8086"), "clashes with server.door_port"),
    # server.repo_port: nginx's listen lines (madash-repo.service), and the hosts' default repository URL
    ("repo port 0", setting("repo_port", "0"), "not a port number"),
    ("repo port 65536", setting("repo_port", "65536"), "not a port number"),
    ("repo port string", setting("repo_port", q("8443")), "must be a whole number"),
    ("repo port nginx", setting("repo_port", q('8443" ssl; location / { root /; } #')), "must be a whole number"),
    ("repo port clash", setting("repo_port", "5086"), "clashes with server.door_port"),
    ("repo port bool", setting("repo_port", "true"), "must be a whole number"),
    ("listen twice", adding("server", "listen = " + qs("0.0.0.0", "0.0.0.0")), "twice"),
    ("listen scope id", adding("server", "listen = " + qs("fe80::1%eth0")), "scope id"),
    ("listen name", adding("server", "listen = " + qs("mon.example.org")), "not an IP address"),
    ("listen multicast", adding("server", "listen = " + qs("239.1.1.1")), "multicast"),
    # [pki]: lifetimes bounded before any date arithmetic
    ("ca days 10**9", setting("ca_days", str(10**9)), "from 1 to 36500"),
    ("ca days huge", setting("ca_days", "9223372036854775807"), "from 1 to 36500"),
    ("ca days 0", setting("ca_days", "0"), "from 1 to 36500"),
    ("ca days negative", setting("ca_days", "-1"), "from 1 to 36500"),
    ("ca days float", setting("ca_days", "1e9"), "must be a whole number"),
    ("server days 3651", setting("server_days", "3651"), "from 1 to 3650"),
    ("client days beyond ca", setting("ca_days", "100"), "more than pki.ca_days"),
    ("crl days 0", setting("crl_days", "0"), "from 1 to 3650"),
    ("crl days huge", setting("crl_days", "99999999"), "from 1 to 3650"),
    ("key type", setting("key_type", q("dsa:1024")), "is not one of ec:p256"),
    # [influxdb]: the env file, the compose file's YAML, InfluxQL in ensure-influxdb
    ("database yaml key", setting("database", q("telegraf\nprivileged: true")), "control character U+000A"),
    ("database dot", setting("database", q(".")), "not a database name"),
    ("database dotdot", setting("database", q("..")), "not a database name"),
    ("database slash", setting("database", q("a/b")), "not a database name"),
    ("database glob", setting("database", q("tele[graf")), "not a database name"),
    ("database quote", setting("database", q('a"; DROP DATABASE x; --')), "not a database name"),
    ("database space at end", setting("database", q("telegraf ")), "not a database name"),
    ("database too long", setting("database", q("d" * 65)), "not a database name"),
    ("database empty", setting("database", q("")), "not a database name"),
    ("user colon", setting("admin_user", q("ad:min")), "not a user name"),
    ("user space", setting("writer_user", q("tele graf")), "not a user name"),
    ("user empty", setting("reader_user", q("")), "not a user name"),
    ("user quote", setting("reader_user", q('g"; DROP USER admin; --')), "not a user name"),
    ("admin is writer", setting("writer_user", q("admin")), "each role needs its own user"),
    ("reader is admin", setting("reader_user", q("admin")), "each role needs its own user"),
    ("retention 90D", setting("retention", q("90D")), "is not a retention"),
    ("retention forever", setting("retention", q("forever")), "is not a retention"),
    ("retention compound", setting("retention", q("1d12h")), "is not a retention"),
    ("retention 0s", setting("retention", q("0s")), "is not a retention"),
    ("retention minutes", setting("retention", q("30m")), "is not a retention"),
    ("retention leading zero", setting("retention", q("090d")), "is not a retention"),
    ("retention overflow hours", setting("retention", q("2562048h")), "is not a retention"),
    ("retention overflow days", setting("retention", q("106752d")), "is not a retention"),
    ("retention overflow weeks", setting("retention", q("15251w")), "is not a retention"),
    ("retention huge", setting("retention", q("9" * 40 + "d")), "is not a retention"),
    ("retention influxql", setting("retention", q('"; DROP DATABASE x; --')), "is not a retention"),
    ("retention newline", setting("retention", q("90d\nDROP DATABASE x")), "control character U+000A"),
    # [internet]: the probe's and hosts' Telegraf configurations
    ("ping scope id", setting("ping", qs("fe80::1%eth0")), "scope id"),
    ("ping 0.0.0.0", setting("ping", qs("0.0.0.0")), "unspecified"),
    ("ping twice", setting("ping", qs("1.1.1.1", "1.1.1.1")), "twice"),
    ("ping variable", setting("ping", qs(SECRET_VARIABLE)), "invalid server address"),
    ("http variable", setting("http", qs("https://x.example/" + SECRET_VARIABLE)), "holds '$'"),
    ("http bare variable", setting("http", qs("https://x.example/?$HOME")), "holds '$'"),
    ("http quote", setting("http", qs('https://x.example/"]\n[[inputs.exec]]')), "control character U+000A"),
    ("http single quote", setting("http", qs("https://x.example/'")), "not an http"),
    ("http space", setting("http", qs("https://x.example/a b")), "not an http"),
    ("http ftp", setting("http", qs("ftp://x.example/")), "not an http"),
    ("http no host", setting("http", qs("https:///path")), "does not name a host"),
    ("http userinfo", setting("http", qs("https://user:pw@x.example/")), "user information"),
    ("http scope id", setting("http", qs("http://[fe80::1%25eth0]/")), "scope id"),
    ("http port 0", setting("http", qs("https://x.example:0/")), "invalid port"),
    ("http port 99999", setting("http", qs("https://x.example:99999/")), "invalid port"),
    ("http bracket junk", setting("http", qs("http://[::1]x/")), "does not name a host"),
    ("http unbalanced bracket", setting("http", qs("http://[::1/")), "goes in [brackets]"),
    ("http ipv6 unbracketed", setting("http", qs("http://::1/")), "does not name a host"),
    ("http twice", setting("http", qs("https://x.example/", "https://x.example/")), "twice"),
    ("http javascript", setting("http", qs("javascript:alert(1)")), "not an http"),
    ("http match variable", adding("internet", "http_match = " + q(SECRET_VARIABLE)), "holds '$'"),
    ("http match secret", adding("internet", "http_match = " + q(SECRET_REFERENCE)), "holds '@{'"),
    ("http match newline", adding("internet", "http_match = " + q("a\nb")), "control character U+000A"),
    ("dns server name", setting("dns_servers", qs("dns.example")), "not an IP address"),
    ("dns server 0.0.0.0", setting("dns_servers", qs("0.0.0.0")), "unspecified"),
    ("dns server twice", setting("dns_servers", qs("1.1.1.1", "1.1.1.1")), "twice"),
    ("dns domain address", setting("dns_domains", qs("1.1.1.1")), "not a domain name"),
    ("dns domain bad", setting("dns_domains", qs("a..b")), "not a DNS name"),
    ("dns domain twice", setting("dns_domains", qs("debian.org", "Debian.org")), "twice"),
    # [repo]: apt sources (deb822) and apt.conf in every client package
    ("repo serve string", setting("serve", q("yes")), "serve"),
    ("repo serve number", setting("serve", "1"), "serve"),
    ("repo url deb822 field", setting("url", q("https://x.example/\nTrusted: yes")), "control character U+000A"),
    ("repo url space field", setting("url", q("https://x.example/ Trusted: yes")), "cannot hold"),
    ("repo url relative file", setting("url", q("file://relative/path")), "absolute path"),
    ("repo url file no slash", setting("url", q("file:relative")), "not a file://"),
    ("repo url file root", setting("url", q("file:///")), "absolute path"),
    ("repo url dotdot", setting("url", q("file:///srv/../etc")), "'..' path segment"),
    ("repo url query", setting("url", q("file:///srv/madash?x")), "query or a fragment"),
    ("repo url fragment", setting("url", q("https://x.example/repo#f")), "query or a fragment"),
    ("repo url userinfo", setting("url", q("https://u:p@x.example/repo")), "user information"),
    ("repo url ftp", setting("url", q("ftp://x.example/")), "not a file://"),
    ("repo url variable", setting("url", q("https://x.example/$VAR")), "cannot hold"),
    ("repo url quote", setting("url", q('https://x.example/";')), "cannot hold"),
    ("repo url apt.conf", setting("url", q('https://x";};APT::Update::Pre-Invoke{"id')), "cannot hold"),
    ("repo url bad host", setting("url", q("https://x_y.example/")), "does not name a host"),
    ("repo url port 0", setting("url", q("https://x.example:0/")), "invalid port"),
    ("repo url unbalanced bracket", setting("url", q("https://[2001:db8::1/repo")), "goes in [brackets]"),
    ("repo url no host", setting("url", q("https:///repo")), "does not name a host"),
    ("architecture all", setting("architectures", qs("all")), "not a Debian architecture"),
    ("architectures none", setting("architectures", "[]"), "must name Debian architectures"),
    ("architecture twice", setting("architectures", qs("amd64", "amd64")), "twice"),
    ("architecture upper", setting("architectures", qs("AMD64")), "not a Debian architecture"),
    ("architecture NEL", setting("architectures", qs("amd64\x85")), "control character U+0085"),
    ("extra madash-server", setting("extra_packages", qs("madash-server")), "madash's own"),
    ("extra madash-client", setting("extra_packages", qs("madash-client-laptop")), "madash's own"),
    ("extra upper", setting("extra_packages", qs("Telegraf")), "not a Debian package name"),
    ("extra twice", setting("extra_packages", qs("telegraf", "telegraf")), "twice"),
    ("extra shell", setting("extra_packages", qs("x;rm")), "not a Debian package name"),
    ("valid days negative", setting("valid_days", "-1"), "from 0"),
    ("keep versions huge", setting("keep_versions", str(10**12)), "from 0 to 100"),
    # [hosts.*]: Telegraf's configuration of each host
    ("interval centuries", host('interval = "1000000h"'), "from 1s to 1h"),
    ("interval 2h", host('interval = "2h"'), "from 1s to 1h"),
    ("interval ms", host('interval = "500ms"'), "must be a duration"),
    ("interval 0s", host('interval = "0s"'), "must be a duration"),
    ("interval day", host('interval = "1d"'), "must be a duration"),
    ("interval toml", host("interval = " + q('10s"\n[[inputs.exec]]')), "control character U+000A"),
    ("tag host", host('tags = { host = "other" }'), "Telegraf's own"),
    ("tag key dot", host('tags = { "a.b" = "x" }'), "invalid tag name"),
    ("tag key table", host('tags = { "a]\\n[[inputs.exec]]" = "x" }'), "control character U+000A"),
    ("tag key digit", host('tags = { "1a" = "x" }'), "invalid tag name"),
    ("tag key NUL", host('tags = { "k\\u0000" = "x" }'), "control character U+0000"),
    ("tag value variable", host("tags = { room = " + q(SECRET_VARIABLE) + " }"), "holds '$'"),
    ("tag value secret", host("tags = { room = " + q(SECRET_REFERENCE) + " }"), "holds '@{'"),
    ("tag value exec", host("tags = { room = " + q('a"\n[[inputs.exec]]') + " }"), "control character U+000A"),
    ("tag value space", host('tags = { room = " office" }'), "invalid tag value"),
    ("tag value long", host("tags = { room = " + q("x" * 257) + " }"), "invalid tag value"),
    ("tag value DEL", host("tags = { room = " + q("a\x7fb") + " }"), "control character U+007F"),
    ("tag value not string", host("tags = { room = 1 }"), "must be a string"),
    ("features twice", host('features = ["smart", "smart"]'), "names a value twice"),
    ("features clash", host('features = ["vm", "ups"]'), "a vm has no ups"),
    ("feature unknown", host('features = ["smrt"]'), "is not one of"),
    ("ups 0.0.0.0", host('ups_server = "tcp://0.0.0.0:3551"'), "unspecified"),
    ("ups port 0", host('ups_server = "tcp://127.0.0.1:0"'), "invalid port"),
    ("ups port huge", host('ups_server = "tcp://127.0.0.1:99999"'), "not an address such as"),
    ("unattended not a boolean", host('unattended_upgrades = "no"'), "unattended_upgrades"),
    ("ups no port", host('ups_server = "tcp://127.0.0.1"'), "not an address such as"),
    ("ups http", host('ups_server = "http://127.0.0.1:3551"'), "not an address such as"),
    ("ups path", host('ups_server = "tcp://127.0.0.1:3551/x"'), "not an address such as"),
    ("ups scope id", host('ups_server = "tcp://[fe80::1%25eth0]:3551"'), "scope id"),
    ("ups variable", host('ups_server = "tcp://$HOST:3551"'), "not an address such as"),
    ("host key newline", host("features = []", name='"a\\nb"'), "control character U+000A"),
    ("host key upper", host("features = []", name="Laptop"), "invalid host name"),
    ("host key space", host("features = []", name='"a b"'), "invalid host name"),
    # the file itself
    ("nested arrays", adding("site", "x = " + "[" * 5000 + "]" * 5000), "nested too deeply"),
    ("nested tables", adding("site", "x = " + "{a = " * 5000 + "1" + "}" * 5000), "nested too deeply"),
    ("raw NUL", lambda t: t.replace('name = "test site"', 'name = "test\x00site"'), "Illegal character"),
    ("raw ESC", lambda t: t.replace('name = "test site"', 'name = "test\x1bsite"'), "Illegal character"),
    ("raw DEL", lambda t: t.replace('name = "test site"', 'name = "test\x7fsite"'), "Illegal character"),
    ("raw U+2028", lambda t: t.replace('name = "test site"', 'name = "test\u2028site"'), "U+2028"),
    ("raw C1 in comment key", adding("site", '"evil\x9b31m" = 1'), "control character U+009B"),
    ("escape key top", appending('"evil\\u001b[31m" = 1'), "control character U+001B"),
    ("escape key first", lambda t: '"evil\\u001b" = 1\n' + t, "madash.toml: the key 'evil\\x1b'"),
    ("unknown table", appending("[evil]\nx = 1"), "unknown key"),
]

COMMAND_CASES: list[Case] = [
    # client HOST --tag / --interval / --feature: the model's rules, applied to the edited madash.toml
    Case(
        "tag exec",
        ("client", "laptop", "--tag", 'room=a"\n[[inputs.exec]]'),
        "U+000A: no key or value may hold one (as the command line",
    ),
    Case("tag variable", ("client", "laptop", "--tag", f"room={SECRET_VARIABLE}"), "holds '$'"),
    Case("tag bare variable", ("client", "laptop", "--tag", "room=$HOME"), "holds '$'"),
    Case("tag host", ("client", "laptop", "--tag", "host=other"), "Telegraf's own"),
    Case("tag key digit", ("client", "laptop", "--tag", "1a=x"), "invalid tag name"),
    Case("tag key dot", ("client", "laptop", "--tag", "a.b=x"), "invalid tag name"),
    Case("tag key line separator", ("client", "laptop", "--tag", "k\u2028=v"), "control character U+2028"),
    Case("tag value space", ("client", "laptop", "--tag", "room= office"), "invalid tag value"),
    Case("tag value long", ("client", "laptop", "--tag", "room=" + "x" * 257), "invalid tag value"),
    Case("tag value ESC", ("client", "laptop", "--tag", "room=\x1b[31m"), "control character U+001B"),
    Case("tag twice", ("client", "laptop", "--tag", "k=v", "--tag", "k=w"), "given twice"),
    Case("tag no equals", ("client", "laptop", "--tag", "no-equals"), "invalid --tag"),
    Case("interval centuries", ("client", "laptop", "--interval", "1000000h"), "from 1s to 1h"),
    Case("interval ms", ("client", "laptop", "--interval", "500ms"), "must be a duration"),
    Case("interval upper", ("client", "laptop", "--interval", "10S"), "must be a duration"),
    Case("interval 61m", ("client", "laptop", "--interval", "61m"), "from 1s to 1h"),
    Case("interval newline", ("client", "laptop", "--interval", "10s\n[[inputs.exec]]"), "U+000A"),
    Case("feature twice", ("client", "laptop", "--feature", "smart", "--feature", "smart"), "given twice"),
    Case("feature clash", ("client", "laptop", "--feature", "vm", "--feature", "ups"), "a vm has no ups"),
    Case("feature newline", ("client", "laptop", "--feature", "smart\n"), "unknown feature"),
    Case("host newline", ("client", "laptop\n"), "invalid host name"),
    Case("host upper", ("client", "Laptop"), "invalid host name"),
    Case("jobs 0", ("client", "--all", "--jobs", "0"), "0 is not from 1 to 1024"),
    Case("jobs negative", ("client", "--all", "--jobs", "-1"), "-1 is not from 1 to 1024"),
    Case("jobs huge", ("client", "--all", "--jobs", "9" * 30), "is not from 1 to 1024"),
    Case("all with options", ("client", "--all", "--interval", "10s"), "takes no host options"),
    Case("revoke newline", ("revoke", "a\nb"), "invalid host name"),
    Case("renew path", ("renew", "../x"), "invalid host name"),
    Case("revoke unknown", ("revoke", "nosuchhost"), "unknown host 'nosuchhost'"),
    # repo --push DEST reaches rsync's and ssh's argv: checked before anything is published
    Case("push option", ("repo", "--push=--rsh=sh -c 'id>/tmp/x'"), "starts with '-'"),
    Case("push proxycommand", ("repo", "--push", "u@-oProxyCommand=id:/srv"), "the host is"),
    Case("push newline", ("repo", "--push", "mon:/srv/repo\nx"), "U+000A"),
    Case("push daemon", ("repo", "--push", "mon::module"), "rsync daemons"),
    Case("push no path", ("repo", "--push", "mon:"), "directory after the ':'"),
    Case("init over site", ("init", "--server", "127.0.0.1"), "already exists"),
    Case(
        "init force bad maintainer",
        ("init", "--force", "--server", "127.0.0.1", "--maintainer", "A <a@b.org>\nEssential: yes"),
        "invalid maintainer",
    ),
    # operational failures: exit 1, and still nothing changed
    Case(
        "truncated ca key",
        ("revoke", "laptop"),
        "truncated or damaged",
        1,
        prepare=issuing_laptop(truncating("pki/ca.key")),
    ),
    Case("truncated ca cert", ("renew", "--server"), "truncated or damaged", 1, prepare=truncating("pki/ca.crt")),
    Case("damaged index", ("revoke", "laptop"), "is damaged", 1, prepare=writing("pki/index.json", b"[" * 5000)),
    Case("not utf-8", ("list",), "cannot read", prepare=writing("madash.toml", b'[site]\nname = "\xff"\n')),
]

INIT = ("init", "--server", "127.0.0.1")
INIT_CASES: list[Case] = [
    Case("init scope id", ("init", "--server", "fe80::1%eth0"), "scope id"),
    Case("init 0.0.0.0", ("init", "--server", "0.0.0.0"), "unspecified"),
    Case("init ::", ("init", "--server", "::"), "unspecified"),
    Case("init multicast", ("init", "--server", "224.0.0.1"), "multicast"),
    Case("init stunnel section", ("init", "--server", "x]\n[evil]"), "invalid server address 'x]\\n[evil]'"),
    Case("init twice", ("init", "--server", "mon.example.org,MON.example.org"), "twice"),
    Case("init twice repeated", ("init", "--server", "127.0.0.1", "--server", "127.0.0.1"), "twice"),
    Case("init empty", ("init", "--server", ""), "empty server address"),
    Case("init port", ("init", "--server", "mon.example.org:5086"), "invalid server address"),
    Case("init trailing dot", ("init", "--server", "mon.example.org."), "invalid server address"),
    Case("init name deb822", (*INIT, "--name", "x\nEssential: yes"), "invalid site name"),
    Case("init name quote", (*INIT, "--name", 'x"y'), "invalid site name"),
    Case("init name U+2028", (*INIT, "--name", "x\u2028y"), "invalid site name"),
    Case("init name empty", (*INIT, "--name", ""), "invalid site name"),
    Case("init maintainer deb822", (*INIT, "--maintainer", "A <a@b.org>\nEssential: yes"), "invalid maintainer"),
    Case("init maintainer quote", (*INIT, "--maintainer", 'A "B" <a@b.org>'), "invalid maintainer"),
    Case("init maintainer comma", (*INIT, "--maintainer", "A, B <a@b.org>"), "invalid maintainer"),
    Case("init maintainer localhost", (*INIT, "--maintainer", "root <root@localhost>"), "invalid maintainer"),
    Case("init maintainer DEL", (*INIT, "--maintainer", "A\x7f <a@b.org>"), "invalid maintainer"),
    Case("init DEBEMAIL", INIT, "$DEBEMAIL", env={"DEBEMAIL": "A <a@b.org>\nEssential: yes"}),
    Case("init DEBFULLNAME", INIT, "invalid maintainer", env={"DEBFULLNAME": 'Evil "Quote"'}),
]


def _file_case(index: int, label: str, edit: Edit, needle: str) -> Case:
    return Case(f"toml {label}", COMMANDS[index % len(COMMANDS)], needle, edit=edit)


CASES = [
    dataclasses.replace(case, process=case.label in IN_A_PROCESS)
    for case in (
        [_file_case(i, *case) for i, case in enumerate(FILE_CASES)]
        + [dataclasses.replace(c, label=f"cli {c.label}") for c in COMMAND_CASES]
        + [dataclasses.replace(c, fresh=True) for c in INIT_CASES]
    )
]


def test_the_corpus_is_large_and_labels_are_unique() -> None:
    assert len(CASES) >= 110
    assert len({case.label for case in CASES}) == len(CASES)
    assert {case.label for case in CASES} >= IN_A_PROCESS


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("template") / "site"
    init_site(root, ["127.0.0.1", "monitor.example.org"], "test site", force=False, ca_passphrase=None, now=NOW)
    return root


@pytest.mark.parametrize("case", CASES, ids=[case.label for case in CASES])
def test_bad_input(
    case: Case,
    template: Path,
    tmp_path: Path,
    madash: Callable[..., Result],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("DEBEMAIL", "DEBFULLNAME"):
        monkeypatch.delenv(name, raising=False)
    for name, value in case.env.items():
        monkeypatch.setenv(name, value)

    def run(site: Path) -> Result:
        if not case.process:
            return madash("--site", site, *case.args)
        done = run_cli("--site", site, *case.args, env=case.env)
        return Result(done.returncode, done.stdout, done.stderr)

    if case.fresh:
        target = tmp_path / "new-site"
        result = run(target)
        assert_one_line_error(result, case.code, case.needle)
        assert not target.exists(), sorted(target.rglob("*"))
        return
    root = tmp_path / "site"
    shutil.copytree(template, root)
    if case.prepare is not None:
        case.prepare(root)
    if case.edit is not None:
        config = root / "madash.toml"
        edited = case.edit(config.read_text(encoding="utf-8"))
        assert edited != config.read_text(encoding="utf-8")
        config.write_text(edited, encoding="utf-8")
    before = snapshot(root)
    result = run(root)
    assert_one_line_error(result, case.code, case.needle)
    assert snapshot(root) == before
