"""The grammar of every kind of value a site holds: names, addresses, maintainers.

Each check returns the value when it is valid and raises UsageError otherwise; the
site model applies them whatever the value's source (madash.toml, the command
line, init).

A host name ends up as a DNS label, a certificate CN, a file name under pki/,
a suite in the apt repository and part of a Debian package name
(madash-client-HOST). The intersection of those rules is: lower-case letters,
digits and hyphens, starting and ending with a letter or digit, 1 to 63
characters.
"""

from __future__ import annotations

import ipaddress
import re

from madash.errors import UsageError

HOST_RULE = "lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters"
_HOST_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_LABEL_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")


def check_host_name(name: str) -> str:
    """Return name if it is a valid host name, else raise UsageError."""
    if not _HOST_RE.fullmatch(name):
        shown = repr(name) if name else "an empty name"
        raise UsageError(f"invalid host name {shown}", hint=f"a host name is {HOST_RULE}")
    return name


def is_ip_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def check_server_address(text: str) -> str:
    """Return text if it is an IP address or a DNS name, else raise UsageError."""
    if is_ip_address(text):
        return text
    hint = "give an IPv4 or IPv6 address, or a DNS name such as monitor.example.org"
    if not text:
        raise UsageError("empty server address", hint=hint)
    labels = text.rstrip(".").split(".")
    # A name whose last label is all digits would be read as a (broken) IPv4
    # address by resolvers and TLS libraries alike; RFC 3696 forbids it.
    if len(text) > 253 or not all(_LABEL_RE.fullmatch(label) for label in labels) or labels[-1].isdigit():
        raise UsageError(f"invalid server address {text!r}", hint=hint)
    return text.lower()


def url_host(address: str) -> str:
    """An address as it stands in a URL's authority: IPv6 addresses in brackets."""
    return f"[{address}]" if ":" in address else address


# The one default Maintainer: an honest placeholder in a domain that cannot exist.
DEFAULT_MAINTAINER_ADDRESS = "madash@monitoring.invalid"

_MAINTAINER_RE = re.compile(r"^[^<>@\n]+ <[^<>@\s]+@[^<>@\s]+\.[^<>@\s]+>$")


def check_maintainer(value: str) -> str:
    """A Maintainer field lintian accepts: 'Full Name <user@domain.tld>', not on localhost."""
    if not _MAINTAINER_RE.fullmatch(value) or "localhost" in value:
        raise UsageError(
            f"invalid maintainer {value!r}", hint="use 'Full Name <user@example.org>' with a real mail domain"
        )
    return value
