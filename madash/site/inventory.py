"""Edits of madash.toml's [hosts.*] tables that keep the admin's comments and layout.

tomlkit round-trips the file; the edited text is validated as a whole by
site.parse_config before it replaces madash.toml, so a bad --feature never
reaches the file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import tomlkit
from tomlkit.items import Table

from madash.errors import SiteError
from madash.fsutil import atomic_write, site_lock
from madash.site.config import Site, check_features, parse_config


def edit_host(
    site: Site,
    host: str,
    *,
    features: Sequence[str] | None = None,
    interval: str | None = None,
    tags: Mapping[str, str] | None = None,
) -> tuple[Site, str | None]:
    """[hosts.HOST] created or updated, in memory: the site as it would be, and the new text
    of madash.toml (None when it would not change). Nothing is written: see write_config."""
    path = site.paths.config
    text = path.read_text(encoding="utf-8")
    document = tomlkit.parse(text)
    hosts = document.get("hosts")
    if hosts is None:
        hosts = tomlkit.table(is_super_table=True)
        document.add("hosts", hosts)
    if not isinstance(hosts, Table):
        raise SiteError(f"{path.name}: hosts must be a table")
    entry = hosts.get(host)
    if entry is None:
        entry = tomlkit.table()
        entry.add("features", tomlkit.array())
        hosts.add(host, entry)
    if features is not None:
        array = tomlkit.array()
        array.extend(str(f) for f in dict.fromkeys(features))  # keep order, drop repeats
        entry["features"] = array
    if interval is not None:
        entry["interval"] = interval
    if tags is not None:
        inline = tomlkit.inline_table()
        inline.update(dict(sorted(tags.items())))
        entry["tags"] = inline
    new_text = tomlkit.dumps(document)
    try:
        config = parse_config(new_text, path)
    except SiteError as exc:
        # madash.toml itself parsed (load_site read it): what is refused came from the command line, and the
        # line number is that of the edited text, never written.
        raise SiteError(
            f"{exc.message} (as the command line would set it; madash.toml is unchanged)", exc.hint
        ) from None
    return Site(site.paths, config), (new_text if new_text != text else None)


def write_config(site: Site, text: str) -> None:
    atomic_write(site.paths.config, text.encode())


def update_host(
    site: Site,
    host: str,
    *,
    features: Sequence[str] | None = None,
    interval: str | None = None,
    tags: Mapping[str, str] | None = None,
) -> Site:
    """edit_host, then write madash.toml (under the site lock) if it changed."""
    with site_lock(site.paths.root):
        checked = check_features(features) if features is not None else None
        new_site, text = edit_host(site, host, features=checked, interval=interval, tags=tags)
        if text is not None:
            write_config(new_site, text)
    return new_site
