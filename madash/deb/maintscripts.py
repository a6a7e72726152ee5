"""Maintainer scripts assembled from small snippets, one concern each.

A snippet is a file debian/snippets/CONCERN.SCRIPT (a jinja2 template), e.g.
tls-key.postinst. A package names its concerns in order; each script gets the
snippets that exist for it, in that order for preinst/postinst and in reverse
for prerm/postrm, so that teardown undoes setup the other way round.
Every script is POSIX sh with `set -e`; every snippet dispatches on "$1" itself.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from madash.deb.spec import SCRIPT_NAMES
from madash.render import render
from madash.resources import data_root

SNIPPET_DIR = "debian/snippets"
REVERSED = ("prerm", "postrm")


@cache
def _snippets() -> frozenset[str]:
    """The snippet files, listed once: a fleet bake asks for them thousands of times."""
    directory = data_root() / SNIPPET_DIR
    return frozenset(name for name in os.listdir(directory) if (directory / name).is_file())


def available(concern: str) -> list[str]:
    """The scripts a concern has snippets for."""
    return [name for name in SCRIPT_NAMES if f"{concern}.{name}" in _snippets()]


def assemble(package: str, concerns: Sequence[str], context: Mapping[str, Any]) -> dict[str, str]:
    """Render the maintainer scripts of a package; scripts without snippets are left out."""
    unknown = [c for c in concerns if not available(c)]
    if unknown:
        raise ValueError(f"no snippets for {', '.join(unknown)}")
    scripts: dict[str, str] = {}
    for name in SCRIPT_NAMES:
        order = list(reversed(concerns)) if name in REVERSED else list(concerns)
        parts = []
        for concern in order:
            if name in available(concern):
                source = f"{SNIPPET_DIR}/{concern}.{name}"
                body = render(source, context).strip("\n")
                parts.append(f"# --- {concern}: from {source} ---\n{body}\n")
        if parts:
            header = f"#!/bin/sh\n# {name} of {package}, assembled by madash from {SNIPPET_DIR}/.\nset -e\n\n"
            scripts[name] = header + "\n".join(parts) + "\nexit 0\n"
    return scripts
