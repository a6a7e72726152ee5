"""Changelogs that say what changed: each version's entry compares its inputs with the previous bake's.

A package's facts are what an admin would want to hear about: features, interval,
tags, snippets, certificates, the CRL, server settings (each package says which,
PackageSpec.facts), plus, for every package, the toolkit's version, the control
fields, the maintainer scripts and a digest of every file. The facts of the last
bake and the entries so far are kept in the site, history/PACKAGE.json; a new
version's entry lists the differences, and the changelog carries it above the
older ones, as `apt changelog` shows them.

Bounded: the newest MAX_ENTRIES entries are kept (older ones are dropped, the
.debs in dist/ still hold them), and an entry lists at most MAX_CHANGES items
(then how many more); a list of files names at most MAX_PATHS.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import itertools
import json
import re
import textwrap
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from debian_inspector.version import Version

from madash import __version__, modes, times
from madash.deb.spec import PackageSpec
from madash.errors import PKIError, SiteError
from madash.fsutil import atomic_write
from madash.pki import crypto
from madash.site.config import Site, SiteConfig

MAX_ENTRIES = 20
MAX_CHANGES = 40
MAX_PATHS = 10
WIDTH = 78  # lintian: debian-changelog-line-too-long beyond 80
_VERSION_RE = re.compile(r"[0-9][0-9.]*")
# No control character (a line break would end a changelog line); lengths far above any valid setting's.
_KEY_RE = re.compile(r"[a-z]+:[^\x00-\x1f\x7f]{0,1000}")
_VALUE_RE = re.compile(r"[^\x00-\x1f\x7f]{0,10000}")

# How each kind of fact reads when it appears, disappears or changes; {name}, {old}, {new}.
_PHRASES: dict[str, tuple[str, str, str]] = {
    "toolkit": ("Built by madash-build {new}.", "", "madash-build updated from {old} to {new}."),
    "host": ("For the host {new}.", "", "Host name changed from {old} to {new}."),
    "feature": ("Feature {name} added.", "Feature {name} removed.", "Feature {name}: {new}."),
    "interval": ("Interval set to {new}.", "Interval back to the default (was {old}).",
                 "Interval changed from {old} to {new}."),
    "tag": ("Tag {name}={new} added.", "Tag {name} removed (was {old}).", "Tag {name} changed from {old} to {new}."),
    "snippet": ("Snippet {name} added.", "Snippet {name} removed.", "Snippet {name} changed."),
    "dashboard": ("Dashboard {name} added.", "Dashboard {name} removed.", "Dashboard {name} changed."),
    "certificate": ("Certificate: {new}.", "Certificate removed.", "Certificate renewed: {new}."),
    "ca": ("CA certificate: {new}.", "CA certificate removed.", "CA certificate replaced: {new}."),
    "crl": ("CRL: {new}.", "CRL removed.", "CRL updated: {new}."),
    "setting": ("Setting {name} set to {new}.", "Setting {name} removed (was {old}).",
                "Setting {name} changed from {old} to {new}."),
    "control": ("{name}: {new} (new field).", "{name} removed (was {old}).", "{name} changed from {old} to {new}."),
    "scripts": ("Maintainer scripts added.", "Maintainer scripts removed.", "Maintainer scripts changed."),
}  # fmt: skip
_RANKS = {kind: rank for rank, kind in enumerate(_PHRASES)}
# Files are listed together, after everything else: the lines above say why most of them changed.
_FILE_LISTS = (("Files added", "added"), ("Files changed", "changed"), ("Files removed", "removed"))
_CONTROL_SKIPPED = ("Description", "Maintainer")


@dataclass(frozen=True)
class Entry:
    version: str
    epoch: int
    changes: tuple[str, ...]

    @property
    def date(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.epoch, dt.UTC)


@dataclass(frozen=True)
class History:
    facts: Mapping[str, str]
    entries: tuple[Entry, ...]  # newest first


def short_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def certificate_fact(pem: bytes, what: str) -> str:
    """A certificate as the changelog names it: its first certificate's serial and expiry (the
    pipeline has checked it already; anything else is named by its digest)."""
    try:
        cert = crypto.load_cert(pem, what)
    except PKIError:
        return f"sha256 {short_digest(pem)}"
    return f"serial {cert.serial_number:x}, valid until {crypto.not_after(cert):%Y-%m-%d}"


def crl_fact(pem: bytes) -> str:
    try:
        crl = crypto.load_crl(pem, "the CRL")
    except PKIError:
        return f"sha256 {short_digest(pem)}"
    try:
        number = f"number {crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number}, "
    except x509.ExtensionNotFound:
        number = ""
    update = crypto.next_update(crl)
    until = f", next update {update:%Y-%m-%d}" if update is not None else ""
    return f"{number}{len(crl)} revoked{until}"


def settings(prefix: str, section: object) -> dict[str, str]:
    """A section of madash.toml (one without secrets) as settings: "setting:PREFIX.FIELD"."""
    facts = {}
    for item in dataclasses.fields(section):  # type: ignore[arg-type]
        value = getattr(section, item.name)
        shown = " ".join(map(str, value)) if isinstance(value, tuple) else str(value)
        facts[f"setting:{prefix}.{item.name}"] = shown
    return facts


def server_facts(
    config: SiteConfig, ca_pem: bytes, cert_pem: bytes, crl_pem: bytes, dashboards: Iterable[tuple[str, bytes]]
) -> dict[str, str]:
    """What madash-server's changelog compares (packages/server.py passes its inputs)."""
    facts = {"host:": f"the monitoring server {config.server.addresses[0]}"}
    for prefix, section in (("server", config.server), ("influxdb", config.influxdb), ("grafana", config.grafana),
                            ("internet", config.internet)):  # fmt: skip
        facts |= settings(prefix, section)
    facts |= {f"dashboard:{name}": short_digest(data) for name, data in dashboards}
    facts["certificate:"] = certificate_fact(cert_pem, "the server certificate")
    facts["ca:"] = certificate_fact(ca_pem, "the CA certificate")
    facts["crl:"] = crl_fact(crl_pem)
    return facts


