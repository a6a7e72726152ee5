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
from madash.fsutil import atomic_write
from madash.site import Site, parse_config


def update_host(
    site: Site,
    host: str,
    *,
    features: Sequence[str] | None = None,
    interval: str | None = None,
    tags: Mapping[str, str] | None = None,
) -> Site:
    """Create or update [hosts.HOST]; return the site as it is afterwards."""
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
        array.extend(dict.fromkeys(features))  # keep order, drop repeats
        entry["features"] = array
    if interval is not None:
        entry["interval"] = interval
    if tags is not None:
        inline = tomlkit.inline_table()
        inline.update(dict(sorted(tags.items())))
        entry["tags"] = inline
    new_text = tomlkit.dumps(document)
    config = parse_config(new_text, path)
    if new_text != text:
        atomic_write(path, new_text.encode())
    return Site(site.paths, config)
