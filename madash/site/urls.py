"""The grammar of the URLs a site holds: probe targets, the repository, apcupsd's address.

Their hosts follow site.values' rules for addresses; their characters are RFC 3986's
less what is special in the files they reach (quotes, '$', '\\', spaces), and none
carries user information, so that no credential lands in a world-readable file.
"""

from __future__ import annotations

import re
import urllib.parse

from madash.errors import UsageError
from madash.site.values import check_ip_address, check_no_variable, is_dns_name, is_ip_address, shown

# RFC 3986's characters less what is special in the files these URLs reach: quotes, '$', '\', spaces.
_HTTP_URL_CHARS = re.compile(r"[A-Za-z0-9._~:/?#\[\]@!&()*+,;=%-]{1,2048}")
_REPO_PATH_RE = re.compile(r"[A-Za-z0-9._~/+-]*")
# The whole URL: the path's characters, a host's (brackets for IPv6), ':' before a port, '@' (to refuse it by name),
# '?' and '#' (likewise).
_REPO_URL_CHARS = re.compile(r"[A-Za-z0-9._~/+:\[\]@?#-]{1,2048}")


# HOST[:PORT], HOST a name, an IPv4 address or an IPv6 address in brackets: nothing else in the authority.
_AUTHORITY_RE = re.compile(r"(?:\[[0-9A-Fa-f:.%A-Za-z0-9]+\]|[A-Za-z0-9.-]+)(?::[0-9]{1,5})?")


def split_url(value: str) -> urllib.parse.SplitResult:
    try:
        return urllib.parse.urlsplit(value)
    except ValueError:  # unbalanced brackets: "Invalid IPv6 URL"
        raise UsageError(f"{value!r} is not a URL: an IPv6 address goes in [brackets]") from None


def _url_authority_host(parsed: urllib.parse.SplitResult, value: str) -> None:
    """The host (and port) of an http(s)/tcp URL: a DNS name or an IP address, no user information."""
    if "@" in parsed.netloc:
        raise UsageError(f"{value!r} holds user information ('@'): give none")
    if not _AUTHORITY_RE.fullmatch(parsed.netloc):
        raise UsageError(f"{value!r} does not name a host: give a DNS name or an IP address, and a port after ':'")
    host = parsed.hostname or ""
    bracketed = parsed.netloc.startswith("[")
    if is_ip_address(host) or "%" in host:
        if ":" in host and not bracketed:
            raise UsageError(f"{value!r}: an IPv6 address in a URL goes in brackets")
        check_ip_address(host)
    elif bracketed or not is_dns_name(host):
        raise UsageError(f"{value!r} does not name a host: give a DNS name or an IP address")
    try:
        port = parsed.port
    except ValueError:
        raise UsageError(f"{value!r} has an invalid port: give one from 1 to 65535") from None
    if port == 0 or parsed.netloc.endswith(":"):
        raise UsageError(f"{value!r} has an invalid port: give one from 1 to 65535")


def check_http_url(value: str) -> str:
    """A probe target: http(s)://HOST[:PORT][/PATH][?QUERY], no quotes, spaces, '$' or user information."""
    message = f"{shown(value)} is not an http:// or https:// URL without spaces, quotes or '$'"
    check_no_variable(value, "the URL")
    if not _HTTP_URL_CHARS.fullmatch(value):
        raise UsageError(message)
    parsed = split_url(value)
    if parsed.scheme not in ("http", "https") or not value.startswith(f"{parsed.scheme}://"):
        raise UsageError(message)
    _url_authority_host(parsed, value)
    return value


def check_repo_url(value: str) -> str:
    """Where hosts find the repository: file:///ABSOLUTE/PATH or http(s)://HOST[:PORT]/PATH, or empty."""
    if not value:
        return value
    allowed = "file:///ABSOLUTE/PATH or https://HOST[:PORT]/PATH, the path of letters, digits and . _ ~ / + -"
    if not _REPO_URL_CHARS.fullmatch(value):
        raise UsageError(f"{value!r} has characters a repository URL cannot hold: give {allowed}")
    parsed = split_url(value)
    if parsed.scheme not in ("file", "http", "https") or not value.startswith(f"{parsed.scheme}://"):
        raise UsageError(f"{value!r} is not a file://, https:// or http:// URL: give {allowed}")
    if "?" in value or "#" in value:
        raise UsageError(f"{value!r} has a query or a fragment: give {allowed}")
    if not _REPO_PATH_RE.fullmatch(parsed.path) or not value.isascii():
        raise UsageError(f"{value!r} has characters a repository URL cannot hold: give {allowed}")
    if any(part in (".", "..") for part in parsed.path.split("/")):
        raise UsageError(f"{value!r} holds a '.' or '..' path segment: give the path as it is")
    if parsed.scheme == "file":
        if parsed.netloc or not parsed.path.startswith("/") or parsed.path == "/":
            raise UsageError(f"{value!r}: a file:// URL needs an absolute path (file:///srv/madash)")
        return value
    if parsed.path and not parsed.path.startswith("/"):
        raise UsageError(f"{value!r} is not a URL: give {allowed}")
    _url_authority_host(parsed, value)
    return value


def check_tcp_address(value: str) -> str:
    """tcp://HOST:PORT, such as apcupsd's network information server."""
    message = f"{shown(value)} is not an address such as tcp://127.0.0.1:3551 (a host and a port 1 to 65535)"
    parsed = split_url(value)
    if (
        not _HTTP_URL_CHARS.fullmatch(value)
        or parsed.scheme != "tcp"
        or not value.startswith("tcp://")
        or parsed.path
        or parsed.query
        or parsed.fragment
        or "?" in value
        or "#" in value
    ):
        raise UsageError(message)
    try:
        port = parsed.port
    except ValueError:
        port = None
    if port is None:
        raise UsageError(message)
    _url_authority_host(parsed, value)
    return value


def check_public_url(value: str) -> str:
    """Where people open Grafana: https://HOST[:PORT]/ (Grafana's root_url), or empty for the default.

    https only, as Grafana's session cookie is marked secure; no path, as Grafana is served from the root; no
    query, fragment or user information."""
    if not value:
        return value
    message = f"{shown(value)} is not a URL such as https://monitor.example.org:3000/ (https, a host, a port)"
    check_no_variable(value, "the URL")
    if not _HTTP_URL_CHARS.fullmatch(value):
        raise UsageError(message)
    parsed = split_url(value)
    if parsed.scheme != "https" or not value.startswith("https://"):
        raise UsageError(message, hint="Grafana's cookies are secure-only: it is reached over https")
    if parsed.path not in ("", "/") or "?" in value or "#" in value:
        raise UsageError(f"{shown(value)} has a path, a query or a fragment: Grafana is served from the root")
    _url_authority_host(parsed, value)
    return value
