"""pki/index.json: every certificate the site ever issued, and the CRL's number.

It is the record from which the CRL is made, so it is read strictly: a damaged
or hand-edited index is one clear error, never a guess, and no name read from
it reaches a path unchecked.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import re
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

from madash import times
from madash.errors import MadashError, PKIError
from madash.site.layout import SitePaths
from madash.site.values import check_host_name

INDEX_VERSION = 1
_SERIAL_RE = re.compile(r"[0-9a-f]{1,40}")
_RESTORE = "restore pki/ from your backup of the site"


class Kind(enum.StrEnum):
    CA = "ca"
    SERVER = "server"
    CLIENT = "client"


@dataclass(frozen=True)
class IndexEntry:
    serial: int
    kind: Kind
    name: str  # the host for clients, "server" and "ca" otherwise
    subject: str
    not_after: dt.datetime
    revoked_at: dt.datetime | None = None


@dataclass(frozen=True)
class Index:
    entries: tuple[IndexEntry, ...] = ()
    crl_number: int = 0

    @cached_property
    def _newest(self) -> dict[tuple[str, str], IndexEntry]:
        # A fleet asks for a thousand hosts' certificates: one pass, not one per host.
        return {(e.kind, e.name): e for e in self.entries}

    def current(self, kind: Kind, name: str) -> IndexEntry | None:
        """The newest certificate issued for name (revoked or not)."""
        return self._newest.get((kind, name))

    def hosts(self) -> list[str]:
        return sorted({e.name for e in self.entries if e.kind is Kind.CLIENT})

    def with_entry(self, entry: IndexEntry) -> Index:
        return replace(self, entries=(*self.entries, entry))

    def revoked(self, serial: int, when: dt.datetime) -> Index:
        entries = tuple(replace(e, revoked_at=when) if e.serial == serial else e for e in self.entries)
        return replace(self, entries=entries)


def index_to_json(index: Index) -> bytes:
    entries = [
        {
            "serial": format(e.serial, "x"),
            "kind": str(e.kind),
            "name": e.name,
            "subject": e.subject,
            "not_after": times.iso(e.not_after),
            "revoked_at": times.iso(e.revoked_at) if e.revoked_at else None,
        }
        for e in index.entries
    ]
    document = {"version": INDEX_VERSION, "crl_number": index.crl_number, "certificates": entries}
    return (json.dumps(document, indent=2) + "\n").encode()


class _Damaged(ValueError):
    pass


def _field(item: dict[str, Any], key: str, kind: type) -> Any:
    value = item.get(key)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise _Damaged(f"certificate entry without a valid {key!r}")
    return value


def _entry(item: object) -> IndexEntry:
    if not isinstance(item, dict):
        raise _Damaged("a certificate entry is not an object")
    serial_text = _field(item, "serial", str)
    if not _SERIAL_RE.fullmatch(serial_text):
        raise _Damaged(f"serial {serial_text!r} is not hexadecimal")
    try:
        kind = Kind(_field(item, "kind", str))
    except ValueError:
        raise _Damaged(f"unknown kind {item['kind']!r}") from None
    name = _field(item, "name", str)
    if kind is Kind.CLIENT:
        try:
            check_host_name(name)
        except MadashError:
            raise _Damaged(f"{name!r} is not a host name") from None
    elif name != kind:
        raise _Damaged(f"a {kind} entry named {name!r}")
    subject = _field(item, "subject", str)
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in subject):
        raise _Damaged("a subject holds a control character")
    revoked = item.get("revoked_at")
    if revoked is not None and not isinstance(revoked, str):
        raise _Damaged("revoked_at is neither a time nor null")
    return IndexEntry(
        serial=int(serial_text, 16),
        kind=kind,
        name=name,
        subject=subject,
        not_after=times.parse_iso(_field(item, "not_after", str)),
        revoked_at=times.parse_iso(revoked) if revoked else None,
    )


def parse_index(data: bytes) -> Index:
    """index.json's bytes → Index; ValueError (with the reason) for anything else."""
    document = json.loads(data)
    if not isinstance(document, dict) or document.get("version") != INDEX_VERSION:
        raise _Damaged(f"not a version {INDEX_VERSION} index")
    certificates = document.get("certificates")
    if not isinstance(certificates, list):
        raise _Damaged("no list of certificates")
    crl_number = document.get("crl_number")
    if not isinstance(crl_number, int) or isinstance(crl_number, bool) or crl_number < 0:
        raise _Damaged("crl_number is not a whole number")
    entries = tuple(_entry(item) for item in certificates)
    serials = [e.serial for e in entries]
    if len(set(serials)) != len(serials):
        raise _Damaged("a serial number appears twice")
    return Index(entries, crl_number)


def load_index(paths: SitePaths) -> Index:
    path = paths.index
    try:
        return parse_index(path.read_bytes())
    except FileNotFoundError:
        raise PKIError(f"{path} is missing", hint=_RESTORE) from None
    except OSError as exc:
        raise PKIError(f"cannot read {path}: {exc.strerror}") from None
    except (ValueError, RecursionError) as exc:  # json's and ours; UnicodeDecodeError is a ValueError
        raise PKIError(f"{path} is damaged ({exc})", hint=_RESTORE) from None
