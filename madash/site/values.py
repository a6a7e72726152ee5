"""The grammar of every kind of value a site holds: names, addresses, URLs, durations, tags.

Each check returns the value when it is valid and raises UsageError otherwise, with
a message that says what is allowed; the site model (site/config.py) applies them
whatever the value's source (madash.toml, the command line, init), so that a value
given on the command line meets exactly the rules of one read from madash.toml.

URLs have their own module, site/urls.py, on top of these.

Bounds come before arithmetic: a count is matched by a pattern of bounded length
before it becomes a number, so that no value can make madash overflow or spend
time on a number with a million digits.

A host name ends up as a DNS label, a certificate CN, a file name under pki/,
a suite in the apt repository and part of a Debian package name
(madash-client-HOST). The intersection of those rules is: lower-case letters,
digits and hyphens, starting and ending with a letter or digit, 1 to 63
characters.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections.abc import Iterable, Mapping

from madash.errors import UsageError

# Unicode's control characters (C0, DEL, C1) and its line and paragraph separators: each ends a line for
# some reader of the files madash generates (TOML, YAML, deb822, shell, InfluxQL, Python's splitlines).
CONTROL_CATEGORIES = ("Cc", "Zl", "Zp")


def control_character(text: str) -> str | None:
    """The first control character of text, or None."""
    return next((char for char in text if unicodedata.category(char) in CONTROL_CATEGORIES), None)


def shown(value: str) -> str:
    return repr(value) if value else "an empty value"


# --- names -----------------------------------------------------------------------------------

HOST_RULE = "lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters"
_HOST_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_LABEL_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


def check_host_name(name: str) -> str:
    """Return name if it is a valid host name, else raise UsageError."""
    if not _HOST_RE.fullmatch(name):
        text = repr(name) if name else "an empty name"
        raise UsageError(f"invalid host name {text}", hint=f"a host name is {HOST_RULE}")
    return name


SITE_NAME_RULE = "letters, digits, space, '.', '_' and '-', starting with a letter or digit, at most 63 characters"
_SITE_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._-]{0,62}")


def check_site_name(name: str) -> str:
    """The site's name: in certificate subjects, package descriptions and file headers."""
    if not _SITE_NAME_RE.fullmatch(name):
        raise UsageError(f"invalid site name {shown(name)}", hint=f"a site name is {SITE_NAME_RULE}")
    return name


# The one default Maintainer: an honest placeholder in a domain that cannot exist.
DEFAULT_MAINTAINER_ADDRESS = "madash@monitoring.invalid"

MAINTAINER_RULE = (
    "'Full Name <user@example.org>': a name of printable characters without < > @ , \" \\, "
    "and a mail address with a real domain"
)
# The name may not hold what ends it or splits it in deb822 (Uploaders-style lists split at ','), in the
# changelog trailer (' -- NAME <MAIL>  DATE') or in a mail header: <, >, @, ',' and quotes.
_MAINTAINER_RE = re.compile(r"([^<>@,\"\\]{1,100}) <([A-Za-z0-9._%+-]{1,64})@([A-Za-z0-9.-]{1,190})>")


def check_maintainer(value: str) -> str:
    """A Maintainer field lintian accepts: 'Full Name <user@domain.tld>', not on localhost."""
    match = _MAINTAINER_RE.fullmatch(value)
    name, domain = (match[1], match[3]) if match else ("", "")
    good = (
        match is not None
        and name.isprintable()
        and name == name.strip()
        and "  " not in name
        and "localhost" not in value
        and "." in domain
        and is_dns_name(domain)
        and domain.rsplit(".", 1)[-1].isalpha()
    )
    if not good:
        raise UsageError(f"invalid maintainer {shown(value)}", hint=f"use {MAINTAINER_RULE}")
    return value


# --- addresses -------------------------------------------------------------------------------

ADDRESS_RULE = "an IPv4 or IPv6 address (no scope id, not unspecified or multicast) or a DNS name"


def is_ip_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def is_dns_name(text: str) -> bool:
    labels = text.split(".")
    # A name whose last label is all digits would be read as a (broken) IPv4 address by resolvers and TLS
    # libraries alike; RFC 3696 forbids it. No trailing dot: certificates and URLs name hosts without one.
    return 0 < len(text) <= 253 and all(_LABEL_RE.fullmatch(label) for label in labels) and not labels[-1].isdigit()


