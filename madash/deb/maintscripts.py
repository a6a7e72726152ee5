"""Maintainer scripts assembled from snippets that are typed data, the way debputy models them.

A snippet (madash.deb.snippet_table) is a value: its concern, the script it goes
in, the `$1` cases it runs for and the commands it relies on. Its body is a file,
debian/snippets/NAME.SCRIPT, a jinja2 template rendered with the shell escaping
filter, and it never looks at `$1` itself: this module writes the one
`case "$1" in` of each script. A package names its concerns in order; preinst
and postinst run the concerns' snippets in that order, prerm and postrm in the
reverse order, so that teardown undoes setup the other way round.

Each body becomes a shell function (called with the script's own arguments, so
"$2" and "$@" mean what they mean in the script), and every `$1` dpkg can pass
the script gets a branch calling, in order, the snippets that run for it; `$1`
values with the same list share a branch. A function rather than the body
written into each branch: one snippet often runs in several branches (the
units' start for configure and every abort case), and a copy per branch would be
a copy to review. Anything else dpkg does not pass ends in debhelper's error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from madash.deb.snippet_table import CALLS, COMMANDS, ESSENTIAL, SNIPPETS, Arg, Script, Snippet
from madash.render import render

SNIPPET_DIR = "debian/snippets"
REVERSED = (Script.PRERM, Script.POSTRM)
_INDENT = "    "


def snippets_of(concern: str) -> list[Snippet]:
    return [s for s in SNIPPETS if s.concern == concern]


def _function(snippet: Snippet) -> str:
    return "madash_" + snippet.name.replace("-", "_")


def _body(snippet: Snippet, context: Mapping[str, Any]) -> str | None:
    """The rendered body, or None when it renders to comments only (an empty list of paths)."""
    source = f"{SNIPPET_DIR}/{snippet.file}"
    body = render(source, context).strip("\n")
    if "<<" in body:
        # Bodies are indented into their function: a here-document's end marker would move too.
        raise ValueError(f"{source}: here-documents are not supported in snippets")
    if re.search(r'case\s+"?\$\{?1', body):
        raise ValueError(f"{source}: a snippet never dispatches on $1 itself (its cases are in the table)")
    lines = [line for line in body.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return body if lines else None


def _branches(script: Script, order: Sequence[Snippet]) -> list[tuple[list[Arg], list[Snippet]]]:
    """Every `$1` dpkg passes SCRIPT, grouped by the list of snippets it runs, in dpkg's order."""
    branches: list[tuple[list[Arg], list[Snippet]]] = []
    for arg in CALLS[script]:
        runs = [s for s in order if arg in s.cases]
        for args, same in branches:
            if same == runs:
                args.append(arg)
                break
        else:
            branches.append(([arg], runs))
    return branches


def _script(package: str, script: Script, order: list[tuple[Snippet, str]]) -> str:
    parts = [f"#!/bin/sh\n# {script} of {package}, assembled by madash from {SNIPPET_DIR}/.\nset -e\n"]
    for snippet, body in order:
        cases = "|".join(a for a in CALLS[script] if a in snippet.cases)
        indented = "\n".join(_INDENT + line if line else line for line in body.splitlines())
        parts.append(
            f"# --- {snippet.concern}: from {SNIPPET_DIR}/{snippet.file}, for {cases} ---\n"
            f"{_function(snippet)}() {{\n{indented}\n}}\n"
        )
    lines = ['case "$1" in']
    for args, runs in _branches(script, [snippet for snippet, _ in order]):
        lines.append(f"{_INDENT}{'|'.join(args)})")
        lines += [f'{_INDENT * 2}{_function(s)} "$@"' for s in runs]
        lines.append(f"{_INDENT * 2};;")
    lines += [
        f"{_INDENT}*)",
        f"""{_INDENT * 2}echo "{script} called with unknown argument '$1'" >&2""",
        f"{_INDENT * 2}exit 1",
        f"{_INDENT * 2};;",
        "esac",
    ]
    parts.append("\n".join(lines) + "\n")
    return "\n".join(parts) + "\nexit 0\n"


@dataclass(frozen=True)
class Assembled:
    """A package's maintainer scripts and the packages they need installed before they run."""

    scripts: dict[str, str]
    depends: frozenset[str]  # for postinst and prerm: Depends
    pre_depends: frozenset[str]  # for preinst: Pre-Depends (postrm may rely on Essential packages only)


def assemble(package: str, concerns: Sequence[str], context: Mapping[str, Any]) -> Assembled:
    """Render the maintainer scripts of a package; scripts without snippets are left out."""
    unknown = [c for c in concerns if not snippets_of(c)]
    if unknown:
        raise ValueError(f"no snippets for {', '.join(unknown)}")
    if len(set(concerns)) != len(concerns):
        raise ValueError(f"a concern is named twice: {', '.join(concerns)}")
    scripts: dict[str, str] = {}
    depends: set[str] = set()
    pre_depends: set[str] = set()
    for script in Script:
        ordered = list(reversed(concerns)) if script in REVERSED else list(concerns)
        order = []
        for concern in ordered:
            for snippet in snippets_of(concern):
                body = _body(snippet, context) if snippet.script is script else None
                if body is not None:
                    order.append((snippet, body))
                    needed = {COMMANDS[c] for c in snippet.commands} | set(snippet.packages)
                    (pre_depends if script is Script.PREINST else depends).update(needed - ESSENTIAL)
        if order:
            scripts[script.value] = _script(package, script, order)
    return Assembled(scripts, frozenset(depends), frozenset(pre_depends))


def _relations(field: str) -> set[str]:
    """The packages a Depends field guarantees: those named without an alternative."""
    names = set()
    for clause in field.split(","):
        alternatives = clause.split("|")
        if len(alternatives) == 1 and alternatives[0].strip():
            names.add(re.split(r"[\s(:\[]", alternatives[0].strip(), maxsplit=1)[0])
    return names


def check_relations(package: str, assembled: Assembled, control: Mapping[str, str]) -> None:
    """Refuse a package whose scripts run a command of a package its control fields do not pull in."""
    pre = _relations(control.get("Pre-Depends", ""))
    missing = sorted(assembled.pre_depends - pre) + sorted(assembled.depends - pre - _relations(control["Depends"]))
    if missing:
        raise ValueError(f"{package}: its maintainer scripts need {', '.join(missing)}, which it does not depend on")