def facts_of(spec: PackageSpec) -> dict[str, str]:
    """The package's own facts and the ones every package has."""
    facts = {"toolkit:": __version__, **spec.facts}
    for name, value in spec.control.items():
        if name not in _CONTROL_SKIPPED:
            facts[f"control:{name}"] = value
    if spec.scripts:
        facts["scripts:"] = short_digest("\0".join(f"{k}\0{v}" for k, v in sorted(spec.scripts.items())).encode())
    for entry in spec.files:
        facts[f"file:{entry.path}"] = short_digest(entry.data)
    return facts


def _line(kind: str, name: str, old: str | None, new: str | None) -> str:
    added, removed, changed = _PHRASES.get(kind, ("{kind} {name} set to {new}.", "{kind} {name} removed.",
                                                  "{kind} {name} changed from {old} to {new}."))  # fmt: skip
    phrase = added if old is None else removed if new is None else changed
    return phrase.format(kind=kind, name=name, old=old, new=new)


def describe(old: Mapping[str, str], new: Mapping[str, str]) -> list[str]:
    """What changed from the facts OLD to the facts NEW, one item each, by kind (_PHRASES), files last."""
    found: list[tuple[int, str]] = []  # kinds in the order of _PHRASES, then as met
    files: dict[str, list[str]] = {what: [] for _, what in _FILE_LISTS}
    for key in [*new, *(k for k in old if k not in new)]:
        before, after = old.get(key), new.get(key)
        if before == after:
            continue
        kind, _, name = key.partition(":")
        if kind == "file":
            files["added" if before is None else "removed" if after is None else "changed"].append(name)
        else:
            found.append((_RANKS.get(kind, len(_RANKS)), _line(kind, name, before, after)))
    items = [phrase for _, phrase in sorted(found, key=lambda item: item[0]) if phrase]
    for label, what in _FILE_LISTS:
        paths = sorted(files[what])
        if paths:
            more = f" and {len(paths) - MAX_PATHS} more" if len(paths) > MAX_PATHS else ""
            items.append(f"{label}: {', '.join(paths[:MAX_PATHS])}{more}.")
    if len(items) > MAX_CHANGES:
        items = [*items[: MAX_CHANGES - 1], f"And {len(items) - MAX_CHANGES + 1} more changes."]
    return items