def check_ip_address(text: str, *, listen: bool = False) -> str:
    """An IP address to connect to (or, with listen, to listen on: there 0.0.0.0 and :: mean all)."""
    # ipaddress accepts 'fe80::1%eth0'; a scope id is meaningless to every other host, and '%' is special in
    # URLs and in stunnel's and Telegraf's configurations.
    if "%" in text and is_ip_address(text):
        raise UsageError(f"{text!r} holds an IPv6 scope id ('%'): give the address without one")
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise UsageError(f"{shown(text)} is not an IP address") from None
    mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    effective = mapped or address
    if effective.is_unspecified and not listen:
        raise UsageError(f"{text!r} is the unspecified address, which names no host: give a real address")
    if effective.is_multicast or effective == ipaddress.IPv4Address("255.255.255.255"):
        raise UsageError(f"{text!r} is a multicast or broadcast address, which names no single host")
    return text


def check_dns_name(text: str) -> str:
    if not is_dns_name(text):
        raise UsageError(
            f"{shown(text)} is not a DNS name",
            hint="labels of letters, digits and '-' separated by '.', at most 253 characters, no trailing dot",
        )
    return text


def check_server_address(text: str) -> str:
    """Return text (names in lower case) if it is an IP address or a DNS name, else raise UsageError."""
    hint = f"give {ADDRESS_RULE} such as monitor.example.org"
    if not text:
        raise UsageError("empty server address", hint=hint)
    if is_ip_address(text) or "%" in text:
        try:
            return check_ip_address(text)
        except UsageError as exc:
            raise UsageError(f"invalid server address: {exc.message}", hint=hint) from None
    if not is_dns_name(text):
        raise UsageError(f"invalid server address {text!r}: give {ADDRESS_RULE}", hint=hint)
    return text.lower()


def address_key(text: str) -> object:
    """What makes two addresses the same: the address itself for IPs, the name in any case for names."""
    return ipaddress.ip_address(text) if is_ip_address(text) else text.lower()


def check_unique(values: Iterable[str], what: str, *, addresses: bool = False) -> None:
    """Refuse a list that names one value twice (with addresses, compared as address_key does)."""
    seen: set[object] = set()
    for value in values:
        marker = address_key(value) if addresses else value
        if marker in seen:
            raise UsageError(f"{what} names {value!r} twice")
        seen.add(marker)


def check_server_addresses(values: Iterable[str]) -> tuple[str, ...]:
    checked = tuple(values)
    if not checked:
        raise UsageError("the server needs at least one address", hint=f"give {ADDRESS_RULE}")
    for value in checked:
        check_server_address(value)
    check_unique(checked, "the list of server addresses", addresses=True)
    return checked


def url_host(address: str) -> str:
    """An address as it stands in a URL's authority: IPv6 addresses in brackets."""
    return f"[{address}]" if ":" in address else address


# --- ports -----------------------------------------------------------------------------------


def check_port(value: int) -> int:
    if not 1 <= value <= 65535:
        raise UsageError(f"{value} is not a port number: give one from 1 to 65535")
    return value


def check_unprivileged_port(value: int, why: str) -> int:
    """A port a service without CAP_NET_BIND_SERVICE can bind: 1024 to 65535."""
    check_port(value)
    if value < 1024:
        raise UsageError(f"{value} is below 1024: {why}; give a port from 1024 to 65535")
    return value


# --- durations and lifetimes ----------------------------------------------------------------------

_INTERVAL_RE = re.compile(r"([1-9][0-9]{0,3})([smh])")
_INTERVAL_SECONDS = {"s": 1, "m": 60, "h": 3600}


def check_interval(value: str) -> str:
    """Telegraf's collection interval: a whole number of s, m or h, from 1s to 1h."""
    match = _INTERVAL_RE.fullmatch(value)
    if not match or int(match[1]) * _INTERVAL_SECONDS[match[2]] > 3600:
        raise UsageError(
            f"{shown(value)} must be a duration such as 10s, 1m or 1h: a whole number of seconds (s), "
            "minutes (m) or hours (h), from 1s to 1h"
        )
    return value


def interval_seconds(value: str) -> int:
    """A checked interval in seconds."""
    match = _INTERVAL_RE.fullmatch(check_interval(value))
    assert match is not None  # check_interval refused anything else
    return int(match[1]) * _INTERVAL_SECONDS[match[2]]


def check_days(value: int, low: int, high: int) -> int:
    if not low <= value <= high:
        raise UsageError(f"{value} is not a number of days from {low} to {high}")
    return value


