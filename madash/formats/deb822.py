"""deb822 (control files, Packages, Release, .sources): placeholder until the formats branch lands."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def format_paragraph(fields: Mapping[str, str], order: Sequence[str] = ()) -> str:
    keys = [k for k in order if k in fields] + sorted(k for k in fields if k not in order)
    return "".join(f"{key}: {fields[key]}\n" for key in keys)


def parse_paragraphs(text: str) -> list[dict[str, str]]:
    from debian import deb822

    return [dict(p) for p in deb822.Deb822.iter_paragraphs(text.splitlines(keepends=True))]