def next_history(
    history: History | None, spec: PackageSpec, version: str, epoch: int, previous: str | None, subject: str
) -> History:
    """The history with VERSION's entry on top (the same history if it already has it)."""
    facts = facts_of(spec)
    if history is not None and history.entries and history.entries[0].version == version:
        return history
    if history is not None:
        changes = describe(history.facts, facts) or ["Rebuilt with no change of inputs."]
    elif previous is None:
        changes = [f"First package for {subject}, built by madash-build {__version__}."]
    else:
        changes = [f"Changes since {previous} were not recorded (an earlier madash-build baked it)."]
    # Versions only go up; an entry at or above this one (builds.json moved aside, a clock put back) goes.
    new = Version.from_string(version)
    older = [e for e in history.entries if Version.from_string(e.version) < new] if history is not None else []
    return History(facts, (Entry(version, epoch, tuple(changes)), *older)[:MAX_ENTRIES])


def wrap(change: str) -> list[tuple[bool, str]]:
    """One change as changelog lines, without their indent: the first is the bullet ("  * ")."""
    wrapped = textwrap.wrap(change, WIDTH - 4, break_long_words=False, break_on_hyphens=False)
    return [(number == 0, line) for number, line in enumerate(wrapped)]


def lines(entry: Entry) -> list[tuple[bool, str]]:
    return [line for change in entry.changes for line in wrap(change)]


def text_lines(entry: Entry) -> list[str]:
    """The entry's lines as the changelog has them."""
    return [("  * " if bullet else "    ") + text for bullet, text in lines(entry)]


def template_entries(history: History) -> list[dict[str, object]]:
    """What debian/common/changelog.j2 gets: each entry's version, date and lines."""
    return [
        {
            "version": entry.version,
            "date": times.changelog_date(entry.date),
            "lines": lines(entry),
        }
        for entry in history.entries
    ]


def _text(value: object, what: str, pattern: re.Pattern[str] = _VALUE_RE) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise ValueError(f"bad {what}")
    return value


def _entry(raw: object) -> Entry:
    if not isinstance(raw, dict) or set(raw) != {"version", "epoch", "changes"}:
        raise ValueError("not a changelog entry")
    epoch, changes = raw["epoch"], raw["changes"]
    if not isinstance(epoch, int) or isinstance(epoch, bool) or not 0 <= epoch < 2**33:
        raise ValueError("bad epoch")
    if not isinstance(changes, list) or not 0 < len(changes) <= MAX_CHANGES:
        raise ValueError("bad list of changes")
    if not all(isinstance(c, str) and c.strip() for c in changes):
        raise ValueError("an empty change")
    return Entry(_text(raw["version"], "version", _VERSION_RE), epoch, tuple(_text(c, "change") for c in changes))


def load(site: Site, package: str) -> History | None:
    """history/PACKAGE.json, validated (its lines go into a package); None when there is none."""
    path = site.paths.history(package)
    try:
        document = json.loads(path.read_bytes())
        if not isinstance(document, dict) or set(document) != {"facts", "entries"}:
            raise ValueError("not a history")
        facts, entries = document["facts"], document["entries"]
        if not isinstance(facts, dict) or not isinstance(entries, list) or not 0 < len(entries) <= MAX_ENTRIES:
            raise ValueError("bad facts or entries")
        for key in facts:
            _text(key, "fact", _KEY_RE)
        checked = {key: _text(value, "fact") for key, value in facts.items()}
        history = History(checked, tuple(_entry(e) for e in entries))
        versions = [Version.from_string(e.version) for e in history.entries]
        if any(newer <= older for newer, older in itertools.pairwise(versions)):
            raise ValueError("the versions do not go down")
        return history
    except FileNotFoundError:
        return None
    except (OSError, ValueError, RecursionError) as exc:
        raise SiteError(
            f"{site.paths.relative(path)} is damaged ({exc})",
            hint="move it aside: the next version's changelog then starts afresh",
        ) from None


def save(path: Path, history: History) -> None:
    """Write PATH (site.paths.history) once the package is in dist/."""
    document = {
        "facts": dict(history.facts),
        "entries": [{"version": e.version, "epoch": e.epoch, "changes": list(e.changes)} for e in history.entries],
    }
    path.parent.mkdir(mode=0o700, exist_ok=True)
    atomic_write(path, (json.dumps(document, indent=1) + "\n").encode(), modes.SECRET)