# Exactly the grammar of debian/server/ensure_influxdb.py (parse_retention), which reads it on the server:
#     retention = count unit | "inf"  (inf in any letter case)
#     count = [1-9][0-9]*, unit = h | d | w (lower case), at most 2562047h = 106751d = 15250w
RETENTION_RULE = "a whole number of hours, days or weeks (24h, 90d, 2w; at least 1h, at most 106751d) or inf"
_RETENTION_RE = re.compile(r"([1-9][0-9]{0,17})([hdw])")
_RETENTION_UNITS = {"h": 3600, "d": 86400, "w": 604800}
# InfluxDB keeps a duration as int64 nanoseconds; a longer one is a parse error ("overflowed duration").
MAX_RETENTION_SECONDS = (2**63 - 1) // 10**9


def check_retention(value: str) -> str:
    if value.isascii() and value.lower() == "inf":
        return value
    match = _RETENTION_RE.fullmatch(value)
    if not match or int(match[1]) * _RETENTION_UNITS[match[2]] > MAX_RETENTION_SECONDS:
        raise UsageError(f"{shown(value)} is not a retention: give {RETENTION_RULE}")
    return value


# --- InfluxDB names --------------------------------------------------------------------------


def check_database_name(value: str) -> str:
    """InfluxDB's own rule (printable, no path separator, not . or ..), no glob character and no quote."""
    # influxd 1.6 uses the name in file-name patterns of its data directory (a database named with an
    # unbalanced [ refuses every write); the env file madash-server reads drops spaces at the ends.
    good = (
        0 < len(value) <= 64
        and value.isprintable()
        and value == value.strip()
        and value not in (".", "..")
        and not any(char in value for char in '/\\*?[]"')
    )
    if not good:
        raise UsageError(
            f"{shown(value)} is not a database name: printable characters, at most 64, none of "
            '/ \\ * ? [ ] ", no space at either end, not . or ..'
        )
    return value


_INFLUX_USER_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def check_influx_user(value: str) -> str:
    # HTTP basic authentication ends the user name at the first colon: such a user could never log in.
    if not _INFLUX_USER_RE.fullmatch(value):
        raise UsageError(f"{shown(value)} is not a user name: letters, digits, '_', '-' and '.', at most 64")
    return value


# --- tags ------------------------------------------------------------------------------------

TAG_KEY_RULE = (
    "letters, digits and '_', not starting with a digit, at most 64 characters, not 'host' nor 'madash_package'"
)
_TAG_KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


def check_tag_key(key: str) -> str:
    if not _TAG_KEY_RE.fullmatch(key):
        raise UsageError(f"invalid tag name {shown(key)}: use {TAG_KEY_RULE}")
    if key == "host":
        raise UsageError("the tag 'host' is Telegraf's own (the host name): choose another name")
    if key == "madash_package":
        raise UsageError("the tag 'madash_package' is madash's own (the package a metric comes from)")
    return key


def check_no_variable(value: str, what: str) -> str:
    # Telegraf expands ${VAR} and $VAR in its configuration from its environment, and resolves
    # @{store:key} from its secret stores, which hold the writer password: no user string may
    # carry a '$' or an '@{'.
    if "$" in value:
        raise UsageError(f"{what} {value!r} holds '$', which Telegraf would expand from its environment")
    if "@{" in value:
        raise UsageError(f"{what} {value!r} holds '@{{', which Telegraf would read as a secret reference")
    return value


def check_tag_value(value: str) -> str:
    check_no_variable(value, "the tag value")
    if len(value) > 256 or not value.isprintable() or value != value.strip():
        raise UsageError(
            f"invalid tag value {value!r}: printable characters, at most 256, no space at either end, no '$'"
        )
    return value


def check_tags(tags: Mapping[str, str]) -> Mapping[str, str]:
    for key, value in tags.items():
        check_tag_key(key)
        check_tag_value(value)
    return tags


# --- Debian names ----------------------------------------------------------------------------

_ARCH_RE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_PACKAGE_RE = re.compile(r"[a-z0-9][a-z0-9+.-]{1,99}")


def check_architecture(value: str) -> str:
    if len(value) > 32 or not _ARCH_RE.fullmatch(value) or value in ("all", "any", "source"):
        raise UsageError(f"{shown(value)} is not a Debian architecture such as amd64 or arm64 (not 'all')")
    return value


def check_package_name(value: str) -> str:
    if not _PACKAGE_RE.fullmatch(value):
        raise UsageError(f"{shown(value)} is not a Debian package name (lower-case letters, digits, + - .)")
    if value == "madash-server" or value.startswith("madash-client-"):
        raise UsageError(f"{value!r} is one of madash's own packages, published where it belongs already")
    return value
