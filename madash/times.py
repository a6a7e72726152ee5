"""The time formats madash writes and reads, each in one place."""

from __future__ import annotations

import datetime as dt

UTC = dt.UTC
# How long before an expiry `list` and the bakes start warning.
EXPIRY_WARNING = dt.timedelta(days=30)

_ISO = "%Y-%m-%dT%H:%M:%SZ"
_RFC2822_UTC = "%a, %d %b %Y %H:%M:%S UTC"  # apt's Release Date and Valid-Until
_CHANGELOG = "%a, %d %b %Y %H:%M:%S +0000"  # debian/changelog's trailer line


def iso(value: dt.datetime) -> str:
    """2026-12-02T07:16:50Z: index.json, `list`."""
    return value.astimezone(UTC).strftime(_ISO)


def parse_iso(text: str) -> dt.datetime:
    """The inverse of iso(); ValueError for anything else."""
    return dt.datetime.strptime(text, _ISO).replace(tzinfo=UTC)


def release_date(value: dt.datetime) -> str:
    return value.astimezone(UTC).strftime(_RFC2822_UTC)


def parse_release_date(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, _RFC2822_UTC).replace(tzinfo=UTC)


def changelog_date(value: dt.datetime) -> str:
    return value.astimezone(UTC).strftime(_CHANGELOG)


def version_stamp(value: dt.datetime) -> str:
    """The version of a package baked at this moment: YYYYMMDD.HHMMSS, UTC."""
    return value.astimezone(UTC).strftime("%Y%m%d.%H%M%S")


def generation_stamp(value: dt.datetime) -> str:
    """A repository generation's directory name: sortable, unique to the microsecond."""
    return value.astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")


def backup_stamp(value: dt.datetime) -> str:
    return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
